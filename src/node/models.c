/*
 * Model distribution (seed 002): a node that lacks a model it is asked to run fetches it
 * from a cloud over the transport, checks every file against the SHA-256 the cloud
 * announces, and caches it; no node downloads from outside the cluster (docs/slicing.md,
 * "Model distribution").
 *
 * The cloud serves `model.get` (its own subject and the queue group, so any cloud answers):
 *   {"model": NAME}                               -> {"model", "files": [{name, size, sha256}]}
 *   {"model": NAME, "file": F, "offset": O}       -> {"size", "offset"} + up to 1 MiB of F
 * A model is <cache>/models/NAME.json and the weight shards its weightsManifest names; names
 * are single path components of [A-Za-z0-9._-] (never "." or ".."), so nothing outside the
 * models directory is ever read or written.
 *
 * The fetching side is the svc layer's model fetcher (vd_svc_set_model_fetcher): each file
 * goes to a hidden temporary file beside its place, is hashed as it arrives, and is renamed
 * into place only when every file matches; model.json last, so a loader never sees a model
 * without its weights. A file whose hash does not match is fetched again (3 tries).
 * Progress is logged and counted (vdag_model_fetch_bytes_total, vdag_model_fetches_total).
 */
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/node_internal.h"
#include "vdag/base.h"
#include "vdag/metrics.h"
#include "vdag/svc.h"

#define CHUNK      (1u << 20)
#define MAX_FILES  16
#define MAX_SIZE   (1ll << 31) /* 2 GiB per file */
#define TRIES      3
#define CALL_TO_MS 15000
#define SERVICE    "model.get"

/* ---- names and files ------------------------------------------------------------------ */

int vd__model_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 128 || s[0] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int models_dir(char *buf, size_t cap, vd_error *err)
{
    char root[900];
    if (vd_cache_dir(root, sizeof root) || snprintf(buf, cap, "%s/models", root) >= (int)cap)
        return vd_fail(err, VD_ETOOBIG, "models: the cache path is too long");
    return 0;
}

/* The files of model `name` in dir: NAME.json first, then its shards. */
static int model_files(const char *dir, const char *name, char files[][160], int *n, vd_error *err)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    if (!doc) {
        struct stat st;
        if (stat(path, &st) != 0)
            return vd_fail(err, VD_ENOTFOUND, "model '%s' is not in %s either", name, dir);
        return vd_fail(err, VD_EFORMAT, "%s: %s (line %d)", path, je.text, je.line);
    }
    *n = 0;
    snprintf(files[(*n)++], 160, "%s.json", name);
    json_t *grp, *p;
    size_t i, j;
    int rc = 0;
    json_array_foreach(json_object_get(doc, "weightsManifest"), i, grp)
    {
        json_array_foreach(json_object_get(grp, "paths"), j, p)
        {
            const char *f = json_string_value(p);
            if (rc) break;
            if (!vd__model_name_ok(f) || strlen(f) >= 160)
                rc = vd_fail(err, VD_EFORMAT, "%s: weight shard '%s' is not a plain file name",
                             path, f ? f : "(not a string)");
            else if (*n == MAX_FILES)
                rc = vd_fail(err, VD_ETOOBIG, "%s: more than %d files", path, MAX_FILES);
            else
                snprintf(files[(*n)++], 160, "%s", f);
        }
    }
    json_decref(doc);
    return rc;
}

