/*
 * vdag net: the HTTP server (libmicrohttpd) and client (libcurl), the message codec,
 * the transport between nodes (in-process or NATS) and an MQTT publisher (libmosquitto).
 *
 * Ownership: a server borrows its route table and handler args (keep them alive until
 * vd_http_server_stop returns). Buffers (vd_buf) handed to callers are malloc'd and owned
 * by the caller (vd_buf_free). A transport owns its connection and subscriptions.
 * Thread-safety: handlers run on the server's connection threads, concurrently: they
 * must lock what they share. Every transport function may be called from any thread;
 * serve/subscribe callbacks run on the transport's threads, concurrently with callers.
 */
#ifndef VDAG_NET_H
#define VDAG_NET_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vdag/error.h"

/* ---- HTTP server --------------------------------------------------------------------- */

typedef struct vd_http_req {
    const char *method;        /* "GET", "POST", … */
    const char *path;          /* URL path without the query string */
    const char *tail;          /* path after the route's prefix ("" for exact routes) */
    const unsigned char *body; /* request body (NUL-terminated copy), may be empty */
    size_t body_len;
    void *conn_; /* internal */
    /* routes with a sink (below), at finish: the multipart file name of the streamed field
     * (borrowed, "" if the part had none, NULL for a raw body) and whether the field was in
     * the body (1) or not (0; always 1 for a raw body) */
    const char *upload_name;
    int upload_field;
} vd_http_req;

/* A header or a query-string argument of the request (borrowed), NULL if absent. */
const char *vd_http_header(const vd_http_req *r, const char *name);
const char *vd_http_query(const vd_http_req *r, const char *name);

/* A streaming body: called on the connection's own thread until it returns VD_EEOF or an
 * error; it may block (waiting for the next frame), but for at most ~200 ms per call.
 * Returns bytes written into buf (>0), or 0 when nothing came within that wait: it is then
 * called again, unless the server is stopping or the client has gone (then the stream
 * ends and stream_free runs). Returning 0 at once in a loop spins a core: wait first. */
typedef ssize_t (*vd_http_stream_fn)(void *arg, char *buf, size_t max);

typedef struct vd_http_resp {
    int status;               /* HTTP status, default 200 */
    const char *content_type; /* static string; default "application/json" */
    char *body;               /* malloc'd; the server frees it */
    size_t len;
    vd_http_stream_fn stream; /* instead of body: a streamed response of unknown length */
    void *stream_arg;
    void (*stream_free)(void *arg); /* called once the connection ends */
} vd_http_resp;

/* Set a JSON body (steals j). */
void vd_http_json(vd_http_resp *r, int http_status, json_t *j);

/* MJPEG (multipart/x-mixed-replace) for a streaming body: the response's content type,
 * and one part on its way out: set frames a JPEG (copied) as the next part, read copies
 * out what is left of it (returns how many bytes; 0 when all of it went out). Owned by
 * the stream, one thread at a time. */
#define VD_MJPEG_CONTENT_TYPE "multipart/x-mixed-replace; boundary=vdagframe"
typedef struct vd_mjpeg_part {
    char *buf;
    size_t len, off;
} vd_mjpeg_part;
int vd_mjpeg_part_set(vd_mjpeg_part *p, const unsigned char *jpeg, size_t len); /* VD_ENOMEM */
size_t vd_mjpeg_part_read(vd_mjpeg_part *p, char *out, size_t max);
void vd_mjpeg_part_free(vd_mjpeg_part *p);
/* A JSON error body {"status": code, "msg": …} with the given HTTP status; code is the
 * VD_E* code of the failure (the same codes as everywhere: a client maps them back). */
