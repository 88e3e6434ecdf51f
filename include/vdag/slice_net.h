/*
 * vdag slice over the transport: a host serves part B of a model (from a cut tensor's wire
 * message, or the whole model from a JPEG) as the stage service "svc.slice.<model>"; an
 * edge calls it with part A's message. docs/slicing.md, "Remote part B".
 *
 * Request: a vd_msg whose header is {"kind":"tensor","cut":K} with the wire message as
 * blob, or {"kind":"jpeg"} with a JPEG. Reply: header {"ms": host time, "outputs":
 * [{"name","dtype","shape"}]} and the outputs' values concatenated as the blob (4 bytes a
 * value, little-endian). A host refuses a tensor for another model or cut with part B's
 * own codes (VD_EINVAL, VD_ESHAPE, VD_EFORMAT), which reach the caller as err->remote.
 *
 * Ownership: a host borrows its transport and slicer (both outlive it; close the transport
 * before vd_slice_host_free, so no request is running). A reply's tensors are owned by the
 * reply (vd_slice_reply_free).
 * Thread-safety: requests may arrive on several transport threads; the host runs one at a
 * time (a mutex: the model's one-thread rule). vd_slice_call may be called from any
 * thread.
 */
#ifndef VDAG_SLICE_NET_H
#define VDAG_SLICE_NET_H

#include "vdag/net.h"
#include "vdag/slice.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vd_slice_host vd_slice_host;

/* Serve part B of s's model as node `node` (its subject and the service's queue group). */
int vd_slice_host_start(vd_transport *t, const char *node, vd_slicer *s, vd_slice_host **out,
                        vd_error *err);
void vd_slice_host_free(vd_slice_host *h);

typedef struct vd_slice_reply {
    int n;
    vd_tensor *out; /* [n]: names and data owned by the reply */
    double host_ms; /* time the host spent on it (decode + part B, or JPEG + whole model) */
} vd_slice_reply;

/* Send a wire message for cut `cut` (or, cut == VD_SLICE_CLOUD_ONLY, a JPEG) to `node`'s
 * (NULL: any) host of `model`, and read its outputs. Transport failures as
 * vd_transport_call; VD_EFORMAT for a reply whose sizes do not add up. */
int vd_slice_call(vd_transport *t, const char *node, const char *model, int cut, const void *blob,
                  size_t len, int timeout_ms, vd_slice_reply *out, vd_error *err);
void vd_slice_reply_free(vd_slice_reply *r);

#ifdef __cplusplus
}
#endif
#endif
