/*
 * The knowledge base: the store and its look-ups (kb_json.c: the file form and the merge;
 * kb_profile.c: the measurements; kb_metric.c: the accuracy metrics).
 *
 * Delay: vd_kb_ms interpolates linearly in pixel count (h^2) between the nearest profiled
 * heights below and above. Outside the profiled range it extrapolates from the nearest
 * height: with one profiled height, proportionally to pixel count; with two or more on
 * that side, linearly through the two nearest, clamped between "constant" and
 * "proportional to pixels" (the services resize to a fixed model input, so the cost is
 * mostly constant plus a per-pixel part). The per-object slope is the nearest height's.
 *
 * Accuracy: see vd_kb_acc_predict in vdag/sched.h; kb_interp below is the one curve rule
 * (constant before the first point, the last two points' line after the last one, clamped
 * to [0, last value]), used along height (as -h), ntracking, gap and quality (as -q).
 *
 * A kb is locked by a mutex inside, so profiling may fill it while schedulers read it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sched/kb_internal.h"
#include "vdag/svc.h"

vd_kb *vd_kb_new(void)
{
    vd_kb *kb = calloc(1, sizeof *kb);
    if (!kb) return NULL;
    pthread_mutex_init(&kb->mu, NULL);
    return kb;
}

void vd_kb_free(vd_kb *kb)
{
    if (!kb) return;
    pthread_mutex_destroy(&kb->mu);
    json_decref(kb->info);
    free(kb->sfc);
    free(kb->d);
    free(kb->a);
    free(kb->b);
    free(kb->x);
    free(kb);
}

void vd__kb_lock(const vd_kb *kb)
{
    pthread_mutex_lock(&((vd_kb *)kb)->mu);
}

void vd__kb_unlock(const vd_kb *kb)
{
    pthread_mutex_unlock(&((vd_kb *)kb)->mu);
}

int vd__kb_grow(void **p, int *cap, int n, size_t size)
{
    if (n < *cap) return 0;
    int c = *cap ? *cap * 2 : 16;
    void *q = realloc(*p, (size_t)c * size);
    if (!q) return VD_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

int vd__kb_size(const vd_kb *kb)
{
    if (!kb) return 0;
    vd__kb_lock(kb);
    int n = kb->nd;
    vd__kb_unlock(kb);
    return n;
}

void vd_kb_set_host(vd_kb *kb, const char *host)
{
    if (!kb) return;
    vd__kb_lock(kb);
    snprintf(kb->host, sizeof kb->host, "%s", host ? host : "");
    vd__kb_unlock(kb);
}

const char *vd_kb_host(const vd_kb *kb, char *buf, size_t n)
{
    if (n) buf[0] = 0;
    if (!kb || !n) return buf;
    vd__kb_lock(kb);
    snprintf(buf, n, "%s", kb->host);
    vd__kb_unlock(kb);
    return buf;
}

void vd_kb_set_profile_info(vd_kb *kb, json_t *info)
{
    if (!kb) {
        json_decref(info);
        return;
    }
    vd__kb_lock(kb);
    json_decref(kb->info);
    kb->info = info;
    vd__kb_unlock(kb);
}

json_t *vd_kb_profile_info(const vd_kb *kb)
{
    if (!kb) return NULL;
    vd__kb_lock(kb);
    json_t *j = kb->info ? json_deep_copy(kb->info) : NULL;
    vd__kb_unlock(kb);
    return j;
}

/* ---- names ------------------------------------------------------------------------------- */

const char *vd_encoder_name(vd_encoder e)
{
    return e == VD_ENC_JPEG ? "JPEG" : e == VD_ENC_H264 ? "H264" : "raw";
}

int vd_encoder_parse(const char *s)
{
    if (!s || !*s || !strcasecmp(s, "raw") || !strcasecmp(s, "none")) return VD_ENC_NONE;
    if (!strcasecmp(s, "JPEG")) return VD_ENC_JPEG;
    if (!strcasecmp(s, "H264")) return VD_ENC_H264;
    return VD_EINVAL;
}

