/* Cascades (vdag/cascade.h) on real frames of Megamind.avi: nanodet > centernet routes an easy
 * frame out at unit 0 and a hard one on to unit 1, by the band; each answer equals the
 * answering unit's own output (unit 1: on the frame's JPEG); the thresholds move the route;
 * several requests in flight over a real nats-server (two workers sharing the unit's queue
 * group, a forwarding unit 0 on the bus) each get their own answer; a unit that stops is
 * reported within the timeout (an error with the unit, or the fallback answer); the spec's
 * and the plan's parsing. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sched/sched_internal.h"
#include "testlib.h"
#include "vdag/base.h"
#include "vdag/cascade.h"
#include "vdag/dag.h"
#include "vdag/media.h"
#include "vdag/sched.h"

/* Frames of Megamind.avi (720x528): EASY, one person nanodet is sure of (every box >= 0.45 or
 * below 0.3), and HARD, with a box in between; checked below, not assumed. */
#define EASY    0
#define HARD    1
#define EASY_ID 5
#define HARD_ID 2
static const int frame_ids[2] = {EASY_ID, HARD_ID};
#define N_FRAMES 2

static const vd_service *od;
static vd_cascade_spec spec;
static vd_frame *fr[N_FRAMES];
static json_t *want1[N_FRAMES]; /* centernet on each frame's JPEG (q 90) */

/* Equal outputs: the same structure, numbers equal as float32 (what the services compute in;
 * a message carries reals with 9 digits, which float32 values survive exactly). */
static int same(json_t *a, json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return (float)json_number_value(a) == (float)json_number_value(b);
    if (json_typeof(a) != json_typeof(b)) return 0;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b)) return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!same(json_array_get(a, i), json_array_get(b, i))) return 0;
        return 1;
    }
    if (json_is_object(a)) {
        const char *k;
        json_t *v;
        if (json_object_size(a) != json_object_size(b)) return 0;
        json_object_foreach(a, k, v) if (!same(v, json_object_get(b, k))) return 0;
        return 1;
    }
    return json_equal(a, b);
}

static json_t *strip(json_t *out) /* the output without its cascade note (new reference) */
{
    json_t *c = json_deep_copy(out);
    json_object_del(c, "cascade");
    return c;
}

static json_t *run_unit(int model, float lo, const vd_frame *f, int jpeg)
{
    vd_error err = {0};
    vd_svc_opts o = {.threads = 1, .min_score = lo};
    vd_svc_instance *s = NULL;
    json_t *out = NULL;
    vd_frame *g = (vd_frame *)f;
    if (jpeg) {
        unsigned char *j;
        size_t len;
        if (vd_jpeg_encode(f, 90, &j, &len, &err) || vd_jpeg_decode(j, len, &g, &err)) return NULL;
        free(j);
        g->src_width = f->src_width, g->src_height = f->src_height;
    }
    if (!vd_svc_open("object_detection", model, &o, &s, &err))
        vd_svc_process(s, g, NULL, &out, &err);
    vd_svc_close(s);
    if (g != f) vd_frame_free(g);
    return out;
}

static int read_frames(void)
{
    vd_error err = {0};
    vd_source *src = NULL;
    vd_source_opts so = {0};
    if (vd_source_open(vt_media("Megamind.avi"), &so, &src, &err)) return -1;
    int got = 0;
    for (int k = 0; got < N_FRAMES; k++) {
        vd_frame *f = NULL;
        if (vd_source_read(src, &f, -1, &err)) break;
        for (int i = 0; i < N_FRAMES; i++)
            if (frame_ids[i] == k) fr[i] = vd_frame_ref(f), got++;
        vd_frame_free(f);
    }
    vd_source_close(src);
    return got == N_FRAMES ? 0 : -1;
}

