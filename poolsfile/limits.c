/*
 * limits.c - rlimit_files and rlimit_core checked against what this
 * process may give its workers (part of pools_resolve_ids: it asks the
 * running system, as ids.c does).
 *
 * A worker sets both its soft and hard limit to the pool's value before it
 * drops root (proc.c).  setrlimit(2) refuses with EPERM a hard limit above
 * the caller's own unless it has CAP_SYS_RESOURCE, and an open-file limit
 * above the kernel's fs.nr_open even then.  So a value above them is a
 * pool none of whose workers could ever start: it would only crash-loop
 * at run time.  It is an error here, named by file, line and key, where
 * -t, httpd -t and a reload see it, and a running pool stays as it is.
 *
 * The limits are this process's: the spawner's own when the spawner
 * loads the file, httpd's (whose child the spawner is) when httpd
 * checks it, the shell's under -t by hand.
 */
#include "internal.h"

#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* 1 when this process has CAP_SYS_RESOURCE in its effective set; also
 * when that cannot be told (the spawn will say, as before). */
static int may_raise_hard_limits(void)
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

    if (syscall(SYS_capget, &hdr, data) < 0)
        return 1;
    return (data[CAP_TO_INDEX(CAP_SYS_RESOURCE)].effective
            & CAP_TO_MASK(CAP_SYS_RESOURCE)) != 0;
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
 * limit (and, for files, fs.nr_open).  *may is -1 until first needed. */
static int check_limit(struct ctx *c, const struct pools_pool *p,
                       enum pools_field f, const char *key, int resource,
                       const char *unit, const char *raise, long long value,
                       int *may)
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
    if (*may < 0)
        *may = may_raise_hard_limits();
    if (*may)
        return 0;
    return pc_fail(c, pc_blame(p, f), key, "[pool %s] %s is above this "
                   "process's hard limit (%s) and, without CAP_SYS_RESOURCE, "
                   "no worker could set it: give at most that, or raise the "
                   "hard limit where the spawner starts (%s)", p->name,
                   limit_text(a, sizeof(a), want, unit),
                   limit_text(b, sizeof(b), own.rlim_max, unit), raise);
}

int pc_check_rlimits(struct ctx *c, const struct pools_pool *p, int *may)
{
    if (check_limit(c, p, POOLS_F_RLIMIT_FILES, "rlimit_files", RLIMIT_NOFILE,
                    "open files", "LimitNOFILE= of its systemd unit, or "
                    "ulimit -Hn", p->rlimit_files, may) < 0)
        return -1;
    return check_limit(c, p, POOLS_F_RLIMIT_CORE, "rlimit_core", RLIMIT_CORE,
                       "bytes", "LimitCORE= of its systemd unit, or "
                       "ulimit -Hc", p->rlimit_core, may);
}
