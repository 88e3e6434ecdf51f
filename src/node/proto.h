/*
 * The job protocol between the cloud and its edges, in one place: the job spec (what a user
 * submitted) and the messages that carry it. The cloud builds what the edge parses, and
 * parses what the edge builds, with these functions only.
 *
 *   node.submit_job   {job_uid, SPEC, plan?, plan_version?, watch?}        → {status}
 *   node.update_plan  {job_uid, plan?, plan_version?, user_constraint?}     → {status}
 *   node.get_job      {job_uid} → {job_uid, node, state "EXEC"|"DONE", SPEC, watch, plan,
 *                                  plan_version}
 *   node.stop_job {job_uid}, node.watch {job_uid, on}, node.get_runtime {job_uid},
 *   node.get_kb {}
 *   node.add_video {video_id, url, type?, loop?, reconnect_timeout?, probe?}
 *                  → {status, msg, node, video_id, video: {ID: {type, path, kind}}, source?}
 *   node.remove_video {video_id} → {status, msg, node, video_id, video, jobs_ended: [uid]}
 *   SPEC: video_id, dag, user_constraint, scheduler, max_frames, loop?, requested_plan?
 *
 * The user API's POST /query/submit_query carries the same SPEC, with "pipeline" as an
 * alternative to "dag" and "plan" for the requested plan.
 *
 * A command that fails answers with its VD_E* code (the caller sees VD_EREMOTE with it in
 * err.remote, vdag/error.h); the codes are part of the protocol: VD_EINVAL, a bad request;
 * VD_ENOTFOUND, the job (or, for node.submit_job, the video) is not on that node;
 * VD_EALREADY, node.submit_job of a job that ran to its end there; VD_ESTATE, the node is
 * shutting down; for node.add_video, VD_EINVAL a source that does not open (the message says
 * why), VD_EALREADY an id the node has, VD_ETOOBIG no room; node.remove_video, VD_ENOTFOUND.
 * The cloud decides on these, never on the message.
 *
 * Ownership: a spec owns its DAG and JSON values (vd__job_spec_clear frees them); messages
 * are new references; parsed values borrow nothing from the message. No state, no locks.
 */
#ifndef VDAG_NODE_PROTO_H
#define VDAG_NODE_PROTO_H

#include <jansson.h>

#include "vdag/dag.h"
#include "vdag/error.h"
#include "vdag/net.h"
#include "vdag/sched.h"

#define VD_CMD_SUBMIT    "node.submit_job"
#define VD_CMD_UPDATE    "node.update_plan"
#define VD_CMD_STOP      "node.stop_job"
#define VD_CMD_WATCH     "node.watch"
#define VD_CMD_RUNTIME   "node.get_runtime"
#define VD_CMD_GET_KB    "node.get_kb"
#define VD_CMD_GET_JOB   "node.get_job"
#define VD_CMD_ADD_VIDEO "node.add_video"
#define VD_CMD_RM_VIDEO  "node.remove_video"

#define VD_DEFAULT_SCHEDULER "feedback"
#define VD_MAX_FRAMES        2147483647 /* the largest max_frames */

/* The job as submitted. */
typedef struct vd__job_spec {
    char video_id[32];
    vd_dag *dag;                  /* owned */
    json_t *dag_json;             /* owned: vd_dag_to_json(dag), what messages carry */
    json_t *constraint;           /* owned: user_constraint as given, {} when none */
    double delay_bound, accuracy; /* parsed from it (0: none) */
    char scheduler[32];           /* as given, VD_DEFAULT_SCHEDULER when none */
    json_t *requested;            /* owned, may be NULL: the requested plan as given */
    long max_frames;              /* 0: no limit */
    int loop;                     /* -1: the edge's default, else 0/1 */
} vd__job_spec;

typedef enum vd__spec_form {
    VD__SPEC_WIRE, /* node.submit_job, node.get_job: "dag", "requested_plan" */
    VD__SPEC_USER, /* /query/submit_query: "pipeline" or "dag", "plan" */
} vd__spec_form;

