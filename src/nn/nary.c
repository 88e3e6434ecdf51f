/*
 * Element-wise ops of more than two inputs: AddN (the sum of N tensors of one shape) and
 * Select/SelectV2 (where(cond, t, e), numpy broadcasting of the three, as TF.js's
 * `where` does). C kernels on canonical data (post-processing tensors; XNNPACK has
 * neither op), which also fold constants at load.
 */
#include <string.h>

#include "nn/lower.h"

/* ---- kernels run as steps ---------------------------------------------------------- */

static int k_addn(vd__model *m, vd__step *s)
{
    const vd__val *o = V(s->out[0]);
    int64_t n = vd__numel(o->shape, o->ndim);
    if (o->dtype == VD__F32) {
        float *y = vd__vptr(m, s->out[0]);
        const float *x0 = vd__vptr(m, s->in[0]);
        memmove(y, x0, (size_t)n * sizeof *y);
        for (int k = 1; k < s->n_in; k++) {
            const float *x = vd__vptr(m, s->in[k]);
            for (int64_t i = 0; i < n; i++) y[i] += x[i];
        }
    } else { /* int32: wrapping, as TF's */
        uint32_t *y = vd__vptr(m, s->out[0]);
        const uint32_t *x0 = vd__vptr(m, s->in[0]);
        memmove(y, x0, (size_t)n * sizeof *y);
        for (int k = 1; k < s->n_in; k++) {
            const uint32_t *x = vd__vptr(m, s->in[k]);
            for (int64_t i = 0; i < n; i++) y[i] += x[i];
        }
    }
    return 0;
}

/* out = cond ? t : e element by element, the three broadcast to the output's shape
 * (4-byte elements of any dtype). */
static int k_select(vd__model *m, vd__step *s)
{
    const vd__val *o = V(s->out[0]);
    int on = o->ndim;
    int64_t str[3][VD__MAXD], idx[VD__MAXD] = {0}, off[3] = {0, 0, 0};
    const uint32_t *src[3];
    for (int k = 0; k < 3; k++) {
        const vd__val *x = V(s->in[k]);
        int64_t acc = 1;
        for (int i = on - 1; i >= 0; i--) {
            int xi = i - (on - x->ndim);
            int64_t d = xi >= 0 ? x->shape[xi] : 1;
            str[k][i] = d == 1 ? 0 : acc;
            acc *= d;
        }
        src[k] = vd__vptr(m, s->in[k]);
    }
    const int32_t *cond = (const int32_t *)src[0];
    uint32_t *y = vd__vptr(m, s->out[0]);
    int64_t n = vd__numel(o->shape, on);
    for (int64_t j = 0; j < n; j++) {
        y[j] = cond[off[0]] ? src[1][off[1]] : src[2][off[2]];
        for (int i = on - 1; i >= 0; i--) { /* next index; offsets follow the strides */
            for (int k = 0; k < 3; k++) off[k] += str[k][i];
            if (++idx[i] < o->shape[i]) break;
            for (int k = 0; k < 3; k++) off[k] -= str[k][i] * idx[i];
            idx[i] = 0;
        }
    }
    return 0;
}

static const vd__step_ops addn_ops = {.run = k_addn};
static const vd__step_ops select_ops = {.run = k_select};

/* ---- lowering -------------------------------------------------------------------- */

/* Canonical copies of node n's first `count` inputs into ins[]; *all_const says whether
 * every one is a constant. */
static int canon_inputs(vd__model *m, const vd__node *n, int count, int *ins, int *all_const,
                        vd_error *err)
{
    *all_const = 1;
    for (int k = 0; k < count; k++) {
        int v = vd__in_val(m, n, k, err);
        if (v < 0) return v;
        v = vd__canon(m, v, err);
        if (v < 0) return v;
        ins[k] = v;
        if (!V(v)->cdata) *all_const = 0;
    }
    return 0;
}

int vd__lower_addn(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    if (n->n_in < 1 || n->n_in > 8)
        return NODE_ERR(n, VD_EUNSUPP, "%d inputs (1..8 supported)", n->n_in);
    int ins[8], cst;
    int rc = canon_inputs(m, n, n->n_in, ins, &cst, err);
    if (rc) return rc;
    const vd__val *a = V(ins[0]);
    if (a->dtype == VD__BOOL) return NODE_ERR(n, VD_EUNSUPP, "bool inputs");
    for (int k = 1; k < n->n_in; k++) {
        const vd__val *b = V(ins[k]);
        if (b->dtype != a->dtype || b->ndim != a->ndim ||
            memcmp(b->shape, a->shape, sizeof(int64_t) * (size_t)a->ndim))
            return NODE_ERR(n, VD_ESHAPE, "input %d differs in shape or type from input 0", k);
    }
    int o =
        cst ? vd__const_val(m, V(ins[0])->dtype, V(ins[0])->ndim, V(ins[0])->shape, n->name, err)
            : vd__rt_val(m, V(ins[0])->dtype, V(ins[0])->ndim, V(ins[0])->shape, n->name, err);
    if (o < 0) return o;
    const vd__step k = {.kind = VD__S_ADDN, .ops = &addn_ops};
    int si = vd__emit_kernel(m, n, &k, ins, n->n_in, &o, 1, err);
    return si < 0 ? si : vd__set_outputs(m, n, o, 1);
}

int vd__lower_select(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    if (n->n_in != 3) return NODE_ERR(n, VD_EFORMAT, "needs three inputs (cond, t, e)");
    int ins[3], cst;
    int rc = canon_inputs(m, n, 3, ins, &cst, err);
    if (rc) return rc;
    if (V(ins[0])->dtype != VD__BOOL) return NODE_ERR(n, VD_EFORMAT, "the condition is not bool");
    if (V(ins[1])->dtype != V(ins[2])->dtype)
        return NODE_ERR(n, VD_EFORMAT, "t and e differ in dtype");
    /* the broadcast shape of the three (numpy rules) */
    int64_t os[VD__MAXD];
    int on = 0;
    for (int k = 0; k < 3; k++)
        if (V(ins[k])->ndim > on) on = V(ins[k])->ndim;
    for (int i = 0; i < on; i++) {
        os[i] = 1;
        for (int k = 0; k < 3; k++) {
            const vd__val *x = V(ins[k]);
            int xi = i - (on - x->ndim);
            int64_t d = xi >= 0 ? x->shape[xi] : 1;
            if (d != 1 && os[i] != 1 && d != os[i])
                return NODE_ERR(n, VD_ESHAPE, "shapes of cond, t and e do not broadcast");
            if (d != 1) os[i] = d;
        }
    }
    int dt = V(ins[1])->dtype;
    int o =
        cst ? vd__const_val(m, dt, on, os, n->name, err) : vd__rt_val(m, dt, on, os, n->name, err);
    if (o < 0) return o;
    const vd__step k = {.kind = VD__S_SELECT, .ops = &select_ops};
    int si = vd__emit_kernel(m, n, &k, ins, 3, &o, 1, err);
    return si < 0 ? si : vd__set_outputs(m, n, o, 1);
}
