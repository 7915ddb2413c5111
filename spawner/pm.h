/*
 * pm.h - per-pool process management.
 *
 * Each pool is a state machine (enum pstate in spawner.h) driven by the
 * events below through one table, actions[state][event], of small named
 * action functions (STYLE 11).  What differs between pm = static, dynamic
 * and ondemand is a struct pm_ops of policy functions, not branches in
 * the actions.
 *
 * Never cut off a request: a worker is only sent SIGTERM when it was just
 * seen idle in accept() or between requests on a kept connection - php-cgi
 * then exits at once, or after the one request it may have just taken;
 * it is sent SIGKILL only for request_terminate_timeout, or when a stop
 * ran out of time.
 */
#ifndef SPAWN_PM_H
#define SPAWN_PM_H

#include "spawner.h"

/* A pool's workers counted by their freshly sampled state. */
struct census {
    unsigned idle;
    unsigned kept;
    unsigned busy;
    unsigned starting;
    unsigned leaving;               /* sent SIGTERM/SIGKILL, not reaped */
    unsigned running;               /* of starting and busy: in no system
                                     * call, maybe accepting a client */
};

struct pm_ops {
    const char *name;
    int watches_demand;             /* starts workers for waiting clients */
    /* Workers to start when the pool starts. */
    unsigned (*initial)(const struct pools_pool *cf);
    /* Workers to start at a maintenance tick (demand aside). */
    unsigned (*wanted)(const struct pool *p, const struct census *c);
    /* Sends SIGTERM to the idle workers the mode no longer wants. */
    void (*retire)(struct spawner *sp, struct pool *p,
                   const struct census *c, int queue, int64_t now);
    /* Maintenance period in ms (0: none) with and without workers. */
    int64_t (*tick_period)(const struct pool *p);
};

const struct pm_ops *pm_ops_for(enum pools_pm pm);     /* pm_modes.c */

/* Sends SIGTERM to a worker just seen idle (or between requests): it
 * exits at once, or after the one request it may have just taken. */
void pm_retire(struct worker *w, const char *why);

static inline unsigned shortfall(unsigned want, unsigned have)
{
    return want > have ? want - have : 0;
}

static inline int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* The events.  Each may free the pool (when it reaches PS_DEAD): callers
 * do not touch p afterwards. */
void pm_start(struct spawner *sp, struct pool *p);
void pm_demand(struct spawner *sp, struct pool *p);     /* fd readable */
void pm_timer(struct spawner *sp, struct pool *p);
void pm_exited(struct spawner *sp, struct worker *w, int status);
void pm_stop(struct spawner *sp, struct pool *p, int unlink_socket);

/* After workers exited: lets pools waiting for process.max room start. */
void pm_room(struct spawner *sp);

/* Samples every worker of the pool (for -s, too). */
void pm_census(struct pool *p, struct census *c, int64_t now);

const char *pm_state_name(enum pstate s);

#endif /* SPAWN_PM_H */
