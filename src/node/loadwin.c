/* The edge's recent-load window: see loadwin.h. */
#include "node/loadwin.h"

#include <math.h>
#include <string.h>

static long bucket_of(const vd__loadwin *w, double t)
{
    double k = floor((t - w->t0) / VD__LOADWIN_BUCKET_MS);
    return k > 0 ? (long)k : 0;
}

/* Make the bucket of t the newest, clearing the ones that leave the window. */
static void advance(vd__loadwin *w, double t)
{
    long k = bucket_of(w, t);
    if (k <= w->cur) return;
    long from = k - w->cur > VD__LOADWIN_N ? k - VD__LOADWIN_N + 1 : w->cur + 1;
    for (long i = from; i <= k; i++) {
        int b = (int)(i % VD__LOADWIN_N);
        w->busy[b] = 0;
        w->processed[b] = w->dropped[b] = 0;
    }
    w->cur = k;
}

/* The oldest bucket still in the window. */
static long oldest(const vd__loadwin *w)
{
    return w->cur >= VD__LOADWIN_N ? w->cur - VD__LOADWIN_N + 1 : 0;
}

void vd__loadwin_reset(vd__loadwin *w, double now)
{
    memset(w, 0, sizeof *w);
    w->t0 = now;
}

void vd__loadwin_step(vd__loadwin *w, double t_start, double t_end, long frames)
{
    if (t_end < t_start) t_end = t_start;
    advance(w, t_end);
    if (t_start < w->t0) t_start = w->t0;
    for (long i = bucket_of(w, t_start) > oldest(w) ? bucket_of(w, t_start) : oldest(w);
         i <= w->cur; i++) {
        double b0 = w->t0 + (double)i * VD__LOADWIN_BUCKET_MS, b1 = b0 + VD__LOADWIN_BUCKET_MS;
        double a = t_start > b0 ? t_start : b0, z = t_end < b1 ? t_end : b1;
        if (z > a) w->busy[i % VD__LOADWIN_N] += z - a;
    }
    w->processed[w->cur % VD__LOADWIN_N] += frames;
}

void vd__loadwin_drop(vd__loadwin *w, double now, long frames)
{
    advance(w, now);
    w->dropped[w->cur % VD__LOADWIN_N] += frames;
}

void vd__loadwin_get(vd__loadwin *w, double now, vd__loadwin_stats *s)
{
    advance(w, now);
    memset(s, 0, sizeof *s);
    double busy = 0;
    for (int b = 0; b < VD__LOADWIN_N; b++) {
        busy += w->busy[b];
        s->processed += w->processed[b];
        s->drops += w->dropped[b];
    }
    s->span_ms = now - (w->t0 + (double)oldest(w) * VD__LOADWIN_BUCKET_MS);
    s->load = s->span_ms > 0 ? busy / s->span_ms : 0;
    if (s->load > 1) s->load = 1; /* steps are disjoint and inside the span: rounding only */
    long frames = s->processed + s->drops;
    s->drop_ratio = frames > 0 ? (double)s->drops / (double)frames : 0;
    s->valid = (s->span_ms >= VD_LOAD_MIN_S * 1e3 && frames >= VD_LOAD_MIN_FRAMES) ||
               now - w->t0 >= (VD__LOADWIN_N - 1) * VD__LOADWIN_BUCKET_MS;
}
