/*
 * Accuracy metrics against a golden output, chosen by the output field's type:
 *   VD_FT_BOXES  -> F1 at IoU >= 0.5 (same class when the schema has a VD_FT_CLASSES field);
 *   VD_FT_POINTS -> PCK: the share of golden points within VD_PCK_THRESHOLD x sqrt(golden box
 *                   area) of the matched box's point (x, y only: a third value may be a depth
 *                   or a score); a golden box with no match loses all its points;
 *   VD_FT_COUNTS -> 1 - relative count error (|c - golden| / max(golden, 1), at most 1 per
 *                   key), averaged over the keys of either output.
 * A frame where both outputs are empty scores 1.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched_internal.h"

#define VD_IOU_MATCH     0.5f
#define VD_PCK_THRESHOLD 0.05
#define MAX_BOXES        512

const char *vd_metric_name(vd_metric m)
{
    return m == VD_METRIC_F1      ? "f1"
           : m == VD_METRIC_PCK   ? "pck"
           : m == VD_METRIC_COUNT ? "count"
                                  : "none";
}

int vd_metric_parse(const char *s)
{
    if (!s) return VD_EINVAL;
    for (int m = VD_METRIC_F1; m <= VD_METRIC_COUNT; m++)
        if (!strcmp(s, vd_metric_name((vd_metric)m))) return m;
    return VD_EINVAL;
}

vd_metric vd_metric_for(vd_field_type t)
{
    return t == VD_FT_BOXES    ? VD_METRIC_F1
           : t == VD_FT_POINTS ? VD_METRIC_PCK
           : t == VD_FT_COUNTS ? VD_METRIC_COUNT
                               : VD_METRIC_NONE;
}

static const vd_svc_field *first_of(const vd_service *svc, vd_field_type t)
{
    for (const vd_svc_field *f = svc ? svc->out_schema : NULL; f && f->name; f++)
        if (f->type == t) return f;
    return NULL;
}

const vd_svc_field *vd_kb_primary_field(const vd_service *svc)
{
    for (const vd_svc_field *f = svc ? svc->out_schema : NULL; f && f->name; f++)
        if (f->type == VD_FT_BOXES && (f->flags & VD_FIELD_TRACK)) return f;
    const vd_svc_field *f = first_of(svc, VD_FT_POINTS);
    if (!f) f = first_of(svc, VD_FT_BOXES);
    if (!f) f = first_of(svc, VD_FT_COUNTS);
    return f;
}

/* Boxes of field `name` in out (with classes from the schema's classes field, 0 without). */
static int get_boxes(const vd_service *svc, json_t *out, const char *name, vd_det *d, int cap)
{
    json_t *arr = json_object_get(out, name);
    const vd_svc_field *cf = first_of(svc, VD_FT_CLASSES);
    json_t *cls = cf ? json_object_get(out, cf->name) : NULL;
    int n = 0;
    size_t i;
    json_t *b;
    json_array_foreach(arr, i, b)
    {
        if (n >= cap) break;
        vd_det *x = &d[n++];
        x->x1 = (float)json_number_value(json_array_get(b, 0));
        x->y1 = (float)json_number_value(json_array_get(b, 1));
        x->x2 = (float)json_number_value(json_array_get(b, 2));
        x->y2 = (float)json_number_value(json_array_get(b, 3));
        x->score = 1;
        x->cls = (int)json_integer_value(json_array_get(cls, i));
    }
    return n;
}

typedef struct pair {
    float iou;
    int p, g;
} pair;

