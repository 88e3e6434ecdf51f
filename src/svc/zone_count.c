/*
 * zone_count: objects per class in polygon zones and crossings of directed lines, from the
 * tracked boxes of an upstream detector (docs/zones.md).
 *
 * Each box is one point, its anchor (bottom centre by default: where a person stands). Per
 * track and line the service remembers a side, set only when the point is more than the
 * line's margin away from it; a crossing counts when the side flips and the track's path
 * from its last point on the old side to its point on the new one passes between the line's
 * two ends. A track jittering on the line stays within the margin and never flips; to count
 * the other way it must go back past the margin on the other side. Per track and zone: in
 * once the point is inside the polygon, out once it is outside by more than the margin.
 * Boxes without a track id count in zones by their point alone and cross no line. A track
 * unseen for FORGET frames is forgotten (a zone_leave for each zone it was in).
 *
 * Output: {"zones": [{"name", "counts": {label: n}, "total", "track_ids": [id…], "points"}],
 *          "lines": [{"name", "in", "out", "points"}] (in/out cumulative for the job),
 *          "events": [{"type": "zone_enter"|"zone_leave"|"line_cross", "zone"|"line": name,
 *                      "dir": "in"|"out" (line_cross), "track_id", "label"}] (this frame's),
 *          "count_result": {"zone:<name>": total}}; "points" in source pixels.
 * State lives in the instance for one job (the table says stateful).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/svc_util.h"
#include "svc/zone.h"

#define FORGET    30   /* frames a track may go unseen before it is forgotten */
#define MAX_BOXES 1024 /* boxes read per frame */

typedef struct ztrack {
    int id;
    int64_t seen; /* frame it was last seen in */
    char label[VD_ZONE_LABEL];
    unsigned char in[VD_ZONE_MAX]; /* per zone: inside */
    signed char side[VD_ZONE_MAX]; /* per line: -1 left, 1 right, 0 not yet known */
    float last[VD_ZONE_MAX][2];    /* per line: its last point on that side */
} ztrack;

typedef struct zc_ctx {
    json_t *cfg_json;        /* the configuration parsed into cfg (a reference) */
    vd__zone_config cfg, px; /* as given; in source pixels of px_w x px_h */
    int px_w, px_h;
    ztrack *t;
    int n, cap;
    int64_t frame;
    json_int_t in[VD_ZONE_MAX], out[VD_ZONE_MAX];
} zc_ctx;

static int zc_open(void *priv, int model_id, const vd_svc_opts *o, vd_error *err)
{
    (void)priv, (void)model_id, (void)o, (void)err;
    return 0;
}

static void zc_close(void *priv)
{
    zc_ctx *c = priv;
    json_decref(c->cfg_json);
    free(c->t);
}

static int zc_check_config(const char *name, json_t *value, const char *where, vd_error *err)
{
    (void)name;
    vd__zone_config *c = malloc(sizeof *c);
    if (!c) return vd_fail(err, VD_ENOMEM, "out of memory");
    int rc = vd__zone_config_parse(value, where, c, err);
    free(c);
    return rc;
}

/* The configuration of this call: parsed again only when it changes (a new one resets the
 * counts and tracks), scaled again when the source size does. */
static int use_config(zc_ctx *c, const vd_frame *f, json_t *cj, vd_error *err)
{
    if (!cj)
        return vd_fail(err, VD_EINVAL,
                       "zone_count: no config input (its zones and lines; docs/zones.md)");
    if (cj != c->cfg_json && !(c->cfg_json && json_equal(cj, c->cfg_json))) {
        int rc = vd__zone_config_parse(cj, "zone_count.config", &c->cfg, err);
        json_decref(c->cfg_json);
        c->cfg_json = NULL;
        c->n = 0;
        memset(c->in, 0, sizeof c->in);
        memset(c->out, 0, sizeof c->out);
        if (rc) return rc;
        c->cfg_json = json_incref(cj);
        c->px_w = 0;
    }
    if (c->px_w != f->src_width || c->px_h != f->src_height) {
        vd__zone_config_to_px(&c->cfg, f->src_width, f->src_height, &c->px);
        c->px_w = f->src_width, c->px_h = f->src_height;
    }
    return 0;
}

static ztrack *track_get(zc_ctx *c, int id, const char *label)
{
    for (int i = 0; i < c->n; i++)
        if (c->t[i].id == id) return &c->t[i];
    if (c->n == c->cap) {
        int nc = c->cap ? c->cap * 2 : 32;
        ztrack *p = realloc(c->t, sizeof *p * (size_t)nc);
        if (!p) return NULL;
        c->t = p, c->cap = nc;
    }
    ztrack *t = &c->t[c->n++];
    memset(t, 0, sizeof *t);
    t->id = id;
    snprintf(t->label, sizeof t->label, "%s", label);
    return t;
}

