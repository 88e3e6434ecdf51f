/*
 * The kb scheduler's plan search: branch and bound over the space of vdag/sched.h
 * (VD_KB_*_RUNGS, models and placement per stage, encoder settings).
 *
 * A video configuration vc = (height, fps, nskip, ntracking, encoder) fixes, per stage and
 * option (model, node), the stage's cost (compute + transfer, as vd__stage_cost), its CPU
 * work and its accuracy factor; those come from tables filled once per search from the same
 * cost-model functions (accuracy through the kb's surfaces, so no look-up scans the kb in the
 * inner loop). The configurations are visited by decreasing accuracy bound (the product of
 * each stage's best factor); a depth-first walk over the stages' options prunes on
 *   the delay: partial sum + the cheapest rest > min(bound, 1 / processed fps),
 *   the accuracy: partial product x the best rest < the K-th best found so far,
 *   the CPU: a node's work x processed fps / its cores > its headroom;
 * and every plan that could enter the top K is evaluated exactly with the public model
 * (vd_plan_predict, vd_plan_load, vd_plan_accuracy, vd_plan_cpu_fits), which decides.
 * Without any feasible plan a second walk minimises the delay (tier 1: keeping up and fitting
 * the CPU; tier 0: anything), visiting configurations by increasing delay bound until the
 * bound passes the best plan found.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sched/kb_internal.h"
#include "sched/search.h"
#include "vdag/svc.h"

#define EPS      1e-9
#define MAX_OPT  64
#define MAX_ENC  8
#define N_RES    5
#define N_FPS    4
#define N_SKIP   4
#define N_TRACK  4
#define MAX_VC   (N_RES * N_FPS * N_SKIP * N_TRACK)
#define MAX_NODE (VD_KB_PLACE_NODES + 1)

static const int res_rungs[] = {VD_KB_RES_RUNGS};
static const double fps_rungs[] = {VD_KB_FPS_RUNGS};
static const int skip_rungs[] = {VD_KB_SKIP_RUNGS};
static const int track_rungs[] = {VD_KB_TRACK_RUNGS};

typedef struct sopt {
    int model, node; /* node: index into sctx.node */
} sopt;

typedef struct vc_t {
    int r, f, s, t;
    double ub; /* accuracy bound over every encoder */
} vc_t;

typedef struct sctx {
    const vd_sched_input *in;
    vd__search_out *out;
    int top_k, ns, step;
    const char *node[MAX_NODE];
    int nn;
    double headroom[MAX_NODE], cores[MAX_NODE];
    sopt opt[VD_MAX_STAGES][MAX_OPT];
    int nopt[VD_MAX_STAGES];
    int res[N_RES], nr, nt, ne, ntr;
    double fps[N_FPS];
    int nf;
    vd_enc_opt enc[MAX_ENC];
    int detector[VD_MAX_STAGES];
    /* tables */
    double cost[N_RES][N_TRACK][MAX_ENC][VD_MAX_STAGES][MAX_OPT];
    double cpu[N_RES][N_TRACK][VD_MAX_STAGES][MAX_OPT];
    double encode[N_RES][MAX_ENC];                               /* ms to code a frame */
    double acc[N_RES][N_FPS][N_SKIP][N_TRACK][VD_MAX_STAGES][8]; /* raw, per model (<8) */
    int measured[VD_MAX_STAGES][8];
    double encf[VD_MAX_STAGES][8][MAX_ENC];
    /* the walk */
    vd_plan base;
    int pick[VD_MAX_STAGES];
    double node_cpu[MAX_NODE];
    double minrest[VD_MAX_STAGES + 1], maxrest[VD_MAX_STAGES + 1];
    double smax, fps_proc, pen;
    int vr, vf, vs, vt, ve, mode; /* mode 2: most accurate feasible; 1, 0: fastest */
    double best_s;                /* modes 1, 0 */
} sctx;

static int nmodels(const vd_sched_input *in, int i)
{
    const vd_service *s = in->dag->stages[i].svc;
    int n = s && s->n_models > 0 ? s->n_models : 1;
    return n < 8 ? n : 8;
}

static int node_index(sctx *c, const char *name)
{
    for (int k = 0; k < c->nn; k++)
        if (!strcmp(c->node[k], name)) return k;
    return -1;
}

