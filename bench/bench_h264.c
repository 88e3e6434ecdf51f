/*
 * Frames for remote stages as H.264 against JPEG (issue 11): the first N frames of a video at
 * a resolution, coded as the edge codes them (JPEG: VD_STAGE_JPEG_PARTS strips at a quality;
 * H.264: one stream, libx264 ultrafast/zerolatency) and decoded as a service host does.
 * Prints bytes per frame, coding times (medians) and the added latency per frame on links of
 * 5, 20 and 100 Mbit/s (transfer + encode + decode), and the PSNR of each against the frame.
 *
 *   bench_h264 [VIDEO] [FRAMES] [HEIGHT] [JPEG_QUALITY]    (defaults vtest.avi 200 480 85)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdag/base.h"
#include "vdag/media.h"
#include "vdag/node.h"

int main(int argc, char **argv)
{
    const char *video = argc > 1 ? argv[1] : "vtest.avi";
    int n = argc > 2 ? atoi(argv[2]) : 200, height = argc > 3 ? atoi(argv[3]) : 480;
    int q = argc > 4 ? atoi(argv[4]) : VD_STAGE_JPEG_QUALITY;
    char path[600];
    if (!strchr(video, '/') && vd_media_path(video, path, sizeof path) == 0) video = path;
    vd_error err = {0};
    vd_source_opts so = {.conf = {.resolution_h = height}};
    vd_source *src = NULL;
    if (n < 1 || vd_source_open(video, &so, &src, &err)) {
        fprintf(stderr, "bench_h264: %s\n", n < 1 ? "FRAMES must be >= 1" : err.msg);
        return 1;
    }
    vd_jpeg_coder *je = NULL, *jd = NULL;
    vd_h264_enc *he = NULL;
    vd_h264_dec *hd = NULL;
    double *v[6];
    for (int k = 0; k < 6; k++) v[k] = calloc((size_t)n, sizeof(double));
    double jb = 0, hb = 0, jp = 99, hp = 99, jps = 0, hps = 0;
    int got = 0, rc = vd_jpeg_coder_new(VD_STAGE_JPEG_PARTS, &je, &err);
    if (!rc) rc = vd_jpeg_coder_new(VD_STAGE_JPEG_PARTS, &jd, &err);
    if (!rc) rc = vd_h264_dec_new(&hd, &err);
    vd_frame *f;
    while (!rc && got < n && vd_source_read(src, &f, 10000, &err) == 0) {
        if (!he) rc = vd_h264_enc_new(f->width, f->height, 10, 0, &he, &err);
        vd_jpeg_parts img = {0};
        vd_frame *a = NULL, *b = NULL;
        unsigned char *pkt = NULL;
        size_t len = 0;
        double t0 = vd_now_ms();
        if (!rc) rc = vd_jpeg_coder_encode(je, f, q, &img, &err);
        double t1 = vd_now_ms();
        if (!rc) rc = vd_jpeg_coder_decode(jd, &img, 0, 0, &a, &err);
        double t2 = vd_now_ms();
        if (!rc) rc = vd_h264_enc_encode(he, f, &pkt, &len, NULL, &err);
        double t3 = vd_now_ms();
        if (!rc) rc = vd_h264_dec_decode(hd, pkt, len, &b, &err);
        double t4 = vd_now_ms();
        if (!rc) {
            v[0][got] = t1 - t0, v[1][got] = t2 - t1, v[2][got] = t4 - t3, v[3][got] = t3 - t2;
            jb += (double)img.len, hb += (double)len;
            double pa = vd_frame_psnr(f, a), pb = vd_frame_psnr(f, b);
            jp = fmin(jp, pa), hp = fmin(hp, pb), jps += pa, hps += pb;
            got++;
        }
        free(img.data);
        free(pkt);
        vd_frame_free(a);
        vd_frame_free(b);
        vd_frame_free(f);
    }
    vd_source_close(src);
    if (rc || !got) {
        fprintf(stderr, "bench_h264: %s\n", rc ? err.msg : "no frames");
        return 1;
    }
    double je_ms = vd_percentile(v[0], (size_t)got, 50), jd_ms = vd_percentile(v[1], got, 50);
    double hd_ms = vd_percentile(v[2], (size_t)got, 50), he_ms = vd_percentile(v[3], got, 50);
    jb /= got, hb /= got;
    printf("%s, %d frames at %dp\n\n", argv[1] ? argv[1] : "vtest.avi", got, height);
    printf("| coding | bytes/frame | encode ms | decode ms | PSNR mean / min (dB) | added ms at "
           "5 / 20 / 100 Mbit/s |\n|---|---:|---:|---:|---:|---:|\n");
    const double mbps[3] = {5, 20, 100};
    for (int k = 0; k < 2; k++) {
        double b = k ? hb : jb, e = k ? he_ms : je_ms, d = k ? hd_ms : jd_ms;
        printf("| %s | %.0f | %.2f | %.2f | %.1f / %.1f | ",
               k ? "H.264 (x264 ultrafast, "
                   "zerolatency, crf 23)"
                 : "JPEG",
               b, e, d, (k ? hps : jps) / got, k ? hp : jp);
        for (int m = 0; m < 3; m++)
            printf("%.1f%s", b * 8 / (mbps[m] * 1e6) * 1e3 + e + d, m < 2 ? " / " : " |\n");
    }
    if (q != VD_STAGE_JPEG_QUALITY) printf("\n(JPEG at quality %d)\n", q);
    printf("\nH.264 is %.1fx fewer bytes than JPEG\n", jb / hb);
    vd_jpeg_coder_free(je);
    vd_jpeg_coder_free(jd);
    vd_h264_enc_free(he);
    vd_h264_dec_free(hd);
    for (int k = 0; k < 6; k++) free(v[k]);
    return 0;
}