static const char *const bucket_names[VD_KB_N_BUCKETS] = {"n0-2/small", "n0-2/large", "n3-7/small",
                                                          "n3-7/large", "n8+/small",  "n8+/large"};

int vd_kb_bucket(double obj_n, double obj_frac)
{
    int n = obj_n < 2.5 ? 0 : obj_n < 7.5 ? 1 : 2;
    return 2 * n + (obj_frac >= VD_KB_SMALL_OBJ_FRAC);
}

const char *vd_kb_bucket_name(int b)
{
    return b >= 0 && b < VD_KB_N_BUCKETS ? bucket_names[b] : "all";
}

int vd_kb_bucket_parse(const char *s)
{
    for (int b = 0; s && b < VD_KB_N_BUCKETS; b++)
        if (!strcmp(s, bucket_names[b])) return b;
    return VD_EINVAL;
}

/* ---- delay ------------------------------------------------------------------------------- */

static int node_eq(const char *a, const char *b)
{
    return !strcmp(a ? a : "", b ? b : "");
}

static kb_delay_e *find_delay(const vd_kb *kb, const char *node, const char *service, int model,
                              int res)
{
    for (int i = 0; i < kb->nd; i++) {
        kb_delay_e *x = &kb->d[i];
        if (x->model_id == model && x->res == res && !strcmp(x->service, service) &&
            node_eq(x->node, node))
            return x;
    }
    return NULL;
}

void vd__kb_put_delay(vd_kb *kb, const char *node, const char *service, int model, int res,
                      const vd_kb_delay *d)
{
    kb_delay_e *x = find_delay(kb, node, service, model, res);
    if (!x) {
        if (vd__kb_grow((void **)&kb->d, &kb->capd, kb->nd, sizeof *kb->d)) return;
        x = &kb->d[kb->nd++];
        memset(x, 0, sizeof *x);
        snprintf(x->node, sizeof x->node, "%s", node ? node : "");
        snprintf(x->service, sizeof x->service, "%s", service);
        x->model_id = model;
        x->res = res;
    }
    x->d = *d;
}

void vd_kb_set_delay(vd_kb *kb, const char *node, const char *service, int model_id,
                     int resolution_h, const vd_kb_delay *d)
{
    if (!kb || !service || !d) return;
    vd__kb_lock(kb);
    vd__kb_put_delay(kb, node, service, model_id, resolution_h, d);
    vd__kb_unlock(kb);
}

void vd_kb_set(vd_kb *kb, const char *service, int model_id, int resolution_h, double ms)
{
    vd_kb_delay d = {.ms = ms, .p90_ms = ms};
    vd_kb_set_delay(kb, NULL, service, model_id, resolution_h, &d);
}

int vd_kb_get_delay(const vd_kb *kb, const char *node, const char *service, int model_id,
                    int resolution_h, vd_kb_delay *out)
{
    if (!kb || !service) return VD_ENOTFOUND;
    vd__kb_lock(kb);
    const kb_delay_e *x = find_delay(kb, node, service, model_id, resolution_h);
    if (x && out) *out = x->d;
    vd__kb_unlock(kb);
    return x ? 0 : VD_ENOTFOUND;
}

int vd_kb_has_node(const vd_kb *kb, const char *node)
{
    if (!kb) return 0;
    vd__kb_lock(kb);
    int found = 0;
    for (int i = 0; i < kb->nd && !found; i++) found = node_eq(kb->d[i].node, node);
    vd__kb_unlock(kb);
    return found;
}

static double px(int h)
{
    return (double)h * h;
}

