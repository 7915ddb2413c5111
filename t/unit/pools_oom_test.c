/*
 * pools_oom_test.c - the pools file parser when allocations fail.
 *
 * The parser is linked with malloc, calloc and realloc wrapped
 * (ld --wrap, set by the Makefile) and built with an arena of 16-byte
 * chunks, so every allocation is a malloc of its own.  Each allocation in
 * turn is made to fail: the call must then refuse with "out of memory",
 * leaving nothing behind (LeakSanitizer checks under make test-asan), and
 * once none fails it must succeed.
 */
#include "pools_conf.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define FILE_NAME   "pools.conf"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);

static long oom_left = -1;  /* allocations before one fails; -1: none */

static int oom_now(void)
{
    if (oom_left == 0)
        return 1;
    if (oom_left > 0)
        oom_left--;
    return 0;
}

void *__wrap_malloc(size_t n)
{
    return oom_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
    return oom_now() ? NULL : __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
    return oom_now() ? NULL : __real_realloc(p, n);
}

static int is_oom_message(const char *msg)
{
    return strstr(msg, "out of memory") != NULL ||
           strstr(msg, "Cannot allocate memory") != NULL;
}

static void test_out_of_memory(void)
{
    /* Templates, $pool, env merging, args, TCP and Unix listens, and
     * warnings: most allocation sites. */
    static const char text[] =
        "[global]\nrun_dir = /run/oom\n"
        "[t]\nistemplate = 1\ncommand = /usr/bin/php-cgi\n"
        "user = www-data\nargs = -d \"x = $pool\" -c /etc/$pool.ini\n"
        "env[A] = 1\nenv[HOME] = /home/$pool\nlisten.mode = 0666\n"
        "listen.owner = www-data\n"
        "[a]\ntemplate = t\nenv[A] = 2\nenv[B] = 3\n"
        "[b]\ntemplate = t\nlisten = 9000\nuser = nobody\n"
        "pm.start_servers = 2\n"
        "[c]\ntemplate = t\nlisten = [::1]:9000\n";
    struct pools_conf *cfg;
    long k, parse_fails = 0, resolve_fails = 0, bad = 0;
    int parsed = 0, resolved = 0;
    char msg[512];

    for (k = 0; k < 100000 && !parsed; k++) {
        cfg = NULL;
        oom_left = k;
        parsed = pools_parse_string(text, sizeof(text) - 1, FILE_NAME, &cfg,
                                    msg, sizeof(msg)) == 0;
        oom_left = -1;
        if (!parsed) {
            parse_fails++;
            if (cfg != NULL || !is_oom_message(msg)) {
                if (bad++ == 0)
                    diag("allocation %ld failed: '%s'", k, msg);
            }
        }
        pools_free(cfg);
    }
    ok(parsed && bad == 0, "each of %ld allocation failures while parsing "
       "is refused as out of memory, and the parse then succeeds",
       parse_fails);

    bad = 0;
    for (k = 0; k < 100000 && !resolved; k++) {
        if (pools_parse_string(text, sizeof(text) - 1, FILE_NAME, &cfg, msg,
                               sizeof(msg)) < 0)
            break;
        oom_left = k;
        resolved = pools_resolve_ids(cfg, msg, sizeof(msg)) == 0;
        oom_left = -1;
        if (!resolved) {
            resolve_fails++;
            if (!is_oom_message(msg) && bad++ == 0)
                diag("allocation %ld failed: '%s'", k, msg);
        }
        pools_free(cfg);
    }
    ok(resolved && bad == 0, "each of %ld allocation failures while "
       "resolving ids is refused as out of memory, then it succeeds",
       resolve_fails);
}

int main(void)
{
    test_out_of_memory();
    return done_testing();
}
