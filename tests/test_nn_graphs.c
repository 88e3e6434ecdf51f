/* Lowering paths on tiny hand-built graphs, each checked against a direct C
 * computation:
 *  - a convolution whose input is a transposed (NCHW -> NHWC) runtime value: lowering
 *    the conv makes a canonical copy, i.e. adds a value while the conv's filter is being
 *    read. This is the V() pointer rule's regression test (nn_internal.h): a filter
 *    pointer kept across that addition is a heap-use-after-free report in the sanitizer
 *    build, which moves the value table on every addition.
 *  - the same convolution as VALID after an explicit Pad of the transposed value: the
 *    lazy pad folds into the convolution's padding and must give the SAME result.
 *  - an input with dynamic dimensions ([1,-1,-1,3], as movenet-multipose's) takes them from
 *    the model's signature, else 1. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_nn_tiny.h"
#include "testlib.h"
#include "vdag/nn.h"

enum { C = 3, H = 5, W = 6, K = 3, O = 4 };

static float x_nchw[C * H * W], filt[K * K * C * O];

/* SAME 3x3 stride-1 convolution of the NHWC view of x_nchw with filt (HWIO). */
static float ref_conv(int h, int w, int o)
{
    double acc = 0;
    for (int kh = 0; kh < K; kh++)
        for (int kw = 0; kw < K; kw++)
            for (int c = 0; c < C; c++) {
                int y = h + kh - 1, x = w + kw - 1;
                if (y < 0 || y >= H || x < 0 || x >= W) continue;
                acc += (double)x_nchw[(c * H + y) * W + x] * filt[((kh * K + kw) * C + c) * O + o];
            }
    return (float)acc;
}

static void check_model(const char *path, const char *what)
{
    vd_error err = {0};
    vd_model *m = NULL;
    int rc = vd_model_load(path, NULL, &m, &err);
    CHECKF(rc == 0, "%s: %s", what, err.msg);
    if (rc) return;
    const vd_tensor *in = vd_model_input(m, 0);
    CHECKF(in->ndim == 4 && in->shape[1] == C && in->shape[2] == H && in->shape[3] == W,
           "%s: input shape", what);
    rc = vd_model_run(m, x_nchw, sizeof x_nchw, &err);
    CHECKF(rc == 0, "%s: %s", what, err.msg);
    const vd_tensor *out = vd_model_output(m, 0);
    CHECKF(out && out->ndim == 4 && out->shape[0] == 1 && out->shape[1] == H &&
               out->shape[2] == W && out->shape[3] == O,
           "%s: output shape", what);
    if (!rc && out && vd_tensor_numel(out) == H * W * O) {
        const float *y = out->data;
        int bad = 0;
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++)
                for (int o = 0; o < O; o++) {
                    float r = ref_conv(h, w, o), v = y[(h * W + w) * O + o];
                    if (!(fabsf(v - r) <= 1e-5f * fmaxf(1, fabsf(r)))) bad++;
                }
        CHECKF(bad == 0, "%s: %d of %d outputs differ from the direct convolution", what, bad,
               H * W * O);
    }
    vd_model_free(m);
}

/* Placeholder [1,-1,-1,3] -> Neg: with a signature declaring 1x8x6x3 the input (and
 * output) is 8x6; without one, 1x1. */