/* Extrapolate from the nearest profiled point n (and the next one m, if any) to h. */
static double extrapolate(const kb_delay_e *n, const kb_delay_e *m, int h)
{
    double ratio = px(h) / px(n->res);
    double prop = n->d.ms * ratio;
    if (!m) return prop;
    double slope = (n->d.ms - m->d.ms) / (px(n->res) - px(m->res));
    double lin = n->d.ms + slope * (px(h) - px(n->res));
    double lo = prop < n->d.ms ? prop : n->d.ms, hi = prop < n->d.ms ? n->d.ms : prop;
    return lin < lo ? lo : lin > hi ? hi : lin;
}

/* Interpolated ms (lock held); *near gets the entry nearest in height. <0 if none. */
static double delay_lookup(const vd_kb *kb, const char *node, const char *service, int model, int h,
                           const kb_delay_e **near)
{
    const kb_delay_e *below = NULL, *below2 = NULL, *above = NULL, *above2 = NULL, *top = NULL;
    *near = NULL;
    for (int i = 0; i < kb->nd; i++) {
        const kb_delay_e *x = &kb->d[i];
        if (x->model_id != model || x->res <= 0 || strcmp(x->service, service) ||
            !node_eq(x->node, node))
            continue;
        if (!top || x->res > top->res) top = x;
        if (x->res == h) {
            *near = x;
            return x->d.ms;
        }
        if (x->res < h) {
            if (!below || x->res > below->res) {
                below2 = below;
                below = x;
            } else if (!below2 || x->res > below2->res) {
                below2 = x;
            }
        } else {
            if (!above || x->res < above->res) {
                above2 = above;
                above = x;
            } else if (!above2 || x->res < above2->res) {
                above2 = x;
            }
        }
    }
    if (!top) return -1;
    if (h <= 0) {
        *near = top;
        return top->d.ms;
    }
    if (below && above) {
        *near = h - below->res <= above->res - h ? below : above;
        return below->d.ms + (above->d.ms - below->d.ms) * (px(h) - px(below->res)) /
                                 (px(above->res) - px(below->res));
    }
    *near = below ? below : above;
    return below ? extrapolate(below, below2, h) : extrapolate(above, above2, h);
}

double vd_kb_ms(const vd_kb *kb, const char *service, int model_id, int resolution_h)
{
    return vd_kb_ms_at(kb, NULL, service, model_id, resolution_h, 0);
}

double vd_kb_ms_at(const vd_kb *kb, const char *node, const char *service, int model_id,
                   int resolution_h, double obj_n)
{
    if (!kb || !service) return -1;
    vd__kb_lock(kb);
    const kb_delay_e *near;
    double ms = delay_lookup(kb, node, service, model_id, resolution_h, &near);
    if (ms >= 0 && near && obj_n > 0 && near->d.ms_per_obj > 0) {
        double m = ms + near->d.ms_per_obj * (obj_n - near->d.obj_ref);
        ms = m > 0.1 * ms ? m : 0.1 * ms;
    }
    vd__kb_unlock(kb);
    return ms;
}

double vd_kb_accuracy(const char *service, int model_id, int resolution_h)
{
    (void)service;
    double m = model_id <= 0 ? 1.0 : model_id == 1 ? 0.85 : model_id == 2 ? 0.75 : 0.7;
    double r = resolution_h <= 0 || resolution_h >= 720 ? 1.0
               : resolution_h >= 480                    ? 0.95
               : resolution_h >= 360                    ? 0.9
                                                        : 0.8;
    return m * r;
}

/* ---- accuracy ---------------------------------------------------------------------------- */

static int acc_key_eq(const vd_kb_acc_key *a, const vd_kb_acc_key *b)
{
    return a->model_id == b->model_id && a->res == b->res && a->ntracking == b->ntracking &&
           a->nskip == b->nskip && fabs(a->src_fps - b->src_fps) < 1e-6 && a->enc == b->enc &&
           a->quality == b->quality && !strcmp(a->service, b->service) &&
           !strcmp(a->field, b->field);
}

kb_acc_e *vd__kb_find_acc(const vd_kb *kb, const vd_kb_acc_key *k)
{
    for (int i = 0; i < kb->na; i++)
        if (acc_key_eq(&kb->a[i].k, k)) return &kb->a[i];
    return NULL;
}

