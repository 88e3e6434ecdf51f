/*
 * The API side of batch mode: the /videos routes, the streamed upload, and a janitor thread.
 *
 * An upload streams to <data>/<id>/video (the id is generated; the client's file name is only
 * a label in the record), limited to max_upload bytes while it streams (the HTTP server's
 * sink answers 413); once complete it is probed with FFmpeg (not a video, empty, no video
 * stream: 400/415 and the directory is removed) and ingested (segments + items), all on the
 * connection's thread, and answered {"video_id","frames","state":"queued","items"}.
 *
 * State is what the queue holds: the aggregator is rebuilt from its watches, the janitor marks
 * complete videos "done" in their record (and drops their segments) and fails uploads whose
 * ingest stopped half-way (their server died), so a restarted server simply carries on.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch/batch_internal.h"
#include "vdag/base.h"

#define DEFAULT_MAX_UPLOAD (2ull << 30)
#define JANITOR_MS         250

struct vd_batch {
    vd_queue *q;
    char data_dir[512];
    unsigned long long max_upload;
    int item_frames;
    vd__agg *agg;
    vd_kv_watch *w_meta, *w_res;
    pthread_t janitor;
    int janitor_started;
    atomic_int stop;
    vd_http_sink sink;
};

/* ---- files ------------------------------------------------------------------------------- */

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(p);
    return 0;
}

static void remove_tree(const char *dir)
{
    if (dir && dir[0]) nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void new_id(char *id)
{
    unsigned char r[VD_BATCH_ID_LEN / 2];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) { /* no entropy: time and pid */
        uint64_t x = vd_now_ns() ^ ((uint64_t)getpid() << 40);
        memcpy(r, &x, sizeof r < sizeof x ? sizeof r : sizeof x);
    }
    for (size_t i = 0; i < sizeof r; i++) sprintf(id + 2 * i, "%02x", r[i]);
}

