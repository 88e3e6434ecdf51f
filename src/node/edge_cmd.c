/*
 * The edge's commands: node.submit_job, node.update_plan, node.stop_job, node.watch,
 * node.get_runtime, node.get_kb, node.get_job, node.add_video, node.remove_video (proto.h
 * has their messages), one table
 * serving both the transport and the seed's HTTP routes.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge_internal.h"
#include "vdag/base.h"

/* ---- commands ---------------------------------------------------------------------- */

static job *find_job(vd_edge *e, const char *uid)
{
    for (int i = 0; i < e->n_jobs; i++)
        if (!strcmp(e->jobs[i]->uid, uid)) return e->jobs[i];
    return NULL;
}

/* *out: the job a command names in "job_uid" (e->mu held; running: only a job still
 * running counts); VD_ENOTFOUND when there is none. */
static int req_job(vd_edge *e, json_t *req, int running, job **out, vd_error *err)
{
    const char *uid = vd__msg_job_uid(req);
    *out = NULL;
    if (!uid || !*uid)
        return vd_fail(err, VD_EINVAL, "job_uid: %s (expected {\"job_uid\": \"<job>\", …})",
                       json_object_get(req, "job_uid") ? "expected a job id string" : "missing");
    *out = find_job(e, uid);
    if (*out && (!running || (*out)->state == J_RUN)) return 0;
    *out = NULL;
    return vd_fail(err, VD_ENOTFOUND, "node %s: no %sjob '%s'", e->name, running ? "running " : "",
                   uid);
}

