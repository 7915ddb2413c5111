/*
 * vf_status.c - SetHandler vhostfcgi-status: every pool and every
 * balancer member, as HTML or (with ?json) as JSON.
 *
 * Pools: their counters live in shared memory (vf_pool_shared), so the
 * figures are the whole server's, not one child's.  Balancer members:
 * mod_proxy's own shared worker records (state, elected, busy, bytes), and
 * the last FastCGI health check where VhostFcgiHealthCheck covers them.
 *
 * Only a SetHandler of httpd's own configuration opens the page.  It names
 * every site's pools and members, and a tenant's .htaccess with FileInfo
 * could otherwise set the handler (SetHandler, AddHandler, RewriteRule
 * [H=]) in their own directory.
 */
#include "mod_vhostfcgi.h"
#include "mod_proxy.h"

#include "http_core.h"
#include "http_protocol.h"
#include "apr_hash.h"
#include "apr_strings.h"

#define VF_STATUS_HANDLER "vhostfcgi-status"

typedef struct {
    request_rec *r;
    int json;
    int first;              /* no comma before the next JSON element */
} vf_out;

/* The SetHandler expressions of httpd's configuration sections, by
 * address: a handler set anywhere else (an .htaccess file, a rewrite, a
 * type map) has none of them.  Rebuilt in pconf at each (re)start. */
static apr_hash_t *config_handlers;

static int collect_handler(ap_conf_vector_t *section, void *p)
{
    core_dir_config *d = ap_get_core_module_config(section);

    if (d && d->expr_handler) {
        apr_hash_set(config_handlers,
                     apr_pmemdup(p, &d->expr_handler, sizeof(d->expr_handler)),
                     sizeof(d->expr_handler), d->expr_handler);
    }
    return 0;                           /* on through every section */
}

static void collect_sections(apr_pool_t *p, apr_array_header_t *sections)
{
    int i;

    for (i = 0; sections && i < sections->nelts; i++) {
        vf_sections_any(APR_ARRAY_IDX(sections, i, ap_conf_vector_t *),
                        collect_handler, p, 0);
    }
}

static int vf_status_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                                 apr_pool_t *ptemp, server_rec *s)
{
    (void)plog;
    (void)ptemp;
    config_handlers = apr_hash_make(pconf);
    for (; s; s = s->next) {
        core_server_config *sc = ap_get_core_module_config(s->module_config);

        vf_sections_any(s->lookup_defaults, collect_handler, pconf, 0);
        collect_sections(pconf, sc->sec_dir);
        collect_sections(pconf, sc->sec_url);
    }
    return OK;
}

/* Whether r's handler is the one a SetHandler of httpd's configuration
 * gives it, rather than one a tenant could have set. */
static int set_by_config(request_rec *r)
{
    core_dir_config *d = ap_get_core_module_config(r->per_dir_config);
    const char *err = NULL, *h;

    if (!d->expr_handler || !config_handlers
        || !apr_hash_get(config_handlers, &d->expr_handler,
                         sizeof(d->expr_handler))) {
        return 0;
    }
    h = ap_expr_str_exec(r, d->expr_handler, &err);
    /* (r->handler is httpd's lowercased copy of h.) */
    return !err && h && !ap_cstr_casecmp(h, r->handler);
}

/* The latency bucket under which a share q of the requests fell. */
/* The counters' format (64 bits). */
#define U64 APR_UINT64_T_FMT

static apr_uint32_t percentile(const vf_pool_shared *sh, double q)
{
    static const apr_uint32_t bounds[] = VF_LATENCY_BOUNDS;
    apr_uint64_t total = 0, seen = 0;
    int b;

    for (b = 0; b < VF_LATENCY_BUCKETS; b++) {
        total += sh->latency[b];
    }
    if (!total) {
        return 0;
    }
    for (b = 0; b < VF_LATENCY_BUCKETS - 1; b++) {
        seen += sh->latency[b];
        if (seen >= q * total) {
            return bounds[b];
        }
    }
    return bounds[VF_LATENCY_BUCKETS - 2] + 1;
}

