/* Every load/run error of the nn runtime, on corrupted copies of real models and on
 * small crafted models (test_nn_tiny.h): each gives the right code and a message naming
 * the file (and node/op), never a crash, and leaks nothing (checked under ASan/LSan).
 * Also: uint8 and float16 weights. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_nn_tiny.h"
#include "testlib.h"
#include "vdag/base.h"
#include "vdag/nn.h"
#include "vdag/nninput.h"

static char dir[256];

static char *slurp(const char *path, size_t *n)
{
    char *b = NULL;
    if (vd_read_file(path, 0, &b, n, NULL)) return NULL;
    return b;
}

static void spit(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
}

/* Copy model NAME into dir as "<tag>.json" + "<tag>.bin" (manifest path rewritten);
 * returns the json path (static buffer). */
static const char *copy_model(const char *name, const char *tag, json_t **doc_out)
{
    static char out[512];
    json_error_t je;
    json_t *doc = json_load_file(vt_model(name), JSON_PRESERVE_ORDER, &je);
    char src_bin[1024], dst_bin[512];
    snprintf(src_bin, sizeof src_bin, "%s", vt_model(name));
    strcpy(strrchr(src_bin, '.'), ".bin");
    snprintf(dst_bin, sizeof dst_bin, "%s/%s.bin", dir, tag);
    size_t n;
    char *bin = slurp(src_bin, &n);
    spit(dst_bin, bin, n);
    free(bin);
    char binname[128];
    snprintf(binname, sizeof binname, "%s.bin", tag);
    json_t *paths =
        json_object_get(json_array_get(json_object_get(doc, "weightsManifest"), 0), "paths");
    json_array_set_new(paths, 0, json_string(binname));
    snprintf(out, sizeof out, "%s/%s.json", dir, tag);
    if (doc_out)
        *doc_out = doc;
    else {
        json_dump_file(doc, out, 0);
        json_decref(doc);
    }
    return out;
}

static void expect_load_error(const char *path, int code, const char *a, const char *b,
                              const char *c)
{
    vd_error err = {0};
    vd_model *m = (vd_model *)0x1;
    int rc = vd_model_load(path, NULL, &m, &err);
    CHECKF(rc == code, "%s: got %d (%s), want %d", path, rc, err.msg, code);
    CHECK(m == NULL);
    CHECKF(strstr(err.msg, path) || (a && strstr(err.msg, a)), "message names the file: %s",
           err.msg);
    if (a) CHECKF(strstr(err.msg, a) != NULL, "message lacks '%s': %s", a, err.msg);
    if (b) CHECKF(strstr(err.msg, b) != NULL, "message lacks '%s': %s", b, err.msg);
    if (c) CHECKF(strstr(err.msg, c) != NULL, "message lacks '%s': %s", c, err.msg);
    if (!rc) vd_model_free(m);
}

static json_t *find_node(json_t *doc, const char *op)
{
    json_t *nodes = json_object_get(json_object_get(doc, "modelTopology"), "node");
    size_t i;
    json_t *n;
    json_array_foreach(nodes, i, n)
    {
        if (!strcmp(json_string_value(json_object_get(n, "op")), op)) return n;
    }
    return NULL;
}

static uint16_t f2h(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t s = (x >> 16) & 0x8000, e = (x >> 23) & 0xff, m = x & 0x7fffff;
    int ne = (int)e - 127 + 15;
    if (e == 0 || ne <= 0) return (uint16_t)s;
    if (ne >= 31) return (uint16_t)(s | 0x7c00);
    uint32_t h = s | ((uint32_t)ne << 10) | (m >> 13);
    if (m & 0x1000) h++; /* round */
    return (uint16_t)h;
}

/* Write a copy of `name` whose float32 weights are stored as uint8-affine (q=8) or
 * float16 (q=16). Returns the json path. */
