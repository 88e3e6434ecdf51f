/* pose_estimation on real media: MoveNet keypoints for the persons object_detection finds on
 * messi5.jpg and on vtest.avi land inside (a small margin around) their person boxes with
 * decent scores, for the per-crop models (0, 1) and for movenet-multipose (2), which takes the
 * whole frame and no boxes; the service alone, in a pipeline DAG and in a seed-form DAG with
 * tracking; profiling inputs; its render callback; bad inputs. */
#include <libavutil/log.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "vdag/dag.h"
#include "vdag/media.h"
#include "vdag/svc.h"

#define KP_MIN 0.3 /* keypoints counted from this score */

typedef struct pose_stats {
    int persons, confident, kp, kp_inside;
    double best; /* best mean keypoint score */
} pose_stats;

/* Check the shape of a pose_estimation output and count its keypoints inside their boxes
 * (enlarged by 10% of the box size on each side). */
static void pose_check(json_t *pe, pose_stats *st)
{
    json_t *bb = json_object_get(pe, "bbox"), *kps = json_object_get(pe, "keypoints");
    json_t *sc = json_object_get(pe, "scores");
    CHECK(json_array_size(bb) == json_array_size(kps) &&
          json_array_size(sc) == json_array_size(bb));
    int confident = 0;
    size_t i;
    json_t *person;
    json_array_foreach(kps, i, person)
    {
        double x1 = 0, y1 = 0, x2 = 0, y2 = 0;
        json_unpack(json_array_get(bb, i), "[FFFF]", &x1, &y1, &x2, &y2);
        double w = x2 - x1, h = y2 - y1, mean = 0;
        CHECK(json_array_size(person) == 17);
        for (size_t k = 0; k < json_array_size(person); k++) {
            json_t *p = json_array_get(person, k);
            double x = json_number_value(json_array_get(p, 0)),
                   y = json_number_value(json_array_get(p, 1)),
                   s = json_number_value(json_array_get(p, 2));
            CHECK(s >= 0 && s <= 1);
            mean += s / 17;
            if (s < KP_MIN) continue;
            st->kp++;
            st->kp_inside +=
                x >= x1 - 0.1 * w && x <= x2 + 0.1 * w && y >= y1 - 0.1 * h && y <= y2 + 0.1 * h;
        }
        CHECKF(fabs(mean - json_number_value(json_array_get(sc, i))) < 2e-3, "score %g vs mean %g",
               json_number_value(json_array_get(sc, i)), mean);
        confident += mean >= 0.3;
        if (mean > st->best) st->best = mean;
        st->persons++;
    }
    CHECK(json_integer_value(json_object_get(json_object_get(pe, "count_result"), "poses")) ==
          confident);
    st->confident += confident;
}

/* Multipose against object_detection's persons (od): every confident pose's confident
 * keypoints should fall in one person box (enlarged by 10% of its size on each side), and
 * most persons should have a pose box on them (IoU >= 0.5). */
typedef struct mp_stats {
    int confident, kp, kp_inside, persons, matched;
} mp_stats;

static double iou(json_t *a, json_t *b)
{
    double a1, a2, a3, a4, b1, b2, b3, b4;
    if (json_unpack(a, "[FFFF]", &a1, &a2, &a3, &a4) ||
        json_unpack(b, "[FFFF]", &b1, &b2, &b3, &b4))
        return 0;
    double w = fmin(a3, b3) - fmax(a1, b1), h = fmin(a4, b4) - fmax(a2, b2);
    if (w <= 0 || h <= 0) return 0;
    return w * h / ((a3 - a1) * (a4 - a2) + (b3 - b1) * (b4 - b2) - w * h);
}

