/* Helpers for the batch tests that run a cluster: child processes of the vdag binary (each
 * gets SIGKILL if the test dies), the /videos API, and the reference detections of `vdag run`
 * over the same frames. Header-only: one test file includes it. */
#ifndef VDAG_TEST_BATCH_UTIL_H
#define VDAG_TEST_BATCH_UTIL_H

#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"
#include "vdag/base.h"
#include "vdag/batch.h"
#include "vdag/net.h"

/* Start `vdag ARGS…` (NULL-terminated) with its output appended to log. */
static pid_t bt_spawn(const char *log, const char *const *args)
{
    const char *argv[32] = {VDAG_BIN};
    int n = 1;
    for (; args[n - 1] && n < 31; n++) argv[n] = args[n - 1];
    argv[n] = NULL;
    pid_t parent = getpid(), pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
        execv(VDAG_BIN, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static void bt_kill9(pid_t pid)
{
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* SIGTERM, then SIGKILL after 10 s. */
static void bt_stop(pid_t pid)
{
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid) return;
        usleep(100000);
    }
    bt_kill9(pid);
}

static int bt_alive(pid_t pid)
{
    return pid > 0 && waitpid(pid, NULL, WNOHANG) == 0;
}

/* GET/DELETE url → JSON (NULL on any failure); *status the HTTP status. */
static json_t *bt_http(const char *method, const char *url, long *status)
{
    vd_buf b = {0};
    vd_error err;
    long st = 0;
    json_t *j = NULL;
    if (!vd_http_request(method, url, NULL, NULL, NULL, 0, 10000, &st, &b, &err))
        j = json_loadb((const char *)b.data, b.len, 0, NULL);
    vd_buf_free(&b);
    if (status) *status = st;
    return j;
}

static int bt_wait_http(const char *base, int ms)
{
    char url[300];
    snprintf(url, sizeof url, "%s/healthz", base);
    for (int i = 0; i < ms / 100; i++) {
        long st = 0;
        json_t *j = bt_http("GET", url, &st);
        json_decref(j);
        if (st == 200) return 1;
        usleep(100000);
    }
    return 0;
}

static json_t *bt_stats(const char *base, const char *id)
{
    char url[300];
    snprintf(url, sizeof url, "%s/videos/%s", base, id);
    return bt_http("GET", url, NULL);
}

static long long bt_int(json_t *j, const char *k)
{
    return (long long)json_integer_value(json_object_get(j, k));
}

static const char *bt_state(json_t *st)
{
    const char *s = json_string_value(json_object_get(st, "state"));
    return s ? s : "";
}

/* Upload the first `frames` frames of path; the video id into id. */
static int bt_upload(const char *base, const char *path, int frames, int item_frames, char *id)
{
    vd_batch_job_opts jo;
    vd_batch_job_defaults(&jo);
    jo.max_frames = frames;
    jo.item_frames = item_frames;
    long st = 0;
    json_t *r = NULL;
    vd_error err = {0};
    int rc = vd_batch_upload(base, NULL, path, &jo, &st, &r, &err);
    const char *v = json_string_value(json_object_get(r, "video_id"));
    int ok = !rc && st == 202 && v;
    if (ok) snprintf(id, 17, "%s", v);
    if (!ok) fprintf(stderr, "upload: rc %d HTTP %ld %s\n", rc, st, err.msg);
    json_decref(r);
    return ok;
}

/* Poll until the video is done or failed, or ms pass; calls tick (may be NULL) each round. */
static json_t *bt_wait_done(const char *base, const char *id, int ms,
                            void (*tick)(void *, json_t *), void *arg)
{
    double end = vd_now_ms() + ms;
    while (vd_now_ms() < end) {
        json_t *st = bt_stats(base, id);
        if (st && (!strcmp(bt_state(st), "done") || !strcmp(bt_state(st), "failed"))) return st;
        if (tick) tick(arg, st);
        json_decref(st);
        usleep(100000);
    }
    return NULL;
}

/* The reference: `vdag run` over the first n frames, one JSON object per frame. */
static json_t *bt_reference(const char *video, int n)
{
    char out[] = "/tmp/vdag-ref-XXXXXX";
    int fd = mkstemp(out);
    if (fd < 0) return NULL;
    close(fd);
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "%s run --video %s --pipeline object_detection --model object_detection=1 "
             "--frames %d --threads 1 --results %s --quiet >/dev/null",
             VDAG_BIN, video, n, out);
    int rc;
    free(vt_run(cmd, &rc));
    json_t *arr = json_array();
    FILE *f = fopen(out, "r");
    char *line = NULL;
    size_t cap = 0;
    while (f && getline(&line, &cap, f) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        if (j) json_array_append_new(arr, j);
    }
    free(line);
    if (f) fclose(f);
    unlink(out);
    return rc == 0 ? arr : (json_decref(arr), NULL);
}

