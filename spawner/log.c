/*
 * log.c - the logging facade: one sink chosen at startup, levels, and a
 * reopen for log rotation.  A line is formatted whole and written with one
 * write(2) to an O_APPEND descriptor, so lines from a reopen race or from
 * workers sharing the file never interleave mid-line.
 */
#define _GNU_SOURCE
#include "log.h"
#include "pathsafe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

enum log_sink {
    SINK_STDERR,
    SINK_FILE,
    SINK_SYSLOG
};

static struct {
    enum log_sink sink;
    int fd;                 /* SINK_FILE */
    char *path;             /* SINK_FILE */
    enum log_level level;
    int echo;               /* also stderr for warnings, until detached */
    int fd2_follows;        /* the daemon's fd 2 is a copy of fd */
} L = { SINK_STDERR, -1, NULL, LG_NOTICE, 0, 0 };

static const char *const level_names[] = {
    "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG"
};

static const int syslog_prio[] = {
    LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG
};

/* The spawner is root, and its log lines carry what workers print.  A
 * symlink planted where the log goes, by a user who may write that
 * directory, would have them appended to any file on the system; so a
 * symlink is followed only when root owns it and only root can change
 * the directories on the way to it (/dev/stderr, for a container's log
 * collector, is such a one). */
static int open_file(const char *path)
{
    const int flags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY;
    char why[PATH_MAX + 128];
    struct stat st;
    int fd = open(path, flags | O_NOFOLLOW, 0640);

    if (fd >= 0 || errno != ELOOP)
        return fd;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode) &&
        (st.st_uid == 0 || st.st_uid == geteuid()) &&
        path_dirs_safe(path, geteuid(), why, sizeof(why)) == 0)
        return open(path, flags, 0640);
    errno = ELOOP;
    return -1;
}

int log_init_main(const char *path, enum log_level level)
{
    L.level = level;
    if (path == NULL)
        return 0;
    L.fd = open_file(path);
    if (L.fd < 0) {
        fprintf(stderr, "vhostfcgi-spawn: cannot open error_log %s: %s\n",
                path, strerror(errno));
        return -1;
    }
    L.path = strdup(path);
    if (L.path == NULL) {
        close(L.fd);
        L.fd = -1;
        fprintf(stderr, "vhostfcgi-spawn: out of memory\n");
        return -1;
    }
    L.sink = SINK_FILE;
    L.echo = 1;
    return 0;
}

void log_detach(void)
{
    L.echo = 0;
    if (L.sink == SINK_FILE) {
        L.fd2_follows = dup2(L.fd, 2) == 2;
        return;
    }
    openlog("vhostfcgi-spawn", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    L.sink = SINK_SYSLOG;
}

/* Puts fd in place of the current file (same descriptor number when
 * possible) and keeps the daemon's fd 2 pointing at it. */
static void swap_fd(int fd)
{
    if (dup3(fd, L.fd, O_CLOEXEC) >= 0) {
        close(fd);
    } else {
        close(L.fd);
        L.fd = fd;
    }
    if (L.fd2_follows)
        dup2(L.fd, 2);
}

/* "2026-11-26 16:25:00.123 NOTICE: " */
static size_t stamp(char *buf, size_t len, enum log_level level)
{
    struct timeval tv;
    struct tm tm;
    size_t n;

    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    n = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    n += (size_t)snprintf(buf + n, len - n, ".%03ld %s: ",
                          (long)(tv.tv_usec / 1000), level_names[level]);
    return n < len ? n : len - 1;
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;                 /* nowhere left to complain */
        buf += n;
        len -= (size_t)n;
    }
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char line[2048];
    size_t n = 0;
    va_list ap;
    int saved = errno;
    int m;

    if (level > L.level)
        return;
    if (L.sink != SINK_SYSLOG)
        n = stamp(line, sizeof(line), level);
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += (size_t)m < sizeof(line) - n - 1 ? (size_t)m : sizeof(line) - n - 2;
    if (L.sink == SINK_SYSLOG) {
        syslog(syslog_prio[level], "%s", line);
        errno = saved;
        return;
    }
    line[n++] = '\n';
    write_all(L.sink == SINK_FILE ? L.fd : 2, line, n);
    if (L.sink == SINK_FILE && L.echo && level <= LG_WARNING)
        write_all(2, line, n);
    errno = saved;
}

void log_reopen(void)
{
    int fd;

    if (L.sink != SINK_FILE)
        return;
    fd = open_file(L.path);
    if (fd < 0) {
        log_error("cannot reopen error_log %s: %s; still writing to the "
                  "old file", L.path, strerror(errno));
        return;
    }
    swap_fd(fd);
    log_notice("error_log reopened");
}

void log_reconfigure(const char *path, enum log_level level)
{
    char *copy;
    int fd;

    L.level = level;
    if (path == NULL || (L.path != NULL && strcmp(path, L.path) == 0))
        return;
    if (L.sink != SINK_FILE) {
        log_warning("error_log %s: a running daemon without an error_log "
                    "keeps its sink; restart to log to a file", path);
        return;
    }
    fd = open_file(path);
    copy = fd >= 0 ? strdup(path) : NULL;
    if (copy == NULL) {
        log_error("cannot open new error_log %s: %s; still writing here",
                  path, fd >= 0 ? "out of memory" : strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    log_notice("error_log moves to %s", path);
    swap_fd(fd);
    free(L.path);
    L.path = copy;
}

void log_cleanup(void)
{
    if (L.sink == SINK_FILE)
        close(L.fd);
    if (L.sink == SINK_SYSLOG)
        closelog();
    free(L.path);
    L.path = NULL;
    L.fd = -1;
    L.sink = SINK_STDERR;
}
