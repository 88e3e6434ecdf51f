/*
 * Scheduler "feedback": a cold-start search over the configuration space, then a PID
 * controller on the measured delay that moves one knob step at a time, and a load rule.
 * It ranks plans by the heuristic accuracy model (vd__plan_accuracy_heuristic), as it always
 * did; the kb's measured accuracy is the "kb" scheduler's.
 *
 * Two quantities (see vd_plan_result in vdag/sched.h):
 *   delay: mean processing time per PROCESSED frame (the seed's total_frame_delay). The
 *     user's bound (user_constraint.delay, vd_sched_input.delay_bound), the prediction
 *     (vd_plan_predict) and the measurement (vd_plan_result.total_delay) are all this.
 *     Skipping frames does not lower it; a smaller resolution or model, tracking (for a
 *     detector-first DAG) and placement do.
 *   load: the fraction of wall time the job is busy = delay x processed frames per second
 *     (vd_plan_load predicts it, vd_plan_result.load measures it over the recent window;
 *     drop_ratio is the fraction of the window's frames the edge dropped as late). Above 1
 *     the job cannot keep up; skipping (nskip) lowers it. The load and drop_ratio count
 *     only when load_valid (the window holds enough data since the plan change); before
 *     that they are unknown: no load rule, no skipping for load, calibration by the delay.
 *
 * Cold start (no running plan, or nothing measured yet and no decision made): enumerate
 * resolutions (native and the ladder rungs below it) x nskip {0,1,2,4} x ntracking
 * {0,2,4} (only for a DAG whose first stage is a detector; else 0) x per stage every
 * model on the edge and the FB_PLACE_NODES least-loaded other nodes that host the
 * service (fewer nodes, then one model index for all stages, when that exceeds
 * FB_MAX_PLANS). Among plans whose predicted delay fits the bound AND whose predicted
 * load is at most 1, pick the best predicted accuracy (those reaching the wanted
 * accuracy first; ties: lower delay); if none, the same without the load condition; if
 * still none, the lowest predicted delay (ties: load at most 1, then accuracy, else lower
 * load). A plan submitted with the job replaces the search.
 *
 * Then, per call with a measurement: e = (measured delay - bound) / bound; integral += e
 * (clamped to +-FB_INTEGRAL_MAX); u = kp e + ki integral + kd (e - previous e). Calibration
 * ratios: delay = measured / predicted delay of the running plan; load = measured /
 * predicted load (the delay ratio when the load is unknown or recent frames were dropped, as
 * a saturated measurement hides the demand). The job is "overloaded" when its measured load
 * exceeds FB_LOAD_OVER or its drop_ratio exceeds FB_DROP_OVER.
 *   u > FB_DEGRADE_U: degrade one step, knobs in order resolution (native, 720, 480, 360),
 *     ntracking (0, 2, 4; detector-first DAGs), nskip (0, 1, 2, 4), model (the costliest
 *     stage that has a smaller one), placement (the costliest stage to the node predicting
 *     the lowest cost). A step that helps and keeps the wanted accuracy is preferred, then
 *     one that helps, then any other step. Resolution, model and placement help when they
 *     lower the predicted delay; tracking is taken only when it lowers it; nskip lowers
 *     only the load, so it is taken only when the job is overloaded (never to chase a
 *     delay bound: the measured delay would not drop).
 *   else, the load rule (independent of the delay): a job whose measured load exceeds
 *     FB_LOAD_SKIP or whose drop_ratio exceeds FB_DROP_SKIP, while the delay is within the
 *     bound, skips one rung more (deliberately, instead of the edge dropping frames at
 *     random);
 *   else u < FB_UPGRADE_U: upgrade one step, reverse order (placement back to the edge,
 *     larger model, less skipping, less tracking, higher resolution), the first step whose
 *     predicted delay, calibrated, is at most FB_UPGRADE_HEADROOM x bound and whose
 *     predicted load, calibrated, is at most FB_UPGRADE_LOAD (FB_LOAD_IDLE_MAX for less
 *     skipping), so an upgrade never makes the job overloaded.
 *   If none of these changed the plan: a job whose measured load is below FB_LOAD_IDLE
 *     (and dropped nothing recently) skips one rung less when its calibrated predicted load
 *     then stays at most FB_LOAD_IDLE_MAX (the gap to FB_LOAD_OVER is the hysteresis).
 * A change resets the integral and the derivative (new operating point) and starts a
 * dwell of FB_DWELL_CALLS calls without another change. Without a bound there is no PID
 * and no upgrade: the cold-start (best-accuracy) plan is kept but for the load rule's
 * skipping. Every emitted plan is repaired against the live nodes and the DAG first (dead
 * nodes -> the edge, model ids and resolution clamped). The plan's fps is never changed
 * (nskip is the frame-rate knob); a requested fps counts in the load.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sched/sched_internal.h"
#include "vdag/cascade.h"
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
#define FB_LOAD_OVER        0.9  /* measured load above which a degrade may skip more */
#define FB_DROP_OVER        0.05 /* ...or above this drop_ratio (recent drops) */
#define FB_LOAD_SKIP        0.95 /* load rule: skip more above this measured load... */
#define FB_DROP_SKIP        0.1  /* ...or above this drop_ratio */
#define FB_LOAD_IDLE        0.5  /* load rule: skip less below this measured load... */
#define FB_LOAD_IDLE_MAX    0.8  /* ...if the calibrated predicted load stays at most this */
#define FB_UPGRADE_LOAD     0.9  /* an upgrade keeps the calibrated predicted load <= this */

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
static const int track_ladder[] = {0, 2, 4};
#define N_TRACK ((int)(sizeof track_ladder / sizeof track_ladder[0]))

