/*
 * Edge commands over the in-process transport: node.get_job returns the job as submitted
 * and the plan in force (what a restarted cloud needs to take the job over), a
 * constraint-only node.update_plan keeps the plan, the codes of the edge's refusals (a job
 * that ran, a bad DAG, a missing video), and an edge that has stopped starts no more jobs (a
 * submit arriving during shutdown used to start a thread nobody joined); --cpu-own's CPU.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/node_internal.h"
#include "node/proto.h"
#include "testlib.h"
#include "vdag/dag.h"
#include "vdag/node.h"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A node command: body (stolen) → *reply (new reference, may be NULL). */
static int cmd(vd_transport *t, const char *name, json_t *body, json_t **reply, vd_error *err)
{
    vd_buf req, resp = {0};
    if (reply) *reply = NULL;
    int rc = vd_msg_pack(body, NULL, 0, &req, err);
    json_decref(body);
    if (rc) return rc;
    rc = vd_transport_call(t, "e1", name, &req, &resp, 5000, err);
    vd_buf_free(&req);
    if (rc) return rc;
    json_t *h = NULL;
    rc = vd_msg_unpack(resp.data, resp.len, &h, NULL, NULL, err);
    vd_buf_free(&resp);
    if (reply)
        *reply = h;
    else
        json_decref(h);
    return rc;
}

/* Call one of the edge's HTTP routes directly: *http gets the HTTP status; the reply's JSON
 * (new reference) or NULL. */
static json_t *edge_route(vd_edge *e, const char *method, const char *path, const char *tail,
                          const char *body, int *http)
{
    vd_http_route r[16];
    int n = vd_edge_routes(e, r, 16);
    for (int i = 0; i < n; i++) {
        if (strcmp(r[i].method, method) || strcmp(r[i].path, path)) continue;
        vd_http_req q = {.method = method,
                         .path = path,
                         .tail = tail,
                         .body = (const unsigned char *)body,
                         .body_len = strlen(body)};
        vd_http_resp resp = {0};
        r[i].fn(r[i].arg, &q, &resp);
        *http = resp.status;
        json_t *j = resp.body ? json_loadb(resp.body, resp.len, 0, NULL) : NULL;
        free(resp.body);
        return j;
    }
    *http = 0;
    return NULL;
}

