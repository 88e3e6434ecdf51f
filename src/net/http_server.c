/*
 * The HTTP server: libmicrohttpd with a thread per connection, so that a streaming
 * response that blocks (waiting for the next frame) only holds its own connection.
 *
 * A request goes through on_request() several times: the first call (headers only)
 * routes it and checks the token and Content-Length, replying at once with a JSON error
 * (404, 405, 401, and 413 for an absurd Content-Length) without reading the body; a body
 * declared over max_body is read and dropped, then answered 413 (an early reply while the
 * client is still sending would reach it as a reset); the next calls append upload data to a
 * per-request buffer (capped at max_body: past it the rest is discarded and the reply is
 * 413); the last call runs the handler and queues its response.
 *
 * A route with a sink (vd_http_sink, uploads) takes another path after routing: its body is
 * handed to the sink as it arrives (through MHD's post processor for a multipart field),
 * counted against the sink's max_size while it streams (http_sink.c).
 *
 * The "status" of the server's own JSON errors is the vdag error code (VD_ENOTFOUND for
 * 404, VD_EUNSUPP for 405 and 415, VD_EAUTH for 401 and 403, VD_ETOOBIG for 413, the
 * handler's code for 500), so a vdag client can map it back.
 *
 * In front of libmicrohttpd sits the guard (http_guard.c, which owns the listening socket:
 * a connection is handed over only once its first request head is complete and checked) and
 * the policy (http_policy.c). The order of the checks on a request, before any route is
 * looked at: the target (control bytes), a CORS preflight, the Origin of a state-changing
 * request, the token (or a signed URL), so that nothing about the routes is told to a
 * client without the token.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "net/http_internal.h"
#include "vdag/base.h"
#include "vdag/net.h"

#define CONN_MEMORY      (128 * 1024)
#define STREAM_BLOCK     (64 * 1024)
#define DEFAULT_MAX_BODY ((size_t)16 << 20)
#define HEALTHZ          "/healthz"
#define SIGN_PATH        "/auth/sign_url"
#define ROUTES_PATH      "/routes"
#define ROUTES_SPARE     32 /* routes vd_http_server_add_routes may add */

/* A streamed response's state (the MHD content reader's cls). */
typedef struct stream_state {
    vd_http_server *s;
    struct MHD_Connection *conn;
    vd_http_stream_fn fn;
    void *arg;
    void (*free_fn)(void *arg);
} stream_state;

/* ---- sending -------------------------------------------------------------------------- */

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream_state *st = cls;
    for (;;) {
        if (atomic_load(&st->s->stopping)) return MHD_CONTENT_READER_END_OF_STREAM;
        ssize_t n = st->fn(st->arg, buf, max);
        if (n > 0) return (size_t)n <= max ? n : MHD_CONTENT_READER_END_WITH_ERROR;
        if (n == VD_EEOF) return MHD_CONTENT_READER_END_OF_STREAM;
        if (n < 0) return MHD_CONTENT_READER_END_WITH_ERROR;
        /* 0: nothing yet (the callback timed out waiting). End if the client has gone. */
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(st->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci) {
            struct pollfd p = {.fd = ci->connect_fd, .events = POLLRDHUP};
            if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
                return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
}

static void stream_done(void *cls)
{
    stream_state *st = cls;
    if (st->free_fn) st->free_fn(st->arg);
    free(st);
}

void vd__http_free_resp(vd_http_resp *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
    if (r->stream && r->stream_free) r->stream_free(r->stream_arg);
    r->stream = NULL;
    r->stream_free = NULL;
}

/* CORS headers: none unless the server allows an origin ("*": every response says so; one
 * origin: the responses to a request from it). */
static void add_cors(vd_http_server *s, struct MHD_Connection *c, struct MHD_Response *mr)
{
    if (!s->cors) return;
    if (!strcmp(s->cors, "*")) {
        MHD_add_response_header(mr, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, "*");
        return;
    }
    const char *o = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN);
    if (o && !strcmp(o, s->cors))
        MHD_add_response_header(mr, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, s->cors);
    MHD_add_response_header(mr, MHD_HTTP_HEADER_VARY, "Origin");
}

