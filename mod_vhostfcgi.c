/*
 * mod_vhostfcgi.c - module glue: configuration, directives and hooks.
 *
 * The request path lives in vf_proxy.c (mod_proxy's fcgi scheme handler)
 * and vf_exchange.c (one FastCGI request); the wire format in fcgi_proto.c.
 */
#include "mod_vhostfcgi.h"

#include "http_core.h"
#include "http_main.h"
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
    return dc;
}

static void *merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    const vf_dir_conf *base = basev, *add = addv;
    vf_dir_conf *dc = apr_pcalloc(p, sizeof(*dc));

    dc->backend_type = add->backend_type != VF_BACKEND_UNSET
                       ? add->backend_type : base->backend_type;
    /* As in mod_proxy_fcgi: fix-ups accumulate, outer scopes first. */
    dc->env_fixups = apr_array_append(p, base->env_fixups, add->env_fixups);
    return dc;
}

/* ------------------------------------------------------------------ */
/* Directives                                                          */
/* ------------------------------------------------------------------ */

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

static const command_rec vf_cmds[] = {
    AP_INIT_TAKE1("ProxyFCGIBackendType", set_backend_type, NULL,
                  OR_FILEINFO, "FPM or GENERIC: how SCRIPT_FILENAME is sent"),
    AP_INIT_TAKE23("ProxyFCGISetEnvIf", add_env_fixup, NULL, OR_FILEINFO,
                   "condition [!]variable [value]: adjust a FastCGI param"),
    { NULL }
};

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

static void register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(refuse_proxy_fcgi, NULL, NULL, APR_HOOK_REALLY_FIRST);
    vf_proxy_register_hooks(p);
}

AP_DECLARE_MODULE(vhostfcgi) = {
    STANDARD20_MODULE_STUFF,
    create_dir_conf,
    merge_dir_conf,
    NULL,
    NULL,
    vf_cmds,
    register_hooks,
    AP_MODULE_FLAG_NONE
};
