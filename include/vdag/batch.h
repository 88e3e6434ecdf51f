/*
 * vdag batch: object detection over uploaded videos (seed 003). A video is stored under the
 * data dir, split into segments (whole GOPs, copied without decoding) and queued as work
 * items, each a range of frames; workers anywhere pull items, decode their segment, detect
 * with object_detection and store one result per (video, frame) before they ack; the server
 * aggregates the statistics from what is stored, so a restarted server (or a restarted
 * nats-server) completes a video with exact numbers. docs/batch.md has the design.
 *
 * The same code runs on the in-process queue (embedded default) and on JetStream
 * (include/vdag/queue.h); vd_batch is the API side, vd_worker the worker side.
 *
 * Ownership: vd_batch and vd_worker borrow their queue (it must outlive them); JSON handed
 * out is a new reference the caller owns.
 * Thread-safety: every function may be called from any thread; HTTP handlers run
 * concurrently.
 */
#ifndef VDAG_BATCH_H
#define VDAG_BATCH_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "vdag/error.h"
#include "vdag/net.h"
#include "vdag/queue.h"

/* What to do with one video (the upload's query string, or `vdag batch submit` flags). */
typedef struct vd_batch_job_opts {
    int model_id;     /* object_detection model: 0 centernet, 1 nanodet (the default) */
    int resolution_h; /* frames scaled to this height first, as `vdag run --resolution`; 0 native */
    double min_score; /* 0: the model's default */
    double iou;       /* NMS IoU, 0: default */
    int ntracking;    /* frames tracked between detections, within an item (0: detect all) */
    int item_frames;  /* frames per work item, 0: the server's (25) */
    int64_t max_frames; /* only the first N frames (0: all), as `vdag run --frames` */
    char name[256];     /* the client's file name: metadata only, never a path */
} vd_batch_job_opts;

void vd_batch_job_defaults(vd_batch_job_opts *jo);
/* Set one option by its query-string name: model (nanodet|centernet|0|1), resolution (480p,
 * native, …), min_score, iou, ntracking, item_frames, frames, name. VD_EINVAL names the
 * option and the values it takes; VD_ENOTFOUND for an unknown key. */
int vd_batch_job_opt(vd_batch_job_opts *jo, const char *key, const char *val, vd_error *err);

typedef struct vd_batch_opts {
    vd_queue *q;                   /* borrowed */
    const char *data_dir;          /* uploads go to <data_dir>/<id>/; default $VDAG_CACHE/batch */
    unsigned long long max_upload; /* bytes, enforced while the body streams; default 2 GiB */
    int item_frames;               /* default frames per item (25) */
} vd_batch_opts;

typedef struct vd_batch vd_batch;

/* Start the API side: watch the queue's META and RESULTS buckets (rebuilding every video's
 * state from them: a restarted server carries on), and a janitor thread that finalises
 * complete videos (record "done", segments dropped) and fails uploads a crash interrupted. */
int vd_batch_new(const vd_batch_opts *o, vd_batch **out, vd_error *err);
/* POST /videos (a raw body, Content-Type video/... or application/octet-stream, or
 * multipart/form-data with a `file` field; options in the query string), GET /videos, GET
 * /videos/<id>, GET /videos/<id>/frames, DELETE /videos/<id>. Returns the routes written (at most
 * cap). */
int vd_batch_routes(vd_batch *b, vd_http_route *r, int cap);
/* Queue a local file without HTTP (the embedded `vdag batch submit`): probe, segment, queue.
 * *reply gets {"video_id","frames","state","items"}. */
int vd_batch_submit(vd_batch *b, const char *path, const vd_batch_job_opts *jo, json_t **reply,
                    vd_error *err);
/* The statistics of a video (as GET /videos/<id>); VD_ENOTFOUND if there is none. */
int vd_batch_get(vd_batch *b, const char *id, json_t **out, vd_error *err);
json_t *vd_batch_list(vd_batch *b);
/* Per-frame results {"frames":[{"f","labels","scores","bbox",…},…]} read from the queue. */
int vd_batch_frames(vd_batch *b, const char *id, json_t **out, vd_error *err);
/* Remove the file, its queued items, results, segments and record. */
int vd_batch_delete(vd_batch *b, const char *id, vd_error *err);
void vd_batch_free(vd_batch *b);

/* ---- workers --------------------------------------------------------------------------- */

typedef struct vd_worker_opts {
    vd_queue *q;       /* borrowed */
    int threads;       /* worker threads, each with its own model instances; default 1 */
    int nn_threads;    /* threads per model instance; default 1 */
    const char *name;  /* reported with each result; default host:pid */
    int preload_model; /* load this object_detection model at start; -1: on first use */
    /* fault injection for tests: items holding fail_frame fail (fail_on), items holding
     * crash_frame kill the process with SIGKILL (crash_on) */
    int fail_on, crash_on;
    int64_t fail_frame, crash_frame;
    int verbose; /* one line per item on stderr */
} vd_worker_opts;

typedef struct vd_worker vd_worker;
int vd_worker_start(const vd_worker_opts *o, vd_worker **out, vd_error *err);
/* This worker's share so far: {"name","items","frames","failed","dead_lettered","model_ms"}. */
json_t *vd_worker_share(vd_worker *w);
/* Stop after the items in hand: finished items are acked; an interrupted one is left to
 * redelivery. Frees w. */
void vd_worker_stop(vd_worker *w);

/* ---- client and output ------------------------------------------------------------------ */

/* Upload `path` to server (http://HOST:PORT) as a raw body streamed from disk, with the job
 * options in the query string. Any HTTP status returns 0 (*http_status, *reply the JSON). */
int vd_batch_upload(const char *server, const char *token, const char *path,
                    const vd_batch_job_opts *jo, long *http_status, json_t **reply, vd_error *err);
/* The statistics as a readable table, then in the seed's format ("Processed frames: 431" …). */
void vd_batch_print_stats(FILE *f, json_t *stats);
/* One line per video of a GET /videos answer. */
void vd_batch_print_list(FILE *f, json_t *list);

#endif
