/* vdag cascade serve / vdag cascade bench: compute workers of a cascade unit over NATS, and a
 * cascade measured on a video (its exit curve; edge share, F1, latency and bytes against
 * always-cloud). docs/slicing.md, "Cascades". */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "vdag/base.h"
#include "vdag/cascade.h"
#include "vdag/media.h"
#include "vdag/sched.h"

void vd_usage_cascade_serve(FILE *f)
{
    fprintf(f,
            "usage: vdag cascade serve SERVICE MODEL --nats URL [--name NODE] [--workers N]\n"
            "       [--threads N]\n"
            "  N compute workers (default 1; nodes NODE-w0 … when N > 1) of the unit MODEL of\n"
            "  SERVICE, each with its own model, sharing the unit's queue group, until SIGINT\n%s",
            vd_cli_nats_usage());
}

void vd_usage_cascade_bench(FILE *f)
{
    fprintf(f,
            "usage: vdag cascade bench SERVICE --video PATH [--model ID] [--frames N]\n"
            "       [--every K] [--resolution H] [--lo L[,L…]] [--quality Q] [--nats URL]\n"
            "       [--timeout MS] [--threads N] [--kb FILE]\n"
            "  the exit curve of SERVICE's cascade model ID (default: its first): per band\n"
            "  LO..HI the share of frames sent on and the mean F1 against the last unit alone;\n"
            "  then the cascade run live (later units: `vdag cascade serve` workers on --nats,\n"
            "  else in this process) against always-cloud: edge share, F1, ms and bytes a frame;\n"
            "  --kb: the curve is merged into that knowledge base file (made if missing; points\n"
            "  of other runs weighted by frames), where the kb scheduler picks a plan's band\n");
}

int vd_cmd_cascade_serve(int argc, char **argv)
{
    const char *prog = "vdag cascade serve", *svc = NULL, *model = NULL, *name = "cloud";
    int threads = 1, workers = 1;
    vd_cli_nats nc = {0};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int t = vd_cli_nats_arg(&nc, prog, argc, argv, &i);
        if (t < 0) return 2;
        if (t > 0)
            continue;
        else if (!strcmp(a, "--name") && v)
            name = argv[++i];
        else if (!strcmp(a, "--threads") && v) {
            if ((threads = atoi(argv[++i])) < 1) goto usage;
        } else if (!strcmp(a, "--workers") && v) {
            if ((workers = atoi(argv[++i])) < 1 || workers > 64) goto usage;
        } else if (a[0] != '-' && !svc)
            svc = a;
        else if (a[0] != '-' && !model)
            model = a;
        else
            goto usage;
    }
    if (!svc || !model || !nc.url) goto usage;
    const vd_service *s = vd_service_find(svc);
    int mid = -1;
    for (int m = 0; s && m < s->n_models; m++)
        if (!strcmp(s->model_names[m], model)) mid = m;
    if (mid < 0) {
        fprintf(stderr, "%s: %s is not a model of a service %s\n", prog, model, svc);
        return 2;
    }
    sigset_t set;
    vd_cli_block_stop_signals(&set);
    vd_transport *tr = NULL;
    vd_cascade_worker **w = calloc((size_t)workers, sizeof *w);
    vd_error err = {0};
    int rc = w ? vd_cli_nats_connect(prog, &nc, name, &tr) : 1;
    vd_svc_opts o = {.threads = threads};
    for (int k = 0; !rc && k < workers; k++) {
        char node[80];
        if (workers > 1)
            snprintf(node, sizeof node, "%s-w%d", name, k);
        else
            snprintf(node, sizeof node, "%s", name);
        if (vd_cascade_worker_start(tr, node, svc, mid, &o, &w[k], &err)) {
            fprintf(stderr, "%s: %s\n", prog, err.msg);
            rc = 1;
        }
    }
    if (!rc) {
        fprintf(stderr, "%s: %s/%s: %d worker%s as %s%s: ready\n", prog, svc, model, workers,
                workers > 1 ? "s" : "", name, workers > 1 ? "-w*" : "");
        int sig = 0;
        sigwait(&set, &sig);
        long served = 0, fwd = 0;
        for (int k = 0; k < workers; k++) {
            long a = 0, b = 0;
            vd_cascade_worker_stats(w[k], &a, &b);
            served += a, fwd += b;
        }
        fprintf(stderr, "%s: served %ld requests, forwarded %ld\n", prog, served, fwd);
    }
    vd_transport_close(tr);
    for (int k = 0; w && k < workers; k++) vd_cascade_worker_free(w[k]);
    free(w);
    return rc;
usage:
    vd_usage_cascade_serve(stderr);
    return 2;
}

