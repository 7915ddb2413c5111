/*
 * paced-load - an open-loop HTTP/1.1 load generator: a fixed request rate,
 * whatever the server does.
 *
 *   paced-load -r RATE -d SECONDS [-c MAXCONNS] [-t TIMEOUT] [-H HOST]
 *              [-T] HOST:PORT PATH
 *
 * Request i is scheduled at start + i / RATE.  When it is due it goes out
 * on an idle keep-alive connection; if none is idle a new one is opened
 * (up to MAXCONNS, default 256), else it waits for one.  Each request is
 * timed from its scheduled send time, not from when it was written, so
 * time spent waiting - for a connection here, in httpd, in the backend's
 * listen queue, for a worker to start - all shows in the latency (no
 * "coordinated omission").  A request not answered TIMEOUT seconds
 * (default 30) after its scheduled time fails.
 *
 * Prints one line of key=value pairs:
 *
 *   sent=      requests scheduled (and sent, unless they timed out first)
 *   ok=        answered with a 2xx status
 *   non2xx=    answered with another status
 *   failed=    no complete answer: timeout, connection reset or closed,
 *              connect error, malformed response
 *   p50_ms= p90_ms= p99_ms= max_ms=   latency of the answered requests
 *   lag_p99_ms= lag_max_ms=  scheduled time to the request's write (no
 *              idle connection, or this process was late)
 *   conns=     connections opened;  conn_errors=  connects that failed
 *   retried=   requests sent again, on a new connection, because a reused
 *              keep-alive connection was closed before any byte of the
 *              answer came (the race every HTTP client retries an
 *              idempotent request for, RFC 9112 9.3.1; httpd's event MPM
 *              closes idle keep-alive connections when all its threads are
 *              busy); once per request.  A request whose new connection is
 *              closed without an answer fails (fail_closed).
 *
 * and with -T a timeline, one line per second of schedule:
 *
 *   t=S sent= ok= failed= p50_ms= p99_ms= max_ms=
 *
 * Exit status 0 unless the arguments are wrong or nothing could be set up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S  1000000000LL
#define NS_PER_MS 1000000LL

enum rstate { R_WAIT, R_SENT, R_DONE, R_FAILED };

struct req {
    int64_t sched_ns;           /* relative to start */
    int64_t sent_ns;
    int64_t done_ns;
    int status;
    enum rstate state;
    int retried;
};

enum cstate { C_FREE, C_CONNECTING, C_IDLE, C_BUSY };

struct conn {
    int fd;
    enum cstate state;
    long req;                   /* index into reqs while C_BUSY */
    char out[1024];
    size_t out_len, out_off;
    char *in;
    size_t in_len, in_cap;
    unsigned served;
};

