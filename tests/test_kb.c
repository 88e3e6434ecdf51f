/* The knowledge base: accuracy metrics on known inputs (chosen by field type), the store and
 * its look-ups (delay per object and per node, accuracy interpolated in height, ntracking and
 * gap, the encoder's factor, bytes per pixel), the versioned file form (version 1 still read,
 * a newer one refused, a malformed one leaves the kb unchanged), the merge of nodes' kbs, a
 * real measurement on footage and `vdag profile --if-missing` on an old file. */
#include <libavutil/log.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"
#include "vdag/base.h"
#include "vdag/sched.h"
#include "vdag/svc.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

static void test_f1(void)
{
    vd_det g[2] = {{0, 0, 10, 10, 1, 0}, {20, 20, 30, 30, 1, 1}};
    vd_det p[3] = {{0, 0, 10, 10, 1, 0}, {21, 21, 31, 31, 1, 1}, {50, 50, 60, 60, 1, 0}};
    /* p0 = g0; p1 vs g1: IoU 81/119 = 0.68 >= 0.5; p2 unmatched: F1 = 2*2/(3+2) */
    CHECK(NEAR(vd_score_f1(p, 3, g, 2, 0.5f, 0), 0.8));
    CHECK(NEAR(vd_score_f1(p, 3, g, 2, 0.7f, 0), 0.4)); /* p1 no longer matches */
    p[1].cls = 0;                                       /* same boxes, another class */
    CHECK(NEAR(vd_score_f1(p, 3, g, 2, 0.5f, 1), 0.4));
    CHECK(NEAR(vd_score_f1(p, 3, g, 2, 0.5f, 0), 0.8));
    CHECK(NEAR(vd_score_f1(NULL, 0, NULL, 0, 0.5f, 0), 1.0));
    CHECK(NEAR(vd_score_f1(p, 1, NULL, 0, 0.5f, 0), 0.0));
    /* one prediction may match one golden box only */
    vd_det two[2] = {{0, 0, 10, 10, 1, 0}, {0, 0, 10, 10, 1, 0}};
    CHECK(NEAR(vd_score_f1(two, 2, g, 1, 0.5f, 0), 2.0 / 3));
}

