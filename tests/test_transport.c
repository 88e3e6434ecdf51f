/*
 * Transport tests: the names of the error codes, the in-process transport, then the NATS
 * transport against a nats-server this test starts on a free loopback port (and restarts
 * once). Both transports must answer alike: the same codes for the same failures.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "testlib.h"
#include "vdag/net.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static vd_buf buf_of(const char *s)
{
    return (vd_buf){(unsigned char *)s, strlen(s)};
}

static int buf_is(const vd_buf *b, const char *s)
{
    return b->len == strlen(s) && !memcmp(b->data, s, b->len);
}

/* ---- handlers -------------------------------------------------------------------------- */

typedef struct node_ctx {
    const char *name;
    atomic_int calls;
} node_ctx;

/* Echo "<node>:<request>". */
static int h_echo(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    node_ctx *n = arg;
    atomic_fetch_add(&n->calls, 1);
    size_t nl = strlen(n->name);
    resp->data = malloc(nl + 1 + req->len);
    if (!resp->data) return vd_fail(err, VD_ENOMEM, "oom");
    memcpy(resp->data, n->name, nl);
    resp->data[nl] = ':';
    if (req->len) memcpy(resp->data + nl + 1, req->data, req->len);
    resp->len = nl + 1 + req->len;
    return 0;
}

static int h_fail(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    (void)arg, (void)req;
    resp->data = malloc(4); /* a handler that fails after allocating: must not leak */
    resp->len = 4;
    return vd_fail(err, VD_EINVAL, "bad frame: width must be > 0");
}

/* Fails with the code the request names ("-6"): each must reach the caller unchanged. */
static int h_code(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    (void)arg, (void)resp;
    char s[16];
    snprintf(s, sizeof s, "%.*s", (int)(req->len < 15 ? req->len : 15), (const char *)req->data);
    int code = atoi(s);
    return vd_fail(err, code, "failing with %s on purpose", vd_strerror(code));
}

/* Calls "code" on any node with the request: a nested call whose error it passes on. */
static int h_relay(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    return vd_transport_call(arg, NULL, "code", req, resp, 2000, err);
}

/* Returns the request unchanged (a big payload round-trip). */
static int h_copy(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    (void)arg;
    resp->data = malloc(req->len ? req->len : 1);
    if (!resp->data) return vd_fail(err, VD_ENOMEM, "oom");
    if (req->len) memcpy(resp->data, req->data, req->len);
    resp->len = req->len;
    return 0;
}

/* Calls "echo" on any node and wraps the answer: a nested call from a handler. */
static int h_outer(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    vd_transport *t = arg;
    vd_buf inner = {0};
    int rc = vd_transport_call(t, NULL, "echo", req, &inner, 2000, err);
    if (rc < 0) return rc;
    resp->data = malloc(inner.len + 7);
    memcpy(resp->data, "outer(", 6);
    memcpy(resp->data + 6, inner.data, inner.len);
    resp->data[6 + inner.len] = ')';
    resp->len = inner.len + 7;
    vd_buf_free(&inner);
    return 0;
}

/* Sleeps 600 ms: a slow service must not hold up another one. */
static int h_slow(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    (void)arg, (void)req, (void)err;
    sleep_ms(600);
    resp->data = malloc(1);
    resp->data[0] = 's';
    resp->len = 1;
    return 0;
}

/* ---- subscriptions --------------------------------------------------------------------- */

#define MAX_GOT 256
typedef struct sink {
    pthread_mutex_t mu;
    int n;
    char subj[MAX_GOT][64];
    char body[MAX_GOT][32];
} sink;

static void on_msg(void *arg, const char *subject, const vd_buf *msg)
{
    sink *s = arg;
    pthread_mutex_lock(&s->mu);
    if (s->n < MAX_GOT) {
        snprintf(s->subj[s->n], sizeof s->subj[0], "%s", subject);
        snprintf(s->body[s->n], sizeof s->body[0], "%.*s", (int)msg->len, (const char *)msg->data);
        s->n++;
    }
    pthread_mutex_unlock(&s->mu);
}

