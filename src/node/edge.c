/*
 * The edge (the seed's job manager): owns video sources and runs jobs, one thread each
 * (edge_job.c), takes commands from the cloud (edge_cmd.c) and publishes a heartbeat
 * every second (vdag.hb.<name>): videos, resources, running jobs, the knowledge base by
 * version. Results go to the cloud through an outbox (edge_out.c).
 * edge_internal.h holds what the three files share.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edge_internal.h"
#include "node/metrics_hooks.h"
#include "vdag/base.h"

#define KB_RESEND_MS 30000 /* the kb rides in a heartbeat this often even when unchanged */

/* ---- heartbeat --------------------------------------------------------------------- */

static json_t *heartbeat(vd_edge *e)
{
    json_t *jobs = json_array();
    pthread_mutex_lock(&e->mu);
    json_t *videos = vd__edge_videos_json(e);
    for (int i = 0; i < e->n_jobs; i++)
        if (e->jobs[i]->state == J_RUN) json_array_append_new(jobs, json_string(e->jobs[i]->uid));
    pthread_mutex_unlock(&e->mu);
    json_t *hb = json_pack("{s:s,s:s,s:s,s:o,s:o,s:s,s:f}", "name", e->name, "role", "edge", "addr",
                           e->addr, "video", videos, "jobs", jobs, "instance", e->instance,
                           "started_ms", e->started_ms);
    if (e->host) {
        json_t *info = vd__svchost_resource_info(e->host, &e->res);
        json_object_set_new(hb, "resources", info);
        /* the kb (kilobytes) only when it changed, and every KB_RESEND_MS for a cloud that
         * started since (it also asks with node.get_kb when it sees a version it lacks) */
        uint64_t v = vd_svchost_kb_version(e->host);
        json_object_set_new(hb, "kb_version", json_integer((json_int_t)v));
        double now = vd_now_ms();
        if (v && (v != e->kb_sent_version || now - e->kb_sent_at >= KB_RESEND_MS)) {
            json_t *kb = vd_kb_to_json(vd_svchost_kb(e->host));
            if (kb) {
                json_object_set_new(hb, "kb", kb);
                e->kb_sent_version = v;
                e->kb_sent_at = now;
            }
        }
    } else {
        vd_resources_sample(&e->res, NULL);
        json_object_set_new(hb, "resources", vd_resources_json(&e->res));
    }
    json_t *svcs = json_array();
    for (const vd_service *const *s = vd_service_all(); e->host && *s; s++)
        json_array_append_new(svcs, json_string((*s)->name));
    json_object_set_new(hb, "services", svcs);
    json_object_set_new(hb, "links", vd__links_json(&e->links));
    json_t *models = vd__models_progress(); /* models fetched from a cloud, and how far */
    if (json_object_size(models))
        json_object_set_new(hb, "models", models);
    else
        json_decref(models);
    return hb;
}

