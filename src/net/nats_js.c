/*
 * The NATS transport's durability: JetStream streams (work-queue retention, one durable
 * pull consumer each) and key-value buckets, over the transport's own connection (one
 * identity, one set of permissions). The JetStream context and the handles (buckets, pull
 * subscriptions) are made on first use and kept until close, under nt.mu.
 *
 * Publishing to a stream does not use nats.c's jsCtx: the messages go out back to back,
 * each with its id as Nats-Msg-Id (the stream drops a repeated id within its duplicate
 * window) and a reply subject of one subscription, and the stream's acknowledgements are
 * matched by that subject's last token. So an identity that may only publish its subjects
 * (an edge) needs no JetStream API permission to store results.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nats_internal.h"
#include "vdag/base.h"

#define JS_API_WAIT_MS          5000
#define JS_DUP_WINDOW_S         120
#define JS_CONSUMER_MAX_PENDING 20000

/* The JetStream context (nt.mu held). */
static natsStatus js_of(nt *p, jsCtx **out)
{
    if (!p->js) {
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = JS_API_WAIT_MS;
        natsStatus s = natsConnection_JetStream(&p->js, p->nc, &jo);
        if (s != NATS_OK) return s;
    }
    *out = p->js;
    return NATS_OK;
}

/* A JetStream failure as a code: no JetStream (VD_EUNSUPP), not connected, refused. */
static int js_fail(nt *p, vd_error *err, natsStatus s, jsErrCode jerr, const char *what)
{
    if (jerr == JSNotEnabledErr || jerr == JSNotEnabledForAccountErr || s == NATS_NO_RESPONDERS)
        return vd_fail(err, VD_EUNSUPP,
                       "NATS (%s): %s: the server has no JetStream: enable it (a jetstream {} "
                       "block in its config; `vdag nats-server` does)",
                       p->url, what);
    int code = vd__nt_code(s);
    if (s == NATS_TIMEOUT && natsConnection_Status(p->nc) != NATS_CONN_STATUS_CONNECTED)
        code = VD_ECONN;
    const char *t = vd__nt_text(s);
    char text[256];
    if (s == NATS_TIMEOUT && (vd__nt_denied_prefix(p, "$JS.", text, sizeof text) ||
                              vd__nt_denied_prefix(p, "$KV.", text, sizeof text)))
        t = text, code = VD_EAUTH; /* the API request was refused: no answer came */
    if (strcasestr(t, "permissions violation") || strcasestr(t, "authorization")) code = VD_EAUTH;
    return vd_fail(err, code, "NATS (%s): %s: %s%s", p->url, what, t,
                   code == VD_EAUTH ? ": this identity may not use JetStream there "
                                      "(docs/security.md)"
                                    : "");
}

void vd__nt_js_free(nt *p)
{
    for (int i = 0; i < p->n_pulls; i++) {
        natsSubscription_Unsubscribe(p->pulls[i].sub);
        natsSubscription_Destroy(p->pulls[i].sub);
    }
    for (int i = 0; i < p->n_kvs; i++) kvStore_Destroy(p->kvs[i].kv);
    p->n_pulls = p->n_kvs = 0;
    jsCtx_Destroy(p->js);
    p->js = NULL;
}

/* ---- streams -------------------------------------------------------------------------- */

