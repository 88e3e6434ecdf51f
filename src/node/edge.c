/*
 * The edge (the seed's job manager): owns video sources and runs jobs, one thread each.
 * A job applies its plan between frames (resolution/fps/nskip on the source, model and
 * ntracking on the executor, and per stage a local instance or a remote call to the node
 * the plan names), paces files like a camera (a frame later than one period is dropped,
 * as a live camera would), and publishes each step's result with the plan's measured
 * delays and the runtime context. A remote stage that fails (node gone, timeout) runs
 * locally until the next plan, so a lost node costs one timeout, not the job.
 *
 * plan_result (vd_plan_result in vdag/sched.h), measured since the plan was applied:
 * delay (per stage) and total_delay, means per step (a PROCESSED frame, or a clip); dropped,
 * the frames dropped as late (the job could not keep up). Over the recent window
 * (loadwin.h: the last 5 s since the plan was applied): load, the fraction of wall time
 * spent in vd_exec_step (0 = unknown: an unpaced file runs flat out, so its load says
 * nothing), drop_ratio, the frames dropped / (processed + dropped), and load_valid, whether
 * the window holds enough data for either to mean something.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/loadwin.h"
#include "node/proto.h"
#include "node_internal.h"
#include "vdag/base.h"
#include "vdag/media.h"

#define RT_WIN         30    /* frames in the runtime-context window */
#define REMOTE_TIMEOUT 2000  /* ms for a remote stage call */
#define KB_RESEND_MS   30000 /* the kb rides in a heartbeat this often even when unchanged */

typedef struct job job;

typedef struct rstage {
    job *j;
    char node[64];
} rstage;

enum { J_RUN = 0, J_DONE = 1 };

struct job {
    char uid[64];
    struct vd_edge *edge;
    vd_video_src video;
    vd__job_spec spec; /* as submitted (loop resolved); its constraint guarded by edge->mu */
    pthread_t thr;
    int started;
    /* guarded by edge->mu */
    vd_plan pending;
    int pending_version; /* the sender's number for it (0: none) */
    int has_pending, stop, watch, state;
    json_t *last;                     /* last published header, for get_runtime */
    vd_plan applied;                  /* the plan in force (copy of plan, for other threads) */
    int has_applied, applied_version; /* its number (0: none given) */
    /* job thread only */
    vd_plan plan;
    int plan_version; /* the cloud's number for the plan, echoed in results (0: none given) */
    rstage rs[VD_MAX_STAGES];
    int fallback[VD_MAX_STAGES];
    int64_t enc_id;
    vd_jpeg_parts enc;    /* the frame as sent to remote stages */
    vd_jpeg_coder *coder; /* made at the first remote stage */
    double sum_delay[VD_MAX_STAGES], sum_total;
    int n_plan_frames;
    int measure_load; /* paced file or live source: load means something */
    vd__loadwin lw;   /* recent busy time, processed and dropped frames */
    long dropped;     /* frames dropped as late since the plan was applied */
    double win_delay[RT_WIN], win_n[RT_WIN], win_size[RT_WIN];
    int win_count;
};

typedef struct edge_cmd edge_cmd;
#define N_EDGE_CMDS 7

/* A transport handler's or an HTTP route's argument: the edge and its command. */
typedef struct cmd_ctx {
    struct vd_edge *e;
    const edge_cmd *cmd;
} cmd_ctx;

struct vd_edge {
    vd_node_opts o;
    cmd_ctx cmds_[N_EDGE_CMDS]; /* one per row of edge_cmds */
    char name[64], addr[128];
    vd_svchost *host;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job **jobs;
    int n_jobs;
    int stopping;
    pthread_t hb_thr;
    int hb_started;
    vd_resources res;
    /* heartbeat thread only: the kb version last sent, and when */
    uint64_t kb_sent_version;
    double kb_sent_at;
};

/* ---- remote stages ----------------------------------------------------------------- */

