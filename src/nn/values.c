/*
 * Value and step plumbing of the lowering (see lower.h): the value, buffer and step
 * tables, canonical-layout copies, lazy Pad, views, and reading a node's inputs.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/lower.h"

int vd__node_fail(vd__model *m, vd_error *err, const vd__node *n, int code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vd_fail(err, code, "%s: node '%s' (op %s): %s", m->g.path, n->name, n->op, msg);
}

int64_t vd__numel(const int64_t *shape, int ndim)
{
    int64_t n = 1;
    int zero = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] == 0) {
            zero = 1;
            continue;
        }
        if (__builtin_mul_overflow(n, shape[i], &n) || n > VD__MAX_ELEMS) return -1;
    }
    return zero ? 0 : n;
}

const char *vd__shape_str(const int64_t *shape, int ndim, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", ndim ? "" : "(scalar)");
    for (int i = 0; i < ndim; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%lld", i ? "x" : "", (long long)shape[i]);
    return buf;
}

/* A failure while making a value, naming the node being lowered. */
static int val_fail(vd__model *m, vd_error *err, int code, const char *what, const int64_t *shape,
                    int ndim)
{
    char s[160];
    vd__shape_str(shape, ndim, s, sizeof s);
    if (m->lowering) return vd__node_fail(m, err, m->lowering, code, "%s %s", what, s);
    return vd_fail(err, code, "%s: %s %s", m->g.path, what, s);
}

/* dst = transpose(src) with dst axis i = src axis perm[i]. O(numel); the innermost
 * destination axis is copied with a strided loop. */
void vd__transpose(const void *src, void *dst, const int64_t *ss, int nd, const int *perm,
                   size_t es)
{
    int64_t sstr[VD__MAXD] = {0}, ds[VD__MAXD] = {0}, dstride_src[VD__MAXD] = {0},
            idx[VD__MAXD] = {0};
    int64_t acc = 1;
    for (int i = nd - 1; i >= 0; i--) {
        sstr[i] = acc;
        acc *= ss[i];
    }
    int64_t total = acc;
    if (nd == 0 || total == 0) {
        if (total) memcpy(dst, src, es);
        return;
    }
    for (int i = 0; i < nd; i++) {
        ds[i] = ss[perm[i]];
        dstride_src[i] = sstr[perm[i]];
    }
    const char *s = src;
    char *d = dst;
    int64_t inner = ds[nd - 1], istr = dstride_src[nd - 1];
    for (int64_t o = 0; o < total; o += inner) {
        int64_t base = 0;
        for (int i = 0; i < nd - 1; i++) base += idx[i] * dstride_src[i];
        if (es == 4) {
            const uint32_t *sp = (const uint32_t *)s + base;
            uint32_t *dp = (uint32_t *)d + o;
            for (int64_t k = 0; k < inner; k++) dp[k] = sp[k * istr];
        } else {
            for (int64_t k = 0; k < inner; k++)
                memcpy(d + (o + k) * (int64_t)es, s + (base + k * istr) * (int64_t)es, es);
        }
        for (int i = nd - 2; i >= 0; i--) {
            if (++idx[i] < ds[i]) break;
            idx[i] = 0;
        }
    }
}

/* ---- value / buffer / step tables ---------------------------------------------- */

static size_t dsize(int dt)
{
    (void)dt;
    return 4;
}

/* The sanitizer build moves a table to a fresh block on every addition and frees the
 * old one, so a pointer kept across an addition (against the V() rule, nn_internal.h)
 * is a heap-use-after-free report on its next use instead of a latent bug that only
 * bites when a realloc happens to move the block. Costs O(n^2) copying: fine for
 * graphs of a few thousand values, and only in that build. */
#if defined(__SANITIZE_ADDRESS__)
#define VD__MOVING_TABLES 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VD__MOVING_TABLES 1
#endif
#endif

/* Make room for `need` elements of size el in *arr (capacity *cap, doubling). */
static int grow(void **arr, int *cap, int need, size_t el)
{
#ifdef VD__MOVING_TABLES
    int mc = *cap;
    while (mc < need) mc = mc ? mc * 2 : 64;
    void *fresh = calloc((size_t)mc, el);
    if (!fresh) return VD_ENOMEM;
    if (*arr) memcpy(fresh, *arr, (size_t)*cap * el);
    free(*arr);
    *arr = fresh;
    *cap = mc;
    return 0;
#else
    if (need <= *cap) return 0;
    int nc = *cap ? *cap * 2 : 64;
    while (nc < need) nc *= 2;
    void *p = realloc(*arr, (size_t)nc * el);
    if (!p) return VD_ENOMEM;
    memset((char *)p + (size_t)*cap * el, 0, (size_t)(nc - *cap) * el);
    *arr = p;
    *cap = nc;
    return 0;
#endif
}

