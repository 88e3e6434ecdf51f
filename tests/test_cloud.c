/* The cloud against a fake edge on the in-process transport: it numbers its plans and feeds
 * the scheduler only measurements of the plan it last sent; a stop that did not reach the
 * edge is sent again while the edge still lists the job; it decides on the codes of the
 * edge's errors, never on their messages. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"
#include "vdag/node.h"
#include "vdag/sched.h"

/* face_detection m0 30/20/15 ms, m1 20/14/10, face_alignment 40/30/25 (720/480/360). */
static vd_kb *synthetic_kb(void)
{
    vd_kb *kb = vd_kb_new();
    const int res[3] = {720, 480, 360};
    const double fd0[3] = {30, 20, 15}, fd1[3] = {20, 14, 10}, fa[3] = {40, 30, 25};
    for (int i = 0; i < 3; i++) {
        vd_kb_set(kb, "face_detection", 0, res[i], fd0[i]);
        vd_kb_set(kb, "face_detection", 1, res[i], fd1[i]);
        vd_kb_set(kb, "face_alignment", 0, res[i], fa[i]);
    }
    return kb;
}

typedef struct fake_edge {
    pthread_mutex_t mu;
    int submits, updates, last_version; /* commands received; the last one's plan_version */
    int stops;                          /* node.stop_job calls (the first one fails) */
    char fa_node[64];                   /* where the last plan put face_alignment */
} fake_edge;

/* node.stop_job: the first call fails as if the edge could not be reached. */
static int fe_stop(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    fake_edge *fe = arg;
    (void)req;
    pthread_mutex_lock(&fe->mu);
    int n = ++fe->stops;
    pthread_mutex_unlock(&fe->mu);
    if (n == 1) return vd_fail(err, VD_ETIMEDOUT, "the edge did not answer");
    json_t *r = json_pack("{s:i}", "status", 0);
    int rc = vd_msg_pack(r, NULL, 0, resp, err);
    json_decref(r);
    return rc;
}

static void fe_get(fake_edge *fe, int *submits, int *updates, int *version)
{
    pthread_mutex_lock(&fe->mu);
    *submits = fe->submits, *updates = fe->updates, *version = fe->last_version;
    pthread_mutex_unlock(&fe->mu);
}

/* node.submit_job / node.update_plan: count and reply {"status":0} (transport thread). */
static int fe_cmd(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    fake_edge *fe = arg;
    json_t *h;
    int rc = vd_msg_unpack(req->data, req->len, &h, NULL, NULL, err);
    if (rc) return rc;
    pthread_mutex_lock(&fe->mu);
    if (json_object_get(h, "dag"))
        fe->submits++;
    else
        fe->updates++;
    fe->last_version = (int)json_integer_value(json_object_get(h, "plan_version"));
    json_t *fa =
        json_object_get(json_object_get(json_object_get(json_object_get(h, "plan"), "flow_mapping"),
                                        "face_alignment"),
                        "node_ip");
    if (json_is_string(fa)) snprintf(fe->fa_node, sizeof fe->fa_node, "%s", json_string_value(fa));
    pthread_mutex_unlock(&fe->mu);
    json_decref(h);
    json_t *r = json_pack("{s:i}", "status", 0);
    rc = vd_msg_pack(r, NULL, 0, resp, err);
    json_decref(r);
    return rc;
}

static void heartbeat_links(vd_transport *tr, const char *name, const vd_kb *kb, const char *job,
                            json_t *links);

/* A heartbeat of fake edge `name` (video "0"), listing `job` when not NULL. */
static void heartbeat_of(vd_transport *tr, const char *name, const vd_kb *kb, const char *job)
{
    heartbeat_links(tr, name, kb, job, NULL);
}

/* The same with its link model ("links", stolen; NULL: none). */
static void heartbeat_links(vd_transport *tr, const char *name, const vd_kb *kb, const char *job,
                            json_t *links)
{
    json_t *hb = json_pack("{s:s,s:s,s:s,s:{s:{s:s,s:s}},s:[],s:[s,s],s:{s:f,s:f,s:i}}", "name",
                           name, "role", "edge", "addr", "", "video", "0", "type", "t", "path", "x",
                           "jobs", "services", "face_detection", "face_alignment", "resources",
                           "cpu_ratio", 0.1, "mem_ratio", 0.1, "n_cores", 2);
    json_object_set_new(hb, "kb", vd_kb_to_json(kb));
    if (links) json_object_set_new(hb, "links", links);
    if (job) json_array_append_new(json_object_get(hb, "jobs"), json_string(job));
    char *str = json_dumps(hb, JSON_COMPACT), subj[96];
    vd_buf b = {(unsigned char *)str, strlen(str)};
    snprintf(subj, sizeof subj, "vdag.hb.%s", name); /* each node on its own subject */
    tr->ops->publish(tr, subj, &b, NULL);
    free(str);
    json_decref(hb);
}

