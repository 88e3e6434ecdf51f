/*
 * vdag schedulers: the plan (video_conf + flow_mapping), the knowledge base (measured delay,
 * bytes on the wire and accuracy against a golden configuration; its file form, its merge),
 * the cost model with its link model, and the schedulers behind one function-pointer
 * interface (fixed, feedback, kb, seed-pid, chameleon). docs/sched.md explains them.
 *
 * A scheduler instance belongs to one job: vd_sched_new gives it priv_size bytes of
 * zeroed state that lives as long as the job, so a controller keeps its state from one
 * re-plan to the next. Plans and inputs are plain values (no pointers inside a plan); the
 * input's arrays (nodes, links, encoders, probes) are borrowed for the call.
 * Ownership: vd_kb_to_json returns a new reference; vd_kb_from_json and vd_kb_merge copy.
 * Thread-safety: the registry is immutable; a vd_sched is used by one thread at a time;
 * a vd_kb is internally locked (profiling may fill it while schedulers read it; a merge
 * never holds two kbs' locks at once).
 */
#ifndef VDAG_SCHED_H
#define VDAG_SCHED_H

#include <jansson.h>

#include "vdag/dag.h"
#include "vdag/error.h"
#include "vdag/svc.h"

#define VD_MAX_STAGES 16
#define VD_MAX_NODES  32

typedef struct vd_stage_map {
    char stage[48]; /* service name, as in the DAG's flow */
    int model_id;   /* 0 = largest */
    char node[64];  /* node name that runs it */
    char role[8];   /* "host" (the job's own edge), "edge" (another edge) or "cloud" */
    /* a cascade model's exit band for its first unit ("exit": {"lo","hi"}; 0..0: the
     * model's own, vdag/cascade.h) */
    float exit_lo, exit_hi;
} vd_stage_map;

typedef struct vd_plan {
    int resolution_h; /* 0 = native */
    double fps;       /* 0 = native */
    int nskip;        /* frames skipped per processed frame */
    int ntracking;    /* frames tracked between detections */
    char encoder[8];  /* "JPEG" for remote stages (vd_encoder_name) */
    /* what a user asked for when it is not what is sent: "H264" (the seed's), sent as JPEG
     * until the edge has an H.264 path; "" otherwise */
    char asked_encoder[8];
    int quality; /* of the encoder, 1..100; 0 = VD_PLAN_DEFAULT_QUALITY */
    int n_stages;
    vd_stage_map map[VD_MAX_STAGES];
} vd_plan;

/* The seed's {"video_conf": {...}, "flow_mapping": {...}} (new reference). */
json_t *vd_plan_to_json(const vd_plan *p);
/* Parse it back; `where` prefixes field paths in messages. Stages must be in d's flow. */
int vd_plan_from_json(json_t *j, const vd_dag *d, const char *where, vd_plan *p, vd_error *err);
/* A plan as a user (or the seed) sends it, before vd_plan_from_json: a video_conf.encoder
 * naming H.264 ("H264", "H.264", "AVC", "X264"), which the edge cannot apply yet, becomes
 * "encoder":"JPEG" (what is sent) with "asked_encoder":"H264" (kept and shown as asked, with
 * "wire_encoder":"JPEG"). Modifies j in place; anything else is left to vd_plan_from_json. */
void vd_plan_json_user(json_t *j);
int vd_plan_equal(const vd_plan *a, const vd_plan *b);

