/*
 * vf_pool.c - pools: where a vhost's scripts run.
 *
 * A pool is made once per distinct VhostFcgiPool target and key:
 *   NAME              a pool of the pools file, shared by every vhost that
 *                     names it (its socket, user and group come from there)
 *   unix:/path.sock   keyed by vhost and URL
 *   fcgi://host:port  keyed by vhost and URL
 *   balancer://name   mod_proxy's balancer, reached through mod_proxy
 * Keying URL pools by vhost means two vhosts that both write
 * fcgi://localhost:9000 still never share a pooled connection: a
 * connection opened for one site is never handed to another.
 *
 * Names and addresses are resolved once at startup (post_config), with
 * errors naming the VhostFcgiPool line; nothing is looked up per request.
 */
#include "mod_vhostfcgi.h"
#include "mod_proxy.h"
#include "pools_conf.h"

#include "http_core.h"
#include "http_main.h"
#include "ap_mpm.h"
#include "apr_hash.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "apr_lib.h"

#define VF_REGISTRY_KEY     "vhostfcgi-pools"
#define VF_BALANCER_USES_KEY "vhostfcgi-balancer-uses"
#define VF_LASTING_KEYS_KEY "vhostfcgi-lasting-keys"
#define VF_DEFAULT_IDLE     8
#define VF_DEFAULT_IDLE_TTL apr_time_from_sec(3)

/* All pools of this configuration cycle, by key; lives in pconf, so a
 * restart starts afresh. */
static apr_hash_t *registry(apr_pool_t *pconf)
{
    apr_hash_t *h = NULL;

    apr_pool_userdata_get((void **)&h, VF_REGISTRY_KEY, pconf);
    if (!h) {
        h = apr_hash_make(pconf);
        apr_pool_userdata_setn(h, VF_REGISTRY_KEY, NULL, pconf);
    }
    return h;
}

/* Each VhostFcgiPool balancer://NAME line: mod_proxy looks the balancer
 * up in the request's server, so it must exist in that line's server. */
typedef struct {
    server_rec *s;
    const char *name;
    const char *where;
} vf_balancer_use;

static apr_array_header_t *balancer_uses(apr_pool_t *pconf)
{
    apr_array_header_t *uses = NULL;

    apr_pool_userdata_get((void **)&uses, VF_BALANCER_USES_KEY, pconf);
    if (!uses) {
        uses = apr_array_make(pconf, 4, sizeof(vf_balancer_use));
        apr_pool_userdata_setn(uses, VF_BALANCER_USES_KEY, NULL, pconf);
    }
    return uses;
}

static int valid_pool_name(const char *s)
{
    if (!*s) {
        return 0;
    }
    for (; *s; s++) {
        if (!apr_isalnum(*s) && *s != '_' && *s != '-' && *s != '.') {
            return 0;
        }
    }
    return 1;
}

