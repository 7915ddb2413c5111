/*
 * mod_vhostfcgi.h - what the module's files share.
 *
 * The module is mod_proxy's handler for the fcgi scheme (a drop-in for
 * mod_proxy_fcgi).  Its parts, one file each:
 *
 *   mod_vhostfcgi.c   glue: configuration, directives, hooks
 *   vf_check.c        the script check, and routing a request to its pool
 *   vf_serve.c        the handler serving a request from a pool
 *   vf_pool.c         pool definitions, resolved against the pools file
 *   vf_conn.c         each pool's connections in this process
 *   vf_admit.c        VhostFcgiMaxInFlight: admission control per pool
 *   vf_gauge.c        each process's part of the pools' gauges, given back
 *                     when the process dies
 *   vf_spawner.c      VhostFcgiSpawner: httpd supervises the spawner
 *   vf_health.c       VhostFcgiHealthCheck: FastCGI checks of balancer members
 *   vf_status.c       SetHandler vhostfcgi-status
 *   vf_proxy.c        the mod_proxy scheme and canon handlers
 *   vf_env.c          the CGI/1.1 environment sent as FCGI_PARAMS
 *   vf_body.c         the client's request body: prefetch, length, spool
 *   vf_exchange.c     one FastCGI request/response on a connected socket
 *   vf_response.c     the CGI response header block mapped onto the request
 *
 * It links two plain-C parts shared with the spawner: the wire format
 * (proto/fcgi_proto.c, no httpd types) and the pools file parser
 * (poolsfile/).
 */
#ifndef MOD_VHOSTFCGI_H
#define MOD_VHOSTFCGI_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_expr.h"
#include "apr_atomic.h"
#include "apr_buckets.h"
#include "apr_hash.h"
#include "apr_network_io.h"

#include "fcgi_proto.h"

extern module AP_MODULE_DECLARE_DATA vhostfcgi_module;
/* Every file's log lines carry the module's name, so that
 * "LogLevel vhostfcgi:debug" applies to them (mod_vhostfcgi.c gets this
 * from AP_DECLARE_MODULE). */
#ifndef VF_DECLARES_MODULE
APLOG_USE_MODULE(vhostfcgi);
#endif

#define VF_SCHEME "FCGI"

/* ------------------------------------------------------------------ */
/* Per-directory configuration                                         */
/* ------------------------------------------------------------------ */

/* mod_proxy_fcgi's ProxyFCGIBackendType, with the same meaning: FPM (the
 * default) leaves "proxy:fcgi://host:port" in SCRIPT_FILENAME for php-fpm
 * to strip; GENERIC strips it here. */
typedef enum {
    VF_BACKEND_UNSET = 0,
    VF_BACKEND_FPM,
    VF_BACKEND_GENERIC
} vf_backend_type;

/* One ProxyFCGISetEnvIf line. */
typedef struct {
    ap_expr_info_t *cond;
    ap_expr_info_t *subst;      /* NULL in unset ("!NAME") mode */
    const char *name;
    int trusted;                /* from server config, not .htaccess */
} vf_env_fixup;

typedef struct vf_pool vf_pool;

#define VF_UNSET            (-1)

/* VhostFcgiScriptOwner */
#define VF_OWNER_ANY        0
#define VF_OWNER_POOL       1

typedef struct {
    vf_backend_type backend_type;
    apr_array_header_t *env_fixups;     /* of vf_env_fixup */
    vf_pool *pool;                      /* VhostFcgiPool; NULL: none */
    int pool_set;                       /* VhostFcgiPool given here */
    apr_array_header_t *extensions;     /* of const char *; NULL: unset */
    int check_script;                   /* VhostFcgiCheckScript, or unset */
    int script_owner;                   /* VhostFcgiScriptOwner, or unset */
} vf_dir_conf;

/* Settings of the whole server (kept in the main server's config). */
typedef struct {
    const char *pools_file;             /* VhostFcgiPoolsFile */
    const char *pools_file_where;       /* its file:line */
    apr_array_header_t *spawner_argv;   /* VhostFcgiSpawner PATH [ARGS] */
    const char *spawner_where;          /* its file:line */
    apr_array_header_t *health_checks;  /* of vf_health_conf * */
    int admit_max;                      /* VhostFcgiMaxInFlight N; 0: off */
    int admit_queue;                    /*   queue=M */
    apr_interval_time_t admit_wait;     /*   wait=S */
} vf_server_conf;

