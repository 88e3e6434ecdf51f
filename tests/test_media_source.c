/* Video sources beyond the basics in test_media.c: back-pressure, live drop-oldest and
 * reopen (a file forced live), runtime conf changes, monotonic pts over loops, MJPEG
 * output read back through FFmpeg, devices/URLs that do not exist, URL checks and probes, and
 * more image,
 * crop/scale, JPEG and drawing edge cases. Sleeps only let the decoder run; no check
 * depends on how long anything took. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <libavutil/log.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "testlib.h"
#include "vdag/base.h"
#include "vdag/media.h"

static vd_frame *copy_frame(const vd_frame *f)
{
    vd_frame *c = vd_frame_new(f->width, f->height);
    memcpy(c->data, f->data, (size_t)f->stride * (size_t)f->height);
    return c;
}

/* Wait (bounded, 20 s) until the source has decoded at least n frames. */
static int wait_decoded(vd_source *s, int64_t n)
{
    for (int i = 0; i < 2000 && vd_source_decoded(s) < n; i++) usleep(10000);
    return vd_source_decoded(s) >= n;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *t = fopen(path, "wb");
    if (n) fwrite(data, 1, n, t);
    fclose(t);
}

static int total_frames(const char *path)
{
    vd_source *s;
    vd_error err = {0};
    if (vd_source_open(path, NULL, &s, &err)) return -1;
    vd_frame *f;
    int n = 0;
    while (vd_source_read(s, &f, 10000, &err) == 0) n++, vd_frame_free(f);
    vd_source_close(s);
    return n;
}

static void test_backpressure(const char *vtest)
{
    vd_source_opts o = {.queue_cap = 2};
    vd_source *s;
    vd_error err = {0};
    CHECK(vd_source_open(vtest, &o, &s, &err) == 0);
    CHECK(wait_decoded(s, 3));
    usleep(200000); /* a file's decoder must now be waiting for room, not racing ahead */
    int64_t d = vd_source_decoded(s);
    CHECKF(d <= 3, "file source with queue 2 decoded %lld frames unread", (long long)d);
    vd_frame *f;
    int ok = 1;
    for (int i = 0; i < 100; i++) {
        if (vd_source_read(s, &f, 10000, &err) != 0) {
            ok = 0;
            break;
        }
        ok &= f->cam_frame_id == i;
        vd_frame_free(f);
    }
    CHECKF(ok, "file frames are all delivered in order under back-pressure");
    CHECK(vd_source_dropped(s) == 0);
    vd_source_close(s);

    /* closing while the decoder is blocked on a full queue does not deadlock */
    o.queue_cap = 1;
    CHECK(vd_source_open(vtest, &o, &s, &err) == 0);
    CHECK(wait_decoded(s, 2));
    vd_source_close(s);
}

static void test_live(const char *vtest, int total)
{
    vd_source_opts o = {.queue_cap = 2, .force_live = 1};
    vd_source *s;
    vd_error err = {0};
    CHECK(vd_source_open(vtest, &o, &s, &err) == 0);
    CHECK(vd_source_is_live(s));
    vd_source_status st;
    vd_source_status_get(s, &st);
    CHECK(st.up && st.lost == 0 && st.reconnects == 0 && st.down_ms == 0);
    CHECK(wait_decoded(s, 60));
    vd_frame *f;
    CHECK(vd_source_read(s, &f, 10000, &err) == 0);
    CHECKF(f && f->cam_frame_id >= 50, "live source kept the newest frames, got id %lld",
           f ? (long long)f->cam_frame_id : -1LL);
    vd_frame_free(f);
    CHECKF(vd_source_dropped(s) >= 50, "dropped %lld", (long long)vd_source_dropped(s));

    /* at the end the "camera" is reopened (after back-off); ids and pts keep increasing */
    int64_t last_id = -1, last_pts = -1, max_id = -1;
    int mono = 1, rc = 0;
    for (int i = 0; i < 5000 && max_id < total + 5; i++) {
        if ((rc = vd_source_read(s, &f, 10000, &err)) != 0) break;
        mono &= f->cam_frame_id > last_id && f->pts_us > last_pts;
        last_id = f->cam_frame_id, last_pts = f->pts_us;
        if (f->cam_frame_id > max_id) max_id = f->cam_frame_id;
        vd_frame_free(f);
    }
    CHECKF(rc == 0 && max_id >= total + 5, "reopened live source reached id %lld (rc %d: %s)",
           (long long)max_id, rc, err.msg);
    CHECK(mono);
    vd_source_status_get(s, &st); /* its end was a loss, the reopen a reconnect */
    CHECKF(st.up && st.lost >= 1 && st.reconnects >= 1 && st.attempts == 0,
           "status after a reopen: up %d lost %lld reconnects %lld", st.up, (long long)st.lost,
           (long long)st.reconnects);
    vd_source_close(s);
}

