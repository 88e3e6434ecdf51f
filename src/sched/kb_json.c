/*
 * The knowledge base's file and heartbeat form (version 2, and version 1 read), and the merge
 * of several nodes' kbs.
 *
 * Version 2:
 *   {"format":"vdag-kb","version":2,"host":"…","profile":{…},
 *    "delay":[{"node"?,"service","model_id","resolution","ms","p90_ms","ms_per_obj",
 *              "obj_ref","n"}],
 *    "accuracy":[{"service","model_id","resolution","ntracking","nskip","src_fps",
 *                 "encoder","quality","field","metric","value","err","n",
 *                 "buckets":{"n0-2/small":{"value","n"},…}}],
 *    "bytes":[{"resolution","width","encoder","quality","bytes","p90_bytes","encode_ms",
 *              "decode_ms","n"}]}
 * Version 1: {"entries":[{"service","model_id","resolution","ms"}]} (own delays only). A
 * version-2 document carries "entries" too (its own delays in that form), so an older reader
 * (a node or cloud of an earlier vdag in the same cluster, or one reading the same cache)
 * still gets the delays; a version-2 reader ignores it.
 * Reading validates the whole document first, so a bad one leaves the kb unchanged.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/kb_internal.h"

/* ---- writing ----------------------------------------------------------------------------- */

json_t *vd_kb_to_json(const vd_kb *kb)
{
    json_t *d = json_array(), *a = json_array(), *b = json_array();
    json_t *root = json_pack("{s:s,s:i}", "format", "vdag-kb", "version", VD_KB_VERSION);
    if (!kb) {
        json_object_set_new(root, "entries", json_array());
        json_object_set_new(root, "delay", d);
        json_object_set_new(root, "accuracy", a);
        json_object_set_new(root, "bytes", b);
        return root;
    }
    vd__kb_lock(kb);
    json_t *v1 = json_array(); /* the own delays in the version-1 form, for older readers */
    for (int i = 0; i < kb->nd; i++)
        if (!kb->d[i].node[0])
            json_array_append_new(v1, json_pack("{s:s,s:i,s:i,s:f}", "service", kb->d[i].service,
                                                "model_id", kb->d[i].model_id, "resolution",
                                                kb->d[i].res, "ms", kb->d[i].d.ms));
    json_object_set_new(root, "entries", v1);
    json_object_set_new(root, "host", json_string(kb->host));
    if (kb->info) json_object_set_new(root, "profile", json_deep_copy(kb->info));
    if (kb->nx) json_object_set_new(root, "exit", vd__kb_exits_json(kb));
    for (int i = 0; i < kb->nd; i++) {
        const kb_delay_e *x = &kb->d[i];
        json_t *e =
            json_pack("{s:s,s:i,s:i,s:f,s:f,s:f,s:f,s:i}", "service", x->service, "model_id",
                      x->model_id, "resolution", x->res, "ms", x->d.ms, "p90_ms", x->d.p90_ms,
                      "ms_per_obj", x->d.ms_per_obj, "obj_ref", x->d.obj_ref, "n", x->d.n);
        if (x->node[0]) json_object_set_new(e, "node", json_string(x->node));
        json_array_append_new(d, e);
    }
    for (int i = 0; i < kb->na; i++) {
        const kb_acc_e *x = &kb->a[i];
        json_t *bk = json_object();
        for (int k = 0; k < VD_KB_N_BUCKETS; k++)
            if (x->a.bucket_n[k] > 0)
                json_object_set_new(
                    bk, vd_kb_bucket_name(k),
                    json_pack("{s:f,s:i}", "value", x->a.bucket[k], "n", x->a.bucket_n[k]));
        json_array_append_new(
            a, json_pack("{s:s,s:i,s:i,s:i,s:i,s:f,s:s,s:i,s:s,s:s,s:f,s:f,s:i,s:o}", "service",
                         x->k.service, "model_id", x->k.model_id, "resolution", x->k.res,
                         "ntracking", x->k.ntracking, "nskip", x->k.nskip, "src_fps", x->k.src_fps,
                         "encoder", vd_encoder_name(x->k.enc), "quality", x->k.quality, "field",
                         x->k.field, "metric", vd_metric_name(x->a.metric), "value", x->a.value,
                         "err", x->a.err, "n", x->a.n, "buckets", bk));
    }
    for (int i = 0; i < kb->nb; i++) {
        const kb_bytes_e *x = &kb->b[i];
        json_array_append_new(b, json_pack("{s:i,s:i,s:s,s:i,s:f,s:f,s:f,s:f,s:i}", "resolution",
                                           x->res, "width", x->b.width, "encoder",
                                           vd_encoder_name(x->enc), "quality", x->quality, "bytes",
                                           x->b.bytes, "p90_bytes", x->b.p90_bytes, "encode_ms",
                                           x->b.enc_ms, "decode_ms", x->b.dec_ms, "n", x->b.n));
    }
    vd__kb_unlock(kb);
    json_object_set_new(root, "delay", d);
    json_object_set_new(root, "accuracy", a);
    json_object_set_new(root, "bytes", b);
    return root;
}

