/* Shared between the scheduler sources: the registry's scheduler objects, the cost model's
 * per-stage helpers and the plan check every scheduler's output goes through. */
#ifndef VDAG_SCHED_INTERNAL_H
#define VDAG_SCHED_INTERNAL_H

#include "vdag/sched.h"

extern const vd_scheduler vd__sched_fixed;
extern const vd_scheduler vd__sched_feedback;

/* Height a native-resolution plan is assumed to have when the input does not say
 * (native_h <= 0). */
#define VD_SCHED_DEFAULT_NATIVE_H 720

/* Number of profiled entries in the kb. */
int vd__kb_size(const vd_kb *kb);

/* The node that runs stage i of p ("" = the job's edge). */
const char *vd__plan_node(const vd_sched_input *in, const vd_plan *p, int i);
/* Height the frames of plan p have: its resolution, native when 0, never above native. */
int vd__plan_eff_res(const vd_sched_input *in, const vd_plan *p);
/* Predicted seconds of stage i of p per processed frame (compute + transfer, a detector
 * amortised over ntracking like vd_plan_predict; skipping does not change it);
 * <0 if the kb lacks the entry. */
double vd__stage_cost(const vd_sched_input *in, const vd_plan *p, int i);
/* Whether `node` may run `service`: the edge always, a live node when its services list
 * is empty or names the service. Sets *info to the node's entry (NULL for an edge that is
 * not among in->nodes). Returns 0 if the node is unknown or does not host the service. */
int vd__node_ok(const vd_sched_input *in, const char *node, const char *service,
                const vd_node_info **info);
/* Role of a node for a plan entry: "host" for the edge, else the node's role. */
const char *vd__node_role(const vd_sched_input *in, const char *node);

/* Fail with VD_ESTATE if p is not a valid plan for in: stages as in the DAG, model ids in
 * range, known nodes, resolution not above native, non-negative knobs. */
int vd__plan_check(const vd_sched_input *in, const vd_plan *p, const char *who, vd_error *err);

#endif
