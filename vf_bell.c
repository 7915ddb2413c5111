/*
 * vf_bell.c - a doorbell shared by all httpd processes.
 *
 * A pool's connection slots are counted across processes (vf_conn.c), but
 * its waiting requests are threads of one process each.  When a slot frees
 * in one process while requests wait in another, or when a waiter needs
 * another process to close its idle connections, that other process has to
 * hear of it now, not at its reaper's next round: the bell wakes every
 * process's reaper.
 *
 * On Linux the bell is a futex word in shared memory (anonymous shared
 * mappings are inherited across fork, and a non-private futex works across
 * processes); a ring bumps the word and wakes every sleeper.  Elsewhere the
 * reaper just sleeps its period, which is slower but still correct.
 *
 * A flag is the same thing inside one process: a waiting request sleeps on
 * its own flag until the request that hands it a connection raises it.  No
 * mutex is involved, so the woken thread never blocks again on the lock its
 * waker still holds (a condition variable costs two more futex calls per
 * hand-off, measured).
 */
#include "mod_vhostfcgi.h"

#include "apr_atomic.h"

#ifdef __linux__
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#endif

struct vf_bell {
    volatile apr_uint32_t seq;
};

vf_bell *vf_bell_create(apr_pool_t *pconf)
{
    return vf_shared_alloc(pconf, sizeof(vf_bell));
}

apr_uint32_t vf_bell_seen(const vf_bell *bell)
{
    return apr_atomic_read32(&((vf_bell *)bell)->seq);
}

void vf_bell_ring(vf_bell *bell)
{
    apr_atomic_inc32(&bell->seq);
#ifdef __linux__
    syscall(SYS_futex, &bell->seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
#endif
}

void vf_bell_wait(vf_bell *bell, apr_uint32_t seen, apr_interval_time_t max)
{
#ifdef __linux__
    struct timespec ts;

    ts.tv_sec = apr_time_sec(max);
    ts.tv_nsec = (long)apr_time_usec(max) * 1000;
    /* Returns at once if it rang since `seen` was read: no lost rings. */
    syscall(SYS_futex, &bell->seq, FUTEX_WAIT, seen, &ts, NULL, 0);
#else
    (void)bell;
    (void)seen;
    apr_sleep(max);
#endif
}

void vf_flag_raise(volatile apr_uint32_t *flag)
{
    apr_atomic_set32(flag, 1);
    __sync_synchronize();
#ifdef __linux__
    syscall(SYS_futex, flag, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#endif
}

int vf_flag_wait(volatile apr_uint32_t *flag, apr_time_t deadline)
{
    while (!apr_atomic_read32(flag)) {
        apr_time_t left = deadline - apr_time_now();

        if (left <= 0) {
            return 0;
        }
#ifdef __linux__
        {
            struct timespec ts;

            ts.tv_sec = apr_time_sec(left);
            ts.tv_nsec = (long)apr_time_usec(left) * 1000;
            syscall(SYS_futex, flag, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
        }
#else
        apr_sleep(left < 1000 ? left : 1000);
#endif
    }
    return 1;
}
