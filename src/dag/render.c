/*
 * Rendering a step's result onto its frame: boxes (coloured by track id), labels with
 * scores, face landmarks and head pose, and a text block with counts and stage delays.
 * Used by `vdag run --render` and the nodes' MJPEG streams.
 */
#include <stdio.h>
#include <string.h>

#include "vdag/dag.h"
#include "vdag/media.h"

static void draw_stage(vd_canvas *cv, const vd_frame *f, const char *name, json_t *out)
{
    float kx = (float)f->width / (float)f->src_width, ky = (float)f->height / (float)f->src_height;
    json_t *bb = json_object_get(out, "bbox"), *labels = json_object_get(out, "labels");
    json_t *scores = json_object_get(out, "scores");
    if (!scores) scores = json_object_get(out, "prob");
    json_t *tids = json_object_get(out, "track_ids");
    int face = !strcmp(name, "face_alignment");
    size_t i;
    json_t *b;
    json_array_foreach(bb, i, b)
    {
        double x1, y1, x2, y2;
        if (json_unpack(b, "[FFFF]", &x1, &y1, &x2, &y2)) continue;
        int cls = labels
                      ? (int)json_integer_value(json_array_get(json_object_get(out, "classes"), i))
                  : face ? 3
                         : 1;
        vd_rgb col = vd_color_for(tids ? (int)json_integer_value(json_array_get(tids, i)) : cls);
        vd_draw_box(cv, (float)x1 * kx, (float)y1 * ky, (float)x2 * kx, (float)y2 * ky, col, 2);
        char lab[96];
        const char *l = labels ? json_string_value(json_array_get(labels, i))
                        : face ? "face"
                               : NULL;
        if (!l) continue;
        int n =
            snprintf(lab, sizeof lab, "%s %.2f", l, json_number_value(json_array_get(scores, i)));
        if (tids && n > 0)
            snprintf(lab + n, sizeof lab - (size_t)n, " #%lld",
                     (long long)json_integer_value(json_array_get(tids, i)));
        if (face) {
            json_t *hp = json_array_get(json_object_get(out, "head_pose"), i);
            snprintf(lab, sizeof lab, "yaw %.0f pitch %.0f",
                     json_number_value(json_array_get(hp, 0)),
                     json_number_value(json_array_get(hp, 1)));
        }
        vd_draw_label(cv, (float)x1 * kx, (float)y1 * ky - 18 < 0 ? 0 : (float)y1 * ky - 18, lab,
                      col, 11);
    }
    json_t *lms = json_object_get(out, "landmarks");
    json_t *lm;
    json_array_foreach(lms, i, lm)
    {
        float pts[2 * 160];
        int n = 0;
        for (size_t p = 0;
             p < json_array_size(lm) && n<160; p += json_array_size(lm)> 10 ? 3 : 1, n++) {
            pts[2 * n] = (float)json_number_value(json_array_get(json_array_get(lm, p), 0)) * kx;
            pts[2 * n + 1] =
                (float)json_number_value(json_array_get(json_array_get(lm, p), 1)) * ky;
        }
        vd_draw_points(cv, pts, n, (vd_rgb){255, 255, 0}, 1.2f);
    }
}

void vd_render_result(vd_frame *f, json_t *res)
{
    vd_canvas *cv;
    if (vd_canvas_begin(f, &cv, NULL)) return;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(res, "stages"), k, v) draw_stage(cv, f, k, v);
    char lines[12][96];
    const char *lp[12];
    int n = 0;
    snprintf(lines[n++], 96, "frame %lld%s",
             (long long)json_integer_value(json_object_get(res, "cam_frame_id")),
             json_is_true(json_object_get(res, "tracked")) ? " (tracked)" : "");
    json_object_foreach(json_object_get(res, "count_result"), k, v)
    {
        if (n < 8) snprintf(lines[n++], 96, "%s: %lld", k, (long long)json_integer_value(v));
    }
    json_object_foreach(json_object_get(res, "delay"), k, v)
    {
        if (n < 12) snprintf(lines[n++], 96, "%s %.1f ms", k, json_number_value(v) * 1e3);
    }
    for (int i = 0; i < n; i++) lp[i] = lines[i];
    vd_draw_text_block(cv, lp, n, 12);
    vd_canvas_end(cv);
}
