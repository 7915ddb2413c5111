/*
 * vf_health.c - VhostFcgiHealthCheck: FastCGI-level health checks of
 * balancer members.
 *
 *   VhostFcgiHealthCheck balancer://php [path=/ping | path=values]
 *                        [interval=S] [timeout=S] [fails=N] [passes=N]
 *
 * A TCP connect proves nothing about php-fpm: a wedged master still has
 * its listen queue accepting.  So each member gets a real FastCGI request
 * to the ping path (php-fpm's ping.path answers "pong"), or an
 * FCGI_GET_VALUES exchange, and must answer completely within the timeout.
 * After `fails` failures in a row the member is marked failed (mod_proxy's
 * health-check flag: the balancer skips it); after `passes` successes it is
 * put back, together with any error state a failed connect left on it, so
 * a recovered member does not wait out retry=.
 *
 * The checks run in one httpd child at a time (a singleton watchdog, as
 * mod_proxy_hcheck's do), the members due in a tick side by side; the
 * results live in shared memory for the status page.
 */
#include "mod_vhostfcgi.h"
#include "mod_proxy.h"
#include "mod_watchdog.h"

#include "http_core.h"
#include "apr_optional.h"
#include "apr_thread_proc.h"
#include "apr_strings.h"

#include <errno.h>
#include <math.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#define VF_HC_WATCHDOG  "_vhostfcgi_health_"
#define VF_HC_TICK      apr_time_from_msec(100)
/* Shortest interval=: checks start on a watchdog tick, so a shorter one
 * would not be kept. */
#define VF_HC_MIN_INTERVAL  VF_HC_TICK
/* Shortest timeout=: a connect and a FastCGI round trip need some. */
#define VF_HC_MIN_TIMEOUT   apr_time_from_msec(1)
/* Checks run side by side, in threads of the watchdog's child. */
#define VF_HC_PARALLEL      16

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

/* t as seconds, "0.5", "2", "0.001": APR's %g would print ".5". */
static const char *seconds_text(apr_pool_t *p, apr_interval_time_t t)
{
    char *text = apr_psprintf(p, "%" APR_TIME_T_FMT ".%06" APR_TIME_T_FMT,
                              apr_time_sec(t), apr_time_usec(t));
    char *end = text + strlen(text) - 1;

    while (*end == '0') {
        *end-- = '\0';
    }
    if (*end == '.') {
        *end = '\0';
    }
    return text;
}

/*
 * Seconds, min..3600.  isfinite: strtod reads "nan", which every
 * comparison lets through.  The minimums are the caller's: a timeout that
 * rounds to 0 us would make the check's socket non-blocking and fail
 * every member, whatever its health.
 */
static const char *parse_seconds(apr_pool_t *p, const char *opt,
                                 const char *val, apr_interval_time_t min,
                                 apr_interval_time_t *out)
{
    char *end;
    double v = strtod(val, &end);

    if (end == val || *end || !isfinite(v)
        || v * APR_USEC_PER_SEC < min || v > 3600) {
        return apr_psprintf(p, "VhostFcgiHealthCheck: %s must be a number "
                            "of seconds from %s to 3600 (got '%s')", opt,
                            seconds_text(p, min), val);
    }
    *out = (apr_interval_time_t)(v * APR_USEC_PER_SEC);
    return NULL;
}

static const char *parse_count(apr_pool_t *p, const char *opt,
                               const char *val, int *out)
{
    char *end;
    long v = strtol(val, &end, 10);

    if (end == val || *end || v < 1 || v > 100) {
        return apr_psprintf(p, "VhostFcgiHealthCheck: %s must be 1..100 "
                            "(got '%s')", opt, val);
    }
    *out = (int)v;
    return NULL;
}

/* A path is a URL path of visible characters: it goes into PARAMS as is. */
static int valid_path(const char *path)
{
    if (path[0] != '/') {
        return 0;
    }
    for (; *path; path++) {
        if (*path <= ' ' || *path == 0x7f || *path == '?' || *path == '#') {
            return 0;
        }
    }
    return 1;
}

