/*
 * vdag profile: measure this machine's knowledge base (vd_kb_measure) and write it where the
 * node roles look for it (<cache>/profile-<host>.json), or show one.
 *
 *   vdag profile [--out FILE] [--threads N] [--if-missing] [--full] [--frames N]
 *                [--clip FILE]... [--service NAME]... [--budget S]
 *   vdag profile --show [FILE]
 *
 * The default is bounded (about 10-20 s on one core: 16 frames per clip, a budget of 3 s per
 * service); --full measures 120 frames of every clip for every service, more heights and
 * qualities, without a budget. --if-missing keeps a current (version 2) file; an older one
 * (delays only) is re-profiled, saying so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "vdag/base.h"
#include "vdag/sched.h"

#define MAX_LIST 16

static void log_line(void *arg, const char *line)
{
    (void)arg;
    fprintf(stderr, "vdag profile: %s\n", line);
}

void vd_usage_profile(FILE *f)
{
    fprintf(f,
            "usage: vdag profile [--out FILE] [--threads N] [--if-missing] [--full] [--frames N]\n"
            "                    [--clip FILE]... [--service NAME]... [--budget S]\n"
            "       vdag profile --show [FILE]\n"
            "  Measures delay, bytes on the wire and accuracy against the golden configuration\n"
            "  (largest model, the clip's resolution, every frame) on real footage.\n");
}

/* 1: a current kb file (this version, with measured accuracy); 0: an older, partial or
 * unreadable one (*why says which); <0: missing. */
static int current_file(const char *path, const char **why)
{
    if (access(path, R_OK) != 0) return -1;
    json_t *j = json_load_file(path, 0, NULL);
    int v = vd_kb_json_version(j);
    size_t n_acc = json_array_size(json_object_get(j, "accuracy"));
    json_decref(j);
    if (v == VD_KB_VERSION && n_acc > 0) return 1;
    if (v == VD_KB_VERSION) {
        *why = "has delays only (a node's start-up profile), no measured accuracy";
        return 0;
    }
    *why = v < 0    ? "is not a knowledge base"
           : v == 1 ? "is a version-1 profile (delays only, no accuracy)"
                    : "has a newer format than this vdag reads";
    return 0;
}

/* One row per service, model and height: delay and the primary field's accuracy. */
static int show(const char *path)
{
    json_t *j = json_load_file(path, 0, NULL);
    vd_kb *kb = vd_kb_new();
    vd_error err = {0};
    if (!j || vd_kb_from_json(kb, j, &err)) {
        fprintf(stderr, "vdag profile: %s: %s\n", path, j ? err.msg : "cannot read it");
        json_decref(j);
        vd_kb_free(kb);
        return 1;
    }
    printf("%-18s %-5s %-6s %9s %9s %9s %-22s %s\n", "service", "model", "height", "ms", "p90 ms",
           "ms/obj", "accuracy (field)", "t2  s2 (at 10 fps)");
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(j, "delay"), i, e)
    {
        if (json_object_get(e, "node")) continue;
        const char *svc = json_string_value(json_object_get(e, "service"));
        int m = (int)json_integer_value(json_object_get(e, "model_id"));
        int h = (int)json_integer_value(json_object_get(e, "resolution"));
        vd_kb_acc_query q = {.service = svc, .model_id = m, .res = h, .bucket = -1};
        const vd_svc_field *f = vd_kb_primary_field(vd_service_find(svc));
        double a = vd_kb_acc_predict(kb, &q);
        q.ntracking = 2;
        double at = vd_kb_acc_predict(kb, &q);
        q.ntracking = 0;
        q.gap_s = 3 / 10.0;
        double as = vd_kb_acc_predict(kb, &q);
        char acc[64] = "-", grid[64] = "";
        if (a >= 0)
            snprintf(acc, sizeof acc, "%.3f (%s %s)", a, f ? f->name : "?",
                     f ? vd_metric_name(vd_metric_for(f->type)) : "");
        if (a >= 0 && f && (f->flags & VD_FIELD_TRACK))
            snprintf(grid, sizeof grid, "%.3f %.3f", at, as);
        printf("%-18s %-5d %-6d %9.2f %9.2f %9.3f %-22s %s\n", svc, m, h,
               json_number_value(json_object_get(e, "ms")),
               json_number_value(json_object_get(e, "p90_ms")),
               json_number_value(json_object_get(e, "ms_per_obj")), acc, grid);
    }
    printf("\n%-8s %-8s %-7s %10s %10s %10s\n", "height", "encoder", "quality", "bytes", "enc ms",
           "dec ms");
    json_array_foreach(json_object_get(j, "bytes"), i, e)
        printf("%-8d %-8s %-7d %10.0f %10.2f %10.2f\n",
               (int)json_integer_value(json_object_get(e, "resolution")),
               json_string_value(json_object_get(e, "encoder")),
               (int)json_integer_value(json_object_get(e, "quality")),
               json_number_value(json_object_get(e, "bytes")),
               json_number_value(json_object_get(e, "encode_ms")),
               json_number_value(json_object_get(e, "decode_ms")));
    json_decref(j);
    vd_kb_free(kb);
    return 0;
}

