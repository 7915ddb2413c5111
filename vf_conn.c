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
 * So a pool has max_conns slots (its workers: the pools file's
 * pm.max_children, or max=), counted across all httpd processes in shared
 * memory, and a connection open or being opened holds one.  A request
 *  - takes an idle connection of its process, or a free slot and connects;
 *  - or else waits in its process's first-come queue (never in the
 *    backend's listen queue, where kept connections would jump it);
 * and when it is done its connection
 *  - goes straight to the process's oldest waiting request (reuse with no
 *    idle time at all), unless requests wait in other processes and this
 *    one holds more than its share of slots: then it closes, and the freed
 *    slot goes to them;
 *  - or, when nobody waits anywhere, stays idle (LIFO) until idle_ttl.
 * A waiting request that finds idle connections in other processes rings
 * the doorbell (vf_bell.c): their reapers close them, freeing the slots.
 * Without a known worker count (URL pools without max=) nothing waits and
 * only the idle set is bounded.
 *
 * Connects block with a timeout: on a Unix socket whose listen queue is
 * full the kernel queues the connect until the backend accepts, which tells
 * a busy backend (503 with Retry-After) from a dead one (503, errno logged).
 * Nothing here ever takes a backend out of service for a failed connect.
 */
#include "mod_vhostfcgi.h"

#include "apr_atomic.h"
#include "ap_mpm.h"
#include "apr_strings.h"
#include "apr_portable.h"
#include "apr_thread_mutex.h"
#include "apr_thread_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* How long a connect may wait for a full listen queue to drain. */
#define VF_CONNECT_TIMEOUT  apr_time_from_sec(5)
/* How often the reaper runs when the doorbell stays quiet. */
#define VF_REAP_PERIOD      apr_time_from_msec(50)

/* A request waiting for a slot; lives on its thread's stack. */
typedef struct vf_waiter vf_waiter;
struct vf_waiter {
    vf_waiter *next;
    const struct iovec *head;       /* its request, to send on hand-over */
    int nhead;
    int claimed;                    /* taken off the queue, being served */
    vf_conn *conn;                  /* handed over, or NULL: a bare slot */
    volatile apr_uint32_t granted;  /* raised once conn is set */
};

struct vf_conn_cache {
    vf_pool *pool;
    apr_thread_mutex_t *mutex;      /* guards everything below */
    vf_conn **idle;                 /* stack, idle[n_idle - 1] on top */
    int n_idle;
    vf_waiter *head, *tail;         /* first come, first served */
    int n_waiting;
    int n_slots;                    /* of pool->shared->open, held here */
};

/* What a process holds of each shared count, so that the parent can take
 * back what a child that crashed held (vf_conn_monitor): without that its
 * slots would be lost to the pool until httpd restarts. */
enum { HELD_SLOTS, HELD_IDLE, HELD_WAITING, HELD_N };
struct vf_held {
    volatile apr_uint32_t n[HELD_N];
};

static vf_bell *bell;
static volatile apr_uint32_t *procs;    /* pid per process entry, 0: free */
static int n_procs;
static int my_proc = -1;                /* this child's entry; -1: none */