static void mp_check(json_t *pe, json_t *od, mp_stats *st)
{
    json_t *obb = json_object_get(od, "bbox"), *lab = json_object_get(od, "labels");
    json_t *kps = json_object_get(pe, "keypoints"), *sc = json_object_get(pe, "scores");
    size_t i, j;
    json_t *person, *b;
    json_array_foreach(kps, i, person)
    {
        if (json_number_value(json_array_get(sc, i)) < 0.3) continue;
        st->confident++;
        int best = 0; /* keypoints in the od person box holding most of them */
        for (size_t k = 0; k < json_array_size(person); k++)
            st->kp += json_number_value(json_array_get(json_array_get(person, k), 2)) >= KP_MIN;
        json_array_foreach(obb, j, b)
        {
            if (strcmp(json_string_value(json_array_get(lab, j)), "person")) continue;
            double x1, y1, x2, y2;
            json_unpack(b, "[FFFF]", &x1, &y1, &x2, &y2);
            double w = x2 - x1, h = y2 - y1;
            int in = 0;
            for (size_t k = 0; k < json_array_size(person); k++) {
                json_t *p = json_array_get(person, k);
                double x = json_number_value(json_array_get(p, 0)),
                       y = json_number_value(json_array_get(p, 1));
                in += json_number_value(json_array_get(p, 2)) >= KP_MIN && x >= x1 - 0.1 * w &&
                      x <= x2 + 0.1 * w && y >= y1 - 0.1 * h && y <= y2 + 0.1 * h;
            }
            if (in > best) best = in;
        }
        st->kp_inside += best;
    }
    json_array_foreach(obb, j, b)
    {
        if (strcmp(json_string_value(json_array_get(lab, j)), "person")) continue;
        st->persons++;
        int hit = 0;
        json_t *pb;
        json_array_foreach(json_object_get(pe, "bbox"), i, pb) hit |= iou(b, pb) >= 0.5;
        st->matched += hit;
    }
}

static json_t *run(const char *svc, int model, const vd_frame *f, json_t *args)
{
    vd_error err = {0};
    vd_svc_instance *s;
    json_t *out = NULL;
    if (vd_svc_open(svc, model, NULL, &s, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return NULL;
    }
    if (vd_svc_process(s, f, args, &out, &err)) fprintf(stderr, "%s\n", err.msg);
    vd_svc_close(s);
    return out;
}

static int n_persons(json_t *od)
{
    int n = 0;
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(od, "labels"), i, l) n +=
        !strcmp(json_string_value(l), "person");
    return n;
}

/* Rows of a copy of f that pose_estimation's render callback changes. */
static int rendered_rows(const vd_frame *f, json_t *out)
{
    vd_frame *c = vd_frame_new(f->width, f->height);
    vd_canvas *cv;
    int n = 0;
    if (!c) return 0;
    for (int r = 0; r < f->height; r++)
        memcpy(c->data + (size_t)r * (size_t)c->stride, f->data + (size_t)r * (size_t)f->stride,
               (size_t)f->width * 3);
    c->src_width = f->src_width;
    c->src_height = f->src_height;
    if (vd_canvas_begin(c, &cv, NULL) == 0) {
        vd_service_find("pose_estimation")->render(cv, c, out);
        vd_canvas_end(cv);
        for (int r = 0; r < f->height; r++)
            n += memcmp(c->data + (size_t)r * (size_t)c->stride,
                        f->data + (size_t)r * (size_t)f->stride, (size_t)f->width * 3) != 0;
    }
    vd_frame_free(c);
    return n;
}

