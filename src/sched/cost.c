/*
 * The model the schedulers compare plans with: predicted delay, load, node CPU and accuracy.
 *
 * Delay (vd_plan_predict) is the mean processing time per PROCESSED frame, the quantity the
 * edge measures (vd_plan_result.total_delay, the seed's total_frame_delay averaged over the
 * plan's frames). In stage order, each stage costs
 *   compute: the kb's ms for (node, service, model, height, objects): the node's own
 *     measurements when the kb has them (a merged kb), else the kb's machine's; divided by
 *     max(0.1, the node's speed) and times (1 + cpu_n/100), a simple contention model (a node
 *     at 100% CPU takes twice as long); objects: the runtime context's obj_n for a service fed
 *     boxes;
 *   transfer (a stage not on the job's edge): the coded frame's bytes (the kb's bytes per
 *     pixel for the plan's encoder and quality; VD_PLAN_JPEG_BPP without) / the link's
 *     bandwidth + its round trip + the decode time;
 *   a detector stage with ntracking k runs on 1 frame in k+1 (tracked frames cost ~0), so its
 *     compute and transfer are divided by k+1;
 * plus, when a stage is remote, the frame's encode time once (the edge codes a frame once for
 * all its remote stages; divided by k+1 too when only detectors are remote).
 * Skipping (nskip, fps below native) does not change it: it changes how many frames are
 * processed, not what one costs.
 *
 * Load (vd_plan_load): predicted delay x processed frames per second = delay x native_fps
 * (VD_SCHED_DEFAULT_FPS when unknown) x the fraction of source frames the plan keeps:
 * 1/(nskip+1), times fps/native_fps when the plan's fps is below native.
 * Node CPU (vd_plan_node_cpu): the compute of the stages on a node (without the contention
 * factor: that stretches wall time, not work) x processed fps / cores.
 * h is the plan's resolution (0 = native), never above the native height; the frame width is
 * native_w scaled to h (16:9 when unknown).
 *
 * Accuracy (vd_plan_accuracy): the product over stages of the kb's measured score for the
 * stage's service (vd_kb_acc_predict: model, height, ntracking, seconds between processed
 * frames, the encoder when remote, the content bucket of the runtime context), or where it
 * has none the heuristic vd_kb_accuracy. When the first stage is not measured, the heuristic
 * penalties for tracking and skipping apply: max(0.5, 1 - 0.03*ntracking), max(0.5, 1 -
 * 0.02*nskip) and, below native fps, max(0.5, 1 - 0.02*(native_fps/fps - 1)).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sched/sched_internal.h"
#include "vdag/media.h"

#define VD_PLAN_JPEG_BPP      0.1 /* bytes per pixel of a JPEG frame, without a measurement */
#define VD_PLAN_MIN_SPEED     0.1
#define VD_PLAN_TRACK_PENALTY 0.03
#define VD_PLAN_SKIP_PENALTY  0.02
#define VD_PLAN_FPS_PENALTY   0.02
#define VD_PLAN_MIN_PENALTY   0.5

const char *vd__plan_node(const vd_sched_input *in, const vd_plan *p, int i)
{
    const char *n = p->map[i].node;
    if (!n[0] && in->edge) return in->edge;
    return n;
}

const vd_node_info *vd__find_node(const vd_sched_input *in, const char *name)
{
    for (int i = 0; i < in->n_nodes && in->nodes; i++)
        if (!strcmp(in->nodes[i].name, name)) return &in->nodes[i];
    return NULL;
}

int vd__is_edge(const vd_sched_input *in, const char *node)
{
    return !node[0] || (in->edge && !strcmp(node, in->edge));
}

int vd__node_ok(const vd_sched_input *in, const char *node, const char *service,
                const vd_node_info **info)
{
    const vd_node_info *ni = vd__find_node(in, node);
    if (info) *info = ni;
    if (vd__is_edge(in, node)) return 1;
    /* a stateful stage (cumulative counts, per-track memory) lives in the job's executor */
    const vd_service *svc = vd_service_find(service);
    if (!ni || (svc && svc->stateful)) return 0;
    if (!ni->services[0]) return 1;
    /* exact match in the comma-separated list */
    size_t l = strlen(service);
    for (const char *s = ni->services; *s;) {
        while (*s == ' ' || *s == ',') s++;
        const char *e = s;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > s && t[-1] == ' ') t--;
        if ((size_t)(t - s) == l && !strncmp(s, service, l)) return 1;
        s = e;
    }
    return 0;
}

