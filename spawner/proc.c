/*
 * proc.c - fork/exec one worker: fd 0 is the pool's listening socket (the
 * FastCGI convention, FastCGI spec section 2.2: "the Web server leaves a
 * single file descriptor, FCGI_LISTENSOCK_FILENO, open when the
 * application begins execution"), then a new session, rlimits, groups,
 * chroot, chdir, gid, uid - in that order, since chroot needs root and
 * setuid gives it up - and execve.
 */
#define _GNU_SOURCE
#include "proc.h"
#include "log.h"
#include "pathsafe.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static struct rlimit orig_nofile;

int proc_init_main(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &orig_nofile) < 0) {
        log_error("getrlimit RLIMIT_NOFILE: %s", strerror(errno));
        return -1;
    }
    rl = orig_nofile;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        log_warning("cannot raise the file limit to %llu: %s",
                    (unsigned long long)rl.rlim_max, strerror(errno));
    return 0;
}

/* ------------------------------------------------------------------ */
/* The spec, built in the parent                                       */
/* ------------------------------------------------------------------ */

static void free_strv(char **v)
{
    size_t i;

    if (v == NULL)
        return;
    for (i = 0; v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

void proc_spec_free(struct proc_spec *ps)
{
    if (ps == NULL)
        return;
    free_strv(ps->argv);
    free_strv(ps->envp);
    free(ps->groups);
    free(ps);
}

static char **build_argv(const struct pools_pool *cf)
{
    char **v = calloc(cf->nargs + 2, sizeof(*v));
    size_t i;

    if (v == NULL)
        return NULL;
    if ((v[0] = strdup(cf->command)) == NULL)
        goto fail;
    for (i = 0; i < cf->nargs; i++)
        if ((v[i + 1] = strdup(cf->args[i])) == NULL)
            goto fail;
    return v;
fail:
    free_strv(v);
    return NULL;
}

/* The two variables the spawner always sets itself. */
static int forced(const char *entry)
{
    size_t n = strcspn(entry, "=");

    return (n == 17 && strncmp(entry, "PHP_FCGI_CHILDREN", n) == 0) ||
           (n == 21 && strncmp(entry, "PHP_FCGI_MAX_REQUESTS", n) == 0);
}

/* Whether an inherited NAME=value is replaced by the pool's env[] or by
 * the spawner. */
static int overridden(const char *entry, const struct pools_pool *cf)
{
    size_t n = strcspn(entry, "="), i;

    if (forced(entry))
        return 1;
    for (i = 0; i < cf->nenv; i++)
        if (strlen(cf->env[i].name) == n &&
            strncmp(cf->env[i].name, entry, n) == 0)
            return 1;
    return 0;
}

static char *pair(const char *name, const char *value)
{
    char *s = NULL;

    if (asprintf(&s, "%s=%s", name, value) < 0)
        return NULL;
    return s;
}

/* clear_env = yes: only env[]; no: the spawner's environment, then env[].
 * Always PHP_FCGI_CHILDREN=0 (the spawner is the process manager: php-cgi
 * must not fork children of its own, whose accept() the spawner could not
 * see) and PHP_FCGI_MAX_REQUESTS=pm.max_requests (php-cgi's default is to
 * exit after 500; 0 means never).  Both are ignored by other programs. */
static char **build_envp(const struct pools_pool *cf)
{
    size_t n = 0, i, k = 0;
    char **v, num[24];

    for (i = 0; !cf->clear_env && environ[i] != NULL; i++)
        n++;
    v = calloc(n + cf->nenv + 3, sizeof(*v));
    if (v == NULL)
        return NULL;
    for (i = 0; i < n; i++)
        if (!overridden(environ[i], cf) &&
            (v[k++] = strdup(environ[i])) == NULL)
            goto fail;
    for (i = 0; i < cf->nenv; i++)
        if (!forced(cf->env[i].name) &&
            (v[k++] = pair(cf->env[i].name, cf->env[i].value)) == NULL)
            goto fail;
    snprintf(num, sizeof(num), "%u", cf->max_requests);
    if ((v[k++] = pair("PHP_FCGI_CHILDREN", "0")) == NULL ||
        (v[k++] = pair("PHP_FCGI_MAX_REQUESTS", num)) == NULL)
        goto fail;
    return v;
fail:
    free_strv(v);
    return NULL;
}

/* initgroups(3) semantics for user (NULL: none but the gid), computed
 * once per pool in the parent. */
static int build_groups(struct proc_spec *ps, const char *user)
{
    int n = 16;

    for (;;) {
        gid_t *g = realloc(ps->groups, (size_t)n * sizeof(*g));

        if (g == NULL)
            return -1;
        ps->groups = g;
        if (user == NULL) {
            g[0] = ps->gid;
            ps->ngroups = 1;
            return 0;
        }
        if (getgrouplist(user, ps->gid, g, &n) >= 0) {
            ps->ngroups = n;
            return 0;
        }
        if (n > 65536)
            return -1;
    }
}

/* A chroot is a jail only if nobody but root can change the path to it
 * (else the owner of a directory above it could put a symlink to / in
 * place of the next); the jail itself may belong to anyone.  Returns 0,
 * or -1 with why in err. */
static int chroot_path_safe(const char *path, char *err, size_t errlen)
{
    char why[PATH_MAX + 128];

    if (path_dirs_safe(path, 0, why, sizeof(why)) == 0)
        return 0;
    snprintf(err, errlen, "chroot %s: %s; every directory above a chroot "
             "must be root's, and not writable by others", path, why);
    return -1;
}

struct proc_spec *proc_spec_build(const struct pools_pool *cf, char *err,
                                  size_t errlen)
{
    struct proc_spec *ps = calloc(1, sizeof(*ps));
    int i;

    if (ps == NULL)
        goto fail;
    ps->pool = cf->name;
    ps->path = cf->command;
    ps->uid = cf->uid;
    ps->gid = cf->gid;
    ps->chroot = cf->chroot;
    ps->chdir = cf->chdir != NULL ? cf->chdir : "/";
    ps->rlimit_files = cf->rlimit_files;
    ps->rlimit_core = cf->rlimit_core;
    if (!cf->ids_resolved || cf->uid == 0 || cf->gid == 0) {
        snprintf(err, errlen, "refusing to run workers as root");
        proc_spec_free(ps);
        return NULL;
    }
    if (cf->chroot != NULL && chroot_path_safe(cf->chroot, err, errlen) < 0) {
        proc_spec_free(ps);
        return NULL;
    }
    if ((ps->argv = build_argv(cf)) == NULL ||
        (ps->envp = build_envp(cf)) == NULL ||
        build_groups(ps, cf->groups_user) < 0)
        goto fail;
    /* (the pools file parser refuses such a user when the file is read;
     * this catches a group membership gained since.) */
    for (i = 0; i < ps->ngroups; i++) {
        if (ps->groups[i] == 0) {
            snprintf(err, errlen, "refusing to run workers in group root "
                     "(user %s is a member of gid 0)", cf->user);
            proc_spec_free(ps);
            return NULL;
        }
    }
    return ps;
fail:
    snprintf(err, errlen, "cannot prepare the worker: out of memory");
    proc_spec_free(ps);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The child                                                           */
/* ------------------------------------------------------------------ */

enum stage {
    ST_SIGNALS, ST_SETSID, ST_DUP2, ST_RLIMIT_FILES,
    ST_RLIMIT_CORE, ST_SETGROUPS, ST_CHROOT, ST_CHDIR, ST_ROOT, ST_SETGID,
    ST_SETUID, ST_PDEATHSIG, ST_EXECVE, ST_NSTAGES
};

static const char *const stage_names[ST_NSTAGES] = {
    "signal mask", "setsid", "dup2", "rlimit_files",
    "rlimit_core", "setgroups", "chroot", "chdir", "uid/gid 0 check",
    "setgid", "setuid", "prctl PR_SET_PDEATHSIG", "execve"
};

struct exec_failure {
    int stage;
    int err;
};

static void child_fail(int fd, enum stage st)
{
    struct exec_failure f = { (int)st, errno };
    ssize_t n;

    do
        n = write(fd, &f, sizeof(f));
    while (n < 0 && errno == EINTR);
    _exit(127);
}

static int set_limit(int resource, long long v, const struct rlimit *dflt)
{
    struct rlimit rl;

    if (v == POOLS_RLIMIT_UNSET) {
        if (dflt == NULL)
            return 0;
        rl = *dflt;
    } else {
        rl.rlim_cur = rl.rlim_max = v == POOLS_RLIMIT_UNLIMITED
                                  ? RLIM_INFINITY : (rlim_t)v;
    }
    return setrlimit(resource, &rl);
}

static void close_from(int lowfd)
{
    int fd;

    if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0) == 0)
        return;
    for (fd = lowfd; fd < 65536; fd++)
        close(fd);
}

/* fd 0 the socket, fds 1 and 2 the output pipe, fd 3 the failure pipe
 * (close-on-exec), nothing else. */
static void child_fds(int listen_fd, int out_w, int *fail_fd)
{
    if (dup2(listen_fd, 0) < 0 || dup2(out_w, 1) < 0 || dup2(out_w, 2) < 0)
        child_fail(*fail_fd, ST_DUP2);
    if (*fail_fd != 3) {
        if (dup3(*fail_fd, 3, O_CLOEXEC) < 0)
            child_fail(*fail_fd, ST_DUP2);
        *fail_fd = 3;
    }
    close_from(4);
}

static void child_identity(const struct proc_spec *ps, int fd)
{
    if (setgroups((size_t)ps->ngroups, ps->groups) < 0)
        child_fail(fd, ST_SETGROUPS);
    if (ps->chroot != NULL && (chroot(ps->chroot) < 0 || chdir("/") < 0))
        child_fail(fd, ST_CHROOT);
    /* The parser refused uid/gid 0 already; this is the last line. */
    if (ps->uid == 0 || ps->gid == 0) {
        errno = EPERM;
        child_fail(fd, ST_ROOT);
    }
    if (setresgid(ps->gid, ps->gid, ps->gid) < 0)
        child_fail(fd, ST_SETGID);
    if (setresuid(ps->uid, ps->uid, ps->uid) < 0)
        child_fail(fd, ST_SETUID);
    if (geteuid() == 0 || getegid() == 0) {
        errno = EPERM;
        child_fail(fd, ST_ROOT);
    }
    /* As the pool's user: root's chdir would follow a symlink the tenant
     * put in place of the directory into a home it may not enter. */
    if (chdir(ps->chdir) < 0)
        child_fail(fd, ST_CHDIR);
}

static void __attribute__((noreturn))
child(const struct proc_spec *ps, int listen_fd, int out_w, int fail_fd,
      pid_t parent)
{
    sigset_t none;
    int sig;

    /* A worker starts with every signal at its default and none blocked:
     * an ignored SIGTERM (inherited across exec from whatever started
     * the spawner) would make retiring it impossible. */
    for (sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            (void)signal(sig, SIG_DFL);     /* EINVAL for libc's own */
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
        child_fail(fail_fd, ST_SIGNALS);
    if (setsid() < 0)
        child_fail(fail_fd, ST_SETSID);
    child_fds(listen_fd, out_w, &fail_fd);
    if (set_limit(RLIMIT_NOFILE, ps->rlimit_files, &orig_nofile) < 0)
        child_fail(fail_fd, ST_RLIMIT_FILES);
    if (set_limit(RLIMIT_CORE, ps->rlimit_core, NULL) < 0)
        child_fail(fail_fd, ST_RLIMIT_CORE);
    child_identity(ps, fail_fd);
    /* After setuid, which clears it.  A worker whose spawner died (kill
     * -9) gets SIGTERM: php-cgi then finishes its request and exits, and
     * the restarted spawner can bind the socket again. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
        child_fail(fail_fd, ST_PDEATHSIG);
    if (getppid() != parent)
        _exit(0);
    execve(ps->path, ps->argv, ps->envp);
    child_fail(fail_fd, ST_EXECVE);
    _exit(127);
}

/* ------------------------------------------------------------------ */
/* The parent                                                          */
/* ------------------------------------------------------------------ */

static struct proc_start failed(const char *stage, int err)
{
    struct proc_start r = { PROC_FORK_FAILED, -1, -1, stage, err };

    return r;
}

static struct proc_start collect(pid_t pid, int fail_r, int out_r)
{
    struct proc_start r = { PROC_STARTED, pid, out_r, NULL, 0 };
    struct exec_failure f;
    ssize_t n;

    do
        n = read(fail_r, &f, sizeof(f));
    while (n < 0 && errno == EINTR);
    close(fail_r);
    if (n == 0)
        return r;
    r.result = PROC_EXEC_FAILED;
    r.pid = -1;
    r.out_fd = -1;
    if (out_r >= 0)
        close(out_r);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (n != (ssize_t)sizeof(f) || f.stage < 0 || f.stage >= ST_NSTAGES) {
        r.stage = "starting the worker";
        r.err = EIO;
        return r;
    }
    r.stage = stage_names[f.stage];
    r.err = f.err;
    return r;
}

struct proc_start proc_spawn(const struct proc_spec *ps, int listen_fd)
{
    int fail_p[2], out_p[2] = { -1, -1 };
    pid_t parent = getpid(), pid;

    if (pipe2(fail_p, O_CLOEXEC) < 0)
        return failed("pipe", errno);
    if (pipe2(out_p, O_CLOEXEC) < 0) {
        int e = errno;

        close(fail_p[0]);
        close(fail_p[1]);
        return failed("pipe", e);
    }
    pid = fork();
    if (pid == 0)
        child(ps, listen_fd, out_p[1], fail_p[1], parent);
    close(fail_p[1]);
    if (out_p[1] >= 0)
        close(out_p[1]);
    if (pid < 0) {
        int e = errno;

        close(fail_p[0]);
        if (out_p[0] >= 0)
            close(out_p[0]);
        return failed("fork", e);
    }
    if (out_p[0] >= 0)
        fcntl(out_p[0], F_SETFL, O_NONBLOCK);
    return collect(pid, fail_p[0], out_p[0]);
}
