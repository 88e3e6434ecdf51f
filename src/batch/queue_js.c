/*
 * The JetStream queue (include/vdag/queue.h) on nats.c 3.4: its own natsConnection (the node
 * transport's is not shared), reconnecting forever.
 *
 *   VDAG_WORK      stream, work-queue retention, file storage, subjects vdag.work.<video>;
 *                  an item is removed when acked. One durable pull consumer, vdag_workers
 *                  (explicit ack, AckWait, MaxDeliver = max_deliver + 2), shared by every
 *                  worker: each worker thread fetches one item at a time from it.
 *   VDAG_DEAD      stream, limits retention, subjects vdag.dead.<video>: dead letters.
 *   vdag_videos, vdag_results, vdag_blobs   KV buckets (history 1, file storage).
 *
 * A purge by prefix is a stream purge on the bucket's subjects ($KV.<bucket>.<prefix>>), so
 * watches do not hear of it. A watch is a thread around kvWatcher_Next; after a reconnection
 * it makes a new watcher, which replays the bucket (nats.c's ordered consumer would resume by
 * itself; the replay makes sure nothing sent during the outage is missed).
 */
#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nats/nats.h>

#include "batch/batch_internal.h"
#include "vdag/base.h"
#include "vdag/nats_conn.h"
#include "vdag/queue.h"

#define WORK_STREAM   VD_JS_WORK
#define DEAD_STREAM   VD_JS_DEAD
#define CONSUMER      VD_JS_WORKERS
#define API_WAIT_MS   5000
#define WATCH_POLL_MS 250

static const char *const bucket_names[VD_KV_N] = {VD_KVB_VIDEOS, VD_KVB_RESULTS, VD_KVB_BLOBS};

typedef struct jq {
    vd_queue pub;
    natsOptions *opts;
    natsConnection *nc;
    jsCtx *js;
    kvStore *kv[VD_KV_N];
    int ack_wait_ms, max_deliver;
    size_t max_value;
    atomic_int reconnects;
    char url[256], name[128];
    pthread_mutex_t mu;  /* orphans, denied */
    char denied[256];    /* the server's last permissions violation (empty: none) */
    kvWatcher **orphans; /* watchers stopped while disconnected: destroyed after the close */
    int n_orphans;
} jq;

struct vd_kv_watch {
    jq *q;
    int bucket;
    vd_kv_fn fn;
    void *arg;
    pthread_t thr;
    atomic_int stop;
    kvWatcher *w; /* the watch thread's (and unwatch's once it has joined) */
};

/* ---- errors ------------------------------------------------------------------------------ */

/* The transport's mapping, but for the queue a JetStream API without responders means the
 * server has no JetStream yet (a connection matter) and NOT_FOUND is a missing item. */
static int code_of(natsStatus s)
{
    if (s == NATS_NO_RESPONDERS) return VD_ECONN;
    if (s == NATS_NOT_FOUND) return VD_ENOTFOUND;
    return vd_nats_code(s);
}

static int js_fail(vd_error *err, natsStatus s, jsErrCode je, const char *what, const char *name)
{
    natsStatus ls;
    const char *t = nats_GetLastError(&ls);
    if (!t || !*t) t = natsStatus_GetText(s);
    int code = code_of(s);
    if (je == JSNotEnabledErr || je == JSNotEnabledForAccountErr) code = VD_EUNSUPP;
    return vd_fail(err, code, "jetstream: %s %s: %s%s", what, name ? name : "", t,
                   code == VD_ECONN ? " (is nats-server running with JetStream on? "
                                      "'vdag nats-server' starts one)"
                                    : "");
}

/* ---- set-up ------------------------------------------------------------------------------ */

