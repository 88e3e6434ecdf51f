/*
 * Generators: Fill (a tensor of one value, of a constant shape) and Range (start,
 * start+delta, ... below limit). Their shapes come from constant inputs; a Range is a
 * constant (folded at load), a Fill of a runtime scalar is a C kernel step.
 */
#include <math.h>
#include <string.h>

#include "nn/lower.h"

/* ---- kernels run as steps ---------------------------------------------------------- */

/* Every output element = the scalar in[0] (4-byte elements of any dtype). */
static int k_fill(vd__model *m, vd__step *s)
{
    const vd__val *o = V(s->out[0]);
    int64_t n = vd__numel(o->shape, o->ndim);
    uint32_t v = *(const uint32_t *)vd__vptr(m, s->in[0]), *y = vd__vptr(m, s->out[0]);
    for (int64_t i = 0; i < n; i++) y[i] = v;
    return 0;
}

/* out[0] = start (in[0]), out[i] = out[i-1] + delta (in[1]): accumulated in the output's
 * dtype, as TF and TF.js do. */
static int k_range(vd__model *m, vd__step *s)
{
    const vd__val *o = V(s->out[0]);
    int64_t n = o->shape[0];
    if (o->dtype == VD__F32) {
        float *y = vd__vptr(m, s->out[0]), v = *(const float *)vd__vptr(m, s->in[0]),
              d = *(const float *)vd__vptr(m, s->in[1]);
        for (int64_t i = 0; i < n; i++, v += d) y[i] = v;
    } else {
        /* unsigned: the step after the last element may leave int32's range */
        uint32_t *y = vd__vptr(m, s->out[0]), v = *(const uint32_t *)vd__vptr(m, s->in[0]),
                 d = *(const uint32_t *)vd__vptr(m, s->in[1]);
        for (int64_t i = 0; i < n; i++, v += d) y[i] = v;
    }
    return 0;
}

static const vd__step_ops fill_ops = {.run = k_fill};
static const vd__step_ops range_ops = {.run = k_range};

/* ---- lowering -------------------------------------------------------------------- */

int vd__lower_fill(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    int64_t dims[VD__MAXD];
    int nd = vd__const_ints(m, n, 0, dims, VD__MAXD, err);
    if (nd < 0) return nd;
    if (n->n_in < 2) return NODE_ERR(n, VD_EFORMAT, "needs two inputs (dims, value)");
    int v = vd__in_val(m, n, 1, err);
    if (v < 0) return v;
    v = vd__canon(m, v, err);
    if (v < 0) return v;
    if (vd__numel(V(v)->shape, V(v)->ndim) != 1)
        return NODE_ERR(n, VD_ESHAPE, "the value is not a scalar");
    int cst = V(v)->cdata != NULL;
    int o = cst ? vd__const_val(m, V(v)->dtype, nd, dims, n->name, err)
                : vd__rt_val(m, V(v)->dtype, nd, dims, n->name, err);
    if (o < 0) return o;
    const vd__step k = {.kind = VD__S_FILL, .ops = &fill_ops};
    int si = vd__emit_kernel(m, n, &k, &v, 1, &o, 1, err);
    return si < 0 ? si : vd__set_outputs(m, n, o, 1);
}

/* A scalar input k of Range, which must be a constant. */
static int range_arg(vd__model *m, const vd__node *n, int k, double *out, vd_error *err)
{
    int v = vd__in_val(m, n, k, err);
    if (v < 0) return v;
    const vd__val *x = V(v);
    if (!x->cdata)
        return NODE_ERR(n, VD_EUNSUPP,
                        "input %d must be a constant (dynamic shapes are not supported)", k);
    if (vd__numel(x->shape, x->ndim) != 1)
        return NODE_ERR(n, VD_ESHAPE, "input %d is not a scalar", k);
    *out = x->dtype == VD__F32 ? (double)*(const float *)x->cdata : *(const int32_t *)x->cdata;
    return v;
}

int vd__lower_range(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    if (n->n_in != 3) return NODE_ERR(n, VD_EFORMAT, "needs three inputs (start, limit, delta)");
    double a[3];
    int ins[3];
    for (int k = 0; k < 3; k++) {
        ins[k] = range_arg(m, n, k, &a[k], err);
        if (ins[k] < 0) return ins[k];
    }
    int dt = V(ins[0])->dtype;
    if (dt == VD__BOOL || V(ins[2])->dtype != dt)
        return NODE_ERR(n, VD_EFORMAT, "start and delta must be float32 or int32 alike");
    if (a[2] == 0) return NODE_ERR(n, VD_EFORMAT, "delta is 0");
    double c = ceil((a[1] - a[0]) / a[2]);
    if (!(c >= 0)) c = 0; /* limit on the wrong side of start: empty */
    if (c > (double)VD__MAX_ELEMS)
        return NODE_ERR(n, VD_ETOOBIG, "%.0f elements (more than 2^48)", c);
    int64_t shape[1] = {(int64_t)c};
    int o = vd__const_val(m, dt, 1, shape, n->name, err);
    if (o < 0) return o;
    const vd__step k = {.kind = VD__S_RANGE, .ops = &range_ops};
    const int args[2] = {ins[0], ins[2]};
    int si = vd__emit_kernel(m, n, &k, args, 2, &o, 1, err);
    return si < 0 ? si : vd__set_outputs(m, n, o, 1);
}
