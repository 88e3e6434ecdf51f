/*
 * The nodes the HTTP fuzz harnesses talk to: pseudo mode's roles (a cloud with its service
 * host, an edge "edge" with its own) on the in-process transport, their routes in one table
 * as `vdag run` serves them, with the cloud's batch routes (/videos: an in-process queue, no
 * workers, uploads of at most 1 MB under /tmp/vdag-fuzz-batch-<pid>). The edge has no videos,
 * so no input starts a job thread unless it first adds one that opens (POST /node/video probes
 * it: the corpus adds none). Set up once per process, never torn down (the fuzzer's
 * process ends with it).
 */
#ifndef VDAG_FUZZ_WORLD_H
#define VDAG_FUZZ_WORLD_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "vdag/batch.h"
#include "vdag/net.h"
#include "vdag/node.h"
#include "vdag/queue.h"

static int fz_healthz(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    (void)arg, (void)req;
    vd_http_json(resp, 200, json_pack("{s:i}", "status", 0));
    return 0;
}

static char fz_dir[64]; /* the batch uploads' directory, removed at exit */

static int fz_rm(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(p);
    return 0;
}

static void fz_cleanup(void)
{
    if (fz_dir[0]) nftw(fz_dir, fz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* Fill routes (cap entries) with every route of the roles; returns the count. */
static int fz_world(vd_http_route *routes, int cap)
{
    static vd_transport *tr;
    static vd_svchost *he, *hc;
    static vd_edge *edge;
    static vd_cloud *cloud;
    static vd_queue *q;
    static vd_batch *b;
    static char blobs[80];
    char *dir = fz_dir;
    vd_error err = {0};
    vd_node_opts o = {.name = "edge",
                      .addr = "127.0.0.1:5000",
                      .threads = 1,
                      .replan_s = 1000,
                      .drop_s = 1000,
                      .kb_path = "/nonexistent/vdag-fuzz-kb.json"};
    if (vd_transport_inproc_new(&tr, &err)) goto fail;
    o.tr = tr;
    if (vd_svchost_start(&o, &he, &err) || vd_edge_start(&o, he, &edge, &err)) goto fail;
    o.name = "cloud";
    if (vd_svchost_start(&o, &hc, &err) || vd_cloud_start(&o, hc, &cloud, &err)) goto fail;
    for (int i = 0; i < 300 && !vd_cloud_has_node(cloud, "edge"); i++) usleep(10000);
    snprintf(fz_dir, sizeof fz_dir, "/tmp/vdag-fuzz-batch-%d", (int)getpid());
    atexit(fz_cleanup);
    snprintf(blobs, sizeof blobs, "%s/blobs", dir);
    vd_queue_opts qo = {.name = "fuzz", .dir = blobs};
    vd_batch_opts bo = {.data_dir = dir, .max_upload = 1 << 20};
    if (vd_queue_inproc_new(&qo, &q, &err) || ((bo.q = q), vd_batch_new(&bo, &b, &err))) goto fail;
    int n = vd_cloud_routes(cloud, routes, cap);
    n += vd_edge_routes(edge, routes + n, cap - n);
    n += vd_svchost_routes(he, routes + n, cap - n);
    n += vd_batch_routes(b, routes + n, cap - n);
    if (n < cap) routes[n++] = (vd_http_route){"GET", "/healthz", fz_healthz, NULL};
    return n;
fail:
    fprintf(stderr, "fuzz world: %s\n", err.msg);
    abort();
}

#endif
