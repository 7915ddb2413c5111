/*
 * pools_conf.c - parser and validator of the vhostfcgi-spawn pools file.
 *
 * Shape (STYLE items 8 and 9):
 *
 *   1. read     the text is copied once into the arena and cut into lines
 *               in place; a key's value is unquoted in place.  Every key
 *               is looked up in a declarative table (key, typed setter,
 *               offsetof field) and its value checked by that setter right
 *               away when it holds no $pool, so a bad value is reported at
 *               its own line even in a template nobody uses.
 *   2. link     template names become parent pointers; unknown templates
 *               and cycles are reported.
 *   3. resolve  per pool, the entries of its template chain are laid over
 *               the defaults (root template first, the pool itself last),
 *               $pool is expanded, each winning value goes through its
 *               setter into the typed field, and the origin is recorded.
 *   4. check    the values that depend on each other (pm bounds, required
 *               keys) per pool, then across pools (listen collisions,
 *               process.max).
 *
 * Values without $pool are never copied: a pool's string fields point into
 * the arena copy of the file, so 500 pools of one template cost little more
 * than their structs.  Everything is allocated from one arena that
 * pools_free() releases in one go, which is what keeps every error path
 * leak-free.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE                 /* getgrouplist() */
#endif

#include "pools_conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_FILE_SIZE       (16u * 1024 * 1024)
#define MAX_DURATION_MS     (365LL * 24 * 3600 * 1000)
#define MAX_RLIMIT          (1LL << 62)
#define MAX_ID              4294967294ULL   /* (uid_t)-1 is "no id" */
#define SUN_PATH_MAX        (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
#define NAME_MAX_LEN        32              /* useradd's limit */
#define DUMP_COMMENT_COL    40
#define WHY_LEN             320
/* Levels of templates above a section.  Real layouts use two or three; the
 * bound keeps resolution linear in the number of pools. */
#define MAX_TEMPLATE_DEPTH  16

/* ------------------------------------------------------------------ */
/* Arena                                                               */
/* ------------------------------------------------------------------ */

struct chunk {
    struct chunk *next;
    size_t size;                    /* usable bytes after the header */
    size_t used;
};

#define ALIGN_UP(n)     (((n) + 15) & ~(size_t)15)
#define CHUNK_HDR       ALIGN_UP(sizeof(struct chunk))

/* Chunks start small (the fuzzer parses tiny files by the million) and
 * double up to a bound.  The unit test builds a copy with both at 16, so
 * that every allocation is a malloc of its own and can be made to fail. */
#ifndef POOLS_ARENA_FIRST
#define POOLS_ARENA_FIRST   4096
#endif
#ifndef POOLS_ARENA_MAX
#define POOLS_ARENA_MAX     (256 * 1024)
#endif
#define CHUNK_FIRST     POOLS_ARENA_FIRST
#define CHUNK_MAX       POOLS_ARENA_MAX

struct arena {
    struct chunk *head;             /* the chunk being filled */
    size_t next_size;
};

static void *arena_alloc(struct arena *a, size_t n)
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

static void *arena_calloc(struct arena *a, size_t count, size_t size)
{
    void *p;

    if (size != 0 && count > SIZE_MAX / 4 / size)
        return NULL;
    p = arena_alloc(a, count * size);
    if (p != NULL)
        memset(p, 0, count * size);
    return p;
}

static char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);

    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static void arena_free(struct arena *a)
{
    struct chunk *ch, *next;

    for (ch = a->head; ch != NULL; ch = next) {
        next = ch->next;
        free(ch);
    }
    a->head = NULL;
}

/* ------------------------------------------------------------------ */
/* String table: open addressing, arena-backed, keys outlive the table */
/* ------------------------------------------------------------------ */

struct strtab {
    const char **keys;
    void **vals;
    size_t cap;                     /* 0 or a power of two */
    size_t n;
};

static size_t str_hash(const char *s)
{
    uint64_t h = 14695981039346656037ULL;   /* FNV-1a */

    while (*s != '\0') {
        h ^= (unsigned char)*s++;
        h *= 1099511628211ULL;
    }
    return (size_t)(h ^ (h >> 32));
}