static void event(json_t *ev, const char *type, const char *key, const char *name, const char *dir,
                  int id, const char *label)
{
    json_t *e =
        json_pack("{s:s,s:s,s:i,s:s}", "type", type, key, name, "track_id", id, "label", label);
    if (e && dir) json_object_set_new(e, "dir", json_string(dir));
    json_array_append_new(ev, e);
}

/* One tracked point: zone membership and line sides updated, events appended. */
static void track_step(zc_ctx *c, ztrack *t, float x, float y, json_t *ev)
{
    const vd__zone_config *px = &c->px;
    for (int z = 0; z < px->n_zones; z++) {
        const vd__zone *zn = &px->zones[z];
        if (!vd__zone_classes_match(&zn->classes, t->label)) continue;
        if (!t->in[z] && vd__zone_inside(zn->xy, zn->n, x, y)) {
            t->in[z] = 1;
            event(ev, "zone_enter", "zone", zn->name, NULL, t->id, t->label);
        } else if (t->in[z] && !vd__zone_inside(zn->xy, zn->n, x, y) &&
                   vd__zone_edge_dist(zn->xy, zn->n, x, y) > px->margin) {
            t->in[z] = 0;
            event(ev, "zone_leave", "zone", zn->name, NULL, t->id, t->label);
        }
    }
    for (int l = 0; l < px->n_lines; l++) {
        const vd__zone_line *ln = &px->lines[l];
        if (!vd__zone_classes_match(&ln->classes, t->label)) continue;
        float s = vd__zone_side(ln->xy, x, y, NULL);
        int side = s > ln->margin ? 1 : s < -ln->margin ? -1 : 0;
        if (!side) continue; /* within the margin: nothing changes */
        if (t->side[l] && side != t->side[l]) {
            /* where the path from the last point on the old side meets the line */
            const float *p = t->last[l];
            float s0 = vd__zone_side(ln->xy, p[0], p[1], NULL);
            float k = s0 / (s0 - s), cx = p[0] + k * (x - p[0]), cy = p[1] + k * (y - p[1]), tc;
            vd__zone_side(ln->xy, cx, cy, &tc);
            if (tc >= 0 && tc <= 1) {
                int in = side > 0;
                (in ? c->in : c->out)[l]++;
                event(ev, "line_cross", "line", ln->name, in ? "in" : "out", t->id, t->label);
            }
        }
        t->side[l] = (signed char)side;
        t->last[l][0] = x, t->last[l][1] = y;
    }
}

/* Forget tracks unseen for FORGET frames, leaving their zones. */
static void forget(zc_ctx *c, json_t *ev)
{
    int w = 0;
    for (int i = 0; i < c->n; i++) {
        ztrack *t = &c->t[i];
        if (c->frame - t->seen <= FORGET) {
            c->t[w++] = *t;
            continue;
        }
        for (int z = 0; z < c->px.n_zones; z++)
            if (t->in[z])
                event(ev, "zone_leave", "zone", c->px.zones[z].name, NULL, t->id, t->label);
    }
    c->n = w;
}

static json_t *points_json(const float *xy, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_pack("[ff]", (double)xy[2 * i], (double)xy[2 * i + 1]));
    return a;
}

static json_t *zones_json(zc_ctx *c, json_t **zc, json_t **zid, json_t *counts)
{
    json_t *zones = json_array();
    for (int z = 0; z < c->px.n_zones; z++) {
        json_int_t total = 0;
        const char *k;
        json_t *v;
        json_object_foreach(zc[z], k, v) total += json_integer_value(v);
        char key[VD_ZONE_NAME + 8];
        snprintf(key, sizeof key, "zone:%s", c->px.zones[z].name);
        json_object_set_new(counts, key, json_integer(total));
        json_array_append_new(zones, json_pack("{s:s,s:o,s:I,s:o,s:o}", "name", c->px.zones[z].name,
                                               "counts", zc[z], "total", total, "track_ids", zid[z],
                                               "points",
                                               points_json(c->px.zones[z].xy, c->px.zones[z].n)));
    }
    return zones;
}

