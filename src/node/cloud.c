/*
 * The cloud (the seed's query manager): the user API, the node registry kept from
 * heartbeats, the jobs and their results, the scheduler loop and the MJPEG streams.
 *
 * One lock (c->mu) guards nodes and jobs; transport calls are never made while holding
 * it. The scheduler thread wakes every 100 ms: it drops nodes silent for drop_s (only
 * while the cloud itself is connected, so a broker restart does not drop everyone),
 * plans jobs that need it (new, re-planning period due, a stage on a lost node) and sends
 * the plan to the job's edge.
 */
#include <assert.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "node/proto.h"
#include "node_internal.h"
#include "vdag/base.h"

#define RING        10
#define MAX_CHANGES 20
#define CMD_TIMEOUT 3000
#define KB_RETRY_MS 5000 /* between node.get_kb attempts */
#define RESTOP_MS   3000 /* a stopped job its edge still lists: stop again after */
#define MAX_ADOPT   256  /* unknown jobs waiting for node.get_job */

typedef struct node_ent {
    char name[64], role[8], addr[128];
    double last_seen;      /* ms */
    json_t *hb;            /* the last heartbeat (without its kb) */
    vd_kb *kb;             /* from its heartbeats (NULL for the cloud itself: its host's kb) */
    json_int_t kb_version; /* of kb (0: none yet) */
    int kb_entries;
    int kb_wanted;      /* a newer version was announced without the kb: ask (node.get_kb) */
    double kb_retry_at; /* ms; not before this */
    int kb_fetch_logged;
    int self;
} node_ent;

enum { S_UNSCHED = 0, S_EXEC = 1, S_DONE = 2 };
static const char *state_names[] = {"UNSCHED", "EXEC", "DONE"};

typedef struct cjob {
    char uid[64], node[64];
    vd__job_spec spec; /* as submitted; spec.scheduler is the scheduler's own name */
    vd_sched *sched;
    int state;
    char reason[16], msg[512];
    vd_plan plan;
    int has_plan, plan_sent, plan_version, replan_now;
    double last_plan_at, submitted_at, sent_at, last_result_at;
    json_t *ring[RING];
    int ring_n, ring_head;
    json_t *changes;  /* [{time, plan, why}] */
    json_t *last_hdr; /* latest result header from the edge */
    /* the latest result's measurement, whatever plan produced it (shown to users), and the
     * latest of a plan this cloud sent (plan_version then; the scheduler's input while
     * measured_version == plan_version) */
    vd_plan_result shown, measured;
    int shown_version, measured_version;
    vd_runtime rt;
    int native_h;
    double native_fps;
    int64_t frames;
    /* MJPEG */
    unsigned char *jpeg;
    size_t jpeg_len;
    uint64_t jpeg_seq;
    int viewers, refs;
    int removed;
    int restop;        /* stopped here but its edge still runs it: send node.stop_job again */
    double stopped_at; /* ms, when the user stopped it (or the last stop sent again) */
} cjob;

/* A job an edge runs that this cloud does not know (it restarted): node.get_job is asked
 * by the scheduler thread, then the job is registered as EXEC. */
typedef struct adopt_ent {
    char uid[64], node[64];
    double retry_at; /* ms */
    int tries, busy, logged;
} adopt_ent;

struct vd_cloud {
    vd_node_opts o;
    char name[64], addr[128];
    vd_svchost *host;
    pthread_mutex_t mu;
    pthread_cond_t cv;     /* scheduler wake-ups */
    pthread_cond_t frames; /* new MJPEG frames */
    node_ent *nodes;
    int n_nodes;
    cjob **jobs;
    int n_jobs;
    adopt_ent *adopt; /* guarded by mu */
    int n_adopt;
    int next_id;
    char prefix[16];
    int stopping, streams_closed;
    pthread_t thr;
    int started;
    double connected_since;
    vd_resources res;
};

/* ---- registry ------------------------------------------------------------------------ */

/* A node by name, else by address; in one process the cloud and the edge share an address,
 * and a node_addr then means the edge (the cloud owns no video). */
static node_ent *find_node(vd_cloud *c, const char *name)
{
    node_ent *by_addr = NULL;
    for (int i = 0; i < c->n_nodes; i++) {
        node_ent *n = &c->nodes[i];
        if (!strcmp(n->name, name)) return n;
        if (n->addr[0] && !strcmp(n->addr, name) && (!by_addr || by_addr->self)) by_addr = n;
    }
    return by_addr;
}

static cjob *find_job(vd_cloud *c, const char *uid)
{
    for (int i = 0; i < c->n_jobs; i++)
        if (!c->jobs[i]->removed && !strcmp(c->jobs[i]->uid, uid)) return c->jobs[i];
    return NULL;
}

/* Known at all, deleted ones included (those are not adopted back). */
static int job_known(vd_cloud *c, const char *uid)
{
    for (int i = 0; i < c->n_jobs; i++)
        if (!strcmp(c->jobs[i]->uid, uid)) return 1;
    return 0;
}

static void job_unref(cjob *j)
{
    if (--j->refs > 0) return;
    vd__job_spec_clear(&j->spec);
    json_decref(j->changes);
    json_decref(j->last_hdr);
    for (int i = 0; i < RING; i++) json_decref(j->ring[i]);
    vd_sched_free(j->sched);
    free(j->jpeg);
    free(j);
}

/* The one constructor of a job: UNSCHED, no plan, refs 1, for `node`, from a spec (taken: it
 * is zeroed) and its scheduler (taken; spec.scheduler becomes its own name). NULL when out
 * of memory: nothing is taken then. */
static cjob *job_new(const char *uid, const char *node, vd__job_spec *spec, vd_sched *sch)
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
    return j;
}

