/*
 * The full measurement of the knowledge base on this machine (`vdag profile`;
 * kb_profile.c: the delay-only profile).
 *
 * vd_kb_measure, per clip of real footage (n consecutive frames):
 *   bytes: every frame JPEG-coded at each quality and height (the clip's and those below it),
 *     the median bytes and coding times;
 *   per service, on its clip(s): the golden configuration (model 0, the clip's height, every
 *     frame; a service fed boxes gets its upstream's golden output as input, so a stage is
 *     measured on its own), then each model at each height: per-frame ms (median, p90, the
 *     slope per input box for a service fed boxes) and per-frame scores of every output field
 *     that has a metric, bucketed by the golden frame's content. For a detector, the primary
 *     field is also scored with ntracking x nskip {0,1,2,4}^2, replayed from the same per-frame
 *     outputs the way the executor runs them (the tracker between detections, a skipped frame
 *     keeping the last processed frame's result); and model 0 at a height below the clip's on
 *     JPEG-decoded frames at each quality (what a remote stage sees).
 *   Heights above the clip's are timed on a few up-scaled frames (delay only).
 * A time budget per service and clip caps the frames (never below MIN_FRAMES; when even that
 * does not fit, only the clip's height and the lowest are scored).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sched/kb_internal.h"
#include "vdag/base.h"
#include "vdag/media.h"
#include "vdag/svc.h"

#define MIN_FRAMES   6
#define TIMED_FRAMES 2 /* frames timed at heights above the clip's */
#define MAX_CLIPS    8
#define MAX_HEIGHTS  8
#define MAX_QUAL     8
#define MAX_DETS     256

static const int grid[] = {0, 1, 2, 4}; /* ntracking and nskip replayed for detectors */
#define N_GRID 4

/* ---- the full measurement ---------------------------------------------------------------- */

typedef struct clip {
    char name[128];
    int w, h, n;
    double fps;
    vd_frame **f;
} clip;

/* The golden outputs of a service on a clip (model 0, the clip's height, every frame). */
typedef struct golden {
    const vd_service *svc;
    int clip, n;
    json_t **out;
    double *ms;
} golden;

typedef struct mctx {
    const vd_kb_measure_opts *o;
    vd_kb *t; /* what this measurement found */
    clip clips[MAX_CLIPS];
    int n_clips;
    golden *g;
    int ng, capg;
    vd_svc_opts so;
    json_t *info; /* {"services":{…}} */
    vd_error *err;
} mctx;