static void test_fields(void)
{
    const vd_service *od = vd_service_find("object_detection"),
                     *fa = vd_service_find("face_alignment");
    const vd_service *pe = vd_service_find("pose_estimation"),
                     *fd = vd_service_find("face_detection");
    /* the primary field goes by type and flags, not by name */
    CHECK(!strcmp(vd_kb_primary_field(od)->name, "bbox"));
    CHECK(!strcmp(vd_kb_primary_field(fd)->name, "bbox"));
    CHECK(!strcmp(vd_kb_primary_field(fa)->name, "landmarks"));
    CHECK(!strcmp(vd_kb_primary_field(pe)->name, "keypoints"));
    static const vd_svc_field counts_only[] = {{"tally", VD_FT_COUNTS, 0}, {NULL, 0, 0}};
    vd_service fake = {.name = "fake", .out_schema = counts_only};
    CHECK(!strcmp(vd_kb_primary_field(&fake)->name, "tally"));
    static const vd_svc_field vectors[] = {{"v", VD_FT_VECTORS, 0}, {NULL, 0, 0}};
    fake.out_schema = vectors;
    CHECK(vd_kb_primary_field(&fake) == NULL);

    /* F1 of object_detection's bbox is class-aware (its schema has classes) */
    json_t *gold = json_loads("{\"bbox\":[[0,0,10,10],[20,20,30,30]],\"classes\":[0,2],"
                              "\"counts\":{\"person\":1,\"car\":1}}",
                              0, NULL);
    json_t *out = json_loads("{\"bbox\":[[0,0,10,10],[20,20,30,30]],\"classes\":[0,0],"
                             "\"counts\":{\"person\":2}}",
                             0, NULL);
    vd_score s;
    CHECK(vd_score_field(od, vd_service_output(od, "bbox"), out, gold, &s) == 0);
    CHECKF(s.metric == VD_METRIC_F1 && NEAR(s.value, 0.5) && NEAR(s.err, 0.5) && s.n_gold == 2,
           "%g", s.value);
    /* counts: person |2-1|/1 = 1, car |0-1|/1 = 1 -> value 0; mean abs error 1 */
    CHECK(vd_score_field(od, vd_service_output(od, "counts"), out, gold, &s) == 0);
    CHECKF(s.metric == VD_METRIC_COUNT && NEAR(s.value, 0) && NEAR(s.err, 1), "%g %g", s.value,
           s.err);
    json_decref(out);
    out = json_loads("{\"counts\":{\"person\":1,\"car\":1}}", 0, NULL);
    CHECK(vd_score_field(od, vd_service_output(od, "counts"), out, gold, &s) == 0 &&
          NEAR(s.value, 1) && NEAR(s.err, 0));
    json_decref(out);
    out = json_loads("{\"counts\":{\"person\":1,\"car\":4}}", 0, NULL); /* car 3/1 -> 1 */
    CHECK(vd_score_field(od, vd_service_output(od, "counts"), out, gold, &s) == 0 &&
          NEAR(s.value, 0.5) && NEAR(s.err, 1.5));
    json_decref(out);
    json_decref(gold);
    /* a field without a metric */
    CHECK(vd_score_field(fa, vd_service_output(fa, "head_pose"), NULL, NULL, &s) == VD_EUNSUPP);

    /* points: a 100x100 box (scale 100): within 5 px counts; the second person is missed */
    gold = json_loads("{\"bbox\":[[0,0,100,100],[200,0,300,100]],\"keypoints\":["
                      "[[10,10,0.9],[50,50,0.9],[90,90,0.1],[0,0,0.5]],[[210,10,1],[250,50,1]]]}",
                      0, NULL);
    out = json_loads("{\"bbox\":[[2,2,100,100]],\"keypoints\":["
                     "[[13,14,0.2],[50,50,0.8],[90,110,0.9],[0,0,0.5]]]}",
                     0, NULL);
    CHECK(vd_score_field(pe, vd_service_output(pe, "keypoints"), out, gold, &s) == 0);
    /* hits: (3,4) -> 0.05, (0,0), (0,20) -> 0.2 miss, (0,0): 3 of 6 points */
    CHECKF(s.metric == VD_METRIC_PCK && NEAR(s.value, 0.5) && s.n_gold == 6, "%g", s.value);
    CHECKF(NEAR(s.err, (0.05 + 0 + 0.2 + 0 + 1 + 1) / 6), "%g", s.err);
    json_decref(out);
    json_decref(gold);

    double n, frac;
    gold = json_loads("{\"bbox\":[[0,0,10,10],[0,0,30,30]]}", 0, NULL);
    vd_kb_content(od, gold, 100, 100, &n, &frac);
    CHECK(NEAR(n, 2) && NEAR(frac, (100 + 900) / 2.0 / 10000));
    CHECK(vd_kb_bucket(n, frac) == vd_kb_bucket_parse("n0-2/large"));
    CHECK(vd_kb_bucket(12, 0.001) == vd_kb_bucket_parse("n8+/small"));
    CHECK(!strcmp(vd_kb_bucket_name(vd_kb_bucket(5, 0.5)), "n3-7/large"));
    json_decref(gold);
}

