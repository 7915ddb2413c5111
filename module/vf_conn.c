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
 * So, per pool, with max_conns the number of workers (the pools file's
 * pm.max_children, or max=):
 *  - the connections open across all httpd processes are counted in
 *    shared memory;
 *  - a request takes an idle connection of its process, or opens one;
 *  - at max_conns, a request whose process holds connections waits for one
 *    of them, first come first served: the finishing request hands its
 *    connection straight over, with the waiter's request already written
 *    on it, so the waiting thread sleeps once, until the answer is there
 *    (written even before the finishing request passes its answer on,
 *    when its first read got all of that answer: vf_exchange.c);
 *  - past a short wait (another process may hold every connection), or
 *    when its process holds none, a request opens a connection anyway and
 *    waits in the backend's listen queue, first come, first served across
 *    all httpd processes (unless connections wait there already: then it
 *    waits on in its process);
 *  - a finished request's connection is kept (LIFO, bounded by max_idle);
 *  - a reaper thread in each process closes idle connections when they
 *    expire (idle_ttl), so idle sites give their workers back (it sleeps
 *    while its process has none idle), and, while
 *    more connections are open than max_conns (some wait in the backend's
 *    queue), those left unused for VF_QUEUE_IDLE: their workers are needed
 *    by the waiting connections.
 * So reuse never holds a worker from a waiting request for longer than a
 * reaper period.  Without a known worker count (URL pools without max=)
 * only the idle set is bounded.
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
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* How long a connect may wait for a full listen queue to drain. */
#define VF_CONNECT_TIMEOUT  apr_time_from_sec(5)
/* While connections wait at the backend, an idle connection unused for
 * this long is closed to free its worker (a busy pool's connections are
 * taken again within microseconds, so they stay). */
#define VF_QUEUE_IDLE       apr_time_from_msec(10)
/* While connections wait at the backend, a kept connection closes after
 * every this many requests, so waiting ones get a worker in turn. */
#define VF_MAKE_WAY_EVERY   4
/* How often the reaper runs while connections are idle. */
#define VF_REAP_PERIOD      apr_time_from_msec(50)
/* How long a request waits for one of its process's connections before it
 * joins the backend's listen queue instead.  Short: the backend's queue is
 * the only one all httpd processes share, and a connection released into
 * a process with nobody waiting makes way for it at once, so a process
 * holding few of the connections does not hold its requests back for
 * long.  Handing over saves a connection's set-up and tear-down per
 * request, which matters for fast scripts only. */
#define VF_LOCAL_WAIT       apr_time_from_msec(10)

typedef enum {
    W_WAITING,                      /* not given through the eventfd:
                                     * queued, taken off the queue, or
                                     * given c through the epoll set */
    W_READY                         /* w->conn (or a slot, conn NULL) is
                                     * ours: given through the eventfd */
} vf_wait_state;

/* A request waiting for a connection, on its thread's stack. */
typedef struct vf_waiter {
    struct vf_waiter *next;
    int epfd;                       /* its thread's: sleeps here */
    int evfd;                       /* in epfd: "a slot, connect yourself" */
    volatile apr_uint32_t state;    /* vf_wait_state */
    vf_conn *conn;                  /* set by the giver, before its signal */
    const struct iovec *head;       /* written for it on hand-over */
    int nhead;
    apr_size_t head_len;            /* of all nhead entries */
} vf_waiter;

struct vf_conn_cache {
    vf_pool *pool;
    apr_thread_mutex_t *mutex;
    vf_conn **idle;                 /* stack, idle[n_idle - 1] on top */
    int n_idle;
    volatile apr_uint32_t held;     /* open connections of this process */
    vf_waiter *first, *last;        /* waiting requests, first come first */
};

/* ------------------------------------------------------------------ */
/* The cross-process connection count                                  */
/* ------------------------------------------------------------------ */


int vf_conn_backend_queue(const vf_pool *pool)
{
    apr_uint32_t open = apr_atomic_read32(&pool->shared->open);

    return pool->max_conns && open > (apr_uint32_t)pool->max_conns
           ? (int)(open - (apr_uint32_t)pool->max_conns) : 0;
}

