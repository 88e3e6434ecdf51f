/* vdag nn run / vdag bench models / vdag bench gemm. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xnnpack.h>
#include <pthreadpool.h>

#include "cli/cli.h"
#include "vdag/base.h"
#include "vdag/nn.h"
#include "vdag/nninput.h"

static const char *const default_models[] = {
    "blazeface-back", "blazeface-front",   "facemesh",         "nanodet",
    "centernet",      "movenet-lightning", "movenet-multipose"};

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static void print_shape(FILE *f, const vd_tensor *t)
{
    fputc('[', f);
    for (int i = 0; i < t->ndim; i++) fprintf(f, "%s%lld", i ? "," : "", (long long)t->shape[i]);
    fputc(']', f);
}

static void print_outputs(const char *model, vd_model *m, int json)
{
    if (json) printf("{\"model\":\"%s\",\"outputs\":[", model);
    for (int i = 0; i < vd_model_n_outputs(m); i++) {
        const vd_tensor *t = vd_model_output(m, i);
        int64_t n = vd_tensor_numel(t);
        double sum = 0, sa = 0, mn = INFINITY, mx = -INFINITY;
        for (int64_t k = 0; k < n; k++) {
            double v = t->dtype == VD_F32 ? ((float *)t->data)[k] : ((int32_t *)t->data)[k];
            sum += v;
            sa += fabs(v);
            if (v < mn) mn = v;
            if (v > mx) mx = v;
        }
        if (json) {
            printf("%s{\"name\":\"%s\",\"shape\":", i ? "," : "", t->name);
            print_shape(stdout, t);
            printf(",\"sum\":%.17g,\"sum_abs\":%.17g,\"min\":%.9g,\"max\":%.9g,\"first\":[", sum,
                   sa, mn, mx);
            for (int64_t k = 0; k < n && k < 8; k++) {
                double v = t->dtype == VD_F32 ? ((float *)t->data)[k] : ((int32_t *)t->data)[k];
                printf("%s%.9g", k ? "," : "", v);
            }
            printf("]}");
        } else {
            printf("%-16s ", t->name);
            print_shape(stdout, t);
            printf("  sum %.6g  sum_abs %.6g  min %.6g  max %.6g\n", sum, sa, mn, mx);
        }
    }
    if (json) printf("]}\n");
}

void vd_usage_nn_run(FILE *f)
{
    fprintf(
        f, "usage: vdag nn run MODEL [--input lcg:SEED|const:V|image:PATH] [--threads N] [--json]\n"
           "  MODEL: a cached model name (blazeface-back, facemesh, nanodet, ...) or a model.json "
           "path\n");
}

int vd_cmd_nn_run(int argc, char **argv)
{
    const char *model = NULL, *input = "lcg:12345";
    int threads = 1, json = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--input") || !strcmp(a, "--threads")) {
            if (!v) return vd_arg_missing("nn run", a, vd_usage_nn_run);
            if (!strcmp(a, "--input"))
                input = v;
            else if (vd_arg_int("nn run", a, v, 1, 256, &threads))
                return 2;
            i++;
        } else if (a[0] == '-') {
            return vd_arg_unknown("nn run", a, vd_usage_nn_run);
        } else if (!model) {
            model = a;
        } else {
            return vd_arg_error("nn run", vd_usage_nn_run, "one MODEL only ('%s')", a);
        }
    }
    if (!model) return vd_arg_error("nn run", vd_usage_nn_run, "MODEL is required");
    char path[1024];
    if (vd_model_path(model, path, sizeof path))
        return vd_arg_error("nn run", NULL, "MODEL '%s': not a cached model nor a path", model);
    vd_error err = {0};
    vd_model *m;
    vd_model_opts o = {.threads = threads};
    if (vd_model_load(path, &o, &m, &err)) {
        fprintf(stderr, "vdag: %s\n", err.msg);
        return 1;
    }
    void *buf = NULL;
    size_t bytes = 0;
    int rc = vd_nn_make_input(vd_model_input(m, 0), model, input, &buf, &bytes, &err);
    if (!rc) rc = vd_model_run(m, buf, bytes, &err);
    if (rc)
        fprintf(stderr, "vdag: %s\n", err.msg);
    else
        print_outputs(model, m, json);
    free(buf);
    vd_model_free(m);
    return rc ? 1 : 0;
}

/* ---- bench models ------------------------------------------------------------------ */