int vf_conn_share(apr_pool_t *pconf, apr_hash_t *pools)
{
    apr_hash_index_t *hi;
    int limit = 0;

    /* Twice the MPM's process limit: exited children's entries are freed
     * by the parent's monitor, up to a second late. */
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit);
    n_procs = limit > 0 && limit < 2048 ? 2 * limit : 4096;
    bell = vf_bell_create(pconf);
    procs = vf_shared_alloc(pconf, n_procs * sizeof(*procs));
    if (!bell || !procs) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (hi = apr_hash_first(NULL, pools); hi; hi = apr_hash_next(hi)) {
        vf_pool *pool = apr_hash_this_val(hi);

        if (pool->kind != VF_POOL_BALANCER
            && !(pool->held = vf_shared_alloc(pconf, n_procs
                                              * sizeof(struct vf_held)))) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

static volatile apr_uint32_t *shared_count(vf_pool *pool, int what)
{
    vf_pool_shared *sh = pool->shared;

    return what == HELD_SLOTS ? &sh->open
           : what == HELD_IDLE ? &sh->idle : &sh->waiting;
}

/* This process's part of a count only (claim_slot did the shared one). */
static void held_add(vf_pool *pool, int what, int delta)
{
    if (my_proc >= 0 && pool->held) {
        volatile apr_uint32_t *n = &pool->held[my_proc].n[what];

        if (delta > 0) {
            apr_atomic_inc32(n);
        }
        else {
            apr_atomic_dec32(n);
        }
    }
}

static void count_inc(vf_pool *pool, int what)
{
    apr_atomic_inc32(shared_count(pool, what));
    held_add(pool, what, 1);
}

static void count_dec(vf_pool *pool, int what)
{
    held_add(pool, what, -1);
    apr_atomic_dec32(shared_count(pool, what));
}

/* Subtracts what process entry i held from the shared counts. */
static apr_uint32_t take_back(vf_pool *pool, int i)
{
    apr_uint32_t slots = pool->held[i].n[HELD_SLOTS];
    int what;

    for (what = 0; what < HELD_N; what++) {
        apr_uint32_t n = apr_atomic_xchg32(&pool->held[i].n[what], 0);

        if (n) {
            apr_atomic_sub32(shared_count(pool, what), n);
        }
    }
    return slots;
}

/* Gone, or a zombie the MPM has not reaped yet (it may take seconds). */
static int process_gone(pid_t pid)
{
    char path[64], buf[256], *paren;
    ssize_t n;
    int fd;

    if (kill(pid, 0) != 0) {
        return errno == ESRCH;
    }
    apr_snprintf(path, sizeof(path), "/proc/%" APR_PID_T_FMT "/stat", pid);
    if ((fd = open(path, O_RDONLY)) < 0) {
        return 0;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    /* "pid (comm) S ...": comm may hold anything, so the last ')'. */
    paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

/* In the parent, about once a second: the entries of children that died
 * without cleaning up (a crash, a kill -9). */
int vf_conn_monitor(apr_pool_t *p, server_rec *s)
{
    apr_hash_t *pools = vf_pools_all(s);
    apr_hash_index_t *hi;
    int i;

    (void)p;        /* (iterating with a pool would allocate every second) */
    for (i = 0; procs && i < n_procs; i++) {
        pid_t pid = (pid_t)procs[i];

        if (!pid || !process_gone(pid)) {
            continue;
        }
        for (hi = apr_hash_first(NULL, pools); hi; hi = apr_hash_next(hi)) {
            vf_pool *pool = apr_hash_this_val(hi);
            apr_uint32_t slots;

            if (pool->held && (slots = take_back(pool, i)) > 0) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(10663)
                             "FastCGI pool %s: httpd child %" APR_PID_T_FMT
                             " exited holding %u of its connection slots; "
                             "taken back", pool->name, pid, slots);
            }
        }
        procs[i] = 0;
        vf_bell_ring(bell);
    }
    return DECLINED;
}

/* ------------------------------------------------------------------ */
/* Slots: the cross-process count                                      */
/* ------------------------------------------------------------------ */

int vf_conn_waiting(const vf_pool *pool)
{
    return (int)apr_atomic_read32(&pool->shared->waiting);
}

/* One more slot, unless all max_conns are taken. */
static int claim_slot(vf_pool *pool)
{
    volatile apr_uint32_t *open = &pool->shared->open;
    apr_uint32_t n;

    if (!pool->max_conns) {
        count_inc(pool, HELD_SLOTS);
        return 1;
    }
    do {
        n = apr_atomic_read32(open);
        if (n >= (apr_uint32_t)pool->max_conns) {
            return 0;
        }
    } while (apr_atomic_cas32(open, n + 1, n) != n);
    held_add(pool, HELD_SLOTS, 1);
    return 1;
}

/* A slot nobody in this process wants: others may be waiting for it.
 * (The decrement comes first, a waiter counts itself before it looks at
 * the slots: one of the two always sees the other.) */
static void free_slot(vf_pool *pool)
{
    count_dec(pool, HELD_SLOTS);
    if (apr_atomic_read32(&pool->shared->waiting)) {
        vf_bell_ring(bell);
    }
}

/* Requests waiting in other processes. */
static int remote_waiting(const struct vf_conn_cache *cache)
{
    int all = vf_conn_waiting(cache->pool);

    return all > cache->n_waiting ? all - cache->n_waiting : 0;
}

/* While others wait, does this process hold more slots than its share?
 * Shares are in proportion to demand (slots in use plus waiting), so every
 * process's queue moves at about the same pace. */
static int over_share(const struct vf_conn_cache *cache)
{
    const vf_pool *pool = cache->pool;
    const vf_pool_shared *sh = pool->shared;
    long mine, all;

    if (!pool->max_conns || !remote_waiting(cache)) {
        return 0;
    }
    mine = cache->n_slots - cache->n_idle + cache->n_waiting;
    all = (long)sh->open - (long)sh->idle + (long)sh->waiting;
    if (all <= 0) {
        return 0;
    }
    /* n_slots > ceil(max * mine / all) + 1: one slot of slack, or the
     * shares' every wobble would cost a close and a connect. */
    return (long)(cache->n_slots - 1) * all > pool->max_conns * mine + all - 1;
}

/* ------------------------------------------------------------------ */
/* Waiting                                                             */
/* ------------------------------------------------------------------ */

/* Takes the oldest waiter off the queue; caller holds the mutex.  The
 * waiter is then ours alone until its flag goes up: if its wait times out
 * meanwhile it sees `claimed` and waits for the flag. */
static vf_waiter *claim_waiter(struct vf_conn_cache *cache)
{
    vf_waiter *w = cache->head;

    cache->head = w->next;
    if (!cache->head) {
        cache->tail = NULL;
    }
    cache->n_waiting--;
    count_dec(cache->pool, HELD_WAITING);
    w->claimed = 1;
    return w;
}

static void serve_waiter(vf_waiter *w, vf_conn *c)
{
    w->conn = c;
    vf_flag_raise(&w->granted);
}

/* Gives the oldest waiter a bare slot; caller holds the mutex. */
static void grant(struct vf_conn_cache *cache, vf_conn *c)
{
    serve_waiter(claim_waiter(cache), c);
}

/* Local waiters take what slots are free; caller holds the mutex. */
static void grant_free_slots(struct vf_conn_cache *cache)
{
    while (cache->head && claim_slot(cache->pool)) {
        cache->n_slots++;
        grant(cache, NULL);
    }
}

/* A slot of this process whose connection is gone: the next waiter here
 * gets it, unless others wait and this process is over its share.
 * Returns 1 when the caller must free_slot() (after unlocking). */
static int drop_slot(struct vf_conn_cache *cache)
{
    if (cache->head && !over_share(cache)) {
        grant(cache, NULL);
        return 0;
    }
    cache->n_slots--;
    return 1;
}

static void give_back_slot(vf_pool *pool)
{
    struct vf_conn_cache *cache = pool->cache;
    int freed;

    apr_thread_mutex_lock(cache->mutex);
    freed = drop_slot(cache);
    apr_thread_mutex_unlock(cache->mutex);
    if (freed) {
        free_slot(pool);
    }
}

static void unlink_waiter(struct vf_conn_cache *cache, vf_waiter *w)
{
    vf_waiter **pp = &cache->head, *prev = NULL;

    while (*pp && *pp != w) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp) {
        return;
    }
    *pp = w->next;
    if (cache->tail == w) {
        cache->tail = prev;
    }
    cache->n_waiting--;
    count_dec(cache->pool, HELD_WAITING);
}

