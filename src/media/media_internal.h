/*
 * Internal helpers shared by the media files (not part of the public API).
 */
#ifndef VDAG_MEDIA_INTERNAL_H
#define VDAG_MEDIA_INTERNAL_H

struct SwsContext;

/* A new swscale context from (sw x sh, pixel format `fmt`) to RGB24 (dw x dh), bilinear.
 * JPEG's deprecated full-range "J" formats are mapped to the plain ones with the range set,
 * and the YUV matrix follows `colorspace` (an AVColorSpace; BT.601 when unspecified).
 * Returns NULL if swscale refuses the conversion. Caller frees with sws_freeContext. */
struct SwsContext *vd__sws_to_rgb(int sw, int sh, int fmt, int full_range, int colorspace, int dw,
                                  int dh);

#endif
