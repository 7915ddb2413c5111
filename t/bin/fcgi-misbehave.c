/*
 * fcgi-misbehave - a FastCGI application server that misbehaves on request.
 *
 * Test infrastructure for mod_vhostfcgi: the Apache::Test suite and the
 * benchmarks point the module at this server and pick, per request, how the
 * "application" answers: correctly (echo, stats, big, flush, ...) or wrongly
 * (bad versions, wrong request ids, truncated records, connections dropped
 * half-way, header blocks the module has to refuse, ...).
 *
 *   fcgi-misbehave -l LISTEN [-p PIDFILE] [-d] [-c N] [-s DIR] [-v]
 *
 *   -l LISTEN   a Unix socket path (anything containing '/') or HOST:PORT
 *               (TCP; "[::1]:9010" for IPv6, "*:9010" or ":9010" for any).
 *               A stale Unix socket is unlinked first (a live one, i.e. one
 *               that still accepts connections, is an error); the socket is
 *               made mode 0666.
 *   -p PIDFILE  write the server's pid there once it listens (written to a
 *               temporary name and renamed, so it never appears half-written).
 *   -d          daemonize (fork, setsid, stdio to /dev/null).  The command
 *               returns only once the socket listens and the pidfile holds
 *               the daemon's pid, so callers may connect right away.
 *   -c N        close every connection after N requests, like php-fpm's
 *               pm.max_requests recycling a worker holding a kept-alive
 *               connection (default: unlimited).
 *   -s DIR      state directory for once-only misbehaviour: a scenario
 *               that takes ?once=N (overloaded-in-body) misbehaves for the
 *               first request carrying that N only (it creates DIR/once-N,
 *               O_EXCL); later ones get a well-behaved answer (echo).
 *               Instances given the same DIR share it, so a balancer's
 *               other member answers the retry normally.  Without -s,
 *               ?once= is ignored (always misbehave).
 *   -v          log every request on stderr.
 *   -h          usage and the list of scenarios.
 *
 * SIGTERM/SIGINT stop the server: connection children are terminated, the
 * socket and pidfile are removed.
 *
 * Every accepted connection is served by a child process of its own, so a
 * scenario that sleeps or never answers blocks nobody else.  Counters of
 * accepted connections, begun and completed requests live in an anonymous
 * shared mapping created before the first fork, so all children update the
 * same numbers ("stats" scenario).
 *
 * The scenario is the last segment of the REQUEST_URI param, before any '?'
 * ("/bad/wrong-version?x=1" -> "wrong-version"); when that is not a scenario
 * name but has an extension, it is tried without it ("/t/big.php" -> "big"),
 * so that scripts which must exist on disk for the module's script check can
 * still select scenarios.  Anything else is "echo".  Numeric options come
 * from QUERY_STRING as name=value ("?ms=200&n=5"); REQUEST_URI's query is used
 * when QUERY_STRING is absent.
 *
 * This file implements the FastCGI wire format on its own, on purpose: it
 * shares no code with the module's fcgi_proto.c, so that a misreading of the
 * specification in one cannot be hidden by the same misreading in the other.
 * Only libc and POSIX are used.
 */

#define _DEFAULT_SOURCE 1

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MAP_ANONYMOUS
#define MAP_ANONYMOUS MAP_ANON
#endif

/* ------------------------------------------------------------------------
 * FastCGI 1.0 wire format, as written in the specification.
 * ------------------------------------------------------------------------ */

#define FCGI_VERSION_1      1
#define FCGI_HEADER_LEN     8
#define FCGI_MAX_CONTENT    65535
#define FCGI_MAX_PADDING    255

enum fcgi_type {
    FCGI_BEGIN_REQUEST     = 1,
    FCGI_ABORT_REQUEST     = 2,
    FCGI_END_REQUEST       = 3,
    FCGI_PARAMS            = 4,
    FCGI_STDIN             = 5,
    FCGI_STDOUT            = 6,
    FCGI_STDERR            = 7,
    FCGI_DATA              = 8,
    FCGI_GET_VALUES        = 9,
    FCGI_GET_VALUES_RESULT = 10,
    FCGI_UNKNOWN_TYPE      = 11,
};

#define FCGI_KEEP_CONN      1       /* BEGIN_REQUEST flags */
#define FCGI_RESPONDER      1       /* the only role served here */

enum fcgi_protocol_status {
    FCGI_REQUEST_COMPLETE = 0,
    FCGI_CANT_MPX_CONN    = 1,
    FCGI_OVERLOADED       = 2,
    FCGI_UNKNOWN_ROLE     = 3,
};

/* Stream data is cut into records of this size: the largest multiple of 8
 * that fits the 16-bit content length, so full records need no padding. */
#define STREAM_CHUNK        65528

/* Padding that brings a record's content to a multiple of 8 bytes, as the
 * specification recommends (libfcgi and php-fpm do the same). */
static size_t pad8(size_t len)
{
    return (8 - len % 8) % 8;
}

/* Encode a record header.  The version is a parameter only so that the
 * wrong-version scenario can lie about it. */
static void put_header(unsigned char *h, unsigned version, unsigned type,
                       unsigned id, size_t clen, size_t plen)
{
    h[0] = (unsigned char)version;
    h[1] = (unsigned char)type;
    h[2] = (unsigned char)(id >> 8);
    h[3] = (unsigned char)id;
    h[4] = (unsigned char)(clen >> 8);
    h[5] = (unsigned char)clen;
    h[6] = (unsigned char)plen;
    h[7] = 0;
}

/* Encode a whole version-1 record (header, content, zero padding) at dst,
 * which must have room for FCGI_HEADER_LEN + len + padding bytes. */
static size_t put_record(unsigned char *dst, unsigned type, unsigned id,
                         const void *data, size_t len, size_t padding)
{
    put_header(dst, FCGI_VERSION_1, type, id, len, padding);
    if (len > 0)
        memcpy(dst + FCGI_HEADER_LEN, data, len);
    memset(dst + FCGI_HEADER_LEN + len, 0, padding);
    return FCGI_HEADER_LEN + len + padding;
}

/* Name-value pair lengths: one byte below 128, else four bytes with the
 * high bit set. */
static size_t put_length(unsigned char *dst, size_t len)
{
    if (len < 128) {
        dst[0] = (unsigned char)len;
        return 1;
    }
    dst[0] = (unsigned char)(0x80 | (len >> 24));
    dst[1] = (unsigned char)(len >> 16);
    dst[2] = (unsigned char)(len >> 8);
    dst[3] = (unsigned char)len;
    return 4;
}

/* Returns 1 with *len set, or -1 if the length runs past end. */
static int get_length(const unsigned char **p, const unsigned char *end,
                      size_t *len)
{
    const unsigned char *q = *p;

    if (q >= end)
        return -1;
    if (!(q[0] & 0x80)) {
        *len = q[0];
        *p = q + 1;
        return 1;
    }
    if (end - q < 4)
        return -1;
    *len = ((size_t)(q[0] & 0x7f) << 24) | ((size_t)q[1] << 16)
         | ((size_t)q[2] << 8) | q[3];
    *p = q + 4;
    return 1;
}

struct pair {
    const unsigned char *name, *value;
    size_t nlen, vlen;
};

/* Decode the next name-value pair at *p.  Returns 1 for a pair, 0 at the
 * end of the data, -1 if the data is truncated or inconsistent. */
static int next_pair(const unsigned char **p, const unsigned char *end,
                     struct pair *out)
{
    const unsigned char *q = *p;

    if (q == end)
        return 0;
    if (get_length(&q, end, &out->nlen) < 0
        || get_length(&q, end, &out->vlen) < 0)
        return -1;
    if ((size_t)(end - q) < out->nlen
        || (size_t)(end - q) - out->nlen < out->vlen)
        return -1;
    out->name = q;
    out->value = q + out->nlen;
    *p = q + out->nlen + out->vlen;
    return 1;
}

static int pair_name_is(const struct pair *pr, const char *name)
{
    size_t n = strlen(name);
    return pr->nlen == n && memcmp(pr->name, name, n) == 0;
}

