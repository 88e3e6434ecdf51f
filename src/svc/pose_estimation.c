/*
 * pose_estimation: MoveNet body keypoints, 17 per person (COCO order). Model 0 =
 * movenet-thunder (256x256) and 1 = movenet-lightning (192x192) run per person an upstream
 * detector found; 2 = movenet-multipose (256x256) runs once on the whole frame and finds
 * up to 6 persons itself.
 *
 * Models 0 and 1 need the input "bbox" (source pixels; only boxes labelled "person" when
 * the input "labels" is given, as object_detection's are). Each box is made square around
 * its centre and enlarged by MARGIN, so limbs a tight box cuts off stay in view; that
 * square is cropped (outside the frame reads black) and resized bilinearly to the model
 * size, pixels 0..255 truncated to int32 as the model's signature takes them. MoveNet
 * returns [1,1,17,3]: (y, x, score) per keypoint, y and x normalised to the crop; they are
 * mapped back to source pixels.
 *
 * Model 2 ignores bbox and labels (both inputs are optional in the table for its sake).
 * The frame is padded to a square around its centre (black, as @vladmandic/human pads it)
 * and resized to the model size the same way; the graph decodes its own output, [1,6,56]:
 * per person slot 17 x (y, x, score), then the box (ymin, xmin, ymax, xmax), normalised
 * to the square, and the person score. Slots with a person score >= MP_PERSON are the
 * poses (empty slots score ~0); their box is the model's, in source pixels.
 *
 * Output, one entry per person box run (models 0, 1) or pose found (2):
 *   {"bbox":[…] (the person boxes), "scores":[mean keypoint score,…],
 *    "keypoints":[[[x,y,score]×17],…] (COCO order: nose, eyes, ears, shoulders, elbows,
 *    wrists, hips, knees, ankles; left before right), "count_result":{"poses": n}}
 * where n counts the confident poses: mean keypoint score >= min_score (default 0.3).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "svc/svc_util.h"

#define NKP       17
#define MARGIN    1.1f /* crop side / longer side of the person box */
#define KP_SHOW   0.3f /* keypoints drawn (and bones between them) from this score */
#define DEF_SCORE 0.3f
#define MP_MODEL  2    /* model id of movenet-multipose */
#define MP_SLOTS  6    /* its output: [1, MP_SLOTS, MP_ROW] */
#define MP_ROW    56   /* 17 x (y, x, score), box (ymin, xmin, ymax, xmax), person score */
#define MP_PERSON 0.1f /* slots kept from this person score */

typedef struct pe_ctx {
    vd_model *m;
    int multi; /* movenet-multipose: the whole frame */
    int size;
    float *rgb;
    int32_t *in;
    float min_score;
} pe_ctx;

static const char *const pe_models[] = {"movenet-thunder", "movenet-lightning",
                                        "movenet-multipose"};