static int ensure_stream(jq *p, const char *name, const char *subject, jsRetentionPolicy ret,
                         vd_error *err)
{
    jsStreamInfo *si = NULL;
    jsErrCode je = 0;
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = API_WAIT_MS;
    natsStatus s = js_GetStreamInfo(&si, p->js, name, &o, &je);
    if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return 0;
    }
    if (s != NATS_NOT_FOUND) return js_fail(err, s, je, "stream info", name);
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *subjects[1] = {subject};
    cfg.Name = name;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Retention = ret;
    cfg.Storage = js_FileStorage;
    cfg.Duplicates = (int64_t)120 * 1000000000; /* push/dead ids de-duplicate for 2 minutes */
    s = js_AddStream(&si, p->js, &cfg, &o, &je);
    if (s != NATS_OK && je != JSStreamNameExistErr) return js_fail(err, s, je, "add stream", name);
    jsStreamInfo_Destroy(si);
    return 0;
}

static void consumer_config(jsConsumerConfig *cc, int ack_wait_ms, int max_deliver)
{
    jsConsumerConfig_Init(cc);
    cc->Durable = CONSUMER;
    cc->AckPolicy = js_AckExplicit;
    cc->AckWait = (int64_t)ack_wait_ms * 1000000; /* nanoseconds */
    cc->MaxDeliver = max_deliver + 2; /* the deliveries past max_deliver only dead-letter */
    cc->FilterSubject = VD_SUBJ_WORK ".>";
    cc->DeliverPolicy = js_DeliverAll;
    cc->MaxAckPending = 100000;
}

static int ensure_consumer(jq *p, const vd_queue_opts *o, vd_error *err)
{
    int want_wait = o->ack_wait_ms ? o->ack_wait_ms : VD_BATCH_ACK_WAIT_MS;
    int want_max = o->max_deliver ? o->max_deliver : VD_BATCH_MAX_DELIVER;
    jsConsumerInfo *ci = NULL;
    jsErrCode je = 0;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = API_WAIT_MS;
    jsConsumerConfig cc;
    consumer_config(&cc, want_wait, want_max);
    natsStatus s = js_GetConsumerInfo(&ci, p->js, WORK_STREAM, CONSUMER, &jo, &je);
    if (s == NATS_NOT_FOUND) {
        s = js_AddConsumer(&ci, p->js, WORK_STREAM, &cc, &jo, &je);
        if (s != NATS_OK && je == JSConsumerNameExistErr) /* another process was first */
            s = js_GetConsumerInfo(&ci, p->js, WORK_STREAM, CONSUMER, &jo, &je);
    } else if (s == NATS_OK && o->configure &&
               (ci->Config->AckWait != cc.AckWait || ci->Config->MaxDeliver != cc.MaxDeliver)) {
        jsConsumerInfo_Destroy(ci);
        ci = NULL;
        s = js_UpdateConsumer(&ci, p->js, WORK_STREAM, &cc, &jo, &je);
    }
    if (s != NATS_OK) return js_fail(err, s, je, "consumer", CONSUMER);
    p->ack_wait_ms = (int)(ci->Config->AckWait / 1000000);
    p->max_deliver = ci->Config->MaxDeliver > 2 ? (int)ci->Config->MaxDeliver - 2 : 1;
    jsConsumerInfo_Destroy(ci);
    return 0;
}

static int ensure_bucket(jq *p, int b, vd_error *err)
{
    natsStatus s = js_KeyValue(&p->kv[b], p->js, bucket_names[b]);
    if (s == NATS_OK) return 0;
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = bucket_names[b];
    kc.History = 1;
    kc.StorageType = js_FileStorage;
    s = js_CreateKeyValue(&p->kv[b], p->js, &kc);
    if (s != NATS_OK) s = js_KeyValue(&p->kv[b], p->js, bucket_names[b]); /* a race */
    return s == NATS_OK ? 0 : js_fail(err, s, 0, "key-value bucket", bucket_names[b]);
}

/* A refusal by the server's permissions: logged once, kept for the set-up's error. */
static void on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus s, void *closure)
{
    (void)nc, (void)sub;
    jq *p = closure;
    natsStatus ls;
    const char *t = nats_GetLastError(&ls);
    if (s != NATS_NOT_PERMITTED) return;
    pthread_mutex_lock(&p->mu);
    int first = !p->denied[0];
    snprintf(p->denied, sizeof p->denied, "%s", t && *t ? t : natsStatus_GetText(s));
    pthread_mutex_unlock(&p->mu);
    if (first)
        fprintf(stderr, "vdag %s: the NATS server refused the batch queue this identity: %s\n",
                p->name, t && *t ? t : natsStatus_GetText(s));
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    jq *p = closure;
    atomic_fetch_add(&p->reconnects, 1);
}

