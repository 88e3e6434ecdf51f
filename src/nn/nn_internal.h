/*
 * Internals of the TF.js graph-model runtime (src/nn). Not a public API.
 *
 * Load (vd_model_load, model.c):
 *   model.json + shards --graph.c--> vd__graph (nodes, constants dequantised)
 *   --lowering--> values + steps: constant folding, layout tracking (Transpose is free:
 *     a value carries a permutation from logical to physical axes), lazy Pad folded
 *     into convolutions, bias/activation fusion into XNNPACK operators. Files (their
 *     shared header is lower.h):
 *       lower.c        driver: the op table {tf_op, lower, kind}, the graph walk,
 *                      Const/Placeholder/Identity
 *       values.c       value/buffer/step tables, canonical copies, lazy Pad, views
 *       conv.c         Conv2D (+fused, depthwise), MaxPool, ResizeBilinear
 *       elementwise.c  binary and unary ops, Prelu, Cast
 *       layout.c       Pad, Transpose, Reshape/ExpandDims/Squeeze, ConcatV2/Pack,
 *                      Split/SplitV/Unpack, StridedSlice, Tile, Shape, Size
 *       nary.c         AddN, Select/SelectV2
 *       generate.c     Fill, Range
 *       reduce.c       Mean/Sum/Max/Min, GatherV2/GatherNd, TopKV2, ArgMax,
 *                      SparseToDense
 *     each family file holding its lowering, its C kernels and its XNNPACK create/setup
 *   --vd__finalize--> arena planned; each step's ops->create makes and sets up its
 *     XNNPACK operator once.
 * Run (vd__run_steps): copy the input in, run each step in order: its XNNPACK operator,
 * or ops->run (a C kernel). How to add an op: docs/architecture.md, "nn".
 *
 * Ownership: a vd_model owns its graph, values (and their constants), steps (and what
 * their params own) and buffers. Threads: loading runs on the calling thread; a model
 * is run by one thread at a time (nn.h).
 */
#ifndef VDAG_NN_INTERNAL_H
#define VDAG_NN_INTERNAL_H

#include <jansson.h>
#include <pthreadpool.h>
#include <stdint.h>
#include <xnnpack.h>

#include "vdag/nn.h"

#define VD__MAXD VD_MAX_DIMS

/* dtypes inside the runtime; booleans are stored as int32 0/1. */
enum { VD__F32 = VD_F32, VD__I32 = VD_I32, VD__BOOL = 2 };

/* ---- graph (parsed model.json) ---------------------------------------------------- */

typedef struct vd__node {
    char *name;
    char *op;
    json_t *attr; /* borrowed from the graph's JSON document */
    int n_in;
    char **in; /* input refs "node" / "node:k"; control inputs ("^x") dropped */
    /* constants */
    int is_const;
    int cdtype; /* VD__F32 / VD__I32 / VD__BOOL */
    int cndim;
    int64_t cshape[VD__MAXD];
    void *cdata; /* owned, dequantised */
    /* lowering state */
    int first_val; /* index of output 0 in the value table, -1 if not lowered */
    int n_out;
    int visit; /* DFS mark */
} vd__node;

typedef struct vd__graph {
    char *path; /* model.json path (for messages) */
    json_t *doc;
    vd__node *nodes;
    int n_nodes;
    char **outputs;   /* output refs ("Identity_3:0" style, without ":0" resolved) */
    char **out_names; /* user-visible names (signature keys) */
    int n_outputs;
    char *input_name;
    /* The signature's input shape (sig_in_ndim 0: none given), -1 where it is dynamic
     * too; the Placeholder takes its dynamic (-1) dimensions from it. */
    int sig_in_ndim;
    int64_t sig_in_shape[VD__MAXD];
} vd__graph;

int vd__graph_load(const char *path, vd__graph *g, vd_error *err);
void vd__graph_free(vd__graph *g);
int vd__graph_find(const vd__graph *g, const char *name); /* node index or -1 */

