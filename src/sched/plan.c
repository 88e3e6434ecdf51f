/*
 * Plans: the seed's JSON form, the default plan, and the cost/accuracy model the
 * schedulers use to compare plans.
 *
 * JSON: {"video_conf":{"resolution":"480p"|"native","fps":N,"nskip":N,"ntracking":N,
 *        "encoder":"JPEG"|"H264" (the seed's; sent as JPEG for now: "wire_encoder":"JPEG")},
 *        "flow_mapping":{"<stage>":{"model_id":0,"node_ip":"<node>","node":"<node>",
 *                                   "node_role":"host|edge|cloud"}}}
 * The seed calls the node field node_ip; we write both names and read either. A stage
 * missing from flow_mapping runs model 0 on node "", which means "the job's edge" (role
 * "host"); the same holds for a mapping without a node. Every video_conf field is
 * optional (native resolution and fps, no skipping or tracking, JPEG).
 *
 * Cost model (vd_plan_predict): the predicted delay is the mean processing time per
 * PROCESSED frame, the quantity the edge measures (vd_plan_result.total_delay, the seed's
 * total_frame_delay averaged over the plan's frames):
 *   stage s on node n: kb_ms(service, model, h) / max(0.1, speed_n) * (1 + cpu_n/100)
 *     (a simple contention model: a node at 100% CPU takes twice as long);
 *   a stage not on the job's edge adds a transfer of the JPEG frame:
 *     VD_PLAN_JPEG_BPP bytes/pixel at VD_PLAN_LINK_BPS, plus VD_PLAN_HOP_S per hop;
 *   a detector stage with ntracking k runs on 1 frame in k+1 (tracked frames cost ~0), so
 *     the mean per processed frame really drops with tracking.
 * Skipping (nskip, fps below native) does not change it: it changes how many frames are
 * processed, not what one costs.
 * Load model (vd_plan_load): predicted delay x processed frames per second = delay x
 * native_fps (VD_SCHED_DEFAULT_FPS when unknown) x the fraction of source frames the plan
 * keeps: 1/(nskip+1), times fps/native_fps when the plan's fps is below native. It is the
 * fraction of wall time the job is busy (vd_plan_result.load); above 1 it cannot keep up.
 * h is the plan's resolution (0 = native), never above the native height; the frame width
 * for transfers assumes 16:9.
 *
 * Accuracy model (vd_plan_accuracy): product over stages of vd_kb_accuracy, times
 * max(0.5, 1 - 0.03*ntracking), max(0.5, 1 - 0.02*nskip) and, below native fps,
 * max(0.5, 1 - 0.02*(native_fps/fps - 1)). Monotone in every knob.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sched/sched_internal.h"
#include "vdag/media.h"

#define VD_PLAN_JPEG_BPP      0.1   /* bytes per pixel of a JPEG frame */
#define VD_PLAN_LINK_BPS      100e6 /* bytes/s between nodes */
#define VD_PLAN_HOP_S         0.001 /* fixed latency per hop */
#define VD_PLAN_MIN_SPEED     0.1
#define VD_PLAN_TRACK_PENALTY 0.03
#define VD_PLAN_SKIP_PENALTY  0.02
#define VD_PLAN_FPS_PENALTY   0.02
#define VD_PLAN_MIN_PENALTY   0.5

static void copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

void vd_plan_default(const vd_dag *d, const char *edge, vd_plan *p)
{
    memset(p, 0, sizeof *p);
    copy_str(p->encoder, sizeof p->encoder, "JPEG");
    int n = d ? d->n_stages : 0;
    if (n > VD_MAX_STAGES) n = VD_MAX_STAGES;
    p->n_stages = n;
    for (int i = 0; i < n; i++) {
        copy_str(p->map[i].stage, sizeof p->map[i].stage, d->stages[i].name);
        p->map[i].model_id = 0;
        copy_str(p->map[i].node, sizeof p->map[i].node, edge);
        copy_str(p->map[i].role, sizeof p->map[i].role, "host");
    }
}

