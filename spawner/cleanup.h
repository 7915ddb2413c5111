/*
 * cleanup.h - the teardown registry (STYLE 10).
 *
 * Each module that acquires something in its X_init_main() registers the
 * release here, and main() runs the registry once, last first, on every
 * exit path of the daemon.  The parent half of a daemonizing fork leaves
 * with _exit() and runs nothing: the resources belong to the child.
 */
#ifndef SPAWN_CLEANUP_H
#define SPAWN_CLEANUP_H

typedef void (*cln_fn)(void *arg);

/* Returns 0, or -1 when out of memory (fn has then been run already, so
 * that nothing leaks and the caller just fails). */
int cln_add(cln_fn fn, void *arg);

/* Runs every registered function, last registered first, then forgets
 * them. */
void cln_run(void);

#endif /* SPAWN_CLEANUP_H */
