/*
 * Workers: threads that pull items, decode their frames and detect, store one result per
 * (video, frame) and the item's outcome, and only then ack. Each thread has its own consumer,
 * its own object_detection instances (the nn runtime is not shared between threads) and keeps
 * its segment decoder open between items: a worker usually gets ascending ranges of the same
 * GOP, so it decodes on from where it is instead of from the keyframe.
 *
 * Failures: an error (decode, model, a failed store) is nak'ed for a later retry; the attempt
 * that reaches max_deliver dead-letters the item instead. An item that comes with more than
 * max_deliver deliveries (its workers crashed or stalled every time, so nobody reported a
 * failure) is dead-lettered at once without running it. Dead-lettering = an outcome record
 * {"ok":false} under the item's key, a record on the dead-letter subject, then the ack.
 */
#include <assert.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch/batch_internal.h"
#include "vdag/base.h"
#include "vdag/svc.h"

#define PULL_WAIT_MS 500

typedef struct wstats {
    int64_t items, frames, failed, dead;
    double model_ms;
} wstats;

struct vd_worker {
    vd_worker_opts o;
    char name[160];
    pthread_t *thr;
    struct wthread *t;
    int n;
    atomic_int stop;
    pthread_mutex_t mu; /* st */
    wstats st;
};

typedef struct svc_slot {
    vd_svc_instance *s;
    double min_score, iou;
} svc_slot;

typedef struct wthread {
    vd_worker *w;
    int idx;
    char name[200];
    vd_qconsumer *c;
    svc_slot svc[2];
    /* the open segment */
    char dec_video[VD_BATCH_ID_LEN + 1];
    int dec_seg;
    vd__segdec *dec;
    int64_t dec_next; /* index in the segment of the next frame it gives */
    vd_tracker *trk;
} wthread;

static void count(vd_worker *w, int items, int64_t frames, int failed, int dead, double ms)
{
    pthread_mutex_lock(&w->mu);
    w->st.items += items, w->st.frames += frames, w->st.failed += failed, w->st.dead += dead;
    w->st.model_ms += ms;
    pthread_mutex_unlock(&w->mu);
}

static int get_svc(wthread *t, int model_id, double min_score, double iou, vd_svc_instance **out,
                   vd_error *err)
{
    if (model_id < 0 || model_id > 1)
        return vd_fail(err, VD_EINVAL, "object_detection has no model %d", model_id);
    svc_slot *s = &t->svc[model_id];
    if (s->s && (s->min_score != min_score || s->iou != iou)) {
        vd_svc_close(s->s);
        s->s = NULL;
    }
    if (!s->s) {
        vd_svc_opts so = {.threads = t->w->o.nn_threads > 0 ? t->w->o.nn_threads : 1,
                          .min_score = (float)min_score,
                          .iou = (float)iou};
        int rc = vd_svc_open("object_detection", model_id, &so, &s->s, err);
        if (rc) return rc;
        s->min_score = min_score, s->iou = iou;
    }
    *out = s->s;
    return 0;
}

/* Fetch the item's segment (its chunks) and open a decoder on it. */
static int open_segment(wthread *t, vd_queue *q, const vd__item *it, vd_error *err)
{
    vd__segdec_free(t->dec);
    t->dec = NULL;
    unsigned char *blob = NULL;
    size_t len = 0;
    for (int c = 0; c < it->seg_chunks; c++) {
        char key[96];
        snprintf(key, sizeof key, "%s.s%d.%d", it->video, it->seg, c);
        vd_buf b;
        int rc = q->ops->kv_get(q, VD_KV_BLOBS, key, &b, err);
        unsigned char *nb = rc ? NULL : realloc(blob, len + b.len + 1);
        if (!rc && !nb) rc = vd_fail(err, VD_ENOMEM, "out of memory");
        if (rc) {
            vd_buf_free(&b);
            free(blob);
            return rc;
        }
        blob = nb;
        memcpy(blob + len, b.data, b.len);
        len += b.len;
        vd_buf_free(&b);
    }
    int rc = vd__segdec_open(blob, len, it->resolution_h, &t->dec, err);
    if (rc) return rc;
    snprintf(t->dec_video, sizeof t->dec_video, "%s", it->video);
    t->dec_seg = it->seg;
    t->dec_next = 0;
    return 0;
}

