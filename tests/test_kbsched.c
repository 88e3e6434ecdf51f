/* The cost model with a link model, coded bytes, per-node delays, node CPU and measured
 * accuracy; the reasons schedulers give. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "vdag/base.h"
#include "vdag/sched.h"
#include "vdag/svc.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

static vd_dag *pipeline(const char *csv)
{
    vd_dag *d = NULL;
    vd_error err = {0};
    if (vd_dag_from_pipeline(csv, &d, &err)) fprintf(stderr, "%s\n", err.msg);
    return d;
}

/* face_detection m0 30/20/15 ms, m1 20/14/10, face_alignment 40/30/25 (720/480/360); JPEG
 * bytes 0.05 per pixel at q85 and 0.025 at q50, 2 ms to encode and 1 ms to decode at 720p;
 * accuracy measured for face_detection only. */
static vd_kb *kb_new(int with_acc)
{
    vd_kb *kb = vd_kb_new();
    const int res[3] = {720, 480, 360};
    const double fd0[3] = {30, 20, 15}, fd1[3] = {20, 14, 10}, fa[3] = {40, 30, 25};
    for (int i = 0; i < 3; i++) {
        vd_kb_set(kb, "face_detection", 0, res[i], fd0[i]);
        vd_kb_set(kb, "face_detection", 1, res[i], fd1[i]);
        vd_kb_set(kb, "face_alignment", 0, res[i], fa[i]);
    }
    for (int q = 0; q < 2; q++) {
        vd_kb_bytes b = {.width = 1280,
                         .bytes = (q ? 0.025 : 0.05) * 1280 * 720,
                         .enc_ms = 2,
                         .dec_ms = 1,
                         .n = 10};
        vd_kb_set_bytes(kb, 720, VD_ENC_JPEG, q ? 50 : 85, &b);
    }
    if (with_acc) {
        const int hs[2] = {720, 360};
        for (int m = 0; m < 2; m++)
            for (int a = 0; a < 2; a++)
                for (int t = 0; t < 2; t++) {
                    vd_kb_acc_key k = {.service = "face_detection",
                                       .field = "bbox",
                                       .model_id = m,
                                       .res = hs[a],
                                       .ntracking = 2 * t,
                                       .src_fps = 10};
                    vd_kb_acc v = {.metric = VD_METRIC_F1, .n = 10};
                    v.value = 1.0 - 0.2 * m - 0.1 * a - 0.3 * t;
                    vd_kb_set_acc(kb, &k, &v);
                }
        vd_kb_acc_key k = {.service = "face_detection",
                           .field = "bbox",
                           .res = 720,
                           .src_fps = 10,
                           .enc = VD_ENC_JPEG,
                           .quality = 50};
        vd_kb_acc v = {.metric = VD_METRIC_F1, .value = 0.5, .n = 10};
        vd_kb_set_acc(kb, &k, &v);
    }
    return kb;
}

static vd_sched_input input(const vd_dag *d, const vd_kb *kb)
{
    vd_sched_input in = {0};
    in.dag = d;
    in.edge = "edge1";
    in.kb = kb;
    in.native_h = 720;
    in.native_w = 1280;
    in.native_fps = 10;
    return in;
}

