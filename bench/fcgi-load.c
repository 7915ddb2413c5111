/*
 * fcgi-load - a small FastCGI load client: the backend's own capacity.
 *
 *   fcgi-load [-c conns] [-t threads] [-d seconds] [-f script] [-u uri]
 *             unix:/path.sock | HOST:PORT
 *
 * Opens `conns` connections, spread over `threads` threads, and on each
 * sends one request after another with FCGI_KEEP_CONN, for a fixed time.
 * A connection the backend closes is reopened (and counted).  Prints one
 * line of key=value pairs:
 *
 *   requests=  completed in the measured time      rps=  requests/s
 *   p50_us= p90_us= p99_us= p999_us= max_us=  latency percentiles
 *   errors=  answers with a Status other than 2xx, FCGI_END_REQUEST with a
 *            non-zero protocol status, malformed records, broken connections
 *   reconnects=  connections reopened after the backend closed them
 *
 * A php-fpm worker serves one connection at a time, so against php-fpm use
 * no more connections than it has workers: the others would wait for ever.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS     64
#define INBUF           (8 + 65535 + 255)
#define NBUCKETS        (1024 + 40 * 512)

enum {
    T_BEGIN_REQUEST = 1, T_END_REQUEST = 3, T_PARAMS = 4, T_STDIN = 5,
    T_STDOUT = 6, T_STDERR = 7
};

struct conn {
    int fd;
    unsigned char in[INBUF];
    size_t in_len;
    size_t sent;
    uint64_t started_ns;
    int status_seen;        /* first STDOUT bytes looked at */
    int bad_status;
};

struct worker {
    pthread_t tid;
    int nconns;
    struct conn **conns;
    uint64_t requests, errors, reconnects;
    uint64_t hist[NBUCKETS];
    uint64_t max_us;
};

static struct sockaddr_storage addr;
static socklen_t addr_len;
static int addr_tcp;
static unsigned char *request;
static size_t request_len;
static volatile int running = 1;

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Log-linear histogram: exact below 1024 us, then 512 steps per power of
 * two (better than 0.2% resolution). */
static unsigned bucket_of(uint64_t us)
{
    int msb, shift;

    if (us < 1024) {
        return (unsigned)us;
    }
    msb = 63 - __builtin_clzll(us);
    shift = msb - 9;
    if (shift > 40) {
        return NBUCKETS - 1;
    }
    return 1024 + (unsigned)(shift - 1) * 512 + (unsigned)((us >> shift) - 512);
}

static uint64_t value_of(unsigned b)
{
    unsigned shift;

    if (b < 1024) {
        return b;
    }
    shift = (b - 1024) / 512 + 1;
    return ((uint64_t)((b - 1024) % 512 + 512) << shift)
           + ((uint64_t)1 << (shift - 1));
}

/* ---- the request, built once ------------------------------------- */

static size_t put_nv(unsigned char *p, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value), off = 0;

    if (nl < 128) {
        p[off++] = (unsigned char)nl;
    }
    else {
        p[off++] = (unsigned char)(0x80 | nl >> 24);
        p[off++] = (unsigned char)(nl >> 16);
        p[off++] = (unsigned char)(nl >> 8);
        p[off++] = (unsigned char)nl;
    }
    if (vl < 128) {
        p[off++] = (unsigned char)vl;
    }
    else {
        p[off++] = (unsigned char)(0x80 | vl >> 24);
        p[off++] = (unsigned char)(vl >> 16);
        p[off++] = (unsigned char)(vl >> 8);
        p[off++] = (unsigned char)vl;
    }
    memcpy(p + off, name, nl);
    memcpy(p + off + nl, value, vl);
    return off + nl + vl;
}

static size_t put_record(unsigned char *p, int type, const void *data,
                         size_t len)
{
    size_t pad = (8 - (len & 7)) & 7;

    p[0] = 1;
    p[1] = (unsigned char)type;
    p[2] = 0;
    p[3] = 1;                   /* request id 1 */
    p[4] = (unsigned char)(len >> 8);
    p[5] = (unsigned char)len;
    p[6] = (unsigned char)pad;
    p[7] = 0;
    if (len) {
        memcpy(p + 8, data, len);
    }
    memset(p + 8 + len, 0, pad);
    return 8 + len + pad;
}

