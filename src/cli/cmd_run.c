/*
 * vdag run: one video through a DAG on this machine. Three threads overlap: the
 * source decodes ahead (src/media), this thread runs inference, a writer thread
 * renders frames and writes results, so decode/render/bookkeeping hide behind
 * inference.
 */
#include <libavutil/log.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "vdag/base.h"
#include "vdag/cascade.h"
#include "vdag/dag.h"
#include "vdag/media.h"

typedef struct item {
    vd_frame *f;
    json_t *res;
} item;

typedef struct writer {
    pthread_t thr;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    item q[8];
    int head, count, done;
    FILE *results;
    vd_mjpeg_writer *mj;
    int failed;
    char err[512];
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (w->count == 0 && !w->done) pthread_cond_wait(&w->cv, &w->mu);
        if (w->count == 0) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        item it = w->q[w->head];
        w->head = (w->head + 1) % 8;
        w->count--;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        if (w->results && !w->failed) {
            char *s = json_dumps(it.res, JSON_COMPACT | JSON_REAL_PRECISION(7));
            if (!s || fprintf(w->results, "%s\n", s) < 0)
                w->failed = 1, snprintf(w->err, sizeof w->err, "cannot write results");
            free(s);
        }
        if (w->mj && !w->failed) {
            vd_error e;
            vd_render_result(it.f, it.res);
            if (vd_mjpeg_write(w->mj, it.f, &e))
                w->failed = 1, snprintf(w->err, sizeof w->err, "%s", e.msg);
        }
        vd_frame_free(it.f);
        json_decref(it.res);
    }
    return NULL;
}

static void writer_push(writer *w, vd_frame *f, json_t *res)
{
    pthread_mutex_lock(&w->mu);
    while (w->count == 8) pthread_cond_wait(&w->cv, &w->mu);
    w->q[(w->head + w->count) % 8] = (item){f, res};
    w->count++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Let the writer drain its queue, then join it. */
static void writer_stop(writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thr, NULL);
}

void vd_usage_run(FILE *f)
{
    fprintf(
        f, "usage: vdag run --video PATH|URL (--pipeline a,b | --dag FILE) [--resolution 480p]\n"
           "                [--fps N] [--nskip N] [--ntracking N] [--model STAGE=ID] [--frames N]\n"
           "                [--loop] [--results out.jsonl] [--render out.mjpeg|DIR] [--threads N]\n"
           "                [--quiet] [--exit STAGE=LO..HI] [--nats URL] [--cascade-fallback]\n"
           "                [--cascade-timeout MS]\n"
           "  --threads: inference threads (default: cores - 1, leaving one to decoding)\n"
           "  --exit: a cascade model's uncertain band for its first unit (default: the model's)\n"
           "  --nats: a cascade's later units are `vdag cascade serve` workers there (default:\n"
           "          in this process); --cascade-fallback: a unit down gives the deepest answer;\n"
           "          --cascade-timeout: of a request to the later units (default 5000)\n"
           "  services (--model STAGE=ID):\n");
    for (const vd_service *const *sv = vd_service_all(); *sv; sv++) {
        fprintf(f, "    %-18s", (*sv)->name);
        for (int m = 0; m < (*sv)->n_models; m++)
            fprintf(f, "%s %d %s", m ? "," : "", m, (*sv)->model_names[m]);
        fputc('\n', f);
    }
    fprintf(f,
            "\nWithout --pipeline/--dag (or with --listen, or the seed's --side/--mode), vdag run\n"
            "serves every role in one process:\n\n");
    vd_usage_cloud_edge(f, "run");
}

typedef struct stage_stats {
    double *ms;
    int n, cap;
    long unit[VD_CASCADE_MAX_UNITS]; /* a cascade stage: frames each unit answered */
    long fallbacks;
    int cascade;
} stage_stats;

/* A cascade stage's answer: which unit (its output's "cascade" object). */
static void count_unit(stage_stats *st, json_t *out)
{
    json_t *a = json_object_get(out, "cascade");
    if (!a) return;
    json_int_t u = json_integer_value(json_object_get(a, "unit"));
    st->cascade = 1;
    if (u >= 0 && u < VD_CASCADE_MAX_UNITS) st->unit[u]++;
    st->fallbacks += json_is_true(json_object_get(a, "fallback"));
}

static void usage_f(FILE *f)
{
    vd_usage_run(f);
}

