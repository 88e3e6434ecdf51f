/*
 * Model slicing: the cuts of a loaded model, its two parts, its identity hash and the
 * per-step profile. See include/vdag/slice.h and docs/slicing.md.
 *
 * A cut is found on the model's plan, not on the TF graph: the plan's steps run in order
 * and read and write arena buffers (nn_internal.h), so after step k the state part B
 * needs is exactly the buffers touched both at or before k and after k (an output's
 * buffer counts as touched after the last step, the input's before the first). When that
 * set is one buffer, the boundary after step k is a cut and the buffer is its tensor.
 * Constants live in the model on both sides and never cross.
 */
#include <assert.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/lower.h"
#include "nn/slice_internal.h"
#include "vdag/base.h"

void *vd__cut_data(vd_slicer *s, int i)
{
    assert(i >= 0 && i < s->n_cuts);
    return s->m->bufs[s->cut_buf[i]].ptr;
}

/* The value that describes buffer b after step k: the output of the last step <= k that
 * writes b, else the input. */
static int describing_value(vd__model *m, int b, int k)
{
    for (int i = k; i >= 0; i--) {
        const vd__step *st = &m->steps[i];
        for (int j = 0; j < st->n_out; j++)
            if (V(st->out[j])->buf == b) return st->out[j];
    }
    return V(m->input_val)->buf == b ? m->input_val : -1;
}

static void describe(vd__model *m, int b, int k, vd_cut *c)
{
    int v = describing_value(m, b, k);
    size_t bytes = m->bufs[b].bytes;
    c->name = "input";
    c->dtype = VD_F32;
    for (int i = 0; i < VD_MAX_DIMS; i++) c->perm[i] = i;
    if (v >= 0) {
        const vd__val *x = V(v);
        c->name = x->node ? x->node : "input";
        c->dtype = x->dtype == VD__F32 ? VD_F32 : VD_I32;
        if (x->offset == 0 && (size_t)vd__numel(x->shape, x->ndim) * 4 == bytes) {
            c->ndim = x->ndim;
            vd__phys_shape(x, c->shape);
            memcpy(c->perm, x->perm, sizeof c->perm);
            c->numel = vd__numel(x->shape, x->ndim);
            return;
        }
    }
    c->ndim = 1; /* a buffer shared by views: travels whole, flat */
    c->shape[0] = (int64_t)(bytes / 4);
    c->numel = c->shape[0];
}

static int enumerate(vd_slicer *s, vd_error *err)
{
    vd__model *m = s->m;
    int n = m->n_steps, nb = m->n_bufs;
    int *def = malloc(sizeof(int) * (size_t)(nb + 1));
    int *last = malloc(sizeof(int) * (size_t)(nb + 1));
    int *cnt = calloc((size_t)n + 2, sizeof(int));
    s->cuts = calloc((size_t)n + 1, sizeof(vd_cut));
    s->cut_buf = calloc((size_t)n + 1, sizeof(int));
    if (!def || !last || !cnt || !s->cuts || !s->cut_buf) {
        free(def);
        free(last);
        free(cnt);
        return vd_fail(err, VD_ENOMEM, "out of memory listing the cuts of %s", m->g.path);
    }
    for (int b = 0; b < nb; b++) def[b] = INT_MAX, last[b] = INT_MIN;
    int ib = V(m->input_val)->buf;
    def[ib] = -1;
    last[ib] = -1;
    for (int i = 0; i < n; i++) {
        const vd__step *st = &m->steps[i];
        for (int j = 0; j < st->n_in + st->n_out; j++) {
            int b = V(j < st->n_in ? st->in[j] : st->out[j - st->n_in])->buf;
            if (b < 0) continue;
            if (i < def[b]) def[b] = i;
            if (i > last[b]) last[b] = i;
        }
    }
    for (int i = 0; i < m->g.n_outputs; i++) {
        int b = V(m->out_vals[i])->buf;
        if (b >= 0) last[b] = n;
    }
    /* boundary k (after step k, 0 <= k <= n-2) is crossed by b when def <= k < last */
    for (int b = 0; b < nb; b++) {
        if (def[b] == INT_MAX) continue;
        int lo = def[b] < 0 ? 0 : def[b], hi = last[b] - 1 > n - 2 ? n - 2 : last[b] - 1;
        if (lo > hi) continue;
        cnt[lo]++;
        cnt[hi + 1]--;
    }
    int run = 0;
    for (int k = 0; k <= n - 2; k++) {
        run += cnt[k];
        if (run != 1) continue;
        int b = -1;
        for (int x = 0; x < nb && b < 0; x++)
            if (def[x] != INT_MAX && def[x] <= k && k < last[x]) b = x;
        assert(b >= 0);
        vd_cut *c = &s->cuts[s->n_cuts];
        c->index = s->n_cuts;
        c->step = k;
        describe(m, b, k, c);
        s->cut_buf[s->n_cuts++] = b;
    }
    double fa = 0;
    int ci = 0;
    for (int i = 0; i < n; i++) {
        fa += m->steps[i].flops;
        for (; ci < s->n_cuts && s->cuts[ci].step == i; ci++) {
            s->cuts[ci].flops_a = fa;
            s->cuts[ci].flops_b = m->flops - fa;
        }
    }
    free(def);
    free(last);
    free(cnt);
    return 0;
}

