/*
 * Internal to the HTTP server (src/net/http_*.c): admission and the connection watchdog
 * (http_guard.c), and the request policy: request heads, CORS and origins, tokens and signed
 * URLs, body types (http_policy.c).
 *
 * Why an admission stage: libmicrohttpd gives every connection a thread from its accept
 * on, answers malformed heads with its own HTML, and resets its idle timeout on every
 * byte, so idle sockets and slowloris clients hold its slots. The guard owns the listening
 * socket instead: a connection waits in one poll thread (no thread of its own) until its
 * whole first request head has arrived within a deadline, the head is checked (JSON errors
 * for what is wrong with it), and only then is it handed to libmicrohttpd. Per-client and
 * total limits, with a reserve for clients that hold nothing, apply to both stages.
 *
 * Thread-safety: the guard's admission thread owns the waiting connections; the counts and
 * the records of libmicrohttpd's connections are under the guard's lock and are touched by
 * libmicrohttpd's threads through the notify hooks below.
 */
#ifndef VDAG_NET_HTTP_INTERNAL_H
#define VDAG_NET_HTTP_INTERNAL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "vdag/error.h"
#include "vdag/net.h"

/* ---- limits ------------------------------------------------------------------------------ */

#define VD__HTTP_HEAD_MAX (32 * 1024) /* bytes of a request head (request line + headers) */
#define VD__HTTP_LINE_MAX (8 * 1024)  /* bytes of the request line's target */
#define VD__HTTP_HEADERS  100         /* header lines */
#define VD__HTTP_HEAD_S   10.0        /* a request head must arrive within this (absolute) */
#define VD__HTTP_IDLE_S   10          /* keep-alive idle, and a stalled body, end after this */
#define VD__HTTP_MIN_RATE 1024.0      /* bytes/s a body must keep up (over VD__HTTP_IDLE_S) */
#define VD__HTTP_SIGN_TTL 600         /* default lifetime of a signed URL (s) */
#define VD__HTTP_SIGN_MAX 86400       /* longest lifetime of a signed URL (s) */

typedef struct vd__guard_limits {
    int pending_per_ip, pending_max; /* connections waiting for their first head */
    int active_per_ip, active_max;   /* connections libmicrohttpd serves (a thread each) */
    int reserve;   /* the last slots of each total go only to clients holding none */
    double head_s; /* deadline for a whole request head */
    double idle_s; /* a served connection idle between requests is closed after this */
} vd__guard_limits;

/* Defaults scaled to the process's file-descriptor limit. */
void vd__guard_default_limits(vd__guard_limits *l);

/* ---- the guard (http_guard.c) ------------------------------------------------------------ */

typedef struct vd__http_guard vd__http_guard;

/* Bind and listen on sa (VD_EIO with the reason: port in use, no permission, …). */
int vd__guard_new(const struct sockaddr *sa, socklen_t len, const vd__guard_limits *l,
                  vd__http_guard **out, vd_error *err);
int vd__guard_port(const vd__http_guard *g);
/* Start admitting into d (started with MHD_USE_NO_LISTEN_SOCKET and the hooks below). */
int vd__guard_run(vd__http_guard *g, struct MHD_Daemon *d, vd_error *err);
/* Stop admitting: the thread ends, waiting connections and the listening socket close.
 * Call before MHD_stop_daemon; free after it (its hooks run until then). */
void vd__guard_stop(vd__http_guard *g);
void vd__guard_free(vd__http_guard *g);

/* MHD_OPTION_NOTIFY_CONNECTION (cls: the guard): counts and watches served connections. */
void vd__guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode code);
/* Where a served connection is: idle between requests (closed after idle_s), receiving a
 * request (its head is in: its body must keep coming at VD__HTTP_MIN_RATE or better, over
 * windows of idle_s), or answering (no limit: a handler may compute, a stream may last). */
enum { VD__PHASE_IDLE = 0, VD__PHASE_RECEIVE = 1, VD__PHASE_ANSWER = 2 };
void vd__guard_phase(struct MHD_Connection *c, int phase);
/* n more body bytes arrived on c. */
void vd__guard_progress(struct MHD_Connection *c, size_t n);

/* ---- request heads (http_policy.c) ----------------------------------------------------- */

/* Check a request target as sent (before percent-decoding): an origin-form path, no raw
 * control or space bytes, no percent-encoded control byte in the path and no %00 anywhere.
 * 0, or an HTTP status (400, 414) with why filled. */
int vd__http_check_target(const char *t, size_t n, char *why, size_t cap);
/* Check a whole request head (request line, headers, the blank line; n bytes): syntax,
 * version (505), Host on HTTP/1.1, Content-Length / Transfer-Encoding (400, 501), header
 * count (431). 0, or an HTTP status with why filled. */
int vd__http_check_head(const char *p, size_t n, char *why, size_t cap);

/* A complete raw JSON error reply {"status": code, "msg": why} with Connection: close;
 * malloc'd, *len its length; NULL when out of memory. */
