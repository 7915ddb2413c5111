/*
 * arena.c - the parser's one allocator: chunks freed together by
 * pools_free(), so no error path can leak; and a string table in it.
 */
#include "internal.h"

void *pc_arena_alloc(struct arena *a, size_t n)
{
    struct chunk *ch = a->head;
    size_t size;

    if (n > SIZE_MAX / 4)
        return NULL;
    n = n == 0 ? 16 : ALIGN_UP(n);
    if (ch != NULL && ch->size - ch->used >= n) {
        ch->used += n;
        return (char *)ch + CHUNK_HDR + ch->used - n;
    }
    if (a->next_size == 0)
        a->next_size = CHUNK_FIRST;
    size = n > a->next_size ? n : a->next_size;
    ch = malloc(CHUNK_HDR + size);
    if (ch == NULL)
        return NULL;
    ch->size = size;
    ch->used = n;
    if (n >= a->next_size && a->head != NULL) {
        /* A block of its own: keep filling the current chunk. */
        ch->next = a->head->next;
        a->head->next = ch;
    } else {
        ch->next = a->head;
        a->head = ch;
        if (a->next_size < CHUNK_MAX)
            a->next_size *= 2;
    }
    return (char *)ch + CHUNK_HDR;
}

void *pc_arena_calloc(struct arena *a, size_t count, size_t size)
{
    void *p;

    if (size != 0 && count > SIZE_MAX / 4 / size)
        return NULL;
    p = pc_arena_alloc(a, count * size);
    if (p != NULL)
        memset(p, 0, count * size);
    return p;
}

char *pc_arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = pc_arena_alloc(a, n + 1);

    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void pc_arena_free(struct arena *a)
{
    struct chunk *ch, *next;

    for (ch = a->head; ch != NULL; ch = next) {
        next = ch->next;
        free(ch);
    }
    a->head = NULL;
}

static size_t str_hash(const char *s)
{
    uint64_t h = 14695981039346656037ULL;   /* FNV-1a */

    while (*s != '\0') {
        h ^= (unsigned char)*s++;
        h *= 1099511628211ULL;
    }
    return (size_t)(h ^ (h >> 32));
}

void *pc_strtab_get(const struct strtab *t, const char *key)
{
    size_t i;

    if (t->cap == 0)
        return NULL;
    for (i = str_hash(key) & (t->cap - 1); t->keys[i] != NULL;
         i = (i + 1) & (t->cap - 1))
        if (strcmp(t->keys[i], key) == 0)
            return t->vals[i];
    return NULL;
}

/* Adds a key that is not in the table yet. */
int pc_strtab_put(struct arena *a, struct strtab *t, const char *key,
                  void *val)
{
    size_t i, j;

    if (2 * (t->n + 1) > t->cap) {
        struct strtab bigger = { NULL, NULL, t->cap ? 2 * t->cap : 16, 0 };

        bigger.keys = pc_arena_calloc(a, bigger.cap, sizeof(*bigger.keys));
        bigger.vals = pc_arena_calloc(a, bigger.cap, sizeof(*bigger.vals));
        if (bigger.keys == NULL || bigger.vals == NULL)
            return -1;
        for (j = 0; j < t->cap; j++)
            if (t->keys[j] != NULL)
                (void)pc_strtab_put(a, &bigger, t->keys[j], t->vals[j]);
        *t = bigger;
    }
    for (i = str_hash(key) & (t->cap - 1); t->keys[i] != NULL;
         i = (i + 1) & (t->cap - 1))
        ;
    t->keys[i] = key;
    t->vals[i] = val;
    t->n++;
    return 0;
}