kb_acc_e *vd__kb_put_acc(vd_kb *kb, const vd_kb_acc_key *k, const vd_kb_acc *a)
{
    kb_acc_e *x = vd__kb_find_acc(kb, k);
    if (!x) {
        if (vd__kb_grow((void **)&kb->a, &kb->capa, kb->na, sizeof *kb->a)) return NULL;
        x = &kb->a[kb->na++];
        x->k = *k;
    }
    x->a = *a;
    kb->gen++;
    return x;
}

void vd_kb_set_acc(vd_kb *kb, const vd_kb_acc_key *k, const vd_kb_acc *a)
{
    if (!kb || !k || !a) return;
    vd__kb_lock(kb);
    vd__kb_put_acc(kb, k, a);
    vd__kb_unlock(kb);
}

int vd_kb_get_acc(const vd_kb *kb, const vd_kb_acc_key *k, vd_kb_acc *out)
{
    if (!kb || !k) return VD_ENOTFOUND;
    vd__kb_lock(kb);
    const kb_acc_e *x = vd__kb_find_acc(kb, k);
    if (x && out) *out = x->a;
    vd__kb_unlock(kb);
    return x ? 0 : VD_ENOTFOUND;
}

int vd_kb_has_accuracy(const vd_kb *kb, const char *service)
{
    if (!kb) return 0;
    vd__kb_lock(kb);
    int found = 0;
    for (int i = 0; i < kb->na && !found; i++)
        found = !service || !strcmp(kb->a[i].k.service, service);
    vd__kb_unlock(kb);
    return found;
}

/* Sort points by x and merge equal x (mean of y); returns the count. */
static int sort_points(kb_pt *p, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && p[j].x < p[j - 1].x; j--) {
            kb_pt t = p[j];
            p[j] = p[j - 1];
            p[j - 1] = t;
        }
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m > 0 && fabs(p[i].x - p[m - 1].x) < 1e-9) {
            double w = p[m - 1].w + p[i].w;
            p[m - 1].y =
                w > 0 ? (p[m - 1].y * p[m - 1].w + p[i].y * p[i].w) / w : (p[m - 1].y + p[i].y) / 2;
            p[m - 1].w = w;
        } else {
            p[m++] = p[i];
        }
    }
    return m;
}

double vd__kb_interp(kb_pt *p, int n, double x)
{
    n = sort_points(p, n);
    if (n <= 0) return -1;
    if (n == 1 || x <= p[0].x) return p[0].y;
    for (int i = 1; i < n; i++)
        if (x <= p[i].x) {
            double t = (x - p[i - 1].x) / (p[i].x - p[i - 1].x);
            return p[i - 1].y + t * (p[i].y - p[i - 1].y);
        }
    const kb_pt *a = &p[n - 2], *b = &p[n - 1];
    double y = b->y + (b->y - a->y) / (b->x - a->x) * (x - b->x);
    return y < 0 ? 0 : y > b->y ? b->y : y;
}

static double acc_value(const vd_kb_acc *a, int bucket)
{
    if (bucket >= 0 && bucket < VD_KB_N_BUCKETS && a->bucket_n[bucket] >= VD_KB_BUCKET_MIN_N)
        return a->bucket[bucket];
    return a->value;
}

static double entry_gap(const vd_kb_acc_key *k)
{
    return (k->nskip + 1) / (k->src_fps > 0 ? k->src_fps : VD_SCHED_DEFAULT_FPS);
}

#define MAX_PTS 64

/* Whether entry key k answers query q for the field (and the encoder). */
static int acc_match(const vd_kb_acc_key *k, const vd_kb_acc_query *q, const char *field,
                     vd_encoder enc, int quality)
{
    return k->model_id == q->model_id && k->enc == enc && k->quality == quality &&
           !strcmp(k->service, q->service) && !strcmp(k->field, field);
}

