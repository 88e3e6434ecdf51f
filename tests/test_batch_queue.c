/* The queue abstraction (include/vdag/queue.h): one test body run on the in-process queue and
 * on JetStream (a real nats-server from vd_nats_server_start, temp store), so both keep the
 * same semantics -- push, pull, explicit ack, nak with delay, redelivery after ack_wait, the
 * in-progress ack, the delivery limit, dead letters, purge, KV put/get/delete/purge and
 * watches that replay. Then JetStream across a nats-server restart on the same store. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"
#include "vdag/base.h"
#include "vdag/queue.h"

#define ACK_WAIT 600

typedef struct seen {
    pthread_mutex_t mu;
    int puts, dels, ready;
    char last[64], last_val[64];
} seen;

static void on_kv(void *arg, const char *key, const void *val, size_t len)
{
    seen *s = arg;
    pthread_mutex_lock(&s->mu);
    if (!key) {
        s->ready++;
    } else if (val) {
        s->puts++;
        snprintf(s->last, sizeof s->last, "%s", key);
        snprintf(s->last_val, sizeof s->last_val, "%.*s", (int)len, (const char *)val);
    } else {
        s->dels++;
    }
    pthread_mutex_unlock(&s->mu);
}

static int wait_for(seen *s, int *field, int want, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        pthread_mutex_lock(&s->mu);
        int v = *field;
        pthread_mutex_unlock(&s->mu);
        if (v >= want) return 1;
        usleep(10000);
    }
    return 0;
}

/* Pull until an item comes (a JetStream consumer may need a moment after a push). */
static int pull(vd_qconsumer *c, int ms, vd_qmsg **m)
{
    vd_error err;
    return c->q->ops->pull(c, ms, m, &err);
}

