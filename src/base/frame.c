#include "vdag/frame.h"

#include <stdlib.h>

vd_frame *vd_frame_new(int width, int height)
{
    if (width <= 0 || height <= 0) return NULL;
    vd_frame *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->stride = width * 3;
    f->data = calloc((size_t)height * (size_t)f->stride + 64, 1);
    if (!f->data) {
        free(f);
        return NULL;
    }
    f->width = f->src_width = width;
    f->height = f->src_height = height;
    f->pts_us = -1;
    f->refcount = 1;
    return f;
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
