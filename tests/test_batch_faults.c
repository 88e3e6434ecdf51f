/* Batch mode on a real nats-server (vd_nats_server_start: JetStream, temp store) with the API
 * server (`vdag cloud`) and workers (`vdag worker`) as separate processes, under faults:
 *   - workers killed with SIGKILL at random moments, 6 times, while more start;
 *   - a poison item (every worker fails it) and an item that kills every worker that takes it:
 *     both reach the dead-letter stream after max_deliver, are reported failed, the rest
 *     completes;
 *   - the API server killed with SIGKILL mid-video and started again;
 *   - nats-server killed mid-video and restarted on the same store.
 * Each time every frame is counted exactly once and the statistics and the detections of each
 * frame equal those of `vdag run` over the same frames. */
#include <time.h>

#include "batch_util.h"

#define N    120 /* frames of vtest.avi for the killed workers */
#define N2   60  /* for the other cases */
#define ITEM 5   /* frames per item */
#define MAXW 16

static char nats[128], base[64], listen_on[64], data[256], logpath[300];
static const char *video;
static pid_t cloud;
static pid_t workers[MAXW];
static int n_workers;
static json_t *ref;

/* Attempts per item: more than the workers the kill test kills (6), so that no item can use
 * them all up on workers killed while they held it (an item dead-lettered by kills alone
 * would be a lost frame the test did not mean). */
#define MAX_DELIVER 8

static void start_cloud(void)
{
    char md[8];
    snprintf(md, sizeof md, "%d", MAX_DELIVER);
    const char *a[] = {"cloud",         "--listen", listen_on, "--nats",     nats,
                       "--no-profile",  "--data",   data,      "--ack-wait", "1.5s",
                       "--max-deliver", md,         NULL};
    cloud = bt_spawn(logpath, a);
    CHECKF(bt_wait_http(base, 20000), "the API server did not come up: see %s", logpath);
}

static void start_worker(const char *extra1, const char *extra2, const char *extra3,
                         const char *extra4)
{
    if (n_workers == MAXW) return;
    const char *a[] = {"worker", "--nats", nats, extra1, extra2, extra3, extra4, NULL};
    workers[n_workers++] = bt_spawn(logpath, a);
}

static void stop_workers(void)
{
    for (int i = 0; i < n_workers; i++) bt_stop(workers[i]);
    n_workers = 0;
}

/* The statistics of a finished video equal the reference's, skipped frames excepted. */
static void check_exact(const char *what, const char *id, json_t *st, int n, const long long *skip,
                        int n_skip)
{
    CHECKF(st && !strcmp(bt_state(st), "done"), "%s: state %s", what, bt_state(st));
    long long want = N;
    for (int i = 0; i < n_skip; i++) want -= skip[2 * i + 1] - skip[2 * i];
    CHECKF(bt_int(st, "frames_processed") == want, "%s: %lld frames processed, %lld expected", what,
           bt_int(st, "frames_processed"), want);
    CHECKF(bt_int(st, "frames_expected") == n, "%s", what);
    json_t *cls = bt_ref_classes(ref, skip, n_skip);
    CHECKF(json_equal(cls, json_object_get(st, "classes")), "%s: classes differ:\n%s\n%s", what,
           json_dumps(cls, JSON_COMPACT), json_dumps(json_object_get(st, "classes"), JSON_COMPACT));
    json_decref(cls);
    CHECKF(bt_frames_equal(base, id, ref, skip, n_skip), "%s: per-frame detections differ", what);
    long long shared = 0;
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(st, "workers"), i, w) shared += bt_int(w, "frames");
    CHECKF(shared == want, "%s: workers' shares add up to %lld", what, shared);
}

/* ---- workers killed at random moments ----------------------------------------------------- */

typedef struct killer {
    int kills;
    double next;
} killer;

