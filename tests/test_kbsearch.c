/* The "kb" scheduler: its cold-start search against an exhaustive oracle (plain brute force
 * over the documented plan space with the public cost model) on random synthetic knowledge
 * bases, then its online behaviour against a simulated plant (per processed frame, as
 * test_sched.c does): a bandwidth drop the link model reports, one it does not (drift), a
 * slower and a faster machine, hysteresis under steady noisy measurements, a lost node, a
 * joined node and a constraint change, each re-plan with its reason. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched_internal.h"
#include "sched_plant.h"
#include "testlib.h"
#include "vdag/base.h"
#include "vdag/sched.h"
#include "vdag/svc.h"

/* A random kb for the DAG's services: delays at 720/480/360 (smaller models faster), bytes
 * at q50/q85, and measured accuracy for some services (a grid for detectors). */
static vd_kb *random_kb(const vd_dag *d)
{
    vd_kb *kb = vd_kb_new();
    const int hs[3] = {720, 480, 360};
    for (int i = 0; i < d->n_stages; i++) {
        const vd_service *svc = d->stages[i].svc;
        double base = urand(5, 60);
        for (int m = 0; m < svc->n_models; m++) {
            double mb = base * (m ? urand(0.2, 0.8) : 1);
            for (int k = 0; k < 3; k++) vd_kb_set(kb, svc->name, m, hs[k], mb * (1 - 0.2 * k));
        }
        if (urand(0, 1) < 0.25) continue; /* heuristic accuracy for this one */
        const vd_svc_field *pf = vd_kb_primary_field(svc);
        int grid = svc->is_detector ? 3 : 1;
        for (int m = 0; m < svc->n_models; m++)
            for (int a = 0; a < 2; a++)
                for (int t = 0; t < grid; t++)
                    for (int s = 0; s < grid; s++) {
                        vd_kb_acc_key k = {.model_id = m,
                                           .res = a ? 360 : 720,
                                           .ntracking = 2 * t,
                                           .nskip = 2 * s,
                                           .src_fps = 10};
                        snprintf(k.service, sizeof k.service, "%s", svc->name);
                        snprintf(k.field, sizeof k.field, "%s", pf->name);
                        vd_kb_acc v = {.metric = VD_METRIC_F1, .n = 10};
                        v.value = 1 - (m ? urand(0.05, 0.3) : 0) - a * urand(0, 0.2) -
                                  t * urand(0, 0.1) - s * urand(0, 0.1);
                        if (v.value < 0) v.value = 0;
                        vd_kb_set_acc(kb, &k, &v);
                    }
        vd_kb_acc_key k = {.res = 720, .src_fps = 10, .enc = VD_ENC_JPEG, .quality = 50};
        snprintf(k.service, sizeof k.service, "%s", svc->name);
        snprintf(k.field, sizeof k.field, "%s", pf->name);
        vd_kb_acc v = {.metric = VD_METRIC_F1, .value = urand(0.7, 1), .n = 10};
        vd_kb_set_acc(kb, &k, &v);
    }
    for (int q = 0; q < 2; q++) {
        vd_kb_bytes b = {.width = 1280,
                         .bytes = (q ? 0.03 : 0.06) * 1280 * 720,
                         .enc_ms = urand(0.5, 3),
                         .dec_ms = urand(0.5, 2),
                         .n = 10};
        vd_kb_set_bytes(kb, 720, VD_ENC_JPEG, q ? 50 : 85, &b);
    }
    return kb;
}

typedef struct best {
    vd_plan p;
    double d, a;
    int tier, have;
    long n;
} best;

/* The documented order: tier 2 (bound, load <= 1, CPU) by accuracy then delay; else by
 * delay then accuracy. */
static void consider(const vd_sched_input *in, const vd_plan *p, best *b)
{
    double d = vd_plan_predict(in, p);
    if (d < 0) return;
    b->n++;
    double a = vd_plan_accuracy(in, p);
    int keeps = vd_plan_load(in, p) <= 1 + 1e-12 && vd_plan_cpu_fits(in, p);
    int fits = in->delay_bound <= 0 || d <= in->delay_bound;
    int tier = keeps ? (fits ? 2 : 1) : 0, better;
    if (!b->have || tier != b->tier)
        better = !b->have || tier > b->tier;
    else if (tier == 2)
        better = a > b->a + 1e-12 || (fabs(a - b->a) <= 1e-12 && d < b->d - 1e-12);
    else
        better = d < b->d - 1e-12 || (fabs(d - b->d) <= 1e-12 && a > b->a + 1e-12);
    if (better) *b = (best){*p, d, a, tier, 1, b->n};
}

