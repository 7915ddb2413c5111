/*
 * make_corpus.c - writes the seed inputs of fcgi_proto_fuzz into a folder.
 *
 *   cc -Iproto fuzz/make_corpus.c proto/fcgi_proto.c -o build/fuzz/make_corpus
 *   build/fuzz/make_corpus fuzz/corpus
 *
 * Each seed is the fuzzer's input layout: a control byte (low 4 bits: how
 * many piece lengths follow; high 4 bits: header cap selector), the piece
 * lengths, then a backend's byte stream for request id 1.
 */
#include "fcgi_proto.h"

#include <stdio.h>
#include <string.h>

struct seed {
    uint8_t b[4096];
    size_t n;
};

static void control(struct seed *s, unsigned cap_sel, const uint8_t *lens,
                    unsigned n_lens)
{
    s->b[0] = (uint8_t)((cap_sel << 4) | n_lens);
    memcpy(s->b + 1, lens, n_lens);
    s->n = 1 + n_lens;
}

static void record(struct seed *s, unsigned type, unsigned id,
                   const void *content, size_t clen, size_t pad)
{
    fcgi_header_encode(s->b + s->n, type, id, (unsigned)clen, (unsigned)pad);
    s->n += FCGI_HEADER_LEN;
    if (clen > 0)
        memcpy(s->b + s->n, content, clen);
    s->n += clen;
    memset(s->b + s->n, 0, pad);
    s->n += pad;
}

static void text(struct seed *s, unsigned type, const char *t)
{
    record(s, type, 1, t, strlen(t), fcgi_padding_for(strlen(t)));
}

static void end(struct seed *s, uint32_t app, unsigned proto)
{
    fcgi_end_request_encode(s->b + s->n, 1, app, proto);
    s->n += FCGI_END_REQUEST_LEN;
}

static int save(const char *dir, const char *name, const struct seed *s)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(s->b, 1, s->n, f) != s->n || fclose(f) != 0) {
        perror(path);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const uint8_t lens3[] = { 1, 7, 30 };
    static const uint8_t lens5[] = { 0, 3, 8, 9, 64 };
    static const uint8_t result[] = {
        14, 2, 'F', 'C', 'G', 'I', '_', 'M', 'A', 'X', '_', 'C', 'O', 'N',
        'N', 'S', '1', '0',
        15, 1, 'F', 'C', 'G', 'I', '_', 'M', 'P', 'X', 'S', '_', 'C', 'O',
        'N', 'N', 'S', '0'
    };
    static const uint8_t unknown[] = { 99, 0, 0, 0, 0, 0, 0, 0 };
    static char cookie[200];
    const char *dir = argc > 1 ? argv[1] : "fuzz/corpus";
    struct seed s;
    int rc = 0;

    /* A plain PHP page. */
    control(&s, 12, lens3, 3);
    text(&s, FCGI_STDOUT, "X-Powered-By: PHP/8.2\r\nContent-Type: text/html;"
         " charset=UTF-8\r\n\r\n<html><body>hello</body></html>\n");
    record(&s, FCGI_STDOUT, 1, NULL, 0, 0);
    end(&s, 0, FCGI_REQUEST_COMPLETE);
    rc |= save(dir, "php-page", &s);

    /* Status, Location, cookies, stderr interleaved, odd padding. */
    control(&s, 9, lens5, 5);
    text(&s, FCGI_STDERR, "PHP Notice: Undefined index x\n");
    record(&s, FCGI_STDOUT, 1, "Status: 302 Found\nLocation: /a\n", 31, 200);
    text(&s, FCGI_STDOUT, "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n");
    record(&s, FCGI_STDERR, 1, NULL, 0, 0);
    record(&s, FCGI_STDOUT, 1, NULL, 0, 3);
    record(&s, FCGI_END_REQUEST, 1, "\0\0\0\1\0\0\0\0", 8, 5);
    rc |= save(dir, "redirect-stderr", &s);

    /* Management records: GET_VALUES_RESULT and UNKNOWN_TYPE. */
    control(&s, 3, lens3, 2);
    record(&s, FCGI_GET_VALUES_RESULT, 0, result, sizeof(result), 4);
    record(&s, FCGI_UNKNOWN_TYPE, 0, unknown, sizeof(unknown), 0);
    record(&s, FCGI_GET_VALUES_RESULT, 0, NULL, 0, 0);
    rc |= save(dir, "management", &s);

    /* Protocol errors. */
    control(&s, 4, NULL, 0);
    text(&s, FCGI_STDOUT, "Content-Type: text/plain\n\nok");
    s.b[s.n] = 2;   /* version 2 */
    s.n++;
    rc |= save(dir, "bad-version", &s);

    control(&s, 4, lens3, 1);
    text(&s, FCGI_STDOUT, "A: b\n\n");
    record(&s, FCGI_STDOUT, 1, NULL, 0, 0);
    text(&s, FCGI_STDOUT, "late");
    rc |= save(dir, "stdout-after-eof", &s);

    control(&s, 4, NULL, 0);
    text(&s, FCGI_STDOUT, "A: b\n\nbody");
    record(&s, FCGI_STDOUT, 1, NULL, 0, 0);
    end(&s, 0, FCGI_REQUEST_COMPLETE);
    text(&s, FCGI_STDOUT, "trailing");
    rc |= save(dir, "data-after-end", &s);

    control(&s, 4, NULL, 0);
    record(&s, FCGI_END_REQUEST, 1, "\0\0\0\0\0\0\0\0\0", 9, 0);
    rc |= save(dir, "end-request-length-9", &s);

    /* Header block errors inside good records. */
    control(&s, 5, lens5, 4);
    text(&s, FCGI_STDOUT, "Status: 200\r\nX-Bad: a\rb\r\n\r\n");
    record(&s, FCGI_STDOUT, 1, NULL, 0, 0);
    end(&s, 0, FCGI_REQUEST_COMPLETE);
    rc |= save(dir, "header-bare-cr", &s);

    control(&s, 2, lens3, 3);
    text(&s, FCGI_STDOUT, "Status: 200\n folded\nNo Colon\n\n");
    end(&s, 0, FCGI_OVERLOADED);
    rc |= save(dir, "header-obs-fold", &s);

    /* Cut in the middle of a record (EOF messages). */
    control(&s, 15, lens3, 3);
    record(&s, FCGI_STDOUT, 1, "Content-Type: a\n\n0123456789", 27, 5);
    s.n -= 12;
    rc |= save(dir, "truncated", &s);

    /* A PARAMS-like run of name-value pairs, for fcgi_nv_decode. */
    control(&s, 0, NULL, 0);
    s.n += fcgi_nv_encode(s.b + s.n, sizeof(s.b) - s.n, "SCRIPT_FILENAME",
                          15, "/srv/www/index.php", 18);
    s.n += fcgi_nv_encode(s.b + s.n, sizeof(s.b) - s.n, "QUERY_STRING", 12,
                          "", 0);
    memset(cookie, 'v', sizeof(cookie));
    s.n += fcgi_nv_encode(s.b + s.n, sizeof(s.b) - s.n, "HTTP_COOKIE", 11,
                          cookie, sizeof(cookie));
    rc |= save(dir, "nv-pairs", &s);
    return rc;
}
