/*
 * Layout family: Pad/PadV2, Transpose, Reshape, ExpandDims, Squeeze, ConcatV2, Pack,
 * Split, SplitV, Unpack, StridedSlice, Tile, Shape, Size.
 *
 * Transpose is free for runtime values (only `perm` changes) and a Pad of a runtime
 * value is lazy (values.c materialises it, or a convolution takes it as padding).
 * Concat and Split work along a physical axis in any layout; Reshape-like ops are views
 * of a canonical copy; StridedSlice, Tile and Unpack read canonical data; Shape and
 * Size are constants (shapes are static). The C kernels here also fold constants at load.
 */
#include <assert.h>
#include <stdint.h>
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

/* Tile on canonical data: output axis i repeats the input's out/in times. Rows of the
 * innermost axis are copied whole, then repeated. */
static int k_tile(vd__model *m, vd__step *s)
{
    const vd__val *in = V(s->in[0]), *o = V(s->out[0]);
    int nd = in->ndim;
    int64_t total = vd__numel(o->shape, nd);
    if (total == 0) return 0;
    const uint32_t *src = vd__vptr(m, s->in[0]);
    uint32_t *dst = vd__vptr(m, s->out[0]);
    if (nd == 0) {
        dst[0] = src[0];
        return 0;
    }
    int64_t istr[VD__MAXD], idx[VD__MAXD] = {0}, acc = 1;
    for (int i = nd - 1; i >= 0; i--) {
        istr[i] = acc;
        acc *= in->shape[i];
    }
    int64_t row = in->shape[nd - 1], orow = o->shape[nd - 1];
    for (int64_t k = 0; k < total; k += orow) { /* one output row per outer index */
        int64_t off = 0;
        for (int i = 0; i < nd - 1; i++) off += (idx[i] % in->shape[i]) * istr[i];
        for (int64_t r = 0; r < orow; r += row)
            memcpy(dst + k + r, src + off, (size_t)row * sizeof *dst);
        for (int i = nd - 2; i >= 0; i--) {
            if (++idx[i] < o->shape[i]) break;
            idx[i] = 0;
        }
    }
    return 0;
}

static const vd__step_ops pad_c_ops = {.run = k_pad};
static const vd__step_ops concat_ops = {.run = k_concat};
static const vd__step_ops split_ops = {.run = k_split};
static const vd__step_ops slice_ops = {.run = k_slice};
static const vd__step_ops tile_ops = {.run = k_tile};

/* ---- lowering -------------------------------------------------------------------- */

int vd__lower_pad(vd__model *m, vd__node *n, int kind, vd_error *err)
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
        if (__builtin_add_overflow(V(x)->shape[i], pads[2 * i], &os[i]) ||
            __builtin_add_overflow(os[i], pads[2 * i + 1], &os[i]))
            return NODE_ERR(n, VD_ETOOBIG, "padding of %lld,%lld out of range",
                            (long long)pads[2 * i], (long long)pads[2 * i + 1]);
    }
    if (V(x)->cdata) {
        int o = vd__const_val(m, V(x)->dtype, V(x)->ndim, os, n->name, err);
        if (o < 0) return o;
        vd__step k = {.kind = VD__S_PAD, .ops = &pad_c_ops, .params.pad.value = pv};
        for (int i = 0; i < V(x)->ndim; i++) {
            k.params.pad.lo[i] = pads[2 * i];
            k.params.pad.hi[i] = pads[2 * i + 1];
        }
        int si = vd__emit_kernel(m, n, &k, &x, 1, &o, 1, err); /* folds */
        return si < 0 ? si : vd__set_outputs(m, n, o, 1);
    }
    int o = vd__new_val(m, V(x)->dtype, V(x)->ndim, os, n->name, err);
    if (o < 0) return o;
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
        int o = vd__new_val(m, V(x)->dtype, nd, os, node, err);
        if (o < 0) return o;
        vd__val *v = V(o), *in = V(x);
        v->lazy_src = src;
        v->pad_value = in->pad_value;
        for (int i = 0; i < nd; i++) {
            v->pad_lo[i] = in->pad_lo[p[i]];
            v->pad_hi[i] = in->pad_hi[p[i]];
        }
        return o;
    }
    int o = vd__new_val(m, V(x)->dtype, nd, os, node, err);
    if (o < 0) return o;
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

