/* Schedulers: plan JSON and its errors, the kb (interpolation, JSON, a tiny real profile),
 * "fixed", and "feedback" against a simulated plant (cold start, feasibility after a
 * slow-down and a tighter bound, stability under noise, the integral's memory). */
#include <libavutil/log.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "vdag/media.h"
#include "vdag/sched.h"

static vd_dag *pipeline(const char *csv)
{
    vd_dag *d = NULL;
    vd_error err = {0};
    if (vd_dag_from_pipeline(csv, &d, &err)) fprintf(stderr, "%s\n", err.msg);
    return d;
}

static void test_plan_json(void)
{
    vd_dag *d = pipeline("face_detection,face_alignment");
    CHECK(d != NULL);
    if (!d) return;
    vd_plan p, q;
    vd_plan_default(d, "edge1", &p);
    CHECK(p.n_stages == 2 && !strcmp(p.encoder, "JPEG") && !strcmp(p.map[1].role, "host"));
    p.resolution_h = 480;
    p.nskip = 2;
    p.ntracking = 3;
    p.fps = 10;
    p.map[0].model_id = 1;
    snprintf(p.map[1].node, sizeof p.map[1].node, "cloud1");
    snprintf(p.map[1].role, sizeof p.map[1].role, "cloud");
    json_t *j = vd_plan_to_json(&p);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    printf("plan: %s\n", s);
    CHECK(strstr(s, "\"resolution\":\"480p\"") != NULL);
    CHECK(strstr(s, "\"node_ip\":\"cloud1\"") != NULL);
    free(s);
    vd_error err = {0};
    CHECKF(vd_plan_from_json(j, d, "plan", &q, &err) == 0, "%s", err.msg);
    CHECK(vd_plan_equal(&p, &q));
    json_decref(j);

    /* integer resolution, missing stage -> model 0 on the job's edge ("") */
    j = json_loads("{\"video_conf\":{\"resolution\":360},\"flow_mapping\":{\"face_alignment\":"
                   "{\"model_id\":0,\"node_ip\":\"e2\",\"node_role\":\"edge\"}}}",
                   0, NULL);
    CHECKF(vd_plan_from_json(j, d, "plan", &q, &err) == 0, "%s", err.msg);
    CHECK(q.resolution_h == 360 && q.map[0].model_id == 0 && q.map[0].node[0] == 0 &&
          !strcmp(q.map[1].node, "e2") && !strcmp(q.map[1].role, "edge"));
    json_decref(j);

    struct {
        const char *json, *want;
    } bad[] = {
        {"{\"flow_mapping\":{\"face_detection\":{\"model_id\":3}}}",
         "plan.flow_mapping.face_detection.model_id: 3 is out of range (face_detection has "
         "models 0..1)"},
        {"{\"flow_mapping\":{\"object_detection\":{\"model_id\":0}}}",
         "plan.flow_mapping.object_detection: no such stage"},
        {"{\"video_conf\":{\"resolution\":\"huge\"}}", "plan.video_conf.resolution:"},
        {"{\"video_conf\":{\"resolution\":-5}}", "plan.video_conf.resolution:"},
        {"{\"video_conf\":{\"nskip\":-1}}", "plan.video_conf.nskip:"},
        {"{\"flow_mapping\":{\"face_alignment\":{\"node_role\":\"moon\"}}}",
         "plan.flow_mapping.face_alignment.node_role:"},
        {"[]", "plan: must be an object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = json_loads(bad[i].json, 0, NULL);
        vd_error_clear(&err);
        int rc = vd_plan_from_json(j, d, "plan", &q, &err);
        CHECKF(rc < 0 && strstr(err.msg, bad[i].want), "%s -> rc %d '%s'", bad[i].json, rc,
               err.msg);
        json_decref(j);
    }
    vd_dag_free(d);
}

static void test_kb(void)
{
    vd_kb *kb = vd_kb_new();
    CHECK(vd_kb_ms(kb, "face_detection", 0, 480) < 0);
    vd_kb_set(kb, "face_detection", 0, 360, 10);
    CHECK(fabs(vd_kb_ms(kb, "face_detection", 0, 360) - 10) < 1e-9);
    /* one point: proportional to pixels */
    CHECK(fabs(vd_kb_ms(kb, "face_detection", 0, 720) - 40) < 1e-9);
    vd_kb_set(kb, "face_detection", 0, 720, 20);
    /* between: linear in pixels: 480^2 is (480^2-360^2)/(720^2-360^2) = 0.259 of the way */
    double want = 10 + 10 * (480.0 * 480 - 360.0 * 360) / (720.0 * 720 - 360.0 * 360);
    CHECKF(fabs(vd_kb_ms(kb, "face_detection", 0, 480) - want) < 1e-9, "%g vs %g",
           vd_kb_ms(kb, "face_detection", 0, 480), want);
    /* beyond: between constant and proportional */
    double up = vd_kb_ms(kb, "face_detection", 0, 1080);
    CHECKF(up >= 20 && up <= 45, "%g", up);
    double down = vd_kb_ms(kb, "face_detection", 0, 240);
    CHECKF(down > 0 && down <= 10, "%g", down);
    CHECK(vd_kb_ms(kb, "face_detection", 1, 480) < 0);
    vd_kb_set(kb, "face_detection", 0, 720, 25); /* replaces */
    CHECK(fabs(vd_kb_ms(kb, "face_detection", 0, 720) - 25) < 1e-9);
    vd_kb_set(kb, "face_alignment", 0, 480, 7.5);

    json_t *j = vd_kb_to_json(kb);
    vd_kb *kb2 = vd_kb_new();
    vd_error err = {0};
    CHECKF(vd_kb_from_json(kb2, j, &err) == 0, "%s", err.msg);
    CHECK(fabs(vd_kb_ms(kb2, "face_detection", 0, 480) - vd_kb_ms(kb, "face_detection", 0, 480)) <
          1e-9);
    CHECK(fabs(vd_kb_ms(kb2, "face_alignment", 0, 480) - 7.5) < 1e-9);
    json_decref(j);
    j = json_loads("{\"entries\":[{\"service\":\"x\",\"model_id\":0,\"resolution\":480,"
                   "\"ms\":-1}]}",
                   0, NULL);
    CHECK(vd_kb_from_json(kb2, j, &err) < 0 && strstr(err.msg, "kb.entries[0].ms"));
    json_decref(j);

    CHECK(vd_kb_accuracy("face_detection", 0, 720) == 1.0);
    CHECK(vd_kb_accuracy("face_detection", 1, 480) < vd_kb_accuracy("face_detection", 0, 480));
    CHECK(vd_kb_accuracy("face_detection", 0, 360) < vd_kb_accuracy("face_detection", 0, 480));
    vd_kb_free(kb);
    vd_kb_free(kb2);
}

/* face_detection m0 30/20/15 ms, m1 20/14/10, face_alignment 40/30/25 (720/480/360). */
static vd_kb *synthetic_kb(void)
{
    vd_kb *kb = vd_kb_new();
    const int res[3] = {720, 480, 360};
    const double fd0[3] = {30, 20, 15}, fd1[3] = {20, 14, 10}, fa[3] = {40, 30, 25};
    for (int i = 0; i < 3; i++) {
        vd_kb_set(kb, "face_detection", 0, res[i], fd0[i]);
        vd_kb_set(kb, "face_detection", 1, res[i], fd1[i]);
        vd_kb_set(kb, "face_alignment", 0, res[i], fa[i]);
    }
    return kb;
}

static vd_sched_input base_input(const vd_dag *d, const vd_kb *kb, double bound)
{
    vd_sched_input in = {0};
    in.dag = d;
    in.edge = "edge1";
    in.kb = kb;
    in.delay_bound = bound;
    in.native_h = 720;
    in.native_fps = 30;
    return in;
}

static void test_fixed(void)
{
    vd_dag *d = pipeline("face_detection,face_alignment");
    vd_sched *s;
    vd_error err = {0};
    CHECK(vd_sched_new("nope", &s, &err) == VD_ENOTFOUND && strstr(err.msg, "feedback"));
    CHECK(vd_sched_new("fixed", &s, &err) == 0 && !strcmp(vd_sched_name(s), "fixed"));
    CHECK(vd_scheduler_find("feedback") != NULL && vd_scheduler_all()[0] != NULL);
    vd_sched_input in = base_input(d, NULL, 0.1);
    vd_plan p, def, req;
    vd_plan_default(d, "edge1", &def);
    CHECKF(vd_sched_plan(s, &in, &p, &err) == 0, "%s", err.msg);
    CHECK(vd_plan_equal(&p, &def));
    req = def;
    req.resolution_h = 480;
    req.map[0].model_id = 1;
    in.requested = &req;
    CHECKF(vd_sched_plan(s, &in, &p, &err) == 0, "%s", err.msg);
    CHECK(vd_plan_equal(&p, &req));
    /* a requested plan above the native height is refused with a message */
    req.resolution_h = 1080;
    CHECK(vd_sched_plan(s, &in, &p, &err) == VD_ESTATE && strstr(err.msg, "1080"));
    vd_sched_free(s);
    vd_dag_free(d);
}

/* Fixed-seed PRNG for measurement noise. */
static uint64_t rng = 88172645463325252ull;
static double noise(double amp)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return 1 + amp * (2.0 * (double)(rng >> 11) / (double)(1ull << 53) - 1);
}