static void fe_heartbeat(vd_transport *tr, const vd_kb *kb, const char *job)
{
    heartbeat_of(tr, "fe", kb, job);
}

/* A result of plan `version` (0: without one, as an older edge sends) measuring total_delay
 * and load; its plan's video_conf shows `res`. */
static void fe_result(vd_transport *tr, const char *job, int version, double total_delay,
                      double load, double drop_ratio, const char *res)
{
    static int frame;
    json_t *h = json_pack(
        "{s:s,s:s,s:s,s:{s:i,s:f,s:I},s:{s:{s:f,s:f},s:f,s:i,s:f,s:f,s:b,s:i},s:{s:f,s:f,s:f,"
        "s:b},s:{s:{s:s},s:{}}}",
        "job_uid", job, "node", "fe", "state", "EXEC", "result", "native_h", 720, "native_fps",
        10.0, "cam_frame_id", (json_int_t)++frame, "plan_result", "delay", "face_detection",
        total_delay / 2, "face_alignment", total_delay / 2, "total_delay", total_delay, "n_frames",
        30, "load", load, "drop_ratio", drop_ratio, "load_valid", 1, "dropped", 0, "runtime",
        "delay", total_delay, "obj_n", 1.0, "obj_size", 100.0, "obj_stable", 1, "plan",
        "video_conf", "resolution", res, "flow_mapping");
    if (version > 0) json_object_set_new(h, "plan_version", json_integer(version));
    vd_buf m;
    if (vd_msg_pack(h, NULL, 0, &m, NULL) == 0) { /* into the results stream, as an edge */
        vd_spub p = {.subject = "vdag.result.fe", .msg = m};
        tr->ops->stream_publish(tr, &p, 1, 1000, NULL);
        vd_buf_free(&m);
    }
    json_decref(h);
}

/* Call one of the cloud's routes directly; the reply's JSON (new reference) or NULL. */
static json_t *cloud_route(vd_cloud *c, const char *method, const char *path, const char *tail,
                           const char *body)
{
    vd_http_route r[32];
    int n = vd_cloud_routes(c, r, 32);
    for (int i = 0; i < n; i++) {
        if (strcmp(r[i].method, method) || strcmp(r[i].path, path)) continue;
        vd_http_req q = {.method = method,
                         .path = path,
                         .tail = tail,
                         .body = (const unsigned char *)body,
                         .body_len = strlen(body)};
        vd_http_resp resp = {0};
        r[i].fn(r[i].arg, &q, &resp);
        json_t *j = resp.body ? json_loadb(resp.body, resp.len, 0, NULL) : NULL;
        free(resp.body);
        return j;
    }
    return NULL;
}

static json_t *sync_result(vd_cloud *c, const char *job)
{
    return cloud_route(c, "GET", "/user/sync_job_result/", job, "");
}

static long job_frames(vd_cloud *c, const char *job)
{
    json_t *r = sync_result(c, job);
    long n = (long)json_integer_value(json_object_get(json_object_get(r, "job"), "frames"));
    json_decref(r);
    return n;
}

/* Wait up to ms for the fake edge's last command to carry `version`. */
static int wait_version(fake_edge *fe, int version, int ms)
{
    int s, u, v = 0;
    for (int t = 0; t < ms; t += 10) {
        fe_get(fe, &s, &u, &v);
        if (v >= version) break;
        usleep(10000);
    }
    return v;
}

static int wait_frames(vd_cloud *c, const char *job, long n)
{
    for (int t = 0; t < 5000 && job_frames(c, job) < n; t += 10) usleep(10000);
    return job_frames(c, job) >= n;
}

