/*
 * Streamed request bodies (http_internal.h): a route with a sink (vd_http_sink, uploads) gets
 * its body as it arrives, through MHD's post processor for a multipart field, counted against
 * the sink's max_size while it streams. A failure keeps its reply and reads the rest of the
 * body to drop it, so that the client, still sending, gets the reply and not a reset.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "net/http_internal.h"
#include "vdag/base.h"
#include "vdag/net.h"

/* ---- streamed request bodies (routes with a sink) --------------------------------------- */

/* An upload's state: the sink's context between begin and finish/abort, the multipart parser,
 * and the reply kept for when the upload fails early (the rest of the body is then read and
 * dropped, so that the client, still sending, gets the reply and not a reset). */
struct sink_state {
    const vd_http_sink *k;
    void *ctx;
    int open; /* begin succeeded; neither finish nor abort ran yet */
    struct MHD_PostProcessor *pp;
    int multipart;              /* the body is multipart/form-data, parsed by pp */
    unsigned long long got;     /* body bytes received */
    unsigned long long written; /* bytes handed to write() */
    unsigned long long dropped; /* bytes read and dropped after a failure */
    int field_seen, field_done;
    char *name;         /* the field's file name */
    int failed;         /* the rest of the body is dropped; reply is the answer */
    vd_http_resp reply; /* the error reply of a failed upload */
};

int vd_http_sink_route(void *sink, const vd_http_req *req, vd_http_resp *resp)
{
    (void)sink, (void)req;
    vd_http_error(resp, 500, VD_ESTATE, "a streamed-upload route was called as a plain handler");
    return VD_ESTATE;
}

/* End the upload with an error reply (the first failure wins); the sink is aborted. */
static void sink_fail(sink_state *k, vd_http_resp *r)
{
    if (k->failed) {
        vd__http_free_resp(r);
        return;
    }
    k->failed = 1;
    k->reply = *r;
    if (!k->reply.body) {
        vd_http_resp e = {0};
        vd_http_error(&e, k->reply.status >= 400 ? k->reply.status : 500, VD_EIO,
                      "upload failed after %llu bytes", k->got);
        k->reply = e;
    }
    if (k->open) k->k->abort(k->ctx);
    k->open = 0;
}

static void sink_fail_msg(sink_state *k, int http_status, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void sink_fail_msg(sink_state *k, int http_status, int code, const char *fmt, ...)
{
    vd_http_resp r = {0};
    va_list ap;
    va_start(ap, fmt);
    vd__http_verror(&r, http_status, code, fmt, ap);
    va_end(ap);
    sink_fail(k, &r);
}

static void sink_write(sink_state *k, const char *data, size_t n)
{
    if (k->failed || !n) return;
    vd_http_resp r = {0};
    if (k->k->write(k->ctx, data, n, &r) < 0) {
        sink_fail(k, &r);
        return;
    }
    vd__http_free_resp(&r);
    k->written += n;
}

/* MHD's post processor: the sink's field goes to write(), every other part is skipped. */
static enum MHD_Result sink_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *filename, const char *content_type,
                                 const char *transfer_encoding, const char *data, uint64_t off,
                                 size_t size)
{
    (void)kind, (void)content_type, (void)transfer_encoding;
    sink_state *k = cls;
    if (!key || strcmp(key, k->k->field) != 0) {
        if (k->field_seen) k->field_done = 1;
        return MHD_YES;
    }
    if (k->field_seen && off == 0 && k->written) k->field_done = 1; /* a second part: ignored */
    if (k->field_done) return MHD_YES;
    if (!k->field_seen) {
        k->field_seen = 1;
        k->name = strdup(filename ? filename : "");
    }
    sink_write(k, data, size);
    return k->failed ? MHD_NO : MHD_YES;
}