static int sink_count(sink *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static int wait_count(sink *s, int n, double timeout_s)
{
    double end = now_s() + timeout_s;
    while (sink_count(s) < n && now_s() < end) sleep_ms(5);
    return sink_count(s);
}

static void sink_reset(sink *s)
{
    pthread_mutex_lock(&s->mu);
    s->n = 0;
    pthread_mutex_unlock(&s->mu);
}

/* ---- behaviours common to both transports ------------------------------------------------ */

static void common_tests(vd_transport *t, const char *tname)
{
    vd_error err = {0};
    /* The handlers stay registered until the transport closes: their args outlive this. */
    static node_ctx a = {"nodeA", 0}, b = {"nodeB", 0};
    CHECK(t->ops->serve(t, "nodeA", "echo", h_echo, &a, &err) == 0);
    CHECK(t->ops->serve(t, "nodeB", "echo", h_echo, &b, &err) == 0);
    CHECK(t->ops->serve(t, "nodeA", "fail", h_fail, NULL, &err) == 0);
    CHECK(t->ops->connected(t) == 1);

    vd_buf req = buf_of("hello"), resp = {0};
    int rc = vd_transport_call(t, "nodeB", "echo", &req, &resp, 2000, &err);
    CHECKF(rc == 0 && buf_is(&resp, "nodeB:hello"), "%s: rc %d %s", tname, rc, err.msg);
    vd_buf_free(&resp);
    rc = vd_transport_call(t, "nodeA", "echo", &req, &resp, 2000, &err);
    CHECKF(rc == 0 && buf_is(&resp, "nodeA:hello"), "%s: rc %d %s", tname, rc, err.msg);
    vd_buf_free(&resp);

    /* Any node: both get used. */
    atomic_store(&a.calls, 0);
    atomic_store(&b.calls, 0);
    for (int i = 0; i < 40; i++) {
        rc = vd_transport_call(t, NULL, "echo", &req, &resp, 2000, &err);
        CHECKF(rc == 0 && resp.len == strlen("nodeX:hello"), "%s: rc %d %s", tname, rc, err.msg);
        vd_buf_free(&resp);
    }
    printf("%s: 40 calls to any node: nodeA %d, nodeB %d\n", tname, atomic_load(&a.calls),
           atomic_load(&b.calls));
    CHECKF(atomic_load(&a.calls) > 0 && atomic_load(&b.calls) > 0, "%s: A %d B %d", tname,
           atomic_load(&a.calls), atomic_load(&b.calls));

    /* An empty request. */
    vd_buf none = {NULL, 0};
    rc = vd_transport_call(t, "nodeA", "echo", &none, &resp, 2000, &err);
    CHECKF(rc == 0 && buf_is(&resp, "nodeA:"), "%s: rc %d %s", tname, rc, err.msg);
    vd_buf_free(&resp);

    /* Handler error. */
    vd_error_clear(&err);
    rc = vd_transport_call(t, NULL, "fail", &req, &resp, 2000, &err);
    CHECKF(rc == VD_EREMOTE && err.code == VD_EREMOTE, "%s: rc %d", tname, rc);
    CHECKF(strstr(err.msg, "width must be > 0") && strstr(err.msg, "nodeA") &&
               strstr(err.msg, "fail"),
           "%s: %s", tname, err.msg);
    CHECK(resp.data == NULL && resp.len == 0);
    CHECKF(err.remote == VD_EINVAL, "%s: remote code %d", tname, err.remote);
    printf("%s: handler error: %s\n", tname, err.msg);

    /* A handler's code arrives unchanged, told apart from the transport's own codes. */
    CHECK(t->ops->serve(t, "nodeB", "code", h_code, NULL, &err) == 0);
    static const int codes[] = {VD_ENOTFOUND, VD_ETIMEDOUT, VD_ESTATE, VD_ECONN, VD_ENOMEM,
                                VD_ETOOBIG,   VD_EREMOTE,   VD_EIO,    VD_EINVAL};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        char body[16];
        snprintf(body, sizeof body, "%d", codes[i]);
        vd_buf creq = buf_of(body);
        vd_error_clear(&err);
        rc = vd_transport_call(t, "nodeB", "code", &creq, &resp, 2000, &err);
        CHECKF(rc == VD_EREMOTE && err.code == VD_EREMOTE && err.remote == codes[i] &&
                   strstr(err.msg, "on purpose") && strstr(err.msg, "nodeB"),
               "%s: code %d came back as rc %d remote %d: %s", tname, codes[i], rc, err.remote,
               err.msg);
        CHECK(resp.data == NULL);
    }
    /* second-hand: a handler passing on a further node's failure */
    CHECK(t->ops->serve(t, "nodeA", "relay", h_relay, t, &err) == 0);
    vd_buf nf = buf_of("-6");
    rc = vd_transport_call(t, NULL, "relay", &nf, &resp, 3000, &err);
    CHECKF(rc == VD_EREMOTE && err.remote == VD_EREMOTE && strstr(err.msg, "on purpose") &&
               strstr(err.msg, "relay"),
           "%s: relayed: rc %d remote %d %s", tname, rc, err.remote, err.msg);

    /* Nobody serves it. */
    rc = vd_transport_call(t, NULL, "nosuch", &req, &resp, 2000, &err);
    CHECKF(rc == VD_ENOTFOUND && strstr(err.msg, "no node serves 'nosuch'"), "%s: rc %d %s", tname,
           rc, err.msg);
    CHECKF(err.code == VD_ENOTFOUND && err.remote == 0, "%s: a transport failure has remote %d",
           tname, err.remote);
    printf("%s: %s\n", tname, err.msg);
    rc = vd_transport_call(t, "nodeB", "fail", &req, &resp, 2000, &err);
    CHECKF(rc == VD_ENOTFOUND && strstr(err.msg, "node 'nodeB' does not serve 'fail'"),
           "%s: rc %d %s", tname, rc, err.msg);
    rc = vd_transport_call(t, "nodeZ", "echo", &req, &resp, 2000, &err);
    CHECKF(rc == VD_ENOTFOUND && strstr(err.msg, "node 'nodeZ' does not serve 'echo'"),
           "%s: rc %d %s", tname, rc, err.msg);
    /* Bad names: the same code from both transports. */
    rc = vd_transport_call(t, "bad.node", "echo", &req, &resp, 2000, &err);
    CHECKF(rc == VD_EINVAL, "%s: rc %d", tname, rc);
    rc = vd_transport_call(t, "nodeA", "svc..echo", &req, &resp, 2000, &err);
    CHECKF(rc == VD_EINVAL, "%s: rc %d", tname, rc);
    rc = vd_transport_call(t, NULL, "svc.*", &req, &resp, 2000, &err);
    CHECKF(rc == VD_EINVAL, "%s: rc %d", tname, rc);
    rc = vd_transport_call(t, "node A", "echo", &req, &resp, 2000, &err);
    CHECKF(rc == VD_EINVAL, "%s: rc %d", tname, rc);
    CHECKF(t->ops->serve(t, "bad.node", "echo", h_echo, &a, &err) == VD_EINVAL, "%s", tname);
    CHECKF(t->ops->serve(t, "nodeA", "echo.>", h_echo, &a, &err) == VD_EINVAL, "%s", tname);
    /* Serving a service twice on one node. */
    CHECKF(t->ops->serve(t, "nodeA", "echo", h_echo, &a, &err) == VD_EINVAL, "%s", tname);
    {
        vd_buf m = buf_of("x");
        CHECKF(t->ops->publish(t, "vdag.*", &m, &err) == VD_EINVAL, "%s", tname);
        CHECKF(t->ops->publish(t, "vdag..x", &m, &err) == VD_EINVAL, "%s", tname);
        CHECKF(t->ops->subscribe(t, "vdag.>.x", on_msg, NULL, &err) == VD_EINVAL, "%s", tname);
        CHECKF(t->ops->subscribe(t, "", on_msg, NULL, &err) == VD_EINVAL, "%s", tname);
    }

    /* Dotted service names, as the node layer uses them ("svc.face_detection"). */
    CHECKF(t->ops->serve(t, "nodeA", "svc.echo", h_echo, &a, &err) == 0, "%s: %s", tname, err.msg);
    rc = vd_transport_call(t, "nodeA", "svc.echo", &req, &resp, 2000, &err);
    CHECKF(rc == 0 && buf_is(&resp, "nodeA:hello"), "%s: rc %d %s", tname, rc, err.msg);
    vd_buf_free(&resp);
    rc = vd_transport_call(t, NULL, "svc.echo", &req, &resp, 2000, &err);
    CHECKF(rc == 0 && buf_is(&resp, "nodeA:hello"), "%s: rc %d %s", tname, rc, err.msg);
    vd_buf_free(&resp);
    rc = vd_transport_call(t, "nodeB", "svc.echo", &req, &resp, 2000, &err);
    CHECKF(rc == VD_ENOTFOUND, "%s: rc %d %s", tname, rc, err.msg);

    /* Nested call from inside a handler. */
    CHECK(t->ops->serve(t, "nodeA", "outer", h_outer, t, &err) == 0);
    rc = vd_transport_call(t, NULL, "outer", &req, &resp, 3000, &err);
    CHECKF(rc == 0 && resp.len == strlen("outer(nodeX:hello)") &&
               !memcmp(resp.data, "outer(node", 10),
           "%s: rc %d %s", tname, rc, err.msg);
    vd_buf_free(&resp);

    /* Publish / subscribe: exact subject, wildcard, order. */
    static sink exact, wild, other;
    pthread_mutex_init(&exact.mu, NULL);
    pthread_mutex_init(&wild.mu, NULL);
    pthread_mutex_init(&other.mu, NULL);
    exact.n = wild.n = other.n = 0;
    CHECK(t->ops->subscribe(t, "vdag.hb.nodeA", on_msg, &exact, &err) == 0);
    CHECK(t->ops->subscribe(t, "vdag.hb.>", on_msg, &wild, &err) == 0);
    CHECK(t->ops->subscribe(t, "vdag.other", on_msg, &other, &err) == 0);
    enum { N = 100 };
    for (int i = 0; i < N; i++) {
        char body[32];
        snprintf(body, sizeof body, "%d", i);
        vd_buf m = buf_of(body);
        CHECK(t->ops->publish(t, i % 2 ? "vdag.hb.nodeA" : "vdag.hb.nodeB.x", &m, &err) == 0);
    }
    CHECK(wait_count(&wild, N, 5) == N);
    CHECK(wait_count(&exact, N / 2, 5) == N / 2);
    sleep_ms(50);
    CHECK(sink_count(&other) == 0);
    CHECK(sink_count(&exact) == N / 2);
    int ordered = 1;
    for (int i = 0; i < N; i++) {
        char body[32];
        snprintf(body, sizeof body, "%d", i);
        if (strcmp(wild.body[i], body) ||
            strcmp(wild.subj[i], i % 2 ? "vdag.hb.nodeA" : "vdag.hb.nodeB.x"))
            ordered = 0;
    }
    for (int i = 0; i < N / 2; i++) {
        char body[32];
        snprintf(body, sizeof body, "%d", 2 * i + 1);
        if (strcmp(exact.body[i], body)) ordered = 0;
    }
    CHECKF(ordered, "%s: messages out of order", tname);
    vd_buf m = buf_of("x");
    CHECK(t->ops->publish(t, "vdag.hb", &m, &err) == 0); /* '>' needs one more token */
    CHECK(t->ops->publish(t, "vdag.other", &m, &err) == 0);
    CHECK(wait_count(&other, 1, 5) == 1);
    sleep_ms(50);
    CHECK(sink_count(&wild) == N);
}

