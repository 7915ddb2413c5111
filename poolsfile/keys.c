/*
 * keys.c - the keys of the pools file (key, setter, field, bounds) and
 * the values of the keys not given.
 */
#include "internal.h"

/* The tables are indexed by field: keep them in the order of enum
 * pools_field and enum pools_gfield. */
#define PK(f, key, set, member, min, max, flags) \
    [f] = { key, f, offsetof(struct pools_pool, member), set, min, max, flags }
#define GK(f, key, set, member, min, max) \
    [f] = { key, f, offsetof(struct pools_global, member), set, min, max, 0 }

const struct keydef pc_pool_keys[POOLS_NFIELDS] = {
    PK(POOLS_F_COMMAND, "command", pc_set_path, command, 0, 0, 0),
    PK(POOLS_F_ARGS, "args", pc_set_args, args, 0, 0, 0),
    PK(POOLS_F_LISTEN, "listen", pc_set_listen, listen, 0, 0, 0),
    PK(POOLS_F_LISTEN_OWNER, "listen.owner", pc_set_name, listen_owner,
       0, 0, K_USER),
    PK(POOLS_F_LISTEN_GROUP, "listen.group", pc_set_name, listen_group,
       0, 0, 0),
    PK(POOLS_F_LISTEN_MODE, "listen.mode", pc_set_mode, listen_mode,
       0, 0777, 0),
    PK(POOLS_F_LISTEN_BACKLOG, "listen.backlog", pc_set_uint, listen_backlog,
       1, 65535, 0),
    PK(POOLS_F_USER, "user", pc_set_name, user, 0, 0, K_USER | K_NOT_ROOT),
    PK(POOLS_F_GROUP, "group", pc_set_name, group, 0, 0, K_NOT_ROOT),
    PK(POOLS_F_CHROOT, "chroot", pc_set_path, chroot, 0, 0, 0),
    PK(POOLS_F_CHDIR, "chdir", pc_set_path, chdir, 0, 0, 0),
    PK(POOLS_F_CLEAR_ENV, "clear_env", pc_set_bool, clear_env, 0, 0, 0),
    PK(POOLS_F_PM, "pm", pc_set_pm, pm, 0, 0, 0),
    PK(POOLS_F_MAX_CHILDREN, "pm.max_children", pc_set_uint, max_children,
       1, 65535, 0),
    PK(POOLS_F_START_SERVERS, "pm.start_servers", pc_set_uint, start_servers,
       1, 65535, 0),
    PK(POOLS_F_MIN_SPARE_SERVERS, "pm.min_spare_servers", pc_set_uint,
       min_spare_servers, 1, 65535, 0),
    PK(POOLS_F_MAX_SPARE_SERVERS, "pm.max_spare_servers", pc_set_uint,
       max_spare_servers, 1, 65535, 0),
    PK(POOLS_F_PROCESS_IDLE_TIMEOUT, "pm.process_idle_timeout",
       pc_set_duration, process_idle_timeout_ms, 1, MAX_DURATION_MS, 0),
    PK(POOLS_F_MAX_REQUESTS, "pm.max_requests", pc_set_uint, max_requests,
       0, UINT_MAX, 0),
    PK(POOLS_F_REQUEST_TERMINATE_TIMEOUT, "request_terminate_timeout",
       pc_set_duration, request_terminate_timeout_ms, 0, MAX_DURATION_MS, 0),
    PK(POOLS_F_RLIMIT_FILES, "rlimit_files", pc_set_rlimit, rlimit_files,
       1, MAX_RLIMIT, 0),
    PK(POOLS_F_RLIMIT_CORE, "rlimit_core", pc_set_rlimit, rlimit_core,
       0, MAX_RLIMIT, 0),
    PK(POOLS_F_CATCH_WORKERS_OUTPUT, "catch_workers_output", pc_set_bool,
       catch_workers_output, 0, 0, 0),
};

const struct keydef pc_global_keys[POOLS_G_NFIELDS] = {
    GK(POOLS_G_RUN_DIR, "run_dir", pc_set_path, run_dir, 0, 0),
    GK(POOLS_G_ERROR_LOG, "error_log", pc_set_path, error_log, 0, 0),
    GK(POOLS_G_PROCESS_MAX, "process.max", pc_set_uint, process_max,
       0, 4194304),
    GK(POOLS_G_PID, "pid", pc_set_path, pid, 0, 0),
    GK(POOLS_G_LOG_LEVEL, "log_level", pc_set_log_level, log_level, 0, 0),
};

const struct keydef *pc_find_key(const struct keydef *table, size_t n,
                                 const char *key)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(table[i].key, key) == 0)
            return &table[i];
    return NULL;
}

const char *pools_field_key(enum pools_field f)
{
    return (unsigned)f < POOLS_NFIELDS ? pc_pool_keys[f].key : NULL;
}

const char *pools_gfield_key(enum pools_gfield f)
{
    return (unsigned)f < POOLS_G_NFIELDS ? pc_global_keys[f].key : NULL;
}

/* Defaults, one line each (STYLE item 8: create marks unset, merge sets
 * the default).  Defaults that depend on other values (listen, the
 * dynamic spares, group) are filled in by finish_pool / resolve_ids. */
void pc_pool_defaults(struct pools_pool *p)
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

void pc_global_defaults(struct pools_global *g)
{
    memset(g, 0, sizeof(*g));
    g->run_dir = POOLS_DEFAULT_RUN_DIR;
    g->log_level = POOLS_LOG_NOTICE;
}

