/*
 * JPEG through libjpeg-turbo's TurboJPEG API (a handle per call: thread-safe, ~µs to
 * create beside ms to code a frame), and the MJPEG writer (one writer per thread).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#include "vdag/media.h"

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
    *out = NULL;
    if (!data || len < 4)
        return vd_fail(err, VD_EFORMAT, "jpeg: not a JPEG image (%zu bytes)", len);
    tjhandle h = tjInitDecompress();
    if (!h) return vd_fail(err, VD_ENOMEM, "jpeg: cannot create decoder");
    int w = 0, hh = 0, sub, cs;
    /* a header cut short can "succeed" without setting the size: check it */
    if (tjDecompressHeader3(h, data, (unsigned long)len, &w, &hh, &sub, &cs) != 0 || w <= 0 ||
        hh <= 0 || w > 65535 || hh > 65535) {
        int e = vd_fail(err, VD_EFORMAT,
                        "jpeg: not a JPEG image or its header is cut short (%zu bytes): %s", len,
                        tjGetErrorStr2(h));
        tjDestroy(h);
        return e;
    }
    vd_frame *f = vd_frame_new(w, hh);
    if (!f) {
        tjDestroy(h);
        return vd_fail(err, VD_ENOMEM, "out of memory for %dx%d", w, hh);
    }
    if (tjDecompress2(h, data, (unsigned long)len, f->data, w, f->stride, hh, TJPF_RGB,
                      TJFLAG_FASTDCT | TJFLAG_FASTUPSAMPLE) != 0 &&
        tjGetErrorCode(h) == TJERR_FATAL) {
        int e = vd_fail(err, VD_EFORMAT, "jpeg: decode failed: %s", tjGetErrorStr2(h));
        vd_frame_free(f);
        tjDestroy(h);
        return e;
    }
    tjDestroy(h);
    *out = f;
    return 0;
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
