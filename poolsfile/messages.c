/*
 * messages.c - errors and warnings as "FILE:LINE: KEY: why", and the
 * "did you mean" of a misspelt key or template.
 */
#include "internal.h"

/* "FILE:LINE: KEY: " then the message.  Returns the length written. */
static int vformat(char *buf, size_t len, const char *file, unsigned line,
                   const char *key, const char *fmt, va_list ap)
{
    int n, m;

    if (buf == NULL || len == 0)
        return 0;
    n = snprintf(buf, len, "%s:%u: %.*s%s: ", file, line, QS(key));
    if (n < 0 || (size_t)n >= len)
        return (int)len - 1;
    m = vsnprintf(buf + n, len - (size_t)n, fmt, ap);
    if (m < 0)
        return n;
    return (size_t)(n + m) >= len ? (int)len - 1 : n + m;
}

int pc_fail(struct ctx *c, unsigned line, const char *key,
            const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vformat(c->err, c->errlen, c->cfg->file, line, key, fmt, ap);
    va_end(ap);
    return -1;
}

int pc_fail_nomem(struct ctx *c, unsigned line, const char *key)
{
    return pc_fail(c, line, key, "out of memory");
}

/* Adds a warning "FILE:LINE: KEY: message" to the configuration. */
int pc_warn(struct ctx *c, unsigned line, const char *key,
            const char *fmt, ...)
{
    struct pools_conf *cfg = c->cfg;
    char buf[512];
    const char **grown, *copy;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vformat(buf, sizeof(buf), cfg->file, line, key, fmt, ap);
    va_end(ap);
    if (cfg->nwarnings == cfg->warnings_cap) {
        size_t cap = cfg->warnings_cap ? 2 * cfg->warnings_cap : 8;

        grown = pc_arena_alloc(&cfg->arena, cap * sizeof(*grown));
        if (grown == NULL)
            return pc_fail_nomem(c, line, key);
        if (cfg->nwarnings > 0)
            memcpy(grown, cfg->warnings, cfg->nwarnings * sizeof(*grown));
        cfg->warnings = grown;
        cfg->warnings_cap = cap;
    }
    copy = pc_arena_strndup(&cfg->arena, buf, (size_t)n);
    if (copy == NULL)
        return pc_fail_nomem(c, line, key);
    cfg->warnings[cfg->nwarnings++] = copy;
    return 0;
}

/* Optimal string alignment distance (edit distance counting a swap of
 * two neighbours as one edit), case-insensitive; for "did you mean". */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i, j;
    size_t r0[POOLS_NAME_MAX + 1], r1[POOLS_NAME_MAX + 1],
           r2[POOLS_NAME_MAX + 1], *pp = r0, *prev = r1, *cur = r2, *t;

    if (la > POOLS_NAME_MAX || lb > POOLS_NAME_MAX)
        return SIZE_MAX;
    for (j = 0; j <= lb; j++)
        prev[j] = j;
    for (i = 1; i <= la; i++) {
        cur[0] = i;
        for (j = 1; j <= lb; j++) {
            int ca = tolower_c(a[i - 1]), cb = tolower_c(b[j - 1]);
            size_t best = prev[j - 1] + (ca != cb);

            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower_c(b[j - 2]) &&
                tolower_c(a[i - 2]) == cb && pp[j - 2] + 1 < best)
                best = pp[j - 2] + 1;
            cur[j] = best;
        }
        t = pp;
        pp = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

/* Keeps the closest candidate so far if it is close enough to be a typo. */
void pc_suggest(const char *wrong, const char *candidate,
                const char **best, size_t *best_d)
{
    size_t d = edit_distance(wrong, candidate);
    size_t limit = strlen(candidate) >= 12 ? 3 : 2;

    if (d <= limit && d < strlen(candidate) && d < *best_d) {
        *best = candidate;
        *best_d = d;
    }
}
