/*
 * The cloud's node table: kept from heartbeats (role, address, videos, resources,
 * services, running jobs, the knowledge base by version), with the jobs a heartbeat lists
 * reconciled against the cloud's own, and nodes dropped when they fall silent.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud_internal.h"
#include "vdag/base.h"

/* A node by name, else by address; in one process the cloud and the edge share an address,
 * and a node_addr then means the edge (the cloud owns no video). */
node_ent *vd__cloud_node(vd_cloud *c, const char *name)
{
    node_ent *by_addr = NULL;
    for (int i = 0; i < c->n_nodes; i++) {
        node_ent *n = &c->nodes[i];
        if (!strcmp(n->name, name)) return n;
        if (n->addr[0] && !strcmp(n->addr, name) && (!by_addr || by_addr->self)) by_addr = n;
    }
    return by_addr;
}

/* The host part of "host:port" ("[v6]:port" too) into h; *port gets the port (-1: none). */
static void split_addr(const char *a, char *h, size_t n, int *port)
{
    *port = -1;
    const char *colon = strrchr(a, ':');
    size_t hl = strlen(a);
    if (a[0] == '[') { /* [::1]:5000 */
        const char *rb = strchr(a, ']');
        hl = rb ? (size_t)(rb - a - 1) : hl;
        a++;
        if (rb && rb[1] == ':') *port = atoi(rb + 2);
    } else if (colon && strchr(a, ':') == colon) { /* one colon: host:port, not a bare v6 */
        hl = (size_t)(colon - a);
        char *end;
        long p = strtol(colon + 1, &end, 10);
        *port = colon[1] && !*end && p >= 0 && p <= 65535 ? (int)p : -2;
    }
    snprintf(h, n, "%.*s", (int)(hl < n ? hl : n - 1), a);
}

static int loopback(const char *h)
{
    return !strcmp(h, "localhost") || !strncmp(h, "127.", 4) || !strcmp(h, "::1");
}

/* Do hosts a (given by a user, with a port when has_port) and b (a node's advertised host)
 * name the same machine? The same string, both loopback, or, for an address with a port, b
 * the wildcard (a node listening everywhere). */
static int same_host(const char *a, int has_port, const char *b)
{
    return !strcmp(a, b) || (loopback(a) && loopback(b)) ||
           (has_port && (!strcmp(b, "0.0.0.0") || !strcmp(b, "::")));
}

/* How well node n fits role (NULL: any; "cloud", "host" = the job's edge, "edge") for job
 * edge `edge`: higher is better, 0 not at all. A node_addr (role NULL) prefers a node that is
 * not the cloud itself: in one process they share an address, and only the edge has videos. */
static int fit(const node_ent *n, const char *role, const char *edge)
{
    int is_cloud = n->self || !strcmp(n->role, "cloud");
    if (!role) return n->self ? 1 : 2;
    if (!strcmp(role, "cloud")) return is_cloud ? 2 : 1;
    if (!strcmp(role, "host")) return edge && !strcmp(n->name, edge) ? 3 : is_cloud ? 1 : 2;
    return is_cloud ? 1 : edge && !strcmp(n->name, edge) ? 2 : 3; /* "edge": another edge */
}

node_ent *vd__cloud_resolve(vd_cloud *c, const char *spec, const char *role, const char *edge,
                            vd_error *err)
{
    if (!spec || !*spec) {
        vd_fail(err, VD_ENOTFOUND, "no node given");
        return NULL;
    }
    for (int i = 0; i < c->n_nodes; i++)
        if (!strcmp(c->nodes[i].name, spec)) return &c->nodes[i];
    char h[128], nh[128];
    int port, nport;
    split_addr(spec, h, sizeof h, &port);
    /* the best fitting node at that address (exact first), or at that host for a bare IP */
    node_ent *best = NULL;
    int best_fit = 0, ties = 0, best_exact = 0;
    for (int i = 0; i < c->n_nodes; i++) {
        node_ent *n = &c->nodes[i];
        if (!n->addr[0]) continue;
        int exact = !strcmp(n->addr, spec);
        split_addr(n->addr, nh, sizeof nh, &nport);
        if (!exact && (port == -2 || (port >= 0 && port != nport) || !same_host(h, port >= 0, nh)))
            continue;
        int f = fit(n, role, edge) + (exact ? 10 : 0);
        if (f > best_fit)
            best = n, best_fit = f, ties = 0, best_exact = exact;
        else if (f == best_fit)
            ties++;
    }
    if (best && ties && !best_exact) {
        char names[256] = "";
        size_t off = 0;
        for (int i = 0; i < c->n_nodes && off < sizeof names; i++) {
            node_ent *n = &c->nodes[i];
            split_addr(n->addr, nh, sizeof nh, &nport);
            if (n->addr[0] && (port < 0 || port == nport) && same_host(h, port >= 0, nh) &&
                fit(n, role, edge) + 0 == best_fit)
                off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", off ? ", " : "",
                                        n->name);
        }
        vd_fail(err, VD_EINVAL, "'%s' is the address of several nodes (%s): give a name", spec,
                names);
        return NULL;
    }
    if (!best) {
        char names[256] = "";
        size_t off = 0;
        for (int i = 0; i < c->n_nodes && off < sizeof names; i++)
            off += (size_t)snprintf(names + off, sizeof names - off, "%s%s (%s)", off ? ", " : "",
                                    c->nodes[i].name,
                                    c->nodes[i].addr[0] ? c->nodes[i].addr : "no address");
        vd_fail(err, VD_ENOTFOUND, "no node '%s' (nodes: %s; see /user/get_all_status)", spec,
                off ? names : "none yet");
    }
    return best;
}

