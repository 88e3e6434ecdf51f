/* Media layer on real footage: decode, video_conf (resolution, fps, nskip), looping,
 * JPEG, images, crop/scale, rendering, MJPEG output and bad media. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavutil/log.h>

#include "testlib.h"
#include "vdag/base.h"
#include "vdag/media.h"

/* Read up to max frames; returns count, fills ids. */
static int read_all(const char *path, const vd_source_opts *o, int max, int64_t *ids, int *w,
                    int *h, int *rc_end)
{
    vd_error err = {0};
    vd_source *s;
    int rc = vd_source_open(path, o, &s, &err);
    if (rc) {
        *rc_end = rc;
        return -1;
    }
    int n = 0;
    vd_frame *f;
    while (n < max && (rc = vd_source_read(s, &f, 10000, &err)) == 0) {
        if (ids) ids[n] = f->cam_frame_id;
        if (w) *w = f->width;
        if (h) *h = f->height;
        n++;
        vd_frame_free(f);
    }
    *rc_end = rc;
    vd_source_close(s);
    return n;
}

static double psnr(const vd_frame *a, const vd_frame *b)
{
    double se = 0;
    for (int y = 0; y < a->height; y++)
        for (int x = 0; x < a->width * 3; x++) {
            double d = (double)a->data[y * a->stride + x] - b->data[y * b->stride + x];
            se += d * d;
        }
    se /= (double)a->width * a->height * 3;
    return se > 0 ? 10 * log10(255.0 * 255.0 / se) : 99;
}

