/*
 * The batch client: a streamed upload (libcurl reads the file as it sends it, so a 2 GiB
 * video never sits in memory) and the text forms of the statistics, including the seed's
 * five lines.
 */
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "batch/batch_internal.h"

typedef struct body {
    unsigned char *data;
    size_t len, cap;
} body;

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
    return fread(buf, 1, size * n, arg);
}

static size_t on_write(char *p, size_t size, size_t n, void *arg)
{
    body *b = arg;
    size_t k = size * n;
    if (b->len + k + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + k + 1) cap *= 2;
        if (cap > (64u << 20)) return 0;
        unsigned char *d = realloc(b->data, cap);
        if (!d) return 0;
        b->data = d, b->cap = cap;
    }
    memcpy(b->data + b->len, p, k);
    b->len += k;
    b->data[b->len] = 0;
    return k;
}

/* "&key=value" with the value URL-encoded. */
static void add_arg(CURL *h, char *q, size_t cap, const char *key, const char *val)
{
    char *e = curl_easy_escape(h, val, 0);
    size_t l = strlen(q);
    snprintf(q + l, cap - l, "%s%s=%s", l ? "&" : "", key, e ? e : "");
    curl_free(e);
}

int vd_batch_upload(const char *server, const char *token, const char *path,
                    const vd_batch_job_opts *jo, long *http_status, json_t **reply, vd_error *err)
{
    *reply = NULL;
    *http_status = 0;
    struct stat sb;
    FILE *f = fopen(path, "rb");
    if (!f || fstat(fileno(f), &sb))
        return vd_fail(err, VD_EIO, "%s: cannot read: %s", path, strerror(errno));
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fclose(f);
        return vd_fail(err, VD_EBACKEND, "libcurl failed to initialise");
    }
    CURL *h = curl_easy_init();
    if (!h) {
        fclose(f);
        return vd_fail(err, VD_ENOMEM, "cannot create a libcurl handle");
    }
    char q[1200] = "", num[64], url[1600], auth[600];
    const char *base = strrchr(path, '/');
    add_arg(h, q, sizeof q, "name", jo->name[0] ? jo->name : base ? base + 1 : path);
    static const char *const models[] = {"centernet", "nanodet"};
    add_arg(h, q, sizeof q, "model", models[jo->model_id == 0 ? 0 : 1]);
    if (jo->resolution_h > 0) snprintf(num, sizeof num, "%dp", jo->resolution_h);
    add_arg(h, q, sizeof q, "resolution", jo->resolution_h > 0 ? num : "native");
#define NUM_ARG(key, fmt, v, cond)                                                                 \
    if (cond) {                                                                                    \
        snprintf(num, sizeof num, fmt, v);                                                         \
        add_arg(h, q, sizeof q, key, num);                                                         \
    }
    NUM_ARG("min_score", "%g", jo->min_score, jo->min_score > 0)
    NUM_ARG("iou", "%g", jo->iou, jo->iou > 0)
    NUM_ARG("ntracking", "%d", jo->ntracking, jo->ntracking > 0)
    NUM_ARG("item_frames", "%d", jo->item_frames, jo->item_frames > 0)
    NUM_ARG("frames", "%lld", (long long)jo->max_frames, jo->max_frames > 0)
#undef NUM_ARG
    snprintf(url, sizeof url, "%s/videos?%s", server, q);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/octet-stream");
    if (token && *token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    body b = {0};
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)sb.st_size);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, f);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    CURLcode c = curl_easy_perform(h);
    int rc = 0;
    if (c != CURLE_OK) {
        rc = vd_fail(err, c == CURLE_COULDNT_CONNECT ? VD_ECONN : VD_EIO, "POST %s/videos: %s%s",
                     server, ebuf[0] ? ebuf : curl_easy_strerror(c),
                     c == CURLE_COULDNT_CONNECT ? ": is the server running (vdag cloud or vdag "
                                                  "run --listen)?"
                                                : "");
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, http_status);
        json_error_t je;
        *reply = b.data ? json_loadb((const char *)b.data, b.len, 0, &je) : NULL;
        if (!*reply)
            rc = vd_fail(err, VD_EFORMAT, "POST %s/videos: HTTP %ld with a reply that is not JSON",
                         server, *http_status);
    }
    free(b.data);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    fclose(f);
    return rc;
}

