/*
 * The transports' durability ops (include/vdag/net.h): a stream with a durable consumer and
 * key-value buckets, alike in memory (in-process) and on JetStream; on JetStream also that
 * what was stored survives a kill -9 of nats-server, and that an unacked message comes back
 * to a consumer that reconnects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "testlib.h"
#include "vdag/base.h"
#include "vdag/net.h"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static vd_buf buf_of(const char *s)
{
    return (vd_buf){(unsigned char *)s, strlen(s)};
}

/* Fetch everything pending (up to cap), acking when ack, waiting timeout_ms for the first
 * and next_ms for each next batch; returns the count, bodies in got. */
static int drain2(vd_transport *t, int ack, int timeout_ms, int next_ms, char got[][16], int cap)
{
    int total = 0;
    for (;;) {
        vd_smsg m[8];
        int n = 0;
        vd_error err = {0};
        int rc = t->ops->stream_fetch(t, "T_STREAM", "t_cons", 8, timeout_ms, m, &n, &err);
        if (rc) {
            fprintf(stderr, "fetch: %s\n", err.msg);
            return total;
        }
        if (!n) return total;
        for (int i = 0; i < n; i++) {
            if (total < cap)
                snprintf(got[total], 16, "%.*s", (int)m[i].data.len, (const char *)m[i].data.data);
            total++;
            if (ack) t->ops->stream_ack(t, &m[i], &err);
            t->ops->stream_release(t, &m[i]);
        }
        timeout_ms = next_ms;
    }
}

static int drain(vd_transport *t, int ack, int timeout_ms, char got[][16], int cap)
{
    return drain2(t, ack, timeout_ms, 200, got, cap);
}

