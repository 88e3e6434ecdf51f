/*
 * vdag services: DNN stages of a DAG (face_detection, face_alignment, object_detection).
 *
 * A service is a static vtable (vd_service, like FFmpeg's AVFilter) plus a private
 * context of priv_size bytes; the registry lists them by name. An instance
 * (vd_svc_open) owns its context and its models. Inputs and outputs are JSON objects
 * (jansson): the frame comes separately. Every coordinate in outputs is in source-frame
 * pixels (frame->src_width x src_height), whatever resolution the frame was scaled to.
 *
 * Thread-safety: the registry is immutable. An instance is used by one thread at a
 * time; open one per worker thread.
 */
#ifndef VDAG_SVC_H
#define VDAG_SVC_H

#include <jansson.h>

#include "vdag/error.h"
#include "vdag/frame.h"

typedef struct vd_svc_opts {
    int threads;     /* nn threads (default 1) */
    float min_score; /* 0 = the service's default */
    float iou;       /* NMS IoU threshold, 0 = default */
} vd_svc_opts;

typedef struct vd_service {
    const char *name;
    const char *description;
    int n_models;                   /* model_id 0..n_models-1, 0 = largest */
    const char *const *model_names; /* cached model per model_id */
    const char *const *inputs;      /* required input args besides the image (NULL-terminated) */
    const char *const *outputs;     /* output fields (NULL-terminated) */
    int is_detector;                /* emits "bbox" from the image alone (trackable) */
    size_t priv_size;
    int (*open)(void *priv, int model_id, const vd_svc_opts *opts, vd_error *err);
    /* args: the stage's inputs by name (borrowed); *out: a new object (caller owns). */
    int (*process)(void *priv, const vd_frame *frame, json_t *args, json_t **out, vd_error *err);
    void (*close)(void *priv);
} vd_service;

const vd_service *vd_service_find(const char *name);
/* NULL-terminated list of every service. */
const vd_service *const *vd_service_all(void);

typedef struct vd_svc_instance vd_svc_instance;
int vd_svc_open(const char *name, int model_id, const vd_svc_opts *opts, vd_svc_instance **out,
                vd_error *err);
int vd_svc_process(vd_svc_instance *s, const vd_frame *frame, json_t *args, json_t **out,
                   vd_error *err);
const vd_service *vd_svc_service(const vd_svc_instance *s);
int vd_svc_model_id(const vd_svc_instance *s);
void vd_svc_close(vd_svc_instance *s);

/* COCO-80 label of a class index (0 = "person"), or "unknown". */
const char *vd_coco_label(int cls);

/* ---- helpers shared by services and the executor ---------------------------------- */

typedef struct vd_det {
    float x1, y1, x2, y2, score;
    int cls;
} vd_det;

float vd_iou(const vd_det *a, const vd_det *b);
/* Greedy NMS in place (sorted by score, per class unless agnostic); returns kept count. */
int vd_nms(vd_det *d, int n, float iou, int agnostic);

/* SORT-style tracker: IoU matching of detections to tracks, constant-velocity motion
 * between detections. Not thread-safe. */
typedef struct vd_tracker vd_tracker;
vd_tracker *vd_tracker_new(void);
void vd_tracker_free(vd_tracker *t);
/* A detection frame: match and update; ids[i] gets the track id of dets[i]. */
void vd_tracker_update(vd_tracker *t, const vd_det *dets, int n, int *ids);
/* A tracked frame: advance every live track one frame; fills up to cap boxes/ids. */
int vd_tracker_predict(vd_tracker *t, vd_det *out, int *ids, int cap);

#endif