static int remote_stage(void *arg, int stage, int model_id, const vd_frame *f, json_t *args,
                        json_t **out, vd_error *err)
{
    rstage *r = arg;
    job *j = r->j;
    *out = NULL;
    if (!j->enc.data || j->enc_id != f->cam_frame_id) { /* one encode per frame for all stages */
        free(j->enc.data);
        j->enc.data = NULL;
        int rc = 0;
        if (!j->coder) rc = vd_jpeg_coder_new(VD_STAGE_JPEG_PARTS, &j->coder, err);
        if (!rc) rc = vd_jpeg_coder_encode(j->coder, f, VD_STAGE_JPEG_QUALITY, &j->enc, err);
        if (rc) return rc;
        j->enc_id = f->cam_frame_id;
    }
    return vd_stage_call(j->edge->o.tr, r->node, j->spec.dag->stages[stage].name, model_id, f,
                         &j->enc, args, REMOTE_TIMEOUT, out, NULL, err);
}

/* Apply a plan (version: the sender's number for it) to the source and executor (job
 * thread). */
static void apply_plan(job *j, vd_source *src, vd_exec *ex, const vd_plan *p, int version)
{
    vd_video_conf vc = {.resolution_h = p->resolution_h, .fps = p->fps, .nskip = p->nskip};
    vd_source_set_conf(src, &vc);
    vd_exec_set_ntracking(ex, p->ntracking);
    for (int s = 0; s < j->spec.dag->n_stages && s < VD_MAX_STAGES; s++) {
        const vd_stage_map *m = NULL;
        for (int k = 0; k < p->n_stages; k++)
            if (!strcmp(p->map[k].stage, j->spec.dag->stages[s].name)) m = &p->map[k];
        vd_error err = {0};
        if (m && vd_exec_set_model(ex, s, m->model_id, &err))
            fprintf(stderr, "vdag %s: job %s: %s\n", j->edge->name, j->uid, err.msg);
        int remote = m && m->node[0] && strcmp(m->node, j->edge->name);
        j->rs[s].j = j;
        snprintf(j->rs[s].node, sizeof j->rs[s].node, "%s", remote ? m->node : "");
        vd_exec_set_remote(ex, s, remote ? remote_stage : NULL, &j->rs[s]);
        j->fallback[s] = 0;
    }
    j->plan = *p;
    j->plan_version = version;
    pthread_mutex_lock(&j->edge->mu);
    j->applied = *p;
    j->applied_version = version;
    j->has_applied = 1;
    pthread_mutex_unlock(&j->edge->mu);
    memset(j->sum_delay, 0, sizeof j->sum_delay);
    j->sum_total = 0;
    j->n_plan_frames = 0;
    vd__loadwin_reset(&j->lw, vd_now_ms());
    j->dropped = 0;
}

/* Objects in a step's result: boxes of every detector stage, and their mean area. */
static void count_objects(const vd_dag *d, json_t *res, double *n, double *size)
{
    json_t *stages = json_object_get(res, "stages");
    double cnt = 0, area = 0;
    for (int s = 0; s < d->n_stages; s++) {
        if (!d->stages[s].svc->is_detector) continue;
        json_t *bb = json_object_get(json_object_get(stages, d->stages[s].name), "bbox");
        size_t i;
        json_t *b;
        json_array_foreach(bb, i, b)
        {
            double x1, y1, x2, y2;
            if (json_unpack(b, "[FFFF]", &x1, &y1, &x2, &y2)) continue;
            cnt++;
            area += fabs((x2 - x1) * (y2 - y1));
        }
    }
    *n = cnt;
    *size = cnt > 0 ? area / cnt : 0;
}

/* Result header for the cloud: the step (without bulky landmarks), the plan's measured
 * result and the runtime context. */
