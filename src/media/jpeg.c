/* JPEG through libjpeg-turbo's TurboJPEG API, and the MJPEG writer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#include "vdag/media.h"

int vd_jpeg_encode(const vd_frame *f, int quality, unsigned char **out, size_t *len, vd_error *err)
{
    *out = NULL;
    *len = 0;
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

int vd_jpeg_decode(const unsigned char *data, size_t len, vd_frame **out, vd_error *err)
{
    *out = NULL;
    tjhandle h = tjInitDecompress();
    if (!h) return vd_fail(err, VD_ENOMEM, "jpeg: cannot create decoder");
    int w, hh, sub, cs;
    if (tjDecompressHeader3(h, data, (unsigned long)len, &w, &hh, &sub, &cs) != 0) {
        int e = vd_fail(err, VD_EFORMAT, "jpeg: not a JPEG image: %s", tjGetErrorStr2(h));
        tjDestroy(h);
        return e;
    }
    vd_frame *f = vd_frame_new(w, hh);
    if (!f) {
        tjDestroy(h);
        return vd_fail(err, VD_ENOMEM, "out of memory for %dx%d", w, hh);
    }
    if (tjDecompress2(h, data, (unsigned long)len, f->data, w, f->stride, hh, TJPF_RGB,
                      TJFLAG_FASTDCT) != 0 &&
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
    FILE *f;   /* single-file mode */
    char *dir; /* directory mode */
    int quality;
    long n;
};

int vd_mjpeg_open(const char *path, int quality, vd_mjpeg_writer **out, vd_error *err)
{
    *out = NULL;
    vd_mjpeg_writer *w = calloc(1, sizeof *w);
    if (!w) return vd_fail(err, VD_ENOMEM, "out of memory");
    w->quality = quality > 0 ? quality : 85;
    struct stat st;
    size_t l = strlen(path);
    if ((l && path[l - 1] == '/') || (stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
        mkdir(path, 0755);
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
            free(w);
            return vd_fail(err, VD_EIO, "%s: cannot create directory for rendered frames", path);
        }
        w->dir = strdup(path);
    } else {
        w->f = fopen(path, "wb");
        if (!w->f) {
            int e =
                vd_fail(err, VD_EIO, "%s: cannot write rendered video: %s", path, strerror(errno));
            free(w);
            return e;
        }
    }
    *out = w;
    return 0;
}

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
    if (w->dir) fclose(o);
    free(jpg);
    if (wr != n) return vd_fail(err, VD_EIO, "rendered video: short write (disk full?)");
    return 0;
}

void vd_mjpeg_close(vd_mjpeg_writer *w)
{
    if (!w) return;
    if (w->f) fclose(w->f);
    free(w->dir);
    free(w);
}
