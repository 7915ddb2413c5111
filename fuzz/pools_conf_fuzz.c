/*
 * pools_conf_fuzz.c - libFuzzer target for the pools file parser
 * (poolsfile/).
 *
 *   make build/fuzz/pools_conf_fuzz   (clang, -fsanitize=fuzzer,address,
 *                                      undefined, with poolsfile's files)
 *   build/fuzz/pools_conf_fuzz -max_total_time=120 fuzz/pools_corpus
 *
 * The input is a pools file.  A refusal must be exactly one line
 * "fuzz.conf:LINE: KEY: message" and leave no configuration.  An accepted
 * file must hold its promises: every pool found by name, equal to itself,
 * dynamic spares in bounds, a socket path that fits sun_path; and its -t
 * dump must parse back into the same pools (pools_same), which checks the
 * dump's quoting against the reader's.  Users and groups are never looked
 * up (pools_resolve_ids is the NSS's business, not the fuzzer's).
 */
#define _POSIX_C_SOURCE 200809L

#include "pools_conf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#define CHECK(cond, ...) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, \
                    __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__); \
            fputc('\n', stderr); \
            abort(); \
        } \
    } while (0)

/* "fuzz.conf:" digits ": " something ": " something, one line. */
static int error_well_formed(const char *err)
{
    const char *p = err + strlen("fuzz.conf:");

    if (strncmp(err, "fuzz.conf:", 10) != 0 || *p < '0' || *p > '9')
        return 0;
    while (*p >= '0' && *p <= '9')
        p++;
    return strncmp(p, ": ", 2) == 0 && strstr(p + 2, ": ") != NULL &&
           strchr(err, '\n') == NULL;
}

static void check_pool(const struct pools_conf *cfg,
                       const struct pools_pool *p)
{
    struct sockaddr_storage ss;
    socklen_t len;
    size_t i;

    CHECK(pools_find(cfg, p->name) == p, "pool %s", p->name);
    CHECK(pools_same(p, p), "pool %s", p->name);
    CHECK(p->command != NULL && p->command[0] == '/', "pool %s", p->name);
    CHECK(p->user != NULL && strcmp(p->user, "root") != 0, "pool %s",
          p->name);
    CHECK(p->max_children >= 1, "pool %s", p->name);
    CHECK(p->args[p->nargs] == NULL, "pool %s", p->name);
    if (p->pm == POOLS_PM_DYNAMIC)
        CHECK(1 <= p->min_spare_servers &&
              p->min_spare_servers <= p->start_servers &&
              p->start_servers <= p->max_spare_servers &&
              p->max_spare_servers <= p->max_children, "pool %s", p->name);
    CHECK(pools_listen_sockaddr(&p->listen, &ss, &len) == 0, "pool %s",
          p->name);
    for (i = 0; i < p->nenv; i++)
        CHECK(p->env[i].name != NULL && p->env[i].value != NULL &&
              p->env[i].origin.line > 0, "pool %s env %zu", p->name, i);
    for (i = 0; i < POOLS_NFIELDS; i++)
        CHECK(p->origin[i].line == 0 || p->origin[i].section != NULL,
              "pool %s field %zu", p->name, i);
}

/* The dump reads back into the same pools.  A value holding "$pool" after
 * expansion (pool "pool", value "$$pool") cannot be written back, as the
 * format has no escape for it; such inputs are skipped. */
static void check_round_trip(const struct pools_conf *cfg)
{
    struct pools_conf *again = NULL;
    char *text = NULL, err[512];
    size_t len = 0, i;
    FILE *out = open_memstream(&text, &len);

    if (out == NULL)
        return;
    CHECK(pools_dump(out, cfg) == 0, "dump");
    fclose(out);
    if (strstr(text, "$pool") == NULL) {
        CHECK(pools_parse_string(text, len, "fuzz.conf", &again, err,
                                 sizeof(err)) == 0, "dump refused: %s\n%s",
              err, text);
        CHECK(pools_count(again) == pools_count(cfg), "count");
        for (i = 0; i < pools_count(cfg); i++)
            CHECK(pools_same(pools_at(cfg, i), pools_at(again, i)),
                  "pool %s changed through the dump:\n%s",
                  pools_at(cfg, i)->name, text);
        pools_free(again);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *devnull;
    struct pools_conf *cfg = (struct pools_conf *)&devnull;
    char err[512];
    size_t i;

    if (devnull == NULL && (devnull = fopen("/dev/null", "w")) == NULL)
        abort();
    if (pools_parse_string((const char *)data, size, "fuzz.conf", &cfg,
                           err, sizeof(err)) < 0) {
        CHECK(cfg == NULL, "cfg left behind");
        CHECK(error_well_formed(err), "bad error message '%s'", err);
        return 0;
    }
    CHECK(cfg != NULL, "no cfg");
    for (i = 0; i < pools_count(cfg); i++)
        check_pool(cfg, pools_at(cfg, i));
    for (i = 0; i < pools_warning_count(cfg); i++)
        CHECK(strchr(pools_warning(cfg, i), '\n') == NULL, "warning");
    pools_dump(devnull, cfg);
    check_round_trip(cfg);
    pools_free(cfg);
    return 0;
}