/* Fills in the kind and address of a new pool; returns an error or NULL. */
static const char *parse_target(cmd_parms *cmd, vf_pool *pool,
                                const char *arg, const char **key)
{
    apr_pool_t *p = cmd->pool;

    if (!strncasecmp(arg, "unix:", 5)) {
        const char *bar = ap_strchr_c(arg, '|');

        pool->kind = VF_POOL_UNIX;
        pool->sockpath = arg + 5;
        if (bar) {
            /* SetHandler "proxy:unix:/x.sock|fcgi://localhost", copied:
             * the whole of it would be taken for the socket's path. */
            return apr_psprintf(p, "VhostFcgiPool %s: '|' is not part of "
                                "a socket path; write unix:%s (drop the "
                                "|fcgi://... part: that is SetHandler's "
                                "syntax)", arg,
                                apr_pstrmemdup(p, pool->sockpath,
                                               bar - pool->sockpath));
        }
        if (pool->sockpath[0] != '/') {
            return "VhostFcgiPool unix: needs an absolute socket path";
        }
        if (strlen(pool->sockpath) >= 108) {
            return "VhostFcgiPool unix: socket path too long (max 107)";
        }
        *key = apr_psprintf(p, "%pp %s", cmd->server, arg);
    }
    else if (!strncasecmp(arg, "fcgi://", 7)) {
        char *host, *scope;
        apr_port_t port = 0;
        size_t hplen = strcspn(arg + 7, "/");
        const char *hp = apr_pstrndup(p, arg + 7, hplen);
        const char *path = arg + 7 + hplen;

        if (apr_parse_addr_port(&host, &scope, &port, hp, p) != APR_SUCCESS
            || !host || !port) {
            return apr_psprintf(p, "VhostFcgiPool %s: expected "
                                "fcgi://host:port", arg);
        }
        /* The backend gets each script's own path (SCRIPT_FILENAME), so
         * a path here (ProxyPass style) would be silently ignored. */
        if (path[0] && strcmp(path, "/")) {
            return apr_psprintf(p, "VhostFcgiPool %s: a pool is "
                                "fcgi://host:port without a path (the "
                                "path %s would be ignored: the backend "
                                "gets each script's own path)", arg, path);
        }
        pool->kind = VF_POOL_TCP;
        pool->host = host;
        pool->port = port;
        *key = apr_psprintf(p, "%pp %s", cmd->server, arg);
    }
    else if (!strncasecmp(arg, "balancer://", 11)) {
        if (!valid_pool_name(arg + 11)) {
            return apr_psprintf(p, "VhostFcgiPool %s: expected "
                                "balancer://name", arg);
        }
        pool->kind = VF_POOL_BALANCER;
        pool->proxy_handler = apr_pstrcat(p, "proxy:", arg, NULL);
        /* A <VirtualHost> may define a balancer of its own under a name
         * another one uses too: mod_proxy keeps them apart, so must the
         * pools (their in-flight counts).  Vhosts that share the main
         * server's balancer share a count where VhostFcgiPool is given
         * once, in the main server. */
        *key = cmd->server->is_virtual
               ? apr_psprintf(p, "%pp %s", cmd->server, arg) : arg;
    }
    else if (valid_pool_name(arg)) {
        pool->kind = VF_POOL_NAMED;
        *key = apr_pstrcat(p, "pool ", arg, NULL);
    }
    else {
        return apr_psprintf(p, "VhostFcgiPool %s: expected a pool name, "
                            "unix:/path.sock, fcgi://host:port or "
                            "balancer://name", arg);
    }
    return NULL;
}

/* max=N idle=N idle_timeout=SECONDS after the target. */
static const char *parse_options(cmd_parms *cmd, vf_pool *pool, int nopts,
                                 const char *const *opts)
{
    int i;

    for (i = 0; i < nopts; i++) {
        const char *eq = strchr(opts[i], '=');
        long v;

        if (!eq || vf_parse_number(eq + 1, 0, 100000, &v)) {
            return apr_psprintf(cmd->pool, "VhostFcgiPool: bad option "
                                "'%s' (expected max=N, idle=N or "
                                "idle_timeout=SECONDS)%s", opts[i],
                                vf_comment_hint(opts[i]));
        }
        if (!strncmp(opts[i], "max=", 4)) {
            pool->max_conns = (int)v;
        }
        else if (!strncmp(opts[i], "idle=", 5)) {
            pool->max_idle = (int)v;
        }
        else if (!strncmp(opts[i], "idle_timeout=", 13)) {
            pool->idle_ttl = apr_time_from_sec(v);
        }
        else {
            return apr_psprintf(cmd->pool, "VhostFcgiPool: unknown option "
                                "'%s'", opts[i]);
        }
    }
    return NULL;
}

/* The pool's key as a graceful restart finds it again (vf_gauge.c): the
 * key's server pointer becomes where that server is defined.  Two pools
 * of one configuration never share one (a file included twice defines
 * two servers at one place): the second gets a number. */
static const char *lasting_key(cmd_parms *cmd, const char *key,
                               const char *target)
{
    apr_hash_t *taken = NULL;
    const char *lasting;
    server_rec *s = cmd->server;
    int n = 1;

    if (!strncmp(key, "pool ", 5) || key == target) {
        lasting = key;          /* a pools file's name; the main server's
                                 * balancer */
    }
    else if (s->is_virtual && s->defn_name) {
        lasting = apr_psprintf(cmd->pool, "%s:%u %s", s->defn_name,
                               s->defn_line_number, target);
    }
    else {
        lasting = apr_pstrcat(cmd->pool, "main ", target, NULL);
    }
    apr_pool_userdata_get((void **)&taken, VF_LASTING_KEYS_KEY, cmd->pool);
    if (!taken) {
        taken = apr_hash_make(cmd->pool);
        apr_pool_userdata_setn(taken, VF_LASTING_KEYS_KEY, NULL, cmd->pool);
    }
    while (apr_hash_get(taken, lasting, APR_HASH_KEY_STRING)) {
        lasting = apr_psprintf(cmd->pool, "%s #%d", lasting, ++n);
    }
    apr_hash_set(taken, lasting, APR_HASH_KEY_STRING, "");
    return lasting;
}

