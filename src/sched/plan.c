/*
 * Plans: the seed's JSON form, the default plan, equality and the check every scheduler's
 * output goes through (cost.c: the cost and accuracy model that compares plans).
 *
 * JSON: {"video_conf":{"resolution":"480p"|"native","fps":N,"nskip":N,"ntracking":N,
 *        "encoder":"JPEG"|"H264"[,"quality":1..100]},
 *        "flow_mapping":{"<stage>":{"model_id":0,"node_ip":"<node>","node":"<node>",
 *                                   "node_role":"host|edge|cloud"[,"exit":{"lo":L,"hi":H}]}}}
 * "exit" is the uncertain band of a cascade model's first unit (vdag/cascade.h); a cascade
 * stage is also shown with "cascade": its model name (read back by model_id alone).
 * The seed calls the node field node_ip; we write both names and read either. A stage
 * missing from flow_mapping runs model 0 on node "", which means "the job's edge" (role
 * "host"); the same holds for a mapping without a node. Every video_conf field is
 * optional (native resolution and fps, no skipping or tracking, JPEG at the edge's default
 * quality, written only when set). "H264": frames for remote stages go as an H.264 stream
 * (src/media/h264.c; quality is then unused). A user's plan (the seed's examples spell it
 * "H264", others "h.264" or "AVC") goes through vd_plan_json_user first. "asked_encoder" is
 * read for plans stored before H.264 existed (sent as JPEG then); it is no longer written.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sched/sched_internal.h"
#include "vdag/cascade.h"
#include "vdag/media.h"

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
    if (p->quality > 0) json_object_set_new(vc, "quality", json_integer(p->quality));
    if (vc && p->asked_encoder[0]) /* asked for, not done yet */
        json_object_set_new(vc, "asked_encoder", json_string(p->asked_encoder));
    json_t *fm = json_object();
    for (int i = 0; i < p->n_stages && i < VD_MAX_STAGES; i++) {
        const vd_stage_map *m = &p->map[i];
        json_t *sm = json_pack("{s:i,s:s,s:s,s:s}", "model_id", m->model_id, "node_ip", m->node,
                               "node", m->node, "node_role", m->role[0] ? m->role : "host");
        const vd_service *svc = vd_service_find(m->stage);
        if (sm && svc && m->model_id >= 0 && m->model_id < svc->n_models &&
            vd_cascade_is(svc->model_names[m->model_id]))
            json_object_set_new(sm, "cascade", json_string(svc->model_names[m->model_id]));
        if (sm && (m->exit_lo > 0 || m->exit_hi > 0))
            json_object_set_new(
                sm, "exit", /* as floats: a plan read back is the same */
                json_pack("{s:f,s:f}", "lo", (double)m->exit_lo, "hi", (double)m->exit_hi));
        json_object_set_new(fm, m->stage, sm);
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
    if ((rc = get_int(vc, "quality", 0, 100, &p->quality, path, err))) return rc;
    json_t *e = json_object_get(vc, "encoder");
    if (e && !json_is_null(e)) {
        int enc = json_is_string(e) ? vd_encoder_parse(json_string_value(e)) : VD_EINVAL;
        if (enc != VD_ENC_JPEG && enc != VD_ENC_H264)
            return vd_fail(err, VD_EINVAL, "%s.encoder: unsupported encoder (\"JPEG\" or \"H264\")",
                           path);
        copy_str(p->encoder, sizeof p->encoder, vd_encoder_name((vd_encoder)enc));
    }
    json_t *ae = json_object_get(vc, "asked_encoder");
    if (ae && !json_is_null(ae)) {
        if (!json_is_string(ae) || vd_encoder_parse(json_string_value(ae)) != VD_ENC_H264)
            return vd_fail(err, VD_EINVAL,
                           "%s.asked_encoder: only \"H264\" (asked, and sent as JPEG for now)",
                           path);
        copy_str(p->asked_encoder, sizeof p->asked_encoder, "H264");
    }
    return 0;
}

