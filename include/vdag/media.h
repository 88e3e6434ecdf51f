/*
 * vdag media: images and frames (decode, scale, crop+resize).
 *
 * Frames are vd_frame (include/vdag/frame.h), packed RGB24. Functions here allocate
 * new frames owned by the caller (free with vd_frame_free); inputs are not modified.
 * All functions are thread-safe (no shared state; FFmpeg contexts are per call).
 */
#ifndef VDAG_MEDIA_H
#define VDAG_MEDIA_H

#include "vdag/error.h"
#include "vdag/frame.h"

/* Decode a still image (JPEG, PNG, BMP, … anything FFmpeg reads) into RGB24. */
int vd_image_load(const char *path, vd_frame **out, vd_error *err);

/* Bilinear resize of the whole frame to w x h (aspect not kept). */
int vd_frame_scale(const vd_frame *src, int w, int h, vd_frame **out, vd_error *err);

/* Crop the box (x1,y1)-(x2,y2) in src pixel coordinates (may extend past the border:
 * outside is black) and resize it bilinearly to out_w x out_h. */
int vd_frame_crop_resize(const vd_frame *src, float x1, float y1, float x2, float y2, int out_w,
                         int out_h, vd_frame **out, vd_error *err);

#endif
