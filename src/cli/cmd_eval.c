/*
 * vdag eval score | vdag eval oracle: the offline parts of the scheduler evaluation harness
 * (bench/eval_sched.sh, docs/sched.md).
 *
 *   score:  a results file (one JSON object per processed step with "cam_frame_id" and
 *           "stages": what `vdag run --results` writes and what the harness collects from the
 *           cloud) against the golden configuration's results on the same footage, with the
 *           knowledge base's metric (vd_score_field on the service's primary field: F1 at
 *           IoU >= 0.5 for boxes). A step's output stands for every frame until the next step
 *           (a skipped or dropped frame shows the last result, as the edge shows it), up to
 *           --max-gap frames; frames without a golden output are not scored.
 *   oracle: the most accurate plan of a knowledge base meeting a delay bound for a given
 *           edge -> cloud link (the kb scheduler's cold start: a search of the whole plan
 *           space with pruning, checked against brute force by tests/test_kbsearch.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "vdag/base.h"
#include "vdag/dag.h"
#include "vdag/sched.h"
#include "vdag/svc.h"

#define MAX_CLIP (1 << 20)

void vd_usage_eval_score(FILE *f)
{
    fprintf(f, "usage: vdag eval score --golden GOLDEN.jsonl --results RESULTS.jsonl\n"
               "                       [--stage NAME] [--service NAME] [--clip-frames N]\n"
               "                       [--max-gap N] [--out PER_STEP.jsonl]\n"
               "Scores each step of RESULTS against the golden output of the same frames\n"
               "(cam_frame_id modulo --clip-frames, for a looped clip; default: the golden's\n"
               "last frame + 1) with the knowledge base's metric for the stage's service (its\n"
               "primary field: F1 at IoU >= 0.5 for boxes). A step's output stands for the\n"
               "frames up to the next step's (at most --max-gap, default 30). --stage: the\n"
               "stage to score (default: the first in the results); --service: its service\n"
               "(default: the stage's name). Prints {\"steps\",\"frames\",\"score\",\"metric\",\n"
               "\"stage\"} (score: the mean over the frames scored); --out writes\n"
               "{\"i\",\"cam_frame_id\",\"score\",\"frames\"} per step (i: its line, from 0).\n");
}

void vd_usage_eval_oracle(FILE *f)
{
    fprintf(f, "usage: vdag eval oracle --kb FILE (--pipeline a,b | --dag FILE) --delay S\n"
               "                        --bandwidth MBIT [--rtt MS] [--edge NAME] [--cloud NAME]\n"
               "                        [--edge-speed X] [--cloud-speed X] [--edge-cores N]\n"
               "                        [--cloud-cores N] [--native-h H] [--native-w W]\n"
               "                        [--native-fps F]\n"
               "                        [--obj-n N --obj-size PX2]\n"
               "The most accurate plan of the knowledge base FILE whose predicted delay meets\n"
               "the bound, for an edge and a cloud joined by a link of MBIT Mbit/s (default\n"
               "RTT 1 ms); speeds are relative to the kb's delays (default 1). Prints\n"
               "{\"plan\",\"predicted_delay\",\"predicted_load\",\"accuracy\",\"meets\"}.\n");
}

/* ---- score ----------------------------------------------------------------------------- */

/* Each line of path as a JSON object into *out (a new array). */
static int read_jsonl(const char *path, json_t **out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "vdag eval score: %s: cannot read it\n", path);
        return 1;
    }
    json_t *a = json_array();
    char *line = NULL;
    size_t cap = 0;
    long n = 0;
    while (getline(&line, &cap, f) > 0) {
        n++;
        if (line[0] == '\n' || line[0] == 0) continue;
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        if (!json_is_object(j)) {
            fprintf(stderr, "vdag eval score: %s:%ld: not a JSON object (%s)\n", path, n, je.text);
            json_decref(j);
            json_decref(a);
            free(line);
            fclose(f);
            return 1;
        }
        json_array_append_new(a, j);
    }
    free(line);
    fclose(f);
    *out = a;
    return 0;
}

