/*
 * vf_exchange.c - one FastCGI request and its response on a connected
 * socket, whoever connected it (mod_proxy's worker, or a pool).
 *
 *   Step 1  BEGIN_REQUEST and the PARAMS stream, in one write
 *   Step 2  the request body as STDIN, then the empty STDIN record
 *   Step 3  the response: STDOUT parsed into CGI headers, then body,
 *           STDERR to the error log, until END_REQUEST
 *
 * The socket is non-blocking and every wait is a poll for both directions,
 * so a backend that answers before it has read the whole body (an early
 * error page, a 413) cannot deadlock against us, and the response is read
 * as it comes: whenever the backend pauses, what arrived so far is flushed
 * to the client, so a script's flush() reaches the browser at once.
 *
 * Nothing is retried here; the outcome says whether a retry is safe.
 */
#include "mod_vhostfcgi.h"
#include "mod_proxy.h"

#include "http_protocol.h"
#include "http_request.h"
#include "apr_atomic.h"
#include "apr_strings.h"
#include "apr_poll.h"

#define VF_IOBUF_SIZE    (16 * 1024)
#define VF_BODY_CHUNK    (64 * 1024)
/* A stderr line longer than this is logged in pieces (httpd cuts an
 * error-log entry at about 8 KB anyway). */
#define VF_STDERR_LINE   (4 * 1024)

typedef enum {
    PH_HEADERS,         /* reading the CGI header block */
    PH_BODY,            /* passing the body to the client */
    PH_DISCARD          /* reading the body only to reach END_REQUEST */
} vf_phase;

typedef struct {
    vf_exchange *x;
    request_rec *r;
    apr_bucket_brigade *out;        /* on its way to the client */
    apr_pollfd_t pfd;
    struct fcgi_parser parser;
    struct fcgi_cgi_headers hdrs;
    uint8_t *iobuf;
    vf_phase phase;
    vf_outcome outcome;
    int finished;                   /* the outcome is decided */
    int stdin_done;                 /* the empty STDIN record went out */
    int got_bytes;                  /* the backend sent something */
    int next_asked;                 /* vf_conn_next_wanted was asked */
    int client_read;                /* body read from the client beyond
                                     * what vf_body had: no replay now */
    int responded;                  /* response headers went to the client */
    int unflushed;                  /* body passed on since the last flush */
    int cond_status;                /* 304/412 from the request's conditions */
    apr_time_t headers_due;         /* the header block must be complete by
                                     * then (set once the request is sent) */
    apr_bucket_brigade *scratch;    /* send_brigade's, made once */
    char *errline;                  /* a stderr line not yet ended */
    apr_size_t errlen;
} vf_xstate;

/* ------------------------------------------------------------------ */
/* Outcomes                                                            */
/* ------------------------------------------------------------------ */

static const char *backend_name(const vf_xstate *xs)
{
    return xs->x->backend ? xs->x->backend : "(unknown)";
}

/* Ends the exchange with status, or cuts off a response already begun. */
static void give_up(vf_xstate *xs, int status)
{
    request_rec *r = xs->r;

    xs->finished = 1;
    if (xs->responded) {
        /* The client has a status line and part of a body: end the
         * connection so the response cannot pass for complete. */
        apr_brigade_cleanup(xs->out);
        ap_proxy_backend_broke(r, xs->out);
        ap_pass_brigade(r->output_filters, xs->out);
        apr_brigade_cleanup(xs->out);
        xs->outcome = VF_OUT_BROKEN;
        return;
    }
    xs->x->status = status;
    xs->outcome = VF_OUT_FAILED;
}

/* A failure: logged once, with the vhost, the backend and what was wrong. */
static void fail(vf_xstate *xs, int status, apr_status_t rv,
                 const char *why)
{
    request_rec *r = xs->r;

    ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(10640)
                  "FastCGI backend %s (vhost %s, %s): %s",
                  backend_name(xs), r->server->server_hostname,
                  r->uri, why);
    give_up(xs, status);
}