/* Queues w; caller holds the mutex.  Returns 1 when it was served at once
 * (a slot freed just before it counted itself, unannounced). */
static int queue_waiter(struct vf_conn_cache *cache, vf_waiter *w,
                        const struct iovec *head, int nhead)
{
    vf_pool *pool = cache->pool;

    memset(w, 0, sizeof(*w));
    w->head = head;
    w->nhead = nhead;
    if (cache->tail) {
        cache->tail->next = w;
    }
    else {
        cache->head = w;
    }
    cache->tail = w;
    cache->n_waiting++;
    count_inc(pool, HELD_WAITING);
    grant_free_slots(cache);
    if (w->granted) {
        return 1;
    }
    /* Idle connections elsewhere hold workers we need: ask for them. */
    if (apr_atomic_read32(&pool->shared->idle)
        > (apr_uint32_t)cache->n_idle) {
        vf_bell_ring(bell);
    }
    return 0;
}

/* Waits, without the mutex, for w's turn, up to the server's Timeout.
 * Returns 0 when it never came. */
static int wait_turn(struct vf_conn_cache *cache, request_rec *r,
                     vf_waiter *w)
{
    int granted;

    if (vf_flag_wait(&w->granted, apr_time_now() + r->server->timeout)) {
        return 1;
    }
    apr_thread_mutex_lock(cache->mutex);
    /* Being served at the last moment, or still queued and out of time. */
    if (!(granted = w->claimed)) {
        unlink_waiter(cache, w);
    }
    apr_thread_mutex_unlock(cache->mutex);
    /* Whoever claimed it is writing its request (without blocking). */
    return granted && vf_flag_wait(&w->granted, apr_time_now()
                                                + VF_CONNECT_TIMEOUT);
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

/* A new connection in a slot the caller holds (which stays held, also
 * when this fails). */
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
        apr_atomic_inc32(&pool->shared->opened);
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
    count_dec(cache->pool, HELD_IDLE);
    return cache->idle[--cache->n_idle];
}

