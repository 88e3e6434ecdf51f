/*
 * Batch mode from the command line: vdag batch submit | status | rm, vdag worker, and the
 * flags the node roles take for their /videos routes (vdag cloud, vdag run --listen).
 *
 * `vdag batch submit FILE` with no --server and no --nats runs everything in this process:
 * the in-process queue, the batch API side and one worker thread per core, the same code as
 * a cluster. With --server it uploads to a running cloud (and follows the video with --wait);
 * with --nats it queues straight into JetStream for the workers there.
 */
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "vdag/base.h"
#include "vdag/batch.h"

static volatile sig_atomic_t interrupted;
static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static int cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static double parse_secs(const char *v)
{
    char *end;
    double s = strtod(v, &end);
    if (end == v) return -1;
    if (!strcmp(end, "ms")) return s / 1000;
    if (*end && strcmp(end, "s")) return -1;
    return s;
}

/* ---- flags shared with the node roles ---------------------------------------------------- */

int vd_batch_cli_flag(vd_batch_cli *c, const char *flag, const char *val)
{
    if (!strcmp(flag, "--data"))
        c->data = val;
    else if (!strcmp(flag, "--max-upload")) {
        char *end;
        double v = strtod(val, &end);
        double k = !strcasecmp(end, "k") || !strcasecmp(end, "kb")   ? 1e3
                   : !strcasecmp(end, "m") || !strcasecmp(end, "mb") ? 1e6
                   : !strcasecmp(end, "g") || !strcasecmp(end, "gb") ? 1e9
                   : !strcasecmp(end, "kib")                         ? 1024.0
                   : !strcasecmp(end, "mib")                         ? 1048576.0
                   : !strcasecmp(end, "gib")                         ? 1073741824.0
                   : !*end                                           ? 1
                                                                     : -1;
        if (end == val || k < 0 || v <= 0) {
            fprintf(stderr, "vdag: --max-upload %s: expected bytes, e.g. 2GiB or 500MB\n", val);
            return -1;
        }
        c->max_upload = (unsigned long long)(v * k);
    } else if (!strcmp(flag, "--workers")) {
        if (vd_arg_int("batch", flag, val, 0, 256, &c->workers)) return -1;
        c->workers_set = 1;
    } else if (!strcmp(flag, "--ack-wait"))
        c->ack_wait_ms = (int)(parse_secs(val) * 1000);
    else if (!strcmp(flag, "--max-deliver")) {
        if (vd_arg_int("batch", flag, val, 1, 1000, &c->max_deliver)) return -1;
    } else if (!strcmp(flag, "--item-frames")) {
        if (vd_arg_int("batch", flag, val, 1, 1 << 20, &c->item_frames)) return -1;
    } else
        return 0;
    if (c->ack_wait_ms < 0 || c->max_deliver < 0 || c->workers < 0 || c->item_frames < 0) {
        fprintf(stderr, "vdag: %s %s: expected a positive value\n", flag, val);
        return -1;
    }
    return 1;
}

const char *vd_batch_cli_usage(void)
{
    return "  batch (/videos): --data DIR (uploads; default $VDAG_CACHE/batch) --max-upload SIZE\n"
           "                  (2GiB) --workers N (in-process workers: one per core; none with\n"
           "                  --nats) --ack-wait S (30) --max-deliver N (5) --item-frames N (25)\n";
}

