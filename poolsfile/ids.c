/*
 * ids.c - user and group names resolved to ids (pools_resolve_ids):
 * only the spawner needs it, and it asks NSS.
 */
#include "internal.h"

/* The buffer of the get*_r calls, grown on ERANGE (POSIX: "insufficient
 * storage was supplied"). */
struct nss_buf {
    char *buf;
    size_t len;
};

/* Returns 0, or ENOMEM (also past 1 MiB: no entry is that big). */
static int nss_grow(struct nss_buf *b)
{
    size_t len = b->len ? 2 * b->len : 1024;
    char *p;

    if (len > 1024 * 1024)
        return ENOMEM;
    p = realloc(b->buf, len);
    if (p == NULL)
        return ENOMEM;
    b->buf = p;
    b->len = len;
    return 0;
}

/* Calls a get*_r function until the buffer is big enough; rc is its
 * result, or ENOMEM. */
#define NSS_CALL(b, rc, call) \
    do { \
        (rc) = (b)->len > 0 ? (call) : ERANGE; \
    } while ((rc) == ERANGE && ((rc) = nss_grow(b)) == 0)

/* POSIX: not found is 0 with a NULL result; glibc and others also use
 * these errors for it (getpwnam(3), NOTES). */
static int nss_not_found(int rc)
{
    return rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF ||
           rc == EPERM;
}

/* What a user or group name resolved to, cached by name: many pools share
 * listen.owner, and NSS lookups are not free. */
struct id_info {
    int found;
    int has_passwd;                 /* users: the passwd entry exists */
    const char *pw_name;            /* users: that entry's name */
    unsigned long id;
    unsigned long primary_gid;      /* users with a passwd entry */
};

struct id_ctx {
    struct ctx *c;
    struct nss_buf nss;
    struct strtab users;
    struct strtab groups;
};

/* Looks a name (or digits) up; returns NULL with the error reported. */
static const struct id_info *lookup_id(struct id_ctx *x, const char *name,
                                       int user, unsigned line,
                                       const char *key, const char *pool)
{
    struct strtab *t = user ? &x->users : &x->groups;
    struct id_info *info = pc_strtab_get(t, name);
    unsigned long long num = 0;
    int numeric = all_digits(name) && pc_parse_ull(name, &num) == 0;
    struct passwd pw, *pwr = NULL;
    struct group gr, *grr = NULL;
    int rc;

    if (info != NULL)
        goto found;
    info = pc_arena_calloc(&x->c->cfg->arena, 1, sizeof(*info));
    if (info == NULL || pc_strtab_put(&x->c->cfg->arena, t, name, info) < 0) {
        pc_fail_nomem(x->c, line, key);
        return NULL;
    }
    if (user && numeric)
        NSS_CALL(&x->nss, rc, getpwuid_r((uid_t)num, &pw, x->nss.buf,
                                         x->nss.len, &pwr));
    else if (user)
        NSS_CALL(&x->nss, rc, getpwnam_r(name, &pw, x->nss.buf, x->nss.len,
                                         &pwr));
    else if (numeric)
        NSS_CALL(&x->nss, rc, getgrgid_r((gid_t)num, &gr, x->nss.buf,
                                         x->nss.len, &grr));
    else
        NSS_CALL(&x->nss, rc, getgrnam_r(name, &gr, x->nss.buf, x->nss.len,
                                         &grr));
    if (pwr == NULL && grr == NULL && !nss_not_found(rc)) {
        pc_fail(x->c, line, key, "[pool %s] cannot look up %s '%s': %s", pool,
                user ? "user" : "group", name, strerror(rc));
        return NULL;
    }
    info->found = pwr != NULL || grr != NULL || numeric;
    info->has_passwd = pwr != NULL;
    info->id = pwr != NULL ? (unsigned long)pwr->pw_uid
             : grr != NULL ? (unsigned long)grr->gr_gid : (unsigned long)num;
    info->primary_gid = pwr != NULL ? (unsigned long)pwr->pw_gid : 0;
    if (pwr != NULL && (info->pw_name = pc_arena_strndup(&x->c->cfg->arena,
                            pwr->pw_name, strlen(pwr->pw_name))) == NULL) {
        pc_fail_nomem(x->c, line, key);
        return NULL;
    }
found:
    if (!info->found) {
        pc_fail(x->c, line, key, "[pool %s] unknown %s '%s'", pool,
                user ? "user" : "group", name);
        return NULL;
    }
    return info;
}

/* The name of a gid for a defaulted group (its digits if it has none);
 * NULL when out of memory. */
static const char *group_name(struct id_ctx *x, gid_t gid)
{
    struct group gr, *grr = NULL;
    char digits[24];
    const char *name = digits;
    int rc;

    NSS_CALL(&x->nss, rc, getgrgid_r(gid, &gr, x->nss.buf, x->nss.len,
                                     &grr));
    if (rc == 0 && grr != NULL)
        name = grr->gr_name;
    else
        snprintf(digits, sizeof(digits), "%lu", (unsigned long)gid);
    return pc_arena_strndup(&x->c->cfg->arena, name, strlen(name));
}

/* Is the pool's user a supplementary member of group root?  The worker
 * would keep gid 0 among its groups (initgroups).  A user without a
 * passwd entry has no supplementary groups. */
