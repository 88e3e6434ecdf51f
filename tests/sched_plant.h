/* A simulated plant for the schedulers' tests: a knowledge base, an edge and a cloud, a link,
 * and a step that measures the running plan in the "world" per processed frame as the edge
 * would (total and per stage, load with drops above 1), with noise. Header-only (static). */
#ifndef VDAG_SCHED_PLANT_H
#define VDAG_SCHED_PLANT_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sched/sched_internal.h"
#include "testlib.h"
#include "vdag/sched.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(double lo, double hi)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return lo + (hi - lo) * (double)(rng >> 11) / (double)(1ull << 53);
}

static vd_dag *pipeline(const char *csv)
{
    vd_dag *d = NULL;
    vd_error err = {0};
    if (vd_dag_from_pipeline(csv, &d, &err)) fprintf(stderr, "%s\n", err.msg);
    return d;
}

/* face_detection m0 60/40/30 ms, m1 25/15/10 at 720/480/360 (accuracy measured: 1.0/0.95/0.85
 * and 0.8/0.75/0.6, minus 0.05 per tracking rung and 0.1 at nskip 2 at 10 fps); face_alignment
 * 30/25/20; JPEG 0.06 byte
 * per pixel at q85, 0.03 at q50. */
static vd_kb *plant_kb(void)
{
    vd_kb *kb = vd_kb_new();
    const int hs[3] = {720, 480, 360};
    const double f0[3] = {60, 40, 30}, f1[3] = {25, 15, 10}, fa[3] = {30, 25, 20};
    const double a0[3] = {1.0, 0.95, 0.85}, a1[3] = {0.8, 0.75, 0.6};
    for (int k = 0; k < 3; k++) {
        vd_kb_set(kb, "face_detection", 0, hs[k], f0[k]);
        vd_kb_set(kb, "face_detection", 1, hs[k], f1[k]);
        vd_kb_set(kb, "face_alignment", 0, hs[k], fa[k]);
        for (int m = 0; m < 2; m++)
            for (int t = 0; t < 3; t++)
                for (int s = 0; s < 2; s++) {
                    vd_kb_acc_key key = {.service = "face_detection",
                                         .field = "bbox",
                                         .model_id = m,
                                         .res = hs[k],
                                         .ntracking = 2 * t,
                                         .nskip = 2 * s,
                                         .src_fps = 10};
                    vd_kb_acc v = {.metric = VD_METRIC_F1, .n = 10};
                    v.value = (m ? a1[k] : a0[k]) - 0.05 * t - 0.1 * s;
                    vd_kb_set_acc(kb, &key, &v);
                }
    }
    for (int q = 0; q < 2; q++) {
        vd_kb_bytes b = {.width = 1280,
                         .bytes = (q ? 0.03 : 0.06) * 1280 * 720,
                         .enc_ms = 1,
                         .dec_ms = 1,
                         .n = 10};
        vd_kb_set_bytes(kb, 720, VD_ENC_JPEG, q ? 50 : 85, &b);
    }
    return kb;
}

/* The scheduler sees `in` (nodes, links as the node layer reports them); the world is `truth`
 * (its own nodes and links). Each step measures the running plan in the world per processed
 * frame, as the edge would (total and per stage, load with drops above 1), with noise. */
typedef struct plant {
    vd_sched *s;
    vd_dag *d;
    vd_kb *kb;
    vd_sched_input in, truth;
    vd_node_info nodes[3], tnodes[3];
    vd_link links[1], tlinks[1];
    vd_runtime rt;
    vd_plan plan;
    vd_plan_result res;
    double amp, meas;
    int changes;
    vd_sched_reason why; /* of the last change */
} plant;

static void plant_start(plant *pl, const char *sched, double bound)
{
    memset(pl, 0, sizeof *pl);
    pl->d = pipeline("face_detection,face_alignment");
    pl->kb = plant_kb();
    pl->nodes[0] = (vd_node_info){.name = "edge1", .role = "edge", .n_cores = 2, .speed = 1};
    pl->nodes[1] = (vd_node_info){.name = "cloud1", .role = "cloud", .n_cores = 16, .speed = 6};
    pl->links[0] = (vd_link){.from = "edge1", .to = "cloud1", .bw_Bps = 50e6 / 8, .rtt_s = 0.001};
    memcpy(pl->tnodes, pl->nodes, sizeof pl->nodes);
    memcpy(pl->tlinks, pl->links, sizeof pl->links);
    vd_sched_input in = {.dag = pl->d,
                         .edge = "edge1",
                         .nodes = pl->nodes,
                         .n_nodes = 2,
                         .kb = pl->kb,
                         .rt = &pl->rt,
                         .delay_bound = bound,
                         .native_h = 720,
                         .native_w = 1280,
                         .native_fps = 10,
                         .links = pl->links,
                         .n_links = 1};
    pl->in = in;
    pl->truth = in;
    pl->truth.nodes = pl->tnodes;
    pl->truth.links = pl->tlinks;
    vd_error err = {0};
    CHECK(vd_sched_new(sched, &pl->s, &err) == 0);
    CHECKF(vd_sched_plan(pl->s, &pl->in, &pl->plan, &err) == 0, "%s", err.msg);
}

static void plant_free(plant *pl)
{
    vd_sched_free(pl->s);
    vd_kb_free(pl->kb);
    vd_dag_free(pl->d);
}

static double nz(double amp)
{
    return 1 + amp * (2 * urand(0, 1) - 1);
}

/* Measure the running plan in the world; ask for the next plan. Returns 1 if it changed. */
static int plant_step(plant *pl)
{
    memset(&pl->res, 0, sizeof pl->res);
    double n = nz(pl->amp), total = 0;
    for (int i = 0; i < pl->plan.n_stages; i++) {
        pl->res.delay[i] = vd__stage_cost(&pl->truth, &pl->plan, i) * n;
        total += pl->res.delay[i];
    }
    total += vd__plan_encode(&pl->truth, &pl->plan) * n;
    double demand = total * vd__plan_proc_fps(&pl->truth, &pl->plan);
    pl->meas = total;
    pl->res.n_frames = 30;
    pl->res.total_delay = total;
    pl->res.load_valid = 1;
    pl->res.load = demand > 1 ? 1 : demand;
    pl->res.drop_ratio = demand > 1 ? (demand - 1) / demand : 0;
    pl->in.last_plan = &pl->plan;
    pl->in.last = &pl->res;
    vd_plan next;
    vd_error err = {0};
    CHECKF(vd_sched_plan(pl->s, &pl->in, &next, &err) == 0, "%s", err.msg);
    int changed = !vd_plan_equal(&next, &pl->plan);
    if (changed) {
        pl->changes++;
        pl->why = *vd_sched_last_reason(pl->s);
    }
    pl->plan = next;
    return changed;
}

/* The world's delay of the running plan (no noise). */
static double world(const plant *pl)
{
    return vd_plan_predict(&pl->truth, &pl->plan);
}

static const char *where(const vd_plan *p, char *buf, size_t n)
{
    snprintf(buf, n, "%dp m%d q%d trk %d skip %d on %s/%s", p->resolution_h, p->map[0].model_id,
             p->quality, p->ntracking, p->nskip, p->map[0].node, p->map[1].node);
    return buf;
}

#endif
