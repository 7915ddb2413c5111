/*
 * vf_spawner.c - VhostFcgiSpawner: httpd runs the pool spawner.
 *
 * The spawner is an httpd "other child" (as mod_cgid's daemon is): started
 * by the parent once the configuration is final, restarted when it dies,
 * stopped when httpd exits.  Unlike mod_cgid's daemon it survives httpd's
 * restarts, graceful or not: its workers may be serving requests, and
 * the spawner reloads its pools file on SIGHUP without dropping any.  So
 * its state lives in the process pool, which outlives configuration
 * cycles (this DSO itself is unloaded and reloaded on each), and a restart
 * only sends it SIGHUP.  A changed command line replaces it.
 *
 * If the httpd parent is killed outright, the kernel sends the spawner
 * SIGTERM (PR_SET_PDEATHSIG), so it never outlives its supervisor.
 *
 * httpd starts its children only once the spawner is ready (its pools'
 * sockets bound) or VF_READY_WAIT_MS has passed: the spawner tells it as it
 * tells systemd, READY=1 on $NOTIFY_SOCKET, here a socket of httpd's own
 * in its runtime directory that only root may write to.  Else the first
 * requests after a start, or to a pool a reload adds, would find no
 * socket and get 503.
 *
 * The state outlives the DSO: nothing in it may point into the module
 * (a string literal, a function), which a restart unloads.
 */
#include "mod_vhostfcgi.h"

#include "http_core.h"
#include "http_main.h"
#include "ap_listen.h"
#include "ap_mpm.h"
#include "apr_strings.h"

#include <errno.h>
#include <poll.h>
#include <sys/stat.h>
#include <time.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* The spawner's state, kept in the process pool.  The key is copied there
 * (apr_pool_userdata_set): a literal of this DSO would dangle once a
 * restart unloads it, and the next lookup would read it.  (Builds before
 * 2026-11-27 stored "vhostfcgi-spawner" so: a key of another length is
 * never compared with that one.) */
#define VF_SPAWNER_KEY      "vhostfcgi-spawner-state"
/* Restarts of a spawner that keeps dying are spaced at least this far. */
#define VF_RESPAWN_GAP      apr_time_from_sec(2)
/* How long httpd waits for the spawner's graceful stop when exiting. */
#define VF_STOP_WAIT        apr_time_from_sec(10)
/* How long a start or restart waits for the spawner to be ready, in ms. */
#define VF_READY_WAIT_MS    10000

typedef struct {
    apr_size_t size;        /* sizeof of the module that made it (below) */
    apr_pool_t *pool;       /* the process pool: outlives restarts */
    apr_pool_t *pconf;      /* this configuration cycle's pool */
    apr_pool_t *argv_pool;  /* holds argv; replaced when it changes */
    apr_proc_t proc;        /* pid 0: not running */
    const char *const *argv;
    const char *cmdline;    /* argv joined, to notice a change */
    apr_time_t started;
    int registered;         /* registered as other child of this pconf */
    int ready_fd;           /* datagrams from the spawner; -1: none */
    char ready_path[108];   /* that socket's path (sun_path's size) */
} vf_spawner;

static void maintenance(int reason, void *data, apr_wait_t status);

/* This state outlives the DSO, which a restart unloads and loads again:
 * after an upgrade and a graceful restart, the module reading it may not
 * be the one that made it.  Its first word then differs from our size (an
 * older one began with a pointer), and it is left alone: NULL. */
static vf_spawner *spawner_state(server_rec *s)
{
    apr_pool_t *pp = s->process->pool;
    vf_spawner *sp = NULL;

    apr_pool_userdata_get((void **)&sp, VF_SPAWNER_KEY, pp);
    if (sp && sp->size != sizeof(*sp)) {
        return NULL;
    }
    if (!sp) {
        sp = apr_pcalloc(pp, sizeof(*sp));
        sp->size = sizeof(*sp);
        sp->pool = pp;
        sp->ready_fd = -1;
        apr_pool_userdata_set(sp, VF_SPAWNER_KEY, NULL, pp);
    }
    return sp;
}

