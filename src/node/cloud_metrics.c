/*
 * The cloud's metrics (metrics_hooks.h): plan changes by reason, and, read at each scrape
 * from its tables, node liveness (every node it has heard of: 1 while in the table, 0 once
 * dropped), heartbeat ages, jobs by state, the adoption and events queues' depths and the
 * events published and dropped per sink (cloud_events.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud_internal.h"
#include "node/metrics_hooks.h"
#include "vdag/base.h"
#include "vdag/metrics.h"

#define SEEN_MAX 256

/* A cloud's collector state: the nodes it has heard of (name, role), for vdag_node_up 0. */
typedef struct cm {
    vd_cloud *c;
    int n_seen;
    char seen[SEEN_MAX][2][64];
} cm;

static pthread_mutex_t cms_mu = PTHREAD_MUTEX_INITIALIZER;
static cm *cms[8];

void vd__cloud_metrics_plan(const char *cloud, const char *why, const char *reason)
{
    char l[256];
    vd_metrics_labels(l, sizeof l, "node", cloud, "trigger", why, "reason", reason, (char *)NULL);
    vd_metric_add("vdag_plan_changes_total", l, 1);
}

static void collect(void *arg, vd_metrics_out *o)
{
    cm *m = arg;
    vd_cloud *c = m->c;
    static const char *states[] = {"UNSCHED", "EXEC", "DONE"};
    int by_state[3] = {0};
    char l[256];
    int up[SEEN_MAX] = {0};
    pthread_mutex_lock(&c->mu);
    double now = vd_now_ms();
    for (int i = 0; i < c->n_nodes; i++) {
        const node_ent *n = &c->nodes[i];
        int k = 0;
        while (k < m->n_seen && strcmp(m->seen[k][0], n->name)) k++;
        if (k == m->n_seen && k < SEEN_MAX) {
            snprintf(m->seen[k][0], sizeof m->seen[k][0], "%s", n->name);
            m->n_seen++;
        }
        if (k < SEEN_MAX) {
            snprintf(m->seen[k][1], sizeof m->seen[k][1], "%s", n->role);
            up[k] = 1;
        }
        vd_metrics_labels(l, sizeof l, "node", n->name, "role", n->role, (char *)NULL);
        vd_metrics_emit(o, "vdag_node_heartbeat_age_seconds", l, (now - n->last_seen) / 1e3);
    }
    for (int k = 0; k < c->n_jobs; k++)
        if (!c->jobs[k]->removed && c->jobs[k]->state >= 0 && c->jobs[k]->state < 3)
            by_state[c->jobs[k]->state]++;
    int adopt = c->n_adopt;
    pthread_mutex_unlock(&c->mu);
    for (int k = 0; k < m->n_seen; k++) {
        vd_metrics_labels(l, sizeof l, "node", m->seen[k][0], "role", m->seen[k][1], (char *)NULL);
        vd_metrics_emit(o, "vdag_node_up", l, up[k]);
    }
    for (int s = 0; s < 3; s++) {
        vd_metrics_labels(l, sizeof l, "node", c->name, "state", states[s], (char *)NULL);
        vd_metrics_emit(o, "vdag_jobs", l, by_state[s]);
    }
    vd_metrics_labels(l, sizeof l, "node", c->name, "queue", "adoption", (char *)NULL);
    vd_metrics_emit(o, "vdag_queue_depth", l, adopt);
    vd__events_stats es;
    vd__events_stats_get(c->ev, &es);
    vd_metrics_labels(l, sizeof l, "node", c->name, "queue", "events", (char *)NULL);
    vd_metrics_emit(o, "vdag_queue_depth", l, es.queued);
    vd_metrics_labels(l, sizeof l, "node", c->name, "sink", "bus", (char *)NULL);
    vd_metrics_emit(o, "vdag_events_published_total", l, (double)es.published);
    vd_metrics_emit(o, "vdag_events_dropped_total", l, (double)es.dropped);
    if (es.mqtt) {
        vd_metrics_labels(l, sizeof l, "node", c->name, "sink", "mqtt", (char *)NULL);
        vd_metrics_emit(o, "vdag_events_published_total", l, (double)es.m.published);
        vd_metrics_emit(o, "vdag_events_dropped_total", l, (double)es.m.dropped);
        vd_metrics_labels(l, sizeof l, "node", c->name, "queue", "mqtt", (char *)NULL);
        vd_metrics_emit(o, "vdag_queue_depth", l, es.m.queued);
    }
}

void vd__cloud_metrics_start(vd_cloud *c)
{
    cm *m = calloc(1, sizeof *m);
    if (!m) return;
    m->c = c;
    pthread_mutex_lock(&cms_mu);
    int k = 0;
    while (k < 8 && cms[k]) k++;
    if (k < 8) cms[k] = m;
    pthread_mutex_unlock(&cms_mu);
    if (k == 8 || vd_metrics_collector_add(collect, m)) {
        pthread_mutex_lock(&cms_mu);
        if (k < 8) cms[k] = NULL;
        pthread_mutex_unlock(&cms_mu);
        free(m);
    }
}

void vd__cloud_metrics_stop(vd_cloud *c)
{
    cm *m = NULL;
    pthread_mutex_lock(&cms_mu);
    for (int k = 0; k < 8; k++)
        if (cms[k] && cms[k]->c == c) m = cms[k], cms[k] = NULL;
    pthread_mutex_unlock(&cms_mu);
    if (!m) return;
    vd_metrics_collector_remove(collect, m);
    free(m);
}