static void test_cloud_versions(void)
{
    vd_error err = {0};
    vd_transport *tr = NULL;
    vd_cloud *c = NULL;
    fake_edge fe = {.mu = PTHREAD_MUTEX_INITIALIZER};
    vd_kb *kb = synthetic_kb();
    CHECKF(vd_transport_inproc_new(&tr, &err) == 0, "%s", err.msg);
    if (!tr) return;
    vd_node_opts o = {.name = "cloud", .tr = tr, .replan_s = 0.2, .drop_s = 60};
    CHECKF(vd_cloud_start(&o, NULL, &c, &err) == 0, "%s", err.msg);
    CHECK(tr->ops->serve(tr, "fe", "node.submit_job", fe_cmd, &fe, &err) == 0);
    CHECK(tr->ops->serve(tr, "fe", "node.update_plan", fe_cmd, &fe, &err) == 0);
    fe_heartbeat(tr, kb, NULL);
    for (int t = 0; t < 5000 && !vd_cloud_has_node(c, "fe"); t += 10) usleep(10000);
    json_t *r = cloud_route(c, "POST", "/query/submit_query", "",
                            "{\"node_addr\":\"fe\",\"video_id\":\"0\",\"pipeline\":[\"face_"
                            "detection\",\"face_alignment\"],\"user_constraint\":{\"delay\":0.1}}");
    char job[64];
    const char *uid = json_string_value(json_object_get(r, "job_uid"));
    snprintf(job, sizeof job, "%s", uid ? uid : "");
    json_decref(r);
    CHECKF(job[0], "submit failed");
    int s, u, v;
    /* the edge gets plan 1 with its number */
    CHECKF(wait_version(&fe, 1, 5000) == 1, "submit_job carried plan_version %d", fe.last_version);
    fe_get(&fe, &s, &u, &v);
    CHECKF(s == 1 && u == 0, "%d submits, %d updates", s, u);
    fe_heartbeat(tr, kb, job);

    /* plan 1 measures 5x the bound: plan 2 */
    fe_result(tr, job, 1, 0.5, 0.5, 0, "720p");
    CHECKF(wait_version(&fe, 2, 5000) == 2, "no plan 2 after a slow plan 1");
    fe_get(&fe, &s, &u, &v);
    CHECKF(u == 1 && v == 2, "%d updates, version %d", u, v);

    /* results of plan 1 keep coming (the edge has not applied plan 2 yet), much slower and
     * dropping half the frames: shown to users, never fed to the scheduler */
    for (int k = 0; k < 5; k++) fe_result(tr, job, 1, 5.0, 1.0, 0.5, "360p");
    CHECK(wait_frames(c, job, 6));
    usleep(1200 * 1000); /* six re-plan periods */
    fe_get(&fe, &s, &u, &v);
    CHECKF(u == 1 && v == 2, "a stale result re-planned: %d updates, version %d", u, v);
    r = sync_result(c, job);
    json_t *lr = json_object_get(json_object_get(r, "result"), "latest_result");
    json_t *app = json_object_get(json_object_get(r, "result"), "appended_result");
    json_t *lp = json_object_get(lr, "plan_result");
    const char *lres = json_string_value(
        json_object_get(json_object_get(json_object_get(lr, "plan"), "video_conf"), "resolution"));
    json_t *last = json_array_get(app, json_array_size(app) - 1);
    CHECKF(json_integer_value(json_object_get(json_object_get(r, "job"), "plan_version")) == 2,
           "job.plan_version is not 2, the plan last sent");
    CHECKF(json_integer_value(json_object_get(lr, "plan_version")) == 1 &&
               json_number_value(json_object_get(lp, "total_delay")) == 5.0 && lres &&
               !strcmp(lres, "360p") &&
               json_integer_value(json_object_get(last, "plan_version")) == 1,
           "latest_result does not show the stale result with its plan and version");
    json_decref(r);

    /* the same measurement of plan 2 is acted on, and recorded with the change */
    fe_result(tr, job, 2, 5.0, 1.0, 0.5, "480p");
    CHECKF(wait_version(&fe, 3, 5000) == 3, "no plan 3 after a slow plan 2");
    r = sync_result(c, job);
    json_t *ch = json_object_get(json_object_get(r, "result"), "plan_changes");
    ch = json_array_get(ch, json_array_size(ch) - 1);
    CHECKF(json_integer_value(json_object_get(ch, "plan_version")) == 3 &&
               json_number_value(json_object_get(ch, "measured_delay")) == 5.0,
           "plan change 3 records measured_delay %g",
           json_number_value(json_object_get(ch, "measured_delay")));
    json_decref(r);

    /* a result without a version (an older edge) counts as the current plan's */
    fe_result(tr, job, 0, 5.0, 1.0, 0.5, "360p");
    CHECKF(wait_version(&fe, 4, 5000) == 4, "an unversioned result was not taken as current");
    r = sync_result(c, job);
    app = json_object_get(json_object_get(r, "result"), "appended_result");
    CHECK(json_integer_value(
              json_object_get(json_array_get(app, json_array_size(app) - 1), "plan_version")) == 3);
    json_decref(r);

    /* a stop that does not reach the edge (it fails) while the edge keeps listing the job in
     * its heartbeats is sent again; once the edge no longer lists it, no more stops */
    CHECK(tr->ops->serve(tr, "fe", "node.stop_job", fe_stop, &fe, &err) == 0);
    r = cloud_route(c, "POST", "/user/stop_job/", job, "");
    CHECK(json_integer_value(json_object_get(r, "status")) == 0);
    json_decref(r);
    int stops = 0;
    for (int t = 0; t < 9000 && stops < 2; t += 250) {
        fe_heartbeat(tr, kb, job); /* still running here */
        usleep(250 * 1000);
        pthread_mutex_lock(&fe.mu);
        stops = fe.stops;
        pthread_mutex_unlock(&fe.mu);
    }
    CHECKF(stops == 2, "%d node.stop_job calls for a job the edge still ran after a failed stop",
           stops);
    for (int t = 0; t < 4000; t += 250) { /* the second stop worked: the edge lists nothing */
        fe_heartbeat(tr, kb, NULL);
        usleep(250 * 1000);
    }
    pthread_mutex_lock(&fe.mu);
    stops = fe.stops;
    pthread_mutex_unlock(&fe.mu);
    CHECKF(stops == 2, "%d node.stop_job calls after the edge stopped the job", stops);

    vd_cloud_stop(c);
    vd_transport_close(tr);
    vd_cloud_free(c);
    vd_kb_free(kb);
}

