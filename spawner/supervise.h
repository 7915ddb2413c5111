/*
 * supervise.h - the event loop.
 *
 * One epoll set holds: a signalfd (HUP, TERM, INT, USR1, CHLD are blocked
 * and read as data, so no logic ever runs in a signal handler), the status
 * control socket, the listening sockets of the pools that may need a
 * worker, and the output pipes of the workers.  Timers come from the heap
 * in struct spawner.  Each wake-up costs work in proportion to what
 * happened, never to the number of pools.
 */
#ifndef SPAWN_SUPERVISE_H
#define SPAWN_SUPERVISE_H

#include "spawner.h"

/* Blocks the signals, creates the epoll set with the signalfd and the
 * status socket.  After daemonizing: a signalfd in an epoll set stays
 * tied to the process that added it (signalfd_poll() waits on that
 * process's signal queue), so a set made before fork() would never wake
 * for the daemon's signals. */
/* Blocks the signals the event loop reads (HUP, TERM, INT, USR1, CHLD)
 * and fills *set with them; startup holds them from its first step. */
int sup_hold_signals(sigset_t *set);

int sup_init_main(struct spawner *sp);

/* Adds fd (level-triggered EPOLLIN) / removes it. */
int sup_watch(struct spawner *sp, int fd, struct evsrc *src);
void sup_unwatch(struct spawner *sp, int fd);

/* Runs until a stop has retired every pool; returns the exit status. */
int sup_run(struct spawner *sp);

#endif /* SPAWN_SUPERVISE_H */
