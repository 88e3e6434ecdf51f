/*
 * Streams and key-value buckets in memory: the in-process transport's durability ops, with
 * JetStream's semantics (include/vdag/net.h) so that the nodes have one code path. A stream
 * keeps its messages until acked (a fetched one is due again after ack_wait, a nak'd one
 * after its delay), drops a repeated id among its last MS_DUP_IDS, and has one consumer (any
 * durable name); a fetched message is named by its sequence number, so that acking one
 * that was delivered again (or acked already) is harmless. A bucket keeps the latest value per key
 * with a revision (one counter per bucket) and forgets a key ttl after its last write. One lock
 * guards everything; fetch waits on a condition variable.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net_internal.h"
#include "vdag/base.h"

#define MS_STREAMS 8
#define MS_BUCKETS 8
#define MS_DUP_IDS 4096

typedef struct ms_msg {
    struct ms_msg *next;
    char *subject, *id;
    vd_buf data;
    double due; /* ms: deliverable from then (after a delivery: its ack wait) */
    int deliveries;
    uint64_t seq; /* a fetched message names it by this */
} ms_msg;

typedef struct ms_stream {
    char name[64], pattern[256];
    int ack_wait_ms;
    ms_msg *head, *tail;
    char *ids[MS_DUP_IDS]; /* ring of recent ids */
    int next_id;
} ms_stream;

typedef struct ms_ent {
    char *key;
    vd_buf val;
    uint64_t rev;
    double at;
} ms_ent;

typedef struct ms_bucket {
    char name[64];
    double ttl_ms;
    uint64_t rev;
    ms_ent *ents;
    int n, cap;
} ms_bucket;

struct vd__memstore {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ms_stream streams[MS_STREAMS];
    int n_streams;
    ms_bucket buckets[MS_BUCKETS];
    int n_buckets;
    uint64_t next_seq; /* of messages, over every stream */
};

vd__memstore *vd__memstore_new(void)
{
    vd__memstore *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    return m;
}

static void msg_free(ms_msg *q)
{
    free(q->subject), free(q->id);
    vd_buf_free(&q->data);
    free(q);
}

void vd__memstore_free(vd__memstore *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_streams; i++) {
        for (ms_msg *q = m->streams[i].head, *n; q; q = n) n = q->next, msg_free(q);
        for (int k = 0; k < MS_DUP_IDS; k++) free(m->streams[i].ids[k]);
    }
    for (int i = 0; i < m->n_buckets; i++) {
        for (int k = 0; k < m->buckets[i].n; k++) {
            free(m->buckets[i].ents[k].key);
            vd_buf_free(&m->buckets[i].ents[k].val);
        }
        free(m->buckets[i].ents);
    }
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* ---- streams -------------------------------------------------------------------------- */

static ms_stream *stream_named(vd__memstore *m, const char *name)
{
    for (int i = 0; i < m->n_streams; i++)
        if (!strcmp(m->streams[i].name, name)) return &m->streams[i];
    return NULL;
}

int vd__ms_stream_create(vd__memstore *m, const vd_stream_cfg *c, vd_error *err)
{
    if (!c || !c->name || !c->subjects || !vd__subject_valid(c->subjects, 1))
        return vd_fail(err, VD_EINVAL, "stream: a name and a valid subject pattern are needed");
    pthread_mutex_lock(&m->mu);
    ms_stream *s = stream_named(m, c->name);
    if (!s && m->n_streams == MS_STREAMS) {
        pthread_mutex_unlock(&m->mu);
        return vd_fail(err, VD_EBUSY, "in-process: more than %d streams", MS_STREAMS);
    }
    if (!s) s = &m->streams[m->n_streams++];
    snprintf(s->name, sizeof s->name, "%s", c->name);
    snprintf(s->pattern, sizeof s->pattern, "%s", c->subjects);
    s->ack_wait_ms = c->ack_wait_ms > 0 ? c->ack_wait_ms : 30000;
    pthread_mutex_unlock(&m->mu);
    return 0;
}

static int seen_id(ms_stream *s, const char *id)
{
    for (int k = 0; id && k < MS_DUP_IDS; k++)
        if (s->ids[k] && !strcmp(s->ids[k], id)) return 1;
    return 0;
}

