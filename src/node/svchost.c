/*
 * The service host: runs DNN services for other nodes. Each (service, model) keeps a
 * small pool of open instances; a request takes an idle one or opens another (so
 * concurrent callers each get their own, and `n_process` counts the busy ones; a stateful
 * service's instance serves one request and is closed, so no caller sees another's state).
 * Requests come through the transport ("svc.<service>", a vd_msg with a JPEG frame) or over
 * HTTP (/execute_task/<service>). A background thread loads or profiles the knowledge base.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "node_internal.h"
#include "vdag/base.h"
#include "vdag/media.h"
#include "vdag/node.h"

#define POOL_MAX 8

typedef struct pool {
    const vd_service *svc;
    int model_id;
    vd_svc_instance *idle[POOL_MAX];
    int n_idle, busy;
    int64_t calls;
    double total_ms;
    double prev_ms, prev_t; /* for load between two vd_svchost_load calls */
} pool;

struct vd_svchost {
    char name[64], addr[128];
    vd_transport *tr;
    int threads;
    pthread_mutex_t mu;
    pool *pools;
    int n_pools;
    vd_kb *kb;
    uint64_t kb_version; /* guarded by mu; 0 while the kb is empty */
    pthread_t prof_thr;
    int prof_started;
    pthread_cond_t prof_cv;   /* the profiling thread's go-ahead */
    int prof_go, prof_cancel; /* guarded by mu */
    char kb_path[600];
    int profile;
    struct serve_ctx *ctx_; /* one per service: the transport handlers' argument */
    int n_ctx;
    vd_resources res_; /* sampler state for /get_resource_info */
};

static pool *pool_get(vd_svchost *h, const vd_service *svc, int model_id)
{
    for (int i = 0; i < h->n_pools; i++)
        if (h->pools[i].svc == svc && h->pools[i].model_id == model_id) return &h->pools[i];
    pool *np = realloc(h->pools, sizeof *np * (size_t)(h->n_pools + 1));
    if (!np) return NULL;
    h->pools = np;
    pool *p = &np[h->n_pools++];
    memset(p, 0, sizeof *p);
    p->svc = svc;
    p->model_id = model_id;
    return p;
}

int vd_svchost_execute(vd_svchost *h, const char *service, int model_id, const vd_frame *f,
                       json_t *args, json_t **out, vd_error *err)
{
    *out = NULL;
    const vd_service *svc = vd_service_find(service);
    if (!svc) return vd_fail(err, VD_ENOTFOUND, "node %s: no service '%s'", h->name, service);
    if (model_id < 0 || model_id >= svc->n_models)
        return vd_fail(err, VD_EINVAL, "node %s: %s has models 0..%d, not %d", h->name, service,
                       svc->n_models - 1, model_id);
    pthread_mutex_lock(&h->mu);
    pool *p = pool_get(h, svc, model_id);
    if (!p) {
        pthread_mutex_unlock(&h->mu);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    vd_svc_instance *inst = p->n_idle ? p->idle[--p->n_idle] : NULL;
    p->busy++;
    pthread_mutex_unlock(&h->mu);
    int rc = 0;
    if (!inst) {
        vd_svc_opts so = {.threads = h->threads};
        rc = vd_svc_open(service, model_id, &so, &inst, err);
    }
    double t0 = vd_now_ms();
    if (!rc) rc = vd_svc_process(inst, f, args, out, err);
    double ms = vd_now_ms() - t0;
    pthread_mutex_lock(&h->mu);
    p = pool_get(h, svc, model_id); /* the array may have moved */
    p->busy--;
    p->calls++;
    p->total_ms += ms;
    /* a stateful service's instance would carry one caller's state into the next */
    if (inst && !svc->stateful && p->n_idle < POOL_MAX) p->idle[p->n_idle++] = inst, inst = NULL;
    pthread_mutex_unlock(&h->mu);
    vd_svc_close(inst);
    return rc;
}

json_t *vd_svchost_load(vd_svchost *h)
{
    json_t *o = json_object();
    double now = vd_now_ms();
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    pthread_mutex_lock(&h->mu);
    for (const vd_service *const *s = vd_service_all(); *s; s++) {
        int busy = 0, open = 0;
        int64_t calls = 0;
        double ms = 0, dms = 0, dt = 0;
        for (int i = 0; i < h->n_pools; i++) {
            pool *p = &h->pools[i];
            if (p->svc != *s) continue;
            busy += p->busy;
            open += p->busy + p->n_idle;
            calls += p->calls;
            ms += p->total_ms;
            if (p->prev_t > 0) dms += p->total_ms - p->prev_ms, dt = now - p->prev_t;
            p->prev_ms = p->total_ms;
            p->prev_t = now;
        }
        double ratio = dt > 0 ? dms / dt / (double)(nc > 0 ? nc : 1) : 0;
        json_object_set_new(o, (*s)->name,
                            json_pack("{s:i,s:i,s:I,s:f,s:f}", "n_process", busy, "n_open", open,
                                      "calls", (json_int_t)calls, "avg_ms",
                                      calls ? ms / (double)calls : 0.0, "cpu_ratio", ratio));
    }
    pthread_mutex_unlock(&h->mu);
    return o;
}

const vd_kb *vd_svchost_kb(vd_svchost *h)
{
    return h->kb;
}

uint64_t vd_svchost_kb_version(vd_svchost *h)
{
    pthread_mutex_lock(&h->mu);
    uint64_t v = h->kb_version;
    pthread_mutex_unlock(&h->mu);
    return v;
}

/* The kb changed (loaded, profiled): a new version, the wall-clock microseconds, so that a
 * restarted node does not repeat one it announced before; strictly increasing here. */
static void kb_changed(vd_svchost *h)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t v = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    pthread_mutex_lock(&h->mu);
    h->kb_version = v > h->kb_version ? v : h->kb_version + 1;
    pthread_mutex_unlock(&h->mu);
}

