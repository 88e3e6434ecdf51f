/*
 * H.264 for frames sent to remote stages (media.h, "H.264 stream coder"): libx264 through
 * libavcodec, tuned for latency (preset ultrafast, tune zerolatency: no B-frames, no
 * lookahead, one frame in, one packet out), and FFmpeg's h264 decoder with one thread and
 * low-delay output. RGB24 frames are converted to and from YUV 4:2:0 with libswscale.
 *
 * A stream is a sequence of packets from one encoder; the decoder needs them all, in order,
 * from a keyframe on. The packet header (h264_hdr: a magic, the sequence number, the
 * keyframe flag, the size) lets the decoder refuse what it cannot decode (a gap, a stream that
 * does not start at a keyframe) with VD_ESTATE, so that the sender sends a keyframe next.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include "vdag/base.h"
#include "vdag/media.h"

#define H264_MAGIC 0x56483634u /* "VH64" */
#define HDR_LEN    20

struct vd_h264_enc {
    AVCodecContext *c;
    AVFrame *yuv;
    AVPacket *pkt;
    struct SwsContext *sws;
    int w, h;
    uint64_t seq;
    int force_key;
};

struct vd_h264_dec {
    AVCodecContext *c;
    AVFrame *yuv;
    AVPacket *pkt;
    struct SwsContext *sws;
    uint64_t next_seq; /* the packet expected next */
    int synced;        /* a keyframe was decoded and nothing was missed since */
};

