/*
 * Scheduler "kb": a cold-start search over the whole plan space (search.c) for the most
 * accurate plan the knowledge base predicts to meet KB_MARGIN x the bound (the rest is room
 * for measurement noise), keep up and fit every node's CPU, then, per job (priv), a re-plan
 * only on an event:
 *   constraint  the user's delay bound or accuracy changed;
 *   node lost   a node the plan uses is gone (its stages go back to the edge at once);
 *   link        the link model moved for a pair the job can use (bandwidth by more than
 *               KB_LINK_TOL, or round trip by more than KB_RTT_TOL_S and KB_LINK_TOL);
 *   node joined a live node the last plan did not know;
 *   drift       for KB_DRIFT_CALLS calls in a row the measured delay is more than KB_DRIFT_TOL
 *               off the prediction: slower and over the bound (one call when over KB_SEVERE x
 *               the bound), or faster (a better plan may fit); or the content bucket of the
 *               runtime context changed for as long;
 *   overload    for as long the job cannot keep up (load or drops, load_valid only).
 * Calibration: the measured delay of each stage, less its predicted transfer, over its
 * predicted compute gives the node's residual (its mean over the plan's calls); a re-plan
 * multiplies the node's factor by it (KB_CAL_MIN..KB_CAL_MAX) and the search runs on a private
 * copy of the nodes whose speed is divided by the factor. Without per-stage delays the total's
 * ratio goes to every node the plan uses. A factor changes only when a plan uses the node, so
 * a steady world never makes the scheduler leave a plan and come back.
 * Hysteresis: the plan changes when it must (the current one is predicted to miss the bound,
 * fall behind or overfill a CPU, or uses a lost node: then the search aims at KB_MARGIN x the
 * bound), else only for a plan at least KB_ACC_MARGIN more accurate predicted within
 * KB_HEADROOM x the bound; after a change
 * KB_DWELL_CALLS calls pass before drift counts again (but a missed bound is never waited on:
 * the cloud passes only measurements of the plan it last sent). A measurement of a plan that
 * used a lost node is not folded into the calibration. Every change says why
 * (vd_sched_reason).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sched/search.h"
#include "vdag/base.h"

#define KB_DRIFT_TOL   0.15
#define KB_DRIFT_CALLS 2
#define KB_DWELL_CALLS 2
#define KB_ACC_MARGIN  0.01
#define KB_HEADROOM    0.9
#define KB_MARGIN      0.95 /* plans aim at this x the bound: room for measurement noise */
#define KB_LINK_TOL    0.3
#define KB_RTT_TOL_S   0.005
#define KB_CAL_MIN     0.25
#define KB_CAL_MAX     20.0
#define KB_MIN_FRAMES  3
#define KB_LOAD_OVER   0.95
#define KB_DROP_OVER   0.1
#define KB_SEVERE      1.5 /* measured over this x the bound: drift acts on one call */
#define KB_RESID_MAX   10.0

typedef struct kb_cal {
    char node[64];
    double f;     /* calibration: measured / profiled compute */
    double resid; /* mean residual over the current plan's calls (0: none yet) */
    int n;
} kb_cal;

typedef struct kb_state {
    int started;
    double bound, acc_want;
    char nodes[VD_MAX_NODES][64];
    int n_nodes;
    double bw[VD_MAX_NODES], rtt[VD_MAX_NODES]; /* edge -> nodes[k] at the last plan */
    int bucket, new_bucket, bucket_calls;
    kb_cal cal[VD_MAX_NODES + 1];
    int n_cal;
    int over, under, overload, dwell;
    long calls, changes;
} kb_state;

static const char *edge_of(const vd_sched_input *in)
{
    return in->edge ? in->edge : "";
}

static kb_cal *cal_of(kb_state *st, const char *node, int create)
{
    for (int i = 0; i < st->n_cal; i++)
        if (!strcmp(st->cal[i].node, node)) return &st->cal[i];
    if (!create || st->n_cal == VD_MAX_NODES + 1) return NULL;
    kb_cal *c = &st->cal[st->n_cal++];
    memset(c, 0, sizeof *c);
    snprintf(c->node, sizeof c->node, "%s", node);
    c->f = 1;
    return c;
}

