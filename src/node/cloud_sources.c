/*
 * Sources at run time through the cloud: POST /node/video {node?, video_id, url, …} and
 * DELETE /node/video/<id>?node=E, sent to the edge named over the transport
 * (node.add_video, node.remove_video: proto.h); the edge's code decides the HTTP status.
 * The node's video list the cloud keeps from heartbeats takes the edge's answer at once, so
 * a job on a video just added can be submitted right after. Handlers run on the HTTP
 * server's threads: c->mu for the node table, no lock during the call.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud_internal.h"
#include "vdag/base.h"

/* The edge a request names (lock held): by name or address; none given, the only edge
 * (that has video `has`, when given). */
static int pick_edge(vd_cloud *c, const char *given, const char *has, char out[64], vd_error *err)
{
    if (given) {
        node_ent *n = vd__cloud_resolve(c, given, "edge", NULL, err);
        if (!n) return err->code;
        if (n->self || strcmp(n->role, "edge"))
            return vd_fail(err, VD_EINVAL, "node: %s is the cloud; sources are an edge's", n->name);
        snprintf(out, 64, "%s", n->name);
        return 0;
    }
    char names[256] = "";
    size_t off = 0;
    int found = 0;
    for (int i = 0; i < c->n_nodes; i++) {
        node_ent *n = &c->nodes[i];
        if (n->self || strcmp(n->role, "edge")) continue;
        if (has && !json_object_get(json_object_get(n->hb, "video"), has)) continue;
        if (!found++) snprintf(out, 64, "%s", n->name);
        if (off < sizeof names)
            off +=
                (size_t)snprintf(names + off, sizeof names - off, "%s%s", off ? ", " : "", n->name);
    }
    if (found == 1) return 0;
    if (!found)
        return has ? vd_fail(err, VD_ENOTFOUND, "no edge has video '%s'", has)
                   : vd_fail(err, VD_ENOTFOUND, "no edge is connected");
    return vd_fail(err, VD_EINVAL, "%s %s: say which (%s)", has ? "video" : "edges",
                   has ? has : names, has ? "?node=E" : "\"node\": E");
}

/* The edge's command; on success the node's video list follows its answer and *reply is
 * the answer. Fails the response otherwise. */
static int call_edge(vd_cloud *c, const char *node, const char *cmd, json_t *body,
                     vd_http_resp *resp)
{
    json_t *reply = NULL;
    vd_error err = {0};
    int rc = vd__cloud_call(c, node, cmd, body, &reply, &err);
    if (rc) {
        vd_http_fail(resp, rc == VD_EREMOTE ? err.remote : rc, "%s", err.msg);
        return rc;
    }
    json_t *v = json_object_get(reply, "video");
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n_nodes && json_is_object(v); i++)
        if (!strcmp(c->nodes[i].name, node) && c->nodes[i].hb)
            json_object_set_new(c->nodes[i].hb, "video", json_deep_copy(v));
    pthread_mutex_unlock(&c->mu);
    vd_http_json(resp, 200, reply);
    return 0;
}

static int r_add_video(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_cloud *c = arg;
    json_t *b = vd__parse_body(req, resp);
    if (!b) return 0;
    json_t *nj = json_object_get(b, "node");
    vd_error err = {0};
    char node[64];
    int rc = 0;
    if (nj && !json_is_string(nj)) {
        rc = vd_fail(&err, VD_EINVAL, "node: expected an edge's name or \"ip:port\"");
    } else {
        pthread_mutex_lock(&c->mu);
        rc = pick_edge(c, json_string_value(nj), NULL, node, &err);
        pthread_mutex_unlock(&c->mu);
    }
    if (rc) {
        vd_http_fail(resp, rc, "%s", err.msg);
    } else {
        json_object_del(b, "node");
        call_edge(c, node, VD_CMD_ADD_VIDEO, b, resp);
    }
    json_decref(b);
    return 0;
}

static int r_rm_video(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_cloud *c = arg;
    const char *given = vd_http_query(req, "node");
    vd_error err = {0};
    char node[64];
    if (!*req->tail) {
        vd_http_fail(resp, VD_EINVAL, "DELETE /node/video/<id>: no video id");
        return 0;
    }
    pthread_mutex_lock(&c->mu);
    int rc = pick_edge(c, given && *given ? given : NULL, req->tail, node, &err);
    pthread_mutex_unlock(&c->mu);
    if (rc) {
        vd_http_fail(resp, rc, "%s", err.msg);
        return 0;
    }
    json_t *b = json_pack("{s:s}", "video_id", req->tail);
    if (!b)
        vd_http_fail(resp, VD_ENOMEM, "out of memory");
    else
        call_edge(c, node, VD_CMD_RM_VIDEO, b, resp);
    json_decref(b);
    return 0;
}

int vd__cloud_source_routes(vd_cloud *c, vd_http_route *r, int cap)
{
    if (cap < 2) return VD_ETOOBIG;
    r[0] = (vd_http_route){"POST", "/node/video", r_add_video, c};
    r[1] = (vd_http_route){"DELETE", "/node/video/", r_rm_video, c};
    return 2;
}