int vd__ms_stream_publish(vd__memstore *m, vd_spub *msgs, int n, vd_error *err)
{
    int stored = 0;
    vd_error e1 = {0};
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < n; i++) {
        vd_spub *p = &msgs[i];
        int si = -1;
        for (int k = 0; k < m->n_streams && si < 0; k++)
            if (vd__subject_match(m->streams[k].pattern, p->subject)) si = k;
        if (si < 0) {
            p->rc = vd_fail(e1.code ? NULL : &e1, VD_ENOTFOUND,
                            "in-process: no stream stores '%s' yet", p->subject);
            continue;
        }
        ms_stream *s = &m->streams[si];
        if (seen_id(s, p->id)) {
            p->rc = 0, stored++;
            continue;
        }
        ms_msg *q = calloc(1, sizeof *q);
        unsigned char *d = malloc(p->msg.len + 1);
        if (q) q->subject = strdup(p->subject), q->id = p->id ? strdup(p->id) : NULL;
        if (!q || !d || !q->subject || (p->id && !q->id)) {
            if (q) free(q->subject), free(q->id);
            free(q), free(d);
            p->rc = vd_fail(e1.code ? NULL : &e1, VD_ENOMEM, "out of memory");
            continue;
        }
        if (p->msg.len) memcpy(d, p->msg.data, p->msg.len);
        d[p->msg.len] = 0;
        q->data = (vd_buf){d, p->msg.len};
        q->seq = ++m->next_seq;
        if (s->tail)
            s->tail->next = q;
        else
            s->head = q;
        s->tail = q;
        if (p->id) {
            free(s->ids[s->next_id]);
            s->ids[s->next_id] = strdup(p->id);
            s->next_id = (s->next_id + 1) % MS_DUP_IDS;
        }
        p->rc = 0, stored++;
    }
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    if (stored || !n) return stored;
    if (err) *err = e1;
    return e1.code;
}

int vd__ms_stream_fetch(vd__memstore *m, const char *stream, const char *durable, int max,
                        int timeout_ms, vd_smsg *out, int *n, vd_error *err)
{
    (void)durable;
    *n = 0;
    pthread_mutex_lock(&m->mu);
    ms_stream *s = stream_named(m, stream);
    if (!s) {
        pthread_mutex_unlock(&m->mu);
        return vd_fail(err, VD_ENOTFOUND, "in-process: no stream %s", stream);
    }
    int si = (int)(s - m->streams);
    double end = vd_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        double now = vd_now_ms(), next_due = 0;
        for (ms_msg *q = s->head; q; q = q->next) {
            if (q->due > now) { /* in flight (until its ack wait) or nak'd (its delay) */
                if (next_due == 0 || q->due < next_due) next_due = q->due;
                continue;
            }
            if (*n == max) break;
            q->deliveries++;
            q->due = now + s->ack_wait_ms;
            out[(*n)++] = (vd_smsg){.subject = q->subject,
                                    .data = q->data,
                                    .deliveries = q->deliveries,
                                    .impl_ = (void *)(uintptr_t)q->seq};
        }
        if (*n || now >= end) break;
        double wake = end;
        if (next_due > 0 && next_due < wake) wake = next_due;
        struct timespec ts = vd_deadline(CLOCK_REALTIME, (int)(wake - now) + 1);
        pthread_cond_timedwait(&m->cv, &m->mu, &ts);
        s = &m->streams[si];
    }
    pthread_mutex_unlock(&m->mu);
    return 0;
}

int vd__ms_stream_ack(vd__memstore *m, vd_smsg *msg, int nak, int delay_ms)
{
    uint64_t seq = (uint64_t)(uintptr_t)msg->impl_;
    if (!seq) return 0;
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < m->n_streams; i++) {
        ms_stream *s = &m->streams[i];
        ms_msg **pp = &s->head, *prev = NULL;
        while (*pp && (*pp)->seq != seq) prev = *pp, pp = &(*pp)->next;
        ms_msg *q = *pp;
        if (!q) continue;
        if (nak) {
            q->due = vd_now_ms() + (delay_ms > 0 ? delay_ms : 0);
            pthread_cond_broadcast(&m->cv);
        } else {
            *pp = q->next;
            if (s->tail == q) s->tail = prev;
            msg_free(q);
        }
        break;
    }
    pthread_mutex_unlock(&m->mu);
    return 0;
}

void vd__ms_stream_release(vd_smsg *msg)
{
    memset(msg, 0, sizeof *msg); /* the message lives in its stream until acked */
}

/* ---- buckets -------------------------------------------------------------------------- */

static ms_bucket *bucket_named(vd__memstore *m, const char *name)
{
    for (int i = 0; i < m->n_buckets; i++)
        if (!strcmp(m->buckets[i].name, name)) return &m->buckets[i];
    return NULL;
}

int vd__ms_kv_bucket(vd__memstore *m, const char *bucket, double ttl_s, vd_error *err)
{
    pthread_mutex_lock(&m->mu);
    ms_bucket *b = bucket_named(m, bucket);
    if (!b && m->n_buckets == MS_BUCKETS) {
        pthread_mutex_unlock(&m->mu);
        return vd_fail(err, VD_EBUSY, "in-process: more than %d buckets", MS_BUCKETS);
    }
    if (!b) {
        b = &m->buckets[m->n_buckets++];
        snprintf(b->name, sizeof b->name, "%s", bucket);
    }
    b->ttl_ms = ttl_s > 0 ? ttl_s * 1e3 : 0;
    pthread_mutex_unlock(&m->mu);
    return 0;
}