json_t *vd_plan_to_json(const vd_plan *p)
{
    char res[16];
    if (p->resolution_h > 0)
        snprintf(res, sizeof res, "%dp", p->resolution_h);
    else
        copy_str(res, sizeof res, "native");
    json_t *vc =
        json_pack("{s:s,s:f,s:i,s:i,s:s}", "resolution", res, "fps", p->fps, "nskip", p->nskip,
                  "ntracking", p->ntracking, "encoder", p->encoder[0] ? p->encoder : "JPEG");
    if (vc && p->encoder[0] && strcmp(p->encoder, "JPEG")) /* asked for, not done yet */
        json_object_set_new(vc, "wire_encoder", json_string("JPEG"));
    json_t *fm = json_object();
    for (int i = 0; i < p->n_stages && i < VD_MAX_STAGES; i++) {
        const vd_stage_map *m = &p->map[i];
        json_object_set_new(fm, m->stage,
                            json_pack("{s:i,s:s,s:s,s:s}", "model_id", m->model_id, "node_ip",
                                      m->node, "node", m->node, "node_role",
                                      m->role[0] ? m->role : "host"));
    }
    return json_pack("{s:o,s:o}", "video_conf", vc, "flow_mapping", fm);
}

static int get_int(json_t *o, const char *key, int lo, int hi, int *out, const char *path,
                   vd_error *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    double x = json_number_value(v);
    if (!json_is_number(v) || x != floor(x))
        return vd_fail(err, VD_EINVAL, "%s.%s: must be an integer between %d and %d", path, key, lo,
                       hi);
    if (x < lo || x > hi)
        return vd_fail(err, VD_EINVAL, "%s.%s: %g is out of range (use %d..%d)", path, key, x, lo,
                       hi);
    *out = (int)x;
    return 0;
}

static int parse_video_conf(json_t *vc, const char *path, vd_plan *p, vd_error *err)
{
    if (!json_is_object(vc))
        return vd_fail(err, VD_EINVAL,
                       "%s: must be an object like {\"resolution\":\"480p\",\"fps\":0,"
                       "\"nskip\":0,\"ntracking\":0,\"encoder\":\"JPEG\"}",
                       path);
    json_t *r = json_object_get(vc, "resolution");
    if (json_is_string(r)) {
        int h = vd_resolution_parse(json_string_value(r));
        if (h < 0)
            return vd_fail(err, VD_EINVAL,
                           "%s.resolution: \"%s\" is not a resolution (use \"360p\", \"480p\", "
                           "\"720p\", \"1080p\", \"native\" or a height in pixels)",
                           path, json_string_value(r));
        p->resolution_h = h;
    } else if (json_is_integer(r)) {
        json_int_t h = json_integer_value(r);
        if (h != 0 && (h < 16 || h > 4320))
            return vd_fail(err, VD_EINVAL,
                           "%s.resolution: %lld is not a frame height (use 16..4320, or 0 for "
                           "native)",
                           path, (long long)h);
        p->resolution_h = (int)h;
    } else if (r && !json_is_null(r)) {
        return vd_fail(err, VD_EINVAL,
                       "%s.resolution: must be a string like \"480p\" or \"native\", or a "
                       "height in pixels",
                       path);
    }
    json_t *f = json_object_get(vc, "fps");
    if (f && !json_is_null(f)) {
        if (!json_is_number(f) || json_number_value(f) < 0 || json_number_value(f) > 1000)
            return vd_fail(err, VD_EINVAL,
                           "%s.fps: must be a number of frames per second in 0..1000 (0 = "
                           "native)",
                           path);
        p->fps = json_number_value(f);
    }
    int rc;
    /* nskip 30 keeps one frame in 31, about one a second at 30 fps: sparser is a lower fps */
    if ((rc = get_int(vc, "nskip", 0, 30, &p->nskip, path, err))) return rc;
    if ((rc = get_int(vc, "ntracking", 0, 1000, &p->ntracking, path, err))) return rc;
    /* what the seed sends ("H264") is taken and kept as asked; frames still travel as JPEG
     * (the plan's JSON says so: "wire_encoder") until there is an H.264 path */
    json_t *e = json_object_get(vc, "encoder");
    if (e && !json_is_null(e)) {
        const char *es = json_string_value(e);
        static const char *const h264[] = {"H264", "H.264", "AVC", "X264", NULL};
        int k = 0;
        while (es && h264[k] && strcasecmp(es, h264[k])) k++;
        if (es && h264[k])
            copy_str(p->encoder, sizeof p->encoder, "H264");
        else if (es && (!strcasecmp(es, "JPEG") || !strcasecmp(es, "MJPEG")))
            copy_str(p->encoder, sizeof p->encoder, "JPEG");
        else
            return vd_fail(err, VD_EINVAL,
                           "%s.encoder: unsupported encoder (\"JPEG\", or \"H264\", which is "
                           "sent as JPEG for now)",
                           path);
    }
    return 0;
}

