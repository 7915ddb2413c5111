/*
 * fcgi-hello - a minimal, fast FastCGI responder for the benchmark.
 *
 * It answers every request with "Content-Type: text/plain\r\n\r\nhello\n"
 * and does nothing else, so a front end measured in front of it shows the
 * front end's own cost.  Unlike php-fpm, a process here is not tied to one
 * connection: each of the N prefork processes runs an epoll loop over the
 * shared listening socket and any number of connections, so kept-alive
 * connections never starve anybody and the responder is never the
 * bottleneck because of connection pinning.
 *
 *   fcgi-hello -l unix:/path.sock | -l HOST:PORT  [-n procs] [-s statsfile]
 *
 * FCGI_KEEP_CONN is honoured: without it the connection is closed after
 * the response, as the specification says.  FCGI_GET_VALUES is answered,
 * FCGI_ABORT_REQUEST ends the request, unknown record types get
 * FCGI_UNKNOWN_TYPE.  Parameters and stdin are read and thrown away.
 *
 * -s FILE keeps live counters in FILE (mapped shared memory): one slot of
 * two little-endian uint64 per process, "connections accepted" and
 * "requests answered", so a benchmark can tell how often a front end
 * reconnects (od -An -tu8 -v FILE).
 *
 * SIGTERM/SIGINT to the parent stops every process and removes the socket.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PROCS       64
#define INBUF           (8 + 65535 + 255)   /* the largest record */
#define OUTBUF          4096

/* FastCGI record types and constants (FastCGI 1.0 specification). */
enum {
    T_BEGIN_REQUEST = 1, T_ABORT_REQUEST = 2, T_END_REQUEST = 3,
    T_PARAMS = 4, T_STDIN = 5, T_STDOUT = 6, T_STDERR = 7, T_DATA = 8,
    T_GET_VALUES = 9, T_GET_VALUES_RESULT = 10, T_UNKNOWN_TYPE = 11
};
#define FLAG_KEEP_CONN  1
#define ROLE_RESPONDER  1
#define ST_REQUEST_COMPLETE 0
#define ST_UNKNOWN_ROLE     3

static const char body[] = "Content-Type: text/plain\r\n\r\nhello\n";

struct stats_slot {
    uint64_t accepts;
    uint64_t requests;
};

struct conn {
    int fd;
    unsigned char in[INBUF];
    size_t in_len;
    unsigned char out[OUTBUF];
    size_t out_len, out_off;
    /* the request on this connection */
    int active;
    unsigned id;
    int keep;
    int want_out;           /* EPOLLOUT armed */
    int closing;            /* close once out is flushed */
};

static struct stats_slot *stats;
static volatile sig_atomic_t stopping;
static pid_t children[MAX_PROCS];
static int n_children;
static const char *unix_path;

