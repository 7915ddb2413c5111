/*
 * output.c - worker output to the log, line by line.
 *
 * The output is the tenant's: a script can write to stderr as fast as
 * the pipe takes it.  So each wakeup reads a bounded amount (epoll is
 * level-triggered: the rest waits for the next turn of the loop, after
 * signals, timers and the other pools), each worker has a budget of lines
 * per second, the lines over it are counted, not logged, and control
 * bytes are escaped before they reach the log or a terminal.
 */
#include "output.h"
#include "clock.h"
#include "log.h"
#include "spawner.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_PER_WAKEUP     (16 * 1024)
#define READ_AT_EXIT        (1024 * 1024)   /* a grandchild may hold it */
#define LINES_PER_SECOND    50

static void note_dropped(struct worker *w)
{
    struct wout *o = w->out;

    if (o->dropped > 0) {
        log_warning("[pool %s] worker %d: %llu more lines of output not "
                    "logged (over %d a second)", w->pool->name, (int)w->pid,
                    (unsigned long long)o->dropped, LINES_PER_SECOND);
        o->dropped = 0;
    }
}

/* Whether this second's budget has room for one more line. */
static int budget(struct worker *w)
{
    struct wout *o = w->out;
    int64_t now = clock_ms();

    if (now - o->window_ms >= 1000) {
        note_dropped(w);
        o->window_ms = now;
        o->lines = 0;
    }
    if (o->lines >= LINES_PER_SECOND) {
        o->dropped++;
        return 0;
    }
    o->lines++;
    return 1;
}

static void say(struct worker *w, const char *line, size_t len)
{
    char clean[sizeof(w->out->buf) * 4 + 1];
    size_t i, n = 0;

    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
        len--;
    if (len == 0 || !budget(w))
        return;
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)line[i];

        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            n += (size_t)snprintf(clean + n, sizeof(clean) - n, "\\x%02x",
                                  ch);
        else
            clean[n++] = (char)ch;
    }
    clean[n] = '\0';
    log_warning("[pool %s] worker %d said: %s", w->pool->name, (int)w->pid,
                clean);
}

/* Logs the complete lines in the buffer (all of it when full or final)
 * and keeps the rest. */
static void emit(struct worker *w, int final)
{
    struct wout *o = w->out;
    size_t start = 0, i;

    if (o->discard) {
        o->len = 0;
        return;
    }
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

/* Reads at most max bytes.  Returns 1 at EOF or error, 0 when the pipe
 * is empty for now or the bound is reached. */
static int drain(struct worker *w, size_t max)
{
    struct wout *o = w->out;
    size_t got = 0;

    while (got < max) {
        ssize_t n = read(o->fd, o->buf + o->len, sizeof(o->buf) - o->len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0)
            return 1;
        got += (size_t)n;
        o->len += (size_t)n;
        w->out_bytes += (uint64_t)n;
        emit(w, 0);
    }
    return 0;
}

void out_read(struct worker *w)
{
    if (w->out == NULL)
        return;
    if (drain(w, READ_PER_WAKEUP)) {
        emit(w, 1);
        note_dropped(w);
        close_out(w);
    }
}

void out_flush(struct worker *w)
{
    if (w->out == NULL)
        return;
    drain(w, READ_AT_EXIT);
    emit(w, 1);
    note_dropped(w);
    close_out(w);
}