void vd_plan_json_user(json_t *j)
{
    json_t *vc = json_object_get(j, "video_conf");
    const char *es = json_string_value(json_object_get(vc, "encoder"));
    static const char *const h264[] = {"H264", "H.264", "AVC", "X264", NULL};
    int k = 0;
    while (es && h264[k] && strcasecmp(es, h264[k])) k++;
    if (!es || !h264[k]) return;
    json_object_set_new(vc, "encoder", json_string("H264")); /* the one name plans use */
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
    json_t *ex = json_object_get(m, "exit");
    if (ex && !json_is_null(ex)) {
        json_t *lo = json_object_get(ex, "lo"), *hi = json_object_get(ex, "hi");
        double l = json_number_value(lo), h = json_number_value(hi);
        if (!json_is_object(ex) || !json_is_number(lo) || !json_is_number(hi) || !(l >= 0) ||
            l > h || h > 1)
            return vd_fail(err, VD_EINVAL,
                           "%s.exit: must be {\"lo\":L,\"hi\":H} with 0 <= L <= H <= 1 (the "
                           "uncertain band of a cascade's first unit)",
                           path);
        out->exit_lo = (float)l, out->exit_hi = (float)h;
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
        strcmp(a->encoder, b->encoder) || strcmp(a->asked_encoder, b->asked_encoder) ||
        a->quality != b->quality)
        return 0;
    for (int i = 0; i < a->n_stages && i < VD_MAX_STAGES; i++) {
        const vd_stage_map *x = &a->map[i], *y = &b->map[i];
        if (strcmp(x->stage, y->stage) || x->model_id != y->model_id || strcmp(x->node, y->node) ||
            strcmp(x->role, y->role) || fabsf(x->exit_lo - y->exit_lo) > 1e-6f ||
            fabsf(x->exit_hi - y->exit_hi) > 1e-6f)
            return 0;
    }
    return 1;
}

void vd__plan_set_node(const vd_sched_input *in, vd_plan *p, int i, const char *node)
{
    char name[sizeof p->map[i].node]; /* node may point into p */
    snprintf(name, sizeof name, "%s", node);
    snprintf(p->map[i].node, sizeof p->map[i].node, "%s", name);
    snprintf(p->map[i].role, sizeof p->map[i].role, "%s", vd__node_role(in, name));
}

static int plan_models(const vd_sched_input *in, int i)
{
    const vd_service *s = in->dag->stages[i].svc;
    return s && s->n_models > 0 ? s->n_models : 1;
}

/* Make p valid for in: the DAG's stages, model ids in range, live nodes, resolution not
 * above native. */
void vd__plan_repair(const vd_sched_input *in, vd_plan *p)
{
    int ok = p->n_stages == in->dag->n_stages;
    for (int i = 0; ok && i < p->n_stages; i++)
        ok = !strcmp(p->map[i].stage, in->dag->stages[i].name);
    if (!ok) {
        vd_plan d;
        vd_plan_default(in->dag, (in->edge ? in->edge : ""), &d);
        d.resolution_h = p->resolution_h;
        d.fps = p->fps;
        d.nskip = p->nskip;
        d.ntracking = p->ntracking;
        d.quality = p->quality;
        snprintf(d.encoder, sizeof d.encoder, "%s", p->encoder[0] ? p->encoder : "JPEG");
        *p = d;
    }
    if (p->resolution_h < 0 || (in->native_h > 0 && p->resolution_h >= in->native_h))
        p->resolution_h = 0;
    if (p->nskip < 0) p->nskip = 0;
    if (p->ntracking < 0) p->ntracking = 0;
    if (p->fps < 0) p->fps = 0;
    if (!p->encoder[0]) snprintf(p->encoder, sizeof p->encoder, "JPEG");
    if (p->quality < 0 || p->quality > 100) p->quality = 0;
    for (int i = 0; i < p->n_stages; i++) {
        vd_stage_map *m = &p->map[i];
        if (m->model_id < 0) m->model_id = 0;
        if (m->model_id >= plan_models(in, i)) m->model_id = plan_models(in, i) - 1;
        const char *node = vd__plan_node(in, p, i);
        if (!vd__node_ok(in, node, m->stage, NULL))
            vd__plan_set_node(in, p, i, (in->edge ? in->edge : ""));
        else
            vd__plan_set_node(in, p, i, node);
    }
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
    if (p->nskip < 0 || p->ntracking < 0 || p->fps < 0 || p->quality < 0 || p->quality > 100)
        return vd_fail(err, VD_ESTATE,
                       "scheduler %s: plan has a negative fps/nskip/ntracking or a quality "
                       "outside 0..100",
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
