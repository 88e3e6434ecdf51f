/*
 * The lowering driver: walks the graph depth-first from its outputs and lowers each
 * reachable node once through the table below (TF op -> family lowering function and
 * kind). The source ops (Const, Placeholder, Identity) live here; every other op lives
 * in its family file (conv.c, elementwise.c, layout.c, reduce.c, nary.c, generate.c; see
 * nn_internal.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/lower.h"

/* ---- source ops ----------------------------------------------------------------------- */

static int lower_const(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    int v = vd__new_val(m, n->cdtype, n->cndim, n->cshape, n->name, err);
    if (v < 0) return v;
    V(v)->cdata = n->cdata;
    n->cdata = NULL; /* ownership moves to the value */
    return vd__set_outputs(m, n, v, 1);
}

static int lower_placeholder(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    json_t *a = json_object_get(n->attr, "shape");
    json_t *sh = a ? json_object_get(json_object_get(a, "shape"), "dim") : NULL;
    int64_t shape[VD__MAXD];
    int nd = 0;
    size_t i;
    json_t *d;
    json_array_foreach(sh, i, d)
    {
        if (nd >= VD__MAXD) return NODE_ERR(n, VD_EUNSUPP, "too many dimensions");
        const char *s = json_string_value(json_object_get(d, "size"));
        int64_t x = s ? atoll(s) : json_integer_value(json_object_get(d, "size"));
        shape[nd] = x;
        if (x < 0) /* dynamic: the signature's size (movenet-multipose's 256x256), else 1 */
            shape[nd] = m->g.sig_in_ndim == (int)json_array_size(sh) && m->g.sig_in_shape[nd] > 0
                            ? m->g.sig_in_shape[nd]
                            : 1;
        nd++;
    }
    if (nd == 0) return NODE_ERR(n, VD_EUNSUPP, "input needs a static shape");
    for (int k = 0; k < nd; k++)
        if (shape[k] == 0) return NODE_ERR(n, VD_EUNSUPP, "input needs a static shape");
    json_t *dt = json_object_get(json_object_get(n->attr, "dtype"), "type");
    const char *dts = json_string_value(dt);
    int dtype = dts && !strcmp(dts, "DT_INT32") ? VD__I32 : VD__F32;
    if (dts && strcmp(dts, "DT_INT32") && strcmp(dts, "DT_FLOAT"))
        return NODE_ERR(n, VD_EUNSUPP, "input dtype %s is not supported", dts);
    int v = vd__rt_val(m, dtype, nd, shape, n->name, err);
    if (v < 0) return v;
    m->bufs[V(v)->buf].pinned = 1;
    if (m->input_val < 0) m->input_val = v;
    return vd__set_outputs(m, n, v, 1);
}

static int lower_identity(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    int v = vd__in_val(m, n, 0, err);
    if (v < 0) return v;
    return vd__set_outputs(m, n, v, 1);
}

/* The lowering table: TF op -> lowering function and the kind it passes on (an
 * op id such as VD__B_ADD, or a VD__L_* variant; 0 when the function has one op). */
typedef struct {
    const char *op;
    int (*lower)(vd__model *m, vd__node *n, int kind, vd_error *err);
    int kind;
} lower_entry;