static int parse_mapping(json_t *m, const vd_dag_stage *st, const char *path, vd_stage_map *out,
                         vd_error *err)
{
    if (!json_is_object(m))
        return vd_fail(err, VD_EINVAL,
                       "%s: must be an object like {\"model_id\":0,\"node_ip\":\"edge1\","
                       "\"node_role\":\"host\"}",
                       path);
    int hi = st->svc ? st->svc->n_models - 1 : 0;
    json_t *mid = json_object_get(m, "model_id");
    if (mid) {
        if (!json_is_integer(mid))
            return vd_fail(err, VD_EINVAL, "%s.model_id: must be an integer (%s has models 0..%d)",
                           path, st->name, hi);
        json_int_t x = json_integer_value(mid);
        if (x < 0 || x > hi)
            return vd_fail(err, VD_EINVAL,
                           "%s.model_id: %lld is out of range (%s has models 0..%d)", path,
                           (long long)x, st->name, hi);
        out->model_id = (int)x;
    }
    const char *keys[] = {"node_ip", "node"};
    for (int k = 0; k < 2; k++) {
        json_t *n = json_object_get(m, keys[k]);
        if (!n || json_is_null(n)) continue;
        if (!json_is_string(n) || json_string_length(n) >= sizeof out->node)
            return vd_fail(err, VD_EINVAL, "%s.%s: must be a node name (string, < %zu bytes)", path,
                           keys[k], sizeof out->node);
        copy_str(out->node, sizeof out->node, json_string_value(n));
        break;
    }
    json_t *r = json_object_get(m, "node_role");
    if (r && !json_is_null(r)) {
        const char *s = json_is_string(r) ? json_string_value(r) : "";
        if (strcmp(s, "host") && strcmp(s, "edge") && strcmp(s, "cloud"))
            return vd_fail(err, VD_EINVAL, "%s.node_role: must be \"host\", \"edge\" or \"cloud\"",
                           path);
        copy_str(out->role, sizeof out->role, s);
    }
    return 0;
}