int vd__new_val(vd__model *m, int dtype, int ndim, const int64_t *shape, const char *node,
                vd_error *err)
{
    assert(ndim >= 0 && ndim <= VD__MAXD);
    int64_t sh[VD__MAXD];
    if (ndim) memcpy(sh, shape, sizeof(int64_t) * (size_t)ndim); /* may point into m->vals */
    for (int k = 0; k < ndim; k++)
        if (sh[k] < 0) return val_fail(m, err, VD_ESHAPE, "negative dimension in shape", sh, ndim);
    if (vd__numel(sh, ndim) < 0)
        return val_fail(m, err, VD_ETOOBIG,
                        "more than 2^48 elements (corrupt or crafted model?) in shape", sh, ndim);
    if (grow((void **)&m->vals, &m->cap_vals, m->n_vals + 1, sizeof(vd__val)))
        return val_fail(m, err, VD_ENOMEM, "out of memory for a value of shape", sh, ndim);
    int i = m->n_vals++;
    vd__val *v = V(i);
    memset(v, 0, sizeof *v);
    v->dtype = dtype;
    v->ndim = ndim;
    if (ndim) memcpy(v->shape, sh, sizeof(int64_t) * (size_t)ndim);
    for (int k = 0; k < VD__MAXD; k++) v->perm[k] = k;
    v->buf = -1;
    v->lazy_src = -1;
    v->canon = -1;
    v->scale = 1.0f;
    v->scaled = -1;
    v->producer = -1;
    v->node = node;
    return i;
}

int vd__new_buf(vd__model *m, size_t bytes)
{
    if (grow((void **)&m->bufs, &m->cap_bufs, m->n_bufs + 1, sizeof(vd__buf))) return VD_ENOMEM;
    int i = m->n_bufs++;
    m->bufs[i].bytes = bytes;
    m->bufs[i].first = -1;
    m->bufs[i].last = -1;
    return i;
}

/* A runtime value with its own buffer. Returns index or negative error. */
int vd__rt_val(vd__model *m, int dtype, int ndim, const int64_t *shape, const char *node,
               vd_error *err)
{
    int v = vd__new_val(m, dtype, ndim, shape, node, err);
    if (v < 0) return v;
    int64_t n = vd__numel(V(v)->shape, ndim); /* not `shape`: it may point into m->vals */
    int b = vd__new_buf(m, (size_t)(n ? n : 1) * dsize(dtype));
    if (b < 0)
        return val_fail(m, err, VD_ENOMEM, "out of memory for a buffer of shape", V(v)->shape,
                        ndim);
    V(v)->buf = b;
    return v;
}

/* A constant value (canonical layout) with zeroed storage. */
int vd__const_val(vd__model *m, int dtype, int ndim, const int64_t *shape, const char *node,
                  vd_error *err)
{
    int v = vd__new_val(m, dtype, ndim, shape, node, err);
    if (v < 0) return v;
    int64_t n = vd__numel(V(v)->shape, ndim); /* not `shape`: it may point into m->vals */
    V(v)->cdata = calloc((size_t)(n ? n : 1) * 4 + XNN_EXTRA_BYTES, 1);
    if (!V(v)->cdata)
        return val_fail(m, err, VD_ENOMEM, "out of memory for a constant of shape", V(v)->shape,
                        ndim);
    return v;
}

int vd__new_step(vd__model *m, vd__step_kind kind, const vd__step_ops *ops, const vd__node *n)
{
    if (grow((void **)&m->steps, &m->cap_steps, m->n_steps + 1, sizeof(vd__step))) return VD_ENOMEM;
    int i = m->n_steps++;
    vd__step *s = &m->steps[i];
    memset(s, 0, sizeof *s);
    assert(ops);
    s->kind = kind;
    s->ops = ops;
    s->node = n ? n->name : "(layout)";
    s->op = n ? n->op : "Transpose";
    s->out_min = -INFINITY;
    s->out_max = INFINITY;
    return i;
}

void *vd__vptr(vd__model *m, int v)
{
    vd__val *x = V(v);
    if (x->cdata) return x->cdata;
    return (float *)m->bufs[x->buf].ptr + x->offset;
}

int vd__is_identity(const vd__val *v)
{
    for (int i = 0; i < v->ndim; i++)
        if (v->perm[i] != i) return 0;
    return 1;
}

