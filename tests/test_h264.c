/* The H.264 stream coder (media.h): 60 frames of vtest.avi at 480p coded and decoded again
 * within a PSNR bound, far fewer bytes than JPEG at the edge's quality; a decoder that missed
 * a packet, or starts without a keyframe, refuses with VD_ESTATE until a keyframe comes;
 * malformed packets are VD_EFORMAT. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "vdag/media.h"
#include "vdag/node.h"

int main(void)
{
    vd_error err = {0};
    vd_source_opts so = {.conf = {.resolution_h = 480}};
    vd_source *src = NULL;
    CHECKF(vd_source_open(vt_media("vtest.avi"), &so, &src, &err) == 0, "%s", err.msg);
    if (!src) return vt_finish();
    enum { N = 60 };
    vd_frame *fr[N] = {0};
    int n = 0;
    while (n < N && vd_source_read(src, &fr[n], 10000, &err) == 0) n++;
    vd_source_close(src);
    CHECKF(n == N, "read %d frames", n);
    if (n < N) return vt_finish();
    int w = fr[0]->width, h = fr[0]->height;

    vd_h264_enc *e = NULL;
    vd_h264_dec *d = NULL;
    CHECKF(vd_h264_enc_new(w, h, 10, 0, &e, &err) == 0, "%s", err.msg);
    CHECKF(vd_h264_dec_new(&d, &err) == 0, "%s", err.msg);
    if (!e || !d) return vt_finish();
    vd_jpeg_coder *jc = NULL;
    CHECK(vd_jpeg_coder_new(1, &jc, &err) == 0);
    size_t h264_bytes = 0, jpeg_bytes = 0;
    double min_psnr = 99;
    unsigned char *pk[N];
    size_t pl[N];
    int keys = 0;
    for (int i = 0; i < N; i++) {
        int key = 0;
        CHECKF(vd_h264_enc_encode(e, fr[i], &pk[i], &pl[i], &key, &err) == 0, "%s", err.msg);
        keys += key;
        CHECKF(i > 0 || key, "the first packet is not a keyframe");
        h264_bytes += pl[i];
        vd_jpeg_parts jp = {0};
        if (vd_jpeg_coder_encode(jc, fr[i], VD_STAGE_JPEG_QUALITY, &jp, &err) == 0)
            jpeg_bytes += jp.len;
        free(jp.data);
        vd_frame *out = NULL;
        CHECKF(vd_h264_dec_decode(d, pk[i], pl[i], &out, &err) == 0, "frame %d: %s", i, err.msg);
        if (out) {
            CHECK(out->width == w && out->height == h);
            double p = vd_frame_psnr(fr[i], out);
            if (p < min_psnr) min_psnr = p;
            vd_frame_free(out);
        }
    }
    printf("480p, %d frames: H.264 %.0f bytes/frame (%d keyframes), JPEG q%d %.0f bytes/frame, "
           "lowest PSNR %.1f dB\n",
           N, (double)h264_bytes / N, keys, VD_STAGE_JPEG_QUALITY, (double)jpeg_bytes / N,
           min_psnr);
    CHECKF(min_psnr >= 30, "PSNR %.1f dB under 30", min_psnr);
    CHECKF(h264_bytes * 3 < jpeg_bytes, "H.264 %zu bytes against JPEG %zu", h264_bytes, jpeg_bytes);

    /* a new decoder joining mid-stream, and a gap: refused until a keyframe */
    vd_h264_dec *d2 = NULL;
    CHECK(vd_h264_dec_new(&d2, &err) == 0);
    vd_frame *out = NULL;
    CHECKF(vd_h264_dec_decode(d2, pk[5], pl[5], &out, &err) == VD_ESTATE && !out,
           "a P-frame without its keyframe: %s", err.msg);
    CHECK(vd_h264_dec_decode(d2, pk[0], pl[0], &out, &err) == 0 && out);
    vd_frame_free(out), out = NULL;
    CHECK(vd_h264_dec_decode(d2, pk[1], pl[1], &out, &err) == 0 && out);
    vd_frame_free(out), out = NULL;
    CHECKF(vd_h264_dec_decode(d2, pk[3], pl[3], &out, &err) == VD_ESTATE && !out,
           "packet 3 after 1 was decoded");
    CHECKF(vd_h264_dec_decode(d2, pk[4], pl[4], &out, &err) == VD_ESTATE, "still out of sync");
    vd_h264_enc_keyframe(e);
    unsigned char *kp;
    size_t kl;
    int key = 0;
    CHECK(vd_h264_enc_encode(e, fr[7], &kp, &kl, &key, &err) == 0 && key);
    CHECKF(vd_h264_dec_decode(d2, kp, kl, &out, &err) == 0 && out &&
               vd_frame_psnr(fr[7], out) >= 30,
           "the keyframe did not resync: %s", err.msg);
    vd_frame_free(out), out = NULL;
    free(kp);

    /* malformed */
    unsigned char junk[64] = {0};
    CHECK(vd_h264_dec_decode(d2, junk, sizeof junk, &out, &err) == VD_EFORMAT);
    CHECK(vd_h264_dec_decode(d2, pk[0], 10, &out, &err) == VD_EFORMAT);
    unsigned char *bad = malloc(pl[0]);
    memcpy(bad, pk[0], pl[0]);
    for (size_t i = 40; i < pl[0]; i += 7) bad[i] ^= 0x5a;
    int rc = vd_h264_dec_decode(d2, bad, pl[0], &out, &err); /* corrupt: any error, no crash */
    vd_frame_free(out), out = NULL;
    (void)rc;
    free(bad);
    CHECK(vd_h264_enc_new(15, 16, 10, 0, &(vd_h264_enc *){NULL}, &err) == VD_EINVAL);

    for (int i = 0; i < N; i++) free(pk[i]), vd_frame_free(fr[i]);
    vd_h264_enc_free(e);
    vd_h264_dec_free(d);
    vd_h264_dec_free(d2);
    vd_jpeg_coder_free(jc);
    return vt_finish();
}
