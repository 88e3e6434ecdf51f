/* The nn ops movenet-multipose brought in, one section per family, each op on tiny
 * hand-built graphs (test_nn_tiny.h) against values computed here directly. Each op runs
 * on runtime values (a step of its kind must exist) and on constants (folded at load: no
 * step of its kind is left), and the load errors of bad inputs name the node. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/nn_internal.h"
#include "test_nn_tiny.h"
#include "testlib.h"
#include "vdag/nn.h"

static char dir[64];

/* A graph being written: node JSON with ' for " (readable in C), and its weights. */
typedef struct G {
    char text[16384];
    tiny_weight w[16];
    int nw;
} G;

static void add(G *g, const char *fmt, ...)
{
    size_t l = strlen(g->text);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->text + l, sizeof g->text - l, fmt, ap);
    va_end(ap);
}

static void start(G *g)
{
    memset(g, 0, sizeof *g);
    add(g, "[");
}

static void dims_json(G *g, int nd, const int64_t *sh)
{
    for (int i = 0; i < nd; i++) add(g, "%s{'size':'%lld'}", i ? "," : "", (long long)sh[i]);
}

/* Placeholder `name` of dtype "DT_FLOAT"/"DT_INT32" and shape sh. */
static void ph(G *g, const char *name, const char *dt, int nd, const int64_t *sh)
{
    add(g,
        "%s{'name':'%s','op':'Placeholder','attr':{'dtype':{'type':'%s'},'shape':{'shape':{"
        "'dim':[",
        g->text[1] ? "," : "", name, dt);
    dims_json(g, nd, sh);
    add(g, "]}}}}");
}

/* The input of a graph whose ops all fold: a float [1] nothing reads (a graph needs a
 * Placeholder; expect() feeds it when given no input). */
static void unused_input(G *g)
{
    const int64_t one[1] = {1};
    ph(g, "unused", "DT_FLOAT", 1, one);
}

/* Const `name`: float32 (f) or int32 (i) data of shape sh (kept by the caller). */
static void cst(G *g, const char *name, int is_int, int nd, const int64_t *sh, const void *data)
{
    add(g, "%s{'name':'%s','op':'Const','attr':{'dtype':{'type':'%s'}}}", g->text[1] ? "," : "",
        name, is_int ? "DT_INT32" : "DT_FLOAT");
    tiny_weight *w = &g->w[g->nw++];
    w->name = name;
    w->dtype = is_int ? "int32" : "float32";
    w->ndim = nd;
    memcpy(w->shape, sh, sizeof(int64_t) * (size_t)nd);
    w->data = data;
}

/* Node `name` = op(ins), ins as "'a','b'", attr as "'k':{...},..." or "". */
static void node(G *g, const char *name, const char *op, const char *ins, const char *attr)
{
    add(g, "%s{'name':'%s','op':'%s','input':[%s],'attr':{%s}}", g->text[1] ? "," : "", name, op,
        ins, attr);
}

static const char *save(G *g, const char *tag)
{
    add(g, "]");
    for (char *c = g->text; *c; c++)
        if (*c == '\'') *c = '"';
    return tiny_model(dir, tag, g->text, g->w, g->nw);
}

static int steps_of(const vd_model *m, vd__step_kind kind)
{
    int c = 0;
    for (int i = 0; i < m->n_steps; i++) c += m->steps[i].kind == kind;
    return c;
}

/* Load g, run it on `in` (NULL: the graph's input is unused_input()), and compare the
 * output of node y with want (shape wsh, int32 when is_int, floats within 1e-6
 * relative). `kind_steps`: the number of steps of `kind` the model must hold (-1: any). */
