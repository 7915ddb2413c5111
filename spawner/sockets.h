/*
 * sockets.h - the pools' listening sockets.
 *
 * One struct lsock per listen address, shared by reference: a pool that a
 * reload restarts hands its socket to its successor, so connections that
 * wait in the backlog during the switch are served by the new workers and
 * none is refused.  A socket is only ever handed on between pools of the
 * same name: a worker of one site must never accept a connection meant
 * for another.
 *
 * Unix sockets are created with mode 0 (umask 0777 around bind) and get
 * their owner, group and mode before listen(), so no one but root can
 * connect before the permissions are right.  The spawner never accepts on
 * them and never sets O_NONBLOCK: the flag would be shared with the
 * workers, whose blocking accept() on fd 0 is how they wait.
 */
#ifndef SPAWN_SOCKETS_H
#define SPAWN_SOCKETS_H

#include "pools_conf.h"

#include <sys/types.h>

struct lsock {
    int fd;
    struct pools_listen addr;       /* addr.path points to path */
    char *path;                     /* unix: our copy */
    char *owner;                    /* the pool name it belongs to */
    char name[128];                 /* for messages: path or host:port */
    ino_t sock_ino;                 /* the socket's inode, for sock_diag */
    dev_t file_dev;                 /* unix: the socket file we made */
    ino_t file_ino;
    uid_t born_uid;                 /* its owner and group as bind made */
    gid_t born_gid;                 /* them: what unset listen.* mean */
    int unlinked;
    unsigned refs;
    struct lsock *next;
};

/* The socket for a pool: the pool's current one when the address is the
 * same (one more reference; lsock_configure() applies the new owner, mode
 * and backlog at commit), or a newly bound one (permissions applied).
 * conf_path names the file in errors, which read "FILE:LINE: listen:
 * [pool NAME] ...".  Returns 0, or -1 with err set. */
int lsock_acquire(const struct pools_pool *cf, const char *conf_path,
                  struct lsock **out, char *err, size_t errlen);

/* Applies listen.owner, listen.group, listen.mode and listen.backlog to a
 * socket a pool keeps across a reload. */
void lsock_configure(struct lsock *s, const struct pools_pool *cf);

/* Removes a Unix socket's path now, if it is still the file we created;
 * the descriptor stays open for the workers draining it. */
void lsock_unlink(struct lsock *s);

/* Drops one reference; the last one unlinks the path and closes. */
void lsock_release(struct lsock *s);

/* Prepares a Unix socket path for bind(): a stale socket (nobody
 * listening) is removed, and *was_stale set.  Returns NULL, or why the
 * path cannot be used: a live socket (another server), or a file that is
 * not a socket.  With was_stale NULL (the pools' sockets) a live socket
 * is given the time set by lsock_wait_for_orphans() to go stale. */
const char *lsock_clear_stale(const char *path, int *was_stale);

/* The status socket was stale: a spawner died here without cleaning up,
 * and its workers - still listening on the pools' sockets - are finishing
 * their last request.  Their sockets get up to `ms` to go stale. */
void lsock_wait_for_orphans(int ms);

/* Exit: unlinks and closes whatever is still open. */
void lsock_cleanup_all(void *unused);

#endif /* SPAWN_SOCKETS_H */
