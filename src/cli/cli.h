/*
 * vdag CLI subcommands. Each takes argc/argv *after* the subcommand name(s) and
 * returns the process exit status (0 ok, 1 runtime error, 2 usage error).
 */
#ifndef VDAG_CLI_H
#define VDAG_CLI_H

#include <stdio.h>

int vd_cmd_nn_run(int argc, char **argv);       /* vdag nn run MODEL ... */
int vd_cmd_bench_models(int argc, char **argv); /* vdag bench models ... */
int vd_cmd_bench_gemm(int argc, char **argv);   /* vdag bench gemm ... */
int vd_cmd_bench_remote(int argc, char **argv); /* vdag bench remote ... (cmd_bench_net.c) */

int vd_cmd_run(int argc, char **argv); /* vdag run ... */

/* Node roles (cmd_node.c) */
int vd_cmd_serve(int argc, char **argv);       /* vdag run without --pipeline/--dag: pseudo mode */
int vd_cmd_cloud(int argc, char **argv);       /* vdag cloud --nats URL */
int vd_cmd_edge(int argc, char **argv);        /* vdag edge --name N --nats URL --video ID=PATH */
int vd_cmd_profile(int argc, char **argv);     /* vdag profile */
int vd_cmd_nats_server(int argc, char **argv); /* vdag nats-server [--port N] */

/* API clients (cmd_client.c) */
int vd_cmd_submit(int argc, char **argv);
int vd_cmd_status(int argc, char **argv);
int vd_cmd_results(int argc, char **argv);
int vd_cmd_stop(int argc, char **argv);

/* Usages (main.c prints one for COMMAND --help, on stdout, and exits 0). */
void vd_usage_run(FILE *f);
void vd_usage_cloud(FILE *f);
void vd_usage_cloud_edge(FILE *f, const char *role); /* role: "run", "cloud" or "edge" */
void vd_usage_edge(FILE *f);
void vd_usage_submit(FILE *f);
void vd_usage_status(FILE *f);
void vd_usage_results(FILE *f);
void vd_usage_stop(FILE *f);
void vd_usage_profile(FILE *f);
void vd_usage_nats_server(FILE *f);
void vd_usage_nn_run(FILE *f);
void vd_usage_bench_models(FILE *f);
void vd_usage_bench_gemm(FILE *f);
void vd_usage_bench_remote(FILE *f);

/* Option values (args.c): 0, or 2 (a usage error) after saying on stderr which option of
 * "vdag CMD" was wrong and what it takes. Numbers must be the whole string and in range. */
int vd_arg_long(const char *cmd, const char *opt, const char *v, long lo, long hi, long *out);
int vd_arg_int(const char *cmd, const char *opt, const char *v, int lo, int hi, int *out);
int vd_arg_double(const char *cmd, const char *opt, const char *v, double lo, double hi,
                  double *out);
/* An option the command does not take / one without its value: said, then the usage. */
int vd_arg_unknown(const char *cmd, const char *opt, void (*usage)(FILE *));
int vd_arg_missing(const char *cmd, const char *opt, void (*usage)(FILE *));
/* Any other usage error: "vdag CMD: <message>", then the usage when given. */
int vd_arg_error(const char *cmd, void (*usage)(FILE *), const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