int vd_plan_from_json(json_t *j, const vd_dag *d, const char *where, vd_plan *p, vd_error *err)
{
    if (!where || !*where) where = "plan";
    if (!d) return vd_fail(err, VD_EINVAL, "%s: no DAG to check the plan against", where);
    if (d->n_stages > VD_MAX_STAGES)
        return vd_fail(err, VD_EUNSUPP, "%s: the DAG has %d stages; plans hold at most %d", where,
                       d->n_stages, VD_MAX_STAGES);
    vd_plan tmp;
    vd_plan_default(d, "", &tmp);
    if (!json_is_object(j))
        return vd_fail(err, VD_EINVAL,
                       "%s: must be an object {\"video_conf\":{…},\"flow_mapping\":{…}}", where);
    char path[256];
    int rc;
    json_t *vc = json_object_get(j, "video_conf");
    if (vc) {
        snprintf(path, sizeof path, "%s.video_conf", where);
        if ((rc = parse_video_conf(vc, path, &tmp, err))) return rc;
    }
    json_t *fm = json_object_get(j, "flow_mapping");
    if (fm) {
        if (!json_is_object(fm))
            return vd_fail(err, VD_EINVAL,
                           "%s.flow_mapping: must be an object {\"<stage>\":{\"model_id\":0,"
                           "\"node_ip\":\"…\",\"node_role\":\"host\"}}",
                           where);
        const char *key;
        json_t *v;
        json_object_foreach(fm, key, v)
        {
            int idx = -1;
            for (int i = 0; i < d->n_stages; i++)
                if (!strcmp(d->stages[i].name, key)) idx = i;
            if (idx < 0) {
                char names[256] = "";
                for (int i = 0; i < d->n_stages; i++) {
                    size_t l = strlen(names);
                    snprintf(names + l, sizeof names - l, "%s%s", i ? ", " : "", d->stages[i].name);
                }
                return vd_fail(err, VD_ENOTFOUND,
                               "%s.flow_mapping.%s: no such stage in the DAG (stages: %s)", where,
                               key, names);
            }
            snprintf(path, sizeof path, "%s.flow_mapping.%s", where, key);
            if ((rc = parse_mapping(v, &d->stages[idx], path, &tmp.map[idx], err))) return rc;
        }
    }
    *p = tmp;
    return 0;
}

int vd_plan_equal(const vd_plan *a, const vd_plan *b)
{
    if (a->resolution_h != b->resolution_h || fabs(a->fps - b->fps) > 1e-9 ||
        a->nskip != b->nskip || a->ntracking != b->ntracking || a->n_stages != b->n_stages ||
        strcmp(a->encoder, b->encoder))
        return 0;
    for (int i = 0; i < a->n_stages && i < VD_MAX_STAGES; i++) {
        const vd_stage_map *x = &a->map[i], *y = &b->map[i];
        if (strcmp(x->stage, y->stage) || x->model_id != y->model_id || strcmp(x->node, y->node) ||
            strcmp(x->role, y->role))
            return 0;
    }
    return 1;
}

/* ---- cost and accuracy model --------------------------------------------------------- */

const char *vd__plan_node(const vd_sched_input *in, const vd_plan *p, int i)
{
    const char *n = p->map[i].node;
    if (!n[0] && in->edge) return in->edge;
    return n;
}

static const vd_node_info *find_node(const vd_sched_input *in, const char *name)
{
    for (int i = 0; i < in->n_nodes && in->nodes; i++)
        if (!strcmp(in->nodes[i].name, name)) return &in->nodes[i];
    return NULL;
}

static int is_edge(const vd_sched_input *in, const char *node)
{
    return !node[0] || (in->edge && !strcmp(node, in->edge));
}