static void test_messi(void)
{
    vd_error err = {0};
    vd_frame *img;
    CHECK(vd_image_load(vt_media("messi5.jpg"), &img, &err) == 0);
    json_t *od = run("object_detection", 0, img, NULL);
    CHECK(od && n_persons(od) >= 2);
    json_t *args = json_pack("{s:O,s:O}", "bbox", json_object_get(od, "bbox"), "labels",
                             json_object_get(od, "labels"));
    double nose[2][2] = {{0}};
    for (int model = 0; model < 2; model++) {
        json_t *pe = run("pose_estimation", model, img, args);
        CHECK(pe != NULL);
        pose_stats st = {0};
        pose_check(pe, &st);
        printf("messi5 model %d: %d persons, %d confident, best %.3f, %d of %d keypoints inside\n",
               model, st.persons, st.confident, st.best, st.kp_inside, st.kp);
        CHECKF(st.persons == n_persons(od), "model %d ran on %d boxes for %d persons", model,
               st.persons, n_persons(od));
        CHECKF(st.confident >= 1 && st.best >= 0.5, "model %d: best pose %.3f", model, st.best);
        CHECKF(st.kp >= 12 && st.kp_inside * 100 >= st.kp * 95, "model %d: %d of %d inside", model,
               st.kp_inside, st.kp);
        /* the best pose's nose lies in the upper part of its box (Messi stands upright) */
        size_t best = 0;
        for (size_t i = 1; i < json_array_size(json_object_get(pe, "scores")); i++)
            if (json_number_value(json_array_get(json_object_get(pe, "scores"), i)) >
                json_number_value(json_array_get(json_object_get(pe, "scores"), best)))
                best = i;
        double y1, y2, x1, x2;
        json_unpack(json_array_get(json_object_get(pe, "bbox"), best), "[FFFF]", &x1, &y1, &x2,
                    &y2);
        json_t *n = json_array_get(json_array_get(json_object_get(pe, "keypoints"), best), 0);
        nose[model][0] = json_number_value(json_array_get(n, 0));
        nose[model][1] = json_number_value(json_array_get(n, 1));
        CHECKF(nose[model][1] < y1 + 0.4 * (y2 - y1), "nose at y %g in box %g..%g", nose[model][1],
               y1, y2);
        if (model == 0) CHECK(rendered_rows(img, pe) > 20);
        json_decref(pe);
    }
    CHECKF(hypot(nose[0][0] - nose[1][0], nose[0][1] - nose[1][1]) < 20,
           "thunder and lightning disagree on the nose: (%g,%g) vs (%g,%g)", nose[0][0], nose[0][1],
           nose[1][0], nose[1][1]);

    /* multipose: the whole frame, no boxes; Messi's pose is found on his person box, its
     * keypoints in it, its nose where thunder's is */
    json_t *mp = run("pose_estimation", 2, img, NULL);
    CHECK(mp != NULL);
    pose_stats own = {0}; /* keypoints in the model's own boxes */
    pose_check(mp, &own);
    mp_stats ms = {0};
    mp_check(mp, od, &ms);
    printf("messi5 model 2: %d poses, %d confident, best %.3f; %d of %d keypoints in od persons, "
           "%d of %d persons matched\n",
           own.persons, own.confident, own.best, ms.kp_inside, ms.kp, ms.matched, ms.persons);
    CHECKF(own.confident >= 1 && own.best >= 0.5, "multipose: best pose %.3f", own.best);
    CHECKF(ms.kp >= 12 && ms.kp_inside * 100 >= ms.kp * 95, "multipose: %d of %d inside",
           ms.kp_inside, ms.kp);
    CHECKF(own.kp_inside * 100 >= own.kp * 90, "multipose: %d of %d in its own boxes",
           own.kp_inside, own.kp);
    size_t best = 0;
    json_t *msc = json_object_get(mp, "scores");
    for (size_t i = 1; i < json_array_size(msc); i++)
        if (json_number_value(json_array_get(msc, i)) >
            json_number_value(json_array_get(msc, best)))
            best = i;
    json_t *mbox = json_array_get(json_object_get(mp, "bbox"), best), *ob;
    double best_iou = 0;
    size_t oi;
    json_array_foreach(json_object_get(od, "bbox"), oi, ob) best_iou =
        fmax(best_iou, iou(mbox, ob));
    CHECKF(best_iou >= 0.6, "multipose: best pose's box has IoU %.2f with a detected box",
           best_iou);
    json_t *mn = json_array_get(json_array_get(json_object_get(mp, "keypoints"), best), 0);
    double mnx = json_number_value(json_array_get(mn, 0)),
           mny = json_number_value(json_array_get(mn, 1));
    CHECKF(hypot(mnx - nose[0][0], mny - nose[0][1]) < 20,
           "multipose and thunder disagree on the nose: (%g,%g) vs (%g,%g)", mnx, mny, nose[0][0],
           nose[0][1]);
    CHECK(rendered_rows(img, mp) > 20);
    /* boxes given are not used: the same poses */
    json_t *mp2 = run("pose_estimation", 2, img, args);
    CHECK(mp2 && json_equal(mp, mp2));
    json_decref(mp2);
    json_decref(mp);

    /* at half resolution the keypoints stay in source pixels */
    vd_frame *half;
    CHECK(vd_frame_scale(img, img->width / 2, img->height / 2, &half, &err) == 0);
    half->src_width = img->width;
    half->src_height = img->height;
    json_t *full = run("pose_estimation", 0, img, args),
           *hal = run("pose_estimation", 0, half, args);
    pose_stats st = {0};
    pose_check(hal, &st);
    CHECK(st.kp_inside * 100 >= st.kp * 95);
    int close = 0, total = 0;
    for (size_t i = 0; i < json_array_size(json_object_get(full, "keypoints")); i++)
        for (size_t k = 0; k < 17; k++) {
            json_t *a = json_array_get(json_array_get(json_object_get(full, "keypoints"), i), k);
            json_t *b = json_array_get(json_array_get(json_object_get(hal, "keypoints"), i), k);
            if (json_number_value(json_array_get(a, 2)) < 0.5) continue;
            total++;
            close += hypot(json_number_value(json_array_get(a, 0)) -
                               json_number_value(json_array_get(b, 0)),
                           json_number_value(json_array_get(a, 1)) -
                               json_number_value(json_array_get(b, 1))) < 15;
        }
    CHECKF(total >= 8 && close * 10 >= total * 8, "%d of %d keypoints agree at half size", close,
           total);
    json_decref(full);
    json_decref(hal);
    vd_frame_free(half);

    /* without labels every box is taken as a person; with an empty list, no pose */
    json_t *nolab = json_pack("{s:O}", "bbox", json_object_get(od, "bbox"));
    json_t *pe = run("pose_estimation", 1, img, nolab);
    CHECK(pe && json_array_size(json_object_get(pe, "keypoints")) ==
                    json_array_size(json_object_get(od, "bbox")));
    json_decref(pe);
    json_decref(nolab);
    nolab = json_pack("{s:[]}", "bbox");
    pe = run("pose_estimation", 1, img, nolab);
    CHECK(pe && json_array_size(json_object_get(pe, "keypoints")) == 0 &&
          json_integer_value(json_object_get(json_object_get(pe, "count_result"), "poses")) == 0);
    json_decref(pe);
    json_decref(nolab);

    /* bad inputs */
    vd_svc_instance *s;
    CHECK(vd_svc_open("pose_estimation", 0, NULL, &s, &err) == 0);
    json_t *out = NULL, *bad = json_pack("{s:s}", "bbox", "notalist");
    CHECK(vd_svc_process(s, img, bad, &out, &err) == VD_EINVAL && !out && strstr(err.msg, "bbox"));
    json_decref(bad);
    bad = json_pack("{s:O,s:i}", "bbox", json_object_get(od, "bbox"), "labels", 3);
    CHECK(vd_svc_process(s, img, bad, &out, &err) == VD_EINVAL && !out &&
          strstr(err.msg, "labels"));
    json_decref(bad);
    CHECK(vd_svc_process(s, img, NULL, &out, &err) == VD_EINVAL && !out);
    vd_svc_close(s);
    CHECK(vd_svc_open("pose_estimation", 3, NULL, &s, &err) == VD_EINVAL); /* no model 3 */
    json_decref(args);
    json_decref(od);
    vd_frame_free(img);
}

