/*
 * The cloud (the seed's query manager): its life cycle, the job table and the results the
 * edges store in the results stream (applied in stream order by the leader's consumer,
 * cloud_ha.c). The rest of the cloud: cloud_nodes.c (the node table from heartbeats),
 * cloud_loop.c (the scheduler thread: plans, adoption), cloud_api.c (the user API),
 * cloud_video.c (the MJPEG viewers), cloud_store.c (job records in the store),
 * cloud_ha.c (one leader among clouds); cloud_internal.h holds what they share.
 *
 * One lock (c->mu) guards nodes and jobs; transport calls are never made while holding it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cloud_internal.h"
#include "node/metrics_hooks.h"
#include "vdag/base.h"

/* ---- jobs ---------------------------------------------------------------------------- */

cjob *vd__cloud_job(vd_cloud *c, const char *uid)
{
    for (int i = 0; i < c->n_jobs; i++)
        if (!c->jobs[i]->removed && !strcmp(c->jobs[i]->uid, uid)) return c->jobs[i];
    return NULL;
}

/* Known at all, deleted ones included (those are not adopted back). */
int vd__cloud_job_known(vd_cloud *c, const char *uid)
{
    for (int i = 0; i < c->n_jobs; i++)
        if (!strcmp(c->jobs[i]->uid, uid)) return 1;
    return 0;
}

void vd__cloud_job_unref(cjob *j)
{
    if (--j->refs > 0) return;
    vd__job_spec_clear(&j->spec);
    json_decref(j->changes);
    json_decref(j->last_hdr);
    for (int i = 0; i < RING; i++) json_decref(j->ring[i]);
    vd_sched_free(j->sched);
    vd__ev_job_free(j->ev);
    free(j->jpeg);
    free(j);
}

/* The one constructor of a job: UNSCHED, no plan, refs 1, for `node`, from a spec (taken: it
 * is zeroed) and its scheduler (taken; spec.scheduler becomes its own name). NULL when out
 * of memory: nothing is taken then. */
cjob *vd__cloud_job_new(const char *uid, const char *node, vd__job_spec *spec, vd_sched *sch)
{
    cjob *j = calloc(1, sizeof *j);
    json_t *changes = json_array();
    if (!j || !changes) {
        free(j);
        json_decref(changes);
        return NULL;
    }
    snprintf(j->uid, sizeof j->uid, "%s", uid);
    snprintf(j->node, sizeof j->node, "%s", node);
    j->spec = *spec;
    memset(spec, 0, sizeof *spec);
    snprintf(j->spec.scheduler, sizeof j->spec.scheduler, "%s", vd_sched_name(sch));
    j->sched = sch;
    j->state = S_UNSCHED;
    j->changes = changes;
    j->submitted_at = vd_now_ms();
    j->refs = 1;
    j->gen = 1; /* to be written */
    return j;
}

/* Register a job (lock held); VD_ENOMEM leaves it to the caller. */
int vd__cloud_job_add(vd_cloud *c, cjob *j)
{
    cjob **nj = realloc(c->jobs, sizeof *nj * (size_t)(c->n_jobs + 1));
    if (!nj) return VD_ENOMEM;
    c->jobs = nj;
    c->jobs[c->n_jobs++] = j;
    return 0;
}

void vd__cloud_job_done(vd_cloud *c, cjob *j, const char *reason, const char *msg)
{
    vd__cloud_job_changed(j);
    j->state = S_DONE;
    snprintf(j->reason, sizeof j->reason, "%s", reason);
    snprintf(j->msg, sizeof j->msg, "%s", msg ? msg : "");
    vd__events_done(c->ev, &j->ev, j->uid, j->node, j->reason, j->msg);
}

/* ---- calls to nodes ------------------------------------------------------------------- */

