/*
 * The secured bus against a real nats-server: a credentials directory made by
 * vd_nats_secure_init (a CA, certificates and NKeys made with openssl and libcrypto), a
 * server with TLS (clients verified) and per-role permissions, then as each identity what
 * it may and may not do; a server with users and passwords; URL redaction.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "vdag/base.h"
#include "vdag/net.h"

static char dir[256];

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static vd_buf buf_of(const char *s)
{
    return (vd_buf){(unsigned char *)s, strlen(s)};
}

static int h_ok(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    atomic_fetch_add((atomic_int *)arg, 1);
    (void)req;
    resp->data = (unsigned char *)strdup("ok");
    if (!resp->data) return vd_fail(err, VD_ENOMEM, "oom");
    resp->len = 2;
    return 0;
}

typedef struct sink {
    atomic_int n;
} sink;

static void on_msg(void *arg, const char *subject, const vd_buf *msg)
{
    (void)subject, (void)msg;
    atomic_fetch_add(&((sink *)arg)->n, 1);
}

static char *path(const char *file)
{
    static char b[8][400];
    static int k;
    char *p = b[k++ & 7];
    snprintf(p, 400, "%s/%s", dir, file);
    return p;
}

/* A transport as one identity of the directory (name's seed, its certificate, the CA). */
static int open_as(const char *url, const char *name, const char *seed_of, int cert,
                   vd_transport **t, vd_error *err)
{
    char nk[64], pem[64], key[64];
    snprintf(nk, sizeof nk, "%s.nk", seed_of ? seed_of : name);
    snprintf(pem, sizeof pem, "%s.pem", seed_of ? seed_of : name);
    snprintf(key, sizeof key, "%s.key", seed_of ? seed_of : name);
    vd_nats_opts o = {.url = url,
                      .name = name,
                      .nkey = seed_of ? path(nk) : NULL,
                      .tls_ca = path("ca.pem"),
                      .tls_cert = cert ? path(pem) : NULL,
                      .tls_key = cert ? path(key) : NULL};
    return vd_transport_nats_open(&o, t, err);
}

static void test_redact(void)
{
    char out[128];
    vd_nats_url_redact("nats://e1:s3cret@127.0.0.1:4222", out, sizeof out);
    CHECKF(!strcmp(out, "nats://e1:***@127.0.0.1:4222"), "%s", out);
    vd_nats_url_redact("nats://tok3n@h:1,tls://u:p@h2:2", out, sizeof out);
    CHECKF(!strcmp(out, "nats://***@h:1,tls://u:***@h2:2"), "%s", out);
    vd_nats_url_redact("nats://127.0.0.1:4222", out, sizeof out);
    CHECKF(!strcmp(out, "nats://127.0.0.1:4222"), "%s", out);
    vd_nats_url_redact("nats://u:verylongpassword@h:1", out, 12);
    CHECKF(strlen(out) == 11 && !strstr(out, "verylong"), "%s", out);
}

static void test_secure_dir(void)
{
    vd_error err = {0};
    int rc = vd_nats_secure_init(dir, "cloud:cloud,edge:e1,edge:e2,observer:ha", "127.0.0.1", &err);
    CHECKF(rc == 0, "%s", err.msg);
    struct stat st;
    CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    CHECK(stat(path("e1.nk"), &st) == 0 && (st.st_mode & 0077) == 0);
    CHECK(stat(path("e1.key"), &st) == 0 && (st.st_mode & 0077) == 0);
    CHECK(stat(path("ca.key"), &st) == 0 && (st.st_mode & 0077) == 0);
    CHECK(access(path("server.pem"), R_OK) == 0 && access(path("cloud.pem"), R_OK) == 0);
    /* completing keeps what exists: the same seed, one more identity */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "grep ^SU %s", path("e1.nk"));
    char *before = vt_run(cmd, &rc);
    CHECK(vd_nats_secure_init(dir, "edge:e1,edge:e3", "127.0.0.1", &err) == 0);
    char *after = vt_run(cmd, &rc);
    CHECK(before && after && strlen(before) > 50 && !strcmp(before, after));
    free(before), free(after);
    snprintf(cmd, sizeof cmd, "cat %s", path("identities"));
    char *ids = vt_run(cmd, &rc);
    CHECKF(ids && !strcmp(ids, "cloud cloud\nedge e1\nedge e2\nobserver ha\nedge e3\n"), "%s", ids);
    free(ids);
    CHECK(vd_nats_secure_init(dir, "boss:x", NULL, &err) == VD_EINVAL);
    CHECK(vd_nats_secure_init(dir, "edge:a.b", NULL, &err) == VD_EINVAL);
}

