/*
 * demand.h - what the kernel knows about a pool, read without the
 * workers' help.
 *
 * Queue depth: the number of connections waiting in a listening socket's
 * accept queue, through NETLINK_SOCK_DIAG (unix_diag with UDIAG_SHOW_RQLEN
 * for Unix sockets, inet_diag for TCP) - php-fpm cannot see this on Unix
 * sockets, which is why its ondemand starts one worker at a time.
 *
 * Worker state: /proc/PID/syscall names the system call a process is
 * blocked in.  A FastCGI worker blocked in accept() or accept4() on fd 0
 * is idle; one blocked in read(fd, buf, 8) or recv() of 8 bytes on another
 * descriptor waits for a record header on a connection (FCGI_KEEP_CONN
 * between requests, the records of a request not started yet, a lingering
 * close after one finished): no script runs, but it cannot take a new
 * connection; anything else is busy.  /proc/PID/schedstat (CPU time in ns) and /proc/PID/io
 * (read syscall count) tell whether two samples can belong to one
 * continuous idle or busy period.
 */
#ifndef SPAWN_DEMAND_H
#define SPAWN_DEMAND_H

#include <stdint.h>
#include <sys/types.h>

struct lsock;

enum seen {
    SEEN_GONE,                      /* no such process (or not readable) */
    SEEN_ACCEPT,                    /* idle: blocked in accept on fd 0 */
    SEEN_KEPT,                      /* between records on a connection */
    SEEN_RUNNING,                   /* in no system call: on a CPU, or
                                     * woken and about to be */
    SEEN_BUSY
};

struct wsample {
    enum seen seen;
    uint64_t cpu_ns;                /* time run so far */
    uint64_t syscr;                 /* read syscalls so far (want_io) */
};

/* Opens the netlink socket; without it queue depths are unknown, which
 * only makes demand coarser (a warning, not an error). */
int demand_init_main(void);
void demand_cleanup(void *unused);

/* Connections waiting to be accepted, or -1 when unknown. */
int demand_queue(const struct lsock *s);

/* Samples one worker; want_io adds /proc/PID/io. */
void demand_sample(pid_t pid, int want_io, struct wsample *out);

/* Whether a worker holds a socket other than fd 0: a connection it
 * accepted (tells a worker serving its first request from one still
 * starting up). */
int demand_has_conn(pid_t pid);

/* The bytes an exited, not yet reaped, worker wrote (its /proc/PID/io
 * stays readable until waitpid()).  Returns 0, or -1. */
int demand_exit_wchar(pid_t pid, uint64_t *wchar);

#endif /* SPAWN_DEMAND_H */
