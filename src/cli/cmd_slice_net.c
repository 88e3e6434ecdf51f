/* vdag slice serve / vdag slice call: part B on a host over NATS, and an edge that measures
 * every candidate (edge-only, each cut, cloud-only JPEG) against it (docs/slicing.md). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "vdag/base.h"
#include "vdag/media.h"
#include "vdag/nninput.h"
#include "vdag/slice_net.h"

/* Load MODEL and its slicer; 0 or 1 (message printed). */
static int open_model(const char *prog, const char *model, int threads, vd_model **m, vd_slicer **s)
{
    char path[1024];
    vd_error err = {0};
    vd_model_opts o = {.threads = threads};
    if (vd_model_path(model, path, sizeof path)) return fprintf(stderr, "%s: bad model\n", prog), 1;
    int rc = vd_model_load(path, &o, m, &err);
    if (!rc) rc = vd_slicer_open(*m, s, &err);
    if (rc) fprintf(stderr, "%s: %s\n", prog, err.msg);
    return rc ? 1 : 0;
}

void vd_usage_slice_serve(FILE *f)
{
    fprintf(f, "usage: vdag slice serve MODEL --nats URL [--name NODE] [--threads N]\n%s",
            vd_cli_nats_usage());
}

void vd_usage_slice_call(FILE *f)
{
    fprintf(f,
            "usage: vdag slice call MODEL --nats URL [--node NODE] [--cut all|cuts|edge|cloud|K]\n"
            "       [--format f32|f16|i8] [--frames N] [--image PATH] [--quality Q]\n"
            "       [--frame-height H] [--threads N] [--timeout MS] [--name NAME]\n"
            "  one JSON line per candidate: bytes sent, median/p90 latency, host time, and\n"
            "  (\"exact\") whether the host's outputs equal a local whole run\n%s",
            vd_cli_nats_usage());
}

int vd_cmd_slice_serve(int argc, char **argv)
{
    const char *prog = "vdag slice serve", *model = NULL, *name = "cloud";
    int threads = 1;
    vd_cli_nats nc = {0};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int t = v ? vd_cli_nats_flag(&nc, prog, a, v) : 0;
        if (t < 0) return 2;
        if (t > 0) {
            i++;
        } else if (!strcmp(a, "--name") && v) {
            name = argv[++i];
        } else if (!strcmp(a, "--threads") && v) {
            if ((threads = atoi(argv[++i])) < 1) goto usage;
        } else if (a[0] != '-' && !model) {
            model = a;
        } else {
            goto usage;
        }
    }
    if (!model || !nc.url) goto usage;
    sigset_t set;
    vd_cli_block_stop_signals(&set);
    vd_model *m = NULL;
    vd_slicer *s = NULL;
    vd_transport *tr = NULL;
    vd_slice_host *h = NULL;
    vd_error err = {0};
    int rc = open_model(prog, model, threads, &m, &s);
    if (!rc) rc = vd_cli_nats_connect(prog, &nc, name, &tr);
    if (!rc && vd_slice_host_start(tr, name, s, &h, &err)) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        rc = 1;
    }
    if (!rc) {
        char hh[20];
        fprintf(stderr, "%s: %s (sha256 %s…) part B for %d cuts as node %s: ready\n", prog,
                vd_slicer_model_name(s), vd_slicer_hash_hex(s, hh, sizeof hh), vd_slicer_n_cuts(s),
                name);
        int sig = 0;
        sigwait(&set, &sig);
    }
    vd_transport_close(tr);
    vd_slice_host_free(h);
    vd_slicer_free(s);
    vd_model_free(m);
    return rc;
usage:
    vd_usage_slice_serve(stderr);
    return 2;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct call_cfg {
    vd_transport *t;
    const char *node;
    vd_slicer *s;
    vd_model *m;
    const void *in;
    size_t bytes;
    const vd_frame *frame; /* cloud-only: the frame to JPEG-code */
    int quality, frames, timeout_ms;
    vd_wire_fmt fmt;
} call_cfg;

static int same_outputs(vd_model *m, const vd_slice_reply *r)
{
    if (r->n != vd_model_n_outputs(m)) return 0;
    for (int i = 0; i < r->n; i++) {
        const vd_tensor *t = vd_model_output(m, i);
        if (memcmp(t->data, r->out[i].data, (size_t)vd_tensor_numel(t) * 4)) return 0;
    }
    return 1;
}