/* A node as the scheduler sees it (from heartbeats). */
typedef struct vd_node_info {
    char name[64];
    char role[8];   /* "edge" or "cloud" */
    double cpu_pct; /* 0..100, whole machine */
    double mem_pct; /* 0..100 */
    int n_cores;
    double speed;       /* relative compute speed vs the kb's delays for it: its own measurements in
                           a merged kb, else the profiling machine's (1 = as the kb says) */
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

/* ---- encoders for frames sent to remote stages ------------------------------------------ */

/* How a stage gets its frame. A stage on the job's edge gets the decoded frame (VD_ENC_NONE);
 * a remote stage gets it coded. H.264 is a typed slot: the kb file and the search take it,
 * plans refuse it until the edge can code it. */
typedef enum vd_encoder { VD_ENC_NONE = 0, VD_ENC_JPEG = 1, VD_ENC_H264 = 2 } vd_encoder;
#define VD_N_ENCODERS 3
/* The JPEG quality of a plan with quality 0 (the edge's VD_STAGE_JPEG_QUALITY). */
#define VD_PLAN_DEFAULT_QUALITY 85
/* "raw", "JPEG", "H264". */
const char *vd_encoder_name(vd_encoder e);
/* The encoder of a name (case-insensitive; "raw" and "" = VD_ENC_NONE), or <0. */
int vd_encoder_parse(const char *s);

/* An encoder setting the edge can apply to remote frames (a search option). */
typedef struct vd_enc_opt {
    vd_encoder enc;
    int quality; /* JPEG 1..100; 0 = VD_PLAN_DEFAULT_QUALITY */
} vd_enc_opt;

/* ---- knowledge base ---------------------------------------------------------------------
 *
 * What `vdag profile` measured on one machine (docs/sched.md):
 *   delay    per (node, service, model, height): ms per processed frame, median and p90, and
 *            for services fed boxes the extra ms per object;
 *   accuracy per (service, model, height, ntracking, nskip at the clip's fps, encoder and
 *            quality): a score 0..1 against the golden configuration (model 0, the clip's
 *            own resolution, every frame), overall and per content bucket;
 *   bytes    per (height, encoder, quality): bytes of one frame on the wire, coding times.
 * node "" is the machine the kb belongs to; vd_kb_merge tags another kb's delays with its
 * node name, so a merged kb predicts each node from its own measurements. Accuracy and bytes
 * do not depend on the machine: a merge averages them, weighted by frames. */

typedef struct vd_kb vd_kb;
vd_kb *vd_kb_new(void);
void vd_kb_free(vd_kb *kb);
/* The machine that profiled it ("" unknown); copied. */
void vd_kb_set_host(vd_kb *kb, const char *host);
const char *vd_kb_host(const vd_kb *kb, char *buf, size_t n);

typedef struct vd_kb_delay {
    double ms;         /* median ms per processed frame */
    double p90_ms;     /* 90th percentile */
    double ms_per_obj; /* extra ms per input object (services fed boxes); 0 otherwise */
    double obj_ref;    /* mean input objects of the measured frames: ms is at this count */
    int n;             /* frames measured (0: set by hand or from a version-1 file) */
} vd_kb_delay;

/* The old setter: own node, median = p90 = ms, nothing per object. */
void vd_kb_set(vd_kb *kb, const char *service, int model_id, int resolution_h, double ms);
/* node NULL or "" = the kb's own machine. Replaces an entry with the same key. */
void vd_kb_set_delay(vd_kb *kb, const char *node, const char *service, int model_id,
                     int resolution_h, const vd_kb_delay *d);
/* Exact entry: 0, or VD_ENOTFOUND. */
int vd_kb_get_delay(const vd_kb *kb, const char *node, const char *service, int model_id,
                    int resolution_h, vd_kb_delay *out);
/* Profiled ms of the own machine, interpolated in pixels between profiled resolutions;
 * <0 if unknown. */
double vd_kb_ms(const vd_kb *kb, const char *service, int model_id, int resolution_h);
/* The same for `node` ("" own) with obj_n input objects (<= 0: the profiled mean): median +
 * ms_per_obj x (obj_n - obj_ref), at least a tenth of the median. <0 if the kb has nothing
 * for that node and service. */
double vd_kb_ms_at(const vd_kb *kb, const char *node, const char *service, int model_id,
                   int resolution_h, double obj_n);
/* Whether the kb holds delays measured on `node` ("" own). */
int vd_kb_has_node(const vd_kb *kb, const char *node);

/* Heuristic relative accuracy of a model (1 = the largest) and of a resolution for a
 * service: what plans use when the kb has no measured accuracy for the service. */
double vd_kb_accuracy(const char *service, int model_id, int resolution_h);

/* Accuracy metrics, chosen by the output field's type (vdag/svc.h), never by service. */
typedef enum vd_metric {
    VD_METRIC_NONE = 0,
    VD_METRIC_F1,    /* boxes: F1 at IoU >= 0.5 (same class when the output has classes) */
    VD_METRIC_PCK,   /* points: share of golden points within 0.05 x sqrt(box area) */
    VD_METRIC_COUNT, /* counts: 1 - relative count error */
} vd_metric;
const char *vd_metric_name(vd_metric m); /* "f1", "pck", "count", "none" */
int vd_metric_parse(const char *s);      /* <0 unknown */
vd_metric vd_metric_for(vd_field_type t);
/* The field a service's accuracy is measured on: the tracked boxes of a detector, else the
 * first points field, else the first boxes, else the first counts; NULL if none. */
const vd_svc_field *vd_kb_primary_field(const vd_service *svc);

/* A score of one output field against the golden output of the same service. */
typedef struct vd_score {
    vd_metric metric;
    double value; /* 0..1, 1 = as the golden output */
    double err;   /* raw error: 1 - F1; mean point error / sqrt(golden box area), an unmatched
                     point counting 1; mean |count difference| */
    int n_gold;   /* golden boxes, points or count keys */
} vd_score;
/* Score field f (of svc's out_schema) of `out` against `golden`. Boxes are matched greedily
 * by IoU (>= 0.5; same class when the schema has a classes field); points go with the first
 * boxes field of the schema (x, y only). Both empty: 1. VD_EUNSUPP if f has no metric. */
int vd_score_field(const vd_service *svc, const vd_svc_field *f, json_t *out, json_t *golden,
                   vd_score *s);
/* F1 of np predicted against ng golden boxes at IoU >= iou (same cls when by_class). */
double vd_score_f1(const vd_det *pred, int np, const vd_det *gold, int ng, float iou, int by_class);
/* Content of a golden output, for the buckets: the boxes of the primary field (or of the
 * first boxes field) and their mean area over the w x h frame. */
void vd_kb_content(const vd_service *svc, json_t *golden, int w, int h, double *obj_n,
                   double *obj_frac);

/* Content buckets, like the seed's runtime context: objects per frame (0-2, 3-7, 8+) x mean
 * object size as a fraction of the frame's area (small < 1 %, large). */
#define VD_KB_N_BUCKETS      6
#define VD_KB_BUCKET_MIN_N   3 /* frames a bucket needs before it overrides the overall value */
#define VD_KB_SMALL_OBJ_FRAC 0.01
int vd_kb_bucket(double obj_n, double obj_frac);
const char *vd_kb_bucket_name(int bucket); /* "n0-2/small", … */
int vd_kb_bucket_parse(const char *s);     /* <0 unknown */

typedef struct vd_kb_acc_key {
    char service[48];
    char field[32]; /* the output field scored (the primary one has the full grid) */
    int model_id;
    int res;        /* frame height profiled */
    int ntracking;  /* processed frames tracked between detections */
    int nskip;      /* clip frames skipped per processed frame */
    double src_fps; /* the clip's frame rate: processed frames are (nskip+1)/src_fps s apart */
    vd_encoder enc; /* how the stage got its frame (VD_ENC_NONE: raw) */
    int quality;    /* of enc (0 for VD_ENC_NONE) */
} vd_kb_acc_key;

typedef struct vd_kb_acc {
    vd_metric metric;
    double value; /* mean per-frame score, 0..1 (1 = as the golden configuration) */
    double err;   /* mean raw error: 1 - F1, point error / sqrt(box area), |count error| */
    int n;        /* frames scored */
    double bucket[VD_KB_N_BUCKETS];
    int bucket_n[VD_KB_N_BUCKETS];
} vd_kb_acc;

/* Replaces an entry with the same key. */
void vd_kb_set_acc(vd_kb *kb, const vd_kb_acc_key *k, const vd_kb_acc *a);

/* A point of a cascade model's exit curve (vdag/cascade.h): with its first unit's uncertain
 * band lo..hi, the share of frames sent on to the next unit and the mean per-frame F1 against
 * the last unit alone, over n frames (`vdag cascade bench --kb FILE` measures them). */
typedef struct vd_kb_exit_pt {
    float lo, hi;
    double escalated, f1;
    int n;
} vd_kb_exit_pt;
/* The F1 a band must reach when the user asked for no accuracy. */
#define VD_KB_EXIT_F1 0.95
/* Replaces the point with the same service, model and band; VD_ENOMEM. */
int vd_kb_set_exit(vd_kb *kb, const char *service, int model_id, const vd_kb_exit_pt *p);
/* The points of (service, model) into out (up to cap); returns how many there are. */
int vd_kb_exit_curve(const vd_kb *kb, const char *service, int model_id, vd_kb_exit_pt *out,
                     int cap);
/* The point sending the fewest frames on whose F1 >= min_f1 (the higher F1 on a tie), or
 * VD_ENOTFOUND. */
int vd_kb_pick_exit(const vd_kb *kb, const char *service, int model_id, double min_f1,
                    vd_kb_exit_pt *out);
int vd_kb_get_acc(const vd_kb *kb, const vd_kb_acc_key *k, vd_kb_acc *out);
/* Whether the kb holds measured accuracy for `service` (NULL: for any). */
int vd_kb_has_accuracy(const vd_kb *kb, const char *service);

typedef struct vd_kb_acc_query {
    const char *service;
    const char *field; /* NULL: the service's primary field (vd_kb_primary_field) */
    int model_id;
    int res;        /* frame height */
    int ntracking;  /* processed frames tracked between detections */
    double gap_s;   /* seconds between processed frames; <= 0: every frame */
    vd_encoder enc; /* VD_ENC_NONE: a local stage */
    int quality;    /* 0: VD_PLAN_DEFAULT_QUALITY */
    int bucket;     /* content bucket, or -1 for the overall value */
} vd_kb_acc_query;
/* Predicted score 0..1 from the measured entries, interpolated in height, ntracking and gap
 * (above the highest height profiled: its value; below the lowest, or beyond the longest gap:
 * extrapolated from the last two points, never above the last); a coded frame multiplies by
 * the encoder's measured factor (coded / raw, 1 if unmeasured). <0 if nothing is measured
 * for the service and model. */
double vd_kb_acc_predict(const vd_kb *kb, const vd_kb_acc_query *q);

typedef struct vd_kb_bytes {
    int width;        /* of the frames measured (their height is the entry's) */
    double bytes;     /* median bytes of one frame */
    double p90_bytes; /* 90th percentile */
    double enc_ms;    /* median ms to code it */
    double dec_ms;    /* median ms to decode it */
    int n;
} vd_kb_bytes;
void vd_kb_set_bytes(vd_kb *kb, int resolution_h, vd_encoder enc, int quality,
                     const vd_kb_bytes *b);
int vd_kb_get_bytes(const vd_kb *kb, int resolution_h, vd_encoder enc, int quality,
                    vd_kb_bytes *out);
/* Predicted bytes of a width x height frame coded so: the measured bytes per pixel,
 * interpolated in height and quality (outside the measured range: the nearest), times the
 * pixels; enc_ms / dec_ms (may be NULL) get the coding times alike. <0 if nothing is measured
 * for the encoder. */
double vd_kb_frame_bytes(const vd_kb *kb, int width, int height, vd_encoder enc, int quality,
                         double *enc_ms, double *dec_ms);

/* Merge src into dst (no I/O, no global state; src unchanged): src's own delays are tagged
 * src_node (NULL or "": they stay own), tagged ones keep their node, and replace dst's
 * entries with the same key; accuracy and bytes with the same key become the frame-weighted
 * mean, others are copied. To merge nodes' kbs, start from an empty kb each time (merging
 * the same kb twice counts its frames twice). */
int vd_kb_merge(vd_kb *dst, const vd_kb *src, const char *src_node, vd_error *err);

/* The file and heartbeat form, version VD_KB_VERSION:
 *   {"format":"vdag-kb","version":2,"host":…,"profile":{…},"delay":[…],"accuracy":[…],
 *    "bytes":[…]} (docs/sched.md). vd_kb_from_json also reads version 1 ({"entries":[…]},
 * delays only); a newer version is VD_EUNSUPP, a malformed one VD_EFORMAT, naming the field;
 * on error the kb is unchanged. */
#define VD_KB_VERSION 2
json_t *vd_kb_to_json(const vd_kb *kb);
int vd_kb_from_json(vd_kb *kb, json_t *j, vd_error *err);
/* The format version of a kb document: 1 for {"entries":…}, its "version" otherwise; <0 if
 * it is not a kb. */
int vd_kb_json_version(json_t *j);
/* Free-form notes on how the kb was profiled (clips, frames, seconds), kept in the file. */
void vd_kb_set_profile_info(vd_kb *kb, json_t *info); /* takes a reference */
json_t *vd_kb_profile_info(const vd_kb *kb);          /* new reference or NULL */

/* Delay-only profiling (the node's start-up profile): every model of `services` (NULL: all)
 * at each of `res` (n_res heights) on `frames` (n_frames RGB frames, scaled as needed):
 * median ms of the runs each. */
int vd_kb_profile(vd_kb *kb, const char *const *services, const int *res, int n_res,
                  vd_frame *const *frames, int n_frames, int threads, vd_error *err);

/* The full measurement (`vdag profile`): delay, bytes and accuracy on real footage. */
typedef struct vd_kb_measure_opts {
    const char *const *services; /* NULL-terminated; NULL: every service */
    const char *const *clips;    /* media files (cache names or paths); NULL: vtest.avi and
                                    Megamind.avi */
    int all_clips;               /* 0: each detector on the clip where its golden finds most objects
                                    (a service fed boxes: its upstream's clip); 1: every clip */
    int n_frames;                /* consecutive frames per clip (default 16) */
    double budget_s; /* per service and clip: fewer frames (at least 4) when the accuracy runs
                        would take longer; <= 0: no limit */
    const int *res;  /* heights for accuracy (those below the clip's) and delay; NULL:
                        {720, 480, 360} */
    int n_res;
    const int *qualities; /* JPEG qualities for bytes and accuracy; NULL: {50, 70, 85} */
    int n_qualities;
    int threads;                              /* nn threads (default 1) */
    void (*log)(void *arg, const char *line); /* progress, may be NULL */
    void *log_arg;
} vd_kb_measure_opts;
int vd_kb_measure(vd_kb *kb, const vd_kb_measure_opts *o, vd_error *err);

/* ---- schedulers ------------------------------------------------------------------------ */

/* The link model: what the scheduler knows of the network between two nodes. The node layer
 * fills it from measured transfers; with no entry for a pair (either direction), the default
 * is VD_LINK_DEFAULT_BPS and VD_LINK_DEFAULT_RTT_S (a fast LAN). A frame sent to a remote
 * stage costs its coded bytes / bw_Bps + rtt_s, plus the coding times (vd_kb_frame_bytes). */
typedef struct vd_link {
    char from[64], to[64]; /* node names; frames go from -> to */
    double bw_Bps;         /* bytes per second; <= 0: unknown (the default) */
    double rtt_s;          /* round trip of a call (s); < 0: unknown (the default) */
} vd_link;
#define VD_LINK_DEFAULT_BPS   100e6
#define VD_LINK_DEFAULT_RTT_S 0.001

/* A candidate plan measured on live frames (chameleon's re-profiling; the node layer would
 * run it beside the golden configuration on a few recent frames). */
typedef struct vd_plan_probe {
    vd_plan plan;
    double accuracy; /* measured score 0..1 against the golden configuration */
    double delay;    /* measured s per processed frame; <= 0: not measured */
    int n_frames;
} vd_plan_probe;

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
    int native_w;             /* the video's width; <= 0: 16:9 of native_h */
    const vd_link *links;     /* the link model (NULL: defaults for every pair) */
    int n_links;
    const vd_enc_opt *encoders; /* settings the edge can apply to remote frames; NULL: JPEG at
                                   the default quality */
    int n_encoders;
    const vd_plan_probe *probes; /* live measurements of candidate plans, or NULL */
    int n_probes;
} vd_sched_input;

