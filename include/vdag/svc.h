/*
 * vdag services: the DNN stages of a DAG (src/svc/registry.c lists them).
 *
 * A service is a static table (vd_service, like FFmpeg's AVFilter) plus a private
 * context of priv_size bytes; the registry lists them by name. The table says everything
 * the rest of vdag needs: its models, its typed inputs and outputs (the output schema,
 * with the boxes ntracking tracks), how to draw its output and how to make its inputs
 * for profiling. The core never tests a service's name. An instance
 * (vd_svc_open) owns its context and its models. Inputs and outputs are JSON objects (jansson): the
 * frame comes separately. Every coordinate in outputs is in source-frame pixels (frame->src_width x
 * src_height), whatever resolution the frame was scaled to.
 *
 * Adding a service: one file src/svc/NAME.c defining `const vd_service vd_svc_NAME`, one
 * row in registry.c; vd_service_check (run over the registry by tests/test_svc.c) checks
 * the table.
 *
 * Thread-safety: the registry is immutable. An instance is used by one thread at a
 * time; open one per worker thread.
 */
#ifndef VDAG_SVC_H
#define VDAG_SVC_H

#include <jansson.h>

#include "vdag/error.h"
#include "vdag/frame.h"
#include "vdag/media.h"
#include "vdag/nn.h"

typedef struct vd_svc_opts {
    int threads;      /* nn threads (default 1), of the model's own pool when pool is NULL */
    vd_nn_pool *pool; /* borrowed: the inference thread's pool, shared by its instances;
                         NULL: each model makes its own of `threads` */
    float min_score;  /* 0 = the service's default */
    float iou;        /* NMS IoU threshold, 0 = default */
    /* a cascade model (vdag/cascade.h): where its later units' workers are (NULL: in this
     * process, made by the instance), a request's timeout (0: 5000 ms) and whether a unit
     * that is down gives the deepest answer had (marked) instead of an error */
    struct vd_transport *transport;
    int cascade_timeout_ms;
    int cascade_fallback;
} vd_svc_opts;

/* A box in source pixels with its score and class (detections, tracks). */
typedef struct vd_det {
    float x1, y1, x2, y2, score;
    int cls;
} vd_det;

/* What a field of an input or output holds. The executor, DAG validation and tracking go
 * by these types, never by a field's name. "Per box" arrays run parallel to the boxes. */
typedef enum vd_field_type {
    VD_FT_BOXES = 1, /* [[x1,y1,x2,y2],…] in source pixels */
    VD_FT_SCORES,    /* [s,…] per box, 0..1 */
    VD_FT_CLASSES,   /* [int,…] per box: class index (named by the service's class_label) */
    VD_FT_LABELS,    /* ["person",…] per box */
    VD_FT_IDS,       /* [int,…] per box: track ids */
    VD_FT_POINTS, /* [[[x,y,…],…],…] per box: points in source pixels (landmarks, keypoints) */
    VD_FT_VECTORS, /* [[v,…],…] per box: numbers (e.g. head pose) */
    VD_FT_IMAGES,  /* [base64 JPEG,…] per box */
    VD_FT_COUNTS,  /* {name: integer}; a stage's "count_result" joins the step's counts */
    VD_FT_FLAG,    /* true / false */
    VD_FT_RECORDS, /* [{…},…]: per-frame records, not per box (zones, lines, events); the
                      service's documentation gives their keys */
    VD_FT_CONFIG,  /* input only: a literal JSON value given in the DAG itself (the stage's
                      input holds the value, not a "stage.field" reference), checked by the
                      service's check_config when the DAG is parsed */
} vd_field_type;

#define VD_FIELD_TRACK 1u /* output: the boxes ntracking tracks (at most one, of VD_FT_BOXES) */
#define VD_FIELD_OPTIONAL                                                                          \
    2u /* input: used when given (else required); output: not always there                         \
        */

typedef struct vd_svc_field {
    const char *name;
    vd_field_type type;
    unsigned flags; /* VD_FIELD_* */
} vd_svc_field;

typedef struct vd_service {
    const char *name;
    const char *description;
    int n_models;                   /* model_id 0..n_models-1, 0 = largest */
    const char *const *model_names; /* cached model per model_id */
    const char *const *inputs;      /* required input args besides the image (NULL-terminated;
                                       the names of in_schema's required fields, for listings) */
    const char *const *outputs;     /* output fields (NULL-terminated; out_schema's names) */
    int is_detector;                /* 1 iff out_schema has a VD_FIELD_TRACK field (ntracking
                                       skips the stage on tracked frames) */
    int stateful; /* 1: an instance keeps state across a job's frames (cumulative counts,
                     per-track memory), so the stage runs in the job's own executor: schedulers
                     never place it on another node, service hosts never pool its instances */
    /* Output schema: every field process() may emit ({NULL}-terminated). On a tracked frame the
     * executor writes the tracker's boxes back as the output (vd_service_tracked_output). */
    const vd_svc_field *out_schema;
    /* Inputs besides the image ({NULL}-terminated; required unless VD_FIELD_OPTIONAL). DAG
     * validation rejects a reference to a field of another type. The pipeline form wires a
     * required input from the nearest earlier stage that outputs a field of that name, and
     * optional ones from that same stage when it outputs them; a service whose inputs are
     * all optional gets them from the nearest earlier stage that outputs its first one. */
    const vd_svc_field *in_schema;
    /* Check the literal value of a VD_FT_CONFIG input `name` (borrowed) when a DAG is parsed:
     * 0, or VD_EINVAL whose message starts with `where` (the input's JSON path) and names the
     * bad field. Required when in_schema has a VD_FT_CONFIG input. */
    int (*check_config)(const char *name, json_t *value, const char *where, vd_error *err);
    /* Name of a class index (VD_FT_CLASSES); NULL if the service has no classes. */
    const char *(*class_label)(int cls);
    /* Profiling inputs (vd_kb_profile) of a service with required inputs, or with optional
     * ones and a profile_from (some of its models use them): the model-0 output, on the
     * frame, of the registered service named by profile_from, unless profile_args is set and
     * makes them itself (*args: a new object). */
    const char *profile_from;
    int (*profile_args)(const vd_frame *frame, const vd_svc_opts *opts, json_t **args,
                        vd_error *err);
    size_t priv_size;
    int (*open)(void *priv, int model_id, const vd_svc_opts *opts, vd_error *err);
    /* args: the stage's inputs by name (borrowed); *out: a new object (caller owns). */
    int (*process)(void *priv, const vd_frame *frame, json_t *args, json_t **out, vd_error *err);
    void (*close)(void *priv);
    /* Draw an output (borrowed; coordinates in source pixels) onto the canvas of frame f (f's
     * own pixels: scale by f->width / f->src_width). NULL: nothing drawn. */
    void (*render)(vd_canvas *cv, const vd_frame *f, json_t *out);
    /* 1: a call in the seed's JSON form (POST /execute_task/<service>) also returns the frame
     * with this output drawn on it, as "image" (the seed's face_alignment did). */
    int returns_image;
} vd_service;