static void logf_(mctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(mctx *c, const char *fmt, ...)
{
    if (!c->o->log) return;
    char line[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->o->log(c->o->log_arg, line);
}

static int load_clip(mctx *c, const char *name, int n, clip *cl)
{
    char path[600];
    if (strchr(name, '/') || access(name, R_OK) == 0)
        snprintf(path, sizeof path, "%s", name);
    else
        vd_media_path(name, path, sizeof path);
    vd_source *s = NULL;
    int rc = vd_source_open(path, NULL, &s, c->err);
    if (rc) return rc;
    memset(cl, 0, sizeof *cl);
    const char *base = strrchr(name, '/');
    snprintf(cl->name, sizeof cl->name, "%s", base ? base + 1 : name);
    cl->fps = vd_source_native_fps(s);
    if (!(cl->fps > 0)) cl->fps = VD_SCHED_DEFAULT_FPS;
    cl->f = calloc((size_t)n, sizeof *cl->f);
    if (!cl->f) rc = vd_fail(c->err, VD_ENOMEM, "out of memory");
    while (!rc && cl->n < n) {
        rc = vd_source_read(s, &cl->f[cl->n], 10000, c->err);
        if (!rc) cl->n++;
    }
    if (rc == VD_EEOF && cl->n > 0) rc = 0;
    vd_source_close(s);
    if (!rc && cl->n < 2)
        rc = vd_fail(c->err, VD_EFORMAT, "profiling: %s has fewer than 2 frames", path);
    if (!rc) {
        cl->w = cl->f[0]->width;
        cl->h = cl->f[0]->height;
    }
    return rc;
}

static void free_clip(clip *cl)
{
    for (int i = 0; i < cl->n; i++) vd_frame_free(cl->f[i]);
    free(cl->f);
}

static golden *find_golden(mctx *c, const vd_service *svc, int ci)
{
    for (int i = 0; i < c->ng; i++)
        if (c->g[i].svc == svc && c->g[i].clip == ci) return &c->g[i];
    return NULL;
}

static void free_outs(json_t **o, int n)
{
    for (int i = 0; o && i < n; i++) json_decref(o[i]);
    free(o);
}

/* Run model m of svc on frames f[0..n) with inputs args (may be NULL): outputs and ms per
 * frame (after one untimed warm-up run). */
static int run(mctx *c, const vd_service *svc, int m, vd_frame *const *f, json_t *const *args,
               int n, json_t **out, double *ms)
{
    vd_svc_instance *s = NULL;
    int rc = vd_svc_open(svc->name, m, &c->so, &s, c->err);
    for (int i = -1; !rc && i < n; i++) {
        json_t *o = NULL;
        double t0 = vd_now_ms();
        rc = vd_svc_process(s, f[i < 0 ? 0 : i], args ? args[i < 0 ? 0 : i] : NULL, &o, c->err);
        double t = vd_now_ms() - t0;
        if (i < 0 || !out)
            json_decref(o);
        else
            out[i] = o;
        if (i >= 0 && ms) ms[i] = t;
    }
    vd_svc_close(s);
    return rc;
}

static int upstream_inputs(mctx *c, const vd_service *svc, int ci, int n, json_t ***args);

/* The golden outputs of svc on clip for its first n frames (computed once, extended when more
 * frames are asked for; capped at the clip's frames). *out stays valid until the next golden
 * is added (c->g may move). */
static int get_golden(mctx *c, const vd_service *svc, int ci, int n, golden **out)
{
    clip *cl = &c->clips[ci];
    if (n > cl->n) n = cl->n;
    golden *g = find_golden(c, svc, ci);
    if (g && g->n >= n) {
        *out = g;
        return 0;
    }
    json_t **args = NULL, **o = calloc((size_t)n, sizeof *o);
    double *ms = calloc((size_t)n, sizeof *ms);
    int rc = !o || !ms ? vd_fail(c->err, VD_ENOMEM, "out of memory") : 0;
    if (!rc) rc = upstream_inputs(c, svc, ci, n, &args);
    if (!rc) rc = run(c, svc, 0, cl->f, args, n, o, ms);
    free_outs(args, n);
    g = find_golden(c, svc, ci); /* upstream_inputs may have grown c->g */
    if (!rc && !g) {
        rc = vd__kb_grow((void **)&c->g, &c->capg, c->ng, sizeof *c->g);
        if (!rc) {
            g = &c->g[c->ng++];
            memset(g, 0, sizeof *g);
            g->svc = svc;
            g->clip = ci;
        } else {
            rc = vd_fail(c->err, VD_ENOMEM, "out of memory");
        }
    }
    if (rc) {
        free_outs(o, n);
        free(ms);
        return rc;
    }
    free_outs(g->out, g->n);
    free(g->ms);
    g->out = o;
    g->ms = ms;
    g->n = n;
    *out = g;
    return 0;
}

/* Inputs of svc on the first n frames of clip: none, its upstream's golden outputs, or what
 * its profile_args make. *args: n new objects (or NULL when it takes none). */
static int upstream_inputs(mctx *c, const vd_service *svc, int ci, int n, json_t ***args)
{
    *args = NULL;
    if (!vd_svc_profiled_with_inputs(svc)) return 0;
    json_t **a = calloc((size_t)n, sizeof *a);
    if (!a) return vd_fail(c->err, VD_ENOMEM, "out of memory");
    int rc;
    const vd_service *up = svc->profile_args ? NULL : vd_service_find(svc->profile_from);
    if (up) {
        golden *g;
        rc = get_golden(c, up, ci, n, &g);
        for (int i = 0; !rc && i < n; i++) a[i] = json_incref(g->out[i]);
    } else {
        rc = vd_svc_profile_args(svc, c->clips[ci].f, n, &c->so, a, c->err);
    }
    if (rc) {
        free(a);
        return rc;
    }
    *args = a;
    return 0;
}

/* The boxes input of a service fed boxes (NULL otherwise): its delay scales with them. */
static const char *boxes_input(const vd_service *svc)
{
    for (const vd_svc_field *f = svc->in_schema; f && f->name; f++)
        if (f->type == VD_FT_BOXES && (!(f->flags & VD_FIELD_OPTIONAL) || svc->profile_from))
            return f->name;
    return NULL;
}

/* Delay of n runs into the measurement's kb, combined with an earlier clip's entry. */
static void put_delay(mctx *c, const vd_service *svc, int m, int h, double *ms, const double *objs,
                      int n)
{
    vd_kb_delay d = {0};
    double mo = 0, slope = 0;
    if (objs) {
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        for (int i = 0; i < n; i++) {
            sx += objs[i], sy += ms[i], sxx += objs[i] * objs[i], sxy += objs[i] * ms[i];
        }
        mo = sx / n;
        double var = sxx / n - mo * mo, my = sy / n;
        if (var > 0.25)
            slope = (sxy / n - mo * my) / var;
        else if (mo > 0)
            slope = my / mo; /* every frame had about as many objects: assume proportional */
        if (slope < 0) slope = 0;
        if (mo > 0 && slope > my / mo) slope = my / mo;
    }
    d.p90_ms = vd_percentile(ms, (size_t)n, 90);
    d.ms = vd_percentile(ms, (size_t)n, 50);
    d.ms_per_obj = slope;
    d.obj_ref = mo;
    d.n = n;
    vd_kb_delay old;
    if (vd_kb_get_delay(c->t, NULL, svc->name, m, h, &old) == 0 && old.n > 0) {
        double w = old.n + n;
        d.ms = (old.ms * old.n + d.ms * n) / w;
        d.p90_ms = (old.p90_ms * old.n + d.p90_ms * n) / w;
        d.ms_per_obj = (old.ms_per_obj * old.n + d.ms_per_obj * n) / w;
        d.obj_ref = (old.obj_ref * old.n + d.obj_ref * n) / w;
        d.n = old.n + n;
    }
    vd_kb_set_delay(c->t, NULL, svc->name, m, h, &d);
}

/* Scores of outputs o[0..n) (held/tracked already) against golden g, into an entry. */
static void put_acc(mctx *c, const vd_service *svc, const vd_svc_field *f, const clip *cl,
                    const golden *g, json_t *const *o, int n, vd_kb_acc_key *k)
{
    vd_kb_acc a = {0};
    double bsum[VD_KB_N_BUCKETS] = {0};
    for (int i = 0; i < n; i++) {
        vd_score s;
        if (vd_score_field(svc, f, o[i], g->out[i], &s)) return;
        a.metric = s.metric;
        a.value += s.value;
        a.err += s.err;
        double on, of;
        vd_kb_content(svc, g->out[i], cl->w, cl->h, &on, &of);
        int b = vd_kb_bucket(on, of);
        bsum[b] += s.value;
        a.bucket_n[b]++;
    }
    a.n = n;
    a.value /= n;
    a.err /= n;
    for (int b = 0; b < VD_KB_N_BUCKETS; b++)
        a.bucket[b] = a.bucket_n[b] ? bsum[b] / a.bucket_n[b] : 0;
    snprintf(k->service, sizeof k->service, "%s", svc->name);
    snprintf(k->field, sizeof k->field, "%s", f->name);
    k->src_fps = cl->fps;
    vd_kb_acc old;
    if (vd_kb_get_acc(c->t, k, &old) == 0 && old.n > 0) { /* another clip, same key */
        for (int b = 0; b < VD_KB_N_BUCKETS; b++) {
            int w = old.bucket_n[b] + a.bucket_n[b];
            a.bucket[b] =
                w ? (old.bucket[b] * old.bucket_n[b] + a.bucket[b] * a.bucket_n[b]) / w : 0;
            a.bucket_n[b] = w;
        }
        a.value = (old.value * old.n + a.value * n) / (old.n + n);
        a.err = (old.err * old.n + a.err * n) / (old.n + n);
        a.n += old.n;
    }
    vd_kb_set_acc(c->t, k, &a);
}

/* Replay a detector's per-frame outputs o with ntracking t and nskip s as the executor runs
 * them: held[i] is what frame i shows (new references). */
static void replay(const vd_service *svc, json_t *const *o, int n, int t, int s, json_t **held)
{
    vd_tracker *tr = vd_tracker_new();
    json_t *last = NULL;
    int processed = 0;
    for (int i = 0; i < n; i++) {
        if (i % (s + 1) == 0) {
            json_decref(last);
            vd_det d[MAX_DETS];
            int ids[MAX_DETS];
            if (t == 0 || processed % (t + 1) == 0) {
                last = json_incref(o[i]);
                int nd = vd_service_track_input(svc, o[i], d, MAX_DETS);
                if (tr) vd_tracker_update(tr, d, nd, ids);
            } else {
                int nd = tr ? vd_tracker_predict(tr, d, ids, MAX_DETS) : 0;
                last = vd_service_tracked_output(svc, d, nd);
            }
            processed++;
        }
        held[i] = json_incref(last);
    }
    json_decref(last);
    vd_tracker_free(tr);
}

/* Every field with a metric of one model/height run, and the replay grid for the primary
 * field of a detector. */
static void score_run(mctx *c, const vd_service *svc, const clip *cl, const golden *g, json_t **o,
                      int n, int m, int h, vd_encoder enc, int q)
{
    const vd_svc_field *pf = vd_kb_primary_field(svc);
    int detector = pf && (pf->flags & VD_FIELD_TRACK);
    for (const vd_svc_field *f = svc->out_schema; f && f->name; f++) {
        if (vd_metric_for(f->type) == VD_METRIC_NONE) continue;
        if (enc != VD_ENC_NONE && f != pf) continue;
        int grid_n = f == pf && detector && enc == VD_ENC_NONE ? N_GRID : 1;
        for (int ti = 0; ti < grid_n; ti++)
            for (int si = 0; si < grid_n; si++) {
                vd_kb_acc_key k = {.model_id = m,
                                   .res = h,
                                   .ntracking = grid[ti],
                                   .nskip = grid[si],
                                   .enc = enc,
                                   .quality = q};
                if (!ti && !si) {
                    put_acc(c, svc, f, cl, g, o, n, &k);
                    continue;
                }
                json_t **held = calloc((size_t)n, sizeof *held);
                if (!held) continue;
                replay(svc, o, n, grid[ti], grid[si], held);
                put_acc(c, svc, f, cl, g, held, n, &k);
                free_outs(held, n);
            }
    }
}

/* Frames at height h (new references; the clip's own at its height). */
static int frames_at(mctx *c, const clip *cl, int h, int n, int quality, vd_frame **f)
{
    int rc = 0;
    for (int i = 0; i < n; i++) f[i] = NULL;
    for (int i = 0; !rc && i < n; i++) {
        vd_frame *s = NULL;
        if (h == cl->h)
            s = vd_frame_ref(cl->f[i]);
        else
            rc = vd__kb_scale_to(cl->f[i], h, &s, c->err);
        if (!rc && quality > 0) { /* what a remote stage decodes */
            unsigned char *jp = NULL;
            size_t len = 0;
            vd_frame *d = NULL;
            rc = vd_jpeg_encode(s, quality, &jp, &len, c->err);
            if (!rc) rc = vd_jpeg_decode(jp, len, &d, c->err);
            free(jp);
            if (!rc) {
                d->src_width = s->src_width > 0 ? s->src_width : s->width;
                d->src_height = s->src_height > 0 ? s->src_height : s->height;
            }
            vd_frame_free(s);
            s = d;
        }
        f[i] = s;
    }
    if (rc)
        for (int i = 0; i < n; i++) vd_frame_free(f[i]);
    return rc;
}

/* The objects of each frame's boxes input (NULL when svc takes no boxes). */
static double *input_objects(const vd_service *svc, json_t *const *args, int n)
{
    const char *bi = boxes_input(svc);
    if (!bi || !args) return NULL;
    double *x = calloc((size_t)n, sizeof *x);
    for (int i = 0; x && i < n; i++) x[i] = (double)json_array_size(json_object_get(args[i], bi));
    return x;
}

/* Model m at height h on n frames: delay, and scores against g when h is a scored height. */
static int measure_config(mctx *c, const vd_service *svc, int ci, const golden *g, json_t **args,
                          int n, int m, int h, int scored)
{
    const clip *cl = &c->clips[ci];
    int n_run = scored ? n : (n < TIMED_FRAMES ? n : TIMED_FRAMES);
    double *ms = calloc((size_t)n, sizeof *ms), *objs = input_objects(svc, args, n_run);
    json_t **o = calloc((size_t)n, sizeof *o);
    vd_frame **f = calloc((size_t)n, sizeof *f);
    int rc = !ms || !o || !f ? vd_fail(c->err, VD_ENOMEM, "out of memory") : 0;
    if (!rc && m == 0 && h == cl->h) { /* the golden run itself */
        memcpy(ms, g->ms, (size_t)n * sizeof *ms);
        for (int i = 0; i < n; i++) o[i] = json_incref(g->out[i]);
    } else if (!rc) {
        rc = frames_at(c, cl, h, n_run, 0, f);
        if (!rc) rc = run(c, svc, m, f, args, n_run, o, ms);
        for (int i = 0; i < n_run; i++) vd_frame_free(f[i]);
    }
    if (!rc) {
        put_delay(c, svc, m, h, ms, objs, n_run);
        if (scored) score_run(c, svc, cl, g, o, n, m, h, VD_ENC_NONE, 0);
    }
    free_outs(o, n);
    free(ms);
    free(objs);
    free(f);
    return rc;
}

/* Model 0 at height h on JPEG-decoded frames at each quality (the primary field's scores). */
static int measure_coded(mctx *c, const vd_service *svc, int ci, const golden *g, json_t **args,
                         int n, int h)
{
    const clip *cl = &c->clips[ci];
    const int *qs = c->o->qualities;
    int rc = 0;
    json_t **o = calloc((size_t)n, sizeof *o);
    vd_frame **f = calloc((size_t)n, sizeof *f);
    if (!o || !f) rc = vd_fail(c->err, VD_ENOMEM, "out of memory");
    for (int k = 0; !rc && k < c->o->n_qualities; k++) {
        rc = frames_at(c, cl, h, n, qs[k], f);
        if (!rc) rc = run(c, svc, 0, f, args, n, o, NULL);
        for (int i = 0; i < n; i++) vd_frame_free(f[i]);
        if (!rc) score_run(c, svc, cl, g, o, n, 0, h, VD_ENC_JPEG, qs[k]);
        for (int i = 0; i < n; i++) {
            json_decref(o[i]);
            o[i] = NULL;
        }
    }
    free(o);
    free(f);
    return rc;
}

/* Objects the golden configuration finds on a clip's first PROBE_FRAMES frames (the clip
 * choice; the runs are the golden's first frames anyway). */
#define PROBE_FRAMES 4
static int probe_clip(mctx *c, const vd_service *svc, int ci, double *objs)
{
    golden *g;
    int rc = get_golden(c, svc, ci, PROBE_FRAMES, &g);
    if (rc) return rc;
    *objs = 0;
    for (int i = 0; i < g->n; i++) {
        double on, of;
        vd_kb_content(svc, g->out[i], c->clips[ci].w, c->clips[ci].h, &on, &of);
        *objs += on;
    }
    return 0;
}

static int measure_service(mctx *c, const vd_service *svc, int ci)
{
    const clip *cl = &c->clips[ci];
    const vd_kb_measure_opts *o = c->o;
    double t0 = vd_now_ms();
    int heights[MAX_HEIGHTS], nh = 0, above[MAX_HEIGHTS], na = 0;
    heights[nh++] = cl->h;
    for (int i = 0; i < o->n_res && nh < MAX_HEIGHTS && na < MAX_HEIGHTS; i++) {
        if (o->res[i] < cl->h)
            heights[nh++] = o->res[i];
        else if (o->res[i] > cl->h)
            above[na++] = o->res[i];
    }
    int n = o->n_frames < cl->n ? o->n_frames : cl->n;
    /* the budget, from the golden configuration's time on frame 0 (model 0 is the largest) */
    golden *g;
    int rc = get_golden(c, svc, ci, 1, &g);
    if (rc) return rc;
    const vd_svc_field *pf = vd_kb_primary_field(svc);
    int coded = pf && (pf->flags & VD_FIELD_TRACK) ? o->n_qualities : 0;
    if (o->budget_s > 0) {
        double per = g->ms[0] * (svc->n_models * nh + coded);
        int fit = per > 0 ? (int)(o->budget_s * 1e3 / per) : n;
        if (fit < MIN_FRAMES && nh > 2) {
            heights[1] = heights[nh - 1]; /* the clip's and the lowest */
            nh = 2;
            per = g->ms[0] * (svc->n_models * nh + coded);
            fit = per > 0 ? (int)(o->budget_s * 1e3 / per) : n;
        }
        if (fit < MIN_FRAMES) fit = MIN_FRAMES;
        if (fit < n) n = fit;
    } else {
        coded = o->n_qualities;
    }
    json_t **args = NULL; /* first, as it may add goldens (moving c->g) */
    rc = upstream_inputs(c, svc, ci, n, &args);
    if (!rc) rc = get_golden(c, svc, ci, n, &g);
    for (int m = 0; !rc && m < svc->n_models; m++) {
        for (int k = 0; !rc && k < nh; k++)
            rc = measure_config(c, svc, ci, g, args, n, m, heights[k], 1);
        for (int k = 0; !rc && k < na; k++) {
            /* above the clip: time up-scaled frames (their inputs are the first frames') */
            rc = measure_config(c, svc, ci, g, args, n, m, above[k], 0);
        }
    }
    int hc = nh > 1 ? heights[1] : heights[0];
    if (!rc && coded && pf) rc = measure_coded(c, svc, ci, g, args, n, hc);
    free_outs(args, n);
    if (rc) return rc;
    char hs[64] = "";
    for (int k = 0; k < nh; k++) {
        size_t l = strlen(hs);
        snprintf(hs + l, sizeof hs - l, "%s%d", k ? "/" : "", heights[k]);
    }
    double secs = (vd_now_ms() - t0) / 1e3;
    logf_(c, "%s: %s, %d frames, heights %s%s, %.1f s", svc->name, cl->name, n, hs,
          coded ? ", JPEG qualities" : "", secs);
    json_t *svcs = json_object_get(c->info, "services");
    json_t *e = json_object_get(svcs, svc->name);
    if (!e) json_object_set_new(svcs, svc->name, e = json_array());
    json_array_append_new(e, json_pack("{s:s,s:i,s:s,s:f}", "clip", cl->name, "frames", n,
                                       "heights", hs, "seconds", secs));
    return 0;
}

/* The clips a service is measured on (indices into c->clips). */
static int pick_clips(mctx *c, const vd_service *svc, int *out)
{
    if (c->o->all_clips || c->n_clips == 1) {
        for (int i = 0; i < c->n_clips; i++) out[i] = i;
        return c->n_clips;
    }
    const vd_service *up = svc->profile_args ? NULL : vd_service_find(svc->profile_from);
    const vd_service *probe = up ? up : svc;
    while (probe && probe->profile_from && !probe->profile_args) {
        const vd_service *p = vd_service_find(probe->profile_from);
        if (!p) break;
        probe = p;
    }
    int best = 0;
    double bo = -1;
    for (int i = 0; i < c->n_clips; i++) {
        double objs = 0;
        if (probe_clip(c, probe, i, &objs)) return -1;
        if (objs > bo) best = i, bo = objs;
    }
    out[0] = best;
    return 1;
}

/* JPEG bytes and coding times of the frames of every clip at least h high, scaled to h. */
static int bytes_at(mctx *c, int h, int quality)
{
    int tot = 0, n = 0, width = 0, rc = 0;
    for (int ci = 0; ci < c->n_clips; ci++) tot += c->clips[ci].n;
    double *b = calloc((size_t)tot, sizeof *b), *em = calloc((size_t)tot, sizeof *em),
           *dm = calloc((size_t)tot, sizeof *dm);
    if (!b || !em || !dm) rc = vd_fail(c->err, VD_ENOMEM, "out of memory");
    for (int ci = 0; !rc && ci < c->n_clips; ci++) {
        const clip *cl = &c->clips[ci];
        if (cl->h < h) continue;
        for (int i = 0; !rc && i < cl->n; i++) {
            vd_frame *s = NULL, *d = NULL;
            unsigned char *jp = NULL;
            size_t len = 0;
            if (h == cl->h)
                s = vd_frame_ref(cl->f[i]);
            else
                rc = vd__kb_scale_to(cl->f[i], h, &s, c->err);
            double t0 = vd_now_ms();
            if (!rc) rc = vd_jpeg_encode(s, quality, &jp, &len, c->err);
            double t1 = vd_now_ms();
            if (!rc) rc = vd_jpeg_decode(jp, len, &d, c->err);
            if (!rc) {
                /* in the first clip's width at this height (the same bytes per pixel) */
                if (!width) width = s->width;
                double k = (double)width / s->width;
                b[n] = (double)len * k, em[n] = (t1 - t0) * k, dm[n] = (vd_now_ms() - t1) * k;
                n++;
            }
            free(jp);
            vd_frame_free(s);
            vd_frame_free(d);
        }
    }
    if (!rc && n > 0) {
        vd_kb_bytes e = {.width = width, .n = n};
        e.p90_bytes = vd_percentile(b, (size_t)n, 90);
        e.bytes = vd_percentile(b, (size_t)n, 50);
        e.enc_ms = vd_percentile(em, (size_t)n, 50);
        e.dec_ms = vd_percentile(dm, (size_t)n, 50);
        vd_kb_set_bytes(c->t, h, VD_ENC_JPEG, quality, &e);
    }
    free(b), free(em), free(dm);
    return rc;
}

/* Bytes at every clip's own height and every height asked for below the tallest clip. */
static int measure_bytes(mctx *c)
{
    int hs[MAX_HEIGHTS + MAX_CLIPS], nh = 0, top = 0;
    for (int ci = 0; ci < c->n_clips; ci++) {
        hs[nh++] = c->clips[ci].h;
        if (c->clips[ci].h > top) top = c->clips[ci].h;
    }
    for (int i = 0; i < c->o->n_res && i < MAX_HEIGHTS; i++)
        if (c->o->res[i] < top) hs[nh++] = c->o->res[i];
    int rc = 0;
    for (int i = 0; !rc && i < nh; i++) {
        int dup = 0;
        for (int j = 0; j < i && !dup; j++) dup = hs[j] == hs[i];
        for (int q = 0; !rc && !dup && q < c->o->n_qualities; q++)
            rc = bytes_at(c, hs[i], c->o->qualities[q]);
    }
    return rc;
}

int vd_kb_measure(vd_kb *kb, const vd_kb_measure_opts *opts, vd_error *err)
{
    static const char *const def_clips[] = {"vtest.avi", "Megamind.avi", NULL};
    static const int def_res[] = {720, 480, 360}, def_q[] = {50, 70, 85};
    if (!kb) return vd_fail(err, VD_EINVAL, "vd_kb_measure: no kb");
    vd_kb_measure_opts o = opts ? *opts : (vd_kb_measure_opts){0};
    if (!o.clips) o.clips = def_clips;
    if (o.n_frames <= 0) o.n_frames = 16;
    if (!o.res || o.n_res <= 0) o.res = def_res, o.n_res = 3;
    if (!o.qualities || o.n_qualities <= 0) o.qualities = def_q, o.n_qualities = 3;
    if (o.n_qualities > MAX_QUAL) o.n_qualities = MAX_QUAL;
    for (int i = 0; i < o.n_res; i++)
        if (o.res[i] < 16 || o.res[i] > 4320)
            return vd_fail(err, VD_EINVAL,
                           "profiling: resolution %d is not a frame height (16..4320)", o.res[i]);
    for (int i = 0; i < o.n_qualities; i++)
        if (o.qualities[i] < 1 || o.qualities[i] > 100)
            return vd_fail(err, VD_EINVAL, "profiling: JPEG quality %d is not in 1..100",
                           o.qualities[i]);
    mctx c = {.o = &o, .err = err, .so = {.threads = o.threads > 0 ? o.threads : 1}};
    double t0 = vd_now_ms();
    c.t = vd_kb_new();
    c.info = json_pack("{s:[],s:i,s:f,s:i,s:b,s:{}}", "clips", "frames", o.n_frames, "budget_s",
                       o.budget_s, "threads", c.so.threads, "all_clips", o.all_clips, "services");
    int rc = !c.t || !c.info ? vd_fail(err, VD_ENOMEM, "out of memory") : 0;
    for (int i = 0; !rc && o.clips[i]; i++) {
        if (c.n_clips == MAX_CLIPS) {
            rc = vd_fail(err, VD_EINVAL, "profiling: at most %d clips", MAX_CLIPS);
            break;
        }
        rc = load_clip(&c, o.clips[i], o.n_frames, &c.clips[c.n_clips]);
        if (rc) break;
        clip *cl = &c.clips[c.n_clips++];
        json_array_append_new(json_object_get(c.info, "clips"),
                              json_pack("{s:s,s:i,s:i,s:f,s:i}", "name", cl->name, "width", cl->w,
                                        "height", cl->h, "fps", cl->fps, "frames", cl->n));
    }
    if (!rc && !c.n_clips) rc = vd_fail(err, VD_EINVAL, "profiling: no clips");
    if (!rc) rc = measure_bytes(&c);
    const vd_service *const *all = vd_service_all();
    for (int si = 0; !rc && (o.services ? o.services[si] != NULL : all[si] != NULL); si++) {
        const vd_service *svc = o.services ? vd_service_find(o.services[si]) : all[si];
        if (!svc) {
            char known[256];
            rc = vd_fail(err, VD_ENOTFOUND, "profiling: unknown service '%s' (known: %s)",
                         o.services[si], vd_service_names(known, sizeof known));
            break;
        }
        int cs[MAX_CLIPS], nc = pick_clips(&c, svc, cs);
        if (nc < 0) rc = err ? err->code : VD_EINVAL;
        for (int k = 0; !rc && k < nc; k++) rc = measure_service(&c, svc, cs[k]);
    }
    if (!rc) {
        char host[64] = "";
        gethostname(host, sizeof host - 1);
        json_object_set_new(c.info, "seconds", json_real((vd_now_ms() - t0) / 1e3));
        vd_kb_set_host(c.t, host);
        vd_kb_set_profile_info(c.t, json_incref(c.info));
        vd__kb_lock(c.t);
        vd__kb_lock(kb);
        for (int i = 0; i < c.t->nd; i++)
            vd__kb_put_delay(kb, c.t->d[i].node, c.t->d[i].service, c.t->d[i].model_id,
                             c.t->d[i].res, &c.t->d[i].d);
        for (int i = 0; i < c.t->na; i++) vd__kb_put_acc(kb, &c.t->a[i].k, &c.t->a[i].a);
        for (int i = 0; i < c.t->nb; i++)
            vd__kb_put_bytes(kb, c.t->b[i].res, c.t->b[i].enc, c.t->b[i].quality, &c.t->b[i].b);
        snprintf(kb->host, sizeof kb->host, "%s", host);
        json_decref(kb->info);
        kb->info = json_incref(c.info);
        vd__kb_unlock(kb);
        vd__kb_unlock(c.t);
    }
    for (int i = 0; i < c.ng; i++) {
        free_outs(c.g[i].out, c.g[i].n);
        free(c.g[i].ms);
    }
    free(c.g);
    for (int i = 0; i < c.n_clips; i++) free_clip(&c.clips[i]);
    json_decref(c.info);
    vd_kb_free(c.t);
    return rc;
}
