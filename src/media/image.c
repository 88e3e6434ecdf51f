/* Still images through FFmpeg; scaling through libswscale; crop+resize in C. */
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vdag/media.h"

static int av_err(vd_error *err, int code, const char *path, const char *what, int averr)
{
    char buf[128];
    av_strerror(averr, buf, sizeof buf);
    return vd_fail(err, code, "%s: %s: %s", path, what, buf);
}

/* Convert an AVFrame of any pixel format to a new RGB24 vd_frame (same size). */
static int frame_to_rgb(const AVFrame *f, vd_frame **out, vd_error *err, const char *path)
{
    vd_frame *o = vd_frame_new(f->width, f->height);
    if (!o)
        return vd_fail(err, VD_ENOMEM, "%s: out of memory for a %dx%d frame", path, f->width,
                       f->height);
    /* JPEG's full-range "J" formats are deprecated in swscale: use the plain format and
     * say the range instead. */
    enum AVPixelFormat fmt = f->format;
    int full = f->color_range == AVCOL_RANGE_JPEG;
    switch (fmt) {
    case AV_PIX_FMT_YUVJ420P:
        fmt = AV_PIX_FMT_YUV420P, full = 1;
        break;
    case AV_PIX_FMT_YUVJ422P:
        fmt = AV_PIX_FMT_YUV422P, full = 1;
        break;
    case AV_PIX_FMT_YUVJ444P:
        fmt = AV_PIX_FMT_YUV444P, full = 1;
        break;
    case AV_PIX_FMT_YUVJ440P:
        fmt = AV_PIX_FMT_YUV440P, full = 1;
        break;
    default:
        break;
    }
    struct SwsContext *sws = sws_getContext(f->width, f->height, fmt, f->width, f->height,
                                            AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
    if (sws && full) {
        int *inv, *tbl, srcr, dstr, b, c, sat;
        if (sws_getColorspaceDetails(sws, &inv, &srcr, &tbl, &dstr, &b, &c, &sat) >= 0)
            sws_setColorspaceDetails(sws, inv, 1, tbl, 1, b, c, sat);
    }
    if (!sws) {
        vd_frame_free(o);
        return vd_fail(err, VD_EUNSUPP, "%s: cannot convert pixel format %d to RGB", path,
                       f->format);
    }
    uint8_t *dst[4] = {o->data};
    int dstride[4] = {o->stride};
    sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, dstride);
    sws_freeContext(sws);
    *out = o;
    return 0;
}

int vd_image_load(const char *path, vd_frame **out, vd_error *err)
{
    *out = NULL;
    AVFormatContext *fmt = NULL;
    AVCodecContext *dec = NULL;
    AVPacket *pkt = NULL;
    AVFrame *fr = NULL;
    int rc = avformat_open_input(&fmt, path, NULL, NULL);
    if (rc < 0)
        return av_err(err, rc == AVERROR_INVALIDDATA ? VD_EFORMAT : VD_EIO, path,
                      "cannot open image", rc);
    rc = avformat_find_stream_info(fmt, NULL);
    if (rc < 0) {
        rc = av_err(err, VD_EFORMAT, path, "not an image FFmpeg can read", rc);
        goto done;
    }
    int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (si < 0) {
        rc = vd_fail(err, VD_EFORMAT, "%s: no picture in this file", path);
        goto done;
    }
    const AVCodec *codec = avcodec_find_decoder(fmt->streams[si]->codecpar->codec_id);
    dec = codec ? avcodec_alloc_context3(codec) : NULL;
    pkt = av_packet_alloc();
    fr = av_frame_alloc();
    if (!dec || !pkt || !fr) {
        rc = vd_fail(err, codec ? VD_ENOMEM : VD_EUNSUPP, "%s: no decoder for this image", path);
        goto done;
    }
    avcodec_parameters_to_context(dec, fmt->streams[si]->codecpar);
    if ((rc = avcodec_open2(dec, codec, NULL)) < 0) {
        rc = av_err(err, VD_EUNSUPP, path, "cannot open decoder", rc);
        goto done;
    }
    rc = VD_EFORMAT;
    while (av_read_frame(fmt, pkt) >= 0) {
        int ok = pkt->stream_index == si && avcodec_send_packet(dec, pkt) >= 0 &&
                 avcodec_receive_frame(dec, fr) >= 0;
        av_packet_unref(pkt);
        if (ok) {
            rc = frame_to_rgb(fr, out, err, path);
            goto done;
        }
    }
    avcodec_send_packet(dec, NULL); /* flush */
    if (avcodec_receive_frame(dec, fr) >= 0)
        rc = frame_to_rgb(fr, out, err, path);
    else
        rc = vd_fail(err, VD_EFORMAT, "%s: could not decode a picture (corrupt file?)", path);
done:
    av_frame_free(&fr);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    return rc;
}