static void test_parse(void)
{
    vd_error err = {0};
    vd_cascade_spec s;
    CHECK(vd_cascade_parse(od, "cascade:nanodet@0.2..0.45>centernet", &s, &err) == 0);
    CHECK(s.n == 2 && s.model_id[0] == 1 && s.model_id[1] == 0);
    CHECK(s.exit[0].rule == VD_EXIT_BAND && s.exit[0].lo > 0.19f && s.exit[0].hi < 0.46f);
    CHECK(vd_cascade_parse(od, "nanodet@max:0.1..0.9>centernet", &s, &err) == 0 &&
          s.exit[0].rule == VD_EXIT_MAX);
    CHECK(vd_cascade_parse(od, "nanodet>yolo", &s, &err) == VD_EINVAL && strstr(err.msg, "yolo"));
    CHECK(vd_cascade_parse(od, "nanodet", &s, &err) == VD_EINVAL && strstr(err.msg, "two"));
    CHECK(vd_cascade_parse(od, "nanodet>nanodet", &s, &err) == VD_EINVAL);
    CHECK(vd_cascade_parse(od, "nanodet@0.5..0.2>centernet", &s, &err) == VD_EINVAL);
    CHECK(vd_cascade_parse(od, "nanodet@0.2-0.5>centernet", &s, &err) == VD_EINVAL);
    CHECK(vd_cascade_parse(od, "nanodet@odd:0.2..0.5>centernet", &s, &err) == VD_EINVAL);
    CHECK(vd_cascade_parse(od, "nanodet>>centernet", &s, &err) == VD_EINVAL);
    /* exit tests on outputs */
    json_t *o = json_pack("{s:[f,f]}", "scores", 0.9, 0.3);
    vd_exit_test band = {VD_EXIT_BAND, 0.2f, 0.5f}, mx = {VD_EXIT_MAX, 0.2f, 0.8f};
    CHECK(!vd_exit_confident(od, &band, o)); /* 0.3 is in the band */
    CHECK(vd_exit_confident(od, &mx, o));    /* the top is sure */
    band.lo = 0.35f;
    CHECK(vd_exit_confident(od, &band, o));
    json_decref(o);
    o = json_pack("{s:[]}", "scores");
    CHECK(vd_exit_confident(od, &band, o) && vd_exit_confident(od, &mx, o));
    json_decref(o);
}

static void test_plan(void)
{
    vd_error err = {0};
    vd_dag *d = NULL;
    CHECK(vd_dag_from_pipeline("object_detection", &d, &err) == 0);
    json_t *j = json_loads("{\"flow_mapping\":{\"object_detection\":{\"model_id\":2,"
                           "\"exit\":{\"lo\":0.1,\"hi\":0.6}}}}",
                           0, NULL);
    vd_plan p, q;
    CHECK(vd_plan_from_json(j, d, "plan", &p, &err) == 0);
    CHECK(p.map[0].model_id == 2 && p.map[0].exit_lo > 0.09f && p.map[0].exit_hi > 0.59f);
    json_t *back = vd_plan_to_json(&p);
    json_t *m = json_object_get(json_object_get(back, "flow_mapping"), "object_detection");
    CHECK(!strcmp(json_string_value(json_object_get(m, "cascade")), od->model_names[2]));
    CHECK((float)json_number_value(json_object_get(json_object_get(m, "exit"), "hi")) == 0.6f);
    CHECK(vd_plan_from_json(back, d, "plan", &q, &err) == 0 && vd_plan_equal(&p, &q));
    q.map[0].exit_hi = 0.7f;
    CHECK(!vd_plan_equal(&p, &q));
    json_decref(back);
    json_decref(j);
    j = json_loads("{\"flow_mapping\":{\"object_detection\":{\"exit\":{\"lo\":0.7,\"hi\":0.6}}}}",
                   0, NULL);
    CHECK(vd_plan_from_json(j, d, "plan", &p, &err) == VD_EINVAL && strstr(err.msg, "exit"));
    json_decref(j);
    vd_dag_free(d);
}