/* A detector "det" with accuracy at 720 and 360, ntracking 0 and 2, nskip 0 and 2 at 10 fps. */
static vd_kb *synthetic(void)
{
    vd_kb *kb = vd_kb_new();
    const int hs[2] = {720, 360}, ts[2] = {0, 2}, ss[2] = {0, 2};
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 2; c++) {
                vd_kb_acc_key k = {.service = "det",
                                   .field = "bbox",
                                   .model_id = 0,
                                   .res = hs[a],
                                   .ntracking = ts[b],
                                   .nskip = ss[c],
                                   .src_fps = 10};
                vd_kb_acc v = {.metric = VD_METRIC_F1, .n = 10};
                v.value = (a ? 0.8 : 1.0) - 0.1 * b - 0.2 * c;
                v.bucket[1] = v.value - 0.3;
                v.bucket_n[1] = 4;
                v.bucket[3] = 0.99;
                v.bucket_n[3] = 2; /* too few frames to count */
                vd_kb_set_acc(kb, &k, &v);
            }
    vd_kb_acc_key k = {.service = "det",
                       .field = "bbox",
                       .res = 720,
                       .src_fps = 10,
                       .enc = VD_ENC_JPEG,
                       .quality = 50};
    vd_kb_acc v = {.metric = VD_METRIC_F1, .value = 0.9, .n = 10};
    vd_kb_set_acc(kb, &k, &v);
    k.quality = 90;
    v.value = 1.0;
    vd_kb_set_acc(kb, &k, &v);
    vd_kb_bytes b = {.width = 1280, .bytes = 92160, .n = 5, .enc_ms = 2, .dec_ms = 1};
    vd_kb_set_bytes(kb, 720, VD_ENC_JPEG, 80, &b);
    b = (vd_kb_bytes){.width = 640, .bytes = 23040, .n = 5, .enc_ms = 1, .dec_ms = 0.5};
    vd_kb_set_bytes(kb, 360, VD_ENC_JPEG, 80, &b);
    vd_kb_delay d = {.ms = 10, .p90_ms = 12, .ms_per_obj = 2, .obj_ref = 3, .n = 8};
    vd_kb_set_delay(kb, NULL, "det", 0, 720, &d);
    return kb;
}