const char *vf_pool_define(cmd_parms *cmd, const char *target, int nopts,
                           const char *const *opts, vf_pool **out)
{
    apr_hash_t *pools = registry(cmd->pool);
    const char *key = NULL, *err;
    vf_pool probe, *pool;

    *out = NULL;
    if (!strcasecmp(target, "none")) {
        return nopts ? "VhostFcgiPool none takes no options" : NULL;
    }
    memset(&probe, 0, sizeof(probe));
    probe.max_conns = VF_UNSET;
    probe.max_idle = VF_UNSET;
    probe.idle_ttl = VF_DEFAULT_IDLE_TTL;
    if ((err = parse_target(cmd, &probe, target, &key))
        || (err = parse_options(cmd, &probe, nopts, opts))) {
        return err;
    }
    if (probe.kind == VF_POOL_BALANCER && nopts) {
        /* mod_proxy's workers carry a balancer's connections. */
        return apr_psprintf(cmd->pool, "VhostFcgiPool %s: '%s' does not "
                            "apply to a balancer (max=, idle= and "
                            "idle_timeout= are for the module's own "
                            "pools; set max=, ttl= ... on the "
                            "BalancerMember lines)", target, opts[0]);
    }
    if (probe.kind == VF_POOL_BALANCER) {
        vf_balancer_use *use = apr_array_push(balancer_uses(cmd->pool));

        use->s = cmd->server;
        use->name = target;
        use->where = apr_psprintf(cmd->pool, "%s:%d",
                                  cmd->directive->filename,
                                  cmd->directive->line_num);
    }
    if ((pool = apr_hash_get(pools, key, APR_HASH_KEY_STRING))) {
        /* The same pool named again: options belong to its first line. */
        if (nopts) {
            return apr_psprintf(cmd->pool, "VhostFcgiPool %s: options "
                                "may only be given where it is first "
                                "named (%s)", target, pool->where);
        }
        *out = pool;
        return NULL;
    }
    pool = apr_pmemdup(cmd->pool, &probe, sizeof(probe));
    pool->name = target;
    pool->where = apr_psprintf(cmd->pool, "%s:%d",
                               cmd->directive->filename,
                               cmd->directive->line_num);
    pool->lasting_key = lasting_key(cmd, key, target);
    apr_hash_set(pools, key, APR_HASH_KEY_STRING, pool);
    *out = pool;
    return NULL;
}

/* A named pool takes its socket, identity and size from the pools file. */
static const char *resolve_named(apr_pool_t *p, vf_pool *pool,
                                 const struct pools_conf *cfg,
                                 const char *file)
{
    const struct pools_pool *pc = pools_find(cfg, pool->name);

    if (!pc) {
        return apr_psprintf(p, "%s: VhostFcgiPool: unknown pool '%s' "
                            "(not in %s)", pool->where, pool->name, file);
    }
    if (pc->listen.kind == POOLS_LISTEN_UNIX) {
        pool->kind = VF_POOL_NAMED;
        pool->sockpath = apr_pstrdup(p, pc->listen.path);
    }
    else {
        pool->kind = VF_POOL_TCP;
        pool->host = apr_pstrdup(p, pc->listen.host);
        pool->port = (apr_port_t)pc->listen.port;
    }
    pool->has_ids = 1;
    pool->uid = pc->uid;
    pool->gid = pc->gid;
    pool->max_children = (int)pc->max_children;
    pool->on_demand = pc->pm == POOLS_PM_ONDEMAND;
    if (pc->chroot) {
        /* Lexically normalized ("//", ".", ".."), as httpd's own paths
         * are: symlinks are not resolved on either side, so a chroot
         * written as the DocumentRoot is written compares equal. */
        char *root = NULL;
        apr_size_t len;

        if (apr_filepath_merge(&root, NULL, pc->chroot,
                               APR_FILEPATH_NOTRELATIVE, p)) {
            root = apr_pstrdup(p, pc->chroot);
        }
        len = strlen(root);
        while (len > 0 && root[len - 1] == '/') {
            len--;
        }
        pool->chroot = len ? apr_pstrndup(p, root, len) : NULL;
    }
    return NULL;
}

