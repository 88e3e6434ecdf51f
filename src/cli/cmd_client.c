/*
 * API clients: vdag submit | status | results JOB | stop JOB | video add | video rm. Each
 * talks to the cloud's
 * HTTP API (--server, default $VDAG_SERVER or http://127.0.0.1:5000; --token or
 * $VDAG_TOKEN) and prints a table, or the server's JSON with --json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "vdag/base.h"
#include "vdag/net.h"

typedef struct client {
    const char *server, *token;
    int json;
} client;

/* Take the common flags out of argv (in place); returns the remaining count, or -2 after
 * a usage error was said. */
static int client_flags(const char *cmd, int argc, char **argv, client *c, void (*usage)(FILE *))
{
    c->server = getenv("VDAG_SERVER") ? getenv("VDAG_SERVER") : "http://127.0.0.1:5000";
    c->token = getenv("VDAG_TOKEN");
    c->json = 0;
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            c->json = 1;
        } else if (!strcmp(argv[i], "--server") || !strcmp(argv[i], "--token")) {
            if (i + 1 >= argc) return -vd_arg_missing(cmd, argv[i], usage);
            *(!strcmp(argv[i], "--server") ? &c->server : &c->token) = argv[i + 1];
            i++;
        } else {
            argv[n++] = argv[i];
        }
    }
    return n;
}

/* The positional arguments left after the flags: none may be an option. */
static int positional(const char *cmd, int argc, char **argv, int want, const char *what,
                      void (*usage)(FILE *))
{
    for (int i = 0; i < argc; i++)
        if (!strncmp(argv[i], "-", 1) && argv[i][1]) return vd_arg_unknown(cmd, argv[i], usage);
    if (argc > want) return vd_arg_error(cmd, usage, "unexpected argument '%s'", argv[want]);
    if (argc < want) return vd_arg_error(cmd, usage, "%s is required", what);
    return 0;
}