static void kill_tick(void *arg, json_t *st)
{
    (void)st;
    killer *k = arg;
    double now = vd_now_ms();
    if (k->kills >= 6 || now < k->next) return;
    int alive[MAXW], n = 0;
    for (int i = 0; i < n_workers; i++)
        if (bt_alive(workers[i])) alive[n++] = i;
    if (n) {
        int v = alive[rand() % n];
        bt_kill9(workers[v]);
        workers[v] = 0;
        k->kills++;
    }
    start_worker(NULL, NULL, NULL, NULL); /* one more starts each time, twice every other time */
    if (k->kills % 2) start_worker(NULL, NULL, NULL, NULL);
    k->next = now + 500 + rand() % 700;
}

static void workers_killed(void)
{
    start_worker(NULL, NULL, NULL, NULL);
    start_worker(NULL, NULL, NULL, NULL);
    char id[32];
    if (!bt_upload(base, video, N, ITEM, id)) {
        CHECK(0);
        return;
    }
    killer k = {0, vd_now_ms() + 700};
    json_t *st = bt_wait_done(base, id, 150000, kill_tick, &k);
    CHECKF(k.kills >= 5, "only %d workers killed before the video was done", k.kills);
    fprintf(stderr, "workers killed: %d kills, %d workers started, %.1f s wall\n", k.kills,
            n_workers, json_number_value(json_object_get(st, "wall_s")));
    check_exact("workers killed", id, st, N, NULL, 0);
    CHECK(st && bt_int(json_object_get(st, "items"), "failed") == 0);
    json_decref(st);
    stop_workers();
}

/* ---- a poison item and a crashing item ------------------------------------------------------ */

typedef struct sup {
    int restarts;
} sup;

/* Keep two workers running: restart the ones the crashing item killed. */
static void supervise(void *arg, json_t *st)
{
    (void)st;
    sup *s = arg;
    for (int i = 0; i < n_workers; i++)
        if (workers[i] && !bt_alive(workers[i])) {
            workers[i] =
                bt_spawn(logpath, (const char *[]){"worker", "--nats", nats, "--fail-frame", "17",
                                                   "--crash-frame", "42", NULL});
            s->restarts++;
        }
}

static void poison(void)
{
    start_worker("--fail-frame", "17", "--crash-frame", "42");
    start_worker("--fail-frame", "17", "--crash-frame", "42");
    char id[32];
    if (!bt_upload(base, video, N2, ITEM, id)) {
        CHECK(0);
        return;
    }
    sup s = {0};
    json_t *st = bt_wait_done(base, id, 150000, supervise, &s);
    CHECKF(st && !strcmp(bt_state(st), "done"), "poison: %s", bt_state(st));
    json_t *items = json_object_get(st, "items");
    CHECKF(bt_int(items, "failed") == 2 && bt_int(items, "done") == N2 / ITEM - 2,
           "poison: %lld failed, %lld done", bt_int(items, "failed"), bt_int(items, "done"));
    CHECKF(bt_int(items, "dead_letters") == 2, "poison: %lld dead letters",
           bt_int(items, "dead_letters"));
    CHECK(bt_int(st, "frames_failed") == 2 * ITEM);
    CHECKF(s.restarts >= 3, "the crashing item killed %d workers", s.restarts);
    fprintf(stderr, "poison: the crashing item killed %d workers, %.1f s wall\n", s.restarts,
            json_number_value(json_object_get(st, "wall_s")));
    json_t *fi = json_object_get(st, "failed_items");
    json_t *a = json_array_get(fi, 0), *b = json_array_get(fi, 1);
    if (a && bt_int(a, "first") > bt_int(b, "first")) {
        json_t *t = a;
        a = b, b = t;
    }
    CHECKF(a && bt_int(a, "first") == 15 && bt_int(a, "frames") == ITEM &&
               strstr(json_string_value(json_object_get(a, "error")), "fault injection") &&
               bt_int(a, "deliveries") == MAX_DELIVER,
           "poison item: %s", json_dumps(a, JSON_COMPACT));
    char after[32];
    snprintf(after, sizeof after, "after %d deliveries", MAX_DELIVER);
    CHECKF(b && bt_int(b, "first") == 40 &&
               strstr(json_string_value(json_object_get(b, "error")), after),
           "crashing item: %s", json_dumps(b, JSON_COMPACT));
    /* the rest is exact; the two items' frames are missing, not guessed */
    static const long long skip[] = {15, 20, 40, 45, N2, N};
    check_exact("poison", id, st, N2, skip, 3);
    json_decref(st);
    stop_workers();
    /* DELETE removes its items, dead letters and results from JetStream */
    char url[200];
    snprintf(url, sizeof url, "%s/videos/%s", base, id);
    long code = 0;
    json_decref(bt_http("DELETE", url, &code));
    CHECK(code == 200);
    json_decref(bt_http("GET", url, &code));
    CHECK(code == 404);
}