/* Make the decoder stand at the item's first frame: go on from where it is when it is on the
 * same segment before that frame, else start the segment again. Frames passed over are decoded
 * but not converted. */
static int seek_to(wthread *t, vd_queue *q, const vd__item *it, vd_error *err)
{
    int64_t want = it->first - it->seg_first;
    int reuse =
        t->dec && !strcmp(t->dec_video, it->video) && t->dec_seg == it->seg && t->dec_next <= want;
    int rc = reuse ? 0 : open_segment(t, q, it, err);
    assert(rc || (t->dec && !strcmp(t->dec_video, it->video) && t->dec_seg == it->seg));
    while (!rc && t->dec_next < want) {
        vd_frame *f;
        int64_t idx;
        rc = vd__segdec_next(t->dec, 0, &f, &idx, err);
        if (rc) return rc == VD_EEOF ? 0 : rc; /* short segment: the item decodes nothing */
        t->dec_next = idx + 1;
    }
    return rc;
}

/* The tracker's boxes on a tracked frame, shaped like the detector's output. */
static json_t *tracked_output(vd_tracker *trk)
{
    vd_det boxes[256];
    int ids[256];
    int n = vd_tracker_predict(trk, boxes, ids, 256);
    json_t *bb = json_array(), *lb = json_array(), *sc = json_array(), *cnt = json_object();
    for (int k = 0; k < n; k++) {
        json_array_append_new(
            bb, json_pack("[ffff]", boxes[k].x1, boxes[k].y1, boxes[k].x2, boxes[k].y2));
        const char *l = vd_coco_label(boxes[k].cls);
        json_array_append_new(lb, json_string(l));
        json_array_append_new(sc, json_real(boxes[k].score));
        json_object_set_new(cnt, l, json_integer(json_integer_value(json_object_get(cnt, l)) + 1));
    }
    return json_pack("{s:o,s:o,s:o,s:o}", "bbox", bb, "labels", lb, "scores", sc, "counts", cnt);
}

static void track(vd_tracker *trk, json_t *out)
{
    json_t *bb = json_object_get(out, "bbox"), *sc = json_object_get(out, "scores"),
           *cl = json_object_get(out, "classes");
    size_t n = json_array_size(bb);
    if (n > 256) n = 256;
    vd_det d[256];
    int ids[256];
    for (size_t k = 0; k < n; k++) {
        double x1 = 0, y1 = 0, x2 = 0, y2 = 0;
        json_unpack(json_array_get(bb, k), "[FFFF]", &x1, &y1, &x2, &y2);
        d[k] = (vd_det){(float)x1,
                        (float)y1,
                        (float)x2,
                        (float)y2,
                        (float)json_number_value(json_array_get(sc, k)),
                        (int)json_integer_value(json_array_get(cl, k))};
    }
    vd_tracker_update(trk, d, (int)n, ids);
}

static int put_json(vd_queue *q, const char *key, json_t *j, vd_error *err)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(7)) : NULL;
    int rc = s ? q->ops->kv_put(q, VD_KV_RESULTS, key, s, strlen(s), err)
               : vd_fail(err, VD_ENOMEM, "out of memory");
    free(s);
    return rc;
}

/* Run an item: decode, detect, store each frame, store the outcome. *stored is set once the
 * results are in the queue (an error after that is only the outcome record's). */
