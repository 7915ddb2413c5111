/*
 * pools_conf.h - the pools file of vhostfcgi-spawn (DESIGN.md, "The pool
 * spawner"): a php-fpm-style INI file with a [global] section, one section
 * per pool, and templates.
 *
 * Plain C99 + POSIX: no APR, no httpd headers, no global state, nothing
 * printed except by pools_dump().  Everything a parse returns lives in one
 * arena owned by the struct pools_conf and released by pools_free(), on
 * success and on every error path.
 *
 * Two steps, so that the fuzzer and pure-syntax tests never touch the user
 * database:
 *
 *   pools_parse_file / pools_parse_string   syntax, templates, $pool, typed
 *                                           values, cross-pool validation
 *   pools_resolve_ids                       user and group names to ids,
 *                                           no root, shared-uid warnings
 *   pools_check_limits                      rlimits a worker started here
 *                                           could set
 *   pools_load                              both, what the module and the
 *                                           spawner call
 *
 * Every failure is one line "FILE:LINE: KEY: message" in errbuf (the first
 * error found; parsing stops there).  KEY is the key as written, or the
 * section name for section-level errors, or "syntax" for a bad character;
 * a missing key is blamed on the line of its section header.  Only a file
 * that cannot be read has no line: "FILE: cannot open: strerror".
 * Warnings (not errors) are kept in the configuration, see pools_warning().
 *
 * The format, beyond php-fpm's: values may be "double-quoted" (\" and \\
 * inside) to keep blanks or ';'; a ';' comment may end a line when a blank
 * precedes it ('#' comments whole lines only); $pool in a value is the
 * pool's name; template = NAME inherits every key of NAME (at most 16
 * levels), env[] merging by name.  Pool names are [A-Za-z0-9_.-], at most
 * 64, not starting with '.' or '-' (they end up in paths and argv).
 */
#ifndef POOLS_CONF_H
#define POOLS_CONF_H

#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#define POOLS_NAME_MAX          64      /* a section (pool) name */
#define POOLS_DEFAULT_RUN_DIR   "/run/vhostfcgi"

/* ------------------------------------------------------------------ */
/* Values                                                              */
/* ------------------------------------------------------------------ */

/* Where a value came from.  line == 0: the built-in default (section is
 * then NULL).  section is the section that set it: the pool itself or one
 * of its templates. */
struct pools_origin {
    const char *file;
    const char *section;
    unsigned line;
};

enum pools_pm {
    POOLS_PM_STATIC,
    POOLS_PM_DYNAMIC,
    POOLS_PM_ONDEMAND
};

enum pools_log_level {
    POOLS_LOG_ERROR,
    POOLS_LOG_WARNING,
    POOLS_LOG_NOTICE,
    POOLS_LOG_INFO,
    POOLS_LOG_DEBUG
};

enum pools_listen_kind {
    POOLS_LISTEN_UNIX,
    POOLS_LISTEN_TCP
};

/* A pool's listening socket.  A TCP host is always an IP literal (a name
 * would need DNS at startup); "port" alone means 127.0.0.1:port.  The
 * collision check takes [::] as dual-stack (IPV6_V6ONLY off, as php-fpm
 * binds it), so [::]:9000 and 127.0.0.1:9000 are refused together. */
struct pools_listen {
    enum pools_listen_kind kind;
    const char *path;               /* UNIX: absolute socket path */
    int family;                     /* TCP: AF_INET or AF_INET6 */
    unsigned char addr[16];         /* TCP: network order, 4 or 16 bytes */
    char host[48];                  /* TCP: canonical text, no brackets */
    unsigned port;                  /* TCP: 1..65535 */
};

/* rlimit_files / rlimit_core */
#define POOLS_RLIMIT_UNSET      (-1LL)  /* inherit the spawner's limit */
#define POOLS_RLIMIT_UNLIMITED  (-2LL)  /* RLIM_INFINITY */

struct pools_env {
    const char *name;
    const char *value;
    struct pools_origin origin;
};

/* One field per pool key, in the order of the pools file documentation;
 * indexes struct pools_pool.origin[].  pools_field_key() names them. */