static void test_lookups(void)
{
    vd_kb *kb = synthetic();
    vd_kb_acc_query q = {.service = "det", .model_id = 0, .res = 720, .bucket = -1};
    CHECK(NEAR(vd_kb_acc_predict(kb, &q), 1.0));
    q.res = 540; /* halfway in height */
    CHECKF(NEAR(vd_kb_acc_predict(kb, &q), 0.9), "%g", vd_kb_acc_predict(kb, &q));
    q.res = 1080; /* above the highest: its value */
    CHECK(NEAR(vd_kb_acc_predict(kb, &q), 1.0));
    q.res = 180; /* below the lowest: the line through 720 and 360, 0.8 - 0.1 */
    CHECKF(NEAR(vd_kb_acc_predict(kb, &q), 0.7), "%g", vd_kb_acc_predict(kb, &q));
    q.res = 720;
    q.ntracking = 1;
    CHECK(NEAR(vd_kb_acc_predict(kb, &q), 0.95));
    q.ntracking = 0;
    q.gap_s = 0.2; /* nskip 1 at 10 fps: between nskip 0 (0.1 s) and 2 (0.3 s) */
    CHECKF(NEAR(vd_kb_acc_predict(kb, &q), 0.9), "%g", vd_kb_acc_predict(kb, &q));
    q.gap_s = 0.04; /* 25 fps, every frame: as every frame of the clip */
    CHECK(NEAR(vd_kb_acc_predict(kb, &q), 1.0));
    q.gap_s = 0;
    q.bucket = 1; /* a bucket with enough frames overrides; one with too few does not */
    CHECK(NEAR(vd_kb_acc_predict(kb, &q), 0.7));
    q.bucket = 3;
    CHECK(NEAR(vd_kb_acc_predict(kb, &q), 1.0));
    q.bucket = -1;
    q.enc = VD_ENC_JPEG; /* coded / raw at 720: 0.9 at q50, 1.0 at q90: q70 -> 0.95 */
    q.quality = 70;
    CHECKF(NEAR(vd_kb_acc_predict(kb, &q), 0.95), "%g", vd_kb_acc_predict(kb, &q));
    q.res = 360;
    CHECKF(NEAR(vd_kb_acc_predict(kb, &q), 0.8 * 0.95), "%g", vd_kb_acc_predict(kb, &q));
    q.enc = VD_ENC_H264; /* nothing measured: factor 1 */
    CHECK(NEAR(vd_kb_acc_predict(kb, &q), 0.8));
    q.service = "other";
    CHECK(vd_kb_acc_predict(kb, &q) < 0);
    CHECK(vd_kb_has_accuracy(kb, "det") && !vd_kb_has_accuracy(kb, "other"));

    /* bytes: 0.1 byte per pixel at both heights */
    double em, dm;
    CHECK(NEAR(vd_kb_frame_bytes(kb, 854, 480, VD_ENC_JPEG, 80, &em, &dm), 0.1 * 854 * 480));
    double e360 = 1 / (640.0 * 360), e720 = 2 / (1280.0 * 720); /* encode ms per pixel */
    CHECKF(NEAR(em, (e360 + (e720 - e360) * (480 - 360) / 360.0) * 854 * 480), "%g", em);
    CHECK(NEAR(vd_kb_frame_bytes(kb, 1920, 1080, VD_ENC_JPEG, 30, NULL, NULL), 0.1 * 1920 * 1080));
    CHECK(vd_kb_frame_bytes(kb, 640, 360, VD_ENC_H264, 0, NULL, NULL) < 0);

    /* delay per object */
    CHECK(NEAR(vd_kb_ms_at(kb, NULL, "det", 0, 720, 0), 10));
    CHECK(NEAR(vd_kb_ms_at(kb, NULL, "det", 0, 720, 5), 14));
    CHECK(NEAR(vd_kb_ms_at(kb, "", "det", 0, 720, 0.5), 5));
    CHECK(NEAR(vd_kb_ms_at(kb, NULL, "det", 0, 720, -1), 10));
    CHECK(vd_kb_ms_at(kb, "cloud", "det", 0, 720, 0) < 0);
    vd_kb_free(kb);
}

