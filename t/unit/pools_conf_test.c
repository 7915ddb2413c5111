/*
 * pools_conf_test.c - unit tests of the pools file parser (poolsfile/):
 * the DESIGN.md example, templates, every error with its exact
 * "FILE:LINE: KEY:" prefix, quoting, typed values, user/group resolution,
 * warnings, pools_same() and the -t dump.
 *
 * Built by the Makefile as build/unit/pools_conf_test and run from the top
 * of the tree (the data files are found next to this source, or under
 * $POOLS_TEST_DATA).  Users and groups are the ones base-passwd creates on
 * every Debian: root, daemon, www-data, nobody; nogroup.
 */
#define _POSIX_C_SOURCE 200809L

#include "pools_conf.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#define FILE_NAME   "pools.conf"

static char err[1024];

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static struct pools_conf *parse(const char *text)
{
    struct pools_conf *cfg = NULL;

    if (pools_parse_string(text, strlen(text), FILE_NAME, &cfg, err,
                           sizeof(err)) < 0) {
        diag("unexpected parse error: %s", err);
        return NULL;
    }
    return cfg;
}

/* The parse fails, with a message that starts with want, is one line,
 * and leaves no configuration behind. */
static void fails(const char *text, const char *want, const char *name)
{
    struct pools_conf *cfg = (struct pools_conf *)&cfg;
    int rc = pools_parse_string(text, strlen(text), FILE_NAME, &cfg, err,
                                sizeof(err));

    if (!ok(rc == -1 && cfg == NULL &&
            strncmp(err, want, strlen(want)) == 0 &&
            strchr(err, '\n') == NULL, "error: %s", name))
        diag("  got: '%s' (rc %d)\n  want prefix: '%s'", err, rc, want);
    if (rc == 0)
        pools_free(cfg);
}

static void fails_len(const char *text, size_t len, const char *want,
                      const char *name)
{
    struct pools_conf *cfg = NULL;
    int rc = pools_parse_string(text, len, FILE_NAME, &cfg, err, sizeof(err));

    if (!ok(rc == -1 && strncmp(err, want, strlen(want)) == 0, "error: %s",
            name))
        diag("  got: '%s'\n  want prefix: '%s'", err, want);
    if (rc == 0)
        pools_free(cfg);
}

/* The same for a message checked whole. */
static void fails_with(const char *text, const char *want, const char *name)
{
    struct pools_conf *cfg = NULL;
    int rc = pools_parse_string(text, strlen(text), FILE_NAME, &cfg, err,
                                sizeof(err));

    if (rc == 0) {
        pools_free(cfg);
        err[0] = '\0';
    }
    is_str(err, want, "error: %s", name);
}

/* Parses, then resolves ids; returns the resolve result (cfg kept). */
static int parse_resolve(const char *text, struct pools_conf **cfg)
{
    *cfg = parse(text);
    if (*cfg == NULL)
        return -2;
    return pools_resolve_ids(*cfg, err, sizeof(err));
}

static void resolve_fails(const char *text, const char *want,
                          const char *name)
{
    struct pools_conf *cfg;
    int rc = parse_resolve(text, &cfg);

    if (!ok(rc == -1 && strncmp(err, want, strlen(want)) == 0,
            "resolve error: %s", name))
        diag("  got: '%s' (rc %d)\n  want prefix: '%s'", err, rc, want);
    pools_free(cfg);
}

static const char *data_path(const char *file)
{
    static char buf[1024];
    const char *dir = getenv("POOLS_TEST_DATA");
    const char *src = __FILE__, *slash = strrchr(src, '/');

    if (dir != NULL)
        snprintf(buf, sizeof(buf), "%s/%s", dir, file);
    else
        snprintf(buf, sizeof(buf), "%.*sdata/pools/%s",
                 slash ? (int)(slash - src + 1) : 0, src, file);
    return buf;
}

static const char *env_get(const struct pools_pool *p, const char *name)
{
    size_t i;

    for (i = 0; i < p->nenv; i++)
        if (strcmp(p->env[i].name, name) == 0)
            return p->env[i].value;
    return NULL;
}

static int has_warning(const struct pools_conf *cfg, const char *want)
{
    size_t i;

    for (i = 0; i < pools_warning_count(cfg); i++)
        if (strncmp(pools_warning(cfg, i), want, strlen(want)) == 0)
            return 1;
    for (i = 0; i < pools_warning_count(cfg); i++)
        diag("  warning: %s", pools_warning(cfg, i));
    return 0;
}

/* A minimal valid pool section body. */
#define POOL(name) "[" name "]\ncommand = /usr/bin/php-cgi\nuser = www-data\n"

/* ------------------------------------------------------------------ */
/* The DESIGN.md example                                               */
/* ------------------------------------------------------------------ */

