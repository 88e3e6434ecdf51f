/*
 * Reductions and index ops: Mean, Sum, Max, Min, GatherV2, GatherNd, TopKV2, ArgMax,
 * SparseToDense. A Mean over H,W of NHWC runs as XNNPACK global average pooling; the
 * rest are C kernels on canonical data (small post-processing tensors), which also
 * fold constants at load.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/lower.h"

/* ---- kernels run as steps ---------------------------------------------------------- */

/* Reduction over the flagged axes (see vd__reduce_params). */
static int k_reduce(vd__model *m, vd__step *s)
{
    vd__val *in = V(s->in[0]);
    int nd = in->ndim, op = s->params.reduce.op;
    const uint8_t *axes = s->params.reduce.axes;
    int64_t on = vd__numel(V(s->out[0])->shape, V(s->out[0])->ndim);
    float *o = vd__vptr(m, s->out[0]);
    const float *x = vd__vptr(m, s->in[0]);
    int64_t cnt = 1;
    for (int i = 0; i < nd; i++)
        if (axes[i]) cnt *= in->shape[i];
    for (int64_t i = 0; i < on; i++)
        o[i] = op == VD__R_MAX ? -INFINITY : op == VD__R_MIN ? INFINITY : 0;
    int64_t idx[VD__MAXD] = {0}, n = vd__numel(in->shape, nd);
    for (int64_t k = 0; k < n; k++) {
        int64_t off = 0;
        for (int i = 0; i < nd; i++)
            if (!axes[i]) off = off * in->shape[i] + idx[i];
        float v = x[k];
        if (op == VD__R_MEAN || op == VD__R_SUM)
            o[off] += v;
        else if (op == VD__R_MAX)
            o[off] = v > o[off] ? v : o[off];
        else
            o[off] = v < o[off] ? v : o[off];
        for (int i = nd - 1; i >= 0; i--) {
            if (++idx[i] < in->shape[i]) break;
            idx[i] = 0;
        }
    }
    if (op == VD__R_MEAN)
        for (int64_t i = 0; i < on; i++) o[i] /= (float)cnt;
    return 0;
}

static int k_gather(vd__model *m, vd__step *s)
{
    vd__val *pv = V(s->in[0]), *iv = V(s->in[1]);
    int ax = s->params.gather.axis;
    int64_t outer = vd__numel(pv->shape, ax), dim = pv->shape[ax];
    int64_t inner = vd__numel(pv->shape + ax + 1, pv->ndim - ax - 1);
    int64_t ni = vd__numel(iv->shape, iv->ndim);
    const int32_t *src = vd__vptr(m, s->in[0]), *ind = vd__vptr(m, s->in[1]);
    int32_t *dst = vd__vptr(m, s->out[0]);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < ni; j++) {
            int64_t k = ind[j];
            if (k < 0) k += dim;
            if (k < 0) k = 0;
            if (k >= dim) k = dim - 1;
            memcpy(dst + (o * ni + j) * inner, src + (o * dim + k) * inner, (size_t)inner * 4);
        }
    return 0;
}

static int k_gathernd(vd__model *m, vd__step *s)
{
    vd__val *pv = V(s->in[0]), *iv = V(s->in[1]);
    int K = (int)iv->shape[iv->ndim - 1];
    int64_t n = vd__numel(iv->shape, iv->ndim - 1);
    int64_t inner = vd__numel(pv->shape + K, pv->ndim - K);
    const int32_t *src = vd__vptr(m, s->in[0]), *ind = vd__vptr(m, s->in[1]);
    int32_t *dst = vd__vptr(m, s->out[0]);
    for (int64_t j = 0; j < n; j++) {
        int64_t off = 0;
        for (int k = 0; k < K; k++) {
            int64_t x = ind[j * K + k];
            if (x < 0) x = 0;
            if (x >= pv->shape[k]) x = pv->shape[k] - 1;
            off = off * pv->shape[k] + x;
        }
        memcpy(dst + j * inner, src + off * inner, (size_t)inner * 4);
    }
    return 0;
}

/* TopK over the last axis: a bounded min-heap of (value, index), O(n log k). Ties keep
 * the lower index first, as TF does. */
static int topk_less(float va, int32_t ia, float vb, int32_t ib)
{
    return va < vb || (va == vb && ia > ib); /* "worse" */
}