void vd__phys_shape(const vd__val *v, int64_t *out)
{
    for (int i = 0; i < v->ndim; i++) out[i] = v->shape[v->perm[i]];
}

/* ---- canonical copies, lazy pad, views ----------------------------------------- */

static int k_transpose(vd__model *m, vd__step *s)
{
    /* in: value with perm P (physical data); out: canonical. */
    vd__val *in = V(s->in[0]);
    int64_t ps[VD__MAXD];
    vd__phys_shape(in, ps);
    int inv[VD__MAXD];
    for (int i = 0; i < in->ndim; i++) inv[in->perm[i]] = i;
    vd__transpose(vd__vptr(m, s->in[0]), vd__vptr(m, s->out[0]), ps, in->ndim, inv, 4);
    return 0;
}

static const vd__step_ops transpose_ops = {.run = k_transpose};

/* XNNPACK constant pad of a lazy Pad made real, in the source's physical layout. */
static int pad_create(vd__model *m, vd__step *s, vd_error *err)
{
    assert(s->kind == VD__S_PAD);
    const vd__val *in = V(s->in[0]);
    size_t shp[VD__MAXD], pre[VD__MAXD], post[VD__MAXD];
    for (int i = 0; i < in->ndim; i++) {
        shp[i] = (size_t)in->shape[in->perm[i]];
        pre[i] = (size_t)s->params.pad.lo[i];
        post[i] = (size_t)s->params.pad.hi[i];
    }
    uint32_t fill;
    if (in->dtype == VD__F32)
        memcpy(&fill, &s->params.pad.value, 4);
    else {
        int32_t iv = (int32_t)s->params.pad.value;
        memcpy(&fill, &iv, 4);
    }
    enum xnn_status st = xnn_create_constant_pad_nd_x32(&fill, 0, &s->xop);
    if (!st)
        st = xnn_setup_constant_pad_nd_x32(s->xop, (size_t)in->ndim, shp, pre, post,
                                           vd__vptr(m, s->in[0]), vd__vptr(m, s->out[0]), m->pool);
    return vd__xnn_check(m, s, st, err);
}

static const vd__step_ops pad_xnn_ops = {.label = "Pad (xnn)", .create = pad_create};

/* Emit a C-kernel step made of proto's kind, ops and params, or, when its outputs
 * are constants, run it now (constant folding) and drop it. out[] must already exist:
 * constant outputs when folding, runtime ones otherwise. Returns the step index (0 when
 * folded) or an error. */
