/*
 * zone_count's configuration: parsing and checking (every refusal names the JSON path of the
 * bad field), scaling to source pixels, and the geometry of zones and lines.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "svc/zone.h"

#define MAX_PX 65536.0 /* a pixel coordinate beyond any frame vdag decodes */

/* Is every key of object j one of the NULL-terminated `known`? Else VD_EINVAL naming it. */
static int known_keys(json_t *j, const char *const *known, const char *path, vd_error *err)
{
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        int ok = 0;
        for (const char *const *n = known; *n && !ok; n++) ok = !strcmp(*n, k);
        if (ok) continue;
        char list[160] = "";
        for (const char *const *n = known; *n; n++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                     n == known ? "" : ", ", *n);
        return vd_fail(err, VD_EINVAL, "%s.%.64s: unknown field (known: %s)", path, k, list);
    }
    return 0;
}

static int parse_name(json_t *j, const char *path, char *out, vd_error *err)
{
    const char *s = json_string_value(j);
    if (!s || !s[0] || json_string_length(j) >= VD_ZONE_NAME || strlen(s) != json_string_length(j))
        return vd_fail(err, VD_EINVAL, "%s.name: expected a name of 1..%d characters", path,
                       VD_ZONE_NAME - 1);
    snprintf(out, VD_ZONE_NAME, "%s", s);
    return 0;
}

static int parse_classes(json_t *j, const char *path, vd__zone_classes *c, vd_error *err)
{
    if (!j) return 0;
    if (!json_is_array(j) || json_array_size(j) < 1 || json_array_size(j) > VD_ZONE_MAX_CLASSES)
        return vd_fail(err, VD_EINVAL,
                       "%s.classes: expected a list of 1..%d labels (e.g. [\"person\", \"car\"])",
                       path, VD_ZONE_MAX_CLASSES);
    size_t i;
    json_t *s;
    json_array_foreach(j, i, s)
    {
        if (!json_is_string(s) || !json_string_length(s) ||
            json_string_length(s) >= VD_ZONE_LABEL ||
            strlen(json_string_value(s)) != json_string_length(s))
            return vd_fail(err, VD_EINVAL, "%s.classes[%zu]: expected a label of 1..%d characters",
                           path, i, VD_ZONE_LABEL - 1);
        snprintf(c->label[c->n++], VD_ZONE_LABEL, "%s", json_string_value(s));
    }
    return 0;
}

/* A distance (margin): >= 0, at most half the frame in fractions or MAX_PX / 4 pixels. */
static int parse_margin(json_t *j, int fraction, const char *path, float *out, vd_error *err)
{
    double hi = fraction ? 0.5 : MAX_PX / 4, v = json_number_value(j);
    if (!json_is_number(j) || !(v >= 0 && v <= hi))
        return vd_fail(err, VD_EINVAL, "%s.margin: expected a distance 0..%g (%s)", path, hi,
                       fraction ? "a fraction of the frame's height" : "source pixels");
    *out = (float)v;
    return 0;
}

/* "points": n [x, y] pairs, lo..hi of them, inside the frame. */
static int parse_points(json_t *j, int fraction, int lo, int hi, const char *path, float *xy,
                        int *n, vd_error *err)
{
    const char *what = lo == hi ? "exactly" : "at least";
    if (!json_is_array(j))
        return vd_fail(err, VD_EINVAL, "%s.points: expected a list of %s %d points [x, y]", path,
                       what, lo);
    size_t np = json_array_size(j);
    if ((int)np < lo || np > (size_t)hi)
        return vd_fail(err, VD_EINVAL, "%s.points: needs %s %d points [x, y] (has %zu)%s", path,
                       what, lo, np, (int)np < lo ? "" : ", too many");
    double max = fraction ? 1.0 : MAX_PX;
    for (size_t i = 0; i < np; i++) {
        json_t *p = json_array_get(j, i), *x = json_array_get(p, 0), *y = json_array_get(p, 1);
        if (json_array_size(p) != 2 || !json_is_number(x) || !json_is_number(y))
            return vd_fail(err, VD_EINVAL, "%s.points[%zu]: expected [x, y], two numbers", path, i);
        double vx = json_number_value(x), vy = json_number_value(y);
        if (!(vx >= 0 && vx <= max && vy >= 0 && vy <= max))
            return vd_fail(err, VD_EINVAL, "%s.points[%zu]: [%g, %g] is outside the frame (%s)",
                           path, i, vx, vy, fraction ? "fractions 0..1" : "source pixels 0..65536");
        xy[2 * i] = (float)vx, xy[2 * i + 1] = (float)vy;
    }
    *n = (int)np;
    return 0;
}