/* The plain models: the ladder goes from large to small, which a cascade model (a small
 * one that calls a large one) is not on. */
static int n_models(const vd_sched_input *in, int i)
{
    const vd_service *s = in->dag->stages[i].svc;
    int n = 0;
    while (s && n < s->n_models && !vd_cascade_is(s->model_names[n])) n++;
    return n > 0 ? n : 1;
}

/* Whether ntracking is a knob: the DAG's first stage is a detector (its boxes are tracked
 * between detections). */
static int tracking_knob(const vd_sched_input *in)
{
    const vd_service *s = in->dag->n_stages > 0 ? in->dag->stages[0].svc : NULL;
    return s && s->is_detector;
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

static int degrade_track(const vd_sched_input *in, vd_plan *p)
{
    if (!tracking_knob(in)) return 0;
    for (int k = 0; k < N_TRACK; k++)
        if (track_ladder[k] > p->ntracking) {
            p->ntracking = track_ladder[k];
            return 1;
        }
    return 0;
}

static int upgrade_track(const vd_sched_input *in, vd_plan *p)
{
    (void)in;
    for (int k = N_TRACK - 1; k >= 0; k--)
        if (track_ladder[k] < p->ntracking) {
            p->ntracking = track_ladder[k];
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
            vd__plan_set_node(in, &q, s, cand[k]);
            double c = vd__stage_cost(in, &q, s);
            if (c >= 0 && c < bc * 0.999) bn = cand[k], bc = c;
        }
        if (bn) {
            vd__plan_set_node(in, p, s, bn);
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
        vd__plan_set_node(in, &q, i, edge);
        double d = vd__stage_cost(in, &q, i) - vd__stage_cost(in, p, i);
        if (best < 0 || d < bd) best = i, bd = d;
    }
    if (best < 0) return 0;
    vd__plan_set_node(in, p, best, edge);
    return 1;
}

typedef int (*knob_fn)(const vd_sched_input *, vd_plan *);
enum { K_RES, K_TRACK, K_SKIP, K_MODEL, K_PLACE, N_KNOBS };
static const knob_fn degrades[N_KNOBS] = {degrade_res, degrade_track, degrade_skip, degrade_model,
                                          degrade_place};
/* upgrades[k] undoes degrades[N_KNOBS - 1 - k] */
static const knob_fn upgrades[N_KNOBS] = {upgrade_place, upgrade_model, upgrade_skip, upgrade_track,
                                          upgrade_res};

static int meets_acc(const vd_sched_input *in, const vd_plan *p)
{
    return in->accuracy <= 0 || vd__plan_accuracy_heuristic(in, p) >= in->accuracy - 1e-9;
}

/* One degrade step: prefer a step that helps and keeps the wanted accuracy, then one that
 * helps, then any allowed step. A step helps when it lowers the predicted delay; more
 * skipping never lowers it, so it is allowed (and helps, by lowering the load) only when
 * the job is overloaded; more tracking is allowed only when it lowers the delay. */
static int degrade(const vd_sched_input *in, const vd_plan *cur, int overloaded, vd_plan *out)
{
    double d0 = vd_plan_predict(in, cur);
    for (int pass = 0; pass < 3; pass++)
        for (int k = 0; k < N_KNOBS; k++) {
            vd_plan q = *cur;
            if (!degrades[k](in, &q)) continue;
            double d = vd_plan_predict(in, &q);
            int helps = d0 < 0 || d < 0 || d < d0 - 1e-12;
            if (k == K_SKIP) {
                if (!overloaded) continue;
                helps = 1;
            } else if (k == K_TRACK && !helps) {
                continue;
            }
            if (pass == 0 && !(helps && meets_acc(in, &q))) continue;
            if (pass == 1 && !helps) continue;
            *out = q;
            return 1;
        }
    return 0;
}

/* Whether q's predicted load, calibrated by lratio, stays at most max. */
static int load_fits(const vd_sched_input *in, const vd_plan *q, double lratio, double max)
{
    double l = vd_plan_load(in, q);
    return l >= 0 && l * lratio <= max;
}

/* One upgrade step: the first, in order, whose calibrated predicted delay keeps headroom
 * under the bound and whose calibrated predicted load keeps the job from being
 * overloaded (less skipping: FB_LOAD_IDLE_MAX, so it does not undo the load rule). */
static int upgrade(const vd_sched_input *in, const vd_plan *cur, double ratio, double lratio,
                   vd_plan *out)
{
    for (int k = 0; k < N_KNOBS; k++) {
        vd_plan q = *cur;
        if (!upgrades[k](in, &q)) continue;
        double d = vd_plan_predict(in, &q);
        if (d < 0 || d * ratio > FB_UPGRADE_HEADROOM * in->delay_bound) continue;
        if (!load_fits(in, &q, lratio,
                       upgrades[k] == upgrade_skip ? FB_LOAD_IDLE_MAX : FB_UPGRADE_LOAD))
            continue;
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
    double d, a, l;
    int tier, keeps, acc_ok, have;
} best_t;

/* Tiers: 2 = delay fits and load <= 1, 1 = delay fits, 0 = neither. */
static void consider(const vd_sched_input *in, const vd_plan *p, best_t *b)
{
    double d = vd_plan_predict(in, p);
    if (d < 0) return;
    double a = vd__plan_accuracy_heuristic(in, p), l = vd_plan_load(in, p);
    int fits = in->delay_bound <= 0 || d <= in->delay_bound;
    int keeps = l <= 1 + 1e-12;
    int tier = fits ? (keeps ? 2 : 1) : 0;
    int acc_ok = meets_acc(in, p);
    int better;
    if (!b->have)
        better = 1;
    else if (tier != b->tier)
        better = tier > b->tier;
    else if (tier == 0) {
        if (fabs(d - b->d) > 1e-12)
            better = d < b->d;
        else if (keeps != b->keeps)
            better = keeps;
        else if (keeps)
            better = a > b->a + 1e-12;
        else
            better = l < b->l - 1e-12;
    } else if (acc_ok != b->acc_ok)
        better = acc_ok;
    else
        better = a > b->a + 1e-12 || (fabs(a - b->a) <= 1e-12 && d < b->d - 1e-12);
    if (better) {
        b->p = *p;
        b->d = d;
        b->a = a;
        b->l = l;
        b->tier = tier;
        b->keeps = keeps;
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

    int ntrack = tracking_knob(in) ? N_TRACK : 1;

    static _Thread_local opt opts[VD_MAX_STAGES][8 * (VD_MAX_NODES + 1)];
    int nopt[VD_MAX_STAGES];
    int uniform = 0;
    for (int other = FB_PLACE_NODES; other >= 0; other--) {
        double total = (double)nr * N_SKIP * ntrack;
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
        for (int s = 0; s < N_SKIP * ntrack; s++) {
            vd_plan p = base;
            p.resolution_h = res[r];
            p.nskip = skip_ladder[s % N_SKIP];
            p.ntracking = track_ladder[s / N_SKIP];
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
                    vd__plan_set_node(in, &p, i, opts[i][idx[i]].node);
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

static int fb_plan(void *priv, const vd_sched_input *in, vd_plan *out, vd_sched_reason *why,
                   vd_error *err)
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
        vd__plan_repair(in, &p);
        *out = p;
        return 0;
    }
    int have_meas =
        in->last_plan && in->last && in->last->n_frames > 0 && in->last->total_delay > 0;
    if (!in->last_plan || (!have_meas && !st->started)) {
        start_plan(in, &p);
        vd__plan_repair(in, &p);
        why->code = in->requested ? VD_WHY_REQUESTED : VD_WHY_START;
        st->started = 1;
        st->integral = 0;
        st->have_prev = 0;
        st->dwell = 0;
        *out = p;
        return 0;
    }
    vd_plan cur = *in->last_plan;
    vd__plan_repair(in, &cur);
    st->started = 1;
    *out = cur;
    if (!have_meas) return 0;
    st->measured++;
    double bound = in->delay_bound, meas = in->last->total_delay, u = 0;
    if (bound > 0) {
        double e = (meas - bound) / bound;
        st->integral += e;
        if (st->integral > FB_INTEGRAL_MAX) st->integral = FB_INTEGRAL_MAX;
        if (st->integral < -FB_INTEGRAL_MAX) st->integral = -FB_INTEGRAL_MAX;
        double deriv = st->have_prev ? e - st->prev_e : 0;
        u = FB_KP * e + FB_KI * st->integral + FB_KD * deriv;
        st->prev_e = e;
        st->have_prev = 1;
    }

    if (st->dwell > 0) {
        st->dwell--;
        return 0;
    }
    const vd_plan_result *lr = in->last;
    double pred = vd_plan_predict(in, &cur), pload = vd_plan_load(in, &cur);
    double ratio = pred > 0 ? meas / pred : 1;
    /* right after a change the window holds too little data: the load is unknown */
    double load = lr->load_valid ? lr->load : 0, drops = lr->load_valid ? lr->drop_ratio : 0;
    /* a saturated or unknown load hides the demand: calibrate the load by the delay */
    double lratio = load > 0 && drops <= 0 && pload > 0 ? load / pload : ratio;
    int overloaded = load > FB_LOAD_OVER || drops > FB_DROP_OVER;
    int must_skip = load > FB_LOAD_SKIP || drops > FB_DROP_SKIP;
    int idle = load > 0 && load < FB_LOAD_IDLE && drops <= 0;
    vd_plan next;
    int changed = 0;
    const char *what = "";
    vd_sched_why code = VD_WHY_CONTROL;
    if (u > FB_DEGRADE_U) {
        changed = degrade(in, &cur, overloaded, &next);
        what = "degrade";
    } else if (must_skip && (bound <= 0 || meas <= bound)) {
        next = cur; /* the load rule: skip deliberately instead of dropping at random */
        changed = degrade_skip(in, &next);
        what = "skip more (cannot keep up)";
        code = VD_WHY_OVERLOAD;
    } else if (bound > 0 && u < FB_UPGRADE_U) {
        changed = upgrade(in, &cur, ratio, lratio, &next);
        what = "upgrade";
    }
    if (!(changed && !vd_plan_equal(&next, &cur)) && idle) {
        next = cur; /* the load rule: an idle job skips less */
        changed = upgrade_skip(in, &next) && load_fits(in, &next, lratio, FB_LOAD_IDLE_MAX);
        what = "skip less (idle)";
        code = VD_WHY_OVERLOAD;
    }
    if (changed && !vd_plan_equal(&next, &cur)) {
        why->code = code;
        snprintf(why->text, sizeof why->text,
                 "%s: measured %.3f s (bound %.3f s, PID output %.2f), load %.2f, drops %.0f%%",
                 what, meas, bound, u, load, drops * 100);
        vd__plan_repair(in, &next);
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
    .description = "cold-start search over resolution, skipping, tracking, models and placement, "
                   "then a PID controller on the measured per-frame delay moving one knob step "
                   "at a time, and a load rule on skipping",
    .priv_size = sizeof(fb_state),
    .plan = fb_plan,
};