/* Replace a node's kb by the one in j (lock held). A kb that does not parse keeps the old
 * one, but its version counts as seen: it is not parsed again until the next change. */
void vd__cloud_set_kb(vd_cloud *c, node_ent *n, json_t *j, json_int_t version)
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
    if (!c->leader) return; /* a new leader reads the store first, then asks */
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
        if (!uid || !*uid || strlen(uid) >= 64 || vd__cloud_job_known(c, uid)) continue;
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

/* A heartbeat under the name of node n from another run of a node (lock held): while n
 * lives (heard within drop_s) it is a second node of the same name, whose heartbeats are
 * ignored, said once per run: two nodes of one name would both get its commands. Once n has
 * fallen silent the new run is n restarted. The cloud's own name is not anyone else's. */
static int duplicate(vd_cloud *c, node_ent *n, const char *inst, json_t *hb)
{
    const char *addr = json_string_value(json_object_get(hb, "addr"));
    if (n->self) {
        if (strcmp(n->dup_instance, inst ? inst : "?")) {
            snprintf(n->dup_instance, sizeof n->dup_instance, "%s", inst ? inst : "?");
            fprintf(stderr,
                    "vdag %s: a node at %s calls itself '%s', this cloud's name: ignored; give "
                    "it another --name\n",
                    c->name, addr && *addr ? addr : "an unknown address", n->name);
        }
        return 1;
    }
    if (!inst || !n->instance[0] || !strcmp(inst, n->instance)) return 0;
    if (vd_now_ms() - n->last_seen > c->o.drop_s * 1e3) {
        fprintf(stderr, "vdag %s: node %s restarted (instance %s, was %s)\n", c->name, n->name,
                inst, n->instance);
        return 0;
    }
    if (strcmp(n->dup_instance, inst)) {
        snprintf(n->dup_instance, sizeof n->dup_instance, "%s", inst);
        fprintf(stderr,
                "vdag %s: two nodes are named '%s' (at %s and at %s): the second is ignored; "
                "give it another --name\n",
                c->name, n->name, n->addr[0] ? n->addr : "?", addr && *addr ? addr : "?");
    }
    return 1;
}

void vd__cloud_on_heartbeat(void *arg, const char *subject, const vd_buf *msg)
{
    vd_cloud *c = arg;
    json_t *hb = json_loadb((const char *)msg->data, msg->len, 0, NULL);
    const char *name = json_string_value(json_object_get(hb, "name"));
    const char *from = vd__subject_node(subject, VD_SUBJ_HB);
    if (!name || strlen(name) >= 64 || !from || strcmp(from, name)) { /* as itself only */
        json_decref(hb);
        return;
    }
    const char *inst = json_string_value(json_object_get(hb, "instance"));
    if (inst && strlen(inst) >= sizeof((node_ent *)0)->instance) inst = NULL;
    pthread_mutex_lock(&c->mu);
    node_ent *n = NULL;
    int joined = 0;
    for (int i = 0; i < c->n_nodes; i++)
        if (!strcmp(c->nodes[i].name, name)) n = &c->nodes[i];
    if (n && (n->self || duplicate(c, n, inst, hb))) { /* never merged into another node */
        pthread_mutex_unlock(&c->mu);
        json_decref(hb);
        return;
    }
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
        joined = 1;
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
    snprintf(n->instance, sizeof n->instance, "%s", inst ? inst : "");
    if (joined && c->leader) vd__events_node(c->ev, n->name, n->role, 1, "joined");
    /* the kb is parsed only when its version changed; a heartbeat carries it only then
     * (and every 30 s): a version announced without it is fetched by the scheduler thread */
    json_t *kb = json_object_get(hb, "kb"), *kbv = json_object_get(hb, "kb_version");
    if (json_is_integer(kbv)) {
        json_int_t v = json_integer_value(kbv);
        if (v != 0 && v != n->kb_version) {
            if (kb)
                vd__cloud_set_kb(c, n, kb, v);
            else
                n->kb_wanted = 1;
        }
    } else if (kb) { /* a node that does not version its kb */
        vd__cloud_set_kb(c, n, kb, 0);
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
            vd__cloud_job_changed(j);
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

/* A node silent too long goes: its jobs wait (UNSCHED) for it, jobs with a stage there
 * re-plan at once. */
static void drop_node(vd_cloud *c, int i, double now)
{
    node_ent *n = &c->nodes[i];
    fprintf(stderr, "vdag %s: node %s silent for %.1f s: dropped\n", c->name, n->name,
            (now - n->last_seen) / 1e3);
    if (c->leader) {
        char why[64];
        snprintf(why, sizeof why, "silent for %.1f s", (now - n->last_seen) / 1e3);
        vd__events_node(c->ev, n->name, n->role, 0, why);
    }
    for (int k = 0; k < c->n_jobs; k++) {
        cjob *j = c->jobs[k];
        if (j->removed || j->state == S_DONE) continue;
        if (!strcmp(j->node, n->name)) {
            j->state = S_UNSCHED;
            j->plan_sent = 0;
            vd__cloud_job_changed(j);
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
void vd__cloud_tend_nodes(vd_cloud *c, double now)
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