typedef struct plant {
    vd_sched *s;
    vd_sched_input in;
    vd_plan plan;
    vd_plan_result res;
    double factor, amp;
    int changes;
} plant;

/* One control step: measure the running plan, ask for the next one. */
static int step(plant *pl)
{
    vd_error err = {0};
    double pred = vd_plan_predict(&pl->in, &pl->plan);
    memset(&pl->res, 0, sizeof pl->res);
    pl->res.n_frames = 30;
    pl->res.total_delay = pred * pl->factor * noise(pl->amp);
    pl->in.last_plan = &pl->plan;
    pl->in.last = &pl->res;
    vd_plan next;
    int rc = vd_sched_plan(pl->s, &pl->in, &next, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (!vd_plan_equal(&next, &pl->plan)) pl->changes++;
    pl->plan = next;
    return rc;
}

static double measured(const plant *pl)
{
    return vd_plan_predict(&pl->in, &pl->plan) * pl->factor;
}

static void test_feedback(void)
{
    vd_dag *d = pipeline("face_detection,face_alignment");
    vd_kb *kb = synthetic_kb();
    vd_error err = {0};
    vd_sched *s;
    CHECK(vd_sched_new("feedback", &s, &err) == 0);

    /* cold start, bound 0.1 s: everything at 720p with model 0 (70 ms) fits */
    vd_sched_input in = base_input(d, kb, 0.1);
    vd_plan p;
    CHECKF(vd_sched_plan(s, &in, &p, &err) == 0, "%s", err.msg);
    double pd = vd_plan_predict(&in, &p), pa = vd_plan_accuracy(&in, &p);
    printf("cold start (0.1 s): %dp nskip %d models %d/%d: %.3f s, accuracy %.3f\n", p.resolution_h,
           p.nskip, p.map[0].model_id, p.map[1].model_id, pd, pa);
    CHECK(pd > 0 && pd <= 0.1);
    CHECK(fabs(pa - 1.0) < 1e-9 && p.map[0].model_id == 0 && p.nskip == 0);
    vd_sched_free(s);

    /* bound 0.05: the best accuracy that fits, and no other feasible plan on the ladder is
     * more accurate */
    CHECK(vd_sched_new("feedback", &s, &err) == 0);
    in.delay_bound = 0.05;
    CHECKF(vd_sched_plan(s, &in, &p, &err) == 0, "%s", err.msg);
    pd = vd_plan_predict(&in, &p);
    pa = vd_plan_accuracy(&in, &p);
    CHECKF(pd <= 0.05, "%g", pd);
    const int rs[] = {0, 480, 360}, sk[] = {0, 1, 2, 4};
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < 4; k++)
            for (int m = 0; m < 2; m++) {
                vd_plan q = p;
                q.resolution_h = rs[r];
                q.nskip = sk[k];
                q.map[0].model_id = m;
                if (vd_plan_predict(&in, &q) <= 0.05)
                    CHECKF(vd_plan_accuracy(&in, &q) <= pa + 1e-9, "%d %d %d beats the pick", rs[r],
                           sk[k], m);
            }
    vd_sched_free(s);

    /* a bound nothing meets: the fastest plan */
    CHECK(vd_sched_new("feedback", &s, &err) == 0);
    in.delay_bound = 0.001;
    CHECKF(vd_sched_plan(s, &in, &p, &err) == 0, "%s", err.msg);
    CHECK(p.resolution_h == 360 && p.nskip == 4 && p.map[0].model_id == 1);
    vd_sched_free(s);

    /* a fast cloud node hosting only face_alignment: used when it pays off, valid nodes */
    vd_node_info nodes[2] = {{.name = "edge1", .role = "edge", .cpu_pct = 0, .speed = 1},
                             {.name = "cloud1",
                              .role = "cloud",
                              .cpu_pct = 0,
                              .speed = 4,
                              .services = "face_alignment"}};
    CHECK(vd_sched_new("feedback", &s, &err) == 0);
    in.nodes = nodes;
    in.n_nodes = 2;
    in.delay_bound = 0.045;
    CHECKF(vd_sched_plan(s, &in, &p, &err) == 0, "%s", err.msg);
    CHECK(!strcmp(p.map[0].node, "edge1") && !strcmp(p.map[0].role, "host"));
    CHECK(!strcmp(p.map[1].node, "cloud1") && !strcmp(p.map[1].role, "cloud"));
    CHECK(vd_plan_predict(&in, &p) <= 0.045 && fabs(vd_plan_accuracy(&in, &p) - 1) < 1e-9);
    vd_sched_free(s);
    in.nodes = NULL;
    in.n_nodes = 0;

    /* the plant: the machine got 1.6x slower than profiled */
    plant pl = {0};
    CHECK(vd_sched_new("feedback", &pl.s, &err) == 0);
    pl.in = base_input(d, kb, 0.1);
    pl.factor = 1.6;
    CHECK(vd_sched_plan(pl.s, &pl.in, &pl.plan, &err) == 0);
    CHECK(vd_plan_predict(&pl.in, &pl.plan) <= 0.1);
    int k = 0;
    for (; k < 10 && measured(&pl) > pl.in.delay_bound; k++) step(&pl);
    printf("feasible after %d calls: %dp nskip %d, measured %.3f s\n", k, pl.plan.resolution_h,
           pl.plan.nskip, measured(&pl));
    CHECKF(measured(&pl) <= pl.in.delay_bound, "%g", measured(&pl));
    pl.in.delay_bound = 0.05;
    for (k = 0; k < 10 && measured(&pl) > pl.in.delay_bound; k++) step(&pl);
    printf("halved bound: feasible after %d calls: %dp nskip %d model %d, measured %.3f s\n", k,
           pl.plan.resolution_h, pl.plan.nskip, pl.plan.map[0].model_id, measured(&pl));
    CHECKF(measured(&pl) <= pl.in.delay_bound, "%g", measured(&pl));
    for (int i = 0; i < 4; i++) step(&pl); /* settle (an upgrade may follow) */
    CHECK(measured(&pl) <= pl.in.delay_bound);

    /* stability: steady load with +-3% noise, 50 calls */
    pl.amp = 0.03;
    pl.changes = 0;
    for (int i = 0; i < 50; i++) step(&pl);
    printf("50 noisy calls: %d changes, measured %.3f s\n", pl.changes, measured(&pl));
    CHECKF(pl.changes <= 2, "%d changes", pl.changes);
    CHECK(measured(&pl) <= pl.in.delay_bound * 1.03);

    /* the load goes away (factor 1): upgrades back within the bound, never above it */
    pl.factor = 1.0;
    pl.amp = 0;
    vd_plan before = pl.plan;
    for (int i = 0; i < 20; i++) {
        step(&pl);
        CHECK(measured(&pl) <= pl.in.delay_bound);
    }
    CHECK(vd_plan_accuracy(&pl.in, &pl.plan) >= vd_plan_accuracy(&pl.in, &before));
    vd_sched_free(pl.s);

    /* statefulness: 3% over the bound; e = 0.03 alone is below the degrade threshold, the
     * integral makes it act */
    CHECK(vd_sched_new("feedback", &s, &err) == 0);
    in = base_input(d, kb, 0.1);
    vd_plan cur;
    CHECK(vd_sched_plan(s, &in, &cur, &err) == 0);
    vd_plan_result r = {.n_frames = 30, .total_delay = 0.103};
    in.last_plan = &cur;
    in.last = &r;
    int first_change = -1;
    for (int i = 0; i < 15 && first_change < 0; i++) {
        vd_plan next;
        CHECK(vd_sched_plan(s, &in, &next, &err) == 0);
        if (!vd_plan_equal(&next, &cur)) first_change = i;
    }
    printf("sustained 3%% overload: first degrade at call %d\n", first_change);
    CHECK(first_change >= 2 && first_change < 15);
    /* a fresh instance on the same single measurement does not change the plan */
    vd_sched *s2;
    CHECK(vd_sched_new("feedback", &s2, &err) == 0);
    vd_sched_input in2 = base_input(d, kb, 0.1);
    vd_plan c2, n2;
    CHECK(vd_sched_plan(s2, &in2, &c2, &err) == 0);
    in2.last_plan = &c2;
    in2.last = &r;
    CHECK(vd_sched_plan(s2, &in2, &n2, &err) == 0 && vd_plan_equal(&c2, &n2));
    vd_sched_free(s2);
    vd_sched_free(s);

    /* an empty kb: the default plan */
    vd_kb *empty = vd_kb_new();
    CHECK(vd_sched_new("feedback", &s, &err) == 0);
    in = base_input(d, empty, 0.1);
    vd_plan def;
    vd_plan_default(d, "edge1", &def);
    CHECK(vd_sched_plan(s, &in, &p, &err) == 0 && vd_plan_equal(&p, &def));
    vd_sched_free(s);
    vd_kb_free(empty);

    vd_kb_free(kb);
    vd_dag_free(d);
}

