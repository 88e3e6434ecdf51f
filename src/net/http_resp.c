/*
 * Responses and requests as handlers see them (net.h): JSON bodies, the JSON error form every
 * reply of the server uses ({"status": VD_E* code, "msg"}), the HTTP status of a code, and the
 * request's headers and query. No state; any thread.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "net/http_internal.h"
#include "vdag/base.h"
#include "vdag/net.h"

/* ---- response bodies ------------------------------------------------------------------ */

int vd_mjpeg_part_set(vd_mjpeg_part *p, const unsigned char *jpeg, size_t len)
{
    char head[128];
    int hl =
        snprintf(head, sizeof head,
                 "--vdagframe\r\nContent-Type: image/jpeg\r\nContent-Length: %zu\r\n\r\n", len);
    char *nb = realloc(p->buf, (size_t)hl + len + 2);
    if (!nb) return VD_ENOMEM;
    p->buf = nb;
    memcpy(nb, head, (size_t)hl);
    memcpy(nb + hl, jpeg, len);
    memcpy(nb + hl + len, "\r\n", 2);
    p->len = (size_t)hl + len + 2;
    p->off = 0;
    return 0;
}

size_t vd_mjpeg_part_read(vd_mjpeg_part *p, char *out, size_t max)
{
    size_t n = p->len - p->off < max ? p->len - p->off : max;
    if (n) memcpy(out, p->buf + p->off, n);
    p->off += n;
    return n;
}

void vd_mjpeg_part_free(vd_mjpeg_part *p)
{
    free(p->buf);
    *p = (vd_mjpeg_part){0};
}

void vd_http_json(vd_http_resp *r, int http_status, json_t *j)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
    r->status = http_status;
    r->content_type = "application/json";
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(j);
    if (!s) {
        /* out of memory, or no value: still a valid JSON error */
        static const char oom[] = "{\"status\":-2,\"msg\":\"server: cannot encode the reply\"}";
        s = malloc(sizeof oom);
        if (s) memcpy(s, oom, sizeof oom);
        r->status = 500;
    }
    r->body = s;
    r->len = s ? strlen(s) : 0;
}

void vd__http_verror(vd_http_resp *r, int http_status, int status, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    json_t *m = json_string(msg);
    if (!m) { /* not valid UTF-8 (a decoded path): show the odd bytes as '?' */
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20) *p = '?';
        m = json_string(msg);
    }
    json_t *j = json_pack("{s:i, s:o}", "status", status ? status : -1, "msg", m);
    vd_http_json(r, http_status, j);
    if (r->status == 500 && http_status != 500) r->status = http_status;
}

void vd_http_error(vd_http_resp *r, int http_status, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vd__http_verror(r, http_status, code, fmt, ap);
    va_end(ap);
}

int vd_http_status_of(int code)
{
    switch (code) {
    case VD_EINVAL:
    case VD_EFORMAT:
    case VD_ESHAPE:
        return 400;
    case VD_EAUTH:
        return 401;
    case VD_ENOTFOUND:
        return 404;
    case VD_ESTATE:
    case VD_EALREADY:
        return 409;
    case VD_ETOOBIG:
        return 413;
    default:
        return 500;
    }
}

void vd_http_fail(vd_http_resp *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vd__http_verror(r, vd_http_status_of(code), code, fmt, ap);
    va_end(ap);
}

/* ---- request accessors ---------------------------------------------------------------- */

const char *vd_http_header(const vd_http_req *r, const char *name)
{
    if (!r || !r->conn_ || !name) return NULL;
    return MHD_lookup_connection_value(r->conn_, MHD_HEADER_KIND, name);
}

const char *vd_http_query(const vd_http_req *r, const char *name)
{
    if (!r || !r->conn_ || !name) return NULL;
    return MHD_lookup_connection_value(r->conn_, MHD_GET_ARGUMENT_KIND, name);
}
