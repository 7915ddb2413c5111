/*
 * vf_gauge.c - the pools' figures in shared memory, kept across graceful
 * restarts, and each process's part of the gauges, given back when the
 * process dies.
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
 * A graceful restart leaves the old generation's children to finish their
 * requests, which still count against the pool's max= and
 * VhostFcgiMaxInFlight: a new generation that started from zero would let
 * the backend get twice what it was given.  So the totals and the table
 * outlive pconf (ap_retained_data: a store in a subpool of the process
 * pool), and a pool keeps its slot from one generation to the next,
 * found by a key that does not change with the configuration's addresses
 * (vf_pool's lasting_key).  Both generations count on the same slots, and
 * the parent gives back what a child of either leaves.  A slot whose pool
 * is no longer configured is freed once nothing counts on it; when the
 * store has no room for a configuration's new pools, a bigger one is made
 * and the figures start from zero, as they did before.  The counters since
 * startup (requests, errors, latency) live in the same slots and so go on.
 */
#include "mod_vhostfcgi.h"

#include "ap_mpm.h"
#include "http_main.h"
#include "apr_shm.h"
#include "apr_strings.h"

#include <stddef.h>
#include <string.h>
#include <sys/wait.h>
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

/* The store: what outlives pconf.  Its arrays of keys and names are the
 * parent's memory (children get a copy at the fork and only read it);
 * totals, owner and parts are shared. */
typedef struct {
    apr_pool_t *pool;               /* the store's, in the process pool;
                                     * NULL: none made yet */
    apr_uint32_t slots;             /* room for this many pools */
    apr_uint32_t rows;
    vf_pool_shared *totals;         /* per slot: the pool's figures */
    const char **keys;              /* per slot: its pool's lasting key;
                                     * NULL: free */
    const char **names;             /* per slot: its pool's name, for the
                                     * log */
    volatile apr_uint32_t *owner;   /* per row: its process's pid; 0: free;
                                     * NULL: no table (parts neither) */
    char *parts;                    /* rows of slots vf_gauges each */
    apr_size_t stride;              /* from one row to the next */
} vf_gauge_table;

/* The store's name among httpd's retained data.  A graceful restart may
 * load a new build of the module, whose layout of these must not be
 * read into the old one's: the layout is part of the name. */
#define VF_GAUGE_STORE_LAYOUT 2
#define VF_GAUGE_STORE_KEY "vhostfcgi-gauges"

/* A store has room for this many pools at least, and twice what the
 * configuration that makes it has: pools added by later graceful
 * restarts find room without the figures starting anew. */
#define VF_MIN_SLOTS 64

/* The store, once post_config has shared the pools; NULL before, and in
 * the parent once pconf is cleared (the store itself stays). */
static vf_gauge_table *table;

static apr_status_t forget_table(void *data)
{
    (void)data;
    table = NULL;
    return APR_SUCCESS;
}

/* One row per child: ServerLimit of them, and as much again for each of
 * mpm_worker's new children on the slots of exiting ones, a graceful
 * restart's new generation beside the old one's, and a second graceful
 * restart before the first one's old generation is gone.  (Each row's
 * pages are only taken once a child writes them.) */
static apr_uint32_t rows_wanted(void)
{
    int limit = 0;

    if (ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit) != APR_SUCCESS
        || limit < 1) {
        limit = 1;
    }
    return (apr_uint32_t)limit * 4;
}

/* Zeroed shared memory whose pages are only taken as they are written:
 * each child touches its own row.  (APR maps anonymous shared memory
 * MAP_ANONYMOUS on Linux, fresh zero pages; elsewhere it is cleared.) */