static void expect(G *g, const char *tag, const void *in, size_t in_bytes, int nd,
                   const int64_t *wsh, int is_int, const void *want, vd__step_kind kind,
                   int kind_steps)
{
    const char *path = save(g, tag);
    CHECKF(path != NULL, "%s: model written", tag);
    if (!path) return;
    vd_error err = {0};
    vd_model *m = NULL;
    int rc = vd_model_load(path, NULL, &m, &err);
    CHECKF(rc == 0, "%s: load: %s", tag, err.msg);
    if (rc) return;
    if (kind_steps >= 0)
        CHECKF(steps_of(m, kind) == kind_steps, "%s: %d steps of kind %d, want %d", tag,
               steps_of(m, kind), (int)kind, kind_steps);
    float dummy = 0;
    rc = vd_model_run(m, in ? in : &dummy, in ? in_bytes : sizeof dummy, &err);
    CHECKF(rc == 0, "%s: run: %s", tag, err.msg);
    const vd_tensor *o = NULL; /* node y (a graph's outputs are its sinks) */
    for (int i = 0; i < vd_model_n_outputs(m); i++)
        if (!strcmp(vd_model_output(m, i)->name, "y")) o = vd_model_output(m, i);
    CHECKF(o != NULL, "%s: no output y", tag);
    if (!o) {
        vd_model_free(m);
        return;
    }
    int shape_ok = o->ndim == nd && (o->dtype == VD_I32) == !!is_int;
    for (int i = 0; i < nd && shape_ok; i++) shape_ok = o->shape[i] == wsh[i];
    CHECKF(shape_ok, "%s: output rank %d dtype %d", tag, o->ndim, (int)o->dtype);
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= wsh[i];
    int bad = 0;
    for (int64_t k = 0; shape_ok && !rc && k < n; k++) {
        if (is_int) {
            int32_t v = ((const int32_t *)o->data)[k], w = ((const int32_t *)want)[k];
            if (v != w && !bad++)
                fprintf(stderr, "%s: [%lld] = %d, want %d\n", tag, (long long)k, v, w);
        } else {
            float v = ((const float *)o->data)[k], w = ((const float *)want)[k];
            if (!(fabsf(v - w) <= 1e-6f * fmaxf(1, fabsf(w))) && !bad++)
                fprintf(stderr, "%s: [%lld] = %g, want %g\n", tag, (long long)k, v, w);
        }
    }
    CHECKF(bad == 0, "%s: %d of %lld values differ", tag, bad, (long long)n);
    vd_model_free(m);
}

static void expect_error(G *g, const char *tag, int code, const char *node_op, const char *what)
{
    const char *path = save(g, tag);
    CHECK(path != NULL);
    if (!path) return;
    vd_error err = {0};
    vd_model *m = NULL;
    int rc = vd_model_load(path, NULL, &m, &err);
    CHECKF(rc == code, "%s: got %d (%s), want %d", tag, rc, err.msg, code);
    CHECKF(strstr(err.msg, node_op) && strstr(err.msg, what), "%s: message: %s", tag, err.msg);
    if (!rc) vd_model_free(m);
}

/* ---- StridedSlice: new_axis_mask and ellipsis_mask -------------------------------- */

static float x234[24]; /* x[i][j][k] = 100 i + 10 j + k */