static const char *parse_option(cmd_parms *cmd, vf_health_conf *hc,
                                const char *opt)
{
    const char *eq = strchr(opt, '=');
    const char *val = eq ? eq + 1 : "";
    size_t klen = eq ? (size_t)(eq - opt) : strlen(opt);

    if (klen == 4 && !strncmp(opt, "path", 4)) {
        if (!strcmp(val, "values")) {
            hc->path = NULL;
            return NULL;
        }
        if (!valid_path(val)) {
            return apr_psprintf(cmd->pool, "VhostFcgiHealthCheck: path "
                                "must be 'values' or a URL path such as "
                                "/ping (got '%s')", val);
        }
        hc->path = val;
        return NULL;
    }
    if (klen == 8 && !strncmp(opt, "interval", 8)) {
        return parse_seconds(cmd->pool, "interval", val, VF_HC_MIN_INTERVAL,
                             &hc->interval);
    }
    if (klen == 7 && !strncmp(opt, "timeout", 7)) {
        return parse_seconds(cmd->pool, "timeout", val, VF_HC_MIN_TIMEOUT,
                             &hc->timeout);
    }
    if (klen == 5 && !strncmp(opt, "fails", 5)) {
        return parse_count(cmd->pool, "fails", val, &hc->fails);
    }
    if (klen == 6 && !strncmp(opt, "passes", 6)) {
        return parse_count(cmd->pool, "passes", val, &hc->passes);
    }
    return apr_psprintf(cmd->pool, "VhostFcgiHealthCheck: unknown option "
                        "'%s' (path=, interval=, timeout=, fails=, "
                        "passes=)", opt);
}

const char *vf_health_directive(cmd_parms *cmd, int argc,
                                char *const argv[])
{
    vf_server_conf *sc = vf_server_conf_get(cmd->server);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    vf_health_conf *hc;
    int i;

    if (err) {
        return err;
    }
    if (argc < 1 || strncasecmp(argv[0], "balancer://", 11)
        || !argv[0][11]) {
        return "VhostFcgiHealthCheck needs balancer://NAME first";
    }
    hc = apr_pcalloc(cmd->pool, sizeof(*hc));
    hc->balancer = argv[0];
    hc->where = apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                             cmd->directive->line_num);
    hc->path = "/ping";
    hc->interval = apr_time_from_sec(5);
    hc->timeout = apr_time_from_sec(2);
    hc->fails = 2;
    hc->passes = 2;
    for (i = 1; i < argc; i++) {
        if ((err = parse_option(cmd, hc, argv[i]))) {
            return err;
        }
    }
    if (hc->timeout >= hc->interval) {
        return "VhostFcgiHealthCheck: timeout must be shorter than interval";
    }
    if (!sc->health_checks) {
        sc->health_checks = apr_array_make(cmd->pool, 2,
                                           sizeof(vf_health_conf *));
    }
    APR_ARRAY_PUSH(sc->health_checks, vf_health_conf *) = hc;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* One check                                                           */
/* ------------------------------------------------------------------ */

/*
 * The whole check (connect, send, read) gets the timeout, as one deadline:
 * a backend that trickles its answer a byte at a time, each in time, is no
 * healthier than a silent one, and would otherwise hold the one thread
 * that checks every member of every balancer.
 */

/* Time left before deadline; 0 once it has passed. */
static apr_interval_time_t time_left(apr_time_t deadline)
{
    apr_time_t now = apr_time_now();

    return now < deadline ? deadline - now : 0;
}

/*
 * A connect to a Unix socket whose listen queue is full waits in the
 * kernel until the backend accepts; made non-blocking it fails at once
 * with EAGAIN instead of EINPROGRESS, so there is nothing to poll for.
 * So the connect blocks, with SO_SNDTIMEO as its bound (the kernel's
 * wait for room in the queue honours it): EAGAIN when the queue stayed
 * full until the deadline.
 */
static apr_status_t connect_unix(proxy_worker *w, apr_time_t deadline,
                                 apr_pool_t *p, apr_socket_t **sock)
{
    struct sockaddr_un un;
    struct timeval tv;
    apr_interval_time_t left;
    apr_os_sock_t fd;
    apr_status_t rv;
    int ret;

    if ((rv = apr_socket_create(sock, APR_UNIX, SOCK_STREAM, 0, p))) {
        return rv;
    }
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    apr_cpystrn(un.sun_path, w->s->uds_path, sizeof(un.sun_path));
    apr_os_sock_get(&fd, *sock);
    do {
        /* left > 0, so tv is never {0, 0}, which would mean no bound. */
        if (!(left = time_left(deadline))) {
            return APR_TIMEUP;
        }
        tv.tv_sec = apr_time_sec(left);
        tv.tv_usec = apr_time_usec(left);
        if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
            return errno;
        }
        ret = connect(fd, (struct sockaddr *)&un, sizeof(un));
    } while (ret < 0 && errno == EINTR);
    return ret < 0 ? errno : APR_SUCCESS;
}