/* ---- work items -------------------------------------------------------------------------- */

static int publish(jq *p, const char *subject, const char *id, const void *data, size_t len,
                   vd_error *err)
{
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id;
    po.MaxWait = API_WAIT_MS;
    jsPubAck *pa = NULL;
    jsErrCode je = 0;
    natsStatus s = js_Publish(&pa, p->js, subject, data, (int)len, &po, &je);
    jsPubAck_Destroy(pa);
    return s == NATS_OK ? 0 : js_fail(err, s, je, "publish to", subject);
}

static int jq_push(vd_queue *q, const char *group, const char *id, const void *data, size_t len,
                   vd_error *err)
{
    char subj[256];
    if (!vd__key_ok(group)) return vd_fail(err, VD_EINVAL, "queue: bad group name '%s'", group);
    snprintf(subj, sizeof subj, VD_SUBJ_WORK ".%s", group);
    return publish(q->priv, subj, id, data, len, err);
}

static int purge_subject(jq *p, const char *stream, const char *subject, vd_error *err)
{
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = API_WAIT_MS;
    o.Stream.Purge.Subject = subject;
    jsErrCode je = 0;
    natsStatus s = js_PurgeStream(p->js, stream, &o, &je);
    return s == NATS_OK ? 0 : js_fail(err, s, je, "purge", subject);
}

static int jq_purge(vd_queue *q, const char *group, vd_error *err)
{
    char subj[256];
    snprintf(subj, sizeof subj, VD_SUBJ_WORK ".%s", group);
    int rc = purge_subject(q->priv, WORK_STREAM, subj, err);
    snprintf(subj, sizeof subj, VD_SUBJ_DEAD ".%s", group);
    return rc ? rc : purge_subject(q->priv, DEAD_STREAM, subj, err);
}

static int jq_dead(vd_queue *q, const char *group, const char *id, const void *data, size_t len,
                   vd_error *err)
{
    char subj[256], mid[256];
    snprintf(subj, sizeof subj, VD_SUBJ_DEAD ".%s", group);
    snprintf(mid, sizeof mid, "dead.%s", id ? id : "");
    return publish(q->priv, subj, id ? mid : NULL, data, len, err);
}

static int jq_dead_count(vd_queue *q, const char *group, long *n, vd_error *err)
{
    jq *p = q->priv;
    char subj[256];
    snprintf(subj, sizeof subj, VD_SUBJ_DEAD ".%s", group);
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = API_WAIT_MS;
    o.Stream.Info.SubjectsFilter = subj;
    jsStreamInfo *si = NULL;
    jsErrCode je = 0;
    *n = 0;
    natsStatus s = js_GetStreamInfo(&si, p->js, DEAD_STREAM, &o, &je);
    if (s != NATS_OK) return js_fail(err, s, je, "stream info", DEAD_STREAM);
    jsStreamStateSubjects *ss = si->State.Subjects;
    for (int i = 0; ss && i < ss->Count; i++) *n += (long)ss->List[i].Msgs;
    jsStreamInfo_Destroy(si);
    return 0;
}

static int jq_consumer_new(vd_queue *q, vd_qconsumer **out, vd_error *err)
{
    jq *p = q->priv;
    *out = NULL;
    vd_qconsumer *c = calloc(1, sizeof *c);
    if (!c) return vd_fail(err, VD_ENOMEM, "out of memory");
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = WORK_STREAM;
    so.Consumer = CONSUMER;
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = API_WAIT_MS;
    natsSubscription *sub = NULL;
    jsErrCode je = 0;
    natsStatus s = js_PullSubscribe(&sub, p->js, VD_SUBJ_WORK ".>", CONSUMER, &o, &so, &je);
    if (s != NATS_OK) {
        free(c);
        return js_fail(err, s, je, "pull subscribe to", CONSUMER);
    }
    c->q = q;
    c->priv = sub;
    *out = c;
    return 0;
}

