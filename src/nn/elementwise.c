/*
 * Element-wise family: Add/AddV2/BiasAdd, Sub, Mul, RealDiv/Div, SquaredDifference,
 * Minimum, Maximum, FloorDiv, FloorMod, Equal, Less, Greater, GreaterEqual, LogicalAnd;
 * Relu, Relu6, Sigmoid, LeakyRelu, Sqrt, Neg, Tanh, Exp, Rsqrt, Square, Abs, Reciprocal;
 * Prelu; Cast.
 *
 * f32 work goes to XNNPACK in whatever layout the runtime input has (constants are laid
 * out once to match); int32/bool data, comparisons, floor ops and the unary ops XNNPACK
 * lacks run the reference kernels below, which also fold constants at load. A bias Add
 * after a convolution goes into its bias; Relu/Relu6 after a convolution, pooling or
 * an XNNPACK binary op becomes that operator's output clamp.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/lower.h"

/* ---- reference kernels on canonical row-major data ------------------------------- */

static int broadcast_shape(const int64_t *a, int na, const int64_t *b, int nb, int64_t *out,
                           int *nout)
{
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int64_t x = i - (n - na) >= 0 ? a[i - (n - na)] : 1;
        int64_t y = i - (n - nb) >= 0 ? b[i - (n - nb)] : 1;
        if (x != y && x != 1 && y != 1) return -1;
        out[i] = x == 1 ? y : x;
    }
    *nout = n;
    return 0;
}

static float fop(int op, float x, float y)
{
    switch (op) {
    case VD__B_ADD:
        return x + y;
    case VD__B_SUB:
        return x - y;
    case VD__B_MUL:
        return x * y;
    case VD__B_DIV:
        return x / y;
    case VD__B_SQDIFF:
        return (x - y) * (x - y);
    case VD__B_MIN:
        return x < y ? x : y;
    case VD__B_MAX:
        return x > y ? x : y;
    case VD__B_FLOORDIV:
        return floorf(x / y);
    case VD__B_FLOORMOD: {
        float r = fmodf(x, y);
        return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
    }
    case VD__B_EQUAL:
        return x == y;
    case VD__B_LESS:
        return x < y;
    case VD__B_GREATER:
        return x > y;
    case VD__B_GREATER_EQUAL:
        return x >= y;
    case VD__B_LOGICAL_AND:
        return x != 0 && y != 0;
    }
    return 0;
}

static int32_t iop(int op, int32_t x, int32_t y)
{
    switch (op) {
    case VD__B_ADD:
        return (int32_t)((uint32_t)x + (uint32_t)y);
    case VD__B_SUB:
        return (int32_t)((uint32_t)x - (uint32_t)y);
    case VD__B_MUL:
        return (int32_t)((uint32_t)x * (uint32_t)y);
    case VD__B_DIV:
        return y ? x / y : 0;
    case VD__B_SQDIFF:
        return (x - y) * (x - y);
    case VD__B_MIN:
        return x < y ? x : y;
    case VD__B_MAX:
        return x > y ? x : y;
    case VD__B_FLOORDIV: {
        if (!y) return 0;
        int32_t q = x / y;
        return (q * y != x && ((x < 0) != (y < 0))) ? q - 1 : q;
    }
    case VD__B_FLOORMOD: {
        if (!y) return 0;
        int32_t r = x % y;
        return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
    }
    case VD__B_EQUAL:
        return x == y;
    case VD__B_LESS:
        return x < y;
    case VD__B_GREATER:
        return x > y;
    case VD__B_GREATER_EQUAL:
        return x >= y;
    case VD__B_LOGICAL_AND:
        return x != 0 && y != 0;
    }
    return 0;
}

/* out[os] = a[as] op b[bs] with numpy broadcasting. `dtype` is the inputs' type; the
 * comparison ops write int32 0/1. */
