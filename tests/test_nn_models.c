/* The models without reference outputs: they load, run, and give outputs of the right
 * shapes with finite values; wrong input sizes are refused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "vdag/nn.h"
#include "vdag/nninput.h"

typedef struct {
    const char *name;
    int ndim;
    int64_t shape[4];
} want;

static void run_model(const char *model, const want *w, int n_want)
{
    vd_error err = {0};
    vd_model *m = NULL;
    vd_model_opts o = {.threads = 2};
    int rc = vd_model_load(vt_model(model), &o, &m, &err);
    CHECKF(rc == 0, "%s: %s", model, err.msg);
    if (rc) return;
    CHECKF(vd_model_flops(m) > 1e6, "%s: flops %g", model, vd_model_flops(m));
    void *in;
    size_t bytes;
    CHECK(vd_nn_make_input(vd_model_input(m, 0), model, "lcg:7", &in, &bytes, &err) == 0);
    rc = vd_model_run(m, in, bytes, &err);
    CHECKF(rc == 0, "%s: %s", model, err.msg);
    CHECKF(vd_model_n_outputs(m) == n_want, "%s: %d outputs", model, vd_model_n_outputs(m));
    for (int i = 0; i < n_want && i < vd_model_n_outputs(m); i++) {
        const vd_tensor *t = vd_model_output(m, i);
        CHECKF(!strcmp(t->name, w[i].name), "%s output %d: %s, want %s", model, i, t->name,
               w[i].name);
        CHECKF(t->ndim == w[i].ndim, "%s %s: rank %d", model, t->name, t->ndim);
        for (int d = 0; d < w[i].ndim && d < t->ndim; d++)
            CHECKF(t->shape[d] == w[i].shape[d], "%s %s: dim %d is %lld", model, t->name, d,
                   (long long)t->shape[d]);
        int64_t n = vd_tensor_numel(t), bad = 0;
        for (int64_t k = 0; k < n; k++) bad += !isfinite(((float *)t->data)[k]);
        CHECKF(bad == 0, "%s %s: %lld non-finite values", model, t->name, (long long)bad);
    }
    /* a wrong-size input is refused with a message naming the expected shape */
    rc = vd_model_run(m, in, bytes - 4, &err);
    CHECK(rc == VD_ESHAPE);
    CHECKF(strstr(err.msg, "must be") != NULL, "message: %s", err.msg);
    free(in);
    vd_model_free(m);
}

int main(void)
{
    const want bf[] = {{"Identity_1:0", 3, {1, 384, 1}},
                       {"Identity_2:0", 3, {1, 512, 16}},
                       {"Identity_3:0", 3, {1, 384, 16}},
                       {"Identity:0", 3, {1, 512, 1}}};
    run_model("blazeface-front", bf, 4);
    const want cn[] = {{"tower_0/wh", 4, {1, 128, 128, 4}},
                       {"tower_0/keypoints", 4, {1, 128, 128, 80}},
                       {"tower_0/detections", 3, {1, 100, 6}}};
    run_model("centernet", cn, 3);
    const want mn[] = {{"Identity:0", 4, {1, 1, 17, 3}}};
    run_model("movenet-lightning", mn, 1);

    /* movenet takes int32 pixels; its keypoint scores are probabilities */
    vd_error err = {0};
    vd_model *m = NULL;
    vd_model_opts o = {.threads = 1};
    if (vd_model_load(vt_model("movenet-lightning"), &o, &m, &err) == 0) {
        CHECK(vd_model_input(m, 0)->dtype == VD_I32);
        void *in;
        size_t bytes;
        vd_nn_make_input(vd_model_input(m, 0), "movenet-lightning", "lcg:3", &in, &bytes, &err);
        CHECK(vd_model_run(m, in, bytes, &err) == 0);
        const float *kp = vd_model_output(m, 0)->data;
        for (int k = 0; k < 17; k++)
            CHECKF(kp[k * 3 + 2] >= 0 && kp[k * 3 + 2] <= 1, "score %g", kp[k * 3 + 2]);
        free(in);
        vd_model_free(m);
    }
    /* centernet on a real photo: messi5.jpg has persons and a sports ball */
    if (vd_model_load(vt_model("centernet"), &o, &m, &err) == 0) {
        void *in;
        size_t bytes;
        CHECK(vd_nn_make_input(vd_model_input(m, 0), "centernet",
                               "image:"
                               "",
                               &in, &bytes, &err) != 0);
        char spec[1100];
        snprintf(spec, sizeof spec, "image:%s", vt_media("messi5.jpg"));
        CHECK(vd_nn_make_input(vd_model_input(m, 0), "centernet", spec, &in, &bytes, &err) == 0);
        CHECK(vd_model_run(m, in, bytes, &err) == 0);
        const float *det = vd_model_output(m, 2)->data; /* [100][x1,y1,x2,y2,score,class] */
        int persons = 0, ball = 0;
        for (int k = 0; k < 100; k++) {
            if (det[k * 6 + 4] < 0.3f) continue;
            persons += det[k * 6 + 5] == 0;
            ball += det[k * 6 + 5] == 32;
        }
        CHECKF(persons >= 1, "persons %d", persons);
        CHECKF(ball >= 1, "sports balls %d", ball);
        free(in);
        vd_model_free(m);
    }
    return vt_finish();
}