/* A failure of this server's own, in the middle of the exchange: a 500,
 * flagged as not the backend's (x->local), so that vf_proxy.c keeps
 * mod_proxy from putting a healthy balancer member in error for it. */
static void fail_here(vf_xstate *xs, apr_status_t rv, const char *why)
{
    request_rec *r = xs->r;

    ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, APLOGNO(10746)
                  "FastCGI: %s, during the request to %s (vhost %s, %s)",
                  why, backend_name(xs), r->server->server_hostname, r->uri);
    give_up(xs, HTTP_INTERNAL_SERVER_ERROR);
    xs->x->local = 1;
}

/* The client's body ended early: it went away, or stalled past Timeout.
 * The client's doing, so info (as httpd logs aborted connections), and
 * nothing is wrong with the backend, which learns it when the connection
 * closes. */
static void client_body_failed(vf_xstate *xs, apr_status_t rv)
{
    ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, xs->r, APLOGNO(10646)
                  "FastCGI: reading the request body from the client "
                  "failed; the request to %s was abandoned",
                  backend_name(xs));
    give_up(xs, ap_map_http_request_error(rv, HTTP_BAD_REQUEST));
    xs->x->local = 1;
}


/* The backend closed or reset a connection that had served a request
 * before, without answering this one: most likely it was recycled
 * (max_requests, reload) just before.  Retried on a new connection when
 * nothing of the request is lost and running it twice cannot hurt: a
 * method safe to repeat, as nginx does.  Neither a close nor a reset says
 * the request did not run: a worker killed at request_terminate_timeout,
 * or a script that died, resets the connection when part of the request
 * (STDIN, which PHP reads lazily) is still unread.  So other methods
 * never ride on a kept connection (vf_may_ride_kept); this is the
 * check behind that rule. */
static int stale(vf_xstate *xs, apr_status_t rv)
{
    if (!xs->x->reused || xs->got_bytes || xs->client_read) {
        return 0;
    }
    if (!vf_repeatable(xs->r)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, xs->r, APLOGNO(10722)
                      "FastCGI backend %s closed a reused connection "
                      "without answering; not retried: %s is not safe to "
                      "run twice", backend_name(xs), xs->r->method);
        return 0;
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, xs->r, APLOGNO(10641)
                  "FastCGI backend %s closed a reused connection before "
                  "answering; the request can be retried",
                  backend_name(xs));
    xs->finished = 1;
    xs->outcome = VF_OUT_STALE;
    return 1;
}

/* Hands what is queued to the client; a failure means it went away. */
static void pass_out(vf_xstate *xs, int flush)
{
    request_rec *r = xs->r;
    apr_status_t rv;

    if (flush) {
        APR_BRIGADE_INSERT_TAIL(xs->out, apr_bucket_flush_create(
                                    r->connection->bucket_alloc));
    }
    if (APR_BRIGADE_EMPTY(xs->out)) {
        return;
    }
    rv = ap_pass_brigade(r->output_filters, xs->out);
    apr_brigade_cleanup(xs->out);
    xs->unflushed = !flush;
    if (rv != APR_SUCCESS || r->connection->aborted) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, APLOGNO(10642)
                      "FastCGI: the client went away during the response");
        xs->finished = 1;
        xs->outcome = VF_OUT_CLIENT_GONE;
    }
}

/* ------------------------------------------------------------------ */
/* Step 3: the response                                                */
/* ------------------------------------------------------------------ */

