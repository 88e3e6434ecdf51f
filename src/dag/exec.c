/*
 * The DAG executor: per step, each stage in flow order gets its arguments from the
 * per-frame context ("stage.field" values), runs, and is timed. With ntracking > 0,
 * only every (ntracking+1)-th frame runs the detector stages; in between, their boxes
 * come from a tracker (constant-velocity), so every frame has results and every
 * object a track id.
 */
#include <stdlib.h>
#include <string.h>

#include "vdag/base.h"
#include "vdag/dag.h"

struct vd_exec {
    const vd_dag *d;
    vd_exec_opts o;
    vd_nn_pool *pool; /* the inference threads of every stage (exec runs on one thread) */
    vd_svc_instance **inst;
    vd_tracker **trk;
    json_t **last; /* last detector output per stage (labels/scores for tracked frames) */
    vd_stage_remote_fn *remote; /* per stage: run elsewhere through this hook, or NULL */
    void **remote_arg;
    int64_t n_loop, n_frames;
};

static vd_svc_opts svc_opts(const vd_exec *e)
{
    return (vd_svc_opts){.threads = e->o.threads,
                         .pool = e->pool,
                         .transport = e->o.transport,
                         .cascade_timeout_ms = e->o.cascade_timeout_ms,
                         .cascade_fallback = e->o.cascade_fallback};
}

