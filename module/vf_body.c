/*
 * vf_body.c - the client's request body, before the backend is contacted.
 *
 * Three cases, decided once per request:
 *  1. the whole body arrived with the request (the usual small POST): its
 *     length is known, and it can be resent if a pooled connection turns
 *     out to be stale;
 *  2. a Content-Length the protocol filters vouch for: stream it;
 *  3. otherwise (chunked, or a filter that may change the length): read it
 *     all, keeping VF_BODY_MEM_MAX bytes in memory and the rest in a
 *     temporary file, so the announced CONTENT_LENGTH is exact and memory
 *     stays bounded however large the body.
 *
 * LimitRequestBody holds in every case.  httpd's input filter applies it
 * unless the request is a proxy's (r->proxyreq): for the drop-in and
 * balancer:// pools, served through mod_proxy, it is applied here.
 */
#include "mod_vhostfcgi.h"

#include "http_core.h"               /* ap_get_limit_req_body */
#include "http_protocol.h"
#include "http_request.h"
#include "apr_strings.h"
#include "apr_file_io.h"

#include <errno.h>              /* EDQUOT */

#define VF_BODY_MEM_MAX     (64 * 1024)
#define VF_BODY_READ_CHUNK  (64 * 1024)

/* The LimitRequestBody httpd's input filter leaves to us; 0: none. */
static apr_off_t proxy_limit(const request_rec *r)
{
    return r->proxyreq ? ap_get_limit_req_body(r) : 0;
}

/* A body of (at least) len bytes against limit: OK, or 413. */
static int within_limit(request_rec *r, apr_off_t len, apr_off_t limit)
{
    if (!limit || len <= limit) {
        return OK;
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10747)
                  "FastCGI: the request body (%" APR_OFF_T_FMT " bytes or "
                  "more) is larger than LimitRequestBody %" APR_OFF_T_FMT,
                  len, limit);
    return HTTP_REQUEST_ENTITY_TOO_LARGE;
}

/* Reads what the client has sent, without waiting, up to max bytes. */
static int prefetch(request_rec *r, vf_body *b, apr_off_t max,
                    apr_off_t *got)
{
    apr_bucket_brigade *tmp = apr_brigade_create(r->pool,
                                                 r->connection->bucket_alloc);
    apr_status_t rv;

    *got = 0;
    while (!b->complete && *got < max) {
        apr_off_t len = 0;

        rv = ap_get_brigade(r->input_filters, tmp, AP_MODE_READBYTES,
                            APR_NONBLOCK_READ, (apr_size_t)(max - *got));
        if (APR_STATUS_IS_EAGAIN(rv)) {
            break;
        }
        if (rv != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r, APLOGNO(10610)
                          "FastCGI: reading the request body from the client "
                          "failed");
            return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
        }
        if (APR_BRIGADE_EMPTY(tmp)) {
            break;
        }
        b->complete = APR_BUCKET_IS_EOS(APR_BRIGADE_LAST(tmp));
        apr_brigade_length(tmp, 1, &len);
        *got += len;
        /* Input filters hand out transient buckets; keep them. */
        rv = ap_save_brigade(NULL, &b->bb, &tmp, r->pool);
        if (rv != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(10743)
                          "FastCGI: keeping the request body read so far "
                          "failed");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        apr_brigade_cleanup(tmp);
    }
    return OK;
}

/* A full disk is the body's size against this server's room: 507, which
 * says so, rather than 500.  (Neither is held against a balancer member:
 * no failure here is the backend's, see vf_proxy.c.) */
static int spool_fail(request_rec *r, apr_status_t rv, const char *what)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(10611)
                  "FastCGI: spooling the request body: %s", what);
    if (APR_STATUS_IS_ENOSPC(rv) || rv == APR_FROM_OS_ERROR(EDQUOT)) {
        return HTTP_INSUFFICIENT_STORAGE;
    }
    return HTTP_INTERNAL_SERVER_ERROR;
}