/* Register a job (lock held); VD_ENOMEM leaves it to the caller. */
static int jobs_add(vd_cloud *c, cjob *j)
{
    cjob **nj = realloc(c->jobs, sizeof *nj * (size_t)(c->n_jobs + 1));
    if (!nj) return VD_ENOMEM;
    c->jobs = nj;
    c->jobs[c->n_jobs++] = j;
    return 0;
}

static void set_done(cjob *j, const char *reason, const char *msg)
{
    j->state = S_DONE;
    snprintf(j->reason, sizeof j->reason, "%s", reason);
    snprintf(j->msg, sizeof j->msg, "%s", msg ? msg : "");
}

/* Replace a node's kb by the one in j (lock held). A kb that does not parse keeps the old
 * one, but its version counts as seen: it is not parsed again until the next change. */
static void node_set_kb(vd_cloud *c, node_ent *n, json_t *j, json_int_t version)
{
    vd_kb *kb = vd_kb_new();
    vd_error err = {0};
    n->kb_version = version;
    n->kb_wanted = 0;
    if (!kb || vd_kb_from_json(kb, j, &err)) {
        vd_kb_free(kb);
        fprintf(stderr, "vdag %s: node %s sent a bad knowledge base (version %lld): %s\n", c->name,
                n->name, (long long)version, kb ? err.msg : "out of memory");
        return;
    }
    vd_kb_free(n->kb);
    n->kb = kb;
    n->kb_entries = (int)json_array_size(json_object_get(j, "entries"));
}

/* 1 when a heartbeat's "jobs" array lists uid. */
static int lists(json_t *jobs, const char *uid)
{
    size_t k;
    json_t *u;
    json_array_foreach(jobs, k, u)
    {
        if (json_is_string(u) && !strcmp(json_string_value(u), uid)) return 1;
    }
    return 0;
}

/* Jobs a node's heartbeat lists that this cloud does not know (it restarted): queue them for
 * node.get_job on the scheduler thread, since a transport call may not be made here (lock
 * held). Entries of this node for jobs it no longer lists (ended) go. */
static void queue_unknown_jobs(vd_cloud *c, const char *node, json_t *jobs)
{
    for (int i = 0; i < c->n_adopt; i++) {
        adopt_ent *a = &c->adopt[i];
        if (!strcmp(a->node, node) && !a->busy && !lists(jobs, a->uid))
            c->adopt[i--] = c->adopt[--c->n_adopt];
    }
    size_t k;
    json_t *u;
    json_array_foreach(jobs, k, u)
    {
        const char *uid = json_string_value(u);
        if (!uid || !*uid || strlen(uid) >= 64 || job_known(c, uid)) continue;
        int queued = 0;
        for (int i = 0; i < c->n_adopt && !queued; i++) queued = !strcmp(c->adopt[i].uid, uid);
        if (queued || c->n_adopt >= MAX_ADOPT) continue;
        adopt_ent *na = realloc(c->adopt, sizeof *na * (size_t)(c->n_adopt + 1));
        if (!na) return;
        c->adopt = na;
        adopt_ent *a = &na[c->n_adopt++];
        memset(a, 0, sizeof *a);
        snprintf(a->uid, sizeof a->uid, "%s", uid);
        snprintf(a->node, sizeof a->node, "%s", node);
        pthread_cond_broadcast(&c->cv);
    }
}