/* A source's form (vd_source_check_url, no I/O) and what a probe finds or refuses, quickly:
 * a FIFO is refused before anything reads it, a server that never answers within the time. */
static void test_check_probe(const char *dir, const char *vtest)
{
    vd_error err = {0};
    CHECK(vd_source_check_url("", &err) == VD_EINVAL);
    CHECK(vd_source_check_url("ftp://host/x.avi", &err) == VD_EINVAL &&
          strstr(err.msg, "unknown scheme 'ftp://'"));
    CHECK(vd_source_check_url("rtsp://", &err) == VD_EINVAL);
    CHECK(vd_source_check_url("rtsp://cam/x", &err) == 0);
    CHECK(vd_source_check_url("https://cam/x.mjpg", &err) == 0);
    CHECK(vd_source_check_url("/a/b.avi", &err) == 0);
    vd_source_info in;
    CHECKF(vd_source_probe(vtest, 0, &in, &err) == 0, "probe vtest: %s", err.msg);
    CHECK(!in.live && in.width == 768 && in.height == 576 && fabs(in.fps - 10) < 0.01 &&
          !strcmp(in.codec, "msmpeg4v3"));
    char url[600];
    snprintf(url, sizeof url, "file://%s", vtest);
    CHECK(vd_source_probe(url, 0, &in, &err) == 0 && !in.live);
    CHECK(vd_source_probe("/nonexistent/v.avi", 0, &in, &err) == VD_ENOTFOUND &&
          strstr(err.msg, "no such file"));
    CHECK(vd_source_probe(dir, 0, &in, &err) == VD_EINVAL && strstr(err.msg, "not a regular file"));
    char fifo[600];
    snprintf(fifo, sizeof fifo, "%s/fifo.avi", dir);
    CHECK(mkfifo(fifo, 0600) == 0);
    CHECK(vd_source_probe(fifo, 0, &in, &err) == VD_EINVAL &&
          strstr(err.msg, "not a regular file"));
    CHECK(vd_source_probe("/dev/video97", 0, &in, &err) < 0 && strstr(err.msg, "/dev/video97"));
    /* a port that takes the connection and never answers: the probe's time is its bound */
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    CHECK(ls >= 0 && bind(ls, (struct sockaddr *)&a, sizeof a) == 0 && listen(ls, 4) == 0 &&
          getsockname(ls, (struct sockaddr *)&a, &al) == 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x.avi", ntohs(a.sin_port));
    double t0 = vd_now_ms();
    int rc = vd_source_probe(url, 300, &in, &err);
    CHECKF(rc == VD_ETIMEDOUT && strstr(err.msg, "no answer within 300 ms"), "silent server: %d %s",
           rc, err.msg);
    CHECKF(vd_now_ms() - t0 < 5000, "the probe took %.0f ms", vd_now_ms() - t0);
    snprintf(url, sizeof url, "rtsp://127.0.0.1:%d/x", ntohs(a.sin_port));
    CHECK(vd_source_probe(url, 300, &in, &err) == VD_ETIMEDOUT);
    close(ls);
}

static void test_conf_runtime(const char *vtest)
{
    vd_source *s;
    vd_error err = {0};
    vd_source_opts o = {.queue_cap = 2};
    CHECK(vd_source_open(vtest, &o, &s, &err) == 0);
    double nat = vd_source_native_fps(s);
    vd_frame *f;
    int64_t ids[40];
    for (int i = 0; i < 5; i++) {
        CHECK(vd_source_read(s, &f, 10000, &err) == 0);
        vd_frame_free(f);
    }
    vd_video_conf c = {.fps = nat / 2};
    vd_source_set_conf(s, &c);
    for (int i = 0; i < 40; i++) {
        CHECK(vd_source_read(s, &f, 10000, &err) == 0);
        ids[i] = f ? f->cam_frame_id : -1;
        vd_frame_free(f);
    }
    int half = 1;
    for (int i = 30; i < 40; i++) half &= ids[i] - ids[i - 1] == 2;
    CHECKF(half, "after fps -> native/2 ids step by 2 (%lld %lld)", (long long)ids[38],
           (long long)ids[39]);
    c = (vd_video_conf){.nskip = 1, .resolution_h = 288};
    vd_source_set_conf(s, &c);
    int sized = 1;
    for (int i = 0; i < 40; i++) {
        CHECK(vd_source_read(s, &f, 10000, &err) == 0);
        ids[i] = f ? f->cam_frame_id : -1;
        if (i >= 30) sized &= f && f->width == 384 && f->height == 288 && f->src_width == 768;
        vd_frame_free(f);
    }
    int step = 1;
    for (int i = 30; i < 40; i++) step &= ids[i] - ids[i - 1] == 2;
    CHECK(step && sized);
    vd_source_close(s);
}

static void test_pts_and_loop(const char *vtest, int total)
{
    vd_source *s;
    vd_error err = {0};
    vd_source_opts o = {.loop = 1, .conf = {.nskip = 49}};
    CHECK(vd_source_open(vtest, &o, &s, &err) == 0);
    double nat = vd_source_native_fps(s);
    vd_frame *f;
    int64_t last = -1;
    int mono = 1, n = 0, near = 1;
    for (int i = 0; i < total / 50 * 2 + 4; i++) {
        if (vd_source_read(s, &f, 10000, &err) != 0) break;
        n++;
        if (i == 0) CHECKF(f->pts_us == 0, "first pts %lld", (long long)f->pts_us);
        mono &= f->pts_us > last;
        last = f->pts_us;
        /* a constant-rate file: pts stays id / fps across the loop */
        near &= fabs((double)f->pts_us - (double)f->cam_frame_id / nat * 1e6) < 1e6 / nat;
        vd_frame_free(f);
    }
    CHECK(n == total / 50 * 2 + 4);
    CHECK(mono);
    CHECK(near);
    vd_source_close(s);
}

/* Megamind.avi (packed B-frames) ends with a frame that has no timestamp. Over loops its pts
 * must still follow the frame count: it once came from the count since the start, which put
 * every wrap one more loop ahead (11 s at the second wrap, 22 s at the third, …), so a paced
 * edge slept that long. Three loops, every frame checked. */
static void test_loop_without_pts(const char *megamind)
{
    vd_source *s;
    vd_error err = {0};
    vd_source_opts o = {.loop = 1, .conf = {.nskip = 29}};
    CHECK(vd_source_open(megamind, &o, &s, &err) == 0);
    if (!s) return;
    double nat = vd_source_native_fps(s);
    vd_frame *f;
    int n = 0, near = 1, mono = 1;
    int64_t last = -1, worst = 0, worst_id = 0;
    while (n < 3 * 270 / 30 + 3 && vd_source_read(s, &f, 10000, &err) == 0) {
        n++;
        int64_t off = f->pts_us - (int64_t)((double)f->cam_frame_id / nat * 1e6);
        if (llabs(off) > llabs(worst)) worst = off, worst_id = f->cam_frame_id;
        near &= llabs(off) < (int64_t)(1e6 / nat);
        mono &= f->pts_us > last;
        last = f->pts_us;
        vd_frame_free(f);
    }
    CHECKF(n == 3 * 270 / 30 + 3, "read %d frames: %s", n, err.msg);
    CHECKF(near, "frame %lld is %.3f s off id/fps", (long long)worst_id, worst / 1e6);
    CHECK(mono);
    vd_source_close(s);
}

static void test_bad_sources(const char *dir)
{
    vd_source *s;
    vd_error err = {0};
    int rc = vd_source_open("/dev/video99", NULL, &s, &err);
    CHECKF(rc < 0 && strstr(err.msg, "/dev/video99"), "missing device: %d %s", rc, err.msg);
    rc = vd_source_open("rtsp://127.0.0.1:1/stream", NULL, &s, &err);
    CHECKF(rc < 0 && strstr(err.msg, "rtsp://127.0.0.1:1/stream"), "refused RTSP: %d %s", rc,
           err.msg);
    rc = vd_source_open("", NULL, &s, &err);
    CHECK(rc == VD_EINVAL);
    vd_source_opts o = {.queue_cap = -3};
    rc = vd_source_open(vt_media("vtest.avi"), &o, &s, &err);
    CHECK(rc == VD_EINVAL && strstr(err.msg, "queue"));
    char path[512];
    snprintf(path, sizeof path, "%s/empty.avi", dir);
    write_file(path, "", 0);
    rc = vd_source_open(path, NULL, &s, &err);
    CHECKF(rc < 0 && strstr(err.msg, path), "empty file: %d %s", rc, err.msg);
    /* a PNG is a one-frame "video"; looping it must not spin forever */
    o = (vd_source_opts){.loop = 1};
    rc = vd_source_open(vt_media("basketball1.png"), &o, &s, &err);
    if (rc == 0) {
        vd_frame *f;
        int n = 0;
        while (n < 5 && vd_source_read(s, &f, 10000, &err) == 0) n++, vd_frame_free(f);
        CHECKF(n == 5, "looped still image gave %d frames", n);
        vd_source_close(s);
    }
}

static void test_mjpeg_readback(const char *dir, const char *megamind)
{
    vd_source *s;
    vd_error err = {0};
    vd_source_opts o = {.conf = {.resolution_h = 240}};
    CHECK(vd_source_open(megamind, &o, &s, &err) == 0);
    char path[512];
    snprintf(path, sizeof path, "%s/mega.mjpeg", dir);
    vd_mjpeg_writer *w;
    CHECK(vd_mjpeg_open(path, 85, &w, &err) == 0);
    vd_frame *f;
    int n = 0, fw = 0, fh = 0;
    while (n < 12 && vd_source_read(s, &f, 10000, &err) == 0) {
        fw = f->width, fh = f->height;
        CHECK(f->height == 240 && f->width % 2 == 0 && f->src_height > 0);
        CHECK(vd_mjpeg_write(w, f, &err) == 0);
        vd_frame_free(f);
        n++;
    }
    CHECK(n == 12);
    vd_mjpeg_close(w);
    vd_source_close(s);
    /* FFmpeg (and so ffplay) reads the concatenated JPEGs back as a video */
    CHECKF(vd_source_open(path, NULL, &s, &err) == 0, "%s", err.msg);
    int m = 0, ok = 1;
    while (vd_source_read(s, &f, 10000, &err) == 0) {
        ok &= f->width == fw && f->height == fh && f->cam_frame_id == m;
        m++;
        vd_frame_free(f);
    }
    CHECKF(m == 12 && ok, "read back %d of 12 MJPEG frames", m);
    vd_source_close(s);
    /* an unwritable output names its path */
    CHECK(vd_mjpeg_open("/nonexistent/dir/out.mjpeg", 80, &w, &err) == VD_EIO &&
          strstr(err.msg, "/nonexistent/dir/out.mjpeg"));
    CHECK(vd_mjpeg_open("/nonexistent/dir/frames/", 80, &w, &err) == VD_EIO &&
          strstr(err.msg, "/nonexistent/dir/frames/"));
}

static void test_images(const char *dir)
{
    vd_frame *img = NULL, *o = NULL;
    vd_error err = {0};
    CHECK(vd_image_load("/nonexistent/x.png", &img, &err) < 0 &&
          strstr(err.msg, "/nonexistent/x.png"));
    char path[512];
    snprintf(path, sizeof path, "%s/notimage.png", dir);
    write_file(path, "hello, not an image\n", 20);
    int rc = vd_image_load(path, &img, &err);
    CHECKF(rc < 0 && strstr(err.msg, path) && !img, "text as image: %d %s", rc, err.msg);

    /* a truncated JPEG: a (partly grey) picture or a clear error, never a crash */
    char *data;
    size_t len;
    CHECK(vd_read_file(vt_media("messi5.jpg"), 0, &data, &len, &err) == 0);
    snprintf(path, sizeof path, "%s/half.jpg", dir);
    write_file(path, data, len / 2);
    rc = vd_image_load(path, &img, &err);
    CHECK(rc == 0 ? img && img->width == 548 : strstr(err.msg, path) != NULL);
    vd_frame_free(img);
    rc = vd_jpeg_decode((unsigned char *)data, 100, &img, &err);
    CHECKF(rc == 0 ? img != NULL : rc == VD_EFORMAT, "100-byte JPEG: %d %s", rc, err.msg);
    vd_frame_free(img);
    CHECK(vd_jpeg_decode(NULL, 0, &img, &err) == VD_EFORMAT && !img);
    /* a header that claims 65000 x 65000 (12 GB of RGB) in 2 KB is refused before any
     * allocation (the fuzzer's first find: it was decoded, from any client or node): over the
     * node's pixel limit; and one under the limit (7800 x 7800, 180 MB) that 2 KB cannot hold
     * is refused too, as a forged size */
    {
        unsigned char *big = malloc(2048);
        for (int pass = 0; pass < 2; pass++) {
            memcpy(big, data, 2048);
            for (int k = 2; k + 9 < 2048; k++)
                if (big[k] == 0xff && big[k + 1] == 0xc0) { /* SOF0: length, precision, H, W */
                    big[k + 5] = big[k + 7] = pass ? 0x1e : 0xfd;
                    big[k + 6] = big[k + 8] = pass ? 0x78 : 0xe8;
                    break;
                }
            rc = vd_jpeg_decode(big, 2048, &img, &err);
            if (!pass)
                CHECKF(rc == VD_ETOOBIG && !img && strstr(err.msg, "65000x65000") &&
                           strstr(err.msg, "--max-pixels"),
                       "forged size: %d %s", rc, err.msg);
            else
                CHECKF(rc == VD_EFORMAT && !img && strstr(err.msg, "7800x7800") &&
                           strstr(err.msg, "more than a frame"),
                       "forged size under the limit: %d %s", rc, err.msg);
            vd_frame_free(img);
        }
        free(big);
    }

    /* JPEG loads directly (turbojpeg) and through FFmpeg give the same picture */
    vd_frame *a, *b;
    CHECK(vd_image_load(vt_media("messi5.jpg"), &a, &err) == 0);
    CHECK(vd_jpeg_decode((unsigned char *)data, len, &b, &err) == 0);
    CHECK(a->width == b->width && a->height == b->height &&
          !memcmp(a->data, b->data, (size_t)a->stride * (size_t)a->height));
    vd_frame_free(b);
    free(data);

    /* crop of the whole frame at its own size is the frame itself */
    CHECK(vd_frame_crop_resize(a, 0, 0, (float)a->width, (float)a->height, a->width, a->height, &o,
                               &err) == 0);
    CHECK(!memcmp(o->data, a->data, (size_t)a->stride * (size_t)a->height));
    vd_frame_free(o);
    /* scale to the same size is (nearly) the identity */
    CHECK(vd_frame_scale(a, a->width, a->height, &o, &err) == 0);
    int maxd = 0;
    for (size_t i = 0; i < (size_t)a->stride * (size_t)a->height; i++) {
        int d = abs((int)a->data[i] - (int)o->data[i]);
        if (d > maxd) maxd = d;
    }
    CHECKF(maxd <= 2, "identity scale differs by %d", maxd);
    vd_frame_free(o);
    /* a 2x downscale averages: the mean colour is kept */
    CHECK(vd_frame_scale(a, a->width / 2, a->height / 2, &o, &err) == 0);
    double ma = 0, mo = 0;
    for (int y = 0; y < a->height; y++)
        for (int x = 0; x < a->width * 3; x++) ma += a->data[y * a->stride + x];
    for (int y = 0; y < o->height; y++)
        for (int x = 0; x < o->width * 3; x++) mo += o->data[y * o->stride + x];
    ma /= (double)a->width * a->height * 3, mo /= (double)o->width * o->height * 3;
    CHECKF(fabs(ma - mo) < 3, "mean %g vs %g", ma, mo);
    vd_frame_free(o);
    /* entirely outside: black; bad boxes: errors */
    CHECK(vd_frame_crop_resize(a, -500, -500, -400, -400, 16, 16, &o, &err) == 0);
    int black = 1;
    for (int i = 0; i < 16 * 16 * 3; i++) black &= o->data[i] == 0;
    CHECK(black);
    vd_frame_free(o);
    CHECK(vd_frame_crop_resize(a, 10, 10, 5, 20, 16, 16, &o, &err) == VD_EINVAL && !o);
    CHECK(vd_frame_crop_resize(a, 0, 0, NAN, 20, 16, 16, &o, &err) == VD_EINVAL && !o);
    CHECK(vd_frame_crop_resize(a, 0, 0, 10, 10, 0, 16, &o, &err) == VD_EINVAL && !o);
    CHECK(vd_frame_scale(a, 0, 10, &o, &err) == VD_EINVAL && !o);
    /* a constant region upscaled stays constant */
    vd_frame *flat = vd_frame_new(8, 8);
    memset(flat->data, 77, (size_t)flat->stride * 8);
    CHECK(vd_frame_crop_resize(flat, 2, 2, 6, 6, 40, 40, &o, &err) == 0);
    int same = 1;
    for (int i = 0; i < 40 * 40 * 3; i++) same &= o->data[i] == 77;
    CHECK(same);
    vd_frame_free(o);
    vd_frame_free(flat);
    vd_frame_free(a);
}

static void test_draw(void)
{
    vd_error err = {0};
    vd_frame *f;
    CHECK(vd_image_load(vt_media("basketball1.png"), &f, &err) == 0);
    vd_frame *r = copy_frame(f);
    vd_canvas *c;
    CHECK(vd_canvas_begin(r, &c, &err) == 0);
    float pts[6] = {100, 100, 200, 150, 300, 400};
    vd_draw_points(c, pts, 3, (vd_rgb){0, 255, 0}, 3);
    const char *lines[] = {"faces 3", "looking up 2/3", "fps 9.8"};
    vd_draw_text_block(c, lines, 3, 16);
    vd_draw_label(c, 630, 470, "clipped at the corner", (vd_rgb){255, 0, 0}, 14); /* off-frame */
    vd_draw_box(c, -20, -20, 2000, 2000, vd_color_for(3), 2);
    vd_draw_points(c, NULL, 0, (vd_rgb){0, 0, 0}, 1);
    vd_canvas_end(c);
    for (int i = 0; i < 3; i++) {
        const unsigned char *p = r->data + (int)pts[2 * i + 1] * r->stride + (int)pts[2 * i] * 3;
        CHECKF(p[0] < 30 && p[1] > 220 && p[2] < 30, "point %d is %d,%d,%d", i, p[0], p[1], p[2]);
    }
    int changed = 0;
    for (int y = 8; y < 70; y++)
        for (int x = 8; x < 100; x++)
            changed +=
                memcmp(r->data + y * r->stride + 3 * x, f->data + y * f->stride + 3 * x, 3) != 0;
    CHECKF(changed > 500, "text block changed %d pixels", changed);
    /* away from every drawing nothing changed */
    CHECK(!memcmp(r->data + 300 * r->stride + 500 * 3, f->data + 300 * f->stride + 500 * 3, 30));
    vd_frame_free(r);
    vd_frame_free(f);
    vd_frame *tiny = vd_frame_new(1, 1);
    CHECK(vd_canvas_begin(tiny, &c, &err) == 0);
    vd_draw_label(c, 0, 0, "x", (vd_rgb){1, 2, 3}, 10);
    vd_canvas_end(c);
    vd_frame_free(tiny);
}

int main(void)
{
    av_log_set_level(AV_LOG_FATAL);
    const char *vtest = vt_media("vtest.avi");
    const char *megamind = vt_media("Megamind.avi");
    char dir[] = "/tmp/vdag_msrcXXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    int total = total_frames(vtest);
    CHECKF(total > 700, "vtest has %d frames", total);

    test_backpressure(vtest);
    test_live(vtest, total);
    test_conf_runtime(vtest);
    test_pts_and_loop(vtest, total);
    test_loop_without_pts(megamind);
    test_bad_sources(dir);
    test_check_probe(dir, vtest);
    test_mjpeg_readback(dir, megamind);
    test_images(dir);
    test_draw();

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup of %s failed\n", dir);
    return vt_finish();
}
