/*
 * pm.c - per-pool process management: the pool state machine, the three
 * pm modes, spawning, retiring, crash-loop throttling and draining.
 *
 *            START    DEMAND    TIMER        EXIT             STOP     ROOM
 * RUNNING    fill     demand    tick         exit_running     drain    room
 * THROTTLED  -        -         unthrottle   exit_throttled   drain    -
 * DRAINING   -        -         drain_step   exit_draining    hurry    -
 * DEAD       -        -         -            -                -        -
 *
 * DEMAND: the pool's listening socket is readable (epoll, level-triggered).
 * It is watched only while the pool could start a worker, and muted for a
 * few ms after each look, so that a queue the workers are about to take
 * does not spin the loop.  TIMER: the pool's one timer, armed (sync())
 * for the earliest of its maintenance tick, the end of a hold-off and the
 * end of a crash-loop pause.  ROOM: process.max had no room for this pool
 * and now has.
 */
#define _GNU_SOURCE
#include "pm.h"
#include "clock.h"
#include "demand.h"
#include "log.h"
#include "output.h"
#include "proc.h"
#include "sockets.h"
#include "supervise.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define START_GRACE_MS  3000    /* a new worker counts as capacity until
                                 * seen in accept or with a connection */
#define FAST_EXIT_MS    1000    /* an exit this soon after start is fast */
#define LOOP_WINDOW_MS  10000   /* fast exits are counted in this window */
#define LOOP_LIMIT      3       /* that many make a crash loop */
#define BACKOFF_MIN_MS  250
#define BACKOFF_MAX_MS  30000
#define STABLE_MS       10000   /* a worker this old resets the backoff */
#define HOLD_MIN_MS     5       /* after starting workers for a queue */
#define HOLD_MAX_MS     40      /* queue covered by starting workers, again */
#define HOLD_QUIET_MS   20      /* readable, but a worker took the client */
#define SECOND_LOOK_MS  20      /* a look this soon after one that waited
                                 * for a running worker acts (a_demand) */
#define DRAIN_TICK_MS   20      /* a busy worker is between requests for
                                 * moments only: look often */
#define STOP_GRACE_MS   30000   /* then busy workers of a stopping pool get
                                 * SIGTERM (request_terminate_timeout if
                                 * set) */
#define KILL_GRACE_MS   5000    /* then SIGKILL */
#define MUTE_FOREVER    INT64_MAX

enum pm_event {
    EV_START,
    EV_DEMAND,
    EV_TIMER,
    EV_EXIT,
    EV_STOP,
    EV_ROOM,
    EV_N
};

struct ev_exit {
    struct worker *w;
    int status;
};

typedef enum pstate (*pm_action)(struct spawner *sp, struct pool *p,
                                 const void *arg, int64_t now);

static const char *const state_names[PS_NSTATES] = {
    "running", "throttled", "stopping", "stopped"
};

const char *pm_state_name(enum pstate s)
{
    return state_names[s];
}

/* ------------------------------------------------------------------ */
/* Sampling                                                            */
/* ------------------------------------------------------------------ */

static enum wstate observed(const struct worker *w, const struct wsample *s,
                            int64_t now)
{
    if (s->seen == SEEN_ACCEPT)
        return W_IDLE;
    if (s->seen == SEEN_KEPT)
        return W_KEPT;
    if (w->state == W_STARTING && now - w->spawned_ms < START_GRACE_MS &&
        !demand_has_conn(w->pid))
        return W_STARTING;
    return W_BUSY;
}

/* Whether a sample continues the idle or busy run of the previous one: the
 * worker has not run at all since (same CPU time), or, busy, has made no
 * read(2) - a new request always starts with reading its records.
 * XXX a request that keeps reading (a file, a database) restarts its busy
 * clock at every sample, so request_terminate_timeout never catches it;
 * php-fpm's worker-side clock has no such gap. */
