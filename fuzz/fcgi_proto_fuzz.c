/*
 * fcgi_proto_fuzz.c - libFuzzer target for the decoding half of
 * proto/fcgi_proto.c: the record parser, the CGI header block parser and the
 * name-value pair decoder.
 *
 *   mkdir -p build/fuzz
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iproto \
 *       fuzz/fcgi_proto_fuzz.c proto/fcgi_proto.c -o build/fuzz/fcgi_proto_fuzz
 *   build/fuzz/fcgi_proto_fuzz -max_total_time=120 fuzz/corpus
 *
 * Input layout (fuzz/make_corpus.c writes seeds in it):
 *   byte 0      low 4 bits: n, the number of piece lengths that follow;
 *               high 4 bits: selects the header block cap
 *   bytes 1..n  piece lengths (0..255), used in turn to cut the stream
 *   the rest    the byte stream a backend sent for request id 1
 *
 * The stream is parsed three ways: all at once, one byte at a time, and in
 * the fuzzer-chosen pieces.  All three must give the same STDOUT, STDERR
 * and management bytes, the same event sequence (data slices coalesced),
 * the same final event and the same error or EOF message.  Every slice
 * must lie inside the buffer it came from, each piece being a heap block
 * of exactly its size so ASan catches any read past it.  The STDOUT bytes
 * (and the raw stream) then go through the CGI header parser whole, byte
 * by byte and in pieces, which must agree and store only valid pairs, and
 * through fcgi_nv_decode, whose results must be self-consistent.
 */
#include "fcgi_proto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, ...) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, \
                    __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__); \
            fputc('\n', stderr); \
            abort(); \
        } \
    } while (0)

struct pieces {
    const uint8_t *lens;        /* NULL: one byte at a time */
    size_t n_lens;              /* 0 with lens set: all at once */
};

/* Length of the next piece: cycles through the lens.  0-length pieces are
 * fed too (they must be harmless), but a full cycle of them becomes one
 * byte so the input always advances. */
static size_t next_piece(const struct pieces *pc, size_t *k, size_t *zeros,
                         size_t left)
{
    size_t n;

    if (pc->lens == NULL)
        n = 1;
    else if (pc->n_lens == 0)
        n = left;
    else
        n = pc->lens[(*k)++ % pc->n_lens];
    if (n == 0 && left > 0 && ++*zeros > pc->n_lens)
        n = 1;
    if (n > 0)
        *zeros = 0;
    return n < left ? n : left;
}

struct result {
    uint8_t *out, *err, *mgmt;
    size_t out_len, err_len, mgmt_len;
    uint64_t events;            /* FNV-1a of the event letters */
    size_t n_events;
    char last_event;
    enum fcgi_event_kind final;
    uint32_t app_status;
    unsigned protocol_status;
    char error[128];
    const char *eof;
    char eof_msg[128];
    unsigned long long records;
};

/* One letter per run of same-kind data slices ('O', 'R', 'M'), '.' after
 * a slice with last set, 'E' STDOUT_EOF, 'X' END_REQUEST, '!' ERROR. */
static void add_event(struct result *r, char c, int coalesce)
{
    if (coalesce && r->last_event == c)
        return;
    r->last_event = c;
    r->events = (r->events ^ (uint8_t)c) * 0x100000001b3ull;
    r->n_events++;
}

static void add_data(struct result *r, uint8_t *dst, size_t *dst_len,
                     const struct fcgi_event *ev, const uint8_t *buf,
                     size_t len, char c)
{
    if (ev->len > 0) {
        CHECK(ev->data >= buf && ev->len <= len
              && (size_t)(ev->data - buf) <= len - ev->len,
              "slice outside the buffer");
        memcpy(dst + *dst_len, ev->data, ev->len);
        *dst_len += ev->len;
    }
    add_event(r, c, 1);
    if (ev->last)
        add_event(r, '.', 0);
}

static void run_parse(const uint8_t *s, size_t len, const struct pieces *pc,
                      struct result *r)
{
    struct fcgi_parser p;
    struct fcgi_event ev;
    size_t at = 0, k = 0, zeros = 0;
    int done = 0;