static int k_topk(vd__model *m, vd__step *s)
{
    vd__val *in = V(s->in[0]);
    int64_t n = in->shape[in->ndim - 1], k = s->params.topk.k;
    int64_t rows = vd__numel(in->shape, in->ndim - 1);
    const float *src = vd__vptr(m, s->in[0]);
    float *ov = vd__vptr(m, s->out[0]);
    int32_t *oi = vd__vptr(m, s->out[1]);
    float *hv = malloc(sizeof(float) * (size_t)k);
    int32_t *hi = malloc(sizeof(int32_t) * (size_t)k);
    if (!hv || !hi) {
        free(hv);
        free(hi);
        return VD_ENOMEM;
    }
    for (int64_t r = 0; r < rows; r++) {
        const float *x = src + r * n;
        int64_t sz = 0;
        for (int64_t j = 0; j < n; j++) {
            if (sz == k && (j & 63) == 0 && j + 64 <= n) {
                /* a block with nothing above the heap's least value cannot enter it (a tie
                 * loses to the lower index already there): one comparison per element
                 * that vectorizes, for the usual case */
                float t = hv[0];
                int any = 0;
                for (int64_t q = 0; q < 64; q++) any |= !(x[j + q] < t);
                if (!any) {
                    j += 63;
                    continue;
                }
            }
            float v = x[j];
            if (sz == k && !topk_less(hv[0], hi[0], v, (int32_t)j)) continue;
            int64_t c;
            if (sz < k) {
                c = sz++;
                while (c > 0 && topk_less(v, (int32_t)j, hv[(c - 1) / 2], hi[(c - 1) / 2])) {
                    hv[c] = hv[(c - 1) / 2];
                    hi[c] = hi[(c - 1) / 2];
                    c = (c - 1) / 2;
                }
            } else {
                c = 0;
                for (;;) {
                    int64_t l = 2 * c + 1, rr = l + 1, w = c;
                    float wv = v;
                    int32_t wi = (int32_t)j;
                    if (l < sz && topk_less(hv[l], hi[l], wv, wi)) w = l, wv = hv[l], wi = hi[l];
                    if (rr < sz && topk_less(hv[rr], hi[rr], wv, wi)) w = rr;
                    if (w == c) break;
                    hv[c] = hv[w];
                    hi[c] = hi[w];
                    c = w;
                }
            }
            hv[c] = v;
            hi[c] = (int32_t)j;
        }
        /* pop in ascending order into the tail of the output */
        for (int64_t e = sz - 1; e >= 0; e--) {
            ov[r * k + e] = hv[0];
            oi[r * k + e] = hi[0];
            float lv = hv[e];
            int32_t li = hi[e];
            int64_t c = 0, cs = e;
            for (;;) {
                int64_t l = 2 * c + 1, rr = l + 1, w = c;
                float wv = lv;
                int32_t wi = li;
                if (l < cs && topk_less(hv[l], hi[l], wv, wi)) w = l, wv = hv[l], wi = hi[l];
                if (rr < cs && topk_less(hv[rr], hi[rr], wv, wi)) w = rr;
                if (w == c) break;
                hv[c] = hv[w];
                hi[c] = hi[w];
                c = w;
            }
            hv[c] = lv;
            hi[c] = li;
        }
    }
    free(hv);
    free(hi);
    return 0;
}

static int k_argmax(vd__model *m, vd__step *s)
{
    vd__val *in = V(s->in[0]);
    int ax = s->params.argmax.axis;
    int64_t outer = vd__numel(in->shape, ax), dim = in->shape[ax];
    int64_t inner = vd__numel(in->shape + ax + 1, in->ndim - ax - 1);
    const float *x = vd__vptr(m, s->in[0]);
    int32_t *o = vd__vptr(m, s->out[0]);
    for (int64_t a = 0; a < outer; a++)
        for (int64_t c = 0; c < inner; c++) {
            int64_t best = 0;
            for (int64_t d = 1; d < dim; d++)
                if (x[(a * dim + d) * inner + c] > x[(a * dim + best) * inner + c]) best = d;
            o[a * inner + c] = (int32_t)best;
        }
    return 0;
}