/* ---- the cloud decides on the edge's error codes, never on its messages ---------------- */

static atomic_int fx_code, fx_submits;

/* node.submit_job of fake edge "fx": fails with fx_code, its message naming neither reason. */
static int fx_submit(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    (void)arg, (void)req, (void)resp;
    atomic_fetch_add(&fx_submits, 1);
    return vd_fail(err, atomic_load(&fx_code), "refused on purpose (%s)",
                   atomic_load(&fx_code) == VD_ESTATE ? "no video, already ran: words only"
                                                      : "for a reason given by its code");
}

static const char *str_or_empty(json_t *j)
{
    return json_string_value(j) ? json_string_value(j) : "";
}

/* The job's state, reason and message; 0 when the job is not found. */
static int job_state(vd_cloud *c, const char *job, char *state, char *reason, char *msg)
{
    json_t *r = sync_result(c, job), *j = json_object_get(r, "job");
    const char *st = json_string_value(json_object_get(j, "state"));
    snprintf(state, 16, "%s", st ? st : "");
    snprintf(reason, 16, "%s", str_or_empty(json_object_get(j, "reason")));
    snprintf(msg, 512, "%s", str_or_empty(json_object_get(j, "msg")));
    json_decref(r);
    return st != NULL;
}

static int wait_state(vd_cloud *c, const char *job, const char *want, char *reason, char *msg)
{
    char st[16] = "";
    for (int t = 0; t < 5000; t += 10) {
        if (job_state(c, job, st, reason, msg) && !strcmp(st, want)) return 1;
        usleep(10000);
    }
    return 0;
}

static void submit_to_fx(vd_cloud *c, char *job)
{
    json_t *r = cloud_route(c, "POST", "/query/submit_query", "",
                            "{\"node_addr\":\"fx\",\"video_id\":\"0\",\"pipeline\":[\"face_"
                            "detection\"],\"user_constraint\":{\"delay\":0.1}}");
    const char *uid = json_string_value(json_object_get(r, "job_uid"));
    snprintf(job, 64, "%s", uid ? uid : "");
    json_decref(r);
}