const vd_service *vd_service_find(const char *name);
/* NULL-terminated list of every service. */
const vd_service *const *vd_service_all(void);
/* "face_detection, face_alignment, …": every service name into buf (truncated to n), for
 * messages; returns buf. */
const char *vd_service_names(char *buf, size_t n);
/* Is the table complete and consistent (names, models, schemas and their lists, tracking,
 * profiling)?
 * VD_EINVAL naming the service and the field that is wrong. */
int vd_service_check(const vd_service *svc, vd_error *err);

/* The frame f (borrowed, not changed) with output `out` drawn on it by svc->render and its
 * count_result written in a corner, as a JPEG (*jpeg malloc'd). */
int vd_service_render_jpeg(const vd_service *svc, const vd_frame *f, json_t *out, int quality,
                           unsigned char **jpeg, size_t *len, vd_error *err);

/* "boxes", "scores", …: a field type's name for messages ("?" if none). */
const char *vd_field_type_name(vd_field_type t);
/* Schema look-ups: the field of that name, or NULL. */
const vd_svc_field *vd_service_output(const vd_service *svc, const char *name);
const vd_svc_field *vd_service_input(const vd_service *svc, const char *name);
/* The tracked boxes (up to cap) of an output: boxes from the VD_FIELD_TRACK field, the score
 * and class of each from the first VD_FT_SCORES / VD_FT_CLASSES field (0 when absent).
 * Returns the count (0 if the service tracks nothing). */
int vd_service_track_input(const vd_service *svc, json_t *out, vd_det *d, int cap);
/* The output of a tracked frame (a new object): the VD_FIELD_TRACK field gets the boxes,
 * every VD_FT_SCORES / VD_FT_CLASSES field their scores / classes, and with a class_label
 * every VD_FT_LABELS field their labels and every VD_FT_COUNTS field {label: boxes}. Other
 * fields are left out. */
json_t *vd_service_tracked_output(const vd_service *svc, const vd_det *d, int n);
/* A service's profiling inputs for each of n frames (args[i] for frames[i], new objects, all
 * NULL when it needs none): see profile_from. VD_EUNSUPP when they cannot be made (args are
 * then all NULL). */
int vd_svc_profile_args(const vd_service *svc, vd_frame *const *frames, int n,
                        const vd_svc_opts *opts, json_t **args, vd_error *err);
/* 1 if profiling gives svc inputs: some are required, or they are all optional but the table
 * says where to get them (pose_estimation: boxes for its per-crop models). */
int vd_svc_profiled_with_inputs(const vd_service *svc);

/* Where a model this process lacks comes from: a node with a cluster sets a fetcher once
 * (src/node/models.c fetches from a cloud); vd_svc_open then calls fn(arg, name, err) for
 * a model whose file is not in the cache, and loads it if fn returns 0 (fn writes
 * <cache>/models/<name>.json and its shards). fn may be called from any thread at once.
 * NULL: a missing model fails to open (VD_ENOTFOUND from the loader). Process-wide. */
typedef int (*vd_model_fetch_fn)(void *arg, const char *name, vd_error *err);
void vd_svc_set_model_fetcher(vd_model_fetch_fn fn, void *arg);

typedef struct vd_svc_instance vd_svc_instance;
int vd_svc_open(const char *name, int model_id, const vd_svc_opts *opts, vd_svc_instance **out,
                vd_error *err);
int vd_svc_process(vd_svc_instance *s, const vd_frame *frame, json_t *args, json_t **out,
                   vd_error *err);
const vd_service *vd_svc_service(const vd_svc_instance *s);
/* A cascade model's exit band of unit 0 (the plan's exit_lo / exit_hi; lo == hi == 0: the
 * model's own); 0 and nothing done for a plain model. */
int vd_svc_set_exit(vd_svc_instance *s, float lo, float hi, vd_error *err);
int vd_svc_model_id(const vd_svc_instance *s);
void vd_svc_close(vd_svc_instance *s);

/* COCO-80 label of a class index (0 = "person"), or "unknown". */
const char *vd_coco_label(int cls);

/* ---- helpers shared by services and the executor ---------------------------------- */

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
