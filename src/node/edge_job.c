/*
 * An edge's job, on its own thread. It applies its plan between frames (resolution/fps/
 * nskip on the source, model and ntracking on the executor, and per stage a local instance
 * or a remote call to the node the plan names), paces files like a camera (a frame later
 * than one period is dropped, as a live camera would), and publishes each step's result
 * with the plan's measured delays and the runtime context. A remote stage whose node fails
 * or does not answer in time runs here, frame by frame, until that node answers again (see
 * "remote stages" below), so a hung node costs one bounded wait, not the job. Results leave
 * through the outbox (edge_out.c), numbered by the job's run and seq.
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
#include <time.h>
#include <unistd.h>

#include "edge_internal.h"
#include "node/metrics_hooks.h"
#include "node/rcall.h"
#include "vdag/base.h"
#include "vdag/media.h"

#define REMOTE_TIMEOUT  2000 /* ms: a call's transport timeout (it has ended by then) */
#define WAIT_FIRST_MS   2000 /* ms the job waits for a node's first answer (a cold model) */
#define WAIT_MIN_MS     150  /* then 4 x the node's usual latency, at least this */
#define PROBE_PERIOD_MS 250  /* a down node is tried again this often, in the background */
#define PROBE_MIN_MS    500  /* a probe's timeout: 3 x the usual latency, at least this */

/* ---- remote stages ----------------------------------------------------------------- */

/* A call to a node runs on its rstage's thread; the job waits for the answer at most
 * wait_ms (a few times the node's usual latency). Past that, or on a failure, the stage runs
 * here for this frame and the following ones, while the call goes on by itself; once it (or
 * a probe: the stage's call with the current frame, every PROBE_PERIOD_MS, not waited for)
 * is answered, the stage goes back to its node at the next frame. So a hung node costs the
 * job one wait, a broker restart one probe period after the broker is back, and the plan's
 * placement holds again without a new plan. */

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static int wait_ms(const rstage *r)
{
    return r->ewma_ms > 0 ? (int)clampd(4 * r->ewma_ms, WAIT_MIN_MS, REMOTE_TIMEOUT)
                          : WAIT_FIRST_MS;
}

static void answered(rstage *r, double ms)
{
    r->ewma_ms = r->ewma_ms > 0 ? 0.8 * r->ewma_ms + 0.2 * ms : ms;
}

static void went_down(rstage *r, const char *stage, const char *why)
{
    job *j = r->j;
    r->resync = 1; /* an H.264 stream starts again at a keyframe */
    if (!r->down)
        fprintf(stderr, "vdag %s: job %s: stage %s on %s: %s; running it here until %s answers\n",
                j->edge->name, j->uid, stage, r->node, why, r->node);
    r->down = 1;
    r->next_probe = vd_now_ms() + PROBE_PERIOD_MS;
}

/* A call nobody waited for has ended: the node is back if it answered. */
static void harvest(rstage *r, const char *stage)
{
    int rc;
    double ms;
    if (!r->pending || vd__rcall_poll(r->call, &rc, &ms) == -1) return;
    r->pending = 0;
    if (rc) {
        went_down(r, stage, "no answer");
        return;
    }
    answered(r, ms);
    if (r->down)
        fprintf(stderr, "vdag %s: job %s: stage %s back on %s (answered in %.0f ms)\n",
                r->j->edge->name, r->j->uid, stage, r->node, ms);
    r->down = 0;
}

/* The frame as sent to remote stages: one encode per frame for all of them, at the plan's
 * JPEG quality (VD_STAGE_JPEG_QUALITY when it names none). */
static int encoded(job *j, const vd_frame *f, vd_error *err)
{
    int q =
        j->plan.quality >= 1 && j->plan.quality <= 100 ? j->plan.quality : VD_STAGE_JPEG_QUALITY;
    if (j->enc.data && j->enc_id == f->cam_frame_id && j->enc_q == q) return 0;
    free(j->enc.data);
    j->enc.data = NULL;
    int rc = 0;
    if (!j->coder) rc = vd_jpeg_coder_new(VD_STAGE_JPEG_PARTS, &j->coder, err);
    if (!rc) rc = vd_jpeg_coder_encode(j->coder, f, q, &j->enc, err);
    if (!rc) j->enc_id = f->cam_frame_id, j->enc_q = q;
    return rc;
}

/* The request for a stage on a plan that sends H.264: a packet of r's own stream (one per
 * stage and node; a new size starts a new stream), a keyframe after any failed call, since
 * the host may have missed a packet (it then refuses with VD_ESTATE until a keyframe). */
