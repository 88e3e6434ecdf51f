/*
 * face_alignment: FaceMesh (468 landmarks) on each detected face, head pose and an
 * aligned face crop.
 *
 * Each face box (from face_detection.bbox, source pixels) is enlarged 1.4x around its
 * centre and made square, cropped and resized to 192x192 with pixels in [0,1]. The
 * mesh comes back in crop pixels and is mapped to source pixels.
 *
 * Head pose (degrees) from four mesh points: cheeks 234/454 give the face's x axis,
 * forehead 10 and chin 152 its y axis; their cross product is the face normal.
 * roll = tilt of the x axis in the image; yaw = left/right turn of the normal;
 * pitch = up/down turn of the normal (positive = looking up).
 *
 * Counts: a face is "up" (looking up or forward, the seed's heads-up count) when
 * pitch > -15 degrees, i.e. it is not looking down by more than 15 degrees; faces
 * whose mesh confidence is below 0.5 are not counted.
 *
 * Aligned crop: 112x112, rotated by -roll so the eyes are level, as base64 JPEG under
 * "aligned" when the stage input "aligned" is true (off by default: it costs a JPEG
 * encode per face).
 * Output: {"count_result":{"up","total"}, "bbox":[…], "prob":[…], "head_pose":[[yaw,
 * pitch,roll],…], "landmarks":[[[x,y,z]×468],…], "aligned":[…]?}
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/svc_util.h"
#include "vdag/base.h"
#include "vdag/media.h"

#define UP_PITCH_DEG   (-15.0f)
#define MIN_MESH_SCORE 0.5f

typedef struct fa_ctx {
    vd_model *m;
    float in[192 * 192 * 3];
} fa_ctx;

static int fa_open(void *priv, int model_id, const vd_svc_opts *o, vd_error *err)
{
    (void)model_id;
    fa_ctx *c = priv;
    return vd__svc_load("facemesh", o, &c->m, err);
}

static void norm3(float *v)
{
    float l = sqrtf(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    if (l > 0) v[0] /= l, v[1] /= l, v[2] /= l;
}

/* yaw, pitch, roll in degrees from mesh points (x,y,z in source pixels). */
static void head_pose(const float *mesh, float *yaw, float *pitch, float *roll)
{
    const float *l = mesh + 3 * 234, *r = mesh + 3 * 454, *t = mesh + 3 * 10, *b = mesh + 3 * 152;
    float xa[3] = {r[0] - l[0], r[1] - l[1], r[2] - l[2]};
    float ya[3] = {b[0] - t[0], b[1] - t[1], b[2] - t[2]};
    norm3(xa);
    norm3(ya);
    float za[3] = {xa[1] * ya[2] - xa[2] * ya[1], xa[2] * ya[0] - xa[0] * ya[2],
                   xa[0] * ya[1] - xa[1] * ya[0]};
    norm3(za);
    const float deg = 57.29578f;
    *roll = atan2f(xa[1], xa[0]) * deg;
    *yaw = asinf(fmaxf(-1, fminf(1, za[0]))) * deg;
    *pitch = asinf(fmaxf(-1, fminf(1, za[1]))) * deg;
}

/* 112x112 crop centred at (cx,cy) (frame pixels), side s, rotated by angle (rad). */
static json_t *aligned_crop(const vd_frame *f, float cx, float cy, float s, float angle)
{
    vd_frame *o = vd_frame_new(112, 112);
    if (!o) return json_null();
    float ca = cosf(angle), sa = sinf(angle), k = s / 112.0f;
    for (int y = 0; y < 112; y++)
        for (int x = 0; x < 112; x++) {
            float u = ((float)x - 56) * k, v = ((float)y - 56) * k;
            int sx = (int)lrintf(cx + u * ca - v * sa), sy = (int)lrintf(cy + u * sa + v * ca);
            if (sx < 0 || sy < 0 || sx >= f->width || sy >= f->height) continue;
            memcpy(o->data + y * o->stride + 3 * x,
                   f->data + (size_t)sy * (size_t)f->stride + 3 * (size_t)sx, 3);
        }
    unsigned char *jpg;
    size_t n;
    json_t *r = json_null();
    if (vd_jpeg_encode(o, 85, &jpg, &n, NULL) == 0) {
        char *s64 = vd_base64_encode(jpg, n);
        if (s64) r = json_string(s64);
        free(s64);
        free(jpg);
    }
    vd_frame_free(o);
    return r;
}