/* ---- in-process -------------------------------------------------------------------------- */

static void test_inproc(void)
{
    vd_transport *t = NULL;
    vd_error err = {0};
    CHECK(vd_transport_inproc_new(&t, &err) == 0);
    if (!t) return;
    CHECK(!strcmp(t->ops->name, "inproc"));
    common_tests(t, "inproc"); /* bad names and a second serve: VD_EINVAL there */
    vd_buf m = buf_of("x");
    /* Messages still queued at close are delivered, not leaked. */
    static sink late;
    pthread_mutex_init(&late.mu, NULL);
    CHECK(t->ops->subscribe(t, "late.*", on_msg, &late, &err) == 0);
    for (int i = 0; i < 20; i++) CHECK(t->ops->publish(t, "late.x", &m, &err) == 0);
    vd_transport_close(t);
    CHECK(late.n == 20);
}

/* ---- NATS -------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct slow_call {
    vd_transport *t;
    int rc;
} slow_call;

static void *call_slow(void *arg)
{
    slow_call *c = arg;
    vd_buf req = {NULL, 0}, resp = {0};
    vd_error err;
    c->rc = vd_transport_call(c->t, NULL, "slow", &req, &resp, 3000, &err);
    vd_buf_free(&resp);
    return NULL;
}

typedef struct slow_cb {
    atomic_int started, done;
} slow_cb;

static void on_slow_msg(void *arg, const char *subject, const vd_buf *msg)
{
    (void)subject, (void)msg;
    slow_cb *s = arg;
    atomic_store(&s->started, 1);
    sleep_ms(300);
    atomic_store(&s->done, 1);
}

static void test_nats(void)
{
    vd_nats_server *srv = NULL;
    vd_error err = {0};
    int rc = vd_nats_server_start(NULL, &srv, &err);
    CHECKF(rc == 0, "could not start nats-server for the NATS tests: %s", err.msg);
    if (rc) return;
    char url[64];
    snprintf(url, sizeof url, "%s", vd_nats_server_url(srv));
    vd_transport *t = NULL;
    rc = vd_transport_nats_new(url, "test_transport", &t, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (!t) {
        vd_nats_server_stop(srv);
        return;
    }
    CHECK(!strcmp(t->ops->name, "nats"));
    common_tests(t, "nats");

    /* 2 MB round trip (needs max_payload above the 1 MB default). */
    CHECK(t->ops->serve(t, "nodeB", "copy", h_copy, NULL, &err) == 0);
    size_t big = 2 * 1024 * 1024;
    vd_buf req = {malloc(big), big}, resp = {0};
    for (size_t i = 0; i < big; i++) req.data[i] = (unsigned char)(i * 7 + 3);
    rc = vd_transport_call(t, "nodeB", "copy", &req, &resp, 5000, &err);
    CHECKF(rc == 0 && resp.len == big && !memcmp(resp.data, req.data, big), "rc %d %s", rc,
           err.msg);
    vd_buf_free(&resp);
    vd_buf_free(&req);

    /* A slow service does not hold up another one. */
    /* max_payload: a request above it is refused here, a reply above it becomes an error. */
    size_t maxp = 8 * 1024 * 1024;
    req = (vd_buf){calloc(1, maxp + 1), maxp + 1};
    rc = vd_transport_call(t, "nodeB", "copy", &req, &resp, 5000, &err);
    CHECKF(rc == VD_ETOOBIG && strstr(err.msg, "max_payload"), "rc %d %s", rc, err.msg);
    req.len = maxp; /* fits, but the reply has one more byte (the status) */
    rc = vd_transport_call(t, "nodeB", "copy", &req, &resp, 5000, &err);
    CHECKF(rc == VD_EREMOTE && strstr(err.msg, "max_payload"), "rc %d %s", rc, err.msg);
    CHECKF(err.remote == VD_ETOOBIG, "remote %d", err.remote);
    vd_buf_free(&req);

    CHECK(t->ops->serve(t, "nodeA", "slow", h_slow, NULL, &err) == 0);
    slow_call sc = {t, 1};
    pthread_t th;
    pthread_create(&th, NULL, call_slow, &sc);
    sleep_ms(100);
    double t0 = now_s();
    req = buf_of("quick");
    rc = vd_transport_call(t, "nodeA", "echo", &req, &resp, 2000, &err);
    double dt = now_s() - t0;
    CHECKF(rc == 0 && dt < 0.3, "rc %d, %.3f s while a slow handler runs", rc, dt);
    vd_buf_free(&resp);
    pthread_join(th, NULL);
    CHECK(sc.rc == 0);

    /* A timeout. */
    rc = vd_transport_call(t, "nodeA", "slow", &req, &resp, 100, &err);
    CHECKF(rc == VD_ETIMEDOUT && strstr(err.msg, "vdag.node.nodeA.svc.slow"), "rc %d %s", rc,
           err.msg);
    sleep_ms(600); /* let the slow handler finish */

    /* Median round trip of a 60 KB request. */
    CHECK(t->ops->serve(t, "nodeA", "copy", h_copy, NULL, &err) == 0);
    enum { RT = 200 };
    static double rtt[RT];
    req = (vd_buf){calloc(1, 60 * 1024), 60 * 1024};
    int ok = 1;
    for (int i = 0; i < RT; i++) {
        double s0 = now_s();
        rc = vd_transport_call(t, "nodeA", "copy", &req, &resp, 2000, &err);
        rtt[i] = now_s() - s0;
        ok &= rc == 0 && resp.len == req.len;
        vd_buf_free(&resp);
    }
    vd_buf_free(&req);
    CHECK(ok);
    qsort(rtt, RT, sizeof rtt[0], cmp_double);
    printf("nats: 60 KB request/reply on loopback: median %.3f ms, p90 %.3f ms (%d calls)\n",
           rtt[RT / 2] * 1e3, rtt[RT * 9 / 10] * 1e3, RT);

    /* Server restart: the same transport reconnects and re-subscribes. */
    static sink after;
    pthread_mutex_init(&after.mu, NULL);
    CHECK(t->ops->subscribe(t, "vdag.restart.>", on_msg, &after, &err) == 0);
    vd_nats_server_kill(srv);
    double end = now_s() + 5;
    while (t->ops->connected(t) && now_s() < end) sleep_ms(10);
    CHECK(!t->ops->connected(t));
    req = buf_of("down");
    rc = vd_transport_call(t, "nodeA", "echo", &req, &resp, 300, &err);
    CHECKF(rc == VD_ECONN, "rc %d %s", rc, err.msg);
    printf("nats: while the server is down: %s\n", err.msg);
    vd_buf during = buf_of("during");
    CHECK(t->ops->publish(t, "vdag.restart.d", &during, &err) == 0); /* buffered */
    CHECKF(vd_nats_server_restart(srv, &err) == 0, "%s", err.msg);
    t0 = now_s();
    end = t0 + 10;
    req = buf_of("back");
    do {
        rc = vd_transport_call(t, "nodeA", "echo", &req, &resp, 500, &err);
        if (rc) sleep_ms(50);
    } while (rc && now_s() < end);
    printf("nats: call succeeded again %.2f s after the server restarted\n", now_s() - t0);
    CHECKF(rc == 0 && buf_is(&resp, "nodeA:back"), "rc %d %s", rc, err.msg);
    CHECK(now_s() - t0 < 5);
    vd_buf_free(&resp);
    CHECK(t->ops->connected(t));
    vd_buf m = buf_of("after");
    CHECK(t->ops->publish(t, "vdag.restart.x", &m, &err) == 0);
    CHECK(wait_count(&after, 2, 5) == 2);
    CHECKF(!strcmp(after.body[0], "during") && !strcmp(after.body[1], "after"), "got %s, %s",
           after.body[0], after.body[1]);
    sink_reset(&after);

    /* A second transport (another process's role) sees the first one's services. */
    vd_transport *t2 = NULL;
    CHECK(vd_transport_nats_new(url, "test_transport_2", &t2, &err) == 0);
    if (t2) {
        req = buf_of("x");
        rc = vd_transport_call(t2, "nodeB", "echo", &req, &resp, 2000, &err);
        CHECKF(rc == 0 && buf_is(&resp, "nodeB:x"), "rc %d %s", rc, err.msg);
        vd_buf_free(&resp);
        CHECK(t2->ops->publish(t2, "vdag.restart.y", &m, &err) == 0);
        CHECK(wait_count(&after, 1, 5) == 1);
        vd_transport_close(t2);
    }
    vd_transport_close(t);

    /* Close waits for a subscription callback in flight: none runs after close returns. */
    t = NULL;
    CHECK(vd_transport_nats_new(url, "slow_cb", &t, &err) == 0);
    if (t) {
        static slow_cb scb;
        CHECK(t->ops->subscribe(t, "vdag.slowcb", on_slow_msg, &scb, &err) == 0);
        CHECK(t->ops->publish(t, "vdag.slowcb", &m, &err) == 0);
        double end2 = now_s() + 5;
        while (!atomic_load(&scb.started) && now_s() < end2) sleep_ms(5);
        CHECK(atomic_load(&scb.started));
        vd_transport_close(t);
        CHECKF(atomic_load(&scb.done), "vd_transport_close returned while a callback ran");
    }

    /* A transport can start before its server: it connects when the server comes up. */
    vd_nats_server_kill(srv);
    t = NULL;
    CHECK(vd_transport_nats_new(url, "early", &t, &err) == 0);
    if (t) {
        CHECK(!t->ops->connected(t));
        static node_ctx c = {"nodeC", 0};
        CHECK(t->ops->serve(t, "nodeC", "echo", h_echo, &c, &err) == 0);
        CHECKF(vd_nats_server_restart(srv, &err) == 0, "%s", err.msg);
        end = now_s() + 5;
        req = buf_of("early");
        do {
            rc = vd_transport_call(t, "nodeC", "echo", &req, &resp, 500, &err);
            if (rc) sleep_ms(50);
        } while (rc && now_s() < end);
        CHECKF(rc == 0 && buf_is(&resp, "nodeC:early"), "rc %d %s", rc, err.msg);
        vd_buf_free(&resp);
        vd_transport_close(t);
    }
    /* Closing while the server is down does not hang. */
    t = NULL;
    CHECK(vd_transport_nats_new(url, "closing", &t, &err) == 0);
    vd_nats_server_kill(srv);
    if (t) {
        static node_ctx d = {"nodeD", 0};
        CHECK(t->ops->serve(t, "nodeD", "echo", h_echo, &d, &err) == 0);
        t0 = now_s();
        vd_transport_close(t);
        CHECK(now_s() - t0 < 3);
    }
    /* The helper removes its temp directory (config, log, JetStream store) on stop. */
    char dir[300];
    snprintf(dir, sizeof dir, "%s", vd_nats_server_log(srv));
    *strrchr(dir, '/') = 0;
    CHECK(access(dir, F_OK) == 0);
    vd_nats_server_stop(srv);
    CHECKF(access(dir, F_OK) != 0, "%s still exists", dir);
}