int vd_frame_scale(const vd_frame *src, int w, int h, vd_frame **out, vd_error *err)
{
    *out = NULL;
    if (w <= 0 || h <= 0) return vd_fail(err, VD_EINVAL, "scale: bad size %dx%d", w, h);
    vd_frame *o = vd_frame_new(w, h);
    if (!o) return vd_fail(err, VD_ENOMEM, "scale: out of memory");
    struct SwsContext *sws = sws_getContext(src->width, src->height, AV_PIX_FMT_RGB24, w, h,
                                            AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
    if (!sws) {
        vd_frame_free(o);
        return vd_fail(err, VD_EBACKEND, "scale: swscale refused %dx%d -> %dx%d", src->width,
                       src->height, w, h);
    }
    const uint8_t *s[4] = {src->data};
    int ss[4] = {src->stride};
    uint8_t *d[4] = {o->data};
    int ds[4] = {o->stride};
    sws_scale(sws, s, ss, 0, src->height, d, ds);
    sws_freeContext(sws);
    o->src_width = src->src_width;
    o->src_height = src->src_height;
    o->cam_frame_id = src->cam_frame_id;
    o->pts_us = src->pts_us;
    *out = o;
    return 0;
}

/* O(out_w*out_h): each output pixel samples the source bilinearly (pixel centres). */
int vd_frame_crop_resize(const vd_frame *src, float x1, float y1, float x2, float y2, int out_w,
                         int out_h, vd_frame **out, vd_error *err)
{
    *out = NULL;
    if (out_w <= 0 || out_h <= 0 || !(x2 > x1) || !(y2 > y1))
        return vd_fail(err, VD_EINVAL, "crop_resize: bad box (%g,%g)-(%g,%g) or size %dx%d", x1, y1,
                       x2, y2, out_w, out_h);
    vd_frame *o = vd_frame_new(out_w, out_h);
    if (!o) return vd_fail(err, VD_ENOMEM, "crop_resize: out of memory");
    float sx = (x2 - x1) / (float)out_w, sy = (y2 - y1) / (float)out_h;
    for (int y = 0; y < out_h; y++) {
        float fy = y1 + ((float)y + 0.5f) * sy - 0.5f;
        int y0 = (int)floorf(fy);
        float wy = fy - (float)y0;
        uint8_t *d = o->data + (size_t)y * (size_t)o->stride;
        for (int x = 0; x < out_w; x++) {
            float fx = x1 + ((float)x + 0.5f) * sx - 0.5f;
            int x0 = (int)floorf(fx);
            float wx = fx - (float)x0;
            for (int c = 0; c < 3; c++) {
                float acc = 0;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        int xx = x0 + dx, yy = y0 + dy;
                        float wgt = (dx ? wx : 1 - wx) * (dy ? wy : 1 - wy);
                        if (xx >= 0 && yy >= 0 && xx < src->width && yy < src->height)
                            acc += wgt * src->data[(size_t)yy * (size_t)src->stride +
                                                   (size_t)xx * 3 + (size_t)c];
                    }
                d[x * 3 + c] = (uint8_t)(acc + 0.5f);
            }
        }
    }
    o->src_width = src->src_width;
    o->src_height = src->src_height;
    *out = o;
    return 0;
}