/* The edge and, per stage, up to VD_KB_PLACE_NODES other live nodes hosting it (least
 * predicted compute for model 0 at native height first). */
static void placement(sctx *c)
{
    const vd_sched_input *in = c->in;
    const char *edge = in->edge ? in->edge : "";
    c->nn = 0;
    c->node[c->nn++] = edge;
    for (int i = 0; i < c->ns; i++) {
        const char *cand[VD_MAX_NODES];
        double ms[VD_MAX_NODES];
        int n = 0;
        for (int k = 0; k < in->n_nodes && k < VD_MAX_NODES; k++) {
            const vd_node_info *ni = &in->nodes[k];
            if (!ni->name[0] || !strcmp(ni->name, edge)) continue;
            if (!vd__node_ok(in, ni->name, in->dag->stages[i].name, NULL)) continue;
            double m = vd__stage_ms(in, ni->name, in->dag->stages[i].name, 0,
                                    in->native_h > 0 ? in->native_h : VD_SCHED_DEFAULT_NATIVE_H, 1);
            if (m < 0) continue;
            int pos = n++;
            while (pos > 0 && ms[pos - 1] > m) {
                ms[pos] = ms[pos - 1], cand[pos] = cand[pos - 1];
                pos--;
            }
            ms[pos] = m, cand[pos] = ni->name;
        }
        int used = 0;
        for (int k = 0; k < n && used < VD_KB_PLACE_NODES; k++) {
            if (node_index(c, cand[k]) < 0) {
                if (c->nn == MAX_NODE) continue;
                c->node[c->nn++] = cand[k];
            }
            used++;
        }
        /* options: every model on the edge and on this stage's nodes */
        c->nopt[i] = 0;
        for (int m = 0; m < nmodels(in, i); m++) {
            c->opt[i][c->nopt[i]++] = (sopt){m, 0};
            for (int k = 0; k < used; k++)
                c->opt[i][c->nopt[i]++] = (sopt){m, node_index(c, cand[k])};
        }
    }
    for (int k = 0; k < c->nn; k++) {
        const vd_node_info *ni = vd__find_node(in, c->node[k]);
        c->headroom[k] = vd_plan_node_headroom(in, c->node[k]);
        c->cores[k] = ni && ni->n_cores > 0 ? ni->n_cores : 1;
    }
}

static void set_stage(sctx *c, vd_plan *p, int i, const sopt *o)
{
    p->map[i].model_id = o->model;
    snprintf(p->map[i].node, sizeof p->map[i].node, "%s", c->node[o->node]);
    snprintf(p->map[i].role, sizeof p->map[i].role, "%s", vd__node_role(c->in, c->node[o->node]));
}

static void set_vc(sctx *c, vd_plan *p, int r, int f, int s, int t, int e)
{
    p->resolution_h = c->res[r];
    p->fps = c->fps[f];
    p->nskip = skip_rungs[s];
    p->ntracking = c->ntr > 1 ? track_rungs[t] : 0;
    snprintf(p->encoder, sizeof p->encoder, "%s", vd_encoder_name(c->enc[e].enc));
    p->quality = c->enc[e].quality;
}