int vd_cmd_run(int argc, char **argv)
{
    int rc;
    /* without a pipeline or DAG (or with the seed's --side/--mode), `run` serves every role
     * in one process */
    int one_shot = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--pipeline") || !strcmp(argv[i], "--dag")) one_shot = 1;
        if (!strcmp(argv[i], "--side") || !strncmp(argv[i], "--side=", 7) ||
            !strcmp(argv[i], "--mode") || !strncmp(argv[i], "--mode=", 7) ||
            !strcmp(argv[i], "--listen")) {
            one_shot = 0;
            break;
        }
    }
    if (!one_shot && argc > 0 && strcmp(argv[0], "-h") && strcmp(argv[0], "--help"))
        return vd_cmd_serve(argc, argv);
    const char *video = NULL, *pipeline = NULL, *dagfile = NULL, *results = NULL, *renderp = NULL;
    vd_source_opts so = {0};
    int ntracking = 0, threads = 0, quiet = 0;
    long max_frames = -1;
    char *models[16], *exits[16];
    int n_models = 0, n_exits = 0, fallback = 0, eo_timeout = 0;
    vd_cli_nats nc = {0};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--loop"))
            so.loop = 1;
        else if (!strcmp(a, "--cascade-fallback"))
            fallback = 1;
        else if (!strcmp(a, "--quiet"))
            quiet = 1;
        else if (strncmp(a, "--", 2))
            return vd_arg_error("run", usage_f, "unexpected argument '%s'", a);
        else if (!v)
            return vd_arg_missing("run", a, usage_f);
        else if (!strcmp(a, "--video"))
            video = v, i++;
        else if (!strcmp(a, "--pipeline"))
            pipeline = v, i++;
        else if (!strcmp(a, "--dag"))
            dagfile = v, i++;
        else if (!strcmp(a, "--results"))
            results = v, i++;
        else if (!strcmp(a, "--render"))
            renderp = v, i++;
        else if (!strcmp(a, "--fps")) {
            if ((rc = vd_arg_double("run", a, v, 0, 1000, &so.conf.fps))) return rc;
            i++;
        } else if (!strcmp(a, "--nskip")) {
            if ((rc = vd_arg_int("run", a, v, 0, 1000, &so.conf.nskip))) return rc;
            i++;
        } else if (!strcmp(a, "--ntracking")) {
            if ((rc = vd_arg_int("run", a, v, 0, 1000, &ntracking))) return rc;
            i++;
        } else if (!strcmp(a, "--frames")) {
            if ((rc = vd_arg_long("run", a, v, 1, 2147483647L, &max_frames))) return rc;
            i++;
        } else if (!strcmp(a, "--threads")) {
            if ((rc = vd_arg_int("run", a, v, 1, 256, &threads))) return rc;
            i++;
        } else if (!strcmp(a, "--cascade-timeout")) {
            if ((rc = vd_arg_int("run", a, v, 1, 600000, &eo_timeout))) return rc;
            i++;
        } else if (!strcmp(a, "--nats")) {
            nc.url = argv[++i];
        } else if (!strcmp(a, "--exit")) {
            if (n_exits == 16) return vd_arg_error("run", NULL, "--exit: at most 16");
            exits[n_exits++] = argv[++i];
        } else if (!strcmp(a, "--model")) {
            if (n_models == 16) return vd_arg_error("run", NULL, "--model: at most 16");
            models[n_models++] = argv[++i];
        } else if (!strcmp(a, "--resolution")) {
            so.conf.resolution_h = vd_resolution_parse(v);
            i++;
            if (so.conf.resolution_h < 0) {
                fprintf(stderr,
                        "vdag run: --resolution %s: expected 360p, 480p, 720p, 1080p or native\n",
                        v);
                return 2;
            }
        } else
            return vd_arg_unknown("run", a, usage_f);
    }
    if (!video) return vd_arg_error("run", usage_f, "--video PATH|URL is required");
    if (!pipeline == !dagfile)
        return vd_arg_error("run", usage_f, "give either --pipeline a,b or --dag FILE");
    if (threads <= 0) {
        /* leave a core to the decoder and writer: on 2 cores, 2 inference threads were
         * faster for centernet but up to a third slower for the face pipeline, whose
         * frames the decoder must keep up with (bench/RESULTS.md, issue 14) */
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        threads = nc > 1 ? (int)nc - 1 : 1;
    }
    av_log_set_level(AV_LOG_FATAL);
    vd_error err = {0};
    vd_dag *dag = NULL;
    if (pipeline) {
        if (vd_dag_from_pipeline(pipeline, &dag, &err)) {
            fprintf(stderr, "vdag run: --pipeline: %s\n", err.msg);
            return 2;
        }
    } else {
        char *text;
        if (vd_read_file(dagfile, 0, &text, NULL, &err) ||
            vd_dag_parse(text, dagfile, &dag, &err)) {
            fprintf(stderr, "vdag run: %s\n", err.msg);
            if (err.code != VD_EIO) free(text);
            return 2;
        }
        free(text);
    }
    vd_exec_opts eo = {.threads = threads, .ntracking = ntracking};
    for (int k = 0; k < n_models; k++) {
        char *eq = strchr(models[k], '=');
        int found = -1;
        for (int s = 0; eq && s < dag->n_stages; s++)
            if (!strncmp(dag->stages[s].name, models[k], (size_t)(eq - models[k])) &&
                strlen(dag->stages[s].name) == (size_t)(eq - models[k]))
                found = s;
        if (found < 0 || found >= 16) {
            fprintf(stderr, "vdag run: --model %s: expected STAGE=ID with a stage of the DAG\n",
                    models[k]);
            vd_dag_free(dag);
            return 2;
        }
        const vd_service *svc = dag->stages[found].svc;
        if (vd_arg_int("run", "--model", eq + 1, 0, svc->n_models - 1, &eo.model_id[found])) {
            vd_dag_free(dag);
            return 2;
        }
    }
    vd_transport *tr = NULL;
    if (nc.url && vd_cli_nats_connect("vdag run", &nc, "run", &tr)) {
        vd_dag_free(dag);
        return 1;
    }
    eo.transport = tr;
    eo.cascade_fallback = fallback;
    eo.cascade_timeout_ms = eo_timeout;
    vd_exec *ex = NULL;
    vd_source *src = NULL;
    writer w = {0};
    int status = 0, wstarted = 0;
    stage_stats *st = calloc((size_t)dag->n_stages, sizeof *st);
    json_t *count_sum = json_object();
    if (vd_exec_new(dag, &eo, &ex, &err) || vd_source_open(video, &so, &src, &err)) {
        fprintf(stderr, "vdag run: %s\n", err.msg);
        status = 1;
        goto out;
    }
    for (int k = 0; k < n_exits; k++) { /* STAGE=LO..HI */
        char *eq = strchr(exits[k], '='), *end = NULL;
        int found = -1;
        for (int s = 0; eq && s < dag->n_stages; s++)
            if (strlen(dag->stages[s].name) == (size_t)(eq - exits[k]) &&
                !strncmp(dag->stages[s].name, exits[k], (size_t)(eq - exits[k])))
                found = s;
        double lo = eq ? strtod(eq + 1, &end) : -1, hi = -1;
        if (end && !strncmp(end, "..", 2)) hi = strtod(end + 2, &end);
        if (found < 0 || !end || *end || !(lo >= 0 && lo <= hi && hi <= 1) ||
            vd_exec_set_exit(ex, found, (float)lo, (float)hi, &err)) {
            fprintf(stderr, "vdag run: --exit %s: expected STAGE=LO..HI (0 <= LO <= HI <= 1)%s%s\n",
                    exits[k], err.msg[0] ? ": " : "", err.msg);
            status = 2;
            goto out;
        }
    }
    if (results && !(w.results = fopen(results, "w"))) {
        fprintf(stderr, "vdag run: --results %s: cannot write\n", results);
        status = 1;
        goto out;
    }
    if (renderp && vd_mjpeg_open(renderp, 80, &w.mj, &err)) {
        fprintf(stderr, "vdag run: --render: %s\n", err.msg);
        status = 1;
        goto out;
    }
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    if (pthread_create(&w.thr, NULL, writer_main, &w) == 0) wstarted = 1;
    int tty = isatty(2) && !quiet;
    long processed = 0;
    int64_t last_id = -1;
    double t0 = vd_now_ms(), last_print = 0;
    int clip = dag->generator == VD_GEN_CLIP ? dag->clip_len : 1;
    vd_frame *frames[64];
    while (max_frames < 0 || processed < max_frames) {
        int got = 0, rc = 0;
        while (got < clip && (rc = vd_source_read(src, &frames[got],
                                                  vd_source_is_live(src) ? 30000 : -1, &err)) == 0)
            got++;
        if (got == 0) {
            if (rc != VD_EEOF) {
                fprintf(stderr, "%svdag run: %s\n", tty ? "\n" : "", err.msg);
                status = 1;
            }
            break;
        }
        json_t *res;
        rc = vd_exec_step(ex, frames, got, &res, &err);
        if (rc) {
            fprintf(stderr, "%svdag run: %s\n", tty ? "\n" : "", err.msg);
            for (int k = 0; k < got; k++) vd_frame_free(frames[k]);
            status = 1;
            break;
        }
        processed += got;
        last_id = frames[got - 1]->cam_frame_id;
        for (int s = 0; s < dag->n_stages; s++) {
            double d = json_number_value(
                           json_object_get(json_object_get(res, "delay"), dag->stages[s].name)) *
                       1e3;
            if (st[s].n == st[s].cap) {
                st[s].cap = st[s].cap ? st[s].cap * 2 : 256;
                st[s].ms = realloc(st[s].ms, sizeof(double) * (size_t)st[s].cap);
            }
            st[s].ms[st[s].n++] = d;
            count_unit(&st[s],
                       json_object_get(json_object_get(res, "stages"), dag->stages[s].name));
        }
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(res, "count_result"), k, v)
            json_object_set_new(count_sum, k,
                                json_real(json_number_value(json_object_get(count_sum, k)) +
                                          json_number_value(v) * got));
        for (int q = 0; q + 1 < got; q++) vd_frame_free(frames[q]);
        if (wstarted && (w.results || w.mj))
            writer_push(&w, frames[got - 1], res);
        else
            vd_frame_free(frames[got - 1]), json_decref(res);
        double now = vd_now_ms();
        if (tty && now - last_print > 250) {
            last_print = now;
            fprintf(stderr, "\r%ld frames  %.1f fps", processed, processed / ((now - t0) / 1e3));
            for (int s = 0; s < dag->n_stages; s++)
                fprintf(stderr, "  %s %.1f ms", dag->stages[s].name,
                        st[s].n ? st[s].ms[st[s].n - 1] : 0);
            fprintf(stderr, "   ");
        }
    }
    double secs = (vd_now_ms() - t0) / 1e3;
    if (wstarted) {
        writer_stop(&w);
        wstarted = 0;
        if (w.failed) {
            fprintf(stderr, "vdag run: %s\n", w.err);
            status = 1;
        }
    }
    if (tty) fprintf(stderr, "\n");
    json_t *stages = json_object(), *counts = json_object();
    for (int s = 0; s < dag->n_stages; s++) {
        json_t *so_ =
            json_pack("{s:f,s:f}", "median_ms",
                      round(vd_percentile(st[s].ms, (size_t)st[s].n, 50) * 1000) / 1000, "p90_ms",
                      round(vd_percentile(st[s].ms, (size_t)st[s].n, 90) * 1000) / 1000);
        if (st[s].cascade) { /* frames each unit answered */
            json_t *u = json_array();
            int hi = VD_CASCADE_MAX_UNITS;
            while (hi > 1 && !st[s].unit[hi - 1]) hi--;
            for (int k = 0; k < hi; k++) json_array_append_new(u, json_integer(st[s].unit[k]));
            json_object_set_new(so_, "answered_by_unit", u);
            json_object_set_new(so_, "fallbacks", json_integer(st[s].fallbacks));
        }
        json_object_set_new(stages, dag->stages[s].name, so_);
    }
    const char *k;
    json_t *v;
    json_object_foreach(count_sum, k, v) json_object_set_new(
        counts, k,
        json_real(processed ? round(json_number_value(v) / (double)processed * 1000) / 1000 : 0));
    json_t *summary = json_pack("{s:I,s:I,s:f,s:o,s:o}", "frames", (json_int_t)(last_id + 1),
                                "processed", (json_int_t)processed, "fps",
                                secs > 0 ? round(processed / secs * 100) / 100 : 0.0, "stages",
                                stages, "counts", counts);
    char *s = json_dumps(summary, JSON_COMPACT | JSON_REAL_PRECISION(7));
    printf("%s\n", s);
    free(s);
    json_decref(summary);
out:
    if (wstarted) writer_stop(&w);
    if (w.results && fclose(w.results) != 0) status = 1;
    vd_mjpeg_close(w.mj);
    vd_source_close(src);
    vd_exec_free(ex);
    vd_transport_close(tr);
    for (int q = 0; q < dag->n_stages; q++) free(st[q].ms);
    free(st);
    json_decref(count_sum);
    vd_dag_free(dag);
    return status;
}