int vd__lower_transpose(vd__model *m, vd__node *n, int kind, vd_error *err)
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
    int64_t total = vd__numel(V(x)->shape, V(x)->ndim);
    int neg = -1;
    for (int i = 0; i < nd; i++) {
        if (shape[i] == -1) {
            if (neg >= 0) return NODE_ERR(n, VD_EFORMAT, "more than one -1 in shape");
            neg = i;
        } else if (shape[i] < 0) {
            return NODE_ERR(n, VD_EFORMAT, "negative dimension");
        }
    }
    if (neg >= 0) shape[neg] = 1;
    int64_t known = vd__numel(shape, nd); /* overflow-checked */
    char s[160];
    if (known < 0)
        return NODE_ERR(n, VD_ETOOBIG,
                        "cannot reshape %lld elements into %s: more than 2^48 elements "
                        "(corrupt or crafted model?)",
                        (long long)total, vd__shape_str(shape, nd, s, sizeof s));
    if (neg >= 0) shape[neg] = known ? total / known : 0;
    if (vd__numel(shape, nd) != total)
        return NODE_ERR(n, VD_ESHAPE, "cannot reshape %lld elements into %s (%lld)",
                        (long long)total, vd__shape_str(shape, nd, s, sizeof s),
                        (long long)vd__numel(shape, nd));
    x = vd__canon(m, x, err);
    if (x < 0) return x;
    int o = vd__view(m, x, nd, shape, err);
    return o < 0 ? o : vd__set_outputs(m, n, o, 1);
}

int vd__lower_reshape(vd__model *m, vd__node *n, int kind, vd_error *err)
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

int vd__lower_concat(vd__model *m, vd__node *n, int kind, vd_error *err)
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
        if (nd + 1 > VD__MAXD) return NODE_ERR(n, VD_EUNSUPP, "result rank too high");
        for (int k = 1; k < ni; k++)
            if (V(ins[k])->ndim != nd ||
                memcmp(V(ins[k])->shape, V(ins[0])->shape, sizeof(int64_t) * (size_t)nd))
                return NODE_ERR(n, VD_ESHAPE, "inputs differ in shape");
        int ax = vd__norm_axis(ax64, nd + 1);
        if (ax < 0) return NODE_ERR(n, VD_EFORMAT, "axis out of range");
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
    int o = all_const ? vd__const_val(m, V(ins[0])->dtype, nd, os, n->name, err)
                      : vd__rt_val(m, V(ins[0])->dtype, nd, os, n->name, err);
    if (o < 0) return o;
    if (perm_ok && !all_const) memcpy(V(o)->perm, V(ins[0])->perm, sizeof V(o)->perm);
    int64_t pax = ax;
    for (int i = 0; i < nd; i++)
        if (V(o)->perm[i] == ax) pax = i;
    const vd__step k = {.kind = VD__S_CONCAT, .ops = &concat_ops, .params.concat.axis = (int)pax};
    int si = vd__emit_kernel(m, n, &k, ins, ni, &o, 1, err);
    return si < 0 ? si : vd__set_outputs(m, n, o, 1);
}

int vd__lower_split(vd__model *m, vd__node *n, int kind, vd_error *err)
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
        if (sizes[k] > V(x)->shape[ax]) /* bounds the sums below */
            return NODE_ERR(n, VD_ESHAPE, "split size %lld exceeds the axis (%lld)",
                            (long long)sizes[k], (long long)V(x)->shape[ax]);
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
        outs[k] = cst ? vd__const_val(m, V(x)->dtype, ond, os, n->name, err)
                      : vd__rt_val(m, V(x)->dtype, ond, os, n->name, err);
        if (outs[k] < 0) return outs[k];
        if (!cst && !unpack) memcpy(V(outs[k])->perm, V(x)->perm, sizeof V(x)->perm);
        if (k == 0) first = outs[k];
        if (outs[k] != first + k) return NODE_ERR(n, VD_ENOMEM, "internal: outputs not contiguous");
    }
    int64_t pax = ax;
    for (int i = 0; i < nd; i++)
        if (V(x)->perm[i] == ax) pax = i;
    const vd__step k = {.kind = VD__S_SPLIT,
                        .ops = &split_ops,
                        .params.split = {.axis = (int)pax, .unpack = unpack}};
    int si = vd__emit_kernel(m, n, &k, &x, 1, outs, ns, err);
    return si < 0 ? si : vd__set_outputs(m, n, first, ns);
}