static void *strtab_get(const struct strtab *t, const char *key)
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
static int strtab_put(struct arena *a, struct strtab *t, const char *key,
                      void *val)
{
    size_t i, j;

    if (2 * (t->n + 1) > t->cap) {
        struct strtab bigger = { NULL, NULL, t->cap ? 2 * t->cap : 16, 0 };

        bigger.keys = arena_calloc(a, bigger.cap, sizeof(*bigger.keys));
        bigger.vals = arena_calloc(a, bigger.cap, sizeof(*bigger.vals));
        if (bigger.keys == NULL || bigger.vals == NULL)
            return -1;
        for (j = 0; j < t->cap; j++)
            if (t->keys[j] != NULL)
                (void)strtab_put(a, &bigger, t->keys[j], t->vals[j]);
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

/* ------------------------------------------------------------------ */
/* The configuration                                                   */
/* ------------------------------------------------------------------ */

struct keydef;

/* One "key = value" line of a pool section or template. */
struct entry {
    struct entry *next;             /* section order */
    const struct keydef *kd;        /* NULL for env[NAME] */
    const struct section *sec;
    const char *key;                /* as written */
    const char *envname;            /* env[NAME]: NAME */
    const char *value;              /* unquoted */
    unsigned line;
    int has_pool;                   /* value contains "$pool" */
};

struct section {
    struct section *next;           /* file order */
    const char *name;
    unsigned line;
    struct entry *entries;
    struct entry **tail;
    uint64_t seen;                  /* bit per key set, for duplicates */
    int istemplate;
    unsigned istemplate_line;
    const char *template_name;
    unsigned template_line;
    struct section *parent;         /* the template, after linking */
    unsigned walk;                  /* cycle detection: last walk seen in */
    int linked;                     /* chain known to end without cycle */
};

#define SEEN_ISTEMPLATE     62
#define SEEN_TEMPLATE       63

struct pools_conf {
    struct arena arena;
    const char *file;
    struct pools_global global;
    unsigned global_line;           /* the [global] header, 0: none */
    uint64_t global_seen;
    struct section *sections;
    struct section **sections_tail;
    size_t nsections;
    struct strtab section_index;
    struct pools_pool *pools;
    size_t npools;
    struct strtab pool_index;
    const char **warnings;
    size_t nwarnings;
    size_t warnings_cap;
    int ids_resolved;
};

/* One parse or resolve run: where errors go. */
struct ctx {
    struct pools_conf *cfg;
    char *err;
    size_t errlen;
    struct section *cur;            /* pool section being read */
    int in_global;                  /* reading [global] */
    struct strtab env_keys;         /* "SECTION/NAME" -> entry, duplicates */
    struct strtab env_slots;        /* NAME -> index + 1, one pool's merge */
};

/* ------------------------------------------------------------------ */
/* Character classes (locale-independent)                              */
/* ------------------------------------------------------------------ */

static int is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

static int is_alpha(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static int is_space(int ch)
{
    return ch == ' ' || ch == '\t';
}

static int tolower_c(int ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

static int all_digits(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++)
        if (!is_digit((unsigned char)*s))
            return 0;
    return 1;
}

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/* For quoting user text in messages: "'%.*s%s'" with QS(s). */
#define QUOTE_MAX       80
#define QS(s)           qs_len(s), (s), qs_more(s)

static int qs_len(const char *s)
{
    size_t n = strlen(s);

    return n > QUOTE_MAX ? QUOTE_MAX : (int)n;
}

static const char *qs_more(const char *s)
{
    return strlen(s) > QUOTE_MAX ? "..." : "";
}

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

static int fail(struct ctx *c, unsigned line, const char *key,
                const char *fmt, ...)
    PRINTF_LIKE(4, 5);
static int fail(struct ctx *c, unsigned line, const char *key,
                const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vformat(c->err, c->errlen, c->cfg->file, line, key, fmt, ap);
    va_end(ap);
    return -1;
}

static int fail_nomem(struct ctx *c, unsigned line, const char *key)
{
    return fail(c, line, key, "out of memory");
}

/* Adds a warning "FILE:LINE: KEY: message" to the configuration. */
static int warn(struct ctx *c, unsigned line, const char *key,
                const char *fmt, ...)
    PRINTF_LIKE(4, 5);
static int warn(struct ctx *c, unsigned line, const char *key,
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

        grown = arena_alloc(&cfg->arena, cap * sizeof(*grown));
        if (grown == NULL)
            return fail_nomem(c, line, key);
        if (cfg->nwarnings > 0)
            memcpy(grown, cfg->warnings, cfg->nwarnings * sizeof(*grown));
        cfg->warnings = grown;
        cfg->warnings_cap = cap;
    }
    copy = arena_strndup(&cfg->arena, buf, (size_t)n);
    if (copy == NULL)
        return fail_nomem(c, line, key);
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
static void suggest(const char *wrong, const char *candidate,
                    const char **best, size_t *best_d)
{
    size_t d = edit_distance(wrong, candidate);
    size_t limit = strlen(candidate) >= 12 ? 3 : 2;

    if (d <= limit && d < strlen(candidate) && d < *best_d) {
        *best = candidate;
        *best_d = d;
    }
}

/* Section (pool, template) names: [A-Za-z0-9_.-], at most 64, and not
 * starting with '.' or '-': the name ends up in paths ($pool, the default
 * socket) and in argv, where "..", ".x" or "-x" would be a trap. */
static int valid_section_name(const char *s)
{
    size_t n = 0;

    if (!is_alpha((unsigned char)s[0]) && !is_digit((unsigned char)s[0]) &&
        s[0] != '_')
        return 0;
    for (; s[n] != '\0'; n++) {
        int ch = (unsigned char)s[n];

        if (!is_alpha(ch) && !is_digit(ch) && ch != '_' && ch != '.' &&
            ch != '-')
            return 0;
    }
    return n <= POOLS_NAME_MAX;
}

/* env[NAME]: a POSIX shell variable name. */
static int valid_env_name(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || is_digit((unsigned char)s[0]))
        return 0;
    for (i = 0; i < n; i++) {
        int ch = (unsigned char)s[i];

        if (!is_alpha(ch) && !is_digit(ch) && ch != '_')
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* Typed setters: check one value and store it in its field            */
/* ------------------------------------------------------------------ */

#define K_USER          0x1         /* a user name (else a group name) */
#define K_NOT_ROOT      0x2         /* refuse root / 0 */

/* Returns 0, or -1 with why set.  a == NULL: check only, allocate nothing
 * (dst is then scratch). */
typedef int (*setter_fn)(const struct keydef *k, const char *v, void *dst,
                         struct arena *a, char *why, size_t whylen);

struct keydef {
    const char *key;
    int field;
    size_t offset;
    setter_fn set;
    long long min, max;
    unsigned flags;
};

/* Decimal digits only, no sign; -1 on junk or overflow. */
static int parse_ull(const char *s, unsigned long long *out)
{
    unsigned long long v = 0;

    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (!is_digit((unsigned char)*s))
            return -1;
        if (v > (ULLONG_MAX - 9) / 10)
            return -1;
        v = v * 10 + (unsigned)(*s - '0');
    }
    *out = v;
    return 0;
}

static int range_why(const struct keydef *k, const char *v, char *why,
                     size_t whylen)
{
    snprintf(why, whylen, "bad value '%.*s%s': expected a whole number "
             "from %lld to %lld", QS(v), k->min, k->max);
    return -1;
}

static int set_uint(const struct keydef *k, const char *v, void *dst,
                    struct arena *a, char *why, size_t whylen)
{
    unsigned long long n;

    (void)a;
    if (parse_ull(v, &n) < 0 || n < (unsigned long long)k->min ||
        n > (unsigned long long)k->max)
        return range_why(k, v, why, whylen);
    *(unsigned *)dst = (unsigned)n;
    return 0;
}

static int set_path(const struct keydef *k, const char *v, void *dst,
                    struct arena *a, char *why, size_t whylen)
{
    (void)k;
    (void)a;
    if (v[0] != '/' || strlen(v) >= PATH_MAX) {
        snprintf(why, whylen, "bad value '%.*s%s': expected an absolute "
                 "path", QS(v));
        return -1;
    }
    *(const char **)dst = v;
    return 0;
}

/* User and group names: what useradd accepts by default, minus the
 * leading '-'; or a numeric id. */
static int set_name(const struct keydef *k, const char *v, void *dst,
                    struct arena *a, char *why, size_t whylen)
{
    const char *what = k->flags & K_USER ? "user" : "group";
    unsigned long long id = 1;
    size_t i, n = strlen(v);
    int ok = n > 0 && n <= NAME_MAX_LEN && v[0] != '-' && v[0] != '.';

    (void)a;
    for (i = 0; ok && i < n; i++) {
        int ch = (unsigned char)v[i];

        ok = is_alpha(ch) || is_digit(ch) || ch == '_' || ch == '.' ||
             ch == '-' || (ch == '$' && i == n - 1 && i > 0);
    }
    if (ok && all_digits(v))
        ok = parse_ull(v, &id) == 0 && id <= MAX_ID;
    if (!ok) {
        snprintf(why, whylen, "bad value '%.*s%s': expected a %s name "
                 "(letters, digits, '_', '.', '-', at most %d) or a numeric "
                 "id", QS(v), what, NAME_MAX_LEN);
        return -1;
    }
    if ((k->flags & K_NOT_ROOT) &&
        (strcmp(v, "root") == 0 || (all_digits(v) && id == 0))) {
        snprintf(why, whylen, "'%s' is %s root: a pool must not run as "
                 "root", v, what);
        return -1;
    }
    *(const char **)dst = v;
    return 0;
}

/*
 * args: words split on blanks; a double-quoted part keeps blanks and
 * may hold \" and \\ (any other backslash is literal, as in sh's double
 * quotes); quoted and unquoted parts next to each other join into one word.
 * Two passes over the text: count (and check), then fill.
 */
static int split_args(const char *v, char **words, char *store,
                      size_t *nwords, size_t *nbytes)
{
    const char *p = v;
    size_t nw = 0, nb = 0;

    for (;;) {
        int inword = 0, quoted = 0;

        while (is_space((unsigned char)*p))
            p++;
        if (*p == '\0')
            break;
        if (words != NULL)
            words[nw] = store + nb;
        for (; *p != '\0'; p++) {
            if (!quoted && is_space((unsigned char)*p))
                break;
            inword = 1;
            if (*p == '"') {
                quoted = !quoted;
                continue;
            }
            if (quoted && *p == '\\' && (p[1] == '"' || p[1] == '\\'))
                p++;
            if (store != NULL)
                store[nb] = *p;
            nb++;
        }
        if (quoted)
            return -1;
        if (inword) {
            if (store != NULL)
                store[nb] = '\0';
            nb++;
            nw++;
        }
    }
    *nwords = nw;
    *nbytes = nb;
    return 0;
}

static int set_args(const struct keydef *k, const char *v, void *dst,
                    struct arena *a, char *why, size_t whylen)
{
    struct pools_pool *p = (struct pools_pool *)((char *)dst - k->offset);
    size_t nw, nb;
    char **words, *store;

    if (split_args(v, NULL, NULL, &nw, &nb) < 0) {
        snprintf(why, whylen, "bad value '%.*s%s': a double quote is not "
                 "closed (words are split on blanks; \"...\" keeps blanks, "
                 "with \\\" and \\\\ inside)", QS(v));
        return -1;
    }
    if (a == NULL)
        return 0;
    words = arena_alloc(a, (nw + 1) * sizeof(*words));
    store = arena_alloc(a, nb);
    if (words == NULL || store == NULL) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    (void)split_args(v, words, store, &nw, &nb);
    words[nw] = NULL;
    p->args = (const char *const *)words;
    p->nargs = nw;
    return 0;
}

static int parse_port(const char *s, unsigned *port)
{
    unsigned long long n;

    if (parse_ull(s, &n) < 0 || n < 1 || n > 65535)
        return -1;
    *port = (unsigned)n;
    return 0;
}

/* listen: /abs/path.sock | IPv4:PORT | [IPv6]:PORT | localhost:PORT |
 * PORT (127.0.0.1).  Hosts are IP literals: resolving a name would tie
 * startup to DNS, and a listen address is local anyway. */
static int set_listen(const struct keydef *k, const char *v, void *dst,
                      struct arena *a, char *why, size_t whylen)
{
    struct pools_listen l;
    char host[64];
    const char *colon, *h = v, *port;
    size_t hlen;

    (void)k;
    (void)a;
    memset(&l, 0, sizeof(l));
    if (v[0] == '/') {
        if (strlen(v) > SUN_PATH_MAX) {
            snprintf(why, whylen, "socket path '%.*s%s' is too long (%zu "
                     "bytes, at most %zu)", QS(v), strlen(v),
                     (size_t)SUN_PATH_MAX);
            return -1;
        }
        l.kind = POOLS_LISTEN_UNIX;
        l.path = v;
        *(struct pools_listen *)dst = l;
        return 0;
    }
    l.kind = POOLS_LISTEN_TCP;
    if (all_digits(v)) {
        h = "127.0.0.1";
        hlen = strlen(h);
        port = v;
        l.family = AF_INET;
    } else if (v[0] == '[') {
        const char *close = strchr(v, ']');

        if (close == NULL || close[1] != ':')
            goto bad;
        h = v + 1;
        hlen = (size_t)(close - h);
        port = close + 2;
        l.family = AF_INET6;
    } else {
        colon = strrchr(v, ':');
        if (colon == NULL)
            goto bad;
        if (memchr(v, ':', (size_t)(colon - v)) != NULL) {
            snprintf(why, whylen, "bad value '%.*s%s': an IPv6 address "
                     "goes in brackets, as in [::1]:9000", QS(v));
            return -1;
        }
        hlen = (size_t)(colon - v);
        port = colon + 1;
        l.family = AF_INET;
        if (hlen == 9 && strncmp(v, "localhost", 9) == 0) {
            h = "127.0.0.1";
            hlen = 9;
        }
    }
    if (hlen == 0 || hlen >= sizeof(host))
        goto bad;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (inet_pton(l.family, host, l.addr) != 1)
        goto bad;
    if (parse_port(port, &l.port) < 0) {
        snprintf(why, whylen, "bad value '%.*s%s': port '%.*s%s' is not "
                 "from 1 to 65535", QS(v), QS(port));
        return -1;
    }
    if (inet_ntop(l.family, l.addr, l.host, sizeof(l.host)) == NULL)
        goto bad;
    *(struct pools_listen *)dst = l;
    return 0;

bad:
    snprintf(why, whylen, "bad value '%.*s%s': expected an absolute socket "
             "path, IP:PORT, [IPv6]:PORT or PORT (an IP address, not a host "
             "name)", QS(v));
    return -1;
}

static int set_mode(const struct keydef *k, const char *v, void *dst,
                    struct arena *a, char *why, size_t whylen)
{
    unsigned m = 0;
    size_t i, n = strlen(v);

    (void)a;
    for (i = 0; i < n && i < 5 && v[i] >= '0' && v[i] <= '7'; i++)
        m = m * 8 + (unsigned)(v[i] - '0');
    if (n == 0 || i != n || n > 4 || m > (unsigned)k->max) {
        snprintf(why, whylen, "bad value '%.*s%s': expected an octal mode "
                 "such as 0660 (at most 0777)", QS(v));
        return -1;
    }
    *(unsigned *)dst = m;
    return 0;
}

/* Matches v case-insensitively against a NULL-terminated list of words
 * (each one's index is its value); -1 if none. */
static int word_index(const char *v, const char *const *words)
{
    int i;

    for (i = 0; words[i] != NULL; i++)
        if (strcasecmp(v, words[i]) == 0)
            return i;
    return -1;
}

static const char *const bool_words[] = {
    "no", "yes", "off", "on", "false", "true", "0", "1", NULL
};

static int set_bool(const struct keydef *k, const char *v, void *dst,
                    struct arena *a, char *why, size_t whylen)
{
    int i = word_index(v, bool_words);

    (void)k;
    (void)a;
    if (i < 0) {
        snprintf(why, whylen, "bad value '%.*s%s': expected yes or no "
                 "(also on/off, true/false, 1/0)", QS(v));
        return -1;
    }
    *(int *)dst = i % 2;
    return 0;
}

/* In enum pools_pm order. */
static const char *const pm_words[] = { "static", "dynamic", "ondemand",
                                        NULL };

static int set_pm(const struct keydef *k, const char *v, void *dst,
                  struct arena *a, char *why, size_t whylen)
{
    int i = word_index(v, pm_words);

    (void)k;
    (void)a;
    if (i < 0) {
        snprintf(why, whylen, "bad value '%.*s%s': expected static, "
                 "dynamic or ondemand", QS(v));
        return -1;
    }
    *(enum pools_pm *)dst = (enum pools_pm)i;
    return 0;
}

/* In enum pools_log_level order. */
static const char *const log_level_words[] = {
    "error", "warning", "notice", "info", "debug", NULL
};

static int set_log_level(const struct keydef *k, const char *v, void *dst,
                         struct arena *a, char *why, size_t whylen)
{
    int i = word_index(v, log_level_words);

    (void)k;
    (void)a;
    if (i < 0) {
        snprintf(why, whylen, "bad value '%.*s%s': expected error, "
                 "warning, notice, info or debug", QS(v));
        return -1;
    }
    *(enum pools_log_level *)dst = (enum pools_log_level)i;
    return 0;
}

/* Durations: NUMBER[ms|s|m|h|d], a bare number being seconds (as in
 * php-fpm); stored in milliseconds. */
static int set_duration(const struct keydef *k, const char *v, void *dst,
                        struct arena *a, char *why, size_t whylen)
{
    static const struct { const char *suffix; long long ms; } units[] = {
        { "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
        { "h", 3600000 }, { "d", 86400000 }
    };
    char digits[24];
    size_t n = 0, i;
    unsigned long long num;

    (void)a;
    while (is_digit((unsigned char)v[n]))
        n++;
    if (n == 0 || n >= sizeof(digits))
        goto bad;
    memcpy(digits, v, n);
    digits[n] = '\0';
    if (parse_ull(digits, &num) < 0)
        goto bad;
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(v + n, units[i].suffix) != 0)
            continue;
        if (num > (unsigned long long)(MAX_DURATION_MS / units[i].ms)) {
            snprintf(why, whylen, "bad value '%.*s%s': must be at most "
                     "365d", QS(v));
            return -1;
        }
        if ((long long)num * units[i].ms < k->min) {
            snprintf(why, whylen, "bad value '%.*s%s': must be greater "
                     "than 0", QS(v));
            return -1;
        }
        *(long long *)dst = (long long)num * units[i].ms;
        return 0;
    }
bad:
    snprintf(why, whylen, "bad value '%.*s%s': expected a duration such as "
             "30s, 500ms, 10m, 1h or 1d (a bare number is seconds)", QS(v));
    return -1;
}

static int set_rlimit(const struct keydef *k, const char *v, void *dst,
                      struct arena *a, char *why, size_t whylen)
{
    unsigned long long n;

    (void)a;
    if (strcasecmp(v, "unlimited") == 0) {
        *(long long *)dst = POOLS_RLIMIT_UNLIMITED;
        return 0;
    }
    if (parse_ull(v, &n) < 0 || n < (unsigned long long)k->min ||
        n > (unsigned long long)k->max) {
        snprintf(why, whylen, "bad value '%.*s%s': expected a whole number "
                 "from %lld, or unlimited", QS(v), k->min);
        return -1;
    }
    *(long long *)dst = (long long)n;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The keys.  Keep the order of enum pools_field / pools_gfield.       */
/* ------------------------------------------------------------------ */

#define PK(f, key, set, member, min, max, flags) \
    [f] = { key, f, offsetof(struct pools_pool, member), set, min, max, flags }
#define GK(f, key, set, member, min, max) \
    [f] = { key, f, offsetof(struct pools_global, member), set, min, max, 0 }

static const struct keydef pool_keys[POOLS_NFIELDS] = {
    PK(POOLS_F_COMMAND, "command", set_path, command, 0, 0, 0),
    PK(POOLS_F_ARGS, "args", set_args, args, 0, 0, 0),
    PK(POOLS_F_LISTEN, "listen", set_listen, listen, 0, 0, 0),
    PK(POOLS_F_LISTEN_OWNER, "listen.owner", set_name, listen_owner,
       0, 0, K_USER),
    PK(POOLS_F_LISTEN_GROUP, "listen.group", set_name, listen_group,
       0, 0, 0),
    PK(POOLS_F_LISTEN_MODE, "listen.mode", set_mode, listen_mode,
       0, 0777, 0),
    PK(POOLS_F_LISTEN_BACKLOG, "listen.backlog", set_uint, listen_backlog,
       1, 65535, 0),
    PK(POOLS_F_USER, "user", set_name, user, 0, 0, K_USER | K_NOT_ROOT),
    PK(POOLS_F_GROUP, "group", set_name, group, 0, 0, K_NOT_ROOT),
    PK(POOLS_F_CHROOT, "chroot", set_path, chroot, 0, 0, 0),
    PK(POOLS_F_CHDIR, "chdir", set_path, chdir, 0, 0, 0),
    PK(POOLS_F_CLEAR_ENV, "clear_env", set_bool, clear_env, 0, 0, 0),
    PK(POOLS_F_PM, "pm", set_pm, pm, 0, 0, 0),
    PK(POOLS_F_MAX_CHILDREN, "pm.max_children", set_uint, max_children,
       1, 65535, 0),
    PK(POOLS_F_START_SERVERS, "pm.start_servers", set_uint, start_servers,
       1, 65535, 0),
    PK(POOLS_F_MIN_SPARE_SERVERS, "pm.min_spare_servers", set_uint,
       min_spare_servers, 1, 65535, 0),
    PK(POOLS_F_MAX_SPARE_SERVERS, "pm.max_spare_servers", set_uint,
       max_spare_servers, 1, 65535, 0),
    PK(POOLS_F_PROCESS_IDLE_TIMEOUT, "pm.process_idle_timeout",
       set_duration, process_idle_timeout_ms, 1, MAX_DURATION_MS, 0),
    PK(POOLS_F_MAX_REQUESTS, "pm.max_requests", set_uint, max_requests,
       0, UINT_MAX, 0),
    PK(POOLS_F_REQUEST_TERMINATE_TIMEOUT, "request_terminate_timeout",
       set_duration, request_terminate_timeout_ms, 0, MAX_DURATION_MS, 0),
    PK(POOLS_F_RLIMIT_FILES, "rlimit_files", set_rlimit, rlimit_files,
       1, MAX_RLIMIT, 0),
    PK(POOLS_F_RLIMIT_CORE, "rlimit_core", set_rlimit, rlimit_core,
       0, MAX_RLIMIT, 0),
    PK(POOLS_F_CATCH_WORKERS_OUTPUT, "catch_workers_output", set_bool,
       catch_workers_output, 0, 0, 0),
};

static const struct keydef global_keys[POOLS_G_NFIELDS] = {
    GK(POOLS_G_RUN_DIR, "run_dir", set_path, run_dir, 0, 0),
    GK(POOLS_G_ERROR_LOG, "error_log", set_path, error_log, 0, 0),
    GK(POOLS_G_PROCESS_MAX, "process.max", set_uint, process_max,
       0, 4194304),
    GK(POOLS_G_PID, "pid", set_path, pid, 0, 0),
    GK(POOLS_G_LOG_LEVEL, "log_level", set_log_level, log_level, 0, 0),
};

static const struct keydef *find_key(const struct keydef *table, size_t n,
                                     const char *key)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(table[i].key, key) == 0)
            return &table[i];
    return NULL;
}

#define FIND_POOL_KEY(k)    find_key(pool_keys, POOLS_NFIELDS, k)
#define FIND_GLOBAL_KEY(k)  find_key(global_keys, POOLS_G_NFIELDS, k)

const char *pools_field_key(enum pools_field f)
{
    return (unsigned)f < POOLS_NFIELDS ? pool_keys[f].key : NULL;
}

const char *pools_gfield_key(enum pools_gfield f)
{
    return (unsigned)f < POOLS_G_NFIELDS ? global_keys[f].key : NULL;
}

/* Defaults, one line each (STYLE item 8: create marks unset, merge sets
 * the default).  Defaults that depend on other values (listen, the
 * dynamic spares, group) are filled in by finish_pool / resolve_ids. */
static void pool_defaults(struct pools_pool *p)
{
    static const char *const no_args[] = { NULL };

    memset(p, 0, sizeof(*p));
    p->args = no_args;
    p->listen_mode = 0660;
    p->listen_backlog = 511;
    p->chdir = "/";
    p->clear_env = 1;
    p->pm = POOLS_PM_ONDEMAND;
    p->max_children = 5;
    p->process_idle_timeout_ms = 10000;
    p->rlimit_files = POOLS_RLIMIT_UNSET;
    p->rlimit_core = POOLS_RLIMIT_UNSET;
    p->catch_workers_output = 1;
    p->uid = (uid_t)-1;
    p->gid = (gid_t)-1;
    p->listen_uid = (uid_t)-1;
    p->listen_gid = (gid_t)-1;
}

static void global_defaults(struct pools_global *g)
{
    memset(g, 0, sizeof(*g));
    g->run_dir = POOLS_DEFAULT_RUN_DIR;
    g->log_level = POOLS_LOG_NOTICE;
}

/* ------------------------------------------------------------------ */
/* Step 1: reading lines                                               */
/* ------------------------------------------------------------------ */

static char *skip_space(char *s)
{
    while (is_space((unsigned char)*s))
        s++;
    return s;
}

static void trim_end(char *s)
{
    size_t n = strlen(s);

    while (n > 0 && is_space((unsigned char)s[n - 1]))
        s[--n] = '\0';
}

/* The first word of a line, for messages about lines that have no key. */
static const char *first_word(struct ctx *c, const char *s)
{
    size_t n = 0;
    const char *w;

    while (s[n] != '\0' && !is_space((unsigned char)s[n]) && n < QUOTE_MAX)
        n++;
    w = arena_strndup(&c->cfg->arena, s, n);
    return w != NULL ? w : "?";
}

static int parse_section(struct ctx *c, char *s, unsigned line)
{
    struct pools_conf *cfg = c->cfg;
    struct section *sec, *dup;
    char *close = strchr(s, ']'), *name, *rest;

    if (close == NULL)
        return fail(c, line, first_word(c, s), "section header without "
                    "']' (expected [NAME])");
    rest = skip_space(close + 1);
    if (*rest != '\0' && *rest != ';' && *rest != '#')
        return fail(c, line, first_word(c, s), "text after the section "
                    "header (expected [NAME], then nothing or a comment)");
    *close = '\0';
    name = skip_space(s + 1);
    trim_end(name);
    if (strcmp(name, "global") == 0) {
        if (cfg->global_line != 0)
            return fail(c, line, name, "duplicate section (first at line "
                        "%u)", cfg->global_line);
        cfg->global_line = line;
        c->in_global = 1;
        c->cur = NULL;
        return 0;
    }
    if (!valid_section_name(name))
        return fail(c, line, name[0] ? name : "[]", "bad section name "
                    "(letters, digits, '_', '.', '-', at most %d, starting "
                    "with a letter, digit or '_')", POOLS_NAME_MAX);
    if (strcasecmp(name, "global") == 0)
        return fail(c, line, name, "section name reserved (did you mean "
                    "[global]?)");
    dup = strtab_get(&cfg->section_index, name);
    if (dup != NULL)
        return fail(c, line, name, "duplicate section (first at line %u)",
                    dup->line);
    sec = arena_calloc(&cfg->arena, 1, sizeof(*sec));
    if (sec == NULL ||
        strtab_put(&cfg->arena, &cfg->section_index, name, sec) < 0)
        return fail_nomem(c, line, name);
    sec->name = name;
    sec->line = line;
    sec->tail = &sec->entries;
    *cfg->sections_tail = sec;
    cfg->sections_tail = &sec->next;
    cfg->nsections++;
    c->cur = sec;
    c->in_global = 0;
    return 0;
}

/* Value after '=': a double-quoted string (\" and \\ inside) or bare text
 * up to a ';' that starts the value or follows a blank, trimmed.  Unquoted
 * in place; *out points into s. */
static int parse_value(struct ctx *c, char *s, unsigned line, const char *key,
                       char **out)
{
    char *r, *w;

    s = skip_space(s);
    if (*s != '"') {
        for (r = s; *r != '\0'; r++)
            if (*r == ';' && (r == s || is_space((unsigned char)r[-1]))) {
                *r = '\0';
                break;
            }
        trim_end(s);
        *out = s;
        return 0;
    }
    for (r = s + 1, w = s; *r != '"'; r++, w++) {
        if (*r == '\0')
            return fail(c, line, key, "a double quote is not closed");
        if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
            r++;
        *w = *r;
    }
    r = skip_space(r + 1);
    if (*r != '\0' && *r != ';')
        return fail(c, line, key, "text after the closing quote (only a "
                    "'; comment' may follow)");
    *w = '\0';
    *out = s;
    return 0;
}

/* The earliest line in sec that set key (for "first set at line N"). */
static unsigned first_line_of(const struct section *sec, const char *key)
{
    const struct entry *e;

    if (strcmp(key, "istemplate") == 0)
        return sec->istemplate_line;
    if (strcmp(key, "template") == 0)
        return sec->template_line;
    for (e = sec->entries; e != NULL; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e->line;
    return 0;
}

static int unknown_key(struct ctx *c, unsigned line, const char *key,
                       int global)
{
    const struct keydef *table = global ? global_keys : pool_keys;
    size_t n = global ? POOLS_G_NFIELDS : POOLS_NFIELDS, i;
    const char *best = NULL;
    size_t best_d = SIZE_MAX;

    if (global && (FIND_POOL_KEY(key) || strncmp(key, "env[", 4) == 0 ||
                   strcmp(key, "istemplate") == 0 ||
                   strcmp(key, "template") == 0))
        return fail(c, line, key, "a pool key, not valid in [global]");
    if (!global && FIND_GLOBAL_KEY(key))
        return fail(c, line, key, "a [global] key, not valid in a pool "
                    "section");
    if (strcmp(key, "include") == 0)
        return fail(c, line, key, "not supported: every section goes in "
                    "this one file");
    if (strncmp(key, "php_value[", 10) == 0 ||
        strncmp(key, "php_admin_value[", 16) == 0 ||
        strncmp(key, "php_flag[", 9) == 0 ||
        strncmp(key, "php_admin_flag[", 15) == 0)
        return fail(c, line, key, "unknown key (PHP settings go in args, "
                    "as -d NAME=VALUE)");
    for (i = 0; i < n; i++)
        suggest(key, table[i].key, &best, &best_d);
    if (!global) {
        suggest(key, "istemplate", &best, &best_d);
        suggest(key, "template", &best, &best_d);
    }
    if (best != NULL)
        return fail(c, line, key, "unknown key (did you mean '%s'?)", best);
    return fail(c, line, key, "unknown key");
}

static int add_global(struct ctx *c, const char *key, const char *value,
                      unsigned line)
{
    struct pools_global *g = &c->cfg->global;
    const struct keydef *kd = FIND_GLOBAL_KEY(key);
    char why[WHY_LEN];

    if (kd == NULL)
        return unknown_key(c, line, key, 1);
    if (c->cfg->global_seen & (1ULL << kd->field))
        return fail(c, line, key, "duplicate key (first set at line %u)",
                    g->origin[kd->field].line);
    c->cfg->global_seen |= 1ULL << kd->field;
    if (strstr(value, "$pool") != NULL)
        return fail(c, line, key, "$pool has no meaning in [global]");
    if (kd->set(kd, value, (char *)g + kd->offset, &c->cfg->arena, why,
                sizeof(why)) < 0)
        return fail(c, line, key, "%s", why);
    g->origin[kd->field].file = c->cfg->file;
    g->origin[kd->field].section = "global";
    g->origin[kd->field].line = line;
    return 0;
}

static int add_section_key(struct ctx *c, struct section *sec,
                           const char *key, const char *value, unsigned line)
{
    int bit = strcmp(key, "template") == 0 ? SEEN_TEMPLATE : SEEN_ISTEMPLATE;
    char why[WHY_LEN];
    int is;

    if (sec->seen & (1ULL << bit))
        return fail(c, line, key, "duplicate key (first set at line %u)",
                    first_line_of(sec, key));
    sec->seen |= 1ULL << bit;
    if (bit == SEEN_ISTEMPLATE) {
        if (set_bool(NULL, value, &is, NULL, why, sizeof(why)) < 0)
            return fail(c, line, key, "%s", why);
        sec->istemplate = is;
        sec->istemplate_line = line;
        return 0;
    }
    if (!valid_section_name(value) && strcmp(value, "global") != 0)
        return fail(c, line, key, "bad value '%.*s%s': expected the name "
                    "of another section", QS(value));
    sec->template_name = value;
    sec->template_line = line;
    return 0;
}

static int add_entry(struct ctx *c, char *key, char *value, unsigned line)
{
    struct section *sec = c->cur;
    const struct keydef *kd = NULL;
    const char *envname = NULL;
    char *envkey = NULL;
    struct pools_pool scratch;
    struct entry *e;
    char why[WHY_LEN];
    size_t klen = strlen(key);

    if (c->in_global)
        return add_global(c, key, value, line);
    if (sec == NULL)
        return fail(c, line, key, "key outside any section (start with "
                    "[global] or [POOLNAME])");
    if (strcmp(key, "istemplate") == 0 || strcmp(key, "template") == 0)
        return add_section_key(c, sec, key, value, line);
    if (strncmp(key, "env[", 4) == 0) {
        if (klen < 6 || key[klen - 1] != ']' ||
            !valid_env_name(key + 4, klen - 5))
            return fail(c, line, key, "bad environment variable name "
                        "(env[NAME], NAME of letters, digits and '_', not "
                        "starting with a digit)");
        /* Hashed, as a section may hold any number of env[] lines: the
         * key "SECTION/NAME" cannot collide ('/' is in neither). */
        size_t slen = strlen(sec->name);

        envkey = arena_alloc(&c->cfg->arena, slen + klen - 3);
        if (envkey == NULL)
            return fail_nomem(c, line, key);
        memcpy(envkey, sec->name, slen);
        envkey[slen] = '/';
        memcpy(envkey + slen + 1, key + 4, klen - 5);
        envkey[slen + klen - 4] = '\0';
        envname = envkey + slen + 1;
        if ((e = strtab_get(&c->env_keys, envkey)) != NULL)
            return fail(c, line, key, "duplicate key (first set at line "
                        "%u)", e->line);
    } else {
        kd = FIND_POOL_KEY(key);
        if (kd == NULL)
            return unknown_key(c, line, key, 0);
        if (sec->seen & (1ULL << kd->field))
            return fail(c, line, key, "duplicate key (first set at line "
                        "%u)", first_line_of(sec, key));
        sec->seen |= 1ULL << kd->field;
    }
    e = arena_calloc(&c->cfg->arena, 1, sizeof(*e));
    if (e == NULL)
        return fail_nomem(c, line, key);
    e->kd = kd;
    e->sec = sec;
    e->key = key;
    e->envname = envname;
    e->value = value;
    e->line = line;
    e->has_pool = strstr(value, "$pool") != NULL;
    *sec->tail = e;
    sec->tail = &e->next;
    if (envkey != NULL && strtab_put(&c->cfg->arena, &c->env_keys, envkey,
                                     e) < 0)
        return fail_nomem(c, line, key);
    if (kd == NULL || e->has_pool)
        return 0;           /* env values are free text; $pool: per pool */
    if (kd->set(kd, value, (char *)&scratch + kd->offset, NULL, why,
                sizeof(why)) < 0)
        return fail(c, line, key, "%s", why);
    if (kd->field == POOLS_F_LISTEN_MODE && (scratch.listen_mode & 02))
        return warn(c, line, key, "%04o is world-writable: any local user "
                    "can talk to the pool directly", scratch.listen_mode);
    return 0;
}

static int parse_keyval(struct ctx *c, char *s, unsigned line)
{
    char *eq = strchr(s, '='), *key, *value = NULL, *p;

    if (eq == NULL)
        return fail(c, line, first_word(c, s), "expected 'key = value' or "
                    "'[section]'");
    *eq = '\0';
    key = s;
    trim_end(key);
    if (*key == '\0')
        return fail(c, line, "=", "missing key before '='");
    for (p = key; *p != '\0'; p++)
        if (is_space((unsigned char)*p))
            return fail(c, line, key, "a key has no blanks (expected "
                        "'key = value')");
    if (parse_value(c, eq + 1, line, key, &value) < 0)
        return -1;
    return add_entry(c, key, value, line);
}

/* Only tab among the control characters; a CR ends a line (CRLF files). */
static int check_line_chars(struct ctx *c, const char *s, size_t n,
                            unsigned line)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned ch = (unsigned char)s[i];

        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return fail(c, line, "syntax", "control character 0x%02x (only "
                        "tab is allowed)", ch);
    }
    return 0;
}