static int continues(const struct worker *w, enum wstate st,
                     const struct wsample *s, int want_io)
{
    if (st != w->state)
        return 0;
    if (st == W_STARTING || s->cpu_ns == w->cpu_ns)
        return 1;
    return st == W_BUSY && want_io && s->syscr == w->syscr;
}

/* Returns what was seen. */
static enum seen sample(struct pool *p, struct worker *w, int64_t now)
{
    int want_io = p->cf->request_terminate_timeout_ms > 0;
    struct wsample s;
    enum wstate st;

    demand_sample(w->pid, want_io, &s);
    if (s.seen == SEEN_GONE)
        return s.seen;              /* exited; SIGCHLD is on its way */
    st = observed(w, &s, now);
    if (!continues(w, st, &s, want_io))
        w->since_ms = now;
    if (st == W_IDLE)
        w->flags |= WF_READY;
    w->state = st;
    w->cpu_ns = s.cpu_ns;
    w->syscr = s.syscr;
    return s.seen;
}

void pm_census(struct pool *p, struct census *c, int64_t now)
{
    struct worker *w;

    memset(c, 0, sizeof(*c));
    for (w = p->workers; w != NULL; w = w->next) {
        if (w->flags & (WF_TERMED | WF_KILLED)) {
            c->leaving++;
            continue;
        }
        c->running += sample(p, w, now) == SEEN_RUNNING;
        if (p->backoff_ms > 0 && now - w->spawned_ms >= STABLE_MS)
            p->backoff_ms = 0;
        c->idle += w->state == W_IDLE;
        c->kept += w->state == W_KEPT;
        c->busy += w->state == W_BUSY;
        c->starting += w->state == W_STARTING;
    }
}

/* ------------------------------------------------------------------ */
/* Signals to workers                                                  */
/* ------------------------------------------------------------------ */

void pm_retire(struct worker *w, const char *why)
{
    if (kill(w->pid, SIGTERM) < 0 && errno != ESRCH) {
        log_error("[pool %s] cannot SIGTERM worker %d: %s", w->pool->name,
                  (int)w->pid, strerror(errno));
        return;
    }
    w->flags |= WF_TERMED;
    log_debug("[pool %s] worker %d: SIGTERM (%s)", w->pool->name,
              (int)w->pid, why);
}

static void kill9(struct worker *w)
{
    if (kill(w->pid, SIGKILL) < 0 && errno != ESRCH)
        log_error("[pool %s] cannot SIGKILL worker %d: %s", w->pool->name,
                  (int)w->pid, strerror(errno));
    else
        w->flags |= WF_KILLED;
}

static void enforce_terminate_timeout(struct pool *p, int64_t now)
{
    int64_t limit = p->cf->request_terminate_timeout_ms;
    struct worker *w;

    if (limit <= 0)
        return;
    for (w = p->workers; w != NULL; w = w->next) {
        if (w->state != W_BUSY || (w->flags & (WF_TERMED | WF_KILLED)) ||
            now - w->since_ms < limit)
            continue;
        log_warning("[pool %s] worker %d busy for %lld ms, over "
                    "request_terminate_timeout (%lld ms): SIGKILL", p->name,
                    (int)w->pid, (long long)(now - w->since_ms),
                    (long long)limit);
        kill9(w);
        w->flags |= WF_TIMEOUT;
    }
}

/* The mode's period, shortened to watch request_terminate_timeout. */
static int64_t tick_period(const struct pool *p)
{
    int64_t t = p->ops->tick_period(p);
    int64_t rtt = p->cf->request_terminate_timeout_ms;

    if (rtt > 0 && p->nworkers > 0) {
        int64_t r = clamp64(rtt / 10, 100, 1000);

        if (t == 0 || r < t)
            t = r;
    }
    return t;
}

/* ------------------------------------------------------------------ */
/* Crash loops                                                         */
/* ------------------------------------------------------------------ */