static void test_strided_slice(void)
{
    G g;
    const int64_t s234[3] = {2, 3, 4}, s3[1] = {3}, s4[1] = {4}, s2[1] = {2};
    for (int i = 0; i < 24; i++) x234[i] = (float)(100 * (i / 12) + 10 * (i / 4 % 3) + i % 4);
    /* x[:, newaxis, 1:, ::-2] as movenet-multipose writes x[:, :, newaxis, :]: masks for
     * the whole axes, one new axis; spec of 4 entries on a rank-3 input */
    static const int32_t b1[4] = {0, 0, 1, 3}, e1[4] = {0, 0, 0, 0}, st1[4] = {1, 1, 1, -2};
    float want1[2 * 1 * 2 * 2];
    for (int i = 0, k = 0; i < 2; i++)
        for (int j = 1; j < 3; j++)
            for (int l = 3; l >= 0; l -= 2) want1[k++] = x234[i * 12 + j * 4 + l];
    const int64_t w1[4] = {2, 1, 2, 2};
    for (int folded = 0; folded < 2; folded++) {
        start(&g);
        if (folded) {
            unused_input(&g);
            cst(&g, "x", 0, 3, s234, x234);
        } else {
            ph(&g, "x", "DT_FLOAT", 3, s234);
        }
        cst(&g, "b", 1, 1, s4, b1);
        cst(&g, "e", 1, 1, s4, e1);
        cst(&g, "s", 1, 1, s4, st1);
        /* begin_mask 0b1001 (axes 0 and last from their start), end_mask 0b1101 */
        node(&g, "y", "StridedSlice", "'x','b','e','s'",
             "'begin_mask':{'i':'1'},'end_mask':{'i':'13'},'new_axis_mask':{'i':'2'},"
             "'ellipsis_mask':{'i':'0'},'shrink_axis_mask':{'i':'0'}");
        expect(&g, folded ? "slice_newaxis_const" : "slice_newaxis", folded ? NULL : x234,
               sizeof x234, 4, w1, 0, want1, VD__S_SLICE, folded ? 0 : 1);
    }
    /* x[..., 2] (ellipsis, then a shrunk axis): [2,3] */
    static const int32_t b2[2] = {0, 2}, e2[2] = {0, 3}, st2[2] = {1, 1};
    float want2[6];
    for (int k = 0; k < 6; k++) want2[k] = x234[k * 4 + 2];
    const int64_t w2[2] = {2, 3};
    start(&g);
    ph(&g, "x", "DT_FLOAT", 3, s234);
    cst(&g, "b", 1, 1, s2, b2);
    cst(&g, "e", 1, 1, s2, e2);
    cst(&g, "s", 1, 1, s2, st2);
    node(&g, "y", "StridedSlice", "'x','b','e','s'",
         "'ellipsis_mask':{'i':'1'},'shrink_axis_mask':{'i':'2'}");
    expect(&g, "slice_ellipsis", x234, sizeof x234, 2, w2, 0, want2, VD__S_SLICE, 1);
    /* x[newaxis, ..., newaxis] on [2,3,4]: [1,2,3,4,1], the same data */
    static const int32_t z3[3] = {0, 0, 0}, o3[3] = {1, 1, 1};
    const int64_t w3[5] = {1, 2, 3, 4, 1};
    start(&g);
    ph(&g, "x", "DT_FLOAT", 3, s234);
    cst(&g, "b", 1, 1, s3, z3);
    cst(&g, "e", 1, 1, s3, z3);
    cst(&g, "s", 1, 1, s3, o3);
    node(&g, "y", "StridedSlice", "'x','b','e','s'",
         "'ellipsis_mask':{'i':'2'},'new_axis_mask':{'i':'5'}");
    expect(&g, "slice_ellipsis_newaxes", x234, sizeof x234, 5, w3, 0, x234, VD__S_SLICE, 1);
    /* x[1, -1] (shrink twice, negative index) on [2,3,4]: x[1][2][:] */
    static const int32_t b4[2] = {1, -1}, e4[2] = {2, 0}, st4[2] = {1, 1};
    const int64_t w4[1] = {4};
    start(&g);
    ph(&g, "x", "DT_FLOAT", 3, s234);
    cst(&g, "b", 1, 1, s2, b4);
    cst(&g, "e", 1, 1, s2, e4);
    cst(&g, "s", 1, 1, s2, st4);
    node(&g, "y", "StridedSlice", "'x','b','e','s'", "'shrink_axis_mask':{'i':'3'}");
    expect(&g, "slice_shrink", x234, sizeof x234, 1, w4, 0, x234 + 20, VD__S_SLICE, 1);
    /* errors: two ellipses; an index out of range on a shrunk axis; more axes than rank */
    start(&g);
    ph(&g, "x", "DT_FLOAT", 3, s234);
    cst(&g, "b", 1, 1, s2, b2);
    cst(&g, "e", 1, 1, s2, e2);
    cst(&g, "s", 1, 1, s2, st2);
    node(&g, "y", "StridedSlice", "'x','b','e','s'", "'ellipsis_mask':{'i':'3'}");
    expect_error(&g, "slice_two_ellipses", VD_EFORMAT, "node 'y' (op StridedSlice)", "ellipsis");
    static const int32_t b5[2] = {0, 3};
    start(&g);
    ph(&g, "x", "DT_FLOAT", 3, s234);
    cst(&g, "b", 1, 1, s2, b5);
    cst(&g, "e", 1, 1, s2, e2);
    cst(&g, "s", 1, 1, s2, st2);
    node(&g, "y", "StridedSlice", "'x','b','e','s'", "'shrink_axis_mask':{'i':'2'}");
    expect_error(&g, "slice_shrink_range", VD_ESHAPE, "node 'y' (op StridedSlice)", "out of range");
    static const int32_t z4[4] = {0, 0, 0, 0}, o4[4] = {1, 1, 1, 1};
    start(&g);
    ph(&g, "x", "DT_FLOAT", 3, s234);
    cst(&g, "b", 1, 1, s4, z4);
    cst(&g, "e", 1, 1, s4, z4);
    cst(&g, "s", 1, 1, s4, o4);
    node(&g, "y", "StridedSlice", "'x','b','e','s'", "'begin_mask':{'i':'15'}");
    expect_error(&g, "slice_rank", VD_ESHAPE, "node 'y' (op StridedSlice)", "rank 3");
}

