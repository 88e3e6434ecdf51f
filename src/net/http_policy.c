/*
 * The HTTP server's request policy (see http_internal.h): what a request head, a target, an
 * Origin, a token, a signed URL and a body type must look like. Pure functions: no state.
 */
#include <ctype.h>
#include <gnutls/crypto.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/http_internal.h"
#include "vdag/net.h"

/* ---- request targets and heads ----------------------------------------------------------- */

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static int fail(char *why, size_t cap, int status, const char *msg)
{
    snprintf(why, cap, "%s", msg);
    return status;
}

int vd__http_check_target(const char *t, size_t n, char *why, size_t cap)
{
    if (n > VD__HTTP_LINE_MAX)
        return fail(why, cap, 414, "the request target is over 8 KiB: send a shorter URL");
    if (n == 0 || t[0] != '/')
        return fail(why, cap, 400, "the request target must be a path starting with '/'");
    int in_query = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c <= 0x20 || c >= 0x7f)
            return fail(why, cap, 400,
                        "the request target holds a space, a control byte or a non-ASCII byte: "
                        "percent-encode it");
        if (c == '?') in_query = 1;
        if (c != '%') continue;
        int hi = i + 2 < n ? hexval(t[i + 1]) : -1, lo = i + 2 < n ? hexval(t[i + 2]) : -1;
        if (hi < 0 || lo < 0)
            return fail(why, cap, 400,
                        "the request target has a '%' not followed by two hex digits");
        int v = hi * 16 + lo;
        if (v == 0) return fail(why, cap, 400, "the request target holds %00 (a NUL byte)");
        if (!in_query && (v < 0x20 || v == 0x7f))
            return fail(why, cap, 400, "the request path holds a percent-encoded control byte");
        i += 2;
    }
    return 0;
}

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The next line of [p, end): its length without CR LF; *next past it. -1 if no LF. */
static long next_line(const char *p, const char *end, const char **next)
{
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    if (!lf) return -1;
    *next = lf + 1;
    return (long)(lf > p && lf[-1] == '\r' ? lf - 1 - p : lf - p);
}

/* Trimmed value of a header line after the colon. */
static void header_value(const char *v, long n, const char **out, long *on)
{
    while (n > 0 && (*v == ' ' || *v == '\t')) v++, n--;
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    *out = v, *on = n;
}

static int name_is(const char *name, long n, const char *want)
{
    return (size_t)n == strlen(want) && strncasecmp(name, want, (size_t)n) == 0;
}

static int check_request_line(const char *l, long n, int *v11, char *why, size_t cap)
{
    long i = 0;
    while (i < n && is_tchar((unsigned char)l[i])) i++;
    if (i == 0 || i >= n || l[i] != ' ')
        return fail(why, cap, 400,
                    "malformed request line: expected 'METHOD /path HTTP/1.1' (a method token, "
                    "one space, the target, one space, the version)");
    const char *t = l + i + 1;
    const char *sp = memchr(t, ' ', (size_t)(n - i - 1));
    if (!sp)
        return fail(why, cap, 400,
                    "malformed request line: expected 'METHOD /path HTTP/1.1' (no version)");
    int rc = vd__http_check_target(t, (size_t)(sp - t), why, cap);
    if (rc) return rc;
    const char *ver = sp + 1;
    long vn = n - (ver - l);
    if (vn == 8 && (!memcmp(ver, "HTTP/1.1", 8) || !memcmp(ver, "HTTP/1.0", 8))) {
        *v11 = ver[7] == '1';
        return 0;
    }
    if (vn == 8 && !memcmp(ver, "HTTP/", 5) && ver[5] >= '0' && ver[5] <= '9' && ver[6] == '.' &&
        ver[7] >= '0' && ver[7] <= '9')
        return fail(why, cap, 505, "only HTTP/1.0 and HTTP/1.1 are served");
    return fail(why, cap, 400,
                "malformed request line: the version must be HTTP/1.1 or HTTP/1.0, after a "
                "single space");
}

