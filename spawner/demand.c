/*
 * demand.c - queue depths from sock_diag, worker states from /proc.
 */
#include "demand.h"
#include "log.h"
#include "sockets.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TCP_LISTEN_STATE 10         /* include/net/tcp_states.h */

static int nl_fd = -1;
static unsigned nl_seq;

int demand_init_main(void)
{
    struct timeval tv = { 0, 200000 };

    nl_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (nl_fd < 0) {
        log_warning("no NETLINK_SOCK_DIAG (%s): queue depths unknown, "
                    "ondemand starts one worker per wake-up",
                    strerror(errno));
        return 0;
    }
    /* The kernel answers at once; the bound is for a broken kernel only. */
    setsockopt(nl_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return 0;
}

void demand_cleanup(void *unused)
{
    (void)unused;
    if (nl_fd >= 0)
        close(nl_fd);
    nl_fd = -1;
}

/* Sends one request and reads its one answer; returns the payload of a
 * SOCK_DIAG_BY_FAMILY message, or NULL. */
static const void *nl_ask(const void *req, size_t len, char *buf,
                          size_t buflen, size_t *plen)
{
    const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
    unsigned seq = ((const struct nlmsghdr *)req)->nlmsg_seq;
    ssize_t n;

    if (send(nl_fd, req, len, 0) < 0)
        return NULL;
    for (;;) {
        n = recv(nl_fd, buf, buflen, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < (ssize_t)sizeof(*h) || !NLMSG_OK(h, (unsigned)n))
            return NULL;
        if (h->nlmsg_seq == seq)
            break;                  /* else a stale answer: skip it */
    }
    if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
        return NULL;                /* NLMSG_ERROR: no such socket */
    *plen = h->nlmsg_len - NLMSG_HDRLEN;
    return NLMSG_DATA(h);
}

static int unix_queue(const struct lsock *s)
{
    struct {
        struct nlmsghdr nlh;
        struct unix_diag_req r;
    } q;
    char buf[1024];
    const struct unix_diag_msg *m;
    const struct rtattr *a;
    size_t len;

    memset(&q, 0, sizeof(q));
    q.nlh.nlmsg_len = sizeof(q);
    q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    q.nlh.nlmsg_flags = NLM_F_REQUEST;
    q.nlh.nlmsg_seq = ++nl_seq;
    q.r.sdiag_family = AF_UNIX;
    q.r.udiag_states = 1U << TCP_LISTEN_STATE;
    q.r.udiag_ino = (unsigned)s->sock_ino;
    q.r.udiag_show = UDIAG_SHOW_RQLEN;
    q.r.udiag_cookie[0] = q.r.udiag_cookie[1] = INET_DIAG_NOCOOKIE;
    m = nl_ask(&q, sizeof(q), buf, sizeof(buf), &len);
    if (m == NULL || len < sizeof(*m))
        return -1;
    len -= NLMSG_ALIGN(sizeof(*m));
    for (a = (const struct rtattr *)(m + 1); RTA_OK(a, len);
         a = RTA_NEXT(a, len)) {
        if (a->rta_type == UNIX_DIAG_RQLEN &&
            RTA_PAYLOAD(a) >= (int)sizeof(struct unix_diag_rqlen))
            return (int)((const struct unix_diag_rqlen *)RTA_DATA(a))
                       ->udiag_rqueue;
    }
    return -1;
}

static int tcp_queue(const struct lsock *s)
{
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 r;
    } q;
    char buf[1024];
    const struct inet_diag_msg *m;
    size_t len;

    memset(&q, 0, sizeof(q));
    q.nlh.nlmsg_len = sizeof(q);
    q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    q.nlh.nlmsg_flags = NLM_F_REQUEST;
    q.nlh.nlmsg_seq = ++nl_seq;
    q.r.sdiag_family = (unsigned char)s->addr.family;
    q.r.sdiag_protocol = IPPROTO_TCP;
    q.r.idiag_states = 1U << TCP_LISTEN_STATE;
    q.r.id.idiag_sport = htons((uint16_t)s->addr.port);
    memcpy(q.r.id.idiag_src, s->addr.addr,
           s->addr.family == AF_INET6 ? 16 : 4);
    q.r.id.idiag_cookie[0] = q.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    m = nl_ask(&q, sizeof(q), buf, sizeof(buf), &len);
    if (m == NULL || len < sizeof(*m))
        return -1;
    /* For a listener the kernel reports the accept queue as rqueue. */
    return (int)m->idiag_rqueue;
}