/* ------------------------------------------------------------------------
 * Process-wide state.
 * ------------------------------------------------------------------------ */

static const char *progname = "fcgi-misbehave";
static int verbose;
static unsigned long max_requests_per_conn;     /* -c; 0 = unlimited */
static const char *state_dir;                   /* -s; NULL = none */

/* Shared by the server and all connection children (MAP_SHARED, created
 * before the first fork); lock-free atomics work across processes. */
struct counters {
    atomic_ulong accepted;      /* connections accepted */
    atomic_ulong begun;         /* BEGIN_REQUEST records received */
    atomic_ulong completed;     /* END_REQUEST records sent (any status) */
};
static struct counters *counters;

static int write_all(int fd, const void *buf, size_t len);

/* One line on stderr per call, written with a single write() so lines from
 * concurrent children do not interleave. */
static void logmsg(const char *fmt, ...)
{
    char line[1024];
    size_t len;
    va_list ap;
    int n;

    n = snprintf(line, sizeof line, "%s[%ld]: ", progname, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof line)
        n = 0;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    len = strlen(line);
    if (len == sizeof line - 1)
        len--;
    line[len++] = '\n';
    (void)write_all(STDERR_FILENO, line, len);
}

static void die(const char *fmt, ...)
{
    char msg[900];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    logmsg("%s", msg);
    exit(1);
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

/* Sleep ms milliseconds; a signal that interrupts the sleep does not cut
 * it short. */
static void msleep(long long ms)
{
    struct timespec ts, rem;

    if (ms <= 0)
        return;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &rem) < 0 && errno == EINTR)
        ts = rem;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------
 * Growable byte buffer, for building response bodies.
 * ------------------------------------------------------------------------ */

struct buf {
    char *data;
    size_t len, cap;
};