/* Case 3: the rest of the body goes to a temporary file. */
static int spool_rest(request_rec *r, vf_body *b, apr_off_t *total,
                      apr_off_t limit)
{
    apr_bucket_alloc_t *ba = r->connection->bucket_alloc;
    apr_bucket_brigade *in = apr_brigade_create(r->pool, ba);
    apr_file_t *file = NULL;
    apr_off_t in_file = 0;
    const char *tmpdir;
    apr_status_t rv;

    while (!b->complete) {
        apr_bucket *e;

        rv = ap_get_brigade(r->input_filters, in, AP_MODE_READBYTES,
                            APR_BLOCK_READ, VF_BODY_READ_CHUNK);
        if (rv != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r, APLOGNO(10612)
                          "FastCGI: reading the request body from the client "
                          "failed");
            return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
        }
        for (e = APR_BRIGADE_FIRST(in); e != APR_BRIGADE_SENTINEL(in);
             e = APR_BUCKET_NEXT(e)) {
            const char *data;
            apr_size_t len;

            if (APR_BUCKET_IS_EOS(e)) {
                b->complete = 1;
                break;
            }
            if ((rv = apr_bucket_read(e, &data, &len, APR_BLOCK_READ))) {
                return spool_fail(r, rv, "reading a bucket");
            }
            if (!len) {
                continue;
            }
            if (within_limit(r, *total + (apr_off_t)len, limit) != OK) {
                return HTTP_REQUEST_ENTITY_TOO_LARGE;
            }
            if (*total + (apr_off_t)len <= VF_BODY_MEM_MAX && !file) {
                apr_brigade_write(b->bb, NULL, NULL, data, len);
            }
            else {
                if (!file) {
                    char *tmpl;

                    if ((rv = apr_temp_dir_get(&tmpdir, r->pool))) {
                        return spool_fail(r, rv, "no temporary directory");
                    }
                    tmpl = apr_pstrcat(r->pool, tmpdir, "/vhostfcgi.XXXXXX",
                                       NULL);
                    /* Deleted on close, closed with the request. */
                    if ((rv = apr_file_mktemp(&file, tmpl, 0, r->pool))) {
                        return spool_fail(r, rv, tmpl);
                    }
                }
                if ((rv = apr_file_write_full(file, data, len, NULL))) {
                    return spool_fail(r, rv, "writing the temporary file");
                }
                in_file += len;
            }
            *total += len;
        }
        apr_brigade_cleanup(in);
    }
    if (file) {
        apr_brigade_insert_file(b->bb, file, 0, in_file, r->pool);
    }
    APR_BRIGADE_INSERT_TAIL(b->bb, apr_bucket_eos_create(ba));
    return OK;
}

/*
 * A request's body is kept under its own request_rec, for a balancer's
 * next attempt at the same request.  Not under r->pool alone: a local
 * redirect and an ErrorDocument make a new request_rec on the same pool,
 * and the body read for the first request (or refused by
 * LimitRequestBody, its rest still unread) is not theirs.
 */
static const char *body_key(request_rec *r)
{
    return apr_psprintf(r->pool, "vhostfcgi-body %pp", (void *)r);
}

static vf_body *body_of(request_rec *r)
{
    vf_body *b = NULL;

    apr_pool_userdata_get((void **)&b, body_key(r), r->pool);
    return b;
}

/* Whether a request this one was redirected from took the body: as with
 * mod_cgi, the second request of a local redirect or an ErrorDocument has
 * none.  (One that did not reach here, such as a RewriteRule's internal
 * redirect in .htaccess to a front controller, left the body to this
 * request.) */
static int body_taken_before(request_rec *r)
{
    const request_rec *prev;

    for (prev = r->prev; prev; prev = prev->prev) {
        if (body_of((request_rec *)prev)) {
            return 1;
        }
    }
    return 0;
}

int vf_body_prepare(request_rec *r, vf_body **bp)
{
    const char *te = apr_table_get(r->headers_in, "Transfer-Encoding");
    const char *cl = te ? NULL : apr_table_get(r->headers_in,
                                               "Content-Length");
    apr_off_t total = 0, announced, limit = proxy_limit(r);
    const char *key = body_key(r);
    vf_body *b = NULL;
    int status;

    /* What was read for a first attempt is still here for the next. */
    apr_pool_userdata_get((void **)&b, key, r->pool);
    if (b) {
        *bp = b;
        return OK;
    }
    *bp = b = apr_pcalloc(r->pool, sizeof(*b));
    apr_pool_userdata_setn(b, key, NULL, r->pool);
    b->bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    b->complete = 0;
    b->length = -1;
    if (body_taken_before(r)) {
        b->complete = 1;
        b->length = 0;
        APR_BRIGADE_INSERT_TAIL(b->bb, apr_bucket_eos_create(
                                    r->connection->bucket_alloc));
        return OK;
    }

    /* A Content-Length over the limit is refused before any is read. */
    if (cl && limit && apr_strtoff(&announced, cl, NULL, 10) == 0
        && (status = within_limit(r, announced, limit)) != OK) {
        return status;
    }
    if ((status = prefetch(r, b, VF_BODY_MEM_MAX, &total)) != OK
        || (status = within_limit(r, total, limit)) != OK) {
        return status;
    }
    if (!b->complete && cl && r->input_filters == r->proto_input_filters) {
        /* Case 2: the client's Content-Length is what will arrive. */
        if (apr_strtoff(&b->length, cl, NULL, 10) || b->length < total) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, APLOGNO(10744)
                          "FastCGI: Content-Length \"%s\" is not the length "
                          "of the body (%" APR_OFF_T_FMT " bytes read so far)",
                          cl, total);
            return HTTP_BAD_REQUEST;
        }
        return within_limit(r, b->length, limit);
    }
    if (!b->complete && (status = spool_rest(r, b, &total, limit)) != OK) {
        return status;
    }
    /* Cases 1 and 3.  No body where none was announced stays "none". */
    if (total || cl || te) {
        b->length = total;
    }
    return OK;
}
