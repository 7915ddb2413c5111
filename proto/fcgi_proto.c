/*
 * fcgi_proto.c - the FastCGI 1.0 wire format and the CGI response header
 * block.  See fcgi_proto.h for the contract of every function.
 *
 * References: "FastCGI Specification", Mark R. Brown, Open Market, 1996
 * (cited as "spec N.N"); RFC 3875 (CGI 1.1); RFC 7230 (HTTP/1.1 syntax).
 *
 * Leaf file: no I/O, no allocation, no httpd or APR headers.  Every
 * multi-byte field is read and written with explicit big-endian shifts.
 */
#include "fcgi_proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Offsets inside the 8-byte record header (spec 3.3, FCGI_Header). */
#define HDR_VERSION         0
#define HDR_TYPE            1
#define HDR_ID_B1           2
#define HDR_ID_B0           3
#define HDR_CLEN_B1         4
#define HDR_CLEN_B0         5
#define HDR_PADDING         6
#define HDR_RESERVED        7

/* Offsets inside the 8-byte END_REQUEST body (spec 5.5). */
#define END_APP_STATUS_B3   0
#define END_PROTO_STATUS    4

/* Lets the compiler check the format strings of the error helpers. */
#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

static const char *type_name(unsigned type)
{
    static const char *const names[] = {
        NULL, "BEGIN_REQUEST", "ABORT_REQUEST", "END_REQUEST", "PARAMS",
        "STDIN", "STDOUT", "STDERR", "DATA", "GET_VALUES",
        "GET_VALUES_RESULT", "UNKNOWN_TYPE"
    };

    return type < sizeof(names) / sizeof(names[0]) ? names[type] : NULL;
}

/* "a STDOUT", "an END_REQUEST": for messages about a record. */
static const char *article(const char *name)
{
    return strchr("AEIOU", name[0]) != NULL ? "an" : "a";
}

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

size_t fcgi_padding_for(size_t content_len)
{
    return (8 - (content_len & 7)) & 7;
}

void fcgi_header_encode(uint8_t out[FCGI_HEADER_LEN], unsigned type,
                        unsigned request_id, unsigned content_len,
                        unsigned padding_len)
{
    out[HDR_VERSION] = FCGI_VERSION_1;
    out[HDR_TYPE] = (uint8_t)type;
    out[HDR_ID_B1] = (uint8_t)(request_id >> 8);
    out[HDR_ID_B0] = (uint8_t)request_id;
    out[HDR_CLEN_B1] = (uint8_t)(content_len >> 8);
    out[HDR_CLEN_B0] = (uint8_t)content_len;
    out[HDR_PADDING] = (uint8_t)padding_len;
    out[HDR_RESERVED] = 0;
}

/* Spec 5.1: FCGI_BeginRequestBody is role (2 bytes), flags, 5 reserved. */
void fcgi_begin_request_encode(uint8_t out[FCGI_BEGIN_REQUEST_LEN],
                               unsigned request_id, unsigned role,
                               unsigned flags)
{
    uint8_t *body = out + FCGI_HEADER_LEN;

    fcgi_header_encode(out, FCGI_BEGIN_REQUEST, request_id, 8, 0);
    body[0] = (uint8_t)(role >> 8);
    body[1] = (uint8_t)role;
    body[2] = (uint8_t)flags;
    memset(body + 3, 0, 5);
}

/* Spec 5.4: ABORT_REQUEST has no content. */
void fcgi_abort_request_encode(uint8_t out[FCGI_HEADER_LEN],
                               unsigned request_id)
{
    fcgi_header_encode(out, FCGI_ABORT_REQUEST, request_id, 0, 0);
}

/* Spec 5.5: FCGI_EndRequestBody is appStatus (4 bytes), protocolStatus,
 * 3 reserved. */
void fcgi_end_request_encode(uint8_t out[FCGI_END_REQUEST_LEN],
                             unsigned request_id, uint32_t app_status,
                             unsigned protocol_status)
{
    uint8_t *body = out + FCGI_HEADER_LEN;

    fcgi_header_encode(out, FCGI_END_REQUEST, request_id, 8, 0);
    body[0] = (uint8_t)(app_status >> 24);
    body[1] = (uint8_t)(app_status >> 16);
    body[2] = (uint8_t)(app_status >> 8);
    body[3] = (uint8_t)app_status;
    body[4] = (uint8_t)protocol_status;
    memset(body + 5, 0, 3);
}

