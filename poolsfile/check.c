/*
 * check.c - step 4: the checks across pools (listen collisions,
 * process.max).
 */
#include "internal.h"

/* Unix paths compare with runs of '/' as one (/run//x.sock is
 * /run/x.sock): writes the canonical form. */
static void canonical_path(char *out, const char *path)
{
    for (; *path != '\0'; path++)
        if (!(*path == '/' && path[1] == '/'))
            *out++ = *path;
    *out = '\0';
}

static int addr_is_any(const struct pools_listen *l)
{
    static const unsigned char zero[16];

    return memcmp(l->addr, zero, l->family == AF_INET6 ? 16 : 4) == 0;
}

/*
 * Two pools on one socket: the same Unix path, or the same TCP port with
 * addresses that overlap in bind(): equal, or a wildcard of the same
 * family on either side, or [::] against any IPv4 address (a [::] socket
 * is dual-stack with IPV6_V6ONLY off, the Linux default and what php-fpm
 * sets).  Either way the second bind() fails with EADDRINUSE.
 */
struct port_use {
    struct port_use *next;          /* other pools on the same port */
    const struct pools_pool *pool;
};

static int tcp_overlap(const struct pools_listen *a,
                       const struct pools_listen *b)
{
    if (a->family == b->family)
        return addr_is_any(a) || addr_is_any(b) ||
               memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
    return addr_is_any(a->family == AF_INET6 ? a : b);
}

static int listen_collision(struct ctx *c, const struct pools_pool *a,
                            const struct pools_pool *b)
{
    char where[PATH_MAX + 64];

    if (b->listen.kind == POOLS_LISTEN_UNIX)
        snprintf(where, sizeof(where), "%s", b->listen.path);
    else if (a->listen.family == b->listen.family &&
             strcmp(a->listen.host, b->listen.host) == 0)
        snprintf(where, sizeof(where), b->listen.family == AF_INET6 ?
                 "[%s]:%u" : "%s:%u", b->listen.host, b->listen.port);
    else
        snprintf(where, sizeof(where), "port %u (%s%s%s and %s%s%s "
                 "overlap)", b->listen.port,
                 a->listen.family == AF_INET6 ? "[" : "", a->listen.host,
                 a->listen.family == AF_INET6 ? "]" : "",
                 b->listen.family == AF_INET6 ? "[" : "", b->listen.host,
                 b->listen.family == AF_INET6 ? "]" : "");
    return pc_fail(c, pc_blame(b, POOLS_F_LISTEN), "listen", "pools %s and %s "
                   "both listen on %s", a->name, b->name, where);
}

/* One pass in file order, so the later pool of a pair is blamed. */
int pc_check_listen(struct ctx *c)
{
    struct pools_conf *cfg = c->cfg;
    struct strtab paths = { NULL, NULL, 0, 0 }, ports = paths;
    char key[SUN_PATH_MAX + 8], *copy;
    size_t i;

    for (i = 0; i < cfg->npools; i++) {
        const struct pools_pool *p = &cfg->pools[i];
        struct port_use *head, *u;

        if (p->listen.kind == POOLS_LISTEN_UNIX) {
            canonical_path(key, p->listen.path);
            if ((head = pc_strtab_get(&paths, key)) != NULL)
                return listen_collision(c, head->pool, p);
        } else {
            snprintf(key, sizeof(key), "%u", p->listen.port);
            head = pc_strtab_get(&ports, key);
            for (u = head; u != NULL; u = u->next)
                if (tcp_overlap(&u->pool->listen, &p->listen))
                    return listen_collision(c, u->pool, p);
        }
        u = pc_arena_calloc(&cfg->arena, 1, sizeof(*u));
        if (u == NULL)
            return pc_fail_nomem(c, p->header.line, "listen");
        u->pool = p;
        if (head != NULL) {         /* a port already in use: chain */
            u->next = head->next;
            head->next = u;
            continue;
        }
        copy = pc_arena_strndup(&cfg->arena, key, strlen(key));
        if (copy == NULL ||
            pc_strtab_put(&cfg->arena, p->listen.kind == POOLS_LISTEN_UNIX ?
                          &paths : &ports, copy, u) < 0)
            return pc_fail_nomem(c, p->header.line, "listen");
    }
    return 0;
}

/* Static pools start all their workers at once, so together they must
 * fit in process.max (php-fpm checks each pool against it too). */
int pc_check_process_max(struct ctx *c)
{
    const struct pools_conf *cfg = c->cfg;
    unsigned long long sum = 0;
    size_t i;

    if (cfg->global.process_max == 0)
        return 0;
    for (i = 0; i < cfg->npools; i++)
        if (cfg->pools[i].pm == POOLS_PM_STATIC)
            sum += cfg->pools[i].max_children;
    if (sum > cfg->global.process_max)
        return pc_fail(c, cfg->global.origin[POOLS_G_PROCESS_MAX].line,
                       "process.max", "the static pools need %llu workers "
                       "together (their pm.max_children), more than "
                       "process.max(%u)", sum, cfg->global.process_max);
    return 0;
}