/* ------------------------------------------------------------------ */
/* Acquire and release                                                 */
/* ------------------------------------------------------------------ */

vf_conn *vf_conn_acquire(vf_pool *pool, request_rec *r, int fresh,
                         const struct iovec *head, int nhead, int *status)
{
    struct vf_conn_cache *cache = pool->cache;
    vf_conn *c = NULL;
    vf_waiter w;

    apr_thread_mutex_lock(cache->mutex);
    /* Nobody here is waiting (or an idle connection would have gone to
     * them), so taking one jumps no queue; it comes with its slot. */
    if (!cache->head && (c = pop_idle(cache)) != NULL) {
        apr_thread_mutex_unlock(cache->mutex);
    }
    else if (!cache->head && claim_slot(pool)) {
        cache->n_slots++;
        apr_thread_mutex_unlock(cache->mutex);
    }
    else {
        int served = queue_waiter(cache, &w, fresh ? NULL : head,
                                  fresh ? 0 : nhead);

        apr_thread_mutex_unlock(cache->mutex);
        if (!served && !wait_turn(cache, r, &w)) {
            *status = HTTP_SERVICE_UNAVAILABLE;
            apr_table_setn(r->err_headers_out, "Retry-After", "1");
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10662)
                          "FastCGI pool %s (vhost %s): all %d connections "
                          "to %s stayed busy for %" APR_TIME_T_FMT " s "
                          "(Timeout)", pool->name,
                          r->server->server_hostname, pool->max_conns,
                          target(pool, r->pool),
                          apr_time_sec(r->server->timeout));
            return NULL;
        }
        c = w.conn;
    }

    if (c && !c->head_sent && (fresh || !still_open(c))) {
        apr_pool_destroy(c->pool);
        c = NULL;
    }
    if (!c && !(c = connect_new(pool, r, status))) {
        give_back_slot(pool);
    }
    return c;
}

vf_conn *vf_conn_renew(vf_pool *pool, vf_conn *c, request_rec *r,
                       int *status)
{
    apr_pool_destroy(c->pool);
    if (!(c = connect_new(pool, r, status))) {
        give_back_slot(pool);
    }
    return c;
}

/* Writes the waiter's request on c before waking it, so the backend works
 * on it while the waiter's thread is being scheduled (which spares that
 * thread a sleep in poll()).  Returns 0 when c cannot carry it. */
static int send_ahead(vf_conn *c, const vf_waiter *w)
{
    struct msghdr mh;
    apr_os_sock_t fd;
    size_t len = 0;
    ssize_t n;
    int i;

    c->head_sent = 0;
    if (!w->nhead) {
        return 1;
    }
    for (i = 0; i < w->nhead; i++) {
        len += w->head[i].iov_len;
    }
    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = (struct iovec *)w->head;
    mh.msg_iovlen = w->nhead;
    apr_os_sock_get(&fd, c->sock);
    n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == (ssize_t)len) {
        c->head_sent = 1;
    }
    /* Nothing written (backend gone, or a full buffer): the waiter finds
     * out for itself.  Part of it written: nobody can finish it cleanly. */
    return n <= 0 || c->head_sent;
}

void vf_conn_release(vf_pool *pool, vf_conn *c, int reusable)
{
    struct vf_conn_cache *cache = pool->cache;
    vf_waiter *w = NULL;

    c->requests++;
    c->idle_since = apr_time_now();
    apr_thread_mutex_lock(cache->mutex);
    if (reusable && cache->head && !over_share(cache)) {
        w = claim_waiter(cache);
    }
    else if (reusable && !cache->head && !remote_waiting(cache)
             && cache->n_idle < pool->max_idle) {
        cache->idle[cache->n_idle++] = c;
        count_inc(pool, HELD_IDLE);
        c = NULL;
    }
    apr_thread_mutex_unlock(cache->mutex);
    if (w) {
        if (!send_ahead(c, w)) {
            apr_pool_destroy(c->pool);
            c = NULL;
        }
        serve_waiter(w, c);
    }
    else if (c) {
        apr_pool_destroy(c->pool);
        give_back_slot(pool);
    }
}

