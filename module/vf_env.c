/*
 * vf_env.c - the CGI/1.1 environment, sent as the FCGI_PARAMS stream.
 *
 * httpd's own ap_add_common_vars/ap_add_cgi_vars build the variables (so
 * they match mod_cgi and mod_proxy_fcgi exactly, including dropping the
 * Proxy request header against httpoxy); ProxyFCGISetEnvIf adjusts them;
 * fcgi_proto.c encodes them.
 */
#include "mod_vhostfcgi.h"

#include "util_script.h"
#include "apr_strings.h"

/*
 * Variables that steer the backend rather than inform the script: php-fpm
 * applies PHP_VALUE and PHP_ADMIN_VALUE as php.ini settings, and
 * PHP_ADMIN_VALUE can lift open_basedir or disable_functions.  Tenants must
 * not be able to set them.
 */
static const char *const control_vars[] = {
    "PHP_VALUE", "PHP_ADMIN_VALUE", NULL
};

/* Variables that say which file runs: derived from the checked file, and
 * never to be rewritten from a tenant's .htaccess (php-fpm runs
 * SCRIPT_FILENAME, or PATH_TRANSLATED with cgi.fix_pathinfo=0). */
static const char *const script_vars[] = {
    "SCRIPT_FILENAME", "SCRIPT_NAME", "PATH_INFO", "PATH_TRANSLATED",
    "DOCUMENT_ROOT", "CONTEXT_DOCUMENT_ROOT", "CONTEXT_PREFIX", NULL
};

static int in_list(const char *const *list, const char *name)
{
    int i;

    for (i = 0; list[i]; i++) {
        if (!strcasecmp(name, list[i])) {
            return 1;
        }
    }
    return 0;
}

/* Did a .htaccess file take part in this request?  Any may set variables:
 * SetEnv, SetEnvIf and RewriteRule [E=] need FileInfo or a name in an
 * AllowOverrideList, and httpd keeps neither with the parsed file (a
 * subdirectory's "AllowOverrideList None" hides its parent's). */
static int tenant_may_set_env(const request_rec *r)
{
    const struct htaccess_result *h;

    for (h = r->htaccess; h; h = h->next) {
        if (h->htaccess) {
            return 1;
        }
    }
    return 0;
}

/* mod_dir serves an index or a FallbackResource by turning the request
 * into a subrequest of its own (ap_internal_fast_redirect): the variables
 * that subrequest's .htaccess files set come along, its .htaccess list
 * does not.  Its notes do: the fixup of each leaves this one. */
#define VF_NOTE_TENANT_ENV "vhostfcgi-tenant-env"

void vf_env_note_tenant(request_rec *r)
{
    if (tenant_may_set_env(r)) {
        apr_table_setn(r->notes, VF_NOTE_TENANT_ENV, "1");
    }
}

/* Environment variables of that kind are trusted only where no tenant
 * could have set them; ProxyFCGISetEnvIf in server config (applied after
 * this) is the way to set them for such directories. */
static void drop_tenant_control_vars(request_rec *r)
{
    int i;

    /* A subrequest (an SSI #include virtual, say) starts with its
     * parent's variables, which the parent's content may have set
     * (#set var) where no .htaccess took part. */
    if (!r->main && !tenant_may_set_env(r)
        && !apr_table_get(r->notes, VF_NOTE_TENANT_ENV)) {
        return;
    }
    for (i = 0; control_vars[i]; i++) {
        if (apr_table_get(r->subprocess_env, control_vars[i])) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(10622)
                          "FastCGI: %s not sent: %s could have set it "
                          "here (set it with ProxyFCGISetEnvIf in the "
                          "server configuration)", control_vars[i],
                          r->main ? "the including document"
                                  : "a .htaccess file");
            apr_table_unset(r->subprocess_env, control_vars[i]);
        }
    }
}

static int tenant_may_not_set(const char *name)
{
    return in_list(control_vars, name) || in_list(script_vars, name);
}

