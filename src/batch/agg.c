/*
 * The aggregator: each video's state, kept up to date from the watches on the META and
 * RESULTS buckets and nothing else, so it is the same after a restart (the watches replay the
 * buckets) as before. A frame's result is stored under (video, frame): a redelivered item
 * overwrites its frames, the aggregator overwrites its slot, and nothing is counted twice.
 *
 * Per frame only what the statistics need is kept (model ms, worker, counts per class); the
 * statistics are computed on request, O(frames x classes in a frame) -- a few hundred
 * microseconds for a few thousand frames.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "batch/batch_internal.h"
#include "vdag/base.h"

#define MAX_LABELS  128
#define MAX_WORKERS 1024
#define STALE_MS    30000 /* an "ingesting" record not refreshed for this long: interrupted */

typedef struct fcount {
    uint8_t cls; /* index into the video's labels */
    uint16_t n;
} fcount;

typedef struct frame_rec {
    float ms;
    int16_t worker;
    uint8_t set, tracked, nc;
    fcount *c;
} frame_rec;

enum { IT_NONE, IT_DONE, IT_FAILED };

typedef struct item_rec {
    uint8_t state;
    int16_t worker;
    int n, decoded, deliveries;
    int64_t first;
    double t_ms, dec_ms;
    char *error;
} item_rec;

typedef struct video {
    char id[VD_BATCH_ID_LEN + 1];
    json_t *rec;
    frame_rec *frames;
    int64_t n_frames;
    item_rec *items;
    int n_items;
    char *labels[MAX_LABELS];
    int n_labels;
    char *workers[MAX_WORKERS];
    int n_workers;
    int local; /* an upload of this process is still ingesting it */
} video;

struct vd__agg {
    pthread_mutex_t mu;
    video **v;
    int n, cap;
    int meta_ready, res_ready;
};

vd__agg *vd__agg_new(void)
{
    vd__agg *a = calloc(1, sizeof *a);
    if (a) pthread_mutex_init(&a->mu, NULL);
    return a;
}

static void video_free(video *v)
{
    if (!v) return;
    json_decref(v->rec);
    for (int64_t i = 0; i < v->n_frames; i++) free(v->frames[i].c);
    free(v->frames);
    for (int i = 0; i < v->n_items; i++) free(v->items[i].error);
    free(v->items);
    for (int i = 0; i < v->n_labels; i++) free(v->labels[i]);
    for (int i = 0; i < v->n_workers; i++) free(v->workers[i]);
    free(v);
}

void vd__agg_free(vd__agg *a)
{
    if (!a) return;
    for (int i = 0; i < a->n; i++) video_free(a->v[i]);
    free(a->v);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* The video with this id (under mu); created when `create`. */
static video *find(vd__agg *a, const char *id, size_t id_len, int create)
{
    for (int i = 0; i < a->n; i++)
        if (strlen(a->v[i]->id) == id_len && !strncmp(a->v[i]->id, id, id_len)) return a->v[i];
    if (!create || id_len != VD_BATCH_ID_LEN) return NULL;
    if (a->n == a->cap) {
        int cap = a->cap ? a->cap * 2 : 16;
        video **n = realloc(a->v, sizeof *n * (size_t)cap);
        if (!n) return NULL;
        a->v = n, a->cap = cap;
    }
    video *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    memcpy(v->id, id, id_len);
    a->v[a->n++] = v;
    return v;
}

static int intern(char **tab, int *n, int cap, const char *s)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(tab[i], s)) return i;
    if (*n == cap || !(tab[*n] = strdup(s))) return -1;
    return (*n)++;
}

void vd__agg_on_meta(void *arg, const char *key, const void *val, size_t len)
{
    vd__agg *a = arg;
    pthread_mutex_lock(&a->mu);
    if (!key) {
        a->meta_ready = 1;
    } else if (!val) {
        for (int i = 0; i < a->n; i++)
            if (!strcmp(a->v[i]->id, key) && !a->v[i]->local) {
                video_free(a->v[i]);
                a->v[i] = a->v[--a->n];
                break;
            }
    } else {
        video *v = find(a, key, strlen(key), 1);
        json_t *j = json_loadb(val, len, 0, NULL);
        if (v && json_is_object(j)) {
            json_decref(v->rec);
            v->rec = j;
        } else {
            json_decref(j);
        }
    }
    pthread_mutex_unlock(&a->mu);
}