/* ---- Tile, Size ------------------------------------------------------------------ */

static void test_tile_size(void)
{
    G g;
    const int64_t s213[3] = {2, 1, 3}, s3[1] = {3}, none[1] = {0};
    static float x[6] = {1, 2, 3, 4, 5, 6};
    static int32_t xi[6] = {-1, 7, 9, 40000, 0, 3};
    static const int32_t mult[3] = {2, 3, 2};
    /* out[a][b][c] = x[a % 2][0][c % 3] over [4,3,6] */
    float want[72];
    int32_t wanti[72];
    for (int a = 0, k = 0; a < 4; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 6; c++, k++) {
                want[k] = x[(a % 2) * 3 + c % 3];
                wanti[k] = xi[(a % 2) * 3 + c % 3];
            }
    const int64_t w[3] = {4, 3, 6};
    for (int v = 0; v < 3; v++) { /* float runtime, int32 runtime, float folded */
        start(&g);
        if (v == 2) {
            unused_input(&g);
            cst(&g, "x", 0, 3, s213, x);
        } else {
            ph(&g, "x", v ? "DT_INT32" : "DT_FLOAT", 3, s213);
        }
        cst(&g, "m", 1, 1, s3, mult);
        node(&g, "y", "Tile", "'x','m'", "");
        expect(&g,
               v == 0   ? "tile"
               : v == 1 ? "tile_i32"
                        : "tile_const",
               v == 2 ? NULL
               : v    ? (void *)xi
                      : x,
               sizeof x, 3, w, v == 1, v == 1 ? (void *)wanti : want, VD__S_TILE, v == 2 ? 0 : 1);
    }
    /* Size of a runtime value: a constant int32 scalar */
    static const int32_t size_want[1] = {6};
    start(&g);
    ph(&g, "x", "DT_FLOAT", 3, s213);
    node(&g, "y", "Size", "'x'", "'out_type':{'type':'DT_INT32'}");
    expect(&g, "size", x, sizeof x, 0, none, 1, size_want, VD__S_CAST, 1); /* output copy */
    /* errors: multiples of the wrong length, a negative multiple */
    static const int32_t m2[2] = {1, 2}, mneg[3] = {1, -1, 1};
    const int64_t s2[1] = {2};
    start(&g);
    ph(&g, "x", "DT_FLOAT", 3, s213);
    cst(&g, "m", 1, 1, s2, m2);
    node(&g, "y", "Tile", "'x','m'", "");
    expect_error(&g, "tile_rank", VD_ESHAPE, "node 'y' (op Tile)", "rank 3");
    start(&g);
    ph(&g, "x", "DT_FLOAT", 3, s213);
    cst(&g, "m", 1, 1, s3, mneg);
    node(&g, "y", "Tile", "'x','m'", "");
    expect_error(&g, "tile_negative", VD_EFORMAT, "node 'y' (op Tile)", "negative");
}

/* ---- AddN, Select ------------------------------------------------------------------- */