static void test_design_example(void)
{
    struct pools_conf *cfg = NULL;
    const struct pools_global *g;
    const struct pools_pool *p;
    const char *path = data_path("design.conf");

    if (!ok(pools_parse_file(path, &cfg, err, sizeof(err)) == 0,
            "design example parses")) {
        diag("%s", err);
        return;
    }
    g = pools_global(cfg);
    is_str(g->run_dir, "/run/vhostfcgi", "global run_dir");
    is_str(g->error_log, "/var/log/vhostfcgi-spawn.log", "global error_log");
    is_int(g->process_max, 200, "global process.max");
    is_int(g->log_level, POOLS_LOG_NOTICE, "log_level defaults to notice");
    is_int(g->origin[POOLS_G_PROCESS_MAX].line, 4, "process.max origin");
    is_int(pools_count(cfg), 1, "one pool: the template is not a pool");
    ok(pools_find(cfg, "vhost") == NULL, "no pool named after the template");
    p = pools_find(cfg, "uls");
    if (!ok(p != NULL && p == pools_at(cfg, 0), "pool uls found")) {
        pools_free(cfg);
        return;
    }
    is_str(p->user, "php-uls", "user php-$pool expands to php-uls");
    is_str(p->group, "uls", "group uls");
    is_str(p->chroot, "/home/uls", "chroot");
    is_str(p->chdir, "/", "chdir defaults to /");
    is_str(p->command, "/usr/bin/php-cgi8.2", "command inherited");
    is_int(p->nargs, 0, "no args");
    ok(p->args != NULL && p->args[0] == NULL, "args is an empty argv");
    is_int(p->listen.kind, POOLS_LISTEN_UNIX, "listen is a Unix socket");
    is_str(p->listen.path, "/run/vhostfcgi/uls.sock",
           "socket path run_dir/uls.sock");
    is_str(p->listen_owner, "www-data", "listen.owner");
    is_int(p->listen_mode, 0660, "listen.mode");
    is_int(p->listen_backlog, 511, "listen.backlog default");
    is_int(p->pm, POOLS_PM_ONDEMAND, "pm ondemand");
    is_int(p->max_children, 20, "pm.max_children");
    is_int(p->process_idle_timeout_ms, 30000, "idle timeout 30s = 30000 ms");
    is_int(p->max_requests, 500, "pm.max_requests");
    is_int(p->request_terminate_timeout_ms, 0, "no terminate timeout");
    is_int(p->rlimit_files, POOLS_RLIMIT_UNSET, "rlimit_files unset");
    ok(p->clear_env && p->catch_workers_output, "clear_env, catch output");
    is_int(p->nenv, 1, "one env entry");
    is_str(env_get(p, "PATH"), "/usr/bin:/bin", "env PATH");
    ok(!p->ids_resolved, "ids not resolved by a parse");
    is_int(p->origin[POOLS_F_USER].line, 9, "user set at line 9");
    is_str(p->origin[POOLS_F_USER].section, "vhost", "... in template vhost");
    is_int(p->origin[POOLS_F_GROUP].line, 21, "group set at line 21");
    is_str(p->origin[POOLS_F_GROUP].section, "uls", "... in the pool");
    is_int(p->origin[POOLS_F_LISTEN].line, 0, "listen is a default");
    is_str(p->origin[POOLS_F_COMMAND].file, path, "origin names the file");
    is_int(p->header.line, 19, "[uls] at line 19");
    is_int(pools_warning_count(cfg), 0, "no warnings");
    pools_free(cfg);
}

/* ------------------------------------------------------------------ */
/* Templates                                                           */
/* ------------------------------------------------------------------ */

static void test_multilevel(void)
{
    struct pools_conf *cfg = parse(
        "[base]\n"                                  /* 1 */
        "istemplate = yes\n"
        "command = /usr/bin/php-cgi\n"
        "user = www-data\n"
        "env[A] = base-a\n"                         /* 5 */
        "env[B] = base-b\n"
        "pm.max_children = 8\n"
        "[mid]\n"
        "istemplate = on\n"
        "template = base\n"                         /* 10 */
        "pm = dynamic\n"
        "env[B] = mid-b\n"
        "env[HOME] = /home/$pool\n"
        "pm.max_children = 10\n"
        "[leaf]\n"                                  /* 15 */
        "template = mid\n"
        "env[C] = leaf-c\n"
        "env[A] = leaf-a\n"
        "pm.min_spare_servers = 2\n"
        "[leaf2]\n"                                 /* 20 */
        "template = mid\n"
        "pm = static\n");
    const struct pools_pool *p, *q;

    if (!ok(cfg != NULL, "three-level inheritance parses"))
        return;
    is_int(pools_count(cfg), 2, "two pools, two templates");
    p = pools_find(cfg, "leaf");
    q = pools_find(cfg, "leaf2");
    if (!ok(p != NULL && q != NULL, "both pools found")) {
        pools_free(cfg);
        return;
    }
    is_str(p->command, "/usr/bin/php-cgi", "command from the root template");
    is_str(p->origin[POOLS_F_COMMAND].section, "base", "... origin base");
    is_int(p->pm, POOLS_PM_DYNAMIC, "pm from the middle template");
    is_int(p->max_children, 10, "middle template overrides the root");
    is_int(p->origin[POOLS_F_MAX_CHILDREN].line, 14, "... origin line 14");
    is_int(p->min_spare_servers, 2, "own value");
    is_int(p->max_spare_servers, 3, "max spare defaults to 3");
    is_int(p->start_servers, 2, "start = min + (max - min) / 2");
    is_int(p->nenv, 4, "env merged by name: A B HOME C");
    is_str(env_get(p, "A"), "leaf-a", "env A: the pool wins");
    is_str(env_get(p, "B"), "mid-b", "env B: the middle template wins");
    is_str(env_get(p, "C"), "leaf-c", "env C: the pool's own");
    is_str(env_get(p, "HOME"), "/home/leaf", "env HOME: $pool expanded");
    ok(p->nenv == 4 && strcmp(p->env[0].name, "A") == 0 &&
       strcmp(p->env[3].name, "C") == 0, "env order: inherited first");
    is_int(p->env[0].origin.line, 18, "env A origin is the override");
    is_str(env_get(q, "HOME"), "/home/leaf2", "$pool per pool");
    is_int(q->pm, POOLS_PM_STATIC, "a sibling overrides pm");
    is_int(q->start_servers, 0, "no spare defaults unless dynamic");
    pools_free(cfg);
}

