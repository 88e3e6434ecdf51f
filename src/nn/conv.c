/*
 * Convolution and pooling family: Conv2D, _FusedConv2D, DepthwiseConv2dNative,
 * FusedDepthwiseConv2dNative, MaxPool, ResizeBilinear. All run on XNNPACK over NHWC;
 * their input is made canonical first, and a lazy zero Pad of H/W in front of a
 * convolution becomes its implicit padding. Fused BiasAdd/Relu/Relu6 go into the
 * convolution; fused Prelu/LeakyRelu follow as element-wise steps.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/lower.h"

/* ---- XNNPACK operators ----------------------------------------------------------- */

static int conv_create(vd__model *m, vd__step *s, vd_error *err)
{
    assert(s->kind == VD__S_CONV);
    const vd__conv_params *c = &s->params.conv;
    const vd__window *w = &c->w;
    const vd__val *in = V(s->in[0]);
    uint32_t flags = (c->groups > 1 && c->gcin == 1) ? XNN_FLAG_DEPTHWISE_CONVOLUTION : 0;
    enum xnn_status st = xnn_create_convolution2d_nhwc_f32(
        (uint32_t)w->pt, (uint32_t)w->pr, (uint32_t)w->pb, (uint32_t)w->pl, (uint32_t)w->kh,
        (uint32_t)w->kw, (uint32_t)w->sh, (uint32_t)w->sw, (uint32_t)w->dh, (uint32_t)w->dw,
        (uint32_t)c->groups, (size_t)c->gcin, (size_t)c->gcout, (size_t)(c->groups * c->gcin),
        s->out_stride ? s->out_stride : (size_t)(c->groups * c->gcout), c->weights, c->bias,
        s->out_min, s->out_max, flags, &s->xop);
    if (st == xnn_status_success)
        st = xnn_setup_convolution2d_nhwc_f32(s->xop, (size_t)in->shape[0], (size_t)in->shape[1],
                                              (size_t)in->shape[2], vd__vptr(m, s->in[0]),
                                              vd__vptr(m, s->out[0]), m->pool);
    return vd__xnn_check(m, s, st, err);
}

static void conv_fini(vd__step *s)
{
    free(s->params.conv.weights);
    free(s->params.conv.bias);
}

static const vd__step_ops conv_ops = {
    .label = "Conv (xnn)", .create = conv_create, .fini = conv_fini};
static const vd__step_ops dwconv_ops = {
    .label = "DepthwiseConv (xnn)", .create = conv_create, .fini = conv_fini};

static int maxpool_create(vd__model *m, vd__step *s, vd_error *err)
{
    assert(s->kind == VD__S_MAXPOOL);
    const vd__window *w = &s->params.pool.w;
    const vd__val *in = V(s->in[0]);
    size_t c = (size_t)in->shape[3];
    enum xnn_status st = xnn_create_max_pooling2d_nhwc_f32(
        (uint32_t)w->pt, (uint32_t)w->pr, (uint32_t)w->pb, (uint32_t)w->pl, (uint32_t)w->kh,
        (uint32_t)w->kw, (uint32_t)w->sh, (uint32_t)w->sw, 1, 1, c, c,
        s->out_stride ? s->out_stride : c, s->out_min, s->out_max, 0, &s->xop);
    if (st == xnn_status_success)
        st = xnn_setup_max_pooling2d_nhwc_f32(s->xop, (size_t)in->shape[0], (size_t)in->shape[1],
                                              (size_t)in->shape[2], vd__vptr(m, s->in[0]),
                                              vd__vptr(m, s->out[0]), m->pool);
    return vd__xnn_check(m, s, st, err);
}

static const vd__step_ops maxpool_ops = {.label = "MaxPool (xnn)", .create = maxpool_create};

