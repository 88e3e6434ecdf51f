/* Schedulers: plan JSON and its errors, the kb (interpolation, JSON, a tiny real profile),
 * "fixed", the cost model (delay per processed frame vs load), and "feedback": cold start
 * (best accuracy that fits the bound and keeps up, tracking), against a simulated plant
 * (feasibility after a slow-down and a tighter bound, stability under noise, an infeasible
 * bound does not walk nskip up, overload gets deliberate skipping, the integral's memory),
 * the load rule on single measurements, and the recent drop ratio (a single drop does not
 * make more skipping, over 5% does; an invalid load right after a change is unknown), and
 * the edge's recent-load window that measures them. The cloud's tests are in
 * test_cloud.c. */
#include <libavutil/log.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/loadwin.h"
#include "testlib.h"
#include "vdag/base.h"
#include "vdag/media.h"
#include "vdag/sched.h"
#include "vdag/svc.h"

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
         "models 0..2)"},
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
    in.native_fps = 10; /* every plan keeps up (load <= 0.7) unless a test raises it */
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

/* A simulated edge running the plan on a machine `factor` times slower than profiled. Like
 * the real edge it measures the delay per PROCESSED frame (skipping does not change it)
 * and the load: the demand is delay x processed frames per second; above 1 the job is
 * busy all the time (load 1) and drops the excess as late (drop_ratio: the fraction of the
 * frames it drops). `load_set` > 0 overrides the measured load (no drops). */
typedef struct plant {
    vd_sched *s;
    vd_sched_input in;
    vd_plan plan;
    vd_plan_result res;
    double factor, amp, load_set;
    double demand; /* of the plan last measured */
    int changes, skip_ups, max_skip;
} plant;

/* One control step: measure the running plan, ask for the next one. */
static int step(plant *pl)
{
    vd_error err = {0};
    double nz = noise(pl->amp);
    double d = vd_plan_predict(&pl->in, &pl->plan) * pl->factor * nz;
    double fps = (pl->in.native_fps > 0 ? pl->in.native_fps : 25) / (pl->plan.nskip + 1);
    memset(&pl->res, 0, sizeof pl->res);
    pl->res.n_frames = 30;
    pl->res.load_valid = 1;
    pl->res.total_delay = d;
    pl->demand = d * fps;
    if (pl->load_set > 0) {
        pl->res.load = pl->load_set;
    } else if (pl->demand > 1) {
        pl->res.load = 1;
        pl->res.dropped = (long)(pl->res.n_frames * (pl->demand - 1) + 0.5);
        pl->res.drop_ratio = (pl->demand - 1) / pl->demand;
    } else {
        pl->res.load = pl->demand;
    }
    pl->in.last_plan = &pl->plan;
    pl->in.last = &pl->res;
    vd_plan next;
    int rc = vd_sched_plan(pl->s, &pl->in, &next, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (!vd_plan_equal(&next, &pl->plan)) pl->changes++;
    if (next.nskip > pl->plan.nskip) pl->skip_ups++;
    if (next.nskip > pl->max_skip) pl->max_skip = next.nskip;
    pl->plan = next;
    return rc;
}

static double measured(const plant *pl)
{
    return vd_plan_predict(&pl->in, &pl->plan) * pl->factor;
}

static int plant_start(plant *pl, const vd_dag *d, const vd_kb *kb, double bound, double fps,
                       double factor)
{
    vd_error err = {0};
    memset(pl, 0, sizeof *pl);
    pl->in = base_input(d, kb, bound);
    pl->in.native_fps = fps;
    pl->factor = factor;
    int rc = vd_sched_new("feedback", &pl->s, &err);
    if (!rc) rc = vd_sched_plan(pl->s, &pl->in, &pl->plan, &err);
    CHECKF(rc == 0, "%s", err.msg);
    return rc;
}

static const char *plan_str(const vd_plan *p, char *buf, size_t n)
{
    snprintf(buf, n, "%dp nskip %d ntracking %d models %d/%d", p->resolution_h, p->nskip,
             p->ntracking, p->map[0].model_id, p->n_stages > 1 ? p->map[1].model_id : 0);
    return buf;
}

/* No plan on the ladders with predicted delay <= bound (and load <= 1 when `keep_up`) is more
 * accurate than p. Returns the number of such plans. */
static int best_on_ladder(const vd_sched_input *in, const vd_plan *p, double bound, int keep_up)
{
    const int rs[] = {0, 480, 360}, sk[] = {0, 1, 2, 4}, tr[] = {0, 2, 4};
    double pa = vd_plan_accuracy(in, p);
    int n = 0;
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < 4; k++)
            for (int t = 0; t < 3; t++)
                for (int m = 0; m < 2; m++) {
                    vd_plan q = *p;
                    q.resolution_h = rs[r];
                    q.nskip = sk[k];
                    q.ntracking = tr[t];
                    q.map[0].model_id = m;
                    if (vd_plan_predict(in, &q) > bound) continue;
                    if (keep_up && vd_plan_load(in, &q) > 1) continue;
                    n++;
                    CHECKF(vd_plan_accuracy(in, &q) <= pa + 1e-9,
                           "%dp nskip %d ntracking %d model %d beats the pick", rs[r], sk[k], tr[t],
                           m);
                }
    return n;
}