vf_dir_conf *vf_dir_conf_get(request_rec *r);
vf_server_conf *vf_server_conf_get(server_rec *s);

/* A directive's number: decimal digits only (no sign, no blanks, not
 * empty), min..max.  0 and *out set, or -1. */
int vf_parse_number(const char *s, long min, long max, long *out);

/* For a directive's error about arg: a hint when arg starts with '#'
 * (httpd has no comment after a directive), else "". */
const char *vf_comment_hint(const char *arg);

/* Calls visit on a per-directory configuration and on every <Files> and
 * <If> section nested in it, until one returns non-zero, which is then
 * returned; 0 when none did.  Nesting past a few dozen levels (which no
 * configuration has) is not walked: too_deep is returned instead. */
typedef int vf_section_fn(ap_conf_vector_t *section, void *baton);
int vf_sections_any(ap_conf_vector_t *section, vf_section_fn *visit,
                    void *baton, int too_deep);

/* ------------------------------------------------------------------ */
/* vf_pool.c - pools                                                   */
/* ------------------------------------------------------------------ */

typedef enum {
    VF_POOL_NAMED,          /* a [name] of the pools file */
    VF_POOL_UNIX,           /* unix:/path.sock */
    VF_POOL_TCP,            /* fcgi://host:port */
    VF_POOL_BALANCER        /* balancer://name: served through mod_proxy */
} vf_pool_kind;

struct vf_conn_cache;

#define VF_LATENCY_BUCKETS  16

/* A pool's figures shared by all httpd processes (shared memory).  The
 * first six are gauges: what is there now, each unit counted up and back
 * down by one process, which also keeps its own part of each (vf_gauges)
 * so that what a dead process counted can be given back (vf_gauge.c). */
typedef struct {
    volatile apr_uint32_t open;     /* connections open, all processes */
    volatile apr_uint32_t inflight; /* VhostFcgiMaxInFlight: admitted */
    volatile apr_uint32_t queued;   /* VhostFcgiMaxInFlight: waiting */
    volatile apr_uint32_t idle;     /* idle connections, all processes */
    volatile apr_uint32_t busy;     /* requests at the backend now */
    volatile apr_uint32_t waiting;  /* requests waiting in httpd for one of
                                     * their process's connections */
    /* Counters since httpd started (graceful restarts go on counting),
     * for the status page: 64 bits, as they would wrap in weeks. */
    volatile apr_uint64_t requests;
    volatile apr_uint64_t opened;   /* connections opened */
    volatile apr_uint64_t reused;   /* requests on a kept connection */
    volatile apr_uint64_t retried;  /* stale connections retried */
    volatile apr_uint64_t err_connect;  /* 503: cannot connect / busy */
    volatile apr_uint64_t err_admit;    /* 503: VhostFcgiMaxInFlight */
    volatile apr_uint64_t err_bad;      /* 502: malformed or refused */
    volatile apr_uint64_t err_timeout;  /* 504 */
    volatile apr_uint64_t err_broken;   /* aborted after the headers */
    volatile apr_uint64_t latency[VF_LATENCY_BUCKETS];
} vf_pool_shared;

/* One process's part of a pool's gauges: the same names as in
 * vf_pool_shared. */
typedef struct {
    volatile apr_uint32_t open;
    volatile apr_uint32_t inflight;
    volatile apr_uint32_t queued;
    volatile apr_uint32_t idle;
    volatile apr_uint32_t busy;
    volatile apr_uint32_t waiting;
} vf_gauges;

/* Upper bounds (ms) of the latency histogram's buckets; the last is open. */
#define VF_LATENCY_BOUNDS { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, \
                            2000, 5000, 10000, 30000, 60000, 0 }

struct vf_pool {
    const char *name;               /* as written in VhostFcgiPool */
    const char *where;              /* "file:line" of that directive */
    vf_pool_kind kind;
    const char *sockpath;           /* unix socket (also named pools) */
    const char *host;               /* TCP */
    apr_port_t port;
    apr_sockaddr_t *addr;           /* TCP, resolved at startup */
    const char *proxy_handler;      /* balancer: "proxy:balancer://name" */
    int has_ids;                    /* uid/gid known from the pools file */
    uid_t uid;
    gid_t gid;
    int max_children;               /* from the pools file; 0: unknown */
    int on_demand;                  /* the pools file says pm = ondemand */
    const char *chroot;             /* the pools file's, without a trailing
                                     * '/': the backend sees paths inside
                                     * it; NULL: none */
    int max_conns;                  /* the backend's workers: connections
                                     * beyond are not kept; 0: unknown */
    int max_idle;                   /* idle connections kept per process */
    apr_interval_time_t idle_ttl;   /* an idle connection expires after */
    int warned;                     /* the no-max= notice was logged */
    const char *lasting_key;        /* the pool across graceful restarts */
    vf_pool_shared *shared;         /* in shared memory */
    vf_gauges *mine;                /* this process's part of shared's
                                     * gauges (vf_gauges_child_init) */
    struct vf_conn_cache *cache;    /* this process's connections */
};