static void on_heartbeat(void *arg, const char *subject, const vd_buf *msg)
{
    vd_cloud *c = arg;
    (void)subject;
    json_t *hb = json_loadb((const char *)msg->data, msg->len, 0, NULL);
    const char *name = json_string_value(json_object_get(hb, "name"));
    if (!name || strlen(name) >= 64) {
        json_decref(hb);
        return;
    }
    pthread_mutex_lock(&c->mu);
    node_ent *n = NULL;
    for (int i = 0; i < c->n_nodes; i++)
        if (!strcmp(c->nodes[i].name, name)) n = &c->nodes[i];
    if (!n) {
        node_ent *nn = realloc(c->nodes, sizeof *nn * (size_t)(c->n_nodes + 1));
        if (!nn) {
            pthread_mutex_unlock(&c->mu);
            json_decref(hb);
            return;
        }
        c->nodes = nn;
        n = &nn[c->n_nodes++];
        memset(n, 0, sizeof *n);
        snprintf(n->name, sizeof n->name, "%s", name);
        n->kb = vd_kb_new();
        fprintf(stderr, "vdag %s: node %s joined\n", c->name, name);
        for (int i = 0; i < c->n_jobs; i++) /* a placement may now use it */
            if (c->jobs[i]->state == S_EXEC) c->jobs[i]->replan_now = 1;
    }
    snprintf(n->role, sizeof n->role, "%s",
             json_string_value(json_object_get(hb, "role"))
                 ? json_string_value(json_object_get(hb, "role"))
                 : "edge");
    snprintf(n->addr, sizeof n->addr, "%s",
             json_string_value(json_object_get(hb, "addr"))
                 ? json_string_value(json_object_get(hb, "addr"))
                 : "");
    n->last_seen = vd_now_ms();
    /* the kb is parsed only when its version changed; a heartbeat carries it only then
     * (and every 30 s): a version announced without it is fetched by the scheduler thread */
    json_t *kb = json_object_get(hb, "kb"), *kbv = json_object_get(hb, "kb_version");
    if (json_is_integer(kbv)) {
        json_int_t v = json_integer_value(kbv);
        if (v != 0 && v != n->kb_version) {
            if (kb)
                node_set_kb(c, n, kb, v);
            else
                n->kb_wanted = 1;
        }
    } else if (kb) { /* a node that does not version its kb */
        node_set_kb(c, n, kb, 0);
    }
    json_object_del(hb, "kb");
    json_decref(n->hb);
    n->hb = hb;
    json_t *jobs = json_object_get(hb, "jobs");
    queue_unknown_jobs(c, name, jobs);
    /* reconcile: a job the cloud believes runs here but the edge does not list
     * (the edge restarted) is submitted again */
    for (int i = 0; i < c->n_jobs; i++) {
        cjob *j = c->jobs[i];
        if (j->removed || strcmp(j->node, name) || j->state != S_EXEC) continue;
        if (!lists(jobs, j->uid) && vd_now_ms() - j->sent_at > 3000 &&
            vd_now_ms() - j->last_result_at > 3000) {
            j->state = S_UNSCHED;
            j->plan_sent = 0;
            snprintf(j->msg, sizeof j->msg, "edge %s does not run it; resubmitting", name);
            pthread_cond_broadcast(&c->cv);
        }
    }
    /* and the other way: a job the user stopped or deleted that the edge still runs (the
     * stop did not reach it: the edge was unreachable, or the call timed out) is stopped
     * again, at most every RESTOP_MS */
    for (int i = 0; i < c->n_jobs; i++) {
        cjob *j = c->jobs[i];
        if (strcmp(j->node, name) || j->state != S_DONE || strcmp(j->reason, "stopped") ||
            j->stopped_at <= 0 || vd_now_ms() - j->stopped_at < RESTOP_MS || !lists(jobs, j->uid))
            continue;
        j->restop = 1;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

static void on_result(void *arg, const char *subject, const vd_buf *msg)
{
    vd_cloud *c = arg;
    (void)subject;
    json_t *hdr;
    const unsigned char *blob;
    size_t bl;
    if (vd_msg_unpack(msg->data, msg->len, &hdr, &blob, &bl, NULL)) return;
    const char *uid = json_string_value(json_object_get(hdr, "job_uid"));
    const char *state = json_string_value(json_object_get(hdr, "state"));
    pthread_mutex_lock(&c->mu);
    cjob *j = uid ? find_job(c, uid) : NULL;
    if (!j || j->state == S_DONE) {
        pthread_mutex_unlock(&c->mu);
        json_decref(hdr);
        return;
    }
    j->last_result_at = vd_now_ms();
    if (state && !strcmp(state, "DONE")) {
        const char *r = json_string_value(json_object_get(hdr, "reason"));
        set_done(j, r ? r : "finished", json_string_value(json_object_get(hdr, "msg")));
        pthread_cond_broadcast(&c->frames);
        pthread_mutex_unlock(&c->mu);
        json_decref(hdr);
        return;
    }
    if (j->state == S_UNSCHED && j->has_plan) j->state = S_EXEC, j->plan_sent = 1, j->msg[0] = 0;
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
    json_t *pr = json_object_get(hdr, "plan_result"), *rt = json_object_get(hdr, "runtime");
    vd_plan_result m = {0};
    m.n_frames = (int)json_integer_value(json_object_get(pr, "n_frames"));
    m.total_delay = json_number_value(json_object_get(pr, "total_delay"));
    m.load = json_number_value(json_object_get(pr, "load"));
    m.dropped = (long)json_integer_value(json_object_get(pr, "dropped"));
    /* an edge without the recent window: since the plan start, taken as valid */
    json_t *dr = json_object_get(pr, "drop_ratio"), *lv = json_object_get(pr, "load_valid");
    long fr = m.n_frames + m.dropped;
    m.drop_ratio = dr ? json_number_value(dr) : fr > 0 ? (double)m.dropped / fr : 0;
    m.load_valid = lv ? json_is_true(lv) : 1;
    for (int s = 0; s < j->spec.dag->n_stages && s < VD_MAX_STAGES; s++)
        m.delay[s] = json_number_value(
            json_object_get(json_object_get(pr, "delay"), j->spec.dag->stages[s].name));
    j->shown = m;
    j->shown_version = pv;
    if (current) { /* a measurement of an older plan must not steer the current one */
        j->measured = m;
        j->measured_version = pv;
    }
    j->rt.delay = json_number_value(json_object_get(rt, "delay"));
    j->rt.obj_n = json_number_value(json_object_get(rt, "obj_n"));
    j->rt.obj_size = json_number_value(json_object_get(rt, "obj_size"));
    j->rt.obj_stable = json_is_true(json_object_get(rt, "obj_stable"));
    j->native_h = (int)json_integer_value(json_object_get(res, "native_h"));
    j->native_fps = json_number_value(json_object_get(res, "native_fps"));
    json_decref(j->last_hdr);
    j->last_hdr = hdr;
    hdr = NULL;
    if (bl) {
        unsigned char *p = malloc(bl);
        if (p) {
            memcpy(p, blob, bl);
            free(j->jpeg);
            j->jpeg = p;
            j->jpeg_len = bl;
            j->jpeg_seq++;
            pthread_cond_broadcast(&c->frames);
        }
    }
    pthread_mutex_unlock(&c->mu);
    json_decref(hdr);
}

/* ---- scheduling ---------------------------------------------------------------------- */

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

/* Plan one job (lock held); returns 1 when the plan changed or was never sent. */
static int plan_job(vd_cloud *c, cjob *j, const char *why)
{
    vd_node_info nodes[VD_MAX_NODES];
    int nn = 0;
    const vd_kb *kb = NULL;
    for (int i = 0; i < c->n_nodes && nn < VD_MAX_NODES; i++) {
        node_info(&c->nodes[i], &nodes[nn++]);
        if (!strcmp(c->nodes[i].name, j->node))
            kb = c->nodes[i].self ? vd_svchost_kb(c->host) : c->nodes[i].kb;
    }
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
    };
    vd_plan p;
    vd_error err = {0};
    if (vd_sched_plan(j->sched, &in, &p, &err)) {
        snprintf(j->msg, sizeof j->msg, "scheduler %.24s: %.400s", j->spec.scheduler, err.msg);
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
        json_t *ch =
            json_pack("{s:f,s:i,s:s,s:o,s:f,s:f,s:f,s:f}", "time", (double)time(NULL),
                      "plan_version", j->plan_version, "why", why, "plan", vd_plan_to_json(&p),
                      "measured_delay", in.last ? in.last->total_delay : 0.0, "predicted_delay",
                      vd_plan_predict(&in, &p), "measured_load", in.last ? in.last->load : 0.0,
                      "predicted_load", vd_plan_load(&in, &p));
        json_array_append_new(j->changes, ch);
        while (json_array_size(j->changes) > MAX_CHANGES) json_array_remove(j->changes, 0);
    }
    return changed || !j->plan_sent;
}

/* Send a command to a node (no lock held). */
static int node_call(vd_cloud *c, const char *node, const char *cmd, json_t *body, json_t **reply,
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
static int is_stopping(vd_cloud *c)
{
    pthread_mutex_lock(&c->mu);
    int s = c->stopping;
    pthread_mutex_unlock(&c->mu);
    return s;
}

static void watch(vd_cloud *c, const char *node, const char *uid, int on);

/* Take over a job that `node` runs and this cloud does not know (it restarted; no lock
 * held): node.get_job, then register it as EXEC with the spec as submitted, the plan in
 * force and a fresh scheduler state (it re-plans from that plan). Returns 0 when done with
 * it (adopted, or no longer running there: then it is not needed), <0 to try again later. */
static int adopt_job(vd_cloud *c, const char *uid, const char *node, vd_error *err)
{
    json_t *body = json_pack("{s:s}", "job_uid", uid), *r = NULL;
    int rc = node_call(c, node, VD_CMD_GET_JOB, body, &r, err);
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
    if (!(j = job_new(uid, node, &info.spec, sch))) {
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
    json_array_append_new(j->changes, json_pack("{s:f,s:i,s:s,s:o,s:f,s:f,s:f,s:f}", "time",
                                                (double)time(NULL), "plan_version", j->plan_version,
                                                "why", "adopted", "plan", vd_plan_to_json(&j->plan),
                                                "measured_delay", 0.0, "predicted_delay", -1.0,
                                                "measured_load", 0.0, "predicted_load", -1.0));
    snprintf(j->msg, sizeof j->msg, "adopted from %s after a cloud restart", node);
    pthread_mutex_lock(&c->mu);
    int known = job_known(c, uid) || c->stopping; /* adopted meanwhile, or shutting down */
    int added = !known && jobs_add(c, j) == 0;
    if (added) {
        node_ent *n = find_node(c, node);
        if (!n || strcmp(n->name, node)) { /* dropped while we asked: as for its other jobs */
            j->state = S_UNSCHED;
            j->plan_sent = 0;
            snprintf(j->msg, sizeof j->msg, "edge %s lost; waiting for it to return", node);
        }
        fprintf(stderr, "vdag %s: adopted job %s running on %s (plan version %d)\n", c->name, uid,
                node, j->plan_version);
        j = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    if (added && info.watch) watch(c, node, uid, 0); /* its viewers were the old cloud's */
    if (!added && !known) rc = vd_fail(err, VD_ENOMEM, "out of memory");
out:
    if (j) job_unref(j);
    vd__job_spec_clear(&info.spec);
    vd_sched_free(sch);
    return rc;
}

/* ---- housekeeping (lock held) ---------------------------------------------------------- */

/* A node silent too long goes: its jobs wait (UNSCHED) for it, jobs with a stage there
 * re-plan at once. */
static void drop_node(vd_cloud *c, int i, double now)
{
    node_ent *n = &c->nodes[i];
    fprintf(stderr, "vdag %s: node %s silent for %.1f s: dropped\n", c->name, n->name,
            (now - n->last_seen) / 1e3);
    for (int k = 0; k < c->n_jobs; k++) {
        cjob *j = c->jobs[k];
        if (j->removed || j->state == S_DONE) continue;
        if (!strcmp(j->node, n->name)) {
            j->state = S_UNSCHED;
            j->plan_sent = 0;
            snprintf(j->msg, sizeof j->msg, "edge %s lost; waiting for it to return", n->name);
            continue;
        }
        for (int s = 0; s < j->plan.n_stages; s++)
            if (!strcmp(j->plan.map[s].node, n->name)) j->replan_now = 2;
    }
    for (int k = 0; k < c->n_adopt; k++)
        if (!strcmp(c->adopt[k].node, n->name) && !c->adopt[k].busy)
            c->adopt[k--] = c->adopt[--c->n_adopt];
    json_decref(n->hb);
    vd_kb_free(n->kb);
    c->nodes[i] = c->nodes[--c->n_nodes];
}

/* The cloud's own connection, its own entry's resources (once a second) and the liveness of
 * the others: dropped when silent for drop_s, but only once the cloud itself has been
 * connected that long (a broker restart does not drop everyone). */
static void tend_nodes(vd_cloud *c, double now)
{
    if (c->o.tr->ops->connected(c->o.tr)) {
        if (c->connected_since <= 0) c->connected_since = now;
    } else {
        c->connected_since = 0;
    }
    for (int i = 0; i < c->n_nodes; i++)
        if (c->nodes[i].self && c->host && now - c->nodes[i].last_seen >= 1000) {
            json_object_set_new(c->nodes[i].hb, "resources",
                                vd__svchost_resource_info(c->host, &c->res));
            c->nodes[i].last_seen = now;
        }
    double drop_ms = c->o.drop_s * 1e3;
    for (int i = 0; i < c->n_nodes; i++) {
        node_ent *n = &c->nodes[i];
        if (n->self || now - n->last_seen <= drop_ms) continue;
        if (c->connected_since <= 0 || now - c->connected_since < drop_ms) continue;
        drop_node(c, i--, now);
    }
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
    int n = ph->collect(c, vd_now_ms(), items, ph->max_items);
    assert(n >= 0 && n <= ph->max_items);
    if (!n) return c->stopping;
    pthread_mutex_unlock(&c->mu);
    for (int i = 0; i < n; i++) {
        void *it = items + (size_t)i * ph->item_size;
        if (!is_stopping(c)) {
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
    int rc = node_call(c, q->node, VD_CMD_GET_KB, body, &q->reply, err);
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
            node_set_kb(c, n, kb, v);
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
    int rc = node_call(c, q->node, VD_CMD_STOP, body, NULL, err);
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
        if (j->removed || j->state == S_DONE || !find_node(c, j->node)) continue;
        int due =
            j->state == S_UNSCHED || j->replan_now || now - j->last_plan_at >= c->o.replan_s * 1e3;
        if (!due) continue;
        const char *why = j->state == S_UNSCHED ? "start"
                          : j->replan_now == 2  ? "node lost"
                          : j->replan_now == 1  ? "cluster changed"
                                                : "periodic";
        j->replan_now = 0;
        if (!plan_job(c, j, why)) continue;
        outbox *o = &ob[n++];
        snprintf(o->node, sizeof o->node, "%s", j->node);
        snprintf(o->uid, sizeof o->uid, "%s", j->uid);
        o->version = j->plan_version;
        o->submit = j->state == S_UNSCHED;
        o->body = o->submit
                      ? vd__submit_msg(j->uid, &j->spec, &j->plan, j->plan_version, j->viewers > 0)
                      : vd__update_msg(j->uid, &j->plan, j->plan_version, j->spec.constraint);
    }
    return n;
}

static int plan_call(vd_cloud *c, void *item, vd_error *err)
{
    outbox *o = item;
    return node_call(c, o->node, o->submit ? VD_CMD_SUBMIT : VD_CMD_UPDATE, o->body, NULL, err);
}

/* The edge's answer to a plan: sent, or why not. On a submit the code decides: VD_ENOTFOUND
 * (no such video there) ends the job with an error, VD_EALREADY (it ran to its end there)
 * as finished; anything else waits, and the job is submitted again. */
static void plan_apply(vd_cloud *c, void *item, int rc, const vd_error *err)
{
    outbox *o = item;
    cjob *j = find_job(c, o->uid);
    if (!j || j->plan_version != o->version || j->state == S_DONE) return;
    int submit = o->submit && j->state == S_UNSCHED;
    if (!rc) {
        j->plan_sent = 1;
        j->sent_at = vd_now_ms();
        if (j->state == S_UNSCHED) j->state = S_EXEC, j->msg[0] = 0;
    } else if (submit && rc == VD_EREMOTE && err->remote == VD_ENOTFOUND) {
        set_done(j, "error", err->msg); /* the edge has no such video */
    } else if (submit && rc == VD_EREMOTE && err->remote == VD_EALREADY) {
        set_done(j, "finished", err->msg); /* it ran to its end; its DONE was missed */
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

static void *sched_main(void *arg)
{
    vd_cloud *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stopping) {
        tend_nodes(c, vd_now_ms());
        int stop = 0;
        for (size_t i = 0; i < sizeof phases / sizeof *phases && !stop; i++)
            stop = run_phase(c, &phases[i]);
        if (stop) break;
        struct timespec ts = vd_deadline(CLOCK_REALTIME, 100);
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
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
    pthread_cond_init(&c->cv, NULL);
    pthread_cond_init(&c->frames, NULL);
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
    int rc = o->tr->ops->subscribe(o->tr, VD_SUBJ_HB, on_heartbeat, c, err);
    if (!rc) rc = o->tr->ops->subscribe(o->tr, VD_SUBJ_RESULT, on_result, c, err);
    if (!rc && pthread_create(&c->thr, NULL, sched_main, c))
        rc = vd_fail(err, VD_ENOMEM, "cannot start the scheduler thread");
    if (rc) {
        vd_cloud_free(c);
        return rc;
    }
    c->started = 1;
    *out = c;
    return 0;
}

int vd_cloud_has_node(vd_cloud *c, const char *name)
{
    pthread_mutex_lock(&c->mu);
    int r = find_node(c, name) != NULL;
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
}

void vd_cloud_free(vd_cloud *c)
{
    if (!c) return;
    vd_cloud_stop(c);
    for (int i = 0; i < c->n_nodes; i++) {
        json_decref(c->nodes[i].hb);
        vd_kb_free(c->nodes[i].kb);
    }
    free(c->nodes);
    free(c->adopt);
    for (int i = 0; i < c->n_jobs; i++) job_unref(c->jobs[i]);
    free(c->jobs);
    pthread_cond_destroy(&c->cv);
    pthread_cond_destroy(&c->frames);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* ---- user API ------------------------------------------------------------------------ */

static json_t *node_json(const node_ent *n, double now)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:f}", "name", n->name, "role", n->role, "addr", n->addr,
                          "last_seen_s", (now - n->last_seen) / 1e3);
    json_t *v = json_object_get(n->hb, "video");
    json_object_set_new(o, "video", v ? json_deep_copy(v) : json_object());
    json_t *r = json_object_get(n->hb, "resources");
    if (r) json_object_set_new(o, "resources", json_deep_copy(r));
    json_t *s = json_object_get(n->hb, "services");
    if (s) json_object_set_new(o, "services", json_deep_copy(s));
    json_t *jobs = json_object_get(n->hb, "jobs");
    if (jobs) json_object_set_new(o, "jobs", json_deep_copy(jobs));
    if (!n->self)
        json_object_set_new(
            o, "kb",
            json_pack("{s:I,s:i}", "version", (json_int_t)n->kb_version, "entries", n->kb_entries));
    return o;
}

static json_t *job_summary(const cjob *j)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:i}", "job_uid", j->uid, "node_addr",
                          j->node, "video_id", j->spec.video_id, "state", state_names[j->state],
                          "reason", j->reason, "msg", j->msg, "scheduler", j->spec.scheduler,
                          "frames", (json_int_t)j->frames, "plan_version", j->plan_version);
    json_object_set(o, "user_constraint", j->spec.constraint);
    json_t *fl = json_array();
    for (int s = 0; s < j->spec.dag->n_stages; s++)
        json_array_append_new(fl, json_string(j->spec.dag->stages[s].name));
    json_object_set_new(o, "pipeline", fl);
    json_object_set_new(o, "delay", json_real(j->measured.total_delay));
    return o;
}

static int r_all_status(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_cloud *c = arg;
    (void)req;
    json_t *data = json_object(), *jobs = json_array();
    double now = vd_now_ms();
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n_nodes; i++)
        json_object_set_new(data, c->nodes[i].name, node_json(&c->nodes[i], now));
    for (int i = 0; i < c->n_jobs; i++)
        if (!c->jobs[i]->removed) json_array_append_new(jobs, job_summary(c->jobs[i]));
    pthread_mutex_unlock(&c->mu);
    vd_http_json(resp, 200, json_pack("{s:i,s:o,s:o}", "status", 0, "data", data, "jobs", jobs));
    return 0;
}

static int r_cluster_info(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_cloud *c = arg;
    (void)req;
    json_t *data = json_object();
    double now = vd_now_ms();
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n_nodes; i++) {
        node_ent *n = &c->nodes[i];
        json_t *o = node_json(n, now);
        if (n->self && c->host) {
            json_t *r = vd__svchost_resource_info(c->host, &c->res);
            json_object_set_new(o, "resources", r);
        }
        json_object_set_new(data, n->name, o);
    }
    pthread_mutex_unlock(&c->mu);
    vd_http_json(resp, 200, json_pack("{s:i,s:o}", "status", 0, "data", data));
    return 0;
}