static void semantics(vd_queue *q, const char *g)
{
    vd_error err = {0};
    const vd_queue_ops *o = q->ops;
    CHECK(o->max_deliver(q) == 2);
    CHECK(o->ack_wait_ms(q) == ACK_WAIT);
    vd_qconsumer *c1, *c2;
    CHECK(o->consumer_new(q, &c1, &err) == 0);
    CHECK(o->consumer_new(q, &c2, &err) == 0);
    vd_qmsg *m = NULL, *m2 = NULL;
    CHECK(pull(c1, 100, &m) == VD_ETIMEDOUT && !m);

    /* FIFO, one consumer per item, a repeated push id is dropped */
    char id[64];
    for (int i = 0; i < 3; i++) {
        char d[16];
        snprintf(d, sizeof d, "item%d", i);
        snprintf(id, sizeof id, "%s.%d", g, i);
        CHECKF(o->push(q, g, id, d, strlen(d), &err) == 0, "%s", err.msg);
    }
    CHECK(o->push(q, g, id, "item2", 5, &err) == 0); /* the same id again */
    CHECK(pull(c1, 2000, &m) == 0 && m && m->len == 5 && !memcmp(m->data, "item0", 5));
    CHECK(m && m->deliveries == 1);
    CHECK(pull(c2, 2000, &m2) == 0 && m2 && !memcmp(m2->data, "item1", 5));
    CHECK(o->ack(m, &err) == 0);
    vd_queue_msg_free(m);
    /* nak with a delay: back after it, not before */
    CHECK(o->nak(m2, 300, &err) == 0);
    vd_queue_msg_free(m2);
    CHECK(pull(c1, 2000, &m) == 0 && m && !memcmp(m->data, "item2", 5));
    CHECK(o->ack(m, &err) == 0);
    vd_queue_msg_free(m);
    double t0 = vd_now_ms();
    CHECK(pull(c2, 3000, &m) == 0 && m && !memcmp(m->data, "item1", 5) && m->deliveries == 2);
    CHECKF(vd_now_ms() - t0 >= 150, "nak delay %f", vd_now_ms() - t0);
    /* no ack: redelivered after ack_wait; progress holds it meanwhile */
    t0 = vd_now_ms();
    usleep(ACK_WAIT * 600);
    CHECK(o->progress(m, &err) == 0);
    vd_qmsg *x = NULL;
    CHECK(pull(c1, ACK_WAIT / 2, &x) == VD_ETIMEDOUT); /* still held */
    vd_queue_msg_free(m);
    CHECK(pull(c1, ACK_WAIT * 4, &m) == 0 && m && !memcmp(m->data, "item1", 5));
    CHECKF(m && m->deliveries == 3, "deliveries %d", m ? m->deliveries : -1);
    CHECKF(vd_now_ms() - t0 >= ACK_WAIT, "redelivered after %f ms", vd_now_ms() - t0);
    /* delivery 3 of max_deliver 2 + the dead-letter delivery: one more, then never again */
    vd_queue_msg_free(m);
    CHECK(pull(c2, ACK_WAIT * 4, &m) == 0 && m && m->deliveries == 4);
    vd_queue_msg_free(m);
    CHECK(pull(c1, ACK_WAIT * 3, &m) == VD_ETIMEDOUT);

    /* dead letters, purge */
    long n = -1;
    CHECK(o->dead(q, g, "d1", "x", 1, &err) == 0);
    CHECK(o->dead(q, g, "d1", "x", 1, &err) == 0); /* de-duplicated on JetStream */
    CHECK(o->dead_count(q, g, &n, &err) == 0);
    CHECKF(n >= 1, "dead letters %ld", n);
    CHECK(o->push(q, g, NULL, "later", 5, &err) == 0);
    CHECK(o->purge(q, g, &err) == 0);
    CHECK(pull(c1, 300, &m) == VD_ETIMEDOUT);
    CHECK(o->dead_count(q, g, &n, &err) == 0 && n == 0);
    o->consumer_free(c1);
    o->consumer_free(c2);

    /* KV */
    char k[64], k2[64];
    snprintf(k, sizeof k, "%s.f.1", g);
    snprintf(k2, sizeof k2, "%s.f.2", g);
    vd_buf b;
    CHECK(o->kv_get(q, VD_KV_RESULTS, k, &b, &err) == VD_ENOTFOUND);
    CHECK(o->kv_put(q, VD_KV_RESULTS, k, "one", 3, &err) == 0);
    CHECK(o->kv_put(q, VD_KV_RESULTS, k, "uno", 3, &err) == 0); /* overwrites */
    CHECK(o->kv_get(q, VD_KV_RESULTS, k, &b, &err) == 0 && b.len == 3 && !memcmp(b.data, "uno", 3));
    vd_buf_free(&b);
    CHECK(o->kv_put(q, VD_KV_BLOBS, k, "blob", 4, &err) == 0);
    CHECK(o->kv_get(q, VD_KV_BLOBS, k, &b, &err) == 0 && b.len == 4);
    vd_buf_free(&b);
    CHECK(o->kv_put(q, VD_KV_RESULTS, "../x", "bad", 3, &err) == VD_EINVAL);
    seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    vd_kv_watch *w = NULL;
    CHECK(o->kv_watch(q, VD_KV_RESULTS, on_kv, &s, &w, &err) == 0);
    CHECK(wait_for(&s, &s.ready, 1, 5000));
    CHECK(s.puts >= 1); /* the replay */
    CHECK(o->kv_put(q, VD_KV_RESULTS, k2, "two", 3, &err) == 0);
    CHECK(wait_for(&s, &s.puts, 2, 5000));
    pthread_mutex_lock(&s.mu);
    CHECK(!strcmp(s.last, k2) && !strcmp(s.last_val, "two"));
    pthread_mutex_unlock(&s.mu);
    CHECK(o->kv_del(q, VD_KV_RESULTS, k2, &err) == 0);
    CHECK(wait_for(&s, &s.dels, 1, 5000));
    o->kv_unwatch(w);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s.", g);
    CHECK(o->kv_purge(q, VD_KV_RESULTS, prefix, &err) == 0);
    CHECK(o->kv_purge(q, VD_KV_BLOBS, prefix, &err) == 0);
    CHECK(o->kv_get(q, VD_KV_RESULTS, k, &b, &err) == VD_ENOTFOUND);
    CHECK(o->kv_get(q, VD_KV_BLOBS, k, &b, &err) == VD_ENOTFOUND);
}

