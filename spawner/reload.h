/*
 * reload.h - from a parsed pools file to running pools, at startup and on
 * SIGHUP, in two steps so that nothing changes unless everything can:
 *
 *   prepare   match each pool of the new file with the running pool of the
 *             same name: added, changed (pools_same() false) or unchanged;
 *             acquire the sockets of the added and changed ones (a changed
 *             pool keeps its socket when the address is the same, else a
 *             new one is bound).  Any failure: release what was acquired,
 *             the running pools are untouched.
 *   commit    removed pools drain (their socket path goes at once);
 *             changed ones drain while their successor, with the new
 *             settings, starts on the same socket; added ones start;
 *             unchanged ones only switch to the new file's copy of their
 *             (equal) settings - same workers, same pids.
 *
 * At startup the daemon forks between the two steps: binding errors reach
 * the terminal and the exit status, the workers are the daemon's children.
 */
#ifndef SPAWN_RELOAD_H
#define SPAWN_RELOAD_H

#include "spawner.h"

#include <stddef.h>

struct plan_item;

struct plan {
    struct conf_ref *conf;
    struct plan_item *items;
    size_t n;
};

/* The plan takes a reference to conf.  Returns 0, or -1 with err set as
 * "FILE:LINE: KEY: message" and the plan released. */
int reload_prepare(struct spawner *sp, struct conf_ref *conf,
                   struct plan *pl, char *err, size_t errlen);
void reload_commit(struct spawner *sp, struct plan *pl);
void reload_abort(struct plan *pl);

/* SIGHUP: load, prepare, commit; on error log "reload failed: ...;
 * keeping the running pools". */
void reload_run(struct spawner *sp);

/* Logs the parser's warnings (shared uids etc.). */
void reload_log_warnings(const struct pools_conf *cfg);

#endif /* SPAWN_RELOAD_H */
