/*
 * Internals of the lowering (graph -> values + steps), shared by the driver (lower.c),
 * the value plumbing (values.c) and the op-family files. Not a public API; every
 * function here runs at load time, on one thread, on a model being built.
 *
 * Conventions for a lowering function `vd__lower_x(m, n, kind, err)` (a row of the table
 * in lower.c): read inputs with vd__in_val / vd__const_ints, make the outputs
 * (vd__rt_val for runtime values, vd__const_val when every input is constant), add
 * steps (vd__new_step, or vd__emit_kernel for a C kernel, which folds constants), and
 * finish with vd__set_outputs. Errors: NODE_ERR names the file, node and op.
 */
#ifndef VDAG_NN_LOWER_H
#define VDAG_NN_LOWER_H

#include "nn/nn_internal.h"

/* Fail with a message naming the model file, the node and its op. */
int vd__node_fail(vd__model *m, vd_error *err, const vd__node *n, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define NODE_ERR(n, code, ...) vd__node_fail(m, err, n, code, __VA_ARGS__)

/* Variants of one lowering function (the `kind` column of the table). */
enum { VD__L_CONV, VD__L_DEPTHWISE };
enum { VD__L_RESHAPE, VD__L_EXPAND_DIMS, VD__L_SQUEEZE };
enum { VD__L_CONCAT, VD__L_PACK };
enum { VD__L_SPLITV, VD__L_SPLIT, VD__L_UNPACK };
enum { VD__L_GATHER, VD__L_GATHERND };

/* ---- values.c: tables ---------------------------------------------------------------- */

/* A new value (identity perm, no buffer, not lazy). Returns its index, or fills err
 * (naming m->lowering) and returns VD_ESHAPE for a negative dimension, VD_ETOOBIG for
 * more than VD__MAX_ELEMS elements (overflow-checked), or VD_ENOMEM. `shape` may point
 * into m->vals (it is copied before the table grows). */
int vd__new_val(vd__model *m, int dtype, int ndim, const int64_t *shape, const char *node,
                vd_error *err);
int vd__new_buf(vd__model *m, size_t bytes);
/* A runtime value with its own buffer / a constant with zeroed storage (as vd__new_val). */
int vd__rt_val(vd__model *m, int dtype, int ndim, const int64_t *shape, const char *node,
               vd_error *err);
int vd__const_val(vd__model *m, int dtype, int ndim, const int64_t *shape, const char *node,
                  vd_error *err);
/* A new zeroed step of `kind` doing `ops` for node n (NULL: a layout step), clamp open. */
int vd__new_step(vd__model *m, vd__step_kind kind, const vd__step_ops *ops, const vd__node *n);
/* Data of value v: its constant, or its place in the arena (after planning). */
void *vd__vptr(vd__model *m, int v);
int vd__is_identity(const vd__val *v);
void vd__phys_shape(const vd__val *v, int64_t *out); /* shape in physical axis order */

/* ---- values.c: layout ------------------------------------------------------------------ */

/* Emit a C-kernel step made of proto's kind, ops and params, or, when its outputs are
 * constants, run it now (constant folding) and drop it. out[] must already exist.
 * Returns the step index (0 when folded) or an error. */
int vd__emit_kernel(vd__model *m, const vd__node *n, const vd__step *proto, const int *ins,
                    int n_in, const int *outs, int n_out, vd_error *err);
/* Make a lazy Pad real (XNNPACK constant pad in the source's physical layout). */
int vd__realize(vd__model *m, int v, vd_error *err);
/* v in canonical (row-major logical) layout: itself, or a copy made once and cached. */
int vd__canon(vd__model *m, int v, vd_error *err);
/* A view of canonical v (same buffer) with a new logical shape. */
int vd__view(vd__model *m, int v, int ndim, const int64_t *shape, vd_error *err);

/* ---- values.c: node inputs and outputs ---------------------------------------------- */

/* The value of node n's input k. */
int vd__in_val(vd__model *m, const vd__node *n, int k, vd_error *err);
/* A small constant input k as int64 values; returns the count. */
int vd__const_ints(vd__model *m, const vd__node *n, int k, int64_t *out, int cap, vd_error *err);
/* Node n's outputs are the `count` values from `first` on. */
int vd__set_outputs(vd__model *m, vd__node *n, int first, int count);
/* Axis a of a rank-nd tensor in [0, nd) (negative counts from the end), -1 if out of range. */
int vd__norm_axis(int64_t a, int nd);

/* ---- op families: the lowering functions of the table in lower.c ------------------- */

/* conv.c: convolution and pooling */
int vd__lower_conv(vd__model *m, vd__node *n, int kind, vd_error *err);
int vd__lower_maxpool(vd__model *m, vd__node *n, int kind, vd_error *err);
int vd__lower_resize(vd__model *m, vd__node *n, int kind, vd_error *err);

/* elementwise.c */
int vd__lower_binary(vd__model *m, vd__node *n, int op, vd_error *err);
int vd__lower_unary(vd__model *m, vd__node *n, int op, vd_error *err);
int vd__lower_prelu(vd__model *m, vd__node *n, int kind, vd_error *err);
int vd__lower_cast(vd__model *m, vd__node *n, int kind, vd_error *err);
int vd__emit_cast(vd__model *m, const vd__node *n, int x, int o, vd_error *err);

/* layout.c */
int vd__lower_pad(vd__model *m, vd__node *n, int kind, vd_error *err);
int vd__lower_transpose(vd__model *m, vd__node *n, int kind, vd_error *err);
int vd__lower_reshape(vd__model *m, vd__node *n, int kind, vd_error *err);
int vd__lower_concat(vd__model *m, vd__node *n, int kind, vd_error *err);
int vd__lower_split(vd__model *m, vd__node *n, int kind, vd_error *err);
int vd__lower_strided_slice(vd__model *m, vd__node *n, int kind, vd_error *err);
int vd__lower_shape(vd__model *m, vd__node *n, int kind, vd_error *err);
int vd__lower_size(vd__model *m, vd__node *n, int kind, vd_error *err);
int vd__lower_tile(vd__model *m, vd__node *n, int kind, vd_error *err);

/* nary.c: element-wise ops of more than two inputs */
int vd__lower_addn(vd__model *m, vd__node *n, int kind, vd_error *err);
int vd__lower_select(vd__model *m, vd__node *n, int kind, vd_error *err);

/* generate.c */
int vd__lower_fill(vd__model *m, vd__node *n, int kind, vd_error *err);
int vd__lower_range(vd__model *m, vd__node *n, int kind, vd_error *err);

/* reduce.c: reductions, gather, top-k, arg-max, sparse-to-dense */
int vd__lower_reduce(vd__model *m, vd__node *n, int op, vd_error *err);
int vd__lower_gather(vd__model *m, vd__node *n, int kind, vd_error *err);
int vd__lower_topk(vd__model *m, vd__node *n, int kind, vd_error *err);
int vd__lower_argmax(vd__model *m, vd__node *n, int kind, vd_error *err);
int vd__lower_sparse_to_dense(vd__model *m, vd__node *n, int kind, vd_error *err);
/* An XNNPACK unary step (clamp, sigmoid, leaky relu, ...) / a Prelu step with one slope
 * per innermost channel, on runtime value v, same layout. Return the output value. */
int vd__emit_unary(vd__model *m, const vd__node *n, int v, int op, float alpha, vd_error *err);
int vd__emit_prelu(vd__model *m, const vd__node *n, int v, const float *slope, int64_t channels,
                   vd_error *err);

#endif
