/* The fusions of the nn runtime on tiny hand-built graphs, each checked against a direct
 * C computation of what the TF ops say, and (through the profile's op labels) that the
 * fused form ran:
 *  - hard-swish in both TF spellings, with 1/6 rounded to float16 as converted models
 *    store it, feeding a convolution (the leftover scale folds into its weights) or a
 *    model output (the scale is applied);
 *  - the same pattern with an inner node read elsewhere: not fused, still right;
 *  - a squeeze-excite block: Mean, a scalar Mul (lazy), the channel product;
 *  - x * cast(x == maxpool(x)) as one kernel;
 *  - a channel concat of a convolution and a resize written in place, then Relu;
 *  - a max pool padded with zero channels for a residual add (BlazeFace, FaceMesh): the
 *    pool writes into the padded buffer, no Pad step, and the zeros survive runs.
 * Each model runs twice; the second run's output is checked. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_nn_tiny.h"
#include "testlib.h"
#include "vdag/nn.h"

enum { H = 4, W = 4, C = 8, O = 4 };

static float x[H * W * C], f1[C * O], f2[C * 3], f3[C * (C + 4)];
static const float sixth16 = 0.1666259765625f; /* float16(1/6) */

#define PH                                                                                         \
    "{\"name\": \"x\", \"op\": \"Placeholder\", \"attr\": {\"dtype\": {\"type\": \"DT_FLOAT\"},"   \
    " \"shape\": {\"shape\": {\"dim\": [{\"size\": \"1\"}, {\"size\": \"4\"}, {\"size\": \"4\"},"  \
    " {\"size\": \"8\"}]}}}},"
#define CONST(name)       "{\"name\": \"" name "\", \"op\": \"Const\", \"attr\": {}},"
#define OP(name, op, ins) "{\"name\": \"" name "\", \"op\": \"" op "\", \"input\": [" ins "]}"
#define CONV(name, in, f)                                                                          \
    "{\"name\": \"" name "\", \"op\": \"Conv2D\", \"input\": [\"" in "\", \"" f "\"], \"attr\": {" \
    "\"strides\": {\"list\": {\"i\": [\"1\", \"1\", \"1\", \"1\"]}}, \"padding\": {\"s\": "        \
    "\"VkFMSUQ=\"}}}"

static float relu6(float v)
{
    return v < 0 ? 0 : (v > 6 ? 6 : v);
}

/* The graph's hard-swish, op by op as TF computes it. */
static float hswish_tf(float v)
{
    return (v * sixth16) * relu6(v + 3);
}

/* Run the model at path on x twice; *out gets a copy of output `oi` (n values) of the
 * second run; the profile's text in *prof. Returns 0 or fails a check. */
static int run(const char *path, const char *what, int oi, float *out, int64_t n, char **prof)
{
    vd_error err = {0};
    vd_model *m = NULL;
    int rc = vd_model_load(path, NULL, &m, &err);
    CHECKF(rc == 0, "%s: %s", what, err.msg);
    if (rc) return rc;
    vd_model_set_profiling(m, 1);
    for (int r = 0; r < 2 && !rc; r++) rc = vd_model_run(m, x, sizeof x, &err);
    CHECKF(rc == 0, "%s: %s", what, err.msg);
    const vd_tensor *t = vd_model_output(m, oi);
    CHECKF(t && vd_tensor_numel(t) == n, "%s: output %d has %lld values, want %lld", what, oi,
           t ? (long long)vd_tensor_numel(t) : -1LL, (long long)n);
    int ok = !rc && t && vd_tensor_numel(t) == n;
    if (ok) memcpy(out, t->data, sizeof(float) * (size_t)n);
    size_t len = 0;
    FILE *f = open_memstream(prof, &len);
    vd_model_profile_print(m, f);
    fclose(f);
    vd_model_free(m);
    return ok ? 0 : -1;
}

static void compare(const char *what, const float *got, const float *want, int64_t n)
{
    int bad = 0;
    int64_t first = -1;
    for (int64_t i = 0; i < n; i++)
        if (!(fabsf(got[i] - want[i]) <= 1e-5f * fmaxf(1, fabsf(want[i]))) && !bad++) first = i;
    CHECKF(bad == 0, "%s: %d of %lld values off, first [%lld] %g vs %g", what, bad, (long long)n,
           (long long)first, first >= 0 ? got[first] : 0, first >= 0 ? want[first] : 0);
}

