/*
 * Scheduler "chameleon": Chameleon's idea (Jiang et al., SIGCOMM 2018) on vdag's plans —
 * periodic re-profiling of the top-K configurations, and the cheapest one that keeps the
 * wanted accuracy.
 *
 * Every CH_WINDOW calls (and at the start) a profiling window: the kb search (search.c)
 * ranks the CH_TOP_K most accurate plans predicted to meet the bound, keep up and fit the
 * CPU, on a model calibrated by the running plan's measured / predicted delay (one factor for
 * every node, as Chameleon assumes costs move together). The candidates are then re-ranked
 * with what was measured on live frames: a probe (vd_sched_input.probes) of a candidate
 * replaces its predicted accuracy (and delay; a probe over the bound drops the candidate).
 * The pick is the cheapest candidate (CPU seconds per second over all nodes) whose accuracy
 * reaches alpha: the user's accuracy, else CH_ALPHA_REL x the best candidate's. Between
 * windows the plan is kept.
 *
 * Live re-profiling needs the node layer: vd_sched_probes_wanted gives the candidates of the
 * current window; the edge would run each on a few recent frames beside the golden
 * configuration (model 0, native, every frame) and report a vd_plan_probe per candidate with
 * the next call. Without probes the re-ranking rests on the kb's accuracy for the runtime
 * context's content bucket and the measured delay of the running plan.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sched/search.h"

#define CH_WINDOW    6
#define CH_TOP_K     5
#define CH_ALPHA_REL 0.95
#define CH_CAL_MIN   0.25
#define CH_CAL_MAX   8.0

typedef struct ch_state {
    int started;
    long calls, since;
    int window;
    double cal;
    vd__cand top[CH_TOP_K];
    int n_top;
} ch_state;

static double cost(const vd_sched_input *in, const vd_plan *p)
{
    double s = 0;
    for (int i = 0; i < p->n_stages; i++) {
        double c = vd__stage_cpu(in, p, i);
        if (c > 0) s += c;
    }
    return s * vd__plan_proc_fps(in, p);
}

/* The window: rank, re-rank with probes, pick. Returns 0 and *out, or <0. */
static int window(ch_state *st, const vd_sched_input *in, vd_plan *out, char *text, size_t n)
{
    vd_node_info nodes[VD_MAX_NODES + 1];
    vd_sched_input cin = *in;
    int nn = 0, have_edge = 0;
    for (int k = 0; k < in->n_nodes && k < VD_MAX_NODES && in->nodes; k++) {
        nodes[nn] = in->nodes[k];
        if (st->cal != 1) nodes[nn].speed = (nodes[nn].speed > 0 ? nodes[nn].speed : 1) / st->cal;
        have_edge |= !strcmp(nodes[nn].name, in->edge ? in->edge : "");
        nn++;
    }
    if (!have_edge && st->cal != 1) {
        memset(&nodes[nn], 0, sizeof nodes[nn]);
        snprintf(nodes[nn].name, sizeof nodes[nn].name, "%s", in->edge ? in->edge : "");
        snprintf(nodes[nn].role, sizeof nodes[nn].role, "edge");
        nodes[nn++].speed = 1 / st->cal;
    }
    cin.nodes = nodes;
    cin.n_nodes = nn;
    vd__search_out so;
    int rc = vd__kb_search(&cin, CH_TOP_K, &so);
    if (rc) return rc;
    st->window++;
    if (so.n_top == 0) { /* nothing feasible: the search's fastest */
        *out = so.best.p;
        st->n_top = 0;
        snprintf(text, n, "window %d: no candidate meets the bound; the fastest plan", st->window);
        return 0;
    }
    st->n_top = so.n_top < CH_TOP_K ? so.n_top : CH_TOP_K;
    memcpy(st->top, so.top, (size_t)st->n_top * sizeof *st->top);
    int probed = 0;
    for (int k = 0; k < st->n_top; k++)
        for (int j = 0; j < in->n_probes && in->probes; j++) {
            const vd_plan_probe *pr = &in->probes[j];
            if (!vd_plan_equal(&pr->plan, &st->top[k].p) || pr->n_frames <= 0) continue;
            st->top[k].acc = pr->accuracy;
            if (pr->delay > 0) st->top[k].delay = pr->delay;
            probed++;
        }
    double amax = 0;
    for (int k = 0; k < st->n_top; k++)
        if ((in->delay_bound <= 0 || st->top[k].delay <= in->delay_bound) && st->top[k].acc > amax)
            amax = st->top[k].acc;
    double alpha = in->accuracy > 0 ? in->accuracy : CH_ALPHA_REL * amax;
    int pick = -1;
    double pc = 0;
    for (int k = 0; k < st->n_top; k++) {
        const vd__cand *c = &st->top[k];
        if (in->delay_bound > 0 && c->delay > in->delay_bound) continue;
        if (c->acc < alpha - 1e-12) continue;
        double x = cost(&cin, &c->p);
        if (pick < 0 || x < pc - 1e-12 || (fabs(x - pc) <= 1e-12 && c->acc > st->top[pick].acc))
            pick = k, pc = x;
    }
    if (pick < 0) { /* no candidate reaches alpha: the most accurate */
        pick = 0;
        for (int k = 1; k < st->n_top; k++)
            if (st->top[k].acc > st->top[pick].acc) pick = k;
        pc = cost(&cin, &st->top[pick].p);
    }
    *out = st->top[pick].p;
    snprintf(text, n,
             "window %d: top %d re-ranked (%d probed, delay calibration %.2f); the cheapest "
             "within accuracy %.3f: %.3f, %.2f CPU-s/s, predicted %.3f s",
             st->window, st->n_top, probed, st->cal, alpha, st->top[pick].acc, pc,
             st->top[pick].delay);
    return 0;
}