int vd__emit_kernel(vd__model *m, const vd__node *n, const vd__step *proto, const int *ins,
                    int n_in, const int *outs, int n_out, vd_error *err)
{
    int si = vd__new_step(m, proto->kind, proto->ops, n);
    if (si < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
    vd__step *s = &m->steps[si];
    s->params = proto->params;
    s->n_in = n_in;
    s->n_out = n_out;
    memcpy(s->in, ins, sizeof(int) * (size_t)n_in);
    memcpy(s->out, outs, sizeof(int) * (size_t)n_out);
    int folding = V(outs[0])->cdata != NULL;
    if (folding) {
        int rc = s->ops->run(m, s);
        vd__step_fini(s);
        m->n_steps--;
        if (rc) return NODE_ERR(n, rc, "constant folding failed");
        return 0;
    }
    for (int k = 0; k < n_out; k++) V(outs[k])->producer = si;
    return si;
}

/* Can the lazy zero pad v of src be made by src's producer writing into v's buffer?
 * Only for channels added at the end of dense NHWC (BlazeFace/FaceMesh's channel_padding
 * before a residual add), when a max pool or convolution makes src for this pad alone:
 * it then writes with v's pixel stride and v's extra channels keep the zeros of the
 * arena (the buffer is pinned: never shared, never written in place). */
static int pad_by_producer(vd__model *m, int v, int src)
{
    const vd__val *x = V(v), *y = V(src);
    if (x->ndim != 4 || y->ndim != 4 || x->pad_value != 0 || !vd__is_identity(x) ||
        !vd__is_identity(y) || y->cdata || y->buf < 0 || y->offset != 0 || y->scale != 1.0f ||
        y->dtype != VD__F32 || y->uses != 1 || y->producer < 0 || m->bufs[y->buf].pinned)
        return 0;
    for (int i = 0; i < 4; i++)
        if (x->pad_lo[i] || (i < 3 && x->pad_hi[i])) return 0;
    const vd__step *p = &m->steps[y->producer];
    if ((p->kind != VD__S_MAXPOOL && p->kind != VD__S_CONV) || p->n_out != 1 || p->out[0] != src ||
        p->out_stride)
        return 0;
    for (int i = 0; i < m->n_vals; i++) {
        const vd__val *w = V(i);
        if (i != src && i != v &&
            (w->buf == y->buf || w->lazy_src == src || w->canon == src || w->scaled == src))
            return 0;
    }
    return 1;
}

/* Make a lazy pad real (XNNPACK constant pad in the source's physical layout). */
int vd__realize_pad(vd__model *m, int v, vd_error *err)
{
    if (V(v)->lazy_src < 0) return v;
    int src = vd__realize(m, V(v)->lazy_src, err); /* its lazy scale applied too */
    if (src < 0) return src;
    vd__val *x = V(v);
    if (pad_by_producer(m, v, src)) {
        int b = vd__new_buf(m, (size_t)vd__numel(x->shape, x->ndim) * 4);
        if (b < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
        m->bufs[b].pinned = 1;
        x = V(v);
        memcpy(x->perm, V(src)->perm, sizeof x->perm);
        x->buf = b;
        x->lazy_src = -1;
        x->producer = V(src)->producer;
        V(src)->buf = b;
        m->steps[x->producer].out_stride = (size_t)x->shape[3];
        return v;
    }
    memcpy(x->perm, V(src)->perm, sizeof x->perm);
    int b = vd__new_buf(m, (size_t)vd__numel(V(v)->shape, V(v)->ndim) * 4);
    if (b < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
    x = V(v);
    x->buf = b;
    x->lazy_src = -1;
    int si = vd__new_step(m, VD__S_PAD, &pad_xnn_ops, NULL);
    if (si < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
    vd__step *s = &m->steps[si];
    s->node = x->node;
    s->op = "Pad";
    s->in[0] = src;
    s->n_in = 1;
    s->out[0] = v;
    s->n_out = 1;
    for (int i = 0; i < x->ndim; i++) { /* physical pads */
        s->params.pad.lo[i] = x->pad_lo[x->perm[i]];
        s->params.pad.hi[i] = x->pad_hi[x->perm[i]];
    }
    s->params.pad.value = x->pad_value;
    x->producer = si;
    return v;
}

int vd__realize(vd__model *m, int v, vd_error *err)
{
    v = vd__realize_pad(m, v, err);
    if (v < 0 || V(v)->scale == 1.0f) return v;
    if (V(v)->scaled >= 0) return V(v)->scaled;
    int r = vd__emit_scale(m, v, err);
    if (r >= 0) V(v)->scaled = r;
    return r;
}

int vd__scaled_alias(vd__model *m, int v, float k, vd_error *err)
{
    v = vd__realize_pad(m, v, err);
    if (v < 0) return v;
    int o = vd__new_val(m, V(v)->dtype, V(v)->ndim, V(v)->shape, V(v)->node, err);
    if (o < 0) return o;
    vd__val *x = V(o), *src = V(v);
    assert(!src->cdata && src->buf >= 0);
    memcpy(x->perm, src->perm, sizeof x->perm);
    x->buf = src->buf;
    x->offset = src->offset;
    x->producer = src->producer;
    x->scale = src->scale * k;
    return o;
}

int vd__out_over(vd__model *m, int v, int dtype, int ndim, const int64_t *shape, const char *node,
                 vd_error *err)
{
    int64_t n = vd__numel(shape, ndim);
    if (v < 0 || n < 0 || n != vd__numel(V(v)->shape, V(v)->ndim) || !vd__reusable(m, v))
        return vd__rt_val(m, dtype, ndim, shape, node, err);
    int b = V(v)->buf, o = vd__new_val(m, dtype, ndim, shape, node, err);
    if (o >= 0) V(o)->buf = b;
    return o;
}

/* Is value w still to be read: a reader not lowered yet, an output, or internal? */
static int live(const vd__val *w)
{
    return w->uses <= 0 || w->consumed < w->uses;
}

int vd__reusable(vd__model *m, int v)
{
    const vd__val *x = V(v);
    if (x->cdata || x->buf < 0 || x->lazy_src >= 0 || x->offset != 0 || x->scale != 1.0f ||
        m->bufs[x->buf].pinned || x->uses < 1 || x->consumed != x->uses - 1)
        return 0;
    for (int i = 0; i < m->n_vals; i++) {
        const vd__val *w = V(i);
        if (i != v && (w->buf == x->buf || w->lazy_src == v || w->canon == v || w->scaled == v) &&
            live(w))
            return 0;
    }
    return 1;
}

/* The value in canonical (row-major logical) layout: itself, or a cached copy. */
int vd__canon(vd__model *m, int v, vd_error *err)
{
    v = vd__realize(m, v, err);
    if (v < 0) return v;
    if (V(v)->cdata || vd__is_identity(V(v))) return v;
    if (V(v)->canon >= 0) return V(v)->canon;
    int c = vd__rt_val(m, V(v)->dtype, V(v)->ndim, V(v)->shape, V(v)->node, err);
    if (c < 0) return c;
    int si = vd__new_step(m, VD__S_TRANSPOSE, &transpose_ops, NULL);
    if (si < 0) return vd_fail(err, VD_ENOMEM, "out of memory");
    vd__step *s = &m->steps[si];
    s->node = V(v)->node;
    s->in[0] = v;
    s->n_in = 1;
    s->out[0] = c;
    s->n_out = 1;
    V(c)->producer = si;
    V(v)->canon = c;
    return c;
}

/* A view of v (same buffer) with a new logical shape; v must be canonical. */
int vd__view(vd__model *m, int v, int ndim, const int64_t *shape, vd_error *err)
{
    int o = vd__new_val(m, V(v)->dtype, ndim, shape, V(v)->node, err);
    if (o < 0) return o;
    vd__val *src = V(v), *x = V(o);
    x->buf = src->buf;
    x->offset = src->offset;
    x->producer = src->producer;
    if (src->cdata) {
        size_t bytes = (size_t)vd__numel(x->shape, ndim) * 4;
        x->cdata = malloc(bytes + XNN_EXTRA_BYTES);
        if (!x->cdata) return vd_fail(err, VD_ENOMEM, "out of memory");
        memcpy(x->cdata, src->cdata, bytes);
        x->buf = -1;
    }
    return o;
}

/* ---- node inputs and outputs ---------------------------------------------------- */

int vd__in_val(vd__model *m, const vd__node *n, int k, vd_error *err)
{
    const char *ref = n->in[k];
    char name[512];
    snprintf(name, sizeof name, "%s", ref);
    int idx = 0;
    char *colon = strrchr(name, ':');
    if (colon && colon[1] >= '0' && colon[1] <= '9') {
        idx = atoi(colon + 1);
        *colon = 0;
    }
    int ni = vd__graph_find(&m->g, name);
    if (ni < 0) return NODE_ERR(n, VD_EFORMAT, "input '%s' names no node in the graph", ref);
    const vd__node *src = &m->g.nodes[ni];
    if (src->first_val < 0)
        return NODE_ERR(n, VD_EFORMAT, "input '%s' is not computed before use (cycle?)", ref);
    if (idx >= src->n_out)
        return NODE_ERR(n, VD_EFORMAT, "input '%s': node has %d outputs", ref, src->n_out);
    return src->first_val + idx;
}

/* Read a small constant input as int64 values. Returns count or error. */
int vd__const_ints(vd__model *m, const vd__node *n, int k, int64_t *out, int cap, vd_error *err)
{
    if (k >= n->n_in) return NODE_ERR(n, VD_EFORMAT, "missing input %d", k);
    int v = vd__in_val(m, n, k, err);
    if (v < 0) return v;
    vd__val *x = V(v);
    if (!x->cdata)
        return NODE_ERR(n, VD_EUNSUPP,
                        "input %d must be a constant (dynamic shapes are not supported)", k);
    int64_t c = vd__numel(x->shape, x->ndim);
    if (c > cap)
        return NODE_ERR(n, VD_EUNSUPP, "input %d has %lld values (max %d)", k, (long long)c, cap);
    for (int64_t i = 0; i < c; i++) {
        if (x->dtype != VD__F32) {
            out[i] = ((int32_t *)x->cdata)[i];
            continue;
        }
        float f = ((float *)x->cdata)[i]; /* within 2^62: the conversion is defined */
        if (!(f >= -4.6e18f && f <= 4.6e18f))
            return NODE_ERR(n, VD_EFORMAT, "input %d: value %g is not a usable integer", k,
                            (double)f);
        out[i] = (int64_t)f;
    }
    return (int)c;
}

int vd__set_outputs(vd__model *m, vd__node *n, int first, int count)
{
    n->first_val = first;
    n->n_out = count;
    (void)m;
    return 0;
}

int vd__norm_axis(int64_t a, int nd)
{
    if (a < -(int64_t)nd || a >= nd) return -1;
    return (int)(a < 0 ? a + nd : a);
}
