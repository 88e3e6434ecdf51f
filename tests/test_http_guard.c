/* The HTTP server's guard and policy: malformed request heads get JSON errors (never
 * libmicrohttpd's HTML), control bytes in targets, CORS and Origin checks, body types,
 * signed URLs, a never-ending chunked body, and an attack: 2,000 idle sockets, slowloris
 * heads and trickled bodies at once, during which a fresh client's /healthz must always be
 * answered (bounded: ~15 s). Attackers are 127.0.0.1/.3/.4, the fresh client 127.0.0.2. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "vdag/net.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int h_ok(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    (void)arg;
    vd_http_json(resp, 200, json_pack("{s:i,s:I}", "status", 0, "len", (json_int_t)req->body_len));
    return 0;
}

static const vd_http_route routes[] = {
    {"GET", "/healthz", h_ok, NULL},
    {"POST", "/echo", h_ok, NULL},
    {"GET", "/video/", h_ok, NULL},
};
#define N_ROUTES ((int)(sizeof routes / sizeof routes[0]))

static int port;

/* A connection from src (e.g. "127.0.0.2"); nonblock: connect without waiting. */
static int conn_from(const char *src, int nonblock)
{
    int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &a.sin_addr);
    struct sockaddr_in d = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    d.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        (connect(fd, (struct sockaddr *)&d, sizeof d) != 0 && errno != EINPROGRESS)) {
        close(fd);
        return -1;
    }
    if (!nonblock) {
        struct timeval tv = {.tv_sec = 3};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    return fd;
}

/* Send a request from src and read the reply until the server closes (or 3 s). */
static char *exchange(const char *src, const void *data, size_t n)
{
    int fd = conn_from(src, 0);
    if (fd < 0) return NULL;
    for (size_t off = 0; off < n;) {
        ssize_t w = send(fd, (const char *)data + off, n - off, MSG_NOSIGNAL);
        if (w <= 0) break;
        off += (size_t)w;
    }
    char *out = calloc(1, 65536);
    size_t got = 0;
    for (ssize_t r; got < 65535 && (r = recv(fd, out + got, 65535 - got, 0)) > 0;) got += (size_t)r;
    close(fd);
    return out;
}

/* The reply is a JSON error of that HTTP status: {"status": non-zero, "msg"}. */
static int json_error(const char *out, int http_status)
{
    char want[32];
    snprintf(want, sizeof want, "HTTP/1.1 %d ", http_status);
    if (!out || strncmp(out, want, strlen(want)) || !strstr(out, "Content-Type: application/json"))
        return 0;
    const char *b = strstr(out, "\r\n\r\n");
    json_t *j = b ? json_loads(b + 4, 0, NULL) : NULL;
    int ok = json_integer_value(json_object_get(j, "status")) != 0 &&
             json_is_string(json_object_get(j, "msg"));
    json_decref(j);
    return ok;
}

/* ---- malformed heads ------------------------------------------------------------------ */