static void test_cost(void)
{
    vd_dag *d = pipeline("face_detection,face_alignment");
    vd_kb *kb = kb_new(0);
    vd_node_info nodes[2] = {{.name = "edge1", .role = "edge", .n_cores = 2, .speed = 1},
                             {.name = "cloud1", .role = "cloud", .n_cores = 4, .speed = 4}};
    vd_sched_input in = input(d, kb);
    in.nodes = nodes;
    in.n_nodes = 2;
    vd_plan p;
    vd_plan_default(d, "edge1", &p);
    CHECK(NEAR(vd_plan_predict(&in, &p), 0.070));
    /* face_alignment on the cloud: 40/4 ms + 46080 B at the default 100 MB/s + 1 ms RTT + 1 ms
     * decode, and the 2 ms encode once */
    snprintf(p.map[1].node, sizeof p.map[1].node, "cloud1");
    double want = 0.030 + (0.010 + 46080 / 100e6 + 0.001 + 0.001) + 0.002;
    CHECKF(NEAR(vd_plan_predict(&in, &p), want), "%g vs %g", vd_plan_predict(&in, &p), want);
    /* a link model: 1 MB/s and 20 ms to cloud1 (given in the other direction: symmetric) */
    vd_link links[1] = {{.from = "cloud1", .to = "edge1", .bw_Bps = 1e6, .rtt_s = 0.02}};
    in.links = links;
    in.n_links = 1;
    want = 0.030 + (0.010 + 46080 / 1e6 + 0.020 + 0.001) + 0.002;
    CHECKF(NEAR(vd_plan_predict(&in, &p), want), "%g vs %g", vd_plan_predict(&in, &p), want);
    double bw, rtt;
    vd_link_get(&in, "edge1", "edge9", &bw, &rtt);
    CHECK(bw == VD_LINK_DEFAULT_BPS && rtt == VD_LINK_DEFAULT_RTT_S);
    /* quality 50: half the bytes */
    p.quality = 50;
    want = 0.030 + (0.010 + 23040 / 1e6 + 0.020 + 0.001) + 0.002;
    CHECKF(NEAR(vd_plan_predict(&in, &p), want), "%g vs %g", vd_plan_predict(&in, &p), want);
    p.quality = 0;
    /* the detector remote with ntracking 2: its compute, transfer and the encode on 1 frame
     * in 3 */
    vd_plan q;
    vd_plan_default(d, "edge1", &q);
    snprintf(q.map[0].node, sizeof q.map[0].node, "cloud1");
    q.ntracking = 2;
    want = (0.030 / 4 + 46080 / 1e6 + 0.020 + 0.001) / 3 + 0.040 + 0.002 / 3;
    CHECKF(NEAR(vd_plan_predict(&in, &q), want), "%g vs %g", vd_plan_predict(&in, &q), want);
    in.links = NULL;
    in.n_links = 0;

    /* a merged kb: cloud1's own measurements replace speed scaling */
    vd_kb *m = vd_kb_new(), *ckb = vd_kb_new();
    vd_error err = {0};
    vd_kb_set(ckb, "face_alignment", 0, 720, 5);
    CHECK(vd_kb_merge(m, kb, "edge1", &err) == 0 && vd_kb_merge(m, ckb, "cloud1", &err) == 0);
    in.kb = m;
    nodes[1].speed = 1; /* as measured */
    want = 0.030 + (0.005 + 46080 / 100e6 + 0.001 + 0.001) + 0.002;
    CHECKF(NEAR(vd_plan_predict(&in, &p), want), "%g vs %g", vd_plan_predict(&in, &p), want);
    nodes[1].speed = 2; /* twice as fast as its measurements (the kb scheduler's calibration) */
    want = 0.030 + (0.0025 + 46080 / 100e6 + 0.001 + 0.001) + 0.002;
    CHECKF(NEAR(vd_plan_predict(&in, &p), want), "%g vs %g", vd_plan_predict(&in, &p), want);
    nodes[1].speed = 4;
    in.kb = kb;
    vd_kb_free(m);
    vd_kb_free(ckb);

    /* node CPU: at 10 fps the edge runs 30 ms of detection per frame on 2 cores: 0.15 */
    CHECK(NEAR(vd_plan_node_cpu(&in, &p, "edge1"), 0.030 * 10 / 2));
    CHECK(NEAR(vd_plan_node_cpu(&in, &p, "cloud1"), 0.010 * 10 / 4));
    CHECK(vd_plan_cpu_fits(&in, &p));
    nodes[0].cpu_pct = 85; /* 0.85 busy: 0.10 left, the plan needs 0.15 */
    CHECK(NEAR(vd_plan_node_headroom(&in, "edge1"), VD_PLAN_CPU_MAX - 0.85));
    CHECK(!vd_plan_cpu_fits(&in, &p));
    in.last_plan = &p; /* the running plan's own share is in the measurement */
    CHECK(NEAR(vd_plan_node_headroom(&in, "edge1"), VD_PLAN_CPU_MAX - 0.85 + 0.15));
    CHECK(vd_plan_cpu_fits(&in, &p));
    in.last_plan = NULL;
    nodes[0].cpu_pct = 0;
    vd_kb_free(kb);
    vd_dag_free(d);
}