static int r_submit_query(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_cloud *c = arg;
    json_t *b = vd__parse_body(req, resp);
    if (!b) return 0;
    vd_error err = {0};
    vd__job_spec spec = {0};
    vd_sched *sch = NULL;
    const char *node = json_string_value(json_object_get(b, "node_addr"));
    if (!node) {
        vd_fail(&err, VD_EINVAL,
                "node_addr: missing (a node name or address from /user/get_all_status)");
        goto bad;
    }
    if (vd__job_spec_parse(b, VD__SPEC_USER, &spec, &err)) goto bad;
    vd_error e2 = {0};
    if (vd_sched_new(spec.scheduler, &sch, &e2)) {
        vd_fail(&err, e2.code == VD_ENOMEM ? VD_ENOMEM : VD_EINVAL, "scheduler: %s", e2.msg);
        goto bad;
    }
    pthread_mutex_lock(&c->mu);
    node_ent *n = find_node(c, node);
    if (!n || !json_object_get(json_object_get(n->hb, "video"), spec.video_id)) {
        pthread_mutex_unlock(&c->mu);
        if (!n)
            vd_fail(&err, VD_ENOTFOUND, "node_addr: no node '%s' (see /user/get_all_status)", node);
        else
            vd_fail(&err, VD_ENOTFOUND, "video_id: node %s has no video '%s'", n->name,
                    spec.video_id);
        goto bad;
    }
    char uid[64];
    do /* never a uid this cloud knows (adopted jobs included) */
        snprintf(uid, sizeof uid, "%s.%d", c->prefix, ++c->next_id);
    while (job_known(c, uid));
    cjob *j = job_new(uid, n->name, &spec, sch);
    if (!j || jobs_add(c, j)) {
        pthread_mutex_unlock(&c->mu);
        if (j)
            job_unref(j); /* it owns the scheduler now */
        else
            vd_sched_free(sch);
        sch = NULL;
        vd_fail(&err, VD_ENOMEM, "out of memory");
        goto bad;
    }
    pthread_cond_broadcast(&c->cv);
    json_t *r = json_pack("{s:i,s:s,s:s,s:s,s:s}", "status", 0, "msg", "submitted", "job_uid",
                          j->uid, "query_id", j->uid, "state", state_names[j->state]);
    pthread_mutex_unlock(&c->mu);
    json_decref(b);
    vd_http_json(resp, 200, r);
    return 0;
bad:
    vd__job_spec_clear(&spec);
    vd_sched_free(sch);
    json_decref(b);
    vd_http_fail(resp, err.code, "%s", err.msg);
    return 0;
}