/* Counts a worker that died (or could not start) right after its start;
 * LOOP_LIMIT of them in LOOP_WINDOW_MS pause the pool, the pause doubling
 * each time (s6-supervise's "don't respawn before").  One message per
 * pause. */
static enum pstate note_fast(struct pool *p, int64_t now, const char *what)
{
    if (now - p->loop_since > LOOP_WINDOW_MS) {
        p->loop_since = now;
        p->fast_exits = 0;
    }
    p->fast_exits++;
    if (p->state != PS_RUNNING || p->fast_exits < LOOP_LIMIT)
        return p->state;
    p->backoff_ms = p->backoff_ms == 0 ? BACKOFF_MIN_MS
                  : p->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                  : p->backoff_ms * 2;
    p->dont_spawn_before = now + p->backoff_ms;
    log_warning("[pool %s] crash loop: %u workers failed within %d ms of "
                "starting in the last %lld ms (last: %s); no new worker for "
                "%lld ms", p->name, p->fast_exits, FAST_EXIT_MS,
                (long long)(now - p->loop_since), what,
                (long long)p->backoff_ms);
    return PS_THROTTLED;
}

/* ------------------------------------------------------------------ */
/* Starting workers                                                    */
/* ------------------------------------------------------------------ */

static unsigned global_room(const struct spawner *sp)
{
    if (sp->process_max == 0)
        return (unsigned)-1;
    return shortfall(sp->process_max, sp->nworkers);
}

/* The path a failed step was about, for the message. */
static const char *stage_path(const struct pool *p, const char *stage)
{
    if (strcmp(stage, "chroot") == 0)
        return p->cf->chroot;
    if (strcmp(stage, "chdir") == 0)
        return p->spec->chdir;
    if (strcmp(stage, "execve") == 0)
        return p->cf->command;
    return NULL;
}

/* One worker; returns 0, or -1 with why it could not start in `what`. */
static int spawn_one(struct spawner *sp, struct pool *p, char *what,
                     size_t len)
{
    struct proc_start r;
    struct worker *w;

    if (p->spec == NULL &&
        (p->spec = proc_spec_build(p->cf, what, len)) == NULL)
        return -1;
    r = proc_spawn(p->spec, p->sock->fd);
    if (r.result != PROC_STARTED) {
        const char *path = stage_path(p, r.stage);

        snprintf(what, len, "%s%s%s: %s", r.stage, path ? " " : "",
                 path ? path : "", strerror(r.err));
        p->st.start_failed++;
        return -1;
    }
    w = worker_add(sp, p, r.pid, r.out_fd);
    if (w == NULL) {
        snprintf(what, len, "out of memory");
        kill(r.pid, SIGKILL);       /* reaped as a stranger */
        if (r.out_fd >= 0)
            close(r.out_fd);
        return -1;
    }
    if (w->out != NULL && sup_watch(sp, w->out->fd, &w->out->src) < 0)
        out_flush(w);
    p->st.spawned++;
    log_debug("[pool %s] worker %d started", p->name, (int)r.pid);
    return 0;
}

static enum pstate start_n(struct spawner *sp, struct pool *p, unsigned n,
                           const char *why, int64_t now)
{
    unsigned mine = shortfall(p->cf->max_children, p->nworkers);
    unsigned room = global_room(sp);
    char what[256];
    unsigned i;

    if (n > mine)
        n = mine;
    if (n > room) {
        log_info("[pool %s] process.max (%u) reached: %u worker(s) wait",
                 p->name, sp->process_max, n - room);
        n = room;
        pool_starve(sp, p);
        p->mute_until = MUTE_FOREVER;   /* until pm_room() */
    }
    if (n > 0)
        log_info("[pool %s] starting %u worker(s) (%s)", p->name, n, why);
    for (i = 0; i < n; i++) {
        if (spawn_one(sp, p, what, sizeof(what)) == 0)
            continue;
        if (p->fast_exits == 0 || now - p->loop_since > LOOP_WINDOW_MS)
            log_error("[pool %s] cannot start a worker: %s", p->name, what);
        pool_unstarve(sp, p);
        if (p->mute_until == MUTE_FOREVER)
            p->mute_until = now + HOLD_MIN_MS;
        return note_fast(p, now, what);
    }
    return p->state;
}

