/*
 * output.h - catch_workers_output: a worker's stdout and stderr go to a
 * pipe whose lines the spawner logs as "[pool NAME] worker PID said: ...".
 * (php-cgi sends a request's errors to the web server as FCGI_STDERR; what
 * reaches this pipe is startup trouble such as a missing extension.)
 */
#ifndef SPAWN_OUTPUT_H
#define SPAWN_OUTPUT_H

struct worker;

/* The pipe is readable: logs every complete line; closes it at EOF. */
void out_read(struct worker *w);

/* The worker was reaped: reads what is left, logs a partial last line,
 * closes the pipe. */
void out_flush(struct worker *w);

#endif /* SPAWN_OUTPUT_H */
