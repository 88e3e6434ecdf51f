/*
 * vdag nn: a runtime for TF.js graph models (model.json + weight shards) on XNNPACK.
 *
 * Load once (vd_model_load), run many times (vd_model_run). Shapes are inferred at
 * load time for the model's declared input shape; a dynamic (-1) dimension takes the
 * size the model's signature declares for it (movenet-multipose: 256x256), else 1.
 *
 * Ownership: vd_model owns everything it allocates (weights, XNNPACK operators, the
 * thread pool, activation buffers). Output tensors returned by vd_model_output point
 * into the model and stay valid until the next vd_model_run or vd_model_free.
 *
 * Thread-safety: a vd_model must not be used by two threads at once (use one model
 * per thread); separate models are independent. vd_nn_init is thread-safe.
 */
#ifndef VDAG_NN_H
#define VDAG_NN_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "vdag/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vd_dtype { VD_F32 = 0, VD_I32 = 1 } vd_dtype;

#define VD_MAX_DIMS 6

/* A view of a tensor: shape and data, row-major. Not owning. */
typedef struct vd_tensor {
    const char *name; /* signature/output name, e.g. "Identity_3:0" */
    vd_dtype dtype;
    int ndim;
    int64_t shape[VD_MAX_DIMS];
    void *data;
} vd_tensor;

typedef struct vd_model_opts {
    int threads; /* XNNPACK worker threads; <= 0 means 1 */
} vd_model_opts;

typedef struct vd_model vd_model;

/* Initialise XNNPACK once per process (idempotent, thread-safe). */
int vd_nn_init(vd_error *err);

/* Load a model.json (and its shards, looked up beside it). On failure returns a
 * VD_E* code and an error naming the file, node and op; nothing is leaked. */
int vd_model_load(const char *model_json, const vd_model_opts *opts, vd_model **out, vd_error *err);
void vd_model_free(vd_model *m);

/* Input / output descriptions (shape as inferred; data NULL for inputs). */
int vd_model_n_inputs(const vd_model *m);
int vd_model_n_outputs(const vd_model *m);
const vd_tensor *vd_model_input(const vd_model *m, int i);
const vd_tensor *vd_model_output(const vd_model *m, int i);

/* Run the model on one input buffer (single-input models): `data` holds
 * numel(input 0) values of the input dtype, row-major, `bytes` its size. A size
 * mismatch is VD_ESHAPE. Outputs are read with vd_model_output afterwards. */
int vd_model_run(vd_model *m, const void *data, size_t bytes, vd_error *err);

/* Total floating-point operations of one run (multiply-add = 2), for GFLOP/s. */
double vd_model_flops(const vd_model *m);

/* Per-step timing: when on, each run accumulates the time of every step;
 * vd_model_profile_print writes a table of time per op kind (mean per run). */
int vd_model_set_profiling(vd_model *m, int on);
void vd_model_profile_print(const vd_model *m, FILE *f);

/* Number of elements of a tensor view; -1 if a dimension is negative or the count would
 * exceed 2^48 (never for the inputs and outputs of a loaded model). */
int64_t vd_tensor_numel(const vd_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
