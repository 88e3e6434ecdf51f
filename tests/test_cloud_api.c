/* The cloud's user API against fake edges on the in-process transport (heartbeats published
 * by hand): what a user of the seed's API gets wrong and must be told, and what the seed's
 * routes answer. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"
#include "vdag/node.h"
#include "vdag/sched.h"

/* A heartbeat of fake edge `name` at `addr` (video "0"), run `inst` (NULL: none given). */
static void heartbeat(vd_transport *tr, const char *name, const char *addr, const char *inst)
{
    json_t *hb = json_pack("{s:s,s:s,s:s,s:{s:{s:s,s:s}},s:[],s:[s,s],s:{s:f,s:f,s:i}}", "name",
                           name, "role", "edge", "addr", addr, "video", "0", "type", "t", "path",
                           "x", "jobs", "services", "face_detection", "face_alignment", "resources",
                           "cpu_ratio", 0.1, "mem_ratio", 0.1, "n_cores", 2);
    if (inst) json_object_set_new(hb, "instance", json_string(inst));
    char *str = json_dumps(hb, JSON_COMPACT);
    vd_buf b = {(unsigned char *)str, strlen(str)};
    char subj[128];
    snprintf(subj, sizeof subj, "vdag.hb.%s", name); /* a node's own subject */
    tr->ops->publish(tr, subj, &b, NULL);
    free(str);
    json_decref(hb);
}

/* Call one of the cloud's routes directly: *http gets the HTTP status; the reply's JSON (new
 * reference) or NULL. */
static json_t *route(vd_cloud *c, const char *method, const char *path, const char *tail,
                     const char *body, int *http)
{
    vd_http_route r[48];
    int n = vd_cloud_routes(c, r, 48);
    for (int i = 0; i < n; i++) {
        if (strcmp(r[i].method, method) || strcmp(r[i].path, path)) continue;
        vd_http_req q = {.method = method,
                         .path = path,
                         .tail = tail,
                         .body = (const unsigned char *)body,
                         .body_len = strlen(body)};
        vd_http_resp resp = {0};
        r[i].fn(r[i].arg, &q, &resp);
        if (http) *http = resp.status ? resp.status : 200;
        json_t *j = resp.body ? json_loadb(resp.body, resp.len, 0, NULL) : NULL;
        free(resp.body);
        return j;
    }
    if (http) *http = 0;
    return NULL;
}

static const char *node_addr(vd_cloud *c, const char *name)
{
    static char buf[128];
    json_t *r = route(c, "GET", "/user/get_all_status", "", "", NULL);
    const char *a = json_string_value(
        json_object_get(json_object_get(json_object_get(r, "data"), name), "addr"));
    snprintf(buf, sizeof buf, "%s", a ? a : "(none)");
    json_decref(r);
    return buf;
}

/* Two runs of nodes under one name: the second is ignored while the first lives (it would
 * get the first's commands too), never merged; nobody may take the cloud's name. */
