/*
 * One leader among clouds, and the results consumer.
 *
 * The lease: the key "leader" in the bucket VD_KV_LEASE, whose keys expire LEASE_TTL_S
 * after their last write. A cloud that is not leading tries to create it every
 * LEASE_TICK_MS (only one can: create is compare-and-set); the leader renews it every
 * LEASE_RENEW_MS with update (compare-and-set on its revision). A leader whose renewal is
 * refused (the lease lapsed and another took it) stops leading at once; one that cannot
 * reach the store stops after LEASE_FENCE_MS without a renewal, before the lease can lapse
 * on the server (LEASE_TTL_S), so two never lead at once. A cloud that takes the lease
 * reads the state from the store (cloud_store.c) unless it led last itself (the epoch, a
 * key of the state bucket, says who led last), then leads: it schedules, consumes results,
 * writes the store and talks to edges. One that stops (SIGTERM) writes its state and
 * deletes the lease, so a standby takes over at once.
 *
 * The consumer (the leader only): fetches results from the stream VD_JS_RESULTS in stream
 * order, applies them (vd__cloud_apply_result), and acks them once the store holds their
 * effect (vd__cloud_store_flush, every RES_FLUSH_MS); a crash in between delivers them
 * again to the next leader, which tells them apart by run and seq.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cloud_internal.h"
#include "vdag/base.h"

#define LEASE_TTL_S    2.0
#define LEASE_RENEW_MS 400
#define LEASE_FENCE_MS 1500
#define LEASE_TICK_MS  100
#define SETUP_RETRY_MS 500
#define FIRST_WAIT_MS  3000 /* vd_cloud_start waits this long for its first attempt */
#define FETCH_MAX      64
#define PEND_MAX       4096 /* applied, waiting for a store write to be acked */

static const vd_stream_cfg results_cfg = {
    .name = VD_JS_RESULTS,
    .subjects = VD_SUBJ_RESULT ".>",
    .max_age_s = 3600,        /* results nobody consumed for an hour go */
    .max_bytes = 512ll << 20, /* and beyond 512 MB, the oldest */
    .ack_wait_ms = 10000,     /* an unacked result comes again after */
};