static int fa_process(void *priv, const vd_frame *f, json_t *args, json_t **out, vd_error *err)
{
    fa_ctx *c = priv;
    json_t *boxes = json_object_get(args, "bbox");
    if (!json_is_array(boxes))
        return vd_fail(err, VD_EINVAL,
                       "face_alignment: input 'bbox' must be an array of [x1,y1,x2,y2]");
    int want_aligned = json_is_true(json_object_get(args, "aligned"));
    float sx = vd__sx(f), sy = vd__sy(f);
    json_t *ob = json_array(), *op = json_array(), *oh = json_array(), *ol = json_array(),
           *oa = json_array();
    int up = 0, total = 0;
    size_t i;
    json_t *b;
    float mesh[468 * 3];
    json_array_foreach(boxes, i, b)
    {
        double x1, y1, x2, y2;
        if (json_unpack(b, "[FFFF]", &x1, &y1, &x2, &y2) != 0 || !(x2 > x1) || !(y2 > y1)) continue;
        /* to frame pixels, enlarge 1.4x, square */
        float cx = (float)(x1 + x2) / 2 / sx, cy = (float)(y1 + y2) / 2 / sy;
        float side = 1.4f * fmaxf((float)(x2 - x1) / sx, (float)(y2 - y1) / sy);
        float bx = cx - side / 2, by = cy - side / 2;
        vd__svc_fill(f, bx, by, bx + side, by + side, 192, 192, 1.0f / 255.0f, 0, 0, c->in);
        int rc = vd_model_run(c->m, c->in, sizeof c->in, err);
        if (rc) {
            json_decref(ob), json_decref(op), json_decref(oh), json_decref(ol), json_decref(oa);
            return rc;
        }
        const float *m = NULL, *flag = NULL;
        for (int k = 0; k < vd_model_n_outputs(c->m); k++) {
            const vd_tensor *t = vd_model_output(c->m, k);
            if (t->shape[t->ndim - 1] == 1404) m = t->data;
            if (t->shape[t->ndim - 1] == 1) flag = t->data;
        }
        if (!m || !flag) {
            json_decref(ob), json_decref(op), json_decref(oh), json_decref(ol), json_decref(oa);
            return vd_fail(err, VD_EFORMAT, "face_alignment: unexpected facemesh outputs");
        }
        float score = flag[0];
        if (score < MIN_MESH_SCORE) continue;
        float k = side / 192.0f, mnx = 1e9f, mny = 1e9f, mxx = -1e9f, mxy = -1e9f;
        json_t *lm = json_array();
        for (int p = 0; p < 468; p++) {
            mesh[3 * p] = (bx + m[3 * p] * k) * sx;
            mesh[3 * p + 1] = (by + m[3 * p + 1] * k) * sy;
            mesh[3 * p + 2] = m[3 * p + 2] * k * sx;
            mnx = fminf(mnx, mesh[3 * p]), mxx = fmaxf(mxx, mesh[3 * p]);
            mny = fminf(mny, mesh[3 * p + 1]), mxy = fmaxf(mxy, mesh[3 * p + 1]);
            json_array_append_new(lm, json_pack("[fff]", roundf(mesh[3 * p] * 10) / 10,
                                                roundf(mesh[3 * p + 1] * 10) / 10,
                                                roundf(mesh[3 * p + 2] * 10) / 10));
        }
        float yaw, pitch, roll;
        head_pose(mesh, &yaw, &pitch, &roll);
        total++;
        up += pitch > UP_PITCH_DEG;
        json_array_append_new(ob, vd__box_json(mnx, mny, mxx, mxy));
        json_array_append_new(op, json_real(roundf(score * 1000) / 1000));
        json_array_append_new(oh, json_pack("[fff]", roundf(yaw * 10) / 10, roundf(pitch * 10) / 10,
                                            roundf(roll * 10) / 10));
        json_array_append_new(ol, lm);
        if (want_aligned) {
            float ecx = (mnx + mxx) / 2 / sx, ecy = (mny + mxy) / 2 / sy;
            json_array_append_new(oa, aligned_crop(f, ecx, ecy,
                                                   1.2f * fmaxf((mxx - mnx) / sx, (mxy - mny) / sy),
                                                   roll / 57.29578f));
        }
    }
    *out = json_pack("{s:{s:i,s:i},s:o,s:o,s:o,s:o}", "count_result", "up", up, "total", total,
                     "bbox", ob, "prob", op, "head_pose", oh, "landmarks", ol);
    if (*out && want_aligned)
        json_object_set_new(*out, "aligned", oa);
    else
        json_decref(oa);
    return *out ? 0 : vd_fail(err, VD_ENOMEM, "out of memory");
}

