/*
 * vd_nn_pool: the inference threads one pipeline thread shares between all its models.
 *
 * A pthreadpool's workers spin after every parallel call before they sleep (a million
 * pause instructions: 80-100 ms on this project's machine), so a pool per model left
 * spinning workers behind every model a pipeline ran, and two models meant two spinning
 * workers fighting the decoder and each other for the cores. One pool per inference
 * thread, and vd__pool_park after each model run (nn_internal.h), keep one set of workers
 * that run while a model runs and sleep otherwise.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_internal.h"

int vd_nn_pool_new(int threads, vd_nn_pool **out, vd_error *err)
{
    *out = NULL;
    vd_nn_pool *p = calloc(1, sizeof *p);
    if (!p) return vd_fail(err, VD_ENOMEM, "out of memory");
    p->threads = threads > 0 ? threads : 1;
    p->tp = pthreadpool_create((size_t)p->threads);
    if (!p->tp) {
        free(p);
        return vd_fail(err, VD_ENOMEM, "cannot create a thread pool of %d threads", threads);
    }
    *out = p;
    return 0;
}

void vd_nn_pool_free(vd_nn_pool *p)
{
    if (!p) return;
    pthreadpool_destroy(p->tp);
    free(p);
}

int vd_nn_pool_threads(const vd_nn_pool *p)
{
    return p ? p->threads : 1;
}

static void nothing(void *ctx, size_t i)
{
    (void)ctx;
    (void)i;
}

void vd__pool_park(pthreadpool_t tp)
{
    if (!tp || pthreadpool_get_threads_count(tp) < 2) return;
    /* Every worker takes part in every parallel call and, when the call's flags ask it
     * to yield, waits on a futex right after it instead of spinning. The workers are
     * spinning now (they just ran the model's operators), so this costs a round trip of
     * well under a microsecond per worker. */
    pthreadpool_parallelize_1d(tp, nothing, NULL, pthreadpool_get_threads_count(tp),
                               PTHREADPOOL_FLAG_YIELD_WORKERS);
}

/* ---- pacing: which mode a model's runs use ------------------------------------------ */

/* Runs start SERIAL: never slower than one thread. Another mode is tried when its wait is
 * over and the exploration budget allows: what trials cost beyond the current mode's time
 * stays under BUDGET of all run time (plus one run), whatever the load makes a trial cost
 * (a spinning worker that its core's other work keeps off the CPU can stretch one operator
 * to ~100 ms, and an operator cannot be cut short). A trial that loses doubles the mode's
 * wait up to GAP_MAX runs; one that wins makes it the current mode. A trial is cut short
 * once it takes CUT times the current mode's time (checked between steps). */
enum { GAP_MAX = 128 };
#define CUT    1.5
#define BUDGET 0.05
#define MARGIN 0.97 /* a mode must be this much faster to take over (no flapping on noise) */
/* ... and this much faster than SERIAL to replace it: on a loaded machine a lucky parallel
 * trial would otherwise win on noise and its cut-short SERIAL trials never win back. */
#define MARGIN_SERIAL 0.90

static double median(const vd__pace *p, int mode)
{
    const double *s = p->ms[mode];
    switch (p->n[mode]) {
    case 0:
        return INFINITY;
    case 1:
        return s[0];
    case 2:
        return (s[0] + s[1]) / 2;
    default:
        return s[0] > s[1] ? (s[1] > s[2] ? s[1] : (s[0] > s[2] ? s[2] : s[0]))
                           : (s[0] > s[2] ? s[0] : (s[1] > s[2] ? s[2] : s[1]));
    }
}

void vd__pace_init(vd__pace *p)
{
    memset(p, 0, sizeof *p);
    p->cur = VD__RUN_SERIAL;
    for (int k = 0; k < VD__RUN_MODES; k++) p->gap[k] = 1;
}

int vd__pace_pick(vd__pace *p, int threads, double *cut_ms)
{
    *cut_ms = 0;
    if (threads < 2) return VD__RUN_SERIAL; /* nothing to choose: the caller is the pool */
    double cur = median(p, p->cur);
    if (!isfinite(cur)) return p->cur; /* the first run */
    int pick = -1;
    for (int k = 0; k < VD__RUN_MODES; k++)
        if (k != p->cur && --p->wait[k] <= 0 && pick < 0) pick = k;
    if (pick < 0 || p->extra > BUDGET * p->spent + cur) return p->cur;
    p->wait[pick] = p->gap[pick];
    /* A SERIAL trial waits for no worker, so it cannot stall: it runs to the end and its
     * time is a true sample. */
    *cut_ms = pick == VD__RUN_SERIAL ? 0 : CUT * cur;
    return pick;
}

void vd__pace_done(vd__pace *p, int mode, double ms, int cut)
{
    if (mode < 0 || mode >= VD__RUN_MODES) return;
    double cur = median(p, p->cur);
    p->spent += ms;
    if (mode != p->cur && isfinite(cur)) p->extra += ms - cur;
    if (cut && ms < CUT * cur) ms = CUT * cur;
    p->ms[mode][p->next[mode]] = ms;
    p->next[mode] = (p->next[mode] + 1) % VD__PACE_SAMPLES;
    if (p->n[mode] < VD__PACE_SAMPLES) p->n[mode]++;
    int best = p->cur;
    for (int k = 0; k < VD__RUN_MODES; k++)
        if (median(p, k) < (best == VD__RUN_SERIAL ? MARGIN_SERIAL : MARGIN) * median(p, best))
            best = k;
    if (best != p->cur) { /* take over; the old mode is tried again soon */
        p->gap[p->cur] = 1;
        p->wait[p->cur] = 1;
        p->cur = best;
    } else if (mode != p->cur) { /* a trial lost: try it less often */
        p->gap[mode] = p->gap[mode] * 2 > GAP_MAX ? GAP_MAX : p->gap[mode] * 2;
        p->wait[mode] = p->gap[mode];
    }
}