/* ------------------------------------------------------------------ */
/* Exits                                                               */
/* ------------------------------------------------------------------ */

static const char *sig_name(int sig)
{
    const char *name = sigabbrev_np(sig);

    return name != NULL ? name : "?";
}

static void describe(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d (SIG%s)%s", WTERMSIG(status),
                 sig_name(WTERMSIG(status)),
                 WCOREDUMP(status) ? ", core dumped" : "");
    else
        snprintf(buf, len, "ended (status 0x%x)", (unsigned)status);
}

/* Whether a worker that exited with status 0 had served: it was seen in
 * accept(), or it wrote more than what reached its output pipe - a
 * FastCGI response is written elsewhere.  (Its output goes to that pipe
 * whatever catch_workers_output says, to be counted: a program that
 * prints its usage and exits 0 wrote nothing else, and is paced as a
 * crash loop.) */
static int served(const struct worker *w)
{
    if (w->flags & WF_READY)
        return 1;
    if (!w->exit_io)
        return 0;
    return w->exit_wchar > w->out_bytes;
}

/* Counts and logs a reaped worker; returns whether the exit was fast (see
 * note_fast), with what happened in `what`.  An exit with status 0 after
 * serving is php-cgi's own recycling after PHP_FCGI_MAX_REQUESTS, never
 * fast. */
static int account(struct pool *p, struct worker *w, int status,
                   int64_t now, char *what, size_t len)
{
    int64_t age = now - w->spawned_ms;
    int ours = (w->flags & (WF_TERMED | WF_KILLED)) != 0;
    int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    int fast;
    char how[96];

    out_flush(w);
    fast = !ours && age < FAST_EXIT_MS && !(clean && served(w));
    describe(status, how, sizeof(how));
    snprintf(what, len, "worker %d %s after %lld ms", (int)w->pid, how,
             (long long)age);
    if (w->flags & WF_KILLED)
        p->st.killed++;
    else if (ours)
        p->st.retired++;
    else if (clean)
        p->st.recycled++;
    else
        p->st.crashed++;
    if (ours || clean)
        log_debug("[pool %s] %s", p->name, what);
    else if (fast && p->fast_exits > 0 && now - p->loop_since <= LOOP_WINDOW_MS)
        log_info("[pool %s] %s", p->name, what);    /* a loop: summarized */
    else
        log_warning("[pool %s] %s", p->name, what);
    return fast;
}

/* ------------------------------------------------------------------ */
/* Actions                                                             */
/* ------------------------------------------------------------------ */

static enum pstate a_ignore(struct spawner *sp, struct pool *p,
                            const void *arg, int64_t now)
{
    (void)sp, (void)arg, (void)now;
    return p->state;
}

static enum pstate a_fill(struct spawner *sp, struct pool *p,
                          const void *arg, int64_t now)
{
    (void)arg;
    return start_n(sp, p, p->ops->initial(p->cf), "pool start", now);
}

/* Not again before a few ms: longer (up to HOLD_MAX_MS) while each look
 * finds the queue already covered by starting workers, short again as
 * soon as a look starts one.  A worker exit ends any hold-off. */
static void hold(struct pool *p, int64_t now, unsigned started)
{
    p->hold_ms = started > 0 || p->hold_ms == 0 ? HOLD_MIN_MS
               : p->hold_ms * 2 > HOLD_MAX_MS ? HOLD_MAX_MS : p->hold_ms * 2;
    p->mute_until = now + p->hold_ms;
}

