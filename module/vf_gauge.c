/*
 * vf_gauge.c - each process's part of the pools' gauges, given back when
 * the process dies.
 *
 * A pool's gauges (connections open and idle, requests in flight, queued,
 * busy, waiting: vf_pool_shared) are counts in shared memory that httpd's
 * children move up and back down by one.  A child that dies in between (a
 * crash, the OOM killer, kill -9) never moves its units back down: they
 * would stay counted until httpd restarts, and a pool whose requests in
 * flight stay at VhostFcgiMaxInFlight would answer every request 503.
 *
 * So each child also counts its own part of every gauge, in a row of a
 * table in shared memory (VF_GAUGE_UP/DOWN move both), and the parent,
 * which the MPM tells when a child has exited (the child_status hook,
 * within a second of the death), takes the dead child's parts off the
 * totals and frees its row.  A request pays one more atomic add per move,
 * on a row no other process writes (rows start on cache lines of their
 * own): no lock, and no line that other processes write.
 *
 * Rows are claimed by process id, not by scoreboard slot: a child knows
 * its pid at once, while the parent records it in the scoreboard only
 * after the fork; mpm_worker lets a new child take the slot of one still
 * finishing its requests (two live processes on one slot) and reports the
 * old one's exit with slot -1; and the hook gives the pid in every case.
 * A pid is reused only once the parent has reaped its process, and the
 * hook runs at the reaping, before the parent forks again, so a row never
 * mixes two processes.
 *
 * A graceful restart makes a new table, as it makes new totals (both live
 * in pconf).  The old generation's children keep their mapping of the old
 * ones and go on counting there, where nothing of the new generation
 * looks; their pids are in no row of the new table, so the parent, which
 * has unmapped the old one, passes over their exits.
 */
#include "mod_vhostfcgi.h"

#include "ap_mpm.h"
#include "http_main.h"
#include "apr_shm.h"
#include "apr_strings.h"

#include <stddef.h>
#include <unistd.h>

/* Each gauge's place in the totals and in a part. */
#define VF_GAUGE(name) \
    { #name, offsetof(vf_pool_shared, name), offsetof(vf_gauges, name) }

static const struct {
    const char *name;
    apr_size_t total;
    apr_size_t part;
} gauge_at[] = {
    VF_GAUGE(inflight), VF_GAUGE(queued), VF_GAUGE(busy),
    VF_GAUGE(waiting), VF_GAUGE(open), VF_GAUGE(idle)
};
#define VF_N_GAUGES (sizeof(gauge_at) / sizeof(gauge_at[0]))

/* Every gauge of vf_gauges is given back, none forgotten. */
_Static_assert(VF_N_GAUGES * sizeof(apr_uint32_t) == sizeof(vf_gauges),
               "gauge_at lists every field of vf_gauges");

/* Rows start this far apart at least, so two processes' parts never
 * share a cache line. */
#define VF_CACHE_LINE 64

typedef struct {
    apr_uint32_t rows;
    apr_uint32_t n_pools;
    vf_pool_shared *totals;         /* the pools' slots, n_pools of them */
    volatile apr_uint32_t *owner;   /* per row: its process's pid; 0: free */
    char *parts;                    /* rows of n_pools vf_gauges each */
    apr_size_t stride;              /* from one row to the next */
} vf_gauge_table;

/* This generation's table; NULL before post_config, once pconf is
 * cleared, and when it could not be made. */
static vf_gauge_table *table;

static apr_status_t forget_table(void *data)
{
    (void)data;
    table = NULL;
    return APR_SUCCESS;
}

/* One row per child of a generation: ServerLimit of them, twice that as
 * room for mpm_worker's new children on the slots of exiting ones. */
static apr_uint32_t rows_wanted(void)
{
    int limit = 0;

    if (ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit) != APR_SUCCESS
        || limit < 1) {
        limit = 1;
    }
    return (apr_uint32_t)limit * 2;
}

/* Zeroed shared memory whose pages are only taken as they are written:
 * each child touches its own row.  (APR maps anonymous shared memory
 * MAP_ANONYMOUS on Linux, fresh zero pages; elsewhere it is cleared.) */
static void *lazy_shared_alloc(apr_pool_t *pconf, apr_size_t size)
{
    apr_shm_t *shm;
    void *base;

    if (apr_shm_create(&shm, size, NULL, pconf) != APR_SUCCESS) {
        return NULL;
    }
    base = apr_shm_baseaddr_get(shm);
#if !APR_USE_SHMEM_MMAP_ANON
    memset(base, 0, size);
#endif
    return base;
}

static vf_gauges *row_at(const vf_gauge_table *t, apr_uint32_t row)
{
    return (vf_gauges *)(t->parts + row * t->stride);
}

/* The rows, each rounded up to whole cache lines, from a cache line on;
 * NULL when that is more than memory can hold. */
static char *alloc_rows(apr_pool_t *pconf, vf_gauge_table *t)
{
    apr_size_t max = APR_SIZE_MAX / 2 / t->rows, at;
    char *base;

    if (t->n_pools > max / sizeof(vf_gauges)) {
        return NULL;
    }
    t->stride = (t->n_pools * sizeof(vf_gauges) + VF_CACHE_LINE - 1)
                / VF_CACHE_LINE * VF_CACHE_LINE;
    base = lazy_shared_alloc(pconf, t->rows * t->stride + VF_CACHE_LINE);
    if (!base) {
        return NULL;
    }
    at = (apr_size_t)base % VF_CACHE_LINE;
    return at ? base + VF_CACHE_LINE - at : base;
}