static void die(const char *what)
{
    fprintf(stderr, "fcgi-hello: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void put_header(unsigned char *p, int type, unsigned id,
                       unsigned len, unsigned pad)
{
    p[0] = 1;
    p[1] = (unsigned char)type;
    p[2] = (unsigned char)(id >> 8);
    p[3] = (unsigned char)id;
    p[4] = (unsigned char)(len >> 8);
    p[5] = (unsigned char)len;
    p[6] = (unsigned char)pad;
    p[7] = 0;
}

/* Appends one record; the out buffer is always large enough for what a
 * single request produces, and it is flushed between requests. */
static int out_record(struct conn *c, int type, unsigned id,
                      const void *data, unsigned len)
{
    unsigned pad = (8 - (len & 7)) & 7;

    if (c->out_len + 8 + len + pad > OUTBUF) {
        return -1;
    }
    put_header(c->out + c->out_len, type, id, len, pad);
    memcpy(c->out + c->out_len + 8, data, len);
    memset(c->out + c->out_len + 8 + len, 0, pad);
    c->out_len += 8 + len + pad;
    return 0;
}

static int out_end(struct conn *c, unsigned id, int proto_status)
{
    unsigned char e[8] = { 0, 0, 0, 0, (unsigned char)proto_status, 0, 0, 0 };

    return out_record(c, T_END_REQUEST, id, e, sizeof(e));
}

static void respond(struct conn *c, int slot)
{
    out_record(c, T_STDOUT, c->id, body, sizeof(body) - 1);
    out_record(c, T_STDOUT, c->id, "", 0);
    out_end(c, c->id, ST_REQUEST_COMPLETE);
    stats[slot].requests++;
    if (!c->keep) {
        c->closing = 1;
    }
    c->active = 0;
}

/* FCGI_GET_VALUES: say one connection carries one request at a time. */
static void get_values(struct conn *c)
{
    static const char mpxs[] = "FCGI_MPXS_CONNS";
    unsigned char nv[2 + sizeof(mpxs)];

    nv[0] = sizeof(mpxs) - 1;
    nv[1] = 1;
    memcpy(nv + 2, mpxs, sizeof(mpxs) - 1);
    nv[2 + sizeof(mpxs) - 1] = '0';
    out_record(c, T_GET_VALUES_RESULT, 0, nv, sizeof(nv));
}

/* Consumes whole records from c->in.  Returns -1 on a protocol error. */
static int parse(struct conn *c, int slot)
{
    size_t off = 0;

    /* Stops early when the output buffer could not take another answer:
     * the rest is parsed once that is written. */
    while (c->in_len - off >= 8 && !c->closing
           && c->out_len + 128 <= OUTBUF) {
        const unsigned char *h = c->in + off;
        unsigned id = (unsigned)h[2] << 8 | h[3];
        unsigned len = (unsigned)h[4] << 8 | h[5];
        size_t total = 8 + (size_t)len + h[6];

        if (h[0] != 1) {
            return -1;
        }
        if (c->in_len - off < total) {
            break;
        }
        switch (h[1]) {
        case T_BEGIN_REQUEST:
            if (len < 8 || c->active) {
                return -1;
            }
            c->id = id;
            c->keep = h[8 + 2] & FLAG_KEEP_CONN;
            if (((unsigned)h[8] << 8 | h[9]) != ROLE_RESPONDER) {
                out_end(c, id, ST_UNKNOWN_ROLE);
                if (!c->keep) {
                    c->closing = 1;
                }
                break;
            }
            c->active = 1;
            break;
        case T_PARAMS:
        case T_DATA:
            break;          /* not needed to say hello */
        case T_STDIN:
            if (c->active && id == c->id && len == 0) {
                respond(c, slot);
            }
            break;
        case T_ABORT_REQUEST:
            if (c->active && id == c->id) {
                out_end(c, id, ST_REQUEST_COMPLETE);
                c->active = 0;
                if (!c->keep) {
                    c->closing = 1;
                }
            }
            break;
        case T_GET_VALUES:
            get_values(c);
            break;
        default: {
            unsigned char u[8] = { h[1], 0, 0, 0, 0, 0, 0, 0 };

            out_record(c, T_UNKNOWN_TYPE, 0, u, sizeof(u));
            break;
        }
        }
        off += total;
    }
    if (off) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    return 0;
}

static void conn_close(int ep, struct conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

/* Writes what is pending.  Returns -1 when the connection is finished. */
static int flush_out(int ep, struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                if (!c->want_out) {
                    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT,
                                              .data.ptr = c };

                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                    c->want_out = 1;
                }
                return 0;
            }
            return -1;
        }
        c->out_off += (size_t)n;
    }
    c->out_len = c->out_off = 0;
    if (c->want_out) {
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = 0;
    }
    return c->closing ? -1 : 0;
}

/* Parses and answers what is buffered, as long as that makes progress.
 * Returns -1 when the connection is finished (closed here). */
static int serve(int ep, struct conn *c, int slot)
{
    for (;;) {
        size_t before = c->in_len;

        if (parse(c, slot) < 0 || (c->out_len && flush_out(ep, c) < 0)) {
            conn_close(ep, c);
            return -1;
        }
        if (c->out_len || c->in_len == before || c->in_len < 8) {
            return 0;       /* waiting for EPOLLOUT, or for more input */
        }
    }
}

/* One read per wake-up: epoll is level-triggered, so whatever is left in
 * the socket wakes us again, and the usual whole request in one read costs
 * exactly one recv and one send. */
static void on_readable(int ep, struct conn *c, int slot)
{
    ssize_t n;

    if (c->out_len) {
        /* Output still pending: read no further until it is out. */
        if (flush_out(ep, c) < 0) {
            conn_close(ep, c);
        }
        else if (!c->out_len) {
            serve(ep, c, slot);
        }
        return;
    }
    do {
        n = recv(c->fd, c->in + c->in_len, INBUF - c->in_len, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) {
        return;
    }
    if (n <= 0) {
        conn_close(ep, c);
        return;
    }
    c->in_len += (size_t)n;
    serve(ep, c, slot);
}

static void accept_some(int ep, int lfd, int slot, int tcp)
{
    int i;

    /* A few at a time, so one process does not take a whole burst. */
    for (i = 0; i < 8; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct epoll_event ev;
        struct conn *c;

        if (fd < 0) {
            return;
        }
        if (tcp) {
            int one = 1;

            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            return;
        }
        c->fd = fd;
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free(c);
            return;
        }
        stats[slot].accepts++;
    }
}