/* Queue r (always consumed). */
enum MHD_Result vd__http_send_resp(vd_http_server *s, struct MHD_Connection *c, vd_http_resp *r,
                                   const char *allow)
{
    struct MHD_Response *mr;
    if (r->stream) {
        stream_state *st = malloc(sizeof *st);
        if (!st) {
            vd__http_free_resp(r);
            return MHD_NO;
        }
        *st = (stream_state){s, c, r->stream, r->stream_arg, r->stream_free};
        free(r->body);
        r->body = NULL;
        r->stream = NULL;
        mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read, st,
                                               stream_done);
        if (!mr) {
            stream_done(st);
            return MHD_NO;
        }
    } else {
        if (r->body)
            mr = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
        else
            mr = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!mr) {
            vd__http_free_resp(r);
            return MHD_NO;
        }
        r->body = NULL;
    }
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type ? r->content_type : "application/json");
    add_cors(s, c, mr);
    if (allow) MHD_add_response_header(mr, MHD_HTTP_HEADER_ALLOW, allow);
    int status = r->status >= 100 && r->status <= 999 ? r->status : 500;
    vd__guard_phase(c, VD__PHASE_ANSWER);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, mr);
    MHD_destroy_response(mr);
    return ret;
}

enum MHD_Result vd__http_send_error(vd_http_server *s, struct MHD_Connection *c, const char *allow,
                                    int http_status, int status, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
enum MHD_Result vd__http_send_error(vd_http_server *s, struct MHD_Connection *c, const char *allow,
                                    int http_status, int status, const char *fmt, ...)
{
    vd_http_resp r = {0};
    va_list ap;
    va_start(ap, fmt);
    vd__http_verror(&r, http_status, status, fmt, ap);
    va_end(ap);
    return vd__http_send_resp(s, c, &r, allow);
}

/* ---- routing -------------------------------------------------------------------------- */

static int method_is(const char *m, const char *want)
{
    return strcmp(m, want) == 0;
}

static int route_method_ok(const vd_http_route *rt, const char *method)
{
    if (!rt->method || method_is(rt->method, "*")) return 1;
    if (method_is(rt->method, method)) return 1;
    return method_is(method, "HEAD") && method_is(rt->method, "GET"); /* HEAD is a GET */
}

/* Path match score: -1 none, INT_MAX exact, else the prefix length. */
static int path_score(const vd_http_route *rt, const char *path)
{
    size_t n = strlen(rt->path);
    if (n > 1 && rt->path[n - 1] == '/') {
        if (strncmp(path, rt->path, n) == 0) return strcmp(path, rt->path) == 0 ? INT_MAX : (int)n;
        return -1;
    }
    return strcmp(path, rt->path) == 0 ? INT_MAX : -1;
}

/* The best route for path + method; NULL with *path_known set when only the method is off,
 * and allow filled with the methods that would do. */
static const vd_http_route *find_route(vd_http_server *s, const char *path, const char *method,
                                       int *path_known, char *allow, size_t allow_cap)
{
    const vd_http_route *best = NULL;
    int best_score = -1;
    *path_known = 0;
    allow[0] = 0;
    int n = atomic_load_explicit(&s->n_routes, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        const vd_http_route *rt = &s->routes[i];
        if (!rt->path) continue;
        int sc = path_score(rt, path);
        if (sc < 0) continue;
        *path_known = 1;
        if (route_method_ok(rt, method)) {
            if (sc > best_score) best = rt, best_score = sc;
        } else if (rt->method && !strstr(allow, rt->method)) {
            size_t l = strlen(allow);
            snprintf(allow + l, allow_cap - l, "%s%s", l ? ", " : "", rt->method);
        }
    }
    return best;
}

/* ---- the request handler -------------------------------------------------------------- */

static int is_safe(const char *method)
{
    return method_is(method, "GET") || method_is(method, "HEAD") || method_is(method, "OPTIONS");
}

static enum MHD_Result send_empty(vd_http_server *s, struct MHD_Connection *c, int status,
                                  const char *allow)
{
    vd_http_resp r = {.status = status, .content_type = "application/json"};
    return vd__http_send_resp(s, c, &r, allow);
}

/* A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method): answered alike
 * for every path, without the token (browsers send none), so that it tells nothing about the
 * routes; the request itself is then checked as any other. */
static enum MHD_Result preflight(vd_http_server *s, struct MHD_Connection *c, const char *origin)
{
    if (!s->cors || (strcmp(s->cors, "*") && strcmp(s->cors, origin)))
        return vd__http_send_error(
            s, c, NULL, 403, VD_EAUTH,
            "origin '%s' may not call this server: start it with --cors %s to "
            "allow it",
            origin, origin);
    struct MHD_Response *mr =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!mr) return MHD_NO;
    MHD_add_response_header(mr, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, s->cors);
    MHD_add_response_header(mr, MHD_HTTP_HEADER_VARY, "Origin");
    MHD_add_response_header(mr, "Access-Control-Allow-Methods", "GET, POST, DELETE, HEAD");
    MHD_add_response_header(mr, "Access-Control-Allow-Headers",
                            "Authorization, Content-Type, X-Vdag-Args");
    MHD_add_response_header(mr, "Access-Control-Max-Age", "600");
    vd__guard_phase(c, VD__PHASE_ANSWER);
    enum MHD_Result ret = MHD_queue_response(c, 204, mr);
    MHD_destroy_response(mr);
    return ret;
}