/* ---- reading ----------------------------------------------------------------------------- */

int vd_kb_json_version(json_t *j)
{
    if (!json_is_object(j)) return VD_EFORMAT;
    json_t *v = json_object_get(j, "version");
    if (!v) return json_is_array(json_object_get(j, "entries")) ? 1 : VD_EFORMAT;
    if (!json_is_integer(v) || json_integer_value(v) < 1) return VD_EFORMAT;
    json_int_t x = json_integer_value(v);
    return x > 1000 ? 1000 : (int)x;
}

typedef struct rd {
    const char *path; /* "kb.delay[3]" */
    vd_error *err;
} rd;

static int num(rd *r, json_t *o, const char *key, double lo, double hi, int required, double def,
               double *out)
{
    json_t *v = json_object_get(o, key);
    if (!v && !required) {
        *out = def;
        return 0;
    }
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < lo ||
        json_number_value(v) > hi)
        return vd_fail(r->err, VD_EFORMAT, "%s.%s: must be a number in %g..%g", r->path, key, lo,
                       hi);
    *out = json_number_value(v);
    return 0;
}

static int integer(rd *r, json_t *o, const char *key, int lo, int hi, int required, int def,
                   int *out)
{
    json_t *v = json_object_get(o, key);
    if (!v && !required) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return vd_fail(r->err, VD_EFORMAT, "%s.%s: must be an integer in %d..%d", r->path, key, lo,
                       hi);
    *out = (int)json_integer_value(v);
    return 0;
}

static int str(rd *r, json_t *o, const char *key, size_t cap, int required, const char **out)
{
    json_t *v = json_object_get(o, key);
    if (!v && !required) {
        *out = "";
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) >= cap)
        return vd_fail(r->err, VD_EFORMAT, "%s.%s: must be a string shorter than %zu bytes",
                       r->path, key, cap);
    *out = json_string_value(v);
    return 0;
}

static int enc_of(rd *r, json_t *o, vd_encoder *out)
{
    const char *s = "";
    int rc = str(r, o, "encoder", 16, 1, &s);
    if (rc) return rc;
    int e = vd_encoder_parse(s);
    if (e < 0)
        return vd_fail(r->err, VD_EFORMAT, "%s.encoder: \"%s\" is not raw, JPEG or H264", r->path,
                       s);
    *out = (vd_encoder)e;
    return 0;
}

static int read_delay(rd *r, json_t *e, vd_kb *t, int v1)
{
    const char *svc = "", *node = "";
    int model = 0, res = 0, rc;
    vd_kb_delay d = {0};
    if ((rc = str(r, e, "service", 48, 1, &svc)) ||
        (rc = integer(r, e, "model_id", 0, 64, 1, 0, &model)) ||
        (rc = integer(r, e, "resolution", 16, 4320, 1, 0, &res)) ||
        (rc = num(r, e, "ms", 0, 1e7, 1, 0, &d.ms)))
        return rc;
    if (!v1 && ((rc = str(r, e, "node", 64, 0, &node)) ||
                (rc = num(r, e, "p90_ms", 0, 1e7, 0, d.ms, &d.p90_ms)) ||
                (rc = num(r, e, "ms_per_obj", 0, 1e7, 0, 0, &d.ms_per_obj)) ||
                (rc = num(r, e, "obj_ref", 0, 1e6, 0, 0, &d.obj_ref)) ||
                (rc = integer(r, e, "n", 0, 1 << 30, 0, 0, &d.n))))
        return rc;
    if (v1) d.p90_ms = d.ms;
    vd__kb_put_delay(t, node, svc, model, res, &d);
    return 0;
}

