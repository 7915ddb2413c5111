/*
 * spawner.h - the spawner's core state: the running pools, their workers,
 * and the one struct spawner that main() owns and passes to every module.
 *
 * Lifecycles:
 *   struct conf_ref   one parsed pools file, shared by the pools built
 *                     from it; freed when the last of them is gone, so a
 *                     pool draining after a reload still reads its own
 *                     (old) settings.
 *   struct pool       one per pool name while it runs, plus draining
 *                     predecessors after a reload; states in pm.c.
 *   struct worker     one per live worker process, from fork to reaping.
 */
#ifndef SPAWN_SPAWNER_H
#define SPAWN_SPAWNER_H

#include "pools_conf.h"
#include "timer.h"

#include <stdint.h>
#include <sys/types.h>

struct lsock;
struct proc_spec;
struct pm_ops;

struct conf_ref {
    struct pools_conf *cfg;
    unsigned refs;
};

/* What an epoll event points at. */
enum src_kind {
    SRC_SIGNAL,
    SRC_CONTROL,
    SRC_LISTEN,                     /* obj: struct pool */
    SRC_OUTPUT                      /* obj: struct worker */
};

struct evsrc {
    enum src_kind kind;
    void *obj;
};

/* A worker as last sampled (demand.c). */
enum wstate {
    W_STARTING,                     /* forked, not yet seen in accept */
    W_IDLE,                         /* blocked in accept on fd 0 */
    W_KEPT,                         /* between records on a connection:
                                     * no script runs */
    W_BUSY
};

enum wflag {
    WF_READY = 1,                   /* has been seen in accept */
    WF_TERMED = 2,                  /* we sent SIGTERM */
    WF_KILLED = 4,                  /* we sent SIGKILL */
    WF_TIMEOUT = 8                  /* ... for request_terminate_timeout */
};

struct wout {                       /* a worker's stdout+stderr */
    int fd;
    int discard;                    /* catch_workers_output = no: the
                                     * bytes are counted, not logged */
    struct evsrc src;
    size_t len;
    char buf[512];
    int64_t window_ms;              /* start of this second of lines */
    unsigned lines;                 /* logged in it */
    uint64_t dropped;               /* lines not logged since the last note */
};

struct worker {
    pid_t pid;
    struct pool *pool;
    enum wstate state;
    unsigned flags;
    int64_t spawned_ms;
    int64_t since_ms;               /* start of the current idle/busy run */
    uint64_t cpu_ns;                /* at the last sample */
    uint64_t syscr;
    struct wout *out;
    uint64_t out_bytes;             /* read from its output pipe so far */
    int exit_io;                    /* exit_* below were read */
    uint64_t exit_wchar;            /* /proc/PID/io of the zombie */
    struct worker *prev, *next;     /* the pool's list */
    struct worker *hnext;           /* the pid hash chain */
};

enum pstate {
    PS_RUNNING,
    PS_THROTTLED,                   /* crash loop: no start before a time */
    PS_DRAINING,                    /* stopping: workers retire when idle */
    PS_DEAD,                        /* no workers left: to be freed */
    PS_NSTATES
};

struct pool_stats {
    unsigned long spawned;
    unsigned long recycled;         /* exited by themselves, status 0 */
    unsigned long crashed;          /* signal or non-zero status */
    unsigned long killed;           /* by us: request_terminate_timeout,
                                     * or a stop that ran out of time */
    unsigned long retired;          /* by us, gracefully */
    unsigned long start_failed;     /* fork or exec failures */
};

struct pool {
    const char *name;               /* cf->name */
    const struct pools_pool *cf;
    struct conf_ref *conf;
    const struct pm_ops *ops;
    struct lsock *sock;
    struct proc_spec *spec;         /* built at the first start */
    enum pstate state;
    struct worker *workers;
    unsigned nworkers;
    struct pool_stats st;

    /* demand (pm.c) */
    struct evsrc src;
    int watching;                   /* listening fd in epoll */
    int64_t mute_until;             /* hold-off after acting on demand */
    int64_t hold_ms;                /* its current length */
    int64_t deferred_at;            /* demand: a look waited for a
                                     * running worker then (a_demand) */
    int starved;                    /* waits in the process.max queue */
    struct pool *starved_next;

    /* time */
    struct tmr timer;               /* min of the deadlines below */
    int64_t tick_at;                /* next maintenance, 0: none */
    int64_t retired_at;             /* last idle retirement (ondemand) */
    int64_t dont_spawn_before;      /* crash-loop backoff */
    int64_t backoff_ms;
    int64_t loop_since;             /* start of the crash-counting window */
    unsigned fast_exits;            /* in that window */
    int64_t drain_since;
    int unlink_on_drain;            /* removed pool / daemon stop */

    struct pool *next;              /* struct spawner's list */
};

#define PID_HASH 256

struct spawner {
    const char *conf_path;
    struct conf_ref *conf;          /* the current file */
    int epfd;
    int sigfd;
    int ctlfd;
    int ready_fd;                   /* daemonize: tells the parent "up" */
    struct evsrc sig_src, ctl_src;
    struct pool *pools;             /* running and draining */
    unsigned nworkers;              /* all pools: against process.max */
    unsigned process_max;           /* 0: unlimited */
    struct worker *pid_hash[PID_HASH];
    struct pool *starved_head, *starved_tail;
    struct tmr_heap timers;
    int stopping;                   /* TERM/INT received: how many */
    int64_t started_ms;
};

/* pool.c: conf references */
struct conf_ref *conf_ref_new(struct pools_conf *cfg);
struct conf_ref *conf_ref_get(struct conf_ref *r);
void conf_ref_put(struct conf_ref *r);

/* pool.c: pools and workers */
struct pool *pool_new(struct spawner *sp, const struct pools_pool *cf,
                      struct conf_ref *conf, struct lsock *sock);
void pool_free(struct spawner *sp, struct pool *p);
struct pool *pool_find_live(struct spawner *sp, const char *name);
unsigned pool_count_live(const struct spawner *sp);   /* not draining */
struct worker *worker_add(struct spawner *sp, struct pool *p, pid_t pid,
                          int out_fd);
void worker_del(struct spawner *sp, struct worker *w);
struct worker *worker_by_pid(struct spawner *sp, pid_t pid);

/* pool.c: the process.max wait queue */
void pool_starve(struct spawner *sp, struct pool *p);
struct pool *pool_unstarve_first(struct spawner *sp);
void pool_unstarve(struct spawner *sp, struct pool *p);

#endif /* SPAWN_SPAWNER_H */