const char *vd__node_role(const vd_sched_input *in, const char *node)
{
    if (vd__is_edge(in, node)) return "host";
    const vd_node_info *ni = vd__find_node(in, node);
    return ni && !strcmp(ni->role, "cloud") ? "cloud" : "edge";
}

static int native_h(const vd_sched_input *in)
{
    return in->native_h > 0 ? in->native_h : VD_SCHED_DEFAULT_NATIVE_H;
}

int vd__plan_eff_res(const vd_sched_input *in, const vd_plan *p)
{
    int nh = native_h(in);
    return p->resolution_h <= 0 || p->resolution_h > nh ? nh : p->resolution_h;
}

int vd__plan_width(const vd_sched_input *in, int h)
{
    int nh = native_h(in);
    double aspect = in->native_w > 0 ? (double)in->native_w / nh : 16.0 / 9.0;
    int w = (int)(h * aspect + 0.5) & ~1;
    return w > 2 ? w : 2;
}

static double native_fps(const vd_sched_input *in)
{
    return in->native_fps > 0 ? in->native_fps : VD_SCHED_DEFAULT_FPS;
}

/* Fraction of source frames the plan processes. */
static double kept_fraction(const vd_sched_input *in, const vd_plan *p)
{
    double f = 1.0 / (p->nskip + 1 > 1 ? p->nskip + 1 : 1);
    double nf = native_fps(in);
    if (p->fps > 0 && p->fps < nf) f *= p->fps / nf;
    return f;
}

double vd__plan_proc_fps(const vd_sched_input *in, const vd_plan *p)
{
    return native_fps(in) * kept_fraction(in, p);
}

static int is_detector(const char *service)
{
    const vd_service *svc = vd_service_find(service);
    return svc && svc->is_detector;
}

static double amortise(const vd_plan *p, const char *service)
{
    return p->ntracking > 0 && is_detector(service) ? 1.0 / (p->ntracking + 1) : 1.0;
}

static double obj_n(const vd_sched_input *in)
{
    return in->rt && in->rt->obj_n > 0 ? in->rt->obj_n : 0;
}

double vd__stage_ms(const vd_sched_input *in, const char *node, const char *service, int model,
                    int h, int contention)
{
    /* the node's own measurements, else the kb's machine's, else the job's edge's */
    double ms = vd_kb_ms_at(in->kb, node, service, model, h, obj_n(in));
    if (ms < 0) ms = vd_kb_ms_at(in->kb, NULL, service, model, h, obj_n(in));
    if (ms < 0 && in->edge && strcmp(node, in->edge))
        ms = vd_kb_ms_at(in->kb, in->edge, service, model, h, obj_n(in));
    if (ms < 0) return -1;
    const vd_node_info *ni = vd__find_node(in, node);
    if (ni) ms /= ni->speed > VD_PLAN_MIN_SPEED ? ni->speed : VD_PLAN_MIN_SPEED;
    if (ni && contention) {
        double cpu = ni->cpu_pct < 0 ? 0 : ni->cpu_pct > 100 ? 100 : ni->cpu_pct;
        ms *= 1 + cpu / 100;
    }
    return ms;
}

/* Seconds per processed frame of stage i's compute, with or without the node's contention. */
static double compute_s(const vd_sched_input *in, const vd_plan *p, int i, int contention)
{
    const vd_stage_map *m = &p->map[i];
    double ms = vd__stage_ms(in, vd__plan_node(in, p, i), m->stage, m->model_id,
                             vd__plan_eff_res(in, p), contention);
    return ms < 0 ? -1 : ms / 1000 * amortise(p, m->stage);
}

double vd__stage_compute(const vd_sched_input *in, const vd_plan *p, int i)
{
    return compute_s(in, p, i, 1);
}

double vd__stage_cpu(const vd_sched_input *in, const vd_plan *p, int i)
{
    return compute_s(in, p, i, 0);
}

