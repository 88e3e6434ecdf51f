/*
 * face_detection: BlazeFace (model 0 = blazeface-back, 256x256; 1 = blazeface-front,
 * 128x128; 2 = the cascade front > back, vdag/cascade.h). Input: the whole frame squashed to the
 * model size, pixels to [-1,1]. The 896 anchors (strides S/16 and S/8 with 2 and 6 anchors per
 * cell) decode to a box centre/size and six landmarks; scores are sigmoid(logit). Overlapping
 * candidates are merged by weighted NMS (score-weighted mean of each cluster), as
 * BlazeFace was trained for.
 * Output: {"bbox":[[x1,y1,x2,y2],…], "prob":[…], "landmarks":[[[x,y]×6],…]}.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "svc/svc_util.h"

#define NA 896

typedef struct fd_ctx {
    vd_model *m;
    int size;
    float anchors[NA][2];
    const float *outs[4]; /* sorted by size: [384,1],[512,1],[384,16],[512,16] */
    float *in;
    float min_score, iou;
} fd_ctx;

static int fd_open(void *priv, int model_id, const vd_svc_opts *o, vd_error *err)
{
    fd_ctx *c = priv;
    int rc = vd__svc_load(model_id == 0 ? "blazeface-back" : "blazeface-front", o, &c->m, err);
    if (rc) return rc;
    const vd_tensor *in = vd_model_input(c->m, 0);
    c->size = (int)in->shape[1];
    c->min_score = o->min_score > 0 ? o->min_score : 0.6f;
    c->iou = o->iou > 0 ? o->iou : 0.3f;
    int k = 0;
    int strides[2] = {c->size / 16, c->size / 8}, per[2] = {2, 6};
    for (int s = 0; s < 2; s++) {
        int g = (c->size + strides[s] - 1) / strides[s];
        for (int y = 0; y < g; y++)
            for (int x = 0; x < g; x++)
                for (int a = 0; a < per[s] && k < NA; a++, k++) {
                    c->anchors[k][0] = (float)strides[s] * ((float)x + 0.5f);
                    c->anchors[k][1] = (float)strides[s] * ((float)y + 0.5f);
                }
    }
    c->in = malloc(sizeof(float) * (size_t)c->size * (size_t)c->size * 3);
    if (!c->in || k != NA || vd_model_n_outputs(c->m) != 4) {
        vd_model_free(c->m);
        free(c->in);
        return vd_fail(err, VD_EFORMAT, "face_detection: unexpected blazeface model layout");
    }
    return 0;
}

typedef struct cand {
    float score;
    float box[4];
    float lm[12];
} cand;

static int by_score(const void *a, const void *b)
{
    float x = ((const cand *)a)->score, y = ((const cand *)b)->score;
    return (x < y) - (x > y);
}

static float cand_iou(const cand *a, const cand *b)
{
    vd_det x = {a->box[0], a->box[1], a->box[2], a->box[3], 0, 0};
    vd_det y = {b->box[0], b->box[1], b->box[2], b->box[3], 0, 0};
    return vd_iou(&x, &y);
}