static void jq_consumer_free(vd_qconsumer *c)
{
    if (!c) return;
    natsSubscription_Destroy(c->priv); /* not Unsubscribe: the durable stays */
    free(c);
}

static int jq_pull(vd_qconsumer *c, int timeout_ms, vd_qmsg **out, vd_error *err)
{
    *out = NULL;
    natsMsgList list = {0};
    jsErrCode je = 0;
    natsStatus s = natsSubscription_Fetch(&list, c->priv, 1, timeout_ms > 0 ? timeout_ms : 1, &je);
    if (s == NATS_TIMEOUT || (s == NATS_OK && list.Count == 0)) {
        natsMsgList_Destroy(&list);
        return vd_fail(err, VD_ETIMEDOUT, "queue: no item within %d ms", timeout_ms);
    }
    if (s != NATS_OK) {
        natsMsgList_Destroy(&list);
        jq *p = c->q->priv;
        if (natsConnection_Status(p->nc) != NATS_CONN_STATUS_CONNECTED)
            return vd_fail(err, VD_ECONN, "jetstream: disconnected from %s, reconnecting", p->url);
        return js_fail(err, s, je, "fetch from", CONSUMER);
    }
    natsMsg *m = list.Msgs[0];
    list.Msgs[0] = NULL;
    natsMsgList_Destroy(&list);
    vd_qmsg *qm = calloc(1, sizeof *qm);
    if (!qm) {
        natsMsg_Destroy(m);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    jsMsgMetaData *md = NULL;
    int deliveries = 1;
    if (natsMsg_GetMetaData(&md, m) == NATS_OK) {
        deliveries = (int)md->NumDelivered;
        jsMsgMetaData_Destroy(md);
    }
    *qm = (vd_qmsg){(const unsigned char *)natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m),
                    deliveries, c->q, m};
    *out = qm;
    return 0;
}

static int jq_ack(vd_qmsg *m, vd_error *err)
{
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = API_WAIT_MS;
    jsErrCode je = 0;
    natsStatus s = natsMsg_AckSync(m->impl, &o, &je);
    return s == NATS_OK ? 0 : js_fail(err, s, je, "ack", "");
}

static int jq_nak(vd_qmsg *m, int delay_ms, vd_error *err)
{
    natsStatus s =
        delay_ms > 0 ? natsMsg_NakWithDelay(m->impl, delay_ms, NULL) : natsMsg_Nak(m->impl, NULL);
    return s == NATS_OK ? 0 : js_fail(err, s, 0, "nak", "");
}

static int jq_progress(vd_qmsg *m, vd_error *err)
{
    natsStatus s = natsMsg_InProgress(m->impl, NULL);
    return s == NATS_OK ? 0 : js_fail(err, s, 0, "in-progress ack", "");
}

static void jq_msg_free(vd_qmsg *m)
{
    if (!m) return;
    natsMsg_Destroy(m->impl);
    free(m);
}

/* ---- KV ---------------------------------------------------------------------------------- */

static int jq_kv_put(vd_queue *q, int bucket, const char *key, const void *val, size_t len,
                     vd_error *err)
{
    jq *p = q->priv;
    if (bucket < 0 || bucket >= VD_KV_N || !vd__key_ok(key))
        return vd_fail(err, VD_EINVAL, "queue: bad key '%s'", key ? key : "(null)");
    if (len > p->max_value)
        return vd_fail(err, VD_ETOOBIG, "queue: value of %zu bytes for %s is over %zu", len, key,
                       p->max_value);
    uint64_t rev = 0;
    natsStatus s = kvStore_Put(&rev, p->kv[bucket], key, val, (int)len);
    return s == NATS_OK ? 0 : js_fail(err, s, 0, "put", key);
}