enum MHD_Result vd__http_sink_first(vd_http_server *s, struct MHD_Connection *c, const char *url,
                                    const char *method, req_state *q)
{
    sink_state *k = calloc(1, sizeof *k);
    if (!k) return MHD_NO;
    q->sk = k;
    k->k = q->route->arg;
    unsigned long long max = k->k->max_size;
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long v = cl ? strtoull(cl, NULL, 10) : 0;
    if (v > max) {
        if (v > VD__HTTP_DISCARD_MAX + max) /* absurd: answer before the body */
            return q->replied = 1,
                   vd__http_send_error(s, c, NULL, 413, VD_ETOOBIG,
                                       "upload of %llu bytes is over this server's limit "
                                       "of %llu bytes: send a smaller file",
                                       v, max);
        sink_fail_msg(k, 413, VD_ETOOBIG,
                      "upload of %llu bytes is over this server's limit of %llu bytes: send a "
                      "smaller file",
                      v, max);
        return MHD_YES;
    }
    vd_http_req req = {.method = method,
                       .path = url,
                       .tail = q->tail,
                       .body = (const unsigned char *)"",
                       .conn_ = c};
    vd_http_resp r = {0};
    if (k->k->begin(k->k->arg, &req, &k->ctx, &r) < 0) {
        if (!r.body) r.status = r.status >= 400 ? r.status : 400;
        sink_fail(k, &r);
        return MHD_YES;
    }
    vd__http_free_resp(&r);
    k->open = 1;
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    k->multipart = k->k->field && ct && !strncasecmp(ct, "multipart/form-data", 19);
    if (k->multipart && !(k->pp = MHD_create_post_processor(c, 64 * 1024, sink_iter, k)))
        sink_fail_msg(k, 400, VD_EFORMAT,
                      "malformed multipart/form-data request: no boundary in the Content-Type "
                      "header");
    return MHD_YES;
}

enum MHD_Result vd__http_sink_body(vd_http_server *s, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *upload, size_t *upload_size,
                                   req_state *q)
{
    sink_state *k = q->sk;
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        k->got += n;
        if (k->failed) { /* a chunked upload that never ends: stop listening */
            k->dropped += n;
            return k->dropped > VD__HTTP_DISCARD_MAX ? MHD_NO : MHD_YES;
        }
        if (k->got > k->k->max_size)
            sink_fail_msg(k, 413, VD_ETOOBIG,
                          "upload is over this server's limit of %llu bytes: send a smaller file",
                          k->k->max_size);
        else if (k->pp && MHD_post_process(k->pp, upload, n) != MHD_YES)
            sink_fail_msg(k, 400, VD_EFORMAT,
                          "malformed multipart/form-data body (at byte %llu): send it as curl "
                          "-F file=@PATH does",
                          k->got);
        else if (!k->pp)
            sink_write(k, upload, n);
        return MHD_YES;
    }
    q->replied = 1;
    if (k->pp) {
        MHD_destroy_post_processor(k->pp); /* may deliver the last bytes */
        k->pp = NULL;
    }
    if (k->failed) {
        vd_http_resp r = k->reply;
        k->reply = (vd_http_resp){0};
        return vd__http_send_resp(s, c, &r, NULL);
    }
    /* a raw body counts as the field; a multipart body without it does not */
    int multipart = k->multipart;
    vd_http_req req = {.method = method,
                       .path = url,
                       .tail = q->tail,
                       .body = (const unsigned char *)"",
                       .body_len = (size_t)k->written,
                       .conn_ = c,
                       .upload_name = multipart ? (k->name ? k->name : "") : NULL,
                       .upload_field = multipart ? k->field_seen : 1};
    vd_http_resp r = {.status = 200};
    k->open = 0;
    int rc = k->k->finish(k->ctx, &req, &r);
    return vd__http_send_handler_resp(s, c, url, method, rc, &r);
}

/* The request is over (any way): a sink still open is aborted. */
void vd__http_sink_done(req_state *q)
{
    sink_state *k = q->sk;
    if (!k) return;
    if (k->pp) MHD_destroy_post_processor(k->pp);
    if (k->open) k->k->abort(k->ctx);
    vd__http_free_resp(&k->reply);
    free(k->name);
    free(k);
    q->sk = NULL;
}
