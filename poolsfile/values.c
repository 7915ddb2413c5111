/*
 * values.c - the typed setters: each checks one value of the pools
 * file and stores it in its field, or says why it is wrong.
 */
#include "internal.h"

/* Decimal digits only, no sign; -1 on junk or overflow. */
int pc_parse_ull(const char *s, unsigned long long *out)
{
    unsigned long long v = 0;

    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (!is_digit((unsigned char)*s))
            return -1;
        if (v > (ULLONG_MAX - 9) / 10)
            return -1;
        v = v * 10 + (unsigned)(*s - '0');
    }
    *out = v;
    return 0;
}

static int range_why(const struct keydef *k, const char *v, char *why,
                     size_t whylen)
{
    snprintf(why, whylen, "bad value '%.*s%s': expected a whole number "
             "from %lld to %lld", QS(v), k->min, k->max);
    return -1;
}

int pc_set_uint(const struct keydef *k, const char *v, void *dst,
                struct arena *a, char *why, size_t whylen)
{
    unsigned long long n;

    (void)a;
    if (pc_parse_ull(v, &n) < 0 || n < (unsigned long long)k->min ||
        n > (unsigned long long)k->max)
        return range_why(k, v, why, whylen);
    *(unsigned *)dst = (unsigned)n;
    return 0;
}

int pc_set_path(const struct keydef *k, const char *v, void *dst,
                struct arena *a, char *why, size_t whylen)
{
    (void)k;
    (void)a;
    if (v[0] != '/' || strlen(v) >= PATH_MAX) {
        snprintf(why, whylen, "bad value '%.*s%s': expected an absolute "
                 "path", QS(v));
        return -1;
    }
    *(const char **)dst = v;
    return 0;
}

/* User and group names: what useradd accepts by default, minus the
 * leading '-'; or a numeric id. */
int pc_set_name(const struct keydef *k, const char *v, void *dst,
                struct arena *a, char *why, size_t whylen)
{
    const char *what = k->flags & K_USER ? "user" : "group";
    unsigned long long id = 1;
    size_t i, n = strlen(v);
    int ok = n > 0 && n <= NAME_MAX_LEN && v[0] != '-' && v[0] != '.';

    (void)a;
    for (i = 0; ok && i < n; i++) {
        int ch = (unsigned char)v[i];

        ok = is_alpha(ch) || is_digit(ch) || ch == '_' || ch == '.' ||
             ch == '-' || (ch == '$' && i == n - 1 && i > 0);
    }
    if (ok && all_digits(v))
        ok = pc_parse_ull(v, &id) == 0 && id <= MAX_ID;
    if (!ok) {
        snprintf(why, whylen, "bad value '%.*s%s': expected a %s name "
                 "(letters, digits, '_', '.', '-', at most %d) or a numeric "
                 "id", QS(v), what, NAME_MAX_LEN);
        return -1;
    }
    if ((k->flags & K_NOT_ROOT) &&
        (strcmp(v, "root") == 0 || (all_digits(v) && id == 0))) {
        snprintf(why, whylen, "'%s' is %s root: a pool must not run as "
                 "root", v, what);
        return -1;
    }
    *(const char **)dst = v;
    return 0;
}

/*
 * args: words split on blanks; a double-quoted part keeps blanks and
 * may hold \" and \\ (any other backslash is literal, as in sh's double
 * quotes); quoted and unquoted parts next to each other join into one word.
 * Two passes over the text: count (and check), then fill.
 */
static int split_args(const char *v, char **words, char *store,
                      size_t *nwords, size_t *nbytes)
{
    const char *p = v;
    size_t nw = 0, nb = 0;

    for (;;) {
        int inword = 0, quoted = 0;

        while (is_space((unsigned char)*p))
            p++;
        if (*p == '\0')
            break;
        if (words != NULL)
            words[nw] = store + nb;
        for (; *p != '\0'; p++) {
            if (!quoted && is_space((unsigned char)*p))
                break;
            inword = 1;
            if (*p == '"') {
                quoted = !quoted;
                continue;
            }
            if (quoted && *p == '\\' && (p[1] == '"' || p[1] == '\\'))
                p++;
            if (store != NULL)
                store[nb] = *p;
            nb++;
        }
        if (quoted)
            return -1;
        if (inword) {
            if (store != NULL)
                store[nb] = '\0';
            nb++;
            nw++;
        }
    }
    *nwords = nw;
    *nbytes = nb;
    return 0;
}

