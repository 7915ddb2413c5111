/*
 * log.h - the spawner's one logging facade (STYLE 13).
 *
 * The sink is chosen once at startup: stderr, the [global] error_log file,
 * or syslog for a daemon without error_log.  Until the daemon detaches,
 * warnings and errors written to a file are echoed on stderr too, so that
 * a failed start is visible where it was typed.  Messages about a pool
 * start with "[pool NAME] " (php-fpm's convention), so one grep finds all
 * of a site's history.
 */
#ifndef SPAWN_LOG_H
#define SPAWN_LOG_H

/* Same order as enum pools_log_level, so the config value maps directly. */
enum log_level {
    LG_ERROR,
    LG_WARNING,
    LG_NOTICE,
    LG_INFO,
    LG_DEBUG
};

/* path NULL: stderr.  Returns 0, or -1 with the reason on stderr. */
int log_init_main(const char *path, enum log_level level);

/* The daemon let go of its terminal (fd 0-2 are /dev/null): stop echoing
 * to stderr, point fd 2 at the log file so that stray library messages
 * are kept, or use syslog when there is no log file. */
void log_detach(void);

/* SIGUSR1 (logrotate): reopen the file at its path.  On failure the old
 * file stays in use and the failure is logged into it. */
void log_reopen(void);

/* A reload changed error_log or log_level. */
void log_reconfigure(const char *path, enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void log_cleanup(void);

#define log_error(...)   log_msg(LG_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LG_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LG_DEBUG, __VA_ARGS__)

#endif /* SPAWN_LOG_H */
