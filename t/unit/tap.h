/*
 * tap.h - a tiny Test Anything Protocol producer for the C unit tests.
 *
 *   plan(n);                       or no plan: done_testing() prints it
 *   ok(cond, "name %d", i);
 *   is_int(got, expected, "name");
 *   is_str(got, expected, "name");  NULL-safe
 *   is_mem(got, got_len, expected, expected_len, "name");
 *   diag("free text %s", why);     to stderr, "# " prefixed
 *   return done_testing();         exit status: 0 only if all passed
 *
 * Every check returns nonzero when it passed, so a test can stop early
 * ("if (!ok(...)) return;").  A failure prints the file and line of the
 * check, and for is_mem a hex dump of both sides with the first difference
 * marked.  Header-only: include it from exactly one file per test program.
 */
#ifndef TAP_H
#define TAP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#if defined(__GNUC__)
#define TAP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TAP_PRINTF(f, a)
#endif

static int tap_planned_ = -1;
static int tap_run_;
static int tap_failed_;

static inline void plan(int n)
{
    tap_planned_ = n;
    printf("1..%d\n", n);
    fflush(stdout);
}

static inline void tap_vdiag_(const char *fmt, va_list ap)
{
    char line[1024];
    const char *p = line, *nl;

    vsnprintf(line, sizeof(line), fmt, ap);
    fflush(stdout);
    do {
        nl = strchr(p, '\n');
        fprintf(stderr, "# %.*s\n", nl ? (int)(nl - p) : (int)strlen(p), p);
        p = nl ? nl + 1 : NULL;
    } while (p != NULL && *p != '\0');
    fflush(stderr);
}

static inline void diag(const char *fmt, ...) TAP_PRINTF(1, 2);
static inline void diag(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tap_vdiag_(fmt, ap);
    va_end(ap);
}

/* Prints the "ok N - name" line; returns pass. */
static inline int tap_result_(int pass, const char *file, int line,
                              const char *fmt, va_list ap)
{
    char name[512];

    vsnprintf(name, sizeof(name), fmt, ap);
    tap_run_++;
    if (!pass)
        tap_failed_++;
    printf("%sok %d - %s\n", pass ? "" : "not ", tap_run_, name);
    if (!pass)
        diag("  Failed test '%s'\n  at %s line %d.", name, file, line);
    return pass;
}

static inline int tap_ok_(int pass, const char *file, int line,
                          const char *fmt, ...) TAP_PRINTF(4, 5);
static inline int tap_ok_(int pass, const char *file, int line,
                          const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    pass = tap_result_(pass, file, line, fmt, ap);
    va_end(ap);
    return pass;
}

static inline int tap_is_int_(long long got, long long expected,
                              const char *file, int line,
                              const char *fmt, ...) TAP_PRINTF(5, 6);
static inline int tap_is_int_(long long got, long long expected,
                              const char *file, int line,
                              const char *fmt, ...)
{
    va_list ap;
    int pass;

    va_start(ap, fmt);
    pass = tap_result_(got == expected, file, line, fmt, ap);
    va_end(ap);
    if (!pass)
        diag("         got: %lld\n    expected: %lld", got, expected);
    return pass;
}

static inline int tap_is_str_(const char *got, const char *expected,
                              const char *file, int line,
                              const char *fmt, ...) TAP_PRINTF(5, 6);
static inline int tap_is_str_(const char *got, const char *expected,
                              const char *file, int line,
                              const char *fmt, ...)
{
    va_list ap;
    int pass;

    if (got == NULL || expected == NULL)
        pass = got == expected;
    else
        pass = strcmp(got, expected) == 0;
    va_start(ap, fmt);
    pass = tap_result_(pass, file, line, fmt, ap);
    va_end(ap);
    if (!pass)
        diag("         got: %s%s%s\n    expected: %s%s%s",
             got ? "'" : "", got ? got : "NULL", got ? "'" : "",
             expected ? "'" : "", expected ? expected : "NULL",
             expected ? "'" : "");
    return pass;
}

/* 16 bytes a line, hex then printable ASCII; "*" marks the line holding
 * the first difference. */
static inline void tap_hexdump_(const char *label, const unsigned char *p,
                                size_t len, size_t diff_at)
{
    size_t off, i;
    char line[128];
    int n;

    diag("  %s (%zu bytes):", label, len);
    for (off = 0; off < len; off += 16) {
        n = snprintf(line, sizeof(line), " %c%04zx ",
                     diff_at >= off && diff_at < off + 16 ? '*' : ' ', off);
        for (i = off; i < off + 16; i++) {
            if (i < len)
                n += snprintf(line + n, sizeof(line) - (size_t)n, "%02x ",
                              p[i]);
            else
                n += snprintf(line + n, sizeof(line) - (size_t)n, "   ");
        }
        for (i = off; i < off + 16 && i < len; i++)
            line[n++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '.';
        line[n] = '\0';
        diag("%s", line);
    }
}

static inline int tap_is_mem_(const void *got, size_t got_len,
                              const void *expected, size_t expected_len,
                              const char *file, int line,
                              const char *fmt, ...) TAP_PRINTF(7, 8);
static inline int tap_is_mem_(const void *got, size_t got_len,
                              const void *expected, size_t expected_len,
                              const char *file, int line,
                              const char *fmt, ...)
{
    const unsigned char *g = got, *e = expected;
    size_t diff = 0, common = got_len < expected_len ? got_len : expected_len;
    va_list ap;
    int pass;

    if (got == NULL || expected == NULL) {
        pass = got == expected && got_len == expected_len;
        common = 0;
    } else {
        while (diff < common && g[diff] == e[diff])
            diff++;
        pass = diff == common && got_len == expected_len;
    }
    va_start(ap, fmt);
    pass = tap_result_(pass, file, line, fmt, ap);
    va_end(ap);
    if (!pass) {
        diag("  first difference at offset %zu", diff);
        if (g != NULL)
            tap_hexdump_("got", g, got_len, diff);
        else
            diag("  got: NULL");
        if (e != NULL)
            tap_hexdump_("expected", e, expected_len, diff);
        else
            diag("  expected: NULL");
    }
    return pass;
}

#define ok(cond, ...) tap_ok_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, expected, ...) \
    tap_is_int_((long long)(got), (long long)(expected), \
                __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, expected, ...) \
    tap_is_str_((got), (expected), __FILE__, __LINE__, __VA_ARGS__)
#define is_mem(got, got_len, expected, expected_len, ...) \
    tap_is_mem_((got), (got_len), (expected), (expected_len), \
                __FILE__, __LINE__, __VA_ARGS__)

/* Prints the plan if none was given; returns the exit status. */
static inline int done_testing(void)
{
    if (tap_planned_ < 0)
        printf("1..%d\n", tap_run_);
    else if (tap_run_ != tap_planned_)
        diag("Looks like you planned %d tests but ran %d.", tap_planned_,
             tap_run_);
    if (tap_failed_ > 0)
        diag("Looks like you failed %d test%s of %d.", tap_failed_,
             tap_failed_ == 1 ? "" : "s", tap_run_);
    fflush(stdout);
    if (tap_failed_ > 0)
        return tap_failed_ < 255 ? tap_failed_ : 254;
    return tap_planned_ >= 0 && tap_run_ != tap_planned_ ? 255 : 0;
}

#endif /* TAP_H */