/* Delay vs load: vd_plan_predict is per processed frame, vd_plan_load per second. */
static void test_predict(void)
{
    vd_dag *d = pipeline("face_detection,face_alignment");
    vd_kb *kb = synthetic_kb();
    vd_sched_input in = base_input(d, kb, 0.1);
    in.native_fps = 30;
    vd_plan p, q;
    vd_plan_default(d, "edge1", &p);
    p.resolution_h = 480;
    p.map[0].model_id = 1;
    q = p;
    q.nskip = 4;
    double dp = vd_plan_predict(&in, &p), dq = vd_plan_predict(&in, &q);
    double lp = vd_plan_load(&in, &p), lq = vd_plan_load(&in, &q);
    printf("480p m1: nskip 0 %.4f s load %.3f, nskip 4 %.4f s load %.3f\n", dp, lp, dq, lq);
    CHECKF(fabs(dp - 0.044) < 1e-9, "%g", dp); /* 14 + 30 ms */
    CHECKF(fabs(dq - dp) < 1e-12, "nskip changed the per-frame delay: %g vs %g", dq, dp);
    CHECKF(fabs(lp - dp * 30) < 1e-9 && fabs(lq * 5 - lp) < 1e-9, "%g %g", lp, lq);
    /* fps below native: same delay, load scaled by fps/native */
    q = p;
    q.fps = 10;
    CHECK(fabs(vd_plan_predict(&in, &q) - dp) < 1e-12);
    CHECKF(fabs(vd_plan_load(&in, &q) * 3 - lp) < 1e-9, "%g", vd_plan_load(&in, &q));
    /* tracking: the detector runs on 1 frame in 3, so the per-frame mean drops */
    q = p;
    q.ntracking = 2;
    CHECKF(fabs(vd_plan_predict(&in, &q) - (0.014 / 3 + 0.030)) < 1e-9, "%g",
           vd_plan_predict(&in, &q));
    /* an unknown native fps: 25 */
    in.native_fps = 0;
    CHECKF(fabs(vd_plan_load(&in, &p) - dp * 25) < 1e-9, "%g", vd_plan_load(&in, &p));
    /* a clip DAG: the measured delay is per step (the whole clip), and so is the prediction;
     * the load is the same as frame by frame */
    vd_dag *c = NULL;
    vd_error err = {0};
    CHECK(vd_dag_parse("{\"generator\":\"ClipGenerator\",\"clip_len\":4,\"flow\":["
                       "\"ClipGenerator\",\"face_detection\",\"face_alignment\"],\"input\":{"
                       "\"face_alignment\":{\"bbox\":\"face_detection.bbox\"}}}",
                       "clip", &c, &err) == 0);
    if (c) {
        vd_sched_input ic = in;
        ic.dag = c;
        CHECKF(c->clip_len == 4 && fabs(vd_plan_predict(&ic, &p) - 4 * dp) < 1e-9 &&
                   fabs(vd_plan_load(&ic, &p) - vd_plan_load(&in, &p)) < 1e-9,
               "clip_len %d: %g s, load %g", c->clip_len, vd_plan_predict(&ic, &p),
               vd_plan_load(&ic, &p));
        vd_dag_free(c);
    } else {
        fprintf(stderr, "%s\n", err.msg);
    }
    vd_kb *empty = vd_kb_new();
    in.kb = empty;
    CHECK(vd_plan_predict(&in, &p) < 0 && vd_plan_load(&in, &p) < 0);
    vd_kb_free(empty);
    vd_kb_free(kb);
    vd_dag_free(d);
}