void vd_usage_bench_models(FILE *f)
{
    fprintf(f, "usage: vdag bench models [--models a,b] [--threads N] [--runs N] [--warmup N] "
               "[--json] [--profile]\n");
}

int vd_cmd_bench_models(int argc, char **argv)
{
    char models[1024] = "";
    int threads = default_threads(), runs = 50, warmup = 5, json = 0, profile = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--profile") || !strcmp(a, "--json")) {
            *(!strcmp(a, "--json") ? &json : &profile) = 1;
            continue;
        }
        if (strcmp(a, "--models") && strcmp(a, "--threads") && strcmp(a, "--runs") &&
            strcmp(a, "--warmup"))
            return vd_arg_unknown("bench models", a, vd_usage_bench_models);
        if (!v) return vd_arg_missing("bench models", a, vd_usage_bench_models);
        i++;
        if (!strcmp(a, "--models"))
            snprintf(models, sizeof models, "%s", v);
        else if (vd_arg_int("bench models", a, v, !strcmp(a, "--warmup") ? 0 : 1,
                            !strcmp(a, "--threads") ? 256 : 100000,
                            !strcmp(a, "--threads") ? &threads
                            : !strcmp(a, "--runs")  ? &runs
                                                    : &warmup))
            return 2;
    }
    if (!models[0]) {
        for (size_t i = 0; i < sizeof default_models / sizeof *default_models; i++)
            snprintf(models + strlen(models), sizeof models - strlen(models), "%s%s", i ? "," : "",
                     default_models[i]);
    }
    if (!json)
        printf("%-20s %7s %5s %10s %10s %8s %8s\n", "model", "threads", "runs", "median_ms",
               "p90_ms", "gflop", "gflops");
    int status = 0;
    char *save = NULL;
    for (char *name = strtok_r(models, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        char path[1024];
        vd_error err = {0};
        vd_model *m;
        vd_model_opts o = {.threads = threads};
        if (vd_model_path(name, path, sizeof path) || vd_model_load(path, &o, &m, &err)) {
            fprintf(stderr, "vdag: %s\n", err.msg);
            status = 1;
            continue;
        }
        void *buf = NULL;
        size_t bytes = 0;
        if (vd_nn_make_input(vd_model_input(m, 0), name, "lcg:12345", &buf, &bytes, &err)) {
            fprintf(stderr, "vdag: %s\n", err.msg);
            vd_model_free(m);
            status = 1;
            continue;
        }
        double *t = calloc((size_t)runs, sizeof(double));
        int rc = 0;
        for (int i = 0; i < warmup && !rc; i++) rc = vd_model_run(m, buf, bytes, &err);
        for (int i = 0; i < runs && !rc; i++) {
            double t0 = vd_now_ms();
            rc = vd_model_run(m, buf, bytes, &err);
            t[i] = vd_now_ms() - t0;
        }
        if (!rc && profile) {
            vd_model_set_profiling(m, 1);
            for (int i = 0; i < runs && !rc; i++) rc = vd_model_run(m, buf, bytes, &err);
        }
        if (rc) {
            fprintf(stderr, "vdag: %s\n", err.msg);
            status = 1;
        } else {
            double med = vd_percentile(t, (size_t)runs, 50),
                   p90 = vd_percentile(t, (size_t)runs, 90);
            double gflop = vd_model_flops(m) / 1e9;
            if (json)
                printf("{\"model\":\"%s\",\"threads\":%d,\"runs\":%d,\"median_ms\":%.3f,\"p90_ms\":"
                       "%.3f,"
                       "\"gflop\":%.4f,\"gflops\":%.2f}\n",
                       name, threads, runs, med, p90, gflop, gflop / (med / 1e3));
            else
                printf("%-20s %7d %5d %10.3f %10.3f %8.4f %8.2f\n", name, threads, runs, med, p90,
                       gflop, gflop / (med / 1e3));
            if (profile) vd_model_profile_print(m, stdout);
            fflush(stdout);
        }
        free(t);
        free(buf);
        vd_model_free(m);
    }
    return status;
}

