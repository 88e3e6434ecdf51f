/*
 * In-process transport: one object shared by every role of a process. Calls run the
 * handler on the caller's thread (round-robin over the nodes serving a service when no
 * node is named); publishes are queued and delivered in order by one dispatcher thread.
 * Registrations live until close, so callbacks can be looked up under the lock and run
 * outside it. Streams and buckets: store_inproc.c.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "net_internal.h"
#include "vdag/net.h"

typedef struct ip_server {
    char *node, *service;
    vd_serve_fn fn;
    void *arg;
} ip_server;

typedef struct ip_rr {
    char *service;
    unsigned next;
} ip_rr;

typedef struct ip_sub {
    char *subject;
    vd_msg_fn fn;
    void *arg;
} ip_sub;

typedef struct ip_item {
    struct ip_item *next;
    char *subject;
    vd_buf msg;
} ip_item;

typedef struct inproc {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ip_server *servers;
    int n_servers, cap_servers;
    ip_rr *rr;
    int n_rr, cap_rr;
    ip_sub *subs;
    int n_subs, cap_subs;
    ip_item *head, *tail; /* publish queue */
    int stop;
    pthread_t thread;
    vd__memstore *store; /* streams and buckets (its own lock) */
} inproc;

static int grow(void **arr, int *cap, int n, size_t elem)
{
    if (n < *cap) return 0;
    int nc = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p) return VD_ENOMEM;
    *arr = p;
    *cap = nc;
    return 0;
}