static int spawner_alive(const vf_spawner *sp)
{
    return sp->proc.pid > 0 && kill(sp->proc.pid, 0) == 0;
}

/* The socket the spawner says READY=1 on, once per httpd process, in the
 * runtime directory and 0600: the spawner runs as root, and nobody else
 * can end a wait early or fill the queue. */
static void ready_open(vf_spawner *sp, apr_pool_t *p, server_rec *s)
{
    struct sockaddr_un a;
    const char *path;
    mode_t mask;
    int fd, rc;

    if (sp->ready_fd >= 0) {
        return;
    }
    path = ap_runtime_dir_relative(p, apr_psprintf(p,
                                   "vhostfcgi-spawner.%ld.notify",
                                   (long)getpid()));
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    if (!path || strlen(path) >= sizeof(a.sun_path)
        || strlen(path) >= sizeof(sp->ready_path)) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(10728)
                     "VhostFcgiSpawner: the runtime directory's path is too "
                     "long for a socket; httpd will not wait for the "
                     "spawner to be ready");
        return;
    }
    strcpy(a.sun_path, path);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        rc = -1;
    }
    else {
        unlink(path);               /* a crashed httpd's, same pid */
        mask = umask(077);
        rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
        umask(mask);
    }
    if (rc < 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s, APLOGNO(10728)
                     "VhostFcgiSpawner: cannot make %s; httpd will not wait "
                     "for the spawner to be ready", path);
        if (fd >= 0) {
            close(fd);
        }
        return;
    }
    sp->ready_fd = fd;
    strcpy(sp->ready_path, path);
}

static void ready_close(vf_spawner *sp)
{
    if (sp->ready_fd >= 0) {
        close(sp->ready_fd);
        unlink(sp->ready_path);
        sp->ready_fd = -1;
    }
}

/* Drops what the spawner said before: a wait is for what comes next. */
static void ready_drain(const vf_spawner *sp)
{
    char buf[256];

    while (sp->ready_fd >= 0 && recv(sp->ready_fd, buf, sizeof(buf), 0) > 0) {
    }
}

/* Has the spawner exited?  (Left waitable: the other-child maintenance
 * reaps it and starts another.) */
static int spawner_exited(const vf_spawner *sp)
{
    siginfo_t info;

    memset(&info, 0, sizeof(info));
    return waitid(P_PID, (id_t)sp->proc.pid, &info,
                  WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid != 0;
}

/* Does one of msg's lines (sd_notify's "KEY=VALUE\n...") say line? */
static int says(const char *msg, const char *line)
{
    size_t n = strlen(line);

    while (msg) {
        if (!strncmp(msg, line, n) && (msg[n] == '\n' || msg[n] == '\0')) {
            return 1;
        }
        if ((msg = strchr(msg, '\n'))) {
            msg++;
        }
    }
    return 0;
}

static apr_int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (apr_int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Until the spawner says READY=1, exits, or VF_READY_WAIT_MS has passed.
 * After a SIGHUP only a READY=1 after RELOADING=1 counts: the one before
 * may end a reload that was already under way. */
static void ready_wait(const vf_spawner *sp, server_rec *s, const char *what,
                       int after_reloading)
{
    apr_int64_t start = mono_ms();
    int armed = !after_reloading;
    char buf[256];
    ssize_t n;

    while (sp->ready_fd >= 0 && sp->proc.pid > 0) {
        while ((n = recv(sp->ready_fd, buf, sizeof(buf) - 1, 0)) > 0) {
            buf[n] = '\0';
            armed = armed || says(buf, "RELOADING=1");
            if (armed && says(buf, "READY=1")) {
                ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(10729)
                             "VhostFcgiSpawner: pid %ld ready %ld ms after "
                             "%s", (long)sp->proc.pid,
                             (long)(mono_ms() - start), what);
                return;
            }
        }
        if (spawner_exited(sp)) {
            return;             /* maintenance() says so and restarts it */
        }
        if (mono_ms() - start >= VF_READY_WAIT_MS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(10730)
                         "VhostFcgiSpawner: pid %ld not ready %d s after %s; "
                         "serving anyway (its log says why)",
                         (long)sp->proc.pid, VF_READY_WAIT_MS / 1000, what);
            return;
        }
        poll(&(struct pollfd){ .fd = sp->ready_fd, .events = POLLIN }, 1, 50);
    }
}

