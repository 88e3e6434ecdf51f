/*
 * The edge's link model (edge_internal.h, "links"): per node it sends frames to, the round
 * trip and the bandwidth, from passive measurement of real transfers — every answered
 * remote-stage call gives (request bytes, call time, the host's own time) — plus a short,
 * bounded active probe when there is no traffic: a 1-byte and a PROBE_BYTES echo
 * (svc.echo, served by every service host) to each node the jobs' plans name, or the cloud
 * named as a candidate ("peers" of its plan messages), that no transfer reached for IDLE_MS. The
 * heartbeat carries the table ("links"), the cloud gives it to the scheduler
 * (vd_sched_input.links).
 *
 * Estimates: a transfer's network time is the call's time less the host's (decode and
 * compute); a small transfer (< SMALL_BYTES) is a round-trip sample, a larger one a
 * bandwidth sample: bytes / (network time - round trip), at least a fifth of the network
 * time. Both are moving averages (weight ALPHA of the newest), so a change of the link shows
 * within a few calls.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/edge_internal.h"
#include "vdag/base.h"

#define SMALL_BYTES 4096
#define ALPHA       0.3
#define IDLE_MS     10000.0 /* a link with no transfer for this long is probed */
#define PROBE_BYTES (128 * 1024)
#define PROBE_TO_MS 2000
#define MAX_AGE_MS  60000.0 /* older measurements are not reported */

static vd__link *find(vd__links *L, const char *to, int make)
{
    for (int i = 0; i < L->n; i++)
        if (!strcmp(L->e[i].to, to)) return &L->e[i];
    if (!make || L->n == VD__MAX_LINKS) return NULL;
    vd__link *k = &L->e[L->n++];
    memset(k, 0, sizeof *k);
    snprintf(k->to, sizeof k->to, "%s", to);
    return k;
}

void vd__link_observe(vd__links *L, const char *to, size_t bytes, double call_ms, double host_ms)
{
    if (!to || !*to || call_ms <= 0) return;
    double net_s = (call_ms - (host_ms > 0 ? host_ms : 0)) / 1000.0;
    if (net_s <= 0) net_s = 1e-5;
    pthread_mutex_lock(&L->mu);
    vd__link *k = find(L, to, 1);
    if (k) {
        k->last_ms = vd_now_ms();
        k->n++;
        if (bytes < SMALL_BYTES) {
            k->rtt_s = k->n_rtt++ ? (1 - ALPHA) * k->rtt_s + ALPHA * net_s : net_s;
        } else {
            double rtt = k->n_rtt ? k->rtt_s : 0;
            double t = net_s - rtt;
            if (t < net_s / 5) t = net_s / 5;
            double bw = (double)bytes / t;
            k->bw_Bps = k->n_bw++ ? (1 - ALPHA) * k->bw_Bps + ALPHA * bw : bw;
        }
    }
    pthread_mutex_unlock(&L->mu);
}

json_t *vd__links_json(vd__links *L)
{
    json_t *a = json_array();
    double now = vd_now_ms();
    pthread_mutex_lock(&L->mu);
    for (int i = 0; i < L->n; i++) {
        const vd__link *k = &L->e[i];
        if (now - k->last_ms > MAX_AGE_MS || (!k->n_bw && !k->n_rtt)) continue;
        json_t *o = json_pack("{s:s,s:I,s:f}", "to", k->to, "n", (json_int_t)k->n, "age_s",
                              (now - k->last_ms) / 1000.0);
        if (k->n_bw) json_object_set_new(o, "bw_Bps", json_real(k->bw_Bps));
        if (k->n_rtt) json_object_set_new(o, "rtt_s", json_real(k->rtt_s));
        json_array_append_new(a, o);
    }
    pthread_mutex_unlock(&L->mu);
    return a;
}

void vd__links_set_peers(vd__links *L, json_t *peers)
{
    if (!json_is_array(peers)) return;
    pthread_mutex_lock(&L->mu);
    L->n_peers = 0;
    size_t i;
    json_t *p;
    json_array_foreach(peers, i, p)
    {
        const char *s = json_string_value(p);
        if (s && *s && strlen(s) < sizeof L->peers[0] && L->n_peers < VD__MAX_LINKS)
            snprintf(L->peers[L->n_peers++], sizeof L->peers[0], "%s", s);
    }
    pthread_mutex_unlock(&L->mu);
}

/* One echo of n bytes to node: observed like a stage call (the host's time is ~0). */
static void echo(vd_edge *e, const char *node, size_t n, unsigned char *buf)
{
    vd_buf req = {buf, n}, resp = {0};
    vd_error err = {0};
    double t0 = vd_now_ms();
    int rc = vd_transport_call(e->o.tr, node, "svc.echo", &req, &resp, PROBE_TO_MS, &err);
    double ms = vd_now_ms() - t0;
    vd_buf_free(&resp);
    if (!rc) vd__link_observe(&e->links, node, n, ms, 0);
}

/* Add node `to` to the set (not this edge, not twice, at most VD__MAX_LINKS). */
static void add_node(char nodes[][64], int *nn, const char *to, const char *self)
{
    if (!to[0] || !strcmp(to, self) || *nn == VD__MAX_LINKS) return;
    for (int k = 0; k < *nn; k++)
        if (!strcmp(nodes[k], to)) return;
    snprintf(nodes[(*nn)++], 64, "%s", to);
}

static void probe(vd_edge *e)
{
    char nodes[VD__MAX_LINKS][64];
    int nn = 0;
    double now = vd_now_ms();
    pthread_mutex_lock(&e->mu); /* the nodes the running jobs' plans use */
    for (int i = 0; i < e->n_jobs; i++) {
        const job *j = e->jobs[i];
        for (int s = 0; j->state == J_RUN && j->has_applied && s < j->applied.n_stages; s++)
            add_node(nodes, &nn, j->applied.map[s].node, e->name);
    }
    pthread_mutex_unlock(&e->mu);
    pthread_mutex_lock(&e->links.mu); /* and the candidates the cloud named */
    for (int p = 0; p < e->links.n_peers; p++) add_node(nodes, &nn, e->links.peers[p], e->name);
    pthread_mutex_unlock(&e->links.mu);
    unsigned char *buf = NULL;
    for (int k = 0; k < nn; k++) {
        pthread_mutex_lock(&e->links.mu);
        vd__link *l = find(&e->links, nodes[k], 0);
        int idle = !l || now - l->last_ms > IDLE_MS;
        pthread_mutex_unlock(&e->links.mu);
        if (!idle) continue;
        if (!buf && !(buf = calloc(1, PROBE_BYTES))) return;
        echo(e, nodes[k], 1, buf);
        echo(e, nodes[k], PROBE_BYTES, buf);
    }
    free(buf);
}

void *vd__links_main(void *arg)
{
    vd_edge *e = arg;
    pthread_mutex_lock(&e->mu);
    while (!e->stopping) {
        struct timespec ts = vd_deadline(CLOCK_REALTIME, 1000);
        pthread_cond_timedwait(&e->cv, &e->mu, &ts);
        if (e->stopping) break;
        pthread_mutex_unlock(&e->mu);
        probe(e);
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}
