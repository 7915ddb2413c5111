/*
 * fcgi_proto_test.c - byte-exact unit tests of the FastCGI wire format and
 * the CGI response header parser (proto/fcgi_proto.c).
 *
 * Built by the Makefile as build/unit/fcgi_proto_test; `make unit-test`
 * runs it under prove.  Every expected byte array is written out by hand
 * from the FastCGI specification, never produced by the code under test.
 */
#include "fcgi_proto.h"
#include "tap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* Appends one record with explicit padding; padding bytes are junk (0xa5)
 * on purpose, a receiver must ignore them. */
static size_t put_record(uint8_t *out, unsigned type, unsigned id,
                         const void *content, size_t clen, size_t pad)
{
    fcgi_header_encode(out, type, id, (unsigned)clen, (unsigned)pad);
    if (clen > 0)
        memcpy(out + FCGI_HEADER_LEN, content, clen);
    memset(out + FCGI_HEADER_LEN + clen, 0xa5, pad);
    return FCGI_HEADER_LEN + clen + pad;
}

static size_t put_str_record(uint8_t *out, unsigned type, unsigned id,
                             const char *s, size_t pad)
{
    return put_record(out, type, id, s, strlen(s), pad);
}

/* What a parse produced, in a form independent of how the input was split:
 * data of a kind is concatenated, and the event string has one letter per
 * run of same-kind slices ('O' STDOUT, 'R' STDERR, 'M' MANAGEMENT), '.'
 * after the slice with last set, 'E' for STDOUT_EOF, 'X' END_REQUEST, '!'
 * ERROR. */
struct collect {
    uint8_t out[8192];
    size_t out_len;
    uint8_t err[8192];
    size_t err_len;
    uint8_t mgmt[8192];
    size_t mgmt_len;
    char events[256];
    size_t n_events;
    enum fcgi_event_kind final;
    uint32_t app_status;
    unsigned protocol_status;
    char error[128];
    int bad;                    /* a slice outside the buffer, etc. */
    const char *bad_why;
};

static void collect_init(struct collect *c)
{
    memset(c, 0, sizeof(*c));
}

static void mark_bad(struct collect *c, const char *why)
{
    if (!c->bad)
        c->bad_why = why;
    c->bad = 1;
}

static void add_event(struct collect *c, char letter, int coalesce)
{
    if (coalesce && c->n_events > 0 && c->events[c->n_events - 1] == letter)
        return;
    if (c->n_events + 1 < sizeof(c->events))
        c->events[c->n_events++] = letter;
}

static void add_data(struct collect *c, uint8_t *dst, size_t *dst_len,
                     size_t cap, const struct fcgi_event *ev,
                     const uint8_t *buf, size_t len, char letter)
{
    if (ev->len > 0 && (ev->data < buf || ev->data + ev->len > buf + len))
        mark_bad(c, "slice outside the caller's buffer");
    else if (*dst_len + ev->len > cap)
        mark_bad(c, "collector overflow");
    else if (ev->len > 0) {
        memcpy(dst + *dst_len, ev->data, ev->len);
        *dst_len += ev->len;
    }
    add_event(c, letter, 1);
    if (ev->last)
        add_event(c, '.', 0);
}

static void collect_event(struct collect *c, const struct fcgi_event *ev,
                          const uint8_t *buf, size_t len)
{
    switch (ev->kind) {
    case FCGI_EV_NONE:
        break;
    case FCGI_EV_STDOUT:
        add_data(c, c->out, &c->out_len, sizeof(c->out), ev, buf, len, 'O');
        break;
    case FCGI_EV_STDERR:
        add_data(c, c->err, &c->err_len, sizeof(c->err), ev, buf, len, 'R');
        break;
    case FCGI_EV_MANAGEMENT:
        add_data(c, c->mgmt, &c->mgmt_len, sizeof(c->mgmt), ev, buf, len,
                 'M');
        break;
    case FCGI_EV_STDOUT_EOF:
        add_event(c, 'E', 0);
        break;
    case FCGI_EV_END_REQUEST:
        if (c->final == FCGI_EV_END_REQUEST)
            break;      /* the final state reported again */
        add_event(c, 'X', 0);
        c->app_status = ev->app_status;
        c->protocol_status = ev->protocol_status;
        break;
    case FCGI_EV_ERROR:
        add_event(c, '!', 0);
        break;
    }
}

/* Feeds buf[0..len) to p until it is used up.  Returns 0 once ERROR was
 * seen. */
static int feed(struct fcgi_parser *p, struct collect *c,
                const uint8_t *buf, size_t len)
{
    size_t at = 0;

    for (;;) {
        struct fcgi_event ev;
        size_t n = fcgi_parse(p, buf + at, len - at, &ev);

        if (n > len - at) {
            mark_bad(c, "consumed more than given");
            return 0;
        }
        collect_event(c, &ev, buf + at, len - at);
        at += n;
        if (ev.kind == FCGI_EV_END_REQUEST || ev.kind == FCGI_EV_ERROR) {
            c->final = ev.kind;
            memcpy(c->error, p->error, sizeof(c->error));
        }
        if (ev.kind == FCGI_EV_ERROR)
            return 0;
        /* Like a caller that keeps reading: more bytes after END_REQUEST
         * must turn into an error. */
        if (ev.kind == FCGI_EV_END_REQUEST) {
            if (at == len)
                return 1;
            continue;
        }
        if (ev.kind == FCGI_EV_NONE) {
            if (at != len)
                mark_bad(c, "EV_NONE before the input was used up");
            return 1;
        }
        /* Every event but the repeated final one consumes the byte that
         * caused it. */
        if (n == 0)
            mark_bad(c, "an event that consumed nothing");
    }
}

/* Parses s cut at the given offsets (ascending), each piece in a heap
 * buffer of its own size so that ASan sees any read past a piece. */
static void parse_split(const uint8_t *s, size_t len, const size_t *cuts,
                        size_t n_cuts, unsigned request_id, struct collect *c)
{
    static const uint8_t empty[1];
    struct fcgi_parser p;
    size_t from = 0, k;

    collect_init(c);
    fcgi_parser_init(&p, request_id);
    for (k = 0; k <= n_cuts; k++) {
        size_t to = k < n_cuts ? cuts[k] : len;
        uint8_t *piece = to > from ? malloc(to - from) : NULL;
        int more;

        if (piece != NULL)
            memcpy(piece, s + from, to - from);
        more = feed(&p, c, piece != NULL ? piece : empty, to - from);
        free(piece);
        from = to;
        if (!more)
            return;
    }
    memcpy(c->error, p.error, sizeof(c->error));
}

static void parse_whole(const uint8_t *s, size_t len, unsigned request_id,
                        struct collect *c)
{
    parse_split(s, len, NULL, 0, request_id, c);
}

static void parse_bytewise(const uint8_t *s, size_t len, unsigned request_id,
                           struct collect *c)
{
    size_t *cuts = malloc((len + 1) * sizeof(*cuts)), i;

    for (i = 0; i + 1 < len; i++)
        cuts[i] = i + 1;
    parse_split(s, len, cuts, len > 0 ? len - 1 : 0, request_id, c);
    free(cuts);
}

/* Returns a description of the first difference, or NULL. */
static const char *collect_diff(const struct collect *a,
                                const struct collect *b)
{
    if (a->bad || b->bad)
        return a->bad ? a->bad_why : b->bad_why;
    if (a->out_len != b->out_len || memcmp(a->out, b->out, a->out_len))
        return "STDOUT bytes differ";
    if (a->err_len != b->err_len || memcmp(a->err, b->err, a->err_len))
        return "STDERR bytes differ";
    if (a->mgmt_len != b->mgmt_len || memcmp(a->mgmt, b->mgmt, a->mgmt_len))
        return "MANAGEMENT bytes differ";
    if (a->n_events != b->n_events
        || memcmp(a->events, b->events, a->n_events))
        return "event sequences differ";
    if (a->final != b->final)
        return "final event kinds differ";
    if (a->app_status != b->app_status
        || a->protocol_status != b->protocol_status)
        return "END_REQUEST statuses differ";
    if (strcmp(a->error, b->error) != 0)
        return "error messages differ";
    return NULL;
}

