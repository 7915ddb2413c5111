/*
 * timer.h - one-shot timers in a binary min-heap.
 *
 * Each pool embeds one struct tmr and arms it for its next deadline
 * (maintenance tick, end of a demand hold-off, end of a respawn backoff,
 * drain step), so the event loop does O(log pools) work per deadline and
 * none for the pools that have nothing to do: 500 idle ondemand pools
 * arm no timer at all.
 */
#ifndef SPAWN_TIMER_H
#define SPAWN_TIMER_H

#include <stddef.h>
#include <stdint.h>

struct tmr {
    int64_t at;                     /* CLOCK_MONOTONIC ms */
    size_t idx;                     /* position in the heap, or TMR_OFF */
};

#define TMR_OFF ((size_t)-1)

struct tmr_heap {
    struct tmr **v;
    size_t n, cap;
};

static inline void tmr_init(struct tmr *t)
{
    t->at = 0;
    t->idx = TMR_OFF;
}

/* Arms (or moves) t to fire at `at`.  Returns 0, or -1 out of memory. */
int tmr_set(struct tmr_heap *h, struct tmr *t, int64_t at);
void tmr_cancel(struct tmr_heap *h, struct tmr *t);

/* The earliest timer if it is due at `now` (removed from the heap), else
 * NULL. */
struct tmr *tmr_pop_due(struct tmr_heap *h, int64_t now);

/* Milliseconds until the earliest timer (0 if due), -1 if none. */
int tmr_wait_ms(const struct tmr_heap *h, int64_t now);

void tmr_heap_free(struct tmr_heap *h);

#endif /* SPAWN_TIMER_H */