/* The header block is complete: decide what the body is for. */
static void headers_done(vf_xstate *xs)
{
    request_rec *r = xs->r;
    const char *why = NULL, *location;
    proxy_dir_conf *pdc;
    int status = vf_response_apply(r, &xs->hdrs, &why);

    if (status == HTTP_BAD_GATEWAY) {
        fail(xs, HTTP_BAD_GATEWAY, 0, why);
        return;
    }
    xs->phase = PH_BODY;
    if (status != OK) {
        xs->cond_status = status;           /* 304 or 412: no body */
        xs->phase = PH_DISCARD;
        return;
    }
    location = apr_table_get(r->headers_out, "Location");
    if (location && r->status == HTTP_OK) {
        if (location[0] == '/') {
            /* A local redirect (RFC 3875 section 6.2.2): httpd serves the
             * target itself once the backend is done with this request. */
            xs->x->redirect = location;
            xs->phase = PH_DISCARD;
            return;
        }
        /* A client redirect (section 6.2.3) without a Status of its own. */
        r->status = HTTP_MOVED_TEMPORARILY;
    }
    pdc = ap_get_module_config(r->per_dir_config, &proxy_module);
    if (pdc && ap_proxy_should_override(pdc, r->status)
        && ap_is_initial_req(r)) {
        /* ProxyErrorOverride: httpd's own error page replaces the body. */
        xs->x->die_status = r->status;
        r->status = HTTP_OK;
        xs->phase = PH_DISCARD;
    }
}

static void on_stdout(vf_xstate *xs, const uint8_t *data, size_t len)
{
    size_t used = 0;

    if (xs->phase == PH_HEADERS) {
        switch (fcgi_cgi_headers_feed(&xs->hdrs, data, len, &used)) {
        case FCGI_HDR_AGAIN:
            return;
        case FCGI_HDR_ERROR:
            fail(xs, HTTP_BAD_GATEWAY, 0, apr_psprintf(xs->r->pool,
                 "malformed response header: %s", xs->hdrs.error));
            return;
        case FCGI_HDR_DONE:
            headers_done(xs);
            if (xs->finished) {
                return;
            }
            data += used;
            len -= used;
            break;
        }
    }
    if (xs->phase == PH_BODY && len) {
        APR_BRIGADE_INSERT_TAIL(xs->out, apr_bucket_transient_create(
                (const char *)data, len, xs->r->connection->bucket_alloc));
        xs->responded = 1;
    }
}

/* Logs one line of the backend's stderr (a lone CR is nothing). */
static void log_stderr(vf_xstate *xs, const char *p, size_t n)
{
    if (n > 0 && !(n == 1 && *p == '\r')) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, xs->r, APLOGNO(10643)
                      "FastCGI backend %s (vhost %s) stderr: %.*s",
                      backend_name(xs), xs->r->server->server_hostname,
                      (int)n, p);
    }
}

static void flush_stderr(vf_xstate *xs)
{
    log_stderr(xs, xs->errline, xs->errlen);
    xs->errlen = 0;
}

/* Keeps the start of a line until its end arrives; a line longer than
 * VF_STDERR_LINE is logged in pieces of that size. */
static void hold_stderr(vf_xstate *xs, const char *p, size_t n)
{
    if (!xs->errline) {
        xs->errline = apr_palloc(xs->r->pool, VF_STDERR_LINE);
    }
    while (n > 0) {
        size_t take = VF_STDERR_LINE - xs->errlen;

        take = take < n ? take : n;
        memcpy(xs->errline + xs->errlen, p, take);
        xs->errlen += take;
        p += take;
        n -= take;
        if (xs->errlen == VF_STDERR_LINE) {
            flush_stderr(xs);
        }
    }
}

/* The backend's stderr, one log entry per line: a line split across
 * records or reads is put together first (the rest of one not ended by
 * a newline is logged when the exchange ends). */
static void on_stderr(vf_xstate *xs, const uint8_t *data, size_t len)
{
    const char *p = (const char *)data, *end = p + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', end - p);
        const char *stop = nl ? nl : end;

        if (nl && !xs->errlen) {
            log_stderr(xs, p, stop - p);        /* whole: no copy */
        }
        else {
            hold_stderr(xs, p, stop - p);
            if (nl) {
                flush_stderr(xs);
            }
        }
        p = nl ? nl + 1 : end;
    }
}

/* The whole response is in: the client's conditional status (304/412)
 * applies now, and the body ends. */