int vd_batch_cli_start(vd_batch_cli *c, const vd_nats_opts *nats, int owner, vd_http_route *r,
                       int cap, int *nr, vd_error *err)
{
    char def[512], dir[760];
    if (!c->data) {
        vd_cache_dir(def, sizeof def);
        snprintf(dir, sizeof dir, "%s/batch", def);
    } else {
        snprintf(dir, sizeof dir, "%s", c->data);
    }
    if (!nats) { /* in-process: nothing outlives this process, so its files go with it */
        snprintf(c->run_dir, sizeof c->run_dir, "%.600s/run-%d", dir, (int)getpid());
        snprintf(dir, sizeof dir, "%s", c->run_dir);
    }
    char blobs[800];
    snprintf(blobs, sizeof blobs, "%s/blobs", dir);
    vd_queue_opts qo = {.ack_wait_ms = c->ack_wait_ms,
                        .max_deliver = c->max_deliver,
                        .configure = owner || c->ack_wait_ms || c->max_deliver,
                        .dir = blobs,
                        .name = "vdag-batch-api"};
    int rc = nats ? vd_queue_js_new(nats, &qo, &c->q, err) : vd_queue_inproc_new(&qo, &c->q, err);
    vd_batch_opts bo = {
        .q = c->q, .data_dir = dir, .max_upload = c->max_upload, .item_frames = c->item_frames};
    if (!rc) rc = vd_batch_new(&bo, &c->b, err);
    int workers = c->workers_set ? c->workers : nats ? 0 : cores();
    vd_worker_opts wo = {.q = c->q, .threads = workers, .preload_model = -1};
    if (!rc && workers > 0) rc = vd_worker_start(&wo, &c->w, err);
    if (rc) {
        vd_batch_cli_stop(c);
        return rc;
    }
    if (r) *nr += vd_batch_routes(c->b, r + *nr, cap - *nr);
    return 0;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(p);
    return 0;
}