int vd__http_check_head(const char *p, size_t n, char *why, size_t cap)
{
    const char *end = p + n, *next;
    long ln = next_line(p, end, &next);
    if (ln < 0) return fail(why, cap, 400, "the request head is not terminated by a blank line");
    int v11 = 0, rc = check_request_line(p, ln, &v11, why, cap);
    if (rc) return rc;
    int hosts = 0, n_hdr = 0, chunked = 0, has_cl = 0;
    char cl[24] = "";
    for (p = next; p < end; p = next) {
        ln = next_line(p, end, &next);
        if (ln < 0) return fail(why, cap, 400, "a header line is not terminated");
        if (ln == 0) break; /* the blank line */
        if (++n_hdr > VD__HTTP_HEADERS)
            return fail(why, cap, 431, "more than 100 header lines: send fewer headers");
        if (p[0] == ' ' || p[0] == '\t')
            return fail(why, cap, 400, "folded header lines (obs-fold) are not accepted");
        long k = 0;
        while (k < ln && is_tchar((unsigned char)p[k])) k++;
        if (k == 0 || k >= ln || p[k] != ':')
            return fail(why, cap, 400,
                        "malformed header line: expected 'Name: value' (a name token and a "
                        "colon, no space before it)");
        for (long i = k + 1; i < ln; i++) {
            unsigned char c = (unsigned char)p[i];
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return fail(why, cap, 400, "a header value holds a control byte");
        }
        const char *v;
        long vn;
        header_value(p + k + 1, ln - k - 1, &v, &vn);
        if (name_is(p, k, "Host")) {
            hosts++;
        } else if (name_is(p, k, "Content-Length")) {
            int digits = vn > 0 && vn < 20;
            for (long i = 0; digits && i < vn; i++) digits = v[i] >= '0' && v[i] <= '9';
            if (!digits) return fail(why, cap, 400, "Content-Length must be a decimal byte count");
            if (has_cl && ((long)strlen(cl) != vn || memcmp(cl, v, (size_t)vn)))
                return fail(why, cap, 400, "two different Content-Length headers");
            memcpy(cl, v, (size_t)vn);
            cl[vn] = 0;
            has_cl = 1;
        } else if (name_is(p, k, "Transfer-Encoding")) {
            if (!(vn == 7 && !strncasecmp(v, "chunked", 7)))
                return fail(why, cap, 501, "only 'Transfer-Encoding: chunked' is supported");
            chunked++;
        }
    }
    if (v11 && hosts == 0) return fail(why, cap, 400, "an HTTP/1.1 request needs a Host header");
    if (hosts > 1) return fail(why, cap, 400, "more than one Host header");
    if (chunked && has_cl)
        return fail(why, cap, 400, "both Content-Length and Transfer-Encoding: send one of them");
    if (chunked > 1) return fail(why, cap, 400, "more than one Transfer-Encoding header");
    if (chunked && !v11) return fail(why, cap, 400, "chunked bodies need HTTP/1.1");
    return 0;
}

char *vd__http_raw_reply(int http_status, const char *body, size_t *len)
{
    const char *reason = MHD_get_reason_phrase_for((unsigned)http_status);
    size_t bl = strlen(body), cap = bl + 256;
    char *out = malloc(cap);
    if (!out) return NULL;
    int n = snprintf(out, cap,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     http_status, reason && *reason ? reason : "Error", bl, body);
    *len = n > 0 && (size_t)n < cap ? (size_t)n : 0;
    return out;
}

char *vd__http_raw_error(int http_status, int code, const char *why, size_t *len)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", why);
    for (char *c = msg; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x80) *c = '?';
    json_t *j = json_pack("{s:i,s:s}", "status", code, "msg", msg);
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    char *out = body ? vd__http_raw_reply(http_status, body, len) : NULL;
    free(body);
    return out;
}

/* ---- origins, tokens, signed URLs, body types -------------------------------------------- */

int vd__http_origin_ok(const char *cors, const char *origin, const char *host)
{
    if (!origin) return 1; /* not a browser's cross-site request */
    if (cors && (!strcmp(cors, "*") || !strcmp(cors, origin))) return 1;
    if (!host || !*host) return 0;
    const char *o = !strncasecmp(origin, "http://", 7)    ? origin + 7
                    : !strncasecmp(origin, "https://", 8) ? origin + 8
                                                          : NULL;
    return o && !strcasecmp(o, host);
}

