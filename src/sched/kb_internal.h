/* The knowledge base's store, shared by kb.c (look-ups), kb_json.c (file form, merge) and
 * kb_profile.c (measurements). Every function here expects the kb's lock held unless it
 * says otherwise. */
#ifndef VDAG_KB_INTERNAL_H
#define VDAG_KB_INTERNAL_H

#include <pthread.h>

#include "sched/sched_internal.h"

typedef struct kb_delay_e {
    char node[64]; /* "" = the kb's own machine */
    char service[48];
    int model_id, res;
    vd_kb_delay d;
} kb_delay_e;

typedef struct kb_acc_e {
    vd_kb_acc_key k;
    vd_kb_acc a;
} kb_acc_e;

typedef struct kb_bytes_e {
    int res;
    vd_encoder enc;
    int quality;
    vd_kb_bytes b;
} kb_bytes_e;

typedef struct kb_exit_e { /* a point of a cascade model's exit curve (kb_exit.c) */
    char service[48];
    int model_id;
    vd_kb_exit_pt p;
} kb_exit_e;

typedef struct kb_sf_cache kb_sf_cache; /* a cached accuracy surface (kb.c) */
#define VD_KB_SF_CACHE 16

struct vd_kb {
    pthread_mutex_t mu;
    unsigned gen;     /* bumped by every change to the accuracy entries */
    kb_sf_cache *sfc; /* VD_KB_SF_CACHE surfaces, allocated on first use */
    int sfc_next;
    char host[64];
    json_t *info; /* how it was profiled (free-form) */
    kb_delay_e *d;
    int nd, capd;
    kb_acc_e *a;
    int na, capa;
    kb_bytes_e *b;
    int nb, capb;
    kb_exit_e *x;
    int nx, capx;
};

/* Take / release the kb's lock (the kb is logically const for readers). */
void vd__kb_lock(const vd_kb *kb);
void vd__kb_unlock(const vd_kb *kb);
/* Make room for one more element in *p (n used of *cap); VD_ENOMEM on failure. No lock. */
int vd__kb_grow(void **p, int *cap, int n, size_t size);

void vd__kb_put_delay(vd_kb *kb, const char *node, const char *service, int model, int res,
                      const vd_kb_delay *d);
kb_acc_e *vd__kb_find_acc(const vd_kb *kb, const vd_kb_acc_key *k);
kb_acc_e *vd__kb_put_acc(vd_kb *kb, const vd_kb_acc_key *k, const vd_kb_acc *a);
kb_bytes_e *vd__kb_find_bytes(const vd_kb *kb, int res, vd_encoder enc, int quality);
kb_bytes_e *vd__kb_put_bytes(vd_kb *kb, int res, vd_encoder enc, int quality, const vd_kb_bytes *b);

/* kb_exit.c: exit curves (lock held), their file form ("exit") and merge. */
int vd__kb_put_exit(vd_kb *kb, const char *service, int model, const vd_kb_exit_pt *p);
json_t *vd__kb_exits_json(const vd_kb *kb);
int vd__kb_exits_read(vd_kb *kb, json_t *a, vd_error *err);
int vd__kb_exits_merge(vd_kb *dst, const vd_kb *src);

/* f scaled to height h (aspect kept, even width), its source size kept for coordinates. */
int vd__kb_scale_to(const vd_frame *f, int h, vd_frame **out, vd_error *err);

/* A point of a curve: x, y and a weight (frames) for merging equal x. */
typedef struct kb_pt {
    double x, y, w;
} kb_pt;
/* The curve rule of vd_kb_acc_predict through p (reordered in place; equal x merged by
 * weight) at x: the first y before the first point, linear between points, after the last
 * the line through the last two clamped to [0, last y]. -1 if n == 0. No lock. */
double vd__kb_interp(kb_pt *p, int n, double x);

/* The measured accuracy of one service, field and model (raw frames) as vd_kb_acc_predict
 * interpolates it: heights, their ntracking values, the points along the gap. */
#define VD_SF_H 8
#define VD_SF_T 6
#define VD_SF_G 12
typedef struct vd__acc_surface {
    int nh;
    int h[VD_SF_H];
    int nt[VD_SF_H];
    int t[VD_SF_H][VD_SF_T];
    int ng[VD_SF_H][VD_SF_T];
    kb_pt g[VD_SF_H][VD_SF_T][VD_SF_G];
} vd__acc_surface;
struct kb_sf_cache {
    int used, rc, model, bucket;
    unsigned gen;
    char service[48], field[32];
    vd__acc_surface sf;
};

/* The surface of q's service, field (NULL: primary), model and bucket; VD_ENOTFOUND when
 * nothing is measured (takes the lock). */
int vd__kb_surface(const vd_kb *kb, const vd_kb_acc_query *q, vd__acc_surface *sf);
/* Its value at (res, ntracking, gap) before the encoder factor; -1 if empty. No lock. */
double vd__surface_eval(const vd__acc_surface *sf, int res, int ntracking, double gap);
/* The encoder factor of q (1 for VD_ENC_NONE or when unmeasured; takes the lock). */
double vd__kb_enc_factor(const vd_kb *kb, const vd_kb_acc_query *q);
/* vd_kb_acc_predict's final clamp: <0 -> -1, above 1 -> 1. */
double vd__acc_clamp(double v);

#endif
