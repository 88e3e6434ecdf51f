/*
 * object_detection: COCO-80 objects with per-class counts.
 *   model 0 = centernet (512x512, pixels 0..255): its graph already decodes peaks into
 *             100 [x1,y1,x2,y2,score,class] rows in input pixels.
 *   model 2 = the cascade nanodet > centernet (vdag/cascade.h; the registry runs it).
 *   model 1 = nanodet (416x416 NCHW, pixels /255): three heads (strides 8/16/32) of
 *             80 sigmoid class scores and 4x11 distance bins (GFL); a side's distance
 *             is the softmax-expectation over its 11 bins times the stride, measured
 *             from the cell centre.
 * Both inputs squash the whole frame. Candidates above min_score (default 0.35, 0.25
 * for nanodet, whose scores run lower) go
 * through per-class NMS (IoU 0.5).
 * Output: {"bbox":[…], "labels":[…], "scores":[…], "classes":[…], "counts":{label:n},
 *          "count_result":{label:n}}.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "svc/svc_util.h"

typedef struct od_ctx {
    vd_model *m;
    int nano, size;
    float *in;
    float min_score, iou;
} od_ctx;

static int od_open(void *priv, int model_id, const vd_svc_opts *o, vd_error *err)
{
    od_ctx *c = priv;
    c->nano = model_id == 1;
    int rc = vd__svc_load(c->nano ? "nanodet" : "centernet", o, &c->m, err);
    if (rc) return rc;
    const vd_tensor *in = vd_model_input(c->m, 0);
    c->size = (int)in->shape[2];
    c->in = malloc(sizeof(float) * (size_t)c->size * (size_t)c->size * 3);
    c->min_score = o->min_score > 0 ? o->min_score
                   : c->nano        ? 0.25f
                                    : 0.35f; /* nanodet scores run lower */
    c->iou = o->iou > 0 ? o->iou : 0.5f;
    if (!c->in) {
        vd_model_free(c->m);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    return 0;
}

static int decode_centernet(od_ctx *c, vd_det *d, float kx, float ky)
{
    const vd_tensor *t = vd_model_output(c->m, vd_model_n_outputs(c->m) - 1);
    const float *r = t->data;
    int n = 0;
    for (int i = 0; i < (int)t->shape[1]; i++, r += 6) {
        if (r[4] < c->min_score) continue;
        d[n++] = (vd_det){r[0] * kx, r[1] * ky, r[2] * kx, r[3] * ky, r[4], (int)r[5]};
    }
    return n;
}

static int decode_nanodet(od_ctx *c, vd_det *d, int cap, float kx, float ky)
{
    int n = 0;
    for (int head = 0; head < 3; head++) {
        int g = 13 << head; /* 13, 26, 52 cells: strides 32, 16, 8 */
        float stride = (float)c->size / (float)g;
        const float *sc = NULL, *bx = NULL;
        for (int k = 0; k < vd_model_n_outputs(c->m); k++) {
            const vd_tensor *t = vd_model_output(c->m, k);
            if (t->shape[1] != (int64_t)g * g) continue;
            if (t->shape[2] == 80) sc = t->data;
            if (t->shape[2] == 44) bx = t->data;
        }
        if (!sc || !bx) return -1;
        for (int cell = 0; cell < g * g; cell++) {
            const float *s = sc + (size_t)cell * 80;
            int best = 0;
            for (int k = 1; k < 80; k++)
                if (s[k] > s[best]) best = k;
            if (s[best] < c->min_score || n >= cap) continue;
            float dist[4];
            for (int side = 0; side < 4; side++) {
                const float *b = bx + (size_t)cell * 44 + side * 11;
                float mx = b[0], sum = 0, ex = 0;
                for (int k = 1; k < 11; k++) mx = fmaxf(mx, b[k]);
                for (int k = 0; k < 11; k++) {
                    float e = expf(b[k] - mx);
                    sum += e;
                    ex += e * (float)k;
                }
                dist[side] = ex / sum * stride;
            }
            float cx = ((float)(cell % g) + 0.5f) * stride,
                  cy = ((float)(cell / g) + 0.5f) * stride;
            d[n++] = (vd_det){(cx - dist[0]) * kx,
                              (cy - dist[1]) * ky,
                              (cx + dist[2]) * kx,
                              (cy + dist[3]) * ky,
                              s[best],
                              best};
        }
    }
    return n;
}

