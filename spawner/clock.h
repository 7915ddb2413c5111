/*
 * clock.h - monotonic milliseconds, the one time base of the spawner.
 *
 * Every deadline (timers, backoff, idle and busy clocks) is compared in
 * CLOCK_MONOTONIC milliseconds so that a wall-clock step never retires or
 * kills a worker early.
 */
#ifndef SPAWN_CLOCK_H
#define SPAWN_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif /* SPAWN_CLOCK_H */