static void test_template_after_use(void)
{
    struct pools_conf *cfg = parse(
        "[early]\n"
        "template = late\n"
        "[late]\n"
        "istemplate = 1\n"
        "command = /usr/bin/php-cgi\n"
        "user = php-$pool\n");
    const struct pools_pool *p;

    if (!ok(cfg != NULL, "template defined after its use parses"))
        return;
    p = pools_find(cfg, "early");
    is_str(p ? p->user : NULL, "php-early", "inherits from the later one");
    pools_free(cfg);

    /* A concrete pool may serve as template too (it stays a pool). */
    cfg = parse(POOL("a") "listen = 9000\n[b]\ntemplate = a\nlisten = 9001\n");
    ok(cfg != NULL && pools_count(cfg) == 2, "a pool inherits from a pool");
    pools_free(cfg);
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static void test_errors_syntax(void)
{
    fails_with(POOL("a") "pm.max_childs = 5\n",
               "pools.conf:4: pm.max_childs: unknown key (did you mean "
               "'pm.max_children'?)", "unknown key, with a suggestion");
    fails("[a]\nfrobnicate = 1\n", "pools.conf:2: frobnicate: unknown key",
          "unknown key");
    fails_with(POOL("a") "pm.max_children = lots\n",
               "pools.conf:4: pm.max_children: bad value 'lots': expected "
               "a whole number from 1 to 65535", "bad number, form named");
    fails(POOL("a") "pm.max_children = 0\n",
          "pools.conf:4: pm.max_children: bad value '0'", "zero children");
    fails(POOL("a") "pm = lazy\n", "pools.conf:4: pm: bad value 'lazy': "
          "expected static, dynamic or ondemand", "bad pm");
    fails(POOL("a") "clear_env = maybe\n", "pools.conf:4: clear_env: bad "
          "value 'maybe': expected yes or no", "bad boolean");
    fails(POOL("a") "listen.mode = 0999\n", "pools.conf:4: listen.mode: "
          "bad value '0999': expected an octal mode", "bad mode");
    fails(POOL("a") "chroot = home/a\n", "pools.conf:4: chroot: bad value "
          "'home/a': expected an absolute path", "relative chroot");
    fails(POOL("a") "user = www-data\n", "pools.conf:4: user: duplicate key "
          "(first set at line 3)", "duplicate key");
    fails(POOL("a") "env[X] = 1\nenv[X] = 2\n", "pools.conf:5: env[X]: "
          "duplicate key (first set at line 4)", "duplicate env");
    fails(POOL("a") "[b]\nistemplate=1\n" POOL("a"), "pools.conf:6: a: "
          "duplicate section (first at line 1)", "duplicate section");
    fails("[global]\n[global]\n", "pools.conf:2: global: duplicate section",
          "duplicate [global]");
    fails("user = x\n", "pools.conf:1: user: key outside any section",
          "key before any section");
    fails("[a b]\n", "pools.conf:1: a b: bad section name", "bad name");
    fails("[..]\n", "pools.conf:1: ..: bad section name", "name '..'");
    fails("[a23456789012345678901234567890123456789012345678901234567890"
          "12345]\n", "pools.conf:1: a234", "name over 64 characters");
    fails("[Global]\n", "pools.conf:1: Global: section name reserved",
          "reserved name");
    fails("[a\n", "pools.conf:1: [a: section header without ']'",
          "unclosed header");
    fails("[a] x\n", "pools.conf:1: [a]: text after the section header",
          "junk after header");
    fails("[global]\nlisten = 9000\n", "pools.conf:2: listen: a pool key, "
          "not valid in [global]", "pool key in [global]");
    fails(POOL("a") "run_dir = /x\n", "pools.conf:4: run_dir: a [global] "
          "key, not valid in a pool section", "global key in a pool");
    fails("[global]\npid = /run/$pool.pid\n", "pools.conf:2: pid: $pool has "
          "no meaning in [global]", "$pool in [global]");
    fails("[global]\nlog_level = loud\n", "pools.conf:2: log_level: bad "
          "value 'loud'", "bad log level");
    fails(POOL("a") "include = /etc/x\n", "pools.conf:4: include: not "
          "supported", "include");
    fails(POOL("a") "php_admin_value[memory_limit] = 1G\n",
          "pools.conf:4: php_admin_value[memory_limit]: unknown key (PHP "
          "settings go in args", "php_admin_value hint");
    fails(POOL("a") "args = -d \"x\n", "pools.conf:4: args: bad value",
          "unclosed quote in args");
    fails(POOL("a") "chdir = \"/x\n", "pools.conf:4: chdir: a double quote "
          "is not closed", "unclosed quoted value");
    fails(POOL("a") "chdir = \"/x\" y\n", "pools.conf:4: chdir: text after "
          "the closing quote", "junk after quotes");
    fails(POOL("a") "chdir /x\n", "pools.conf:4: chdir: expected 'key = "
          "value'", "missing =");
    fails(POOL("a") " = 1\n", "pools.conf:4: =: missing key", "missing key");
    fails(POOL("a") "env[1X] = 1\n", "pools.conf:4: env[1X]: bad "
          "environment variable name", "bad env name");
    fails(POOL("a") "env[] = 1\n", "pools.conf:4: env[]: bad environment",
          "empty env name");
    fails(POOL("a") "chdir = /x\001\n", "pools.conf:4: syntax: control "
          "character 0x01", "control character");
    fails_len("[a]\ncommand = /x\0\n", 18, "pools.conf:2: syntax: control "
              "character 0x00", "NUL byte (length-delimited input)");
    fails(POOL("a") "istemplate = 2\n", "pools.conf:4: istemplate: bad "
          "value '2'", "bad istemplate");
    fails(POOL("a") "template = $pool\n", "pools.conf:4: template: bad "
          "value '$pool'", "template names are literal");
}

static void test_errors_semantic(void)
{
    fails_with("[a]\nuser = www-data\n",
               "pools.conf:1: command: [pool a] missing required key: the "
               "FastCGI program to run (set it in the pool or its template)",
               "missing command: line of the header");
    fails("\n[a]\ncommand = /bin/true\n", "pools.conf:2: user: [pool a] "
          "missing required key", "missing user");
    fails_with("[vhost]\nistemplate = 1\n" POOL("x") "[uls]\n"
               "template = vhots\n",
               "pools.conf:7: template: unknown template 'vhots' (did you "
               "mean 'vhost'?)", "unknown template, with a suggestion");
    fails(POOL("a") "template = zzz\n", "pools.conf:4: template: unknown "
          "template 'zzz'", "unknown template");
    fails(POOL("a") "template = global\n", "pools.conf:4: template: "
          "[global] is not a template", "[global] as template");
    fails_with("[a]\ntemplate = b\n[b]\ntemplate = c\n[c]\ntemplate = a\n",
               "pools.conf:2: template: template cycle: a -> b -> c -> a",
               "template cycle, chain named");
    fails_with("[x]\ntemplate = a\n[a]\ntemplate = a\n",
               "pools.conf:4: template: template cycle: a -> a",
               "a template of itself");
    {
        char text[2048];
        size_t len = (size_t)snprintf(text, sizeof(text),
                                      "[t0]\nistemplate = 1\n");
        int i;

        /* t0 <- t1 <- ... <- t17: 17 levels above t17 */
        for (i = 1; i <= 17; i++)
            len += (size_t)snprintf(text + len, sizeof(text) - len,
                                    "[t%d]\ntemplate = t%d\n", i, i - 1);
        fails(text, "pools.conf:36: template: [t17] more than 16 levels of "
              "templates", "template chain depth is bounded");
    }
    fails(POOL("a") "env[X] = 1\n[b]\ntemplate = a\nenv[X] = 2\n"
          "env[Y] = 1\nenv[X] = 3\n", "pools.conf:9: env[X]: duplicate key "
          "(first set at line 7)", "env duplicates are per section");
}

static void test_errors_root(void)
{
    fails("[a]\ncommand = /x\nuser = root\n", "pools.conf:3: user: 'root' is "
          "user root: a pool must not run as root", "user root");
    fails("[a]\ncommand = /x\nuser = 0\n", "pools.conf:3: user: '0' is user "
          "root", "uid 0");
    fails(POOL("a") "group = root\n", "pools.conf:4: group: 'root' is group "
          "root", "group root");
    fails(POOL("a") "group = 000\n", "pools.conf:4: group: '000' is group "
          "root", "gid 0 spelt 000");
    fails("[t]\nistemplate = 1\nuser = root\n", "pools.conf:3: user:",
          "root in an unused template is still an error");
    fails("[t]\nistemplate = 1\nuser = $pool\n"
          "[root]\ntemplate = t\ncommand = /x\n", "pools.conf:3: user: [pool "
          "root] 'root' is user root", "root through $pool");
}

static void test_errors_pm(void)
{
    fails_with("[uls]\ncommand = /x\nuser = www-data\npm = dynamic\n"
               "pm.min_spare_servers = 5\npm.max_spare_servers = 3\n",
               "pools.conf:5: pm.min_spare_servers: [pool uls] "
               "pm.min_spare_servers(5) must not be greater than "
               "pm.max_spare_servers(3)", "min spare > max spare");
    fails(POOL("uls") "pm = dynamic\npm.max_children = 4\n"
          "pm.max_spare_servers = 6\n", "pools.conf:6: pm.max_spare_servers: "
          "[pool uls] pm.max_spare_servers(6) must not be greater than "
          "pm.max_children(4)", "max spare > max children");
    fails(POOL("uls") "pm = dynamic\npm.max_children = 4\n"
          "pm.min_spare_servers = 6\n", "pools.conf:6: pm.min_spare_servers: "
          "[pool uls] pm.min_spare_servers(6) must not be greater than "
          "pm.max_children(4)", "min spare > max children");
    fails(POOL("uls") "pm = dynamic\npm.start_servers = 9\n",
          "pools.conf:5: pm.start_servers: [pool uls] pm.start_servers(9) "
          "must be from pm.min_spare_servers(1) to pm.max_spare_servers(3)",
          "start outside the spares");
    fails("[t]\nistemplate = 1\npm = dynamic\npm.min_spare_servers = 6\n"
          POOL("uls") "template = t\n", "pools.conf:4: pm.min_spare_servers: "
          "[pool uls] pm.min_spare_servers(6) must not be greater than "
          "pm.max_children(5)", "the blamed line is the template's");
    fails(POOL("a") "pm.process_idle_timeout = 0\n", "pools.conf:4: "
          "pm.process_idle_timeout: bad value '0': must be greater than 0",
          "idle timeout 0");
    fails(POOL("a") "pm.process_idle_timeout = 1.5s\n", "pools.conf:4: "
          "pm.process_idle_timeout: bad value '1.5s': expected a duration",
          "fractional duration");
    fails(POOL("a") "request_terminate_timeout = 400d\n", "pools.conf:4: "
          "request_terminate_timeout: bad value '400d': must be at most 365d",
          "duration too long");
    fails("[global]\nprocess.max = 10\n" POOL("a") "pm.max_children = 11\n",
          "pools.conf:6: pm.max_children: [pool a] pm.max_children(11) must "
          "not be greater than process.max(10)", "pool over process.max");
    fails("[global]\nprocess.max = 10\n" POOL("a") "pm = static\n"
          "pm.max_children = 6\n" POOL("b") "pm = static\n"
          "pm.max_children = 6\nlisten = 9000\n", "pools.conf:2: "
          "process.max: the static pools need 12 workers", "static pools "
          "over process.max");
}

static void test_errors_listen(void)
{
    fails_with(POOL("a") "listen = /run/x.sock\n" POOL("b")
               "listen = /run//x.sock\n", "pools.conf:8: listen: pools a and "
               "b both listen on /run//x.sock", "same Unix socket");
    fails(POOL("a") POOL("b") "listen = /run/vhostfcgi/a.sock\n",
          "pools.conf:7: listen: pools a and b both listen on "
          "/run/vhostfcgi/a.sock", "explicit path on a default one");
    fails(POOL("a") "listen = 9000\n" POOL("b") "listen = 127.0.0.1:9000\n",
          "pools.conf:8: listen: pools a and b both listen on "
          "127.0.0.1:9000", "port-only is 127.0.0.1");
    fails(POOL("a") "listen = 10.0.0.1:9000\n" POOL("b")
          "listen = 0.0.0.0:9000\n", "pools.conf:8: listen: pools a and b "
          "both listen on port 9000", "wildcard covers an address");
    fails(POOL("a") "listen = 127.0.0.1:9000\n" POOL("b")
          "listen = [::]:9000\n", "pools.conf:8: listen: pools a and b both "
          "listen on port 9000", "[::] is dual-stack");
    fails(POOL("a") "listen = run/a.sock\n", "pools.conf:4: listen: bad "
          "value 'run/a.sock': expected an absolute socket path",
          "relative socket path");
    fails(POOL("a") "listen = php.example:9000\n", "pools.conf:4: listen: "
          "bad value 'php.example:9000'", "host names are refused");
    fails(POOL("a") "listen = ::1:9000\n", "pools.conf:4: listen: bad value "
          "'::1:9000': an IPv6 address goes in brackets", "bare IPv6");
    fails(POOL("a") "listen = 70000\n", "pools.conf:4: listen: bad value "
          "'70000': port '70000' is not from 1 to 65535", "port range");
    fails(POOL("a") "listen = /run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          ".sock\n", "pools.conf:4: listen: socket path", "path over "
          "sun_path");
    fails("[global]\nrun_dir = /run/a-rather-long-directory-name/that-goes/"
          "on-and-on/and-on\n[a-pool-name-that-is-also-quite-long-really]\n"
          "command = /x\nuser = www-data\n", "pools.conf:3: listen: [pool "
          "a-pool-name-that-is-also-quite-long-really] the default socket "
          "path", "default path over sun_path: the header line");
}

static void test_errors_resolve(void)
{
    resolve_fails("[a]\ncommand = /x\nuser = no-such-user-xyz\n",
                  "pools.conf:3: user: [pool a] unknown user "
                  "'no-such-user-xyz'", "unknown user");
    resolve_fails(POOL("a") "group = no-such-group-xyz\n",
                  "pools.conf:4: group: [pool a] unknown group "
                  "'no-such-group-xyz'", "unknown group");
    resolve_fails("[t]\nistemplate = 1\nuser = php-$pool\ncommand = /x\n"
                  "[uls]\ntemplate = t\n", "pools.conf:3: user: [pool uls] "
                  "unknown user 'php-uls'", "unknown user from a template");
    resolve_fails(POOL("a") "listen.owner = no-such-user-xyz\n",
                  "pools.conf:4: listen.owner: [pool a] unknown user",
                  "unknown listen.owner");
    resolve_fails(POOL("a") "listen.group = no-such-group-xyz\n",
                  "pools.conf:4: listen.group: [pool a] unknown group",
                  "unknown listen.group");
    resolve_fails("[a]\ncommand = /x\nuser = 4000000001\n",
                  "pools.conf:3: user: [pool a] uid 4000000001 has no passwd "
                  "entry, so no primary group: set group",
                  "numeric uid without passwd entry needs a group");
}

/* ------------------------------------------------------------------ */
/* Values                                                              */
/* ------------------------------------------------------------------ */

static void test_quoting_comments(void)
{
    struct pools_conf *cfg = parse(
        "\xef\xbb\xbf; a byte order mark, then a comment\r\n"
        "# hash comment\r\n"
        "   ; indented comment\n"
        "\n"
        "[q]   ; comment after a header\n"
        "command=/usr/bin/php-cgi\n"
        "user = www-data ; trailing comment\n"
        "\tchdir\t=\t/srv/a;b\t\n"
        "env[SPACES] = \"  two spaces  \"   ; kept\n"
        "env[SEMI] = \"a ; b\"\n"
        "env[ESC] = \"say \\\"hi\\\" \\\\ \\n\"\n"
        "env[EMPTY] =\n"
        "env[HASH] = a #b\n"
        "env[DOLLAR] = $HOME/$pool/$poolx\n"
        "args = -d \"memory_limit = 1G\" -c a\"b c\"d \"\" x\\y \"q\\\"\"\n");
    const struct pools_pool *p;

    if (!ok(cfg != NULL, "quoting and comments parse"))
        return;
    p = pools_find(cfg, "q");
    is_str(p->command, "/usr/bin/php-cgi", "key=value without blanks");
    is_str(p->user, "www-data", "trailing ; comment cut, blanks trimmed");
    is_str(p->chdir, "/srv/a;b", "';' without a blank before is kept");
    is_str(env_get(p, "SPACES"), "  two spaces  ", "quotes keep blanks");
    is_str(env_get(p, "SEMI"), "a ; b", "quotes keep ' ;'");
    is_str(env_get(p, "ESC"), "say \"hi\" \\ \\n", "\\\" and \\\\ escapes");
    is_str(env_get(p, "EMPTY"), "", "empty value");
    is_str(env_get(p, "HASH"), "a #b", "'#' only comments a whole line");
    is_str(env_get(p, "DOLLAR"), "$HOME/q/qx", "only $pool expands");
    is_int(p->header.line, 5, "lines counted across CRLF and the BOM");
    if (is_int(p->nargs, 7, "args split into 7 words")) {
        is_str(p->args[0], "-d", "args[0]");
        is_str(p->args[1], "memory_limit = 1G", "quoted word keeps blanks");
        is_str(p->args[3], "ab cd", "adjacent quoted parts join");
        is_str(p->args[4], "", "\"\" is an empty word");
        is_str(p->args[5], "x\\y", "backslash outside quotes is literal");
        is_str(p->args[6], "q\"", "\\\" inside quotes");
        ok(p->args[7] == NULL, "argv NULL-terminated");
    }
    pools_free(cfg);
}

static void test_typed_values(void)
{
    static const struct { const char *text; long long ms; } durations[] = {
        { "500ms", 500 }, { "30s", 30000 }, { "10m", 600000 },
        { "1h", 3600000 }, { "2d", 172800000 }, { "15", 15000 },
    };
    struct pools_conf *cfg;
    const struct pools_pool *p;
    char text[256];
    size_t i;

    for (i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
        snprintf(text, sizeof(text), POOL("d")
                 "pm.process_idle_timeout = %s\n", durations[i].text);
        cfg = parse(text);
        p = cfg ? pools_at(cfg, 0) : NULL;
        is_int(p ? p->process_idle_timeout_ms : -1, durations[i].ms,
               "duration %s", durations[i].text);
        pools_free(cfg);
    }
    cfg = parse("[v]\ncommand = /x\nuser = 33\n"
                "request_terminate_timeout = 0\nclear_env = Off\n"
                "catch_workers_output = FALSE\nrlimit_files = 4096\n"
                "rlimit_core = unlimited\nlisten.mode = 660\n"
                "listen.backlog = 64\npm = Static\n");
    if (!ok(cfg != NULL, "typed values parse"))
        return;
    p = pools_at(cfg, 0);
    is_int(p->request_terminate_timeout_ms, 0, "terminate timeout 0 = off");
    ok(!p->clear_env && !p->catch_workers_output, "Off / FALSE are false");
    is_int(p->rlimit_files, 4096, "rlimit_files");
    is_int(p->rlimit_core, POOLS_RLIMIT_UNLIMITED, "rlimit_core unlimited");
    is_int(p->listen_mode, 0660, "mode without leading 0");
    is_int(p->listen_backlog, 64, "backlog");
    is_int(p->pm, POOLS_PM_STATIC, "pm is case-insensitive");
    is_str(p->user, "33", "numeric user kept as written");
    pools_free(cfg);
}

static void test_listen_forms(void)
{
    struct pools_conf *cfg = parse(
        POOL("p") "listen = 9000\n"
        POOL("v4") "listen = 192.0.2.7:9001\n"
        POOL("v6") "listen = [::1]:9000\n"
        POOL("lh") "listen = localhost:9002\n"
        "[global]\nrun_dir = /run/vf//\n"
        POOL("u"));
    const struct pools_pool *p;
    struct sockaddr_storage ss;
    socklen_t len = 0;

    if (!ok(cfg != NULL, "listen forms parse"))
        return;
    p = pools_find(cfg, "p");
    ok(p->listen.kind == POOLS_LISTEN_TCP && p->listen.family == AF_INET &&
       p->listen.port == 9000, "port-only listen is TCP");
    is_str(p->listen.host, "127.0.0.1", "... on 127.0.0.1");
    pools_listen_sockaddr(&p->listen, &ss, &len);
    ok(len == sizeof(struct sockaddr_in) &&
       ((struct sockaddr_in *)&ss)->sin_port == htons(9000) &&
       ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(0x7f000001),
       "sockaddr_in for 127.0.0.1:9000");
    is_str(pools_find(cfg, "v4")->listen.host, "192.0.2.7", "IPv4:port");
    p = pools_find(cfg, "v6");
    ok(p->listen.family == AF_INET6 && strcmp(p->listen.host, "::1") == 0,
       "[::1]:9000 is IPv6, same port as 127.0.0.1 but no overlap");
    pools_listen_sockaddr(&p->listen, &ss, &len);
    ok(len == sizeof(struct sockaddr_in6) && ss.ss_family == AF_INET6,
       "sockaddr_in6");
    is_str(pools_find(cfg, "lh")->listen.host, "127.0.0.1",
           "localhost is 127.0.0.1");
    p = pools_find(cfg, "u");
    is_str(p->listen.path, "/run/vf/u.sock",
           "default path: run_dir's trailing slashes dropped");
    pools_listen_sockaddr(&p->listen, &ss, &len);
    ok(ss.ss_family == AF_UNIX && strcmp(((struct sockaddr_un *)&ss)
       ->sun_path, "/run/vf/u.sock") == 0, "sockaddr_un");
    pools_free(cfg);
}

/* ------------------------------------------------------------------ */
/* Ids and warnings                                                    */
/* ------------------------------------------------------------------ */

static void test_resolve_ids(void)
{
    struct pools_conf *cfg = NULL;
    const struct pools_pool *p;

    if (!ok(pools_load(data_path("hosting.conf"), &cfg, err,
                       sizeof(err)) == 0, "pools_load of a resolvable file")) {
        diag("%s", err);
        return;
    }
    is_int(pools_count(cfg), 4, "four pools");
    p = pools_find(cfg, "web");
    ok(p->ids_resolved && p->uid == 33 && p->gid == 33,
       "www-data: uid 33, primary gid 33");
    is_str(p->group, "www-data", "defaulted group named after resolution");
    is_int(p->origin[POOLS_F_GROUP].line, 0, "... and still a default");
    ok(p->listen_uid == 33 && p->listen_gid == 33, "listen owner/group ids");
    is_str(p->listen.path, "/run/vhostfcgi-test/web.sock", "socket path");
    ok(p->nargs == 4 && strcmp(p->args[1], "error_log = /var/log/php/web.log")
       == 0 && strcmp(p->args[3], "/etc/php/web.ini") == 0,
       "$pool inside quoted args");
    p = pools_find(cfg, "nob");
    ok(p->uid == 65534 && p->gid == 65534, "nobody:nogroup");
    p = pools_find(cfg, "dmn");
    ok(p->uid == 1 && p->gid == 33, "daemon with group www-data");
    is_int(pools_warning_count(cfg), 1, "one warning");
    ok(has_warning(cfg, "") && strstr(pools_warning(cfg, 0), ": user: pools "
       "web and web2 both run as uid 33 (www-data): their workers can signal "
       "and trace each other") != NULL, "two pools sharing a uid warn");
    is_int(pools_resolve_ids(cfg, err, sizeof(err)), 0,
           "resolving twice is harmless");
    is_int(pools_warning_count(cfg), 1, "... and adds no warning");
    pools_free(cfg);

    cfg = NULL;
    ok(pools_load("/nonexistent/pools.conf", &cfg, err, sizeof(err)) == -1 &&
       cfg == NULL, "pools_load of a missing file fails");
    is_str(err, "/nonexistent/pools.conf: cannot open: No such file or "
           "directory", "... saying why");
}

static void test_warnings(void)
{
    struct pools_conf *cfg = parse(POOL("a") "listen.mode = 0666\n");

    ok(cfg != NULL && has_warning(cfg, "pools.conf:4: listen.mode: 0666 is "
       "world-writable"), "world-writable listen.mode warns");
    pools_free(cfg);
    cfg = parse(POOL("a") "pm.max_spare_servers = 3\n");
    ok(cfg != NULL && has_warning(cfg, "pools.conf:4: pm.max_spare_servers: "
       "[pool a] ignored: pm is ondemand"), "spare setting without dynamic");
    pools_free(cfg);
    cfg = parse("[t]\nistemplate = 1\npm.max_spare_servers = 3\n" POOL("a")
                "template = t\n");
    ok(cfg != NULL && pools_warning_count(cfg) == 0,
       "... but not for a template's");
    pools_free(cfg);
}

/* ------------------------------------------------------------------ */
/* Reload comparison and the dump                                      */
/* ------------------------------------------------------------------ */

static void test_same(void)
{
    const char *base =
        "[t]\nistemplate = 1\ncommand = /usr/bin/php-cgi\nuser = www-data\n"
        "env[A] = 1\nenv[B] = 2\n"
        "[a]\ntemplate = t\npm.max_children = 7\n";
    struct pools_conf *c1 = parse(base), *c2 = parse(base), *c3, *c4, *c5;

    if (!ok(c1 != NULL && c2 != NULL, "two parses of one text"))
        goto out;
    ok(pools_same(pools_at(c1, 0), pools_at(c2, 0)),
       "pools_same: identical text");
    c3 = parse("[t]\nistemplate = 1\ncommand = /usr/bin/php-cgi\n"
               "user = www-data\nenv[A] = 1\nenv[B] = 2\n"
               "[a]\ntemplate = t\npm.max_children = 8\n");
    ok(c3 && !pools_same(pools_at(c1, 0), pools_at(c3, 0)),
       "pools_same: one key changed");
    c4 = parse("\n; moved and reordered, same values\n"
               "[a]\npm.max_children = 7\nenv[B] = 2\nenv[A] = 1\n"
               "user = www-data\ncommand = /usr/bin/php-cgi\n");
    ok(c4 && pools_same(pools_at(c1, 0), pools_at(c4, 0)),
       "pools_same: origins and env order do not matter");
    c5 = parse("[t]\nistemplate = 1\ncommand = /usr/bin/php-cgi\n"
               "user = www-data\nenv[A] = 1\nenv[B] = 3\n"
               "[a]\ntemplate = t\npm.max_children = 7\n");
    ok(c5 && !pools_same(pools_at(c1, 0), pools_at(c5, 0)),
       "pools_same: an inherited env value changed");
    pools_free(c3);
    pools_free(c4);
    pools_free(c5);
out:
    pools_free(c1);
    pools_free(c2);
}

static void test_dump(void)
{
    struct pools_conf *cfg = NULL, *again = NULL;
    char *text = NULL;
    size_t len = 0, i;
    FILE *out;

    if (pools_parse_file(data_path("design.conf"), &cfg, err,
                         sizeof(err)) < 0 ||
        (out = open_memstream(&text, &len)) == NULL) {
        ok(0, "dump setup: %s", err);
        pools_free(cfg);
        return;
    }
    is_int(pools_dump(out, cfg), 0, "pools_dump succeeds");
    fclose(out);
    ok(strstr(text, "\nuser = php-uls ") != NULL &&
       strstr(text, "design.conf:9 via template vhost)\n") != NULL,
       "dump: value with origin via template");
    ok(strstr(text, "\ngroup = uls ") != NULL &&
       strstr(text, "design.conf:21)\n") != NULL, "dump: the pool's own");
    ok(strstr(text, "\nlisten = /run/vhostfcgi/uls.sock ") != NULL &&
       strstr(text, "(default: run_dir/NAME.sock)") != NULL,
       "dump: a default");
    ok(strstr(text, "\n;rlimit_core =") != NULL, "dump: unset keys "
       "commented out");
    ok(strstr(text, "pm.process_idle_timeout = 30s") != NULL,
       "dump: durations in their unit");
    if (ok(pools_parse_string(text, len, "dump", &again, err,
                              sizeof(err)) == 0, "the dump parses back")) {
        int same = pools_count(again) == pools_count(cfg);

        for (i = 0; same && i < pools_count(cfg); i++)
            same = pools_same(pools_at(cfg, i), pools_at(again, i));
        ok(same, "... into the same pools");
    } else {
        diag("%s", err);
    }
    pools_free(again);
    pools_free(cfg);
    free(text);
}

/* The reader at its boundaries. */
static void test_edge_cases(void)
{
    struct pools_conf *cfg;

    cfg = parse("[a]\ncommand=/x\nuser=www-data\nenv[A]=\"\\\\\"\n");
    is_str(cfg ? env_get(pools_at(cfg, 0), "A") : NULL, "\\",
           "escaped backslash right before the closing quote");
    pools_free(cfg);
    cfg = parse("");
    ok(cfg != NULL && pools_count(cfg) == 0 &&
       strcmp(pools_global(cfg)->run_dir, "/run/vhostfcgi") == 0,
       "an empty file is an empty configuration with defaults");
    pools_free(cfg);
    cfg = parse("[a]\ncommand = /x\nuser = nobody");
    ok(cfg != NULL && strcmp(pools_at(cfg, 0)->user, "nobody") == 0,
       "no newline at the end of the file");
    pools_free(cfg);
    cfg = parse("[ a ]\ncommand = /x\nuser = nobody\n");
    ok(cfg != NULL && pools_find(cfg, "a") != NULL,
       "blanks inside the brackets are trimmed");
    pools_free(cfg);
    fails("[a]\ncommand = /x\nuser = nobody\nenv[A] = \"unclosed\n"
          "[b]\n", "pools.conf:4: env[A]: a double quote is not closed",
          "a quote never spans lines");
    {
        /* A cycle through 12 sections of 60-character names: the chain is
         * cut short with "...", the message stays one line. */
        char text[2048], name[64];
        size_t len = 0;
        int i;

        for (i = 0; i < 12; i++) {
            snprintf(name, sizeof(name), "%060d", i);
            len += (size_t)snprintf(text + len, sizeof(text) - len,
                                    "[%s]\ntemplate = %060d\n", name,
                                    (i + 1) % 12);
        }
        fails(text, "pools.conf:2: template: template cycle: "
              "000000000000000000000000000000000000000000000000000000000000 "
              "-> 0000", "a long cycle");
        ok(strstr(err, "... -> ") != NULL && strlen(err) < 600 &&
           strchr(err, '\n') == NULL, "... is cut short on one line");
    }
    {
        /* Twelve warnings: the list grows past its first allocation. */
        char text[4096];
        size_t len = 0;
        int i;

        for (i = 0; i < 12; i++)
            len += (size_t)snprintf(text + len, sizeof(text) - len,
                                    POOL("w%d") "listen.mode = 0666\n", i);
        cfg = parse(text);
        ok(cfg != NULL && pools_warning_count(cfg) == 12 &&
           strncmp(pools_warning(cfg, 11), "pools.conf:48: listen.mode:",
                   27) == 0 && pools_warning(cfg, 12) == NULL,
           "twelve warnings, in file order");
        pools_free(cfg);
    }
    ok(pools_field_key(POOLS_F_MAX_CHILDREN) != NULL &&
       strcmp(pools_field_key(POOLS_F_MAX_CHILDREN), "pm.max_children") == 0
       && pools_field_key(POOLS_NFIELDS) == NULL, "pools_field_key");
}

/* ------------------------------------------------------------------ */
/* Scale                                                               */
/* ------------------------------------------------------------------ */

static void test_500_pools(void)
{
    size_t cap = 64 * 1024, len, i;
    char *text = malloc(cap);
    struct pools_conf *cfg = NULL;
    struct timespec t0, t1;
    double ms;

    if (text == NULL)
        return;
    len = (size_t)snprintf(text, cap,
        "[global]\nprocess.max = 20000\n"
        "[vhost]\nistemplate = 1\ncommand = /usr/bin/php-cgi8.2\n"
        "user = php-$pool\nlisten.owner = www-data\nlisten.group = www-data\n"
        "pm.max_children = 20\npm.process_idle_timeout = 30s\n"
        "env[PATH] = /usr/bin:/bin\nenv[TMPDIR] = /home/$pool/tmp\n");
    for (i = 0; i < 500; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "[site%zu]\ntemplate = vhost\ngroup = site%zu"
                                "\nchroot = /home/site%zu\n", i, i, i);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pools_parse_string(text, len, "big.conf", &cfg, err, sizeof(err));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
         (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (ok(cfg != NULL, "500 pools of one template parse")) {
        const struct pools_pool *p = pools_find(cfg, "site499");

        diag("500 pools parsed in %.2f ms (%zu bytes of text)", ms, len);
        is_int(pools_count(cfg), 500, "500 pools");
        ok(p != NULL && strcmp(p->user, "php-site499") == 0 &&
           strcmp(p->listen.path, "/run/vhostfcgi/site499.sock") == 0 &&
           strcmp(env_get(p, "TMPDIR"), "/home/site499/tmp") == 0,
           "the last pool resolved");
        ok(pools_at(cfg, 0)->command == pools_at(cfg, 499)->command,
           "values without $pool are shared, not copied");
    } else {
        diag("%s", err);
    }
    pools_free(cfg);
    free(text);
}

int main(void)
{
    test_design_example();
    test_multilevel();
    test_template_after_use();
    test_errors_syntax();
    test_errors_semantic();
    test_errors_root();
    test_errors_pm();
    test_errors_listen();
    test_errors_resolve();
    test_quoting_comments();
    test_typed_values();
    test_listen_forms();
    test_resolve_ids();
    test_warnings();
    test_same();
    test_dump();
    test_edge_cases();
    test_500_pools();
    return done_testing();
}