/* A simple polygon: no two non-adjacent edges meet, no edge of zero length, an area. */
static int check_polygon(const float *xy, int n, const char *path, vd_error *err)
{
    double area = 0;
    for (int i = 0; i < n; i++) {
        const float *a = xy + 2 * i, *b = xy + 2 * ((i + 1) % n);
        area += (double)a[0] * b[1] - (double)b[0] * a[1];
        if (a[0] == b[0] && a[1] == b[1])
            return vd_fail(err, VD_EINVAL, "%s.points[%d]: repeats the point before it", path,
                           (i + 1) % n);
    }
    for (int i = 0; i < n; i++)
        for (int k = i + 2; k < n; k++) {
            if (i == 0 && k == n - 1) continue; /* adjacent through the closing edge */
            if (vd__zone_segments_cross(xy + 2 * i, xy + 2 * ((i + 1) % n), xy + 2 * k,
                                        xy + 2 * ((k + 1) % n)))
                return vd_fail(err, VD_EINVAL,
                               "%s.points: a bad polygon: edge %d-%d crosses edge %d-%d (list the "
                               "points in order around the zone)",
                               path, i, (i + 1) % n, k, (k + 1) % n);
        }
    if (fabs(area) < 1e-9)
        return vd_fail(err, VD_EINVAL, "%s.points: a bad polygon: its points are on one line",
                       path);
    return 0;
}

static int unique(const char *name, const char *names, size_t stride, int n, const char *path,
                  vd_error *err)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names + stride * (size_t)i, name))
            return vd_fail(err, VD_EINVAL, "%s.name: '%s' is used twice", path, name);
    return 0;
}

static int parse_zone(json_t *j, const vd__zone_config *c, const char *path, vd__zone *z,
                      vd_error *err)
{
    static const char *const keys[] = {"name", "points", "classes", NULL};
    if (!json_is_object(j))
        return vd_fail(err, VD_EINVAL,
                       "%s: expected an object {\"name\", \"points\": [[x, y], …], \"classes\"}",
                       path);
    int rc = known_keys(j, keys, path, err);
    if (!rc) rc = parse_name(json_object_get(j, "name"), path, z->name, err);
    if (!rc) rc = unique(z->name, c->zones[0].name, sizeof c->zones[0], c->n_zones, path, err);
    if (!rc)
        rc = parse_points(json_object_get(j, "points"), c->fraction, 3, VD_ZONE_MAX_POINTS, path,
                          z->xy, &z->n, err);
    if (!rc) rc = check_polygon(z->xy, z->n, path, err);
    if (!rc) rc = parse_classes(json_object_get(j, "classes"), path, &z->classes, err);
    return rc;
}

static int parse_line(json_t *j, const vd__zone_config *c, const char *path, vd__zone_line *l,
                      vd_error *err)
{
    static const char *const keys[] = {"name", "points", "margin", "classes", NULL};
    if (!json_is_object(j))
        return vd_fail(err, VD_EINVAL,
                       "%s: expected an object {\"name\", \"points\": [[x, y], [x, y]], "
                       "\"margin\", \"classes\"}",
                       path);
    int n, rc = known_keys(j, keys, path, err);
    if (!rc) rc = parse_name(json_object_get(j, "name"), path, l->name, err);
    if (!rc) rc = unique(l->name, c->lines[0].name, sizeof c->lines[0], c->n_lines, path, err);
    if (!rc)
        rc = parse_points(json_object_get(j, "points"), c->fraction, 2, 2, path, l->xy, &n, err);
    if (!rc && l->xy[0] == l->xy[2] && l->xy[1] == l->xy[3])
        rc = vd_fail(err, VD_EINVAL, "%s.points: the line's two points are the same", path);
    json_t *m = json_object_get(j, "margin");
    l->margin = -1;
    if (!rc && m) rc = parse_margin(m, c->fraction, path, &l->margin, err);
    if (!rc) rc = parse_classes(json_object_get(j, "classes"), path, &l->classes, err);
    return rc;
}