/* ---- bench ----------------------------------------------------------------------------- */

typedef struct bench {
    const vd_service *svc;
    const vd_svc_field *pf;
    vd_cascade_spec spec;
    int n;
    vd_frame **f;
    json_t **gold;  /* the last unit alone, on the frame */
    json_t **cloud; /* the last unit on the frame's JPEG (what an escalated frame gets) */
    int model;      /* the cascade's model id */
    vd_kb *kb;      /* --kb: the curve goes in */
} bench;

static double f1_of(bench *b, json_t *out, json_t *gold)
{
    vd_score s;
    if (vd_score_field(b->svc, b->pf, out, gold, &s)) return 0;
    return s.value;
}

/* Every frame through `model` with min_score lo (0: its default); outs[i] new. */
static int run_model(bench *b, int model, float lo, int threads, int jpeg_q, json_t **outs,
                     vd_error *err)
{
    vd_svc_opts o = {.threads = threads, .min_score = lo};
    vd_svc_instance *s = NULL;
    int rc = vd_svc_open(b->svc->name, model, &o, &s, err);
    for (int i = 0; !rc && i < b->n; i++) {
        vd_frame *f = b->f[i];
        unsigned char *j = NULL;
        size_t len = 0;
        if (jpeg_q > 0) {
            rc = vd_jpeg_encode(b->f[i], jpeg_q, &j, &len, err);
            if (!rc) rc = vd_jpeg_decode(j, len, &f, err);
            free(j);
            if (rc) break;
            f->src_width = b->f[i]->src_width, f->src_height = b->f[i]->src_height;
        }
        rc = vd_svc_process(s, f, NULL, &outs[i], err);
        if (f != b->f[i]) vd_frame_free(f);
    }
    vd_svc_close(s);
    return rc;
}

/* The curve: per lo, the first unit at min_score lo once, then every hi. */
static int curve(bench *b, const float *los, int nlo, int threads, vd_error *err)
{
    json_t **small = calloc((size_t)b->n, sizeof *small);
    int rc = small ? 0 : vd_fail(err, VD_ENOMEM, "out of memory");
    for (int l = 0; !rc && l < nlo; l++) {
        rc = run_model(b, b->spec.model_id[0], los[l], threads, 0, small, err);
        for (int h = 0; !rc && h <= 20; h++) {
            float hi = (float)h * 0.05f;
            if (hi < los[l]) continue;
            vd_exit_test t = {b->spec.exit[0].rule, los[l], hi};
            double f1 = 0;
            int up = 0;
            for (int i = 0; i < b->n; i++) {
                int ok = vd_exit_confident(b->svc, &t, small[i]);
                up += !ok;
                f1 += f1_of(b, ok ? small[i] : b->cloud[i], b->gold[i]);
            }
            vd_kb_exit_pt pt = {los[l], hi, (double)up / b->n, f1 / b->n, b->n};
            if (b->kb && vd_kb_set_exit(b->kb, b->svc->name, b->model, &pt))
                rc = vd_fail(err, VD_ENOMEM, "out of memory");
            printf("{\"kind\":\"curve\",\"rule\":\"%s\",\"lo\":%.2f,\"hi\":%.2f,\"escalated\":%.4f,"
                   "\"f1\":%.4f}\n",
                   vd_exit_rule_name(t.rule), (double)t.lo, (double)hi, (double)up / b->n,
                   f1 / b->n);
        }
        for (int i = 0; i < b->n; i++) json_decref(small[i]), small[i] = NULL;
    }
    free(small);
    return rc;
}

typedef struct live_stats {
    double ms, bytes, f1;
    int edge, fallback;
} live_stats;

