/* Internal helpers for service implementations (not a public API). */
#ifndef VDAG_SVC_UTIL_H
#define VDAG_SVC_UTIL_H

#include <jansson.h>

#include "vdag/frame.h"
#include "vdag/nn.h"
#include "vdag/svc.h"

/* Load a cached model by name with `threads`. */
int vd__svc_load(const char *name, int threads, vd_model **out, vd_error *err);

/* Fill a float input buffer from an RGB crop region (x1,y1,x2,y2 in frame pixels)
 * resized to w x h; value = v * scale + bias; NCHW when nchw. O(w*h). */
void vd__svc_fill(const vd_frame *f, float x1, float y1, float x2, float y2, int w, int h,
                  float scale, float bias, int nchw, float *dst);

/* Frame -> source pixel factors. */
static inline float vd__sx(const vd_frame *f)
{
    return (float)f->src_width / (float)f->width;
}
static inline float vd__sy(const vd_frame *f)
{
    return (float)f->src_height / (float)f->height;
}

json_t *vd__box_json(float x1, float y1, float x2, float y2);

#endif