/* Start a new job (e->mu held): it takes sub->spec (zeroed then). */
static int start_job(vd_edge *e, vd__submit *sub, const vd_video_src *v, vd_error *err)
{
    job *j = calloc(1, sizeof *j);
    job **nj = j ? realloc(e->jobs, sizeof *nj * (size_t)(e->n_jobs + 1)) : NULL;
    if (!nj) {
        free(j);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    e->jobs = nj;
    snprintf(j->uid, sizeof j->uid, "%s", sub->uid);
    j->edge = e;
    j->video = *v;
    j->spec = sub->spec;
    memset(&sub->spec, 0, sizeof sub->spec);
    if (j->spec.loop < 0) j->spec.loop = v->loop ? 1 : e->o.loop;
    j->enc_id = -1;
    j->pending = sub->plan;
    j->pending_version = sub->plan_version;
    j->has_pending = 1;
    j->watch = sub->watch;
    if (pthread_create(&j->thr, NULL, vd__edge_job_main, j)) {
        vd__edge_job_free(j);
        return vd_fail(err, VD_ENOMEM, "cannot start a job thread");
    }
    j->started = 1;
    e->jobs[e->n_jobs++] = j;
    return 0;
}

/* node.submit_job (proto.h). A job that exists (and runs) gets the plan as an update:
 * resubmitting is idempotent. Errors: VD_ENOTFOUND, no such video here (the cloud ends the
 * job); VD_EALREADY, the job ran to its end here before (the cloud takes it as finished);
 * VD_EINVAL, a bad request; VD_ESTATE, shutting down. */
static void resolve_seed_nodes(vd_edge *e, json_t *plan);
/* Start (or update) the job sub describes; sub->spec is taken (cleared). */
static int submit(vd_edge *e, json_t *req, vd__submit *sub, json_t **reply, vd_error *err);

static int cmd_submit(vd_edge *e, json_t *req, json_t **reply, vd_error *err)
{
    vd__submit sub;
    int rc = vd__submit_parse(req, &sub, err);
    if (rc) return rc;
    vd__links_set_peers(&e->links, json_object_get(req, "peers"));
    return submit(e, req, &sub, reply, err);
}

/* The seed job manager's POST /job/submit_job {job_uid, node_addr, video_id, pipeline | dag,
 * user_constraint, plan?}: a job submitted to this edge directly. It runs the plan given, else
 * the default one, until an update_plan; its heartbeat lists it, so a cloud takes it over. */
static int cmd_submit_seed(vd_edge *e, json_t *req, json_t **reply, vd_error *err)
{
    vd__submit sub;
    memset(&sub, 0, sizeof sub);
    const char *uid = vd__msg_job_uid(req);
    if (!uid || !*uid || strlen(uid) >= sizeof sub.uid)
        return vd_fail(err, VD_EINVAL, "job_uid: expected a string (1..63 chars)");
    snprintf(sub.uid, sizeof sub.uid, "%s", uid);
    int rc = vd__job_spec_parse(req, VD__SPEC_USER, &sub.spec, err);
    if (rc) return rc;
    if (sub.spec.requested) {
        pthread_mutex_lock(&e->mu);
        resolve_seed_nodes(e, sub.spec.requested);
        vd_plan_json_user(sub.spec.requested);
        pthread_mutex_unlock(&e->mu);
        rc = vd_plan_from_json(sub.spec.requested, sub.spec.dag, "plan", &sub.plan, err);
        if (rc) {
            vd__job_spec_clear(&sub.spec);
            return vd__request_error(rc, err);
        }
        sub.has_plan = 1;
    }
    return submit(e, req, &sub, reply, err);
}

static int submit(vd_edge *e, json_t *req, vd__submit *sub, json_t **reply, vd_error *err)
{
    int rc = 0;
    if (!sub->has_plan) vd_plan_default(sub->spec.dag, e->name, &sub->plan);
    pthread_mutex_lock(&e->mu);
    const vd_video_src *v = NULL; /* the table changes at run time (edge_sources.c) */
    for (int i = 0; i < e->o.n_videos; i++)
        if (!strcmp(e->o.videos[i].id, sub->spec.video_id)) v = &e->o.videos[i];
    job *j = find_job(e, sub->uid);
    if (!v && !(j && j->state == J_RUN)) {
        rc = vd_fail(err, VD_ENOTFOUND,
                     "node %s has no video '%s' (its videos: see "
                     "/user/get_all_status)",
                     e->name, sub->spec.video_id);
    } else if (e->stopping) { /* vd_edge_stop has joined the job threads: start no more */
        rc = vd_fail(err, VD_ESTATE, "node %s is shutting down: job %s not started", e->name,
                     sub->uid);
    } else if (j && j->state == J_RUN) {
        j->pending = sub->plan;
        j->pending_version = sub->plan_version;
        j->has_pending = 1;
        if (json_object_get(req, "user_constraint")) /* the current one rides along */
            rc = vd__job_spec_set_constraint(&j->spec, sub->spec.constraint, err);
    } else if (j) { /* finished before: not run again under the same uid */
        rc = vd_fail(err, VD_EALREADY, "job %s already ran on %s", sub->uid, e->name);
    } else {
        rc = start_job(e, sub, v, err);
    }
    pthread_mutex_unlock(&e->mu);
    if (!rc) /* the seed's reply */
        *reply = json_pack("{s:s,s:s}", "msg", "submitted to manager from api: node/submit_job",
                           "job_uid", sub->uid);
    vd__job_spec_clear(&sub->spec);
    return rc;
}

/* A plan's nodes as the seed names them when it sends a plan to the edge directly: a
 * node_ip that is an address (has a '.' or ':') means this edge for node_role "host" (the
 * seed's "run it here"), the cloud ("cloud") for "cloud", else the node whose heartbeats give
 * that address or host (e->mu held). A name is kept; an address nobody has is kept too: its
 * call fails and the stage runs here, said in the results ("fallback"). */
static void resolve_seed_nodes(vd_edge *e, json_t *plan)
{
    const char *stage;
    json_t *m;
    json_object_foreach(json_object_get(plan, "flow_mapping"), stage, m)
    {
        const char *ip = json_string_value(json_object_get(m, "node_ip"));
        const char *role = json_string_value(json_object_get(m, "node_role"));
        if (!ip || !strpbrk(ip, ".:")) continue;
        const char *to = NULL;
        if (role && !strcmp(role, "host"))
            to = e->name;
        else if (role && !strcmp(role, "cloud"))
            to = "cloud";
        size_t il = strlen(ip);
        for (int i = 0; !to && i < e->n_peers; i++) {
            const char *a = e->peers[i].addr;
            if (!strcmp(a, ip) || (!strncmp(a, ip, il) && a[il] == ':')) to = e->peers[i].name;
        }
        if (!to && (!strcmp(e->addr, ip) || (!strncmp(e->addr, ip, il) && e->addr[il] == ':')))
            to = e->name;
        if (to) json_object_set_new(m, "node_ip", json_string(to));
    }
}

static int cmd_update(vd_edge *e, json_t *req, json_t **reply, vd_error *err)
{
    vd__links_set_peers(&e->links, json_object_get(req, "peers"));
    pthread_mutex_lock(&e->mu);
    job *j;
    int rc = req_job(e, req, 1, &j, err);
    if (rc) {
        pthread_mutex_unlock(&e->mu);
        return rc;
    }
    /* the cloud's current user_constraint rides along (node.get_job returns it) */
    json_t *uc = json_object_get(req, "user_constraint");
    if (uc && (rc = vd__job_spec_set_constraint(&j->spec, uc, err))) {
        pthread_mutex_unlock(&e->mu);
        return rc;
    }
    json_t *pj = json_object_get(req, "plan");
    if (!pj && !json_object_get(req, "video_conf") && !json_object_get(req, "flow_mapping") &&
        uc) { /* a constraint-only update */
        pthread_mutex_unlock(&e->mu);
        *reply = json_pack("{s:s}", "msg",
                           "node updated constraint (manager.update_job_user_constraint)");
        return 0;
    }
    if (!pj) pj = req; /* the seed sends video_conf and flow_mapping at the top level */
    resolve_seed_nodes(e, pj);
    vd_plan_json_user(pj);
    vd_plan p;
    rc = vd_plan_from_json(pj, j->spec.dag, "plan", &p, err);
    if (!rc) j->pending = p, j->pending_version = vd__msg_plan_version(req), j->has_pending = 1;
    pthread_mutex_unlock(&e->mu);
    if (rc) return vd__request_error(rc, err);
    *reply = json_pack("{s:s}", "msg", "node updated plan (manager.update_job_plan)");
    return 0;
}

/* node.get_job {job_uid} → the job as submitted, its state, watch, the plan (in force, else
 * the one about to apply) and the cloud's plan_version for it (proto.h): what a restarted
 * cloud needs to take over a job it does not know. */
static int cmd_get_job(vd_edge *e, json_t *req, json_t **reply, vd_error *err)
{
    pthread_mutex_lock(&e->mu);
    job *j;
    int rc = req_job(e, req, 0, &j, err);
    if (rc) {
        pthread_mutex_unlock(&e->mu);
        return rc;
    }
    int a = j->has_applied;
    json_t *r = vd__job_info_msg(j->uid, e->name, &j->spec, j->state == J_RUN, j->watch,
                                 a ? &j->applied : &j->pending,
                                 a ? j->applied_version : j->pending_version);
    pthread_mutex_unlock(&e->mu);
    *reply = r;
    return r ? 0 : vd_fail(err, VD_ENOMEM, "out of memory");
}

/* node.stop_job, node.watch, node.get_runtime: a change to (or a look at) the job named,
 * under e->mu. */
static int on_job(vd_edge *e, json_t *req, void (*act)(job *j, json_t *req, json_t **reply),
                  json_t **reply, vd_error *err)
{
    pthread_mutex_lock(&e->mu);
    job *j;
    int rc = req_job(e, req, 0, &j, err);
    if (!rc) act(j, req, reply);
    pthread_mutex_unlock(&e->mu);
    return rc;
}

static void act_stop(job *j, json_t *req, json_t **reply)
{
    (void)req, (void)reply;
    j->stop = 1;
    pthread_cond_broadcast(&j->edge->job_cv); /* ends its pacing sleep */
}

static void act_watch(job *j, json_t *req, json_t **reply)
{
    (void)reply;
    j->watch = json_is_true(json_object_get(req, "on"));
}

static void act_runtime(job *j, json_t *req, json_t **reply)
{
    (void)req;
    *reply = j->last ? json_deep_copy(j->last) : json_object();
    int64_t seq, published, lost;
    int waiting;
    vd__edge_out_counts(j->edge, j, &seq, &published, &lost, &waiting);
    json_object_set_new(*reply, "results",
                        json_pack("{s:I,s:I,s:I,s:I,s:i}", "run", (json_int_t)j->run, "seq",
                                  (json_int_t)seq, "published", (json_int_t)published, "lost",
                                  (json_int_t)lost, "waiting", waiting));
    json_object_set_new(*reply, "source", vd__job_source_json(j));
}

static int cmd_stop(vd_edge *e, json_t *req, json_t **reply, vd_error *err)
{
    return on_job(e, req, act_stop, reply, err);
}

static int cmd_watch(vd_edge *e, json_t *req, json_t **reply, vd_error *err)
{
    return on_job(e, req, act_watch, reply, err);
}

static int cmd_runtime(vd_edge *e, json_t *req, json_t **reply, vd_error *err)
{
    return on_job(e, req, act_runtime, reply, err);
}

/* node.get_kb {} → {kb_version, kb?}: this node's knowledge base (a cloud that missed the
 * heartbeat that carried it asks). The version is read first: a change in between is
 * announced again. */
static int cmd_get_kb(vd_edge *e, json_t *req, json_t **reply, vd_error *err)
{
    (void)req;
    uint64_t v = e->host ? vd_svchost_kb_version(e->host) : 0;
    json_t *r = json_pack("{s:I}", "kb_version", (json_int_t)v);
    json_t *kb = v ? vd_kb_to_json(vd_svchost_kb(e->host)) : NULL;
    if (r && kb) json_object_set_new(r, "kb", kb);
    *reply = r;
    return r ? 0 : vd_fail(err, VD_ENOMEM, "out of memory");
}

/* ---- the command table: one row per command, for the transport and HTTP alike ---------- */

/* A command of the edge (nginx's command tables are the model): its transport service on
 * the node's subject, its HTTP route if it has one, and its handler. A handler gets the
 * request (borrowed) without e->mu held and may set *reply (a new object; {} when left
 * NULL); "status": 0 is added to it. An HTTP path ending in '/' is a prefix whose tail is
 * the request's tail_key (NULL: "job_uid"; GET /job/get_runtime/<job>), else the body is
 * the request. */
struct edge_cmd {
    const char *name;                    /* NULL: HTTP only */
    const char *http_method, *http_path; /* NULL: transport only */
    int (*fn)(vd_edge *e, json_t *req, json_t **reply, vd_error *err);
    const char *tail_key;
};

static const edge_cmd edge_cmds[] = {
    {VD_CMD_SUBMIT, "POST", "/node/submit_job", cmd_submit, NULL},
    {VD_CMD_UPDATE, "POST", "/node/update_plan", cmd_update, NULL},
    {VD_CMD_STOP, "POST", "/node/stop_job", cmd_stop, NULL},
    {VD_CMD_WATCH, NULL, NULL, cmd_watch, NULL},
    {VD_CMD_RUNTIME, "GET", "/job/get_runtime/", cmd_runtime, NULL},
    {VD_CMD_GET_KB, NULL, NULL, cmd_get_kb, NULL},
    {VD_CMD_GET_JOB, NULL, NULL, cmd_get_job, NULL},
    /* sources at run time (edge_sources.c) */
    {VD_CMD_ADD_VIDEO, "POST", "/node/video", vd__edge_cmd_add_video, NULL},
    {VD_CMD_RM_VIDEO, "DELETE", "/node/video/", vd__edge_cmd_rm_video, "video_id"},
    /* the seed's job manager (HTTP only): its names for the same commands */
    {NULL, "POST", "/job/submit_job", cmd_submit_seed, NULL},
    {NULL, "POST", "/job/update_plan", cmd_update, NULL},
    {NULL, "POST", "/job/get_runtime/", cmd_runtime, NULL},
    {NULL, "POST", "/node/submit_job_user_constraint", cmd_update, NULL},
};

_Static_assert(sizeof edge_cmds / sizeof *edge_cmds == N_EDGE_CMDS, "N_EDGE_CMDS: the rows");

/* Run a command; *reply gets the reply (with "status": 0) or stays NULL on error. */
static int run_cmd(const cmd_ctx *x, json_t *req, json_t **reply, vd_error *err)
{
    *reply = NULL;
    json_t *r = NULL;
    int rc = x->cmd->fn(x->e, req, &r, err);
    if (!rc && !r && !(r = json_object())) rc = vd_fail(err, VD_ENOMEM, "out of memory");
    if (rc) {
        json_decref(r);
        return rc;
    }
    if (!json_object_get(r, "status")) json_object_set_new(r, "status", json_integer(0));
    *reply = r;
    return 0;
}

/* The transport side: a vd_msg in, a vd_msg out. */
static int serve_cmd(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    json_t *hdr, *reply;
    int rc = vd_msg_unpack(req->data, req->len, &hdr, NULL, NULL, err);
    if (rc) return rc;
    rc = run_cmd(arg, hdr, &reply, err);
    json_decref(hdr);
    if (rc) return rc;
    return vd__reply_json(resp, reply, err);
}

/* The HTTP side (the seed's internal node routes). */
static int r_cmd(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    const cmd_ctx *x = arg;
    const char *path = x->cmd->http_path;
    json_t *body = NULL, *reply;
    if (path[strlen(path) - 1] == '/')
        body = json_pack("{s:s}", x->cmd->tail_key ? x->cmd->tail_key : "job_uid", req->tail);
    else if (!(body = vd__parse_body(req, resp)))
        return 0;
    vd_error err = {0};
    int rc = run_cmd(x, body, &reply, &err);
    json_decref(body);
    if (rc)
        vd_http_fail(resp, rc, "%s", err.msg);
    else
        vd_http_json(resp, 200, reply);
    return 0;
}

int vd__edge_serve(vd_edge *e, vd_error *err)
{
    for (int i = 0; i < N_EDGE_CMDS; i++) {
        e->cmds_[i] = (cmd_ctx){e, &edge_cmds[i]};
        if (!edge_cmds[i].name) continue; /* HTTP only */
        int rc =
            e->o.tr->ops->serve(e->o.tr, e->name, edge_cmds[i].name, serve_cmd, &e->cmds_[i], err);
        if (rc) return rc;
    }
    return 0;
}

int vd_edge_routes(vd_edge *e, vd_http_route *r, int cap)
{
    int n = 0;
    for (int i = 0; i < N_EDGE_CMDS; i++) {
        if (!edge_cmds[i].http_path) continue;
        if (n == cap) return VD_ETOOBIG;
        r[n++] =
            (vd_http_route){edge_cmds[i].http_method, edge_cmds[i].http_path, r_cmd, &e->cmds_[i]};
    }
    if (n == cap) return VD_ETOOBIG;
    r[n++] = (vd_http_route){"GET", "/user/video/", vd__edge_r_video, e};
    return n;
}
