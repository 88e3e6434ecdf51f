/*
 * Internals of the TF.js graph-model runtime (src/nn). Not a public API.
 *
 * Load pipeline (model.c):
 *   model.json + shards --graph.c--> vd__graph (nodes, constants dequantised)
 *   --lower.c--> values + steps: constant folding, layout tracking (Transpose is
 *   free: a value carries a permutation from logical to physical axes), lazy Pad
 *   folded into convolutions, bias/activation fusion into XNNPACK operators
 *   --finalize--> buffers allocated, XNNPACK operators created and set up once.
 * Run: copy the input in, run each step in order (XNNPACK operator or small C kernel).
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
    int uses;         /* remaining consumers in the graph (+1 if an output) */
    const char *node; /* node name, for messages */
} vd__val;

typedef enum vd__step_kind {
    VD__S_CONV, /* convolution (incl. depthwise) */
    VD__S_MAXPOOL,
    VD__S_BINARY, /* add/sub/mul/div/sqdiff/min/max on f32 */
    VD__S_UNARY,  /* sigmoid/leaky/sqrt/clamp/... */
    VD__S_PRELU,
    VD__S_RESIZE,
    VD__S_GAVGPOOL, /* mean over H,W of NHWC */
    VD__S_PAD,
    VD__S_KERNEL, /* C kernel */
} vd__step_kind;

struct vd_model;
struct vd__step;
typedef int (*vd__kern_fn)(struct vd_model *m, struct vd__step *s);

typedef struct vd__step {
    vd__step_kind kind;
    int sub;          /* op sub-kind (binary/unary/kernel id) */
    const char *node; /* node name (messages, profiling) */
    const char *op;   /* TF op name */
    int in[8], n_in;
    int out[8], n_out;
    xnn_operator_t xop;
    /* conv */
    int64_t kh, kw, sh, sw, dh, dw, pt, pb, pl, pr, groups, gcin, gcout;
    float *weights, *bias; /* owned, OHWI / [cout] */
    float out_min, out_max;
    /* misc params */
    float alpha;
    int64_t p[16];
    float *fparam; /* owned (e.g. prelu slopes) */
    vd__kern_fn kern;
    double flops;
} vd__step;

typedef struct vd__model_int {
    int dummy;
} vd__model_int;

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
int vd__finalize(vd__model *m, vd_error *err);
int vd__run_steps(vd__model *m, vd_error *err);
void vd__steps_free(vd__model *m);

/* kernels.c: reference kernels on canonical row-major data */
int64_t vd__numel(const int64_t *shape, int ndim);
void vd__transpose(const void *src, void *dst, const int64_t *src_shape, int ndim, const int *perm,
                   size_t elsize);
int vd__broadcast_shape(const int64_t *a, int na, const int64_t *b, int nb, int64_t *out,
                        int *nout);
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
};
void vd__binary_ref(int op, int dtype, const void *a, const int64_t *as, int an, const void *b,
                    const int64_t *bs, int bn, void *out, const int64_t *os, int on);
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
};
void vd__unary_ref(int op, int dtype, const void *in, void *out, int64_t n, float alpha);
void vd__cast(const void *in, int from, void *out, int to, int64_t n);

#endif
