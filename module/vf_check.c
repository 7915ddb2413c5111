/*
 * vf_check.c - the script check, and routing a request to its pool.
 *
 * Runs as a fixup, after httpd's own walk has applied aliases, rewrites,
 * Options and access checks, so the question "is this a script?" is asked
 * of the real file, not of the URL:
 *
 *   - the resolved file exists and is a regular file,
 *   - its own name ends in one of VhostFcgiExtensions (default .php),
 *     and so does the name of the file a symlink leads to (x.php ->
 *     evil.gif is evil.gif to PHP, which reads the target),
 *   - with VhostFcgiScriptOwner pool, its group (or owner) is the pool's.
 *
 * A request that passes goes to its pool (VhostFcgiPool, served by
 * vf_serve.c) or on to mod_proxy (drop-in SetHandler "proxy:...fcgi://",
 * or a balancer of fcgi:// members).  One that does not is left to httpd
 * as for any file: 404 for a missing script, the file itself for a
 * non-script (/evil.gif/x.php is evil.gif with PATH_INFO /x.php, and is
 * never executed), the index search of mod_dir goes on to the next
 * DirectoryIndex name.  Except a file named as PHP runs it (x.phtml, say,
 * when only .php is a script here): that gets 403, as a file it would show
 * its source; so does a symlink x.php -> evil.gif.  A refused request
 * never contacts a backend.
 *
 * Where VhostFcgiPool applies, the pool wins over a FastCGI handler set
 * for the same scope (a server-wide php-fpm SetHandler, or one an
 * .htaccess wrote naming another site's socket): a site's requests reach
 * its own pool and no other socket.
 */
#include "mod_vhostfcgi.h"

#include "mod_proxy.h"

#include "http_core.h"
#include "http_request.h"
#include "apr_strings.h"

#include <stdlib.h>             /* realpath */

static int has_script_extension(const char *filename,
                                const apr_array_header_t *exts)
{
    const char *base = strrchr(filename, '/');
    size_t blen;
    int i;

    base = base ? base + 1 : filename;
    blen = strlen(base);
    if (!exts) {
        return blen > 4 && !strcmp(base + blen - 4, ".php");
    }
    for (i = 0; i < exts->nelts; i++) {
        const char *ext = APR_ARRAY_IDX(exts, i, const char *);
        size_t elen = strlen(ext);

        /* Case-sensitive on purpose: x.PHP is not a script. */
        if (blen > elen && !strcmp(base + blen - elen, ext)) {
            return 1;
        }
    }
    return 0;
}

static const char NOT_SCRIPT_EXT[] = "not a script extension";
static const char NOT_SCRIPT_LINK[] = "a symlink to a file that is no script";

/* Whether r->filename is a symlink whose target's name is no script's.
 * httpd's walk follows links as Options allow, and r->finfo describes the
 * target, not the link, so it takes an lstat of our own. */
static int link_to_non_script(request_rec *r, const vf_dir_conf *dc)
{
    apr_finfo_t lf;
    char *real;
    int script;

    if (apr_stat(&lf, r->filename, APR_FINFO_LINK | APR_FINFO_TYPE, r->pool)
        != APR_SUCCESS || lf.filetype != APR_LNK) {
        return 0;
    }
    if (!(real = realpath(r->filename, NULL))) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, errno, r, APLOGNO(10733)
                      "script check: symlink %s does not resolve; refused",
                      r->filename);
        return 1;
    }
    script = has_script_extension(real, dc->extensions);
    if (!script) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10734)
                      "script check: %s is a symlink to %s, whose name is "
                      "not a script's; refused", r->filename, real);
    }
    free(real);
    return !script;
}

/* NULL when r names a script, else why not (for the debug log). */
static const char *not_a_script(request_rec *r, const vf_dir_conf *dc)
{
    if (r->finfo.filetype == APR_NOFILE) {
        return "no such file";
    }
    if (r->finfo.filetype != APR_REG) {
        return "not a regular file";
    }
    if (!has_script_extension(r->filename, dc->extensions)) {
        return NOT_SCRIPT_EXT;
    }
    if (link_to_non_script(r, dc)) {
        return NOT_SCRIPT_LINK;
    }
    return NULL;
}

/* Named as PHP runs it somewhere (Debian's php-fpm configuration routes
 * .php, .phtml and .phar; older ones .php3 to .php8 and .pht), in any
 * case.  (Not .phps: that one is meant to show its source.) */
static int php_named(const char *filename)
{
    static const char *const exts[] = {
        ".php", ".phtml", ".phar", ".pht", ".php3", ".php4", ".php5",
        ".php7", ".php8"
    };
    const char *base = strrchr(filename, '/');
    size_t blen, i;

    base = base ? base + 1 : filename;
    blen = strlen(base);
    for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        size_t elen = strlen(exts[i]);

        if (blen > elen && !strcasecmp(base + blen - elen, exts[i])) {
            return 1;
        }
    }
    return 0;
}