int vd__nt_stream_create(vd_transport *t, const vd_stream_cfg *c, vd_error *err)
{
    nt *p = t->priv;
    if (!c || !c->name || !c->subjects)
        return vd_fail(err, VD_EINVAL, "stream: a name and a subject pattern are needed");
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char *subj[1] = {c->subjects};
    sc.Name = c->name;
    sc.Subjects = subj;
    sc.SubjectsLen = 1;
    sc.Retention = js_WorkQueuePolicy;
    sc.Storage = js_FileStorage;
    sc.Discard = js_DiscardOld;
    sc.MaxAge = c->max_age_s > 0 ? (int64_t)(c->max_age_s * 1e9) : 0;
    sc.MaxBytes = c->max_bytes > 0 ? c->max_bytes : -1;
    sc.Duplicates = (int64_t)JS_DUP_WINDOW_S * 1000000000;
    if (sc.MaxAge > 0 && sc.Duplicates > sc.MaxAge) sc.Duplicates = sc.MaxAge;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    jsCtx *js = NULL;
    pthread_mutex_lock(&p->mu);
    natsStatus s = js_of(p, &js); /* lives until close */
    pthread_mutex_unlock(&p->mu);
    if (s == NATS_OK) s = js_AddStream(&si, js, &sc, NULL, &jerr);
    if (s != NATS_OK && jerr == JSStreamNameExistErr)
        s = js_UpdateStream(&si, js, &sc, NULL, &jerr);
    jsStreamInfo_Destroy(si);
    if (s != NATS_OK) {
        char what[200];
        snprintf(what, sizeof what, "cannot create the stream %s (%s)", c->name, c->subjects);
        return js_fail(p, err, s, jerr, what);
    }
    pthread_mutex_lock(&p->mu);
    nt_stream *r = NULL;
    for (int i = 0; i < p->n_streams && !r; i++)
        if (!strcmp(p->streams[i].name, c->name)) r = &p->streams[i];
    if (!r && p->n_streams < NT_PULLS) r = &p->streams[p->n_streams++];
    if (r) {
        snprintf(r->name, sizeof r->name, "%s", c->name);
        r->ack_wait_ms = c->ack_wait_ms > 0 ? c->ack_wait_ms : 30000;
    }
    pthread_mutex_unlock(&p->mu);
    return 0;
}

/* The stream's answer to one stored message (its PubAck). */
static int puback(nt *p, natsMsg *m, vd_spub *pm, vd_error *err)
{
    json_t *j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
    json_t *e = json_object_get(j, "error");
    int rc = 0;
    if (e || !json_is_integer(json_object_get(j, "seq")))
        rc = vd_fail(err, VD_EBACKEND, "NATS (%s): the stream refused '%s' (id %s): %s", p->url,
                     pm->subject, pm->id,
                     json_string_value(json_object_get(e, "description"))
                         ? json_string_value(json_object_get(e, "description"))
                         : "malformed answer");
    json_decref(j);
    return rc;
}

