/*
 * mod_vhostfcgi.c - module glue: configuration, directives and hooks.
 *
 * The request path lives in vf_proxy.c (mod_proxy's fcgi scheme handler)
 * and vf_exchange.c (one FastCGI request); the wire format in fcgi_proto.c.
 */
#define VF_DECLARES_MODULE     /* AP_DECLARE_MODULE below */
#include "mod_vhostfcgi.h"

#include "http_core.h"
#include "http_main.h"
#include "mod_so.h"
#include "apr_strings.h"
#include "apr_lib.h"

/* ------------------------------------------------------------------ */
/* Per-directory configuration                                         */
/* ------------------------------------------------------------------ */

static void *create_dir_conf(apr_pool_t *p, char *dir)
{
    vf_dir_conf *dc = apr_pcalloc(p, sizeof(*dc));

    (void)dir;
    dc->backend_type = VF_BACKEND_UNSET;
    dc->env_fixups = apr_array_make(p, 2, sizeof(vf_env_fixup));
    dc->check_script = VF_UNSET;
    dc->script_owner = VF_UNSET;
    return dc;
}

#define MERGE_UNSET(field) \
    dc->field = add->field != VF_UNSET ? add->field : base->field

static void *merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    const vf_dir_conf *base = basev, *add = addv;
    vf_dir_conf *dc = apr_pcalloc(p, sizeof(*dc));

    dc->backend_type = add->backend_type != VF_BACKEND_UNSET
                       ? add->backend_type : base->backend_type;
    /* As in mod_proxy_fcgi: fix-ups accumulate, outer scopes first. */
    dc->env_fixups = apr_array_append(p, base->env_fixups, add->env_fixups);
    dc->pool_set = add->pool_set || base->pool_set;
    dc->pool = add->pool_set ? add->pool : base->pool;
    dc->extensions = add->extensions ? add->extensions : base->extensions;
    MERGE_UNSET(check_script);
    MERGE_UNSET(script_owner);
    return dc;
}

static void *create_server_conf(apr_pool_t *p, server_rec *s)
{
    vf_server_conf *sc = apr_pcalloc(p, sizeof(*sc));

    (void)s;
    sc->admit_max = VF_UNSET;
    return sc;
}

/* Only admission control is per vhost; the rest is global. */
static void *merge_server_conf(apr_pool_t *p, void *basev, void *addv)
{
    const vf_server_conf *base = basev, *add = addv;
    vf_server_conf *sc = apr_pmemdup(p, add, sizeof(*sc));

    if (add->admit_max == VF_UNSET) {
        sc->admit_max = base->admit_max;
        sc->admit_queue = base->admit_queue;
        sc->admit_wait = base->admit_wait;
    }
    /* Server-wide settings (GLOBAL_ONLY directives) reach every vhost. */
    sc->pools_file = base->pools_file;
    sc->pools_file_where = base->pools_file_where;
    sc->spawner_argv = base->spawner_argv;
    sc->spawner_where = base->spawner_where;
    sc->health_checks = base->health_checks;
    return sc;
}

vf_dir_conf *vf_dir_conf_get(request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &vhostfcgi_module);
}

vf_server_conf *vf_server_conf_get(server_rec *s)
{
    return ap_get_module_config(s->module_config, &vhostfcgi_module);
}

/* ------------------------------------------------------------------ */
/* Directives                                                          */
/* ------------------------------------------------------------------ */

int vf_parse_number(const char *s, long min, long max, long *out)
{
    long v = 0;

    if (!*s) {
        return -1;
    }
    for (; *s; s++) {
        /* Checked digit by digit: strtol would take "-0", " 5" and "+5",
         * and a cast would wrap what overflows. */
        if (!apr_isdigit(*s) || (v = v * 10 + (*s - '0')) > max) {
            return -1;
        }
    }
    if (v < min) {
        return -1;
    }
    *out = v;
    return 0;
}

static const char *set_backend_type(cmd_parms *cmd, void *dcv,
                                    const char *arg)
{
    vf_dir_conf *dc = dcv;

    (void)cmd;
    if (!strcasecmp(arg, "FPM")) {
        dc->backend_type = VF_BACKEND_FPM;
    }
    else if (!strcasecmp(arg, "GENERIC")) {
        dc->backend_type = VF_BACKEND_GENERIC;
    }
    else {
        return "ProxyFCGIBackendType takes FPM or GENERIC";
    }
    return NULL;
}

