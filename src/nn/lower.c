/*
 * Lowering a TF.js graph into an execution plan of steps.
 *
 * - Constants are folded: any node whose inputs are all constant is evaluated once
 *   at load with the reference kernels.
 * - Layout: a runtime value carries `perm` (physical axis i holds logical axis
 *   perm[i]). Transpose only changes `perm` (no copy); element-wise ops, Pad, Concat
 *   and Split work in any layout; ops that need NHWC (convolution, pooling, resize)
 *   ask for a canonical copy, made once and cached (`canon`).
 * - Pad is lazy: a zero pad of H/W in front of a convolution becomes the convolution's
 *   implicit padding; other consumers materialise it with XNNPACK's constant pad.
 * - Fusion: a bias Add after a convolution goes into its bias; Relu/Relu6 after a
 *   convolution or an element-wise op becomes the operator's output clamp.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/lower.h"

/* ---- kernels run as steps ---------------------------------------------------------- */

static int k_pad(vd__model *m, vd__step *s)
{
    /* canonical constant pad (used for folding and non-f32 data) */
    vd__val *in = V(s->in[0]), *out = V(s->out[0]);
    int nd = in->ndim;
    int64_t n = vd__numel(out->shape, nd), idx[VD__MAXD] = {0};
    const int64_t *lo = s->params.pad.lo;
    int32_t fill;
    if (in->dtype == VD__F32)
        memcpy(&fill, &s->params.pad.value, 4);
    else
        fill = (int32_t)s->params.pad.value;
    const int32_t *src = vd__vptr(m, s->in[0]);
    int32_t *dst = vd__vptr(m, s->out[0]);
    for (int64_t k = 0; k < n; k++) {
        int64_t off = 0, inside = 1;
        for (int i = 0; i < nd; i++) {
            int64_t c = idx[i] - lo[i];
            if (c < 0 || c >= in->shape[i]) inside = 0;
            off = off * in->shape[i] + c;
        }
        dst[k] = inside ? src[off] : fill;
        for (int i = nd - 1; i >= 0; i--) {
            if (++idx[i] < out->shape[i]) break;
            idx[i] = 0;
        }
    }
    return 0;
}

/* Concat along a physical axis of the output (inputs share the output's perm). */
static int k_concat(vd__model *m, vd__step *s)
{
    vd__val *o = V(s->out[0]);
    int64_t ps[VD__MAXD];
    vd__phys_shape(o, ps);
    int ax = s->params.concat.axis;
    int64_t outer = 1;
    for (int i = 0; i < ax; i++) outer *= ps[i];
    int64_t oinner = vd__numel(ps + ax, o->ndim - ax);
    char *dst = vd__vptr(m, s->out[0]);
    int64_t col = 0;
    for (int k = 0; k < s->n_in; k++) {
        vd__val *in = V(s->in[k]);
        int64_t is[VD__MAXD];
        vd__phys_shape(in, is);
        int64_t inner = vd__numel(is + ax, in->ndim - ax);
        const char *src = vd__vptr(m, s->in[k]);
        for (int64_t r = 0; r < outer; r++)
            memcpy(dst + (r * oinner + col) * 4, src + r * inner * 4, (size_t)inner * 4);
        col += inner;
    }
    return 0;
}

/* Split along a physical axis of the input (outputs share its perm). */
static int k_split(vd__model *m, vd__step *s)
{
    vd__val *in = V(s->in[0]);
    int64_t ps[VD__MAXD];
    vd__phys_shape(in, ps);
    int ax = s->params.split.axis;
    int64_t outer = 1;
    for (int i = 0; i < ax; i++) outer *= ps[i];
    int64_t iinner = vd__numel(ps + ax, in->ndim - ax);
    const char *src = vd__vptr(m, s->in[0]);
    int64_t col = 0;
    for (int k = 0; k < s->n_out; k++) {
        vd__val *o = V(s->out[k]);
        int64_t os[VD__MAXD];
        vd__phys_shape(o, os);
        int64_t inner = vd__numel(os + ax, o->ndim - ax);
        /* Unpack outputs drop the axis: their inner size is the slice size. */
        if (s->params.split.unpack) inner = iinner / s->n_out;
        char *dst = vd__vptr(m, s->out[k]);
        for (int64_t r = 0; r < outer; r++)
            memcpy(dst + r * inner * 4, src + (r * iinner + col) * 4, (size_t)inner * 4);
        col += inner;
    }
    return 0;
}

