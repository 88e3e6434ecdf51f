/*
 * Model distribution, the serving side (src/node/models.c) over the in-process transport:
 * the manifest of a real model (its files, sizes, SHA-256 as sha256sum says), its files in
 * chunks that rebuild it byte for byte, and requests that must be refused: names with a
 * path in them, hidden names, files the model does not list, offsets past the end, a model
 * that is not there. tests/test_models.sh fetches over NATS through a corrupting proxy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/node_internal.h"
#include "testlib.h"
#include "vdag/base.h"
#include "vdag/net.h"

static vd_transport *t;

/* Call model.get with hdr (JSON text); *code: 0, or the handler's VD_E* code. */
static json_t *get(const char *hdr_text, unsigned char **blob, size_t *blen, int *code)
{
    json_t *hdr = json_loads(hdr_text, 0, NULL), *out = NULL;
    vd_buf q = {0}, r = {0};
    vd_error err = {0};
    *code = 0;
    if (vd_msg_pack(hdr, NULL, 0, &q, &err)) abort();
    json_decref(hdr);
    int rc = vd_transport_call(t, NULL, "model.get", &q, &r, 5000, &err);
    vd_buf_free(&q);
    if (rc) {
        *code = rc == VD_EREMOTE ? err.remote : rc;
        return NULL;
    }
    const unsigned char *b;
    size_t n;
    if (vd_msg_unpack(r.data, r.len, &out, &b, &n, &err)) abort();
    if (blob) {
        *blob = malloc(n + 1);
        memcpy(*blob, b, n);
        *blen = n;
    }
    vd_buf_free(&r);
    return out;
}

static char *sha256sum(const char *path)
{
    char cmd[1500];
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
    FILE *p = popen(cmd, "r");
    char *out = calloc(1, 80);
    if (!p || !fgets(out, 65, p)) out[0] = 0;
    if (p) pclose(p);
    return out;
}

int main(void)
{
    char cache[1024], dir[1100], cmd[3000];
    vd_cache_dir(cache, sizeof cache);
    snprintf(dir, sizeof dir, "%s/models", cache);
    vd_error err = {0};
    CHECK(vd_transport_inproc_new(&t, &err) == 0);
    CHECK(vd__models_serve(t, "cloud", &err) == 0);
    CHECK(vd__model_name_ok("nanodet") && vd__model_name_ok("a.b-c_1"));
    CHECK(!vd__model_name_ok("../x") && !vd__model_name_ok(".x") && !vd__model_name_ok("a/b") &&
          !vd__model_name_ok("") && !vd__model_name_ok(NULL));

    int code;
    json_t *m = get("{\"model\": \"blazeface-back\"}", NULL, NULL, &code);
    CHECKF(m && code == 0, "code %d", code);
    json_t *files = json_object_get(m, "files");
    CHECK(json_array_size(files) == 2);
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(files, 0), "name")),
                  "blazeface-back.json"));
    size_t i;
    json_t *fe;
    json_array_foreach(files, i, fe)
    {
        const char *fn = json_string_value(json_object_get(fe, "name"));
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, fn);
        char *want = sha256sum(path);
        CHECKF(!strcmp(want, json_string_value(json_object_get(fe, "sha256"))), "%s", fn);
        free(want);
        /* rebuild it from the chunks, compare */
        json_int_t size = json_integer_value(json_object_get(fe, "size")), off = 0;
        char out[1500];
        snprintf(out, sizeof out, "%s/test_model_serve.%d.part", "/tmp", (int)getpid());
        FILE *f = fopen(out, "wb");
        while (f && off < size) {
            char req[256];
            snprintf(req, sizeof req,
                     "{\"model\":\"blazeface-back\",\"file\":\"%s\",\"offset\":%lld}", fn,
                     (long long)off);
            unsigned char *blob = NULL;
            size_t n = 0;
            json_t *h = get(req, &blob, &n, &code);
            CHECKF(h && json_integer_value(json_object_get(h, "size")) == size && n > 0, "%s", req);
            fwrite(blob, 1, n, f);
            off += (json_int_t)n;
            free(blob);
            json_decref(h);
            if (!h || n == 0) break;
        }
        if (f) fclose(f);
        snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", path, out);
        CHECKF(system(cmd) == 0, "%s rebuilt from chunks differs", fn);
        unlink(out);
    }
    json_decref(m);

    static const struct {
        const char *req;
        int code;
    } bad[] = {
        {"{\"model\": \"../models/blazeface-back\"}", VD_EINVAL},
        {"{\"model\": \".hidden\"}", VD_EINVAL},
        {"{\"model\": \"\"}", VD_EINVAL},
        {"{\"model\": 7}", VD_EINVAL},
        {"{}", VD_EINVAL},
        {"{\"model\": \"no-such-model\"}", VD_ENOTFOUND},
        {"{\"model\": \"blazeface-back\", \"file\": \"../../etc/passwd\", \"offset\": 0}",
         VD_EINVAL},
        {"{\"model\": \"blazeface-back\", \"file\": \"nanodet.bin\", \"offset\": 0}", VD_ENOTFOUND},
        {"{\"model\": \"blazeface-back\", \"file\": \"blazeface-back.bin\"}", VD_EINVAL},
        {"{\"model\": \"blazeface-back\", \"file\": \"blazeface-back.bin\", \"offset\": -1}",
         VD_EINVAL},
        {"{\"model\": \"blazeface-back\", \"file\": \"blazeface-back.bin\", \"offset\": 1e3}",
         VD_EINVAL},
        {"{\"model\": \"blazeface-back\", \"file\": \"blazeface-back.bin\", \"offset\": "
         "99999999999}",
         VD_EINVAL},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        json_t *h = get(bad[k].req, NULL, NULL, &code);
        CHECKF(!h && code == bad[k].code, "%s -> %d, want %d", bad[k].req, code, bad[k].code);
        json_decref(h);
    }
    t->ops->close(t);
    return vt_finish();
}