static int zc_process(void *priv, const vd_frame *f, json_t *args, json_t **out, vd_error *err)
{
    zc_ctx *c = priv;
    int rc = use_config(c, f, json_object_get(args, "config"), err);
    if (rc) return rc;
    json_t *bb = json_object_get(args, "bbox"), *lb = json_object_get(args, "labels"),
           *ids = json_object_get(args, "track_ids");
    if (!json_is_array(bb))
        return vd_fail(err, VD_EINVAL, "zone_count: bbox must be a list of [x1, y1, x2, y2]");
    c->frame++;
    const vd__zone_config *px = &c->px;
    json_t *zc[VD_ZONE_MAX], *zid[VD_ZONE_MAX], *ev = json_array();
    for (int z = 0; z < px->n_zones; z++) zc[z] = json_object(), zid[z] = json_array();
    for (size_t i = 0; i < json_array_size(bb) && i < MAX_BOXES; i++) {
        double x1, y1, x2, y2;
        if (json_unpack(json_array_get(bb, i), "[FFFF]", &x1, &y1, &x2, &y2)) continue;
        const char *label = json_string_value(json_array_get(lb, i));
        if (!label) label = "object";
        float x = (float)(x1 + x2) / 2,
              y = (float)(px->anchor == VD_ZONE_CENTER ? (y1 + y2) / 2 : y2);
        json_t *idj = json_array_get(ids, i);
        int id = json_is_integer(idj) && json_integer_value(idj) > 0 &&
                         json_integer_value(idj) <= 0x7fffffff
                     ? (int)json_integer_value(idj)
                     : 0;
        ztrack *t = id ? track_get(c, id, label) : NULL;
        if (t) {
            t->seen = c->frame;
            track_step(c, t, x, y, ev);
        }
        for (int z = 0; z < px->n_zones; z++) {
            const vd__zone *zn = &px->zones[z];
            int in = t ? t->in[z]
                       : vd__zone_classes_match(&zn->classes, label) &&
                             vd__zone_inside(zn->xy, zn->n, x, y);
            if (!in) continue;
            json_object_set_new(
                zc[z], label, json_integer(json_integer_value(json_object_get(zc[z], label)) + 1));
            if (t) json_array_append_new(zid[z], json_integer(id));
        }
    }
    forget(c, ev);
    json_t *counts = json_object(), *lines = json_array();
    json_t *zones = zones_json(c, zc, zid, counts);
    for (int l = 0; l < px->n_lines; l++)
        json_array_append_new(lines, json_pack("{s:s,s:I,s:I,s:o}", "name", px->lines[l].name, "in",
                                               c->in[l], "out", c->out[l], "points",
                                               points_json(px->lines[l].xy, 2)));
    *out = json_pack("{s:o,s:o,s:o,s:o}", "zones", zones, "lines", lines, "events", ev,
                     "count_result", counts);
    return *out ? 0 : vd_fail(err, VD_ENOMEM, "out of memory");
}

/* Profiling inputs: a zone, a line and a grid of boxes on the frame, no model needed. */
static int zc_profile_args(const vd_frame *f, const vd_svc_opts *o, json_t **args, vd_error *err)
{
    (void)o;
    json_t *bb = json_array(), *lb = json_array(), *ids = json_array();
    float w = (float)f->src_width, h = (float)f->src_height;
    for (int i = 0; i < 8; i++) {
        float x = w * (0.1f + 0.1f * (float)i), y = h * (0.2f + 0.08f * (float)i);
        json_array_append_new(bb, vd__box_json(x, y, x + w * 0.05f, y + h * 0.15f));
        json_array_append_new(lb, json_string("person"));
        json_array_append_new(ids, json_integer(i + 1));
    }
    json_t *cfg =
        json_pack("{s:s,s:[{s:s,s:[[ff][ff][ff][ff]]}],s:[{s:s,s:[[ff][ff]]}]}", "units",
                  "fraction", "zones", "name", "middle", "points", 0.25, 0.25, 0.75, 0.25, 0.75,
                  0.75, 0.25, 0.75, "lines", "name", "across", "points", 0.0, 0.5, 1.0, 0.5);
    *args =
        json_pack("{s:o,s:o,s:o,s:o}", "bbox", bb, "labels", lb, "track_ids", ids, "config", cfg);
    return *args ? 0 : vd_fail(err, VD_ENOMEM, "out of memory");
}

/* Zones as translucent polygons with "name: total" at their top vertex; lines with an arrow
 * from their middle towards "in" and "name in N out M" at their upper end. */
