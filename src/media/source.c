/*
 * Video sources through FFmpeg: a decode thread feeding a bounded queue, applying the
 * plan's video_conf (resolution, fps, nskip) before frames are queued, so dropped
 * frames are never converted or scaled.
 *
 * Threads: the decode thread owns the FFmpeg contexts, the swscale cache and the
 * selection state (next_id, passed, next_due, time base). Everything the consumer or
 * vd_source_set_conf touches (queue, conf, eof/stop, last error) is under `mu`;
 * counters read from other threads are atomics. `stop` is also read, without the lock,
 * by FFmpeg's interrupt callback so that a blocking network read ends when closed.
 */
#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavdevice/avdevice.h>
#include <libavformat/avformat.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "media/media_internal.h"
#include "vdag/base.h"
#include "vdag/media.h"

#define BACKOFF_MIN_S 0.5
#define BACKOFF_MAX_S 8.0
#define QUEUE_CAP_MAX 1024

struct vd_source {
    char *url;
    int live, loop, threads;
    double deadline_ms; /* a probe: FFmpeg's calls give up then (vd_now_ms; 0: never) */
    /* decode thread only */
    AVFormatContext *fmt;
    AVCodecContext *dec;
    int stream;
    double native_fps;
    struct SwsContext *sws;
    int sws_w, sws_h, sws_sw, sws_sh, sws_fmt, sws_range, sws_cs;
    int64_t next_id;   /* cam_frame_id of the next decoded frame */
    int64_t passed;    /* frames that passed the fps filter (for nskip) */
    double next_due;   /* fps filter: time (s) the next frame is due */
    int due_set;       /* next_due is valid */
    double t_off;      /* added to stream time so pts stay monotonic over loops/reopens */
    double t_last;     /* time (s) of the last decoded frame */
    double raw_last;   /* stream time (s) of the segment's last frame (-1/fps before one) */
    int rebase;        /* next frame starts a new stream segment (open, loop, reopen) */
    int64_t seg_count; /* frames decoded in the current segment */
    /* shared */
    pthread_t thr;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* queue changed, eof, stop */
    vd_frame **q;
    int cap, head, count;
    int eof, stop; /* stop: written under mu with an atomic store */
    vd_video_conf conf;
    int64_t decoded;                             /* atomic */
    int64_t dropped;                             /* atomic: live-queue overflow */
    char last_err[sizeof(((vd_error *)0)->msg)]; /* why the last reopen failed, under mu */
    /* a live stream's state, under mu: up, since when down (vd_now_ms), times lost and
     * opened again, failed attempts since it was lost */
    int up;
    double down_since;
    int64_t lost, reconnects, attempts;
};

int vd_resolution_parse(const char *s)
{
    if (!s || !*s || !strcmp(s, "native")) return 0;
    char *end;
    long h = strtol(s, &end, 10);
    if (end == s || (*end && strcmp(end, "p")) || h < 16 || h > 4320) return -1;
    return (int)h;
}

static int is_device(const char *url)
{
    return !strncmp(url, "/dev/video", 10);
}

/* The URL's scheme is `scheme` ("rtsp": "rtsp://…"). */
static int has_scheme(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);
    return !strncmp(url, scheme, n) && !strncmp(url + n, "://", 3);
}

static int is_http(const char *url)
{
    return has_scheme(url, "http") || has_scheme(url, "https");
}

static int is_live_url(const char *url)
{
    return (strstr(url, "://") != NULL && !has_scheme(url, "file")) || is_device(url);
}

/* The schemes a source may name (docs/media.md); anything else is refused by name. */
static const char *const schemes[] = {"rtsp", "rtsps", "http", "https", "file", NULL};