/* ProxyFCGISetEnvIf condition [!]NAME [value], as in mod_proxy_fcgi. */
static const char *add_env_fixup(cmd_parms *cmd, void *dcv, const char *cond,
                                 const char *name, const char *value)
{
    vf_dir_conf *dc = dcv;
    vf_env_fixup *fx;
    const char *err = NULL;

    fx = apr_array_push(dc->env_fixups);
    fx->name = name;
    /* .htaccess is parsed with the request's pool as both pools. */
    fx->trusted = cmd->pool != cmd->temp_pool;
    fx->cond = ap_expr_parse_cmd(cmd, cond, 0, &err, NULL);
    if (err) {
        return apr_psprintf(cmd->pool, "ProxyFCGISetEnvIf: cannot parse "
                            "condition \"%s\": %s", cond, err);
    }
    if (name[0] == '!') {
        if (!name[1]) {
            return "ProxyFCGISetEnvIf: \"!\" is not a variable name";
        }
        if (value) {
            return apr_psprintf(cmd->pool, "ProxyFCGISetEnvIf: unsetting %s "
                                "takes no value (got \"%s\")", name + 1,
                                value);
        }
        fx->subst = NULL;
        return NULL;
    }
    fx->subst = ap_expr_parse_cmd(cmd, value ? value : "",
                                  AP_EXPR_FLAG_STRING_RESULT, &err, NULL);
    if (err) {
        return apr_psprintf(cmd->pool, "ProxyFCGISetEnvIf: cannot parse "
                            "value \"%s\": %s", value, err);
    }
    return NULL;
}

#define VF_ERRORS_KEY "vhostfcgi-config-errors"

/* A configuration error to report once parsing is over. */
static void defer_error(cmd_parms *cmd, const char *err)
{
    apr_array_header_t *errs = NULL;

    apr_pool_userdata_get((void **)&errs, VF_ERRORS_KEY, cmd->pool);
    if (!errs) {
        errs = apr_array_make(cmd->pool, 2, sizeof(const char *));
        apr_pool_userdata_setn(errs, VF_ERRORS_KEY, NULL, cmd->pool);
    }
    APR_ARRAY_PUSH(errs, const char *) = apr_psprintf(cmd->pool, "%s:%d: %s",
        cmd->directive->filename, cmd->directive->line_num, err);
}

static int report_deferred_errors(apr_pool_t *pconf)
{
    apr_array_header_t *errs = NULL;
    int i;

    apr_pool_userdata_get((void **)&errs, VF_ERRORS_KEY, pconf);
    for (i = 0; errs && i < errs->nelts; i++) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, NULL,
                     APLOGNO(10602) "%s", APR_ARRAY_IDX(errs, i,
                                                        const char *));
    }
    return errs && errs->nelts ? HTTP_INTERNAL_SERVER_ERROR : OK;
}

static int sections_any(ap_conf_vector_t *section, vf_section_fn *visit,
                        void *baton, int too_deep, int depth)
{
    const core_dir_config *d;
    apr_array_header_t *nested[2];
    int i, j, found;

    if ((found = visit(section, baton))) {
        return found;
    }
    if (!(d = ap_get_core_module_config(section))) {
        return 0;
    }
    if (depth > 32) {
        return too_deep;
    }
    nested[0] = d->sec_file;
    nested[1] = d->sec_if;
    for (i = 0; i < 2; i++) {
        for (j = 0; nested[i] && j < nested[i]->nelts; j++) {
            found = sections_any(APR_ARRAY_IDX(nested[i], j,
                                               ap_conf_vector_t *),
                                 visit, baton, too_deep, depth + 1);
            if (found) {
                return found;
            }
        }
    }
    return 0;
}

int vf_sections_any(ap_conf_vector_t *section, vf_section_fn *visit,
                    void *baton, int too_deep)
{
    return sections_any(section, visit, baton, too_deep, 0);
}

const char *vf_comment_hint(const char *arg)
{
    return arg[0] == '#' ? " (httpd takes comments on lines of their own "
                           "only)" : "";
}

/* Our directives' errors: reported once parsing is over, as one line
 * "FILE:LINE: message" (httpd's own syntax-error report takes two).  None
 * of our directives is allowed in .htaccess, where an error must be
 * returned at once. */
static const char *config_error(cmd_parms *cmd, const char *err)
{
    if (err) {
        defer_error(cmd, err);
    }
    return NULL;
}

static const char *set_pool(cmd_parms *cmd, void *dcv, int argc,
                            char *const argv[])
{
    vf_dir_conf *dc = dcv;
    const char *err;

    if (argc < 1) {
        return config_error(cmd, "VhostFcgiPool needs a pool name, a URL "
                                 "or none");
    }
    dc->pool_set = 1;
    err = vf_pool_define(cmd, argv[0], argc - 1,
                         (const char *const *)argv + 1, &dc->pool);
    return config_error(cmd, err);
}