static int grow_frames(video *v, int64_t n)
{
    if (n <= v->n_frames) return 0;
    int64_t cap = v->n_frames ? v->n_frames : 256;
    while (cap < n) cap *= 2;
    frame_rec *f = realloc(v->frames, sizeof *f * (size_t)cap);
    if (!f) return -1;
    memset(f + v->n_frames, 0, sizeof *f * (size_t)(cap - v->n_frames));
    v->frames = f, v->n_frames = cap;
    return 0;
}

static int grow_items(video *v, int n)
{
    if (n <= v->n_items) return 0;
    int cap = v->n_items ? v->n_items : 64;
    while (cap < n) cap *= 2;
    item_rec *it = realloc(v->items, sizeof *it * (size_t)cap);
    if (!it) return -1;
    memset(it + v->n_items, 0, sizeof *it * (size_t)(cap - v->n_items));
    v->items = it, v->n_items = cap;
    return 0;
}

static void set_frame(video *v, int64_t k, json_t *j)
{
    if (k < 0 || k >= (int64_t)1 << 27 || grow_frames(v, k + 1)) return; /* 134M frames */
    assert(k < v->n_frames);
    frame_rec *f = &v->frames[k];
    free(f->c);
    memset(f, 0, sizeof *f);
    if (!j) return;
    json_t *counts = json_object_get(j, "counts");
    size_t nc = json_object_size(counts);
    if (nc > 255) nc = 255;
    f->c = nc ? calloc(nc, sizeof *f->c) : NULL;
    const char *label;
    json_t *c;
    json_object_foreach(counts, label, c)
    {
        int li = intern(v->labels, &v->n_labels, MAX_LABELS, label);
        json_int_t n = json_integer_value(c);
        if (li < 0 || !f->c || f->nc == nc || n <= 0) continue;
        f->c[f->nc++] = (fcount){(uint8_t)li, (uint16_t)(n > 65535 ? 65535 : n)};
    }
    const char *w = json_string_value(json_object_get(j, "w"));
    f->worker = (int16_t)(w ? intern(v->workers, &v->n_workers, MAX_WORKERS, w) : -1);
    f->ms = (float)json_number_value(json_object_get(j, "ms"));
    f->tracked = json_is_true(json_object_get(j, "t"));
    f->set = 1;
}

static void set_item(video *v, int k, json_t *j)
{
    if (k < 0 || grow_items(v, k + 1)) return;
    assert(k < v->n_items);
    item_rec *it = &v->items[k];
    free(it->error);
    memset(it, 0, sizeof *it);
    if (!j) return;
    it->state = json_is_true(json_object_get(j, "ok")) ? IT_DONE : IT_FAILED;
    it->first = json_integer_value(json_object_get(j, "f"));
    it->n = (int)json_integer_value(json_object_get(j, "n"));
    it->decoded = (int)json_integer_value(json_object_get(j, "decoded"));
    it->deliveries = (int)json_integer_value(json_object_get(j, "d"));
    it->t_ms = json_number_value(json_object_get(j, "t"));
    it->dec_ms = json_number_value(json_object_get(j, "dec_ms"));
    const char *w = json_string_value(json_object_get(j, "w"));
    it->worker = (int16_t)(w ? intern(v->workers, &v->n_workers, MAX_WORKERS, w) : -1);
    const char *e = json_string_value(json_object_get(j, "error"));
    if (e) it->error = strdup(e);
}

void vd__agg_on_result(void *arg, const char *key, const void *val, size_t len)
{
    vd__agg *a = arg;
    pthread_mutex_lock(&a->mu);
    const char *dot = key ? strchr(key, '.') : NULL;
    if (!key) {
        a->res_ready = 1;
    } else if (dot && (dot[1] == 'f' || dot[1] == 'i') && dot[2] == '.') {
        video *v = find(a, key, (size_t)(dot - key), 1);
        json_t *j = val ? json_loadb(val, len, 0, NULL) : NULL;
        long long k = strtoll(dot + 3, NULL, 10);
        if (v && (!val || json_is_object(j))) {
            if (dot[1] == 'f')
                set_frame(v, k, j);
            else if (k < 1 << 24)
                set_item(v, (int)k, j);
        }
        json_decref(j);
    }
    pthread_mutex_unlock(&a->mu);
}

