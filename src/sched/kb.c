/*
 * The knowledge base: profiled milliseconds per (service, model, frame height).
 *
 * vd_kb_ms interpolates linearly in pixel count (h^2) between the nearest profiled
 * heights below and above. Outside the profiled range it extrapolates from the nearest
 * height: with one profiled height, proportionally to pixel count; with two or more on
 * that side, linearly through the two nearest, clamped between "constant" and
 * "proportional to pixels" (the services resize to a fixed model input, so the cost is
 * mostly constant plus a per-pixel part).
 *
 * A kb is locked by a mutex inside, so profiling may fill it while schedulers read it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched_internal.h"
#include "vdag/base.h"
#include "vdag/media.h"
#include "vdag/svc.h"

typedef struct kb_entry {
    char service[48];
    int model_id;
    int res;
    double ms;
} kb_entry;

struct vd_kb {
    pthread_mutex_t mu;
    kb_entry *e;
    int n, cap;
};

vd_kb *vd_kb_new(void)
{
    vd_kb *kb = calloc(1, sizeof *kb);
    if (!kb) return NULL;
    pthread_mutex_init(&kb->mu, NULL);
    return kb;
}

void vd_kb_free(vd_kb *kb)
{
    if (!kb) return;
    pthread_mutex_destroy(&kb->mu);
    free(kb->e);
    free(kb);
}

static void lock(const vd_kb *kb)
{
    pthread_mutex_lock(&((vd_kb *)kb)->mu);
}

static void unlock(const vd_kb *kb)
{
    pthread_mutex_unlock(&((vd_kb *)kb)->mu);
}

int vd__kb_size(const vd_kb *kb)
{
    if (!kb) return 0;
    lock(kb);
    int n = kb->n;
    unlock(kb);
    return n;
}

void vd_kb_set(vd_kb *kb, const char *service, int model_id, int resolution_h, double ms)
{
    if (!kb || !service) return;
    lock(kb);
    for (int i = 0; i < kb->n; i++) {
        kb_entry *x = &kb->e[i];
        if (x->model_id == model_id && x->res == resolution_h && !strcmp(x->service, service)) {
            x->ms = ms;
            unlock(kb);
            return;
        }
    }
    if (kb->n == kb->cap) {
        int cap = kb->cap ? kb->cap * 2 : 16;
        kb_entry *e = realloc(kb->e, (size_t)cap * sizeof *e);
        if (!e) {
            unlock(kb);
            return;
        }
        kb->e = e;
        kb->cap = cap;
    }
    kb_entry *x = &kb->e[kb->n++];
    snprintf(x->service, sizeof x->service, "%s", service);
    x->model_id = model_id;
    x->res = resolution_h;
    x->ms = ms;
    unlock(kb);
}

static double px(int h)
{
    return (double)h * h;
}

/* Extrapolate from the nearest profiled point n (and the next one m, if any) to h. */
static double extrapolate(const kb_entry *n, const kb_entry *m, int h)
{
    double ratio = px(h) / px(n->res);
    double prop = n->ms * ratio;
    if (!m) return prop;
    double slope = (n->ms - m->ms) / (px(n->res) - px(m->res));
    double lin = n->ms + slope * (px(h) - px(n->res));
    double lo = prop < n->ms ? prop : n->ms, hi = prop < n->ms ? n->ms : prop;
    return lin < lo ? lo : lin > hi ? hi : lin;
}

