/*
 * Ingest: from a probed file to queued work. The record goes first (state "ingesting", so a
 * crash half-way is recognised and cleaned up by the janitor), then each segment's chunks
 * and its items as the file is read (workers can start on the first segment while the rest is
 * still being split), then the record again with the frame and item counts (state "queued").
 * Also the job options, the item format and small helpers shared by src/batch.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "batch/batch_internal.h"
#include "vdag/base.h"
#include "vdag/media.h"
#include "vdag/svc.h"

#define CHUNK_MAX         ((size_t)1 << 20) /* segment chunks: at most 1 MiB per KV value */
#define PROGRESS_EVERY_MS 5000

/* ---- job options ------------------------------------------------------------------------- */

void vd_batch_job_defaults(vd_batch_job_opts *jo)
{
    memset(jo, 0, sizeof *jo);
    jo->model_id = 1; /* nanodet: the faster of the two, and the benchmark's */
}

static int parse_num(const char *key, const char *val, double lo, double hi, double *out,
                     vd_error *err)
{
    char *end;
    double v = strtod(val, &end);
    if (end == val || *end || !(v >= lo && v <= hi))
        return vd_fail(err, VD_EINVAL, "option %s=%s: expected a number from %g to %g", key, val,
                       lo, hi);
    *out = v;
    return 0;
}

int vd_batch_job_opt(vd_batch_job_opts *jo, const char *key, const char *val, vd_error *err)
{
    double v;
    if (!val) val = "";
    if (!strcmp(key, "model")) {
        const vd_service *s = vd_service_find("object_detection");
        for (int i = 0; s && i < s->n_models; i++)
            if (!strcmp(val, s->model_names[i]) || (val[0] == '0' + i && !val[1])) {
                jo->model_id = i;
                return 0;
            }
        return vd_fail(err, VD_EINVAL, "option model=%s: expected nanodet, centernet, 0 or 1", val);
    }
    if (!strcmp(key, "resolution")) {
        int h = vd_resolution_parse(val);
        if (h < 0)
            return vd_fail(err, VD_EINVAL,
                           "option resolution=%s: expected 360p, 480p, 720p, 1080p or native", val);
        jo->resolution_h = h;
        return 0;
    }
    if (!strcmp(key, "name")) {
        snprintf(jo->name, sizeof jo->name, "%s", val);
        return 0;
    }
    int rc = 0;
    if (!strcmp(key, "min_score")) {
        if (!(rc = parse_num(key, val, 0, 1, &v, err))) jo->min_score = v;
    } else if (!strcmp(key, "iou")) {
        if (!(rc = parse_num(key, val, 0, 1, &v, err))) jo->iou = v;
    } else if (!strcmp(key, "ntracking")) {
        if (!(rc = parse_num(key, val, 0, 1000, &v, err))) jo->ntracking = (int)v;
    } else if (!strcmp(key, "item_frames")) {
        if (!(rc = parse_num(key, val, 1, 100000, &v, err))) jo->item_frames = (int)v;
    } else if (!strcmp(key, "frames")) {
        if (!(rc = parse_num(key, val, 0, 1e12, &v, err))) jo->max_frames = (int64_t)v;
    } else {
        return vd_fail(err, VD_ENOTFOUND, "unknown option %s", key);
    }
    return rc;
}

/* ---- items ------------------------------------------------------------------------------- */

json_t *vd__item_json(const vd__item *it)
{
    return json_pack("{s:s,s:i,s:i,s:I,s:i,s:I,s:i,s:i,s:i,s:f,s:f,s:i}", "v", it->video, "i",
                     it->item, "s", it->seg, "sf", (json_int_t)it->seg_first, "sc", it->seg_chunks,
                     "f", (json_int_t)it->first, "n", it->n, "m", it->model_id, "r",
                     it->resolution_h, "ms", it->min_score, "iou", it->iou, "nt", it->ntracking);
}