/* An address as text, to connect to again without the resolver; none
 * (ip empty) when it cannot be written.  The family follows the text:
 * APR writes an IPv4-mapped IPv6 address as plain IPv4, which a lookup
 * for IPv6 addresses would refuse. */
static void addr_keep(vf_health_addr *out, apr_sockaddr_t *sa)
{
    if (apr_sockaddr_ip_getbuf(out->ip, sizeof(out->ip), sa)
        != APR_SUCCESS) {
        out->ip[0] = '\0';
        return;
    }
    out->family = strchr(out->ip, ':') ? sa->family : APR_INET;
}

/* One connect, to sa, by the deadline, on a socket of its own (the one a
 * failed connect leaves is in no state to try another address).  APR
 * connects without blocking and polls for at most the time left. */
static apr_status_t connect_one(apr_sockaddr_t *sa, apr_time_t deadline,
                                apr_pool_t *p, apr_socket_t **sock)
{
    apr_interval_time_t left = time_left(deadline);
    apr_status_t rv;

    *sock = NULL;
    if (!left) {
        return APR_TIMEUP;
    }
    if ((rv = apr_socket_create(sock, sa->family, SOCK_STREAM,
                                APR_PROTO_TCP, p)) != APR_SUCCESS) {
        *sock = NULL;
        return rv;
    }
    apr_socket_timeout_set(*sock, left);
    if ((rv = apr_socket_connect(*sock, sa)) != APR_SUCCESS) {
        apr_socket_close(*sock);
        *sock = NULL;
    }
    return rv;
}

/*
 * A member given by host name is resolved under the resolver's own
 * timeouts, not the deadline: only while no address is known (known, the
 * one the last check passed at).  Each address the name resolves to is
 * tried in turn, as mod_proxy does for requests, in the time left: a
 * "localhost" that is ::1 first must not fail a php-fpm listening on
 * 127.0.0.1.  *used: the address connected to, for the caller to keep if
 * the whole check passes.  The error is the last address's.
 */
