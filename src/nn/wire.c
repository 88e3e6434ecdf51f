/*
 * The wire form of a cut tensor: a tag (model name + SHA-256, cut index and name, dtype,
 * physical shape, layout) and the payload in float32, float16 or int8 with a scale per
 * channel. Little-endian throughout. The parser reads through a bounds-checked cursor:
 * a message, however malformed, is never read past its length (tests/test_nn_wire.c
 * mutates and truncates messages under ASan).
 *
 *   "VDTN"  u8 version (1)  u8 format  u8 dtype  u8 ndim (<= 6)
 *   u8[32] model hash   u32 cut index   u8 model name length   u8 cut name length
 *   u16 0   i64 shape[ndim]   u8 perm[ndim]   model name   cut name
 *   u64 payload bytes   payload: f32: numel x 4 bytes | f16: numel x 2 |
 *                                i8: C float32 scales, then numel int8 (C = shape[ndim-1])
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/slice_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "wire.c copies float payloads as little-endian bytes"
#endif

#define MAGIC   "VDTN"
#define VERSION 1

/* ---- float16 (IEEE binary16, round to nearest even) -------------------------------- */

static uint16_t f2h(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, e = (x >> 23) & 0xff, mant = x & 0x7fffff;
    if (e == 0xff) return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 | (mant >> 13) : 0));
    int32_t he = (int32_t)e - 127 + 15;
    if (he >= 0x1f) return (uint16_t)(sign | 0x7c00);
    if (he <= 0) {
        if (he < -10) return (uint16_t)sign;
        mant |= 0x800000;
        int shift = 14 - he;
        uint32_t hm = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (hm & 1))) hm++;
        return (uint16_t)(sign | hm);
    }
    uint32_t hm = mant >> 13, rem = mant & 0x1fff;
    uint32_t h = sign | ((uint32_t)he << 10) | hm;
    if (rem > 0x1000 || (rem == 0x1000 && (hm & 1))) h++; /* a carry moves into the exponent */
    return (uint16_t)h;
}