static void binary_ref(int op, int dtype, const void *a, const int64_t *as, int an, const void *b,
                       const int64_t *bs, int bn, void *out, const int64_t *os, int on)
{
    int64_t astr[VD__MAXD], bstr[VD__MAXD], idx[VD__MAXD] = {0};
    int64_t sa = 1, sb = 1;
    for (int i = on - 1; i >= 0; i--) {
        int ia = i - (on - an), ib = i - (on - bn);
        int64_t da = ia >= 0 ? as[ia] : 1, db = ib >= 0 ? bs[ib] : 1;
        astr[i] = da == 1 ? 0 : sa;
        bstr[i] = db == 1 ? 0 : sb;
        sa *= da;
        sb *= db;
    }
    int64_t n = vd__numel(os, on);
    int cmp = op >= VD__B_EQUAL;
    int64_t na = vd__numel(as, an), nb = vd__numel(bs, bn);
    if ((na == n || na == 1) && (nb == n || nb == 1)) {
        /* no real broadcasting (same size or scalar): a flat loop, no index arithmetic */
        int64_t sa1 = na == 1 ? 0 : 1, sb1 = nb == 1 ? 0 : 1;
        if (dtype == VD__F32 && cmp) {
            for (int64_t k = 0; k < n; k++)
                ((int32_t *)out)[k] =
                    (int32_t)fop(op, ((const float *)a)[k * sa1], ((const float *)b)[k * sb1]);
        } else if (dtype == VD__F32) {
            for (int64_t k = 0; k < n; k++)
                ((float *)out)[k] =
                    fop(op, ((const float *)a)[k * sa1], ((const float *)b)[k * sb1]);
        } else {
            for (int64_t k = 0; k < n; k++)
                ((int32_t *)out)[k] =
                    iop(op, ((const int32_t *)a)[k * sa1], ((const int32_t *)b)[k * sb1]);
        }
        return;
    }
    for (int64_t k = 0; k < n; k++) {
        int64_t ia = 0, ib = 0;
        for (int i = 0; i < on; i++) {
            ia += idx[i] * astr[i];
            ib += idx[i] * bstr[i];
        }
        if (dtype == VD__F32) {
            float r = fop(op, ((const float *)a)[ia], ((const float *)b)[ib]);
            if (cmp)
                ((int32_t *)out)[k] = (int32_t)r;
            else
                ((float *)out)[k] = r;
        } else {
            ((int32_t *)out)[k] = iop(op, ((const int32_t *)a)[ia], ((const int32_t *)b)[ib]);
        }
        for (int i = on - 1; i >= 0; i--) {
            if (++idx[i] < os[i]) break;
            idx[i] = 0;
        }
    }
}

static void unary_ref(int op, int dtype, const void *in, void *out, int64_t n, float alpha)
{
    if (dtype != VD__F32) {
        const int32_t *x = in;
        int32_t *y = out;
        for (int64_t i = 0; i < n; i++) {
            switch (op) {
            case VD__U_NEG:
                y[i] = -x[i];
                break;
            case VD__U_ABS:
                y[i] = x[i] < 0 ? -x[i] : x[i];
                break;
            case VD__U_SQUARE:
                y[i] = x[i] * x[i];
                break;
            case VD__U_RELU:
                y[i] = x[i] > 0 ? x[i] : 0;
                break;
            case VD__U_RECIPROCAL: /* integer 1/x (0 for x = 0, where TF's is undefined) */
                y[i] = x[i] == 1 ? 1 : x[i] == -1 ? -1 : 0;
                break;
            default:
                y[i] = x[i];
            }
        }
        return;
    }
    const float *x = in;
    float *y = out;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        switch (op) {
        case VD__U_RELU:
            v = v > 0 ? v : 0;
            break;
        case VD__U_RELU6:
            v = v < 0 ? 0 : (v > 6 ? 6 : v);
            break;
        case VD__U_SIGMOID:
            v = 1.0f / (1.0f + expf(-v));
            break;
        case VD__U_LEAKY:
            v = v < 0 ? v * alpha : v;
            break;
        case VD__U_SQRT:
            v = sqrtf(v);
            break;
        case VD__U_NEG:
            v = -v;
            break;
        case VD__U_TANH:
            v = tanhf(v);
            break;
        case VD__U_EXP:
            v = expf(v);
            break;
        case VD__U_RSQRT:
            v = 1.0f / sqrtf(v);
            break;
        case VD__U_SQUARE:
            v = v * v;
            break;
        case VD__U_ABS:
            v = fabsf(v);
            break;
        case VD__U_RECIPROCAL:
            v = 1.0f / v;
            break;
        }
        y[i] = v;
    }
}

