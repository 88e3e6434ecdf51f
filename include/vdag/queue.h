/*
 * vdag queue: what batch mode runs on, behind one table of callbacks -- a work queue with
 * explicit acks and redelivery, a dead-letter subject, and key-value buckets with watchers
 * (state, results, blobs). Two implementations: in-process (vd_queue_inproc_new: memory, the
 * blob bucket as files in a directory) and NATS JetStream (vd_queue_js_new: a work-queue
 * stream with one durable pull consumer, a dead-letter stream, KV buckets). Batch code never
 * asks which one it has.
 *
 * Work items (the same semantics in both):
 *   push      appends an item to a group (a video). `id` de-duplicates a repeated push (JS:
 *             within the stream's duplicate window, 2 minutes).
 *   pull      hands the oldest ready item to one consumer; it is then in flight.
 *   ack       removes it for good. nak: redelivered after delay_ms. progress: its ack timer
 *             restarts (for items that run longer than a fraction of ack_wait).
 *   timeout   an item not acked within ack_wait_ms of its delivery (or last progress) is
 *             delivered again, to any consumer, with deliveries + 1.
 *   limit     an item is delivered at most max_deliver + 2 times: deliveries 1..max_deliver
 *             are attempts; a consumer that gets a later one only moves it to the dead-letter
 *             subject (this catches items whose workers crashed, which never report a failure;
 *             the second spare delivery is for a dead-lettering that itself failed). See
 *             docs/batch.md.
 *   dead      appends a record to the group's dead-letter subject (JS: stream VDAG_DEAD,
 *             subject vdag.dead.<group>, de-duplicated by id).
 *   purge     drops a group's items that are not in flight.
 * KV buckets (VD_KV_*): put overwrites a key, get of a missing key is VD_ENOTFOUND, purge drops
 * every key with a prefix, watch replays every key (then key NULL once) and then reports each
 * change as it happens (val NULL: deleted); a watch on JetStream is re-created after a
 * reconnection and replays again, so a watcher must treat a replay as overwrites.
 * Keys are tokens of [A-Za-z0-9_-] joined by '.', at most 200 bytes.
 *
 * Ownership: a vd_qmsg and its data belong to the caller until vd_queue_msg_free (after ack,
 * nak or neither); values from kv_get are the caller's (vd_buf_free).
 * Thread-safety: every function may be called from any thread, concurrently, except that a
 * consumer (vd_qconsumer) and its messages belong to one thread at a time. Watch callbacks
 * run on the queue's threads (inproc: the thread that made the change, in the order of the
 * changes), never concurrently with each other for one watch.
 */
#ifndef VDAG_QUEUE_H
#define VDAG_QUEUE_H

#include <stddef.h>

#include "vdag/error.h"
#include "vdag/net.h"

enum { VD_KV_META = 0, VD_KV_RESULTS = 1, VD_KV_BLOBS = 2, VD_KV_N = 3 };

typedef struct vd_queue vd_queue;
typedef struct vd_qconsumer vd_qconsumer;
typedef struct vd_kv_watch vd_kv_watch;

typedef struct vd_qmsg {
    const unsigned char *data; /* the item (owned by the message) */
    size_t len;
    int deliveries; /* 1 the first time */
    vd_queue *q;    /* the queue it came from */
    void *impl;
} vd_qmsg;

struct vd_qconsumer {
    vd_queue *q;
    void *priv;
};

/* key NULL: the replay of existing keys is complete. val NULL: the key was deleted. */
typedef void (*vd_kv_fn)(void *arg, const char *key, const void *val, size_t len);

typedef struct vd_queue_opts {
    int ack_wait_ms; /* default 30000 */
    int max_deliver; /* attempts before an item is dead-lettered, default 5 */
    /* JS: make an existing consumer use ack_wait_ms/max_deliver (the API server does);
     * otherwise an existing consumer is used as it is (workers) and only a new one gets them */
    int configure;
    const char *dir;  /* inproc: directory for VD_KV_BLOBS values (created; required) */
    const char *name; /* JS: the connection's name */
} vd_queue_opts;

typedef struct vd_queue_ops {
    const char *name; /* "inproc", "jetstream" */
    int (*push)(vd_queue *q, const char *group, const char *id, const void *data, size_t len,
                vd_error *err);
    int (*purge)(vd_queue *q, const char *group, vd_error *err);
    int (*dead)(vd_queue *q, const char *group, const char *id, const void *data, size_t len,
                vd_error *err);
    /* Dead-letter records of a group so far. */
    int (*dead_count)(vd_queue *q, const char *group, long *n, vd_error *err);
    int (*consumer_new)(vd_queue *q, vd_qconsumer **out, vd_error *err);
    /* VD_ETIMEDOUT when nothing came within timeout_ms; VD_ECONN while disconnected. */
    int (*pull)(vd_qconsumer *c, int timeout_ms, vd_qmsg **out, vd_error *err);
    int (*ack)(vd_qmsg *m, vd_error *err);
    int (*nak)(vd_qmsg *m, int delay_ms, vd_error *err);
    int (*progress)(vd_qmsg *m, vd_error *err);
    void (*msg_free)(vd_qmsg *m);
    void (*consumer_free)(vd_qconsumer *c);
    int (*kv_put)(vd_queue *q, int bucket, const char *key, const void *val, size_t len,
                  vd_error *err);
    int (*kv_get)(vd_queue *q, int bucket, const char *key, vd_buf *out, vd_error *err);
    int (*kv_del)(vd_queue *q, int bucket, const char *key, vd_error *err);
    int (*kv_purge)(vd_queue *q, int bucket, const char *prefix, vd_error *err);
    int (*kv_watch)(vd_queue *q, int bucket, vd_kv_fn fn, void *arg, vd_kv_watch **out,
                    vd_error *err);
    /* Stop a watch: no callback runs after it returns (not callable from a callback). */
    void (*kv_unwatch)(vd_kv_watch *w);
    size_t (*max_value)(vd_queue *q); /* the largest value kv_put takes */
    int (*max_deliver)(vd_queue *q);  /* attempts per item (the consumer's, on JS) */
    int (*ack_wait_ms)(vd_queue *q);
    void (*close)(vd_queue *q); /* after every consumer and watch is gone */
} vd_queue_ops;

struct vd_queue {
    const vd_queue_ops *ops;
    void *priv;
};

int vd_queue_inproc_new(const vd_queue_opts *o, vd_queue **out, vd_error *err);
/* Connects to nats->url as nats's identity (its credentials and TLS; a secured bus lets the
 * roles cloud and worker do this, docs/security.md; name: the queue's own when nats has none),
 * creates what is missing (streams VDAG_WORK, VDAG_DEAD, consumer vdag_workers, buckets
 * vdag_videos, vdag_results, vdag_blobs: the VD_JS_* and VD_KVB_* names of net.h) and reconnects
 * forever after a server restart. VD_ECONN when the server cannot be reached, VD_EAUTH when it
 * refuses the identity, VD_EUNSUPP when it has no JetStream. */
int vd_queue_js_new(const vd_nats_opts *nats, const vd_queue_opts *o, vd_queue **out,
                    vd_error *err);

static inline void vd_queue_close(vd_queue *q)
{
    if (q) q->ops->close(q);
}
static inline void vd_queue_msg_free(vd_qmsg *m)
{
    if (m) m->q->ops->msg_free(m);
}

#endif
