/*
 * vdag slice: cut a loaded model at one tensor and run it as two parts, part A (input ->
 * cut tensor) on one machine and part B (cut tensor -> outputs) on another; the cut
 * tensor's wire form (a tag and a float32 / float16 / int8 payload); a per-step profile
 * and a chooser that picks the cut minimising end-to-end latency. See docs/slicing.md.
 *
 * A cut is a boundary between two steps of the model's plan across which exactly one
 * runtime buffer is live: that tensor alone separates the input from the outputs, so
 * part B needs nothing else from part A. Cuts are listed in step order.
 *
 * Ownership: a vd_slicer borrows its vd_model (which must outlive it) and owns the cut
 * list. vd_cut and the names it points to live as long as the slicer. Tensor views
 * returned by vd_slicer_run_a point into the model and stay valid until the next run of
 * the model. vd_wire_encode's buffer is malloc'd and the caller frees it.
 *
 * Thread-safety: a slicer is used by one thread at a time, and never at the same time
 * as its model (the model's own rule, nn.h). Two slicers of two models are independent.
 * vd_wire_peek, vd_slice_choose and the vd_wire_* size functions keep no state and are
 * thread-safe.
 */
#ifndef VDAG_SLICE_H
#define VDAG_SLICE_H

#include <stddef.h>
#include <stdint.h>

#include "vdag/error.h"
#include "vdag/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- cuts and the two parts ---------------------------------------------------------- */

typedef struct vd_cut {
    int index;        /* position in the slicer's cut list */
    int step;         /* part A runs steps [0, step], part B steps (step, n_steps) */
    const char *name; /* the graph node whose output the tensor is (last write before it) */
    vd_dtype dtype;   /* VD_F32 or VD_I32 (booleans travel as int32 0/1) */
    int ndim;
    int64_t shape[VD_MAX_DIMS]; /* the tensor as stored in memory (physical axes), row-major */
    int perm[VD_MAX_DIMS];      /* physical axis i holds logical axis perm[i] (layout) */
    int64_t numel;
    double flops_a, flops_b; /* operations of part A / part B */
} vd_cut;

typedef struct vd_slicer vd_slicer;

/* Enumerate the cuts of m and hash its files (model.json and its weight shards, SHA-256:
 * the model's identity in every tag). VD_EIO if a file cannot be read again. */
int vd_slicer_open(vd_model *m, vd_slicer **out, vd_error *err);
void vd_slicer_free(vd_slicer *s);

int vd_slicer_n_cuts(const vd_slicer *s);
const vd_cut *vd_slicer_cut(const vd_slicer *s, int i); /* NULL if out of range */
/* Index of the cut named `name` (first in step order) or of the decimal index "12";
 * VD_ENOTFOUND (err says how to list them) otherwise. */
int vd_slicer_find(const vd_slicer *s, const char *name, vd_error *err);
int vd_slicer_n_steps(const vd_slicer *s);
vd_model *vd_slicer_model(const vd_slicer *s);
const char *vd_slicer_model_name(const vd_slicer *s);    /* "blazeface-back" */
const uint8_t *vd_slicer_model_hash(const vd_slicer *s); /* 32 bytes (SHA-256) */
/* The first 16 hex digits of the hash in buf (>= 17 bytes), for messages and tables. */
const char *vd_slicer_hash_hex(const vd_slicer *s, char *buf, size_t cap);

/* Part A: run the input (as vd_model_run takes it) up to cut `cut`; *mid is the cut
 * tensor (physical shape, data into the model). VD_ESHAPE for a wrong input size,
 * VD_EINVAL for a cut out of range. */
int vd_slicer_run_a(vd_slicer *s, int cut, const void *in, size_t bytes, vd_tensor *mid,
                    vd_error *err);
/* Part B: run from the raw cut tensor (numel values of the cut's dtype) to the outputs,
 * which are read with vd_model_output afterwards. VD_ESHAPE for a wrong size. */
int vd_slicer_run_b(vd_slicer *s, int cut, const void *mid, size_t bytes, vd_error *err);

/* ---- the wire form ------------------------------------------------------------------- */

/* Payload formats. An int32 tensor always travels as its 4-byte values (VD_WIRE_F32 in
 * the tag: "as stored"); f16 and i8 apply to float32 tensors only. */
typedef enum vd_wire_fmt {
    VD_WIRE_F32 = 0, /* 4 bytes a value: bit-exact */
    VD_WIRE_F16 = 1, /* IEEE half, round to nearest even: 2 bytes a value */
    VD_WIRE_I8 = 2,  /* symmetric int8 with one float32 scale per channel (innermost
                        physical axis): 1 byte a value + 4 bytes a channel */
} vd_wire_fmt;

/* "f32" / "f16" / "i8" <-> format; parse returns VD_EINVAL for anything else. */
const char *vd_wire_fmt_name(vd_wire_fmt f);
int vd_wire_fmt_parse(const char *s, vd_wire_fmt *out);

