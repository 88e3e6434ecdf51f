/*
 * Video sources through FFmpeg: a decode thread feeding a bounded queue, applying the
 * plan's video_conf (resolution, fps, nskip) before frames are queued, so dropped
 * frames are never converted or scaled.
 */
#include <libavcodec/avcodec.h>
#include <libavdevice/avdevice.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vdag/base.h"
#include "vdag/media.h"

struct vd_source {
    char *url;
    int live, loop, threads;
    AVFormatContext *fmt;
    AVCodecContext *dec;
    int stream;
    double native_fps;
    struct SwsContext *sws;
    int sws_w, sws_h, sws_sw, sws_sh, sws_fmt;
    pthread_t thr;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    vd_frame **q;
    int cap, head, count;
    int eof, stop;
    vd_video_conf conf;
    int64_t next_id; /* cam_frame_id of the next decoded frame */
    int64_t passed;  /* frames that passed the fps filter (for nskip) */
    double next_due; /* fps filter: next time (s) a frame is due */
    int64_t decoded;
    char err[256];
};

int vd_resolution_parse(const char *s)
{
    if (!s || !*s || !strcmp(s, "native")) return 0;
    char *end;
    long h = strtol(s, &end, 10);
    if (end == s || (*end && strcmp(end, "p")) || h < 16 || h > 4320) return -1;
    return (int)h;
}

static int is_live_url(const char *url)
{
    return strstr(url, "://") != NULL || !strncmp(url, "/dev/video", 10);
}