    memset(r, 0, sizeof(*r));
    r->events = 0xcbf29ce484222325ull;
    r->out = malloc(len + 1);
    r->err = malloc(len + 1);
    r->mgmt = malloc(len + 1);
    fcgi_parser_init(&p, 1);
    while (!done) {
        size_t n = next_piece(pc, &k, &zeros, len - at), used = 0;
        uint8_t *piece = malloc(n > 0 ? n : 1);

        memcpy(piece, s + at, n);
        for (;;) {
            size_t got = fcgi_parse(&p, piece + used, n - used, &ev);

            CHECK(got <= n - used, "consumed %zu of %zu", got, n - used);
            switch (ev.kind) {
            case FCGI_EV_NONE:
                CHECK(used + got == n, "NONE with input left");
                break;
            case FCGI_EV_STDOUT:
                CHECK(ev.len > 0, "empty STDOUT slice");
                add_data(r, r->out, &r->out_len, &ev, piece + used,
                         n - used, 'O');
                break;
            case FCGI_EV_STDERR:
                CHECK(ev.len > 0, "empty STDERR slice");
                add_data(r, r->err, &r->err_len, &ev, piece + used,
                         n - used, 'R');
                break;
            case FCGI_EV_MANAGEMENT:
                CHECK(ev.type == FCGI_GET_VALUES_RESULT
                      || ev.type == FCGI_UNKNOWN_TYPE, "management type");
                add_data(r, r->mgmt, &r->mgmt_len, &ev, piece + used,
                         n - used, 'M');
                break;
            case FCGI_EV_STDOUT_EOF:
                add_event(r, 'E', 0);
                break;
            case FCGI_EV_END_REQUEST:
                CHECK(p.state == FCGI_ST_DONE, "END_REQUEST but not DONE");
                if (r->final != FCGI_EV_END_REQUEST) {
                    add_event(r, 'X', 0);
                    r->app_status = ev.app_status;
                    r->protocol_status = ev.protocol_status;
                }
                r->final = FCGI_EV_END_REQUEST;
                break;
            case FCGI_EV_ERROR:
                CHECK(p.state == FCGI_ST_ERROR, "ERROR but state %d",
                      (int)p.state);
                CHECK(p.error[0] != '\0', "ERROR without a message");
                add_event(r, '!', 0);
                r->final = FCGI_EV_ERROR;
                memcpy(r->error, p.error, sizeof(r->error));
                break;
            }
            /* Every event but a repeated final state consumes a byte. */
            CHECK(got > 0 || ev.kind == FCGI_EV_NONE
                  || ev.kind == FCGI_EV_END_REQUEST
                  || ev.kind == FCGI_EV_ERROR, "event without progress");
            used += got;
            if (ev.kind == FCGI_EV_ERROR) {
                /* Sticky: nothing more is consumed. */
                CHECK(fcgi_parse(&p, piece, n, &ev) == 0
                      && ev.kind == FCGI_EV_ERROR, "error not sticky");
                done = 1;
                break;
            }
            if (ev.kind == FCGI_EV_NONE
                || (ev.kind == FCGI_EV_END_REQUEST && used == n))
                break;
        }
        free(piece);
        at += n;
        if (at == len)
            done = 1;
    }
    r->records = p.records;
    r->eof = fcgi_parser_eof(&p);
    if (r->eof != NULL)
        snprintf(r->eof_msg, sizeof(r->eof_msg), "%s", r->eof);
    CHECK((r->eof == NULL) == (p.state == FCGI_ST_DONE),
          "EOF clean only when DONE");
}

static void free_result(struct result *r)
{
    free(r->out);
    free(r->err);
    free(r->mgmt);
}

static void same_result(const struct result *a, const struct result *b,
                        const char *how)
{
    CHECK(a->out_len == b->out_len && memcmp(a->out, b->out, a->out_len) == 0,
          "%s: STDOUT differs", how);
    CHECK(a->err_len == b->err_len && memcmp(a->err, b->err, a->err_len) == 0,
          "%s: STDERR differs", how);
    CHECK(a->mgmt_len == b->mgmt_len
          && memcmp(a->mgmt, b->mgmt, a->mgmt_len) == 0,
          "%s: management bytes differ", how);
    CHECK(a->n_events == b->n_events && a->events == b->events,
          "%s: event sequences differ", how);
    CHECK(a->final == b->final, "%s: final %d vs %d", how, (int)a->final,
          (int)b->final);
    CHECK(a->app_status == b->app_status
          && a->protocol_status == b->protocol_status,
          "%s: END_REQUEST statuses differ", how);
    CHECK(strcmp(a->error, b->error) == 0, "%s: errors differ: %s vs %s",
          how, a->error, b->error);
    CHECK((a->eof == NULL) == (b->eof == NULL)
          && strcmp(a->eof_msg, b->eof_msg) == 0,
          "%s: EOF messages differ: %s vs %s", how, a->eof_msg, b->eof_msg);
    CHECK(a->records == b->records, "%s: record counts differ", how);
}

