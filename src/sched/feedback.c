/*
 * Scheduler "feedback": a cold-start search over the configuration space, then a PID
 * controller on the measured delay that moves one knob step at a time.
 *
 * Cold start (no running plan, or nothing measured yet and no decision made): enumerate
 * resolutions (native and the ladder rungs below it) x nskip {0,1,2,4} x per stage every
 * model on the edge and the FB_PLACE_NODES least-loaded other nodes that host the
 * service (fewer nodes, then one model index for all stages, when that exceeds
 * FB_MAX_PLANS). Pick the best predicted accuracy among plans whose predicted delay fits
 * the bound (those reaching the wanted accuracy first; ties: lower delay); if none fits,
 * the lowest predicted delay. A plan submitted with the job replaces the search.
 *
 * Then, per call with a measurement: e = (measured - bound) / bound; integral += e
 * (clamped to +-FB_INTEGRAL_MAX); u = kp e + ki integral + kd (e - previous e).
 *   u > FB_DEGRADE_U: degrade one step, knobs in order resolution (native, 720, 480, 360),
 *     nskip (0, 1, 2, 4), model (the costliest stage that has a smaller one), placement
 *     (the costliest stage to the node predicting the lowest cost). A step that lowers
 *     the predicted delay and keeps the wanted accuracy is preferred.
 *   u < FB_UPGRADE_U: upgrade one step, reverse order (placement back to the edge, larger
 *     model, less skipping, higher resolution), the first step whose predicted delay,
 *     calibrated by measured/predicted of the running plan, is at most
 *     FB_UPGRADE_HEADROOM x bound.
 * A change resets the integral and the derivative (new operating point) and starts a
 * dwell of FB_DWELL_CALLS calls without another change. Without a bound the cold-start
 * (best-accuracy) plan is kept. Every emitted plan is repaired against the live nodes
 * and the DAG first (dead nodes -> the edge, model ids and resolution clamped).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sched/sched_internal.h"
#include "vdag/base.h"

#define FB_KP               1.0
#define FB_KI               0.1
#define FB_KD               0.01
#define FB_INTEGRAL_MAX     2.0
#define FB_DEGRADE_U        0.05
#define FB_UPGRADE_U        (-0.25)
#define FB_UPGRADE_HEADROOM 0.85
#define FB_DWELL_CALLS      1
#define FB_MAX_PLANS        20000
#define FB_PLACE_NODES      2

typedef struct fb_state {
    double integral, prev_e;
    int have_prev;
    int started; /* a plan has been decided */
    int dwell;   /* calls left before another change */
    long calls, measured, changes;
    double last_decision_ms;
} fb_state;

static const int res_ladder[] = {720, 480, 360};
#define N_RES ((int)(sizeof res_ladder / sizeof res_ladder[0]))
static const int skip_ladder[] = {0, 1, 2, 4};
#define N_SKIP ((int)(sizeof skip_ladder / sizeof skip_ladder[0]))

static int n_models(const vd_sched_input *in, int i)
{
    const vd_service *s = in->dag->stages[i].svc;
    return s && s->n_models > 0 ? s->n_models : 1;
}

static void set_node(const vd_sched_input *in, vd_plan *p, int i, const char *node)
{
    char name[sizeof p->map[i].node]; /* node may point into p */
    snprintf(name, sizeof name, "%s", node);
    snprintf(p->map[i].node, sizeof p->map[i].node, "%s", name);
    snprintf(p->map[i].role, sizeof p->map[i].role, "%s", vd__node_role(in, name));
}

static const char *edge_name(const vd_sched_input *in)
{
    return in->edge ? in->edge : "";
}

/* Candidate nodes for stage i: the edge first, then up to `max_other` other live nodes
 * hosting the service, least loaded first (max_other < 0: all). Returns the count. */
static int candidates(const vd_sched_input *in, int i, int max_other, const char **out)
{
    int n = 0;
    out[n++] = edge_name(in);
    const vd_node_info *other[VD_MAX_NODES];
    int no = 0;
    for (int k = 0; k < in->n_nodes && k < VD_MAX_NODES; k++) {
        const vd_node_info *ni = &in->nodes[k];
        if (!ni->name[0] || !strcmp(ni->name, edge_name(in))) continue;
        if (!vd__node_ok(in, ni->name, in->dag->stages[i].name, NULL)) continue;
        int pos = no++;
        while (pos > 0 && other[pos - 1]->cpu_pct > ni->cpu_pct) {
            other[pos] = other[pos - 1];
            pos--;
        }
        other[pos] = ni;
    }
    if (max_other >= 0 && no > max_other) no = max_other;
    for (int k = 0; k < no; k++) out[n++] = other[k]->name;
    return n;
}

/* Make p valid for in: the DAG's stages, model ids in range, live nodes, resolution not
 * above native. */
