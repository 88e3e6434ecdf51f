/*
 * bench_sched: how long the "kb" scheduler's cold-start search takes for a 3-stage DAG on 3
 * nodes (target: < 50 ms), against the exhaustive evaluation of the same plan space.
 *
 *   build/bench_sched [--kb FILE] [--runs N] [--no-exhaustive]
 *
 * The kb is this machine's profile (<cache>/profile-<host>.json, `vdag profile`) or FILE; the
 * DAG face_detection -> face_alignment -> object_detection on a 720p 25 fps camera; nodes:
 * the edge (2 cores, 30 % busy), a second edge (4 cores, 1.5x, 20 %) and a cloud (16 cores, 6x,
 * 10 %), every node hosting every service; links edge->cloud 20 Mbit/s 20 ms, edge->edge2
 * 100 Mbit/s 2 ms; JPEG at 85, 70 and 50. Each bound is searched `runs` times from a fresh
 * scheduler (median, p90, max ms), then once exhaustively with the public cost model (at 0.95 x
 * the bound, as the kb scheduler aims), and once with feedback's cold start for comparison.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vdag/base.h"
#include "vdag/sched.h"
#include "vdag/svc.h"

static long exhaustive(const vd_sched_input *in, double *best_acc)
{
    static const int rr[] = {VD_KB_RES_RUNGS}, sk[] = {VD_KB_SKIP_RUNGS},
                     tr[] = {VD_KB_TRACK_RUNGS};
    static const double fr[] = {VD_KB_FPS_RUNGS};
    int res[8] = {0}, nr = 1, nf = 1;
    double fps[8] = {0};
    for (size_t k = 0; k < sizeof rr / sizeof *rr; k++)
        if (rr[k] < in->native_h) res[nr++] = rr[k];
    for (size_t k = 0; k < sizeof fr / sizeof *fr; k++)
        if (fr[k] < in->native_fps) fps[nf++] = fr[k];
    int ns = in->dag->n_stages, nn = in->n_nodes, idx[VD_MAX_STAGES];
    long n = 0;
    *best_acc = -1;
    for (int r = 0; r < nr; r++)
        for (int f = 0; f < nf; f++)
            for (int s = 0; s < 4; s++)
                for (int t = 0; t < 4; t++)
                    for (int e = 0; e < in->n_encoders; e++) {
                        vd_plan p;
                        vd_plan_default(in->dag, in->edge, &p);
                        p.resolution_h = res[r], p.fps = fps[f], p.nskip = sk[s];
                        p.ntracking = tr[t];
                        p.quality = in->encoders[e].quality;
                        memset(idx, 0, sizeof idx);
                        for (;;) {
                            for (int i = 0; i < ns; i++) {
                                int nm = in->dag->stages[i].svc->n_models;
                                p.map[i].model_id = idx[i] % nm;
                                snprintf(p.map[i].node, sizeof p.map[i].node, "%s",
                                         in->nodes[idx[i] / nm].name);
                            }
                            n++;
                            double d = vd_plan_predict(in, &p);
                            if (d >= 0 && d <= in->delay_bound && vd_plan_load(in, &p) <= 1 &&
                                vd_plan_cpu_fits(in, &p)) {
                                double a = vd_plan_accuracy(in, &p);
                                if (a > *best_acc) *best_acc = a;
                            }
                            int i = 0;
                            while (i < ns && ++idx[i] == in->dag->stages[i].svc->n_models * nn)
                                idx[i++] = 0;
                            if (i == ns) break;
                        }
                    }
    return n;
}

int main(int argc, char **argv)
{
    const char *kbpath = NULL;
    int runs = 50, exh = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--kb") && i + 1 < argc)
            kbpath = argv[++i];
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-exhaustive"))
            exh = 0;
        else {
            fprintf(stderr, "usage: bench_sched [--kb FILE] [--runs N] [--no-exhaustive]\n");
            return 2;
        }
    }
    char path[700], dir[512], host[64] = "host";
    if (!kbpath) {
        vd_cache_dir(dir, sizeof dir);
        gethostname(host, sizeof host - 1);
        snprintf(path, sizeof path, "%s/profile-%s.json", dir, host);
        kbpath = path;
    }
    json_t *j = json_load_file(kbpath, 0, NULL);
    vd_kb *kb = vd_kb_new();
    vd_error err = {0};
    if (!j || vd_kb_from_json(kb, j, &err) || !vd_kb_has_accuracy(kb, NULL)) {
        fprintf(stderr, "bench_sched: %s: %s (run `vdag profile` first)\n", kbpath,
                !j           ? "cannot read it"
                : err.msg[0] ? err.msg
                             : "no measured accuracy");
        json_decref(j);
        vd_kb_free(kb);
        return 1;
    }
    json_decref(j);
    vd_dag *d = NULL;
    if (vd_dag_from_pipeline("face_detection,face_alignment,object_detection", &d, &err)) {
        fprintf(stderr, "bench_sched: %s\n", err.msg);
        return 1;
    }
    vd_node_info nodes[3] = {
        {.name = "edge1", .role = "edge", .n_cores = 2, .speed = 1, .cpu_pct = 30},
        {.name = "edge2", .role = "edge", .n_cores = 4, .speed = 1.5, .cpu_pct = 20},
        {.name = "cloud1", .role = "cloud", .n_cores = 16, .speed = 6, .cpu_pct = 10}};
    vd_link links[2] = {{.from = "edge1", .to = "cloud1", .bw_Bps = 20e6 / 8, .rtt_s = 0.02},
                        {.from = "edge1", .to = "edge2", .bw_Bps = 100e6 / 8, .rtt_s = 0.002}};
    vd_enc_opt enc[3] = {{VD_ENC_JPEG, 85}, {VD_ENC_JPEG, 70}, {VD_ENC_JPEG, 50}};
    vd_runtime rt = {.obj_n = 3, .obj_size = 9000};
    static const double bounds[] = {0.03, 0.05, 0.1, 0.2, 0.5};
    printf("kb %s: 3 stages (face_detection, face_alignment, object_detection), 3 nodes, 3 JPEG "
           "qualities, 720p at 25 fps, %d runs per bound\n",
           kbpath, runs);
    printf("%-8s %8s %8s %8s %9s %9s %8s %12s %9s  %s\n", "bound s", "med ms", "p90 ms", "max ms",
           "accuracy", "delay s", "plans", "exhaust. ms", "same acc", "plan");
    double *ms = calloc((size_t)runs, sizeof *ms), fb_ms[8], fb_acc[8];
    for (size_t b = 0; b < sizeof bounds / sizeof *bounds; b++) {
        vd_sched_input in = {.dag = d,
                             .edge = "edge1",
                             .nodes = nodes,
                             .n_nodes = 3,
                             .kb = kb,
                             .rt = &rt,
                             .delay_bound = bounds[b],
                             .native_h = 720,
                             .native_w = 1280,
                             .native_fps = 25,
                             .links = links,
                             .n_links = 2,
                             .encoders = enc,
                             .n_encoders = 3};
        vd_plan p;
        for (int r = 0; r < runs; r++) {
            vd_sched *s;
            vd_sched_new("kb", &s, &err);
            double t0 = vd_now_ms();
            vd_sched_plan(s, &in, &p, &err);
            ms[r] = vd_now_ms() - t0;
            vd_sched_free(s);
        }
        /* feedback's cold start on the same input, for comparison (a ladder, not the space) */
        vd_sched *fb;
        vd_plan fp;
        vd_sched_new("feedback", &fb, &err);
        double t1 = vd_now_ms();
        vd_sched_plan(fb, &in, &fp, &err);
        fb_ms[b] = vd_now_ms() - t1;
        fb_acc[b] = vd_plan_predict(&in, &fp) <= bounds[b] ? vd_plan_accuracy(&in, &fp) : -1;
        vd_sched_free(fb);
        double a = vd_plan_accuracy(&in, &p), dl = vd_plan_predict(&in, &p), ea = -1, et = 0;
        long n = 0;
        if (exh) { /* the kb scheduler aims at 0.95 x the bound: the same for the oracle */
            vd_sched_input oin = in;
            oin.delay_bound *= 0.95;
            double t0 = vd_now_ms();
            n = exhaustive(&oin, &ea);
            et = vd_now_ms() - t0;
        }
        double med = vd_percentile(ms, (size_t)runs, 50), p90 = vd_percentile(ms, (size_t)runs, 90);
        char plan[320];
        snprintf(plan, sizeof plan, "%dp fps %g skip %d trk %d q%d %s:m%d %s:m%d %s:m%d",
                 p.resolution_h, p.fps, p.nskip, p.ntracking, p.quality, p.map[0].node,
                 p.map[0].model_id, p.map[1].node, p.map[1].model_id, p.map[2].node,
                 p.map[2].model_id);
        printf("%-8.3f %8.2f %8.2f %8.2f %9.3f %9.4f %8ld %12.0f %9s  %s\n", bounds[b], med, p90,
               ms[runs - 1], a, dl, n, et,
               !exh              ? "-"
               : ea < 0          ? "none"
               : a >= ea - 1e-12 ? "yes"
                                 : "NO",
               plan);
    }
    printf("\nfeedback's cold start on the same inputs (its ladders: no fps, fewer rungs, 2 "
           "nodes):\n");
    for (size_t b = 0; b < sizeof bounds / sizeof *bounds; b++)
        printf("bound %.3f s: %.1f ms, accuracy %s%.3f\n", bounds[b], fb_ms[b],
               fb_acc[b] < 0 ? "(misses the bound) " : "", fb_acc[b] < 0 ? 0 : fb_acc[b]);
    free(ms);
    vd_dag_free(d);
    vd_kb_free(kb);
    return 0;
}
