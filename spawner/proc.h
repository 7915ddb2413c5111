/*
 * proc.h - start one worker process.
 *
 * Everything the child needs is prepared in the parent (struct proc_spec:
 * argv, envp, supplementary groups), so the child between fork() and
 * execve() only makes system calls: no allocation, no NSS, no locks.
 *
 * Exec failure is detected synchronously (STYLE 12): the child writes
 * {stage, errno} to a close-on-exec pipe only if a step or execve() fails;
 * the parent reading 0 bytes knows the exec happened.
 */
#ifndef SPAWN_PROC_H
#define SPAWN_PROC_H

#include "pools_conf.h"

#include <sys/types.h>

struct proc_spec {
    const char *pool;               /* name, for messages */
    const char *path;               /* the command */
    char **argv;                    /* command, args..., NULL */
    char **envp;                    /* NAME=value..., NULL */
    uid_t uid;
    gid_t gid;
    gid_t *groups;                  /* supplementary groups */
    int ngroups;
    const char *chroot;             /* NULL: none */
    const char *chdir;
    long long rlimit_files;         /* POOLS_RLIMIT_* or a limit */
    long long rlimit_core;
};

enum proc_result {
    PROC_STARTED,
    PROC_EXEC_FAILED,               /* a step in the child failed */
    PROC_FORK_FAILED                /* pipe() or fork() in the parent */
};

struct proc_start {
    enum proc_result result;
    pid_t pid;                      /* PROC_STARTED */
    int out_fd;                     /* PROC_STARTED: the non-blocking
                                     * read end of its stdout+stderr;
                                     * else -1 */
    const char *stage;              /* failed: "chroot /x", "execve", ... */
    int err;                        /* failed: errno */
};

/* Remembers the spawner's own file limit (workers get it back unless
 * rlimit_files is set) and raises the spawner's soft limit to the hard
 * one: it holds a socket per pool and a pipe per worker. */
int proc_init_main(void);

/* Builds the spec of a pool (ids must be resolved).  Returns NULL with err
 * set on failure. */
struct proc_spec *proc_spec_build(const struct pools_pool *cf, char *err,
                                  size_t errlen);
void proc_spec_free(struct proc_spec *ps);

/* Forks and execs one worker with listen_fd as its fd 0. */
struct proc_start proc_spawn(const struct proc_spec *ps, int listen_fd);

#endif /* SPAWN_PROC_H */