enum pools_field {
    POOLS_F_COMMAND,
    POOLS_F_ARGS,
    POOLS_F_LISTEN,
    POOLS_F_LISTEN_OWNER,
    POOLS_F_LISTEN_GROUP,
    POOLS_F_LISTEN_MODE,
    POOLS_F_LISTEN_BACKLOG,
    POOLS_F_USER,
    POOLS_F_GROUP,
    POOLS_F_CHROOT,
    POOLS_F_CHDIR,
    POOLS_F_CLEAR_ENV,
    POOLS_F_PM,
    POOLS_F_MAX_CHILDREN,
    POOLS_F_START_SERVERS,
    POOLS_F_MIN_SPARE_SERVERS,
    POOLS_F_MAX_SPARE_SERVERS,
    POOLS_F_PROCESS_IDLE_TIMEOUT,
    POOLS_F_MAX_REQUESTS,
    POOLS_F_REQUEST_TERMINATE_TIMEOUT,
    POOLS_F_RLIMIT_FILES,
    POOLS_F_RLIMIT_CORE,
    POOLS_F_CATCH_WORKERS_OUTPUT,
    POOLS_NFIELDS
};

/* A resolved pool: templates applied, $pool expanded, defaults filled in.
 * Read-only for callers; every pointer lives as long as the pools_conf. */
struct pools_pool {
    const char *name;
    struct pools_origin header;     /* the [name] line */
    const char *command;            /* absolute path */
    const char *const *args;        /* argv without argv[0], NULL-terminated */
    size_t nargs;
    struct pools_listen listen;     /* default: run_dir/NAME.sock */
    const char *listen_owner;       /* NULL: left to the spawner */
    const char *listen_group;       /* NULL: left to the spawner */
    unsigned listen_mode;           /* default 0660 */
    unsigned listen_backlog;        /* default 511 */
    const char *user;               /* name, or digits for a numeric uid */
    const char *group;              /* NULL: the user's primary group until
                                     * pools_resolve_ids() fills it in */
    const char *chroot;             /* NULL: none */
    const char *chdir;              /* default "/" */
    int clear_env;                  /* default 1 */
    enum pools_pm pm;               /* default ondemand */
    unsigned max_children;          /* default 5 */
    unsigned start_servers;         /* dynamic only (else 0 unless set) */
    unsigned min_spare_servers;     /* dynamic: default 1 */
    unsigned max_spare_servers;     /* dynamic: default max(3, min_spare),
                                     * at most max_children */
    long long process_idle_timeout_ms;      /* default 10000 */
    unsigned max_requests;                  /* 0: unlimited (default) */
    long long request_terminate_timeout_ms; /* 0: off (default) */
    long long rlimit_files;         /* POOLS_RLIMIT_* or a limit */
    long long rlimit_core;
    int catch_workers_output;       /* default 1 */
    const struct pools_env *env;    /* merged over the templates by name */
    size_t nenv;
    struct pools_origin origin[POOLS_NFIELDS];

    /* Filled in by pools_resolve_ids(); ids_resolved is 0 before. */
    int ids_resolved;
    uid_t uid;
    gid_t gid;
    const char *groups_user;        /* whose supplementary groups the
                                     * workers get: the user as named
                                     * (two names may share a uid, each
                                     * with its groups), or a numeric
                                     * uid's passwd entry; NULL: none */
    uid_t listen_uid;               /* (uid_t)-1 when listen_owner is NULL */
    gid_t listen_gid;               /* (gid_t)-1 when listen_group is NULL */
};

enum pools_gfield {
    POOLS_G_RUN_DIR,
    POOLS_G_ERROR_LOG,
    POOLS_G_PROCESS_MAX,
    POOLS_G_PID,
    POOLS_G_LOG_LEVEL,
    POOLS_G_NFIELDS
};

struct pools_global {
    const char *run_dir;            /* default POOLS_DEFAULT_RUN_DIR */
    const char *error_log;          /* NULL: stderr */
    unsigned process_max;           /* 0: unlimited (default) */
    const char *pid;                /* NULL: no pid file */
    enum pools_log_level log_level; /* default notice */
    struct pools_origin origin[POOLS_G_NFIELDS];
};

