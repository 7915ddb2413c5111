/*
 * status.h - live status: `vhostfcgi-spawn -s`.
 *
 * The daemon listens on RUN_DIR/vhostfcgi-spawn.ctl (mode 0600, root, and
 * the peer's uid checked with SO_PEERCRED); a client connects and reads
 * one text report until EOF.  The same socket tells a second daemon with
 * the same run_dir that one is already running.
 */
#ifndef SPAWN_STATUS_H
#define SPAWN_STATUS_H

#include "spawner.h"

#define STATUS_SOCKET_NAME "vhostfcgi-spawn.ctl"

/* Creates run_dir if missing and binds the control socket (the event
 * loop watches it from sup_init_main() on). */
int status_init_main(struct spawner *sp);

/* The control socket is readable: answer every waiting client. */
void status_serve(struct spawner *sp);

/* -s: prints the running daemon's report; returns the exit status. */
int status_query(const char *conf_path);

#endif /* SPAWN_STATUS_H */
