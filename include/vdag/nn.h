/*
 * vdag nn: a runtime for TF.js graph models (model.json + weight shards) on XNNPACK.
 *
 * Load once (vd_model_load), run many times (vd_model_run). Shapes are inferred at
 * load time for the model's declared input shape; a dynamic (-1) dimension takes the
 * size the model's signature declares for it (movenet-multipose: 256x256), else 1.
 *
 * Threads: a vd_nn_pool is the calling thread plus threads-1 workers. Give one pool to
 * every model one inference thread runs (vd_model_opts.pool): the models then share its
 * workers instead of each keeping its own, and the workers sleep between runs instead of
 * spinning, so other work on the machine (a decoder, another pipeline) keeps its cores.
 *
 * Ownership: vd_model owns everything it allocates (weights, XNNPACK operators, its own
 * thread pool when opts->pool is NULL, activation buffers); a pool given in opts is
 * borrowed and must outlive the model. Output tensors returned by vd_model_output point
 * into the model and stay valid until the next vd_model_run or vd_model_free.
 *
 * Thread-safety: a vd_model must not be used by two threads at once (use one model
 * per thread); separate models are independent unless they share a pool: models sharing
 * a pool must be run by one thread at a time (one pool per inference thread). vd_nn_init
 * is thread-safe.
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

typedef struct vd_nn_pool vd_nn_pool;

typedef struct vd_model_opts {
    int threads;      /* without a pool: threads of the model's own pool; <= 0 means 1 */
    vd_nn_pool *pool; /* borrowed, shared; NULL: the model makes its own of `threads` */
} vd_model_opts;

typedef struct vd_model vd_model;

/* Initialise XNNPACK once per process (idempotent, thread-safe). */
int vd_nn_init(vd_error *err);

/* The most bytes of activations one model may need (its arena, planned at load): a graph
 * whose shapes ask for more is refused with VD_ETOOBIG before anything is allocated, as a
 * crafted model.json could ask for gigabytes. Any thread; 0 restores the default. */
#define VD_NN_MAX_ARENA_DEFAULT ((size_t)1 << 30)
void vd_nn_set_max_arena(size_t bytes);
size_t vd_nn_max_arena(void);

/* A pool of `threads` inference threads (the caller's thread is one of them; <= 0
 * means 1, which computes everything on the caller). VD_ENOMEM if the workers cannot
 * be started. Free it after every model that uses it. */
int vd_nn_pool_new(int threads, vd_nn_pool **out, vd_error *err);
void vd_nn_pool_free(vd_nn_pool *p);
int vd_nn_pool_threads(const vd_nn_pool *p);

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