static void tables(sctx *c)
{
    const vd_sched_input *in = c->in;
    vd_plan p = c->base;
    for (int r = 0; r < c->nr; r++)
        for (int t = 0; t < c->ntr; t++)
            for (int e = 0; e < c->ne; e++) {
                set_vc(c, &p, r, 0, 0, t, e);
                if (t == 0) {
                    double enc = 0;
                    vd__frame_bytes(in, &p, &enc, NULL);
                    c->encode[r][e] = enc;
                }
                for (int i = 0; i < c->ns; i++)
                    for (int o = 0; o < c->nopt[i]; o++) {
                        set_stage(c, &p, i, &c->opt[i][o]);
                        c->cost[r][t][e][i][o] = vd__stage_cost(in, &p, i);
                        if (e == 0) c->cpu[r][t][i][o] = vd__stage_cpu(in, &p, i);
                    }
            }
    int bucket = vd__plan_bucket(in);
    for (int i = 0; i < c->ns; i++)
        for (int m = 0; m < nmodels(in, i); m++) {
            vd_kb_acc_query q = {
                .service = in->dag->stages[i].name, .model_id = m, .bucket = bucket};
            vd__acc_surface *sf = malloc(sizeof *sf);
            c->measured[i][m] = sf && vd__kb_surface(in->kb, &q, sf) == 0;
            for (int e = 0; e < c->ne; e++) {
                q.enc = c->enc[e].enc;
                q.quality = c->enc[e].quality;
                c->encf[i][m][e] = c->measured[i][m] ? vd__kb_enc_factor(in->kb, &q) : 1;
            }
            for (int r = 0; r < c->nr; r++)
                for (int f = 0; f < c->nf; f++)
                    for (int s = 0; s < N_SKIP; s++)
                        for (int t = 0; t < c->ntr; t++) {
                            set_vc(c, &p, r, f, s, t, 0);
                            int h = vd__plan_eff_res(in, &p);
                            double nf = in->native_fps > 0 ? in->native_fps : VD_SCHED_DEFAULT_FPS;
                            double fr = p.fps > 0 && p.fps < nf ? p.fps : nf;
                            c->acc[r][f][s][t][i][m] =
                                c->measured[i][m]
                                    ? vd__surface_eval(sf, h, p.ntracking, (p.nskip + 1) / fr)
                                    : vd_kb_accuracy(q.service, m, h);
                        }
            free(sf);
        }
}

/* Stage i's accuracy factor for option o in the current vc (as vd__stage_accuracy). */
static double stage_acc(const sctx *c, int i, const sopt *o, int e)
{
    double v = c->acc[c->vr][c->vf][c->vs][c->vt][i][o->model];
    if (!c->measured[i][o->model]) return v;
    if (v >= 0 && o->node != 0) v *= c->encf[i][o->model][e];
    v = vd__acc_clamp(v);
    return v >= 0 ? v
                  : vd_kb_accuracy(c->in->dag->stages[i].name, o->model,
                                   vd__plan_eff_res(c->in, &c->base));
}

static int cand_better(const vd__cand *a, const vd__cand *b)
{
    if (a->tier != b->tier) return a->tier > b->tier;
    if (a->tier == 2) {
        if (fabs(a->acc - b->acc) > 1e-12) return a->acc > b->acc;
        return a->delay < b->delay - 1e-12;
    }
    if (fabs(a->delay - b->delay) > 1e-12) return a->delay < b->delay;
    return a->acc > b->acc + 1e-12;
}

static double kth_acc(const sctx *c)
{
    const vd__search_out *o = c->out;
    return o->n_top < c->top_k ? -1 : o->top[o->n_top - 1].acc;
}

/* Evaluate the plan of the current picks exactly and keep it if it ranks. */
static void leaf(sctx *c)
{
    vd__cand x = {.p = c->base};
    set_vc(c, &x.p, c->vr, c->vf, c->vs, c->vt, c->ve);
    for (int i = 0; i < c->ns; i++) set_stage(c, &x.p, i, &c->opt[i][c->pick[i]]);
    c->out->leaves++;
    x.delay = vd_plan_predict(c->in, &x.p);
    if (x.delay < 0) return;
    x.load = vd_plan_load(c->in, &x.p);
    x.acc = vd_plan_accuracy(c->in, &x.p);
    int keeps = x.load <= 1 + 1e-12 && vd_plan_cpu_fits(c->in, &x.p);
    int fits = c->in->delay_bound <= 0 || x.delay <= c->in->delay_bound;
    x.tier = keeps ? (fits ? 2 : 1) : 0;
    vd__search_out *o = c->out;
    if (!o->have || cand_better(&x, &o->best)) o->best = x, o->have = 1;
    if (x.tier != 2) {
        if (c->mode < 2 && x.tier >= c->mode && (c->best_s < 0 || x.delay / c->step < c->best_s))
            c->best_s = x.delay / c->step;
        return;
    }
    /* the top K of the feasible plans */
    int pos = o->n_top;
    while (pos > 0 && cand_better(&x, &o->top[pos - 1])) pos--;
    if (pos >= c->top_k) return;
    int n = o->n_top < c->top_k ? o->n_top + 1 : c->top_k;
    for (int k = n - 1; k > pos; k--) o->top[k] = o->top[k - 1];
    o->top[pos] = x;
    o->n_top = n;
}

