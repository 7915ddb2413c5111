/*
 * vf_serve.c - the module's own handler: a request routed to one of its
 * pools (by vf_check.c) is admitted, gets a connection, is exchanged, and
 * the connection goes back.
 */
#include "mod_vhostfcgi.h"

/* Sends an admitted request to its pool and passes on the answer. */
static int serve(request_rec *r, vf_pool *pool)
{
    vf_body body;
    vf_exchange x;
    vf_outcome outcome = VF_OUT_REFUSED;
    int status, attempt;

    if ((status = vf_body_prepare(r, &body)) != OK) {
        return status;
    }
    memset(&x, 0, sizeof(x));
    if (vf_env_encode(r, vf_dir_conf_get(r), &body, 1, &x.params)) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    x.r = r;
    x.backend = pool->name;
    x.keep_conn = 1;
    x.body = &body;
    x.timeout = r->server->timeout;

    /* A reused connection found closed before anything of the request was
     * consumed is retried once, on a connection opened for it. */
    for (attempt = 0; attempt < 2; attempt++) {
        vf_conn *c = vf_conn_acquire(pool, r, attempt > 0, &status);

        if (!c) {
            return status;
        }
        x.sock = c->sock;
        x.reused = c->requests > 0;
        outcome = vf_exchange_run(&x);
        vf_conn_release(pool, c, x.reusable);
        if (outcome != VF_OUT_STALE) {
            break;
        }
    }
    return vf_exchange_finish(&x, outcome);
}

/* The handler for requests vf_check.c routed to a pool. */
static int vf_pool_handler(request_rec *r)
{
    vf_pool *pool;
    int status;

    if (!r->handler || strcmp(r->handler, VF_POOL_HANDLER)) {
        return DECLINED;
    }
    pool = vf_dir_conf_get(r)->pool;
    if (!pool || !pool->cache) {
        return DECLINED;
    }
    if ((status = vf_admit_enter(r, pool)) != OK) {
        return status;
    }
    status = serve(r, pool);
    vf_admit_leave(r, pool);
    return status;
}

void vf_serve_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_handler(vf_pool_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
