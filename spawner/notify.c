/*
 * notify.c - sd_notify(3) in a few lines.
 */
#include "notify.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static struct sockaddr_un addr;
static socklen_t addr_len;

void notify_init_main(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    size_t n;

    if (path == NULL || (path[0] != '/' && path[0] != '@') ||
        (n = strlen(path)) >= sizeof(addr.sun_path)) {
        unsetenv("NOTIFY_SOCKET");
        return;
    }
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, n);
    if (path[0] == '@')
        addr.sun_path[0] = '\0';    /* an abstract socket */
    addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    unsetenv("NOTIFY_SOCKET");
}

void notify_send(const char *state)
{
    int fd;

    if (addr_len == 0)
        return;
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    /* Best effort, never blocking: a listener that does not read (its
     * queue full) must not stop the spawner. */
    (void)sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
                 (struct sockaddr *)&addr, addr_len);
    close(fd);
}