static int fd_process(void *priv, const vd_frame *f, json_t *args, json_t **out, vd_error *err)
{
    (void)args;
    fd_ctx *c = priv;
    int S = c->size;
    vd__svc_fill(f, 0, 0, (float)f->width, (float)f->height, S, S, 1.0f / 127.5f, -1.0f, 0, c->in);
    int rc = vd_model_run(c->m, c->in, sizeof(float) * (size_t)S * (size_t)S * 3, err);
    if (rc) return rc;
    const float *p384 = NULL, *p512 = NULL, *r384 = NULL, *r512 = NULL;
    for (int i = 0; i < 4; i++) {
        const vd_tensor *t = vd_model_output(c->m, i);
        int64_t rows = t->shape[1], cols = t->shape[2];
        if (rows == 384 && cols == 1) p384 = t->data;
        if (rows == 512 && cols == 1) p512 = t->data;
        if (rows == 384 && cols == 16) r384 = t->data;
        if (rows == 512 && cols == 16) r512 = t->data;
    }
    if (!p384 || !p512 || !r384 || !r512)
        return vd_fail(err, VD_EFORMAT, "face_detection: unexpected outputs");
    float sx = vd__sx(f) * (float)f->width / (float)S, sy = vd__sy(f) * (float)f->height / (float)S;
    cand *cs = malloc(sizeof(cand) * NA);
    if (!cs) return vd_fail(err, VD_ENOMEM, "out of memory");
    int n = 0;
    for (int k = 0; k < NA; k++) {
        float logit = k < 512 ? p512[k] : p384[k - 512];
        const float *r = k < 512 ? r512 + 16 * k : r384 + 16 * (k - 512);
        float score = 1.0f / (1.0f + expf(-logit));
        if (score < c->min_score) continue;
        float cx = r[0] + c->anchors[k][0], cy = r[1] + c->anchors[k][1], w = r[2], h = r[3];
        cand *o = &cs[n++];
        o->score = score;
        o->box[0] = (cx - w / 2) * sx;
        o->box[1] = (cy - h / 2) * sy;
        o->box[2] = (cx + w / 2) * sx;
        o->box[3] = (cy + h / 2) * sy;
        for (int l = 0; l < 6; l++) {
            o->lm[2 * l] = (r[4 + 2 * l] + c->anchors[k][0]) * sx;
            o->lm[2 * l + 1] = (r[5 + 2 * l] + c->anchors[k][1]) * sy;
        }
    }
    qsort(cs, (size_t)n, sizeof *cs, by_score);
    json_t *bbox = json_array(), *prob = json_array(), *lms = json_array();
    int *done = calloc((size_t)n + 1, sizeof(int));
    for (int i = 0; i < n && done; i++) {
        if (done[i]) continue;
        /* weighted NMS: the cluster of candidates overlapping the best one */
        float acc[16] = {0}, wsum = 0;
        for (int j = i; j < n; j++) {
            if (done[j] || cand_iou(&cs[i], &cs[j]) < c->iou) continue;
            done[j] = 1;
            float w = cs[j].score;
            for (int q = 0; q < 4; q++) acc[q] += w * cs[j].box[q];
            wsum += w;
        }
        for (int q = 0; q < 4; q++) acc[q] /= wsum;
        json_array_append_new(bbox, vd__box_json(acc[0], acc[1], acc[2], acc[3]));
        json_array_append_new(prob, json_real(roundf(cs[i].score * 1000) / 1000));
        json_t *l = json_array();
        for (int q = 0; q < 6; q++)
            json_array_append_new(l, json_pack("[ff]", roundf(cs[i].lm[2 * q] * 10) / 10,
                                               roundf(cs[i].lm[2 * q + 1] * 10) / 10));
        json_array_append_new(lms, l);
    }
    free(done);
    free(cs);
    *out = json_pack("{s:o,s:o,s:o}", "bbox", bbox, "prob", prob, "landmarks", lms);
    return *out ? 0 : vd_fail(err, VD_ENOMEM, "out of memory");
}

static void fd_close(void *priv)
{
    fd_ctx *c = priv;
    vd_model_free(c->m);
    free(c->in);
}

extern const vd_service vd_svc_face_detection;

static void fd_render(vd_canvas *cv, const vd_frame *f, json_t *out)
{
    vd__render_boxes(&vd_svc_face_detection, cv, f, out, 1);
    vd__draw_landmarks(cv, f, json_object_get(out, "landmarks"));
}

/* model 2: a cascade (vdag/cascade.h): blazeface-front here, frames with an uncertain face
 * on to blazeface-back (the band from bench/cascade.sh's curve) */
static const char *const fd_models[] = {"blazeface-back", "blazeface-front",
                                        "cascade:blazeface-front@0.5..0.8>blazeface-back"};
static const char *const fd_in[] = {NULL};
static const char *const fd_out[] = {"bbox", "prob", "landmarks", NULL};
static const vd_svc_field fd_schema[] = {{"bbox", VD_FT_BOXES, VD_FIELD_TRACK},
                                         {"prob", VD_FT_SCORES, 0},
                                         {"landmarks", VD_FT_POINTS, 0},
                                         {NULL, 0, 0}};

const vd_service vd_svc_face_detection = {
    .name = "face_detection",
    .description = "BlazeFace face detector: boxes, scores, 6 landmarks",
    .n_models = 3,
    .model_names = fd_models,
    .inputs = fd_in,
    .outputs = fd_out,
    .is_detector = 1,
    .out_schema = fd_schema,
    .priv_size = sizeof(fd_ctx),
    .open = fd_open,
    .process = fd_process,
    .close = fd_close,
    .render = fd_render,
};
