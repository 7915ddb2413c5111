/*
 * vf_proxy.c - mod_proxy's handler for the fcgi scheme.
 *
 * Everything written for mod_proxy_fcgi keeps working: SetHandler
 * "proxy:unix:...|fcgi://...", ProxyPass, ProxyPassMatch, RewriteRule [P],
 * balancer:// members, worker parameters.  mod_proxy finds the worker and
 * hands over its connection; vf_exchange.c does the FastCGI part.
 */
#include "mod_vhostfcgi.h"
#include "mod_proxy.h"

#include "http_core.h"
#include "http_request.h"
#include "apr_optional_hooks.h"
#include "apr_strings.h"

/* Set by canon when proxy-fcgi-pathinfo=full asks for a directory walk. */
#define VF_NOTE_DIRWALK "vhostfcgi-dirwalk"

/* ------------------------------------------------------------------ */
/* URL canonicalisation                                                */
/* ------------------------------------------------------------------ */

/*
 * The proxy-fcgi-pathinfo variable, as mod_proxy_fcgi defines it: how the
 * path after the script is split off into PATH_INFO.
 */
static void split_path_info(request_rec *r, char *path, const char *how)
{
    char *dot, *slash;

    if (!strcasecmp(how, "full")) {
        apr_table_setn(r->notes, VF_NOTE_DIRWALK, "1");
        ap_unescape_url_keep2f(path, 0);
        return;
    }
    if (!strcasecmp(how, "first-dot") || !strcasecmp(how, "last-dot")) {
        dot = how[0] == 'f' || how[0] == 'F' ? ap_strchr(path, '.')
                                             : ap_strrchr(path, '.');
        if (dot && (slash = ap_strchr(dot, '/'))) {
            r->path_info = apr_pstrdup(r->pool, slash);
            ap_unescape_url_keep2f(r->path_info, 0);
            *slash = '\0';
        }
        return;
    }
    /* Any other value: the whole path is PATH_INFO, for the backend to
     * split ("unescape" decodes it first). */
    r->path_info = apr_pstrcat(r->pool, "/", path, NULL);
    if (!strcasecmp(how, "unescape")) {
        ap_unescape_url_keep2f(r->path_info, 0);
    }
}

static int vf_canon(request_rec *r, char *url)
{
    char *host, *path, sport[8];
    const char *err, *how;
    apr_port_t port, def_port;

    if (ap_cstr_casecmpn(url, "fcgi:", 5)) {
        return DECLINED;
    }
    url += 5;
    port = def_port = ap_proxy_port_of_scheme("fcgi");
    err = ap_proxy_canon_netloc(r->pool, &url, NULL, NULL, &host, &port);
    if (err) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10650)
                      "FastCGI: cannot parse URL %s: %s", url, err);
        return HTTP_BAD_REQUEST;
    }
    sport[0] = '\0';
    if (port != def_port) {
        apr_snprintf(sport, sizeof(sport), ":%d", port);
    }
    if (ap_strchr_c(host, ':')) {
        host = apr_pstrcat(r->pool, "[", host, "]", NULL);
    }

    if (apr_table_get(r->notes, "proxy-nocanon")
        || apr_table_get(r->notes, "proxy-noencode")) {
        path = url;
        /* Raw controls or spaces here mean the encoding step was skipped. */
        if (*ap_scan_vchar_obstext(path)) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10651)
                          "FastCGI: path to forward contains control "
                          "characters or spaces");
            return HTTP_FORBIDDEN;
        }
    }
    else {
        core_dir_config *d = ap_get_core_module_config(r->per_dir_config);
        int flags = d->allow_encoded_slashes && !d->decode_encoded_slashes
                    ? PROXY_CANONENC_NOENCODEDSLASHENCODING : 0;

        path = ap_proxy_canonenc_ex(r->pool, url, (int)strlen(url), enc_path,
                                    flags, r->proxyreq);
        if (!path) {
            return HTTP_BAD_REQUEST;
        }
    }

    r->filename = apr_pstrcat(r->pool, "proxy:fcgi://", host, sport, "/",
                              path, NULL);
    if ((how = apr_table_get(r->subprocess_env, "proxy-fcgi-pathinfo"))) {
        split_path_info(r, path, how);
    }
    return OK;
}

