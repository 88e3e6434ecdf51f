/*
 * Internal to src/node: what the roles report to the metrics registry (vdag/metrics.h,
 * docs/metrics.md). The hooks are called on the roles' own threads with no lock held; the
 * collectors read the roles' tables under their locks at each GET /metrics.
 */
#ifndef VDAG_NODE_METRICS_HOOKS_H
#define VDAG_NODE_METRICS_HOOKS_H

#include <jansson.h>

struct vd_edge;
struct vd_cloud;
struct vd_dag;

/* edge_metrics.c: a step of `frames` frames ran; res is the executor's result (its "delay"
 * per stage and "total_frame_delay", seconds). */
void vd__edge_metrics_step(const char *node, const char *job, const struct vd_dag *d,
                           const json_t *res, int frames);
void vd__edge_metrics_drop(const char *node, const char *job, int frames);
/* A live stream of video `video` was lost ("lost") or opened again ("reconnected") n times. */
void vd__edge_metrics_source(const char *node, const char *video, const char *what, double n);
/* A stage call to node `peer` sent `sent` bytes and got `received` back; rc its result. */
void vd__metrics_remote_call(const char *peer, const char *service, size_t sent, size_t received,
                             int rc);
void vd__edge_metrics_start(struct vd_edge *e);
void vd__edge_metrics_stop(struct vd_edge *e);

/* cloud_metrics.c */
/* A new plan: why the cloud planned (start, periodic, node lost, …) and the scheduler's reason. */
void vd__cloud_metrics_plan(const char *cloud, const char *why, const char *reason);
void vd__cloud_metrics_start(struct vd_cloud *c);
void vd__cloud_metrics_stop(struct vd_cloud *c);

#endif
