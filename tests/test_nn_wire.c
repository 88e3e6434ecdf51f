/* The cut tensor's wire form: float16 conversion, the tag checks of part B (wrong model,
 * other weights, wrong cut, wrong shape / layout / dtype, truncated or padded payload)
 * with their codes, and a deterministic fuzz of the parser (mutated and truncated
 * messages, random bytes): every bad message is an error, never a crash (ASan build). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"
#include "vdag/base.h"
#include "vdag/nn.h"
#include "vdag/nninput.h"
#include "vdag/slice.h"

uint16_t vd__f32_to_f16(float f);
float vd__f16_to_f32(uint16_t h);
int vd__wire_decode(const vd_wire_tag *tag, const uint8_t *buf, void *dst);

static void test_f16(void)
{
    CHECK(vd__f32_to_f16(1.0f) == 0x3c00);
    CHECK(vd__f32_to_f16(-2.0f) == 0xc000);
    CHECK(vd__f32_to_f16(65504.0f) == 0x7bff);
    CHECK(vd__f32_to_f16(65520.0f) == 0x7c00); /* rounds up to infinity */
    CHECK(vd__f32_to_f16(65519.0f) == 0x7bff);
    CHECK(vd__f32_to_f16(0.1f) == 0x2e66);
    CHECK(vd__f32_to_f16(ldexpf(1, -24)) == 0x0001);        /* smallest subnormal */
    CHECK(vd__f32_to_f16(ldexpf(1, -26)) == 0x0000);        /* below half of it */
    CHECK(vd__f32_to_f16(ldexpf(3, -26)) == 0x0001);        /* 0.75 of it rounds up */
    CHECK(vd__f32_to_f16(1.0f + ldexpf(1, -11)) == 0x3c00); /* tie to even */
    CHECK(vd__f32_to_f16(1.0f + 3 * ldexpf(1, -11)) == 0x3c02);
    CHECK(vd__f32_to_f16(INFINITY) == 0x7c00);
    CHECK(isnan(vd__f16_to_f32(vd__f32_to_f16(NAN))));
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = vd__f16_to_f32((uint16_t)h);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue; /* NaNs */
        bad += vd__f32_to_f16(f) != h;
    }
    CHECKF(bad == 0, "%d half values do not round-trip", bad);
    CHECK(vd__f16_to_f32(0x0001) == ldexpf(1, -24));
    CHECK(vd__f16_to_f32(0x3555) == 0.333251953125f);
}

/* byte offsets of the header (wire.c) */
#define OFF_DTYPE 6
#define OFF_NDIM  7
#define OFF_HASH  8
#define OFF_SHAPE 48

typedef struct {
    vd_model *m;
    vd_slicer *s;
    void *in;
    size_t bytes;
} loaded;

static int load(const char *path, const char *name, loaded *l)
{
    vd_error err = {0};
    vd_model_opts o = {.threads = 1};
    memset(l, 0, sizeof *l);
    int rc = vd_model_load(path, &o, &l->m, &err);
    if (!rc) rc = vd_slicer_open(l->m, &l->s, &err);
    if (!rc) rc = vd_nn_make_input(vd_model_input(l->m, 0), name, "lcg:5", &l->in, &l->bytes, &err);
    CHECKF(rc == 0, "%s: %s", path, err.msg);
    return rc;
}

static void unload(loaded *l)
{
    free(l->in);
    vd_slicer_free(l->s);
    vd_model_free(l->m);
}

static uint8_t *message(loaded *l, int cut, vd_wire_fmt f, size_t *len)
{
    vd_error err = {0};
    vd_tensor mid;
    uint8_t *msg = NULL;
    int rc = vd_slicer_run_a(l->s, cut, l->in, l->bytes, &mid, &err);
    if (!rc) rc = vd_wire_encode(l->s, cut, &mid, f, &msg, len, &err);
    CHECKF(rc == 0, "encode cut %d: %s", cut, err.msg);
    return msg;
}

