/*
 * notify.h - systemd's readiness protocol (sd_notify(3)) without
 * libsystemd: one datagram to $NOTIFY_SOCKET, so that a Type=notify unit
 * is "started" only once every socket is bound and "reloading" while a
 * SIGHUP is handled.  Without $NOTIFY_SOCKET every call does nothing.
 */
#ifndef SPAWN_NOTIFY_H
#define SPAWN_NOTIFY_H

/* Takes $NOTIFY_SOCKET out of the environment (workers must not inherit
 * it) and remembers it. */
void notify_init_main(void);

/* "READY=1", "RELOADING=1", "STOPPING=1", "STATUS=..." */
void notify_send(const char *state);

#endif /* SPAWN_NOTIFY_H */
