/*
 * vf_conn.c - a pool's FastCGI connections.
 *
 * The problem this solves: a php-fpm or php-cgi worker serves exactly one
 * connection at a time, until the connection closes.  An idle kept-alive
 * connection is therefore a worker nobody else can have, and if httpd
 * holds more connections than the pool has workers, the extra ones sit in
 * the backend's listen queue behind idle connections that never close:
 * throughput collapses and requests time out (stock mod_proxy_fcgi with
 * enablereuse=on does exactly this).
 *
 * So, per pool:
 *  - the connections open across all httpd processes are capped (max_conns:
 *    the pool's pm.max_children from the pools file), counted in shared
 *    memory;
 *  - a request that finds the cap reached waits here, in httpd, for a
 *    connection to come back, never in the backend's queue;
 *  - a finished request's connection is kept (LIFO, bounded by max_idle)
 *    only while no request elsewhere is waiting; otherwise it is closed so
 *    the worker is free for that request;
 *  - a reaper thread in each process closes idle connections when they
 *    expire (idle_ttl), so idle sites give their workers back, and at once
 *    when another process has a request waiting.
 * Without a known worker count (URL pools without max=) connections are not
 * capped and only the idle set is bounded.
 *
 * Connects block with a timeout: on a Unix socket whose listen queue is
 * full the kernel queues the connect until the backend accepts, which tells
 * a busy backend (503 with Retry-After) from a dead one (503, errno logged).
 * Nothing here ever takes a backend out of service for a failed connect.
 */
#include "mod_vhostfcgi.h"

#include "apr_atomic.h"
#include "apr_strings.h"
#include "apr_portable.h"
#include "apr_thread_cond.h"
#include "apr_thread_mutex.h"
#include "apr_thread_proc.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* How long a connect may wait for a full listen queue to drain. */
#define VF_CONNECT_TIMEOUT  apr_time_from_sec(5)
/* How often a waiting request looks again across processes. */
#define VF_WAIT_SLICE       apr_time_from_msec(10)
/* How often the reaper runs. */
#define VF_REAP_PERIOD      apr_time_from_msec(50)

struct vf_conn_cache {
    vf_pool *pool;
    apr_thread_mutex_t *mutex;
    apr_thread_cond_t *returned;    /* a connection or a slot came back */
    vf_conn **idle;                 /* stack, idle[n_idle - 1] on top */
    int n_idle;
    int waiting;                    /* threads of this process waiting */
};

/* ------------------------------------------------------------------ */
/* Slots: the cross-process connection count                          */
/* ------------------------------------------------------------------ */

static int take_slot(vf_pool *pool)
{
    apr_uint32_t n;

    if (!pool->max_conns) {
        return 1;
    }
    do {
        n = apr_atomic_read32(&pool->shared->open);
        if (n >= (apr_uint32_t)pool->max_conns) {
            return 0;
        }
    } while (apr_atomic_cas32(&pool->shared->open, n + 1, n) != n);
    return 1;
}

static void give_slot(vf_pool *pool)
{
    if (pool->max_conns) {
        apr_atomic_dec32(&pool->shared->open);
    }
}

/* Every connection ends here: the socket closes, the slot is freed. */
static void conn_close(vf_pool *pool, vf_conn *c)
{
    apr_pool_destroy(c->pool);
    give_slot(pool);
}

/* ------------------------------------------------------------------ */
/* Connecting                                                          */
/* ------------------------------------------------------------------ */

static apr_status_t connect_unix(vf_pool *pool, apr_pool_t *p,
                                 apr_socket_t **sock)
{
    struct sockaddr_un sa;
    struct timeval tv;
    apr_os_sock_t fd;
    apr_status_t rv;
    int ret;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    apr_cpystrn(sa.sun_path, pool->sockpath, sizeof(sa.sun_path));
    if ((rv = apr_socket_create(sock, APR_UNIX, SOCK_STREAM, 0, p))) {
        return rv;
    }
    apr_os_sock_get(&fd, *sock);
    tv.tv_sec = apr_time_sec(VF_CONNECT_TIMEOUT);
    tv.tv_usec = 0;
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    do {
        ret = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    } while (ret < 0 && errno == EINTR);
    if (ret < 0) {
        return errno;
    }
    /* The exchange polls for itself: non-blocking from now on, once
     * (the send timeout only served connect). */
    tv.tv_sec = 0;
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return apr_socket_timeout_set(*sock, 0);
}

static apr_status_t connect_tcp(vf_pool *pool, apr_pool_t *p,
                                apr_socket_t **sock)
{
    apr_status_t rv;

    if ((rv = apr_socket_create(sock, pool->addr->family, SOCK_STREAM,
                                APR_PROTO_TCP, p))) {
        return rv;
    }
    apr_socket_opt_set(*sock, APR_TCP_NODELAY, 1);
    apr_socket_timeout_set(*sock, VF_CONNECT_TIMEOUT);
    return apr_socket_connect(*sock, pool->addr);
}

