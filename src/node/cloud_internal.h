/*
 * Internal to the cloud (cloud*.c): its tables and what its files call across.
 *
 * Locking: c->mu guards the node table, the jobs and the adoption queue; functions marked
 * "lock held" are called with it, the others without. A transport call (vd__cloud_call)
 * is never made while holding it.
 */
#ifndef VDAG_NODE_CLOUD_INTERNAL_H
#define VDAG_NODE_CLOUD_INTERNAL_H

#include <pthread.h>

#include "cloud_events.h"
#include "node/proto.h"
#include "node_internal.h"

#define RING        10   /* results kept per job for sync_job_result */
#define MAX_CHANGES 20   /* plan_changes kept per job */
#define CMD_TIMEOUT 3000 /* ms for a command to a node */
#define KB_RETRY_MS 5000 /* between node.get_kb attempts */
#define RESTOP_MS   3000 /* a stopped job its edge still lists: stop again after */
#define MAX_ADOPT   256  /* unknown jobs waiting for node.get_job */
#define RES_RUNS    4    /* runs of a job (edge restarts) whose results are told apart */
#define RES_ABOVE   64   /* results seen beyond the first gap, per run */

/* A node as its heartbeats describe it (the cloud itself too: self). */
typedef struct node_ent {
    char name[64], role[8], addr[128];
    double last_seen;      /* ms */
    json_t *hb;            /* the last heartbeat (without its kb) */
    vd_kb *kb;             /* from its heartbeats (NULL for the cloud itself: its host's kb) */
    json_int_t kb_version; /* of kb (0: none yet) */
    int kb_entries;
    int kb_wanted;      /* a newer version was announced without the kb: ask (node.get_kb) */
    double kb_retry_at; /* ms; not before this */
    int kb_fetch_logged;
    int self;
    char instance[24];     /* the run of the node its heartbeats come from ("" : not given) */
    char dup_instance[24]; /* another run under this name, heard while this one lives */
} node_ent;

/* A job's state: no plan yet or its edge lost, plan sent and results flowing, ended. */
enum { S_UNSCHED = 0, S_EXEC = 1, S_DONE = 2 };

/* The results of one run of a job on its edge (cloud_store.c): every seq <= floor was seen,
 * and those in above (sorted); max is the highest seen. A seq seen before is a duplicate
 * (the stream delivered it again): not counted. */
typedef struct res_run {
    uint64_t run;
    int64_t floor, max;
    int n_above;
    int64_t above[RES_ABOVE];
} res_run;

/* A job (guarded by mu; refs: the table and each viewer hold one). */
typedef struct cjob {
    char uid[64], node[64];
    vd__job_spec spec; /* as submitted; spec.scheduler is the scheduler's own name */
    vd_sched *sched;
    int state;
    char reason[16], msg[512];
    vd_plan plan;
    int has_plan, plan_sent, plan_version, replan_now;
    double last_plan_at, submitted_at, sent_at, last_result_at;
    json_t *ring[RING];
    int ring_n, ring_head;
    json_t *changes;  /* [{time, plan, why}] */
    json_t *last_hdr; /* latest result header from the edge */
    /* the latest result's measurement, whatever plan produced it (shown to users), and the
     * latest of a plan this cloud sent (plan_version then; the scheduler's input while
     * measured_version == plan_version) */
    vd_plan_result shown, measured;
    int shown_version, measured_version;
    vd_runtime rt;
    int native_h;
    double native_fps;
    int64_t frames;
    /* MJPEG */
    unsigned char *jpeg;
    size_t jpeg_len;
    uint64_t jpeg_seq;
    int viewers, refs;
    int removed;
    int restop;        /* stopped here but its edge still runs it: send node.stop_job again */
    double stopped_at; /* ms, when the user stopped it (or the last stop sent again) */
    /* results told apart by the edge's run and seq (cloud_store.c) */
    res_run runs[RES_RUNS];
    int n_runs;
    int64_t dups; /* delivered again, not counted */
    /* the store: gen counts changes of state (vd__cloud_job_changed), res_gen results; a
     * record is written when either differs from what was written (results at most every
     * RES_FLUSH_MS unless forced) */
    unsigned gen, gen_written, res_gen, res_written;
    double written_at;
    uint64_t rev; /* of its record in the store as this cloud last wrote or read it (0: none):
                   * records are written compare-and-set, so a cloud that is no longer the
                   * leader cannot overwrite the new leader's */
    /* its events' state: counts, tracks (cloud_events.c) */
    vd__ev_job *ev;
} cjob;