int vd_source_check_url(const char *url, vd_error *err)
{
    if (!url || !*url) return vd_fail(err, VD_EINVAL, "no video given (a path or URL)");
    const char *sep = strstr(url, "://");
    if (!sep) {
        if (is_device(url)) {
            avdevice_register_all();
            if (!av_find_input_format("video4linux2"))
                return vd_fail(err, VD_EUNSUPP,
                               "%s: this FFmpeg has no video4linux2 input (libavdevice built "
                               "without V4L2)",
                               url);
        }
        return 0;
    }
    size_t n = (size_t)(sep - url);
    int k = 0;
    while (schemes[k] && (strlen(schemes[k]) != n || strncmp(schemes[k], url, n))) k++;
    if (!schemes[k])
        return vd_fail(err, VD_EINVAL,
                       "%.200s: unknown scheme '%.*s://' (give a file path, an rtsp://, "
                       "rtsps://, http:// or https:// URL, or /dev/videoN)",
                       url, (int)(n < 32 ? n : 32), url);
    if (!sep[3]) return vd_fail(err, VD_EINVAL, "%s: no host or path after the scheme", url);
    /* RTSP is a demuxer of its own (over TCP, or TLS for rtsps); the others are protocols */
    int rtsp = has_scheme(url, "rtsp") || has_scheme(url, "rtsps");
    if (rtsp ? !av_find_input_format("rtsp") ||
                   (has_scheme(url, "rtsps") && !avio_find_protocol_name("tls://x"))
             : !avio_find_protocol_name(url))
        return vd_fail(err, VD_EUNSUPP, "%s: this FFmpeg cannot read %.*s:// (built without it)",
                       url, (int)n, url);
    return 0;
}

/* An RTSP URL that chooses its transport with FFmpeg's own URL options ("?udp", "&tcp", …):
 * vdag then leaves the choice to them instead of asking for TCP. */
static int rtsp_url_transport(const char *url)
{
    static const char *const opts[] = {"udp", "tcp", "multicast", "http", "https", NULL};
    const char *q = strrchr(url, '?');
    while (q) {
        const char *o = q + 1, *end = strchr(o, '&');
        size_t n = end ? (size_t)(end - o) : strlen(o);
        for (int k = 0; opts[k]; k++)
            if (strlen(opts[k]) == n && !strncmp(o, opts[k], n)) return 1;
        q = end;
    }
    return 0;
}

/* FFmpeg's interrupt callback: non-zero aborts a blocking open/read (source closing, or a
 * probe past its deadline). */
static int interrupted(void *arg)
{
    vd_source *s = arg;
    if (s->deadline_ms > 0 && vd_now_ms() > s->deadline_ms) return 1;
    return __atomic_load_n(&s->stop, __ATOMIC_ACQUIRE);
}

/* A stream over HTTP that is a file: it has a duration and an end (the server lets it be
 * sought, or said its length). Read as a file, paced by its timestamps; any other is live,
 * like a camera's MJPEG. */
static int http_file(AVFormatContext *fmt)
{
    return fmt->pb && fmt->duration > 0 && fmt->duration != AV_NOPTS_VALUE &&
           ((fmt->pb->seekable & AVIO_SEEKABLE_NORMAL) || avio_size(fmt->pb) > 0);
}

/* Open the container and the decoder of its best video stream; *fps gets its frame rate
 * (25 if unknown). header_only: the container only, with a video stream in it (an RTSP
 * probe: its SDP says so without a frame). On failure fills err (naming the URL) and leaves
 * fmt/dec for close_input to free. */