int pc_set_args(const struct keydef *k, const char *v, void *dst,
                struct arena *a, char *why, size_t whylen)
{
    struct pools_pool *p = (struct pools_pool *)((char *)dst - k->offset);
    size_t nw, nb;
    char **words, *store;

    if (split_args(v, NULL, NULL, &nw, &nb) < 0) {
        snprintf(why, whylen, "bad value '%.*s%s': a double quote is not "
                 "closed (words are split on blanks; \"...\" keeps blanks, "
                 "with \\\" and \\\\ inside)", QS(v));
        return -1;
    }
    if (a == NULL)
        return 0;
    words = pc_arena_alloc(a, (nw + 1) * sizeof(*words));
    store = pc_arena_alloc(a, nb);
    if (words == NULL || store == NULL) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    (void)split_args(v, words, store, &nw, &nb);
    words[nw] = NULL;
    p->args = (const char *const *)words;
    p->nargs = nw;
    return 0;
}

static int parse_port(const char *s, unsigned *port)
{
    unsigned long long n;

    if (pc_parse_ull(s, &n) < 0 || n < 1 || n > 65535)
        return -1;
    *port = (unsigned)n;
    return 0;
}

/* listen: /abs/path.sock | IPv4:PORT | [IPv6]:PORT | localhost:PORT |
 * PORT (127.0.0.1).  Hosts are IP literals: resolving a name would tie
 * startup to DNS, and a listen address is local anyway. */
int pc_set_listen(const struct keydef *k, const char *v, void *dst,
                  struct arena *a, char *why, size_t whylen)
{
    struct pools_listen l;
    char host[64];
    const char *colon, *h = v, *port;
    size_t hlen;

    (void)k;
    (void)a;
    memset(&l, 0, sizeof(l));
    if (v[0] == '/') {
        if (strlen(v) > SUN_PATH_MAX) {
            snprintf(why, whylen, "socket path '%.*s%s' is too long (%zu "
                     "bytes, at most %zu)", QS(v), strlen(v),
                     (size_t)SUN_PATH_MAX);
            return -1;
        }
        l.kind = POOLS_LISTEN_UNIX;
        l.path = v;
        *(struct pools_listen *)dst = l;
        return 0;
    }
    l.kind = POOLS_LISTEN_TCP;
    if (all_digits(v)) {
        h = "127.0.0.1";
        hlen = strlen(h);
        port = v;
        l.family = AF_INET;
    } else if (v[0] == '[') {
        const char *close = strchr(v, ']');

        if (close == NULL || close[1] != ':')
            goto bad;
        h = v + 1;
        hlen = (size_t)(close - h);
        port = close + 2;
        l.family = AF_INET6;
    } else {
        colon = strrchr(v, ':');
        if (colon == NULL)
            goto bad;
        if (memchr(v, ':', (size_t)(colon - v)) != NULL) {
            snprintf(why, whylen, "bad value '%.*s%s': an IPv6 address "
                     "goes in brackets, as in [::1]:9000", QS(v));
            return -1;
        }
        hlen = (size_t)(colon - v);
        port = colon + 1;
        l.family = AF_INET;
        if (hlen == 9 && strncmp(v, "localhost", 9) == 0) {
            h = "127.0.0.1";
            hlen = 9;
        }
    }
    if (hlen == 0 || hlen >= sizeof(host))
        goto bad;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (inet_pton(l.family, host, l.addr) != 1)
        goto bad;
    if (parse_port(port, &l.port) < 0) {
        snprintf(why, whylen, "bad value '%.*s%s': port '%.*s%s' is not "
                 "from 1 to 65535", QS(v), QS(port));
        return -1;
    }
    if (inet_ntop(l.family, l.addr, l.host, sizeof(l.host)) == NULL)
        goto bad;
    *(struct pools_listen *)dst = l;
    return 0;

bad:
    snprintf(why, whylen, "bad value '%.*s%s': expected an absolute socket "
             "path, IP:PORT, [IPv6]:PORT or PORT (an IP address, not a host "
             "name)", QS(v));
    return -1;
}

int pc_set_mode(const struct keydef *k, const char *v, void *dst,
                struct arena *a, char *why, size_t whylen)
{
    unsigned m = 0;
    size_t i, n = strlen(v);

    (void)a;
    for (i = 0; i < n && i < 5 && v[i] >= '0' && v[i] <= '7'; i++)
        m = m * 8 + (unsigned)(v[i] - '0');
    if (n == 0 || i != n || n > 4 || m > (unsigned)k->max) {
        snprintf(why, whylen, "bad value '%.*s%s': expected an octal mode "
                 "such as 0660 (at most 0777)", QS(v));
        return -1;
    }
    *(unsigned *)dst = m;
    return 0;
}