/* A change of a job's state that the store must hold (lock held). */
static inline void vd__cloud_job_changed(cjob *j)
{
    j->gen++;
}

/* A job an edge runs that this cloud does not know (it restarted): node.get_job is asked
 * by the scheduler thread, then the job is registered as EXEC. */
typedef struct adopt_ent {
    char uid[64], node[64];
    double retry_at; /* ms */
    int tries, busy, logged;
} adopt_ent;

/* A video a node announced with the seed's POST /node/join (listed by /node/get_video_info). */
typedef struct joined_video {
    char addr[128], video_id[32], type[64];
} joined_video;
#define MAX_JOINED 256

/* Everything below o, name, addr and host is guarded by mu, but thr, started, id, the
 * ha/cons threads and their flags (the starting and stopping thread's) and store_mu. Lock
 * order: store_mu, then mu. */
struct vd_cloud {
    vd_node_opts o;
    char name[64], addr[128];
    vd_svchost *host;
    pthread_mutex_t mu;
    pthread_cond_t cv;     /* scheduler wake-ups */
    pthread_cond_t frames; /* new MJPEG frames */
    node_ent *nodes;
    int n_nodes;
    cjob **jobs;
    int n_jobs;
    adopt_ent *adopt;
    int n_adopt;
    joined_video *joined;
    int n_joined;
    int next_id;
    char prefix[16];
    int stopping, streams_closed;
    pthread_t thr;
    int started;
    double connected_since;
    vd_resources res;
    /* leadership and the store (cloud_ha.c, cloud_store.c): only the leader schedules,
     * consumes results, writes the store and talks to edges; the others stand by */
    int leader;
    int ha_tried;         /* the first attempt at the lease was made */
    char id[112];         /* this process, in the lease and the epoch */
    int64_t epoch;        /* of the state this cloud leads (0: none yet) */
    char leader_msg[300]; /* standing by: who leads */
    pthread_t ha_thr, cons_thr;
    int ha_started, cons_started;
    pthread_mutex_t store_mu;    /* one writer of records at a time, in snapshot order */
    struct cloud_route *routes_; /* vd_cloud_routes' guards */
    vd__events *ev;              /* its events (cloud_events.c; set before any thread starts) */
};

/* ---- cloud.c: jobs, calls, life cycle ---------------------------------------------------- */

/* A job by uid, deleted ones not (lock held). */
cjob *vd__cloud_job(vd_cloud *c, const char *uid);
/* Known at all, deleted ones included: those are not adopted back (lock held). */
int vd__cloud_job_known(vd_cloud *c, const char *uid);
/* The one constructor of a job: UNSCHED, no plan, refs 1, for `node`, from a spec (taken:
 * it is zeroed) and its scheduler (taken; spec.scheduler becomes its own name). NULL when
 * out of memory: nothing is taken then. */
cjob *vd__cloud_job_new(const char *uid, const char *node, vd__job_spec *spec, vd_sched *sch);
/* Register a job (lock held); VD_ENOMEM leaves it to the caller. */
int vd__cloud_job_add(vd_cloud *c, cjob *j);
/* Drop a reference (lock held, or the job in no table yet); the last one frees it. */
void vd__cloud_job_unref(cjob *j);
/* End a job: DONE with reason ("finished", "stopped", "error") and message, and its "done"
 * event (lock held). */
void vd__cloud_job_done(vd_cloud *c, cjob *j, const char *reason, const char *msg);
/* A command to a node: body borrowed, *reply (may be NULL) a new reference. No lock held. */
int vd__cloud_call(vd_cloud *c, const char *node, const char *cmd, json_t *body, json_t **reply,
                   vd_error *err);
/* Shutting down (no lock held). */
int vd__cloud_stopping(vd_cloud *c);
/* A result of a job (a vdag.result header, taken; no lock held) from node `from` (the
 * stream's subject), or with from NULL from the seed's POST /query/sync_result (for the
 * job's own node; refused once the job is done): kept for sync_job_result, or its DONE
 * taken. 0 kept (or a duplicate); 1 its job is being adopted (deliver it again later);
 * VD_ENOTFOUND no such job of that node; VD_ESTATE the job is done. */
int vd__cloud_take_result(vd_cloud *c, const char *from, json_t *hdr);

/* ---- cloud_api.c: the user API ---------------------------------------------------------- */

/* A new job from a submit_query body (borrowed; no lock held): uid NULL makes one; *out_uid
 * gets it. The error codes are the API's (VD_EINVAL, VD_ENOTFOUND, VD_EALREADY: uid taken). */
