/*
 * Sources at run time: node.add_video and node.remove_video (POST /node/video, DELETE
 * /node/video/<id>; proto.h has the messages). The edge's video table (e->o.videos, under
 * e->mu) changes while jobs run. A source is checked before it is added (vd_source_probe:
 * it opens, or the request is refused saying why); removing one ends the jobs that read it
 * (reason "source_removed", edge_job.c). Either sends a heartbeat at once, so the cloud's
 * lists (get_all_status, get_video_info) follow within the transport's delivery.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edge_internal.h"
#include "vdag/base.h"

#define PROBE_MS        2000  /* a live source's probe: under the cloud's command timeout */
#define RECONNECT_MAX_S 86400 /* the longest reconnect_timeout taken */

const char *vd__video_kind(const char *path)
{
    if (!strncmp(path, "rtsp://", 7) || !strncmp(path, "rtsps://", 8)) return "rtsp";
    if (!strncmp(path, "http://", 7) || !strncmp(path, "https://", 8)) return "http";
    if (!strncmp(path, "/dev/video", 10)) return "v4l2";
    return "file";
}

json_t *vd__edge_videos_json(vd_edge *e)
{
    json_t *videos = json_object();
    for (int i = 0; i < e->o.n_videos; i++) {
        const vd_video_src *v = &e->o.videos[i];
        char shown[sizeof v->path];
        vd_nats_url_redact(v->path, shown, sizeof shown); /* rtsp://user:***@camera/… */
        json_t *o = json_pack("{s:s,s:s,s:s}", "type", v->type, "path", shown, "kind",
                              vd__video_kind(v->path));
        if (o && v->loop) json_object_set_new(o, "loop", json_true());
        json_object_set_new(videos, v->id, o);
    }
    return videos;
}

/* A video id: 1..31 of [A-Za-z0-9._-] (it goes in URLs and metric labels). */
static int id_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 31) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i])) return 0;
    return 1;
}

/* The video node.add_video describes, into v; *probe: check a live source before. */
static int parse_add(json_t *req, vd_video_src *v, int *probe, vd_error *err)
{
    memset(v, 0, sizeof *v);
    json_t *id = json_object_get(req, "video_id"), *url = json_object_get(req, "url");
    if (!url) url = json_object_get(req, "path");
    if (json_is_integer(id) && json_integer_value(id) >= 0)
        snprintf(v->id, sizeof v->id, "%lld", (long long)json_integer_value(id));
    else if (json_is_string(id) && id_ok(json_string_value(id)))
        snprintf(v->id, sizeof v->id, "%s", json_string_value(id));
    else
        return vd_fail(err, VD_EINVAL,
                       "video_id: %s (expected {\"video_id\": \"cam1\", \"url\": "
                       "\"rtsp://…\"}: 1..31 letters, digits, '.', '_' or '-', or an integer)",
                       id ? "not a valid id" : "missing");
    const char *u = json_string_value(url);
    size_t ul = u ? strlen(u) : 0;
    if (!ul || ul >= sizeof v->path)
        return vd_fail(err, VD_EINVAL, "url: %s (a file path, rtsp://, http(s):// or /dev/videoN)",
                       !url ? "missing"
                       : !u ? "expected a string"
                       : ul ? "too long"
                            : "empty");
    for (size_t i = 0; i < ul; i++)
        if ((unsigned char)u[i] < 0x20 || u[i] == 0x7f)
            return vd_fail(err, VD_EINVAL, "url: has a control character");
    if (!strstr(u, "://") && !strchr(u, '/')) { /* a bare name: a cached sample video */
        char p[sizeof v->path + 64];
        if (!vd_media_path(u, p, sizeof p) && strlen(p) < sizeof v->path && !access(p, F_OK))
            u = p, ul = strlen(p);
        else
            return vd_fail(err, VD_EINVAL,
                           "url: '%s' is no cached sample video: give an absolute path or a URL",
                           u);
        memcpy(v->path, u, ul + 1);
    } else if (!strstr(u, "://") && u[0] != '/') {
        return vd_fail(err, VD_EINVAL, "url: '%s': a file path must be absolute", u);
    } else {
        memcpy(v->path, u, ul + 1);
    }
    json_t *t = json_object_get(req, "type"), *lp = json_object_get(req, "loop");
    json_t *rs = json_object_get(req, "reconnect_timeout"), *pr = json_object_get(req, "probe");
    if (t && (!json_is_string(t) || strlen(json_string_value(t)) >= sizeof v->type))
        return vd_fail(err, VD_EINVAL, "type: expected a string of up to %d chars",
                       (int)sizeof v->type - 1);
    snprintf(v->type, sizeof v->type, "%s", t ? json_string_value(t) : "camera");
    if (lp && !json_is_boolean(lp)) return vd_fail(err, VD_EINVAL, "loop: expected true or false");
    v->loop = json_is_true(lp);
    if (rs && (!json_is_number(rs) || !(json_number_value(rs) > 0) ||
               json_number_value(rs) > RECONNECT_MAX_S))
        return vd_fail(err, VD_EINVAL, "reconnect_timeout: expected seconds, 0 < s <= %d",
                       RECONNECT_MAX_S);
    v->reconnect_s = rs ? json_number_value(rs) : 0;
    if (pr && !json_is_boolean(pr)) return vd_fail(err, VD_EINVAL, "probe: expected true or false");
    *probe = !json_is_false(pr);
    return 0;
}