static void buf_add(struct buf *b, const void *data, size_t len)
{
    if (b->cap - b->len < len) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < len)
            cap *= 2;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void buf_str(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void buf_printf(struct buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        buf_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ------------------------------------------------------------------------
 * Socket I/O for one connection.
 *
 * Reads are buffered (a request is a handful of small records).  Writes go
 * out immediately, one write() per record or group of records, because
 * several scenarios are about *when* bytes reach the peer.
 * ------------------------------------------------------------------------ */

struct conn {
    int fd;
    int peer_closed;            /* EOF seen on the socket */
    unsigned long served;       /* requests finished on this connection */
    size_t in_pos, in_end;
    unsigned char in[65536];
};

/* Write all of buf, retrying after signals and short writes (a socket
 * takes only what fits in its buffer).  Returns 0, or -1 with errno. */
static int write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Connection children exist for one peer only: once writing to it fails
 * (it went away, usually EPIPE since SIGPIPE is ignored) there is nothing
 * left to do, so the child just exits instead of unwinding every scenario. */
static void conn_write(struct conn *c, const void *buf, size_t len)
{
    if (write_all(c->fd, buf, len) < 0) {
        if (verbose || (errno != EPIPE && errno != ECONNRESET))
            logmsg("write: %s; dropping connection", strerror(errno));
        _exit(0);
    }
}

/* Read exactly len bytes.  Returns 1, 0 on a clean EOF before the first
 * byte, -1 on EOF part-way or a read error. */
static int conn_read(struct conn *c, void *dst, size_t len)
{
    unsigned char *d = dst;
    size_t got = 0;

    while (got < len) {
        if (c->in_pos == c->in_end) {
            ssize_t n = read(c->fd, c->in, sizeof c->in);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                logmsg("read: %s", strerror(errno));
                return -1;
            }
            if (n == 0) {
                c->peer_closed = 1;
                if (got > 0)
                    logmsg("peer closed the connection inside a record");
                return got == 0 ? 0 : -1;
            }
            c->in_pos = 0;
            c->in_end = (size_t)n;
        }
        size_t take = c->in_end - c->in_pos;
        if (take > len - got)
            take = len - got;
        memcpy(d + got, c->in + c->in_pos, take);
        c->in_pos += take;
        got += take;
    }
    return 1;
}

/* Wait up to ms milliseconds for the peer to close, discarding whatever it
 * sends meanwhile. */
static void wait_for_peer_close(struct conn *c, long long ms)
{
    long long deadline = now_ms() + ms;
    char junk[4096];

    while (!c->peer_closed) {
        long long left = deadline - now_ms();
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        int n;

        if (left <= 0)
            return;
        n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (n < 0 && errno != EINTR)
            return;
        if (n > 0) {
            ssize_t r = read(c->fd, junk, sizeof junk);
            if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
                c->peer_closed = 1;
        }
    }
}

/* Close the connection.  shutdown() sends the EOF at once; the peer's own
 * close is then awaited briefly, because closing a socket with unread data
 * (say an ABORT_REQUEST racing our response) makes TCP send a reset that
 * can destroy response bytes the peer has not read yet. */
static void conn_close(struct conn *c)
{
    if (!c->peer_closed) {
        shutdown(c->fd, SHUT_WR);
        wait_for_peer_close(c, 2000);
    }
    close(c->fd);
}

/* ------------------------------------------------------------------------
 * Writing records.
 * ------------------------------------------------------------------------ */

/* One record in one write(); len <= 65535, padding <= 255. */
static void write_record(struct conn *c, unsigned type, unsigned id,
                         const void *data, size_t len, size_t padding)
{
    static unsigned char rec[FCGI_HEADER_LEN + FCGI_MAX_CONTENT
                             + FCGI_MAX_PADDING];

    conn_write(c, rec, put_record(rec, type, id, data, len, padding));
}

/* Stream data as as many records as needed.  Sends nothing for len 0: the
 * empty record that ends a stream is written explicitly where wanted. */
static void write_stream(struct conn *c, unsigned type, unsigned id,
                         const void *data, size_t len)
{
    const unsigned char *p = data;

    while (len > 0) {
        size_t n = len < STREAM_CHUNK ? len : STREAM_CHUNK;
        write_record(c, type, id, p, n, pad8(n));
        p += n;
        len -= n;
    }
}

static void write_stdout(struct conn *c, unsigned id, const void *data,
                         size_t len)
{
    write_stream(c, FCGI_STDOUT, id, data, len);
}

static void write_stdout_str(struct conn *c, unsigned id, const char *s)
{
    write_stdout(c, id, s, strlen(s));
}

static void put_end_request_body(unsigned char *body, unsigned long app_status,
                                 unsigned protocol_status)
{
    memset(body, 0, 8);
    body[0] = (unsigned char)(app_status >> 24);
    body[1] = (unsigned char)(app_status >> 16);
    body[2] = (unsigned char)(app_status >> 8);
    body[3] = (unsigned char)app_status;
    body[4] = (unsigned char)protocol_status;
}

static void end_request(struct conn *c, unsigned id, unsigned long app_status,
                        unsigned protocol_status)
{
    unsigned char body[8];

    put_end_request_body(body, app_status, protocol_status);
    write_record(c, FCGI_END_REQUEST, id, body, sizeof body, 0);
    atomic_fetch_add(&counters->completed, 1);
}

/* The well-behaved end of a response: the empty STDOUT record that closes
 * the stream and END_REQUEST, together in one write. */
static void finish(struct conn *c, unsigned id, unsigned long app_status)
{
    unsigned char out[2 * FCGI_HEADER_LEN + 8], body[8];
    size_t n;

    put_end_request_body(body, app_status, FCGI_REQUEST_COMPLETE);
    n = put_record(out, FCGI_STDOUT, id, NULL, 0, 0);
    n += put_record(out + n, FCGI_END_REQUEST, id, body, sizeof body, 0);
    conn_write(c, out, n);
    atomic_fetch_add(&counters->completed, 1);
}

/* ------------------------------------------------------------------------
 * The request being read.
 * ------------------------------------------------------------------------ */

#define MAX_PARAMS_BYTES (16u << 20)    /* refuse absurd PARAMS streams */

struct request {
    int active;
    unsigned id, role, flags;
    int params_done, stdin_done;
    int answered;                       /* answer-early: END_REQUEST is out,
                                         * STDIN still to be read */
    unsigned char *params;              /* the PARAMS stream, concatenated */
    size_t params_len, params_cap;
    struct pair *pairs;                 /* decoded once the stream ended */
    size_t npairs, pairs_cap;
    unsigned long long stdin_bytes;
    uint32_t stdin_sum;                 /* sum of stdin bytes, mod 2^32 */
    unsigned long long overload_at;     /* overloaded-in-body: send
                                         * FCGI_OVERLOADED once this many
                                         * STDIN bytes are in; 0 = no */
};

/* Pairs may be split anywhere across PARAMS records, so they are decoded
 * only from the complete stream. */
static void decode_params(struct request *r)
{
    const unsigned char *p = r->params, *end;
    struct pair pr;
    int rc;

    r->npairs = 0;
    if (r->params_len == 0)
        return;
    end = p + r->params_len;
    while ((rc = next_pair(&p, end, &pr)) > 0) {
        if (r->npairs == r->pairs_cap) {
            r->pairs_cap = r->pairs_cap ? 2 * r->pairs_cap : 64;
            r->pairs = xrealloc(r->pairs, r->pairs_cap * sizeof *r->pairs);
        }
        r->pairs[r->npairs++] = pr;
    }
    if (rc < 0)
        logmsg("request %u: malformed PARAMS (%zu bytes left undecoded)",
               r->id, (size_t)(end - p));
}

static const struct pair *get_param(const struct request *r, const char *name)
{
    for (size_t i = 0; i < r->npairs; i++)
        if (pair_name_is(&r->pairs[i], name))
            return &r->pairs[i];
    return NULL;
}

/* The query string: QUERY_STRING, else whatever follows '?' in REQUEST_URI. */
static void get_query(const struct request *r, const unsigned char **q,
                      size_t *len)
{
    const struct pair *pr = get_param(r, "QUERY_STRING");

    *q = NULL;
    *len = 0;
    if (pr) {
        *q = pr->value;
        *len = pr->vlen;
    } else if ((pr = get_param(r, "REQUEST_URI")) != NULL) {
        const unsigned char *mark = memchr(pr->value, '?', pr->vlen);
        if (mark) {
            *q = mark + 1;
            *len = pr->vlen - (size_t)(mark + 1 - pr->value);
        }
    }
}

/* A numeric option name=value from the query string: decimal digits only,
 * clamped to [min, max]; def when absent or not a number. */
static long long opt_num(const struct request *r, const char *name,
                         long long def, long long min, long long max)
{
    const unsigned char *q, *end, *p;
    size_t qlen, nlen = strlen(name);

    get_query(r, &q, &qlen);
    if (!q)
        return def;
    end = q + qlen;
    for (p = q; p < end; ) {
        const unsigned char *amp = memchr(p, '&', (size_t)(end - p));
        const unsigned char *tok_end = amp ? amp : end;

        if ((size_t)(tok_end - p) > nlen && memcmp(p, name, nlen) == 0
            && p[nlen] == '=') {
            const unsigned char *v = p + nlen + 1;
            long long val = 0;

            if (v == tok_end)
                return def;
            for (; v < tok_end; v++) {
                if (*v < '0' || *v > '9')
                    return def;
                if (val <= max)         /* stop growing once past max */
                    val = val * 10 + (*v - '0');
            }
            return val < min ? min : val > max ? max : val;
        }
        p = amp ? amp + 1 : end;
    }
    return def;
}

/* ?once=N (see -s): 1 if this request is the first to carry N, so it is
 * the one to misbehave; 0 if one before it (on any instance sharing the
 * state directory) already did.  Without ?once= or without -s: 1. */
static int once_claim(const struct request *r)
{
    long long n = opt_num(r, "once", 0, 0, 999999999999999LL);
    char path[4096];
    int fd;

    if (n == 0)
        return 1;
    if (!state_dir) {
        logmsg("request %u: ?once= without -s DIR; misbehaving anyway", r->id);
        return 1;
    }
    if ((size_t)snprintf(path, sizeof path, "%s/once-%lld", state_dir, n)
        >= sizeof path) {
        logmsg("state directory path too long; misbehaving anyway");
        return 1;
    }
    fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
    if (fd >= 0) {
        close(fd);
        return 1;
    }
    if (errno == EEXIST)
        return 0;
    logmsg("%s: %s; misbehaving anyway", path, strerror(errno));
    return 1;
}

/* ------------------------------------------------------------------------
 * Scenarios: one small function each, listed in the table further down.
 *
 * A scenario answers request r on connection c and says what happens to
 * the connection afterwards:
 *   NEXT   the usual rules apply: keep it if the request had
 *          FCGI_KEEP_CONN (and -c allows), else close it;
 *   CLOSE  close it now (shutdown, no more bytes of ours).
 * ------------------------------------------------------------------------ */

enum outcome { NEXT, CLOSE };

static const char text_plain[] = "Content-Type: text/plain\r\n\r\n";

/* A complete, ordinary response: headers and body as one text. */
static enum outcome respond(struct conn *c, const struct request *r,
                            const char *response)
{
    write_stdout_str(c, r->id, response);
    finish(c, r->id, 0);
    return NEXT;
}

/* 'A'..'Z' repeating, offset so that a long body is one seamless pattern. */
static void fill_pattern(unsigned char *dst, size_t len,
                         unsigned long long offset)
{
    for (size_t i = 0; i < len; i++)
        dst[i] = (unsigned char)('A' + (offset + i) % 26);
}

static int cmp_pair_name(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
    int d = memcmp(x->name, y->name, n);

    if (d != 0)
        return d;
    return x->nlen < y->nlen ? -1 : x->nlen > y->nlen;
}

static enum outcome sc_echo(struct conn *c, struct request *r)
{
    struct buf b = { 0 };

    msleep(opt_num(r, "ms", 0, 0, 86400000));
    buf_str(&b, text_plain);
    if (r->npairs > 0)      /* qsort() wants a valid pointer even for 0 */
        qsort(r->pairs, r->npairs, sizeof *r->pairs, cmp_pair_name);
    for (size_t i = 0; i < r->npairs; i++) {
        buf_add(&b, r->pairs[i].name, r->pairs[i].nlen);
        buf_add(&b, "=", 1);
        buf_add(&b, r->pairs[i].value, r->pairs[i].vlen);
        buf_add(&b, "\n", 1);
    }
    buf_printf(&b, "STDIN_BYTES=%llu\nSTDIN_SUM=%lu\n",
               r->stdin_bytes, (unsigned long)r->stdin_sum);
    write_stdout(c, r->id, b.data, b.len);
    buf_free(&b);
    finish(c, r->id, 0);
    return NEXT;
}

static enum outcome sc_hello(struct conn *c, struct request *r)
{
    return respond(c, r, "Content-Type: text/plain\r\n\r\nhello\n");
}

static enum outcome sc_stats(struct conn *c, struct request *r)
{
    char body[256];

    snprintf(body, sizeof body,
             "Content-Type: text/plain\r\n\r\n"
             "accepted=%lu\nbegun=%lu\ncompleted=%lu\n",
             atomic_load(&counters->accepted), atomic_load(&counters->begun),
             atomic_load(&counters->completed));
    return respond(c, r, body);
}

/* Run as soon as PARAMS ended (see handle_record): answers, then reads the
 * request's STDIN only after ?ms=200, as an application that refuses a
 * body it has not read (a 413) does; a proxy still writing the body finds
 * the socket full and the whole answer there. */
static enum outcome sc_answer_early(struct conn *c, struct request *r)
{
    enum outcome o = respond(c, r, "Status: 413 Too Big\r\n"
                                   "Content-Type: text/plain\r\n\r\n"
                                   "refused before reading the body\n");

    msleep(opt_num(r, "ms", 200, 0, 86400000));
    return o;
}

static enum outcome sc_sleep(struct conn *c, struct request *r)
{
    msleep(opt_num(r, "ms", 1000, 0, 86400000));
    return respond(c, r, "Content-Type: text/plain\r\n\r\nslept\n");
}

static enum outcome sc_status(struct conn *c, struct request *r)
{
    char resp[128];
    long long code = opt_num(r, "code", 418, 100, 999);

    snprintf(resp, sizeof resp,
             "Status: %lld Teapot\r\nContent-Type: text/plain\r\n\r\n"
             "status %lld\n", code, code);
    return respond(c, r, resp);
}

static enum outcome sc_cookies(struct conn *c, struct request *r)
{
    return respond(c, r, "Content-Type: text/plain\r\n"
                         "Set-Cookie: a=1\r\n"
                         "Set-Cookie: b=2\r\n"
                         "\r\n"
                         "cookies\n");
}

static enum outcome sc_location(struct conn *c, struct request *r)
{
    /* No Status: a CGI "local redirect" the web server follows itself. */
    return respond(c, r, "Location: /local/target\r\n\r\n");
}

static enum outcome sc_location_abs(struct conn *c, struct request *r)
{
    return respond(c, r, "Location: http://example.com/x\r\n\r\n");
}

static enum outcome sc_stderr(struct conn *c, struct request *r)
{
    write_stream(c, FCGI_STDERR, r->id, "misbehave says hello on stderr",
                 strlen("misbehave says hello on stderr"));
    write_stdout_str(c, r->id, "Content-Type: text/plain\r\n\r\nok\n");
    /* Close the stderr stream too: allowed, and a reader must cope. */
    write_record(c, FCGI_STDERR, r->id, NULL, 0, 0);
    finish(c, r->id, 0);
    return NEXT;
}

/* One stderr line cut across two records (and reads: 50 ms apart), then
 * two lines in one record, the last without its newline. */
static enum outcome sc_stderr_split(struct conn *c, struct request *r)
{
    static const char first[] = "misbehave split line: first half, ";
    static const char second[] = "second half\nline two\nline three";

    write_record(c, FCGI_STDERR, r->id, first, strlen(first), 0);
    msleep(50);
    write_record(c, FCGI_STDERR, r->id, second, strlen(second), 0);
    write_stdout_str(c, r->id, "Content-Type: text/plain\r\n\r\nok\n");
    finish(c, r->id, 0);
    return NEXT;
}

static enum outcome sc_big(struct conn *c, struct request *r)
{
    /* Pattern offsets 0..25 into one buffer give every chunk its place. */
    static unsigned char pattern[STREAM_CHUNK + 26];
    unsigned long long total = (unsigned long long)
        opt_num(r, "bytes", 10485760, 0, 1LL << 40);
    unsigned long long sent = 0;

    fill_pattern(pattern, sizeof pattern, 0);
    write_stdout_str(c, r->id, text_plain);
    while (sent < total) {
        size_t n = total - sent < STREAM_CHUNK ? (size_t)(total - sent)
                                               : STREAM_CHUNK;
        write_record(c, FCGI_STDOUT, r->id, pattern + sent % 26, n, pad8(n));
        sent += n;
    }
    finish(c, r->id, 0);
    return NEXT;
}

static enum outcome sc_flush(struct conn *c, struct request *r)
{
    long long n = opt_num(r, "n", 3, 0, 1000000);
    long long ms = opt_num(r, "ms", 1000, 0, 86400000);
    char tick[64];

    write_stdout_str(c, r->id, text_plain);
    for (long long i = 1; i <= n; i++) {
        if (i > 1)
            msleep(ms);
        snprintf(tick, sizeof tick, "tick %lld\n", i);
        write_stdout_str(c, r->id, tick);
    }
    finish(c, r->id, 0);
    return NEXT;
}

static enum outcome sc_wrong_version(struct conn *c, struct request *r)
{
    static const char resp[] =
        "Content-Type: text/plain\r\n\r\nwrong-version\n";
    unsigned char rec[FCGI_HEADER_LEN + sizeof resp + 8];
    size_t len = sizeof resp - 1;

    /* A complete response, but in a record claiming FastCGI version 2;
     * then the normal end of the stream and END_REQUEST. */
    put_record(rec, FCGI_STDOUT, r->id, resp, len, pad8(len));
    rec[0] = 2;
    conn_write(c, rec, FCGI_HEADER_LEN + len + pad8(len));
    finish(c, r->id, 0);
    return NEXT;
}

static enum outcome sc_wrong_id(struct conn *c, struct request *r)
{
    unsigned other = r->id == 0xffff ? 1 : r->id + 1;

    /* Output for a request that does not exist on this connection, then
     * the real, complete response. */
    write_stdout_str(c, other, "Content-Type: text/plain\r\n\r\nwrong-id\n");
    return respond(c, r, "Content-Type: text/plain\r\n\r\nok\n");
}

static enum outcome sc_unknown_type(struct conn *c, struct request *r)
{
    static const unsigned char junk[4] = { 0xde, 0xad, 0xbe, 0xef };

    write_record(c, 99, r->id, junk, sizeof junk, pad8(sizeof junk));
    return respond(c, r, "Content-Type: text/plain\r\n\r\nok\n");
}

static enum outcome sc_bad_padding(struct conn *c, struct request *r)
{
    static const char resp[] = "Content-Type: text/plain\r\n\r\nbad-padding\n";
    unsigned char h[FCGI_HEADER_LEN];

    /* The header promises 7 padding bytes that never come. */
    put_header(h, FCGI_VERSION_1, FCGI_STDOUT, r->id, sizeof resp - 1, 7);
    conn_write(c, h, sizeof h);
    conn_write(c, resp, sizeof resp - 1);
    return CLOSE;
}

static enum outcome sc_short_content(struct conn *c, struct request *r)
{
    unsigned char h[FCGI_HEADER_LEN];

    /* Declares 1000 content bytes, delivers 10. */
    put_header(h, FCGI_VERSION_1, FCGI_STDOUT, r->id, 1000, 0);
    conn_write(c, h, sizeof h);
    conn_write(c, "Content-Ty", 10);
    return CLOSE;
}

static enum outcome sc_end_first(struct conn *c, struct request *r)
{
    end_request(c, r->id, 0, FCGI_REQUEST_COMPLETE);
    return NEXT;
}

static enum outcome sc_huge_headers(struct conn *c, struct request *r)
{
    static const char fill[] =     /* 64 characters */
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t want = (size_t)opt_num(r, "bytes", 1048576, 0, 1LL << 30);
    struct buf b = { 0 };

    /* Whole lines until the block, blank line included, reaches `want`. */
    buf_str(&b, "Content-Type: text/plain\r\n");
    for (unsigned long i = 1; b.len + 2 < want; i++)
        buf_printf(&b, "X-Fill-%lu: %s\r\n", i, fill);
    buf_str(&b, "\r\nok\n");
    write_stdout(c, r->id, b.data, b.len);
    buf_free(&b);
    finish(c, r->id, 0);
    return NEXT;
}

static enum outcome sc_no_colon(struct conn *c, struct request *r)
{
    return respond(c, r, "Content-Type: text/plain\r\n"
                         "This line has no colon\r\n\r\nbody");
}

static enum outcome sc_crlf_value(struct conn *c, struct request *r)
{
    /* A bare CR inside a value: must not become a second header. */
    return respond(c, r, "Content-Type: text/plain\r\n"
                         "X-Split: a\rSet-Cookie: evil=1\r\n\r\nbody");
}

static enum outcome sc_lf_value(struct conn *c, struct request *r)
{
    /* A NUL byte inside a value (a bare LF would simply end the line). */
    static const char resp[] =
        "Content-Type: text/plain\r\nX-Nul: a\0b\r\n\r\nbody";

    write_stdout(c, r->id, resp, sizeof resp - 1);
    finish(c, r->id, 0);
    return NEXT;
}

static enum outcome sc_obs_fold(struct conn *c, struct request *r)
{
    return respond(c, r, "X-Long: a\r\n b\r\n\r\nbody");
}

static enum outcome sc_tiny_records(struct conn *c, struct request *r)
{
    long long n = opt_num(r, "n", 10000, 0, 100000000);
    struct buf b = { 0 };
    unsigned char rec[FCGI_HEADER_LEN + 1];

    write_stdout_str(c, r->id, text_plain);
    /* Each body byte is a record of its own (no padding, 9 bytes on the
     * wire); the records are batched into large writes, since what is
     * being tested is the framing, not the timing. */
    for (long long i = 0; i < n; i++) {
        put_header(rec, FCGI_VERSION_1, FCGI_STDOUT, r->id, 1, 0);
        rec[FCGI_HEADER_LEN] = (unsigned char)('A' + i % 26);
        buf_add(&b, rec, sizeof rec);
        if (b.len >= 65536) {
            conn_write(c, b.data, b.len);
            b.len = 0;
        }
    }
    conn_write(c, b.data, b.len);
    buf_free(&b);
    finish(c, r->id, 0);
    return NEXT;
}

static enum outcome sc_drip(struct conn *c, struct request *r)
{
    static const char resp[] = "Content-Type: text/plain\r\n\r\ndrip\n";
    long long ms = opt_num(r, "ms", 1000, 0, 86400000);

    if (opt_num(r, "wire", 0, 0, 1)) {
        /* ?wire=1: the raw byte stream of the whole response, records
         * and END_REQUEST included, one byte at a time, so that even
         * record headers arrive in pieces. */
        unsigned char out[3 * FCGI_HEADER_LEN + sizeof resp + 16], body[8];
        size_t len = sizeof resp - 1, n;

        n = put_record(out, FCGI_STDOUT, r->id, resp, len, pad8(len));
        n += put_record(out + n, FCGI_STDOUT, r->id, NULL, 0, 0);
        put_end_request_body(body, 0, FCGI_REQUEST_COMPLETE);
        n += put_record(out + n, FCGI_END_REQUEST, r->id, body, 8, 0);
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                msleep(ms);
            conn_write(c, out + i, 1);
        }
        atomic_fetch_add(&counters->completed, 1);
        return NEXT;
    }
    /* Default: each byte of the response text in a STDOUT record of its
     * own, one per interval. */
    for (size_t i = 0; i < sizeof resp - 1; i++) {
        if (i > 0)
            msleep(ms);
        write_record(c, FCGI_STDOUT, r->id, resp + i, 1, pad8(1));
    }
    finish(c, r->id, 0);
    return NEXT;
}