int vd_exec_new(const vd_dag *d, const vd_exec_opts *o, vd_exec **out, vd_error *err)
{
    *out = NULL;
    vd_exec *e = calloc(1, sizeof *e);
    if (!e) return vd_fail(err, VD_ENOMEM, "out of memory");
    e->d = d;
    if (o) e->o = *o;
    e->inst = calloc((size_t)d->n_stages, sizeof *e->inst);
    e->trk = calloc((size_t)d->n_stages, sizeof *e->trk);
    e->last = calloc((size_t)d->n_stages, sizeof *e->last);
    e->remote = calloc((size_t)d->n_stages, sizeof *e->remote);
    e->remote_arg = calloc((size_t)d->n_stages, sizeof *e->remote_arg);
    if (!e->inst || !e->trk || !e->last || !e->remote || !e->remote_arg) {
        vd_exec_free(e);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    int rc = vd_nn_pool_new(e->o.threads, &e->pool, err);
    if (rc) {
        vd_exec_free(e);
        return rc;
    }
    for (int i = 0; i < d->n_stages; i++) {
        vd_svc_opts so = svc_opts(e);
        int mid = i < 16 ? e->o.model_id[i] : 0;
        rc = vd_svc_open(d->stages[i].name, mid, &so, &e->inst[i], err);
        if (!rc && d->stages[i].svc->is_detector && !(e->trk[i] = vd_tracker_new()))
            rc = vd_fail(err, VD_ENOMEM, "out of memory");
        if (rc) {
            vd_exec_free(e);
            return rc;
        }
    }
    *out = e;
    return 0;
}

int vd_exec_set_model(vd_exec *e, int stage, int model_id, vd_error *err)
{
    if (stage < 0 || stage >= e->d->n_stages) return vd_fail(err, VD_EINVAL, "no stage %d", stage);
    if (vd_svc_model_id(e->inst[stage]) == model_id) return 0;
    vd_svc_instance *n;
    vd_svc_opts so = svc_opts(e);
    int rc = vd_svc_open(e->d->stages[stage].name, model_id, &so, &n, err);
    if (rc) return rc;
    vd_svc_close(e->inst[stage]);
    e->inst[stage] = n;
    if (stage < 16) e->o.model_id[stage] = model_id;
    return 0;
}

int vd_exec_set_exit(vd_exec *e, int stage, float lo, float hi, vd_error *err)
{
    if (stage < 0 || stage >= e->d->n_stages) return vd_fail(err, VD_EINVAL, "no stage %d", stage);
    return vd_svc_set_exit(e->inst[stage], lo, hi, err);
}

int vd_exec_model_id(const vd_exec *e, int stage)
{
    return stage >= 0 && stage < e->d->n_stages ? vd_svc_model_id(e->inst[stage]) : -1;
}

int vd_exec_set_remote(vd_exec *e, int stage, vd_stage_remote_fn fn, void *arg)
{
    if (stage < 0 || stage >= e->d->n_stages) return VD_EINVAL;
    e->remote[stage] = fn;
    e->remote_arg[stage] = arg;
    return 0;
}

void vd_exec_set_ntracking(vd_exec *e, int ntracking)
{
    e->o.ntracking = ntracking < 0 ? 0 : ntracking;
}

/* Add every count_result of the stages into `acc` (same label: last stage wins). */
static void merge_counts(json_t *acc, json_t *out)
{
    json_t *cr = json_object_get(out, "count_result");
    const char *k;
    json_t *v;
    json_object_foreach(cr, k, v) json_object_set(acc, k, v);
}

/* Detector output on a tracked frame: the tracker's predicted boxes, written back as the
 * service's schema says, with their track ids. */
static json_t *tracked_output(vd_exec *e, int i)
{
    vd_det boxes[256];
    int ids[256];
    int n = vd_tracker_predict(e->trk[i], boxes, ids, 256);
    json_t *o = vd_service_tracked_output(e->d->stages[i].svc, boxes, n), *tid = json_array();
    for (int k = 0; k < n; k++) json_array_append_new(tid, json_integer(ids[k]));
    json_object_set_new(o, "track_ids", tid);
    json_object_set_new(o, "tracked", json_true());
    return o;
}

/* Feed a detector's fresh output to its tracker and attach track ids. */
static void track_detections(vd_exec *e, int i, json_t *out)
{
    vd_det d[256];
    int ids[256];
    int n = vd_service_track_input(e->d->stages[i].svc, out, d, 256);
    vd_tracker_update(e->trk[i], d, n, ids);
    json_t *tid = json_array();
    for (int k = 0; k < n; k++) json_array_append_new(tid, json_integer(ids[k]));
    json_object_set_new(out, "track_ids", tid);
}

static int run_frame(vd_exec *e, vd_frame *f, int tracked, json_t **res, vd_error *err)
{
    const vd_dag *d = e->d;
    json_t *ctx = json_object(), *delay = json_object(), *counts = json_object();
    double total = 0;
    int rc = 0;
    for (int i = 0; i < d->n_stages && !rc; i++) {
        const vd_dag_stage *st = &d->stages[i];
        json_t *out = NULL;
        double t0 = vd_now_ms();
        if (tracked && e->trk[i]) {
            out = tracked_output(e, i);
        } else {
            json_t *args = json_object();
            for (int a = 0; a < st->n_args; a++) {
                json_t *src = st->args[a].value
                                  ? st->args[a].value
                                  : json_object_get(json_object_get(ctx, st->args[a].stage),
                                                    st->args[a].field);
                if (src) json_object_set(args, st->args[a].name, src);
            }
            if (e->remote[i])
                rc = e->remote[i](e->remote_arg[i], i, vd_svc_model_id(e->inst[i]), f, args, &out,
                                  err);
            if (!rc && !out) /* no hook, or the hook says: here, this time */
                rc = vd_svc_process(e->inst[i], f, args, &out, err);
            json_decref(args);
            if (!rc && e->trk[i]) track_detections(e, i, out);
        }
        double dt = (vd_now_ms() - t0) / 1e3;
        total += dt;
        if (rc) break;
        json_object_set_new(delay, st->name, json_real(dt));
        merge_counts(counts, out);
        json_object_set_new(ctx, st->name, out);
    }
    if (rc) {
        json_decref(ctx), json_decref(delay), json_decref(counts);
        return rc;
    }
    *res =
        json_pack("{s:I,s:I,s:o,s:f,s:o,s:b,s:o}", "n_loop", (json_int_t)e->n_loop, "cam_frame_id",
                  (json_int_t)f->cam_frame_id, "delay", delay, "total_frame_delay", total,
                  "count_result", counts, "tracked", tracked, "stages", ctx);
    return *res ? 0 : vd_fail(err, VD_ENOMEM, "out of memory");
}

int vd_exec_step(vd_exec *e, vd_frame *const *frames, int n, json_t **result, vd_error *err)
{
    *result = NULL;
    if (n < 1) return vd_fail(err, VD_EINVAL, "exec: no frames");
    e->n_loop++;
    if (e->d->generator == VD_GEN_SINGLE_FRAME || n == 1) {
        int tracked = e->o.ntracking > 0 && e->n_frames % (e->o.ntracking + 1) != 0;
        e->n_frames++;
        return run_frame(e, frames[0], tracked, result, err);
    }
    json_t *clip = json_array(), *delay = json_object(), *counts = json_object();
    double total = 0;
    for (int k = 0; k < n; k++) {
        json_t *r;
        int tracked = e->o.ntracking > 0 && e->n_frames % (e->o.ntracking + 1) != 0;
        e->n_frames++;
        int rc = run_frame(e, frames[k], tracked, &r, err);
        if (rc) {
            json_decref(clip), json_decref(delay), json_decref(counts);
            return rc;
        }
        total += json_number_value(json_object_get(r, "total_frame_delay"));
        const char *s;
        json_t *v;
        json_object_foreach(json_object_get(r, "delay"), s, v) json_object_set_new(
            delay, s,
            json_real(json_number_value(json_object_get(delay, s)) + json_number_value(v)));
        json_object_foreach(json_object_get(r, "count_result"), s, v) json_object_set(counts, s, v);
        json_array_append_new(clip, r);
    }
    *result =
        json_pack("{s:I,s:I,s:o,s:f,s:o,s:b,s:o}", "n_loop", (json_int_t)e->n_loop, "cam_frame_id",
                  (json_int_t)frames[n - 1]->cam_frame_id, "delay", delay, "total_frame_delay",
                  total, "count_result", counts, "tracked", 0, "clip", clip);
    return *result ? 0 : vd_fail(err, VD_ENOMEM, "out of memory");
}

void vd_exec_free(vd_exec *e)
{
    if (!e) return;
    for (int i = 0; i < e->d->n_stages; i++) {
        if (e->inst) vd_svc_close(e->inst[i]);
        if (e->trk) vd_tracker_free(e->trk[i]);
        if (e->last) json_decref(e->last[i]);
    }
    free(e->inst);
    free(e->trk);
    free(e->last);
    free(e->remote);
    free(e->remote_arg);
    vd_nn_pool_free(e->pool); /* after the instances whose models use it */
    free(e);
}