void vf_gauges_share(apr_pool_t *pconf, vf_pool_shared *slots,
                     unsigned n_pools)
{
    vf_gauge_table *t = apr_pcalloc(pconf, sizeof(*t));

    apr_pool_cleanup_register(pconf, NULL, forget_table,
                              apr_pool_cleanup_null);
    t->rows = rows_wanted();
    t->n_pools = n_pools;
    t->totals = slots;
    t->owner = lazy_shared_alloc(pconf, t->rows * sizeof(apr_uint32_t));
    t->parts = t->owner ? alloc_rows(pconf, t) : NULL;
    if (!t->parts) {
        /* Requests are served all the same; only a dead child's count
         * stays behind, as it did before this table existed. */
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ap_server_conf,
                     APLOGNO(10739) "FastCGI pools: no shared memory for "
                     "each httpd child's part of the pools' counters (%u "
                     "children x %u pools): what a child that dies "
                     "mid-request counted (requests in flight, "
                     "connections) stays counted until httpd restarts",
                     t->rows, n_pools);
        return;
    }
    table = t;
}

/* A free row for this process, or NULL when all are taken.  A free row
 * is all zeroes: the parent clears it before it frees it. */
static vf_gauges *claim_row(void)
{
    apr_uint32_t pid = (apr_uint32_t)getpid(), i;

    if (!table) {
        return NULL;
    }
    for (i = 0; i < table->rows; i++) {
        if (apr_atomic_cas32(&table->owner[i], pid, 0) == 0) {
            return row_at(table, i);
        }
    }
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ap_server_conf,
                 APLOGNO(10740) "FastCGI pools: all %u rows for httpd "
                 "children's counts are taken: if this child (pid %u) "
                 "dies mid-request, what it counted stays counted until "
                 "httpd restarts", table->rows, (unsigned)pid);
    return NULL;
}

void vf_gauges_child_init(apr_pool_t *pchild, apr_hash_t *pools)
{
    vf_gauges *row = claim_row();
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(pchild, pools); hi; hi = apr_hash_next(hi)) {
        vf_pool *pool = apr_hash_this_val(hi);

        /* Without a row, a part of its own that nobody gives back. */
        pool->mine = row && pool->shared
                     ? &row[pool->shared - table->totals]
                     : apr_pcalloc(pchild, sizeof(vf_gauges));
    }
}

static volatile apr_uint32_t *gauge(void *base, apr_size_t offset)
{
    return (volatile apr_uint32_t *)((char *)base + offset);
}

/* Takes a dead process's part of one pool's gauges off the totals and
 * clears it.  Returns what was given back, in words ("" for nothing). */
static const char *give_back(vf_pool_shared *totals, vf_gauges *part,
                             apr_pool_t *p)
{
    const char *said = "";
    apr_size_t g;

    for (g = 0; g < VF_N_GAUGES; g++) {
        apr_uint32_t n = apr_atomic_xchg32(gauge(part, gauge_at[g].part), 0);

        if (n) {
            apr_atomic_sub32(gauge(totals, gauge_at[g].total), n);
            said = apr_psprintf(p, "%s%s%s %u", said, *said ? ", " : "",
                                gauge_at[g].name, n);
        }
    }
    return said;
}

/* The row of process pid; table->rows when it has none. */
static apr_uint32_t row_of(pid_t pid)
{
    apr_uint32_t row;

    for (row = 0; row < table->rows; row++) {
        if (apr_atomic_read32(&table->owner[row]) == (apr_uint32_t)pid) {
            break;
        }
    }
    return row;
}

/* In the parent: a child has exited; what it still counted goes back. */
static void child_exited(server_rec *s, pid_t pid, ap_generation_t gen,
                         int slot, mpm_child_status state)
{
    apr_hash_index_t *hi;
    apr_pool_t *p;
    apr_uint32_t row;

    (void)gen;
    (void)slot;
    if (state != MPM_CHILD_EXITED || !table || pid <= 0
        || (row = row_of(pid)) == table->rows) {
        return;         /* not of this generation, or it had no row */
    }
    apr_pool_create(&p, s->process->pool);
    for (hi = apr_hash_first(p, vf_pools_all(s)); hi;
         hi = apr_hash_next(hi)) {
        vf_pool *pool = apr_hash_this_val(hi);
        const char *said;

        if (!pool->shared) {
            continue;
        }
        said = give_back(pool->shared,
                         &row_at(table, row)[pool->shared - table->totals],
                         p);
        if (*said) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(10741)
                         "FastCGI pool %s: httpd child %ld exited with "
                         "%s still counted; given back", pool->name,
                         (long)pid, said);
        }
    }
    apr_pool_destroy(p);
    /* Cleared before freed: the next child to take the row starts at 0. */
    apr_atomic_xchg32(&table->owner[row], 0);
}

void vf_gauges_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_child_status(child_exited, NULL, NULL, APR_HOOK_MIDDLE);
}
