/*
 * The cloud's user API (the seed's /user/…, /query/…, /node/get_plan, plus stop, delete,
 * the job list and /get_cluster_info). Handlers run on the HTTP server's threads: they take
 * c->mu for the tables and make node calls without it. Only the leading cloud serves them
 * (cloud_ha.c); one standing by answers VD_ESTATE with the leader's name and address.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cloud_internal.h"
#include "vdag/base.h"

static const char *state_names[] = {"UNSCHED", "EXEC", "DONE"};

static json_t *node_json(const node_ent *n, double now)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:f}", "name", n->name, "role", n->role, "addr", n->addr,
                          "last_seen_s", (now - n->last_seen) / 1e3);
    json_t *v = json_object_get(n->hb, "video");
    json_object_set_new(o, "video", v ? json_deep_copy(v) : json_object());
    json_t *r = json_object_get(n->hb, "resources");
    if (r) json_object_set_new(o, "resources", json_deep_copy(r));
    json_t *s = json_object_get(n->hb, "services");
    if (s) json_object_set_new(o, "services", json_deep_copy(s));
    json_t *jobs = json_object_get(n->hb, "jobs");
    if (jobs) json_object_set_new(o, "jobs", json_deep_copy(jobs));
    json_t *models = json_object_get(n->hb, "models"); /* fetched from a cloud (models.c) */
    if (models) json_object_set_new(o, "models", json_deep_copy(models));
    if (!n->self)
        json_object_set_new(
            o, "kb",
            json_pack("{s:I,s:i}", "version", (json_int_t)n->kb_version, "entries", n->kb_entries));
    return o;
}

json_t *vd__cloud_job_summary(const cjob *j)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:i}", "job_uid", j->uid, "node_addr",
                          j->node, "video_id", j->spec.video_id, "state", state_names[j->state],
                          "reason", j->reason, "msg", j->msg, "scheduler", j->spec.scheduler,
                          "frames", (json_int_t)j->frames, "plan_version", j->plan_version);
    json_object_set(o, "user_constraint", j->spec.constraint);
    json_t *fl = json_array();
    for (int s = 0; s < j->spec.dag->n_stages; s++)
        json_array_append_new(fl, json_string(j->spec.dag->stages[s].name));
    json_object_set_new(o, "pipeline", fl);
    json_object_set_new(o, "delay", json_real(j->measured.total_delay));
    /* results: counted once each (told apart by the edge's run and seq), those delivered
     * again, and those the edge numbered that never came */
    json_object_set_new(o, "results",
                        json_pack("{s:I,s:I,s:I}", "frames", (json_int_t)j->frames, "duplicates",
                                  (json_int_t)j->dups, "missing",
                                  (json_int_t)vd__cloud_results_missing(j)));
    return o;
}

static int r_all_status(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_cloud *c = arg;
    (void)req;
    json_t *data = json_object(), *jobs = json_array();
    double now = vd_now_ms();
    pthread_mutex_lock(&c->mu);
    /* nodes with videos first, the cloud itself last: a seed front end submits to the first
     * key (jansson keeps the insertion order) */
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < c->n_nodes; i++) {
            node_ent *n = &c->nodes[i];
            int has = json_object_size(json_object_get(n->hb, "video")) > 0;
            if ((pass == 0 && has && !n->self) || (pass == 1 && !has && !n->self) ||
                (pass == 2 && n->self))
                json_object_set_new(data, n->name, node_json(n, now));
        }
    for (int i = 0; i < c->n_jobs; i++)
        if (!c->jobs[i]->removed) json_array_append_new(jobs, vd__cloud_job_summary(c->jobs[i]));
    pthread_mutex_unlock(&c->mu);
    vd_http_json(resp, 200, json_pack("{s:i,s:o,s:o}", "status", 0, "data", data, "jobs", jobs));
    return 0;
}