static void walk(sctx *c, int i, double s, double acc, double share)
{
    if (i == c->ns) {
        int remote = share > 0;
        if (!remote && c->ve > 0) return; /* the encoder matters only for remote stages */
        double total = s + c->encode[c->vr][c->ve] / 1000 * share;
        if (total > c->smax + EPS) return;
        if (c->mode == 2 && acc * c->pen < kth_acc(c) - 1e-9) return;
        if (c->mode < 2 && c->best_s >= 0 && total > c->best_s + EPS) return;
        leaf(c);
        return;
    }
    for (int o = 0; o < c->nopt[i]; o++) {
        const sopt *op = &c->opt[i][o];
        double cost = c->cost[c->vr][c->vt][c->ve][i][o];
        if (cost < 0) continue;
        double s2 = s + cost;
        if (s2 + c->minrest[i + 1] > c->smax + EPS) continue;
        if (c->mode < 2 && c->best_s >= 0 && s2 + c->minrest[i + 1] > c->best_s + EPS) continue;
        double a2 = acc * stage_acc(c, i, op, c->ve);
        if (c->mode == 2 && a2 * c->maxrest[i + 1] * c->pen < kth_acc(c) - 1e-9) continue;
        double w = c->cpu[c->vr][c->vt][i][o];
        if (c->mode >= 1 && w > 0) {
            double load = (c->node_cpu[op->node] + w) * c->fps_proc / c->cores[op->node];
            if (load > c->headroom[op->node] + EPS) continue;
        }
        c->node_cpu[op->node] += w > 0 ? w : 0;
        double amort = c->detector[i] && c->base.ntracking > 0 ? 1.0 / (c->base.ntracking + 1) : 1;
        double sh = op->node != 0 && amort > share ? amort : share;
        c->pick[i] = o;
        walk(c, i + 1, s2, a2, sh);
        c->node_cpu[op->node] -= w > 0 ? w : 0;
    }
}

/* Set up the walk for vc v and encoder e: bounds on the rest of the stages. */
static void start_vc(sctx *c, const vc_t *v, int e)
{
    c->vr = v->r, c->vf = v->f, c->vs = v->s, c->vt = v->t, c->ve = e;
    set_vc(c, &c->base, v->r, v->f, v->s, v->t, e);
    const vd_sched_input *in = c->in;
    c->fps_proc = vd__plan_proc_fps(in, &c->base);
    double smax = 1 / c->fps_proc; /* keeping up: delay per frame x processed fps <= 1 */
    if (c->mode == 2 && in->delay_bound > 0 && in->delay_bound / c->step < smax)
        smax = in->delay_bound / c->step;
    c->smax = c->mode == 0 ? HUGE_VAL : smax;
    int m0 = 0;
    for (int m = 0; m < nmodels(in, 0); m++) m0 |= c->measured[0][m];
    c->pen = m0 ? 1 : vd__plan_heuristic_penalty(in, &c->base);
    c->minrest[c->ns] = 0, c->maxrest[c->ns] = 1;
    for (int i = c->ns - 1; i >= 0; i--) {
        double mn = -1, mx = 0;
        for (int o = 0; o < c->nopt[i]; o++) {
            double k = c->cost[v->r][v->t][e][i][o];
            if (k >= 0 && (mn < 0 || k < mn)) mn = k;
            double a = stage_acc(c, i, &c->opt[i][o], e);
            if (a > mx) mx = a;
        }
        c->minrest[i] = c->minrest[i + 1] + (mn < 0 ? 0 : mn);
        c->maxrest[i] = c->maxrest[i + 1] * mx;
    }
    memset(c->node_cpu, 0, sizeof c->node_cpu);
}

typedef struct lb_t {
    double lb; /* the cheapest delay per frame of a configuration and encoder */
    int vc, e;
} lb_t;

static int cmp_lb(const void *a, const void *b)
{
    double x = ((const lb_t *)a)->lb, y = ((const lb_t *)b)->lb;
    return x < y ? -1 : x > y ? 1 : 0;
}

static int cmp_vc(const void *a, const void *b)
{
    double x = ((const vc_t *)a)->ub, y = ((const vc_t *)b)->ub;
    return x < y ? 1 : x > y ? -1 : 0;
}