/* ProxyFCGISetEnvIf, evaluated in configuration order. */
static apr_status_t apply_fixups(request_rec *r, const vf_dir_conf *dc)
{
    const vf_env_fixup *fx = (const vf_env_fixup *)dc->env_fixups->elts;
    int i;

    for (i = 0; i < dc->env_fixups->nelts; i++) {
        ap_regmatch_t m[AP_MAX_REG_MATCH];
        const char *src = NULL, *err = NULL, *val;
        int rc = ap_expr_exec_re(r, fx[i].cond, AP_MAX_REG_MATCH, m, &src,
                                 &err);

        if (rc < 0) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10620)
                          "ProxyFCGISetEnvIf: condition for %s failed: %s",
                          fx[i].name, err);
            return APR_EGENERAL;
        }
        if (rc == 0) {
            continue;
        }
        if (!fx[i].trusted && tenant_may_not_set(fx[i].name[0] == '!'
                                                 ? fx[i].name + 1
                                                 : fx[i].name)) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(10623)
                          "ProxyFCGISetEnvIf in .htaccess may not set %s; "
                          "ignored", fx[i].name);
            continue;
        }
        if (!fx[i].subst) {
            apr_table_unset(r->subprocess_env, fx[i].name + 1);
            continue;
        }
        val = ap_expr_str_exec_re(r, fx[i].subst, AP_MAX_REG_MATCH, m, &src,
                                  &err);
        if (err) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, APLOGNO(10621)
                          "ProxyFCGISetEnvIf: value for %s failed: %s",
                          fx[i].name, err);
            continue;
        }
        apr_table_setn(r->subprocess_env, fx[i].name, val);
    }
    return APR_SUCCESS;
}

/*
 * mod_proxy leaves "proxy:fcgi://host:port/path" in r->filename.  php-fpm
 * strips that prefix itself, so in FPM mode (the default) it is sent as it
 * is, exactly as mod_proxy_fcgi does; GENERIC backends get the path alone.
 * Balancer URLs never name a real host, so their prefix always goes.
 */
static void fix_filename(request_rec *r, const vf_dir_conf *dc)
{
    char *name = NULL;

    if (!r->filename) {
        return;
    }
    if (!strncmp(r->filename, "proxy:balancer://", 17)) {
        name = apr_pstrdup(r->pool, r->filename + 17);
    }
    if (dc->backend_type == VF_BACKEND_GENERIC) {
        if (!strncmp(r->filename, "proxy:fcgi://", 13)) {
            name = apr_pstrdup(r->pool, r->filename + 13);
        }
        if (name && r->args && *r->args) {
            char *q = strrchr(name, '?');

            if (q && !strcmp(q + 1, r->args)) {
                *q = '\0';
            }
        }
    }
    if (name) {
        r->filename = ap_strchr(name, '/');
    }
}

/* The pairs, encoded back to back; *cuts gets the offsets where a record
 * must end, so that no pair straddles two (PHP parses each PARAMS record
 * on its own and refuses a pair cut in two).  A pair too large for any
 * record is left out with a warning, as mod_proxy_fcgi does. */
static void encode_pairs(request_rec *r, const apr_table_t *env,
                         uint8_t **pairs, apr_array_header_t **cuts)
{
    const apr_array_header_t *arr = apr_table_elts(env);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    size_t len = 0, pos = 0, start = 0, n;
    int i;

    for (i = 0; i < arr->nelts; i++) {
        if (e[i].key && e[i].val) {
            len += fcgi_nv_len(strlen(e[i].key), strlen(e[i].val));
        }
    }
    *pairs = apr_palloc(r->pool, len ? len : 1);
    *cuts = apr_array_make(r->pool, 2, sizeof(size_t));
    for (i = 0; i < arr->nelts; i++) {
        if (!e[i].key || !e[i].val) {
            continue;
        }
        n = fcgi_nv_len(strlen(e[i].key), strlen(e[i].val));
        if (n > FCGI_MAX_ALIGNED_LEN) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(10737)
                          "FastCGI: %s not sent: %" APR_SIZE_T_FMT " bytes, "
                          "more than one record holds", e[i].key, n);
            continue;
        }
        if (pos - start + n > FCGI_MAX_ALIGNED_LEN) {
            APR_ARRAY_PUSH(*cuts, size_t) = start = pos;
        }
        pos += fcgi_nv_encode(*pairs + pos, len - pos, e[i].key,
                              strlen(e[i].key), e[i].val, strlen(e[i].val));
    }
    APR_ARRAY_PUSH(*cuts, size_t) = pos;
}