int vd__zone_config_parse(json_t *j, const char *where, vd__zone_config *c, vd_error *err)
{
    static const char *const keys[] = {"units", "anchor", "margin", "classes",
                                       "zones", "lines",  NULL};
    memset(c, 0, sizeof *c);
    c->margin = -1;
    if (!where) where = "config";
    if (!json_is_object(j))
        return vd_fail(err, VD_EINVAL,
                       "%s: expected an object {\"units\", \"zones\": […], \"lines\": […]} "
                       "(docs/zones.md)",
                       where);
    int rc = known_keys(j, keys, where, err);
    if (rc) return rc;
    json_t *u = json_object_get(j, "units");
    const char *us = json_string_value(u);
    if (u && (!us || (strcmp(us, "px") && strcmp(us, "fraction"))))
        return vd_fail(err, VD_EINVAL,
                       "%s.units: expected \"px\" (source pixels, the default) or \"fraction\" "
                       "(of the frame's width and height)",
                       where);
    c->fraction = us && !strcmp(us, "fraction");
    json_t *a = json_object_get(j, "anchor");
    const char *as = json_string_value(a);
    if (a && (!as || (strcmp(as, "bottom_center") && strcmp(as, "center"))))
        return vd_fail(err, VD_EINVAL,
                       "%s.anchor: expected \"bottom_center\" (the default) or \"center\"", where);
    c->anchor = as && !strcmp(as, "center") ? VD_ZONE_CENTER : VD_ZONE_BOTTOM_CENTER;
    json_t *m = json_object_get(j, "margin");
    if (m && (rc = parse_margin(m, c->fraction, where, &c->margin, err))) return rc;
    vd__zone_classes all = {0};
    if ((rc = parse_classes(json_object_get(j, "classes"), where, &all, err))) return rc;
    json_t *zs = json_object_get(j, "zones"), *ls = json_object_get(j, "lines");
    if ((zs && (!json_is_array(zs) || json_array_size(zs) > VD_ZONE_MAX)) ||
        (ls && (!json_is_array(ls) || json_array_size(ls) > VD_ZONE_MAX)))
        return vd_fail(err, VD_EINVAL, "%s.%s: expected a list of at most %d", where,
                       zs && (!json_is_array(zs) || json_array_size(zs) > VD_ZONE_MAX) ? "zones"
                                                                                       : "lines",
                       VD_ZONE_MAX);
    if (!json_array_size(zs) && !json_array_size(ls))
        return vd_fail(err, VD_EINVAL, "%s: needs at least one zone or line (\"zones\", \"lines\")",
                       where);
    char path[256];
    for (size_t i = 0; i < json_array_size(zs); i++) {
        snprintf(path, sizeof path, "%s.zones[%zu]", where, i);
        vd__zone *z = &c->zones[c->n_zones];
        if ((rc = parse_zone(json_array_get(zs, i), c, path, z, err))) return rc;
        if (!z->classes.n) z->classes = all;
        c->n_zones++;
    }
    for (size_t i = 0; i < json_array_size(ls); i++) {
        snprintf(path, sizeof path, "%s.lines[%zu]", where, i);
        vd__zone_line *l = &c->lines[c->n_lines];
        if ((rc = parse_line(json_array_get(ls, i), c, path, l, err))) return rc;
        if (!l->classes.n) l->classes = all;
        c->n_lines++;
    }
    return 0;
}

