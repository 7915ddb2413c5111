/*
 * vf_members.c - BalancerMember lines that mod_proxy would quietly merge.
 *
 * mod_proxy finds a balancer's members by their URL without the
 * "unix:/path|" part: it compares only what follows the '|', by longest
 * prefix.  So of
 *
 *     BalancerMember unix:/run/php/a.sock|fcgi://localhost
 *     BalancerMember unix:/run/php/b.sock|fcgi://localhost
 *
 * the second line is taken for the first member ("Sharing worker", at
 * LogLevel info only): the balancer has one member, b.sock never gets a
 * request, and failover to it never happens.  An admin who wrote two
 * members for two local pools learns it only when a.sock goes down.
 *
 * This module is loaded after mod_proxy (it needs its symbols), so httpd
 * asks it first about each BalancerMember line.  It looks the line up as
 * mod_proxy is about to, with mod_proxy's own lookup, reports a merge of
 * two different sockets as a configuration error, and always declines the
 * line: mod_proxy still defines every member itself.
 */
#include "mod_vhostfcgi.h"
#include "mod_proxy.h"

#include "apr_strings.h"
#include "apr_uri.h"

/* The socket a "unix:PATH|..." URL names, as mod_proxy resolves it (a
 * relative path is under DefaultRuntimeDir); "" for any other URL. */
static const char *socket_of(apr_pool_t *p, const char *url)
{
    const char *bar;
    apr_uri_t uri;

    if (ap_cstr_casecmpn(url, "unix:", 5)
        || !(bar = ap_strchr_c(url + 5, '|'))
        || apr_uri_parse(p, apr_pstrmemdup(p, url, bar - url), &uri)
        || !uri.path) {
        return "";
    }
    return ap_runtime_dir_relative(p, uri.path);
}

/* The balancer's name and the member's URL from the line's words, as
 * mod_proxy reads them (key=value words are parameters).  Returns 0 when
 * the line is not one mod_proxy would accept: its own error says why. */
static int member_words(cmd_parms *cmd, const char *args,
                        const char **balancer, const char **url)
{
    *balancer = cmd->path;
    *url = NULL;
    while (*args) {
        const char *word = ap_getword_conf(cmd->temp_pool, &args);

        if (ap_strchr_c(word, '=')) {
            continue;
        }
        if (!*balancer) {
            *balancer = word;
        }
        else if (!*url) {
            *url = word;
        }
        else {
            return 0;
        }
    }
    return *balancer && *url;
}

const char *vf_member_merged(cmd_parms *cmd, const char *args)
{
    proxy_server_conf *pc = ap_get_module_config(cmd->server->module_config,
                                                 &proxy_module);
    const char *name, *url, *real, *mine, *theirs;
    proxy_balancer *b;
    proxy_worker *w;

    if (!member_words(cmd, args, &name, &url)
        || !(real = ap_proxy_de_socketfy(cmd->temp_pool, url))
        || !(b = ap_proxy_get_balancer(cmd->temp_pool, pc, name, 0))
        || !(w = ap_proxy_get_worker(cmd->temp_pool, b, pc, real))) {
        return NULL;
    }
    mine = socket_of(cmd->temp_pool, url);
    theirs = w->s->uds_path;
    if (!strcmp(mine, theirs)) {
        return NULL;            /* the same backend named twice: harmless */
    }
    return apr_psprintf(cmd->pool, "BalancerMember %s: mod_proxy would take "
                        "it for %s, the member of %s with the same name "
                        "after a unix: socket's '|', and %s would never get "
                        "a request; give each Unix-socket member a name of "
                        "its own after the '|', as in "
                        "unix:/run/php/b.sock|fcgi://b", url,
                        ap_proxy_worker_name(cmd->temp_pool, w), b->s->name,
                        *mine ? mine : real);
}