static const char *pool_target(const vf_pool *pool, apr_pool_t *p)
{
    switch (pool->kind) {
    case VF_POOL_BALANCER:
        return pool->proxy_handler + 6;
    case VF_POOL_TCP:
        return apr_psprintf(p, "%s:%u", pool->host, (unsigned)pool->port);
    default:
        return pool->sockpath ? pool->sockpath : "";
    }
}

static const char *json_str(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, strlen(s) * 6 + 3), *o = out;

    *o++ = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        }
        else if (c < 0x20) {
            o += sprintf(o, "\\u%04x", c);
        }
        else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

/* The pool's name and, under it, where it is named: the pools that
 * several vhosts each make of one URL or balancer are told apart so. */
static const char *pool_cell(request_rec *r, const vf_pool *pool)
{
    return apr_pstrcat(r->pool, ap_escape_html(r->pool, pool->name),
                       "<br><small>", ap_escape_html(r->pool, pool->where),
                       "</small>", NULL);
}

/* A balancer:// pool: mod_proxy serves it (its members are listed with
 * the balancers), so all it has of its own is VhostFcgiMaxInFlight's
 * count.  Where it is named tells the vhosts' pools of one name apart. */
static void show_balancer_pool(vf_out *out, const vf_pool *pool)
{
    request_rec *r = out->r;
    const vf_pool_shared *sh = pool->shared;

    if (out->json) {
        ap_rprintf(r, "%s\n    {\"name\": %s, \"target\": %s, \"where\": %s, "
                   "\"inflight\": %u, \"queued\": %u, "
                   "\"errors\": {\"admission\": %" APR_UINT64_T_FMT "}}",
                   out->first ? "" : ",", json_str(r->pool, pool->name),
                   json_str(r->pool, pool->name),
                   json_str(r->pool, pool->where), sh->inflight, sh->queued,
                   sh->err_admit);
        out->first = 0;
        return;
    }
    ap_rprintf(r, "<tr><td>%s</td><td>%s</td><td colspan=\"6\">"
               "balancer: members below</td><td>%u</td>"
               "<td colspan=\"3\"></td><td>-/%" APR_UINT64_T_FMT "/-/-/-</td>"
               "<td colspan=\"2\"></td></tr>\n",
               pool_cell(r, pool), ap_escape_html(r->pool, pool->name),
               sh->inflight, sh->err_admit);
}

static void show_pool(vf_out *out, const vf_pool *pool)
{
    request_rec *r = out->r;
    const vf_pool_shared *sh = pool->shared;
    const char *target = pool_target(pool, r->pool);

    if (!sh) {
        return;
    }
    if (pool->kind == VF_POOL_BALANCER) {
        show_balancer_pool(out, pool);
        return;
    }
    if (out->json) {
        ap_rprintf(r, "%s\n    {\"name\": %s, \"target\": %s, "
                   "\"where\": %s, \"max_conns\": %d, \"open\": %u, "
                   "\"idle\": %u, \"busy\": %u, \"waiting\": %u, "
                   "\"queued_at_backend\": %u, \"inflight\": %u, "
                   "\"queued\": %u, \"requests\": %" U64 ", \"opened\": "
                   "%" U64 ", \"reused\": %" U64 ", \"retried\": %" U64 ", "
                   "\"errors\": {\"connect\": %" U64 ", \"admission\": "
                   "%" U64 ", \"bad_gateway\": %" U64 ", \"timeout\": "
                   "%" U64 ", \"broken\": %" U64 "}, "
                   "\"p50_ms\": %u, \"p99_ms\": %u}",
                   out->first ? "" : ",", json_str(r->pool, pool->name),
                   json_str(r->pool, target), json_str(r->pool, pool->where),
                   pool->max_conns, sh->open,
                   sh->idle, sh->busy, sh->waiting,
                   (unsigned)vf_conn_backend_queue(pool),
                   sh->inflight,
                   sh->queued,
                   sh->requests, sh->opened, sh->reused, sh->retried,
                   sh->err_connect, sh->err_admit, sh->err_bad,
                   sh->err_timeout, sh->err_broken, percentile(sh, 0.5),
                   percentile(sh, 0.99));
        out->first = 0;
        return;
    }
    ap_rprintf(r, "<tr><td>%s</td><td>%s</td><td>%d</td><td>%u</td>"
               "<td>%u</td><td>%u</td><td>%u</td><td>%u</td><td>%u</td>"
               "<td>%" U64 "</td>"
               "<td>%" U64 "</td><td>%" U64 "</td><td>%" U64 "/%" U64 "/%" U64
               "/%" U64 "/%" U64 "</td>"
               "<td>&le;%u</td><td>&le;%u</td></tr>\n",
               pool_cell(r, pool),
               ap_escape_html(r->pool, target), pool->max_conns, sh->open,
               sh->idle, sh->busy, sh->waiting,
               (unsigned)vf_conn_backend_queue(pool), sh->inflight,
               sh->requests,
               sh->opened, sh->reused, sh->err_connect, sh->err_admit,
               sh->err_bad, sh->err_timeout, sh->err_broken,
               percentile(sh, 0.5), percentile(sh, 0.99));
}