static void test_addn_select(void)
{
    G g;
    const int64_t s23[2] = {2, 3}, s3[1] = {3}, none[1] = {0};
    static float x[6] = {1.5f, -2, 3, -4.25f, 0, 6}, c[6] = {10, 20, 30, 40, 50, 60};
    static int32_t xi[6] = {5, -6, 7, 2147483647, 0, -9}, ci[6] = {1, 2, 3, 4, 5, 6};
    /* AddN(x, x * c, c) and the same in int32 (wrapping), and all-constant */
    float want[6];
    int32_t wanti[6];
    for (int k = 0; k < 6; k++) {
        want[k] = x[k] + x[k] * c[k] + c[k];
        wanti[k] = (int32_t)((uint32_t)xi[k] + (uint32_t)xi[k] * (uint32_t)ci[k] + (uint32_t)ci[k]);
    }
    for (int v = 0; v < 3; v++) {
        start(&g);
        if (v == 2) {
            unused_input(&g);
            cst(&g, "x", 0, 2, s23, x);
        } else {
            ph(&g, "x", v ? "DT_INT32" : "DT_FLOAT", 2, s23);
        }
        cst(&g, "c", v == 1, 2, s23, v == 1 ? (void *)ci : c);
        node(&g, "xc", "Mul", "'x','c'", "");
        node(&g, "y", "AddN", "'x','xc','c'", "'N':{'i':'3'}");
        expect(&g,
               v == 0   ? "addn"
               : v == 1 ? "addn_i32"
                        : "addn_const",
               v == 2 ? NULL
               : v    ? (void *)xi
                      : x,
               sizeof x, 2, s23, v == 1, v == 1 ? (void *)wanti : want, VD__S_ADDN, v == 2 ? 0 : 1);
    }
    start(&g);
    ph(&g, "x", "DT_FLOAT", 2, s23);
    cst(&g, "c", 0, 1, s3, c);
    node(&g, "y", "AddN", "'x','c'", "");
    expect_error(&g, "addn_shapes", VD_ESHAPE, "node 'y' (op AddN)", "input 1");

    /* Select(x > 0, x, -x) = |x|, same shapes */
    static const float zero[1] = {0};
    float absx[6];
    for (int k = 0; k < 6; k++) absx[k] = fabsf(x[k]);
    start(&g);
    ph(&g, "x", "DT_FLOAT", 2, s23);
    cst(&g, "z", 0, 0, none, zero);
    node(&g, "p", "Greater", "'x','z'", "");
    node(&g, "n", "Neg", "'x'", "");
    node(&g, "y", "Select", "'p','x','n'", "");
    expect(&g, "select", x, sizeof x, 2, s23, 0, absx, VD__S_SELECT, 1);
    /* SelectV2 broadcasting: a [3] condition (a constant cast to bool), t [2,3] runtime,
     * e a scalar; then the same with x constant too (folded) */
    static const int32_t pick[3] = {1, 0, 1};
    static const float e[1] = {-7};
    float bwant[6];
    for (int k = 0; k < 6; k++) bwant[k] = pick[k % 3] ? x[k] : e[0];
    for (int folded = 0; folded < 2; folded++) {
        start(&g);
        if (folded) {
            unused_input(&g);
            cst(&g, "x", 0, 2, s23, x);
        } else {
            ph(&g, "x", "DT_FLOAT", 2, s23);
        }
        cst(&g, "pick", 1, 1, s3, pick);
        cst(&g, "e", 0, 0, none, e);
        node(&g, "p", "Cast", "'pick'", "'DstT':{'type':'DT_BOOL'}");
        node(&g, "y", "SelectV2", "'p','x','e'", "");
        expect(&g, folded ? "select_bcast_const" : "select_bcast", folded ? NULL : x, sizeof x, 2,
               s23, 0, bwant, VD__S_SELECT, folded ? 0 : 1);
    }
    /* int32 t and e, cond broadcast along the other axis: cond [2,1] */
    static const int32_t rows[2] = {0, 1};
    const int64_t s21[2] = {2, 1};
    int32_t iwant[6];
    for (int k = 0; k < 6; k++) iwant[k] = rows[k / 3] ? xi[k] : ci[k];
    start(&g);
    ph(&g, "x", "DT_INT32", 2, s23);
    cst(&g, "c", 1, 2, s23, ci);
    cst(&g, "rows", 1, 2, s21, rows);
    node(&g, "p", "Cast", "'rows'", "'DstT':{'type':'DT_BOOL'}");
    node(&g, "y", "Select", "'p','x','c'", "");
    expect(&g, "select_i32", xi, sizeof xi, 2, s23, 1, iwant, VD__S_SELECT, 1);
    /* errors: a float condition; shapes that do not broadcast */
    start(&g);
    ph(&g, "x", "DT_FLOAT", 2, s23);
    node(&g, "y", "Select", "'x','x','x'", "");
    expect_error(&g, "select_cond", VD_EFORMAT, "node 'y' (op Select)", "bool");
    const int64_t s2[1] = {2};
    start(&g);
    ph(&g, "x", "DT_FLOAT", 2, s23);
    cst(&g, "rows", 1, 1, s2, rows);
    node(&g, "p", "Cast", "'rows'", "'DstT':{'type':'DT_BOOL'}");
    node(&g, "y", "Select", "'p','x','x'", "");
    expect_error(&g, "select_shapes", VD_ESHAPE, "node 'y' (op Select)", "broadcast");
}