static void on_term(int sig)
{
    (void)sig;
    stopping = 1;
}

static void child_loop(int lfd, int slot, int tcp)
{
    struct epoll_event ev, evs[64];
    int ep = epoll_create1(EPOLL_CLOEXEC);

    if (ep < 0) {
        die("epoll_create1");
    }
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.ptr = NULL;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
        die("epoll_ctl");
    }
    while (!stopping) {
        int i, n = epoll_wait(ep, evs, 64, 1000);

        if (getppid() == 1) {
            break;          /* the parent is gone: so are we */
        }
        for (i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;

            if (!c) {
                accept_some(ep, lfd, slot, tcp);
            }
            else {
                on_readable(ep, c, slot);
            }
        }
    }
    _exit(0);
}

static int listen_on(const char *spec, int *tcp)
{
    int fd, one = 1;

    if (!strncmp(spec, "unix:", 5)) {
        struct sockaddr_un sa;

        unix_path = spec + 5;
        if (strlen(unix_path) >= sizeof(sa.sun_path)) {
            errno = ENAMETOOLONG;
            die(unix_path);
        }
        memset(&sa, 0, sizeof(sa));
        sa.sun_family = AF_UNIX;
        strcpy(sa.sun_path, unix_path);
        unlink(unix_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            die(unix_path);
        }
        chmod(unix_path, 0666);     /* httpd and nginx run as www-data */
        *tcp = 0;
    }
    else {
        struct addrinfo hints, *ai;
        char host[256];
        const char *colon = strrchr(spec, ':');
        int rc;

        if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(host)) {
            fprintf(stderr, "fcgi-hello: -l wants unix:/path or HOST:PORT\n");
            exit(2);
        }
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
        memset(&hints, 0, sizeof(hints));
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
        if ((rc = getaddrinfo(host, colon + 1, &hints, &ai)) != 0) {
            fprintf(stderr, "fcgi-hello: %s: %s\n", spec, gai_strerror(rc));
            exit(2);
        }
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
        if (fd < 0) {
            die("socket");
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            die(spec);
        }
        freeaddrinfo(ai);
        *tcp = 1;
    }
    if (listen(fd, 4096) < 0) {
        die("listen");
    }
    return fd;
}

static struct stats_slot *map_stats(const char *path, int n)
{
    size_t size = sizeof(struct stats_slot) * (size_t)n;
    void *p;

    if (path) {
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
            die(path);
        }
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
    }
    else {
        p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    }
    if (p == MAP_FAILED) {
        die("mmap");
    }
    return p;
}

static void usage(void)
{
    fprintf(stderr, "usage: fcgi-hello -l unix:/path.sock|HOST:PORT "
            "[-n procs] [-s statsfile]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *spec = NULL, *stats_path = NULL;
    struct sigaction sa;
    int opt, nproc = 2, lfd, tcp, i, status = 0;

    while ((opt = getopt(argc, argv, "l:n:s:")) != -1) {
        switch (opt) {
        case 'l': spec = optarg; break;
        case 'n': nproc = atoi(optarg); break;
        case 's': stats_path = optarg; break;
        default: usage();
        }
    }
    if (!spec || nproc < 1 || nproc > MAX_PROCS) {
        usage();
    }
    stats = map_stats(stats_path, nproc);
    lfd = listen_on(spec, &tcp);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    for (i = 0; i < nproc; i++) {
        pid_t pid = fork();

        if (pid < 0) {
            die("fork");
        }
        if (pid == 0) {
            child_loop(lfd, i, tcp);
        }
        children[n_children++] = pid;
    }
    close(lfd);

    /* The parent only waits: for a signal to stop, or a child that died. */
    while (!stopping) {
        pid_t pid = waitpid(-1, &status, 0);

        if (pid > 0) {
            fprintf(stderr, "fcgi-hello: process %ld ended (status %d); "
                    "stopping\n", (long)pid, status);
            for (i = 0; i < n_children; i++) {
                if (children[i] == pid) {
                    children[i] = 0;
                }
            }
            status = 1;
            break;
        }
        if (pid < 0 && errno != EINTR) {
            break;
        }
    }
    for (i = 0; i < n_children; i++) {
        if (children[i] > 0) {
            kill(children[i], SIGTERM);
        }
    }
    while (wait(NULL) > 0 || errno == EINTR) {
        ;
    }
    if (unix_path) {
        unlink(unix_path);
    }
    return status ? 1 : 0;
}