/* The token in the Authorization header, or for GET/HEAD a signed URL (exp, sig). */
static int authorized(vd_http_server *s, struct MHD_Connection *c, const char *url,
                      const char *method)
{
    if (vd__http_bearer_ok(s->token, MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                                 MHD_HTTP_HEADER_AUTHORIZATION)))
        return 1;
    if (!method_is(method, "GET") && !method_is(method, "HEAD")) return 0;
    return vd__http_signed_ok(
        s->token, url, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "exp"),
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "sig"), (long)time(NULL));
}

/* GET /auth/sign_url?path=P[&ttl=S] (vd__http_sign_url_reply). */
static enum MHD_Result sign_url(vd_http_server *s, struct MHD_Connection *c, const char *method)
{
    if (!method_is(method, "GET") && !method_is(method, "HEAD"))
        return vd__http_send_error(s, c, "GET", 405, VD_EUNSUPP,
                                   "method %s not allowed on %s: allowed: GET", method, SIGN_PATH);
    vd_http_resp r = {0};
    vd__http_sign_url_reply(s->token, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "path"),
                            MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "ttl"),
                            (long)time(NULL), &r);
    return vd__http_send_resp(s, c, &r, NULL);
}

/* GET /routes: every route this server serves, its own included (docs/openapi.yaml is
 * checked against it: tests/test_openapi.sh). */
static enum MHD_Result list_routes(vd_http_server *s, struct MHD_Connection *c, const char *method)
{
    if (!method_is(method, "GET") && !method_is(method, "HEAD"))
        return vd__http_send_error(s, c, "GET", 405, VD_EUNSUPP,
                                   "method %s not allowed on %s: allowed: GET", method,
                                   ROUTES_PATH);
    json_t *a = json_array();
    int n = atomic_load_explicit(&s->n_routes, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        const vd_http_route *rt = &s->routes[i];
        int open = i < s->n_open || !strcmp(rt->path, HEALTHZ);
        json_array_append_new(a, json_pack("{s:s,s:s,s:b}", "method", rt->method ? rt->method : "*",
                                           "path", rt->path, "open", open));
    }
    json_array_append_new(
        a, json_pack("{s:s,s:s,s:b}", "method", "GET", "path", SIGN_PATH, "open", 0));
    json_array_append_new(
        a, json_pack("{s:s,s:s,s:b}", "method", "GET", "path", ROUTES_PATH, "open", 0));
    vd_http_resp r = {0};
    vd_http_json(&r, 200, json_pack("{s:i,s:o}", "status", 0, "routes", a));
    return vd__http_send_resp(s, c, &r, NULL);
}