static void *lazy_shared_alloc(apr_pool_t *p, apr_size_t size)
{
    apr_shm_t *shm;
    void *base;

    if (apr_shm_create(&shm, size, NULL, p) != APR_SUCCESS) {
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
static char *alloc_rows(vf_gauge_table *t)
{
    apr_size_t max = APR_SIZE_MAX / 2 / t->rows, at;
    char *base;

    if (t->slots > max / sizeof(vf_gauges)) {
        return NULL;
    }
    t->stride = (t->slots * sizeof(vf_gauges) + VF_CACHE_LINE - 1)
                / VF_CACHE_LINE * VF_CACHE_LINE;
    base = lazy_shared_alloc(t->pool, t->rows * t->stride + VF_CACHE_LINE);
    if (!base) {
        return NULL;
    }
    at = (apr_size_t)base % VF_CACHE_LINE;
    return at ? base + VF_CACHE_LINE - at : base;
}

/* A new store in t (whose old one, if any, is gone) with room for slots
 * pools; an error message, or NULL.  Without the table of parts (logged)
 * requests are served all the same, and a dead child's count stays. */
static const char *make_store(server_rec *s, vf_gauge_table *t,
                              apr_uint32_t slots)
{
    memset(t, 0, sizeof(*t));
    apr_pool_create(&t->pool, s->process->pool);
    apr_pool_tag(t->pool, VF_GAUGE_STORE_KEY);
    t->slots = slots;
    t->rows = rows_wanted();
    t->keys = apr_pcalloc(t->pool, slots * sizeof(*t->keys));
    t->names = apr_pcalloc(t->pool, slots * sizeof(*t->names));
    t->totals = lazy_shared_alloc(t->pool, slots * sizeof(vf_pool_shared));
    if (!t->totals) {
        apr_pool_destroy(t->pool);
        t->pool = NULL;
        return "mod_vhostfcgi: cannot create shared memory for the pools";
    }
    t->owner = lazy_shared_alloc(t->pool, t->rows * sizeof(apr_uint32_t));
    t->parts = t->owner ? alloc_rows(t) : NULL;
    if (!t->parts) {
        t->owner = NULL;
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(10739)
                     "FastCGI pools: no shared memory for each httpd "
                     "child's part of the pools' counters (%u children x "
                     "%u pools): what a child that dies mid-request "
                     "counted (requests in flight, connections) stays "
                     "counted until a restart that is not graceful",
                     t->rows, slots);
    }
    return NULL;
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

/* In the parent: everything row counted goes back, and the row is freed.
 * how: "exited", or what else is known of the process. */
static void give_back_row(const vf_gauge_table *t, apr_uint32_t row,
                          server_rec *s, pid_t pid, const char *how)
{
    apr_uint32_t slot;
    apr_pool_t *p;

    apr_pool_create(&p, s->process->pool);
    /* Every slot, also one whose pool is no longer configured: an old
     * generation's child may still have counted there. */
    for (slot = 0; slot < t->slots; slot++) {
        const char *said = give_back(&t->totals[slot],
                                     &row_at(t, row)[slot], p);

        if (*said) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(10741)
                         "FastCGI pool %s: httpd child %ld %s with %s "
                         "still counted; given back",
                         t->names[slot] ? t->names[slot] : "(gone)",
                         (long)pid, how, said);
        }
    }
    apr_pool_destroy(p);
    /* Cleared before freed: the next child to take the row starts at 0. */
    apr_atomic_xchg32(&t->owner[row], 0);
}

/* Whether pid is a child of this process (the parent's) not yet reaped:
 * asked without reaping it (WNOWAIT), so a child that has just exited is
 * still the MPM's to reap and report. */
static int is_our_child(pid_t pid)
{
    siginfo_t si;

    memset(&si, 0, sizeof(si));
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
}

/* At a restart, before any child of the new generation exists: the rows
 * of processes that are gone without the MPM having said so go back.
 * Returns how many rows are still held (by the old generation). */
static apr_uint32_t sweep_rows(const vf_gauge_table *t, server_rec *s)
{
    apr_uint32_t row, pid, held = 0;

    for (row = 0; t->owner && row < t->rows; row++) {
        pid = apr_atomic_read32(&t->owner[row]);
        if (pid && !is_our_child((pid_t)pid)) {
            give_back_row(t, row, s, (pid_t)pid, "gone at the restart");
        }
        else if (pid) {
            held++;
        }
    }
    return held;
}

/* With no child left (a restart that is not graceful, or a graceful one
 * whose old generation is gone), nothing is in flight: gauges that still
 * say otherwise hold units no one can give back any more (a child without
 * a row, a death between the two steps of a count), and go to zero. */
static void zero_gauges(vf_gauge_table *t)
{
    apr_uint32_t slot;
    apr_size_t g;

    for (slot = 0; slot < t->slots; slot++) {
        for (g = 0; g < VF_N_GAUGES; g++) {
            apr_atomic_set32(gauge(&t->totals[slot], gauge_at[g].total), 0);
        }
    }
}

/* Frees the slots of pools no longer configured, and returns how many
 * slots are free then.  by_key: the configured pools' lasting keys.  Only
 * once no child of an older generation is left (held: rows still held):
 * one may still count on a slot whose pool is gone, and a slot given to
 * another pool would take its units. */
static apr_uint32_t free_unused(vf_gauge_table *t, apr_hash_t *by_key,
                                apr_uint32_t held)
{
    apr_uint32_t slot, free_slots = 0;

    for (slot = 0; slot < t->slots; slot++) {
        if (!held && t->keys[slot]
            && !apr_hash_get(by_key, t->keys[slot], APR_HASH_KEY_STRING)) {
            /* Another pool's figures may come here: from zero. */
            memset((void *)&t->totals[slot], 0, sizeof(vf_pool_shared));
            t->keys[slot] = NULL;
            t->names[slot] = NULL;
        }
        free_slots += !t->keys[slot];
    }
    return free_slots;
}