static const char *quantized_copy(const char *name, const char *tag, int q)
{
    json_t *doc;
    const char *path = copy_model(name, tag, &doc);
    char src_bin[1024], dst_bin[512];
    snprintf(src_bin, sizeof src_bin, "%s", vt_model(name));
    strcpy(strrchr(src_bin, '.'), ".bin");
    snprintf(dst_bin, sizeof dst_bin, "%s/%s.bin", dir, tag);
    size_t n, off = 0, o = 0;
    char *bin = slurp(src_bin, &n);
    unsigned char *outb = malloc(n);
    json_t *ws =
        json_object_get(json_array_get(json_object_get(doc, "weightsManifest"), 0), "weights");
    size_t i;
    json_t *w;
    json_array_foreach(ws, i, w)
    {
        size_t cnt = 1, k;
        json_t *d;
        json_array_foreach(json_object_get(w, "shape"), k, d) cnt *= (size_t)json_integer_value(d);
        const char *dt = json_string_value(json_object_get(w, "dtype"));
        json_t *qq = json_object_get(w, "quantization");
        size_t esz = qq ? 2 : 4;
        if (strcmp(dt, "float32") != 0) {
            memcpy(outb + o, bin + off, cnt * esz);
            off += cnt * esz;
            o += cnt * esz;
            continue;
        }
        float *v = malloc(cnt * 4 + 4);
        for (k = 0; k < cnt; k++) {
            if (qq) { /* source is float16 already */
                uint16_t h;
                memcpy(&h, bin + off + 2 * k, 2);
                uint32_t sgn = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, mm = h & 0x3ff,
                         bits;
                if (e == 0) {
                    float f = ldexpf((float)mm, -24);
                    v[k] = sgn ? -f : f;
                    continue;
                }
                bits = sgn | ((e + 112) << 23) | (mm << 13);
                memcpy(&v[k], &bits, 4);
            } else {
                memcpy(&v[k], bin + off + 4 * k, 4);
            }
        }
        off += cnt * esz;
        json_t *nq = json_object();
        if (q == 0) { /* float32 holding exactly the values the uint8 copy dequantises to */
            float mn = INFINITY, mx = -INFINITY;
            for (k = 0; k < cnt; k++) mn = fminf(mn, v[k]), mx = fmaxf(mx, v[k]);
            float scale = mx > mn ? (mx - mn) / 255.0f : 1.0f;
            for (k = 0; k < cnt; k++) {
                float f = (float)((double)lrintf((v[k] - mn) / scale) * (double)scale + (double)mn);
                memcpy(outb + o, &f, 4);
                o += 4;
            }
            json_object_del(w, "quantization");
        } else if (q == 8) {
            float mn = INFINITY, mx = -INFINITY;
            for (k = 0; k < cnt; k++) mn = fminf(mn, v[k]), mx = fmaxf(mx, v[k]);
            float scale = mx > mn ? (mx - mn) / 255.0f : 1.0f;
            for (k = 0; k < cnt; k++) outb[o++] = (unsigned char)lrintf((v[k] - mn) / scale);
            json_object_set_new(nq, "dtype", json_string("uint8"));
            json_object_set_new(nq, "scale", json_real(scale));
            json_object_set_new(nq, "min", json_real(mn));
        } else {
            for (k = 0; k < cnt; k++) {
                uint16_t h = f2h(v[k]);
                memcpy(outb + o, &h, 2);
                o += 2;
            }
            json_object_set_new(nq, "dtype", json_string("float16"));
        }
        json_object_set_new(w, "quantization", nq);
        free(v);
    }
    spit(dst_bin, outb, o);
    json_dump_file(doc, path, 0);
    json_decref(doc);
    free(bin);
    free(outb);
    return path;
}