static void test_accuracy(void)
{
    vd_dag *d = pipeline("face_detection,face_alignment");
    vd_kb *kb = kb_new(1);
    vd_sched_input in = input(d, kb);
    vd_plan p;
    vd_plan_default(d, "edge1", &p);
    /* measured for the detector, heuristic (1.0 at 720, model 0) for face_alignment */
    CHECK(NEAR(vd_plan_accuracy(&in, &p), 1.0));
    p.map[0].model_id = 1;
    p.resolution_h = 360;
    CHECKF(NEAR(vd_plan_accuracy(&in, &p), 0.7 * vd_kb_accuracy("face_alignment", 0, 360)), "%g",
           vd_plan_accuracy(&in, &p));
    p.ntracking = 2; /* measured: no heuristic tracking penalty on top */
    CHECKF(NEAR(vd_plan_accuracy(&in, &p), 0.4 * 0.9), "%g", vd_plan_accuracy(&in, &p));
    /* remote detector at quality 50: the coded/raw factor 0.5 */
    vd_node_info nodes[1] = {{.name = "cloud1", .role = "cloud", .speed = 1}};
    in.nodes = nodes;
    in.n_nodes = 1;
    vd_plan_default(d, "edge1", &p);
    snprintf(p.map[0].node, sizeof p.map[0].node, "cloud1");
    p.quality = 50;
    CHECKF(NEAR(vd_plan_accuracy(&in, &p), 0.5), "%g", vd_plan_accuracy(&in, &p));
    vd_kb_free(kb);
    /* without measured accuracy the old heuristic, penalties included */
    kb = kb_new(0);
    in.kb = kb;
    vd_plan_default(d, "edge1", &p);
    p.ntracking = 2;
    CHECK(NEAR(vd_plan_accuracy(&in, &p), 1 - 0.03 * 2));
    vd_kb_free(kb);
    vd_dag_free(d);
}

static void copy_enc(vd_plan *p, const char *e)
{
    snprintf(p->encoder, sizeof p->encoder, "%s", e);
}