static void test_cloud_codes(void)
{
    vd_error err = {0};
    vd_transport *tr = NULL;
    vd_cloud *c = NULL;
    vd_kb *kb = synthetic_kb();
    CHECKF(vd_transport_inproc_new(&tr, &err) == 0, "%s", err.msg);
    if (!tr) return;
    vd_node_opts o = {.name = "cloud", .tr = tr, .replan_s = 0.2, .drop_s = 60};
    CHECKF(vd_cloud_start(&o, NULL, &c, &err) == 0, "%s", err.msg);
    CHECK(tr->ops->serve(tr, "fx", "node.submit_job", fx_submit, NULL, &err) == 0);
    heartbeat_of(tr, "fx", kb, NULL);
    for (int t = 0; t < 5000 && !vd_cloud_has_node(c, "fx"); t += 10) usleep(10000);
    char job[64], reason[16], msg[512], st[16];

    /* VD_ESTATE (shutting down), whatever its words: the job waits and is submitted again */
    atomic_store(&fx_code, VD_ESTATE);
    submit_to_fx(c, job);
    CHECKF(job[0], "submit failed");
    for (int t = 0; t < 5000 && atomic_load(&fx_submits) < 3; t += 10) usleep(10000);
    CHECKF(atomic_load(&fx_submits) >= 3, "%d submits", atomic_load(&fx_submits));
    CHECK(job_state(c, job, st, reason, msg));
    CHECKF(!strcmp(st, "UNSCHED") && strstr(msg, "no video, already ran"), "%s %s %s", st, reason,
           msg);

    /* VD_EALREADY: it ran to its end there, its DONE result was missed: finished */
    atomic_store(&fx_code, VD_EALREADY);
    CHECKF(wait_state(c, job, "DONE", reason, msg), "VD_EALREADY did not end the job");
    CHECKF(!strcmp(reason, "finished") && strstr(msg, "refused on purpose"), "%s: %s", reason, msg);

    /* VD_ENOTFOUND (the edge has no such video): an error, not retried */
    atomic_store(&fx_code, VD_ENOTFOUND);
    submit_to_fx(c, job);
    CHECKF(wait_state(c, job, "DONE", reason, msg), "VD_ENOTFOUND did not end the job");
    CHECKF(!strcmp(reason, "error") && strstr(msg, "refused on purpose"), "%s: %s", reason, msg);
    int n = atomic_load(&fx_submits);
    usleep(500 * 1000);
    CHECKF(atomic_load(&fx_submits) == n, "a job ended by VD_ENOTFOUND was submitted again");

    /* the transport's own VD_ENOTFOUND (nobody serves node.submit_job on "fy") is no answer
     * of the edge: the job waits */
    heartbeat_of(tr, "fy", kb, NULL);
    for (int t = 0; t < 5000 && !vd_cloud_has_node(c, "fy"); t += 10) usleep(10000);
    json_t *r = cloud_route(c, "POST", "/query/submit_query", "",
                            "{\"node_addr\":\"fy\",\"video_id\":\"0\",\"pipeline\":[\"face_"
                            "detection\"]}");
    snprintf(job, sizeof job, "%s", str_or_empty(json_object_get(r, "job_uid")));
    json_decref(r);
    usleep(500 * 1000);
    CHECK(job_state(c, job, st, reason, msg));
    CHECKF(!strcmp(st, "UNSCHED") && strstr(msg, "does not serve"), "%s %s %s", st, reason, msg);

    /* the user API's errors: "status" is the VD_E* code */
    static const struct {
        const char *method, *path, *tail, *body;
        int code;
    } errs[] = {
        {"GET", "/user/sync_job_result/", "nojob", "", VD_ENOTFOUND},
        {"POST", "/user/stop_job/", "nojob", "", VD_ENOTFOUND},
        {"POST", "/query/submit_query", "", "{\"node_addr\":\"fx\",", VD_EFORMAT},
        {"POST", "/query/submit_query", "", "[1]", VD_EINVAL},
        {"POST", "/query/submit_query", "",
         "{\"node_addr\":\"nowhere\",\"video_id\":0,\"pipeline\":[\"face_detection\"]}",
         VD_ENOTFOUND},
        {"POST", "/query/submit_query", "",
         "{\"node_addr\":\"fx\",\"video_id\":0,\"pipeline\":[\"no_such_service\"]}", VD_EINVAL},
        {"POST", "/query/submit_query", "",
         "{\"node_addr\":\"fx\",\"video_id\":0,\"pipeline\":[\"face_detection\"],"
         "\"scheduler\":\"magic\"}",
         VD_EINVAL},
        {"POST", "/user/submit_job_user_constraint", "",
         "{\"job_uid\":\"x\",\"user_constraint\":{\"delay\":\"fast\"}}", VD_EINVAL},
        {"POST", "/node/get_plan", "", "{\"job_uid\":\"nojob\"}", VD_ENOTFOUND},
    };
    for (size_t i = 0; i < sizeof errs / sizeof *errs; i++) {
        r = cloud_route(c, errs[i].method, errs[i].path, errs[i].tail, errs[i].body);
        json_int_t code = json_integer_value(json_object_get(r, "status"));
        CHECKF(code == errs[i].code && json_string_value(json_object_get(r, "msg")),
               "%s %s%s: status %lld, not %d", errs[i].method, errs[i].path, errs[i].tail,
               (long long)code, errs[i].code);
        json_decref(r);
    }

    vd_cloud_stop(c);
    vd_transport_close(tr);
    vd_cloud_free(c);
    vd_kb_free(kb);
}

/* ---- results counted once, from their own edge only; state back from the store ---------- */

/* A result of job on node (published on `subject`), numbered run/seq. */
static void numbered_result(vd_transport *tr, const char *subject, const char *job,
                            const char *node, long long run, long long seq)
{
    json_t *h = json_pack("{s:s,s:s,s:s,s:I,s:I,s:{s:i},s:{s:i,s:f}}", "job_uid", job, "node", node,
                          "state", "EXEC", "run", (json_int_t)run, "seq", (json_int_t)seq, "result",
                          "native_h", 720, "plan_result", "n_frames", 1, "total_delay", 0.01);
    vd_buf m;
    if (vd_msg_pack(h, NULL, 0, &m, NULL) == 0) {
        vd_spub p = {.subject = subject, .msg = m};
        tr->ops->stream_publish(tr, &p, 1, 1000, NULL);
        vd_buf_free(&m);
    }
    json_decref(h);
}