/* The job protocol round-trips: what the cloud builds, the edge parses, and back. */
static void test_proto(void)
{
    vd_error err = {0};
    json_t *user =
        json_pack("{s:s,s:i,s:[s,s],s:{s:f,s:f},s:s,s:{s:{s:s}},s:i,s:b}", "node_addr", "e1",
                  "video_id", 3, "pipeline", "face_detection", "face_alignment", "user_constraint",
                  "delay", 0.25, "accuracy", 9.0, "scheduler", "fixed", "plan", "video_conf",
                  "resolution", "480p", "max_frames", 7, "loop", 0);
    vd__job_spec s;
    CHECKF(vd__job_spec_parse(user, VD__SPEC_USER, &s, &err) == 0, "%s", err.msg);
    CHECK(!strcmp(s.video_id, "3") && s.dag->n_stages == 2 && s.delay_bound == 0.25 &&
          s.accuracy == 0.9 && !strcmp(s.scheduler, "fixed") && s.max_frames == 7 && s.loop == 0);
    vd_plan p;
    vd_plan_default(s.dag, "e1", &p);
    json_t *m = vd__submit_msg("u.1", &s, &p, 4, 1);
    vd__submit sub;
    CHECKF(vd__submit_parse(m, &sub, &err) == 0, "%s", err.msg);
    CHECK(!strcmp(sub.uid, "u.1") && sub.has_plan && vd_plan_equal(&sub.plan, &p) &&
          sub.plan_version == 4 && sub.watch == 1);
    CHECK(!strcmp(sub.spec.video_id, "3") && json_equal(sub.spec.dag_json, s.dag_json) &&
          json_equal(sub.spec.constraint, s.constraint) &&
          json_equal(sub.spec.requested, s.requested) && !strcmp(sub.spec.scheduler, "fixed") &&
          sub.spec.max_frames == 7 && sub.spec.loop == 0 && sub.spec.accuracy == 0.9);
    json_t *info = vd__job_info_msg("u.1", "e1", &sub.spec, 1, 0, &p, 4);
    vd__job_info ji;
    CHECKF(vd__job_info_parse(info, &ji, &err) == 0, "%s", err.msg);
    CHECK(ji.running && vd_plan_equal(&ji.plan, &p) && ji.plan_version == 4 && !ji.watch &&
          json_equal(ji.spec.dag_json, s.dag_json) && !strcmp(ji.spec.scheduler, "fixed"));
    vd__job_spec_clear(&ji.spec);
    json_decref(info);
    info = vd__job_info_msg("u.1", "e1", &sub.spec, 0, 0, &p, 4);
    CHECK(vd__job_info_parse(info, &ji, &err) == 0 && !ji.running && !ji.spec.dag);
    json_decref(info);
    vd__job_spec_clear(&sub.spec);
    vd__job_spec_clear(&s);
    /* every bad field is VD_EINVAL, whatever its parser said */
    json_array_set_new(json_object_get(json_object_get(m, "dag"), "flow"), 1, json_string("nope"));
    CHECK(vd__submit_parse(m, &sub, &err) == VD_EINVAL && err.code == VD_EINVAL &&
          strstr(err.msg, "nope") && !sub.spec.dag);
    json_object_set_new(user, "scheduler", json_integer(1));
    CHECK(vd__job_spec_parse(user, VD__SPEC_USER, &s, &err) == VD_EINVAL && !s.dag);
    json_object_del(user, "scheduler");
    json_object_set_new(user, "dag", json_object());
    CHECK(vd__job_spec_parse(user, VD__SPEC_USER, &s, &err) == VD_EINVAL &&
          strstr(err.msg, "either pipeline"));
    json_decref(m);
    json_decref(user);

    /* what a user gets wrong is refused, naming the field (each was once taken: a limit of
     * -3 or 1.5 frames ran without a limit, delay -0 or 1e-400 was stored as 0, a number
     * where a string belongs read as "missing", a field no stage outputs failed at run time) */
    static const struct {
        const char *json, *msg;
    } bad[] = {
        {"\"max_frames\":-3", "max_frames: expected an integer 1.."},
        {"\"max_frames\":-1", "max_frames"},
        {"\"max_frames\":0", "max_frames"},
        {"\"max_frames\":1.5", "max_frames"},
        {"\"max_frames\":9223372036854775807", "max_frames"},
        {"\"max_frames\":\"7\"", "max_frames"},
        {"\"user_constraint\":{\"accuracy\":99}", "user_constraint.accuracy: expected 0..1"},
        {"\"user_constraint\":{\"accuracy\":-0.5}", "user_constraint.accuracy"},
        {"\"user_constraint\":{\"acc_level\":9}", "user_constraint.acc_level"},
        {"\"user_constraint\":{\"delay\":-0.0}", "user_constraint.delay: expected seconds"},
        {"\"user_constraint\":{\"delay\":0}", "user_constraint.delay"},
        {"\"user_constraint\":{\"delay\":1e-400}", "user_constraint.delay"},
        {"\"user_constraint\":{\"delay\":[0.1,-1]}", "user_constraint.delay"},
        {"\"user_constraint\":{\"delay\":\"fast\"}", "user_constraint.delay"},
        {"\"loop\":1", "loop: expected true or false"},
        {"\"plan\":{\"video_conf\":{\"nskip\":99}}", "plan.video_conf.nskip"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[512];
        snprintf(text, sizeof text, "{\"video_id\":0,\"pipeline\":[\"face_detection\"],%s}",
                 bad[i].json);
        json_error_t je;
        json_t *j = json_loads(text, 0, &je);
        CHECKF(j, "case %zu does not parse: %s", i, je.text);
        int rc = j ? vd__job_spec_parse(j, VD__SPEC_USER, &s, &err) : 0;
        CHECKF(rc == VD_EINVAL && strstr(err.msg, bad[i].msg), "%s: rc %d '%s'", bad[i].json, rc,
               rc ? err.msg : "accepted");
        if (!rc) vd__job_spec_clear(&s);
        json_decref(j);
    }
    static const char *const bad_vid[] = {"{\"video_id\":1.5,\"pipeline\":[\"face_detection\"]}",
                                          "{\"video_id\":true,\"pipeline\":[\"face_detection\"]}"};
    for (int i = 0; i < 2; i++) {
        json_t *j = json_loads(bad_vid[i], 0, NULL);
        int rc = vd__job_spec_parse(j, VD__SPEC_USER, &s, &err);
        CHECKF(rc == VD_EINVAL && strstr(err.msg, "video_id: expected an integer or a string"),
               "%s: '%s'", bad_vid[i], rc ? err.msg : "accepted");
        json_decref(j);
    }
    /* the seed's forms are taken: a delay range, the accuracy level, a string id */
    json_t *ok = json_loads("{\"video_id\":\"cam-1\",\"pipeline\":[\"face_detection\"],"
                            "\"user_constraint\":{\"delay\":[-1,0.5],\"acc_level\":5},"
                            "\"max_frames\":2147483647}",
                            0, NULL);
    CHECKF(vd__job_spec_parse(ok, VD__SPEC_USER, &s, &err) == 0, "%s", err.msg);
    CHECK(s.delay_bound == 0.5 && s.accuracy == 1 && s.max_frames == 2147483647 &&
          !strcmp(s.video_id, "cam-1"));
    vd__job_spec_clear(&s);
    json_decref(ok);
    /* a DAG input naming a field its stage does not output is refused at submit */
    json_t *dref = json_loads(
        "{\"video_id\":0,\"dag\":{\"generator\":\"SingleFrameGenerator\",\"flow\":["
        "\"SingleFrameGenerator\",\"face_detection\",\"face_alignment\"],\"input\":{"
        "\"face_detection\":{\"image\":\"SingleFrameGenerator.image\"},\"face_alignment\":{"
        "\"image\":\"SingleFrameGenerator.image\",\"bbox\":\"face_detection.boxes\"}}}}",
        0, NULL);
    int rc = vd__job_spec_parse(dref, VD__SPEC_USER, &s, &err);
    CHECKF(rc == VD_EINVAL && strstr(err.msg, "dag.input.face_alignment.bbox") &&
               strstr(err.msg, "outputs no 'boxes'"),
           "rc %d '%s'", rc, rc ? err.msg : "accepted");
    json_decref(dref);
}

/* A node "spy" serving face_detection: the size of the request with the video's third frame
 * (the frame as JPEG parts or an H.264 packet), how many it got and how many it decoded (as a
 * service host does); it answers that it found no face. */
static _Atomic size_t spy_bytes;
static atomic_int spy_calls, spy_decoded;
static vd_jpeg_coder *spy_jc;
static vd__h264_streams *spy_hs;
static int spy_stage(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    (void)arg;
    json_t *h = NULL;
    vd_frame *f = NULL;
    if (vd__stage_request_decode(spy_jc, spy_hs, req, &h, &f, NULL) == 0) {
        atomic_fetch_add(&spy_decoded, 1);
        if (json_integer_value(json_object_get(h, "cam_frame_id")) == 2)
            atomic_store(&spy_bytes, req->len);
    }
    vd_frame_free(f);
    json_decref(h);
    atomic_fetch_add(&spy_calls, 1);
    json_t *r = json_pack("{s:{s:[],s:[]},s:f}", "out", "bbox", "prob", "ms", 1.0);
    int rc = vd_msg_pack(r, NULL, 0, resp, err);
    json_decref(r);
    return rc;
}

/* The plan's encoder and JPEG quality are what a remote stage gets: the same frame (the
 * third) coded as JPEG at quality 20 and 95, and as H.264 (a job each, face_detection on
 * "spy"). */
static size_t remote_bytes(vd_transport *t, const char *uid, const char *enc, int quality,
                           json_t *dag)
{
    atomic_store(&spy_bytes, 0);
    atomic_store(&spy_calls, 0);
    atomic_store(&spy_decoded, 0);
    json_t *sub = json_pack(
        "{s:s,s:s,s:O,s:{s:f},s:s,s:I,s:{s:{s:s,s:i,s:s},s:{s:{s:s,s:s}}}}", "job_uid", uid,
        "video_id", "0", "dag", dag, "user_constraint", "delay", 5.0, "scheduler", "fixed",
        "max_frames", (json_int_t)3, "plan", "video_conf", "resolution", "360p", "quality", quality,
        "encoder", enc, "flow_mapping", "face_detection", "node_ip", "spy", "node_role", "edge");
    vd_error err = {0};
    CHECKF(cmd(t, "node.submit_job", sub, NULL, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 500 && atomic_load(&spy_calls) < 3; i++) sleep_ms(10);
    CHECKF(atomic_load(&spy_calls) == 3 && atomic_load(&spy_decoded) == 3,
           "%s: %d calls of the remote stage for 3 frames, %d decoded", enc,
           atomic_load(&spy_calls), atomic_load(&spy_decoded));
    return atomic_load(&spy_bytes);
}

/* The last heartbeat of e1 (vdag.hb.e1), as text. */
static pthread_mutex_t hb_mu = PTHREAD_MUTEX_INITIALIZER;
static char *hb_last;
static void on_hb(void *arg, const char *subject, const vd_buf *msg)
{
    (void)arg, (void)subject;
    pthread_mutex_lock(&hb_mu);
    free(hb_last);
    hb_last = strndup((const char *)msg->data, msg->len);
    pthread_mutex_unlock(&hb_mu);
}

/* The link e1's heartbeat reports to node `to` (new reference), or NULL. */
static json_t *hb_link(const char *to)
{
    pthread_mutex_lock(&hb_mu);
    json_t *hb = hb_last ? json_loads(hb_last, 0, NULL) : NULL;
    pthread_mutex_unlock(&hb_mu);
    json_t *l, *found = NULL;
    size_t i;
    json_array_foreach(json_object_get(hb, "links"), i, l)
    {
        const char *t = json_string_value(json_object_get(l, "to"));
        if (t && !strcmp(t, to)) found = json_incref(l);
    }
    json_decref(hb);
    return found;
}

static int echo(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    (void)arg, (void)req, (void)err;
    *resp = (vd_buf){0};
    return 0;
}

/* --cpu-own: the node's CPU is this process's over the cores it may run on (the harness's
 * nodes share one box), never the machine's. Exact relations only, no timing. */
static void test_cpu_own(void)
{
    vd_resources r = {0};
    vd_error err = {0};
    CHECK(vd_resources_sample(&r, &err) == 0);
    vd_resources_cpu_own(1);
    volatile double x = 0;
    for (int i = 0; i < 20000000; i++) x += i * 0.5; /* some CPU of our own */
    CHECK(vd_resources_sample(&r, &err) == 0);
    cpu_set_t set;
    CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
    CHECKF(r.n_cores == CPU_COUNT(&set), "n_cores %d, affinity %d", r.n_cores, CPU_COUNT(&set));
    double want = r.proc_cpu_pct / r.n_cores;
    CHECKF(r.cpu_pct == (want > 100 ? 100 : want), "cpu %g, own %g over %d cores", r.cpu_pct,
           r.proc_cpu_pct, r.n_cores);
    vd_resources_cpu_own(0);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_proto();
    vd_error err = {0};
    vd_transport *t = NULL;
    CHECK(vd_transport_inproc_new(&t, &err) == 0);
    vd_node_opts o = {.name = "e1", .tr = t, .threads = 1, .loop = 1, .n_videos = 1};
    snprintf(o.videos[0].id, sizeof o.videos[0].id, "0");
    snprintf(o.videos[0].path, sizeof o.videos[0].path, "%s", vt_media("vtest.avi"));
    vd_edge *e = NULL;
    CHECKF(vd_edge_start(&o, NULL, &e, &err) == 0, "%s", err.msg);
    if (!e) return vt_finish();

    vd_dag *dag = NULL;
    CHECK(vd_dag_from_pipeline("face_detection", &dag, &err) == 0);
    json_t *dj = vd_dag_to_json(dag);
    vd_dag_free(dag);
    json_t *sub =
        json_pack("{s:s,s:s,s:o,s:{s:f},s:s,s:I,s:{s:{s:s}},s:i}", "job_uid", "t.1", "video_id",
                  "0", "dag", dj, "user_constraint", "delay", 0.3, "scheduler", "feedback",
                  "max_frames", (json_int_t)100000, "requested_plan", "video_conf", "resolution",
                  "360p", "plan_version", 3);
    CHECKF(cmd(t, "node.submit_job", json_incref(sub), NULL, &err) == 0, "%s", err.msg);

    /* node.get_job: the spec as submitted, the plan (in force, or about to be) and the
     * cloud's number for it */
    json_t *r = NULL;
    sleep_ms(200);
    CHECKF(cmd(t, "node.get_job", json_pack("{s:s}", "job_uid", "t.1"), &r, &err) == 0, "%s",
           err.msg);
    CHECK(!strcmp(json_string_value(json_object_get(r, "state")), "EXEC"));
    CHECK(!strcmp(json_string_value(json_object_get(r, "node")), "e1"));
    CHECK(!strcmp(json_string_value(json_object_get(r, "video_id")), "0"));
    CHECK(!strcmp(json_string_value(json_object_get(r, "scheduler")), "feedback"));
    CHECK(json_equal(json_object_get(r, "dag"), json_object_get(sub, "dag")));
    CHECK(json_equal(json_object_get(r, "requested_plan"), json_object_get(sub, "requested_plan")));
    CHECK(json_number_value(json_object_get(json_object_get(r, "user_constraint"), "delay")) ==
          0.3);
    CHECK(json_integer_value(json_object_get(r, "max_frames")) == 100000);
    CHECK(json_is_true(json_object_get(r, "loop")));
    CHECK(json_integer_value(json_object_get(r, "plan_version")) == 3);
    vd_dag *d2 = NULL;
    vd_plan p;
    CHECK(vd_dag_from_json(json_object_get(r, "dag"), "dag", &d2, &err) == 0);
    CHECKF(d2 && vd_plan_from_json(json_object_get(r, "plan"), d2, "plan", &p, &err) == 0, "%s",
           err.msg);
    json_t *plan1 = json_incref(json_object_get(r, "plan"));
    json_decref(r);

    /* a constraint-only update keeps the plan; node.get_job returns the new constraint */
    CHECKF(cmd(t, "node.update_plan",
               json_pack("{s:s,s:{s:f}}", "job_uid", "t.1", "user_constraint", "delay", 0.2), NULL,
               &err) == 0,
           "%s", err.msg);
    CHECK(cmd(t, "node.get_job", json_pack("{s:s}", "job_uid", "t.1"), &r, &err) == 0);
    CHECK(json_number_value(json_object_get(json_object_get(r, "user_constraint"), "delay")) ==
          0.2);
    CHECK(json_integer_value(json_object_get(r, "plan_version")) == 3);
    CHECK(json_equal(json_object_get(r, "plan"), plan1));
    json_decref(r);
    json_decref(plan1);
    vd_dag_free(d2);

    int rc = cmd(t, "node.get_job", json_pack("{s:s}", "job_uid", "nope"), NULL, &err);
    CHECKF(rc == VD_EREMOTE && strstr(err.msg, "no job 'nope'"), "rc %d %s", rc, err.msg);
    CHECKF(err.remote == VD_ENOTFOUND, "remote %d", err.remote);

    /* a job that ran to its end is not run again under its uid: VD_EALREADY (the cloud
     * takes it as finished) */
    json_t *once = json_deep_copy(sub);
    json_object_set_new(once, "job_uid", json_string("t.3"));
    json_object_set_new(once, "max_frames", json_integer(1));
    CHECKF(cmd(t, "node.submit_job", json_incref(once), NULL, &err) == 0, "%s", err.msg);
    int done = 0;
    for (int i = 0; i < 500 && !done; i++) {
        sleep_ms(20);
        r = NULL;
        if (cmd(t, "node.get_job", json_pack("{s:s}", "job_uid", "t.3"), &r, &err) == 0) {
            const char *st = json_string_value(json_object_get(r, "state"));
            done = st && !strcmp(st, "DONE");
        }
        json_decref(r);
    }
    CHECKF(done, "job t.3 of one frame did not end");
    rc = cmd(t, "node.submit_job", once, NULL, &err);
    CHECKF(rc == VD_EREMOTE && err.remote == VD_EALREADY && strstr(err.msg, "already ran"),
           "rc %d remote %d %s", rc, err.remote, err.msg);
    /* a DAG the edge cannot parse is a bad request, not "not found" (the cloud would end
     * the job for a missing video) */
    json_t *bad = json_deep_copy(sub);
    json_object_set_new(bad, "job_uid", json_string("t.4"));
    json_array_set_new(json_object_get(json_object_get(bad, "dag"), "flow"), 1,
                       json_string("no_such_service"));
    rc = cmd(t, "node.submit_job", bad, NULL, &err);
    CHECKF(rc == VD_EREMOTE && err.remote == VD_EINVAL && strstr(err.msg, "no_such_service"),
           "rc %d remote %d %s", rc, err.remote, err.msg);
    json_t *novid = json_deep_copy(sub);
    json_object_set_new(novid, "job_uid", json_string("t.5"));
    json_object_set_new(novid, "video_id", json_string("9"));
    rc = cmd(t, "node.submit_job", novid, NULL, &err);
    CHECKF(rc == VD_EREMOTE && err.remote == VD_ENOTFOUND && strstr(err.msg, "no video"),
           "rc %d remote %d %s", rc, err.remote, err.msg);

    /* the HTTP routes: the same commands, "status" the VD_E* code */
    int http = 0;
    r = edge_route(e, "POST", "/node/update_plan", "", "{\"job_uid\":\"nope\",\"plan\":{}}", &http);
    CHECKF(http == 404 && json_integer_value(json_object_get(r, "status")) == VD_ENOTFOUND,
           "HTTP %d", http);
    json_decref(r);
    r = edge_route(e, "POST", "/node/submit_job", "", "{\"job_uid\":\"t.3\",\"video_id\":\"0\"}",
                   &http);
    CHECKF(http == 400 && json_integer_value(json_object_get(r, "status")) == VD_EINVAL, "HTTP %d",
           http);
    json_decref(r);
    r = edge_route(e, "GET", "/job/get_runtime/", "t.3", "", &http);
    CHECKF(http == 200 && json_integer_value(json_object_get(r, "status")) == 0 &&
               !strcmp(json_string_value(json_object_get(r, "state")), "DONE"),
           "HTTP %d", http);
    json_decref(r);
    /* a command without a job_uid is a bad request (it was "no job '(missing job_uid)'") */
    r = edge_route(e, "POST", "/node/stop_job", "", "{}", &http);
    CHECKF(http == 400 && json_integer_value(json_object_get(r, "status")) == VD_EINVAL &&
               strstr(json_string_value(json_object_get(r, "msg")), "job_uid: missing"),
           "HTTP %d", http);
    json_decref(r);
    r = edge_route(e, "POST", "/node/submit_job", "", "{\"job_uid\":", &http);
    CHECKF(http == 400 && json_integer_value(json_object_get(r, "status")) == VD_EFORMAT, "HTTP %d",
           http);
    json_decref(r);

    /* the plan's JPEG quality on the wire */
    CHECK(t->ops->serve(t, "spy", "svc.face_detection", spy_stage, NULL, &err) == 0);
    CHECK(vd_jpeg_coder_new(1, &spy_jc, &err) == 0 && vd__h264_streams_new(&spy_hs, &err) == 0);
    size_t q20 = remote_bytes(t, "t.q20", "JPEG", 20, json_object_get(sub, "dag"));
    size_t q95 = remote_bytes(t, "t.q95", "JPEG", 95, json_object_get(sub, "dag"));
    size_t h264 = remote_bytes(t, "t.h264", "H264", 0, json_object_get(sub, "dag"));
    CHECKF(h264 > 0 && h264 * 3 < q95, "the third frame as H.264: %zu bytes, as JPEG q95: %zu",
           h264, q95);
    CHECKF(q20 > 0 && q95 > 2 * q20, "a frame sent at quality 20: %zu bytes, at 95: %zu", q20, q95);

    /* the link model: the spy's transfers measured passively (6 calls of 20-120 kB), and a
     * candidate the cloud names ("peers") with no traffic probed by echoes */
    CHECK(t->ops->subscribe(t, "vdag.hb.e1", on_hb, NULL, &err) == 0);
    CHECK(t->ops->serve(t, "spy2", "svc.echo", echo, NULL, &err) == 0);
    json_t *upd = json_pack("{s:s,s:{s:f},s:[s]}", "job_uid", "t.1", "user_constraint", "delay",
                            0.3, "peers", "spy2");
    CHECKF(cmd(t, "node.update_plan", upd, NULL, &err) == 0, "%s", err.msg);
    json_t *l1 = NULL, *l2 = NULL;
    for (int i = 0; i < 100 && !(l1 && l2 && json_object_get(l2, "bw_Bps")); i++) {
        sleep_ms(100);
        json_decref(l1), json_decref(l2);
        l1 = hb_link("spy"), l2 = hb_link("spy2");
    }
    CHECKF(l1 && json_integer_value(json_object_get(l1, "n")) >= 6 &&
               json_number_value(json_object_get(l1, "bw_Bps")) > 0,
           "no measured link to spy in the heartbeat");
    CHECKF(l2 && json_number_value(json_object_get(l2, "bw_Bps")) > 0 &&
               json_number_value(json_object_get(l2, "rtt_s")) > 0 &&
               json_integer_value(json_object_get(l2, "n")) >= 2,
           "the candidate spy2 was not probed");
    json_decref(l1), json_decref(l2);

    /* GET /user/video/<job> on the edge itself (the seed served it from the node): the job
     * renders for its viewer, the stream carries JPEG frames */
    {
        vd_http_route rt[16];
        int nr = vd_edge_routes(e, rt, 16), found = 0;
        for (int i = 0; i < nr; i++) {
            if (strcmp(rt[i].path, "/user/video/")) continue;
            found = 1;
            vd_http_req q = {.method = "GET", .path = "/user/video/t.1", .tail = "t.1"};
            vd_http_resp vr = {0};
            rt[i].fn(rt[i].arg, &q, &vr);
            CHECKF(vr.stream && vr.content_type && strstr(vr.content_type, "multipart"),
                   "no stream: HTTP %d %s", vr.status, vr.body ? vr.body : "");
            char buf[65536];
            size_t got = 0;
            int jpegs = 0;
            for (int k = 0; vr.stream && k < 200 && jpegs < 2; k++) {
                ssize_t n = vr.stream(vr.stream_arg, buf + got, sizeof buf - got);
                if (n < 0) break;
                got += (size_t)n;
                for (size_t p = 0; p + 4 < got; p++) /* a part header, then a JPEG */
                    if (!memcmp(buf + p, "\r\n\r\n\xff\xd8", 6)) jpegs++, got = 0;
                if (got > sizeof buf - 4096) got = 0;
            }
            CHECKF(jpegs >= 2, "%d JPEG frames from the edge's stream", jpegs);
            if (vr.stream_free) vr.stream_free(vr.stream_arg);
            free(vr.body);
            vr = (vd_http_resp){0};
            q.tail = "nope";
            rt[i].fn(rt[i].arg, &q, &vr);
            CHECK(vr.status == 404 && !vr.stream);
            free(vr.body);
        }
        CHECK(found);
    }

    /* after vd_edge_stop (the job threads joined), a submit is refused, not started */
    vd_edge_stop(e);
    json_object_set_new(sub, "job_uid", json_string("t.2"));
    rc = cmd(t, "node.submit_job", json_incref(sub), NULL, &err);
    CHECKF(rc == VD_EREMOTE && strstr(err.msg, "shutting down"), "rc %d %s", rc, err.msg);
    CHECKF(err.remote == VD_ESTATE, "remote %d", err.remote);
    CHECK(cmd(t, "node.get_job", json_pack("{s:s}", "job_uid", "t.1"), &r, &err) == 0);
    CHECK(!strcmp(json_string_value(json_object_get(r, "state")), "DONE"));
    json_decref(r);
    json_decref(sub);
    vd_transport_close(t);
    vd_edge_free(e);
    vd_jpeg_coder_free(spy_jc);
    vd__h264_streams_free(spy_hs);
    test_cpu_own(); /* last: the setting is process-wide */
    return vt_finish();
}
