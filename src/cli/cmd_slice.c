/* vdag slice MODEL: the model's cuts, a profile on this machine, and the chooser's pick
 * for a link (docs/slicing.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "vdag/base.h"
#include "vdag/frame.h"
#include "vdag/media.h"
#include "vdag/nn.h"
#include "vdag/nninput.h"
#include "vdag/slice.h"

void vd_usage_slice(FILE *f)
{
    fprintf(
        f, "usage: vdag slice MODEL [--bandwidth 10mbit] [--rtt 20ms] [--edge-speed 0.25]\n"
           "                  [--cloud-speed 1] [--format f32|f16|i8] [--image PATH]\n"
           "                  [--quality 90] [--frame-height H] [--runs N] [--threads N] [--json]\n"
           "  bandwidth: N[bit|kbit|mbit|gbit] (bits/s, as tc); rtt: N[us|ms|s] (ms if no unit)\n"
           "  speeds are relative to this machine (0.25: four times slower)\n"
           "  cloud-only sends --image as JPEG at the model's input size, or H pixels high\n");
}

static int usage_slice(void)
{
    vd_usage_slice(stderr);
    return 2;
}

/* "10mbit" -> 1e7; -1 if malformed */
static double parse_bw(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v > 0)) return -1;
    static const struct {
        const char *u;
        double f;
    } units[] = {{"", 1},    {"bit", 1},    {"k", 1e3}, {"kbit", 1e3},
                 {"m", 1e6}, {"mbit", 1e6}, {"g", 1e9}, {"gbit", 1e9}};
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (!strcasecmp(end, units[i].u)) return v * units[i].f;
    return -1;
}

/* "20ms" -> 20; -1 if malformed */
static double parse_ms(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0)) return -1;
    if (!*end || !strcmp(end, "ms")) return v;
    if (!strcmp(end, "s")) return v * 1e3;
    if (!strcmp(end, "us")) return v / 1e3;
    return -1;
}

/* The frame as the cloud-only candidate sends it: the image at the model's input size (or
 * frame_h pixels high, as a remote stage sends the frame at the plan's resolution), JPEG at
 * `quality`; encode and decode timed on this machine (best of 5). */
static int measure_jpeg(const vd_tensor *in, const char *image, int quality, int frame_h,
                        vd_slice_profile *p, vd_error *err)
{
    int nchw = in->ndim == 4 && in->shape[1] == 3 && in->shape[3] != 3;
    int h = (int)(nchw ? in->shape[2] : in->shape[1]),
        w = (int)(nchw ? in->shape[3] : in->shape[2]);
    vd_frame *f = NULL, *g = NULL;
    int rc = vd_image_load(image, &f, err);
    if (!rc && frame_h > 0) { /* the frame at a plan's resolution, aspect kept */
        h = frame_h;
        w = (int)((long)f->width * frame_h / f->height) & ~1;
    }
    if (!rc) rc = vd_frame_scale(f, w, h, &g, err);
    p->jpeg_enc_ms = p->jpeg_dec_ms = 1e30;
    for (int r = 0; r < 5 && !rc; r++) {
        unsigned char *j = NULL;
        size_t len = 0;
        vd_frame *d = NULL;
        double t0 = vd_now_ms();
        rc = vd_jpeg_encode(g, quality, &j, &len, err);
        double t1 = vd_now_ms();
        if (!rc) rc = vd_jpeg_decode(j, len, &d, err);
        double t2 = vd_now_ms();
        p->jpeg_bytes = (double)len;
        if (t1 - t0 < p->jpeg_enc_ms) p->jpeg_enc_ms = t1 - t0;
        if (t2 - t1 < p->jpeg_dec_ms) p->jpeg_dec_ms = t2 - t1;
        free(j);
        vd_frame_free(d);
    }
    vd_frame_free(f);
    vd_frame_free(g);
    return rc;
}

static const char *shape_str(const vd_cut *c, char *buf, size_t cap)
{
    buf[0] = 0;
    for (int i = 0; i < c->ndim; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%lld", i ? "x" : "",
                 (long long)c->shape[i]);
    return buf;
}