static const char *add_extension(cmd_parms *cmd, void *dcv, const char *arg)
{
    vf_dir_conf *dc = dcv;

    if (arg[0] != '.' || !arg[1] || ap_strchr_c(arg, '/')) {
        return config_error(cmd, apr_psprintf(cmd->pool,
                            "VhostFcgiExtensions: '%s' is not an extension "
                            "such as .php%s", arg, vf_comment_hint(arg)));
    }
    if (!dc->extensions) {
        dc->extensions = apr_array_make(cmd->pool, 2, sizeof(const char *));
    }
    APR_ARRAY_PUSH(dc->extensions, const char *) = arg;
    return NULL;
}

static const char *set_check_script(cmd_parms *cmd, void *dcv, int on)
{
    (void)cmd;
    ((vf_dir_conf *)dcv)->check_script = on;
    return NULL;
}

static const char *set_script_owner(cmd_parms *cmd, void *dcv,
                                    const char *arg)
{
    vf_dir_conf *dc = dcv;

    if (!strcasecmp(arg, "any")) {
        dc->script_owner = VF_OWNER_ANY;
    }
    else if (!strcasecmp(arg, "pool")) {
        dc->script_owner = VF_OWNER_POOL;
    }
    else {
        return config_error(cmd, apr_psprintf(cmd->pool,
                            "VhostFcgiScriptOwner takes any or pool, not "
                            "'%s'", arg));
    }
    return NULL;
}

static const char *set_pools_file(cmd_parms *cmd, void *dcv, const char *arg)
{
    vf_server_conf *sc = vf_server_conf_get(cmd->server);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    (void)dcv;
    if (err) {
        return config_error(cmd, err);
    }
    sc->pools_file = ap_server_root_relative(cmd->pool, arg);
    sc->pools_file_where = apr_psprintf(cmd->pool, "%s:%d",
                                        cmd->directive->filename,
                                        cmd->directive->line_num);
    return NULL;
}

static const char *set_spawner(cmd_parms *cmd, void *dcv, int argc,
                               char *const argv[])
{
    vf_server_conf *sc = vf_server_conf_get(cmd->server);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    int i;

    (void)dcv;
    if (err) {
        return config_error(cmd, err);
    }
    if (argc < 1 || argv[0][0] != '/') {
        return config_error(cmd, "VhostFcgiSpawner needs the spawner's "
                                 "absolute path");
    }
    sc->spawner_argv = apr_array_make(cmd->pool, argc, sizeof(char *));
    for (i = 0; i < argc; i++) {
        /* An argument the spawner does not take makes it exit at once,
         * and httpd would restart it every few seconds, for ever. */
        if (argv[i][0] == '#') {
            return config_error(cmd, apr_psprintf(cmd->pool,
                                "VhostFcgiSpawner: '%s' is no argument%s",
                                argv[i], vf_comment_hint(argv[i])));
        }
        APR_ARRAY_PUSH(sc->spawner_argv, const char *) = argv[i];
    }
    sc->spawner_where = apr_psprintf(cmd->pool, "%s:%d",
                                     cmd->directive->filename,
                                     cmd->directive->line_num);
    return NULL;
}

/* VhostFcgiMaxInFlight N [queue=M] [wait=S] */
#define VF_ADMIT_MAX        100000      /* N and M */
#define VF_ADMIT_WAIT_MAX   3600        /* S, seconds */

static const char *set_max_inflight(cmd_parms *cmd, void *dcv, int argc,
                                    char *const argv[])
{
    vf_server_conf *sc = vf_server_conf_get(cmd->server);
    long max, queue = 0, wait = 0;
    int i;

    (void)dcv;
    /* Reported by check_config as one line, "FILE:LINE: message". */
    if (argc < 1 || vf_parse_number(argv[0], 1, VF_ADMIT_MAX, &max)) {
        defer_error(cmd, apr_psprintf(cmd->pool, "VhostFcgiMaxInFlight: "
                    "'%s' is not a number of requests 1..%d",
                    argc < 1 ? "" : argv[0], VF_ADMIT_MAX));
        return NULL;
    }
    for (i = 1; i < argc; i++) {
        const char *why = NULL;

        if (!strncmp(argv[i], "queue=", 6)) {
            if (vf_parse_number(argv[i] + 6, 0, VF_ADMIT_MAX, &queue)) {
                why = apr_psprintf(cmd->pool, "queue= takes a number of "
                                   "requests 0..%d", VF_ADMIT_MAX);
            }
        }
        else if (!strncmp(argv[i], "wait=", 5)) {
            if (vf_parse_number(argv[i] + 5, 0, VF_ADMIT_WAIT_MAX, &wait)) {
                why = apr_psprintf(cmd->pool, "wait= takes seconds 0..%d",
                                   VF_ADMIT_WAIT_MAX);
            }
        }
        else {
            why = "expected queue=M or wait=S";
        }
        if (why) {
            defer_error(cmd, apr_psprintf(cmd->pool, "VhostFcgiMaxInFlight: "
                        "bad option '%s' (%s)%s", argv[i], why,
                        vf_comment_hint(argv[i])));
            return NULL;
        }
    }
    sc->admit_max = (int)max;
    sc->admit_queue = (int)queue;
    sc->admit_wait = apr_time_from_sec(wait);
    return NULL;
}