/* Spec 3.4: a length below 128 takes one byte, anything else four. */
static size_t nv_len_size(size_t len)
{
    return len < 128 ? 1 : 4;
}

static uint8_t *nv_len_put(uint8_t *out, size_t len)
{
    if (len < 128) {
        *out++ = (uint8_t)len;
        return out;
    }
    *out++ = (uint8_t)(((len >> 24) & 0x7f) | 0x80);
    *out++ = (uint8_t)(len >> 16);
    *out++ = (uint8_t)(len >> 8);
    *out++ = (uint8_t)len;
    return out;
}

size_t fcgi_nv_len(size_t name_len, size_t value_len)
{
    size_t prefix;

    if (name_len > FCGI_NV_MAX_LEN || value_len > FCGI_NV_MAX_LEN)
        return 0;
    prefix = nv_len_size(name_len) + nv_len_size(value_len);
    /* Only a 32-bit size_t can overflow here. */
    if (value_len > SIZE_MAX - prefix - name_len)
        return 0;
    return prefix + name_len + value_len;
}

size_t fcgi_nv_encode(uint8_t *out, size_t avail,
                      const char *name, size_t name_len,
                      const char *value, size_t value_len)
{
    size_t total = fcgi_nv_len(name_len, value_len);
    uint8_t *p = out;

    if (total == 0 || total > avail)
        return 0;
    p = nv_len_put(p, name_len);
    p = nv_len_put(p, value_len);
    if (name_len > 0)
        memcpy(p, name, name_len);
    if (value_len > 0)
        memcpy(p + name_len, value, value_len);
    return total;
}

/* Reads one length at in[*off] of in[0..len).  Returns 0 when the length
 * itself is truncated. */
static int nv_len_get(const uint8_t *in, size_t len, size_t *off,
                      size_t *out)
{
    size_t at = *off;

    if (at >= len)
        return 0;
    if (in[at] < 128) {
        *out = in[at];
        *off = at + 1;
        return 1;
    }
    if (len - at < 4)
        return 0;
    *out = ((size_t)(in[at] & 0x7f) << 24) | ((size_t)in[at + 1] << 16)
           | ((size_t)in[at + 2] << 8) | (size_t)in[at + 3];
    *off = at + 4;
    return 1;
}

size_t fcgi_nv_decode(const uint8_t *in, size_t len,
                      const char **name, size_t *name_len,
                      const char **value, size_t *value_len)
{
    size_t off = 0, nlen, vlen;

    if (!nv_len_get(in, len, &off, &nlen) || !nv_len_get(in, len, &off, &vlen))
        return 0;
    /* off <= 8 and both lengths < 2^31: only a 32-bit size_t overflows. */
    if (nlen > SIZE_MAX - off || vlen > SIZE_MAX - off - nlen)
        return FCGI_NV_BAD;
    if (nlen > len - off || vlen > len - off - nlen)
        return 0;
    *name = (const char *)(in + off);
    *name_len = nlen;
    *value = (const char *)(in + off + nlen);
    *value_len = vlen;
    return off + nlen + vlen;
}

static size_t clamp_max_content(size_t max_content)
{
    if (max_content == 0 || max_content > FCGI_MAX_CONTENT_LEN)
        return FCGI_MAX_CONTENT_LEN;
    return max_content;
}

size_t fcgi_stream_records_len(size_t data_len, size_t max_content)
{
    size_t max = clamp_max_content(max_content);
    size_t full = data_len / max, rest = data_len % max;
    size_t records = full + (rest > 0);

    /* Each record adds at most 8 header + 7 padding bytes. */
    if (records > (SIZE_MAX - data_len) / 16)
        return 0;
    return data_len
           + full * (FCGI_HEADER_LEN + fcgi_padding_for(max))
           + (rest > 0 ? FCGI_HEADER_LEN + fcgi_padding_for(rest) : 0);
}

size_t fcgi_stream_records_encode(uint8_t *out, unsigned type,
                                  unsigned request_id,
                                  const uint8_t *data, size_t data_len,
                                  size_t max_content)
{
    size_t max = clamp_max_content(max_content);
    size_t done = 0, written = 0;

    if (fcgi_stream_records_len(data_len, max) == 0)
        return 0;
    while (done < data_len) {
        size_t chunk = min_size(data_len - done, max);
        size_t pad = fcgi_padding_for(chunk);

        fcgi_header_encode(out + written, type, request_id,
                           (unsigned)chunk, (unsigned)pad);
        written += FCGI_HEADER_LEN;
        memcpy(out + written, data + done, chunk);
        written += chunk;
        memset(out + written, 0, pad);
        written += pad;
        done += chunk;
    }
    return written;
}