/* attribute helpers (TF.js AttrValue JSON) */
int vd__attr_int(const vd__node *n, const char *key, int64_t def, int64_t *out);
float vd__attr_float(const vd__node *n, const char *key, float def);
int vd__attr_bool(const vd__node *n, const char *key, int def);
/* base64-decoded string attribute into buf; returns 0 or -1 if absent */
int vd__attr_str(const vd__node *n, const char *key, char *buf, size_t cap);
/* list.i attribute; returns count (<= cap), or -1 if absent */
int vd__attr_ints(const vd__node *n, const char *key, int64_t *out, int cap);
/* list.s attribute (base64-decoded); returns count */
int vd__attr_strs(const vd__node *n, const char *key, char out[][32], int cap);

/* ---- values and steps ----------------------------------------------------------- */

/* V(i): value i, as a pointer into m->vals (needs `m` in scope).
 *
 * The rule: a pointer into m->vals -- V(i), V(i)->shape, a `vd__val *` kept in a local
 * -- is valid only until the next call that may add a value, because adding may move
 * the table. Calls that may add values: vd__new_val, vd__rt_val, vd__const_val,
 * vd__view, vd__canon, vd__realize, vd__emit_unary/prelu, and every lowering function
 * that calls one (nhwc_input, transpose_val, ...). After such a call, take V(i) again;
 * keep indices, or copy out the fields you need (a constant's cdata is heap memory
 * owned by the value and does not move). vd__new_val copies `shape` before it grows
 * the table, so V(j)->shape may be passed to the constructors. The same holds for
 * pointers into m->steps (moved by vd__new_step / vd__emit_kernel) and m->bufs.
 * Check: the sanitizer build moves each table on every addition and frees the old
 * block (values.c, VD__MOVING_TABLES), so a stale pointer is an ASan report on use. */
#define V(i) (&m->vals[(i)])

typedef struct vd__val {
    int dtype;
    int ndim;
    int64_t shape[VD__MAXD]; /* logical shape */
    int perm[VD__MAXD];      /* physical axis i holds logical axis perm[i] */
    void *cdata;             /* constant (canonical layout), owned; NULL if runtime */
    int buf;                 /* runtime: buffer index; -1 for constants */
    int64_t offset;          /* element offset inside the buffer (views) */
    /* lazy zero pad: value = pad(src) with pads per logical axis (not yet emitted) */
    int lazy_src;
    int64_t pad_lo[VD__MAXD], pad_hi[VD__MAXD];
    float pad_value;
    int canon;        /* cached canonical-layout copy, or -1 */
    int producer;     /* step index that writes it, or -1 */
    int uses;         /* consumers in the graph (+1 if an output), once its node is lowered */
    const char *node; /* node name, for messages */
} vd__val;

/* What a step is; also says which member of vd__step.params is valid (the tag of
 * the union, as XNNPACK's node->type is for node->params). */
typedef enum vd__step_kind {
    VD__S_CONV,            /* params.conv: convolution, incl. depthwise (XNNPACK) */
    VD__S_MAXPOOL,         /* params.pool (XNNPACK) */
    VD__S_GAVGPOOL,        /* no params: mean over H,W of NHWC (XNNPACK) */
    VD__S_RESIZE,          /* params.resize: bilinear (XNNPACK) */
    VD__S_BINARY,          /* params.binary: XNNPACK (f32 add..max) or C kernel */
    VD__S_UNARY,           /* params.unary: XNNPACK or C kernel */
    VD__S_PRELU,           /* params.prelu (XNNPACK) */
    VD__S_CAST,            /* no params (dtypes are the values'); also copies constants out */
    VD__S_TRANSPOSE,       /* no params: canonical copy of a permuted value */
    VD__S_PAD,             /* params.pad: XNNPACK (lazy pad made real) or C kernel (folding) */
    VD__S_CONCAT,          /* params.concat */
    VD__S_SPLIT,           /* params.split (Split, SplitV, Unpack) */
    VD__S_SLICE,           /* params.slice (StridedSlice) */
    VD__S_GATHER,          /* params.gather (GatherV2) */
    VD__S_GATHERND,        /* no params */
    VD__S_TOPK,            /* params.topk */
    VD__S_ARGMAX,          /* params.argmax */
    VD__S_REDUCE,          /* params.reduce */
    VD__S_SPARSE_TO_DENSE, /* no params */
    VD__S_ADDN,            /* no params: sum of n_in inputs of one shape */
    VD__S_SELECT,          /* no params: in[0] ? in[1] : in[2], broadcast */
    VD__S_TILE,            /* no params: repeats are the output's shape over the input's */
    VD__S_FILL,            /* no params: the scalar in[0] everywhere */
    VD__S_RANGE,           /* no params: in[0] + i * in[1] (folded at load) */
} vd__step_kind;

