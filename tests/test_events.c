/*
 * The cloud's events (src/node/cloud_events.c) fed result headers directly, on the
 * in-process transport with a subscriber on vdag.event.>: a "result" per result, "count"
 * only when the counts changed, "enter" for a new track id with its label from the
 * service's schema, "leave" once an id is missing from leave_frames results, every item of
 * any stage's "events" array (a stage the core knows nothing of) with job, node, seq and
 * stage added, plan, done and node events; subjects for job uids with dots and odd
 * characters; bad input (not objects, wrong types) is skipped, never a crash.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/cloud_events.h"
#include "testlib.h"
#include "vdag/base.h"
#include "vdag/dag.h"
#include "vdag/net.h"

typedef struct got {
    pthread_mutex_t mu;
    int n;
    char subject[256][128];
    json_t *ev[256];
} got;

static void on_event(void *arg, const char *subject, const vd_buf *msg)
{
    got *g = arg;
    pthread_mutex_lock(&g->mu);
    if (g->n < 256) {
        snprintf(g->subject[g->n], sizeof g->subject[0], "%s", subject);
        g->ev[g->n++] = json_loadb((const char *)msg->data, msg->len, 0, NULL);
    }
    pthread_mutex_unlock(&g->mu);
}

/* The events on subject so far (after a flush and the dispatcher's delivery). */
static int count(got *g, const char *subject)
{
    pthread_mutex_lock(&g->mu);
    int n = 0;
    for (int i = 0; i < g->n; i++) n += !strcmp(g->subject[i], subject);
    pthread_mutex_unlock(&g->mu);
    return n;
}

/* The k-th event (0: first) on subject, or NULL. */
static json_t *nth(got *g, const char *subject, int k)
{
    json_t *r = NULL;
    pthread_mutex_lock(&g->mu);
    for (int i = 0; i < g->n && !r; i++)
        if (!strcmp(g->subject[i], subject) && k-- == 0) r = g->ev[i];
    pthread_mutex_unlock(&g->mu);
    return r;
}

/* Wait until n events arrived in all (the inproc dispatcher delivers on its own thread). */
static void settle(vd__events *ev, got *g, int n)
{
    vd__events_flush(ev, 5000);
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&g->mu);
        int have = g->n;
        pthread_mutex_unlock(&g->mu);
        if (have >= n) return;
        usleep(10000);
    }
}

/* A result header: object_detection found the ids (persons), "zones" made events. */
static json_t *hdr_of(int seq, const int *ids, int n, json_t *zone_events)
{
    json_t *boxes = json_array(), *labels = json_array(), *tids = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(boxes, json_pack("[i,i,i,i]", 10 * i, 0, 10 * i + 5, 20));
        json_array_append_new(labels, json_string(ids[i] == 7 ? "car" : "person"));
        json_array_append_new(tids, json_integer(ids[i]));
    }
    int persons = 0;
    for (int i = 0; i < n; i++) persons += ids[i] != 7;
    json_t *counts = persons ? json_pack("{s:i}", "person", persons) : json_object();
    json_t *stages = json_pack("{s:{s:o,s:o,s:o}}", "object_detection", "bbox", boxes, "labels",
                               labels, "track_ids", tids);
    if (zone_events)
        json_object_set_new(stages, "zones", json_pack("{s:o}", "events", zone_events));
    return json_pack("{s:s,s:i,s:i,s:i,s:{s:i,s:o,s:o}}", "node", "e1", "run", 1, "seq", seq,
                     "plan_version", 2, "result", "cam_frame_id", 100 + seq, "count_result", counts,
                     "stages", stages);
}

