/*
 * vdag CLI subcommands. Each takes argc/argv *after* the subcommand name(s) and
 * returns the process exit status (0 ok, 1 runtime error, 2 usage error).
 */
#ifndef VDAG_CLI_H
#define VDAG_CLI_H

#include <signal.h>
#include <stdio.h>

int vd_cmd_nn_run(int argc, char **argv);        /* vdag nn run MODEL ... */
int vd_cmd_slice_serve(int argc, char **argv);   /* vdag slice serve (cmd_slice_net.c) */
int vd_cmd_slice_call(int argc, char **argv);    /* vdag slice call (cmd_slice_net.c) */
int vd_cmd_slice(int argc, char **argv);         /* vdag slice MODEL ... (cmd_slice.c) */
int vd_cmd_cascade_serve(int argc, char **argv); /* vdag cascade serve (cmd_cascade.c) */
int vd_cmd_cascade_bench(int argc, char **argv); /* vdag cascade bench (cmd_cascade.c) */
int vd_cmd_bench_models(int argc, char **argv);  /* vdag bench models ... */
int vd_cmd_bench_gemm(int argc, char **argv);    /* vdag bench gemm ... */
int vd_cmd_bench_remote(int argc, char **argv);  /* vdag bench remote ... (cmd_bench_net.c) */

int vd_cmd_run(int argc, char **argv); /* vdag run ... */

/* Node roles (cmd_node.c) */
int vd_cmd_serve(int argc, char **argv);       /* vdag run without --pipeline/--dag: pseudo mode */
int vd_cmd_cloud(int argc, char **argv);       /* vdag cloud --nats URL */
int vd_cmd_edge(int argc, char **argv);        /* vdag edge --name N --nats URL --video ID=PATH */
int vd_cmd_nats_server(int argc, char **argv); /* vdag nats-server [--port N] */

/* The NATS identity flags of the cluster commands (cli_nats.c): zero-initialise, take flags,
 * resolve to o for a node name, clear (wipes the password) when the connection is made. */
#include "vdag/net.h"
typedef struct vd_cli_nats {
    const char *url, *creds, *nkey, *user_file, *tls_ca, *tls_cert, *tls_key, *dir;
    char user[256], password[256], files[4][600];
    vd_nats_opts o; /* after vd_cli_nats_resolve */
} vd_cli_nats;
/* 1 taken (--nats and the identity flags), 0 not one, -1 refused (message printed). */
int vd_cli_nats_flag(vd_cli_nats *c, const char *prog, const char *flag, const char *val);
const char *vd_cli_nats_usage(void);
int vd_cli_nats_resolve(vd_cli_nats *c, const char *name, vd_error *err);
void vd_cli_nats_clear(vd_cli_nats *c);
/* argv[*i] as a NATS flag (vd_cli_nats_flag) taking argv[*i + 1]: 1 taken (*i moved past its
 * value), 0 not one, <0 a refused one (message printed). */
int vd_cli_nats_arg(vd_cli_nats *nc, const char *prog, int argc, char **argv, int *i);
/* Block SIGINT and SIGTERM in this thread and those it starts (then sigwait(set)); ignore
 * SIGPIPE. For the commands that serve until stopped. */
void vd_cli_block_stop_signals(sigset_t *set);
/* Resolve and open the transport as `name`; 0, or 1 with the message printed (prog: …). */
int vd_cli_nats_connect(const char *prog, vd_cli_nats *nc, const char *name, vd_transport **t);

/* Batch mode (cmd_batch.c) */
int vd_cmd_batch_submit(int argc, char **argv); /* vdag batch submit FILE */
int vd_cmd_batch_status(int argc, char **argv); /* vdag batch status [ID] */
int vd_cmd_batch_rm(int argc, char **argv);     /* vdag batch rm ID */
int vd_cmd_worker(int argc, char **argv);       /* vdag worker --nats URL */

/* The /videos routes of a node role: its flags, then start (after the role's own parts) and
 * stop (after the HTTP server). Zero-initialise; every field but the flags is internal. */
typedef struct vd_batch_cli {
    const char *data;              /* --data DIR */
    unsigned long long max_upload; /* --max-upload BYTES */
    int workers, workers_set;      /* --workers N */
    int ack_wait_ms, max_deliver;  /* --ack-wait S, --max-deliver N */
    int item_frames;               /* --item-frames N */
    struct vd_queue *q;
    struct vd_batch *b;
    struct vd_worker *w;
    char run_dir[700]; /* in-process: removed at stop */
} vd_batch_cli;
/* 1 if flag (with its value) is a batch flag and was taken, 0 if not one, -1 bad value. */
int vd_batch_cli_flag(vd_batch_cli *c, const char *flag, const char *val);
const char *vd_batch_cli_usage(void);
struct vd_http_route;
struct vd_error;
/* In-process queue (and one worker per core) without nats, else JetStream at nats; adds the
 * routes to r[*nr..cap) when r is given. The owner (the API server) sets the consumer's
 * ack wait and max deliveries; others only when given --ack-wait/--max-deliver. */
int vd_batch_cli_start(vd_batch_cli *c, const vd_nats_opts *nats, int owner,
                       struct vd_http_route *r, int cap, int *nr, struct vd_error *err);
void vd_batch_cli_stop(vd_batch_cli *c);
/* vdag profile (cmd_profile.c) */
int vd_cmd_profile(int argc, char **argv);

/* The scheduler evaluation's offline parts (cmd_eval.c, cmd_eval_plot.c; bench/eval_sched.sh) */
int vd_cmd_eval_score(int argc, char **argv);  /* vdag eval score: results vs golden */
int vd_cmd_eval_oracle(int argc, char **argv); /* vdag eval oracle: the best kb plan for a link */
int vd_cmd_eval_plot(int argc, char **argv);   /* vdag eval plot: a run's PNG */

/* API clients (cmd_client.c) */
int vd_cmd_submit(int argc, char **argv);
int vd_cmd_status(int argc, char **argv);
int vd_cmd_results(int argc, char **argv);
int vd_cmd_stop(int argc, char **argv);
int vd_cmd_video_add(int argc, char **argv);
int vd_cmd_video_rm(int argc, char **argv);

/* Usages (main.c prints one for COMMAND --help, on stdout, and exits 0). */
void vd_usage_run(FILE *f);
void vd_usage_slice(FILE *f);
void vd_usage_slice_serve(FILE *f);
void vd_usage_slice_call(FILE *f);
void vd_usage_cascade_serve(FILE *f);
void vd_usage_cascade_bench(FILE *f);
void vd_usage_cloud(FILE *f);
void vd_usage_cloud_edge(FILE *f, const char *role); /* role: "run", "cloud" or "edge" */
void vd_usage_edge(FILE *f);
void vd_usage_submit(FILE *f);
void vd_usage_status(FILE *f);
void vd_usage_results(FILE *f);
void vd_usage_stop(FILE *f);
void vd_usage_video_add(FILE *f);
void vd_usage_video_rm(FILE *f);
void vd_usage_profile(FILE *f);
void vd_usage_nats_server(FILE *f);
void vd_usage_worker(FILE *f);
void vd_usage_batch_submit(FILE *f);
void vd_usage_batch_status(FILE *f);
void vd_usage_batch_rm(FILE *f);
void vd_usage_nn_run(FILE *f);
void vd_usage_bench_models(FILE *f);
void vd_usage_bench_gemm(FILE *f);
void vd_usage_bench_remote(FILE *f);
void vd_usage_eval_score(FILE *f);
void vd_usage_eval_oracle(FILE *f);
void vd_usage_eval_plot(FILE *f);

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