/* Spatial window of a convolution or pooling over NHWC. */
typedef struct vd__window {
    int64_t kh, kw, sh, sw, dh, dw; /* kernel, stride, dilation */
    int64_t pt, pb, pl, pr;         /* implicit zero padding (a lazy Pad folds in here) */
} vd__window;

typedef struct vd__conv_params {
    vd__window w;
    int64_t groups, gcin, gcout; /* dense: 1, cin, cout; depthwise: cin, 1, multiplier */
    float *weights;              /* owned: OHWI (dense) or HW(C*M) (depthwise) */
    float *bias;                 /* owned: [groups * gcout] */
} vd__conv_params;

typedef struct vd__pool_params {
    vd__window w;
} vd__pool_params;

/* binary op ids */
enum {
    VD__B_ADD,
    VD__B_SUB,
    VD__B_MUL,
    VD__B_DIV,
    VD__B_SQDIFF,
    VD__B_MIN,
    VD__B_MAX,
    VD__B_FLOORDIV,
    VD__B_FLOORMOD,
    VD__B_EQUAL,
    VD__B_LESS,
    VD__B_GREATER,
    VD__B_GREATER_EQUAL,
    VD__B_LOGICAL_AND, /* bools (int32 0/1) */
};
typedef struct vd__binary_params {
    int op; /* VD__B_* */
    /* XNNPACK only: both operands' shapes in the output's physical layout, extended
     * with leading 1s to ndim; a constant operand is pre-laid-out in konst[k] (owned). */
    int ndim;
    size_t shape[2][VD__MAXD];
    float *konst[2];
} vd__binary_params;

/* unary op ids */
enum {
    VD__U_RELU,
    VD__U_RELU6,
    VD__U_SIGMOID,
    VD__U_LEAKY,
    VD__U_SQRT,
    VD__U_NEG,
    VD__U_TANH,
    VD__U_EXP,
    VD__U_RSQRT,
    VD__U_SQUARE,
    VD__U_ABS,
    VD__U_RECIPROCAL,
};
typedef struct vd__unary_params {
    int op;      /* VD__U_* */
    float alpha; /* LeakyRelu slope */
} vd__unary_params;

typedef struct vd__prelu_params {
    int64_t channels; /* slopes per innermost-axis channel */
    float *slope;     /* owned: [channels] */
} vd__prelu_params;

typedef struct vd__resize_params {
    uint32_t flags; /* XNN_FLAG_ALIGN_CORNERS / XNN_FLAG_TENSORFLOW_LEGACY_MODE / 0 */
} vd__resize_params;

typedef struct vd__pad_params {
    int64_t lo[VD__MAXD], hi[VD__MAXD]; /* per axis of the input's physical layout */
    float value;                        /* the fill; the kernels convert it to the input's dtype */
} vd__pad_params;

typedef struct vd__concat_params {
    int axis; /* physical axis of the output; inputs share its perm */
} vd__concat_params;

typedef struct vd__split_params {
    int axis;   /* physical axis of the input; outputs share its perm */
    int unpack; /* Unpack: outputs drop the axis */
} vd__split_params;

typedef struct vd__slice_params {
    /* per input axis (canonical data); the output holds the count[] elements in
     * row-major order (shrunk axes have count 1) */
    int64_t begin[VD__MAXD], stride[VD__MAXD], count[VD__MAXD];
} vd__slice_params;

typedef struct vd__gather_params {
    int axis;
} vd__gather_params;

typedef struct vd__topk_params {
    int64_t k; /* over the last axis */
} vd__topk_params;

typedef struct vd__argmax_params {
    int axis;
} vd__argmax_params;