/* A file that failed the check: left to httpd (DECLINED), or 403 when
 * httpd would serve the source of a file named as PHP, or a script's name
 * leads to a non-script. */
static int refuse(request_rec *r, const char *why, int dropin)
{
    if (why == NOT_SCRIPT_LINK) {
        return HTTP_FORBIDDEN;          /* a script's name on a non-script */
    }
    if (why == NOT_SCRIPT_EXT && php_named(r->filename)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10720)
                      "script check: %s is named as PHP but its extension "
                      "is not in VhostFcgiExtensions; refused rather than "
                      "served as a file (its source)", r->filename);
        return HTTP_FORBIDDEN;
    }
    if (dropin) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, APLOGNO(10682)
                      "script check: %s%s: %s; not proxied",
                      r->filename, r->path_info ? r->path_info : "", why);
        r->handler = NULL;
    }
    else {
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                      "script check: %s: %s; left to httpd", r->filename,
                      why);
    }
    return DECLINED;
}

/* VhostFcgiScriptOwner pool: the script must belong to the pool's site. */
static int owner_allowed(request_rec *r, const vf_dir_conf *dc,
                         const vf_pool *pool)
{
    if (dc->script_owner != VF_OWNER_POOL) {
        return 1;
    }
    if (!pool || !pool->has_ids) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10680)
                      "VhostFcgiScriptOwner pool: %s has no pool from the "
                      "pools file to compare owners with; refused",
                      r->filename);
        return 0;
    }
    if (!(r->finfo.valid & APR_FINFO_OWNER)) {
        apr_finfo_t fi;

        apr_status_t rv = apr_stat(&fi, r->filename, APR_FINFO_OWNER,
                                   r->pool);

        if (rv != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(10738)
                          "VhostFcgiScriptOwner pool: cannot see who owns "
                          "%s; refused", r->filename);
            return 0;
        }
        r->finfo.user = fi.user;
        r->finfo.group = fi.group;
    }
    if (r->finfo.group == pool->gid || r->finfo.user == pool->uid) {
        return 1;
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10681)
                  "VhostFcgiScriptOwner pool: %s (uid %ld, gid %ld) does not "
                  "belong to pool %s (uid %ld, gid %ld); refused",
                  r->filename, (long)r->finfo.user, (long)r->finfo.group,
                  pool->name, (long)pool->uid, (long)pool->gid);
    return 0;
}

/* url_names_script's answers: the URL names a script, or a script with
 * a path after it. */
#define VF_URL_SCRIPT   1
#define VF_URL_PATH     2

/* VhostFcgiCheckScript Off: route by URL as ProxyPassMatch "\.php(/.*)?$"
 * does, and leave finding the file to the backend; only there to compare
 * with, or for backends that serve no files.  0 when it names none. */
static int url_names_script(request_rec *r, const vf_dir_conf *dc)
{
    static const char *const php[] = { ".php" };
    const char *const *exts = php;
    int n = 1, i;

    if (dc->extensions) {
        exts = (const char *const *)dc->extensions->elts;
        n = dc->extensions->nelts;
    }
    for (i = 0; i < n; i++) {
        size_t len = strlen(exts[i]);
        const char *p;

        for (p = r->uri; (p = strstr(p, exts[i])); p += len) {
            if (p[len] == '\0' || p[len] == '/') {
                /* The backend gets the unchecked path, PATH_INFO unsplit. */
                r->filename = apr_pstrcat(r->pool, r->filename,
                                          r->path_info ? r->path_info : "",
                                          NULL);
                r->path_info = NULL;
                return p[len] == '/' ? VF_URL_PATH : VF_URL_SCRIPT;
            }
        }
    }
    return 0;
}

/* AcceptPathInfo Off: a script with a path after it (/x.php/extra) is a
 * 404, as mod_cgi answers it; the backend never sees it.  Unset, the
 * path is accepted, as PHP applications expect.  what: the script and
 * the path after it. */
static int path_info_refused(request_rec *r, const char *what)
{
    if (r->used_path_info != AP_REQ_REJECT_PATH_INFO) {
        return 0;
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10726)
                  "%s: AcceptPathInfo Off refuses the path after the "
                  "script", what);
    return 1;
}

/* Does a handler send the request to FastCGI through mod_proxy: "proxy:"
 * and an fcgi:// URL (any case: mod_proxy matches schemes so), or a
 * balancer with fcgi:// members? */