static void test_duplicate_names(void)
{
    vd_error err = {0};
    vd_transport *tr = NULL;
    vd_svchost *host = NULL;
    vd_cloud *c = NULL;
    CHECKF(vd_transport_inproc_new(&tr, &err) == 0, "%s", err.msg);
    vd_node_opts o = {.name = "cloud",
                      .addr = "10.0.0.1:5000",
                      .tr = tr,
                      .drop_s = 1,
                      .kb_path = "/nonexistent/kb.json"};
    CHECKF(vd_svchost_start(&o, &host, &err) == 0, "%s", err.msg);
    CHECKF(vd_cloud_start(&o, host, &c, &err) == 0, "%s", err.msg);
    if (!c) return;
    heartbeat(tr, "fe", "10.0.0.2:5001", "aaaa");
    for (int t = 0; t < 5000 && !vd_cloud_has_node(c, "fe"); t += 10) usleep(10000);
    heartbeat(tr, "fe", "10.0.0.3:5001", "bbbb"); /* another node, same name */
    usleep(100 * 1000);
    CHECKF(!strcmp(node_addr(c, "fe"), "10.0.0.2:5001"), "fe is at %s", node_addr(c, "fe"));
    heartbeat(tr, "fe", "10.0.0.2:5001", "aaaa");
    heartbeat(tr, "cloud", "10.0.0.9:5009", "cccc"); /* the cloud's name */
    usleep(100 * 1000);
    CHECKF(!strcmp(node_addr(c, "cloud"), "10.0.0.1:5000"), "cloud is at %s",
           node_addr(c, "cloud"));
    /* the first falls silent (past drop_s): the new run is the node restarted */
    usleep(1300 * 1000);
    heartbeat(tr, "fe", "10.0.0.3:5001", "bbbb");
    usleep(100 * 1000);
    CHECKF(!strcmp(node_addr(c, "fe"), "10.0.0.3:5001"), "fe is at %s after a restart",
           node_addr(c, "fe"));
    /* a name check: "cloud" is served (its service host answers node.ping), "nobody" not */
    CHECK(vd_node_name_check(tr, "cloud", 500, &err) == VD_EALREADY &&
          strstr(err.msg, "10.0.0.1:5000"));
    CHECK(vd_node_name_check(tr, "nobody", 500, &err) == 0);
    vd_cloud_stop(c);
    vd_svchost_stop(host);
    vd_transport_close(tr);
    vd_cloud_free(c);
    vd_svchost_free(host);
}

/* A fake edge's node.submit_job: keeps the last request (the plan the cloud sends). */
static pthread_mutex_t sub_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *last_submit;

static int fake_submit(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    (void)arg;
    json_t *h;
    int rc = vd_msg_unpack(req->data, req->len, &h, NULL, NULL, err);
    if (rc) return rc;
    pthread_mutex_lock(&sub_mu);
    json_decref(last_submit);
    last_submit = h;
    pthread_mutex_unlock(&sub_mu);
    json_t *r = json_pack("{s:i}", "status", 0);
    rc = vd_msg_pack(r, NULL, 0, resp, err);
    json_decref(r);
    return rc;
}

/* Where the plan the cloud sent for job uid puts stage; "" until it was sent. */
static void sent_node(const char *uid, const char *stage, char *node, char *role)
{
    *node = *role = 0;
    for (int t = 0; t < 3000; t += 10) {
        pthread_mutex_lock(&sub_mu);
        const char *u = json_string_value(json_object_get(last_submit, "job_uid"));
        json_t *m = json_object_get(
            json_object_get(json_object_get(last_submit, "plan"), "flow_mapping"), stage);
        if (u && !strcmp(u, uid) && m) {
            snprintf(node, 64, "%s", json_string_value(json_object_get(m, "node")));
            snprintf(role, 16, "%s", json_string_value(json_object_get(m, "node_role")));
        }
        pthread_mutex_unlock(&sub_mu);
        if (*node) return;
        usleep(10000);
    }
}

/* Submit a fixed plan putting face_alignment on `where` (node_ip) with role `role`, the job
 * on node_addr `at`; *http the status; the job uid or "" into uid. */
static json_t *submit_placed(vd_cloud *c, const char *at, const char *where, const char *role,
                             int *http, char *uid)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"node_addr\":\"%s\",\"video_id\":0,\"pipeline\":[\"face_detection\",\"face_"
             "alignment\"],\"scheduler\":\"fixed\",\"plan\":{\"flow_mapping\":{\"face_"
             "alignment\":{\"model_id\":0,\"node_ip\":\"%s\",\"node_role\":\"%s\"}}}}",
             at, where, role);
    json_t *r = route(c, "POST", "/query/submit_query", "", body, http);
    const char *u = json_string_value(json_object_get(r, "job_uid"));
    snprintf(uid, 64, "%s", u ? u : "");
    return r;
}

/* Nodes by name and by advertised address; a plan that places a stage on a node the cloud
 * does not know is refused, naming the field (it used to run on the edge without a word);
 * the seed's bare node_ip picks the node by its node_role. */
