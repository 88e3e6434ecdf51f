/* Rendering helpers for the services' render callbacks, and a service's output drawn on its
 * frame as a JPEG. */
#include <stdio.h>
#include <string.h>

#include "svc/svc_util.h"

static float kx(const vd_frame *f)
{
    return (float)f->width / (float)f->src_width;
}

static float ky(const vd_frame *f)
{
    return (float)f->height / (float)f->src_height;
}

void vd__draw_box(vd_canvas *cv, const vd_frame *f, json_t *b, vd_rgb col, const char *label)
{
    double x1, y1, x2, y2;
    if (json_unpack(b, "[FFFF]", &x1, &y1, &x2, &y2)) return;
    float ax = (float)x1 * kx(f), ay = (float)y1 * ky(f);
    vd_draw_box(cv, ax, ay, (float)x2 * kx(f), (float)y2 * ky(f), col, 2);
    if (label) vd_draw_label(cv, ax, ay - 18 < 0 ? 0 : ay - 18, label, col, 11);
}

static json_t *field_of(const vd_service *svc, json_t *out, vd_field_type type, unsigned flag)
{
    for (const vd_svc_field *fl = svc->out_schema; fl && fl->name; fl++)
        if (fl->type == type && (fl->flags & flag) == flag) return json_object_get(out, fl->name);
    return NULL;
}

void vd__render_boxes(const vd_service *svc, vd_canvas *cv, const vd_frame *f, json_t *out,
                      int default_cls)
{
    json_t *bb = field_of(svc, out, VD_FT_BOXES, VD_FIELD_TRACK);
    json_t *labels = field_of(svc, out, VD_FT_LABELS, 0);
    json_t *scores = field_of(svc, out, VD_FT_SCORES, 0);
    json_t *classes = field_of(svc, out, VD_FT_CLASSES, 0);
    json_t *tids = json_object_get(out, "track_ids"); /* the executor's, when tracking */
    size_t i;
    json_t *b;
    json_array_foreach(bb, i, b)
    {
        int cls = classes ? (int)json_integer_value(json_array_get(classes, i)) : default_cls;
        long long tid = tids ? (long long)json_integer_value(json_array_get(tids, i)) : 0;
        vd_rgb col = vd_color_for(tids ? (int)tid : cls);
        const char *l = labels ? json_string_value(json_array_get(labels, i)) : NULL;
        char lab[96];
        if (l) {
            int n = snprintf(lab, sizeof lab, "%s %.2f", l,
                             json_number_value(json_array_get(scores, i)));
            if (tids && n > 0) snprintf(lab + n, sizeof lab - (size_t)n, " #%lld", tid);
        }
        vd__draw_box(cv, f, b, col, l ? lab : NULL);
    }
}

void vd__draw_landmarks(vd_canvas *cv, const vd_frame *f, json_t *lms)
{
    size_t i;
    json_t *lm;
    json_array_foreach(lms, i, lm)
    {
        float pts[2 * 160];
        int n = 0;
        size_t step = json_array_size(lm) > 10 ? 3 : 1;
        for (size_t p = 0; p < json_array_size(lm) && n < 160; p += step, n++) {
            json_t *pt = json_array_get(lm, p);
            pts[2 * n] = (float)json_number_value(json_array_get(pt, 0)) * kx(f);
            pts[2 * n + 1] = (float)json_number_value(json_array_get(pt, 1)) * ky(f);
        }
        vd_draw_points(cv, pts, n, (vd_rgb){255, 255, 0}, 1.2f);
    }
}

int vd_service_render_jpeg(const vd_service *svc, const vd_frame *f, json_t *out, int quality,
                           unsigned char **jpeg, size_t *len, vd_error *err)
{
    *jpeg = NULL;
    vd_frame *c = vd_frame_new_uninit(f->width, f->height);
    if (!c) return vd_fail(err, VD_ENOMEM, "out of memory");
    for (int y = 0; y < f->height; y++)
        memcpy(c->data + (size_t)y * c->stride, f->data + (size_t)y * f->stride,
               (size_t)f->width * 3);
    c->src_width = f->src_width;
    c->src_height = f->src_height;
    vd_canvas *cv;
    int rc = vd_canvas_begin(c, &cv, err);
    if (!rc) {
        if (svc->render) svc->render(cv, c, out);
        char lines[8][64];
        const char *lp[8];
        int n = 0;
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(out, "count_result"), k, v)
        {
            if (n == 8) break;
            snprintf(lines[n], sizeof lines[n], "%s: %lld", k, (long long)json_integer_value(v));
            lp[n] = lines[n];
            n++;
        }
        if (n) vd_draw_text_block(cv, lp, n, 14);
        vd_canvas_end(cv);
        rc = vd_jpeg_encode(c, quality, jpeg, len, err);
    }
    vd_frame_free(c);
    return rc;
}