/* The listening socket is readable: start one worker per waiting client
 * that no idle or starting worker is about to take.
 *
 * A client's arrival wakes this look and an idle worker blocked in
 * accept() at the same moment, and the look must not take that worker
 * for busy (php-fpm's scoreboard shows a worker idle until it has
 * accepted, so php-fpm does not fork for it).  While the census runs, the
 * worker may accept and block again in what follows (poll, a read): so
 * the queue is read again after the census.  A worker that has not run
 * yet shows running: then a look that would start workers looks again
 * after HOLD_MIN_MS instead, by when it has taken the client or is busy
 * with another; that second look acts. */
static enum pstate a_demand(struct spawner *sp, struct pool *p,
                            const void *arg, int64_t now)
{
    int queue = demand_queue(p->sock);
    struct census c;
    unsigned need;

    (void)arg;
    if (queue != 0) {
        pm_census(p, &c, now);
        if (queue > 0)
            queue = demand_queue(p->sock);
    }
    if (queue == 0) {
        p->mute_until = now + HOLD_QUIET_MS;
        return p->state;
    }
    if (queue < 0)                  /* unknown: readable means one */
        queue = 1;
    need = shortfall((unsigned)queue, c.idle + c.starting);
    if (need > 0 && c.running > 0 && now - p->deferred_at > SECOND_LOOK_MS) {
        p->deferred_at = now;
        p->mute_until = now + HOLD_MIN_MS;
        return p->state;
    }
    hold(p, now, need);
    return start_n(sp, p, need, "clients wait", now);
}

static enum pstate maintain(struct spawner *sp, struct pool *p, int64_t now)
{
    struct census c;
    int queue = 0;

    pm_census(p, &c, now);
    enforce_terminate_timeout(p, now);
    if (p->ops->watches_demand && (queue = demand_queue(p->sock)) < 0)
        queue = 0;
    p->ops->retire(sp, p, &c, queue, now);
    return start_n(sp, p, p->ops->wanted(p, &c), "maintenance", now);
}

static enum pstate a_tick(struct spawner *sp, struct pool *p,
                          const void *arg, int64_t now)
{
    (void)arg;
    if (p->tick_at == 0 || now < p->tick_at)
        return p->state;            /* a hold-off ended: sync() watches */
    p->tick_at = 0;
    return maintain(sp, p, now);
}

static enum pstate a_room(struct spawner *sp, struct pool *p,
                          const void *arg, int64_t now)
{
    (void)arg;
    p->mute_until = 0;
    return maintain(sp, p, now);
}

static enum pstate a_exit_running(struct spawner *sp, struct pool *p,
                                  const void *arg, int64_t now)
{
    const struct ev_exit *e = arg;
    char what[160];
    enum pstate st;

    int fast = account(p, e->w, e->status, now, what, sizeof(what));

    worker_del(sp, e->w);
    if (fast && (st = note_fast(p, now, what)) != PS_RUNNING)
        return st;
    p->mute_until = 0;              /* something changed: look again */
    return maintain(sp, p, now);
}

static enum pstate a_exit_throttled(struct spawner *sp, struct pool *p,
                                    const void *arg, int64_t now)
{
    const struct ev_exit *e = arg;
    char what[160];
    int fast = account(p, e->w, e->status, now, what, sizeof(what));

    worker_del(sp, e->w);
    if (fast)
        note_fast(p, now, what);
    return PS_THROTTLED;
}

static enum pstate a_unthrottle(struct spawner *sp, struct pool *p,
                                const void *arg, int64_t now)
{
    (void)arg;
    if (now < p->dont_spawn_before)
        return p->state;
    log_notice("[pool %s] crash-loop pause over: starting workers again",
               p->name);
    p->state = PS_RUNNING;
    p->mute_until = 0;
    p->tick_at = 0;
    return maintain(sp, p, now);
}

