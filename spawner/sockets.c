/*
 * sockets.c - bind, share and release the pools' listening sockets.
 */
#define _GNU_SOURCE
#include "sockets.h"
#include "log.h"
#include "pathsafe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static struct lsock *all;       /* every open listening socket */
static int takeover_wait_ms;    /* see lsock_wait_for_orphans() */

static int same_addr(const struct pools_listen *a,
                     const struct pools_listen *b)
{
    if (a->kind != b->kind)
        return 0;
    if (a->kind == POOLS_LISTEN_UNIX)
        return strcmp(a->path, b->path) == 0;
    return a->family == b->family && a->port == b->port &&
           memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

static struct lsock *find(const struct pools_listen *l)
{
    struct lsock *s;

    for (s = all; s != NULL; s = s->next)
        if (!s->unlinked && same_addr(&s->addr, l))
            return s;
    return NULL;
}

static void set_name(struct lsock *s)
{
    const struct pools_listen *l = &s->addr;

    if (l->kind == POOLS_LISTEN_UNIX)
        snprintf(s->name, sizeof(s->name), "%s", l->path);
    else if (l->family == AF_INET6)
        snprintf(s->name, sizeof(s->name), "[%s]:%u", l->host, l->port);
    else
        snprintf(s->name, sizeof(s->name), "%s:%u", l->host, l->port);
}

/* "FILE:LINE: listen: [pool NAME] " - the prefix of every bind error. */
static int blame(char *err, size_t errlen, const struct pools_pool *cf,
                 const char *conf_path)
{
    const struct pools_origin *o = &cf->origin[POOLS_F_LISTEN];

    if (o->line > 0 && o->file != NULL)
        return snprintf(err, errlen, "%s:%u: listen: [pool %s] ", o->file,
                        o->line, cf->name);
    return snprintf(err, errlen, "%s: listen: [pool %s] ", conf_path,
                    cf->name);
}

/* err = the blame prefix, then what happened. */
static void fail(char *err, size_t errlen, const struct pools_pool *cf,
                 const char *conf_path, const char *what)
{
    int n = blame(err, errlen, cf, conf_path);

    if (n >= 0 && (size_t)n < errlen)
        snprintf(err + n, errlen - (size_t)n, "%s", what);
}

/* Whether a server accepts connections at a Unix socket path: 1 yes, 0
 * no (a stale socket), -1 error (errno set). */
static int live(const char *path)
{
    struct sockaddr_un un;
    int fd, rc, e;

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
    rc = connect(fd, (struct sockaddr *)&un, sizeof(un));
    e = errno;
    close(fd);
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS)
        return 1;
    errno = e;
    return e == ECONNREFUSED ? 0 : -1;
}

/* A live socket: the workers of a spawner that died (SIGKILL) finish
 * their last request first (they got SIGTERM through PR_SET_PDEATHSIG),
 * so wait a little for them when there is a sign of such a death. */
static int still_live(const char *path)
{
    int waited = 0, rc;

    while ((rc = live(path)) == 1 && waited < takeover_wait_ms) {
        if (waited == 0)
            log_notice("%s: waiting up to %d ms for the workers of a "
                       "previous spawner to let go", path,
                       takeover_wait_ms);
        usleep(50000);
        waited += 50;
    }
    return rc;
}

/* A file already at a Unix socket path: a stale socket of a dead server
 * is removed; a live one, or anything that is not a socket, is an error
 * (php-fpm's rule: never steal another server's socket). */
const char *lsock_clear_stale(const char *path, int *was_stale)
{
    struct stat st;
    int rc;

    if (was_stale != NULL)
        *was_stale = 0;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? NULL : strerror(errno);
    if (!S_ISSOCK(st.st_mode))
        return "a file that is not a socket is in the way";
    rc = was_stale != NULL ? live(path) : still_live(path);
    if (rc == 1)
        return "address in use: another server listens there";
    if (rc < 0)
        return strerror(errno);
    if (unlink(path) < 0 && errno != ENOENT)
        return strerror(errno);
    if (was_stale != NULL)
        *was_stale = 1;
    log_notice("removed stale socket %s", path);
    return NULL;
}