static const char *read_pools_file(apr_pool_t *pconf, apr_pool_t *ptemp,
                                   server_rec *s, apr_hash_t *pools)
{
    vf_server_conf *sc = vf_server_conf_get(s);
    struct pools_conf *cfg = NULL;
    apr_hash_index_t *hi;
    const char *err = NULL;
    char msg[512];

    for (hi = apr_hash_first(ptemp, pools); hi; hi = apr_hash_next(hi)) {
        vf_pool *pool = apr_hash_this_val(hi);

        if (pool->kind != VF_POOL_NAMED) {
            continue;
        }
        if (!sc->pools_file) {
            return apr_psprintf(ptemp, "%s: VhostFcgiPool %s: a pool name "
                                "needs VhostFcgiPoolsFile", pool->where,
                                pool->name);
        }
        /* Where httpd starts the spawner, its limits are the spawner's:
         * a pool no worker could start stops httpd here already. */
        if (!cfg) {
            if ((sc->spawner_argv ? pools_load_runnable : pools_load)(
                    sc->pools_file, &cfg, msg, sizeof(msg))) {
                return apr_psprintf(ptemp, "%s: VhostFcgiPoolsFile: %s",
                                    sc->pools_file_where, msg);
            }
        }
        if ((err = resolve_named(pconf, pool, cfg, sc->pools_file))) {
            break;
        }
    }
    pools_free(cfg);
    return err;
}

/* Defaults that depend on what the pools file said. */
static const char *finish_pool(apr_pool_t *pconf, vf_pool *pool)
{
    if (pool->max_conns == VF_UNSET) {
        /* One connection per worker, never more (see vf_conn.c). */
        pool->max_conns = pool->max_children > 0 ? pool->max_children : 0;
    }
    if (pool->max_idle == VF_UNSET && pool->on_demand) {
        /* An ondemand pool runs as many workers as connections wait for
         * one.  A connection kept idle in one httpd process holds a worker
         * the spawner counts as busy, so a request arriving through
         * another process would wait for a new worker to start (tens of
         * ms for php-cgi) while one sits idle.  Its connections are handed
         * to waiting requests, never kept: a connect costs microseconds. */
        pool->max_idle = 0;
    }
    else if (pool->max_idle == VF_UNSET) {
        int threads = VF_DEFAULT_IDLE;

        /* Uncapped: as many as this process's threads may return at once,
         * so a busy pool does not open a connection per request. */
        ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
        pool->max_idle = pool->max_conns > 0 ? pool->max_conns
                         : threads > 0 ? threads : VF_DEFAULT_IDLE;
    }
    if (pool->max_conns == 0 && pool->kind != VF_POOL_BALANCER
        && !pool->warned) {
        pool->warned = 1;
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_NOTICE, 0, NULL,
                     APLOGNO(10672) "%s: VhostFcgiPool %s has no max=: its "
                     "connections are not capped.  For php-fpm or php-cgi "
                     "backends (one connection per worker) set max= to "
                     "pm.max_children, or kept connections can hold every "
                     "worker while new requests queue", pool->where,
                     pool->name);
    }
    if (pool->kind == VF_POOL_TCP && !pool->addr
        && apr_sockaddr_info_get(&pool->addr, pool->host, APR_UNSPEC,
                                 pool->port, 0, pconf) != APR_SUCCESS) {
        return apr_psprintf(pconf, "%s: VhostFcgiPool %s: cannot resolve "
                            "host '%s'", pool->where, pool->name,
                            pool->host);
    }
    return NULL;
}

void *vf_shared_alloc(apr_pool_t *pconf, apr_size_t size)
{
    apr_shm_t *shm;
    void *base;

    /* Anonymous: it lives with pconf and is inherited by every child. */
    if (apr_shm_create(&shm, size ? size : 1, NULL, pconf) != APR_SUCCESS) {
        return NULL;
    }
    base = apr_shm_baseaddr_get(shm);
    memset(base, 0, size);
    return base;
}

