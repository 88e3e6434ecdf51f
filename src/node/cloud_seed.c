/*
 * The seed's other cloud routes, in its request and response shapes (its query_manager.py
 * and job_tracker.py): POST /user/submit_job, POST /node/get_plan (an edge asks for a plan),
 * POST /query/sync_result and /node/sync_job_result (a job manager pushes a result), GET
 * /query/get_result|get_agg_info|get_plan|get_runtime/<job> (bare objects, as the seed
 * answered them), GET /node/get_video_info and POST /node/join. Handlers run on the HTTP
 * server's threads and take c->mu for the tables.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud_internal.h"
#include "vdag/base.h"

/* POST /user/submit_job {node_addr, video_id, dag | pipeline, user_constraint?} →
 * {status, msg, job_uid, node_submit, constraint, sidechan}. As in the seed, a job without a
 * constraint gets {"delay": 0.8, "accuracy": 0.8}. */
static int r_user_submit_job(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_cloud *c = arg;
    json_t *b = vd__parse_body(req, resp);
    if (!b) return 0;
    if (!json_object_get(b, "user_constraint"))
        json_object_set_new(b, "user_constraint",
                            json_pack("{s:f,s:f}", "delay", 0.8, "accuracy", 0.8));
    vd_error err = {0};
    char uid[64];
    int rc = vd__cloud_submit(c, b, NULL, uid, &err);
    json_decref(b);
    if (rc) {
        vd_http_fail(resp, rc, "%s", err.msg);
        return 0;
    }
    vd_http_json(resp, 200,
                 json_pack("{s:i,s:s,s:s,s:s,s:i,s:i,s:i}", "status", 0, "msg",
                           "submitted to manager from api: node/submit_job", "job_uid", uid,
                           "query_id", uid, "node_submit", 1, "constraint", 1, "sidechan", 1));
    return 0;
}

/* The stage names of two DAGs agree (lock held). */
static int same_flow(const vd_dag *a, const vd_dag *b)
{
    if (a->n_stages != b->n_stages || a->generator != b->generator) return 0;
    for (int i = 0; i < a->n_stages; i++)
        if (strcmp(a->stages[i].name, b->stages[i].name)) return 0;
    return 1;
}

/* POST /node/get_plan {job_uid, dag?, last_plan_result?, user_constraint?}: in the seed, an
 * edge asks the cloud to schedule a job; the scheduler then sends the plan to the edge
 * (node.update_plan here). A known job is re-planned at once with the constraint given and,
 * when the cloud has not measured its current plan, the last_plan_result's delays; a new one
 * (with node_addr, video_id and its dag) is registered under that uid and scheduled. The
 * reply is the seed's {status, msg}, with the plan in force when there is one. */
static int r_get_plan(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_cloud *c = arg;
    json_t *b = vd__parse_body(req, resp);
    if (!b) return 0;
    vd_error err = {0};
    int rc = 0;
    const char *uid = json_string_value(json_object_get(b, "job_uid"));
    json_t *dj = json_object_get(b, "dag"), *uc = json_object_get(b, "user_constraint");
    json_t *lpr = json_object_get(b, "last_plan_result");
    vd_dag *dag = NULL;
    double d, a;
    if (!uid || !*uid || strlen(uid) >= 64)
        rc = vd_fail(&err, VD_EINVAL, "job_uid: %s (expected {\"job_uid\", \"dag\", …})",
                     json_object_get(b, "job_uid") ? "expected a job id string" : "missing");
    else if (dj && vd_dag_from_json(dj, "dag", &dag, &err))
        rc = vd__request_error(err.code, &err);
    else if (uc && json_object_size(uc) && vd__constraint_parse(uc, &d, &a, &err))
        rc = err.code;
    else if (lpr && !json_is_object(lpr))
        rc = vd_fail(&err, VD_EINVAL, "last_plan_result: expected an object {\"delay\": {…}}");
    if (rc) goto out;
    pthread_mutex_lock(&c->mu);
    cjob *j = vd__cloud_job(c, uid);
    if (!j) {
        pthread_mutex_unlock(&c->mu);
        char nu[64];
        if (!json_object_get(b, "node_addr") || !json_object_get(b, "video_id"))
            rc = vd_fail(&err, VD_ENOTFOUND,
                         "no job '%s': submit it first (POST /query/submit_query), or give its "
                         "node_addr, video_id and dag to schedule it as a new job",
                         uid);
        else
            rc = vd__cloud_submit(c, b, uid, nu, &err);
        if (!rc)
            vd_http_json(resp, 200,
                         json_pack("{s:i,s:s,s:s}", "status", 0, "msg",
                                   "accepted: a new job, scheduled now", "job_uid", uid));
        goto out;
    }
    if (j->state == S_DONE)
        rc = vd_fail(&err, VD_ESTATE, "job %s is done (%s)", uid, j->reason);
    else if (dag && !same_flow(dag, j->spec.dag))
        rc = vd_fail(&err, VD_EINVAL, "dag: its flow differs from job %s's", uid);
    else if (uc && json_object_size(uc))
        rc = vd__job_spec_set_constraint(&j->spec, uc, &err);
    if (!rc) {
        /* the edge's measurement, when the cloud has none of the plan in force */
        json_t *dl = json_object_get(lpr, "delay");
        if (json_is_object(dl) && j->has_plan &&
            (j->measured_version != j->plan_version || j->measured.n_frames == 0)) {
            vd_plan_result m = {0};
            for (int s = 0; s < j->spec.dag->n_stages && s < VD_MAX_STAGES; s++) {
                m.delay[s] = json_number_value(json_object_get(dl, j->spec.dag->stages[s].name));
                m.total_delay += m.delay[s];
            }
            m.n_frames = 1;
            j->measured = m;
            j->measured_version = j->plan_version;
        }
        j->replan_now = 3;
        j->plan_sent = 0; /* sent even when it does not change: the edge asked for it */
        pthread_cond_broadcast(&c->cv);
        json_t *r = j->has_plan ? vd__cloud_plan_json(c, j) : json_object();
        json_object_set_new(r, "status", json_integer(0));
        json_object_set_new(r, "msg",
                            json_string("accepted: re-planned now; the plan goes to "
                                        "the job's edge (node/update_plan)"));
        json_object_set_new(r, "job_uid", json_string(uid));
        vd_http_json(resp, 200, r);
    }
    pthread_mutex_unlock(&c->mu);
out:
    if (rc) vd_http_fail(resp, rc, "%s", err.msg);
    vd_dag_free(dag);
    json_decref(b);
    return 0;
}

