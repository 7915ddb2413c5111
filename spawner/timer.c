/*
 * timer.c - the min-heap behind struct tmr.
 */
#include "timer.h"

#include <stdlib.h>

static void put(struct tmr_heap *h, size_t i, struct tmr *t)
{
    h->v[i] = t;
    t->idx = i;
}

static void sift_up(struct tmr_heap *h, size_t i)
{
    struct tmr *t = h->v[i];

    while (i > 0 && h->v[(i - 1) / 2]->at > t->at) {
        put(h, i, h->v[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    put(h, i, t);
}

static void sift_down(struct tmr_heap *h, size_t i)
{
    struct tmr *t = h->v[i];

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->v[c + 1]->at < h->v[c]->at)
            c++;
        if (h->v[c]->at >= t->at)
            break;
        put(h, i, h->v[c]);
        i = c;
    }
    put(h, i, t);
}

int tmr_set(struct tmr_heap *h, struct tmr *t, int64_t at)
{
    if (t->idx != TMR_OFF) {
        int64_t old = t->at;

        t->at = at;
        if (at < old)
            sift_up(h, t->idx);
        else
            sift_down(h, t->idx);
        return 0;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        struct tmr **v = realloc(h->v, cap * sizeof(*v));

        if (v == NULL)
            return -1;
        h->v = v;
        h->cap = cap;
    }
    t->at = at;
    put(h, h->n++, t);
    sift_up(h, t->idx);
    return 0;
}

void tmr_cancel(struct tmr_heap *h, struct tmr *t)
{
    size_t i = t->idx;
    struct tmr *last;

    if (i == TMR_OFF)
        return;
    t->idx = TMR_OFF;
    last = h->v[--h->n];
    if (i == h->n)
        return;
    put(h, i, last);
    sift_up(h, i);
    sift_down(h, last->idx);
}

struct tmr *tmr_pop_due(struct tmr_heap *h, int64_t now)
{
    struct tmr *t;

    if (h->n == 0 || h->v[0]->at > now)
        return NULL;
    t = h->v[0];
    tmr_cancel(h, t);
    return t;
}

int tmr_wait_ms(const struct tmr_heap *h, int64_t now)
{
    int64_t d;

    if (h->n == 0)
        return -1;
    d = h->v[0]->at - now;
    if (d <= 0)
        return 0;
    return d > 60000 ? 60000 : (int)d;
}

void tmr_heap_free(struct tmr_heap *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
