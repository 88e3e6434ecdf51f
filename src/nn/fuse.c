/*
 * Graph rewrites before lowering: a pattern of TF ops that one XNNPACK operator computes
 * becomes one node of a vdag op (named "_Vd..."; the lowering table in lower.c has a row
 * for each), and the pattern's inner nodes lose their inputs so nothing reaches them.
 *
 *   HardSwish  x * relu6(x + 3) / 6, as TF spells it in MobileNetV3 (centernet):
 *              Mul(Mul(x, c), Relu6(Add(x, 3))) in either operand order, or
 *              Mul(x, Mul(Relu6(Add(x, 3)), c))            -> _VdHardSwish(x, c)
 *              c is 1/6 as the model stores it: converters keep float16 weights, whose
 *              1/6 is 0.16662598, so the lowering scales the result by c / (1/6) to
 *              compute what the graph says.
 *
 *   KeepEqual  x * cast<float>(x == y), CenterNet's peak test (y the max-pooled heatmap):
 *              Mul(x, Cast(Equal(x, y))) in either order of either op  -> _VdKeepEqual(x, y)
 *
 * A pattern matches only when its inner nodes have no reader outside it (nor are model
 * outputs), so no value another node needs disappears.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/lower.h"

/* Node index and output index of a reference "name" / "name:k"; -1 if none. */
static int ref_of(const vd__graph *g, const char *ref, int *port)
{
    char name[512];
    size_t l = strlen(ref);
    if (l >= sizeof name) return -1;
    memcpy(name, ref, l + 1);
    *port = 0;
    char *c = strrchr(name, ':');
    if (c && c[1] >= '0' && c[1] <= '9') {
        *port = atoi(c + 1);
        *c = 0;
    }
    return vd__graph_find(g, name);
}

typedef struct {
    const vd__graph *g;
    int *uses; /* readers of each node (inputs of other nodes, model outputs) */
} matcher;

/* Input k of node n, if it is output 0 of a node: that node's index, else -1. */
static int input_node(const matcher *mt, const vd__node *n, int k)
{
    int port;
    if (k >= n->n_in) return -1;
    int i = ref_of(mt->g, n->in[k], &port);
    return port == 0 ? i : -1;
}

/* Is node i a float scalar constant equal to `want` (to float rounding)? */
static int is_scalar(const matcher *mt, int i, float want)
{
    if (i < 0) return 0;
    const vd__node *c = &mt->g->nodes[i];
    if (!c->is_const || !c->cdata || c->cdtype != VD__F32) return 0;
    for (int d = 0; d < c->cndim; d++)
        if (c->cshape[d] != 1) return 0;
    return fabsf(*(const float *)c->cdata - want) <= 1e-3f * fabsf(want); /* float16 */
}

static int is_op(const matcher *mt, int i, const char *op)
{
    return i >= 0 && !strcmp(mt->g->nodes[i].op, op);
}

/* Inner node of a pattern: of op `op` (or op2) and read only by the pattern. */
static int inner(const matcher *mt, int i, const char *op, const char *op2)
{
    return i >= 0 && mt->uses[i] == 1 && (is_op(mt, i, op) || (op2 && is_op(mt, i, op2)));
}

/* Node i is Mul(y, c) or Mul(c, y) with scalar c == want and y output 0 of a node:
 * returns y's node (and c's reference in *cref), else -1. */
static int mul_by(const matcher *mt, int i, float want, const char **cref)
{
    const vd__node *n = &mt->g->nodes[i];
    if (n->n_in != 2) return -1;
    for (int k = 0; k < 2; k++)
        if (is_scalar(mt, input_node(mt, n, 1 - k), want)) {
            *cref = n->in[1 - k];
            return input_node(mt, n, k);
        }
    return -1;
}

/* Node i is Relu6(Add(x, 3)) with both inner; returns the Add's node, else -1. */
static int relu6_add3(const matcher *mt, int i, int x)
{
    if (!inner(mt, i, "Relu6", NULL) || mt->g->nodes[i].n_in != 1) return -1;
    int a = input_node(mt, &mt->g->nodes[i], 0);
    if (!inner(mt, a, "Add", "AddV2") || mt->g->nodes[a].n_in != 2) return -1;
    for (int k = 0; k < 2; k++)
        if (input_node(mt, &mt->g->nodes[a], k) == x &&
            is_scalar(mt, input_node(mt, &mt->g->nodes[a], 1 - k), 3.0f))
            return a;
    return -1;
}

static void drop_inputs(vd__node *n)
{
    for (int k = 0; k < n->n_in; k++) free(n->in[k]);
    n->n_in = 0;
}

/* Rewrite node n (which has at least two input slots) into op(x, c), dropping the
 * inputs of the inner nodes. */