/* Request; on success *out is the parsed JSON reply (status 0). Prints errors. */
static int api(const client *c, const char *method, const char *path, json_t *body, json_t **out,
               const char *cmd)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s%s", strncmp(c->server, "http", 4) ? "http://" : "", c->server,
             path);
    char *b = body ? json_dumps(body, JSON_COMPACT) : NULL;
    long st = 0;
    vd_buf resp = {0};
    vd_error err = {0};
    int rc =
        vd_http_request(method, url, c->token, NULL, b, b ? strlen(b) : 0, 10000, &st, &resp, &err);
    free(b);
    *out = NULL;
    if (rc) {
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

void vd_usage_submit(FILE *f)
{
    fprintf(f, "usage: vdag submit --node NODE --video ID (--pipeline a,b | --dag FILE)\n"
               "                   [--delay S] [--accuracy 0..1] [--scheduler feedback|fixed]\n"
               "                   [--max-frames N] [--loop | --no-loop]\n"
               "                   [--plan FILE] [--place STAGE=NODE ...] [--model STAGE=ID ...]\n"
               "                   [--server URL] [--token T] [--json]\n"
               "  --node        a node name or its \"ip:port\" (vdag status lists them)\n"
               "  --delay       the delay bound, seconds per processed frame (> 0)\n"
               "  --plan FILE   a plan {\"video_conf\":{…},\"flow_mapping\":{…}} to run\n"
               "  --place       run STAGE on NODE (a name, an \"ip:port\" or the seed's node_ip)\n"
               "  --model       run STAGE with model ID (0 = largest)\n"
               "                --plan, --place and --model make the plan fixed unless\n"
               "                --scheduler is given\n"
               "  Prints the job uid (the server's reply with --json).\n");
}

/* "STAGE=VALUE" into stage (cap bytes) and *value; 2 after saying what is wrong. */
static int stage_arg(const char *opt, const char *v, char *stage, size_t cap, const char **value)
{
    const char *eq = strchr(v, '=');
    if (!eq || eq == v || !eq[1] || (size_t)(eq - v) >= cap)
        return vd_arg_error("submit", NULL, "%s '%s': expected STAGE=%s", opt, v,
                            !strcmp(opt, "--place") ? "NODE" : "ID");
    snprintf(stage, cap, "%.*s", (int)(eq - v), v);
    *value = eq + 1;
    return 0;
}

/* The flow_mapping entry of stage in plan (made when missing). */
static json_t *mapping(json_t *plan, const char *stage)
{
    json_t *fm = json_object_get(plan, "flow_mapping");
    if (!json_is_object(fm)) json_object_set_new(plan, "flow_mapping", fm = json_object());
    json_t *m = json_object_get(fm, stage);
    if (!json_is_object(m)) json_object_set_new(fm, stage, m = json_object());
    return m;
}

int vd_cmd_submit(int argc, char **argv)
{
    client c;
    argc = client_flags("submit", argc, argv, &c, vd_usage_submit);
    if (argc < 0) return -argc;
    const char *node = NULL, *video = NULL, *pipeline = NULL, *dagf = NULL, *sched = NULL;
    const char *planf = NULL;
    double delay = -1, acc = -1;
    long max_frames = 0;
    int loop = -1, rc;
    json_t *plan = NULL; /* --plan, --place, --model */
    char stage[64];
    const char *val = NULL;
    for (int i = 0; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--loop") || !strcmp(f, "--no-loop")) {
            loop = !strcmp(f, "--loop");
            continue;
        }
        static const char *const known[] = {"--node",      "--video", "--pipeline", "--dag",
                                            "--scheduler", "--delay", "--accuracy", "--max-frames",
                                            "--plan",      "--place", "--model",    NULL};
        int k = 0;
        while (known[k] && strcmp(known[k], f)) k++;
        rc = !known[k]                            ? vd_arg_unknown("submit", f, vd_usage_submit)
             : !v || (v[0] == '-' && v[1] == '-') ? vd_arg_missing("submit", f, vd_usage_submit)
                                                  : 0;
        if (rc) goto bad;
        i++;
        if (!strcmp(f, "--node"))
            node = v;
        else if (!strcmp(f, "--video"))
            video = v;
        else if (!strcmp(f, "--pipeline"))
            pipeline = v;
        else if (!strcmp(f, "--dag"))
            dagf = v;
        else if (!strcmp(f, "--scheduler"))
            sched = v;
        else if (!strcmp(f, "--plan"))
            planf = v;
        else if (!strcmp(f, "--delay")) {
            rc = vd_arg_double("submit", f, v, 0, 3600, &delay);
            if (!rc && delay <= 0)
                rc = vd_arg_error("submit", NULL, "--delay '%s': expected seconds > 0", v);
        } else if (!strcmp(f, "--accuracy"))
            rc = vd_arg_double("submit", f, v, 0, 1, &acc);
        else if (!strcmp(f, "--max-frames"))
            rc = vd_arg_long("submit", f, v, 1, 2147483647L, &max_frames);
        else if (!(rc = stage_arg(f, v, stage, sizeof stage, &val))) {
            if (!plan) plan = json_object();
            if (!strcmp(f, "--place")) {
                json_object_set_new(mapping(plan, stage), "node_ip", json_string(val));
            } else {
                long id;
                if (!(rc = vd_arg_long("submit", "--model", val, 0, 64, &id)))
                    json_object_set_new(mapping(plan, stage), "model_id", json_integer(id));
            }
        }
        if (rc) goto bad;
    }
    if (!node || !video || !pipeline == !dagf) {
        rc = vd_arg_error("submit", vd_usage_submit, "%s",
                          !node    ? "--node NODE is required"
                          : !video ? "--video ID is required"
                                   : "give either --pipeline a,b or --dag FILE");
        goto bad;
    }
    json_t *body = json_pack("{s:s,s:s}", "node_addr", node, "video_id", video);
    if (pipeline) {
        json_t *arr = json_array();
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", pipeline);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
            json_array_append_new(arr, json_string(t));
        json_object_set_new(body, "pipeline", arr);
    }
    for (int k = 0; k < 2; k++) { /* --dag, then --plan: files read here */
        const char *fn = k ? planf : dagf, *opt = k ? "--plan" : "--dag";
        if (!fn) continue;
        json_error_t je;
        json_t *d = json_load_file(fn, 0, &je);
        if (!d || !json_is_object(d)) {
            if (!d && je.line < 0) /* not read at all: say why (no such file, …) */
                vd_arg_error("submit", NULL, "%s %s: %s", opt, fn, je.text);
            else if (!d)
                vd_arg_error("submit", NULL, "%s %s: not JSON: %s (line %d, column %d)", opt, fn,
                             je.text, je.line, je.column);
            else
                vd_arg_error("submit", NULL, "%s %s: expected a JSON object", opt, fn);
            json_decref(d);
            json_decref(body);
            rc = 2;
            goto bad;
        }
        if (!k) {
            json_object_set_new(body, "dag", d);
            continue;
        }
        /* --place and --model go over the plan from the file */
        const char *st;
        json_t *m, *kv;
        json_object_foreach(json_object_get(plan, "flow_mapping"), st, m)
        {
            const char *key;
            json_object_foreach(m, key, kv) json_object_set(mapping(d, st), key, kv);
        }
        json_decref(plan);
        plan = d;
    }
    json_t *uc = json_object();
    if (delay >= 0) json_object_set_new(uc, "delay", json_real(delay));
    if (acc >= 0) json_object_set_new(uc, "accuracy", json_real(acc));
    json_object_set_new(body, "user_constraint", uc);
    if (!sched && plan) sched = "fixed"; /* the plan asked for is the plan run */
    if (sched) json_object_set_new(body, "scheduler", json_string(sched));
    if (max_frames > 0) json_object_set_new(body, "max_frames", json_integer(max_frames));
    if (loop >= 0) json_object_set_new(body, "loop", json_boolean(loop));
    if (plan) json_object_set_new(body, "plan", plan);
    plan = NULL;
    json_t *r;
    rc = api(&c, "POST", "/query/submit_query", body, &r, "submit");
    json_decref(body);
    if (rc) return rc;
    if (c.json)
        print_json(r);
    else
        printf("%s\n", json_string_value(json_object_get(r, "job_uid")));
    json_decref(r);
    return 0;
bad:
    json_decref(plan);
    return rc;
}

