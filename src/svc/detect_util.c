/* NMS, COCO labels and the SORT-style tracker. */
#include <stdlib.h>
#include <string.h>

#include "vdag/svc.h"

static const char *const coco[80] = {"person",        "bicycle",      "car",
                                     "motorcycle",    "airplane",     "bus",
                                     "train",         "truck",        "boat",
                                     "traffic light", "fire hydrant", "stop sign",
                                     "parking meter", "bench",        "bird",
                                     "cat",           "dog",          "horse",
                                     "sheep",         "cow",          "elephant",
                                     "bear",          "zebra",        "giraffe",
                                     "backpack",      "umbrella",     "handbag",
                                     "tie",           "suitcase",     "frisbee",
                                     "skis",          "snowboard",    "sports ball",
                                     "kite",          "baseball bat", "baseball glove",
                                     "skateboard",    "surfboard",    "tennis racket",
                                     "bottle",        "wine glass",   "cup",
                                     "fork",          "knife",        "spoon",
                                     "bowl",          "banana",       "apple",
                                     "sandwich",      "orange",       "broccoli",
                                     "carrot",        "hot dog",      "pizza",
                                     "donut",         "cake",         "chair",
                                     "couch",         "potted plant", "bed",
                                     "dining table",  "toilet",       "tv",
                                     "laptop",        "mouse",        "remote",
                                     "keyboard",      "cell phone",   "microwave",
                                     "oven",          "toaster",      "sink",
                                     "refrigerator",  "book",         "clock",
                                     "vase",          "scissors",     "teddy bear",
                                     "hair drier",    "toothbrush"};

const char *vd_coco_label(int cls)
{
    return cls >= 0 && cls < 80 ? coco[cls] : "unknown";
}

float vd_iou(const vd_det *a, const vd_det *b)
{
    float x1 = a->x1 > b->x1 ? a->x1 : b->x1, y1 = a->y1 > b->y1 ? a->y1 : b->y1;
    float x2 = a->x2 < b->x2 ? a->x2 : b->x2, y2 = a->y2 < b->y2 ? a->y2 : b->y2;
    float iw = x2 - x1, ih = y2 - y1;
    if (iw <= 0 || ih <= 0) return 0;
    float inter = iw * ih;
    float u = (a->x2 - a->x1) * (a->y2 - a->y1) + (b->x2 - b->x1) * (b->y2 - b->y1) - inter;
    return u > 0 ? inter / u : 0;
}

static int by_score(const void *a, const void *b)
{
    float x = ((const vd_det *)a)->score, y = ((const vd_det *)b)->score;
    return (x < y) - (x > y);
}

/* O(n^2) in the candidates, which are few after score filtering. */
int vd_nms(vd_det *d, int n, float iou, int agnostic)
{
    qsort(d, (size_t)n, sizeof *d, by_score);
    int kept = 0;
    for (int i = 0; i < n; i++) {
        int ok = 1;
        for (int j = 0; j < kept && ok; j++)
            if ((agnostic || d[j].cls == d[i].cls) && vd_iou(&d[j], &d[i]) > iou) ok = 0;
        if (ok) d[kept++] = d[i];
    }
    return kept;
}

/* ---- tracker ------------------------------------------------------------------------ */

typedef struct track {
    vd_det box;               /* current (predicted) box */
    vd_det last;              /* last detected box */
    float vx1, vy1, vx2, vy2; /* per-frame velocity of each edge */
    int id, misses, frames_since;
} track;

struct vd_tracker {
    track *t;
    int n, cap, next_id;
};

vd_tracker *vd_tracker_new(void)
{
    vd_tracker *t = calloc(1, sizeof *t);
    if (t) t->next_id = 1;
    return t;
}

void vd_tracker_free(vd_tracker *t)
{
    if (!t) return;
    free(t->t);
    free(t);
}

void vd_tracker_update(vd_tracker *t, const vd_det *dets, int n, int *ids)
{
    int *used = calloc((size_t)t->n + 1, sizeof(int));
    if (!used) return;
    for (int i = 0; i < n; i++) ids[i] = 0;
    /* greedy: repeatedly take the best-overlapping (track, detection) pair */
    for (;;) {
        float best = 0.2f;
        int bt = -1, bd = -1;
        for (int a = 0; a < t->n; a++) {
            if (used[a]) continue;
            for (int b = 0; b < n; b++) {
                if (ids[b] || t->t[a].box.cls != dets[b].cls) continue;
                float o = vd_iou(&t->t[a].box, &dets[b]);
                if (o > best) best = o, bt = a, bd = b;
            }
        }
        if (bt < 0) break;
        track *tr = &t->t[bt];
        float k = tr->frames_since > 0 ? 1.0f / (float)tr->frames_since : 1.0f;
        /* velocity from the detection-to-detection displacement, smoothed */
        tr->vx1 = 0.5f * tr->vx1 + 0.5f * (dets[bd].x1 - tr->last.x1) * k;
        tr->vy1 = 0.5f * tr->vy1 + 0.5f * (dets[bd].y1 - tr->last.y1) * k;
        tr->vx2 = 0.5f * tr->vx2 + 0.5f * (dets[bd].x2 - tr->last.x2) * k;
        tr->vy2 = 0.5f * tr->vy2 + 0.5f * (dets[bd].y2 - tr->last.y2) * k;
        tr->box = tr->last = dets[bd];
        tr->misses = 0;
        tr->frames_since = 1;
        used[bt] = 1;
        ids[bd] = tr->id;
    }
    /* unmatched tracks age; drop after 3 missed detections */
    int w = 0;
    for (int a = 0; a < t->n; a++) {
        if (!used[a] && ++t->t[a].misses > 3) continue;
        t->t[w++] = t->t[a];
    }
    t->n = w;
    free(used);
    for (int b = 0; b < n; b++) {
        if (ids[b]) continue;
        if (t->n == t->cap) {
            int nc = t->cap ? t->cap * 2 : 16;
            track *p = realloc(t->t, sizeof(track) * (size_t)nc);
            if (!p) return;
            t->t = p;
            t->cap = nc;
        }
        track *tr = &t->t[t->n++];
        memset(tr, 0, sizeof *tr);
        tr->box = tr->last = dets[b];
        tr->id = ids[b] = t->next_id++;
        tr->frames_since = 1;
    }
}

int vd_tracker_predict(vd_tracker *t, vd_det *out, int *ids, int cap)
{
    int k = 0;
    for (int a = 0; a < t->n; a++) {
        track *tr = &t->t[a];
        tr->box.x1 += tr->vx1;
        tr->box.y1 += tr->vy1;
        tr->box.x2 += tr->vx2;
        tr->box.y2 += tr->vy2;
        tr->frames_since++;
        if (tr->misses > 0 || k >= cap) continue; /* only confirmed, recently seen tracks */
        out[k] = tr->box;
        ids[k++] = tr->id;
    }
    return k;
}
