/*
 * The edge's metrics (metrics_hooks.h): frames processed and dropped per job, stage and frame
 * latencies, stage calls to other nodes and their bytes, live streams lost and reconnected,
 * and, read at each scrape, the jobs running, the videos, each live source's state and the
 * results outbox's depth.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "edge_internal.h"
#include "node/metrics_hooks.h"
#include "vdag/dag.h"
#include "vdag/metrics.h"

void vd__edge_metrics_step(const char *node, const char *job, const vd_dag *d, const json_t *res,
                           int frames)
{
    char l[384];
    vd_metrics_labels(l, sizeof l, "node", node, "job", job, (char *)NULL);
    vd_metric_add("vdag_frames_processed_total", l, frames);
    const json_t *dl = json_object_get(res, "delay");
    for (int s = 0; s < d->n_stages; s++) {
        const json_t *v = json_object_get(dl, d->stages[s].name);
        if (!json_is_number(v)) continue;
        vd_metrics_labels(l, sizeof l, "node", node, "stage", d->stages[s].name, (char *)NULL);
        vd_metric_observe("vdag_stage_latency_seconds", l, json_number_value(v));
    }
    const json_t *t = json_object_get(res, "total_frame_delay");
    if (json_is_number(t)) {
        vd_metrics_labels(l, sizeof l, "node", node, (char *)NULL);
        vd_metric_observe("vdag_frame_latency_seconds", l, json_number_value(t));
    }
}

void vd__edge_metrics_drop(const char *node, const char *job, int frames)
{
    char l[384];
    vd_metrics_labels(l, sizeof l, "node", node, "job", job, (char *)NULL);
    vd_metric_add("vdag_frames_dropped_total", l, frames);
}

void vd__edge_metrics_source(const char *node, const char *video, const char *what, double n)
{
    char l[384];
    vd_metrics_labels(l, sizeof l, "node", node, "video", video, (char *)NULL);
    vd_metric_add(strcmp(what, "lost") ? "vdag_source_reconnects_total" : "vdag_source_lost_total",
                  l, n);
}

void vd__metrics_remote_call(const char *peer, const char *service, size_t sent, size_t received,
                             int rc)
{
    char l[384];
    vd_metrics_labels(l, sizeof l, "peer", peer, (char *)NULL);
    vd_metric_add("vdag_remote_sent_bytes_total", l, (double)sent);
    vd_metric_add("vdag_remote_received_bytes_total", l, (double)received);
    vd_metrics_labels(l, sizeof l, "peer", peer, "service", service, "result",
                      rc ? vd_strerror(rc) : "ok", (char *)NULL);
    vd_metric_add("vdag_remote_calls_total", l, 1);
}

static void collect(void *arg, vd_metrics_out *o)
{
    vd_edge *e = arg;
    char l[256];
    pthread_mutex_lock(&e->mu);
    int running = 0;
    for (int i = 0; i < e->n_jobs; i++) {
        job *j = e->jobs[i];
        if (j->state != J_RUN) continue;
        running++;
        if (!j->src_live) continue;
        vd_metrics_labels(l, sizeof l, "node", e->name, "job", j->uid, "video", j->video.id,
                          (char *)NULL);
        vd_metrics_emit(o, "vdag_source_up", l, j->src_st.up);
    }
    int videos = e->o.n_videos;
    pthread_mutex_unlock(&e->mu);
    vd_metrics_labels(l, sizeof l, "node", e->name, (char *)NULL);
    vd_metrics_emit(o, "vdag_edge_videos", l, videos);
    vd_metrics_labels(l, sizeof l, "node", e->name, (char *)NULL);
    vd_metrics_emit(o, "vdag_edge_jobs_running", l, running);
    pthread_mutex_lock(&e->out_mu);
    int waiting = e->out_n;
    pthread_mutex_unlock(&e->out_mu);
    vd_metrics_labels(l, sizeof l, "node", e->name, "queue", "results_outbox", (char *)NULL);
    vd_metrics_emit(o, "vdag_queue_depth", l, waiting);
}

void vd__edge_metrics_start(vd_edge *e)
{
    vd_metrics_collector_add(collect, e);
}

void vd__edge_metrics_stop(vd_edge *e)
{
    vd_metrics_collector_remove(collect, e);
}