void vd_link_get(const vd_sched_input *in, const char *from, const char *to, double *bw_Bps,
                 double *rtt_s)
{
    *bw_Bps = VD_LINK_DEFAULT_BPS;
    *rtt_s = VD_LINK_DEFAULT_RTT_S;
    const vd_link *rev = NULL;
    for (int i = 0; in && i < in->n_links && in->links; i++) {
        const vd_link *l = &in->links[i];
        if (!strcmp(l->from, from) && !strcmp(l->to, to)) {
            if (l->bw_Bps > 0) *bw_Bps = l->bw_Bps;
            if (l->rtt_s >= 0) *rtt_s = l->rtt_s;
            return;
        }
        if (!strcmp(l->from, to) && !strcmp(l->to, from)) rev = l;
    }
    if (rev) { /* only the other direction is known: take it as symmetric */
        if (rev->bw_Bps > 0) *bw_Bps = rev->bw_Bps;
        if (rev->rtt_s >= 0) *rtt_s = rev->rtt_s;
    }
}

vd_encoder vd__plan_encoder(const vd_plan *p)
{
    int e = vd_encoder_parse(p->encoder);
    return e == VD_ENC_H264 ? VD_ENC_H264 : VD_ENC_JPEG;
}

double vd__frame_bytes(const vd_sched_input *in, const vd_plan *p, double *enc_ms, double *dec_ms)
{
    int h = vd__plan_eff_res(in, p), w = vd__plan_width(in, h);
    double b = vd_kb_frame_bytes(in->kb, w, h, vd__plan_encoder(p), p->quality, enc_ms, dec_ms);
    if (b < 0) {
        b = VD_PLAN_JPEG_BPP * w * h;
        if (enc_ms) *enc_ms = 0;
        if (dec_ms) *dec_ms = 0;
    }
    return b;
}

double vd__stage_transfer(const vd_sched_input *in, const vd_plan *p, int i)
{
    const char *node = vd__plan_node(in, p, i);
    if (vd__is_edge(in, node)) return 0;
    double dec, bw, rtt;
    double bytes = vd__frame_bytes(in, p, NULL, &dec);
    vd_link_get(in, in->edge ? in->edge : "", node, &bw, &rtt);
    return (bytes / bw + rtt + dec / 1000) * amortise(p, p->map[i].stage);
}

double vd__plan_encode(const vd_sched_input *in, const vd_plan *p)
{
    double share = 0;
    for (int i = 0; i < p->n_stages && i < VD_MAX_STAGES; i++) {
        if (vd__is_edge(in, vd__plan_node(in, p, i))) continue;
        double a = amortise(p, p->map[i].stage);
        if (a > share) share = a;
    }
    if (share <= 0) return 0;
    double enc;
    vd__frame_bytes(in, p, &enc, NULL);
    return enc / 1000 * share;
}

double vd__stage_cost(const vd_sched_input *in, const vd_plan *p, int i)
{
    double c = vd__stage_compute(in, p, i);
    return c < 0 ? -1 : c + vd__stage_transfer(in, p, i);
}

/* Frames a step consumes: clip_len for a clip DAG, else 1. */
static int step_frames(const vd_sched_input *in)
{
    return in->dag && in->dag->generator == VD_GEN_CLIP && in->dag->clip_len > 1 ? in->dag->clip_len
                                                                                 : 1;
}

double vd_plan_predict(const vd_sched_input *in, const vd_plan *p)
{
    if (!in || !p || !in->kb) return -1;
    double t = 0;
    for (int i = 0; i < p->n_stages && i < VD_MAX_STAGES; i++) {
        double c = vd__stage_cost(in, p, i);
        if (c < 0) return -1;
        t += c;
    }
    t += vd__plan_encode(in, p);
    return t * step_frames(in); /* a clip step runs the stages on each of its frames */
}

double vd_plan_load(const vd_sched_input *in, const vd_plan *p)
{
    double d = vd_plan_predict(in, p);
    if (d < 0) return -1;
    return d / step_frames(in) * native_fps(in) * kept_fraction(in, p);
}

/* ---- node CPU ------------------------------------------------------------------------- */

double vd_plan_node_cpu(const vd_sched_input *in, const vd_plan *p, const char *node)
{
    if (!in || !p || !node) return 0;
    double s = 0;
    for (int i = 0; i < p->n_stages && i < VD_MAX_STAGES; i++) {
        const char *n = vd__plan_node(in, p, i);
        if (strcmp(n, node) && !(vd__is_edge(in, n) && vd__is_edge(in, node))) continue;
        double c = vd__stage_cpu(in, p, i);
        if (c > 0) s += c;
    }
    const vd_node_info *ni = vd__find_node(in, node);
    int cores = ni && ni->n_cores > 0 ? ni->n_cores : 1;
    return s * vd__plan_proc_fps(in, p) / cores;
}