static void test_profile(void)
{
    vd_error err = {0};
    vd_source *src;
    if (vd_source_open(vt_media("Megamind.avi"), NULL, &src, &err)) {
        CHECKF(0, "%s", err.msg);
        return;
    }
    vd_frame *f = NULL;
    CHECKF(vd_source_read(src, &f, 5000, &err) == 0, "%s", err.msg);
    vd_source_close(src);
    if (!f) return;
    vd_kb *kb = vd_kb_new();
    const char *svcs[] = {"face_detection", NULL};
    const int res[] = {240};
    CHECKF(vd_kb_profile(kb, svcs, res, 1, &f, 1, 1, &err) == 0, "%s", err.msg);
    double ms = vd_kb_ms(kb, "face_detection", 0, 240);
    printf("profiled face_detection m0 @240: %.2f ms, m1: %.2f ms\n", ms,
           vd_kb_ms(kb, "face_detection", 1, 240));
    CHECK(ms > 0 && vd_kb_ms(kb, "face_detection", 1, 240) > 0);
    vd_frame_free(f);
    vd_kb_free(kb);
}

int main(void)
{
    av_log_set_level(AV_LOG_ERROR);
    test_plan_json();
    test_kb();
    test_fixed();
    test_feedback();
    test_profile();
    return vt_finish();
}