static void test_feedback_cold(void)
{
    vd_dag *d = pipeline("face_detection,face_alignment");
    vd_kb *kb = synthetic_kb();
    vd_error err = {0};
    vd_sched *s;
    char buf[128];
    CHECK(vd_sched_new("feedback", &s, &err) == 0);

    /* cold start, bound 0.1 s, 10 fps: everything at 720p with model 0 (70 ms, load 0.7) */
    vd_sched_input in = base_input(d, kb, 0.1);
    vd_plan p;
    CHECKF(vd_sched_plan(s, &in, &p, &err) == 0, "%s", err.msg);
    double pd = vd_plan_predict(&in, &p), pa = vd_plan_accuracy(&in, &p);
    printf("cold start (0.1 s, 10 fps): %s: %.3f s, load %.2f, accuracy %.3f\n",
           plan_str(&p, buf, sizeof buf), pd, vd_plan_load(&in, &p), pa);
    CHECK(pd > 0 && pd <= 0.1);
    CHECK(fabs(pa - 1.0) < 1e-9 && p.map[0].model_id == 0 && p.nskip == 0 && p.ntracking == 0);
    vd_sched_free(s);

    /* the same at 30 fps: 720p model 0 needs 2.1 s of work per second; the pick keeps up
     * (load <= 1) and is the most accurate plan that does */
    CHECK(vd_sched_new("feedback", &s, &err) == 0);
    in.native_fps = 30;
    CHECKF(vd_sched_plan(s, &in, &p, &err) == 0, "%s", err.msg);
    printf("cold start (0.1 s, 30 fps): %s: %.3f s, load %.2f, accuracy %.3f\n",
           plan_str(&p, buf, sizeof buf), vd_plan_predict(&in, &p), vd_plan_load(&in, &p),
           vd_plan_accuracy(&in, &p));
    CHECK(vd_plan_predict(&in, &p) <= 0.1 && vd_plan_load(&in, &p) <= 1);
    CHECK(p.nskip > 0 || p.resolution_h > 0 || p.ntracking > 0 || p.map[0].model_id > 0);
    CHECK(best_on_ladder(&in, &p, 0.1, 1) > 1);
    vd_sched_free(s);
    in.native_fps = 10;

    /* bound 0.05: the best accuracy that fits, and no other feasible plan on the ladder is
     * more accurate */
    CHECK(vd_sched_new("feedback", &s, &err) == 0);
    in.delay_bound = 0.05;
    CHECKF(vd_sched_plan(s, &in, &p, &err) == 0, "%s", err.msg);
    pd = vd_plan_predict(&in, &p);
    CHECKF(pd <= 0.05 && vd_plan_load(&in, &p) <= 1, "%g", pd);
    CHECK(best_on_ladder(&in, &p, 0.05, 1) > 1);
    vd_sched_free(s);

    /* bound 0.03: only tracking fits (the fastest plan without it is 360p model 1, 35 ms) */
    CHECK(vd_sched_new("feedback", &s, &err) == 0);
    in.delay_bound = 0.03;
    CHECKF(vd_sched_plan(s, &in, &p, &err) == 0, "%s", err.msg);
    printf("cold start (0.03 s): %s: %.4f s\n", plan_str(&p, buf, sizeof buf),
           vd_plan_predict(&in, &p));
    CHECK(p.ntracking > 0 && vd_plan_predict(&in, &p) <= 0.03);
    CHECK(best_on_ladder(&in, &p, 0.03, 1) >= 1);
    vd_sched_free(s);

    /* a bound nothing meets: the fastest plan (tracking 4, 360p, model 1: 27 ms); skipping
     * does not make it faster, so no skipping while the job keeps up (0.27 at 10 fps) */
    CHECK(vd_sched_new("feedback", &s, &err) == 0);
    in.delay_bound = 0.001;
    CHECKF(vd_sched_plan(s, &in, &p, &err) == 0, "%s", err.msg);
    printf("cold start (0.001 s): %s\n", plan_str(&p, buf, sizeof buf));
    CHECK(p.resolution_h == 360 && p.ntracking == 4 && p.map[0].model_id == 1 && p.nskip == 0);
    vd_sched_free(s);
    /* at 100 fps it would not keep up (2.7): then the least skipping that does */
    CHECK(vd_sched_new("feedback", &s, &err) == 0);
    in.native_fps = 100;
    CHECKF(vd_sched_plan(s, &in, &p, &err) == 0, "%s", err.msg);
    CHECKF(p.resolution_h == 360 && p.ntracking == 4 && p.nskip == 2, "%s",
           plan_str(&p, buf, sizeof buf));
    vd_sched_free(s);
    in.native_fps = 10;

    /* a DAG whose first stage is not a detector: tracking is no knob */
    vd_dag_stage st = {.name = "face_alignment", .svc = vd_service_find("face_alignment")};
    vd_dag fake = {.n_stages = 1, .stages = &st};
    vd_sched_input fin = base_input(&fake, kb, 0.001);
    CHECK(vd_sched_new("feedback", &s, &err) == 0);
    CHECKF(vd_sched_plan(s, &fin, &p, &err) == 0, "%s", err.msg);
    CHECKF(p.resolution_h == 360 && p.ntracking == 0, "%s", plan_str(&p, buf, sizeof buf));
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

static void test_feedback(void)
{
    vd_dag *d = pipeline("face_detection,face_alignment");
    vd_kb *kb = synthetic_kb();
    vd_error err = {0};
    vd_sched *s;
    char buf[128];

    /* the plant: the machine got 1.6x slower than profiled */
    plant pl;
    plant_start(&pl, d, kb, 0.1, 10, 1.6);
    CHECK(vd_plan_predict(&pl.in, &pl.plan) <= 0.1);
    int k = 0;
    for (; k < 10 && measured(&pl) > pl.in.delay_bound; k++) step(&pl);
    printf("feasible after %d calls: %s, measured %.3f s\n", k, plan_str(&pl.plan, buf, sizeof buf),
           measured(&pl));
    CHECKF(measured(&pl) <= pl.in.delay_bound, "%g", measured(&pl));
    /* halved bound: resolution alone does not reach it (360p: 64 ms); tracking does */
    pl.in.delay_bound = 0.05;
    for (k = 0; k < 10 && measured(&pl) > pl.in.delay_bound; k++) step(&pl);
    printf("halved bound: feasible after %d calls: %s, measured %.3f s\n", k,
           plan_str(&pl.plan, buf, sizeof buf), measured(&pl));
    CHECKF(measured(&pl) <= pl.in.delay_bound, "%g", measured(&pl));
    CHECK(pl.plan.ntracking > 0 && pl.plan.nskip == 0);
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
    CHECK(vd_plan_accuracy(&pl.in, &pl.plan) > vd_plan_accuracy(&pl.in, &before));
    CHECK(pl.skip_ups == 0);
    vd_sched_free(pl.s);

    /* an infeasible bound in a live run (5 fps, the job keeps up): the scheduler degrades
     * what lowers the per-frame delay and then stays; it never skips more, since that
     * would not lower the measured delay */
    plant_start(&pl, d, kb, 0.1, 5, 1.6);
    pl.in.delay_bound = 0.02; /* the fastest plan measures 27 ms x 1.6 */
    for (int i = 0; i < 40; i++) step(&pl);
    printf("infeasible bound, keeping up: %s, measured %.3f s, load %.2f, %d changes\n",
           plan_str(&pl.plan, buf, sizeof buf), measured(&pl), pl.res.load, pl.changes);
    CHECKF(pl.max_skip == 0 && pl.plan.nskip == 0, "nskip went up to %d", pl.max_skip);
    CHECK(pl.plan.resolution_h == 360 && pl.plan.ntracking == 4 && pl.plan.map[0].model_id == 1);
    int ch = pl.changes;
    for (int i = 0; i < 10; i++) step(&pl);
    CHECKF(pl.changes == ch, "still changing: %d -> %d", ch, pl.changes);
    vd_sched_free(pl.s);

    /* the same at 30 fps: the fastest plan needs 1.3 s of work per second, the edge drops
     * frames; the scheduler skips deliberately, one rung, and stops once it keeps up */
    plant_start(&pl, d, kb, 0.02, 30, 1.6);
    for (int i = 0; i < 40; i++) step(&pl);
    printf("infeasible bound, overloaded: %s, demand %.2f, %d skip rises\n",
           plan_str(&pl.plan, buf, sizeof buf), pl.demand, pl.skip_ups);
    CHECKF(pl.plan.nskip == 1 && pl.skip_ups == 1 && pl.demand <= 1, "nskip %d, %d rises",
           pl.plan.nskip, pl.skip_ups);
    vd_sched_free(pl.s);

    /* a job that can meet its bound but not keep up: the machine gets 3x slower at 10 fps
     * (720p model 0: 210 ms, demand 2.1); the scheduler ends within the bound, keeping up */
    plant_start(&pl, d, kb, 0.25, 10, 1.0);
    CHECK(pl.plan.nskip == 0 && pl.plan.resolution_h == 0);
    pl.factor = 3;
    for (int i = 0; i < 30; i++) step(&pl);
    printf("3x slower: %s, measured %.3f s, demand %.2f\n", plan_str(&pl.plan, buf, sizeof buf),
           measured(&pl), pl.demand);
    CHECK(measured(&pl) <= pl.in.delay_bound && pl.demand <= 1 && pl.res.dropped == 0);
    vd_sched_free(pl.s);

    /* statefulness: 3% over the bound; e = 0.03 alone is below the degrade threshold, the
     * integral makes it act */
    CHECK(vd_sched_new("feedback", &s, &err) == 0);
    vd_sched_input in = base_input(d, kb, 0.1);
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

    vd_kb_free(kb);
    vd_dag_free(d);
}

/* The load rule on single measurements, the delay within the bound and in the PID's dead
 * band (90 ms of 100): more skipping when the job cannot keep up, less when it idles.
 * Returns the next plan's nskip; *other: whether anything else changed. */
static int load_step(const vd_dag *d, const vd_kb *kb, int nskip, double load, double drop_ratio,
                     int valid, double bound, int *other)
{
    vd_error err = {0};
    vd_sched *s;
    if (vd_sched_new("feedback", &s, &err)) return -1;
    vd_sched_input in = base_input(d, kb, bound);
    vd_plan cur, next;
    CHECK(vd_sched_plan(s, &in, &cur, &err) == 0);
    cur.nskip = nskip;
    vd_plan_result r = {.n_frames = 30,
                        .total_delay = 0.09,
                        .load = load,
                        .drop_ratio = drop_ratio,
                        .load_valid = valid,
                        .dropped = drop_ratio > 0};
    in.last_plan = &cur;
    in.last = &r;
    CHECK(vd_sched_plan(s, &in, &next, &err) == 0);
    vd_plan a = cur, b = next;
    a.nskip = b.nskip = 0;
    *other = !vd_plan_equal(&a, &b);
    vd_sched_free(s);
    return next.nskip;
}

static void test_load_rule(void)
{
    vd_dag *d = pipeline("face_detection,face_alignment");
    vd_kb *kb = synthetic_kb();
    struct {
        int nskip;
        double load, drop_ratio;
        int valid;
        double bound;
        int want;
        const char *what;
    } cases[] = {
        {0, 1.3, 0, 1, 0.1, 1, "overloaded"},
        {1, 0.97, 0, 1, 0.1, 2, "overloaded"},
        {0, 0.9, 0.12, 1, 0.1, 1, "more than 10% of recent frames dropped"},
        {0, 0.9, 0.06, 1, 0.1, 0, "6% dropped, within the bound: the load rule wants 10%"},
        {0, 0.7, 1.0 / 21, 1, 0.1, 0, "a single drop in the window"},
        {0, 0.9, 0, 1, 0.1, 0, "keeping up"},
        {0, 0.7, 0, 1, 0.1, 0, "keeping up"},
        {2, 0, 0, 1, 0.1, 2, "load unknown"},
        {4, 0.2, 0, 1, 0.1, 2, "idle"},
        {1, 0.3, 0, 1, 0.1, 0, "idle"},
        {1, 0.45, 0, 1, 0.1, 1, "idle, but nskip 0 would load 0.9"},
        {0, 1.3, 0, 1, 0, 1, "overloaded, no bound"},
        {0, 1.3, 0.5, 0, 0.1, 0, "overloaded, but too early after the change"},
        {4, 0.2, 0, 0, 0.1, 4, "idle, but too early after the change"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int other, n = load_step(d, kb, cases[i].nskip, cases[i].load, cases[i].drop_ratio,
                                 cases[i].valid, cases[i].bound, &other);
        CHECKF(n == cases[i].want && !other,
               "%s (nskip %d, load %g, drop_ratio %g, valid %d): nskip %d%s", cases[i].what,
               cases[i].nskip, cases[i].load, cases[i].drop_ratio, cases[i].valid, n,
               other ? " and other changes" : "");
    }
    /* an upgrade never overloads the job: 480p nskip 1 at 50 ms of a 100 ms bound, measured
     * as predicted; 720p (70 ms) fits the delay, but at 30 fps it would load 1.05 */
    for (int fps = 24; fps <= 30; fps += 6) {
        vd_error err = {0};
        vd_sched *s;
        CHECK(vd_sched_new("feedback", &s, &err) == 0);
        vd_sched_input in = base_input(d, kb, 0.1);
        in.native_fps = fps;
        vd_plan cur, next;
        vd_plan_default(d, "edge1", &cur);
        cur.resolution_h = 480;
        cur.nskip = 1;
        vd_plan_result r = {
            .n_frames = 30, .total_delay = 0.05, .load = vd_plan_load(&in, &cur), .load_valid = 1};
        in.last_plan = &cur;
        in.last = &r;
        CHECK(vd_sched_plan(s, &in, &next, &err) == 0);
        double l = vd_plan_load(&in, &next);
        printf("upgrade at %d fps: %dp nskip %d, load %.2f -> %.2f\n", fps, next.resolution_h,
               next.nskip, r.load, l);
        if (fps == 24) /* 720p loads 0.84: taken */
            CHECK(next.resolution_h == 0 && next.nskip == 1);
        else
            CHECKF(l <= 0.9 && vd_plan_equal(&cur, &next), "load %g", l);
        vd_sched_free(s);
    }
    /* over the bound (90 ms of 80): the delay is the PID's, which lowers the resolution
     * first (skipping would not lower the delay) */
    int other, n = load_step(d, kb, 0, 0.97, 0, 1, 0.08, &other);
    CHECKF(n == 0 && other, "over the bound: nskip %d, other changes %d", n, other);
    vd_kb_free(kb);
    vd_dag_free(d);
}

/* Over the bound with resolution and tracking used up (360p, ntracking 4): a degrade may
 * skip only when the job is overloaded, now by its RECENT drop ratio (over 5%), so one drop
 * at start-up (dropped stays 1 for the plan's life) no longer raises nskip, call after call;
 * otherwise the next knob (model) is taken. Returns the next plan. */
static vd_plan drop_step(vd_sched *s, const vd_dag *d, const vd_kb *kb, const vd_plan *cur,
                         const vd_plan_result *r)
{
    vd_error err = {0};
    vd_sched_input in = base_input(d, kb, 0.02);
    in.native_fps = 5;
    in.last_plan = cur;
    in.last = r;
    vd_plan next = *cur;
    CHECKF(vd_sched_plan(s, &in, &next, &err) == 0, "%s", err.msg);
    return next;
}

static void test_drop_ratio(void)
{
    vd_dag *d = pipeline("face_detection,face_alignment");
    vd_kb *kb = synthetic_kb();
    vd_error err = {0};
    vd_plan cur;
    vd_plan_default(d, "edge1", &cur);
    cur.resolution_h = 360;
    cur.ntracking = 4;
    struct {
        double drop_ratio;
        int valid, want_skip;
        const char *what;
    } cases[] = {
        {1.0 / 21, 1, 0, "one drop in the window"},
        {0, 1, 0, "nothing dropped recently (one at start-up)"},
        {0.06, 1, 1, "6% of recent frames dropped"},
        {0.5, 0, 0, "half dropped, but too early after the change"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vd_sched *s;
        CHECK(vd_sched_new("feedback", &s, &err) == 0);
        vd_plan_result r = {.n_frames = 40,
                            .total_delay = 0.05,
                            .load = 0.3,
                            .drop_ratio = cases[i].drop_ratio,
                            .load_valid = cases[i].valid,
                            .dropped = 1};
        vd_plan next = drop_step(s, d, kb, &cur, &r);
        CHECKF((next.nskip > 0) == cases[i].want_skip &&
                   (cases[i].want_skip || next.map[0].model_id == 1),
               "%s: nskip %d, model %d", cases[i].what, next.nskip, next.map[0].model_id);
        vd_sched_free(s);
    }
    /* a run: one drop at start-up; the window's ratio falls as frames come, then the drop
     * leaves the window; the plan may degrade its model but never skips */
    vd_sched *s;
    CHECK(vd_sched_new("feedback", &s, &err) == 0);
    vd_plan p = cur;
    int max_skip = 0;
    for (int k = 0; k < 20; k++) {
        long frames = 10 + 25L * k; /* 5 fps, a re-plan every 5 s */
        vd_plan_result r = {.n_frames = (int)frames,
                            .total_delay = 0.05,
                            .load = 0.3,
                            .drop_ratio = k < 4 ? 1.0 / (double)(frames + 1) : 0,
                            .load_valid = frames >= VD_LOAD_MIN_FRAMES,
                            .dropped = 1};
        p = drop_step(s, d, kb, &p, &r);
        if (p.nskip > max_skip) max_skip = p.nskip;
    }
    CHECKF(max_skip == 0, "a single start-up drop raised nskip to %d", max_skip);
    vd_sched_free(s);
    vd_kb_free(kb);
    vd_dag_free(d);
}

/* The edge's window: load and drop ratio over the last 5 s since the plan change, in frames
 * (clips count clip_len), valid after 1 s and 20 frames or a full window. */
static void test_loadwin(void)
{
    vd__loadwin w;
    vd__loadwin_stats st;
    double t0 = 1e6;
    CHECK(fabs(VD__LOADWIN_N * VD__LOADWIN_BUCKET_MS - VD_LOAD_WINDOW_S * 1e3) < 1e-9);
    /* 10 fps, 40 ms per frame (load 0.4), one frame dropped at start-up */
    vd__loadwin_reset(&w, t0);
    vd__loadwin_drop(&w, t0 + 50, 1);
    double t = t0;
    for (; t < t0 + 500; t += 100) vd__loadwin_step(&w, t + 60, t + 100, 1);
    vd__loadwin_get(&w, t, &st);
    CHECKF(!st.valid && fabs(st.load - 0.4) < 0.01 && st.processed == 5 && st.drops == 1,
           "0.5 s: valid %d load %g processed %ld drops %ld", st.valid, st.load, st.processed,
           st.drops);
    for (; t < t0 + 2000; t += 100) vd__loadwin_step(&w, t + 60, t + 100, 1);
    vd__loadwin_get(&w, t, &st);
    CHECKF(st.valid && fabs(st.load - 0.4) < 0.01 && fabs(st.drop_ratio - 1.0 / 21) < 1e-9,
           "2 s: valid %d load %g drop_ratio %g", st.valid, st.load, st.drop_ratio);
    for (; t < t0 + 7000; t += 100) vd__loadwin_step(&w, t + 60, t + 100, 1);
    vd__loadwin_get(&w, t, &st);
    printf("loadwin after 7 s: span %.0f ms, load %.3f, %ld processed, %ld dropped\n", st.span_ms,
           st.load, st.processed, st.drops);
    CHECKF(st.valid && st.drops == 0 && st.drop_ratio == 0 && fabs(st.load - 0.4) < 0.02,
           "7 s: the start-up drop left the window: drops %ld load %g", st.drops, st.load);
    CHECK(st.span_ms >= VD_LOAD_WINDOW_S * 1e3 - VD__LOADWIN_BUCKET_MS - 1e-9 &&
          st.span_ms <= VD_LOAD_WINDOW_S * 1e3 + 1e-9);
    CHECK(st.processed >= 47 && st.processed <= 50);

    /* overloaded: busy all the time, every other frame dropped */
    vd__loadwin_reset(&w, t0);
    for (t = t0; t < t0 + 3000; t += 200) {
        vd__loadwin_drop(&w, t, 1);
        vd__loadwin_step(&w, t, t + 200, 1);
    }
    vd__loadwin_get(&w, t, &st);
    CHECKF(st.valid && fabs(st.load - 1) < 1e-9 && fabs(st.drop_ratio - 0.5) < 1e-9,
           "overloaded: load %g drop_ratio %g", st.load, st.drop_ratio);

    /* a clip DAG: a step consumes 4 frames; one clip in four is dropped: 25% of frames */
    vd__loadwin_reset(&w, t0);
    for (int k = 0; k < 12; k++) {
        t = t0 + 160.0 * k;
        if (k % 4 == 3)
            vd__loadwin_drop(&w, t + 160, 4);
        else
            vd__loadwin_step(&w, t + 60, t + 160, 4);
    }
    vd__loadwin_get(&w, t + 160, &st);
    CHECKF(st.processed == 36 && st.drops == 12 && fabs(st.drop_ratio - 0.25) < 1e-9,
           "clips: %ld processed %ld dropped ratio %g", st.processed, st.drops, st.drop_ratio);

    /* a long step spread over the buckets it covers; one step a second: valid once the
     * window is full, though it holds fewer than 20 frames */
    vd__loadwin_reset(&w, t0);
    vd__loadwin_step(&w, t0 + 1000, t0 + 3000, 1);
    vd__loadwin_get(&w, t0 + 3000, &st);
    CHECKF(fabs(st.load - 2.0 / 3) < 1e-9 && !st.valid, "long step: load %g valid %d", st.load,
           st.valid);
    vd__loadwin_step(&w, t0 + 3000, t0 + 5000, 1);
    vd__loadwin_get(&w, t0 + 7000, &st);
    /* the window starts at 2250 ms: 2750 of the 4750 ms were busy */
    CHECKF(st.valid && fabs(st.load - 2750.0 / 4750) < 1e-9 && st.processed == 2,
           "7 s: load %g valid %d processed %ld", st.load, st.valid, st.processed);
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
    test_predict();
    test_feedback_cold();
    test_feedback();
    test_load_rule();
    test_drop_ratio();
    test_loadwin();
    test_profile();
    return vt_finish();
}