/* The socket closes but its slot of max_conns stays counted in open, for
 * a waiting request to connect in. */
static void conn_drop(vf_pool *pool, vf_conn *c)
{
    apr_pool_destroy(c->pool);
    apr_atomic_dec32(&pool->cache->held);
}

/* Every connection ends here: the socket closes, the slot is freed. */
static void conn_close(vf_pool *pool, vf_conn *c)
{
    conn_drop(pool, c);
    VF_GAUGE_DOWN(pool, open);
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

/* slot: a closed connection's place in max_conns was handed over, so
 * this one is already counted in open. */
static vf_conn *connect_new(vf_pool *pool, request_rec *r, int slot,
                            int *status)
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
    if (!slot) {
        VF_GAUGE_UP(pool, open);
    }
    apr_atomic_inc32(&pool->cache->held);
    c = apr_pcalloc(p, sizeof(*c));
    c->pool = p;
    rv = pool->kind == VF_POOL_TCP ? connect_tcp(pool, p, &c->sock)
                                   : connect_unix(pool, p, &c->sock);
    if (rv == APR_SUCCESS) {
        apr_atomic_inc64(&pool->shared->opened);
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
    VF_GAUGE_DOWN(cache->pool, idle);
    return cache->idle[--cache->n_idle];
}

/* ------------------------------------------------------------------ */
/* Waiting for a connection of this process                            */
/* ------------------------------------------------------------------ */

/* Each thread sleeps in an epoll set of its own: a releasing thread adds
 * the connection it hands over (readable once the backend answers the
 * request written on it, or writable when the waiter has to write it), or
 * rings the eventfd for a slot.  So a waiting request costs its thread
 * one sleep, as a request that finds an idle connection does (it sleeps
 * until the answer too).  The two descriptors live as long as the thread,
 * which for httpd's MPMs is the process, and are never closed: a giver
 * may ring the eventfd after its waiter has gone on to other work. */
static __thread int thread_epfd = -1;
static __thread int thread_evfd = -1;

static int waiter_fds(vf_waiter *w)
{
    if (thread_epfd < 0) {
        struct epoll_event ev;
        int ep = epoll_create1(EPOLL_CLOEXEC);
        int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN;
        if (ep < 0 || efd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev)) {
            if (ep >= 0) {
                close(ep);
            }
            if (efd >= 0) {
                close(efd);
            }
            return -1;
        }
        thread_epfd = ep;
        thread_evfd = efd;
    }
    w->epfd = thread_epfd;
    w->evfd = thread_evfd;
    return 0;
}

/* At max_conns, with connections of this process that will come back;
 * caller holds the mutex. */
static int should_wait(const vf_pool *pool, const struct vf_conn_cache *cache)
{
    return pool->max_conns > 0
           && apr_atomic_read32(&pool->shared->open)
              >= (apr_uint32_t)pool->max_conns
           && apr_atomic_read32((volatile apr_uint32_t *)&cache->held) > 0;
}

static void enqueue(struct vf_conn_cache *cache, vf_waiter *w)
{
    w->next = NULL;
    w->state = W_WAITING;
    w->conn = NULL;
    if (cache->last) {
        cache->last->next = w;
    }
    else {
        __atomic_store_n(&cache->first, w, __ATOMIC_RELAXED);
    }
    cache->last = w;
    VF_GAUGE_UP(cache->pool, waiting);
}

/* Takes w (or, w NULL, the first) off the queue; caller holds the mutex.
 * Returns NULL when it is not there (already assigned). */
static vf_waiter *dequeue(struct vf_conn_cache *cache, vf_waiter *w)
{
    vf_waiter **pp = &cache->first, *prev = NULL;

    while (*pp && w && *pp != w) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp) {
        return NULL;
    }
    w = *pp;
    __atomic_store_n(pp, w->next, __ATOMIC_RELAXED);
    if (cache->last == w) {
        cache->last = prev;
    }
    VF_GAUGE_DOWN(cache->pool, waiting);
    return w;
}