static int open_input(vd_source *s, vd_error *err)
{
    const AVInputFormat *ifmt = NULL;
    if (!strncmp(s->url, "/dev/video", 10)) {
        avdevice_register_all();
        ifmt = av_find_input_format("video4linux2");
    }
    AVDictionary *o = NULL;
    if (strstr(s->url, "rtsp://")) av_dict_set(&o, "rtsp_transport", "tcp", 0);
    if (s->live) av_dict_set(&o, "rw_timeout", "5000000", 0);
    int rc = avformat_open_input(&s->fmt, s->url, ifmt, &o);
    av_dict_free(&o);
    char e[128];
    if (rc == AVERROR_INVALIDDATA) {
        av_strerror(rc, e, sizeof e);
        return vd_fail(err, VD_EFORMAT, "%s: not a video FFmpeg can read: %s", s->url, e);
    }
    if (rc < 0) {
        av_strerror(rc, e, sizeof e);
        return vd_fail(err, VD_EIO, "%s: cannot open video: %s (check the path or URL)", s->url, e);
    }
    if ((rc = avformat_find_stream_info(s->fmt, NULL)) < 0) {
        av_strerror(rc, e, sizeof e);
        return vd_fail(err, VD_EFORMAT, "%s: not a video FFmpeg can read: %s", s->url, e);
    }
    s->stream = av_find_best_stream(s->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (s->stream < 0) return vd_fail(err, VD_EFORMAT, "%s: has no video stream", s->url);
    AVStream *st = s->fmt->streams[s->stream];
    const AVCodec *c = avcodec_find_decoder(st->codecpar->codec_id);
    if (!c)
        return vd_fail(err, VD_EUNSUPP, "%s: no decoder for codec %s", s->url,
                       avcodec_get_name(st->codecpar->codec_id));
    s->dec = avcodec_alloc_context3(c);
    if (!s->dec) return vd_fail(err, VD_ENOMEM, "out of memory");
    avcodec_parameters_to_context(s->dec, st->codecpar);
    s->dec->thread_count = s->threads; /* FFmpeg defaults to 1 from C */
    if ((rc = avcodec_open2(s->dec, c, NULL)) < 0) {
        av_strerror(rc, e, sizeof e);
        return vd_fail(err, VD_EUNSUPP, "%s: cannot open decoder: %s", s->url, e);
    }
    AVRational r = st->avg_frame_rate.num ? st->avg_frame_rate : st->r_frame_rate;
    s->native_fps = r.num && r.den ? av_q2d(r) : 25.0;
    if (s->native_fps <= 0 || s->native_fps > 1000) s->native_fps = 25.0;
    return 0;
}

static void close_input(vd_source *s)
{
    avcodec_free_context(&s->dec);
    avformat_close_input(&s->fmt);
}

/* Queue a frame; files wait for room, live sources drop the oldest. */
static void push(vd_source *s, vd_frame *f)
{
    pthread_mutex_lock(&s->mu);
    while (!s->live && s->count == s->cap && !s->stop) pthread_cond_wait(&s->cv, &s->mu);
    if (s->stop) {
        pthread_mutex_unlock(&s->mu);
        vd_frame_free(f);
        return;
    }
    if (s->count == s->cap) { /* live overflow */
        vd_frame_free(s->q[s->head]);
        s->head = (s->head + 1) % s->cap;
        s->count--;
    }
    s->q[(s->head + s->count) % s->cap] = f;
    s->count++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Decide whether decoded frame `id` at time t (s) is processed under the conf. */
static int select_frame(vd_source *s, double t)
{
    pthread_mutex_lock(&s->mu);
    vd_video_conf c = s->conf;
    pthread_mutex_unlock(&s->mu);
    if (c.fps > 0 && c.fps < s->native_fps) {
        double eps = 0.25 / s->native_fps;
        if (t + eps < s->next_due) return 0;
        s->next_due = (s->next_due > 0 && t - s->next_due < 1.0 ? s->next_due : t) + 1.0 / c.fps;
    }
    int64_t k = s->passed++;
    return c.nskip <= 0 || k % (c.nskip + 1) == 0;
}

static vd_frame *convert(vd_source *s, const AVFrame *fr)
{
    pthread_mutex_lock(&s->mu);
    int rh = s->conf.resolution_h;
    pthread_mutex_unlock(&s->mu);
    int w = fr->width, h = fr->height;
    if (rh > 0 && rh != h) {
        w = (int)((double)fr->width * rh / fr->height + 0.5) & ~1;
        h = rh;
    }
    if (w < 2) w = 2;
    if (!s->sws || s->sws_w != w || s->sws_h != h || s->sws_sw != fr->width ||
        s->sws_sh != fr->height || s->sws_fmt != fr->format) {
        sws_freeContext(s->sws);
        s->sws = sws_getContext(fr->width, fr->height, fr->format, w, h, AV_PIX_FMT_RGB24,
                                SWS_BILINEAR, NULL, NULL, NULL);
        s->sws_w = w, s->sws_h = h, s->sws_sw = fr->width, s->sws_sh = fr->height,
        s->sws_fmt = fr->format;
        if (!s->sws) return NULL;
    }
    vd_frame *f = vd_frame_new(w, h);
    if (!f) return NULL;
    uint8_t *d[4] = {f->data};
    int ds[4] = {f->stride};
    sws_scale(s->sws, (const uint8_t *const *)fr->data, fr->linesize, 0, fr->height, d, ds);
    f->src_width = fr->width;
    f->src_height = fr->height;
    return f;
}

static void handle(vd_source *s, const AVFrame *fr)
{
    int64_t id = s->next_id++;
    s->decoded++;
    AVStream *st = s->fmt->streams[s->stream];
    int64_t pts = fr->best_effort_timestamp;
    double t = pts != AV_NOPTS_VALUE
                   ? (double)(pts - (st->start_time != AV_NOPTS_VALUE ? st->start_time : 0)) *
                         av_q2d(st->time_base)
                   : (double)id / s->native_fps;
    if (s->loop) t = (double)id / s->native_fps; /* monotonic across loops */
    if (!select_frame(s, t)) return;
    vd_frame *f = convert(s, fr);
    if (!f) return;
    f->cam_frame_id = id;
    f->pts_us = (int64_t)(t * 1e6);
    push(s, f);
}

static int stopping(vd_source *s)
{
    pthread_mutex_lock(&s->mu);
    int st = s->stop;
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* Decode until the end (or forever for live/looping sources). */
static void *run(void *arg)
{
    vd_source *s = arg;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *fr = av_frame_alloc();
    double backoff = 0.5;
    while (pkt && fr && !stopping(s)) {
        int rc = s->fmt ? av_read_frame(s->fmt, pkt) : AVERROR(EIO);
        if (rc >= 0) {
            if (pkt->stream_index == s->stream && avcodec_send_packet(s->dec, pkt) >= 0)
                while (avcodec_receive_frame(s->dec, fr) >= 0) handle(s, fr);
            av_packet_unref(pkt);
            backoff = 0.5;
            continue;
        }
        if (s->dec) { /* drain the decoder at the end of the stream */
            avcodec_send_packet(s->dec, NULL);
            while (avcodec_receive_frame(s->dec, fr) >= 0) handle(s, fr);
        }
        if (s->loop && !s->live && s->fmt) {
            avcodec_flush_buffers(s->dec);
            if (av_seek_frame(s->fmt, s->stream, 0, AVSEEK_FLAG_BACKWARD) >= 0) continue;
        }
        if (!s->live) break;
        /* live source dropped: reopen with back-off until closed */
        close_input(s);
        struct timespec ts = {(time_t)backoff, (long)((backoff - (double)(time_t)backoff) * 1e9)};
        nanosleep(&ts, NULL);
        backoff = backoff * 2 > 8 ? 8 : backoff * 2;
        vd_error e;
        if (!stopping(s) && open_input(s, &e) != 0) close_input(s);
    }
    av_packet_free(&pkt);
    av_frame_free(&fr);
    pthread_mutex_lock(&s->mu);
    s->eof = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int vd_source_open(const char *url, const vd_source_opts *opts, vd_source **out, vd_error *err)
{
    *out = NULL;
    if (!url || !*url) return vd_fail(err, VD_EINVAL, "no video given (--video PATH|URL)");
    vd_source *s = calloc(1, sizeof *s);
    if (!s) return vd_fail(err, VD_ENOMEM, "out of memory");
    s->url = strdup(url);
    s->live = is_live_url(url);
    s->loop = opts ? opts->loop : 0;
    s->threads = opts && opts->threads > 0 ? opts->threads : 1;
    s->cap = opts && opts->queue_cap > 0 ? opts->queue_cap : 8;
    if (opts) s->conf = opts->conf;
    s->q = calloc((size_t)s->cap, sizeof(vd_frame *));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    int rc = !s->url || !s->q ? vd_fail(err, VD_ENOMEM, "out of memory") : open_input(s, err);
    if (!rc && pthread_create(&s->thr, NULL, run, s) != 0)
        rc = vd_fail(err, VD_ENOMEM, "cannot start decoder thread");
    if (rc) {
        vd_source_close(s);
        return rc;
    }
    s->started = 1;
    *out = s;
    return 0;
}

int vd_source_read(vd_source *s, vd_frame **out, int timeout_ms, vd_error *err)
{
    *out = NULL;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    if (timeout_ms >= 0) {
        dl.tv_sec += timeout_ms / 1000;
        dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while (s->count == 0 && !s->eof) {
        if (timeout_ms < 0)
            pthread_cond_wait(&s->cv, &s->mu);
        else if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) != 0)
            break;
    }
    int rc = 0;
    if (s->count > 0) {
        *out = s->q[s->head];
        s->head = (s->head + 1) % s->cap;
        s->count--;
        pthread_cond_broadcast(&s->cv);
    } else if (s->eof) {
        rc = vd_fail(err, VD_EEOF, "%s: end of video", s->url);
    } else {
        rc = vd_fail(err, VD_ETIMEDOUT, "%s: no frame within %d ms", s->url, timeout_ms);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void vd_source_set_conf(vd_source *s, const vd_video_conf *conf)
{
    pthread_mutex_lock(&s->mu);
    s->conf = *conf;
    pthread_mutex_unlock(&s->mu);
}

double vd_source_native_fps(const vd_source *s)
{
    return s->native_fps;
}

int vd_source_is_live(const vd_source *s)
{
    return s->live;
}

int64_t vd_source_decoded(const vd_source *s)
{
    return s->decoded;
}

void vd_source_close(vd_source *s)
{
    if (!s) return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->stop = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thr, NULL);
    }
    while (s->count > 0) {
        vd_frame_free(s->q[s->head]);
        s->head = (s->head + 1) % s->cap;
        s->count--;
    }
    close_input(s);
    sws_freeContext(s->sws);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->q);
    free(s->url);
    free(s);
}