static void end_response(vf_xstate *xs)
{
    request_rec *r = xs->r;

    if (xs->cond_status) {
        r->status = xs->cond_status;
    }
    if (xs->phase == PH_BODY || xs->cond_status) {
        APR_BRIGADE_INSERT_TAIL(xs->out, apr_bucket_eos_create(
                                    r->connection->bucket_alloc));
        xs->responded = 1;
    }
    xs->finished = 1;
    xs->outcome = VF_OUT_OK;
}

static void on_end_request(vf_xstate *xs, const struct fcgi_event *ev)
{
    request_rec *r = xs->r;

    if (ev->protocol_status == FCGI_OVERLOADED && !xs->responded) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(10644)
                      "FastCGI backend %s (vhost %s) is overloaded "
                      "(FCGI_OVERLOADED)", backend_name(xs),
                      r->server->server_hostname);
        xs->finished = 1;
        xs->outcome = VF_OUT_OVERLOADED;
        return;
    }
    if (ev->protocol_status != FCGI_REQUEST_COMPLETE) {
        fail(xs, HTTP_BAD_GATEWAY, 0, apr_psprintf(r->pool,
             "the backend refused the request (protocol status %u: %s)",
             ev->protocol_status,
             ev->protocol_status == FCGI_UNKNOWN_ROLE ? "FCGI_UNKNOWN_ROLE"
             : ev->protocol_status == FCGI_CANT_MPX_CONN
               ? "FCGI_CANT_MPX_CONN" : "unknown"));
        return;
    }
    if (xs->phase == PH_HEADERS) {
        fail(xs, HTTP_BAD_GATEWAY, 0, xs->hdrs.block_bytes
             ? "END_REQUEST inside the response header block"
             : "END_REQUEST before any response header");
        return;
    }
    end_response(xs);
}

/* Runs the parser over one read's worth of bytes. */
static void consume(vf_xstate *xs, const uint8_t *buf, size_t len)
{
    size_t off = 0;
    struct fcgi_event ev;

    while (!xs->finished) {
        off += fcgi_parse(&xs->parser, buf + off, len - off, &ev);
        switch (ev.kind) {
        case FCGI_EV_NONE:
            return;
        case FCGI_EV_STDOUT:
            on_stdout(xs, ev.data, ev.len);
            break;
        case FCGI_EV_STDERR:
            on_stderr(xs, ev.data, ev.len);
            break;
        case FCGI_EV_STDOUT_EOF:
        case FCGI_EV_MANAGEMENT:
            break;
        case FCGI_EV_END_REQUEST:
            on_end_request(xs, &ev);
            if (off < len) {
                /* Nothing may follow; such a connection is not reused. */
                ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, xs->r,
                              APLOGNO(10723) "FastCGI backend %s sent %lu "
                              "bytes after END_REQUEST; the connection is "
                              "closed", backend_name(xs),
                              (unsigned long)(len - off));
                xs->parser.state = FCGI_ST_ERROR;
            }
            break;
        case FCGI_EV_ERROR:
            fail(xs, HTTP_BAD_GATEWAY, 0, xs->parser.error);
            break;
        }
    }
}

static void on_eof(vf_xstate *xs, apr_status_t rv)
{
    if (stale(xs, rv)) {
        return;
    }
    if (xs->parser.stdout_closed && xs->phase != PH_HEADERS) {
        /* The body was complete; only END_REQUEST is missing. */
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, xs->r, APLOGNO(10645)
                      "FastCGI backend %s closed the connection without "
                      "END_REQUEST after a complete response",
                      backend_name(xs));
        xs->parser.state = FCGI_ST_ERROR;
        end_response(xs);
        return;
    }
    fail(xs, HTTP_BAD_GATEWAY, APR_STATUS_IS_EOF(rv) ? 0 : rv,
         xs->got_bytes ? fcgi_parser_eof(&xs->parser)
                       : "the backend closed the connection without "
                         "answering");
}

/* Are the n bytes just read exactly the rest of the answer, END_REQUEST
 * last?  Parses a copy of the parser, so it agrees with consume(). */
