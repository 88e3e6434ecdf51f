/*
 * Scheduler "seed-pid": the seed system's method as its documents describe it (seeds 000,
 * 001), for comparison.
 *
 * Cold start: every resolution (native and VD_KB_RES_RUNGS below it) x frame rate (native and
 * VD_KB_FPS_RUNGS below it) x cut point (stages before it on the job's edge, the rest on the
 * cloud: the first live node with role "cloud" hosting them), every stage with model 0 (the
 * seed never turns model_id); delay from the knowledge base as if every node were idle and
 * every link the default (the seed's notes: it ignored machine load and the link); accuracy
 * from the heuristic curves (the seed's kb had no measured accuracy). A configuration meeting
 * the bound: the most accurate; none: the one whose delay is closest to the bound.
 * Then a PID on the measured delay, e = (measured - bound) / bound, gains 1 / 0.1 / 0.01, its
 * state kept from call to call (integral clamped to +-SP_INTEGRAL_MAX), and one step per call
 * when |u| > SP_DEADBAND: u > 0 lowers the resolution one rung, or at the lowest moves the cut
 * point one stage towards the edge (one more stage to the cloud); u < 0 raises the
 * resolution, or at native pulls one stage back from the cloud. Nothing else: no skipping, no
 * tracking, no models, no CPU or link awareness.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sched/sched_internal.h"

#define SP_KP           1.0
#define SP_KI           0.1
#define SP_KD           0.01
#define SP_INTEGRAL_MAX 2.0
#define SP_DEADBAND     0.1

static const int res_rungs[] = {VD_KB_RES_RUNGS};
static const double fps_rungs[] = {VD_KB_FPS_RUNGS};
#define N_RES ((int)(sizeof res_rungs / sizeof *res_rungs))

typedef struct sp_state {
    int started;
    double integral, prev_e;
    int have_prev;
} sp_state;

/* The cloud node for stage i: the first live node with role "cloud" hosting it, or NULL. */
static const char *cloud_for(const vd_sched_input *in, int i)
{
    for (int k = 0; k < in->n_nodes && in->nodes; k++) {
        const vd_node_info *ni = &in->nodes[k];
        if (!strcmp(ni->role, "cloud") && !vd__is_edge(in, ni->name) &&
            vd__node_ok(in, ni->name, in->dag->stages[i].name, NULL))
            return ni->name;
    }
    return NULL;
}

/* Stages [cut, n) on the cloud, the others on the edge. 0 if a stage has no cloud. */
static int set_cut(const vd_sched_input *in, vd_plan *p, int cut)
{
    for (int i = 0; i < p->n_stages; i++) {
        const char *c = i >= cut ? cloud_for(in, i) : in->edge;
        if (!c) return 0;
        vd__plan_set_node(in, p, i, c);
    }
    return 1;
}

/* The first stage on the cloud (n_stages: none). */
static int cut_of(const vd_sched_input *in, const vd_plan *p)
{
    int cut = p->n_stages;
    for (int i = p->n_stages - 1; i >= 0; i--)
        if (!vd__is_edge(in, vd__plan_node(in, p, i))) cut = i;
    return cut;
}

static void cold_start(const vd_sched_input *in, vd_plan *out)
{
    vd_node_info idle[VD_MAX_NODES];
    vd_sched_input cin = *in;
    for (int k = 0; k < in->n_nodes && k < VD_MAX_NODES; k++) {
        idle[k] = in->nodes[k];
        idle[k].cpu_pct = 0;
    }
    cin.nodes = idle;
    cin.links = NULL;
    cin.n_links = 0;
    int nh = in->native_h > 0 ? in->native_h : VD_SCHED_DEFAULT_NATIVE_H;
    double nf = in->native_fps > 0 ? in->native_fps : VD_SCHED_DEFAULT_FPS;
    vd_plan base, best, closest;
    vd_plan_default(in->dag, in->edge, &base);
    best = closest = base;
    double ba = -1, bd = 0, cd = -1;
    for (int r = -1; r < N_RES; r++) {
        if (r >= 0 && res_rungs[r] >= nh) continue;
        for (int f = -1; f < (int)(sizeof fps_rungs / sizeof *fps_rungs); f++) {
            if (f >= 0 && fps_rungs[f] >= nf) continue;
            for (int cut = base.n_stages; cut >= 0; cut--) {
                vd_plan p = base;
                p.resolution_h = r < 0 ? 0 : res_rungs[r];
                p.fps = f < 0 ? 0 : fps_rungs[f];
                if (!set_cut(&cin, &p, cut)) continue;
                double d = vd_plan_predict(&cin, &p), a = vd__plan_accuracy_heuristic(&cin, &p);
                if (d < 0) continue;
                if (in->delay_bound <= 0 || d <= in->delay_bound) {
                    if (a > ba + 1e-12 || (fabs(a - ba) <= 1e-12 && d < bd))
                        best = p, ba = a, bd = d;
                } else if (cd < 0 || d - in->delay_bound < cd) {
                    closest = p, cd = d - in->delay_bound;
                }
            }
        }
    }
    *out = ba >= 0 ? best : closest;
}