static enum outcome sc_close_headers(struct conn *c, struct request *r)
{
    write_stdout_str(c, r->id, "Content-Type: text/pl");
    return CLOSE;
}

static enum outcome sc_close_body(struct conn *c, struct request *r)
{
    unsigned char body[1000];

    /* No Content-Length, 1000 bytes, then neither the empty STDOUT nor
     * END_REQUEST. */
    fill_pattern(body, sizeof body, 0);
    write_stdout_str(c, r->id, text_plain);
    write_stdout(c, r->id, body, sizeof body);
    return CLOSE;
}

static enum outcome sc_close_now(struct conn *c, struct request *r)
{
    (void)c;
    (void)r;
    return CLOSE;
}

/* A worker killed while its script ran, before it read STDIN (which PHP
 * reads lazily): the peer sees a reset, not an orderly close (on TCP
 * always, by SO_LINGER 0; on a Unix socket when bytes are still unread). */
static enum outcome sc_reset_early(struct conn *c, struct request *r)
{
    struct linger lg = { 1, 0 };

    (void)r;
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    c->peer_closed = 1;     /* conn_close(): no FIN first, no wait */
    return CLOSE;
}

static enum outcome sc_silent(struct conn *c, struct request *r)
{
    /* Hold the connection open without a word (until the peer gives up). */
    wait_for_peer_close(c, opt_num(r, "ms", 600000, 0, 86400000));
    return CLOSE;
}

