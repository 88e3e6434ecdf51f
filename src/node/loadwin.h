/*
 * The edge's recent-load window (internal to src/node): busy time, processed and dropped
 * frames of one job over the last VD_LOAD_WINDOW_S seconds (vdag/sched.h), never reaching
 * back before the plan change (vd__loadwin_reset). Time buckets of VD__LOADWIN_BUCKET_MS:
 * the window is the current bucket and the ones before it, so it spans between
 * VD_LOAD_WINDOW_S minus one bucket and VD_LOAD_WINDOW_S once the plan is that old. A step's
 * busy time is spread over the buckets its interval covers; frames count when the step ends
 * (processed) or when they are dropped. Times are ms on any one clock (vd_now_ms). Not
 * locked: one job thread owns it.
 */
#ifndef VDAG_NODE_LOADWIN_H
#define VDAG_NODE_LOADWIN_H

#include "vdag/sched.h"

#define VD__LOADWIN_BUCKET_MS 250.0
#define VD__LOADWIN_N         20 /* buckets: VD_LOAD_WINDOW_S / VD__LOADWIN_BUCKET_MS */

typedef struct vd__loadwin {
    double t0; /* ms: the plan change */
    long cur;  /* index of the newest bucket since t0 */
    double busy[VD__LOADWIN_N];
    long processed[VD__LOADWIN_N], dropped[VD__LOADWIN_N];
} vd__loadwin;

typedef struct vd__loadwin_stats {
    double span_ms;        /* wall time the window covers */
    double load;           /* busy / span_ms */
    long processed, drops; /* frames in the window */
    double drop_ratio;     /* drops / (processed + drops); 0 without frames */
    int valid;             /* >= VD_LOAD_MIN_S and VD_LOAD_MIN_FRAMES frames, or a full window */
} vd__loadwin_stats;

/* Start an empty window at `now` (a plan was applied). */
void vd__loadwin_reset(vd__loadwin *w, double now);
/* A step busy from t_start to t_end that processed `frames` frames (a clip: clip_len). */
void vd__loadwin_step(vd__loadwin *w, double t_start, double t_end, long frames);
/* `frames` frames dropped as late at `now`. */
void vd__loadwin_drop(vd__loadwin *w, double now, long frames);
/* The window as of `now` (>= the last event). */
void vd__loadwin_get(vd__loadwin *w, double now, vd__loadwin_stats *s);

#endif