static int r_cluster_info(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_cloud *c = arg;
    (void)req;
    json_t *data = json_object();
    double now = vd_now_ms();
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n_nodes; i++) {
        node_ent *n = &c->nodes[i];
        json_t *o = node_json(n, now);
        if (n->self && c->host) {
            json_t *r = vd__svchost_resource_info(c->host, &c->res);
            json_object_set_new(o, "resources", r);
        }
        json_object_set_new(data, n->name, o);
    }
    pthread_mutex_unlock(&c->mu);
    vd_http_json(resp, 200, json_pack("{s:i,s:o}", "status", 0, "data", data));
    return 0;
}

/* The nodes of a requested plan as the user named them (a name, an advertised "ip:port", or
 * the seed's bare node_ip with its node_role) resolved to node names, in place, for job edge
 * `edge` (lock held). A node the cloud does not know is an error naming the field: it was
 * once run on the edge without a word. The role follows the node: the job's edge is "host",
 * the cloud "cloud", another edge "edge". */
static int resolve_plan(vd_cloud *c, json_t *plan, const char *edge, vd_error *err)
{
    const char *stage;
    json_t *m;
    json_object_foreach(json_object_get(plan, "flow_mapping"), stage, m)
    {
        const char *ip = json_string_value(json_object_get(m, "node_ip"));
        const char *nm = json_string_value(json_object_get(m, "node"));
        const char *role = json_string_value(json_object_get(m, "node_role"));
        const char *given = ip && *ip ? ip : nm;
        const char *key = ip && *ip ? "node_ip" : "node";
        node_ent *n;
        vd_error e2 = {0};
        if (given && *given)
            n = vd__cloud_resolve(c, given, role, edge, &e2);
        else if (role && !strcmp(role, "cloud")) /* {"node_role": "cloud"}: the cloud */
            n = vd__cloud_resolve(c, c->name, NULL, NULL, &e2);
        else /* nothing said: the job's edge */
            n = vd__cloud_resolve(c, edge, NULL, NULL, &e2);
        if (!n) return vd_fail(err, e2.code, "plan.flow_mapping.%s.%s: %s", stage, key, e2.msg);
        const char *r = !strcmp(n->name, edge)                 ? "host"
                        : n->self || !strcmp(n->role, "cloud") ? "cloud"
                                                               : "edge";
        json_object_set_new(m, "node_ip", json_string(n->name));
        json_object_set_new(m, "node", json_string(n->name));
        json_object_set_new(m, "node_role", json_string(r));
    }
    return 0;
}