static int resize_create(vd__model *m, vd__step *s, vd_error *err)
{
    assert(s->kind == VD__S_RESIZE);
    const vd__val *in = V(s->in[0]), *o = V(s->out[0]);
    size_t c = (size_t)in->shape[3];
    enum xnn_status st = xnn_create_resize_bilinear2d_nhwc_f32(
        c, c, s->out_stride ? s->out_stride : c, s->params.resize.flags, &s->xop);
    if (st == xnn_status_success)
        st = xnn_setup_resize_bilinear2d_nhwc_f32(
            s->xop, (size_t)in->shape[0], (size_t)in->shape[1], (size_t)in->shape[2],
            (size_t)o->shape[1], (size_t)o->shape[2], vd__vptr(m, s->in[0]), vd__vptr(m, s->out[0]),
            m->pool);
    return vd__xnn_check(m, s, st, err);
}

static const vd__step_ops resize_ops = {.label = "ResizeBilinear (xnn)", .create = resize_create};

/* ---- lowering -------------------------------------------------------------------- */

static void same_pad(int64_t in, int64_t k, int64_t s, int64_t d, int64_t *lo, int64_t *hi)
{
    int64_t ek = (k - 1) * d + 1, out = (in + s - 1) / s;
    int64_t tot = (out - 1) * s + ek - in;
    if (tot < 0) tot = 0;
    *lo = tot / 2;
    *hi = tot - *lo;
}

/* Pads (explicit, SAME, or a folded lazy Pad) within [0, INT32_MAX]. */
static int window_check(vd__model *m, const vd__node *n, const vd__window *w, vd_error *err)
{
    const int64_t p[4] = {w->pt, w->pb, w->pl, w->pr};
    for (int i = 0; i < 4; i++)
        if (p[i] < 0 || p[i] > INT32_MAX)
            return NODE_ERR(n, VD_ETOOBIG, "padding %lld,%lld,%lld,%lld out of range",
                            (long long)w->pt, (long long)w->pb, (long long)w->pl, (long long)w->pr);
    return 0;
}

/* Spatial parameters shared by convolution and pooling. */
static int spatial(vd__model *m, const vd__node *n, int64_t ih, int64_t iw, int64_t kh, int64_t kw,
                   vd__window *w, vd_error *err)
{
    int64_t st[4] = {1, 1, 1, 1}, dl[4] = {1, 1, 1, 1};
    vd__attr_ints(n, "strides", st, 4);
    vd__attr_ints(n, "dilations", dl, 4);
    char pad[32] = "VALID", fmt[16] = "NHWC";
    vd__attr_str(n, "padding", pad, sizeof pad);
    vd__attr_str(n, "data_format", fmt, sizeof fmt);
    if (strcmp(fmt, "NHWC"))
        return NODE_ERR(n, VD_EUNSUPP, "data_format %s is not supported (NHWC only)", fmt);
    w->sh = st[1];
    w->sw = st[2];
    w->dh = dl[1];
    w->dw = dl[2];
    w->kh = kh;
    w->kw = kw;
    if (w->sh <= 0 || w->sw <= 0 || w->dh <= 0 || w->dw <= 0)
        return NODE_ERR(n, VD_EFORMAT, "bad strides/dilations");
    /* XNNPACK takes all of these as uint32_t; within INT32_MAX, the window arithmetic
     * below and in the callers ((k-1)*d+1, in+pads) cannot overflow int64_t. */
    if (kh <= 0 || kw <= 0) return NODE_ERR(n, VD_EFORMAT, "empty kernel");
    if (w->sh > INT32_MAX || w->sw > INT32_MAX || w->dh > INT32_MAX || w->dw > INT32_MAX ||
        kh > INT32_MAX || kw > INT32_MAX)
        return NODE_ERR(n, VD_ETOOBIG,
                        "kernel %lldx%lld, strides %lldx%lld or dilations "
                        "%lldx%lld out of range",
                        (long long)kh, (long long)kw, (long long)w->sh, (long long)w->sw,
                        (long long)w->dh, (long long)w->dw);
    if (!strcmp(pad, "SAME")) {
        same_pad(ih, kh, w->sh, w->dh, &w->pt, &w->pb);
        same_pad(iw, kw, w->sw, w->dw, &w->pl, &w->pr);
    } else if (!strcmp(pad, "EXPLICIT")) {
        int64_t ep[8] = {0};
        vd__attr_ints(n, "explicit_paddings", ep, 8);
        w->pt = ep[2];
        w->pb = ep[3];
        w->pl = ep[4];
        w->pr = ep[5];
    } else if (strcmp(pad, "VALID")) {
        return NODE_ERR(n, VD_EUNSUPP, "padding '%s' is not supported", pad);
    }
    return window_check(m, n, w, err);
}