/* plan JSON: quality round trip, H264 taken, an unknown encoder refused naming both */
static void test_plan_json(void)
{
    vd_dag *d = pipeline("face_detection");
    vd_plan p, q;
    vd_plan_default(d, "e", &p);
    p.quality = 60;
    json_t *j = vd_plan_to_json(&p);
    vd_error err = {0};
    CHECK(vd_plan_from_json(j, d, "plan", &q, &err) == 0 && q.quality == 60 &&
          vd_plan_equal(&p, &q));
    json_decref(j);
    vd_plan_default(d, "e", &p);
    j = vd_plan_to_json(&p);
    CHECK(!json_object_get(json_object_get(j, "video_conf"), "quality"));
    json_decref(j);
    j = json_loads("{\"video_conf\":{\"encoder\":\"H264\"}}", 0, NULL);
    CHECK(vd_plan_from_json(j, d, "plan", &q, &err) == 0 && !strcmp(q.encoder, "H264"));
    json_decref(j);
    j = json_loads("{\"video_conf\":{\"encoder\":\"VP9\"}}", 0, NULL);
    CHECK(vd_plan_from_json(j, d, "plan", &q, &err) == VD_EINVAL && strstr(err.msg, "H264"));
    json_decref(j);
    /* a user's (the seed's) H264, however spelled: H264, through a round trip */
    j = json_loads("{\"video_conf\":{\"encoder\":\"h.264\"}}", 0, NULL);
    vd_plan_json_user(j);
    CHECK(vd_plan_from_json(j, d, "plan", &q, &err) == 0 && !strcmp(q.encoder, "H264") &&
          !q.asked_encoder[0]);
    json_decref(j);
    j = vd_plan_to_json(&q);
    vd_plan r;
    CHECK(vd_plan_from_json(j, d, "plan", &r, &err) == 0 && vd_plan_equal(&q, &r));
    p = r;
    copy_enc(&p, "JPEG");
    CHECK(!vd_plan_equal(&p, &r)); /* an H264 plan is not the same plan as a JPEG one */
    json_decref(j);
    /* a plan stored before H.264 existed: asked for it, sent as JPEG */
    j = json_loads("{\"video_conf\":{\"encoder\":\"JPEG\",\"asked_encoder\":\"H264\"}}", 0, NULL);
    CHECK(vd_plan_from_json(j, d, "plan", &q, &err) == 0 && !strcmp(q.asked_encoder, "H264"));
    json_decref(j);
    j = json_loads("{\"video_conf\":{\"encoder\":\"JPEG\",\"asked_encoder\":\"VP9\"}}", 0, NULL);
    CHECK(vd_plan_from_json(j, d, "plan", &q, &err) == VD_EINVAL &&
          strstr(err.msg, "asked_encoder"));
    json_decref(j);
    j = json_loads("{\"video_conf\":{\"quality\":101}}", 0, NULL);
    CHECK(vd_plan_from_json(j, d, "plan", &q, &err) == VD_EINVAL && strstr(err.msg, "quality"));
    json_decref(j);
    vd_dag_free(d);
}

static void test_reasons(void)
{
    vd_dag *d = pipeline("face_detection,face_alignment");
    vd_kb *kb = kb_new(0);
    vd_sched *s;
    vd_error err = {0};
    CHECK(vd_sched_new("feedback", &s, &err) == 0);
    vd_sched_input in = input(d, kb);
    in.delay_bound = 0.1;
    vd_plan p, next;
    CHECK(vd_sched_plan(s, &in, &p, &err) == 0);
    CHECK(vd_sched_last_reason(s)->code == VD_WHY_START &&
          !strcmp(vd_sched_why_name(VD_WHY_START), "start"));
    /* 3x over the bound: a degrade step, saying what it measured */
    vd_plan_result r = {.n_frames = 30, .total_delay = 0.3};
    in.last_plan = &p;
    in.last = &r;
    CHECK(vd_sched_plan(s, &in, &next, &err) == 0 && !vd_plan_equal(&p, &next));
    const vd_sched_reason *why = vd_sched_last_reason(s);
    CHECKF(why->code == VD_WHY_CONTROL && strstr(why->text, "degrade") &&
               strstr(why->text, "0.300"),
           "%d %s", why->code, why->text);
    /* kept: no reason */
    r.total_delay = 0.09;
    in.last_plan = &next;
    CHECK(vd_sched_plan(s, &in, &p, &err) == 0);
    CHECK(vd_plan_equal(&p, &next) && vd_sched_last_reason(s)->code == VD_WHY_NONE);
    vd_sched_free(s);
    CHECK(vd_sched_new("fixed", &s, &err) == 0);
    in.last_plan = NULL;
    in.last = NULL;
    CHECK(vd_sched_plan(s, &in, &p, &err) == 0 && vd_sched_last_reason(s)->code == VD_WHY_START);
    vd_plan none[1];
    CHECK(vd_sched_probes_wanted(s, none, 1) == 0);
    vd_sched_free(s);
    vd_kb_free(kb);
    vd_dag_free(d);
}

int main(void)
{
    test_cost();
    test_accuracy();
    test_plan_json();
    test_reasons();
    return vt_finish();
}