/* vtest.avi through a DAG: every processed frame's persons get keypoints in their boxes. */
static void test_vtest(const char *dag_json, int ntracking, int nskip)
{
    vd_error err = {0};
    vd_dag *d;
    int rc = dag_json ? vd_dag_parse(dag_json, "dag", &d, &err)
                      : vd_dag_from_pipeline("object_detection,pose_estimation", &d, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (rc) return;
    vd_exec_opts eo = {.threads = 2, .ntracking = ntracking};
    vd_exec *ex;
    CHECK(vd_exec_new(d, &eo, &ex, &err) == 0);
    vd_source_opts so = {.conf = {.nskip = nskip}};
    vd_source *src;
    CHECK(vd_source_open(vt_media("vtest.avi"), &so, &src, &err) == 0);
    vd_frame *f;
    int n = 0, with_poses = 0, tracked = 0;
    pose_stats st = {0};
    while (n < 6 && vd_source_read(src, &f, 5000, &err) == 0) {
        json_t *r;
        CHECK(vd_exec_step(ex, &f, 1, &r, &err) == 0);
        n++;
        json_t *stages = json_object_get(r, "stages");
        json_t *pe = json_object_get(stages, "pose_estimation");
        CHECK(json_number_value(json_object_get(json_object_get(r, "delay"), "pose_estimation")) >
              0);
        CHECKF(json_array_size(json_object_get(pe, "bbox")) ==
                   (size_t)n_persons(json_object_get(stages, "object_detection")),
               "frame %d: poses for %zu of %d persons", n,
               json_array_size(json_object_get(pe, "bbox")),
               n_persons(json_object_get(stages, "object_detection")));
        pose_check(pe, &st);
        int poses =
            (int)json_integer_value(json_object_get(json_object_get(r, "count_result"), "poses"));
        with_poses += poses >= 2;
        tracked += json_is_true(json_object_get(r, "tracked"));
        if (n == 1) {
            vd_frame *c;
            CHECK(vd_frame_scale(f, f->width, f->height, &c, &err) == 0);
            vd_render_result(c, r);
            int diff = 0;
            for (int y = 0; y < f->height; y++)
                diff += memcmp(c->data + (size_t)y * (size_t)c->stride,
                               f->data + (size_t)y * (size_t)f->stride, (size_t)f->width * 3) != 0;
            CHECK(diff > 50);
            vd_frame_free(c);
        }
        json_decref(r);
        vd_frame_free(f);
    }
    printf("vtest.avi (%s, ntracking %d, nskip %d): %d frames, %d with >= 2 poses; %d persons, %d "
           "confident, "
           "%d of %d keypoints inside\n",
           dag_json ? "seed DAG" : "pipeline", ntracking, nskip, n, with_poses, st.persons,
           st.confident, st.kp_inside, st.kp);
    CHECK(n == 6);
    CHECKF(with_poses == n, "%d of %d frames with two or more confident poses", with_poses, n);
    CHECKF(st.confident * 10 >= st.persons * 6, "%d of %d poses confident", st.confident,
           st.persons);
    CHECKF(st.kp > 100 && st.kp_inside * 100 >= st.kp * 95, "%d of %d keypoints inside",
           st.kp_inside, st.kp);
    CHECK(tracked == (ntracking ? n / 2 : 0));
    /* the lightning model at run time */
    CHECK(vd_exec_set_model(ex, 1, 1, &err) == 0 && vd_exec_model_id(ex, 1) == 1);
    CHECK(vd_source_read(src, &f, 5000, &err) == 0);
    json_t *r;
    CHECK(vd_exec_step(ex, &f, 1, &r, &err) == 0);
    pose_stats sl = {0};
    pose_check(json_object_get(json_object_get(r, "stages"), "pose_estimation"), &sl);
    CHECK(sl.persons >= 2 && sl.kp_inside * 100 >= sl.kp * 95);
    json_decref(r);
    vd_frame_free(f);
    /* multipose at run time: the boxes wired in are not used, its poses lie on the persons */
    CHECK(vd_exec_set_model(ex, 1, 2, &err) == 0 && vd_exec_model_id(ex, 1) == 2);
    CHECK(vd_source_read(src, &f, 5000, &err) == 0);
    CHECK(vd_exec_step(ex, &f, 1, &r, &err) == 0);
    mp_stats ms = {0};
    json_t *stages = json_object_get(r, "stages");
    mp_check(json_object_get(stages, "pose_estimation"),
             json_object_get(stages, "object_detection"), &ms);
    CHECKF(ms.confident >= 2 && ms.kp_inside * 100 >= ms.kp * 90, "multipose: %d poses, %d of %d",
           ms.confident, ms.kp_inside, ms.kp);
    json_decref(r);
    vd_frame_free(f);
    vd_source_close(src);
    vd_exec_free(ex);
    vd_dag_free(d);
}

/* movenet-multipose alone: the pipeline "pose_estimation" needs no detector; on vtest.avi
 * its confident poses lie on the persons object_detection finds, and it finds most of them.
 * The per-crop models refuse to run there without boxes. */
static void test_multipose_alone(void)
{
    vd_error err = {0};
    vd_dag *d;
    int rc = vd_dag_from_pipeline("pose_estimation", &d, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (rc) return;
    CHECK(d->n_stages == 1 && d->stages[0].n_args == 1); /* the image only */
    vd_exec_opts eo = {.threads = 2, .model_id = {2}};
    vd_exec *ex;
    CHECK(vd_exec_new(d, &eo, &ex, &err) == 0);
    vd_svc_instance *od;
    CHECK(vd_svc_open("object_detection", 0, NULL, &od, &err) == 0);
    vd_source_opts so = {.conf = {.nskip = 7}};
    vd_source *src;
    CHECK(vd_source_open(vt_media("vtest.avi"), &so, &src, &err) == 0);
    vd_frame *f;
    int n = 0, frames_with = 0;
    mp_stats ms = {0};
    pose_stats own = {0};
    while (n < 6 && vd_source_read(src, &f, 5000, &err) == 0) {
        json_t *r, *det = NULL;
        CHECK(vd_svc_process(od, f, NULL, &det, &err) == 0);
        CHECK(vd_exec_step(ex, &f, 1, &r, &err) == 0);
        n++;
        json_t *pe = json_object_get(json_object_get(r, "stages"), "pose_estimation");
        pose_check(pe, &own);
        int before = ms.confident;
        mp_check(pe, det, &ms);
        frames_with += ms.confident - before >= 2;
        json_decref(det);
        json_decref(r);
        vd_frame_free(f);
    }
    printf(
        "vtest.avi multipose alone: %d frames, %d with >= 2 poses; %d poses, %d confident; %d of "
        "%d keypoints in od persons; %d of %d persons matched\n",
        n, frames_with, own.persons, ms.confident, ms.kp_inside, ms.kp, ms.matched, ms.persons);
    CHECK(n == 6);
    CHECKF(frames_with >= n - 1, "%d of %d frames with two or more confident poses", frames_with,
           n);
    CHECKF(ms.kp > 100 && ms.kp_inside * 100 >= ms.kp * 90, "%d of %d keypoints in od persons",
           ms.kp_inside, ms.kp);
    CHECKF(ms.matched * 10 >= ms.persons * 5, "%d of %d persons have a pose", ms.matched,
           ms.persons);
    CHECKF(own.kp_inside * 100 >= own.kp * 90, "%d of %d keypoints in their own boxes",
           own.kp_inside, own.kp);
    /* thunder in the same DAG has no boxes: an error naming bbox */
    CHECK(vd_exec_set_model(ex, 0, 0, &err) == 0);
    CHECK(vd_source_read(src, &f, 5000, &err) == 0);
    json_t *r = NULL;
    CHECK(vd_exec_step(ex, &f, 1, &r, &err) == VD_EINVAL && strstr(err.msg, "bbox"));
    json_decref(r);
    vd_frame_free(f);
    vd_source_close(src);
    vd_svc_close(od);
    vd_exec_free(ex);
    vd_dag_free(d);

    /* profiling gives pose_estimation object_detection's boxes (its models 0 and 1 need
     * them, model 2 ignores them) */
    vd_frame *img;
    CHECK(vd_image_load(vt_media("messi5.jpg"), &img, &err) == 0);
    json_t *pa[1] = {NULL};
    CHECKF(vd_svc_profile_args(vd_service_find("pose_estimation"), &img, 1, NULL, pa, &err) == 0,
           "%s", err.msg);
    CHECK(pa[0] && json_array_size(json_object_get(pa[0], "bbox")) >= 2 &&
          json_object_get(pa[0], "labels"));
    for (int model = 0; model < 3; model++) {
        json_t *pe = run("pose_estimation", model, img, pa[0]);
        CHECKF(pe && json_array_size(json_object_get(pe, "keypoints")) >= 1,
               "model %d on profiling inputs", model);
        json_decref(pe);
    }
    json_decref(pa[0]);
    vd_frame_free(img);
}

int main(void)
{
    av_log_set_level(AV_LOG_ERROR);
    test_messi();
    test_vtest(NULL, 0, 7);
    test_vtest("{\"generator\":\"SingleFrameGenerator\",\"flow\":[\"SingleFrameGenerator\","
               "\"object_detection\",\"pose_estimation\"],\"input\":{\"object_detection\":{"
               "\"image\":\"SingleFrameGenerator.image\"},\"pose_estimation\":{\"image\":"
               "\"SingleFrameGenerator.image\",\"bbox\":\"object_detection.bbox\",\"labels\":"
               "\"object_detection.labels\"}}}",
               1, 0);
    test_multipose_alone();
    /* the pipeline form wires labels along with bbox */
    vd_error err = {0};
    vd_dag *d;
    CHECK(vd_dag_from_pipeline("object_detection,pose_estimation", &d, &err) == 0);
    int labels = 0;
    for (int k = 0; k < d->stages[1].n_args; k++)
        labels += !strcmp(d->stages[1].args[k].name, "labels") &&
                  !strcmp(d->stages[1].args[k].field, "labels");
    CHECK(labels == 1);
    vd_dag_free(d);
    return vt_finish();
}