static int jq_kv_get(vd_queue *q, int bucket, const char *key, vd_buf *out, vd_error *err)
{
    jq *p = q->priv;
    out->data = NULL, out->len = 0;
    if (bucket < 0 || bucket >= VD_KV_N || !vd__key_ok(key))
        return vd_fail(err, VD_EINVAL, "queue: bad key '%s'", key ? key : "(null)");
    kvEntry *e = NULL;
    natsStatus s = kvStore_Get(&e, p->kv[bucket], key);
    if (s == NATS_NOT_FOUND) return vd_fail(err, VD_ENOTFOUND, "queue: no key %s", key);
    if (s != NATS_OK) return js_fail(err, s, 0, "get", key);
    size_t n = (size_t)kvEntry_ValueLen(e);
    out->data = malloc(n + 1);
    if (!out->data) {
        kvEntry_Destroy(e);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    if (n) memcpy(out->data, kvEntry_Value(e), n);
    out->data[n] = 0;
    out->len = n;
    kvEntry_Destroy(e);
    return 0;
}

static int jq_kv_del(vd_queue *q, int bucket, const char *key, vd_error *err)
{
    jq *p = q->priv;
    if (bucket < 0 || bucket >= VD_KV_N || !vd__key_ok(key))
        return vd_fail(err, VD_EINVAL, "queue: bad key '%s'", key ? key : "(null)");
    natsStatus s = kvStore_Purge(p->kv[bucket], key, NULL);
    return s == NATS_OK || s == NATS_NOT_FOUND ? 0 : js_fail(err, s, 0, "delete", key);
}

static int jq_kv_purge(vd_queue *q, int bucket, const char *prefix, vd_error *err)
{
    jq *p = q->priv;
    size_t n = prefix ? strlen(prefix) : 0;
    if (bucket < 0 || bucket >= VD_KV_N || n < 2 || prefix[n - 1] != '.')
        return vd_fail(err, VD_EINVAL, "queue: purge needs a prefix ending with '.'");
    char subj[300], stream[64];
    snprintf(subj, sizeof subj, "$KV.%s.%s>", bucket_names[bucket], prefix);
    snprintf(stream, sizeof stream, "KV_%s", bucket_names[bucket]);
    return purge_subject(p, stream, subj, err);
}

/* Destroy a watcher now, or after the connection is closed when it is down (stopping a
 * watcher deletes its consumer on the server, which would wait for the API timeout). */
static void drop_watcher(jq *p, kvWatcher *kw)
{
    if (!kw) return;
    if (natsConnection_Status(p->nc) == NATS_CONN_STATUS_CONNECTED) {
        kvWatcher_Destroy(kw);
        return;
    }
    pthread_mutex_lock(&p->mu);
    kvWatcher **o = realloc(p->orphans, sizeof *o * (size_t)(p->n_orphans + 1));
    if (o) p->orphans = o, p->orphans[p->n_orphans++] = kw;
    pthread_mutex_unlock(&p->mu);
    if (!o) kvWatcher_Destroy(kw);
}

static void *watch_main(void *arg)
{
    vd_kv_watch *w = arg;
    jq *p = w->q;
    int seen = atomic_load(&p->reconnects);
    while (!atomic_load(&w->stop)) {
        if (natsConnection_Status(p->nc) != NATS_CONN_STATUS_CONNECTED) {
            usleep(WATCH_POLL_MS * 1000); /* reconnecting: a new watcher would only block */
            continue;
        }
        if (!w->w || atomic_load(&p->reconnects) != seen) { /* (re)start: a full replay */
            seen = atomic_load(&p->reconnects);
            drop_watcher(p, w->w);
            w->w = NULL;
            kvWatcher *nw = NULL;
            if (!atomic_load(&w->stop) && kvStore_WatchAll(&nw, p->kv[w->bucket], NULL) == NATS_OK)
                w->w = nw;
            if (!w->w) {
                usleep(WATCH_POLL_MS * 1000);
                continue;
            }
        }
        kvEntry *e = NULL;
        natsStatus s = kvWatcher_Next(&e, w->w, WATCH_POLL_MS);
        if (s == NATS_TIMEOUT) continue;
        if (s != NATS_OK) { /* stopped, or broken: make a new one */
            if (!atomic_load(&w->stop)) usleep(WATCH_POLL_MS * 1000);
            drop_watcher(p, w->w);
            w->w = NULL;
            continue;
        }
        if (!e) {
            w->fn(w->arg, NULL, NULL, 0);
            continue;
        }
        kvOperation op = kvEntry_Operation(e);
        if (op == kvOp_Put)
            w->fn(w->arg, kvEntry_Key(e), kvEntry_Value(e), (size_t)kvEntry_ValueLen(e));
        else
            w->fn(w->arg, kvEntry_Key(e), NULL, 0);
        kvEntry_Destroy(e);
    }
    return NULL;
}

static int jq_kv_watch(vd_queue *q, int bucket, vd_kv_fn fn, void *arg, vd_kv_watch **out,
                       vd_error *err)
{
    jq *p = q->priv;
    *out = NULL;
    if (bucket < 0 || bucket >= VD_KV_N) return vd_fail(err, VD_EINVAL, "queue: bad bucket");
    vd_kv_watch *w = calloc(1, sizeof *w);
    if (!w) return vd_fail(err, VD_ENOMEM, "out of memory");
    w->q = p, w->bucket = bucket, w->fn = fn, w->arg = arg;
    atomic_init(&w->stop, 0);
    natsStatus s = kvStore_WatchAll(&w->w, p->kv[bucket], NULL);
    if (s != NATS_OK || pthread_create(&w->thr, NULL, watch_main, w)) {
        kvWatcher_Destroy(w->w);
        free(w);
        return s != NATS_OK ? js_fail(err, s, 0, "watch", bucket_names[bucket])
                            : vd_fail(err, VD_ENOMEM, "cannot start a watch thread");
    }
    *out = w;
    return 0;
}

static void jq_kv_unwatch(vd_kv_watch *w)
{
    if (!w) return;
    atomic_store(&w->stop, 1);
    pthread_join(w->thr, NULL); /* its kvWatcher_Next waits WATCH_POLL_MS at most */
    drop_watcher(w->q, w->w);
    free(w);
}

static size_t jq_max_value(vd_queue *q)
{
    return ((jq *)q->priv)->max_value;
}

static int jq_max_deliver(vd_queue *q)
{
    return ((jq *)q->priv)->max_deliver;
}

static int jq_ack_wait(vd_queue *q)
{
    return ((jq *)q->priv)->ack_wait_ms;
}

static void jq_close(vd_queue *q)
{
    if (!q) return;
    jq *p = q->priv;
    if (p->nc) natsConnection_Close(p->nc);
    for (int i = 0; i < p->n_orphans; i++) kvWatcher_Destroy(p->orphans[i]);
    free(p->orphans);
    for (int b = 0; b < VD_KV_N; b++) kvStore_Destroy(p->kv[b]);
    jsCtx_Destroy(p->js);
    natsConnection_Destroy(p->nc);
    natsOptions_Destroy(p->opts);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static const vd_queue_ops js_ops = {
    .name = "jetstream",
    .push = jq_push,
    .purge = jq_purge,
    .dead = jq_dead,
    .dead_count = jq_dead_count,
    .consumer_new = jq_consumer_new,
    .pull = jq_pull,
    .ack = jq_ack,
    .nak = jq_nak,
    .progress = jq_progress,
    .msg_free = jq_msg_free,
    .consumer_free = jq_consumer_free,
    .kv_put = jq_kv_put,
    .kv_get = jq_kv_get,
    .kv_del = jq_kv_del,
    .kv_purge = jq_kv_purge,
    .kv_watch = jq_kv_watch,
    .kv_unwatch = jq_kv_unwatch,
    .max_value = jq_max_value,
    .max_deliver = jq_max_deliver,
    .ack_wait_ms = jq_ack_wait,
    .close = jq_close,
};

int vd_queue_js_new(const vd_nats_opts *nats, const vd_queue_opts *o, vd_queue **out, vd_error *err)
{
    *out = NULL;
    vd_queue_opts def = {0};
    if (!o) o = &def;
    if (!nats || !nats->url || !*nats->url)
        return vd_fail(err, VD_EINVAL, "jetstream: no NATS URL");
    char url[256];
    vd_nats_url_redact(nats->url, url, sizeof url);
    if (o->ack_wait_ms < 0 || o->max_deliver < 0)
        return vd_fail(err, VD_EINVAL, "jetstream: ack_wait %d ms / max_deliver %d: expected >= 0",
                       o->ack_wait_ms, o->max_deliver);
    jq *p = calloc(1, sizeof *p);
    if (!p) return vd_fail(err, VD_ENOMEM, "out of memory");
    snprintf(p->url, sizeof p->url, "%s", url);
    atomic_init(&p->reconnects, 0);
    pthread_mutex_init(&p->mu, NULL);
    p->pub = (vd_queue){&js_ops, p};
    vd_nats_opts no = *nats; /* its identity: the node's, or the queue's own name */
    if (!no.name || !*no.name) no.name = o->name ? o->name : "vdag-batch";
    if (!no.connect_timeout_ms) no.connect_timeout_ms = 3000;
    int orc = vd_nats_options_new(&no, &p->opts, err);
    if (orc) {
        jq_close(&p->pub);
        return orc;
    }
    snprintf(p->name, sizeof p->name, "%s", no.name);
    natsStatus s = natsOptions_SetReconnectedCB(p->opts, on_reconnected, p);
    if (s == NATS_OK) s = natsOptions_SetErrorHandler(p->opts, on_async_error, p);
    if (s == NATS_OK) s = natsOptions_UseGlobalMessageDelivery(p->opts, false);
    if (s != NATS_OK) {
        jq_close(&p->pub);
        return vd_fail(err, code_of(s), "jetstream: options: %s", natsStatus_GetText(s));
    }
    s = natsConnection_Connect(&p->nc, p->opts);
    if (s != NATS_OK) {
        natsStatus ls;
        const char *t = nats_GetLastError(&ls);
        int code = code_of(s) == VD_EBACKEND ? VD_ECONN : code_of(s);
        int rc = vd_fail(err, code, "jetstream: cannot connect to %s as '%s': %s%s", url, no.name,
                         t && *t ? t : natsStatus_GetText(s),
                         code == VD_EAUTH ? " (credentials or TLS refused: --nats-dir, "
                                            "--nats-nkey, --nats-tls-*; docs/security.md)"
                                          : " (is nats-server running? 'vdag nats-server' "
                                            "starts one)");
        jq_close(&p->pub);
        return rc;
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = API_WAIT_MS;
    s = natsConnection_JetStream(&p->js, p->nc, &jo);
    int64_t maxp = natsConnection_GetMaxPayload(p->nc);
    p->max_value = maxp > 8192 ? (size_t)maxp - 4096 : 4096;
    int rc = s != NATS_OK ? js_fail(err, s, 0, "context", url) : 0;
    if (!rc) rc = ensure_stream(p, WORK_STREAM, VD_SUBJ_WORK ".>", js_WorkQueuePolicy, err);
    if (!rc) rc = ensure_stream(p, DEAD_STREAM, VD_SUBJ_DEAD ".>", js_LimitsPolicy, err);
    if (!rc) rc = ensure_consumer(p, o, err);
    for (int b = 0; !rc && b < VD_KV_N; b++) rc = ensure_bucket(p, b, err);
    pthread_mutex_lock(&p->mu);
    if (rc && p->denied[0])
        rc = vd_fail(err, VD_EAUTH,
                     "jetstream: not authorized: the server does not let '%s' use the batch queue "
                     "(%s): it takes an identity of the role cloud or worker (docs/security.md)",
                     p->name, p->denied);
    pthread_mutex_unlock(&p->mu);
    if (rc) {
        jq_close(&p->pub);
        return rc;
    }
    *out = &p->pub;
    return 0;
}