/* A tag as read from a message (by vd_wire_peek), or as a slicer writes it. */
#define VD_WIRE_NAME_MAX 255
typedef struct vd_wire_tag {
    char model[VD_WIRE_NAME_MAX + 1];
    uint8_t hash[32];
    uint32_t cut;
    char cut_name[VD_WIRE_NAME_MAX + 1];
    vd_wire_fmt fmt;
    vd_dtype dtype;
    int ndim;
    int64_t shape[VD_MAX_DIMS]; /* physical */
    int perm[VD_MAX_DIMS];
    uint64_t payload_bytes; /* as the header says; vd_wire_peek checks it against len */
    size_t header_bytes;    /* where the payload (i8: its scales) starts */
} vd_wire_tag;

/* Exact size of the message vd_wire_encode makes for cut `cut` of s in format f. */
size_t vd_wire_size(const vd_slicer *s, int cut, vd_wire_fmt f);

/* Encode the cut tensor `mid` (as vd_slicer_run_a gave it) with its tag. */
int vd_wire_encode(const vd_slicer *s, int cut, const vd_tensor *mid, vd_wire_fmt f, uint8_t **out,
                   size_t *len, vd_error *err);

/* Parse and check a message's header without any model: bounds-checked, never reads
 * outside buf[0, len). VD_EFORMAT when it is not a vdag tensor message (bad magic or
 * version, unknown format or dtype, rank > 6, negative or overflowing shape, names too
 * long) or is truncated (payload shorter than the header says) or has trailing bytes. */
int vd_wire_peek(const uint8_t *buf, size_t len, vd_wire_tag *tag, vd_error *err);

/* Part B from a message: vd_wire_peek, then the tag must match this slicer's model (name
 * and hash) and cut `cut` (index and name): else VD_EINVAL saying which model/cut the
 * tensor is for; the shape, layout and dtype must be the cut's: else VD_ESHAPE. Only
 * then is the payload decoded (to float32) into the model and part B run. */
int vd_slicer_run_wire(vd_slicer *s, int cut, const uint8_t *buf, size_t len, vd_error *err);

/* ---- profile and chooser ------------------------------------------------------------- */

typedef struct vd_slice_point {
    int cut;           /* index in the slicer */
    double ms_a, ms_b; /* measured time of part A / part B on this machine */
    size_t bytes;      /* message bytes in the profiled format */
    double enc_ms;     /* encoding time on this machine (runs on the edge) */
    double dec_ms;     /* decoding time on this machine (runs on the cloud) */
} vd_slice_point;

typedef struct vd_slice_profile {
    vd_wire_fmt fmt;
    double total_ms; /* a whole run on this machine (sum of its steps) */
    int n_steps;
    double *step_ms;   /* [n_steps] mean time of each step (owned) */
    int n;             /* number of points: every cut of the slicer */
    vd_slice_point *p; /* [n] (owned) */
    /* cloud-only: the frame as JPEG (filled by the caller; 0 bytes = not a candidate) */
    double jpeg_bytes, jpeg_enc_ms, jpeg_dec_ms;
} vd_slice_profile;

/* Time every step over `runs` runs of `in` (after one warm-up run) and every cut's
 * message size and coding time in format f. Fills p (free with vd_slice_profile_free).
 * Uses the model's per-step profiling and leaves it off (vd_model_set_profiling). */
int vd_slice_profile_run(vd_slicer *s, const void *in, size_t bytes, int runs, vd_wire_fmt f,
                         vd_slice_profile *p, vd_error *err);
void vd_slice_profile_free(vd_slice_profile *p);

typedef struct vd_slice_link {
    double bandwidth_bps; /* edge -> cloud link, bits per second (> 0) */
    double rtt_ms;        /* round-trip time */
    double edge_speed;    /* edge speed relative to this machine (0.25: 4x slower) */
    double cloud_speed;   /* cloud speed relative to this machine */
} vd_slice_link;

enum { VD_SLICE_EDGE_ONLY = -1, VD_SLICE_CLOUD_ONLY = -2 };
typedef struct vd_slice_cand {
    int cut; /* a cut index, VD_SLICE_EDGE_ONLY or VD_SLICE_CLOUD_ONLY */
    double edge_ms, net_ms, cloud_ms, total_ms;
    double bytes; /* sent edge -> cloud */
} vd_slice_cand;

/* Predict every candidate's end-to-end latency: edge-only (the whole model on the edge,
 * nothing sent), every cut (A + encode on the edge, RTT + bytes over the link, decode +
 * B on the cloud) and cloud-only (JPEG encode on the edge, RTT + JPEG bytes, JPEG decode
 * + the whole model on the cloud; only when p->jpeg_bytes > 0). c has room for p->n + 2
 * entries: edge-only first, the cuts in step order, cloud-only last. Returns the number
 * of candidates and sets *best to the index in c of the lowest total (the earliest on a
 * tie), or VD_EINVAL for a link with a non-positive bandwidth or speed. */
int vd_slice_choose(const vd_slice_profile *p, const vd_slice_link *l, vd_slice_cand *c, int *best,
                    vd_error *err);

#ifdef __cplusplus
}
#endif
#endif