void lsock_wait_for_orphans(int ms)
{
    takeover_wait_ms = ms;
}

/* Owner, group and mode of the socket file we bound (checked by device
 * and inode, never through a symlink); unset ids mean those bind gave it
 * (the spawner's, or a setgid run_dir's group), so that removing
 * listen.owner/group on a reload takes them back. */
static const char *apply_perms(const struct lsock *s,
                               const struct pools_pool *cf)
{
    uid_t uid = cf->listen_uid != (uid_t)-1 ? cf->listen_uid : s->born_uid;
    gid_t gid = cf->listen_gid != (gid_t)-1 ? cf->listen_gid : s->born_gid;
    char proc[64];
    struct stat st;
    int fd = open(s->path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    const char *what = NULL;

    if (fd < 0)
        return "open";
    if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
        st.st_dev != s->file_dev || st.st_ino != s->file_ino) {
        errno = EPERM;
        what = "check";
    } else if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0) {
        what = "chown";
    } else {
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (chmod(proc, (mode_t)cf->listen_mode) < 0)
            what = "chmod";
    }
    if (what != NULL) {
        int e = errno;

        close(fd);
        errno = e;
        return what;
    }
    close(fd);
    return NULL;
}

/* httpd trusts whatever answers at a pool's socket path with that site's
 * requests, cookies and uploads.  Whoever may write a directory on the
 * way could replace the socket by one of their own, so such a path is
 * refused.  Returns why, or NULL.  (One static buffer: the spawner is
 * single-threaded.) */
static const char *unsafe_dir(const char *path)
{
    static char why[PATH_MAX + 256];
    size_t n;

    if (path_dirs_safe(path, geteuid(), why, sizeof(why)) == 0)
        return NULL;
    n = strlen(why);
    snprintf(why + n, sizeof(why) - n, "; every directory above a socket "
             "must be root's and not writable by others (unless sticky), "
             "or another user could put a socket of their own in its place");
    return why;
}

/* Binds a Unix socket with mode 0, then sets its permissions. */
static const char *bind_unix(struct lsock *s, const struct pools_pool *cf,
                             const char **what)
{
    struct sockaddr_storage ss;
    socklen_t len;
    const char *why;
    struct stat st;
    mode_t old;
    int rc;

    *what = "bind";
    if (pools_listen_sockaddr(&s->addr, &ss, &len) < 0)
        return "path too long for a Unix socket";
    if ((why = unsafe_dir(s->path)) != NULL) {
        *what = "use";
        return why;
    }
    if ((why = lsock_clear_stale(s->path, NULL)) != NULL) {
        *what = "use";
        return why;
    }
    old = umask(0777);
    rc = bind(s->fd, (struct sockaddr *)&ss, len);
    umask(old);
    if (rc < 0)
        return strerror(errno);
    if (lstat(s->path, &st) == 0) {
        s->file_dev = st.st_dev;
        s->file_ino = st.st_ino;
        s->born_uid = st.st_uid;
        s->born_gid = st.st_gid;
    }
    if ((*what = apply_perms(s, cf)) != NULL) {
        rc = errno;
        unlink(s->path);
        return strerror(rc);
    }
    return NULL;
}

static const char *bind_tcp(struct lsock *s, const char **what)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1;

    *what = "bind";
    pools_listen_sockaddr(&s->addr, &ss, &len);
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (s->addr.family == AF_INET6)
        setsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(s->fd, (struct sockaddr *)&ss, len) < 0)
        return strerror(errno);
    return NULL;
}

static struct lsock *lsock_new(const struct pools_pool *cf)
{
    struct lsock *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->fd = -1;
    s->addr = cf->listen;
    s->owner = strdup(cf->name);
    if (cf->listen.kind == POOLS_LISTEN_UNIX) {
        s->path = strdup(cf->listen.path);
        s->addr.path = s->path;
    }
    if (s->owner == NULL || (cf->listen.kind == POOLS_LISTEN_UNIX &&
                             s->path == NULL)) {
        free(s->owner);
        free(s->path);
        free(s);
        return NULL;
    }
    set_name(s);
    s->refs = 1;
    return s;
}