static void test_json(void)
{
    vd_kb *kb = synthetic(), *kb2 = vd_kb_new();
    vd_kb_set_host(kb, "box1");
    vd_kb_set_profile_info(kb, json_pack("{s:i}", "frames", 16));
    vd_error err = {0};
    json_t *j = vd_kb_to_json(kb);
    CHECK(vd_kb_json_version(j) == VD_KB_VERSION);
    CHECKF(vd_kb_from_json(kb2, j, &err) == 0, "%s", err.msg);
    json_t *j2 = vd_kb_to_json(kb2);
    char *a = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT),
         *b = json_dumps(j2, JSON_SORT_KEYS | JSON_COMPACT);
    CHECKF(!strcmp(a, b), "round trip differs:\n%s\n%s", a, b);
    char host[64];
    CHECK(!strcmp(vd_kb_host(kb2, host, sizeof host), "box1"));
    free(a);
    free(b);
    json_decref(j2);

    /* a malformed entry names its field and leaves the kb unchanged */
    json_t *bad = json_deep_copy(j);
    json_object_set_new(json_array_get(json_object_get(bad, "accuracy"), 3), "value",
                        json_real(1.5));
    vd_kb *kb3 = vd_kb_new();
    CHECK(vd_kb_from_json(kb3, bad, &err) == VD_EFORMAT && strstr(err.msg, "kb.accuracy[3].value"));
    CHECK(!vd_kb_has_accuracy(kb3, NULL) && vd_kb_ms(kb3, "det", 0, 720) < 0);
    json_decref(bad);
    bad = json_deep_copy(j);
    json_object_set_new(bad, "version", json_integer(VD_KB_VERSION + 1));
    CHECK(vd_kb_from_json(kb3, bad, &err) == VD_EUNSUPP && strstr(err.msg, "re-profile"));
    json_decref(bad);
    bad = json_loads("{\"version\":2,\"delay\":[],\"accuracy\":[{\"service\":\"det\","
                     "\"field\":\"bbox\",\"model_id\":0,\"resolution\":480,\"src_fps\":10,"
                     "\"encoder\":\"JPEG\",\"metric\":\"f1\",\"value\":0.5,\"n\":3,"
                     "\"buckets\":{\"huge\":{\"value\":1,\"n\":1}}}]}",
                     0, NULL);
    CHECK(vd_kb_from_json(kb3, bad, &err) == VD_EFORMAT &&
          strstr(err.msg, "kb.accuracy[0].buckets.huge"));
    json_decref(bad);
    /* version 1: delays only */
    json_t *v1 = json_loads("{\"entries\":[{\"service\":\"det\",\"model_id\":1,\"resolution\":480,"
                            "\"ms\":7.5}]}",
                            0, NULL);
    CHECK(vd_kb_json_version(v1) == 1);
    CHECKF(vd_kb_from_json(kb3, v1, &err) == 0, "%s", err.msg);
    vd_kb_delay d;
    CHECK(vd_kb_get_delay(kb3, NULL, "det", 1, 480, &d) == 0 && NEAR(d.ms, 7.5) &&
          NEAR(d.p90_ms, 7.5));
    json_decref(v1);
    CHECK(vd_kb_json_version(json_object_get(j, "delay")) < 0);
    /* what an older reader sees of a version-2 document: its "entries", the own delays */
    json_t *old = json_pack("{s:O}", "entries", json_object_get(j, "entries"));
    vd_kb *kb4 = vd_kb_new();
    CHECK(vd_kb_json_version(old) == 1 && vd_kb_from_json(kb4, old, &err) == 0);
    CHECK(vd_kb_get_delay(kb4, NULL, "det", 0, 720, &d) == 0 && NEAR(d.ms, 10));
    json_decref(old);
    vd_kb_free(kb4);
    json_decref(j);
    vd_kb_free(kb);
    vd_kb_free(kb2);
    vd_kb_free(kb3);
}

static void test_merge(void)
{
    vd_kb *a = synthetic(), *b = synthetic(), *m = vd_kb_new();
    vd_error err = {0};
    /* b measured on another machine: slower, and another accuracy at one key */
    vd_kb_delay d = {.ms = 30, .p90_ms = 40, .n = 8};
    vd_kb_set_delay(b, NULL, "det", 0, 720, &d);
    vd_kb_acc_key k = {.service = "det", .field = "bbox", .res = 720, .src_fps = 10};
    vd_kb_acc v = {.metric = VD_METRIC_F1, .value = 0.4, .n = 30};
    vd_kb_set_acc(b, &k, &v);
    json_t *before = vd_kb_to_json(b);
    CHECK(vd_kb_merge(m, a, "edge1", &err) == 0 && vd_kb_merge(m, b, "cloud", &err) == 0);
    CHECK(vd_kb_merge(m, m, "x", &err) == VD_EINVAL);
    json_t *after = vd_kb_to_json(b);
    CHECK(json_equal(before, after)); /* src unchanged */
    json_decref(before);
    json_decref(after);
    CHECK(NEAR(vd_kb_ms_at(m, "edge1", "det", 0, 720, 0), 10));
    CHECK(NEAR(vd_kb_ms_at(m, "cloud", "det", 0, 720, 0), 30));
    CHECK(vd_kb_ms(m, "det", 0, 720) < 0 && vd_kb_has_node(m, "cloud") && !vd_kb_has_node(m, ""));
    vd_kb_acc got;
    CHECK(vd_kb_get_acc(m, &k, &got) == 0);
    CHECKF(NEAR(got.value, (1.0 * 10 + 0.4 * 30) / 40) && got.n == 40, "%g %d", got.value, got.n);
    CHECK(got.bucket_n[1] == 4 && NEAR(got.bucket[1], 0.7)); /* only a's bucket */
    k.nskip = 2;
    CHECK(vd_kb_get_acc(m, &k, &got) == 0 && NEAR(got.value, 0.8) && got.n == 20);
    vd_kb_bytes by;
    CHECK(vd_kb_get_bytes(m, 720, VD_ENC_JPEG, 80, &by) == 0 && NEAR(by.bytes, 92160) &&
          by.n == 10);
    /* merging a merged kb keeps the nodes' tags */
    vd_kb *m2 = vd_kb_new();
    CHECK(vd_kb_merge(m2, m, "ignored", &err) == 0 &&
          NEAR(vd_kb_ms_at(m2, "cloud", "det", 0, 720, 0), 30));
    vd_kb_free(m2);
    vd_kb_free(a);
    vd_kb_free(b);
    vd_kb_free(m);
}