/* ---- transport: "svc.<service>" ------------------------------------------------------ */

/* Decode a stage request (vd_msg: {model_id, args, src_w, src_h, cam_frame_id[, parts]} +
 * the JPEG or its strips). */
int vd__stage_request_decode(vd_jpeg_coder *jc, vd__h264_streams *hs, const vd_buf *req,
                             json_t **hdr, vd_frame **f, vd_error *err)
{
    vd_jpeg_parts img = {0};
    *f = NULL;
    int rc =
        vd_msg_unpack(req->data, req->len, hdr, (const unsigned char **)&img.data, &img.len, err);
    if (rc) return rc;
    if (!img.len) {
        rc = vd_fail(err, VD_EINVAL, "stage request carries no frame");
        goto fail;
    }
    const char *codec = json_string_value(json_object_get(*hdr, "codec"));
    if (codec && strcmp(codec, "jpeg")) {
        if (strcmp(codec, "h264") || !hs) {
            rc = vd_fail(err, VD_EUNSUPP, "stage request: codec '%s': this host takes jpeg%s",
                         codec, hs ? " and h264" : "");
            goto fail;
        }
        rc = vd__h264_streams_decode(hs, json_string_value(json_object_get(*hdr, "stream")),
                                     img.data, img.len, f, err);
        if (rc) goto fail;
        goto sized;
    }
    json_t *parts = json_object_get(*hdr, "parts");
    size_t sum = 0, k;
    json_t *v;
    img.n = parts ? (int)json_array_size(parts) : 1;
    if (!parts) img.part_len[0] = img.len;
    json_array_foreach(parts, k, v) if (k < VD_JPEG_MAX_PARTS && json_integer_value(v) > 0) sum +=
        img.part_len[k] = (size_t)json_integer_value(v);
    if (parts && (img.n < 1 || img.n > VD_JPEG_MAX_PARTS || sum != img.len)) {
        rc = vd_fail(err, VD_EINVAL,
                     "stage request: 'parts' must list 1..%d positive strip lengths adding up to "
                     "the %zu-byte frame",
                     VD_JPEG_MAX_PARTS, img.len);
        goto fail;
    }
    /* full size: a service sees the pixels it would see here (a reduced-scale decode is
     * cheaper but changes detections; bench/RESULTS.md) */
    rc = vd_jpeg_coder_decode(jc, &img, 0, 0, f, err);
    if (rc) goto fail;
sized:;
    json_t *sw = json_object_get(*hdr, "src_w"), *sh = json_object_get(*hdr, "src_h");
    if (json_integer_value(sw) > 0 && json_integer_value(sh) > 0) {
        (*f)->src_width = (int)json_integer_value(sw);
        (*f)->src_height = (int)json_integer_value(sh);
    }
    (*f)->cam_frame_id = json_integer_value(json_object_get(*hdr, "cam_frame_id"));
    return 0;
fail:
    json_decref(*hdr);
    *hdr = NULL;
    return rc;
}