/* StridedSlice: spec entry j (of begin/end/strides) is an ellipsis (bit j of
 * ellipsis_mask: as many whole axes as the other entries leave), a new unit axis of the
 * output (new_axis_mask; consumes no input axis), or a slice of the next input axis
 * (begin_mask/end_mask: from the start/to the end; shrink_axis_mask: index begin, axis
 * dropped). Input axes after the last entry are taken whole. */
int vd__lower_strided_slice(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    int x = vd__in_val(m, n, 0, err);
    if (x < 0) return x;
    int64_t b[VD__MAXD], e[VD__MAXD], st[VD__MAXD];
    int nb = vd__const_ints(m, n, 1, b, VD__MAXD, err);
    if (nb < 0) return nb;
    int ne = vd__const_ints(m, n, 2, e, VD__MAXD, err);
    if (ne < 0) return ne;
    int ns = vd__const_ints(m, n, 3, st, VD__MAXD, err);
    if (ns < 0) return ns;
    if (ne != nb || ns != nb)
        return NODE_ERR(n, VD_EFORMAT, "begin, end and strides differ in length (%d, %d, %d)", nb,
                        ne, ns);
    int64_t bm, em, elm, nam, sam;
    vd__attr_int(n, "begin_mask", 0, &bm);
    vd__attr_int(n, "end_mask", 0, &em);
    vd__attr_int(n, "ellipsis_mask", 0, &elm);
    vd__attr_int(n, "new_axis_mask", 0, &nam);
    vd__attr_int(n, "shrink_axis_mask", 0, &sam);
    if (elm & (elm - 1)) return NODE_ERR(n, VD_EFORMAT, "more than one ellipsis");
    x = vd__canon(m, x, err);
    if (x < 0) return x;
    int nd = V(x)->ndim;
    /* input axes the entries other than the ellipsis and new axes consume */
    int used = 0;
    for (int j = 0; j < nb; j++) used += !((elm >> j) & 1) && !((nam >> j) & 1);
    if (used > nd)
        return NODE_ERR(n, VD_ESHAPE, "%d sliced axes for an input of rank %d", used, nd);
    vd__step k = {.kind = VD__S_SLICE, .ops = &slice_ops};
    int64_t *beg = k.params.slice.begin, *str = k.params.slice.stride, *cnt = k.params.slice.count,
            os[VD__MAXD];
    int ond = 0, d = 0; /* output rank, next input axis */
    for (int j = 0; j <= nb; j++) {
        /* the ellipsis, and after the last entry the axes left, are whole axes */
        int whole = j == nb ? nd - d : (elm >> j) & 1 ? nd - used : -1;
        for (int w = 0; w < whole; w++, d++) {
            if (ond >= VD__MAXD) return NODE_ERR(n, VD_EUNSUPP, "result rank too high");
            beg[d] = 0, str[d] = 1, cnt[d] = V(x)->shape[d];
            os[ond++] = cnt[d];
        }
        if (whole >= 0) continue;
        if ((nam >> j) & 1) { /* a new unit axis */
            if (ond >= VD__MAXD) return NODE_ERR(n, VD_EUNSUPP, "result rank too high");
            os[ond++] = 1;
            continue;
        }
        int64_t dim = V(x)->shape[d], s = st[j], lo, hi;
        if (s == 0) return NODE_ERR(n, VD_EFORMAT, "zero stride");
        lo = (bm >> j) & 1 ? (s > 0 ? 0 : dim - 1) : b[j];
        hi = (em >> j) & 1 ? (s > 0 ? dim : -1) : e[j];
        if (!((bm >> j) & 1) && lo < 0) lo += dim;
        if (!((em >> j) & 1) && hi < 0) hi += dim;
        if ((sam >> j) & 1) { /* index begin (masks ignored, as TF does) */
            lo = b[j] < 0 ? b[j] + dim : b[j];
            if (lo < 0 || lo >= dim)
                return NODE_ERR(n, VD_ESHAPE, "index %lld out of range for axis %d of size %lld",
                                (long long)b[j], d, (long long)dim);
            hi = lo + 1, s = 1;
        }
        if (s > 0) {
            lo = lo < 0 ? 0 : lo > dim ? dim : lo;
            hi = hi < 0 ? 0 : hi > dim ? dim : hi;
        } else {
            lo = lo < -1 ? -1 : lo > dim - 1 ? dim - 1 : lo;
            hi = hi < -1 ? -1 : hi > dim - 1 ? dim - 1 : hi;
        }
        int64_t c = s > 0 ? (hi - lo + s - 1) / s : (lo - hi + (-s) - 1) / (-s);
        if (c < 0) c = 0;
        beg[d] = lo, str[d] = s, cnt[d] = c;
        d++;
        if (!((sam >> j) & 1)) {
            if (ond >= VD__MAXD) return NODE_ERR(n, VD_EUNSUPP, "result rank too high");
            os[ond++] = c;
        }
    }
    assert(d == nd);
    int cst = V(x)->cdata != NULL;
    int o = cst ? vd__const_val(m, V(x)->dtype, ond, os, n->name, err)
                : vd__rt_val(m, V(x)->dtype, ond, os, n->name, err);
    if (o < 0) return o;
    int si = vd__emit_kernel(m, n, &k, &x, 1, &o, 1, err);
    return si < 0 ? si : vd__set_outputs(m, n, o, 1);
}

