/*
 * status.c - the control socket and the status report.
 */
#define _GNU_SOURCE
#include "status.h"
#include "cleanup.h"
#include "clock.h"
#include "demand.h"
#include "log.h"
#include "pm.h"
#include "sockets.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* A previous spawner died: how long its workers may keep the pools'
 * sockets while they finish their last request, before a restart gives
 * up (and httpd, or systemd, tries again a little later). */
#define STATUS_ORPHAN_WAIT_MS 5000

static char ctl_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static dev_t ctl_dev;
static ino_t ctl_ino;

static int ctl_addr(const char *run_dir, struct sockaddr_un *un)
{
    int n;

    memset(un, 0, sizeof(*un));
    un->sun_family = AF_UNIX;
    n = snprintf(un->sun_path, sizeof(un->sun_path), "%s/%s", run_dir,
                 STATUS_SOCKET_NAME);
    return n > 0 && (size_t)n < sizeof(un->sun_path) ? 0 : -1;
}

static void ctl_close(void *arg)
{
    struct spawner *sp = arg;
    struct stat st;

    if (sp->ctlfd < 0)
        return;
    close(sp->ctlfd);
    sp->ctlfd = -1;
    /* Only our own: a newer spawner may have bound the path since. */
    if (lstat(ctl_path, &st) == 0 && st.st_dev == ctl_dev &&
        st.st_ino == ctl_ino)
        unlink(ctl_path);
}

static int make_run_dir(const char *dir)
{
    struct stat st;

    if (mkdir(dir, 0755) == 0) {
        log_info("created run_dir %s", dir);
        return 0;
    }
    if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    log_error("cannot create run_dir %s: %s", dir,
              errno == EEXIST ? "not a directory" : strerror(errno));
    return -1;
}

int status_init_main(struct spawner *sp)
{
    const char *run_dir = pools_global(sp->conf->cfg)->run_dir;
    struct sockaddr_un un;
    const char *why;
    struct stat st;
    mode_t old;
    int rc, stale;

    if (make_run_dir(run_dir) < 0)
        return -1;
    if (ctl_addr(run_dir, &un) < 0) {
        log_error("run_dir %s: path too long for the status socket",
                  run_dir);
        return -1;
    }
    if ((why = lsock_clear_stale(un.sun_path, &stale)) != NULL) {
        log_error("%s: %s (is another vhostfcgi-spawn running with this "
                  "run_dir?)", un.sun_path, why);
        return -1;
    }
    if (stale)
        lsock_wait_for_orphans(STATUS_ORPHAN_WAIT_MS);
    memcpy(ctl_path, un.sun_path, sizeof(ctl_path));
    sp->ctlfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                       0);
    if (sp->ctlfd < 0 || cln_add(ctl_close, sp) < 0)
        goto fail;
    old = umask(0177);
    rc = bind(sp->ctlfd, (struct sockaddr *)&un, sizeof(un));
    umask(old);
    if (rc < 0 || listen(sp->ctlfd, 16) < 0 || stat(un.sun_path, &st) < 0)
        goto fail;
    ctl_dev = st.st_dev;
    ctl_ino = st.st_ino;
    sp->ctl_src.kind = SRC_CONTROL;
    sp->ctl_src.obj = sp;
    return 0;
fail:
    log_error("status socket %s: %s", un.sun_path, strerror(errno));
    return -1;
}

/* ------------------------------------------------------------------ */
/* The report                                                          */
/* ------------------------------------------------------------------ */

static void limits(FILE *f, const struct pools_pool *cf)
{
    fprintf(f, "max_children=%u", cf->max_children);
    if (cf->pm == POOLS_PM_DYNAMIC)
        fprintf(f, " spare=%u..%u", cf->min_spare_servers,
                cf->max_spare_servers);
    if (cf->pm == POOLS_PM_ONDEMAND)
        fprintf(f, " idle_timeout=%lldms",
                (long long)cf->process_idle_timeout_ms);
    if (cf->max_requests > 0)
        fprintf(f, " max_requests=%u", cf->max_requests);
    if (cf->request_terminate_timeout_ms > 0)
        fprintf(f, " terminate=%lldms",
                (long long)cf->request_terminate_timeout_ms);
}

static void pool_line(FILE *f, struct pool *p, int64_t now)
{
    struct census c;
    int queue = demand_queue(p->sock);
    char q[16];

    pm_census(p, &c, now);
    if (queue < 0)
        snprintf(q, sizeof(q), "?");
    else
        snprintf(q, sizeof(q), "%d", queue);
    fprintf(f, "%-16s %-8s %-9s %7u %4u %4u %5u %5s %7lu %8lu %7lu %6lu ",
            p->name, p->ops->name, pm_state_name(p->state), p->nworkers,
            c.idle, c.busy + c.kept, c.starting, q, p->st.spawned,
            p->st.recycled, p->st.crashed, p->st.killed);
    limits(f, p->cf);
    fputc('\n', f);
}

static void report(FILE *f, struct spawner *sp)
{
    int64_t now = clock_ms();
    struct pool *p;

    fprintf(f, "vhostfcgi-spawn pid %d, up %llds, config %s%s\n",
            (int)getpid(), (long long)(now - sp->started_ms) / 1000,
            sp->conf_path, sp->stopping ? ", stopping" : "");
    fprintf(f, "pools %u, workers %u, process.max %u%s\n",
            pool_count_live(sp), sp->nworkers, sp->process_max,
            sp->process_max == 0 ? " (unlimited)" : "");
    fprintf(f, "%-16s %-8s %-9s %7s %4s %4s %5s %5s %7s %8s %7s %6s %s\n",
            "POOL", "PM", "STATE", "WORKERS", "IDLE", "BUSY", "START",
            "QUEUE", "SPAWNED", "RECYCLED", "CRASHED", "KILLED", "LIMITS");
    for (p = sp->pools; p != NULL; p = p->next)
        pool_line(f, p, now);
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

static void serve_one(struct spawner *sp, int fd)
{
    struct timeval tv = { 1, 0 };
    struct ucred cred;
    socklen_t len = sizeof(cred);
    char *text = NULL;
    size_t size = 0;
    FILE *f;

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
        cred.uid != 0) {
        write_all(fd, "permission denied: root only\n", 29);
        return;
    }
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    f = open_memstream(&text, &size);
    if (f == NULL)
        return;
    report(f, sp);
    if (fclose(f) == 0)
        write_all(fd, text, size);
    free(text);
}

void status_serve(struct spawner *sp)
{
    int fd;

    for (;;) {
        fd = accept4(sp->ctlfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0 && errno == EINTR)
            continue;
        if (fd < 0)
            return;
        serve_one(sp, fd);
        close(fd);
    }
}

/* ------------------------------------------------------------------ */
/* The client                                                          */
/* ------------------------------------------------------------------ */

int status_query(const char *conf_path)
{
    struct timeval tv = { 5, 0 };
    struct pools_conf *cfg;
    struct sockaddr_un un;
    char buf[4096];
    ssize_t n;
    int fd, rc;

    if (pools_parse_file(conf_path, &cfg, buf, sizeof(buf)) < 0) {
        fprintf(stderr, "%s\n", buf);
        return 1;
    }
    rc = ctl_addr(pools_global(cfg)->run_dir, &un);
    pools_free(cfg);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rc < 0 || fd < 0 ||
        connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
        fprintf(stderr, "vhostfcgi-spawn: cannot reach the daemon at %s: "
                "%s\n", un.sun_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return 1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        fwrite(buf, 1, (size_t)n, stdout);
    close(fd);
    return n < 0 || fflush(stdout) != 0;
}