static int av_fail(vd_error *err, int code, const char *what, int averr)
{
    char t[AV_ERROR_MAX_STRING_SIZE] = "";
    av_strerror(averr, t, sizeof t);
    return vd_fail(err, code, "h264: %s: %s", what, t);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int vd_h264_enc_new(int width, int height, int fps, int crf, vd_h264_enc **out, vd_error *err)
{
    *out = NULL;
    if (width < 16 || height < 16 || width > 8192 || height > 8192 || (width | height) & 1)
        return vd_fail(err, VD_EINVAL, "h264: %dx%d: expected even sizes from 16 to 8192", width,
                       height);
    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    if (!codec)
        return vd_fail(err, VD_EUNSUPP,
                       "h264: this FFmpeg has no libx264 encoder (Debian's libavcodec has)");
    vd_h264_enc *e = calloc(1, sizeof *e);
    if (!e) return vd_fail(err, VD_ENOMEM, "out of memory");
    e->w = width, e->h = height;
    e->c = avcodec_alloc_context3(codec);
    e->yuv = av_frame_alloc();
    e->pkt = av_packet_alloc();
    if (!e->c || !e->yuv || !e->pkt) {
        vd_h264_enc_free(e);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    e->c->width = width, e->c->height = height;
    e->c->pix_fmt = AV_PIX_FMT_YUV420P;
    e->c->time_base = (AVRational){1, fps > 0 ? fps : 25};
    e->c->gop_size = 10 * (fps > 0 ? fps : 25); /* keyframes also on demand (resync) */
    e->c->max_b_frames = 0;
    e->c->thread_count = 1;
    av_opt_set(e->c->priv_data, "preset", "ultrafast", 0);
    av_opt_set(e->c->priv_data, "tune", "zerolatency", 0);
    av_opt_set_int(e->c->priv_data, "crf", crf > 0 && crf <= 51 ? crf : 23, 0);
    int rc = avcodec_open2(e->c, codec, NULL);
    if (rc < 0) {
        vd_h264_enc_free(e);
        return av_fail(err, VD_EBACKEND, "opening libx264", rc);
    }
    e->yuv->format = AV_PIX_FMT_YUV420P, e->yuv->width = width, e->yuv->height = height;
    if ((rc = av_frame_get_buffer(e->yuv, 0)) < 0) {
        vd_h264_enc_free(e);
        return av_fail(err, VD_ENOMEM, "frame buffer", rc);
    }
    e->sws = sws_getContext(width, height, AV_PIX_FMT_RGB24, width, height, AV_PIX_FMT_YUV420P,
                            SWS_BILINEAR, NULL, NULL, NULL);
    if (!e->sws) {
        vd_h264_enc_free(e);
        return vd_fail(err, VD_EBACKEND, "h264: no RGB to YUV converter");
    }
    e->force_key = 1;
    *out = e;
    return 0;
}

void vd_h264_enc_free(vd_h264_enc *e)
{
    if (!e) return;
    avcodec_free_context(&e->c);
    av_frame_free(&e->yuv);
    av_packet_free(&e->pkt);
    sws_freeContext(e->sws);
    free(e);
}

void vd_h264_enc_keyframe(vd_h264_enc *e)
{
    e->force_key = 1;
}

int vd_h264_enc_encode(vd_h264_enc *e, const vd_frame *f, unsigned char **data, size_t *len,
                       int *key, vd_error *err)
{
    *data = NULL, *len = 0;
    if (f->width != e->w || f->height != e->h)
        return vd_fail(err, VD_EINVAL, "h264: a %dx%d frame for a %dx%d stream", f->width,
                       f->height, e->w, e->h);
    int rc = av_frame_make_writable(e->yuv);
    if (rc < 0) return av_fail(err, VD_ENOMEM, "frame", rc);
    const uint8_t *src[1] = {f->data};
    const int ss[1] = {f->stride};
    sws_scale(e->sws, src, ss, 0, f->height, e->yuv->data, e->yuv->linesize);
    e->yuv->pts = (int64_t)e->seq;
    e->yuv->pict_type = e->force_key ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
    e->yuv->key_frame = e->force_key;
    if ((rc = avcodec_send_frame(e->c, e->yuv)) < 0) return av_fail(err, VD_EBACKEND, "encode", rc);
    rc = avcodec_receive_packet(e->c, e->pkt);
    if (rc < 0) /* zerolatency gives a packet per frame; anything else is a failure */
        return av_fail(err, VD_EBACKEND, "encode (no packet for the frame)", rc);
    int k = (e->pkt->flags & AV_PKT_FLAG_KEY) != 0;
    size_t n = (size_t)e->pkt->size;
    unsigned char *b = malloc(HDR_LEN + n);
    if (!b) {
        av_packet_unref(e->pkt);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    put_u32(b, H264_MAGIC);
    put_u32(b + 4, (uint32_t)(e->seq >> 32));
    put_u32(b + 8, (uint32_t)e->seq);
    put_u32(b + 12, (uint32_t)k);
    put_u32(b + 16, (uint32_t)n);
    memcpy(b + HDR_LEN, e->pkt->data, n);
    av_packet_unref(e->pkt);
    e->seq++;
    e->force_key = 0;
    *data = b, *len = HDR_LEN + n;
    if (key) *key = k;
    return 0;
}

int vd_h264_dec_new(vd_h264_dec **out, vd_error *err)
{
    *out = NULL;
    const AVCodec *codec = avcodec_find_decoder(AV_CODEC_ID_H264);
    if (!codec) return vd_fail(err, VD_EUNSUPP, "h264: this FFmpeg has no H.264 decoder");
    vd_h264_dec *d = calloc(1, sizeof *d);
    if (!d) return vd_fail(err, VD_ENOMEM, "out of memory");
    d->c = avcodec_alloc_context3(codec);
    d->yuv = av_frame_alloc();
    d->pkt = av_packet_alloc();
    if (!d->c || !d->yuv || !d->pkt) {
        vd_h264_dec_free(d);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    d->c->thread_count = 1;
    d->c->flags |= AV_CODEC_FLAG_LOW_DELAY;
    /* the pixel limit before any allocation: a stream's header may claim any size */
    int64_t mp = vd_media_max_pixels();
    d->c->max_pixels = mp > 0 && mp < INT64_MAX ? mp : d->c->max_pixels;
    int rc = avcodec_open2(d->c, codec, NULL);
    if (rc < 0) {
        vd_h264_dec_free(d);
        return av_fail(err, VD_EBACKEND, "opening the decoder", rc);
    }
    *out = d;
    return 0;
}

void vd_h264_dec_free(vd_h264_dec *d)
{
    if (!d) return;
    avcodec_free_context(&d->c);
    av_frame_free(&d->yuv);
    av_packet_free(&d->pkt);
    sws_freeContext(d->sws);
    free(d);
}

int vd_h264_dec_decode(vd_h264_dec *d, const unsigned char *data, size_t len, vd_frame **out,
                       vd_error *err)
{
    *out = NULL;
    if (len < HDR_LEN || get_u32(data) != H264_MAGIC || get_u32(data + 16) != len - HDR_LEN)
        return vd_fail(err, VD_EFORMAT, "h264: not a vdag H.264 packet (%zu bytes)", len);
    uint64_t seq = (uint64_t)get_u32(data + 4) << 32 | get_u32(data + 8);
    int key = get_u32(data + 12) != 0;
    if (!key && (!d->synced || seq != d->next_seq)) {
        d->synced = 0;
        return vd_fail(err, VD_ESTATE,
                       "h264: packet %llu follows %s: send a keyframe (the stream resumes "
                       "there)",
                       (unsigned long long)seq, d->synced ? "a gap" : "no keyframe");
    }
    if (key) avcodec_flush_buffers(d->c);
    d->pkt->data = (uint8_t *)data + HDR_LEN;
    d->pkt->size = (int)(len - HDR_LEN);
    int rc = avcodec_send_packet(d->c, d->pkt);
    d->pkt->data = NULL, d->pkt->size = 0;
    if (rc >= 0) rc = avcodec_receive_frame(d->c, d->yuv);
    if (rc < 0) {
        d->synced = 0;
        return av_fail(err, rc == AVERROR(EAGAIN) ? VD_ESTATE : VD_EFORMAT, "decode", rc);
    }
    int w = d->yuv->width, h = d->yuv->height;
    if ((int64_t)w * h > vd_media_max_pixels()) {
        av_frame_unref(d->yuv);
        d->synced = 0;
        return vd_fail(err, VD_ETOOBIG, "h264: a %dx%d picture is over the pixel limit", w, h);
    }
    d->sws = sws_getCachedContext(d->sws, w, h, (enum AVPixelFormat)d->yuv->format, w, h,
                                  AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
    vd_frame *f = d->sws ? vd_frame_new_uninit(w, h) : NULL;
    if (!f) {
        av_frame_unref(d->yuv);
        return vd_fail(err, VD_ENOMEM, "h264: no frame or converter for %dx%d", w, h);
    }
    uint8_t *dst[1] = {f->data};
    int ds[1] = {f->stride};
    sws_scale(d->sws, (const uint8_t *const *)d->yuv->data, d->yuv->linesize, 0, h, dst, ds);
    av_frame_unref(d->yuv);
    d->synced = 1;
    d->next_seq = seq + 1;
    *out = f;
    return 0;
}