/* ---- the API server killed, nats-server restarted ------------------------------------------ */

typedef struct once {
    int done;
    void (*fn)(void);
} once;

static void when_started(void *arg, json_t *st)
{
    once *o = arg;
    if (o->done || bt_int(st, "frames_processed") < 15) return;
    o->done = 1;
    o->fn();
}

static vd_nats_server *ns;

static void kill_cloud(void)
{
    bt_kill9(cloud);
    usleep(800000); /* the workers go on meanwhile */
    start_cloud();
}

static void restart_nats(void)
{
    vd_error err = {0};
    vd_nats_server_kill(ns);
    usleep(500000);
    CHECKF(vd_nats_server_restart(ns, &err) == 0, "%s", err.msg);
}

static void disruption(const char *what, void (*fn)(void))
{
    start_worker(NULL, NULL, NULL, NULL);
    start_worker(NULL, NULL, NULL, NULL);
    char id[32];
    if (!bt_upload(base, video, N2, ITEM, id)) {
        CHECK(0);
        return;
    }
    once o = {0, fn};
    json_t *st = bt_wait_done(base, id, 150000, when_started, &o);
    CHECKF(o.done, "%s: the video finished before the disruption", what);
    fprintf(stderr, "%s: %.1f s wall\n", what, json_number_value(json_object_get(st, "wall_s")));
    static const long long tail[] = {N2, N};
    check_exact(what, id, st, N2, tail, 1);
    json_decref(st);
    stop_workers();
}

int main(void)
{
    srand((unsigned)time(NULL));
    video = vt_media("vtest.avi");
    vd_error err = {0};
    vd_nats_server_opts no = {.max_payload = "16MB"};
    if (vd_nats_server_start(&no, &ns, &err)) {
        CHECKF(0, "%s", err.msg);
        return vt_finish();
    }
    snprintf(nats, sizeof nats, "%s", vd_nats_server_url(ns));
    char dir[] = "/tmp/vdag-batch-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(logpath, sizeof logpath, "%s/log", dir);
    int port = 20000 + (int)(getpid() % 20000);
    snprintf(listen_on, sizeof listen_on, "127.0.0.1:%d", port);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    ref = bt_reference(video, N);
    CHECKF(json_array_size(ref) == N, "vdag run reference: %zu frames", json_array_size(ref));
    start_cloud();
    if (json_array_size(ref) == N && bt_alive(cloud)) {
        workers_killed();
        poison();
        disruption("API server killed", kill_cloud);
        disruption("nats-server restarted", restart_nats);
    }
    bt_stop(cloud);
    stop_workers();
    char grep[400];
    snprintf(grep, sizeof grep, "grep -c 'Sanitizer\\|runtime error' %s", logpath);
    int grc;
    char *hits = vt_run(grep, &grc);
    CHECKF(grc != 0, "sanitizer reports in %s: %s", logpath, hits);
    free(hits);
    if (vt_fail) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "tail -n 40 %s >&2", logpath);
        int rc;
        free(vt_run(cmd, &rc));
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    int rc;
    free(vt_run(cmd, &rc));
    json_decref(ref);
    vd_nats_server_stop(ns);
    return vt_finish();
}