/* ------------------------------------------------------------------ */
/* The scheme handler                                                  */
/* ------------------------------------------------------------------ */

/* Returns OK with *reused set, or 503.  A pooled socket the backend closed
 * while idle is noticed and dropped by ap_proxy_check_connection.  With
 * fresh set, a pooled socket is closed and a new one opened (for a
 * request that may not ride on a kept one, vf_may_ride_kept, or the
 * retry of one that met a close). */
static int connect_backend(request_rec *r, proxy_conn_rec *backend,
                           proxy_worker *worker, int fresh, int *reused)
{
    *reused = 0;
    if (fresh && backend->sock) {
        /* Shut down, the socket fails the check below. */
        apr_socket_shutdown(backend->sock, APR_SHUTDOWN_READWRITE);
    }
    if (ap_proxy_check_connection(VF_SCHEME, backend, r->server, 0,
                                  PROXY_CHECK_CONN_EMPTY) == APR_SUCCESS) {
        *reused = 1;
        return OK;
    }
    if (ap_proxy_connect_backend(VF_SCHEME, backend, worker, r->server)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10652)
                      "FastCGI: cannot connect to backend %s (vhost %s)",
                      ap_proxy_worker_name(r->pool, worker),
                      r->server->server_hostname);
        return HTTP_SERVICE_UNAVAILABLE;
    }
    return OK;
}

/* The backend as the log names it, fcgi://host:port or unix:/path: its
 * host alone cannot tell two members on one host apart.  From the
 * connection, not the worker: a drop-in SetHandler's is the generic
 * "proxy:reverse". */
static const char *backend_url(apr_pool_t *p, const proxy_conn_rec *backend)
{
    if (backend->uds_path) {
        return apr_pstrcat(p, "unix:", backend->uds_path, NULL);
    }
    return apr_psprintf(p, ap_strchr_c(backend->hostname, ':')
                           ? "fcgi://[%s]:%u" : "fcgi://%s:%u",
                        backend->hostname, (unsigned)backend->port);
}

/* Step 4: the exchange, once more on a fresh connection if a reused one
 * turned out closed before anything of the request was used.  Returns OK
 * with *outcome set, or the status of a connect that failed. */
static int exchange(request_rec *r, proxy_conn_rec *backend,
                    proxy_worker *worker, proxy_server_conf *conf,
                    vf_exchange *x, vf_outcome *outcome)
{
    int status, attempt;

    for (attempt = 0; attempt < 2; attempt++) {
        if ((status = connect_backend(r, backend, worker, attempt > 0
                                      || !vf_may_ride_kept(r, x->body),
                                      &x->reused)) != OK) {
            return status;
        }
        x->r = r;
        x->sock = backend->sock;
        x->backend = backend_url(r->pool, backend);
        x->keep_conn = !backend->close;
        x->timeout = worker->s->timeout_set ? worker->s->timeout
                     : conf->timeout_set ? conf->timeout
                     : r->server->timeout;
        *outcome = vf_exchange_run(x);
        if (*outcome != VF_OUT_STALE) {
            break;
        }
    }
    if (!x->reusable) {
        backend->close = 1;
    }
    return OK;
}

/* A local redirect or ProxyErrorOverride's error page, noted by settle()
 * for hand_back_status: the target (a local path, so it starts with '/'),
 * or the status. */
#define VF_NOTE_SERVE_LOCAL "vhostfcgi-serve-local"