static json_t *result_header(job *j, json_t *res)
{
    json_t *stages = json_object_get(res, "stages");
    const char *k;
    json_t *v;
    json_object_foreach(stages, k, v) json_object_del(v, "landmarks");
    json_t *delay = json_object();
    int n = j->n_plan_frames;
    vd__loadwin_stats lw;
    vd__loadwin_get(&j->lw, vd_now_ms(), &lw);
    for (int s = 0; s < j->spec.dag->n_stages && s < VD_MAX_STAGES; s++)
        json_object_set_new(delay, j->spec.dag->stages[s].name,
                            json_real(n ? j->sum_delay[s] / n : 0));
    int w = j->win_count < RT_WIN ? j->win_count : RT_WIN;
    double sd = 0, sn = 0, ss = 0, nmin = 1e30, nmax = -1;
    for (int i = 0; i < w; i++) {
        sd += j->win_delay[i], sn += j->win_n[i], ss += j->win_size[i];
        if (j->win_n[i] < nmin) nmin = j->win_n[i];
        if (j->win_n[i] > nmax) nmax = j->win_n[i];
    }
    if (j->plan_version > 0)
        json_object_set_new(res, "plan_version", json_integer(j->plan_version));
    for (int s = 0; s < j->spec.dag->n_stages && s < VD_MAX_STAGES; s++)
        if (j->fallback[s]) {
            json_t *fb = json_object_get(res, "fallback");
            if (!fb) json_object_set_new(res, "fallback", fb = json_array());
            json_array_append_new(fb, json_string(j->spec.dag->stages[s].name));
        }
    json_t *hdr = json_pack(
        "{s:s,s:s,s:s,s:O,s:{s:o,s:f,s:i,s:f,s:f,s:b,s:I},s:{s:f,s:f,s:f,s:b},s:o}", "job_uid",
        j->uid, "node", j->edge->name, "state", "EXEC", "result", res, "plan_result", "delay",
        delay, "total_delay", n ? j->sum_total / n : 0.0, "n_frames", n, "load",
        j->measure_load ? lw.load : 0.0, "drop_ratio", lw.drop_ratio, "load_valid",
        j->measure_load && lw.valid, "dropped", (json_int_t)j->dropped, "runtime", "delay",
        w ? sd / w : 0.0, "obj_n", w ? sn / w : 0.0, "obj_size", w ? ss / w : 0.0, "obj_stable",
        w >= 5 && nmax - nmin <= 1, "plan", vd_plan_to_json(&j->plan));
    if (hdr && j->plan_version > 0)
        json_object_set_new(hdr, "plan_version", json_integer(j->plan_version));
    return hdr;
}

static void publish(job *j, json_t *hdr, const unsigned char *blob, size_t bl)
{
    vd_buf m;
    vd_error err = {0};
    if (vd_msg_pack(hdr, blob, bl, &m, &err) == 0) {
        j->edge->o.tr->ops->publish(j->edge->o.tr, VD_SUBJ_RESULT, &m, &err);
        vd_buf_free(&m);
    }
}

static void finish(job *j, const char *reason, const char *msg)
{
    json_t *hdr = json_pack("{s:s,s:s,s:s,s:s,s:s}", "job_uid", j->uid, "node", j->edge->name,
                            "state", "DONE", "reason", reason, "msg", msg ? msg : "");
    publish(j, hdr, NULL, 0);
    pthread_mutex_lock(&j->edge->mu);
    j->state = J_DONE;
    json_decref(j->last);
    j->last = hdr;
    pthread_mutex_unlock(&j->edge->mu);
}