/* Take the NHWC input of a conv/pool: fold a lazy zero pad of H/W into the window. With
 * `scale`, a lazy scale is left to the caller (a convolution folds it into its weights):
 * *scale gets it, and the value returned holds the unscaled data. */
static int nhwc_input(vd__model *m, const vd__node *n, int v, vd__window *w, int allow_fold,
                      float *scale, vd_error *err)
{
    if (scale) *scale = 1.0f;
    vd__val *x = V(v);
    if (x->ndim != 4)
        return NODE_ERR(n, VD_ESHAPE, "expects a 4-D NHWC input, got rank %d", x->ndim);
    if (allow_fold && x->lazy_src >= 0 && x->pad_value == 0.0f && x->pad_lo[0] == 0 &&
        x->pad_hi[0] == 0 && x->pad_lo[3] == 0 && x->pad_hi[3] == 0) {
        w->pt += x->pad_lo[1]; /* both within INT32_MAX: no overflow */
        w->pb += x->pad_hi[1];
        w->pl += x->pad_lo[2];
        w->pr += x->pad_hi[2];
        int rc = window_check(m, n, w, err);
        if (rc) return rc;
        v = x->lazy_src; /* zeros stay zeros under a scale */
    }
    x = V(v);
    if (scale && !x->cdata && x->lazy_src < 0 && vd__is_identity(x) && x->scale != 1.0f) {
        *scale = x->scale;
        return v;
    }
    return vd__canon(m, v, err);
}