/* A real measurement: face_detection on 8 frames of Megamind.avi at its height and 360. */
static void test_measure(void)
{
    const char *svcs[] = {"face_detection", NULL}, *clips[] = {vt_media("Megamind.avi"), NULL};
    static const int res[] = {360}, qs[] = {85};
    vd_kb_measure_opts o = {.services = svcs,
                            .clips = clips,
                            .n_frames = 8,
                            .res = res,
                            .n_res = 1,
                            .qualities = qs,
                            .n_qualities = 1,
                            .threads = 1};
    vd_kb *kb = vd_kb_new();
    vd_error err = {0};
    double t0 = vd_now_ms();
    CHECKF(vd_kb_measure(kb, &o, &err) == 0, "%s", err.msg);
    printf("measured face_detection in %.1f s\n", (vd_now_ms() - t0) / 1e3);
    json_t *info = vd_kb_profile_info(kb); /* the clip's rate as FFmpeg reports it */
    double fps = json_number_value(
        json_object_get(json_array_get(json_object_get(info, "clips"), 0), "fps"));
    json_decref(info);
    CHECKF(fabs(fps - 23.976) < 0.01, "%g", fps);
    vd_kb_acc_key k = {.service = "face_detection", .field = "bbox", .res = 528, .src_fps = fps};
    vd_kb_acc a;
    int rc = vd_kb_get_acc(kb, &k, &a);
    /* the golden configuration against itself */
    CHECKF(rc == 0 && a.metric == VD_METRIC_F1 && NEAR(a.value, 1) && a.n == 8,
           "rc %d value %g n %d", rc, a.value, a.n);
    int nb = 0;
    for (int b = 0; b < VD_KB_N_BUCKETS; b++) nb += a.bucket_n[b];
    CHECK(nb == 8);
    k.model_id = 1;
    k.res = 360;
    CHECK(vd_kb_get_acc(kb, &k, &a) == 0 && a.value >= 0 && a.value <= 1);
    double small = a.value;
    k.ntracking = 4, k.nskip = 4;
    CHECK(vd_kb_get_acc(kb, &k, &a) == 0 && a.value >= 0 && a.value <= 1);
    printf("model 1 at 360: F1 %.3f, with ntracking 4 and nskip 4: %.3f\n", small, a.value);
    /* other fields with a metric: landmarks, at every model and height, no grid */
    k = (vd_kb_acc_key){.service = "face_detection",
                        .field = "landmarks",
                        .model_id = 1,
                        .res = 360,
                        .src_fps = k.src_fps};
    CHECK(vd_kb_get_acc(kb, &k, &a) == 0 && a.metric == VD_METRIC_PCK);
    k.ntracking = 2;
    CHECK(vd_kb_get_acc(kb, &k, &a) == VD_ENOTFOUND);
    /* coded frames, delay, bytes */
    k = (vd_kb_acc_key){.service = "face_detection",
                        .field = "bbox",
                        .res = 360,
                        .src_fps = k.src_fps,
                        .enc = VD_ENC_JPEG,
                        .quality = 85};
    CHECK(vd_kb_get_acc(kb, &k, &a) == 0);
    vd_kb_delay d;
    CHECK(vd_kb_get_delay(kb, NULL, "face_detection", 0, 528, &d) == 0 && d.ms > 0 &&
          d.p90_ms >= d.ms && d.n == 8 && d.ms_per_obj == 0);
    CHECK(vd_kb_get_delay(kb, NULL, "face_detection", 1, 360, &d) == 0 && d.ms > 0);
    vd_kb_bytes by;
    CHECK(vd_kb_get_bytes(kb, 360, VD_ENC_JPEG, 85, &by) == 0 && by.bytes > 1000 && by.n == 8);
    CHECK(vd_kb_get_bytes(kb, 528, VD_ENC_JPEG, 85, &by) == 0 && by.width == 720);
    /* an unknown service, a bad height */
    const char *nope[] = {"nope", NULL};
    o.services = nope;
    CHECK(vd_kb_measure(kb, &o, &err) == VD_ENOTFOUND && strstr(err.msg, "face_detection"));
    static const int bad[] = {5};
    o.services = svcs, o.res = bad;
    CHECK(vd_kb_measure(kb, &o, &err) == VD_EINVAL && strstr(err.msg, "5"));
    vd_kb_free(kb);
}