static int read_acc(rd *r, json_t *e, vd_kb *t)
{
    vd_kb_acc_key k = {0};
    vd_kb_acc a = {0};
    const char *svc = "", *field = "", *metric = "";
    int rc;
    if ((rc = str(r, e, "service", sizeof k.service, 1, &svc)) ||
        (rc = integer(r, e, "model_id", 0, 64, 1, 0, &k.model_id)) ||
        (rc = integer(r, e, "resolution", 16, 4320, 1, 0, &k.res)) ||
        (rc = integer(r, e, "ntracking", 0, 1000, 0, 0, &k.ntracking)) ||
        (rc = integer(r, e, "nskip", 0, 1000, 0, 0, &k.nskip)) ||
        (rc = num(r, e, "src_fps", 0.01, 1000, 1, 0, &k.src_fps)) || (rc = enc_of(r, e, &k.enc)) ||
        (rc = integer(r, e, "quality", 0, 100, 0, 0, &k.quality)) ||
        (rc = str(r, e, "field", sizeof k.field, 1, &field)) ||
        (rc = str(r, e, "metric", 16, 1, &metric)) ||
        (rc = num(r, e, "value", 0, 1, 1, 0, &a.value)) ||
        (rc = num(r, e, "err", 0, 1e9, 0, 0, &a.err)) ||
        (rc = integer(r, e, "n", 0, 1 << 30, 1, 0, &a.n)))
        return rc;
    int m = vd_metric_parse(metric);
    if (m < 0)
        return vd_fail(r->err, VD_EFORMAT, "%s.metric: \"%s\" is not f1, pck or count", r->path,
                       metric);
    a.metric = (vd_metric)m;
    snprintf(k.service, sizeof k.service, "%s", svc);
    snprintf(k.field, sizeof k.field, "%s", field);
    json_t *bk = json_object_get(e, "buckets");
    if (bk && !json_is_object(bk))
        return vd_fail(r->err, VD_EFORMAT, "%s.buckets: must be an object {\"n0-2/small\":{…}}",
                       r->path);
    const char *name;
    json_t *b;
    json_object_foreach(bk, name, b)
    {
        int i = vd_kb_bucket_parse(name);
        char path[160];
        snprintf(path, sizeof path, "%s.buckets.%s", r->path, name);
        rd rb = {path, r->err};
        if (i < 0)
            return vd_fail(r->err, VD_EFORMAT,
                           "%s: unknown bucket (known: n0-2|n3-7|n8+ / small|large)", path);
        if ((rc = num(&rb, b, "value", 0, 1, 1, 0, &a.bucket[i])) ||
            (rc = integer(&rb, b, "n", 0, 1 << 30, 1, 0, &a.bucket_n[i])))
            return rc;
    }
    if (!vd__kb_put_acc(t, &k, &a)) return vd_fail(r->err, VD_ENOMEM, "out of memory");
    return 0;
}

static int read_bytes(rd *r, json_t *e, vd_kb *t)
{
    int res = 0, q = 0, rc;
    vd_encoder enc = VD_ENC_NONE;
    vd_kb_bytes b = {0};
    if ((rc = integer(r, e, "resolution", 16, 4320, 1, 0, &res)) || (rc = enc_of(r, e, &enc)) ||
        (rc = integer(r, e, "quality", 0, 100, 0, 0, &q)) ||
        (rc = integer(r, e, "width", 0, 8192, 0, 0, &b.width)) ||
        (rc = num(r, e, "bytes", 0, 1e9, 1, 0, &b.bytes)) ||
        (rc = num(r, e, "p90_bytes", 0, 1e9, 0, b.bytes, &b.p90_bytes)) ||
        (rc = num(r, e, "encode_ms", 0, 1e6, 0, 0, &b.enc_ms)) ||
        (rc = num(r, e, "decode_ms", 0, 1e6, 0, 0, &b.dec_ms)) ||
        (rc = integer(r, e, "n", 0, 1 << 30, 0, 0, &b.n)))
        return rc;
    if (enc == VD_ENC_NONE)
        return vd_fail(r->err, VD_EFORMAT, "%s.encoder: bytes need a coded frame (JPEG or H264)",
                       r->path);
    if (!vd__kb_put_bytes(t, res, enc, q, &b)) return vd_fail(r->err, VD_ENOMEM, "out of memory");
    return 0;
}

