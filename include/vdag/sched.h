/*
 * vdag schedulers: the plan (video_conf + flow_mapping), the knowledge base of profiled
 * stage costs, and the schedulers behind one function-pointer interface.
 *
 * A scheduler instance belongs to one job: vd_sched_new gives it priv_size bytes of
 * zeroed state that lives as long as the job, so a controller keeps its state from one
 * re-plan to the next. Plans and inputs are plain values (no pointers inside a plan).
 * Thread-safety: the registry is immutable; a vd_sched is used by one thread at a time;
 * a vd_kb is internally locked (profiling may fill it while schedulers read it).
 */
#ifndef VDAG_SCHED_H
#define VDAG_SCHED_H

#include <jansson.h>

#include "vdag/dag.h"
#include "vdag/error.h"

#define VD_MAX_STAGES 16
#define VD_MAX_NODES  32

typedef struct vd_stage_map {
    char stage[48]; /* service name, as in the DAG's flow */
    int model_id;   /* 0 = largest */
    char node[64];  /* node name that runs it */
    char role[8];   /* "host" (the job's own edge), "edge" (another edge) or "cloud" */
} vd_stage_map;

typedef struct vd_plan {
    int resolution_h; /* 0 = native */
    double fps;       /* 0 = native */
    int nskip;        /* frames skipped per processed frame */
    int ntracking;    /* frames tracked between detections */
    char encoder[8];  /* "JPEG" for remote stages */
    int n_stages;
    vd_stage_map map[VD_MAX_STAGES];
} vd_plan;

/* The seed's {"video_conf": {...}, "flow_mapping": {...}} (new reference). */
json_t *vd_plan_to_json(const vd_plan *p);
/* Parse it back; `where` prefixes field paths in messages. Stages must be in d's flow. */
int vd_plan_from_json(json_t *j, const vd_dag *d, const char *where, vd_plan *p, vd_error *err);
int vd_plan_equal(const vd_plan *a, const vd_plan *b);

/* A node as the scheduler sees it (from heartbeats). */
typedef struct vd_node_info {
    char name[64];
    char role[8];   /* "edge" or "cloud" */
    double cpu_pct; /* 0..100, whole machine */
    double mem_pct; /* 0..100 */
    int n_cores;
    double speed;       /* relative compute speed vs the profiling node (1 = same) */
    char services[256]; /* comma-separated services it hosts */
} vd_node_info;

/* Measured result of the running plan (the edge resets it when a new plan is applied).
 *
 * Two quantities, never to be confused:
 *   delay: mean processing time per PROCESSED frame (s): the sum of the stage delays,
 *     transfers included (the seed's total_frame_delay). Skipping frames (nskip, fps below
 *     native) does not change it; tracking does (tracked frames are cheap).
 *   load: the fraction of wall time the job is busy processing = delay x processed frames
 *     per second. Above 1 the job cannot keep up with the stream and the edge drops frames
 *     as late; skipping lowers it.
 *
 * Units: n_frames and the delays count STEPS since the plan started. A step is one frame for
 * a single-frame DAG; for a clip DAG (vd_dag.generator == VD_GEN_CLIP) it consumes clip_len
 * frames, and its delay is that of the whole clip. Load, drop_ratio and dropped count
 * FRAMES (a clip step processes clip_len of them), so they do not depend on the generator.
 *
 * Load and drop_ratio are RECENT: over the last VD_LOAD_WINDOW_S seconds, never reaching
 * back before the plan change, so a drop at start-up does not mark the plan for its whole
 * life. Right after a change they rest on little data: load_valid is 0 until the window
 * holds at least VD_LOAD_MIN_S seconds and VD_LOAD_MIN_FRAMES frames (processed or dropped),
 * or spans the whole window (a slow stream); schedulers treat an invalid load as unknown.
 * With 20 frames a single drop is at most 5%, not above the feedback's overload threshold. */
#define VD_LOAD_WINDOW_S   5.0
#define VD_LOAD_MIN_S      1.0
#define VD_LOAD_MIN_FRAMES 20
typedef struct vd_plan_result {
    int n_frames;                /* steps processed since the plan started (see Units) */
    double delay[VD_MAX_STAGES]; /* s per step per stage, flow order */
    double total_delay;          /* s per step (sum of stages, transfers included) */
    double load;                 /* recent busy time / wall time, 0..1; 0 = unknown */
    double drop_ratio;           /* recent frames dropped / (processed + dropped) frames */
    int load_valid;              /* load and drop_ratio rest on enough data (see above) */
    long dropped;                /* frames dropped as late since the plan started (for users) */
} vd_plan_result;