/* Feeds s one byte at a time and returns the 1-based offset of the byte
 * that produced FCGI_EV_ERROR, or 0 when none did. */
static size_t error_offset(const uint8_t *s, size_t len, unsigned request_id)
{
    struct fcgi_parser p;
    struct fcgi_event ev;
    size_t i;

    fcgi_parser_init(&p, request_id);
    for (i = 0; i < len; i++) {
        size_t at = 0;

        do {
            at += fcgi_parse(&p, s + i + at, 1 - at, &ev);
            if (ev.kind == FCGI_EV_ERROR)
                return i + 1;
            if (ev.kind == FCGI_EV_END_REQUEST && at == 1)
                break;
        } while (ev.kind != FCGI_EV_NONE);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

static void test_padding(void)
{
    static const struct { size_t in, pad; } cases[] = {
        { 0, 0 }, { 1, 7 }, { 7, 1 }, { 8, 0 }, { 9, 7 }, { 15, 1 },
        { 16, 0 }, { 65528, 0 }, { 65535, 1 }
    };
    size_t i;

    for (i = 0; i < ARRAY_LEN(cases); i++)
        is_int(fcgi_padding_for(cases[i].in), cases[i].pad,
               "padding for %zu content bytes is %zu", cases[i].in,
               cases[i].pad);
}

static void test_headers_encode(void)
{
    uint8_t out[FCGI_END_REQUEST_LEN + 4];
    static const uint8_t hdr[] = { 1, 6, 0x12, 0x34, 0xab, 0xcd, 0x03, 0 };
    static const uint8_t hdr_max[] = { 1, 7, 0xff, 0xff, 0xff, 0xff, 0xff, 0 };
    static const uint8_t begin_keep[] = {
        1, 1, 0x00, 0x01, 0x00, 0x08, 0, 0,
        0x00, 0x01, 0x01, 0, 0, 0, 0, 0
    };
    static const uint8_t begin_close[] = {
        1, 1, 0x01, 0x02, 0x00, 0x08, 0, 0,
        0x00, 0x01, 0x00, 0, 0, 0, 0, 0
    };
    static const uint8_t begin_auth[] = {
        1, 1, 0xff, 0xfe, 0x00, 0x08, 0, 0,
        0x00, 0x02, 0x01, 0, 0, 0, 0, 0
    };
    static const uint8_t abort_rec[] = { 1, 2, 0x00, 0x05, 0, 0, 0, 0 };
    static const uint8_t abort_big[] = { 1, 2, 0xab, 0xcd, 0, 0, 0, 0 };
    static const uint8_t end_rec[] = {
        1, 3, 0x00, 0x01, 0x00, 0x08, 0, 0,
        0xde, 0xad, 0xbe, 0xef, 0x02, 0, 0, 0
    };
    static const uint8_t end_zero[] = {
        1, 3, 0x01, 0x00, 0x00, 0x08, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0
    };

    memset(out, 0xee, sizeof(out));
    fcgi_header_encode(out, FCGI_STDOUT, 0x1234, 0xabcd, 3);
    is_mem(out, 8, hdr, 8, "header: big-endian id and length");
    ok(out[8] == 0xee, "header encoder writes exactly 8 bytes");
    fcgi_header_encode(out, FCGI_STDERR, 0xffff, 0xffff, 0xff);
    is_mem(out, 8, hdr_max, 8, "header: all-ones fields");

    memset(out, 0xee, sizeof(out));
    fcgi_begin_request_encode(out, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
    is_mem(out, 16, begin_keep, 16, "BEGIN_REQUEST responder KEEP_CONN");
    ok(out[16] == 0xee, "BEGIN_REQUEST writes exactly 16 bytes");
    memset(out, 0xee, sizeof(out));
    fcgi_begin_request_encode(out, 0x0102, FCGI_RESPONDER, 0);
    is_mem(out, 16, begin_close, 16, "BEGIN_REQUEST without KEEP_CONN");
    fcgi_begin_request_encode(out, 0xfffe, FCGI_AUTHORIZER, FCGI_KEEP_CONN);
    is_mem(out, 16, begin_auth, 16, "BEGIN_REQUEST authorizer, id 0xfffe");

    memset(out, 0xee, sizeof(out));
    fcgi_abort_request_encode(out, 5);
    is_mem(out, 8, abort_rec, 8, "ABORT_REQUEST id 5");
    ok(out[8] == 0xee, "ABORT_REQUEST writes exactly 8 bytes");
    fcgi_abort_request_encode(out, 0xabcd);
    is_mem(out, 8, abort_big, 8, "ABORT_REQUEST id 0xabcd");

    memset(out, 0xee, sizeof(out));
    fcgi_end_request_encode(out, 1, 0xdeadbeefu, FCGI_OVERLOADED);
    is_mem(out, 16, end_rec, 16, "END_REQUEST app status 0xdeadbeef, "
           "OVERLOADED");
    ok(out[16] == 0xee, "END_REQUEST writes exactly 16 bytes");
    fcgi_end_request_encode(out, 256, 0, FCGI_REQUEST_COMPLETE);
    is_mem(out, 16, end_zero, 16, "END_REQUEST id 256, complete");
}

static void test_nv(void)
{
    static uint8_t big[0x12345 + 16];
    static char big_value[0x12345];
    static char text[300];
    uint8_t out[300], sentinel[300];
    const char *name, *value;
    size_t name_len, value_len, n, i, bad;
    static const uint8_t a_empty[] = { 0x01, 0x00, 'A' };
    static const uint8_t empty_empty[] = { 0x00, 0x00 };
    static const uint8_t prefix_127_128[] = { 0x7f, 0x80, 0x00, 0x00, 0x80 };
    static const uint8_t prefix_128_0[] = { 0x80, 0x00, 0x00, 0x80, 0x00 };
    static const uint8_t prefix_big[] = { 0x01, 0x80, 0x01, 0x23, 0x45 };
    static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 0x00, 'x' };
    static const uint8_t huge_value[] = { 0x00, 0xff, 0xff, 0xff, 0xff, 'x' };
    static const uint8_t long_form[] = { 0x80, 0, 0, 0x02, 0x80, 0, 0, 0x01,
                                         'a', 'b', 'c', 'z' };

    memset(text, 'n', sizeof(text));

    /* fcgi_nv_len at the length-encoding boundaries. */
    is_int(fcgi_nv_len(0, 0), 2, "nv_len(0, 0)");
    is_int(fcgi_nv_len(127, 0), 129, "nv_len(127, 0): 1-byte lengths");
    is_int(fcgi_nv_len(128, 0), 133, "nv_len(128, 0): 4-byte name length");
    is_int(fcgi_nv_len(0, 128), 133, "nv_len(0, 128): 4-byte value length");
    is_int(fcgi_nv_len(127, 128), 260, "nv_len(127, 128)");
    is_int(fcgi_nv_len(128, 127), 260, "nv_len(128, 127)");
    if (SIZE_MAX > 0xffffffffu) {
        is_int(fcgi_nv_len(FCGI_NV_MAX_LEN, 0), 5 + (size_t)0x7fffffff,
               "nv_len(0x7fffffff, 0)");
        is_int(fcgi_nv_len(FCGI_NV_MAX_LEN, FCGI_NV_MAX_LEN),
               8 + 2 * (size_t)0x7fffffff, "nv_len(0x7fffffff, 0x7fffffff)");
    } else {
        ok(1, "nv_len(0x7fffffff, 0): skipped on 32-bit");
        is_int(fcgi_nv_len(FCGI_NV_MAX_LEN, FCGI_NV_MAX_LEN), 0,
               "nv_len(0x7fffffff, 0x7fffffff) overflows a 32-bit size_t");
    }
    is_int(fcgi_nv_len((size_t)FCGI_NV_MAX_LEN + 1, 0), 0,
           "nv_len: name of 0x80000000 cannot be encoded");
    is_int(fcgi_nv_len(0, (size_t)FCGI_NV_MAX_LEN + 1), 0,
           "nv_len: value of 0x80000000 cannot be encoded");

    /* Encoding, byte-exact. */
    n = fcgi_nv_encode(out, sizeof(out), "A", 1, "", 0);
    is_mem(out, n, a_empty, sizeof(a_empty), "encode A=\"\"");
    n = fcgi_nv_encode(out, sizeof(out), "", 0, "", 0);
    is_mem(out, n, empty_empty, sizeof(empty_empty), "encode \"\"=\"\"");
    n = fcgi_nv_encode(out, sizeof(out), text, 127, text, 128);
    is_int(n, 260, "encode 127/128 returns 260");
    is_mem(out, 5, prefix_127_128, 5, "encode 127/128: length prefix");
    ok(memcmp(out + 5, text, 255) == 0, "encode 127/128: name and value "
       "follow the prefix");
    n = fcgi_nv_encode(out, sizeof(out), text, 128, "", 0);
    is_mem(out, 5, prefix_128_0, 5, "encode 128/0: length prefix");
    memset(big_value, 'v', sizeof(big_value));
    n = fcgi_nv_encode(big, sizeof(big), "N", 1, big_value, 0x12345);
    is_int(n, 6 + 0x12345, "encode 1/0x12345 returns its size");
    is_mem(big, 5, prefix_big, 5, "encode 1/0x12345: every length byte");

    /* Too small a buffer writes nothing. */
    memset(out, 0xee, sizeof(out));
    memset(sentinel, 0xee, sizeof(sentinel));
    is_int(fcgi_nv_encode(out, 259, text, 127, text, 128), 0,
           "encode into one byte too few returns 0");
    is_mem(out, sizeof(out), sentinel, sizeof(sentinel),
           "... and writes nothing");
    is_int(fcgi_nv_encode(out, sizeof(out), text,
                          (size_t)FCGI_NV_MAX_LEN + 1, "", 0), 0,
           "encode of an unencodable length returns 0");

    /* Decoding. */
    n = fcgi_nv_encode(out, sizeof(out), text, 127, "v=1", 3);
    out[0 + 1 + 1] = 'X';   /* first name byte, to see the pointer */
    n = fcgi_nv_decode(out, n, &name, &name_len, &value, &value_len);
    is_int(n, 132, "decode 127/3 consumes 132");
    is_int(name_len, 127, "decode 127/3: name length");
    ok(name == (const char *)out + 2, "decode 127/3: name points into in");
    is_int(value_len, 3, "decode 127/3: value length");
    is_mem(value, value_len, "v=1", 3, "decode 127/3: value bytes");

    n = fcgi_nv_encode(out, sizeof(out), text, 127, text, 128);
    n = fcgi_nv_decode(out, n, &name, &name_len, &value, &value_len);
    is_int(n, 260, "decode 127/128 consumes 260");
    is_int(name_len, 127, "decode 127/128: name length (1-byte form)");
    is_int(value_len, 128, "decode 127/128: value length (4-byte form)");
    ok(value == (const char *)out + 5 + 127, "decode 127/128: value "
       "points into in");

    for (bad = 0, i = 0; i < 260; i++)
        if (fcgi_nv_decode(out, i, &name, &name_len, &value, &value_len) != 0)
            bad++;
    is_int(bad, 0, "decode of every proper prefix (0..259 bytes) asks for "
           "more");

    n = fcgi_nv_decode(big, 0x12345 + 6, &name, &name_len, &value,
                       &value_len);
    is_int(value_len, 0x12345, "decode of a 4-byte length uses all bytes");

    is_int(fcgi_nv_decode(huge, sizeof(huge), &name, &name_len, &value,
                          &value_len), 0,
           "decode: a 0x7fffffff name longer than the buffer needs more");
    is_int(fcgi_nv_decode(huge_value, sizeof(huge_value), &name, &name_len,
                          &value, &value_len), 0,
           "decode: a 0x7fffffff value longer than the buffer needs more");
    is_int(fcgi_nv_decode(huge, 3, &name, &name_len, &value, &value_len), 0,
           "decode: a truncated 4-byte length needs more");
    n = fcgi_nv_decode(long_form, sizeof(long_form), &name, &name_len,
                       &value, &value_len);
    is_int(n, 11, "decode: 4-byte form of a short length is accepted");
    ok(name_len == 2 && memcmp(name, "ab", 2) == 0 && value_len == 1
       && value[0] == 'c', "decode: long-form pair yields ab=c");
}

/* A test-side reassembler: walks records of one type and request id,
 * checking each, and concatenates their content. */
static int reassemble(const uint8_t *rec, size_t len, unsigned type,
                      unsigned id, size_t max_content, uint8_t *out,
                      size_t *out_len, const char **why)
{
    size_t at = 0, k;

    *out_len = 0;
    while (at < len) {
        size_t clen, pad;

        if (len - at < FCGI_HEADER_LEN)
            return *why = "truncated header", 0;
        clen = ((size_t)rec[at + 4] << 8) | rec[at + 5];
        pad = rec[at + 6];
        if (rec[at] != 1 || rec[at + 1] != type
            || (((unsigned)rec[at + 2] << 8) | rec[at + 3]) != id
            || rec[at + 7] != 0)
            return *why = "bad version, type, id or reserved byte", 0;
        if (clen == 0 || clen > max_content)
            return *why = "content length 0 or over max_content", 0;
        if (pad != fcgi_padding_for(clen))
            return *why = "padding is not to 8", 0;
        if (len - at - FCGI_HEADER_LEN < clen + pad)
            return *why = "record overruns the stream", 0;
        memcpy(out + *out_len, rec + at + FCGI_HEADER_LEN, clen);
        *out_len += clen;
        for (k = 0; k < pad; k++)
            if (rec[at + FCGI_HEADER_LEN + clen + k] != 0)
                return *why = "padding byte not zero", 0;
        at += FCGI_HEADER_LEN + clen + pad;
    }
    return 1;
}

static void test_stream_records(void)
{
    static const uint8_t small[] = {
        1, 4, 0, 1, 0, 8, 0, 0, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h',
        1, 4, 0, 1, 0, 2, 6, 0, 'i', 'j', 0, 0, 0, 0, 0, 0
    };
    static const size_t sizes[][2] = {   /* name, value lengths */
        { 15, 9 }, { 0, 0 }, { 1, 127 }, { 127, 128 }, { 128, 1 },
        { 11, 200 }, { 4, 1000 }, { 5, 70000 }, { 3, 0 }
    };
    static const size_t maxes[] = { 1, 8, 64, 100, 65528, 65535 };
    static uint8_t data[80000], back[80000];
    uint8_t *rec;
    uint8_t out[64];
    size_t data_len = 0, i, m, n, len, back_len;
    const char *why = NULL;

    memset(out, 0xee, sizeof(out));
    n = fcgi_stream_records_encode(out, FCGI_PARAMS, 1,
                                   (const uint8_t *)"abcdefghij", 10, 8);
    is_mem(out, n, small, sizeof(small), "10 bytes at max 8: two records, "
           "the second padded with zeros");
    ok(out[n] == 0xee, "stream encoder writes no further");
    is_int(fcgi_stream_records_len(10, 8), 32, "size pass agrees: 32");
    is_int(fcgi_stream_records_len(0, 8), 0, "empty stream: no records");
    is_int(fcgi_stream_records_encode(out, FCGI_PARAMS, 1, data, 0, 8), 0,
           "encoding an empty stream writes nothing");
    is_int(fcgi_stream_records_len(8, 8), 16, "8 bytes at max 8");
    is_int(fcgi_stream_records_len(9, 8), 32, "9 bytes at max 8");
    is_int(fcgi_stream_records_len(1, 1), 16, "1 byte at max 1");
    is_int(fcgi_stream_records_len(3, 1), 48, "3 bytes at max 1");
    is_int(fcgi_stream_records_len(65535, 65535), 65544,
           "65535 bytes in one record plus 1 padding byte");
    is_int(fcgi_stream_records_len(65536, 65535), 65544 + 16,
           "65536 bytes spill into a second record");
    is_int(fcgi_stream_records_len(65528 * 2, 65528), 2 * 65536,
           "65528-byte records need no padding");
    is_int(fcgi_stream_records_len(10, 0), 24, "max 0 means 65535");
    is_int(fcgi_stream_records_len(70000, 100000), 65544 + 8 + 4465 + 7,
           "max over 65535 means 65535");

    /* A PARAMS stream of pairs at every length boundary. */
    for (i = 0; i < ARRAY_LEN(sizes); i++) {
        size_t k, nl = sizes[i][0], vl = sizes[i][1];
        char name[200], *value = malloc(vl + 1);

        for (k = 0; k < nl; k++)
            name[k] = (char)('A' + (i + k) % 26);
        for (k = 0; k < vl; k++)
            value[k] = (char)('a' + (i * 7 + k) % 26);
        n = fcgi_nv_encode(data + data_len, sizeof(data) - data_len, name, nl,
                           value, vl);
        is_int(n, fcgi_nv_len(nl, vl), "pair %zu/%zu encoded", nl, vl);
        free(value);
        data_len += n;
    }
    ok(data_len > 70000, "test PARAMS stream is %zu bytes", data_len);

    for (m = 0; m < ARRAY_LEN(maxes); m++) {
        size_t at = 0, pairs = 0, pair_errors = 0;

        len = fcgi_stream_records_len(data_len, maxes[m]);
        rec = malloc(len + 1);
        memset(rec, 0xee, len + 1);
        n = fcgi_stream_records_encode(rec, FCGI_PARAMS, 0x0203, data,
                                       data_len, maxes[m]);
        is_int(n, len, "max %zu: fill pass writes what the size pass said",
               maxes[m]);
        ok(len % 8 == 0, "max %zu: total %zu is 8-aligned", maxes[m], len);
        ok(rec[len] == 0xee, "max %zu: nothing written past the end",
           maxes[m]);
        ok(reassemble(rec, n, FCGI_PARAMS, 0x0203, maxes[m], back, &back_len,
                      &why), "max %zu: every record well-formed%s%s",
           maxes[m], why ? ": " : "", why ? why : "");
        is_mem(back, back_len, data, data_len, "max %zu: reassembled stream "
               "is the original", maxes[m]);
        while (at < back_len) {
            const char *name, *value;
            size_t nl, vl, k;

            n = fcgi_nv_decode(back + at, back_len - at, &name, &nl, &value,
                               &vl);
            if (n == 0 || n == FCGI_NV_BAD || pairs >= ARRAY_LEN(sizes)) {
                pair_errors++;
                break;
            }
            if (nl != sizes[pairs][0] || vl != sizes[pairs][1])
                pair_errors++;
            for (k = 0; k < nl; k++)
                if (name[k] != (char)('A' + (pairs + k) % 26))
                    pair_errors++;
            for (k = 0; k < vl; k++)
                if (value[k] != (char)('a' + (pairs * 7 + k) % 26))
                    pair_errors++;
            pairs++;
            at += n;
        }
        free(rec);
        ok(pairs == ARRAY_LEN(sizes) && pair_errors == 0,
           "max %zu: all %zu pairs decode back intact (%zu decoded, %zu "
           "errors)", maxes[m], ARRAY_LEN(sizes), pairs, pair_errors);
    }
}

static void test_get_values(void)
{
    static const char *const three[] = {
        "FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS"
    };
    static const char *const one[] = { "FCGI_MAX_REQS" };
    static const uint8_t three_rec[] = {
        1, 9, 0, 0, 0, 48, 0, 0,
        14, 0, 'F', 'C', 'G', 'I', '_', 'M', 'A', 'X', '_', 'C', 'O', 'N',
        'N', 'S',
        13, 0, 'F', 'C', 'G', 'I', '_', 'M', 'A', 'X', '_', 'R', 'E', 'Q',
        'S',
        15, 0, 'F', 'C', 'G', 'I', '_', 'M', 'P', 'X', 'S', '_', 'C', 'O',
        'N', 'N', 'S'
    };
    static const uint8_t one_rec[] = {
        1, 9, 0, 0, 0, 15, 1, 0,
        13, 0, 'F', 'C', 'G', 'I', '_', 'M', 'A', 'X', '_', 'R', 'E', 'Q',
        'S', 0
    };
    static const uint8_t none_rec[] = { 1, 9, 0, 0, 0, 0, 0, 0 };
    static char long_name[70000];
    const char *const too_long[] = { long_name };
    uint8_t out[128], sentinel[128];
    size_t n;

    n = fcgi_get_values_encode(out, sizeof(out), three, 3);
    is_mem(out, n, three_rec, sizeof(three_rec), "GET_VALUES for three "
           "names, id 0, no padding needed");
    memset(out, 0xee, sizeof(out));
    n = fcgi_get_values_encode(out, sizeof(out), one, 1);
    is_mem(out, n, one_rec, sizeof(one_rec), "GET_VALUES for one name, "
           "padded with a zero byte");
    n = fcgi_get_values_encode(out, sizeof(out), NULL, 0);
    is_mem(out, n, none_rec, sizeof(none_rec), "GET_VALUES for no names");
    memset(out, 0xee, sizeof(out));
    memset(sentinel, 0xee, sizeof(sentinel));
    is_int(fcgi_get_values_encode(out, sizeof(three_rec) - 1, three, 3), 0,
           "GET_VALUES one byte short of room returns 0");
    is_mem(out, sizeof(out), sentinel, sizeof(sentinel),
           "... and writes nothing");
    is_int(fcgi_get_values_encode(out, sizeof(three_rec), three, 3), 56,
           "GET_VALUES with exactly enough room");
    memset(long_name, 'N', sizeof(long_name) - 1);
    is_int(fcgi_get_values_encode(out, sizeof(out), too_long, 1), 0,
           "GET_VALUES over 65535 content bytes returns 0");
}

/* ------------------------------------------------------------------ */
/* Parsing the record stream                                           */
/* ------------------------------------------------------------------ */

static const char resp_headers[] =
    "Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n";

/* A ~200-byte response exercising every record a responder sends. */
static size_t build_response(uint8_t *s)
{
    static const uint8_t result[] = {
        15, 1, 'F', 'C', 'G', 'I', '_', 'M', 'P', 'X', 'S', '_', 'C', 'O',
        'N', 'N', 'S', '0'
    };
    uint8_t end[FCGI_END_REQUEST_LEN];
    size_t n = 0;

    n += put_str_record(s + n, FCGI_STDERR, 1, "PHP Warning: x\n", 1);
    n += put_str_record(s + n, FCGI_STDOUT, 1, resp_headers, 3);
    n += put_str_record(s + n, FCGI_STDOUT, 1, "body-part-one;", 3);
    n += put_record(s + n, FCGI_GET_VALUES_RESULT, 0, result, sizeof(result),
                    6);
    n += put_record(s + n, FCGI_STDERR, 1, NULL, 0, 0);
    n += put_str_record(s + n, FCGI_STDOUT, 1, "two", 0);
    n += put_record(s + n, FCGI_STDOUT, 1, NULL, 0, 0);
    n += put_record(s + n, FCGI_STDOUT, 1, NULL, 0, 4);
    /* END_REQUEST with 2 padding bytes: built by hand. */
    fcgi_end_request_encode(end, 1, 3, FCGI_REQUEST_COMPLETE);
    n += put_record(s + n, FCGI_END_REQUEST, 1, end + 8, 8, 2);
    return n;
}

static void test_parse_response(void)
{
    static uint8_t s[512];
    static struct collect whole, other;
    static const char expect_out[] = "Status: 404 Not Found\r\n"
        "Content-Type: text/plain\r\n\r\nbody-part-one;two";
    size_t len = build_response(s), i, j, cuts[2], fails;
    const char *diff = NULL;
    struct fcgi_parser p;
    struct fcgi_event ev;

    ok(len >= 180 && len <= 260, "test response is %zu bytes", len);

    parse_whole(s, len, 1, &whole);
    ok(!whole.bad, "whole: no slice outside the buffer%s%s",
       whole.bad ? ": " : "", whole.bad ? whole.bad_why : "");
    is_mem(whole.out, whole.out_len, expect_out, strlen(expect_out),
           "whole: STDOUT bytes");
    is_mem(whole.err, whole.err_len, "PHP Warning: x\n", 15,
           "whole: STDERR bytes");
    is_int(whole.mgmt_len, 18, "whole: management content length");
    ok(whole.mgmt[0] == 15 && whole.mgmt[1] == 1 && whole.mgmt[17] == '0',
       "whole: management content bytes");
    whole.events[whole.n_events] = '\0';
    is_str(whole.events, "R.O.O.M.O.EX", "whole: events (empty STDERR "
           "silent, second empty STDOUT silent)");
    is_int(whole.final, FCGI_EV_END_REQUEST, "whole: ends in END_REQUEST");
    is_int(whole.app_status, 3, "whole: app status 3");
    is_int(whole.protocol_status, FCGI_REQUEST_COMPLETE,
           "whole: protocol status complete");

    parse_bytewise(s, len, 1, &other);
    diff = collect_diff(&whole, &other);
    ok(diff == NULL, "one byte at a time gives the same result%s%s",
       diff ? ": " : "", diff ? diff : "");

    for (fails = 0, i = 0; i <= len; i++) {
        cuts[0] = i;
        parse_split(s, len, cuts, 1, 1, &other);
        if ((diff = collect_diff(&whole, &other)) != NULL && fails++ == 0)
            diag("split at %zu: %s", i, diff);
    }
    is_int(fails, 0, "every 2-piece split gives the same result");

    for (fails = 0, i = 0; i <= len; i++) {
        for (j = i; j <= len; j++) {
            cuts[0] = i;
            cuts[1] = j;
            parse_split(s, len, cuts, 2, 1, &other);
            if ((diff = collect_diff(&whole, &other)) != NULL
                && fails++ == 0)
                diag("split at %zu, %zu: %s", i, j, diff);
        }
    }
    is_int(fails, 0, "every 3-piece split gives the same result");

    /* Zero copy: the first STDOUT slice points into the caller's buffer. */
    fcgi_parser_init(&p, 1);
    i = fcgi_parse(&p, s, len, &ev);
    is_int(ev.kind, FCGI_EV_STDERR, "first event is STDERR");
    ok(ev.data == s + 8 && ev.len == 15 && ev.last,
       "STDERR slice is s[8..23), last set");
    is_int(i, 23, "consumed up to the end of the STDERR content");
    i += fcgi_parse(&p, s + i, len - i, &ev);
    ok(ev.kind == FCGI_EV_STDOUT && ev.data == s + 32
       && ev.len == strlen(resp_headers),
       "STDOUT slice points at s + 32 (after 1 padding byte and a header)");

    /* Cut inside a STDOUT record: slices are partial, last only at the
     * end. */
    fcgi_parser_init(&p, 1);
    i = 0;
    do
        i += fcgi_parse(&p, s + i, 40 - i, &ev);
    while (ev.kind != FCGI_EV_NONE && ev.kind != FCGI_EV_STDOUT);
    ok(ev.kind == FCGI_EV_STDOUT && ev.len == 8 && !ev.last,
       "a STDOUT slice cut by the buffer end is not last");
    i += fcgi_parse(&p, s + i, len - i, &ev);
    ok(ev.kind == FCGI_EV_STDOUT && ev.len == strlen(resp_headers) - 8
       && ev.last, "the rest of the record comes as the last slice");

    /* The final state repeats, and bytes after END_REQUEST are an error. */
    fcgi_parser_init(&p, 1);
    for (i = 0; i < len; i += fcgi_parse(&p, s + i, len - i, &ev))
        ;
    is_int(ev.kind, FCGI_EV_END_REQUEST, "END_REQUEST reported at the end");
    is_int(p.state, FCGI_ST_DONE, "parser is DONE");
    ok(fcgi_parser_eof(&p) == NULL, "EOF after END_REQUEST is clean");
    is_int(fcgi_parse(&p, s, 0, &ev), 0, "a call with no bytes consumes 0");
    ok(ev.kind == FCGI_EV_END_REQUEST && ev.app_status == 3,
       "... and reports END_REQUEST again");
    is_int(fcgi_parse(&p, s, 1, &ev), 1, "a byte after END_REQUEST");
    is_int(ev.kind, FCGI_EV_ERROR, "... is an error");
    is_str(p.error, "data after END_REQUEST", "... saying so");
    is_int(fcgi_parse(&p, s, 5, &ev), 0, "after an error nothing is "
           "consumed");
    is_int(ev.kind, FCGI_EV_ERROR, "... and the error is sticky");
    is_str(fcgi_parser_eof(&p), "data after END_REQUEST",
           "EOF after an error keeps the error");
}

static void test_end_request_padding(void)
{
    uint8_t s[64], end[FCGI_END_REQUEST_LEN];
    struct fcgi_parser p;
    struct fcgi_event ev;
    size_t n = 0, i;

    fcgi_end_request_encode(end, 9, 0x01020304u, FCGI_CANT_MPX_CONN);
    n = put_record(s, FCGI_END_REQUEST, 9, end + 8, 8, 5);
    fcgi_parser_init(&p, 9);
    i = fcgi_parse(&p, s, n - 1, &ev);
    ok(i == n - 1 && ev.kind == FCGI_EV_NONE,
       "END_REQUEST is not reported before its padding is consumed");
    is_str(fcgi_parser_eof(&p), "backend closed the connection inside the "
           "padding of an END_REQUEST record (1 of 5 padding bytes missing)",
           "EOF inside END_REQUEST padding");

    fcgi_parser_init(&p, 9);
    i = fcgi_parse(&p, s, n - 1, &ev);
    i = fcgi_parse(&p, s + n - 1, 1, &ev);
    ok(i == 1 && ev.kind == FCGI_EV_END_REQUEST,
       "END_REQUEST reported with the last padding byte");
    is_int(ev.app_status, 0x01020304u, "app status, all four bytes");
    is_int(ev.protocol_status, FCGI_CANT_MPX_CONN,
           "protocol status CANT_MPX_CONN");
}

static void test_management(void)
{
    static const uint8_t result[] = {
        14, 2, 'F', 'C', 'G', 'I', '_', 'M', 'A', 'X', '_', 'C', 'O', 'N',
        'N', 'S', '1', '0',
        15, 1, 'F', 'C', 'G', 'I', '_', 'M', 'P', 'X', 'S', '_', 'C', 'O',
        'N', 'N', 'S', '0'
    };
    static const uint8_t unknown[] = { 99, 0, 0, 0, 0, 0, 0, 0 };
    uint8_t s[128];
    static struct collect whole, bytes;
    struct fcgi_parser p;
    struct fcgi_event ev;
    const char *name, *value, *diff;
    size_t nl, vl, n, len = 0, at;

    len = put_record(s, FCGI_GET_VALUES_RESULT, 0, result, sizeof(result),
                     fcgi_padding_for(sizeof(result)));
    fcgi_parser_init(&p, 1);
    n = fcgi_parse(&p, s, len, &ev);
    ok(ev.kind == FCGI_EV_MANAGEMENT && ev.type == FCGI_GET_VALUES_RESULT,
       "GET_VALUES_RESULT gives a MANAGEMENT event of its type");
    ok(ev.data == s + 8 && ev.len == sizeof(result) && ev.last,
       "... one slice of the whole content, last set");
    is_int(n, 8 + sizeof(result), "... consuming header and content");
    at = 0;
    n = fcgi_nv_decode(ev.data, ev.len, &name, &nl, &value, &vl);
    ok(n == 18 && nl == 14 && memcmp(name, "FCGI_MAX_CONNS", 14) == 0
       && vl == 2 && memcmp(value, "10", 2) == 0,
       "first pair FCGI_MAX_CONNS=10");
    at += n;
    n = fcgi_nv_decode(ev.data + at, ev.len - at, &name, &nl, &value, &vl);
    ok(n == 18 && nl == 15 && memcmp(name, "FCGI_MPXS_CONNS", 15) == 0
       && vl == 1 && value[0] == '0', "second pair FCGI_MPXS_CONNS=0");
    n = fcgi_parse(&p, s + 8 + sizeof(result), len - 8 - sizeof(result), &ev);
    ok(ev.kind == FCGI_EV_NONE && p.state == FCGI_ST_HEADER,
       "padding skipped, back between records");

    parse_whole(s, len, 1, &whole);
    parse_bytewise(s, len, 1, &bytes);
    diff = collect_diff(&whole, &bytes);
    ok(diff == NULL && bytes.n_events == 2 && bytes.events[1] == '.',
       "GET_VALUES_RESULT byte by byte: same bytes, last only once%s%s",
       diff ? ": " : "", diff ? diff : "");

    len = put_record(s, FCGI_UNKNOWN_TYPE, 0, unknown, 8, 0);
    fcgi_parser_init(&p, 1);
    n = fcgi_parse(&p, s, len, &ev);
    ok(ev.kind == FCGI_EV_MANAGEMENT && ev.type == FCGI_UNKNOWN_TYPE
       && ev.len == 8 && ev.data[0] == 99 && ev.last,
       "UNKNOWN_TYPE gives a MANAGEMENT event carrying the type byte");

    len = put_record(s, FCGI_GET_VALUES_RESULT, 0, NULL, 0, 0);
    fcgi_parser_init(&p, 1);
    n = fcgi_parse(&p, s, len, &ev);
    ok(n == 8 && ev.kind == FCGI_EV_MANAGEMENT && ev.len == 0 && ev.last,
       "an empty GET_VALUES_RESULT is one empty MANAGEMENT event, last set");
}

static void test_padding_any_length(void)
{
    uint8_t s[1200];
    unsigned pad, bad = 0;
    static struct collect c;

    for (pad = 0; pad <= 255; pad++) {
        size_t len = 0;

        len += put_str_record(s + len, FCGI_STDOUT, 1, "x", pad);
        len += put_record(s + len, FCGI_STDERR, 1, "e", 1, pad);
        len += put_record(s + len, FCGI_STDOUT, 1, NULL, 0, pad);
        len += put_record(s + len, FCGI_END_REQUEST, 1,
                          "\0\0\0\0\0\0\0\0", 8, pad);
        parse_whole(s, len, 1, &c);
        if (c.bad || c.final != FCGI_EV_END_REQUEST || c.out_len != 1
            || c.err_len != 1) {
            if (bad++ == 0)
                diag("padding %u fails: %s", pad, c.error);
        }
    }
    is_int(bad, 0, "padding of every length 0..255 is accepted and skipped");
}

struct error_case {
    const char *what;
    uint8_t bytes[48];
    size_t len;
    size_t at;              /* 1-based offset of the byte that fails */
    const char *message;
};

static void test_parse_errors(void)
{
    static const struct error_case cases[] = {
        { "version 2", { 2, 6, 0, 1, 0, 0, 0, 0 }, 8, 1,
          "unexpected FastCGI version 2" },
        { "version 0", { 0 }, 1, 1, "unexpected FastCGI version 0" },
        { "request id 7", { 1, 6, 0, 7, 0, 1, 0, 0, 'x' }, 9, 4,
          "unexpected request id 7, expected 1" },
        { "request id 0x0101", { 1, 6, 1, 1, 0, 0, 0, 0 }, 8, 4,
          "unexpected request id 257, expected 1" },
        { "STDOUT with request id 0", { 1, 6, 0, 0, 0, 0, 0, 0 }, 8, 4,
          "unexpected request id 0 on a STDOUT record, expected 1" },
        { "END_REQUEST with request id 0", { 1, 3, 0, 0, 0, 8 }, 6, 4,
          "unexpected request id 0 on an END_REQUEST record, expected 1" },
        { "GET_VALUES_RESULT with request id 1", { 1, 10, 0, 1 }, 4, 4,
          "unexpected request id 1 on a GET_VALUES_RESULT record, "
          "expected 0" },
        { "type 99", { 1, 99, 0, 1, 0, 0, 0, 0 }, 8, 2,
          "unexpected record type 99" },
        { "type 0", { 1, 0, 0, 1 }, 4, 2, "unexpected record type 0" },
        { "type 12", { 1, 12, 0, 1 }, 4, 2, "unexpected record type 12" },
        { "BEGIN_REQUEST", { 1, 1, 0, 1, 0, 8, 0, 0 }, 8, 2,
          "unexpected record type 1 (BEGIN_REQUEST)" },
        { "ABORT_REQUEST", { 1, 2, 0, 1, 0, 0, 0, 0 }, 8, 2,
          "unexpected record type 2 (ABORT_REQUEST)" },
        { "PARAMS", { 1, 4, 0, 1 }, 4, 2,
          "unexpected record type 4 (PARAMS)" },
        { "STDIN", { 1, 5, 0, 1 }, 4, 2, "unexpected record type 5 (STDIN)" },
        { "DATA", { 1, 8, 0, 1 }, 4, 2, "unexpected record type 8 (DATA)" },
        { "GET_VALUES", { 1, 9, 0, 0 }, 4, 2,
          "unexpected record type 9 (GET_VALUES)" },
        { "END_REQUEST length 9", { 1, 3, 0, 1, 0, 9, 0, 0 }, 8, 6,
          "END_REQUEST content length 9, expected 8" },
        { "END_REQUEST length 0", { 1, 3, 0, 1, 0, 0, 0, 0 }, 8, 6,
          "END_REQUEST content length 0, expected 8" },
        { "END_REQUEST length 0x0108", { 1, 3, 0, 1, 1, 8, 0, 0 }, 8, 6,
          "END_REQUEST content length 264, expected 8" },
        { "STDOUT data after the empty STDOUT",
          { 1, 6, 0, 1, 0, 1, 7, 0, 'a', 0, 0, 0, 0, 0, 0, 0,
            1, 6, 0, 1, 0, 0, 0, 0,
            1, 6, 0, 1, 0, 1, 0, 0, 'b' }, 33, 30,
          "STDOUT data after the empty STDOUT record closed the stream" },
        { "record after END_REQUEST",
          { 1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            1, 6, 0, 1, 0, 0, 0, 0 }, 24, 17, "data after END_REQUEST" },
        { "error after good data",
          { 1, 7, 0, 1, 0, 2, 0, 0, 'h', 'i', 3, 6, 0, 1 }, 14, 11,
          "unexpected FastCGI version 3" },
    };
    size_t i;

    for (i = 0; i < ARRAY_LEN(cases); i++) {
        const struct error_case *t = &cases[i];
        static struct collect whole, bytes;

        parse_whole(t->bytes, t->len, 1, &whole);
        is_str(whole.final == FCGI_EV_ERROR ? whole.error : "(no error)",
               t->message, "%s: message", t->what);
        parse_bytewise(t->bytes, t->len, 1, &bytes);
        ok(collect_diff(&whole, &bytes) == NULL,
           "%s: same result byte by byte", t->what);
        is_int(error_offset(t->bytes, t->len, 1), t->at,
               "%s: detected at byte %zu", t->what, t->at);
    }
}

static void test_parse_eof(void)
{
    uint8_t s[256];
    struct fcgi_parser p;
    struct fcgi_event ev;
    size_t len, i;

    fcgi_parser_init(&p, 1);
    is_str(fcgi_parser_eof(&p), "backend closed the connection before "
           "sending any record", "EOF before any byte");
    is_int(fcgi_parse(&p, s, 0, &ev), 0, "after EOF: nothing consumed");
    is_int(ev.kind, FCGI_EV_ERROR, "after EOF the parser is in error");

    fcgi_parser_init(&p, 1);
    len = put_str_record(s, FCGI_STDOUT, 1, "abc", 5);
    i = 0;
    do
        i += fcgi_parse(&p, s + i, len - i, &ev);
    while (ev.kind != FCGI_EV_NONE);
    is_str(fcgi_parser_eof(&p), "backend closed the connection between "
           "records before END_REQUEST", "EOF between records");

    fcgi_parser_init(&p, 1);
    fcgi_parse(&p, s, 3, &ev);
    is_str(fcgi_parser_eof(&p), "backend closed the connection inside a "
           "record header (3 of 8 bytes)", "EOF inside a header");

    fcgi_parser_init(&p, 1);
    memset(s, 'z', sizeof(s));
    fcgi_header_encode(s, FCGI_STDOUT, 1, 100, 4);
    fcgi_parse(&p, s, 8, &ev);
    fcgi_parse(&p, s + 8, 88, &ev);
    is_str(fcgi_parser_eof(&p), "backend closed the connection inside a "
           "STDOUT record (12 of 100 content bytes missing)",
           "EOF inside STDOUT content");

    fcgi_parser_init(&p, 1);
    fcgi_header_encode(s, FCGI_STDERR, 1, 300, 4);
    fcgi_parse(&p, s, 9, &ev);
    is_str(fcgi_parser_eof(&p), "backend closed the connection inside a "
           "STDERR record (299 of 300 content bytes missing)",
           "EOF inside STDERR content");

    fcgi_parser_init(&p, 1);
    fcgi_header_encode(s, FCGI_STDOUT, 1, 0, 0);
    fcgi_header_encode(s + 8, FCGI_GET_VALUES_RESULT, 0, 20, 4);
    for (i = 0; i < 18; i += fcgi_parse(&p, s + i, 18 - i, &ev))
        ;
    is_str(fcgi_parser_eof(&p), "backend closed the connection inside a "
           "GET_VALUES_RESULT record (18 of 20 content bytes missing)",
           "EOF inside GET_VALUES_RESULT content");

    fcgi_parser_init(&p, 1);
    fcgi_end_request_encode(s, 1, 0, 0);
    fcgi_parse(&p, s, 13, &ev);
    is_str(fcgi_parser_eof(&p), "backend closed the connection inside an "
           "END_REQUEST record (3 of 8 content bytes missing)",
           "EOF inside the END_REQUEST body");

    fcgi_parser_init(&p, 1);
    len = put_str_record(s, FCGI_STDOUT, 1, "x", 7);
    for (i = 0; i < len - 5; i += fcgi_parse(&p, s + i, len - 5 - i, &ev))
        ;
    is_str(fcgi_parser_eof(&p), "backend closed the connection inside the "
           "padding of a STDOUT record (5 of 7 padding bytes missing)",
           "EOF inside padding");

    fcgi_parser_init(&p, 1);
    s[0] = 2;
    fcgi_parse(&p, s, 1, &ev);
    is_str(fcgi_parser_eof(&p), "unexpected FastCGI version 2",
           "EOF after a protocol error keeps the protocol error");
}

/* ------------------------------------------------------------------ */
/* The CGI header block                                                */
/* ------------------------------------------------------------------ */

struct hdr_run {
    struct fcgi_cgi_headers h;
    char buf[1024];
    enum fcgi_hdr_result r;
    size_t consumed;
};

/* Feeds block[0..len) whole (step 0) or in pieces of step bytes. */
static void hdr_parse(struct hdr_run *run, const char *block, size_t len,
                      size_t cap, size_t step)
{
    size_t at = 0;

    fcgi_cgi_headers_init(&run->h, run->buf, cap);
    run->consumed = 0;
    do {
        size_t n = step == 0 || len - at < step ? len - at : step, used;

        run->r = fcgi_cgi_headers_feed(&run->h, (const uint8_t *)block + at,
                                       n, &used);
        at += used;
    } while (run->r == FCGI_HDR_AGAIN && at < len);
    run->consumed = at;
}

/* Renders the stored pairs as "name=value|..." for comparison. */
static const char *hdr_pairs(const struct fcgi_cgi_headers *h)
{
    static char out[2048];
    size_t cursor = 0, n = 0;
    const char *name, *value;

    out[0] = '\0';
    while (fcgi_cgi_header_next(h, &cursor, &name, &value))
        n += (size_t)snprintf(out + n, sizeof(out) - n, "%s=%s|", name,
                              value);
    return out;
}

struct hdr_case {
    const char *what;
    const char *block;
    size_t len;             /* 0: strlen */
    enum fcgi_hdr_result result;
    size_t consumed;        /* for DONE: where the body starts */
    const char *expect;     /* pairs, or the error message */
};

static void test_cgi_headers(void)
{
    static const struct hdr_case cases[] = {
        { "Status, Location, repeated Set-Cookie, CRLF",
          "Status: 302 Found\r\nLocation: /next?a=1\r\n"
          "Set-Cookie: a=1; Path=/\r\nSet-Cookie: b=2\r\n\r\nBODY", 0,
          FCGI_HDR_DONE, 84,
          "Status=302 Found|Location=/next?a=1|Set-Cookie=a=1; Path=/|"
          "Set-Cookie=b=2|" },
        { "LF-only lines",
          "Content-Type: text/html\nX-A:b\n\nrest\n\n", 0, FCGI_HDR_DONE, 31,
          "Content-Type=text/html|X-A=b|" },
        { "mixed LF and CRLF, CRLF empty line",
          "A: 1\nB: 2\r\nC: 3\n\r\nbody", 0, FCGI_HDR_DONE, 18,
          "A=1|B=2|C=3|" },
        { "whitespace trimmed around values, inner kept",
          "X-Sp: \t  padded \t value \t \r\nX-Empty:\r\nX-Blank:   \t\n\n", 0,
          FCGI_HDR_DONE, 52, "X-Sp=padded \t value|X-Empty=|X-Blank=|" },
        { "token characters and obs-text values",
          "!#$%&'*+-.^_`|~09azAZ: caf\xc3\xa9 \x80\xff\n\n", 0,
          FCGI_HDR_DONE, 33, "!#$%&'*+-.^_`|~09azAZ=caf\xc3\xa9 \x80\xff|" },
        { "colon inside the value", "Location: http://x:80/a:b\n\n", 0,
          FCGI_HDR_DONE, 27, "Location=http://x:80/a:b|" },
        { "name case kept", "content-TYPE: a\n\n", 0, FCGI_HDR_DONE, 17,
          "content-TYPE=a|" },
        { "empty block (LF)", "\nbody", 0, FCGI_HDR_DONE, 1, "" },
        { "empty block (CRLF)", "\r\nbody", 0, FCGI_HDR_DONE, 2, "" },
        { "incomplete block", "A: b\r\nB: c", 0, FCGI_HDR_AGAIN, 10,
          "A=b|" },
        { "obs-fold with SP", "A: b\r\n  c\r\n\r\n", 0, FCGI_HDR_ERROR, 7,
          "line 2: obs-fold (line starts with 0x20)" },
        { "obs-fold with HTAB", "A: b\n\tc\n\n", 0, FCGI_HDR_ERROR, 6,
          "line 2: obs-fold (line starts with 0x09)" },
        { "leading space on line 1", " A: b\n\n", 0, FCGI_HDR_ERROR, 1,
          "line 1: obs-fold (line starts with 0x20)" },
        { "no colon", "A: b\nB: c\nNoColon\n\n", 0, FCGI_HDR_ERROR, 18,
          "line 3: header line without a colon" },
        { "no colon, CRLF", "NoColon\r\n\r\n", 0, FCGI_HDR_ERROR, 8,
          "line 1: header line without a colon" },
        { "space in name", "A: b\nBad Name: x\n\n", 0, FCGI_HDR_ERROR, 9,
          "line 2: header name contains ' ' (0x20)" },
        { "space before colon", "Name : v\n\n", 0, FCGI_HDR_ERROR, 5,
          "line 1: header name contains ' ' (0x20)" },
        { "separator in name", "A(b): v\n\n", 0, FCGI_HDR_ERROR, 2,
          "line 1: header name contains '(' (0x28)" },
        { "obs-text in name", "A\x80: v\n\n", 0, FCGI_HDR_ERROR, 2,
          "line 1: header name contains byte 0x80" },
        { "NUL in name", "A\0: v\n\n", 7, FCGI_HDR_ERROR, 2,
          "line 1: header name contains byte 0x00" },
        { "empty name", ": v\n\n", 0, FCGI_HDR_ERROR, 1,
          "line 1: empty header name" },
        { "bare CR in value", "A: b\nB: x\ry\n\n", 0, FCGI_HDR_ERROR, 11,
          "line 2: bare CR in header value" },
        { "CR CR LF", "A: b\r\r\n\r\n", 0, FCGI_HDR_ERROR, 6,
          "line 1: bare CR in header value" },
        { "bare CR ending a name", "A\rB: c\n\n", 0, FCGI_HDR_ERROR, 2,
          "line 1: header line without a colon" },
        { "bare CR on the empty line", "A: b\r\n\rX", 0, FCGI_HDR_ERROR, 8,
          "line 2: bare CR in an empty line" },
        { "NUL in value", "A: x\0y\n\n", 8, FCGI_HDR_ERROR, 5,
          "line 1: control character 0x00 in header value" },
        { "NUL as first value byte", "A:\0\n\n", 5, FCGI_HDR_ERROR, 3,
          "line 1: control character 0x00 in header value" },
        { "DEL in value", "A: b\nB: \x7f\n\n", 0, FCGI_HDR_ERROR, 9,
          "line 2: control character 0x7f in header value" },
        { "ESC in value", "A: \x1b[31m\n\n", 0, FCGI_HDR_ERROR, 4,
          "line 1: control character 0x1b in header value" },
        { "vertical tab in value", "A: a\vb\n\n", 0, FCGI_HDR_ERROR, 5,
          "line 1: control character 0x0b in header value" },
    };
    static const char stored[] =
        "Status\0" "302 Found\0" "Location\0" "/next?a=1\0"
        "Set-Cookie\0" "a=1; Path=/\0" "Set-Cookie\0" "b=2\0";
    static struct hdr_run whole, bytes;
    size_t i, step, fails;
    char expect_buf[256];

    for (i = 0; i < ARRAY_LEN(cases); i++) {
        const struct hdr_case *t = &cases[i];
        size_t len = t->len ? t->len : strlen(t->block);

        hdr_parse(&whole, t->block, len, sizeof(whole.buf), 0);
        is_int(whole.r, t->result, "%s: result", t->what);
        is_int(whole.consumed, t->consumed, "%s: consumed %zu", t->what,
               t->consumed);
        if (t->result == FCGI_HDR_ERROR)
            is_str(whole.h.error, t->expect, "%s: message", t->what);
        else
            is_str(hdr_pairs(&whole.h), t->expect, "%s: pairs", t->what);

        /* Same outcome for every piece size. */
        for (fails = 0, step = 1; step <= len; step++) {
            hdr_parse(&bytes, t->block, len, sizeof(bytes.buf), step);
            if (bytes.r != whole.r || bytes.consumed != whole.consumed
                || strcmp(bytes.h.error, whole.h.error) != 0
                || bytes.h.len != whole.h.len
                || memcmp(bytes.buf, whole.buf, whole.h.len) != 0)
                fails++;
        }
        is_int(fails, 0, "%s: same outcome in pieces of 1..%zu bytes",
               t->what, len);
    }

    /* Byte-exact storage and count for the first case. */
    hdr_parse(&whole, cases[0].block, strlen(cases[0].block),
              sizeof(whole.buf), 0);
    is_mem(whole.buf, whole.h.len, stored, sizeof(stored) - 1,
           "pairs stored compacted as name NUL value NUL");
    is_int(whole.h.count, 4, "four header lines counted");
    is_int(whole.h.block_bytes, 84, "raw block bytes counted");
    ok(memcmp(cases[0].block + whole.consumed, "BODY", 4) == 0,
       "buf + consumed is the start of the body");

    /* Again after DONE / ERROR: nothing more consumed. */
    {
        size_t used = 99;

        is_int(fcgi_cgi_headers_feed(&whole.h, (const uint8_t *)"X: y\n", 5,
                                     &used), FCGI_HDR_DONE,
               "feeding after DONE stays DONE");
        is_int(used, 0, "... consuming nothing");
        hdr_parse(&whole, "A\0", 2, sizeof(whole.buf), 0);
        is_int(fcgi_cgi_headers_feed(&whole.h, (const uint8_t *)"\n\n", 2,
                                     &used), FCGI_HDR_ERROR,
               "feeding after ERROR stays ERROR");
        is_int(used, 0, "... consuming nothing");
    }

    /* The walker sees only complete pairs while a line is half parsed. */
    hdr_parse(&whole, "A: 1\nB: par", 11, sizeof(whole.buf), 0);
    is_str(hdr_pairs(&whole.h), "A=1|", "half a line is not walked");
    hdr_parse(&whole, "A: 1\nBBB", 8, sizeof(whole.buf), 0);
    is_str(hdr_pairs(&whole.h), "A=1|", "half a name is not walked");

    /* The size limit: exactly cap raw bytes pass, one more fails. */
    {
        static const char block[] = "Status: 200\r\nX-Long: 0123456789\r\n"
                                    "\r\n";
        size_t len = strlen(block);

        hdr_parse(&whole, block, len, len, 0);
        is_int(whole.r, FCGI_HDR_DONE, "a block of exactly cap bytes fits");
        hdr_parse(&whole, block, len, len - 1, 0);
        is_int(whole.r, FCGI_HDR_ERROR, "cap - 1: too large");
        snprintf(expect_buf, sizeof(expect_buf),
                 "response header block larger than %zu bytes", len - 1);
        is_str(whole.h.error, expect_buf, "... with the limit in the "
               "message");
        is_int(whole.consumed, len, "... found at the last byte");
        ok(whole.h.len <= len - 1, "... and storage never exceeded cap");
        hdr_parse(&whole, block, len, len - 1, 1);
        is_str(whole.h.error, expect_buf, "same, one byte at a time");
    }
    {
        /* Blank flood: leading value blanks are not stored, but they are
         * counted. */
        static char block[1000];
        size_t used;

        memcpy(block, "A:", 2);
        memset(block + 2, ' ', sizeof(block) - 2);
        fcgi_cgi_headers_init(&whole.h, whole.buf, 100);
        is_int(fcgi_cgi_headers_feed(&whole.h, (const uint8_t *)block,
                                     sizeof(block), &used), FCGI_HDR_ERROR,
               "a flood of blanks in a value is stopped by cap");
        is_int(used, 101, "... at raw byte 101");
        is_int(whole.h.len, 2, "... while only 2 bytes were stored");
        is_str(whole.h.error, "response header block larger than 100 bytes",
               "... with the size message");
        fcgi_cgi_headers_init(&whole.h, whole.buf, 100);
        is_int(fcgi_cgi_headers_feed(&whole.h, (const uint8_t *)"\r", 1,
                                     &used), FCGI_HDR_AGAIN,
               "a lone CR waits for its LF");
        fcgi_cgi_headers_init(&whole.h, whole.buf, 0);
        is_int(fcgi_cgi_headers_feed(&whole.h, (const uint8_t *)"\n", 1,
                                     &used), FCGI_HDR_ERROR,
               "cap 0 admits not even the empty line");
    }
}

int main(void)
{
    test_padding();
    test_headers_encode();
    test_nv();
    test_stream_records();
    test_get_values();
    test_parse_response();
    test_end_request_padding();
    test_management();
    test_padding_any_length();
    test_parse_errors();
    test_parse_eof();
    test_cgi_headers();
    /* Inputs that fuzz/fcgi_proto_fuzz.c finds to crash or disagree become
     * test_fuzz_<name>() cases here (none so far). */
    return done_testing();
}
