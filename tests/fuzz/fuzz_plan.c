/*
 * Fuzz: the plan JSON ({video_conf, flow_mapping}) checked against DAGs, and the job
 * protocol around it (src/node/proto.h): a user's submit_query spec, node.submit_job,
 * node.get_job, user_constraint. Whatever parses must round-trip: the plan it is written
 * back as parses to an equal plan; a spec sent on as node.submit_job parses to the same spec.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/proto.h"
#include "vdag/dag.h"
#include "vdag/sched.h"

static vd_dag *dags[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    vd_error err = {0};
    if (vd_dag_from_pipeline("face_detection,face_alignment", &dags[0], &err) ||
        vd_dag_from_pipeline("object_detection,pose_estimation", &dags[1], &err))
        abort();
    return 0;
}

static void plan_round_trip(json_t *j)
{
    for (int k = 0; k < 2; k++) {
        vd_plan p, q;
        vd_error err = {0};
        if (vd_plan_from_json(j, dags[k], "plan", &p, &err)) {
            if (!err.msg[0]) abort();
            continue;
        }
        json_t *back = vd_plan_to_json(&p);
        if (vd_plan_from_json(back, dags[k], "plan", &q, &err) || !vd_plan_equal(&p, &q)) abort();
        json_decref(back);
    }
}

static void spec_round_trip(json_t *j, vd__spec_form form)
{
    vd__job_spec s;
    vd_error err = {0};
    if (vd__job_spec_parse(j, form, &s, &err)) {
        if (err.code != VD_EINVAL && err.code != VD_ENOMEM) abort(); /* proto.h's promise */
        return;
    }
    vd_plan p;
    vd_plan_default(s.dag, "edge", &p);
    json_t *m = vd__submit_msg("fuzz.1", &s, &p, 3, 1);
    vd__submit sub;
    if (vd__submit_parse(m, &sub, &err)) abort();
    if (strcmp(sub.spec.video_id, s.video_id) || !json_equal(sub.spec.dag_json, s.dag_json) ||
        sub.spec.max_frames != s.max_frames || sub.spec.loop != s.loop ||
        sub.spec.delay_bound != s.delay_bound || !vd_plan_equal(&sub.plan, &p) ||
        sub.plan_version != 3)
        abort();
    vd__job_spec_clear(&sub.spec);
    json_decref(m);
    vd__job_spec_clear(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    if (!j) return 0;
    plan_round_trip(j);
    plan_round_trip(json_object_get(j, "plan"));
    spec_round_trip(j, VD__SPEC_USER);
    spec_round_trip(j, VD__SPEC_WIRE);
    vd__submit sub;
    vd_error err = {0};
    if (!vd__submit_parse(j, &sub, &err)) vd__job_spec_clear(&sub.spec);
    vd__job_info ji;
    if (!vd__job_info_parse(j, &ji, &err) && ji.running) vd__job_spec_clear(&ji.spec);
    double d, a;
    vd__constraint_parse(json_object_get(j, "user_constraint"), &d, &a, &err);
    json_decref(j);
    return 0;
}