static int r_constraint(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_cloud *c = arg;
    json_t *b = vd__parse_body(req, resp);
    if (!b) return 0;
    const char *uid = json_string_value(json_object_get(b, "job_uid"));
    json_t *uc = json_object_get(b, "user_constraint");
    double d, a;
    vd_error err = {0};
    if (!uid || !uc) {
        json_decref(b);
        vd_http_fail(resp, VD_EINVAL, "expected {\"job_uid\": …, \"user_constraint\": {…}}");
        return 0;
    }
    if (vd__constraint_parse(uc, &d, &a, &err)) {
        json_decref(b);
        vd_http_fail(resp, err.code, "%s", err.msg);
        return 0;
    }
    pthread_mutex_lock(&c->mu);
    cjob *j = find_job(c, uid);
    char node[64] = "";
    json_t *push = NULL;
    int rc = j ? vd__job_spec_set_constraint(&j->spec, uc, &err) : 0;
    if (j && !rc && j->state == S_EXEC) {
        snprintf(node, sizeof node, "%s", j->node);
        push = vd__update_msg(j->uid, NULL, 0, j->spec.constraint);
    }
    pthread_mutex_unlock(&c->mu);
    if (!j) vd_http_fail(resp, VD_ENOTFOUND, "no job '%s'", uid); /* uid lives in b */
    json_decref(b);
    if (!j) return 0;
    if (rc) {
        vd_http_fail(resp, rc, "%s", err.msg);
        return 0;
    }
    if (push) { /* the edge keeps it for a restarted cloud (node.get_job); best effort: the
                 * next plan update carries it too */
        node_call(c, node, VD_CMD_UPDATE, push, NULL, NULL);
        json_decref(push);
    }
    vd_http_json(resp, 200,
                 json_pack("{s:i,s:s}", "status", 0, "msg", "applies at the next re-plan"));
    return 0;
}