static void cast_ref(const void *in, int from, void *out, int to, int64_t n)
{
    if (from == VD__F32 && to == VD__F32) {
        memmove(out, in, (size_t)n * 4);
    } else if (from == VD__F32) {
        for (int64_t i = 0; i < n; i++)
            ((int32_t *)out)[i] =
                to == VD__BOOL ? ((const float *)in)[i] != 0 : (int32_t)((const float *)in)[i];
    } else if (to == VD__F32) {
        for (int64_t i = 0; i < n; i++) ((float *)out)[i] = (float)((const int32_t *)in)[i];
    } else {
        for (int64_t i = 0; i < n; i++)
            ((int32_t *)out)[i] =
                to == VD__BOOL ? ((const int32_t *)in)[i] != 0 : ((const int32_t *)in)[i];
    }
}

/* ---- kernels run as steps ---------------------------------------------------------- */

static int k_binary(vd__model *m, vd__step *s)
{
    vd__val *a = V(s->in[0]), *b = V(s->in[1]), *o = V(s->out[0]);
    binary_ref(s->params.binary.op, a->dtype == VD__F32 ? VD__F32 : VD__I32, vd__vptr(m, s->in[0]),
               a->shape, a->ndim, vd__vptr(m, s->in[1]), b->shape, b->ndim, vd__vptr(m, s->out[0]),
               o->shape, o->ndim);
    return 0;
}

static int k_unary(vd__model *m, vd__step *s)
{
    vd__val *a = V(s->in[0]);
    unary_ref(s->params.unary.op, a->dtype == VD__F32 ? VD__F32 : VD__I32, vd__vptr(m, s->in[0]),
              vd__vptr(m, s->out[0]), vd__numel(a->shape, a->ndim), s->params.unary.alpha);
    return 0;
}

static int k_cast(vd__model *m, vd__step *s)
{
    vd__val *a = V(s->in[0]), *o = V(s->out[0]);
    cast_ref(vd__vptr(m, s->in[0]), a->dtype, vd__vptr(m, s->out[0]), o->dtype,
             vd__numel(a->shape, a->ndim));
    return 0;
}

/* ---- XNNPACK operators ----------------------------------------------------------- */

static int binary_create(vd__model *m, vd__step *s, vd_error *err)
{
    assert(s->kind == VD__S_BINARY);
    const vd__binary_params *bp = &s->params.binary;
    const size_t *sa = bp->shape[0], *sb = bp->shape[1];
    size_t nd = (size_t)bp->ndim;
    const float *a = bp->konst[0] ? bp->konst[0] : vd__vptr(m, s->in[0]);
    const float *b = bp->konst[1] ? bp->konst[1] : vd__vptr(m, s->in[1]);
    float *y = vd__vptr(m, s->out[0]), lo = s->out_min, hi = s->out_max;
    pthreadpool_t tp = m->pool;
    enum xnn_status st;
    switch (bp->op) {
    case VD__B_ADD:
        st = xnn_create_add_nd_f32(lo, hi, 0, &s->xop);
        if (!st) st = xnn_setup_add_nd_f32(s->xop, nd, sa, nd, sb, a, b, y, tp);
        break;
    case VD__B_SUB:
        st = xnn_create_subtract_nd_f32(lo, hi, 0, &s->xop);
        if (!st) st = xnn_setup_subtract_nd_f32(s->xop, nd, sa, nd, sb, a, b, y, tp);
        break;
    case VD__B_MUL:
        st = xnn_create_multiply_nd_f32(lo, hi, 0, &s->xop);
        if (!st) st = xnn_setup_multiply_nd_f32(s->xop, nd, sa, nd, sb, a, b, y, tp);
        break;
    case VD__B_DIV:
        st = xnn_create_divide_nd_f32(lo, hi, 0, &s->xop);
        if (!st) st = xnn_setup_divide_nd_f32(s->xop, nd, sa, nd, sb, a, b, y, tp);
        break;
    case VD__B_SQDIFF:
        st = xnn_create_squared_difference_nd_f32(0, &s->xop);
        if (!st) st = xnn_setup_squared_difference_nd_f32(s->xop, nd, sa, nd, sb, a, b, y, tp);
        break;
    case VD__B_MIN:
        st = xnn_create_minimum_nd_f32(0, &s->xop);
        if (!st) st = xnn_setup_minimum_nd_f32(s->xop, nd, sa, nd, sb, a, b, y, tp);
        break;
    case VD__B_MAX:
        st = xnn_create_maximum_nd_f32(0, &s->xop);
        if (!st) st = xnn_setup_maximum_nd_f32(s->xop, nd, sa, nd, sb, a, b, y, tp);
        break;
    default:
        return vd_fail(err, VD_EUNSUPP, "%s: node '%s': no XNNPACK binary op %d", m->g.path,
                       s->node, bp->op);
    }
    return vd__xnn_check(m, s, st, err);
}

