/*
 * The cloud's MJPEG viewers: GET /user/video/<job> streams the job's rendered frames as
 * multipart/x-mixed-replace. The edge renders and sends frames only while a job has a
 * viewer: the first viewer turns node.watch on, the last one off.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cloud_internal.h"
#include "vdag/base.h"

typedef struct viewer {
    vd_cloud *c;
    cjob *j;
    uint64_t seq;
    vd_mjpeg_part part;
} viewer;

void vd__cloud_watch(vd_cloud *c, const char *node, const char *uid, int on)
{
    json_t *body = json_pack("{s:s,s:b}", "job_uid", uid, "on", on);
    vd__cloud_call(c, node, VD_CMD_WATCH, body, NULL, NULL);
    json_decref(body);
}

static ssize_t viewer_read(void *arg, char *out, size_t max)
{
    viewer *v = arg;
    vd_cloud *c = v->c;
    if (v->part.off == v->part.len) {
        pthread_mutex_lock(&c->mu);
        for (;;) {
            if (c->streams_closed || v->j->removed) {
                pthread_mutex_unlock(&c->mu);
                return VD_EEOF;
            }
            if (v->j->jpeg_seq != v->seq && v->j->jpeg) break;
            if (v->j->state == S_DONE) {
                pthread_mutex_unlock(&c->mu);
                return VD_EEOF;
            }
            struct timespec ts = vd_deadline(CLOCK_REALTIME, 200);
            if (pthread_cond_timedwait(&c->frames, &c->mu, &ts)) {
                pthread_mutex_unlock(&c->mu);
                return 0; /* nothing yet: the server checks the client, then calls again */
            }
        }
        if (vd_mjpeg_part_set(&v->part, v->j->jpeg, v->j->jpeg_len)) {
            pthread_mutex_unlock(&c->mu);
            return VD_ENOMEM;
        }
        v->seq = v->j->jpeg_seq;
        pthread_mutex_unlock(&c->mu);
    }
    return (ssize_t)vd_mjpeg_part_read(&v->part, out, max);
}

static void viewer_free(void *arg)
{
    viewer *v = arg;
    vd_cloud *c = v->c;
    char node[64], uid[64];
    pthread_mutex_lock(&c->mu);
    int last = --v->j->viewers == 0 && v->j->state == S_EXEC && !c->stopping;
    snprintf(node, sizeof node, "%s", v->j->node);
    snprintf(uid, sizeof uid, "%s", v->j->uid);
    vd__cloud_job_unref(v->j);
    pthread_mutex_unlock(&c->mu);
    if (last) vd__cloud_watch(c, node, uid, 0);
    vd_mjpeg_part_free(&v->part);
    free(v);
}

int vd__cloud_r_video(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_cloud *c = arg;
    viewer *v = calloc(1, sizeof *v);
    if (!v) {
        vd_http_fail(resp, VD_ENOMEM, "out of memory");
        return 0;
    }
    pthread_mutex_lock(&c->mu);
    cjob *j = vd__cloud_job(c, req->tail);
    if (!j || j->state == S_DONE) {
        pthread_mutex_unlock(&c->mu);
        free(v);
        vd_http_error(resp, 404, j ? VD_ESTATE : VD_ENOTFOUND,
                      j ? "job '%s' is done" : "no job '%s'", req->tail);
        return 0;
    }
    v->c = c;
    v->j = j;
    j->refs++;
    int first = j->viewers++ == 0;
    char node[64];
    snprintf(node, sizeof node, "%s", j->node);
    pthread_mutex_unlock(&c->mu);
    if (first) vd__cloud_watch(c, node, req->tail, 1);
    resp->content_type = VD_MJPEG_CONTENT_TYPE;
    resp->stream = viewer_read;
    resp->stream_arg = v;
    resp->stream_free = viewer_free;
    return 0;
}
