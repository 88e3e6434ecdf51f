#include "vdag/frame.h"

#include <stdlib.h>
#include <string.h>

static vd_frame *frame_alloc(int width, int height, int zero)
{
    if (width <= 0 || height <= 0) return NULL;
    vd_frame *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->stride = width * 3;
    size_t n = (size_t)height * (size_t)f->stride + 64;
    f->data = zero ? calloc(n, 1) : malloc(n);
    if (!f->data) {
        free(f);
        return NULL;
    }
    if (!zero) memset(f->data + n - 64, 0, 64); /* the slack SIMD readers may touch */
    f->width = f->src_width = width;
    f->height = f->src_height = height;
    f->pts_us = -1;
    f->refcount = 1;
    return f;
}

vd_frame *vd_frame_new(int width, int height)
{
    return frame_alloc(width, height, 1);
}

vd_frame *vd_frame_new_uninit(int width, int height)
{
    return frame_alloc(width, height, 0);
}

vd_frame *vd_frame_ref(vd_frame *f)
{
    if (f) __atomic_add_fetch(&f->refcount, 1, __ATOMIC_RELAXED);
    return f;
}

void vd_frame_free(vd_frame *f)
{
    if (!f) return;
    if (__atomic_sub_fetch(&f->refcount, 1, __ATOMIC_ACQ_REL) == 0) {
        free(f->data);
        free(f);
    }
}