void vd_usage_status(FILE *f)
{
    fprintf(f, "usage: vdag status [--server URL] [--token T] [--json]\n"
               "  Nodes (role, address, CPU, memory, videos) and jobs; --server defaults to\n"
               "  $VDAG_SERVER or http://127.0.0.1:5000, --token to $VDAG_TOKEN.\n");
}

int vd_cmd_status(int argc, char **argv)
{
    client c;
    argc = client_flags("status", argc, argv, &c, vd_usage_status);
    if (argc < 0) return -argc;
    int rc = positional("status", argc, argv, 0, "", vd_usage_status);
    if (rc) return rc;
    json_t *r;
    if (api(&c, "GET", "/user/get_all_status", NULL, &r, "status")) return 1;
    if (c.json) {
        print_json(r);
        json_decref(r);
        return 0;
    }
    printf("%-12s %-6s %-22s %5s %5s  %s\n", "NODE", "ROLE", "ADDR", "CPU%", "MEM%", "VIDEOS");
    const char *k;
    json_t *n;
    json_object_foreach(json_object_get(r, "data"), k, n)
    {
        json_t *res = json_object_get(n, "resources");
        char vids[256] = "";
        size_t off = 0;
        const char *vk;
        json_t *vv;
        json_object_foreach(json_object_get(n, "video"), vk, vv)
        {
            int w = snprintf(vids + off, sizeof vids - off, "%s%s(%s)", off ? " " : "", vk,
                             json_string_value(json_object_get(vv, "type")));
            if (w < 0 || (size_t)w >= sizeof vids - off) break;
            off += (size_t)w;
        }
        printf("%-12s %-6s %-22s %5.1f %5.1f  %s\n", k,
               json_string_value(json_object_get(n, "role")),
               json_string_value(json_object_get(n, "addr")),
               json_number_value(json_object_get(res, "cpu_ratio")) * 100,
               json_number_value(json_object_get(res, "mem_ratio")) * 100, vids);
    }
    json_t *jobs = json_object_get(r, "jobs");
    if (json_array_size(jobs)) {
        printf("\n%-12s %-8s %-10s %-6s %-30s %7s %9s  %s\n", "JOB", "STATE", "NODE", "VIDEO",
               "PIPELINE", "FRAMES", "DELAY(ms)", "NOTE");
        size_t i;
        json_t *j;
        json_array_foreach(jobs, i, j)
        {
            char pl[256] = "";
            size_t off = 0, q;
            json_t *s;
            json_array_foreach(json_object_get(j, "pipeline"), q, s)
            {
                int w =
                    snprintf(pl + off, sizeof pl - off, "%s%s", q ? "," : "", json_string_value(s));
                if (w < 0 || (size_t)w >= sizeof pl - off) break;
                off += (size_t)w;
            }
            const char *reason = json_string_value(json_object_get(j, "reason"));
            const char *msg = json_string_value(json_object_get(j, "msg"));
            printf("%-12s %-8s %-10s %-6s %-30s %7lld %9.1f  %s%s%s\n",
                   json_string_value(json_object_get(j, "job_uid")),
                   json_string_value(json_object_get(j, "state")),
                   json_string_value(json_object_get(j, "node_addr")),
                   json_string_value(json_object_get(j, "video_id")), pl,
                   (long long)json_integer_value(json_object_get(j, "frames")),
                   json_number_value(json_object_get(j, "delay")) * 1e3, reason ? reason : "",
                   reason && *reason && msg && *msg ? ": " : "", msg ? msg : "");
        }
    }
    json_decref(r);
    return 0;
}