/* One frame of candidate `cut`: its latency in *ms, bytes sent, host time; *exact: the
 * outputs equal a local whole run (only checked when check is set). */
static int one_frame(call_cfg *c, int cut, double *ms, double *sent, double *host, int check,
                     int *exact, vd_error *err)
{
    double t0 = vd_now_ms();
    uint8_t *msg = NULL;
    unsigned char *jpg = NULL;
    size_t len = 0;
    int rc = 0;
    *host = 0;
    if (cut == VD_SLICE_EDGE_ONLY) {
        rc = vd_model_run(c->m, c->in, c->bytes, err);
    } else {
        if (cut == VD_SLICE_CLOUD_ONLY) {
            rc = vd_jpeg_encode(c->frame, c->quality, &jpg, &len, err);
            msg = jpg;
        } else {
            vd_tensor mid;
            rc = vd_slicer_run_a(c->s, cut, c->in, c->bytes, &mid, err);
            if (!rc) rc = vd_wire_encode(c->s, cut, &mid, c->fmt, &msg, &len, err);
        }
        vd_slice_reply r = {0};
        if (!rc)
            rc = vd_slice_call(c->t, c->node, vd_slicer_model_name(c->s), cut, msg, len,
                               c->timeout_ms, &r, err);
        *ms = vd_now_ms() - t0;
        *host = r.host_ms;
        if (!rc && check) {
            if (cut == VD_SLICE_CLOUD_ONLY) { /* against the same JPEG decoded here */
                vd_frame *d = NULL;
                void *in = NULL;
                size_t b = 0;
                rc = vd_jpeg_decode(jpg, len, &d, err);
                if (!rc)
                    rc = vd_nn_frame_input(vd_model_input(c->m, 0), vd_slicer_model_name(c->s), d,
                                           &in, &b, err);
                if (!rc) rc = vd_model_run(c->m, in, b, err);
                free(in);
                vd_frame_free(d);
            } else {
                rc = vd_model_run(c->m, c->in, c->bytes, err);
            }
            *exact = !rc && same_outputs(c->m, &r);
        }
        vd_slice_reply_free(&r);
        free(msg);
    }
    if (cut == VD_SLICE_EDGE_ONLY) *ms = vd_now_ms() - t0;
    *sent = (double)len;
    return rc;
}

static int measure(call_cfg *c, int cut, vd_error *err)
{
    double *ms = calloc((size_t)c->frames, sizeof(double)), sent = 0, host = 0, hsum = 0, d;
    if (!ms) return vd_fail(err, VD_ENOMEM, "out of memory");
    int exact = -1, rc = 0;
    /* warm-up (and wait for the host: it may be starting) with the exactness check */
    for (int tries = 0; tries < 50; tries++) {
        rc = one_frame(c, cut, &d, &sent, &host, cut != VD_SLICE_EDGE_ONLY, &exact, err);
        if (rc != VD_ENOTFOUND && rc != VD_ECONN) break;
        usleep(200000);
    }
    for (int f = 0; f < c->frames && !rc; f++) {
        rc = one_frame(c, cut, &ms[f], &sent, &host, 0, NULL, err);
        hsum += host;
    }
    if (!rc) {
        qsort(ms, (size_t)c->frames, sizeof(double), cmp_d);
        const char *kind = cut == VD_SLICE_EDGE_ONLY    ? "edge"
                           : cut == VD_SLICE_CLOUD_ONLY ? "cloud"
                                                        : "cut";
        printf("{\"model\":\"%s\",\"kind\":\"%s\",\"cut\":%d", vd_slicer_model_name(c->s), kind,
               cut);
        if (cut >= 0)
            printf(",\"step\":%d,\"name\":\"%s\"", vd_slicer_cut(c->s, cut)->step,
                   vd_slicer_cut(c->s, cut)->name);
        printf(",\"format\":\"%s\",\"bytes\":%.0f,\"frames\":%d,\"median_ms\":%.3f,"
               "\"p90_ms\":%.3f,\"host_ms\":%.3f",
               cut == VD_SLICE_CLOUD_ONLY ? "jpeg" : vd_wire_fmt_name(c->fmt), sent, c->frames,
               ms[c->frames / 2], ms[(c->frames * 9) / 10 < c->frames ? (c->frames * 9) / 10 : 0],
               hsum / c->frames);
        if (exact >= 0) printf(",\"exact\":%s", exact ? "true" : "false");
        printf("}\n");
        fflush(stdout);
    }
    free(ms);
    return rc;
}