/* `vdag profile --if-missing` re-profiles a version-1 file, saying so, and keeps a current one. */
static void test_cli(void)
{
    char path[] = "/tmp/vdag-kb-XXXXXX", cmd[1024];
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    const char *v1 = "{\"entries\":[{\"service\":\"face_detection\",\"model_id\":0,"
                     "\"resolution\":480,\"ms\":7}]}";
    CHECK(write(fd, v1, strlen(v1)) == (ssize_t)strlen(v1));
    close(fd);
    snprintf(cmd, sizeof cmd,
             "%s profile --if-missing --out %s --service face_detection --clip Megamind.avi "
             "--frames 6 2>&1",
             VDAG_BIN, path);
    int rc;
    char *out = vt_run(cmd, &rc);
    CHECKF(rc == 0 && out && strstr(out, "version-1") && strstr(out, "re-profiling"), "rc %d: %s",
           rc, out ? out : "");
    free(out);
    json_t *j = json_load_file(path, 0, NULL);
    CHECK(vd_kb_json_version(j) == VD_KB_VERSION &&
          json_array_size(json_object_get(j, "accuracy")) > 0);
    json_decref(j);
    out = vt_run(cmd, &rc); /* current: kept */
    CHECK(rc == 0 && out && !strstr(out, "re-profiling") && strstr(out, path));
    free(out);
    /* a version-2 file with delays only (what a node writes at start-up) is re-profiled too */
    FILE *f = fopen(path, "w");
    CHECK(f && fputs("{\"format\":\"vdag-kb\",\"version\":2,\"delay\":[]}", f) >= 0);
    if (f) fclose(f);
    snprintf(cmd, sizeof cmd,
             "%s profile --if-missing --out %s --service face_detection --clip Megamind.avi "
             "--frames 6 2>&1",
             VDAG_BIN, path);
    out = vt_run(cmd, &rc);
    CHECKF(rc == 0 && out && strstr(out, "delays only") && strstr(out, "re-profiling"), "%s",
           out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "%s profile --show %s", VDAG_BIN, path);
    out = vt_run(cmd, &rc);
    CHECK(rc == 0 && out && strstr(out, "face_detection") && strstr(out, "bbox f1"));
    free(out);
    unlink(path);
}

int main(void)
{
    av_log_set_level(AV_LOG_ERROR);
    test_f1();
    test_fields();
    test_lookups();
    test_json();
    test_merge();
    test_measure();
    test_cli();
    return vt_finish();
}