/* Roughly what a web server sends for GET /hello.php. */
static void build_request(const char *script, const char *uri)
{
    static unsigned char params[8192];
    const char *docroot_end = strrchr(script, '/');
    char docroot[4096], script_name[1024];
    size_t n = 0;
    unsigned char begin[8] = { 0, 1, 1, 0, 0, 0, 0, 0 };  /* responder,
                                                            * KEEP_CONN */

    if (!docroot_end || (size_t)(docroot_end - script) >= sizeof(docroot)) {
        snprintf(docroot, sizeof(docroot), "/");
    }
    else {
        memcpy(docroot, script, (size_t)(docroot_end - script));
        docroot[docroot_end - script] = '\0';
    }
    snprintf(script_name, sizeof(script_name), "%s", uri);
    n += put_nv(params + n, "GATEWAY_INTERFACE", "CGI/1.1");
    n += put_nv(params + n, "SERVER_SOFTWARE", "fcgi-load");
    n += put_nv(params + n, "SERVER_PROTOCOL", "HTTP/1.1");
    n += put_nv(params + n, "SERVER_NAME", "127.0.0.1");
    n += put_nv(params + n, "SERVER_ADDR", "127.0.0.1");
    n += put_nv(params + n, "SERVER_PORT", "80");
    n += put_nv(params + n, "REMOTE_ADDR", "127.0.0.1");
    n += put_nv(params + n, "REMOTE_PORT", "40000");
    n += put_nv(params + n, "REQUEST_METHOD", "GET");
    n += put_nv(params + n, "REQUEST_SCHEME", "http");
    n += put_nv(params + n, "REQUEST_URI", uri);
    n += put_nv(params + n, "QUERY_STRING", "");
    n += put_nv(params + n, "SCRIPT_NAME", script_name);
    n += put_nv(params + n, "SCRIPT_FILENAME", script);
    n += put_nv(params + n, "DOCUMENT_ROOT", docroot);
    n += put_nv(params + n, "CONTENT_LENGTH", "");
    n += put_nv(params + n, "CONTENT_TYPE", "");
    n += put_nv(params + n, "HTTP_HOST", "127.0.0.1");
    n += put_nv(params + n, "HTTP_USER_AGENT", "fcgi-load");
    n += put_nv(params + n, "HTTP_ACCEPT", "*/*");

    request = malloc(8 + 16 + 8 + n + 8 + 8 + 8);
    if (!request) {
        exit(1);
    }
    request_len = put_record(request, T_BEGIN_REQUEST, begin, 8);
    request_len += put_record(request + request_len, T_PARAMS, params, n);
    request_len += put_record(request + request_len, T_PARAMS, NULL, 0);
    request_len += put_record(request + request_len, T_STDIN, NULL, 0);
}

/* ---- connections --------------------------------------------------- */

static int open_conn(void)
{
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -1;
    }
    /* Blocking connect: on a Unix socket with a full backlog it waits
     * rather than failing with EAGAIN. */
    while (connect(fd, (struct sockaddr *)&addr, addr_len) < 0) {
        if (errno != EINTR) {
            close(fd);
            return -1;
        }
    }
    if (addr_tcp) {
        int one = 1;

        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static int send_request(struct conn *c)
{
    c->started_ns = now_ns();
    c->in_len = 0;
    c->status_seen = 0;
    c->bad_status = 0;
    c->sent = 0;
    while (c->sent < request_len) {
        ssize_t n = send(c->fd, request + c->sent, request_len - c->sent,
                         MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                /* Tiny requests on an idle connection: does not happen;
                 * wait a little rather than carry an output state. */
                usleep(100);
                continue;
            }
            return -1;
        }
        c->sent += (size_t)n;
    }
    return 0;
}

/* The first bytes of STDOUT: a CGI "Status: NNN" header, if any, must be
 * 2xx.  (php-fpm puts Status first when a script sets one; a missing
 * script gives "Status: 404 Not Found".) */