/* VhostFcgiPool TARGET [max=N] [idle=N] [idle_timeout=S]: "none" gives
 * *pool = NULL.  Returns an error message or NULL.  URL pools are keyed by
 * vhost and URL, named pools by name, so no two vhosts share a URL pool's
 * connections. */
const char *vf_pool_define(cmd_parms *cmd, const char *target, int nopts,
                           const char *const *opts, vf_pool **pool);

/* The proxy_server_conf of server s when it defines balancer name (a
 * "balancer://..." URL) with members, else NULL (startup checks). */
void *vf_balancer_defined(server_rec *s, const char *name, apr_pool_t *p);

/* Every pool of the running configuration, by key (for the status page). */
apr_hash_t *vf_pools_all(server_rec *s);

/* At startup (check_config, so httpd -t sees it too): reads the pools
 * file, resolves names and addresses. */
int vf_pools_resolve(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);

/* At startup (post_config): the pools' shared memory. */
int vf_pools_share(apr_pool_t *pconf, apr_pool_t *ptemp);

/* In each child: creates the connection caches. */
void vf_pools_child_init(apr_pool_t *pchild, server_rec *s);

/* ------------------------------------------------------------------ */
/* vf_gauge.c - each process's part of the pools' gauges               */
/* ------------------------------------------------------------------ */

/* A gauge of a pool goes up by one, in the total all processes see and
 * in this process's part of it, and back down: VF_GAUGE_UP(pool, open).
 * The total moves first on the way up and last on the way down, so a
 * process that dies between the two steps leaves a part short of what it
 * added to the total, never over it: the parent then gives back one unit
 * too few (the total keeps it), rather than one that was never added
 * (an unsigned total would wrap). */
static APR_INLINE void vf_gauge_up(volatile apr_uint32_t *total,
                                   volatile apr_uint32_t *part)
{
    apr_atomic_inc32(total);
    apr_atomic_inc32(part);
}

static APR_INLINE void vf_gauge_down(volatile apr_uint32_t *total,
                                     volatile apr_uint32_t *part)
{
    apr_atomic_dec32(part);
    apr_atomic_dec32(total);
}

#define VF_GAUGE_UP(pool, gauge) \
    vf_gauge_up(&(pool)->shared->gauge, &(pool)->mine->gauge)
#define VF_GAUGE_DOWN(pool, gauge) \
    vf_gauge_down(&(pool)->shared->gauge, &(pool)->mine->gauge)

/* At startup (post_config): each pool's slot of the shared figures
 * (pool->shared), the same slot as the previous generation's where the
 * pool was configured before, and the table of every process's parts.
 * Returns an error message, or NULL. */
const char *vf_gauges_share(apr_pool_t *pconf, apr_pool_t *ptemp,
                            server_rec *s, apr_hash_t *pools);

/* In each child: takes a row of the table for this process and points
 * every pool's mine into it. */
void vf_gauges_child_init(apr_pool_t *pchild, apr_hash_t *pools);

void vf_gauges_register_hooks(apr_pool_t *p);

/* ------------------------------------------------------------------ */
/* vf_conn.c - a pool's connections in this process                    */
/* ------------------------------------------------------------------ */

typedef struct vf_conn vf_conn;
struct vf_waiter;

struct vf_conn {
    apr_pool_t *pool;               /* owns the socket */
    apr_socket_t *sock;
    apr_time_t idle_since;
    unsigned requests;              /* served on this connection */
    apr_size_t presend;             /* bytes of the next request's head the
                                     * thread that handed it over wrote */
    struct vf_waiter *promised;     /* the waiting request whose head was
                                     * written on it before this request's
                                     * answer was passed on: it gets c
                                     * next */
    apr_ssize_t promised_sent;      /* of that head; -1: c was dead */
};

/* In each child: the pools' connection caches and their reaper thread. */
void vf_conn_child_init(apr_pool_t *pchild, apr_array_header_t *pools);