static const char *target(const vf_pool *pool, apr_pool_t *p)
{
    return pool->sockpath ? pool->sockpath
                          : apr_psprintf(p, "%s:%u", pool->host,
                                         (unsigned)pool->port);
}

/* Opens a connection in a slot already taken; frees the slot on failure. */
static vf_conn *connect_new(vf_pool *pool, request_rec *r, int *status)
{
    apr_pool_t *p;
    vf_conn *c;
    apr_status_t rv;

    /* Unmanaged: connections come and go from many threads, and their
     * pools must not contend on a shared parent. */
    if (apr_pool_create_unmanaged_ex(&p, NULL, NULL) != APR_SUCCESS) {
        give_slot(pool);
        *status = HTTP_INTERNAL_SERVER_ERROR;
        return NULL;
    }
    c = apr_pcalloc(p, sizeof(*c));
    c->pool = p;
    rv = pool->kind == VF_POOL_TCP ? connect_tcp(pool, p, &c->sock)
                                   : connect_unix(pool, p, &c->sock);
    if (rv == APR_SUCCESS) {
        apr_atomic_inc32(&pool->shared->opened);
        return c;
    }
    conn_close(pool, c);
    *status = HTTP_SERVICE_UNAVAILABLE;
    if (APR_STATUS_IS_EAGAIN(rv) || APR_STATUS_IS_TIMEUP(rv)) {
        /* Alive but saturated: tell the client when to come back. */
        apr_table_setn(r->err_headers_out, "Retry-After", "1");
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(10660)
                      "FastCGI pool %s (vhost %s): backend %s is busy: its "
                      "listen queue stayed full for %" APR_TIME_T_FMT " s",
                      pool->name, r->server->server_hostname,
                      target(pool, r->pool), apr_time_sec(VF_CONNECT_TIMEOUT));
    }
    else {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(10661)
                      "FastCGI pool %s (vhost %s): cannot connect to %s",
                      pool->name, r->server->server_hostname,
                      target(pool, r->pool));
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Idle connections                                                    */
/* ------------------------------------------------------------------ */

/* Still open, and nothing unexpected waiting?  (A backend that closed an
 * idle connection left EOF to read; one that sent data out of turn cannot
 * be trusted with a request.) */
static int still_open(const vf_conn *c)
{
    apr_os_sock_t fd;
    char byte;
    ssize_t n;

    apr_os_sock_get(&fd, c->sock);
    n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Pops the most recently used idle connection; caller holds the mutex. */
static vf_conn *pop_idle(struct vf_conn_cache *cache)
{
    if (cache->n_idle == 0) {
        return NULL;
    }
    apr_atomic_dec32(&cache->pool->shared->idle);
    return cache->idle[--cache->n_idle];
}

static vf_conn *take_idle(vf_pool *pool)
{
    struct vf_conn_cache *cache = pool->cache;
    vf_conn *c;

    for (;;) {
        apr_thread_mutex_lock(cache->mutex);
        c = pop_idle(cache);
        apr_thread_mutex_unlock(cache->mutex);
        if (!c || still_open(c)) {
            return c;
        }
        conn_close(pool, c);
    }
}

/* The oldest idle connection, to be closed. */
static vf_conn *drop_idle(vf_pool *pool)
{
    struct vf_conn_cache *cache = pool->cache;
    vf_conn *c = NULL;

    apr_thread_mutex_lock(cache->mutex);
    if (cache->n_idle > 0) {
        c = cache->idle[0];
        memmove(cache->idle, cache->idle + 1,
                --cache->n_idle * sizeof(vf_conn *));
        apr_atomic_dec32(&pool->shared->idle);
    }
    apr_thread_mutex_unlock(cache->mutex);
    return c;
}

/* ------------------------------------------------------------------ */
/* Acquire and release                                                 */
/* ------------------------------------------------------------------ */

/* Waits one slice for a connection or a slot to come back. */
static void wait_slice(vf_pool *pool)
{
    struct vf_conn_cache *cache = pool->cache;

    apr_thread_mutex_lock(cache->mutex);
    if (cache->n_idle == 0) {
        cache->waiting++;
        apr_atomic_inc32(&pool->shared->waiting);
        apr_thread_cond_timedwait(cache->returned, cache->mutex,
                                  VF_WAIT_SLICE);
        apr_atomic_dec32(&pool->shared->waiting);
        cache->waiting--;
    }
    apr_thread_mutex_unlock(cache->mutex);
}

vf_conn *vf_conn_acquire(vf_pool *pool, request_rec *r, int fresh,
                         int *status)
{
    apr_time_t deadline = apr_time_now() + r->server->timeout;
    vf_conn *c;

    for (;;) {
        if (!fresh && (c = take_idle(pool))) {
            return c;
        }
        if (take_slot(pool)) {
            return connect_new(pool, r, status);
        }
        if (fresh && (c = drop_idle(pool))) {
            /* Our own idle connection held the slot a fresh one needs. */
            conn_close(pool, c);
            continue;
        }
        if (apr_time_now() > deadline) {
            break;
        }
        wait_slice(pool);
    }
    apr_table_setn(r->err_headers_out, "Retry-After", "1");
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10662)
                  "FastCGI pool %s (vhost %s): all %d connections stayed "
                  "busy for %" APR_TIME_T_FMT " s", pool->name,
                  r->server->server_hostname, pool->max_conns,
                  apr_time_sec(r->server->timeout));
    *status = HTTP_SERVICE_UNAVAILABLE;
    return NULL;
}