static int read_array(json_t *j, const char *key, int required, vd_kb *t, vd_error *err,
                      int (*fn)(rd *, json_t *, vd_kb *, int), int v1)
{
    json_t *arr = json_object_get(j, key);
    if (!arr && !required) return 0;
    if (!json_is_array(arr))
        return vd_fail(err, VD_EFORMAT, "kb.%s: must be an array of entries%s", key,
                       v1 ? "; delete the cached profile to re-profile" : "");
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        char path[96];
        snprintf(path, sizeof path, "kb.%s[%zu]", key, i);
        rd r = {path, err};
        if (!json_is_object(e)) return vd_fail(err, VD_EFORMAT, "%s: must be an object", path);
        int rc = fn(&r, e, t, v1);
        if (rc) return rc;
    }
    return 0;
}

static int rd_delay(rd *r, json_t *e, vd_kb *t, int v1)
{
    return read_delay(r, e, t, v1);
}

static int rd_acc(rd *r, json_t *e, vd_kb *t, int v1)
{
    (void)v1;
    return read_acc(r, e, t);
}

static int rd_bytes(rd *r, json_t *e, vd_kb *t, int v1)
{
    (void)v1;
    return read_bytes(r, e, t);
}

/* Copy every entry of src into dst (both locked by the caller or private). */
static int copy_all(vd_kb *dst, const vd_kb *src)
{
    for (int i = 0; i < src->nd; i++)
        vd__kb_put_delay(dst, src->d[i].node, src->d[i].service, src->d[i].model_id, src->d[i].res,
                         &src->d[i].d);
    for (int i = 0; i < src->na; i++)
        if (!vd__kb_put_acc(dst, &src->a[i].k, &src->a[i].a)) return VD_ENOMEM;
    for (int i = 0; i < src->nb; i++)
        if (!vd__kb_put_bytes(dst, src->b[i].res, src->b[i].enc, src->b[i].quality, &src->b[i].b))
            return VD_ENOMEM;
    for (int i = 0; i < src->nx; i++)
        if (vd__kb_put_exit(dst, src->x[i].service, src->x[i].model_id, &src->x[i].p))
            return VD_ENOMEM;
    return 0;
}

int vd_kb_from_json(vd_kb *kb, json_t *j, vd_error *err)
{
    int v = vd_kb_json_version(j);
    if (v < 0)
        return vd_fail(err, VD_EFORMAT,
                       "kb: expected {\"format\":\"vdag-kb\",\"version\":%d,…} (or a version-1 "
                       "{\"entries\":[…]}); delete the cached profile to re-profile",
                       VD_KB_VERSION);
    if (v > VD_KB_VERSION)
        return vd_fail(err, VD_EUNSUPP,
                       "kb: format version %d is newer than this vdag reads (%d); re-profile with "
                       "`vdag profile` or update vdag",
                       v, VD_KB_VERSION);
    vd_kb *t = vd_kb_new();
    if (!t) return vd_fail(err, VD_ENOMEM, "out of memory");
    int rc;
    const char *host = "";
    if (v == 1) {
        rc = read_array(j, "entries", 1, t, err, rd_delay, 1);
    } else {
        rd r = {"kb", err};
        rc = str(&r, j, "host", sizeof t->host, 0, &host);
        if (!rc) rc = read_array(j, "delay", 1, t, err, rd_delay, 0);
        if (!rc) rc = read_array(j, "accuracy", 0, t, err, rd_acc, 0);
        if (!rc) rc = read_array(j, "bytes", 0, t, err, rd_bytes, 0);
        if (!rc) rc = vd__kb_exits_read(t, json_object_get(j, "exit"), err);
    }
    if (!rc) {
        vd__kb_lock(kb);
        rc = copy_all(kb, t);
        if (v >= 2) {
            snprintf(kb->host, sizeof kb->host, "%s", host);
            json_t *info = json_object_get(j, "profile");
            if (info) {
                json_decref(kb->info);
                kb->info = json_deep_copy(info);
            }
        }
        vd__kb_unlock(kb);
        if (rc) rc = vd_fail(err, VD_ENOMEM, "out of memory");
    }
    vd_kb_free(t);
    return rc;
}

