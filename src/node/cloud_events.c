/*
 * The cloud's events (cloud_events.h, docs/events.md): made from the results, plan changes
 * and the node table, queued, published by one thread on the bus and to MQTT.
 *
 * Cost: per result, one JSON dump of the result (the "result" event) and a pass over each
 * stage output's track ids, O(ids x tracks) against the job's tracks (at most
 * VD_EV_MAX_TRACK). Nothing is published where nobody listens on NATS but the server's
 * discard; MQTT sends everything to its broker.
 *
 * Locking: ev->mu guards the queue and the counters; the producers take it after the
 * cloud's lock (never the other way), and only to append.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cloud_events.h"
#include "node_internal.h"
#include "vdag/base.h"
#include "vdag/svc.h"

/* The executor's track ids on a tracked stage's output (src/dag/exec.c, VD_FT_IDS). */
#define TRACK_IDS "track_ids"

typedef struct ev_item {
    struct ev_item *next;
    char *subject; /* NULL: not on the bus */
    char *topic;   /* NULL: not to MQTT */
    char *payload;
    size_t len;
    int retain;
} ev_item;

struct vd__events {
    char cloud[64], prefix[64];
    vd_transport *tr;
    vd_mqtt *mqtt;
    int leave, max;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thr;
    int started, stop, busy;
    ev_item *head, *tail;
    int n;
    uint64_t published, dropped;
    int logged;
};

typedef struct ev_track {
    int stage;
    json_int_t id;
    char label[48];
    int64_t first, last; /* the job's result numbers */
} ev_track;

struct vd__ev_job {
    json_t *counts; /* the last result's count_result */
    int64_t k;      /* results seen */
    ev_track *t;
    int n;
};

void vd__ev_token(char *out, size_t cap, const char *in, int dots)
{
    if (!cap) return;
    size_t o = 0;
    for (const char *p = in ? in : ""; *p && o + 1 < cap; p++) {
        char ch = *p;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '-' || ch == '_';
        if (ch == '.' && dots) ok = o > 0 && out[o - 1] != '.' && p[1]; /* no empty token */
        out[o++] = ok ? ch : '_';
    }
    if (!o && cap > 1) out[o++] = '_';
    out[o] = 0;
}

/* ---- the queue ------------------------------------------------------------------------ */

static void item_free(ev_item *it)
{
    if (!it) return;
    free(it->subject);
    free(it->topic);
    free(it->payload);
    free(it);
}

/* Queue one message: on subject (may be NULL) and MQTT topic (may be NULL); the payload is
 * taken (malloc'd). */
static void enqueue(vd__events *ev, const char *subject, const char *topic, char *payload,
                    int retain)
{
    if (!payload) return;
    ev_item *it = calloc(1, sizeof *it);
    pthread_mutex_lock(&ev->mu);
    if (!ev->mqtt) topic = NULL;
    if (!ev->tr) subject = NULL;
    if (ev->stop || (!subject && !topic)) { /* stopped, or nowhere to go */
        pthread_mutex_unlock(&ev->mu);
        free(it);
        free(payload);
        return;
    }
    if (it) {
        it->subject = subject ? strdup(subject) : NULL;
        it->topic = topic ? strdup(topic) : NULL;
        it->payload = payload;
        it->len = strlen(payload);
        it->retain = retain;
        payload = NULL;
        if ((subject && !it->subject) || (topic && !it->topic)) {
            item_free(it);
            it = NULL;
        }
    }
    if (!it) ev->dropped++;                      /* out of memory */
    while (it && ev->n >= ev->max && ev->head) { /* the oldest go */
        ev_item *old = ev->head;
        ev->head = old->next;
        if (!ev->head) ev->tail = NULL;
        ev->n--;
        ev->dropped++;
        item_free(old);
    }
    if (it) {
        if (ev->tail)
            ev->tail->next = it;
        else
            ev->head = it;
        ev->tail = it;
        ev->n++;
        pthread_cond_signal(&ev->cv);
    }
    pthread_mutex_unlock(&ev->mu);
    free(payload);
}

