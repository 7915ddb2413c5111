/*
 * pathsafe.c - is a path one that only root can change?  (See pathsafe.h.)
 *
 * The walk is by prefixes, "/", "/a", "/a/b", each looked at with lstat(),
 * so a symlink is seen where it is rather than silently followed; the
 * prefixes after it resolve through it, which is what the kernel will do.
 * OpenSSH asks the same of a ChrootDirectory; we also accept a trusted
 * symlink, since /var/run -> /run is in half the paths admins write.
 */
#define _GNU_SOURCE
#include "pathsafe.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int trusted_owner(uid_t uid, uid_t also_uid)
{
    return uid == 0 || uid == also_uid;
}

/* Why the directory dir (st from lstat) is unsafe, or NULL. */
static const char *dir_problem(const struct stat *st, uid_t also_uid)
{
    if (!S_ISDIR(st->st_mode))
        return "not a directory";
    if (!trusted_owner(st->st_uid, also_uid))
        return "not owned by root";
    if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX))
        return "writable by group or others";
    return NULL;
}

/* Checks the prefixes of path that end before a '/', and path itself
 * when whole is set.  depth bounds the symlink targets looked into (a
 * realpath() has no symlinks, so one level is all a walk ever needs). */
static int walk(const char *path, int whole, uid_t also_uid, int depth,
                char *why, size_t whylen)
{
    char dir[PATH_MAX];
    size_t len;
    struct stat st;

    for (len = 1; ; len++) {
        int at_end = path[len] == '\0';

        if (len > 1 && !at_end && path[len] != '/')
            continue;
        if (at_end && (!whole || (len > 1 && path[len - 1] == '/')))
            return 0;
        if (len >= sizeof(dir)) {
            snprintf(why, whylen, "%.64s...: path too long", path);
            return -1;
        }
        memcpy(dir, path, len);             /* "/", then "/a", "/a/b"... */
        dir[len] = '\0';
        if (lstat(dir, &st) < 0) {
            snprintf(why, whylen, "%s: %s", dir, strerror(errno));
            return -1;
        }
        if (S_ISLNK(st.st_mode)) {
            char *target;
            int rc;

            if (!trusted_owner(st.st_uid, also_uid) || depth > 0) {
                snprintf(why, whylen, "%s is a symlink not owned by root",
                         dir);
                return -1;
            }
            if ((target = realpath(dir, NULL)) == NULL) {
                snprintf(why, whylen, "%s: %s", dir, strerror(errno));
                return -1;
            }
            rc = walk(target, 1, also_uid, depth + 1, why, whylen);
            free(target);
            if (rc < 0)
                return -1;
        } else {
            const char *problem = dir_problem(&st, also_uid);

            if (problem != NULL) {
                snprintf(why, whylen, "%s is %s", dir, problem);
                return -1;
            }
        }
        if (at_end)
            return 0;
    }
}

int path_dirs_safe(const char *path, uid_t also_uid, char *why,
                   size_t whylen)
{
    if (path[0] != '/') {
        snprintf(why, whylen, "%s is not an absolute path", path);
        return -1;
    }
    return walk(path, 0, also_uid, 0, why, whylen);
}