/* The job's "results" summary and state, after the cloud has consumed what was published. */
static void job_results(vd_cloud *c, const char *job, long long *frames, long long *dups,
                        long long *missing, char *state, size_t cap)
{
    usleep(400 * 1000); /* consumed (the consumer fetches every 100 ms) */
    json_t *r = sync_result(c, job), *j = json_object_get(r, "job");
    json_t *rs = json_object_get(j, "results");
    *frames = json_integer_value(json_object_get(rs, "frames"));
    *dups = json_integer_value(json_object_get(rs, "duplicates"));
    *missing = json_integer_value(json_object_get(rs, "missing"));
    const char *sv = json_string_value(json_object_get(j, "state"));
    snprintf(state, cap, "%s", sv ? sv : "?");
    json_decref(r);
}

static void test_results_once(void)
{
    vd_error err = {0};
    vd_transport *tr = NULL;
    vd_cloud *c = NULL, *c2 = NULL;
    fake_edge fe = {.mu = PTHREAD_MUTEX_INITIALIZER};
    vd_kb *kb = synthetic_kb();
    CHECKF(vd_transport_inproc_new(&tr, &err) == 0, "%s", err.msg);
    if (!tr) return;
    vd_node_opts o = {.name = "cloud", .tr = tr, .replan_s = 60, .drop_s = 60};
    CHECKF(vd_cloud_start(&o, NULL, &c, &err) == 0, "%s", err.msg);
    CHECK(tr->ops->serve(tr, "fe", "node.submit_job", fe_cmd, &fe, &err) == 0);
    CHECK(tr->ops->serve(tr, "fe", "node.stop_job", fe_cmd, &fe, &err) == 0);
    fe_heartbeat(tr, kb, NULL);
    heartbeat_of(tr, "fx", kb, NULL);
    for (int t = 0; t < 5000 && !vd_cloud_has_node(c, "fx"); t += 10) usleep(10000);
    json_t *r = cloud_route(c, "POST", "/query/submit_query", "",
                            "{\"node_addr\":\"fe\",\"video_id\":\"0\",\"pipeline\":[\"face_"
                            "detection\"],\"scheduler\":\"fixed\"}");
    char job[64], st[16];
    const char *uid = json_string_value(json_object_get(r, "job_uid"));
    snprintf(job, sizeof job, "%s", uid ? uid : "");
    json_decref(r);
    CHECKF(wait_version(&fe, 1, 5000) == 1, "not submitted");
    long long f, d, m;
    /* 1, 2, 2 again, 4 (3 missing so far), 3 */
    for (int k = 0; k < 5; k++)
        numbered_result(tr, "vdag.result.fe", job, "fe", 111, (long long[]){1, 2, 2, 4, 3}[k]);
    job_results(c, job, &f, &d, &m, st, sizeof st);
    CHECKF(f == 4 && d == 1 && m == 0 && !strcmp(st, "EXEC"),
           "%lld frames, %lld dups, %lld missing, %s", f, d, m, st);
    numbered_result(tr, "vdag.result.fe", job, "fe", 111, 7); /* 5 and 6 never come */
    job_results(c, job, &f, &d, &m, st, sizeof st);
    CHECKF(f == 5 && m == 2, "%lld frames, %lld missing", f, m);
    /* the edge restarted the job: a new run counts from 1 */
    numbered_result(tr, "vdag.result.fe", job, "fe", 222, 1);
    /* another node cannot report on this job: not its subject, or not its name */
    numbered_result(tr, "vdag.result.fx", job, "fx", 222, 2);
    numbered_result(tr, "vdag.result.fx", job, "fe", 222, 3);
    numbered_result(tr, "vdag.result.fe", job, "fx", 222, 4);
    job_results(c, job, &f, &d, &m, st, sizeof st);
    CHECKF(f == 6 && d == 1, "%lld frames, %lld dups: another node's results counted?", f, d);
    /* stopped: a result that was on its way still counts */
    r = cloud_route(c, "POST", "/user/stop_job/", job, "");
    json_decref(r);
    numbered_result(tr, "vdag.result.fe", job, "fe", 222, 2);
    job_results(c, job, &f, &d, &m, st, sizeof st);
    CHECKF(f == 7 && !strcmp(st, "DONE"), "%lld frames, %s", f, st);
    /* a new cloud on the same bus (this one stopped: it released the lease) has it all */
    vd_cloud_stop(c);
    o.name = "cloud2";
    CHECKF(vd_cloud_start(&o, NULL, &c2, &err) == 0, "%s", err.msg);
    if (c2) {
        job_results(c2, job, &f, &d, &m, st, sizeof st);
        CHECKF(f == 7 && d == 1 && m == 2 && !strcmp(st, "DONE"),
               "restored: %lld frames, %lld dups, %lld missing, %s", f, d, m, st);
        numbered_result(tr, "vdag.result.fe", job, "fe", 222, 2); /* delivered again */
        job_results(c2, job, &f, &d, &m, st, sizeof st);
        CHECKF(f == 7 && d == 2,
               "a result delivered again after the restore: %lld frames, %lld dups", f, d);
        /* another cloud's record where this one's was (it was cut off and another led):
         * this one's next write fails, and it stops leading */
        char key[96];
        snprintf(key, sizeof key, "job.%s", job);
        vd_buf other = {(unsigned char *)"{\"v\":1}", 7};
        CHECK(tr->ops->kv_put(tr, VD_KV_STATE, key, &other, NULL, &err) == 0);
        numbered_result(tr, "vdag.result.fe", job, "fe", 222, 3); /* a change to write */
        usleep(600 * 1000);
        r = cloud_route(c2, "GET", "/user/jobs", "", "");
        CHECKF(json_integer_value(json_object_get(r, "status")) == VD_ESTATE,
               "a cloud whose record was overwritten still leads: %s",
               json_string_value(json_object_get(r, "msg")));
        json_decref(r);
        vd_cloud_stop(c2);
    }
    vd_transport_close(tr);
    vd_cloud_free(c);
    vd_cloud_free(c2);
    vd_kb_free(kb);
}