/* The field a query scores (lock held): its own, the service's primary one, or for a service
 * this build does not know, the first one measured. NULL if none. */
static const char *acc_field(const vd_kb *kb, const vd_kb_acc_query *q)
{
    if (q->field) return q->field;
    const vd_svc_field *f = vd_kb_primary_field(vd_service_find(q->service));
    if (f) return f->name;
    for (int i = 0; i < kb->na; i++)
        if (!strcmp(kb->a[i].k.service, q->service)) return kb->a[i].k.field;
    return NULL;
}

/* The raw curves of a query's service, field and model (lock held): heights, per height the
 * ntracking values, per both the points along the gap. 0, or VD_ENOTFOUND. */
static int surface(const vd_kb *kb, const vd_kb_acc_query *q, const char *field,
                   vd__acc_surface *sf)
{
    memset(sf, 0, sizeof *sf);
    for (int i = 0; i < kb->na; i++) {
        const kb_acc_e *e = &kb->a[i];
        if (!acc_match(&e->k, q, field, VD_ENC_NONE, 0)) continue;
        int a = 0, b = 0;
        while (a < sf->nh && sf->h[a] != e->k.res) a++;
        if (a == sf->nh) {
            if (sf->nh == VD_SF_H) continue;
            sf->h[sf->nh++] = e->k.res;
        }
        while (b < sf->nt[a] && sf->t[a][b] != e->k.ntracking) b++;
        if (b == sf->nt[a]) {
            if (sf->nt[a] == VD_SF_T) continue;
            sf->t[a][sf->nt[a]++] = e->k.ntracking;
        }
        if (sf->ng[a][b] == VD_SF_G) continue;
        sf->g[a][b][sf->ng[a][b]++] =
            (kb_pt){entry_gap(&e->k), acc_value(&e->a, q->bucket), e->a.n};
    }
    return sf->nh ? 0 : VD_ENOTFOUND;
}

double vd__surface_eval(const vd__acc_surface *sf, int res, int ntracking, double gap)
{
    if (!sf->nh) return -1;
    kb_pt ph[VD_SF_H], pt[VD_SF_T], pg[VD_SF_G];
    for (int a = 0; a < sf->nh; a++) {
        for (int b = 0; b < sf->nt[a]; b++) {
            memcpy(pg, sf->g[a][b], (size_t)sf->ng[a][b] * sizeof *pg);
            pt[b] = (kb_pt){sf->t[a][b], vd__kb_interp(pg, sf->ng[a][b], gap > 0 ? gap : 0), 1};
        }
        ph[a] = (kb_pt){-sf->h[a], vd__kb_interp(pt, sf->nt[a], ntracking), 1};
    }
    return vd__kb_interp(ph, sf->nh, -(double)res);
}

/* coded / raw score for the encoder at a quality (lock held): measured ratios of entries with
 * the same key but the encoder, interpolated in quality; 1 when nothing is measured. */
static double enc_factor(const vd_kb *kb, const char *service, const char *field, vd_encoder enc,
                         int quality)
{
    kb_pt pq[MAX_PTS];
    int n = 0;
    for (int i = 0; i < kb->na && n < MAX_PTS; i++) {
        const kb_acc_e *e = &kb->a[i];
        if (e->k.enc != enc || strcmp(e->k.service, service) || strcmp(e->k.field, field)) continue;
        vd_kb_acc_key rk = e->k;
        rk.enc = VD_ENC_NONE;
        rk.quality = 0;
        const kb_acc_e *r = vd__kb_find_acc(kb, &rk);
        if (!r || r->a.value <= 0) continue;
        double f = e->a.value / r->a.value;
        pq[n++] = (kb_pt){-(double)e->k.quality, f > 1 ? 1 : f, e->a.n};
    }
    if (!n) return 1;
    return vd__kb_interp(pq, n, -(double)quality);
}