/* Writes what the socket takes of the waiter's request (nothing for one
 * with a body, which writes itself) without blocking.  Returns the bytes
 * written, or -1 when the connection is dead. */
static apr_ssize_t presend(vf_conn *c, const vf_waiter *w)
{
    struct msghdr mh;
    apr_os_sock_t fd;
    ssize_t n;

    if (!w->nhead) {
        return 0;
    }
    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = (struct iovec *)w->head;
    mh.msg_iovlen = w->nhead;
    apr_os_sock_get(&fd, c->sock);
    do {
        n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
    return n;
}

/* Gives a dequeued waiter the connection c, with sent bytes of its head
 * already written on it (-1: c turned out dead; its slot is given
 * instead), and wakes it: at once when it has to write itself, otherwise
 * when the answer arrives.
 *
 * One signal carries the hand-over, so a waiter never wakes to find it
 * half done: either c itself, registered in the waiter's epoll set with
 * c as the event's data, or (a slot, or a failed registration) READY
 * followed by a ring of the eventfd.  A waiter woken by a readiness that
 * was not yet published would spin in epoll_wait() until its giver ran
 * again, which on a busy machine is a whole time slice.  w may be gone
 * once the signal is out: nothing here touches it after. */
static void give(vf_pool *pool, vf_waiter *w, vf_conn *c, apr_ssize_t sent)
{
    struct epoll_event ev;
    apr_os_sock_t fd;
    int evfd = w->evfd;

    if (c && sent < 0) {
        conn_drop(pool, c);
        c = NULL;
    }
    if (c) {
        c->presend = (apr_size_t)sent;
        memset(&ev, 0, sizeof(ev));
        ev.events = w->nhead && (apr_size_t)sent == w->head_len ? EPOLLIN
                                                                 : EPOLLOUT;
        ev.data.ptr = c;
        apr_os_sock_get(&fd, c->sock);
        __atomic_store_n(&w->conn, c, __ATOMIC_RELEASE);
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
            return;
        }
    }
    /* (w->conn is c, published above, or NULL since enqueue(): a slot.) */
    apr_atomic_set32(&w->state, W_READY);
    eventfd_write(evfd, 1);
}

static void hand_over(vf_pool *pool, vf_waiter *w, vf_conn *c)
{
    give(pool, w, c, c ? presend(c, w) : 0);
}

/* One sleep of a waiter.  Returns 1 once something was handed over
 * (w->conn, or NULL for a slot); a connection's registration is removed
 * here.  Two events at most: the eventfd, and the one connection.  A ring
 * of the eventfd left over from an earlier hand-over (READY can be seen
 * before the ring arrives) is read here and costs one more turn. */
static int sleep_once(vf_waiter *w, int ms)
{
    struct epoll_event ev[2];
    apr_os_sock_t fd;
    eventfd_t count;
    int i, n = epoll_wait(w->epfd, ev, 2, ms);

    for (i = 0; i < n; i++) {
        if (ev[i].data.ptr) {
            w->conn = ev[i].data.ptr;
            apr_os_sock_get(&fd, w->conn->sock);
            epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL);
            return 1;
        }
        eventfd_read(w->evfd, &count);
    }
    return apr_atomic_read32(&w->state) == W_READY;
}

/* A connection handed over with the waiter's request on it wakes the
 * waiter when the answer arrives.  When that takes longer than a wait
 * slice, the waiter takes the connection out of its epoll set and leaves
 * the waiting to the exchange, which ends it at the request's own timeout
 * (a script that never answers still gets its 504).  The removal succeeds
 * only once the giver has registered the connection, which it does after
 * publishing it in w->conn. */
static int take_unanswered(vf_waiter *w)
{
    vf_conn *c = __atomic_load_n(&w->conn, __ATOMIC_ACQUIRE);
    apr_os_sock_t fd;

    if (!c) {
        return 0;
    }
    apr_os_sock_get(&fd, c->sock);
    return epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL) == 0;
}

/* Sleeps until hand_over(), or the give() at the release of a request
 * that wrote w's request early, in slices of VF_LOCAL_WAIT.  Returns 1
 * when something was handed over (w->conn, or NULL for a slot), 0 when
 * the first slice (more, while connections wait at the backend) ended
 * with w still queued: it has left the queue. */