/* A connection for one request: an idle one still open, one handed over
 * by a finishing request of this process, or a new one (only a new one
 * when fresh is set).  head (nhead entries, or NULL) is the request's
 * first bytes: a connection handed over comes with c->presend of them
 * already written.  On failure returns NULL with *status 503 and the
 * reason logged, and Retry-After set where the backend is busy rather
 * than down. */
vf_conn *vf_conn_acquire(vf_pool *pool, request_rec *r, int fresh,
                         const struct iovec *head, int nhead, int *status);

/* How many connections wait in the backend's listen queue for a worker
 * (more open across processes than max_conns); 0 when uncapped. */
int vf_conn_backend_queue(const vf_pool *pool);

/* For vf_exchange.c, before the answer of the request on c is passed on:
 * is a request of this process waiting that c will go to on release
 * (cheap, no lock)?  And, once the whole answer is known to be read, write
 * that request's head on c now (1: it did), so the backend finds it as
 * soon as it is done; the release then gives c to it, whatever the
 * outcome of the request on c. */
int vf_conn_next_wanted(vf_pool *pool, const vf_conn *c);
int vf_conn_write_next(vf_pool *pool, vf_conn *c);

/* To a request of this process waiting for one, else back to the idle set
 * when reusable and there is room; closed otherwise. */
void vf_conn_release(vf_pool *pool, vf_conn *c, int reusable);

/* ------------------------------------------------------------------ */
/* vf_admit.c - VhostFcgiMaxInFlight                                   */
/* ------------------------------------------------------------------ */

/* OK when the request may go to its pool's backend now (after waiting in
 * the queue if it had to); else 503 with Retry-After, logged.  Every OK is
 * paired with one vf_admit_leave. */
int vf_admit_enter(request_rec *r, vf_pool *pool);
void vf_admit_leave(request_rec *r, vf_pool *pool);

/* For balancer:// pools, served by mod_proxy's handler: the place is held
 * by the request (a request redirected from one holding a place of the
 * same pool takes that place) and given back by vf_admit_release once
 * the answer is in, or else when the request ends.  OK or 503 as
 * vf_admit_enter. */
int vf_admit_hold(request_rec *r, vf_pool *pool);
void vf_admit_release(request_rec *r);

/* ------------------------------------------------------------------ */
/* vf_members.c - BalancerMember lines mod_proxy would merge            */
/* ------------------------------------------------------------------ */

/* For a BalancerMember line, before mod_proxy reads it: an error when
 * mod_proxy would merge its member into an earlier one on another socket
 * (it compares only what follows "unix:PATH|"), else NULL. */
const char *vf_member_merged(cmd_parms *cmd, const char *args);

/* ------------------------------------------------------------------ */
/* vf_health.c - VhostFcgiHealthCheck                                  */
/* ------------------------------------------------------------------ */

/* One member's check results, in shared memory for the status page. */
typedef struct {
    char name[96];                  /* the member's URL */
    apr_time_t last_check;
    apr_time_t next_check;
    apr_uint32_t checks;
    apr_uint32_t failures;
    int fails_in_row;
    int passes_in_row;
    int out;                        /* taken out by the checks */
    char last_result[96];           /* "ok" or what was wrong */
} vf_health_shared;

/* A TCP member's address as its last successful check found it (of the
 * addresses its name resolves to, the one that answered): later checks
 * connect to it without asking the resolver, whose own timeouts are not
 * the check's.  Empty until then, and again after a failed check, whatever
 * failed (the name may point elsewhere now). */
typedef struct {
    char ip[64];
    int family;
} vf_health_addr;

typedef struct {
    const char *balancer;           /* "balancer://name" */
    const char *where;              /* file:line */
    const char *path;               /* ping path; NULL: FCGI_GET_VALUES */
    apr_interval_time_t interval;
    apr_interval_time_t timeout;
    int fails;
    int passes;
    int n_members;
    vf_health_shared *shared;       /* n_members entries */
    vf_health_addr *addrs;          /* n_members entries, the watchdog
                                     * child's own: read by the member's
                                     * check, written by the watchdog's
                                     * thread once the checks are joined */
    void *proxy_conf;               /* the proxy_server_conf defining the
                                     * balancer (check_config) */
} vf_health_conf;

const char *vf_health_directive(cmd_parms *cmd, int argc,
                                char *const argv[]);