static void nap(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The stream and the buckets (idempotent). */
static int setup_store(vd_cloud *c, vd_error *err)
{
    vd_transport *t = c->o.tr;
    int rc = t->ops->stream_create(t, &results_cfg, err);
    if (!rc) rc = t->ops->kv_bucket(t, VD_KV_STATE, 0, err);
    if (!rc) rc = t->ops->kv_bucket(t, VD_KV_LEASE, LEASE_TTL_S, err);
    return rc;
}

void vd__cloud_step_down(vd_cloud *c, const char *why)
{
    pthread_mutex_lock(&c->mu);
    int was = c->leader;
    c->leader = 0;
    snprintf(c->leader_msg, sizeof c->leader_msg, "cloud %s is standing by (%s)", c->name, why);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (was) fprintf(stderr, "vdag %s: no longer leading: %s\n", c->name, why);
}

/* Holding the lease: the state from the store (unless this cloud led last), then lead. */
static int take_over(vd_cloud *c, vd_error *err)
{
    vd_transport *t = c->o.tr;
    double t0 = vd_now_ms();
    vd_buf v = {0};
    int64_t n = 0;
    int same = 0;
    int rc = t->ops->kv_get(t, VD_KV_STATE, "epoch", &v, NULL, err);
    if (rc && rc != VD_ENOTFOUND) return rc;
    if (!rc) {
        json_t *e = json_loadb((const char *)v.data, v.len, 0, NULL);
        n = json_integer_value(json_object_get(e, "n"));
        const char *id = json_string_value(json_object_get(e, "id"));
        pthread_mutex_lock(&c->mu);
        same = id && !strcmp(id, c->id) && n == c->epoch && n > 0;
        pthread_mutex_unlock(&c->mu);
        json_decref(e);
        vd_buf_free(&v);
    }
    int restored = 0, fresh = 0;
    pthread_mutex_lock(&c->mu);
    if (rc == VD_ENOTFOUND && c->epoch > 0) { /* a server with a new store: ours is the state */
        same = fresh = 1;
        for (int i = 0; i < c->n_jobs; i++) c->jobs[i]->gen_written = ~c->jobs[i]->gen;
        for (int i = 0; i < c->n_jobs; i++) c->jobs[i]->rev = 0;
    }
    pthread_mutex_unlock(&c->mu);
    if (!same && (rc = vd__cloud_store_restore(c, &restored, err))) return rc;
    json_t *e = json_pack("{s:s,s:s,s:s,s:I}", "id", c->id, "name", c->name, "addr", c->addr, "n",
                          (json_int_t)(n + 1));
    char *s = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    vd_buf b = {(unsigned char *)s, s ? strlen(s) : 0};
    rc = s ? t->ops->kv_put(t, VD_KV_STATE, "epoch", &b, NULL, err) : VD_ENOMEM;
    free(s);
    if (rc) return rc;
    pthread_mutex_lock(&c->mu);
    c->epoch = n + 1;
    c->leader = 1;
    c->leader_msg[0] = 0;
    for (int i = 0; i < c->n_nodes; i++) /* the node table as this leader starts with it */
        vd__events_node(c->ev, c->nodes[i].name, c->nodes[i].role, 1, "known");
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (same)
        fprintf(stderr, "vdag %s: leading again (epoch %lld; %s)\n", c->name, (long long)(n + 1),
                fresh ? "the server's store is new: this cloud's state is written to it"
                      : "nobody led in between");
    else
        fprintf(stderr, "vdag %s: leading (epoch %lld): %d job(s) from the store in %.0f ms\n",
                c->name, (long long)(n + 1), restored, vd_now_ms() - t0);
    return 0;
}

/* Who leads, for a standby's answers. */
static void note_leader(vd_cloud *c)
{
    vd_transport *t = c->o.tr;
    vd_buf v = {0};
    if (t->ops->kv_get(t, VD_KV_LEASE, "leader", &v, NULL, NULL)) return;
    json_t *l = json_loadb((const char *)v.data, v.len, 0, NULL);
    vd_buf_free(&v);
    const char *name = json_string_value(json_object_get(l, "name"));
    const char *addr = json_string_value(json_object_get(l, "addr"));
    pthread_mutex_lock(&c->mu);
    if (!c->leader)
        snprintf(c->leader_msg, sizeof c->leader_msg,
                 "cloud %s is standing by: the leader is cloud %s at %s", c->name,
                 name ? name : "?", addr && *addr ? addr : "(no address)");
    pthread_mutex_unlock(&c->mu);
    json_decref(l);
}

static void tried(vd_cloud *c)
{
    pthread_mutex_lock(&c->mu);
    if (!c->ha_tried) c->ha_tried = 1, pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void *ha_main(void *arg)
{
    vd_cloud *c = arg;
    vd_transport *t = c->o.tr;
    json_t *mej = json_pack("{s:s,s:s,s:s}", "id", c->id, "name", c->name, "addr", c->addr);
    char *me = mej ? json_dumps(mej, JSON_COMPACT) : NULL;
    json_decref(mej);
    vd_buf mb = {(unsigned char *)me, me ? strlen(me) : 0};
    int setup = 0, logged = 0;
    uint64_t rev = 0;
    double ok_at = 0, noted_at = 0;
    while (me && !vd__cloud_stopping(c)) {
        double now = vd_now_ms();
        vd_error err = {0};
        if (!setup) {
            if (setup_store(c, &err)) {
                if (!logged)
                    fprintf(stderr,
                            "vdag %s: cannot make the results stream and the state "
                            "buckets yet (retrying): %s\n",
                            c->name, err.msg);
                logged = 1;
                vd__cloud_step_down(c, err.msg);
                tried(c);
                nap(SETUP_RETRY_MS);
                continue;
            }
            setup = 1;
        }
        pthread_mutex_lock(&c->mu);
        int leading = c->leader;
        pthread_mutex_unlock(&c->mu);
        if (leading && now - ok_at >= LEASE_RENEW_MS) {
            uint64_t r2 = 0;
            int rc = t->ops->kv_update(t, VD_KV_LEASE, "leader", &mb, rev, &r2, &err);
            if (!rc) {
                rev = r2, ok_at = now;
            } else if (rc == VD_ESTATE) {
                vd__cloud_step_down(c, "the lease lapsed and another cloud may lead");
            } else if (rc == VD_ENOTFOUND) { /* no lease bucket: a server with a new store */
                vd__cloud_step_down(c, "the NATS server's store is new");
                setup = 0;
            } else if (now - ok_at > LEASE_FENCE_MS) {
                vd__cloud_step_down(c, "the lease cannot be renewed: is the NATS server up?");
            }
        } else if (!leading) {
            int rc = t->ops->kv_create(t, VD_KV_LEASE, "leader", &mb, &rev, &err);
            if (!rc) {
                ok_at = vd_now_ms();
                if ((rc = take_over(c, &err))) {
                    fprintf(stderr, "vdag %s: cannot take over (the lease is given back): %s\n",
                            c->name, err.msg);
                    t->ops->kv_delete(t, VD_KV_LEASE, "leader", NULL);
                }
            } else if (rc == VD_EALREADY && now - noted_at > 1000) {
                note_leader(c);
                noted_at = now;
            } else if (rc != VD_EALREADY) {
                vd__cloud_step_down(c, err.msg);
                setup = rc != VD_ENOTFOUND; /* the buckets are made again */
            }
            tried(c);
        }
        nap(LEASE_TICK_MS);
    }
    free(me);
    tried(c);
    return NULL;
}

/* ---- the consumer ------------------------------------------------------------------------ */

static void release_all(vd_transport *t, vd_smsg *m, int *n, int ack)
{
    for (int i = 0; i < *n; i++) {
        if (ack) t->ops->stream_ack(t, &m[i], NULL);
        t->ops->stream_release(t, &m[i]);
    }
    *n = 0;
}

static void *cons_main(void *arg)
{
    vd_cloud *c = arg;
    vd_transport *t = c->o.tr;
    vd_smsg *pend = calloc(PEND_MAX, sizeof *pend);
    int np = 0, logged = 0;
    double flushed_at = vd_now_ms();
    while (pend && !vd__cloud_stopping(c)) {
        pthread_mutex_lock(&c->mu);
        int leading = c->leader;
        pthread_mutex_unlock(&c->mu);
        if (!leading) { /* what was applied and not acked comes again, to the leader */
            release_all(t, pend, &np, 0);
            nap(LEASE_TICK_MS);
            continue;
        }
        vd_smsg got[FETCH_MAX];
        int n = 0, want = PEND_MAX - np < FETCH_MAX ? PEND_MAX - np : FETCH_MAX;
        vd_error err = {0};
        int rc = t->ops->stream_fetch(t, VD_JS_RESULTS, VD_JS_CONSUMER, want, 100, got, &n, &err);
        if (rc) {
            if (!logged)
                fprintf(stderr, "vdag %s: cannot fetch results (retrying): %s\n", c->name, err.msg);
            logged = 1;
            nap(250);
        } else {
            logged = 0;
        }
        for (int i = 0; i < n; i++) {
            if (vd__cloud_apply_result(c, got[i].subject, &got[i].data) == 1) {
                t->ops->stream_nak(t, &got[i], 1000, NULL); /* its job is being adopted */
                t->ops->stream_release(t, &got[i]);
            } else {
                pend[np++] = got[i];
            }
        }
        if (np && (vd_now_ms() - flushed_at >= RES_FLUSH_MS || np == PEND_MAX)) {
            if (vd__cloud_store_flush(c, 1) == 0)
                release_all(t, pend, &np, 1);
            else if (np == PEND_MAX) /* they come again after the ack wait: told apart */
                release_all(t, pend, &np, 0);
            flushed_at = vd_now_ms();
        }
    }
    if (np && vd__cloud_store_flush(c, 1) == 0)
        release_all(t, pend, &np, 1);
    else
        release_all(t, pend, &np, 0);
    free(pend);
    return NULL;
}

/* ---- life cycle -------------------------------------------------------------------------- */

int vd__cloud_ha_start(vd_cloud *c, vd_error *err)
{
    snprintf(c->leader_msg, sizeof c->leader_msg, "cloud %s is starting", c->name);
    if (pthread_create(&c->ha_thr, NULL, ha_main, c))
        return vd_fail(err, VD_ENOMEM, "cloud %s: cannot start the lease thread", c->name);
    c->ha_started = 1;
    if (pthread_create(&c->cons_thr, NULL, cons_main, c))
        return vd_fail(err, VD_ENOMEM, "cloud %s: cannot start the results thread", c->name);
    c->cons_started = 1;
    /* the first attempt at the lease: a lone cloud leads before its start returns */
    pthread_mutex_lock(&c->mu);
    struct timespec ts = vd_deadline(CLOCK_REALTIME, FIRST_WAIT_MS);
    while (!c->ha_tried && !c->stopping)
        if (pthread_cond_timedwait(&c->cv, &c->mu, &ts)) break;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

void vd__cloud_ha_stop(vd_cloud *c)
{
    if (c->cons_started) pthread_join(c->cons_thr, NULL);
    if (c->ha_started) pthread_join(c->ha_thr, NULL);
    c->cons_started = c->ha_started = 0;
    pthread_mutex_lock(&c->mu);
    int leading = c->leader;
    pthread_mutex_unlock(&c->mu);
    vd_transport *t = c->o.tr;
    if (!leading || !t->ops->connected(t)) { /* no store to write to: the next leader reads */
        if (leading) vd__cloud_step_down(c, "shutting down, not connected");
        return;
    }
    vd__cloud_store_flush(c, 1);
    vd_buf v = {0};
    if (t->ops->kv_get(t, VD_KV_LEASE, "leader", &v, NULL, NULL) == 0) { /* still ours? */
        json_t *l = json_loadb((const char *)v.data, v.len, 0, NULL);
        const char *id = json_string_value(json_object_get(l, "id"));
        if (id && !strcmp(id, c->id)) t->ops->kv_delete(t, VD_KV_LEASE, "leader", NULL);
        json_decref(l);
        vd_buf_free(&v);
    }
    vd__cloud_step_down(c, "shutting down");
}