static apr_status_t connect_tcp(proxy_worker *w, const vf_health_addr *known,
                                vf_health_addr *used, apr_time_t deadline,
                                apr_pool_t *p, apr_socket_t **sock)
{
    apr_sockaddr_t *sa;
    apr_status_t rv;

    rv = known->ip[0]
         ? apr_sockaddr_info_get(&sa, known->ip, known->family, w->s->port,
                                 0, p)
         : apr_sockaddr_info_get(&sa, w->s->hostname_ex, APR_UNSPEC,
                                 w->s->port, 0, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    for (; sa; sa = sa->next) {
        if ((rv = connect_one(sa, deadline, p, sock)) == APR_SUCCESS) {
            addr_keep(used, sa);
            return APR_SUCCESS;
        }
        if (APR_STATUS_IS_TIMEUP(rv)) {
            break;              /* no time left for the next */
        }
    }
    return rv;
}

static apr_status_t member_connect(proxy_worker *w,
                                   const vf_health_addr *known,
                                   vf_health_addr *used, apr_time_t deadline,
                                   apr_pool_t *p, apr_socket_t **sock)
{
    return w->s->uds_path[0]
           ? connect_unix(w, deadline, p, sock)
           : connect_tcp(w, known, used, deadline, p, sock);
}

/*
 * Why a connect failed.  A listen queue that stayed full until the
 * deadline (EAGAIN) is a failed check, though the member may be alive:
 * the check asks of every member that it take and answer a request
 * within the timeout, and an overloaded php-fpm on TCP fails it too (its
 * kernel accepts, the ping waits for a worker past the timeout).  From
 * here a queue full of work cannot be told from the queue of a stopped
 * master, which must go out.  Requests sent there would wait in that
 * queue the same way, so out of the rotation it sheds load it cannot
 * take; fails= keeps a queue full for a moment from taking it out, and
 * it is back after passes= checks that got through.
 */
static const char *connect_failure(const vf_health_conf *hc,
                                   apr_status_t rv, apr_pool_t *p)
{
    const char *secs = seconds_text(p, hc->timeout);

    if (APR_STATUS_IS_EAGAIN(rv)) {
        return apr_psprintf(p, "connect: listen queue full for %s s "
                            "(overloaded)", secs);
    }
    if (APR_STATUS_IS_TIMEUP(rv)) {
        return apr_psprintf(p, "connect: not connected within %s s", secs);
    }
    return apr_psprintf(p, "connect: %pm", &rv);
}

/* The request: a GET of the ping path, or a GET_VALUES record. */
static struct iovec build_request(const vf_health_conf *hc, apr_pool_t *p)
{
    static const char *const names[] = { "FCGI_MAX_CONNS" };
    struct iovec v;
    uint8_t *buf = apr_palloc(p, 1024);
    size_t pos, len = 0;

    if (!hc->path) {
        v.iov_base = buf;
        v.iov_len = fcgi_get_values_encode(buf, 1024, names, 1);
        return v;
    }
    {
        const char *params[][2] = {
            { "GATEWAY_INTERFACE", "CGI/1.1" }, { "REQUEST_METHOD", "GET" },
            { "SERVER_PROTOCOL", "HTTP/1.1" }, { "SCRIPT_NAME", hc->path },
            { "SCRIPT_FILENAME", hc->path }, { "REQUEST_URI", hc->path },
            { "QUERY_STRING", "" }, { "SERVER_NAME", "localhost" },
            { "REMOTE_ADDR", "127.0.0.1" },
        };
        uint8_t pairs[768];
        size_t i;

        for (i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
            len += fcgi_nv_encode(pairs + len, sizeof(pairs) - len,
                                  params[i][0], strlen(params[i][0]),
                                  params[i][1], strlen(params[i][1]));
        }
        fcgi_begin_request_encode(buf, 1, FCGI_RESPONDER, 0);
        pos = FCGI_BEGIN_REQUEST_LEN;
        pos += fcgi_stream_records_encode(buf + pos, FCGI_PARAMS, 1, pairs,
                                          len, FCGI_MAX_ALIGNED_LEN);
        fcgi_header_encode(buf + pos, FCGI_PARAMS, 1, 0, 0);
        pos += FCGI_HEADER_LEN;
        fcgi_header_encode(buf + pos, FCGI_STDIN, 1, 0, 0);
        pos += FCGI_HEADER_LEN;
    }
    v.iov_base = buf;
    v.iov_len = pos;
    return v;
}

static const char *timed_out(const vf_health_conf *hc, apr_size_t got,
                             apr_pool_t *p)
{
    const char *secs = seconds_text(p, hc->timeout);

    return got ? apr_psprintf(p, "answer not complete within %s s (%"
                              APR_SIZE_T_FMT " bytes came)", secs, got)
               : apr_psprintf(p, "no answer within %s s", secs);
}

/*
 * What is wrong with the answer's header block, or NULL: malformed or cut
 * short (a request would get 502 for it), or a Status that is not 2xx, as
 * "status 503".  CGI puts the header fields in no order (RFC 3875 section
 * 6.3): PHP writes the Status of http_response_code() first, but one set
 * with header("Status: ...") where the script set it, e.g. after
 * Content-Type.
 */
static const char *header_failure(const struct fcgi_cgi_headers *hdrs,
                                  apr_pool_t *p)
{
    const char *name, *value;
    size_t cursor = 0;

    if (hdrs->state == FCGI_HS_ERROR) {
        return apr_psprintf(p, "malformed header block: %s", hdrs->error);
    }
    if (hdrs->state != FCGI_HS_DONE) {
        return "the answer ended inside its header block";
    }
    while (fcgi_cgi_header_next(hdrs, &cursor, &name, &value)) {
        if (!strcasecmp(name, "Status")) {
            return value[0] == '2' ? NULL
                   : apr_psprintf(p, "status %.3s", value);
        }
    }
    return NULL;
}

/* Reads the answer; NULL when it is a healthy one, else what was wrong. */
static const char *read_answer(const vf_health_conf *hc, apr_socket_t *sock,
                               apr_time_t deadline, apr_pool_t *p)
{
    struct fcgi_parser parser;
    struct fcgi_cgi_headers hdrs;
    char buf[4096];
    size_t got_stdout = 0, used;
    apr_size_t got = 0;

    fcgi_parser_init(&parser, hc->path ? 1 : 0xffff);
    fcgi_cgi_headers_init(&hdrs, apr_palloc(p, VF_HEADER_MAX),
                          VF_HEADER_MAX);
    for (;;) {
        apr_size_t len = sizeof(buf), off = 0;
        apr_interval_time_t left = time_left(deadline);
        apr_status_t rv;

        if (!left) {
            return timed_out(hc, got, p);
        }
        apr_socket_timeout_set(sock, left);
        rv = apr_socket_recv(sock, buf, &len);
        if (rv != APR_SUCCESS && len == 0) {
            return APR_STATUS_IS_TIMEUP(rv) ? timed_out(hc, got, p)
                   : apr_psprintf(p, "connection ended: %pm", &rv);
        }
        got += len;
        for (;;) {
            struct fcgi_event ev;

            off += fcgi_parse(&parser, (uint8_t *)buf + off, len - off, &ev);
            if (ev.kind == FCGI_EV_NONE) {
                break;
            }
            switch (ev.kind) {
            case FCGI_EV_STDOUT:
                /* (Past the header block, this consumes nothing.) */
                (void)fcgi_cgi_headers_feed(&hdrs, ev.data, ev.len, &used);
                got_stdout += ev.len;
                break;
            case FCGI_EV_MANAGEMENT:
                if (!hc->path && ev.type == FCGI_GET_VALUES_RESULT) {
                    return NULL;
                }
                break;
            case FCGI_EV_END_REQUEST:
                if (ev.protocol_status != FCGI_REQUEST_COMPLETE) {
                    return apr_psprintf(p, "protocol status %u",
                                        ev.protocol_status);
                }
                if (!got_stdout) {
                    return "empty response";
                }
                return header_failure(&hdrs, p);
            case FCGI_EV_ERROR:
                return apr_pstrdup(p, parser.error);
            default:
                break;
            }
        }
    }
}

/* Sends the whole request, by the deadline. */
static apr_status_t send_request(apr_socket_t *sock, const struct iovec *req,
                                 apr_time_t deadline)
{
    const char *data = req->iov_base;
    apr_size_t todo = req->iov_len;

    while (todo) {
        apr_interval_time_t left = time_left(deadline);
        apr_size_t n = todo;
        apr_status_t rv;

        if (!left) {
            return APR_TIMEUP;
        }
        apr_socket_timeout_set(sock, left);
        rv = apr_socket_send(sock, data, &n);
        data += n;
        todo -= n;
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

/* NULL when the member passed, else what was wrong.  *used: the TCP
 * address it connected to (ip empty when none). */
static const char *check_member(const vf_health_conf *hc, proxy_worker *w,
                                const vf_health_addr *known,
                                vf_health_addr *used, apr_pool_t *p)
{
    apr_time_t deadline = apr_time_now() + hc->timeout;
    apr_socket_t *sock = NULL;
    struct iovec req = build_request(hc, p);
    apr_status_t rv;
    const char *why;

    used->ip[0] = '\0';
    rv = member_connect(w, known, used, deadline, p, &sock);
    if (rv != APR_SUCCESS) {
        why = connect_failure(hc, rv, p);
    }
    else if ((rv = send_request(sock, &req, deadline)) != APR_SUCCESS) {
        why = APR_STATUS_IS_TIMEUP(rv) ? timed_out(hc, 0, p)
              : apr_psprintf(p, "send: %pm", &rv);
    }
    else {
        why = read_answer(hc, sock, deadline, p);
    }
    if (sock) {
        apr_socket_close(sock);
    }
    return why;
}

/* ------------------------------------------------------------------ */
/* Running the checks                                                  */
/* ------------------------------------------------------------------ */

typedef struct {
    apr_array_header_t *checks;         /* of vf_health_conf * */
    server_rec *s;
} vf_health_run;

/* The log names a member by its whole URL: hs->name (name_ex) is only the
 * fcgi://host part of unix:/path|fcgi://host, which names no socket. */
static void record(const vf_health_conf *hc, proxy_worker *w,
                   vf_health_shared *hs, const char *why, server_rec *s,
                   apr_pool_t *p)
{
    int was_failed = PROXY_WORKER_IS_HCFAILED(w) != 0;
    const char *name = ap_proxy_worker_name(p, w);

    hs->last_check = apr_time_now();
    hs->checks++;
    apr_cpystrn(hs->last_result, why ? why : "ok", sizeof(hs->last_result));
    if (why) {
        hs->failures++;
        hs->passes_in_row = 0;
        if (++hs->fails_in_row >= hc->fails && !was_failed) {
            ap_proxy_set_wstatus(PROXY_WORKER_HC_FAIL_FLAG, 1, w);
            hs->out = 1;
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(10710)
                         "VhostFcgiHealthCheck: %s member %s taken out "
                         "after %d failed checks: %s", hc->balancer,
                         name, hs->fails_in_row, why);
        }
        return;
    }
    hs->fails_in_row = 0;
    if (++hs->passes_in_row >= hc->passes
        && (was_failed || (w->s->status & PROXY_WORKER_IN_ERROR))) {
        ap_proxy_set_wstatus(PROXY_WORKER_HC_FAIL_FLAG, 0, w);
        ap_proxy_set_wstatus(PROXY_WORKER_IN_ERROR_FLAG, 0, w);
        hs->out = 0;
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, APLOGNO(10711)
                     "VhostFcgiHealthCheck: %s member %s back after %d "
                     "good checks", hc->balancer, name,
                     hs->passes_in_row);
    }
}

/* Takes out of a new generation's rotation what the checks had taken out
 * of the previous one's (mod_proxy's worker state is per generation). */
static void keep_out(proxy_worker *w, const vf_health_shared *hs)
{
    if (hs->out && !PROXY_WORKER_IS_HCFAILED(w)) {
        ap_proxy_set_wstatus(PROXY_WORKER_HC_FAIL_FLAG, 1, w);
    }
}

/* One member's check due in this tick. */
typedef struct {
    const vf_health_conf *hc;
    proxy_worker *w;
    vf_health_shared *hs;
    vf_health_addr *addr;       /* the address kept for the member: the
                                 * check reads it, remember_addr() alone
                                 * writes it, after the join */
    vf_health_addr used;        /* the address the check connected to */
    apr_pool_t *p;              /* the check's own, with its own allocator:
                                 * a thread allocates from nothing else */
    const char *why;            /* check_member()'s answer */
} vf_health_job;

static void run_check(vf_health_job *job)
{
    job->why = check_member(job->hc, job->w, job->addr, &job->used, job->p);
}

static void *APR_THREAD_FUNC run_job(apr_thread_t *t, void *data)
{
    (void)t;
    run_check(data);
    return NULL;
}

/*
 * The next check connects to the address this one passed at, without the
 * resolver.  A check that failed, whatever failed (connect, send, answer),
 * forgets it, so the next resolves the name again: the name may point
 * elsewhere now, and an address that accepts but does not answer (a
 * stopped or reassigned host) is no better than one that refuses.  In the
 * watchdog's thread, after the checks' threads are joined.
 */
static void remember_addr(vf_health_job *job)
{
    if (job->why) {
        job->addr->ip[0] = '\0';
    }
    else if (job->used.ip[0]) {
        *job->addr = job->used;
    }
}

/* A pool for one check, freed with ptemp: a child of ptemp (created
 * here, in the watchdog's thread) that allocates from an allocator of its
 * own, so the check's thread shares none with another. */
static apr_pool_t *job_pool(apr_pool_t *ptemp)
{
    apr_allocator_t *a;
    apr_pool_t *p;

    if (apr_allocator_create(&a) != APR_SUCCESS) {
        return NULL;
    }
    if (apr_pool_create_ex(&p, ptemp, NULL, a) != APR_SUCCESS) {
        apr_allocator_destroy(a);
        return NULL;
    }
    apr_allocator_owner_set(a, p);
    return p;
}

/* Runs the due checks side by side, VF_HC_PARALLEL at most at a time, so a
 * round takes about one timeout however many members do not answer, and a
 * member that is back is seen at its own interval.  A check whose thread
 * (or pool) cannot be had runs here, in turn. */
static void run_jobs(vf_health_job *jobs, int n, apr_pool_t *ptemp)
{
    apr_thread_t *threads[VF_HC_PARALLEL];
    apr_status_t rv;
    int i, k, batch;

    for (i = 0; i < n; i += batch) {
        batch = n - i < VF_HC_PARALLEL ? n - i : VF_HC_PARALLEL;
        for (k = 0; k < batch; k++) {
            vf_health_job *job = &jobs[i + k];

            threads[k] = NULL;
            if (batch > 1 && (job->p = job_pool(ptemp)) != NULL
                && apr_thread_create(&threads[k], NULL, run_job, job,
                                     ptemp) != APR_SUCCESS) {
                threads[k] = NULL;
            }
            if (!threads[k]) {
                job->p = ptemp;
                run_check(job);
            }
        }
        for (k = 0; k < batch; k++) {
            if (threads[k]) {
                apr_thread_join(&rv, threads[k]);
            }
        }
    }
}

static apr_status_t watchdog_tick(int state, void *data, apr_pool_t *ptemp)
{
    vf_health_run *run = data;
    apr_time_t now = apr_time_now();
    apr_array_header_t *due;
    int i, m;

    if (state != AP_WATCHDOG_STATE_RUNNING) {
        return APR_SUCCESS;
    }
    due = apr_array_make(ptemp, 8, sizeof(vf_health_job));
    for (i = 0; i < run->checks->nelts; i++) {
        vf_health_conf *hc = APR_ARRAY_IDX(run->checks, i,
                                           vf_health_conf *);
        proxy_balancer *b = ap_proxy_get_balancer(ptemp, hc->proxy_conf,
                                                  hc->balancer, 0);
        proxy_worker **members;

        if (!b) {
            continue;
        }
        members = (proxy_worker **)b->workers->elts;
        for (m = 0; m < b->workers->nelts && m < hc->n_members; m++) {
            vf_health_shared *hs = &hc->shared[m];
            vf_health_job *job;

            keep_out(members[m], hs);
            if (now < hs->next_check
                || PROXY_WORKER_IS(members[m], PROXY_WORKER_STOPPED)) {
                continue;
            }
            hs->next_check = now + hc->interval;
            job = apr_array_push(due);
            job->hc = hc;
            job->w = members[m];
            job->hs = hs;
            job->addr = &hc->addrs[m];
        }
    }
    run_jobs((vf_health_job *)due->elts, due->nelts, ptemp);
    for (i = 0; i < due->nelts; i++) {
        vf_health_job *job = &APR_ARRAY_IDX(due, i, vf_health_job);

        remember_addr(job);
        record(job->hc, job->w, job->hs, job->why, run->s, ptemp);
    }
    return APR_SUCCESS;
}

/* Does server s know balancer name, with members?  (1 and *pcp set.) */
static int find_in(server_rec *s, const char *name, apr_pool_t *ptemp,
                   proxy_server_conf **pcp)
{
    return (*pcp = vf_balancer_defined(s, name, ptemp)) != NULL;
}

/*
 * The balancer a check is for: the main server's (virtual hosts share it),
 * else the one <VirtualHost> that defines it.  The directive is
 * server-wide, so a name defined in several virtual hosts (different
 * balancers, different members) is ambiguous.  NULL with *err set when
 * there is none or more than one.
 */
static proxy_server_conf *find_balancer(const vf_health_conf *hc,
                                        server_rec *main_s,
                                        apr_pool_t *ptemp, const char **err)
{
    proxy_server_conf *found = NULL, *pc;
    server_rec *s, *found_s = NULL;

    if (find_in(main_s, hc->balancer, ptemp, &found)) {
        return found;
    }
    for (s = main_s->next; s; s = s->next) {
        if (!find_in(s, hc->balancer, ptemp, &pc)) {
            continue;
        }
        if (found) {
            *err = apr_psprintf(ptemp, "%s: VhostFcgiHealthCheck: %s is "
                                "defined in more than one <VirtualHost> "
                                "(%s:%d and %s:%d); define it once, in one "
                                "of them or in the main server "
                                "configuration", hc->where, hc->balancer,
                                found_s->defn_name,
                                found_s->defn_line_number, s->defn_name,
                                s->defn_line_number);
            return NULL;
        }
        found = pc;
        found_s = s;
    }
    if (!found) {
        *err = apr_psprintf(ptemp, "%s: VhostFcgiHealthCheck: no <Proxy "
                            "%s> with BalancerMember lines is defined",
                            hc->where, hc->balancer);
    }
    return found;
}

int vf_health_check_config(apr_pool_t *ptemp, server_rec *s)
{
    vf_server_conf *sc = vf_server_conf_get(s);
    int i;

    for (i = 0; sc->health_checks && i < sc->health_checks->nelts; i++) {
        vf_health_conf *hc = APR_ARRAY_IDX(sc->health_checks, i,
                                           vf_health_conf *);
        const char *err = NULL;

        if (!(hc->proxy_conf = find_balancer(hc, s, ptemp, &err))) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, NULL,
                         APLOGNO(10712) "%s", err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

/* The members' results outlive a graceful restart: a member the checks
 * took out stays out in the new generation (whose mod_proxy starts every
 * member afresh) until checks pass, rather than taking requests until
 * fails= new checks have failed.  So they live in the process pool, one
 * segment per balancer and list of members (a changed list starts
 * afresh); the children of every generation map it.  A segment of a list
 * no longer configured stays until httpd stops: a few hundred bytes per
 * change. */
static vf_health_shared *retained_shared(server_rec *s, apr_pool_t *ptemp,
                                         const vf_health_conf *hc,
                                         proxy_worker **members)
{
    apr_size_t size = hc->n_members * sizeof(vf_health_shared);
    /* The layout is part of the name: a graceful restart may load a new
     * build of the module. */
    const char *key = apr_psprintf(ptemp, "vhostfcgi-health %" APR_SIZE_T_FMT
                                   " %s", sizeof(vf_health_shared),
                                   hc->balancer);
    vf_health_shared **slot;
    int j;

    /* (ap_retained_data_create keeps a copy of the key.) */
    for (j = 0; j < hc->n_members; j++) {
        key = apr_pstrcat(ptemp, key, " ", members[j]->s->name_ex, NULL);
    }
    if (!(slot = ap_retained_data_get(key))) {
        slot = ap_retained_data_create(key, sizeof(*slot));
    }
    if (!*slot) {
        *slot = vf_shared_alloc(s->process->pool, size);
    }
    return *slot;
}

void vf_health_child_init(apr_pool_t *pchild, server_rec *s)
{
    vf_server_conf *sc = vf_server_conf_get(s);
    int i, m;

    for (i = 0; sc->health_checks && i < sc->health_checks->nelts; i++) {
        vf_health_conf *hc = APR_ARRAY_IDX(sc->health_checks, i,
                                           vf_health_conf *);
        proxy_balancer *b = hc->proxy_conf && hc->shared
                            ? ap_proxy_get_balancer(pchild, hc->proxy_conf,
                                                    hc->balancer, 0)
                            : NULL;
        proxy_worker **members;

        if (!b) {
            continue;
        }
        members = (proxy_worker **)b->workers->elts;
        for (m = 0; m < b->workers->nelts && m < hc->n_members; m++) {
            keep_out(members[m], &hc->shared[m]);
        }
    }
}

int vf_health_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                          server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *register_cb;
    vf_server_conf *sc = vf_server_conf_get(s);
    vf_health_run *run;
    ap_watchdog_t *wd;
    int i, j;

    if (!sc->health_checks) {
        return OK;
    }
    for (i = 0; i < sc->health_checks->nelts; i++) {
        vf_health_conf *hc = APR_ARRAY_IDX(sc->health_checks, i,
                                           vf_health_conf *);
        proxy_balancer *b = hc->proxy_conf
                            ? ap_proxy_get_balancer(ptemp, hc->proxy_conf,
                                                    hc->balancer, 0)
                            : NULL;
        proxy_worker **members;

        if (!b) {
            return HTTP_INTERNAL_SERVER_ERROR;  /* vf_health_check_config */
        }
        hc->n_members = b->workers->nelts;
        members = (proxy_worker **)b->workers->elts;
        hc->shared = retained_shared(s, ptemp, hc, members);
        if (!hc->shared) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, NULL,
                         APLOGNO(10742) "VhostFcgiHealthCheck %s: cannot "
                         "create shared memory", hc->balancer);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        for (j = 0; j < hc->n_members; j++) {
            apr_cpystrn(hc->shared[j].name, members[j]->s->name_ex,
                        sizeof(hc->shared[j].name));
        }
        hc->addrs = apr_pcalloc(pconf, hc->n_members * sizeof(*hc->addrs));
    }
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    register_cb = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!get_instance || !register_cb
        || get_instance(&wd, VF_HC_WATCHDOG, 0, 1, pconf) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, NULL,
                     APLOGNO(10713) "VhostFcgiHealthCheck needs "
                     "mod_watchdog");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    run = apr_pcalloc(pconf, sizeof(*run));
    run->checks = sc->health_checks;
    run->s = s;
    register_cb(wd, VF_HC_TICK, run, watchdog_tick);
    return OK;
}

const vf_health_shared *vf_health_find(server_rec *s, const char *balancer,
                                       const char *member)
{
    vf_server_conf *sc = vf_server_conf_get(s);
    int i, j;

    for (i = 0; sc->health_checks && i < sc->health_checks->nelts; i++) {
        vf_health_conf *hc = APR_ARRAY_IDX(sc->health_checks, i,
                                           vf_health_conf *);

        /* (One backend may be a member of two balancers, checked by each
         * with its own path and timings.) */
        if (strcasecmp(hc->balancer, balancer)) {
            continue;
        }
        for (j = 0; hc->shared && j < hc->n_members; j++) {
            if (!strcmp(hc->shared[j].name, member)) {
                return &hc->shared[j];
            }
        }
    }
    return NULL;
}
