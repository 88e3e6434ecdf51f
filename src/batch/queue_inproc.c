/*
 * The in-process queue (include/vdag/queue.h): the embedded default's work queue and KV
 * buckets, with the JetStream implementation's semantics (explicit ack, redelivery after
 * ack_wait, at most max_deliver + 2 deliveries, dead letters, watches that replay).
 *
 * Items are a FIFO list under one mutex; pull scans it for the first deliverable item (ready,
 * or in flight past its deadline) -- O(items in the queue), fine for the few thousand a video
 * has. A message refers to its item by sequence number, not pointer, so an ack that comes
 * after the item was redelivered and acked elsewhere (or purged) is a harmless no-op.
 * META and RESULTS are hash maps in memory; BLOBS are files in the directory given (a video's
 * segments can be gigabytes), written to a temp name and renamed so a reader never sees half
 * a value. A change and its watch callbacks run under `notify` so that every watch sees the
 * changes in the order they were made, and a new watch's replay cannot miss or repeat one.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch/batch_internal.h"
#include "vdag/base.h"
#include "vdag/queue.h"

enum { ST_READY, ST_FLIGHT };

typedef struct item {
    struct item *next;
    uint64_t seq;
    char *group, *id;
    unsigned char *data;
    size_t len;
    int state, deliveries;
    double due; /* READY: deliverable from; FLIGHT: redelivered at (ms, monotonic) */
} item;

typedef struct kv_ent {
    struct kv_ent *next;
    char *key;
    unsigned char *val;
    size_t len;
} kv_ent;

typedef struct kv_map {
    kv_ent **slots;
    size_t n_slots, n;
} kv_map;

struct vd_kv_watch {
    struct vd_kv_watch *next;
    struct iq *q;
    int bucket;
    vd_kv_fn fn;
    void *arg;
};

typedef struct dead_rec {
    struct dead_rec *next;
    char *group;
} dead_rec;

typedef struct iq {
    vd_queue pub;
    int ack_wait_ms, max_deliver;
    char *dir;
    pthread_mutex_t mu; /* items, dead letters, kv maps */
    pthread_cond_t cv;  /* an item became ready (CLOCK_MONOTONIC) */
    item *head, *tail;
    uint64_t next_seq;
    dead_rec *dead;
    kv_map kv[VD_KV_N];
    pthread_mutex_t notify; /* a change + its callbacks; watch list */
    vd_kv_watch *watches;
} iq;

typedef struct imsg {
    vd_qmsg pub;
    uint64_t seq;
} imsg;

/* ---- work items -------------------------------------------------------------------------- */

static void item_free(item *it)
{
    if (!it) return;
    free(it->group);
    free(it->id);
    free(it->data);
    free(it);
}

/* Unlink and free the item with seq (under mu); 0 if it is gone already. */
static int item_remove(iq *p, uint64_t seq)
{
    item *prev = NULL;
    for (item *it = p->head; it; prev = it, it = it->next) {
        if (it->seq != seq) continue;
        if (prev)
            prev->next = it->next;
        else
            p->head = it->next;
        if (p->tail == it) p->tail = prev;
        item_free(it);
        return 1;
    }
    return 0;
}

static item *item_find(iq *p, uint64_t seq)
{
    for (item *it = p->head; it; it = it->next)
        if (it->seq == seq) return it;
    return NULL;
}