static int ends_answer(const vf_xstate *xs, apr_size_t n)
{
    struct fcgi_parser copy = xs->parser;
    struct fcgi_event ev;
    apr_size_t off = 0;

    while (off < n) {
        off += fcgi_parse(&copy, xs->iobuf + off, n - off, &ev);
        if (ev.kind == FCGI_EV_END_REQUEST) {
            return off == n;
        }
        if (ev.kind == FCGI_EV_ERROR || ev.kind == FCGI_EV_NONE) {
            break;
        }
    }
    return 0;
}

/* The backend sits idle from the moment its answer is written until the
 * next request arrives.  When a request waits for this connection, it is
 * written before the answer is passed on, so the backend starts on it at
 * once.  Only an answer complete in the first read qualifies (nothing
 * after it in the socket: a read takes all there is up to the buffer's
 * size), so that nobody waits behind a slow one, and the connection is
 * sure to come back positioned for the next request. */
static void write_next_early(vf_xstate *xs, apr_size_t n)
{
    vf_exchange *x = xs->x;

    if (n > 0 && n < VF_IOBUF_SIZE && vf_conn_next_wanted(x->pool, x->conn)
        && ends_answer(xs, n) && vf_conn_write_next(x->pool, x->conn)) {
        ap_log_rerror(APLOG_MARK, APLOG_TRACE2, 0, xs->r,
                      "FastCGI: the next waiting request was written on the "
                      "connection to %s before this answer was passed on",
                      backend_name(xs));
    }
}

/* Reads once without blocking.  Returns APR_EAGAIN when nothing was there
 * (after flushing what the client has not seen yet). */
static apr_status_t receive_some(vf_xstate *xs)
{
    apr_size_t len = VF_IOBUF_SIZE;
    apr_status_t rv = apr_socket_recv(xs->x->sock, (char *)xs->iobuf, &len);

    /* At the first read only, and not while this request is still being
     * written: the next one would land inside its STDIN stream. */
    if (xs->x->conn && !xs->next_asked && xs->stdin_done) {
        xs->next_asked = 1;
        write_next_early(xs, len);
    }
    if (len > 0) {
        xs->got_bytes = 1;
        consume(xs, xs->iobuf, len);
        /* The bytes live in iobuf: hand them on before the next read. */
        pass_out(xs, 0);
        return APR_SUCCESS;
    }
    if (APR_STATUS_IS_EAGAIN(rv)) {
        if (xs->unflushed) {
            pass_out(xs, 1);
        }
        return APR_EAGAIN;
    }
    on_eof(xs, rv);
    return rv;
}

/* 504: silent for a whole timeout, or headers dripping past their
 * deadline. */
static void timed_out(vf_xstate *xs, int headers_late)
{
    fail(xs, HTTP_GATEWAY_TIME_OUT, 0, apr_psprintf(xs->r->pool,
         headers_late ? "the response headers were not complete within %"
                        APR_TIME_T_FMT " seconds"
                      : "no answer within %" APR_TIME_T_FMT " seconds",
         apr_time_sec(xs->x->timeout)));
}

/* Waits until the socket is readable (or writable, when want_write) and
 * reads whatever arrived.  A backend dripping its headers byte by byte
 * would never be silent for a whole timeout, so the header block also has
 * one deadline of its own. */
static void wait_and_read(vf_xstate *xs, int want_write)
{
    apr_interval_time_t timeout = xs->x->timeout;
    int deadline = xs->phase == PH_HEADERS && xs->headers_due;
    int on_deadline = 0;    /* this wait ends at the header deadline */
    apr_int32_t n = 0;
    apr_status_t rv;

    if (xs->unflushed) {
        pass_out(xs, 1);
        if (xs->finished) {
            return;
        }
    }
    if (deadline) {
        apr_interval_time_t left = xs->headers_due - apr_time_now();

        if (left <= 0) {
            timed_out(xs, 1);
            return;
        }
        if (left < timeout) {
            timeout = left;
            on_deadline = 1;
        }
    }
    xs->pfd.reqevents = APR_POLLIN | (want_write ? APR_POLLOUT : 0);
    do {
        rv = apr_poll(&xs->pfd, 1, &n, timeout);
    } while (APR_STATUS_IS_EINTR(rv));
    if (APR_STATUS_IS_TIMEUP(rv)) {
        timed_out(xs, on_deadline);
        return;
    }
    if (rv != APR_SUCCESS) {
        /* poll() fails for this process's own reasons (memory, a bad
         * descriptor), never for anything the backend did. */
        fail_here(xs, rv, "polling the backend socket failed");
        return;
    }
    if (xs->pfd.rtnevents & (APR_POLLIN | APR_POLLHUP | APR_POLLERR)) {
        while (!xs->finished && receive_some(xs) == APR_SUCCESS) {
        }
    }
}