static enum MHD_Result header_bytes(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

/* Whether the route a GET/HEAD of url would take is open (served without the token). */
static int open_route(vd_http_server *s, const char *url, const char *method)
{
    char allow[128];
    int known;
    const vd_http_route *rt = find_route(s, url, method, &known, allow, sizeof allow);
    return rt && rt - s->routes < s->n_open;
}

/* Who may make this request: the target, a preflight, the Origin, the token. Returns 1 when
 * a reply was queued (*ret its result). */
static int refuse(vd_http_server *s, struct MHD_Connection *c, const char *url, const char *method,
                  req_state *q, enum MHD_Result *ret)
{
    if (q->bad_status)
        return *ret = vd__http_send_error(s, c, NULL, q->bad_status,
                                          q->bad_status == 414 ? VD_ETOOBIG : VD_EFORMAT, "%s",
                                          q->bad_why),
               1;
    size_t hb = 0; /* a later request on a kept-alive connection skipped the guard's check */
    MHD_get_connection_values(c, MHD_HEADER_KIND, header_bytes, &hb);
    if (hb > VD__HTTP_HEAD_MAX)
        return *ret = vd__http_send_error(
                   s, c, NULL, 431, VD_ETOOBIG,
                   "the request headers are over 32 KiB: send fewer or shorter ones"),
               1;
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN);
    if (origin && method_is(method, "OPTIONS") &&
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Access-Control-Request-Method"))
        return *ret = preflight(s, c, origin), 1;
    if (!is_safe(method) &&
        !vd__http_origin_ok(s->cors, origin,
                            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST)))
        return *ret = vd__http_send_error(
                   s, c, NULL, 403, VD_EAUTH,
                   "a %s from the web page of origin '%s' is refused: start the "
                   "server with --cors %s to allow that origin",
                   method, origin, origin),
               1;
    int healthz = (method_is(method, "GET") || method_is(method, "HEAD")) &&
                  (!strcmp(url, HEALTHZ) || open_route(s, url, method));
    if (s->token && !healthz && !authorized(s, c, url, method))
        return *ret = vd__http_send_error(
                   s, c, NULL, 401, VD_EAUTH,
                   "missing or wrong bearer token: %s %s needs the header "
                   "'Authorization: Bearer <token>' with this server's token (or, "
                   "for a GET, a URL signed by GET " SIGN_PATH "?path=…)",
                   method, url),
               1;
    return 0;
}

static enum MHD_Result first_call(vd_http_server *s, struct MHD_Connection *c, const char *url,
                                  const char *method, req_state *q)
{
    enum MHD_Result ret;
    if (refuse(s, c, url, method, q, &ret)) return q->replied = 1, ret;
    char allow[128];
    int known;
    q->route = find_route(s, url, method, &known, allow, sizeof allow);
    q->counted = q->route ? q->route->path : "unmatched";
    if (!q->route && !strcmp(url, SIGN_PATH)) q->counted = SIGN_PATH;
    if (!q->route && !strcmp(url, ROUTES_PATH)) q->counted = ROUTES_PATH;
    if (!q->route && !strcmp(url, ROUTES_PATH)) return q->replied = 1, list_routes(s, c, method);
    if (!q->route && !strcmp(url, SIGN_PATH)) return q->replied = 1, sign_url(s, c, method);
    if (!q->route && known && method_is(method, "OPTIONS")) {
        size_t l = strlen(allow);
        snprintf(allow + l, sizeof allow - l, "%sOPTIONS", l ? ", " : "");
        return q->replied = 1, send_empty(s, c, 204, allow);
    }
    if (!q->route && !known)
        return q->replied = 1,
               vd__http_send_error(s, c, NULL, 404, VD_ENOTFOUND,
                                   "no route for %s %s: check the URL path", method, url);
    if (!q->route)
        return q->replied = 1,
               vd__http_send_error(s, c, allow, 405, VD_EUNSUPP,
                                   "method %s not allowed on %s: allowed: %s", method, url, allow);
    size_t n = strlen(q->route->path);
    q->tail = q->route->path[n - 1] == '/' ? url + n : "";
    if (q->route->fn == vd_http_sink_route) return vd__http_sink_first(s, c, url, method, q);
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    unsigned long long v = cl ? strtoull(cl, NULL, 10) : 0;
    if (cl) {
        /* over the limit: read and drop the body, then reply 413, so the client (which may
         * already be sending it) gets the reply instead of a reset connection; only an
         * absurd size is refused before its body */
        if (v > s->max_body && v <= VD__HTTP_DISCARD_MAX + s->max_body) {
            q->too_big = 1;
            q->declared = v;
            return MHD_YES;
        }
        if (v > s->max_body)
            return q->replied = 1,
                   vd__http_send_error(
                       s, c, NULL, 413, VD_ETOOBIG,
                       "request body of %llu bytes is over this server's limit of %zu "
                       "bytes: send less",
                       v, s->max_body);
    }
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if ((v > 0 || te) && !vd__http_body_type_ok(ct)) { /* answered once the body is dropped */
        vd_http_error(&q->late, 415, VD_EUNSUPP,
                      "a body of Content-Type '%s' is not accepted on %s %s: send JSON as "
                      "'Content-Type: application/json' (a frame as image/jpeg)",
                      ct ? ct : "(none)", method, url);
        return MHD_YES;
    }
    if (v > 0 && (q->body = malloc((size_t)v + 1))) q->cap = (size_t)v + 1;
    return MHD_YES;
}