/* Retires each worker as soon as it is seen idle; a stopping pool whose
 * socket is its own lets idle workers take the clients still queued
 * first.  Busy ones get SIGTERM after the grace period (php-cgi still
 * finishes their request), SIGKILL KILL_GRACE_MS later. */
static enum pstate drain_step(struct spawner *sp, struct pool *p,
                              int64_t now)
{
    int64_t rtt = p->cf->request_terminate_timeout_ms;
    int64_t grace = rtt > 0 ? rtt : STOP_GRACE_MS;
    /* A reload never hurries a busy worker: only request_terminate_timeout
     * or a daemon stop bound the wait. */
    int bounded = rtt > 0 || sp->stopping;
    int64_t elapsed = now - p->drain_since;
    int queue = p->sock->refs > 1 ? 0 : demand_queue(p->sock);
    struct worker *w;

    for (w = p->workers; w != NULL; w = w->next) {
        if (w->flags & WF_KILLED)
            continue;
        if (w->flags & WF_TERMED) {
            if (bounded && elapsed >= grace + KILL_GRACE_MS) {
                log_warning("[pool %s] worker %d still running %lld ms "
                            "into the stop: SIGKILL", p->name, (int)w->pid,
                            (long long)elapsed);
                kill9(w);
            }
            continue;
        }
        sample(p, w, now);
        if (w->state == W_IDLE && queue > 0)
            continue;
        if (w->state == W_IDLE || w->state == W_KEPT)
            pm_retire(w, "pool stopping");
        else if (bounded && elapsed >= grace)
            pm_retire(w, "pool stopping, grace period over");
    }
    if (p->nworkers == 0)
        return PS_DEAD;
    p->tick_at = now + DRAIN_TICK_MS;
    return PS_DRAINING;
}

static enum pstate a_drain(struct spawner *sp, struct pool *p,
                           const void *arg, int64_t now)
{
    (void)arg;
    p->state = PS_DRAINING;
    p->drain_since = now;
    pool_unstarve(sp, p);
    if (p->unlink_on_drain)
        lsock_unlink(p->sock);
    if (p->nworkers > 0)
        log_notice("[pool %s] stopping: %u worker(s) retire once idle",
                   p->name, p->nworkers);
    return drain_step(sp, p, now);
}

static enum pstate a_drain_step(struct spawner *sp, struct pool *p,
                                const void *arg, int64_t now)
{
    (void)arg;
    if (now < p->tick_at)
        return p->state;
    return drain_step(sp, p, now);
}

/* A pool already draining (a reload replaced it) is asked to stop: the
 * daemon stops.  At the second TERM/INT no more waiting for idleness. */
static enum pstate a_hurry(struct spawner *sp, struct pool *p,
                           const void *arg, int64_t now)
{
    int64_t rtt = p->cf->request_terminate_timeout_ms;

    (void)arg;
    if (p->unlink_on_drain)
        lsock_unlink(p->sock);
    if (sp->stopping < 2) {
        /* Draining since a reload, which waits for requests however long
         * they run (drain_step): the stop's grace period starts now. */
        if (rtt <= 0)
            p->drain_since = now;
        return p->state;
    }
    p->drain_since = now - (rtt > 0 ? rtt : STOP_GRACE_MS);
    return drain_step(sp, p, now);
}

static enum pstate a_exit_draining(struct spawner *sp, struct pool *p,
                                   const void *arg, int64_t now)
{
    const struct ev_exit *e = arg;
    char what[160];

    account(p, e->w, e->status, now, what, sizeof(what));
    worker_del(sp, e->w);
    return p->nworkers == 0 ? PS_DEAD : PS_DRAINING;
}

static const pm_action actions[PS_NSTATES][EV_N] = {
    /*               START     DEMAND    TIMER         EXIT
     *               STOP      ROOM */
    [PS_RUNNING]   = { a_fill,   a_demand, a_tick,       a_exit_running,
                       a_drain,  a_room },
    [PS_THROTTLED] = { a_ignore, a_ignore, a_unthrottle, a_exit_throttled,
                       a_drain,  a_ignore },
    [PS_DRAINING]  = { a_ignore, a_ignore, a_drain_step, a_exit_draining,
                       a_hurry,  a_ignore },
    [PS_DEAD]      = { a_ignore, a_ignore, a_ignore,     a_ignore,
                       a_ignore, a_ignore },
};