/* Why a scheduler changed the plan (or VD_WHY_NONE: kept). */
typedef enum vd_sched_why {
    VD_WHY_NONE = 0,
    VD_WHY_START,       /* the first plan (cold start) */
    VD_WHY_REQUESTED,   /* the plan submitted with the job */
    VD_WHY_CONSTRAINT,  /* the user's delay bound or accuracy changed */
    VD_WHY_NODE_LOST,   /* a node the plan used is gone */
    VD_WHY_NODE_JOINED, /* a node came: a better placement */
    VD_WHY_LINK,        /* a link changed */
    VD_WHY_DRIFT,       /* the measured delay left the prediction's band */
    VD_WHY_OVERLOAD,    /* the job cannot keep up, or a node's CPU is full */
    VD_WHY_CONTROL,     /* a controller's step (feedback, seed-pid) */
    VD_WHY_PROFILE,     /* re-ranked by measurements of candidate plans (chameleon) */
} vd_sched_why;
/* "start", "requested", "constraint", "node lost", "node joined", "link", "drift",
 * "overload", "control", "profile", "none". */
const char *vd_sched_why_name(vd_sched_why w);

typedef struct vd_sched_reason {
    vd_sched_why code;
    char text[240]; /* what was measured or changed, for users (plan_changes) */
} vd_sched_reason;