int vd__http_bearer_ok(const char *token, const char *hdr)
{
    if (!hdr || strncmp(hdr, "Bearer ", 7) != 0) return 0;
    hdr += 7;
    size_t a = strlen(hdr), b = strlen(token);
    unsigned char diff = a != b;
    for (size_t i = 0; i < a; i++) diff |= (unsigned char)hdr[i] ^ (unsigned char)token[i % b];
    return diff == 0;
}

/* hex HMAC-SHA256(token, "GET\n<path>\n<exp>") into hex[65]; 0 on success. */
static int url_mac(const char *token, const char *path, long exp, char hex[65])
{
    size_t pl = strlen(path);
    char *m = malloc(pl + 32);
    if (!m) return -1;
    int n = snprintf(m, pl + 32, "GET\n%s\n%ld", path, exp);
    unsigned char d[32];
    int rc = gnutls_hmac_fast(GNUTLS_MAC_SHA256, token, strlen(token), m, (size_t)n, d);
    free(m);
    if (rc < 0) return -1;
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return 0;
}

int vd__http_sign(const char *token, const char *path, long ttl, long now, char *out, size_t cap,
                  long *exp, vd_error *err)
{
    if (ttl < 1 || ttl > VD__HTTP_SIGN_MAX)
        return vd_fail(err, VD_EINVAL, "ttl %ld: expected 1..%d seconds", ttl, VD__HTTP_SIGN_MAX);
    char hex[65];
    *exp = now + ttl;
    if (url_mac(token, path, *exp, hex))
        return vd_fail(err, VD_EBACKEND, "cannot compute the URL signature (gnutls)");
    snprintf(out, cap, "exp=%ld&sig=%s", *exp, hex);
    return 0;
}

int vd__http_signed_ok(const char *token, const char *path, const char *exp, const char *sig,
                       long now)
{
    if (!token || !exp || !sig || strlen(sig) != 64) return 0;
    char *end;
    long e = strtol(exp, &end, 10);
    if (end == exp || *end || e < now || e > now + VD__HTTP_SIGN_MAX + 60) return 0;
    char hex[65];
    if (url_mac(token, path, e, hex)) return 0;
    unsigned char diff = 0;
    for (int i = 0; i < 64; i++) diff |= (unsigned char)(hex[i] ^ sig[i]);
    return diff == 0;
}

void vd__http_sign_url_reply(const char *token, const char *path, const char *ttl_s, long now,
                             vd_http_resp *r)
{
    char *end = NULL;
    long ttl = ttl_s ? strtol(ttl_s, &end, 10) : VD__HTTP_SIGN_TTL;
    if (!path || path[0] != '/' || strchr(path, '?') || strlen(path) > 1024) {
        vd_http_error(r, 400, VD_EINVAL,
                      "path: expected the path to sign, e.g. ?path=/user/video/JOB (no query)");
        return;
    }
    if (ttl_s && (end == ttl_s || *end || ttl < 1 || ttl > VD__HTTP_SIGN_MAX)) {
        vd_http_error(r, 400, VD_EINVAL, "ttl: expected 1..%d seconds", VD__HTTP_SIGN_MAX);
        return;
    }
    char enc[3 * 1024 + 1], q[160] = "";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++)
        n += (size_t)snprintf(enc + n, sizeof enc - n,
                              (isalnum(*p) || strchr("/-._~", *p)) ? "%c" : "%%%02X", *p);
    long exp = 0;
    vd_error err = {0};
    if (token && vd__http_sign(token, path, ttl, now, q, sizeof q, &exp, &err)) {
        vd_http_error(r, 500, err.code, "%s", err.msg);
        return;
    }
    char url[sizeof enc + sizeof q + 1];
    snprintf(url, sizeof url, "%s%s%s", enc, q[0] ? "?" : "", q);
    vd_http_json(r, 200,
                 json_pack("{s:i,s:s,s:I}", "status", 0, "url", url, "expires", (json_int_t)exp));
}

static int media_type_is(const char *ct, const char *want)
{
    while (*ct == ' ') ct++;
    size_t n = strlen(want);
    if (strncasecmp(ct, want, n)) return 0;
    ct += n;
    while (*ct == ' ' || *ct == '\t') ct++;
    return *ct == 0 || *ct == ';';
}

int vd__http_body_type_ok(const char *ct)
{
    return ct && (media_type_is(ct, "application/json") || media_type_is(ct, "image/jpeg"));
}