static int parse_text(struct ctx *c, char *text, size_t len)
{
    char *p = text, *end = text + len, *eol, *s;
    unsigned line = 0;
    size_t n;

    if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
        p += 3;                     /* UTF-8 byte order mark */
    for (; p < end; p = eol + 1) {
        if (line == UINT_MAX)
            return fail(c, line, "syntax", "too many lines");
        line++;
        eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;              /* text[len] is writable */
        n = (size_t)(eol - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (check_line_chars(c, p, n, line) < 0)
            return -1;
        p[n] = '\0';
        s = skip_space(p);
        if (*s == '\0' || *s == ';' || *s == '#')
            continue;
        if ((*s == '[' ? parse_section(c, s, line)
                       : parse_keyval(c, s, line)) < 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Step 2: linking templates                                           */
/* ------------------------------------------------------------------ */

static int template_cycle(struct ctx *c, struct section *start)
{
    char chain[512];
    size_t n = 0;
    const struct section *t = start;
    int w;

    do {
        w = snprintf(chain + n, sizeof(chain) - n, "%s -> ", t->name);
        if (w < 0 || (size_t)w >= sizeof(chain) - n - 8) {
            n += (size_t)snprintf(chain + n, sizeof(chain) - n, "... -> ");
            break;
        }
        n += (size_t)w;
        t = t->parent;
    } while (t != start);
    snprintf(chain + n, sizeof(chain) - n, "%s", start->name);
    return fail(c, start->template_line, "template", "template cycle: %s",
                chain);
}

static int link_templates(struct ctx *c)
{
    struct pools_conf *cfg = c->cfg;
    struct section *s, *t;
    unsigned walk = 0;

    for (s = cfg->sections; s != NULL; s = s->next) {
        const char *best = NULL;
        size_t best_d = SIZE_MAX;

        if (s->template_name == NULL)
            continue;
        s->parent = strtab_get(&cfg->section_index, s->template_name);
        if (s->parent != NULL)
            continue;
        if (strcmp(s->template_name, "global") == 0)
            return fail(c, s->template_line, "template", "[global] is not "
                        "a template");
        for (t = cfg->sections; t != NULL; t = t->next)
            if (t != s)
                suggest(s->template_name, t->name, &best, &best_d);
        if (best != NULL)
            return fail(c, s->template_line, "template", "unknown template "
                        "'%s' (did you mean '%s'?)", s->template_name, best);
        return fail(c, s->template_line, "template", "unknown template "
                    "'%s'", s->template_name);
    }
    /* Each walk marks the sections it passes; meeting its own mark again
     * is a cycle, meeting a linked section means the rest is fine. */
    for (s = cfg->sections; s != NULL; s = s->next) {
        walk++;
        for (t = s; t != NULL && !t->linked; t = t->parent) {
            if (t->walk == walk)
                return template_cycle(c, t);
            t->walk = walk;
        }
        for (t = s; t != NULL && !t->linked; t = t->parent)
            t->linked = 1;
    }
    for (s = cfg->sections; s != NULL; s = s->next) {
        unsigned depth = 0;

        for (t = s->parent; t != NULL; t = t->parent)
            if (++depth > MAX_TEMPLATE_DEPTH)
                return fail(c, s->template_line, "template", "[%s] more "
                            "than %d levels of templates", s->name,
                            MAX_TEMPLATE_DEPTH);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Step 3: resolving pools                                             */
/* ------------------------------------------------------------------ */

/* value with every "$pool" replaced by name; NULL when out of memory. */
static const char *expand(struct arena *a, const char *value,
                          const char *name)
{
    size_t k = 0, nlen = strlen(name), vlen = strlen(value);
    const char *p, *hit;
    char *out, *w;

    for (p = value; (hit = strstr(p, "$pool")) != NULL; p = hit + 5)
        k++;
    out = arena_alloc(a, vlen - 5 * k + nlen * k + 1);
    if (out == NULL)
        return NULL;
    for (p = value, w = out; (hit = strstr(p, "$pool")) != NULL;
         p = hit + 5) {
        memcpy(w, p, (size_t)(hit - p));
        w += hit - p;
        memcpy(w, name, nlen);
        w += nlen;
    }
    strcpy(w, p);
    return out;
}

static struct pools_origin origin_of(const struct pools_conf *cfg,
                                     const struct entry *e)
{
    struct pools_origin o;

    o.file = cfg->file;
    o.section = e->sec->name;
    o.line = e->line;
    return o;
}

static int apply_entry(struct ctx *c, struct pools_pool *p,
                       const struct entry *e)
{
    struct arena *a = &c->cfg->arena;
    const char *v = e->value;
    char why[WHY_LEN];

    if (e->has_pool && (v = expand(a, v, p->name)) == NULL)
        return fail_nomem(c, e->line, e->key);
    if (e->kd->set(e->kd, v, (char *)p + e->kd->offset, a, why,
                   sizeof(why)) < 0)
        return fail(c, e->line, e->key, "[pool %s] %s", p->name, why);
    p->origin[e->kd->field] = origin_of(c->cfg, e);
    return 0;
}

/* env[] over the chain, root template first: a name set again further
 * down replaces the value in place, a new name is appended.  Names are
 * found through c->env_slots, emptied for each pool and reused. */
static int merge_env(struct ctx *c, struct pools_pool *p,
                     struct section *const *chain, size_t depth,
                     size_t max)
{
    struct pools_env *env = arena_alloc(&c->cfg->arena, max * sizeof(*env));
    struct strtab *slots = &c->env_slots;
    const struct entry *e;
    size_t i, j, n = 0;

    if (env == NULL)
        return fail_nomem(c, chain[0]->line, chain[0]->name);
    if (slots->n > 0) {
        memset(slots->keys, 0, slots->cap * sizeof(*slots->keys));
        slots->n = 0;
    }
    for (i = depth; i-- > 0;)
        for (e = chain[i]->entries; e != NULL; e = e->next) {
            const char *v = e->value;

            if (e->envname == NULL)
                continue;
            if (e->has_pool &&
                (v = expand(&c->cfg->arena, v, p->name)) == NULL)
                return fail_nomem(c, e->line, e->key);
            j = (size_t)(uintptr_t)strtab_get(slots, e->envname);
            if (j == 0) {
                if (strtab_put(&c->cfg->arena, slots, e->envname,
                               (void *)(uintptr_t)(n + 1)) < 0)
                    return fail_nomem(c, e->line, e->key);
                j = ++n;
            }
            env[j - 1].name = e->envname;
            env[j - 1].value = v;
            env[j - 1].origin = origin_of(c->cfg, e);
        }
    p->env = env;
    p->nenv = n;
    return 0;
}

/* The line to blame for a value: where it was set, else the pool's
 * header (a default is the pool's own doing). */
static unsigned blame(const struct pools_pool *p, enum pools_field f)
{
    return p->origin[f].line != 0 ? p->origin[f].line : p->header.line;
}

static int default_listen(struct ctx *c, struct pools_pool *p)
{
    const char *dir = c->cfg->global.run_dir;
    size_t dlen = strlen(dir), nlen = strlen(p->name);
    char *path;

    while (dlen > 1 && dir[dlen - 1] == '/')
        dlen--;
    path = arena_alloc(&c->cfg->arena, dlen + nlen + 7);
    if (path == NULL)
        return fail_nomem(c, p->header.line, "listen");
    memcpy(path, dir, dlen);
    path[dlen] = '/';
    memcpy(path + dlen + (dir[dlen - 1] != '/'), p->name, nlen);
    strcpy(path + dlen + (dir[dlen - 1] != '/') + nlen, ".sock");
    if (strlen(path) > SUN_PATH_MAX)
        return fail(c, p->header.line, "listen", "[pool %s] the default "
                    "socket path '%.*s%s' is too long (%zu bytes, at most "
                    "%zu): set listen, or a shorter run_dir", p->name,
                    QS(path), strlen(path), (size_t)SUN_PATH_MAX);
    p->listen.kind = POOLS_LISTEN_UNIX;
    p->listen.path = path;
    return 0;
}

/* pm = dynamic: spare bounds, defaulting as php-fpm's shipped www.conf
 * (min 1, max 3 but at least min, never over max_children, start halfway),
 * then checked as in fpm_conf.c: each bound against max_children first,
 * so a defaulted bound is never the one blamed. */
static int check_dynamic(struct ctx *c, struct pools_pool *p)
{
    unsigned mc = p->max_children;

    if (p->origin[POOLS_F_MIN_SPARE_SERVERS].line == 0)
        p->min_spare_servers = 1;
    if (p->origin[POOLS_F_MAX_SPARE_SERVERS].line == 0) {
        unsigned m = p->min_spare_servers > 3 ? p->min_spare_servers : 3;

        p->max_spare_servers = m < mc ? m : mc;
    }
    if (p->min_spare_servers > mc)
        return fail(c, blame(p, POOLS_F_MIN_SPARE_SERVERS),
                    "pm.min_spare_servers", "[pool %s] "
                    "pm.min_spare_servers(%u) must not be greater than "
                    "pm.max_children(%u)", p->name, p->min_spare_servers, mc);
    if (p->max_spare_servers > mc)
        return fail(c, blame(p, POOLS_F_MAX_SPARE_SERVERS),
                    "pm.max_spare_servers", "[pool %s] "
                    "pm.max_spare_servers(%u) must not be greater than "
                    "pm.max_children(%u)", p->name, p->max_spare_servers, mc);
    if (p->min_spare_servers > p->max_spare_servers)
        return fail(c, blame(p, POOLS_F_MIN_SPARE_SERVERS),
                    "pm.min_spare_servers", "[pool %s] "
                    "pm.min_spare_servers(%u) must not be greater than "
                    "pm.max_spare_servers(%u)", p->name,
                    p->min_spare_servers, p->max_spare_servers);
    if (p->origin[POOLS_F_START_SERVERS].line == 0)
        p->start_servers = p->min_spare_servers +
            (p->max_spare_servers - p->min_spare_servers) / 2;
    if (p->start_servers < p->min_spare_servers ||
        p->start_servers > p->max_spare_servers)
        return fail(c, blame(p, POOLS_F_START_SERVERS), "pm.start_servers",
                    "[pool %s] pm.start_servers(%u) must be from "
                    "pm.min_spare_servers(%u) to pm.max_spare_servers(%u)",
                    p->name, p->start_servers, p->min_spare_servers,
                    p->max_spare_servers);
    return 0;
}

/* Settings for dynamic only, set in this very pool while pm is not
 * dynamic: say so once (a template's are silently unused). */
static int warn_unused_spares(struct ctx *c, const struct pools_pool *p)
{
    static const enum pools_field spares[] = {
        POOLS_F_START_SERVERS, POOLS_F_MIN_SPARE_SERVERS,
        POOLS_F_MAX_SPARE_SERVERS
    };
    size_t i;

    for (i = 0; i < sizeof(spares) / sizeof(spares[0]); i++) {
        const struct pools_origin *o = &p->origin[spares[i]];

        if (o->line != 0 && strcmp(o->section, p->name) == 0 &&
            warn(c, o->line, pools_field_key(spares[i]), "[pool %s] ignored: "
                 "pm is %s, not dynamic", p->name, pm_words[p->pm]) < 0)
            return -1;
    }
    return 0;
}

static int finish_pool(struct ctx *c, struct pools_pool *p)
{
    unsigned pmax = c->cfg->global.process_max;

    if (p->command == NULL)
        return fail(c, p->header.line, "command", "[pool %s] missing "
                    "required key: the FastCGI program to run (set it in "
                    "the pool or its template)", p->name);
    if (p->user == NULL)
        return fail(c, p->header.line, "user", "[pool %s] missing required "
                    "key: the user its workers run as (set it in the pool "
                    "or its template)", p->name);
    if (p->origin[POOLS_F_LISTEN].line == 0 && default_listen(c, p) < 0)
        return -1;
    if (pmax != 0 && p->max_children > pmax)
        return fail(c, blame(p, POOLS_F_MAX_CHILDREN), "pm.max_children",
                    "[pool %s] pm.max_children(%u) must not be greater than "
                    "process.max(%u)", p->name, p->max_children, pmax);
    if (p->pm == POOLS_PM_DYNAMIC)
        return check_dynamic(c, p);
    return warn_unused_spares(c, p);
}

static int resolve_pool(struct ctx *c, struct section *s,
                        struct pools_pool *p, struct section **chain)
{
    const struct entry *slot[POOLS_NFIELDS] = { NULL };
    const struct entry *e;
    size_t depth = 0, nenv = 0, i;
    struct section *t;

    pool_defaults(p);
    p->name = s->name;
    p->header.file = c->cfg->file;
    p->header.section = s->name;
    p->header.line = s->line;
    for (t = s; t != NULL; t = t->parent)
        chain[depth++] = t;
    for (i = depth; i-- > 0;)
        for (e = chain[i]->entries; e != NULL; e = e->next) {
            if (e->kd != NULL)
                slot[e->kd->field] = e;
            else
                nenv++;
        }
    if (nenv > 0 && merge_env(c, p, chain, depth, nenv) < 0)
        return -1;
    for (i = 0; i < POOLS_NFIELDS; i++)
        if (slot[i] != NULL && apply_entry(c, p, slot[i]) < 0)
            return -1;
    return finish_pool(c, p);
}

static int resolve_pools(struct ctx *c)
{
    struct pools_conf *cfg = c->cfg;
    struct section **chain, *s;
    size_t n = 0;

    for (s = cfg->sections; s != NULL; s = s->next)
        n += !s->istemplate;
    chain = arena_alloc(&cfg->arena, (cfg->nsections + 1) * sizeof(*chain));
    cfg->pools = arena_calloc(&cfg->arena, n + 1, sizeof(*cfg->pools));
    if (chain == NULL || cfg->pools == NULL)
        return fail(c, 0, "pools", "out of memory");
    for (s = cfg->sections; s != NULL; s = s->next) {
        struct pools_pool *p = &cfg->pools[cfg->npools];

        if (s->istemplate)
            continue;
        if (resolve_pool(c, s, p, chain) < 0)
            return -1;
        if (strtab_put(&cfg->arena, &cfg->pool_index, p->name, p) < 0)
            return fail_nomem(c, s->line, s->name);
        cfg->npools++;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Step 4: checks across pools                                         */
/* ------------------------------------------------------------------ */

/* Unix paths compare with runs of '/' as one (/run//x.sock is
 * /run/x.sock): writes the canonical form. */
static void canonical_path(char *out, const char *path)
{
    for (; *path != '\0'; path++)
        if (!(*path == '/' && path[1] == '/'))
            *out++ = *path;
    *out = '\0';
}

static int addr_is_any(const struct pools_listen *l)
{
    static const unsigned char zero[16];

    return memcmp(l->addr, zero, l->family == AF_INET6 ? 16 : 4) == 0;
}

/*
 * Two pools on one socket: the same Unix path, or the same TCP port with
 * addresses that overlap in bind(): equal, or a wildcard of the same
 * family on either side, or [::] against any IPv4 address (a [::] socket
 * is dual-stack with IPV6_V6ONLY off, the Linux default and what php-fpm
 * sets).  Either way the second bind() fails with EADDRINUSE.
 */
struct port_use {
    struct port_use *next;          /* other pools on the same port */
    const struct pools_pool *pool;
};

static int tcp_overlap(const struct pools_listen *a,
                       const struct pools_listen *b)
{
    if (a->family == b->family)
        return addr_is_any(a) || addr_is_any(b) ||
               memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
    return addr_is_any(a->family == AF_INET6 ? a : b);
}

static int listen_collision(struct ctx *c, const struct pools_pool *a,
                            const struct pools_pool *b)
{
    char where[PATH_MAX + 64];

    if (b->listen.kind == POOLS_LISTEN_UNIX)
        snprintf(where, sizeof(where), "%s", b->listen.path);
    else if (a->listen.family == b->listen.family &&
             strcmp(a->listen.host, b->listen.host) == 0)
        snprintf(where, sizeof(where), b->listen.family == AF_INET6 ?
                 "[%s]:%u" : "%s:%u", b->listen.host, b->listen.port);
    else
        snprintf(where, sizeof(where), "port %u (%s%s%s and %s%s%s "
                 "overlap)", b->listen.port,
                 a->listen.family == AF_INET6 ? "[" : "", a->listen.host,
                 a->listen.family == AF_INET6 ? "]" : "",
                 b->listen.family == AF_INET6 ? "[" : "", b->listen.host,
                 b->listen.family == AF_INET6 ? "]" : "");
    return fail(c, blame(b, POOLS_F_LISTEN), "listen", "pools %s and %s "
                "both listen on %s", a->name, b->name, where);
}

/* One pass in file order, so the later pool of a pair is blamed. */
static int check_listen(struct ctx *c)
{
    struct pools_conf *cfg = c->cfg;
    struct strtab paths = { NULL, NULL, 0, 0 }, ports = paths;
    char key[SUN_PATH_MAX + 8], *copy;
    size_t i;

    for (i = 0; i < cfg->npools; i++) {
        const struct pools_pool *p = &cfg->pools[i];
        struct port_use *head, *u;

        if (p->listen.kind == POOLS_LISTEN_UNIX) {
            canonical_path(key, p->listen.path);
            if ((head = strtab_get(&paths, key)) != NULL)
                return listen_collision(c, head->pool, p);
        } else {
            snprintf(key, sizeof(key), "%u", p->listen.port);
            head = strtab_get(&ports, key);
            for (u = head; u != NULL; u = u->next)
                if (tcp_overlap(&u->pool->listen, &p->listen))
                    return listen_collision(c, u->pool, p);
        }
        u = arena_calloc(&cfg->arena, 1, sizeof(*u));
        if (u == NULL)
            return fail_nomem(c, p->header.line, "listen");
        u->pool = p;
        if (head != NULL) {         /* a port already in use: chain */
            u->next = head->next;
            head->next = u;
            continue;
        }
        copy = arena_strndup(&cfg->arena, key, strlen(key));
        if (copy == NULL ||
            strtab_put(&cfg->arena, p->listen.kind == POOLS_LISTEN_UNIX ?
                       &paths : &ports, copy, u) < 0)
            return fail_nomem(c, p->header.line, "listen");
    }
    return 0;
}

/* Static pools start all their workers at once, so together they must
 * fit in process.max (php-fpm checks each pool against it too). */
static int check_process_max(struct ctx *c)
{
    const struct pools_conf *cfg = c->cfg;
    unsigned long long sum = 0;
    size_t i;

    if (cfg->global.process_max == 0)
        return 0;
    for (i = 0; i < cfg->npools; i++)
        if (cfg->pools[i].pm == POOLS_PM_STATIC)
            sum += cfg->pools[i].max_children;
    if (sum > cfg->global.process_max)
        return fail(c, cfg->global.origin[POOLS_G_PROCESS_MAX].line,
                    "process.max", "the static pools need %llu workers "
                    "together (their pm.max_children), more than "
                    "process.max(%u)", sum, cfg->global.process_max);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Entry points                                                        */
/* ------------------------------------------------------------------ */

static struct pools_conf *conf_new(const char *file)
{
    struct pools_conf *cfg = calloc(1, sizeof(*cfg));

    if (cfg == NULL)
        return NULL;
    cfg->file = arena_strndup(&cfg->arena, file, strlen(file));
    if (cfg->file == NULL) {
        free(cfg);
        return NULL;
    }
    cfg->sections_tail = &cfg->sections;
    global_defaults(&cfg->global);
    return cfg;
}

/* Parses text (len bytes, text[len] writable) owned by cfg's arena. */
static int parse_all(struct ctx *c, char *text, size_t len)
{
    if (parse_text(c, text, len) < 0 || link_templates(c) < 0 ||
        resolve_pools(c) < 0 || check_listen(c) < 0 ||
        check_process_max(c) < 0)
        return -1;
    return 0;
}

static void ctx_init(struct ctx *c, char *errbuf, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->err = errbuf;
    c->errlen = errlen;
    if (errbuf != NULL && errlen > 0)
        errbuf[0] = '\0';
}

int pools_parse_string(const char *text, size_t len, const char *filename,
                       struct pools_conf **out, char *errbuf, size_t errlen)
{
    struct ctx c;
    char *copy = NULL;

    ctx_init(&c, errbuf, errlen);
    *out = NULL;
    if (filename == NULL)
        filename = "(string)";
    c.cfg = conf_new(filename);
    if (c.cfg == NULL) {
        snprintf(errbuf, errlen, "%s: out of memory", filename);
        return -1;
    }
    if (len < SIZE_MAX)
        copy = arena_strndup(&c.cfg->arena, text, len);
    if (copy == NULL) {
        fail_nomem(&c, 0, "syntax");
        goto fail;
    }
    if (parse_all(&c, copy, len) < 0)
        goto fail;
    *out = c.cfg;
    return 0;

fail:
    pools_free(c.cfg);
    return -1;
}

int pools_parse_file(const char *path, struct pools_conf **out,
                     char *errbuf, size_t errlen)
{
    struct ctx c;
    const char *why = NULL;
    char *text = NULL;
    size_t len = 0;
    struct stat st;
    ssize_t r;
    int fd = -1, saved;

    ctx_init(&c, errbuf, errlen);
    *out = NULL;
    c.cfg = conf_new(path);
    if (c.cfg == NULL) {
        snprintf(errbuf, errlen, "%s: out of memory", path);
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 || fstat(fd, &st) < 0) {
        why = "cannot open";
        goto io_fail;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(errbuf, errlen, "%s: not a regular file", path);
        goto fail;
    }
    if ((unsigned long long)st.st_size > MAX_FILE_SIZE) {
        snprintf(errbuf, errlen, "%s: too large (over %u bytes)", path,
                 MAX_FILE_SIZE);
        goto fail;
    }
    text = arena_alloc(&c.cfg->arena, (size_t)st.st_size + 1);
    if (text == NULL) {
        snprintf(errbuf, errlen, "%s: out of memory", path);
        goto fail;
    }
    /* Reads until EOF or the size seen by fstat (a file growing while we
     * read is cut there). */
    while (len < (size_t)st.st_size) {
        r = read(fd, text + len, (size_t)st.st_size - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            why = "cannot read";
            goto io_fail;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    fd = -1;
    if (parse_all(&c, text, len) < 0)
        goto fail;
    *out = c.cfg;
    return 0;

io_fail:
    saved = errno;
    snprintf(errbuf, errlen, "%s: %s: %s", path, why, strerror(saved));
fail:
    if (fd >= 0)
        close(fd);
    pools_free(c.cfg);
    return -1;
}

void pools_free(struct pools_conf *cfg)
{
    if (cfg == NULL)
        return;
    arena_free(&cfg->arena);
    free(cfg);
}

const struct pools_global *pools_global(const struct pools_conf *cfg)
{
    return &cfg->global;
}

size_t pools_count(const struct pools_conf *cfg)
{
    return cfg->npools;
}

const struct pools_pool *pools_at(const struct pools_conf *cfg, size_t i)
{
    return i < cfg->npools ? &cfg->pools[i] : NULL;
}

const struct pools_pool *pools_find(const struct pools_conf *cfg,
                                    const char *name)
{
    return strtab_get(&cfg->pool_index, name);
}

size_t pools_warning_count(const struct pools_conf *cfg)
{
    return cfg->nwarnings;
}

const char *pools_warning(const struct pools_conf *cfg, size_t i)
{
    return i < cfg->nwarnings ? cfg->warnings[i] : NULL;
}

/* ------------------------------------------------------------------ */
/* User and group ids                                                  */
/* ------------------------------------------------------------------ */

/* The buffer of the get*_r calls, grown on ERANGE (POSIX: "insufficient
 * storage was supplied"). */
struct nss_buf {
    char *buf;
    size_t len;
};

/* Returns 0, or ENOMEM (also past 1 MiB: no entry is that big). */
static int nss_grow(struct nss_buf *b)
{
    size_t len = b->len ? 2 * b->len : 1024;
    char *p;

    if (len > 1024 * 1024)
        return ENOMEM;
    p = realloc(b->buf, len);
    if (p == NULL)
        return ENOMEM;
    b->buf = p;
    b->len = len;
    return 0;
}

/* Calls a get*_r function until the buffer is big enough; rc is its
 * result, or ENOMEM. */
#define NSS_CALL(b, rc, call) \
    do { \
        (rc) = (b)->len > 0 ? (call) : ERANGE; \
    } while ((rc) == ERANGE && ((rc) = nss_grow(b)) == 0)

/* POSIX: not found is 0 with a NULL result; glibc and others also use
 * these errors for it (getpwnam(3), NOTES). */
static int nss_not_found(int rc)
{
    return rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF ||
           rc == EPERM;
}

/* What a user or group name resolved to, cached by name: many pools share
 * listen.owner, and NSS lookups are not free. */
struct id_info {
    int found;
    int has_passwd;                 /* users: the passwd entry exists */
    unsigned long id;
    unsigned long primary_gid;      /* users with a passwd entry */
};

struct id_ctx {
    struct ctx *c;
    struct nss_buf nss;
    struct strtab users;
    struct strtab groups;
};

/* Looks a name (or digits) up; returns NULL with the error reported. */
static const struct id_info *lookup_id(struct id_ctx *x, const char *name,
                                       int user, unsigned line,
                                       const char *key, const char *pool)
{
    struct strtab *t = user ? &x->users : &x->groups;
    struct id_info *info = strtab_get(t, name);
    unsigned long long num = 0;
    int numeric = all_digits(name) && parse_ull(name, &num) == 0;
    struct passwd pw, *pwr = NULL;
    struct group gr, *grr = NULL;
    int rc;

    if (info != NULL)
        goto found;
    info = arena_calloc(&x->c->cfg->arena, 1, sizeof(*info));
    if (info == NULL || strtab_put(&x->c->cfg->arena, t, name, info) < 0) {
        fail_nomem(x->c, line, key);
        return NULL;
    }
    if (user && numeric)
        NSS_CALL(&x->nss, rc, getpwuid_r((uid_t)num, &pw, x->nss.buf,
                                         x->nss.len, &pwr));
    else if (user)
        NSS_CALL(&x->nss, rc, getpwnam_r(name, &pw, x->nss.buf, x->nss.len,
                                         &pwr));
    else if (numeric)
        NSS_CALL(&x->nss, rc, getgrgid_r((gid_t)num, &gr, x->nss.buf,
                                         x->nss.len, &grr));
    else
        NSS_CALL(&x->nss, rc, getgrnam_r(name, &gr, x->nss.buf, x->nss.len,
                                         &grr));
    if (pwr == NULL && grr == NULL && !nss_not_found(rc)) {
        fail(x->c, line, key, "[pool %s] cannot look up %s '%s': %s", pool,
             user ? "user" : "group", name, strerror(rc));
        return NULL;
    }
    info->found = pwr != NULL || grr != NULL || numeric;
    info->has_passwd = pwr != NULL;
    info->id = pwr != NULL ? (unsigned long)pwr->pw_uid
             : grr != NULL ? (unsigned long)grr->gr_gid : (unsigned long)num;
    info->primary_gid = pwr != NULL ? (unsigned long)pwr->pw_gid : 0;
found:
    if (!info->found) {
        fail(x->c, line, key, "[pool %s] unknown %s '%s'", pool,
             user ? "user" : "group", name);
        return NULL;
    }
    return info;
}

/* The name of a gid for a defaulted group (its digits if it has none);
 * NULL when out of memory. */
static const char *group_name(struct id_ctx *x, gid_t gid)
{
    struct group gr, *grr = NULL;
    char digits[24];
    const char *name = digits;
    int rc;

    NSS_CALL(&x->nss, rc, getgrgid_r(gid, &gr, x->nss.buf, x->nss.len,
                                     &grr));
    if (rc == 0 && grr != NULL)
        name = grr->gr_name;
    else
        snprintf(digits, sizeof(digits), "%lu", (unsigned long)gid);
    return arena_strndup(&x->c->cfg->arena, name, strlen(name));
}

/* Is the pool's user a supplementary member of group root?  The worker
 * would keep gid 0 among its groups (initgroups).  A user without a
 * passwd entry has no supplementary groups. */
static int in_group_root(struct id_ctx *x, const struct pools_pool *p)
{
    struct passwd pw, *pwr = NULL;
    gid_t groups[1024];
    int n = (int)(sizeof(groups) / sizeof(groups[0])), rc, i;

    NSS_CALL(&x->nss, rc, getpwuid_r(p->uid, &pw, x->nss.buf, x->nss.len,
                                     &pwr));
    if (rc != 0 || pwr == NULL ||
        getgrouplist(pwr->pw_name, p->gid, groups, &n) < 0)
        return 0;           /* (more than 1024: proc.c checks at spawn) */
    for (i = 0; i < n; i++)
        if (groups[i] == 0)
            return 1;
    return 0;
}

static int resolve_pool_ids(struct id_ctx *x, struct pools_pool *p)
{
    struct ctx *c = x->c;
    const struct id_info *u, *g;
    unsigned uline = blame(p, POOLS_F_USER);

    if ((u = lookup_id(x, p->user, 1, uline, "user", p->name)) == NULL)
        return -1;
    if (u->id == 0)
        return fail(c, uline, "user", "[pool %s] user '%s' is uid 0: a "
                    "pool must not run as root", p->name, p->user);
    p->uid = (uid_t)u->id;
    if (p->group != NULL) {
        g = lookup_id(x, p->group, 0, blame(p, POOLS_F_GROUP), "group",
                      p->name);
        if (g == NULL)
            return -1;
        if (g->id == 0)
            return fail(c, blame(p, POOLS_F_GROUP), "group", "[pool %s] "
                        "group '%s' is gid 0: a pool must not run as group "
                        "root", p->name, p->group);
        p->gid = (gid_t)g->id;
    } else {
        if (!u->has_passwd)
            return fail(c, uline, "user", "[pool %s] uid %s has no passwd "
                        "entry, so no primary group: set group", p->name,
                        p->user);
        if (u->primary_gid == 0)
            return fail(c, p->header.line, "group", "[pool %s] the primary "
                        "group of user '%s' is gid 0 (root): set group",
                        p->name, p->user);
        p->gid = (gid_t)u->primary_gid;
        p->group = group_name(x, p->gid);
        if (p->group == NULL)
            return fail_nomem(c, p->header.line, "group");
    }
    if (in_group_root(x, p))
        return fail(c, uline, "user", "[pool %s] user '%s' is a member of "
                    "group root (gid 0): a pool must not run with it",
                    p->name, p->user);
    if (p->listen_owner != NULL) {
        u = lookup_id(x, p->listen_owner, 1, blame(p, POOLS_F_LISTEN_OWNER),
                      "listen.owner", p->name);
        if (u == NULL)
            return -1;
        p->listen_uid = (uid_t)u->id;
    }
    if (p->listen_group != NULL) {
        g = lookup_id(x, p->listen_group, 0, blame(p, POOLS_F_LISTEN_GROUP),
                      "listen.group", p->name);
        if (g == NULL)
            return -1;
        p->listen_gid = (gid_t)g->id;
    }
    p->ids_resolved = 1;
    return 0;
}

/* Workers under one uid can kill(2) and ptrace(2) each other (the same
 * real uid is all either check needs), so a site could take over another
 * site's PHP.  A warning, not an error: it is a layout some run on purpose. */
static int warn_shared_uids(struct id_ctx *x)
{
    struct pools_conf *cfg = x->c->cfg;
    struct strtab seen = { NULL, NULL, 0, 0 };
    char key[24], *copy;
    size_t i;

    for (i = 0; i < cfg->npools; i++) {
        const struct pools_pool *p = &cfg->pools[i], *first;

        snprintf(key, sizeof(key), "%lu", (unsigned long)p->uid);
        first = strtab_get(&seen, key);
        if (first != NULL) {
            if (warn(x->c, blame(p, POOLS_F_USER), "user", "pools %s and %s "
                     "both run as uid %s (%s): their workers can signal and "
                     "trace each other", first->name, p->name, key,
                     p->user) < 0)
                return -1;
            continue;
        }
        copy = arena_strndup(&cfg->arena, key, strlen(key));
        if (copy == NULL || strtab_put(&cfg->arena, &seen, copy,
                                       (void *)p) < 0)
            return fail_nomem(x->c, p->header.line, "user");
    }
    return 0;
}

int pools_resolve_ids(struct pools_conf *cfg, char *errbuf, size_t errlen)
{
    struct ctx c;
    struct id_ctx x;
    size_t i;
    int rc = 0;

    ctx_init(&c, errbuf, errlen);
    c.cfg = cfg;
    if (cfg->ids_resolved)
        return 0;
    memset(&x, 0, sizeof(x));
    x.c = &c;
    for (i = 0; i < cfg->npools && rc == 0; i++)
        rc = resolve_pool_ids(&x, &cfg->pools[i]);
    if (rc == 0)
        rc = warn_shared_uids(&x);
    free(x.nss.buf);
    cfg->ids_resolved = rc == 0;
    return rc;
}

int pools_load(const char *path, struct pools_conf **out, char *errbuf,
               size_t errlen)
{
    if (pools_parse_file(path, out, errbuf, errlen) < 0)
        return -1;
    if (pools_resolve_ids(*out, errbuf, errlen) < 0) {
        pools_free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Comparison                                                          */
/* ------------------------------------------------------------------ */

static int str_eq(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int path_eq(const char *a, const char *b)
{
    for (;;) {
        while (a[0] == '/' && a[1] == '/')
            a++;
        while (b[0] == '/' && b[1] == '/')
            b++;
        if (*a != *b)
            return 0;
        if (*a == '\0')
            return 1;
        a++;
        b++;
    }
}

static int listen_eq(const struct pools_listen *a,
                     const struct pools_listen *b)
{
    if (a->kind != b->kind)
        return 0;
    if (a->kind == POOLS_LISTEN_UNIX)
        return path_eq(a->path, b->path);
    return a->family == b->family && a->port == b->port &&
           memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

static int env_eq(const struct pools_pool *a, const struct pools_pool *b)
{
    size_t i, j;

    if (a->nenv != b->nenv)
        return 0;
    for (i = 0; i < a->nenv; i++) {
        for (j = 0; j < b->nenv; j++)
            if (strcmp(a->env[i].name, b->env[j].name) == 0)
                break;
        if (j == b->nenv || strcmp(a->env[i].value, b->env[j].value) != 0)
            return 0;
    }
    return 1;
}

static int args_eq(const struct pools_pool *a, const struct pools_pool *b)
{
    size_t i;

    if (a->nargs != b->nargs)
        return 0;
    for (i = 0; i < a->nargs; i++)
        if (strcmp(a->args[i], b->args[i]) != 0)
            return 0;
    return 1;
}

int pools_same(const struct pools_pool *a, const struct pools_pool *b)
{
    if (a->ids_resolved && b->ids_resolved &&
        (a->uid != b->uid || a->gid != b->gid ||
         a->listen_uid != b->listen_uid || a->listen_gid != b->listen_gid))
        return 0;
    return str_eq(a->name, b->name) && str_eq(a->command, b->command) &&
           args_eq(a, b) && listen_eq(&a->listen, &b->listen) &&
           str_eq(a->listen_owner, b->listen_owner) &&
           str_eq(a->listen_group, b->listen_group) &&
           a->listen_mode == b->listen_mode &&
           a->listen_backlog == b->listen_backlog &&
           str_eq(a->user, b->user) && str_eq(a->group, b->group) &&
           str_eq(a->chroot, b->chroot) && str_eq(a->chdir, b->chdir) &&
           a->clear_env == b->clear_env && a->pm == b->pm &&
           a->max_children == b->max_children &&
           a->start_servers == b->start_servers &&
           a->min_spare_servers == b->min_spare_servers &&
           a->max_spare_servers == b->max_spare_servers &&
           a->process_idle_timeout_ms == b->process_idle_timeout_ms &&
           a->max_requests == b->max_requests &&
           a->request_terminate_timeout_ms ==
               b->request_terminate_timeout_ms &&
           a->rlimit_files == b->rlimit_files &&
           a->rlimit_core == b->rlimit_core &&
           a->catch_workers_output == b->catch_workers_output &&
           env_eq(a, b);
}

int pools_listen_sockaddr(const struct pools_listen *l,
                          struct sockaddr_storage *ss, socklen_t *sslen)
{
    memset(ss, 0, sizeof(*ss));
    if (l->kind == POOLS_LISTEN_UNIX) {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        size_t n = strlen(l->path);

        if (n > SUN_PATH_MAX)
            return -1;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, l->path, n + 1);
        *sslen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    } else if (l->family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)l->port);
        memcpy(&in6->sin6_addr, l->addr, 16);
        *sslen = sizeof(*in6);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;

        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)l->port);
        memcpy(&in->sin_addr, l->addr, 4);
        *sslen = sizeof(*in);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Dump (vhostfcgi-spawn -t)                                           */
/* ------------------------------------------------------------------ */

/* Whether a value must be written "quoted" to read back the same. */
static int needs_quotes(const char *s)
{
    size_t n = strlen(s);

    return n == 0 || is_space((unsigned char)s[0]) ||
           is_space((unsigned char)s[n - 1]) || s[0] == '"' ||
           strchr(s, ';') != NULL;
}

/* Writes s, quoted with \" and \\ when force or needed; returns the number
 * of bytes written. */
static int put_value(FILE *out, const char *s, int force)
{
    int n = 0;

    if (!force && !needs_quotes(s))
        return fprintf(out, "%s", s);
    n += fputc('"', out) != EOF;
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            n += fputc('\\', out) != EOF;
        n += fputc(*s, out) != EOF;
    }
    n += fputc('"', out) != EOF;
    return n;
}

/* The args as a value that splits back into the same words. */
static char *args_text(const struct pools_pool *p)
{
    size_t i, len = 1;
    char *buf, *w;
    const char *s;

    for (i = 0; i < p->nargs; i++)
        len += 2 * strlen(p->args[i]) + 3;
    buf = malloc(len);
    if (buf == NULL)
        return NULL;
    w = buf;
    for (i = 0; i < p->nargs; i++) {
        int quote = p->args[i][0] == '\0' ||
                    strpbrk(p->args[i], " \t\"\\") != NULL;

        if (i > 0)
            *w++ = ' ';
        if (quote)
            *w++ = '"';
        for (s = p->args[i]; *s != '\0'; s++) {
            if (quote && (*s == '"' || *s == '\\'))
                *w++ = '\\';
            *w++ = *s;
        }
        if (quote)
            *w++ = '"';
    }
    *w = '\0';
    return buf;
}

static void put_origin(FILE *out, int width, const struct pools_origin *o,
                       const char *pool, const char *dflt, const char *extra)
{
    for (; width < DUMP_COMMENT_COL; width++)
        fputc(' ', out);
    fputs(" ; ", out);
    if (o->line == 0)
        fprintf(out, "(default%s%s)", dflt ? ": " : "", dflt ? dflt : "");
    else if (pool != NULL && strcmp(o->section, pool) != 0)
        fprintf(out, "(from %s:%u via template %s)", o->file, o->line,
                o->section);
    else
        fprintf(out, "(from %s:%u)", o->file, o->line);
    if (extra != NULL && extra[0] != '\0')
        fprintf(out, " %s", extra);
    fputc('\n', out);
}

/* One "key = value ; (origin)" line; value NULL: commented out, unset. */
static void put_kv(FILE *out, const char *key, const char *value,
                   const struct pools_origin *o, const char *pool,
                   const char *dflt, const char *extra)
{
    int w;

    if (value == NULL) {
        w = fprintf(out, ";%s =", key);
    } else {
        w = fprintf(out, "%s = ", key);
        w += put_value(out, value, 0);
    }
    put_origin(out, w, o, pool, dflt, extra);
}

static void put_num(FILE *out, const char *key, long long v,
                    const struct pools_origin *o, const char *pool)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%lld", v);
    put_kv(out, key, buf, o, pool, NULL, NULL);
}

/* In the largest unit that is exact, so the dump reads back the same. */
static void fmt_duration(char *buf, size_t len, long long ms)
{
    static const struct { long long ms; const char *unit; } units[] = {
        { 86400000, "d" }, { 3600000, "h" }, { 60000, "m" }, { 1000, "s" }
    };
    size_t i;

    for (i = 0; ms != 0 && i < sizeof(units) / sizeof(units[0]); i++)
        if (ms % units[i].ms == 0) {
            snprintf(buf, len, "%lld%s", ms / units[i].ms, units[i].unit);
            return;
        }
    snprintf(buf, len, ms == 0 ? "0" : "%lldms", ms);
}

static void put_duration(FILE *out, const char *key, long long ms,
                         const struct pools_origin *o, const char *pool,
                         const char *dflt)
{
    char buf[32];

    fmt_duration(buf, sizeof(buf), ms);
    put_kv(out, key, buf, o, pool, dflt, NULL);
}

static void put_rlimit(FILE *out, const char *key, long long v,
                       const struct pools_origin *o, const char *pool)
{
    char buf[32];

    if (v == POOLS_RLIMIT_UNSET) {
        put_kv(out, key, NULL, o, pool, "the spawner's limit", NULL);
        return;
    }
    snprintf(buf, sizeof(buf), "%lld", v);
    put_kv(out, key, v == POOLS_RLIMIT_UNLIMITED ? "unlimited" : buf, o,
           pool, NULL, NULL);
}

static void dump_global(FILE *out, const struct pools_global *g)
{
    const struct pools_origin *o = g->origin;

    fputs("[global]\n", out);
    put_kv(out, "run_dir", g->run_dir, &o[POOLS_G_RUN_DIR], NULL, NULL,
           NULL);
    put_kv(out, "error_log", g->error_log, &o[POOLS_G_ERROR_LOG], NULL,
           "stderr", NULL);
    put_num(out, "process.max", g->process_max, &o[POOLS_G_PROCESS_MAX],
            NULL);
    put_kv(out, "pid", g->pid, &o[POOLS_G_PID], NULL, "no pid file", NULL);
    put_kv(out, "log_level", log_level_words[g->log_level],
           &o[POOLS_G_LOG_LEVEL], NULL, NULL, NULL);
}

static void dump_listen(FILE *out, const struct pools_pool *p)
{
    const struct pools_listen *l = &p->listen;
    char buf[80];

    if (l->kind == POOLS_LISTEN_UNIX) {
        put_kv(out, "listen", l->path, &p->origin[POOLS_F_LISTEN], p->name,
               "run_dir/NAME.sock", NULL);
        return;
    }
    snprintf(buf, sizeof(buf), l->family == AF_INET6 ? "[%s]:%u" : "%s:%u",
             l->host, l->port);
    put_kv(out, "listen", buf, &p->origin[POOLS_F_LISTEN], p->name, NULL,
           NULL);
}

/* "uid 33" after pools_resolve_ids(), else nothing. */
static void id_note(char *buf, size_t len, const char *what, int show,
                    unsigned long id)
{
    if (show)
        snprintf(buf, len, "%s %lu", what, id);
    else
        buf[0] = '\0';
}

static void dump_identity(FILE *out, const struct pools_pool *p)
{
    const struct pools_origin *o = p->origin;
    char note[48], dflt[96];

    id_note(note, sizeof(note), "uid",
            p->ids_resolved && p->listen_owner != NULL,
            (unsigned long)p->listen_uid);
    put_kv(out, "listen.owner", p->listen_owner, &o[POOLS_F_LISTEN_OWNER],
           p->name, "the spawner's user", note);
    id_note(note, sizeof(note), "gid",
            p->ids_resolved && p->listen_group != NULL,
            (unsigned long)p->listen_gid);
    put_kv(out, "listen.group", p->listen_group, &o[POOLS_F_LISTEN_GROUP],
           p->name, "the spawner's group", note);
    snprintf(note, sizeof(note), "%04o", p->listen_mode);
    put_kv(out, "listen.mode", note, &o[POOLS_F_LISTEN_MODE], p->name, NULL,
           NULL);
    put_num(out, "listen.backlog", p->listen_backlog,
            &o[POOLS_F_LISTEN_BACKLOG], p->name);
    id_note(note, sizeof(note), "uid", p->ids_resolved,
            (unsigned long)p->uid);
    put_kv(out, "user", p->user, &o[POOLS_F_USER], p->name, NULL, note);
    id_note(note, sizeof(note), "gid", p->ids_resolved,
            (unsigned long)p->gid);
    snprintf(dflt, sizeof(dflt), "the primary group of user %s", p->user);
    put_kv(out, "group", p->group, &o[POOLS_F_GROUP], p->name, dflt, note);
}

static void dump_pool(FILE *out, const struct pools_pool *p)
{
    const struct pools_origin *o = p->origin;
    const char *spare_note = p->pm == POOLS_PM_DYNAMIC ? NULL
                             : "(unused: pm is not dynamic)";
    char *args = args_text(p);
    size_t i;

    fprintf(out, "\n[%s]", p->name);
    put_origin(out, (int)strlen(p->name) + 2, &p->header, NULL, NULL, NULL);
    put_kv(out, "command", p->command, &o[POOLS_F_COMMAND], p->name, NULL,
           NULL);
    put_kv(out, "args", p->nargs == 0 && o[POOLS_F_ARGS].line == 0 ? NULL
           : args != NULL ? args : "(out of memory)", &o[POOLS_F_ARGS],
           p->name, "none", NULL);
    free(args);
    dump_listen(out, p);
    dump_identity(out, p);
    put_kv(out, "chroot", p->chroot, &o[POOLS_F_CHROOT], p->name, "none",
           NULL);
    put_kv(out, "chdir", p->chdir, &o[POOLS_F_CHDIR], p->name, NULL, NULL);
    put_kv(out, "clear_env", p->clear_env ? "yes" : "no",
           &o[POOLS_F_CLEAR_ENV], p->name, NULL, NULL);
    for (i = 0; i < p->nenv; i++) {
        int w = fprintf(out, "env[%s] = ", p->env[i].name);

        w += put_value(out, p->env[i].value, 0);
        put_origin(out, w, &p->env[i].origin, p->name, NULL, NULL);
    }
    put_kv(out, "pm", pm_words[p->pm], &o[POOLS_F_PM], p->name, NULL, NULL);
    put_num(out, "pm.max_children", p->max_children,
            &o[POOLS_F_MAX_CHILDREN], p->name);
    for (i = POOLS_F_START_SERVERS; i <= POOLS_F_MAX_SPARE_SERVERS; i++) {
        char buf[16];
        unsigned v = i == POOLS_F_START_SERVERS ? p->start_servers
                   : i == POOLS_F_MIN_SPARE_SERVERS ? p->min_spare_servers
                   : p->max_spare_servers;

        snprintf(buf, sizeof(buf), "%u", v);
        put_kv(out, pool_keys[i].key,
               p->pm == POOLS_PM_DYNAMIC || o[i].line != 0 ? buf : NULL,
               &o[i], p->name, spare_note ? "only for pm = dynamic" : NULL,
               o[i].line != 0 ? spare_note : NULL);
    }
    put_duration(out, "pm.process_idle_timeout", p->process_idle_timeout_ms,
                 &o[POOLS_F_PROCESS_IDLE_TIMEOUT], p->name, NULL);
    put_num(out, "pm.max_requests", p->max_requests,
            &o[POOLS_F_MAX_REQUESTS], p->name);
    put_duration(out, "request_terminate_timeout",
                 p->request_terminate_timeout_ms,
                 &o[POOLS_F_REQUEST_TERMINATE_TIMEOUT], p->name, "off");
    put_rlimit(out, "rlimit_files", p->rlimit_files,
               &o[POOLS_F_RLIMIT_FILES], p->name);
    put_rlimit(out, "rlimit_core", p->rlimit_core, &o[POOLS_F_RLIMIT_CORE],
               p->name);
    put_kv(out, "catch_workers_output", p->catch_workers_output ? "yes"
           : "no", &o[POOLS_F_CATCH_WORKERS_OUTPUT], p->name, NULL, NULL);
}

int pools_dump(FILE *out, const struct pools_conf *cfg)
{
    const struct section *s;
    size_t i, ntemplates = 0;

    fprintf(out, "; %s: %zu pool%s, resolved\n", cfg->file, cfg->npools,
            cfg->npools == 1 ? "" : "s");
    for (s = cfg->sections; s != NULL; s = s->next)
        if (s->istemplate)
            fprintf(out, "%s %s", ntemplates++ ? "," : "; templates:",
                    s->name);
    if (ntemplates > 0)
        fputc('\n', out);
    for (i = 0; i < cfg->nwarnings; i++)
        fprintf(out, "; warning: %s\n", cfg->warnings[i]);
    dump_global(out, &cfg->global);
    for (i = 0; i < cfg->npools; i++)
        dump_pool(out, &cfg->pools[i]);
    return ferror(out) ? -1 : 0;
}