static void *hb_main(void *arg)
{
    vd_edge *e = arg;
    pthread_mutex_lock(&e->mu);
    while (!e->serving && !e->stopping) /* announce the node once its commands are served */
        pthread_cond_wait(&e->cv, &e->mu);
    while (!e->stopping) {
        pthread_mutex_unlock(&e->mu);
        json_t *hb = heartbeat(e);
        char *s = json_dumps(hb, JSON_COMPACT);
        json_decref(hb);
        if (s) {
            vd_buf b = {(unsigned char *)s, strlen(s)};
            e->o.tr->ops->publish(e->o.tr, e->hb_subject, &b, NULL);
            free(s);
        }
        pthread_mutex_lock(&e->mu);
        struct timespec ts = vd_deadline(CLOCK_REALTIME, 1000);
        if (!e->stopping) pthread_cond_timedwait(&e->cv, &e->mu, &ts);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* Another node's heartbeat under this node's name (transport thread): two nodes of one name
 * would both get every command sent to it (a job would run twice). The one that started
 * later (then the larger instance id) gives way: it is marked in conflict, and its owner
 * stops it (vd_edge_conflict). */
static void on_peer_heartbeat(void *arg, const char *subject, const vd_buf *msg)
{
    vd_edge *e = arg;
    (void)subject;
    json_t *hb = json_loadb((const char *)msg->data, msg->len, 0, NULL);
    const char *name = json_string_value(json_object_get(hb, "name"));
    const char *inst = json_string_value(json_object_get(hb, "instance"));
    double started = json_number_value(json_object_get(hb, "started_ms"));
    const char *paddr = json_string_value(json_object_get(hb, "addr"));
    if (name && strcmp(name, e->name) && paddr && *paddr && strlen(name) < 64 &&
        strlen(paddr) < 128) {
        pthread_mutex_lock(&e->mu);
        int i = 0;
        while (i < e->n_peers && strcmp(e->peers[i].name, name)) i++;
        if (i < VD_MAX_NODES) {
            snprintf(e->peers[i].name, sizeof e->peers[i].name, "%s", name);
            snprintf(e->peers[i].addr, sizeof e->peers[i].addr, "%s", paddr);
            if (i == e->n_peers) e->n_peers++;
        }
        pthread_mutex_unlock(&e->mu);
    }
    if (name && inst && !strcmp(name, e->name) && strcmp(inst, e->instance) &&
        (started < e->started_ms || (started == e->started_ms && strcmp(inst, e->instance) < 0))) {
        const char *addr = json_string_value(json_object_get(hb, "addr"));
        pthread_mutex_lock(&e->mu);
        if (!e->conflict) {
            e->conflict = 1;
            snprintf(e->conflict_msg, sizeof e->conflict_msg,
                     "another node named '%.64s' (at %.64s) started first; give this one another "
                     "--name",
                     e->name, addr && *addr ? addr : "an unknown address");
            fprintf(stderr, "vdag %s: %s\n", e->name, e->conflict_msg);
        }
        pthread_mutex_unlock(&e->mu);
    }
    json_decref(hb);
}

int vd_edge_conflict(vd_edge *e, char *msg, size_t n)
{
    pthread_mutex_lock(&e->mu);
    int c = e->conflict;
    if (c && msg && n) snprintf(msg, n, "%s", e->conflict_msg);
    pthread_mutex_unlock(&e->mu);
    return c;
}

int vd_edge_start(const vd_node_opts *o, vd_svchost *host, vd_edge **out, vd_error *err)
{
    *out = NULL;
    if (!o->tr) return vd_fail(err, VD_EINVAL, "edge: no transport");
    vd_edge *e = calloc(1, sizeof *e);
    if (!e) return vd_fail(err, VD_ENOMEM, "out of memory");
    e->o = *o;
    snprintf(e->name, sizeof e->name, "%s", o->name ? o->name : "edge");
    snprintf(e->addr, sizeof e->addr, "%s", o->addr ? o->addr : "");
    e->o.name = e->name;
    e->o.addr = e->addr;
    if (e->o.threads <= 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        e->o.threads = nc > 1 ? (int)nc - 1 : 1;
    }
    e->host = host;
    vd__node_instance(e->instance, sizeof e->instance);
    e->started_ms = vd__wall_ms();
    snprintf(e->hb_subject, sizeof e->hb_subject, "%s.%s", VD_SUBJ_HB, e->name);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    pthread_cond_init(&e->job_cv, NULL);
    pthread_cond_init(&e->frames, NULL);
    pthread_mutex_init(&e->out_mu, NULL);
    pthread_cond_init(&e->out_cv, NULL);
    pthread_mutex_init(&e->links.mu, NULL);
    if (pthread_create(&e->out_thr, NULL, vd__edge_out_main, e)) {
        vd_fail(err, VD_ENOMEM, "edge %s: cannot start the results thread", e->name);
        vd_edge_free(e);
        return VD_ENOMEM;
    }
    e->out_started = 1;
    /* The heartbeat thread first, waiting until the commands are served: a thread that
     * cannot start fails the start before any handler is registered with e. */
    if (pthread_create(&e->hb_thr, NULL, hb_main, e)) {
        vd_fail(err, VD_ENOMEM, "edge %s: cannot start the heartbeat thread", e->name);
        vd_edge_free(e);
        return VD_ENOMEM;
    }
    e->hb_started = 1;
    if (pthread_create(&e->link_thr, NULL, vd__links_main, e)) {
        vd_fail(err, VD_ENOMEM, "edge %s: cannot start the link probe thread", e->name);
        vd_edge_free(e);
        return VD_ENOMEM;
    }
    e->link_started = 1;
    int rc = vd__edge_serve(e, err);
    if (!rc && !o->secured)
        rc = o->tr->ops->subscribe(o->tr, VD_SUBJ_HB ".>", on_peer_heartbeat, e, err);
    if (rc) {
        vd_edge_free(e); /* ends the waiting heartbeat thread */
        return rc;
    }
    pthread_mutex_lock(&e->mu);
    e->serving = 1;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    vd__edge_metrics_start(e);
    *out = e;
    return 0;
}

void vd_edge_stop(vd_edge *e)
{
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    e->stopping = 1;
    pthread_cond_broadcast(&e->cv);
    pthread_cond_broadcast(&e->job_cv);
    pthread_cond_broadcast(&e->frames);
    pthread_mutex_unlock(&e->mu);
    if (e->hb_started) pthread_join(e->hb_thr, NULL);
    e->hb_started = 0;
    if (e->link_started) pthread_join(e->link_thr, NULL);
    e->link_started = 0;
    for (int i = 0; i < e->n_jobs; i++)
        if (e->jobs[i]->started) pthread_join(e->jobs[i]->thr, NULL), e->jobs[i]->started = 0;
    vd__edge_out_stop(e); /* the jobs' last results and DONEs go out */
}

void vd_edge_free(vd_edge *e)
{
    if (!e) return;
    vd__edge_metrics_stop(e);
    vd_edge_stop(e);
    for (int i = 0; i < e->n_jobs; i++) vd__edge_job_free(e->jobs[i]);
    free(e->jobs);
    pthread_cond_destroy(&e->cv);
    pthread_cond_destroy(&e->job_cv);
    pthread_cond_destroy(&e->frames);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->out_cv);
    pthread_mutex_destroy(&e->out_mu);
    pthread_mutex_destroy(&e->links.mu);
    free(e);
}