static int rewrite(vd__graph *g, vd__node *n, const char *op, const char *xref, const char *cref,
                   const int *dead, int n_dead)
{
    char *o = strdup(op), *x = strdup(xref), *c = strdup(cref);
    if (!o || !x || !c) {
        free(o);
        free(x);
        free(c);
        return VD_ENOMEM;
    }
    for (int k = 0; k < n_dead; k++) drop_inputs(&g->nodes[dead[k]]);
    drop_inputs(n);
    free(n->op);
    n->op = o;
    n->in[0] = x;
    n->in[1] = c;
    n->n_in = 2;
    return 0;
}

/* The reference string node n uses for node x (output 0). */
static const char *ref_to(const matcher *mt, const vd__node *n, int x)
{
    for (int k = 0; k < n->n_in; k++)
        if (input_node(mt, n, k) == x) return n->in[k];
    return NULL;
}

static int fuse_hardswish(matcher *mt, vd__graph *g, int ni)
{
    vd__node *n = &g->nodes[ni];
    if (strcmp(n->op, "Mul") || n->n_in != 2) return 0;
    for (int k = 0; k < 2; k++) {
        int a = input_node(mt, n, k), b = input_node(mt, n, 1 - k);
        if (a < 0 || b < 0) continue;
        const char *cr = NULL;
        /* Mul(Mul(x, c), Relu6(Add(x, 3))) */
        if (inner(mt, a, "Mul", NULL)) {
            int x = mul_by(mt, a, 1.0f / 6.0f, &cr), add = x >= 0 ? relu6_add3(mt, b, x) : -1;
            if (add >= 0) {
                int dead[3] = {a, b, add};
                const char *xr = ref_to(mt, &g->nodes[a], x);
                return rewrite(g, n, "_VdHardSwish", xr, cr, dead, 3) ? VD_ENOMEM : 1;
            }
        }
        /* Mul(x, Mul(Relu6(Add(x, 3)), c)) */
        if (inner(mt, b, "Mul", NULL)) {
            int r = mul_by(mt, b, 1.0f / 6.0f, &cr), add = r >= 0 ? relu6_add3(mt, r, a) : -1;
            if (add >= 0) {
                int dead[3] = {b, r, add};
                const char *xr = ref_to(mt, n, a);
                return rewrite(g, n, "_VdHardSwish", xr, cr, dead, 3) ? VD_ENOMEM : 1;
            }
        }
    }
    return 0;
}

static int fuse_keep_equal(matcher *mt, vd__graph *g, int ni)
{
    vd__node *n = &g->nodes[ni];
    if (strcmp(n->op, "Mul") || n->n_in != 2) return 0;
    for (int k = 0; k < 2; k++) {
        int x = input_node(mt, n, k), c = input_node(mt, n, 1 - k);
        if (x < 0 || !inner(mt, c, "Cast", NULL) || g->nodes[c].n_in != 1) continue;
        const char *dst =
            json_string_value(json_object_get(json_object_get(g->nodes[c].attr, "DstT"), "type"));
        if (!dst || strcmp(dst, "DT_FLOAT")) continue;
        int e = input_node(mt, &g->nodes[c], 0);
        if (!inner(mt, e, "Equal", NULL) || g->nodes[e].n_in != 2) continue;
        for (int j = 0; j < 2; j++)
            if (input_node(mt, &g->nodes[e], j) == x) {
                int dead[2] = {c, e};
                const char *xr = n->in[k], *yr = g->nodes[e].in[1 - j];
                return rewrite(g, n, "_VdKeepEqual", xr, yr, dead, 2) ? VD_ENOMEM : 1;
            }
    }
    return 0;
}

int vd__fuse_graph(vd__graph *g, vd_error *err)
{
    matcher mt = {g, calloc((size_t)g->n_nodes + 1, sizeof(int))};
    if (!mt.uses) return vd_fail(err, VD_ENOMEM, "out of memory");
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int port, s = ref_of(g, g->nodes[i].in[k], &port);
            if (s >= 0) mt.uses[s]++;
        }
    for (int i = 0; i < g->n_outputs; i++) {
        int port, s = ref_of(g, g->outputs[i], &port);
        if (s >= 0) mt.uses[s] += 2; /* an output is never an inner node */
    }
    int rc = 0;
    for (int i = 0; i < g->n_nodes && rc >= 0; i++) {
        /* a rewrite only takes readers away from x, so a stale count is too high and
         * later matches stay conservative */
        rc = fuse_hardswish(&mt, g, i);
        if (!rc) rc = fuse_keep_equal(&mt, g, i);
    }
    free(mt.uses);
    return rc < 0 ? vd_fail(err, VD_ENOMEM, "out of memory") : 0;
}
