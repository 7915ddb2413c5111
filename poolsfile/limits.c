/*
 * limits.c - rlimit_files and rlimit_core checked against what a worker
 * started by this process could set (pools_check_limits: it asks the
 * running system, as ids.c does).
 *
 * A worker sets both its soft and hard limit to the pool's value before it
 * drops root (proc.c).  setrlimit(2) refuses with EPERM a hard limit above
 * the caller's own unless it has CAP_SYS_RESOURCE in the initial user
 * namespace, and an open-file limit above the kernel's fs.nr_open even
 * then.  So a value above them is a pool none of whose workers could ever
 * start: it would only crash-loop at run time.  It is an error here, named
 * by file, line and key, where -t, a reload and httpd -t (when httpd
 * starts the spawner) see it, and a running pool stays as it is.
 *
 * The limits are this process's: the spawner's own when it loads the
 * file, httpd's (whose child the spawner is) when httpd checks it, the
 * shell's under -t by hand.
 */
#include "internal.h"

#include <errno.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* What the last probe found, for the pools that share a value. */
struct probe {
    int resource;
    unsigned long long want;
    int ok;                         /* -1: none made yet */
};

/* Whether a child of this process may set both limits of resource to
 * want.  Asked of a child that tries: capget(2) reports a capability
 * that root holds inside a user namespace (unprivileged containers),
 * where setrlimit still fails.  1 also when it cannot be told (the spawn
 * will say, as before). */
static int can_set(int resource, unsigned long long want)
{
    struct rlimit rl;
    pid_t pid;
    int status;

    rl.rlim_cur = rl.rlim_max = (rlim_t)want;
    if ((pid = fork()) < 0)
        return 1;
    if (pid == 0)
        _exit(setrlimit(resource, &rl) == 0 ? 0 : 1);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* The kernel's ceiling for open-file limits; 0 when it cannot be read. */
static unsigned long long nr_open(void)
{
    FILE *f = fopen("/proc/sys/fs/nr_open", "re");
    unsigned long long n = 0;

    if (f == NULL)
        return 0;
    if (fscanf(f, "%llu", &n) != 1)
        n = 0;
    fclose(f);
    return n;
}

/* "unlimited", or the number and its unit, in buf. */
static const char *limit_text(char *buf, size_t len, unsigned long long v,
                              const char *unit)
{
    if (v == (unsigned long long)RLIM_INFINITY)
        return "unlimited";
    snprintf(buf, len, "%llu %s", v, unit);
    return buf;
}

/* The value of one of a pool's rlimit keys against this process's hard
 * limit (and, for files, fs.nr_open). */
static int check_limit(struct ctx *c, const struct pools_pool *p,
                       enum pools_field f, const char *key, int resource,
                       const char *unit, const char *raise, long long value,
                       struct probe *last)
{
    struct rlimit own;
    unsigned long long want, ceiling;
    char a[48], b[48];

    if (value == POOLS_RLIMIT_UNSET)
        return 0;           /* workers keep the spawner's own */
    want = value == POOLS_RLIMIT_UNLIMITED ? (unsigned long long)RLIM_INFINITY
                                           : (unsigned long long)value;
    if (resource == RLIMIT_NOFILE && (ceiling = nr_open()) != 0 &&
        want > ceiling)
        return pc_fail(c, pc_blame(p, f), key, "[pool %s] %s is more than "
                       "the kernel allows (fs.nr_open: %llu open files): no "
                       "worker could start", p->name,
                       limit_text(a, sizeof(a), want, unit), ceiling);
    if (getrlimit(resource, &own) < 0 ||
        want <= (unsigned long long)own.rlim_max)
        return 0;
    if (last->ok < 0 || last->resource != resource || last->want != want) {
        last->resource = resource;
        last->want = want;
        last->ok = can_set(resource, want);
    }
    if (last->ok)
        return 0;
    return pc_fail(c, pc_blame(p, f), key, "[pool %s] %s is above this "
                   "process's hard limit (%s), which it may not raise (no "
                   "CAP_SYS_RESOURCE): no worker could set it: give at most that, or raise the "
                   "hard limit where the spawner starts (%s)", p->name,
                   limit_text(a, sizeof(a), want, unit),
                   limit_text(b, sizeof(b), own.rlim_max, unit), raise);
}

int pools_check_limits(struct pools_conf *cfg, char *errbuf, size_t errlen)
{
    struct probe last = { 0, 0, -1 };
    struct ctx c;
    size_t i;

    pc_ctx_init(&c, errbuf, errlen);
    c.cfg = cfg;
    for (i = 0; i < cfg->npools; i++) {
        const struct pools_pool *p = &cfg->pools[i];

        if (check_limit(&c, p, POOLS_F_RLIMIT_FILES, "rlimit_files",
                        RLIMIT_NOFILE, "open files", "LimitNOFILE= of its "
                        "systemd unit, or ulimit -Hn", p->rlimit_files,
                        &last) < 0 ||
            check_limit(&c, p, POOLS_F_RLIMIT_CORE, "rlimit_core",
                        RLIMIT_CORE, "bytes", "LimitCORE= of its systemd "
                        "unit, or ulimit -Hc", p->rlimit_core, &last) < 0)
            return -1;
    }
    return 0;
}

int pools_load_runnable(const char *path, struct pools_conf **cfg,
                        char *errbuf, size_t errlen)
{
    if (pools_load(path, cfg, errbuf, errlen) < 0)
        return -1;
    if (pools_check_limits(*cfg, errbuf, errlen) < 0) {
        pools_free(*cfg);
        *cfg = NULL;
        return -1;
    }
    return 0;
}