static void repair(const vd_sched_input *in, vd_plan *p)
{
    int ok = p->n_stages == in->dag->n_stages;
    for (int i = 0; ok && i < p->n_stages; i++)
        ok = !strcmp(p->map[i].stage, in->dag->stages[i].name);
    if (!ok) {
        vd_plan d;
        vd_plan_default(in->dag, edge_name(in), &d);
        d.resolution_h = p->resolution_h;
        d.fps = p->fps;
        d.nskip = p->nskip;
        d.ntracking = p->ntracking;
        *p = d;
    }
    if (p->resolution_h < 0 || (in->native_h > 0 && p->resolution_h >= in->native_h))
        p->resolution_h = 0;
    if (p->nskip < 0) p->nskip = 0;
    if (p->ntracking < 0) p->ntracking = 0;
    if (p->fps < 0) p->fps = 0;
    if (!p->encoder[0]) snprintf(p->encoder, sizeof p->encoder, "JPEG");
    for (int i = 0; i < p->n_stages; i++) {
        vd_stage_map *m = &p->map[i];
        if (m->model_id < 0) m->model_id = 0;
        if (m->model_id >= n_models(in, i)) m->model_id = n_models(in, i) - 1;
        const char *node = vd__plan_node(in, p, i);
        if (!vd__node_ok(in, node, m->stage, NULL))
            set_node(in, p, i, edge_name(in));
        else
            set_node(in, p, i, node);
    }
}

/* ---- knob steps: each changes p by one step and returns 1, or returns 0 ----------------- */

static int degrade_res(const vd_sched_input *in, vd_plan *p)
{
    int h = vd__plan_eff_res(in, p);
    for (int k = 0; k < N_RES; k++)
        if (res_ladder[k] < h) {
            p->resolution_h = res_ladder[k];
            return 1;
        }
    return 0;
}

static int upgrade_res(const vd_sched_input *in, vd_plan *p)
{
    if (p->resolution_h <= 0) return 0;
    int h = vd__plan_eff_res(in, p), nh = in->native_h > 0 ? in->native_h : 0;
    for (int k = N_RES - 1; k >= 0; k--)
        if (res_ladder[k] > h) {
            p->resolution_h = nh && res_ladder[k] >= nh ? 0 : res_ladder[k];
            return 1;
        }
    p->resolution_h = 0;
    return 1;
}

static int degrade_skip(const vd_sched_input *in, vd_plan *p)
{
    (void)in;
    for (int k = 0; k < N_SKIP; k++)
        if (skip_ladder[k] > p->nskip) {
            p->nskip = skip_ladder[k];
            return 1;
        }
    return 0;
}

static int upgrade_skip(const vd_sched_input *in, vd_plan *p)
{
    (void)in;
    for (int k = N_SKIP - 1; k >= 0; k--)
        if (skip_ladder[k] < p->nskip) {
            p->nskip = skip_ladder[k];
            return 1;
        }
    return 0;
}

static int degrade_model(const vd_sched_input *in, vd_plan *p)
{
    int best = -1;
    double bc = -1;
    for (int i = 0; i < p->n_stages; i++) {
        if (p->map[i].model_id + 1 >= n_models(in, i)) continue;
        double c = vd__stage_cost(in, p, i);
        if (best < 0 || c > bc) best = i, bc = c;
    }
    if (best < 0) return 0;
    p->map[best].model_id++;
    return 1;
}

static int upgrade_model(const vd_sched_input *in, vd_plan *p)
{
    int best = -1;
    double bd = 0;
    for (int i = 0; i < p->n_stages; i++) {
        if (p->map[i].model_id <= 0) continue;
        vd_plan q = *p;
        q.map[i].model_id--;
        double d = vd__stage_cost(in, &q, i) - vd__stage_cost(in, p, i);
        if (best < 0 || d < bd) best = i, bd = d;
    }
    if (best < 0) return 0;
    p->map[best].model_id--;
    return 1;
}

static int degrade_place(const vd_sched_input *in, vd_plan *p)
{
    int done[VD_MAX_STAGES] = {0};
    for (int round = 0; round < p->n_stages; round++) {
        int s = -1;
        double sc = -1;
        for (int i = 0; i < p->n_stages; i++) {
            double c = vd__stage_cost(in, p, i);
            if (!done[i] && (s < 0 || c > sc)) s = i, sc = c;
        }
        done[s] = 1;
        const char *cand[VD_MAX_NODES + 1];
        int n = candidates(in, s, -1, cand);
        const char *cur = vd__plan_node(in, p, s);
        const char *bn = NULL;
        double bc = sc;
        for (int k = 0; k < n; k++) {
            if (!strcmp(cand[k], cur)) continue;
            vd_plan q = *p;
            set_node(in, &q, s, cand[k]);
            double c = vd__stage_cost(in, &q, s);
            if (c >= 0 && c < bc * 0.999) bn = cand[k], bc = c;
        }
        if (bn) {
            set_node(in, p, s, bn);
            return 1;
        }
    }
    return 0;
}