/* The live entry of key (expired ones are removed), or NULL (lock held). */
static ms_ent *ent_of(ms_bucket *b, const char *key)
{
    for (int i = 0; i < b->n; i++) {
        ms_ent *e = &b->ents[i];
        if (strcmp(e->key, key)) continue;
        if (b->ttl_ms > 0 && vd_now_ms() - e->at > b->ttl_ms) {
            free(e->key);
            vd_buf_free(&e->val);
            b->ents[i] = b->ents[--b->n];
            return NULL;
        }
        return e;
    }
    return NULL;
}

int vd__ms_kv_get(vd__memstore *m, const char *bucket, const char *key, vd_buf *val, uint64_t *rev,
                  vd_error *err)
{
    val->data = NULL, val->len = 0;
    pthread_mutex_lock(&m->mu);
    ms_bucket *b = bucket_named(m, bucket);
    ms_ent *e = b ? ent_of(b, key) : NULL;
    int rc = 0;
    if (!b)
        rc = vd_fail(err, VD_ENOTFOUND, "in-process: no bucket %s", bucket);
    else if (!e)
        rc = vd_fail(err, VD_ENOTFOUND, "no key %s in %s", key, bucket);
    else if (!(val->data = malloc(e->val.len + 1)))
        rc = vd_fail(err, VD_ENOMEM, "out of memory");
    if (!rc) {
        if (e->val.len) memcpy(val->data, e->val.data, e->val.len);
        val->data[e->val.len] = 0;
        val->len = e->val.len;
        if (rev) *rev = e->rev;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int vd__ms_kv_write(vd__memstore *m, int mode, const char *bucket, const char *key,
                    const vd_buf *val, uint64_t last, uint64_t *rev, vd_error *err)
{
    pthread_mutex_lock(&m->mu);
    ms_bucket *b = bucket_named(m, bucket);
    ms_ent *e = b ? ent_of(b, key) : NULL;
    int rc = 0;
    if (!b)
        rc = vd_fail(err, VD_ENOTFOUND, "in-process: no bucket %s", bucket);
    else if (mode == 1 && e)
        rc = vd_fail(err, VD_EALREADY, "%s.%s exists", bucket, key);
    else if (mode == 2 && (!e || e->rev != last))
        rc = vd_fail(err, VD_ESTATE, "%s.%s changed since revision %llu", bucket, key,
                     (unsigned long long)last);
    if (rc || (mode == 3 && !e)) {
        pthread_mutex_unlock(&m->mu);
        return rc;
    }
    if (mode == 3) {
        free(e->key);
        vd_buf_free(&e->val);
        *e = b->ents[--b->n];
        pthread_mutex_unlock(&m->mu);
        return 0;
    }
    size_t len = val ? val->len : 0;
    unsigned char *d = malloc(len + 1);
    char *k = e ? NULL : strdup(key);
    if (!e && b->n == b->cap) {
        int nc = b->cap ? b->cap * 2 : 16;
        ms_ent *ne = realloc(b->ents, sizeof *ne * (size_t)nc);
        if (ne) b->ents = ne, b->cap = nc;
    }
    if (!d || (!e && (!k || b->n == b->cap))) {
        pthread_mutex_unlock(&m->mu);
        free(d), free(k);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    if (len) memcpy(d, val->data, len);
    d[len] = 0;
    if (!e) {
        e = &b->ents[b->n++];
        e->key = k;
    } else {
        vd_buf_free(&e->val);
    }
    e->val = (vd_buf){d, len};
    e->rev = ++b->rev;
    e->at = vd_now_ms();
    if (rev) *rev = e->rev;
    pthread_mutex_unlock(&m->mu);
    return 0;
}

int vd__ms_kv_keys(vd__memstore *m, const char *bucket, const char *prefix, char ***keys, int *n,
                   vd_error *err)
{
    *keys = NULL, *n = 0;
    pthread_mutex_lock(&m->mu);
    ms_bucket *b = bucket_named(m, bucket);
    if (!b) {
        pthread_mutex_unlock(&m->mu);
        return vd_fail(err, VD_ENOTFOUND, "in-process: no bucket %s", bucket);
    }
    char **out = calloc((size_t)b->n + 1, sizeof *out);
    size_t pl = prefix ? strlen(prefix) : 0;
    for (int i = 0; out && i < b->n; i++) {
        ms_ent *e = &b->ents[i];
        if (b->ttl_ms > 0 && vd_now_ms() - e->at > b->ttl_ms) continue;
        if (pl && strncmp(e->key, prefix, pl)) continue;
        if (!(out[*n] = strdup(e->key))) break;
        (*n)++;
    }
    pthread_mutex_unlock(&m->mu);
    if (!out) return vd_fail(err, VD_ENOMEM, "out of memory");
    *keys = out;
    return 0;
}
