/*
 * load.c - the entry points: parse a file or a string, and read the
 * result.
 */
#include "internal.h"

static struct pools_conf *conf_new(const char *file)
{
    struct pools_conf *cfg = calloc(1, sizeof(*cfg));

    if (cfg == NULL)
        return NULL;
    cfg->file = pc_arena_strndup(&cfg->arena, file, strlen(file));
    if (cfg->file == NULL) {
        free(cfg);
        return NULL;
    }
    cfg->sections_tail = &cfg->sections;
    pc_global_defaults(&cfg->global);
    return cfg;
}

/* Parses text (len bytes, text[len] writable) owned by cfg's arena. */
static int parse_all(struct ctx *c, char *text, size_t len)
{
    if (pc_parse_text(c, text, len) < 0 || pc_link_templates(c) < 0 ||
        pc_resolve_pools(c) < 0 || pc_check_listen(c) < 0 ||
        pc_check_process_max(c) < 0)
        return -1;
    return 0;
}

void pc_ctx_init(struct ctx *c, char *errbuf, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->err = errbuf;
    c->errlen = errlen;
    if (errbuf != NULL && errlen > 0)
        errbuf[0] = '\0';
}

int pools_parse_string(const char *text, size_t len, const char *filename,
                       struct pools_conf **out, char *errbuf, size_t errlen)
{
    struct ctx c;
    char *copy = NULL;

    pc_ctx_init(&c, errbuf, errlen);
    *out = NULL;
    if (filename == NULL)
        filename = "(string)";
    c.cfg = conf_new(filename);
    if (c.cfg == NULL) {
        snprintf(errbuf, errlen, "%s: out of memory", filename);
        return -1;
    }
    if (len < SIZE_MAX)
        copy = pc_arena_strndup(&c.cfg->arena, text, len);
    if (copy == NULL) {
        pc_fail_nomem(&c, 0, "syntax");
        goto pc_fail;
    }
    if (parse_all(&c, copy, len) < 0)
        goto pc_fail;
    *out = c.cfg;
    return 0;

pc_fail:
    pools_free(c.cfg);
    return -1;
}

int pools_parse_file(const char *path, struct pools_conf **out,
                     char *errbuf, size_t errlen)
{
    struct ctx c;
    const char *why = NULL;
    char *text = NULL;
    size_t len = 0;
    struct stat st;
    ssize_t r;
    int fd = -1, saved;

    pc_ctx_init(&c, errbuf, errlen);
    *out = NULL;
    c.cfg = conf_new(path);
    if (c.cfg == NULL) {
        snprintf(errbuf, errlen, "%s: out of memory", path);
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 || fstat(fd, &st) < 0) {
        why = "cannot open";
        goto io_fail;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(errbuf, errlen, "%s: not a regular file", path);
        goto pc_fail;
    }
    if ((unsigned long long)st.st_size > MAX_FILE_SIZE) {
        snprintf(errbuf, errlen, "%s: too large (over %u bytes)", path,
                 MAX_FILE_SIZE);
        goto pc_fail;
    }
    text = pc_arena_alloc(&c.cfg->arena, (size_t)st.st_size + 1);
    if (text == NULL) {
        snprintf(errbuf, errlen, "%s: out of memory", path);
        goto pc_fail;
    }
    /* Reads until EOF or the size seen by fstat (a file growing while we
     * read is cut there). */
    while (len < (size_t)st.st_size) {
        r = read(fd, text + len, (size_t)st.st_size - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            why = "cannot read";
            goto io_fail;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    fd = -1;
    if (parse_all(&c, text, len) < 0)
        goto pc_fail;
    *out = c.cfg;
    return 0;

io_fail:
    saved = errno;
    snprintf(errbuf, errlen, "%s: %s: %s", path, why, strerror(saved));
pc_fail:
    if (fd >= 0)
        close(fd);
    pools_free(c.cfg);
    return -1;
}

void pools_free(struct pools_conf *cfg)
{
    if (cfg == NULL)
        return;
    pc_arena_free(&cfg->arena);
    free(cfg);
}

const struct pools_global *pools_global(const struct pools_conf *cfg)
{
    return &cfg->global;
}

size_t pools_count(const struct pools_conf *cfg)
{
    return cfg->npools;
}

const struct pools_pool *pools_at(const struct pools_conf *cfg, size_t i)
{
    return i < cfg->npools ? &cfg->pools[i] : NULL;
}

const struct pools_pool *pools_find(const struct pools_conf *cfg,
                                    const char *name)
{
    return pc_strtab_get(&cfg->pool_index, name);
}

size_t pools_warning_count(const struct pools_conf *cfg)
{
    return cfg->nwarnings;
}

const char *pools_warning(const struct pools_conf *cfg, size_t i)
{
    return i < cfg->nwarnings ? cfg->warnings[i] : NULL;
}

