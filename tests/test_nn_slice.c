/* Sliced == unsliced: part A on one model instance, its tensor through the wire form,
 * part B on a second instance (whose arena was dirtied by another input first), against
 * the whole model on the same input. float32 on the wire is bit-exact at every cut of
 * blazeface-back and at 8 cuts spread over nanodet and centernet; float16 and int8 are
 * within the tolerances stated in docs/slicing.md (relative to max(1, max |output|)). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "vdag/nn.h"
#include "vdag/nninput.h"
#include "vdag/slice.h"

typedef struct {
    int n;
    float **v;
    int64_t *numel;
} outs;

static void save(vd_model *m, outs *o)
{
    o->n = vd_model_n_outputs(m);
    o->v = calloc((size_t)o->n, sizeof(float *));
    o->numel = calloc((size_t)o->n, sizeof(int64_t));
    for (int i = 0; i < o->n; i++) {
        const vd_tensor *t = vd_model_output(m, i);
        o->numel[i] = vd_tensor_numel(t);
        o->v[i] = malloc((size_t)o->numel[i] * 4 + 1);
        memcpy(o->v[i], t->data, (size_t)o->numel[i] * 4);
    }
}

static void outs_free(outs *o)
{
    for (int i = 0; i < o->n; i++) free(o->v[i]);
    free(o->v);
    free(o->numel);
}

/* max |y - ref| / max(1, max |ref|) */
static double dense_error(const float *y, const float *ref, int64_t n)
{
    double mx = 1, d = 0;
    for (int64_t k = 0; k < n; k++) {
        if (fabs(ref[k]) > mx) mx = fabs(ref[k]);
        double e = fabs((double)y[k] - ref[k]);
        if (!(e <= d)) d = e; /* NaN counts as worst */
    }
    return d / mx;
}