static int wait_local(vf_pool *pool, vf_waiter *w)
{
    struct vf_conn_cache *cache = pool->cache;
    apr_time_t until = apr_time_now() + VF_LOCAL_WAIT;
    int queued = 1;

    for (;;) {
        apr_time_t left = until - apr_time_now();

        if (sleep_once(w, left > 0 ? (int)apr_time_as_msec(left + 999)
                                   : 0)) {
            return 1;
        }
        if (apr_time_now() < until) {
            continue;
        }
        until = apr_time_now() + VF_LOCAL_WAIT;
        if (take_unanswered(w)) {
            return 1;
        }
        if (!queued) {
            /* A finishing request took w off the queue and gives it a
             * connection or a slot as soon as it is done with it (it may
             * have written w's request already, ahead of passing its own
             * answer on). */
            continue;
        }
        if (vf_conn_backend_queue(pool) > 0
            && apr_atomic_read32(&cache->held) > 0) {
            /* Connections wait at the backend already, and each of them
             * makes kept connections close to let it in: joining them
             * would take connections from the requests waiting here,
             * whose waits then run out too, until most requests go
             * through the backend's queue, each on a new connection (seen
             * in benchmarks: 50 opened per 1000 requests instead of 1).
             * Wait on, in place; the queue there drains. */
            continue;
        }
        apr_thread_mutex_lock(cache->mutex);
        if (dequeue(cache, w)) {
            apr_thread_mutex_unlock(cache->mutex);
            return 0;
        }
        apr_thread_mutex_unlock(cache->mutex);
        queued = 0;
    }
}

static void reaper_kick(void);

/* For a request that needs a new connection at max_conns: a connection
 * this process keeps idle holds a worker the new one could have, so it is
 * closed and its slot taken (1), rather than leave the new one in the
 * backend's queue until the reaper closes the idle one.  (The worker goes
 * to whichever connection waits first in the backend's queue.) */
