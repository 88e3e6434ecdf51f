/* Internal to src/node: shared between the roles, not part of the public API. */
#ifndef VDAG_NODE_INTERNAL_H
#define VDAG_NODE_INTERNAL_H

#include "vdag/node.h"

#define VD_SUBJ_HB     "vdag.hb"
#define VD_SUBJ_RESULT "vdag.result"

/* Decode a stage request (vd_msg {model_id, args, src_w, src_h, cam_frame_id} + JPEG):
 * *hdr new reference, *f new frame with src size and id restored. jc decodes the frame (one
 * JPEG, or the strips of a vd_jpeg_coder in parallel). */
int vd__stage_request_decode(vd_jpeg_coder *jc, const vd_buf *req, json_t **hdr, vd_frame **f,
                             vd_error *err);
/* This host's resource_info entry ({machine…, services, per-service load}); r: sampler. */
json_t *vd__svchost_resource_info(vd_svchost *h, vd_resources *r);

/* A random id for this run of a node (hex, NUL-terminated in n >= 17 bytes). */
void vd__node_instance(char *out, size_t n);
/* Wall-clock milliseconds (comparable across processes and machines, unlike vd_now_ms). */
double vd__wall_ms(void);

#endif