static int od_process(void *priv, const vd_frame *f, json_t *args, json_t **out, vd_error *err)
{
    (void)args;
    od_ctx *c = priv;
    int S = c->size;
    vd__svc_fill(f, 0, 0, (float)f->width, (float)f->height, S, S, c->nano ? 1.0f / 255.0f : 1.0f,
                 0, c->nano, c->in);
    int rc = vd_model_run(c->m, c->in, sizeof(float) * (size_t)S * (size_t)S * 3, err);
    if (rc) return rc;
    float kx = (float)f->src_width / (float)S, ky = (float)f->src_height / (float)S;
    int cap = c->nano ? 4096 : 100;
    vd_det *d = malloc(sizeof(vd_det) * (size_t)cap);
    if (!d) return vd_fail(err, VD_ENOMEM, "out of memory");
    int n = c->nano ? decode_nanodet(c, d, cap, kx, ky) : decode_centernet(c, d, kx, ky);
    if (n < 0) {
        free(d);
        return vd_fail(err, VD_EFORMAT, "object_detection: unexpected nanodet outputs");
    }
    for (int i = 0; i < n; i++) { /* clamp to the frame */
        d[i].x1 = fmaxf(0, d[i].x1), d[i].y1 = fmaxf(0, d[i].y1);
        d[i].x2 = fminf((float)f->src_width, d[i].x2),
        d[i].y2 = fminf((float)f->src_height, d[i].y2);
    }
    n = vd_nms(d, n, c->iou, 0);
    json_t *bb = json_array(), *lb = json_array(), *scs = json_array(), *cl = json_array(),
           *cnt = json_object();
    for (int i = 0; i < n; i++) {
        const char *label = vd_coco_label(d[i].cls);
        json_array_append_new(bb, vd__box_json(d[i].x1, d[i].y1, d[i].x2, d[i].y2));
        json_array_append_new(lb, json_string(label));
        json_array_append_new(scs, json_real(roundf(d[i].score * 1000) / 1000));
        json_array_append_new(cl, json_integer(d[i].cls));
        json_object_set_new(cnt, label,
                            json_integer(json_integer_value(json_object_get(cnt, label)) + 1));
    }
    free(d);
    *out = json_pack("{s:o,s:o,s:o,s:o,s:O,s:o}", "bbox", bb, "labels", lb, "scores", scs,
                     "classes", cl, "counts", cnt, "count_result", cnt);
    return *out ? 0 : vd_fail(err, VD_ENOMEM, "out of memory");
}

static void od_close(void *priv)
{
    od_ctx *c = priv;
    vd_model_free(c->m);
    free(c->in);
}

extern const vd_service vd_svc_object_detection;

static void od_render(vd_canvas *cv, const vd_frame *f, json_t *out)
{
    vd__render_boxes(&vd_svc_object_detection, cv, f, out, 1);
}

/* model 2: a cascade (vdag/cascade.h): nanodet here, frames with an uncertain box on to
 * centernet (the band from bench/cascade.sh's curve) */
static const char *const od_models[] = {"centernet", "nanodet",
                                        "cascade:nanodet@0.3..0.45>centernet"};
static const char *const od_in[] = {NULL};
static const char *const od_out[] = {"bbox",   "labels",       "scores", "classes",
                                     "counts", "count_result", NULL};
static const vd_svc_field od_schema[] = {{"bbox", VD_FT_BOXES, VD_FIELD_TRACK},
                                         {"labels", VD_FT_LABELS, 0},
                                         {"scores", VD_FT_SCORES, 0},
                                         {"classes", VD_FT_CLASSES, 0},
                                         {"counts", VD_FT_COUNTS, 0},
                                         {"count_result", VD_FT_COUNTS, 0},
                                         {NULL, 0, 0}};

const vd_service vd_svc_object_detection = {
    .name = "object_detection",
    .description = "COCO-80 object detector with per-class counts",
    .n_models = 3,
    .model_names = od_models,
    .inputs = od_in,
    .outputs = od_out,
    .is_detector = 1,
    .out_schema = od_schema,
    .class_label = vd_coco_label,
    .priv_size = sizeof(od_ctx),
    .open = od_open,
    .process = od_process,
    .close = od_close,
    .render = od_render,
};