int demand_queue(const struct lsock *s)
{
    if (nl_fd < 0)
        return -1;
    return s->addr.kind == POOLS_LISTEN_UNIX ? unix_queue(s) : tcp_queue(s);
}

/* ------------------------------------------------------------------ */
/* /proc                                                               */
/* ------------------------------------------------------------------ */

/* Reads a small /proc file; returns its length, or -1. */
static ssize_t read_proc(pid_t pid, const char *file, char *buf, size_t len)
{
    char path[64];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    do
        n = read(fd, buf, len - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

/* "NR arg1 ... arg6 sp pc", "-1 sp pc" or "running" (syscall(5) numbers,
 * arguments in hex). */
static enum seen parse_syscall(const char *line)
{
    unsigned long long a[3] = { 0, 0, 0 };
    char *end;
    long nr;
    int i;

    if (strncmp(line, "running", 7) == 0)
        return SEEN_RUNNING;
    nr = strtol(line, &end, 10);
    for (i = 0; i < 3 && *end == ' '; i++)
        a[i] = strtoull(end + 1, &end, 16);
    if (i < 3)
        return SEEN_BUSY;
#ifdef SYS_accept
    if (nr == SYS_accept && a[0] == 0)
        return SEEN_ACCEPT;
#endif
#ifdef SYS_accept4
    if (nr == SYS_accept4 && a[0] == 0)
        return SEEN_ACCEPT;
#endif
    /* FastCGI spec 3.3: every record starts with an 8-byte header.  A
     * worker waiting for one on a connection runs no script: it waits for
     * the next request (FCGI_KEEP_CONN), for the rest of this one's
     * records, or - recv() after its last record, php-cgi's lingering
     * close - for the web server to hang up. */
    if ((nr == SYS_read || nr == SYS_recvfrom) && a[0] != 0 && a[2] == 8)
        return SEEN_KEPT;
    return SEEN_BUSY;
}

static uint64_t field_after(const char *text, const char *key)
{
    const char *p = strstr(text, key);

    return p != NULL ? strtoull(p + strlen(key), NULL, 10) : 0;
}

void demand_sample(pid_t pid, int want_io, struct wsample *out)
{
    char buf[512];

    memset(out, 0, sizeof(*out));
    if (read_proc(pid, "syscall", buf, sizeof(buf)) < 0) {
        out->seen = SEEN_GONE;
        return;
    }
    out->seen = parse_syscall(buf);
    if (read_proc(pid, "schedstat", buf, sizeof(buf)) > 0)
        out->cpu_ns = strtoull(buf, NULL, 10);
    if (want_io && read_proc(pid, "io", buf, sizeof(buf)) > 0)
        out->syscr = field_after(buf, "syscr: ");
}

int demand_exit_wchar(pid_t pid, uint64_t *wchar)
{
    char buf[512];

    if (read_proc(pid, "io", buf, sizeof(buf)) <= 0)
        return -1;
    *wchar = field_after(buf, "wchar: ");
    return 0;
}

/* A FastCGI worker that took a connection holds a socket besides its
 * listening fd 0; one still initializing does not. */
int demand_has_conn(pid_t pid)
{
    char path[32], link[64], target[64];
    struct dirent *d;
    DIR *dir;
    ssize_t n;
    int found = 0;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    if ((dir = opendir(path)) == NULL)
        return 0;
    while (!found && (d = readdir(dir)) != NULL) {
        if (d->d_name[0] == '.' || strcmp(d->d_name, "0") == 0)
            continue;
        snprintf(link, sizeof(link), "%s/%.16s", path, d->d_name);
        n = readlink(link, target, sizeof(target) - 1);
        found = n > 8 && strncmp(target, "socket:[", 8) == 0;
    }
    closedir(dir);
    return found;
}