int main(void)
{
    vd_transport *tr = NULL;
    vd_error err = {0};
    CHECK(vd_transport_inproc_new(&tr, &err) == 0);
    got g = {.n = 0};
    pthread_mutex_init(&g.mu, NULL);
    CHECK(tr->ops->subscribe(tr, "vdag.event.>", on_event, &g, &err) == 0);
    vd_dag *dag = NULL;
    CHECK(vd_dag_from_pipeline("object_detection", &dag, &err) == 0);
    vd__events *ev = NULL;
    vd__events_opts o = {.cloud = "cloud", .tr = tr, .leave_frames = 3};
    CHECK(vd__events_start(&o, &ev, &err) == 0 && ev);
    if (!ev || !dag) return vt_finish();

    char tok[64];
    vd__ev_token(tok, sizeof tok, "a1b2.3", 1);
    CHECK(!strcmp(tok, "a1b2.3"));
    vd__ev_token(tok, sizeof tok, ".x..y *>.", 1);
    CHECK(!strcmp(tok, "_x._y____"));
    vd__ev_token(tok, sizeof tok, "traffic light", 0);
    CHECK(!strcmp(tok, "traffic_light"));
    vd__ev_token(tok, sizeof tok, "", 1);
    CHECK(!strcmp(tok, "_"));

    vd__ev_job *st = NULL;
    const char *job = "a1b2.7";
    /* 1: ids 1, 2 (2 persons); 2: the same; 3: id 1 and a car (id 7), a line crossing; 4-6: id
     * 1 only: 2 and 7 are missing from 3 results after 3 and 6 */
    int f1[] = {1, 2}, f3[] = {1, 7}, f4[] = {1};
    json_t *zev = json_pack("[{s:s,s:s,s:s,s:i,s:s},{s:s,s:s,s:s,s:i,s:s,s:s},i,{s:i}]", "type",
                            "line_cross", "line", "door", "dir", "in", "track_id", 1, "label",
                            "person", "type", "zone_enter", "zone", "shop floor", "dir", "in",
                            "track_id", 7, "label", "car", "job", "forged", 5, "type", 3);
    json_t *h[6] = {hdr_of(1, f1, 2, NULL), hdr_of(2, f1, 2, NULL), hdr_of(3, f3, 2, zev),
                    hdr_of(4, f4, 1, NULL), hdr_of(5, f4, 1, NULL), hdr_of(6, f4, 1, NULL)};
    for (int i = 0; i < 6; i++) vd__events_result(ev, &st, job, dag, h[i]);
    /* 6 results, counts changed at 1 and 3 (2 -> 1 persons), enter 1, 2, 7, leave 2 at 5 (not
     * in 3, 4, 5), 7 at 6, 2 stage events + 1 with a non-string type */
    settle(ev, &g, 6 + 2 + 3 + 2 + 3);
    CHECK(count(&g, "vdag.event.result.a1b2.7") == 6);
    CHECK(count(&g, "vdag.event.count.a1b2.7") == 2);
    CHECK(count(&g, "vdag.event.enter.a1b2.7") == 3);
    CHECK(count(&g, "vdag.event.leave.a1b2.7") == 2);
    CHECK(count(&g, "vdag.event.line_cross.a1b2.7") == 1);
    CHECK(count(&g, "vdag.event.zone_enter.a1b2.7") == 1);
    CHECK(count(&g, "vdag.event.event.a1b2.7") == 1); /* {"type": 3} */
    json_t *r = nth(&g, "vdag.event.result.a1b2.7", 2);
    CHECK(r && json_integer_value(json_object_get(r, "seq")) == 3 &&
          json_integer_value(json_object_get(r, "plan_version")) == 2 &&
          !strcmp(json_string_value(json_object_get(r, "node")), "e1") &&
          !strcmp(json_string_value(json_object_get(r, "cloud")), "cloud") &&
          json_object_get(json_object_get(json_object_get(r, "result"), "stages"), "zones"));
    json_t *c = nth(&g, "vdag.event.count.a1b2.7", 1);
    CHECK(c && json_integer_value(json_object_get(json_object_get(c, "counts"), "person")) == 1 &&
          json_integer_value(json_object_get(
              json_object_get(json_object_get(c, "changed"), "person"), "from")) == 2 &&
          json_integer_value(json_object_get(c, "seq")) == 3);
    json_t *e = nth(&g, "vdag.event.enter.a1b2.7", 2);
    CHECK(e && json_integer_value(json_object_get(e, "track_id")) == 7 &&
          !strcmp(json_string_value(json_object_get(e, "label")), "car") &&
          !strcmp(json_string_value(json_object_get(e, "stage")), "object_detection") &&
          json_integer_value(json_object_get(e, "cam_frame_id")) == 103);
    json_t *l = nth(&g, "vdag.event.leave.a1b2.7", 0);
    CHECK(l && json_integer_value(json_object_get(l, "track_id")) == 2 &&
          json_integer_value(json_object_get(l, "seq")) == 5 &&
          !strcmp(json_string_value(json_object_get(l, "label")), "person"));
    json_t *z = nth(&g, "vdag.event.zone_enter.a1b2.7", 0);
    CHECK(z && !strcmp(json_string_value(json_object_get(z, "zone")), "shop floor") &&
          !strcmp(json_string_value(json_object_get(z, "job")), job) && /* not "forged" */
          !strcmp(json_string_value(json_object_get(z, "stage")), "zones") &&
          json_integer_value(json_object_get(z, "seq")) == 3 &&
          json_integer_value(json_object_get(z, "track_id")) == 7);
    json_t *x = nth(&g, "vdag.event.line_cross.a1b2.7", 0);
    CHECK(x && !strcmp(json_string_value(json_object_get(x, "line")), "door") &&
          !strcmp(json_string_value(json_object_get(x, "dir")), "in"));

    /* bad input: skipped */
    json_t *bad[] = {json_pack("{s:i}", "result", 3),
                     json_pack("{s:{s:i,s:s}}", "result", "count_result", 1, "stages", "x"),
                     json_pack("{s:{s:{s:{s:s,s:[s]}}}}", "result", "stages", "od", "track_ids",
                               "x", "events", "y"),
                     json_pack("{s:{s:[i,{}]}}", "result", "clip", 1)};
    for (int i = 0; i < 4; i++) vd__events_result(ev, &st, job, dag, bad[i]);
    vd__events_result(ev, &st, job, NULL, h[0]); /* no DAG: no labels, still events */

    /* a job uid with characters no subject takes; plans, the end, nodes */
    json_t *ch =
        json_pack("{s:i,s:s,s:s}", "plan_version", 3, "why", "periodic", "reason", "over_bound");
    vd__events_plan(ev, "my job*", "e1", ch);
    vd__events_done(ev, &st, job, "e1", "stopped", "stopped by the user");
    CHECK(st == NULL);
    vd__events_node(ev, "e2", "edge", 1, "joined");
    vd__events_node(ev, "e2", "edge", 0, "silent for 3.1 s");
    /* 4 results (bad[1..3], h[0]), id 1 leaves (bad[3]'s clip frame is the third without it),
     * 1 and 2 enter again (no DAG: another stage), the counts change; plan, done, 2 nodes */
    settle(ev, &g, 16 + 4 + 1 + 2 + 1 + 4);
    json_t *p = nth(&g, "vdag.event.plan.my_job_", 0);
    CHECK(p && !strcmp(json_string_value(json_object_get(p, "job")), "my job*") &&
          !strcmp(json_string_value(json_object_get(p, "why")), "periodic"));
    json_t *d = nth(&g, "vdag.event.done.a1b2.7", 0);
    CHECK(d && !strcmp(json_string_value(json_object_get(d, "reason")), "stopped"));
    json_t *nu = nth(&g, "vdag.event.node_up.e2", 0), *nd = nth(&g, "vdag.event.node_down.e2", 0);
    CHECK(nu && nd && !strcmp(json_string_value(json_object_get(nu, "role")), "edge") &&
          strstr(json_string_value(json_object_get(nd, "why")), "silent"));
    vd__events_stats s;
    vd__events_stats_get(ev, &s);
    pthread_mutex_lock(&g.mu);
    int n = g.n;
    pthread_mutex_unlock(&g.mu);
    CHECKF(s.published == (uint64_t)n && s.dropped == 0 && !s.mqtt, "published %llu, got %d",
           (unsigned long long)s.published, n);

    vd__events_stop(ev);
    vd__events_node(ev, "e3", "edge", 1, "joined"); /* after stop: dropped, no crash */
    vd__events_free(ev);
    for (int i = 0; i < 6; i++) json_decref(h[i]);
    for (int i = 0; i < 4; i++) json_decref(bad[i]);
    json_decref(ch);
    vd_transport_close(tr);
    for (int i = 0; i < g.n; i++) json_decref(g.ev[i]);
    vd_dag_free(dag);
    return vt_finish();
}