static const char *set_health_check(cmd_parms *cmd, void *dcv, int argc,
                                    char *const argv[])
{
    (void)dcv;
    return config_error(cmd, vf_health_directive(cmd, argc, argv));
}

/* Declined always, for mod_proxy to define the member; an error is
 * reported once parsing is over. */
static const char *check_member(cmd_parms *cmd, void *dcv, const char *args)
{
    (void)dcv;
    config_error(cmd, vf_member_merged(cmd, args));
    return DECLINE_CMD;
}

static const command_rec vf_cmds[] = {
    AP_INIT_TAKE_ARGV("VhostFcgiPool", set_pool, NULL,
                      RSRC_CONF | ACCESS_CONF,
                      "where this scope's scripts run: a pool name, "
                      "unix:/path.sock, fcgi://host:port, balancer://name, "
                      "or none; then max=N idle=N idle_timeout=SECONDS"),
    AP_INIT_ITERATE("VhostFcgiExtensions", add_extension, NULL,
                    RSRC_CONF | ACCESS_CONF,
                    "file name endings that make a file a script "
                    "(default .php)"),
    AP_INIT_FLAG("VhostFcgiCheckScript", set_check_script, NULL,
                 RSRC_CONF | ACCESS_CONF,
                 "On (default): only existing script files are sent to a "
                 "backend"),
    AP_INIT_TAKE1("VhostFcgiScriptOwner", set_script_owner, NULL, RSRC_CONF,
                  "any (default) or pool: a script must belong to its "
                  "pool's user or group"),
    AP_INIT_TAKE1("VhostFcgiPoolsFile", set_pools_file, NULL, RSRC_CONF,
                  "the spawner's pools file, for pool names"),
    AP_INIT_TAKE_ARGV("VhostFcgiMaxInFlight", set_max_inflight, NULL,
                      RSRC_CONF, "N [queue=M] [wait=SECONDS]: requests of "
                      "a pool at its backend at once, and how many wait"),
    AP_INIT_TAKE_ARGV("VhostFcgiHealthCheck", set_health_check, NULL,
                      RSRC_CONF, "balancer://NAME [path=/ping|values] "
                      "[interval=S] [timeout=S] [fails=N] [passes=N]"),
    AP_INIT_TAKE_ARGV("VhostFcgiSpawner", set_spawner, NULL, RSRC_CONF,
                      "PATH [ARGS]: httpd runs and supervises the spawner "
                      "with the pools file"),
    AP_INIT_TAKE1("ProxyFCGIBackendType", set_backend_type, NULL,
                  OR_FILEINFO, "FPM or GENERIC: how SCRIPT_FILENAME is sent"),
    AP_INIT_TAKE23("ProxyFCGISetEnvIf", add_env_fixup, NULL, OR_FILEINFO,
                   "condition [!]variable [value]: adjust a FastCGI param"),
    AP_INIT_RAW_ARGS("BalancerMember", check_member, NULL,
                     RSRC_CONF | ACCESS_CONF, "read by mod_proxy; this "
                     "module only looks for members it would merge"),
    { NULL }
};

/* ------------------------------------------------------------------ */
/* Standing in for mod_proxy_fcgi in <IfModule>                        */
/* ------------------------------------------------------------------ */

/* Configurations guard their FastCGI handlers with <IfModule
 * proxy_fcgi_module> (Debian's php8.2-fpm.conf does).  With this module
 * loaded in mod_proxy_fcgi's place, such a block would be skipped without
 * a word, and its .php files served as they are: their source.  <IfModule>
 * asks mod_so which modules are loaded, through this optional function;
 * ours answers mod_proxy_fcgi's two names with this module and passes
 * every other question on.  mod_so registers its own again at each
 * (re)start, before any LoadModule runs, so the chain never goes stale. */