static int iq_push(vd_queue *q, const char *group, const char *id, const void *data, size_t len,
                   vd_error *err)
{
    iq *p = q->priv;
    if (!vd__key_ok(group)) return vd_fail(err, VD_EINVAL, "queue: bad group name '%s'", group);
    pthread_mutex_lock(&p->mu);
    for (item *it = p->head; id && it; it = it->next)
        if (it->id && !strcmp(it->id, id)) { /* a repeated push */
            pthread_mutex_unlock(&p->mu);
            return 0;
        }
    item *it = calloc(1, sizeof *it);
    if (it) {
        it->group = strdup(group);
        it->id = id ? strdup(id) : NULL;
        it->data = malloc(len ? len : 1);
    }
    if (!it || !it->group || (id && !it->id) || !it->data) {
        pthread_mutex_unlock(&p->mu);
        item_free(it);
        return vd_fail(err, VD_ENOMEM, "queue: out of memory");
    }
    memcpy(it->data, data, len);
    it->len = len;
    it->seq = ++p->next_seq;
    it->state = ST_READY;
    if (p->tail)
        p->tail->next = it;
    else
        p->head = it;
    p->tail = it;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static int iq_purge(vd_queue *q, const char *group, vd_error *err)
{
    (void)err;
    iq *p = q->priv;
    pthread_mutex_lock(&p->mu);
    for (item *it = p->head, *next; it; it = next) {
        next = it->next;
        if (it->state != ST_FLIGHT && !strcmp(it->group, group)) item_remove(p, it->seq);
    }
    for (dead_rec **d = &p->dead; *d;) {
        dead_rec *r = *d;
        if (!strcmp(r->group, group)) {
            *d = r->next;
            free(r->group);
            free(r);
        } else {
            d = &r->next;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static int iq_dead(vd_queue *q, const char *group, const char *id, const void *data, size_t len,
                   vd_error *err)
{
    (void)id, (void)data, (void)len;
    iq *p = q->priv;
    dead_rec *r = calloc(1, sizeof *r);
    if (!r || !(r->group = strdup(group))) {
        free(r);
        return vd_fail(err, VD_ENOMEM, "queue: out of memory");
    }
    pthread_mutex_lock(&p->mu);
    r->next = p->dead;
    p->dead = r;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static int iq_dead_count(vd_queue *q, const char *group, long *n, vd_error *err)
{
    (void)err;
    iq *p = q->priv;
    *n = 0;
    pthread_mutex_lock(&p->mu);
    for (dead_rec *r = p->dead; r; r = r->next) *n += !strcmp(r->group, group);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static int iq_consumer_new(vd_queue *q, vd_qconsumer **out, vd_error *err)
{
    vd_qconsumer *c = calloc(1, sizeof *c);
    if (!c) return vd_fail(err, VD_ENOMEM, "queue: out of memory");
    c->q = q;
    *out = c;
    return 0;
}

static void iq_consumer_free(vd_qconsumer *c)
{
    free(c);
}

static int iq_pull(vd_qconsumer *c, int timeout_ms, vd_qmsg **out, vd_error *err)
{
    iq *p = c->q->priv;
    *out = NULL;
    double end = vd_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int limit = p->max_deliver + 2;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        double now = vd_now_ms(), next = end;
        item *got = NULL;
        for (item *it = p->head; it && !got; it = it->next) {
            if (it->state == ST_FLIGHT && it->deliveries >= limit) continue; /* exhausted */
            if (it->due <= now)
                got = it;
            else if (it->due < next)
                next = it->due;
        }
        if (got) {
            assert(got->state == ST_READY || got->deliveries < limit);
            imsg *m = calloc(1, sizeof *m);
            unsigned char *d = malloc(got->len ? got->len : 1);
            if (!m || !d) {
                pthread_mutex_unlock(&p->mu);
                free(m), free(d);
                return vd_fail(err, VD_ENOMEM, "queue: out of memory");
            }
            got->state = ST_FLIGHT;
            got->deliveries++;
            got->due = now + p->ack_wait_ms;
            memcpy(d, got->data, got->len);
            m->pub = (vd_qmsg){d, got->len, got->deliveries, c->q, m};
            m->seq = got->seq;
            pthread_mutex_unlock(&p->mu);
            *out = &m->pub;
            return 0;
        }
        if (now >= end) break;
        struct timespec dl = vd_deadline(CLOCK_MONOTONIC, next - now + 0.5);
        pthread_cond_timedwait(&p->cv, &p->mu, &dl);
    }
    pthread_mutex_unlock(&p->mu);
    return vd_fail(err, VD_ETIMEDOUT, "queue: no item within %d ms", timeout_ms);
}

static int iq_ack(vd_qmsg *m, vd_error *err)
{
    (void)err;
    iq *p = m->q->priv;
    pthread_mutex_lock(&p->mu);
    item_remove(p, ((imsg *)m->impl)->seq);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static int iq_nak(vd_qmsg *m, int delay_ms, vd_error *err)
{
    (void)err;
    iq *p = m->q->priv;
    pthread_mutex_lock(&p->mu);
    item *it = item_find(p, ((imsg *)m->impl)->seq);
    if (it && it->state == ST_FLIGHT) {
        it->state = ST_READY;
        it->due = vd_now_ms() + (delay_ms > 0 ? delay_ms : 0);
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static int iq_progress(vd_qmsg *m, vd_error *err)
{
    (void)err;
    iq *p = m->q->priv;
    pthread_mutex_lock(&p->mu);
    item *it = item_find(p, ((imsg *)m->impl)->seq);
    if (it && it->state == ST_FLIGHT) it->due = vd_now_ms() + p->ack_wait_ms;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static void iq_msg_free(vd_qmsg *m)
{
    if (!m) return;
    free((void *)m->data);
    free(m->impl);
}

/* ---- KV: hash maps, and files for blobs ----------------------------------------------- */

static size_t hash(const char *s)
{
    size_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static kv_ent **map_slot(kv_map *m, const char *key)
{
    kv_ent **e = &m->slots[hash(key) % m->n_slots];
    while (*e && strcmp((*e)->key, key)) e = &(*e)->next;
    return e;
}

static int map_grow(kv_map *m)
{
    size_t n = m->n_slots ? m->n_slots * 2 : 64;
    kv_ent **s = calloc(n, sizeof *s);
    if (!s) return -1;
    for (size_t i = 0; i < m->n_slots; i++)
        for (kv_ent *e = m->slots[i], *next; e; e = next) {
            next = e->next;
            size_t h = hash(e->key) % n;
            e->next = s[h];
            s[h] = e;
        }
    free(m->slots);
    m->slots = s;
    m->n_slots = n;
    return 0;
}

static void ent_free(kv_ent *e)
{
    free(e->key);
    free(e->val);
    free(e);
}

static void blob_path(iq *p, const char *key, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", p->dir, key);
}

static void notify(iq *p, int bucket, const char *key, const void *val, size_t len)
{
    for (vd_kv_watch *w = p->watches; w; w = w->next)
        if (w->bucket == bucket) w->fn(w->arg, key, val, len);
}

static int blob_put(iq *p, const char *key, const void *val, size_t len, vd_error *err)
{
    char path[1024], tmp[1100];
    blob_path(p, key, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp%lx", path, (unsigned long)pthread_self());
    FILE *f = fopen(tmp, "wb");
    if (!f) return vd_fail(err, VD_EIO, "queue: cannot write %s: %s", tmp, strerror(errno));
    int bad = len && fwrite(val, 1, len, f) != len;
    if (fclose(f) || bad || rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return vd_fail(err, VD_EIO, "queue: cannot write %s: %s (disk full?)", path, strerror(e));
    }
    return 0;
}

static int iq_kv_put(vd_queue *q, int bucket, const char *key, const void *val, size_t len,
                     vd_error *err)
{
    iq *p = q->priv;
    if (bucket < 0 || bucket >= VD_KV_N || !vd__key_ok(key))
        return vd_fail(err, VD_EINVAL, "queue: bad key '%s'", key ? key : "(null)");
    if (bucket == VD_KV_BLOBS) return blob_put(p, key, val, len, err);
    unsigned char *v = malloc(len + 1);
    if (!v) return vd_fail(err, VD_ENOMEM, "queue: out of memory");
    memcpy(v, val, len);
    v[len] = 0;
    pthread_mutex_lock(&p->notify);
    pthread_mutex_lock(&p->mu);
    kv_map *m = &p->kv[bucket];
    if (m->n >= m->n_slots && map_grow(m)) {
        pthread_mutex_unlock(&p->mu);
        pthread_mutex_unlock(&p->notify);
        free(v);
        return vd_fail(err, VD_ENOMEM, "queue: out of memory");
    }
    kv_ent **e = map_slot(m, key);
    if (*e) {
        free((*e)->val);
    } else {
        kv_ent *n = calloc(1, sizeof *n);
        if (!n || !(n->key = strdup(key))) {
            pthread_mutex_unlock(&p->mu);
            pthread_mutex_unlock(&p->notify);
            free(n), free(v);
            return vd_fail(err, VD_ENOMEM, "queue: out of memory");
        }
        *e = n;
        m->n++;
    }
    (*e)->val = v;
    (*e)->len = len;
    pthread_mutex_unlock(&p->mu);
    notify(p, bucket, key, v, len); /* v stays valid: changes wait for notify */
    pthread_mutex_unlock(&p->notify);
    return 0;
}

static int iq_kv_get(vd_queue *q, int bucket, const char *key, vd_buf *out, vd_error *err)
{
    iq *p = q->priv;
    out->data = NULL, out->len = 0;
    if (bucket < 0 || bucket >= VD_KV_N || !vd__key_ok(key))
        return vd_fail(err, VD_EINVAL, "queue: bad key '%s'", key ? key : "(null)");
    if (bucket == VD_KV_BLOBS) {
        char path[1024];
        blob_path(p, key, path, sizeof path);
        char *d;
        size_t n;
        if (access(path, F_OK)) return vd_fail(err, VD_ENOTFOUND, "queue: no blob %s", key);
        int rc = vd_read_file(path, 0, &d, &n, err);
        if (rc) return rc;
        out->data = (unsigned char *)d, out->len = n;
        return 0;
    }
    pthread_mutex_lock(&p->mu);
    kv_map *m = &p->kv[bucket];
    kv_ent *e = m->n_slots ? *map_slot(m, key) : NULL;
    if (e && (out->data = malloc(e->len + 1))) {
        memcpy(out->data, e->val, e->len + 1);
        out->len = e->len;
    }
    pthread_mutex_unlock(&p->mu);
    if (!e) return vd_fail(err, VD_ENOTFOUND, "queue: no key %s", key);
    return out->data ? 0 : vd_fail(err, VD_ENOMEM, "queue: out of memory");
}

/* Delete key (prefix 0) or every key starting with it (prefix 1). */
static int kv_remove(iq *p, int bucket, const char *key, int prefix)
{
    size_t kl = strlen(key);
    if (bucket == VD_KV_BLOBS) {
        DIR *d = opendir(p->dir);
        for (struct dirent *de; d && (de = readdir(d));) {
            if (prefix ? strncmp(de->d_name, key, kl) : strcmp(de->d_name, key)) continue;
            char path[1024];
            blob_path(p, de->d_name, path, sizeof path);
            unlink(path);
        }
        if (d) closedir(d);
        return 0;
    }
    pthread_mutex_lock(&p->notify);
    pthread_mutex_lock(&p->mu);
    kv_map *m = &p->kv[bucket];
    kv_ent *gone = NULL;
    for (size_t i = 0; i < m->n_slots; i++)
        for (kv_ent **e = &m->slots[i]; *e;) {
            kv_ent *x = *e;
            if (prefix ? strncmp(x->key, key, kl) : strcmp(x->key, key)) {
                e = &x->next;
                continue;
            }
            *e = x->next;
            x->next = gone;
            gone = x;
            m->n--;
        }
    pthread_mutex_unlock(&p->mu);
    for (kv_ent *e = gone, *next; e; e = next) {
        next = e->next;
        notify(p, bucket, e->key, NULL, 0);
        ent_free(e);
    }
    pthread_mutex_unlock(&p->notify);
    return 0;
}

static int iq_kv_del(vd_queue *q, int bucket, const char *key, vd_error *err)
{
    if (bucket < 0 || bucket >= VD_KV_N || !vd__key_ok(key))
        return vd_fail(err, VD_EINVAL, "queue: bad key '%s'", key ? key : "(null)");
    return kv_remove(q->priv, bucket, key, 0);
}

static int iq_kv_purge(vd_queue *q, int bucket, const char *prefix, vd_error *err)
{
    if (bucket < 0 || bucket >= VD_KV_N || !prefix || !*prefix)
        return vd_fail(err, VD_EINVAL, "queue: purge needs a bucket and a prefix");
    return kv_remove(q->priv, bucket, prefix, 1);
}

static int iq_kv_watch(vd_queue *q, int bucket, vd_kv_fn fn, void *arg, vd_kv_watch **out,
                       vd_error *err)
{
    iq *p = q->priv;
    *out = NULL;
    if (bucket != VD_KV_META && bucket != VD_KV_RESULTS)
        return vd_fail(err, VD_EUNSUPP, "queue: only the META and RESULTS buckets are watched");
    vd_kv_watch *w = calloc(1, sizeof *w);
    if (!w) return vd_fail(err, VD_ENOMEM, "queue: out of memory");
    *w = (vd_kv_watch){.q = p, .bucket = bucket, .fn = fn, .arg = arg};
    pthread_mutex_lock(&p->notify); /* no change until the replay is done and w is listed */
    kv_map *m = &p->kv[bucket];
    for (size_t i = 0; i < m->n_slots; i++)
        for (kv_ent *e = m->slots[i]; e; e = e->next) fn(arg, e->key, e->val, e->len);
    fn(arg, NULL, NULL, 0);
    w->next = p->watches;
    p->watches = w;
    pthread_mutex_unlock(&p->notify);
    *out = w;
    return 0;
}

static void iq_kv_unwatch(vd_kv_watch *w)
{
    if (!w) return;
    iq *p = w->q;
    pthread_mutex_lock(&p->notify);
    for (vd_kv_watch **x = &p->watches; *x; x = &(*x)->next)
        if (*x == w) {
            *x = w->next;
            break;
        }
    pthread_mutex_unlock(&p->notify);
    free(w);
}

static size_t iq_max_value(vd_queue *q)
{
    (void)q;
    return (size_t)1 << 30;
}

static int iq_max_deliver(vd_queue *q)
{
    return ((iq *)q->priv)->max_deliver;
}

static int iq_ack_wait(vd_queue *q)
{
    return ((iq *)q->priv)->ack_wait_ms;
}

static void iq_close(vd_queue *q)
{
    if (!q) return;
    iq *p = q->priv;
    assert(!p->watches); /* every watch is stopped first */
    for (item *it = p->head, *next; it; it = next) next = it->next, item_free(it);
    for (dead_rec *r = p->dead, *next; r; r = next) next = r->next, free(r->group), free(r);
    for (int b = 0; b < VD_KV_N; b++) {
        kv_map *m = &p->kv[b];
        for (size_t i = 0; i < m->n_slots; i++)
            for (kv_ent *e = m->slots[i], *next; e; e = next) next = e->next, ent_free(e);
        free(m->slots);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->notify);
    pthread_cond_destroy(&p->cv);
    free(p->dir);
    free(p);
}

static const vd_queue_ops inproc_ops = {
    .name = "inproc",
    .push = iq_push,
    .purge = iq_purge,
    .dead = iq_dead,
    .dead_count = iq_dead_count,
    .consumer_new = iq_consumer_new,
    .pull = iq_pull,
    .ack = iq_ack,
    .nak = iq_nak,
    .progress = iq_progress,
    .msg_free = iq_msg_free,
    .consumer_free = iq_consumer_free,
    .kv_put = iq_kv_put,
    .kv_get = iq_kv_get,
    .kv_del = iq_kv_del,
    .kv_purge = iq_kv_purge,
    .kv_watch = iq_kv_watch,
    .kv_unwatch = iq_kv_unwatch,
    .max_value = iq_max_value,
    .max_deliver = iq_max_deliver,
    .ack_wait_ms = iq_ack_wait,
    .close = iq_close,
};

int vd_queue_inproc_new(const vd_queue_opts *o, vd_queue **out, vd_error *err)
{
    *out = NULL;
    if (!o || !o->dir || !*o->dir)
        return vd_fail(err, VD_EINVAL, "inproc queue: no directory for blobs");
    if (o->ack_wait_ms < 0 || o->max_deliver < 0)
        return vd_fail(err, VD_EINVAL,
                       "inproc queue: ack_wait %d ms / max_deliver %d: expected >= 0",
                       o->ack_wait_ms, o->max_deliver);
    if (vd__mkdirs(o->dir, err)) return VD_EIO;
    iq *p = calloc(1, sizeof *p);
    if (!p || !(p->dir = strdup(o->dir))) {
        free(p);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    p->ack_wait_ms = o->ack_wait_ms ? o->ack_wait_ms : VD_BATCH_ACK_WAIT_MS;
    p->max_deliver = o->max_deliver ? o->max_deliver : VD_BATCH_MAX_DELIVER;
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->notify, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    p->pub = (vd_queue){&inproc_ops, p};
    *out = &p->pub;
    return 0;
}