int vd__lower_conv(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    int depthwise = kind == VD__L_DEPTHWISE;
    if (n->n_in < 2) return NODE_ERR(n, VD_EFORMAT, "needs input and filter");
    int x = vd__in_val(m, n, 0, err), f = vd__in_val(m, n, 1, err);
    if (x < 0) return x;
    if (f < 0) return f;
    const vd__val *fv = V(f);
    if (!fv->cdata || fv->ndim != 4)
        return NODE_ERR(n, VD_EUNSUPP, "filter must be a constant 4-D tensor");
    /* Read the filter now: nhwc_input may add values, which invalidates fv (V() rule). */
    const float *src = fv->cdata;
    int64_t kh = fv->shape[0], kw = fv->shape[1], cin = fv->shape[2], cm = fv->shape[3];
    fv = NULL;
    vd__window geo = {0};
    int64_t ih = V(x)->ndim == 4 ? V(x)->shape[1] : 0, iw = V(x)->ndim == 4 ? V(x)->shape[2] : 0;
    int rc = spatial(m, n, ih, iw, kh, kw, &geo, err);
    if (rc) return rc;
    float xscale;
    int xin = nhwc_input(m, n, x, &geo, 1, &xscale, err); /* may emit a step: before ours */
    if (xin < 0) return xin;
    int si = vd__new_step(m, VD__S_CONV, &conv_ops, n);
    if (si < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
    vd__step *s = &m->steps[si];
    vd__conv_params *cp = &s->params.conv;
    cp->w = geo;
    vd__val *iv = V(xin);
    if (iv->shape[3] != cin)
        return NODE_ERR(n, VD_ESHAPE, "input has %lld channels but the filter expects %lld",
                        (long long)iv->shape[3], (long long)cin);
    int64_t cout = depthwise ? cin * cm : cm;
    cp->groups = depthwise ? cin : 1;
    cp->gcin = depthwise ? 1 : cin;
    cp->gcout = depthwise ? cm : cm;
    if (cp->groups > 1 && cp->gcin == 1) s->ops = &dwconv_ops;
    cp->weights = malloc(sizeof(float) * (size_t)(kh * kw * cin * cm) + XNN_EXTRA_BYTES);
    cp->bias = calloc((size_t)cout + 4, sizeof(float));
    if (!cp->weights || !cp->bias) return vd_fail(err, VD_ENOMEM, "out of memory");
    if (depthwise) {
        memcpy(cp->weights, src, sizeof(float) * (size_t)(kh * kw * cin * cm)); /* HW(C*M) */
    } else {                                                                    /* HWIO -> OHWI */
        for (int64_t o = 0; o < cout; o++)
            for (int64_t h = 0; h < kh; h++)
                for (int64_t w = 0; w < kw; w++)
                    for (int64_t i = 0; i < cin; i++)
                        cp->weights[((o * kh + h) * kw + w) * cin + i] =
                            src[((h * kw + w) * cin + i) * cout + o];
    }
    if (xscale != 1.0f) /* conv(k x) = conv with k W */
        for (int64_t i = 0; i < kh * kw * cin * cm; i++) cp->weights[i] *= xscale;
    const vd__window *g = &cp->w;
    int64_t oh = (iv->shape[1] + g->pt + g->pb - ((kh - 1) * g->dh + 1)) / g->sh + 1;
    int64_t ow = (iv->shape[2] + g->pl + g->pr - ((kw - 1) * g->dw + 1)) / g->sw + 1;
    if (oh <= 0 || ow <= 0)
        return NODE_ERR(n, VD_ESHAPE, "input %lldx%lld is smaller than the kernel",
                        (long long)iv->shape[1], (long long)iv->shape[2]);
    int64_t osh[4] = {iv->shape[0], oh, ow, cout};
    s->in[0] = xin;
    s->n_in = 1;
    int o = vd__rt_val(m, VD__F32, 4, osh, n->name, err); /* checks osh */
    if (o < 0) return o;
    s = &m->steps[si];
    /* in double: output count and kh*kw*gcin are each <= 2^48, their product is not */
    s->flops = 2.0 * (double)vd__numel(osh, 4) * (double)(kh * kw * s->params.conv.gcin);
    s->out[0] = o;
    s->n_out = 1;
    V(o)->producer = si;
    /* fused ops */
    char fused[8][32];
    int nf = vd__attr_strs(n, "fused_ops", fused, 8);
    int argi = 2;
    for (int k = 0; k < nf; k++) {
        if (!strcmp(fused[k], "BiasAdd")) {
            if (argi >= n->n_in) return NODE_ERR(n, VD_EFORMAT, "BiasAdd without a bias input");
            int b = vd__in_val(m, n, argi++, err);
            if (b < 0) return b;
            if (!V(b)->cdata || vd__numel(V(b)->shape, V(b)->ndim) != cout)
                return NODE_ERR(n, VD_EUNSUPP, "bias must be a constant of %lld values",
                                (long long)cout);
            for (int64_t c = 0; c < cout; c++)
                m->steps[si].params.conv.bias[c] += ((float *)V(b)->cdata)[c];
        } else if (!strcmp(fused[k], "Relu")) {
            m->steps[si].out_min = 0;
        } else if (!strcmp(fused[k], "Relu6")) {
            m->steps[si].out_min = 0;
            m->steps[si].out_max = 6;
        } else if (!strcmp(fused[k], "Prelu")) {
            if (argi >= n->n_in) return NODE_ERR(n, VD_EFORMAT, "Prelu without alpha input");
            int a = vd__in_val(m, n, argi++, err);
            if (a < 0) return a;
            if (!V(a)->cdata || vd__numel(V(a)->shape, V(a)->ndim) != cout)
                return NODE_ERR(n, VD_EUNSUPP, "Prelu alpha must be a constant of %lld values",
                                (long long)cout);
            o = vd__emit_prelu(m, n, o, V(a)->cdata, cout, err);
            if (o < 0) return o;
        } else if (!strcmp(fused[k], "LeakyRelu")) {
            o = vd__emit_unary(m, n, o, VD__U_LEAKY, vd__attr_float(n, "leakyrelu_alpha", 0.2f),
                               err);
            if (o < 0) return o;
        } else {
            return NODE_ERR(n, VD_EUNSUPP, "fused op '%s' is not supported", fused[k]);
        }
    }
    return vd__set_outputs(m, n, o, 1);
}

int vd__lower_maxpool(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    int x = vd__in_val(m, n, 0, err);
    if (x < 0) return x;
    int64_t ks[4] = {1, 1, 1, 1};
    vd__attr_ints(n, "ksize", ks, 4);
    if (ks[0] != 1 || ks[3] != 1)
        return NODE_ERR(n, VD_EUNSUPP, "pooling over batch/channels is not supported");
    if (V(x)->ndim != 4) return NODE_ERR(n, VD_ESHAPE, "expects a 4-D NHWC input");
    vd__window geo = {0};
    int rc = spatial(m, n, V(x)->shape[1], V(x)->shape[2], ks[1], ks[2], &geo, err);
    if (rc) return rc;
    int xin = nhwc_input(m, n, x, &geo, 0, NULL, err);
    if (xin < 0) return xin;
    int si = vd__new_step(m, VD__S_MAXPOOL, &maxpool_ops, n);
    if (si < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
    vd__step *s = &m->steps[si];
    s->params.pool.w = geo;
    vd__val *iv = V(xin);
    int64_t oh = (iv->shape[1] + geo.pt + geo.pb - geo.kh) / geo.sh + 1;
    int64_t ow = (iv->shape[2] + geo.pl + geo.pr - geo.kw) / geo.sw + 1;
    if (oh <= 0 || ow <= 0)
        return NODE_ERR(n, VD_ESHAPE, "input %lldx%lld is smaller than the window",
                        (long long)iv->shape[1], (long long)iv->shape[2]);
    int64_t osh[4] = {iv->shape[0], oh, ow, iv->shape[3]};
    s->in[0] = xin;
    s->n_in = 1;
    int o = vd__rt_val(m, VD__F32, 4, osh, n->name, err);
    if (o < 0) return o;
    m->steps[si].out[0] = o;
    m->steps[si].n_out = 1;
    V(o)->producer = si;
    return vd__set_outputs(m, n, o, 1);
}

int vd__lower_resize(vd__model *m, vd__node *n, int kind, vd_error *err)
{
    (void)kind;
    int x = vd__in_val(m, n, 0, err);
    if (x < 0) return x;
    int64_t sz[2];
    if (vd__const_ints(m, n, 1, sz, 2, err) != 2)
        return err && err->code ? err->code : NODE_ERR(n, VD_EFORMAT, "size must have 2 values");
    x = vd__canon(m, x, err);
    if (x < 0) return x;
    if (V(x)->ndim != 4 || V(x)->dtype != VD__F32)
        return NODE_ERR(n, VD_ESHAPE, "expects a 4-D float NHWC input");
    int si = vd__new_step(m, VD__S_RESIZE, &resize_ops, n);
    if (si < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
    int ac = vd__attr_bool(n, "align_corners", 0), hp = vd__attr_bool(n, "half_pixel_centers", 0);
    m->steps[si].params.resize.flags =
        ac ? XNN_FLAG_ALIGN_CORNERS : (hp ? 0 : XNN_FLAG_TENSORFLOW_LEGACY_MODE);
    int64_t os[4] = {V(x)->shape[0], sz[0], sz[1], V(x)->shape[3]};
    int o = vd__rt_val(m, VD__F32, 4, os, n->name, err);
    if (o < 0) return o;
    vd__step *s = &m->steps[si];
    s->in[0] = x;
    s->n_in = 1;
    s->out[0] = o;
    s->n_out = 1;
    V(o)->producer = si;
    return vd__set_outputs(m, n, o, 1);
}