/* ---- statistics -------------------------------------------------------------------------- */

static const char *rec_str(const video *v, const char *k)
{
    return json_string_value(json_object_get(v->rec, k));
}

static json_int_t rec_int(const video *v, const char *k)
{
    return json_integer_value(json_object_get(v->rec, k));
}

typedef struct tally {
    int items_done, items_failed, items_total;
    int items_redelivered; /* done, but not on their first delivery */
    int64_t frames_failed;
    double last_t;
} tally;

static void count_items(const video *v, tally *t)
{
    memset(t, 0, sizeof *t);
    t->items_total = (int)rec_int(v, "items");
    for (int i = 0; i < v->n_items; i++) {
        const item_rec *it = &v->items[i];
        if (it->state == IT_NONE) continue;
        if (it->state == IT_DONE) t->items_done++, t->items_redelivered += it->deliveries > 1;
        if (it->state == IT_FAILED) t->items_failed++;
        if (it->t_ms > t->last_t) t->last_t = it->t_ms;
        for (int64_t f = it->first; it->state == IT_FAILED && f < it->first + it->n; f++)
            t->frames_failed += !(f < v->n_frames && v->frames[f].set);
    }
}

static int complete(const video *v, const tally *t)
{
    const char *st = rec_str(v, "state");
    return st && strcmp(st, "ingesting") && t->items_total > 0 &&
           t->items_done + t->items_failed >= t->items_total;
}

/* State as the API shows it: queued, running, done, failed. */
static const char *state_of(const video *v, const tally *t, int64_t processed)
{
    const char *st = rec_str(v, "state");
    if (!st) return "queued";
    if (!strcmp(st, "failed")) return "failed";
    if (complete(v, t)) return t->items_done ? "done" : "failed";
    if (!strcmp(st, "done")) return "done";
    return processed || t->items_done || t->items_failed ? "running" : "queued";
}

static int cmp_class(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t dx = json_integer_value(json_object_get(json_array_get(x, 1), "detections"));
    json_int_t dy = json_integer_value(json_object_get(json_array_get(y, 1), "detections"));
    if (dx != dy) return dx > dy ? -1 : 1;
    return strcmp(json_string_value(json_array_get(x, 0)), json_string_value(json_array_get(y, 0)));
}