static int h264_request(rstage *r, int model_id, const vd_frame *f, json_t *args, vd_buf *req,
                        vd_error *err)
{
    if (r->h264 && (r->h264_w != f->width || r->h264_h != f->height)) {
        vd_h264_enc_free(r->h264);
        r->h264 = NULL;
    }
    int rc = 0;
    if (!r->h264) {
        double fps = r->j->plan.fps > 0 ? r->j->plan.fps : 25;
        rc = vd_h264_enc_new(f->width & ~1, f->height & ~1, (int)fps, 0, &r->h264, err);
        if (rc) return rc;
        r->h264_w = f->width, r->h264_h = f->height;
    }
    if (r->resync) vd_h264_enc_keyframe(r->h264), r->resync = 0;
    unsigned char *pkt = NULL;
    size_t len = 0;
    char stream[160];
    snprintf(stream, sizeof stream, "%s/%s/%d", r->j->edge->name, r->j->uid, (int)(r - r->j->rs));
    rc = vd_h264_enc_encode(r->h264, f, &pkt, &len, NULL, err);
    if (!rc) rc = vd__stage_request_pack_h264(model_id, f, pkt, len, stream, args, req, err);
    free(pkt);
    return rc;
}

/* Start the stage's call with this frame on r's thread. */
static int start_call(rstage *r, const char *stage, int model_id, const vd_frame *f, json_t *args,
                      int timeout_ms, vd_error *err)
{
    vd_buf req;
    int rc = 0;
    if (vd_encoder_parse(r->j->plan.encoder) == VD_ENC_H264 && f->width >= 16 && f->height >= 16)
        rc = h264_request(r, model_id, f, args, &req, err);
    else if (!(rc = encoded(r->j, f, err)))
        rc = vd__stage_request_pack(model_id, f, &r->j->enc, args, &req, err);
    char svc[96];
    snprintf(svc, sizeof svc, "svc.%s", stage);
    if (!rc) r->req_bytes = req.len;
    return rc ? rc : vd__rcall_start(r->call, r->node, svc, &req, timeout_ms, err);
}

/* The executor's hook: 0 with *out the node's output, or 0 with *out NULL to run the stage
 * here this time. */
static int remote_stage(void *arg, int stage, int model_id, const vd_frame *f, json_t *args,
                        json_t **out, vd_error *err)
{
    rstage *r = arg;
    job *j = r->j;
    const char *name = j->spec.dag->stages[stage].name;
    *out = NULL;
    int rc = r->call ? 0 : vd__rcall_new(j->edge->o.tr, &r->call, err);
    if (rc) return rc;
    harvest(r, name);
    j->fallback[stage] = 1; /* unless the node answers below */
    if (r->pending) return 0;
    if (r->down) {
        if (vd_now_ms() >= r->next_probe) {
            vd_error e = {0};
            int to = (int)clampd(3 * r->ewma_ms, PROBE_MIN_MS, REMOTE_TIMEOUT);
            r->pending = start_call(r, name, model_id, f, args, to, &e) == 0;
            r->next_probe = vd_now_ms() + PROBE_PERIOD_MS;
        }
        return 0;
    }
    if ((rc = start_call(r, name, model_id, f, args, REMOTE_TIMEOUT, err))) return rc;
    vd_buf resp;
    double ms = 0;
    vd_error e = {0};
    int w = wait_ms(r);
    rc = vd__rcall_wait(r->call, w, &resp, &ms, &e);
    if (rc == VD_EBUSY) { /* it goes on by itself; harvest() sees how it ends */
        r->pending = 1;
        char why[64];
        snprintf(why, sizeof why, "no answer within %d ms", w);
        went_down(r, name, why);
        return 0;
    }
    double host_ms = 0;
    if (!rc) rc = vd__stage_reply_unpack(&resp, r->node, name, out, &host_ms, &e);
    vd_buf_free(&resp);
    if (rc) {
        went_down(r, name, e.msg);
        return 0;
    }
    answered(r, ms);
    vd__link_observe(&j->edge->links, r->node, r->req_bytes, ms, host_ms);
    j->fallback[stage] = 0;
    return 0;
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
        if (m && (vd_exec_set_model(ex, s, m->model_id, &err) ||
                  vd_exec_set_exit(ex, s, m->exit_lo, m->exit_hi, &err)))
            fprintf(stderr, "vdag %s: job %s: %s\n", j->edge->name, j->uid, err.msg);
        int remote = m && m->node[0] && strcmp(m->node, j->edge->name);
        rstage *r = &j->rs[s];
        r->j = j;
        if (strcmp(r->node, remote ? m->node : "")) { /* another node: nothing known of it */
            snprintf(r->node, sizeof r->node, "%s", remote ? m->node : "");
            r->ewma_ms = 0;
        }
        r->down = 0; /* a new plan: try its node (a call still running from before waits) */
        vd_exec_set_remote(ex, s, remote ? remote_stage : NULL, r);
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
        w >= 5 && nmax - nmin <= 1, "plan",
        vd__plan_shown(vd_plan_to_json(&j->plan),
                       (int)json_integer_value(json_object_get(res, "native_h")),
                       json_number_value(json_object_get(res, "native_fps"))));
    if (hdr && j->plan_version > 0)
        json_object_set_new(hdr, "plan_version", json_integer(j->plan_version));
    return hdr;
}