static int ip_call(vd_transport *t, const char *node, const char *service, const vd_buf *req,
                   vd_buf *resp, int timeout_ms, vd_error *err)
{
    inproc *p = t->priv;
    (void)timeout_ms;
    resp->data = NULL;
    resp->len = 0;
    int rc = vd__check_names("in-process call", node, 0, service, err);
    if (rc) return rc;
    vd_serve_fn fn = NULL;
    void *arg = NULL;
    const char *served_by = NULL;
    pthread_mutex_lock(&p->mu);
    if (node) {
        for (int i = 0; i < p->n_servers; i++)
            if (!strcmp(p->servers[i].node, node) && !strcmp(p->servers[i].service, service)) {
                fn = p->servers[i].fn, arg = p->servers[i].arg, served_by = p->servers[i].node;
                break;
            }
    } else {
        int n = 0;
        for (int i = 0; i < p->n_servers; i++) n += !strcmp(p->servers[i].service, service);
        ip_rr *rr = NULL;
        for (int i = 0; i < p->n_rr; i++)
            if (!strcmp(p->rr[i].service, service)) rr = &p->rr[i];
        if (n && rr) {
            int pick = (int)(rr->next++ % (unsigned)n);
            for (int i = 0; i < p->n_servers; i++)
                if (!strcmp(p->servers[i].service, service) && pick-- == 0) {
                    fn = p->servers[i].fn, arg = p->servers[i].arg;
                    served_by = p->servers[i].node;
                    break;
                }
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (!fn) {
        if (node)
            return vd_fail(err, VD_ENOTFOUND,
                           "node '%s' does not serve '%s' (in-process transport): start the "
                           "service on that node or call another node",
                           node, service);
        return vd_fail(err, VD_ENOTFOUND,
                       "no node serves '%s' (in-process transport): start a node with that "
                       "service",
                       service);
    }
    vd_buf empty = {NULL, 0};
    vd_error herr = {0};
    rc = fn(arg, req ? req : &empty, resp, &herr);
    if (rc < 0) {
        vd_buf_free(resp);
        return vd_fail_remote(err, rc, "node '%s' service '%s': %s", served_by, service,
                              herr.msg[0] ? herr.msg : vd_strerror(rc));
    }
    return 0;
}

static int ip_serve(vd_transport *t, const char *node, const char *service, vd_serve_fn fn,
                    void *arg, vd_error *err)
{
    inproc *p = t->priv;
    int rc = vd__check_names("in-process serve", node, 1, service, err);
    if (rc) return rc;
    if (!fn) return vd_fail(err, VD_EINVAL, "in-process serve of '%s': no handler", service);
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n_servers; i++)
        if (!strcmp(p->servers[i].node, node) && !strcmp(p->servers[i].service, service)) {
            pthread_mutex_unlock(&p->mu);
            return vd_fail(err, VD_EINVAL,
                           "node '%s' already serves '%s' (in-process transport): serve each "
                           "service once per node",
                           node, service);
        }
    int have_rr = 0;
    for (int i = 0; i < p->n_rr; i++) have_rr |= !strcmp(p->rr[i].service, service);
    rc = grow((void **)&p->servers, &p->cap_servers, p->n_servers, sizeof *p->servers);
    if (!rc && !have_rr) rc = grow((void **)&p->rr, &p->cap_rr, p->n_rr, sizeof *p->rr);
    ip_server s = {strdup(node), strdup(service), fn, arg};
    char *rs = have_rr ? NULL : strdup(service);
    if (rc || !s.node || !s.service || (!have_rr && !rs)) {
        pthread_mutex_unlock(&p->mu);
        free(s.node), free(s.service), free(rs);
        return vd_fail(err, VD_ENOMEM, "out of memory serving '%s'", service);
    }
    p->servers[p->n_servers++] = s;
    if (!have_rr) p->rr[p->n_rr++] = (ip_rr){rs, 0};
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static int ip_publish(vd_transport *t, const char *subject, const vd_buf *msg, vd_error *err)
{
    inproc *p = t->priv;
    if (!vd__subject_valid(subject, 0))
        return vd_fail(err, VD_EINVAL,
                       "publish: invalid subject '%s' (dot-separated tokens, no wildcards)",
                       subject ? subject : "");
    size_t len = msg ? msg->len : 0;
    ip_item *it = calloc(1, sizeof *it);
    char *s = strdup(subject);
    unsigned char *d = malloc(len + 1);
    if (!it || !s || !d) {
        free(it), free(s), free(d);
        return vd_fail(err, VD_ENOMEM, "out of memory publishing on '%s'", subject);
    }
    if (len) memcpy(d, msg->data, len);
    d[len] = 0;
    it->subject = s;
    it->msg = (vd_buf){d, len};
    pthread_mutex_lock(&p->mu);
    if (p->tail)
        p->tail->next = it;
    else
        p->head = it;
    p->tail = it;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static int ip_subscribe(vd_transport *t, const char *subject, vd_msg_fn fn, void *arg,
                        vd_error *err)
{
    inproc *p = t->priv;
    if (!vd__subject_valid(subject, 1) || !fn)
        return vd_fail(err, VD_EINVAL,
                       "subscribe: invalid subject '%s' (dot-separated tokens; '*' for one "
                       "token, a final '>' for the rest)",
                       subject ? subject : "");
    char *s = strdup(subject);
    pthread_mutex_lock(&p->mu);
    if (!s || grow((void **)&p->subs, &p->cap_subs, p->n_subs, sizeof *p->subs)) {
        pthread_mutex_unlock(&p->mu);
        free(s);
        return vd_fail(err, VD_ENOMEM, "out of memory subscribing to '%s'", subject);
    }
    p->subs[p->n_subs++] = (ip_sub){s, fn, arg};
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static int ip_connected(vd_transport *t)
{
    (void)t;
    return 1;
}

typedef struct {
    vd_msg_fn fn;
    void *arg;
} ip_target;

static void *ip_dispatch(void *a)
{
    inproc *p = a;
    ip_target *targets = NULL;
    int cap = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stop) pthread_cond_wait(&p->cv, &p->mu);
        ip_item *it = p->head;
        if (!it) break; /* stopping and drained */
        p->head = it->next;
        if (!p->head) p->tail = NULL;
        int n = 0;
        for (int i = 0; i < p->n_subs; i++) {
            if (!vd__subject_match(p->subs[i].subject, it->subject)) continue;
            if (n == cap) {
                int nc = cap ? cap * 2 : 8;
                ip_target *nt = realloc(targets, (size_t)nc * sizeof *nt);
                if (!nt) break; /* deliver to those we have */
                targets = nt, cap = nc;
            }
            targets[n++] = (ip_target){p->subs[i].fn, p->subs[i].arg};
        }
        pthread_mutex_unlock(&p->mu);
        for (int i = 0; i < n; i++) targets[i].fn(targets[i].arg, it->subject, &it->msg);
        free(it->subject);
        vd_buf_free(&it->msg);
        free(it);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    free(targets);
    return NULL;
}

static void ip_close(vd_transport *t)
{
    inproc *p = t->priv;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL); /* delivers what was queued, then exits */
    for (int i = 0; i < p->n_servers; i++) free(p->servers[i].node), free(p->servers[i].service);
    for (int i = 0; i < p->n_rr; i++) free(p->rr[i].service);
    for (int i = 0; i < p->n_subs; i++) free(p->subs[i].subject);
    free(p->servers), free(p->rr), free(p->subs);
    vd__memstore_free(p->store);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
    free(t);
}

/* ---- durability: in memory (store_inproc.c) ------------------------------------------ */

static int ip_stream_create(vd_transport *t, const vd_stream_cfg *cfg, vd_error *err)
{
    return vd__ms_stream_create(((inproc *)t->priv)->store, cfg, err);
}

/* Stored, and delivered to the subscribers of the subject as any publish. */
static int ip_stream_publish(vd_transport *t, vd_spub *m, int n, int timeout_ms, vd_error *err)
{
    (void)timeout_ms;
    int rc = vd__ms_stream_publish(((inproc *)t->priv)->store, m, n, err);
    for (int i = 0; i < n; i++)
        if (m[i].rc == 0) ip_publish(t, m[i].subject, &m[i].msg, NULL);
    return rc;
}

static int ip_stream_fetch(vd_transport *t, const char *stream, const char *durable, int max,
                           int timeout_ms, vd_smsg *out, int *n, vd_error *err)
{
    return vd__ms_stream_fetch(((inproc *)t->priv)->store, stream, durable, max, timeout_ms, out, n,
                               err);
}

static int ip_stream_ack(vd_transport *t, vd_smsg *m, vd_error *err)
{
    (void)err;
    return vd__ms_stream_ack(((inproc *)t->priv)->store, m, 0, 0);
}

static int ip_stream_nak(vd_transport *t, vd_smsg *m, int delay_ms, vd_error *err)
{
    (void)err;
    return vd__ms_stream_ack(((inproc *)t->priv)->store, m, 1, delay_ms);
}

static void ip_stream_release(vd_transport *t, vd_smsg *m)
{
    (void)t;
    vd__ms_stream_release(m);
}

static int ip_kv_bucket(vd_transport *t, const char *bucket, double ttl_s, vd_error *err)
{
    return vd__ms_kv_bucket(((inproc *)t->priv)->store, bucket, ttl_s, err);
}

static int ip_kv_get(vd_transport *t, const char *bucket, const char *key, vd_buf *val,
                     uint64_t *rev, vd_error *err)
{
    return vd__ms_kv_get(((inproc *)t->priv)->store, bucket, key, val, rev, err);
}

static int ip_kv_put(vd_transport *t, const char *bucket, const char *key, const vd_buf *val,
                     uint64_t *rev, vd_error *err)
{
    return vd__ms_kv_write(((inproc *)t->priv)->store, 0, bucket, key, val, 0, rev, err);
}

static int ip_kv_create(vd_transport *t, const char *bucket, const char *key, const vd_buf *val,
                        uint64_t *rev, vd_error *err)
{
    return vd__ms_kv_write(((inproc *)t->priv)->store, 1, bucket, key, val, 0, rev, err);
}

static int ip_kv_update(vd_transport *t, const char *bucket, const char *key, const vd_buf *val,
                        uint64_t last, uint64_t *rev, vd_error *err)
{
    return vd__ms_kv_write(((inproc *)t->priv)->store, 2, bucket, key, val, last, rev, err);
}

static int ip_kv_delete(vd_transport *t, const char *bucket, const char *key, vd_error *err)
{
    return vd__ms_kv_write(((inproc *)t->priv)->store, 3, bucket, key, NULL, 0, NULL, err);
}

static int ip_kv_keys(vd_transport *t, const char *bucket, const char *prefix, char ***keys, int *n,
                      vd_error *err)
{
    return vd__ms_kv_keys(((inproc *)t->priv)->store, bucket, prefix, keys, n, err);
}

static const vd_transport_ops inproc_ops = {
    .name = "inproc",
    .call = ip_call,
    .serve = ip_serve,
    .publish = ip_publish,
    .subscribe = ip_subscribe,
    .connected = ip_connected,
    .close = ip_close,
    .stream_create = ip_stream_create,
    .stream_publish = ip_stream_publish,
    .stream_fetch = ip_stream_fetch,
    .stream_ack = ip_stream_ack,
    .stream_nak = ip_stream_nak,
    .stream_release = ip_stream_release,
    .kv_bucket = ip_kv_bucket,
    .kv_get = ip_kv_get,
    .kv_put = ip_kv_put,
    .kv_create = ip_kv_create,
    .kv_update = ip_kv_update,
    .kv_delete = ip_kv_delete,
    .kv_keys = ip_kv_keys,
};

int vd_transport_inproc_new(vd_transport **out, vd_error *err)
{
    *out = NULL;
    vd_transport *t = calloc(1, sizeof *t);
    inproc *p = calloc(1, sizeof *p);
    if (!t || !p) {
        free(t), free(p);
        return vd_fail(err, VD_ENOMEM, "out of memory creating the in-process transport");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (!(p->store = vd__memstore_new()) || pthread_create(&p->thread, NULL, ip_dispatch, p)) {
        vd__memstore_free(p->store);
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        free(t), free(p);
        return vd_fail(err, VD_ENOMEM, "in-process transport: cannot start the dispatcher thread");
    }
    t->ops = &inproc_ops;
    t->priv = p;
    *out = t;
    return 0;
}