/* SHA-256 of model.json then each weight shard in manifest order. */
static int hash_file(EVP_MD_CTX *ctx, const char *path, vd_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return vd_fail(err, VD_EIO, "%s: cannot read it again to hash the model: %m", path);
    unsigned char buf[1 << 16];
    size_t n;
    int ok = 1;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) ok &= EVP_DigestUpdate(ctx, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad || !ok) return vd_fail(err, VD_EIO, "%s: read error while hashing the model", path);
    return 0;
}

static int hash_model(vd_slicer *s, vd_error *err)
{
    const vd__graph *g = &s->m->g;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(ctx);
        return vd_fail(err, VD_EBACKEND, "OpenSSL: cannot start a SHA-256 digest");
    }
    int rc = hash_file(ctx, g->path, err);
    char dir[2048];
    snprintf(dir, sizeof dir, "%s", g->path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    json_t *man = json_object_get(g->doc, "weightsManifest"), *grp, *p;
    size_t i, j;
    json_array_foreach(man, i, grp)
    {
        json_array_foreach(json_object_get(grp, "paths"), j, p)
        {
            if (rc) break;
            char full[4200];
            snprintf(full, sizeof full, "%s/%s", dir, json_string_value(p));
            rc = hash_file(ctx, full, err);
        }
    }
    unsigned int len = 0;
    if (!rc && (!EVP_DigestFinal_ex(ctx, s->hash, &len) || len != 32))
        rc = vd_fail(err, VD_EBACKEND, "OpenSSL: SHA-256 failed");
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* "dir/blazeface-back.json" -> "blazeface-back"; "dir/nanodet/model.json" -> "nanodet". */
static void model_name(const char *path, char *out, size_t cap)
{
    char tmp[2048];
    snprintf(tmp, sizeof tmp, "%s", path);
    char *base = strrchr(tmp, '/');
    if (base && !strcmp(base + 1, "model.json")) {
        *base = 0;
        base = strrchr(tmp, '/');
    }
    base = base ? base + 1 : tmp;
    char *dot = strrchr(base, '.');
    if (dot && !strcmp(dot, ".json")) *dot = 0;
    snprintf(out, cap, "%.255s", base);
}

int vd_slicer_open(vd_model *m, vd_slicer **out, vd_error *err)
{
    *out = NULL;
    vd_slicer *s = calloc(1, sizeof *s);
    if (!s) return vd_fail(err, VD_ENOMEM, "out of memory");
    s->m = m;
    model_name(m->g.path, s->model_name, sizeof s->model_name);
    int rc = enumerate(s, err);
    if (!rc) rc = hash_model(s, err);
    if (rc) {
        vd_slicer_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void vd_slicer_free(vd_slicer *s)
{
    if (!s) return;
    free(s->cuts);
    free(s->cut_buf);
    free(s);
}

int vd_slicer_n_cuts(const vd_slicer *s)
{
    return s->n_cuts;
}

const vd_cut *vd_slicer_cut(const vd_slicer *s, int i)
{
    return i >= 0 && i < s->n_cuts ? &s->cuts[i] : NULL;
}

int vd_slicer_find(const vd_slicer *s, const char *name, vd_error *err)
{
    for (int i = 0; i < s->n_cuts; i++)
        if (!strcmp(s->cuts[i].name, name)) return i;
    char *end;
    long v = strtol(name, &end, 10);
    if (*name && !*end && v >= 0 && v < s->n_cuts) return (int)v;
    return vd_fail(err, VD_ENOTFOUND,
                   "%s: no cut named '%s' (it has %d cuts, 0..%d; `vdag slice %s` lists them)",
                   s->model_name, name, s->n_cuts, s->n_cuts - 1, s->model_name);
}

int vd_slicer_n_steps(const vd_slicer *s)
{
    return s->m->n_steps;
}

vd_model *vd_slicer_model(const vd_slicer *s)
{
    return s->m;
}

const char *vd_slicer_model_name(const vd_slicer *s)
{
    return s->model_name;
}

const uint8_t *vd_slicer_model_hash(const vd_slicer *s)
{
    return s->hash;
}

const char *vd_slicer_hash_hex(const vd_slicer *s, char *buf, size_t cap)
{
    if (!cap) return buf;
    buf[0] = 0;
    for (int i = 0; i < 8 && (size_t)(2 * i + 2) < cap; i++)
        snprintf(buf + 2 * i, cap - (size_t)(2 * i), "%02x", s->hash[i]);
    return buf;
}

static int bad_cut(const vd_slicer *s, int cut, vd_error *err)
{
    return vd_fail(err, VD_EINVAL, "%s: cut %d is out of range (0..%d)", s->model_name, cut,
                   s->n_cuts - 1);
}

int vd_slicer_run_a(vd_slicer *s, int cut, const void *in, size_t bytes, vd_tensor *mid,
                    vd_error *err)
{
    vd__model *m = s->m;
    if (cut < 0 || cut >= s->n_cuts) return bad_cut(s, cut, err);
    const vd__val *x = V(m->input_val);
    size_t need = (size_t)vd__numel(x->shape, x->ndim) * 4;
    if (bytes != need)
        return vd_fail(err, VD_ESHAPE, "%s: part A's input '%s' must be %zu bytes, got %zu",
                       m->g.path, m->in_desc.name, need, bytes);
    memcpy(m->bufs[x->buf].ptr, in, need);
    const vd_cut *c = &s->cuts[cut];
    int rc = vd__run_range(m, 0, c->step + 1, err);
    if (rc) return rc;
    memset(mid, 0, sizeof *mid);
    mid->name = c->name;
    mid->dtype = c->dtype;
    mid->ndim = c->ndim;
    memcpy(mid->shape, c->shape, sizeof mid->shape);
    mid->data = vd__cut_data(s, cut);
    return 0;
}

int vd_slicer_run_b(vd_slicer *s, int cut, const void *mid, size_t bytes, vd_error *err)
{
    vd__model *m = s->m;
    if (cut < 0 || cut >= s->n_cuts) return bad_cut(s, cut, err);
    const vd_cut *c = &s->cuts[cut];
    if (bytes != (size_t)c->numel * 4)
        return vd_fail(err, VD_ESHAPE,
                       "%s: part B from cut %d '%s' takes %lld values (%lld bytes), got %zu bytes",
                       s->model_name, cut, c->name, (long long)c->numel, (long long)c->numel * 4,
                       bytes);
    memcpy(vd__cut_data(s, cut), mid, bytes);
    return vd__run_range(m, c->step + 1, m->n_steps, err);
}

/* ---- profile ------------------------------------------------------------------------ */

/* Coding cost per value, measured on the largest cut's real tensor (min of 3). */
static int coding_rate(vd_slicer *s, const void *in, size_t bytes, vd_wire_fmt f, double *enc_ns,
                       double *dec_ns, vd_error *err)
{
    int big = 0;
    for (int i = 1; i < s->n_cuts; i++)
        if (s->cuts[i].numel > s->cuts[big].numel) big = i;
    vd_tensor mid;
    int rc = vd_slicer_run_a(s, big, in, bytes, &mid, err);
    if (rc) return rc;
    size_t nb = (size_t)s->cuts[big].numel * 4;
    void *dst = malloc(nb + 16);
    if (!dst) return vd_fail(err, VD_ENOMEM, "out of memory");
    double be = 1e30, bd = 1e30;
    for (int r = 0; r < 3 && !rc; r++) {
        uint8_t *msg = NULL;
        size_t len = 0;
        uint64_t t0 = vd_now_ns();
        rc = vd_wire_encode(s, big, &mid, f, &msg, &len, err);
        uint64_t t1 = vd_now_ns();
        vd_wire_tag tag;
        if (!rc) rc = vd_wire_peek(msg, len, &tag, err);
        if (!rc) rc = vd__wire_decode(&tag, msg, dst);
        uint64_t t2 = vd_now_ns();
        free(msg);
        if ((double)(t1 - t0) < be) be = (double)(t1 - t0);
        if ((double)(t2 - t1) < bd) bd = (double)(t2 - t1);
    }
    free(dst);
    double n = (double)(s->cuts[big].numel ? s->cuts[big].numel : 1);
    *enc_ns = be / n;
    *dec_ns = bd / n;
    return rc;
}

int vd_slice_profile_run(vd_slicer *s, const void *in, size_t bytes, int runs, vd_wire_fmt f,
                         vd_slice_profile *p, vd_error *err)
{
    vd__model *m = s->m;
    memset(p, 0, sizeof *p);
    p->fmt = f;
    if (runs < 1) runs = 1;
    int rc = vd_model_run(m, in, bytes, err); /* warm-up */
    if (rc) return rc;
    if (vd_model_set_profiling(m, 1)) return vd_fail(err, VD_ENOMEM, "out of memory");
    for (int r = 0; r < runs && !rc; r++) rc = vd_model_run(m, in, bytes, err);
    p->n_steps = m->n_steps;
    p->step_ms = calloc((size_t)m->n_steps + 1, sizeof(double));
    p->p = calloc((size_t)s->n_cuts + 1, sizeof(vd_slice_point));
    if (!rc && (!p->step_ms || !p->p)) rc = vd_fail(err, VD_ENOMEM, "out of memory");
    if (!rc)
        for (int i = 0; i < m->n_steps; i++) {
            p->step_ms[i] = m->prof_ms[i] / m->prof_runs;
            p->total_ms += p->step_ms[i];
        }
    vd_model_set_profiling(m, 0);
    double enc_ns = 0, dec_ns = 0;
    if (!rc && s->n_cuts) rc = coding_rate(s, in, bytes, f, &enc_ns, &dec_ns, err);
    if (rc) {
        vd_slice_profile_free(p);
        return rc;
    }
    double acc = 0;
    int k = 0;
    for (int i = 0; i < s->n_cuts; i++) {
        for (; k <= s->cuts[i].step; k++) acc += p->step_ms[k];
        vd_slice_point *q = &p->p[p->n++];
        q->cut = i;
        q->ms_a = acc;
        q->ms_b = p->total_ms - acc;
        q->bytes = vd_wire_size(s, i, f);
        q->enc_ms = enc_ns * (double)s->cuts[i].numel / 1e6;
        q->dec_ms = dec_ns * (double)s->cuts[i].numel / 1e6;
    }
    return 0;
}

void vd_slice_profile_free(vd_slice_profile *p)
{
    free(p->step_ms);
    free(p->p);
    p->step_ms = NULL;
    p->p = NULL;
    p->n = 0;
}