/* Matches v case-insensitively against a NULL-terminated list of words
 * (each one's index is its value); -1 if none. */
static int word_index(const char *v, const char *const *words)
{
    int i;

    for (i = 0; words[i] != NULL; i++)
        if (strcasecmp(v, words[i]) == 0)
            return i;
    return -1;
}

static const char *const bool_words[] = {
    "no", "yes", "off", "on", "false", "true", "0", "1", NULL
};

int pc_set_bool(const struct keydef *k, const char *v, void *dst,
                struct arena *a, char *why, size_t whylen)
{
    int i = word_index(v, bool_words);

    (void)k;
    (void)a;
    if (i < 0) {
        snprintf(why, whylen, "bad value '%.*s%s': expected yes or no "
                 "(also on/off, true/false, 1/0)", QS(v));
        return -1;
    }
    *(int *)dst = i % 2;
    return 0;
}

/* In enum pools_pm order. */
const char *const pc_pm_words[] = { "static", "dynamic", "ondemand",
                                        NULL };

int pc_set_pm(const struct keydef *k, const char *v, void *dst,
              struct arena *a, char *why, size_t whylen)
{
    int i = word_index(v, pc_pm_words);

    (void)k;
    (void)a;
    if (i < 0) {
        snprintf(why, whylen, "bad value '%.*s%s': expected static, "
                 "dynamic or ondemand", QS(v));
        return -1;
    }
    *(enum pools_pm *)dst = (enum pools_pm)i;
    return 0;
}

/* In enum pools_log_level order. */
const char *const pc_log_level_words[] = {
    "error", "warning", "notice", "info", "debug", NULL
};

int pc_set_log_level(const struct keydef *k, const char *v, void *dst,
                     struct arena *a, char *why, size_t whylen)
{
    int i = word_index(v, pc_log_level_words);

    (void)k;
    (void)a;
    if (i < 0) {
        snprintf(why, whylen, "bad value '%.*s%s': expected error, "
                 "warning, notice, info or debug", QS(v));
        return -1;
    }
    *(enum pools_log_level *)dst = (enum pools_log_level)i;
    return 0;
}

/* Durations: NUMBER[ms|s|m|h|d], a bare number being seconds (as in
 * php-fpm); stored in milliseconds. */
int pc_set_duration(const struct keydef *k, const char *v, void *dst,
                    struct arena *a, char *why, size_t whylen)
{
    static const struct { const char *suffix; long long ms; } units[] = {
        { "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
        { "h", 3600000 }, { "d", 86400000 }
    };
    char digits[24];
    size_t n = 0, i;
    unsigned long long num;

    (void)a;
    while (is_digit((unsigned char)v[n]))
        n++;
    if (n == 0 || n >= sizeof(digits))
        goto bad;
    memcpy(digits, v, n);
    digits[n] = '\0';
    if (pc_parse_ull(digits, &num) < 0)
        goto bad;
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(v + n, units[i].suffix) != 0)
            continue;
        if (num > (unsigned long long)(MAX_DURATION_MS / units[i].ms)) {
            snprintf(why, whylen, "bad value '%.*s%s': must be at most "
                     "365d", QS(v));
            return -1;
        }
        if ((long long)num * units[i].ms < k->min) {
            snprintf(why, whylen, "bad value '%.*s%s': must be greater "
                     "than 0", QS(v));
            return -1;
        }
        *(long long *)dst = (long long)num * units[i].ms;
        return 0;
    }
bad:
    snprintf(why, whylen, "bad value '%.*s%s': expected a duration such as "
             "30s, 500ms, 10m, 1h or 1d (a bare number is seconds)", QS(v));
    return -1;
}

int pc_set_rlimit(const struct keydef *k, const char *v, void *dst,
                  struct arena *a, char *why, size_t whylen)
{
    unsigned long long n;

    (void)a;
    if (strcasecmp(v, "unlimited") == 0) {
        *(long long *)dst = POOLS_RLIMIT_UNLIMITED;
        return 0;
    }
    if (pc_parse_ull(v, &n) < 0 || n < (unsigned long long)k->min ||
        n > (unsigned long long)k->max) {
        snprintf(why, whylen, "bad value '%.*s%s': expected a whole number "
                 "from %lld, or unlimited", QS(v), k->min);
        return -1;
    }
    *(long long *)dst = (long long)n;
    return 0;
}