/* An event object (taken) to vdag.event.<type>.<about> and to MQTT topic (may be NULL). */
static void emit(vd__events *ev, json_t *e, const char *type, const char *about, const char *topic)
{
    if (!e) return;
    json_object_set_new(e, "type", json_string(type));
    json_object_set_new(e, "time", json_real(vd__wall_ms() / 1e3));
    json_object_set_new(e, "cloud", json_string(ev->cloud));
    char t[64], a[160], subj[256];
    vd__ev_token(t, sizeof t, type, 0);
    vd__ev_token(a, sizeof a, about, 1);
    snprintf(subj, sizeof subj, "%s.%s.%s", VD_SUBJ_EVENT, t, a);
    enqueue(ev, subj, topic, json_dumps(e, JSON_COMPACT), 0);
    json_decref(e);
}

/* "<prefix>/<job>/<what>" into out. */
static const char *job_topic(const vd__events *ev, char *out, size_t cap, const char *job,
                             const char *what)
{
    char j[160];
    vd__ev_token(j, sizeof j, job, 1);
    snprintf(out, cap, "%.63s/%.150s/%.80s", ev->prefix, j, what);
    return out;
}

static void *pub_main(void *arg)
{
    vd__events *ev = arg;
    pthread_mutex_lock(&ev->mu);
    for (;;) {
        if (!ev->head) {
            if (ev->stop) break;
            struct timespec ts = vd_deadline(CLOCK_REALTIME, 200);
            pthread_cond_timedwait(&ev->cv, &ev->mu, &ts);
            continue;
        }
        ev_item *it = ev->head;
        ev->head = it->next;
        if (!ev->head) ev->tail = NULL;
        ev->n--;
        ev->busy = 1;
        pthread_mutex_unlock(&ev->mu);
        int rc = 0;
        vd_error err = {0};
        if (it->subject) {
            vd_buf b = {(unsigned char *)it->payload, it->len};
            rc = ev->tr->ops->publish(ev->tr, it->subject, &b, &err);
        }
        if (it->topic) vd_mqtt_publish(ev->mqtt, it->topic, it->payload, it->len, it->retain);
        pthread_mutex_lock(&ev->mu);
        ev->busy = 0;
        if (it->subject && rc) {
            ev->dropped++;
            if (!ev->logged++)
                fprintf(stderr, "vdag %s: events: cannot publish on %s (counted as dropped): %s\n",
                        ev->cloud, it->subject, err.msg);
        } else if (it->subject) {
            ev->published++;
        }
        item_free(it);
        pthread_cond_broadcast(&ev->cv);
    }
    pthread_mutex_unlock(&ev->mu);
    return NULL;
}

int vd__events_start(const vd__events_opts *o, vd__events **out, vd_error *err)
{
    *out = NULL;
    vd__events *ev = calloc(1, sizeof *ev);
    if (!ev) return vd_fail(err, VD_ENOMEM, "out of memory");
    snprintf(ev->cloud, sizeof ev->cloud, "%s", o->cloud ? o->cloud : "cloud");
    vd__ev_token(ev->prefix, sizeof ev->prefix, o->mqtt_prefix ? o->mqtt_prefix : "vdag", 1);
    ev->tr = o->tr;
    ev->leave = o->leave_frames > 0 ? o->leave_frames : VD_EV_LEAVE;
    ev->max = o->max_queue > 0 ? o->max_queue : VD_EV_QUEUE;
    pthread_mutex_init(&ev->mu, NULL);
    pthread_cond_init(&ev->cv, NULL);
    int rc = 0;
    if (o->mqtt) {
        char will[96];
        snprintf(will, sizeof will, "%s/available", ev->prefix);
        vd_mqtt_opts mo = *o->mqtt;
        mo.will_topic = will;
        rc = vd_mqtt_open(&mo, &ev->mqtt, err);
    }
    if (!rc && pthread_create(&ev->thr, NULL, pub_main, ev))
        rc = vd_fail(err, VD_ENOMEM, "events: cannot start the publisher thread");
    ev->started = !rc;
    if (rc) {
        vd__events_free(ev);
        return rc;
    }
    *out = ev;
    return 0;
}

int vd__events_flush(vd__events *ev, int timeout_ms)
{
    double until = vd_now_ms() + timeout_ms;
    pthread_mutex_lock(&ev->mu);
    while ((ev->head || ev->busy) && ev->started && vd_now_ms() < until) {
        struct timespec ts = vd_deadline(CLOCK_REALTIME, 20);
        pthread_cond_timedwait(&ev->cv, &ev->mu, &ts);
    }
    int rc = ev->head || ev->busy ? VD_ETIMEDOUT : 0;
    pthread_mutex_unlock(&ev->mu);
    double left = until - vd_now_ms();
    if (!rc && ev->mqtt) rc = vd_mqtt_flush(ev->mqtt, left > 0 ? (int)left : 0);
    return rc;
}

