/*
 * read.c - step 1: the text cut into sections and "key = value" entries,
 * each value checked at its own line.
 */
#include "internal.h"

/* Section (pool, template) names: [A-Za-z0-9_.-], at most 64, and not
 * starting with '.' or '-': the name ends up in paths ($pool, the default
 * socket) and in argv, where "..", ".x" or "-x" would be a trap. */
static int valid_section_name(const char *s)
{
    size_t n = 0;

    if (!is_alpha((unsigned char)s[0]) && !is_digit((unsigned char)s[0]) &&
        s[0] != '_')
        return 0;
    for (; s[n] != '\0'; n++) {
        int ch = (unsigned char)s[n];

        if (!is_alpha(ch) && !is_digit(ch) && ch != '_' && ch != '.' &&
            ch != '-')
            return 0;
    }
    return n <= POOLS_NAME_MAX;
}

/* env[NAME]: a POSIX shell variable name. */
static int valid_env_name(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || is_digit((unsigned char)s[0]))
        return 0;
    for (i = 0; i < n; i++) {
        int ch = (unsigned char)s[i];

        if (!is_alpha(ch) && !is_digit(ch) && ch != '_')
            return 0;
    }
    return 1;
}

static char *skip_space(char *s)
{
    while (is_space((unsigned char)*s))
        s++;
    return s;
}

static void trim_end(char *s)
{
    size_t n = strlen(s);

    while (n > 0 && is_space((unsigned char)s[n - 1]))
        s[--n] = '\0';
}

/* The first word of a line, for messages about lines that have no key. */
static const char *first_word(struct ctx *c, const char *s)
{
    size_t n = 0;
    const char *w;

    while (s[n] != '\0' && !is_space((unsigned char)s[n]) && n < QUOTE_MAX)
        n++;
    w = pc_arena_strndup(&c->cfg->arena, s, n);
    return w != NULL ? w : "?";
}

static int parse_section(struct ctx *c, char *s, unsigned line)
{
    struct pools_conf *cfg = c->cfg;
    struct section *sec, *dup;
    char *close = strchr(s, ']'), *name, *rest;

    if (close == NULL)
        return pc_fail(c, line, first_word(c, s), "section header without "
                       "']' (expected [NAME])");
    rest = skip_space(close + 1);
    if (*rest != '\0' && *rest != ';' && *rest != '#')
        return pc_fail(c, line, first_word(c, s), "text after the section "
                       "header (expected [NAME], then nothing or a comment)");
    *close = '\0';
    name = skip_space(s + 1);
    trim_end(name);
    if (strcmp(name, "global") == 0) {
        if (cfg->global_line != 0)
            return pc_fail(c, line, name, "duplicate section (first at line "
                           "%u)", cfg->global_line);
        cfg->global_line = line;
        c->in_global = 1;
        c->cur = NULL;
        return 0;
    }
    if (!valid_section_name(name))
        return pc_fail(c, line, name[0] ? name : "[]", "bad section name "
                       "(letters, digits, '_', '.', '-', at most %d, starting "
                       "with a letter, digit or '_')", POOLS_NAME_MAX);
    if (strcasecmp(name, "global") == 0)
        return pc_fail(c, line, name, "section name reserved (did you mean "
                       "[global]?)");
    dup = pc_strtab_get(&cfg->section_index, name);
    if (dup != NULL)
        return pc_fail(c, line, name, "duplicate section (first at line %u)",
                       dup->line);
    sec = pc_arena_calloc(&cfg->arena, 1, sizeof(*sec));
    if (sec == NULL ||
        pc_strtab_put(&cfg->arena, &cfg->section_index, name, sec) < 0)
        return pc_fail_nomem(c, line, name);
    sec->name = name;
    sec->line = line;
    sec->tail = &sec->entries;
    *cfg->sections_tail = sec;
    cfg->sections_tail = &sec->next;
    cfg->nsections++;
    c->cur = sec;
    c->in_global = 0;
    return 0;
}

/* Value after '=': a double-quoted string (\" and \\ inside) or bare text
 * up to a ';' that starts the value or follows a blank, trimmed.  Unquoted
 * in place; *out points into s. */
static int parse_value(struct ctx *c, char *s, unsigned line, const char *key,
                       char **out)
{
    char *r, *w;

    s = skip_space(s);
    if (*s != '"') {
        for (r = s; *r != '\0'; r++)
            if (*r == ';' && (r == s || is_space((unsigned char)r[-1]))) {
                *r = '\0';
                break;
            }
        trim_end(s);
        *out = s;
        return 0;
    }
    for (r = s + 1, w = s; *r != '"'; r++, w++) {
        if (*r == '\0')
            return pc_fail(c, line, key, "a double quote is not closed");
        if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
            r++;
        *w = *r;
    }
    r = skip_space(r + 1);
    if (*r != '\0' && *r != ';')
        return pc_fail(c, line, key, "text after the closing quote (only a "
                       "'; comment' may follow)");
    *w = '\0';
    *out = s;
    return 0;
}