static int append_body(req_state *q, const char *data, size_t n)
{
    if (q->len + n + 1 > q->cap) {
        size_t cap = q->cap ? q->cap : 4096;
        while (cap < q->len + n + 1) cap *= 2;
        unsigned char *b = realloc(q->body, cap);
        if (!b) return -1;
        q->body = b;
        q->cap = cap;
    }
    memcpy(q->body + q->len, data, n);
    q->len += n;
    return 0;
}

enum MHD_Result vd__http_send_handler_resp(vd_http_server *s, struct MHD_Connection *c,
                                           const char *url, const char *method, int rc,
                                           vd_http_resp *rp);

static enum MHD_Result run_handler(vd_http_server *s, struct MHD_Connection *c, const char *url,
                                   const char *method, req_state *q)
{
    vd_http_req req = {
        .method = method,
        .path = url,
        .tail = q->tail,
        .body = q->body ? q->body : (const unsigned char *)"",
        .body_len = q->len,
        .conn_ = c,
    };
    if (q->body) q->body[q->len] = 0;
    vd_http_resp r = {.status = 200};
    int rc = q->route->fn(q->route->arg, &req, &r);
    return vd__http_send_handler_resp(s, c, url, method, rc, &r);
}

/* Send what a handler (or a sink's finish) returned, with the defaults of vd_http_server_start:
 * an error code without an error body becomes a JSON error, no body {"status":0}. */
enum MHD_Result vd__http_send_handler_resp(vd_http_server *s, struct MHD_Connection *c,
                                           const char *url, const char *method, int rc,
                                           vd_http_resp *rp)
{
    vd_http_resp r = *rp;
    int has_body = r.body || r.stream;
    if (rc < 0 && !(r.status >= 400 && has_body)) {
        int st = r.status >= 400 ? r.status : 500;
        vd__http_free_resp(&r);
        return vd__http_send_error(s, c, NULL, st, rc, "%s %s failed: %s", method, url,
                                   vd_strerror(rc));
    }
    if (!has_body) {
        if (r.status >= 400) {
            return vd__http_send_error(s, c, NULL, r.status, VD_EREMOTE,
                                       "%s %s failed with HTTP %d", method, url, r.status);
        }
        vd_http_json(&r, r.status ? r.status : 200, json_pack("{s:i}", "status", 0));
    }
    if (!r.status) r.status = 200;
    return vd__http_send_resp(s, c, &r, NULL);
}

/* A reply in the middle of a body, which libmicrohttpd cannot queue: written to the socket
 * here, on the connection's own thread (libmicrohttpd is reading, not writing), then the
 * connection ends after a short lingering read so that the client reads it, not a reset. */
static enum MHD_Result reply_mid_body(struct MHD_Connection *c, vd_http_resp *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    size_t len = 0;
    char *raw = r->body ? vd__http_raw_reply(r->status, r->body, &len) : NULL;
    vd__http_free_resp(r);
    if (!ci || !raw) {
        free(raw);
        return MHD_NO;
    }
    int fd = ci->connect_fd;
    double t0 = vd_now_ms();
    for (size_t off = 0; off < len && vd_now_ms() - t0 < 1000;) {
        ssize_t w = send(fd, raw + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) off += (size_t)w;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (w <= 0 && (w == 0 || (errno != EAGAIN && errno != EINTR) || poll(&p, 1, 100) < 0))
            break;
    }
    free(raw);
    shutdown(fd, SHUT_WR);
    char buf[16384];
    for (size_t drained = 0; drained < VD__HTTP_DISCARD_MAX && vd_now_ms() - t0 < 2000;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;
        if (n > 0) drained += (size_t)n;
    }
    return MHD_NO;
}

/* The rest of an over-long or refused body is dropped; past VD__HTTP_DISCARD_MAX (a chunked body
 * that does not end) the reply goes out at once (mid_body) and the connection closes. */