/* In the child: never outlive httpd, drop httpd's listeners, exec. */
static void exec_spawner(const vf_spawner *sp)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1) {
        _exit(1);           /* httpd is already gone */
    }
    if (sp->ready_fd >= 0) {
        setenv("NOTIFY_SOCKET", sp->ready_path, 1);
    }
    else {
        unsetenv("NOTIFY_SOCKET");      /* not systemd's: httpd's unit */
    }
    ap_close_listeners();
    execv(sp->argv[0], (char *const *)sp->argv);
    fprintf(stderr, "mod_vhostfcgi: cannot run VhostFcgiSpawner %s: %s\n",
            sp->argv[0], strerror(errno));
    _exit(127);
}

static void start_spawner(vf_spawner *sp, apr_pool_t *pconf, server_rec *s)
{
    apr_status_t rv;

    sp->started = apr_time_now();
    rv = apr_proc_fork(&sp->proc, sp->pool);
    if (rv == APR_INCHILD) {
        exec_spawner(sp);
    }
    if (rv != APR_INPARENT) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, APLOGNO(10690)
                     "VhostFcgiSpawner: cannot fork %s", sp->argv[0]);
        sp->proc.pid = 0;
        return;
    }
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, APLOGNO(10691)
                 "VhostFcgiSpawner: started %s (pid %ld)", sp->cmdline,
                 (long)sp->proc.pid);
    apr_proc_other_child_register(&sp->proc, maintenance, sp, NULL, pconf);
    sp->registered = 1;
}

/* SIGTERM, then up to VF_STOP_WAIT for the graceful stop, then SIGKILL. */
static void stop_spawner(vf_spawner *sp)
{
    apr_time_t deadline = apr_time_now() + VF_STOP_WAIT;

    if (sp->proc.pid <= 0) {
        return;
    }
    kill(sp->proc.pid, SIGTERM);
    while (waitpid(sp->proc.pid, NULL, WNOHANG) == 0) {
        if (apr_time_now() > deadline) {
            kill(sp->proc.pid, SIGKILL);
            waitpid(sp->proc.pid, NULL, 0);
            break;
        }
        apr_sleep(apr_time_from_msec(50));
    }
    sp->proc.pid = 0;
}

static void maintenance(int reason, void *data, apr_wait_t status)
{
    vf_spawner *sp = data;
    int mpm_state = AP_MPMQ_STOPPING;

    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST:
        apr_proc_other_child_unregister(sp);
        sp->registered = 0;
        /* The MPM's loop passes the exit code or the signal number,
         * without saying which; a stop or a restart (apr's other-child
         * refresh) the wait status itself. */
        if (status & ~0xff) {
            status = WIFSIGNALED(status) ? WTERMSIG(status)
                                         : WEXITSTATUS(status);
        }
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, ap_server_conf, APLOGNO(10692)
                     "VhostFcgiSpawner: pid %ld ended (exit code or signal "
                     "%d; its error log says why)", (long)sp->proc.pid,
                     (int)status);
        sp->proc.pid = 0;
        ap_mpm_query(AP_MPMQ_MPM_STATE, &mpm_state);
        if (mpm_state != AP_MPMQ_STOPPING && sp->argv) {
            apr_time_t since = apr_time_now() - sp->started;

            /* A spawner that dies at once is not restarted in a loop. */
            if (since < VF_RESPAWN_GAP) {
                apr_sleep(VF_RESPAWN_GAP - since);
            }
            start_spawner(sp, sp->pconf, ap_server_conf);
        }
        break;
    case APR_OC_REASON_UNREGISTER:
        /* pconf is going: for good only when httpd exits. */
        sp->registered = 0;
        if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_EXITING) {
            stop_spawner(sp);
            ready_close(sp);
        }
        break;
    default:
        break;
    }
}