static long frame_id(json_t *r)
{
    json_t *v = json_object_get(r, "cam_frame_id");
    return json_is_integer(v) ? (long)json_integer_value(v) : -1;
}

int vd_cmd_eval_score(int argc, char **argv)
{
    const char *golden_p = NULL, *results_p = NULL, *stage = NULL, *svc_name = NULL, *out_p = NULL;
    long clip = 0, max_gap = 30;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return vd_arg_missing("eval score", a, vd_usage_eval_score);
        if (!strcmp(a, "--golden"))
            golden_p = v;
        else if (!strcmp(a, "--results"))
            results_p = v;
        else if (!strcmp(a, "--stage"))
            stage = v;
        else if (!strcmp(a, "--service"))
            svc_name = v;
        else if (!strcmp(a, "--out"))
            out_p = v;
        else if (!strcmp(a, "--clip-frames")) {
            if (vd_arg_long("eval score", a, v, 1, MAX_CLIP, &clip)) return 2;
        } else if (!strcmp(a, "--max-gap")) {
            if (vd_arg_long("eval score", a, v, 1, 100000, &max_gap)) return 2;
        } else
            return vd_arg_unknown("eval score", a, vd_usage_eval_score);
        i++;
    }
    if (!golden_p || !results_p)
        return vd_arg_error("eval score", vd_usage_eval_score, "--golden and --results are needed");
    json_t *gold = NULL, *res = NULL;
    if (read_jsonl(golden_p, &gold)) return 1;
    if (read_jsonl(results_p, &res)) {
        json_decref(gold);
        return 1;
    }
    int rc = 1;
    json_t **by_id = NULL;
    FILE *out = NULL;
    if (!stage) { /* the first stage named in the results */
        size_t k;
        json_t *r;
        json_array_foreach(res, k, r)
        {
            const char *key;
            json_t *v;
            json_object_foreach(json_object_get(r, "stages"), key, v)
            {
                stage = key;
                break;
            }
            if (stage) break;
        }
    }
    if (!stage) {
        fprintf(stderr, "vdag eval score: %s: no step has \"stages\"\n", results_p);
        goto done;
    }
    const vd_service *svc = vd_service_find(svc_name ? svc_name : stage);
    const vd_svc_field *fld = vd_kb_primary_field(svc);
    if (!svc || !fld || vd_metric_for(fld->type) == VD_METRIC_NONE) {
        fprintf(stderr, "vdag eval score: %s: %s (give --service NAME)\n",
                svc_name ? svc_name : stage, !svc ? "no such service" : "no field with a metric");
        goto done;
    }
    long last = -1;
    size_t k;
    json_t *g;
    json_array_foreach(gold, k, g) if (frame_id(g) > last) last = frame_id(g);
    if (!clip) clip = last + 1;
    if (last < 0 || last >= clip) {
        fprintf(stderr, "vdag eval score: %s: %s\n", golden_p,
                last < 0 ? "no frame with a cam_frame_id" : "frames beyond --clip-frames");
        goto done;
    }
    by_id = calloc((size_t)clip, sizeof *by_id);
    if (!by_id) goto done;
    json_array_foreach(gold, k, g)
    {
        json_t *o = json_object_get(json_object_get(g, "stages"), stage);
        if (json_is_object(o)) by_id[frame_id(g)] = o;
    }
    if (out_p && !(out = fopen(out_p, "w"))) {
        fprintf(stderr, "vdag eval score: --out %s: cannot write\n", out_p);
        goto done;
    }
    double sum = 0;
    long frames = 0, steps = 0;
    size_t n = json_array_size(res);
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(res, i);
        long id = frame_id(r), next = i + 1 < n ? frame_id(json_array_get(res, i + 1)) : -1;
        json_t *o = json_object_get(json_object_get(r, "stages"), stage);
        if (id < 0 || !json_is_object(o)) continue;
        long end = next > id && next - id <= max_gap ? next : id + 1;
        double s = 0;
        long m = 0;
        for (long f = id; f < end; f++) {
            json_t *go = by_id[f % clip];
            if (!go) continue;
            vd_score sc;
            if (vd_score_field(svc, fld, o, go, &sc)) continue;
            s += sc.value, m++;
        }
        steps++;
        sum += s, frames += m;
        if (out) {
            json_t *l =
                json_pack("{s:I,s:I,s:o,s:I}", "i", (json_int_t)i, "cam_frame_id", (json_int_t)id,
                          "score", m ? json_real(s / m) : json_null(), "frames", (json_int_t)m);
            char *t = json_dumps(l, JSON_COMPACT);
            if (t) fprintf(out, "%s\n", t);
            free(t);
            json_decref(l);
        }
    }
    if (out && fclose(out) != 0) {
        out = NULL;
        fprintf(stderr, "vdag eval score: --out %s: cannot write\n", out_p);
        goto done;
    }
    out = NULL;
    printf("{\"steps\":%ld,\"frames\":%ld,\"score\":%.6f,\"metric\":\"%s\",\"stage\":\"%s\"}\n",
           steps, frames, frames ? sum / frames : 0.0, vd_metric_name(vd_metric_for(fld->type)),
           stage);
    rc = 0;