static APR_OPTIONAL_FN_TYPE(ap_find_loaded_module_symbol) *so_find_symbol;

static module *find_loaded_module_symbol(server_rec *s, const char *name)
{
    module *m = so_find_symbol ? so_find_symbol(s, name) : NULL;

    if (!m && (!strcmp(name, "proxy_fcgi_module")
               || !strcmp(name, "mod_proxy_fcgi.c"))) {
        return &vhostfcgi_module;
    }
    return m;
}

static void stand_in_for_proxy_fcgi(void)
{
    APR_OPTIONAL_FN_TYPE(ap_find_loaded_module_symbol) *f =
        APR_RETRIEVE_OPTIONAL_FN(ap_find_loaded_module_symbol);

    if (f != find_loaded_module_symbol) {
        so_find_symbol = f;
        apr_dynamic_fn_register("ap_find_loaded_module_symbol",
                                (apr_opt_fn_t *)find_loaded_module_symbol);
    }
}

/* ------------------------------------------------------------------ */
/* Startup checks                                                      */
/* ------------------------------------------------------------------ */

/* The LoadModule line that brought mod_proxy_fcgi in, to name it. */
static const ap_directive_t *find_load_module(const ap_directive_t *d,
                                              const char *module_name)
{
    for (; d; d = d->next) {
        const ap_directive_t *found;

        if (!strcasecmp(d->directive, "LoadModule") && d->args
            && !strncmp(d->args, module_name, strlen(module_name))
            && apr_isspace(d->args[strlen(module_name)])) {
            return d;
        }
        if (d->first_child
            && (found = find_load_module(d->first_child, module_name))) {
            return found;
        }
    }
    return NULL;
}

/*
 * (mod_proxy itself needs no check: without it this module's references to
 * mod_proxy's functions already stop LoadModule.)
 *
 * Both modules claim the fcgi scheme and the ProxyFCGI* directives; which
 * one would answer depends on load order, so running both is refused.
 */
static int refuse_proxy_fcgi(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp)
{
    const ap_directive_t *d;

    (void)pconf;
    (void)plog;
    if (!ap_find_linked_module("mod_proxy_fcgi.c")) {
        return OK;
    }
    d = find_load_module(ap_conftree, "proxy_fcgi_module");
    ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, NULL,
                 APLOGNO(10600) "%s%s%smod_vhostfcgi replaces "
                 "mod_proxy_fcgi: load only one of them (remove "
                 "\"LoadModule proxy_fcgi_module\" or a2dismod proxy_fcgi)",
                 d ? d->filename : "",
                 d ? apr_psprintf(ptemp, ":%d", d->line_num) : "",
                 d ? ": " : "");
    return HTTP_INTERNAL_SERVER_ERROR;
}

/* Runs for httpd -t as well as for a start: every configuration error the
 * module can find is found here. */
static int check_config(apr_pool_t *pconf, apr_pool_t *plog,
                        apr_pool_t *ptemp, server_rec *s)
{
    int status;

    (void)plog;
    if ((status = report_deferred_errors(pconf)) != OK
        || (status = vf_spawner_check_config(s)) != OK
        || (status = vf_pools_resolve(pconf, ptemp, s)) != OK) {
        return status;
    }
    return vf_health_check_config(ptemp, s);
}

static int post_config(apr_pool_t *pconf, apr_pool_t *plog,
                       apr_pool_t *ptemp, server_rec *s)
{
    int status;

    (void)plog;
    if ((status = vf_pools_share(pconf, ptemp)) != OK
        || (status = vf_health_post_config(pconf, ptemp, s)) != OK) {
        return status;
    }
    return vf_spawner_post_config(pconf, s);
}

static void child_init(apr_pool_t *pchild, server_rec *s)
{
    vf_pools_child_init(pchild, s);
    vf_spawner_child_init(s);
    vf_health_child_init(pchild, s);
}

static void register_hooks(apr_pool_t *p)
{
    stand_in_for_proxy_fcgi();
    ap_hook_pre_config(refuse_proxy_fcgi, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_check_config(check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(child_init, NULL, NULL, APR_HOOK_MIDDLE);
    vf_check_register_hooks(p);
    vf_serve_register_hooks(p);
    vf_gauges_register_hooks(p);
    vf_status_register_hooks(p);
    vf_proxy_register_hooks(p);
}

AP_DECLARE_MODULE(vhostfcgi) = {
    STANDARD20_MODULE_STUFF,
    create_dir_conf,
    merge_dir_conf,
    create_server_conf,
    merge_server_conf,
    vf_cmds,
    register_hooks,
    AP_MODULE_FLAG_NONE
};