typedef struct vd_scheduler {
    const char *name;
    const char *description;
    size_t priv_size;
    /* Compute the next plan. May return the last plan unchanged. When the plan changes, set
     * *why (zeroed before the call); vd_sched_plan fills a missing one. */
    int (*plan)(void *priv, const vd_sched_input *in, vd_plan *out, vd_sched_reason *why,
                vd_error *err);
    /* Optional: the plans it wants measured on live frames (up to cap, best first), for a
     * node that re-profiles candidates (vd_sched_input.probes). Returns the count. */
    int (*probes)(void *priv, vd_plan *out, int cap);
} vd_scheduler;

const vd_scheduler *vd_scheduler_find(const char *name);
const vd_scheduler *const *vd_scheduler_all(void);

typedef struct vd_sched vd_sched;
int vd_sched_new(const char *name, vd_sched **out, vd_error *err);
int vd_sched_plan(vd_sched *s, const vd_sched_input *in, vd_plan *out, vd_error *err);
/* Why the last vd_sched_plan changed the plan (code VD_WHY_NONE when it kept it). */
const vd_sched_reason *vd_sched_last_reason(const vd_sched *s);
/* The plans the scheduler wants measured live (see vd_scheduler.probes); 0 if none. */
int vd_sched_probes_wanted(vd_sched *s, vd_plan *out, int cap);
const char *vd_sched_name(const vd_sched *s);
void vd_sched_free(vd_sched *s);