static enum outcome sc_overloaded(struct conn *c, struct request *r)
{
    end_request(c, r->id, 0, FCGI_OVERLOADED);
    return NEXT;
}

static enum outcome sc_unknown_role(struct conn *c, struct request *r)
{
    end_request(c, r->id, 0, FCGI_UNKNOWN_ROLE);
    return NEXT;
}

static enum outcome sc_no_end(struct conn *c, struct request *r)
{
    write_stdout_str(c, r->id, "Content-Type: text/plain\r\n\r\nno-end\n");
    write_record(c, FCGI_STDOUT, r->id, NULL, 0, 0);
    return CLOSE;
}

static enum outcome sc_exit_status(struct conn *c, struct request *r)
{
    write_stdout_str(c, r->id, "Content-Type: text/plain\r\n\r\nok\n");
    finish(c, r->id, (unsigned long)opt_num(r, "status", 1, 0, 0xffffffffLL));
    return NEXT;
}

/* A complete answer, then records for the same request id after its
 * END_REQUEST: a second complete answer (STDOUT, empty STDOUT,
 * END_REQUEST), ?ms=300 later, while the connection is kept.  A proxy that
 * reuses the connection must never take those for the answer to its next
 * request.  ?ms=0: the second answer goes out in the same write() as the
 * first, so it arrives right behind the first END_REQUEST. */
static enum outcome sc_extra_end(struct conn *c, struct request *r)
{
    static const char first[] = "Content-Type: text/plain\r\n\r\n"
                                "first answer\n";
    char extra[128];
    unsigned char out[2 * (3 * FCGI_HEADER_LEN + 8 + 128 + 8)], body[8];
    long long ms = opt_num(r, "ms", 300, 0, 86400000);
    size_t n = 0, len;

    put_end_request_body(body, 0, FCGI_REQUEST_COMPLETE);
    len = sizeof first - 1;
    n += put_record(out + n, FCGI_STDOUT, r->id, first, len, pad8(len));
    n += put_record(out + n, FCGI_STDOUT, r->id, NULL, 0, 0);
    n += put_record(out + n, FCGI_END_REQUEST, r->id, body, 8, 0);
    atomic_fetch_add(&counters->completed, 1);
    if (ms > 0) {
        conn_write(c, out, n);
        n = 0;
        msleep(ms);
    }
    snprintf(extra, sizeof extra, "Content-Type: text/plain\r\n\r\n"
             "LEFTOVER of request id %u, sent after its END_REQUEST\n", r->id);
    len = strlen(extra);
    n += put_record(out + n, FCGI_STDOUT, r->id, extra, len, pad8(len));
    n += put_record(out + n, FCGI_STDOUT, r->id, NULL, 0, 0);
    n += put_record(out + n, FCGI_END_REQUEST, r->id, body, 8, 0);
    conn_write(c, out, n);
    return NEXT;
}

/* The FCGI_OVERLOADED itself goes out from handle_record, as soon as
 * ?after=100000 STDIN bytes are in (r->overload_at); the rest of STDIN is
 * then read and dropped.  This runs once STDIN is complete: for a body
 * shorter than ?after, OVERLOADED now; with ?once=N for all but the first
 * request carrying N, an echo (answered by another balancer member, say). */
static enum outcome sc_overloaded_in_body(struct conn *c, struct request *r)
{
    if (r->overload_at) {
        r->overload_at = 0;
        end_request(c, r->id, 0, FCGI_OVERLOADED);
        return NEXT;
    }
    return sc_echo(c, r);
}

struct scenario {
    const char *name;
    enum outcome (*run)(struct conn *, struct request *);
    const char *what;
};

