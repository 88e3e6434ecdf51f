/*
 * The job protocol: the spec and the messages that carry it (proto.h).
 */
#include <stdio.h>
#include <string.h>

#include "node/proto.h"
#include "vdag/net.h"

int vd__request_error(int rc, vd_error *err)
{
    if (rc == VD_ENOMEM) return rc;
    if (err) err->code = VD_EINVAL;
    return VD_EINVAL;
}

int vd__constraint_parse(json_t *uc, double *delay, double *acc, vd_error *err)
{
    *delay = 0, *acc = 0;
    if (!uc) return 0;
    if (!json_is_object(uc)) return vd_fail(err, VD_EINVAL, "user_constraint: expected an object");
    json_t *d = json_object_get(uc, "delay");
    /* the seed's range form [lo, hi]: the bound is hi */
    if (json_is_array(d)) d = json_array_get(d, json_array_size(d) - 1);
    /* > 0: a bound of 0 (or -0, or 1e-400, which JSON parsers store as 0) cannot be met */
    if (d && (!json_is_number(d) || !(json_number_value(d) > 0) || json_number_value(d) > 3600))
        return vd_fail(err, VD_EINVAL,
                       "user_constraint.delay: expected seconds per frame, > 0 and <= 3600 (e.g. "
                       "0.3); leave it out for no bound");
    *delay = d ? json_number_value(d) : 0;
    json_t *a = json_object_get(uc, "accuracy");
    if (a && (!json_is_number(a) || json_number_value(a) < 0 || json_number_value(a) > 10))
        return vd_fail(err, VD_EINVAL,
                       "user_constraint.accuracy: expected 0..1 (or the seed's level 0..10)");
    if (a) *acc = json_number_value(a) > 1 ? json_number_value(a) / 10 : json_number_value(a);
    json_t *al = json_object_get(uc, "acc_level");
    if (al && (!json_is_number(al) || json_number_value(al) < 0 || json_number_value(al) > 5))
        return vd_fail(err, VD_EINVAL, "user_constraint.acc_level: expected a level 0..5");
    if (al) *acc = json_number_value(al) / 5;
    return 0;
}

/* "pipeline": a list of service names (or one comma-separated string). */
static int dag_from_pipeline(json_t *pipe, vd_dag **dag, vd_error *err)
{
    char csv[1024] = "";
    size_t off = 0, i;
    json_t *s;
    if (json_is_string(pipe)) {
        snprintf(csv, sizeof csv, "%s", json_string_value(pipe));
    } else if (json_is_array(pipe) && json_array_size(pipe) > 0) {
        json_array_foreach(pipe, i, s)
        {
            if (!json_is_string(s))
                return vd_fail(err, VD_EINVAL, "pipeline[%zu]: expected a service name", i);
            int w =
                snprintf(csv + off, sizeof csv - off, "%s%s", i ? "," : "", json_string_value(s));
            if (w < 0 || (size_t)w >= sizeof csv - off) break;
            off += (size_t)w;
        }
    } else {
        return vd_fail(err, VD_EINVAL, "pipeline: expected a non-empty list of service names");
    }
    vd_error e2 = {0};
    int rc = vd_dag_from_pipeline(csv, dag, &e2);
    if (rc) return vd_fail(err, rc, "pipeline: %s", e2.msg);
    return 0;
}