void vd_batch_cli_stop(vd_batch_cli *c)
{
    vd_worker_stop(c->w);
    vd_batch_free(c->b);
    vd_queue_close(c->q);
    c->w = NULL, c->b = NULL, c->q = NULL;
    if (c->run_dir[0]) nftw(c->run_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    c->run_dir[0] = 0;
}

/* ---- client helpers ---------------------------------------------------------------------- */

typedef struct bclient {
    const char *server, *token;
    int json;
} bclient;

static void server_url(const bclient *c, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%s", strncmp(c->server, "http", 4) ? "http://" : "", c->server);
    size_t n = strlen(buf);
    if (n && buf[n - 1] == '/') buf[n - 1] = 0;
}

/* GET/DELETE path; *out the JSON reply. Prints errors; returns the exit status. */
static int api(const bclient *c, const char *method, const char *path, json_t **out,
               const char *cmd)
{
    char url[1200];
    server_url(c, url, 900);
    strncat(url, path, sizeof url - strlen(url) - 1);
    long st = 0;
    vd_buf resp = {0};
    vd_error err = {0};
    *out = NULL;
    if (vd_http_request(method, url, c->token, NULL, NULL, 0, 10000, &st, &resp, &err)) {
        fprintf(stderr, "vdag %s: %s\n", cmd, err.msg);
        return 1;
    }
    json_t *j = json_loadb((const char *)resp.data, resp.len, 0, NULL);
    if (!j || st >= 400) {
        const char *m = json_string_value(json_object_get(j, "msg"));
        fprintf(stderr, "vdag %s: %s (HTTP %ld)\n", cmd, m ? m : (const char *)resp.data, st);
        json_decref(j);
        vd_buf_free(&resp);
        return 1;
    }
    vd_buf_free(&resp);
    *out = j;
    return 0;
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    if (s) printf("%s\n", s);
    free(s);
}

/* The progress bar: frames done/total, fps, ETA (stderr, redrawn in place). */
static void progress(json_t *st, double t0)
{
    long long done = json_integer_value(json_object_get(st, "frames_processed")),
              fail = json_integer_value(json_object_get(st, "frames_failed")),
              total = json_integer_value(json_object_get(st, "frames_expected"));
    double secs = (vd_now_ms() - t0) / 1e3, fps = secs > 0 ? done / secs : 0;
    int w = 30, fill = total > 0 ? (int)(w * (double)(done + fail) / total) : 0;
    char bar[64];
    for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '-';
    bar[w] = 0;
    long long left = total - done - fail;
    fprintf(stderr, "\r[%s] %lld/%lld frames  %.1f fps  ", bar, done, total, fps);
    if (fps > 0 && left > 0)
        fprintf(stderr, "ETA %.0f s   ", left / fps);
    else
        fprintf(stderr, "            ");
    fflush(stderr);
}

static int finished(json_t *st)
{
    const char *s = json_string_value(json_object_get(st, "state"));
    return s && (!strcmp(s, "done") || !strcmp(s, "failed"));
}

static void report(json_t *st, int json)
{
    if (json)
        print_json(st);
    else
        vd_batch_print_stats(stdout, st);
}

/* ---- vdag batch submit --------------------------------------------------------------------- */

void vd_usage_batch_submit(FILE *f)
{
    fprintf(f, "usage: vdag batch submit FILE [--server URL [--wait] | --nats URL] [--json]\n"
               "       [--model nanodet|centernet] [--resolution 480p|native] [--min-score S]\n"
               "       [--iou I] [--ntracking N] [--frames N] [--item-frames N] [--workers N]\n"
               "       [--ack-wait S] [--max-deliver N] [--token T]\n"
               "  no --server/--nats: everything in this process (one worker per core, or\n"
               "  --workers N); --server: upload to a running cloud; --nats: queue into\n"
               "  JetStream for the workers there (add --workers N to work here too).\n");
}

void vd_usage_batch_status(FILE *f)
{
    fprintf(f, "usage: vdag batch status [ID] [--server URL] [--token T] [--json]\n"
               "  Lists the videos uploaded to the cloud at --server (default $VDAG_SERVER or\n"
               "  http://127.0.0.1:5000), or one video's progress and statistics.\n");
}

void vd_usage_batch_rm(FILE *f)
{
    fprintf(f, "usage: vdag batch rm ID [--server URL] [--token T] [--json]\n"
               "  Removes an uploaded video, its queue items and its results.\n");
}

void vd_usage_worker(FILE *f)
{
    fprintf(f,
            "usage: vdag worker --nats URL [--threads N] [--model nanodet|centernet] [--name N]\n"
            "                   [--nn-threads N] [--verbose] [--fail-frame N] [--crash-frame N]\n"
            "  Pulls batch items (videos uploaded to POST /videos) from JetStream until\n"
            "  SIGINT/SIGTERM; one model instance per thread. --model: the model loaded at start\n"
            "  (items bring their own). --fail-frame, --crash-frame: fault injection for tests\n"
            "  (items holding that frame fail, or kill the worker). --name: reported with its\n"
            "  share, and its identity on a secured bus (default worker):\n%s",
            vd_cli_nats_usage());
}

/* Wait for a video: in this process (b) or through the API (c); prints the bar on a TTY. */
static int wait_video(vd_batch *b, const bclient *c, const char *id, int json, int quiet,
                      json_t **final)
{
    int tty = isatty(2) && !quiet;
    double t0 = vd_now_ms(), last = 0;
    json_t *st = NULL;
    for (;;) {
        json_decref(st);
        st = NULL;
        vd_error err = {0};
        char path[128];
        snprintf(path, sizeof path, "/videos/%s", id);
        if (b ? vd_batch_get(b, id, &st, &err) : api(c, "GET", path, &st, "batch submit")) {
            if (b) fprintf(stderr, "vdag batch submit: %s\n", err.msg);
            return 1;
        }
        int fin = finished(st);
        if (tty && (fin || vd_now_ms() - last > 200)) {
            progress(st, t0);
            last = vd_now_ms();
        }
        if (fin) break;
        if (interrupted) {
            if (tty) fprintf(stderr, "\n");
            fprintf(stderr, "vdag batch submit: interrupted; video %s %s\n", id,
                    b ? "is dropped with this process" : "goes on on the server");
            json_decref(st);
            return 130;
        }
        usleep(100 * 1000);
    }
    if (tty) fprintf(stderr, "\n");
    (void)json;
    *final = st;
    return 0;
}

int vd_cmd_batch_submit(int argc, char **argv)
{
    bclient c = {getenv("VDAG_SERVER"), getenv("VDAG_TOKEN"), 0};
    const char *file = NULL, *nats = NULL;
    int wait = 0, quiet = 0;
    vd_batch_cli bc = {0};
    vd_cli_nats nc = {0};
    vd_batch_job_opts jo;
    vd_batch_job_defaults(&jo);
    int server_given = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        vd_error err = {0};
        int k;
        if (!strcmp(a, "--wait")) {
            wait = 1;
        } else if (!strcmp(a, "--json")) {
            c.json = 1;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] != '-' && !file) {
            file = a;
        } else if (strncmp(a, "--", 2)) {
            return vd_arg_error("batch submit", vd_usage_batch_submit,
                                "unexpected argument '%s' (one FILE only)", a);
        } else if (!v) {
            return vd_arg_missing("batch submit", a, vd_usage_batch_submit);
        } else if (!strcmp(a, "--server")) {
            c.server = v, server_given = 1, i++;
        } else if (!strcmp(a, "--token")) {
            c.token = v, i++;
        } else if ((k = vd_cli_nats_flag(&nc, "batch submit", a, v)) != 0) {
            if (k < 0) return 2;
            nats = nc.url, i++;
        } else if ((k = vd_batch_cli_flag(&bc, a, v)) != 0) {
            if (k < 0) return 2;
            i++;
        } else if (!strncmp(a, "--", 2)) {
            char key[64];
            snprintf(key, sizeof key, "%s", a + 2);
            for (char *p = key; *p; p++)
                if (*p == '-') *p = '_';
            if (vd_batch_job_opt(&jo, key, v, &err)) {
                if (err.code == VD_ENOTFOUND)
                    return vd_arg_unknown("batch submit", a, vd_usage_batch_submit);
                fprintf(stderr, "vdag batch submit: %s\n", err.msg);
                return 2;
            }
            i++;
        } else {
            return vd_arg_unknown("batch submit", a, vd_usage_batch_submit);
        }
    }
    if (!file) return vd_arg_error("batch submit", vd_usage_batch_submit, "no video FILE given");
    if (server_given && nats)
        return vd_arg_error("batch submit", vd_usage_batch_submit,
                            "--server and --nats exclude each other (upload, or queue)");
    if (access(file, R_OK)) {
        fprintf(stderr, "vdag batch submit: %s: cannot read it\n", file);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    if (!server_given && !c.server) c.server = NULL;
    if (server_given) { /* upload to a running cloud */
        char url[1000];
        server_url(&c, url, sizeof url);
        long http = 0;
        json_t *reply = NULL;
        vd_error err = {0};
        if (vd_batch_upload(url, c.token, file, &jo, &http, &reply, &err)) {
            fprintf(stderr, "vdag batch submit: %s\n", err.msg);
            return 1;
        }
        if (http >= 400) {
            const char *m = json_string_value(json_object_get(reply, "msg"));
            fprintf(stderr, "vdag batch submit: %s (HTTP %ld)\n", m ? m : "upload refused", http);
            json_decref(reply);
            return 1;
        }
        const char *id = json_string_value(json_object_get(reply, "video_id"));
        if (!wait || !id) {
            if (c.json)
                print_json(reply);
            else
                printf("video %s queued: %lld frames (follow it with: vdag batch status %s)\n",
                       id ? id : "?",
                       (long long)json_integer_value(json_object_get(reply, "frames")),
                       id ? id : "?");
            json_decref(reply);
            return 0;
        }
        char vid[64];
        snprintf(vid, sizeof vid, "%s", id);
        json_decref(reply);
        json_t *st = NULL;
        int rc = wait_video(NULL, &c, vid, c.json, quiet, &st);
        if (!rc) report(st, c.json);
        json_decref(st);
        return rc;
    }
    /* in this process (or straight into JetStream) */
    vd_error err = {0};
    /* straight into JetStream, this command acts as the API server: the cloud's identity */
    int rc0 = nats ? vd_cli_nats_resolve(&nc, "cloud", &err) : 0;
    if (!rc0) rc0 = vd_batch_cli_start(&bc, nats ? &nc.o : NULL, !nats, NULL, 0, NULL, &err);
    vd_cli_nats_clear(&nc);
    if (rc0) {
        fprintf(stderr, "vdag batch submit: %s\n", err.msg);
        return 1;
    }
    json_t *reply = NULL, *st = NULL;
    int rc = 1;
    if (vd_batch_submit(bc.b, file, &jo, &reply, &err)) {
        fprintf(stderr, "vdag batch submit: %s\n", err.msg);
    } else {
        char vid[64];
        snprintf(vid, sizeof vid, "%s", json_string_value(json_object_get(reply, "video_id")));
        if (!quiet && !c.json)
            fprintf(stderr, "video %s: %lld frames in %lld items, %s\n", vid,
                    (long long)json_integer_value(json_object_get(reply, "frames")),
                    (long long)json_integer_value(json_object_get(reply, "items")),
                    nats ? "queued on JetStream" : "in-process workers");
        rc = wait_video(bc.b, NULL, vid, c.json, quiet, &st);
        if (!rc) report(st, c.json);
    }
    json_decref(reply);
    json_decref(st);
    vd_batch_cli_stop(&bc);
    return rc;
}