static void binary_fini(vd__step *s)
{
    free(s->params.binary.konst[0]);
    free(s->params.binary.konst[1]);
}

static const vd__step_ops binary_xnn_ops = {
    .label = "Binary (xnn)", .create = binary_create, .fini = binary_fini};
static const vd__step_ops binary_c_ops = {.run = k_binary};

static int unary_create(vd__model *m, vd__step *s, vd_error *err)
{
    assert(s->kind == VD__S_UNARY);
    const vd__val *in = V(s->in[0]);
    size_t n = (size_t)vd__numel(in->shape, in->ndim);
    const float *x = vd__vptr(m, s->in[0]);
    float *y = vd__vptr(m, s->out[0]);
    pthreadpool_t tp = m->pool;
    enum xnn_status st;
    switch (s->params.unary.op) {
    case VD__U_RELU:
        st = xnn_create_clamp_nc_f32(1, 1, 1, 0.0f, INFINITY, 0, &s->xop);
        if (!st) st = xnn_setup_clamp_nc_f32(s->xop, n, x, y, tp);
        break;
    case VD__U_RELU6:
        st = xnn_create_clamp_nc_f32(1, 1, 1, 0.0f, 6.0f, 0, &s->xop);
        if (!st) st = xnn_setup_clamp_nc_f32(s->xop, n, x, y, tp);
        break;
    case VD__U_SIGMOID:
        st = xnn_create_sigmoid_nc_f32(1, 1, 1, 0, &s->xop);
        if (!st) st = xnn_setup_sigmoid_nc_f32(s->xop, n, x, y, tp);
        break;
    case VD__U_LEAKY:
        st = xnn_create_leaky_relu_nc_f32(1, 1, 1, s->params.unary.alpha, 0, &s->xop);
        if (!st) st = xnn_setup_leaky_relu_nc_f32(s->xop, n, x, y, tp);
        break;
    case VD__U_SQRT:
        st = xnn_create_square_root_nc_f32(1, 1, 1, 0, &s->xop);
        if (!st) st = xnn_setup_square_root_nc_f32(s->xop, n, x, y, tp);
        break;
    case VD__U_NEG:
        st = xnn_create_negate_nc_f32(1, 1, 1, 0, &s->xop);
        if (!st) st = xnn_setup_negate_nc_f32(s->xop, n, x, y, tp);
        break;
    case VD__U_SQUARE:
        st = xnn_create_square_nc_f32(1, 1, 1, 0, &s->xop);
        if (!st) st = xnn_setup_square_nc_f32(s->xop, n, x, y, tp);
        break;
    default:
        return vd_fail(err, VD_EUNSUPP, "%s: node '%s': no XNNPACK unary op %d", m->g.path, s->node,
                       s->params.unary.op);
    }
    return vd__xnn_check(m, s, st, err);
}

static const vd__step_ops unary_xnn_ops = {.label = "Unary (xnn)", .create = unary_create};
static const vd__step_ops unary_c_ops = {.run = k_unary};

static int prelu_create(vd__model *m, vd__step *s, vd_error *err)
{
    assert(s->kind == VD__S_PRELU);
    const vd__val *in = V(s->in[0]);
    size_t c = (size_t)s->params.prelu.channels;
    size_t n = (size_t)vd__numel(in->shape, in->ndim) / c;
    enum xnn_status st = xnn_create_prelu_nc_f32(c, c, c, s->params.prelu.slope, 0, &s->xop);
    if (!st)
        st = xnn_setup_prelu_nc_f32(s->xop, n, vd__vptr(m, s->in[0]), vd__vptr(m, s->out[0]),
                                    m->pool);
    return vd__xnn_check(m, s, st, err);
}

static void prelu_fini(vd__step *s)
{
    free(s->params.prelu.slope);
}

static const vd__step_ops prelu_ops = {
    .label = "Prelu (xnn)", .create = prelu_create, .fini = prelu_fini};
static const vd__step_ops cast_ops = {.run = k_cast};

/* ---- lowering -------------------------------------------------------------------- */