static void *job_main(void *arg)
{
    job *j = arg;
    vd_edge *e = j->edge;
    vd_error err = {0};
    vd_source *src = NULL;
    vd_exec *ex = NULL;
    vd_exec_opts eo = {.threads = e->o.threads};
    pthread_mutex_lock(&e->mu); /* an update_plan may be writing it */
    vd_plan first = j->pending;
    pthread_mutex_unlock(&e->mu);
    for (int s = 0; s < first.n_stages; s++) /* open the planned models from the start */
        for (int k = 0; k < j->spec.dag->n_stages && k < VD_MAX_STAGES; k++)
            if (!strcmp(first.map[s].stage, j->spec.dag->stages[k].name))
                eo.model_id[k] = first.map[s].model_id;
    vd_source_opts so = {.loop = j->spec.loop};
    if (vd_source_open(j->video.path, &so, &src, &err) ||
        vd_exec_new(j->spec.dag, &eo, &ex, &err)) {
        fprintf(stderr, "vdag %s: job %s: %s\n", e->name, j->uid, err.msg);
        finish(j, "error", err.msg);
        vd_source_close(src);
        return NULL;
    }
    int pace = !e->o.no_pace && !vd_source_is_live(src);
    j->measure_load = pace || vd_source_is_live(src);
    double t_start = -1;
    int64_t pts0 = 0;
    long processed = 0;
    int clip = j->spec.dag->generator == VD_GEN_CLIP ? j->spec.dag->clip_len : 1;
    if (clip > 64) clip = 64;
    const char *reason = "finished", *msg = "";
    char msgbuf[600];
    for (;;) {
        pthread_mutex_lock(&e->mu);
        int stop = j->stop || e->stopping, has = j->has_pending, watch = j->watch;
        int nv = j->pending_version;
        vd_plan np = j->pending;
        j->has_pending = 0;
        pthread_mutex_unlock(&e->mu);
        if (stop) {
            reason = "stopped";
            break;
        }
        if (has) apply_plan(j, src, ex, &np, nv);
        if (j->spec.max_frames > 0 && processed >= j->spec.max_frames) break;
        vd_frame *frames[64];
        int got = 0, rc = 0;
        while (got < clip && (rc = vd_source_read(src, &frames[got], 1000, &err)) == 0) got++;
        if (got == 0) {
            if (rc == VD_ETIMEDOUT) continue; /* re-check stop and plan */
            if (rc != VD_EEOF) reason = "error", msg = err.msg;
            break;
        }
        if (pace) { /* a file played like a camera */
            vd_frame *f0 = frames[got - 1];
            double now = vd_now_ms();
            if (t_start < 0) t_start = now, pts0 = f0->pts_us;
            double due = t_start + (double)(f0->pts_us - pts0) / 1e3;
            double period = 1e3 / (vd_source_native_fps(src) > 0 ? vd_source_native_fps(src) : 25);
            if (now > due + period * (clip + 1)) { /* late: a camera would have dropped it */
                for (int k = 0; k < got; k++) vd_frame_free(frames[k]);
                j->dropped += got;
                vd__loadwin_drop(&j->lw, now, got);
                continue;
            }
            if (due > now) usleep((useconds_t)((due - now) * 1e3));
        }
        json_t *res = NULL;
        double t_step = vd_now_ms();
        rc = vd_exec_step(ex, frames, got, &res, &err);
        if (rc) { /* a remote stage failed? run it here until the next plan */
            int retried = 0;
            for (int s = 0; s < j->spec.dag->n_stages && s < VD_MAX_STAGES; s++)
                if (j->rs[s].node[0] && !j->fallback[s]) {
                    fprintf(stderr,
                            "vdag %s: job %s: stage %s on %s failed (%s); running it here\n",
                            e->name, j->uid, j->spec.dag->stages[s].name, j->rs[s].node, err.msg);
                    vd_exec_set_remote(ex, s, NULL, NULL);
                    j->fallback[s] = 1;
                    retried = 1;
                }
            if (retried) rc = vd_exec_step(ex, frames, got, &res, &err);
        }
        if (rc) {
            for (int k = 0; k < got; k++) vd_frame_free(frames[k]);
            reason = "error";
            snprintf(msgbuf, sizeof msgbuf, "%s", err.msg);
            msg = msgbuf;
            break;
        }
        processed += got;
        vd__loadwin_step(&j->lw, t_step, vd_now_ms(), got);
        json_t *dl = json_object_get(res, "delay");
        for (int s = 0; s < j->spec.dag->n_stages && s < VD_MAX_STAGES; s++)
            j->sum_delay[s] += json_number_value(json_object_get(dl, j->spec.dag->stages[s].name));
        double total = json_number_value(json_object_get(res, "total_frame_delay"));
        j->sum_total += total;
        j->n_plan_frames++;
        double on, osz;
        count_objects(j->spec.dag, res, &on, &osz);
        int wi = j->win_count++ % RT_WIN;
        j->win_delay[wi] = total, j->win_n[wi] = on, j->win_size[wi] = osz;
        vd_frame *last = frames[got - 1];
        json_object_set_new(res, "native_h", json_integer(last->src_height));
        json_object_set_new(res, "native_fps", json_real(vd_source_native_fps(src)));
        unsigned char *jpg = NULL;
        size_t jl = 0;
        if (watch) {
            vd_render_result(last, res);
            if (vd_jpeg_encode(last, 75, &jpg, &jl, &err)) jpg = NULL, jl = 0;
        }
        json_t *hdr = result_header(j, res);
        json_decref(res);
        publish(j, hdr, jpg, jl);
        free(jpg);
        pthread_mutex_lock(&e->mu);
        json_decref(j->last);
        j->last = hdr;
        pthread_mutex_unlock(&e->mu);
        for (int k = 0; k < got; k++) vd_frame_free(frames[k]);
    }
    free(j->enc.data);
    j->enc.data = NULL;
    vd_jpeg_coder_free(j->coder);
    j->coder = NULL;
    vd_exec_free(ex);
    vd_source_close(src);
    finish(j, reason, msg);
    return NULL;
}