/* Send a command to a node (no lock held). */
int vd__cloud_call(vd_cloud *c, const char *node, const char *cmd, json_t *body, json_t **reply,
                   vd_error *err)
{
    vd_buf req, resp = {0};
    int rc = vd_msg_pack(body, NULL, 0, &req, err);
    if (rc) return rc;
    rc = vd_transport_call(c->o.tr, node, cmd, &req, &resp, CMD_TIMEOUT, err);
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

/* Shutting down (no lock held): the scheduler thread then makes no more node calls, each of
 * which may take CMD_TIMEOUT. */
int vd__cloud_stopping(vd_cloud *c)
{
    pthread_mutex_lock(&c->mu);
    int s = c->stopping;
    pthread_mutex_unlock(&c->mu);
    return s;
}

/* ---- results ------------------------------------------------------------------------- */

void vd__cloud_measure(cjob *j, json_t *hdr, vd_plan_result *m)
{
    json_t *pr = json_object_get(hdr, "plan_result");
    memset(m, 0, sizeof *m);
    m->n_frames = (int)json_integer_value(json_object_get(pr, "n_frames"));
    m->total_delay = json_number_value(json_object_get(pr, "total_delay"));
    m->load = json_number_value(json_object_get(pr, "load"));
    m->dropped = (long)json_integer_value(json_object_get(pr, "dropped"));
    /* an edge without the recent window: since the plan start, taken as valid */
    json_t *dr = json_object_get(pr, "drop_ratio"), *lv = json_object_get(pr, "load_valid");
    long fr = m->n_frames + m->dropped;
    m->drop_ratio = dr ? json_number_value(dr) : fr > 0 ? (double)m->dropped / fr : 0;
    m->load_valid = lv ? json_is_true(lv) : 1;
    for (int s = 0; s < j->spec.dag->n_stages && s < VD_MAX_STAGES; s++)
        m->delay[s] = json_number_value(
            json_object_get(json_object_get(pr, "delay"), j->spec.dag->stages[s].name));
}

/* A result from the stream (the consumer thread, in stream order). The node the subject
 * names must be the job's and the header's: an edge reports on its own jobs only. A result
 * seen before (the same run and seq: delivered again) is not counted again. Results that
 * come after the user stopped the job (they were on their way) are still counted: the
 * job's history holds everything its edge made. */
int vd__cloud_apply_result(vd_cloud *c, const char *subject, const vd_buf *msg)
{
    json_t *hdr;
    if (vd_msg_unpack(msg->data, msg->len, &hdr, NULL, NULL, NULL)) return 0;
    const char *from = vd__subject_node(subject, VD_SUBJ_RESULT);
    if (!from) {
        json_decref(hdr);
        return 0;
    }
    return vd__cloud_take_result(c, from, hdr) == 1;
}

int vd__cloud_take_result(vd_cloud *c, const char *from, json_t *hdr)
{
    const char *uid = json_string_value(json_object_get(hdr, "job_uid"));
    const char *state = json_string_value(json_object_get(hdr, "state"));
    const char *node = json_string_value(json_object_get(hdr, "node"));
    pthread_mutex_lock(&c->mu);
    cjob *j = uid ? vd__cloud_job(c, uid) : NULL;
    int later = 0;
    for (int i = 0; !j && uid && i < c->n_adopt && !later; i++) /* known soon: keep it */
        later = !strcmp(c->adopt[i].uid, uid);
    if (!j || (from && strcmp(from, j->node)) || (node && strcmp(node, from ? from : j->node)) ||
        (!from && j->state == S_DONE)) {
        int rc = later ? 1 : j && j->state == S_DONE ? VD_ESTATE : VD_ENOTFOUND;
        pthread_mutex_unlock(&c->mu);
        json_decref(hdr);
        return rc;
    }
    j->last_result_at = vd_now_ms();
    if (state && !strcmp(state, "DONE")) {
        if (j->state == S_DONE) { /* stopped here first: its reason stays */
            pthread_mutex_unlock(&c->mu);
            json_decref(hdr);
            return 0;
        }
        const char *r = json_string_value(json_object_get(hdr, "reason"));
        vd__cloud_job_done(c, j, r ? r : "finished",
                           json_string_value(json_object_get(hdr, "msg")));
        pthread_cond_broadcast(&c->frames);
        pthread_mutex_unlock(&c->mu);
        json_decref(hdr);
        return 0;
    }
    json_t *seq = json_object_get(hdr, "seq");
    if (json_is_integer(seq) &&
        !vd__cloud_result_new(j, (uint64_t)json_integer_value(json_object_get(hdr, "run")),
                              json_integer_value(seq))) {
        j->dups++;
        pthread_mutex_unlock(&c->mu);
        json_decref(hdr);
        return 0;
    }
    if (j->state == S_UNSCHED && j->has_plan) {
        j->state = S_EXEC, j->plan_sent = 1, j->msg[0] = 0;
        vd__cloud_job_changed(j);
    }
    json_t *res = json_object_get(hdr, "result");
    /* the cloud's number of the plan that produced it; a result without one is taken as
     * the current plan's */
    json_int_t pvj = json_integer_value(json_object_get(hdr, "plan_version"));
    int current = pvj <= 0 || pvj == j->plan_version;
    int pv = current ? j->plan_version : (int)pvj;
    json_t *entry = json_deep_copy(res);
    json_object_set_new(entry, "plan_version", json_integer(pv));
    json_decref(j->ring[j->ring_head]);
    j->ring[j->ring_head] = entry;
    j->ring_head = (j->ring_head + 1) % RING;
    if (j->ring_n < RING) j->ring_n++;
    j->frames++;
    j->res_gen++;
    vd_plan_result m;
    vd__cloud_measure(j, hdr, &m);
    j->shown = m;
    j->shown_version = pv;
    if (current) { /* a measurement of an older plan must not steer the current one */
        j->measured = m;
        j->measured_version = pv;
    }
    json_t *rt = json_object_get(hdr, "runtime");
    j->rt.delay = json_number_value(json_object_get(rt, "delay"));
    j->rt.obj_n = json_number_value(json_object_get(rt, "obj_n"));
    j->rt.obj_size = json_number_value(json_object_get(rt, "obj_size"));
    j->rt.obj_stable = json_is_true(json_object_get(rt, "obj_stable"));
    j->native_h = (int)json_integer_value(json_object_get(res, "native_h"));
    j->native_fps = json_number_value(json_object_get(res, "native_fps"));
    vd__events_result(c->ev, &j->ev, j->uid, j->spec.dag, hdr);
    json_decref(j->last_hdr);
    j->last_hdr = hdr;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

/* A rendered frame of a job (vdag.frame.<node>, for its MJPEG viewers). */
static void on_frame(void *arg, const char *subject, const vd_buf *msg)
{
    vd_cloud *c = arg;
    json_t *hdr;
    const unsigned char *blob;
    size_t bl;
    if (vd_msg_unpack(msg->data, msg->len, &hdr, &blob, &bl, NULL)) return;
    const char *uid = json_string_value(json_object_get(hdr, "job_uid"));
    const char *from = vd__subject_node(subject, VD_SUBJ_FRAME);
    pthread_mutex_lock(&c->mu);
    cjob *j = uid && from ? vd__cloud_job(c, uid) : NULL;
    unsigned char *p = j && bl && !strcmp(j->node, from) ? malloc(bl) : NULL;
    if (p) {
        memcpy(p, blob, bl);
        free(j->jpeg);
        j->jpeg = p;
        j->jpeg_len = bl;
        j->jpeg_seq++;
        pthread_cond_broadcast(&c->frames);
    }
    pthread_mutex_unlock(&c->mu);
    json_decref(hdr);
}

/* ---- lifecycle ----------------------------------------------------------------------- */

int vd_cloud_start(const vd_node_opts *o, vd_svchost *host, vd_cloud **out, vd_error *err)
{
    *out = NULL;
    if (!o->tr) return vd_fail(err, VD_EINVAL, "cloud: no transport");
    vd_cloud *c = calloc(1, sizeof *c);
    if (!c) return vd_fail(err, VD_ENOMEM, "out of memory");
    c->o = *o;
    snprintf(c->name, sizeof c->name, "%s", o->name ? o->name : "cloud");
    snprintf(c->addr, sizeof c->addr, "%s", o->addr ? o->addr : "");
    c->o.name = c->name;
    c->o.addr = c->addr;
    if (c->o.replan_s <= 0) c->o.replan_s = 5;
    if (c->o.drop_s <= 0) c->o.drop_s = 3;
    c->host = host;
    /* job uids "<prefix>.<n>": the prefix differs per cloud run (a restarted cloud adopts
     * the jobs of the previous one, and must not reuse their uids) */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    unsigned long long ms =
        (unsigned long long)now.tv_sec * 1000 + (unsigned long long)now.tv_nsec / 1000000;
    snprintf(c->prefix, sizeof c->prefix, "%llx",
             (ms ^ ((unsigned long long)getpid() << 24)) & 0xffffffffull);
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->store_mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_cond_init(&c->frames, NULL);
    snprintf(c->id, sizeof c->id, "%s-%s-%d", c->name, c->prefix, (int)getpid());
    c->o.mqtt = NULL; /* the events own what they need of it */
    vd__events_opts eo = {.cloud = c->name,
                          .tr = o->tr,
                          .mqtt = o->mqtt,
                          .mqtt_prefix = o->mqtt_prefix,
                          .leave_frames = o->leave_frames};
    int rc = vd__events_start(&eo, &c->ev, err);
    if (rc) {
        vd_cloud_free(c);
        return rc;
    }
    /* The cloud is a node too (its service host can run stages). Registered before the
     * subscriptions: a heartbeat arriving in between would otherwise add a node that this
     * assignment then overwrote (its entry, kb and heartbeat leaked). */
    if (host) {
        node_ent *n = calloc(1, sizeof *n);
        if (n) {
            c->nodes = n;
            c->n_nodes = 1;
            snprintf(n->name, sizeof n->name, "%s", c->name);
            snprintf(n->role, sizeof n->role, "cloud");
            snprintf(n->addr, sizeof n->addr, "%s", c->addr);
            n->self = 1;
            json_t *svcs = json_array();
            for (const vd_service *const *s = vd_service_all(); *s; s++)
                json_array_append_new(svcs, json_string((*s)->name));
            n->hb = json_pack("{s:s,s:s,s:s,s:o,s:o}", "name", c->name, "role", "cloud", "addr",
                              c->addr, "services", svcs, "video", json_object());
        }
    }
    /* The scheduler thread before the subscriptions: a thread that cannot start fails the
     * start before any callback is registered with c. */
    if (pthread_create(&c->thr, NULL, vd__cloud_sched_main, c)) {
        vd_fail(err, VD_ENOMEM, "cloud %s: cannot start the scheduler thread", c->name);
        vd_cloud_free(c);
        return VD_ENOMEM;
    }
    c->started = 1;
    rc = o->tr->ops->subscribe(o->tr, VD_SUBJ_HB ".>", vd__cloud_on_heartbeat, c, err);
    if (!rc) rc = o->tr->ops->subscribe(o->tr, VD_SUBJ_FRAME ".>", on_frame, c, err);
    if (!rc) rc = vd__models_serve(o->tr, c->name, err); /* nodes that lack a model ask */
    if (!rc) rc = vd__cloud_ha_start(c, err); /* results come from the stream, to the leader */
    if (rc) {
        vd_cloud_free(c);
        return rc;
    }
    vd__cloud_metrics_start(c);
    *out = c;
    return 0;
}

int vd_cloud_has_node(vd_cloud *c, const char *name)
{
    pthread_mutex_lock(&c->mu);
    int r = vd__cloud_node(c, name) != NULL;
    pthread_mutex_unlock(&c->mu);
    return r;
}

void vd_cloud_close_streams(vd_cloud *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->streams_closed = 1;
    pthread_cond_broadcast(&c->frames);
    pthread_mutex_unlock(&c->mu);
}

void vd_cloud_stop(vd_cloud *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->stopping = 1;
    c->streams_closed = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_cond_broadcast(&c->frames);
    pthread_mutex_unlock(&c->mu);
    if (c->started) pthread_join(c->thr, NULL);
    c->started = 0;
    vd__cloud_ha_stop(c);
    vd__events_stop(c->ev); /* before the transport closes; later events are dropped */
}

void vd_cloud_free(vd_cloud *c)
{
    if (!c) return;
    vd__cloud_metrics_stop(c);
    vd_cloud_stop(c);
    for (int i = 0; i < c->n_nodes; i++) {
        json_decref(c->nodes[i].hb);
        vd_kb_free(c->nodes[i].kb);
    }
    free(c->nodes);
    free(c->adopt);
    free(c->joined);
    for (int i = 0; i < c->n_jobs; i++) vd__cloud_job_unref(c->jobs[i]);
    free(c->jobs);
    free(c->routes_);
    vd__events_free(c->ev);
    pthread_cond_destroy(&c->cv);
    pthread_cond_destroy(&c->frames);
    pthread_mutex_destroy(&c->store_mu);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