int vd__cloud_submit(vd_cloud *c, json_t *b, const char *uid, char out_uid[64], vd_error *err);
/* A job's "result" as sync_job_result shows it: appended_result, latest_result, runtime,
 * plan_changes (lock held; new reference). */
json_t *vd__cloud_result_json(vd_cloud *c, cjob *j);
/* The plan the job's latest result ran under (else the current one) as users see it, and its
 * runtime context (lock held; new references). */
json_t *vd__cloud_plan_json(vd_cloud *c, cjob *j);
json_t *vd__cloud_runtime_json(const cjob *j);
/* The job as GET /user/jobs lists it (lock held). */
json_t *vd__cloud_job_summary(const cjob *j);

/* ---- cloud_seed.c: the seed's other routes -------------------------------------------- */

int vd__cloud_seed_routes(vd_cloud *c, vd_http_route *r, int cap);
/* cloud_sources.c: POST /node/video, DELETE /node/video/<id> (to an edge, over the transport). */
int vd__cloud_source_routes(vd_cloud *c, vd_http_route *r, int cap);

/* ---- cloud_nodes.c: the node table --------------------------------------------------------- */

/* A node by name, else by address (lock held). */
node_ent *vd__cloud_node(vd_cloud *c, const char *name);
/* A node as a user names it (lock held): its name; its advertised "ip:port" (a loopback
 * address matches any loopback one, a node listening on 0.0.0.0 any host); or a bare IP, as
 * the seed's node_ip, when one node there fits `role` best ("cloud"; "host": the job's edge
 * `edge`; "edge": another edge; NULL: a node_addr, the edge before the cloud itself). NULL
 * with VD_ENOTFOUND naming the nodes, or VD_EINVAL when the address is ambiguous. */
node_ent *vd__cloud_resolve(vd_cloud *c, const char *spec, const char *role, const char *edge,
                            vd_error *err);
/* Replace a node's kb by the one in j, version `version` (lock held). */
void vd__cloud_set_kb(vd_cloud *c, node_ent *n, json_t *j, json_int_t version);
/* The subscription to heartbeats (transport thread). */
void vd__cloud_on_heartbeat(void *arg, const char *subject, const vd_buf *msg);
/* The cloud's connection, its own entry, and dropping silent nodes (lock held). */
void vd__cloud_tend_nodes(vd_cloud *c, double now);

/* ---- cloud_loop.c: the scheduler thread ----------------------------------------------------- */

void *vd__cloud_sched_main(void *arg);

/* ---- cloud_store.c: job records in the store, results told apart -------------------------- */

#define RES_FLUSH_MS 250 /* results are written (and then acked) at most this often */

/* Whether a result (run, seq) of j is new: 1 (now counted), 0 (seen before) (lock held). */
int vd__cloud_result_new(cjob *j, uint64_t run, int64_t seq);
/* Results the edge numbered that never came (gaps below the highest seen) (lock held). */
int64_t vd__cloud_results_missing(const cjob *j);
/* Write the records of changed jobs (results too when force or due); 0, VD_ESTATE when not
 * the leader, or the store's failure (those jobs stay to be written). No lock held. */
int vd__cloud_store_flush(vd_cloud *c, int force);
/* Read every job from the store into the table (replacing it) (no lock held). */
int vd__cloud_store_restore(vd_cloud *c, int *n_jobs, vd_error *err);
/* The measurement a result header carries, for job j (lock held). */
void vd__cloud_measure(cjob *j, json_t *hdr, vd_plan_result *m);

/* ---- cloud_ha.c: the lease (one leader among clouds), the results consumer ------------------ */

int vd__cloud_ha_start(vd_cloud *c, vd_error *err);
/* Stop leading, saying why (no lock held). */
void vd__cloud_step_down(vd_cloud *c, const char *why);
/* Flush, release the lease (a standby takes over at once), end the threads. */
void vd__cloud_ha_stop(vd_cloud *c);
/* Apply one stored result (cloud.c; the consumer thread, no lock held): 0 done with it (applied,
 * a duplicate, or not ours to keep), 1 to be delivered again later (its job is being adopted). */
int vd__cloud_apply_result(vd_cloud *c, const char *subject, const vd_buf *msg);

/* ---- cloud_video.c: MJPEG viewers ----------------------------------------------------------- */

/* node.watch on or off for a job (no lock held; best effort). */
void vd__cloud_watch(vd_cloud *c, const char *node, const char *uid, int on);
/* GET /user/video/<job>. */
int vd__cloud_r_video(void *arg, const vd_http_req *req, vd_http_resp *resp);

#endif