/* Steps under profile label `label` (0 if absent). */
static int steps_of(const char *prof, const char *label)
{
    const char *p = prof;
    size_t l = strlen(label);
    while ((p = strstr(p, label))) {
        if ((p == prof || p[-1] == ' ') && p[l] == ' ') return atoi(p + l);
        p += l;
    }
    return 0;
}

/* y = conv1x1(h, f1) for h given per element of x. */
static void conv_ref(const float *h, const float *f, int co, float *y)
{
    for (int p = 0; p < H * W; p++)
        for (int o = 0; o < co; o++) {
            double acc = 0;
            for (int c = 0; c < C; c++) acc += (double)h[p * C + c] * f[c * co + o];
            y[p * co + o] = (float)acc;
        }
}

static void test_hardswish(const char *dir, const tiny_weight *w, int nw)
{
    float h[H * W * C], y[H * W * O], got[H * W * C];
    for (int i = 0; i < H * W * C; i++) h[i] = hswish_tf(x[i]);
    conv_ref(h, f1, O, y);
    char *prof = NULL;
    /* Mul(Mul(c, x), Relu6(Add(x, 3))) into a convolution */
    const char *p = tiny_model(
        dir, "hswish1",
        "[" PH CONST("sixth") CONST("three") CONST("f1")
            OP("m", "Mul", "\"sixth\", \"x\"") "," OP("a", "Add", "\"x\", \"three\"") "," OP(
                "r", "Relu6", "\"a\"") "," OP("h", "Mul", "\"m\", \"r\"") "," CONV("y", "h",
                                                                                   "f1") "]",
        w, nw);
    CHECK(p != NULL);
    if (p && !run(p, "hard-swish -> conv", 0, got, H * W * O, &prof)) {
        compare("hard-swish -> conv", got, y, H * W * O);
        CHECKF(steps_of(prof, "Unary (xnn)") == 1 && steps_of(prof, "Binary (xnn)") == 0,
               "hard-swish -> conv: one hard-swish, no element-wise steps:\n%s", prof);
    }
    free(prof);
    prof = NULL;
    /* Mul(x, Mul(Relu6(AddV2(3, x)), c)) as the output: the scale is applied */
    p = tiny_model(dir, "hswish2",
                   "[" PH CONST("sixth") CONST("three")
                       OP("a", "AddV2", "\"three\", \"x\"") "," OP("r", "Relu6", "\"a\"") "," OP(
                           "s", "Mul", "\"r\", \"sixth\"") "," OP("h", "Mul", "\"x\", \"s\"") "]",
                   w, nw);
    CHECK(p != NULL);
    if (p && !run(p, "hard-swish output", 0, got, H * W * C, &prof)) {
        float want[H * W * C];
        for (int i = 0; i < H * W * C; i++) want[i] = x[i] * (relu6(x[i] + 3) * sixth16);
        compare("hard-swish output", got, want, H * W * C);
        CHECKF(steps_of(prof, "Unary (xnn)") == 1 && steps_of(prof, "Binary (xnn)") == 1,
               "hard-swish output: a hard-swish and its scale:\n%s", prof);
    }
    free(prof);
    prof = NULL;
    /* the inner x*c is read again: no fusion, same numbers */
    p = tiny_model(
        dir, "hswish3",
        "[" PH CONST("sixth") CONST("three")
            OP("m", "Mul", "\"x\", \"sixth\"") "," OP("a", "Add", "\"x\", \"three\"") "," OP(
                "r", "Relu6",
                "\"a\"") "," OP("h", "Mul", "\"m\", \"r\"") "," OP("y", "Add", "\"h\", \"m\"") "]",
        w, nw);
    CHECK(p != NULL);
    if (p && !run(p, "hard-swish, inner node read twice", 0, got, H * W * C, &prof)) {
        float want[H * W * C];
        for (int i = 0; i < H * W * C; i++) want[i] = hswish_tf(x[i]) + x[i] * sixth16;
        compare("hard-swish, inner node read twice", got, want, H * W * C);
        CHECKF(steps_of(prof, "Unary (xnn)") == 0, "inner node read twice: not fused:\n%s", prof);
    }
    free(prof);
}