static int live(bench *b, vd_transport *t, int quality, int timeout, int threads, vd_error *err)
{
    vd_cascade_opts co = {
        .t = t, .timeout_ms = timeout, .quality = quality, .svc = {.threads = threads}};
    vd_cascade *c = NULL;
    int rc = vd_cascade_open(&b->spec, &co, &c, err);
    live_stats cs = {0}, cl = {0};
    double *cms = calloc((size_t)b->n, sizeof *cms), *lms = calloc((size_t)b->n, sizeof *lms);
    if (!cms || !lms) rc = rc ? rc : vd_fail(err, VD_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < b->n; i++) {
        json_t *out = NULL;
        double t0 = vd_now_ms();
        rc = vd_cascade_run(c, b->f[i], NULL, &out, err);
        if (rc) break;
        cms[i] = vd_now_ms() - t0;
        json_t *a = json_object_get(out, "cascade");
        cs.ms += cms[i];
        cs.bytes += (double)json_integer_value(json_object_get(a, "bytes"));
        cs.edge += json_integer_value(json_object_get(a, "unit")) == 0;
        cs.fallback += json_is_true(json_object_get(a, "fallback"));
        cs.f1 += f1_of(b, out, b->gold[i]);
        json_decref(out);
        /* always-cloud: the frame's JPEG straight to the last unit */
        vd_cascade_reply r;
        size_t sent = 0;
        t0 = vd_now_ms();
        rc = vd_cascade_call(t, NULL, &b->spec, b->spec.n - 1, b->f[i], quality, timeout, 0, &r,
                             &sent, err);
        if (rc) break;
        lms[i] = vd_now_ms() - t0;
        cl.ms += lms[i];
        cl.bytes += (double)sent;
        cl.f1 += f1_of(b, r.output, b->gold[i]);
        vd_cascade_reply_free(&r);
    }
    if (!rc) {
        int n = b->n;
        printf("{\"kind\":\"cascade\",\"frames\":%d,\"edge_fraction\":%.4f,\"f1\":%.4f,"
               "\"mean_ms\":%.2f,\"median_ms\":%.2f,\"bytes_per_frame\":%.0f,\"fallbacks\":%d}\n",
               n, (double)cs.edge / n, cs.f1 / n, cs.ms / n, vd_percentile(cms, (size_t)n, 50),
               cs.bytes / n, cs.fallback);
        printf("{\"kind\":\"cloud\",\"frames\":%d,\"edge_fraction\":0,\"f1\":%.4f,"
               "\"mean_ms\":%.2f,\"median_ms\":%.2f,\"bytes_per_frame\":%.0f}\n",
               n, cl.f1 / n, cl.ms / n, vd_percentile(lms, (size_t)n, 50), cl.bytes / n);
    }
    free(cms);
    free(lms);
    vd_cascade_close(c);
    return rc;
}

/* The kb file at path, or a new kb when there is none. */
static int load_kb(const char *path, vd_kb **out, vd_error *err)
{
    *out = vd_kb_new();
    if (!*out) return vd_fail(err, VD_ENOMEM, "out of memory");
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    fclose(f);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    int rc = j ? vd_kb_from_json(*out, j, err)
               : vd_fail(err, VD_EFORMAT, "--kb %s: line %d: %s", path, je.line, je.text);
    json_decref(j);
    return rc;
}

static int save_kb(const char *path, const vd_kb *kb, vd_error *err)
{
    json_t *j = vd_kb_to_json(kb);
    int rc = j && !json_dump_file(j, path, JSON_INDENT(1)) ? 0
                                                           : vd_fail(err, VD_EIO,
                                                                     "--kb %s: cannot "
                                                                     "write it",
                                                                     path);
    json_decref(j);
    return rc;
}

static int read_frames(const char *video, int max, int every, int res, bench *b, vd_error *err)
{
    vd_source_opts so = {.conf = {.resolution_h = res}};
    vd_source *src = NULL;
    int rc = vd_source_open(video, &so, &src, err);
    b->f = calloc((size_t)max, sizeof *b->f);
    if (!rc && !b->f) rc = vd_fail(err, VD_ENOMEM, "out of memory");
    for (long k = 0; !rc && b->n < max; k++) {
        vd_frame *f = NULL;
        rc = vd_source_read(src, &f, -1, err);
        if (rc == VD_EEOF) {
            rc = 0;
            break;
        }
        if (!rc && k % every == 0)
            b->f[b->n++] = f;
        else
            vd_frame_free(f);
    }
    vd_source_close(src);
    if (!rc && b->n == 0) rc = vd_fail(err, VD_EFORMAT, "%s: no frames", video);
    return rc;
}