static float h2f(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, mant = h & 0x3ff, x;
    if (e == 0 && mant == 0) {
        x = sign;
    } else if (e == 0) { /* subnormal: normalise */
        e = 127 - 15 + 1;
        while (!(mant & 0x400)) {
            mant <<= 1;
            e--;
        }
        x = sign | (e << 23) | ((mant & 0x3ff) << 13);
    } else if (e == 0x1f) {
        x = sign | 0x7f800000 | (mant << 13);
    } else {
        x = sign | ((e + 112) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* For tests: exposed through the conversions' behaviour only (see test_nn_wire.c). */
uint16_t vd__f32_to_f16(float f);
float vd__f16_to_f32(uint16_t h);
uint16_t vd__f32_to_f16(float f)
{
    return f2h(f);
}
float vd__f16_to_f32(uint16_t h)
{
    return h2f(h);
}

/* ---- formats and sizes --------------------------------------------------------------- */

const char *vd_wire_fmt_name(vd_wire_fmt f)
{
    return f == VD_WIRE_F16 ? "f16" : f == VD_WIRE_I8 ? "i8" : "f32";
}

int vd_wire_fmt_parse(const char *s, vd_wire_fmt *out)
{
    if (!strcmp(s, "f32") || !strcmp(s, "float32"))
        *out = VD_WIRE_F32;
    else if (!strcmp(s, "f16") || !strcmp(s, "float16"))
        *out = VD_WIRE_F16;
    else if (!strcmp(s, "i8") || !strcmp(s, "int8"))
        *out = VD_WIRE_I8;
    else
        return VD_EINVAL;
    return 0;
}

static int64_t channels(int ndim, const int64_t *shape)
{
    return ndim ? shape[ndim - 1] : 1;
}

/* Payload bytes of numel values in format f, or -1 on overflow (shapes are bounded to
 * 2^48 elements, so this cannot happen for a parsed or a model's shape). */
static int64_t payload_size(vd_wire_fmt f, int ndim, const int64_t *shape, int64_t numel)
{
    if (f == VD_WIRE_F16) return numel * 2;
    if (f == VD_WIRE_I8) return channels(ndim, shape) * 4 + numel;
    return numel * 4;
}

static size_t header_size(int ndim, size_t model_len, size_t cut_len)
{
    return 4 + 4 + 32 + 4 + 2 + 2 + (size_t)ndim * 9 + model_len + cut_len + 8;
}

static vd_wire_fmt effective(vd_dtype dt, vd_wire_fmt f)
{
    return dt == VD_I32 ? VD_WIRE_F32 : f;
}

size_t vd_wire_size(const vd_slicer *s, int cut, vd_wire_fmt f)
{
    const vd_cut *c = vd_slicer_cut(s, cut);
    if (!c) return 0;
    size_t ml = strlen(s->model_name), cl = strlen(c->name);
    if (cl > VD_WIRE_NAME_MAX) cl = VD_WIRE_NAME_MAX;
    return header_size(c->ndim, ml, cl) +
           (size_t)payload_size(effective(c->dtype, f), c->ndim, c->shape, c->numel);
}

/* ---- encode ------------------------------------------------------------------------ */

static uint8_t *put(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static int encode_i8(const float *x, int64_t numel, int64_t nc, uint8_t *out)
{
    float *mx = calloc((size_t)(nc ? nc : 1), sizeof(float));
    if (!mx) return VD_ENOMEM;
    for (int64_t i = 0; i < numel; i++) {
        float a = fabsf(x[i]);
        if (isfinite(a) && a > mx[i % nc]) mx[i % nc] = a;
    }
    uint8_t *q = out + nc * 4;
    for (int64_t c = 0; c < nc; c++) {
        float sc = mx[c] / 127.0f;
        memcpy(out + c * 4, &sc, 4);            /* out may be unaligned */
        mx[c] = mx[c] > 0 ? 127.0f / mx[c] : 0; /* now the inverse scale */
    }
    for (int64_t i = 0; i < numel; i++) {
        float v = x[i] * mx[i % nc];
        long r = isfinite(v) ? lrintf(v) : 0; /* non-finite values travel as 0 */
        q[i] = (uint8_t)(int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
    }
    free(mx);
    return 0;
}

int vd_wire_encode(const vd_slicer *s, int cut, const vd_tensor *mid, vd_wire_fmt f, uint8_t **out,
                   size_t *len, vd_error *err)
{
    *out = NULL;
    *len = 0;
    const vd_cut *c = vd_slicer_cut(s, cut);
    if (!c)
        return vd_fail(err, VD_EINVAL, "%s: cut %d is out of range (0..%d)", s->model_name, cut,
                       s->n_cuts - 1);
    if (f != VD_WIRE_F32 && f != VD_WIRE_F16 && f != VD_WIRE_I8)
        return vd_fail(err, VD_EINVAL, "unknown wire format %d (f32, f16 or i8)", (int)f);
    int same = mid->ndim == c->ndim && mid->dtype == c->dtype && mid->data;
    for (int i = 0; same && i < c->ndim; i++) same = mid->shape[i] == c->shape[i];
    if (!same)
        return vd_fail(err, VD_ESHAPE,
                       "%s: the tensor to encode is not cut %d '%s' (pass the view "
                       "vd_slicer_run_a gave for that cut)",
                       s->model_name, cut, c->name);
    f = effective(c->dtype, f);
    size_t ml = strlen(s->model_name), cl = strlen(c->name);
    if (cl > VD_WIRE_NAME_MAX) cl = VD_WIRE_NAME_MAX;
    size_t n = vd_wire_size(s, cut, f);
    uint8_t *b = malloc(n ? n : 1), *p = b;
    if (!b) return vd_fail(err, VD_ENOMEM, "out of memory for a %zu-byte tensor message", n);
    memcpy(p, MAGIC, 4);
    p += 4;
    *p++ = VERSION;
    *p++ = (uint8_t)f;
    *p++ = (uint8_t)c->dtype;
    *p++ = (uint8_t)c->ndim;
    memcpy(p, s->hash, 32);
    p += 32;
    p = put(p, (uint32_t)cut, 4);
    *p++ = (uint8_t)ml;
    *p++ = (uint8_t)cl;
    p = put(p, 0, 2);
    for (int i = 0; i < c->ndim; i++) p = put(p, (uint64_t)c->shape[i], 8);
    for (int i = 0; i < c->ndim; i++) *p++ = (uint8_t)c->perm[i];
    memcpy(p, s->model_name, ml);
    p += ml;
    memcpy(p, c->name, cl);
    p += cl;
    int64_t pay = payload_size(f, c->ndim, c->shape, c->numel);
    p = put(p, (uint64_t)pay, 8);
    const float *x = mid->data;
    if (f == VD_WIRE_F32) {
        memcpy(p, x, (size_t)c->numel * 4);
    } else if (f == VD_WIRE_F16) {
        for (int64_t i = 0; i < c->numel; i++) {
            uint16_t h = f2h(x[i]);
            p[2 * i] = (uint8_t)h;
            p[2 * i + 1] = (uint8_t)(h >> 8);
        }
    } else if (encode_i8(x, c->numel, channels(c->ndim, c->shape), p)) {
        free(b);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    assert(p + pay == b + n);
    *out = b;
    *len = n;
    return 0;
}

/* ---- parse ---------------------------------------------------------------------------- */

typedef struct cursor {
    const uint8_t *p;
    size_t left;
} cursor;

static int take(cursor *c, void *dst, size_t n)
{
    if (c->left < n) return -1;
    if (dst) memcpy(dst, c->p, n);
    c->p += n;
    c->left -= n;
    return 0;
}

static int take_u(cursor *c, uint64_t *v, int bytes)
{
    uint8_t b[8];
    if (take(c, b, (size_t)bytes)) return -1;
    *v = 0;
    for (int i = 0; i < bytes; i++) *v |= (uint64_t)b[i] << (8 * i);
    return 0;
}

static int bad(vd_error *err, const char *what)
{
    return vd_fail(err, VD_EFORMAT,
                   "not a valid vdag tensor message: %s (it must come from vd_wire_encode / "
                   "part A of the same vdag version)",
                   what);
}

int vd_wire_peek(const uint8_t *buf, size_t len, vd_wire_tag *t, vd_error *err)
{
    memset(t, 0, sizeof *t);
    if (!buf) return bad(err, "no data");
    cursor c = {buf, len};
    uint8_t fix[8], ml, cl;
    uint64_t v;
    if (take(&c, fix, 8)) return bad(err, "shorter than its fixed header");
    if (memcmp(fix, MAGIC, 4)) return bad(err, "wrong magic");
    if (fix[4] != VERSION) return bad(err, "unknown version");
    if (fix[5] > VD_WIRE_I8) return bad(err, "unknown payload format");
    if (fix[6] > VD_I32) return bad(err, "unknown dtype");
    if (fix[6] == VD_I32 && fix[5] != VD_WIRE_F32) return bad(err, "int32 data not as stored");
    if (fix[7] > VD_MAX_DIMS) return bad(err, "rank above 6");
    t->fmt = (vd_wire_fmt)fix[5];
    t->dtype = (vd_dtype)fix[6];
    t->ndim = fix[7];
    if (take(&c, t->hash, 32) || take_u(&c, &v, 4)) return bad(err, "truncated header");
    t->cut = (uint32_t)v;
    if (take(&c, &ml, 1) || take(&c, &cl, 1) || take(&c, NULL, 2))
        return bad(err, "truncated header");
    int seen = 0;
    for (int i = 0; i < t->ndim; i++) {
        if (take_u(&c, &v, 8)) return bad(err, "truncated shape");
        if (v > ((uint64_t)1 << 48)) return bad(err, "dimension out of range");
        t->shape[i] = (int64_t)v;
    }
    for (int i = 0; i < t->ndim; i++) {
        uint8_t pi;
        if (take(&c, &pi, 1)) return bad(err, "truncated layout");
        if (pi >= t->ndim || (seen >> pi & 1)) return bad(err, "layout is not a permutation");
        seen |= 1 << pi;
        t->perm[i] = pi;
    }
    if (take(&c, t->model, ml) || take(&c, t->cut_name, cl)) return bad(err, "truncated names");
    if (memchr(t->model, 0, ml) || memchr(t->cut_name, 0, cl)) return bad(err, "NUL inside a name");
    int64_t numel = vd__numel(t->shape, t->ndim);
    if (numel < 0) return bad(err, "more than 2^48 elements");
    if (take_u(&c, &t->payload_bytes, 8)) return bad(err, "truncated header");
    t->header_bytes = len - c.left;
    if (t->payload_bytes != (uint64_t)payload_size(t->fmt, t->ndim, t->shape, numel))
        return bad(err, "payload size does not match the shape and format");
    if (c.left < t->payload_bytes) return bad(err, "truncated payload");
    if (c.left > t->payload_bytes) return bad(err, "trailing bytes after the payload");
    if (t->fmt == VD_WIRE_I8) {
        int64_t nc = channels(t->ndim, t->shape);
        for (int64_t k = 0; k < nc; k++) {
            float sc;
            memcpy(&sc, c.p + k * 4, 4);
            if (!isfinite(sc) || sc < 0) return bad(err, "an int8 scale is negative or not finite");
        }
    }
    return 0;
}

int vd__wire_decode(const vd_wire_tag *t, const uint8_t *buf, void *dst)
{
    const uint8_t *p = buf + t->header_bytes;
    int64_t numel = vd__numel(t->shape, t->ndim);
    float *y = dst;
    if (t->fmt == VD_WIRE_F32) {
        memcpy(dst, p, (size_t)numel * 4);
    } else if (t->fmt == VD_WIRE_F16) {
        for (int64_t i = 0; i < numel; i++) y[i] = h2f((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
    } else {
        int64_t nc = channels(t->ndim, t->shape);
        const uint8_t *q = p + nc * 4;
        float *sc = malloc(sizeof(float) * (size_t)(nc ? nc : 1));
        if (!sc) return VD_ENOMEM;
        memcpy(sc, p, (size_t)nc * 4);
        for (int64_t i = 0; i < numel; i++) y[i] = (float)(int8_t)q[i] * sc[i % nc];
        free(sc);
    }
    return 0;
}

int vd_slicer_run_wire(vd_slicer *s, int cut, const uint8_t *buf, size_t len, vd_error *err)
{
    const vd_cut *c = vd_slicer_cut(s, cut);
    if (!c)
        return vd_fail(err, VD_EINVAL, "%s: cut %d is out of range (0..%d)", s->model_name, cut,
                       s->n_cuts - 1);
    vd_wire_tag *t = malloc(sizeof *t);
    if (!t) return vd_fail(err, VD_ENOMEM, "out of memory");
    int rc = vd_wire_peek(buf, len, t, err);
    char h1[20], h2[20];
    for (int i = 0; i < 8; i++) snprintf(h1 + 2 * i, 3, "%02x", t->hash[i]);
    vd_slicer_hash_hex(s, h2, sizeof h2);
    if (!rc && (strcmp(t->model, s->model_name) || memcmp(t->hash, s->hash, 32)))
        rc = vd_fail(err, VD_EINVAL,
                     "the tensor is for model '%s' (hash %s) but this part B runs '%s' (hash "
                     "%s): send it to a node running that model, or load the same model files "
                     "on both sides (`vdag slice MODEL` prints the hash)",
                     t->model, h1, s->model_name, h2);
    if (!rc && (t->cut != (uint32_t)cut || strcmp(t->cut_name, c->name)))
        rc = vd_fail(err, VD_EINVAL,
                     "%s: the tensor is cut %u '%s' but this part B starts at cut %d '%s': run "
                     "part A and part B at the same cut",
                     s->model_name, t->cut, t->cut_name, cut, c->name);
    int same = !rc && t->ndim == c->ndim && t->dtype == c->dtype;
    for (int i = 0; same && i < c->ndim; i++)
        same = t->shape[i] == c->shape[i] && t->perm[i] == c->perm[i];
    if (!rc && !same)
        rc = vd_fail(err, VD_ESHAPE,
                     "%s: cut %d '%s': the tensor's shape, layout or dtype is not the cut's "
                     "(part A and part B disagree on the plan: same vdag version and model?)",
                     s->model_name, cut, c->name);
    if (!rc) rc = vd__wire_decode(t, buf, vd__cut_data(s, cut));
    if (rc == VD_ENOMEM) vd_fail(err, rc, "out of memory");
    free(t);
    if (rc) return rc;
    vd__model *m = s->m;
    return vd__run_range(m, c->step + 1, m->n_steps, err);
}