static int make_room(vf_pool *pool)
{
    struct vf_conn_cache *cache = pool->cache;
    vf_conn *c = NULL;

    if (pool->max_conns > 0 && apr_atomic_read32(&pool->shared->open)
                               >= (apr_uint32_t)pool->max_conns) {
        apr_thread_mutex_lock(cache->mutex);
        c = pop_idle(cache);
        apr_thread_mutex_unlock(cache->mutex);
    }
    if (!c) {
        return 0;
    }
    conn_drop(pool, c);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Acquire and release                                                 */
/* ------------------------------------------------------------------ */

vf_conn *vf_conn_acquire(vf_pool *pool, request_rec *r, int fresh,
                         const struct iovec *head, int nhead, int *status)
{
    struct vf_conn_cache *cache = pool->cache;
    vf_waiter w;
    vf_conn *c;
    int i, slot = 0;

    w.head = head;
    w.nhead = nhead;
    for (i = 0, w.head_len = 0; i < nhead; i++) {
        w.head_len += head[i].iov_len;
    }
    while (!fresh) {
        apr_thread_mutex_lock(cache->mutex);
        c = pop_idle(cache);
        if (!c && should_wait(pool, cache) && waiter_fds(&w) == 0) {
            enqueue(cache, &w);
            apr_thread_mutex_unlock(cache->mutex);
            if (wait_local(pool, &w)) {
                if (w.conn) {
                    return w.conn;
                }
                slot = 1;
            }
            break;
        }
        apr_thread_mutex_unlock(cache->mutex);
        if (!c) {
            break;
        }
        if (still_open(c)) {
            c->presend = 0;
            return c;
        }
        conn_close(pool, c);
    }
    if (fresh) {
        slot = make_room(pool);
    }
    return connect_new(pool, r, slot, status);
}

/* While connections wait at the backend, a connection this process keeps
 * busy would hold its worker from them forever: every few requests it
 * makes way (closes on release), and the backend's first-come queue
 * moves.  queued: connections wait at the backend; served: its requests,
 * the one ending included. */
static int makes_way(int queued, unsigned served)
{
    return queued && served % VF_MAKE_WAY_EVERY == 0;
}

/* Will c go on to a waiter of this process when it is released?  (A hint
 * read without the lock: a promise is only made under it.  The queue's
 * head is stored and read atomically for that, relaxed: no other memory
 * is read through it here.) */
int vf_conn_next_wanted(vf_pool *pool, const vf_conn *c)
{
    return __atomic_load_n(&pool->cache->first, __ATOMIC_RELAXED) != NULL
           && !makes_way(vf_conn_backend_queue(pool) > 0, c->requests + 1);
}

int vf_conn_write_next(vf_pool *pool, vf_conn *c)
{
    struct vf_conn_cache *cache = pool->cache;
    vf_waiter *w;

    apr_thread_mutex_lock(cache->mutex);
    w = dequeue(cache, NULL);
    apr_thread_mutex_unlock(cache->mutex);
    if (!w) {
        return 0;
    }
    c->promised = w;
    c->promised_sent = presend(c, w);
    return 1;
}

void vf_conn_release(vf_pool *pool, vf_conn *c, int reusable)
{
    struct vf_conn_cache *cache = pool->cache;
    vf_waiter *w = NULL;
    int keep, queued = vf_conn_backend_queue(pool) > 0, kept_idle = 0;

    c->requests++;
    c->idle_since = apr_time_now();
    if (c->promised) {
        /* Its request is on c already, so c goes to it whatever this
         * request's outcome: the connection is positioned after a whole
         * answer (vf_exchange.c read exactly that), and closing it would
         * leave the request to run without anyone reading the answer. */
        w = c->promised;
        c->promised = NULL;
        give(pool, w, c, c->promised_sent);
        return;
    }
    keep = reusable && !makes_way(queued, c->requests);
    apr_thread_mutex_lock(cache->mutex);
    if ((keep || !reusable) && cache->first) {
        w = dequeue(cache, NULL);
    }
    else if (keep && !queued && cache->n_idle < pool->max_idle) {
        /* (With connections queued at the backend, one that nobody here
         * waits for makes way at once instead.) */
        cache->idle[cache->n_idle++] = c;
        VF_GAUGE_UP(pool, idle);
        c = NULL;
        kept_idle = 1;
    }
    apr_thread_mutex_unlock(cache->mutex);
    if (kept_idle) {
        reaper_kick();
    }
    if (w) {
        /* A connection that cannot serve again still leaves its slot. */
        if (!keep) {
            conn_drop(pool, c);
            c = NULL;
        }
        hand_over(pool, w, c);
    }
    else if (c) {
        conn_close(pool, c);
    }
}

/* ------------------------------------------------------------------ */
/* The reaper                                                          */
/* ------------------------------------------------------------------ */


/* Closes what should not stay idle: expired connections, and as many idle
 * ones as connections wait in the backend's queue (their workers are
 * needed there).  Returns how many stay idle. */
static int reap_pool(vf_pool *pool, apr_time_t now)
{
    struct vf_conn_cache *cache = pool->cache;
    vf_conn *doomed[16];
    int n = 0, i, left, queued = vf_conn_backend_queue(pool);

    apr_thread_mutex_lock(cache->mutex);
    /* The bottom of the stack is the oldest. */
    while (cache->n_idle > 0 && n < 16
           && ((n < queued
                && now - cache->idle[0]->idle_since > VF_QUEUE_IDLE)
               || now - cache->idle[0]->idle_since > pool->idle_ttl)) {
        doomed[n++] = cache->idle[0];
        memmove(cache->idle, cache->idle + 1,
                --cache->n_idle * sizeof(vf_conn *));
        VF_GAUGE_DOWN(pool, idle);
    }
    left = cache->n_idle;
    apr_thread_mutex_unlock(cache->mutex);
    for (i = 0; i < n; i++) {
        conn_close(pool, doomed[i]);
    }
    return left;
}

/* The reaper has work only while connections are idle.  With none idle in
 * its process it parks on a condition, and the release that next keeps a
 * connection idle wakes it (an idle server's children then never wake for
 * it).  The handshake: the reaper sets parked, then looks at the pools
 * under their mutexes; a release makes a connection idle under its pool's
 * mutex, then reads parked: one of the two sees the other.  parked is set
 * and the condition waited on under rp->mutex, which the waker takes too,
 * so no signal falls between the look and the wait.  Once woken, the
 * reaper sleeps a period before it looks again (nothing kept idle can be
 * due sooner): on a busy server, where a connection kept idle is taken
 * again within microseconds, it would otherwise park and be woken again
 * on nearly every request. */
typedef struct {
    apr_array_header_t *pools;      /* of vf_pool * */
    volatile apr_uint32_t stop;
    volatile apr_uint32_t parked;
    apr_thread_mutex_t *mutex;      /* for cond */
    apr_thread_cond_t *cond;
    apr_thread_t *thread;
} vf_reaper;

/* This process's reaper: NULL before child_init, after reaper_stop, and
 * when it could not be started (releases then have nobody to wake). */
static vf_reaper *the_reaper;

static void reaper_wake(vf_reaper *rp)
{
    apr_thread_mutex_lock(rp->mutex);
    apr_thread_cond_signal(rp->cond);
    apr_thread_mutex_unlock(rp->mutex);
}

/* After a release kept a connection idle.  Reading parked without the
 * lock is enough: see the handshake above. */
static void reaper_kick(void)
{
    if (the_reaper && apr_atomic_read32(&the_reaper->parked)) {
        reaper_wake(the_reaper);
    }
}

static int any_idle(vf_reaper *rp)
{
    int i, n = 0;

    for (i = 0; i < rp->pools->nelts && !n; i++) {
        struct vf_conn_cache *cache =
            APR_ARRAY_IDX(rp->pools, i, vf_pool *)->cache;

        apr_thread_mutex_lock(cache->mutex);
        n = cache->n_idle;
        apr_thread_mutex_unlock(cache->mutex);
    }
    return n > 0;
}

/* Waits until a release keeps a connection idle (or the child exits);
 * returns at once when one already is. */
static void park(vf_reaper *rp)
{
    apr_thread_mutex_lock(rp->mutex);
    apr_atomic_set32(&rp->parked, 1);
    if (!any_idle(rp) && !apr_atomic_read32(&rp->stop)) {
        apr_thread_cond_wait(rp->cond, rp->mutex);
    }
    apr_atomic_set32(&rp->parked, 0);
    apr_thread_mutex_unlock(rp->mutex);
}

static void *APR_THREAD_FUNC reaper_main(apr_thread_t *t, void *data)
{
    vf_reaper *rp = data;
    int i, idle;

    while (!apr_atomic_read32(&rp->stop)) {
        apr_time_t now = apr_time_now();

        for (i = 0, idle = 0; i < rp->pools->nelts; i++) {
            idle += reap_pool(APR_ARRAY_IDX(rp->pools, i, vf_pool *), now);
        }
        if (!idle) {
            park(rp);
        }
        apr_sleep(VF_REAP_PERIOD);
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
    reaper_wake(rp);
    apr_thread_join(&rv, rp->thread);
    the_reaper = NULL;
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
    apr_status_t rv;
    int i;

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
    if ((rv = apr_thread_mutex_create(&rp->mutex, APR_THREAD_MUTEX_DEFAULT,
                                      pchild))
        || (rv = apr_thread_cond_create(&rp->cond, pchild))
        || (rv = apr_thread_create(&rp->thread, NULL, reaper_main, rp,
                                   pchild))) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, NULL, APLOGNO(10714)
                     "FastCGI pools: cannot start the thread that closes "
                     "idle connections: in this process they stay open "
                     "until reused, and do not make way for connections "
                     "waiting in a backend's queue");
        return;
    }
    the_reaper = rp;
    /* A pre-cleanup: pchild's subpools, the thread's own among them, are
     * destroyed before its ordinary cleanups run, and the reaper must be
     * stopped before that. */
    apr_pool_pre_cleanup_register(pchild, rp, reaper_stop);
}
