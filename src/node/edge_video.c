/*
 * The edge's own MJPEG streams: GET /user/video/<job> on the node that runs the job, as the
 * seed's node served it (its :5100 "sidechan"), for a browser <img> pointed at the edge. The
 * job renders while it has a viewer here or at the cloud (node.watch); here it keeps the
 * latest frame for its viewers. Jobs live until vd_edge_free, after the HTTP server stopped,
 * so a viewer holds its job by pointer.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge_internal.h"
#include "vdag/base.h"

typedef struct viewer {
    job *j;
    uint64_t seq;
    vd_mjpeg_part part;
} viewer;

void vd__edge_show(job *j, const unsigned char *jpeg, size_t len)
{
    unsigned char *p = malloc(len);
    if (!p) return;
    memcpy(p, jpeg, len);
    pthread_mutex_lock(&j->edge->mu);
    free(j->jpeg);
    j->jpeg = p;
    j->jpeg_len = len;
    j->jpeg_seq++;
    pthread_cond_broadcast(&j->edge->frames);
    pthread_mutex_unlock(&j->edge->mu);
}

static ssize_t viewer_read(void *arg, char *out, size_t max)
{
    viewer *v = arg;
    vd_edge *e = v->j->edge;
    if (v->part.off == v->part.len) {
        pthread_mutex_lock(&e->mu);
        for (;;) {
            if (e->stopping || (v->j->state != J_RUN && v->j->jpeg_seq == v->seq)) {
                pthread_mutex_unlock(&e->mu);
                return VD_EEOF;
            }
            if (v->j->jpeg_seq != v->seq && v->j->jpeg) break;
            struct timespec ts = vd_deadline(CLOCK_REALTIME, 200);
            if (pthread_cond_timedwait(&e->frames, &e->mu, &ts)) {
                pthread_mutex_unlock(&e->mu);
                return 0; /* nothing yet: the server checks the client, then calls again */
            }
        }
        if (vd_mjpeg_part_set(&v->part, v->j->jpeg, v->j->jpeg_len)) {
            pthread_mutex_unlock(&e->mu);
            return VD_ENOMEM;
        }
        v->seq = v->j->jpeg_seq;
        pthread_mutex_unlock(&e->mu);
    }
    return (ssize_t)vd_mjpeg_part_read(&v->part, out, max);
}

static void viewer_free(void *arg)
{
    viewer *v = arg;
    pthread_mutex_lock(&v->j->edge->mu);
    v->j->viewers--;
    pthread_mutex_unlock(&v->j->edge->mu);
    vd_mjpeg_part_free(&v->part);
    free(v);
}

int vd__edge_r_video(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    vd_edge *e = arg;
    viewer *v = calloc(1, sizeof *v);
    if (!v) {
        vd_http_fail(resp, VD_ENOMEM, "out of memory");
        return 0;
    }
    pthread_mutex_lock(&e->mu);
    job *j = NULL;
    for (int i = 0; i < e->n_jobs && !j; i++)
        if (!strcmp(e->jobs[i]->uid, req->tail)) j = e->jobs[i];
    if (!j || j->state != J_RUN || e->stopping) {
        pthread_mutex_unlock(&e->mu);
        free(v);
        vd_http_error(resp, 404, j ? VD_ESTATE : VD_ENOTFOUND,
                      j ? "job '%s' is done" : "node %s: no job '%s'", j ? req->tail : e->name,
                      req->tail);
        return 0;
    }
    v->j = j;
    v->seq = j->jpeg_seq; /* the next frame rendered, not an old one */
    j->viewers++;
    pthread_mutex_unlock(&e->mu);
    resp->content_type = VD_MJPEG_CONTENT_TYPE;
    resp->stream = viewer_read;
    resp->stream_arg = v;
    resp->stream_free = viewer_free;
    return 0;
}