int vd_cmd_profile(int argc, char **argv)
{
    const char *outp = NULL, *clips[MAX_LIST + 1] = {0}, *svcs[MAX_LIST + 1] = {0};
    int threads = 1, if_missing = 0, full = 0, frames = 0, nclips = 0, nsvcs = 0, do_show = 0;
    double budget = -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int valued = !strcmp(a, "--out") || !strcmp(a, "--threads") || !strcmp(a, "--frames") ||
                     !strcmp(a, "--budget") || !strcmp(a, "--clip") || !strcmp(a, "--service");
        if (!strcmp(a, "--if-missing"))
            if_missing = 1;
        else if (!strcmp(a, "--full"))
            full = 1;
        else if (!strcmp(a, "--show"))
            do_show = 1;
        else if (do_show && !outp && a[0] != '-')
            outp = a;
        else if (a[0] != '-')
            return vd_arg_error("profile", vd_usage_profile, "unexpected argument '%s'", a);
        else if (!valued)
            return vd_arg_unknown("profile", a, vd_usage_profile);
        else if (!v)
            return vd_arg_missing("profile", a, vd_usage_profile);
        else if (!strcmp(a, "--out"))
            outp = v, i++;
        else if (!strcmp(a, "--threads")) {
            if (vd_arg_int("profile", a, v, 1, 256, &threads)) return 2;
            i++;
        } else if (!strcmp(a, "--frames")) {
            if (vd_arg_int("profile", a, v, 1, 100000, &frames)) return 2;
            i++;
        } else if (!strcmp(a, "--budget")) {
            if (vd_arg_double("profile", a, v, 0, 86400, &budget)) return 2;
            i++;
        } else if ((!strcmp(a, "--clip") && nclips == MAX_LIST) ||
                   (!strcmp(a, "--service") && nsvcs == MAX_LIST))
            return vd_arg_error("profile", NULL, "%s: at most %d of them", a, MAX_LIST);
        else if (!strcmp(a, "--clip"))
            clips[nclips++] = v, i++;
        else
            svcs[nsvcs++] = v, i++;
    }
    char path[600], dir[512], hn[64] = "host";
    if (!outp) {
        vd_cache_dir(dir, sizeof dir);
        gethostname(hn, sizeof hn - 1);
        snprintf(path, sizeof path, "%s/profile-%s.json", dir, hn);
        outp = path;
    }
    if (do_show) return show(outp);
    const char *why = "";
    int cur = current_file(outp, &why);
    if (if_missing && cur == 1) {
        printf("%s\n", outp);
        return 0;
    }
    if (if_missing && cur == 0) fprintf(stderr, "vdag profile: %s %s: re-profiling\n", outp, why);

    static const int res_full[] = {1080, 720, 480, 360, 240}, q_full[] = {30, 50, 70, 85, 95};
    vd_kb_measure_opts o = {
        .services = nsvcs ? svcs : NULL,
        .clips = nclips ? clips : NULL,
        .all_clips = full,
        .n_frames = frames > 0 ? frames
                    : full     ? 120
                               : 16,
        .budget_s = budget >= 0 ? budget
                    : full      ? 0
                                : 3,
        .res = full ? res_full : NULL,
        .n_res = full ? 5 : 0,
        .qualities = full ? q_full : NULL,
        .n_qualities = full ? 5 : 0,
        .threads = threads,
        .log = log_line,
    };
    vd_error err = {0};
    vd_kb *kb = vd_kb_new();
    double t0 = vd_now_ms();
    int rc = kb ? vd_kb_measure(kb, &o, &err) : vd_fail(&err, VD_ENOMEM, "out of memory");
    json_t *j = rc ? NULL : vd_kb_to_json(kb);
    vd_kb_free(kb);
    char tmp[640];
    snprintf(tmp, sizeof tmp, "%s.tmp", outp);
    if (rc || !j || json_dump_file(j, tmp, JSON_INDENT(1)) || rename(tmp, outp)) {
        fprintf(stderr, "vdag profile: %s\n", rc ? err.msg : "cannot write the profile");
        json_decref(j);
        return 1;
    }
    fprintf(stderr, "vdag profile: %zu delay, %zu accuracy and %zu bytes entries in %.1f s\n",
            json_array_size(json_object_get(j, "delay")),
            json_array_size(json_object_get(j, "accuracy")),
            json_array_size(json_object_get(j, "bytes")), (vd_now_ms() - t0) / 1e3);
    json_decref(j);
    printf("%s\n", outp);
    return 0;
}