double vd_kb_ms(const vd_kb *kb, const char *service, int model_id, int resolution_h)
{
    if (!kb || !service) return -1;
    lock(kb);
    const kb_entry *below = NULL, *below2 = NULL, *above = NULL, *above2 = NULL, *top = NULL;
    double r = -1;
    for (int i = 0; i < kb->n; i++) {
        const kb_entry *x = &kb->e[i];
        if (x->model_id != model_id || x->res <= 0 || strcmp(x->service, service)) continue;
        if (!top || x->res > top->res) top = x;
        if (x->res == resolution_h) {
            r = x->ms;
            break;
        }
        if (x->res < resolution_h) {
            if (!below || x->res > below->res) {
                below2 = below;
                below = x;
            } else if (!below2 || x->res > below2->res) {
                below2 = x;
            }
        } else {
            if (!above || x->res < above->res) {
                above2 = above;
                above = x;
            } else if (!above2 || x->res < above2->res) {
                above2 = x;
            }
        }
    }
    if (r < 0 && top) {
        if (resolution_h <= 0)
            r = top->ms;
        else if (below && above)
            r = below->ms + (above->ms - below->ms) * (px(resolution_h) - px(below->res)) /
                                (px(above->res) - px(below->res));
        else if (below)
            r = extrapolate(below, below2, resolution_h);
        else
            r = extrapolate(above, above2, resolution_h);
    }
    unlock(kb);
    return r;
}

double vd_kb_accuracy(const char *service, int model_id, int resolution_h)
{
    (void)service;
    double m = model_id <= 0 ? 1.0 : model_id == 1 ? 0.85 : model_id == 2 ? 0.75 : 0.7;
    double r = resolution_h <= 0 || resolution_h >= 720 ? 1.0
               : resolution_h >= 480                    ? 0.95
               : resolution_h >= 360                    ? 0.9
                                                        : 0.8;
    return m * r;
}

/* ---- profiling ------------------------------------------------------------------------- */

static int scale_to(const vd_frame *f, int h, vd_frame **out, vd_error *err)
{
    int w = (int)((double)f->width * h / f->height + 0.5);
    w &= ~1;
    if (w < 2) w = 2;
    int rc = vd_frame_scale(f, w, h, out, err);
    if (rc) return rc;
    (*out)->src_width = f->src_width > 0 ? f->src_width : f->width;
    (*out)->src_height = f->src_height > 0 ? f->src_height : f->height;
    return 0;
}

/* One model at height h on frames sc (scaled already) with their inputs args. */
static int profile_one(vd_kb *kb, const vd_service *svc, int model, int h, vd_frame *const *sc,
                       json_t *const *args, int n_frames, const vd_svc_opts *o, vd_error *err)
{
    double *ms = calloc((size_t)n_frames, sizeof *ms);
    vd_svc_instance *s = NULL;
    int rc = !ms ? vd_fail(err, VD_ENOMEM, "out of memory while profiling") : 0;
    if (!rc) rc = vd_svc_open(svc->name, model, o, &s, err);
    for (int i = -1; !rc && i < n_frames; i++) { /* i = -1: warm-up, not counted */
        int k = i < 0 ? 0 : i;
        json_t *out = NULL;
        double t0 = vd_now_ms();
        rc = vd_svc_process(s, sc[k], args[k], &out, err);
        double t = vd_now_ms() - t0;
        json_decref(out);
        if (i >= 0) ms[i] = t;
    }
    if (!rc) vd_kb_set(kb, svc->name, model, h, vd_percentile(ms, (size_t)n_frames, 50));
    vd_svc_close(s);
    free(ms);
    return rc;
}

/* Every model of svc at height h: the frames scaled and the service's inputs made once. */
static int profile_res(vd_kb *kb, const vd_service *svc, int h, vd_frame *const *frames,
                       int n_frames, const vd_svc_opts *o, vd_error *err)
{
    vd_frame **sc = calloc((size_t)n_frames, sizeof *sc);
    json_t **args = calloc((size_t)n_frames, sizeof *args);
    int rc = (!sc || !args) ? vd_fail(err, VD_ENOMEM, "out of memory while profiling") : 0;
    for (int i = 0; !rc && i < n_frames; i++) rc = scale_to(frames[i], h, &sc[i], err);
    if (!rc) rc = vd_svc_profile_args(svc, sc, n_frames, o, args, err);
    for (int m = 0; !rc && m < svc->n_models; m++)
        rc = profile_one(kb, svc, m, h, sc, args, n_frames, o, err);
    for (int i = 0; i < n_frames; i++) {
        if (sc) vd_frame_free(sc[i]);
        if (args) json_decref(args[i]);
    }
    free(sc);
    free(args);
    return rc;
}