int vd__nt_stream_publish(vd_transport *t, vd_spub *m, int n, int timeout_ms, vd_error *err)
{
    nt *p = t->priv;
    if (n <= 0) return 0;
    for (int i = 0; i < n; i++) m[i].rc = VD_ETIMEDOUT;
    natsInbox *uniq = NULL;
    natsStatus s = natsInbox_Create(&uniq);
    if (s != NATS_OK) return vd_fail(err, vd__nt_code(s), "NATS: %s", vd__nt_text(s));
    const char *dot = strchr(uniq, '.');
    char base[400], wild[410];
    snprintf(base, sizeof base, "%s.%s", p->inbox, dot ? dot + 1 : uniq);
    snprintf(wild, sizeof wild, "%s.*", base);
    natsInbox_Destroy(uniq);
    natsSubscription *sub = NULL;
    s = natsConnection_SubscribeSync(&sub, p->nc, wild);
    if (s != NATS_OK) {
        natsSubscription_Destroy(sub);
        return vd_fail(err, vd__nt_code(s), "NATS (%s): cannot store on '%s': %s", p->url,
                       m[0].subject, vd__nt_text(s));
    }
    nt_pending me = {.subject = m[0].subject, .sub = sub};
    pthread_mutex_lock(&p->mu);
    me.next = p->pending;
    p->pending = &me;
    pthread_mutex_unlock(&p->mu);
    int sent = 0;
    for (int i = 0; i < n && s == NATS_OK; i++, sent++) {
        char reply[440];
        snprintf(reply, sizeof reply, "%s.%d", base, i);
        natsMsg *msg = NULL;
        s = natsMsg_Create(&msg, m[i].subject, reply, (const char *)m[i].msg.data,
                           (int)m[i].msg.len);
        if (s == NATS_OK && m[i].id) s = natsMsgHeader_Set(msg, "Nats-Msg-Id", m[i].id);
        if (s == NATS_OK) s = natsConnection_PublishMsg(p->nc, msg);
        natsMsg_Destroy(msg);
        if (s != NATS_OK) m[i].rc = vd__nt_code(s);
    }
    vd_error e1 = {0};
    int answered = 0, stored = 0;
    double end = vd_now_ms() + (timeout_ms > 0 ? timeout_ms : 5000);
    while (answered < sent) {
        double left = end - vd_now_ms();
        natsMsg *a = NULL;
        natsStatus ns = left > 0 ? natsSubscription_NextMsg(&a, sub, (int64_t)left) : NATS_TIMEOUT;
        if (ns == NATS_NO_RESPONDERS) { /* nats.c drops the message: the next in order */
            for (int i = 0; i < sent; i++)
                if (m[i].rc == VD_ETIMEDOUT) {
                    vd_error e = {0};
                    m[i].rc = vd_fail(&e, VD_ENOTFOUND,
                                      "NATS (%s): no stream stores '%s' yet (the cloud creates it)",
                                      p->url, m[i].subject);
                    if (!e1.code) e1 = e;
                    answered++;
                    break;
                }
            continue;
        }
        if (ns != NATS_OK) break;
        const char *subj = natsMsg_GetSubject(a);
        const char *last = strrchr(subj, '.');
        int i = last ? atoi(last + 1) : -1;
        if (i >= 0 && i < sent && m[i].rc == VD_ETIMEDOUT) {
            vd_error e = {0};
            m[i].rc = puback(p, a, &m[i], &e);
            if (m[i].rc && !e1.code) e1 = e;
            stored += m[i].rc == 0;
            answered++;
        }
        natsMsg_Destroy(a);
    }
    pthread_mutex_lock(&p->mu);
    for (nt_pending **q = &p->pending; *q; q = &(*q)->next)
        if (*q == &me) {
            *q = me.next;
            break;
        }
    pthread_mutex_unlock(&p->mu);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    char text[256] = "";
    int refused = vd__nt_denied(p, m[0].subject, 1, text, sizeof text);
    if (me.denied || refused) {
        for (int i = 0; i < n; i++)
            if (m[i].rc) m[i].rc = VD_EAUTH;
        if (!stored)
            return vd_fail(err, VD_EAUTH,
                           "NATS (%s): not authorized: the server does not let '%s' publish on "
                           "'%s' (%s)",
                           p->url, p->name, m[0].subject, text);
    }
    if (stored) return stored;
    if (e1.code) {
        if (err) *err = e1;
        return e1.code;
    }
    int connected = natsConnection_Status(p->nc) == NATS_CONN_STATUS_CONNECTED;
    return vd_fail(err, connected ? VD_ETIMEDOUT : VD_ECONN,
                   "NATS (%s): %d message(s) on '%s': %s within %d ms", p->url, n, m[0].subject,
                   connected ? "the stream did not answer" : "not connected to the server",
                   timeout_ms);
}

/* The pull subscription of a durable consumer, made on first use (nt.mu not held: the
 * lookups take it, the API calls run without it). */
static int pull_of(nt *p, const char *stream, const char *durable, natsSubscription **out,
                   vd_error *err)
{
    pthread_mutex_lock(&p->mu);
    *out = NULL;
    for (int i = 0; i < p->n_pulls && !*out; i++)
        if (!strcmp(p->pulls[i].stream, stream) && !strcmp(p->pulls[i].durable, durable))
            *out = p->pulls[i].sub;
    int full = p->n_pulls == NT_PULLS, ack_wait_ms = 30000;
    for (int i = 0; i < p->n_streams; i++)
        if (!strcmp(p->streams[i].name, stream)) ack_wait_ms = p->streams[i].ack_wait_ms;
    jsCtx *js = NULL;
    natsStatus s = js_of(p, &js);
    pthread_mutex_unlock(&p->mu);
    if (*out) return 0;
    if (full) return vd_fail(err, VD_EBUSY, "NATS: more than %d durable consumers", NT_PULLS);
    /* Take the consumer over: a new one delivers every message still in the (work-queue)
     * stream, those delivered before and not acked included, at once. */
    jsErrCode jerr = 0;
    if (s == NATS_OK) {
        s = js_DeleteConsumer(js, stream, durable, NULL, &jerr);
        if (s != NATS_OK && jerr == JSConsumerNotFoundErr) s = NATS_OK;
    }
    jsConsumerInfo *ci = NULL;
    if (s == NATS_OK) {
        jsConsumerConfig cc;
        jsConsumerConfig_Init(&cc);
        cc.Durable = durable;
        cc.AckPolicy = js_AckExplicit;
        cc.DeliverPolicy = js_DeliverAll;
        cc.AckWait = (int64_t)ack_wait_ms * 1000000;
        cc.MaxAckPending = JS_CONSUMER_MAX_PENDING;
        cc.MaxDeliver = -1;
        s = js_AddConsumer(&ci, js, stream, &cc, NULL, &jerr);
    }
    jsConsumerInfo_Destroy(ci);
    natsSubscription *sub = NULL;
    if (s == NATS_OK) {
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = stream;
        so.Consumer = durable;
        so.ManualAck = true;
        s = js_PullSubscribe(&sub, js, NULL, durable, NULL, &so, &jerr);
    }
    if (s != NATS_OK) {
        char what[200];
        snprintf(what, sizeof what, "cannot consume stream %s as %s", stream, durable);
        return js_fail(p, err, s, jerr, what);
    }
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n_pulls && !*out; i++) /* made meanwhile by another thread */
        if (!strcmp(p->pulls[i].stream, stream) && !strcmp(p->pulls[i].durable, durable))
            *out = p->pulls[i].sub;
    if (!*out && p->n_pulls < NT_PULLS) {
        nt_pull *q = &p->pulls[p->n_pulls++];
        snprintf(q->stream, sizeof q->stream, "%s", stream);
        snprintf(q->durable, sizeof q->durable, "%s", durable);
        q->sub = *out = sub;
        sub = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    if (sub) natsSubscription_Destroy(sub);
    return *out ? 0 : vd_fail(err, VD_EBUSY, "NATS: more than %d durable consumers", NT_PULLS);
}