static int id_ok(const char *id)
{
    if (strlen(id) != VD_BATCH_ID_LEN) return 0;
    for (const char *c = id; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'))) return 0;
    return 1;
}

/* ---- submit (shared by the upload and the embedded CLI) --------------------------------- */

/* Probe and ingest `path` as video `id`; *http gets the status that fits an error. */
static int submit_as(vd_batch *b, const char *id, const char *path, const vd_batch_job_opts *jo,
                     json_t **reply, int *http, vd_error *err)
{
    vd__probe_info pi;
    const char *name = jo->name[0] ? jo->name : "the upload";
    int rc = vd__probe(path, name, &pi, err);
    if (rc) {
        *http = 415;
        return rc;
    }
    json_t *rec = NULL;
    vd__agg_mark_local(b->agg, id, 1);
    rc = vd__ingest(b->q, id, path, &pi, jo, b->item_frames, &rec, err);
    vd__agg_mark_local(b->agg, id, 0);
    if (rc) {
        vd__agg_forget(b->agg, id);
        *http = rc == VD_EFORMAT ? 400 : 500;
        return rc;
    }
    *reply = json_pack("{s:s,s:O,s:s,s:O,s:O,s:O}", "video_id", id, "frames",
                       json_object_get(rec, "frames"), "state", "queued", "items",
                       json_object_get(rec, "items"), "name", json_object_get(rec, "name"),
                       "truncated_at", json_object_get(rec, "truncated_at"));
    json_decref(rec);
    return 0;
}

int vd_batch_submit(vd_batch *b, const char *path, const vd_batch_job_opts *jo, json_t **reply,
                    vd_error *err)
{
    char id[VD_BATCH_ID_LEN + 1];
    new_id(id);
    vd_batch_job_opts o = *jo;
    if (!o.name[0]) {
        const char *base = strrchr(path, '/');
        snprintf(o.name, sizeof o.name, "%s", base ? base + 1 : path);
    }
    int http;
    return submit_as(b, id, path, &o, reply, &http, err);
}

/* ---- the upload sink --------------------------------------------------------------------- */

typedef struct upload {
    vd_batch *b;
    char id[VD_BATCH_ID_LEN + 1];
    char dir[600], path[700];
    FILE *f;
    vd_batch_job_opts jo;
} upload;

static const char *const job_keys[] = {"model",     "resolution",  "min_score", "iou",
                                       "ntracking", "item_frames", "frames",    "name"};

static int up_begin(void *arg, const vd_http_req *req, void **ctx, vd_http_resp *resp)
{
    vd_batch *b = arg;
    const char *ct = vd_http_header(req, "Content-Type");
    if (!ct ||
        !(!strncasecmp(ct, "video/", 6) || !strncasecmp(ct, "application/octet-stream", 24) ||
          !strncasecmp(ct, "multipart/form-data", 19))) {
        vd_http_error(resp, 415, VD_EUNSUPP,
                      "POST /videos: Content-Type '%s' is not a video: send the file as video/* "
                      "or application/octet-stream (curl --data-binary @FILE -H 'Content-Type: "
                      "video/mp4'), or as multipart/form-data (curl -F file=@FILE)",
                      ct ? ct : "(none)");
        return VD_EUNSUPP;
    }
    upload *u = calloc(1, sizeof *u);
    if (!u) return VD_ENOMEM;
    u->b = b;
    vd_batch_job_defaults(&u->jo);
    vd_error err = {0};
    for (size_t i = 0; i < sizeof job_keys / sizeof *job_keys; i++) {
        const char *v = vd_http_query(req, job_keys[i]);
        if (v && vd_batch_job_opt(&u->jo, job_keys[i], v, &err)) {
            free(u);
            vd_http_error(resp, 400, err.code, "POST /videos: %s", err.msg);
            return err.code;
        }
    }
    new_id(u->id);
    snprintf(u->dir, sizeof u->dir, "%s/%s", b->data_dir, u->id);
    snprintf(u->path, sizeof u->path, "%s/video", u->dir);
    if (vd__mkdirs(u->dir, &err) || !(u->f = fopen(u->path, "wbx"))) {
        if (!err.msg[0]) vd_fail(&err, VD_EIO, "cannot create %s: %s", u->path, strerror(errno));
        remove_tree(u->dir);
        free(u);
        vd_http_error(resp, 500, VD_EIO, "POST /videos: %s", err.msg);
        return VD_EIO;
    }
    setvbuf(u->f, NULL, _IOFBF, 1 << 20);
    vd__agg_mark_local(b->agg, u->id, 1);
    *ctx = u;
    return 0;
}

static int up_write(void *ctx, const void *data, size_t len, vd_http_resp *resp)
{
    upload *u = ctx;
    if (fwrite(data, 1, len, u->f) == len) return 0;
    vd_http_error(resp, 507, VD_EIO, "POST /videos: cannot store the upload in %s: %s",
                  u->b->data_dir, strerror(errno));
    return VD_EIO;
}

static void up_abort(void *ctx)
{
    upload *u = ctx;
    if (u->f) fclose(u->f);
    remove_tree(u->dir);
    vd__agg_mark_local(u->b->agg, u->id, 0);
    vd__agg_forget(u->b->agg, u->id);
    free(u);
}

static int up_finish(void *ctx, const vd_http_req *req, vd_http_resp *resp)
{
    upload *u = ctx;
    int bad = fclose(u->f) != 0;
    u->f = NULL;
    int rc = 0;
    vd_error err = {0};
    if (bad) {
        vd_http_error(resp, 507, VD_EIO, "POST /videos: cannot store the upload in %s",
                      u->b->data_dir);
        rc = VD_EIO;
    } else if (!req->upload_field) {
        vd_http_error(resp, 400, VD_EINVAL,
                      "POST /videos: the multipart body has no 'file' field: send the video as "
                      "curl -F file=@video.mp4 does");
        rc = VD_EINVAL;
    } else if (req->body_len == 0) {
        vd_http_error(resp, 400, VD_EINVAL,
                      "POST /videos: empty upload: send a video file as the body");
        rc = VD_EINVAL;
    }
    if (rc) {
        up_abort(u);
        return rc;
    }
    if (!u->jo.name[0] && req->upload_name)
        snprintf(u->jo.name, sizeof u->jo.name, "%s", req->upload_name);
    json_t *reply = NULL;
    int http = 500;
    rc = submit_as(u->b, u->id, u->path, &u->jo, &reply, &http, &err);
    if (rc) {
        vd_http_error(resp, http, rc, "POST /videos: %s", err.msg);
        up_abort(u);
        return rc;
    }
    vd_http_json(resp, 202, reply);
    vd__agg_mark_local(u->b->agg, u->id, 0);
    free(u);
    return 0;
}

/* ---- the other routes -------------------------------------------------------------------- */

int vd_batch_get(vd_batch *b, const char *id, json_t **out, vd_error *err)
{
    *out = vd__agg_stats(b->agg, id);
    if (!*out) return vd_fail(err, VD_ENOTFOUND, "no video %s: see GET /videos", id);
    long dead = 0;
    vd_error e2;
    if (!b->q->ops->dead_count(b->q, id, &dead, &e2))
        json_object_set_new(json_object_get(*out, "items"), "dead_letters", json_integer(dead));
    return 0;
}

json_t *vd_batch_list(vd_batch *b)
{
    return json_pack("{s:o}", "videos", vd__agg_list(b->agg));
}

int vd_batch_frames(vd_batch *b, const char *id, json_t **out, vd_error *err)
{
    *out = NULL;
    json_t *st = vd__agg_stats(b->agg, id);
    if (!st) return vd_fail(err, VD_ENOTFOUND, "no video %s: see GET /videos", id);
    json_int_t n = json_integer_value(json_object_get(st, "frames_expected"));
    json_decref(st);
    json_t *frames = json_array();
    for (json_int_t k = 0; k < n; k++) {
        char key[96];
        snprintf(key, sizeof key, "%s.f.%lld", id, (long long)k);
        vd_buf v;
        int rc = b->q->ops->kv_get(b->q, VD_KV_RESULTS, key, &v, err);
        if (rc == VD_ENOTFOUND) continue;
        if (rc) {
            json_decref(frames);
            return rc;
        }
        json_t *j = json_loadb((const char *)v.data, v.len, 0, NULL);
        vd_buf_free(&v);
        if (j) json_array_append_new(frames, j);
    }
    *out = json_pack("{s:s,s:o}", "video_id", id, "frames", frames);
    return 0;
}

int vd_batch_delete(vd_batch *b, const char *id, vd_error *err)
{
    json_t *st = vd__agg_stats(b->agg, id);
    if (!st) return vd_fail(err, VD_ENOTFOUND, "no video %s: see GET /videos", id);
    json_decref(st);
    int rc = vd__purge_video(b->q, id, err);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/%s", b->data_dir, id);
    remove_tree(dir);
    vd__agg_forget(b->agg, id);
    return rc;
}

static int r_list(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    (void)req;
    vd_http_json(resp, 200, vd_batch_list(arg));
    return 0;
}

static int r_video(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_batch *b = arg;
    char id[64];
    const char *slash = strchr(req->tail, '/');
    size_t n = slash ? (size_t)(slash - req->tail) : strlen(req->tail);
    snprintf(id, sizeof id, "%.*s", (int)(n < sizeof id ? n : sizeof id - 1), req->tail);
    int frames = slash && !strcmp(slash, "/frames");
    vd_error err = {0};
    json_t *o = NULL;
    int rc;
    if (!id_ok(id) || (slash && !frames))
        rc = vd_fail(&err, VD_ENOTFOUND, "no video '%s': video ids are %d hex digits (GET /videos)",
                     req->tail, VD_BATCH_ID_LEN);
    else if (!strcmp(req->method, "DELETE"))
        rc = frames ? vd_fail(&err, VD_EUNSUPP, "DELETE /videos/<id> removes a whole video")
                    : vd_batch_delete(b, id, &err);
    else
        rc = frames ? vd_batch_frames(b, id, &o, &err) : vd_batch_get(b, id, &o, &err);
    if (rc) {
        vd_http_error(resp,
                      rc == VD_ENOTFOUND ? 404
                      : rc == VD_EUNSUPP ? 405
                                         : 500,
                      rc, "%s", err.msg);
        return rc;
    }
    if (!o) o = json_pack("{s:i,s:s}", "status", 0, "deleted", id);
    vd_http_json(resp, 200, o);
    return 0;
}

int vd_batch_routes(vd_batch *b, vd_http_route *r, int cap)
{
    vd_http_route all[] = {
        {"POST", "/videos", vd_http_sink_route, &b->sink},
        {"GET", "/videos", r_list, b},
        {"GET", "/videos/", r_video, b},
        {"DELETE", "/videos/", r_video, b},
    };
    int n = 0;
    for (size_t i = 0; i < sizeof all / sizeof *all && n < cap; i++) r[n++] = all[i];
    return n;
}

/* ---- the janitor ------------------------------------------------------------------------- */

static void *janitor_main(void *arg)
{
    vd_batch *b = arg;
    while (!atomic_load(&b->stop)) {
        usleep(JANITOR_MS * 1000);
        if (!vd__agg_ready(b->agg)) continue;
        char id[64];
        json_t *fin;
        vd_error err = {0};
        while (!atomic_load(&b->stop) && vd__agg_next_complete(b->agg, id, sizeof id, &fin)) {
            char *s = json_dumps(fin, JSON_COMPACT);
            char prefix[80];
            snprintf(prefix, sizeof prefix, "%s.", id);
            int rc = s ? b->q->ops->kv_put(b->q, VD_KV_META, id, s, strlen(s), &err) : VD_ENOMEM;
            /* its segments are not needed any more: the store keeps only the results */
            if (!rc) rc = b->q->ops->kv_purge(b->q, VD_KV_BLOBS, prefix, &err);
            /* the watch brings the record too, maybe later: do not finalise it twice */
            if (!rc) vd__agg_on_meta(b->agg, id, s, strlen(s));
            free(s);
            json_decref(fin);
            if (rc) break; /* the queue is away: next round */
        }
        while (!atomic_load(&b->stop) && vd__agg_next_stale(b->agg, id, sizeof id)) {
            vd_buf v;
            if (b->q->ops->kv_get(b->q, VD_KV_META, id, &v, &err)) break;
            json_t *rec = json_loadb((const char *)v.data, v.len, 0, NULL);
            vd_buf_free(&v);
            if (!rec) break;
            json_object_set_new(rec, "state", json_string("failed"));
            json_object_set_new(rec, "error",
                                json_string("the upload was interrupted (its server stopped "
                                            "while splitting it): upload it again"));
            char *s = json_dumps(rec, JSON_COMPACT);
            json_decref(rec);
            char prefix[80];
            snprintf(prefix, sizeof prefix, "%s.", id);
            int rc = s ? b->q->ops->kv_put(b->q, VD_KV_META, id, s, strlen(s), &err) : VD_ENOMEM;
            if (!rc) vd__agg_on_meta(b->agg, id, s, strlen(s));
            free(s);
            if (!rc) rc = b->q->ops->purge(b->q, id, &err);
            if (!rc) rc = b->q->ops->kv_purge(b->q, VD_KV_BLOBS, prefix, &err);
            if (rc) break;
        }
    }
    return NULL;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

int vd_batch_new(const vd_batch_opts *o, vd_batch **out, vd_error *err)
{
    *out = NULL;
    if (!o || !o->q) return vd_fail(err, VD_EINVAL, "batch: no queue");
    vd_batch *b = calloc(1, sizeof *b);
    if (!b) return vd_fail(err, VD_ENOMEM, "out of memory");
    b->q = o->q;
    b->max_upload = o->max_upload ? o->max_upload : DEFAULT_MAX_UPLOAD;
    b->item_frames = o->item_frames > 0 ? o->item_frames : VD_BATCH_ITEM_FRAMES;
    atomic_init(&b->stop, 0);
    if (o->data_dir && *o->data_dir) {
        snprintf(b->data_dir, sizeof b->data_dir, "%s", o->data_dir);
    } else {
        char c[400];
        vd_cache_dir(c, sizeof c);
        snprintf(b->data_dir, sizeof b->data_dir, "%s/batch", c);
    }
    b->sink = (vd_http_sink){.arg = b,
                             .max_size = b->max_upload,
                             .field = "file",
                             .begin = up_begin,
                             .write = up_write,
                             .finish = up_finish,
                             .abort = up_abort};
    int rc = vd__mkdirs(b->data_dir, err);
    if (!rc && !(b->agg = vd__agg_new())) rc = vd_fail(err, VD_ENOMEM, "out of memory");
    if (!rc) rc = b->q->ops->kv_watch(b->q, VD_KV_META, vd__agg_on_meta, b->agg, &b->w_meta, err);
    if (!rc)
        rc = b->q->ops->kv_watch(b->q, VD_KV_RESULTS, vd__agg_on_result, b->agg, &b->w_res, err);
    if (!rc && pthread_create(&b->janitor, NULL, janitor_main, b))
        rc = vd_fail(err, VD_ENOMEM, "batch: cannot start the janitor thread");
    if (rc) {
        vd_batch_free(b);
        return rc;
    }
    b->janitor_started = 1;
    *out = b;
    return 0;
}

void vd_batch_free(vd_batch *b)
{
    if (!b) return;
    atomic_store(&b->stop, 1);
    if (b->janitor_started) pthread_join(b->janitor, NULL);
    b->q->ops->kv_unwatch(b->w_meta);
    b->q->ops->kv_unwatch(b->w_res);
    vd__agg_free(b->agg);
    free(b);
}
