/*
 * bench_events: what the cloud's events cost per result (src/node/cloud_events.c), on the
 * cloud's thread (under its lock: making and queueing the events) and in all (until the
 * publisher thread has published them on the in-process bus, one subscriber).
 *
 *   build/bench_events [--results N] [--boxes N]
 *
 * Each result: object_detection with N tracked boxes (labels, scores, classes, track ids;
 * ids drift so that a few tracks enter and leave every frame) and a count_result that changes
 * every few frames, the shape an edge sends with ntracking.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/cloud_events.h"
#include "vdag/base.h"
#include "vdag/dag.h"
#include "vdag/net.h"

static atomic_long got;

static void on_event(void *arg, const char *subject, const vd_buf *msg)
{
    (void)arg, (void)subject, (void)msg;
    atomic_fetch_add(&got, 1);
}

static json_t *result(int seq, int boxes)
{
    json_t *bb = json_array(), *lab = json_array(), *sc = json_array(), *cl = json_array(),
           *ids = json_array();
    for (int i = 0; i < boxes; i++) {
        json_array_append_new(bb, json_pack("[f,f,f,f]", 10.5 * i, 20.0, 10.5 * i + 30, 90.0));
        json_array_append_new(lab, json_string("person"));
        json_array_append_new(sc, json_real(0.8));
        json_array_append_new(cl, json_integer(0));
        json_array_append_new(ids, json_integer(seq / 20 + i)); /* one enters every 20 */
    }
    return json_pack("{s:s,s:i,s:i,s:{s:i,s:{s:i},s:{s:{s:o,s:o,s:o,s:o,s:o}}}}", "node", "e1",
                     "run", 1, "seq", seq, "result", "cam_frame_id", seq, "count_result", "person",
                     boxes - (seq / 7) % 2, "stages", "object_detection", "bbox", bb, "labels", lab,
                     "scores", sc, "classes", cl, "track_ids", ids);
}

int main(int argc, char **argv)
{
    int n = 5000, boxes = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--results")) n = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--boxes")) boxes = atoi(argv[i + 1]);
    }
    vd_error err = {0};
    vd_transport *tr = NULL;
    vd_dag *dag = NULL;
    vd__events *ev = NULL;
    int rc = vd_transport_inproc_new(&tr, &err);
    vd__events_opts o = {.cloud = "cloud", .tr = tr, .max_queue = 1 << 20};
    if (rc || tr->ops->subscribe(tr, "vdag.event.>", on_event, NULL, &err) ||
        vd_dag_from_pipeline("object_detection", &dag, &err) || vd__events_start(&o, &ev, &err)) {
        fprintf(stderr, "bench_events: %s\n", err.msg);
        return 1;
    }
    json_t **h = malloc(sizeof *h * (size_t)n);
    for (int i = 0; i < n; i++) h[i] = result(i + 1, boxes);
    vd__ev_job *st = NULL;
    double t0 = vd_now_ms();
    for (int i = 0; i < n; i++) vd__events_result(ev, &st, "bench.1", dag, h[i]);
    double t1 = vd_now_ms();
    vd__events_flush(ev, 60000);
    double t2 = vd_now_ms();
    vd__events_stats s;
    vd__events_stats_get(ev, &s);
    printf("{\"results\":%d,\"boxes\":%d,\"events\":%llu,\"dropped\":%llu,"
           "\"us_per_result_producer\":%.1f,\"us_per_result_published\":%.1f}\n",
           n, boxes, (unsigned long long)s.published, (unsigned long long)s.dropped,
           (t1 - t0) * 1e3 / n, (t2 - t0) * 1e3 / n);
    vd__ev_job_free(st);
    vd__events_free(ev);
    vd_transport_close(tr);
    for (int i = 0; i < n; i++) json_decref(h[i]);
    free(h);
    vd_dag_free(dag);
    return 0;
}