static const struct scenario scenarios[] = {
    { "echo",          sc_echo,
      "(after ?ms=0) params sorted by name as NAME=VALUE, then STDIN_BYTES "
      "and STDIN_SUM" },
    { "hello",         sc_hello,        "a minimal \"hello\" (benchmarks)" },
    { "stats",         sc_stats,        "accepted/begun/completed counters" },
    { "sleep",         sc_sleep,        "sleep ?ms=1000, then \"slept\"" },
    { "answer-early",  sc_answer_early,
      "413 as soon as PARAMS end, then STDIN is read after ?ms=200" },
    { "status",        sc_status,       "Status: ?code=418 Teapot" },
    { "cookies",       sc_cookies,      "two Set-Cookie headers" },
    { "location",      sc_location,     "Location: /local/target, no Status" },
    { "location-abs",  sc_location_abs, "Location: http://example.com/x" },
    { "stderr",        sc_stderr,       "a message on FCGI_STDERR, then ok" },
    { "stderr-split",  sc_stderr_split, "a stderr line across two records, two in one" },
    { "big",           sc_big,          "?bytes=10485760 of A..Z in 64K records" },
    { "flush",         sc_flush,        "?n=3 \"tick i\" records, ?ms=1000 apart" },
    { "wrong-version", sc_wrong_version, "a STDOUT record with version 2" },
    { "wrong-id",      sc_wrong_id,     "a STDOUT record for request id+1, then ok" },
    { "unknown-type",  sc_unknown_type, "a record of type 99, then ok" },
    { "bad-padding",   sc_bad_padding,  "declares 7 padding bytes, closes first" },
    { "short-content", sc_short_content, "declares 1000 content bytes, sends 10, closes" },
    { "end-first",     sc_end_first,    "END_REQUEST without any STDOUT" },
    { "huge-headers",  sc_huge_headers, "a header block of ?bytes=1048576" },
    { "no-colon",      sc_no_colon,     "a header line without a colon" },
    { "crlf-value",    sc_crlf_value,   "a bare CR inside a header value" },
    { "lf-value",      sc_lf_value,     "a NUL byte inside a header value" },
    { "obs-fold",      sc_obs_fold,     "an obsolete folded header line" },
    { "tiny-records",  sc_tiny_records, "?n=10000 body bytes, one record each" },
    { "drip",          sc_drip,         "one byte per ?ms=1000 (?wire=1: raw bytes)" },
    { "close-headers", sc_close_headers, "closes in the middle of the headers" },
    { "close-body",    sc_close_body,   "1000 body bytes, closes without END_REQUEST" },
    { "close-now",     sc_close_now,    "closes without a byte" },
    { "reset-early",   sc_reset_early,
      "resets the connection as soon as PARAMS end, STDIN unread" },
    { "silent",        sc_silent,       "never answers, holds the connection ?ms=600000" },
    { "overloaded",    sc_overloaded,   "END_REQUEST FCGI_OVERLOADED only" },
    { "unknown-role",  sc_unknown_role, "END_REQUEST FCGI_UNKNOWN_ROLE only" },
    { "no-end",        sc_no_end,       "full response and stream end, no END_REQUEST" },
    { "exit-status",   sc_exit_status,  "normal response, END_REQUEST app status ?status=1" },
    { "extra-end",     sc_extra_end,
      "a full answer, then ?ms=300 later a 2nd one (same id) after END_REQUEST" },
    { "overloaded-in-body", sc_overloaded_in_body,
      "OVERLOADED after ?after=100000 STDIN bytes (?once=N: then echo)" },
};

#define N_SCENARIOS (sizeof scenarios / sizeof scenarios[0])

static const struct scenario *scenario_named(const unsigned char *name,
                                             size_t len)
{
    for (size_t i = 0; i < N_SCENARIOS; i++)
        if (strlen(scenarios[i].name) == len
            && memcmp(scenarios[i].name, name, len) == 0)
            return &scenarios[i];
    return NULL;
}

/* The last path segment of REQUEST_URI, before any '?'; failing that, the
 * same without its extension; failing that, echo. */
static const struct scenario *pick_scenario(const struct request *r)
{
    const struct pair *uri = get_param(r, "REQUEST_URI");
    const struct scenario *s = NULL;

    if (uri) {
        const unsigned char *start = uri->value, *end = uri->value + uri->vlen;
        const unsigned char *q = memchr(start, '?', uri->vlen);

        if (q)
            end = q;
        for (const unsigned char *p = start; p < end; p++)
            if (*p == '/')
                start = p + 1;
        s = scenario_named(start, (size_t)(end - start));
        if (!s) {
            const unsigned char *dot = NULL;
            for (const unsigned char *p = start; p < end; p++)
                if (*p == '.')
                    dot = p;
            if (dot)
                s = scenario_named(start, (size_t)(dot - start));
        }
    }
    return s ? s : &scenarios[0];
}

/* ------------------------------------------------------------------------
 * Serving a connection.
 * ------------------------------------------------------------------------ */

struct record {
    unsigned version, type, id;
    size_t clen, plen;
    unsigned char content[FCGI_MAX_CONTENT + FCGI_MAX_PADDING];
};

/* Returns 1, 0 on a clean EOF between records, -1 on a truncated record.
 * The content of a record with a version other than 1 is not read: its
 * lengths cannot be trusted, and the caller closes the connection. */
static int read_record(struct conn *c, struct record *rec)
{
    unsigned char h[FCGI_HEADER_LEN];
    int rc = conn_read(c, h, sizeof h);

    if (rc <= 0)
        return rc;
    rec->version = h[0];
    rec->type = h[1];
    rec->id = (unsigned)h[2] << 8 | h[3];
    rec->clen = (size_t)h[4] << 8 | h[5];
    rec->plen = h[6];
    if (rec->version != FCGI_VERSION_1)
        return 1;
    if (conn_read(c, rec->content, rec->clen + rec->plen) != 1) {
        logmsg("truncated record (type %u, %zu+%zu bytes announced)",
               rec->type, rec->clen, rec->plen);
        return -1;
    }
    return 1;
}

/* Records with request id 0.  GET_VALUES is answered with the values asked
 * for (and only those); every other management type is unknown to us. */
static void handle_management(struct conn *c, const struct record *rec)
{
    static const struct { const char *name, *value; } values[] = {
        { "FCGI_MAX_CONNS",  "50" },
        { "FCGI_MAX_REQS",   "50" },
        { "FCGI_MPXS_CONNS", "0" },
    };
    unsigned char out[FCGI_MAX_CONTENT];
    const unsigned char *p = rec->content, *end = rec->content + rec->clen;
    struct pair pr;
    size_t n = 0;
    int rc;

    if (rec->type != FCGI_GET_VALUES) {
        unsigned char body[8] = { (unsigned char)rec->type };
        write_record(c, FCGI_UNKNOWN_TYPE, 0, body, sizeof body, 0);
        return;
    }
    while ((rc = next_pair(&p, end, &pr)) > 0) {
        for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
            size_t nl = strlen(values[i].name), vl = strlen(values[i].value);
            if (!pair_name_is(&pr, values[i].name) || n + 8 + nl + vl > sizeof out)
                continue;
            n += put_length(out + n, nl);
            n += put_length(out + n, vl);
            memcpy(out + n, values[i].name, nl);
            n += nl;
            memcpy(out + n, values[i].value, vl);
            n += vl;
        }
    }
    if (rc < 0)
        logmsg("malformed GET_VALUES record");
    write_record(c, FCGI_GET_VALUES_RESULT, 0, out, n, pad8(n));
}

/* After a request ended: may the connection carry another one? */
static enum outcome request_done(struct conn *c, struct request *r,
                                 enum outcome o)
{
    c->served++;
    r->active = 0;
    if (o == CLOSE)
        return CLOSE;
    if (!(r->flags & FCGI_KEEP_CONN))
        return CLOSE;   /* the specification: the application closes it */
    if (max_requests_per_conn && c->served >= max_requests_per_conn) {
        if (verbose)
            logmsg("closing after %lu requests (-c)", c->served);
        return CLOSE;
    }
    return NEXT;
}

static enum outcome run_request(struct conn *c, struct request *r)
{
    const struct scenario *s;

    decode_params(r);
    s = pick_scenario(r);
    if (verbose) {
        const struct pair *uri = get_param(r, "REQUEST_URI");
        logmsg("request %u%s: %s (REQUEST_URI %.*s)", r->id,
               r->flags & FCGI_KEEP_CONN ? " keep-conn" : "", s->name,
               uri ? (int)(uri->vlen > 200 ? 200 : uri->vlen) : 1,
               uri ? (const char *)uri->value : "-");
    }
    return request_done(c, r, s->run(c, r));
}