/* Every plan of the space, by brute force. */
static best oracle(const vd_sched_input *in)
{
    static const int rr[] = {VD_KB_RES_RUNGS}, sk[] = {VD_KB_SKIP_RUNGS},
                     tr[] = {VD_KB_TRACK_RUNGS};
    static const double fr[] = {VD_KB_FPS_RUNGS};
    int res[8] = {0}, nr = 1, nf = 1;
    double fps[8] = {0};
    for (size_t k = 0; k < sizeof rr / sizeof *rr; k++)
        if (rr[k] < in->native_h) res[nr++] = rr[k];
    for (size_t k = 0; k < sizeof fr / sizeof *fr; k++)
        if (fr[k] < in->native_fps) fps[nf++] = fr[k];
    int ntr = in->dag->stages[0].svc->is_detector ? 4 : 1;
    vd_enc_opt def = {VD_ENC_JPEG, 0};
    const vd_enc_opt *enc = in->encoders ? in->encoders : &def;
    int ne = in->encoders ? in->n_encoders : 1;
    const char *nodes[VD_MAX_NODES + 1];
    int nn = 0;
    nodes[nn++] = in->edge;
    for (int k = 0; k < in->n_nodes; k++)
        if (strcmp(in->nodes[k].name, in->edge)) nodes[nn++] = in->nodes[k].name;
    best b = {0};
    int ns = in->dag->n_stages, idx[VD_MAX_STAGES];
    for (int r = 0; r < nr; r++)
        for (int f = 0; f < nf; f++)
            for (int s = 0; s < 4; s++)
                for (int t = 0; t < ntr; t++)
                    for (int e = 0; e < ne; e++) {
                        vd_plan p;
                        vd_plan_default(in->dag, in->edge, &p);
                        p.resolution_h = res[r], p.fps = fps[f], p.nskip = sk[s];
                        p.ntracking = tr[t];
                        snprintf(p.encoder, sizeof p.encoder, "%s", vd_encoder_name(enc[e].enc));
                        p.quality = enc[e].quality;
                        memset(idx, 0, sizeof idx);
                        for (;;) {
                            int ok = 1;
                            for (int i = 0; i < ns; i++) {
                                const vd_service *svc = in->dag->stages[i].svc;
                                int m = idx[i] % svc->n_models, k = idx[i] / svc->n_models;
                                p.map[i].model_id = m;
                                snprintf(p.map[i].node, sizeof p.map[i].node, "%s", nodes[k]);
                                snprintf(p.map[i].role, sizeof p.map[i].role, "%s",
                                         k ? "cloud" : "host");
                                ok &= vd__node_ok(in, nodes[k], svc->name, NULL);
                            }
                            if (ok) consider(in, &p, &b);
                            int i = 0;
                            while (i < ns && ++idx[i] == in->dag->stages[i].svc->n_models * nn)
                                idx[i++] = 0;
                            if (i == ns) break;
                        }
                    }
    return b;
}