static int run_item(wthread *t, vd_qmsg *m, const vd__item *it, vd_error *err)
{
    vd_worker *w = t->w;
    vd_queue *q = w->o.q;
    vd_svc_instance *svc;
    double t0 = vd_now_ms(), dec_ms = 0, model_ms = 0, last_progress = t0;
    double progress_every = q->ops->ack_wait_ms(q) / 3.0;
    int rc = get_svc(t, it->model_id, it->min_score, it->iou, &svc, err);
    if (!rc && w->o.fail_on && w->o.fail_frame >= it->first && w->o.fail_frame < it->first + it->n)
        rc = vd_fail(err, VD_EINVAL, "fault injection: this worker fails frame %lld (--fail-frame)",
                     (long long)w->o.fail_frame);
    if (!rc && w->o.crash_on && w->o.crash_frame >= it->first &&
        w->o.crash_frame < it->first + it->n) {
        fprintf(stderr, "vdag worker %s: fault injection: dying on frame %lld (--crash-frame)\n",
                t->name, (long long)w->o.crash_frame);
        raise(SIGKILL);
    }
    double d0 = vd_now_ms();
    if (!rc) rc = seek_to(t, q, it, err);
    dec_ms += vd_now_ms() - d0;
    if (rc) return rc;
    json_t *results = json_array();
    if (it->ntracking > 0) {
        vd_tracker_free(t->trk);
        t->trk = vd_tracker_new();
    }
    int decoded = 0;
    for (int k = 0; k < it->n && !rc; k++) {
        vd_frame *f = NULL;
        int64_t idx = 0;
        d0 = vd_now_ms();
        if (t->dec_next == it->first - it->seg_first + k)
            rc = vd__segdec_next(t->dec, 1, &f, &idx, err);
        else
            rc = VD_EEOF; /* the segment ended before the item's range */
        dec_ms += vd_now_ms() - d0;
        if (rc == VD_EEOF) {
            rc = 0;
            break;
        }
        if (rc) break;
        t->dec_next = idx + 1;
        int tracked = it->ntracking > 0 && t->trk && k % (it->ntracking + 1) != 0;
        json_t *out = NULL;
        double m0 = vd_now_ms();
        if (tracked) {
            out = tracked_output(t->trk);
        } else {
            json_t *args = json_object();
            rc = vd_svc_process(svc, f, args, &out, err);
            json_decref(args);
            if (!rc && t->trk && it->ntracking > 0) track(t->trk, out);
        }
        double ms = vd_now_ms() - m0;
        vd_frame_free(f);
        if (rc) break;
        if (!tracked) model_ms += ms;
        json_t *r =
            json_pack("{s:I,s:f,s:s,s:b,s:O,s:O,s:O,s:O}", "f", (json_int_t)(it->seg_first + idx),
                      "ms", ms, "w", t->name, "t", tracked, "bbox", json_object_get(out, "bbox"),
                      "labels", json_object_get(out, "labels"), "scores",
                      json_object_get(out, "scores"), "counts", json_object_get(out, "counts"));
        json_decref(out);
        json_array_append_new(results, r);
        decoded++;
        double now = vd_now_ms();
        if (now - last_progress > progress_every) { /* a long item: keep it ours */
            last_progress = now;
            q->ops->progress(m, NULL);
        }
    }
    /* store every frame, then the outcome: once the outcome is there the item counts done */
    char key[96];
    size_t i;
    json_t *r;
    json_array_foreach(results, i, r)
    {
        if (rc) break;
        snprintf(key, sizeof key, "%s.f.%lld", it->video,
                 (long long)json_integer_value(json_object_get(r, "f")));
        rc = put_json(q, key, r, err);
    }
    json_decref(results);
    if (rc) return rc;
    json_t *o =
        json_pack("{s:b,s:I,s:i,s:i,s:s,s:f,s:f,s:I,s:i}", "ok", 1, "f", (json_int_t)it->first, "n",
                  it->n, "decoded", decoded, "w", t->name, "ms", model_ms, "dec_ms", dec_ms, "t",
                  (json_int_t)vd__epoch_ms(), "d", m->deliveries);
    snprintf(key, sizeof key, "%s.i.%d", it->video, it->item);
    rc = put_json(q, key, o, err);
    json_decref(o);
    if (!rc) count(w, 1, decoded, 0, 0, model_ms);
    if (!rc && w->o.verbose)
        fprintf(stderr, "vdag worker %s: video %s item %d frames %lld-%lld: %.0f ms\n", t->name,
                it->video, it->item, (long long)it->first, (long long)(it->first + it->n - 1),
                vd_now_ms() - t0);
    return rc;
}