/* ---- bench gemm: the machine's float32 matrix-multiply peak through XNNPACK --------- */

void vd_usage_bench_gemm(FILE *f)
{
    fprintf(f, "usage: vdag bench gemm [--threads N] [--runs N] [--size N] [--json]\n");
}

int vd_cmd_bench_gemm(int argc, char **argv)
{
    int threads = default_threads(), runs = 20, json = 0;
    size_t M = 1024, K = 1024, N = 1024;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int x;
        if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        }
        if (strcmp(a, "--threads") && strcmp(a, "--runs") && strcmp(a, "--size"))
            return vd_arg_unknown("bench gemm", a, vd_usage_bench_gemm);
        if (!v) return vd_arg_missing("bench gemm", a, vd_usage_bench_gemm);
        i++;
        if (vd_arg_int("bench gemm", a, v, !strcmp(a, "--size") ? 16 : 1,
                       !strcmp(a, "--size")      ? 8192
                       : !strcmp(a, "--threads") ? 256
                                                 : 100000,
                       &x))
            return 2;
        if (!strcmp(a, "--threads"))
            threads = x;
        else if (!strcmp(a, "--runs"))
            runs = x;
        else
            M = K = N = (size_t)x;
    }
    vd_error err = {0};
    if (vd_nn_init(&err) || runs < 1 || threads < 1 || M < 16) {
        fprintf(stderr, "vdag: %s\n", err.msg[0] ? err.msg : "bad arguments");
        return 1;
    }
    float *a = malloc(M * K * 4 + XNN_EXTRA_BYTES), *w = malloc(N * K * 4 + XNN_EXTRA_BYTES);
    float *c = malloc(M * N * 4 + XNN_EXTRA_BYTES);
    double *t = calloc((size_t)runs, sizeof(double));
    pthreadpool_t tp = pthreadpool_create((size_t)threads);
    xnn_operator_t op = NULL;
    int rc = 1;
    if (a && w && c && t && tp) {
        for (size_t i = 0; i < M * K; i++) a[i] = (float)(i % 17) * 0.01f;
        for (size_t i = 0; i < N * K; i++) w[i] = (float)(i % 13) * 0.01f;
        if (xnn_create_fully_connected_nc_f32(K, N, K, N, w, NULL, -INFINITY, INFINITY, 0, &op) ==
                xnn_status_success &&
            xnn_setup_fully_connected_nc_f32(op, M, a, c, tp) == xnn_status_success) {
            xnn_run_operator(op, tp);
            for (int i = 0; i < runs; i++) {
                double t0 = vd_now_ms();
                xnn_run_operator(op, tp);
                t[i] = vd_now_ms() - t0;
            }
            double med = vd_percentile(t, (size_t)runs, 50);
            double gf = 2.0 * (double)M * (double)N * (double)K / 1e9;
            if (json)
                printf("{\"bench\":\"gemm\",\"m\":%zu,\"n\":%zu,\"k\":%zu,\"threads\":%d,\"median_"
                       "ms\":%.3f,\"gflops\":%.2f}\n",
                       M, N, K, threads, med, gf / (med / 1e3));
            else
                printf("gemm %zux%zux%zu threads %d: median %.3f ms, %.2f GFLOP/s\n", M, N, K,
                       threads, med, gf / (med / 1e3));
            rc = 0;
        }
    }
    if (op) xnn_delete_operator(op);
    if (tp) pthreadpool_destroy(tp);
    free(a);
    free(w);
    free(c);
    free(t);
    return rc;
}
