/* Shared between the scheduler sources: the registry's scheduler objects, the cost model's
 * per-stage helpers and the plan check every scheduler's output goes through. */
#ifndef VDAG_SCHED_INTERNAL_H
#define VDAG_SCHED_INTERNAL_H

#include "vdag/sched.h"

extern const vd_scheduler vd__sched_fixed;
extern const vd_scheduler vd__sched_feedback;
extern const vd_scheduler vd__sched_kb;
extern const vd_scheduler vd__sched_seed_pid;
extern const vd_scheduler vd__sched_chameleon;

/* Height a native-resolution plan is assumed to have when the input does not say
 * (native_h <= 0). */
#define VD_SCHED_DEFAULT_NATIVE_H 720

/* Number of profiled entries in the kb. */
int vd__kb_size(const vd_kb *kb);

/* The node that runs stage i of p ("" = the job's edge). */
const char *vd__plan_node(const vd_sched_input *in, const vd_plan *p, int i);
/* Height the frames of plan p have: its resolution, native when 0, never above native. */
int vd__plan_eff_res(const vd_sched_input *in, const vd_plan *p);
/* The frame width at height h (native_w scaled, 16:9 when unknown). */
int vd__plan_width(const vd_sched_input *in, int h);
/* Processed frames per second of plan p. */
double vd__plan_proc_fps(const vd_sched_input *in, const vd_plan *p);
/* The node entry of a live node, or NULL; whether a node is the job's edge. */
const vd_node_info *vd__find_node(const vd_sched_input *in, const char *name);
int vd__is_edge(const vd_sched_input *in, const char *node);
/* Predicted ms of one run of service/model at height h on node (its own measurements, else
 * the kb's machine's over its speed), with its CPU contention if asked; <0 unknown. */
double vd__stage_ms(const vd_sched_input *in, const char *node, const char *service, int model,
                    int h, int contention);
/* Per processed frame, in seconds, as vd_plan_predict sums them (see cost.c): stage i's
 * compute, its transfer (0 on the edge), their sum (<0 if the kb lacks the entry), and the
 * plan's encode term. */
double vd__stage_compute(const vd_sched_input *in, const vd_plan *p, int i);
/* The same compute without the contention factor: the CPU work (vd_plan_node_cpu). */
double vd__stage_cpu(const vd_sched_input *in, const vd_plan *p, int i);
double vd__stage_transfer(const vd_sched_input *in, const vd_plan *p, int i);
double vd__stage_cost(const vd_sched_input *in, const vd_plan *p, int i);
double vd__plan_encode(const vd_sched_input *in, const vd_plan *p);
/* Bytes of plan p's coded frame; enc_ms / dec_ms (may be NULL) its coding times. */
double vd__frame_bytes(const vd_sched_input *in, const vd_plan *p, double *enc_ms, double *dec_ms);
vd_encoder vd__plan_encoder(const vd_plan *p);
/* Stage i's accuracy factor (*measured: from the kb, else heuristic); the content bucket of
 * the runtime context (-1 unknown); the heuristic tracking/skipping penalty. */
double vd__stage_accuracy(const vd_sched_input *in, const vd_plan *p, int i, int *measured);
int vd__plan_bucket(const vd_sched_input *in);
double vd__plan_heuristic_penalty(const vd_sched_input *in, const vd_plan *p);
/* The heuristic accuracy alone (what feedback and seed-pid rank by): the product of
 * vd_kb_accuracy over stages times the heuristic penalty. */
double vd__plan_accuracy_heuristic(const vd_sched_input *in, const vd_plan *p);
/* Whether `node` may run `service`: the edge always, a live node when its services list
 * is empty or names the service. Sets *info to the node's entry (NULL for an edge that is
 * not among in->nodes). Returns 0 if the node is unknown or does not host the service. */
int vd__node_ok(const vd_sched_input *in, const char *node, const char *service,
                const vd_node_info **info);
/* Role of a node for a plan entry: "host" for the edge, else the node's role. */
const char *vd__node_role(const vd_sched_input *in, const char *node);

/* Put stage i of p on node (its role from in). */
void vd__plan_set_node(const vd_sched_input *in, vd_plan *p, int i, const char *node);
/* Make p valid for in: the DAG's stages, model ids in range, live nodes (dead ones -> the
 * edge), resolution not above native, non-negative knobs. */
void vd__plan_repair(const vd_sched_input *in, vd_plan *p);
/* Every cascade stage of p gets the band of its kb exit curve that sends the fewest frames
 * on with an F1 of at least the user's accuracy (else VD_KB_EXIT_F1); stages without a curve
 * keep theirs (kb_exit.c). */
void vd__plan_exits(const vd_sched_input *in, vd_plan *p);

/* Fail with VD_ESTATE if p is not a valid plan for in: stages as in the DAG, model ids in
 * range, known nodes, resolution not above native, non-negative knobs. */
int vd__plan_check(const vd_sched_input *in, const vd_plan *p, const char *who, vd_error *err);

#endif