/* One PID step on p; 1 if it changed. text says what. */
static int step(const vd_sched_input *in, vd_plan *p, double u, char *text, size_t n)
{
    int h = vd__plan_eff_res(in, p),
        nh = in->native_h > 0 ? in->native_h : VD_SCHED_DEFAULT_NATIVE_H;
    int cut = cut_of(in, p);
    if (u > 0) {
        for (int k = 0; k < N_RES; k++)
            if (res_rungs[k] < h) {
                snprintf(text, n, "resolution %d -> %d", h, res_rungs[k]);
                p->resolution_h = res_rungs[k];
                return 1;
            }
        if (cut > 0 && set_cut(in, p, cut - 1)) {
            snprintf(text, n, "cut point %d -> %d (one more stage to the cloud)", cut, cut - 1);
            return 1;
        }
        return 0;
    }
    if (p->resolution_h > 0) {
        int up = 0;
        for (int k = N_RES - 1; k >= 0 && !up; k--)
            if (res_rungs[k] > h) up = res_rungs[k];
        up = !up || up >= nh ? 0 : up;
        snprintf(text, n, "resolution %d -> %d", h, up ? up : nh);
        p->resolution_h = up;
        return 1;
    }
    if (cut < p->n_stages && set_cut(in, p, cut + 1)) {
        snprintf(text, n, "cut point %d -> %d (one stage back to the edge)", cut, cut + 1);
        return 1;
    }
    return 0;
}

static int sp_plan(void *priv, const vd_sched_input *in, vd_plan *out, vd_sched_reason *why,
                   vd_error *err)
{
    (void)err;
    sp_state *st = priv;
    if (vd__kb_size(in->kb) == 0) { /* nothing profiled: nothing to compare plans with */
        if (in->requested)
            *out = *in->requested;
        else if (in->last_plan)
            *out = *in->last_plan;
        else
            vd_plan_default(in->dag, in->edge, out);
        vd__plan_repair(in, out);
        return 0;
    }
    if (!st->started || !in->last_plan) {
        if (in->requested)
            *out = *in->requested;
        else
            cold_start(in, out);
        vd__plan_repair(in, out);
        why->code = in->requested ? VD_WHY_REQUESTED : VD_WHY_START;
        st->started = 1;
        return 0;
    }
    vd_plan cur = *in->last_plan;
    vd__plan_repair(in, &cur);
    *out = cur;
    if (!in->last || in->last->n_frames <= 0 || in->last->total_delay <= 0 || in->delay_bound <= 0)
        return 0;
    double e = (in->last->total_delay - in->delay_bound) / in->delay_bound;
    st->integral += e;
    if (st->integral > SP_INTEGRAL_MAX) st->integral = SP_INTEGRAL_MAX;
    if (st->integral < -SP_INTEGRAL_MAX) st->integral = -SP_INTEGRAL_MAX;
    double u = SP_KP * e + SP_KI * st->integral + SP_KD * (st->have_prev ? e - st->prev_e : 0);
    st->prev_e = e;
    st->have_prev = 1;
    if (fabs(u) <= SP_DEADBAND) return 0;
    char what[160];
    vd_plan next = cur;
    if (!step(in, &next, u, what, sizeof what) || vd_plan_equal(&next, &cur)) return 0;
    *out = next;
    why->code = VD_WHY_CONTROL;
    snprintf(why->text, sizeof why->text, "seed PID: measured %.3f s, bound %.3f s, u %+.2f: %s",
             in->last->total_delay, in->delay_bound, u, what);
    return 0;
}

const vd_scheduler vd__sched_seed_pid = {
    .name = "seed-pid",
    .description = "the seed's method: cold start from the kb (resolution, fps, cut point), then "
                   "a PID (1/0.1/0.01) on the measured delay turning resolution and the cut point",
    .priv_size = sizeof(sp_state),
    .plan = sp_plan,
};