int vd__kb_search(const vd_sched_input *in, int top_k, vd__search_out *out)
{
    memset(out, 0, sizeof *out);
    if (!in || !in->dag || in->dag->n_stages <= 0 || in->dag->n_stages > VD_MAX_STAGES)
        return VD_EINVAL;
    sctx *c = calloc(1, sizeof *c);
    vc_t *vcs = malloc(MAX_VC * sizeof *vcs);
    lb_t *lbs = malloc(MAX_VC * MAX_ENC * sizeof *lbs);
    if (!c || !vcs || !lbs) {
        free(c);
        free(vcs);
        free(lbs);
        return VD_ENOMEM;
    }
    c->in = in;
    c->out = out;
    c->top_k = top_k < 1 ? 1 : top_k > VD_SEARCH_TOP ? VD_SEARCH_TOP : top_k;
    c->ns = in->dag->n_stages;
    c->step = in->dag->generator == VD_GEN_CLIP && in->dag->clip_len > 1 ? in->dag->clip_len : 1;
    vd_plan_default(in->dag, in->edge, &c->base);
    for (int i = 0; i < c->ns; i++)
        c->detector[i] = in->dag->stages[i].svc && in->dag->stages[i].svc->is_detector;
    int nh = in->native_h > 0 ? in->native_h : VD_SCHED_DEFAULT_NATIVE_H;
    c->res[c->nr++] = 0;
    for (size_t k = 0; k < sizeof res_rungs / sizeof *res_rungs; k++)
        if (res_rungs[k] < nh) c->res[c->nr++] = res_rungs[k];
    double nf = in->native_fps > 0 ? in->native_fps : VD_SCHED_DEFAULT_FPS;
    c->fps[c->nf++] = 0;
    for (size_t k = 0; k < sizeof fps_rungs / sizeof *fps_rungs; k++)
        if (fps_rungs[k] < nf - 1e-9) c->fps[c->nf++] = fps_rungs[k];
    c->ntr = c->detector[0] ? N_TRACK : 1;
    if (in->encoders && in->n_encoders > 0) {
        for (int e = 0; e < in->n_encoders && c->ne < MAX_ENC; e++)
            c->enc[c->ne++] = in->encoders[e];
    } else {
        c->enc[c->ne++] = (vd_enc_opt){VD_ENC_JPEG, 0};
    }
    placement(c);
    tables(c);
    c->mode = 2;
    int nv = 0;
    for (int r = 0; r < c->nr; r++)
        for (int f = 0; f < c->nf; f++)
            for (int s = 0; s < N_SKIP; s++)
                for (int t = 0; t < c->ntr; t++) {
                    vc_t v = {r, f, s, t, 0};
                    double ub = 0;
                    for (int e = 0; e < c->ne; e++) {
                        start_vc(c, &v, e);
                        if (c->maxrest[0] * c->pen > ub) ub = c->maxrest[0] * c->pen;
                    }
                    v.ub = ub;
                    vcs[nv++] = v;
                }
    qsort(vcs, (size_t)nv, sizeof *vcs, cmp_vc);
    c->mode = 2;
    for (int k = 0; k < nv; k++) {
        if (vcs[k].ub < kth_acc(c) - 1e-9) break;
        for (int e = 0; e < c->ne; e++) {
            start_vc(c, &vcs[k], e);
            if (c->minrest[0] > c->smax + EPS) continue;
            walk(c, 0, 0, 1, 0);
        }
    }
    /* nothing feasible: the fastest plan that keeps up and fits (mode 1), else the fastest
     * (mode 0); configurations by increasing delay bound, until it passes the best found */
    for (int mode = 1; out->n_top == 0 && mode >= 0; mode--) {
        c->mode = mode;
        c->best_s = -1;
        int nl = 0;
        for (int k = 0; k < nv; k++)
            for (int e = 0; e < c->ne; e++) {
                start_vc(c, &vcs[k], e);
                lbs[nl++] = (lb_t){c->minrest[0], k, e};
            }
        qsort(lbs, (size_t)nl, sizeof *lbs, cmp_lb);
        for (int k = 0; k < nl; k++) {
            if (c->best_s >= 0 && lbs[k].lb > c->best_s + EPS) break;
            start_vc(c, &vcs[lbs[k].vc], lbs[k].e);
            walk(c, 0, 0, 1, 0);
        }
        if (out->have && out->best.tier >= mode) break;
    }
    free(lbs);
    free(vcs);
    free(c);
    return out->have ? 0 : VD_ENOTFOUND;
}