static const lower_entry lowerers[] = {
    {"Const", lower_const, 0},
    {"Placeholder", lower_placeholder, 0},
    {"Identity", lower_identity, 0},
    {"StopGradient", lower_identity, 0},
    {"Snapshot", lower_identity, 0},
    {"Conv2D", vd__lower_conv, VD__L_CONV},
    {"_FusedConv2D", vd__lower_conv, VD__L_CONV},
    {"DepthwiseConv2dNative", vd__lower_conv, VD__L_DEPTHWISE},
    {"FusedDepthwiseConv2dNative", vd__lower_conv, VD__L_DEPTHWISE},
    {"MaxPool", vd__lower_maxpool, 0},
    {"Add", vd__lower_binary, VD__B_ADD},
    {"AddV2", vd__lower_binary, VD__B_ADD},
    {"BiasAdd", vd__lower_binary, VD__B_ADD},
    {"Sub", vd__lower_binary, VD__B_SUB},
    {"Mul", vd__lower_binary, VD__B_MUL},
    {"RealDiv", vd__lower_binary, VD__B_DIV},
    {"Div", vd__lower_binary, VD__B_DIV},
    {"SquaredDifference", vd__lower_binary, VD__B_SQDIFF},
    {"Minimum", vd__lower_binary, VD__B_MIN},
    {"Maximum", vd__lower_binary, VD__B_MAX},
    {"FloorDiv", vd__lower_binary, VD__B_FLOORDIV},
    {"FloorMod", vd__lower_binary, VD__B_FLOORMOD},
    {"Equal", vd__lower_binary, VD__B_EQUAL},
    {"Less", vd__lower_binary, VD__B_LESS},
    {"Greater", vd__lower_binary, VD__B_GREATER},
    {"GreaterEqual", vd__lower_binary, VD__B_GREATER_EQUAL},
    {"LogicalAnd", vd__lower_binary, VD__B_LOGICAL_AND},
    {"Relu", vd__lower_unary, VD__U_RELU},
    {"Relu6", vd__lower_unary, VD__U_RELU6},
    {"Sigmoid", vd__lower_unary, VD__U_SIGMOID},
    {"LeakyRelu", vd__lower_unary, VD__U_LEAKY},
    {"Sqrt", vd__lower_unary, VD__U_SQRT},
    {"Neg", vd__lower_unary, VD__U_NEG},
    {"Tanh", vd__lower_unary, VD__U_TANH},
    {"Exp", vd__lower_unary, VD__U_EXP},
    {"Rsqrt", vd__lower_unary, VD__U_RSQRT},
    {"Square", vd__lower_unary, VD__U_SQUARE},
    {"Abs", vd__lower_unary, VD__U_ABS},
    {"Reciprocal", vd__lower_unary, VD__U_RECIPROCAL},
    {"Prelu", vd__lower_prelu, 0},
    {"Pad", vd__lower_pad, 0},
    {"PadV2", vd__lower_pad, 0},
    {"Transpose", vd__lower_transpose, 0},
    {"Reshape", vd__lower_reshape, VD__L_RESHAPE},
    {"ExpandDims", vd__lower_reshape, VD__L_EXPAND_DIMS},
    {"Squeeze", vd__lower_reshape, VD__L_SQUEEZE},
    {"ConcatV2", vd__lower_concat, VD__L_CONCAT},
    {"Pack", vd__lower_concat, VD__L_PACK},
    {"SplitV", vd__lower_split, VD__L_SPLITV},
    {"Split", vd__lower_split, VD__L_SPLIT},
    {"Unpack", vd__lower_split, VD__L_UNPACK},
    {"ResizeBilinear", vd__lower_resize, 0},
    {"Mean", vd__lower_reduce, VD__R_MEAN},
    {"Sum", vd__lower_reduce, VD__R_SUM},
    {"Max", vd__lower_reduce, VD__R_MAX},
    {"Min", vd__lower_reduce, VD__R_MIN},
    {"Cast", vd__lower_cast, 0},
    {"StridedSlice", vd__lower_strided_slice, 0},
    {"GatherV2", vd__lower_gather, VD__L_GATHER},
    {"GatherNd", vd__lower_gather, VD__L_GATHERND},
    {"TopKV2", vd__lower_topk, 0},
    {"ArgMax", vd__lower_argmax, 0},
    {"SparseToDense", vd__lower_sparse_to_dense, 0},
    {"Shape", vd__lower_shape, 0},
    {"Size", vd__lower_size, 0},
    {"Tile", vd__lower_tile, 0},
    {"AddN", vd__lower_addn, 0},
    {"Select", vd__lower_select, 0},
    {"SelectV2", vd__lower_select, 0},
    {"Fill", vd__lower_fill, 0},
    {"Range", vd__lower_range, 0},
};

/* ---- driver ----------------------------------------------------------------------- */

static int ref_node(const vd__graph *g, const char *ref)
{
    char name[512];
    snprintf(name, sizeof name, "%s", ref);
    char *c = strrchr(name, ':');
    if (c && c[1] >= '0' && c[1] <= '9') *c = 0;
    return vd__graph_find(g, name);
}