/* in with every calibrated node's speed divided by its factor (nodes: VD_MAX_NODES + 1). */
static void calibrated(kb_state *st, const vd_sched_input *in, vd_node_info *nodes,
                       vd_sched_input *out)
{
    *out = *in;
    int n = 0, have_edge = 0;
    for (int k = 0; k < in->n_nodes && k < VD_MAX_NODES && in->nodes; k++) {
        nodes[n] = in->nodes[k];
        kb_cal *c = cal_of(st, nodes[n].name, 0);
        if (c && c->f != 1) nodes[n].speed = (nodes[n].speed > 0 ? nodes[n].speed : 1) / c->f;
        if (!strcmp(nodes[n].name, edge_of(in))) have_edge = 1;
        n++;
    }
    kb_cal *ce = cal_of(st, edge_of(in), 0);
    if (!have_edge && ce && ce->f != 1) {
        memset(&nodes[n], 0, sizeof nodes[n]);
        snprintf(nodes[n].name, sizeof nodes[n].name, "%s", edge_of(in));
        snprintf(nodes[n].role, sizeof nodes[n].role, "edge");
        nodes[n].speed = 1 / ce->f;
        n++;
    }
    out->nodes = nodes;
    out->n_nodes = n;
}

static void snapshot(kb_state *st, const vd_sched_input *in)
{
    st->bound = in->delay_bound;
    st->acc_want = in->accuracy;
    st->n_nodes = 0;
    for (int k = 0; k < in->n_nodes && k < VD_MAX_NODES && in->nodes; k++) {
        snprintf(st->nodes[st->n_nodes], sizeof st->nodes[0], "%s", in->nodes[k].name);
        vd_link_get(in, edge_of(in), in->nodes[k].name, &st->bw[st->n_nodes],
                    &st->rtt[st->n_nodes]);
        st->n_nodes++;
    }
    st->bucket = vd__plan_bucket(in);
    st->bucket_calls = 0;
    for (int i = 0; i < st->n_cal; i++) st->cal[i].resid = 0, st->cal[i].n = 0;
    st->over = st->under = st->overload = 0;
}

static int known_node(const kb_state *st, const char *name)
{
    for (int k = 0; k < st->n_nodes; k++)
        if (!strcmp(st->nodes[k], name)) return k;
    return -1;
}

static int live(const vd_sched_input *in, const char *name)
{
    return vd__is_edge(in, name) || vd__find_node(in, name) != NULL;
}

/* The events, in order; 0 if none. text gets what happened. */
static vd_sched_why event(kb_state *st, const vd_sched_input *in, const vd_plan *last, char *text,
                          size_t n)
{
    if (fabs(in->delay_bound - st->bound) > 1e-9 || fabs(in->accuracy - st->acc_want) > 1e-9) {
        snprintf(text, n, "delay bound %.3f -> %.3f s, accuracy %.2f -> %.2f", st->bound,
                 in->delay_bound, st->acc_want, in->accuracy);
        return VD_WHY_CONSTRAINT;
    }
    for (int i = 0; i < last->n_stages; i++) {
        const char *node = vd__plan_node(in, last, i);
        if (!live(in, node) || !vd__node_ok(in, node, last->map[i].stage, NULL)) {
            snprintf(text, n, "node %s (running %s) is gone", node, last->map[i].stage);
            return VD_WHY_NODE_LOST;
        }
    }
    for (int k = 0; k < st->n_nodes; k++)
        if (!live(in, st->nodes[k])) {
            snprintf(text, n, "node %s is gone", st->nodes[k]);
            return VD_WHY_NODE_LOST;
        }
    for (int k = 0; k < in->n_nodes && in->nodes; k++) {
        const char *node = in->nodes[k].name;
        int s = known_node(st, node);
        if (s < 0 || vd__is_edge(in, node)) continue;
        double bw, rtt;
        vd_link_get(in, edge_of(in), node, &bw, &rtt);
        double r = bw / st->bw[s];
        if (r > 1 + KB_LINK_TOL || r < 1 / (1 + KB_LINK_TOL) ||
            (fabs(rtt - st->rtt[s]) > KB_RTT_TOL_S &&
             fabs(rtt - st->rtt[s]) > KB_LINK_TOL * st->rtt[s])) {
            snprintf(text, n, "link %s->%s: %.1f -> %.1f Mbit/s, RTT %.1f -> %.1f ms", edge_of(in),
                     node, st->bw[s] * 8e-6, bw * 8e-6, st->rtt[s] * 1e3, rtt * 1e3);
            return VD_WHY_LINK;
        }
    }
    for (int k = 0; k < in->n_nodes && in->nodes; k++)
        if (known_node(st, in->nodes[k].name) < 0 && !vd__is_edge(in, in->nodes[k].name)) {
            snprintf(text, n, "node %s joined", in->nodes[k].name);
            return VD_WHY_NODE_JOINED;
        }
    return VD_WHY_NONE;
}