/* ---- vdag batch status / rm ---------------------------------------------------------------- */

static int client_args(int argc, char **argv, bclient *c, const char **id, const char *cmd,
                       void (*usage)(FILE *))
{
    c->server = getenv("VDAG_SERVER") ? getenv("VDAG_SERVER") : "http://127.0.0.1:5000";
    c->token = getenv("VDAG_TOKEN");
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            c->json = 1;
        else if (!strcmp(argv[i], "--server") && i + 1 < argc)
            c->server = argv[++i];
        else if (!strcmp(argv[i], "--token") && i + 1 < argc)
            c->token = argv[++i];
        else if (argv[i][0] != '-' && !*id)
            *id = argv[i];
        else if (argv[i][0] != '-')
            return vd_arg_error(cmd, usage, "unexpected argument '%s' (one ID only)", argv[i]);
        else if ((!strcmp(argv[i], "--server") || !strcmp(argv[i], "--token")) && i + 1 >= argc)
            return vd_arg_missing(cmd, argv[i], usage);
        else
            return vd_arg_unknown(cmd, argv[i], usage);
    }
    return 0;
}

int vd_cmd_batch_status(int argc, char **argv)
{
    bclient c = {0};
    const char *id = NULL;
    int rc = client_args(argc, argv, &c, &id, "batch status", vd_usage_batch_status);
    if (rc) return rc;
    char path[128];
    snprintf(path, sizeof path, id ? "/videos/%s" : "/videos", id);
    json_t *j;
    if ((rc = api(&c, "GET", path, &j, "batch status"))) return rc;
    if (c.json)
        print_json(j);
    else if (id)
        vd_batch_print_stats(stdout, j);
    else
        vd_batch_print_list(stdout, j);
    json_decref(j);
    return 0;
}