int vd__cloud_submit(vd_cloud *c, json_t *b, const char *want_uid, char out_uid[64], vd_error *err)
{
    vd__job_spec spec = {0};
    vd_sched *sch = NULL;
    vd_error e2 = {0};
    int rc = 0;
    json_t *na = json_object_get(b, "node_addr");
    const char *node = json_string_value(na);
    if (!node || !*node)
        return vd_fail(err, VD_EINVAL,
                       "node_addr: %s (a node name or \"ip:port\" string from "
                       "/user/get_all_status)",
                       na ? "expected a string" : "missing");
    if ((rc = vd__job_spec_parse(b, VD__SPEC_USER, &spec, err))) return rc;
    if (vd_sched_new(spec.scheduler, &sch, &e2)) {
        vd__job_spec_clear(&spec);
        return vd_fail(err, e2.code == VD_ENOMEM ? VD_ENOMEM : VD_EINVAL, "scheduler: %s", e2.msg);
    }
    pthread_mutex_lock(&c->mu);
    node_ent *n = vd__cloud_resolve(c, node, NULL, NULL, &e2);
    if (!n)
        rc = vd_fail(err, e2.code, "node_addr: %s", e2.msg);
    else if (!json_object_get(json_object_get(n->hb, "video"), spec.video_id))
        rc = vd_fail(err, VD_ENOTFOUND, "video_id: node %s has no video '%s'", n->name,
                     spec.video_id);
    else if (spec.requested)
        rc = resolve_plan(c, spec.requested, n->name, err);
    if (!rc && want_uid && vd__cloud_job_known(c, want_uid))
        rc = vd_fail(err, VD_EALREADY, "job_uid: a job '%s' exists", want_uid);
    if (rc) {
        pthread_mutex_unlock(&c->mu);
        vd__job_spec_clear(&spec);
        vd_sched_free(sch);
        return rc;
    }
    char uid[64];
    if (want_uid)
        snprintf(uid, sizeof uid, "%s", want_uid);
    else
        do /* never a uid this cloud knows (adopted jobs included) */
            snprintf(uid, sizeof uid, "%s.%d", c->prefix, ++c->next_id);
        while (vd__cloud_job_known(c, uid));
    cjob *j = vd__cloud_job_new(uid, n->name, &spec, sch);
    if (!j || vd__cloud_job_add(c, j)) {
        pthread_mutex_unlock(&c->mu);
        if (j)
            vd__cloud_job_unref(j); /* it owns the spec and the scheduler now */
        else
            vd__job_spec_clear(&spec), vd_sched_free(sch);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    vd__cloud_job_changed(j);
    pthread_cond_broadcast(&c->cv);
    snprintf(out_uid, 64, "%s", uid);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static int r_submit_query(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_cloud *c = arg;
    json_t *b = vd__parse_body(req, resp);
    if (!b) return 0;
    vd_error err = {0};
    char uid[64];
    int rc = vd__cloud_submit(c, b, NULL, uid, &err);
    json_decref(b);
    if (rc) {
        vd_http_fail(resp, rc, "%s", err.msg);
        return 0;
    }
    vd__cloud_store_flush(c, 0); /* accepted: in the store (else at the next round) */
    vd_http_json(resp, 200,
                 json_pack("{s:i,s:s,s:s,s:s,s:s}", "status", 0, "msg", "submitted", "job_uid", uid,
                           "query_id", uid, "state", "UNSCHED"));
    return 0;
}

static int r_constraint(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_cloud *c = arg;
    json_t *b = vd__parse_body(req, resp);
    if (!b) return 0;
    const char *uid = json_string_value(json_object_get(b, "job_uid"));
    json_t *uc = json_object_get(b, "user_constraint");
    double d, a;
    vd_error err = {0};
    if (!uid || !uc) {
        json_decref(b);
        vd_http_fail(
            resp, VD_EINVAL, "%s: %s (expected {\"job_uid\": …, \"user_constraint\": {…}})",
            !uid ? "job_uid" : "user_constraint",
            json_object_get(b, !uid ? "job_uid" : "user_constraint") ? "wrong type" : "missing");
        return 0;
    }
    if (vd__constraint_parse(uc, &d, &a, &err)) {
        json_decref(b);
        vd_http_fail(resp, err.code, "%s", err.msg);
        return 0;
    }
    pthread_mutex_lock(&c->mu);
    cjob *j = vd__cloud_job(c, uid);
    char node[64] = "";
    json_t *push = NULL;
    int rc = !j ? 0
             : j->state == S_DONE
                 ? vd_fail(&err, VD_ESTATE,
                           "job %s is done (%s): its constraint no longer applies; "
                           "submit a new job",
                           j->uid, j->reason)
                 : vd__job_spec_set_constraint(&j->spec, uc, &err);
    if (j && !rc) vd__cloud_job_changed(j);
    if (j && !rc && j->state == S_EXEC) {
        snprintf(node, sizeof node, "%s", j->node);
        push = vd__update_msg(j->uid, NULL, 0, j->spec.constraint);
    }
    pthread_mutex_unlock(&c->mu);
    if (!j) vd_http_fail(resp, VD_ENOTFOUND, "no job '%s'", uid); /* uid lives in b */
    json_decref(b);
    if (!j) return 0;
    if (rc) {
        vd_http_fail(resp, rc, "%s", err.msg);
        return 0;
    }
    if (push) { /* the edge keeps it for a restarted cloud (node.get_job); best effort: the
                 * next plan update carries it too */
        vd__cloud_call(c, node, VD_CMD_UPDATE, push, NULL, NULL);
        json_decref(push);
    }
    vd_http_json(resp, 200,
                 json_pack("{s:i,s:s}", "status", 0, "msg", "applies at the next re-plan"));
    return 0;
}

/* A plan (JSON, in place) as users see it (lock held): the source's numbers for "native"
 * (once a result told them), and node_ip the IP of the node named, as in the seed (its
 * advertised host; "node" keeps the name). */
static json_t *shown(vd_cloud *c, const cjob *j, json_t *plan)
{
    vd__plan_shown(plan, j->native_h, j->native_fps);
    const char *stage;
    json_t *m;
    json_object_foreach(json_object_get(plan, "flow_mapping"), stage, m)
    {
        const char *name = json_string_value(json_object_get(m, "node"));
        if (!name) name = json_string_value(json_object_get(m, "node_ip"));
        node_ent *n = name && *name ? vd__cloud_node(c, name) : NULL;
        if (!n || !n->addr[0]) continue;
        char host[128];
        const char *colon = strrchr(n->addr, ':');
        snprintf(host, sizeof host, "%.*s", colon ? (int)(colon - n->addr) : (int)strlen(n->addr),
                 n->addr);
        json_object_set_new(m, "node", json_string(n->name));
        json_object_set_new(m, "node_ip", json_string(host));
    }
    return plan;
}

json_t *vd__cloud_plan_json(vd_cloud *c, cjob *j)
{
    json_t *hplan = json_object_get(j->last_hdr, "plan");
    return shown(c, j,
                 hplan         ? json_deep_copy(hplan)
                 : j->has_plan ? vd_plan_to_json(&j->plan)
                               : json_object());
}

json_t *vd__cloud_runtime_json(const cjob *j)
{
    return json_pack("{s:f,s:f,s:f,s:b}", "delay", j->rt.delay, "obj_n", j->rt.obj_n, "obj_size",
                     j->rt.obj_size, "obj_stable", j->rt.obj_stable);
}

json_t *vd__cloud_result_json(vd_cloud *c, cjob *j)
{
    json_t *app = json_array();
    for (int i = 0; i < j->ring_n; i++)
        json_array_append(app, j->ring[(j->ring_head - j->ring_n + i + RING) % RING]);
    /* the latest result, with the plan that produced it (an older one for a moment after a
     * change; job.plan_version is the current one) */
    const vd_plan_result *m = &j->shown;
    json_t *delay = json_object();
    for (int s = 0; s < j->spec.dag->n_stages && s < VD_MAX_STAGES; s++)
        json_object_set_new(delay, j->spec.dag->stages[s].name, json_real(m->delay[s]));
    json_t *latest = json_pack(
        "{s:o,s:{s:o,s:f,s:i,s:f,s:f,s:b,s:I},s:i}", "plan", vd__cloud_plan_json(c, j),
        "plan_result", "delay", delay, "total_delay", m->total_delay, "n_frames", m->n_frames,
        "load", m->load, "drop_ratio", m->drop_ratio, "load_valid", m->load_valid, "dropped",
        (json_int_t)m->dropped, "plan_version", j->last_hdr ? j->shown_version : j->plan_version);
    json_t *changes = json_deep_copy(j->changes);
    size_t k;
    json_t *ch;
    json_array_foreach(changes, k, ch) shown(c, j, json_object_get(ch, "plan"));
    return json_pack("{s:o,s:o,s:o,s:o}", "appended_result", app, "latest_result", latest,
                     "plan_changes", changes, "runtime", vd__cloud_runtime_json(j));
}

static int r_sync_result(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_cloud *c = arg;
    pthread_mutex_lock(&c->mu);
    cjob *j = vd__cloud_job(c, req->tail);
    if (!j) {
        pthread_mutex_unlock(&c->mu);
        vd_http_fail(resp, VD_ENOTFOUND, "no job '%s' (GET /user/jobs lists them)", req->tail);
        return 0;
    }
    json_t *result = vd__cloud_result_json(c, j);
    json_t *job = vd__cloud_job_summary(j);
    pthread_mutex_unlock(&c->mu);
    vd_http_json(resp, 200, json_pack("{s:i,s:o,s:o}", "status", 0, "result", result, "job", job));
    return 0;
}

static int r_jobs(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_cloud *c = arg;
    (void)req;
    json_t *jobs = json_array();
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n_jobs; i++)
        if (!c->jobs[i]->removed) json_array_append_new(jobs, vd__cloud_job_summary(c->jobs[i]));
    pthread_mutex_unlock(&c->mu);
    vd_http_json(resp, 200, json_pack("{s:i,s:o}", "status", 0, "jobs", jobs));
    return 0;
}

/* Stop (POST /user/stop_job/<uid>) or stop and forget (DELETE /user/job/<uid>). */
static int stop_job(vd_cloud *c, const char *uid, int remove, vd_http_resp *resp)
{
    pthread_mutex_lock(&c->mu);
    cjob *j = vd__cloud_job(c, uid);
    if (!j) {
        pthread_mutex_unlock(&c->mu);
        vd_http_fail(resp, VD_ENOTFOUND, "no job '%s'", uid);
        return 0;
    }
    int was = j->state;
    char node[64];
    snprintf(node, sizeof node, "%s", j->node);
    if (was != S_DONE) vd__cloud_job_done(c, j, "stopped", "stopped by the user");
    if (was != S_DONE) j->stopped_at = vd_now_ms();
    if (remove) j->removed = 1;
    vd__cloud_job_changed(j);
    pthread_cond_broadcast(&c->frames);
    pthread_mutex_unlock(&c->mu);
    vd__cloud_store_flush(c, 0);
    if (was == S_EXEC) {
        json_t *body = json_pack("{s:s}", "job_uid", uid);
        vd_error err = {0};
        vd__cloud_call(c, node, VD_CMD_STOP, body, NULL, &err); /* the edge may be gone */
        json_decref(body);
    }
    vd_http_json(resp, 200,
                 json_pack("{s:i,s:s,s:s}", "status", 0, "msg", remove ? "deleted" : "stopped",
                           "job_uid", uid));
    return 0;
}

static int r_stop(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    return stop_job(arg, req->tail, 0, resp);
}

static int r_delete(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    return stop_job(arg, req->tail, 1, resp);
}

/* A route of the cloud: served by the leader; a cloud standing by answers VD_ESTATE naming
 * the leader (clients go there). */
typedef struct cloud_route {
    vd_http_handler fn;
    void *arg;
    vd_cloud *c;
} cloud_route;

static int guarded(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    const cloud_route *g = arg;
    vd_cloud *c = g->c;
    char msg[sizeof c->leader_msg];
    pthread_mutex_lock(&c->mu);
    int leads = c->leader;
    snprintf(msg, sizeof msg, "%s", c->leader_msg);
    pthread_mutex_unlock(&c->mu);
    if (!leads) {
        vd_http_fail(resp, VD_ESTATE, "%s", msg);
        return 0;
    }
    return g->fn(g->arg, req, resp);
}

int vd_cloud_routes(vd_cloud *c, vd_http_route *r, int cap)
{
    const vd_http_route mine[] = {
        {"GET", "/user/get_all_status", r_all_status, c},
        {"POST", "/query/submit_query", r_submit_query, c},
        {"POST", "/user/submit_job_user_constraint", r_constraint, c},
        {"GET", "/user/sync_job_result/", r_sync_result, c},
        {"GET", "/user/video/", vd__cloud_r_video, c},
        {"GET", "/user/jobs", r_jobs, c},
        {"POST", "/user/stop_job/", r_stop, c},
        {"DELETE", "/user/job/", r_delete, c},
        {"GET", "/get_cluster_info", r_cluster_info, c},
    };
    int n = (int)(sizeof mine / sizeof *mine);
    if (n > cap) return VD_ETOOBIG;
    vd_http_route all[64];
    memcpy(all, mine, sizeof mine);
    int m = vd__cloud_seed_routes(c, all + n, 64 - n);
    if (m < 0) return m;
    n += m;
    if ((m = vd__cloud_source_routes(c, all + n, 64 - n)) < 0) return m;
    n += m;
    if (n > cap) return VD_ETOOBIG;
    pthread_mutex_lock(&c->mu);
    if (!c->routes_) c->routes_ = calloc(64, sizeof *c->routes_); /* freed with c */
    cloud_route *g = c->routes_;
    pthread_mutex_unlock(&c->mu);
    if (!g) return VD_ENOMEM;
    for (int i = 0; i < n; i++) {
        g[i] = (cloud_route){all[i].fn, all[i].arg, c};
        r[i] = (vd_http_route){all[i].method, all[i].path, guarded, &g[i]};
    }
    return n;
}
