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

typedef struct vd__h264_streams vd__h264_streams;
/* Decode a stage request (vd_msg {model_id, args, src_w, src_h, cam_frame_id} + JPEG):
 * *hdr new reference, *f new frame with src size and id restored. jc decodes the frame (one
 * JPEG, or the strips of a vd_jpeg_coder in parallel); hs an H.264 one (NULL: refused). */
int vd__stage_request_decode(vd_jpeg_coder *jc, vd__h264_streams *hs, const vd_buf *req,
                             json_t **hdr, vd_frame **f, vd_error *err);
/* stage_h264.c: a request carrying an H.264 packet of the caller's stream ("codec":
 * "h264", "stream": its name) instead of JPEG; a host's decoders per stream (thread-safe),
 * VD_ESTATE from decode when the stream needs a keyframe (media.h). */
int vd__stage_request_pack_h264(int model_id, const vd_frame *f, const unsigned char *pkt,
                                size_t len, const char *stream, json_t *args, vd_buf *req,
                                vd_error *err);
int vd__h264_streams_new(vd__h264_streams **out, vd_error *err);
void vd__h264_streams_free(vd__h264_streams *t);
int vd__h264_streams_decode(vd__h264_streams *t, const char *id, const unsigned char *data,
                            size_t len, vd_frame **out, vd_error *err);
/* The two halves of vd_stage_call, for callers that run the call themselves (the edge's
 * asynchronous remote stages): the request for a frame (img: its JPEG or strips; args
 * borrowed), and the service's output from the reply (*out new reference). */
int vd__stage_request_pack(int model_id, const vd_frame *f, const vd_jpeg_parts *img, json_t *args,
                           vd_buf *req, vd_error *err);
int vd__stage_reply_unpack(const vd_buf *resp, const char *node, const char *service, json_t **out,
                           double *host_ms, vd_error *err);
/* This host's resource_info entry ({machine…, services, per-service load}); r: sampler. */
json_t *vd__svchost_resource_info(vd_svchost *h, vd_resources *r);

/* models.c: model distribution (docs/slicing.md). A cloud serves its models' files
 * (`model.get`); a node with a transport fetches the models it lacks from a cloud
 * (vd_svc_set_model_fetcher), one fetch at a time; fetch_stop (before t closes) waits
 * for a running fetch and uninstalls the fetcher if it is t's. progress: a new
 * {model: {state: "fetching"|"ok"|"failed", bytes, total}} of this process's fetches. */
int vd__model_name_ok(const char *s);
int vd__models_serve(vd_transport *t, const char *node, vd_error *err);
void vd__models_fetch_from(vd_transport *t, const char *self);
void vd__models_fetch_stop(vd_transport *t);
json_t *vd__models_progress(void);

/* A random id for this run of a node (hex, NUL-terminated in n >= 17 bytes). */
void vd__node_instance(char *out, size_t n);
/* Wall-clock milliseconds (comparable across processes and machines, unlike vd_now_ms). */
double vd__wall_ms(void);

#endif