/* ------------------------------------------------------------------ */
/* Steps 1 and 2: the request                                          */
/* ------------------------------------------------------------------ */

/* Writes all of vec, reading the response meanwhile if the backend is not
 * taking input.  Returns 0 when everything was written; otherwise the
 * exchange is finished (failed, stale, or the backend already answered). */
static int send_all(vf_xstate *xs, struct iovec *vec, int nvec)
{
    while (nvec > 0 && !xs->finished) {
        apr_size_t n = 0;
        apr_status_t rv = apr_socket_sendv(xs->x->sock, vec, nvec, &n);

        while (n > 0) {
            apr_size_t step = n < vec->iov_len ? n : vec->iov_len;

            vec->iov_base = (char *)vec->iov_base + step;
            vec->iov_len -= step;
            n -= step;
            if (!vec->iov_len) {
                vec++;
                nvec--;
            }
        }
        while (nvec > 0 && !vec->iov_len) {
            vec++;
            nvec--;
        }
        if (rv == APR_SUCCESS) {
            continue;
        }
        if (APR_STATUS_IS_EAGAIN(rv)) {
            wait_and_read(xs, 1);
            continue;
        }
        /* The backend may have answered and closed without reading all of
         * the body (an early error page): take the answer if it is there. */
        while (!xs->finished && receive_some(xs) == APR_SUCCESS) {
        }
        if (!xs->finished && !stale(xs, rv)) {
            fail(xs, xs->got_bytes ? HTTP_BAD_GATEWAY
                                   : HTTP_SERVICE_UNAVAILABLE,
                 rv, "writing the request failed");
        }
    }
    return xs->finished;
}

/* Sends data as STDIN records of at most FCGI_MAX_ALIGNED_LEN bytes. */
static int send_stdin(vf_xstate *xs, const char *data, apr_size_t len)
{
    while (len > 0) {
        apr_size_t chunk = len > FCGI_MAX_ALIGNED_LEN ? FCGI_MAX_ALIGNED_LEN
                                                     : len;
        uint8_t hdr[FCGI_HEADER_LEN];
        struct iovec vec[2];

        fcgi_header_encode(hdr, FCGI_STDIN, xs->x->id, (unsigned)chunk, 0);
        vec[0].iov_base = hdr;
        vec[0].iov_len = sizeof(hdr);
        vec[1].iov_base = (void *)data;
        vec[1].iov_len = chunk;
        if (send_all(xs, vec, 2)) {
            return 1;
        }
        data += chunk;
        len -= chunk;
    }
    return 0;
}

/* Sends every data bucket of bb; destructive only when asked, so that a
 * body kept for a possible retry stays whole.  Sets *eos at EOS. */
