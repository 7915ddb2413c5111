/*
 * pm_modes.c - what pm = static, dynamic and ondemand want, as three
 * struct pm_ops (pm.h); the state machine in pm.c calls them and knows no
 * mode by name.
 *
 *   static    max_children workers, always; replaced when they exit.
 *   dynamic   start_servers at start; then idle workers kept between
 *             min_spare_servers and max_spare_servers (the longest idle
 *             retired first), never more than max_children.
 *   ondemand  none while idle; workers idle for process_idle_timeout
 *             retire, one per maintenance period.
 * dynamic and ondemand also start one worker per waiting client (pm.c,
 * a_demand), and retire nobody while clients wait.
 */
#include "pm.h"

static unsigned static_initial(const struct pools_pool *cf)
{
    return cf->max_children;
}

static unsigned static_wanted(const struct pool *p, const struct census *c)
{
    (void)c;
    return shortfall(p->cf->max_children, p->nworkers);
}

static void no_retire(struct spawner *sp, struct pool *p,
                      const struct census *c, int queue, int64_t now)
{
    (void)sp, (void)p, (void)c, (void)queue, (void)now;
}

/* php-fpm's default when start_servers is not set. */
static unsigned dynamic_initial(const struct pools_pool *cf)
{
    if (cf->start_servers > 0)
        return cf->start_servers;
    return cf->min_spare_servers +
           (cf->max_spare_servers - cf->min_spare_servers) / 2;
}

static unsigned dynamic_wanted(const struct pool *p, const struct census *c)
{
    return shortfall(p->cf->min_spare_servers, c->idle + c->starting);
}

/* The idle worker idle the longest, not yet told to go. */
static struct worker *longest_idle(struct pool *p)
{
    struct worker *w, *best = NULL;

    for (w = p->workers; w != NULL; w = w->next)
        if (w->state == W_IDLE && !(w->flags & (WF_TERMED | WF_KILLED)) &&
            (best == NULL || w->since_ms < best->since_ms))
            best = w;
    return best;
}

static void dynamic_retire(struct spawner *sp, struct pool *p,
                           const struct census *c, int queue, int64_t now)
{
    unsigned n = shortfall(c->idle, p->cf->max_spare_servers);
    struct worker *w;

    (void)sp, (void)now;
    if (queue > 0)
        return;
    while (n-- > 0 && (w = longest_idle(p)) != NULL)
        pm_retire(w, "more idle workers than pm.max_spare_servers");
}

static int64_t dynamic_tick(const struct pool *p)
{
    (void)p;
    return 1000;
}

static unsigned zero_initial(const struct pools_pool *cf)
{
    (void)cf;
    return 0;
}

static unsigned zero_wanted(const struct pool *p, const struct census *c)
{
    (void)p, (void)c;
    return 0;
}

/* Idle retirement at most a quarter of the timeout late (and at most 1 s):
 * no work at all while the pool has no workers. */
static int64_t ondemand_tick(const struct pool *p)
{
    if (p->nworkers == 0)
        return 0;
    return clamp64(p->cf->process_idle_timeout_ms / 4, 50, 1000);
}

/* The longest idle expired worker, and one per period at most (as php-fpm
 * does): after a burst the workers go back gradually, so the next wave a
 * moment later still finds most of them instead of paying cold starts. */
static void ondemand_retire(struct spawner *sp, struct pool *p,
                            const struct census *c, int queue, int64_t now)
{
    struct worker *w, *oldest = NULL;

    (void)sp, (void)c;
    if (queue > 0 || now - p->retired_at < ondemand_tick(p))
        return;
    for (w = p->workers; w != NULL; w = w->next)
        if (w->state == W_IDLE && !(w->flags & (WF_TERMED | WF_KILLED)) &&
            now - w->since_ms >= p->cf->process_idle_timeout_ms &&
            (oldest == NULL || w->since_ms < oldest->since_ms))
            oldest = w;
    if (oldest != NULL) {
        pm_retire(oldest, "pm.process_idle_timeout");
        p->retired_at = now;
    }
}

/* Only while short of workers (a start failed, process.max was full). */
static int64_t static_tick(const struct pool *p)
{
    return p->nworkers < p->cf->max_children ? 1000 : 0;
}

static const struct pm_ops pm_static = {
    "static", 0, static_initial, static_wanted, no_retire, static_tick
};
static const struct pm_ops pm_dynamic = {
    "dynamic", 1, dynamic_initial, dynamic_wanted, dynamic_retire,
    dynamic_tick
};
static const struct pm_ops pm_ondemand = {
    "ondemand", 1, zero_initial, zero_wanted, ondemand_retire, ondemand_tick
};

const struct pm_ops *pm_ops_for(enum pools_pm pm)
{
    return pm == POOLS_PM_STATIC ? &pm_static
         : pm == POOLS_PM_DYNAMIC ? &pm_dynamic : &pm_ondemand;
}
