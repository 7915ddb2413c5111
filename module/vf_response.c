/*
 * vf_response.c - a CGI response header block (RFC 3875 section 6) applied
 * to the request, with the meaning httpd gives CGI headers everywhere
 * (mod_cgi, mod_proxy_fcgi): Status and Content-Type set the response,
 * Location, ETag and Content-Range go to headers_out, Last-Modified is
 * checked, Set-Cookie lines stay separate, the rest is merged.
 *
 * The header block was already validated byte by byte in fcgi_proto.c:
 * names are tokens and values hold no CR, LF or other controls, so nothing
 * here can split the client's response.
 */
#include "mod_vhostfcgi.h"

#include "http_protocol.h"
#include "http_request.h"
#include "util_script.h"
#include "apr_date.h"
#include "apr_lib.h"
#include "apr_strings.h"

/* "Status: 404 Not Found" or "Status: 404". */
static int apply_status(request_rec *r, const char *value, const char **why)
{
    int status = 0, i;

    for (i = 0; i < 3; i++) {
        if (!apr_isdigit(value[i])) {
            break;
        }
        status = status * 10 + (value[i] - '0');
    }
    /* (1xx are interim responses, never a final status.) */
    if (i != 3 || (value[3] && value[3] != ' ' && value[3] != '\t')
        || !ap_is_HTTP_VALID_RESPONSE(status) || ap_is_HTTP_INFO(status)) {
        *why = apr_psprintf(r->pool, "invalid Status header \"%.40s\"",
                            value);
        return HTTP_BAD_GATEWAY;
    }
    r->status = status;
    r->status_line = apr_pstrdup(r->pool, value);
    return OK;
}

static void apply_last_modified(request_rec *r, const char *value)
{
    apr_time_t t = apr_date_parse_http(value);

    if (t == APR_DATE_BAD) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, APLOGNO(10630)
                      "FastCGI: ignored invalid Last-Modified \"%s\"", value);
        return;
    }
    /* ap_set_last_modified caps it at the request time. */
    ap_update_mtime(r, t);
    ap_set_last_modified(r);
}

/* Headers that go to headers_out, replacing, rather than being merged. */
static int is_single_header(const char *name)
{
    static const char *const single[] = {
        "Location", "Content-Length", "Content-Range", "ETag", NULL
    };
    int i;

    for (i = 0; single[i]; i++) {
        if (!strcasecmp(name, single[i])) {
            return 1;
        }
    }
    return 0;
}

int vf_response_apply(request_rec *r, const struct fcgi_cgi_headers *h,
                      const char **why)
{
    apr_table_t *merge = apr_table_make(r->pool, 8);
    apr_table_t *cookies = apr_table_make(r->pool, 2);
    const char *name, *value;
    size_t cursor = 0;
    int status_given = 0;

    while (fcgi_cgi_header_next(h, &cursor, &name, &value)) {
        if (!strcasecmp(name, "Status")) {
            if (apply_status(r, value, why) != OK) {
                return HTTP_BAD_GATEWAY;
            }
            status_given = 1;
        }
        else if (!strcasecmp(name, "Content-Type")) {
            char *type = apr_pstrdup(r->pool, value);

            ap_content_type_tolower(type);
            ap_set_content_type(r, type);
        }
        else if (!strcasecmp(name, "Last-Modified")) {
            apply_last_modified(r, value);
        }
        else if (!strcasecmp(name, "Transfer-Encoding")) {
            /* FastCGI frames the body itself; the core picks the framing. */
        }
        else if (is_single_header(name)) {
            apr_table_set(r->headers_out, name, value);
        }
        else if (!strcasecmp(name, "Set-Cookie")) {
            apr_table_add(cookies, name, value);
        }
        else {
            apr_table_add(merge, name, value);
        }
    }

    /* The body's length is what the records carry, not what the script
     * claims, unless the admin vouches for the script (as for CGI). */
    if (!apr_table_get(r->subprocess_env, AP_TRUST_CGILIKE_CL_ENVVAR)) {
        apr_table_unset(r->headers_out, "Content-Length");
    }
    apr_table_overlap(r->err_headers_out, merge, APR_OVERLAP_TABLES_MERGE);
    if (!apr_is_empty_table(cookies)) {
        r->err_headers_out = apr_table_overlay(r->pool, r->err_headers_out,
                                               cookies);
    }
    /* A script that set no Status leaves conditional GETs to httpd
     * (If-None-Match against its ETag, If-Modified-Since...), as CGI does. */
    if (!status_given && r->method_number == M_GET) {
        return ap_meets_conditions(r);
    }
    return OK;
}