static void test_squeeze_excite(const char *dir, const tiny_weight *w, int nw)
{
    /* r = Relu(x); s = Mean(r, [1, 2]) * 0.5; y = conv1x1(r * s) */
    float r[H * W * C], mean[C] = {0}, se[H * W * C], y[H * W * O], got[H * W * O];
    for (int i = 0; i < H * W * C; i++) r[i] = x[i] > 0 ? x[i] : 0;
    for (int i = 0; i < H * W * C; i++) mean[i % C] += r[i] / (H * W);
    for (int i = 0; i < H * W * C; i++) se[i] = r[i] * (mean[i % C] * 0.5f);
    conv_ref(se, f1, O, y);
    char *prof = NULL;
    const char *p = tiny_model(
        dir, "se",
        "[" PH CONST("half") CONST("f1") CONST("axes") OP(
            "r", "Relu",
            "\"x\"") ","
                     "{\"name\": \"mean\", \"op\": \"Mean\", \"input\": [\"r\", \"axes\"], "
                     "\"attr\": "
                     "{\"keep_dims\": {\"b\": true}}}," OP("s", "Mul", "\"mean\", \"half\"") "," OP(
                         "e", "Mul", "\"r\", \"s\"") "," CONV("y", "e", "f1") "]",
        w, nw);
    CHECK(p != NULL);
    if (p && !run(p, "squeeze-excite", 0, got, H * W * O, &prof)) {
        compare("squeeze-excite", got, y, H * W * O);
        CHECKF(steps_of(prof, "Binary (xnn)") == 1, "squeeze-excite: one product:\n%s", prof);
    }
    free(prof);
}

static void test_keep_equal(const char *dir, const tiny_weight *w, int nw)
{
    float want[H * W * C], got[H * W * C];
    for (int y0 = 0; y0 < H; y0++)
        for (int x0 = 0; x0 < W; x0++)
            for (int c = 0; c < C; c++) {
                float mx = -INFINITY, v = x[(y0 * W + x0) * C + c];
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int yy = y0 + dy, xx = x0 + dx;
                        if (yy >= 0 && yy < H && xx >= 0 && xx < W)
                            mx = fmaxf(mx, x[(yy * W + xx) * C + c]);
                    }
                want[(y0 * W + x0) * C + c] = v * (float)(v == mx);
            }
    char *prof = NULL;
    const char *p = tiny_model(
        dir, "peaks",
        "[" PH "{\"name\": \"mp\", \"op\": \"MaxPool\", \"input\": [\"x\"], \"attr\": {"
        "\"ksize\": {\"list\": {\"i\": [\"1\", \"3\", \"3\", \"1\"]}}, \"strides\": {\"list\": "
        "{\"i\": [\"1\", \"1\", \"1\", \"1\"]}}, \"padding\": {\"s\": \"U0FNRQ==\"}}}," OP(
            "e", "Equal", "\"mp\", \"x\"") ","
                                           "{\"name\": \"c\", \"op\": \"Cast\", \"input\": "
                                           "[\"e\"], \"attr\": {\"DstT\": "
                                           "{\"type\": \"DT_FLOAT\"}}}," OP("y", "Mul",
                                                                            "\"c\", \"x\"") "]",
        w, nw);
    CHECK(p != NULL);
    if (p && !run(p, "keep equal", 0, got, H * W * C, &prof)) {
        compare("keep equal", got, want, H * W * C);
        CHECKF(steps_of(prof, "_VdKeepEqual") == 1 && steps_of(prof, "Equal") == 0,
               "keep equal: one fused kernel:\n%s", prof);
    }
    free(prof);
}

static void test_concat(const char *dir, const tiny_weight *w, int nw)
{
    /* Relu(concat(conv1x1(x, f2), resize(x to its own size))) = Relu([conv, x]) */
    enum { CO = 3 + C };
    float cv[H * W * 3], want[H * W * CO], got[H * W * CO];
    conv_ref(x, f2, 3, cv);
    for (int p = 0; p < H * W; p++)
        for (int c = 0; c < CO; c++) {
            float v = c < 3 ? cv[p * 3 + c] : x[p * C + c - 3];
            want[p * CO + c] = v > 0 ? v : 0;
        }
    char *prof = NULL;
    const char *p = tiny_model(
        dir, "concat",
        "[" PH CONST("f2") CONST("size") CONST("axis") CONV(
            "a", "x",
            "f2") ","
                  "{\"name\": \"b\", \"op\": \"ResizeBilinear\", \"input\": [\"x\", \"size\"]}," OP(
                      "cat", "ConcatV2", "\"a\", \"b\", \"axis\"") "," OP("y", "Relu",
                                                                          "\"cat\"") "]",
        w, nw);
    CHECK(p != NULL);
    if (p && !run(p, "concat in place", 0, got, H * W * CO, &prof)) {
        compare("concat in place", got, want, H * W * CO);
        CHECKF(steps_of(prof, "ConcatV2") == 0, "concat in place: no copy:\n%s", prof);
    }
    free(prof);
}