/* The exit curve in the kb: the pick, the file form, the merge, a plan's band. */
static void test_kb(void)
{
    vd_error err = {0};
    vd_kb *kb = vd_kb_new(), *back = vd_kb_new(), *m = vd_kb_new();
    vd_kb_exit_pt pts[] = {{0, 0.3f, 0.2, 0.90, 10},
                           {0, 0.5f, 0.4, 0.96, 10},
                           {0, 0.7f, 0.6, 0.99, 10},
                           {0.1f, 0.5f, 0.4, 0.97, 10}};
    for (int i = 0; i < 4; i++) CHECK(vd_kb_set_exit(kb, "object_detection", 2, &pts[i]) == 0);
    vd_kb_exit_pt p;
    CHECK(vd_kb_pick_exit(kb, "object_detection", 2, 0.95, &p) == 0 && p.hi == 0.5f &&
          p.lo == 0.1f); /* equal share sent on: the better F1 */
    CHECK(vd_kb_pick_exit(kb, "object_detection", 2, 0.98, &p) == 0 && p.hi == 0.7f);
    CHECK(vd_kb_pick_exit(kb, "object_detection", 2, 0.995, &p) == VD_ENOTFOUND);
    CHECK(vd_kb_pick_exit(kb, "face_detection", 2, 0.5, &p) == VD_ENOTFOUND);
    json_t *j = vd_kb_to_json(kb);
    CHECK(json_array_size(json_object_get(j, "exit")) == 4);
    CHECK(vd_kb_from_json(back, j, &err) == 0);
    vd_kb_exit_pt c[8];
    CHECK(vd_kb_exit_curve(back, "object_detection", 2, c, 8) == 4);
    json_object_set_new(json_array_get(json_object_get(j, "exit"), 0), "f1", json_real(2));
    CHECK(vd_kb_from_json(m, j, &err) == VD_EFORMAT && strstr(err.msg, "exit[0]"));
    json_decref(j);
    vd_kb_exit_pt other = {0, 0.5f, 0.6, 0.86, 30};
    CHECK(vd_kb_set_exit(m, "object_detection", 2, &other) == 0);
    CHECK(vd_kb_merge(back, m, "n2", &err) == 0);
    CHECK(vd_kb_exit_curve(back, "object_detection", 2, c, 8) == 4);
    for (int i = 0; i < 4; i++)
        if (c[i].lo == 0 && c[i].hi == 0.5f)
            CHECK(c[i].n == 40 && c[i].escalated > 0.549 && c[i].escalated < 0.551 &&
                  c[i].f1 > 0.8849 && c[i].f1 < 0.8851);
    /* a plan's band from the curve: the user's accuracy, else 0.95 */
    vd_dag *d = NULL;
    CHECK(vd_dag_from_pipeline("object_detection", &d, &err) == 0);
    vd_plan pl;
    vd_plan_default(d, "e1", &pl);
    pl.map[0].model_id = 2;
    vd_sched_input in = {.dag = d, .kb = kb};
    vd__plan_exits(&in, &pl);
    CHECK(pl.map[0].exit_lo == 0.1f && pl.map[0].exit_hi == 0.5f);
    in.accuracy = 0.98;
    vd__plan_exits(&in, &pl);
    CHECK(pl.map[0].exit_lo == 0 && pl.map[0].exit_hi == 0.7f);
    pl.map[0].model_id = 1; /* a plain model keeps what it has */
    pl.map[0].exit_hi = 0;
    vd__plan_exits(&in, &pl);
    CHECK(pl.map[0].exit_hi == 0);
    vd_dag_free(d);
    vd_kb_free(kb), vd_kb_free(back), vd_kb_free(m);
}