static enum outcome begin_request(struct conn *c, struct request *r,
                                  const struct record *rec)
{
    if (rec->clen != 8) {
        logmsg("BEGIN_REQUEST with %zu content bytes; closing", rec->clen);
        return CLOSE;
    }
    atomic_fetch_add(&counters->begun, 1);
    if (r->active) {
        /* FCGI_MPXS_CONNS=0: one request at a time per connection. */
        logmsg("BEGIN_REQUEST %u while %u is active", rec->id, r->id);
        end_request(c, rec->id, 0, FCGI_CANT_MPX_CONN);
        return NEXT;
    }
    r->active = 1;
    r->id = rec->id;
    r->role = (unsigned)rec->content[0] << 8 | rec->content[1];
    r->flags = rec->content[2];
    r->params_done = r->stdin_done = r->answered = 0;
    r->params_len = 0;
    r->npairs = 0;
    r->stdin_bytes = 0;
    r->stdin_sum = 0;
    r->overload_at = 0;
    if (r->role != FCGI_RESPONDER) {
        end_request(c, r->id, 0, FCGI_UNKNOWN_ROLE);
        return request_done(c, r, NEXT);
    }
    return NEXT;
}

/* One application record (request id != 0). */
static enum outcome handle_record(struct conn *c, struct request *r,
                                  const struct record *rec)
{
    if (rec->type == FCGI_BEGIN_REQUEST)
        return begin_request(c, r, rec);

    /* Records of requests that are not active are ignored, as the
     * specification asks (e.g. an ABORT_REQUEST that crossed our
     * END_REQUEST). */
    if (!r->active || rec->id != r->id)
        return NEXT;

    switch (rec->type) {
    case FCGI_ABORT_REQUEST:
        /* Nothing runs yet that could be stopped: just end the request. */
        if (verbose)
            logmsg("request %u aborted by the peer", r->id);
        end_request(c, r->id, 0, FCGI_REQUEST_COMPLETE);
        return request_done(c, r, NEXT);

    case FCGI_PARAMS:
        if (r->params_done)
            return NEXT;
        if (rec->clen == 0) {
            r->params_done = 1;
            if (!r->stdin_done) {
                decode_params(r);
                if (pick_scenario(r)->run == sc_overloaded_in_body
                    && once_claim(r))
                    r->overload_at = (unsigned long long)
                        opt_num(r, "after", 100000, 1, 1LL << 40);
                if (pick_scenario(r)->run == sc_reset_early)
                    return sc_reset_early(c, r);
                if (pick_scenario(r)->run == sc_answer_early) {
                    if (sc_answer_early(c, r) == CLOSE)
                        return request_done(c, r, CLOSE);
                    r->answered = 1;
                    return NEXT;
                }
            }
            break;
        }
        if (r->params_len + rec->clen > MAX_PARAMS_BYTES) {
            logmsg("request %u: PARAMS larger than %u bytes; closing",
                   r->id, MAX_PARAMS_BYTES);
            return CLOSE;
        }
        if (r->params_cap - r->params_len < rec->clen) {
            r->params_cap = 2 * (r->params_len + rec->clen);
            r->params = xrealloc(r->params, r->params_cap);
        }
        memcpy(r->params + r->params_len, rec->content, rec->clen);
        r->params_len += rec->clen;
        return NEXT;

    case FCGI_STDIN:
        if (r->stdin_done)
            return NEXT;
        if (rec->clen == 0) {
            r->stdin_done = 1;
            break;
        }
        r->stdin_bytes += rec->clen;
        for (size_t i = 0; i < rec->clen; i++)
            r->stdin_sum += rec->content[i];
        if (r->overload_at && !r->answered
            && r->stdin_bytes >= r->overload_at) {
            /* overloaded-in-body: refuse it half-way, read the rest */
            if (verbose)
                logmsg("request %u: FCGI_OVERLOADED after %llu STDIN bytes",
                       r->id, r->stdin_bytes);
            r->overload_at = 0;
            end_request(c, r->id, 0, FCGI_OVERLOADED);
            r->answered = 1;
        }
        return NEXT;

    default:
        /* FCGI_DATA (filter role only) and anything else: ignored. */
        return NEXT;
    }

    if (r->answered) {
        /* answer-early: the rest of STDIN has been read now */
        return r->stdin_done ? request_done(c, r, NEXT) : NEXT;
    }
    /* Both streams complete (in whichever order they ended): answer. */
    if (r->params_done && r->stdin_done)
        return run_request(c, r);
    return NEXT;
}

static void serve_connection(struct conn *c)
{
    static struct record rec;   /* one connection per process */
    struct request r = { 0 };

    for (;;) {
        int rc = read_record(c, &rec);

        if (rc <= 0)
            break;      /* peer closed (or broke a record) */
        if (rec.version != FCGI_VERSION_1) {
            logmsg("record with version %u; closing", rec.version);
            break;
        }
        if (rec.id == 0) {
            handle_management(c, &rec);
            continue;
        }
        if (handle_record(c, &r, &rec) == CLOSE)
            break;
    }
    if (r.active && verbose)
        logmsg("connection ends with request %u unanswered", r.id);
    conn_close(c);
}

/* ------------------------------------------------------------------------
 * The listening server.
 * ------------------------------------------------------------------------ */

static volatile sig_atomic_t stop_requested;
static int wake_pipe[2] = { -1, -1 };   /* self-pipe: signals wake poll() */

static void on_signal(int sig)
{
    int saved = errno;

    if (sig == SIGTERM || sig == SIGINT)
        stop_requested = 1;
    if (write(wake_pipe[1], "", 1) < 0) {
        /* pipe full: poll() wakes up anyway */
    }
    errno = saved;
}

static void set_signal(int sig, void (*handler)(int), int flags)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static void set_nonblock(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl >= 0)
        fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

static int listen_unix(const char *path)
{
    struct sockaddr_un sa;
    struct stat st;
    int fd;

    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path)
        die("socket path too long: %s", path);
    strcpy(sa.sun_path, path);

    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            die("%s exists and is not a socket", path);
        /* Stale if nobody accepts on it any more; a live one belongs to
         * another server, which unlinking would silently orphan. */
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            die("%s is in use by a running server", path);
        if (fd >= 0)
            close(fd);
        if (unlink(path) < 0)
            die("unlink %s: %s", path, strerror(errno));
    }
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("bind %s: %s", path, strerror(errno));
    /* Any user may connect: httpd's and the test's users differ. */
    if (chmod(path, 0666) < 0)
        die("chmod %s: %s", path, strerror(errno));
    if (listen(fd, SOMAXCONN) < 0)
        die("listen %s: %s", path, strerror(errno));
    return fd;
}

static int listen_tcp(const char *spec)
{
    char host[256];
    const char *port, *colon;
    struct addrinfo hints, *res, *ai;
    int fd = -1, rc, err = 0;

    if (spec[0] == '[') {                       /* [v6addr]:port */
        const char *close_br = strchr(spec, ']');
        if (!close_br || close_br[1] != ':')
            die("bad listen address: %s", spec);
        colon = close_br + 1;
        spec++;
        if ((size_t)(close_br - spec) >= sizeof host)
            die("bad listen address: %s", spec);
        memcpy(host, spec, (size_t)(close_br - spec));
        host[close_br - spec] = '\0';
    } else {
        colon = strrchr(spec, ':');
        if (!colon || (size_t)(colon - spec) >= sizeof host)
            die("bad listen address (want PATH or HOST:PORT): %s", spec);
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
    }
    port = colon + 1;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    rc = getaddrinfo(host[0] && strcmp(host, "*") != 0 ? host : NULL, port,
                     &hints, &res);
    if (rc != 0)
        die("%s: %s", spec, gai_strerror(rc));
    for (ai = res; ai; ai = ai->ai_next) {
        int one = 1;

        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        /* Tests restart servers on the same port right away. */
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0
            && listen(fd, SOMAXCONN) == 0)
            break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        die("listen %s: %s", spec, strerror(err));
    return fd;
}

/* Written under a temporary name and renamed, so that a test polling for
 * the file never reads it half-written. */