int vd__stage_request_pack(int model_id, const vd_frame *f, const vd_jpeg_parts *img, json_t *args,
                           vd_buf *req, vd_error *err)
{
    json_t *hdr = json_pack("{s:i,s:O,s:i,s:i,s:I}", "model_id", model_id, "args", args, "src_w",
                            f->src_width, "src_h", f->src_height, "cam_frame_id",
                            (json_int_t)f->cam_frame_id);
    if (hdr && img->n > 1) {
        json_t *parts = json_array();
        for (int i = 0; i < img->n; i++)
            json_array_append_new(parts, json_integer((json_int_t)img->part_len[i]));
        json_object_set_new(hdr, "parts", parts);
    }
    int rc = hdr ? vd_msg_pack(hdr, img->data, img->len, req, err)
                 : vd_fail(err, VD_ENOMEM, "out of memory");
    json_decref(hdr);
    return rc;
}

int vd__stage_reply_unpack(const vd_buf *resp, const char *node, const char *service, json_t **out,
                           double *host_ms, vd_error *err)
{
    *out = NULL;
    json_t *rh;
    int rc = vd_msg_unpack(resp->data, resp->len, &rh, NULL, NULL, err);
    if (rc) return rc;
    json_t *o = json_object_get(rh, "out");
    if (host_ms) { /* all of the host's time when it says, else its service's */
        json_t *hm = json_object_get(rh, "host_ms");
        *host_ms = json_number_value(hm ? hm : json_object_get(rh, "ms"));
    }
    if (json_is_object(o))
        *out = json_incref(o);
    else
        rc = vd_fail(err, VD_EREMOTE, "node %s: svc.%s sent no output", node ? node : "(any)",
                     service);
    json_decref(rh);
    return rc;
}

int vd_stage_call(vd_transport *t, const char *node, const char *service, int model_id,
                  const vd_frame *f, const vd_jpeg_parts *img, json_t *args, int timeout_ms,
                  json_t **out, double *host_ms, vd_error *err)
{
    *out = NULL;
    vd_buf req, resp = {0};
    int rc = vd__stage_request_pack(model_id, f, img, args, &req, err);
    if (rc) return rc;
    char svc[96];
    snprintf(svc, sizeof svc, "svc.%s", service);
    rc = vd_transport_call(t, node, svc, &req, &resp, timeout_ms, err);
    vd_buf_free(&req);
    if (rc) return rc;
    rc = vd__stage_reply_unpack(&resp, node, service, out, host_ms, err);
    vd_buf_free(&resp);
    return rc;
}

typedef struct serve_ctx {
    vd_svchost *h;
    const vd_service *svc;
    vd_jpeg_coder *jc;    /* decodes this service's frames (one request at a time per service) */
    vd__h264_streams *hs; /* its H.264 streams */
} serve_ctx;

static int serve_stage(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    serve_ctx *c = arg;
    json_t *hdr, *out;
    vd_frame *f;
    double t_in = vd_now_ms();
    int rc = vd__stage_request_decode(c->jc, c->hs, req, &hdr, &f, err);
    if (rc) return rc;
    double t0 = vd_now_ms();
    rc = vd_svchost_execute(c->h, c->svc->name,
                            (int)json_integer_value(json_object_get(hdr, "model_id")), f,
                            json_object_get(hdr, "args"), &out, err);
    double ms = vd_now_ms() - t0;
    vd_frame_free(f);
    json_decref(hdr);
    if (rc) return rc;
    /* ms: the service's; host_ms: all of it here (decode too), which the caller takes off
     * its call's time to measure the link (edge_link.c) */
    json_t *r = json_pack("{s:o,s:f,s:f,s:s}", "out", out, "ms", ms, "host_ms", vd_now_ms() - t_in,
                          "node", c->h->name);
    rc = vd_msg_pack(r, NULL, 0, resp, err);
    json_decref(r);
    return rc;
}