int vd__nt_stream_fetch(vd_transport *t, const char *stream, const char *durable, int max,
                        int timeout_ms, vd_smsg *out, int *n, vd_error *err)
{
    nt *p = t->priv;
    *n = 0;
    if (max <= 0) return 0;
    natsSubscription *sub = NULL; /* lives until close; Fetch runs without the lock */
    int rc = pull_of(p, stream, durable, &sub, err);
    if (rc) return rc;
    natsMsgList list = {0};
    jsErrCode jerr = 0;
    natsStatus s = natsSubscription_Fetch(&list, sub, max, timeout_ms > 0 ? timeout_ms : 1, &jerr);
    if (s == NATS_TIMEOUT) return 0;
    if (s != NATS_OK) {
        char what[200];
        snprintf(what, sizeof what, "fetching from stream %s as %s", stream, durable);
        rc = js_fail(p, err, s, jerr, what);
        if (natsConnection_Status(p->nc) == NATS_CONN_STATUS_CONNECTED) {
            /* the consumer (or the stream) is gone, a server with a new store: made anew at
             * the next fetch */
            pthread_mutex_lock(&p->mu);
            for (int i = 0; i < p->n_pulls; i++)
                if (p->pulls[i].sub == sub) {
                    p->pulls[i] = p->pulls[--p->n_pulls];
                    break;
                }
            pthread_mutex_unlock(&p->mu);
            natsSubscription_Unsubscribe(sub);
            natsSubscription_Destroy(sub);
        }
        return rc;
    }
    for (int i = 0; i < list.Count; i++) {
        natsMsg *m = list.Msgs[i];
        list.Msgs[i] = NULL;
        jsMsgMetaData *md = NULL;
        int deliveries = natsMsg_GetMetaData(&md, m) == NATS_OK ? (int)md->NumDelivered : 1;
        jsMsgMetaData_Destroy(md);
        out[(*n)++] = (vd_smsg){
            .subject = natsMsg_GetSubject(m),
            .data = {(unsigned char *)natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m)},
            .deliveries = deliveries,
            .impl_ = m};
    }
    natsMsgList_Destroy(&list);
    return 0;
}

int vd__nt_stream_ack(vd_transport *t, vd_smsg *m, vd_error *err)
{
    nt *p = t->priv;
    natsStatus s = natsMsg_Ack(m->impl_, NULL);
    if (s != NATS_OK)
        return vd_fail(err, vd__nt_code(s), "NATS (%s): ack: %s", p->url, vd__nt_text(s));
    return 0;
}

int vd__nt_stream_nak(vd_transport *t, vd_smsg *m, int delay_ms, vd_error *err)
{
    nt *p = t->priv;
    natsStatus s = natsMsg_NakWithDelay(m->impl_, delay_ms > 0 ? delay_ms : 0, NULL);
    if (s != NATS_OK)
        return vd_fail(err, vd__nt_code(s), "NATS (%s): nak: %s", p->url, vd__nt_text(s));
    return 0;
}

