/*
 * Fuzz: the HTTP request path end to end. Each input is the raw bytes of a request (request
 * line, headers, body) sent over a TCP connection to a live vd_http_server serving every
 * route of pseudo mode with a bearer token ("fuzz") and one CORS origin
 * (http://fuzz.example: preflights answered); the reply is read until the server
 * closes or 2 s pass. The server must answer and stay up: each input ends by checking that
 * /healthz still answers.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "world.h"

static vd_http_route routes[96];
static vd_http_server *srv;
static int port;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    int n = fz_world(routes, 96);
    vd_http_opts ho = {.host = "127.0.0.1",
                       .port = 0,
                       .token = "fuzz",
                       .cors = "http://fuzz.example",
                       .max_body = 1 << 20,
                       .routes = routes,
                       .n_routes = n};
    vd_error err = {0};
    if (vd_http_server_start(&ho, &srv, &err)) abort();
    port = vd_http_server_port(srv);
    return 0;
}

/* Send req, read the reply into buf (NUL-terminated) until the server closes or is silent
 * for wait_ms; returns its length, -1 when the connection failed. */
static long exchange(const uint8_t *req, size_t n, char *buf, size_t cap, int wait_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        close(fd);
        return -1;
    }
    for (size_t off = 0; off < n;) {
        ssize_t w = send(fd, req + off, n - off, MSG_NOSIGNAL);
        if (w <= 0) break; /* the server may close early (a bad request): fine */
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    size_t got = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, wait_ms) != 1) break;
        ssize_t r = recv(fd, buf + got, cap - 1 - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
        if (got == cap - 1) got = 0; /* keep reading, keep the tail */
    }
    buf[got] = 0;
    close(fd);
    return (long)got;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char buf[1 << 16];
    exchange(data, size, buf, sizeof buf, 2000);
    static const char hz[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    /* 20 s: a server starved of CPU (a long run at nice 19 on a loaded machine) is slow,
     * not dead; one that never answers is */
    long n = exchange((const uint8_t *)hz, sizeof hz - 1, buf, sizeof buf, 20000);
    if (n <= 0 || !strstr(buf, "200 OK")) abort(); /* the server must still answer */
    return 0;
}