double vd_plan_node_headroom(const vd_sched_input *in, const char *node)
{
    const vd_node_info *ni = in && node ? vd__find_node(in, node) : NULL;
    if (!ni) return 1;
    double used = (ni->cpu_pct < 0 ? 0 : ni->cpu_pct > 100 ? 100 : ni->cpu_pct) / 100;
    if (in->last_plan) used -= vd_plan_node_cpu(in, in->last_plan, node);
    if (used < 0) used = 0;
    return VD_PLAN_CPU_MAX - used;
}

int vd_plan_cpu_fits(const vd_sched_input *in, const vd_plan *p)
{
    for (int i = 0; i < p->n_stages && i < VD_MAX_STAGES; i++) {
        const char *n = vd__plan_node(in, p, i);
        int seen = 0;
        for (int k = 0; k < i && !seen; k++) seen = !strcmp(vd__plan_node(in, p, k), n);
        if (seen) continue;
        if (vd_plan_node_cpu(in, p, n) > vd_plan_node_headroom(in, n) + 1e-12) return 0;
    }
    return 1;
}

/* ---- accuracy ------------------------------------------------------------------------- */

int vd__plan_bucket(const vd_sched_input *in)
{
    if (!in->rt || (in->rt->obj_n <= 0 && in->rt->obj_size <= 0)) return -1;
    int h = native_h(in);
    double area = (double)vd__plan_width(in, h) * h;
    return vd_kb_bucket(in->rt->obj_n, area > 0 ? in->rt->obj_size / area : 0);
}

/* Seconds between processed frames. */
static double gap_s(const vd_sched_input *in, const vd_plan *p)
{
    double f = native_fps(in);
    if (p->fps > 0 && p->fps < f) f = p->fps;
    return (p->nskip + 1) / f;
}

double vd__stage_accuracy(const vd_sched_input *in, const vd_plan *p, int i, int *measured)
{
    const vd_stage_map *m = &p->map[i];
    int h = vd__plan_eff_res(in, p);
    int remote = !vd__is_edge(in, vd__plan_node(in, p, i));
    vd_kb_acc_query q = {.service = m->stage,
                         .model_id = m->model_id,
                         .res = h,
                         .ntracking = p->ntracking,
                         .gap_s = gap_s(in, p),
                         .enc = remote ? vd__plan_encoder(p) : VD_ENC_NONE,
                         .quality = p->quality,
                         .bucket = vd__plan_bucket(in)};
    double a = vd_kb_acc_predict(in->kb, &q);
    if (measured) *measured = a >= 0;
    return a >= 0 ? a : vd_kb_accuracy(m->stage, m->model_id, h);
}

static double penalty(double x)
{
    return x < VD_PLAN_MIN_PENALTY ? VD_PLAN_MIN_PENALTY : x;
}

double vd__plan_heuristic_penalty(const vd_sched_input *in, const vd_plan *p)
{
    double a = penalty(1 - VD_PLAN_TRACK_PENALTY * p->ntracking);
    a *= penalty(1 - VD_PLAN_SKIP_PENALTY * p->nskip);
    if (p->fps > 0 && in->native_fps > 0 && p->fps < in->native_fps)
        a *= penalty(1 - VD_PLAN_FPS_PENALTY * (in->native_fps / p->fps - 1));
    return a;
}

double vd__plan_accuracy_heuristic(const vd_sched_input *in, const vd_plan *p)
{
    int h = vd__plan_eff_res(in, p);
    double a = 1;
    for (int i = 0; i < p->n_stages && i < VD_MAX_STAGES; i++)
        a *= vd_kb_accuracy(p->map[i].stage, p->map[i].model_id, h);
    return a * vd__plan_heuristic_penalty(in, p);
}

double vd_plan_accuracy(const vd_sched_input *in, const vd_plan *p)
{
    double a = 1;
    int first_measured = 0;
    for (int i = 0; i < p->n_stages && i < VD_MAX_STAGES; i++) {
        int m;
        a *= vd__stage_accuracy(in, p, i, &m);
        if (i == 0) first_measured = m;
    }
    if (!first_measured) a *= vd__plan_heuristic_penalty(in, p);
    return a;
}