static int find_video(vd_edge *e, const char *id)
{
    for (int i = 0; i < e->o.n_videos; i++)
        if (!strcmp(e->o.videos[i].id, id)) return i;
    return -1;
}

/* The reply of both commands (e->mu held). */
static json_t *reply_of(vd_edge *e, const char *id, const char *msg)
{
    return json_pack("{s:s,s:s,s:s,s:o}", "msg", msg, "node", e->name, "video_id", id, "video",
                     vd__edge_videos_json(e));
}

int vd__edge_cmd_add_video(vd_edge *e, json_t *req, json_t **reply, vd_error *err)
{
    vd_video_src v;
    int probe = 1;
    int rc = parse_add(req, &v, &probe, err);
    if (rc) return rc;
    pthread_mutex_lock(&e->mu);
    int dup = find_video(e, v.id) >= 0;
    pthread_mutex_unlock(&e->mu);
    if (dup) /* said before a probe that may take seconds */
        return vd_fail(err, VD_EALREADY,
                       "node %s already has video '%s' (DELETE /node/video/%s first)", e->name,
                       v.id, v.id);
    vd_source_info info = {0};
    const char *kind = vd__video_kind(v.path);
    int live = strcmp(kind, "file") != 0 && strcmp(kind, "v4l2") != 0;
    if (probe || !live) {
        vd_error pe = {0};
        if ((rc = vd_source_probe(v.path, PROBE_MS, &info, &pe))) {
            /* the source is the request's: a 400 saying why, whatever failed below */
            int code = rc == VD_ENOMEM || rc == VD_ETOOBIG ? rc : VD_EINVAL;
            return vd_fail(err, code, "video '%s': %s%s", v.id, pe.msg,
                           live ? " (\"probe\": false adds it unchecked)" : "");
        }
    } else {
        vd_error ce = {0};
        if ((rc = vd_source_check_url(v.path, &ce)))
            return vd_fail(err, VD_EINVAL, "video '%s': %s", v.id, ce.msg);
    }
    pthread_mutex_lock(&e->mu);
    if (e->stopping)
        rc = vd_fail(err, VD_ESTATE, "node %s is shutting down", e->name);
    else if (find_video(e, v.id) >= 0)
        rc = vd_fail(err, VD_EALREADY, "node %s already has video '%s'", e->name, v.id);
    else if (e->o.n_videos == VD_NODE_MAX_VIDEOS)
        rc = vd_fail(err, VD_ETOOBIG, "node %s has %d videos, the most it takes (remove one first)",
                     e->name, VD_NODE_MAX_VIDEOS);
    if (!rc) {
        e->o.videos[e->o.n_videos++] = v;
        char msg[160];
        snprintf(msg, sizeof msg, "video %s added to %s", v.id, e->name);
        *reply = reply_of(e, v.id, msg);
        if (*reply && (probe || !live))
            json_object_set_new(*reply, "source",
                                json_pack("{s:s,s:b,s:i,s:i,s:f,s:s}", "kind", kind, "live",
                                          info.live, "width", info.width, "height", info.height,
                                          "fps", info.fps, "codec", info.codec));
        pthread_cond_broadcast(&e->cv); /* a heartbeat now: the cloud's lists follow */
    }
    pthread_mutex_unlock(&e->mu);
    if (!rc) fprintf(stderr, "vdag %s: video %s added: %s\n", e->name, v.id, kind);
    return rc;
}

int vd__edge_cmd_rm_video(vd_edge *e, json_t *req, json_t **reply, vd_error *err)
{
    json_t *idj = json_object_get(req, "video_id");
    char id[32];
    if (json_is_integer(idj))
        snprintf(id, sizeof id, "%lld", (long long)json_integer_value(idj));
    else if (json_is_string(idj) && strlen(json_string_value(idj)) < sizeof id)
        snprintf(id, sizeof id, "%s", json_string_value(idj));
    else
        return vd_fail(err, VD_EINVAL, "video_id: %s (expected {\"video_id\": \"cam1\"})",
                       idj ? "expected an id string" : "missing");
    pthread_mutex_lock(&e->mu);
    int i = find_video(e, id);
    if (i < 0) {
        pthread_mutex_unlock(&e->mu);
        return vd_fail(err, VD_ENOTFOUND,
                       "node %s has no video '%s' (its videos: see "
                       "/user/get_all_status)",
                       e->name, id);
    }
    memmove(&e->o.videos[i], &e->o.videos[i + 1],
            sizeof e->o.videos[0] * (size_t)(e->o.n_videos - i - 1));
    e->o.n_videos--;
    json_t *ended = json_array();
    for (int k = 0; k < e->n_jobs; k++) {
        job *j = e->jobs[k];
        if (j->state != J_RUN || strcmp(j->video.id, id)) continue;
        j->src_removed = 1;
        json_array_append_new(ended, json_string(j->uid));
    }
    pthread_cond_broadcast(&e->job_cv); /* ends their pacing sleeps */
    pthread_cond_broadcast(&e->cv);
    char msg[160];
    snprintf(msg, sizeof msg, "video %s removed from %s", id, e->name);
    *reply = reply_of(e, id, msg);
    if (*reply)
        json_object_set_new(*reply, "jobs_ended", ended);
    else
        json_decref(ended);
    pthread_mutex_unlock(&e->mu);
    fprintf(stderr, "vdag %s: video %s removed\n", e->name, id);
    return 0;
}