static int pe_open(void *priv, int model_id, const vd_svc_opts *o, vd_error *err)
{
    pe_ctx *c = priv;
    int rc = vd__svc_load(pe_models[model_id], o->threads, &c->m, err);
    if (rc) return rc;
    const vd_tensor *in = vd_model_input(c->m, 0), *out = vd_model_output(c->m, 0);
    c->multi = model_id == MP_MODEL;
    c->size = (int)in->shape[1];
    c->min_score = o->min_score > 0 ? o->min_score : DEF_SCORE;
    int in_ok = in->dtype == VD_I32 && in->ndim == 4 && in->shape[2] == c->size &&
                in->shape[3] == 3 && vd_model_n_outputs(c->m) == 1;
    if (c->multi ? !in_ok || c->size % 32 || out->ndim != 3 || out->shape[1] != MP_SLOTS ||
                       out->shape[2] != MP_ROW
                 : !in_ok || vd_tensor_numel(out) != NKP * 3) {
        vd_model_free(c->m);
        return vd_fail(err, VD_EFORMAT,
                       c->multi ? "pose_estimation: %s is not a MoveNet multi-pose model (int32 "
                                  "[1,S,S,3] in, S a multiple of 32; [1,6,56] out)"
                                : "pose_estimation: %s is not a MoveNet single-pose model (int32 "
                                  "[1,S,S,3] in, [1,1,17,3] out)",
                       pe_models[model_id]);
    }
    size_t n = (size_t)c->size * (size_t)c->size * 3;
    c->rgb = malloc(n * sizeof *c->rgb);
    c->in = malloc(n * sizeof *c->in);
    if (!c->rgb || !c->in) {
        vd_model_free(c->m);
        free(c->rgb);
        free(c->in);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    return 0;
}

/* Run the model on the square of `side` frame pixels at (bx, by), resized to its input
 * (outside the frame reads black); *o: its output. */
static int run_square(pe_ctx *c, const vd_frame *f, float bx, float by, float side, const float **o,
                      vd_error *err)
{
    int S = c->size;
    vd__svc_fill(f, bx, by, bx + side, by + side, S, S, 1.0f, 0, 0, c->rgb);
    size_t n = (size_t)S * (size_t)S * 3;
    for (size_t i = 0; i < n; i++) c->in[i] = (int32_t)c->rgb[i];
    int rc = vd_model_run(c->m, c->in, n * sizeof *c->in, err);
    *o = rc ? NULL : vd_model_output(c->m, 0)->data;
    return rc;
}

/* 17 (y, x, score) normalised to that square -> kp[3*k..] = x, y, score in source pixels. */
static void to_source(const vd_frame *f, const float *o, float bx, float by, float side, float *kp)
{
    float sx = vd__sx(f), sy = vd__sy(f);
    for (int k = 0; k < NKP; k++) {
        kp[3 * k] = (bx + o[3 * k + 1] * side) * sx;
        kp[3 * k + 1] = (by + o[3 * k] * side) * sy;
        kp[3 * k + 2] = o[3 * k + 2];
    }
}

/* Keypoints of the person in box (x1,y1)-(x2,y2), source pixels: kp[3*k..] = x, y, score. */
static int pose_one(pe_ctx *c, const vd_frame *f, double x1, double y1, double x2, double y2,
                    float *kp, vd_error *err)
{
    float sx = vd__sx(f), sy = vd__sy(f);
    float cx = (float)(x1 + x2) / 2 / sx, cy = (float)(y1 + y2) / 2 / sy;
    float side = MARGIN * fmaxf((float)(x2 - x1) / sx, (float)(y2 - y1) / sy);
    float bx = cx - side / 2, by = cy - side / 2;
    const float *o;
    int rc = run_square(c, f, bx, by, side, &o, err);
    if (!rc) to_source(f, o, bx, by, side, kp);
    return rc;
}

/* One pose into the output arrays: its box, mean keypoint score and keypoints. */
static void add_pose(json_t *ob, json_t *os, json_t *ok, const float *box, const float *kp,
                     float min_score, int *confident)
{
    json_t *pts = json_array();
    float mean = 0;
    for (int k = 0; k < NKP; k++) {
        mean += kp[3 * k + 2] / NKP;
        json_array_append_new(pts, json_pack("[fff]", roundf(kp[3 * k] * 10) / 10,
                                             roundf(kp[3 * k + 1] * 10) / 10,
                                             roundf(kp[3 * k + 2] * 1000) / 1000));
    }
    *confident += mean >= min_score;
    json_array_append_new(ob, vd__box_json(box[0], box[1], box[2], box[3]));
    json_array_append_new(os, json_real(roundf(mean * 1000) / 1000));
    json_array_append_new(ok, pts);
}

/* movenet-multipose on the whole frame, padded to a square around its centre. */
static int poses_multi(pe_ctx *c, const vd_frame *f, json_t *ob, json_t *os, json_t *ok,
                       int *confident, vd_error *err)
{
    float side = (float)(f->width > f->height ? f->width : f->height);
    float bx = ((float)f->width - side) / 2, by = ((float)f->height - side) / 2;
    const float *o;
    int rc = run_square(c, f, bx, by, side, &o, err);
    if (rc) return rc;
    float sx = vd__sx(f), sy = vd__sy(f), W = (float)f->src_width, H = (float)f->src_height;
    for (int p = 0; p < MP_SLOTS; p++) {
        const float *r = o + p * MP_ROW, *b = r + 3 * NKP;
        if (!(r[3 * NKP + 4] >= MP_PERSON)) continue;
        float kp[NKP * 3], box[4] = {(bx + b[1] * side) * sx, (by + b[0] * side) * sy,
                                     (bx + b[3] * side) * sx, (by + b[2] * side) * sy};
        for (int k = 0; k < 4; k++) box[k] = fminf(fmaxf(box[k], 0), k % 2 ? H : W);
        to_source(f, r, bx, by, side, kp);
        add_pose(ob, os, ok, box, kp, c->min_score, confident);
    }
    return 0;
}

/* Models 0 and 1: a pose per person box of the input. */
static int poses_per_box(pe_ctx *c, const vd_frame *f, json_t *args, json_t *ob, json_t *os,
                         json_t *ok, int *confident, vd_error *err)
{
    json_t *boxes = json_object_get(args, "bbox"), *labels = json_object_get(args, "labels");
    if (!json_is_array(boxes))
        return vd_fail(err, VD_EINVAL,
                       "pose_estimation: input 'bbox' must be an array of [x1,y1,x2,y2] (e.g. "
                       "object_detection.bbox): models 0 and 1 run per person box (model 2, "
                       "movenet-multipose, takes the whole frame)");
    if (labels && !json_is_array(labels))
        return vd_fail(err, VD_EINVAL,
                       "pose_estimation: input 'labels' must be an array of class names, one per "
                       "box");
    size_t i;
    json_t *b;
    json_array_foreach(boxes, i, b)
    {
        const char *l = json_string_value(json_array_get(labels, i));
        if (labels && (!l || strcmp(l, "person"))) continue;
        double x1, y1, x2, y2;
        if (json_unpack(b, "[FFFF]", &x1, &y1, &x2, &y2) != 0 || !(x2 > x1) || !(y2 > y1)) continue;
        float kp[NKP * 3], box[4] = {(float)x1, (float)y1, (float)x2, (float)y2};
        int rc = pose_one(c, f, x1, y1, x2, y2, kp, err);
        if (rc) return rc;
        add_pose(ob, os, ok, box, kp, c->min_score, confident);
    }
    return 0;
}

static int pe_process(void *priv, const vd_frame *f, json_t *args, json_t **out, vd_error *err)
{
    pe_ctx *c = priv;
    json_t *ob = json_array(), *os = json_array(), *ok = json_array();
    int confident = 0;
    int rc = c->multi ? poses_multi(c, f, ob, os, ok, &confident, err)
                      : poses_per_box(c, f, args, ob, os, ok, &confident, err);
    if (rc) {
        json_decref(ob), json_decref(os), json_decref(ok);
        return rc;
    }
    *out = json_pack("{s:o,s:o,s:o,s:{s:i}}", "bbox", ob, "scores", os, "keypoints", ok,
                     "count_result", "poses", confident);
    return *out ? 0 : vd_fail(err, VD_ENOMEM, "out of memory");
}

static void pe_close(void *priv)
{
    pe_ctx *c = priv;
    vd_model_free(c->m);
    free(c->rgb);
    free(c->in);
}

/* The skeleton: COCO keypoint pairs; the left side (odd indices from 5) in one colour. */
static const unsigned char bones[][2] = {{0, 1},   {0, 2},   {1, 3},   {2, 4},  {5, 6},  {5, 7},
                                         {7, 9},   {6, 8},   {8, 10},  {5, 11}, {6, 12}, {11, 12},
                                         {11, 13}, {13, 15}, {12, 14}, {14, 16}};

static void pe_render(vd_canvas *cv, const vd_frame *f, json_t *out)
{
    float kx = (float)f->width / (float)f->src_width, ky = (float)f->height / (float)f->src_height;
    size_t i;
    json_t *person;
    json_array_foreach(json_object_get(out, "keypoints"), i, person)
    {
        float p[NKP][3] = {{0}};
        for (int k = 0; k < NKP && k < (int)json_array_size(person); k++) {
            json_t *q = json_array_get(person, (size_t)k);
            p[k][0] = (float)json_number_value(json_array_get(q, 0)) * kx;
            p[k][1] = (float)json_number_value(json_array_get(q, 1)) * ky;
            p[k][2] = (float)json_number_value(json_array_get(q, 2));
        }
        float seg[3][16 * 4], pts[NKP * 2];
        int ns[3] = {0, 0, 0}, np = 0; /* segments: 0 centre, 1 left, 2 right */
        for (size_t e = 0; e < sizeof bones / sizeof *bones; e++) {
            int a = bones[e][0], b = bones[e][1];
            if (p[a][2] < KP_SHOW || p[b][2] < KP_SHOW) continue;
            int side = a < 5 || (a % 2) != (b % 2) ? 0 : 2 - (a % 2);
            float *s = &seg[side][4 * ns[side]++];
            s[0] = p[a][0], s[1] = p[a][1], s[2] = p[b][0], s[3] = p[b][1];
        }
        for (int k = 0; k < NKP; k++)
            if (p[k][2] >= KP_SHOW) pts[2 * np] = p[k][0], pts[2 * np + 1] = p[k][1], np++;
        static const vd_rgb col[3] = {{255, 255, 255}, {0, 200, 255}, {255, 140, 0}};
        for (int s = 0; s < 3; s++) vd_draw_lines(cv, seg[s], ns[s], col[s], 2);
        vd_draw_points(cv, pts, np, (vd_rgb){255, 40, 40}, 2.5f);
    }
}

static const char *const pe_in[] = {NULL}; /* bbox: models 0 and 1 only */
static const char *const pe_out[] = {"bbox", "scores", "keypoints", "count_result", NULL};
/* Optional because model 2 needs none; models 0 and 1 refuse to run without bbox. The
 * pipeline form wires both from the nearest earlier stage that outputs bbox, and profiling
 * takes them from profile_from. */
static const vd_svc_field pe_in_schema[] = {{"bbox", VD_FT_BOXES, VD_FIELD_OPTIONAL},
                                            {"labels", VD_FT_LABELS, VD_FIELD_OPTIONAL},
                                            {NULL, 0, 0}};
static const vd_svc_field pe_schema[] = {{"bbox", VD_FT_BOXES, 0},
                                         {"scores", VD_FT_SCORES, 0},
                                         {"keypoints", VD_FT_POINTS, 0},
                                         {"count_result", VD_FT_COUNTS, 0},
                                         {NULL, 0, 0}};

const vd_service vd_svc_pose_estimation = {
    .name = "pose_estimation",
    .description = "MoveNet body keypoints (17, COCO) per detected person or in the whole frame, "
                   "confident-pose count",
    .n_models = 3,
    .model_names = pe_models,
    .inputs = pe_in,
    .outputs = pe_out,
    .out_schema = pe_schema,
    .in_schema = pe_in_schema,
    .profile_from = "object_detection",
    .priv_size = sizeof(pe_ctx),
    .open = pe_open,
    .process = pe_process,
    .close = pe_close,
    .render = pe_render,
};