/* Each pool's slot of the shared figures, inherited by the children
 * (vf_gauge.c: kept across graceful restarts). */
static const char *share_pools(apr_pool_t *pconf, apr_pool_t *ptemp,
                               apr_hash_t *pools)
{
    if (!apr_hash_count(pools)) {
        return NULL;
    }
    return vf_gauges_share(pconf, ptemp, ap_server_conf, pools);
}

/* Every balancer:// pool names a balancer with members in the server of
 * its VhostFcgiPool line (its own <Proxy> or the main server's, which
 * virtual hosts inherit); else mod_proxy answers 500 at each request. */
void *vf_balancer_defined(server_rec *s, const char *name, apr_pool_t *p)
{
    proxy_server_conf *pc = ap_get_module_config(s->module_config,
                                                 &proxy_module);
    proxy_balancer *b = ap_proxy_get_balancer(p, pc, name, 0);

    return b && b->workers->nelts ? pc : NULL;
}

static const char *check_balancers(apr_pool_t *pconf, apr_pool_t *ptemp)
{
    apr_array_header_t *uses = balancer_uses(pconf);
    int i;

    for (i = 0; i < uses->nelts; i++) {
        const vf_balancer_use *use = &APR_ARRAY_IDX(uses, i, vf_balancer_use);

        if (!vf_balancer_defined(use->s, use->name, ptemp)) {
            return apr_psprintf(ptemp, "%s: VhostFcgiPool %s: no <Proxy %s> "
                                "with BalancerMember lines is defined for "
                                "this server (in the main server "
                                "configuration or this <VirtualHost>)",
                                use->where, use->name, use->name);
        }
    }
    return NULL;
}

/* Kept connections live in a process and are shared by its threads.  With
 * one thread per process (mpm_prefork, where mod_php sites come from),
 * requests spread over many processes and few find one kept: all is
 * served, but reuse is rare.  Said once per (re)start, not per pool. */
static void note_unthreaded_mpm(unsigned int n_pools)
{
    int threaded = 1;

    if (!n_pools || ap_state_query(AP_SQ_MAIN_STATE)
                    == AP_SQ_MS_CREATE_PRE_CONFIG
        || ap_mpm_query(AP_MPMQ_IS_THREADED, &threaded) != APR_SUCCESS
        || threaded != AP_MPMQ_NOT_SUPPORTED) {
        return;
    }
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, ap_server_conf, APLOGNO(10727)
                 "the %s MPM serves one request per process: kept FastCGI "
                 "connections are per process, so with many processes few "
                 "requests find one (every request is still served); "
                 "mpm_event shares each process's connections among its "
                 "threads", ap_show_mpm());
}

int vf_pools_resolve(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *pools = registry(pconf);
    apr_hash_index_t *hi;
    const char *err = check_balancers(pconf, ptemp);

    if (!err) {
        err = read_pools_file(pconf, ptemp, s, pools);
    }

    for (hi = apr_hash_first(ptemp, pools); hi && !err;
         hi = apr_hash_next(hi)) {
        err = finish_pool(pconf, apr_hash_this_val(hi));
    }
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, NULL,
                     APLOGNO(10670) "%s", err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

int vf_pools_share(apr_pool_t *pconf, apr_pool_t *ptemp)
{
    const char *err = share_pools(pconf, ptemp, registry(pconf));

    if (err) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, NULL,
                     APLOGNO(10671) "%s", err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    note_unthreaded_mpm(apr_hash_count(registry(pconf)));
    return OK;
}

apr_hash_t *vf_pools_all(server_rec *s)
{
    return registry(s->process->pconf);
}

void vf_pools_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_hash_t *pools = registry(s->process->pconf);
    apr_array_header_t *own = apr_array_make(pchild, 8, sizeof(vf_pool *));
    apr_hash_index_t *hi;

    vf_gauges_child_init(pchild, pools);
    for (hi = apr_hash_first(pchild, pools); hi; hi = apr_hash_next(hi)) {
        vf_pool *pool = apr_hash_this_val(hi);

        if (pool->kind != VF_POOL_BALANCER) {
            APR_ARRAY_PUSH(own, vf_pool *) = pool;
        }
    }
    vf_conn_child_init(pchild, own);
}