static void fa_close(void *priv)
{
    vd_model_free(((fa_ctx *)priv)->m);
}

/* Each face's box (the mesh's extent) tagged with yaw and pitch, and every third point. */
static void fa_render(vd_canvas *cv, const vd_frame *f, json_t *out)
{
    json_t *hp = json_object_get(out, "head_pose");
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(out, "bbox"), i, b)
    {
        json_t *p = json_array_get(hp, i);
        char lab[64];
        snprintf(lab, sizeof lab, "yaw %.0f pitch %.0f", json_number_value(json_array_get(p, 0)),
                 json_number_value(json_array_get(p, 1)));
        vd__draw_box(cv, f, b, vd_color_for(3), lab);
    }
    vd__draw_landmarks(cv, f, json_object_get(out, "landmarks"));
}

static const char *const fa_models[] = {"facemesh"};
static const char *const fa_in[] = {"bbox", NULL};
static const char *const fa_out[] = {"count_result", "bbox",    "prob", "head_pose",
                                     "landmarks",    "aligned", NULL};
static const vd_svc_field fa_in_schema[] = {{"bbox", VD_FT_BOXES, 0},
                                            {"prob", VD_FT_SCORES, VD_FIELD_OPTIONAL},
                                            {"aligned", VD_FT_FLAG, VD_FIELD_OPTIONAL},
                                            {NULL, 0, 0}};
static const vd_svc_field fa_schema[] = {{"count_result", VD_FT_COUNTS, 0},
                                         {"bbox", VD_FT_BOXES, 0},
                                         {"prob", VD_FT_SCORES, 0},
                                         {"head_pose", VD_FT_VECTORS, 0},
                                         {"landmarks", VD_FT_POINTS, 0},
                                         {"aligned", VD_FT_IMAGES, VD_FIELD_OPTIONAL},
                                         {NULL, 0, 0}};

const vd_service vd_svc_face_alignment = {
    .name = "face_alignment",
    .description = "FaceMesh landmarks, head pose, heads-up count and aligned crops",
    .n_models = 1,
    .model_names = fa_models,
    .inputs = fa_in,
    .outputs = fa_out,
    .out_schema = fa_schema,
    .in_schema = fa_in_schema,
    .profile_from = "face_detection",
    .priv_size = sizeof(fa_ctx),
    .open = fa_open,
    .process = fa_process,
    .close = fa_close,
    .render = fa_render,
    .returns_image = 1, /* the seed's face_alignment returned its rendered frame */
};