static int ch_plan(void *priv, const vd_sched_input *in, vd_plan *out, vd_sched_reason *why,
                   vd_error *err)
{
    (void)err;
    ch_state *st = priv;
    st->calls++;
    if (!st->cal) st->cal = 1;
    if (vd__kb_size(in->kb) == 0 || (in->requested && !in->last_plan)) {
        if (in->requested)
            *out = *in->requested;
        else if (in->last_plan)
            *out = *in->last_plan;
        else
            vd_plan_default(in->dag, in->edge, out);
        vd__plan_repair(in, out);
        st->started = vd__kb_size(in->kb) > 0; /* the submitted plan runs until the window */
        return 0;
    }
    char text[sizeof why->text] = "";
    if (!st->started || !in->last_plan) {
        if (window(st, in, out, text, sizeof text)) vd_plan_default(in->dag, in->edge, out);
        vd__plan_repair(in, out);
        st->started = 1;
        st->since = 0;
        why->code = VD_WHY_START;
        snprintf(why->text, sizeof why->text, "%s", text);
        return 0;
    }
    vd_plan cur = *in->last_plan;
    vd__plan_repair(in, &cur);
    *out = cur;
    const vd_plan_result *r = in->last;
    if (r && r->n_frames > 0 && r->total_delay > 0) { /* the running plan's cost, measured */
        double pred = vd_plan_predict(in, &cur);
        if (pred > 0) {
            double c = r->total_delay / pred;
            st->cal = c < CH_CAL_MIN ? CH_CAL_MIN : c > CH_CAL_MAX ? CH_CAL_MAX : c;
        }
    }
    if (++st->since < CH_WINDOW) return 0;
    st->since = 0;
    vd_plan next;
    if (window(st, in, &next, text, sizeof text)) return 0;
    vd__plan_repair(in, &next);
    if (vd_plan_equal(&next, &cur)) return 0;
    *out = next;
    why->code = VD_WHY_PROFILE;
    snprintf(why->text, sizeof why->text, "%s", text);
    return 0;
}

static int ch_probes(void *priv, vd_plan *out, int cap)
{
    ch_state *st = priv;
    int n = 0;
    for (int k = 0; k < st->n_top && n < cap; k++) out[n++] = st->top[k].p;
    return n;
}

const vd_scheduler vd__sched_chameleon = {
    .name = "chameleon",
    .description = "Chameleon: every few calls the kb's top-K plans re-ranked with live "
                   "measurements, the cheapest that keeps the wanted accuracy",
    .priv_size = sizeof(ch_state),
    .plan = ch_plan,
    .probes = ch_probes,
};