static void print_table(vd_slicer *s, const vd_slice_profile *p, const vd_slice_cand *c, int n,
                        int best, int quality)
{
    char sh[96];
    printf("%-5s %5s  %-34s %-14s %9s %9s %10s %9s %9s %9s %10s\n", "cut", "step", "tensor",
           "shape", "A ms", "B ms", "bytes", "edge ms", "net ms", "cloud ms", "total ms");
    for (int i = 0; i < n; i++) {
        const vd_slice_cand *x = &c[i];
        char idx[16];
        const char *name, *shape = "";
        int step = -1;
        double a = 0, b = 0;
        if (x->cut == VD_SLICE_EDGE_ONLY) {
            snprintf(idx, sizeof idx, "edge");
            name = "(edge-only: nothing sent)";
            a = p->total_ms;
        } else if (x->cut == VD_SLICE_CLOUD_ONLY) {
            snprintf(idx, sizeof idx, "cloud");
            snprintf(sh, sizeof sh, "(cloud-only: JPEG q%d)", quality);
            name = sh;
            b = p->total_ms;
        } else {
            const vd_cut *k = vd_slicer_cut(s, x->cut);
            snprintf(idx, sizeof idx, "%d", x->cut);
            name = k->name;
            shape = shape_str(k, sh, sizeof sh);
            step = k->step;
            a = p->p[x->cut].ms_a;
            b = p->p[x->cut].ms_b;
        }
        size_t nl = strlen(name);
        printf("%-5s %5d  %-34s %-14s %9.2f %9.2f %10.0f %9.2f %9.2f %9.2f %10.2f%s\n", idx, step,
               nl > 34 ? name + nl - 34 : name, shape, a, b, x->bytes, x->edge_ms, x->net_ms,
               x->cloud_ms, x->total_ms, i == best ? "  <- choice" : "");
    }
}

static void print_json(vd_slicer *s, const vd_slice_profile *p, const vd_slice_link *l,
                       const vd_slice_cand *c, int n, int best, int quality)
{
    char hh[20];
    printf("{\"model\":\"%s\",\"hash\":\"%s\",\"format\":\"%s\",\"steps\":%d,\"total_ms\":%.4f,"
           "\"link\":{\"bandwidth_bps\":%.6g,\"rtt_ms\":%.6g,\"edge_speed\":%.6g,"
           "\"cloud_speed\":%.6g},\"jpeg\":{\"bytes\":%.0f,\"quality\":%d},\"candidates\":[",
           vd_slicer_model_name(s), vd_slicer_hash_hex(s, hh, sizeof hh), vd_wire_fmt_name(p->fmt),
           vd_slicer_n_steps(s), p->total_ms, l->bandwidth_bps, l->rtt_ms, l->edge_speed,
           l->cloud_speed, p->jpeg_bytes, quality);
    for (int i = 0; i < n; i++) {
        const vd_slice_cand *x = &c[i];
        const char *kind = x->cut == VD_SLICE_EDGE_ONLY    ? "edge"
                           : x->cut == VD_SLICE_CLOUD_ONLY ? "cloud"
                                                           : "cut";
        printf("%s{\"kind\":\"%s\"", i ? "," : "", kind);
        if (x->cut >= 0) {
            const vd_cut *k = vd_slicer_cut(s, x->cut);
            printf(",\"cut\":%d,\"step\":%d,\"name\":\"%s\",\"ms_a\":%.4f,\"ms_b\":%.4f", x->cut,
                   k->step, k->name, p->p[x->cut].ms_a, p->p[x->cut].ms_b);
        }
        printf(",\"bytes\":%.0f,\"edge_ms\":%.4f,\"net_ms\":%.4f,\"cloud_ms\":%.4f,"
               "\"total_ms\":%.4f}",
               x->bytes, x->edge_ms, x->net_ms, x->cloud_ms, x->total_ms);
    }
    printf("],\"choice\":%d}\n", best);
}

/* One honest sentence about the choice. */
static void print_verdict(vd_slicer *s, const vd_slice_cand *c, int n, int best)
{
    const vd_slice_cand *b = &c[best], *cut = NULL, *cloud = NULL;
    for (int i = 0; i < n; i++) {
        if (c[i].cut >= 0 && (!cut || c[i].total_ms < cut->total_ms)) cut = &c[i];
        if (c[i].cut == VD_SLICE_CLOUD_ONLY) cloud = &c[i];
    }
    if (b->cut >= 0)
        printf("choice: cut %d '%s' (step %d), %.2f ms predicted; edge-only %.2f ms%s", b->cut,
               vd_slicer_cut(s, b->cut)->name, vd_slicer_cut(s, b->cut)->step, b->total_ms,
               c[0].total_ms, cloud ? "" : "\n");
    else if (b->cut == VD_SLICE_EDGE_ONLY)
        printf("choice: edge-only, %.2f ms predicted: no cut pays for its transfer on this link "
               "(best cut %.2f ms)",
               b->total_ms, cut ? cut->total_ms : NAN);
    else
        printf("choice: cloud-only, %.2f ms predicted: the JPEG (%.0f bytes) beats every cut "
               "(best cut %.2f ms, %.0f bytes) and edge-only (%.2f ms)\n",
               b->total_ms, b->bytes, cut ? cut->total_ms : NAN, cut ? cut->bytes : NAN,
               c[0].total_ms);
    if (b->cut != VD_SLICE_CLOUD_ONLY && cloud)
        printf(", cloud-only (JPEG, %.0f bytes) %.2f ms\n", cloud->bytes, cloud->total_ms);
    else if (b->cut == VD_SLICE_EDGE_ONLY)
        printf("\n");
}