/* A kb of face_detection 5/4 ms (models 0/1) and face_alignment fa_ms at every height. */
static vd_kb *fa_kb(double fa_ms)
{
    vd_kb *kb = vd_kb_new();
    const int res[3] = {720, 480, 360};
    for (int i = 0; i < 3; i++) {
        vd_kb_set(kb, "face_detection", 0, res[i], 5);
        vd_kb_set(kb, "face_detection", 1, res[i], 4);
        vd_kb_set(kb, "face_alignment", 0, res[i], fa_ms);
    }
    return kb;
}

/* Submit face_detection -> face_alignment on fe with the kb scheduler and a delay bound. */
static json_t *submit_kb_job(vd_cloud *c, double delay)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"node_addr\":\"fe\",\"video_id\":\"0\",\"pipeline\":[\"face_detection\","
             "\"face_alignment\"],\"scheduler\":\"kb\",\"user_constraint\":{\"delay\":%g}}",
             delay);
    return cloud_route(c, "POST", "/query/submit_query", "", body);
}

/* The kb scheduler plans with every node's knowledge base: fe measured face_alignment at 10x
 * the bound, fx measured it fast, so the plan runs it on fx (planned from fe's kb alone, fx
 * would be predicted as slow as fe). Every plan change says the scheduler's reason. */
static void test_merged_kb(void)
{
    vd_error err = {0};
    vd_transport *tr = NULL;
    vd_cloud *c = NULL;
    fake_edge fe = {.mu = PTHREAD_MUTEX_INITIALIZER};
    vd_kb *slow = fa_kb(1000), *fast = fa_kb(5);
    CHECKF(vd_transport_inproc_new(&tr, &err) == 0, "%s", err.msg);
    if (!tr) return;
    vd_node_opts o = {.name = "cloud", .tr = tr, .replan_s = 0.2, .drop_s = 60};
    CHECKF(vd_cloud_start(&o, NULL, &c, &err) == 0, "%s", err.msg);
    CHECK(tr->ops->serve(tr, "fe", "node.submit_job", fe_cmd, &fe, &err) == 0);
    CHECK(tr->ops->serve(tr, "fe", "node.update_plan", fe_cmd, &fe, &err) == 0);
    fe_heartbeat(tr, slow, NULL);
    heartbeat_of(tr, "fx", fast, NULL);
    for (int t = 0; t < 5000 && !(vd_cloud_has_node(c, "fe") && vd_cloud_has_node(c, "fx"));
         t += 10)
        usleep(10000);
    json_t *r = submit_kb_job(c, 0.5);
    char job[64];
    snprintf(job, sizeof job, "%s", str_or_empty(json_object_get(r, "job_uid")));
    json_decref(r);
    CHECKF(job[0], "submit failed");
    CHECKF(wait_version(&fe, 1, 5000) == 1, "no plan 1");
    pthread_mutex_lock(&fe.mu);
    char where[64];
    snprintf(where, sizeof where, "%s", fe.fa_node);
    pthread_mutex_unlock(&fe.mu);
    CHECKF(!strcmp(where, "fx"), "face_alignment planned on '%s', not on fx where it is fast",
           where);
    r = sync_result(c, job);
    json_t *ch = json_object_get(json_object_get(r, "result"), "plan_changes");
    ch = json_array_get(ch, json_array_size(ch) - 1);
    const char *rs = json_string_value(json_object_get(ch, "reason"));
    CHECKF(rs && strcmp(rs, "none") && json_is_string(json_object_get(ch, "detail")),
           "plan change without the scheduler's reason: %s", rs ? rs : "(none)");
    json_decref(r);
    vd_cloud_stop(c);
    vd_transport_close(tr);
    vd_cloud_free(c);
    vd_kb_free(slow);
    vd_kb_free(fast);
}