static struct req *reqs;
static long nreqs;
static struct conn *conns;
static int maxconns = 256;
static int epfd;
static struct sockaddr_storage addr;
static socklen_t addrlen;
static char request[1024];
static size_t request_len;
static long n_conns_opened, n_conn_errors, n_connecting;
static long fail_timeout, fail_closed, fail_malformed, n_retried;
static long *retry_q;               /* requests to send again, FIFO */
static long retry_head, retry_tail;
static int64_t connect_after;       /* after a failed connect: 10 ms pause, */
static int connect_failing;         /* then one probe at a time until one
                                     * succeeds */

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "paced-load: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void usage(void)
{
    fprintf(stderr, "usage: paced-load -r RATE -d SECONDS [-c MAXCONNS] "
            "[-t TIMEOUT] [-H HOST] [-T] HOST:PORT PATH\n");
    exit(2);
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */
/* ------------------------------------------------------------------ */

static void connect_failed(void)
{
    n_conn_errors++;
    connect_failing = 1;
    connect_after = now_ns() + 10 * NS_PER_MS;
}

static void conn_close(struct conn *c)
{
    if (c->state == C_CONNECTING)
        n_connecting--;
    close(c->fd);
    c->fd = -1;
    c->state = C_FREE;
    c->req = -1;
    c->in_len = 0;
    c->served = 0;
}

static void req_fail(long i, int64_t now, long *counter)
{
    reqs[i].state = R_FAILED;
    reqs[i].done_ns = now;
    (*counter)++;
}

/* The connection broke before any byte of the answer: on a reused
 * connection a request is sent again once, else it fails. */
static void req_broken(struct conn *c, int64_t now)
{
    long i = c->req;

    if (c->served > 0 && c->in_len == 0 && !reqs[i].retried) {
        reqs[i].retried = 1;
        reqs[i].state = R_WAIT;
        retry_q[retry_tail++] = i;
        n_retried++;
    } else
        req_fail(i, now, &fail_closed);
}

static int conn_open(void)
{
    struct epoll_event ev;
    struct conn *c = NULL;
    int i, one = 1;

    for (i = 0; i < maxconns; i++)
        if (conns[i].state == C_FREE) {
            c = &conns[i];
            break;
        }
    if (c == NULL)
        return -1;
    c->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                   0);
    if (c->fd < 0)
        die("socket");
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    n_conns_opened++;
    if (connect(c->fd, (struct sockaddr *)&addr, addrlen) < 0 &&
        errno != EINPROGRESS) {
        connect_failed();
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->state = C_CONNECTING;
    n_connecting++;
    ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
    ev.data.ptr = c;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        die("epoll_ctl");
    return 0;
}

static void conn_want(struct conn *c, int out)
{
    struct epoll_event ev;

    ev.events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0);
    ev.data.ptr = c;
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_flush(struct conn *c, int64_t now)
{
    ssize_t n;

    while (c->out_off < c->out_len) {
        n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            conn_want(c, 1);
            return;
        }
        if (n < 0) {
            req_broken(c, now);
            conn_close(c);
            return;
        }
        c->out_off += (size_t)n;
    }
    conn_want(c, 0);
}

static void conn_send(struct conn *c, long i, int64_t now)
{
    c->state = C_BUSY;
    c->req = i;
    c->in_len = 0;
    memcpy(c->out, request, request_len);
    c->out_len = request_len;
    c->out_off = 0;
    reqs[i].state = R_SENT;
    reqs[i].sent_ns = now;
    conn_flush(c, now);
}

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

/* Case-insensitive search for a header's value within the header block
 * [h, end); returns a pointer to the value or NULL. */
static const char *header(const char *h, const char *end, const char *name)
{
    size_t len = strlen(name);
    const char *p = h;

    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);

        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - p) > len && p[len] == ':' &&
            strncasecmp(p, name, len) == 0) {
            p += len + 1;
            while (p < eol && (*p == ' ' || *p == '\t'))
                p++;
            return p;
        }
        p = eol + 2;
    }
    return NULL;
}

/* The length of a complete chunked body starting at b, or 0 if it is not
 * complete yet, or -1 if malformed. */
static long chunked_len(const char *b, size_t len)
{
    size_t pos = 0;

    for (;;) {
        const char *eol = memmem(b + pos, len - pos, "\r\n", 2);
        char *end;
        unsigned long sz;

        if (eol == NULL)
            return 0;
        sz = strtoul(b + pos, &end, 16);
        if (end == b + pos)
            return -1;
        pos = (size_t)(eol - b) + 2;
        if (sz == 0) {
            /* trailers, then an empty line */
            for (;;) {
                eol = memmem(b + pos, len - pos, "\r\n", 2);
                if (eol == NULL)
                    return 0;
                if (eol == b + pos)
                    return (long)(pos + 2);
                pos = (size_t)(eol - b) + 2;
            }
        }
        if (len - pos < sz + 2)
            return 0;
        pos += sz + 2;
    }
}

enum parsed { P_MORE, P_DONE, P_BAD };

/* Whether c->in holds a complete response; sets *status and *close_after.
 * `eof`: the peer closed, which ends a body without a length. */