/* Parse and check a spec from a message's fields into *s (cleared first; on error nothing
 * is left to free). Errors name the field; every one is VD_EINVAL (the request is wrong,
 * whatever the parser of a field said) but VD_ENOMEM. */
int vd__job_spec_parse(json_t *m, vd__spec_form form, vd__job_spec *s, vd_error *err);
/* Replace the user_constraint (checked as by the parse); VD_EINVAL leaves s unchanged. */
int vd__job_spec_set_constraint(vd__job_spec *s, json_t *uc, vd_error *err);
/* Free what s owns and zero it. */
void vd__job_spec_clear(vd__job_spec *s);

/* A field of a request that does not parse makes the request wrong: VD_EINVAL whatever the
 * field's parser said (an unknown service is VD_ENOTFOUND there, which from a node would
 * mean "not here"), VD_ENOMEM kept; err->code follows. */
int vd__request_error(int rc, vd_error *err);

/* user_constraint: {"delay": s | [lo, hi] (the bound: hi; > 0, <= 3600), "accuracy": 0..1
 * (or the seed's level 0..10) | "acc_level": 0..5}; NULL is none (both 0). VD_EINVAL naming
 * the field. */
int vd__constraint_parse(json_t *uc, double *delay, double *accuracy, vd_error *err);

/* The "job_uid" of a command (the seed's "unique_job_id" too); NULL when absent. */
const char *vd__msg_job_uid(json_t *m);
/* The cloud's number for the plan a command carries ("plan_version"); 0 when absent. */
int vd__msg_plan_version(json_t *m);

/* A command's reply: pack {"status": 0, …} (status added when absent) as a vd_msg; steals
 * j (NULL: VD_ENOMEM). */
int vd__reply_json(vd_buf *resp, json_t *j, vd_error *err);
/* An HTTP request's body as a JSON object (new reference), or NULL with an error reply set
 * (VD_EFORMAT: not JSON, with line and column; VD_EINVAL: not an object). */
json_t *vd__parse_body(const vd_http_req *req, vd_http_resp *resp);

/* A plan's JSON as users see it, in place: numbers where the seed has numbers, the source's
 * own for "native" (resolution "<native_h>p", fps native_fps; each when > 0, i.e. known).
 * Returns plan. */
json_t *vd__plan_shown(json_t *plan, int native_h, double native_fps);

/* ---- node.submit_job ---------------------------------------------------------------- */

typedef struct vd__submit {
    char uid[64];
    vd__job_spec spec;
    int has_plan;
    vd_plan plan;     /* when has_plan, checked against spec.dag */
    int plan_version; /* 0: none given */
    int watch;
} vd__submit;

json_t *vd__submit_msg(const char *uid, const vd__job_spec *s, const vd_plan *plan,
                       int plan_version, int watch);
/* VD_EINVAL (a bad uid, spec or plan) or VD_ENOMEM; on success the caller owns out->spec. */
int vd__submit_parse(json_t *m, vd__submit *out, vd_error *err);

/* ---- node.update_plan --------------------------------------------------------------- */

/* plan NULL: a constraint-only update; constraint may be NULL. */
json_t *vd__update_msg(const char *uid, const vd_plan *plan, int plan_version, json_t *constraint);

/* ---- node.get_job ------------------------------------------------------------------- */

typedef struct vd__job_info {
    int running; /* state "EXEC"; when 0 nothing else is filled */
    vd__job_spec spec;
    vd_plan plan;     /* in force (or about to be applied) */
    int plan_version; /* the cloud's number for it, 0: none given */
    int watch;
} vd__job_info;

json_t *vd__job_info_msg(const char *uid, const char *node, const vd__job_spec *s, int running,
                         int watch, const vd_plan *plan, int plan_version);
/* A job whose state is not "EXEC" gives running 0 and nothing else; VD_EINVAL for a running
 * one that does not parse; on success with running the caller owns out->spec. */
int vd__job_info_parse(json_t *m, vd__job_info *out, vd_error *err);

#endif