static void test_placement(void)
{
    vd_error err = {0};
    vd_transport *tr = NULL;
    vd_svchost *host = NULL;
    vd_cloud *c = NULL;
    CHECKF(vd_transport_inproc_new(&tr, &err) == 0, "%s", err.msg);
    vd_node_opts o = {.name = "cloud",
                      .addr = "10.0.0.1:5000",
                      .tr = tr,
                      .drop_s = 60,
                      .kb_path = "/nonexistent/kb.json"};
    CHECKF(vd_svchost_start(&o, &host, &err) == 0, "%s", err.msg);
    CHECKF(vd_cloud_start(&o, host, &c, &err) == 0, "%s", err.msg);
    if (!c) return;
    CHECK(tr->ops->serve(tr, "fe", "node.submit_job", fake_submit, NULL, &err) == 0);
    CHECK(tr->ops->serve(tr, "lo", "node.submit_job", fake_submit, NULL, &err) == 0);
    heartbeat(tr, "fe", "10.0.0.2:5001", NULL);
    heartbeat(tr, "fe2", "10.0.0.3:5002", NULL);
    heartbeat(tr, "lo", "127.0.0.1:7000", NULL);
    heartbeat(tr, "fa", "10.0.0.7:1", NULL);
    heartbeat(tr, "fb", "10.0.0.7:2", NULL);
    for (int t = 0; t < 5000 && !vd_cloud_has_node(c, "fb"); t += 10) usleep(10000);
    int http;
    char uid[64], node[64], role[16];
    static const struct {
        const char *at, *where, *role;
        int http;
        const char *node, *sent_role, *msg; /* the plan sent, or the error's words */
    } cases[] = {
        {"fe", "e9", "edge", 404, NULL, NULL,
         "plan.flow_mapping.face_alignment.node_ip: no node 'e9'"},
        {"fe", "10.9.9.9", "host", 404, NULL, NULL, "no node '10.9.9.9'"},
        {"fe", "10.0.0.3:5002", "host", 200, "fe2", "edge", NULL}, /* another edge's address */
        {"fe", "fe2", "edge", 200, "fe2", "edge", NULL},
        {"fe", "127.0.0.1", "host", 200, "lo", "edge", NULL},     /* the one node there */
        {"fe", "10.0.0.1", "cloud", 200, "cloud", "cloud", NULL}, /* the seed's bare node_ip */
        {"fe", "10.0.0.2", "host", 200, "fe", "host", NULL},
        {"fe", "10.0.0.7", "edge", 400, NULL, NULL, "several nodes (fa, fb)"},
        {"10.0.0.2:5001", "fe", "host", 200, "fe", "host", NULL},  /* node_addr as the seed */
        {"localhost:7000", "lo", "host", 200, "lo", "host", NULL}, /* loopback is loopback */
        {"10.0.0.2:9999", "fe", "host", 404, NULL, NULL, "node_addr: no node '10.0.0.2:9999'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *r = submit_placed(c, cases[i].at, cases[i].where, cases[i].role, &http, uid);
        const char *msg = json_string_value(json_object_get(r, "msg"));
        CHECKF(http == cases[i].http, "case %zu (%s on %s): HTTP %d: %s", i, cases[i].where,
               cases[i].at, http, msg ? msg : "");
        if (cases[i].msg)
            CHECKF(msg && strstr(msg, cases[i].msg), "case %zu: message '%s'", i, msg ? msg : "");
        if (cases[i].node && uid[0]) {
            sent_node(uid, "face_alignment", node, role);
            CHECKF(!strcmp(node, cases[i].node) && !strcmp(role, cases[i].sent_role),
                   "case %zu: face_alignment sent on '%s' (%s), not %s", i, node, role,
                   cases[i].node);
        }
        json_decref(r);
    }
    vd_cloud_stop(c);
    vd_svchost_stop(host);
    vd_transport_close(tr);
    vd_cloud_free(c);
    vd_svchost_free(host);
    json_decref(last_submit);
    last_submit = NULL;
}

/* A result header from edge `node` for job uid: a DONE one with reason, or a frame. */
static void publish_result(vd_transport *tr, const char *node, const char *uid, const char *reason)
{
    json_t *h = reason ? json_pack("{s:s,s:s,s:s,s:s,s:s}", "job_uid", uid, "node", node, "state",
                                   "DONE", "reason", reason, "msg", "")
                       : json_pack("{s:s,s:s,s:s,s:{s:i,s:f,s:i,s:i}}", "job_uid", uid, "node",
                                   node, "state", "EXEC", "result", "native_h", 528, "native_fps",
                                   23.976, "cam_frame_id", 7, "n_loop", 1);
    vd_buf m;
    if (vd_msg_pack(h, NULL, 0, &m, NULL) == 0) {
        char subj[128];
        snprintf(subj, sizeof subj, "vdag.result.%s", node); /* into the results stream */
        vd_spub p = {.subject = subj, .msg = m};
        tr->ops->stream_publish(tr, &p, 1, 1000, NULL);
        vd_buf_free(&m);
    }
    json_decref(h);
}

/* What the user API refuses, with the field and the right code. */
static void test_user_errors(void)
{
    vd_error err = {0};
    vd_transport *tr = NULL;
    vd_cloud *c = NULL;
    CHECKF(vd_transport_inproc_new(&tr, &err) == 0, "%s", err.msg);
    vd_node_opts o = {.name = "cloud", .tr = tr, .drop_s = 60};
    CHECKF(vd_cloud_start(&o, NULL, &c, &err) == 0, "%s", err.msg);
    if (!c) return;
    CHECK(tr->ops->serve(tr, "fe", "node.submit_job", fake_submit, NULL, &err) == 0);
    heartbeat(tr, "fe", "10.0.0.2:5001", NULL);
    for (int t = 0; t < 5000 && !vd_cloud_has_node(c, "fe"); t += 10) usleep(10000);
    int http;
    json_t *r =
        route(c, "POST", "/query/submit_query", "",
              "{\"node_addr\":7000,\"video_id\":0,\"pipeline\":[\"face_detection\"]}", &http);
    const char *msg = json_string_value(json_object_get(r, "msg"));
    CHECKF(http == 400 && msg && strstr(msg, "node_addr: expected a string"), "HTTP %d %s", http,
           msg ? msg : "");
    json_decref(r);
    r = route(c, "POST", "/query/submit_query", "",
              "{\"node_addr\":\"fe\",\"video_id\":0,\"pipeline\":[\"face_detection\"]}", &http);
    char uid[64];
    snprintf(uid, sizeof uid, "%s", json_string_value(json_object_get(r, "job_uid")));
    json_decref(r);
    publish_result(tr, "fe", uid, "finished");
    char body[256];
    snprintf(body, sizeof body, "{\"job_uid\":\"%s\",\"user_constraint\":{\"delay\":0.3}}", uid);
    for (int t = 0; t < 3000; t += 10) { /* once the DONE result is in */
        r = route(c, "POST", "/user/submit_job_user_constraint", "", body, &http);
        json_decref(r);
        if (http != 200) break;
        usleep(10000);
    }
    r = route(c, "POST", "/user/submit_job_user_constraint", "", body, &http);
    msg = json_string_value(json_object_get(r, "msg"));
    CHECKF(http == 409 && json_integer_value(json_object_get(r, "status")) == VD_ESTATE && msg &&
               strstr(msg, "is done"),
           "constraint on a finished job: HTTP %d %s", http, msg ? msg : "");
    json_decref(r);
    r = route(c, "POST", "/user/submit_job_user_constraint", "", "{\"user_constraint\":{}}", &http);
    msg = json_string_value(json_object_get(r, "msg"));
    CHECKF(http == 400 && msg && strstr(msg, "job_uid: missing"), "HTTP %d %s", http,
           msg ? msg : "");
    json_decref(r);
    vd_cloud_stop(c);
    vd_transport_close(tr);
    vd_cloud_free(c);
    json_decref(last_submit);
    last_submit = NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_duplicate_names();
    test_placement();
    test_user_errors();
    return vt_finish();
}
