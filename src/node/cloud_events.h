/*
 * The cloud's events (cloud_events.c, docs/events.md): what happens in the jobs and the
 * cluster, published on the bus (vdag.event.<type>.<job or node>) and, optionally, to an MQTT
 * broker (<prefix>/<job>/events, retained counts, <prefix>/available).
 *
 * The producers (vd__events_result, _plan, _node, _done) turn what the cloud sees into
 * events and queue them; they never block and make no network call, so they may be called
 * with the cloud's lock held. One thread publishes the queue: on the bus with the
 * transport's publish, to MQTT through vd_mqtt (its own bounded queue and reconnections).
 * The queue is bounded (max_queue): beyond, the oldest events are dropped and counted.
 *
 * Ownership: a job's event state (vd__ev_job: its last counts, the tracks it has seen) is
 * the caller's, made by vd__events_result and freed with vd__ev_job_free. Thread-safety:
 * every function may be called from any thread; one job's state from one at a time (the
 * cloud: under its lock).
 */
#ifndef VDAG_NODE_CLOUD_EVENTS_H
#define VDAG_NODE_CLOUD_EVENTS_H

#include <jansson.h>
#include <stdint.h>

#include "vdag/dag.h"
#include "vdag/net.h"

#define VD_SUBJ_EVENT   "vdag.event"
#define VD_EV_LEAVE     10   /* results without a track before it has left (default) */
#define VD_EV_QUEUE     4096 /* events waiting to be published (default) */
#define VD_EV_MAX_TRACK 512  /* tracks followed per job: beyond, the longest unseen leaves */

typedef struct vd__events vd__events;
typedef struct vd__ev_job vd__ev_job;

typedef struct vd__events_opts {
    const char *cloud;        /* the publishing cloud's name, in every event */
    vd_transport *tr;         /* borrowed; NULL: none on the bus */
    const vd_mqtt_opts *mqtt; /* NULL: no MQTT; else opened here (will: <prefix>/available) */
    const char *mqtt_prefix;  /* the topics' first level (NULL: "vdag") */
    int leave_frames;         /* a track not in this many results has left (0: VD_EV_LEAVE) */
    int max_queue;            /* 0: VD_EV_QUEUE */
} vd__events_opts;

typedef struct vd__events_stats {
    uint64_t published, dropped; /* on the bus */
    int queued;
    int mqtt; /* 1 when MQTT is configured; then m holds its counters */
    vd_mqtt_stats m;
} vd__events_stats;

/* Start the publisher (and the MQTT connection: VD_EINVAL for a bad URL). */
int vd__events_start(const vd__events_opts *o, vd__events **out, vd_error *err);
/* Publish what is queued (at most 1 s), stop the thread, close MQTT ("offline"); events made
 * after are dropped. Call before the transport closes. Idempotent; NULL: no-op. */
void vd__events_stop(vd__events *ev);
/* Stop (if not yet) and free. NULL: no-op. */
void vd__events_free(vd__events *ev);

/* A result header of job `job` (hdr borrowed: {node, run, seq, plan_version, result}) with
 * the job's DAG (borrowed; labels come from its services' schemas, may be NULL): a "result"
 * event, "count" when the counts changed since the job's last result (and the retained MQTT
 * counts), "enter" for a track id new to the job and "leave" for one missing from
 * leave_frames results, and every item of any stage output's "events" array with the job,
 * node, seq and stage added. *st is the job's state (made when NULL). */
void vd__events_result(vd__events *ev, vd__ev_job **st, const char *job, const vd_dag *dag,
                       json_t *hdr);
/* A job ended (reason, msg as its state shows): "done"; its state is freed. */
void vd__events_done(vd__events *ev, vd__ev_job **st, const char *job, const char *node,
                     const char *reason, const char *msg);
/* A plan change of a job on node (change borrowed: a plan_changes entry). */
void vd__events_plan(vd__events *ev, const char *job, const char *node, json_t *change);
/* A node joined (up 1) or was dropped (0); why says how ("joined", "restarted", "silent
 * 3.1 s", "known": the table when this cloud took the lead). */
void vd__events_node(vd__events *ev, const char *node, const char *role, int up, const char *why);
void vd__ev_job_free(vd__ev_job *st);

void vd__events_stats_get(vd__events *ev, vd__events_stats *s);
/* Wait until the queue is empty (and MQTT's too): 0, or VD_ETIMEDOUT (tests). */
int vd__events_flush(vd__events *ev, int timeout_ms);

/* A name as one subject token / topic level: characters other than letters, digits, '-' and
 * '_' (and '.', with dots, where it separates no empty token) become '_'; "" becomes "_". */
void vd__ev_token(char *out, size_t cap, const char *in, int dots);

#endif