/* The default plan: native resolution and fps, no skipping or tracking, every stage on the
 * job's edge with model 0. */
void vd_plan_default(const vd_dag *d, const char *edge, vd_plan *p);
/* Predicted delay (s) per PROCESSED step of plan p from the kb, node loads and links (the
 * quantity vd_plan_result.total_delay measures): one frame, or for a clip DAG the whole clip
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
/* Predicted relative accuracy (0..1) of plan p: from the kb's measured accuracy when it has
 * it for a stage's service (content bucket from in->rt), else the heuristic vd_kb_accuracy. */
double vd_plan_accuracy(const vd_sched_input *in, const vd_plan *p);
/* Predicted CPU share (0..1 of the whole machine) plan p adds on `node`: the compute time of
 * its stages there x processed frames per second / the node's cores (1 when unknown). */
double vd_plan_node_cpu(const vd_sched_input *in, const vd_plan *p, const char *node);
/* The CPU a node can give to plan p: VD_PLAN_CPU_MAX minus the node's measured cpu_pct/100,
 * the part the running plan (in->last_plan) predicts there taken out (it is in the
 * measurement). 1 for a node that is not among in->nodes. */
#define VD_PLAN_CPU_MAX 0.95
double vd_plan_node_headroom(const vd_sched_input *in, const char *node);
/* Whether plan p's predicted CPU fits every node's headroom. */
int vd_plan_cpu_fits(const vd_sched_input *in, const vd_plan *p);
/* The plan space the "kb" scheduler searches: heights (native and these rungs below it),
 * frame rates (native and these below it), nskip, ntracking (a DAG whose first stage is a
 * detector; else 0), per stage every model on the job's edge or on one of up to
 * VD_KB_PLACE_NODES other live nodes hosting the service (those predicting the least compute
 * for it), and each encoder setting of in->encoders (JPEG at the default quality without).
 * It returns the most accurate plan whose predicted delay meets the bound, whose load is at
 * most 1 and whose CPU fits every node (ties: the lower delay); if none, the lowest delay
 * among those that keep up and fit, else the lowest delay. */
#define VD_KB_RES_RUNGS   1080, 720, 480, 360
#define VD_KB_FPS_RUNGS   15, 10, 5
#define VD_KB_SKIP_RUNGS  0, 1, 2, 4
#define VD_KB_TRACK_RUNGS 0, 1, 2, 4
#define VD_KB_PLACE_NODES 4

/* The link from -> to: bandwidth (bytes/s) and round trip (s), defaults when unknown. */
void vd_link_get(const vd_sched_input *in, const char *from, const char *to, double *bw_Bps,
                 double *rtt_s);

#endif
