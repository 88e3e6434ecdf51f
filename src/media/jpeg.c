/*
 * JPEG through libjpeg-turbo's TurboJPEG API (a handle per call: thread-safe, ~µs to
 * create beside ms to code a frame), and the MJPEG writer (one writer per thread).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <pthread.h>
#include <pthreadpool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#include "vdag/media.h"

static _Atomic int64_t max_pixels = VD_MAX_PIXELS_DEFAULT;

void vd_media_set_max_pixels(int64_t px)
{
    atomic_store(&max_pixels, px > 0 ? px : VD_MAX_PIXELS_DEFAULT);
}

int64_t vd_media_max_pixels(void)
{
    return atomic_load(&max_pixels);
}

int vd_media_check_pixels(const char *what, int64_t w, int64_t h, vd_error *err)
{
    int64_t lim = vd_media_max_pixels();
    if (w <= 0 || h <= 0 || w * h <= lim) return 0;
    return vd_fail(err, VD_ETOOBIG,
                   "%s: a %" PRId64 "x%" PRId64 " picture (%.1f Mpx) is over this node's limit of "
                   "%.1f Mpx: send a smaller image (or raise --max-pixels)",
                   what, w, h, (double)(w * h) / 1e6, (double)lim / 1e6);
}

/* Encode an RGB24 frame as baseline JPEG, 4:2:0, at `quality` (clamped to 1..100). */
int vd_jpeg_encode(const vd_frame *f, int quality, unsigned char **out, size_t *len, vd_error *err)
{
    *out = NULL;
    *len = 0;
    if (!f || !f->data || f->width <= 0 || f->height <= 0)
        return vd_fail(err, VD_EINVAL, "jpeg: cannot encode an empty frame");
    tjhandle h = tjInitCompress();
    if (!h) return vd_fail(err, VD_ENOMEM, "jpeg: cannot create encoder");
    unsigned char *buf = NULL;
    unsigned long n = 0;
    if (quality < 1) quality = 1;
    if (quality > 100) quality = 100;
    int rc = tjCompress2(h, f->data, f->width, f->stride, f->height, TJPF_RGB, &buf, &n, TJSAMP_420,
                         quality, TJFLAG_FASTDCT);
    if (rc != 0) {
        int e = vd_fail(err, VD_EBACKEND, "jpeg: encode failed: %s", tjGetErrorStr2(h));
        tjFree(buf);
        tjDestroy(h);
        return e;
    }
    tjDestroy(h);
    /* hand back malloc'd memory so callers free() it like everything else */
    *out = malloc(n);
    if (!*out) {
        tjFree(buf);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    memcpy(*out, buf, n);
    tjFree(buf);
    *len = n;
    return 0;
}

/* Decode a JPEG (any subsampling, greyscale included) to RGB24. Recoverable damage
 * (libjpeg warnings: a truncated scan) still gives a frame; fatal errors fail. */
int vd_jpeg_decode(const unsigned char *data, size_t len, vd_frame **out, vd_error *err)
{
    return vd_jpeg_decode_scaled(data, len, 0, 0, out, err);
}

/* The most pixels a JPEG may decode to: the node's limit (vd_media_max_pixels, VD_ETOOBIG),
 * and per byte of the JPEG at most VD_JPEG_PX_PER_BYTE (a flat 4:2:0 frame at the lowest
 * quality codes ~170 pixels a byte): a header of a few bytes can claim a size under the limit
 * that the bytes cannot hold, so the claim is also held against what was sent (a truncated
 * frame still decodes; a forged size does not: VD_EFORMAT). */
#define VD_JPEG_PX_PER_BYTE 4096
#define VD_JPEG_FREE_PIXELS (1LL << 20) /* always allowed, whatever the length */

/* Width and height of a JPEG; VD_EFORMAT when it is not one, `what` ("" or "strip N is ")
 * naming it. A header cut short can "succeed" without setting the size: that is checked. */
static int read_header(tjhandle h, const unsigned char *data, size_t len, const char *what, int *w,
                       int *hh, vd_error *err)
{
    int sub, cs;
    *w = *hh = 0;
    if (tjDecompressHeader3(h, data, (unsigned long)len, w, hh, &sub, &cs) != 0 || *w <= 0 ||
        *hh <= 0 || *w > 65535 || *hh > 65535)
        return vd_fail(err, VD_EFORMAT,
                       "jpeg: %snot a JPEG image or its header is cut short (%zu bytes): %s", what,
                       len, tjGetErrorStr2(h));
    return vd_media_check_pixels("jpeg", *w, *hh, err);
}

/* Can len bytes hold a w x hh JPEG (the node's limit checked first)? VD_EFORMAT if not. */
static int bytes_hold(const char *what, int w, int hh, size_t len, vd_error *err)
{
    long long px = (long long)w * hh;
    if (px > VD_JPEG_FREE_PIXELS && (unsigned long long)px / VD_JPEG_PX_PER_BYTE > len)
        return vd_fail(err, VD_EFORMAT,
                       "jpeg: %sa %dx%d image in %zu bytes: more than a frame can be (at most %d "
                       "pixels per byte)",
                       what, w, hh, len, VD_JPEG_PX_PER_BYTE);
    return 0;
}

/* Decode to RGB rows at dst (w x hh pixels, stride bytes apart); -1 on a fatal error only
 * (recoverable damage such as a truncated scan still fills the rows). */
static int decode_rows(tjhandle h, const unsigned char *data, size_t len, unsigned char *dst, int w,
                       int stride, int hh)
{
    return tjDecompress2(h, data, (unsigned long)len, dst, w, stride, hh, TJPF_RGB,
                         TJFLAG_FASTDCT | TJFLAG_FASTUPSAMPLE) != 0 &&
                   tjGetErrorCode(h) == TJERR_FATAL
               ? -1
               : 0;
}

/* libjpeg-turbo scales in the IDCT. Only 1/2, 1/4 and 1/8 have SIMD code (the other M/8
 * factors are slower than a full decode); take the smallest whose output is at least ~90% of
 * min_w x min_h (a consumer resizing to that size sees the same detail). */
static tjscalingfactor pick_scale(int w, int h, int min_w, int min_h)
{
    static const tjscalingfactor fast[] = {{1, 8}, {1, 4}, {1, 2}};
    tjscalingfactor one = {1, 1};
    if (min_w <= 0 && min_h <= 0) return one;
    for (int i = 0; i < 3; i++)
        if (TJSCALED(w, fast[i]) * 10 >= min_w * 9 && TJSCALED(h, fast[i]) * 10 >= min_h * 9)
            return fast[i];
    return one;
}

int vd_jpeg_decode_scaled(const unsigned char *data, size_t len, int min_w, int min_h,
                          vd_frame **out, vd_error *err)
{
    *out = NULL;
    if (!data || len < 4)
        return vd_fail(err, VD_EFORMAT, "jpeg: not a JPEG image (%zu bytes)", len);
    tjhandle h = tjInitDecompress();
    if (!h) return vd_fail(err, VD_ENOMEM, "jpeg: cannot create decoder");
    int w, hh, rc = read_header(h, data, len, "", &w, &hh, err);
    if (!rc) rc = bytes_hold("", w, hh, len, err);
    if (rc) {
        tjDestroy(h);
        return rc;
    }
    tjscalingfactor sf = pick_scale(w, hh, min_w, min_h);
    int ow = TJSCALED(w, sf), oh = TJSCALED(hh, sf);
    vd_frame *f = vd_frame_new_uninit(ow, oh);
    if (!f) {
        tjDestroy(h);
        return vd_fail(err, VD_ENOMEM, "out of memory for %dx%d", ow, oh);
    }
    f->src_width = w; /* coordinates stay in the image's own pixels */
    f->src_height = hh;
    if (decode_rows(h, data, len, f->data, ow, f->stride, oh)) {
        int e = vd_fail(err, VD_EFORMAT, "jpeg: decode failed: %s", tjGetErrorStr2(h));
        vd_frame_free(f);
        tjDestroy(h);
        return e;
    }
    tjDestroy(h);
    *out = f;
    return 0;
}

/* ---- parallel strip coder ------------------------------------------------------------ */

struct vd_jpeg_coder {
    pthread_mutex_t mu;
    pthreadpool_t pool; /* NULL with one strip */
    int parts;
    tjhandle enc[VD_JPEG_MAX_PARTS], dec[VD_JPEG_MAX_PARTS];
    unsigned char *buf[VD_JPEG_MAX_PARTS]; /* worst-case output buffers, kept */
    unsigned long cap[VD_JPEG_MAX_PARTS];
    /* the job the pool runs */
    const vd_frame *f;
    int quality;
    int y0[VD_JPEG_MAX_PARTS + 1]; /* strip rows (encode: source rows; decode: output rows) */
    unsigned long size[VD_JPEG_MAX_PARTS];
    const unsigned char *src[VD_JPEG_MAX_PARTS];
    size_t src_len[VD_JPEG_MAX_PARTS];
    vd_frame *out;
    int rc[VD_JPEG_MAX_PARTS];
};

int vd_jpeg_coder_new(int parts, vd_jpeg_coder **out, vd_error *err)
{
    *out = NULL;
    if (parts < 1 || parts > VD_JPEG_MAX_PARTS)
        return vd_fail(err, VD_EINVAL, "jpeg coder: %d strips (1..%d)", parts, VD_JPEG_MAX_PARTS);
    vd_jpeg_coder *c = calloc(1, sizeof *c);
    if (!c) return vd_fail(err, VD_ENOMEM, "out of memory");
    pthread_mutex_init(&c->mu, NULL);
    c->parts = parts;
    int ok = 1;
    for (int i = 0; i < VD_JPEG_MAX_PARTS; i++) {
        c->dec[i] = tjInitDecompress();
        if (i < parts) c->enc[i] = tjInitCompress();
        ok &= c->dec[i] && (i >= parts || c->enc[i]);
    }
    /* the calling thread works on a strip too: parts - 1 more threads */
    if (ok && parts > 1) ok = (c->pool = pthreadpool_create((size_t)parts)) != NULL;
    if (!ok) {
        vd_jpeg_coder_free(c);
        return vd_fail(err, VD_ENOMEM, "jpeg coder: cannot create encoders or threads");
    }
    *out = c;
    return 0;
}

void vd_jpeg_coder_free(vd_jpeg_coder *c)
{
    if (!c) return;
    if (c->pool) pthreadpool_destroy(c->pool);
    for (int i = 0; i < VD_JPEG_MAX_PARTS; i++) {
        if (c->enc[i]) tjDestroy(c->enc[i]);
        if (c->dec[i]) tjDestroy(c->dec[i]);
        tjFree(c->buf[i]);
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void run_parts(vd_jpeg_coder *c, void (*task)(void *, size_t), int n)
{
    if (c->pool && n > 1)
        pthreadpool_parallelize_1d(c->pool, task, c, (size_t)n, PTHREADPOOL_FLAG_YIELD_WORKERS);
    else
        for (int i = 0; i < n; i++) task(c, (size_t)i);
}

static void encode_part(void *arg, size_t i)
{
    vd_jpeg_coder *c = arg;
    const vd_frame *f = c->f;
    int h = c->y0[i + 1] - c->y0[i];
    c->size[i] = c->cap[i];
    c->rc[i] = tjCompress2(c->enc[i], f->data + (size_t)c->y0[i] * (size_t)f->stride, f->width,
                           f->stride, h, TJPF_RGB, &c->buf[i], &c->size[i], TJSAMP_420, c->quality,
                           TJFLAG_FASTDCT | TJFLAG_NOREALLOC);
}

int vd_jpeg_coder_encode(vd_jpeg_coder *c, const vd_frame *f, int quality, vd_jpeg_parts *out,
                         vd_error *err)
{
    memset(out, 0, sizeof *out);
    if (!f || !f->data || f->width <= 0 || f->height <= 0)
        return vd_fail(err, VD_EINVAL, "jpeg: cannot encode an empty frame");
    pthread_mutex_lock(&c->mu);
    int n = c->parts;
    while (n > 1 && f->height < 16 * n) n--;
    int rows = n > 1 ? f->height / n / 16 * 16 : f->height;
    for (int i = 0; i <= n; i++) c->y0[i] = i == n ? f->height : i * rows;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) { /* worst-case buffers, so coding never reallocates */
        unsigned long need = tjBufSize(f->width, c->y0[i + 1] - c->y0[i], TJSAMP_420);
        if (need == (unsigned long)-1) {
            rc = vd_fail(err, VD_EINVAL, "jpeg: a %dx%d frame is too large", f->width, f->height);
        } else if (c->cap[i] < need) {
            tjFree(c->buf[i]);
            c->cap[i] = 0;
            if (!(c->buf[i] = tjAlloc((int)need)))
                rc = vd_fail(err, VD_ENOMEM, "out of memory for a JPEG buffer");
            else
                c->cap[i] = need;
        }
    }
    if (!rc) {
        c->f = f;
        c->quality = quality < 1 ? 1 : quality > 100 ? 100 : quality;
        run_parts(c, encode_part, n);
        size_t total = 0;
        for (int i = 0; i < n && !rc; i++) {
            if (c->rc[i])
                rc =
                    vd_fail(err, VD_EBACKEND, "jpeg: encode failed: %s", tjGetErrorStr2(c->enc[i]));
            total += c->size[i];
        }
        if (!rc && !(out->data = malloc(total))) rc = vd_fail(err, VD_ENOMEM, "out of memory");
        for (int i = 0, off = 0; !rc && i < n; off += (int)c->size[i], i++) {
            memcpy(out->data + off, c->buf[i], c->size[i]);
            out->part_len[i] = c->size[i];
        }
        if (!rc) out->len = total, out->n = n;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static void decode_part(void *arg, size_t i)
{
    vd_jpeg_coder *c = arg;
    vd_frame *o = c->out;
    int h = c->y0[i + 1] - c->y0[i];
    c->rc[i] = decode_rows(c->dec[i], c->src[i], c->src_len[i],
                           o->data + (size_t)c->y0[i] * (size_t)o->stride, o->width, o->stride, h);
}

int vd_jpeg_coder_decode(vd_jpeg_coder *c, const vd_jpeg_parts *in, int min_w, int min_h,
                         vd_frame **out, vd_error *err)
{
    *out = NULL;
    if (!in || in->n < 1 || in->n > VD_JPEG_MAX_PARTS)
        return vd_fail(err, VD_EINVAL, "jpeg: %d strips (1..%d)", in ? in->n : 0,
                       VD_JPEG_MAX_PARTS);
    pthread_mutex_lock(&c->mu);
    int rc = 0, w0 = 0, hs[VD_JPEG_MAX_PARTS], total_h = 0;
    size_t off = 0;
    for (int i = 0; i < in->n && !rc; i++) {
        int w, h;
        size_t l = in->part_len[i];
        if (l > in->len - off || l < 4) {
            rc = vd_fail(err, VD_EFORMAT, "jpeg: strip %d of %zu bytes overruns the %zu-byte image",
                         i, l, in->len);
            break;
        }
        c->src[i] = in->data + off, c->src_len[i] = l;
        off += l;
        char what[32];
        snprintf(what, sizeof what, "strip %d is ", i);
        rc = read_header(c->dec[i], c->src[i], l, what, &w, &h, err);
        if (!rc && i > 0 && w != w0)
            rc = vd_fail(err, VD_EFORMAT, "jpeg: strip %d is %d px wide, strip 0 %d", i, w, w0);
        w0 = w, hs[i] = h, total_h += h;
    }
    if (!rc && total_h > 65535)
        rc = vd_fail(err, VD_EFORMAT, "jpeg: strips add up to %d rows", total_h);
    if (!rc) rc = vd_media_check_pixels("jpeg strips", w0, total_h, err);
    for (int i = 0; i < in->n && !rc; i++) {
        char what[32];
        snprintf(what, sizeof what, "strip %d is ", i);
        rc = bytes_hold(what, w0, hs[i], c->src_len[i], err);
    }
    vd_frame *f = NULL;
    if (!rc) {
        tjscalingfactor sf = pick_scale(w0, total_h, min_w, min_h);
        c->y0[0] = 0;
        for (int i = 0; i < in->n; i++) c->y0[i + 1] = c->y0[i] + TJSCALED(hs[i], sf);
        f = vd_frame_new_uninit(TJSCALED(w0, sf), c->y0[in->n]);
        if (!f) rc = vd_fail(err, VD_ENOMEM, "out of memory for a %dx%d frame", w0, total_h);
    }
    if (!rc) {
        f->src_width = w0;
        f->src_height = total_h;
        c->out = f;
        run_parts(c, decode_part, in->n);
        for (int i = 0; i < in->n && !rc; i++)
            if (c->rc[i])
                rc = vd_fail(err, VD_EFORMAT, "jpeg: strip %d: decode failed: %s", i,
                             tjGetErrorStr2(c->dec[i]));
        c->out = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    if (rc)
        vd_frame_free(f);
    else
        *out = f;
    return rc;
}

struct vd_mjpeg_writer {
    FILE *f;    /* single-file mode */
    char *dir;  /* directory mode */
    char *path; /* as given, for messages */
    int quality;
    long n;
};

/* Open a writer: a directory (existing, or a path ending in '/', created) takes numbered
 * files; anything else is created/truncated as one concatenated-JPEG .mjpeg file. */
int vd_mjpeg_open(const char *path, int quality, vd_mjpeg_writer **out, vd_error *err)
{
    *out = NULL;
    if (!path || !*path) return vd_fail(err, VD_EINVAL, "no output path for rendered frames");
    vd_mjpeg_writer *w = calloc(1, sizeof *w);
    if (!w) return vd_fail(err, VD_ENOMEM, "out of memory");
    w->quality = quality > 0 ? quality : 85;
    w->path = strdup(path);
    if (!w->path) {
        free(w);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    struct stat st;
    size_t l = strlen(path);
    if ((l && path[l - 1] == '/') || (stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
        mkdir(path, 0755);
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
            int e = vd_fail(err, VD_EIO,
                            "%s: cannot create directory for rendered frames: %s (does its "
                            "parent exist?)",
                            path, strerror(errno));
            vd_mjpeg_close(w);
            return e;
        }
        w->dir = strdup(path);
    } else {
        w->f = fopen(path, "wb");
        if (!w->f) {
            int e =
                vd_fail(err, VD_EIO, "%s: cannot write rendered video: %s", path, strerror(errno));
            vd_mjpeg_close(w);
            return e;
        }
    }
    *out = w;
    return 0;
}

/* Encode one frame and append it (file mode) or write frame_NNNNNN.jpg (directory mode). */
int vd_mjpeg_write(vd_mjpeg_writer *w, const vd_frame *f, vd_error *err)
{
    unsigned char *jpg;
    size_t n;
    int rc = vd_jpeg_encode(f, w->quality, &jpg, &n, err);
    if (rc) return rc;
    FILE *o = w->f;
    char path[1024];
    if (w->dir) {
        snprintf(path, sizeof path, "%s/frame_%06ld.jpg", w->dir, ++w->n);
        o = fopen(path, "wb");
        if (!o) {
            free(jpg);
            return vd_fail(err, VD_EIO, "%s: cannot write: %s", path, strerror(errno));
        }
    }
    size_t wr = fwrite(jpg, 1, n, o);
    int bad = wr != n;
    if (w->dir)
        bad |= fclose(o) != 0;
    else
        bad |= fflush(o) != 0; /* a reader (ffplay, HTTP stream) sees whole frames */
    free(jpg);
    if (bad)
        return vd_fail(err, VD_EIO, "%s: short write of a rendered frame (disk full?)",
                       w->dir ? path : w->path);
    return 0;
}

void vd_mjpeg_close(vd_mjpeg_writer *w)
{
    if (!w) return;
    if (w->f) fclose(w->f);
    free(w->dir);
    free(w->path);
    free(w);
}
