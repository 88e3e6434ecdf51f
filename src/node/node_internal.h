/* Internal to src/node: shared between the roles, not part of the public API. */
#ifndef VDAG_NODE_INTERNAL_H
#define VDAG_NODE_INTERNAL_H

#include "vdag/node.h"

/* Per node: vdag.hb.<node>, vdag.result.<node> (stored: the stream VD_JS_RESULTS),
 * vdag.frame.<node> (rendered frames while someone watches). A node publishes only its own
 * (the bus's permissions hold an edge to that, docs/security.md), and the cloud takes a
 * message only when the node it names is the subject's. */
#define VD_SUBJ_HB     "vdag.hb"
#define VD_SUBJ_RESULT "vdag.result"
#define VD_SUBJ_FRAME  "vdag.frame"

/* The node a per-node subject names (its last token), or NULL if subject is not prefix.NODE. */
const char *vd__subject_node(const char *subject, const char *prefix);

/* Decode a stage request (vd_msg {model_id, args, src_w, src_h, cam_frame_id} + JPEG):
 * *hdr new reference, *f new frame with src size and id restored. jc decodes the frame (one
 * JPEG, or the strips of a vd_jpeg_coder in parallel). */
int vd__stage_request_decode(vd_jpeg_coder *jc, const vd_buf *req, json_t **hdr, vd_frame **f,
                             vd_error *err);
/* The two halves of vd_stage_call, for callers that run the call themselves (the edge's
 * asynchronous remote stages): the request for a frame (img: its JPEG or strips; args
 * borrowed), and the service's output from the reply (*out new reference). */
int vd__stage_request_pack(int model_id, const vd_frame *f, const vd_jpeg_parts *img, json_t *args,
                           vd_buf *req, vd_error *err);
int vd__stage_reply_unpack(const vd_buf *resp, const char *node, const char *service, json_t **out,
                           double *host_ms, vd_error *err);
/* This host's resource_info entry ({machine…, services, per-service load}); r: sampler. */
json_t *vd__svchost_resource_info(vd_svchost *h, vd_resources *r);

/* A random id for this run of a node (hex, NUL-terminated in n >= 17 bytes). */
void vd__node_instance(char *out, size_t n);
/* Wall-clock milliseconds (comparable across processes and machines, unlike vd_now_ms). */
double vd__wall_ms(void);

#endif