int vd_cmd_batch_rm(int argc, char **argv)
{
    bclient c = {0};
    const char *id = NULL;
    int rc = client_args(argc, argv, &c, &id, "batch rm", vd_usage_batch_rm);
    if (rc) return rc;
    if (!id) return vd_arg_error("batch rm", vd_usage_batch_rm, "no video ID given");
    char path[128];
    snprintf(path, sizeof path, "/videos/%s", id);
    json_t *j;
    if ((rc = api(&c, "DELETE", path, &j, "batch rm"))) return rc;
    if (c.json)
        print_json(j);
    else
        printf("video %s removed\n", id);
    json_decref(j);
    return 0;
}

/* ---- vdag worker ------------------------------------------------------------------------- */

int vd_cmd_worker(int argc, char **argv)
{
    const char *nats = NULL, *name = NULL;
    vd_cli_nats nc = {0};
    vd_worker_opts wo = {.threads = 1, .preload_model = 1};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--verbose")) {
            wo.verbose = 1;
            continue;
        }
        static const char *const takes[] = {"--nats",
                                            "--threads",
                                            "--nn-threads",
                                            "--name",
                                            "--fail-frame",
                                            "--crash-frame",
                                            "--model",
                                            "--nats-creds",
                                            "--nats-nkey",
                                            "--nats-user-file",
                                            "--nats-tls-ca",
                                            "--nats-tls-cert",
                                            "--nats-tls-key",
                                            "--nats-dir",
                                            "--nats-user",
                                            "--nats-password",
                                            NULL};
        int k = 0;
        long n;
        while (takes[k] && strcmp(takes[k], a)) k++;
        if (!takes[k]) return vd_arg_unknown("worker", a, vd_usage_worker);
        if (!v) return vd_arg_missing("worker", a, vd_usage_worker);
        if ((k = vd_cli_nats_flag(&nc, "worker", a, v)) != 0) {
            if (k < 0) return 2;
            nats = nc.url;
        } else if (!strcmp(a, "--threads")) {
            if (vd_arg_int("worker", a, v, 1, 256, &wo.threads)) return 2;
        } else if (!strcmp(a, "--nn-threads")) {
            if (vd_arg_int("worker", a, v, 1, 256, &wo.nn_threads)) return 2;
        } else if (!strcmp(a, "--name"))
            name = v;
        else if (!strcmp(a, "--fail-frame")) {
            if (vd_arg_long("worker", a, v, 0, LONG_MAX, &n)) return 2;
            wo.fail_frame = n, wo.fail_on = 1;
        } else if (!strcmp(a, "--crash-frame")) {
            if (vd_arg_long("worker", a, v, 0, LONG_MAX, &n)) return 2;
            wo.crash_frame = n, wo.crash_on = 1;
        } else if (!strcmp(a, "--model")) {
            vd_batch_job_opts jo;
            vd_error err = {0};
            if (vd_batch_job_opt(&jo, "model", v, &err)) {
                fprintf(stderr, "vdag worker: --%s\n", err.msg + 7);
                return 2;
            }
            wo.preload_model = jo.model_id;
        }
        i++;
    }
    if (!nats)
        return vd_arg_error("worker", vd_usage_worker,
                            "--nats URL is needed (the JetStream the items are queued on)");
    sigset_t set;
    vd_cli_block_stop_signals(&set);
    vd_error err = {0};
    vd_queue *q = NULL;
    vd_worker *w = NULL;
    vd_queue_opts qo = {0};
    wo.name = name;
    /* its identity on a secured bus: --name (a "worker" identity, docs/security.md) */
    int rc0 = vd_cli_nats_resolve(&nc, name ? name : "worker", &err);
    if (!rc0) rc0 = vd_queue_js_new(&nc.o, &qo, &q, &err);
    vd_cli_nats_clear(&nc);
    if (rc0 || ((wo.q = q), vd_worker_start(&wo, &w, &err))) {
        fprintf(stderr, "vdag worker: %s\n", err.msg);
        vd_queue_close(q);
        return 1;
    }
    json_t *sh = vd_worker_share(w);
    char red[512];
    vd_nats_url_redact(nats, red, sizeof red);
    fprintf(stderr, "vdag worker %s: %d thread(s) on %s (ack wait %d ms, %d attempts per item)\n",
            json_string_value(json_object_get(sh, "name")), wo.threads, red, q->ops->ack_wait_ms(q),
            q->ops->max_deliver(q));
    json_decref(sh);
    int sig = 0;
    sigwait(&set, &sig);
    sh = vd_worker_share(w);
    vd_worker_stop(w);
    fprintf(stderr,
            "vdag worker %s: stopping; its share: %lld items, %lld frames, %lld failed, "
            "%lld dead-lettered, model %.1f s\n",
            json_string_value(json_object_get(sh, "name")),
            (long long)json_integer_value(json_object_get(sh, "items")),
            (long long)json_integer_value(json_object_get(sh, "frames")),
            (long long)json_integer_value(json_object_get(sh, "failed")),
            (long long)json_integer_value(json_object_get(sh, "dead_lettered")),
            json_number_value(json_object_get(sh, "model_ms")) / 1e3);
    json_decref(sh);
    vd_queue_close(q);
    return 0;
}
