/* vdag: one binary, many roles. Dispatches to the subcommands in src/cli/cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include <libavutil/log.h>

#include "cli/cli.h"

typedef struct vd_cli_cmd {
    const char *name; /* "nn run": one or two words */
    int (*fn)(int argc, char **argv);
    void (*usage)(FILE *f); /* COMMAND --help */
    const char *help;
} vd_cli_cmd;

static const vd_cli_cmd commands[] = {
    {"run", vd_cmd_run, vd_usage_run,
     "run a DAG over a video (--pipeline/--dag), or serve all roles in one process"},
    {"cloud", vd_cmd_cloud, vd_usage_cloud,
     "cluster mode: the user API, node registry and scheduler (NATS)"},
    {"edge", vd_cmd_edge, vd_usage_edge,
     "cluster mode: an edge node with videos and a service host (NATS)"},
    {"submit", vd_cmd_submit, vd_usage_submit, "submit a job to the cloud's API"},
    {"status", vd_cmd_status, vd_usage_status, "show nodes, videos and jobs"},
    {"results", vd_cmd_results, vd_usage_results, "show a job's latest results and plan"},
    {"stop", vd_cmd_stop, vd_usage_stop, "stop (or --delete) a job"},
    {"video add", vd_cmd_video_add, vd_usage_video_add,
     "add a video source (file, RTSP, HTTP, V4L2) to a running edge"},
    {"video rm", vd_cmd_video_rm, vd_usage_video_rm,
     "remove a video source from its edge (its jobs end)"},
    {"nats-server", vd_cmd_nats_server, vd_usage_nats_server,
     "run a private nats-server (temp config and store) until SIGINT/SIGTERM"},
    {"profile", vd_cmd_profile, vd_usage_profile,
     "profile every service/model/resolution on this machine"},
    {"worker", vd_cmd_worker, vd_usage_worker,
     "cluster mode: a batch worker pulling video items from JetStream"},
    {"batch submit", vd_cmd_batch_submit, vd_usage_batch_submit,
     "detect objects in a video file (in this process, or --server URL / --nats URL)"},
    {"batch status", vd_cmd_batch_status, vd_usage_batch_status,
     "list uploaded videos, or one video's statistics"},
    {"batch rm", vd_cmd_batch_rm, vd_usage_batch_rm,
     "remove an uploaded video, its queue items and results"},
    {"nn run", vd_cmd_nn_run, vd_usage_nn_run,
     "run a TF.js graph model on a generated or image input"},
    {"slice serve", vd_cmd_slice_serve, vd_usage_slice_serve,
     "part B of a model's cuts, served over NATS"},
    {"slice call", vd_cmd_slice_call, vd_usage_slice_call,
     "measure edge-only, every cut and cloud-only against a `slice serve` host"},
    {"cascade serve", vd_cmd_cascade_serve, vd_usage_cascade_serve,
     "compute workers of one cascade unit (a model), served over NATS"},
    {"cascade bench", vd_cmd_cascade_bench, vd_usage_cascade_bench,
     "a cascade's exit curve on a video, and its edge share, F1, latency and bytes"},
    {"slice", vd_cmd_slice, vd_usage_slice,
     "a model's cut points, their profile here, and the cut a link model chooses"},
    {"eval score", vd_cmd_eval_score, vd_usage_eval_score,
     "score a results file against the golden configuration's (F1, PCK, counts)"},
    {"eval oracle", vd_cmd_eval_oracle, vd_usage_eval_oracle,
     "the most accurate knowledge-base plan meeting a bound over a given link"},
    {"eval plot", vd_cmd_eval_plot, vd_usage_eval_plot,
     "draw a scheduler evaluation run (bench/eval_sched.sh) as a PNG"},
    {"bench models", vd_cmd_bench_models, vd_usage_bench_models,
     "time the built-in models (median/p90 ms, GFLOP/s)"},
    {"bench gemm", vd_cmd_bench_gemm, vd_usage_bench_gemm,
     "measure the machine's peak float32 GEMM GFLOP/s"},
    {"bench remote", vd_cmd_bench_remote, vd_usage_bench_remote,
     "time a stage run through the transport (NATS) against the same stage run locally"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: vdag COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
    av_log_set_level(AV_LOG_ERROR); /* FFmpeg's chatter is not for users */
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        const char *n = commands[i].name;
        const char *sp = strchr(n, ' ');
        size_t l = sp ? (size_t)(sp - n) : strlen(n);
        int words = sp ? 2 : 1;
        if (strlen(argv[1]) != l || strncmp(argv[1], n, l)) continue;
        if (sp && (argc < 3 || strcmp(argv[2], sp + 1))) {
            if (argc >= 3 && strcmp(argv[2], "-h") && strcmp(argv[2], "--help")) continue;
            usage(argc < 3 ? stderr : stdout); /* "vdag bench" alone, or "vdag bench --help" */
            return argc < 3 ? 2 : 0;
        }
        for (int k = 1 + words; k < argc; k++) /* COMMAND --help: its usage, on stdout */
            if (!strcmp(argv[k], "--help") || !strcmp(argv[k], "-h")) {
                commands[i].usage(stdout);
                return 0;
            }
        return commands[i].fn(argc - 1 - words, argv + 1 + words);
    }
    fprintf(stderr, "vdag: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