static void test_heads(void)
{
    static const struct {
        const char *req;
        int status;
    } cases[] = {
        {"GARBAGE\r\n\r\n", 400},
        {"GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505},
        {"GET /healthz HTTP/1.1\r\n\r\n", 400}, /* no Host */
        {"GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
        {"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400},
        {"GET /healthz HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400},
        {"GET /healthz HTTP/1.1\r\nHost: x\r\nX: a\x01"
         "b\r\n\r\n",
         400},
        {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: "
         "chunked\r\n\r\n",
         400},
        {"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
        {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
        {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400},
        {"GET /video/a%00b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"GET /video/a%0ab HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"GET /video/a%7Fb HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"GET /video/ok?x=%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"GET /video/a%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"GET http://x/healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"GET /vid\x7f"
         "eo HTTP/1.1\r\nHost: x\r\n\r\n",
         400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *out = exchange("127.0.0.1", cases[i].req, strlen(cases[i].req));
        CHECKF(json_error(out, cases[i].status), "%s -> %.120s", cases[i].req, out ? out : "");
        free(out);
    }
    /* too long: the target (414), the head (431), too many headers (431) */
    char *big = malloc(64 * 1024);
    int n = snprintf(big, 64, "GET /video/");
    memset(big + n, 'a', 9000);
    n += 9000;
    n += snprintf(big + n, 64, " HTTP/1.1\r\nHost: x\r\n\r\n");
    char *out = exchange("127.0.0.1", big, (size_t)n);
    CHECKF(json_error(out, 414), "%.80s", out ? out : "");
    free(out);
    n = snprintf(big, 64, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(big + n, 'a', 40 * 1024);
    n += 40 * 1024;
    n += snprintf(big + n, 64, "\r\n\r\n");
    out = exchange("127.0.0.1", big, (size_t)n);
    CHECKF(json_error(out, 431), "%.80s", out ? out : "");
    free(out);
    n = snprintf(big, 64, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 120; i++) n += snprintf(big + n, 64, "X-%d: 1\r\n", i);
    n += snprintf(big + n, 8, "\r\n");
    out = exchange("127.0.0.1", big, (size_t)n);
    CHECKF(json_error(out, 431), "%.80s", out ? out : "");
    free(out);
    free(big);
    /* a later request on a kept-alive connection is checked too */
    const char *two = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /video/a%00b HTTP/1.1\r\nHost: x\r\n\r\n";
    out = exchange("127.0.0.1", two, strlen(two));
    const char *second = out ? strstr(out + 1, "HTTP/1.1 ") : NULL;
    CHECKF(out && !strncmp(out, "HTTP/1.1 200", 12) && json_error(second, 400), "%s",
           out ? out : "");
    free(out);
    /* part of a head, then the client shuts its side: a 400 at once, not at the deadline
     * (the fuzzer's one-byte input, tests/fuzz/http/half-closed-1-byte) */
    static const char *partial[] = {"\xc4", "GET /healthz HTTP/1.1\r\nHost: x\r\n"};
    for (int i = 0; i < 2; i++) {
        int fd = conn_from("127.0.0.1", 0);
        CHECK(fd >= 0);
        CHECK(send(fd, partial[i], strlen(partial[i]), MSG_NOSIGNAL) > 0);
        shutdown(fd, SHUT_WR);
        char *r = calloc(1, 4096);
        size_t got = 0; /* SO_RCVTIMEO 3 s: a reply held to the 10 s deadline reads empty */
        for (ssize_t k; got < 4095 && (k = recv(fd, r + got, 4095 - got, 0)) > 0;) got += (size_t)k;
        close(fd);
        CHECKF(json_error(r, 400), "partial head %d -> %.120s", i, r);
        free(r);
    }
    /* a good request still works, and gets no CORS header by default */
    const char *good = "GET /healthz HTTP/1.1\r\nHost: x\r\nOrigin: http://a.example\r\n"
                       "Connection: close\r\n\r\n";
    out = exchange("127.0.0.1", good, strlen(good));
    CHECKF(out && !strncmp(out, "HTTP/1.1 200", 12) && !strstr(out, "Access-Control"), "%s",
           out ? out : "");
    free(out);
}

/* A chunked body that does not end: a 413 JSON reply (not a reset) once past the limit. */
static void test_endless_chunked(void)
{
    int fd = conn_from("127.0.0.1", 0);
    CHECK(fd >= 0);
    if (fd < 0) return;
    const char *h = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n";
    send(fd, h, strlen(h), MSG_NOSIGNAL);
    static char chunk[65536 + 16];
    int hl = snprintf(chunk, 16, "10000\r\n");
    memset(chunk + hl, 'x', 65536);
    memcpy(chunk + hl + 65536, "\r\n", 2);
    size_t cl = (size_t)hl + 65536 + 2, sent = 0;
    char out[4096] = "";
    double t0 = now_s();
    while (now_s() - t0 < 20 && sent < ((size_t)200 << 20)) {
        struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
        if (poll(&p, 1, 1000) <= 0) continue;
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) break;
        ssize_t w = send(fd, chunk, cl, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno != EAGAIN) break;
        if (w > 0) sent += (size_t)w;
    }
    ssize_t r = recv(fd, out, sizeof out - 1, 0);
    if (r > 0) out[r] = 0;
    close(fd);
    CHECKF(json_error(out, 413), "after %zu MiB: %.100s", sent >> 20, out);
    printf("endless chunked body: 413 JSON after %zu MiB\n", sent >> 20);
}

/* ---- CORS, origins, body types, tokens, signed URLs --------------------------------------- */

static long req(const char *method, const char *path, const char *hdrs, const char *body,
                char **out_p)
{
    char rq[4096];
    int n =
        snprintf(rq, sizeof rq, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s%s%zu\r\n\r\n%s", method,
                 path, port, hdrs, "Connection: close\r\nContent-Length: ", body ? strlen(body) : 0,
                 body ? body : "");
    char *out = exchange("127.0.0.1", rq, (size_t)n);
    long st = out && !strncmp(out, "HTTP/1.1 ", 9) ? strtol(out + 9, NULL, 10) : 0;
    if (out_p)
        *out_p = out;
    else
        free(out);
    return st;
}

static void test_policy(void)
{
    vd_http_opts o = {.token = "tok",
                      .cors = "http://front.example",
                      .max_body = 1024,
                      .routes = routes,
                      .n_routes = N_ROUTES};
    vd_http_server *s = NULL;
    vd_error err = {0};
    CHECK(vd_http_server_start(&o, &s, &err) == 0);
    if (!s) return;
    port = vd_http_server_port(s);
    const char *A = "Authorization: Bearer tok\r\n", *J = "Content-Type: application/json\r\n";
    char h[512], *out;
    /* preflight: the allowed origin, without a token; another origin 403 */
    long st = req("OPTIONS", "/echo",
                  "Origin: http://front.example\r\nAccess-Control-Request-Method: POST\r\n"
                  "Access-Control-Request-Headers: authorization, content-type\r\n",
                  NULL, &out);
    CHECKF(st == 204 && strstr(out, "Access-Control-Allow-Origin: http://front.example") &&
               strstr(out, "Access-Control-Allow-Methods: GET, POST") &&
               strstr(out, "Access-Control-Allow-Headers: Authorization, Content-Type"),
           "%s", out);
    free(out);
    st = req("OPTIONS", "/echo",
             "Origin: http://evil.example\r\nAccess-Control-Request-Method: POST\r\n", NULL, &out);
    CHECKF(st == 403 && json_error(out, 403) && !strstr(out, "Access-Control-Allow-Origin"), "%s",
           out);
    free(out);
    /* a plain OPTIONS needs the token, then lists the methods */
    CHECK(req("OPTIONS", "/echo", "", NULL, NULL) == 401);
    st = req("OPTIONS", "/echo", A, NULL, &out);
    CHECKF(st == 204 && strstr(out, "Allow: POST, OPTIONS"), "%s", out);
    free(out);
    /* CORS headers only for the allowed origin */
    snprintf(h, sizeof h, "%sOrigin: http://front.example\r\n", A);
    CHECK(req("GET", "/healthz", h, NULL, &out) == 200);
    CHECK(out && strstr(out, "Access-Control-Allow-Origin: http://front.example"));
    free(out);
    snprintf(h, sizeof h, "%sOrigin: http://evil.example\r\n", A);
    CHECK(req("GET", "/healthz", h, NULL, &out) == 200);
    CHECK(out && !strstr(out, "Access-Control-Allow-Origin"));
    free(out);
    /* Origin on a POST: another site 403 (before the token: the page has none anyway) */
    snprintf(h, sizeof h, "%s%sOrigin: http://evil.example\r\n", A, J);
    CHECK(req("POST", "/echo", h, "{}", &out) == 403 && json_error(out, 403));
    free(out);
    snprintf(h, sizeof h, "%s%sOrigin: http://front.example\r\n", A, J);
    CHECK(req("POST", "/echo", h, "{}", NULL) == 200);
    snprintf(h, sizeof h, "%s%sOrigin: http://127.0.0.1:%d\r\n", A, J, port); /* same origin */
    CHECK(req("POST", "/echo", h, "{}", NULL) == 200);
    /* body types: only JSON (and JPEG); none or text/plain or a form 415 */
    snprintf(h, sizeof h, "%sContent-Type: text/plain\r\n", A);
    CHECK(req("POST", "/echo", h, "{}", &out) == 415 && json_error(out, 415));
    free(out);
    snprintf(h, sizeof h, "%sContent-Type: application/x-www-form-urlencoded\r\n", A);
    CHECK(req("POST", "/echo", h, "{}", NULL) == 415);
    CHECK(req("POST", "/echo", A, "{}", NULL) == 415);
    snprintf(h, sizeof h, "%sContent-Type: application/json; charset=utf-8\r\n", A);
    CHECK(req("POST", "/echo", h, "{}", NULL) == 200);
    snprintf(h, sizeof h, "%sContent-Type: image/jpeg\r\n", A);
    CHECK(req("POST", "/echo", h, "xx", NULL) == 200);
    CHECK(req("POST", "/echo", A, NULL, NULL) == 200); /* no body, no type needed */
    /* the token before routing; /healthz open for GET only */
    CHECK(req("GET", "/nowhere", "", NULL, &out) == 401 && json_error(out, 401));
    free(out);
    CHECK(req("GET", "/nowhere", A, NULL, NULL) == 404);
    CHECK(req("GET", "/healthz", "", NULL, NULL) == 200);
    snprintf(h, sizeof h, "%s", J);
    CHECK(req("POST", "/healthz", h, "{}", NULL) == 401);
    /* signed URLs */
    CHECK(req("GET", "/auth/sign_url?path=/video/j1", "", NULL, NULL) == 401);
    st = req("GET", "/auth/sign_url?path=/video/j1&ttl=60", A, NULL, &out);
    const char *b = out ? strstr(out, "\r\n\r\n") : NULL;
    json_t *j = b ? json_loads(b + 4, 0, NULL) : NULL;
    const char *u = json_string_value(json_object_get(j, "url"));
    CHECKF(st == 200 && u && !strncmp(u, "/video/j1?exp=", 14) &&
               json_integer_value(json_object_get(j, "expires")) > time(NULL) + 50,
           "%s", out);
    if (u) {
        CHECK(req("GET", u, "", NULL, NULL) == 200);
        CHECK(req("HEAD", u, "", NULL, NULL) == 200);
        char bad[512];
        snprintf(bad, sizeof bad, "%s", u);
        bad[strlen(bad) - 1] ^= 1; /* one hex digit off */
        CHECK(req("GET", bad, "", NULL, NULL) == 401);
        snprintf(bad, sizeof bad, "/video/j2%s", strchr(u, '?')); /* another path */
        CHECK(req("GET", bad, "", NULL, NULL) == 401);
        snprintf(bad, sizeof bad, "/echo%s", strchr(u, '?')); /* a POST cannot use one */
        CHECK(req("POST", bad, J, "{}", NULL) == 401);
    }
    json_decref(j);
    free(out);
    st = req("GET", "/auth/sign_url?path=/video/j1&ttl=1", A, NULL, &out);
    b = out ? strstr(out, "\r\n\r\n") : NULL;
    j = b ? json_loads(b + 4, 0, NULL) : NULL;
    u = json_string_value(json_object_get(j, "url"));
    if (u) {
        sleep(2);
        CHECK(req("GET", u, "", NULL, NULL) == 401); /* expired */
    }
    json_decref(j);
    free(out);
    CHECK(req("GET", "/auth/sign_url?path=/video/j1&ttl=0", A, NULL, NULL) == 400);
    CHECK(req("GET", "/auth/sign_url?path=/video/j1&ttl=99999999", A, NULL, NULL) == 400);
    CHECK(req("GET", "/auth/sign_url?path=video", A, NULL, NULL) == 400);
    vd_http_server_stop(s);
}

/* ---- the attack ---------------------------------------------------------------------------- */

/* Whether fd was closed by the server; *got_status gets the status of a reply read. */
static int closed(int fd, int *got_status)
{
    char buf[512];
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
        if (r > 0) {
            buf[r] = 0;
            if (!strncmp(buf, "HTTP/1.1 ", 9)) *got_status = atoi(buf + 9);
            continue;
        }
        return r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
    }
}

static int fresh_healthz(double *ms)
{
    double t0 = now_s();
    const char *rq = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char *out = exchange("127.0.0.2", rq, strlen(rq));
    int ok = out && !strncmp(out, "HTTP/1.1 200", 12);
    free(out);
    *ms = (now_s() - t0) * 1e3;
    return ok;
}

static void test_attack(void)
{
    struct rlimit r;
    getrlimit(RLIMIT_NOFILE, &r);
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
    enum { IDLE = 2000, LORIS = 40, TRICKLE = 40 };
    if (r.rlim_cur < IDLE + LORIS + TRICKLE + 600) {
        printf("skip the attack: only %ld descriptors\n", (long)r.rlim_cur);
        return;
    }
    vd_http_opts o = {.routes = routes, .n_routes = N_ROUTES};
    vd_http_server *s = NULL;
    vd_error err = {0};
    CHECK(vd_http_server_start(&o, &s, &err) == 0);
    if (!s) return;
    port = vd_http_server_port(s);
    static int idle[IDLE], loris[LORIS], trickle[TRICKLE];
    static double loris_end[LORIS];
    int n_idle = 0;
    for (int i = 0; i < IDLE; i++)
        if ((idle[i] = conn_from("127.0.0.1", 1)) >= 0) n_idle++;
    const char *head = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: 100000\r\n\r\n";
    for (int i = 0; i < LORIS; i++) {
        loris[i] = conn_from("127.0.0.3", 0);
        loris_end[i] = 0;
        if (loris[i] >= 0) send(loris[i], "GET /healthz HTTP/1.1\r\n", 23, MSG_NOSIGNAL);
        trickle[i] = conn_from("127.0.0.4", 0);
        if (trickle[i] >= 0) send(trickle[i], head, strlen(head), MSG_NOSIGNAL);
    }
    double t0 = now_s(), next_drip = t0 + 1, worst = 0, sum = 0;
    int tries = 0, ok = 0, loris_408 = 0;
    while (now_s() - t0 < 14) {
        double ms;
        tries++;
        ok += fresh_healthz(&ms);
        sum += ms;
        if (ms > worst) worst = ms;
        if (now_s() >= next_drip) { /* a header line, a body byte, every second */
            for (int i = 0; i < LORIS; i++) {
                int st = 0;
                if (loris[i] >= 0 && !loris_end[i] && closed(loris[i], &st)) {
                    loris_end[i] = now_s() - t0;
                    loris_408 += st == 408;
                }
                if (loris[i] >= 0 && !loris_end[i])
                    send(loris[i], "X-a: b\r\n", 8, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (trickle[i] >= 0) send(trickle[i], "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            }
            next_drip += 1;
        }
        usleep(100 * 1000);
    }
    /* idle sockets: a connect beyond the listen backlog is accepted late (the kernel retries
     * the handshake), and its 10 s then start: every one must be closed within 25 s */
    int idle_closed = 0, idle_503 = 0, loris_closed = 0, trickle_closed = 0;
    static char idle_done[IDLE];
    double loris_last = 0, idle_last = 0;
    while (idle_closed < n_idle && now_s() - t0 < 25) {
        for (int i = 0; i < IDLE; i++) {
            int st = 0;
            if (idle[i] < 0 || idle_done[i] || !closed(idle[i], &st)) continue;
            idle_done[i] = 1, idle_closed++, idle_503 += st == 503;
            idle_last = now_s() - t0;
        }
        if (idle_closed < n_idle) usleep(100 * 1000);
    }
    for (int i = 0; i < LORIS; i++) {
        int st = 0;
        if (loris[i] >= 0 && !loris_end[i] && closed(loris[i], &st)) {
            loris_end[i] = now_s() - t0;
            loris_408 += st == 408;
        }
        if (loris_end[i]) loris_closed++;
        if (loris_end[i] > loris_last) loris_last = loris_end[i];
        int ts = 0;
        if (trickle[i] >= 0 && closed(trickle[i], &ts)) trickle_closed++;
    }
    printf("attack: %d idle sockets (%d closed by %.1f s, %d of them with a 503 at once), %d "
           "slowloris (%d closed by %.1f s, %d with a 408), %d trickled bodies (%d closed)\n",
           n_idle, idle_closed, idle_last, idle_503, LORIS, loris_closed, loris_last, loris_408,
           TRICKLE, trickle_closed);
    printf("fresh client /healthz during the attack: %d/%d ok (%.1f%%), mean %.1f ms, worst %.1f "
           "ms\n",
           ok, tries, 100.0 * ok / (tries ? tries : 1), sum / (tries ? tries : 1), worst);
    CHECKF(ok == tries, "fresh /healthz: %d of %d", ok, tries);
    CHECK(n_idle == IDLE && idle_closed == IDLE);
    CHECK(loris_closed == LORIS && loris_last < 13 && loris_408 >= 16);
    CHECK(trickle_closed == TRICKLE);
    for (int i = 0; i < IDLE; i++)
        if (idle[i] >= 0) close(idle[i]);
    for (int i = 0; i < LORIS; i++) {
        if (loris[i] >= 0) close(loris[i]);
        if (trickle[i] >= 0) close(trickle[i]);
    }
    double ms;
    CHECK(fresh_healthz(&ms)); /* and after */
    vd_http_server_stop(s);
}

int main(void)
{
    vd_http_opts o = {.max_body = 1024, .routes = routes, .n_routes = N_ROUTES};
    vd_http_server *s = NULL;
    vd_error err = {0};
    CHECK(vd_http_server_start(&o, &s, &err) == 0);
    if (!s) return vt_finish();
    port = vd_http_server_port(s);
    test_heads();
    test_endless_chunked();
    vd_http_server_stop(s);
    test_policy();
    test_attack();
    return vt_finish();
}