static void test_oracle(const char *csv, int cases)
{
    vd_dag *d = pipeline(csv);
    if (!d) return;
    int agree = 0, tiers[3] = {0};
    double worst_ms = 0;
    for (int c = 0; c < cases; c++) {
        vd_kb *kb = random_kb(d);
        vd_node_info nodes[3] = {
            {.name = "edge1", .role = "edge", .n_cores = 2, .speed = 1, .cpu_pct = urand(0, 60)},
            {.name = "cloud1",
             .role = "cloud",
             .n_cores = 8,
             .speed = urand(2, 8),
             .cpu_pct = urand(0, 90)},
            {.name = "edge2",
             .role = "edge",
             .n_cores = 1,
             .speed = urand(0.5, 2),
             .cpu_pct = urand(0, 50)}};
        if (c % 3 == 1)
            snprintf(nodes[2].services, sizeof nodes[2].services, "%s", d->stages[0].name);
        vd_link links[2] = {
            {.from = "edge1",
             .to = "cloud1",
             .bw_Bps = urand(0.5e6, 20e6),
             .rtt_s = urand(0.001, 0.05)},
            {.from = "edge1", .to = "edge2", .bw_Bps = urand(1e6, 50e6), .rtt_s = 0.001}};
        vd_enc_opt enc[2] = {{VD_ENC_JPEG, 85}, {VD_ENC_JPEG, 50}};
        static const double fpss[3] = {10, 25, 30};
        vd_runtime rt = {.obj_n = urand(0, 10), .obj_size = urand(100, 20000)};
        vd_sched_input in = {.dag = d,
                             .edge = "edge1",
                             .nodes = nodes,
                             .n_nodes = 3,
                             .kb = kb,
                             .rt = &rt,
                             .delay_bound = urand(0.005, 0.15),
                             .native_h = 720,
                             .native_w = 1280,
                             .native_fps = fpss[c % 3],
                             .links = links,
                             .n_links = 2,
                             .encoders = c % 2 ? enc : NULL,
                             .n_encoders = 2};
        if (c == cases - 1) in.delay_bound = 0.0001; /* nothing meets it */
        if (c == cases - 2)                          /* no CPU anywhere: nothing keeps up */
            nodes[0].cpu_pct = nodes[1].cpu_pct = nodes[2].cpu_pct = 100;
        /* the kb scheduler aims at 0.95 x the bound (room for noise) */
        vd_sched_input oin = in;
        oin.delay_bound *= 0.95;
        best o = oracle(&oin);
        vd_sched *s;
        vd_error err = {0};
        vd_plan p;
        CHECK(vd_sched_new("kb", &s, &err) == 0);
        double t0 = vd_now_ms();
        CHECKF(vd_sched_plan(s, &in, &p, &err) == 0, "%s", err.msg);
        double ms = vd_now_ms() - t0;
        if (ms > worst_ms) worst_ms = ms;
        double pd = vd_plan_predict(&in, &p), pa = vd_plan_accuracy(&in, &p);
        int keeps = vd_plan_load(&in, &p) <= 1 + 1e-12 && vd_plan_cpu_fits(&in, &p);
        int tier = keeps ? (pd <= oin.delay_bound ? 2 : 1) : 0;
        int ok = tier == o.tier && (tier == 2 ? fabs(pa - o.a) <= 1e-12 && pd <= o.d + 1e-12
                                              : fabs(pd - o.d) <= 1e-12 && pa >= o.a - 1e-12);
        agree += ok;
        tiers[o.tier]++;
        CHECKF(ok, "%s case %d: kb tier %d acc %.6f delay %.6f; oracle tier %d acc %.6f delay %.6f",
               csv, c, tier, pa, pd, o.tier, o.a, o.d);
        CHECK(vd_sched_last_reason(s)->code == VD_WHY_START);
        vd_sched_free(s);
        vd_kb_free(kb);
    }
    printf("%s: kb = oracle in %d of %d cases (tiers 2/1/0: %d/%d/%d), slowest search %.1f ms\n",
           csv, agree, cases, tiers[2], tiers[1], tiers[0], worst_ms);
    CHECK(tiers[2] > 0 && tiers[1] > 0 && tiers[0] > 0);
    vd_dag_free(d);
}

/* ---- online ---------------------------------------------------------------------------- */

static void set_bw(vd_link *l, double mbit)
{
    l->bw_Bps = mbit * 1e6 / 8;
}

static void test_bandwidth_drop(int reported)
{
    plant pl;
    char b1[256];
    vd_enc_opt enc[2] = {{VD_ENC_JPEG, 85}, {VD_ENC_JPEG, 50}};
    plant_start(&pl, "kb", 0.05);
    pl.in.encoders = pl.truth.encoders = enc;
    pl.in.n_encoders = pl.truth.n_encoders = 2;
    vd_sched_free(pl.s);
    vd_error err = {0};
    CHECK(vd_sched_new("kb", &pl.s, &err) == 0 && vd_sched_plan(pl.s, &pl.in, &pl.plan, &err) == 0);
    double acc0 = vd_plan_accuracy(&pl.in, &pl.plan);
    printf("50 Mbit/s: %s, %.3f s, accuracy %.2f\n", where(&pl.plan, b1, sizeof b1), world(&pl),
           acc0);
    CHECK(!strcmp(pl.plan.map[0].node, "cloud1") && world(&pl) <= 0.05);
    pl.amp = 0.03;
    for (int i = 0; i < 10; i++) plant_step(&pl);
    CHECKF(pl.changes == 0, "%d changes at a steady 50 Mbit/s", pl.changes);
    /* the uplink drops to 5 Mbit/s */
    set_bw(&pl.tlinks[0], 5);
    if (reported) set_bw(&pl.links[0], 5);
    int k = 0;
    while (k < 6 && world(&pl) > 0.05) plant_step(&pl), k++;
    printf("5 Mbit/s (%s): after %d calls %s, %.3f s, %s: %s\n",
           reported ? "reported" : "not reported", k, where(&pl.plan, b1, sizeof b1), world(&pl),
           vd_sched_why_name(pl.why.code), pl.why.text);
    CHECKF(world(&pl) <= 0.05, "%.3f s", world(&pl));
    CHECKF(k <= (reported ? 1 : 3), "recovered after %d calls", k);
    CHECK(pl.why.code == (reported ? VD_WHY_LINK : VD_WHY_DRIFT));
    CHECK(strstr(pl.why.text, reported ? "Mbit/s" : "predicted") != NULL);
    int ch = pl.changes;
    for (int i = 0; i < 30; i++) {
        plant_step(&pl);
        CHECK(pl.meas <= 0.05 * 1.03 + 1e-9);
    }
    CHECKF(pl.changes == ch, "%d more changes while steady", pl.changes - ch);
    /* back to 50 Mbit/s: a reported link comes back to the most accurate plan */
    set_bw(&pl.tlinks[0], 50);
    if (reported) {
        set_bw(&pl.links[0], 50);
        plant_step(&pl);
        CHECK(pl.why.code == VD_WHY_LINK && fabs(vd_plan_accuracy(&pl.in, &pl.plan) - acc0) < 1e-9);
        CHECK(world(&pl) <= 0.05);
    }
    plant_free(&pl);
}