int vd__job_spec_parse(json_t *m, vd__spec_form form, vd__job_spec *s, vd_error *err)
{
    memset(s, 0, sizeof *s);
    s->loop = -1;
    int rc = 0;
    json_t *vid = json_object_get(m, "video_id");
    if (!vid) return vd_fail(err, VD_EINVAL, "video_id: missing (an id from /user/get_all_status)");
    if (json_is_integer(vid))
        snprintf(s->video_id, sizeof s->video_id, "%lld", (long long)json_integer_value(vid));
    else if (json_is_string(vid) && json_string_length(vid) < sizeof s->video_id)
        snprintf(s->video_id, sizeof s->video_id, "%s", json_string_value(vid));
    if (!s->video_id[0])
        return vd_fail(err, VD_EINVAL,
                       "video_id: expected an integer or a string id of at most %zu characters "
                       "(e.g. 0, from /user/get_all_status)",
                       sizeof s->video_id - 1);
    json_t *pipe = form == VD__SPEC_USER ? json_object_get(m, "pipeline") : NULL;
    json_t *dagj = json_object_get(m, "dag");
    if (form == VD__SPEC_USER && !pipe == !dagj)
        return vd_fail(err, VD_EINVAL, "give either pipeline ([\"face_detection\", …]) or dag");
    rc = pipe ? dag_from_pipeline(pipe, &s->dag, err) : vd_dag_from_json(dagj, "dag", &s->dag, err);
    if (rc) goto fail;
    if (s->dag->n_stages > VD_MAX_STAGES) {
        rc = vd_fail(err, VD_EINVAL, "dag: at most %d stages", VD_MAX_STAGES);
        goto fail;
    }
    json_t *uc = json_object_get(m, "user_constraint");
    rc = vd__constraint_parse(uc, &s->delay_bound, &s->accuracy, err);
    if (rc) goto fail;
    json_t *sch = json_object_get(m, "scheduler");
    const char *sname = json_string_value(sch);
    if (sch && (!sname || strlen(sname) >= sizeof s->scheduler)) {
        rc = vd_fail(err, VD_EINVAL, "scheduler: expected a scheduler name (e.g. \"%s\")",
                     VD_DEFAULT_SCHEDULER);
        goto fail;
    }
    snprintf(s->scheduler, sizeof s->scheduler, "%s", sname ? sname : VD_DEFAULT_SCHEDULER);
    const char *rkey = form == VD__SPEC_USER ? "plan" : "requested_plan";
    json_t *rq = json_object_get(m, rkey);
    vd_plan p;
    if (rq && form == VD__SPEC_USER) vd_plan_json_user(rq);
    if (rq && (rc = vd_plan_from_json(rq, s->dag, rkey, &p, err))) goto fail;
    json_t *mf = json_object_get(m, "max_frames");
    /* 0 means "no limit" on the wire (a spec the cloud sends); a user leaves it out */
    json_int_t lo = form == VD__SPEC_USER ? 1 : 0;
    if (mf && (!json_is_integer(mf) || json_integer_value(mf) < lo ||
               json_integer_value(mf) > VD_MAX_FRAMES)) {
        rc = vd_fail(err, VD_EINVAL,
                     "max_frames: expected an integer %lld..%d (frames to process; leave it out "
                     "for no limit)",
                     (long long)lo, VD_MAX_FRAMES);
        goto fail;
    }
    s->max_frames = mf ? (long)json_integer_value(mf) : 0;
    json_t *lp = json_object_get(m, "loop");
    if (lp && !json_is_boolean(lp)) {
        rc = vd_fail(err, VD_EINVAL, "loop: expected true or false");
        goto fail;
    }
    s->loop = lp ? json_is_true(lp) : -1;
    s->dag_json = vd_dag_to_json(s->dag);
    s->constraint = uc ? json_deep_copy(uc) : json_object();
    s->requested = rq ? json_deep_copy(rq) : NULL;
    if (!s->dag_json || !s->constraint || (rq && !s->requested)) {
        rc = vd_fail(err, VD_ENOMEM, "out of memory");
        goto fail;
    }
    return 0;
fail:
    vd__job_spec_clear(s);
    return vd__request_error(rc, err);
}

int vd__job_spec_set_constraint(vd__job_spec *s, json_t *uc, vd_error *err)
{
    double d, a;
    int rc = vd__constraint_parse(uc, &d, &a, err);
    if (rc) return rc;
    json_t *c = uc ? json_deep_copy(uc) : json_object();
    if (!c) return vd_fail(err, VD_ENOMEM, "out of memory");
    json_decref(s->constraint);
    s->constraint = c;
    s->delay_bound = d;
    s->accuracy = a;
    return 0;
}

void vd__job_spec_clear(vd__job_spec *s)
{
    if (!s) return;
    vd_dag_free(s->dag);
    json_decref(s->dag_json);
    json_decref(s->constraint);
    json_decref(s->requested);
    memset(s, 0, sizeof *s);
    s->loop = -1;
}

/* The spec's fields, added to message m. */
static json_t *with_spec(json_t *m, const vd__job_spec *s)
{
    if (!m) return NULL;
    json_object_set_new(m, "video_id", json_string(s->video_id));
    json_object_set(m, "dag", s->dag_json);
    json_object_set(m, "user_constraint", s->constraint);
    json_object_set_new(m, "scheduler", json_string(s->scheduler));
    json_object_set_new(m, "max_frames", json_integer((json_int_t)s->max_frames));
    if (s->loop >= 0) json_object_set_new(m, "loop", json_boolean(s->loop));
    if (s->requested) json_object_set(m, "requested_plan", s->requested);
    return m;
}

const char *vd__msg_job_uid(json_t *m)
{
    const char *uid = json_string_value(json_object_get(m, "job_uid"));
    return uid ? uid : json_string_value(json_object_get(m, "unique_job_id"));
}

int vd__msg_plan_version(json_t *m)
{
    json_int_t v = json_integer_value(json_object_get(m, "plan_version"));
    return v > 0 && v <= 0x7fffffff ? (int)v : 0;
}

json_t *vd__submit_msg(const char *uid, const vd__job_spec *s, const vd_plan *plan,
                       int plan_version, int watch)
{
    json_t *m = with_spec(json_pack("{s:s,s:b}", "job_uid", uid, "watch", watch), s);
    if (m && plan) json_object_set_new(m, "plan", vd_plan_to_json(plan));
    if (m && plan_version > 0) json_object_set_new(m, "plan_version", json_integer(plan_version));
    return m;
}

