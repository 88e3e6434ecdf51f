/* Numerical agreement of the nn runtime with TF.js (the JSON files in tests/ref, made by
 * tests/ref/gen_ref.js, see tests/ref/README.md): every given value within 1e-3*max(1,|ref|),
 * sums within 1e-4. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "vdag/nn.h"
#include "vdag/nninput.h"

static void check_outputs(const char *model, vd_model *m, json_t *routs, const char *what)
{
    CHECKF((int)json_array_size(routs) == vd_model_n_outputs(m),
           "%s %s: %zu reference outputs, model has %d", model, what, json_array_size(routs),
           vd_model_n_outputs(m));
    size_t i;
    json_t *ro;
    json_array_foreach(routs, i, ro)
    {
        const vd_tensor *t = vd_model_output(m, (int)i);
        if (!t) break;
        const char *rname = json_string_value(json_object_get(ro, "name"));
        CHECKF(!strcmp(t->name, rname), "%s %s output %zu: name %s, reference %s", model, what, i,
               t->name, rname);
        json_t *shape = json_object_get(ro, "shape");
        CHECKF((int)json_array_size(shape) == t->ndim, "%s %s %s: rank", model, what, rname);
        for (int d = 0; d < t->ndim && d < (int)json_array_size(shape); d++)
            CHECKF(t->shape[d] == json_integer_value(json_array_get(shape, (size_t)d)),
                   "%s %s %s: dim %d", model, what, rname, d);
        const float *v = t->data;
        int64_t n = vd_tensor_numel(t);
        double sum = 0, sa = 0;
        for (int64_t k = 0; k < n; k++) {
            sum += v[k];
            sa += fabs(v[k]);
        }
        double rs = json_number_value(json_object_get(ro, "sum"));
        double rsa = json_number_value(json_object_get(ro, "sum_abs"));
        CHECKF(fabs(sum - rs) <= 1e-4 * fmax(1, fabs(rs)), "%s %s %s: sum %.9g vs %.9g", model,
               what, rname, sum, rs);
        CHECKF(fabs(sa - rsa) <= 1e-4 * fmax(1, fabs(rsa)), "%s %s %s: sum_abs %.9g vs %.9g", model,
               what, rname, sa, rsa);
        json_t *vals = json_object_get(ro, "values");
        size_t k;
        json_t *jv;
        int bad = 0;
        size_t first_bad = 0;
        json_array_foreach(vals, k, jv)
        {
            double r = json_number_value(jv);
            if ((int64_t)k >= n || !(fabs(v[k] - r) <= 1e-3 * fmax(1, fabs(r)))) {
                if (!bad++) first_bad = k;
            }
        }
        CHECKF(bad == 0, "%s %s %s: %d of %zu values off, first at %zu", model, what, rname, bad,
               json_array_size(vals), first_bad);
        CHECKF(json_array_size(vals) > 0, "%s %s %s: reference has values", model, what, rname);
    }
}

/* const_spec: the constant input (vd_nn_make_input spec) whose outputs the reference holds
 * under const_key. */
static void test_model(const char *model, const char *ref_file, int threads, const char *const_spec,
                       const char *const_key)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/ref/%s", VDAG_TEST_DIR, ref_file);
    json_error_t je;
    json_t *ref = json_load_file(path, 0, &je);
    CHECKF(ref != NULL, "%s: %s", path, je.text);
    if (!ref) return;
    vd_error err = {0};
    vd_model *m = NULL;
    vd_model_opts o = {.threads = threads};
    int rc = vd_model_load(vt_model(model), &o, &m, &err);
    CHECKF(rc == 0, "%s: %s", model, err.msg);
    if (rc) {
        json_decref(ref);
        return;
    }
    /* the generator first: same first 16 values and sum as the reference input */
    void *in = NULL;
    size_t bytes = 0;
    rc = vd_nn_make_input(vd_model_input(m, 0), model, "lcg:12345", &in, &bytes, &err);
    CHECK(rc == 0);
    json_t *jin = json_object_get(ref, "input");
    int is_int = vd_model_input(m, 0)->dtype == VD_I32;
    CHECKF(!strcmp(json_string_value(json_object_get(jin, "dtype")), is_int ? "int32" : "float32"),
           "%s: input dtype", model);
    const float *x = in;
    const int32_t *xi = in;
    double isum = 0;
    for (size_t k = 0; k < bytes / 4; k++) isum += is_int ? xi[k] : x[k];
    for (size_t k = 0; k < 16; k++) {
        double r = json_number_value(json_array_get(json_object_get(jin, "first16"), k));
        double v = is_int ? xi[k] : x[k];
        CHECKF(fabs(v - r) < 1e-6, "%s input[%zu] %g vs %g", model, k, v, r);
    }
    double rsum = json_number_value(json_object_get(jin, "sum"));
    CHECKF(fabs(isum - rsum) <= 1e-3 * fmax(1, fabs(rsum)), "%s input sum %g vs %g", model, isum,
           rsum);

    rc = vd_model_run(m, in, bytes, &err);
    CHECKF(rc == 0, "%s: %s", model, err.msg);
    check_outputs(model, m, json_object_get(ref, "outputs"),
                  threads == 1 ? "lcg/1 thread" : "lcg/2 threads");

    /* a second run gives bit-identical outputs (no state carried between runs) */
    int n_out = vd_model_n_outputs(m);
    float **copy = calloc((size_t)n_out, sizeof(float *));
    for (int i = 0; i < n_out; i++) {
        const vd_tensor *t = vd_model_output(m, i);
        size_t nb = (size_t)vd_tensor_numel(t) * 4;
        copy[i] = malloc(nb);
        memcpy(copy[i], t->data, nb);
    }
    void *half = NULL;
    size_t hb = 0;
    vd_nn_make_input(vd_model_input(m, 0), model, const_spec, &half, &hb, &err);
    rc = vd_model_run(m, half, hb, &err);
    CHECK(rc == 0);
    CHECKF(json_object_get(ref, const_key) != NULL, "%s: no %s in the reference", model, const_key);
    check_outputs(model, m, json_object_get(json_object_get(ref, const_key), "outputs"),
                  const_spec);
    rc = vd_model_run(m, in, bytes, &err);
    CHECK(rc == 0);
    for (int i = 0; i < n_out; i++) {
        const vd_tensor *t = vd_model_output(m, i);
        CHECKF(!memcmp(copy[i], t->data, (size_t)vd_tensor_numel(t) * 4),
               "%s output %d differs between runs", model, i);
        free(copy[i]);
    }
    free(copy);
    free(half);
    free(in);
    vd_model_free(m);
    json_decref(ref);
}

int main(void)
{
    for (int threads = 1; threads <= 2; threads++) {
        test_model("blazeface-back", "blazeface_ref.json", threads, "const:0.5",
                   "constant_input_0_5");
        test_model("facemesh", "facemesh_ref.json", threads, "const:0.5", "constant_input_0_5");
        test_model("nanodet", "nanodet_ref.json", threads, "const:0.5", "constant_input_0_5");
        /* int32 pixels in: the LCG gives floor(u*256), the constant a grey 128 */
        test_model("movenet-thunder", "movenet_thunder_ref.json", threads, "const:128",
                   "constant_input_128");
        /* whole-frame multipose: its [1,-1,-1,3] input is the signature's 256x256; the
         * decoding in the graph (top-k, arg-max, gathers, Select) is part of the output */
        test_model("movenet-multipose", "movenet_multipose_ref.json", threads, "const:128",
                   "constant_input_128");
    }
    return vt_finish();
}