static int by_score(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* centernet's [1,100,6] top-100 list (x1,y1,x2,y2,score,class): a tiny change reorders
 * near-equal scores, so compare the sorted scores, not the rows */
static double ranked_error(const vd_tensor *t, const float *ref, int64_t n)
{
    int64_t rows = n / 6;
    float *a = malloc(sizeof(float) * (size_t)(rows + 1)),
          *b = malloc(sizeof(float) * (size_t)(rows + 1));
    for (int64_t r = 0; r < rows; r++) {
        a[r] = ((const float *)t->data)[r * 6 + 4];
        b[r] = ref[r * 6 + 4];
    }
    qsort(a, (size_t)rows, sizeof(float), by_score);
    qsort(b, (size_t)rows, sizeof(float), by_score);
    double d = dense_error(a, b, rows);
    free(a);
    free(b);
    return d;
}

/* 1 if m's outputs are bit-identical to ref; *rel the worst relative difference */
static int compare(vd_model *m, const outs *ref, double *rel)
{
    int same = 1;
    *rel = 0;
    for (int i = 0; i < ref->n; i++) {
        const vd_tensor *t = vd_model_output(m, i);
        same &= !memcmp(t->data, ref->v[i], (size_t)ref->numel[i] * 4);
        if (t->dtype != VD_F32) continue;
        double d = strstr(t->name, "detections") ? ranked_error(t, ref->v[i], ref->numel[i])
                                                 : dense_error(t->data, ref->v[i], ref->numel[i]);
        if (getenv("SLICE_DEBUG")) fprintf(stderr, "  %s: %g\n", t->name, d);
        if (!(d <= *rel)) *rel = d;
    }
    return same;
}

/* tolerances (docs/slicing.md states them and the worst values measured, which this
 * test prints): relative to max(1, max |output|), over every tested cut */
static void check_model(const char *name, int sample, double tol_f16, double tol_i8)
{
    vd_error err = {0};
    vd_model *m1 = NULL, *m2 = NULL;
    vd_model_opts o = {.threads = 1};
    int rc = vd_model_load(vt_model(name), &o, &m1, &err);
    CHECKF(rc == 0, "%s: %s", name, err.msg);
    rc = rc ? rc : vd_model_load(vt_model(name), &o, &m2, &err);
    CHECKF(rc == 0, "%s: %s", name, err.msg);
    vd_slicer *a = NULL, *b = NULL;
    if (!rc) rc = vd_slicer_open(m1, &a, &err);
    if (!rc) rc = vd_slicer_open(m2, &b, &err);
    CHECKF(rc == 0, "%s: %s", name, err.msg);
    if (rc) {
        vd_model_free(m1);
        vd_model_free(m2);
        return;
    }
    int nc = vd_slicer_n_cuts(a);
    CHECKF(nc >= 8, "%s: only %d cuts", name, nc);
    CHECK(nc == vd_slicer_n_cuts(b));
    CHECK(!memcmp(vd_slicer_model_hash(a), vd_slicer_model_hash(b), 32));
    /* cuts are in step order, inside the plan */
    for (int i = 0; i < nc; i++) {
        const vd_cut *c = vd_slicer_cut(a, i);
        CHECK(c->index == i);
        CHECK(c->step >= 0 && c->step < vd_slicer_n_steps(a) - 1);
        if (i) CHECK(c->step > vd_slicer_cut(a, i - 1)->step);
        CHECK(c->numel > 0);
    }
    void *in, *in2;
    size_t bytes;
    vd_nn_make_input(vd_model_input(m1, 0), name, "lcg:7", &in, &bytes, &err);
    vd_nn_make_input(vd_model_input(m1, 0), name, "lcg:99", &in2, &bytes, &err);
    CHECK(vd_model_run(m2, in, bytes, &err) == 0);
    outs ref;
    save(m2, &ref);
    int n_test = sample ? sample : nc, exact = 0;
    double worst[3] = {0, 0, 0};
    for (int j = 0; j < n_test; j++) {
        int cut = sample ? (int)((long)j * (nc - 1) / (sample - 1)) : j;
        for (int f = VD_WIRE_F32; f <= VD_WIRE_I8; f++) {
            vd_tensor mid;
            rc = vd_slicer_run_a(a, cut, in, bytes, &mid, &err);
            CHECKF(rc == 0, "%s cut %d: %s", name, cut, err.msg);
            uint8_t *msg = NULL;
            size_t len = 0;
            rc = rc ? rc : vd_wire_encode(a, cut, &mid, (vd_wire_fmt)f, &msg, &len, &err);
            CHECKF(rc == 0, "%s cut %d: %s", name, cut, err.msg);
            CHECK(len == vd_wire_size(a, cut, (vd_wire_fmt)f));
            /* dirty part B's arena with another input first */
            CHECK(vd_model_run(m2, in2, bytes, &err) == 0);
            rc = rc ? rc : vd_slicer_run_wire(b, cut, msg, len, &err);
            CHECKF(rc == 0, "%s cut %d %s: %s", name, cut, vd_wire_fmt_name(f), err.msg);
            free(msg);
            double rel;
            int same = compare(m2, &ref, &rel);
            if (f == VD_WIRE_F32) {
                exact += same;
                CHECKF(same, "%s cut %d '%s' (step %d): float32 slicing is not bit-exact (%g)",
                       name, cut, vd_slicer_cut(a, cut)->name, vd_slicer_cut(a, cut)->step, rel);
                /* and the raw part B agrees too */
                vd_slicer_run_a(a, cut, in, bytes, &mid, &err);
                CHECK(vd_slicer_run_b(b, cut, mid.data, (size_t)vd_slicer_cut(a, cut)->numel * 4,
                                      &err) == 0);
                CHECK(compare(m2, &ref, &rel));
            }
            if (!(rel <= worst[f])) worst[f] = rel;
        }
    }
    printf("%s: %d cuts, %d tested, %d bit-exact with f32; worst relative error f16 %.3g, i8 "
           "%.3g\n",
           name, nc, n_test, exact, worst[1], worst[2]);
    CHECKF(worst[1] <= tol_f16, "%s: f16 error %g", name, worst[1]);
    CHECKF(worst[2] <= tol_i8, "%s: i8 error %g", name, worst[2]);
    outs_free(&ref);
    free(in);
    free(in2);
    vd_slicer_free(a);
    vd_slicer_free(b);
    vd_model_free(m1);
    vd_model_free(m2);
}

int main(int argc, char **argv)
{
    if (argc > 1) { /* one model, for exploring: test_nn_slice MODEL [SAMPLE] */
        check_model(argv[1], argc > 2 ? atoi(argv[2]) : 0, 1, 1);
        return vt_finish();
    }
    check_model("blazeface-back", 0, 2e-3, 5e-2);
    check_model("nanodet", 8, 5e-3, 5e-2);
    check_model("centernet", 8, 3e-2, 0.2);
    return vt_finish();
}