static void common(vd_transport *t, const char *tn)
{
    vd_error err = {0};
    vd_stream_cfg sc = {.name = "T_STREAM", .subjects = "t.res.>", .ack_wait_ms = 1000};
    CHECKF(t->ops->stream_create(t, &sc, &err) == 0, "%s: %s", tn, err.msg);
    CHECKF(t->ops->stream_create(t, &sc, &err) == 0, "%s: again: %s", tn, err.msg);
    /* no stream takes the subject: VD_ENOTFOUND for each */
    vd_spub none = {.subject = "t.other.x", .id = "n1", .msg = buf_of("x")};
    int rc = t->ops->stream_publish(t, &none, 1, 1000, &err);
    CHECKF(rc == VD_ENOTFOUND && none.rc == VD_ENOTFOUND, "%s: rc %d %s", tn, rc, err.msg);
    /* in order; a repeated id is stored once */
    vd_spub p[4] = {{.subject = "t.res.e1", .id = "a.1", .msg = buf_of("m1")},
                    {.subject = "t.res.e1", .id = "a.2", .msg = buf_of("m2")},
                    {.subject = "t.res.e1", .id = "a.2", .msg = buf_of("m2-again")},
                    {.subject = "t.res.e2", .id = "b.1", .msg = buf_of("m3")}};
    rc = t->ops->stream_publish(t, p, 4, 2000, &err);
    CHECKF(rc == 4 && !p[0].rc && !p[1].rc && !p[2].rc && !p[3].rc, "%s: rc %d %s", tn, rc,
           err.msg);
    char got[16][16];
    vd_smsg m[8];
    int n = 0;
    rc = t->ops->stream_fetch(t, "T_STREAM", "t_cons", 2, 2000, m, &n, &err);
    CHECKF(rc == 0 && n == 2 && m[0].deliveries == 1, "%s: rc %d n %d %s", tn, rc, n, err.msg);
    if (n == 2) {
        CHECK(m[0].data.len == 2 && !memcmp(m[0].data.data, "m1", 2));
        CHECK(!strcmp(m[1].subject, "t.res.e1") && !memcmp(m[1].data.data, "m2", 2));
        CHECK(t->ops->stream_ack(t, &m[0], &err) == 0);
        CHECK(t->ops->stream_nak(t, &m[1], 300, &err) == 0); /* again in 300 ms */
        t->ops->stream_release(t, &m[0]);
        t->ops->stream_release(t, &m[1]);
    }
    memset(got, 0, sizeof got);
    n = drain2(t, 1, 2000, 1000, got, 16); /* m3, then m2 after its delay */
    CHECKF(n == 2 && !strcmp(got[0], "m3") && !strcmp(got[1], "m2"), "%s: %d: %s %s", tn, n, got[0],
           got[1]);
    /* unacked: delivered again after ack_wait */
    vd_spub q = {.subject = "t.res.e1", .id = "a.3", .msg = buf_of("m4")};
    CHECK(t->ops->stream_publish(t, &q, 1, 2000, &err) == 1);
    n = drain(t, 0, 2000, got, 16);
    CHECKF(n == 1 && !strcmp(got[0], "m4"), "%s: %d", tn, n);
    double t0 = vd_now_ms();
    rc = t->ops->stream_fetch(t, "T_STREAM", "t_cons", 4, 3000, m, &n, &err);
    double dt = vd_now_ms() - t0;
    CHECKF(rc == 0 && n == 1 && m[0].deliveries == 2 && dt > 500, "%s: rc %d n %d after %.0f ms",
           tn, rc, n, dt);
    for (int i = 0; i < n; i++)
        t->ops->stream_ack(t, &m[i], &err), t->ops->stream_release(t, &m[i]);
    CHECK(drain(t, 1, 300, got, 16) == 0);

    /* buckets: put/get, create and update as compare-and-set, keys, delete, ttl */
    CHECKF(t->ops->kv_bucket(t, "t_kv", 0, &err) == 0, "%s: %s", tn, err.msg);
    CHECKF(t->ops->kv_bucket(t, "t_lease", 1.0, &err) == 0, "%s: %s", tn, err.msg);
    vd_buf v = {0};
    uint64_t r1 = 0, r2 = 0, r3 = 0;
    CHECK(t->ops->kv_get(t, "t_kv", "job.x", &v, &r1, &err) == VD_ENOTFOUND);
    CHECK(t->ops->kv_put(t, "t_kv", "job.x", &(vd_buf){(unsigned char *)"v1", 2}, &r1, &err) == 0);
    CHECK(t->ops->kv_put(t, "t_kv", "job.y", &(vd_buf){(unsigned char *)"w", 1}, NULL, &err) == 0);
    CHECK(t->ops->kv_put(t, "t_kv", "epoch", &(vd_buf){(unsigned char *)"1", 1}, NULL, &err) == 0);
    CHECK(t->ops->kv_get(t, "t_kv", "job.x", &v, &r2, &err) == 0 && v.len == 2 && r2 == r1 &&
          !strcmp((char *)v.data, "v1"));
    vd_buf_free(&v);
    char **keys = NULL;
    int nk = 0;
    CHECK(t->ops->kv_keys(t, "t_kv", "job.", &keys, &nk, &err) == 0 && nk == 2);
    vd_kv_keys_free(keys, nk);
    CHECK(t->ops->kv_delete(t, "t_kv", "job.y", &err) == 0);
    CHECK(t->ops->kv_get(t, "t_kv", "job.y", &v, NULL, &err) == VD_ENOTFOUND);
    CHECK(t->ops->kv_keys(t, "t_kv", "job.", &keys, &nk, &err) == 0 && nk == 1);
    vd_kv_keys_free(keys, nk);
    vd_buf me = buf_of("me"), you = buf_of("you");
    CHECK(t->ops->kv_create(t, "t_lease", "leader", &me, &r1, &err) == 0);
    rc = t->ops->kv_create(t, "t_lease", "leader", &you, &r2, &err);
    CHECKF(rc == VD_EALREADY, "%s: rc %d %s", tn, rc, err.msg);
    CHECK(t->ops->kv_update(t, "t_lease", "leader", &me, r1, &r2, &err) == 0 && r2 > r1);
    rc = t->ops->kv_update(t, "t_lease", "leader", &you, r1, &r3, &err); /* a stale revision */
    CHECKF(rc == VD_ESTATE, "%s: rc %d %s", tn, rc, err.msg);
    sleep_ms(1600); /* the lease lapses: another may take it */
    CHECKF(t->ops->kv_get(t, "t_lease", "leader", &v, NULL, &err) == VD_ENOTFOUND, "%s", tn);
    vd_buf_free(&v);
    rc = t->ops->kv_create(t, "t_lease", "leader", &you, &r3, &err);
    CHECKF(rc == 0, "%s: rc %d %s", tn, rc, err.msg);
    CHECK(t->ops->kv_update(t, "t_lease", "leader", &me, r2, NULL, &err) == VD_ESTATE);
    CHECK(t->ops->kv_delete(t, "t_lease", "leader", &err) == 0);
    CHECK(t->ops->kv_create(t, "t_lease", "leader", &me, &r1, &err) == 0); /* after a delete */
}