/* ---- CGI header block ---- */

struct hdr_result {
    struct fcgi_cgi_headers h;
    char *buf;
    enum fcgi_hdr_result r;
    size_t consumed;
};

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9')
           || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void run_headers(const uint8_t *s, size_t len, size_t cap,
                        const struct pieces *pc, struct hdr_result *hr)
{
    size_t at = 0, k = 0, zeros = 0;

    hr->buf = malloc(cap > 0 ? cap : 1);
    fcgi_cgi_headers_init(&hr->h, hr->buf, cap);
    hr->r = FCGI_HDR_AGAIN;
    while (hr->r == FCGI_HDR_AGAIN && at < len) {
        size_t n = next_piece(pc, &k, &zeros, len - at), used = 99;
        uint8_t *piece = malloc(n > 0 ? n : 1);

        memcpy(piece, s + at, n);
        hr->r = fcgi_cgi_headers_feed(&hr->h, piece, n, &used);
        free(piece);
        CHECK(used <= n, "header parser consumed too much");
        CHECK(hr->r != FCGI_HDR_AGAIN || used == n, "AGAIN with input left");
        CHECK(hr->h.len <= cap, "stored more than cap");
        CHECK(hr->h.block_bytes <= cap || hr->r == FCGI_HDR_ERROR,
              "raw bytes over cap without an error");
        at += used;
    }
    hr->consumed = at;
}

static void check_pairs(const struct hdr_result *hr)
{
    size_t cursor = 0, count = 0, prev = 0;
    const char *name, *value;

    while (fcgi_cgi_header_next(&hr->h, &cursor, &name, &value)) {
        const char *v;

        CHECK(cursor > prev && cursor <= hr->h.len, "cursor did not advance");
        prev = cursor;
        CHECK(name[0] != '\0', "empty name stored");
        for (; *name; name++)
            CHECK(is_tchar((unsigned char)*name), "non-token name byte");
        for (v = value; *v; v++)
            CHECK((unsigned char)*v >= 0x20 || *v == '\t', "control in value");
        CHECK(*value != ' ' && *value != '\t', "leading blank kept");
        CHECK(v == value || (v[-1] != ' ' && v[-1] != '\t'),
              "trailing blank kept");
        count++;
    }
    if (hr->r == FCGI_HDR_DONE)
        CHECK(count == hr->h.count && cursor == hr->h.len,
              "walked %zu pairs, count %u", count, hr->h.count);
    else
        CHECK(count == hr->h.count, "walked %zu, stored %u", count,
              hr->h.count);
}

static void fuzz_headers(const uint8_t *s, size_t len, size_t cap,
                         const struct pieces *pc)
{
    static const struct pieces whole = { (const uint8_t *)"", 0 };
    static const struct pieces bytes = { NULL, 0 };
    struct hdr_result a, b, c;

    run_headers(s, len, cap, &whole, &a);
    run_headers(s, len, cap, &bytes, &b);
    run_headers(s, len, cap, pc, &c);
    check_pairs(&a);
    CHECK(a.r == b.r && a.r == c.r, "header results differ");
    CHECK(a.consumed == b.consumed && a.consumed == c.consumed,
          "header consumed differs");
    CHECK(strcmp(a.h.error, b.h.error) == 0
          && strcmp(a.h.error, c.h.error) == 0, "header errors differ");
    CHECK(a.h.len == b.h.len && a.h.len == c.h.len
          && memcmp(a.buf, b.buf, a.h.len) == 0
          && memcmp(a.buf, c.buf, a.h.len) == 0, "stored pairs differ");
    CHECK(a.r != FCGI_HDR_ERROR || a.h.error[0] != '\0', "no message");
    free(a.buf);
    free(b.buf);
    free(c.buf);
}