/* ---- merge ------------------------------------------------------------------------------- */

static double wmean(double a, int na, double b, int nb)
{
    return na + nb > 0 ? (a * na + b * nb) / (na + nb) : (a + b) / 2;
}

int vd_kb_merge(vd_kb *dst, const vd_kb *src, const char *src_node, vd_error *err)
{
    if (!dst || !src) return vd_fail(err, VD_EINVAL, "vd_kb_merge: needs two knowledge bases");
    if (dst == src) return vd_fail(err, VD_EINVAL, "vd_kb_merge: cannot merge a kb into itself");
    /* a snapshot of src, so the two locks are never held together */
    vd_kb *s = vd_kb_new();
    if (!s) return vd_fail(err, VD_ENOMEM, "out of memory");
    vd__kb_lock(src);
    int rc = copy_all(s, src);
    vd__kb_unlock(src);
    if (rc) {
        vd_kb_free(s);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    vd__kb_lock(dst);
    for (int i = 0; i < s->nd; i++) {
        const kb_delay_e *x = &s->d[i];
        const char *node = x->node[0] ? x->node : src_node;
        vd__kb_put_delay(dst, node, x->service, x->model_id, x->res, &x->d);
    }
    for (int i = 0; i < s->na && !rc; i++) {
        const kb_acc_e *x = &s->a[i];
        kb_acc_e *y = vd__kb_find_acc(dst, &x->k);
        if (!y) {
            if (!vd__kb_put_acc(dst, &x->k, &x->a)) rc = VD_ENOMEM;
            continue;
        }
        vd_kb_acc m = y->a;
        m.value = wmean(y->a.value, y->a.n, x->a.value, x->a.n);
        m.err = wmean(y->a.err, y->a.n, x->a.err, x->a.n);
        m.n = y->a.n + x->a.n;
        for (int b = 0; b < VD_KB_N_BUCKETS; b++) {
            m.bucket[b] = wmean(y->a.bucket[b], y->a.bucket_n[b], x->a.bucket[b], x->a.bucket_n[b]);
            m.bucket_n[b] = y->a.bucket_n[b] + x->a.bucket_n[b];
        }
        y->a = m;
        dst->gen++; /* cached accuracy surfaces are stale */
    }
    for (int i = 0; i < s->nb && !rc; i++) {
        const kb_bytes_e *x = &s->b[i];
        kb_bytes_e *y = vd__kb_find_bytes(dst, x->res, x->enc, x->quality);
        if (!y) {
            if (!vd__kb_put_bytes(dst, x->res, x->enc, x->quality, &x->b)) rc = VD_ENOMEM;
            continue;
        }
        /* frames of another width: compare per pixel, in dst's width */
        double f = y->b.width > 0 && x->b.width > 0 ? (double)y->b.width / x->b.width : 1;
        vd_kb_bytes m = y->b;
        m.bytes = wmean(y->b.bytes, y->b.n, x->b.bytes * f, x->b.n);
        m.p90_bytes = wmean(y->b.p90_bytes, y->b.n, x->b.p90_bytes * f, x->b.n);
        m.enc_ms = wmean(y->b.enc_ms, y->b.n, x->b.enc_ms * f, x->b.n);
        m.dec_ms = wmean(y->b.dec_ms, y->b.n, x->b.dec_ms * f, x->b.n);
        if (!m.width) m.width = x->b.width;
        m.n = y->b.n + x->b.n;
        y->b = m;
    }
    if (!rc) rc = vd__kb_exits_merge(dst, s);
    vd__kb_unlock(dst);
    vd_kb_free(s);
    return rc ? vd_fail(err, VD_ENOMEM, "out of memory") : 0;
}