/* An XNNPACK unary step (clamp, sigmoid, leaky relu, ...) on v, same layout. */
int vd__emit_unary(vd__model *m, const vd__node *n, int v, int op, float alpha, vd_error *err)
{
    int o = vd__rt_val(m, VD__F32, V(v)->ndim, V(v)->shape, n->name, err);
    if (o < 0) return o;
    memcpy(V(o)->perm, V(v)->perm, sizeof V(o)->perm);
    int si = vd__new_step(m, VD__S_UNARY, &unary_xnn_ops, n);
    if (si < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
    vd__step *s = &m->steps[si];
    s->in[0] = v;
    s->n_in = 1;
    s->out[0] = o;
    s->n_out = 1;
    s->params.unary.op = op;
    s->params.unary.alpha = alpha;
    V(o)->producer = si;
    return o;
}

/* An XNNPACK Prelu step on v with one slope per innermost channel. */
int vd__emit_prelu(vd__model *m, const vd__node *n, int v, const float *slope, int64_t channels,
                   vd_error *err)
{
    int o = vd__rt_val(m, VD__F32, V(v)->ndim, V(v)->shape, n->name, err);
    if (o < 0) return o;
    memcpy(V(o)->perm, V(v)->perm, sizeof V(o)->perm);
    int si = vd__new_step(m, VD__S_PRELU, &prelu_ops, n);
    if (si < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
    vd__step *s = &m->steps[si];
    s->in[0] = v;
    s->n_in = 1;
    s->out[0] = o;
    s->n_out = 1;
    s->params.prelu.slope = malloc(sizeof(float) * (size_t)channels + XNN_EXTRA_BYTES);
    if (!s->params.prelu.slope) return vd_fail(err, VD_ENOMEM, "out of memory");
    memcpy(s->params.prelu.slope, slope, sizeof(float) * (size_t)channels);
    s->params.prelu.channels = channels;
    V(o)->producer = si;
    return o;
}

/* A Cast step from x to o (dtypes are the values'); folds when o is a constant. Also
 * copies a constant output into its runtime buffer (the driver). */
int vd__emit_cast(vd__model *m, const vd__node *n, int x, int o, vd_error *err)
{
    const vd__step k = {.kind = VD__S_CAST, .ops = &cast_ops};
    return vd__emit_kernel(m, n, &k, &x, 1, &o, 1, err);
}

/* Extend a constant to `nd` dims (leading 1s) and lay it out in physical order `perm`. */
static float *const_in_layout(const vd__val *c, int nd, const int *perm, int64_t *pshape)
{
    int64_t ext[VD__MAXD];
    int lead = nd - c->ndim;
    for (int i = 0; i < nd; i++) ext[i] = i < lead ? 1 : c->shape[i - lead];
    for (int i = 0; i < nd; i++) pshape[i] = ext[perm[i]];
    int64_t cnt = vd__numel(ext, nd);
    float *d = malloc(sizeof(float) * (size_t)(cnt ? cnt : 1) + XNN_EXTRA_BYTES);
    if (!d) return NULL;
    if (c->dtype == VD__F32)
        vd__transpose(c->cdata, d, ext, nd, perm, 4);
    else {
        float *tmp = malloc(sizeof(float) * (size_t)(cnt ? cnt : 1));
        if (!tmp) return free(d), NULL;
        cast_ref(c->cdata, c->dtype, tmp, VD__F32, cnt);
        vd__transpose(tmp, d, ext, nd, perm, 4);
        free(tmp);
    }
    return d;
}

/* Try to fold `Add(conv_out, const)` into the convolution's bias. */
static int try_fuse_bias(vd__model *m, vd__node *n, int a, int b)
{
    vd__val *x = V(a), *c = V(b);
    if (x->cdata || !c->cdata || c->dtype != VD__F32 || x->producer < 0 || x->uses != 1) return 0;
    vd__step *s = &m->steps[x->producer];
    if (s->kind != VD__S_CONV || s->out[0] != a || !isinf(s->out_min) || !isinf(s->out_max))
        return 0;
    int64_t cout = x->shape[3];
    if (vd__numel(c->shape, c->ndim) != cout || c->ndim > 4) return 0;
    if (c->ndim >= 1 && c->shape[c->ndim - 1] != cout) return 0;
    for (int64_t k = 0; k < cout; k++) s->params.conv.bias[k] += ((float *)c->cdata)[k];
    vd__set_outputs(m, n, a, 1);
    return 1;
}

int vd__lower_binary(vd__model *m, vd__node *n, int op, vd_error *err)
{
    if (n->n_in < 2) return NODE_ERR(n, VD_EFORMAT, "needs two inputs");
    int a = vd__in_val(m, n, 0, err), b = vd__in_val(m, n, 1, err);
    if (a < 0) return a;
    if (b < 0) return b;
    int64_t os[VD__MAXD];
    int on;
    if (broadcast_shape(V(a)->shape, V(a)->ndim, V(b)->shape, V(b)->ndim, os, &on))
        return NODE_ERR(n, VD_ESHAPE, "shapes do not broadcast");
    int cmp = op >= VD__B_EQUAL;
    int odt = cmp ? VD__BOOL : V(a)->dtype;
    int ins[2] = {a, b};
    const vd__step kstep = {.kind = VD__S_BINARY, .ops = &binary_c_ops, .params.binary.op = op};
    if (V(a)->cdata && V(b)->cdata) {
        int o = vd__const_val(m, odt, on, os, n->name, err);
        if (o < 0) return o;
        int rc = vd__emit_kernel(m, n, &kstep, ins, 2, &o, 1, err);
        return rc < 0 ? rc : vd__set_outputs(m, n, o, 1);
    }
    if (op == VD__B_ADD && V(a)->ndim == 4 && !V(a)->cdata && try_fuse_bias(m, n, a, b)) return 0;
    if (op == VD__B_ADD && V(b)->ndim == 4 && !V(b)->cdata && try_fuse_bias(m, n, b, a)) return 0;
    if (V(a)->dtype != VD__F32 || V(b)->dtype != VD__F32 || cmp || op >= VD__B_FLOORDIV) {
        for (int k = 0; k < 2; k++) {
            ins[k] = vd__canon(m, ins[k], err);
            if (ins[k] < 0) return ins[k];
        }
        int o = vd__rt_val(m, odt, on, os, n->name, err);
        if (o < 0) return o;
        int rc = vd__emit_kernel(m, n, &kstep, ins, 2, &o, 1, err);
        return rc < 0 ? rc : vd__set_outputs(m, n, o, 1);
    }
    /* f32 on XNNPACK. Work in the layout of the runtime input(s). */
    for (int k = 0; k < 2; k++) {
        ins[k] = vd__realize(m, ins[k], err);
        if (ins[k] < 0) return ins[k];
    }
    int perm[VD__MAXD];
    for (int i = 0; i < VD__MAXD; i++) perm[i] = i;
    int rta = !V(ins[0])->cdata, rtb = !V(ins[1])->cdata;
    int lead = rta ? ins[0] : ins[1];
    int ok = V(lead)->ndim == on;
    if (rta && rtb)
        ok = ok && V(ins[0])->ndim == on && V(ins[1])->ndim == on &&
             !memcmp(V(ins[0])->perm, V(ins[1])->perm, sizeof perm);
    if (ok)
        memcpy(perm, V(lead)->perm, sizeof perm);
    else
        for (int k = 0; k < 2; k++) {
            ins[k] = vd__canon(m, ins[k], err);
            if (ins[k] < 0) return ins[k];
        }
    int si = vd__new_step(m, VD__S_BINARY, &binary_xnn_ops, n);
    if (si < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
    vd__step *s = &m->steps[si];
    vd__binary_params *bp = &s->params.binary;
    bp->op = op;
    s->n_in = 2;
    for (int k = 0; k < 2; k++) {
        int64_t ps[VD__MAXD];
        s->in[k] = ins[k];
        if (V(ins[k])->cdata) {
            bp->konst[k] = const_in_layout(V(ins[k]), on, perm, ps);
            if (!bp->konst[k]) return vd_fail(err, VD_ENOMEM, "out of memory");
        } else {
            int64_t ext[VD__MAXD];
            int nd = V(ins[k])->ndim, ld = on - nd;
            for (int i = 0; i < on; i++) ext[i] = i < ld ? 1 : V(ins[k])->shape[i - ld];
            for (int i = 0; i < on; i++) ps[i] = ext[perm[i]];
        }
        for (int i = 0; i < on; i++) bp->shape[k][i] = (size_t)ps[i];
    }
    bp->ndim = on;
    int o = vd__rt_val(m, VD__F32, on, os, n->name, err);
    if (o < 0) return o;
    memcpy(V(o)->perm, perm, sizeof perm);
    m->steps[si].out[0] = o;
    m->steps[si].n_out = 1;
    V(o)->producer = si;
    return vd__set_outputs(m, n, o, 1);
}

int vd__lower_unary(vd__model *m, vd__node *n, int op, vd_error *err)
{
    int a = vd__in_val(m, n, 0, err);
    if (a < 0) return a;
    float alpha = vd__attr_float(n, "alpha", 0.2f);
    const vd__step kstep = {
        .kind = VD__S_UNARY, .ops = &unary_c_ops, .params.unary = {.op = op, .alpha = alpha}};
    if (V(a)->cdata) {
        int o = vd__const_val(m, V(a)->dtype, V(a)->ndim, V(a)->shape, n->name, err);
        if (o < 0) return o;
        int si = vd__emit_kernel(m, n, &kstep, &a, 1, &o, 1, err);
        return si < 0 ? si : vd__set_outputs(m, n, o, 1);
    }
    a = vd__realize(m, a, err);
    if (a < 0) return a;
    /* Relu/Relu6 after a conv or element-wise op: fuse as the operator's clamp. */
    if ((op == VD__U_RELU || op == VD__U_RELU6) && V(a)->producer >= 0 && V(a)->uses == 1) {
        vd__step *p = &m->steps[V(a)->producer];
        if ((p->kind == VD__S_CONV ||
             (p->ops == &binary_xnn_ops && p->params.binary.op <= VD__B_DIV) ||
             p->kind == VD__S_MAXPOOL) &&
            p->out[0] == a) {
            if (p->out_min < 0 || isinf(p->out_min)) p->out_min = 0;
            if (op == VD__U_RELU6 && p->out_max > 6) p->out_max = 6;
            return vd__set_outputs(m, n, a, 1);
        }
    }
    if (V(a)->dtype != VD__F32 || op == VD__U_TANH || op == VD__U_EXP || op == VD__U_RSQRT ||
        op == VD__U_ABS || op == VD__U_RECIPROCAL) {
        int o = vd__rt_val(m, V(a)->dtype, V(a)->ndim, V(a)->shape, n->name, err);
        if (o < 0) return o;
        memcpy(V(o)->perm, V(a)->perm, sizeof V(o)->perm);
        int si = vd__emit_kernel(m, n, &kstep, &a, 1, &o, 1, err);
        return si < 0 ? si : vd__set_outputs(m, n, o, 1);
    }
    int o = vd__emit_unary(m, n, a, op, alpha, err);
    return o < 0 ? o : vd__set_outputs(m, n, o, 1);
}

int vd__lower_prelu(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    int a = vd__in_val(m, n, 0, err), al = vd__in_val(m, n, 1, err);
    if (a < 0) return a;
    if (al < 0) return al;
    if (!V(al)->cdata) return NODE_ERR(n, VD_EUNSUPP, "alpha must be constant");
    a = vd__canon(m, a, err);
    if (a < 0) return a;
    int64_t c = V(a)->shape[V(a)->ndim - 1];
    if (vd__numel(V(al)->shape, V(al)->ndim) != c)
        return NODE_ERR(n, VD_EUNSUPP, "alpha must have one value per channel (%lld)",
                        (long long)c);
    int o = vd__emit_prelu(m, n, a, V(al)->cdata, c, err);
    return o < 0 ? o : vd__set_outputs(m, n, o, 1);
}

int vd__lower_cast(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    int x = vd__in_val(m, n, 0, err);
    if (x < 0) return x;
    const char *dst = json_string_value(json_object_get(json_object_get(n->attr, "DstT"), "type"));
    int to = !dst                       ? VD__F32
             : !strcmp(dst, "DT_FLOAT") ? VD__F32
             : !strcmp(dst, "DT_INT32") ? VD__I32
             : !strcmp(dst, "DT_BOOL")  ? VD__BOOL
                                        : -1;
    if (to < 0) return NODE_ERR(n, VD_EUNSUPP, "cast to %s is not supported", dst);
    x = vd__realize(m, x, err);
    if (x < 0) return x;
    int cst = V(x)->cdata != NULL;
    int o = cst ? vd__const_val(m, to, V(x)->ndim, V(x)->shape, n->name, err)
                : vd__rt_val(m, to, V(x)->ndim, V(x)->shape, n->name, err);
    if (o < 0) return o;
    if (!cst) memcpy(V(o)->perm, V(x)->perm, sizeof V(x)->perm);
    int si = vd__emit_cast(m, n, x, o, err);
    return si < 0 ? si : vd__set_outputs(m, n, o, 1);
}
