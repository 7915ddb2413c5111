/*
 * fcgi_proto.h - the FastCGI 1.0 wire format, and the CGI response header
 * block that travels inside FCGI_STDOUT.
 *
 * Pure functions over byte arrays: no I/O, no allocation, no httpd or APR
 * types, so the module, the spawner, the unit tests and the fuzzers all link
 * this one file alone.  Every multi-byte field is big-endian on the wire
 * (FastCGI spec section 3.3) and is read and written with explicit shifts;
 * no struct is ever overlaid on a network buffer.
 */
#ifndef FCGI_PROTO_H
#define FCGI_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define FCGI_VERSION_1          1
#define FCGI_HEADER_LEN         8
#define FCGI_MAX_CONTENT_LEN    65535
/* Largest content length that needs no padding to stay 8-byte aligned. */
#define FCGI_MAX_ALIGNED_LEN    65528
#define FCGI_NULL_REQUEST_ID    0

/* Record types, FastCGI spec section 8. */
enum fcgi_type {
    FCGI_BEGIN_REQUEST      = 1,
    FCGI_ABORT_REQUEST      = 2,
    FCGI_END_REQUEST        = 3,
    FCGI_PARAMS             = 4,
    FCGI_STDIN              = 5,
    FCGI_STDOUT             = 6,
    FCGI_STDERR             = 7,
    FCGI_DATA               = 8,
    FCGI_GET_VALUES         = 9,
    FCGI_GET_VALUES_RESULT  = 10,
    FCGI_UNKNOWN_TYPE       = 11
};

/* BEGIN_REQUEST roles and flags. */
#define FCGI_RESPONDER          1
#define FCGI_AUTHORIZER         2
#define FCGI_FILTER             3
#define FCGI_KEEP_CONN          1

/* END_REQUEST protocol status. */
#define FCGI_REQUEST_COMPLETE   0
#define FCGI_CANT_MPX_CONN      1
#define FCGI_OVERLOADED         2
#define FCGI_UNKNOWN_ROLE       3

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

/* Padding that brings a content length to a multiple of 8 (spec 3.3
 * recommends it; receivers must accept any padding). */
size_t fcgi_padding_for(size_t content_len);

/* Writes an 8-byte record header. */
void fcgi_header_encode(uint8_t out[FCGI_HEADER_LEN], unsigned type,
                        unsigned request_id, unsigned content_len,
                        unsigned padding_len);

/* Writes a whole BEGIN_REQUEST record: header plus 8-byte body. */
#define FCGI_BEGIN_REQUEST_LEN  16
void fcgi_begin_request_encode(uint8_t out[FCGI_BEGIN_REQUEST_LEN],
                               unsigned request_id, unsigned role,
                               unsigned flags);

/* Writes a whole ABORT_REQUEST record (header only, no content). */
void fcgi_abort_request_encode(uint8_t out[FCGI_HEADER_LEN],
                               unsigned request_id);

/* Writes a whole END_REQUEST record: header plus 8-byte body.  Used by the
 * test backends and the spawner's self-checks, not by the module. */
#define FCGI_END_REQUEST_LEN    16
void fcgi_end_request_encode(uint8_t out[FCGI_END_REQUEST_LEN],
                             unsigned request_id, uint32_t app_status,
                             unsigned protocol_status);

/*
 * Name-value pairs (spec 3.4): each length is one byte when < 128, else four
 * bytes with the top bit set.  Lengths above 0x7fffffff cannot be encoded.
 */
#define FCGI_NV_MAX_LEN         0x7fffffffu

/* Encoded size of one pair, or 0 when a length is too large to encode (or
 * the total would not fit in a size_t). */
size_t fcgi_nv_len(size_t name_len, size_t value_len);

/* Writes one pair into out, which has room for at least avail bytes.
 * Returns the bytes written, or 0 when the pair does not fit or cannot be
 * encoded (nothing is written then). */
size_t fcgi_nv_encode(uint8_t *out, size_t avail,
                      const char *name, size_t name_len,
                      const char *value, size_t value_len);

/* Decodes one pair from in[0..len).  On success returns the bytes consumed
 * (> 0) and points *name / *value into in (not NUL-terminated; an empty name
 * is returned as is, the caller decides).  Returns 0 when in holds only a
 * prefix of a pair (read more): a truncated length, or lengths that promise
 * more bytes than len, however large.  Every 1- or 4-byte length is a valid
 * length (a 4-byte form of a value below 128 is accepted), so FCGI_NV_BAD is
 * returned only when the pair could never fit in memory (its total size
 * overflows a size_t, possible only where size_t has 32 bits).  Never reads
 * past in + len. */