/* The earliest line in sec that set key (for "first set at line N"). */
static unsigned first_line_of(const struct section *sec, const char *key)
{
    const struct entry *e;

    if (strcmp(key, "istemplate") == 0)
        return sec->istemplate_line;
    if (strcmp(key, "template") == 0)
        return sec->template_line;
    for (e = sec->entries; e != NULL; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e->line;
    return 0;
}

static int unknown_key(struct ctx *c, unsigned line, const char *key,
                       int global)
{
    const struct keydef *table = global ? pc_global_keys : pc_pool_keys;
    size_t n = global ? POOLS_G_NFIELDS : POOLS_NFIELDS, i;
    const char *best = NULL;
    size_t best_d = SIZE_MAX;

    if (global && (FIND_POOL_KEY(key) || strncmp(key, "env[", 4) == 0 ||
                   strcmp(key, "istemplate") == 0 ||
                   strcmp(key, "template") == 0))
        return pc_fail(c, line, key, "a pool key, not valid in [global]");
    if (!global && FIND_GLOBAL_KEY(key))
        return pc_fail(c, line, key, "a [global] key, not valid in a pool "
                       "section");
    if (strcmp(key, "include") == 0)
        return pc_fail(c, line, key, "not supported: every section goes in "
                       "this one file");
    if (strncmp(key, "php_value[", 10) == 0 ||
        strncmp(key, "php_admin_value[", 16) == 0 ||
        strncmp(key, "php_flag[", 9) == 0 ||
        strncmp(key, "php_admin_flag[", 15) == 0)
        return pc_fail(c, line, key, "unknown key (PHP settings go in args, "
                       "as -d NAME=VALUE)");
    for (i = 0; i < n; i++)
        pc_suggest(key, table[i].key, &best, &best_d);
    if (!global) {
        pc_suggest(key, "istemplate", &best, &best_d);
        pc_suggest(key, "template", &best, &best_d);
    }
    if (best != NULL)
        return pc_fail(c, line, key, "unknown key (did you mean '%s'?)", best);
    return pc_fail(c, line, key, "unknown key");
}

static int add_global(struct ctx *c, const char *key, const char *value,
                      unsigned line)
{
    struct pools_global *g = &c->cfg->global;
    const struct keydef *kd = FIND_GLOBAL_KEY(key);
    char why[WHY_LEN];

    if (kd == NULL)
        return unknown_key(c, line, key, 1);
    if (c->cfg->global_seen & (1ULL << kd->field))
        return pc_fail(c, line, key, "duplicate key (first set at line %u)",
                       g->origin[kd->field].line);
    c->cfg->global_seen |= 1ULL << kd->field;
    if (strstr(value, "$pool") != NULL)
        return pc_fail(c, line, key, "$pool has no meaning in [global]");
    if (kd->set(kd, value, (char *)g + kd->offset, &c->cfg->arena, why,
                sizeof(why)) < 0)
        return pc_fail(c, line, key, "%s", why);
    g->origin[kd->field].file = c->cfg->file;
    g->origin[kd->field].section = "global";
    g->origin[kd->field].line = line;
    return 0;
}

static int add_section_key(struct ctx *c, struct section *sec,
                           const char *key, const char *value, unsigned line)
{
    int bit = strcmp(key, "template") == 0 ? SEEN_TEMPLATE : SEEN_ISTEMPLATE;
    char why[WHY_LEN];
    int is;

    if (sec->seen & (1ULL << bit))
        return pc_fail(c, line, key, "duplicate key (first set at line %u)",
                       first_line_of(sec, key));
    sec->seen |= 1ULL << bit;
    if (bit == SEEN_ISTEMPLATE) {
        if (pc_set_bool(NULL, value, &is, NULL, why, sizeof(why)) < 0)
            return pc_fail(c, line, key, "%s", why);
        sec->istemplate = is;
        sec->istemplate_line = line;
        return 0;
    }
    if (!valid_section_name(value) && strcmp(value, "global") != 0)
        return pc_fail(c, line, key, "bad value '%.*s%s': expected the name "
                       "of another section", QS(value));
    sec->template_name = value;
    sec->template_line = line;
    return 0;
}

static int add_entry(struct ctx *c, char *key, char *value, unsigned line)
{
    struct section *sec = c->cur;
    const struct keydef *kd = NULL;
    const char *envname = NULL;
    char *envkey = NULL;
    struct pools_pool scratch;
    struct entry *e;
    char why[WHY_LEN];
    size_t klen = strlen(key);

    if (c->in_global)
        return add_global(c, key, value, line);
    if (sec == NULL)
        return pc_fail(c, line, key, "key outside any section (start with "
                       "[global] or [POOLNAME])");
    if (strcmp(key, "istemplate") == 0 || strcmp(key, "template") == 0)
        return add_section_key(c, sec, key, value, line);
    if (strncmp(key, "env[", 4) == 0) {
        if (klen < 6 || key[klen - 1] != ']' ||
            !valid_env_name(key + 4, klen - 5))
            return pc_fail(c, line, key, "bad environment variable name "
                           "(env[NAME], NAME of letters, digits and '_', not "
                           "starting with a digit)");
        /* Hashed, as a section may hold any number of env[] lines: the
         * key "SECTION/NAME" cannot collide ('/' is in neither). */
        size_t slen = strlen(sec->name);

        envkey = pc_arena_alloc(&c->cfg->arena, slen + klen - 3);
        if (envkey == NULL)
            return pc_fail_nomem(c, line, key);
        memcpy(envkey, sec->name, slen);
        envkey[slen] = '/';
        memcpy(envkey + slen + 1, key + 4, klen - 5);
        envkey[slen + klen - 4] = '\0';
        envname = envkey + slen + 1;
        if ((e = pc_strtab_get(&c->env_keys, envkey)) != NULL)
            return pc_fail(c, line, key, "duplicate key (first set at line "
                           "%u)", e->line);
    } else {
        kd = FIND_POOL_KEY(key);
        if (kd == NULL)
            return unknown_key(c, line, key, 0);
        if (sec->seen & (1ULL << kd->field))
            return pc_fail(c, line, key, "duplicate key (first set at line "
                           "%u)", first_line_of(sec, key));
        sec->seen |= 1ULL << kd->field;
    }
    e = pc_arena_calloc(&c->cfg->arena, 1, sizeof(*e));
    if (e == NULL)
        return pc_fail_nomem(c, line, key);
    e->kd = kd;
    e->sec = sec;
    e->key = key;
    e->envname = envname;
    e->value = value;
    e->line = line;
    e->has_pool = strstr(value, "$pool") != NULL;
    *sec->tail = e;
    sec->tail = &e->next;
    if (envkey != NULL && pc_strtab_put(&c->cfg->arena, &c->env_keys, envkey,
                                        e) < 0)
        return pc_fail_nomem(c, line, key);
    if (kd == NULL || e->has_pool)
        return 0;           /* env values are free text; $pool: per pool */
    if (kd->set(kd, value, (char *)&scratch + kd->offset, NULL, why,
                sizeof(why)) < 0)
        return pc_fail(c, line, key, "%s", why);
    if (kd->field == POOLS_F_LISTEN_MODE && (scratch.listen_mode & 02))
        return pc_warn(c, line, key, "%04o is world-writable: any local user "
                       "can talk to the pool directly", scratch.listen_mode);
    return 0;
}

static int parse_keyval(struct ctx *c, char *s, unsigned line)
{
    char *eq = strchr(s, '='), *key, *value = NULL, *p;

    if (eq == NULL)
        return pc_fail(c, line, first_word(c, s), "expected 'key = value' or "
                       "'[section]'");
    *eq = '\0';
    key = s;
    trim_end(key);
    if (*key == '\0')
        return pc_fail(c, line, "=", "missing key before '='");
    for (p = key; *p != '\0'; p++)
        if (is_space((unsigned char)*p))
            return pc_fail(c, line, key, "a key has no blanks (expected "
                           "'key = value')");
    if (parse_value(c, eq + 1, line, key, &value) < 0)
        return -1;
    return add_entry(c, key, value, line);
}

/* Only tab among the control characters; a CR ends a line (CRLF files). */
static int check_line_chars(struct ctx *c, const char *s, size_t n,
                            unsigned line)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned ch = (unsigned char)s[i];

        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return pc_fail(c, line, "syntax", "control character 0x%02x (only "
                           "tab is allowed)", ch);
    }
    return 0;
}

int pc_parse_text(struct ctx *c, char *text, size_t len)
{
    char *p = text, *end = text + len, *eol, *s;
    unsigned line = 0;
    size_t n;

    if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
        p += 3;                     /* UTF-8 byte order mark */
    for (; p < end; p = eol + 1) {
        if (line == UINT_MAX)
            return pc_fail(c, line, "syntax", "too many lines");
        line++;
        eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;              /* text[len] is writable */
        n = (size_t)(eol - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (check_line_chars(c, p, n, line) < 0)
            return -1;
        p[n] = '\0';
        s = skip_space(p);
        if (*s == '\0' || *s == ';' || *s == '#')
            continue;
        if ((*s == '[' ? parse_section(c, s, line)
                       : parse_keyval(c, s, line)) < 0)
            return -1;
    }
    return 0;
}