static enum MHD_Result refused_body_reply(vd_http_server *s, struct MHD_Connection *c, req_state *q,
                                          int mid_body)
{
    q->replied = 1;
    if (mid_body) {
        vd_http_resp r = q->late;
        q->late = (vd_http_resp){0};
        if (!r.body)
            vd_http_error(&r, 413, VD_ETOOBIG,
                          "request body is over this server's limit of %zu bytes: send less",
                          s->max_body);
        return reply_mid_body(c, &r);
    }
    if (q->late.body) {
        vd_http_resp r = q->late;
        q->late = (vd_http_resp){0};
        return vd__http_send_resp(s, c, &r, NULL);
    }
    if (q->declared)
        return vd__http_send_error(s, c, NULL, 413, VD_ETOOBIG,
                                   "request body of %llu bytes is over this server's limit of %zu "
                                   "bytes: send less",
                                   q->declared, s->max_body);
    return vd__http_send_error(s, c, NULL, 413, VD_ETOOBIG,
                               "request body is over this server's limit of %zu bytes: send less",
                               s->max_body);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    vd_http_server *s = cls;
    req_state *q = *con_cls;
    if (!q || !q->started) {
        if (!q && !(q = calloc(1, sizeof *q))) return MHD_NO;
        *con_cls = q;
        q->started = 1;
        snprintf(q->method, sizeof q->method, "%s", method);
        vd__guard_phase(c, VD__PHASE_RECEIVE);
        if (atomic_load(&s->stopping))
            return q->replied = 1, vd__http_send_error(s, c, NULL, 503, VD_ESTATE,
                                                       "server is shutting down: retry later");
        return first_call(s, c, url, method, q);
    }
    if (*upload_size)
        vd__guard_progress(c, *upload_size);
    else /* the body is complete: the handler (or a sink's finish) may take its time */
        vd__guard_phase(c, VD__PHASE_ANSWER);
    if (q->replied) { /* MHD discards the body of an early reply; be safe anyway */
        *upload_size = 0;
        return MHD_YES;
    }
    if (q->sk) return vd__http_sink_body(s, c, url, method, upload, upload_size, q);
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (!q->too_big && !q->late.body && q->len + n > s->max_body) {
            q->too_big = 1;
            free(q->body);
            q->body = NULL;
            q->cap = 0;
        }
        if (q->too_big || q->late.body) {
            q->discarded += n;
            /* a chunked upload that never ends: answer now */
            return q->discarded > VD__HTTP_DISCARD_MAX + s->max_body
                       ? refused_body_reply(s, c, q, 1)
                       : MHD_YES;
        }
        if (append_body(q, upload, n)) {
            q->too_big = 1; /* reported as 413 below: cannot hold it */
            free(q->body);
            q->body = NULL;
            q->cap = 0;
        }
        return MHD_YES;
    }
    if (q->too_big || q->late.body) return refused_body_reply(s, c, q, 0);
    q->replied = 1;
    return run_handler(s, c, url, method, q);
}

/* Each request's state is made here, from the target as the client sent it (libmicrohttpd
 * decodes it before on_request sees it, so a %00 there would cut the path short). */
static void *uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls, (void)c;
    req_state *q = calloc(1, sizeof *q);
    if (q && uri)
        q->bad_status = vd__http_check_target(uri, strlen(uri), q->bad_why, sizeof q->bad_why);
    if (q) q->t0 = vd_now_ms();
    return q;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)toe;
    vd__guard_phase(c, VD__PHASE_IDLE);
    req_state *q = *con_cls;
    if (!q) return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
    if (q->started && ci)
        vd__http_count(q->counted ? q->counted : "refused", q->method, (int)ci->http_status,
                       (vd_now_ms() - q->t0) / 1e3);
    vd__http_sink_done(q);
    vd__http_free_resp(&q->late);
    free(q->body);
    free(q);
    *con_cls = NULL;
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static void server_free(vd_http_server *s)
{
    vd__guard_free(s->g);
    free(s->token);
    free(s->routes);
    free(s->cors);
    free(s);
}

int vd_http_server_add_routes(vd_http_server *s, const vd_http_route *r, int n, vd_error *err)
{
    int n0 = atomic_load(&s->n_routes);
    if (n < 0 || n0 + n > s->cap_routes)
        return vd_fail(err, VD_ETOOBIG, "http server: room for %d more routes, not %d",
                       s->cap_routes - n0, n);
    for (int i = 0; i < n; i++)
        if (!r[i].path || !r[i].path[0] || !r[i].fn || (r[i].fn == vd_http_sink_route && !r[i].arg))
            return vd_fail(err, VD_EINVAL, "http server: route %d has no path or handler", i);
    memcpy(s->routes + n0, r, (size_t)n * sizeof *r); /* past n_routes: no reader sees them */
    atomic_store_explicit(&s->n_routes, n0 + n, memory_order_release);
    return 0;
}