static int is_fcgi_proxy_handler(request_rec *r, const char *handler)
{
    proxy_server_conf *pc;
    proxy_balancer *b;
    proxy_worker **m;
    int i;

    if (!handler || strncmp(handler, "proxy:", 6)) {
        return 0;
    }
    if (ap_strcasestr(handler + 6, "fcgi://")) {
        return 1;
    }
    if (strncasecmp(handler + 6, "balancer://", 11)
        || !(pc = ap_get_module_config(r->server->module_config,
                                       &proxy_module))
        || !(b = ap_proxy_get_balancer(r->pool, pc, handler + 6, 0))) {
        return 0;
    }
    m = (proxy_worker **)b->workers->elts;
    for (i = 0; i < b->workers->nelts; i++) {
        if (!strcasecmp(m[i]->s->scheme, "fcgi")) {
            return 1;
        }
    }
    return 0;
}

/* Is path at or under dir (no trailing '/')? */
static int inside(const char *path, const char *dir)
{
    apr_size_t len = strlen(dir);

    return !strncmp(path, dir, len) && (path[len] == '/' || !path[len]);
}

/* What the check let through, by handler: the handlers compare (see
 * vf_check_routed).  mod_dir's fast redirect to an index brings its
 * subrequest's notes along. */
#define VF_NOTE_ROUTED      "vhostfcgi-routed"
/* r->proxyreq was set before the directory walk read any .htaccess. */
#define VF_NOTE_EARLY_PROXY "vhostfcgi-early-proxy"

static void note_route(request_rec *r, const char *handler)
{
    apr_table_set(r->notes, VF_NOTE_ROUTED, handler);
}

int vf_check_routed(request_rec *r, const char *handler)
{
    const char *routed = apr_table_get(r->notes, VF_NOTE_ROUTED);

    return routed && handler && !strcmp(routed, handler);
}

int vf_check_proxy_route(request_rec *r)
{
    const vf_dir_conf *dc = vf_dir_conf_get(r);

    if (apr_table_get(r->notes, VF_NOTE_EARLY_PROXY)
        || vf_check_routed(r, r->handler)
        || (!dc->pool && dc->check_script == 0)) {
        return OK;
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10735)
                  "%s: the FastCGI handler %s was set after the script "
                  "check (an .htaccess RewriteRule [H=], [T=] or [P], or a "
                  "type); refused", r->uri, r->handler ? r->handler : "");
    return HTTP_FORBIDDEN;
}

/* Runs before the directory walk reads any .htaccess file. */
static int note_early_proxy(request_rec *r)
{
    if (r->proxyreq) {
        apr_table_setn(r->notes, VF_NOTE_EARLY_PROXY, "1");
    }
    return DECLINED;
}

/* mod_rewrite, when loaded: only its per-directory rules set a proxy
 * request after the directory walk. */
static module *rewrite_module_p;

static int check_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf;
    (void)plog;
    (void)ptemp;
    (void)s;
    rewrite_module_p = ap_find_linked_module("mod_rewrite.c");
    return OK;
}

/* Whether a section (a parsed .htaccess, or a <Files> or <If> inside it)
 * holds a mod_rewrite directive.  httpd gives a section a module's
 * per-directory config only when one of that module's directives appears
 * in it, and merges leave the parent's untouched otherwise: without one,
 * the request's rewrite rules are all httpd configuration's. */
static int has_rewrite_conf(ap_conf_vector_t *section, void *baton)
{
    (void)baton;
    return ap_get_module_config(section, rewrite_module_p) != NULL;
}

/* A per-directory RewriteRule [P] is the configuration's own where no
 * .htaccess file that took part holds a rewrite directive (a site's
 * .htaccess for other things leaves the admin's rules alone). */
static void note_config_proxy(request_rec *r)
{
    const struct htaccess_result *h;

    if (!rewrite_module_p) {
        return;
    }
    for (h = r->htaccess; h; h = h->next) {
        /* (Nested past any sane depth: assume it does.) */
        if (h->htaccess
            && vf_sections_any(h->htaccess, has_rewrite_conf, NULL, 1)) {
            return;
        }
    }
    apr_table_setn(r->notes, VF_NOTE_EARLY_PROXY, "1");
}

/* The script check (VhostFcgiCheckScript On): OK, or the answer. */
static int check_script(request_rec *r, const vf_dir_conf *dc, int dropin)
{
    const char *why;

    if ((why = not_a_script(r, dc))) {
        return refuse(r, why, dropin);
    }
    if (!owner_allowed(r, dc, dc->pool)) {
        return HTTP_FORBIDDEN;
    }
    if (r->path_info && *r->path_info
        && path_info_refused(r, apr_pstrcat(r->pool, r->filename,
                                            r->path_info, NULL))) {
        return HTTP_NOT_FOUND;
    }
    return OK;
}

/* With the check off, the URL alone says whether a script is asked for:
 * OK, or the answer (DECLINED: not ours). */