static void lsock_free(struct lsock *s)
{
    if (s->fd >= 0)
        close(s->fd);
    free(s->owner);
    free(s->path);
    free(s);
}

static int open_new(const struct pools_pool *cf, const char *conf_path,
                    struct lsock **out, char *err, size_t errlen)
{
    struct lsock *s = lsock_new(cf);
    const char *why, *what = "socket";
    int family = cf->listen.kind == POOLS_LISTEN_UNIX ? AF_UNIX
                                                     : cf->listen.family;
    struct stat st;

    if (s == NULL) {
        fail(err, errlen, cf, conf_path, "out of memory");
        return -1;
    }
    s->fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    why = s->fd < 0 ? strerror(errno)
        : family == AF_UNIX ? bind_unix(s, cf, &what) : bind_tcp(s, &what);
    if (why == NULL && listen(s->fd, (int)cf->listen_backlog) < 0) {
        what = "listen";
        why = strerror(errno);
        if (family == AF_UNIX)
            unlink(s->path);
    }
    if (why != NULL) {
        int n = blame(err, errlen, cf, conf_path);

        if (n >= 0 && (size_t)n < errlen)
            snprintf(err + n, errlen - (size_t)n, "cannot %s %s: %s", what,
                     s->name, why);
        lsock_free(s);
        return -1;
    }
    if (fstat(s->fd, &st) == 0)
        s->sock_ino = st.st_ino;
    s->next = all;
    all = s;
    *out = s;
    log_info("[pool %s] listening on %s", cf->name, s->name);
    return 0;
}

int lsock_acquire(const struct pools_pool *cf, const char *conf_path,
                  struct lsock **out, char *err, size_t errlen)
{
    struct lsock *s = find(&cf->listen);

    if (s == NULL)
        return open_new(cf, conf_path, out, err, errlen);
    if (strcmp(s->owner, cf->name) != 0) {
        char what[256];

        snprintf(what, sizeof(what), "%s is the socket of pool %s; a reload "
                 "cannot hand a socket to another pool (remove it in one "
                 "reload, add it in the next)", s->name, s->owner);
        fail(err, errlen, cf, conf_path, what);
        return -1;
    }
    s->refs++;
    *out = s;
    return 0;
}

void lsock_configure(struct lsock *s, const struct pools_pool *cf)
{
    const char *what;

    if (s->addr.kind == POOLS_LISTEN_UNIX && !s->unlinked &&
        (what = apply_perms(s, cf)) != NULL)
        log_error("[pool %s] cannot %s %s: %s", cf->name, what, s->name,
                  strerror(errno));
    /* listen(2) again only resizes the backlog of a listening socket. */
    if (listen(s->fd, (int)cf->listen_backlog) < 0)
        log_error("[pool %s] cannot set the backlog of %s: %s", cf->name,
                  s->name, strerror(errno));
}

void lsock_unlink(struct lsock *s)
{
    struct stat st;

    if (s->addr.kind != POOLS_LISTEN_UNIX || s->unlinked)
        return;
    s->unlinked = 1;
    /* Only our own file: a newer spawner may have bound the path since. */
    if (lstat(s->path, &st) == 0 && st.st_dev == s->file_dev &&
        st.st_ino == s->file_ino && unlink(s->path) < 0)
        log_warning("cannot remove %s: %s", s->path, strerror(errno));
}

void lsock_release(struct lsock *s)
{
    struct lsock **pp;

    if (--s->refs > 0)
        return;
    for (pp = &all; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    lsock_unlink(s);
    lsock_free(s);
}

void lsock_cleanup_all(void *unused)
{
    (void)unused;
    while (all != NULL) {
        struct lsock *s = all;

        all = s->next;
        lsock_unlink(s);
        lsock_free(s);
    }
}