/* ---- Fill, Range ---------------------------------------------------------------------- */

static void test_fill_range(void)
{
    G g;
    const int64_t s4[1] = {4}, s2[1] = {2}, none[1] = {0};
    static float x[4] = {2.5f, -1, 0, 8};
    static const int32_t dims[2] = {2, 3}, sl_b[1] = {0}, sl_e[1] = {1}, sl_s[1] = {1};
    const int64_t s1[1] = {1}, s23[2] = {2, 3};
    /* Fill([2,3], x[0]): a runtime scalar (x sliced with a shrunk axis) */
    float fwant[6];
    for (int k = 0; k < 6; k++) fwant[k] = x[0];
    for (int folded = 0; folded < 2; folded++) {
        start(&g);
        if (folded) {
            unused_input(&g);
            cst(&g, "x", 0, 1, s4, x);
        } else {
            ph(&g, "x", "DT_FLOAT", 1, s4);
        }
        cst(&g, "d", 1, 1, s2, dims);
        cst(&g, "b", 1, 1, s1, sl_b);
        cst(&g, "e", 1, 1, s1, sl_e);
        cst(&g, "s", 1, 1, s1, sl_s);
        node(&g, "v", "StridedSlice", "'x','b','e','s'", "'shrink_axis_mask':{'i':'1'}");
        node(&g, "y", "Fill", "'d','v'", "");
        expect(&g, folded ? "fill_const" : "fill", folded ? NULL : x, sizeof x, 2, s23, 0, fwant,
               VD__S_FILL, folded ? 0 : 1);
    }
    start(&g);
    ph(&g, "x", "DT_FLOAT", 1, s4);
    cst(&g, "d", 1, 1, s2, dims);
    node(&g, "y", "Fill", "'d','x'", "");
    expect_error(&g, "fill_vector", VD_ESHAPE, "node 'y' (op Fill)", "scalar");

    /* Range(0.5, 3, 0.75) + x: [0.5, 1.25, 2, 2.75] + x (the Range folds, the Add runs) */
    static const float r0[1] = {0.5f}, r1[1] = {3}, rd[1] = {0.75f};
    float rwant[4];
    float acc = r0[0];
    for (int k = 0; k < 4; k++, acc += rd[0]) rwant[k] = acc + x[k];
    start(&g);
    ph(&g, "x", "DT_FLOAT", 1, s4);
    cst(&g, "start", 0, 0, none, r0);
    cst(&g, "limit", 0, 0, none, r1);
    cst(&g, "delta", 0, 0, none, rd);
    node(&g, "r", "Range", "'start','limit','delta'", "'Tidx':{'type':'DT_FLOAT'}");
    node(&g, "y", "Add", "'r','x'", "");
    expect(&g, "range_f32", x, sizeof x, 1, s4, 0, rwant, VD__S_RANGE, 0);
    /* int32, counting down: Range(10, 1, -3) = [10, 7, 4]; an empty one: Range(1, 10, -3) */
    static const int32_t i0[1] = {10}, i1[1] = {1}, id[1] = {-3};
    static const int32_t iwant[3] = {10, 7, 4};
    const int64_t s3[1] = {3}, s0[1] = {0};
    for (int empty = 0; empty < 2; empty++) {
        start(&g);
        unused_input(&g);
        cst(&g, "start", 1, 0, none, empty ? i1 : i0);
        cst(&g, "limit", 1, 0, none, empty ? i0 : i1);
        cst(&g, "delta", 1, 0, none, id);
        node(&g, "y", "Range", "'start','limit','delta'", "'Tidx':{'type':'DT_INT32'}");
        expect(&g, empty ? "range_empty" : "range_i32", NULL, 0, 1, empty ? s0 : s3, 1, iwant,
               VD__S_RANGE, 0);
    }
    /* errors: a runtime limit (a dynamic shape); delta 0 */
    static const float d0[1] = {0};
    start(&g);
    ph(&g, "x", "DT_FLOAT", 1, s1);
    cst(&g, "start", 0, 0, none, r0);
    cst(&g, "delta", 0, 0, none, rd);
    node(&g, "lim", "Squeeze", "'x'", "");
    node(&g, "y", "Range", "'start','lim','delta'", "");
    expect_error(&g, "range_dynamic", VD_EUNSUPP, "node 'y' (op Range)", "constant");
    start(&g);
    unused_input(&g);
    cst(&g, "start", 0, 0, none, r0);
    cst(&g, "limit", 0, 0, none, r1);
    cst(&g, "delta", 0, 0, none, d0);
    node(&g, "y", "Range", "'start','limit','delta'", "");
    expect_error(&g, "range_zero", VD_EFORMAT, "node 'y' (op Range)", "delta");
}

