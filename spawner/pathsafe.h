/*
 * pathsafe.h - is a path one that only root can change?
 *
 * The spawner runs as root and hands things at fixed paths to other users:
 * a chroot to jail a pool's workers in, a Unix socket that httpd connects
 * to believing it reaches that pool.  Either is only what it claims if no
 * pool user can rename, replace or redirect a directory on the way to it.
 */
#ifndef SPAWN_PATHSAFE_H
#define SPAWN_PATHSAFE_H

#include <stddef.h>
#include <sys/types.h>

/* Checks every directory above the last component of the absolute path
 * (not that component itself): each must be owned by root or by
 * also_uid, and not writable by group or others unless sticky (in a
 * sticky directory like /tmp nobody can replace root's entries).  A
 * symlink on the way is accepted when root or also_uid owns it, and the
 * directories of its target are checked the same way, so /var/run/x.sock
 * passes where /run and /var are root's.  Returns 0, or -1 with the
 * offending directory and the reason in why ("/srv/a is not owned by
 * root").  Pass also_uid 0 to require root. */
int path_dirs_safe(const char *path, uid_t also_uid, char *why,
                   size_t whylen);

#endif /* SPAWN_PATHSAFE_H */