#define FCGI_NV_BAD             ((size_t)-1)
size_t fcgi_nv_decode(const uint8_t *in, size_t len,
                      const char **name, size_t *name_len,
                      const char **value, size_t *value_len);

/*
 * A byte stream (PARAMS, STDIN, GET_VALUES content) cut into records of at
 * most max_content bytes each (1..FCGI_MAX_CONTENT_LEN; 0 or anything larger
 * means FCGI_MAX_CONTENT_LEN), each padded to 8 with zero bytes.
 * A stream may be cut anywhere, even inside a name-value pair (spec 3.3).
 * fcgi_stream_records_len is the size pass; fcgi_stream_records_encode the
 * fill pass, returning the bytes written, equal to the size pass.  Neither
 * adds the empty record that ends a stream: encode that with
 * fcgi_header_encode(..., 0, 0).  An empty data stream is 0 bytes; so is a
 * size that would overflow a size_t (nothing is written then).
 */
size_t fcgi_stream_records_len(size_t data_len, size_t max_content);
size_t fcgi_stream_records_encode(uint8_t *out, unsigned type,
                                  unsigned request_id,
                                  const uint8_t *data, size_t data_len,
                                  size_t max_content);

/* ------------------------------------------------------------------ */
/* Decoding the record stream from an application                      */
/* ------------------------------------------------------------------ */

enum fcgi_parse_state {
    FCGI_ST_HEADER = 0,     /* collecting the 8 header bytes */
    FCGI_ST_CONTENT,        /* inside a STDOUT/STDERR/management body */
    FCGI_ST_END_BODY,       /* collecting the 8-byte END_REQUEST body */
    FCGI_ST_PADDING,        /* skipping padding */
    FCGI_ST_DONE,           /* END_REQUEST seen: nothing more may follow */
    FCGI_ST_ERROR           /* sticky: the stream cannot be trusted */
};

enum fcgi_event_kind {
    FCGI_EV_NONE = 0,       /* all input consumed, nothing to report */
    FCGI_EV_STDOUT,         /* data / len: a slice of the caller's buffer */
    FCGI_EV_STDOUT_EOF,     /* the empty STDOUT record that closes the stream */
    FCGI_EV_STDERR,         /* data / len: a slice of the caller's buffer */
    FCGI_EV_MANAGEMENT,     /* data / len: content of a request-id-0 record
                             * (GET_VALUES_RESULT, UNKNOWN_TYPE); type says
                             * which; may arrive in several slices, the one
                             * with last set ends the record (an empty record
                             * is one event with len 0 and last set) */
    FCGI_EV_END_REQUEST,    /* app_status / protocol_status are set */
    FCGI_EV_ERROR           /* error says what, naming the field and value */
};

struct fcgi_event {
    enum fcgi_event_kind kind;
    unsigned type;              /* record type the event came from */
    const uint8_t *data;
    size_t len;
    uint32_t app_status;
    unsigned protocol_status;
    int last;                   /* STDOUT/STDERR/MANAGEMENT: this slice ends
                                 * the record's content */
};

struct fcgi_parser {
    enum fcgi_parse_state state;
    unsigned request_id;        /* the only id accepted besides 0 */
    uint8_t hdr[FCGI_HEADER_LEN];
    uint8_t body[8];            /* END_REQUEST body being collected */
    unsigned pos;               /* bytes collected into hdr or body */
    unsigned type;              /* current record's type */
    unsigned content_left;      /* content bytes still to come */
    unsigned padding_left;      /* padding bytes still to come */
    int stdout_closed;          /* the empty STDOUT record was seen */
    unsigned long long records; /* records seen, for limits and logs */
    char error[128];
};

/* Prepares p to read the response to request_id (1..65535). */
void fcgi_parser_init(struct fcgi_parser *p, unsigned request_id);

/*
 * Consumes bytes from buf[0..len) until it has one event to report or the
 * input is used up.  Returns the bytes consumed; *ev says what happened.
 * Call again with buf + consumed while ev->kind is FCGI_EV_STDOUT,
 * FCGI_EV_STDOUT_EOF, FCGI_EV_STDERR or FCGI_EV_MANAGEMENT; FCGI_EV_NONE
 * means all of buf was consumed (read more).  Stop at FCGI_EV_END_REQUEST
 * (the whole record, padding included, has been consumed, so the connection
 * is positioned for reuse) and at FCGI_EV_ERROR.  Feeding the same bytes in
 * any split (one byte at a time or all at once) yields the same events,
 * except that STDOUT, STDERR and MANAGEMENT data may come in more, smaller
 * slices.  After FCGI_EV_ERROR or FCGI_EV_END_REQUEST every further call
 * with no bytes reports the same final state again (consuming nothing);
 * bytes after END_REQUEST are an error ("data after END_REQUEST").  On an
 * error the offending byte counts as consumed.  A second empty STDOUT record
 * is tolerated and reported nowhere; END_REQUEST before the empty STDOUT
 * record is accepted (p->stdout_closed tells).
 */
