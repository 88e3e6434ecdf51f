/* DAG parsing/validation (each error names the JSON path) and the executor on real
 * footage, with tracking. */
#include <libavutil/log.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "vdag/dag.h"
#include "vdag/media.h"

static void expect_err(const char *json, int code, const char *path_part, const char *what)
{
    vd_error err = {0};
    vd_dag *d = (vd_dag *)0x1;
    int rc = vd_dag_parse(json, "dag", &d, &err);
    CHECKF(rc == code, "%s: rc %d (%s)", json, rc, err.msg);
    CHECK(d == NULL);
    CHECKF(strstr(err.msg, path_part) != NULL, "message lacks path '%s': %s", path_part, err.msg);
    if (what) CHECKF(strstr(err.msg, what) != NULL, "message lacks '%s': %s", what, err.msg);
    if (rc == 0) vd_dag_free(d);
}

int main(void)
{
    av_log_set_level(AV_LOG_FATAL);
    vd_error err = {0};
    vd_dag *d;
    const char *seed = "{\"generator\":\"SingleFrameGenerator\","
                       "\"flow\":[\"SingleFrameGenerator\",\"face_detection\",\"face_alignment\"],"
                       "\"input\":{\"face_detection\":{\"image\":\"SingleFrameGenerator.image\"},"
                       "\"face_alignment\":{\"image\":\"SingleFrameGenerator.image\",\"bbox\":"
                       "\"face_detection.bbox\","
                       "\"prob\":\"face_detection.prob\"}}}";
    CHECK(vd_dag_parse(seed, "dag", &d, &err) == 0);
    CHECK(d && d->n_stages == 2 && !strcmp(d->stages[1].name, "face_alignment"));
    /* the short form expands to the seed's DAG */
    vd_dag *p;
    CHECK(vd_dag_parse("{\"pipeline\":[\"face_detection\",\"face_alignment\"]}", "dag", &p, &err) ==
          0);
    json_t *a = vd_dag_to_json(d), *b = vd_dag_to_json(p);
    CHECKF(json_equal(a, b), "pipeline form differs from the seed form");
    json_decref(a);
    json_decref(b);
    vd_dag_free(p);
    vd_dag_free(d);

    expect_err("{\"generator\":\"SingleFrameGenerator\",\"flow\":[\"SingleFrameGenerator\",\"face_"
               "detector\"],\"input\":{}}",
               VD_ENOTFOUND, "dag.flow[1]", "unknown service 'face_detector'");
    /* the known services in messages are the registry's */
    CHECK(vd_dag_parse("{\"pipeline\":[\"nope\"]}", "dag", &d, &err) == VD_ENOTFOUND);
    for (const vd_service *const *s = vd_service_all(); *s; s++)
        CHECKF(strstr(err.msg, (*s)->name) != NULL, "'%s' not in: %s", (*s)->name, err.msg);
    CHECK(vd_dag_from_pipeline("", &d, &err) == VD_EINVAL && strstr(err.msg, "object_detection"));
    expect_err(
        "{\"generator\":\"VideoGenerator\",\"flow\":[\"VideoGenerator\",\"face_detection\"]}",
        VD_EINVAL, "dag.generator", "unknown generator");
    expect_err("{\"generator\":\"SingleFrameGenerator\",\"flow\":[\"SingleFrameGenerator\",\"face_"
               "alignment\",\"face_detection\"],"
               "\"input\":{\"face_alignment\":{\"bbox\":\"face_detection.bbox\"}}}",
               VD_EINVAL, "dag.input.face_alignment.bbox", "not earlier in the flow");
    expect_err("{\"generator\":\"SingleFrameGenerator\",\"flow\":[\"SingleFrameGenerator\",\"face_"
               "detection\",\"face_alignment\"],"
               "\"input\":{\"face_alignment\":{\"image\":\"SingleFrameGenerator.image\"}}}",
               VD_EINVAL, "dag.input.face_alignment.bbox", "missing required input");
    expect_err("{\"generator\":\"SingleFrameGenerator\",\"flow\":[\"SingleFrameGenerator\",\"face_"
               "detection\",\"face_detection\"]}",
               VD_EINVAL, "dag.flow[2]", "duplicate stage");
    expect_err("{\"generator\":\"SingleFrameGenerator\",\"flow\":[\"SingleFrameGenerator\","
               "\"object_detection\",\"face_alignment\"],"
               "\"input\":{\"object_detection\":{\"x\":\"face_alignment.bbox\"},\"face_alignment\":"
               "{\"bbox\":\"object_detection.bbox\"}}}",
               VD_EINVAL, "dag.input.object_detection.x", "cycle");
    expect_err("{\"generator\":\"SingleFrameGenerator\",\"flow\":[\"SingleFrameGenerator\",\"face_"
               "detection\"],"
               "\"input\":{\"face_detection\":{\"image\":\"nowhere\"}}}",
               VD_EINVAL, "dag.input.face_detection.image", "<stage>.<field>");
    expect_err("{\"pipeline\":[\"face_detection\",42]}", VD_EINVAL, "dag.pipeline[1]", NULL);
    expect_err("{\"pipeline\":[\"face_alignment\"]}", VD_EINVAL, "dag.pipeline",
               "missing required input");
    expect_err("{\"generator\":\"SingleFrameGenerator\",\"flow\":[\"SingleFrameGenerator\",\"face_"
               "detection\",\"face_alignment\"]}",
               VD_EINVAL, "dag.input.face_alignment.bbox", "\"face_detection.bbox\"");
    /* references are checked against the output schema at parse time */
    expect_err("{\"generator\":\"SingleFrameGenerator\",\"flow\":[\"SingleFrameGenerator\",\"face_"
               "detection\",\"face_alignment\"],"
               "\"input\":{\"face_alignment\":{\"bbox\":\"face_detection.boxes\"}}}",
               VD_EINVAL, "dag.input.face_alignment.bbox", "face_detection outputs no 'boxes'");
    expect_err("{\"generator\":\"SingleFrameGenerator\",\"flow\":[\"SingleFrameGenerator\",\"face_"
               "detection\",\"face_alignment\"],"
               "\"input\":{\"face_alignment\":{\"bbox\":\"face_detection.bbox\",\"x\":"
               "\"face_detection.nothing\"}}}",
               VD_EINVAL, "dag.input.face_alignment.x", "(it outputs bbox, prob, landmarks)");
    expect_err("{\"generator\":\"SingleFrameGenerator\",\"flow\":[\"SingleFrameGenerator\",\"face_"
               "detection\",\"face_alignment\"],"
               "\"input\":{\"face_alignment\":{\"bbox\":\"face_detection.prob\"}}}",
               VD_EINVAL, "dag.input.face_alignment.bbox", "is scores, but face_alignment's input");
    expect_err("{\"generator\":\"SingleFrameGenerator\",\"flow\":[\"SingleFrameGenerator\",\"face_"
               "alignment\"],"
               "\"input\":{\"face_alignment\":{\"bbox\":\"SingleFrameGenerator.image\"}}}",
               VD_EINVAL, "dag.input.face_alignment.bbox", "is the frame");
    /* the executor's track ids of a detector are a field too; an undeclared input takes any */
    CHECKF(
        vd_dag_parse("{\"generator\":\"SingleFrameGenerator\",\"flow\":[\"SingleFrameGenerator\","
                     "\"object_detection\",\"face_alignment\"],\"input\":{\"face_alignment\":{"
                     "\"bbox\":\"object_detection.bbox\",\"ids\":\"object_detection.track_ids\"}}}",
                     "dag", &d, &err) == 0,
        "%s", err.msg);
    vd_dag_free(d);
    expect_err(
        "{\"generator\":\"SingleFrameGenerator\",\"flow\":[\"SingleFrameGenerator\",\"face_"
        "detection\",\"face_alignment\",\"object_detection\"],\"input\":{\"face_alignment\":{"
        "\"bbox\":\"face_detection.bbox\"},\"object_detection\":{\"x\":\"face_alignment.track_"
        "ids\"}}}",
        VD_EINVAL, "dag.input.object_detection.x", "face_alignment outputs no 'track_ids'");
    /* the pipeline form wires optional inputs from the stage giving the required ones */
    CHECK(vd_dag_from_pipeline("object_detection,face_detection,face_alignment", &d, &err) == 0);
    CHECK(d->stages[2].n_args == 3);
    for (int k = 0; k < d->stages[2].n_args; k++)
        CHECKF(!strcmp(d->stages[2].args[k].stage, !strcmp(d->stages[2].args[k].name, "image")
                                                       ? "SingleFrameGenerator"
                                                       : "face_detection"),
               "%s from %s", d->stages[2].args[k].name, d->stages[2].args[k].stage);
    vd_dag_free(d);
    expect_err("{\"generator\": ", VD_EFORMAT, "dag:1:", NULL);
    expect_err("[1,2]", VD_EINVAL, "dag", "JSON object");

    /* executor on vtest.avi: persons counted on every processed frame; tracked frames
     * carry the ids of the detection frames */
    CHECK(vd_dag_from_pipeline("object_detection", &d, &err) == 0);
    vd_exec_opts eo = {.threads = 2, .ntracking = 2};
    vd_exec *ex;
    CHECK(vd_exec_new(d, &eo, &ex, &err) == 0);
    vd_source_opts so = {.conf = {.resolution_h = 480}};
    vd_source *src;
    CHECK(vd_source_open(vt_media("vtest.avi"), &so, &src, &err) == 0);
    vd_frame *f;
    int n = 0, with_person = 0, tracked = 0, tracked_ids_known = 0, tracked_ids = 0;
    json_t *known = json_object();
    while (n < 30 && vd_source_read(src, &f, 5000, &err) == 0) {
        json_t *r;
        CHECK(vd_exec_step(ex, &f, 1, &r, &err) == 0);
        n++;
        CHECK(json_integer_value(json_object_get(r, "n_loop")) == n);
        CHECK(json_integer_value(json_object_get(r, "cam_frame_id")) == f->cam_frame_id);
        CHECK(json_number_value(json_object_get(json_object_get(r, "delay"), "object_detection")) >=
              0);
        CHECK(json_object_get(r, "total_frame_delay") != NULL);
        with_person +=
            json_integer_value(json_object_get(json_object_get(r, "count_result"), "person")) > 0;
        json_t *od = json_object_get(json_object_get(r, "stages"), "object_detection");
        json_t *ids = json_object_get(od, "track_ids");
        CHECK(json_array_size(ids) == json_array_size(json_object_get(od, "bbox")));
        int is_tracked = json_is_true(json_object_get(r, "tracked"));
        CHECK(is_tracked == (n % 3 != 1));
        tracked += is_tracked;
        size_t i;
        json_t *id;
        json_array_foreach(ids, i, id)
        {
            char key[32];
            snprintf(key, sizeof key, "%lld", (long long)json_integer_value(id));
            if (is_tracked) {
                tracked_ids++;
                tracked_ids_known += json_object_get(known, key) != NULL;
            } else {
                json_object_set_new(known, key, json_true());
            }
        }
        json_decref(r);
        vd_frame_free(f);
    }
    CHECK(n == 30 && with_person == n);
    CHECK(tracked == 20);
    CHECKF(tracked_ids > 0 && tracked_ids_known == tracked_ids,
           "%d of %d tracked ids seen at detection", tracked_ids_known, tracked_ids);
    json_decref(known);
    /* a model switch at run time */
    CHECK(vd_exec_set_model(ex, 0, 1, &err) == 0);
    CHECK(vd_source_read(src, &f, 5000, &err) == 0);
    vd_exec_set_ntracking(ex, 0);
    json_t *r;
    CHECK(vd_exec_step(ex, &f, 1, &r, &err) == 0);
    json_decref(r);
    vd_frame_free(f);
    vd_source_close(src);
    vd_exec_free(ex);
    vd_dag_free(d);

    /* ClipGenerator: a step runs the flow on each frame of the clip */
    const char *clipdag = "{\"generator\":\"ClipGenerator\",\"clip_len\":3,\"flow\":["
                          "\"ClipGenerator\",\"object_detection\"],"
                          "\"input\":{\"object_detection\":{\"image\":\"ClipGenerator.clip\"}}}";
    CHECK(vd_dag_parse(clipdag, "dag", &d, &err) == 0);
    CHECK(d->clip_len == 3);
    eo.ntracking = 0;
    CHECK(vd_exec_new(d, &eo, &ex, &err) == 0);
    CHECK(vd_source_open(vt_media("vtest.avi"), &so, &src, &err) == 0);
    vd_frame *fs[3];
    for (int k = 0; k < 3; k++) CHECK(vd_source_read(src, &fs[k], 5000, &err) == 0);
    CHECK(vd_exec_step(ex, fs, 3, &r, &err) == 0);
    CHECK(json_array_size(json_object_get(r, "clip")) == 3);
    CHECK(json_integer_value(json_object_get(r, "cam_frame_id")) == 2);
    json_decref(r);
    for (int k = 0; k < 3; k++) vd_frame_free(fs[k]);
    vd_source_close(src);
    vd_exec_free(ex);
    vd_dag_free(d);
    return vt_finish();
}