/* ------------------------------------------------------------------ */
/* The reaper                                                          */
/* ------------------------------------------------------------------ */

/* Closes idle connections that expired, and as many as requests wait for
 * in other processes (their workers are needed there); hands slots freed
 * elsewhere to this process's waiters. */
static void reap_pool(vf_pool *pool, apr_time_t now)
{
    struct vf_conn_cache *cache = pool->cache;
    vf_conn *doomed[16];
    int n = 0, i, wanted;

    apr_thread_mutex_lock(cache->mutex);
    wanted = remote_waiting(cache);
    /* The bottom of the stack is the oldest. */
    while (cache->n_idle > 0 && n < 16
           && (n < wanted
               || now - cache->idle[0]->idle_since > pool->idle_ttl)) {
        doomed[n++] = cache->idle[0];
        memmove(cache->idle, cache->idle + 1,
                --cache->n_idle * sizeof(vf_conn *));
        count_dec(pool, HELD_IDLE);
    }
    cache->n_slots -= n;
    grant_free_slots(cache);
    apr_thread_mutex_unlock(cache->mutex);
    for (i = 0; i < n; i++) {
        apr_pool_destroy(doomed[i]->pool);
        free_slot(pool);
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
        apr_uint32_t seen = vf_bell_seen(bell);
        apr_time_t now = apr_time_now();

        for (i = 0; i < rp->pools->nelts; i++) {
            reap_pool(APR_ARRAY_IDX(rp->pools, i, vf_pool *), now);
        }
        vf_bell_wait(bell, seen, VF_REAP_PERIOD);
    }
    /* A plain return, not apr_thread_exit(): pthread_exit() from inside
     * this frame would leave its locals' scope poisoned for AddressSanitizer,
     * which then trips over its own thread teardown on that stack.  The
     * join's exit value stays 0 (APR_SUCCESS). */
    (void)t;
    return NULL;
}

/* At child exit: stop the reaper, say goodbye to the backends. */
static apr_status_t reaper_stop(void *data)
{
    vf_reaper *rp = data;
    apr_status_t rv;
    int i;

    apr_atomic_set32(&rp->stop, 1);
    vf_bell_ring(bell);
    apr_thread_join(&rv, rp->thread);
    for (i = 0; i < rp->pools->nelts; i++) {
        vf_pool *pool = APR_ARRAY_IDX(rp->pools, i, vf_pool *);
        vf_conn *c;

        while ((c = pop_idle(pool->cache))) {
            apr_pool_destroy(c->pool);
            pool->cache->n_slots--;
            free_slot(pool);
        }
        /* Anything still counted here is nobody's any more. */
        if (my_proc >= 0 && pool->held) {
            take_back(pool, my_proc);
        }
    }
    if (my_proc >= 0) {
        procs[my_proc] = 0;
    }
    return APR_SUCCESS;
}

void vf_conn_child_init(apr_pool_t *pchild, apr_array_header_t *pools)
{
    vf_reaper *rp = apr_pcalloc(pchild, sizeof(*rp));
    apr_uint32_t pid = (apr_uint32_t)getpid();
    int i;

    for (i = 0; procs && i < n_procs && my_proc < 0; i++) {
        if (apr_atomic_cas32(&procs[i], pid, 0) == 0) {
            my_proc = i;
        }
    }

    for (i = 0; i < pools->nelts; i++) {
        vf_pool *pool = APR_ARRAY_IDX(pools, i, vf_pool *);
        struct vf_conn_cache *cache = apr_pcalloc(pchild, sizeof(*cache));

        cache->pool = pool;
        apr_thread_mutex_create(&cache->mutex, APR_THREAD_MUTEX_DEFAULT,
                                pchild);
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
        /* A pre-cleanup: pchild's subpools, the thread's own among them,
         * are destroyed before its ordinary cleanups run, and the reaper
         * must be stopped before that. */
        apr_pool_pre_cleanup_register(pchild, rp, reaper_stop);
    }
}
