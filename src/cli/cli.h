/*
 * vdag CLI subcommands. Each takes argc/argv *after* the subcommand name(s) and
 * returns the process exit status (0 ok, 1 runtime error, 2 usage error).
 */
#ifndef VDAG_CLI_H
#define VDAG_CLI_H

int vd_cmd_nn_run(int argc, char **argv);       /* vdag nn run MODEL ... */
int vd_cmd_bench_models(int argc, char **argv); /* vdag bench models ... */
int vd_cmd_bench_gemm(int argc, char **argv);   /* vdag bench gemm ... */
int vd_cmd_bench_remote(int argc, char **argv); /* vdag bench remote ... (cmd_bench_net.c) */

int vd_cmd_run(int argc, char **argv); /* vdag run ... */

/* Node roles (cmd_node.c) */
int vd_cmd_serve(int argc, char **argv);       /* vdag run without --pipeline/--dag: pseudo mode */
int vd_cmd_cloud(int argc, char **argv);       /* vdag cloud --nats URL */
int vd_cmd_edge(int argc, char **argv);        /* vdag edge --name N --nats URL --video ID=PATH */
int vd_cmd_nats_server(int argc, char **argv); /* vdag nats-server [--port N] */

/* vdag profile (cmd_profile.c) */
int vd_cmd_profile(int argc, char **argv);

/* API clients (cmd_client.c) */
int vd_cmd_submit(int argc, char **argv);
int vd_cmd_status(int argc, char **argv);
int vd_cmd_results(int argc, char **argv);
int vd_cmd_stop(int argc, char **argv);

#endif