int vd_cmd_cascade_bench(int argc, char **argv)
{
    const char *prog = "vdag cascade bench", *svcname = NULL, *video = NULL, *los_s = NULL,
               *kbpath = NULL;
    int model = -1, frames = 100, every = 1, res = 0, quality = 90, timeout = 5000, threads = 1;
    vd_cli_nats nc = {0};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int t = vd_cli_nats_arg(&nc, prog, argc, argv, &i);
        if (t < 0) return 2;
        if (t > 0)
            continue;
        else if (!strcmp(a, "--video") && v)
            video = argv[++i];
        else if (!strcmp(a, "--kb") && v)
            kbpath = argv[++i];
        else if (!strcmp(a, "--lo") && v)
            los_s = argv[++i];
        else if (!strcmp(a, "--model") && v)
            model = atoi(argv[++i]);
        else if (!strcmp(a, "--frames") && v)
            frames = atoi(argv[++i]);
        else if (!strcmp(a, "--every") && v)
            every = atoi(argv[++i]);
        else if (!strcmp(a, "--resolution") && v)
            res = vd_resolution_parse(argv[++i]);
        else if (!strcmp(a, "--quality") && v)
            quality = atoi(argv[++i]);
        else if (!strcmp(a, "--timeout") && v)
            timeout = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && v)
            threads = atoi(argv[++i]);
        else if (a[0] != '-' && !svcname)
            svcname = a;
        else
            goto usage;
    }
    if (!svcname || !video || frames < 1 || every < 1 || res < 0 || quality < 1 || quality > 100 ||
        timeout < 1 || threads < 1)
        goto usage;
    bench b = {.svc = vd_service_find(svcname)};
    for (int m = 0; b.svc && model < 0 && m < b.svc->n_models; m++)
        if (vd_cascade_is(b.svc->model_names[m])) model = m;
    vd_error err = {0};
    if (!b.svc || model < 0 || model >= b.svc->n_models ||
        vd_cascade_parse(b.svc, b.svc->model_names[model], &b.spec, &err)) {
        fprintf(stderr, "%s: %s has no cascade model %d%s%s\n", prog, svcname, model,
                err.msg[0] ? ": " : "", err.msg);
        return 2;
    }
    b.pf = vd_kb_primary_field(b.svc);
    b.model = model;
    vd_kb *file_kb = NULL; /* the curve is merged in: frames of other videos count too */
    if (kbpath && (load_kb(kbpath, &file_kb, &err) || !(b.kb = vd_kb_new()))) {
        fprintf(stderr, "%s: %s\n", prog, err.msg[0] ? err.msg : "out of memory");
        vd_kb_free(file_kb);
        return 1;
    }
    float los[8];
    int nlo = 0;
    los[nlo++] = b.spec.exit[0].lo;
    for (const char *p = los_s; p && *p && nlo < 8;) { /* "0,0.1,0.2" */
        char *end;
        los[nlo] = strtof(p, &end);
        if (end == p || los[nlo] < 0 || los[nlo] > 1) goto usage;
        if (los[nlo] != los[0]) nlo++;
        p = *end == ',' ? end + 1 : end;
    }
    signal(SIGPIPE, SIG_IGN);
    vd_transport *t = NULL;
    vd_cascade_worker *w[VD_CASCADE_MAX_UNITS] = {0};
    int rc = read_frames(video, frames, every, res, &b, &err);
    b.gold = calloc((size_t)b.n, sizeof *b.gold);
    b.cloud = calloc((size_t)b.n, sizeof *b.cloud);
    if (!rc && (!b.gold || !b.cloud)) rc = vd_fail(&err, VD_ENOMEM, "out of memory");
    int last = b.spec.model_id[b.spec.n - 1];
    if (!rc) rc = run_model(&b, last, 0, threads, 0, b.gold, &err);
    if (!rc) rc = run_model(&b, last, 0, threads, quality, b.cloud, &err);
    if (!rc) rc = curve(&b, los, nlo, threads, &err);
    if (!rc && b.kb) rc = vd_kb_merge(file_kb, b.kb, "", &err);
    if (!rc && b.kb) rc = save_kb(kbpath, file_kb, &err);
    if (!rc && nc.url) {
        if (vd_cli_nats_connect(prog, &nc, "cascade-bench", &t)) rc = VD_ECONN;
    } else if (!rc) { /* in this process: a worker per later unit on our own bus */
        rc = vd_transport_inproc_new(&t, &err);
        vd_svc_opts o = {.threads = threads};
        for (int k = 1; !rc && k < b.spec.n; k++) {
            char node[32];
            snprintf(node, sizeof node, "bench-u%d", k);
            rc = vd_cascade_worker_start(t, node, b.svc->name, b.spec.model_id[k], &o, &w[k], &err);
        }
    }
    if (!rc) rc = live(&b, t, quality, timeout, threads, &err);
    if (rc && rc != VD_ECONN) fprintf(stderr, "%s: %s\n", prog, err.msg);
    vd_transport_close(t);
    for (int k = 0; k < VD_CASCADE_MAX_UNITS; k++) vd_cascade_worker_free(w[k]);
    for (int i = 0; i < b.n; i++) {
        vd_frame_free(b.f[i]);
        if (b.gold) json_decref(b.gold[i]);
        if (b.cloud) json_decref(b.cloud[i]);
    }
    free(b.f);
    free(b.gold);
    free(b.cloud);
    vd_kb_free(b.kb);
    vd_kb_free(file_kb);
    return rc ? 1 : 0;
usage:
    vd_usage_cascade_bench(stderr);
    return 2;
}