/* ------------------------------------------------------------------ */
/* After every event: epoll watch and timer follow the state            */
/* ------------------------------------------------------------------ */

static int wants_watch(const struct spawner *sp, const struct pool *p,
                       int64_t now)
{
    return p->state == PS_RUNNING && p->ops->watches_demand &&
           !sp->stopping && p->nworkers < p->cf->max_children &&
           now >= p->mute_until;
}

static void sync_watch(struct spawner *sp, struct pool *p, int64_t now)
{
    int want = wants_watch(sp, p, now);

    if (want == p->watching)
        return;
    if (want && sup_watch(sp, p->sock->fd, &p->src) < 0)
        return;
    if (!want)
        sup_unwatch(sp, p->sock->fd);
    p->watching = want;
}

static void earliest(int64_t *at, int64_t t)
{
    if (t > 0 && (*at == 0 || t < *at))
        *at = t;
}

static void sync_timer(struct spawner *sp, struct pool *p, int64_t now)
{
    int64_t period, at = 0;

    if (p->state == PS_RUNNING) {
        period = tick_period(p);
        if (period == 0)
            p->tick_at = 0;
        else if (p->tick_at == 0)
            p->tick_at = now + period;
        if (p->ops->watches_demand && !p->watching &&
            p->mute_until > now && p->mute_until != MUTE_FOREVER &&
            p->nworkers < p->cf->max_children)
            earliest(&at, p->mute_until);
    }
    if (p->state == PS_THROTTLED)
        earliest(&at, p->dont_spawn_before);
    if (p->state == PS_RUNNING || p->state == PS_DRAINING)
        earliest(&at, p->tick_at);
    if (at == 0)
        tmr_cancel(&sp->timers, &p->timer);
    else if (tmr_set(&sp->timers, &p->timer, at) < 0)
        log_error("[pool %s] out of memory for a timer", p->name);
}

static void run(struct spawner *sp, struct pool *p, enum pm_event ev,
                const void *arg)
{
    int64_t now = clock_ms();

    p->state = actions[p->state][ev](sp, p, arg, now);
    sync_watch(sp, p, now);
    if (p->state == PS_DEAD) {
        log_notice("[pool %s] stopped", p->name);
        pool_free(sp, p);
        return;
    }
    sync_timer(sp, p, now);
}

/* ------------------------------------------------------------------ */
/* Entry points                                                        */
/* ------------------------------------------------------------------ */

void pm_start(struct spawner *sp, struct pool *p)
{
    run(sp, p, EV_START, NULL);
}

void pm_demand(struct spawner *sp, struct pool *p)
{
    run(sp, p, EV_DEMAND, NULL);
}

void pm_timer(struct spawner *sp, struct pool *p)
{
    run(sp, p, EV_TIMER, NULL);
}

void pm_exited(struct spawner *sp, struct worker *w, int status)
{
    struct ev_exit e = { w, status };

    run(sp, w->pool, EV_EXIT, &e);
}

void pm_stop(struct spawner *sp, struct pool *p, int unlink_socket)
{
    p->unlink_on_drain = p->unlink_on_drain || unlink_socket;
    run(sp, p, EV_STOP, NULL);
}

void pm_room(struct spawner *sp)
{
    struct pool *p, *q;
    unsigned n = 0;

    for (q = sp->starved_head; q != NULL; q = q->starved_next)
        n++;
    while (n-- > 0 && global_room(sp) > 0 &&
           (p = pool_unstarve_first(sp)) != NULL)
        run(sp, p, EV_ROOM, NULL);
}