/* Depth-first post-order from the outputs: lowers each reachable node once. */
static int visit(vd__model *m, int ni, int *uses, vd_error *err, int depth)
{
    vd__node *n = &m->g.nodes[ni];
    if (n->visit == 2) return 0;
    if (n->visit == 1) return NODE_ERR(n, VD_EFORMAT, "the graph has a cycle through this node");
    if (depth > 100000) return NODE_ERR(n, VD_EFORMAT, "graph too deep");
    n->visit = 1;
    for (int k = 0; k < n->n_in; k++) {
        int src = ref_node(&m->g, n->in[k]);
        if (src < 0)
            return NODE_ERR(n, VD_EFORMAT, "input '%s' names no node in the graph", n->in[k]);
        int rc = visit(m, src, uses, err, depth + 1);
        if (rc) return rc;
    }
    const lower_entry *e = NULL;
    for (size_t i = 0; i < sizeof lowerers / sizeof *lowerers; i++)
        if (!strcmp(lowerers[i].op, n->op)) e = &lowerers[i];
    if (!e)
        return NODE_ERR(n, VD_EUNSUPP, "unsupported op (vdag's runtime does not implement '%s')",
                        n->op);
    m->lowering = n;
    int rc = e->lower(m, n, e->kind, err);
    m->lowering = NULL;
    if (rc < 0) return rc;
    if (n->first_val < 0) return NODE_ERR(n, VD_EFORMAT, "internal: node produced no value");
    for (int k = 0; k < n->n_out; k++) V(n->first_val + k)->uses = uses[ni];
    n->visit = 2;
    return 0;
}

int vd__lower(vd__model *m, vd_error *err)
{
    vd__graph *g = &m->g;
    m->input_val = -1;
    int *uses = calloc((size_t)g->n_nodes + 1, sizeof(int));
    int *outn = calloc((size_t)g->n_outputs + 1, sizeof(int));
    if (!uses || !outn) {
        free(uses);
        free(outn);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int s = ref_node(g, g->nodes[i].in[k]);
            if (s >= 0) uses[s]++;
        }
    int rc = 0;
    for (int i = 0; i < g->n_outputs && !rc; i++) {
        outn[i] = ref_node(g, g->outputs[i]);
        if (outn[i] < 0)
            rc = vd_fail(err, VD_EFORMAT, "%s: output '%s' names no node in the graph", g->path,
                         g->outputs[i]);
        else
            uses[outn[i]]++;
    }
    /* The input placeholder is lowered first so it is value 0's neighbour. */
    for (int i = 0; i < g->n_nodes && !rc; i++)
        if (!strcmp(g->nodes[i].op, "Placeholder")) rc = visit(m, i, uses, err, 0);
    for (int i = 0; i < g->n_outputs && !rc; i++) rc = visit(m, outn[i], uses, err, 0);
    if (!rc && m->input_val < 0)
        rc = vd_fail(err, VD_EFORMAT, "%s: the graph has no Placeholder input", g->path);
    if (!rc) {
        m->out_vals = calloc((size_t)g->n_outputs, sizeof(int));
        if (!m->out_vals) rc = vd_fail(err, VD_ENOMEM, "out of memory");
    }
    for (int i = 0; i < g->n_outputs && !rc; i++) {
        vd__node *n = &g->nodes[outn[i]];
        int idx = 0;
        const char *c = strrchr(g->outputs[i], ':');
        if (c && c[1] >= '0' && c[1] <= '9') idx = atoi(c + 1);
        int v = n->first_val + idx;
        m->lowering = n;
        v = vd__canon(m, v, err);
        if (v < 0) {
            rc = v;
            break;
        }
        if (V(v)->cdata) { /* constant output: copy into a runtime buffer once */
            int o = vd__rt_val(m, V(v)->dtype, V(v)->ndim, V(v)->shape, n->name, err);
            if (o < 0) {
                rc = o;
                break;
            }
            int si = vd__emit_cast(m, n, v, o, err);
            if (si < 0) {
                rc = si;
                break;
            }
            v = o;
        }
        m->out_vals[i] = v;
    }
    m->lowering = NULL;
    free(uses);
    free(outn);
    return rc;
}