/* A machine slower or faster than profiled, steady: one re-plan on drift, then no more. */
static void test_drift(double speed)
{
    plant pl;
    char b1[256];
    plant_start(&pl, "kb", 0.05);
    pl.in.n_nodes = pl.truth.n_nodes = 1; /* the edge alone */
    vd_sched_free(pl.s);
    vd_error err = {0};
    CHECK(vd_sched_new("kb", &pl.s, &err) == 0 && vd_sched_plan(pl.s, &pl.in, &pl.plan, &err) == 0);
    double a0 = vd_plan_accuracy(&pl.in, &pl.plan);
    pl.tnodes[0].speed = speed;
    pl.amp = 0.03;
    for (int i = 0; i < 40; i++) plant_step(&pl);
    printf("edge at speed %.1f: %d changes, %s, %.3f s (bound 0.05), accuracy %.2f -> %.2f; %s\n",
           speed, pl.changes, where(&pl.plan, b1, sizeof b1), world(&pl), a0,
           vd_plan_accuracy(&pl.in, &pl.plan), pl.why.text);
    CHECKF(pl.changes == 1 && pl.why.code == VD_WHY_DRIFT, "%d changes", pl.changes);
    CHECK(world(&pl) <= 0.05);
    if (speed > 1) CHECK(vd_plan_accuracy(&pl.in, &pl.plan) > a0 + 0.01);
    if (speed < 1) CHECK(vd_plan_accuracy(&pl.in, &pl.plan) < a0);
    plant_free(&pl);
}

static void test_events(void)
{
    plant pl;
    plant_start(&pl, "kb", 0.05);
    pl.amp = 0.03;
    /* hysteresis: 60 steady noisy calls, no change */
    for (int i = 0; i < 60; i++) plant_step(&pl);
    CHECKF(pl.changes == 0, "%d changes", pl.changes);
    CHECK(!strcmp(pl.plan.map[0].node, "cloud1"));
    /* a weak node joins: seen, nothing better, kept */
    pl.nodes[2] = (vd_node_info){.name = "edge2", .role = "edge", .n_cores = 1, .speed = 0.5};
    pl.tnodes[2] = pl.nodes[2];
    pl.in.n_nodes = pl.truth.n_nodes = 3;
    plant_step(&pl);
    CHECK(pl.changes == 0);
    /* a looser bound: nothing more accurate exists (1.0 already): kept; a tighter one: re-plan */
    pl.in.delay_bound = 0.03;
    plant_step(&pl);
    CHECKF(pl.changes == 1 && pl.why.code == VD_WHY_CONSTRAINT &&
               strstr(pl.why.text, "0.050 -> 0.030"),
           "%d %s", pl.changes, pl.why.text);
    CHECK(world(&pl) <= 0.03);
    /* the cloud is lost */
    pl.in.n_nodes = pl.truth.n_nodes = 1;
    plant_step(&pl);
    CHECKF(pl.changes == 2 && pl.why.code == VD_WHY_NODE_LOST && strstr(pl.why.text, "cloud1"),
           "%d %s", pl.changes, pl.why.text);
    CHECK(!strcmp(pl.plan.map[0].node, "edge1") && !strcmp(pl.plan.map[1].node, "edge1"));
    for (int i = 0; i < 20; i++) plant_step(&pl);
    CHECKF(pl.changes == 2, "%d changes: %s %s", pl.changes, vd_sched_why_name(pl.why.code),
           pl.why.text);
    plant_free(&pl);
}

int main(void)
{
    test_oracle("face_detection,face_alignment", 24);
    test_oracle("object_detection,pose_estimation,face_detection", 4);
    test_bandwidth_drop(1);
    test_bandwidth_drop(0);
    test_drift(0.7);
    test_drift(2.0);
    test_events();
    return vt_finish();
}