void vd_usage_results(FILE *f)
{
    fprintf(f, "usage: vdag results JOB [--server URL] [--token T] [--json]\n"
               "  A job's state, plan, measured delays, runtime context and last results.\n");
}

int vd_cmd_results(int argc, char **argv)
{
    client c;
    argc = client_flags("results", argc, argv, &c, vd_usage_results);
    if (argc < 0) return -argc;
    int rc = positional("results", argc, argv, 1, "JOB", vd_usage_results);
    if (rc) return rc;
    char path[300];
    snprintf(path, sizeof path, "/user/sync_job_result/%s", argv[0]);
    json_t *r;
    if (api(&c, "GET", path, NULL, &r, "results")) return 1;
    if (c.json) {
        print_json(r);
        json_decref(r);
        return 0;
    }
    json_t *job = json_object_get(r, "job"), *res = json_object_get(r, "result");
    json_t *latest = json_object_get(res, "latest_result");
    json_t *vc = json_object_get(json_object_get(latest, "plan"), "video_conf");
    json_t *rt = json_object_get(res, "runtime");
    printf("job %s  %s%s%s  on %s  video %s  frames %lld  scheduler %s\n",
           json_string_value(json_object_get(job, "job_uid")),
           json_string_value(json_object_get(job, "state")),
           *json_string_value(json_object_get(job, "reason")) ? " " : "",
           json_string_value(json_object_get(job, "reason")),
           json_string_value(json_object_get(job, "node_addr")),
           json_string_value(json_object_get(job, "video_id")),
           (long long)json_integer_value(json_object_get(job, "frames")),
           json_string_value(json_object_get(job, "scheduler")));
    const char *msg = json_string_value(json_object_get(job, "msg"));
    if (msg && *msg) printf("  %s\n", msg);
    printf("plan v%lld: resolution %s  fps %g  nskip %lld  ntracking %lld\n",
           (long long)json_integer_value(json_object_get(latest, "plan_version")),
           json_string_value(json_object_get(vc, "resolution"))
               ? json_string_value(json_object_get(vc, "resolution"))
               : "native",
           json_number_value(json_object_get(vc, "fps")),
           (long long)json_integer_value(json_object_get(vc, "nskip")),
           (long long)json_integer_value(json_object_get(vc, "ntracking")));
    printf("%-20s %-8s %-10s %-6s %10s\n", "STAGE", "MODEL", "NODE", "ROLE", "DELAY(ms)");
    const char *k;
    json_t *m;
    json_t *dl = json_object_get(json_object_get(latest, "plan_result"), "delay");
    json_object_foreach(json_object_get(json_object_get(latest, "plan"), "flow_mapping"), k, m)
        printf("%-20s %-8lld %-10s %-6s %10.1f\n", k,
               (long long)json_integer_value(json_object_get(m, "model_id")),
               json_string_value(json_object_get(m, "node_ip")),
               json_string_value(json_object_get(m, "node_role")),
               json_number_value(json_object_get(dl, k)) * 1e3);
    json_t *pr = json_object_get(latest, "plan_result");
    printf("measured: %.1f ms per processed frame  load %.2f  dropped %lld (%.1f%% recently)%s"
           "  (%lld frames)\n",
           json_number_value(json_object_get(pr, "total_delay")) * 1e3,
           json_number_value(json_object_get(pr, "load")),
           (long long)json_integer_value(json_object_get(pr, "dropped")),
           json_number_value(json_object_get(pr, "drop_ratio")) * 100,
           json_is_false(json_object_get(pr, "load_valid")) ? "  (too early to tell)" : "",
           (long long)json_integer_value(json_object_get(pr, "n_frames")));
    printf("runtime: delay %.1f ms  objects %.1f  size %.0f px^2  stable %s\n",
           json_number_value(json_object_get(rt, "delay")) * 1e3,
           json_number_value(json_object_get(rt, "obj_n")),
           json_number_value(json_object_get(rt, "obj_size")),
           json_is_true(json_object_get(rt, "obj_stable")) ? "yes" : "no");
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(res, "appended_result"), i, e)
    {
        printf("  frame %-6lld", (long long)json_integer_value(json_object_get(e, "cam_frame_id")));
        json_object_foreach(json_object_get(e, "count_result"), k, m)
            printf(" %s=%lld", k, (long long)json_integer_value(m));
        printf("  %.1f ms\n", json_number_value(json_object_get(e, "total_frame_delay")) * 1e3);
    }
    json_decref(r);
    return 0;
}