static json_t *stats(const video *v)
{
    tally t;
    count_items(v, &t);
    int64_t processed = 0, detected = 0, n_exp = rec_int(v, "frames");
    double ms_sum = 0, dec_sum = 0;
    int64_t det[MAX_LABELS] = {0}, frames_with[MAX_LABELS] = {0}, maxin[MAX_LABELS] = {0};
    int64_t wframes[MAX_WORKERS] = {0}, witems[MAX_WORKERS] = {0};
    for (int64_t i = 0; i < v->n_frames; i++) {
        const frame_rec *f = &v->frames[i];
        if (!f->set) continue;
        processed++;
        if (!f->tracked) detected++, ms_sum += f->ms;
        if (f->worker >= 0) wframes[f->worker]++;
        for (int k = 0; k < f->nc; k++) {
            det[f->c[k].cls] += f->c[k].n;
            frames_with[f->c[k].cls]++;
            if (f->c[k].n > maxin[f->c[k].cls]) maxin[f->c[k].cls] = f->c[k].n;
        }
    }
    int64_t decoded = 0, undecodable = 0;
    json_t *failed = json_array();
    for (int i = 0; i < v->n_items; i++) {
        const item_rec *it = &v->items[i];
        if (it->state == IT_DONE) {
            dec_sum += it->dec_ms, decoded += it->decoded;
            if (it->decoded < it->n) undecodable += it->n - it->decoded;
            if (it->worker >= 0) witems[it->worker]++;
        }
        if (it->state == IT_FAILED)
            json_array_append_new(failed, json_pack("{s:i,s:I,s:i,s:s,s:i}", "item", i, "first",
                                                    (json_int_t)it->first, "frames", it->n, "error",
                                                    it->error ? it->error : "?", "deliveries",
                                                    it->deliveries));
    }
    /* classes, sorted by detections */
    json_t *rows[MAX_LABELS];
    int nr = 0;
    for (int c = 0; c < v->n_labels; c++)
        if (det[c] > 0)
            rows[nr++] = json_pack("[s,{s:I,s:I,s:I}]", v->labels[c], "detections",
                                   (json_int_t)det[c], "frames", (json_int_t)frames_with[c],
                                   "max_in_frame", (json_int_t)maxin[c]);
    qsort(rows, (size_t)nr, sizeof *rows, cmp_class);
    json_t *classes = json_object(), *top3 = json_array();
    for (int i = 0; i < nr; i++) {
        const char *l = json_string_value(json_array_get(rows[i], 0));
        json_object_set(classes, l, json_array_get(rows[i], 1));
        if (i < 3) json_array_append_new(top3, json_string(l));
        json_decref(rows[i]);
    }
    int pi = -1;
    for (int c = 0; c < v->n_labels; c++)
        if (!strcmp(v->labels[c], "person")) pi = c;
    json_t *workers = json_array();
    for (int w = 0; w < v->n_workers; w++)
        if (wframes[w] || witems[w])
            json_array_append_new(
                workers,
                json_pack("{s:s,s:I,s:I,s:f}", "name", v->workers[w], "frames",
                          (json_int_t)wframes[w], "items", (json_int_t)witems[w], "share",
                          processed ? round(1000.0 * wframes[w] / processed) / 1000 : 0.0));
    const char *state = state_of(v, &t, processed);
    double created = json_number_value(json_object_get(v->rec, "created_ms"));
    double done_ms = json_number_value(json_object_get(v->rec, "done_ms"));
    int fin = !strcmp(state, "done") || !strcmp(state, "failed");
    double end = done_ms > 0 ? done_ms : fin && t.last_t > 0 ? t.last_t : vd__epoch_ms();
    double wall = created > 0 && end > created ? (end - created) / 1e3 : 0;
    json_t *trunc = json_object_get(v->rec, "truncated_at");
    int res = (int)rec_int(v, "resolution");
    char resb[32];
    snprintf(resb, sizeof resb, res > 0 ? "%dp" : "native", res);
    json_t *o = json_pack(
        "{s:s,s:s,s:I,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:O,s:{s:i,s:i,s:i,s:i},s:o,s:f,s:f,s:f,s:f,s:o,"
        "s:I,s:I,s:i,s:o,s:o}",
        "video_id", v->id, "name", rec_str(v, "name") ? rec_str(v, "name") : "", "size",
        rec_int(v, "size"), "state", state, "model", rec_str(v, "model") ? rec_str(v, "model") : "",
        "resolution", resb, "frames_expected", (json_int_t)n_exp, "frames_processed",
        (json_int_t)processed, "frames_failed", (json_int_t)t.frames_failed, "frames_undecodable",
        (json_int_t)undecodable, "truncated_at", trunc ? trunc : json_null(), "items", "total",
        t.items_total, "done", t.items_done, "failed", t.items_failed, "redelivered",
        t.items_redelivered, "failed_items", failed, "avg_ms_per_frame",
        detected ? round(ms_sum / detected * 100) / 100 : 0.0, "decode_ms_per_frame",
        decoded ? round(dec_sum / decoded * 100) / 100 : 0.0, "wall_s", round(wall * 1000) / 1000,
        "fps", wall > 0 ? round(processed / wall * 100) / 100 : 0.0, "classes", classes,
        "person_detections", (json_int_t)(pi >= 0 ? det[pi] : 0), "person_max_in_frame",
        (json_int_t)(pi >= 0 ? maxin[pi] : 0), "n_classes", nr, "top3", top3, "workers", workers);
    if (o && rec_str(v, "error")) json_object_set(o, "error", json_object_get(v->rec, "error"));
    return o;
}

json_t *vd__agg_stats(vd__agg *a, const char *id)
{
    pthread_mutex_lock(&a->mu);
    video *v = find(a, id, strlen(id), 0);
    json_t *o = v && v->rec ? stats(v) : NULL;
    pthread_mutex_unlock(&a->mu);
    return o;
}