static int send_brigade(vf_xstate *xs, apr_bucket_brigade *bb, int keep,
                        int *eos)
{
    apr_bucket_brigade *tmp;
    apr_bucket *e, *c;
    int stop = 0;

    /* One scratch brigade per exchange: this runs once per read from the
     * client, and a brigade lives as long as the request's pool. */
    if (!xs->scratch) {
        xs->scratch = apr_brigade_create(xs->r->pool, bb->bucket_alloc);
    }
    tmp = xs->scratch;

    for (e = APR_BRIGADE_FIRST(bb);
         e != APR_BRIGADE_SENTINEL(bb) && !stop; e = APR_BUCKET_NEXT(e)) {
        if (APR_BUCKET_IS_EOS(e)) {
            *eos = 1;
            break;
        }
        if (APR_BUCKET_IS_METADATA(e)) {
            continue;
        }
        /* Reading a file bucket turns it into memory: read a copy, piece
         * by piece, so a spooled body never sits in memory whole. */
        if (apr_bucket_copy(e, &c) != APR_SUCCESS) {
            fail_here(xs, 0, "copying a request body bucket failed");
            return 1;
        }
        APR_BRIGADE_INSERT_TAIL(tmp, c);
        while (!APR_BRIGADE_EMPTY(tmp) && !stop) {
            const char *data;
            apr_size_t len;
            apr_bucket *b = APR_BRIGADE_FIRST(tmp);
            apr_status_t rv = apr_bucket_read(b, &data, &len,
                                              APR_BLOCK_READ);

            if (rv != APR_SUCCESS) {
                apr_brigade_cleanup(tmp);
                fail_here(xs, rv, "reading the spooled request body failed");
                return 1;
            }
            stop = send_stdin(xs, data, len);
            apr_bucket_delete(b);
        }
    }
    apr_brigade_cleanup(tmp);
    if (!keep) {
        apr_brigade_cleanup(bb);
    }
    return stop;
}

/* Step 2: what vf_body holds, then the rest from the client, then the
 * empty STDIN record. */
static int send_body(vf_xstate *xs)
{
    request_rec *r = xs->r;
    vf_body *body = xs->x->body;
    apr_bucket_brigade *in;
    uint8_t hdr[FCGI_HEADER_LEN];
    struct iovec vec;
    int eos = 0;

    if (send_brigade(xs, body->bb, 1, &eos)) {
        return 1;
    }
    in = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    while (!eos && !body->complete) {
        apr_status_t rv = ap_get_brigade(r->input_filters, in,
                                         AP_MODE_READBYTES, APR_BLOCK_READ,
                                         VF_BODY_CHUNK);

        xs->client_read = 1;
        if (rv != APR_SUCCESS) {
            client_body_failed(xs, rv);
            return 1;
        }
        if (send_brigade(xs, in, 0, &eos)) {
            return 1;
        }
    }
    fcgi_header_encode(hdr, FCGI_STDIN, xs->x->id, 0, 0);
    vec.iov_base = hdr;
    vec.iov_len = sizeof(hdr);
    if (send_all(xs, &vec, 1)) {
        return 1;
    }
    xs->stdin_done = 1;
    xs->headers_due = apr_time_now() + xs->x->timeout;
    return 0;
}

/* No body at all: nothing to read, nothing but the empty STDIN record. */
static int body_is_empty(const vf_body *body)
{
    apr_off_t len = 0;

    return body->complete
           && apr_brigade_length(body->bb, 0, &len) == APR_SUCCESS
           && len == 0;
}

/* 1 to 65535 in turn.  (64 bits: a 32-bit count gives 1 twice in a row
 * where it wraps, as 2^32 is 1 modulo 65535.) */
unsigned vf_exchange_next_id(void)
{
    static volatile apr_uint64_t last;

    return (unsigned)(apr_atomic_inc64(&last) % 65535) + 1;
}

int vf_repeatable(const request_rec *r)
{
    switch (r->method_number) {
    case M_GET:                 /* HEAD too */
    case M_PUT:
    case M_DELETE:
    case M_OPTIONS:
    case M_TRACE:
        return 1;
    default:
        return 0;
    }
}

int vf_may_ride_kept(const request_rec *r, const vf_body *body)
{
    return body->complete && vf_repeatable(r);
}

void vf_exchange_head(vf_exchange *x)
{
    if (x->nhead) {
        return;
    }
    fcgi_begin_request_encode(x->begin, x->id, FCGI_RESPONDER,
                              x->keep_conn ? FCGI_KEEP_CONN : 0);
    x->head[0].iov_base = x->begin;
    x->head[0].iov_len = sizeof(x->begin);
    x->head[1] = x->params;
    x->nhead = 2;
    if (body_is_empty(x->body)) {
        fcgi_header_encode(x->end_stdin, FCGI_STDIN, x->id, 0, 0);
        x->head[2].iov_base = x->end_stdin;
        x->head[2].iov_len = sizeof(x->end_stdin);
        x->nhead = 3;
    }
}