static enum parsed parse(struct conn *c, int eof, int *status,
                         int *close_after)
{
    const char *in = c->in, *hend, *v;
    size_t hlen;
    long body;

    hend = memmem(in, c->in_len, "\r\n\r\n", 4);
    if (hend == NULL)
        return eof ? P_BAD : P_MORE;
    hlen = (size_t)(hend - in) + 4;
    if (c->in_len < 12 || strncmp(in, "HTTP/1.", 7) != 0)
        return P_BAD;
    *status = atoi(in + 9);
    *close_after = strncmp(in, "HTTP/1.0", 8) == 0;
    v = header(in, hend + 2, "Connection");
    if (v != NULL)
        *close_after = strncasecmp(v, "close", 5) == 0 ? 1
                     : strncasecmp(v, "keep-alive", 10) == 0 ? 0
                     : *close_after;
    if ((*status >= 100 && *status < 200) || *status == 204 ||
        *status == 304)
        return *status >= 200 ? P_DONE : P_BAD;    /* no 1xx expected */
    if ((v = header(in, hend + 2, "Transfer-Encoding")) != NULL &&
        strncasecmp(v, "chunked", 7) == 0) {
        body = chunked_len(in + hlen, c->in_len - hlen);
        if (body < 0)
            return P_BAD;
        return body > 0 ? P_DONE : eof ? P_BAD : P_MORE;
    }
    if ((v = header(in, hend + 2, "Content-Length")) != NULL) {
        body = atol(v);
        if (c->in_len - hlen >= (size_t)body)
            return P_DONE;
        return eof ? P_BAD : P_MORE;
    }
    *close_after = 1;               /* the body ends with the connection */
    return eof ? P_DONE : P_MORE;
}

static void conn_read(struct conn *c, int64_t now)
{
    int status = 0, close_after = 0, eof = 0;
    enum parsed pr;
    ssize_t n;

    for (;;) {
        if (c->in_cap - c->in_len < 4096) {
            c->in_cap = c->in_cap ? c->in_cap * 2 : 16384;
            c->in = realloc(c->in, c->in_cap);
            if (c->in == NULL)
                die("realloc");
        }
        n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            eof = 1;
            break;
        }
        c->in_len += (size_t)n;
    }
    if (c->state != C_BUSY) {       /* an idle connection closed: fine */
        if (eof || c->in_len > 0)
            conn_close(c);
        return;
    }
    pr = parse(c, eof, &status, &close_after);
    if (pr == P_MORE)
        return;
    if (pr == P_BAD) {
        if (eof)
            req_broken(c, now);
        else
            req_fail(c->req, now, &fail_malformed);
        conn_close(c);
        return;
    }
    reqs[c->req].state = R_DONE;
    reqs[c->req].done_ns = now;
    reqs[c->req].status = status;
    c->served++;
    c->req = -1;
    c->in_len = 0;
    if (close_after || eof)
        conn_close(c);
    else
        c->state = C_IDLE;
}

static void conn_event(struct conn *c, uint32_t events, int64_t now)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (c->state == C_CONNECTING) {
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 ||
            err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
            connect_failed();
            conn_close(c);
            return;
        }
        if (events & EPOLLOUT) {
            n_connecting--;
            connect_failing = 0;
            c->state = C_IDLE;
            conn_want(c, 0);
        }
        return;
    }
    if (c->state == C_BUSY && (events & EPOLLOUT))
        conn_flush(c, now);
    if (c->state != C_FREE && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP |
                                         EPOLLERR)))
        conn_read(c, now);
}

/* ------------------------------------------------------------------ */
/* Report                                                              */
/* ------------------------------------------------------------------ */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* The smallest integer >= x, for x >= 0 (no libm: the Makefile's rule
 * links none). */
static long ceil_l(double x)
{
    long i = (long)x;

    return (double)i < x ? i + 1 : i;
}

/* Nearest-rank percentile (p in whole percent) of sorted v[0..n), in ms. */
static double pct(const int64_t *v, long n, long p)
{
    long k;

    if (n == 0)
        return 0;
    k = (p * n + 99) / 100 - 1;
    if (k < 0)
        k = 0;
    if (k >= n)
        k = n - 1;
    return (double)v[k] / NS_PER_MS;
}