/* ---- commands ---------------------------------------------------------------------- */

static job *find_job(vd_edge *e, const char *uid)
{
    for (int i = 0; i < e->n_jobs; i++)
        if (!strcmp(e->jobs[i]->uid, uid)) return e->jobs[i];
    return NULL;
}

/* *out: the job a command names in "job_uid" (e->mu held; running: only a job still
 * running counts); VD_ENOTFOUND when there is none. */
static int req_job(vd_edge *e, json_t *req, int running, job **out, vd_error *err)
{
    const char *uid = json_string_value(json_object_get(req, "job_uid"));
    *out = uid ? find_job(e, uid) : NULL;
    if (*out && (!running || (*out)->state == J_RUN)) return 0;
    *out = NULL;
    return vd_fail(err, VD_ENOTFOUND, "node %s: no %sjob '%s'", e->name, running ? "running " : "",
                   uid ? uid : "(missing job_uid)");
}

static void job_free(job *j)
{
    if (!j) return;
    vd__job_spec_clear(&j->spec);
    json_decref(j->last);
    free(j);
}

/* Start a new job (e->mu held): it takes sub->spec (zeroed then). */
static int start_job(vd_edge *e, vd__submit *sub, const vd_video_src *v, vd_error *err)
{
    job *j = calloc(1, sizeof *j);
    job **nj = j ? realloc(e->jobs, sizeof *nj * (size_t)(e->n_jobs + 1)) : NULL;
    if (!nj) {
        free(j);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    e->jobs = nj;
    snprintf(j->uid, sizeof j->uid, "%s", sub->uid);
    j->edge = e;
    j->video = *v;
    j->spec = sub->spec;
    memset(&sub->spec, 0, sizeof sub->spec);
    if (j->spec.loop < 0) j->spec.loop = e->o.loop;
    j->enc_id = -1;
    j->pending = sub->plan;
    j->pending_version = sub->plan_version;
    j->has_pending = 1;
    j->watch = sub->watch;
    if (pthread_create(&j->thr, NULL, job_main, j)) {
        job_free(j);
        return vd_fail(err, VD_ENOMEM, "cannot start a job thread");
    }
    j->started = 1;
    e->jobs[e->n_jobs++] = j;
    return 0;
}

/* node.submit_job (proto.h). A job that exists (and runs) gets the plan as an update:
 * resubmitting is idempotent. Errors: VD_ENOTFOUND, no such video here (the cloud ends the
 * job); VD_EALREADY, the job ran to its end here before (the cloud takes it as finished);
 * VD_EINVAL, a bad request; VD_ESTATE, shutting down. */
static int cmd_submit(vd_edge *e, json_t *req, json_t **reply, vd_error *err)
{
    (void)reply;
    vd__submit sub;
    int rc = vd__submit_parse(req, &sub, err);
    if (rc) return rc;
    const vd_video_src *v = NULL;
    for (int i = 0; i < e->o.n_videos; i++)
        if (!strcmp(e->o.videos[i].id, sub.spec.video_id)) v = &e->o.videos[i];
    if (!v) {
        vd__job_spec_clear(&sub.spec);
        return vd_fail(err, VD_ENOTFOUND,
                       "node %s has no video '%s' (its videos: see "
                       "/user/get_all_status)",
                       e->name, sub.spec.video_id);
    }
    if (!sub.has_plan) vd_plan_default(sub.spec.dag, e->name, &sub.plan);
    pthread_mutex_lock(&e->mu);
    job *j = find_job(e, sub.uid);
    if (e->stopping) { /* vd_edge_stop has joined the job threads: start no more */
        rc = vd_fail(err, VD_ESTATE, "node %s is shutting down: job %s not started", e->name,
                     sub.uid);
    } else if (j && j->state == J_RUN) {
        j->pending = sub.plan;
        j->pending_version = sub.plan_version;
        j->has_pending = 1;
        if (json_object_get(req, "user_constraint")) /* the current one rides along */
            rc = vd__job_spec_set_constraint(&j->spec, sub.spec.constraint, err);
    } else if (j) { /* finished before: not run again under the same uid */
        rc = vd_fail(err, VD_EALREADY, "job %s already ran on %s", sub.uid, e->name);
    } else {
        rc = start_job(e, &sub, v, err);
    }
    pthread_mutex_unlock(&e->mu);
    vd__job_spec_clear(&sub.spec);
    return rc;
}

static int cmd_update(vd_edge *e, json_t *req, json_t **reply, vd_error *err)
{
    (void)reply;
    pthread_mutex_lock(&e->mu);
    job *j;
    int rc = req_job(e, req, 1, &j, err);
    if (rc) {
        pthread_mutex_unlock(&e->mu);
        return rc;
    }
    /* the cloud's current user_constraint rides along (node.get_job returns it) */
    json_t *uc = json_object_get(req, "user_constraint");
    if (uc && (rc = vd__job_spec_set_constraint(&j->spec, uc, err))) {
        pthread_mutex_unlock(&e->mu);
        return rc;
    }
    json_t *pj = json_object_get(req, "plan");
    if (!pj && !json_object_get(req, "video_conf") && !json_object_get(req, "flow_mapping") &&
        uc) { /* a constraint-only update */
        pthread_mutex_unlock(&e->mu);
        return 0;
    }
    if (!pj) pj = req; /* the seed sends video_conf and flow_mapping at the top level */
    vd_plan p;
    rc = vd_plan_from_json(pj, j->spec.dag, "plan", &p, err);
    if (!rc) j->pending = p, j->pending_version = vd__msg_plan_version(req), j->has_pending = 1;
    pthread_mutex_unlock(&e->mu);
    return rc ? vd__request_error(rc, err) : 0;
}

/* node.get_job {job_uid} → the job as submitted, its state, watch, the plan (in force, else
 * the one about to apply) and the cloud's plan_version for it (proto.h): what a restarted
 * cloud needs to take over a job it does not know. */
static int cmd_get_job(vd_edge *e, json_t *req, json_t **reply, vd_error *err)
{
    pthread_mutex_lock(&e->mu);
    job *j;
    int rc = req_job(e, req, 0, &j, err);
    if (rc) {
        pthread_mutex_unlock(&e->mu);
        return rc;
    }
    int a = j->has_applied;
    json_t *r = vd__job_info_msg(j->uid, e->name, &j->spec, j->state == J_RUN, j->watch,
                                 a ? &j->applied : &j->pending,
                                 a ? j->applied_version : j->pending_version);
    pthread_mutex_unlock(&e->mu);
    *reply = r;
    return r ? 0 : vd_fail(err, VD_ENOMEM, "out of memory");
}

/* node.stop_job, node.watch, node.get_runtime: a change to (or a look at) the job named,
 * under e->mu. */
static int on_job(vd_edge *e, json_t *req, void (*act)(job *j, json_t *req, json_t **reply),
                  json_t **reply, vd_error *err)
{
    pthread_mutex_lock(&e->mu);
    job *j;
    int rc = req_job(e, req, 0, &j, err);
    if (!rc) act(j, req, reply);
    pthread_mutex_unlock(&e->mu);
    return rc;
}

static void act_stop(job *j, json_t *req, json_t **reply)
{
    (void)req, (void)reply;
    j->stop = 1;
}

static void act_watch(job *j, json_t *req, json_t **reply)
{
    (void)reply;
    j->watch = json_is_true(json_object_get(req, "on"));
}

static void act_runtime(job *j, json_t *req, json_t **reply)
{
    (void)req;
    *reply = j->last ? json_deep_copy(j->last) : json_object();
}

static int cmd_stop(vd_edge *e, json_t *req, json_t **reply, vd_error *err)
{
    return on_job(e, req, act_stop, reply, err);
}

static int cmd_watch(vd_edge *e, json_t *req, json_t **reply, vd_error *err)
{
    return on_job(e, req, act_watch, reply, err);
}

static int cmd_runtime(vd_edge *e, json_t *req, json_t **reply, vd_error *err)
{
    return on_job(e, req, act_runtime, reply, err);
}

/* node.get_kb {} → {kb_version, kb?}: this node's knowledge base (a cloud that missed the
 * heartbeat that carried it asks). The version is read first: a change in between is
 * announced again. */
static int cmd_get_kb(vd_edge *e, json_t *req, json_t **reply, vd_error *err)
{
    (void)req;
    uint64_t v = e->host ? vd_svchost_kb_version(e->host) : 0;
    json_t *r = json_pack("{s:I}", "kb_version", (json_int_t)v);
    json_t *kb = v ? vd_kb_to_json(vd_svchost_kb(e->host)) : NULL;
    if (r && kb) json_object_set_new(r, "kb", kb);
    *reply = r;
    return r ? 0 : vd_fail(err, VD_ENOMEM, "out of memory");
}

/* ---- the command table: one row per command, for the transport and HTTP alike ---------- */

/* A command of the edge (nginx's command tables are the model): its transport service on
 * the node's subject, its HTTP route if it has one, and its handler. A handler gets the
 * request (borrowed) without e->mu held and may set *reply (a new object; {} when left
 * NULL); "status": 0 is added to it. An HTTP path ending in '/' is a prefix whose tail is
 * the job_uid (GET /job/get_runtime/<job>), else the body is the request. */
struct edge_cmd {
    const char *name;
    const char *http_method, *http_path; /* NULL: transport only */
    int (*fn)(vd_edge *e, json_t *req, json_t **reply, vd_error *err);
};

static const edge_cmd edge_cmds[] = {
    {VD_CMD_SUBMIT, "POST", "/node/submit_job", cmd_submit},
    {VD_CMD_UPDATE, "POST", "/node/update_plan", cmd_update},
    {VD_CMD_STOP, "POST", "/node/stop_job", cmd_stop},
    {VD_CMD_WATCH, NULL, NULL, cmd_watch},
    {VD_CMD_RUNTIME, "GET", "/job/get_runtime/", cmd_runtime},
    {VD_CMD_GET_KB, NULL, NULL, cmd_get_kb},
    {VD_CMD_GET_JOB, NULL, NULL, cmd_get_job},
};

_Static_assert(sizeof edge_cmds / sizeof *edge_cmds == N_EDGE_CMDS, "N_EDGE_CMDS: the rows");

/* Run a command; *reply gets the reply (with "status": 0) or stays NULL on error. */
static int run_cmd(const cmd_ctx *x, json_t *req, json_t **reply, vd_error *err)
{
    *reply = NULL;
    json_t *r = NULL;
    int rc = x->cmd->fn(x->e, req, &r, err);
    if (!rc && !r && !(r = json_object())) rc = vd_fail(err, VD_ENOMEM, "out of memory");
    if (rc) {
        json_decref(r);
        return rc;
    }
    if (!json_object_get(r, "status")) json_object_set_new(r, "status", json_integer(0));
    *reply = r;
    return 0;
}

/* The transport side: a vd_msg in, a vd_msg out. */
static int serve_cmd(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    json_t *hdr, *reply;
    int rc = vd_msg_unpack(req->data, req->len, &hdr, NULL, NULL, err);
    if (rc) return rc;
    rc = run_cmd(arg, hdr, &reply, err);
    json_decref(hdr);
    if (rc) return rc;
    return vd__reply_json(resp, reply, err);
}

/* The HTTP side (the seed's internal node routes). */
static int r_cmd(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    const cmd_ctx *x = arg;
    const char *path = x->cmd->http_path;
    json_t *body = NULL, *reply;
    if (path[strlen(path) - 1] == '/')
        body = json_pack("{s:s}", "job_uid", req->tail);
    else if (!(body = vd__parse_body(req, resp)))
        return 0;
    vd_error err = {0};
    int rc = run_cmd(x, body, &reply, &err);
    json_decref(body);
    if (rc)
        vd_http_fail(resp, rc, "%s", err.msg);
    else
        vd_http_json(resp, 200, reply);
    return 0;
}

/* ---- heartbeat --------------------------------------------------------------------- */

static json_t *heartbeat(vd_edge *e)
{
    json_t *videos = json_object(), *jobs = json_array();
    for (int i = 0; i < e->o.n_videos; i++)
        json_object_set_new(
            videos, e->o.videos[i].id,
            json_pack("{s:s,s:s}", "type", e->o.videos[i].type, "path", e->o.videos[i].path));
    pthread_mutex_lock(&e->mu);
    for (int i = 0; i < e->n_jobs; i++)
        if (e->jobs[i]->state == J_RUN) json_array_append_new(jobs, json_string(e->jobs[i]->uid));
    pthread_mutex_unlock(&e->mu);
    json_t *hb = json_pack("{s:s,s:s,s:s,s:o,s:o}", "name", e->name, "role", "edge", "addr",
                           e->addr, "video", videos, "jobs", jobs);
    if (e->host) {
        json_t *info = vd__svchost_resource_info(e->host, &e->res);
        json_object_set_new(hb, "resources", info);
        /* the kb (kilobytes) only when it changed, and every KB_RESEND_MS for a cloud that
         * started since (it also asks with node.get_kb when it sees a version it lacks) */
        uint64_t v = vd_svchost_kb_version(e->host);
        json_object_set_new(hb, "kb_version", json_integer((json_int_t)v));
        double now = vd_now_ms();
        if (v && (v != e->kb_sent_version || now - e->kb_sent_at >= KB_RESEND_MS)) {
            json_t *kb = vd_kb_to_json(vd_svchost_kb(e->host));
            if (kb) {
                json_object_set_new(hb, "kb", kb);
                e->kb_sent_version = v;
                e->kb_sent_at = now;
            }
        }
    } else {
        vd_resources_sample(&e->res, NULL);
        json_object_set_new(hb, "resources", vd_resources_json(&e->res));
    }
    json_t *svcs = json_array();
    for (const vd_service *const *s = vd_service_all(); e->host && *s; s++)
        json_array_append_new(svcs, json_string((*s)->name));
    json_object_set_new(hb, "services", svcs);
    return hb;
}

static void *hb_main(void *arg)
{
    vd_edge *e = arg;
    pthread_mutex_lock(&e->mu);
    while (!e->stopping) {
        pthread_mutex_unlock(&e->mu);
        json_t *hb = heartbeat(e);
        char *s = json_dumps(hb, JSON_COMPACT);
        json_decref(hb);
        if (s) {
            vd_buf b = {(unsigned char *)s, strlen(s)};
            e->o.tr->ops->publish(e->o.tr, VD_SUBJ_HB, &b, NULL);
            free(s);
        }
        pthread_mutex_lock(&e->mu);
        struct timespec ts = vd_deadline(CLOCK_REALTIME, 1000);
        if (!e->stopping) pthread_cond_timedwait(&e->cv, &e->mu, &ts);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

int vd_edge_start(const vd_node_opts *o, vd_svchost *host, vd_edge **out, vd_error *err)
{
    *out = NULL;
    if (!o->tr) return vd_fail(err, VD_EINVAL, "edge: no transport");
    vd_edge *e = calloc(1, sizeof *e);
    if (!e) return vd_fail(err, VD_ENOMEM, "out of memory");
    e->o = *o;
    snprintf(e->name, sizeof e->name, "%s", o->name ? o->name : "edge");
    snprintf(e->addr, sizeof e->addr, "%s", o->addr ? o->addr : "");
    e->o.name = e->name;
    e->o.addr = e->addr;
    if (e->o.threads <= 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        e->o.threads = nc > 1 ? (int)nc - 1 : 1;
    }
    e->host = host;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    for (int i = 0; i < N_EDGE_CMDS; i++) {
        e->cmds_[i] = (cmd_ctx){e, &edge_cmds[i]};
        int rc = o->tr->ops->serve(o->tr, e->name, edge_cmds[i].name, serve_cmd, &e->cmds_[i], err);
        if (rc) {
            vd_edge_free(e);
            return rc;
        }
    }
    if (pthread_create(&e->hb_thr, NULL, hb_main, e) == 0) e->hb_started = 1;
    *out = e;
    return 0;
}

void vd_edge_stop(vd_edge *e)
{
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    e->stopping = 1;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    if (e->hb_started) pthread_join(e->hb_thr, NULL);
    e->hb_started = 0;
    for (int i = 0; i < e->n_jobs; i++)
        if (e->jobs[i]->started) pthread_join(e->jobs[i]->thr, NULL), e->jobs[i]->started = 0;
}

void vd_edge_free(vd_edge *e)
{
    if (!e) return;
    vd_edge_stop(e);
    for (int i = 0; i < e->n_jobs; i++) job_free(e->jobs[i]);
    free(e->jobs);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

/* ---- HTTP ------------------------------------------------------------------------------ */

int vd_edge_routes(vd_edge *e, vd_http_route *r, int cap)
{
    int n = 0;
    for (int i = 0; i < N_EDGE_CMDS; i++) {
        if (!edge_cmds[i].http_path) continue;
        if (n == cap) return VD_ETOOBIG;
        r[n++] =
            (vd_http_route){edge_cmds[i].http_method, edge_cmds[i].http_path, r_cmd, &e->cmds_[i]};
    }
    return n;
}