/* Step 1, and all of step 2 when there is no body: one write for a GET,
 * or none when the thread that handed the connection over wrote it. */
static int send_head(vf_xstate *xs)
{
    struct iovec vec[3];
    apr_size_t skip = xs->x->head_sent;
    int i, nvec = 0;

    vf_exchange_head(xs->x);
    for (i = 0; i < xs->x->nhead; i++) {
        vec[nvec] = xs->x->head[i];
        if (skip >= vec[nvec].iov_len) {
            skip -= vec[nvec].iov_len;
            continue;
        }
        vec[nvec].iov_base = (char *)vec[nvec].iov_base + skip;
        vec[nvec++].iov_len -= skip;
        skip = 0;
    }
    if (nvec && send_all(xs, vec, nvec)) {
        return 1;
    }
    if (xs->x->nhead == 3) {
        xs->stdin_done = 1;
        xs->headers_due = apr_time_now() + xs->x->timeout;
    }
    return 0;
}

vf_outcome vf_exchange_run(vf_exchange *x)
{
    request_rec *r = x->r;
    apr_interval_time_t saved_timeout;
    vf_xstate xs;

    memset(&xs, 0, sizeof(xs));
    xs.x = x;
    xs.r = r;
    xs.out = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    xs.iobuf = apr_palloc(r->pool, VF_IOBUF_SIZE);
    xs.phase = PH_HEADERS;
    xs.pfd.p = r->pool;
    xs.pfd.desc_type = APR_POLL_SOCKET;
    xs.pfd.desc.s = x->sock;
    fcgi_parser_init(&xs.parser, x->id);
    fcgi_cgi_headers_init(&xs.hdrs, apr_palloc(r->pool, VF_HEADER_MAX),
                          VF_HEADER_MAX);
    x->status = OK;
    x->local = 0;
    x->reusable = 0;
    x->redirect = NULL;
    x->die_status = 0;

    apr_socket_timeout_get(x->sock, &saved_timeout);
    apr_socket_timeout_set(x->sock, 0);

    if (!send_head(&xs) && !xs.stdin_done) {
        send_body(&xs);
    }
    while (!xs.finished) {
        wait_and_read(&xs, 0);
    }
    pass_out(&xs, 0);
    flush_stderr(&xs);

    apr_socket_timeout_set(x->sock, saved_timeout);
    x->body_consumed = xs.client_read;
    x->reusable = xs.outcome == VF_OUT_OK && x->keep_conn && xs.stdin_done
                  && xs.parser.state == FCGI_ST_DONE;
    return xs.outcome;
}

void vf_exchange_serve_local(request_rec *r, const char *location,
                             int die_status)
{
    if (location) {
        /* As mod_cgi does for a local Location with no Status. */
        r->method = "GET";
        r->method_number = M_GET;
        apr_table_unset(r->headers_in, "Content-Length");
        ap_internal_redirect_handler(location, r);
    }
    else if (die_status) {
        ap_die(die_status, r);
    }
}

int vf_exchange_finish(vf_exchange *x, vf_outcome outcome)
{
    switch (outcome) {
    case VF_OUT_OK:
        vf_exchange_serve_local(x->r, x->redirect, x->die_status);
        return OK;
    case VF_OUT_OVERLOADED:
        apr_table_setn(x->r->err_headers_out, "Retry-After", "1");
        return HTTP_SERVICE_UNAVAILABLE;
    case VF_OUT_FAILED:
        return x->status;
    case VF_OUT_BROKEN:
        /* The response was cut off on purpose; nothing more to add. */
        return DONE;
    case VF_OUT_CLIENT_GONE:
        return OK;
    case VF_OUT_REFUSED:
    case VF_OUT_STALE:
        break;
    }
    return HTTP_SERVICE_UNAVAILABLE;
}
