/*
 * Measuring the knowledge base on this machine: the delay-only profile (kb_measure.c: the full
 * measurement, `vdag profile`).
 *
 * vd_kb_profile: delays only, each model at each height on the given frames (a node's quick
 * start-up profile).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/kb_internal.h"
#include "vdag/base.h"
#include "vdag/media.h"
#include "vdag/svc.h"

int vd__kb_scale_to(const vd_frame *f, int h, vd_frame **out, vd_error *err)
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

/* ---- delay-only profiling ---------------------------------------------------------------- */

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

static int profile_res(vd_kb *kb, const vd_service *svc, int h, vd_frame *const *frames,
                       int n_frames, const vd_svc_opts *o, vd_error *err)
{
    vd_frame **sc = calloc((size_t)n_frames, sizeof *sc);
    json_t **args = calloc((size_t)n_frames, sizeof *args);
    int rc = (!sc || !args) ? vd_fail(err, VD_ENOMEM, "out of memory while profiling") : 0;
    for (int i = 0; !rc && i < n_frames; i++) rc = vd__kb_scale_to(frames[i], h, &sc[i], err);
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