static int k_sparse_to_dense(vd__model *m, vd__step *s)
{
    vd__val *iv = V(s->in[0]), *vv = V(s->in[2]), *o = V(s->out[0]);
    const int32_t *ind = vd__vptr(m, s->in[0]), *val = vd__vptr(m, s->in[2]),
                  *def = vd__vptr(m, s->in[3]);
    int32_t *dst = vd__vptr(m, s->out[0]);
    int64_t n = vd__numel(o->shape, o->ndim);
    for (int64_t i = 0; i < n; i++) dst[i] = def[0];
    int64_t ns = iv->ndim == 0 ? 1 : iv->shape[0];
    int rank = iv->ndim == 2 ? (int)iv->shape[1] : 1;
    int scalar = vd__numel(vv->shape, vv->ndim) == 1;
    for (int64_t j = 0; j < ns; j++) {
        int64_t off = 0, ok = 1;
        for (int r = 0; r < rank; r++) {
            int64_t x = ind[j * rank + r];
            if (x < 0 || x >= o->shape[r]) ok = 0;
            off = off * o->shape[r] + x;
        }
        if (ok) dst[off] = val[scalar ? 0 : j];
    }
    return 0;
}

static const vd__step_ops reduce_ops = {.run = k_reduce};
static const vd__step_ops gather_ops = {.run = k_gather};
static const vd__step_ops gathernd_ops = {.run = k_gathernd};
static const vd__step_ops topk_ops = {.run = k_topk};
static const vd__step_ops argmax_ops = {.run = k_argmax};
static const vd__step_ops sparse_to_dense_ops = {.run = k_sparse_to_dense};

/* ---- XNNPACK operators ----------------------------------------------------------- */

/* Mean over H,W of NHWC. */
static int gavgpool_create(vd__model *m, vd__step *s, vd_error *err)
{
    assert(s->kind == VD__S_GAVGPOOL);
    const vd__val *in = V(s->in[0]);
    size_t c = (size_t)in->shape[3];
    enum xnn_status st =
        xnn_create_global_average_pooling_nwc_f32(c, c, c, -INFINITY, INFINITY, 0, &s->xop);
    if (!st)
        st = xnn_setup_global_average_pooling_nwc_f32(
            s->xop, (size_t)in->shape[0], (size_t)(in->shape[1] * in->shape[2]),
            vd__vptr(m, s->in[0]), vd__vptr(m, s->out[0]), m->pool);
    return vd__xnn_check(m, s, st, err);
}

static const vd__step_ops gavgpool_ops = {.label = "Mean (xnn)", .create = gavgpool_create};

/* ---- lowering -------------------------------------------------------------------- */

