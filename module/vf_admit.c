/*
 * vf_admit.c - VhostFcgiMaxInFlight: admission control per pool.
 *
 * At most N requests of a pool are at its backend at once (counted across
 * all httpd processes), M more may wait up to S seconds for a place, and
 * the rest are answered 503 with Retry-After at once.  So one slow site can
 * tie up at most N + M of httpd's threads; every other site keeps the rest.
 *
 * The module's own pools enter and leave around the exchange (vf_serve.c).
 * A balancer:// pool is served by mod_proxy's handler, which has no such
 * place, so its requests hold their place (vf_admit_hold, from a handler
 * hook that runs before mod_proxy's) until vf_proxy.c has the answer
 * (vf_admit_release) or, whatever happens, until the request ends.
 */
#include "mod_vhostfcgi.h"

#include "apr_atomic.h"
#include "apr_strings.h"

#define VF_ADMIT_SLICE  apr_time_from_msec(10)

/* One of max places of a gauge (inflight or queued), if one is free: the
 * total goes up unless it is at max, then this process's part
 * (vf_gauge_up's order). */
static int take_place(volatile apr_uint32_t *total,
                      volatile apr_uint32_t *part, int max)
{
    apr_uint32_t n;

    do {
        n = apr_atomic_read32(total);
        if (n >= (apr_uint32_t)max) {
            return 0;
        }
    } while (apr_atomic_cas32(total, n + 1, n) != n);
    apr_atomic_inc32(part);
    return 1;
}

static int try_enter(vf_pool *pool, int max)
{
    return take_place(&pool->shared->inflight, &pool->mine->inflight, max);
}

/* A place in the queue, if one is free. */
static int try_queue(vf_pool *pool, int max)
{
    return take_place(&pool->shared->queued, &pool->mine->queued, max);
}

static int refuse(request_rec *r, vf_pool *pool, const vf_server_conf *sc,
                  const char *why)
{
    apr_table_setn(r->err_headers_out, "Retry-After",
                   apr_itoa(r->pool, sc->admit_wait > 0
                                     ? (int)apr_time_sec(sc->admit_wait) + 1
                                     : 1));
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(10700)
                  "VhostFcgiMaxInFlight: pool %s (vhost %s) %s; 503",
                  pool->name, r->server->server_hostname, why);
    return HTTP_SERVICE_UNAVAILABLE;
}

int vf_admit_enter(request_rec *r, vf_pool *pool)
{
    const vf_server_conf *sc = vf_server_conf_get(r->server);
    apr_time_t deadline;

    if (sc->admit_max <= 0 || try_enter(pool, sc->admit_max)) {
        return OK;
    }
    if (!try_queue(pool, sc->admit_queue)) {
        return refuse(r, pool, sc, apr_psprintf(r->pool,
                      "has %d requests in flight and %d waiting",
                      sc->admit_max, sc->admit_queue));
    }
    deadline = apr_time_now() + sc->admit_wait;
    while (!try_enter(pool, sc->admit_max)) {
        if (apr_time_now() >= deadline) {
            VF_GAUGE_DOWN(pool, queued);
            return refuse(r, pool, sc, apr_psprintf(r->pool,
                          "stayed at %d requests in flight for %"
                          APR_TIME_T_FMT " ms", sc->admit_max,
                          apr_time_as_msec(sc->admit_wait)));
        }
        apr_sleep(VF_ADMIT_SLICE);
    }
    VF_GAUGE_DOWN(pool, queued);
    return OK;
}

void vf_admit_leave(request_rec *r, vf_pool *pool)
{
    if (vf_server_conf_get(r->server)->admit_max > 0) {
        VF_GAUGE_DOWN(pool, inflight);
    }
}

/* A place held by a request of a balancer:// pool. */
typedef struct {
    request_rec *r;             /* the request that took it */
    vf_pool *pool;
    int held;
} vf_hold;

/* The place held by r or by a request it was redirected from (a local
 * redirect, an ErrorDocument), if any: those share r->pool, and their
 * backend work is over when r runs. */
static vf_hold *chain_hold(request_rec *r)
{
    for (; r; r = r->prev) {
        vf_hold *h = ap_get_module_config(r->request_config,
                                          &vhostfcgi_module);

        if (h && h->held) {
            return h;
        }
    }
    return NULL;
}

static apr_status_t give_back(void *data)
{
    vf_hold *h = data;

    if (h->held) {
        h->held = 0;
        vf_admit_leave(h->r, h->pool);
    }
    return APR_SUCCESS;
}

int vf_admit_hold(request_rec *r, vf_pool *pool)
{
    vf_hold *h = chain_hold(r);
    int status;

    if (vf_server_conf_get(r->server)->admit_max <= 0) {
        return OK;
    }
    if (h && h->pool == pool) {
        /* The ErrorDocument of a request that failed (it kept its place
         * while mod_proxy_balancer might try another member): its own
         * backend work is over, so this one takes its place rather than
         * waiting for it. */
        return OK;
    }
    if ((status = vf_admit_enter(r, pool)) != OK) {
        return status;
    }
    h = apr_pcalloc(r->pool, sizeof(*h));
    h->r = r;
    h->pool = pool;
    h->held = 1;
    ap_set_module_config(r->request_config, &vhostfcgi_module, h);
    apr_pool_cleanup_register(r->pool, h, give_back, apr_pool_cleanup_null);
    return OK;
}

void vf_admit_release(request_rec *r)
{
    vf_hold *h = chain_hold(r);

    if (h) {
        give_back(h);
    }
}
