/* The pixel limit: a small JPEG (and a PNG, and a "video" of one) that declares 20000 x 20000
 * pixels is refused from its header with VD_ETOOBIG by every decoder (JPEG, JPEG strips,
 * still images through FFmpeg, video sources), without a big allocation (peak RSS stays
 * low); the limit is configurable, and a picture under it still decodes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <libavutil/log.h>

#include "testlib.h"
#include "vdag/media.h"

static long peak_rss_mb(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss / 1024;
}

/* Set the size in every SOFn marker of a JPEG. */
static int patch_sof(unsigned char *j, size_t n, int w, int h)
{
    int found = 0;
    for (size_t i = 2; i + 9 < n;) {
        if (j[i] != 0xff) return found;
        unsigned char m = j[i + 1];
        size_t len = (size_t)j[i + 2] << 8 | j[i + 3];
        if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) {
            j[i + 5] = (unsigned char)(h >> 8), j[i + 6] = (unsigned char)h;
            j[i + 7] = (unsigned char)(w >> 8), j[i + 8] = (unsigned char)w;
            found = 1;
        }
        if (m == 0xda) return found; /* the scan follows */
        i += 2 + len;
    }
    return found;
}

static void write_file(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(d, 1, n, f) == n);
    if (f) fclose(f);
}

int main(void)
{
    av_log_set_level(AV_LOG_QUIET);
    vd_error err = {0};
    CHECK(vd_media_max_pixels() == VD_MAX_PIXELS_DEFAULT);
    /* a 64 x 64 JPEG that says it is 20000 x 20000 (its scan is 64 x 64's: a few KB) */
    vd_frame *f = vd_frame_new(64, 64);
    for (int i = 0; i < 64 * 64 * 3; i++) f->data[i] = (unsigned char)(i * 7);
    unsigned char *jpg = NULL;
    size_t jl = 0;
    CHECK(vd_jpeg_encode(f, 90, &jpg, &jl, &err) == 0);
    unsigned char *bomb = malloc(jl);
    memcpy(bomb, jpg, jl);
    CHECK(patch_sof(bomb, jl, 20000, 20000));
    CHECKF(jl < 4096, "%zu bytes", jl);
    long rss0 = peak_rss_mb();

    vd_frame *out = NULL;
    int rc = vd_jpeg_decode(bomb, jl, &out, &err);
    CHECKF(rc == VD_ETOOBIG && !out && strstr(err.msg, "20000x20000") &&
               strstr(err.msg, "--max-pixels"),
           "%d %s", rc, err.msg);
    CHECK(vd_jpeg_decode_scaled(bomb, jl, 320, 320, &out, &err) == VD_ETOOBIG && !out);
    vd_jpeg_coder *c = NULL;
    CHECK(vd_jpeg_coder_new(2, &c, &err) == 0);
    vd_jpeg_parts one = {.data = bomb, .len = jl, .n = 1, .part_len = {jl}};
    CHECK(vd_jpeg_coder_decode(c, &one, 0, 0, &out, &err) == VD_ETOOBIG && !out);
    /* strips each under the limit, together over it: 4 strips of 20000 x 5000 */
    unsigned char *four = malloc(4 * jl);
    for (int i = 0; i < 4; i++) {
        memcpy(four + (size_t)i * jl, jpg, jl);
        patch_sof(four + (size_t)i * jl, jl, 20000, 3000);
    }
    vd_jpeg_parts strips = {.data = four, .len = 4 * jl, .n = 4, .part_len = {jl, jl, jl, jl}};
    rc = vd_jpeg_coder_decode(c, &strips, 0, 0, &out, &err);
    CHECKF(rc == VD_ETOOBIG && !out && strstr(err.msg, "strips"), "%d %s", rc, err.msg);

    /* files: a JPEG, read as a still image and as a video */
    char path[64], png[64];
    snprintf(path, sizeof path, "/tmp/vdag-bomb-%d.jpg", (int)getpid());
    write_file(path, bomb, jl);
    rc = vd_image_load(path, &out, &err);
    CHECKF(rc == VD_ETOOBIG && !out, "%d %s", rc, err.msg);
    vd_source *src = NULL;
    rc = vd_source_open(path, NULL, &src, &err);
    /* FFmpeg's probe fails to decode it (max_pixels), so the size stays unknown: refused */
    CHECKF((rc == VD_ETOOBIG || rc == VD_EFORMAT) && !src && strstr(err.msg, path) &&
               strstr(err.msg, "Mpx"),
           "%d %s", rc, err.msg);
    /* a PNG header (IHDR) that says 20000 x 20000, through FFmpeg */
    static const unsigned char png_bomb[] = {
        0x89, 'P', 'N', 'G',  0x0d, 0x0a, 0x1a, 0x0a, 0,    0,    0,    13,
        'I',  'H', 'D', 'R',  0,    0,    0x4e, 0x20, 0,    0,    0x4e, 0x20,
        8,    2,   0,   0,    0,    0x4f, 0x8a, 0x5e, 0x5d, /* CRC */
        0,    0,   0,   10,   'I',  'D',  'A',  'T',  0x78, 0x9c, 0x63, 0,
        0,    0,   0,   0x01, 0,    0x01, 0,    0,    0,    0,    0,    0,
        0,    0,   'I', 'E',  'N',  'D',  0xae, 0x42, 0x60, 0x82};
    snprintf(png, sizeof png, "/tmp/vdag-bomb-%d.png", (int)getpid());
    write_file(png, png_bomb, sizeof png_bomb);
    rc = vd_image_load(png, &out, &err);
    CHECKF(rc != 0 && !out, "%d %s", rc, err.msg); /* refused, whichever check sees it first */
    long rss1 = peak_rss_mb();
    printf("peak RSS %ld MB before the bombs, %ld MB after (a 20000x20000 RGB frame: 1144 MB)\n",
           rss0, rss1);
    CHECKF(rss1 - rss0 < 64, "peak RSS grew %ld MB", rss1 - rss0);

    /* the limit is configurable: below 64 x 64 the real JPEG is refused, at it decoded */
    vd_media_set_max_pixels(64 * 64 - 1);
    CHECK(vd_jpeg_decode(jpg, jl, &out, &err) == VD_ETOOBIG);
    vd_media_set_max_pixels(64 * 64);
    CHECK(vd_jpeg_decode(jpg, jl, &out, &err) == 0 && out && out->width == 64);
    vd_frame_free(out);
    vd_media_set_max_pixels(0);
    CHECK(vd_media_max_pixels() == VD_MAX_PIXELS_DEFAULT);
    CHECK(vd_image_load(path, &out, &err) == VD_ETOOBIG); /* still refused at the default */

    unlink(path);
    unlink(png);
    vd_jpeg_coder_free(c);
    free(four);
    free(bomb);
    free(jpg);
    vd_frame_free(f);
    return vt_finish();
}