int vd_cmd_slice_call(int argc, char **argv)
{
    const char *prog = "vdag slice call", *model = NULL, *node = NULL, *image = NULL;
    const char *which = "all", *name = "edge";
    int threads = 1, frame_h = 0;
    call_cfg c = {.quality = 90, .frames = 10, .timeout_ms = 30000, .fmt = VD_WIRE_F32};
    vd_cli_nats nc = {0};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int t = v ? vd_cli_nats_flag(&nc, prog, a, v) : 0;
        if (t < 0) return 2;
        if (t > 0) {
            i++;
            continue;
        }
        if (a[0] != '-' && !model) {
            model = a;
            continue;
        }
        if (!v) goto usage;
        i++;
        if (!strcmp(a, "--node"))
            node = v;
        else if (!strcmp(a, "--name"))
            name = v;
        else if (!strcmp(a, "--cut"))
            which = v;
        else if (!strcmp(a, "--image"))
            image = v;
        else if (!strcmp(a, "--format")) {
            if (vd_wire_fmt_parse(v, &c.fmt)) goto usage;
        } else if (!strcmp(a, "--frames")) {
            if ((c.frames = atoi(v)) < 1) goto usage;
        } else if (!strcmp(a, "--quality")) {
            if ((c.quality = atoi(v)) < 1 || c.quality > 100) goto usage;
        } else if (!strcmp(a, "--frame-height")) {
            if ((frame_h = atoi(v)) < 16 || frame_h > 4320) goto usage;
        } else if (!strcmp(a, "--threads")) {
            if ((threads = atoi(v)) < 1) goto usage;
        } else if (!strcmp(a, "--timeout")) {
            if ((c.timeout_ms = atoi(v)) < 1) goto usage;
        } else
            goto usage;
    }
    if (!model || !nc.url) goto usage;
    signal(SIGPIPE, SIG_IGN);
    char img[1024];
    if (!image) {
        vd_media_path("messi5.jpg", img, sizeof img);
        image = img;
    }
    vd_model *m = NULL;
    vd_slicer *s = NULL;
    vd_frame *f = NULL, *g = NULL;
    void *in = NULL;
    vd_error err = {0};
    char spec[1100];
    snprintf(spec, sizeof spec, "image:%s", image);
    int rc = open_model(prog, model, threads, &m, &s);
    if (!rc && vd_cli_nats_connect(prog, &nc, name, &c.t)) rc = 1;
    const vd_tensor *it = m ? vd_model_input(m, 0) : NULL;
    if (!rc && (vd_nn_make_input(it, model, spec, &in, &c.bytes, &err) ||
                vd_image_load(image, &f, &err))) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        rc = 1;
    }
    if (!rc) {
        int nchw = it->shape[1] == 3 && it->shape[3] != 3;
        int h = (int)(nchw ? it->shape[2] : it->shape[1]);
        int w = (int)(nchw ? it->shape[3] : it->shape[2]);
        if (frame_h > 0) h = frame_h, w = (int)((long)f->width * frame_h / f->height) & ~1;
        if (vd_frame_scale(f, w, h, &g, &err)) fprintf(stderr, "%s: %s\n", prog, err.msg), rc = 1;
    }
    c.node = node;
    c.s = s;
    c.m = m;
    c.in = in;
    c.frame = g;
    int n_cuts = s ? vd_slicer_n_cuts(s) : 0;
    for (int k = -2; !rc && k < n_cuts; k++) { /* cloud, edge, then the cuts */
        int cut = k == -2 ? VD_SLICE_CLOUD_ONLY : k == -1 ? VD_SLICE_EDGE_ONLY : k;
        char id[16];
        snprintf(id, sizeof id, "%d", cut);
        int want = !strcmp(which, "all") || (cut == VD_SLICE_EDGE_ONLY && !strcmp(which, "edge")) ||
                   (cut == VD_SLICE_CLOUD_ONLY && !strcmp(which, "cloud")) ||
                   (cut >= 0 && (!strcmp(which, "cuts") || !strcmp(which, id)));
        if (want && measure(&c, cut, &err)) {
            fprintf(stderr, "%s: %s\n", prog, err.msg);
            rc = 1;
        }
    }
    vd_transport_close(c.t);
    vd_frame_free(f);
    vd_frame_free(g);
    free(in);
    vd_slicer_free(s);
    vd_model_free(m);
    return rc;
usage:
    vd_usage_slice_call(stderr);
    return 2;
}
