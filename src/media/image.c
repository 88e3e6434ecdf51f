/*
 * Still images (JPEG through libjpeg-turbo, anything else through FFmpeg's image2
 * demuxer), whole-frame scaling through libswscale, and crop+resize in C.
 * No shared state: every call builds and frees its own contexts.
 */
#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "media/media_internal.h"
#include "vdag/base.h"
#include "vdag/media.h"

/* Fill err with "<path>: <what>: <FFmpeg's message>" and return code. */
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
    struct SwsContext *sws =
        vd__sws_to_rgb(f->width, f->height, f->format, f->color_range == AVCOL_RANGE_JPEG,
                       f->colorspace, f->width, f->height);
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

/* A JPEG file decoded by libjpeg-turbo: 1 with *out set, 0 if the file is not a JPEG (or
 * turbojpeg cannot decode it, e.g. CMYK: FFmpeg then tries), <0 on an I/O error. */
static int load_jpeg(const char *path, vd_frame **out, vd_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return vd_fail(err, VD_EIO, "%s: cannot open image: %s (check the path)", path,
                       strerror(errno));
    unsigned char magic[3] = {0};
    size_t n = fread(magic, 1, 3, fp);
    fclose(fp);
    if (n < 3 || magic[0] != 0xff || magic[1] != 0xd8 || magic[2] != 0xff) return 0;
    char *data;
    size_t len;
    int rc = vd_read_file(path, 0, &data, &len, err);
    if (rc) return rc;
    vd_error e = {0};
    rc = vd_jpeg_decode((const unsigned char *)data, len, out, &e);
    free(data);
    if (rc == VD_ETOOBIG) return vd_fail(err, rc, "%s: %s", path, e.msg); /* not FFmpeg either */
    return rc == 0;
}

/* Per-stream decoder options for avformat_find_stream_info (it decodes to learn the size):
 * max_pixels, so that probing a huge picture fails instead of allocating it. NULL when out
 * of memory; free with free_probe_opts. */
static AVDictionary **probe_opts(const AVFormatContext *fmt)
{
    AVDictionary **o = av_calloc(fmt->nb_streams ? fmt->nb_streams : 1, sizeof *o);
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)vd_media_max_pixels());
    for (unsigned i = 0; o && i < fmt->nb_streams; i++) av_dict_set(&o[i], "max_pixels", v, 0);
    return o;
}

static void free_probe_opts(AVDictionary **o, unsigned n)
{
    for (unsigned i = 0; o && i < n; i++) av_dict_free(&o[i]);
    av_free(o);
}