done:
    if (out) fclose(out);
    free(by_id);
    json_decref(gold);
    json_decref(res);
    return rc;
}

/* ---- oracle ---------------------------------------------------------------------------- */

static int load_dag(const char *pipeline, const char *path, vd_dag **d, vd_error *err)
{
    if (pipeline) return vd_dag_from_pipeline(pipeline, d, err);
    char *text = NULL;
    int rc = vd_read_file(path, 0, &text, NULL, err);
    if (!rc) rc = vd_dag_parse(text, path, d, err);
    free(text);
    return rc;
}

int vd_cmd_eval_oracle(int argc, char **argv)
{
    const char *kbp = NULL, *pipeline = NULL, *dagp = NULL, *edge = "edge", *cloud = "cloud";
    double delay = -1, mbit = -1, rtt_ms = 1, es = 1, cs = 1, fps = 25, obj_n = -1, obj_size = 0;
    int ec = 1, cc = 1, nh = 720, nw = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int r = 0;
        if (!v) return vd_arg_missing("eval oracle", a, vd_usage_eval_oracle);
        if (!strcmp(a, "--kb"))
            kbp = v;
        else if (!strcmp(a, "--pipeline"))
            pipeline = v;
        else if (!strcmp(a, "--dag"))
            dagp = v;
        else if (!strcmp(a, "--edge"))
            edge = v;
        else if (!strcmp(a, "--cloud"))
            cloud = v;
        else if (!strcmp(a, "--delay"))
            r = vd_arg_double("eval oracle", a, v, 1e-4, 1e4, &delay);
        else if (!strcmp(a, "--bandwidth"))
            r = vd_arg_double("eval oracle", a, v, 1e-3, 1e6, &mbit);
        else if (!strcmp(a, "--rtt"))
            r = vd_arg_double("eval oracle", a, v, 0, 1e5, &rtt_ms);
        else if (!strcmp(a, "--edge-speed"))
            r = vd_arg_double("eval oracle", a, v, 1e-3, 1e3, &es);
        else if (!strcmp(a, "--cloud-speed"))
            r = vd_arg_double("eval oracle", a, v, 1e-3, 1e3, &cs);
        else if (!strcmp(a, "--native-fps"))
            r = vd_arg_double("eval oracle", a, v, 0.1, 1000, &fps);
        else if (!strcmp(a, "--obj-n"))
            r = vd_arg_double("eval oracle", a, v, 0, 1e4, &obj_n);
        else if (!strcmp(a, "--obj-size"))
            r = vd_arg_double("eval oracle", a, v, 0, 1e9, &obj_size);
        else if (!strcmp(a, "--edge-cores"))
            r = vd_arg_int("eval oracle", a, v, 1, 4096, &ec);
        else if (!strcmp(a, "--cloud-cores"))
            r = vd_arg_int("eval oracle", a, v, 1, 4096, &cc);
        else if (!strcmp(a, "--native-h"))
            r = vd_arg_int("eval oracle", a, v, 16, 8192, &nh);
        else if (!strcmp(a, "--native-w"))
            r = vd_arg_int("eval oracle", a, v, 16, 8192, &nw);
        else
            return vd_arg_unknown("eval oracle", a, vd_usage_eval_oracle);
        if (r) return r;
        i++;
    }
    if (!kbp || (!pipeline == !dagp) || delay < 0 || mbit < 0)
        return vd_arg_error("eval oracle", vd_usage_eval_oracle,
                            "--kb, --pipeline or --dag, --delay and --bandwidth are needed");
    vd_error err = {0};
    json_error_t je;
    json_t *kj = json_load_file(kbp, 0, &je);
    vd_kb *kb = vd_kb_new();
    vd_dag *d = NULL;
    vd_sched *s = NULL;
    int rc = 1;
    if (!kj) {
        fprintf(stderr, "vdag eval oracle: %s: %s\n", kbp, je.text);
        goto done;
    }
    if (vd_kb_from_json(kb, kj, &err)) {
        fprintf(stderr, "vdag eval oracle: %s: %s\n", kbp, err.msg);
        goto done;
    }
    if (load_dag(pipeline, dagp, &d, &err)) {
        fprintf(stderr, "vdag eval oracle: %s\n", err.msg);
        goto done;
    }
    vd_node_info nodes[2] = {{.role = "edge", .n_cores = ec, .speed = es},
                             {.role = "cloud", .n_cores = cc, .speed = cs}};
    snprintf(nodes[0].name, sizeof nodes[0].name, "%s", edge);
    snprintf(nodes[1].name, sizeof nodes[1].name, "%s", cloud);
    size_t off = 0;
    for (int i = 0; i < d->n_stages; i++) {
        int w = snprintf(nodes[0].services + off, sizeof nodes[0].services - off, "%s%s",
                         i ? "," : "", d->stages[i].svc->name);
        if (w < 0 || (size_t)w >= sizeof nodes[0].services - off) break;
        off += (size_t)w;
    }
    memcpy(nodes[1].services, nodes[0].services, sizeof nodes[1].services);
    vd_link link = {.bw_Bps = mbit * 1e6 / 8, .rtt_s = rtt_ms / 1e3};
    snprintf(link.from, sizeof link.from, "%s", edge);
    snprintf(link.to, sizeof link.to, "%s", cloud);
    vd_runtime rt = {.obj_n = obj_n, .obj_size = obj_size};
    vd_sched_input in = {.dag = d,
                         .edge = edge,
                         .nodes = nodes,
                         .n_nodes = 2,
                         .kb = kb,
                         .rt = obj_n >= 0 ? &rt : NULL,
                         .delay_bound = delay,
                         .native_h = nh,
                         .native_w = nw,
                         .native_fps = fps,
                         .links = &link,
                         .n_links = 1};
    vd_plan p;
    if (vd_sched_new("kb", &s, &err) || vd_sched_plan(s, &in, &p, &err)) {
        fprintf(stderr, "vdag eval oracle: %s\n", err.msg);
        goto done;
    }
    double pd = vd_plan_predict(&in, &p);
    json_t *o = json_pack("{s:o,s:f,s:f,s:f,s:b}", "plan", vd_plan_to_json(&p), "predicted_delay",
                          pd, "predicted_load", vd_plan_load(&in, &p), "accuracy",
                          vd_plan_accuracy(&in, &p), "meets", pd >= 0 && pd <= delay);
    char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (t) printf("%s\n", t);
    free(t);
    json_decref(o);
    rc = t ? 0 : 1;
done:
    vd_sched_free(s);
    vd_dag_free(d);
    vd_kb_free(kb);
    json_decref(kj);
    return rc;
}
