/* The cut chooser on synthetic profiles (the latency model of docs/slicing.md, worked by
 * hand here), and a profile measured on a real model: its numbers add up. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "vdag/nn.h"
#include "vdag/nninput.h"
#include "vdag/slice.h"

/* A model of 100 ms on this machine with three cuts: early with a large tensor (1 MB),
 * middle (20 kB), late and small (1 kB); a 50 kB JPEG by default. */
static vd_slice_point pts[3] = {
    {.cut = 0, .ms_a = 10, .ms_b = 90, .bytes = 1000000},
    {.cut = 1, .ms_a = 30, .ms_b = 70, .bytes = 20000},
    {.cut = 2, .ms_a = 80, .ms_b = 20, .bytes = 1000},
};

static int choose(double jpeg_bytes, double bps, double rtt, double edge, double cloud,
                  vd_slice_cand *c, int *n)
{
    vd_slice_profile p = {.total_ms = 100, .n = 3, .p = pts, .jpeg_bytes = jpeg_bytes};
    vd_slice_link l = {bps, rtt, edge, cloud};
    int best = -99;
    vd_error err;
    *n = vd_slice_choose(&p, &l, c, &best, &err);
    return best;
}

static void synthetic(void)
{
    vd_slice_cand c[5];
    int n;
    /* fast link, slow edge: send the JPEG (1 + 0.4 + 100 ms against 199 ms for cut 0) */
    int b = choose(50000, 1e9, 1, 0.1, 1, c, &n);
    CHECK(n == 5);
    CHECK(c[0].cut == VD_SLICE_EDGE_ONLY && c[4].cut == VD_SLICE_CLOUD_ONLY);
    CHECKF(c[b].cut == VD_SLICE_CLOUD_ONLY, "chose %d", c[b].cut);
    CHECK(fabs(c[4].total_ms - 101.4) < 1e-9);
    CHECK(fabs(c[0].total_ms - 1000) < 1e-9);
    CHECK(fabs(c[1].total_ms - (100 + 1 + 8 + 90)) < 1e-9);
    /* slow link: edge-only (200 ms; the best cut needs 160 + 50 + 80 + 20) */
    b = choose(50000, 1e5, 50, 0.5, 1, c, &n);
    CHECKF(c[b].cut == VD_SLICE_EDGE_ONLY, "chose %d", c[b].cut);
    CHECK(fabs(c[3].total_ms - 310) < 1e-9);
    /* a large JPEG at 10 Mbit/s and a 4x slower edge: the middle cut (120 + 20 + 16 + 70) */
    b = choose(200000, 1e7, 20, 0.25, 1, c, &n);
    CHECKF(c[b].cut == 1, "chose %d", c[b].cut);
    CHECK(fabs(c[b].total_ms - 226) < 1e-9);
    CHECK(fabs(c[b].net_ms - 36) < 1e-9 && fabs(c[b].bytes - 20000) < 1e-9);
    /* the same with a fast cloud: still the cut, cloud part 4x faster */
    b = choose(200000, 1e7, 20, 0.25, 4, c, &n);
    CHECKF(c[b].cut == 1 && fabs(c[b].cloud_ms - 17.5) < 1e-9, "chose %d", c[b].cut);
    /* no JPEG: no cloud-only candidate */
    b = choose(0, 1e9, 1, 0.1, 1, c, &n);
    CHECK(n == 4);
    CHECKF(c[b].cut == 0, "chose %d", c[b].cut); /* 100 + 1 + 8 + 90 */
    /* ties go to the earlier candidate: an edge as fast as the cloud over a free link */
    vd_slice_point one = {.cut = 0, .ms_a = 50, .ms_b = 50, .bytes = 0};
    vd_slice_profile p = {.total_ms = 100, .n = 1, .p = &one};
    vd_slice_link l = {1e12, 0, 1, 1};
    vd_error err;
    CHECK(vd_slice_choose(&p, &l, c, &b, &err) == 2 && b == 0);
    /* a bad link model */
    l.bandwidth_bps = 0;
    CHECK(vd_slice_choose(&p, &l, c, &b, &err) == VD_EINVAL);
    CHECKF(strstr(err.msg, "bandwidth") != NULL, "%s", err.msg);
    l = (vd_slice_link){1e6, 1, 0, 1};
    CHECK(vd_slice_choose(&p, &l, c, &b, &err) == VD_EINVAL);
}

static void measured(void)
{
    vd_error err = {0};
    vd_model *m = NULL;
    vd_slicer *s = NULL;
    vd_model_opts o = {.threads = 1};
    int rc = vd_model_load(vt_model("blazeface-back"), &o, &m, &err);
    if (!rc) rc = vd_slicer_open(m, &s, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (rc) return;
    void *in;
    size_t bytes;
    vd_nn_make_input(vd_model_input(m, 0), "blazeface-back", "lcg:1", &in, &bytes, &err);
    vd_slice_profile p;
    rc = vd_slice_profile_run(s, in, bytes, 2, VD_WIRE_F16, &p, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (!rc) {
        CHECK(p.n == vd_slicer_n_cuts(s) && p.n_steps == vd_slicer_n_steps(s));
        CHECK(p.total_ms > 0);
        double sum = 0;
        for (int i = 0; i < p.n_steps; i++) sum += p.step_ms[i];
        CHECK(fabs(sum - p.total_ms) < 1e-9 * (1 + sum));
        for (int i = 0; i < p.n; i++) {
            CHECK(fabs(p.p[i].ms_a + p.p[i].ms_b - p.total_ms) < 1e-6);
            CHECK(i == 0 || p.p[i].ms_a >= p.p[i - 1].ms_a);
            CHECK(p.p[i].bytes == vd_wire_size(s, i, VD_WIRE_F16));
            CHECK(p.p[i].enc_ms >= 0 && p.p[i].dec_ms >= 0);
        }
        /* with a free link and an edge 1000x slower, the earliest cut beats edge-only */
        vd_slice_cand *c = calloc((size_t)p.n + 2, sizeof *c);
        vd_slice_link l = {1e15, 0, 1e-3, 1};
        int best;
        CHECK(vd_slice_choose(&p, &l, c, &best, &err) == p.n + 1);
        CHECK(c[best].cut != VD_SLICE_EDGE_ONLY);
        /* with a link of 1 bit/s, edge-only */
        l = (vd_slice_link){1, 0, 1, 1};
        vd_slice_choose(&p, &l, c, &best, &err);
        CHECK(c[best].cut == VD_SLICE_EDGE_ONLY);
        free(c);
        vd_slice_profile_free(&p);
    }
    free(in);
    vd_slicer_free(s);
    vd_model_free(m);
}

int main(void)
{
    synthetic();
    measured();
    return vt_finish();
}