static void look_at_status(struct conn *c, const unsigned char *p, size_t len)
{
    const char *s = (const char *)p;
    size_t i;

    c->status_seen = 1;
    for (i = 0; i + 10 < len; i++) {
        if ((i == 0 || s[i - 1] == '\n') && !strncasecmp(s + i, "Status:", 7)) {
            const char *v = s + i + 7;

            while (*v == ' ' && v < s + len) {
                v++;
            }
            if (v < s + len && *v != '2') {
                c->bad_status = 1;
            }
            return;
        }
        if (s[i] == '\r' && s[i + 1] == '\n' && s[i + 2] == '\r'
            && s[i + 3] == '\n') {
            return;         /* end of the header block */
        }
    }
}

/* Consumes records.  Returns 1 when the request ended, 0 to wait for more,
 * -1 on a protocol error. */
static int consume(struct worker *w, struct conn *c)
{
    size_t off = 0;
    int done = 0;

    while (c->in_len - off >= 8 && !done) {
        const unsigned char *h = c->in + off;
        size_t len = (size_t)h[4] << 8 | h[5];
        size_t total = 8 + len + h[6];

        if (h[0] != 1) {
            return -1;
        }
        if (c->in_len - off < total) {
            break;
        }
        if (h[1] == T_STDOUT && len && !c->status_seen) {
            look_at_status(c, h + 8, len);
        }
        else if (h[1] == T_END_REQUEST) {
            if (len < 8 || h[8 + 4] != 0 || c->bad_status) {
                w->errors++;
            }
            done = 1;
        }
        off += total;
    }
    if (off) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    return done;
}

static int reopen(struct worker *w, int ep, struct conn *c)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    w->reconnects++;
    if ((c->fd = open_conn()) < 0) {
        return -1;
    }
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    return send_request(c);
}

static void *work(void *arg)
{
    struct worker *w = arg;
    struct epoll_event ev, evs[64];
    int ep = epoll_create1(EPOLL_CLOEXEC), i;

    for (i = 0; i < w->nconns; i++) {
        struct conn *c = w->conns[i];

        ev.events = EPOLLIN;
        ev.data.ptr = c;
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        if (send_request(c) < 0) {
            w->errors++;
        }
    }
    while (running) {
        int n = epoll_wait(ep, evs, 64, 100);

        for (i = 0; i < n && running; i++) {
            struct conn *c = evs[i].data.ptr;
            ssize_t got = recv(c->fd, c->in + c->in_len, INBUF - c->in_len, 0);
            int rc;

            if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
                continue;
            }
            if (got <= 0) {
                /* Closed with a request outstanding: that request failed. */
                w->errors++;
                if (reopen(w, ep, c) < 0) {
                    w->errors++;
                    usleep(10000);
                }
                continue;
            }
            c->in_len += (size_t)got;
            rc = consume(w, c);
            if (rc < 0) {
                w->errors++;
                if (reopen(w, ep, c) < 0) {
                    usleep(10000);
                }
            }
            else if (rc > 0) {
                uint64_t us = (now_ns() - c->started_ns) / 1000;

                w->requests++;
                w->hist[bucket_of(us)]++;
                if (us > w->max_us) {
                    w->max_us = us;
                }
                if (send_request(c) < 0) {
                    w->errors++;
                    if (reopen(w, ep, c) < 0) {
                        usleep(10000);
                    }
                }
            }
        }
    }
    close(ep);
    return NULL;
}

static void resolve(const char *spec)
{
    memset(&addr, 0, sizeof(addr));
    if (!strncmp(spec, "unix:", 5)) {
        struct sockaddr_un *sun = (struct sockaddr_un *)&addr;

        if (strlen(spec + 5) >= sizeof(sun->sun_path)) {
            fprintf(stderr, "fcgi-load: socket path too long\n");
            exit(2);
        }
        sun->sun_family = AF_UNIX;
        strcpy(sun->sun_path, spec + 5);
        addr_len = sizeof(*sun);
    }
    else {
        struct addrinfo hints, *ai;
        char host[256];
        const char *colon = strrchr(spec, ':');
        int rc;

        if (!colon || (size_t)(colon - spec) >= sizeof(host)) {
            fprintf(stderr, "fcgi-load: want unix:/path or HOST:PORT\n");
            exit(2);
        }
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
        memset(&hints, 0, sizeof(hints));
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICHOST;
        if ((rc = getaddrinfo(host, colon + 1, &hints, &ai)) != 0) {
            fprintf(stderr, "fcgi-load: %s: %s\n", spec, gai_strerror(rc));
            exit(2);
        }
        memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
        addr_len = ai->ai_addrlen;
        addr_tcp = 1;
        freeaddrinfo(ai);
    }
}