void vd_http_error(vd_http_resp *r, int http_status, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The HTTP status for a VD_E* code: 400 VD_EINVAL, VD_EFORMAT, VD_ESHAPE; 401 VD_EAUTH;
 * 404 VD_ENOTFOUND; 409 VD_ESTATE, VD_EALREADY; 413 VD_ETOOBIG; 500 any other. */
int vd_http_status_of(int code);
/* vd_http_error with the HTTP status vd_http_status_of(code). */
void vd_http_fail(vd_http_resp *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef int (*vd_http_handler)(void *arg, const vd_http_req *req, vd_http_resp *resp);

/* A streamed request body (uploads): a route with a sink gets its body piece by piece as it
 * arrives, on the connection's thread, instead of one buffer (the server's max_body does not
 * apply; the sink's max_size does, checked while the body streams). For a multipart/form-data
 * body and a sink with `field`, only that field's content reaches write() (its file name in
 * req->upload_name at finish); any other body reaches it whole. Calls for one request are
 * sequential: begin, then write zero or more times, then exactly one of finish or abort
 * (abort when begin succeeded but the upload did not complete: over max_size, a write error,
 * a malformed multipart body, the client gone, the server stopping). */
typedef struct vd_http_sink {
    void *arg;                   /* passed to begin */
    unsigned long long max_size; /* body bytes accepted; over it: 413, JSON, VD_ETOOBIG */
    const char *field;           /* multipart/form-data: the field streamed ("file"), or NULL */
    /* Headers are in (vd_http_header/vd_http_query work on req; no body yet). Return 0 and set
     * *ctx, or refuse: fill resp with an error and return <0 (the body is read and dropped,
     * then resp is the reply; no abort follows). */
    int (*begin)(void *arg, const vd_http_req *req, void **ctx, vd_http_resp *resp);
    /* The next bytes. <0 ends the upload: fill resp with the error reply (else a 500). */
    int (*write)(void *ctx, const void *data, size_t len, vd_http_resp *resp);
    /* The body is complete (req->body is empty; req->body_len is the bytes written): fill
     * resp as a handler would (the same defaults apply); ctx is the sink's to free. */
    int (*finish)(void *ctx, const vd_http_req *req, vd_http_resp *resp);
    void (*abort)(void *ctx); /* free ctx and undo what the upload left */
} vd_http_sink;

typedef struct vd_http_route {
    const char *method; /* "GET", "POST", "DELETE" or "*" */
    /* exact path, or a prefix when it ends with '/' ("/execute_task/"); "/" alone is exact */
    const char *path;
    vd_http_handler fn;
    void *arg;
} vd_http_route;

/* The handler of a route whose body is streamed: {"POST", "/videos", vd_http_sink_route,
 * &sink} with arg a vd_http_sink (borrowed like the route). The server recognises it and
 * never calls it as a plain handler. */
int vd_http_sink_route(void *sink, const vd_http_req *req, vd_http_resp *resp);

typedef struct vd_http_opts {
    const char *host;  /* listen address, default 127.0.0.1 */
    int port;          /* 0 = any free port (see vd_http_server_port) */
    const char *token; /* if set, every route but /healthz needs "Authorization: Bearer T" */
    size_t max_body;   /* bytes, default 16 MiB; bigger bodies get 413 */
    const vd_http_route *routes;
    int n_routes;
    /* Routes whose GET/HEAD is served without the token, as /healthz is (public files: the
     * dashboard's page and scripts, /openapi.yaml); borrowed like routes. */
    const vd_http_route *open_routes;
    int n_open_routes;
    /* The one web origin ("http://host:port") whose pages may call this server, or "*" for
     * any; NULL/"": none (no CORS headers, and a state-changing request carrying another
     * site's Origin is refused). */
    const char *cors;
} vd_http_opts;

typedef struct vd_http_server vd_http_server;
/* Start serving on a thread per connection. Every error is JSON {"status": VD_E* code,
 * "msg"}, the server's own included. In this order, before any route is looked at: a
 * request head that is malformed (400), too large (431, 414), of another HTTP version (505),
 * or that did not arrive within 10 s (408); a target holding a control byte, raw or
 * percent-encoded (%00 anywhere) (400); a CORS preflight (OPTIONS with
 * Access-Control-Request-Method: 204 for the cors origin, else 403); a POST/DELETE/… whose
 * Origin is neither the cors origin nor the server's own (403, VD_EAUTH); with a token, a
 * request without it (401, VD_EAUTH; only GET/HEAD /healthz is open, and a GET or HEAD may
 * instead carry a URL signed by GET /auth/sign_url?path=P[&ttl=S], which answers
 * {"url": "P?exp=…&sig=…", "expires"}, an HMAC-SHA256 of the path and expiry keyed by the
 * token, default 600 s, at most a day). GET /routes lists every route served (the server's
 * own included) with whether it is open. Then: unknown paths 404, a known path with another
 * method 405 (OPTIONS: 204 with Allow), a body over max_body 413 (Content-Length or chunked),
 * a body whose Content-Type is neither application/json nor image/jpeg 415 (VD_EUNSUPP), so
 * a plain route parses JSON only from application/json. A handler returning <0 without an
 * error body of its own gets a 500 with its code as "status"; one that sets no body gets
 * {"status":0}. HEAD is served by GET routes. CORS headers only as `cors` says.
 * Connections: at most 64 waiting for their first request head and 64 being served per
 * client address, 512 and 256 in all (less under a low descriptor limit), the last eighth
 * of each kept for clients holding none; an idle kept-alive connection or a stalled body is
 * closed after 10 s. */
int vd_http_server_start(const vd_http_opts *o, vd_http_server **out, vd_error *err);
int vd_http_server_port(const vd_http_server *s);
/* Add n routes (copied; they need the token like the routes given at start) to a running
 * server, from any thread; requests see them from then on. VD_EINVAL for one without a path
 * or handler, VD_ETOOBIG past room for 32 routes added in all. */
int vd_http_server_add_routes(vd_http_server *s, const vd_http_route *r, int n, vd_error *err);
/* Stop accepting, end open connections and free. A stream is not called again once stop
 * has begun (its client sees the body cut short; stream_free runs). Stop waits for every
 * connection thread, so a stream callback must return within ~200 ms (0 when it has
 * nothing) or be ended by its owner before or while stopping; one that blocks for good
 * makes stop hang. */
void vd_http_server_stop(vd_http_server *s);

/* GET /metrics (arg unused): the process's metrics (vdag/metrics.h) in the Prometheus text
 * format 0.0.4; the server counts every request it answers there (vdag_http_*). */
int vd_http_metrics(void *arg, const vd_http_req *req, vd_http_resp *resp);

/* The dashboard (GET /, GET /static/…) and GET /openapi.yaml, files compiled into the binary
 * (docs/dashboard.md), for vd_http_opts.open_routes. Returns the number of routes written
 * into r, or VD_ETOOBIG when cap is too small. */
int vd_http_static_routes(vd_http_route *r, int cap);

/* Parse "HOST:PORT" (or ":PORT", or "PORT"). host gets a NUL-terminated copy. */
int vd_parse_hostport(const char *s, char *host, size_t host_cap, int *port, vd_error *err);

/* ---- HTTP client --------------------------------------------------------------------- */

typedef struct vd_buf {
    unsigned char *data;
    size_t len;
} vd_buf;
void vd_buf_free(vd_buf *b);

/* One request. body may be NULL; ctype defaults to application/json; token adds a Bearer
 * header. *http_status gets the status; resp gets the body (caller frees with
 * vd_buf_free, NUL-terminated). VD_EIO when the server cannot be reached (or closes the
 * connection mid-reply), VD_ETIMEDOUT when no complete answer came within timeout_ms
 * (<= 0: no limit). Any HTTP status, 4xx and 5xx included, returns 0. */
int vd_http_request(const char *method, const char *url, const char *token, const char *ctype,
                    const void *body, size_t len, int timeout_ms, long *http_status, vd_buf *resp,
                    vd_error *err);

/* ---- messages: a JSON header plus an optional binary blob (a JPEG, a tensor) ---------- */

/* Frame: "VDM1", u32 big-endian header length, header JSON, blob. */
int vd_msg_pack(json_t *hdr, const void *blob, size_t blob_len, vd_buf *out, vd_error *err);
/* *hdr is a new reference; *blob points into msg (borrowed). */
int vd_msg_unpack(const unsigned char *msg, size_t len, json_t **hdr, const unsigned char **blob,
                  size_t *blob_len, vd_error *err);

/* ---- transport ----------------------------------------------------------------------- */

/* A service handler: req is borrowed; fill *resp with a malloc'd buffer (the transport
 * frees it). On error return a VD_E* code with err set: the caller's call returns
 * VD_EREMOTE with that code in err->remote and that message (vdag/error.h). */
typedef int (*vd_serve_fn)(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err);
/* A subscription callback: subject and msg are borrowed for the call. */
typedef void (*vd_msg_fn)(void *arg, const char *subject, const vd_buf *msg);

typedef struct vd_transport vd_transport;

/* Durability (JetStream over NATS; memory in-process, where nothing outlives the process).
 *
 * A stream stores every message published on its subjects until a durable consumer acks
 * it (work-queue retention, bounded by age and bytes): a subscriber that is away (a cloud
 * restarting) or a server restart loses none. A publisher gets each message's fate: 0 when
 * the stream stored it, else a code (VD_ETIMEDOUT, VD_ECONN: unknown, send it again with
 * the same id; the stream drops a repeated id within 2 minutes; VD_ENOTFOUND: no stream
 * takes that subject yet). A consumer fetches in stream order and acks each message once
 * it has made its effect durable; an unacked message is delivered again (after ack_wait,
 * or at once to the next fetch after a restart of the consumer), so a consumer must be
 * idempotent.
 *
 * A key-value bucket holds the latest value per key with a revision; create and update
 * are compare-and-set (a lease: create when absent, update while the revision is ours);
 * a bucket with a TTL forgets a key that long after its last write. Keys are tokens of
 * [A-Za-z0-9_-] joined by '.'. Thread-safety: as every transport function, but a durable
 * consumer is fetched from by one thread at a time, which owns the messages it fetched. */
typedef struct vd_stream_cfg {
    const char *name;     /* "VDAG_RESULTS" */
    const char *subjects; /* the subject pattern it stores ("vdag.result.>") */
    double max_age_s;     /* older messages are dropped (0: kept) */
    int64_t max_bytes;    /* the oldest are dropped beyond (0: no limit) */
    int ack_wait_ms;      /* consumers: redelivery of an unacked message after (0: 30 s) */
} vd_stream_cfg;

/* One message to store: in subject, id (unique per message: the de-duplication key) and
 * msg; out rc, 0 when stored (also when the stream had that id already). */
typedef struct vd_spub {
    const char *subject, *id;
    vd_buf msg;
    int rc;
} vd_spub;

/* A fetched message (the transport's; release with stream_release). */
typedef struct vd_smsg {
    const char *subject;
    vd_buf data;
    int deliveries; /* 1 the first time */
    void *impl_;
} vd_smsg;

typedef struct vd_transport_ops {
    const char *name; /* "inproc", "nats" */
    /* Request/reply to `service` on `node` (NULL: any node serving it; replicas share the
     * load). Every transport checks names alike: VD_EINVAL for a node name with '.', a
     * wildcard ('*', '>') or a space, or a service name that is not dot-separated non-empty
     * tokens without them. The transport's own failures: VD_ENOTFOUND when nobody serves it,
     * VD_ETIMEDOUT, VD_ECONN, VD_ETOOBIG, VD_EAUTH (the server does not let this identity
     * send on that subject: at once, with the subject and the server's words). The handler's
     * failure: VD_EREMOTE, its code in err->remote (the same over every transport) and its
     * message in err->msg. */
    int (*call)(vd_transport *t, const char *node, const char *service, const vd_buf *req,
                vd_buf *resp, int timeout_ms, vd_error *err);
    /* Serve `service` as `node` (both the node's own subject and the service's queue group).
     * VD_EINVAL for bad names (as for call) or a service this node already serves; VD_EAUTH
     * when the server refuses the subscription. */
    int (*serve)(vd_transport *t, const char *node, const char *service, vd_serve_fn fn, void *arg,
                 vd_error *err);
    /* Fire-and-forget publish; subscribers of the exact subject (or of "prefix.>") get it.
     * Subjects are dot-separated non-empty tokens: VD_EINVAL for one with a wildcard (to
     * publish) or a misplaced one (to subscribe: '*' is one token, a final '>' the rest).
     * VD_EAUTH when the server refused this subject for this identity before (a refused
     * publish is reported by the server afterwards, and logged once). */
    int (*publish)(vd_transport *t, const char *subject, const vd_buf *msg, vd_error *err);
    int (*subscribe)(vd_transport *t, const char *subject, vd_msg_fn fn, void *arg, vd_error *err);
    /* 1 when connected (inproc: always). */
    int (*connected)(vd_transport *t);
    /* Unsubscribe everything, wait for running callbacks, free. */
    void (*close)(vd_transport *t);

    /* Durability (see above). Create the stream or make it match cfg (idempotent);
     * VD_EUNSUPP when the server has no JetStream. */
    int (*stream_create)(vd_transport *t, const vd_stream_cfg *cfg, vd_error *err);
    /* Store n messages, in order, waiting up to timeout_ms for the stream's answers; each
     * m[i].rc says what became of it. Returns the number stored, or <0 (err) when none. */
    int (*stream_publish)(vd_transport *t, vd_spub *m, int n, int timeout_ms, vd_error *err);
    /* Up to max messages for the durable consumer `durable` of `stream`, waiting up to
     * timeout_ms for the first; *n = 0 and 0 when none came. This transport's first fetch
     * takes the consumer over (it is made anew: every message still in the stream, those
     * another process fetched and did not ack included, comes at once, oldest first).
     * out[i] are released with stream_release (after ack or nak; their data until then). */
    int (*stream_fetch)(vd_transport *t, const char *stream, const char *durable, int max,
                        int timeout_ms, vd_smsg *out, int *n, vd_error *err);
    /* Done with it for good (ack), or deliver it again after delay_ms (nak). */
    int (*stream_ack)(vd_transport *t, vd_smsg *m, vd_error *err);
    int (*stream_nak)(vd_transport *t, vd_smsg *m, int delay_ms, vd_error *err);
    void (*stream_release)(vd_transport *t, vd_smsg *m);
    /* Create the bucket or open it (idempotent); ttl_s > 0: keys expire that long after
     * their last write. VD_EUNSUPP without JetStream. */
    int (*kv_bucket)(vd_transport *t, const char *bucket, double ttl_s, vd_error *err);
    /* *val (malloc'd, NUL-terminated; vd_buf_free) and *rev; VD_ENOTFOUND when absent. */
    int (*kv_get)(vd_transport *t, const char *bucket, const char *key, vd_buf *val, uint64_t *rev,
                  vd_error *err);
    /* Write (rev: may be NULL): put always; create only when the key is absent (else
     * VD_EALREADY); update only while the key is at revision last (else VD_ESTATE: it
     * changed since, or is gone). */
    int (*kv_put)(vd_transport *t, const char *bucket, const char *key, const vd_buf *val,
                  uint64_t *rev, vd_error *err);
    int (*kv_create)(vd_transport *t, const char *bucket, const char *key, const vd_buf *val,
                     uint64_t *rev, vd_error *err);
    int (*kv_update)(vd_transport *t, const char *bucket, const char *key, const vd_buf *val,
                     uint64_t last, uint64_t *rev, vd_error *err);
    /* Delete a key (absent: 0). */
    int (*kv_delete)(vd_transport *t, const char *bucket, const char *key, vd_error *err);
    /* The keys that start with prefix ("" for all): *keys a malloc'd array of *n malloc'd
     * strings (vd_kv_keys_free). */
    int (*kv_keys)(vd_transport *t, const char *bucket, const char *prefix, char ***keys, int *n,
                   vd_error *err);
} vd_transport_ops;

void vd_kv_keys_free(char **keys, int n);

struct vd_transport {
    const vd_transport_ops *ops;
    void *priv;
};

/* In-process: calls run the handler on the caller's thread; publish delivers on a
 * dispatcher thread in order; streams and buckets are in memory. */
int vd_transport_inproc_new(vd_transport **out, vd_error *err);

/* How to reach a NATS server and who we are there. Secrets (the password, the seed and
 * key files' contents) are never put in a message: URLs in messages are redacted
 * (vd_nats_url_redact). Only one of creds, nkey and user/password. */
typedef struct vd_nats_opts {
    const char *url;        /* nats://HOST:PORT[,…]; tls://… turns TLS on */
    const char *name;       /* the connection's name and identity token: replies come to
                             * "_INBOX.<name>.>", which the server's permissions name
                             * (docs/security.md) */
    const char *creds;      /* a .creds file: user JWT + NKey seed (decentralized auth) */
    const char *nkey;       /* an NKey seed file (a line "SU…"; the public key is derived) */
    const char *user;       /* user/password authentication (from a file or the */
    const char *password;   /* environment, never the command line) */
    const char *tls_ca;     /* CA certificate(s) the server's certificate must chain to */
    const char *tls_cert;   /* a client certificate and its key, for a server that */
    const char *tls_key;    /* verifies clients (mutual TLS) */
    int connect_timeout_ms; /* the first connection; 0: 2000 */
} vd_nats_opts;

/* NATS (nats.c): sends without batching (SendAsap), reconnects forever (every 250 ms) after
 * a server restart and re-subscribes. Refused credentials are VD_EAUTH ("authorization"),
 * naming the identity and the server; a server that cannot be reached yet is not an error
 * (the connection is retried in the background). TLS problems (a certificate that does not
 * verify, a missing file) are VD_EAUTH or VD_EIO with the file or the verification error. */
int vd_transport_nats_open(const vd_nats_opts *o, vd_transport **out, vd_error *err);
/* vd_transport_nats_open with only a URL and a name (no credentials, no TLS). */
int vd_transport_nats_new(const char *url, const char *name, vd_transport **out, vd_error *err);
/* url with any password or token replaced by "***" ("nats://e1:***@host:4222"), for
 * messages; out always NUL-terminated. */
void vd_nats_url_redact(const char *url, char *out, size_t cap);
/* A user/password file: one line "USER:PASSWORD" (or USER, then PASSWORD on the next line).
 * VD_EIO / VD_EFORMAT naming the file, never its content. */
int vd_nats_userfile_read(const char *path, char *user, size_t ucap, char *password, size_t pcap,
                          vd_error *err);

/* ---- MQTT (libmosquitto): an asynchronous publisher --------------------------------- */

/* A connection to an MQTT broker that only publishes (the cloud's events, docs/events.md).
 * vd_mqtt_publish never blocks: messages wait in a bounded queue and one sender thread hands
 * them to libmosquitto (QoS 1) while connected, at most VD_MQTT_INFLIGHT unacknowledged at a
 * time. A broker that is down or restarting is retried (every 1-2 s, libmosquitto's loop
 * thread); meanwhile the queue holds up to max_queue messages, beyond which the oldest are
 * dropped and counted. Retained messages are remembered per topic (the latest payload, up
 * to VD_MQTT_RETAINED topics) and published again after every reconnection, so a broker
 * restarted without persistence has the state again. With will_topic, the broker is told to
 * publish "offline" (retained) there when the connection is lost uncleanly, "online"
 * (retained) is published there on every connection and "offline" at vd_mqtt_close.
 *
 * Ownership: the options are copied. Thread-safety: every function may be called from any
 * thread but vd_mqtt_close (once, when no other call runs). */
#define VD_MQTT_INFLIGHT 64
#define VD_MQTT_RETAINED 4096

typedef struct vd_mqtt_opts {
    const char *url;        /* mqtt://[USER[:PASSWORD]@]HOST[:PORT] (port 1883; tcp:// too) */
    const char *user;       /* the user name and password (override the URL's; from a file */
    const char *password;   /* or the environment, not the command line) */
    const char *client_id;  /* NULL: "vdag-<host>-<pid>" */
    const char *will_topic; /* NULL: no availability topic */
    int max_queue;          /* messages kept while they cannot be sent (0: 10000) */
    int keepalive_s;        /* 0: 10 */
} vd_mqtt_opts;

typedef struct vd_mqtt vd_mqtt;

typedef struct vd_mqtt_stats {
    uint64_t published; /* acknowledged by the broker */
    uint64_t dropped;   /* the queue was full, or libmosquitto refused it (too big, …) */
    int queued;         /* waiting to be sent */
    int connected;
    char error[512]; /* the last connection problem ("" when none) */
} vd_mqtt_stats;

/* Split an MQTT URL: host (NUL-terminated), port, user and password ("" when absent).
 * VD_EINVAL naming what is wrong (the password never shown); VD_EUNSUPP for mqtts:// and
 * ws:// (no TLS or websockets here). */
int vd_mqtt_url_parse(const char *url, char *host, size_t hcap, int *port, char *user, size_t ucap,
                      char *password, size_t pcap, vd_error *err);
/* Start connecting (a broker that cannot be reached yet is not an error: retried).
 * VD_EINVAL for a bad URL or option, VD_EBACKEND when libmosquitto fails to start. */
int vd_mqtt_open(const vd_mqtt_opts *o, vd_mqtt **out, vd_error *err);
/* Queue one message (payload copied). VD_EINVAL for a topic with '+', '#' or NUL or an empty
 * one; VD_EBUSY when the queue was full (the oldest message was dropped for it). */
int vd_mqtt_publish(vd_mqtt *m, const char *topic, const void *payload, size_t len, int retain);
void vd_mqtt_stats_get(vd_mqtt *m, vd_mqtt_stats *s);
/* Wait up to timeout_ms for the queue to empty and every message to be acknowledged: 0 when
 * they were, VD_ETIMEDOUT (tests, and a clean shutdown). */
int vd_mqtt_flush(vd_mqtt *m, int timeout_ms);
/* Publish "offline" to the will topic, flush (at most 1 s), disconnect, free. NULL: no-op. */
void vd_mqtt_close(vd_mqtt *m);

/* ---- a private nats-server (tests, benchmarks, scripts: `vdag nats-server`) ------------ */

/* The cloud's JetStream names (its results stream and its durable consumer, its state and
 * lease buckets), which the "cloud" role's permissions name. */
#define VD_JS_RESULTS  "VDAG_RESULTS"
#define VD_JS_CONSUMER "vdag_cloud"
#define VD_KV_STATE    "vdag_cloud"
#define VD_KV_LEASE    "vdag_lease"
/* The batch queue's (src/batch/queue_js.c), which the "cloud" and "worker" roles name. */
#define VD_JS_WORK     "VDAG_WORK"
#define VD_JS_DEAD     "VDAG_DEAD"
#define VD_JS_WORKERS  "vdag_workers"
#define VD_KVB_VIDEOS  "vdag_videos"
#define VD_KVB_RESULTS "vdag_results"
#define VD_KVB_BLOBS   "vdag_blobs"
#define VD_SUBJ_WORK   "vdag.work"
#define VD_SUBJ_DEAD   "vdag.dead"

/* An identity the server lets in, with the permissions of its role (docs/security.md):
 *  "cloud": submits to edges, calls any node, JetStream (its stream and buckets), reads
 *           heartbeats and frames, publishes its events (vdag.event.>);
 *  "edge":  publishes its own heartbeats, results and frames (vdag.hb.<name>, …), serves its
 *           own subjects, calls stage services (svc.*) on other nodes; no node.* command
 *           to anyone, no JetStream API, no one else's replies;
 *  "worker": the batch queue only (its work and dead-letter streams, its buckets: the
 *           VD_JS_WORK … VD_KVB_BLOBS names), which the cloud may use too; no node subject;
 *  "observer": reads the cloud's events (vdag.event.>) and nothing else. */
typedef struct vd_nats_ident {
    const char *name;     /* the node's name (the user name with a password) */
    const char *role;     /* "cloud", "edge", "worker" or "observer" */
    const char *password; /* user name + password, or */
    const char *nkey;     /* a public NKey ("U…") */
} vd_nats_ident;

/* 1 if role is one of those above. */
int vd_nats_role_known(const char *role);

typedef struct vd_nats_server_opts {
    const char *host;        /* listen address (default 127.0.0.1) */
    int port;                /* 0: a free port (retried if the server loses the race for it) */
    const char *max_payload; /* server syntax, default "8MB" (frames exceed the 1 MB default) */
    int no_jetstream;        /* JetStream is on by default, its store in the temp directory */
    int log_to_stderr;       /* server output to this process's stderr, not <dir>/server.log */
    /* authorization: none = anyone may connect and do anything (loopback tests) */
    const vd_nats_ident *idents;
    int n_idents;
    const char *tls_cert, *tls_key; /* the server's certificate: clients must use TLS */
    const char *tls_ca;             /* with tls_verify: clients must show a certificate */
    int tls_verify;                 /* signed by tls_ca */
    const char *secure_dir;         /* all of the above from a directory made by
                                     * vd_nats_secure_init (identities and certificates) */
    const char *store_dir; /* config, log and JetStream store here (made if missing, kept at
                            * stop: a new server on it has the old one's streams), not in a
                            * temp directory */
} vd_nats_server_opts;

typedef struct vd_nats_server vd_nats_server;

/* Start nats-server (found on $PATH or in /usr/sbin; VD_ENOTFOUND with "apt-get install
 * nats-server" when missing) with a config in a new temp directory
 * (${TMPDIR:-/tmp}/vdag-nats-XXXXXX: config, log, JetStream store); returns once it accepts
 * connections (at most 10 s). o may be NULL (all defaults). The server is a child process
 * that gets SIGKILL if the thread that started it exits, so no server outlives a crashed
 * owner. The handle is owned by the caller; it is not locked: use it from one thread at a
 * time. */
int vd_nats_server_start(const vd_nats_server_opts *o, vd_nats_server **out, vd_error *err);
/* "nats://127.0.0.1:PORT" ("tls://…" with TLS) (borrowed, valid until stop). */
const char *vd_nats_server_url(const vd_nats_server *s);
int vd_nats_server_port(const vd_nats_server *s);
/* The server's log file (borrowed), NULL with log_to_stderr. */
const char *vd_nats_server_log(const vd_nats_server *s);
/* Its config file (borrowed). */
const char *vd_nats_server_conf(const vd_nats_server *s);
/* 1 while the server process runs (it is reaped once it has exited). */
int vd_nats_server_alive(vd_nats_server *s);
/* SIGKILL the server and wait for it (a crash, for tests); its port, config and store stay,
 * so vd_nats_server_restart brings it back on the same URL. */
void vd_nats_server_kill(vd_nats_server *s);
int vd_nats_server_restart(vd_nats_server *s, vd_error *err);
/* SIGTERM (SIGKILL after 2 s), wait, remove the temp directory (not a store_dir), free. NULL
 * is a no-op. */
void vd_nats_server_stop(vd_nats_server *s);

/* Make (or complete: what exists is kept) a directory of credentials for a secured bus:
 * a CA (ca.pem, ca.key), the server's certificate for `host`, 127.0.0.1 and localhost
 * (server.pem, server.key), and per identity NAME of a role: an NKey seed (NAME.nk) and a
 * client certificate (NAME.pem, NAME.key), listed in `identities` ("ROLE NAME" lines).
 * Keys and seeds are 0600, the directory 0700. Certificates are made with the openssl
 * command (VD_ENOTFOUND when it is missing). names: "cloud:cloud,edge:e1,edge:e2". */
int vd_nats_secure_init(const char *dir, const char *names, const char *host, vd_error *err);

static inline int vd_transport_call(vd_transport *t, const char *node, const char *service,
                                    const vd_buf *req, vd_buf *resp, int timeout_ms, vd_error *err)
{
    return t->ops->call(t, node, service, req, resp, timeout_ms, err);
}
static inline void vd_transport_close(vd_transport *t)
{
    if (t) t->ops->close(t);
}

#endif