/* Connecting: who gets in, who does not, and what they are told. */
static void test_connect(const char *url)
{
    vd_error err = {0};
    vd_transport *t = NULL;
    int rc = open_as(url, "e1", NULL, 1, &t, &err); /* TLS with a certificate, no NKey */
    CHECKF(rc == VD_EAUTH && strstr(err.msg, "not authorized") && strstr(err.msg, "e1"), "rc %d %s",
           rc, err.msg);
    printf("no credentials: %s\n", err.msg);
    vd_transport_close(t), t = NULL;
    /* an NKey the server does not list */
    char seed_dir[300];
    snprintf(seed_dir, sizeof seed_dir, "%s/other", dir);
    CHECK(vd_nats_secure_init(seed_dir, "edge:x", NULL, &err) == 0);
    char xnk[400];
    snprintf(xnk, sizeof xnk, "%s/x.nk", seed_dir);
    vd_nats_opts o = {.url = url,
                      .name = "x",
                      .nkey = xnk,
                      .tls_ca = path("ca.pem"),
                      .tls_cert = path("e1.pem"),
                      .tls_key = path("e1.key")};
    rc = vd_transport_nats_open(&o, &t, &err);
    CHECKF(rc == VD_EAUTH && strstr(err.msg, "not authorized"), "rc %d %s", rc, err.msg);
    vd_transport_close(t), t = NULL;
    /* no client certificate: the server verifies clients */
    rc = open_as(url, "e1", "e1", 0, &t, &err);
    CHECKF(rc == VD_EAUTH, "rc %d %s", rc, err.msg);
    printf("no client certificate: %s\n", err.msg);
    vd_transport_close(t), t = NULL;
    /* a CA that did not sign the server's certificate */
    char oca[400];
    snprintf(oca, sizeof oca, "%s/ca.pem", seed_dir);
    o = (vd_nats_opts){.url = url,
                       .name = "e1",
                       .nkey = path("e1.nk"),
                       .tls_ca = oca,
                       .tls_cert = path("e1.pem"),
                       .tls_key = path("e1.key")};
    rc = vd_transport_nats_open(&o, &t, &err);
    CHECKF(rc == VD_EAUTH && strstr(err.msg, "TLS"), "rc %d %s", rc, err.msg);
    printf("unknown CA: %s\n", err.msg);
    vd_transport_close(t), t = NULL;
    /* plain text to a TLS server */
    char plain[128];
    snprintf(plain, sizeof plain, "nats://%s", strstr(url, "://") + 3);
    o = (vd_nats_opts){.url = plain, .name = "e1", .nkey = path("e1.nk")};
    rc = vd_transport_nats_open(&o, &t, &err);
    CHECKF(rc < 0 && rc != VD_ECONN, "rc %d %s", rc, err.msg);
    printf("no TLS: %s\n", err.msg);
    vd_transport_close(t), t = NULL;
    /* files that are not there are named; two kinds of credentials are refused */
    o = (vd_nats_opts){.url = url, .name = "e1", .nkey = "/nonexistent/e1.nk"};
    CHECK(vd_transport_nats_open(&o, &t, &err) == VD_EIO && strstr(err.msg, "/nonexistent/e1.nk"));
    o = (vd_nats_opts){.url = url, .name = "e1", .creds = "/nonexistent/e1.creds"};
    CHECK(vd_transport_nats_open(&o, &t, &err) == VD_EIO && strstr(err.msg, "e1.creds"));
    o = (vd_nats_opts){.url = url, .name = "e1", .nkey = path("e1.nk"), .user = "u"};
    CHECK(vd_transport_nats_open(&o, &t, &err) == VD_EINVAL);
    o = (vd_nats_opts){.url = url, .name = "e1", .nkey = path("e1.pem")};
    CHECK(vd_transport_nats_open(&o, &t, &err) == VD_EFORMAT);
    o = (vd_nats_opts){.url = url, .name = "e1", .tls_cert = path("e1.pem")};
    CHECK(vd_transport_nats_open(&o, &t, &err) == VD_EINVAL);
}

