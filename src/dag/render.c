/*
 * Rendering a step's result onto its frame: each stage's output as its service draws it
 * (vd_service.render: boxes coloured by track id, labels with scores, landmarks, …), and a
 * text block with counts and stage delays. Used by `vdag run --render` and the nodes'
 * MJPEG streams.
 */
#include <stdio.h>

#include "vdag/dag.h"
#include "vdag/media.h"

void vd_render_result(vd_frame *f, json_t *res)
{
    vd_canvas *cv;
    if (vd_canvas_begin(f, &cv, NULL)) return;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(res, "stages"), k, v)
    {
        const vd_service *svc = vd_service_find(k); /* a stage is named after its service */
        if (svc && svc->render) svc->render(cv, f, v);
    }
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