/* Relative L1 distance of all outputs of two models on the same input. */
static double compare_models(const char *a, const char *b, const char *name)
{
    vd_error err = {0};
    vd_model *ma = NULL, *mb = NULL;
    if (vd_model_load(a, NULL, &ma, &err) || vd_model_load(b, NULL, &mb, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        vd_model_free(ma);
        return INFINITY;
    }
    void *in;
    size_t bytes;
    vd_nn_make_input(vd_model_input(ma, 0), name, "lcg:5", &in, &bytes, &err);
    vd_model_run(ma, in, bytes, &err);
    vd_model_run(mb, in, bytes, &err);
    double num = 0, den = 0;
    for (int i = 0; i < vd_model_n_outputs(ma); i++) {
        const vd_tensor *x = vd_model_output(ma, i), *y = vd_model_output(mb, i);
        for (int64_t k = 0; k < vd_tensor_numel(x); k++) {
            num += fabs(((float *)x->data)[k] - ((float *)y->data)[k]);
            den += fabs(((float *)x->data)[k]);
        }
    }
    free(in);
    vd_model_free(ma);
    vd_model_free(mb);
    return num / (den > 0 ? den : 1);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/vdag_nn_errXXXXXX");
    if (!mkdtemp(dir)) return 1;
    json_t *doc;
    char bin[600];

    /* (0) the activation cap: a model needing more than the limit is refused before any
     * allocation; the default takes it again */
    {
        vd_model *m = NULL;
        vd_error e = {0};
        vd_model_opts o = {.threads = 1};
        vd_nn_set_max_arena(64 * 1024);
        int rc = vd_model_load(vt_model("blazeface-back"), &o, &m, &e);
        CHECKF(rc == VD_ETOOBIG && !m && strstr(e.msg, "over the limit"), "rc %d: %s", rc, e.msg);
        vd_nn_set_max_arena(0);
        CHECK(vd_nn_max_arena() == VD_NN_MAX_ARENA_DEFAULT);
        CHECKF(vd_model_load(vt_model("blazeface-back"), &o, &m, &e) == 0 && m, "%s", e.msg);
        vd_model_free(m);
    }

    /* (a) unsupported op: names file, node and op */
    const char *p = copy_model("blazeface-back", "badop", &doc);
    json_t *relu = find_node(doc, "Relu");
    const char *relu_name = json_string_value(json_object_get(relu, "name"));
    char relu_copy[256];
    snprintf(relu_copy, sizeof relu_copy, "%s", relu_name);
    json_object_set_new(relu, "op", json_string("FancyOp"));
    json_dump_file(doc, p, 0);
    json_decref(doc);
    expect_load_error(p, VD_EUNSUPP, relu_copy, "FancyOp", "badop.json");

    /* (b) malformed JSON: truncated in the middle; error has line info */
    p = copy_model("facemesh", "trunc", NULL);
    size_t n;
    char *txt = slurp(p, &n);
    spit(p, txt, n / 2);
    free(txt);
    expect_load_error(p, VD_EFORMAT, "trunc.json:", "malformed", NULL);

    /* (c) missing shard */
    p = copy_model("facemesh", "noshard", NULL);
    snprintf(bin, sizeof bin, "%s/noshard.bin", dir);
    unlink(bin);
    expect_load_error(p, VD_EIO, "noshard.bin", "shard", NULL);

    /* (d) short shard */
    p = copy_model("facemesh", "short", NULL);
    snprintf(bin, sizeof bin, "%s/short.bin", dir);
    txt = slurp(bin, &n);
    spit(bin, txt, n / 2);
    free(txt);
    expect_load_error(p, VD_EFORMAT, "short.json", "too short", NULL);

    /* (e1) shard longer than the manifest says */
    p = copy_model("blazeface-front", "long", NULL);
    snprintf(bin, sizeof bin, "%s/long.bin", dir);
    txt = slurp(bin, &n);
    txt = realloc(txt, n + 100);
    memset(txt + n, 0, 100);
    spit(bin, txt, n + 100);
    free(txt);
    expect_load_error(p, VD_EFORMAT, "long.json", "mismatch", NULL);

    /* (e2) a weight's manifest shape changed: sizes disagree */
    p = copy_model("blazeface-front", "shape", &doc);
    json_t *w0 = json_array_get(
        json_object_get(json_array_get(json_object_get(doc, "weightsManifest"), 0), "weights"), 0);
    json_t *sh = json_object_get(w0, "shape");
    json_array_set_new(sh, 0, json_integer(json_integer_value(json_array_get(sh, 0)) + 1));
    json_dump_file(doc, p, 0);
    json_decref(doc);
    expect_load_error(p, VD_EFORMAT, "shape.json", "mismatch", NULL);

    /* (f) a nonexistent model */
    expect_load_error("/nonexistent/dir/model.json", VD_EIO, "/nonexistent/dir/model.json", "setup",
                      NULL);

    /* (g) not a graph model at all */
    char notm[512];
    snprintf(notm, sizeof notm, "%s/notmodel.json", dir);
    spit(notm, "{\"hello\": 1}", 12);
    expect_load_error(notm, VD_EFORMAT, "notmodel.json", "modelTopology", NULL);

    /* (h) a node input that names no node */
    p = copy_model("blazeface-front", "dangling", &doc);
    json_t *mp = find_node(doc, "MaxPool");
    json_array_set_new(json_object_get(mp, "input"), 0, json_string("no/such/node"));
    json_dump_file(doc, p, 0);
    json_decref(doc);
    expect_load_error(p, VD_EFORMAT, "no/such/node", "MaxPool", NULL);

    /* (i) wrong input size at run time */
    vd_error err = {0};
    vd_model *m = NULL;
    CHECK(vd_model_load(vt_model("blazeface-front"), NULL, &m, &err) == 0);
    if (m) {
        float small[16] = {0};
        CHECK(vd_model_run(m, small, sizeof small, &err) == VD_ESHAPE);
        CHECKF(strstr(err.msg, "1x128x128x3") != NULL, "%s", err.msg);
        vd_model_free(m);
    }

    /* (j) element counts are overflow-checked. The crafted model of issue 15: [1,64]
     * reshaped to 64 x 536903681 x 536838145, whose product wraps to 64 in int64
     * arithmetic (64 * (2^58 + 1) = 2^64 + 64) and so passed the size check. */
#define PH(dims)                                                                                   \
    "{\"name\": \"x\", \"op\": \"Placeholder\", \"attr\": {\"dtype\": {\"type\": "                 \
    "\"DT_FLOAT\"}, \"shape\": {\"shape\": {\"dim\": [" dims "]}}}}"
#define CONST_I32(name)                                                                            \
    "{\"name\": \"" name "\", \"op\": \"Const\", \"attr\": {\"dtype\": {\"type\": "                \
    "\"DT_INT32\"}}}"
    const int32_t wrap[3] = {64, 536903681, 536838145};
    const tiny_weight wrap_w = {"shape", "int32", 1, {3}, wrap};
    p = tiny_model(dir, "reshape_wrap",
                   "[" PH("{\"size\": \"1\"}, {\"size\": \"64\"}") "," CONST_I32(
                       "shape") ", {\"name\": \"r\", \"op\": \"Reshape\", \"input\": [\"x\", "
                                "\"shape\"]}]",
                   &wrap_w, 1);
    CHECK(p != NULL);
    if (p)
        expect_load_error(p, VD_ETOOBIG, "node 'r' (op Reshape)", "64x536903681x536838145", "2^48");
    /* the same target shape with a -1 (inferred dimension) */
    const int32_t wrap_neg[4] = {64, 536903681, 536838145, -1};
    const tiny_weight wrap_neg_w = {"shape", "int32", 1, {4}, wrap_neg};
    p = tiny_model(dir, "reshape_wrap_neg",
                   "[" PH("{\"size\": \"1\"}, {\"size\": \"64\"}") "," CONST_I32(
                       "shape") ", {\"name\": \"r\", \"op\": \"Reshape\", \"input\": [\"x\", "
                                "\"shape\"]}]",
                   &wrap_neg_w, 1);
    CHECK(p != NULL);
    if (p) expect_load_error(p, VD_ETOOBIG, "node 'r' (op Reshape)", "2^48", NULL);
    /* an input whose dimensions multiply to 3 * 2^64 (0 when wrapped) */
    p = tiny_model(dir, "input_wrap",
                   "[" PH("{\"size\": \"1\"}, {\"size\": \"4294967296\"}, "
                          "{\"size\": \"4294967296\"}, {\"size\": \"3\"}") "]",
                   NULL, 0);
    CHECK(p != NULL);
    if (p) expect_load_error(p, VD_ETOOBIG, "node 'x' (op Placeholder)", "4294967296", "2^48");
    /* a computed output shape: ResizeBilinear to 2^30 x 2^30 */
    const int32_t big_size[2] = {1 << 30, 1 << 30};
    const tiny_weight size_w = {"size", "int32", 1, {2}, big_size};
    p = tiny_model(
        dir, "resize_big",
        "[" PH("{\"size\": \"1\"}, {\"size\": \"4\"}, {\"size\": \"4\"}, "
               "{\"size\": \"3\"}") "," CONST_I32("size") ", {\"name\": \"rs\", \"op\": "
                                                          "\"ResizeBilinear\", \"input\": "
                                                          "[\"x\", \"size\"]}]",
        &size_w, 1);
    CHECK(p != NULL);
    if (p)
        expect_load_error(p, VD_ETOOBIG, "node 'rs' (op ResizeBilinear)",
                          "1x1073741824x1073741824x3", NULL);
    /* pads that make each spatial dimension ~2^32 */
    const int32_t big_pads[8] = {0, 0, INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX, 0, 0};
    const tiny_weight pads_w = {"pads", "int32", 2, {4, 2}, big_pads};
    p = tiny_model(dir, "pad_big",
                   "[" PH("{\"size\": \"1\"}, {\"size\": \"4\"}, {\"size\": \"4\"}, "
                          "{\"size\": \"3\"}") "," CONST_I32("pads") ", {\"name\": \"pd\", \"op\": "
                                                                     "\"Pad\", \"input\": [\"x\", "
                                                                     "\"pads\"]}]",
                   &pads_w, 1);
    CHECK(p != NULL);
    if (p) expect_load_error(p, VD_ETOOBIG, "node 'pd' (op Pad)", "2^48", NULL);
    /* a weight whose manifest shape multiplies to 2^64 (0 when wrapped) */
    p = copy_model("blazeface-front", "weight_wrap", &doc);
    w0 = json_array_get(
        json_object_get(json_array_get(json_object_get(doc, "weightsManifest"), 0), "weights"), 0);
    char w0name[256];
    snprintf(w0name, sizeof w0name, "weight '%s'", json_string_value(json_object_get(w0, "name")));
    json_object_set_new(w0, "shape", json_pack("[i,i,i,i]", 65536, 65536, 65536, 65536));
    json_dump_file(doc, p, 0);
    json_decref(doc);
    expect_load_error(p, VD_ETOOBIG, w0name, "65536x65536x65536x65536", "2^48");

    /* (k) index ops check ranks, axes and counts before they index: each of these wrote
     * or read outside a shape array or a constant before */
    const int32_t i32_zero[16] = {0}, i32_seven[1] = {7};
    const tiny_weight gather_w[] = {{"idx", "int32", 4, {1, 1, 2, 2}, i32_zero},
                                    {"axis", "int32", 0, {0}, i32_zero}};
#define PH4 PH("{\"size\": \"1\"}, {\"size\": \"2\"}, {\"size\": \"2\"}, {\"size\": \"2\"}")
    p = tiny_model(dir, "gather_rank",
                   "[" PH4 "," CONST_I32("idx") "," CONST_I32(
                       "axis") ", {\"name\": \"g\", \"op\": \"GatherV2\", \"input\": [\"x\", "
                               "\"idx\", \"axis\"]}]",
                   gather_w, 2); /* rank 4 gathered by rank-4 indices: rank 7 */
    CHECK(p != NULL);
    if (p) expect_load_error(p, VD_EUNSUPP, "node 'g' (op GatherV2)", "rank", NULL);
    const tiny_weight gather_ax_w[] = {{"idx", "int32", 1, {1}, i32_zero},
                                       {"axis", "int32", 0, {0}, i32_seven}};
    p = tiny_model(dir, "gather_axis",
                   "[" PH4 "," CONST_I32("idx") "," CONST_I32(
                       "axis") ", {\"name\": \"g\", \"op\": \"GatherV2\", \"input\": [\"x\", "
                               "\"idx\", \"axis\"]}]",
                   gather_ax_w, 2); /* axis 7 of a rank-4 tensor */
    CHECK(p != NULL);
    if (p) expect_load_error(p, VD_EFORMAT, "node 'g' (op GatherV2)", "axis", NULL);
    const tiny_weight gnd_w = {"idx", "int32", 4, {1, 2, 2, 2}, i32_zero};
    p = tiny_model(dir, "gathernd_rank",
                   "[" PH4 "," CONST_I32("idx") ", {\"name\": \"g\", \"op\": \"GatherNd\", "
                                                "\"input\": [\"x\", \"idx\"]}]",
                   &gnd_w, 1); /* rank-4 indices of depth 2 into rank 4: rank 5 ok; see below */
    CHECK(p != NULL);
    if (p) {
        vd_model *gm = NULL;
        vd_error ge = {0};
        CHECKF(vd_model_load(p, NULL, &gm, &ge) == 0, "GatherNd rank 5: %s", ge.msg);
        if (gm) CHECK(vd_model_output(gm, 0)->ndim == 5);
        vd_model_free(gm);
    }
    const tiny_weight gnd0_w = {"idx", "int32", 0, {0}, i32_zero};
    p = tiny_model(dir, "gathernd_scalar",
                   "[" PH4 "," CONST_I32("idx") ", {\"name\": \"g\", \"op\": \"GatherNd\", "
                                                "\"input\": [\"x\", \"idx\"]}]",
                   &gnd0_w, 1); /* scalar indices: no index depth */
    CHECK(p != NULL);
    if (p) expect_load_error(p, VD_ESHAPE, "node 'g' (op GatherNd)", "indices", NULL);
    p = tiny_model(
        dir, "pack_rank",
        "[" PH(
            "{\"size\": \"1\"}, {\"size\": \"1\"}, {\"size\": \"1\"}, "
            "{\"size\": \"1\"}, {\"size\": \"1\"}, {\"size\": \"2\"}") ", "
                                                                       "{\"name\": \"pk\", \"op\": "
                                                                       "\"Pack\", \"input\": "
                                                                       "[\"x\", \"x\"]}]",
        NULL, 0); /* rank 6 packed: rank 7 */
    CHECK(p != NULL);
    if (p) expect_load_error(p, VD_EUNSUPP, "node 'pk' (op Pack)", "rank", NULL);
    const int32_t sp_shape[1] = {4}, sp_vals[1] = {1}, sp_idx[6] = {0, 1, 2, 3, 0, 1};
    const tiny_weight sp_w[] = {{"si", "int32", 2, {2, 3}, sp_idx},
                                {"ss", "int32", 1, {1}, sp_shape},
                                {"sv", "int32", 1, {1}, sp_vals},
                                {"sd", "int32", 0, {0}, i32_zero}};
#define SPARSE                                                                                     \
    "[" PH4 "," CONST_I32("si") "," CONST_I32("ss") "," CONST_I32("sv") "," CONST_I32(             \
        "sd") ", {\"name\": \"sp\", \"op\": \"SparseToDense\", \"input\": [\"si\", \"ss\", "       \
              "\"sv\", \"sd\"]}, {\"name\": \"y\", \"op\": \"AddV2\", \"input\": [\"x\", "         \
              "\"sp\"]}]"
    p = tiny_model(dir, "sparse_rank", SPARSE, sp_w, 4); /* 3-D indices into a 1-D output */
    CHECK(p != NULL);
    if (p) expect_load_error(p, VD_ESHAPE, "node 'sp' (op SparseToDense)", "indices", NULL);
    const tiny_weight sp2_w[] = {{"si", "int32", 1, {3}, sp_idx},
                                 {"ss", "int32", 1, {1}, sp_shape},
                                 {"sv", "int32", 1, {2}, sp_idx},
                                 {"sd", "int32", 0, {0}, i32_zero}};
    p = tiny_model(dir, "sparse_values", SPARSE, sp2_w, 4); /* 3 indices, 2 values */
    CHECK(p != NULL);
    if (p) expect_load_error(p, VD_ESHAPE, "node 'sp' (op SparseToDense)", "values", NULL);

    /* uint8-affine and float16 weights load and agree with the float model */
    const char *q8 = quantized_copy("blazeface-front", "q8", 8);
    double d8 = compare_models(vt_model("blazeface-front"), q8, "blazeface-front");
    CHECKF(d8 < 0.5, "uint8 copy differs by %g (relative L1)", d8);
    /* exact dequantisation: the same numbers stored as float32 give the same outputs */
    const char *fq = quantized_copy("blazeface-front", "fq", 0);
    double dfq = compare_models(fq, q8, "blazeface-front");
    CHECKF(dfq < 1e-5, "uint8 dequantisation is not q*scale+min: %g", dfq);
    CHECKF(d8 > 0, "uint8 copy is identical: was it quantized? (%g)", d8);
    const char *q16 = quantized_copy("blazeface-front", "q16", 16);
    double d16 = compare_models(vt_model("blazeface-front"), q16, "blazeface-front");
    CHECKF(d16 < 1e-2, "float16 copy differs by %g", d16);
    const char *f16src = quantized_copy("facemesh", "fm8", 8); /* source weights are float16 */
    double dfm = compare_models(vt_model("facemesh"), f16src, "facemesh");
    CHECKF(dfm < 0.1, "facemesh uint8 copy differs by %g", dfm);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return vt_finish();
}