static void hex(const unsigned char *d, int n, char *out)
{
    for (int i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

static int file_sha256(const char *path, char out[65], long long *size, vd_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return vd_fail(err, VD_EIO, "%s: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    unsigned char buf[1 << 16], md[32];
    size_t r;
    *size = 0;
    while (ok && (r = fread(buf, 1, sizeof buf, f)) > 0)
        ok = EVP_DigestUpdate(ctx, buf, r), *size += (long long)r;
    unsigned len = 0;
    ok = ok && !ferror(f) && EVP_DigestFinal_ex(ctx, md, &len) && len == 32;
    EVP_MD_CTX_free(ctx);
    fclose(f);
    if (!ok) return vd_fail(err, VD_EIO, "%s: cannot read and hash it", path);
    hex(md, 32, out);
    return 0;
}

/* ---- the serving side (a cloud) -------------------------------------------------------- */

static int reply(json_t *hdr, const void *blob, size_t n, vd_buf *resp, vd_error *err)
{
    int rc = hdr ? vd_msg_pack(hdr, blob, n, resp, err) : vd_fail(err, VD_ENOMEM, "out of memory");
    json_decref(hdr);
    return rc;
}

static int serve_manifest(const char *dir, const char *name, vd_buf *resp, vd_error *err)
{
    char files[MAX_FILES][160];
    int n = 0, rc = model_files(dir, name, files, &n, err);
    json_t *arr = json_array();
    for (int i = 0; !rc && i < n; i++) {
        char path[1200], sum[65];
        long long size = 0;
        snprintf(path, sizeof path, "%s/%.159s", dir, files[i]);
        rc = file_sha256(path, sum, &size, err);
        if (!rc)
            json_array_append_new(arr, json_pack("{s:s,s:I,s:s}", "name", files[i], "size",
                                                 (json_int_t)size, "sha256", sum));
    }
    if (rc) {
        json_decref(arr);
        return rc;
    }
    return reply(json_pack("{s:s,s:o}", "model", name, "files", arr), NULL, 0, resp, err);
}

static int serve_chunk(const char *dir, const char *name, const char *file, json_int_t off,
                       vd_buf *resp, vd_error *err)
{
    char files[MAX_FILES][160];
    int n = 0, rc = model_files(dir, name, files, &n, err), listed = 0;
    for (int i = 0; !rc && i < n; i++) listed |= !strcmp(files[i], file);
    if (rc) return rc;
    if (!listed) return vd_fail(err, VD_ENOTFOUND, "model '%s' has no file '%s'", name, file);
    char path[1200];
    snprintf(path, sizeof path, "%s/%.159s", dir, file);
    FILE *f = fopen(path, "rb");
    if (!f) return vd_fail(err, VD_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    unsigned char *buf = malloc(CHUNK);
    size_t got = 0;
    if (!buf || fstat(fileno(f), &st) || off > (json_int_t)st.st_size || fseeko(f, off, SEEK_SET)) {
        rc = buf ? vd_fail(err, VD_EINVAL, "%s: offset %lld is past its end", file, (long long)off)
                 : vd_fail(err, VD_ENOMEM, "out of memory");
    } else {
        got = fread(buf, 1, CHUNK, f);
        if (ferror(f)) rc = vd_fail(err, VD_EIO, "%s: read error", path);
    }
    fclose(f);
    if (!rc)
        rc = reply(json_pack("{s:I,s:I}", "size", (json_int_t)st.st_size, "offset", off), buf, got,
                   resp, err);
    free(buf);
    return rc;
}

static int serve_model(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    (void)arg;
    json_t *hdr = NULL;
    const unsigned char *blob;
    size_t blen;
    int rc = vd_msg_unpack(req->data, req->len, &hdr, &blob, &blen, err);
    if (rc) return rc;
    const char *name = json_string_value(json_object_get(hdr, "model"));
    json_t *file = json_object_get(hdr, "file"), *off = json_object_get(hdr, "offset");
    char dir[1000];
    if (!vd__model_name_ok(name))
        rc = vd_fail(err, VD_EINVAL, "model.get: 'model' must be a model name ([A-Za-z0-9._-])");
    else if (file && (!vd__model_name_ok(json_string_value(file)) || !json_is_integer(off) ||
                      json_integer_value(off) < 0))
        rc = vd_fail(err, VD_EINVAL,
                     "model.get: 'file' must be a file of the model and "
                     "'offset' a byte offset >= 0");
    else if (!(rc = models_dir(dir, sizeof dir, err)))
        rc = file ? serve_chunk(dir, name, json_string_value(file), json_integer_value(off), resp,
                                err)
                  : serve_manifest(dir, name, resp, err);
    json_decref(hdr);
    return rc;
}

int vd__models_serve(vd_transport *t, const char *node, vd_error *err)
{
    return t->ops->serve(t, node, SERVICE, serve_model, NULL, err);
}

/* ---- the fetching side ------------------------------------------------------------------- */

static struct {
    pthread_mutex_t fetch_mu; /* one fetch at a time in a process; held while t is used */
    pthread_mutex_t mu;       /* guards the fields below */
    vd_transport *t;
    char self[64];
    json_t *progress; /* {model: {state, bytes, total}} */
} F = {.fetch_mu = PTHREAD_MUTEX_INITIALIZER, .mu = PTHREAD_MUTEX_INITIALIZER};

static void progress(const char *name, const char *state, long long done, long long total)
{
    pthread_mutex_lock(&F.mu);
    if (!F.progress) F.progress = json_object();
    json_object_set_new(F.progress, name,
                        json_pack("{s:s,s:I,s:I}", "state", state, "bytes", (json_int_t)done,
                                  "total", (json_int_t)total));
    pthread_mutex_unlock(&F.mu);
}

static int call(const json_t *req, json_t **hdr, const unsigned char **blob, size_t *blen,
                vd_buf *resp, vd_error *err)
{
    vd_buf q = {0};
    int rc = vd_msg_pack((json_t *)req, NULL, 0, &q, err);
    if (!rc) rc = vd_transport_call(F.t, NULL, SERVICE, &q, resp, CALL_TO_MS, err);
    vd_buf_free(&q);
    if (!rc) rc = vd_msg_unpack(resp->data, resp->len, hdr, blob, blen, err);
    return rc;
}

/* One file into tmp, hashed as it arrives; VD_EFORMAT when its hash is not `want`. */
static int fetch_file(const char *name, const char *file, long long size, const char *want,
                      const char *tmp, long long *done, long long total, vd_error *err)
{
    FILE *f = fopen(tmp, "wb");
    if (!f) return vd_fail(err, VD_EIO, "%s: %s", tmp, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)
                 ? 0
                 : vd_fail(err, VD_EBACKEND, "OpenSSL: cannot start a SHA-256 digest");
    long long off = 0, next_log = total / 4;
    while (!rc && off < size) {
        json_t *req = json_pack("{s:s,s:s,s:I}", "model", name, "file", file, "offset",
                                (json_int_t)off),
               *hdr = NULL;
        const unsigned char *blob = NULL;
        size_t blen = 0;
        vd_buf resp = {0};
        rc = req ? call(req, &hdr, &blob, &blen, &resp, err) : vd_fail(err, VD_ENOMEM, "oom");
        json_decref(req);
        if (!rc && (json_integer_value(json_object_get(hdr, "offset")) != off ||
                    json_integer_value(json_object_get(hdr, "size")) != size || blen == 0 ||
                    (long long)blen > size - off))
            rc = vd_fail(err, VD_EFORMAT,
                         "model '%s': the cloud's answer for %s at %lld does "
                         "not fit the file (%lld bytes)",
                         name, file, off, size);
        if (!rc && (fwrite(blob, 1, blen, f) != blen || !EVP_DigestUpdate(ctx, blob, blen)))
            rc = vd_fail(err, VD_EIO, "%s: cannot write: %s", tmp, strerror(errno));
        json_decref(hdr);
        vd_buf_free(&resp);
        if (rc) break;
        off += (long long)blen;
        *done += (long long)blen;
        vd_metric_add("vdag_model_fetch_bytes_total", NULL, (double)blen);
        progress(name, "fetching", *done, total);
        if (*done >= next_log && *done < total) {
            fprintf(stderr, "vdag %s: model %s: %.1f of %.1f MB (%.0f %%)\n", F.self, name,
                    (double)*done / 1e6, (double)total / 1e6,
                    100.0 * (double)*done / (double)total);
            next_log += total / 4;
        }
    }
    unsigned char md[32];
    unsigned len = 0;
    char got[65];
    if (!rc && (!EVP_DigestFinal_ex(ctx, md, &len) || len != 32))
        rc = vd_fail(err, VD_EBACKEND, "OpenSSL: SHA-256 failed");
    EVP_MD_CTX_free(ctx);
    if (fclose(f) && !rc) rc = vd_fail(err, VD_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    if (!rc) {
        hex(md, 32, got);
        if (strcmp(got, want))
            rc = vd_fail(err, VD_EFORMAT,
                         "model '%s': %s arrived with SHA-256 %.16s…, the cloud "
                         "announced %.16s…",
                         name, file, got, want);
    }
    return rc;
}

/* The files of the manifest `m`, checked: names, sizes, hashes. */
static int check_manifest(const char *name, json_t *m, vd_error *err)
{
    json_t *files = json_object_get(m, "files"), *fe;
    size_t i, n = json_array_size(files);
    char first[160];
    snprintf(first, sizeof first, "%s.json", name);
    if (n == 0 || n > MAX_FILES)
        return vd_fail(err, VD_EFORMAT, "model '%s': the cloud's manifest lists %zu files", name,
                       n);
    json_array_foreach(files, i, fe)
    {
        const char *fn = json_string_value(json_object_get(fe, "name")),
                   *sum = json_string_value(json_object_get(fe, "sha256"));
        json_int_t size = json_integer_value(json_object_get(fe, "size"));
        if (!vd__model_name_ok(fn) || strlen(fn) >= 160 || (i == 0 && strcmp(fn, first)) || !sum ||
            strlen(sum) != 64 || strspn(sum, "0123456789abcdef") != 64 || size < 0 ||
            size > MAX_SIZE)
            return vd_fail(err, VD_EFORMAT,
                           "model '%s': the cloud's manifest entry %zu is "
                           "malformed",
                           name, i);
    }
    return 0;
}

static int fetch(const char *name, vd_error *err)
{
    char dir[1000], path[1200];
    int rc = models_dir(dir, sizeof dir, err);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    if (access(path, R_OK) == 0) return 0; /* another thread fetched it meanwhile */
    mkdir(dir, 0755);
    json_t *req = json_pack("{s:s}", "model", name), *m = NULL;
    const unsigned char *blob;
    size_t blen;
    vd_buf resp = {0};
    rc = call(req, &m, &blob, &blen, &resp, err);
    json_decref(req);
    vd_buf_free(&resp);
    if (rc == VD_ENOTFOUND)
        rc = vd_fail(err, VD_ENOTFOUND,
                     "model '%s' is missing here and no cloud serves models "
                     "(%s): copy it into %s",
                     name, err->msg, dir);
    if (!rc) rc = check_manifest(name, m, err);
    json_t *files = json_object_get(m, "files"), *fe;
    size_t i, n = json_array_size(files);
    long long total = 0, done = 0;
    json_array_foreach(files, i, fe) total += json_integer_value(json_object_get(fe, "size"));
    if (!rc)
        fprintf(stderr,
                "vdag %s: model %s is not here: fetching %zu file(s), %.1f MB, from the "
                "cloud\n",
                F.self, name, n, (double)total / 1e6);
    char tmps[MAX_FILES][1300];
    for (i = 0; !rc && i < n; i++) {
        fe = json_array_get(files, i);
        const char *fn = json_string_value(json_object_get(fe, "name"));
        snprintf(tmps[i], sizeof tmps[i], "%s/.%s.part-%d", dir, fn, (int)getpid());
        for (int attempt = 1;; attempt++) {
            long long before = done;
            rc = fetch_file(name, fn, (long long)json_integer_value(json_object_get(fe, "size")),
                            json_string_value(json_object_get(fe, "sha256")), tmps[i], &done, total,
                            err);
            if (rc != VD_EFORMAT || attempt == TRIES) break;
            fprintf(stderr, "vdag %s: %s: fetching it again (try %d of %d)\n", F.self, err->msg,
                    attempt + 1, TRIES);
            vd_metric_add("vdag_model_fetches_total",
                          vd_metrics_labels((char[96]){0}, 96, "result", "retried", (char *)NULL),
                          1);
            done = before;
        }
    }
    /* into place, model.json last */
    for (size_t k = n; !rc && k-- > 0;) {
        char dst[1200];
        snprintf(dst, sizeof dst, "%s/%s", dir,
                 json_string_value(json_object_get(json_array_get(files, k), "name")));
        if (rename(tmps[k], dst))
            rc = vd_fail(err, VD_EIO, "%s: cannot move it into place: %s", dst, strerror(errno));
    }
    if (rc)
        for (size_t k = 0; k < i && k < n; k++) unlink(tmps[k]);
    progress(name, rc ? "failed" : "ok", done, total);
    vd_metric_add(
        "vdag_model_fetches_total",
        vd_metrics_labels((char[96]){0}, 96, "result", rc ? "failed" : "ok", (char *)NULL), 1);
    if (!rc)
        fprintf(stderr, "vdag %s: model %s fetched and checked (%.1f MB)\n", F.self, name,
                (double)total / 1e6);
    json_decref(m);
    return rc;
}

static int fetcher(void *arg, const char *name, vd_error *err)
{
    (void)arg;
    if (!vd__model_name_ok(name))
        return vd_fail(err, VD_ENOTFOUND,
                       "model '%s' is missing (only models by name are "
                       "fetched from the cloud)",
                       name);
    pthread_mutex_lock(&F.fetch_mu); /* F.t stays until a fetch ends (vd__models_fetch_stop) */
    int rc = F.t ? fetch(name, err)
                 : vd_fail(err, VD_ENOTFOUND,
                           "model '%s' is missing and this process has no "
                           "cloud to fetch it from",
                           name);
    pthread_mutex_unlock(&F.fetch_mu);
    return rc;
}

void vd__models_fetch_from(vd_transport *t, const char *self)
{
    pthread_mutex_lock(&F.fetch_mu);
    F.t = t;
    snprintf(F.self, sizeof F.self, "%s", self ? self : "node");
    pthread_mutex_unlock(&F.fetch_mu);
    vd_svc_set_model_fetcher(t ? fetcher : NULL, NULL);
}

void vd__models_fetch_stop(vd_transport *t)
{
    pthread_mutex_lock(&F.fetch_mu); /* waits for a fetch that uses t */
    int mine = F.t == t;
    if (mine) F.t = NULL;
    pthread_mutex_unlock(&F.fetch_mu);
    if (!mine) return;
    vd_svc_set_model_fetcher(NULL, NULL);
    pthread_mutex_lock(&F.mu);
    json_decref(F.progress);
    F.progress = NULL;
    pthread_mutex_unlock(&F.mu);
}

json_t *vd__models_progress(void)
{
    pthread_mutex_lock(&F.mu);
    json_t *p = F.progress ? json_deep_copy(F.progress) : json_object();
    pthread_mutex_unlock(&F.mu);
    return p;
}