static int serve_echo(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    (void)arg, (void)req, (void)err;
    *resp = (vd_buf){0};
    return 0;
}

/* "node.ping" {} → {name, addr}: someone runs as this node (vd_node_name_check). */
static int serve_ping(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    vd_svchost *h = arg;
    (void)req;
    json_t *r = json_pack("{s:i,s:s,s:s}", "status", 0, "name", h->name, "addr", h->addr);
    int rc = vd_msg_pack(r, NULL, 0, resp, err);
    json_decref(r);
    return rc;
}

int vd_node_name_check(vd_transport *t, const char *name, int timeout_ms, vd_error *err)
{
    vd_buf req, resp = {0};
    json_t *b = json_object();
    int rc = vd_msg_pack(b, NULL, 0, &req, err);
    json_decref(b);
    if (rc) return rc;
    vd_error e2 = {0};
    rc = vd_transport_call(t, name, "node.ping", &req, &resp, timeout_ms, &e2);
    vd_buf_free(&req);
    if (rc == VD_ENOTFOUND) return 0; /* nobody serves it: the name is free */
    if (rc && rc != VD_EREMOTE) return vd_fail(err, rc, "%s", e2.msg);
    json_t *h = NULL;
    vd_msg_unpack(resp.data, resp.len, &h, NULL, NULL, NULL);
    vd_buf_free(&resp);
    const char *addr = json_string_value(json_object_get(h, "addr"));
    vd_fail(err, VD_EALREADY,
            "the node name '%s' is taken: a node of that name (at %s) runs on this cluster; give "
            "this one another --name",
            name, addr && *addr ? addr : "an unknown address");
    json_decref(h);
    return VD_EALREADY;
}

/* ---- knowledge base: load the cached profile or measure one ----------------------------- */

/* The profiling thread: waits for its go-ahead (the services are served), then loads the
 * kb from the profile cache or, if allowed, measures one. */
static void *profile_main(void *arg)
{
    vd_svchost *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->prof_go && !h->prof_cancel) pthread_cond_wait(&h->prof_cv, &h->mu);
    int cancel = h->prof_cancel;
    pthread_mutex_unlock(&h->mu);
    if (cancel) return NULL;
    vd_error err = {0};
    char *text = NULL;
    if (vd_read_file(h->kb_path, 0, &text, NULL, NULL) == 0) {
        json_t *j = json_loads(text, 0, NULL);
        free(text);
        if (j && vd_kb_from_json(h->kb, j, &err) == 0) {
            json_decref(j);
            kb_changed(h);
            return NULL;
        }
        json_decref(j);
    }
    if (!h->profile) return NULL;
    char img[600];
    vd_frame *f = NULL;
    if (vd_media_path("messi5.jpg", img, sizeof img) || vd_image_load(img, &f, &err)) {
        fprintf(stderr, "vdag %s: cannot profile services: %s\n", h->name, err.msg);
        return NULL;
    }
    static const int res[] = {360, 480, 720};
    vd_frame *frames[3] = {f, f, f}; /* a few runs each (median), after a warm-up */
    double t0 = vd_now_ms();
    int rc = vd_kb_profile(h->kb, NULL, res, 3, frames, 3, h->threads, &err);
    vd_frame_free(f);
    if (rc) {
        fprintf(stderr, "vdag %s: profiling failed: %s\n", h->name, err.msg);
        return NULL;
    }
    kb_changed(h);
    json_t *j = vd_kb_to_json(h->kb);
    char tmp[640];
    snprintf(tmp, sizeof tmp, "%s.tmp", h->kb_path);
    if (j && json_dump_file(j, tmp, JSON_INDENT(1)) == 0) rename(tmp, h->kb_path);
    json_decref(j);
    fprintf(stderr, "vdag %s: profiled the services in %.1f s (%s)\n", h->name,
            (vd_now_ms() - t0) / 1e3, h->kb_path);
    return NULL;
}