void vd__zone_config_to_px(const vd__zone_config *c, int src_w, int src_h, vd__zone_config *px)
{
    *px = *c;
    px->fraction = 0;
    float kx = c->fraction ? (float)src_w : 1, ky = c->fraction ? (float)src_h : 1;
    float def = c->margin >= 0 ? c->margin * ky : 0.02f * (float)src_h;
    px->margin = def;
    for (int i = 0; i < c->n_zones; i++)
        for (int k = 0; k < c->zones[i].n; k++) {
            px->zones[i].xy[2 * k] = c->zones[i].xy[2 * k] * kx;
            px->zones[i].xy[2 * k + 1] = c->zones[i].xy[2 * k + 1] * ky;
        }
    for (int i = 0; i < c->n_lines; i++) {
        for (int k = 0; k < 2; k++) {
            px->lines[i].xy[2 * k] = c->lines[i].xy[2 * k] * kx;
            px->lines[i].xy[2 * k + 1] = c->lines[i].xy[2 * k + 1] * ky;
        }
        px->lines[i].margin = c->lines[i].margin >= 0 ? c->lines[i].margin * ky : def;
    }
}

int vd__zone_classes_match(const vd__zone_classes *f, const char *label)
{
    if (!f->n) return 1;
    for (int i = 0; i < f->n; i++)
        if (label && !strcmp(f->label[i], label)) return 1;
    return 0;
}

/* ---- geometry ----------------------------------------------------------------------------- */

int vd__zone_inside(const float *xy, int n, float x, float y)
{
    int in = 0;
    for (int i = 0, j = n - 1; i < n; j = i++) {
        float xi = xy[2 * i], yi = xy[2 * i + 1], xj = xy[2 * j], yj = xy[2 * j + 1];
        if ((yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) in = !in;
    }
    return in;
}

static float seg_dist(const float *a, const float *b, float x, float y)
{
    float dx = b[0] - a[0], dy = b[1] - a[1], l2 = dx * dx + dy * dy;
    float t = l2 > 0 ? ((x - a[0]) * dx + (y - a[1]) * dy) / l2 : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    return hypotf(x - (a[0] + t * dx), y - (a[1] + t * dy));
}

float vd__zone_edge_dist(const float *xy, int n, float x, float y)
{
    float d = INFINITY;
    for (int i = 0; i < n; i++) d = fminf(d, seg_dist(xy + 2 * i, xy + 2 * ((i + 1) % n), x, y));
    return d;
}

float vd__zone_side(const float *ab, float x, float y, float *t)
{
    float dx = ab[2] - ab[0], dy = ab[3] - ab[1], len = hypotf(dx, dy);
    float px = x - ab[0], py = y - ab[1];
    if (t) *t = len > 0 ? (px * dx + py * dy) / (len * len) : 0;
    return len > 0 ? (dx * py - dy * px) / len : 0;
}

/* Orientation of c against a->b: 1 counter-clockwise, -1 clockwise, 0 collinear. */
static int orient(const float *a, const float *b, const float *c)
{
    double v = ((double)b[0] - a[0]) * ((double)c[1] - a[1]) -
               ((double)b[1] - a[1]) * ((double)c[0] - a[0]);
    return (v > 0) - (v < 0);
}

static int on_segment(const float *a, const float *b, const float *c)
{
    return fminf(a[0], b[0]) <= c[0] && c[0] <= fmaxf(a[0], b[0]) && fminf(a[1], b[1]) <= c[1] &&
           c[1] <= fmaxf(a[1], b[1]);
}

int vd__zone_segments_cross(const float *p1, const float *p2, const float *p3, const float *p4)
{
    int o1 = orient(p1, p2, p3), o2 = orient(p1, p2, p4), o3 = orient(p3, p4, p1),
        o4 = orient(p3, p4, p2);
    if (o1 != o2 && o3 != o4) return 1;
    return (!o1 && on_segment(p1, p2, p3)) || (!o2 && on_segment(p1, p2, p4)) ||
           (!o3 && on_segment(p3, p4, p1)) || (!o4 && on_segment(p3, p4, p2));
}