/* POST /query/sync_result (and the older /node/sync_job_result) {job_uid, job_result:
 * {appended_result: {…}, latest_result: {plan, plan_result}}}: a job manager's result, kept
 * as an edge's vdag.result would be. */
static int r_sync_result(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_cloud *c = arg;
    json_t *b = vd__parse_body(req, resp);
    if (!b) return 0;
    const char *uid = json_string_value(json_object_get(b, "job_uid"));
    json_t *jr = json_object_get(b, "job_result");
    json_t *app = json_object_get(jr, "appended_result"),
           *lat = json_object_get(jr, "latest_result");
    if (!uid || !json_is_object(jr) || (app && !json_is_object(app)) ||
        (lat && !json_is_object(lat))) {
        json_decref(b);
        vd_http_fail(resp, VD_EINVAL,
                     "expected {\"job_uid\": …, \"job_result\": {\"appended_result\": {…}, "
                     "\"latest_result\": {\"plan\", \"plan_result\"}}}");
        return 0;
    }
    json_t *hdr = json_pack("{s:s,s:s,s:o}", "job_uid", uid, "state", "EXEC", "result",
                            app ? json_incref(app) : json_object());
    json_t *plan = json_object_get(lat, "plan");
    if (!plan) plan = json_object_get(app, "plan");
    if (json_is_object(plan)) json_object_set(hdr, "plan", plan);
    json_t *pr = json_object_get(lat, "plan_result");
    if (json_is_object(pr)) json_object_set(hdr, "plan_result", pr);
    json_t *rt = json_object_get(app, "runtime");
    if (json_is_object(rt)) json_object_set(hdr, "runtime", rt);
    char u[64];
    snprintf(u, sizeof u, "%s", uid);
    json_decref(b);
    int rc = vd__cloud_take_result(c, NULL, hdr);
    if (rc == 1) rc = VD_ENOTFOUND; /* not known yet: being taken over */
    if (rc)
        vd_http_fail(resp, rc, rc == VD_ESTATE ? "job %s is done" : "no job '%s'", u);
    else
        vd_http_json(resp, 200,
                     json_pack("{s:i,s:s,s:s}", "status", 0, "msg", "result kept", "job_uid", u));
    return 0;
}

/* GET /query/get_result|get_agg_info|get_plan|get_runtime/<job>: the seed answered with the
 * object itself, no status around it. */
enum { Q_RESULT, Q_PLAN, Q_RUNTIME };

static int query(vd_cloud *c, const vd_http_req *req, vd_http_resp *resp, int what)
{
    pthread_mutex_lock(&c->mu);
    cjob *j = vd__cloud_job(c, req->tail);
    json_t *r = !j                 ? NULL
                : what == Q_PLAN   ? vd__cloud_plan_json(c, j)
                : what == Q_RESULT ? vd__cloud_result_json(c, j)
                                   : vd__cloud_runtime_json(j);
    pthread_mutex_unlock(&c->mu);
    if (!j)
        vd_http_fail(resp, VD_ENOTFOUND, "no query '%s' (GET /user/jobs lists them)", req->tail);
    else
        vd_http_json(resp, 200, r);
    return 0;
}

static int r_get_result(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    return query(arg, req, resp, Q_RESULT);
}

static int r_get_plan_of(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    return query(arg, req, resp, Q_PLAN);
}

static int r_get_runtime(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    return query(arg, req, resp, Q_RUNTIME);
}

