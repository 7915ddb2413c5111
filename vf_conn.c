/*
 * vf_conn.c - one pool's FastCGI connections inside one httpd process.
 *
 * Idle connections sit on a small LIFO stack per pool (the most recently
 * used first: it is the likeliest to be alive, and the others age out).
 * The stack is bounded (max_idle) and every entry expires (idle_ttl),
 * because a php-fpm or php-cgi worker serves exactly one connection: an
 * idle connection held here is a worker no other request can have.
 *
 * Connects are blocking with a send timeout: on a Unix socket whose listen
 * queue is full, the kernel then queues this connect until the backend
 * accepts or the timeout passes, which tells a busy backend (503 with
 * Retry-After, nothing else disturbed) from a dead one (503, errno logged).
 * There is no "disable the backend for 60 seconds" here: every request
 * tries for itself.
 */
#include "mod_vhostfcgi.h"

#include "apr_strings.h"
#include "apr_portable.h"
#include "apr_thread_mutex.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* How long a connect may wait for a full listen queue to drain. */
#define VF_CONNECT_TIMEOUT  apr_time_from_sec(5)

struct vf_conn_cache {
    apr_thread_mutex_t *mutex;
    vf_conn **idle;                 /* stack, idle[n_idle - 1] on top */
    int n_idle;
};

static apr_status_t close_all_idle(void *data)
{
    struct vf_conn_cache *cache = data;

    while (cache->n_idle > 0) {
        apr_pool_destroy(cache->idle[--cache->n_idle]->pool);
    }
    return APR_SUCCESS;
}

struct vf_conn_cache *vf_conn_cache_create(apr_pool_t *p, vf_pool *pool)
{
    struct vf_conn_cache *cache = apr_pcalloc(p, sizeof(*cache));

    apr_thread_mutex_create(&cache->mutex, APR_THREAD_MUTEX_DEFAULT, p);
    cache->idle = apr_pcalloc(p, sizeof(vf_conn *) * (pool->max_idle + 1));
    /* Say goodbye to the backends when this process ends. */
    apr_pool_cleanup_register(p, cache, close_all_idle,
                              apr_pool_cleanup_null);
    return cache;
}

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

static vf_conn *take_idle(vf_pool *pool)
{
    struct vf_conn_cache *cache = pool->cache;
    apr_time_t now = apr_time_now();
    vf_conn *c = NULL, *expired[8];
    int n_expired = 0;

    apr_thread_mutex_lock(cache->mutex);
    while (cache->n_idle > 0 && !c) {
        c = cache->idle[--cache->n_idle];
        if (now - c->idle_since > pool->idle_ttl && n_expired < 8) {
            expired[n_expired++] = c;
            c = NULL;
        }
    }
    apr_thread_mutex_unlock(cache->mutex);

    /* Closing is a syscall: not under the lock. */
    while (n_expired > 0) {
        apr_pool_destroy(expired[--n_expired]->pool);
    }
    if (c && !still_open(c)) {
        apr_pool_destroy(c->pool);
        c = NULL;
    }
    return c;
}

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
    /* The exchange polls for itself; the send timeout served connect. */
    tv.tv_sec = 0;
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return APR_SUCCESS;
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

static vf_conn *connect_new(vf_pool *pool, request_rec *r, int *status)
{
    apr_pool_t *p;
    vf_conn *c;
    apr_status_t rv;

    /* Unmanaged: connections come and go from many threads, and their
     * pools must not contend on a shared parent. */
    if (apr_pool_create_unmanaged_ex(&p, NULL, NULL) != APR_SUCCESS) {
        *status = HTTP_INTERNAL_SERVER_ERROR;
        return NULL;
    }
    c = apr_pcalloc(p, sizeof(*c));
    c->pool = p;
    rv = pool->kind == VF_POOL_TCP ? connect_tcp(pool, p, &c->sock)
                                   : connect_unix(pool, p, &c->sock);
    if (rv == APR_SUCCESS) {
        return c;
    }
    apr_pool_destroy(p);
    *status = HTTP_SERVICE_UNAVAILABLE;
    if (APR_STATUS_IS_EAGAIN(rv) || APR_STATUS_IS_TIMEUP(rv)) {
        /* Alive but saturated: tell the client when to come back. */
        apr_table_setn(r->err_headers_out, "Retry-After", "1");
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(10660)
                      "FastCGI pool %s (vhost %s): backend %s is busy: its "
                      "listen queue stayed full for %" APR_TIME_T_FMT " s",
                      pool->name, r->server->server_hostname,
                      pool->sockpath ? pool->sockpath : pool->host,
                      apr_time_sec(VF_CONNECT_TIMEOUT));
    }
    else {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(10661)
                      "FastCGI pool %s (vhost %s): cannot connect to %s%s%s",
                      pool->name, r->server->server_hostname,
                      pool->sockpath ? pool->sockpath : pool->host,
                      pool->sockpath ? "" : ":",
                      pool->sockpath ? "" : apr_itoa(r->pool, pool->port));
    }
    return NULL;
}

vf_conn *vf_conn_acquire(vf_pool *pool, request_rec *r, int fresh,
                         int *status)
{
    vf_conn *c = fresh ? NULL : take_idle(pool);

    return c ? c : connect_new(pool, r, status);
}

void vf_conn_release(vf_pool *pool, vf_conn *c, int reusable)
{
    struct vf_conn_cache *cache = pool->cache;

    if (reusable) {
        c->requests++;
        c->idle_since = apr_time_now();
        apr_thread_mutex_lock(cache->mutex);
        if (cache->n_idle < pool->max_idle) {
            cache->idle[cache->n_idle++] = c;
            c = NULL;
        }
        apr_thread_mutex_unlock(cache->mutex);
    }
    if (c) {
        apr_pool_destroy(c->pool);
    }
}
