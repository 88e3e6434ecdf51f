/*
 * Internal to the edge (edge*.c): its job and its tables, and what its files call across.
 * Locking: e->mu guards the job table and each job's fields marked so; a job's thread owns
 * the rest of its job. No transport call is made while holding it.
 */
#ifndef VDAG_NODE_EDGE_INTERNAL_H
#define VDAG_NODE_EDGE_INTERNAL_H

#include <pthread.h>

#include "node/loadwin.h"
#include "node/proto.h"
#include "node_internal.h"

#define RT_WIN 30 /* frames in the runtime-context window */

typedef struct job job;

struct vd__rcall;

/* A stage the plan runs on another node (the remote-stage callback's argument; the job
 * thread's). Its calls run on `call`'s own thread, so that a node that does not answer costs
 * the job one bounded wait, not the transport timeout of every call (edge_job.c). */
typedef struct rstage {
    job *j;
    char node[64];
    struct vd__rcall *call; /* made at the first call; freed when the job ends */
    int down;               /* the node failed or gave no answer: the stage runs here */
    int pending;            /* a call nobody waits for runs on `call` (given up on, a probe) */
    double next_probe;      /* when to try a down node again (vd_now_ms) */
    double ewma_ms;         /* latency of its answered calls (0: none yet) */
    size_t req_bytes;       /* of the last call started */
    vd_h264_enc *h264;      /* its H.264 stream, on a plan that sends H.264 */
    int h264_w, h264_h;
    int resync; /* a call failed: the next H.264 packet is a keyframe */
} rstage;

enum { J_RUN = 0, J_DONE = 1 };

/* A job (the table of the edge and its thread hold it; freed by vd_edge_free). */
struct job {
    char uid[64];
    struct vd_edge *edge;
    vd_video_src video;
    vd__job_spec spec; /* as submitted (loop resolved); its constraint guarded by edge->mu */
    pthread_t thr;
    int started;
    /* guarded by edge->mu */
    vd_plan pending;
    int pending_version; /* the sender's number for it (0: none) */
    int has_pending, stop, watch, state;
    int src_removed;         /* its video was removed (node.remove_video): it ends */
    int src_live;            /* its source is a live stream (src_st means something) */
    vd_source_status src_st; /* the source's state, as the job thread saw it last */
    /* the node's own MJPEG viewers (GET /user/video/<job> on the edge, as the seed's node
     * served it) and the latest rendered frame for them */
    int viewers;
    unsigned char *jpeg;
    size_t jpeg_len;
    uint64_t jpeg_seq;
    json_t *last;                     /* last published header, for get_runtime */
    vd_plan applied;                  /* the plan in force (copy of plan, for other threads) */
    int has_applied, applied_version; /* its number (0: none given) */
    /* job thread only */
    vd_plan plan;
    int plan_version; /* the cloud's number for the plan, echoed in results (0: none given) */
    rstage rs[VD_MAX_STAGES];
    int fallback[VD_MAX_STAGES];
    int64_t enc_id;
    int enc_q;            /* the JPEG quality enc was coded at */
    vd_jpeg_parts enc;    /* the frame as sent to remote stages */
    vd_jpeg_coder *coder; /* made at the first remote stage */
    double sum_delay[VD_MAX_STAGES], sum_total;
    int n_plan_frames;
    int measure_load; /* paced file or live source: load means something */
    vd__loadwin lw;   /* recent busy time, processed and dropped frames */
    long dropped;     /* frames dropped as late since the plan was applied */
    double win_delay[RT_WIN], win_n[RT_WIN], win_size[RT_WIN];
    int win_count;
    uint64_t run; /* this job on this edge (set at its start, under edge->mu): results carry it */
    /* guarded by edge->out_mu (edge_out.c) */
    int64_t out_seq, out_published, out_lost;
};

typedef struct edge_cmd edge_cmd;
typedef struct out_item out_item;

/* edge_link.c: the link model, per node this edge sends frames to (guarded by mu). */
#define VD__MAX_LINKS 16
typedef struct vd__link {
    char to[64];
    double rtt_s, bw_Bps; /* moving averages */
    long n, n_rtt, n_bw;  /* transfers seen; round-trip and bandwidth samples */
    double last_ms;       /* the last transfer (vd_now_ms) */
} vd__link;
typedef struct vd__links {
    pthread_mutex_t mu;
    vd__link e[VD__MAX_LINKS];
    int n;
    char peers[VD__MAX_LINKS][64]; /* the nodes the cloud named as candidates ("peers") */
    int n_peers;
} vd__links;
/* The "peers" of a plan message (the other nodes alive; NULL: keep the last). */
void vd__links_set_peers(vd__links *L, json_t *peers);
/* A transfer of bytes to node `to` that took call_ms, host_ms of it on the host (decode and
 * compute; 0: none). Any thread. */
