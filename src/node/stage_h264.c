/*
 * H.264 frames for remote stages (node_internal.h): the request form of a packet, and a
 * service host's decoders, one per stream the callers name ("stream": the sender's edge, job
 * and stage), kept for the most recent VD__H264_STREAMS streams.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/node_internal.h"
#include "vdag/base.h"
#include "vdag/media.h"

#define VD__H264_STREAMS 8

struct vd__h264_streams {
    pthread_mutex_t mu; /* the table and every decoder (one request at a time) */
    struct {
        char id[128];
        vd_h264_dec *d;
        double used; /* vd_now_ms */
    } s[VD__H264_STREAMS];
};

int vd__h264_streams_new(vd__h264_streams **out, vd_error *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return vd_fail(err, VD_ENOMEM, "out of memory");
    pthread_mutex_init(&(*out)->mu, NULL);
    return 0;
}

void vd__h264_streams_free(vd__h264_streams *t)
{
    if (!t) return;
    for (int i = 0; i < VD__H264_STREAMS; i++) vd_h264_dec_free(t->s[i].d);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

int vd__h264_streams_decode(vd__h264_streams *t, const char *id, const unsigned char *data,
                            size_t len, vd_frame **out, vd_error *err)
{
    *out = NULL;
    if (!id || !*id || strlen(id) >= sizeof t->s[0].id)
        return vd_fail(err, VD_EINVAL, "stage request: an H.264 frame needs its \"stream\" name");
    pthread_mutex_lock(&t->mu);
    int k = -1, lru = 0;
    for (int i = 0; i < VD__H264_STREAMS && k < 0; i++) {
        if (t->s[i].d && !strcmp(t->s[i].id, id)) k = i;
        if (t->s[i].used < t->s[lru].used) lru = i;
    }
    int rc = 0;
    if (k < 0) { /* a new stream takes the least recently used slot */
        k = lru;
        vd_h264_dec_free(t->s[k].d);
        t->s[k].d = NULL;
        snprintf(t->s[k].id, sizeof t->s[k].id, "%s", id);
        rc = vd_h264_dec_new(&t->s[k].d, err);
    }
    if (!rc) {
        t->s[k].used = vd_now_ms();
        rc = vd_h264_dec_decode(t->s[k].d, data, len, out, err);
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

int vd__stage_request_pack_h264(int model_id, const vd_frame *f, const unsigned char *pkt,
                                size_t len, const char *stream, json_t *args, vd_buf *req,
                                vd_error *err)
{
    json_t *hdr = json_pack("{s:i,s:O,s:i,s:i,s:I,s:s,s:s}", "model_id", model_id, "args", args,
                            "src_w", f->src_width, "src_h", f->src_height, "cam_frame_id",
                            (json_int_t)f->cam_frame_id, "codec", "h264", "stream", stream);
    int rc = hdr ? vd_msg_pack(hdr, pkt, len, req, err) : vd_fail(err, VD_ENOMEM, "out of memory");
    json_decref(hdr);
    return rc;
}
