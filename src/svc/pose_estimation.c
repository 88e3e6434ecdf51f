/*
 * pose_estimation: MoveNet single-pose body keypoints for each person an upstream detector
 * found. Model 0 = movenet-thunder (256x256), 1 = movenet-lightning (192x192).
 *
 * Each box of the input "bbox" (source pixels; only boxes labelled "person" when the input
 * "labels" is given, as object_detection's are) is made square around its centre and
 * enlarged by MARGIN, so limbs a tight box cuts off stay in view; that square is cropped
 * (outside the frame reads black) and resized bilinearly to the model size, pixels 0..255
 * truncated to int32 as the model's signature takes them. MoveNet returns [1,1,17,3]:
 * (y, x, score) for the 17 COCO keypoints, y and x normalised to the crop; they are mapped
 * back to source pixels.
 *
 * Output, one entry per person box run:
 *   {"bbox":[…] (the person boxes), "scores":[mean keypoint score,…],
 *    "keypoints":[[[x,y,score]×17],…] (COCO order: nose, eyes, ears, shoulders, elbows,
 *    wrists, hips, knees, ankles; left before right), "count_result":{"poses": n}}
 * where n counts the confident poses: mean keypoint score >= min_score (default 0.3).
 *
 * movenet-multipose (whole frame, up to 6 poses) does not load on the nn runtime yet (its
 * StridedSlice new_axis masks and several ops are missing), so it is not a model here.
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

typedef struct pe_ctx {
    vd_model *m;
    int size;
    float *rgb;
    int32_t *in;
    float min_score;
} pe_ctx;

static const char *const pe_models[] = {"movenet-thunder", "movenet-lightning"};

static int pe_open(void *priv, int model_id, const vd_svc_opts *o, vd_error *err)
{
    pe_ctx *c = priv;
    int rc = vd__svc_load(pe_models[model_id], o, &c->m, err);
    if (rc) return rc;
    const vd_tensor *in = vd_model_input(c->m, 0), *out = vd_model_output(c->m, 0);
    c->size = (int)in->shape[1];
    c->min_score = o->min_score > 0 ? o->min_score : DEF_SCORE;
    if (in->dtype != VD_I32 || in->ndim != 4 || in->shape[2] != c->size || in->shape[3] != 3 ||
        vd_model_n_outputs(c->m) != 1 || vd_tensor_numel(out) != NKP * 3) {
        vd_model_free(c->m);
        return vd_fail(err, VD_EFORMAT,
                       "pose_estimation: %s is not a MoveNet single-pose model (int32 "
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

/* Keypoints of the person in box (x1,y1)-(x2,y2), source pixels: kp[3*k..] = x, y, score. */
static int pose_one(pe_ctx *c, const vd_frame *f, double x1, double y1, double x2, double y2,
                    float *kp, vd_error *err)
{
    float sx = vd__sx(f), sy = vd__sy(f);
    float cx = (float)(x1 + x2) / 2 / sx, cy = (float)(y1 + y2) / 2 / sy;
    float side = MARGIN * fmaxf((float)(x2 - x1) / sx, (float)(y2 - y1) / sy);
    float bx = cx - side / 2, by = cy - side / 2;
    int S = c->size;
    vd__svc_fill(f, bx, by, bx + side, by + side, S, S, 1.0f, 0, 0, c->rgb);
    size_t n = (size_t)S * (size_t)S * 3;
    for (size_t i = 0; i < n; i++) c->in[i] = (int32_t)c->rgb[i];
    int rc = vd_model_run(c->m, c->in, n * sizeof *c->in, err);
    if (rc) return rc;
    const float *o = vd_model_output(c->m, 0)->data;
    for (int k = 0; k < NKP; k++) {
        kp[3 * k] = (bx + o[3 * k + 1] * side) * sx;
        kp[3 * k + 1] = (by + o[3 * k] * side) * sy;
        kp[3 * k + 2] = o[3 * k + 2];
    }
    return 0;
}

static int pe_process(void *priv, const vd_frame *f, json_t *args, json_t **out, vd_error *err)
{
    pe_ctx *c = priv;
    json_t *boxes = json_object_get(args, "bbox"), *labels = json_object_get(args, "labels");
    if (!json_is_array(boxes))
        return vd_fail(err, VD_EINVAL,
                       "pose_estimation: input 'bbox' must be an array of [x1,y1,x2,y2] (e.g. "
                       "object_detection.bbox)");
    if (labels && !json_is_array(labels))
        return vd_fail(err, VD_EINVAL,
                       "pose_estimation: input 'labels' must be an array of class names, one per "
                       "box");
    json_t *ob = json_array(), *os = json_array(), *ok = json_array();
    int confident = 0;
    size_t i;
    json_t *b;
    json_array_foreach(boxes, i, b)
    {
        const char *l = json_string_value(json_array_get(labels, i));
        if (labels && (!l || strcmp(l, "person"))) continue;
        double x1, y1, x2, y2;
        if (json_unpack(b, "[FFFF]", &x1, &y1, &x2, &y2) != 0 || !(x2 > x1) || !(y2 > y1)) continue;
        float kp[NKP * 3], mean = 0;
        int rc = pose_one(c, f, x1, y1, x2, y2, kp, err);
        if (rc) {
            json_decref(ob), json_decref(os), json_decref(ok);
            return rc;
        }
        json_t *pts = json_array();
        for (int k = 0; k < NKP; k++) {
            mean += kp[3 * k + 2] / NKP;
            json_array_append_new(pts, json_pack("[fff]", roundf(kp[3 * k] * 10) / 10,
                                                 roundf(kp[3 * k + 1] * 10) / 10,
                                                 roundf(kp[3 * k + 2] * 1000) / 1000));
        }
        confident += mean >= c->min_score;
        json_array_append_new(ob, vd__box_json((float)x1, (float)y1, (float)x2, (float)y2));
        json_array_append_new(os, json_real(roundf(mean * 1000) / 1000));
        json_array_append_new(ok, pts);
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

static const char *const pe_in[] = {"bbox", NULL};
static const char *const pe_out[] = {"bbox", "scores", "keypoints", "count_result", NULL};
static const vd_svc_field pe_in_schema[] = {
    {"bbox", VD_FT_BOXES, 0}, {"labels", VD_FT_LABELS, VD_FIELD_OPTIONAL}, {NULL, 0, 0}};
static const vd_svc_field pe_schema[] = {{"bbox", VD_FT_BOXES, 0},
                                         {"scores", VD_FT_SCORES, 0},
                                         {"keypoints", VD_FT_POINTS, 0},
                                         {"count_result", VD_FT_COUNTS, 0},
                                         {NULL, 0, 0}};

const vd_service vd_svc_pose_estimation = {
    .name = "pose_estimation",
    .description = "MoveNet body keypoints (17, COCO) per detected person, confident-pose count",
    .n_models = 2,
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