enum { VD__R_MEAN, VD__R_SUM, VD__R_MAX, VD__R_MIN };
typedef struct vd__reduce_params {
    int op;                 /* VD__R_* */
    uint8_t axes[VD__MAXD]; /* 1: logical axis i is reduced */
} vd__reduce_params;

struct vd_model;
struct vd__step;
/* What a step does, set by the family file that lowered it (as XNNPACK's subgraph
 * nodes carry create/setup callbacks). A step has `create` (an XNNPACK operator) or
 * `run` (a C kernel). */
typedef struct vd__step_ops {
    const char *label; /* profile row, e.g. "Conv (xnn)"; NULL: the TF op name */
    /* XNNPACK: create and set up s->xop once buffers are placed (vd__finalize) */
    int (*create)(struct vd_model *m, struct vd__step *s, vd_error *err);
    /* C kernel: compute the outputs (at run time, or at load to fold constants) */
    int (*run)(struct vd_model *m, struct vd__step *s);
    void (*fini)(struct vd__step *s); /* frees what s->params owns; NULL: nothing */
} vd__step_ops;

typedef struct vd__step {
    vd__step_kind kind;
    const vd__step_ops *ops;
    const char *node; /* node name (messages, profiling) */
    const char *op;   /* TF op name */
    int in[8], n_in;
    int out[8], n_out;
    xnn_operator_t xop;
    float out_min, out_max; /* output clamp of XNNPACK operators that take one */
    double flops;
    union {
        vd__conv_params conv;
        vd__pool_params pool;
        vd__binary_params binary;
        vd__unary_params unary;
        vd__prelu_params prelu;
        vd__resize_params resize;
        vd__pad_params pad;
        vd__concat_params concat;
        vd__split_params split;
        vd__slice_params slice;
        vd__gather_params gather;
        vd__topk_params topk;
        vd__argmax_params argmax;
        vd__reduce_params reduce;
    } params;
} vd__step;

typedef struct vd__buf {
    size_t bytes;
    void *ptr;       /* into the arena */
    int first, last; /* step range in which it is live */
    int pinned;      /* input/output: never shared */
} vd__buf;

struct vd_model {
    vd__graph g;
    vd__val *vals;
    int n_vals, cap_vals;
    vd__step *steps;
    int n_steps, cap_steps;
    vd__buf *bufs;
    int n_bufs, cap_bufs;
    void *arena;
    pthreadpool_t pool;
    const vd__node *lowering; /* the node being lowered (messages), NULL after */
    int input_val;
    int *out_vals;
    vd_tensor in_desc;
    vd_tensor *out_desc;
    double flops;
    double *prof_ms; /* per-step accumulated ms when profiling, else NULL */
    int prof_runs;
};
typedef struct vd_model vd__model;

/* lower.c */
int vd__lower(vd__model *m, vd_error *err);
/* model.c */
int vd__finalize(vd__model *m, vd_error *err);
int vd__run_steps(vd__model *m, vd_error *err);
void vd__steps_free(vd__model *m);
void vd__step_fini(vd__step *s); /* frees what s->params owns */
/* 0, or VD_EBACKEND naming the step's node when XNNPACK refused to create/set it up. */
int vd__xnn_check(vd__model *m, const vd__step *s, enum xnn_status st, vd_error *err);

/* values.c: element counts and transposes of canonical row-major data */

/* The most elements a tensor may have: 2^48, so that element counts, byte sizes and
 * offsets of any tensor, and the product of any of its dimensions, fit in int64_t and
 * size_t with room to spare. */
#define VD__MAX_ELEMS ((int64_t)1 << 48)
/* Element count of a shape, overflow-checked: -1 if a dimension is negative or the
 * product of its nonzero dimensions exceeds VD__MAX_ELEMS (so every partial product of
 * an accepted shape is bounded too, even when another dimension is 0). Every value's
 * shape passes this in vd__new_val, so kernels may multiply its dimensions freely. */
int64_t vd__numel(const int64_t *shape, int ndim);
/* "64x536903681x536838145" (or "(scalar)") in buf, for messages; returns buf. */
const char *vd__shape_str(const int64_t *shape, int ndim, char *buf, size_t cap);
void vd__transpose(const void *src, void *dst, const int64_t *src_shape, int ndim, const int *perm,
                   size_t elsize);
#endif
