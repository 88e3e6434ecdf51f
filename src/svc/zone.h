/*
 * zone_count's configuration and geometry (internal to src/svc and its tests; not a public
 * API). docs/zones.md describes the configuration a user writes.
 *
 * A configuration is parsed once (vd__zone_config_parse, which also checks it: DAG parsing
 * calls it through the service's check_config) in its own units, then scaled to a frame's
 * source pixels (vd__zone_config_to_px) for the geometry. Plain data; no ownership.
 */
#ifndef VDAG_SVC_ZONE_H
#define VDAG_SVC_ZONE_H

#include <jansson.h>

#include "vdag/error.h"

#define VD_ZONE_MAX         16 /* zones, and lines, per configuration */
#define VD_ZONE_MAX_POINTS  32 /* vertices per zone */
#define VD_ZONE_NAME        64 /* name bytes with the NUL */
#define VD_ZONE_MAX_CLASSES 8  /* labels in a "classes" filter */
#define VD_ZONE_LABEL       32 /* label bytes with the NUL */

typedef enum vd__zone_anchor {
    VD_ZONE_BOTTOM_CENTER = 0, /* ((x1 + x2) / 2, y2): where a person stands */
    VD_ZONE_CENTER,            /* the box's centre */
} vd__zone_anchor;

/* A "classes" filter: n == 0 lets every label through. */
typedef struct vd__zone_classes {
    int n;
    char label[VD_ZONE_MAX_CLASSES][VD_ZONE_LABEL];
} vd__zone_classes;

typedef struct vd__zone {
    char name[VD_ZONE_NAME];
    int n;                            /* vertices, >= 3 */
    float xy[2 * VD_ZONE_MAX_POINTS]; /* x0, y0, x1, y1, … */
    vd__zone_classes classes;         /* the configuration's when the zone gives none */
} vd__zone;

typedef struct vd__zone_line {
    char name[VD_ZONE_NAME];
    float xy[4];              /* A (x, y) then B: "in" crosses from A->B's left to its right */
    float margin;             /* the configuration's when the line gives none */
    vd__zone_classes classes; /* the configuration's when the line gives none */
} vd__zone_line;

typedef struct vd__zone_config {
    int fraction; /* 1: coordinates are fractions of the frame (x of its width, y and margins
                     of its height); 0: source pixels */
    vd__zone_anchor anchor;
    float margin; /* < 0: the default, 2% of the frame's height */
    int n_zones, n_lines;
    vd__zone zones[VD_ZONE_MAX];
    vd__zone_line lines[VD_ZONE_MAX];
} vd__zone_config;

/* Parse and check a configuration object (borrowed). VD_EINVAL whose message starts with
 * `where` and the path of the bad field: an unknown field, a zone of fewer than 3 points or
 * more than VD_ZONE_MAX_POINTS, a self-intersecting or flat polygon, a line whose two points
 * coincide, a coordinate outside the frame (fractions outside 0..1), a duplicate name. */
int vd__zone_config_parse(json_t *j, const char *where, vd__zone_config *c, vd_error *err);
/* c in source pixels of a src_w x src_h frame (margins resolved) into px. */
void vd__zone_config_to_px(const vd__zone_config *c, int src_w, int src_h, vd__zone_config *px);
/* Does the filter let `label` through? */
int vd__zone_classes_match(const vd__zone_classes *f, const char *label);

/* ---- geometry (source pixels) ------------------------------------------------------------ */

/* Is (x, y) inside the polygon of n vertices (even-odd rule)? */
int vd__zone_inside(const float *xy, int n, float x, float y);
/* Distance from (x, y) to the polygon's boundary. */
float vd__zone_edge_dist(const float *xy, int n, float x, float y);
/* Signed distance of (x, y) from the line through A->B (ab = ax, ay, bx, by): > 0 on its
 * right as drawn on the image (y down), < 0 on its left; *t gets the position of (x, y)'s
 * projection along it (0 at A, 1 at B). */
float vd__zone_side(const float *ab, float x, float y, float *t);
/* Do the segments p1-p2 and p3-p4 intersect (touching counts)? */
int vd__zone_segments_cross(const float *p1, const float *p2, const float *p3, const float *p4);

#endif