int vd__item_parse(const unsigned char *data, size_t len, vd__item *it, vd_error *err)
{
    memset(it, 0, sizeof *it);
    json_error_t je;
    json_t *j = json_loadb((const char *)data, len, 0, &je);
    const char *v = NULL;
    json_int_t sf = 0, f = 0;
    int bad = !j || json_unpack(j, "{s:s,s:i,s:i,s:I,s:i,s:I,s:i,s:i,s:i,s:F,s:F,s:i}", "v", &v,
                                "i", &it->item, "s", &it->seg, "sf", &sf, "sc", &it->seg_chunks,
                                "f", &f, "n", &it->n, "m", &it->model_id, "r", &it->resolution_h,
                                "ms", &it->min_score, "iou", &it->iou, "nt", &it->ntracking);
    if (!bad && (strlen(v) != VD_BATCH_ID_LEN || !vd__key_ok(v) || it->n <= 0 || f < sf ||
                 it->seg_chunks <= 0))
        bad = 1;
    if (!bad) snprintf(it->video, sizeof it->video, "%s", v);
    it->seg_first = sf, it->first = f;
    json_decref(j);
    return bad ? vd_fail(err, VD_EFORMAT, "malformed work item (%zu bytes)", len) : 0;
}

/* ---- ingest ------------------------------------------------------------------------------ */

typedef struct ingest {
    vd_queue *q;
    const char *vid;
    const vd_batch_job_opts *jo;
    json_t *rec;
    int item_frames, items, segs;
    size_t chunk;
    double last_progress;
} ingest;

static int put_record(vd_queue *q, const char *vid, json_t *rec, vd_error *err)
{
    char *s = json_dumps(rec, JSON_COMPACT);
    if (!s) return vd_fail(err, VD_ENOMEM, "out of memory");
    int rc = q->ops->kv_put(q, VD_KV_META, vid, s, strlen(s), err);
    free(s);
    return rc;
}

static int on_segment(void *arg, int seg, int64_t first, int n, const void *blob, size_t len,
                      vd_error *err)
{
    ingest *g = arg;
    vd_queue *q = g->q;
    int chunks = (int)((len + g->chunk - 1) / g->chunk);
    char key[128];
    for (int c = 0; c < chunks; c++) {
        size_t off = (size_t)c * g->chunk, l = len - off < g->chunk ? len - off : g->chunk;
        snprintf(key, sizeof key, "%s.s%d.%d", g->vid, seg, c);
        int rc = q->ops->kv_put(q, VD_KV_BLOBS, key, (const char *)blob + off, l, err);
        if (rc) return rc;
    }
    for (int k = 0; k < n; k += g->item_frames) {
        vd__item it = {.item = g->items,
                       .seg = seg,
                       .seg_chunks = chunks,
                       .seg_first = first,
                       .first = first + k,
                       .n = n - k < g->item_frames ? n - k : g->item_frames,
                       .model_id = g->jo->model_id,
                       .resolution_h = g->jo->resolution_h,
                       .ntracking = g->jo->ntracking,
                       .min_score = g->jo->min_score,
                       .iou = g->jo->iou};
        snprintf(it.video, sizeof it.video, "%s", g->vid);
        json_t *j = vd__item_json(&it);
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        snprintf(key, sizeof key, "%s.%d", g->vid, g->items);
        int rc = s ? q->ops->push(q, g->vid, key, s, strlen(s), err)
                   : vd_fail(err, VD_ENOMEM, "out of memory");
        free(s);
        if (rc) return rc;
        g->items++;
    }
    g->segs = seg + 1;
    double now = vd_now_ms();
    if (now - g->last_progress > PROGRESS_EVERY_MS) { /* "still ingesting", for the janitor */
        g->last_progress = now;
        json_object_set_new(g->rec, "progress_ms", json_integer((json_int_t)vd__epoch_ms()));
        json_object_set_new(g->rec, "items", json_integer(g->items));
        return put_record(q, g->vid, g->rec, err);
    }
    return 0;
}

