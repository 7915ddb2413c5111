/*
 * reload.c - the pools of a new pools file, prepared then committed.
 */
#include "reload.h"
#include "clock.h"
#include "log.h"
#include "notify.h"
#include "pm.h"
#include "proc.h"
#include "sockets.h"

#include <stdlib.h>
#include <string.h>

enum plan_kind {
    PL_ADD,
    PL_CHANGE,
    PL_SAME
};

struct plan_item {
    enum plan_kind kind;
    const struct pools_pool *cf;
    struct pool *old;               /* PL_CHANGE, PL_SAME */
    struct lsock *sock;             /* PL_ADD, PL_CHANGE: one reference */
};

struct counts {
    unsigned added, changed, removed, same;
};

void reload_abort(struct plan *pl)
{
    size_t i;

    for (i = 0; i < pl->n; i++)
        if (pl->items[i].sock != NULL)
            lsock_release(pl->items[i].sock);
    free(pl->items);
    conf_ref_put(pl->conf);
    memset(pl, 0, sizeof(*pl));
}

int reload_prepare(struct spawner *sp, struct conf_ref *conf,
                   struct plan *pl, char *err, size_t errlen)
{
    const struct pools_conf *cfg = conf->cfg;
    size_t i, n = pools_count(cfg);

    memset(pl, 0, sizeof(*pl));
    pl->conf = conf_ref_get(conf);
    pl->items = calloc(n ? n : 1, sizeof(*pl->items));
    if (pl->items == NULL) {
        reload_abort(pl);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (i = 0; i < n; i++, pl->n++) {
        struct plan_item *it = &pl->items[i];

        it->cf = pools_at(cfg, i);
        it->old = pool_find_live(sp, it->cf->name);
        it->kind = it->old == NULL ? PL_ADD
                 : pools_same(it->old->cf, it->cf) ? PL_SAME : PL_CHANGE;
        if (it->kind != PL_SAME &&
            lsock_acquire(it->cf, sp->conf_path, &it->sock, err,
                          errlen) < 0) {
            reload_abort(pl);
            return -1;
        }
    }
    return 0;
}

/* The running pools that the new file no longer has. */
static void stop_removed(struct spawner *sp, const struct pools_conf *cfg,
                         struct counts *k)
{
    struct pool *p, *next;

    for (p = sp->pools; p != NULL; p = next) {
        next = p->next;
        if (p->state == PS_DRAINING || pools_find(cfg, p->name) != NULL)
            continue;
        log_notice("[pool %s] removed from the pools file", p->name);
        k->removed++;
        pm_stop(sp, p, 1);
    }
}

/* Equal settings from the new file: same workers, new pointers. */
static void keep(struct pool *p, const struct pools_pool *cf,
                 struct conf_ref *conf)
{
    p->cf = cf;
    p->name = cf->name;
    proc_spec_free(p->spec);        /* it points into the old file */
    p->spec = NULL;
    conf_ref_put(p->conf);
    p->conf = conf_ref_get(conf);
}

static void start(struct spawner *sp, struct plan_item *it,
                  struct conf_ref *conf)
{
    struct pool *p;

    if (it->old != NULL) {
        log_notice("[pool %s] changed: new workers start, the old ones "
                   "retire once idle", it->cf->name);
        /* Old first: it leaves epoll before the successor watches the
         * same descriptor. */
        pm_stop(sp, it->old, it->sock != it->old->sock);
        lsock_configure(it->sock, it->cf);
    }
    p = pool_new(sp, it->cf, conf, it->sock);
    if (p == NULL) {
        log_error("[pool %s] out of memory: not started", it->cf->name);
        lsock_release(it->sock);
    } else {
        pm_start(sp, p);
    }
    it->sock = NULL;                /* handed to the pool */
}

static void apply_globals(struct spawner *sp, const struct pools_conf *cfg)
{
    const struct pools_global *g = pools_global(cfg);

    log_reconfigure(g->error_log, (enum log_level)g->log_level);
    sp->process_max = g->process_max;
}

static void commit(struct spawner *sp, struct plan *pl, struct counts *k)
{
    size_t i;

    stop_removed(sp, pl->conf->cfg, k);
    apply_globals(sp, pl->conf->cfg);
    for (i = 0; i < pl->n; i++) {
        struct plan_item *it = &pl->items[i];

        if (it->kind == PL_SAME) {
            keep(it->old, it->cf, pl->conf);
            k->same++;
            continue;
        }
        k->added += it->kind == PL_ADD;
        k->changed += it->kind == PL_CHANGE;
        start(sp, it, pl->conf);
    }
    conf_ref_put(sp->conf);
    sp->conf = pl->conf;            /* the plan's reference */
    free(pl->items);
    memset(pl, 0, sizeof(*pl));
    pm_room(sp);
}

void reload_commit(struct spawner *sp, struct plan *pl)
{
    struct counts k = { 0, 0, 0, 0 };

    commit(sp, pl, &k);
}

void reload_log_warnings(const struct pools_conf *cfg)
{
    size_t i;

    for (i = 0; i < pools_warning_count(cfg); i++)
        log_warning("%s", pools_warning(cfg, i));
}

static void note_restart_only(const struct pools_conf *old,
                              const struct pools_conf *cfg)
{
    const struct pools_global *a = pools_global(old), *b = pools_global(cfg);

    if (strcmp(a->run_dir, b->run_dir) != 0)
        log_warning("run_dir changed to %s: the status socket stays in %s "
                    "until a restart", b->run_dir, a->run_dir);
    if ((a->pid == NULL) != (b->pid == NULL) ||
        (a->pid != NULL && strcmp(a->pid, b->pid) != 0))
        log_warning("pid changed: the pid file follows at the next "
                    "restart");
}

static int load_and_prepare(struct spawner *sp, struct plan *pl, char *err,
                            size_t errlen)
{
    struct pools_conf *cfg;
    struct conf_ref *conf;
    int rc;

    if (pools_load_runnable(sp->conf_path, &cfg, err, errlen) < 0)
        return -1;
    if ((conf = conf_ref_new(cfg)) == NULL) {
        pools_free(cfg);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    reload_log_warnings(cfg);
    note_restart_only(sp->conf->cfg, cfg);
    rc = reload_prepare(sp, conf, pl, err, errlen);
    conf_ref_put(conf);             /* the plan holds its own */
    return rc;
}

void reload_run(struct spawner *sp)
{
    int64_t t0 = clock_ms();
    struct counts k = { 0, 0, 0, 0 };
    struct plan pl;
    char err[1024];

    log_notice("reloading %s", sp->conf_path);
    notify_send("RELOADING=1");
    if (load_and_prepare(sp, &pl, err, sizeof(err)) < 0) {
        log_error("reload failed: %s; keeping the running pools", err);
        notify_send("READY=1\nSTATUS=reload failed, see the error log");
        return;
    }
    commit(sp, &pl, &k);
    notify_send("READY=1\nSTATUS=reloaded");
    log_notice("reloaded in %lld ms: %u pool(s) added, %u changed, %u "
               "removed, %u unchanged", (long long)(clock_ms() - t0),
               k.added, k.changed, k.removed, k.same);
}