/* Runtime context of the seed (means over the last frames). */
typedef struct vd_runtime {
    double delay; /* s */
    double obj_n;
    double obj_size; /* px^2 in source pixels */
    int obj_stable;  /* object count steady over the window */
} vd_runtime;

/* ---- knowledge base: profiled ms per (service, model, resolution) ---------------------- */

typedef struct vd_kb vd_kb;
vd_kb *vd_kb_new(void);
void vd_kb_free(vd_kb *kb);
void vd_kb_set(vd_kb *kb, const char *service, int model_id, int resolution_h, double ms);
/* Profiled ms, interpolated in pixels between profiled resolutions; <0 if unknown. */
double vd_kb_ms(const vd_kb *kb, const char *service, int model_id, int resolution_h);
/* Relative accuracy of a model (1 = the largest) and of a resolution for a service. */
double vd_kb_accuracy(const char *service, int model_id, int resolution_h);
/* Profile every model of `services` (NULL: all) at each of `res` (n_res heights) on
 * `frames` (n_frames RGB frames, scaled as needed): median ms of `reps` runs each. */
int vd_kb_profile(vd_kb *kb, const char *const *services, const int *res, int n_res,
                  vd_frame *const *frames, int n_frames, int threads, vd_error *err);
json_t *vd_kb_to_json(const vd_kb *kb);
int vd_kb_from_json(vd_kb *kb, json_t *j, vd_error *err);

/* ---- schedulers ------------------------------------------------------------------------ */

typedef struct vd_sched_input {
    const vd_dag *dag;
    const char *edge;          /* the node that owns the video (role "host" there) */
    const vd_node_info *nodes; /* live nodes (the edge among them) */
    int n_nodes;
    const vd_kb *kb;            /* may be empty: then schedulers keep the current plan */
    const vd_plan *last_plan;   /* NULL at the first call */
    const vd_plan_result *last; /* NULL or n_frames == 0: nothing measured yet */
    const vd_runtime *rt;
    double delay_bound;       /* s per processed frame (see vd_plan_result); <= 0: none */
    double accuracy;          /* wanted relative accuracy 0..1; <= 0: none */
    int native_h;             /* the video's height */
    double native_fps;        /* <= 0: unknown (load assumes VD_SCHED_DEFAULT_FPS) */
    const vd_plan *requested; /* a plan submitted with the job, or NULL */
} vd_sched_input;

typedef struct vd_scheduler {
    const char *name;
    const char *description;
    size_t priv_size;
    /* Compute the next plan. May return the last plan unchanged. */
    int (*plan)(void *priv, const vd_sched_input *in, vd_plan *out, vd_error *err);
} vd_scheduler;

const vd_scheduler *vd_scheduler_find(const char *name);
const vd_scheduler *const *vd_scheduler_all(void);

typedef struct vd_sched vd_sched;
int vd_sched_new(const char *name, vd_sched **out, vd_error *err);
int vd_sched_plan(vd_sched *s, const vd_sched_input *in, vd_plan *out, vd_error *err);
const char *vd_sched_name(const vd_sched *s);
void vd_sched_free(vd_sched *s);

/* The default plan: native resolution and fps, no skipping or tracking, every stage on the
 * job's edge with model 0. */
void vd_plan_default(const vd_dag *d, const char *edge, vd_plan *p);
/* Predicted delay (s) per PROCESSED step of plan p from the kb and node loads (the quantity
 * vd_plan_result.total_delay measures): one frame, or for a clip DAG the whole clip
 * (clip_len frames). nskip and fps do not change it; ntracking does (a detector runs on 1
 * frame in ntracking+1). <0 if unknown. */
double vd_plan_predict(const vd_sched_input *in, const vd_plan *p);
/* Frames per second a video is assumed to have when native_fps <= 0. */
#define VD_SCHED_DEFAULT_FPS 25.0
/* Predicted load of plan p (the quantity vd_plan_result.load measures): the delay per
 * processed frame (vd_plan_predict / clip_len for a clip DAG) x processed frames per second, i.e.
 * native_fps (VD_SCHED_DEFAULT_FPS when unknown) x the fraction of frames the plan keeps
 * (1/(nskip+1), times fps/native_fps below native). Above 1 the job cannot keep up. <0 if unknown.
 */
double vd_plan_load(const vd_sched_input *in, const vd_plan *p);
/* Predicted relative accuracy (0..1) of plan p. */
double vd_plan_accuracy(const vd_sched_input *in, const vd_plan *p);

#endif