/* Sleep ms (the pacing of a file) unless the job is stopped meanwhile; returns 1 if it was. */
static int wait_unless_stopped(job *j, double ms)
{
    vd_edge *e = j->edge;
    struct timespec ts = vd_deadline(CLOCK_REALTIME, ms);
    pthread_mutex_lock(&e->mu);
    while (!j->stop && !e->stopping && pthread_cond_timedwait(&e->job_cv, &e->mu, &ts) == 0) {
    }
    int stop = j->stop || e->stopping;
    pthread_mutex_unlock(&e->mu);
    return stop;
}

/* A result to the cloud through the outbox (stored, numbered); the rendered frame, for
 * viewers only, straight to vdag.frame.<node> (a lost frame is just not shown). */
static void publish(job *j, json_t *hdr, const unsigned char *blob, size_t bl)
{
    vd__edge_out_put(j->edge, j, hdr, 0);
    if (!bl) return;
    vd_buf m;
    json_t *fh = json_pack("{s:s,s:O}", "job_uid", j->uid, "seq", json_object_get(hdr, "seq"));
    char subj[128];
    snprintf(subj, sizeof subj, "%s.%s", VD_SUBJ_FRAME, j->edge->name);
    if (fh && vd_msg_pack(fh, blob, bl, &m, NULL) == 0) {
        j->edge->o.tr->ops->publish(j->edge->o.tr, subj, &m, NULL);
        vd_buf_free(&m);
    }
    json_decref(fh);
}

json_t *vd__job_source_json(const job *j)
{
    const vd_source_status *st = &j->src_st;
    double rs = j->video.reconnect_s > 0 ? j->video.reconnect_s : VD_RECONNECT_S;
    json_t *o = json_pack("{s:s,s:s,s:b}", "video_id", j->video.id, "kind",
                          vd__video_kind(j->video.path), "live", j->src_live);
    if (o && j->src_live)
        json_object_update_new(o, json_pack("{s:b,s:I,s:I,s:I,s:f,s:f}", "up", st->up, "lost",
                                            (json_int_t)st->lost, "reconnects",
                                            (json_int_t)st->reconnects, "attempts",
                                            (json_int_t)st->attempts, "down_s", st->down_ms / 1e3,
                                            "reconnect_timeout_s", rs));
    if (o && j->src_live && !st->up) json_object_set_new(o, "error", json_string(st->error));
    return o;
}

/* A live source's state (job thread): kept for node.get_runtime and the metrics, its changes
 * logged and counted. Returns 1 when it has been down longer than its video's
 * reconnect_timeout (msg, n: why, for the job's end). */
static int watch_source(job *j, vd_source *src, char *msg, size_t n)
{
    vd_edge *e = j->edge;
    vd_source_status st;
    vd_source_status_get(src, &st);
    pthread_mutex_lock(&e->mu);
    vd_source_status was = j->src_st;
    j->src_st = st;
    pthread_mutex_unlock(&e->mu);
    double limit = j->video.reconnect_s > 0 ? j->video.reconnect_s : VD_RECONNECT_S;
    if (st.lost > was.lost) {
        fprintf(stderr,
                "vdag %s: job %s: video %s lost (%s); reconnecting with back-off for up "
                "to %.0f s\n",
                e->name, j->uid, j->video.id, st.error, limit);
        vd__edge_metrics_source(e->name, j->video.id, "lost", (double)(st.lost - was.lost));
    }
    if (st.reconnects > was.reconnects) {
        fprintf(stderr, "vdag %s: job %s: video %s is back (reconnect %lld)\n", e->name, j->uid,
                j->video.id, (long long)st.reconnects);
        vd__edge_metrics_source(e->name, j->video.id, "reconnected",
                                (double)(st.reconnects - was.reconnects));
    }
    if (st.up || st.down_ms < limit * 1e3) return 0;
    snprintf(msg, n, "video %s: no stream for %.0f s (reconnect_timeout %.0f s; %lld attempts): %s",
             j->video.id, st.down_ms / 1e3, limit, (long long)st.attempts, st.error);
    return 1;
}