int vd__node_ok(const vd_sched_input *in, const char *node, const char *service,
                const vd_node_info **info)
{
    const vd_node_info *ni = find_node(in, node);
    if (info) *info = ni;
    if (is_edge(in, node)) return 1;
    if (!ni) return 0;
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
    if (is_edge(in, node)) return "host";
    const vd_node_info *ni = find_node(in, node);
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

double vd__stage_cost(const vd_sched_input *in, const vd_plan *p, int i)
{
    const vd_stage_map *m = &p->map[i];
    int h = vd__plan_eff_res(in, p);
    double ms = vd_kb_ms(in->kb, m->stage, m->model_id, h);
    if (ms < 0) return -1;
    const char *node = vd__plan_node(in, p, i);
    const vd_node_info *ni = find_node(in, node);
    if (ni) {
        double speed = ni->speed > VD_PLAN_MIN_SPEED ? ni->speed : VD_PLAN_MIN_SPEED;
        double cpu = ni->cpu_pct < 0 ? 0 : ni->cpu_pct > 100 ? 100 : ni->cpu_pct;
        ms = ms / speed * (1 + cpu / 100);
    }
    double s = ms / 1000;
    const vd_service *svc = vd_service_find(m->stage);
    if (svc && svc->is_detector && p->ntracking > 0) s /= p->ntracking + 1;
    if (!is_edge(in, node)) {
        double w = h * 16.0 / 9.0;
        s += VD_PLAN_JPEG_BPP * w * h / VD_PLAN_LINK_BPS + VD_PLAN_HOP_S;
    }
    return s;
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
    return t * step_frames(in); /* a clip step runs the stages on each of its frames */
}

double vd_plan_load(const vd_sched_input *in, const vd_plan *p)
{
    double d = vd_plan_predict(in, p);
    if (d < 0) return -1;
    return d / step_frames(in) * native_fps(in) * kept_fraction(in, p);
}

static double penalty(double x)
{
    return x < VD_PLAN_MIN_PENALTY ? VD_PLAN_MIN_PENALTY : x;
}

double vd_plan_accuracy(const vd_sched_input *in, const vd_plan *p)
{
    int h = vd__plan_eff_res(in, p);
    double a = 1;
    for (int i = 0; i < p->n_stages && i < VD_MAX_STAGES; i++)
        a *= vd_kb_accuracy(p->map[i].stage, p->map[i].model_id, h);
    a *= penalty(1 - VD_PLAN_TRACK_PENALTY * p->ntracking);
    a *= penalty(1 - VD_PLAN_SKIP_PENALTY * p->nskip);
    if (p->fps > 0 && in->native_fps > 0 && p->fps < in->native_fps)
        a *= penalty(1 - VD_PLAN_FPS_PENALTY * (in->native_fps / p->fps - 1));
    return a;
}

int vd__plan_check(const vd_sched_input *in, const vd_plan *p, const char *who, vd_error *err)
{
    const vd_dag *d = in->dag;
    if (p->n_stages != d->n_stages)
        return vd_fail(err, VD_ESTATE,
                       "scheduler %s: plan has %d stages but the DAG has %d; report this bug", who,
                       p->n_stages, d->n_stages);
    if (p->resolution_h < 0 || (in->native_h > 0 && p->resolution_h > in->native_h))
        return vd_fail(err, VD_ESTATE,
                       "scheduler %s: plan resolution %d is above the video's %d; submit a plan "
                       "at or below the native height",
                       who, p->resolution_h, in->native_h);
    if (p->nskip < 0 || p->ntracking < 0 || p->fps < 0)
        return vd_fail(err, VD_ESTATE, "scheduler %s: plan has a negative fps/nskip/ntracking",
                       who);
    for (int i = 0; i < p->n_stages; i++) {
        const vd_stage_map *m = &p->map[i];
        const vd_dag_stage *st = &d->stages[i];
        if (strcmp(m->stage, st->name))
            return vd_fail(err, VD_ESTATE,
                           "scheduler %s: plan stage %d is '%s' but the DAG has '%s' there", who, i,
                           m->stage, st->name);
        if (m->model_id < 0 || (st->svc && m->model_id >= st->svc->n_models))
            return vd_fail(err, VD_ESTATE,
                           "scheduler %s: plan model_id %d for %s is out of range (0..%d)", who,
                           m->model_id, m->stage, st->svc ? st->svc->n_models - 1 : 0);
        if (in->n_nodes > 0 && !vd__node_ok(in, vd__plan_node(in, p, i), m->stage, NULL))
            return vd_fail(err, VD_ESTATE,
                           "scheduler %s: plan puts %s on node '%s', which is not live or does "
                           "not host it; pick a live node",
                           who, m->stage, m->node);
    }
    return 0;
}