/* ---- output ------------------------------------------------------------------------------ */

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static long long num(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

void vd_batch_print_stats(FILE *f, json_t *s)
{
    json_t *items = json_object_get(s, "items");
    fprintf(f, "video %s  %s  %s  model %s  %s\n", str(s, "video_id"), str(s, "name"),
            str(s, "state"), str(s, "model"), str(s, "resolution"));
    fprintf(f, "frames      %lld of %lld processed", num(s, "frames_processed"),
            num(s, "frames_expected"));
    if (num(s, "frames_failed")) fprintf(f, ", %lld failed", num(s, "frames_failed"));
    if (num(s, "frames_undecodable"))
        fprintf(f, ", %lld undecodable", num(s, "frames_undecodable"));
    if (json_is_integer(json_object_get(s, "truncated_at")))
        fprintf(f, " (the file is truncated at frame %lld)", num(s, "truncated_at"));
    fprintf(f, "\nitems       %lld done, %lld failed of %lld", num(items, "done"),
            num(items, "failed"), num(items, "total"));
    if (num(items, "dead_letters")) fprintf(f, " (%lld dead letters)", num(items, "dead_letters"));
    fprintf(f,
            "\ntime        %.2f s wall, %.1f frames/s; model %.1f ms/frame, decode %.1f "
            "ms/frame\n",
            json_number_value(json_object_get(s, "wall_s")),
            json_number_value(json_object_get(s, "fps")),
            json_number_value(json_object_get(s, "avg_ms_per_frame")),
            json_number_value(json_object_get(s, "decode_ms_per_frame")));
    if (json_object_get(s, "error")) fprintf(f, "error       %s\n", str(s, "error"));
    json_t *classes = json_object_get(s, "classes");
    if (json_object_size(classes)) {
        fprintf(f, "\n%-16s %10s %8s %10s\n", "class", "detections", "frames", "max/frame");
        const char *k;
        json_t *v;
        /* the object keeps the server's order: most detections first */
        json_object_foreach(classes, k, v)
            fprintf(f, "%-16s %10lld %8lld %10lld\n", k, num(v, "detections"), num(v, "frames"),
                    num(v, "max_in_frame"));
    }
    size_t i;
    json_t *w;
    json_t *ws = json_object_get(s, "workers");
    if (json_array_size(ws))
        fprintf(f, "\n%-32s %8s %6s %7s\n", "worker", "frames", "items", "share");
    json_array_foreach(ws, i, w)
        fprintf(f, "%-32s %8lld %6lld %6.1f%%\n", str(w, "name"), num(w, "frames"), num(w, "items"),
                100 * json_number_value(json_object_get(w, "share")));
    json_t *fi;
    json_array_foreach(json_object_get(s, "failed_items"), i, fi)
        fprintf(f, "failed item %lld (frames %lld-%lld, %lld deliveries): %s\n", num(fi, "item"),
                num(fi, "first"), num(fi, "first") + num(fi, "frames") - 1, num(fi, "deliveries"),
                str(fi, "error"));
    /* the seed's report */
    fprintf(f, "\nProcessed frames: %lld\n", num(s, "frames_processed"));
    fprintf(f, "Average processing time per frame: %.0fms\n",
            json_number_value(json_object_get(s, "avg_ms_per_frame")));
    fprintf(f, "Person objects detected: %lld\n", num(s, "person_detections"));
    fprintf(f, "  (person detections summed over frames; at most %lld in one frame)\n",
            num(s, "person_max_in_frame"));
    fprintf(f, "Total classes detected: %lld\n", num(s, "n_classes"));
    fprintf(f, "Top 3 objects detected: ");
    json_array_foreach(json_object_get(s, "top3"), i, w)
        fprintf(f, "%s%s", i ? ", " : "", json_string_value(w));
    fprintf(f, "\n");
}

void vd_batch_print_list(FILE *f, json_t *list)
{
    json_t *vs = json_object_get(list, "videos");
    if (!json_array_size(vs)) {
        fprintf(f, "no videos\n");
        return;
    }
    fprintf(f, "%-16s  %-8s  %15s  %s\n", "video", "state", "frames", "name");
    size_t i;
    json_t *v;
    json_array_foreach(vs, i, v)
    {
        char fr[40];
        snprintf(fr, sizeof fr, "%lld/%lld", num(v, "frames_processed"), num(v, "frames_expected"));
        fprintf(f, "%-16s  %-8s  %15s  %s\n", str(v, "video_id"), str(v, "state"), fr,
                str(v, "name"));
    }
}