static void report(double rate, int timeline)
{
    int64_t *lat = malloc(sizeof(*lat) * (size_t)(nreqs + 1));
    int64_t *lag = malloc(sizeof(*lag) * (size_t)(nreqs + 1));
    long i, nlat = 0, nlag = 0, ok = 0, non2xx = 0, failed = 0;

    if (lat == NULL || lag == NULL)
        die("malloc");
    for (i = 0; i < nreqs; i++) {
        struct req *r = &reqs[i];

        if (r->state == R_DONE) {
            lat[nlat++] = r->done_ns - r->sched_ns;
            if (r->status >= 200 && r->status < 300)
                ok++;
            else
                non2xx++;
        } else
            failed++;
        if (r->state == R_DONE || r->sent_ns > 0)
            lag[nlag++] = r->sent_ns - r->sched_ns;
    }
    qsort(lat, (size_t)nlat, sizeof(*lat), cmp_i64);
    qsort(lag, (size_t)nlag, sizeof(*lag), cmp_i64);
    printf("sent=%ld ok=%ld non2xx=%ld failed=%ld p50_ms=%.1f p90_ms=%.1f "
           "p99_ms=%.1f max_ms=%.1f lag_p99_ms=%.1f lag_max_ms=%.1f "
           "conns=%ld conn_errors=%ld retried=%ld fail_timeout=%ld "
           "fail_closed=%ld fail_malformed=%ld\n",
           nreqs, ok, non2xx, failed, pct(lat, nlat, 50), pct(lat, nlat, 90),
           pct(lat, nlat, 99), pct(lat, nlat, 100), pct(lag, nlag, 99),
           pct(lag, nlag, 100), n_conns_opened, n_conn_errors, n_retried,
           fail_timeout,
           fail_closed, fail_malformed);
    if (timeline) {
        long s, lo, hi;

        for (s = 0; (lo = ceil_l((double)s * rate)) < nreqs; s++) {
            long n = 0, sok = 0, sfail = 0;

            hi = ceil_l((double)(s + 1) * rate);
            if (hi > nreqs)
                hi = nreqs;
            for (i = lo; i < hi; i++) {
                if (reqs[i].state == R_DONE) {
                    lat[n++] = reqs[i].done_ns - reqs[i].sched_ns;
                    sok += reqs[i].status >= 200 && reqs[i].status < 300;
                } else
                    sfail++;
            }
            qsort(lat, (size_t)n, sizeof(*lat), cmp_i64);
            printf("t=%ld sent=%ld ok=%ld failed=%ld p50_ms=%.1f "
                   "p99_ms=%.1f max_ms=%.1f\n", s, hi - lo, sok, sfail,
                   pct(lat, n, 50), pct(lat, n, 99), pct(lat, n, 100));
        }
    }
    free(lat);
    free(lag);
}

/* ------------------------------------------------------------------ */
/* Main loop                                                           */
/* ------------------------------------------------------------------ */

static void resolve(const char *hostport)
{
    struct addrinfo hints, *ai;
    char host[256];
    const char *colon = strrchr(hostport, ':');

    if (colon == NULL || (size_t)(colon - hostport) >= sizeof(host))
        usage();
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || ai == NULL) {
        fprintf(stderr, "paced-load: cannot resolve %s\n", hostport);
        exit(2);
    }
    memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
    addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
}