/* In one process, as `vdag run` has it: the service's model 2 and its routes. */
static void test_inprocess(void)
{
    vd_error err = {0};
    vd_svc_opts o = {.threads = 1};
    vd_svc_instance *s = NULL;
    int rc = vd_svc_open("object_detection", 2, &o, &s, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (rc) return;
    for (int i = 0; i < N_FRAMES; i++) {
        json_t *out = NULL;
        CHECK(vd_svc_process(s, fr[i], NULL, &out, &err) == 0);
        json_t *a = json_object_get(out, "cascade");
        int unit = (int)json_integer_value(json_object_get(a, "unit"));
        CHECKF(unit == (i == HARD), "frame %d answered by unit %d", frame_ids[i], unit);
        json_t *want = i == HARD ? json_incref(want1[i]) : run_unit(1, spec.exit[0].lo, fr[i], 0);
        json_t *got = strip(out);
        CHECKF(same(got, want), "frame %d: the answer is not unit %d's own output", frame_ids[i],
               unit);
        CHECK(json_is_true(json_object_get(a, "confident")) &&
              !json_is_true(json_object_get(a, "fallback")));
        CHECK(i == HARD ? json_integer_value(json_object_get(a, "bytes")) > 10000
                        : json_integer_value(json_object_get(a, "bytes")) == 0);
        json_decref(got), json_decref(want), json_decref(out);
    }
    /* the band moves the route: empty band, the hard frame exits; all-uncertain, the easy one
     * (it has boxes) goes on */
    json_t *out = NULL;
    CHECK(vd_svc_set_exit(s, spec.exit[0].lo, spec.exit[0].lo, &err) == 0);
    CHECK(vd_svc_process(s, fr[HARD], NULL, &out, &err) == 0);
    CHECK(json_integer_value(json_object_get(json_object_get(out, "cascade"), "unit")) == 0);
    json_decref(out);
    CHECK(vd_svc_set_exit(s, spec.exit[0].lo, 1, &err) == 0);
    CHECK(vd_svc_process(s, fr[EASY], NULL, &out, &err) == 0);
    CHECK(json_integer_value(json_object_get(json_object_get(out, "cascade"), "unit")) == 1);
    json_decref(out);
    CHECK(vd_svc_set_exit(s, 0.6f, 0.5f, &err) == VD_EINVAL);
    CHECK(vd_svc_set_exit(s, 0, 0, &err) == 0); /* back to the model's own band */
    CHECK(vd_svc_process(s, fr[HARD], NULL, &out, &err) == 0);
    CHECK(json_integer_value(json_object_get(json_object_get(out, "cascade"), "unit")) == 1);
    json_decref(out);
    vd_svc_close(s);
}

typedef struct caller {
    vd_transport *t;
    int pos, k, bad, errors;
    char msg[512];
} caller;

/* Several requests in flight: each thread sends frames alternately; every reply must be its
 * own request's (id) with its own frame's answer. */
static void *call_main(void *arg)
{
    caller *c = arg;
    for (int r = 0; r < 2; r++) {
        int i = (c->k + r) % N_FRAMES;
        vd_cascade_reply rep;
        vd_error err = {0};
        vd_cascade_spec sp = spec;
        sp.exit[0].hi = 1; /* every frame with a box goes on: the relay is exercised */
        int rc = vd_cascade_call(c->t, NULL, &sp, c->pos, fr[i], 90, 60000, 0, &rep, NULL, &err);
        if (rc) {
            c->errors++;
            snprintf(c->msg, sizeof c->msg, "%s", err.msg);
            continue;
        }
        if (rep.unit != 1 || !same(rep.output, want1[i])) c->bad++;
        vd_cascade_reply_free(&rep);
    }
    return NULL;
}

static void test_nats(void)
{
    vd_error err = {0};
    vd_nats_server *ns = NULL;
    vd_nats_server_opts no = {.no_jetstream = 1};
    if (vd_nats_server_start(&no, &ns, &err)) {
        CHECKF(0, "nats-server: %s", err.msg);
        return;
    }
    vd_transport *cloud = NULL, *edge = NULL, *mid = NULL;
    vd_cascade_worker *w[3] = {0};
    vd_svc_opts o = {.threads = 1};
    int rc = vd_transport_nats_new(vd_nats_server_url(ns), "cloud", &cloud, &err);
    if (!rc) rc = vd_transport_nats_new(vd_nats_server_url(ns), "edge", &edge, &err);
    if (!rc) rc = vd_transport_nats_new(vd_nats_server_url(ns), "mid", &mid, &err);
    if (!rc) rc = vd_cascade_worker_start(cloud, "c1", "object_detection", 0, &o, &w[0], &err);
    if (!rc) rc = vd_cascade_worker_start(cloud, "c2", "object_detection", 0, &o, &w[1], &err);
    if (!rc) rc = vd_cascade_worker_start(mid, "m1", "object_detection", 1, &o, &w[2], &err);
    CHECKF(rc == 0, "%s", err.msg);
    /* the subscriptions reach the server: a first call that succeeds */
    vd_cascade_reply rep;
    for (int pos = 0; !rc && pos < 2; pos++) { /* until the subscriptions reach the server */
        rc = VD_ENOTFOUND;
        for (int k = 0; k < 100 && rc; k++) {
            rc = vd_cascade_call(edge, NULL, &spec, pos, fr[EASY], 90, 20000, 0, &rep, NULL, &err);
            if (!rc) vd_cascade_reply_free(&rep);
            if (rc) usleep(50000);
        }
    }
    CHECKF(rc == 0, "%s", err.msg);
    long b0 = 0, b1 = 0, bf = 0;
    vd_cascade_worker_stats(w[0], &b0, NULL);
    vd_cascade_worker_stats(w[1], &b1, NULL);
    vd_cascade_worker_stats(w[2], NULL, &bf);
    caller c[4];
    pthread_t th[4];
    for (int k = 0; k < 4; k++) {
        c[k] = (caller){.t = edge, .pos = k % 2, .k = k}; /* half through the bus's unit 0 */
        pthread_create(&th[k], NULL, call_main, &c[k]);
    }
    for (int k = 0; k < 4; k++) {
        pthread_join(th[k], NULL);
        CHECKF(c[k].errors == 0, "caller %d: %s", k, c[k].msg);
        CHECKF(c[k].bad == 0, "caller %d: %d replies not its own", k, c[k].bad);
    }
    long s0 = 0, s1 = 0, f2 = 0;
    vd_cascade_worker_stats(w[0], &s0, NULL);
    vd_cascade_worker_stats(w[1], &s1, NULL);
    vd_cascade_worker_stats(w[2], NULL, &f2);
    s0 -= b0, s1 -= b1, f2 -= bf;
    CHECKF(s0 > 0 && s1 > 0 && s0 + s1 == 8, "the queue group shares: %ld + %ld", s0, s1);
    CHECK(f2 == 4); /* unit 0 on the bus forwarded its 4 */

    /* unit 1 gone: unit 0 on the bus says so, with the code; or answers itself (fallback) */
    vd_transport_close(cloud);
    cloud = NULL;
    vd_cascade_spec sp = spec;
    sp.exit[0].hi = 1;
    rc = vd_cascade_call(edge, NULL, &sp, 0, fr[HARD], 90, 20000, 0, &rep, NULL, &err);
    CHECKF(rc == VD_EREMOTE && (err.remote == VD_ENOTFOUND || err.remote == VD_ETIMEDOUT) &&
               strstr(err.msg, "unit 1"),
           "rc %d remote %d: %s", rc, err.remote, err.msg);
    rc = vd_cascade_call(edge, NULL, &sp, 0, fr[HARD], 90, 20000, 1, &rep, NULL, &err);
    CHECKF(rc == 0 && rep.unit == 0 && rep.fallback && !rep.confident && rep.error[0], "rc %d: %s",
           rc, err.msg);
    if (!rc) {
        json_t *own = run_unit(1, spec.exit[0].lo, fr[HARD], 1);
        CHECK(same(rep.output, own)); /* unit 0's own answer on the JPEG it got */
        json_decref(own);
        vd_cascade_reply_free(&rep);
    }
    /* the cascade as a stage, on the bus: an error with the unit, or the fallback */
    vd_cascade_opts co = {.t = edge, .timeout_ms = 2000, .svc = {.threads = 1}};
    vd_cascade *cc = NULL;
    CHECK(vd_cascade_open(&spec, &co, &cc, &err) == 0);
    json_t *out = NULL;
    rc = cc ? vd_cascade_run(cc, fr[HARD], NULL, &out, &err) : -1;
    CHECKF((rc == VD_ENOTFOUND || rc == VD_ETIMEDOUT) && strstr(err.msg, "unit 1"), "rc %d: %s", rc,
           err.msg);
    vd_cascade_close(cc);
    co.fallback = 1;
    CHECK(vd_cascade_open(&spec, &co, &cc, &err) == 0);
    rc = cc ? vd_cascade_run(cc, fr[HARD], NULL, &out, &err) : -1;
    json_t *a = json_object_get(out, "cascade");
    CHECK(rc == 0 && json_is_true(json_object_get(a, "fallback")) &&
          json_integer_value(json_object_get(a, "unit")) == 0);
    json_decref(out);
    vd_cascade_close(cc);

    vd_transport_close(mid);
    vd_transport_close(edge);
    vd_transport_close(cloud);
    for (int k = 0; k < 3; k++) vd_cascade_worker_free(w[k]);
    vd_nats_server_stop(ns);
}

int main(void)
{
    vd_error err = {0};
    od = vd_service_find("object_detection");
    CHECK(od && vd_cascade_is(od->model_names[2]));
    if (!od || vd_cascade_parse(od, od->model_names[2], &spec, &err) || read_frames()) {
        CHECKF(0, "setup: %s", err.msg);
        return vt_finish();
    }
    test_parse();
    test_plan();
    test_kb();
    /* which is which, from nanodet's own scores */
    for (int i = 0; i < N_FRAMES; i++) {
        json_t *small = run_unit(1, spec.exit[0].lo, fr[i], 0);
        int conf = vd_exit_confident(od, &spec.exit[0], small);
        CHECKF(conf == (i == EASY), "frame %d: nanodet %s", frame_ids[i],
               conf ? "is sure" : "is unsure");
        json_decref(small);
        want1[i] = run_unit(0, 0, fr[i], 1);
    }
    test_inprocess();
    test_nats();
    for (int i = 0; i < N_FRAMES; i++) vd_frame_free(fr[i]), json_decref(want1[i]);
    return vt_finish();
}