void vd_usage_stop(FILE *f)
{
    fprintf(f, "usage: vdag stop JOB [--delete] [--server URL] [--token T] [--json]\n"
               "  Stops a job (DONE, stopped); --delete also forgets it.\n");
}

int vd_cmd_stop(int argc, char **argv)
{
    client c;
    argc = client_flags("stop", argc, argv, &c, vd_usage_stop);
    if (argc < 0) return -argc;
    int del = 0, n = 0;
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--delete"))
            del = 1;
        else
            argv[n++] = argv[i];
    int rc = positional("stop", n, argv, 1, "JOB", vd_usage_stop);
    if (rc) return rc;
    char path[300];
    snprintf(path, sizeof path, del ? "/user/job/%s" : "/user/stop_job/%s", argv[0]);
    json_t *r;
    if (api(&c, del ? "DELETE" : "POST", path, NULL, &r, "stop")) return 1;
    if (c.json)
        print_json(r);
    else
        printf("%s %s\n", argv[0], json_string_value(json_object_get(r, "msg")));
    json_decref(r);
    return 0;
}

void vd_usage_video_add(FILE *f)
{
    fprintf(f,
            "usage: vdag video add --id ID --url PATH|URL [--node NODE] [--type TEXT] [--loop]\n"
            "                      [--reconnect-timeout S] [--no-probe]\n"
            "                      [--server URL] [--token T] [--json]\n"
            "  Adds a source to a running edge: a video file (an absolute path, or the name of\n"
            "  a cached sample such as vtest.avi), an rtsp:// or http(s):// URL, or /dev/videoN.\n"
            "  --node        the edge (a name or its \"ip:port\"; default: the only edge)\n"
            "  --id          the video's id (1..31 letters, digits, '.', '_', '-')\n"
            "  --type        free text shown with it (default camera)\n"
            "  --loop        a file plays again at its end, like a camera\n"
            "  --reconnect-timeout S  a live stream lost this long ends its jobs (default 60)\n"
            "  --no-probe    add a live URL without opening it first (a camera that is off)\n"
            "  The edge opens the source first and refuses one that does not open, saying why.\n");
}

void vd_usage_video_rm(FILE *f)
{
    fprintf(f, "usage: vdag video rm ID [--node NODE] [--server URL] [--token T] [--json]\n"
               "  Removes a source from its edge; jobs reading it end (reason source_removed).\n"
               "  --node        the edge (default: the only edge that has video ID)\n");
}

/* A video id as the edge takes them (it goes in a URL path unescaped). */
static int video_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 31) return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", s[i]))
            return 0;
    return 1;
}