int vd__lower_reduce(vd__model *m, vd__node *n, int op, vd_error *err)
{
    int x = vd__in_val(m, n, 0, err);
    if (x < 0) return x;
    int64_t axes[VD__MAXD];
    int na = vd__const_ints(m, n, 1, axes, VD__MAXD, err);
    if (na < 0) return na;
    /* a mean of k x is k times the mean: a lazy scale of canonical x passes through */
    float scale = 1.0f;
    if (op == VD__R_MEAN && !V(x)->cdata && V(x)->lazy_src < 0 && vd__is_identity(V(x)))
        scale = V(x)->scale;
    else
        x = vd__canon(m, x, err);
    if (x < 0) return x;
    int nd = V(x)->ndim, keep = vd__attr_bool(n, "keep_dims", 0);
    uint8_t flag[VD__MAXD] = {0};
    int64_t os[VD__MAXD];
    for (int k = 0; k < na; k++) {
        int a = vd__norm_axis(axes[k], nd);
        if (a < 0 || a >= nd) return NODE_ERR(n, VD_EFORMAT, "axis out of range");
        flag[a] = 1;
    }
    int ond = 0;
    for (int i = 0; i < nd; i++) {
        if (!flag[i])
            os[ond++] = V(x)->shape[i];
        else if (keep)
            os[ond++] = 1;
    }
    if (V(x)->dtype != VD__F32)
        return NODE_ERR(n, VD_EUNSUPP, "integer reductions are not supported");
    int cst = V(x)->cdata != NULL;
    int o = cst ? vd__const_val(m, VD__F32, ond, os, n->name, err)
                : vd__rt_val(m, VD__F32, ond, os, n->name, err);
    if (o < 0) return o;
    if (!cst && op == VD__R_MEAN && nd == 4 && flag[1] && flag[2] && !flag[0] && !flag[3]) {
        int si = vd__new_step(m, VD__S_GAVGPOOL, &gavgpool_ops, n); /* mean over H,W of NHWC */
        if (si < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
        vd__step *s = &m->steps[si];
        s->in[0] = x;
        s->n_in = 1;
        s->out[0] = o;
        s->n_out = 1;
        V(o)->producer = si;
        V(o)->scale = scale;
        return vd__set_outputs(m, n, o, 1);
    }
    if (scale != 1.0f) x = vd__canon(m, x, err); /* the C kernel wants the scale applied */
    if (x < 0) return x;
    vd__step k = {.kind = VD__S_REDUCE, .ops = &reduce_ops, .params.reduce.op = op};
    memcpy(k.params.reduce.axes, flag, sizeof flag);
    int si = vd__emit_kernel(m, n, &k, &x, 1, &o, 1, err);
    return si < 0 ? si : vd__set_outputs(m, n, o, 1);
}

int vd__lower_gather(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    int nd_ = kind == VD__L_GATHERND;
    int pv = vd__in_val(m, n, 0, err), iv = vd__in_val(m, n, 1, err);
    if (pv < 0) return pv;
    if (iv < 0) return iv;
    pv = vd__canon(m, pv, err);
    if (pv < 0) return pv;
    iv = vd__canon(m, iv, err);
    if (iv < 0) return iv;
    int64_t os[VD__MAXD];
    int ond = 0;
    int64_t ax = 0;
    if (nd_) {
        if (V(iv)->ndim < 1) return NODE_ERR(n, VD_ESHAPE, "indices need at least one axis");
        int64_t depth = V(iv)->shape[V(iv)->ndim - 1];
        if (depth > V(pv)->ndim) return NODE_ERR(n, VD_ESHAPE, "index depth exceeds params rank");
        int K = (int)depth;
        if (V(iv)->ndim - 1 + V(pv)->ndim - K > VD__MAXD)
            return NODE_ERR(n, VD_EUNSUPP, "result rank too high");
        for (int i = 0; i < V(iv)->ndim - 1; i++) os[ond++] = V(iv)->shape[i];
        for (int i = K; i < V(pv)->ndim; i++) os[ond++] = V(pv)->shape[i];
    } else {
        if (n->n_in > 2 && vd__const_ints(m, n, 2, &ax, 1, err) < 0) return err->code;
        int64_t bd = 0;
        vd__attr_int(n, "batch_dims", 0, &bd);
        if (bd) return NODE_ERR(n, VD_EUNSUPP, "batch_dims != 0 is not supported");
        ax = vd__norm_axis(ax, V(pv)->ndim);
        if (ax < 0) return NODE_ERR(n, VD_EFORMAT, "axis out of range");
        if (V(pv)->ndim - 1 + V(iv)->ndim > VD__MAXD)
            return NODE_ERR(n, VD_EUNSUPP, "result rank too high");
        for (int i = 0; i < ax; i++) os[ond++] = V(pv)->shape[i];
        for (int i = 0; i < V(iv)->ndim; i++) os[ond++] = V(iv)->shape[i];
        for (int i = (int)ax + 1; i < V(pv)->ndim; i++) os[ond++] = V(pv)->shape[i];
    }
    int cst = V(pv)->cdata && V(iv)->cdata;
    int o = cst ? vd__const_val(m, V(pv)->dtype, ond, os, n->name, err)
                : vd__rt_val(m, V(pv)->dtype, ond, os, n->name, err);
    if (o < 0) return o;
    int ins[2] = {pv, iv};
    const vd__step k =
        nd_ ? (vd__step){.kind = VD__S_GATHERND, .ops = &gathernd_ops}
            : (vd__step){.kind = VD__S_GATHER, .ops = &gather_ops, .params.gather.axis = (int)ax};
    int si = vd__emit_kernel(m, n, &k, ins, 2, &o, 1, err);
    return si < 0 ? si : vd__set_outputs(m, n, o, 1);
}

int vd__lower_topk(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    int x = vd__in_val(m, n, 0, err);
    if (x < 0) return x;
    int64_t k;
    if (vd__const_ints(m, n, 1, &k, 1, err) < 0) return err->code;
    x = vd__canon(m, x, err);
    if (x < 0) return x;
    int nd = V(x)->ndim;
    if (V(x)->dtype != VD__F32 || k < 1 || k > V(x)->shape[nd - 1])
        return NODE_ERR(n, VD_EUNSUPP, "k=%lld out of range or non-float input", (long long)k);
    int64_t os[VD__MAXD];
    memcpy(os, V(x)->shape, sizeof os);
    os[nd - 1] = k;
    int cst = V(x)->cdata != NULL;
    int o0 = cst ? vd__const_val(m, VD__F32, nd, os, n->name, err)
                 : vd__rt_val(m, VD__F32, nd, os, n->name, err);
    if (o0 < 0) return o0;
    int o1 = cst ? vd__const_val(m, VD__I32, nd, os, n->name, err)
                 : vd__rt_val(m, VD__I32, nd, os, n->name, err);
    if (o1 < 0) return o1;
    int outs[2] = {o0, o1};
    const vd__step ks = {.kind = VD__S_TOPK, .ops = &topk_ops, .params.topk.k = k};
    int si = vd__emit_kernel(m, n, &ks, &x, 1, outs, 2, err);
    return si < 0 ? si : vd__set_outputs(m, n, o0, 2);
}

int vd__lower_argmax(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    int x = vd__in_val(m, n, 0, err);
    if (x < 0) return x;
    int64_t ax;
    if (vd__const_ints(m, n, 1, &ax, 1, err) < 0) return err->code;
    x = vd__canon(m, x, err);
    if (x < 0) return x;
    int nd = V(x)->ndim;
    ax = vd__norm_axis(ax, nd);
    if (ax < 0 || ax >= nd || V(x)->dtype != VD__F32)
        return NODE_ERR(n, VD_EUNSUPP, "bad axis or dtype");
    int64_t os[VD__MAXD];
    int ond = 0;
    for (int i = 0; i < nd; i++)
        if (i != ax) os[ond++] = V(x)->shape[i];
    int cst = V(x)->cdata != NULL;
    int o = cst ? vd__const_val(m, VD__I32, ond, os, n->name, err)
                : vd__rt_val(m, VD__I32, ond, os, n->name, err);
    if (o < 0) return o;
    const vd__step k = {.kind = VD__S_ARGMAX, .ops = &argmax_ops, .params.argmax.axis = (int)ax};
    int si = vd__emit_kernel(m, n, &k, &x, 1, &o, 1, err);
    return si < 0 ? si : vd__set_outputs(m, n, o, 1);
}

int vd__lower_sparse_to_dense(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    int ins[4];
    for (int k = 0; k < 4; k++) {
        if (k >= n->n_in) return NODE_ERR(n, VD_EFORMAT, "needs 4 inputs");
        ins[k] = vd__in_val(m, n, k, err);
        if (ins[k] < 0) return ins[k];
        if (!V(ins[k])->cdata) return NODE_ERR(n, VD_EUNSUPP, "only constant inputs are supported");
    }
    int64_t os[VD__MAXD];
    int nd = vd__const_ints(m, n, 1, os, VD__MAXD, err);
    if (nd < 0) return nd;
    /* the kernel reads indices[N][rank] against the output's first rank axes, values[N]
     * (or one value) and one default */
    const vd__val *iv = V(ins[0]), *vv = V(ins[2]), *dv = V(ins[3]);
    int64_t ns = iv->ndim == 0 ? 1 : iv->shape[0], rank = iv->ndim == 2 ? iv->shape[1] : 1;
    if (iv->ndim > 2 || rank != nd)
        return NODE_ERR(n, VD_ESHAPE, "indices of rank %d (%lld per index) for a rank-%d output",
                        iv->ndim, (long long)rank, nd);
    int64_t nv = vd__numel(vv->shape, vv->ndim);
    if (nv != 1 && nv != ns)
        return NODE_ERR(n, VD_ESHAPE, "%lld values for %lld indices", (long long)nv, (long long)ns);
    if (vd__numel(dv->shape, dv->ndim) < 1) return NODE_ERR(n, VD_ESHAPE, "no default value");
    iv = vv = dv = NULL; /* the constructor below may move m->vals */
    int o = vd__const_val(m, V(ins[2])->dtype, nd, os, n->name, err);
    if (o < 0) return o;
    const vd__step k = {.kind = VD__S_SPARSE_TO_DENSE, .ops = &sparse_to_dense_ops};
    int si = vd__emit_kernel(m, n, &k, ins, 4, &o, 1, err);
    return si < 0 ? si : vd__set_outputs(m, n, o, 1);
}