static int in_group_root(const struct pools_pool *p)
{
    gid_t groups[1024];
    int n = (int)(sizeof(groups) / sizeof(groups[0])), i;

    if (p->groups_user == NULL ||
        getgrouplist(p->groups_user, p->gid, groups, &n) < 0)
        return 0;           /* (more than 1024: proc.c checks at spawn) */
    for (i = 0; i < n; i++)
        if (groups[i] == 0)
            return 1;
    return 0;
}

static int resolve_pool_ids(struct id_ctx *x, struct pools_pool *p)
{
    struct ctx *c = x->c;
    const struct id_info *u, *g;
    unsigned uline = pc_blame(p, POOLS_F_USER);

    if ((u = lookup_id(x, p->user, 1, uline, "user", p->name)) == NULL)
        return -1;
    if (u->id == 0)
        return pc_fail(c, uline, "user", "[pool %s] user '%s' is uid 0: a "
                       "pool must not run as root", p->name, p->user);
    p->uid = (uid_t)u->id;
    p->groups_user = all_digits(p->user) ? u->pw_name : p->user;
    if (p->group != NULL) {
        g = lookup_id(x, p->group, 0, pc_blame(p, POOLS_F_GROUP), "group",
                      p->name);
        if (g == NULL)
            return -1;
        if (g->id == 0)
            return pc_fail(c, pc_blame(p, POOLS_F_GROUP), "group", "[pool %s] "
                           "group '%s' is gid 0: a pool must not run as group "
                           "root", p->name, p->group);
        p->gid = (gid_t)g->id;
    } else {
        if (!u->has_passwd)
            return pc_fail(c, uline, "user", "[pool %s] uid %s has no passwd "
                           "entry, so no primary group: set group", p->name,
                           p->user);
        if (u->primary_gid == 0)
            return pc_fail(c, p->header.line, "group", "[pool %s] the primary "
                           "group of user '%s' is gid 0 (root): set group",
                           p->name, p->user);
        p->gid = (gid_t)u->primary_gid;
        p->group = group_name(x, p->gid);
        if (p->group == NULL)
            return pc_fail_nomem(c, p->header.line, "group");
    }
    if (in_group_root(p))
        return pc_fail(c, uline, "user", "[pool %s] user '%s' is a member of "
                       "group root (gid 0): a pool must not run with it",
                       p->name, p->user);
    if (p->listen_owner != NULL) {
        u = lookup_id(x, p->listen_owner, 1, pc_blame(p, POOLS_F_LISTEN_OWNER),
                      "listen.owner", p->name);
        if (u == NULL)
            return -1;
        p->listen_uid = (uid_t)u->id;
    }
    if (p->listen_group != NULL) {
        g = lookup_id(x, p->listen_group, 0, pc_blame(p, POOLS_F_LISTEN_GROUP),
                      "listen.group", p->name);
        if (g == NULL)
            return -1;
        p->listen_gid = (gid_t)g->id;
    }
    p->ids_resolved = 1;
    return 0;
}

/* Workers under one uid can kill(2) and ptrace(2) each other (the same
 * real uid is all either check needs), so a site could take over another
 * site's PHP.  A warning, not an error: it is a layout some run on purpose. */
static int warn_shared_uids(struct id_ctx *x)
{
    struct pools_conf *cfg = x->c->cfg;
    struct strtab seen = { NULL, NULL, 0, 0 };
    char key[24], *copy;
    size_t i;

    for (i = 0; i < cfg->npools; i++) {
        const struct pools_pool *p = &cfg->pools[i], *first;

        snprintf(key, sizeof(key), "%lu", (unsigned long)p->uid);
        first = pc_strtab_get(&seen, key);
        if (first != NULL) {
            if (pc_warn(x->c, pc_blame(p, POOLS_F_USER), "user",
                        "pools %s and %s both run as uid %s (%s): their "
                        "workers can signal and trace each other",
                        first->name, p->name, key, p->user) < 0)
                return -1;
            continue;
        }
        copy = pc_arena_strndup(&cfg->arena, key, strlen(key));
        if (copy == NULL || pc_strtab_put(&cfg->arena, &seen, copy,
                                          (void *)p) < 0)
            return pc_fail_nomem(x->c, p->header.line, "user");
    }
    return 0;
}

int pools_resolve_ids(struct pools_conf *cfg, char *errbuf, size_t errlen)
{
    struct ctx c;
    struct id_ctx x;
    size_t i;
    int rc = 0;

    pc_ctx_init(&c, errbuf, errlen);
    c.cfg = cfg;
    if (cfg->ids_resolved)
        return 0;
    memset(&x, 0, sizeof(x));
    x.c = &c;
    for (i = 0; i < cfg->npools && rc == 0; i++)
        rc = resolve_pool_ids(&x, &cfg->pools[i]);
    if (rc == 0)
        rc = warn_shared_uids(&x);
    free(x.nss.buf);
    cfg->ids_resolved = rc == 0;
    return rc;
}

int pools_load(const char *path, struct pools_conf **out, char *errbuf,
               size_t errlen)
{
    if (pools_parse_file(path, out, errbuf, errlen) < 0)
        return -1;
    if (pools_resolve_ids(*out, errbuf, errlen) < 0) {
        pools_free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

