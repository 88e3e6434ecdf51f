/*
 * vdag nodes: the roles of the seed system, each a module of the same process.
 *
 *  - service host (vd_svchost): runs DNN services for other nodes through the transport
 *    and /execute_task/<service>; reports services and resources.
 *  - edge (vd_edge): owns video sources, runs jobs (decode, apply the plan, run each stage
 *    locally or on the node the plan names), publishes results and runtime context.
 *  - cloud (vd_cloud): the user API, the node registry (from heartbeats), jobs and their
 *    results, the scheduler loop, the MJPEG streams.
 *
 * Nodes talk only through a vd_transport (inproc in one process, NATS in a cluster):
 *   heartbeats  publish "vdag.hb"            every second, JSON (name, role, addr, videos,
 *                                             resources, services, jobs, kb_version; kb
 *                                             only when it changed, and every 30 s)
 *   results     publish "vdag.result"        per processed frame, a vd_msg (JSON + JPEG
 *                                             of the rendered frame when someone watches)
 *   commands    call <edge> "node.submit_job" / "node.update_plan" / "node.stop_job" /
 *                    "node.get_runtime" / "node.watch" / "node.get_kb" / "node.get_job"
 *                    (a restarted cloud takes over the jobs the edges still run) /
 *                    "node.add_video" / "node.remove_video" (sources at run time)
 *   stages      call <node> "svc.<service>"  a vd_msg: {model_id, args, src_w, src_h}
 *                                             + JPEG frame; reply {out, ms}
 *   (src/node/proto.h owns the job messages and the error codes the commands answer with)
 *
 * Ownership: each role borrows the transport and copies its options. Shut down in this
 * order: vd_*_stop (ends the role's threads; it may still publish), vd_transport_close
 * (no more callbacks into the roles), then vd_*_free. Thread-safety: every function may be called
 * from any thread; the roles lock their own state. Route handlers are for vd_http_server
 * (include/vdag/net.h).
 */
#ifndef VDAG_NODE_H
#define VDAG_NODE_H

#include <jansson.h>

#include "vdag/error.h"
#include "vdag/media.h"
#include "vdag/net.h"
#include "vdag/sched.h"

#define VD_NODE_MAX_VIDEOS 16

typedef struct vd_video_src {
    char id[32];        /* "0", "1", … as in the seed */
    char path[512];     /* file, URL or /dev/videoN */
    char type[64];      /* free text shown in get_all_status ("people indoor") */
    int loop;           /* 1: a file loops like a camera (0: as the node's --loop says) */
    double reconnect_s; /* a live stream lost this long ends its jobs (0: VD_RECONNECT_S) */
} vd_video_src;
#define VD_RECONNECT_S 60.0

typedef struct vd_node_opts {
    const char *name;    /* node name, unique in the cluster ("edge1", "cloud") */
    const char *addr;    /* its HTTP address "host:port" (shown, and accepted as node_addr) */
    vd_transport *tr;    /* borrowed */
    int threads;         /* inference threads per job (0: cores - 1) */
    int svc_threads;     /* inference threads per service-host instance (0: 1) */
    int loop;            /* edge: file videos loop like cameras */
    int no_pace;         /* edge: read files as fast as possible instead of at native fps */
    double replan_s;     /* cloud: re-plan period in seconds (0: 5) */
    double drop_s;       /* cloud: drop a node silent this long (0: 3) */
    const char *kb_path; /* profile cache (NULL: <cache>/profile-<host>.json) */
    int profile;         /* 1: profile services at start-up when no cache exists */
    /* edge: the bus gives each identity its own subjects only (a secured NATS server): its
     * name is its identity's, so it does not listen to other nodes' heartbeats (a duplicate
     * name is the server's to refuse; peers are placed on by name only) */
    int secured;
    /* edge: cascade models' later units are workers on the bus (`vdag cascade serve`; cluster
     * mode), not in this process; a unit that is down then gives the deepest answer had,
     * marked "fallback" (vdag/cascade.h) */
    int cascade_bus;
    /* cloud: its events (docs/events.md) also to this MQTT broker (NULL: on the bus only),
     * under mqtt_prefix (NULL: "vdag"); a track missing from leave_frames results has left
     * (0: 10) */
    const vd_mqtt_opts *mqtt;
    const char *mqtt_prefix;
    int leave_frames;
    int n_videos;
    vd_video_src videos[VD_NODE_MAX_VIDEOS];
} vd_node_opts;

/* Parse "ID=PATH" or "ID=PATH=TYPE" into v. */
int vd_video_src_parse(const char *s, vd_video_src *v, vd_error *err);

/* ---- resources (/proc) ---------------------------------------------------------------- */

typedef struct vd_resources {
    double cpu_pct; /* whole machine, since the previous sample */
    double mem_pct; /* used memory / total */
    double mem_total_mb, mem_used_mb;
    double proc_cpu_pct; /* this process, % of one core, since the previous sample */
    double proc_rss_mb;
    int n_cores;
    /* sampler state */
    unsigned long long prev_busy_, prev_total_, prev_proc_;
    double prev_t_;
} vd_resources;

/* Sample /proc/stat, /proc/meminfo and /proc/self/stat. The first call gives averages since
 * boot / process start. */
