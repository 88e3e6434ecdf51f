/* The batch API side and workers in one process on the in-process queue:
 *   - items that run longer than ack_wait are kept by in-progress acks (none redelivered);
 *   - the janitor fails an upload whose ingest stopped half-way (its record went stale) and
 *     leaves a fresh one alone;
 *   - a client that disconnects in the middle of an upload leaves nothing behind;
 *   - DELETE removes results and segments. */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "vdag/base.h"
#include "vdag/batch.h"

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

static json_t *wait_done(vd_batch *b, const char *id, int ms)
{
    for (int i = 0; i < ms / 50; i++) {
        json_t *st = NULL;
        vd_error err;
        if (!vd_batch_get(b, id, &st, &err)) {
            const char *s = json_string_value(json_object_get(st, "state"));
            if (s && (!strcmp(s, "done") || !strcmp(s, "failed"))) return st;
        }
        json_decref(st);
        usleep(50000);
    }
    return NULL;
}

int main(void)
{
    char dir[] = "/tmp/vdag-batchapi-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char data[300], blobs[300];
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(blobs, sizeof blobs, "%s/blobs", dir);
    vd_error err = {0};
    vd_queue *q = NULL;
    vd_queue_opts qo = {.ack_wait_ms = 1000, .max_deliver = 3, .dir = blobs};
    CHECK(vd_queue_inproc_new(&qo, &q, &err) == 0);
    vd_batch *b = NULL;
    vd_batch_opts bo = {.q = q, .data_dir = data};
    CHECKF(vd_batch_new(&bo, &b, &err) == 0, "%s", err.msg);
    vd_worker *w = NULL;
    vd_worker_opts wo = {.q = q, .threads = 2, .preload_model = 1};
    CHECKF(vd_worker_start(&wo, &w, &err) == 0, "%s", err.msg);

    /* items of 60 frames take well over the 1 s ack_wait: progress acks keep them */
    vd_batch_job_opts jo;
    vd_batch_job_defaults(&jo);
    jo.max_frames = 180;
    jo.item_frames = 60;
    json_t *reply = NULL;
    CHECKF(vd_batch_submit(b, vt_media("vtest.avi"), &jo, &reply, &err) == 0, "%s", err.msg);
    char id[32] = "";
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(reply, "video_id")));
    CHECK(json_integer_value(json_object_get(reply, "items")) == 3);
    json_decref(reply);
    json_t *st = wait_done(b, id, 300000); /* a wait, not a bound: a loaded machine is slow */
    CHECK(st != NULL);
    if (!st) return vt_finish(); /* what follows reads its statistics */
    json_t *items = json_object_get(st, "items");
    CHECKF(json_integer_value(json_object_get(items, "done")) == 3, "%s",
           json_dumps(st, JSON_COMPACT));
    CHECKF(json_integer_value(json_object_get(items, "redelivered")) == 0,
           "items redelivered although in progress: %s", json_dumps(items, JSON_COMPACT));
    CHECK(json_integer_value(json_object_get(st, "frames_processed")) == 180);
    for (int i = 0; i < 40 && entries(blobs); i++) usleep(50000); /* the janitor's round */
    CHECK(entries(blobs) == 0); /* a finished video's segments are dropped */
    json_decref(st);
    json_t *fr = NULL;
    CHECK(vd_batch_frames(b, id, &fr, &err) == 0 &&
          json_array_size(json_object_get(fr, "frames")) == 180);
    json_decref(fr);
    CHECK(vd_batch_delete(b, id, &err) == 0);
    CHECK(vd_batch_get(b, id, &st, &err) == VD_ENOTFOUND);
    vd_buf v;
    char key[64];
    snprintf(key, sizeof key, "%s.f.0", id);
    CHECK(q->ops->kv_get(q, VD_KV_RESULTS, key, &v, &err) == VD_ENOTFOUND);

    /* deleted while workers run its items: nothing of it stays behind */
    jo.max_frames = 60;
    jo.item_frames = 10;
    CHECK(vd_batch_submit(b, vt_media("vtest.avi"), &jo, &reply, &err) == 0);
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(reply, "video_id")));
    json_decref(reply);
    for (int i = 0; i < 400; i++) { /* until its first item is in */
        st = NULL;
        if (!vd_batch_get(b, id, &st, &err) &&
            json_integer_value(json_object_get(st, "frames_processed")) > 0)
            i = 400;
        json_decref(st);
        usleep(25000);
    }
    CHECK(vd_batch_delete(b, id, &err) == 0);
    usleep(2500000); /* the items in flight finish */
    int left = 0;
    for (int f = 0; f < 60; f++) {
        snprintf(key, sizeof key, "%s.f.%d", id, f);
        if (q->ops->kv_get(q, VD_KV_RESULTS, key, &v, &err) == 0) left++, vd_buf_free(&v);
    }
    CHECKF(left == 0, "%d results of a deleted video left", left);
    CHECK(vd_batch_get(b, id, &st, &err) == VD_ENOTFOUND);

    /* an interrupted ingest: a record "ingesting" nobody refreshes */
    json_t *r =
        json_pack("{s:s,s:s,s:s,s:I,s:i}", "id", "0123456789abcdef", "name", "stale", "state",
                  "ingesting", "created_ms", (json_int_t)(time(NULL) - 120) * 1000, "items", 3);
    char *s = json_dumps(r, JSON_COMPACT);
    CHECK(q->ops->kv_put(q, VD_KV_META, "0123456789abcdef", s, strlen(s), &err) == 0);
    free(s);
    json_decref(r);
    r = json_pack("{s:s,s:s,s:s,s:I,s:i}", "id", "fedcba9876543210", "name", "fresh", "state",
                  "ingesting", "created_ms", (json_int_t)time(NULL) * 1000, "items", 3);
    s = json_dumps(r, JSON_COMPACT);
    CHECK(q->ops->kv_put(q, VD_KV_META, "fedcba9876543210", s, strlen(s), &err) == 0);
    free(s);
    json_decref(r);
    st = wait_done(b, "0123456789abcdef", 5000);
    CHECKF(st && !strcmp(json_string_value(json_object_get(st, "state")), "failed") &&
               strstr(json_string_value(json_object_get(st, "error")), "interrupted"),
           "%s", st ? json_dumps(st, JSON_COMPACT) : "no answer");
    json_decref(st);
    CHECK(vd_batch_get(b, "fedcba9876543210", &st, &err) == 0 &&
          !strcmp(json_string_value(json_object_get(st, "state")), "queued"));
    json_decref(st);

    /* a client gone half-way through an upload */
    vd_http_route routes[8];
    int nr = vd_batch_routes(b, routes, 8);
    vd_http_server *srv = NULL;
    vd_http_opts ho = {.routes = routes, .n_routes = nr};
    CHECK(vd_http_server_start(&ho, &srv, &err) == 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)vd_http_server_port(srv)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    const char *hdr = "POST /videos HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\n"
                      "Content-Length: 5000000\r\n\r\n";
    CHECK(write(fd, hdr, strlen(hdr)) == (ssize_t)strlen(hdr));
    static char chunk[200000];
    CHECK(write(fd, chunk, sizeof chunk) == (ssize_t)sizeof chunk);
    usleep(300000);
    CHECK(entries(data) == 1); /* the upload is being stored */
    close(fd);
    for (int i = 0; i < 40 && entries(data); i++) usleep(50000);
    CHECKF(entries(data) == 0, "%d entries left in %s", entries(data), data);
    json_t *list = vd_batch_list(b);
    CHECK(json_array_size(json_object_get(list, "videos")) == 2); /* the two records above */
    json_decref(list);
    vd_http_server_stop(srv);

    vd_worker_stop(w);
    vd_batch_free(b);
    vd_queue_close(q);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    int rc;
    free(vt_run(cmd, &rc));
    return vt_finish();
}