/* Stored messages and buckets survive kill -9 of the server; an unacked one comes back. */
static void nats_restart(vd_nats_server *srv, vd_transport *t)
{
    vd_error err = {0};
    vd_spub p[3] = {{.subject = "t.res.e1", .id = "k.1", .msg = buf_of("k1")},
                    {.subject = "t.res.e1", .id = "k.2", .msg = buf_of("k2")},
                    {.subject = "t.res.e1", .id = "k.3", .msg = buf_of("k3")}};
    CHECK(t->ops->stream_publish(t, p, 3, 2000, &err) == 3);
    vd_smsg m[4];
    int n = 0;
    CHECK(t->ops->stream_fetch(t, "T_STREAM", "t_cons", 1, 2000, m, &n, &err) == 0 && n == 1);
    if (n) t->ops->stream_release(t, &m[0]); /* k1 fetched, never acked: again after 1 s */
    CHECK(t->ops->kv_put(t, "t_kv", "job.z", &(vd_buf){(unsigned char *)"zz", 2}, NULL, &err) == 0);
    vd_nats_server_kill(srv);
    vd_spub down = {.subject = "t.res.e1", .id = "k.4", .msg = buf_of("k4")};
    int rc = t->ops->stream_publish(t, &down, 1, 300, &err);
    CHECKF(rc == VD_ECONN || rc == VD_ETIMEDOUT, "rc %d %s", rc, err.msg);
    CHECKF(vd_nats_server_restart(srv, &err) == 0, "%s", err.msg);
    double end = vd_now_ms() + 5000;
    while (!t->ops->connected(t) && vd_now_ms() < end) sleep_ms(20);
    /* sent again with the same id: stored once (the first may have gone out before the
     * restart, buffered by the client) */
    do rc = t->ops->stream_publish(t, &down, 1, 1000, &err);
    while (rc != 1 && vd_now_ms() < end);
    CHECKF(rc == 1, "rc %d %s", rc, err.msg);
    char got[16][16];
    /* k2..k4 at once; k1 was delivered before the kill: at once too, or after its ack wait */
    n = 0;
    for (double end2 = vd_now_ms() + 6000; n < 4 && vd_now_ms() < end2;)
        n += drain(t, 1, 1500, got + n, 16 - n);
    /* each once, in any order (the unacked k1 at once or after its ack wait) */
    qsort(got, (size_t)(n < 16 ? n : 16), sizeof got[0],
          (int (*)(const void *, const void *))strcmp);
    CHECKF(n == 4 && !strcmp(got[0], "k1") && !strcmp(got[1], "k2") && !strcmp(got[2], "k3") &&
               !strcmp(got[3], "k4"),
           "%d after the restart: %s %s %s %s", n, got[0], got[1], got[2], got[3]);
    /* a new consumer (another process taking over) gets what was not acked at once */
    CHECK(t->ops->stream_publish(t, p, 2, 2000, &err) == 2); /* k1, k2: duplicates, dropped */
    vd_spub k5 = {.subject = "t.res.e1", .id = "k.5", .msg = buf_of("k5")};
    CHECK(t->ops->stream_publish(t, &k5, 1, 2000, &err) == 1);
    CHECK(t->ops->stream_fetch(t, "T_STREAM", "t_cons", 4, 2000, m, &n, &err) == 0 && n == 1);
    if (n) t->ops->stream_release(t, &m[0]); /* k5 fetched, never acked */
    vd_transport *t2 = NULL;
    CHECK(vd_transport_nats_new(vd_nats_server_url(srv), "test_store_2", &t2, &err) == 0);
    if (t2) {
        CHECK(t2->ops->stream_create(
                  t2,
                  &(vd_stream_cfg){.name = "T_STREAM", .subjects = "t.res.>", .ack_wait_ms = 1000},
                  &err) == 0);
        double t0 = vd_now_ms();
        n = drain(t2, 1, 2000, got, 16);
        double dt = vd_now_ms() - t0;
        /* k5 at once; an ack still on its way to the server when the consumer was made anew
         * may bring back an acked message (consumers are idempotent): nothing else */
        int k5 = 0, other = 0;
        for (int i = 0; i < n && i < 16; i++) {
            if (!strcmp(got[i], "k5"))
                k5++;
            else if (strcmp(got[i], "k1") && strcmp(got[i], "k2") && strcmp(got[i], "k3") &&
                     strcmp(got[i], "k4"))
                other++;
        }
        CHECKF(k5 == 1 && !other && dt < 600 + 200.0 * (n - 1), "%d: %s, %.0f ms", n, got[0], dt);
        vd_transport_close(t2);
    }
    vd_buf v = {0};
    CHECK(t->ops->kv_get(t, "t_kv", "job.z", &v, NULL, &err) == 0 && v.len == 2);
    vd_buf_free(&v);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    vd_error err = {0};
    vd_transport *t = NULL;
    CHECK(vd_transport_inproc_new(&t, &err) == 0);
    if (t) common(t, "inproc");
    vd_transport_close(t);

    vd_nats_server *srv = NULL;
    int rc = vd_nats_server_start(NULL, &srv, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (!rc) {
        t = NULL;
        CHECK(vd_transport_nats_new(vd_nats_server_url(srv), "test_store", &t, &err) == 0);
        if (t) {
            common(t, "nats");
            nats_restart(srv, t);
        }
        vd_transport_close(t);
        /* no JetStream: VD_EUNSUPP */
        vd_nats_server_opts o = {.no_jetstream = 1};
        vd_nats_server *s2 = NULL;
        t = NULL;
        if (vd_nats_server_start(&o, &s2, &err) == 0 &&
            vd_transport_nats_new(vd_nats_server_url(s2), "nojs", &t, &err) == 0) {
            vd_stream_cfg sc = {.name = "T_STREAM", .subjects = "t.res.>"};
            rc = t->ops->stream_create(t, &sc, &err);
            CHECKF(rc == VD_EUNSUPP && strstr(err.msg, "JetStream"), "rc %d %s", rc, err.msg);
            CHECK(t->ops->kv_bucket(t, "t_kv", 0, &err) == VD_EUNSUPP);
        }
        vd_transport_close(t);
        vd_nats_server_stop(s2);
    }
    vd_nats_server_stop(srv);
    nats_CloseAndWait(5000);
    return vt_finish();
}
