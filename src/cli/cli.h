/*
 * vdag CLI subcommands. Each takes argc/argv *after* the subcommand name(s) and
 * returns the process exit status (0 ok, 1 runtime error, 2 usage error).
 */
#ifndef VDAG_CLI_H
#define VDAG_CLI_H

int vd_cmd_nn_run(int argc, char **argv);       /* vdag nn run MODEL ... */
int vd_cmd_bench_models(int argc, char **argv); /* vdag bench models ... */
int vd_cmd_bench_gemm(int argc, char **argv);   /* vdag bench gemm ... */

int vd_cmd_run(int argc, char **argv); /* vdag run ... */

#endif