/* check_config: every checked balancer exists (httpd -t sees this). */
int vf_health_check_config(apr_pool_t *ptemp, server_rec *s);
int vf_health_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                          server_rec *s);
const vf_health_shared *vf_health_find(server_rec *s, const char *balancer,
                                       const char *member);
/* In each child: members the checks had taken out before a graceful
 * restart stay out. */
void vf_health_child_init(apr_pool_t *pchild, server_rec *s);

/* Zeroed shared memory that the children inherit (vf_pool.c). */
void *vf_shared_alloc(apr_pool_t *pconf, apr_size_t size);

/* vf_status.c */
void vf_status_register_hooks(apr_pool_t *p);

/* ------------------------------------------------------------------ */
/* vf_spawner.c - VhostFcgiSpawner                                     */
/* ------------------------------------------------------------------ */

/* check_config: VhostFcgiSpawner has the pools file it needs. */
int vf_spawner_check_config(server_rec *s);
/* Starts, keeps or replaces the spawner once the configuration is final. */
int vf_spawner_post_config(apr_pool_t *pconf, server_rec *s);
void vf_spawner_child_init(server_rec *s);

/* ------------------------------------------------------------------ */
/* vf_check.c - the script check and pool routing                      */
/* ------------------------------------------------------------------ */

/* The handler name vf_check.c gives requests for vf_serve.c. */
#define VF_POOL_HANDLER "vhostfcgi-pool"

void vf_check_register_hooks(apr_pool_t *p);

/* Whether the script check let this request through to this handler
 * (VF_POOL_HANDLER, or a "proxy:..." one).  A tenant's .htaccess can set
 * another handler after the check ran: mod_rewrite applies [H=] and [T=]
 * at the end of the fixups, and a type can stand in for a handler. */
int vf_check_routed(request_rec *r, const char *handler);

/* For the fcgi scheme handler: OK when the check let this request through
 * to mod_proxy (a drop-in or a balancer pool), when httpd's configuration
 * proxied it before any .htaccess was read (ProxyPass, a server-context
 * RewriteRule [P]), or when the check is off where no pool applies;
 * otherwise 403, logged. */
int vf_check_proxy_route(request_rec *r);

/* ------------------------------------------------------------------ */
/* vf_serve.c - serving a request from a pool                          */
/* ------------------------------------------------------------------ */

void vf_serve_register_hooks(apr_pool_t *p);

/* ------------------------------------------------------------------ */
/* vf_body.c - the request body                                        */
/* ------------------------------------------------------------------ */

/*
 * The body is read before the backend is contacted, as far as it can be
 * without waiting, so that a pooled connection is used the moment it is
 * taken, and so that CONTENT_LENGTH is always right: PHP reads exactly
 * CONTENT_LENGTH bytes of FCGI_STDIN, so a chunked body without one would
 * reach the script empty.
 */
typedef struct {
    apr_bucket_brigade *bb;     /* what has been read and not yet sent */
    apr_off_t length;           /* CONTENT_LENGTH to announce, -1: none */
    int complete;               /* bb ends with EOS: nothing left to read */
} vf_body;

/* Prepares the request's body once; a second call for the same request
 * (mod_proxy_balancer trying another member) returns the same body.
 * Returns OK or an HTTP error status (413, 400, 500...). */
int vf_body_prepare(request_rec *r, vf_body **b);

/* ------------------------------------------------------------------ */
/* vf_env.c - FCGI_PARAMS                                              */
/* ------------------------------------------------------------------ */

/*
 * Fills r->subprocess_env with the CGI/1.1 variables for this request and
 * encodes them, followed by the empty record ending the stream, as
 * FCGI_PARAMS records into *out (allocated from r->pool).
 */
apr_status_t vf_env_encode(request_rec *r, const vf_dir_conf *dc,
                           const vf_body *body, unsigned request_id,
                           struct iovec *out);

/* For vf_check.c's fixup: notes whether a tenant's .htaccess took part in
 * r, for vf_env_encode to see also after mod_dir's fast redirect. */
void vf_env_note_tenant(request_rec *r);

/* ------------------------------------------------------------------ */
/* vf_response.c - CGI response headers onto request_rec               */
/* ------------------------------------------------------------------ */

/*
 * Applies a parsed header block to r as httpd's CGI support does (Status,
 * Content-Type, Location, Last-Modified, Set-Cookie kept apart, the rest
 * merged into err_headers_out).  Returns OK, or an HTTP status the response
 * must be replaced by: 304/412 from the request's conditions, or 502 for a
 * Status the application got wrong (*why says what).
 */