int vd_svchost_start(const vd_node_opts *o, vd_svchost **out, vd_error *err)
{
    *out = NULL;
    vd_svchost *h = calloc(1, sizeof *h);
    if (!h || !(h->kb = vd_kb_new())) {
        free(h);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    snprintf(h->name, sizeof h->name, "%s", o->name ? o->name : "local");
    snprintf(h->addr, sizeof h->addr, "%s", o->addr ? o->addr : "");
    h->tr = o->tr;
    h->threads = o->svc_threads > 0 ? o->svc_threads : 1;
    h->profile = o->profile;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->prof_cv, NULL);
    if (o->kb_path) {
        snprintf(h->kb_path, sizeof h->kb_path, "%s", o->kb_path);
    } else {
        char dir[512], host[64] = "host";
        vd_cache_dir(dir, sizeof dir);
        gethostname(host, sizeof host - 1);
        snprintf(h->kb_path, sizeof h->kb_path, "%s/profile-%s.json", dir, host);
    }
    int n = 0;
    for (const vd_service *const *s = vd_service_all(); *s; s++) n++;
    serve_ctx *ctx = calloc((size_t)n, sizeof *ctx);
    if (!ctx) {
        vd_svchost_free(h);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    h->ctx_ = ctx;
    h->n_ctx = n;
    /* The profiling thread first, waiting for its go-ahead: a thread that cannot start
     * fails the start before any handler is registered with h. */
    if (pthread_create(&h->prof_thr, NULL, profile_main, h)) {
        vd_fail(err, VD_ENOMEM, "node %s: cannot start the profiling thread", h->name);
        vd_svchost_free(h);
        return VD_ENOMEM;
    }
    h->prof_started = 1;
    for (int i = 0; h->tr && i < n; i++) {
        ctx[i].h = h;
        ctx[i].svc = vd_service_all()[i];
        int rc = vd_jpeg_coder_new(VD_STAGE_JPEG_PARTS, &ctx[i].jc, err);
        if (!rc) rc = vd__h264_streams_new(&ctx[i].hs, err);
        if (rc) {
            vd_svchost_free(h);
            return rc;
        }
        char sname[96];
        snprintf(sname, sizeof sname, "svc.%s", ctx[i].svc->name);
        rc = h->tr->ops->serve(h->tr, h->name, sname, serve_stage, &ctx[i], err);
        if (rc) {
            vd_svchost_free(h);
            return rc;
        }
    }
    if (h->tr) {
        /* svc.echo: an empty answer at once, for the callers' link probes (edge_link.c) */
        int rc = h->tr->ops->serve(h->tr, h->name, "svc.echo", serve_echo, h, err);
        if (!rc) rc = h->tr->ops->serve(h->tr, h->name, "node.ping", serve_ping, h, err);
        if (rc) {
            vd_svchost_free(h);
            return rc;
        }
    }
    if (h->tr) vd__models_fetch_from(h->tr, h->name); /* a model it lacks: from a cloud */
    pthread_mutex_lock(&h->mu);
    h->prof_go = 1;
    pthread_cond_broadcast(&h->prof_cv);
    pthread_mutex_unlock(&h->mu);
    *out = h;
    return 0;
}

void vd_svchost_stop(vd_svchost *h)
{
    if (!h) return;
    pthread_mutex_lock(&h->mu);
    h->prof_cancel = !h->prof_go; /* a start that failed: it need not load anything */
    pthread_cond_broadcast(&h->prof_cv);
    pthread_mutex_unlock(&h->mu);
    if (h->prof_started) pthread_join(h->prof_thr, NULL);
    h->prof_started = 0;
}

void vd_svchost_free(vd_svchost *h)
{
    if (!h) return;
    vd_svchost_stop(h);
    if (h->tr) vd__models_fetch_stop(h->tr);
    for (int i = 0; i < h->n_pools; i++)
        for (int k = 0; k < h->pools[i].n_idle; k++) vd_svc_close(h->pools[i].idle[k]);
    free(h->pools);
    for (int i = 0; h->ctx_ && i < h->n_ctx; i++) {
        vd_jpeg_coder_free(h->ctx_[i].jc);
        vd__h264_streams_free(h->ctx_[i].hs);
    }
    free(h->ctx_);
    vd_kb_free(h->kb);
    pthread_cond_destroy(&h->prof_cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* ---- HTTP ------------------------------------------------------------------------------ */

static int r_service_list(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    (void)arg, (void)req;
    json_t *list = json_array();
    for (const vd_service *const *s = vd_service_all(); *s; s++) {
        json_t *models = json_array(), *in = json_array(), *outs = json_array();
        for (int m = 0; m < (*s)->n_models; m++)
            json_array_append_new(models, json_string((*s)->model_names[m]));
        for (const char *const *a = (*s)->inputs; a && *a; a++)
            json_array_append_new(in, json_string(*a));
        for (const char *const *a = (*s)->outputs; a && *a; a++)
            json_array_append_new(outs, json_string(*a));
        json_array_append_new(list, json_pack("{s:s,s:s,s:o,s:o,s:o}", "name", (*s)->name,
                                              "description", (*s)->description, "models", models,
                                              "inputs", in, "outputs", outs));
    }
    vd_http_json(resp, 200, json_pack("{s:i,s:o}", "status", 0, "data", list));
    return 0;
}

/* {"<node>": {machine resources, "services": {...}, and each service at the top level as
 * in the seed's resource_info}} */
json_t *vd__svchost_resource_info(vd_svchost *h, vd_resources *r)
{
    vd_resources_sample(r, NULL);
    json_t *node = vd_resources_json(r);
    json_t *load = vd_svchost_load(h);
    const char *k;
    json_t *v;
    json_object_foreach(load, k, v)
    {
        json_object_set_new(v, "mem_ratio", json_real(r->mem_pct / 100));
        json_object_set(node, k, v);
    }
    json_object_set_new(node, "services", load);
    return node;
}

static int r_resource_info(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_svchost *h = arg;
    (void)req;
    pthread_mutex_lock(&h->mu);
    vd_resources r = h->res_;
    pthread_mutex_unlock(&h->mu);
    json_t *info = vd__svchost_resource_info(h, &r);
    pthread_mutex_lock(&h->mu);
    h->res_ = r;
    pthread_mutex_unlock(&h->mu);
    vd_http_json(resp, 200, json_pack("{s:i,s:{s:o}}", "status", 0, "data", h->name, info));
    return 0;
}

static int r_execute_task(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_svchost *h = arg;
    const char *service = req->tail;
    if (!vd_service_find(service)) {
        vd_http_fail(resp, VD_ENOTFOUND, "no service '%s' (GET /get_service_list lists them)",
                     service);
        return 0;
    }
    const char *ct = vd_http_header(req, "Content-Type");
    json_t *args = NULL;
    unsigned char *jpeg = NULL;
    size_t jl = 0;
    int model_id = 0, seed_form = 0, pybytes = 0, render = 0;
    const char *mq = vd_http_query(req, "model_id");
    if (mq) {
        char *end;
        long m = strtol(mq, &end, 10);
        if (!*mq || *end || m < 0 || m > 1000) {
            vd_http_fail(resp, VD_EINVAL, "model_id: expected a model number (0 = largest)");
            return 0;
        }
        model_id = (int)m;
    }
    if (ct && !strncmp(ct, "image/jpeg", 10)) {
        const char *a = vd_http_header(req, "X-Vdag-Args");
        if (!a) a = vd_http_query(req, "args");
        json_error_t je;
        args = a ? json_loads(a, 0, &je) : json_object();
        if (!json_is_object(args)) {
            json_decref(args);
            vd_http_fail(resp, VD_EINVAL, "X-Vdag-Args/args: expected a JSON object");
            return 0;
        }
        jpeg = malloc(req->body_len ? req->body_len : 1);
        if (jpeg) memcpy(jpeg, req->body, req->body_len), jl = req->body_len;
    } else {
        json_error_t je;
        args = json_loadb((const char *)req->body, req->body_len, 0, &je);
        if (!json_is_object(args)) {
            json_decref(args);
            vd_http_fail(resp, VD_EINVAL,
                         "body: expected a JSON object {\"image\": base64 JPEG, …} or an "
                         "image/jpeg body (%s at line %d)",
                         je.text, je.line);
            return 0;
        }
        /* the seed's codec (a Python bytes literal, its field_codec_utils) or base64 */
        json_t *img = json_object_get(args, "image");
        const char *is = json_string_value(img);
        size_t il = json_string_length(img);
        pybytes = is && vd_pybytes_is(is, il);
        if (!is || (pybytes ? vd_pybytes_decode(is, il, &jpeg, &jl)
                            : vd_base64_decode(is, il, &jpeg, &jl))) {
            json_decref(args);
            vd_http_fail(resp, VD_EINVAL,
                         "body.image: expected a JPEG, base64-encoded or as the seed's "
                         "field_codec_utils wrote it (str() of the bytes: \"b'\\xff\\xd8…'\")");
            return 0;
        }
        json_t *m = json_object_get(args, "model_id");
        if (m &&
            (!json_is_integer(m) || json_integer_value(m) < 0 || json_integer_value(m) > 1000)) {
            json_decref(args);
            free(jpeg);
            vd_http_fail(resp, VD_EINVAL, "body.model_id: expected a model number (0 = largest)");
            return 0;
        }
        if (m) model_id = (int)json_integer_value(m);
        json_t *rd = json_object_get(args, "render");
        render = rd ? json_is_true(rd) : -1;
        json_object_del(args, "image");
        json_object_del(args, "model_id");
        json_object_del(args, "render");
        seed_form = 1;
    }
    vd_frame *f = NULL;
    vd_error err = {0};
    json_t *out = NULL;
    int rc = vd_jpeg_decode(jpeg, jl, &f, &err);
    free(jpeg);
    if (rc) {
        json_decref(args);
        vd_http_error(resp, rc == VD_ETOOBIG ? 413 : 400, rc, "image: %s",
                      err.msg); /* the client's JPEG */
        return 0;
    }
    rc = vd_svchost_execute(h, service, model_id, f, args, &out, &err);
    json_decref(args);
    /* the seed's services that returned their rendered frame do here too (or any, asked
     * with "render": true), in the codec the image came in */
    const vd_service *svc = vd_service_find(service);
    if (!rc && seed_form && (render > 0 || (render < 0 && svc->returns_image))) {
        unsigned char *rj = NULL;
        size_t rl = 0;
        char *enc = NULL;
        if (!(rc = vd_service_render_jpeg(svc, f, out, 85, &rj, &rl, &err))) {
            enc = pybytes ? vd_pybytes_encode(rj, rl) : vd_base64_encode(rj, rl);
            if (enc)
                json_object_set_new(out, "image", json_string(enc));
            else
                rc = vd_fail(&err, VD_ENOMEM, "out of memory");
        }
        free(enc);
        free(rj);
        if (rc) json_decref(out), out = NULL;
    }
    vd_frame_free(f);
    if (rc) {
        vd_http_error(resp, rc == VD_EINVAL ? 400 : 500, rc, "%s", err.msg);
        return 0;
    }
    json_object_set_new(out, "status", json_integer(0));
    vd_http_json(resp, 200, out);
    return 0;
}

static int r_cluster_info(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    return r_resource_info(arg, req, resp);
}

int vd_svchost_routes(vd_svchost *h, vd_http_route *r, int cap)
{
    const vd_http_route mine[] = {
        {"GET", "/get_service_list", r_service_list, h},
        {"GET", "/get_resource_info", r_resource_info, h},
        {"GET", "/get_cluster_info", r_cluster_info, h},
        {"POST", "/execute_task/", r_execute_task, h},
        {"POST", "/service/", r_execute_task, h}, /* the seed's service_demo (:5500) */
    };
    int n = (int)(sizeof mine / sizeof *mine);
    if (n > cap) return VD_ETOOBIG;
    memcpy(r, mine, sizeof mine);
    return n;
}