static int newest_first(const void *x, const void *y)
{
    double a = json_number_value(json_object_get((*(video *const *)x)->rec, "created_ms"));
    double b = json_number_value(json_object_get((*(video *const *)y)->rec, "created_ms"));
    return a < b ? 1 : a > b ? -1 : 0;
}

json_t *vd__agg_list(vd__agg *a)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&a->mu);
    video **order = malloc(sizeof *order * (size_t)(a->n ? a->n : 1));
    if (order && a->n) memcpy(order, a->v, sizeof *order * (size_t)a->n); /* a->v NULL at 0 */
    if (order) qsort(order, (size_t)a->n, sizeof *order, newest_first);
    for (int i = 0; order && i < a->n; i++) {
        video *v = order[i];
        if (!v->rec) continue;
        tally t;
        count_items(v, &t);
        int64_t processed = 0;
        for (int64_t k = 0; k < v->n_frames; k++) processed += v->frames[k].set;
        json_array_append_new(
            arr, json_pack("{s:s,s:s,s:s,s:I,s:I,s:I}", "video_id", v->id, "name",
                           rec_str(v, "name") ? rec_str(v, "name") : "", "state",
                           state_of(v, &t, processed), "frames_expected", rec_int(v, "frames"),
                           "frames_processed", (json_int_t)processed, "created_ms",
                           (json_int_t)json_number_value(json_object_get(v->rec, "created_ms"))));
    }
    free(order);
    pthread_mutex_unlock(&a->mu);
    return arr;
}

void vd__agg_forget(vd__agg *a, const char *id)
{
    pthread_mutex_lock(&a->mu);
    for (int i = 0; i < a->n; i++)
        if (!strcmp(a->v[i]->id, id)) {
            video_free(a->v[i]);
            a->v[i] = a->v[--a->n];
            break;
        }
    pthread_mutex_unlock(&a->mu);
}

int vd__agg_next_complete(vd__agg *a, char *id, size_t cap, json_t **final_record)
{
    *final_record = NULL;
    int found = 0;
    pthread_mutex_lock(&a->mu);
    for (int i = 0; i < a->n && !found; i++) {
        video *v = a->v[i];
        const char *st = rec_str(v, "state");
        if (!st || strcmp(st, "queued")) continue;
        tally t;
        count_items(v, &t);
        if (!complete(v, &t)) continue;
        json_t *r = json_deep_copy(v->rec);
        json_object_set_new(r, "state", json_string(t.items_done ? "done" : "failed"));
        json_object_set_new(r, "done_ms",
                            json_integer((json_int_t)(t.last_t > 0 ? t.last_t : vd__epoch_ms())));
        if (!t.items_done)
            json_object_set_new(r, "error", json_string("every item failed: see failed_items"));
        snprintf(id, cap, "%s", v->id);
        *final_record = r;
        found = 1;
    }
    pthread_mutex_unlock(&a->mu);
    return found;
}

int vd__agg_next_stale(vd__agg *a, char *id, size_t cap)
{
    int found = 0;
    double now = vd__epoch_ms();
    pthread_mutex_lock(&a->mu);
    for (int i = 0; i < a->n && !found; i++) {
        video *v = a->v[i];
        const char *st = rec_str(v, "state");
        if (v->local || !st || strcmp(st, "ingesting")) continue;
        double t = json_number_value(json_object_get(v->rec, "progress_ms"));
        double c = json_number_value(json_object_get(v->rec, "created_ms"));
        if (now - (t > c ? t : c) < STALE_MS) continue;
        snprintf(id, cap, "%s", v->id);
        found = 1;
    }
    pthread_mutex_unlock(&a->mu);
    return found;
}

int vd__agg_ready(vd__agg *a)
{
    pthread_mutex_lock(&a->mu);
    int r = a->meta_ready && a->res_ready;
    pthread_mutex_unlock(&a->mu);
    return r;
}

void vd__agg_mark_local(vd__agg *a, const char *id, int local)
{
    pthread_mutex_lock(&a->mu);
    video *v = find(a, id, strlen(id), local);
    if (v) v->local = local;
    pthread_mutex_unlock(&a->mu);
}