size_t fcgi_parse(struct fcgi_parser *p, const uint8_t *buf, size_t len,
                  struct fcgi_event *ev);

/* The connection ended (EOF).  Returns NULL when that is a clean place to
 * end (only after END_REQUEST), otherwise a message saying where the stream
 * was cut ("backend closed the connection inside a STDOUT record (12 of 100
 * content bytes missing)"; "... before sending any record" when not one
 * record arrived, which tells a stale kept-alive connection), and the parser
 * enters the sticky error state.  In the error state it returns the earlier
 * error.  The message lives in p->error. */
const char *fcgi_parser_eof(struct fcgi_parser *p);

/* ------------------------------------------------------------------ */
/* FCGI_GET_VALUES                                                     */
/* ------------------------------------------------------------------ */

/* Encodes a GET_VALUES request for the given names (with empty values) as
 * one complete record into out.  Returns the bytes written, or 0 when it
 * does not fit in avail or in one record. */
size_t fcgi_get_values_encode(uint8_t *out, size_t avail,
                              const char *const *names, size_t n_names);

/* ------------------------------------------------------------------ */
/* The CGI response header block (RFC 3875 section 6.2/6.3)            */
/* ------------------------------------------------------------------ */

/*
 * A resumable parser for the header block at the start of STDOUT.  Lines end
 * in LF or CRLF; the block ends at the first empty line.  Rejected, with a
 * message naming the line number: a name that is not an RFC 7230 token
 * (which also rejects a line without a colon), obs-fold continuation lines
 * (RFC 7230 section 3.2.4), a bare CR or any other control character except
 * HTAB inside a value (so response splitting is impossible), and a block
 * larger than the buffer given.  Accepted pairs are stored compacted in the
 * caller's buffer as name NUL value NUL, with optional whitespace around the
 * value removed, for the caller to walk with fcgi_cgi_header_next().
 */
enum fcgi_hdr_state {
    FCGI_HS_LINE_START = 0, /* at the first byte of a line */
    FCGI_HS_NAME,           /* inside a header name */
    FCGI_HS_VALUE_LWS,      /* after the colon, skipping leading blanks */
    FCGI_HS_VALUE,          /* inside a value */
    FCGI_HS_LINE_CR,        /* saw CR ending a header line, need LF */
    FCGI_HS_END_CR,         /* saw CR on an empty line, need LF */
    FCGI_HS_DONE,           /* the empty line was seen */
    FCGI_HS_ERROR
};

enum fcgi_hdr_result {
    FCGI_HDR_AGAIN = 0,     /* consumed everything, need more */
    FCGI_HDR_DONE,          /* block complete; the rest is body */
    FCGI_HDR_ERROR          /* h->error says what */
};

struct fcgi_cgi_headers {
    enum fcgi_hdr_state state;
    char *buf;                  /* caller's storage for the compacted pairs */
    size_t cap;                 /* its size: the header block size limit */
    size_t len;                 /* bytes of buf in use */
    size_t value_end;           /* len after the last non-blank value byte */
    size_t block_bytes;         /* raw bytes of the block consumed so far */
    unsigned line;              /* 1-based line number, for messages */
    unsigned count;             /* complete header lines stored */
    char error[128];
};

void fcgi_cgi_headers_init(struct fcgi_cgi_headers *h, char *buf, size_t cap);

/* Feeds STDOUT bytes.  *consumed is set to the bytes that belonged to the
 * header block (on FCGI_HDR_DONE, buf + *consumed is the start of the body;
 * on FCGI_HDR_ERROR the offending byte counts as consumed).  The raw bytes of
 * the block, its final empty line included, count against cap as well as
 * the stored pairs.  Once DONE or ERROR, further calls consume nothing and
 * return the same result. */
enum fcgi_hdr_result fcgi_cgi_headers_feed(struct fcgi_cgi_headers *h,
                                           const uint8_t *buf, size_t len,
                                           size_t *consumed);

/* Walks the stored pairs: start with *cursor = 0; returns 0 at the end.
 * Names keep the case the application sent. */
int fcgi_cgi_header_next(const struct fcgi_cgi_headers *h, size_t *cursor,
                         const char **name, const char **value);

#endif /* FCGI_PROTO_H */