int vd_kb_profile(vd_kb *kb, const char *const *services, const int *res, int n_res,
                  vd_frame *const *frames, int n_frames, int threads, vd_error *err)
{
    if (!kb || !res || n_res <= 0 || !frames || n_frames <= 0)
        return vd_fail(err, VD_EINVAL,
                       "profiling needs a kb, at least one resolution and at least one frame");
    const vd_service *const *all = vd_service_all();
    int n_svc = 0;
    if (services)
        while (services[n_svc]) n_svc++;
    else
        while (all[n_svc]) n_svc++;
    vd_svc_opts o = {.threads = threads > 0 ? threads : 1};
    for (int si = 0; si < n_svc; si++) {
        const vd_service *svc = services ? vd_service_find(services[si]) : all[si];
        if (!svc) {
            char known[256];
            return vd_fail(err, VD_ENOTFOUND, "profiling: unknown service '%s' (known: %s)",
                           services[si], vd_service_names(known, sizeof known));
        }
        for (int r = 0; r < n_res; r++) {
            if (res[r] < 16 || res[r] > 4320)
                return vd_fail(err, VD_EINVAL,
                               "profiling: resolution %d is not a frame height (16..4320)", res[r]);
            int rc = profile_res(kb, svc, res[r], frames, n_frames, &o, err);
            if (rc) return rc;
        }
    }
    return 0;
}

/* ---- JSON cache -------------------------------------------------------------------------- */

json_t *vd_kb_to_json(const vd_kb *kb)
{
    json_t *arr = json_array();
    if (kb) {
        lock(kb);
        for (int i = 0; i < kb->n; i++)
            json_array_append_new(arr, json_pack("{s:s,s:i,s:i,s:f}", "service", kb->e[i].service,
                                                 "model_id", kb->e[i].model_id, "resolution",
                                                 kb->e[i].res, "ms", kb->e[i].ms));
        unlock(kb);
    }
    return json_pack("{s:o}", "entries", arr);
}

int vd_kb_from_json(vd_kb *kb, json_t *j, vd_error *err)
{
    json_t *arr = json_object_get(j, "entries");
    if (!json_is_array(arr))
        return vd_fail(err, VD_EFORMAT,
                       "kb: expected {\"entries\":[{\"service\":…,\"model_id\":…,"
                       "\"resolution\":…,\"ms\":…}]}; delete the cached profile to re-profile");
    size_t i;
    json_t *e;
    /* validate everything first so a bad file leaves the kb unchanged */
    json_array_foreach(arr, i, e)
    {
        json_t *s = json_object_get(e, "service"), *m = json_object_get(e, "model_id"),
               *r = json_object_get(e, "resolution"), *ms = json_object_get(e, "ms");
        if (!json_is_string(s) || json_string_length(s) >= 48)
            return vd_fail(err, VD_EFORMAT, "kb.entries[%zu].service: must be a service name", i);
        if (!json_is_integer(m) || json_integer_value(m) < 0 || json_integer_value(m) > 64)
            return vd_fail(err, VD_EFORMAT, "kb.entries[%zu].model_id: must be an integer 0..64",
                           i);
        if (!json_is_integer(r) || json_integer_value(r) < 16 || json_integer_value(r) > 4320)
            return vd_fail(err, VD_EFORMAT,
                           "kb.entries[%zu].resolution: must be a frame height 16..4320", i);
        if (!json_is_number(ms) || json_number_value(ms) < 0)
            return vd_fail(err, VD_EFORMAT,
                           "kb.entries[%zu].ms: must be a non-negative number of milliseconds", i);
    }
    json_array_foreach(arr, i, e)
    {
        vd_kb_set(kb, json_string_value(json_object_get(e, "service")),
                  (int)json_integer_value(json_object_get(e, "model_id")),
                  (int)json_integer_value(json_object_get(e, "resolution")),
                  json_number_value(json_object_get(e, "ms")));
    }
    return 0;
}