/* ---- GreaterEqual, LogicalAnd, Reciprocal ------------------------------------------- */

static void test_compare_logic_reciprocal(void)
{
    G g;
    const int64_t s23[2] = {2, 3}, s3[1] = {3};
    static float x[6] = {-1, 0.5f, 2, 3, 2, -0.25f}, t[3] = {2, 0.5f, 0};
    /* GreaterEqual(x, t) with t broadcast over rows; equal values count */
    int32_t ge[6];
    for (int k = 0; k < 6; k++) ge[k] = x[k] >= t[k % 3];
    for (int folded = 0; folded < 2; folded++) {
        start(&g);
        if (folded) {
            unused_input(&g);
            cst(&g, "x", 0, 2, s23, x);
        } else {
            ph(&g, "x", "DT_FLOAT", 2, s23);
        }
        cst(&g, "t", 0, 1, s3, t);
        node(&g, "y", "GreaterEqual", "'x','t'", "");
        expect(&g, folded ? "greater_equal_const" : "greater_equal", folded ? NULL : x, sizeof x, 2,
               s23, 1, ge, VD__S_BINARY, folded ? 0 : 1);
    }
    /* LogicalAnd(x >= t, x < 2.5): a window; and of two constant bools (folded) */
    static const float hi[1] = {2.5f};
    const int64_t none[1] = {0};
    int32_t in_win[6];
    for (int k = 0; k < 6; k++) in_win[k] = x[k] >= t[k % 3] && x[k] < hi[0];
    start(&g);
    ph(&g, "x", "DT_FLOAT", 2, s23);
    cst(&g, "t", 0, 1, s3, t);
    cst(&g, "hi", 0, 0, none, hi);
    node(&g, "a", "GreaterEqual", "'x','t'", "");
    node(&g, "b", "Less", "'x','hi'", "");
    node(&g, "y", "LogicalAnd", "'a','b'", "");
    expect(&g, "logical_and", x, sizeof x, 2, s23, 1, in_win, VD__S_BINARY, 3);
    static const int32_t p[6] = {1, 0, 1, 0, 5, 0}, q[3] = {1, 1, 0};
    int32_t pq[6];
    for (int k = 0; k < 6; k++) pq[k] = p[k] && q[k % 3];
    start(&g);
    unused_input(&g);
    cst(&g, "p", 1, 2, s23, p);
    cst(&g, "q", 1, 1, s3, q);
    node(&g, "pb", "Cast", "'p'", "'DstT':{'type':'DT_BOOL'}");
    node(&g, "qb", "Cast", "'q'", "'DstT':{'type':'DT_BOOL'}");
    node(&g, "y", "LogicalAnd", "'pb','qb'", "");
    expect(&g, "logical_and_const", NULL, 0, 2, s23, 1, pq, VD__S_BINARY, 0);
    /* Reciprocal, runtime and folded */
    float rec[6];
    for (int k = 0; k < 6; k++) rec[k] = 1.0f / x[k];
    for (int folded = 0; folded < 2; folded++) {
        start(&g);
        if (folded) {
            unused_input(&g);
            cst(&g, "x", 0, 2, s23, x);
        } else {
            ph(&g, "x", "DT_FLOAT", 2, s23);
        }
        node(&g, "y", "Reciprocal", "'x'", "");
        expect(&g, folded ? "reciprocal_const" : "reciprocal", folded ? NULL : x, sizeof x, 2, s23,
               0, rec, VD__S_UNARY, folded ? 0 : 1);
    }
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/vdag_nn_opsXXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_strided_slice();
    test_tile_size();
    test_addn_select();
    test_fill_range();
    test_compare_logic_reciprocal();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return vt_finish();
}