int vf_response_apply(request_rec *r, const struct fcgi_cgi_headers *h,
                      const char **why);

/* ------------------------------------------------------------------ */
/* vf_exchange.c - one request/response on a connected socket          */
/* ------------------------------------------------------------------ */

/* Largest CGI header block taken from a backend, in an answer or a health
 * check's (nginx's default is 4 or 8 KB). */
#define VF_HEADER_MAX       (32 * 1024)

typedef enum {
    VF_OUT_OK = 0,          /* answered; response passed to the client */
    VF_OUT_REFUSED,         /* the request never reached the backend */
    VF_OUT_STALE,           /* a reused connection was already closed:
                             * nothing of the request was consumed, so it
                             * may be retried on a fresh connection */
    VF_OUT_FAILED,          /* failed before any response went to the
                             * client: status says which error to send */
    VF_OUT_BROKEN,          /* failed after the response began: the client
                             * connection was aborted */
    VF_OUT_OVERLOADED,      /* the backend said FCGI_OVERLOADED */
    VF_OUT_CLIENT_GONE      /* the client went away */
} vf_outcome;

typedef struct {
    /* in */
    request_rec *r;
    unsigned id;                /* FastCGI request id, vf_exchange_next_id */
    apr_socket_t *sock;
    const char *backend;        /* the backend's name, for the error log */
    apr_interval_time_t timeout;
    int keep_conn;              /* ask for FCGI_KEEP_CONN */
    int reused;                 /* the connection served a request before */
    vf_body *body;
    struct iovec params;        /* from vf_env_encode */
    apr_size_t head_sent;       /* of head, already written by another
                                 * thread (vf_conn.c's hand-over) */
    /* A capped pool's connection (NULL otherwise): when the first read of
     * the answer, after the request was written whole, got all of it, a
     * request waiting for the connection is written on it
     * (vf_conn_write_next) before the answer is passed on. */
    vf_pool *pool;
    vf_conn *conn;
    /* BEGIN_REQUEST, PARAMS and, without a body, the empty STDIN record:
     * set by vf_exchange_head() */
    struct iovec head[3];
    int nhead;
    uint8_t begin[FCGI_BEGIN_REQUEST_LEN];
    uint8_t end_stdin[FCGI_HEADER_LEN];
    /* out */
    int status;                 /* HTTP status for VF_OUT_FAILED */
    int local;                  /* VF_OUT_FAILED: this server's failure or
                                 * the client's, not the backend's */
    int reusable;               /* the connection may serve another request */
    int body_consumed;          /* body read from the client beyond what
                                 * vf_body holds: the request cannot be
                                 * sent again */
    const char *redirect;       /* VF_OUT_OK: a local Location to serve */
    int die_status;             /* VF_OUT_OK: ProxyErrorOverride's status */
} vf_exchange;

/* A request id for the next exchange.  Ids rotate through 1..65535, so
 * two requests one after the other on a kept connection differ: records
 * a backend sent after its END_REQUEST cannot pass for the answer to the
 * next request. */
unsigned vf_exchange_next_id(void);

/* May r run twice without harm (RFC 9110 idempotent methods)? */
int vf_repeatable(const request_rec *r);

/* May r ride on a kept connection?  One that met the backend's close
 * could only be sent again: so only a request safe to run twice whose
 * body is all here (none to read from the client a second time).  Any
 * other gets a connection of its own, which a worker took from its
 * listen queue and serves before any recycling. */
int vf_may_ride_kept(const request_rec *r, const vf_body *body);

/* Fills x->head from x->params, x->keep_conn and x->body (once). */
void vf_exchange_head(vf_exchange *x);

vf_outcome vf_exchange_run(vf_exchange *x);

/* The handler's return value for an outcome; serves a local redirect or
 * ProxyErrorOverride's error page where the exchange asked for one.  Only
 * once the backend connection is given back: that second request may
 * need one of the same backend. */
int vf_exchange_finish(vf_exchange *x, vf_outcome outcome);

/* What vf_exchange_finish serves for an answer that asked for it: the
 * local redirect to location, else the error page of die_status. */
void vf_exchange_serve_local(request_rec *r, const char *location,
                             int die_status);

/* ------------------------------------------------------------------ */
/* vf_proxy.c                                                          */
/* ------------------------------------------------------------------ */

void vf_proxy_register_hooks(apr_pool_t *p);

#endif /* MOD_VHOSTFCGI_H */