static void finish(job *j, const char *reason, const char *msg)
{
    json_t *hdr = json_pack("{s:s,s:s,s:s,s:s,s:s}", "job_uid", j->uid, "node", j->edge->name,
                            "state", "DONE", "reason", reason, "msg", msg ? msg : "");
    vd__edge_out_put(j->edge, j, hdr, 1);
    pthread_mutex_lock(&j->edge->mu);
    j->state = J_DONE;
    json_decref(j->last);
    j->last = hdr;
    pthread_cond_broadcast(&j->edge->frames); /* its viewers' streams end */
    pthread_mutex_unlock(&j->edge->mu);
}

void *vd__edge_job_main(void *arg)
{
    job *j = arg;
    vd_edge *e = j->edge;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now); /* this run of the job: its results say so */
    pthread_mutex_lock(&e->mu);          /* node.get_runtime reads it */
    j->run = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
    pthread_mutex_unlock(&e->mu);
    vd_error err = {0};
    vd_source *src = NULL;
    vd_exec *ex = NULL;
    vd_exec_opts eo = {.threads = e->o.threads,
                       .transport = e->o.cascade_bus ? e->o.tr : NULL,
                       .cascade_fallback = 1};
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
    pthread_mutex_lock(&e->mu);
    j->src_live = vd_source_is_live(src);
    vd_source_status_get(src, &j->src_st);
    pthread_mutex_unlock(&e->mu);
    int pace = !e->o.no_pace && !vd_source_is_live(src);
    j->measure_load = pace || vd_source_is_live(src);
    double t_start = -1;
    int64_t pts0 = 0;
    long processed = 0;
    int clip = j->spec.dag->generator == VD_GEN_CLIP ? j->spec.dag->clip_len : 1;
    if (clip > 64) clip = 64;
    const char *reason = "finished", *msg = "";
    char msgbuf[1024];
    for (;;) {
        pthread_mutex_lock(&e->mu);
        int stop = j->stop || e->stopping, has = j->has_pending, removed = j->src_removed;
        int cloud_watch = j->watch, own_viewers = j->viewers > 0;
        int watch = cloud_watch || own_viewers;
        int nv = j->pending_version;
        vd_plan np = j->pending;
        j->has_pending = 0;
        pthread_mutex_unlock(&e->mu);
        if (removed) {
            reason = "source_removed";
            snprintf(msgbuf, sizeof msgbuf, "video %s was removed from node %s", j->video.id,
                     e->name);
            msg = msgbuf;
            break;
        }
        if (stop) {
            reason = "stopped";
            break;
        }
        if (has) apply_plan(j, src, ex, &np, nv);
        if (j->spec.max_frames > 0 && processed >= j->spec.max_frames) break;
        vd_frame *frames[64];
        int got = 0, rc = 0;
        while (got < clip && (rc = vd_source_read(src, &frames[got], 1000, &err)) == 0) got++;
        if (j->src_live && watch_source(j, src, msgbuf, sizeof msgbuf)) {
            for (int k = 0; k < got; k++) vd_frame_free(frames[k]);
            reason = "source_lost", msg = msgbuf;
            break;
        }
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
                vd__edge_metrics_drop(e->name, j->uid, got);
                continue;
            }
            if (due > now + 1000) { /* the stream's clock jumped ahead: re-base, never stall */
                t_start = now, pts0 = f0->pts_us;
                due = now;
            }
            if (due > now && wait_unless_stopped(j, due - now)) { /* stopped: at once */
                for (int k = 0; k < got; k++) vd_frame_free(frames[k]);
                continue;
            }
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
        vd__edge_metrics_step(e->name, j->uid, j->spec.dag, res, got);
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
        if (j->src_live) /* how often the stream was lost and came back */
            json_object_set_new(res, "source",
                                json_pack("{s:I,s:I}", "lost", (json_int_t)j->src_st.lost,
                                          "reconnects", (json_int_t)j->src_st.reconnects));
        unsigned char *jpg = NULL;
        size_t jl = 0;
        if (watch) {
            vd_render_result(last, res);
            if (vd_jpeg_encode(last, 75, &jpg, &jl, &err)) jpg = NULL, jl = 0;
        }
        if (own_viewers && jpg) vd__edge_show(j, jpg, jl);
        json_t *hdr = result_header(j, res);
        json_decref(res);
        publish(j, hdr, cloud_watch ? jpg : NULL, cloud_watch ? jl : 0); /* the cloud's viewers */
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
    for (int s = 0; s < VD_MAX_STAGES; s++) { /* a hung call ends within its timeout */
        vd__rcall_free(j->rs[s].call);
        vd_h264_enc_free(j->rs[s].h264);
        j->rs[s].call = NULL;
    }
    vd_source_close(src);
    finish(j, reason, msg);
    return NULL;
}

void vd__edge_job_free(job *j)
{
    if (!j) return;
    vd__job_spec_clear(&j->spec);
    json_decref(j->last);
    free(j->jpeg);
    free(j);
}