/* argv: PATH [ARGS...] -F -c POOLS_FILE */
static void build_argv(vf_spawner *sp, const vf_server_conf *sc)
{
    apr_array_header_t *argv;
    int i;

    if (sp->argv_pool) {
        apr_pool_destroy(sp->argv_pool);
    }
    apr_pool_create(&sp->argv_pool, sp->pool);
    argv = apr_array_make(sp->argv_pool, 8, sizeof(const char *));
    for (i = 0; i < sc->spawner_argv->nelts; i++) {
        APR_ARRAY_PUSH(argv, const char *) = apr_pstrdup(sp->argv_pool,
            APR_ARRAY_IDX(sc->spawner_argv, i, const char *));
    }
    /* (Copies: the literals are the DSO's, and argv outlives it.) */
    APR_ARRAY_PUSH(argv, const char *) = apr_pstrdup(sp->argv_pool, "-F");
    APR_ARRAY_PUSH(argv, const char *) = apr_pstrdup(sp->argv_pool, "-c");
    APR_ARRAY_PUSH(argv, const char *) = apr_pstrdup(sp->argv_pool,
                                                     sc->pools_file);
    sp->cmdline = apr_array_pstrcat(sp->argv_pool, argv, ' ');
    APR_ARRAY_PUSH(argv, const char *) = NULL;
    sp->argv = (const char *const *)argv->elts;
}

/* In check_config, so that "apache2 -t" (configtest before a graceful
 * restart) refuses what a start would. */
int vf_spawner_check_config(server_rec *s)
{
    vf_server_conf *sc = vf_server_conf_get(s);

    if (sc->spawner_argv && !sc->pools_file) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, NULL,
                     APLOGNO(10693) "%s: VhostFcgiSpawner needs "
                     "VhostFcgiPoolsFile", sc->spawner_where);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

int vf_spawner_post_config(apr_pool_t *pconf, server_rec *s)
{
    vf_server_conf *sc = vf_server_conf_get(s);
    vf_spawner *sp = spawner_state(s);
    const char *cmdline;

    /* Only the real start, not the configuration check before it. */
    if (sp) {
        sp->pconf = pconf;
    }
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_CONFIG
        || ap_state_query(AP_SQ_RUN_MODE) != AP_SQ_RM_NORMAL) {
        return OK;
    }
    if (!sp) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, APLOGNO(10731)
                     "VhostFcgiSpawner: the spawner was started by another "
                     "build of this module (upgraded, then a graceful "
                     "restart?): it is left running as it is, no longer "
                     "supervised; stop and start httpd to take it over");
        return OK;
    }
    if (!sc->spawner_argv) {
        stop_spawner(sp);           /* the directive was removed */
        ready_close(sp);
        return OK;
    }
    cmdline = apr_pstrcat(pconf, apr_array_pstrcat(pconf, sc->spawner_argv,
                          ' '), " -F -c ", sc->pools_file, NULL);
    if (spawner_alive(sp) && sp->cmdline && !strcmp(cmdline, sp->cmdline)) {
        /* httpd restarted: keep the spawner, let it reload its pools. */
        apr_proc_other_child_register(&sp->proc, maintenance, sp, NULL,
                                      pconf);
        sp->registered = 1;
        ready_drain(sp);
        kill(sp->proc.pid, SIGHUP);
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(10694)
                     "VhostFcgiSpawner: pid %ld kept, asked to reload",
                     (long)sp->proc.pid);
        ready_wait(sp, s, "the reload", 1);
        return OK;
    }
    stop_spawner(sp);
    build_argv(sp, sc);
    ready_open(sp, pconf, s);
    ready_drain(sp);
    start_spawner(sp, pconf, s);
    ready_wait(sp, s, "the start", 0);
    return OK;
}

/* httpd's children are forked, not exec'd: the readiness socket is the
 * parent's alone. */
void vf_spawner_child_init(server_rec *s)
{
    vf_spawner *sp = spawner_state(s);

    if (sp && sp->ready_fd >= 0) {
        close(sp->ready_fd);
        sp->ready_fd = -1;
    }
}
