/*
 * Fuzz: the bodies (and path tails) of every HTTP route, each handler called directly as the
 * server would call it. Input: byte 0 picks the route, then the path tail up to the first
 * '\n' (for routes that take one), then the body. Every reply that is not a stream must be a
 * JSON object (errors {"status", "msg"}; the seed's bare objects for its /query/ routes).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "world.h"

static vd_http_route routes[96];
static int n_routes;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    n_routes = fz_world(routes, 96);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const vd_http_route *r = &routes[data[0] % n_routes];
    if (r->fn == vd_http_sink_route) return 0; /* a streamed body: fuzz_http sends those */
    const char *rest = (const char *)data + 1;
    size_t rl = size - 1;
    const char *nl = memchr(rest, '\n', rl);
    size_t tl = nl ? (size_t)(nl - rest) : 0;
    size_t plen = strlen(r->path);
    int prefix = r->path[plen - 1] == '/';
    char *path = malloc(plen + tl + 1);
    unsigned char *body = malloc(rl + 1);
    if (!path || !body) abort();
    memcpy(path, r->path, plen);
    memcpy(path + plen, rest, prefix ? tl : 0);
    path[plen + (prefix ? tl : 0)] = 0;
    if (memchr(path, 0, plen + (prefix ? tl : 0))) { /* a NUL in the URL: no server passes it */
        free(path);
        free(body);
        return 0;
    }
    size_t bo = nl ? tl + 1 : 0;
    memcpy(body, rest + bo, rl - bo);
    body[rl - bo] = 0;
    vd_http_req q = {
        .method = r->method, .path = path, .tail = path + plen, .body = body, .body_len = rl - bo};
    vd_http_resp resp = {0};
    r->fn(r->arg, &q, &resp);
    if (resp.stream) {
        char buf[4096];
        for (int k = 0; k < 3 && resp.stream(resp.stream_arg, buf, sizeof buf) > 0; k++) {
        }
        if (resp.stream_free) resp.stream_free(resp.stream_arg);
    } else if (resp.body) {
        json_t *j = json_loadb(resp.body, resp.len, 0, NULL);
        if (!json_is_object(j)) abort();
        json_decref(j);
    }
    free(resp.body);
    free(path);
    free(body);
    return 0;
}