void vd__events_stop(vd__events *ev)
{
    if (!ev) return;
    pthread_mutex_lock(&ev->mu);
    int was = ev->stop;
    pthread_mutex_unlock(&ev->mu);
    if (was) return;
    if (ev->started) vd__events_flush(ev, 1000);
    pthread_mutex_lock(&ev->mu);
    ev->stop = 1;
    ev_item *rest = ev->head; /* not published within the second: dropped */
    ev->dropped += (uint64_t)ev->n;
    ev->head = ev->tail = NULL;
    ev->n = 0;
    pthread_cond_broadcast(&ev->cv);
    pthread_mutex_unlock(&ev->mu);
    if (ev->started) pthread_join(ev->thr, NULL);
    while (rest) {
        ev_item *it = rest;
        rest = it->next;
        item_free(it);
    }
    ev->started = 0;
    vd_mqtt *m = ev->mqtt;
    pthread_mutex_lock(&ev->mu);
    ev->mqtt = NULL;
    pthread_mutex_unlock(&ev->mu);
    vd_mqtt_close(m);
}

void vd__events_free(vd__events *ev)
{
    if (!ev) return;
    vd__events_stop(ev);
    pthread_cond_destroy(&ev->cv);
    pthread_mutex_destroy(&ev->mu);
    free(ev);
}

void vd__events_stats_get(vd__events *ev, vd__events_stats *s)
{
    memset(s, 0, sizeof *s);
    if (!ev) return;
    pthread_mutex_lock(&ev->mu);
    s->published = ev->published;
    s->dropped = ev->dropped;
    s->queued = ev->n;
    s->mqtt = ev->mqtt != NULL;
    vd_mqtt_stats_get(ev->mqtt, &s->m); /* lock order: ev->mu, then the client's */
    pthread_mutex_unlock(&ev->mu);
}

/* ---- events of a result ---------------------------------------------------------------- */

void vd__ev_job_free(vd__ev_job *st)
{
    if (!st) return;
    json_decref(st->counts);
    free(st->t);
    free(st);
}

/* A job event: type, job, node, and the frame it came from. */
static json_t *job_event(const char *job, const char *node, json_t *hdr, json_t *frame)
{
    json_t *e = json_object();
    json_object_set_new(e, "job", json_string(job));
    json_object_set_new(e, "node", json_string(node ? node : ""));
    json_t *seq = json_object_get(hdr, "seq"), *cf = json_object_get(frame, "cam_frame_id");
    if (json_is_integer(seq)) json_object_set(e, "seq", seq);
    if (json_is_integer(cf)) json_object_set(e, "cam_frame_id", cf);
    return e;
}

/* The label of box i of a stage's output, by its service's schema: its first labels field,
 * else its classes named by class_label; "" when neither. */
static void label_of(const vd_service *svc, json_t *out, size_t i, char *lab, size_t cap)
{
    lab[0] = 0;
    for (const vd_svc_field *f = svc ? svc->out_schema : NULL; f && f->name; f++) {
        json_t *v = json_array_get(json_object_get(out, f->name), i);
        if (f->type == VD_FT_LABELS && json_is_string(v)) {
            snprintf(lab, cap, "%s", json_string_value(v));
            return;
        }
        if (f->type == VD_FT_CLASSES && svc->class_label && json_is_integer(v) && !lab[0])
            snprintf(lab, cap, "%s", svc->class_label((int)json_integer_value(v)));
    }
}

static void track_event(vd__events *ev, const char *type, const char *job, const char *node,
                        json_t *hdr, json_t *frame, const char *stage, const ev_track *t)
{
    char topic[300];
    json_t *e = job_event(job, node, hdr, frame);
    json_object_set_new(e, "stage", json_string(stage));
    json_object_set_new(e, "track_id", json_integer(t->id));
    json_object_set_new(e, "label", json_string(t->label));
    if (*type == 'l') json_object_set_new(e, "frames", json_integer(t->last - t->first + 1));
    emit(ev, e, type, job, job_topic(ev, topic, sizeof topic, job, "events"));
}