/* vd_strerror names every code error.h declares: the names messages show for a code. */
static void test_strerror(void)
{
    static const struct {
        int code;
        const char *name;
    } names[] = {{VD_OK, "VD_OK"},
                 {VD_EINVAL, "VD_EINVAL"},
                 {VD_ENOMEM, "VD_ENOMEM"},
                 {VD_EIO, "VD_EIO"},
                 {VD_EFORMAT, "VD_EFORMAT"},
                 {VD_EUNSUPP, "VD_EUNSUPP"},
                 {VD_ENOTFOUND, "VD_ENOTFOUND"},
                 {VD_ESHAPE, "VD_ESHAPE"},
                 {VD_EBACKEND, "VD_EBACKEND"},
                 {VD_ETIMEDOUT, "VD_ETIMEDOUT"},
                 {VD_EEOF, "VD_EEOF"},
                 {VD_EBUSY, "VD_EBUSY"},
                 {VD_ESTATE, "VD_ESTATE"},
                 {VD_EAUTH, "VD_EAUTH"},
                 {VD_ETOOBIG, "VD_ETOOBIG"},
                 {VD_ECONN, "VD_ECONN"},
                 {VD_EREMOTE, "VD_EREMOTE"},
                 {VD_EALREADY, "VD_EALREADY"}};
    int n = (int)(sizeof names / sizeof *names);
    CHECK(n == 1 - VD_ELAST);
    for (int i = 0; i < n; i++)
        CHECKF(!strcmp(vd_strerror(names[i].code), names[i].name), "%d: %s", names[i].code,
               vd_strerror(names[i].code));
    CHECK(strstr(vd_strerror(VD_ELAST - 1), "not a vdag error code"));
    CHECK(strstr(vd_strerror(1), "not a vdag error code"));
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    test_strerror();
    test_inproc();
    test_nats();
    nats_CloseAndWait(5000);
    return vt_finish();
}