void vd__link_observe(vd__links *L, const char *to, size_t bytes, double call_ms, double host_ms);
/* The heartbeat's "links": [{"to","n","age_s"[,"bw_Bps"][,"rtt_s"]}] (new reference). */
json_t *vd__links_json(vd__links *L);

#define N_EDGE_CMDS 13

/* A transport handler's or an HTTP route's argument: the edge and its command. */
typedef struct cmd_ctx {
    struct vd_edge *e;
    const edge_cmd *cmd;
} cmd_ctx;

/* o, name, addr, host and cmds_ are set at start, but o.videos and o.n_videos, which
 * sources added and removed at run time change (edge_sources.c); those and the rest are
 * guarded by mu, but the heartbeat thread's own fields. */
struct vd_edge {
    vd_node_opts o;
    cmd_ctx cmds_[N_EDGE_CMDS]; /* one per row of edge_cmds */
    char name[64], addr[128];
    char hb_subject[96];
    vd_svchost *host;
    pthread_mutex_t mu;
    pthread_cond_t cv;     /* the heartbeat thread's wake-ups */
    pthread_cond_t job_cv; /* a job stopped, or the edge (ends the jobs' pacing sleeps) */
    pthread_cond_t frames; /* a job rendered a frame for its viewers, ended, or the edge */
    job **jobs;
    int n_jobs;
    int stopping;
    int serving; /* the commands are served: the heartbeat may announce the node */
    pthread_t hb_thr;
    int hb_started;
    vd_resources res;
    /* this run of the node: a random id and the wall-clock start (ms), in every heartbeat;
     * set at start */
    char instance[20];
    double started_ms;
    /* other nodes as their heartbeats describe them (guarded by mu): a seed plan sent to
     * this edge directly names nodes by address */
    struct {
        char name[64], addr[128];
    } peers[VD_MAX_NODES];
    int n_peers;
    /* another node runs under this name and started first (guarded by mu) */
    int conflict;
    char conflict_msg[256];
    /* heartbeat thread only: the kb version last sent, and when */
    uint64_t kb_sent_version;
    double kb_sent_at;
    /* the results on their way to the stream (edge_out.c) */
    pthread_mutex_t out_mu;
    pthread_cond_t out_cv;
    out_item *out_head, *out_tail;
    int out_n, out_stop, out_started;
    size_t out_bytes;
    pthread_t out_thr;
    /* the link model (edge_link.c) and its probe thread */
    vd__links links;
    pthread_t link_thr;
    int link_started;
};

/* edge_link.c: probe the links of the running jobs' plans that saw no transfer lately (the
 * probe thread, every second until the edge stops). */
void *vd__links_main(void *arg);

/* edge_job.c: a job's thread (arg: the job), and freeing a job (its thread joined or never
 * started). */
void *vd__edge_job_main(void *arg);
void vd__edge_job_free(job *j);
/* The job's source as node.get_runtime shows it (e->mu held; new reference). */
json_t *vd__job_source_json(const job *j);

/* edge_cmd.c: serve every command on the transport as this node (vd_edge_start). */
int vd__edge_serve(vd_edge *e, vd_error *err);

/* edge_sources.c: node.add_video and node.remove_video (the command table's handlers); the
 * videos as the heartbeat and get_all_status list them (e->mu held; new reference); what
 * kind of source a path names ("file", "rtsp", "http", "v4l2"). */
int vd__edge_cmd_add_video(vd_edge *e, json_t *req, json_t **reply, vd_error *err);
int vd__edge_cmd_rm_video(vd_edge *e, json_t *req, json_t **reply, vd_error *err);
json_t *vd__edge_videos_json(vd_edge *e);
const char *vd__video_kind(const char *path);

/* edge_video.c: GET /user/video/<job>, the job's rendered frames as MJPEG. */
int vd__edge_r_video(void *arg, const vd_http_req *req, vd_http_resp *resp);
/* A rendered frame for the job's own viewers (job thread; copied). */
void vd__edge_show(job *j, const unsigned char *jpeg, size_t len);
/* edge_out.c: queue a result header (or, done, the job's DONE) of job j for the stream
 * (job thread; hdr borrowed: it gets "run" and "seq"); the publisher thread; stop it (after
 * the job threads: what is queued is sent for up to 2 s); a job's counters. */
void vd__edge_out_put(vd_edge *e, job *j, json_t *hdr, int done);
void *vd__edge_out_main(void *arg);
void vd__edge_out_stop(vd_edge *e);
void vd__edge_out_counts(vd_edge *e, job *j, int64_t *seq, int64_t *published, int64_t *lost,
                         int *waiting);

#endif