int vd__kb_surface(const vd_kb *kb, const vd_kb_acc_query *q, vd__acc_surface *sf)
{
    if (!kb || !q || !q->service) return VD_ENOTFOUND;
    vd__kb_lock(kb);
    const char *field = acc_field(kb, q);
    int rc = field ? surface(kb, q, field, sf) : (memset(sf, 0, sizeof *sf), VD_ENOTFOUND);
    vd__kb_unlock(kb);
    return rc;
}

double vd__kb_enc_factor(const vd_kb *kb, const vd_kb_acc_query *q)
{
    if (!kb || !q || !q->service || q->enc == VD_ENC_NONE) return 1;
    vd__kb_lock(kb);
    const char *field = acc_field(kb, q);
    double f = field ? enc_factor(kb, q->service, field, q->enc,
                                  q->quality > 0 ? q->quality : VD_PLAN_DEFAULT_QUALITY)
                     : 1;
    vd__kb_unlock(kb);
    return f;
}

double vd__acc_clamp(double v)
{
    return v < 0 ? -1 : v > 1 ? 1 : v;
}

/* The surface of q from the kb's small cache, built on a miss (lock held). A change to the
 * accuracy entries bumps kb->gen, which makes every cached surface stale. */
static const kb_sf_cache *cached_surface(const vd_kb *ckb, const vd_kb_acc_query *q,
                                         const char *field)
{
    vd_kb *kb = (vd_kb *)ckb; /* the cache is the kb's own, under its lock */
    if (!kb->sfc && !(kb->sfc = calloc(VD_KB_SF_CACHE, sizeof *kb->sfc))) return NULL;
    for (int i = 0; i < VD_KB_SF_CACHE; i++) {
        const kb_sf_cache *e = &kb->sfc[i];
        if (e->used && e->gen == kb->gen && e->model == q->model_id && e->bucket == q->bucket &&
            !strcmp(e->service, q->service) && !strcmp(e->field, field))
            return e;
    }
    kb_sf_cache *e = &kb->sfc[kb->sfc_next];
    kb->sfc_next = (kb->sfc_next + 1) % VD_KB_SF_CACHE;
    e->used = 1;
    e->gen = kb->gen;
    e->model = q->model_id;
    e->bucket = q->bucket;
    snprintf(e->service, sizeof e->service, "%s", q->service);
    snprintf(e->field, sizeof e->field, "%s", field);
    e->rc = surface(kb, q, field, &e->sf);
    return e;
}

double vd_kb_acc_predict(const vd_kb *kb, const vd_kb_acc_query *q)
{
    if (!kb || !q || !q->service) return -1;
    vd__kb_lock(kb);
    const char *field = acc_field(kb, q);
    const kb_sf_cache *e = field ? cached_surface(kb, q, field) : NULL;
    double v = e && !e->rc ? vd__surface_eval(&e->sf, q->res, q->ntracking, q->gap_s) : -1;
    if (v >= 0 && q->enc != VD_ENC_NONE)
        v *= enc_factor(kb, q->service, field, q->enc,
                        q->quality > 0 ? q->quality : VD_PLAN_DEFAULT_QUALITY);
    vd__kb_unlock(kb);
    return vd__acc_clamp(v);
}

/* ---- bytes ------------------------------------------------------------------------------- */

kb_bytes_e *vd__kb_find_bytes(const vd_kb *kb, int res, vd_encoder enc, int quality)
{
    for (int i = 0; i < kb->nb; i++)
        if (kb->b[i].res == res && kb->b[i].enc == enc && kb->b[i].quality == quality)
            return &kb->b[i];
    return NULL;
}

kb_bytes_e *vd__kb_put_bytes(vd_kb *kb, int res, vd_encoder enc, int quality, const vd_kb_bytes *b)
{
    kb_bytes_e *x = vd__kb_find_bytes(kb, res, enc, quality);
    if (!x) {
        if (vd__kb_grow((void **)&kb->b, &kb->capb, kb->nb, sizeof *kb->b)) return NULL;
        x = &kb->b[kb->nb++];
        x->res = res;
        x->enc = enc;
        x->quality = quality;
    }
    x->b = *b;
    return x;
}