/* ------------------------------------------------------------------ */
/* Decoding the record stream from an application                      */
/* ------------------------------------------------------------------ */

void fcgi_parser_init(struct fcgi_parser *p, unsigned request_id)
{
    memset(p, 0, sizeof(*p));
    p->state = FCGI_ST_HEADER;
    p->request_id = request_id;
}

/* Enters the sticky error state with a message; returns 0. */
static int parse_fail(struct fcgi_parser *p, const char *fmt, ...)
    PRINTF_LIKE(2, 3);
static int parse_fail(struct fcgi_parser *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(p->error, sizeof(p->error), fmt, ap);
    va_end(ap);
    p->state = FCGI_ST_ERROR;
    return 0;
}

/* What a responder may send (spec 5.3, 5.5, 4.1, 4.2): everything else is
 * either a web-server-to-application type or unknown. */
static int responder_may_send(unsigned type)
{
    switch (type) {
    case FCGI_STDOUT:
    case FCGI_STDERR:
    case FCGI_END_REQUEST:
    case FCGI_GET_VALUES_RESULT:
    case FCGI_UNKNOWN_TYPE:
        return 1;
    default:
        return 0;
    }
}

/* Management records (spec 3.2) carry request id 0. */
static int is_management(unsigned type)
{
    return type == FCGI_GET_VALUES_RESULT || type == FCGI_UNKNOWN_TYPE;
}

/* Validates the header byte just stored at p->hdr[p->pos], as soon as the
 * field it completes is known.  Returns 0 (state ERROR) on a bad field. */
static int header_byte_ok(struct fcgi_parser *p)
{
    const uint8_t *h = p->hdr;
    unsigned type = h[HDR_TYPE], id, clen;
    const char *name;

    switch (p->pos) {
    case HDR_VERSION:
        if (h[HDR_VERSION] != FCGI_VERSION_1)
            return parse_fail(p, "unexpected FastCGI version %u",
                              h[HDR_VERSION]);
        break;
    case HDR_TYPE:
        if (responder_may_send(type))
            break;
        name = type_name(type);
        if (name != NULL)
            return parse_fail(p, "unexpected record type %u (%s)", type, name);
        return parse_fail(p, "unexpected record type %u", type);
    case HDR_ID_B0:
        id = ((unsigned)h[HDR_ID_B1] << 8) | h[HDR_ID_B0];
        if (id != FCGI_NULL_REQUEST_ID && id != p->request_id)
            return parse_fail(p, "unexpected request id %u, expected %u",
                              id, p->request_id);
        if (id == FCGI_NULL_REQUEST_ID && !is_management(type))
            return parse_fail(p, "unexpected request id 0 on %s %s record, "
                              "expected %u", article(type_name(type)),
                              type_name(type), p->request_id);
        if (id != FCGI_NULL_REQUEST_ID && is_management(type))
            return parse_fail(p, "unexpected request id %u on %s %s record, "
                              "expected 0", id, article(type_name(type)),
                              type_name(type));
        break;
    case HDR_CLEN_B0:
        clen = ((unsigned)h[HDR_CLEN_B1] << 8) | h[HDR_CLEN_B0];
        /* Spec 5.5: the END_REQUEST body is exactly 8 bytes. */
        if (type == FCGI_END_REQUEST && clen != 8)
            return parse_fail(p, "END_REQUEST content length %u, expected 8",
                              clen);
        /* Spec 5.3: the empty record ends the stream. */
        if (type == FCGI_STDOUT && clen > 0 && p->stdout_closed)
            return parse_fail(p, "STDOUT data after the empty STDOUT "
                              "record closed the stream");
        break;
    default:
        break;
    }
    return 1;
}

/* The record's whole content is in: skip padding or finish the record. */
static void record_end(struct fcgi_parser *p, struct fcgi_event *ev)
{
    const uint8_t *b = p->body;

    if (p->type != FCGI_END_REQUEST) {
        p->state = FCGI_ST_HEADER;
        p->pos = 0;
        return;
    }
    p->state = FCGI_ST_DONE;
    ev->kind = FCGI_EV_END_REQUEST;
    ev->type = FCGI_END_REQUEST;
    ev->app_status = ((uint32_t)b[END_APP_STATUS_B3] << 24)
                     | ((uint32_t)b[END_APP_STATUS_B3 + 1] << 16)
                     | ((uint32_t)b[END_APP_STATUS_B3 + 2] << 8)
                     | (uint32_t)b[END_APP_STATUS_B3 + 3];
    ev->protocol_status = b[END_PROTO_STATUS];
}