static int dead_letter(wthread *t, vd_qmsg *m, const vd__item *it, const char *why, vd_error *err)
{
    vd_queue *q = t->w->o.q;
    char key[96], id[96];
    json_t *o =
        json_pack("{s:b,s:I,s:i,s:s,s:s,s:I,s:i}", "ok", 0, "f", (json_int_t)it->first, "n", it->n,
                  "error", why, "w", t->name, "t", (json_int_t)vd__epoch_ms(), "d", m->deliveries);
    snprintf(key, sizeof key, "%s.i.%d", it->video, it->item);
    int rc = put_json(q, key, o, err);
    if (!rc) {
        json_object_set_new(o, "item", json_loadb((const char *)m->data, m->len, 0, NULL));
        char *s = json_dumps(o, JSON_COMPACT);
        snprintf(id, sizeof id, "%s.%d", it->video, it->item);
        rc = s ? q->ops->dead(q, it->video, id, s, strlen(s), err)
               : vd_fail(err, VD_ENOMEM, "out of memory");
        free(s);
    }
    json_decref(o);
    if (!rc) rc = q->ops->ack(m, err);
    if (!rc) {
        count(t->w, 0, 0, 0, 1, 0);
        fprintf(stderr, "vdag worker %s: video %s item %d (frames %lld-%lld) dead-lettered: %s\n",
                t->name, it->video, it->item, (long long)it->first,
                (long long)(it->first + it->n - 1), why);
    }
    return rc;
}

static void handle(wthread *t, vd_qmsg *m)
{
    vd_worker *w = t->w;
    vd_queue *q = w->o.q;
    vd_error err = {0};
    vd__item it;
    if (vd__item_parse(m->data, m->len, &it, &err)) {
        fprintf(stderr, "vdag worker %s: dropping a %s\n", t->name, err.msg);
        q->ops->ack(m, NULL);
        return;
    }
    int max = q->ops->max_deliver(q);
    char why[600];
    if (m->deliveries > max) {
        snprintf(why, sizeof why,
                 "not acknowledged after %d deliveries (its workers crashed or stalled each time)",
                 m->deliveries - 1);
        if (dead_letter(t, m, &it, why, &err))
            fprintf(stderr, "vdag worker %s: cannot dead-letter: %s\n", t->name, err.msg);
        return;
    }
    vd_buf rec;
    int rc = q->ops->kv_get(q, VD_KV_META, it.video, &rec, &err);
    vd_buf_free(&rec);
    if (rc == VD_ENOTFOUND) { /* the video was deleted */
        q->ops->ack(m, NULL);
        return;
    }
    if (!rc) rc = run_item(t, m, &it, &err);
    if (!rc && q->ops->kv_get(q, VD_KV_META, it.video, &rec, &err) == VD_ENOTFOUND) {
        /* deleted while it ran: take back what was just stored */
        char key[96];
        for (int64_t f = it.first; f < it.first + it.n; f++) {
            snprintf(key, sizeof key, "%s.f.%lld", it.video, (long long)f);
            q->ops->kv_del(q, VD_KV_RESULTS, key, NULL);
        }
        snprintf(key, sizeof key, "%s.i.%d", it.video, it.item);
        q->ops->kv_del(q, VD_KV_RESULTS, key, NULL);
    }
    vd_buf_free(&rec);
    if (!rc) {
        if (q->ops->ack(m, &err)) /* redelivered later: its results are overwritten, not added */
            fprintf(stderr, "vdag worker %s: ack of video %s item %d failed: %s\n", t->name,
                    it.video, it.item, err.msg);
        return;
    }
    if (rc == VD_ECONN || rc == VD_ETIMEDOUT) { /* the queue is away: it comes back later */
        fprintf(stderr, "vdag worker %s: video %s item %d: %s (left for redelivery)\n", t->name,
                it.video, it.item, err.msg);
        return;
    }
    count(w, 0, 0, 1, 0, 0);
    if (m->deliveries >= max) {
        snprintf(why, sizeof why, "failed %d times, last: %s", m->deliveries, err.msg);
        vd_error e2 = {0};
        if (dead_letter(t, m, &it, why, &e2))
            fprintf(stderr, "vdag worker %s: cannot dead-letter: %s\n", t->name, e2.msg);
        return;
    }
    fprintf(stderr, "vdag worker %s: video %s item %d failed (attempt %d of %d): %s\n", t->name,
            it.video, it.item, m->deliveries, max, err.msg);
    q->ops->nak(m, 200 * m->deliveries, NULL);
}