/* Print a video command's answer: the edge's videos after it. */
static void print_videos(const client *c, json_t *r)
{
    if (c->json) {
        print_json(r);
        return;
    }
    printf("%s\n", json_string_value(json_object_get(r, "msg")));
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(r, "video"), k, v)
        printf("  %-10s %-5s %-20s %s\n", k, json_string_value(json_object_get(v, "kind")),
               json_string_value(json_object_get(v, "type")),
               json_string_value(json_object_get(v, "path")));
    size_t i;
    json_t *j;
    json_array_foreach(json_object_get(r, "jobs_ended"), i, j)
        printf("  job %s ends (source_removed)\n", json_string_value(j));
}

int vd_cmd_video_add(int argc, char **argv)
{
    client c;
    argc = client_flags("video add", argc, argv, &c, vd_usage_video_add);
    if (argc < 0) return -argc;
    const char *node = NULL, *id = NULL, *url = NULL, *type = NULL;
    int loop = 0, probe = 1, rc;
    double rs = 0;
    for (int i = 0; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--loop") || !strcmp(f, "--no-probe")) {
            *(!strcmp(f, "--loop") ? &loop : &probe) = !strcmp(f, "--loop");
            continue;
        }
        static const char *const known[] = {
            "--node", "--id", "--url", "--type", "--reconnect-timeout", NULL};
        int k = 0;
        while (known[k] && strcmp(known[k], f)) k++;
        if (!known[k]) return vd_arg_unknown("video add", f, vd_usage_video_add);
        if (!v || (v[0] == '-' && v[1] == '-'))
            return vd_arg_missing("video add", f, vd_usage_video_add);
        i++;
        if (!strcmp(f, "--node"))
            node = v;
        else if (!strcmp(f, "--id"))
            id = v;
        else if (!strcmp(f, "--url"))
            url = v;
        else if (!strcmp(f, "--type"))
            type = v;
        else if ((rc = vd_arg_double("video add", f, v, 0.001, 86400, &rs)))
            return rc;
    }
    if (!id || !url)
        return vd_arg_error("video add", vd_usage_video_add, "%s is required",
                            !id ? "--id ID" : "--url PATH|URL");
    if (!video_id_ok(id))
        return vd_arg_error("video add", NULL, "--id '%s': 1..31 letters, digits, '.', '_' or '-'",
                            id);
    json_t *body = json_pack("{s:s,s:s}", "video_id", id, "url", url);
    if (node) json_object_set_new(body, "node", json_string(node));
    if (type) json_object_set_new(body, "type", json_string(type));
    if (loop) json_object_set_new(body, "loop", json_true());
    if (rs > 0) json_object_set_new(body, "reconnect_timeout", json_real(rs));
    if (!probe) json_object_set_new(body, "probe", json_false());
    json_t *r;
    rc = api(&c, "POST", "/node/video", body, &r, "video add");
    json_decref(body);
    if (rc) return rc;
    print_videos(&c, r);
    json_decref(r);
    return 0;
}

int vd_cmd_video_rm(int argc, char **argv)
{
    client c;
    argc = client_flags("video rm", argc, argv, &c, vd_usage_video_rm);
    if (argc < 0) return -argc;
    const char *node = NULL;
    int n = 0;
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--node")) {
            if (i + 1 >= argc) return vd_arg_missing("video rm", argv[i], vd_usage_video_rm);
            node = argv[++i];
        } else {
            argv[n++] = argv[i];
        }
    int rc = positional("video rm", n, argv, 1, "ID", vd_usage_video_rm);
    if (rc) return rc;
    if (!video_id_ok(argv[0]))
        return vd_arg_error("video rm", NULL, "'%s': no video has such an id", argv[0]);
    if (node && strpbrk(node, "&#?/ %"))
        return vd_arg_error("video rm", NULL, "--node '%s': no node has such a name", node);
    char path[200];
    snprintf(path, sizeof path, "/node/video/%s%s%s", argv[0], node ? "?node=" : "",
             node ? node : "");
    json_t *r;
    if (api(&c, "DELETE", path, NULL, &r, "video rm")) return 1;
    print_videos(&c, r);
    json_decref(r);
    return 0;
}