/* GET /node/get_video_info → {"<ip:port>": {"<video_id>": {"type": …}}}: every node's videos
 * by its advertised address (its name when it has none), and the videos joined over HTTP. */
static int r_video_info(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_cloud *c = arg;
    (void)req;
    json_t *o = json_object();
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n_nodes; i++) {
        node_ent *n = &c->nodes[i];
        json_t *v = json_object_get(n->hb, "video");
        if (!json_object_size(v)) continue;
        json_t *out = json_object();
        const char *id;
        json_t *x;
        json_object_foreach(v, id, x)
            json_object_set_new(out, id, json_pack("{s:O}", "type", json_object_get(x, "type")));
        json_object_set_new(o, n->addr[0] ? n->addr : n->name, out);
    }
    for (int i = 0; i < c->n_joined; i++) {
        joined_video *v = &c->joined[i];
        json_t *out = json_object_get(o, v->addr);
        if (!out) json_object_set_new(o, v->addr, out = json_object());
        json_object_set_new(out, v->video_id, json_pack("{s:s}", "type", v->type));
    }
    pthread_mutex_unlock(&c->mu);
    vd_http_json(resp, 200, o);
    return 0;
}

/* The client's IP (the seed's flask.request.remote_addr) into ip. */
static void peer_ip(const vd_http_req *req, char *ip, size_t n)
{
    snprintf(ip, n, "127.0.0.1");
    const union MHD_ConnectionInfo *ci =
        req->conn_ ? MHD_get_connection_info(req->conn_, MHD_CONNECTION_INFO_CLIENT_ADDRESS) : NULL;
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, ip,
                  (socklen_t)n);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, ip,
                  (socklen_t)n);
}

/* POST /node/join {node_port, video_id, video_type} → {status, msg, node_addr}: a seed job
 * manager announces a video of the node at <its IP>:node_port. Listed by
 * /node/get_video_info; vdag runs jobs on vdag edges (their heartbeats say the same). */
static int r_join(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_cloud *c = arg;
    json_t *b = vd__parse_body(req, resp);
    if (!b) return 0;
    json_t *port = json_object_get(b, "node_port"), *vid = json_object_get(b, "video_id");
    const char *type = json_string_value(json_object_get(b, "video_type"));
    json_int_t p = json_integer_value(port);
    if (!json_is_integer(port) || p < 1 || p > 65535 ||
        !(json_is_integer(vid) || json_is_string(vid))) {
        json_decref(b);
        vd_http_fail(resp, VD_EINVAL,
                     "expected {\"node_port\": 1..65535, \"video_id\": …, \"video_type\": …}");
        return 0;
    }
    char ip[64], addr[128], id[32];
    peer_ip(req, ip, sizeof ip);
    snprintf(addr, sizeof addr, "%s:%lld", ip, (long long)p);
    if (json_is_integer(vid))
        snprintf(id, sizeof id, "%lld", (long long)json_integer_value(vid));
    else
        snprintf(id, sizeof id, "%s", json_string_value(vid));
    pthread_mutex_lock(&c->mu);
    joined_video *v = NULL;
    for (int i = 0; i < c->n_joined && !v; i++)
        if (!strcmp(c->joined[i].addr, addr) && !strcmp(c->joined[i].video_id, id))
            v = &c->joined[i];
    if (!v && c->n_joined < MAX_JOINED) {
        joined_video *nj = realloc(c->joined, sizeof *nj * (size_t)(c->n_joined + 1));
        if (nj) c->joined = nj, v = &nj[c->n_joined++];
        if (v) snprintf(v->addr, sizeof v->addr, "%s", addr);
        if (v) snprintf(v->video_id, sizeof v->video_id, "%s", id);
    }
    if (v) snprintf(v->type, sizeof v->type, "%s", type ? type : "");
    pthread_mutex_unlock(&c->mu);
    json_decref(b);
    if (!v)
        vd_http_fail(resp, VD_ETOOBIG, "at most %d joined videos", MAX_JOINED);
    else
        vd_http_json(resp, 200,
                     json_pack("{s:i,s:s,s:s}", "status", 0, "msg",
                               "joined one video to query_manager", "node_addr", addr));
    return 0;
}

int vd__cloud_seed_routes(vd_cloud *c, vd_http_route *r, int cap)
{
    const vd_http_route mine[] = {
        {"POST", "/user/submit_job", r_user_submit_job, c},
        {"POST", "/node/get_plan", r_get_plan, c},
        {"POST", "/query/sync_result", r_sync_result, c},
        {"POST", "/node/sync_job_result", r_sync_result, c},
        {"GET", "/query/get_result/", r_get_result, c},
        {"GET", "/query/get_agg_info/", r_get_result, c},
        {"GET", "/query/get_plan/", r_get_plan_of, c},
        {"GET", "/query/get_runtime/", r_get_runtime, c},
        {"GET", "/node/get_video_info", r_video_info, c},
        {"POST", "/node/join", r_join, c},
    };
    int n = (int)(sizeof mine / sizeof *mine);
    if (n > cap) return VD_ETOOBIG;
    memcpy(r, mine, sizeof mine);
    return n;
}
