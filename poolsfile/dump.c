/*
 * dump.c - the resolved pools printed back as a pools file, each value
 * with where it came from (vhostfcgi-spawn -t).
 */
#include "internal.h"

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
    put_kv(out, "log_level", pc_log_level_words[g->log_level],
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
    put_kv(out, "pm", pc_pm_words[p->pm], &o[POOLS_F_PM], p->name, NULL, NULL);
    put_num(out, "pm.max_children", p->max_children,
            &o[POOLS_F_MAX_CHILDREN], p->name);
    for (i = POOLS_F_START_SERVERS; i <= POOLS_F_MAX_SPARE_SERVERS; i++) {
        char buf[16];
        unsigned v = i == POOLS_F_START_SERVERS ? p->start_servers
                   : i == POOLS_F_MIN_SPARE_SERVERS ? p->min_spare_servers
                   : p->max_spare_servers;

        snprintf(buf, sizeof(buf), "%u", v);
        put_kv(out, pc_pool_keys[i].key,
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
