/* The pacing of a model's runs (src/nn/pool.c: SPIN, SLEEP or SERIAL use of the pool) on
 * synthetic run times, so what it decides can be checked without a machine's noise:
 *  - one thread: always SERIAL;
 *  - parallel modes a little slower than SERIAL, within the noise (a loaded machine): it
 *    stays SERIAL nearly always, and the runs take at most 2 % more than SERIAL would;
 *  - SPIN clearly faster (an idle machine): it takes over within a few runs;
 *  - then load arrives and SPIN becomes slow: SERIAL wins back within GAP_MAX runs;
 *  - a parallel trial that stalls (a worker descheduled) is cut short: its cost stays
 *    within the budget, and it never takes over. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nn/nn_internal.h"
#include "testlib.h"

static unsigned rng = 12345;

static double noise(double amp) /* uniform in [-amp, amp] */
{
    rng = rng * 1103515245u + 12345u;
    return amp * (2.0 * (double)((rng >> 8) & 0xffff) / 65535.0 - 1.0);
}

typedef struct sim {
    double ms[VD__RUN_MODES]; /* what a run takes in each mode */
    double amp;               /* relative noise */
    int runs[VD__RUN_MODES];  /* runs made in each mode */
    double total, trial_extra;
} sim;

/* n runs; returns the mode in use at the end. */
static int run(vd__pace *p, sim *s, int n)
{
    for (int i = 0; i < n; i++) {
        double cut_ms;
        int cur = p->cur, mode = vd__pace_pick(p, 2, &cut_ms), cut = 0;
        double t = s->ms[mode] * (1 + noise(s->amp));
        if (cut_ms > 0 && t > cut_ms) { /* cut between steps: the rest in the current mode */
            t = cut_ms + 0.1 * s->ms[cur];
            cut = 1;
        }
        s->runs[mode]++;
        s->total += t;
        if (mode != cur) s->trial_extra += t - s->ms[cur];
        vd__pace_done(p, mode, t, cut);
    }
    return p->cur;
}

int main(void)
{
    vd__pace p;
    double cut_ms;

    vd__pace_init(&p);
    for (int i = 0; i < 10; i++) {
        int m = vd__pace_pick(&p, 1, &cut_ms);
        CHECK(m == VD__RUN_SERIAL && cut_ms == 0);
        vd__pace_done(&p, m, 10, 0);
    }

    /* within noise: SPIN 5 % and SLEEP 2 % slower on average, 10 % noise */
    vd__pace_init(&p);
    sim a = {.ms = {[VD__RUN_SPIN] = 105, [VD__RUN_SLEEP] = 102, [VD__RUN_SERIAL] = 100},
             .amp = 0.10};
    int end = run(&p, &a, 1000);
    CHECKF(a.runs[VD__RUN_SERIAL] > 900, "noise: %d of 1000 runs serial (end mode %d)",
           a.runs[VD__RUN_SERIAL], end);
    CHECKF(a.total <= 1.02 * 100 * 1000, "noise: %.0f ms against 100000 serial", a.total);

    /* idle: SPIN 40 % faster takes over at once */
    vd__pace_init(&p);
    sim b = {.ms = {[VD__RUN_SPIN] = 60, [VD__RUN_SLEEP] = 70, [VD__RUN_SERIAL] = 100},
             .amp = 0.03};
    end = run(&p, &b, 20);
    CHECKF(end == VD__RUN_SPIN, "idle: mode %d after 20 runs, want SPIN", end);
    run(&p, &b, 500);
    CHECKF(b.runs[VD__RUN_SPIN] > 450, "idle: %d of 520 runs spin", b.runs[VD__RUN_SPIN]);

    /* load arrives: SPIN 200 ms, SLEEP 180, SERIAL 100: back to SERIAL within GAP_MAX */
    b.ms[VD__RUN_SPIN] = 200;
    b.ms[VD__RUN_SLEEP] = 180;
    end = run(&p, &b, 140);
    CHECKF(end == VD__RUN_SERIAL, "load: mode %d 140 runs after it arrived, want SERIAL", end);

    /* parallel trials stall at 10x: cut short, never take over, within the budget */
    vd__pace_init(&p);
    sim c = {.ms = {[VD__RUN_SPIN] = 1000, [VD__RUN_SLEEP] = 1000, [VD__RUN_SERIAL] = 100},
             .amp = 0.05};
    end = run(&p, &c, 1000);
    CHECKF(end == VD__RUN_SERIAL && c.runs[VD__RUN_SERIAL] > 950,
           "stalls: mode %d, %d of 1000 runs serial", end, c.runs[VD__RUN_SERIAL]);
    CHECKF(c.trial_extra <= 0.05 * c.total + 200, "stalls: trials cost %.0f of %.0f ms",
           c.trial_extra, c.total);
    return vt_finish();
}