/* Gives each pool its slot: the one its key had, else a free one.  The
 * store has room (checked by the caller). */
static void assign_slots(vf_gauge_table *t, apr_hash_t *pools,
                         apr_pool_t *ptemp)
{
    apr_hash_t *had = apr_hash_make(ptemp);
    apr_hash_index_t *hi;
    apr_uint32_t slot, next_free = 0;

    for (slot = 0; slot < t->slots; slot++) {
        if (t->keys[slot]) {
            apr_hash_set(had, t->keys[slot], APR_HASH_KEY_STRING,
                         &t->totals[slot]);
        }
    }
    for (hi = apr_hash_first(ptemp, pools); hi; hi = apr_hash_next(hi)) {
        vf_pool *pool = apr_hash_this_val(hi);

        pool->shared = apr_hash_get(had, pool->lasting_key,
                                    APR_HASH_KEY_STRING);
        if (!pool->shared) {
            while (t->keys[next_free]) {
                next_free++;
            }
            t->keys[next_free] = apr_pstrdup(t->pool, pool->lasting_key);
            pool->shared = &t->totals[next_free];
        }
        /* The name the log gives the slot: the newest configuration's
         * (copied only when it changed: the store lives long). */
        slot = pool->shared - t->totals;
        if (!t->names[slot] || strcmp(t->names[slot], pool->name)) {
            t->names[slot] = apr_pstrdup(t->pool, pool->name);
        }
    }
}

const char *vf_gauges_share(apr_pool_t *pconf, apr_pool_t *ptemp,
                            server_rec *s, apr_hash_t *pools)
{
    const char *key = apr_psprintf(ptemp, VF_GAUGE_STORE_KEY " %d %"
                                   APR_SIZE_T_FMT " %" APR_SIZE_T_FMT " %"
                                   APR_SIZE_T_FMT, VF_GAUGE_STORE_LAYOUT,
                                   sizeof(vf_gauge_table),
                                   sizeof(vf_pool_shared), sizeof(vf_gauges));
    vf_gauge_table *t = ap_retained_data_get(key);
    apr_hash_t *by_key = apr_hash_make(ptemp);
    apr_hash_index_t *hi;
    apr_uint32_t n = apr_hash_count(pools), new_keys = 0;
    const char *err;

    if (!t) {
        t = ap_retained_data_create(key, sizeof(*t));
    }
    for (hi = apr_hash_first(ptemp, pools); hi; hi = apr_hash_next(hi)) {
        vf_pool *pool = apr_hash_this_val(hi);

        apr_hash_set(by_key, pool->lasting_key, APR_HASH_KEY_STRING, pool);
    }
    if (t->pool) {
        apr_uint32_t slot, held = sweep_rows(t, s);

        if (!held) {
            zero_gauges(t);
        }
        new_keys = n;
        for (slot = 0; slot < t->slots; slot++) {
            new_keys -= t->keys[slot]
                        && apr_hash_get(by_key, t->keys[slot],
                                        APR_HASH_KEY_STRING);
        }
        if (free_unused(t, by_key, held) < new_keys) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, APLOGNO(10748)
                         "FastCGI pools: %u pools, more than the shared "
                         "figures kept across restarts have room for: "
                         "their figures start from zero, and requests "
                         "the previous generation still serves are not "
                         "counted against max= or VhostFcgiMaxInFlight",
                         n);
            /* The old generation's children keep their own mapping. */
            apr_pool_destroy(t->pool);
            t->pool = NULL;
        }
    }
    if (!t->pool
        && (err = make_store(s, t, n * 2 > VF_MIN_SLOTS ? n * 2
                                                         : VF_MIN_SLOTS))) {
        return err;
    }
    assign_slots(t, pools, ptemp);
    apr_pool_cleanup_register(pconf, NULL, forget_table,
                              apr_pool_cleanup_null);
    table = t;
    return NULL;
}

/* A free row for this process, or NULL when all are taken.  A free row
 * is all zeroes: the parent clears it before it frees it. */
static vf_gauges *claim_row(void)
{
    apr_uint32_t pid = (apr_uint32_t)getpid(), i;

    if (!table || !table->owner) {
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
                 "a restart that is not graceful", table->rows,
                 (unsigned)pid);
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
    apr_uint32_t row;

    (void)gen;
    (void)slot;
    if (state != MPM_CHILD_EXITED || !table || !table->owner || pid <= 0
        || (row = row_of(pid)) == table->rows) {
        return;         /* it had no row */
    }
    give_back_row(table, row, s, pid, "exited");
}

void vf_gauges_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_child_status(child_exited, NULL, NULL, APR_HOOK_MIDDLE);
}