static void content_done(struct fcgi_parser *p, struct fcgi_event *ev)
{
    if (p->padding_left > 0)
        p->state = FCGI_ST_PADDING;
    else
        record_end(p, ev);
}

/* The header is complete: one case per record type that passed
 * header_byte_ok(). */
static void record_begin(struct fcgi_parser *p, struct fcgi_event *ev)
{
    const uint8_t *h = p->hdr;

    p->records++;
    p->type = h[HDR_TYPE];
    p->content_left = ((unsigned)h[HDR_CLEN_B1] << 8) | h[HDR_CLEN_B0];
    p->padding_left = h[HDR_PADDING];
    p->pos = 0;
    switch (p->type) {
    case FCGI_STDOUT:
        /* Spec 5.3: an empty STDOUT record closes the stream.  A repeated
         * one says nothing new and is ignored. */
        if (p->content_left == 0 && !p->stdout_closed) {
            p->stdout_closed = 1;
            ev->kind = FCGI_EV_STDOUT_EOF;
            ev->type = FCGI_STDOUT;
        }
        break;
    case FCGI_STDERR:
        /* An empty STDERR record only closes a stream nobody waits on. */
        break;
    case FCGI_END_REQUEST:
        p->state = FCGI_ST_END_BODY;
        return;
    default:
        /* GET_VALUES_RESULT, UNKNOWN_TYPE: report even an empty one, the
         * caller waits for its end. */
        if (p->content_left == 0) {
            ev->kind = FCGI_EV_MANAGEMENT;
            ev->type = p->type;
            ev->last = 1;
        }
        break;
    }
    if (p->content_left > 0)
        p->state = FCGI_ST_CONTENT;
    else
        content_done(p, ev);
}

/* Reports n content bytes at data as a zero-copy slice. */
static void content_slice(struct fcgi_parser *p, struct fcgi_event *ev,
                          const uint8_t *data, size_t n)
{
    ev->kind = p->type == FCGI_STDOUT ? FCGI_EV_STDOUT
               : p->type == FCGI_STDERR ? FCGI_EV_STDERR
               : FCGI_EV_MANAGEMENT;
    ev->type = p->type;
    ev->data = data;
    ev->len = n;
    p->content_left -= (unsigned)n;
    ev->last = p->content_left == 0;
    if (ev->last)
        content_done(p, ev);
}

size_t fcgi_parse(struct fcgi_parser *p, const uint8_t *buf, size_t len,
                  struct fcgi_event *ev)
{
    size_t i = 0, n;

    memset(ev, 0, sizeof(*ev));
    ev->kind = FCGI_EV_NONE;
    while (ev->kind == FCGI_EV_NONE) {
        switch (p->state) {
        case FCGI_ST_HEADER:
            if (i == len)
                return i;
            p->hdr[p->pos] = buf[i++];
            if (header_byte_ok(p) && ++p->pos == FCGI_HEADER_LEN)
                record_begin(p, ev);
            break;
        case FCGI_ST_CONTENT:
            if (i == len)
                return i;
            n = min_size(len - i, p->content_left);
            content_slice(p, ev, buf + i, n);
            i += n;
            break;
        case FCGI_ST_END_BODY:
            if (i == len)
                return i;
            p->body[p->pos++] = buf[i++];
            if (p->pos == sizeof(p->body))
                content_done(p, ev);
            break;
        case FCGI_ST_PADDING:
            if (i == len)
                return i;
            n = min_size(len - i, p->padding_left);
            p->padding_left -= (unsigned)n;
            i += n;
            if (p->padding_left == 0)
                record_end(p, ev);
            break;
        case FCGI_ST_DONE:
            /* Spec 5.5: END_REQUEST is the last record of a request. */
            if (i < len) {
                i++;
                parse_fail(p, "data after END_REQUEST");
                break;
            }
            record_end(p, ev);
            break;
        case FCGI_ST_ERROR:
            ev->kind = FCGI_EV_ERROR;
            break;
        default:
            parse_fail(p, "parser state %d is corrupt", (int)p->state);
            break;
        }
    }
    return i;
}

