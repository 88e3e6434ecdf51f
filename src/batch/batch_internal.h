/*
 * Private to src/batch: the segment format, the segment decoder, ingest, the per-video
 * aggregator and the key layout shared by the server and the workers.
 *
 * Keys (see docs/batch.md):
 *   META     <video>                 the video's record (JSON)
 *   RESULTS  <video>.f.<frame>       one frame's detections (JSON)
 *            <video>.i.<item>        an item's outcome: done or failed (JSON)
 *   BLOBS    <video>.s<seg>.<chunk>  a segment (packets of one GOP), in chunks
 * Work items are on group <video>; dead letters on vdag.dead.<video>.
 */
#ifndef VDAG_BATCH_INTERNAL_H
#define VDAG_BATCH_INTERNAL_H

#include <assert.h>
#include <jansson.h>
#include <stdint.h>

#include "vdag/batch.h"
#include "vdag/frame.h"
#include "vdag/queue.h"

#define VD_BATCH_ACK_WAIT_MS 30000
#define VD_BATCH_MAX_DELIVER 5
#define VD_BATCH_ITEM_FRAMES 25
#define VD_BATCH_ID_LEN      16 /* hex digits of a video id */

/* A KV key: tokens of [A-Za-z0-9_-] joined by single dots, 1..200 bytes. */
int vd__key_ok(const char *k);
/* mkdir -p */
int vd__mkdirs(const char *dir, vd_error *err);
/* Wall-clock milliseconds since the epoch (timestamps shared between machines). */
double vd__epoch_ms(void);

/* ---- segments: the packets of one GOP, decodable on their own ------------------------- */

/* What the upload check and ingest learn of a file. */
typedef struct vd__probe_info {
    int width, height;
    double fps;
    int64_t header_frames; /* frame count the container claims (0: unknown) */
    char codec[32], format[32];
} vd__probe_info;

/* Open `path` with FFmpeg: VD_EFORMAT when it is not a media file FFmpeg reads, VD_EUNSUPP
 * when it has no video stream or no decoder; err says which, naming `name` (the client's). */
int vd__probe(const char *path, const char *name, vd__probe_info *info, vd_error *err);

/* Called by vd__segment_file for each segment: its index, first frame, frames and blob
 * (borrowed for the call). Return <0 to stop. */
typedef int (*vd__seg_fn)(void *arg, int seg, int64_t first, int n, const void *blob, size_t len,
                          vd_error *err);
/* Split the video stream of `path` into segments at keyframes, copying packets (no decoding),
 * stopping after max_frames packets (0: all) or at the first read error (a truncated file);
 * *frames gets the packet (= frame) count. A new segment starts at each keyframe once the
 * current one has at least min_frames packets (one segment per GOP for min_frames 1). */
int vd__segment_file(const char *path, int64_t max_frames, int min_frames, vd__seg_fn fn, void *arg,
                     int64_t *frames, vd_error *err);

/* Decodes a segment blob: frames in display order, numbered from the segment's first frame,
 * converted to RGB24 exactly as vd_source does (so results equal `vdag run`'s). */
typedef struct vd__segdec vd__segdec;
/* Takes ownership of blob (malloc'd). resolution_h as vd_video_conf's (0 native). */
int vd__segdec_open(unsigned char *blob, size_t len, int resolution_h, vd__segdec **out,
                    vd_error *err);
/* The next frame: *out NULL (skip: decoded, not converted) unless convert; *index its number
 * within the segment. VD_EEOF after the last. */
int vd__segdec_next(vd__segdec *d, int convert, vd_frame **out, int64_t *index, vd_error *err);
void vd__segdec_free(vd__segdec *d);

/* ---- the video record and work items -------------------------------------------------- */

typedef struct vd__item {
    char video[VD_BATCH_ID_LEN + 1];
    int item, seg, seg_chunks;
    int64_t seg_first, first;
    int n;
    int model_id, resolution_h, ntracking;
    double min_score, iou;
} vd__item;

json_t *vd__item_json(const vd__item *it);
int vd__item_parse(const unsigned char *data, size_t len, vd__item *it, vd_error *err);

/* Ingest a file already checked with vd__probe: write the record (state "ingesting"),
 * store the segments, push one item per range of at most item_frames frames, then mark the
 * record "queued". *record gets the final record (a new reference). On failure everything
 * written is removed again. */
int vd__ingest(vd_queue *q, const char *video_id, const char *path, const vd__probe_info *pi,
               const vd_batch_job_opts *jo, int item_frames, json_t **record, vd_error *err);
/* Remove everything a video has in the queue: items, dead letters, results, blobs, record. */
int vd__purge_video(vd_queue *q, const char *video_id, vd_error *err);

/* ---- the aggregator: per-video state rebuilt from the META and RESULTS buckets --------- */

typedef struct vd__agg vd__agg;
vd__agg *vd__agg_new(void);
void vd__agg_free(vd__agg *a);
/* Watch callbacks (vd_kv_fn) for META and RESULTS. */
void vd__agg_on_meta(void *agg, const char *key, const void *val, size_t len);
void vd__agg_on_result(void *agg, const char *key, const void *val, size_t len);
/* The statistics of one video (GET /videos/<id>), or NULL if unknown. */
json_t *vd__agg_stats(vd__agg *a, const char *video_id);
/* A summary per video, newest first. */
json_t *vd__agg_list(vd__agg *a);
/* Forget a video (after DELETE). */
void vd__agg_forget(vd__agg *a, const char *video_id);
/* A video whose items are all done or failed but whose record does not say so yet: copies its
 * id into id and returns 1 (the janitor then finalises it), else 0. */
int vd__agg_next_complete(vd__agg *a, char *id, size_t cap, json_t **final_record);
/* Videos still "ingesting" with no upload in this process: interrupted uploads. */
int vd__agg_next_stale(vd__agg *a, char *id, size_t cap);
/* 1 once both watches have replayed their bucket. */
int vd__agg_ready(vd__agg *a);
void vd__agg_mark_local(vd__agg *a, const char *video_id, int local);

#endif