/* What each role may do, enforced by the server. */
static void test_permissions(const char *url)
{
    vd_error err = {0};
    vd_transport *cloud = NULL, *e1 = NULL, *e2 = NULL;
    CHECKF(open_as(url, "cloud", "cloud", 1, &cloud, &err) == 0, "%s", err.msg);
    CHECKF(open_as(url, "e1", "e1", 1, &e1, &err) == 0, "%s", err.msg);
    CHECKF(open_as(url, "e2", "e2", 1, &e2, &err) == 0, "%s", err.msg);
    if (!cloud || !e1 || !e2) goto out;
    atomic_int n1 = 0, n2 = 0, nc = 0;
    /* each edge serves its own commands and a stage service; the cloud serves a stage */
    CHECKF(e1->ops->serve(e1, "e1", "node.submit_job", h_ok, &n1, &err) == 0, "%s", err.msg);
    CHECKF(e2->ops->serve(e2, "e2", "node.submit_job", h_ok, &n2, &err) == 0, "%s", err.msg);
    CHECKF(e2->ops->serve(e2, "e2", "svc.face_detection", h_ok, &n2, &err) == 0, "%s", err.msg);
    CHECKF(cloud->ops->serve(cloud, "cloud", "svc.face_detection", h_ok, &nc, &err) == 0, "%s",
           err.msg);
    /* an edge may not serve as another node */
    int rc = e1->ops->serve(e1, "e2", "node.stop_job", h_ok, &n1, &err);
    CHECKF(rc == VD_EAUTH && strstr(err.msg, "vdag.node.e2.svc.node.stop_job"), "rc %d %s", rc,
           err.msg);
    printf("edge serving as another node: %s\n", err.msg);

    vd_buf req = buf_of("{}"), resp = {0};
    /* the cloud submits to an edge */
    rc = vd_transport_call(cloud, "e1", "node.submit_job", &req, &resp, 2000, &err);
    CHECKF(rc == 0 && resp.len == 2, "rc %d %s", rc, err.msg);
    vd_buf_free(&resp);
    /* an edge may call a stage on another node, but submit nothing to it */
    rc = vd_transport_call(e1, "e2", "svc.face_detection", &req, &resp, 2000, &err);
    CHECKF(rc == 0, "rc %d %s", rc, err.msg);
    vd_buf_free(&resp);
    int before = atomic_load(&n2);
    double t0 = vd_now_ms();
    rc = vd_transport_call(e1, "e2", "node.submit_job", &req, &resp, 3000, &err);
    double dt = vd_now_ms() - t0;
    CHECKF(rc == VD_EAUTH && strstr(err.msg, "not authorized") &&
               strstr(err.msg, "vdag.node.e2.svc.node.submit_job"),
           "rc %d %s", rc, err.msg);
    CHECKF(dt < 1500, "a refused call took %.0f ms (its timeout is 3000)", dt);
    printf("edge submitting to an edge (%.0f ms): %s\n", dt, err.msg);
    rc = vd_transport_call(e1, NULL, "node.submit_job", &req, &resp, 3000, &err);
    CHECKF(rc == VD_EAUTH, "rc %d %s", rc, err.msg);
    sleep_ms(100);
    CHECK(atomic_load(&n2) == before); /* e2's handler never ran */

    /* heartbeats: an edge publishes its own; another's is refused and never delivered */
    sink hb = {0};
    CHECKF(cloud->ops->subscribe(cloud, "vdag.hb.>", on_msg, &hb, &err) == 0, "%s", err.msg);
    vd_buf m = buf_of("{\"name\":\"e1\"}");
    CHECK(e1->ops->publish(e1, "vdag.hb.e1", &m, &err) == 0);
    CHECK(e1->ops->publish(e1, "vdag.hb.e2", &m, &err) == 0); /* refused later, by the server */
    for (int i = 0; i < 100 && atomic_load(&hb.n) < 1; i++) sleep_ms(10);
    sleep_ms(300);
    CHECKF(atomic_load(&hb.n) == 1, "the cloud got %d heartbeats", atomic_load(&hb.n));
    rc = e1->ops->publish(e1, "vdag.hb.e2", &m, &err);
    CHECKF(rc == VD_EAUTH && strstr(err.msg, "vdag.hb.e2"), "rc %d %s", rc, err.msg);
    /* an edge reads no one's heartbeats, results, frames or replies */
    sink spy = {0};
    rc = e1->ops->subscribe(e1, "vdag.hb.>", on_msg, &spy, &err);
    CHECKF(rc == VD_EAUTH && strstr(err.msg, "vdag.hb.>"), "rc %d %s", rc, err.msg);
    CHECK(e1->ops->subscribe(e1, "vdag.result.>", on_msg, &spy, &err) == VD_EAUTH);
    CHECK(e1->ops->subscribe(e1, "vdag.frame.e2", on_msg, &spy, &err) == VD_EAUTH);
    CHECK(e1->ops->subscribe(e1, "_INBOX.cloud.>", on_msg, &spy, &err) == VD_EAUTH);
    CHECK(e1->ops->subscribe(e1, ">", on_msg, &spy, &err) == VD_EAUTH);

    /* JetStream: the cloud makes its stream and buckets and uses them; an edge stores its
     * results but may not read the stream nor touch the buckets */
    vd_stream_cfg sc = {.name = VD_JS_RESULTS, .subjects = "vdag.result.>", .max_age_s = 3600};
    rc = cloud->ops->stream_create(cloud, &sc, &err);
    CHECKF(rc == 0, "rc %d %s", rc, err.msg);
    CHECKF(cloud->ops->kv_bucket(cloud, VD_KV_STATE, 0, &err) == 0, "%s", err.msg);
    CHECKF(cloud->ops->kv_bucket(cloud, VD_KV_LEASE, 2, &err) == 0, "%s", err.msg);
    vd_buf v = buf_of("{\"state\":\"EXEC\"}"), got = {0};
    uint64_t rev = 0, rev2 = 0;
    CHECKF(cloud->ops->kv_put(cloud, VD_KV_STATE, "job.a.1", &v, &rev, &err) == 0, "%s", err.msg);
    CHECKF(cloud->ops->kv_get(cloud, VD_KV_STATE, "job.a.1", &got, &rev2, &err) == 0 &&
               got.len == v.len && rev2 == rev,
           "%s", err.msg);
    vd_buf_free(&got);
    char **keys = NULL;
    int nk = 0;
    CHECKF(cloud->ops->kv_keys(cloud, VD_KV_STATE, "job.", &keys, &nk, &err) == 0 && nk == 1,
           "%d %s", nk, err.msg);
    vd_kv_keys_free(keys, nk);
    CHECKF(cloud->ops->kv_create(cloud, VD_KV_LEASE, "leader", &v, &rev, &err) == 0, "%s", err.msg);
    CHECK(cloud->ops->kv_update(cloud, VD_KV_LEASE, "leader", &v, rev, &rev2, &err) == 0);
    CHECK(cloud->ops->kv_delete(cloud, VD_KV_LEASE, "leader", &err) == 0);
    vd_spub p[2] = {{.subject = "vdag.result.e1", .id = "j.1.1", .msg = buf_of("r1")},
                    {.subject = "vdag.result.e1", .id = "j.1.2", .msg = buf_of("r2")}};
    rc = e1->ops->stream_publish(e1, p, 2, 2000, &err);
    CHECKF(rc == 2 && p[0].rc == 0 && p[1].rc == 0, "rc %d %s", rc, err.msg);
    vd_spub forged = {.subject = "vdag.result.e2", .id = "j.2.1", .msg = buf_of("x")};
    rc = e1->ops->stream_publish(e1, &forged, 1, 2000, &err);
    CHECKF(rc == VD_EAUTH && forged.rc == VD_EAUTH, "rc %d %s", rc, err.msg);
    printf("edge storing another edge's result: %s\n", err.msg);
    vd_smsg out[4];
    int n = 0;
    rc = e1->ops->stream_fetch(e1, VD_JS_RESULTS, VD_JS_CONSUMER, 4, 500, out, &n, &err);
    CHECKF(rc == VD_EAUTH || (rc < 0 && n == 0), "rc %d n %d %s", rc, n, err.msg);
    rc = e1->ops->kv_bucket(e1, VD_KV_STATE, 0, &err);
    CHECKF(rc == VD_EAUTH || rc == VD_ETIMEDOUT, "rc %d %s", rc, err.msg);
    printf("edge opening the cloud's bucket: %s\n", err.msg);
    rc = cloud->ops->stream_fetch(cloud, VD_JS_RESULTS, VD_JS_CONSUMER, 4, 2000, out, &n, &err);
    CHECKF(rc == 0 && n == 2 && out[0].data.len == 2 && !memcmp(out[0].data.data, "r1", 2) &&
               !strcmp(out[0].subject, "vdag.result.e1"),
           "rc %d n %d %s", rc, n, err.msg);
    for (int i = 0; i < n; i++) {
        CHECK(cloud->ops->stream_ack(cloud, &out[i], &err) == 0);
        cloud->ops->stream_release(cloud, &out[i]);
    }

    /* events (docs/events.md): the cloud publishes them, an observer reads them and nothing
     * else; an edge can neither forge nor read them */
    vd_transport *ha = NULL;
    CHECKF(open_as(url, "ha", "ha", 1, &ha, &err) == 0, "%s", err.msg);
    sink evs = {0};
    CHECKF(ha && ha->ops->subscribe(ha, "vdag.event.>", on_msg, &evs, &err) == 0, "%s", err.msg);
    vd_buf em = buf_of("{\"type\":\"count\"}");
    CHECK(e1->ops->publish(e1, "vdag.event.count.j.1", &em, &err) == 0); /* refused later */
    CHECK(!ha || ha->ops->publish(ha, "vdag.event.count.j.1", &em, &err) == 0);
    CHECK(cloud->ops->publish(cloud, "vdag.event.count.j.1", &em, &err) == 0);
    for (int i = 0; i < 100 && atomic_load(&evs.n) < 1; i++) sleep_ms(10);
    sleep_ms(300);
    CHECKF(atomic_load(&evs.n) == 1, "the observer got %d events", atomic_load(&evs.n));
    CHECK(e1->ops->subscribe(e1, "vdag.event.>", on_msg, &spy, &err) == VD_EAUTH);
    CHECK(!ha || ha->ops->subscribe(ha, "vdag.hb.>", on_msg, &evs, &err) == VD_EAUTH);
    CHECK(!ha || ha->ops->subscribe(ha, "vdag.result.>", on_msg, &evs, &err) == VD_EAUTH);
    vd_transport_close(ha);
out:
    vd_transport_close(e1);
    vd_transport_close(e2);
    vd_transport_close(cloud);
}