char *vd__http_raw_error(int http_status, int code, const char *why, size_t *len);
/* The same with a JSON body of one's own (NUL-terminated). */
char *vd__http_raw_reply(int http_status, const char *body, size_t *len);

/* ---- policy (http_policy.c) ------------------------------------------------------------ */

/* Whether Origin `origin` may make a state-changing request: the CORS origin ("*": any),
 * or the server's own (the Host header under http:// or https://). */
int vd__http_origin_ok(const char *cors, const char *origin, const char *host);
/* "Bearer <token>", compared in time independent of the token's content. */
int vd__http_bearer_ok(const char *token, const char *hdr);
/* A signed URL's query for GET `path`: "exp=<unix s>&sig=<hex HMAC-SHA256>" keyed by the
 * token, valid for ttl s. 0 or VD_EINVAL (ttl out of 1..VD__HTTP_SIGN_MAX). */
int vd__http_sign(const char *token, const char *path, long ttl, long now, char *out, size_t cap,
                  long *exp, vd_error *err);
/* The reply of GET /auth/sign_url?path=P&ttl=S (query values, may be NULL): {"status":0,
 * "url": "P?exp=…&sig=…" (P percent-encoded; P alone without a token), "expires"}, or a 400
 * naming the bad value. */
struct vd_http_resp;
void vd__http_sign_url_reply(const char *token, const char *path, const char *ttl_s, long now,
                             struct vd_http_resp *r);
/* 1 when exp/sig (query values, may be NULL) sign `path` with token and have not expired. */
int vd__http_signed_ok(const char *token, const char *path, const char *exp, const char *sig,
                       long now);
/* Whether a body of Content-Type ct (may be NULL) may reach a plain route: the media type
 * is application/json or image/jpeg. */
int vd__http_body_type_ok(const char *ct);

/* ---- metrics (http_metrics.c) ------------------------------------------------------------ */

/* Count one answered request: route is the route's path pattern ("/user/video/"), or
 * "unmatched" for a request no route took. */
void vd__http_count(const char *route, const char *method, int status, double seconds);

/* ---- the server's request state, shared by http_server.c and http_sink.c ---------------- */

#define VD__HTTP_DISCARD_MAX ((unsigned long long)64 << 20) /* then drop a chunked upload */

struct vd_http_server {
    struct MHD_Daemon *d;
    vd__http_guard *g;     /* the listening socket and admission */
    vd_http_route *routes; /* a copy: the open routes (the first n_open), the others, and
                            * those added later (vd_http_server_add_routes), cap_routes in all */
    _Atomic int n_routes;  /* grows only */
    int n_open, cap_routes;
    char *token;
    char *cors; /* the one origin allowed cross-site ("*": any), NULL: none */
    size_t max_body;
    atomic_int stopping;
    struct sockaddr_storage addr;
};

typedef struct sink_state sink_state; /* http_sink.c */

/* One request's state between the calls of on_request (MHD's con_cls). */
typedef struct req_state {
    const vd_http_route *route;
    const char *tail;
    unsigned char *body;
    size_t len, cap;
    unsigned long long discarded; /* bytes dropped after max_body was passed */
    unsigned long long declared;  /* Content-Length when it was over max_body, else 0 */
    int too_big;
    int replied;    /* a response was queued on the first call */
    sink_state *sk; /* a route with a sink: the streamed upload */
    int started;    /* the first call ran (the state is made earlier, by uri_log) */
    int bad_status; /* the target as sent is refused (uri_log): this HTTP status, bad_why */
    char bad_why[160];
    vd_http_resp late;   /* an error to send once the body is read and dropped (415) */
    double t0;           /* when the request's state was made (ms), for its duration */
    const char *counted; /* the route it is counted under (metrics) */
    char method[12];
} req_state;

/* http_server.c: free a response's body and headers; send one (allow: the Allow header of a
 * 405, or NULL); a JSON error; a handler's response or its failure (rc). */
void vd__http_free_resp(vd_http_resp *r);
enum MHD_Result vd__http_send_resp(vd_http_server *s, struct MHD_Connection *c, vd_http_resp *r,
                                   const char *allow);
enum MHD_Result vd__http_send_error(vd_http_server *s, struct MHD_Connection *c, const char *allow,
                                    int http_status, int status, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
enum MHD_Result vd__http_send_handler_resp(vd_http_server *s, struct MHD_Connection *c,
                                           const char *url, const char *method, int rc,
                                           vd_http_resp *rp);
void vd__http_verror(vd_http_resp *r, int http_status, int status, const char *fmt, va_list ap);

/* http_sink.c: a route with a sink (uploads): its first call (headers), its body calls, and
 * the end of the request (the sink finished or aborted). */
enum MHD_Result vd__http_sink_first(vd_http_server *s, struct MHD_Connection *c, const char *url,
                                    const char *method, req_state *q);
enum MHD_Result vd__http_sink_body(vd_http_server *s, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *upload, size_t *upload_size,
                                   req_state *q);
void vd__http_sink_done(req_state *q);

#endif