/* A member's state in words: what the balancer makes of it. */
static const char *member_state(const proxy_worker *w)
{
    if (PROXY_WORKER_IS(w, PROXY_WORKER_STOPPED)) {
        return "stopped";
    }
    if (PROXY_WORKER_IS(w, PROXY_WORKER_DISABLED)) {
        return "disabled";
    }
    if (PROXY_WORKER_IS_HCFAILED(w)) {
        return "health-check-failed";
    }
    if (PROXY_WORKER_IS(w, PROXY_WORKER_IN_ERROR)) {
        return "error";
    }
    return "ok";
}

static void show_member(vf_out *out, const server_rec *s,
                        const proxy_balancer *b, const proxy_worker *w)
{
    request_rec *r = out->r;
    const char *vhost = s->server_hostname ? s->server_hostname : "";
    const vf_health_shared *hs = vf_health_find(r->server, b->s->name,
                                                w->s->name_ex);
    const char *check = "-";
    long ago = -1;

    if (hs && hs->last_check) {
        check = hs->last_result;
        ago = (long)apr_time_sec(apr_time_now() - hs->last_check);
    }
    if (out->json) {
        ap_rprintf(r, "%s\n    {\"server\": %s, \"balancer\": %s, "
                   "\"member\": %s, "
                   "\"state\": \"%s\", \"elected\": %" APR_SIZE_T_FMT ", "
                   "\"busy\": %" APR_SIZE_T_FMT ", \"sent\": %" APR_OFF_T_FMT
                   ", \"received\": %" APR_OFF_T_FMT ", \"health\": %s, "
                   "\"health_age_s\": %ld, \"checks\": %u, "
                   "\"check_failures\": %u}",
                   out->first ? "" : ",", json_str(r->pool, vhost),
                   json_str(r->pool, b->s->name),
                   json_str(r->pool, w->s->name_ex), member_state(w),
                   w->s->elected, w->s->busy, w->s->transferred, w->s->read,
                   json_str(r->pool, check), ago, hs ? hs->checks : 0,
                   hs ? hs->failures : 0);
        out->first = 0;
        return;
    }
    ap_rprintf(r, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%"
               APR_SIZE_T_FMT "</td><td>%" APR_SIZE_T_FMT "</td><td>%s"
               "</td><td>%ld</td><td>%u/%u</td></tr>\n",
               ap_escape_html(r->pool, vhost),
               ap_escape_html(r->pool, b->s->name),
               ap_escape_html(r->pool, w->s->name_ex), member_state(w),
               w->s->elected, w->s->busy, ap_escape_html(r->pool, check),
               ago, hs ? hs->checks : 0, hs ? hs->failures : 0);
}

static proxy_server_conf *proxy_conf_of(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &proxy_module);
}