static void test_dynamic_input(const char *dir)
{
    const char *nodes =
        "[{\"name\": \"x\", \"op\": \"Placeholder\", \"attr\": {\"dtype\": {\"type\": "
        "\"DT_FLOAT\"}, \"shape\": {\"shape\": {\"dim\": [{\"size\": \"1\"}, {\"size\": "
        "\"-1\"}, {\"size\": \"-1\"}, {\"size\": \"3\"}]}}}},"
        "{\"name\": \"y\", \"op\": \"Neg\", \"input\": [\"x\"]}]";
    const char *sig = "{\"inputs\": {\"x\": {\"name\": \"x:0\", \"tensorShape\": {\"dim\": "
                      "[{\"size\": \"1\"}, {\"size\": \"8\"}, {\"size\": \"6\"}, "
                      "{\"size\": \"3\"}]}}}, \"outputs\": {\"out\": {\"name\": \"y:0\"}}}";
    for (int with_sig = 0; with_sig < 2; with_sig++) {
        const char *p = tiny_model_sig(dir, with_sig ? "dyn_sig" : "dyn", nodes,
                                       with_sig ? sig : NULL, NULL, 0);
        CHECK(p != NULL);
        if (!p) continue;
        vd_error err = {0};
        vd_model *m = NULL;
        int rc = vd_model_load(p, NULL, &m, &err);
        CHECKF(rc == 0, "dynamic input: %s", err.msg);
        if (rc) continue;
        int64_t h = with_sig ? 8 : 1, w = with_sig ? 6 : 1;
        const vd_tensor *in = vd_model_input(m, 0), *out = vd_model_output(m, 0);
        CHECKF(in->ndim == 4 && in->shape[0] == 1 && in->shape[1] == h && in->shape[2] == w &&
                   in->shape[3] == 3,
               "dynamic input (signature %d): input %lldx%lld", with_sig, (long long)in->shape[1],
               (long long)in->shape[2]);
        float x[8 * 6 * 3];
        for (int i = 0; i < 8 * 6 * 3; i++) x[i] = (float)i - 7.5f;
        size_t n = (size_t)(h * w * 3);
        rc = vd_model_run(m, x, n * sizeof *x, &err);
        CHECKF(rc == 0, "dynamic input: %s", err.msg);
        int bad = vd_tensor_numel(out) != (int64_t)n;
        for (size_t i = 0; !rc && !bad && i < n; i++) bad = ((const float *)out->data)[i] != -x[i];
        CHECKF(!bad, "dynamic input (signature %d): output", with_sig);
        vd_model_free(m);
    }
}

int main(void)
{
    char dir[] = "/tmp/vdag_nn_graphsXXXXXX";
    if (!mkdtemp(dir)) return 1;
    for (int i = 0; i < C * H * W; i++) x_nchw[i] = sinf(0.37f * (float)i);
    for (int i = 0; i < K * K * C * O; i++) filt[i] = cosf(0.11f * (float)i) - 0.2f;
    const int32_t perm[4] = {0, 2, 3, 1};
    const int32_t pads[8] = {0, 0, 1, 1, 1, 1, 0, 0};
    const tiny_weight w[] = {
        {"perm", "int32", 1, {4}, perm},
        {"pads", "int32", 2, {4, 2}, pads},
        {"f", "float32", 4, {K, K, C, O}, filt},
    };
#define PLACEHOLDER                                                                                \
    "{\"name\": \"x\", \"op\": \"Placeholder\", \"attr\": {\"dtype\": {\"type\": \"DT_FLOAT\"},"   \
    " \"shape\": {\"shape\": {\"dim\": [{\"size\": \"1\"}, {\"size\": \"3\"}, {\"size\": \"5\"},"  \
    " {\"size\": \"6\"}]}}}},"                                                                     \
    "{\"name\": \"perm\", \"op\": \"Const\", \"attr\": {\"dtype\": {\"type\": \"DT_INT32\"}}},"    \
    "{\"name\": \"pads\", \"op\": \"Const\", \"attr\": {\"dtype\": {\"type\": \"DT_INT32\"}}},"    \
    "{\"name\": \"f\", \"op\": \"Const\", \"attr\": {\"dtype\": {\"type\": \"DT_FLOAT\"}}},"       \
    "{\"name\": \"xt\", \"op\": \"Transpose\", \"input\": [\"x\", \"perm\"]},"
#define CONV(in, pad)                                                                              \
    "{\"name\": \"y\", \"op\": \"Conv2D\", \"input\": [\"" in "\", \"f\"], \"attr\": {"            \
    "\"strides\": {\"list\": {\"i\": [\"1\", \"1\", \"1\", \"1\"]}}, \"padding\": {\"s\": \"" pad  \
    "\"}}}"
    /* padding "SAME" / "VALID", base64 */
    const char *same =
        tiny_model(dir, "transposed", "[" PLACEHOLDER CONV("xt", "U0FNRQ==") "]", w, 3);
    CHECK(same != NULL);
    if (same) check_model(same, "Transpose -> Conv2D SAME");
    const char *padded =
        tiny_model(dir, "padded",
                   "[" PLACEHOLDER "{\"name\": \"xp\", \"op\": \"Pad\", \"input\": [\"xt\", "
                   "\"pads\"]}," CONV("xp", "VkFMSUQ=") "]",
                   w, 3);
    CHECK(padded != NULL);
    if (padded) check_model(padded, "Transpose -> Pad -> Conv2D VALID");
    test_dynamic_input(dir);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return vt_finish();
}