static int cmp_pair(const void *a, const void *b)
{
    float x = ((const pair *)a)->iou, y = ((const pair *)b)->iou;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Greedy matching by IoU: match[g] = predicted index or -1. Returns the matches. */
static int match_boxes(const vd_det *pred, int np, const vd_det *gold, int ng, float iou,
                       int by_class, int *match)
{
    for (int g = 0; g < ng; g++) match[g] = -1;
    if (!np || !ng) return 0;
    pair *pp = malloc((size_t)np * (size_t)ng * sizeof *pp);
    if (!pp) return 0;
    int n = 0;
    for (int p = 0; p < np; p++)
        for (int g = 0; g < ng; g++) {
            if (by_class && pred[p].cls != gold[g].cls) continue;
            float v = vd_iou(&pred[p], &gold[g]);
            if (v >= iou) pp[n++] = (pair){v, p, g};
        }
    qsort(pp, (size_t)n, sizeof *pp, cmp_pair);
    unsigned char *used = calloc((size_t)np, 1);
    int m = 0;
    for (int k = 0; k < n && used; k++) {
        if (used[pp[k].p] || match[pp[k].g] >= 0) continue;
        used[pp[k].p] = 1;
        match[pp[k].g] = pp[k].p;
        m++;
    }
    free(used);
    free(pp);
    return m;
}

double vd_score_f1(const vd_det *pred, int np, const vd_det *gold, int ng, float iou, int by_class)
{
    if (np + ng == 0) return 1;
    int *match = malloc((size_t)(ng > 0 ? ng : 1) * sizeof *match);
    if (!match) return 0;
    int tp = match_boxes(pred, np, gold, ng, iou, by_class, match);
    free(match);
    return 2.0 * tp / (np + ng);
}

static double box_scale(const vd_det *b)
{
    double a = ((double)b->x2 - b->x1) * ((double)b->y2 - b->y1);
    return a > 1 ? sqrt(a) : 1;
}

static int score_points(const vd_service *svc, const vd_svc_field *f, json_t *out, json_t *golden,
                        vd_score *s)
{
    const vd_svc_field *bf = first_of(svc, VD_FT_BOXES);
    if (!bf) return VD_EUNSUPP;
    static _Thread_local vd_det pb[MAX_BOXES], gb[MAX_BOXES];
    int match[MAX_BOXES];
    int np = get_boxes(svc, out, bf->name, pb, MAX_BOXES);
    int ng = get_boxes(svc, golden, bf->name, gb, MAX_BOXES);
    match_boxes(pb, np, gb, ng, VD_IOU_MATCH, 0, match);
    json_t *gp = json_object_get(golden, f->name), *pp = json_object_get(out, f->name);
    long total = 0, hit = 0, pred_points = 0;
    double errsum = 0;
    for (int p = 0; p < np; p++)
        pred_points += (long)json_array_size(json_array_get(pp, (size_t)p));
    for (int g = 0; g < ng; g++) {
        json_t *gpts = json_array_get(gp, (size_t)g);
        size_t n = json_array_size(gpts);
        total += (long)n;
        if (match[g] < 0) {
            errsum += (double)n;
            continue;
        }
        json_t *ppts = json_array_get(pp, (size_t)match[g]);
        double sc = box_scale(&gb[g]);
        for (size_t k = 0; k < n; k++) {
            json_t *a = json_array_get(gpts, k), *b = json_array_get(ppts, k);
            if (!b) {
                errsum += 1;
                continue;
            }
            double dx =
                json_number_value(json_array_get(a, 0)) - json_number_value(json_array_get(b, 0));
            double dy =
                json_number_value(json_array_get(a, 1)) - json_number_value(json_array_get(b, 1));
            double d = sqrt(dx * dx + dy * dy) / sc;
            hit += d <= VD_PCK_THRESHOLD;
            errsum += d < 1 ? d : 1;
        }
    }
    s->metric = VD_METRIC_PCK;
    s->n_gold = (int)total;
    if (total == 0) {
        s->value = pred_points == 0 ? 1 : 0;
        s->err = pred_points == 0 ? 0 : 1;
    } else {
        s->value = (double)hit / (double)total;
        s->err = errsum / (double)total;
    }
    return 0;
}

static int score_counts(json_t *out, json_t *golden, const char *name, vd_score *s)
{
    json_t *p = json_object_get(out, name), *g = json_object_get(golden, name);
    double rel = 0, abserr = 0;
    int keys = 0;
    const char *k;
    json_t *v;
    json_object_foreach(g, k, v)
    {
        double gv = json_number_value(v), pv = json_number_value(json_object_get(p, k));
        double r = fabs(pv - gv) / (gv > 1 ? gv : 1);
        rel += r < 1 ? r : 1;
        abserr += fabs(pv - gv);
        keys++;
    }
    json_object_foreach(p, k, v)
    {
        if (json_object_get(g, k)) continue;
        double pv = json_number_value(v);
        rel += fabs(pv) < 1 ? fabs(pv) : 1;
        abserr += fabs(pv);
        keys++;
    }
    s->metric = VD_METRIC_COUNT;
    s->n_gold = keys;
    s->value = 1 - (keys ? rel / keys : 0);
    s->err = keys ? abserr / keys : 0;
    return 0;
}

int vd_score_field(const vd_service *svc, const vd_svc_field *f, json_t *out, json_t *golden,
                   vd_score *s)
{
    memset(s, 0, sizeof *s);
    if (!svc || !f) return VD_EINVAL;
    switch (vd_metric_for(f->type)) {
    case VD_METRIC_F1: {
        static _Thread_local vd_det pb[MAX_BOXES], gb[MAX_BOXES];
        int np = get_boxes(svc, out, f->name, pb, MAX_BOXES);
        int ng = get_boxes(svc, golden, f->name, gb, MAX_BOXES);
        s->metric = VD_METRIC_F1;
        s->value = vd_score_f1(pb, np, gb, ng, VD_IOU_MATCH, first_of(svc, VD_FT_CLASSES) != NULL);
        s->err = 1 - s->value;
        s->n_gold = ng;
        return 0;
    }
    case VD_METRIC_PCK:
        return score_points(svc, f, out, golden, s);
    case VD_METRIC_COUNT:
        return score_counts(out, golden, f->name, s);
    default:
        return VD_EUNSUPP;
    }
}

void vd_kb_content(const vd_service *svc, json_t *golden, int w, int h, double *obj_n,
                   double *obj_frac)
{
    *obj_n = 0;
    *obj_frac = 0;
    const vd_svc_field *f = vd_kb_primary_field(svc);
    if (!f || f->type != VD_FT_BOXES) f = first_of(svc, VD_FT_BOXES);
    if (!f) return;
    static _Thread_local vd_det b[MAX_BOXES];
    int n = get_boxes(svc, golden, f->name, b, MAX_BOXES);
    double area = 0;
    for (int i = 0; i < n; i++) area += ((double)b[i].x2 - b[i].x1) * ((double)b[i].y2 - b[i].y1);
    *obj_n = n;
    if (n && w > 0 && h > 0) *obj_frac = area / n / ((double)w * h);
}