static void *thread_main(void *arg)
{
    wthread *t = arg;
    vd_worker *w = t->w;
    vd_queue *q = w->o.q;
    while (!atomic_load(&w->stop)) {
        vd_qmsg *m = NULL;
        vd_error err = {0};
        int rc = q->ops->pull(t->c, PULL_WAIT_MS, &m, &err);
        if (rc == VD_ETIMEDOUT) continue;
        if (rc) {
            if (rc != VD_ECONN) fprintf(stderr, "vdag worker %s: %s\n", t->name, err.msg);
            usleep(250 * 1000);
            continue;
        }
        handle(t, m);
        vd_queue_msg_free(m);
    }
    return NULL;
}

int vd_worker_start(const vd_worker_opts *o, vd_worker **out, vd_error *err)
{
    *out = NULL;
    if (!o || !o->q) return vd_fail(err, VD_EINVAL, "worker: no queue");
    int n = o->threads > 0 ? o->threads : 1;
    if (n > 256) return vd_fail(err, VD_EINVAL, "worker: %d threads: at most 256", n);
    vd_worker *w = calloc(1, sizeof *w);
    if (!w) return vd_fail(err, VD_ENOMEM, "out of memory");
    w->o = *o;
    if (o->name && *o->name) {
        snprintf(w->name, sizeof w->name, "%s", o->name);
    } else {
        char host[64] = "host";
        gethostname(host, sizeof host - 1);
        snprintf(w->name, sizeof w->name, "%s:%d", host, (int)getpid());
    }
    w->thr = calloc((size_t)n, sizeof *w->thr);
    w->t = calloc((size_t)n, sizeof *w->t);
    pthread_mutex_init(&w->mu, NULL);
    atomic_init(&w->stop, 0);
    int rc = w->thr && w->t ? 0 : vd_fail(err, VD_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < n; i++) {
        wthread *t = &w->t[i];
        t->w = w, t->idx = i;
        snprintf(t->name, sizeof t->name, "%s/%d", w->name, i);
        rc = o->q->ops->consumer_new(o->q, &t->c, err);
        vd_svc_instance *s;
        if (!rc && o->preload_model >= 0) rc = get_svc(t, o->preload_model, 0, 0, &s, err);
    }
    for (int i = 0; !rc && i < n; i++) {
        if (pthread_create(&w->thr[i], NULL, thread_main, &w->t[i])) {
            rc = vd_fail(err, VD_ENOMEM, "worker: cannot start a thread");
            break;
        }
        w->n = i + 1;
    }
    if (rc) {
        for (int i = w->n; i < n && w->t; i++) { /* threads not started: their parts */
            o->q->ops->consumer_free(w->t[i].c);
            for (int k = 0; k < 2; k++) vd_svc_close(w->t[i].svc[k].s);
            w->t[i].c = NULL, w->t[i].svc[0].s = w->t[i].svc[1].s = NULL;
        }
        vd_worker_stop(w);
        return rc;
    }
    *out = w;
    return 0;
}

json_t *vd_worker_share(vd_worker *w)
{
    pthread_mutex_lock(&w->mu);
    wstats s = w->st;
    pthread_mutex_unlock(&w->mu);
    return json_pack("{s:s,s:i,s:I,s:I,s:I,s:I,s:f}", "name", w->name, "threads", w->n, "items",
                     (json_int_t)s.items, "frames", (json_int_t)s.frames, "failed",
                     (json_int_t)s.failed, "dead_lettered", (json_int_t)s.dead, "model_ms",
                     s.model_ms);
}

void vd_worker_stop(vd_worker *w)
{
    if (!w) return;
    atomic_store(&w->stop, 1);
    for (int i = 0; i < w->n; i++) pthread_join(w->thr[i], NULL);
    for (int i = 0; i < w->n; i++) {
        wthread *t = &w->t[i];
        w->o.q->ops->consumer_free(t->c);
        for (int k = 0; k < 2; k++) vd_svc_close(t->svc[k].s);
        vd__segdec_free(t->dec);
        vd_tracker_free(t->trk);
    }
    pthread_mutex_destroy(&w->mu);
    free(w->thr);
    free(w->t);
    free(w);
}