/* The tracks of one frame's stage outputs: new ids enter. */
static void frame_tracks(vd__events *ev, vd__ev_job *st, const char *job, const char *node,
                         const vd_dag *dag, json_t *hdr, json_t *frame)
{
    const char *name;
    json_t *out;
    json_object_foreach(json_object_get(frame, "stages"), name, out)
    {
        json_t *ids = json_object_get(out, TRACK_IDS);
        if (!json_is_array(ids)) continue;
        int si = -1;
        for (int s = 0; dag && s < dag->n_stages && si < 0; s++)
            if (!strcmp(dag->stages[s].name, name)) si = s;
        const vd_service *svc = si >= 0 ? dag->stages[si].svc : NULL;
        size_t i;
        json_t *id;
        json_array_foreach(ids, i, id)
        {
            if (!json_is_integer(id)) continue;
            json_int_t v = json_integer_value(id);
            int k = 0;
            while (k < st->n && (st->t[k].id != v || st->t[k].stage != si)) k++;
            if (k < st->n) {
                st->t[k].last = st->k;
                continue;
            }
            if (st->n == VD_EV_MAX_TRACK) { /* the longest unseen makes room */
                int old = 0;
                for (int q = 1; q < st->n; q++)
                    if (st->t[q].last < st->t[old].last) old = q;
                track_event(ev, "leave", job, node, hdr, frame, name, &st->t[old]);
                st->t[old] = st->t[--st->n];
            }
            if (!st->t && !(st->t = malloc(sizeof *st->t * VD_EV_MAX_TRACK))) return;
            ev_track *t = &st->t[st->n++];
            memset(t, 0, sizeof *t);
            t->stage = si;
            t->id = v;
            t->first = t->last = st->k;
            label_of(svc, out, i, t->label, sizeof t->label);
            track_event(ev, "enter", job, node, hdr, frame, name, t);
        }
    }
}

/* Tracks missing from the last leave_frames results leave. */
static void gone_tracks(vd__events *ev, vd__ev_job *st, const char *job, const char *node,
                        const vd_dag *dag, json_t *hdr, json_t *frame)
{
    for (int k = 0; k < st->n; k++) {
        if (st->k - st->t[k].last < ev->leave) continue;
        int si = st->t[k].stage;
        const char *stage = dag && si >= 0 && si < dag->n_stages ? dag->stages[si].name : "";
        track_event(ev, "leave", job, node, hdr, frame, stage, &st->t[k]);
        st->t[k--] = st->t[--st->n];
    }
}

/* Every item of each stage output's "events" array, as a service made it, with the job,
 * node, seq and stage added (they override the service's). The core never looks at which
 * service made it; a type that is not a string becomes "event". */
static void stage_events(vd__events *ev, const char *job, const char *node, json_t *hdr,
                         json_t *frame)
{
    char topic[300];
    const char *name;
    json_t *out;
    json_object_foreach(json_object_get(frame, "stages"), name, out)
    {
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(out, "events"), i, item)
        {
            if (!json_is_object(item)) continue;
            json_t *e = json_deep_copy(item), *base = job_event(job, node, hdr, frame);
            json_object_set_new(base, "stage", json_string(name));
            json_object_update(e, base);
            json_decref(base);
            const char *type = json_string_value(json_object_get(item, "type"));
            char t[48];
            vd__ev_token(t, sizeof t, type && *type ? type : "event", 0);
            emit(ev, e, t, job, job_topic(ev, topic, sizeof topic, job, "events"));
        }
    }
}

/* Counts that changed since the job's last result: a "count" event and each changed key's
 * retained MQTT topic <prefix>/<job>/<key>/count (a key gone counts 0). */