/* The balancers of server s, but those named in skip (one known already,
 * or inherited). */
static void show_server_balancers(vf_out *out, const server_rec *s,
                                  proxy_server_conf *skip)
{
    const proxy_server_conf *pc = proxy_conf_of(s);
    const proxy_balancer *b = (const proxy_balancer *)pc->balancers->elts;
    int i, m;

    for (i = 0; i < pc->balancers->nelts; i++) {
        proxy_worker **w = (proxy_worker **)b[i].workers->elts;

        if (skip && ap_proxy_get_balancer(out->r->pool, skip, b[i].s->name,
                                          0)) {
            continue;
        }
        for (m = 0; m < b[i].workers->nelts; m++) {
            show_member(out, s, &b[i], w[m]);
        }
    }
}

/* Every balancer once: those of the server serving the page (its own and
 * the ones it inherits: mod_proxy keeps an inherited balancer's state per
 * server), the main server's it has not inherited, and those other
 * virtual hosts define for themselves. */
static void show_balancers(vf_out *out)
{
    server_rec *here = out->r->server, *s;
    proxy_server_conf *main_pc = proxy_conf_of(ap_server_conf);

    show_server_balancers(out, here, NULL);
    if (here != ap_server_conf) {
        show_server_balancers(out, ap_server_conf, proxy_conf_of(here));
    }
    for (s = ap_server_conf->next; s; s = s->next) {
        if (s != here) {
            show_server_balancers(out, s, main_pc);
        }
    }
}

static int vf_status_handler(request_rec *r)
{
    apr_hash_index_t *hi;
    vf_out out;

    if (!r->handler || strcmp(r->handler, VF_STATUS_HANDLER)) {
        return DECLINED;
    }
    if (!set_by_config(r)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10732)
                      "%s: the handler " VF_STATUS_HANDLER " is not set by "
                      "a SetHandler of httpd's configuration here (an "
                      ".htaccess file, AddHandler or a rewrite); refused, "
                      "the status page shows every site", r->uri);
        return HTTP_FORBIDDEN;
    }
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    out.r = r;
    out.json = r->args && !strncmp(r->args, "json", 4);
    out.first = 1;
    ap_set_content_type(r, out.json ? "application/json"
                                    : "text/html; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-cache");
    if (r->header_only) {
        return OK;
    }
    if (out.json) {
        ap_rputs("{\"pools\": [", r);
    }
    else {
        ap_rputs("<!DOCTYPE html>\n<html><head><title>mod_vhostfcgi status"
                 "</title></head><body>\n<h1>mod_vhostfcgi status</h1>\n"
                 "<h2>Pools</h2>\n<table border=\"1\"><tr><th>pool</th>"
                 "<th>target</th><th>max</th><th>open</th><th>idle</th>"
                 "<th>busy</th><th>waiting</th><th>queued at backend</th>"
                 "<th>in flight</th>"
                 "<th>requests</th><th>opened</th><th>reused</th>"
                 "<th>errors connect/admission/502/504/broken</th>"
                 "<th>p50 ms</th><th>p99 ms</th></tr>\n", r);
    }
    for (hi = apr_hash_first(r->pool, vf_pools_all(r->server)); hi;
         hi = apr_hash_next(hi)) {
        show_pool(&out, apr_hash_this_val(hi));
    }
    out.first = 1;
    if (out.json) {
        ap_rputs("\n  ],\n  \"backends\": [", r);
    }
    else {
        ap_rputs("</table>\n<h2>Balancer members</h2>\n<table border=\"1\">"
                 "<tr><th>vhost</th><th>balancer</th><th>member</th>"
                 "<th>state</th>"
                 "<th>elected</th><th>busy</th><th>last health check</th>"
                 "<th>seconds ago</th><th>checks/failed</th></tr>\n", r);
    }
    show_balancers(&out);
    ap_rputs(out.json ? "\n  ]\n}\n" : "</table>\n</body></html>\n", r);
    return OK;
}

void vf_status_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_post_config(vf_status_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(vf_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