/* Step 5: what the outcome means for the balancer and for the client. */
static int settle(request_rec *r, proxy_conn_rec *backend,
                  proxy_worker *worker, vf_exchange *x, vf_outcome outcome)
{
    int status;

    if (outcome == VF_OUT_OVERLOADED && worker->balancer
        && !x->body_consumed) {
        /* Busy, not broken: out of the rotation until its retry= is up or
         * a health check passes; mod_proxy_balancer sends this request
         * (whose body is kept) to another member. */
        worker->s->error_time = apr_time_now();
        worker->s->status |= PROXY_WORKER_IN_ERROR;
    }
    if (outcome == VF_OUT_OK || outcome == VF_OUT_CLIENT_GONE) {
        /* Answered (OK: mod_proxy_balancer tries no other member): a
         * VhostFcgiMaxInFlight place of a balancer:// pool goes back now,
         * before a local redirect or an ErrorDocument serves a second
         * request that may need one (as vf_serve.c does). */
        vf_admit_release(r);
    }
    if (outcome == VF_OUT_OK && (x->redirect || x->die_status)) {
        /* Served once mod_proxy has the connection back (hand_back_status):
         * the second request may need a connection of this worker, and
         * all of them may be held by requests doing the same. */
        apr_table_setn(r->notes, VF_NOTE_SERVE_LOCAL, x->redirect
                       ? x->redirect
                       : apr_itoa(r->pool, x->die_status));
        return OK;
    }
    status = vf_exchange_finish(x, outcome);
    if (status == HTTP_GATEWAY_TIME_OUT) {
        /* For a balancer's failontimeout=on (mod_proxy_http's note). */
        apr_table_setn(r->notes, "proxy_timedout", "1");
    }
    if (status == HTTP_SERVICE_UNAVAILABLE && x->body_consumed
        && worker->balancer) {
        /* mod_proxy takes a 503 from a member for "try another one", and
         * would send this request on with the part of its body this one
         * consumed missing. */
        apr_table_unset(r->err_headers_out, "Retry-After");
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10724)
                      "FastCGI backend %s: the request body was partly "
                      "sent, so the request is not sent to another member; "
                      "502", backend_url(r->pool, backend));
        status = HTTP_BAD_GATEWAY;
    }
    return status;
}

/*
 * Failures that are not the backend's.  mod_proxy's handler judges a
 * balancer member by what the scheme handler returns: a 500 puts the
 * member in error for its retry= seconds, a 503 too (and the request goes
 * on to another member).  A failure that is not the member's (this
 * server's own trouble, its configuration, the client's request) must not
 * be returned that way: one bad request would take out the member it was
 * sent to, the next one the next member.
 *
 * Such a failure is returned to mod_proxy as OK instead, which ends its
 * loop without a word about the member (its post_request hooks see the
 * request as served, so no failonstatus= either), and its status is
 * noted for the request_status hook, which mod_proxy runs once that loop
 * is done and whose word its handler returns to httpd (mod_proxy_scgi
 * does its internal redirects there).  httpd then answers the status as
 * any handler's: ErrorDocument, the access log, a subrequest's caller.
 */
#define VF_NOTE_LOCAL_STATUS "vhostfcgi-local-status"

static int not_the_backends(request_rec *r, proxy_worker *worker,
                            const proxy_conn_rec *backend, int status)
{
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, APLOGNO(10745)
                  "FastCGI: %s, not the fault of backend %s: not reported "
                  "to mod_proxy as a backend failure",
                  status == AP_FILTER_ERROR ? "an input filter's error"
                                            : apr_itoa(r->pool, status),
                  /* Once determined, the connection's: a drop-in
                   * SetHandler's worker is the generic "proxy:reverse". */
                  backend && (backend->uds_path || backend->hostname)
                  ? backend_url(r->pool, backend)
                  : ap_proxy_worker_name(r->pool, worker));
    apr_table_setn(r->notes, VF_NOTE_LOCAL_STATUS,
                   apr_itoa(r->pool, status));
    return OK;
}

/* A local redirect or an error page settle() left for after the
 * connection went back. */
static int serve_local(int *status, request_rec *r)
{
    const char *what = apr_table_get(r->notes, VF_NOTE_SERVE_LOCAL);

    if (!what) {
        return DECLINED;
    }
    apr_table_unset(r->notes, VF_NOTE_SERVE_LOCAL);
    if (*status == OK) {
        if (what[0] == '/') {
            vf_exchange_serve_local(r, what, 0);
        }
        else {
            vf_exchange_serve_local(r, NULL, atoi(what));
        }
    }
    return OK;
}

/* mod_proxy's request_status hook, once its loop over the members is done
 * and the connection is back: the status noted above, or what settle()
 * left to serve. */