int vd_cmd_slice(int argc, char **argv)
{
    const char *model = NULL, *image = NULL;
    vd_slice_link l = {.bandwidth_bps = 10e6, .rtt_ms = 20, .edge_speed = 0.25, .cloud_speed = 1};
    vd_wire_fmt fmt = VD_WIRE_F32;
    int runs = 5, threads = 1, quality = 90, frame_h = 0, json = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int used = 1;
        if (!strcmp(a, "--json")) {
            json = 1;
            used = 0;
        } else if (!v) {
            if (a[0] == '-' || model) return usage_slice();
            model = a;
            used = 0;
        } else if (!strcmp(a, "--bandwidth")) {
            if ((l.bandwidth_bps = parse_bw(v)) < 0) return usage_slice();
        } else if (!strcmp(a, "--rtt")) {
            if ((l.rtt_ms = parse_ms(v)) < 0) return usage_slice();
        } else if (!strcmp(a, "--edge-speed")) {
            if (!((l.edge_speed = atof(v)) > 0)) return usage_slice();
        } else if (!strcmp(a, "--cloud-speed")) {
            if (!((l.cloud_speed = atof(v)) > 0)) return usage_slice();
        } else if (!strcmp(a, "--format")) {
            if (vd_wire_fmt_parse(v, &fmt)) return usage_slice();
        } else if (!strcmp(a, "--image")) {
            image = v;
        } else if (!strcmp(a, "--quality")) {
            quality = atoi(v);
            if (quality < 1 || quality > 100) return usage_slice();
        } else if (!strcmp(a, "--frame-height")) {
            if ((frame_h = atoi(v)) < 16 || frame_h > 4320) return usage_slice();
        } else if (!strcmp(a, "--runs")) {
            if ((runs = atoi(v)) < 1) return usage_slice();
        } else if (!strcmp(a, "--threads")) {
            if ((threads = atoi(v)) < 1) return usage_slice();
        } else if (a[0] != '-' && !model) {
            model = a;
            used = 0;
        } else {
            return usage_slice();
        }
        i += used;
    }
    if (!model) return usage_slice();
    char path[1024], img[1024];
    if (vd_model_path(model, path, sizeof path)) return usage_slice();
    if (!image) {
        vd_media_path("messi5.jpg", img, sizeof img);
        image = img;
    }
    vd_error err = {0};
    vd_model *m = NULL;
    vd_slicer *s = NULL;
    vd_model_opts o = {.threads = threads};
    void *in = NULL;
    size_t bytes = 0;
    char spec[1100];
    snprintf(spec, sizeof spec, "image:%s", image);
    vd_slice_profile p = {0};
    vd_slice_cand *c = NULL;
    int rc = vd_model_load(path, &o, &m, &err);
    if (!rc) rc = vd_slicer_open(m, &s, &err);
    if (!rc) rc = vd_nn_make_input(vd_model_input(m, 0), model, spec, &in, &bytes, &err);
    if (!rc) rc = vd_slice_profile_run(s, in, bytes, runs, fmt, &p, &err);
    if (!rc) rc = measure_jpeg(vd_model_input(m, 0), image, quality, frame_h, &p, &err);
    if (!rc && !(c = calloc((size_t)p.n + 2, sizeof *c))) rc = vd_fail(&err, VD_ENOMEM, "oom");
    int best = 0, n = 0;
    if (!rc) n = rc = vd_slice_choose(&p, &l, c, &best, &err);
    if (rc >= 0) {
        rc = 0;
        if (json) {
            print_json(s, &p, &l, c, n, best, quality);
        } else {
            char hh[20];
            printf("%s (sha256 %s…): %d steps, %d cuts, %.2f ms a run here (%d threads), wire "
                   "format %s\nlink %.6g bit/s, RTT %.3g ms; edge speed %.3g, cloud speed %.3g "
                   "(relative to this machine)\n\n",
                   vd_slicer_model_name(s), vd_slicer_hash_hex(s, hh, sizeof hh),
                   vd_slicer_n_steps(s), vd_slicer_n_cuts(s), p.total_ms, threads,
                   vd_wire_fmt_name(fmt), l.bandwidth_bps, l.rtt_ms, l.edge_speed, l.cloud_speed);
            print_table(s, &p, c, n, best, quality);
            printf("\n");
            print_verdict(s, c, n, best);
        }
    } else {
        fprintf(stderr, "vdag slice: %s\n", err.msg);
    }
    free(c);
    vd_slice_profile_free(&p);
    free(in);
    vd_slicer_free(s);
    vd_model_free(m);
    return rc ? 1 : 0;
}
