/*
 * The cloud's scheduler thread. Every 100 ms (or when woken) it tends the node table, then
 * runs its phases, each a "copy under the lock, call without it, apply under it" over a
 * kind of work: knowledge bases to fetch, jobs to adopt (an edge runs them, this cloud does
 * not know them: it restarted), stops to send again, plans to send (new jobs, re-plans that
 * changed; a stage on a lost node is planned away at once), then writes what changed to
 * the store. Only the leader (cloud_ha.c) runs the phases: a cloud standing by calls no node.
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <time.h>

#include "cloud_internal.h"
#include "node/metrics_hooks.h"
#include "vdag/base.h"

/* ---- planning ------------------------------------------------------------------------ */

/* Wall-clock milliseconds since the epoch: a plan change's "time_ms" (the evaluation harness
 * lines changes up with results; "time", in seconds, is a real that the API's 9 significant
 * digits round to 10 s). */
static json_int_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int node_info(const node_ent *n, vd_node_info *ni)
{
    memset(ni, 0, sizeof *ni);
    snprintf(ni->name, sizeof ni->name, "%s", n->name);
    snprintf(ni->role, sizeof ni->role, "%s", n->role);
    json_t *r = json_object_get(n->hb, "resources");
    ni->cpu_pct = json_number_value(json_object_get(r, "cpu_ratio")) * 100;
    ni->mem_pct = json_number_value(json_object_get(r, "mem_ratio")) * 100;
    ni->n_cores = (int)json_integer_value(json_object_get(r, "n_cores"));
    ni->speed = 1;
    size_t k;
    json_t *s;
    size_t off = 0;
    json_array_foreach(json_object_get(n->hb, "services"), k, s)
    {
        int w = snprintf(ni->services + off, sizeof ni->services - off, "%s%s", off ? "," : "",
                         json_string_value(s) ? json_string_value(s) : "");
        if (w < 0 || (size_t)w >= sizeof ni->services - off) break;
        off += (size_t)w;
    }
    return 0;
}

/* Move stages placed on nodes that are not alive back to the job's edge. */
static void relocate_dead(vd_plan *p, const vd_node_info *nodes, int nn, const char *edge)
{
    for (int s = 0; s < p->n_stages; s++) {
        int ok = !p->map[s].node[0] || !strcmp(p->map[s].node, edge);
        for (int i = 0; i < nn && !ok; i++) ok = !strcmp(nodes[i].name, p->map[s].node);
        if (!ok) {
            snprintf(p->map[s].node, sizeof p->map[s].node, "%s", edge);
            snprintf(p->map[s].role, sizeof p->map[s].role, "host");
        }
    }
}

static const vd_kb *node_kb(const vd_cloud *c, const node_ent *n)
{
    return n->self ? vd_svchost_kb(c->host) : n->kb;
}

/* The knowledge base a job is planned with (lock held): its edge's as the own machine's,
 * and every other node's delays tagged with that node's name (vd_kb_merge), so that a
 * stage placed on a node is predicted from that node's own measurements. NULL when no node
 * has one; the caller frees it. */
static vd_kb *merged_kb(const vd_cloud *c, const char *edge)
{
    vd_kb *m = NULL;
    vd_error err = {0};
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < c->n_nodes; i++) {
            const node_ent *n = &c->nodes[i];
            const vd_kb *kb = node_kb(c, n);
            int own = !strcmp(n->name, edge);
            if (!kb || own != (pass == 0)) continue; /* the edge's first */
            if (!m && !(m = vd_kb_new())) return NULL;
            if (vd_kb_merge(m, kb, own ? NULL : n->name, &err))
                fprintf(stderr, "vdag %s: the knowledge base of %s is not used: %s\n", c->name,
                        n->name, err.msg);
        }
    return m;
}

/* The link model from the nodes' heartbeats ("links": what each measured to the nodes it
 * sends frames to, edge_link.c); lock held. Returns the count put in out. */