/* copy model files to dir, with one weight byte changed */
static int copy_altered(const char *dir)
{
    char cmd[3000];
    snprintf(cmd, sizeof cmd,
             "cp '%s' '%s/blazeface-back.json' && cp \"$(dirname '%s')/blazeface-back.bin\" "
             "'%s/' && printf '\\001' | dd of='%s/blazeface-back.bin' bs=1 seek=1000 "
             "conv=notrunc status=none",
             vt_model("blazeface-back"), dir, vt_model("blazeface-back"), dir, dir);
    return system(cmd);
}

static uint64_t lcg;
static uint32_t rnd(void)
{
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(lcg >> 33);
}

int main(void)
{
    test_f16();
    vd_wire_fmt f;
    CHECK(vd_wire_fmt_parse("f16", &f) == 0 && f == VD_WIRE_F16);
    CHECK(vd_wire_fmt_parse("int8", &f) == 0 && f == VD_WIRE_I8);
    CHECK(vd_wire_fmt_parse("f64", &f) == VD_EINVAL);

    loaded back, front;
    if (load(vt_model("blazeface-back"), "blazeface-back", &back) ||
        load(vt_model("blazeface-front"), "blazeface-front", &front))
        return vt_finish();
    vd_error err = {0};
    int nc = vd_slicer_n_cuts(back.s), small = 0;
    for (int i = 1; i < nc; i++)
        if (vd_slicer_cut(back.s, i)->numel < vd_slicer_cut(back.s, small)->numel) small = i;
    CHECK(!strcmp(vd_slicer_model_name(back.s), "blazeface-back"));
    CHECK(vd_slicer_find(back.s, vd_slicer_cut(back.s, 3)->name, &err) <= 3);
    CHECK(vd_slicer_find(back.s, "5", &err) == 5);
    CHECK(vd_slicer_find(back.s, "no-such-node", &err) == VD_ENOTFOUND);
    CHECKF(strstr(err.msg, "vdag slice") != NULL, "%s", err.msg);

    /* sizes: f16 is half of f32's payload, i8 a quarter plus 4 bytes a channel */
    const vd_cut *c0 = vd_slicer_cut(back.s, 0);
    size_t s32 = vd_wire_size(back.s, 0, VD_WIRE_F32), s16 = vd_wire_size(back.s, 0, VD_WIRE_F16);
    size_t s8 = vd_wire_size(back.s, 0, VD_WIRE_I8);
    CHECK(s32 - s16 == (size_t)c0->numel * 2);
    CHECK(s32 - s8 == (size_t)c0->numel * 3 - (size_t)c0->shape[c0->ndim - 1] * 4);

    /* the decoded cut tensor: f16 within half an ulp (2^-11 relative, normal range),
     * i8 within half its channel's scale; f32 identical */
    for (int ci = 0; ci < nc; ci += nc - 1) {
        const vd_cut *c = vd_slicer_cut(back.s, ci);
        int64_t ch = c->shape[c->ndim - 1], bad16 = 0, bad8 = 0, bad32 = 0;
        float *y = malloc((size_t)c->numel * 4 + 4);
        for (int fm = VD_WIRE_F32; fm <= VD_WIRE_I8; fm++) {
            size_t l;
            uint8_t *x = message(&back, ci, (vd_wire_fmt)fm, &l);
            vd_tensor mid;
            vd_slicer_run_a(back.s, ci, back.in, back.bytes, &mid, &err);
            const float *ref = mid.data;
            vd_wire_tag t;
            CHECK(vd_wire_peek(x, l, &t, &err) == 0 && vd__wire_decode(&t, x, y) == 0);
            const uint8_t *sc = x + t.header_bytes;
            for (int64_t k = 0; k < c->numel; k++) {
                double e = fabs((double)y[k] - ref[k]);
                if (fm == VD_WIRE_F32) bad32 += e != 0;
                if (fm == VD_WIRE_F16)
                    bad16 += e > fabs(ref[k]) * ldexp(1, -11) && e > ldexp(1, -25);
                if (fm == VD_WIRE_I8) {
                    float s;
                    memcpy(&s, sc + 4 * (k % ch), 4);
                    bad8 += e > s * 0.5 * (1 + 1e-5);
                }
            }
            free(x);
        }
        CHECKF(bad32 == 0 && bad16 == 0 && bad8 == 0, "cut %d: %lld/%lld/%lld values off", ci,
               (long long)bad32, (long long)bad16, (long long)bad8);
        free(y);
    }

    size_t len;
    uint8_t *msg = message(&back, small, VD_WIRE_F32, &len);
    vd_wire_tag tag;
    CHECK(vd_wire_peek(msg, len, &tag, &err) == 0);
    CHECK(!strcmp(tag.model, "blazeface-back") && tag.cut == (uint32_t)small);
    CHECK(!memcmp(tag.hash, vd_slicer_model_hash(back.s), 32));
    CHECK(vd_slicer_run_wire(back.s, small, msg, len, &err) == 0);

    /* wrong model: blazeface-front's tensor to blazeface-back */
    size_t flen;
    uint8_t *fmsg = message(&front, 0, VD_WIRE_F32, &flen);
    CHECK(vd_slicer_run_wire(back.s, 0, fmsg, flen, &err) == VD_EINVAL);
    CHECKF(strstr(err.msg, "'blazeface-front'") && strstr(err.msg, "this part B runs"), "%s",
           err.msg);
    free(fmsg);
    /* the same model name with other weights: another hash */
    char dir[] = "/tmp/vdag-wire-XXXXXX";
    if (mkdtemp(dir) && copy_altered(dir) == 0) {
        char p[200];
        snprintf(p, sizeof p, "%s/blazeface-back.json", dir);
        loaded alt;
        if (!load(p, "blazeface-back", &alt)) {
            CHECK(!strcmp(vd_slicer_model_name(alt.s), "blazeface-back"));
            CHECK(memcmp(vd_slicer_model_hash(alt.s), vd_slicer_model_hash(back.s), 32) != 0);
            CHECK(vd_slicer_run_wire(alt.s, small, msg, len, &err) == VD_EINVAL);
            CHECKF(strstr(err.msg, "hash") != NULL, "%s", err.msg);
            unload(&alt);
        }
        char rm[300];
        snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
        CHECK(system(rm) == 0);
    } else {
        CHECKF(0, "cannot copy the model to %s", dir);
    }
    /* wrong cut */
    int other = small ? small - 1 : small + 1;
    CHECK(vd_slicer_run_wire(back.s, other, msg, len, &err) == VD_EINVAL);
    CHECKF(strstr(err.msg, "same cut") != NULL, "%s", err.msg);
    CHECK(vd_slicer_run_wire(back.s, nc, msg, len, &err) == VD_EINVAL);
    /* a forged hash */
    uint8_t *bad = malloc(len + 1);
    memcpy(bad, msg, len);
    bad[OFF_HASH + 5] ^= 1;
    CHECK(vd_slicer_run_wire(back.s, small, bad, len, &err) == VD_EINVAL);
    /* wrong shape of the same size, wrong layout, wrong dtype: VD_ESHAPE */
    const vd_cut *cs = vd_slicer_cut(back.s, small);
    int nd = bad[OFF_NDIM], i1 = -1, i2 = -1;
    for (int i = 0; i < nd; i++)
        for (int j = i + 1; j < nd; j++)
            if (cs->shape[i] != cs->shape[j] && i1 < 0) i1 = i, i2 = j;
    CHECK(i1 >= 0);
    if (i1 >= 0) {
        memcpy(bad, msg, len);
        memcpy(bad + OFF_SHAPE + 8 * i1, msg + OFF_SHAPE + 8 * i2, 8);
        memcpy(bad + OFF_SHAPE + 8 * i2, msg + OFF_SHAPE + 8 * i1, 8);
        CHECK(vd_slicer_run_wire(back.s, small, bad, len, &err) == VD_ESHAPE);
        CHECKF(strstr(err.msg, "shape") != NULL, "%s", err.msg);
        memcpy(bad, msg, len);
        uint8_t *perm = bad + OFF_SHAPE + 8 * nd;
        uint8_t t = perm[i1];
        perm[i1] = perm[i2], perm[i2] = t;
        CHECK(vd_slicer_run_wire(back.s, small, bad, len, &err) == VD_ESHAPE);
    }
    memcpy(bad, msg, len);
    bad[OFF_DTYPE] = VD_I32;
    CHECK(vd_slicer_run_wire(back.s, small, bad, len, &err) == VD_ESHAPE);
    /* a dimension changed: the payload no longer matches */
    memcpy(bad, msg, len);
    bad[OFF_SHAPE + 8 * (nd - 1)] += 1;
    CHECK(vd_slicer_run_wire(back.s, small, bad, len, &err) == VD_EFORMAT);
    /* truncated at every length, one byte too many */
    int trunc_ok = 0;
    for (size_t l = 0; l < len; l++) trunc_ok += vd_wire_peek(msg, l, &tag, &err) == VD_EFORMAT;
    CHECKF(trunc_ok == (int)len, "%d of %zu truncations refused", trunc_ok, len);
    CHECK(vd_slicer_run_wire(back.s, small, msg, len - 1, &err) == VD_EFORMAT);
    CHECKF(strstr(err.msg, "truncated payload") != NULL, "%s", err.msg);
    memcpy(bad, msg, len);
    bad[len] = 0;
    CHECK(vd_slicer_run_wire(back.s, small, bad, len + 1, &err) == VD_EFORMAT);
    CHECK(vd_wire_peek(NULL, 0, &tag, &err) == VD_EFORMAT);
    free(bad);

    /* fuzz: mutated int8 and f16 messages, and random bytes */
    lcg = 12345;
    int runs = 0, refused = 0;
    for (int fmt = VD_WIRE_F32; fmt <= VD_WIRE_I8; fmt++) {
        size_t ml;
        uint8_t *good = message(&back, small, (vd_wire_fmt)fmt, &ml);
        uint8_t *x = malloc(ml + 16);
        size_t hdr = 0;
        if (vd_wire_peek(good, ml, &tag, &err) == 0) hdr = tag.header_bytes;
        for (int it = 0; it < 6000; it++) {
            memcpy(x, good, ml);
            size_t l = ml;
            int k = 1 + (int)(rnd() % 4);
            for (int j = 0; j < k; j++) {
                /* mostly the header, where the parser decides */
                size_t at = rnd() % 4 ? rnd() % (hdr + 8) : rnd() % ml;
                if (at < ml) x[at] = (uint8_t)rnd();
            }
            if (rnd() % 8 == 0) l = rnd() % (ml + 16);
            int rc = vd_wire_peek(x, l, &tag, &err);
            if (rc) {
                refused++;
                CHECKF(rc == VD_EFORMAT, "peek gave %d", rc);
            } else if (runs < 150) { /* and the whole of part B on some that parse */
                runs++;
                rc = vd_slicer_run_wire(back.s, small, x, l, &err);
                CHECKF(rc == 0 || rc == VD_EINVAL || rc == VD_ESHAPE, "run_wire gave %d", rc);
            }
        }
        free(x);
        free(good);
    }
    for (int it = 0; it < 3000; it++) {
        uint8_t x[256];
        size_t l = rnd() % sizeof x;
        for (size_t j = 0; j < l; j++) x[j] = (uint8_t)rnd();
        if (it % 2) memcpy(x, "VDTN\001", l < 5 ? l : 5);
        refused += vd_wire_peek(x, l, &tag, &err) != 0;
    }
    printf("fuzz: %d refused, %d parsed and run\n", refused, runs);
    CHECK(refused > 3000);
    free(msg);
    unload(&back);
    unload(&front);
    return vt_finish();
}