static void write_pidfile(const char *path)
{
    char tmp[4096];
    FILE *f;

    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        die("pidfile path too long");
    f = fopen(tmp, "w");
    if (!f)
        die("%s: %s", tmp, strerror(errno));
    fprintf(f, "%ld\n", (long)getpid());
    if (fclose(f) != 0)
        die("%s: %s", tmp, strerror(errno));
    if (rename(tmp, path) < 0)
        die("rename %s: %s", tmp, strerror(errno));
}

/* Fork into the background.  The foreground process waits until the daemon
 * reports readiness on a pipe and exits with 0 then (1 if the daemon died
 * first), so "fcgi-misbehave -d ..." returning means "ready".  Returns the
 * pipe's write end, to the daemon. */
static int daemonize_start(void)
{
    int ready[2];
    pid_t pid;

    if (pipe(ready) < 0)
        die("pipe: %s", strerror(errno));
    pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid > 0) {
        char ch;
        ssize_t n;

        close(ready[1]);
        do
            n = read(ready[0], &ch, 1);
        while (n < 0 && errno == EINTR);
        _exit(n == 1 ? 0 : 1);  /* leaves socket and pidfile to the daemon */
    }
    close(ready[0]);
    setsid();
    return ready[1];
}

static void daemonize_finish(int ready_fd)
{
    int nul = open("/dev/null", O_RDWR);

    if (nul >= 0) {
        dup2(nul, STDIN_FILENO);
        dup2(nul, STDOUT_FILENO);
        dup2(nul, STDERR_FILENO);
        if (nul > STDERR_FILENO)
            close(nul);
    }
    (void)write_all(ready_fd, "R", 1);
    close(ready_fd);
}

/* Live connection children, to stop them on shutdown. */
static pid_t *children;
static size_t nchildren, children_cap;

static void reap_children(void)
{
    pid_t pid;

    while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
        for (size_t i = 0; i < nchildren; i++) {
            if (children[i] == pid) {
                children[i] = children[--nchildren];
                break;
            }
        }
    }
}

static void accept_one(int listen_fd)
{
    int fd = accept(listen_fd, NULL, NULL);
    pid_t pid;

    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS
            || errno == ENOMEM) {
            logmsg("accept: %s", strerror(errno));
            msleep(100);        /* do not spin while out of resources */
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR
                   && errno != ECONNABORTED && errno != EPROTO) {
            logmsg("accept: %s", strerror(errno));
        }
        return;
    }
    atomic_fetch_add(&counters->accepted, 1);

    pid = fork();
    if (pid < 0) {
        logmsg("fork: %s", strerror(errno));
        close(fd);
        return;
    }
    if (pid == 0) {
        struct conn *c = calloc(1, sizeof *c);
        int one = 1;

        close(listen_fd);
        close(wake_pipe[0]);
        close(wake_pipe[1]);
        set_signal(SIGTERM, SIG_DFL, 0);
        set_signal(SIGINT, SIG_DFL, 0);
        set_signal(SIGCHLD, SIG_DFL, 0);
        /* SIGPIPE stays ignored: a vanished peer is a write error. */
        if (!c)
            _exit(1);
        c->fd = fd;
        set_nonblock(fd, 0);    /* whatever accept() inherited */
        /* Timing scenarios (flush, drip) need every write sent at once. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        serve_connection(c);
        _exit(0);
    }
    close(fd);
    if (nchildren == children_cap) {
        children_cap = children_cap ? 2 * children_cap : 64;
        children = xrealloc(children, children_cap * sizeof *children);
    }
    children[nchildren++] = pid;
}

static void usage(FILE *out)
{
    fprintf(out,
        "usage: %s -l LISTEN [-p PIDFILE] [-d] [-c N] [-s DIR] [-v]\n"
        "  -l LISTEN   unix socket path (contains '/') or HOST:PORT\n"
        "  -p PIDFILE  write the pid there once listening\n"
        "  -d          daemonize; returns once ready\n"
        "  -c N        close each connection after N requests\n"
        "  -s DIR      state directory for ?once=N (first request only)\n"
        "  -v          log every request on stderr\n"
        "scenario = last REQUEST_URI segment (extension optional), options\n"
        "from the query string; unknown names behave as echo:\n", progname);
    for (size_t i = 0; i < N_SCENARIOS; i++)
        fprintf(out, "  %-14s %s\n", scenarios[i].name, scenarios[i].what);
}

int main(int argc, char **argv)
{
    const char *listen_spec = NULL, *pidfile = NULL, *unix_path = NULL;
    int daemon_mode = 0, listen_fd, ready_fd = -1, opt;

    while ((opt = getopt(argc, argv, "l:p:dc:s:vh")) != -1) {
        switch (opt) {
        case 'l': listen_spec = optarg; break;
        case 'p': pidfile = optarg; break;
        case 'd': daemon_mode = 1; break;
        case 'v': verbose = 1; break;
        case 's': state_dir = optarg; break;
        case 'c': {
            char *end;
            errno = 0;
            max_requests_per_conn = strtoul(optarg, &end, 10);
            if (errno || *end || end == optarg || optarg[0] == '-')
                die("-c wants a number, not %s", optarg);
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!listen_spec || optind != argc) {
        usage(stderr);
        return 2;
    }

    counters = mmap(NULL, sizeof *counters, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (counters == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    atomic_init(&counters->accepted, 0);
    atomic_init(&counters->begun, 0);
    atomic_init(&counters->completed, 0);

    /* Handlers before the pidfile appears: a test may send SIGTERM as soon
     * as it sees it.  No SA_RESTART: signals must interrupt poll(). */
    if (pipe(wake_pipe) < 0)
        die("pipe: %s", strerror(errno));
    set_nonblock(wake_pipe[0], 1);
    set_nonblock(wake_pipe[1], 1);
    fcntl(wake_pipe[0], F_SETFD, FD_CLOEXEC);
    fcntl(wake_pipe[1], F_SETFD, FD_CLOEXEC);
    set_signal(SIGPIPE, SIG_IGN, 0);
    set_signal(SIGTERM, on_signal, 0);
    set_signal(SIGINT, on_signal, 0);
    set_signal(SIGCHLD, on_signal, SA_NOCLDSTOP);

    if (strchr(listen_spec, '/')) {
        unix_path = listen_spec;
        listen_fd = listen_unix(unix_path);
    } else {
        listen_fd = listen_tcp(listen_spec);
    }
    /* accept() must never block: a client may vanish between poll() and
     * accept(), and a pending signal must still be noticed. */
    set_nonblock(listen_fd, 1);

    if (daemon_mode)
        ready_fd = daemonize_start();
    if (pidfile)
        write_pidfile(pidfile);     /* the daemon's pid, with -d */
    if (daemon_mode)
        daemonize_finish(ready_fd);
    if (verbose)
        logmsg("listening on %s", listen_spec);

    while (!stop_requested) {
        struct pollfd pfd[2] = {
            { .fd = listen_fd, .events = POLLIN },
            { .fd = wake_pipe[0], .events = POLLIN },
        };
        char drain[64];
        int n = poll(pfd, 2, -1);
        int poll_errno = errno;     /* before reaping overwrites it */

        while (read(wake_pipe[0], drain, sizeof drain) > 0)
            ;
        reap_children();
        if (n < 0) {
            if (poll_errno == EINTR)
                continue;
            logmsg("poll: %s", strerror(poll_errno));
            break;
        }
        if (!stop_requested && (pfd[0].revents & POLLIN))
            accept_one(listen_fd);
    }

    /* Shut down: stop connection children (a "silent" one would otherwise
     * linger for minutes), then remove what we created. */
    close(listen_fd);
    for (size_t i = 0; i < nchildren; i++)
        kill(children[i], SIGTERM);
    for (size_t i = 0; i < nchildren; i++)
        while (waitpid(children[i], NULL, 0) < 0 && errno == EINTR)
            ;
    if (unix_path)
        unlink(unix_path);
    if (pidfile)
        unlink(pidfile);
    if (verbose)
        logmsg("stopped");
    return 0;
}