static void test_channel_pad(const char *dir, const tiny_weight *w, int nw)
{
    /* AddV2(Pad(MaxPool3x3(x), 4 zero channels at the end), conv1x1(x, f3)) */
    enum { CP = C + 4 };
    float cv[H * W * CP], want[H * W * CP], got[H * W * CP];
    conv_ref(x, f3, CP, cv);
    for (int y0 = 0; y0 < H; y0++)
        for (int x0 = 0; x0 < W; x0++)
            for (int c = 0; c < CP; c++) {
                float mx = 0;
                if (c < C) {
                    mx = -INFINITY;
                    for (int dy = -1; dy <= 1; dy++)
                        for (int dx = -1; dx <= 1; dx++) {
                            int yy = y0 + dy, xx = x0 + dx;
                            if (yy >= 0 && yy < H && xx >= 0 && xx < W)
                                mx = fmaxf(mx, x[(yy * W + xx) * C + c]);
                        }
                }
                int i = (y0 * W + x0) * CP + c;
                want[i] = mx + cv[i];
            }
    char *prof = NULL;
    const char *p = tiny_model(
        dir, "chpad",
        "[" PH CONST("f3")
            CONST("pads") "{\"name\": \"mp\", \"op\": \"MaxPool\", \"input\": [\"x\"], \"attr\": {"
                          "\"ksize\": {\"list\": {\"i\": [\"1\", \"3\", \"3\", \"1\"]}}, "
                          "\"strides\": {\"list\": "
                          "{\"i\": [\"1\", \"1\", \"1\", \"1\"]}}, \"padding\": {\"s\": "
                          "\"U0FNRQ==\"}}}," OP("p", "Pad", "\"mp\", \"pads\"") "," CONV(
                              "z", "x", "f3") "," OP("y", "AddV2", "\"p\", \"z\"") "]",
        w, nw);
    CHECK(p != NULL);
    if (p && !run(p, "channel pad", 0, got, H * W * CP, &prof)) {
        compare("channel pad", got, want, H * W * CP);
        CHECKF(steps_of(prof, "Pad (xnn)") == 0 && steps_of(prof, "MaxPool (xnn)") == 1,
               "channel pad: written by the pool:\n%s", prof);
    }
    free(prof);
}

int main(void)
{
    char dir[] = "/tmp/vdag_nn_fuseXXXXXX";
    if (!mkdtemp(dir)) return 1;
    for (int i = 0; i < H * W * C; i++) x[i] = 5.0f * sinf(0.37f * (float)i);
    for (int i = 0; i < C * O; i++) f1[i] = cosf(0.11f * (float)i) - 0.2f;
    for (int i = 0; i < C * 3; i++) f2[i] = sinf(0.23f * (float)i);
    for (int i = 0; i < C * (C + 4); i++) f3[i] = cosf(0.19f * (float)i) - 0.1f;
    const float three = 3, half = 0.5f;
    const int32_t axes[2] = {1, 2}, size[2] = {H, W}, axis = 3, pads[8] = {0, 0, 0, 0, 0, 0, 0, 4};
    const tiny_weight w[] = {
        {"sixth", "float32", 0, {0}, &sixth16},
        {"three", "float32", 0, {0}, &three},
        {"half", "float32", 0, {0}, &half},
        {"f1", "float32", 4, {1, 1, C, O}, f1},
        {"f2", "float32", 4, {1, 1, C, 3}, f2},
        {"axes", "int32", 1, {2}, axes},
        {"size", "int32", 1, {2}, size},
        {"axis", "int32", 0, {0}, &axis},
        {"f3", "float32", 4, {1, 1, C, C + 4}, f3},
        {"pads", "int32", 2, {4, 2}, pads},
    };
    /* each model lists only the weights it uses: tiny_model writes all of them, and the
     * loader skips those without a node */
    int nw = (int)(sizeof w / sizeof *w);
    test_hardswish(dir, w, nw);
    test_squeeze_excite(dir, w, nw);
    test_keep_equal(dir, w, nw);
    test_concat(dir, w, nw);
    test_channel_pad(dir, w, nw);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return vt_finish();
}