int vd_image_load(const char *path, vd_frame **out, vd_error *err)
{
    *out = NULL;
    if (!path || !*path) return vd_fail(err, VD_EINVAL, "no image path given");
    int jr = load_jpeg(path, out, err);
    if (jr) return jr < 0 ? jr : 0;
    AVFormatContext *fmt = NULL;
    AVCodecContext *dec = NULL;
    AVPacket *pkt = NULL;
    AVFrame *fr = NULL;
    int rc = avformat_open_input(&fmt, path, NULL, NULL);
    if (rc < 0)
        return av_err(err, rc == AVERROR_INVALIDDATA ? VD_EFORMAT : VD_EIO, path,
                      "cannot open image", rc);
    unsigned ns = fmt->nb_streams;
    AVDictionary **po = probe_opts(fmt);
    rc = avformat_find_stream_info(fmt, po);
    free_probe_opts(po, ns);
    int si = rc < 0 ? -1 : av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (si >= 0 && vd_media_check_pixels(path, fmt->streams[si]->codecpar->width,
                                         fmt->streams[si]->codecpar->height, err)) {
        rc = VD_ETOOBIG;
        goto done;
    }
    if (rc < 0) {
        rc = av_err(err, VD_EFORMAT, path, "not an image FFmpeg can read", rc);
        goto done;
    }
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
    dec->max_pixels = vd_media_max_pixels(); /* a frame bigger than its header said */
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

/* Whole-frame bilinear resize through swscale (a context per call: thread-safe). */
int vd_frame_scale(const vd_frame *src, int w, int h, vd_frame **out, vd_error *err)
{
    *out = NULL;
    if (w <= 0 || h <= 0) return vd_fail(err, VD_EINVAL, "scale: bad size %dx%d", w, h);
    if (!src || !src->data || src->width <= 0 || src->height <= 0)
        return vd_fail(err, VD_EINVAL, "scale: empty source frame");
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

/* Crop (x1,y1)-(x2,y2) and resize bilinearly to out_w x out_h, sampling at pixel centres;
 * source pixels outside the frame count as black. O(out_w*out_h); the column taps are
 * computed once per call, the row taps once per row. */
int vd_frame_crop_resize(const vd_frame *src, float x1, float y1, float x2, float y2, int out_w,
                         int out_h, vd_frame **out, vd_error *err)
{
    *out = NULL;
    if (out_w <= 0 || out_h <= 0 || !(x2 > x1) || !(y2 > y1) || !isfinite(x1) || !isfinite(y1) ||
        !isfinite(x2) || !isfinite(y2))
        return vd_fail(err, VD_EINVAL, "crop_resize: bad box (%g,%g)-(%g,%g) or size %dx%d", x1, y1,
                       x2, y2, out_w, out_h);
    if (!src || !src->data || src->width <= 0 || src->height <= 0)
        return vd_fail(err, VD_EINVAL, "crop_resize: empty source frame");
    vd_frame *o = vd_frame_new(out_w, out_h);
    int *xo = malloc(sizeof(int) * 2 * (size_t)out_w);     /* byte offsets of the 2 taps, or -1 */
    float *xw = malloc(sizeof(float) * 2 * (size_t)out_w); /* their weights */
    if (!o || !xo || !xw) {
        vd_frame_free(o);
        free(xo);
        free(xw);
        return vd_fail(err, VD_ENOMEM, "crop_resize: out of memory for %dx%d", out_w, out_h);
    }
    float sx = (x2 - x1) / (float)out_w, sy = (y2 - y1) / (float)out_h;
    for (int x = 0; x < out_w; x++) {
        float fx = x1 + ((float)x + 0.5f) * sx - 0.5f;
        float fl = floorf(fx);
        float wx = fx - fl;
        for (int k = 0; k < 2; k++) {
            float xx = fl + (float)k;
            int in = xx >= 0 && xx < (float)src->width;
            xo[2 * x + k] = in ? (int)xx * 3 : -1;
            xw[2 * x + k] = in ? (k ? wx : 1 - wx) : 0;
        }
    }
    for (int y = 0; y < out_h; y++) {
        float fy = y1 + ((float)y + 0.5f) * sy - 0.5f;
        float fl = floorf(fy);
        float wy = fy - fl;
        const uint8_t *r[2];
        float rw[2];
        for (int k = 0; k < 2; k++) {
            float yy = fl + (float)k;
            int in = yy >= 0 && yy < (float)src->height;
            r[k] = in ? src->data + (size_t)yy * (size_t)src->stride : NULL;
            rw[k] = in ? (k ? wy : 1 - wy) : 0;
        }
        uint8_t *d = o->data + (size_t)y * (size_t)o->stride;
        for (int x = 0; x < out_w; x++) {
            float acc[3] = {0, 0, 0};
            for (int ky = 0; ky < 2; ky++) {
                if (!r[ky]) continue;
                for (int kx = 0; kx < 2; kx++) {
                    int off = xo[2 * x + kx];
                    if (off < 0) continue;
                    float wgt = rw[ky] * xw[2 * x + kx];
                    for (int c = 0; c < 3; c++) acc[c] += wgt * (float)r[ky][off + c];
                }
            }
            for (int c = 0; c < 3; c++) {
                float v = acc[c] + 0.5f;
                d[3 * x + c] = (uint8_t)(v > 255.f ? 255.f : v);
            }
        }
    }
    free(xo);
    free(xw);
    o->src_width = src->src_width;
    o->src_height = src->src_height;
    o->cam_frame_id = src->cam_frame_id;
    o->pts_us = src->pts_us;
    *out = o;
    return 0;
}

double vd_frame_psnr(const vd_frame *a, const vd_frame *b)
{
    if (a->width != b->width || a->height != b->height) return -1;
    double se = 0;
    for (int y = 0; y < a->height; y++)
        for (int x = 0; x < 3 * a->width; x++) {
            double d =
                (double)a->data[(size_t)y * a->stride + x] - b->data[(size_t)y * b->stride + x];
            se += d * d;
        }
    double mse = se / (3.0 * a->width * a->height);
    return mse > 0 ? 10 * log10(255.0 * 255.0 / mse) : 99;
}
