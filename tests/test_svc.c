/* Services on real media: messi5.jpg (persons and a sports ball, a face), Megamind.avi
 * (a face in most frames, landmarks inside the face box), the registry, NMS and the
 * tracker. */
#include <libavutil/log.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "vdag/media.h"
#include "vdag/svc.h"

static json_t *run(const char *svc, int model, const vd_frame *f, json_t *args)
{
    vd_error err = {0};
    vd_svc_instance *s;
    if (vd_svc_open(svc, model, NULL, &s, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return NULL;
    }
    json_t *out = NULL;
    if (vd_svc_process(s, f, args, &out, &err)) fprintf(stderr, "%s\n", err.msg);
    vd_svc_close(s);
    return out;
}

/* Draw out with its service's render callback on a copy of f; returns how many pixels of
 * the copy changed (and whether the pixel at (x,y) did). */
static int rendered(const char *svc, const vd_frame *f, json_t *out, int x, int y, int *at)
{
    vd_frame *c = vd_frame_new(f->width, f->height);
    vd_canvas *cv;
    if (!c) return 0;
    for (int r = 0; r < f->height; r++)
        memcpy(c->data + (size_t)r * (size_t)c->stride, f->data + (size_t)r * (size_t)f->stride,
               (size_t)f->width * 3);
    c->src_width = f->src_width;
    c->src_height = f->src_height;
    int n = 0;
    if (vd_canvas_begin(c, &cv, NULL) == 0) {
        vd_service_find(svc)->render(cv, c, out);
        vd_canvas_end(cv);
        for (int r = 0; r < f->height; r++)
            n += memcmp(c->data + (size_t)r * (size_t)c->stride,
                        f->data + (size_t)r * (size_t)f->stride, (size_t)f->width * 3) != 0;
        *at = memcmp(c->data + (size_t)y * (size_t)c->stride + 3 * (size_t)x,
                     f->data + (size_t)y * (size_t)f->stride + 3 * (size_t)x, 3) != 0;
    }
    vd_frame_free(c);
    return n;
}

static int count_of(json_t *o, const char *label)
{
    return (int)json_integer_value(json_object_get(json_object_get(o, "counts"), label));
}

int main(void)
{
    av_log_set_level(AV_LOG_ERROR);
    vd_error err = {0};
    vd_frame *img;
    CHECK(vd_image_load(vt_media("messi5.jpg"), &img, &err) == 0);
    for (int model = 0; model < 2; model++) {
        json_t *o = run("object_detection", model, img, NULL);
        CHECK(o != NULL);
        char *s = json_dumps(json_object_get(o, "counts"), JSON_COMPACT);
        printf("object_detection model %d on messi5.jpg: %s\n", model, s);
        free(s);
        CHECKF(count_of(o, "person") >= (model == 0 ? 2 : 1), "model %d persons %d", model,
               count_of(o, "person"));
        CHECKF(count_of(o, "sports ball") >= 1, "model %d sports ball %d", model,
               count_of(o, "sports ball"));
        json_t *bb = json_object_get(o, "bbox");
        size_t i;
        json_t *b;
        json_array_foreach(bb, i, b)
        {
            double x1, y1, x2, y2;
            json_unpack(b, "[FFFF]", &x1, &y1, &x2, &y2);
            CHECK(x1 >= 0 && y1 >= 0 && x2 <= img->width && y2 <= img->height && x2 > x1 &&
                  y2 > y1);
        }
        CHECK(json_array_size(json_object_get(o, "labels")) == json_array_size(bb));
        /* its render callback draws the boxes: the first box's left edge changed */
        double x1 = 0, y1 = 0, x2 = 0, y2 = 0;
        json_unpack(json_array_get(bb, 0), "[FFFF]", &x1, &y1, &x2, &y2);
        int at = 0, rows = rendered("object_detection", img, o, (int)x1, (int)((y1 + y2) / 2), &at);
        CHECKF(rows > 0 && at, "render: %d rows changed, box edge %s", rows, at ? "drawn" : "not");
        json_decref(o);
    }
    /* the same photo at half resolution: coordinates stay in source pixels */
    vd_frame *half;
    CHECK(vd_frame_scale(img, img->width / 2, img->height / 2, &half, &err) == 0);
    half->src_width = img->width;
    half->src_height = img->height;
    json_t *full = run("object_detection", 0, img, NULL),
           *hal = run("object_detection", 0, half, NULL);
    double fx = -1, hx = -2;
    for (size_t k = 0; k < json_array_size(json_object_get(full, "labels")); k++)
        if (!strcmp(json_string_value(json_array_get(json_object_get(full, "labels"), k)),
                    "sports ball"))
            fx = json_number_value(
                json_array_get(json_array_get(json_object_get(full, "bbox"), k), 0));
    for (size_t k = 0; k < json_array_size(json_object_get(hal, "labels")); k++)
        if (!strcmp(json_string_value(json_array_get(json_object_get(hal, "labels"), k)),
                    "sports ball"))
            hx = json_number_value(
                json_array_get(json_array_get(json_object_get(hal, "bbox"), k), 0));
    CHECKF(fabs(fx - hx) < 12, "source-pixel coordinates of the ball: %g vs %g", fx, hx);
    json_decref(full);
    json_decref(hal);
    vd_frame_free(half);

    /* faces on Megamind.avi: most frames have a face; landmarks inside the box */
    vd_source *src;
    vd_source_opts so = {.conf = {.nskip = 9}};
    CHECK(vd_source_open(vt_media("Megamind.avi"), &so, &src, &err) == 0);
    vd_svc_instance *fd, *fa;
    CHECK(vd_svc_open("face_detection", 0, NULL, &fd, &err) == 0);
    CHECK(vd_svc_open("face_alignment", 0, NULL, &fa, &err) == 0);
    int frames = 0, with_face = 0, lm_inside = 0, lm_total = 0, aligned = 0;
    vd_frame *f;
    while (frames < 30 && vd_source_read(src, &f, 5000, &err) == 0) {
        frames++;
        json_t *det = NULL, *al = NULL;
        CHECK(vd_svc_process(fd, f, NULL, &det, &err) == 0);
        if (json_array_size(json_object_get(det, "bbox")) > 0) with_face++;
        json_t *args = json_pack("{s:O,s:O,s:b}", "bbox", json_object_get(det, "bbox"), "prob",
                                 json_object_get(det, "prob"), "aligned", frames <= 3);
        CHECK(vd_svc_process(fa, f, args, &al, &err) == 0);
        json_t *cr = json_object_get(al, "count_result");
        CHECK(json_integer_value(json_object_get(cr, "up")) <=
              json_integer_value(json_object_get(cr, "total")));
        size_t i;
        json_t *lm;
        json_array_foreach(json_object_get(al, "landmarks"), i, lm)
        {
            double x1, y1, x2, y2;
            json_unpack(json_array_get(json_object_get(det, "bbox"),
                                       i < json_array_size(json_object_get(det, "bbox")) ? i : 0),
                        "[FFFF]", &x1, &y1, &x2, &y2);
            double w = x2 - x1, h = y2 - y1;
            CHECK(json_array_size(lm) == 468);
            for (size_t p = 0; p < json_array_size(lm); p += 13) {
                double x = json_number_value(json_array_get(json_array_get(lm, p), 0));
                double y = json_number_value(json_array_get(json_array_get(lm, p), 1));
                lm_total++;
                lm_inside += x >= x1 - 0.25 * w && x <= x2 + 0.25 * w && y >= y1 - 0.35 * h &&
                             y <= y2 + 0.25 * h;
            }
            CHECK(json_array_size(json_array_get(json_object_get(al, "head_pose"), i)) == 3);
        }
        if (json_object_get(al, "aligned"))
            aligned += (int)json_array_size(json_object_get(al, "aligned"));
        if (frames == 1) {
            char *s = json_dumps(json_object_get(al, "head_pose"), JSON_COMPACT);
            printf("Megamind frame %lld: %zu faces, head pose %s\n", (long long)f->cam_frame_id,
                   json_array_size(json_object_get(det, "bbox")), s);
            free(s);
        }
        json_decref(args);
        json_decref(det);
        json_decref(al);
        vd_frame_free(f);
    }
    printf("Megamind: %d of %d frames with a face; %d of %d landmarks inside the box\n", with_face,
           frames, lm_inside, lm_total);
    CHECKF(with_face * 10 >= frames * 6, "faces in %d of %d frames", with_face, frames);
    CHECKF(lm_total > 0 && lm_inside * 100 >= lm_total * 95, "%d of %d landmarks inside", lm_inside,
           lm_total);
    CHECK(aligned >= 1);
    vd_svc_close(fd);
    vd_svc_close(fa);
    vd_source_close(src);

    /* face_detection on blazeface-front too, and a face on messi5.jpg */
    json_t *o = run("face_detection", 0, img, NULL);
    CHECK(o && json_array_size(json_object_get(o, "bbox")) >= 1);
    json_decref(o);
    CHECK(vd_source_open(vt_media("Megamind.avi"), NULL, &src, &err) == 0);
    for (int k = 0; k < 40 && vd_source_read(src, &f, 5000, &err) == 0; k++) vd_frame_free(f);
    CHECK(vd_source_read(src, &f, 5000, &err) == 0);
    o = run("face_detection", 1, f, NULL);
    CHECK(o && json_array_size(json_object_get(o, "bbox")) >= 1);
    json_decref(o);
    vd_frame_free(f);
    vd_source_close(src);

    /* registry and bad arguments */
    CHECK(vd_service_find("face_detection") && !vd_service_find("nope"));
    for (const vd_service *const *sv = vd_service_all(); *sv; sv++) {
        CHECKF(vd_service_check(*sv, &err) == 0, "%s", err.msg);
        CHECK(vd_service_find((*sv)->name) == *sv);
    }
    const vd_service *od = vd_service_find("object_detection");
    CHECK(vd_service_output(od, "bbox")->flags & VD_FIELD_TRACK);
    CHECK(vd_service_output(od, "classes")->type == VD_FT_CLASSES && !vd_service_output(od, "x"));
    CHECK(vd_service_input(vd_service_find("face_alignment"), "bbox")->type == VD_FT_BOXES);
    /* tracked boxes in and out of an output, as the schemas say */
    vd_det td[3] = {{1, 2, 30, 40, 0.9f, 0}, {5, 5, 9, 9, 0.5f, 32}, {0, 0, 4, 4, 0.7f, 0}},
           back[4];
    json_t *to = vd_service_tracked_output(od, td, 3);
    CHECK(json_array_size(json_object_get(to, "bbox")) == 3);
    CHECK(!strcmp(json_string_value(json_array_get(json_object_get(to, "labels"), 1)),
                  "sports ball"));
    CHECK(json_integer_value(json_array_get(json_object_get(to, "classes"), 1)) == 32);
    CHECK(json_integer_value(json_object_get(json_object_get(to, "count_result"), "person")) == 2);
    CHECK(json_integer_value(json_object_get(json_object_get(to, "counts"), "sports ball")) == 1);
    CHECK(vd_service_track_input(od, to, back, 4) == 3 && back[1].cls == 32 &&
          fabsf(back[0].score - 0.9f) < 1e-6f && back[0].x2 == 30 && back[2].y2 == 4);
    CHECK(vd_service_track_input(od, to, back, 2) == 2);
    json_decref(to);
    to = vd_service_tracked_output(vd_service_find("face_detection"), td, 2);
    CHECK(json_object_size(to) == 2 && json_array_size(json_object_get(to, "prob")) == 2);
    json_decref(to);
    to = json_pack("{s:[[ffff]]}", "bbox", 1.0, 2.0, 3.0, 4.0);
    CHECK(vd_service_track_input(vd_service_find("face_alignment"), to, back, 4) == 0);
    json_decref(to);
    /* profiling inputs: face_alignment's come from face_detection on the frame */
    json_t *pa[2] = {NULL, NULL};
    vd_frame *pf[2] = {img, img};
    const vd_service *fas = vd_service_find("face_alignment");
    CHECKF(vd_svc_profile_args(fas, pf, 2, NULL, pa, &err) == 0, "%s", err.msg);
    CHECK(pa[0] && pa[1] && json_array_size(json_object_get(pa[1], "bbox")) >= 1);
    json_decref(pa[0]);
    json_decref(pa[1]);
    CHECK(vd_svc_profile_args(od, pf, 2, NULL, pa, &err) == 0 && !pa[0] && !pa[1]);
    vd_service nofrom = *fas;
    nofrom.profile_from = NULL;
    CHECK(vd_svc_profile_args(&nofrom, pf, 2, NULL, pa, &err) == VD_EUNSUPP && !pa[0]);
    CHECK(vd_service_check(&nofrom, &err) == VD_EINVAL && strstr(err.msg, "profile_from"));
    static const char *const want_pose[] = {"head_pose", NULL}; /* face_detection has none */
    nofrom.profile_from = "face_detection";
    nofrom.inputs = want_pose;
    CHECK(vd_svc_profile_args(&nofrom, pf, 2, NULL, pa, &err) == VD_EUNSUPP && !pa[0] && !pa[1] &&
          strstr(err.msg, "'head_pose'"));
    vd_service broken = *od;
    broken.is_detector = 0; /* says untracked, but its bbox is VD_FIELD_TRACK */
    CHECK(vd_service_check(&broken, &err) == VD_EINVAL && strstr(err.msg, "is_detector"));
    broken = *od;
    broken.outputs = broken.inputs; /* the name list no longer matches the schema */
    CHECK(vd_service_check(&broken, &err) == VD_EINVAL && strstr(err.msg, "outputs"));
    broken = *od;
    broken.class_label = NULL;
    CHECK(vd_service_check(&broken, &err) == VD_EINVAL && strstr(err.msg, "class_label"));
    vd_svc_instance *s;
    CHECK(vd_svc_open("nope", 0, NULL, &s, &err) == VD_ENOTFOUND && strstr(err.msg, "nope"));
    CHECK(vd_svc_open("object_detection", 5, NULL, &s, &err) == VD_EINVAL);
    CHECK(vd_svc_open("face_alignment", 0, NULL, &s, &err) == 0);
    json_t *bad = json_pack("{s:s}", "bbox", "notalist");
    json_t *out = NULL;
    CHECK(vd_svc_process(s, img, bad, &out, &err) == VD_EINVAL && out == NULL);
    json_decref(bad);
    vd_svc_close(s);

    /* NMS and tracker */
    vd_det d[3] = {{0, 0, 10, 10, 0.9f, 0}, {1, 1, 11, 11, 0.8f, 0}, {50, 50, 60, 60, 0.7f, 0}};
    CHECK(vd_nms(d, 3, 0.5f, 0) == 2);
    vd_tracker *t = vd_tracker_new();
    vd_det a[2] = {{0, 0, 10, 10, 0.9f, 0}, {100, 100, 120, 120, 0.9f, 0}};
    int ids[4], ids2[4];
    vd_tracker_update(t, a, 2, ids);
    CHECK(ids[0] != ids[1] && ids[0] > 0);
    vd_det b2[2] = {{102, 100, 122, 120, 0.9f, 0}, {2, 0, 12, 10, 0.9f, 0}};
    vd_tracker_update(t, b2, 2, ids2);
    CHECK(ids2[0] == ids[1] && ids2[1] == ids[0]);
    vd_det p[4];
    int pid[4];
    int np = vd_tracker_predict(t, p, pid, 4);
    CHECK(np == 2);
    for (int k = 0; k < np; k++)
        if (pid[k] == ids[0]) CHECKF(fabsf(p[k].x1 - 3) < 1.01f, "predicted x1 %g", p[k].x1);
    vd_tracker_free(t);
    vd_frame_free(img);
    return vt_finish();
}
