/*
 * main.c - vhostfcgi-spawn: the command line, the startup chain, the
 * daemonizing fork and the pid file.
 *
 *   vhostfcgi-spawn -c FILE [-F]   run (in the foreground with -F)
 *   vhostfcgi-spawn -c FILE -t     check FILE, print the resolved pools
 *   vhostfcgi-spawn -c FILE -s     print the running daemon's status
 *
 * Signals: HUP reload, TERM and INT graceful stop (a second one hurries
 * it), USR1 reopen the error log.  Contract: DESIGN.md, "The pool
 * spawner".
 */
#define _GNU_SOURCE
#include "cleanup.h"
#include "clock.h"
#include "demand.h"
#include "log.h"
#include "notify.h"
#include "pm.h"
#include "proc.h"
#include "reload.h"
#include "sockets.h"
#include "spawner.h"
#include "status.h"
#include "supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct opts {
    const char *conf;
    int foreground;
    int test;
    int status;
};

static void usage(FILE *f)
{
    fprintf(f,
        "usage: vhostfcgi-spawn -c POOLS_FILE [-F | -t | -s]\n"
        "  -c FILE  the pools file (required)\n"
        "  -F       stay in the foreground (default: daemonize)\n"
        "  -t       check the file, print the resolved pools, exit 0 or 1\n"
        "  -s       print the live status of the running daemon\n"
        "  -h       this help\n"
        "signals: HUP reload, TERM/INT graceful stop, USR1 reopen logs\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    int c;

    memset(o, 0, sizeof(*o));
    while ((c = getopt(argc, argv, "c:Ftsh")) != -1) {
        switch (c) {
        case 'c': o->conf = optarg; break;
        case 'F': o->foreground = 1; break;
        case 't': o->test = 1; break;
        case 's': o->status = 1; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (o->conf == NULL || optind != argc || o->test + o->status > 1) {
        usage(stderr);
        return -1;
    }
    return 0;
}

/* -t: errors as "FILE:LINE: KEY: message", warnings likewise after
 * "warning: ", the resolved pools on stdout. */
static int check_config(const char *path)
{
    struct pools_conf *cfg;
    char err[1024];
    size_t i;
    int rc;

    if (pools_load_runnable(path, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    for (i = 0; i < pools_warning_count(cfg); i++)
        fprintf(stderr, "warning: %s\n", pools_warning(cfg, i));
    rc = pools_dump(stdout, cfg) < 0 || fflush(stdout) != 0;
    if (rc == 0)
        fprintf(stderr, "%s: ok, %zu pool(s)\n", path, pools_count(cfg));
    pools_free(cfg);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Startup steps: each returns 0 or -1 (after saying why)              */
/* ------------------------------------------------------------------ */

/* Descriptors 0-2 exist, so no socket ever lands on them. */
static int std_fds(void)
{
    int fd;

    while ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0 && fd <= 2)
        fcntl(fd, F_SETFD, 0);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int load_config(struct spawner *sp, struct pools_conf **cfg)
{
    char err[1024];

    if (pools_load_runnable(sp->conf_path, cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    sp->conf = conf_ref_new(*cfg);
    if (sp->conf == NULL) {
        pools_free(*cfg);
        fprintf(stderr, "vhostfcgi-spawn: out of memory\n");
        return -1;
    }
    return 0;
}

static int check_root(void)
{
    if (geteuid() == 0)
        return 0;
    fprintf(stderr, "vhostfcgi-spawn: must run as root: it binds sockets "
            "for others and runs each pool as its own user\n");
    return -1;
}

static void log_close(void *unused)
{
    (void)unused;
    log_cleanup();
}

static int start_log(struct spawner *sp)
{
    const struct pools_global *g = pools_global(sp->conf->cfg);

    if (log_init_main(g->error_log, (enum log_level)g->log_level) < 0 ||
        cln_add(log_close, NULL) < 0)
        return -1;
    reload_log_warnings(sp->conf->cfg);
    return 0;
}

static int start_demand(void)
{
    if (demand_init_main() < 0)
        return -1;
    return cln_add(demand_cleanup, NULL);
}

/* The pools of the file, with their sockets bound; started by commit. */
static int prepare(struct spawner *sp, struct plan *pl)
{
    char err[1024];

    if (cln_add(lsock_cleanup_all, NULL) < 0)
        return -1;
    if (reload_prepare(sp, sp->conf, pl, err, sizeof(err)) < 0) {
        log_error("%s", err);
        return -1;
    }
    return 0;
}

/* The parent waits for the child to say it is up, so that the exit status
 * of `vhostfcgi-spawn -c FILE` tells whether the daemon runs. */
static int daemonize(struct spawner *sp)
{
    int p[2], fd;
    pid_t pid;
    char c;

    if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
        log_error("cannot daemonize: %s", strerror(errno));
        return -1;
    }
    if (pid > 0) {
        ssize_t n;

        close(p[1]);
        do
            n = read(p[0], &c, 1);
        while (n < 0 && errno == EINTR);
        _exit(n == 1 && c == 'k' ? 0 : 1);
    }
    close(p[0]);
    sp->ready_fd = p[1];
    setsid();
    if (chdir("/") < 0 || (fd = open("/dev/null", O_RDWR)) < 0) {
        log_error("cannot daemonize: %s", strerror(errno));
        return -1;
    }
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 2)
        close(fd);
    log_detach();
    return 0;
}

static const char *pid_path(const struct spawner *sp)
{
    return pools_global(sp->conf->cfg)->pid;
}

static void pidfile_remove(void *arg)
{
    const char *path = arg;
    char buf[32];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n > 0 && (buf[n] = '\0', atoi(buf) == (int)getpid()))
        unlink(path);
    free(arg);
}

static int pidfile_write(struct spawner *sp)
{
    const char *path = pid_path(sp);
    char buf[32], *copy;
    int fd, n;

    if (path == NULL)
        return 0;
    /* Root truncates it: never through a symlink someone planted. */
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
              0644);
    n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    if (fd < 0 || write(fd, buf, (size_t)n) != n) {
        log_error("cannot write pid file %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    /* A copy: a reload may free the file that holds the path. */
    if ((copy = strdup(path)) == NULL)
        return -1;
    return cln_add(pidfile_remove, copy);
}

static int commit(struct spawner *sp, struct plan *pl)
{
    reload_commit(sp, pl);
    log_notice("vhostfcgi-spawn %d ready: %u pool(s), %u worker(s), config "
               "%s", (int)getpid(), pool_count_live(sp), sp->nworkers,
               sp->conf_path);
    notify_send("READY=1");
    if (sp->ready_fd >= 0) {
        if (write(sp->ready_fd, "k", 1) != 1)
            log_warning("cannot tell the parent we are up");
        close(sp->ready_fd);
        sp->ready_fd = -1;
    }
    return 0;
}

/* STYLE 10: one readable chain; a failed step has said why. */
static int startup(struct spawner *sp, const struct opts *o)
{
    struct pools_conf *cfg = NULL;
    struct plan pl;
    sigset_t set;

    /* Held from the start, read by the signalfd of sup_init_main(): a HUP
     * or TERM during a slow startup (waiting for orphaned workers) must
     * not kill us with the default action. */
    sup_hold_signals(&set);
    memset(&pl, 0, sizeof(pl));
    notify_init_main();
    if (std_fds() || check_root() || load_config(sp, &cfg) ||
        start_log(sp) || proc_init_main() || status_init_main(sp) ||
        start_demand() || prepare(sp, &pl))
        return -1;
    if ((!o->foreground && daemonize(sp)) || pidfile_write(sp) ||
        sup_init_main(sp)) {
        reload_abort(&pl);
        return -1;
    }
    return commit(sp, &pl);
}

/* Whatever a failed startup or the end of the loop left behind. */
static void teardown(struct spawner *sp)
{
    while (sp->pools != NULL) {
        struct pool *p = sp->pools;

        while (p->workers != NULL)
            worker_del(sp, p->workers);
        pool_free(sp, p);
    }
    cln_run();
    conf_ref_put(sp->conf);
    sp->conf = NULL;
}

static int run(const struct opts *o)
{
    struct spawner sp;
    int rc;

    memset(&sp, 0, sizeof(sp));
    sp.conf_path = o->conf;
    sp.epfd = sp.sigfd = sp.ctlfd = sp.ready_fd = -1;
    sp.started_ms = clock_ms();
    rc = startup(&sp, o) < 0 ? 1 : sup_run(&sp);
    teardown(&sp);
    return rc;
}

int main(int argc, char **argv)
{
    struct opts o;

    if (parse_opts(argc, argv, &o) < 0)
        return 2;
    if (o.test)
        return check_config(o.conf);
    if (o.status)
        return status_query(o.conf);
    return run(&o);
}
