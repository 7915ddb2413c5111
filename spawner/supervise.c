/*
 * supervise.c - epoll, signalfd, reaping, timers: turns what happened into
 * pm events, reloads and stops.
 */
#include "supervise.h"
#include "cleanup.h"
#include "clock.h"
#include "demand.h"
#include "log.h"
#include "notify.h"
#include "output.h"
#include "pm.h"
#include "reload.h"
#include "status.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_EVENTS 64

/* What the signals of one wake-up asked for. */
struct sig_todo {
    int reap, reload, stop, reopen;
};

static void close_fds(void *arg)
{
    struct spawner *sp = arg;

    if (sp->sigfd >= 0)
        close(sp->sigfd);
    if (sp->epfd >= 0)
        close(sp->epfd);
    sp->sigfd = sp->epfd = -1;
    tmr_heap_free(&sp->timers);
}

int sup_hold_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGUSR1);
    sigaddset(set, SIGCHLD);
    return sigprocmask(SIG_BLOCK, set, NULL);
}

int sup_init_main(struct spawner *sp)
{
    sigset_t set;

    /* Writes to a status client that went away must not kill us. */
    signal(SIGPIPE, SIG_IGN);
    /* What started us may have left these ignored (nohup, a shell's
     * background job, a supervisor): an ignored SIGCHLD has the kernel
     * reap our workers unseen. */
    signal(SIGCHLD, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGUSR1, SIG_DFL);
    if (sup_hold_signals(&set) < 0) {
        log_error("sigprocmask: %s", strerror(errno));
        return -1;
    }
    sp->epfd = epoll_create1(EPOLL_CLOEXEC);
    sp->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (cln_add(close_fds, sp) < 0 || sp->epfd < 0 || sp->sigfd < 0) {
        log_error("cannot set up the event loop: %s", strerror(errno));
        return -1;
    }
    sp->sig_src.kind = SRC_SIGNAL;
    sp->sig_src.obj = sp;
    if (sup_watch(sp, sp->sigfd, &sp->sig_src) < 0)
        return -1;
    return sp->ctlfd < 0 ? 0 : sup_watch(sp, sp->ctlfd, &sp->ctl_src);
}

int sup_watch(struct spawner *sp, int fd, struct evsrc *src)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = src;
    if (epoll_ctl(sp->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        log_error("epoll_ctl add fd %d: %s", fd, strerror(errno));
        return -1;
    }
    return 0;
}

void sup_unwatch(struct spawner *sp, int fd)
{
    if (epoll_ctl(sp->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 && errno != ENOENT)
        log_error("epoll_ctl del fd %d: %s", fd, strerror(errno));
}

/* ------------------------------------------------------------------ */
/* Signals                                                             */
/* ------------------------------------------------------------------ */

static void read_signals(struct spawner *sp, struct sig_todo *todo)
{
    struct signalfd_siginfo si;

    while (read(sp->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGCHLD:
            todo->reap = 1;
            break;
        case SIGHUP:
            todo->reload = 1;
            break;
        case SIGUSR1:
            todo->reopen = 1;
            break;
        case SIGTERM:
        case SIGINT:
            todo->stop++;
            break;
        default:
            break;
        }
    }
}

/* Each exited child is first looked at as a zombie (WNOWAIT): whether a
 * worker that exited with status 0 wrote anything (a response) tells
 * php-cgi's recycling after PHP_FCGI_MAX_REQUESTS from a program that
 * exits at once, and only a zombie still has its /proc/PID/io. */
static void reap(struct spawner *sp)
{
    struct worker *w;
    siginfo_t si;
    int status;

    for (;;) {
        memset(&si, 0, sizeof(si));
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 ||
            si.si_pid == 0)
            break;
        w = worker_by_pid(sp, si.si_pid);
        if (w != NULL && si.si_code == CLD_EXITED && si.si_status == 0)
            w->exit_io = demand_exit_wchar(w->pid, &w->exit_wchar) == 0;
        if (waitpid(si.si_pid, &status, 0) < 0)
            break;
        if (w != NULL)
            pm_exited(sp, w, status);
        else
            log_debug("reaped process %d, not a worker", (int)si.si_pid);
    }
    pm_room(sp);
}

static void stop_all(struct spawner *sp, int signals)
{
    struct pool *p, *next;

    if (sp->stopping == 0) {
        log_notice("stopping: %u pool(s), %u worker(s) finish their "
                   "requests", pool_count_live(sp), sp->nworkers);
        notify_send("STOPPING=1");
    }
    else
        log_notice("stop requested again: idle or not, every worker gets "
                   "SIGTERM now");
    sp->stopping += signals;
    for (p = sp->pools; p != NULL; p = next) {
        next = p->next;
        pm_stop(sp, p, 1);
    }
}

static void handle_signals(struct spawner *sp)
{
    struct sig_todo todo = { 0, 0, 0, 0 };

    read_signals(sp, &todo);
    if (todo.reap)
        reap(sp);
    if (todo.reopen)
        log_reopen();
    if (todo.reload && sp->stopping == 0)
        reload_run(sp);
    else if (todo.reload)
        log_notice("reload ignored: stopping");
    if (todo.stop)
        stop_all(sp, todo.stop);
}

/* ------------------------------------------------------------------ */
/* The loop                                                            */
/* ------------------------------------------------------------------ */

static struct pool *timer_pool(struct tmr *t)
{
    return (struct pool *)((char *)t - offsetof(struct pool, timer));
}

/* Bounded: a timer re-armed in the past runs on the next round. */
static void run_timers(struct spawner *sp)
{
    int64_t now = clock_ms();
    size_t n = sp->timers.n;
    struct tmr *t;

    while (n-- > 0 && (t = tmr_pop_due(&sp->timers, now)) != NULL)
        pm_timer(sp, timer_pool(t));
}

/* Listening sockets, output pipes and status clients first: a reap in
 * the same round may free the objects they point to. */
static int dispatch(struct spawner *sp, struct epoll_event *ev, int n)
{
    int i, signals = 0;

    for (i = 0; i < n; i++) {
        struct evsrc *src = ev[i].data.ptr;

        switch (src->kind) {
        case SRC_SIGNAL:
            signals = 1;
            break;
        case SRC_CONTROL:
            status_serve(sp);
            break;
        case SRC_LISTEN:
            pm_demand(sp, src->obj);
            break;
        case SRC_OUTPUT:
            out_read(src->obj);
            break;
        }
    }
    return signals;
}

int sup_run(struct spawner *sp)
{
    struct epoll_event ev[MAX_EVENTS];
    int n;

    while (!(sp->stopping && sp->pools == NULL)) {
        n = epoll_wait(sp->epfd, ev, MAX_EVENTS,
                       tmr_wait_ms(&sp->timers, clock_ms()));
        if (n < 0 && errno != EINTR) {
            log_error("epoll_wait: %s", strerror(errno));
            return 1;
        }
        if (n > 0 && dispatch(sp, ev, n))
            handle_signals(sp);
        run_timers(sp);
    }
    log_notice("stopped");
    return 0;
}
