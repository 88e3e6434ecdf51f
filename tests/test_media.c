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

/* Reduced-scale decode and the parallel strip coder, on a real frame (768x576). */
static void test_scaled_and_strips(const vd_frame *f, const unsigned char *jpg, size_t len)
{
    vd_error err = {0};
    vd_frame *d = NULL;
    /* 256x256 of a 768x576 frame: 1/2 (384x288) is the smallest fast scale covering it */
    CHECK(vd_jpeg_decode_scaled(jpg, len, 256, 256, &d, &err) == 0);
    CHECKF(d && d->width == 384 && d->height == 288 && d->src_width == 768 && d->src_height == 576,
           "%dx%d of %dx%d", d ? d->width : 0, d ? d->height : 0, d ? d->src_width : 0,
           d ? d->src_height : 0);
    vd_frame *half = NULL;
    CHECK(vd_frame_scale(f, 384, 288, &half, &err) == 0);
    double p = d && half ? vd_frame_psnr(half, d) : 0;
    CHECKF(p > 25, "half-scale decode vs scaled frame: PSNR %g", p);
    vd_frame_free(half);
    vd_frame_free(d);
    CHECK(vd_jpeg_decode_scaled(jpg, len, 100, 60, &d, &err) == 0); /* 1/8: 96x72 */
    CHECKF(d && d->width == 96 && d->height == 72, "%dx%d", d ? d->width : 0, d ? d->height : 0);
    vd_frame_free(d);
    CHECK(vd_jpeg_decode_scaled(jpg, len, 700, 500, &d, &err) == 0); /* nothing smaller fits */
    CHECK(d && d->width == 768 && d->height == 576);
    vd_frame_free(d);

    /* two strips: each a JPEG of a multiple of 16 rows; together the same image as one JPEG */
    vd_jpeg_coder *c = NULL;
    CHECK(vd_jpeg_coder_new(0, &c, &err) == VD_EINVAL && !c);
    CHECK(vd_jpeg_coder_new(VD_JPEG_MAX_PARTS + 1, &c, &err) == VD_EINVAL && !c);
    CHECK(vd_jpeg_coder_new(2, &c, &err) == 0);
    vd_jpeg_parts img = {0};
    CHECK(vd_jpeg_coder_encode(c, f, 90, &img, &err) == 0);
    CHECK(img.n == 2 && img.part_len[0] + img.part_len[1] == img.len);
    vd_frame *s0 = NULL;
    CHECK(vd_jpeg_decode(img.data, img.part_len[0], &s0, &err) == 0);
    CHECK(s0 && s0->height % 16 == 0 && s0->height == 288 && s0->width == 768);
    vd_frame_free(s0);
    vd_frame *whole = NULL, *one = NULL;
    CHECK(vd_jpeg_coder_decode(c, &img, 0, 0, &whole, &err) == 0);
    CHECK(whole && whole->width == 768 && whole->height == 576);
    CHECK(vd_jpeg_decode(jpg, len, &one, &err) == 0);
    double ps = whole ? vd_frame_psnr(f, whole) : 0,
           pj = whole && one ? vd_frame_psnr(one, whole) : 0;
    CHECKF(ps > 30 && pj > 40, "strips vs frame %g dB, vs one JPEG %g dB", ps, pj);
    vd_frame_free(whole);
    vd_frame_free(one);
    /* reduced scale through the coder: both strips scale, the rows add up */
    CHECK(vd_jpeg_coder_decode(c, &img, 256, 256, &whole, &err) == 0);
    CHECK(whole && whole->width == 384 && whole->height == 288 && whole->src_height == 576);
    vd_frame_free(whole);
    /* bad strips: lengths past the data, garbage, widths that differ, no strips */
    vd_jpeg_parts bad = img;
    bad.part_len[1] = img.len; /* overruns */
    CHECK(vd_jpeg_coder_decode(c, &bad, 0, 0, &whole, &err) == VD_EFORMAT && !whole);
    unsigned char junk[64] = "not a jpeg at all, not a jpeg at all, not a jpeg at all....";
    vd_jpeg_parts j2 = {.data = junk, .len = sizeof junk, .n = 1, .part_len = {sizeof junk}};
    CHECK(vd_jpeg_coder_decode(c, &j2, 0, 0, &whole, &err) == VD_EFORMAT && !whole);
    vd_frame *narrow = NULL;
    vd_jpeg_parts np = {0};
    CHECK(vd_frame_scale(f, 320, 240, &narrow, &err) == 0);
    CHECK(vd_jpeg_coder_encode(c, narrow, 80, &np, &err) == 0);
    unsigned char *mix = malloc(img.part_len[0] + np.part_len[1]);
    memcpy(mix, img.data, img.part_len[0]);
    memcpy(mix + img.part_len[0], np.data + np.part_len[0], np.part_len[1]);
    vd_jpeg_parts m = {.data = mix,
                       .len = img.part_len[0] + np.part_len[1],
                       .n = 2,
                       .part_len = {img.part_len[0], np.part_len[1]}};
    CHECK(vd_jpeg_coder_decode(c, &m, 0, 0, &whole, &err) == VD_EFORMAT && !whole &&
          strstr(err.msg, "wide"));
    m.n = 0;
    CHECK(vd_jpeg_coder_decode(c, &m, 0, 0, &whole, &err) == VD_EINVAL && !whole);
    free(mix);
    free(np.data);
    vd_frame_free(narrow);
    /* a frame too short for two strips goes as one */
    vd_frame *tiny = vd_frame_new(40, 20);
    vd_jpeg_parts tp = {0};
    CHECK(vd_jpeg_coder_encode(c, tiny, 80, &tp, &err) == 0 && tp.n == 1);
    CHECK(vd_jpeg_coder_decode(c, &tp, 0, 0, &whole, &err) == 0 && whole->height == 20);
    vd_frame_free(whole);
    free(tp.data);
    vd_frame_free(tiny);
    free(img.data);
    vd_jpeg_coder_free(c);
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
    double p = vd_frame_psnr(f, back);
    CHECKF(p > 30, "PSNR %g", p);
    vd_frame_free(back);
    CHECK(vd_jpeg_decode((const unsigned char *)"nope", 4, &back, &err) == VD_EFORMAT ||
          (vd_frame_free(back), 0));
    test_scaled_and_strips(f, jpg, len);
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