static void count_changes(vd__events *ev, vd__ev_job *st, const char *job, const char *node,
                          json_t *hdr, json_t *frame)
{
    json_t *now = json_object_get(frame, "count_result");
    if (!json_is_object(now)) return;
    json_t *changed = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(now, key, v)
    {
        json_t *was = json_object_get(st->counts, key);
        if (!st->counts || !was || !json_equal(was, v))
            json_object_set_new(
                changed, key,
                json_pack("{s:o,s:O}", "from", was ? json_incref(was) : json_integer(0), "to", v));
    }
    json_object_foreach(st->counts, key, v)
    {
        if (!json_object_get(now, key))
            json_object_set_new(changed, key, json_pack("{s:O,s:i}", "from", v, "to", 0));
    }
    if (!json_object_size(changed)) {
        json_decref(changed);
        return;
    }
    char topic[300], k[96], what[120];
    json_object_foreach(changed, key, v)
    {
        vd__ev_token(k, sizeof k, key, 0);
        snprintf(what, sizeof what, "%s/count", k);
        json_t *to = json_object_get(v, "to");
        char *p = json_dumps(to, JSON_ENCODE_ANY | JSON_COMPACT);
        enqueue(ev, NULL, job_topic(ev, topic, sizeof topic, job, what), p, 1);
    }
    json_t *e = job_event(job, node, hdr, frame);
    json_object_set(e, "counts", now);
    json_object_set_new(e, "changed", changed);
    emit(ev, e, "count", job, job_topic(ev, topic, sizeof topic, job, "events"));
    json_decref(st->counts);
    st->counts = json_deep_copy(now);
}

void vd__events_result(vd__events *ev, vd__ev_job **stp, const char *job, const vd_dag *dag,
                       json_t *hdr)
{
    json_t *res = json_object_get(hdr, "result");
    if (!ev || !job || !json_is_object(res)) return;
    if (!*stp && !(*stp = calloc(1, sizeof **stp))) return;
    vd__ev_job *st = *stp;
    const char *node = json_string_value(json_object_get(hdr, "node"));
    char topic[300];
    json_t *e = job_event(job, node, hdr, res);
    json_t *run = json_object_get(hdr, "run"), *pv = json_object_get(hdr, "plan_version");
    if (json_is_integer(run)) json_object_set(e, "run", run);
    if (json_is_integer(pv)) json_object_set(e, "plan_version", pv);
    json_object_set(e, "result", res);
    emit(ev, e, "result", job, job_topic(ev, topic, sizeof topic, job, "result"));
    /* a clip's frames one by one, else the step's one frame */
    json_t *clip = json_object_get(res, "clip");
    size_t n = json_is_array(clip) ? json_array_size(clip) : 1;
    for (size_t f = 0; f < n; f++) {
        json_t *frame = json_is_array(clip) ? json_array_get(clip, f) : res;
        if (!json_is_object(frame)) continue;
        st->k++;
        frame_tracks(ev, st, job, node, dag, hdr, frame);
        gone_tracks(ev, st, job, node, dag, hdr, frame);
        stage_events(ev, job, node, hdr, frame);
    }
    count_changes(ev, st, job, node, hdr, res);
}

/* ---- the job's end, plans and nodes ----------------------------------------------------- */

void vd__events_done(vd__events *ev, vd__ev_job **st, const char *job, const char *node,
                     const char *reason, const char *msg)
{
    if (st) {
        vd__ev_job_free(*st);
        *st = NULL;
    }
    if (!ev || !job) return;
    char topic[300];
    json_t *e = json_pack("{s:s,s:s,s:s,s:s}", "job", job, "node", node ? node : "", "reason",
                          reason ? reason : "", "msg", msg ? msg : "");
    emit(ev, e, "done", job, job_topic(ev, topic, sizeof topic, job, "events"));
}

void vd__events_plan(vd__events *ev, const char *job, const char *node, json_t *change)
{
    if (!ev || !job || !json_is_object(change)) return;
    char topic[300];
    json_t *e = json_deep_copy(change);
    json_object_set_new(e, "job", json_string(job));
    json_object_set_new(e, "node", json_string(node ? node : ""));
    emit(ev, e, "plan", job, job_topic(ev, topic, sizeof topic, job, "events"));
}

void vd__events_node(vd__events *ev, const char *node, const char *role, int up, const char *why)
{
    if (!ev || !node) return;
    char topic[300], n[96];
    vd__ev_token(n, sizeof n, node, 1);
    snprintf(topic, sizeof topic, "%s/nodes/%s", ev->prefix, n);
    enqueue(ev, NULL, topic, strdup(up ? "up" : "down"), 1);
    json_t *e =
        json_pack("{s:s,s:s,s:s}", "node", node, "role", role ? role : "", "why", why ? why : "");
    snprintf(topic, sizeof topic, "%s/nodes/events", ev->prefix);
    emit(ev, e, up ? "node_up" : "node_down", node, topic);
}