/* Fold one measurement of plan cur into the nodes' residuals. */
static void residuals(kb_state *st, const vd_sched_input *cin, const vd_plan *cur,
                      const vd_plan_result *r, double ratio)
{
    double meas[VD_MAX_STAGES + 1] = {0}, comp[VD_MAX_STAGES + 1] = {0};
    const char *node[VD_MAX_STAGES + 1];
    int nn = 0, per_stage = 0;
    int step =
        cin->dag->generator == VD_GEN_CLIP && cin->dag->clip_len > 1 ? cin->dag->clip_len : 1;
    for (int i = 0; i < cur->n_stages; i++) per_stage |= r->delay[i] > 0;
    for (int i = 0; i < cur->n_stages; i++) {
        const char *nd = vd__plan_node(cin, cur, i);
        int k = 0;
        while (k < nn && strcmp(node[k], nd)) k++;
        if (k == nn) node[nn++] = nd;
        double c = vd__stage_compute(cin, cur, i);
        if (c <= 0) continue;
        comp[k] += c;
        meas[k] += per_stage ? r->delay[i] / step - vd__stage_transfer(cin, cur, i) : c * ratio;
    }
    for (int k = 0; k < nn; k++) {
        if (comp[k] <= 0) continue;
        double x = meas[k] / comp[k];
        x = x < 1 / KB_RESID_MAX ? 1 / KB_RESID_MAX : x > KB_RESID_MAX ? KB_RESID_MAX : x;
        kb_cal *c = cal_of(st, node[k], 1);
        if (!c) continue;
        c->resid = c->n ? 0.5 * c->resid + 0.5 * x : x;
        c->n++;
    }
}

static void apply_residuals(kb_state *st)
{
    for (int i = 0; i < st->n_cal; i++) {
        kb_cal *c = &st->cal[i];
        if (c->n > 0) c->f *= c->resid;
        if (c->f < KB_CAL_MIN) c->f = KB_CAL_MIN;
        if (c->f > KB_CAL_MAX) c->f = KB_CAL_MAX;
        c->resid = 0, c->n = 0;
    }
}

/* Whether plan p must change under the calibrated model. */
static int must_change(const vd_sched_input *cin, const vd_plan *p)
{
    double d = vd_plan_predict(cin, p);
    if (d < 0) return 1;
    if (cin->delay_bound > 0 && d > cin->delay_bound) return 1;
    return vd_plan_load(cin, p) > 1 + 1e-12 || !vd_plan_cpu_fits(cin, p);
}

/* in with its bound scaled by f (into *tmp). */
static const vd_sched_input *with_bound(const vd_sched_input *in, double f, vd_sched_input *tmp)
{
    *tmp = *in;
    if (tmp->delay_bound > 0) tmp->delay_bound *= f;
    return tmp;
}

static void describe(const vd_sched_input *cin, const vd_plan *p, double ms, long leaves,
                     char *text, size_t n)
{
    size_t l = strlen(text);
    snprintf(text + l, n - l,
             "%s%s: predicted %.3f s, load %.2f, accuracy %.3f (%ld plans, %.1f ms)", l ? "; " : "",
             "new plan", vd_plan_predict(cin, p), vd_plan_load(cin, p), vd_plan_accuracy(cin, p),
             leaves, ms);
}