/* StridedSlice on canonical data (see vd__slice_params). */
static int k_slice(vd__model *m, vd__step *s)
{
    vd__val *in = V(s->in[0]);
    int nd = in->ndim;
    const int64_t *beg = s->params.slice.begin, *str = s->params.slice.stride,
                  *cnt = s->params.slice.count;
    int64_t istr[VD__MAXD], idx[VD__MAXD] = {0}, acc = 1, total = 1;
    for (int i = nd - 1; i >= 0; i--) {
        istr[i] = acc;
        acc *= in->shape[i];
    }
    for (int i = 0; i < nd; i++) total *= cnt[i];
    const int32_t *src = vd__vptr(m, s->in[0]);
    int32_t *dst = vd__vptr(m, s->out[0]);
    for (int64_t k = 0; k < total; k++) {
        int64_t off = 0;
        for (int i = 0; i < nd; i++) off += (beg[i] + idx[i] * str[i]) * istr[i];
        dst[k] = src[off];
        for (int i = nd - 1; i >= 0; i--) {
            if (++idx[i] < cnt[i]) break;
            idx[i] = 0;
        }
    }
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

/* ---- op lowering ------------------------------------------------------------------- */

static int lower_const(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    int v = vd__new_val(m, n->cdtype, n->cndim, n->cshape, n->name);
    if (v < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
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
        shape[nd++] = x < 0 ? 1 : x; /* dynamic batch -> 1 */
    }
    if (nd == 0) return NODE_ERR(n, VD_EUNSUPP, "input needs a static shape");
    for (int k = 0; k < nd; k++)
        if (shape[k] == 0) return NODE_ERR(n, VD_EUNSUPP, "input needs a static shape");
    json_t *dt = json_object_get(json_object_get(n->attr, "dtype"), "type");
    const char *dts = json_string_value(dt);
    int dtype = dts && !strcmp(dts, "DT_INT32") ? VD__I32 : VD__F32;
    if (dts && strcmp(dts, "DT_INT32") && strcmp(dts, "DT_FLOAT"))
        return NODE_ERR(n, VD_EUNSUPP, "input dtype %s is not supported", dts);
    int v = vd__rt_val(m, dtype, nd, shape, n->name);
    if (v < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
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

static int lower_pad(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    int x = vd__in_val(m, n, 0, err);
    if (x < 0) return x;
    int64_t pads[2 * VD__MAXD];
    int np = vd__const_ints(m, n, 1, pads, 2 * VD__MAXD, err);
    if (np < 0) return np;
    if (np != 2 * V(x)->ndim) return NODE_ERR(n, VD_ESHAPE, "paddings must be [rank,2]");
    float pv = 0;
    if (n->n_in > 2) {
        int c = vd__in_val(m, n, 2, err);
        if (c < 0) return c;
        if (!V(c)->cdata) return NODE_ERR(n, VD_EUNSUPP, "constant_values must be constant");
        pv = V(c)->dtype == VD__F32 ? *(float *)V(c)->cdata : (float)*(int32_t *)V(c)->cdata;
    }
    int64_t os[VD__MAXD];
    for (int i = 0; i < V(x)->ndim; i++) {
        if (pads[2 * i] < 0 || pads[2 * i + 1] < 0)
            return NODE_ERR(n, VD_EUNSUPP, "negative padding");
        os[i] = V(x)->shape[i] + pads[2 * i] + pads[2 * i + 1];
    }
    if (V(x)->cdata) {
        int o = vd__const_val(m, V(x)->dtype, V(x)->ndim, os, n->name);
        if (o < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
        vd__step k = {.kind = VD__S_PAD, .kern = k_pad, .params.pad.value = pv};
        for (int i = 0; i < V(x)->ndim; i++) {
            k.params.pad.lo[i] = pads[2 * i];
            k.params.pad.hi[i] = pads[2 * i + 1];
        }
        int si = vd__emit_kernel(m, n, &k, &x, 1, &o, 1, err); /* folds */
        return si < 0 ? si : vd__set_outputs(m, n, o, 1);
    }
    int o = vd__new_val(m, V(x)->dtype, V(x)->ndim, os, n->name);
    if (o < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
    vd__val *v = V(o);
    v->lazy_src = x;
    v->pad_value = pv;
    for (int i = 0; i < v->ndim; i++) {
        v->pad_lo[i] = pads[2 * i];
        v->pad_hi[i] = pads[2 * i + 1];
    }
    return vd__set_outputs(m, n, o, 1);
}

/* Transpose: free for runtime values (only the permutation changes). */
static int transpose_val(vd__model *m, int x, const int *p, const char *node, vd_error *err)
{
    int nd = V(x)->ndim;
    int64_t os[VD__MAXD];
    for (int i = 0; i < nd; i++) os[i] = V(x)->shape[p[i]];
    if (V(x)->lazy_src >= 0) {
        int src = transpose_val(m, V(x)->lazy_src, p, node, err);
        if (src < 0) return src;
        int o = vd__new_val(m, V(x)->dtype, nd, os, node);
        if (o < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
        vd__val *v = V(o), *in = V(x);
        v->lazy_src = src;
        v->pad_value = in->pad_value;
        for (int i = 0; i < nd; i++) {
            v->pad_lo[i] = in->pad_lo[p[i]];
            v->pad_hi[i] = in->pad_hi[p[i]];
        }
        return o;
    }
    int o = vd__new_val(m, V(x)->dtype, nd, os, node);
    if (o < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
    vd__val *v = V(o), *in = V(x);
    if (in->cdata) {
        v->cdata = malloc((size_t)vd__numel(os, nd) * 4 + XNN_EXTRA_BYTES);
        if (!v->cdata) return vd_fail(err, VD_ENOMEM, "out of memory");
        vd__transpose(in->cdata, v->cdata, in->shape, nd, p, 4);
        return o;
    }
    int inv[VD__MAXD];
    for (int i = 0; i < nd; i++) inv[p[i]] = i;
    for (int i = 0; i < nd; i++) v->perm[i] = inv[in->perm[i]];
    v->buf = in->buf;
    v->offset = in->offset;
    v->producer = in->producer;
    return o;
}

static int lower_transpose(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    int x = vd__in_val(m, n, 0, err);
    if (x < 0) return x;
    int64_t p64[VD__MAXD];
    int np = vd__const_ints(m, n, 1, p64, VD__MAXD, err);
    if (np < 0) return np;
    if (np != V(x)->ndim)
        return NODE_ERR(n, VD_ESHAPE, "perm has %d entries for rank %d", np, V(x)->ndim);
    int p[VD__MAXD], seen[VD__MAXD] = {0};
    for (int i = 0; i < np; i++) {
        if (p64[i] < 0 || p64[i] >= np || seen[p64[i]]++)
            return NODE_ERR(n, VD_EFORMAT, "bad perm");
        p[i] = (int)p64[i];
    }
    int o = transpose_val(m, x, p, n->name, err);
    return o < 0 ? o : vd__set_outputs(m, n, o, 1);
}

static int reshape_to(vd__model *m, vd__node *n, int x, int nd, int64_t *shape, vd_error *err)
{
    int64_t known = 1, total = vd__numel(V(x)->shape, V(x)->ndim);
    int neg = -1;
    for (int i = 0; i < nd; i++) {
        if (shape[i] == -1) {
            if (neg >= 0) return NODE_ERR(n, VD_EFORMAT, "more than one -1 in shape");
            neg = i;
        } else if (shape[i] < 0) {
            return NODE_ERR(n, VD_EFORMAT, "negative dimension");
        } else {
            known *= shape[i];
        }
    }
    if (neg >= 0) shape[neg] = known ? total / known : 0;
    if (vd__numel(shape, nd) != total)
        return NODE_ERR(n, VD_ESHAPE, "cannot reshape %lld elements into %lld", (long long)total,
                        (long long)vd__numel(shape, nd));
    x = vd__canon(m, x, err);
    if (x < 0) return x;
    int o = vd__view(m, x, nd, shape, err);
    return o < 0 ? o : vd__set_outputs(m, n, o, 1);
}

static int lower_reshape(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    int x = vd__in_val(m, n, 0, err);
    if (x < 0) return x;
    int64_t shape[VD__MAXD];
    int nd = 0;
    if (kind == VD__L_RESHAPE) {
        nd = vd__const_ints(m, n, 1, shape, VD__MAXD, err);
        if (nd < 0) return nd;
    } else if (kind == VD__L_EXPAND_DIMS) {
        int64_t d;
        int c = vd__const_ints(m, n, 1, &d, 1, err);
        if (c < 0) return c;
        int r = V(x)->ndim;
        if (d < 0) d += r + 1;
        if (d < 0 || d > r || r >= VD__MAXD) return NODE_ERR(n, VD_EFORMAT, "bad axis");
        for (int i = 0, j = 0; i <= r; i++) shape[i] = i == d ? 1 : V(x)->shape[j++];
        nd = r + 1;
    } else { /* Squeeze */
        int64_t dims[VD__MAXD];
        int nsq = vd__attr_ints(n, "squeeze_dims", dims, VD__MAXD);
        if (nsq < 0) nsq = vd__attr_ints(n, "axis", dims, VD__MAXD);
        for (int i = 0; i < V(x)->ndim; i++) {
            int drop = 0;
            if (nsq <= 0) drop = V(x)->shape[i] == 1;
            for (int k = 0; k < nsq; k++)
                if (dims[k] == i || dims[k] + V(x)->ndim == i) drop = 1;
            if (!drop) shape[nd++] = V(x)->shape[i];
        }
    }
    return reshape_to(m, n, x, nd, shape, err);
}

static int lower_concat(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    int pack = kind == VD__L_PACK;
    int ni = pack ? n->n_in : n->n_in - 1;
    if (ni < 1 || ni > 8) return NODE_ERR(n, VD_EUNSUPP, "%d inputs (1..8 supported)", ni);
    int64_t ax64 = 0;
    if (pack)
        vd__attr_int(n, "axis", 0, &ax64);
    else if (vd__const_ints(m, n, ni, &ax64, 1, err) < 0)
        return err ? err->code : VD_EFORMAT;
    int ins[8], all_const = 1, perm_ok = 1;
    for (int k = 0; k < ni; k++) {
        ins[k] = vd__in_val(m, n, k, err);
        if (ins[k] < 0) return ins[k];
        ins[k] = vd__realize(m, ins[k], err);
        if (ins[k] < 0) return ins[k];
        if (!V(ins[k])->cdata) all_const = 0;
    }
    int nd = V(ins[0])->ndim;
    if (pack) { /* Pack = concat of inputs with a unit axis inserted */
        int ax = vd__norm_axis(ax64, nd + 1);
        int64_t sh[VD__MAXD];
        for (int i = 0, j = 0; i <= nd; i++) sh[i] = i == ax ? 1 : V(ins[0])->shape[j++];
        for (int k = 0; k < ni; k++) {
            int c = vd__canon(m, ins[k], err);
            if (c < 0) return c;
            ins[k] = vd__view(m, c, nd + 1, sh, err);
            if (ins[k] < 0) return ins[k];
        }
        nd++;
        ax64 = ax;
    }
    int ax = vd__norm_axis(ax64, nd);
    if (ax < 0 || ax >= nd) return NODE_ERR(n, VD_EFORMAT, "axis out of range");
    int64_t os[VD__MAXD];
    memcpy(os, V(ins[0])->shape, sizeof os);
    os[ax] = 0;
    for (int k = 0; k < ni; k++) {
        if (V(ins[k])->ndim != nd) return NODE_ERR(n, VD_ESHAPE, "inputs differ in rank");
        for (int i = 0; i < nd; i++)
            if (i != ax && V(ins[k])->shape[i] != V(ins[0])->shape[i])
                return NODE_ERR(n, VD_ESHAPE, "inputs differ in dimension %d", i);
        os[ax] += V(ins[k])->shape[ax];
        if (V(ins[k])->cdata || memcmp(V(ins[k])->perm, V(ins[0])->perm, sizeof(int) * VD__MAXD))
            perm_ok = 0;
    }
    if (!perm_ok || all_const)
        for (int k = 0; k < ni; k++) {
            ins[k] = vd__canon(m, ins[k], err);
            if (ins[k] < 0) return ins[k];
        }
    int o = all_const ? vd__const_val(m, V(ins[0])->dtype, nd, os, n->name)
                      : vd__rt_val(m, V(ins[0])->dtype, nd, os, n->name);
    if (o < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
    if (perm_ok && !all_const) memcpy(V(o)->perm, V(ins[0])->perm, sizeof V(o)->perm);
    int64_t pax = ax;
    for (int i = 0; i < nd; i++)
        if (V(o)->perm[i] == ax) pax = i;
    const vd__step k = {.kind = VD__S_CONCAT, .kern = k_concat, .params.concat.axis = (int)pax};
    int si = vd__emit_kernel(m, n, &k, ins, ni, &o, 1, err);
    return si < 0 ? si : vd__set_outputs(m, n, o, 1);
}

static int lower_split(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    int x, ns;
    int64_t sizes[8], ax64 = 0;
    int unpack = kind == VD__L_UNPACK;
    if (kind == VD__L_SPLITV) {
        x = vd__in_val(m, n, 0, err);
        if (x < 0) return x;
        ns = vd__const_ints(m, n, 1, sizes, 8, err);
        if (ns < 0) return ns;
        if (vd__const_ints(m, n, 2, &ax64, 1, err) < 0) return err->code;
    } else if (unpack) {
        x = vd__in_val(m, n, 0, err);
        if (x < 0) return x;
        vd__attr_int(n, "axis", 0, &ax64);
        int64_t num = 0;
        vd__attr_int(n, "num", 0, &num);
        int a = vd__norm_axis(ax64, V(x)->ndim);
        if (a < 0 || a >= V(x)->ndim) return NODE_ERR(n, VD_EFORMAT, "axis out of range");
        ns = (int)V(x)->shape[a];
        if (ns > 8 || (num && num != ns))
            return NODE_ERR(n, VD_EUNSUPP, "unpack into %d outputs", ns);
        for (int k = 0; k < ns; k++) sizes[k] = 1;
    } else { /* Split: (axis, value), num_split */
        x = vd__in_val(m, n, 1, err);
        if (x < 0) return x;
        if (vd__const_ints(m, n, 0, &ax64, 1, err) < 0) return err->code;
        int64_t num = 1;
        vd__attr_int(n, "num_split", 1, &num);
        int a = vd__norm_axis(ax64, V(x)->ndim);
        if (num < 1 || num > 8 || a < 0 || a >= V(x)->ndim || V(x)->shape[a] % num)
            return NODE_ERR(n, VD_EUNSUPP, "bad split");
        ns = (int)num;
        for (int k = 0; k < ns; k++) sizes[k] = V(x)->shape[a] / num;
    }
    x = vd__realize(m, x, err);
    if (x < 0) return x;
    int nd = V(x)->ndim, ax = vd__norm_axis(ax64, nd);
    if (ax < 0 || ax >= nd) return NODE_ERR(n, VD_EFORMAT, "axis out of range");
    int64_t known = 0, neg = -1;
    for (int k = 0; k < ns; k++) {
        if (sizes[k] < 0)
            neg = k;
        else
            known += sizes[k];
    }
    if (neg >= 0) sizes[neg] = V(x)->shape[ax] - known;
    int64_t tot = 0;
    for (int k = 0; k < ns; k++) tot += sizes[k];
    if (tot != V(x)->shape[ax])
        return NODE_ERR(n, VD_ESHAPE, "split sizes do not add up to %lld",
                        (long long)V(x)->shape[ax]);
    int cst = V(x)->cdata != NULL;
    if (unpack && !vd__is_identity(V(x))) {
        x = vd__canon(m, x, err);
        if (x < 0) return x;
    }
    int outs[8], first = -1;
    for (int k = 0; k < ns; k++) {
        int64_t os[VD__MAXD];
        int ond = nd;
        memcpy(os, V(x)->shape, sizeof os);
        os[ax] = sizes[k];
        if (unpack) {
            for (int i = ax; i < nd - 1; i++) os[i] = os[i + 1];
            ond = nd - 1;
        }
        outs[k] = cst ? vd__const_val(m, V(x)->dtype, ond, os, n->name)
                      : vd__rt_val(m, V(x)->dtype, ond, os, n->name);
        if (outs[k] < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
        if (!cst && !unpack) memcpy(V(outs[k])->perm, V(x)->perm, sizeof V(x)->perm);
        if (k == 0) first = outs[k];
        if (outs[k] != first + k) return NODE_ERR(n, VD_ENOMEM, "internal: outputs not contiguous");
    }
    int64_t pax = ax;
    for (int i = 0; i < nd; i++)
        if (V(x)->perm[i] == ax) pax = i;
    const vd__step k = {
        .kind = VD__S_SPLIT, .kern = k_split, .params.split = {.axis = (int)pax, .unpack = unpack}};
    int si = vd__emit_kernel(m, n, &k, &x, 1, outs, ns, err);
    return si < 0 ? si : vd__set_outputs(m, n, first, ns);
}

static int lower_reduce(vd__model *m, vd__node *n, int op, vd_error *err)
{
    int x = vd__in_val(m, n, 0, err);
    if (x < 0) return x;
    int64_t axes[VD__MAXD];
    int na = vd__const_ints(m, n, 1, axes, VD__MAXD, err);
    if (na < 0) return na;
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
    int o = cst ? vd__const_val(m, VD__F32, ond, os, n->name)
                : vd__rt_val(m, VD__F32, ond, os, n->name);
    if (o < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
    if (!cst && op == VD__R_MEAN && nd == 4 && flag[1] && flag[2] && !flag[0] && !flag[3]) {
        int si = vd__new_step(m, VD__S_GAVGPOOL, NULL, n); /* mean over H,W of NHWC */
        if (si < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
        vd__step *s = &m->steps[si];
        s->in[0] = x;
        s->n_in = 1;
        s->out[0] = o;
        s->n_out = 1;
        V(o)->producer = si;
        return vd__set_outputs(m, n, o, 1);
    }
    vd__step k = {.kind = VD__S_REDUCE, .kern = k_reduce, .params.reduce.op = op};
    memcpy(k.params.reduce.axes, flag, sizeof flag);
    int si = vd__emit_kernel(m, n, &k, &x, 1, &o, 1, err);
    return si < 0 ? si : vd__set_outputs(m, n, o, 1);
}

static int lower_strided_slice(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    int x = vd__in_val(m, n, 0, err);
    if (x < 0) return x;
    int64_t b[VD__MAXD], e[VD__MAXD], st[VD__MAXD] = {1, 1, 1, 1, 1, 1};
    int nb = vd__const_ints(m, n, 1, b, VD__MAXD, err);
    if (nb < 0) return nb;
    int ne = vd__const_ints(m, n, 2, e, VD__MAXD, err);
    if (ne < 0) return ne;
    int ns = vd__const_ints(m, n, 3, st, VD__MAXD, err);
    if (ns < 0) return ns;
    int64_t bm, em, elm, nam, sam;
    vd__attr_int(n, "begin_mask", 0, &bm);
    vd__attr_int(n, "end_mask", 0, &em);
    vd__attr_int(n, "ellipsis_mask", 0, &elm);
    vd__attr_int(n, "new_axis_mask", 0, &nam);
    vd__attr_int(n, "shrink_axis_mask", 0, &sam);
    if (elm || nam) return NODE_ERR(n, VD_EUNSUPP, "ellipsis/new_axis masks are not supported");
    x = vd__canon(m, x, err);
    if (x < 0) return x;
    int nd = V(x)->ndim;
    vd__step k = {.kind = VD__S_SLICE, .kern = k_slice};
    int64_t *beg = k.params.slice.begin, *str = k.params.slice.stride, *cnt = k.params.slice.count,
            os[VD__MAXD];
    int ond = 0;
    for (int i = 0; i < nd; i++) {
        int64_t dim = V(x)->shape[i], s = i < nb ? st[i] : 1, lo, hi;
        if (s == 0) return NODE_ERR(n, VD_EFORMAT, "zero stride");
        if (i >= nb) {
            lo = 0;
            hi = dim;
            s = 1;
        } else {
            lo = (bm >> i) & 1 ? (s > 0 ? 0 : dim - 1) : b[i];
            hi = (em >> i) & 1 ? (s > 0 ? dim : -1) : e[i];
            if (!((bm >> i) & 1) && lo < 0) lo += dim;
            if (!((em >> i) & 1) && hi < 0) hi += dim;
            if ((sam >> i) & 1) hi = lo + 1, s = 1;
            if (s > 0) {
                lo = lo < 0 ? 0 : lo > dim ? dim : lo;
                hi = hi < 0 ? 0 : hi > dim ? dim : hi;
            } else {
                lo = lo < -1 ? -1 : lo > dim - 1 ? dim - 1 : lo;
                hi = hi < -1 ? -1 : hi > dim - 1 ? dim - 1 : hi;
            }
        }
        int64_t c = s > 0 ? (hi - lo + s - 1) / s : (lo - hi + (-s) - 1) / (-s);
        if (c < 0) c = 0;
        beg[i] = lo;
        str[i] = s;
        cnt[i] = c;
        if (!(i < nb && ((sam >> i) & 1))) os[ond++] = c;
    }
    int cst = V(x)->cdata != NULL;
    int o = cst ? vd__const_val(m, V(x)->dtype, ond, os, n->name)
                : vd__rt_val(m, V(x)->dtype, ond, os, n->name);
    if (o < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
    int si = vd__emit_kernel(m, n, &k, &x, 1, &o, 1, err);
    return si < 0 ? si : vd__set_outputs(m, n, o, 1);
}

static int lower_gather(vd__model *m, vd__node *n, int kind, vd_error *err)
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
        int K = (int)V(iv)->shape[V(iv)->ndim - 1];
        if (K > V(pv)->ndim) return NODE_ERR(n, VD_ESHAPE, "index depth exceeds params rank");
        for (int i = 0; i < V(iv)->ndim - 1; i++) os[ond++] = V(iv)->shape[i];
        for (int i = K; i < V(pv)->ndim; i++) os[ond++] = V(pv)->shape[i];
    } else {
        if (n->n_in > 2 && vd__const_ints(m, n, 2, &ax, 1, err) < 0) return err->code;
        int64_t bd = 0;
        vd__attr_int(n, "batch_dims", 0, &bd);
        if (bd) return NODE_ERR(n, VD_EUNSUPP, "batch_dims != 0 is not supported");
        ax = vd__norm_axis(ax, V(pv)->ndim);
        for (int i = 0; i < ax; i++) os[ond++] = V(pv)->shape[i];
        for (int i = 0; i < V(iv)->ndim; i++) os[ond++] = V(iv)->shape[i];
        for (int i = (int)ax + 1; i < V(pv)->ndim; i++) os[ond++] = V(pv)->shape[i];
    }
    if (ond > VD__MAXD) return NODE_ERR(n, VD_EUNSUPP, "result rank too high");
    int cst = V(pv)->cdata && V(iv)->cdata;
    int o = cst ? vd__const_val(m, V(pv)->dtype, ond, os, n->name)
                : vd__rt_val(m, V(pv)->dtype, ond, os, n->name);
    if (o < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
    int ins[2] = {pv, iv};
    const vd__step k =
        nd_ ? (vd__step){.kind = VD__S_GATHERND, .kern = k_gathernd}
            : (vd__step){.kind = VD__S_GATHER, .kern = k_gather, .params.gather.axis = (int)ax};
    int si = vd__emit_kernel(m, n, &k, ins, 2, &o, 1, err);
    return si < 0 ? si : vd__set_outputs(m, n, o, 1);
}

static int lower_topk(vd__model *m, vd__node *n, int kind, vd_error *err)
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
    int o0 =
        cst ? vd__const_val(m, VD__F32, nd, os, n->name) : vd__rt_val(m, VD__F32, nd, os, n->name);
    int o1 =
        cst ? vd__const_val(m, VD__I32, nd, os, n->name) : vd__rt_val(m, VD__I32, nd, os, n->name);
    if (o0 < 0 || o1 < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
    int outs[2] = {o0, o1};
    const vd__step ks = {.kind = VD__S_TOPK, .kern = k_topk, .params.topk.k = k};
    int si = vd__emit_kernel(m, n, &ks, &x, 1, outs, 2, err);
    return si < 0 ? si : vd__set_outputs(m, n, o0, 2);
}

static int lower_argmax(vd__model *m, vd__node *n, int kind, vd_error *err)
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
    int o = cst ? vd__const_val(m, VD__I32, ond, os, n->name)
                : vd__rt_val(m, VD__I32, ond, os, n->name);
    if (o < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
    const vd__step k = {.kind = VD__S_ARGMAX, .kern = k_argmax, .params.argmax.axis = (int)ax};
    int si = vd__emit_kernel(m, n, &k, &x, 1, &o, 1, err);
    return si < 0 ? si : vd__set_outputs(m, n, o, 1);
}

static int lower_sparse_to_dense(vd__model *m, vd__node *n, int kind, vd_error *err)
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
    int o = vd__const_val(m, V(ins[2])->dtype, nd, os, n->name);
    if (o < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
    const vd__step k = {.kind = VD__S_SPARSE_TO_DENSE, .kern = k_sparse_to_dense};
    int si = vd__emit_kernel(m, n, &k, ins, 4, &o, 1, err);
    return si < 0 ? si : vd__set_outputs(m, n, o, 1);
}

static int lower_shape(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    int x = vd__in_val(m, n, 0, err);
    if (x < 0) return x;
    int64_t sh[1] = {V(x)->ndim};
    int o = vd__const_val(m, VD__I32, 1, sh, n->name);
    if (o < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
    for (int i = 0; i < V(x)->ndim; i++) ((int32_t *)V(o)->cdata)[i] = (int32_t)V(x)->shape[i];
    return vd__set_outputs(m, n, o, 1);
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
    {"Prelu", vd__lower_prelu, 0},
    {"Pad", lower_pad, 0},
    {"PadV2", lower_pad, 0},
    {"Transpose", lower_transpose, 0},
    {"Reshape", lower_reshape, VD__L_RESHAPE},
    {"ExpandDims", lower_reshape, VD__L_EXPAND_DIMS},
    {"Squeeze", lower_reshape, VD__L_SQUEEZE},
    {"ConcatV2", lower_concat, VD__L_CONCAT},
    {"Pack", lower_concat, VD__L_PACK},
    {"SplitV", lower_split, VD__L_SPLITV},
    {"Split", lower_split, VD__L_SPLIT},
    {"Unpack", lower_split, VD__L_UNPACK},
    {"ResizeBilinear", vd__lower_resize, 0},
    {"Mean", lower_reduce, VD__R_MEAN},
    {"Sum", lower_reduce, VD__R_SUM},
    {"Max", lower_reduce, VD__R_MAX},
    {"Min", lower_reduce, VD__R_MIN},
    {"Cast", vd__lower_cast, 0},
    {"StridedSlice", lower_strided_slice, 0},
    {"GatherV2", lower_gather, VD__L_GATHER},
    {"GatherNd", lower_gather, VD__L_GATHERND},
    {"TopKV2", lower_topk, 0},
    {"ArgMax", lower_argmax, 0},
    {"SparseToDense", lower_sparse_to_dense, 0},
    {"Shape", lower_shape, 0},
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
    int rc = e->lower(m, n, e->kind, err);
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
        v = vd__canon(m, v, err);
        if (v < 0) {
            rc = v;
            break;
        }
        if (V(v)->cdata) { /* constant output: copy into a runtime buffer once */
            int o = vd__rt_val(m, V(v)->dtype, V(v)->ndim, V(v)->shape, n->name);
            if (o < 0) {
                rc = vd_fail(err, VD_ENOMEM, "out of memory");
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
    free(uses);
    free(outn);
    return rc;
}
