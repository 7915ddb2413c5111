/*
 * internal.h - what the files of the pools-file parser share.
 *
 * The parser reads a php-fpm-style INI file with templates in four steps
 * (STYLE items 8 and 9):
 *
 *   1. read      (read.c) the text is copied once into the arena and cut
 *                into lines in place; a key's value is unquoted in place.
 *                Every key is looked up in a declarative table (keys.c:
 *                key, typed setter from values.c, offsetof field) and its
 *                value checked by that setter right away when it holds no
 *                $pool, so a bad value is reported at its own line even in
 *                a template nobody uses.
 *   2. link      (resolve.c) template names become parent pointers;
 *                unknown templates and cycles are reported.
 *   3. resolve   (resolve.c) per pool, the entries of its template chain
 *                are laid over the defaults (root template first, the pool
 *                itself last), $pool is expanded, each winning value goes
 *                through its setter into the typed field, the origin is
 *                recorded, and the values that depend on each other (pm
 *                bounds, required keys) are checked.
 *   4. check     (check.c) checks across pools: listen collisions,
 *                process.max.
 *
 * ids.c resolves user and group names (pools_resolve_ids), apart because
 * it asks NSS, and limits.c checks the rlimits against this process's
 * own: steps that ask the running system, which the fuzzer never takes.  load.c holds the entry
 * points, compare.c what a reload compares, dump.c the -t printout,
 * messages.c the "FILE:LINE: KEY: why" errors and warnings, arena.c the
 * one allocator.
 *
 * Values without $pool are never copied: a pool's string fields point into
 * the arena copy of the file, so 500 pools of one template cost little more
 * than their structs.  Everything is allocated from one arena that
 * pools_free() releases in one go, which is what keeps every error path
 * leak-free.
 *
 * The functions declared here are hidden: the parser is linked into the
 * httpd module, whose other symbols must not meet names like these.
 */
#ifndef VHOSTFCGI_POOLSFILE_INTERNAL_H
#define VHOSTFCGI_POOLSFILE_INTERNAL_H

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
 * that every allocation is a malloc of its own and can be made to pc_fail. */
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

/* ------------------------------------------------------------------ */
/* String table: open addressing, arena-backed, keys outlive the table */
/* ------------------------------------------------------------------ */

struct strtab {
    const char **keys;
    void **vals;
    size_t cap;                     /* 0 or a power of two */
    size_t n;
};

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

static inline int is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

static inline int is_alpha(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static inline int is_space(int ch)
{
    return ch == ' ' || ch == '\t';
}

static inline int tolower_c(int ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

static inline int all_digits(const char *s)
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

static inline int qs_len(const char *s)
{
    size_t n = strlen(s);

    return n > QUOTE_MAX ? QUOTE_MAX : (int)n;
}

static inline const char *qs_more(const char *s)
{
    return strlen(s) > QUOTE_MAX ? "..." : "";
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

#if defined(__GNUC__)
#define PC_HIDDEN __attribute__((visibility("hidden")))
#else
#define PC_HIDDEN
#endif

/* arena.c: the allocator, and a string table in it */
PC_HIDDEN void *pc_arena_alloc(struct arena *a, size_t n);
PC_HIDDEN void *pc_arena_calloc(struct arena *a, size_t count, size_t size);
PC_HIDDEN char *pc_arena_strndup(struct arena *a, const char *s, size_t n);
PC_HIDDEN void pc_arena_free(struct arena *a);
PC_HIDDEN void *pc_strtab_get(const struct strtab *t, const char *key);
PC_HIDDEN int pc_strtab_put(struct arena *a, struct strtab *t,
                            const char *key, void *val);

/* messages.c: each returns -1 (errors) or 0, or -1 when out of memory */
PC_HIDDEN int pc_fail(struct ctx *c, unsigned line, const char *key,
                      const char *fmt, ...) PRINTF_LIKE(4, 5);
PC_HIDDEN int pc_fail_nomem(struct ctx *c, unsigned line, const char *key);
PC_HIDDEN int pc_warn(struct ctx *c, unsigned line, const char *key,
                      const char *fmt, ...) PRINTF_LIKE(4, 5);
PC_HIDDEN void pc_suggest(const char *wrong, const char *candidate,
                          const char **best, size_t *best_d);

/* values.c: the typed setters of the key tables */
PC_HIDDEN int pc_parse_ull(const char *s, unsigned long long *out);
#define PC_SETTER(name) \
    PC_HIDDEN int name(const struct keydef *k, const char *v, void *dst, \
                       struct arena *a, char *why, size_t whylen)
PC_SETTER(pc_set_uint);
PC_SETTER(pc_set_path);
PC_SETTER(pc_set_name);
PC_SETTER(pc_set_args);
PC_SETTER(pc_set_listen);
PC_SETTER(pc_set_mode);
PC_SETTER(pc_set_bool);
PC_SETTER(pc_set_pm);
PC_SETTER(pc_set_log_level);
PC_SETTER(pc_set_duration);
PC_SETTER(pc_set_rlimit);
PC_HIDDEN extern const char *const pc_pm_words[];
PC_HIDDEN extern const char *const pc_log_level_words[];

/* keys.c: the key tables and the defaults */
PC_HIDDEN extern const struct keydef pc_pool_keys[POOLS_NFIELDS];
PC_HIDDEN extern const struct keydef pc_global_keys[POOLS_G_NFIELDS];
PC_HIDDEN const struct keydef *pc_find_key(const struct keydef *table,
                                           size_t n, const char *key);
#define FIND_POOL_KEY(k)    pc_find_key(pc_pool_keys, POOLS_NFIELDS, k)
#define FIND_GLOBAL_KEY(k)  pc_find_key(pc_global_keys, POOLS_G_NFIELDS, k)
PC_HIDDEN void pc_pool_defaults(struct pools_pool *p);
PC_HIDDEN void pc_global_defaults(struct pools_global *g);

/* The steps (read.c, resolve.c, check.c); each returns 0 or -1 with the
 * error in c->err. */
PC_HIDDEN int pc_parse_text(struct ctx *c, char *text, size_t len);
PC_HIDDEN int pc_link_templates(struct ctx *c);
PC_HIDDEN int pc_resolve_pools(struct ctx *c);
PC_HIDDEN int pc_check_listen(struct ctx *c);
PC_HIDDEN int pc_check_process_max(struct ctx *c);
/* The line to name in a message about field f of pool p. */
PC_HIDDEN unsigned pc_blame(const struct pools_pool *p, enum pools_field f);

/* load.c */
PC_HIDDEN void pc_ctx_init(struct ctx *c, char *errbuf, size_t errlen);

#endif