void vd__nt_stream_release(vd_transport *t, vd_smsg *m)
{
    (void)t;
    natsMsg_Destroy(m->impl_);
    memset(m, 0, sizeof *m);
}

/* ---- key-value buckets ---------------------------------------------------------------- */

/* An open bucket: one opened or made before, else opened (or made) now (nt.mu not held). */
static int kv_of(nt *p, const char *bucket, int create, double ttl_s, kvStore **out, vd_error *err)
{
    pthread_mutex_lock(&p->mu);
    *out = NULL;
    for (int i = 0; i < p->n_kvs && !*out; i++)
        if (!strcmp(p->kvs[i].bucket, bucket)) *out = p->kvs[i].kv;
    int full = p->n_kvs == NT_KVS;
    jsCtx *js = NULL;
    natsStatus s = js_of(p, &js);
    pthread_mutex_unlock(&p->mu);
    if (*out && !create) return 0;
    if (!*out && full) return vd_fail(err, VD_EBUSY, "NATS: more than %d buckets", NT_KVS);
    kvStore *kv = NULL; /* made even when open: the server may have a new store */
    if (s == NATS_OK && create) {
        kvConfig kc;
        kvConfig_Init(&kc);
        kc.Bucket = bucket;
        kc.History = 1;
        kc.TTL = ttl_s > 0 ? (int64_t)(ttl_s * 1e9) : 0;
        kc.StorageType = js_FileStorage;
        s = js_CreateKeyValue(&kv, js, &kc);
    } else if (s == NATS_OK) {
        s = js_KeyValue(&kv, js, bucket);
    }
    if (s != NATS_OK) {
        char what[200];
        snprintf(what, sizeof what, "key-value bucket %s", bucket);
        if (s == NATS_NOT_FOUND)
            return vd_fail(err, VD_ENOTFOUND, "NATS (%s): no %s (the cloud makes it)", p->url,
                           what);
        return js_fail(p, err, s, 0, what);
    }
    pthread_mutex_lock(&p->mu);
    *out = NULL;
    for (int i = 0; i < p->n_kvs && !*out; i++)
        if (!strcmp(p->kvs[i].bucket, bucket)) *out = p->kvs[i].kv;
    if (!*out && p->n_kvs < NT_KVS) {
        nt_kv *q = &p->kvs[p->n_kvs++];
        snprintf(q->bucket, sizeof q->bucket, "%s", bucket);
        q->kv = *out = kv;
        kv = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    kvStore_Destroy(kv);
    return *out ? 0 : vd_fail(err, VD_EBUSY, "NATS: more than %d buckets", NT_KVS);
}

static int kv_open(nt *p, const char *bucket, kvStore **kv, vd_error *err)
{
    return kv_of(p, bucket, 0, 0, kv, err);
}

static int kv_fail(nt *p, vd_error *err, natsStatus s, const char *bucket, const char *key,
                   const char *op)
{
    char what[300];
    snprintf(what, sizeof what, "%s %s.%s", op, bucket, key);
    if (s == NATS_NO_RESPONDERS) /* JetStream answers, but no stream is the bucket's */
        return vd_fail(err, VD_ENOTFOUND,
                       "NATS (%s): %s: no such bucket (a server with a new "
                       "store?): make it again (kv_bucket)",
                       p->url, what);
    return js_fail(p, err, s, 0, what);
}

int vd__nt_kv_bucket(vd_transport *t, const char *bucket, double ttl_s, vd_error *err)
{
    nt *p = t->priv;
    kvStore *kv;
    return kv_of(p, bucket, 1, ttl_s, &kv, err);
}

int vd__nt_kv_get(vd_transport *t, const char *bucket, const char *key, vd_buf *val, uint64_t *rev,
                  vd_error *err)
{
    nt *p = t->priv;
    val->data = NULL, val->len = 0;
    kvStore *kv;
    int rc = kv_open(p, bucket, &kv, err);
    if (rc) return rc;
    kvEntry *e = NULL;
    natsStatus s = kvStore_Get(&e, kv, key);
    if (s == NATS_NOT_FOUND) return vd_fail(err, VD_ENOTFOUND, "no key %s in %s", key, bucket);
    if (s != NATS_OK) return kv_fail(p, err, s, bucket, key, "get");
    int n = kvEntry_ValueLen(e);
    val->data = malloc((size_t)n + 1);
    if (!val->data) {
        kvEntry_Destroy(e);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    if (n) memcpy(val->data, kvEntry_Value(e), (size_t)n);
    val->data[n] = 0;
    val->len = (size_t)n;
    if (rev) *rev = kvEntry_Revision(e);
    kvEntry_Destroy(e);
    return 0;
}

/* put (mode 0), create (1), update (2). */
static int kv_write(vd_transport *t, int mode, const char *bucket, const char *key,
                    const vd_buf *val, uint64_t last, uint64_t *rev, vd_error *err)
{
    nt *p = t->priv;
    kvStore *kv;
    int rc = kv_open(p, bucket, &kv, err);
    if (rc) return rc;
    uint64_t r = 0;
    const void *d = val ? val->data : NULL;
    int n = val ? (int)val->len : 0;
    natsStatus s = mode == 0   ? kvStore_Put(&r, kv, key, d, n)
                   : mode == 1 ? kvStore_Create(&r, kv, key, d, n)
                               : kvStore_Update(&r, kv, key, d, n, last);
    if (s != NATS_OK && mode && strcasestr(vd__nt_text(s), "wrong last sequence"))
        return vd_fail(err, mode == 1 ? VD_EALREADY : VD_ESTATE,
                       mode == 1 ? "%s.%s exists" : "%s.%s changed since revision %llu", bucket,
                       key, (unsigned long long)last);
    if (s != NATS_OK) return kv_fail(p, err, s, bucket, key, mode == 0 ? "put" : "write");
    if (rev) *rev = r;
    return 0;
}

int vd__nt_kv_put(vd_transport *t, const char *bucket, const char *key, const vd_buf *val,
                  uint64_t *rev, vd_error *err)
{
    return kv_write(t, 0, bucket, key, val, 0, rev, err);
}

int vd__nt_kv_create(vd_transport *t, const char *bucket, const char *key, const vd_buf *val,
                     uint64_t *rev, vd_error *err)
{
    return kv_write(t, 1, bucket, key, val, 0, rev, err);
}

int vd__nt_kv_update(vd_transport *t, const char *bucket, const char *key, const vd_buf *val,
                     uint64_t last, uint64_t *rev, vd_error *err)
{
    return kv_write(t, 2, bucket, key, val, last, rev, err);
}

int vd__nt_kv_delete(vd_transport *t, const char *bucket, const char *key, vd_error *err)
{
    nt *p = t->priv;
    kvStore *kv;
    int rc = kv_open(p, bucket, &kv, err);
    if (rc) return rc;
    natsStatus s = kvStore_Delete(kv, key);
    return s == NATS_OK || s == NATS_NOT_FOUND ? 0 : kv_fail(p, err, s, bucket, key, "delete");
}

int vd__nt_kv_keys(vd_transport *t, const char *bucket, const char *prefix, char ***keys, int *n,
                   vd_error *err)
{
    nt *p = t->priv;
    *keys = NULL, *n = 0;
    kvStore *kv;
    int rc = kv_open(p, bucket, &kv, err);
    if (rc) return rc;
    kvKeysList list = {0};
    kvWatchOptions wo;
    kvWatchOptions_Init(&wo);
    wo.Timeout = JS_API_WAIT_MS;
    natsStatus s = kvStore_Keys(&list, kv, &wo);
    if (s == NATS_NOT_FOUND) return 0;
    if (s != NATS_OK) return kv_fail(p, err, s, bucket, "*", "keys of");
    size_t pl = prefix ? strlen(prefix) : 0;
    char **out = calloc((size_t)list.Count + 1, sizeof *out);
    for (int i = 0; out && i < list.Count; i++)
        if (!pl || !strncmp(list.Keys[i], prefix, pl)) {
            if (!(out[*n] = strdup(list.Keys[i]))) break;
            (*n)++;
        }
    kvKeysList_Destroy(&list);
    if (!out) return vd_fail(err, VD_ENOMEM, "out of memory");
    *keys = out;
    return 0;
}