int vd__ingest(vd_queue *q, const char *vid, const char *path, const vd__probe_info *pi,
               const vd_batch_job_opts *jo, int item_frames, json_t **record, vd_error *err)
{
    *record = NULL;
    struct stat sb;
    long long size = stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
    const vd_service *svc = vd_service_find("object_detection");
    int item_n = jo->item_frames > 0 ? jo->item_frames
                 : item_frames > 0   ? item_frames
                                     : VD_BATCH_ITEM_FRAMES;
    json_t *nm = json_string(jo->name);
    if (!nm) { /* not UTF-8: keep it readable, it is only a label */
        char clean[sizeof jo->name];
        size_t i = 0;
        for (; jo->name[i] && i + 1 < sizeof clean; i++)
            clean[i] = (unsigned char)jo->name[i] < 0x20 || (unsigned char)jo->name[i] > 0x7e
                           ? '?'
                           : jo->name[i];
        clean[i] = 0;
        nm = json_string(clean);
    }
    json_t *rec = json_pack(
        "{s:s,s:o,s:I,s:I,s:s,s:i,s:s,s:i,s:f,s:f,s:i,s:i,s:I,s:s,s:s,s:i,s:i,s:f,s:I}", "id", vid,
        "name", nm, "size", (json_int_t)size, "created_ms", (json_int_t)vd__epoch_ms(), "state",
        "ingesting", "model_id", jo->model_id, "model",
        svc && jo->model_id < svc->n_models ? svc->model_names[jo->model_id] : "?", "resolution",
        jo->resolution_h, "min_score", jo->min_score, "iou", jo->iou, "ntracking", jo->ntracking,
        "item_frames", item_n, "max_frames", (json_int_t)jo->max_frames, "codec", pi->codec,
        "container", pi->format, "width", pi->width, "height", pi->height, "fps", pi->fps,
        "header_frames", (json_int_t)pi->header_frames);
    if (!rec) return vd_fail(err, VD_ENOMEM, "out of memory");
    size_t chunk = q->ops->max_value(q);
    ingest g = {.q = q,
                .vid = vid,
                .jo = jo,
                .rec = rec,
                .item_frames = item_n,
                .chunk = chunk < CHUNK_MAX ? chunk : CHUNK_MAX,
                .last_progress = vd_now_ms()};
    int64_t frames = 0;
    int rc = put_record(q, vid, rec, err);
    if (!rc) rc = vd__segment_file(path, jo->max_frames, item_n, on_segment, &g, &frames, err);
    if (!rc && frames == 0)
        rc = vd_fail(err, VD_EFORMAT,
                     "%s: no frame could be read from its video stream (empty or damaged)",
                     jo->name[0] ? jo->name : path);
    if (rc) {
        vd_error e2;
        vd__purge_video(q, vid, &e2);
        json_decref(rec);
        return rc;
    }
    json_object_set_new(rec, "state", json_string("queued"));
    json_object_set_new(rec, "frames", json_integer(frames));
    json_object_set_new(rec, "items", json_integer(g.items));
    json_object_set_new(rec, "segments", json_integer(g.segs));
    int truncated = pi->header_frames > frames && (jo->max_frames <= 0 || frames < jo->max_frames);
    json_object_set_new(rec, "truncated_at", truncated ? json_integer(frames) : json_null());
    json_object_del(rec, "progress_ms");
    if ((rc = put_record(q, vid, rec, err))) {
        vd_error e2;
        vd__purge_video(q, vid, &e2);
        json_decref(rec);
        return rc;
    }
    *record = rec;
    return 0;
}

int vd__purge_video(vd_queue *q, const char *vid, vd_error *err)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s.", vid);
    /* the record first: a worker that gets one of its items now sees the video is gone */
    int rc = q->ops->kv_del(q, VD_KV_META, vid, err);
    int r2 = q->ops->purge(q, vid, err);
    int r3 = q->ops->kv_purge(q, VD_KV_RESULTS, prefix, err);
    int r4 = q->ops->kv_purge(q, VD_KV_BLOBS, prefix, err);
    return rc ? rc : r2 ? r2 : r3 ? r3 : r4;
}
