/*
 * Segments: the unit a worker decodes. A segment is the packets of one or more whole GOPs,
 * copied out of the container (no decoding, no re-encoding) with the codec parameters, so any
 * machine can decode it without the file. Starting at a keyframe, a segment decodes to the
 * same frames as decoding the file from its start (true of closed GOPs: every codec FFmpeg
 * marks keyframes for in AVI, MP4 with sync samples, Matroska; see docs/batch.md).
 *
 * Blob (vd_msg_pack): header JSON {"codec":{…AVCodecParameters…}, "tb":[num,den],
 * "pkts":[[pts,dts,flags,size,duration],…], "side":[[packet,type,size],…]} and a binary part:
 * extradata, then every packet's bytes, then every side-data entry's bytes, in order.
 *
 * Decoding follows vd_source (src/media/source.c) step for step -- the same decoder settings
 * (one thread), the same conversion (vd__sws_to_rgb, the same output size rule) -- so that
 * frames, and therefore detections, equal `vdag run`'s.
 */
#include <assert.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
#include <stdlib.h>
#include <string.h>

#include "batch/batch_internal.h"
#include "media/media_internal.h"
#include "vdag/net.h"

/* ---- probe ------------------------------------------------------------------------------- */

static int open_video(const char *path, const char *name, AVFormatContext **fmt, int *stream,
                      vd_error *err)
{
    *fmt = NULL;
    char e[128];
    int rc = avformat_open_input(fmt, path, NULL, NULL);
    if (rc < 0) {
        av_strerror(rc, e, sizeof e);
        return vd_fail(err, VD_EFORMAT,
                       "%s is not a video FFmpeg can read (%s): upload a video file (mp4, avi, "
                       "mkv, …)",
                       name, e);
    }
    if ((rc = avformat_find_stream_info(*fmt, NULL)) < 0) {
        av_strerror(rc, e, sizeof e);
        avformat_close_input(fmt);
        return vd_fail(err, VD_EFORMAT, "%s is not a video FFmpeg can read: %s", name, e);
    }
    *stream = av_find_best_stream(*fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (*stream < 0) {
        avformat_close_input(fmt);
        return vd_fail(err, VD_EUNSUPP, "%s has no video stream (%s): upload a video", name,
                       "audio or data only");
    }
    AVCodecParameters *cp = (*fmt)->streams[*stream]->codecpar;
    if (!avcodec_find_decoder(cp->codec_id)) {
        avformat_close_input(fmt);
        return vd_fail(err, VD_EUNSUPP, "%s: no decoder for codec %s in this FFmpeg", name,
                       avcodec_get_name(cp->codec_id));
    }
    if (cp->width <= 0 || cp->height <= 0) {
        avformat_close_input(fmt);
        return vd_fail(err, VD_EFORMAT, "%s: its video stream has no frame size (damaged?)", name);
    }
    return 0;
}

int vd__probe(const char *path, const char *name, vd__probe_info *info, vd_error *err)
{
    memset(info, 0, sizeof *info);
    AVFormatContext *fmt;
    int stream;
    int rc = open_video(path, name, &fmt, &stream, err);
    if (rc) return rc;
    AVStream *st = fmt->streams[stream];
    info->width = st->codecpar->width;
    info->height = st->codecpar->height;
    AVRational r = st->avg_frame_rate.num ? st->avg_frame_rate : st->r_frame_rate;
    info->fps = r.num && r.den ? av_q2d(r) : 25.0;
    info->header_frames = st->nb_frames;
    if (info->header_frames <= 0 && fmt->duration > 0)
        info->header_frames = (int64_t)(fmt->duration / 1e6 * info->fps + 0.5);
    snprintf(info->codec, sizeof info->codec, "%s", avcodec_get_name(st->codecpar->codec_id));
    snprintf(info->format, sizeof info->format, "%s", fmt->iformat->name);
    avformat_close_input(&fmt);
    return 0;
}

/* ---- building segments ------------------------------------------------------------------- */

typedef struct seg_builder {
    json_t *pkts, *side;
    unsigned char *data, *sdata;
    size_t len, cap, slen, scap;
    int n;
} seg_builder;

static int grow(unsigned char **b, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 1 << 16;
    while (c < need) c *= 2;
    unsigned char *n = realloc(*b, c);
    if (!n) return -1;
    *b = n, *cap = c;
    return 0;
}

static int builder_add(seg_builder *sb, const AVPacket *p)
{
    if (grow(&sb->data, &sb->cap, sb->len + (size_t)p->size)) return -1;
    if (p->size) memcpy(sb->data + sb->len, p->data, (size_t)p->size);
    sb->len += (size_t)p->size;
    for (int i = 0; i < p->side_data_elems; i++) {
        const AVPacketSideData *sd = &p->side_data[i];
        if (grow(&sb->sdata, &sb->scap, sb->slen + sd->size)) return -1;
        memcpy(sb->sdata + sb->slen, sd->data, sd->size);
        sb->slen += sd->size;
        json_array_append_new(sb->side,
                              json_pack("[iiI]", sb->n, (int)sd->type, (json_int_t)sd->size));
    }
    json_array_append_new(sb->pkts, json_pack("[IIiiI]", (json_int_t)p->pts, (json_int_t)p->dts,
                                              p->flags, p->size, (json_int_t)p->duration));
    sb->n++;
    return 0;
}

static json_t *codec_json(const AVCodecParameters *c)
{
    return json_pack(
        "{s:i,s:i,s:I,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:[ii],s:i,s:i,s:i,s:i,s:i,s:i,s:"
        "i,s:i}",
        "type", (int)c->codec_type, "id", (int)c->codec_id, "tag", (json_int_t)c->codec_tag,
        "format", c->format, "width", c->width, "height", c->height, "profile", c->profile, "level",
        c->level, "bpcs", c->bits_per_coded_sample, "bprs", c->bits_per_raw_sample, "sar",
        c->sample_aspect_ratio.num, c->sample_aspect_ratio.den, "field_order", (int)c->field_order,
        "color_range", (int)c->color_range, "primaries", (int)c->color_primaries, "trc",
        (int)c->color_trc, "space", (int)c->color_space, "chroma", (int)c->chroma_location,
        "video_delay", c->video_delay, "extradata", c->extradata_size);
}

/* Pack the builder into a blob and hand it to fn; the builder is emptied. */
static int builder_flush(seg_builder *sb, const AVStream *st, int seg, int64_t first, vd__seg_fn fn,
                         void *arg, vd_error *err)
{
    const AVCodecParameters *cp = st->codecpar;
    size_t ex = cp->extradata_size > 0 ? (size_t)cp->extradata_size : 0;
    size_t total = ex + sb->len + sb->slen;
    unsigned char *bin = malloc(total ? total : 1);
    json_t *hdr =
        json_pack("{s:o,s:[ii],s:O,s:O}", "codec", codec_json(cp), "tb", st->time_base.num,
                  st->time_base.den, "pkts", sb->pkts, "side", sb->side);
    int rc = 0;
    if (!bin || !hdr) {
        rc = vd_fail(err, VD_ENOMEM, "segment: out of memory");
    } else {
        if (ex) memcpy(bin, cp->extradata, ex);
        if (sb->len) memcpy(bin + ex, sb->data, sb->len);
        if (sb->slen) memcpy(bin + ex + sb->len, sb->sdata, sb->slen);
        vd_buf out = {0};
        rc = vd_msg_pack(hdr, bin, total, &out, err);
        if (!rc) rc = fn(arg, seg, first, sb->n, out.data, out.len, err);
        vd_buf_free(&out);
    }
    json_decref(hdr);
    free(bin);
    json_array_clear(sb->pkts);
    json_array_clear(sb->side);
    sb->len = sb->slen = 0;
    sb->n = 0;
    return rc;
}

int vd__segment_file(const char *path, int64_t max_frames, int min_frames, vd__seg_fn fn, void *arg,
                     int64_t *frames, vd_error *err)
{
    *frames = 0;
    AVFormatContext *fmt;
    int stream;
    int rc = open_video(path, path, &fmt, &stream, err);
    if (rc) return rc;
    AVStream *st = fmt->streams[stream];
    seg_builder sb = {.pkts = json_array(), .side = json_array()};
    AVPacket *p = av_packet_alloc();
    int64_t n = 0, first = 0;
    int seg = 0;
    if (!p || !sb.pkts || !sb.side) rc = vd_fail(err, VD_ENOMEM, "segment: out of memory");
    while (!rc && (max_frames <= 0 || n < max_frames)) {
        int r = av_read_frame(fmt, p);
        if (r < 0) break; /* the end, or where a truncated file stops */
        if (p->stream_index == stream) {
            if ((p->flags & AV_PKT_FLAG_KEY) && sb.n >= (min_frames > 0 ? min_frames : 1)) {
                rc = builder_flush(&sb, st, seg++, first, fn, arg, err);
                first = n;
            }
            if (!rc && builder_add(&sb, p)) rc = vd_fail(err, VD_ENOMEM, "segment: out of memory");
            n++;
        }
        av_packet_unref(p);
    }
    if (!rc && sb.n) rc = builder_flush(&sb, st, seg, first, fn, arg, err);
    av_packet_free(&p);
    json_decref(sb.pkts);
    json_decref(sb.side);
    free(sb.data);
    free(sb.sdata);
    avformat_close_input(&fmt);
    *frames = n;
    return rc;
}

/* ---- decoding segments ------------------------------------------------------------------- */

struct vd__segdec {
    unsigned char *blob;
    json_t *hdr;
    const unsigned char *bin;
    size_t bin_len, off, soff; /* next packet's bytes; next side data's bytes */
    size_t next_pkt, next_side, n_pkts;
    int tb_num, tb_den;
    int resolution_h;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *fr;
    int drained; /* the decoder was sent the end of the stream */
    int64_t out_index;
    struct SwsContext *sws;
    int sws_w, sws_h, sws_sw, sws_sh, sws_fmt, sws_range, sws_cs;
};

static int params_from_json(json_t *c, const unsigned char *extra, size_t ex_len,
                            AVCodecParameters *cp)
{
    int type = 0, id = 0, sar_n = 0, sar_d = 1, fo = 0, cr = 0, pr = 0, trc = 0, sp = 0, ch = 0;
    json_int_t tag = 0;
    int ex = 0;
    if (json_unpack(c,
                    "{s:i,s:i,s:I,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:[ii],s:i,s:i,s:i,s:i,s:i,s:i,s:i,"
                    "s:i}",
                    "type", &type, "id", &id, "tag", &tag, "format", &cp->format, "width",
                    &cp->width, "height", &cp->height, "profile", &cp->profile, "level", &cp->level,
                    "bpcs", &cp->bits_per_coded_sample, "bprs", &cp->bits_per_raw_sample, "sar",
                    &sar_n, &sar_d, "field_order", &fo, "color_range", &cr, "primaries", &pr, "trc",
                    &trc, "space", &sp, "chroma", &ch, "video_delay", &cp->video_delay, "extradata",
                    &ex))
        return -1;
    if (ex < 0 || (size_t)ex > ex_len) return -1;
    cp->codec_type = type;
    cp->codec_id = id;
    cp->codec_tag = (uint32_t)tag;
    cp->sample_aspect_ratio = (AVRational){sar_n, sar_d};
    cp->field_order = fo;
    cp->color_range = cr;
    cp->color_primaries = pr;
    cp->color_trc = trc;
    cp->color_space = sp;
    cp->chroma_location = ch;
    if (ex) {
        cp->extradata = av_mallocz((size_t)ex + AV_INPUT_BUFFER_PADDING_SIZE);
        if (!cp->extradata) return -1;
        memcpy(cp->extradata, extra, (size_t)ex);
        cp->extradata_size = ex;
    }
    return ex;
}

int vd__segdec_open(unsigned char *blob, size_t len, int resolution_h, vd__segdec **out,
                    vd_error *err)
{
    *out = NULL;
    vd__segdec *d = calloc(1, sizeof *d);
    if (!d) {
        free(blob);
        return vd_fail(err, VD_ENOMEM, "segment: out of memory");
    }
    d->blob = blob;
    d->resolution_h = resolution_h;
    int rc = vd_msg_unpack(blob, len, &d->hdr, &d->bin, &d->bin_len, err);
    json_t *pk = json_object_get(d->hdr, "pkts");
    if (!rc &&
        (json_unpack(d->hdr, "{s:[ii]}", "tb", &d->tb_num, &d->tb_den) || !json_is_array(pk)))
        rc = vd_fail(err, VD_EFORMAT, "segment: bad header");
    AVCodecParameters *cp = rc ? NULL : avcodec_parameters_alloc();
    int ex = -1;
    if (!rc && (!cp || (ex = params_from_json(json_object_get(d->hdr, "codec"), d->bin, d->bin_len,
                                              cp)) < 0))
        rc = vd_fail(err, VD_EFORMAT, "segment: bad codec parameters");
    const AVCodec *c = rc ? NULL : avcodec_find_decoder(cp->codec_id);
    if (!rc && !c)
        rc = vd_fail(err, VD_EUNSUPP, "segment: no decoder for codec %s in this FFmpeg",
                     avcodec_get_name(cp->codec_id));
    if (!rc && (!(d->dec = avcodec_alloc_context3(c)) || !(d->pkt = av_packet_alloc()) ||
                !(d->fr = av_frame_alloc())))
        rc = vd_fail(err, VD_ENOMEM, "segment: out of memory");
    if (!rc && avcodec_parameters_to_context(d->dec, cp) < 0)
        rc = vd_fail(err, VD_EBACKEND, "segment: bad codec parameters");
    if (!rc) {
        d->dec->thread_count = 1; /* as vd_source: FFmpeg defaults to 1 from C */
        char e[128];
        int r = avcodec_open2(d->dec, c, NULL);
        if (r < 0) {
            av_strerror(r, e, sizeof e);
            rc = vd_fail(err, VD_EUNSUPP, "segment: cannot open the %s decoder: %s", c->name, e);
        }
    }
    avcodec_parameters_free(&cp);
    if (rc) {
        vd__segdec_free(d);
        return rc;
    }
    d->off = (size_t)ex;
    d->n_pkts = json_array_size(pk);
    size_t total = d->off;
    for (size_t i = 0; i < d->n_pkts; i++)
        total += (size_t)json_integer_value(json_array_get(json_array_get(pk, i), 3));
    d->soff = total;
    if (total > d->bin_len) {
        vd__segdec_free(d);
        return vd_fail(err, VD_EFORMAT, "segment: packets run past the data (%zu > %zu bytes)",
                       total, d->bin_len);
    }
    *out = d;
    return 0;
}

/* Send the next packet (with its side data) to the decoder; 1 when none is left. */
static int send_next(vd__segdec *d)
{
    if (d->next_pkt >= d->n_pkts) return 1;
    assert(d->off <= d->bin_len);
    json_t *p = json_array_get(json_object_get(d->hdr, "pkts"), d->next_pkt);
    json_int_t pts = 0, dts = 0, dur = 0;
    int flags = 0, size = 0;
    json_unpack(p, "[IIiiI]", &pts, &dts, &flags, &size, &dur);
    if (av_new_packet(d->pkt, size) < 0) return -1;
    memcpy(d->pkt->data, d->bin + d->off, (size_t)size);
    d->off += (size_t)size;
    d->pkt->pts = pts, d->pkt->dts = dts, d->pkt->flags = flags, d->pkt->duration = dur;
    d->pkt->time_base = (AVRational){d->tb_num, d->tb_den};
    json_t *side = json_object_get(d->hdr, "side");
    for (json_t *s; (s = json_array_get(side, d->next_side));) {
        int idx = 0, type = 0;
        json_int_t sz = 0;
        json_unpack(s, "[iiI]", &idx, &type, &sz);
        if ((size_t)idx != d->next_pkt) break;
        if (sz < 0 || d->soff + (size_t)sz > d->bin_len) break;
        uint8_t *sd = av_packet_new_side_data(d->pkt, type, (size_t)sz);
        if (sd) memcpy(sd, d->bin + d->soff, (size_t)sz);
        d->soff += (size_t)sz;
        d->next_side++;
    }
    d->next_pkt++;
    avcodec_send_packet(d->dec, d->pkt); /* a bad packet is skipped, as vd_source does */
    av_packet_unref(d->pkt);
    return 0;
}

static vd_frame *convert(vd__segdec *d, const AVFrame *fr)
{
    int w = fr->width, h = fr->height, rh = d->resolution_h;
    if (rh > 0 && rh != h) {
        w = (int)((double)fr->width * rh / fr->height + 0.5) & ~1;
        h = rh;
    }
    if (w < 2) w = 2;
    int full = fr->color_range == AVCOL_RANGE_JPEG;
    if (!d->sws || d->sws_w != w || d->sws_h != h || d->sws_sw != fr->width ||
        d->sws_sh != fr->height || d->sws_fmt != fr->format || d->sws_range != full ||
        d->sws_cs != (int)fr->colorspace) {
        sws_freeContext(d->sws);
        d->sws = vd__sws_to_rgb(fr->width, fr->height, fr->format, full, fr->colorspace, w, h);
        d->sws_w = w, d->sws_h = h, d->sws_sw = fr->width, d->sws_sh = fr->height;
        d->sws_fmt = fr->format, d->sws_range = full, d->sws_cs = (int)fr->colorspace;
        if (!d->sws) return NULL;
    }
    vd_frame *f = vd_frame_new_uninit(w, h);
    if (!f) return NULL;
    uint8_t *dst[4] = {f->data};
    int ds[4] = {f->stride};
    sws_scale(d->sws, (const uint8_t *const *)fr->data, fr->linesize, 0, fr->height, dst, ds);
    f->src_width = fr->width;
    f->src_height = fr->height;
    return f;
}

int vd__segdec_next(vd__segdec *d, int convert_it, vd_frame **out, int64_t *index, vd_error *err)
{
    *out = NULL;
    for (;;) {
        int r = avcodec_receive_frame(d->dec, d->fr);
        if (r >= 0) {
            *index = d->out_index++;
            if (convert_it) *out = convert(d, d->fr);
            av_frame_unref(d->fr);
            if (convert_it && !*out)
                return vd_fail(err, VD_ENOMEM, "segment: cannot convert frame %lld",
                               (long long)*index);
            return 0;
        }
        /* EAGAIN or a decoding error: feed the next packet (vd_source does the same) */
        if (r == AVERROR_EOF || d->drained) return vd_fail(err, VD_EEOF, "segment: end");
        int s = send_next(d);
        if (s < 0) return vd_fail(err, VD_ENOMEM, "segment: out of memory");
        if (s == 1) { /* no packet left: drain the decoder */
            avcodec_send_packet(d->dec, NULL);
            d->drained = 1;
        }
    }
}

void vd__segdec_free(vd__segdec *d)
{
    if (!d) return;
    avcodec_free_context(&d->dec);
    av_packet_free(&d->pkt);
    av_frame_free(&d->fr);
    sws_freeContext(d->sws);
    json_decref(d->hdr);
    free(d->blob);
    free(d);
}