int main(void)
{
    av_log_set_level(AV_LOG_FATAL); /* corrupt-input tests make FFmpeg chatty */
    const char *vtest = vt_media("vtest.avi");
    int64_t ids[1000];
    int w = 0, h = 0, rc;
    vd_source_opts o = {0};

    int total = read_all(vtest, &o, 1000, ids, &w, &h, &rc);
    CHECKF(total > 700, "vtest frames %d", total);
    CHECK(rc == VD_EEOF);
    CHECK(w == 768 && h == 576);
    int mono = 1;
    for (int i = 0; i < total; i++) mono &= ids[i] == i;
    CHECK(mono);

    o.conf.resolution_h = 360;
    int n = read_all(vtest, &o, 20, NULL, &w, &h, &rc);
    CHECKF(n == 20 && w == 480 && h == 360, "360p gives %dx%d", w, h);

    memset(&o, 0, sizeof o);
    o.conf.nskip = 2;
    n = read_all(vtest, &o, 10, ids, NULL, NULL, &rc);
    CHECK(n == 10);
    for (int i = 0; i < n; i++)
        CHECKF(ids[i] == 3 * i, "nskip=2: frame %d has id %lld", i, (long long)ids[i]);

    /* fps: half the native rate keeps every other frame */
    vd_source *s;
    vd_error err = {0};
    CHECK(vd_source_open(vtest, NULL, &s, &err) == 0);
    double nat = vd_source_native_fps(s);
    CHECKF(nat > 1 && nat < 100, "native fps %g", nat);
    CHECK(!vd_source_is_live(s));
    vd_source_close(s);
    memset(&o, 0, sizeof o);
    o.conf.fps = nat / 2;
    n = read_all(vtest, &o, 2000, ids, NULL, NULL, &rc);
    CHECKF(abs(n - total / 2) <= 2, "fps %g: %d of %d frames", nat / 2, n, total);
    CHECKF(n > 3 && ids[1] - ids[0] == 2 && ids[3] - ids[2] == 2, "fps ids %lld %lld",
           (long long)ids[0], (long long)ids[1]);

    /* loop: more frames than the file holds, ids keep counting */
    memset(&o, 0, sizeof o);
    o.loop = 1;
    o.conf.nskip = 9;
    n = read_all(vtest, &o, total / 10 + 20, ids, NULL, NULL, &rc);
    CHECK(n == total / 10 + 20);
    CHECKF(ids[n - 1] >= total, "looped id %lld", (long long)ids[n - 1]);

    /* conf changes at run time */
    CHECK(vd_source_open(vtest, NULL, &s, &err) == 0);
    vd_frame *f;
    CHECK(vd_source_read(s, &f, 5000, &err) == 0);
    vd_frame_free(f);
    vd_video_conf c = {.resolution_h = 480};
    vd_source_set_conf(s, &c);
    int got480 = 0;
    for (int i = 0; i < 30 && vd_source_read(s, &f, 5000, &err) == 0; i++) {
        got480 |= f->height == 480 && f->width == 640 && f->src_width == 768;
        vd_frame_free(f);
    }
    CHECK(got480);
    vd_source_close(s);

    /* JPEG round trip of a real frame */
    CHECK(vd_source_open(vtest, NULL, &s, &err) == 0);
    CHECK(vd_source_read(s, &f, 5000, &err) == 0);
    vd_source_close(s);
    unsigned char *jpg;
    size_t len;
    CHECK(vd_jpeg_encode(f, 90, &jpg, &len, &err) == 0);
    vd_frame *back;
    CHECK(vd_jpeg_decode(jpg, len, &back, &err) == 0);
    CHECK(back->width == f->width && back->height == f->height);
    double p = psnr(f, back);
    CHECKF(p > 30, "PSNR %g", p);
    vd_frame_free(back);
    CHECK(vd_jpeg_decode((const unsigned char *)"nope", 4, &back, &err) == VD_EFORMAT ||
          (vd_frame_free(back), 0));
    free(jpg);

    /* rendering: the box border changes, far outside does not; text renders */
    vd_frame *r = vd_frame_new(f->width, f->height);
    memcpy(r->data, f->data, (size_t)f->stride * f->height);
    vd_canvas *cv;
    CHECK(vd_canvas_begin(r, &cv, &err) == 0);
    vd_draw_box(cv, 100, 100, 200, 200, (vd_rgb){255, 0, 0}, 3);
    vd_draw_label(cv, 300, 300, "person 0.91", (vd_rgb){0, 0, 255}, 14);
    const char *lines[] = {"frames 12", "person 5"};
    vd_draw_text_block(cv, lines, 2, 14);
    float pts[4] = {500, 500, 510, 510};
    vd_draw_points(cv, pts, 2, (vd_rgb){0, 255, 0}, 2);
    vd_canvas_end(cv);
    const unsigned char *px = r->data + 100 * r->stride + 150 * 3;
    CHECKF(px[0] > 200 && px[1] < 60 && px[2] < 60, "box border pixel %d,%d,%d", px[0], px[1],
           px[2]);
    CHECK(!memcmp(r->data + 150 * r->stride + 150 * 3, f->data + 150 * f->stride + 150 * 3, 3));
    CHECK(!memcmp(r->data + 400 * r->stride + 700 * 3, f->data + 400 * f->stride + 700 * 3, 3));
    int changed = 0;
    for (int y = 300; y < 320; y++)
        for (int x = 300; x < 380; x++)
            changed += r->data[y * r->stride + 3 * x + 2] != f->data[y * f->stride + 3 * x + 2];
    CHECKF(changed > 100, "label changed %d pixels", changed);

    /* MJPEG writer: file and directory */
    char tmpl[] = "/tmp/vdag_mediaXXXXXX";
    CHECK(mkdtemp(tmpl) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/out.mjpeg", tmpl);
    vd_mjpeg_writer *mw;
    CHECK(vd_mjpeg_open(path, 80, &mw, &err) == 0);
    CHECK(vd_mjpeg_write(mw, r, &err) == 0);
    CHECK(vd_mjpeg_write(mw, f, &err) == 0);
    vd_mjpeg_close(mw);
    char *data;
    size_t dl;
    CHECK(vd_read_file(path, 0, &data, &dl, &err) == 0);
    CHECK(dl > 1000 && (unsigned char)data[0] == 0xff && (unsigned char)data[1] == 0xd8);
    CHECK(vd_jpeg_decode((unsigned char *)data, dl, &back, &err) == 0);
    if (back) CHECK(back->width == r->width);
    vd_frame_free(back);
    free(data);
    snprintf(path, sizeof path, "%s/frames/", tmpl);
    CHECK(vd_mjpeg_open(path, 80, &mw, &err) == 0);
    CHECK(vd_mjpeg_write(mw, r, &err) == 0);
    vd_mjpeg_close(mw);
    snprintf(path, sizeof path, "%s/frames/frame_000001.jpg", tmpl);
    vd_frame *img;
    CHECK(vd_image_load(path, &img, &err) == 0);
    vd_frame_free(img);

    /* images, scale and crop */
    CHECK(vd_image_load(vt_media("messi5.jpg"), &img, &err) == 0);
    CHECK(img->width == 548 && img->height == 342);
    vd_frame *sc;
    CHECK(vd_frame_scale(img, 128, 64, &sc, &err) == 0);
    CHECK(sc->width == 128 && sc->height == 64);
    vd_frame_free(sc);
    CHECK(vd_frame_crop_resize(img, -50, -50, 100, 100, 64, 64, &sc, &err) == 0);
    CHECK(sc->data[0] == 0 && sc->data[1] == 0); /* outside the image is black */
    CHECK(sc->data[63 * sc->stride + 63 * 3] != 0 || sc->data[63 * sc->stride + 63 * 3 + 1] != 0);
    vd_frame_free(sc);
    vd_frame_free(img);
    CHECK(vd_image_load(vt_media("basketball1.png"), &img, &err) == 0);
    CHECK(img->width == 640 && img->height == 480);
    vd_frame_free(img);

    /* bad media: missing, not a video, truncated */
    rc = vd_source_open("/nonexistent/video.avi", NULL, &s, &err);
    CHECK(rc == VD_EIO && strstr(err.msg, "/nonexistent/video.avi"));
    snprintf(path, sizeof path, "%s/notvideo.avi", tmpl);
    FILE *t = fopen(path, "w");
    fputs("this is not a video at all\n", t);
    fclose(t);
    rc = vd_source_open(path, NULL, &s, &err);
    CHECKF(rc == VD_EFORMAT && strstr(err.msg, path), "not a video: %d %s", rc, err.msg);
    char *whole;
    size_t wl;
    CHECK(vd_read_file(vtest, 0, &whole, &wl, &err) == 0);
    snprintf(path, sizeof path, "%s/trunc.avi", tmpl);
    t = fopen(path, "wb");
    fwrite(whole, 1, wl * 4 / 10, t);
    fclose(t);
    free(whole);
    memset(&o, 0, sizeof o);
    n = read_all(path, &o, 2000, NULL, NULL, NULL, &rc);
    CHECKF(n > 50 && n < total, "truncated file gave %d frames (of %d)", n, total);
    CHECK(rc == VD_EEOF);

    CHECK(vd_resolution_parse("480p") == 480 && vd_resolution_parse("native") == 0 &&
          vd_resolution_parse("abc") < 0);
    vd_frame_free(r);
    vd_frame_free(f);
    snprintf(path, sizeof path, "rm -rf %s", tmpl);
    if (system(path) != 0) fprintf(stderr, "cleanup failed\n");
    return vt_finish();
}