int vd__lower_shape(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    int x = vd__in_val(m, n, 0, err);
    if (x < 0) return x;
    int64_t sh[1] = {V(x)->ndim};
    int o = vd__const_val(m, VD__I32, 1, sh, n->name, err);
    if (o < 0) return o;
    for (int i = 0; i < V(x)->ndim; i++) ((int32_t *)V(o)->cdata)[i] = (int32_t)V(x)->shape[i];
    return vd__set_outputs(m, n, o, 1);
}

int vd__lower_size(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    int x = vd__in_val(m, n, 0, err);
    if (x < 0) return x;
    int64_t cnt = vd__numel(V(x)->shape, V(x)->ndim);
    if (cnt > INT32_MAX)
        return NODE_ERR(n, VD_EUNSUPP, "%lld elements do not fit in int32", (long long)cnt);
    int o = vd__const_val(m, VD__I32, 0, NULL, n->name, err);
    if (o < 0) return o;
    *(int32_t *)V(o)->cdata = (int32_t)cnt;
    return vd__set_outputs(m, n, o, 1);
}

int vd__lower_tile(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    int x = vd__in_val(m, n, 0, err);
    if (x < 0) return x;
    int64_t mult[VD__MAXD];
    int nm = vd__const_ints(m, n, 1, mult, VD__MAXD, err);
    if (nm < 0) return nm;
    if (nm != V(x)->ndim)
        return NODE_ERR(n, VD_ESHAPE, "%d multiples for an input of rank %d", nm, V(x)->ndim);
    int64_t os[VD__MAXD];
    for (int i = 0; i < nm; i++) {
        if (mult[i] < 0)
            return NODE_ERR(n, VD_EFORMAT, "negative multiple %lld", (long long)mult[i]);
        if (__builtin_mul_overflow(V(x)->shape[i], mult[i], &os[i]) || os[i] > VD__MAX_ELEMS)
            return NODE_ERR(n, VD_ETOOBIG, "multiple %lld of axis %d out of range",
                            (long long)mult[i], i);
    }
    x = vd__canon(m, x, err);
    if (x < 0) return x;
    int cst = V(x)->cdata != NULL;
    int o = cst ? vd__const_val(m, V(x)->dtype, nm, os, n->name, err)
                : vd__rt_val(m, V(x)->dtype, nm, os, n->name, err);
    if (o < 0) return o;
    const vd__step k = {.kind = VD__S_TILE, .ops = &tile_ops};
    int si = vd__emit_kernel(m, n, &k, &x, 1, &o, 1, err);
    return si < 0 ? si : vd__set_outputs(m, n, o, 1);
}