int main(void)
{
    vd_error err = {0};
    char dir[] = "/tmp/vdag-queue-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    vd_queue_opts qo = {.ack_wait_ms = ACK_WAIT, .max_deliver = 2, .configure = 1, .dir = dir};
    vd_queue *q = NULL;
    CHECK(vd_queue_inproc_new(&qo, &q, &err) == 0);
    if (q) semantics(q, "inprocgroup");
    vd_queue_close(q);
    rmdir(dir);

    vd_nats_server *ns = NULL;
    int rc = vd_nats_server_start(NULL, &ns, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (rc) return vt_finish();
    q = NULL;
    CHECKF(vd_queue_js_new(&(vd_nats_opts){.url = vd_nats_server_url(ns)}, &qo, &q, &err) == 0,
           "%s", err.msg);
    if (q) semantics(q, "jsgroup");
    /* a worker-side queue takes the consumer as the server configured it */
    vd_queue *q2 = NULL;
    vd_queue_opts wo = {0};
    CHECK(vd_queue_js_new(&(vd_nats_opts){.url = vd_nats_server_url(ns)}, &wo, &q2, &err) == 0);
    CHECK(q2 && q2->ops->max_deliver(q2) == 2 && q2->ops->ack_wait_ms(q2) == ACK_WAIT);

    /* restart nats-server on the same store: items and keys are still there, clients carry on */
    CHECK(q->ops->push(q, "restart", NULL, "kept", 4, &err) == 0);
    CHECK(q->ops->kv_put(q, VD_KV_RESULTS, "restart.f.0", "kept", 4, &err) == 0);
    seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    vd_kv_watch *w = NULL;
    CHECK(q->ops->kv_watch(q, VD_KV_RESULTS, on_kv, &s, &w, &err) == 0);
    CHECK(wait_for(&s, &s.ready, 1, 5000));
    vd_nats_server_kill(ns);
    CHECKF(vd_nats_server_restart(ns, &err) == 0, "%s", err.msg);
    vd_qconsumer *c = NULL;
    CHECK(q2->ops->consumer_new(q2, &c, &err) == 0 || (usleep(500000), 1));
    vd_qmsg *m = NULL;
    for (int i = 0; i < 40 && !m; i++) {
        if (!c) q2->ops->consumer_new(q2, &c, &err);
        if (c && q2->ops->pull(c, 500, &m, &err) != 0) usleep(100000);
    }
    CHECKF(m && m->len == 4 && !memcmp(m->data, "kept", 4), "%s", err.msg);
    CHECK(m && q2->ops->ack(m, &err) == 0);
    vd_queue_msg_free(m);
    vd_buf b = {0};
    CHECK(q->ops->kv_get(q, VD_KV_RESULTS, "restart.f.0", &b, &err) == 0 && b.len == 4);
    vd_buf_free(&b);
    /* the watch is re-made after the reconnection: a replay, then new changes */
    CHECK(wait_for(&s, &s.ready, 2, 10000));
    int before = s.puts;
    CHECK(q->ops->kv_put(q, VD_KV_RESULTS, "restart.f.1", "new", 3, &err) == 0);
    CHECK(wait_for(&s, &s.puts, before + 1, 5000));
    q->ops->kv_unwatch(w);
    q2->ops->consumer_free(c);
    vd_queue_close(q2);
    vd_queue_close(q);
    vd_nats_server_stop(ns);
    return vt_finish();
}