int vd__submit_parse(json_t *m, vd__submit *out, vd_error *err)
{
    memset(out, 0, sizeof *out);
    const char *uid = vd__msg_job_uid(m);
    if (!uid || !*uid || strlen(uid) >= sizeof out->uid)
        return vd_fail(err, VD_EINVAL, "submit_job.job_uid: expected a string (1..63 chars)");
    snprintf(out->uid, sizeof out->uid, "%s", uid);
    int rc = vd__job_spec_parse(m, VD__SPEC_WIRE, &out->spec, err);
    if (rc) return rc;
    json_t *pj = json_object_get(m, "plan");
    if (pj && (rc = vd_plan_from_json(pj, out->spec.dag, "plan", &out->plan, err))) {
        vd__job_spec_clear(&out->spec);
        return vd__request_error(rc, err);
    }
    out->has_plan = pj != NULL;
    out->plan_version = vd__msg_plan_version(m);
    out->watch = json_is_true(json_object_get(m, "watch"));
    return 0;
}

json_t *vd__update_msg(const char *uid, const vd_plan *plan, int plan_version, json_t *constraint)
{
    json_t *m = json_pack("{s:s}", "job_uid", uid);
    if (m && plan) json_object_set_new(m, "plan", vd_plan_to_json(plan));
    if (m && constraint) json_object_set(m, "user_constraint", constraint);
    if (m && plan_version > 0) json_object_set_new(m, "plan_version", json_integer(plan_version));
    return m;
}

json_t *vd__job_info_msg(const char *uid, const char *node, const vd__job_spec *s, int running,
                         int watch, const vd_plan *plan, int plan_version)
{
    json_t *m = with_spec(json_pack("{s:s,s:s,s:s,s:b,s:o,s:i}", "job_uid", uid, "node", node,
                                    "state", running ? "EXEC" : "DONE", "watch", watch, "plan",
                                    vd_plan_to_json(plan), "plan_version", plan_version),
                          s);
    return m;
}

int vd__job_info_parse(json_t *m, vd__job_info *out, vd_error *err)
{
    memset(out, 0, sizeof *out);
    out->spec.loop = -1;
    const char *state = json_string_value(json_object_get(m, "state"));
    if (!state || strcmp(state, "EXEC")) return 0; /* ended there (or never ran) */
    int rc = vd__job_spec_parse(m, VD__SPEC_WIRE, &out->spec, err);
    if (rc) return rc;
    rc = vd_plan_from_json(json_object_get(m, "plan"), out->spec.dag, "plan", &out->plan, err);
    if (rc) {
        vd__job_spec_clear(&out->spec);
        return vd__request_error(rc, err);
    }
    out->running = 1;
    out->plan_version = vd__msg_plan_version(m);
    out->watch = json_is_true(json_object_get(m, "watch"));
    return 0;
}

json_t *vd__plan_shown(json_t *plan, int native_h, double native_fps)
{
    json_t *vc = json_object_get(plan, "video_conf");
    const char *r = json_string_value(json_object_get(vc, "resolution"));
    if (vc && native_h > 0 && (!r || !strcmp(r, "native"))) {
        char res[16];
        snprintf(res, sizeof res, "%dp", native_h);
        json_object_set_new(vc, "resolution", json_string(res));
    }
    json_t *ae = json_object_get(vc, "asked_encoder");
    if (ae) { /* shown as asked, with what is sent */
        json_object_set(vc, "wire_encoder", json_object_get(vc, "encoder"));
        json_object_set(vc, "encoder", ae);
        json_object_del(vc, "asked_encoder");
    }
    json_t *f = json_object_get(vc, "fps");
    if (vc && native_fps > 0 && (!f || json_number_value(f) <= 0))
        json_object_set_new(vc, "fps", json_real(native_fps));
    return plan;
}

int vd__reply_json(vd_buf *resp, json_t *j, vd_error *err)
{
    if (!j) return vd_fail(err, VD_ENOMEM, "out of memory");
    if (!json_object_get(j, "status")) json_object_set_new(j, "status", json_integer(0));
    int rc = vd_msg_pack(j, NULL, 0, resp, err);
    json_decref(j);
    return rc;
}

json_t *vd__parse_body(const vd_http_req *req, vd_http_resp *resp)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)req->body, req->body_len, 0, &je);
    if (!j) {
        vd_http_fail(resp, VD_EFORMAT, "%s: body is not JSON: %s (line %d, column %d)", req->path,
                     je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        vd_http_fail(resp, VD_EINVAL, "%s: body must be a JSON object", req->path);
        return NULL;
    }
    return j;
}
