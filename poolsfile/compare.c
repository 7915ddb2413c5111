/*
 * compare.c - whether a pool changed between two files (a reload
 * restarts only those), and a listen address as a sockaddr.
 */
#include "internal.h"

static int str_eq(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int path_eq(const char *a, const char *b)
{
    for (;;) {
        while (a[0] == '/' && a[1] == '/')
            a++;
        while (b[0] == '/' && b[1] == '/')
            b++;
        if (*a != *b)
            return 0;
        if (*a == '\0')
            return 1;
        a++;
        b++;
    }
}

static int listen_eq(const struct pools_listen *a,
                     const struct pools_listen *b)
{
    if (a->kind != b->kind)
        return 0;
    if (a->kind == POOLS_LISTEN_UNIX)
        return path_eq(a->path, b->path);
    return a->family == b->family && a->port == b->port &&
           memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

static int env_eq(const struct pools_pool *a, const struct pools_pool *b)
{
    size_t i, j;

    if (a->nenv != b->nenv)
        return 0;
    for (i = 0; i < a->nenv; i++) {
        for (j = 0; j < b->nenv; j++)
            if (strcmp(a->env[i].name, b->env[j].name) == 0)
                break;
        if (j == b->nenv || strcmp(a->env[i].value, b->env[j].value) != 0)
            return 0;
    }
    return 1;
}

static int args_eq(const struct pools_pool *a, const struct pools_pool *b)
{
    size_t i;

    if (a->nargs != b->nargs)
        return 0;
    for (i = 0; i < a->nargs; i++)
        if (strcmp(a->args[i], b->args[i]) != 0)
            return 0;
    return 1;
}

int pools_same(const struct pools_pool *a, const struct pools_pool *b)
{
    if (a->ids_resolved && b->ids_resolved &&
        (a->uid != b->uid || a->gid != b->gid ||
         a->listen_uid != b->listen_uid || a->listen_gid != b->listen_gid))
        return 0;
    return str_eq(a->name, b->name) && str_eq(a->command, b->command) &&
           args_eq(a, b) && listen_eq(&a->listen, &b->listen) &&
           str_eq(a->listen_owner, b->listen_owner) &&
           str_eq(a->listen_group, b->listen_group) &&
           a->listen_mode == b->listen_mode &&
           a->listen_backlog == b->listen_backlog &&
           str_eq(a->user, b->user) && str_eq(a->group, b->group) &&
           str_eq(a->chroot, b->chroot) && str_eq(a->chdir, b->chdir) &&
           a->clear_env == b->clear_env && a->pm == b->pm &&
           a->max_children == b->max_children &&
           a->start_servers == b->start_servers &&
           a->min_spare_servers == b->min_spare_servers &&
           a->max_spare_servers == b->max_spare_servers &&
           a->process_idle_timeout_ms == b->process_idle_timeout_ms &&
           a->max_requests == b->max_requests &&
           a->request_terminate_timeout_ms ==
               b->request_terminate_timeout_ms &&
           a->rlimit_files == b->rlimit_files &&
           a->rlimit_core == b->rlimit_core &&
           a->catch_workers_output == b->catch_workers_output &&
           env_eq(a, b);
}

int pools_listen_sockaddr(const struct pools_listen *l,
                          struct sockaddr_storage *ss, socklen_t *sslen)
{
    memset(ss, 0, sizeof(*ss));
    if (l->kind == POOLS_LISTEN_UNIX) {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        size_t n = strlen(l->path);

        if (n > SUN_PATH_MAX)
            return -1;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, l->path, n + 1);
        *sslen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    } else if (l->family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)l->port);
        memcpy(&in6->sin6_addr, l->addr, 16);
        *sslen = sizeof(*in6);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;

        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)l->port);
        memcpy(&in->sin_addr, l->addr, 4);
        *sslen = sizeof(*in);
    }
    return 0;
}

