/*
 * vd_frame: one decoded video frame, packed RGB24 (R,G,B bytes, row-major).
 *
 * Ownership: a frame owns `data` (malloc'd, at least height*stride bytes) and is
 * freed with vd_frame_free(). Frames are immutable once published to other threads;
 * a frame may be shared by reference counting (vd_frame_ref / vd_frame_free), the
 * count is atomic so refs/unrefs are thread-safe.
 */
#ifndef VDAG_FRAME_H
#define VDAG_FRAME_H

#include <stdint.h>

typedef struct vd_frame {
    int width, height;    /* pixels of `data` (after any plan resolution scaling) */
    int stride;           /* bytes per row, >= 3*width */
    uint8_t *data;        /* RGB24 */
    int src_width;        /* size of the frame as decoded from the source; service */
    int src_height;       /* coordinates are reported in this space */
    int64_t cam_frame_id; /* index of the frame in the source (0-based, before dropping) */
    int64_t pts_us;       /* presentation time in microseconds, or -1 */
    int refcount;         /* atomic; managed by vd_frame_ref/free */
} vd_frame;

/* Allocate a zeroed RGB24 frame (refcount 1). Returns NULL on OOM. */
vd_frame *vd_frame_new(int width, int height);

/* The same with the pixels left uninitialised, for a caller that writes every row. */
vd_frame *vd_frame_new_uninit(int width, int height);

/* Take another reference; returns f. */
vd_frame *vd_frame_ref(vd_frame *f);

/* Drop a reference; frees at zero. NULL is a no-op. */
void vd_frame_free(vd_frame *f);

#endif