const char *fcgi_parser_eof(struct fcgi_parser *p)
{
    const char *name = type_name(p->type);
    static const char prefix[] = "backend closed the connection";

    switch (p->state) {
    case FCGI_ST_DONE:
        return NULL;
    case FCGI_ST_ERROR:
        return p->error;
    case FCGI_ST_HEADER:
        if (p->pos > 0)
            parse_fail(p, "%s inside a record header (%u of 8 bytes)",
                       prefix, p->pos);
        else if (p->records == 0)
            parse_fail(p, "%s before sending any record", prefix);
        else
            parse_fail(p, "%s between records before END_REQUEST", prefix);
        break;
    case FCGI_ST_CONTENT:
        parse_fail(p, "%s inside %s %s record (%u of %u content bytes "
                   "missing)", prefix, article(name), name, p->content_left,
                   ((unsigned)p->hdr[HDR_CLEN_B1] << 8) | p->hdr[HDR_CLEN_B0]);
        break;
    case FCGI_ST_END_BODY:
        parse_fail(p, "%s inside an END_REQUEST record (%u of 8 content "
                   "bytes missing)", prefix, 8 - p->pos);
        break;
    case FCGI_ST_PADDING:
        parse_fail(p, "%s inside the padding of %s %s record (%u of %u "
                   "padding bytes missing)", prefix, article(name), name,
                   p->padding_left, p->hdr[HDR_PADDING]);
        break;
    default:
        parse_fail(p, "parser state %d is corrupt", (int)p->state);
        break;
    }
    return p->error;
}

/* ------------------------------------------------------------------ */
/* FCGI_GET_VALUES                                                     */
/* ------------------------------------------------------------------ */

/* Spec 4.1: the request carries names with empty values, in one record. */
size_t fcgi_get_values_encode(uint8_t *out, size_t avail,
                              const char *const *names, size_t n_names)
{
    size_t content = 0, total, pad, i, at;

    for (i = 0; i < n_names; i++) {
        size_t one = fcgi_nv_len(strlen(names[i]), 0);

        if (one == 0 || one > FCGI_MAX_CONTENT_LEN - content)
            return 0;
        content += one;
    }
    pad = fcgi_padding_for(content);
    total = FCGI_HEADER_LEN + content + pad;
    if (total > avail)
        return 0;
    fcgi_header_encode(out, FCGI_GET_VALUES, FCGI_NULL_REQUEST_ID,
                       (unsigned)content, (unsigned)pad);
    at = FCGI_HEADER_LEN;
    for (i = 0; i < n_names; i++)
        at += fcgi_nv_encode(out + at, total - at, names[i],
                             strlen(names[i]), "", 0);
    memset(out + at, 0, pad);
    return total;
}

/* ------------------------------------------------------------------ */
/* The CGI response header block (RFC 3875 section 6.2/6.3)            */
/* ------------------------------------------------------------------ */

void fcgi_cgi_headers_init(struct fcgi_cgi_headers *h, char *buf, size_t cap)
{
    memset(h, 0, sizeof(*h));
    h->state = FCGI_HS_LINE_START;
    h->buf = buf;
    h->cap = cap;
    h->line = 1;
}

static void hdr_fail(struct fcgi_cgi_headers *h, const char *fmt, ...)
    PRINTF_LIKE(2, 3);
static void hdr_fail(struct fcgi_cgi_headers *h, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(h->error, sizeof(h->error), fmt, ap);
    va_end(ap);
    h->state = FCGI_HS_ERROR;
}

static void hdr_too_large(struct fcgi_cgi_headers *h)
{
    hdr_fail(h, "response header block larger than %zu bytes", h->cap);
}

/* Stores one byte of the compacted pairs; 0 (state ERROR) when full. */
static int hdr_put(struct fcgi_cgi_headers *h, uint8_t c)
{
    if (h->len >= h->cap) {
        hdr_too_large(h);
        return 0;
    }
    h->buf[h->len++] = (char)c;
    return 1;
}

/* RFC 7230 section 3.2.6: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*"
 * / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA. */
