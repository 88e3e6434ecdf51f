/*
 * The cut chooser: predicted end-to-end latency of edge-only, every cut and cloud-only
 * from a profile measured on one machine and a link/speed model (include/vdag/slice.h,
 * docs/slicing.md). Pure arithmetic: no state, thread-safe.
 */
#include <math.h>

#include "vdag/slice.h"

int vd_slice_choose(const vd_slice_profile *p, const vd_slice_link *l, vd_slice_cand *c, int *best,
                    vd_error *err)
{
    if (!(l->bandwidth_bps > 0) || !(l->edge_speed > 0) || !(l->cloud_speed > 0) ||
        !(l->rtt_ms >= 0) || !isfinite(l->bandwidth_bps) || !isfinite(l->rtt_ms))
        return vd_fail(err, VD_EINVAL,
                       "link model: bandwidth (%g bit/s), edge speed (%g) and cloud speed (%g) "
                       "must be > 0 and the RTT (%g ms) >= 0",
                       l->bandwidth_bps, l->edge_speed, l->cloud_speed, l->rtt_ms);
    double ms_per_byte = 8e3 / l->bandwidth_bps;
    int n = 0;
    c[n++] = (vd_slice_cand){.cut = VD_SLICE_EDGE_ONLY,
                             .edge_ms = p->total_ms / l->edge_speed,
                             .total_ms = p->total_ms / l->edge_speed};
    for (int i = 0; i < p->n; i++) {
        const vd_slice_point *q = &p->p[i];
        vd_slice_cand x = {.cut = q->cut, .bytes = (double)q->bytes};
        x.edge_ms = (q->ms_a + q->enc_ms) / l->edge_speed;
        x.net_ms = l->rtt_ms + (double)q->bytes * ms_per_byte;
        x.cloud_ms = (q->dec_ms + q->ms_b) / l->cloud_speed;
        x.total_ms = x.edge_ms + x.net_ms + x.cloud_ms;
        c[n++] = x;
    }
    if (p->jpeg_bytes > 0) {
        vd_slice_cand x = {.cut = VD_SLICE_CLOUD_ONLY, .bytes = p->jpeg_bytes};
        x.edge_ms = p->jpeg_enc_ms / l->edge_speed;
        x.net_ms = l->rtt_ms + p->jpeg_bytes * ms_per_byte;
        x.cloud_ms = (p->jpeg_dec_ms + p->total_ms) / l->cloud_speed;
        x.total_ms = x.edge_ms + x.net_ms + x.cloud_ms;
        c[n++] = x;
    }
    int b = 0;
    for (int i = 1; i < n; i++)
        if (c[i].total_ms < c[b].total_ms) b = i;
    *best = b;
    return n;
}