static uint64_t percentile(const uint64_t *hist, uint64_t total, double q)
{
    uint64_t want = (uint64_t)(q * (double)total + 0.5), seen = 0;
    unsigned b;

    if (want < 1) {
        want = 1;
    }
    for (b = 0; b < NBUCKETS; b++) {
        seen += hist[b];
        if (seen >= want) {
            return value_of(b);
        }
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: fcgi-load [-c conns] [-t threads] [-d seconds] "
            "[-f script_filename] [-u uri] unix:/path|HOST:PORT\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *script = "/tmp/hello.php", *uri = "/hello.php";
    int conns = 8, threads = 1, opt, i, j;
    double seconds = 10;
    static struct worker workers[MAX_THREADS];
    static uint64_t hist[NBUCKETS];
    uint64_t requests = 0, errors = 0, reconnects = 0, max_us = 0, t0, t1;
    struct timespec ts;

    while ((opt = getopt(argc, argv, "c:t:d:f:u:")) != -1) {
        switch (opt) {
        case 'c': conns = atoi(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 'd': seconds = atof(optarg); break;
        case 'f': script = optarg; break;
        case 'u': uri = optarg; break;
        default: usage();
        }
    }
    if (optind != argc - 1 || conns < 1 || threads < 1
        || threads > MAX_THREADS || seconds <= 0) {
        usage();
    }
    if (threads > conns) {
        threads = conns;
    }
    signal(SIGPIPE, SIG_IGN);
    resolve(argv[optind]);
    build_request(script, uri);

    for (i = 0; i < threads; i++) {
        struct worker *w = &workers[i];

        w->nconns = conns / threads + (i < conns % threads);
        w->conns = calloc((size_t)w->nconns, sizeof(*w->conns));
        for (j = 0; j < w->nconns; j++) {
            struct conn *c = calloc(1, sizeof(*c));

            if (!w->conns || !c || (c->fd = open_conn()) < 0) {
                fprintf(stderr, "fcgi-load: cannot connect to %s: %s\n",
                        argv[optind], strerror(errno));
                return 1;
            }
            w->conns[j] = c;
        }
    }
    t0 = now_ns();
    for (i = 0; i < threads; i++) {
        pthread_create(&workers[i].tid, NULL, work, &workers[i]);
    }
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
        ;
    }
    running = 0;
    t1 = now_ns();
    for (i = 0; i < threads; i++) {
        struct worker *w = &workers[i];

        pthread_join(w->tid, NULL);
        requests += w->requests;
        errors += w->errors;
        reconnects += w->reconnects;
        if (w->max_us > max_us) {
            max_us = w->max_us;
        }
        for (j = 0; j < NBUCKETS; j++) {
            hist[j] += w->hist[j];
        }
    }
    printf("requests=%llu seconds=%.3f rps=%.1f p50_us=%llu p90_us=%llu "
           "p99_us=%llu p999_us=%llu max_us=%llu errors=%llu "
           "reconnects=%llu conns=%d\n",
           (unsigned long long)requests, (double)(t1 - t0) / 1e9,
           (double)requests * 1e9 / (double)(t1 - t0),
           (unsigned long long)percentile(hist, requests, 0.50),
           (unsigned long long)percentile(hist, requests, 0.90),
           (unsigned long long)percentile(hist, requests, 0.99),
           (unsigned long long)percentile(hist, requests, 0.999),
           (unsigned long long)max_us, (unsigned long long)errors,
           (unsigned long long)reconnects, conns);
    return 0;
}