int vd_http_server_start(const vd_http_opts *o, vd_http_server **out, vd_error *err)
{
    *out = NULL;
    if (!o || o->n_routes < 0 || (o->n_routes && !o->routes))
        return vd_fail(err, VD_EINVAL, "http server: no options or routes");
    if (o->port < 0 || o->port > 65535)
        return vd_fail(err, VD_EINVAL, "http server: port %d out of range (0-65535)", o->port);
    for (int i = 0; i < o->n_routes; i++)
        if (!o->routes[i].path || !o->routes[i].path[0] || !o->routes[i].fn ||
            (o->routes[i].fn == vd_http_sink_route && !o->routes[i].arg))
            return vd_fail(err, VD_EINVAL, "http server: route %d has no path or handler", i);
    if (o->cors && o->cors[0] && (strpbrk(o->cors, " \t\r\n,") || strlen(o->cors) > 255))
        return vd_fail(err, VD_EINVAL,
                       "http server: --cors '%s': expected one origin (scheme://host[:port]) or *",
                       o->cors);
    const char *host = o->host && o->host[0] ? o->host : "127.0.0.1";

    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE},
                    *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", o->port);
    int g = getaddrinfo(host, port, &hints, &ai);
    if (g != 0 || !ai)
        return vd_fail(err, VD_EINVAL, "http server: cannot resolve listen address '%s': %s", host,
                       gai_strerror(g));

    vd_http_server *s = calloc(1, sizeof *s);
    if (!s || (o->token && o->token[0] && !(s->token = strdup(o->token))) ||
        (o->cors && o->cors[0] && !(s->cors = strdup(o->cors)))) {
        freeaddrinfo(ai);
        if (s) server_free(s);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    /* the open routes first, then the others, then room for routes added later: readers
     * take n_routes (acquire) and see only entries written before it was stored */
    int nr = o->n_routes > 0 ? o->n_routes : 0, no = o->n_open_routes > 0 ? o->n_open_routes : 0;
    s->cap_routes = no + nr + ROUTES_SPARE;
    if (!(s->routes = calloc((size_t)s->cap_routes, sizeof *s->routes))) {
        freeaddrinfo(ai);
        server_free(s);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    if (no) memcpy(s->routes, o->open_routes, (size_t)no * sizeof *s->routes);
    if (nr) memcpy(s->routes + no, o->routes, (size_t)nr * sizeof *s->routes);
    s->n_open = no;
    atomic_init(&s->n_routes, nr + no);
    s->max_body = o->max_body ? o->max_body : DEFAULT_MAX_BODY;
    atomic_init(&s->stopping, 0);
    socklen_t alen = ai->ai_addrlen <= sizeof s->addr ? ai->ai_addrlen : sizeof s->addr;
    memcpy(&s->addr, ai->ai_addr, alen);
    freeaddrinfo(ai);

    vd__guard_limits lim;
    vd__guard_default_limits(&lim);
    int rc = vd__guard_new((struct sockaddr *)&s->addr, alen, &lim, &s->g, err);
    if (rc) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        server_free(s);
        return vd_fail(err, rc, "http server: cannot listen on %s:%d: %s", host, o->port, why);
    }
    /* the guard accepts; libmicrohttpd gets connections whose first head is in and checked */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_NO_LISTEN_SOCKET;
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)VD__HTTP_IDLE_S, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)lim.active_max, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                            (unsigned)lim.active_per_ip, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                            (size_t)CONN_MEMORY, MHD_OPTION_NOTIFY_CONNECTION, vd__guard_notify,
                            s->g, MHD_OPTION_URI_LOG_CALLBACK, uri_log, s,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!s->d || vd__guard_run(s->g, s->d, err)) {
        if (s->d) vd__guard_stop(s->g), MHD_stop_daemon(s->d);
        server_free(s);
        return vd_fail(err, VD_EIO, "http server: libmicrohttpd failed to start on %s:%d", host,
                       o->port);
    }
    *out = s;
    return 0;
}

int vd_http_server_port(const vd_http_server *s)
{
    return s ? vd__guard_port(s->g) : -1;
}

void vd_http_server_stop(vd_http_server *s)
{
    if (!s) return;
    atomic_store(&s->stopping, 1);
    vd__guard_stop(s->g); /* no new connections */
    if (s->d) MHD_stop_daemon(s->d);
    server_free(s);
}
