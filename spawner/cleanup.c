/*
 * cleanup.c - a LIFO list of release functions run at exit.
 */
#include "cleanup.h"

#include <stdlib.h>

struct cln {
    cln_fn fn;
    void *arg;
    struct cln *next;
};

static struct cln *stack;

int cln_add(cln_fn fn, void *arg)
{
    struct cln *c = malloc(sizeof(*c));

    if (c == NULL) {
        fn(arg);
        return -1;
    }
    c->fn = fn;
    c->arg = arg;
    c->next = stack;
    stack = c;
    return 0;
}

void cln_run(void)
{
    while (stack != NULL) {
        struct cln *c = stack;

        stack = c->next;
        c->fn(c->arg);
        free(c);
    }
}
