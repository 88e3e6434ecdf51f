/*
 * vdag DAGs: the seed's {generator, flow, input} and the short form {"pipeline":[…]};
 * validation with JSON-path errors; an executor that runs the flow per frame.
 *
 * Ownership: vd_dag owns its strings; vd_exec owns its service instances and trackers
 * and borrows the vd_dag (keep it alive). Results are new JSON objects owned by the
 * caller. Thread-safety: a vd_exec is used by one thread at a time.
 */
#ifndef VDAG_DAG_H
#define VDAG_DAG_H

#include <jansson.h>

#include "vdag/error.h"
#include "vdag/frame.h"
#include "vdag/svc.h"

#define VD_DAG_MAX_ARGS 8

typedef enum vd_generator { VD_GEN_SINGLE_FRAME = 0, VD_GEN_CLIP = 1 } vd_generator;

typedef struct vd_dag_arg {
    char *name;    /* argument of the stage ("bbox") */
    char *stage;   /* producing stage or the generator ("face_detection"); NULL for a value */
    char *field;   /* its output field ("bbox"); NULL for a value */
    json_t *value; /* a config input (VD_FT_CONFIG): the literal value given in the DAG (owned,
                      checked by the service's check_config); NULL for a reference */
} vd_dag_arg;

typedef struct vd_dag_stage {
    char *name; /* the service name; unique in a DAG */
    const vd_service *svc;
    int n_args;
    vd_dag_arg args[VD_DAG_MAX_ARGS];
} vd_dag_stage;

typedef struct vd_dag {
    vd_generator generator;
    int clip_len; /* ClipGenerator: frames per step (default 4) */
    int n_stages;
    vd_dag_stage *stages; /* in flow order, generator excluded */
} vd_dag;

/* Parse and validate. `where` prefixes JSON paths in messages (e.g. "dag" or a file name).
 * Errors name the path of the bad field: unknown service or generator, an input from a
 * stage not earlier in the flow, a field that stage does not output (per its service's
 * out_schema; tracked stages also have track_ids and tracked) or one of another type than
 * the input takes, a missing required input, a duplicate stage, a cycle. A config input
 * (VD_FT_CONFIG) holds its value itself, checked by its service's check_config. */
int vd_dag_from_json(json_t *j, const char *where, vd_dag **out, vd_error *err);
int vd_dag_parse(const char *text, const char *where, vd_dag **out, vd_error *err);
/* Expand a comma-separated pipeline ("face_detection,face_alignment"). */
int vd_dag_from_pipeline(const char *csv, vd_dag **out, vd_error *err);
/* The seed form of a DAG (new reference). */
json_t *vd_dag_to_json(const vd_dag *d);
void vd_dag_free(vd_dag *d);

typedef struct vd_exec_opts {
    int model_id[16]; /* per stage index; 0 = largest */
    int threads;      /* nn threads of the executor's pool, shared by all its stages */
    int ntracking;    /* frames tracked between detections */
    /* cascade models (vdag/cascade.h): the bus their later units' workers are on (borrowed;
     * NULL: in this process), a request's timeout (0: 5000 ms), and a unit that is down giving
     * the deepest answer had (marked "fallback") instead of failing the step */
    struct vd_transport *transport;
    int cascade_timeout_ms;
    int cascade_fallback;
} vd_exec_opts;

typedef struct vd_exec vd_exec;
int vd_exec_new(const vd_dag *d, const vd_exec_opts *o, vd_exec **out, vd_error *err);
/* Run the flow on one step's frames (1 for SingleFrameGenerator, clip_len for a clip).
 * *result gets the seed's appended_result fields: n_loop, cam_frame_id, delay
 * {stage: s}, total_frame_delay, count_result, tracked, and "stages" {stage: output}.
 * For clips, per-frame results are under "clip". */
int vd_exec_step(vd_exec *e, vd_frame *const *frames, int n, json_t **result, vd_error *err);
/* Change ntracking or a stage's model at run time (re-opens the service). */
int vd_exec_set_model(vd_exec *e, int stage, int model_id, vd_error *err);
void vd_exec_set_ntracking(vd_exec *e, int ntracking);
/* A cascade stage's exit band of its first unit (a plan's exit_lo / exit_hi; 0, 0: the
 * model's own). Nothing for a plain model. */
int vd_exec_set_exit(vd_exec *e, int stage, float lo, float hi, vd_error *err);
/* Run stage `stage` through fn instead of the local instance (NULL: local again). fn gets
 * the stage's current model id, the frame and its arguments (borrowed) and returns a new
 * output object in *out; it is timed as the stage's delay (transfers included). fn may also
 * return 0 with *out left NULL: the local instance then runs the stage for this frame (a
 * remote node that is not answering), still timed as the stage's delay. */
typedef int (*vd_stage_remote_fn)(void *arg, int stage, int model_id, const vd_frame *f,
                                  json_t *args, json_t **out, vd_error *err);
int vd_exec_set_remote(vd_exec *e, int stage, vd_stage_remote_fn fn, void *arg);
int vd_exec_model_id(const vd_exec *e, int stage);
/* Draw a step's result (boxes, labels, landmarks, counts, delays) onto frame f. */
void vd_render_result(vd_frame *f, json_t *res);
void vd_exec_free(vd_exec *e);

#endif