/* The link model of the heartbeats reaches the scheduler: face_alignment is slow on fe and
 * fast on fx, but fe measured its link to fx at 2 kB/s, so the cold start keeps the stage on
 * fe; once fe measures 50 MB/s the kb scheduler moves it to fx, saying why ("link"). */
static void test_link_model(void)
{
    vd_error err = {0};
    vd_transport *tr = NULL;
    vd_cloud *c = NULL;
    fake_edge fe = {.mu = PTHREAD_MUTEX_INITIALIZER};
    vd_kb *slow = fa_kb(400), *fast = fa_kb(5);
    CHECKF(vd_transport_inproc_new(&tr, &err) == 0, "%s", err.msg);
    if (!tr) return;
    vd_node_opts o = {.name = "cloud", .tr = tr, .replan_s = 0.2, .drop_s = 60};
    CHECKF(vd_cloud_start(&o, NULL, &c, &err) == 0, "%s", err.msg);
    CHECK(tr->ops->serve(tr, "fe", "node.submit_job", fe_cmd, &fe, &err) == 0);
    CHECK(tr->ops->serve(tr, "fe", "node.update_plan", fe_cmd, &fe, &err) == 0);
    heartbeat_links(
        tr, "fe", slow, NULL,
        json_pack("[{s:s,s:f,s:f,s:i}]", "to", "fx", "bw_Bps", 2000.0, "rtt_s", 0.05, "n", 10));
    heartbeat_of(tr, "fx", fast, NULL);
    for (int t = 0; t < 5000 && !(vd_cloud_has_node(c, "fe") && vd_cloud_has_node(c, "fx"));
         t += 10)
        usleep(10000);
    json_t *r = submit_kb_job(c, 1.0);
    char job[64], where[64];
    snprintf(job, sizeof job, "%s", str_or_empty(json_object_get(r, "job_uid")));
    json_decref(r);
    CHECKF(job[0], "submit failed");
    CHECKF(wait_version(&fe, 1, 5000) == 1, "no plan 1");
    pthread_mutex_lock(&fe.mu);
    snprintf(where, sizeof where, "%s", fe.fa_node);
    pthread_mutex_unlock(&fe.mu);
    CHECKF(!strcmp(where, "fe"), "over a 2 kB/s link face_alignment was planned on '%s'", where);
    /* the link got fast */
    for (int k = 0; k < 30; k++) {
        heartbeat_links(
            tr, "fe", slow, job,
            json_pack("[{s:s,s:f,s:f,s:i}]", "to", "fx", "bw_Bps", 50e6, "rtt_s", 0.001, "n", 10));
        pthread_mutex_lock(&fe.mu);
        snprintf(where, sizeof where, "%s", fe.fa_node);
        pthread_mutex_unlock(&fe.mu);
        if (!strcmp(where, "fx")) break;
        usleep(100 * 1000);
    }
    CHECKF(!strcmp(where, "fx"), "over a 50 MB/s link face_alignment stays on '%s'", where);
    r = sync_result(c, job);
    json_t *ch = json_object_get(json_object_get(r, "result"), "plan_changes");
    ch = json_array_get(ch, json_array_size(ch) - 1);
    const char *rs = json_string_value(json_object_get(ch, "reason"));
    CHECKF(rs && !strcmp(rs, "link"), "the move to fx says '%s', not 'link'", rs ? rs : "");
    json_decref(r);
    vd_cloud_stop(c);
    vd_transport_close(tr);
    vd_cloud_free(c);
    vd_kb_free(slow);
    vd_kb_free(fast);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_cloud_versions();
    test_cloud_codes();
    test_results_once();
    test_merged_kb();
    test_link_model();
    return vt_finish();
}