struct pools_conf;                  /* opaque: the arena and the indexes */

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

/* Parse and validate a pools file (without user/group lookups).  Returns 0
 * and sets *cfg, or -1 with *cfg = NULL and a one-line message in errbuf
 * (errbuf may be NULL when errlen is 0).  Thread-safe: no global state. */
int pools_parse_file(const char *path, struct pools_conf **cfg,
                     char *errbuf, size_t errlen);

/* The same for text in memory; len bytes, need not be NUL-terminated.
 * filename names the text in messages and origins. */
int pools_parse_string(const char *text, size_t len, const char *filename,
                       struct pools_conf **cfg, char *errbuf, size_t errlen);

/* Look up every pool's user, group, listen.owner and listen.group
 * (getpwnam_r/getgrnam_r), fill in the ids and a defaulted group, refuse
 * uid 0 and gid 0, and add a warning for each pool sharing a uid with an
 * earlier one.  Returns 0, or -1 with errbuf set; cfg stays valid (and
 * must still be freed) either way. */
int pools_resolve_ids(struct pools_conf *cfg, char *errbuf, size_t errlen);

/* pools_parse_file() then pools_resolve_ids(); on failure *cfg = NULL. */
int pools_load(const char *path, struct pools_conf **cfg,
               char *errbuf, size_t errlen);

/* Refuse an rlimit_files or rlimit_core that a worker started by this
 * process could not set (above its hard limit, which it may not raise;
 * above fs.nr_open).  Only where this process's limits are the
 * spawner's: the spawner itself, httpd when it starts the spawner.
 * Returns 0, or -1 with errbuf set. */
int pools_check_limits(struct pools_conf *cfg, char *errbuf, size_t errlen);

/* pools_load() then pools_check_limits(): what the spawner calls. */
int pools_load_runnable(const char *path, struct pools_conf **cfg,
                        char *errbuf, size_t errlen);

/* Frees everything a parse returned; NULL is fine. */
void pools_free(struct pools_conf *cfg);

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

const struct pools_global *pools_global(const struct pools_conf *cfg);

/* Pools in file order (templates are not pools): i < pools_count(). */
size_t pools_count(const struct pools_conf *cfg);
const struct pools_pool *pools_at(const struct pools_conf *cfg, size_t i);

/* A pool by name, or NULL. */
const struct pools_pool *pools_find(const struct pools_conf *cfg,
                                    const char *name);

/* Warnings, one line each ("FILE:LINE: KEY: message"), in the order found:
 * i < pools_warning_count(). */
size_t pools_warning_count(const struct pools_conf *cfg);
const char *pools_warning(const struct pools_conf *cfg, size_t i);

/* The pools file key of a field, e.g. "pm.max_children". */
const char *pools_field_key(enum pools_field f);
const char *pools_gfield_key(enum pools_gfield f);

/* Whether two pools run the same way: every resolved value equal (env in
 * any order; ids too when both are resolved), origins ignored.  A SIGHUP
 * reload restarts exactly the pools for which this is false.  Compare
 * like with like: a defaulted group is NULL before pools_resolve_ids()
 * and a name after it. */
int pools_same(const struct pools_pool *a, const struct pools_pool *b);

/* Fills a sockaddr for bind()/connect().  Returns 0, or -1 when a Unix
 * path does not fit sun_path (never for a validated pool). */
int pools_listen_sockaddr(const struct pools_listen *l,
                          struct sockaddr_storage *ss, socklen_t *sslen);

/* Prints the resolved configuration for `vhostfcgi-spawn -t`: [global]
 * and every pool with every key, each value followed by
 * "; (from FILE:LINE)", "; (from FILE:LINE via template NAME)" or
 * "; (default)".  Keys that are not set are printed commented out.  The
 * output is itself a valid pools file describing the same pools.  Returns
 * 0, or -1 if writing failed. */
int pools_dump(FILE *out, const struct pools_conf *cfg);

#endif /* POOLS_CONF_H */
