/*
 * resolve.c - steps 2 and 3: templates linked to their parents, then
 * each pool resolved from its template chain and checked on its own.
 */
#include "internal.h"

static int template_cycle(struct ctx *c, struct section *start)
{
    char chain[512];
    size_t n = 0;
    const struct section *t = start;
    int w;

    do {
        w = snprintf(chain + n, sizeof(chain) - n, "%s -> ", t->name);
        if (w < 0 || (size_t)w >= sizeof(chain) - n - 8) {
            n += (size_t)snprintf(chain + n, sizeof(chain) - n, "... -> ");
            break;
        }
        n += (size_t)w;
        t = t->parent;
    } while (t != start);
    snprintf(chain + n, sizeof(chain) - n, "%s", start->name);
    return pc_fail(c, start->template_line, "template", "template cycle: %s",
                   chain);
}

int pc_link_templates(struct ctx *c)
{
    struct pools_conf *cfg = c->cfg;
    struct section *s, *t;
    unsigned walk = 0;

    for (s = cfg->sections; s != NULL; s = s->next) {
        const char *best = NULL;
        size_t best_d = SIZE_MAX;

        if (s->template_name == NULL)
            continue;
        s->parent = pc_strtab_get(&cfg->section_index, s->template_name);
        if (s->parent != NULL)
            continue;
        if (strcmp(s->template_name, "global") == 0)
            return pc_fail(c, s->template_line, "template", "[global] is not "
                           "a template");
        for (t = cfg->sections; t != NULL; t = t->next)
            if (t != s)
                pc_suggest(s->template_name, t->name, &best, &best_d);
        if (best != NULL)
            return pc_fail(c, s->template_line, "template", "unknown "
                           "template '%s' (did you mean '%s'?)",
                           s->template_name, best);
        return pc_fail(c, s->template_line, "template", "unknown template "
                       "'%s'", s->template_name);
    }
    /* Each walk marks the sections it passes; meeting its own mark again
     * is a cycle, meeting a linked section means the rest is fine. */
    for (s = cfg->sections; s != NULL; s = s->next) {
        walk++;
        for (t = s; t != NULL && !t->linked; t = t->parent) {
            if (t->walk == walk)
                return template_cycle(c, t);
            t->walk = walk;
        }
        for (t = s; t != NULL && !t->linked; t = t->parent)
            t->linked = 1;
    }
    for (s = cfg->sections; s != NULL; s = s->next) {
        unsigned depth = 0;

        for (t = s->parent; t != NULL; t = t->parent)
            if (++depth > MAX_TEMPLATE_DEPTH)
                return pc_fail(c, s->template_line, "template", "[%s] more "
                               "than %d levels of templates", s->name,
                               MAX_TEMPLATE_DEPTH);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Step 3: resolving pools                                             */
/* ------------------------------------------------------------------ */

/* value with every "$pool" replaced by name; NULL when out of memory. */
static const char *expand(struct arena *a, const char *value,
                          const char *name)
{
    size_t k = 0, nlen = strlen(name), vlen = strlen(value);
    const char *p, *hit;
    char *out, *w;

    for (p = value; (hit = strstr(p, "$pool")) != NULL; p = hit + 5)
        k++;
    out = pc_arena_alloc(a, vlen - 5 * k + nlen * k + 1);
    if (out == NULL)
        return NULL;
    for (p = value, w = out; (hit = strstr(p, "$pool")) != NULL;
         p = hit + 5) {
        memcpy(w, p, (size_t)(hit - p));
        w += hit - p;
        memcpy(w, name, nlen);
        w += nlen;
    }
    strcpy(w, p);
    return out;
}

static struct pools_origin origin_of(const struct pools_conf *cfg,
                                     const struct entry *e)
{
    struct pools_origin o;

    o.file = cfg->file;
    o.section = e->sec->name;
    o.line = e->line;
    return o;
}

static int apply_entry(struct ctx *c, struct pools_pool *p,
                       const struct entry *e)
{
    struct arena *a = &c->cfg->arena;
    const char *v = e->value;
    char why[WHY_LEN];

    if (e->has_pool && (v = expand(a, v, p->name)) == NULL)
        return pc_fail_nomem(c, e->line, e->key);
    if (e->kd->set(e->kd, v, (char *)p + e->kd->offset, a, why,
                   sizeof(why)) < 0)
        return pc_fail(c, e->line, e->key, "[pool %s] %s", p->name, why);
    p->origin[e->kd->field] = origin_of(c->cfg, e);
    return 0;
}

/* env[] over the chain, root template first: a name set again further
 * down replaces the value in place, a new name is appended.  Names are
 * found through c->env_slots, emptied for each pool and reused. */
static int merge_env(struct ctx *c, struct pools_pool *p,
                     struct section *const *chain, size_t depth,
                     size_t max)
{
    struct pools_env *env = pc_arena_alloc(&c->cfg->arena, max * sizeof(*env));
    struct strtab *slots = &c->env_slots;
    const struct entry *e;
    size_t i, j, n = 0;

    if (env == NULL)
        return pc_fail_nomem(c, chain[0]->line, chain[0]->name);
    if (slots->n > 0) {
        memset(slots->keys, 0, slots->cap * sizeof(*slots->keys));
        slots->n = 0;
    }
    for (i = depth; i-- > 0;)
        for (e = chain[i]->entries; e != NULL; e = e->next) {
            const char *v = e->value;

            if (e->envname == NULL)
                continue;
            if (e->has_pool &&
                (v = expand(&c->cfg->arena, v, p->name)) == NULL)
                return pc_fail_nomem(c, e->line, e->key);
            j = (size_t)(uintptr_t)pc_strtab_get(slots, e->envname);
            if (j == 0) {
                if (pc_strtab_put(&c->cfg->arena, slots, e->envname,
                                  (void *)(uintptr_t)(n + 1)) < 0)
                    return pc_fail_nomem(c, e->line, e->key);
                j = ++n;
            }
            env[j - 1].name = e->envname;
            env[j - 1].value = v;
            env[j - 1].origin = origin_of(c->cfg, e);
        }
    p->env = env;
    p->nenv = n;
    return 0;
}

/* The line to pc_blame for a value: where it was set, else the pool's
 * header (a default is the pool's own doing). */
unsigned pc_blame(const struct pools_pool *p, enum pools_field f)
{
    return p->origin[f].line != 0 ? p->origin[f].line : p->header.line;
}

static int default_listen(struct ctx *c, struct pools_pool *p)
{
    const char *dir = c->cfg->global.run_dir;
    size_t dlen = strlen(dir), nlen = strlen(p->name);
    char *path;

    while (dlen > 1 && dir[dlen - 1] == '/')
        dlen--;
    path = pc_arena_alloc(&c->cfg->arena, dlen + nlen + 7);
    if (path == NULL)
        return pc_fail_nomem(c, p->header.line, "listen");
    memcpy(path, dir, dlen);
    path[dlen] = '/';
    memcpy(path + dlen + (dir[dlen - 1] != '/'), p->name, nlen);
    strcpy(path + dlen + (dir[dlen - 1] != '/') + nlen, ".sock");
    if (strlen(path) > SUN_PATH_MAX)
        return pc_fail(c, p->header.line, "listen", "[pool %s] the default "
                       "socket path '%.*s%s' is too long (%zu bytes, at most "
                       "%zu): set listen, or a shorter run_dir", p->name,
                    QS(path), strlen(path), (size_t)SUN_PATH_MAX);
    p->listen.kind = POOLS_LISTEN_UNIX;
    p->listen.path = path;
    return 0;
}

/* pm = dynamic: spare bounds, defaulting as php-fpm's shipped www.conf
 * (min 1, max 3 but at least min, never over max_children, start halfway),
 * then checked as in fpm_conf.c: each bound against max_children first,
 * so a defaulted bound is never the one blamed. */
static int check_dynamic(struct ctx *c, struct pools_pool *p)
{
    unsigned mc = p->max_children;

    if (p->origin[POOLS_F_MIN_SPARE_SERVERS].line == 0)
        p->min_spare_servers = 1;
    if (p->origin[POOLS_F_MAX_SPARE_SERVERS].line == 0) {
        unsigned m = p->min_spare_servers > 3 ? p->min_spare_servers : 3;

        p->max_spare_servers = m < mc ? m : mc;
    }
    if (p->min_spare_servers > mc)
        return pc_fail(c, pc_blame(p, POOLS_F_MIN_SPARE_SERVERS),
                       "pm.min_spare_servers", "[pool %s] "
                       "pm.min_spare_servers(%u) must not be greater than "
                       "pm.max_children(%u)", p->name, p->min_spare_servers,
                       mc);
    if (p->max_spare_servers > mc)
        return pc_fail(c, pc_blame(p, POOLS_F_MAX_SPARE_SERVERS),
                       "pm.max_spare_servers", "[pool %s] "
                       "pm.max_spare_servers(%u) must not be greater than "
                       "pm.max_children(%u)", p->name, p->max_spare_servers,
                       mc);
    if (p->min_spare_servers > p->max_spare_servers)
        return pc_fail(c, pc_blame(p, POOLS_F_MIN_SPARE_SERVERS),
                       "pm.min_spare_servers", "[pool %s] "
                       "pm.min_spare_servers(%u) must not be greater than "
                       "pm.max_spare_servers(%u)", p->name,
                       p->min_spare_servers, p->max_spare_servers);
    if (p->origin[POOLS_F_START_SERVERS].line == 0)
        p->start_servers = p->min_spare_servers +
            (p->max_spare_servers - p->min_spare_servers) / 2;
    if (p->start_servers < p->min_spare_servers ||
        p->start_servers > p->max_spare_servers)
        return pc_fail(c, pc_blame(p, POOLS_F_START_SERVERS),
                       "pm.start_servers", "[pool %s] pm.start_servers(%u) "
                       "must be from "
                       "pm.min_spare_servers(%u) to pm.max_spare_servers(%u)",
                       p->name, p->start_servers, p->min_spare_servers,
                       p->max_spare_servers);
    return 0;
}

/* Settings for dynamic only, set in this very pool while pm is not
 * dynamic: say so once (a template's are silently unused). */
static int warn_unused_spares(struct ctx *c, const struct pools_pool *p)
{
    static const enum pools_field spares[] = {
        POOLS_F_START_SERVERS, POOLS_F_MIN_SPARE_SERVERS,
        POOLS_F_MAX_SPARE_SERVERS
    };
    size_t i;

    for (i = 0; i < sizeof(spares) / sizeof(spares[0]); i++) {
        const struct pools_origin *o = &p->origin[spares[i]];

        if (o->line != 0 && strcmp(o->section, p->name) == 0 &&
            pc_warn(c, o->line, pools_field_key(spares[i]), "[pool %s] "
                    "ignored: pm is %s, not dynamic", p->name,
                    pc_pm_words[p->pm]) < 0)
            return -1;
    }
    return 0;
}

static int finish_pool(struct ctx *c, struct pools_pool *p)
{
    unsigned pmax = c->cfg->global.process_max;

    if (p->command == NULL)
        return pc_fail(c, p->header.line, "command", "[pool %s] missing "
                       "required key: the FastCGI program to run (set it in "
                       "the pool or its template)", p->name);
    if (p->user == NULL)
        return pc_fail(c, p->header.line, "user", "[pool %s] missing required "
                       "key: the user its workers run as (set it in the pool "
                       "or its template)", p->name);
    if (p->origin[POOLS_F_LISTEN].line == 0 && default_listen(c, p) < 0)
        return -1;
    if (pmax != 0 && p->max_children > pmax)
        return pc_fail(c, pc_blame(p, POOLS_F_MAX_CHILDREN),
                       "pm.max_children", "[pool %s] pm.max_children(%u) must "
                       "not be greater than process.max(%u)", p->name,
                       p->max_children, pmax);
    if (p->pm == POOLS_PM_DYNAMIC)
        return check_dynamic(c, p);
    return warn_unused_spares(c, p);
}

static int resolve_pool(struct ctx *c, struct section *s,
                        struct pools_pool *p, struct section **chain)
{
    const struct entry *slot[POOLS_NFIELDS] = { NULL };
    const struct entry *e;
    size_t depth = 0, nenv = 0, i;
    struct section *t;

    pc_pool_defaults(p);
    p->name = s->name;
    p->header.file = c->cfg->file;
    p->header.section = s->name;
    p->header.line = s->line;
    for (t = s; t != NULL; t = t->parent)
        chain[depth++] = t;
    for (i = depth; i-- > 0;)
        for (e = chain[i]->entries; e != NULL; e = e->next) {
            if (e->kd != NULL)
                slot[e->kd->field] = e;
            else
                nenv++;
        }
    if (nenv > 0 && merge_env(c, p, chain, depth, nenv) < 0)
        return -1;
    for (i = 0; i < POOLS_NFIELDS; i++)
        if (slot[i] != NULL && apply_entry(c, p, slot[i]) < 0)
            return -1;
    return finish_pool(c, p);
}

int pc_resolve_pools(struct ctx *c)
{
    struct pools_conf *cfg = c->cfg;
    struct section **chain, *s;
    size_t n = 0;

    for (s = cfg->sections; s != NULL; s = s->next)
        n += !s->istemplate;
    chain = pc_arena_alloc(&cfg->arena, (cfg->nsections + 1) * sizeof(*chain));
    cfg->pools = pc_arena_calloc(&cfg->arena, n + 1, sizeof(*cfg->pools));
    if (chain == NULL || cfg->pools == NULL)
        return pc_fail(c, 0, "pools", "out of memory");
    for (s = cfg->sections; s != NULL; s = s->next) {
        struct pools_pool *p = &cfg->pools[cfg->npools];

        if (s->istemplate)
            continue;
        if (resolve_pool(c, s, p, chain) < 0)
            return -1;
        if (pc_strtab_put(&cfg->arena, &cfg->pool_index, p->name, p) < 0)
            return pc_fail_nomem(c, s->line, s->name);
        cfg->npools++;
    }
    return 0;
}