static int upgrade_place(const vd_sched_input *in, vd_plan *p)
{
    const char *edge = edge_name(in);
    int best = -1;
    double bd = 0;
    for (int i = 0; i < p->n_stages; i++) {
        if (!strcmp(vd__plan_node(in, p, i), edge)) continue;
        vd_plan q = *p;
        set_node(in, &q, i, edge);
        double d = vd__stage_cost(in, &q, i) - vd__stage_cost(in, p, i);
        if (best < 0 || d < bd) best = i, bd = d;
    }
    if (best < 0) return 0;
    set_node(in, p, best, edge);
    return 1;
}

typedef int (*knob_fn)(const vd_sched_input *, vd_plan *);
static const knob_fn degrades[] = {degrade_res, degrade_skip, degrade_model, degrade_place};
static const knob_fn upgrades[] = {upgrade_place, upgrade_model, upgrade_skip, upgrade_res};
#define N_KNOBS 4

static int meets_acc(const vd_sched_input *in, const vd_plan *p)
{
    return in->accuracy <= 0 || vd_plan_accuracy(in, p) >= in->accuracy - 1e-9;
}

/* One degrade step: prefer a step that lowers the predicted delay and keeps the wanted
 * accuracy, then one that lowers the delay, then any step. */
static int degrade(const vd_sched_input *in, const vd_plan *cur, vd_plan *out)
{
    double d0 = vd_plan_predict(in, cur);
    for (int pass = 0; pass < 3; pass++)
        for (int k = 0; k < N_KNOBS; k++) {
            vd_plan q = *cur;
            if (!degrades[k](in, &q)) continue;
            double d = vd_plan_predict(in, &q);
            int faster = d0 < 0 || d < 0 || d < d0 - 1e-12;
            if (pass == 0 && !(faster && meets_acc(in, &q))) continue;
            if (pass == 1 && !faster) continue;
            *out = q;
            return 1;
        }
    return 0;
}

static int upgrade(const vd_sched_input *in, const vd_plan *cur, double ratio, vd_plan *out)
{
    for (int k = 0; k < N_KNOBS; k++) {
        vd_plan q = *cur;
        if (!upgrades[k](in, &q)) continue;
        double d = vd_plan_predict(in, &q);
        if (d < 0 || d * ratio > FB_UPGRADE_HEADROOM * in->delay_bound) continue;
        *out = q;
        return 1;
    }
    return 0;
}

/* ---- cold start ------------------------------------------------------------------------ */

typedef struct opt {
    int model;
    const char *node;
} opt;

typedef struct best_t {
    vd_plan p;
    double d, a;
    int feas, acc_ok, have;
} best_t;

static void consider(const vd_sched_input *in, const vd_plan *p, best_t *b)
{
    double d = vd_plan_predict(in, p);
    if (d < 0) return;
    double a = vd_plan_accuracy(in, p);
    int feas = in->delay_bound <= 0 || d <= in->delay_bound;
    int acc_ok = meets_acc(in, p);
    int better;
    if (!b->have)
        better = 1;
    else if (feas != b->feas)
        better = feas;
    else if (!feas)
        better = d < b->d - 1e-12 || (fabs(d - b->d) <= 1e-12 && a > b->a + 1e-12);
    else if (acc_ok != b->acc_ok)
        better = acc_ok;
    else
        better = a > b->a + 1e-12 || (fabs(a - b->a) <= 1e-12 && d < b->d - 1e-12);
    if (better) {
        b->p = *p;
        b->d = d;
        b->a = a;
        b->feas = feas;
        b->acc_ok = acc_ok;
        b->have = 1;
    }
}

