/*
 * Deterministic model inputs for tests and benchmarks (vdag nn run --input ...).
 * Thread-safe (no shared state).
 */
#ifndef VDAG_NNINPUT_H
#define VDAG_NNINPUT_H

#include <stddef.h>

#include "vdag/error.h"
#include "vdag/nn.h"

/* Build an input buffer for `in` from a spec:
 *   lcg:SEED  the reference LCG (shared/reference): s = s*1664525 + 1013904223,
 *             u = (s >> 8) / 2^24; scaled to [-1,1) when `model` names a blazeface
 *             model, else [0,1); int32 inputs get floor(u*256).
 *   const:V   every element V.
 *   image:PATH an image resized (bilinear, squashed) to the input's H x W, channels
 *             RGB, scaled like lcg (NCHW inputs are filled plane by plane).
 * *out is malloc'd (caller frees), *bytes its size. */
int vd_nn_make_input(const vd_tensor *in, const char *model, const char *spec, void **out,
                     size_t *bytes, vd_error *err);

/* The image:PATH part of vd_nn_make_input (src/nn/image_input.c, uses src/media). */
int vd_nn_image_input(const vd_tensor *in, const char *model, const char *path, void **out,
                      size_t *bytes, vd_error *err);
/* The same from a decoded frame (RGB24), which stays the caller's. */
struct vd_frame;
int vd_nn_frame_input(const vd_tensor *in, const char *model, const struct vd_frame *img,
                      void **out, size_t *bytes, vd_error *err);

#endif