int vd_resources_sample(vd_resources *r, vd_error *err);
/* With own = 1, every later sample's cpu_pct (and n_cores) is this process's CPU as a share of
 * the cores it may run on (its affinity mask), not the machine's: for nodes that share a box
 * with other work (the evaluation harness's namespaces). Process-wide; call it at start-up,
 * before any node runs. */
void vd_resources_cpu_own(int own);
json_t *vd_resources_json(const vd_resources *r);

/* ---- service host --------------------------------------------------------------------- */

typedef struct vd_svchost vd_svchost;
int vd_svchost_start(const vd_node_opts *o, vd_svchost **out, vd_error *err);
void vd_svchost_stop(vd_svchost *h);
void vd_svchost_free(vd_svchost *h);
/* Run a service here on a frame (borrowed); *out is a new object. */
int vd_svchost_execute(vd_svchost *h, const char *service, int model_id, const vd_frame *f,
                       json_t *args, json_t **out, vd_error *err);
/* {"face_detection": {"n_process": busy instances, "calls": N, "avg_ms": …, …}} */
json_t *vd_svchost_load(vd_svchost *h);
/* The knowledge base profiled on this node (borrowed; filled in the background). */
const vd_kb *vd_svchost_kb(vd_svchost *h);
/* Its version: 0 while empty, a new value each time the kb changes (loaded from the profile
 * cache, profiled): increasing wall-clock microseconds, so a restarted node does not repeat
 * one. Read it before serializing the kb: a change in between is then announced again. */
uint64_t vd_svchost_kb_version(vd_svchost *h);
/* The client side of "svc.<service>": run `service` on `node` (NULL: any node serving it)
 * with the frame f already JPEG-encoded (img, borrowed: one JPEG or the strips of a
 * vd_jpeg_coder) and the stage's args (borrowed). *out gets the service's output (new
 * reference); *host_ms (may be NULL) the host's execute time. */
int vd_stage_call(vd_transport *t, const char *node, const char *service, int model_id,
                  const vd_frame *f, const vd_jpeg_parts *img, json_t *args, int timeout_ms,
                  json_t **out, double *host_ms, vd_error *err);
/* Strips a node codes a frame in for a remote stage (and threads it uses for it). */
#define VD_STAGE_JPEG_PARTS   2
#define VD_STAGE_JPEG_QUALITY 85
/* GET /get_service_list, /get_resource_info, /get_cluster_info, POST /execute_task/<s>. */
int vd_svchost_routes(vd_svchost *h, vd_http_route *r, int cap);

/* ---- edge ----------------------------------------------------------------------------- */

typedef struct vd_edge vd_edge;
/* host: this node's service host (borrowed, may be NULL) for load and kb in heartbeats. */
int vd_edge_start(const vd_node_opts *o, vd_svchost *host, vd_edge **out, vd_error *err);
void vd_edge_stop(vd_edge *e);
void vd_edge_free(vd_edge *e);
/* 1 when another node of this edge's name started before it (their heartbeats tell): this
 * one must stop, or commands to the name reach both (msg, n: why, for the user). */
int vd_edge_conflict(vd_edge *e, char *msg, size_t n);
/* POST /node/submit_job, /node/update_plan, /node/stop_job; GET|POST /job/get_runtime/<id>;
 * POST /node/video, DELETE /node/video/<id> (add and remove a source: docs/nodes.md);
 * the seed job manager's POST /job/submit_job, /job/update_plan,
 * /node/submit_job_user_constraint; GET /user/video/<job> (MJPEG of the node's own job). */
int vd_edge_routes(vd_edge *e, vd_http_route *r, int cap);

/* ---- cloud ---------------------------------------------------------------------------- */

typedef struct vd_cloud vd_cloud;
/* host: this process's service host (borrowed, may be NULL): the cloud is a node too. */
int vd_cloud_start(const vd_node_opts *o, vd_svchost *host, vd_cloud **out, vd_error *err);
void vd_cloud_stop(vd_cloud *c);
void vd_cloud_free(vd_cloud *c);
/* 1 when the cloud knows a live node of that name (or address). */
int vd_cloud_has_node(vd_cloud *c, const char *name);
/* End the MJPEG streams (call before vd_http_server_stop, which waits for them). */
void vd_cloud_close_streams(vd_cloud *c);
/* The seed's user API (/user/…, /query/…, /node/get_plan) plus stop/delete, job list, and
 * POST /node/video, DELETE /node/video/<id>?node=E (a source added to or removed from an
 * edge through the transport). */
int vd_cloud_routes(vd_cloud *c, vd_http_route *r, int cap);

/* Is `name` free on this transport? Asks whoever answers "node.ping" as that node (every
 * service host does) within timeout_ms: VD_EALREADY, naming its address, when one answers;
 * 0 when nobody serves it; other transport errors (no broker yet) as themselves. */
int vd_node_name_check(vd_transport *t, const char *name, int timeout_ms, vd_error *err);

/* Node-level helpers shared by the roles (base64 is vd_base64_*, vdag/base.h). */
/* The seed's image strings (its field_codec_utils: Python's str() of the JPEG bytes,
 * "b'\\xff\\xd8…'"): is s one; decode (VD_EFORMAT: not a well-formed literal; parsed, never
 * evaluated); encode as Python's repr() would (malloc'd). */
int vd_pybytes_is(const char *s, size_t n);
int vd_pybytes_decode(const char *s, size_t n, unsigned char **out, size_t *len);
char *vd_pybytes_encode(const unsigned char *d, size_t n);

#endif
