/*
 * pool.c - the objects of spawner.h: conf references, pools, workers, the
 * pid hash and the process.max wait queue.  No policy here; pm.c decides.
 */
#include "spawner.h"
#include "clock.h"
#include "log.h"
#include "pm.h"
#include "proc.h"
#include "sockets.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct conf_ref *conf_ref_new(struct pools_conf *cfg)
{
    struct conf_ref *r = malloc(sizeof(*r));

    if (r == NULL)
        return NULL;
    r->cfg = cfg;
    r->refs = 1;
    return r;
}

struct conf_ref *conf_ref_get(struct conf_ref *r)
{
    r->refs++;
    return r;
}

void conf_ref_put(struct conf_ref *r)
{
    if (r == NULL || --r->refs > 0)
        return;
    pools_free(r->cfg);
    free(r);
}

/* ------------------------------------------------------------------ */
/* Pools                                                               */
/* ------------------------------------------------------------------ */

struct pool *pool_new(struct spawner *sp, const struct pools_pool *cf,
                      struct conf_ref *conf, struct lsock *sock)
{
    struct pool *p = calloc(1, sizeof(*p)), **pp;

    if (p == NULL)
        return NULL;
    p->name = cf->name;
    p->cf = cf;
    p->conf = conf_ref_get(conf);
    p->ops = pm_ops_for(cf->pm);
    p->sock = sock;
    p->state = PS_RUNNING;
    p->src.kind = SRC_LISTEN;
    p->src.obj = p;
    tmr_init(&p->timer);
    /* Appended, so that -s lists pools in file order. */
    for (pp = &sp->pools; *pp != NULL; pp = &(*pp)->next)
        ;
    *pp = p;
    return p;
}

/* The pool must have no workers and be out of epoll. */
void pool_free(struct spawner *sp, struct pool *p)
{
    struct pool **pp;

    for (pp = &sp->pools; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    pool_unstarve(sp, p);
    tmr_cancel(&sp->timers, &p->timer);
    if (p->sock != NULL)
        lsock_release(p->sock);
    proc_spec_free(p->spec);
    conf_ref_put(p->conf);
    free(p);
}

/* The pool of that name that is not draining, if any. */
struct pool *pool_find_live(struct spawner *sp, const char *name)
{
    struct pool *p;

    for (p = sp->pools; p != NULL; p = p->next)
        if (p->state != PS_DRAINING && p->state != PS_DEAD &&
            strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

unsigned pool_count_live(const struct spawner *sp)
{
    const struct pool *p;
    unsigned n = 0;

    for (p = sp->pools; p != NULL; p = p->next)
        n += p->state != PS_DRAINING;
    return n;
}

/* ------------------------------------------------------------------ */
/* Workers                                                             */
/* ------------------------------------------------------------------ */

struct worker *worker_add(struct spawner *sp, struct pool *p, pid_t pid,
                          int out_fd)
{
    struct worker *w = calloc(1, sizeof(*w));
    unsigned h = (unsigned)pid % PID_HASH;

    if (w == NULL)
        return NULL;
    if (out_fd >= 0) {
        w->out = calloc(1, sizeof(*w->out));
        if (w->out == NULL) {
            free(w);
            return NULL;
        }
        w->out->fd = out_fd;
        w->out->discard = !p->cf->catch_workers_output;
        w->out->src.kind = SRC_OUTPUT;
        w->out->src.obj = w;
    }
    w->pid = pid;
    w->pool = p;
    w->state = W_STARTING;
    w->spawned_ms = w->since_ms = clock_ms();
    w->next = p->workers;
    if (p->workers != NULL)
        p->workers->prev = w;
    p->workers = w;
    p->nworkers++;
    w->hnext = sp->pid_hash[h];
    sp->pid_hash[h] = w;
    sp->nworkers++;
    return w;
}

void worker_del(struct spawner *sp, struct worker *w)
{
    struct pool *p = w->pool;
    struct worker **hp = &sp->pid_hash[(unsigned)w->pid % PID_HASH];

    while (*hp != NULL && *hp != w)
        hp = &(*hp)->hnext;
    if (*hp != NULL)
        *hp = w->hnext;
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        p->workers = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    p->nworkers--;
    sp->nworkers--;
    if (w->out != NULL) {
        close(w->out->fd);          /* also leaves epoll */
        free(w->out);
    }
    free(w);
}

struct worker *worker_by_pid(struct spawner *sp, pid_t pid)
{
    struct worker *w = sp->pid_hash[(unsigned)pid % PID_HASH];

    while (w != NULL && w->pid != pid)
        w = w->hnext;
    return w;
}

/* ------------------------------------------------------------------ */
/* Pools waiting for room under process.max, first come first served   */
/* ------------------------------------------------------------------ */

void pool_starve(struct spawner *sp, struct pool *p)
{
    if (p->starved)
        return;
    p->starved = 1;
    p->starved_next = NULL;
    if (sp->starved_tail != NULL)
        sp->starved_tail->starved_next = p;
    else
        sp->starved_head = p;
    sp->starved_tail = p;
}

struct pool *pool_unstarve_first(struct spawner *sp)
{
    struct pool *p = sp->starved_head;

    if (p != NULL)
        pool_unstarve(sp, p);
    return p;
}

void pool_unstarve(struct spawner *sp, struct pool *p)
{
    struct pool **pp, *prev = NULL;

    if (!p->starved)
        return;
    for (pp = &sp->starved_head; *pp != NULL; pp = &(*pp)->starved_next) {
        if (*pp == p) {
            *pp = p->starved_next;
            break;
        }
        prev = *pp;
    }
    if (sp->starved_tail == p)
        sp->starved_tail = prev;
    p->starved = 0;
    p->starved_next = NULL;
}
