/*
 * vf_serve.c - the module's own handler: a request routed to one of its
 * pools (by vf_check.c) is admitted, gets a connection, is exchanged, and
 * the connection goes back.  Also admission for balancer:// pools, whose
 * requests mod_proxy's handler serves.
 */
#include "mod_vhostfcgi.h"

#include "apr_atomic.h"

/* The request's figures into the pool's shared counters. */
static void count_request(vf_pool *pool, int status, vf_outcome outcome,
                          apr_interval_time_t took)
{
    static const apr_uint32_t bounds[] = VF_LATENCY_BOUNDS;
    vf_pool_shared *sh = pool->shared;
    apr_time_t ms = apr_time_as_msec(took);
    int b = 0;

    apr_atomic_inc64(&sh->requests);
    while (b < VF_LATENCY_BUCKETS - 1 && (apr_uint32_t)ms > bounds[b]) {
        b++;
    }
    apr_atomic_inc64(&sh->latency[b]);
    if (outcome == VF_OUT_BROKEN) {
        apr_atomic_inc64(&sh->err_broken);
    }
    else if (status == HTTP_BAD_GATEWAY) {
        apr_atomic_inc64(&sh->err_bad);
    }
    else if (status == HTTP_GATEWAY_TIME_OUT) {
        apr_atomic_inc64(&sh->err_timeout);
    }
    else if (status == HTTP_SERVICE_UNAVAILABLE) {
        apr_atomic_inc64(&sh->err_connect);
    }
}

/* Sends an admitted request to its pool and reads the answer into *x.
 * Returns OK when an exchange ended (*outcomep says how; the caller
 * finishes it with vf_exchange_finish), else the HTTP error status. */
static int serve(request_rec *r, vf_pool *pool, vf_exchange *x,
                 vf_outcome *outcomep)
{
    vf_body *body;
    int status, attempt;

    if ((status = vf_body_prepare(r, &body)) != OK) {
        return status;
    }
    memset(x, 0, sizeof(*x));
    x->id = vf_exchange_next_id();
    if (vf_env_encode(r, vf_dir_conf_get(r), body, x->id, &x->params)) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    x->r = r;
    x->backend = pool->name;
    x->keep_conn = 1;
    x->body = body;
    x->timeout = r->server->timeout;
    vf_exchange_head(x);

    /* A reused connection found closed before anything of the request was
     * consumed is retried once, on a connection opened for it. */
    VF_GAUGE_UP(pool, busy);
    for (attempt = 0; attempt < 2; attempt++) {
        /* A kept connection may be closing (a worker recycled or retired
         * just now): see vf_may_ride_kept.  (Only a request without a
         * body is written whole by the thread that hands a connection
         * over.) */
        vf_conn *c = vf_conn_acquire(pool, r,
                                     attempt > 0
                                     || !vf_may_ride_kept(r, body),
                                     x->nhead == 3 ? x->head : NULL,
                                     x->nhead == 3 ? 3 : 0, &status);

        if (!c) {
            break;
        }
        x->sock = c->sock;
        x->head_sent = c->presend;
        x->pool = pool;
        x->conn = pool->max_conns ? c : NULL;
        x->reused = c->requests > 0;
        if (x->reused) {
            apr_atomic_inc64(&pool->shared->reused);
        }
        *outcomep = vf_exchange_run(x);
        vf_conn_release(pool, c, x->reusable);
        if (*outcomep != VF_OUT_STALE) {
            break;
        }
        apr_atomic_inc64(&pool->shared->retried);
    }
    VF_GAUGE_DOWN(pool, busy);
    return status;
}

/* The handler for requests vf_check.c routed to a pool. */
static int vf_pool_handler(request_rec *r)
{
    vf_outcome outcome = VF_OUT_REFUSED;
    vf_exchange x;
    apr_time_t start, took;
    vf_pool *pool;
    int status;

    if (!r->handler || strcmp(r->handler, VF_POOL_HANDLER)) {
        return DECLINED;
    }
    if (!vf_check_routed(r, VF_POOL_HANDLER)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10736)
                      "%s: the handler " VF_POOL_HANDLER " was set after "
                      "the script check (an .htaccess RewriteRule [H=]); "
                      "refused", r->uri);
        return HTTP_FORBIDDEN;
    }
    pool = vf_dir_conf_get(r)->pool;
    if (!pool || !pool->cache) {
        return DECLINED;
    }
    if ((status = vf_admit_enter(r, pool)) != OK) {
        apr_atomic_inc64(&pool->shared->err_admit);
        return status;
    }
    start = apr_time_now();
    status = serve(r, pool, &x, &outcome);
    took = apr_time_now() - start;
    /* The backend is done with this request: its place goes now, before
     * a local redirect or an ErrorDocument (ap_die) makes httpd serve a
     * second request, which may need a place of the same pool.  Kept
     * across it, that nested request would wait for the place its own
     * parent holds: refused, or a deadlock under load. */
    vf_admit_leave(r, pool);
    if (status == OK) {
        status = vf_exchange_finish(&x, outcome);
    }
    count_request(pool, status, outcome, took);
    return status;
}

/* A balancer:// pool's requests are mod_proxy's to serve (vf_check.c
 * gives them its handler): VhostFcgiMaxInFlight admits them here, before
 * mod_proxy's handler runs, and the place is held until vf_proxy.c has
 * the answer or the request ends (vf_admit_hold). */
static int vf_balancer_admit(request_rec *r)
{
    vf_pool *pool;
    int status;

    if (!r->handler || strncmp(r->handler, "proxy:", 6)) {
        return DECLINED;
    }
    pool = vf_dir_conf_get(r)->pool;
    if (!pool || pool->kind != VF_POOL_BALANCER || !pool->shared
        || strcmp(r->handler, pool->proxy_handler)) {
        return DECLINED;
    }
    if ((status = vf_admit_hold(r, pool)) != OK) {
        apr_atomic_inc64(&pool->shared->err_admit);
        return status;
    }
    return DECLINED;            /* mod_proxy serves it */
}

void vf_serve_register_hooks(apr_pool_t *p)
{
    static const char *const before_proxy[] = { "mod_proxy.c", NULL };

    (void)p;
    ap_hook_handler(vf_pool_handler, NULL, NULL, APR_HOOK_MIDDLE);
    /* mod_proxy's handler runs APR_HOOK_FIRST too; this one before it. */
    ap_hook_handler(vf_balancer_admit, NULL, before_proxy, APR_HOOK_FIRST);
}