void vd_kb_set_bytes(vd_kb *kb, int resolution_h, vd_encoder enc, int quality, const vd_kb_bytes *b)
{
    if (!kb || !b) return;
    vd__kb_lock(kb);
    vd__kb_put_bytes(kb, resolution_h, enc, quality, b);
    vd__kb_unlock(kb);
}

int vd_kb_get_bytes(const vd_kb *kb, int resolution_h, vd_encoder enc, int quality,
                    vd_kb_bytes *out)
{
    if (!kb) return VD_ENOTFOUND;
    vd__kb_lock(kb);
    const kb_bytes_e *x = vd__kb_find_bytes(kb, resolution_h, enc, quality);
    if (x && out) *out = x->b;
    vd__kb_unlock(kb);
    return x ? 0 : VD_ENOTFOUND;
}

/* Per-pixel bytes (what = 0), encode ms (1) or decode ms (2) of entry x. */
static double per_px(const kb_bytes_e *x, int what)
{
    double p = (double)(x->b.width > 0 ? x->b.width : x->res * 16 / 9) * x->res;
    double v = what == 0 ? x->b.bytes : what == 1 ? x->b.enc_ms : x->b.dec_ms;
    return p > 0 ? v / p : 0;
}

/* A per-pixel quantity at height h and quality q (lock held), nearest outside the range. */
static double bytes_interp(const vd_kb *kb, vd_encoder enc, int h, int q, int what)
{
    int qs[MAX_PTS], nq = 0;
    for (int i = 0; i < kb->nb; i++) {
        if (kb->b[i].enc != enc) continue;
        int seen = 0;
        for (int j = 0; j < nq && !seen; j++) seen = qs[j] == kb->b[i].quality;
        if (!seen && nq < MAX_PTS) qs[nq++] = kb->b[i].quality;
    }
    if (!nq) return -1;
    kb_pt pq[MAX_PTS];
    for (int a = 0; a < nq; a++) {
        kb_pt ph[MAX_PTS];
        int n = 0;
        for (int i = 0; i < kb->nb && n < MAX_PTS; i++)
            if (kb->b[i].enc == enc && kb->b[i].quality == qs[a])
                ph[n++] = (kb_pt){kb->b[i].res, per_px(&kb->b[i], what), 1};
        n = sort_points(ph, n);
        double v = h <= ph[0].x       ? ph[0].y
                   : h >= ph[n - 1].x ? ph[n - 1].y
                                      : vd__kb_interp(ph, n, h);
        pq[a] = (kb_pt){qs[a], v, 1};
    }
    nq = sort_points(pq, nq);
    if (q <= pq[0].x) return pq[0].y;
    if (q >= pq[nq - 1].x) return pq[nq - 1].y;
    return vd__kb_interp(pq, nq, q);
}

double vd_kb_frame_bytes(const vd_kb *kb, int width, int height, vd_encoder enc, int quality,
                         double *enc_ms, double *dec_ms)
{
    if (enc_ms) *enc_ms = 0;
    if (dec_ms) *dec_ms = 0;
    if (!kb || height <= 0 || enc == VD_ENC_NONE) return -1;
    if (width <= 0) width = height * 16 / 9;
    if (quality <= 0) quality = VD_PLAN_DEFAULT_QUALITY;
    double p = (double)width * height;
    vd__kb_lock(kb);
    double b = bytes_interp(kb, enc, height, quality, 0);
    if (b >= 0) {
        if (enc_ms) *enc_ms = bytes_interp(kb, enc, height, quality, 1) * p;
        if (dec_ms) *dec_ms = bytes_interp(kb, enc, height, quality, 2) * p;
    }
    vd__kb_unlock(kb);
    return b < 0 ? -1 : b * p;
}