/* Frames left out: pairs [skip[2i], skip[2i+1]) for i < n. */
static int bt_skipped(long long f, const long long *skip, int n)
{
    for (int i = 0; i < n; i++)
        if (f >= skip[2 * i] && f < skip[2 * i + 1]) return 1;
    return 0;
}

/* The per-class statistics the reference implies for its frames, those skipped excepted. */
static json_t *bt_ref_classes(json_t *ref, const long long *skip, int n_skip)
{
    json_t *cls = json_object();
    size_t i;
    json_t *r;
    json_array_foreach(ref, i, r)
    {
        if (bt_skipped(bt_int(r, "cam_frame_id"), skip, n_skip)) continue;
        const char *k;
        json_t *v;
        json_object_foreach(
            json_object_get(json_object_get(json_object_get(r, "stages"), "object_detection"),
                            "counts"),
            k, v)
        {
            json_t *c = json_object_get(cls, k);
            if (!c) {
                c = json_pack("{s:I,s:I,s:I}", "detections", (json_int_t)0, "frames", (json_int_t)0,
                              "max_in_frame", (json_int_t)0);
                json_object_set_new(cls, k, c);
            }
            json_int_t n = json_integer_value(v);
            json_object_set_new(c, "detections", json_integer(bt_int(c, "detections") + n));
            json_object_set_new(c, "frames", json_integer(bt_int(c, "frames") + 1));
            if (n > bt_int(c, "max_in_frame"))
                json_object_set_new(c, "max_in_frame", json_integer(n));
        }
    }
    return cls;
}

/* Every frame of the video's /frames equals the reference's (labels, boxes, scores), each frame
 * once, and exactly the frames not skipped are there. */
static int bt_frames_equal(const char *base, const char *id, json_t *ref, const long long *skip,
                           int n_skip)
{
    char url[300];
    snprintf(url, sizeof url, "%s/videos/%s/frames", base, id);
    json_t *fr = bt_http("GET", url, NULL);
    json_t *got = json_object_get(fr, "frames");
    size_t want = 0, i;
    json_t *r;
    json_array_foreach(ref, i, r) want += !bt_skipped(bt_int(r, "cam_frame_id"), skip, n_skip);
    int ok = json_array_size(got) == want;
    if (!ok) fprintf(stderr, "frames: %zu stored, %zu expected\n", json_array_size(got), want);
    json_t *seen = json_object();
    json_t *g;
    json_array_foreach(got, i, g)
    {
        char k[32];
        long long f = bt_int(g, "f");
        snprintf(k, sizeof k, "%lld", f);
        if (json_object_get(seen, k) || f < 0 || (size_t)f >= json_array_size(ref) ||
            bt_skipped(f, skip, n_skip)) {
            ok = 0;
            continue;
        }
        json_object_set_new(seen, k, json_true());
        json_t *od = json_object_get(json_object_get(json_array_get(ref, (size_t)f), "stages"),
                                     "object_detection");
        if (!json_equal(json_object_get(od, "labels"), json_object_get(g, "labels"))) {
            fprintf(stderr, "frame %lld: labels differ\n", f);
            ok = 0;
            continue;
        }
        json_t *ba = json_object_get(od, "bbox"), *bb = json_object_get(g, "bbox");
        for (size_t b = 0; b < json_array_size(ba); b++)
            for (size_t c = 0; c < 4; c++)
                if (fabs(json_number_value(json_array_get(json_array_get(ba, b), c)) -
                         json_number_value(json_array_get(json_array_get(bb, b), c))) > 1e-3)
                    ok = 0;
        json_t *sa = json_object_get(od, "scores"), *sb = json_object_get(g, "scores");
        for (size_t b = 0; b < json_array_size(sa); b++)
            if (fabs(json_number_value(json_array_get(sa, b)) -
                     json_number_value(json_array_get(sb, b))) > 1e-5)
                ok = 0;
    }
    json_decref(seen);
    json_decref(fr);
    return ok;
}

#endif