static int check_url(request_rec *r, const vf_dir_conf *dc, int overridden)
{
    int named = url_names_script(r, dc);

    if (!named) {
        /* A FastCGI handler the pool overrode ran this file before: with
         * the check off, a name the URL test misses is still refused
         * rather than served as a file. */
        return overridden ? refuse(r, NOT_SCRIPT_EXT, 0) : DECLINED;
    }
    /* (Without the check, httpd's path_info is only where its walk stopped
     * on disk: the URL says what follows the script.) */
    if (named == VF_URL_PATH && path_info_refused(r, r->uri)) {
        return HTTP_NOT_FOUND;
    }
    return OK;
}

/* A request that passed: to mod_proxy's balancer, or to our handler. */
static int route_to_pool(request_rec *r, const vf_pool *pool)
{
    if (pool->kind == VF_POOL_BALANCER) {
        r->handler = pool->proxy_handler;       /* mod_proxy's turn */
        note_route(r, r->handler);
        return OK;
    }
    if (pool->chroot && !inside(r->filename, pool->chroot)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10725)
                      "%s is outside the chroot %s of pool %s; refused",
                      r->filename, pool->chroot, pool->name);
        return HTTP_NOT_FOUND;
    }
    /* The handler finds the pool in the directory config again: that, not
     * request_config, survives mod_dir's fast redirect to an index. */
    r->handler = VF_POOL_HANDLER;
    note_route(r, r->handler);
    return OK;
}

static int vf_fixups(request_rec *r)
{
    vf_dir_conf *dc = vf_dir_conf_get(r);
    int check = dc->check_script != 0;      /* unset means On */
    int dropin, overridden = 0, status;

    /* Only this hook routes to a pool: the handler's name set by
     * SetHandler, AddHandler or RewriteRule [H=] (an .htaccess may) is no
     * pass through the check. */
    if (r->handler && !strcmp(r->handler, VF_POOL_HANDLER)) {
        r->handler = NULL;
    }
    /* A route noted for another file (a MultiViews or index subrequest's,
     * brought along by a fast redirect) is no pass for this one. */
    apr_table_unset(r->notes, VF_NOTE_ROUTED);
    vf_env_note_tenant(r);
    /* ProxyPass and friends are not ours; nor is a per-directory rewrite's
     * pending internal redirect (the new request comes back here). */
    if (r->proxyreq) {
        note_config_proxy(r);
        return DECLINED;
    }
    if (!r->filename || !strncmp(r->filename, "redirect:", 9)) {
        return DECLINED;
    }

    /* Drop-in: SetHandler "proxy:unix:...|fcgi://..." in a FilesMatch. */
    dropin = is_fcgi_proxy_handler(r, r->handler);
    if (dropin && dc->pool) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, APLOGNO(10721)
                      "%s: the handler %s is overridden by VhostFcgiPool %s",
                      r->filename, r->handler, dc->pool->name);
        r->handler = NULL;
        dropin = 0;
        overridden = 1;
    }
    if (!dropin && !dc->pool) {
        return DECLINED;
    }
    if (check && (status = check_script(r, dc, dropin)) != OK) {
        return status;
    }
    if (dropin) {
        note_route(r, r->handler);
        return DECLINED;                        /* mod_proxy's turn */
    }
    if (!check && (status = check_url(r, dc, overridden)) != OK) {
        return status;
    }
    /* Whose script it is matters with the check off too (the file must
     * then be on this host to say). */
    if (!check && !owner_allowed(r, dc, dc->pool)) {
        return HTTP_FORBIDDEN;
    }
    return route_to_pool(r, dc->pool);
}

/* mod_rewrite applies [H=] (from httpd's configuration or a tenant's
 * .htaccess) at the end of the fixups, after vf_fixups: a handler that
 * now names a pool or a FastCGI backend, and is not the one the check let
 * through, is checked and routed again, as if it had been set before. */
static int vf_fixups_late(request_rec *r)
{
    const char *h = r->handler;

    if (r->proxyreq || !h || vf_check_routed(r, h)
        || (strcmp(h, VF_POOL_HANDLER) && !is_fcgi_proxy_handler(r, h))) {
        return DECLINED;
    }
    return vf_fixups(r);
}

void vf_check_register_hooks(apr_pool_t *p)
{
    /* After SetHandler (fixups, REALLY_FIRST) and mod_rewrite, before
     * mod_dir picks an index (LAST). */
    static const char *const after[] = { "mod_rewrite.c", NULL };

    (void)p;
    ap_hook_post_config(check_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_map_to_storage(note_early_proxy, NULL, NULL,
                           APR_HOOK_REALLY_FIRST);
    ap_hook_fixups(vf_fixups, after, NULL, APR_HOOK_MIDDLE);
    ap_hook_fixups(vf_fixups_late, NULL, NULL, APR_HOOK_REALLY_LAST);
}
