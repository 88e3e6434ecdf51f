/* Internal helpers for service implementations (not a public API). */
#ifndef VDAG_SVC_UTIL_H
#define VDAG_SVC_UTIL_H

#include <jansson.h>

#include "vdag/frame.h"
#include "vdag/nn.h"
#include "vdag/svc.h"

/* Load a cached model by name on o's pool (or its own of o->threads). */
int vd__svc_load(const char *name, const vd_svc_opts *o, vd_model **out, vd_error *err);

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

/* ---- rendering helpers (svc_draw.c); coordinates in outputs are source pixels ---------- */

/* Box b ([x1,y1,x2,y2]) in col, 2 px, with `label` (if any) on a tag above it. */
void vd__draw_box(vd_canvas *cv, const vd_frame *f, json_t *b, vd_rgb col, const char *label);
/* A detector's output: its boxes (the VD_FIELD_TRACK field) coloured by track id, else by
 * class (default_cls without classes); with labels, each tagged "label score #id". */
void vd__render_boxes(const vd_service *svc, vd_canvas *cv, const vd_frame *f, json_t *out,
                      int default_cls);
/* Points per box ([[[x,y,…]…]…]) as small yellow dots; with more than 10 points per box,
 * every third. */
void vd__draw_landmarks(vd_canvas *cv, const vd_frame *f, json_t *lms);

#endif