static int links_of(const vd_cloud *c, vd_link *out, int cap)
{
    int n = 0;
    for (int i = 0; i < c->n_nodes; i++) {
        json_t *a = json_object_get(c->nodes[i].hb, "links"), *l;
        size_t k;
        json_array_foreach(a, k, l)
        {
            const char *to = json_string_value(json_object_get(l, "to"));
            if (n == cap || !to || strlen(to) >= sizeof out->to) continue;
            json_t *bw = json_object_get(l, "bw_Bps"), *rtt = json_object_get(l, "rtt_s");
            vd_link *o = &out[n++];
            snprintf(o->from, sizeof o->from, "%s", c->nodes[i].name);
            snprintf(o->to, sizeof o->to, "%s", to);
            o->bw_Bps = json_is_number(bw) ? json_number_value(bw) : 0;
            o->rtt_s = json_is_number(rtt) ? json_number_value(rtt) : -1;
        }
    }
    return n;
}

/* Plan one job (lock held); returns 1 when the plan changed or was never sent. A change is
 * recorded in plan_changes, and so is a plan sent because its edge asked (record), changed
 * or not. */
static int plan_job(vd_cloud *c, cjob *j, const char *why, int record)
{
    vd_node_info nodes[VD_MAX_NODES];
    int nn = 0;
    for (int i = 0; i < c->n_nodes && nn < VD_MAX_NODES; i++) node_info(&c->nodes[i], &nodes[nn++]);
    vd_kb *kb = merged_kb(c, j->node);
    vd_link links[VD_MAX_NODES * 4];
    int n_links = links_of(c, links, (int)(sizeof links / sizeof *links));
    vd_plan req;
    int has_req = 0;
    if (j->spec.requested) {
        vd_error e2 = {0};
        has_req = vd_plan_from_json(j->spec.requested, j->spec.dag, "plan", &req, &e2) == 0;
        if (has_req) relocate_dead(&req, nodes, nn, j->node);
    }
    vd_plan last = j->plan;
    relocate_dead(&last, nodes, nn, j->node);
    vd_sched_input in = {
        .dag = j->spec.dag,
        .edge = j->node,
        .nodes = nodes,
        .n_nodes = nn,
        .kb = kb,
        .last_plan = j->has_plan ? &last : NULL,
        .last = j->measured.n_frames > 0 && j->has_plan && j->measured_version == j->plan_version
                    ? &j->measured
                    : NULL,
        .rt = &j->rt,
        .delay_bound = j->spec.delay_bound,
        .accuracy = j->spec.accuracy,
        .native_h = j->native_h,
        .native_fps = j->native_fps,
        .requested = has_req ? &req : NULL,
        .links = n_links ? links : NULL,
        .n_links = n_links,
    };
    vd_plan p;
    vd_error err = {0};
    if (vd_sched_plan(j->sched, &in, &p, &err)) {
        snprintf(j->msg, sizeof j->msg, "scheduler %.24s: %.400s", j->spec.scheduler, err.msg);
        vd_kb_free(kb);
        return 0;
    }
    relocate_dead(&p, nodes, nn, j->node); /* never place a stage on a lost node */
    j->last_plan_at = vd_now_ms();
    int changed = !j->has_plan || !vd_plan_equal(&p, &j->plan);
    if (changed) {
        j->plan = p;
        j->has_plan = 1;
        j->plan_version++;
        j->plan_sent = 0;
    }
    if (changed || record) {
        vd__cloud_job_changed(j);
        /* the cloud's occasion (why) and the scheduler's own reason, with what it saw */
        const vd_sched_reason *sr = vd_sched_last_reason(j->sched);
        json_t *ch = json_pack(
            "{s:f,s:I,s:i,s:s,s:s,s:s,s:o,s:f,s:f,s:f,s:f}", "time", (double)time(NULL), "time_ms",
            wall_ms(), "plan_version", j->plan_version, "why", why, "reason",
            vd_sched_why_name(sr ? sr->code : VD_WHY_NONE), "detail", sr ? sr->text : "", "plan",
            vd_plan_to_json(&p), "measured_delay", in.last ? in.last->total_delay : 0.0,
            "predicted_delay", vd_plan_predict(&in, &p), "measured_load",
            in.last ? in.last->load : 0.0, "predicted_load", vd_plan_load(&in, &p));
        vd__events_plan(c->ev, j->uid, j->node, ch);
        json_array_append_new(j->changes, ch);
        while (json_array_size(j->changes) > MAX_CHANGES) json_array_remove(j->changes, 0);
        vd__cloud_metrics_plan(c->name, why, vd_sched_why_name(sr ? sr->code : VD_WHY_NONE));
    }
    vd_kb_free(kb);
    return changed || !j->plan_sent;
}