/* ---- name-value pairs ---- */

static void fuzz_nv(const uint8_t *s, size_t len)
{
    size_t at = 0;

    while (at < len) {
        const char *name, *value;
        size_t nl, vl, n, m;
        uint8_t *copy, *again;

        n = fcgi_nv_decode(s + at, len - at, &name, &nl, &value, &vl);
        CHECK(n != FCGI_NV_BAD, "FCGI_NV_BAD on a 64-bit size_t");
        if (n == 0)
            break;
        CHECK(n <= len - at, "pair longer than the buffer");
        CHECK((const uint8_t *)name >= s + at
              && (const uint8_t *)value + vl == s + at + n
              && (const uint8_t *)name + nl == (const uint8_t *)value,
              "pair pointers");
        /* The exact pair decodes the same; one byte less needs more. */
        copy = malloc(n);
        memcpy(copy, s + at, n);
        CHECK(fcgi_nv_decode(copy, n, &name, &nl, &value, &vl) == n,
              "exact-size decode");
        CHECK(fcgi_nv_decode(copy, n - 1, &name, &nl, &value, &vl) == 0,
              "truncated decode");
        /* Re-encoding (minimal form) decodes to the same name and value. */
        m = fcgi_nv_len(nl, vl);
        again = malloc(m);
        CHECK(fcgi_nv_encode(again, m, name, nl, value, vl) == m, "encode");
        CHECK(fcgi_nv_encode(again, m - 1, name, nl, value, vl) == 0,
              "encode short");
        {
            const char *n2, *v2;
            size_t nl2, vl2;

            CHECK(fcgi_nv_decode(again, m, &n2, &nl2, &v2, &vl2) == m
                  && nl2 == nl && vl2 == vl && memcmp(n2, name, nl) == 0
                  && memcmp(v2, value, vl) == 0, "round trip");
        }
        free(again);
        free(copy);
        at += n;
    }
}

/* ---- stream records: encode the input and walk it back ---- */

static void fuzz_records(const uint8_t *s, size_t len, size_t max)
{
    size_t total = fcgi_stream_records_len(len, max), n, at = 0, got = 0;
    uint8_t *rec = malloc(total + 1);

    n = fcgi_stream_records_encode(rec, FCGI_STDIN, 1, s, len, max);
    CHECK(n == total, "fill pass %zu, size pass %zu", n, total);
    while (at < n) {
        size_t clen = ((size_t)rec[at + 4] << 8) | rec[at + 5];
        size_t pad = rec[at + 6];

        CHECK(clen > 0 && clen <= max && pad == fcgi_padding_for(clen),
              "record shape");
        CHECK(memcmp(rec + at + 8, s + got, clen) == 0, "record content");
        got += clen;
        at += 8 + clen + pad;
    }
    CHECK(at == n && got == len, "records cover the stream");
    free(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t caps[16] = {
        0, 1, 8, 16, 32, 64, 100, 128, 200, 256, 512, 1000, 1024, 4096,
        8192, 65536
    };
    static const struct pieces whole = { (const uint8_t *)"", 0 };
    static const struct pieces bytes = { NULL, 0 };
    struct pieces chosen;
    struct result a, b, c;
    const uint8_t *s;
    size_t n_lens, len, cap;

    if (size == 0)
        return 0;
    n_lens = data[0] & 15;
    cap = caps[data[0] >> 4];
    if (n_lens > size - 1)
        n_lens = size - 1;
    chosen.lens = data + 1;
    chosen.n_lens = n_lens;
    s = data + 1 + n_lens;
    len = size - 1 - n_lens;

    run_parse(s, len, &whole, &a);
    run_parse(s, len, &bytes, &b);
    run_parse(s, len, &chosen, &c);
    same_result(&a, &b, "whole vs one byte at a time");
    same_result(&a, &c, "whole vs fuzzer-chosen pieces");

    fuzz_headers(a.out, a.out_len, cap, &chosen);
    fuzz_headers(s, len, cap, &chosen);
    fuzz_nv(a.mgmt, a.mgmt_len);
    fuzz_nv(s, len);
    fuzz_records(s, len, n_lens > 0 ? (size_t)data[1] + 1 : 65535);

    free_result(&a);
    free_result(&b);
    free_result(&c);
    return 0;
}