static int r_sync_result(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_cloud *c = arg;
    pthread_mutex_lock(&c->mu);
    cjob *j = find_job(c, req->tail);
    if (!j) {
        pthread_mutex_unlock(&c->mu);
        vd_http_fail(resp, VD_ENOTFOUND, "no job '%s' (GET /user/jobs lists them)", req->tail);
        return 0;
    }
    json_t *app = json_array();
    for (int i = 0; i < j->ring_n; i++)
        json_array_append(app, j->ring[(j->ring_head - j->ring_n + i + RING) % RING]);
    /* the latest result, with the plan that produced it (an older one for a moment after a
     * change; job.plan_version is the current one) */
    const vd_plan_result *m = &j->shown;
    json_t *delay = json_object();
    for (int s = 0; s < j->spec.dag->n_stages && s < VD_MAX_STAGES; s++)
        json_object_set_new(delay, j->spec.dag->stages[s].name, json_real(m->delay[s]));
    json_t *hplan = json_object_get(j->last_hdr, "plan");
    json_t *plan = hplan         ? json_deep_copy(hplan)
                   : j->has_plan ? vd_plan_to_json(&j->plan)
                                 : json_object();
    json_t *latest = json_pack(
        "{s:o,s:{s:o,s:f,s:i,s:f,s:f,s:b,s:I},s:i}", "plan", plan, "plan_result", "delay", delay,
        "total_delay", m->total_delay, "n_frames", m->n_frames, "load", m->load, "drop_ratio",
        m->drop_ratio, "load_valid", m->load_valid, "dropped", (json_int_t)m->dropped,
        "plan_version", j->last_hdr ? j->shown_version : j->plan_version);
    json_t *rt = json_pack("{s:f,s:f,s:f,s:b}", "delay", j->rt.delay, "obj_n", j->rt.obj_n,
                           "obj_size", j->rt.obj_size, "obj_stable", j->rt.obj_stable);
    json_t *result = json_pack("{s:o,s:o,s:O,s:o}", "appended_result", app, "latest_result", latest,
                               "plan_changes", j->changes, "runtime", rt);
    json_t *job = job_summary(j);
    pthread_mutex_unlock(&c->mu);
    vd_http_json(resp, 200, json_pack("{s:i,s:o,s:o}", "status", 0, "result", result, "job", job));
    return 0;
}