/* Take over a job that `node` runs and this cloud does not know (it restarted; no lock
 * held): node.get_job, then register it as EXEC with the spec as submitted, the plan in
 * force and a fresh scheduler state (it re-plans from that plan). Returns 0 when done with
 * it (adopted, or no longer running there: then it is not needed), <0 to try again later. */
static int adopt_job(vd_cloud *c, const char *uid, const char *node, vd_error *err)
{
    json_t *body = json_pack("{s:s}", "job_uid", uid), *r = NULL;
    int rc = vd__cloud_call(c, node, VD_CMD_GET_JOB, body, &r, err);
    json_decref(body);
    if (rc) return rc;
    vd__job_info info;
    vd_error e2 = {0};
    rc = vd__job_info_parse(r, &info, &e2);
    json_decref(r);
    if (rc) return vd_fail(err, VD_EFORMAT, "node %s: node.get_job: %s", node, e2.msg);
    if (!info.running) return 0; /* ended there: nothing to take over */
    vd_sched *sch = NULL;
    cjob *j = NULL;
    if (vd_sched_new(info.spec.scheduler, &sch, &e2)) {
        rc = vd_fail(err, VD_EFORMAT, "%s", e2.msg);
        goto out;
    }
    if (!(j = vd__cloud_job_new(uid, node, &info.spec, sch))) {
        rc = vd_fail(err, VD_ENOMEM, "out of memory");
        goto out;
    }
    sch = NULL;
    j->state = S_EXEC;
    j->plan = info.plan;
    j->has_plan = j->plan_sent = 1;
    j->plan_version = info.plan_version;
    j->last_plan_at = j->sent_at = j->submitted_at;
    /* the plan_changes shape; nothing measured or predicted yet (<0: unknown) */
    json_array_append_new(j->changes, json_pack("{s:f,s:I,s:i,s:s,s:o,s:f,s:f,s:f,s:f}", "time",
                                                (double)time(NULL), "time_ms", wall_ms(),
                                                "plan_version", j->plan_version, "why", "adopted",
                                                "plan", vd_plan_to_json(&j->plan), "measured_delay",
                                                0.0, "predicted_delay", -1.0, "measured_load", 0.0,
                                                "predicted_load", -1.0));
    snprintf(j->msg, sizeof j->msg, "adopted from %s after a cloud restart", node);
    pthread_mutex_lock(&c->mu);
    int known =
        vd__cloud_job_known(c, uid) || c->stopping; /* adopted meanwhile, or shutting down */
    int added = !known && vd__cloud_job_add(c, j) == 0;
    if (added) {
        node_ent *n = vd__cloud_node(c, node);
        if (!n || strcmp(n->name, node)) { /* dropped while we asked: as for its other jobs */
            j->state = S_UNSCHED;
            j->plan_sent = 0;
            snprintf(j->msg, sizeof j->msg, "edge %s lost; waiting for it to return", node);
        }
        fprintf(stderr, "vdag %s: adopted job %s running on %s (plan version %d)\n", c->name, uid,
                node, j->plan_version);
        vd__events_plan(c->ev, j->uid, j->node, json_array_get(j->changes, 0));
        j = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    if (added && info.watch)
        vd__cloud_watch(c, node, uid, 0); /* its viewers were the old cloud's */
    if (!added && !known) rc = vd_fail(err, VD_ENOMEM, "out of memory");
out:
    if (j) vd__cloud_job_unref(j);
    vd__job_spec_clear(&info.spec);
    vd_sched_free(sch);
    return rc;
}

/* ---- the control loop: phases of "copy under the lock, call without it, apply under it" */

/* One kind of work of the scheduler thread. collect (lock held) copies up to max items of
 * item_size bytes, and marks in the cloud's state what it took (busy flags, retry times) so
 * that the next round does not take it again; call (no lock held) makes the item's
 * transport call; apply (lock held; may be NULL) takes the call's outcome; release (may be
 * NULL) frees what an item holds, whether it was called or not. */
typedef struct loop_phase {
    size_t item_size;
    int max_items;
    int (*collect)(vd_cloud *c, double now, void *items, int max);
    int (*call)(vd_cloud *c, void *item, vd_error *err);
    void (*apply)(vd_cloud *c, void *item, int rc, const vd_error *err);
    void (*release)(void *item);
} loop_phase;

#define PHASE_BYTES 16384

/* Run one phase (lock held on entry and return; released during the calls). Once the cloud
 * is stopping no more calls are made (each may take CMD_TIMEOUT). 1 when stopping. */
static int run_phase(vd_cloud *c, const loop_phase *ph)
{
    _Alignas(max_align_t) unsigned char items[PHASE_BYTES];
    assert(ph->item_size * (size_t)ph->max_items <= sizeof items);
    if (!c->leader) return c->stopping;
    int n = ph->collect(c, vd_now_ms(), items, ph->max_items);
    assert(n >= 0 && n <= ph->max_items);
    if (!n) return c->stopping;
    pthread_mutex_unlock(&c->mu);
    for (int i = 0; i < n; i++) {
        void *it = items + (size_t)i * ph->item_size;
        pthread_mutex_lock(&c->mu);
        int go = !c->stopping && c->leader; /* a cloud standing by talks to no node */
        pthread_mutex_unlock(&c->mu);
        if (go) {
            vd_error err = {0};
            int rc = ph->call(c, it, &err);
            if (ph->apply) {
                pthread_mutex_lock(&c->mu);
                ph->apply(c, it, rc, &err);
                pthread_mutex_unlock(&c->mu);
            }
        }
        if (ph->release) ph->release(it);
    }
    pthread_mutex_lock(&c->mu);
    return c->stopping;
}

/* A job on a node, by uid (adoption, stops sent again). */
typedef struct job_ref {
    char uid[64], node[64];
} job_ref;

/* Knowledge bases announced without being sent (this cloud started between two sends):
 * node.get_kb, every KB_RETRY_MS while it fails. */
typedef struct kb_item {
    char node[64];
    json_t *reply;
} kb_item;

static int kb_collect(vd_cloud *c, double now, void *items, int max)
{
    kb_item *q = items;
    int n = 0;
    for (int i = 0; i < c->n_nodes && n < max; i++) {
        node_ent *e = &c->nodes[i];
        if (e->self || !e->kb_wanted || now < e->kb_retry_at) continue;
        e->kb_retry_at = now + KB_RETRY_MS;
        q[n] = (kb_item){.reply = NULL};
        snprintf(q[n++].node, sizeof q[0].node, "%s", e->name);
    }
    return n;
}

static int kb_call(vd_cloud *c, void *item, vd_error *err)
{
    kb_item *q = item;
    json_t *body = json_object();
    int rc = vd__cloud_call(c, q->node, VD_CMD_GET_KB, body, &q->reply, err);
    json_decref(body);
    return rc;
}

static void kb_apply(vd_cloud *c, void *item, int rc, const vd_error *err)
{
    kb_item *q = item;
    node_ent *n = NULL;
    for (int i = 0; i < c->n_nodes; i++)
        if (!strcmp(c->nodes[i].name, q->node)) n = &c->nodes[i];
    json_t *kbv = json_object_get(q->reply, "kb_version"), *kb = json_object_get(q->reply, "kb");
    if (n && !rc && json_is_integer(kbv)) {
        json_int_t v = json_integer_value(kbv);
        if (kb && v != 0 && v != n->kb_version)
            vd__cloud_set_kb(c, n, kb, v);
        else if (v == n->kb_version || v == 0)
            n->kb_wanted = 0;
    } else if (n && rc && !n->kb_fetch_logged) {
        n->kb_fetch_logged = 1;
        fprintf(stderr,
                "vdag %s: cannot get the knowledge base of node %s (retrying every %d s): %s\n",
                c->name, q->node, KB_RETRY_MS / 1000, err->msg);
    }
}

static void kb_release(void *item)
{
    json_decref(((kb_item *)item)->reply);
}

/* Jobs the edges run that this cloud does not know: adopt them (node.get_job), retrying
 * with a growing wait. */
static int adopt_collect(vd_cloud *c, double now, void *items, int max)
{
    job_ref *q = items;
    int n = 0;
    for (int i = 0; i < c->n_adopt && n < max; i++) {
        adopt_ent *a = &c->adopt[i];
        if (a->busy || now < a->retry_at) continue;
        a->busy = 1;
        snprintf(q[n].uid, sizeof q[0].uid, "%s", a->uid);
        snprintf(q[n++].node, sizeof q[0].node, "%s", a->node);
    }
    return n;
}

static int adopt_call(vd_cloud *c, void *item, vd_error *err)
{
    job_ref *q = item;
    return adopt_job(c, q->uid, q->node, err);
}

static void adopt_apply(vd_cloud *c, void *item, int rc, const vd_error *err)
{
    job_ref *q = item;
    for (int i = 0; i < c->n_adopt; i++) {
        adopt_ent *a = &c->adopt[i];
        if (strcmp(a->uid, q->uid)) continue;
        if (!rc) {
            c->adopt[i] = c->adopt[--c->n_adopt];
            return;
        }
        a->busy = 0;
        a->tries++;
        a->retry_at = vd_now_ms() + (a->tries < 5 ? 1000 << a->tries : 30000);
        if (!a->logged)
            fprintf(stderr, "vdag %s: cannot adopt job %s running on %s (retrying): %s\n", c->name,
                    a->uid, a->node, err->msg);
        a->logged = 1;
        return;
    }
}

/* Stops that did not reach their edge (it still lists the job): node.stop_job again. */
static int restop_collect(vd_cloud *c, double now, void *items, int max)
{
    job_ref *q = items;
    int n = 0;
    for (int k = 0; k < c->n_jobs && n < max; k++) {
        cjob *j = c->jobs[k];
        if (!j->restop) continue;
        j->restop = 0;
        j->stopped_at = now;
        snprintf(q[n].uid, sizeof q[0].uid, "%s", j->uid);
        snprintf(q[n++].node, sizeof q[0].node, "%s", j->node);
    }
    return n;
}

static int restop_call(vd_cloud *c, void *item, vd_error *err)
{
    job_ref *q = item;
    json_t *body = json_pack("{s:s}", "job_uid", q->uid);
    fprintf(stderr, "vdag %s: job %s was stopped but %s still runs it: stopping again\n", c->name,
            q->uid, q->node);
    int rc = vd__cloud_call(c, q->node, VD_CMD_STOP, body, NULL, err);
    json_decref(body);
    return rc;
}

/* Plans to send: new jobs (node.submit_job), re-plans that changed (node.update_plan). */
typedef struct outbox {
    char node[64], uid[64];
    int submit; /* VD_CMD_SUBMIT, else VD_CMD_UPDATE */
    json_t *body;
    int version;
} outbox;

static int plan_collect(vd_cloud *c, double now, void *items, int max)
{
    outbox *ob = items;
    int n = 0;
    for (int k = 0; k < c->n_jobs && n < max; k++) {
        cjob *j = c->jobs[k];
        if (j->removed || j->state == S_DONE || !vd__cloud_node(c, j->node)) continue;
        int due =
            j->state == S_UNSCHED || j->replan_now || now - j->last_plan_at >= c->o.replan_s * 1e3;
        if (!due) continue;
        int asked = j->replan_now == 3;
        const char *why = j->state == S_UNSCHED ? "start"
                          : j->replan_now == 3  ? "asked (node/get_plan)"
                          : j->replan_now == 2  ? "node lost"
                          : j->replan_now == 1  ? "cluster changed"
                                                : "periodic";
        j->replan_now = 0;
        if (!plan_job(c, j, why, asked)) continue;
        outbox *o = &ob[n++];
        snprintf(o->node, sizeof o->node, "%s", j->node);
        snprintf(o->uid, sizeof o->uid, "%s", j->uid);
        o->version = j->plan_version;
        o->submit = j->state == S_UNSCHED;
        o->body = o->submit
                      ? vd__submit_msg(j->uid, &j->spec, &j->plan, j->plan_version, j->viewers > 0)
                      : vd__update_msg(j->uid, &j->plan, j->plan_version, j->spec.constraint);
        /* the other nodes alive: the edge measures its links to them (edge_link.c) */
        json_t *peers = json_array();
        for (int i = 0; i < c->n_nodes; i++)
            if (strcmp(c->nodes[i].name, j->node))
                json_array_append_new(peers, json_string(c->nodes[i].name));
        if (o->body)
            json_object_set_new(o->body, "peers", peers);
        else
            json_decref(peers);
    }
    return n;
}

static int plan_call(vd_cloud *c, void *item, vd_error *err)
{
    outbox *o = item;
    vd__cloud_store_flush(c, 0); /* the store has the plan before the edge does */
    return vd__cloud_call(c, o->node, o->submit ? VD_CMD_SUBMIT : VD_CMD_UPDATE, o->body, NULL,
                          err);
}

/* The edge's answer to a plan: sent, or why not. On a submit the code decides: VD_ENOTFOUND
 * (no such video there) ends the job with an error, VD_EALREADY (it ran to its end there)
 * as finished; anything else waits, and the job is submitted again. */
static void plan_apply(vd_cloud *c, void *item, int rc, const vd_error *err)
{
    outbox *o = item;
    cjob *j = vd__cloud_job(c, o->uid);
    if (!j || j->plan_version != o->version || j->state == S_DONE) return;
    int submit = o->submit && j->state == S_UNSCHED;
    vd__cloud_job_changed(j);
    if (!rc) {
        j->plan_sent = 1;
        j->sent_at = vd_now_ms();
        if (j->state == S_UNSCHED) j->state = S_EXEC, j->msg[0] = 0;
    } else if (submit && rc == VD_EREMOTE && err->remote == VD_ENOTFOUND) {
        vd__cloud_job_done(c, j, "error", err->msg); /* the edge has no such video */
    } else if (submit && rc == VD_EREMOTE && err->remote == VD_EALREADY) {
        vd__cloud_job_done(c, j, "finished", err->msg); /* it ran to its end; its DONE was missed */
    } else {
        snprintf(j->msg, sizeof j->msg, "%s", err->msg);
    }
}

static void plan_release(void *item)
{
    json_decref(((outbox *)item)->body);
}

/* In this order, every 100 ms (or when woken). */
static const loop_phase phases[] = {
    {sizeof(kb_item), 8, kb_collect, kb_call, kb_apply, kb_release},
    {sizeof(job_ref), 8, adopt_collect, adopt_call, adopt_apply, NULL},
    {sizeof(job_ref), 8, restop_collect, restop_call, NULL, NULL},
    {sizeof(outbox), 64, plan_collect, plan_call, plan_apply, plan_release},
};

void *vd__cloud_sched_main(void *arg)
{
    vd_cloud *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stopping) {
        vd__cloud_tend_nodes(c, vd_now_ms());
        int stop = 0;
        for (size_t i = 0; i < sizeof phases / sizeof *phases && !stop; i++)
            stop = run_phase(c, &phases[i]);
        if (stop) break;
        pthread_mutex_unlock(&c->mu);
        vd__cloud_store_flush(c, 0); /* what changed this round (not while standing by) */
        pthread_mutex_lock(&c->mu);
        struct timespec ts = vd_deadline(CLOCK_REALTIME, 100);
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}