/* The whole PARAMS stream, cut into records, plus the empty record. */
static apr_status_t encode_table(request_rec *r, const apr_table_t *env,
                                 unsigned request_id, struct iovec *out)
{
    apr_array_header_t *cuts;
    uint8_t *pairs, *records;
    size_t start, rec_len = 0, w = 0;
    int i;

    encode_pairs(r, env, &pairs, &cuts);
    for (i = 0, start = 0; i < cuts->nelts; i++) {
        size_t end = APR_ARRAY_IDX(cuts, i, size_t);

        rec_len += fcgi_stream_records_len(end - start, FCGI_MAX_ALIGNED_LEN);
        start = end;
    }
    records = apr_palloc(r->pool, rec_len + FCGI_HEADER_LEN);
    for (i = 0, start = 0; i < cuts->nelts; i++) {
        size_t end = APR_ARRAY_IDX(cuts, i, size_t);

        w += fcgi_stream_records_encode(records + w, FCGI_PARAMS, request_id,
                                        pairs + start, end - start,
                                        FCGI_MAX_ALIGNED_LEN);
        start = end;
    }
    fcgi_header_encode(records + w, FCGI_PARAMS, request_id, 0, 0);
    out->iov_base = records;
    out->iov_len = w + FCGI_HEADER_LEN;
    return APR_SUCCESS;
}

/* A pool whose workers run chrooted (the pools file's chroot) sees its
 * files at paths inside the chroot: /home/uls/htdocs/x.php under chroot
 * /home/uls is /htdocs/x.php there.  (vf_check.c refuses a script outside
 * the chroot.) */
static void jail_paths(request_rec *r, const char *root)
{
    static const char *const names[] = {
        "SCRIPT_FILENAME", "DOCUMENT_ROOT", "CONTEXT_DOCUMENT_ROOT", NULL
    };
    apr_size_t len = strlen(root);
    int i;

    for (i = 0; names[i]; i++) {
        const char *v = apr_table_get(r->subprocess_env, names[i]);

        if (v && !strncmp(v, root, len) && (v[len] == '/' || !v[len])) {
            apr_table_setn(r->subprocess_env, names[i],
                           v[len] ? v + len : "/");
        }
    }
}

apr_status_t vf_env_encode(request_rec *r, const vf_dir_conf *dc,
                           const vf_body *body, unsigned request_id,
                           struct iovec *out)
{
    apr_status_t rv;
    int pooled = r->handler && !strcmp(r->handler, VF_POOL_HANDLER);

    fix_filename(r, dc);
    ap_add_common_vars(r);
    ap_add_cgi_vars(r);
    if (pooled && dc->pool && dc->pool->chroot) {
        jail_paths(r, dc->pool->chroot);
    }
    if (pooled || dc->check_script != 0) {
        /* php-fpm with cgi.fix_pathinfo=0 runs the file PATH_TRANSLATED
         * names (DOCUMENT_ROOT + PATH_INFO): for /s.php/private/other.php
         * that is other.php, chosen by the client and never checked.  The
         * checked SCRIPT_FILENAME is all the backend gets: always from a
         * pool, and from the drop-in unless VhostFcgiCheckScript is Off
         * (which keeps mod_proxy_fcgi's parameters exactly). */
        apr_table_unset(r->subprocess_env, "PATH_TRANSLATED");
    }

    /* The length the backend will really read, whatever the client said. */
    if (body->length >= 0) {
        apr_table_setn(r->subprocess_env, "CONTENT_LENGTH",
                       apr_off_t_toa(r->pool, body->length));
        apr_table_unset(r->subprocess_env, "HTTP_TRANSFER_ENCODING");
    }
    else {
        apr_table_unset(r->subprocess_env, "CONTENT_LENGTH");
    }

    drop_tenant_control_vars(r);
    if ((rv = apply_fixups(r, dc)) != APR_SUCCESS) {
        return rv;
    }
    if (APLOGrtrace8(r)) {
        const apr_array_header_t *arr = apr_table_elts(r->subprocess_env);
        const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
        int i;

        for (i = 0; i < arr->nelts; i++) {
            ap_log_rerror(APLOG_MARK, APLOG_TRACE8, 0, r,
                          "FastCGI param %s=%s", e[i].key, e[i].val);
        }
    }
    return encode_table(r, r->subprocess_env, request_id, out);
}