void vf_conn_release(vf_pool *pool, vf_conn *c, int reusable)
{
    struct vf_conn_cache *cache = pool->cache;

    c->requests++;
    c->idle_since = apr_time_now();
    apr_thread_mutex_lock(cache->mutex);
    /* Kept for a request of this process that waits for one, or while no
     * other process waits: a connection kept here is a worker no other
     * process gets.  (Closing it whenever another process waits was
     * measured: every request then reconnects, at twice the CPU.)
     * XXX a cross-process FIFO hand-off would bound the wait of the
     * other processes' requests; they now get connections only through
     * the reaper and their own polling. */
    if (reusable && cache->n_idle < pool->max_idle
        && (cache->waiting > 0
            || apr_atomic_read32(&pool->shared->waiting) == 0)) {
        cache->idle[cache->n_idle++] = c;
        apr_atomic_inc32(&pool->shared->idle);
        c = NULL;
    }
    apr_thread_cond_signal(cache->returned);
    apr_thread_mutex_unlock(cache->mutex);
    if (c) {
        conn_close(pool, c);
    }
}

/* ------------------------------------------------------------------ */
/* The reaper                                                          */
/* ------------------------------------------------------------------ */

/* Closes what should not stay idle: expired connections, and all of them
 * while a request in another process waits for this pool. */
static void reap_pool(vf_pool *pool, apr_time_t now)
{
    struct vf_conn_cache *cache = pool->cache;
    vf_conn *doomed[16];
    int n = 0, i, others_wait;

    apr_thread_mutex_lock(cache->mutex);
    others_wait = apr_atomic_read32(&pool->shared->waiting)
                  > (apr_uint32_t)cache->waiting;
    /* The bottom of the stack is the oldest. */
    while (cache->n_idle > 0 && n < 16
           && (others_wait || now - cache->idle[0]->idle_since
                              > pool->idle_ttl)) {
        doomed[n++] = cache->idle[0];
        memmove(cache->idle, cache->idle + 1,
                --cache->n_idle * sizeof(vf_conn *));
        apr_atomic_dec32(&pool->shared->idle);
    }
    apr_thread_mutex_unlock(cache->mutex);
    for (i = 0; i < n; i++) {
        conn_close(pool, doomed[i]);
    }
}

typedef struct {
    apr_array_header_t *pools;      /* of vf_pool * */
    volatile apr_uint32_t stop;
    apr_thread_t *thread;
} vf_reaper;

static void *APR_THREAD_FUNC reaper_main(apr_thread_t *t, void *data)
{
    vf_reaper *rp = data;
    int i;

    while (!apr_atomic_read32(&rp->stop)) {
        apr_time_t now = apr_time_now();

        for (i = 0; i < rp->pools->nelts; i++) {
            reap_pool(APR_ARRAY_IDX(rp->pools, i, vf_pool *), now);
        }
        apr_sleep(VF_REAP_PERIOD);
    }
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

/* At child exit: stop the reaper, say goodbye to the backends. */
static apr_status_t reaper_stop(void *data)
{
    vf_reaper *rp = data;
    apr_status_t rv;
    int i;

    apr_atomic_set32(&rp->stop, 1);
    apr_thread_join(&rv, rp->thread);
    for (i = 0; i < rp->pools->nelts; i++) {
        vf_pool *pool = APR_ARRAY_IDX(rp->pools, i, vf_pool *);
        vf_conn *c;

        while ((c = pop_idle(pool->cache))) {
            conn_close(pool, c);
        }
    }
    return APR_SUCCESS;
}

void vf_conn_child_init(apr_pool_t *pchild, apr_array_header_t *pools)
{
    vf_reaper *rp = apr_pcalloc(pchild, sizeof(*rp));
    int i;

    for (i = 0; i < pools->nelts; i++) {
        vf_pool *pool = APR_ARRAY_IDX(pools, i, vf_pool *);
        struct vf_conn_cache *cache = apr_pcalloc(pchild, sizeof(*cache));

        cache->pool = pool;
        apr_thread_mutex_create(&cache->mutex, APR_THREAD_MUTEX_DEFAULT,
                                pchild);
        apr_thread_cond_create(&cache->returned, pchild);
        cache->idle = apr_pcalloc(pchild, sizeof(vf_conn *)
                                          * (pool->max_idle + 1));
        pool->cache = cache;
    }
    if (!pools->nelts) {
        return;
    }
    rp->pools = pools;
    if (apr_thread_create(&rp->thread, NULL, reaper_main, rp, pchild)
        == APR_SUCCESS) {
        apr_pool_cleanup_register(pchild, rp, reaper_stop,
                                  apr_pool_cleanup_null);
    }
}