static void zc_render(vd_canvas *cv, const vd_frame *f, json_t *out)
{
    float kx = (float)f->width / (float)f->src_width, ky = (float)f->height / (float)f->src_height;
    size_t i;
    json_t *z;
    json_array_foreach(json_object_get(out, "zones"), i, z)
    {
        float xy[2 * VD_ZONE_MAX_POINTS], top = 1e9f, tx = 0;
        json_t *pts = json_object_get(z, "points");
        int n = 0;
        for (; n < VD_ZONE_MAX_POINTS && n < (int)json_array_size(pts); n++) {
            json_t *p = json_array_get(pts, (size_t)n);
            xy[2 * n] = (float)json_number_value(json_array_get(p, 0)) * kx;
            xy[2 * n + 1] = (float)json_number_value(json_array_get(p, 1)) * ky;
            if (xy[2 * n + 1] < top) top = xy[2 * n + 1], tx = xy[2 * n];
        }
        vd_rgb col = vd_color_for(1000 + (int)i);
        vd_draw_polygon(cv, xy, n, col, 2, 0.18f);
        char lab[96];
        snprintf(lab, sizeof lab, "%s: %lld", json_string_value(json_object_get(z, "name")),
                 (long long)json_integer_value(json_object_get(z, "total")));
        vd_draw_label(cv, tx, top - 18 < 0 ? 0 : top - 18, lab, col, 11);
    }
    json_t *l;
    json_array_foreach(json_object_get(out, "lines"), i, l)
    {
        json_t *pts = json_object_get(l, "points");
        float s[4];
        for (int k = 0; k < 4; k++)
            s[k] = (float)json_number_value(
                       json_array_get(json_array_get(pts, (size_t)k / 2), (size_t)k % 2)) *
                   (k % 2 ? ky : kx);
        vd_rgb col = vd_color_for(2000 + (int)i);
        vd_draw_lines(cv, s, 1, col, 3);
        /* an arrow from the middle towards the right of A->B: the "in" side */
        float mx = (s[0] + s[2]) / 2, my = (s[1] + s[3]) / 2, dx = s[2] - s[0], dy = s[3] - s[1];
        float len = sqrtf(dx * dx + dy * dy);
        if (len > 0) {
            float nx = -dy / len * 24, ny = dx / len * 24;
            float arrow[12] = {mx,
                               my,
                               mx + nx,
                               my + ny,
                               mx + nx,
                               my + ny,
                               mx + nx * 0.6f + ny * 0.4f,
                               my + ny * 0.6f - nx * 0.4f,
                               mx + nx,
                               my + ny,
                               mx + nx * 0.6f - ny * 0.4f,
                               my + ny * 0.6f + nx * 0.4f};
            vd_draw_lines(cv, arrow, 3, col, 2);
        }
        char lab[128];
        snprintf(lab, sizeof lab, "%s in %lld out %lld",
                 json_string_value(json_object_get(l, "name")),
                 (long long)json_integer_value(json_object_get(l, "in")),
                 (long long)json_integer_value(json_object_get(l, "out")));
        /* at the upper end, clear of the arrow */
        float tx = s[1] <= s[3] ? s[0] : s[2], ty = s[1] <= s[3] ? s[1] : s[3];
        vd_draw_label(cv, tx + 4, ty - 18 < 0 ? 0 : ty - 18, lab, col, 11);
    }
}

static const char *const zc_models[] = {"none"};
static const char *const zc_in[] = {"bbox", "config", NULL};
static const char *const zc_out[] = {"zones", "lines", "events", "count_result", NULL};
static const vd_svc_field zc_in_schema[] = {{"bbox", VD_FT_BOXES, 0},
                                            {"labels", VD_FT_LABELS, VD_FIELD_OPTIONAL},
                                            {"track_ids", VD_FT_IDS, VD_FIELD_OPTIONAL},
                                            {"config", VD_FT_CONFIG, 0},
                                            {NULL, 0, 0}};
static const vd_svc_field zc_schema[] = {{"zones", VD_FT_RECORDS, 0},
                                         {"lines", VD_FT_RECORDS, 0},
                                         {"events", VD_FT_RECORDS, 0},
                                         {"count_result", VD_FT_COUNTS, 0},
                                         {NULL, 0, 0}};

const vd_service vd_svc_zone_count = {
    .name = "zone_count",
    .description = "objects per class in polygon zones and in/out crossings of directed lines, "
                   "from a detector's tracked boxes",
    .n_models = 1,
    .model_names = zc_models,
    .inputs = zc_in,
    .outputs = zc_out,
    .stateful = 1,
    .out_schema = zc_schema,
    .in_schema = zc_in_schema,
    .check_config = zc_check_config,
    .profile_args = zc_profile_args,
    .priv_size = sizeof(zc_ctx),
    .open = zc_open,
    .process = zc_process,
    .close = zc_close,
    .render = zc_render,
};