static int cold_start(const vd_sched_input *in, vd_plan *out)
{
    vd_plan base;
    vd_plan_default(in->dag, edge_name(in), &base);
    int ns = base.n_stages;
    int res[1 + N_RES], nr = 0;
    res[nr++] = 0;
    int nh = in->native_h > 0 ? in->native_h : VD_SCHED_DEFAULT_NATIVE_H;
    for (int k = 0; k < N_RES; k++)
        if (res_ladder[k] < nh) res[nr++] = res_ladder[k];

    static _Thread_local opt opts[VD_MAX_STAGES][8 * (VD_MAX_NODES + 1)];
    int nopt[VD_MAX_STAGES];
    int uniform = 0;
    for (int other = FB_PLACE_NODES; other >= 0; other--) {
        double total = nr * N_SKIP;
        int maxm = 1;
        for (int i = 0; i < ns; i++) {
            const char *cand[VD_MAX_NODES + 1];
            int nn = candidates(in, i, other, cand);
            int nm = n_models(in, i) < 8 ? n_models(in, i) : 8;
            if (nm > maxm) maxm = nm;
            nopt[i] = 0;
            for (int m = 0; m < nm; m++)
                for (int k = 0; k < nn; k++) opts[i][nopt[i]++] = (opt){m, cand[k]};
            total *= nopt[i];
        }
        if (total <= FB_MAX_PLANS) break;
        /* still too many with every stage on the edge: one model index for all stages */
        if (other == 0) uniform = maxm;
    }

    best_t b = {0};
    int idx[VD_MAX_STAGES];
    for (int r = 0; r < nr; r++)
        for (int s = 0; s < N_SKIP; s++) {
            vd_plan p = base;
            p.resolution_h = res[r];
            p.nskip = skip_ladder[s];
            if (uniform) {
                for (int m = 0; m < uniform; m++) {
                    for (int i = 0; i < ns; i++)
                        p.map[i].model_id = m < n_models(in, i) ? m : n_models(in, i) - 1;
                    consider(in, &p, &b);
                }
                continue;
            }
            memset(idx, 0, sizeof idx);
            for (;;) {
                for (int i = 0; i < ns; i++) {
                    p.map[i].model_id = opts[i][idx[i]].model;
                    set_node(in, &p, i, opts[i][idx[i]].node);
                }
                consider(in, &p, &b);
                int i = 0;
                while (i < ns && ++idx[i] == nopt[i]) idx[i++] = 0;
                if (i == ns) break;
            }
        }
    if (!b.have) return 0;
    *out = b.p;
    return 1;
}

/* ---- the scheduler --------------------------------------------------------------------- */

static void start_plan(const vd_sched_input *in, vd_plan *out)
{
    if (in->requested)
        *out = *in->requested;
    else if (!cold_start(in, out))
        vd_plan_default(in->dag, edge_name(in), out);
}

static int fb_plan(void *priv, const vd_sched_input *in, vd_plan *out, vd_error *err)
{
    (void)err;
    fb_state *st = priv;
    st->calls++;
    st->last_decision_ms = vd_now_ms();
    vd_plan p;
    if (vd__kb_size(in->kb) == 0) {
        /* nothing profiled: nothing to compare plans with */
        if (in->requested)
            p = *in->requested;
        else if (in->last_plan)
            p = *in->last_plan;
        else
            vd_plan_default(in->dag, edge_name(in), &p);
        repair(in, &p);
        *out = p;
        return 0;
    }
    int have_meas =
        in->last_plan && in->last && in->last->n_frames > 0 && in->last->total_delay > 0;
    if (!in->last_plan || (!have_meas && !st->started)) {
        start_plan(in, &p);
        repair(in, &p);
        st->started = 1;
        st->integral = 0;
        st->have_prev = 0;
        st->dwell = 0;
        *out = p;
        return 0;
    }
    vd_plan cur = *in->last_plan;
    repair(in, &cur);
    st->started = 1;
    if (!have_meas || in->delay_bound <= 0) {
        *out = cur;
        return 0;
    }
    st->measured++;
    double bound = in->delay_bound, meas = in->last->total_delay;
    double e = (meas - bound) / bound;
    st->integral += e;
    if (st->integral > FB_INTEGRAL_MAX) st->integral = FB_INTEGRAL_MAX;
    if (st->integral < -FB_INTEGRAL_MAX) st->integral = -FB_INTEGRAL_MAX;
    double deriv = st->have_prev ? e - st->prev_e : 0;
    double u = FB_KP * e + FB_KI * st->integral + FB_KD * deriv;
    st->prev_e = e;
    st->have_prev = 1;

    *out = cur;
    if (st->dwell > 0) {
        st->dwell--;
        return 0;
    }
    vd_plan next;
    int changed = 0;
    if (u > FB_DEGRADE_U) {
        changed = degrade(in, &cur, &next);
    } else if (u < FB_UPGRADE_U) {
        double pred = vd_plan_predict(in, &cur);
        double ratio = pred > 0 ? meas / pred : 1;
        changed = upgrade(in, &cur, ratio, &next);
    }
    if (changed && !vd_plan_equal(&next, &cur)) {
        repair(in, &next);
        *out = next;
        st->integral = 0;
        st->have_prev = 0;
        st->dwell = FB_DWELL_CALLS;
        st->changes++;
    }
    return 0;
}

const vd_scheduler vd__sched_feedback = {
    .name = "feedback",
    .description = "cold-start search over resolution, skipping, models and placement, then a "
                   "PID controller on the measured delay moving one knob step at a time",
    .priv_size = sizeof(fb_state),
    .plan = fb_plan,
};