/* Users and passwords (no TLS): the right password gets in, a wrong one is told so, and
 * the password never shows in a message. */
static void test_passwords(void)
{
    vd_nats_ident ids[] = {{"cloud", "cloud", "cl0ud-pw", NULL}, {"e1", "edge", "e1-pw", NULL}};
    vd_nats_server_opts so = {.idents = ids, .n_idents = 2};
    vd_nats_server *srv = NULL;
    vd_error err = {0};
    int rc = vd_nats_server_start(&so, &srv, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (rc) return;
    const char *url = vd_nats_server_url(srv);
    vd_transport *t = NULL;
    vd_nats_opts o = {.url = url, .name = "e1", .user = "e1", .password = "e1-pw"};
    CHECKF(vd_transport_nats_open(&o, &t, &err) == 0, "%s", err.msg);
    atomic_int n = 0;
    if (t) CHECK(t->ops->serve(t, "e1", "node.stop_job", h_ok, &n, &err) == 0);
    vd_transport_close(t), t = NULL;
    o.password = "wrong-pw";
    rc = vd_transport_nats_open(&o, &t, &err);
    CHECKF(rc == VD_EAUTH && strstr(err.msg, "not authorized") && !strstr(err.msg, "wrong-pw"),
           "rc %d %s", rc, err.msg);
    vd_transport_close(t), t = NULL;
    /* a password inside the URL works and is redacted */
    char u[160];
    snprintf(u, sizeof u, "nats://e1:bad-secret@%s", strstr(url, "://") + 3);
    o = (vd_nats_opts){.url = u, .name = "e1"};
    rc = vd_transport_nats_open(&o, &t, &err);
    CHECKF(rc == VD_EAUTH && !strstr(err.msg, "bad-secret") && strstr(err.msg, "e1:***@"),
           "rc %d %s", rc, err.msg);
    vd_transport_close(t), t = NULL;
    /* a user file */
    char uf[300], user[64], pw[64];
    snprintf(uf, sizeof uf, "%s/e1.user", dir);
    FILE *f = fopen(uf, "w");
    if (f) fputs("e1:e1-pw\n", f), fclose(f);
    CHECK(vd_nats_userfile_read(uf, user, sizeof user, pw, sizeof pw, &err) == 0 &&
          !strcmp(user, "e1") && !strcmp(pw, "e1-pw"));
    f = fopen(uf, "w");
    if (f) fputs("e1-pw-without-user\n", f), fclose(f);
    rc = vd_nats_userfile_read(uf, user, sizeof user, pw, sizeof pw, &err);
    CHECKF(rc == VD_EFORMAT && !strstr(err.msg, "without-user"), "%s", err.msg);
    CHECK(vd_nats_userfile_read("/nonexistent/u", user, sizeof user, pw, sizeof pw, &err) ==
          VD_EIO);
    vd_nats_server_stop(srv);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/vdag-auth-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) return 1;
    strcat(dir, "/bus"); /* made by vd_nats_secure_init */
    test_redact();
    test_secure_dir();
    vd_nats_server_opts so = {.secure_dir = dir};
    vd_nats_server *srv = NULL;
    vd_error err = {0};
    int rc = vd_nats_server_start(&so, &srv, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (!rc) {
        const char *url = vd_nats_server_url(srv);
        CHECK(!strncmp(url, "tls://", 6));
        test_connect(url);
        test_permissions(url);
        vd_nats_server_stop(srv);
    }
    test_passwords();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%.*s'", (int)(strlen(dir) - 4), dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    return vt_finish();
}