static int r_jobs(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_cloud *c = arg;
    (void)req;
    json_t *jobs = json_array();
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n_jobs; i++)
        if (!c->jobs[i]->removed) json_array_append_new(jobs, job_summary(c->jobs[i]));
    pthread_mutex_unlock(&c->mu);
    vd_http_json(resp, 200, json_pack("{s:i,s:o}", "status", 0, "jobs", jobs));
    return 0;
}

/* Stop (POST /user/stop_job/<uid>) or stop and forget (DELETE /user/job/<uid>). */
static int stop_job(vd_cloud *c, const char *uid, int remove, vd_http_resp *resp)
{
    pthread_mutex_lock(&c->mu);
    cjob *j = find_job(c, uid);
    if (!j) {
        pthread_mutex_unlock(&c->mu);
        vd_http_fail(resp, VD_ENOTFOUND, "no job '%s'", uid);
        return 0;
    }
    int was = j->state;
    char node[64];
    snprintf(node, sizeof node, "%s", j->node);
    if (was != S_DONE) set_done(j, "stopped", "stopped by the user");
    if (was != S_DONE) j->stopped_at = vd_now_ms();
    if (remove) j->removed = 1;
    pthread_cond_broadcast(&c->frames);
    pthread_mutex_unlock(&c->mu);
    if (was == S_EXEC) {
        json_t *body = json_pack("{s:s}", "job_uid", uid);
        vd_error err = {0};
        node_call(c, node, VD_CMD_STOP, body, NULL, &err); /* the edge may be gone */
        json_decref(body);
    }
    vd_http_json(resp, 200,
                 json_pack("{s:i,s:s,s:s}", "status", 0, "msg", remove ? "deleted" : "stopped",
                           "job_uid", uid));
    return 0;
}

static int r_stop(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    return stop_job(arg, req->tail, 0, resp);
}

static int r_delete(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    return stop_job(arg, req->tail, 1, resp);
}