static int hand_back_status(int *status, request_rec *r)
{
    const char *local = apr_table_get(r->notes, VF_NOTE_LOCAL_STATUS);

    if (!local) {
        return serve_local(status, r);
    }
    apr_table_unset(r->notes, VF_NOTE_LOCAL_STATUS);
    /* Anything but OK is a later word than ours (another module's hook). */
    if (*status == OK) {
        *status = atoi(local);
    }
    return OK;
}

/* Steps 2 and 3, before any connection is used: the body and the
 * parameters.  Nothing that fails here is the backend's doing. */
static int prepare(request_rec *r, const vf_dir_conf *dc, vf_exchange *x)
{
    vf_body *body;
    int status;

    if ((status = vf_body_prepare(r, &body)) != OK) {
        return status;
    }
    /* A directory walk first, if asked for. */
    if (apr_table_get(r->notes, VF_NOTE_DIRWALK)) {
        ap_directory_walk(r);
    }
    memset(x, 0, sizeof(*x));
    x->id = vf_exchange_next_id();
    x->body = body;
    if (vf_env_encode(r, dc, body, x->id, &x->params) != APR_SUCCESS) {
        /* Logged: a ProxyFCGISetEnvIf condition httpd could not
         * evaluate (AH10620). */
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

static int vf_handler(request_rec *r, proxy_worker *worker,
                      proxy_server_conf *conf, char *url,
                      const char *proxyname, apr_port_t proxyport)
{
    vf_dir_conf *dc = ap_get_module_config(r->per_dir_config,
                                           &vhostfcgi_module);
    proxy_conn_rec *backend = NULL;
    char server_portstr[32];
    apr_uri_t *uri;
    vf_exchange x;
    vf_outcome outcome;
    int status;
    int local = 0;      /* status is a failure here, not the backend's */

    if (ap_cstr_casecmpn(url, "fcgi:", 5)) {
        return DECLINED;
    }
    if ((status = vf_check_proxy_route(r)) != OK) {
        return not_the_backends(r, worker, NULL, status);
    }
    /* mod_proxy's own steps keep its statuses: a member that is disabled,
     * has no connection free, or whose name does not resolve (503, 500). */
    status = ap_proxy_acquire_connection(VF_SCHEME, &backend, worker,
                                         r->server);
    if (status != OK) {
        goto cleanup;
    }
    backend->is_ssl = 0;

    /* Step 1: where to. */
    uri = apr_palloc(r->pool, sizeof(*uri));
    status = ap_proxy_determine_connection(r->pool, r, conf, worker, backend,
                                           uri, &url, proxyname, proxyport,
                                           server_portstr,
                                           sizeof(server_portstr));
    if (status != OK) {
        goto cleanup;
    }
    if ((status = prepare(r, dc, &x)) != OK) {
        local = 1;
        goto cleanup;
    }

    /* As mod_proxy_fcgi: connections are reused only when the admin asked
     * for it with enablereuse=on (disablereuse=off). */
    backend->close = !(worker->s->disablereuse_set
                       && !worker->s->disablereuse);

    status = exchange(r, backend, worker, conf, &x, &outcome);
    if (status == OK) {
        status = settle(r, backend, worker, &x, outcome);
        local = outcome == VF_OUT_FAILED && x.local;
    }

cleanup:
    if (backend && status != OK) {
        backend->close = 1;
    }
    if (local && status != OK) {
        /* Before the release: the connection names the backend. */
        status = not_the_backends(r, worker, backend, status);
    }
    if (backend) {
        ap_proxy_release_connection(VF_SCHEME, backend, r->server);
    }
    return status;
}

void vf_proxy_register_hooks(apr_pool_t *p)
{
    (void)p;
    proxy_hook_scheme_handler(vf_handler, NULL, NULL, APR_HOOK_FIRST);
    proxy_hook_canon_handler(vf_canon, NULL, NULL, APR_HOOK_FIRST);
    APR_OPTIONAL_HOOK(proxy, request_status, hand_back_status, NULL, NULL,
                      APR_HOOK_MIDDLE);
}