static int open_input(vd_source *s, double *fps, int header_only, vd_error *err)
{
    const AVInputFormat *ifmt = NULL;
    if (is_device(s->url)) {
        avdevice_register_all();
        ifmt = av_find_input_format("video4linux2");
        if (!ifmt)
            return vd_fail(err, VD_EUNSUPP,
                           "%s: this FFmpeg has no video4linux2 input (rebuild with libavdevice "
                           "V4L2 support)",
                           s->url);
    }
    s->fmt = avformat_alloc_context();
    if (!s->fmt) return vd_fail(err, VD_ENOMEM, "%s: out of memory", s->url);
    s->fmt->interrupt_callback = (AVIOInterruptCB){interrupted, s};
    AVDictionary *o = NULL;
    int rtsp = has_scheme(s->url, "rtsp") || has_scheme(s->url, "rtsps");
    if (rtsp && !rtsp_url_transport(s->url)) av_dict_set(&o, "rtsp_transport", "tcp", 0);
    if (rtsp) av_dict_set(&o, "timeout", "5000000", 0); /* its sockets' I/O, µs */
    if (s->live && strstr(s->url, "://")) av_dict_set(&o, "rw_timeout", "5000000", 0);
    int rc = avformat_open_input(&s->fmt, s->url, ifmt, &o); /* frees fmt on failure */
    av_dict_free(&o);
    char e[128];
    if (rc == AVERROR_INVALIDDATA) {
        av_strerror(rc, e, sizeof e);
        return vd_fail(
            err, VD_EFORMAT,
            "%s: not a video FFmpeg can read (%s); give a video file, URL or /dev/videoN", s->url,
            e);
    }
    if (rc < 0) {
        av_strerror(rc, e, sizeof e);
        return vd_fail(err, VD_EIO, "%s: cannot open video: %s (%s)", s->url, e,
                       rtsp && !rtsp_url_transport(s->url) && rc != AVERROR(ECONNREFUSED)
                           ? "check the URL; a server that sends RTP over UDP only takes ?udp"
                           : "check the path or URL");
    }
    if (header_only) {
        for (unsigned i = 0; i < s->fmt->nb_streams; i++)
            if (s->fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
                s->stream = (int)i;
                return 0;
            }
        return vd_fail(err, VD_EFORMAT, "%s: has no video stream", s->url);
    }
    /* probing decodes frames: with max_pixels, a huge one fails instead of being allocated */
    unsigned ns = s->fmt->nb_streams;
    AVDictionary **po = av_calloc(ns ? ns : 1, sizeof *po);
    char mp[32];
    snprintf(mp, sizeof mp, "%lld", (long long)vd_media_max_pixels());
    for (unsigned i = 0; po && i < ns; i++) av_dict_set(&po[i], "max_pixels", mp, 0);
    rc = avformat_find_stream_info(s->fmt, po);
    for (unsigned i = 0; po && i < ns; i++) av_dict_free(&po[i]);
    av_free(po);
    s->stream = av_find_best_stream(s->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (s->stream >= 0 && vd_media_check_pixels(s->url, s->fmt->streams[s->stream]->codecpar->width,
                                                s->fmt->streams[s->stream]->codecpar->height, err))
        return VD_ETOOBIG;
    if (rc < 0) {
        av_strerror(rc, e, sizeof e);
        return vd_fail(err, VD_EFORMAT, "%s: not a video FFmpeg can read: %s", s->url, e);
    }
    if (s->stream < 0)
        return vd_fail(err, VD_EFORMAT, "%s: has no video stream (give a video file)", s->url);
    AVStream *st = s->fmt->streams[s->stream];
    if (st->codecpar->width <= 0 || st->codecpar->height <= 0) /* probing failed to decode */
        return vd_fail(err, VD_EFORMAT,
                       "%s: no picture size could be found in the video stream (a damaged "
                       "stream, or pictures over this node's %.1f Mpx limit: --max-pixels)",
                       s->url, (double)vd_media_max_pixels() / 1e6);
    const AVCodec *c = avcodec_find_decoder(st->codecpar->codec_id);
    if (!c)
        return vd_fail(err, VD_EUNSUPP, "%s: no decoder for codec %s in this FFmpeg", s->url,
                       avcodec_get_name(st->codecpar->codec_id));
    s->dec = avcodec_alloc_context3(c);
    if (!s->dec) return vd_fail(err, VD_ENOMEM, "%s: out of memory", s->url);
    if ((rc = avcodec_parameters_to_context(s->dec, st->codecpar)) < 0)
        return vd_fail(err, VD_EBACKEND, "%s: bad codec parameters", s->url);
    s->dec->thread_count = s->threads;          /* FFmpeg defaults to 1 from C */
    s->dec->max_pixels = vd_media_max_pixels(); /* frames larger than the header said fail */
    if ((rc = avcodec_open2(s->dec, c, NULL)) < 0) {
        av_strerror(rc, e, sizeof e);
        return vd_fail(err, VD_EUNSUPP, "%s: cannot open the %s decoder: %s", s->url, c->name, e);
    }
    AVRational r = st->avg_frame_rate.num ? st->avg_frame_rate : st->r_frame_rate;
    *fps = r.num && r.den ? av_q2d(r) : 25.0;
    if (!(*fps > 0 && *fps <= 1000)) *fps = 25.0;
    return 0;
}

/* Free the decoder and container (both may be NULL). */
static void close_input(vd_source *s)
{
    avcodec_free_context(&s->dec);
    avformat_close_input(&s->fmt);
}

/* Queue a frame; files wait for room (back-pressure), live sources drop the oldest. */
static void push(vd_source *s, vd_frame *f)
{
    pthread_mutex_lock(&s->mu);
    while (!s->live && s->count == s->cap && !s->stop) pthread_cond_wait(&s->cv, &s->mu);
    if (s->stop) {
        pthread_mutex_unlock(&s->mu);
        vd_frame_free(f);
        return;
    }
    if (s->count == s->cap) { /* live overflow: the consumer is behind */
        vd_frame_free(s->q[s->head]);
        s->head = (s->head + 1) % s->cap;
        s->count--;
        __atomic_add_fetch(&s->dropped, 1, __ATOMIC_RELAXED);
    }
    s->q[(s->head + s->count) % s->cap] = f;
    s->count++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Whether the decoded frame at time t (s) is processed under the current conf: the fps
 * filter keeps a frame once its due time has come (due times advance by 1/fps from the
 * previous due time, so the average rate is exact; a gap over 1 s or a jump backwards
 * restarts the schedule), then nskip keeps one frame in nskip+1 of those. */
static int select_frame(vd_source *s, double t)
{
    pthread_mutex_lock(&s->mu);
    vd_video_conf c = s->conf;
    pthread_mutex_unlock(&s->mu);
    if (c.fps > 0 && c.fps < s->native_fps) {
        double period = 1.0 / c.fps, eps = 0.25 / s->native_fps;
        int due = s->due_set && t + eps >= s->next_due;
        if (s->due_set && !due && s->next_due - t < period + 1.0) return 0; /* not yet due */
        s->next_due = (due && t - s->next_due < 1.0 ? s->next_due : t) + period;
        s->due_set = 1;
    }
    int64_t k = s->passed++;
    return c.nskip <= 0 || k % (c.nskip + 1) == 0;
}

struct SwsContext *vd__sws_to_rgb(int sw, int sh, int fmt, int full_range, int colorspace, int dw,
                                  int dh)
{
    switch (fmt) { /* swscale warns on the J formats: use the plain one + full range */
    case AV_PIX_FMT_YUVJ420P:
        fmt = AV_PIX_FMT_YUV420P, full_range = 1;
        break;
    case AV_PIX_FMT_YUVJ422P:
        fmt = AV_PIX_FMT_YUV422P, full_range = 1;
        break;
    case AV_PIX_FMT_YUVJ444P:
        fmt = AV_PIX_FMT_YUV444P, full_range = 1;
        break;
    case AV_PIX_FMT_YUVJ440P:
        fmt = AV_PIX_FMT_YUV440P, full_range = 1;
        break;
    default:
        break;
    }
    struct SwsContext *sws =
        sws_getContext(sw, sh, fmt, dw, dh, AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(fmt);
    if (sws && d && !(d->flags & AV_PIX_FMT_FLAG_RGB) && d->nb_components >= 3) {
        int cs = colorspace == AVCOL_SPC_BT709 || colorspace == AVCOL_SPC_BT2020_NCL
                     ? colorspace
                     : SWS_CS_DEFAULT;
        const int *coef = sws_getCoefficients(cs);
        sws_setColorspaceDetails(sws, coef, full_range, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0,
                                 1 << 16, 1 << 16);
    }
    return sws;
}

/* Convert a decoded frame to RGB24 at the conf's output height (aspect kept, even width),
 * reusing the cached swscale context while sizes and format stay the same. O(w*h). */
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
    int full = fr->color_range == AVCOL_RANGE_JPEG;
    if (!s->sws || s->sws_w != w || s->sws_h != h || s->sws_sw != fr->width ||
        s->sws_sh != fr->height || s->sws_fmt != fr->format || s->sws_range != full ||
        s->sws_cs != (int)fr->colorspace) {
        sws_freeContext(s->sws);
        s->sws = vd__sws_to_rgb(fr->width, fr->height, fr->format, full, fr->colorspace, w, h);
        s->sws_w = w, s->sws_h = h, s->sws_sw = fr->width, s->sws_sh = fr->height;
        s->sws_fmt = fr->format, s->sws_range = full, s->sws_cs = (int)fr->colorspace;
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

/* One decoded frame: give it an id and a monotonic time, select, convert, queue. */
static void handle(vd_source *s, const AVFrame *fr)
{
    int64_t id = s->next_id++;
    s->seg_count++;
    __atomic_add_fetch(&s->decoded, 1, __ATOMIC_RELAXED);
    AVStream *st = s->fmt->streams[s->stream];
    int64_t pts = fr->best_effort_timestamp;
    /* a frame without a timestamp (the last of a packed-B-frame file, drained at its end)
     * comes one period after the previous one of its segment; never from the frame count
     * since the start, which includes every earlier loop and would put it loops ahead */
    double raw = pts != AV_NOPTS_VALUE ? (double)pts * av_q2d(st->time_base)
                                       : s->raw_last + 1.0 / s->native_fps;
    s->raw_last = raw;
    if (s->rebase) { /* a new segment continues one frame period after the last frame */
        s->t_off = s->t_last + 1.0 / s->native_fps - raw;
        s->rebase = 0;
    }
    double t = raw + s->t_off;
    s->t_last = t;
    if (!select_frame(s, t)) return;
    vd_frame *f = convert(s, fr);
    if (!f) return;
    f->cam_frame_id = id;
    f->pts_us = (int64_t)(t * 1e6 + 0.5);
    push(s, f);
}

static int stopping(vd_source *s)
{
    return __atomic_load_n(&s->stop, __ATOMIC_ACQUIRE);
}

/* Sleep up to `sec` seconds or until the source is closed; returns non-zero if closed. */
static int sleep_unless_stopped(vd_source *s, double sec)
{
    struct timespec dl = vd_deadline(CLOCK_MONOTONIC, sec * 1000);
    pthread_mutex_lock(&s->mu);
    while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &dl) != ETIMEDOUT) {
    }
    int st = s->stop;
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* Start a new segment of the stream (after open, loop or reopen). */
static void new_segment(vd_source *s)
{
    s->rebase = 1;
    s->seg_count = 0;
    s->raw_last = s->native_fps > 0 ? -1.0 / s->native_fps : 0;
}

/* The decode thread: read, decode and queue until the end of a file, or forever for a
 * looping file or live source (reopened with exponential back-off) until closed. */
static void *run(void *arg)
{
    vd_source *s = arg;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *fr = av_frame_alloc();
    double backoff = BACKOFF_MIN_S;
    while (pkt && fr && !stopping(s)) {
        int rc = s->fmt ? av_read_frame(s->fmt, pkt) : AVERROR(EIO);
        if (rc >= 0) {
            if (pkt->stream_index == s->stream && avcodec_send_packet(s->dec, pkt) >= 0)
                while (avcodec_receive_frame(s->dec, fr) >= 0) handle(s, fr);
            av_packet_unref(pkt);
            backoff = BACKOFF_MIN_S;
            continue;
        }
        if (rc == AVERROR(EAGAIN)) { /* a device with no frame ready yet */
            sleep_unless_stopped(s, 0.005);
            continue;
        }
        if (s->dec) { /* drain the decoder at the end of the stream */
            avcodec_send_packet(s->dec, NULL);
            while (avcodec_receive_frame(s->dec, fr) >= 0) handle(s, fr);
        }
        /* loop a file; a file with no decodable frame would spin, so it ends instead */
        if (s->loop && !s->live && s->fmt && s->seg_count > 0) {
            avcodec_flush_buffers(s->dec);
            if (av_seek_frame(s->fmt, s->stream, 0, AVSEEK_FLAG_BACKWARD) >= 0 ||
                avformat_seek_file(s->fmt, -1, INT64_MIN, 0, 0, 0) >= 0) {
                new_segment(s);
                continue;
            }
        }
        if (!s->live) break;
        /* live source dropped: reopen with back-off until closed */
        if (s->fmt) { /* it was open: lost now */
            char why[128];
            av_strerror(rc, why, sizeof why);
            pthread_mutex_lock(&s->mu);
            s->up = 0;
            s->down_since = vd_now_ms();
            s->lost++;
            s->attempts = 0;
            snprintf(s->last_err, sizeof s->last_err, "%.300s: stream lost: %s", s->url, why);
            pthread_mutex_unlock(&s->mu);
        }
        close_input(s);
        if (sleep_unless_stopped(s, backoff)) break;
        backoff = backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : backoff * 2;
        vd_error e = {0};
        double fps; /* keep the first open's rate: native_fps is read by other threads */
        if (open_input(s, &fps, 0, &e) != 0) {
            close_input(s);
            pthread_mutex_lock(&s->mu);
            snprintf(s->last_err, sizeof s->last_err, "%s", e.msg);
            s->attempts++;
            pthread_mutex_unlock(&s->mu);
        } else {
            new_segment(s);
            pthread_mutex_lock(&s->mu);
            s->last_err[0] = 0;
            s->up = 1;
            s->reconnects++;
            s->attempts = 0;
            pthread_mutex_unlock(&s->mu);
        }
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
    if (opts && (opts->queue_cap < 0 || opts->queue_cap > QUEUE_CAP_MAX))
        return vd_fail(err, VD_EINVAL, "%s: queue capacity %d out of range (1..%d, 0 = default)",
                       url, opts->queue_cap, QUEUE_CAP_MAX);
    vd_source *s = calloc(1, sizeof *s);
    if (!s) return vd_fail(err, VD_ENOMEM, "out of memory");
    s->url = strdup(url);
    s->live = is_live_url(url) || (opts && opts->force_live);
    s->loop = opts ? opts->loop : 0;
    s->threads = opts && opts->threads > 0 ? opts->threads : 1;
    s->cap = opts && opts->queue_cap > 0 ? opts->queue_cap : 8;
    if (opts) s->conf = opts->conf;
    s->q = calloc((size_t)s->cap, sizeof(vd_frame *));
    new_segment(s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = !s->url || !s->q ? vd_fail(err, VD_ENOMEM, "out of memory")
                              : open_input(s, &s->native_fps, 0, err);
    if (!rc && s->live && !(opts && opts->force_live) && is_http(url) && http_file(s->fmt))
        s->live = 0; /* a file on a web server */
    s->up = 1;
    if (!rc) s->t_last = s->raw_last = -1.0 / s->native_fps; /* the first frame is at t = 0 */
    if (!rc && pthread_create(&s->thr, NULL, run, s) != 0)
        rc = vd_fail(err, VD_ENOMEM, "%s: cannot start the decoder thread", url);
    if (rc) {
        vd_source_close(s);
        return rc;
    }
    s->started = 1;
    *out = s;
    return 0;
}

void vd_source_status_get(vd_source *s, vd_source_status *st)
{
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&s->mu);
    st->up = s->up || !s->live;
    st->lost = s->lost;
    st->reconnects = s->reconnects;
    st->attempts = s->attempts;
    st->down_ms = st->up ? 0 : vd_now_ms() - s->down_since;
    if (!st->up) snprintf(st->error, sizeof st->error, "%s", s->last_err);
    pthread_mutex_unlock(&s->mu);
}

int vd_source_probe(const char *url, int timeout_ms, vd_source_info *info, vd_error *err)
{
    memset(info, 0, sizeof *info);
    int rc = vd_source_check_url(url, err);
    if (rc) return rc;
    const char *path = has_scheme(url, "file") ? url + 7 : url;
    struct stat sb;
    if (!strstr(path, "://") && !strchr(path, '%')) { /* a file or device (not image2's %d) */
        if (stat(path, &sb))
            return vd_fail(err, errno == ENOENT ? VD_ENOTFOUND : VD_EIO, "%s: %s", url,
                           errno == ENOENT ? (is_device(path) ? "no such device" : "no such file")
                                           : strerror(errno));
        if (is_device(path) ? !S_ISCHR(sb.st_mode) : !S_ISREG(sb.st_mode))
            return vd_fail(err, VD_EINVAL, "%s: not a %s", url,
                           is_device(path) ? "video device" : "regular file");
        if (access(path, R_OK)) return vd_fail(err, VD_EIO, "%s: %s", url, strerror(errno));
    }
    vd_source *s = calloc(1, sizeof *s);
    if (!s || !(s->url = strdup(url))) {
        free(s);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    s->live = is_live_url(url);
    s->deadline_ms = vd_now_ms() + (timeout_ms > 0 ? timeout_ms : 5000);
    int rtsp = has_scheme(url, "rtsp") || has_scheme(url, "rtsps");
    double fps = 0;
    rc = open_input(s, &fps, rtsp, err);
    if (rc && vd_now_ms() > s->deadline_ms)
        rc = vd_fail(err, VD_ETIMEDOUT, "%s: no answer within %d ms", url, timeout_ms);
    if (!rc) {
        AVStream *st = s->fmt->streams[s->stream];
        info->live = s->live && !(is_http(url) && http_file(s->fmt));
        info->width = st->codecpar->width;
        info->height = st->codecpar->height;
        info->fps = s->dec ? fps : 0;
        snprintf(info->codec, sizeof info->codec, "%s", avcodec_get_name(st->codecpar->codec_id));
    }
    close_input(s);
    free(s->url);
    free(s);
    return rc;
}

int vd_source_read(vd_source *s, vd_frame **out, int timeout_ms, vd_error *err)
{
    *out = NULL;
    struct timespec dl = vd_deadline(CLOCK_MONOTONIC, timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&s->mu);
    while (s->count == 0 && !s->eof) {
        if (timeout_ms < 0)
            pthread_cond_wait(&s->cv, &s->mu);
        else if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT)
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
    } else if (s->last_err[0]) {
        rc = vd_fail(err, VD_ETIMEDOUT, "%s: no frame within %d ms; reconnecting: %s", s->url,
                     timeout_ms, s->last_err);
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
    return __atomic_load_n(&s->decoded, __ATOMIC_RELAXED);
}

int64_t vd_source_dropped(const vd_source *s)
{
    return __atomic_load_n(&s->dropped, __ATOMIC_RELAXED);
}

void vd_source_close(vd_source *s)
{
    if (!s) return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
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
