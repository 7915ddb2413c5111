/*
 * output.c - worker output to the log, line by line.
 */
#include "output.h"
#include "log.h"
#include "spawner.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void say(const struct worker *w, const char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
        len--;
    if (len > 0)
        log_warning("[pool %s] worker %d said: %.*s", w->pool->name,
                    (int)w->pid, (int)len, line);
}

/* Logs the complete lines in the buffer (all of it when full or final)
 * and keeps the rest. */
static void emit(struct worker *w, int final)
{
    struct wout *o = w->out;
    size_t start = 0, i;

    for (i = 0; i < o->len; i++) {
        if (o->buf[i] == '\n') {
            say(w, o->buf + start, i - start);
            start = i + 1;
        }
    }
    if (start == 0 && (final || o->len == sizeof(o->buf))) {
        say(w, o->buf, o->len);
        start = o->len;
    } else if (final && start < o->len) {
        say(w, o->buf + start, o->len - start);
        start = o->len;
    }
    memmove(o->buf, o->buf + start, o->len - start);
    o->len -= start;
}

static void close_out(struct worker *w)
{
    close(w->out->fd);
    free(w->out);
    w->out = NULL;
}

/* Returns 1 at EOF or error, 0 when the pipe is empty for now. */
static int drain(struct worker *w)
{
    struct wout *o = w->out;

    for (;;) {
        ssize_t n = read(o->fd, o->buf + o->len, sizeof(o->buf) - o->len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0)
            return 1;
        o->len += (size_t)n;
        w->out_bytes += (uint64_t)n;
        emit(w, 0);
    }
}

void out_read(struct worker *w)
{
    if (w->out == NULL)
        return;
    if (drain(w)) {
        emit(w, 1);
        close_out(w);
    }
}

void out_flush(struct worker *w)
{
    if (w->out == NULL)
        return;
    drain(w);
    emit(w, 1);
    close_out(w);
}