int main(int argc, char **argv)
{
    double rate = 0, seconds = 0, timeout = 30;
    const char *host = NULL;
    int opt, timeline = 0, i;
    long next = 0, done = 0;
    int64_t start, timeout_ns;
    struct epoll_event evs[256];

    while ((opt = getopt(argc, argv, "r:d:c:t:H:T")) != -1) {
        switch (opt) {
        case 'r': rate = atof(optarg); break;
        case 'd': seconds = atof(optarg); break;
        case 'c': maxconns = atoi(optarg); break;
        case 't': timeout = atof(optarg); break;
        case 'H': host = optarg; break;
        case 'T': timeline = 1; break;
        default: usage();
        }
    }
    if (argc - optind != 2 || rate <= 0 || seconds <= 0 || maxconns < 1 ||
        timeout <= 0)
        usage();
    resolve(argv[optind]);
    request_len = (size_t)snprintf(request, sizeof(request),
        "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: paced-load\r\n"
        "Accept: */*\r\n\r\n", argv[optind + 1],
        host != NULL ? host : argv[optind]);
    if (request_len >= sizeof(request))
        usage();
    nreqs = (long)(rate * seconds);
    timeout_ns = (int64_t)(timeout * NS_PER_S);
    reqs = calloc((size_t)nreqs, sizeof(*reqs));
    conns = calloc((size_t)maxconns, sizeof(*conns));
    retry_q = calloc((size_t)nreqs + 1, sizeof(*retry_q));
    if (reqs == NULL || conns == NULL || retry_q == NULL)
        die("calloc");
    for (i = 0; i < maxconns; i++) {
        conns[i].fd = -1;
        conns[i].req = -1;
    }
    for (long k = 0; k < nreqs; k++)
        reqs[k].sched_ns = (int64_t)((double)k * NS_PER_S / rate);
    if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        die("epoll_create1");

    start = now_ns();
    while (done < nreqs) {
        int64_t now = now_ns() - start, wait_ns;
        long unsent, due_end;
        int n, k;

        /* Requests to send again go out on new connections (never used),
         * due ones, in order, on any idle connection. */
        while (retry_head < retry_tail) {
            struct conn *c = NULL;

            for (k = 0; k < maxconns; k++)
                if (conns[k].state == C_IDLE && conns[k].served == 0) {
                    c = &conns[k];
                    break;
                }
            if (c == NULL)
                break;
            conn_send(c, retry_q[retry_head++], now);
        }
        while (next < nreqs && reqs[next].sched_ns <= now) {
            struct conn *c = NULL;

            for (k = 0; k < maxconns; k++)
                if (conns[k].state == C_IDLE &&
                    (conns[k].served > 0 || retry_head == retry_tail)) {
                    c = &conns[k];
                    break;
                }
            if (c == NULL)
                break;
            conn_send(c, next++, now);
        }
        /* The rest: one new connection per waiting request not already
         * covered by a connect under way. */
        due_end = (long)((double)now * rate / NS_PER_S) + 1;
        if (due_end > nreqs)
            due_end = nreqs;
        while (due_end > next && reqs[due_end - 1].sched_ns > now)
            due_end--;
        while (due_end < nreqs && reqs[due_end].sched_ns <= now)
            due_end++;
        unsent = (due_end > next ? due_end - next : 0) +
                 (retry_tail - retry_head);
        while (unsent > n_connecting && now + start >= connect_after &&
               (!connect_failing || n_connecting == 0) && conn_open() == 0)
            ;
        /* Timeouts: waiting or sent, TIMEOUT after the schedule. */
        for (k = 0; k < maxconns; k++)
            if (conns[k].state == C_BUSY &&
                now - reqs[conns[k].req].sched_ns > timeout_ns) {
                req_fail(conns[k].req, now, &fail_timeout);
                conn_close(&conns[k]);
            }
        while (next < nreqs && now - reqs[next].sched_ns > timeout_ns)
            req_fail(next++, now, &fail_timeout);
        while (retry_head < retry_tail &&
               now - reqs[retry_q[retry_head]].sched_ns > timeout_ns)
            req_fail(retry_q[retry_head++], now, &fail_timeout);

        while (done < nreqs && (reqs[done].state == R_DONE ||
                                reqs[done].state == R_FAILED))
            done++;
        if (done >= nreqs)
            break;

        /* Sleep until the next schedule, or 10 ms (timeouts); a due
         * request that found no connection waits for an event. */
        wait_ns = 10 * NS_PER_MS;
        if (next < nreqs && reqs[next].sched_ns > now &&
            reqs[next].sched_ns - now < wait_ns)
            wait_ns = reqs[next].sched_ns - now;
        n = epoll_wait(epfd, evs, 256,
                       (int)((wait_ns + NS_PER_MS - 1) / NS_PER_MS));
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        now = now_ns() - start;
        for (k = 0; k < n; k++)
            conn_event(evs[k].data.ptr, evs[k].events, now);
    }
    report(rate, timeline);
    return 0;
}