static int kb_plan(void *priv, const vd_sched_input *in, vd_plan *out, vd_sched_reason *why,
                   vd_error *err)
{
    (void)err;
    kb_state *st = priv;
    st->calls++;
    if (vd__kb_size(in->kb) == 0) { /* nothing profiled: nothing to compare plans with */
        if (in->requested)
            *out = *in->requested;
        else if (in->last_plan)
            *out = *in->last_plan;
        else
            vd_plan_default(in->dag, edge_of(in), out);
        vd__plan_repair(in, out);
        return 0;
    }
    vd__search_out so;
    vd_sched_input tin;
    if (!st->started || !in->last_plan) {
        double t0 = vd_now_ms();
        if (in->requested) {
            *out = *in->requested;
            why->code = VD_WHY_REQUESTED;
        } else if (vd__kb_search(with_bound(in, KB_MARGIN, &tin), 1, &so) == 0) {
            *out = so.best.p;
            vd__plan_exits(in, out);
            why->code = VD_WHY_START;
            snprintf(why->text, sizeof why->text, "cold start");
            describe(in, out, vd_now_ms() - t0, so.leaves, why->text, sizeof why->text);
        } else {
            vd_plan_default(in->dag, edge_of(in), out);
        }
        vd__plan_repair(in, out);
        st->started = 1;
        snapshot(st, in);
        return 0;
    }
    vd_plan cur = *in->last_plan;
    vd__plan_repair(in, &cur);
    *out = cur;
    vd_node_info nodes[VD_MAX_NODES + 1];
    vd_sched_input cin;
    calibrated(st, in, nodes, &cin);

    char text[sizeof why->text] = "";
    vd_sched_why code = event(st, in, in->last_plan, text, sizeof text);
    const vd_plan_result *r = in->last;
    int have_meas = r && r->n_frames >= KB_MIN_FRAMES && r->total_delay > 0;
    double pred = vd_plan_predict(&cin, &cur), meas = have_meas ? r->total_delay : 0;
    double ratio = have_meas && pred > 0 ? meas / pred : 1;
    /* a measurement of a plan that used a lost node says nothing of the repaired one */
    if (have_meas && pred > 0 && code != VD_WHY_NODE_LOST && vd_plan_equal(&cur, in->last_plan))
        residuals(st, &cin, &cur, r, ratio);
    int violating = have_meas && in->delay_bound > 0 && meas > in->delay_bound;
    int slow = violating && ratio > 1 + KB_DRIFT_TOL;
    int severe = slow && meas > in->delay_bound * KB_SEVERE;
    if (code == VD_WHY_NONE && st->dwell > 0 && !slow) { /* a missed bound is not waited on */
        st->dwell--;
        return 0;
    }
    if (code == VD_WHY_NONE && have_meas) {
        st->over = slow ? st->over + (severe ? KB_DRIFT_CALLS : 1) : 0;
        st->under = ratio < 1 / (1 + KB_DRIFT_TOL) ? st->under + 1 : 0;
        int over = r->load_valid && (r->load > KB_LOAD_OVER || r->drop_ratio > KB_DROP_OVER);
        st->overload = over ? st->overload + 1 : 0;
        int b = vd__plan_bucket(in);
        if (b != st->bucket && b == st->new_bucket)
            st->bucket_calls++;
        else
            st->bucket_calls = b != st->bucket;
        st->new_bucket = b;
        if (st->over >= KB_DRIFT_CALLS || st->under >= KB_DRIFT_CALLS) {
            code = VD_WHY_DRIFT;
            snprintf(text, sizeof text, "measured %.3f s vs predicted %.3f s (%.2fx)%s", meas, pred,
                     ratio, severe ? ", far over the bound" : " for 2 calls");
        } else if (st->overload >= KB_DRIFT_CALLS) {
            code = VD_WHY_OVERLOAD;
            snprintf(text, sizeof text, "load %.2f, %.0f%% dropped for %d calls", r->load,
                     r->drop_ratio * 100, KB_DRIFT_CALLS);
        } else if (st->bucket_calls >= KB_DRIFT_CALLS) {
            code = VD_WHY_DRIFT;
            snprintf(text, sizeof text, "content %s -> %s", vd_kb_bucket_name(st->bucket),
                     vd_kb_bucket_name(b));
        }
    }
    if (code == VD_WHY_NONE) return 0;

    /* re-plan on the calibrated model */
    if (code != VD_WHY_CONSTRAINT && code != VD_WHY_LINK && code != VD_WHY_NODE_JOINED)
        apply_residuals(st);
    calibrated(st, in, nodes, &cin);
    int must = code == VD_WHY_NODE_LOST || must_change(&cin, &cur);
    double t0 = vd_now_ms();
    int rc = vd__kb_search(with_bound(&cin, must ? KB_MARGIN : KB_HEADROOM, &tin), 1, &so);
    double ms = vd_now_ms() - t0;
    vd_plan next = cur;
    if (rc == 0) {
        if (must)
            next = so.best.p;
        else if (so.n_top > 0 && so.top[0].acc > vd_plan_accuracy(&cin, &cur) + KB_ACC_MARGIN)
            next = so.top[0].p;
        if (!vd_plan_equal(&next, &cur)) vd__plan_exits(&cin, &next);
    }
    vd__plan_repair(in, &next);
    snapshot(st, in);
    if (vd_plan_equal(&next, in->last_plan)) return 0;
    *out = next;
    st->dwell = KB_DWELL_CALLS;
    st->changes++;
    why->code = code;
    snprintf(why->text, sizeof why->text, "%s", text);
    describe(&cin, &next, ms, so.leaves, why->text, sizeof why->text);
    return 0;
}

const vd_scheduler vd__sched_kb = {
    .name = "kb",
    .description = "branch-and-bound search of the whole plan space on the measured knowledge "
                   "base (accuracy, delay, bytes, links, node CPU), then re-plans on drift, "
                   "link changes, lost nodes and constraint changes, with hysteresis",
    .priv_size = sizeof(kb_state),
    .plan = kb_plan,
};