static int is_tchar(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static void name_byte(struct fcgi_cgi_headers *h, uint8_t c)
{
    if (is_tchar(c)) {
        if (hdr_put(h, c))
            h->state = FCGI_HS_NAME;
    } else if (c >= 0x20 && c < 0x7f) {
        hdr_fail(h, "line %u: header name contains '%c' (0x%02x)",
                 h->line, c, c);
    } else {
        hdr_fail(h, "line %u: header name contains byte 0x%02x", h->line, c);
    }
}

/* The line ended: drop trailing blanks (RFC 7230 section 3.2.4, OWS). */
static void line_end(struct fcgi_cgi_headers *h)
{
    h->len = h->value_end;
    if (!hdr_put(h, '\0'))
        return;
    h->count++;
    h->line++;
    h->state = FCGI_HS_LINE_START;
}

/* RFC 7230 section 3.2: field-value is VCHAR, obs-text, SP and HTAB; no
 * other control character may pass, a bare CR least of all (it would let
 * the application split the response). */
static void value_byte(struct fcgi_cgi_headers *h, uint8_t c)
{
    h->state = FCGI_HS_VALUE;
    if (c == '\n')
        line_end(h);
    else if (c == '\r')
        h->state = FCGI_HS_LINE_CR;
    else if (c == ' ' || c == '\t')
        hdr_put(h, c);
    else if (c < 0x20 || c == 0x7f)
        hdr_fail(h, "line %u: control character 0x%02x in header value",
                 h->line, c);
    else if (hdr_put(h, c))
        h->value_end = h->len;
}

/* One byte of the block: one case per state. */
static void hdr_byte(struct fcgi_cgi_headers *h, uint8_t c)
{
    switch (h->state) {
    case FCGI_HS_LINE_START:
        if (c == '\n')
            h->state = FCGI_HS_DONE;
        else if (c == '\r')
            h->state = FCGI_HS_END_CR;
        else if (c == ' ' || c == '\t')
            /* RFC 7230 section 3.2.4: obs-fold must be rejected (or
             * rewritten); we reject. */
            hdr_fail(h, "line %u: obs-fold (line starts with 0x%02x)",
                     h->line, c);
        else if (c == ':')
            hdr_fail(h, "line %u: empty header name", h->line);
        else
            name_byte(h, c);
        break;
    case FCGI_HS_NAME:
        if (c == ':') {
            if (hdr_put(h, '\0')) {
                h->value_end = h->len;
                h->state = FCGI_HS_VALUE_LWS;
            }
        } else if (c == '\n' || c == '\r') {
            hdr_fail(h, "line %u: header line without a colon", h->line);
        } else {
            name_byte(h, c);
        }
        break;
    case FCGI_HS_VALUE_LWS:
        if (c != ' ' && c != '\t')
            value_byte(h, c);
        break;
    case FCGI_HS_VALUE:
        value_byte(h, c);
        break;
    case FCGI_HS_LINE_CR:
        if (c == '\n')
            line_end(h);
        else
            hdr_fail(h, "line %u: bare CR in header value", h->line);
        break;
    case FCGI_HS_END_CR:
        if (c == '\n')
            h->state = FCGI_HS_DONE;
        else
            hdr_fail(h, "line %u: bare CR in an empty line", h->line);
        break;
    case FCGI_HS_DONE:
    case FCGI_HS_ERROR:
    default:
        break;
    }
}

enum fcgi_hdr_result fcgi_cgi_headers_feed(struct fcgi_cgi_headers *h,
                                           const uint8_t *buf, size_t len,
                                           size_t *consumed)
{
    size_t i = 0;

    while (i < len && h->state != FCGI_HS_DONE && h->state != FCGI_HS_ERROR) {
        uint8_t c = buf[i++];

        /* Raw bytes count too: blank padding or CRs must not run free. */
        if (++h->block_bytes > h->cap)
            hdr_too_large(h);
        else
            hdr_byte(h, c);
    }
    *consumed = i;
    if (h->state == FCGI_HS_DONE)
        return FCGI_HDR_DONE;
    if (h->state == FCGI_HS_ERROR)
        return FCGI_HDR_ERROR;
    return FCGI_HDR_AGAIN;
}

int fcgi_cgi_header_next(const struct fcgi_cgi_headers *h, size_t *cursor,
                         const char **name, const char **value)
{
    const char *end = h->buf + h->len, *n, *n_end, *v, *v_end;

    if (*cursor >= h->len)
        return 0;
    n = h->buf + *cursor;
    n_end = memchr(n, '\0', (size_t)(end - n));
    if (n_end == NULL)
        return 0;   /* a line still being parsed */
    v = n_end + 1;
    v_end = memchr(v, '\0', (size_t)(end - v));
    if (v_end == NULL)
        return 0;
    *name = n;
    *value = v;
    *cursor = (size_t)(v_end + 1 - h->buf);
    return 1;
}