static int r_get_plan(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_cloud *c = arg;
    json_t *b = vd__parse_body(req, resp);
    if (!b) return 0;
    const char *uid = json_string_value(json_object_get(b, "job_uid"));
    pthread_mutex_lock(&c->mu);
    cjob *j = uid ? find_job(c, uid) : NULL;
    json_t *r = j && j->has_plan ? vd_plan_to_json(&j->plan) : NULL;
    pthread_mutex_unlock(&c->mu);
    if (!r) {
        vd_http_fail(resp, VD_ENOTFOUND, "no planned job '%s'", uid ? uid : "(missing job_uid)");
    } else {
        json_object_set_new(r, "status", json_integer(0));
        json_object_set_new(r, "job_uid", json_string(uid));
        vd_http_json(resp, 200, r);
    }
    json_decref(b);
    return 0;
}

/* ---- MJPEG: multipart/x-mixed-replace of the rendered frames ---------------------------- */

typedef struct viewer {
    vd_cloud *c;
    cjob *j;
    uint64_t seq;
    char *buf;
    size_t len, off;
} viewer;

static void watch(vd_cloud *c, const char *node, const char *uid, int on)
{
    json_t *body = json_pack("{s:s,s:b}", "job_uid", uid, "on", on);
    node_call(c, node, VD_CMD_WATCH, body, NULL, NULL);
    json_decref(body);
}

static ssize_t viewer_read(void *arg, char *out, size_t max)
{
    viewer *v = arg;
    vd_cloud *c = v->c;
    if (v->off == v->len) {
        pthread_mutex_lock(&c->mu);
        for (;;) {
            if (c->streams_closed || v->j->removed) {
                pthread_mutex_unlock(&c->mu);
                return VD_EEOF;
            }
            if (v->j->jpeg_seq != v->seq && v->j->jpeg) break;
            if (v->j->state == S_DONE) {
                pthread_mutex_unlock(&c->mu);
                return VD_EEOF;
            }
            struct timespec ts = vd_deadline(CLOCK_REALTIME, 200);
            if (pthread_cond_timedwait(&c->frames, &c->mu, &ts)) {
                pthread_mutex_unlock(&c->mu);
                return 0; /* nothing yet: the server checks the client, then calls again */
            }
        }
        char head[128];
        int hl = snprintf(head, sizeof head,
                          "--vdagframe\r\nContent-Type: image/jpeg\r\nContent-Length: %zu\r\n\r\n",
                          v->j->jpeg_len);
        char *nb = realloc(v->buf, (size_t)hl + v->j->jpeg_len + 2);
        if (!nb) {
            pthread_mutex_unlock(&c->mu);
            return VD_ENOMEM;
        }
        v->buf = nb;
        memcpy(nb, head, (size_t)hl);
        memcpy(nb + hl, v->j->jpeg, v->j->jpeg_len);
        memcpy(nb + hl + v->j->jpeg_len, "\r\n", 2);
        v->len = (size_t)hl + v->j->jpeg_len + 2;
        v->off = 0;
        v->seq = v->j->jpeg_seq;
        pthread_mutex_unlock(&c->mu);
    }
    size_t n = v->len - v->off < max ? v->len - v->off : max;
    memcpy(out, v->buf + v->off, n);
    v->off += n;
    return (ssize_t)n;
}

static void viewer_free(void *arg)
{
    viewer *v = arg;
    vd_cloud *c = v->c;
    char node[64], uid[64];
    pthread_mutex_lock(&c->mu);
    int last = --v->j->viewers == 0 && v->j->state == S_EXEC && !c->stopping;
    snprintf(node, sizeof node, "%s", v->j->node);
    snprintf(uid, sizeof uid, "%s", v->j->uid);
    job_unref(v->j);
    pthread_mutex_unlock(&c->mu);
    if (last) watch(c, node, uid, 0);
    free(v->buf);
    free(v);
}

static int r_video(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_cloud *c = arg;
    viewer *v = calloc(1, sizeof *v);
    if (!v) {
        vd_http_fail(resp, VD_ENOMEM, "out of memory");
        return 0;
    }
    pthread_mutex_lock(&c->mu);
    cjob *j = find_job(c, req->tail);
    if (!j || j->state == S_DONE) {
        pthread_mutex_unlock(&c->mu);
        free(v);
        vd_http_error(resp, 404, j ? VD_ESTATE : VD_ENOTFOUND,
                      j ? "job '%s' is done" : "no job '%s'", req->tail);
        return 0;
    }
    v->c = c;
    v->j = j;
    j->refs++;
    int first = j->viewers++ == 0;
    char node[64];
    snprintf(node, sizeof node, "%s", j->node);
    pthread_mutex_unlock(&c->mu);
    if (first) watch(c, node, req->tail, 1);
    resp->content_type = "multipart/x-mixed-replace; boundary=vdagframe";
    resp->stream = viewer_read;
    resp->stream_arg = v;
    resp->stream_free = viewer_free;
    return 0;
}

int vd_cloud_routes(vd_cloud *c, vd_http_route *r, int cap)
{
    const vd_http_route mine[] = {
        {"GET", "/user/get_all_status", r_all_status, c},
        {"POST", "/query/submit_query", r_submit_query, c},
        {"POST", "/user/submit_job_user_constraint", r_constraint, c},
        {"GET", "/user/sync_job_result/", r_sync_result, c},
        {"GET", "/user/video/", r_video, c},
        {"GET", "/user/jobs", r_jobs, c},
        {"POST", "/user/stop_job/", r_stop, c},
        {"DELETE", "/user/job/", r_delete, c},
        {"POST", "/node/get_plan", r_get_plan, c},
        {"GET", "/get_cluster_info", r_cluster_info, c},
    };
    int n = (int)(sizeof mine / sizeof *mine);
    if (n > cap) return VD_ETOOBIG;
    memcpy(r, mine, sizeof mine);
    return n;
}
