/*
 * Rendering with cairo: boxes, landmarks, labels and text in a real font (DejaVu Sans
 * through cairo's toy text API). cairo gives anti-aliased shapes and proper glyphs
 * with no hand-drawn bitmaps; its cost is a copy of the frame in and out of cairo's
 * 32-bit pixel format, O(w*h) per rendered frame (~1 ms for 768x576, two passes),
 * small beside inference. A canvas belongs to one thread; canvases on different
 * frames may be used concurrently (cairo image surfaces share no state).
 */
#include <cairo.h>
#include <stdlib.h>
#include <string.h>

#include "vdag/media.h"

struct vd_canvas {
    vd_frame *f;
    cairo_surface_t *surf;
    cairo_t *cr;
};

/* Copy the packed RGB24 frame into a new cairo RGB24 (xRGB, 4 bytes/pixel) surface. */
int vd_canvas_begin(vd_frame *f, vd_canvas **out, vd_error *err)
{
    *out = NULL;
    if (!f || !f->data || f->width <= 0 || f->height <= 0)
        return vd_fail(err, VD_EINVAL, "draw: empty frame");
    vd_canvas *c = calloc(1, sizeof *c);
    if (!c) return vd_fail(err, VD_ENOMEM, "out of memory");
    c->f = f;
    c->surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, f->width, f->height);
    if (cairo_surface_status(c->surf) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(c->surf);
        free(c);
        return vd_fail(err, VD_ENOMEM, "cairo: cannot create a %dx%d surface", f->width, f->height);
    }
    cairo_surface_flush(c->surf);
    unsigned char *d = cairo_image_surface_get_data(c->surf);
    int ds = cairo_image_surface_get_stride(c->surf);
    for (int y = 0; y < f->height; y++) {
        const unsigned char *s = f->data + (size_t)y * (size_t)f->stride;
        uint32_t *o = (uint32_t *)(d + (size_t)y * (size_t)ds);
        for (int x = 0; x < f->width; x++)
            o[x] = ((uint32_t)s[3 * x] << 16) | ((uint32_t)s[3 * x + 1] << 8) | s[3 * x + 2];
    }
    cairo_surface_mark_dirty(c->surf);
    c->cr = cairo_create(c->surf);
    cairo_select_font_face(c->cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    *out = c;
    return 0;
}

static void set(cairo_t *cr, vd_rgb c, double a)
{
    cairo_set_source_rgba(cr, c.r / 255.0, c.g / 255.0, c.b / 255.0, a);
}

/* Stroke the rectangle's outline, `width` pixels thick, centred on its edges. */
void vd_draw_box(vd_canvas *c, float x1, float y1, float x2, float y2, vd_rgb color, float width)
{
    set(c->cr, color, 1);
    cairo_set_line_width(c->cr, width);
    cairo_rectangle(c->cr, x1, y1, x2 - x1, y2 - y1);
    cairo_stroke(c->cr);
}

/* Filled dots of `radius` at n (x, y) pairs, one fill for all. */
void vd_draw_points(vd_canvas *c, const float *xy, int n, vd_rgb color, float radius)
{
    if (!xy || n <= 0) return;
    set(c->cr, color, 1);
    for (int i = 0; i < n; i++) {
        cairo_new_sub_path(c->cr);
        cairo_arc(c->cr, xy[2 * i], xy[2 * i + 1], radius, 0, 6.2831853);
    }
    cairo_fill(c->cr);
}

/* n line segments (x1, y1, x2, y2 each), `width` pixels thick with round ends, one stroke. */
void vd_draw_lines(vd_canvas *c, const float *seg, int n, vd_rgb color, float width)
{
    if (!seg || n <= 0) return;
    set(c->cr, color, 1);
    cairo_set_line_width(c->cr, width);
    cairo_set_line_cap(c->cr, CAIRO_LINE_CAP_ROUND);
    for (int i = 0; i < n; i++) {
        cairo_move_to(c->cr, seg[4 * i], seg[4 * i + 1]);
        cairo_line_to(c->cr, seg[4 * i + 2], seg[4 * i + 3]);
    }
    cairo_stroke(c->cr);
    cairo_set_line_cap(c->cr, CAIRO_LINE_CAP_BUTT);
}

void vd_draw_polygon(vd_canvas *c, const float *xy, int n, vd_rgb color, float width,
                     float fill_alpha)
{
    if (!xy || n < 3) return;
    cairo_move_to(c->cr, xy[0], xy[1]);
    for (int i = 1; i < n; i++) cairo_line_to(c->cr, xy[2 * i], xy[2 * i + 1]);
    cairo_close_path(c->cr);
    if (fill_alpha > 0) {
        set(c->cr, color, fill_alpha);
        cairo_fill_preserve(c->cr);
    }
    set(c->cr, color, 1);
    cairo_set_line_width(c->cr, width);
    cairo_stroke(c->cr);
}

/* White text on a translucent `bg` box sized to the text. */
void vd_draw_label(vd_canvas *c, float x, float y, const char *text, vd_rgb bg, float size)
{
    if (!text || !*text) return;
    cairo_set_font_size(c->cr, size);
    cairo_text_extents_t e;
    cairo_text_extents(c->cr, text, &e);
    set(c->cr, bg, 0.85);
    cairo_rectangle(c->cr, x, y, e.x_advance + 6, size + 6);
    cairo_fill(c->cr);
    cairo_set_source_rgb(c->cr, 1, 1, 1);
    cairo_move_to(c->cr, x + 3, y + size + 1);
    cairo_show_text(c->cr, text);
}

/* White lines of text on a black 60% box at the top-left corner, sized to the widest. */
void vd_draw_text_block(vd_canvas *c, const char *const *lines, int n, float size)
{
    if (!lines || n <= 0) return;
    cairo_set_font_size(c->cr, size);
    double w = 0;
    for (int i = 0; i < n; i++) {
        cairo_text_extents_t e;
        cairo_text_extents(c->cr, lines[i] ? lines[i] : "", &e);
        if (e.x_advance > w) w = e.x_advance;
    }
    cairo_set_source_rgba(c->cr, 0, 0, 0, 0.6);
    cairo_rectangle(c->cr, 4, 4, w + 12, n * (size + 4) + 8);
    cairo_fill(c->cr);
    cairo_set_source_rgb(c->cr, 1, 1, 1);
    for (int i = 0; i < n; i++) {
        cairo_move_to(c->cr, 10, 8 + (i + 1) * (size + 4) - 4);
        if (lines[i]) cairo_show_text(c->cr, lines[i]);
    }
}

/* Copy the surface back into the frame (dropping the x byte) and free the canvas. */
void vd_canvas_end(vd_canvas *c)
{
    if (!c) return;
    cairo_destroy(c->cr);
    cairo_surface_flush(c->surf);
    const unsigned char *d = cairo_image_surface_get_data(c->surf);
    int ds = cairo_image_surface_get_stride(c->surf);
    vd_frame *f = c->f;
    for (int y = 0; y < f->height; y++) {
        unsigned char *o = f->data + (size_t)y * (size_t)f->stride;
        const uint32_t *s = (const uint32_t *)(d + (size_t)y * (size_t)ds);
        for (int x = 0; x < f->width; x++) {
            o[3 * x] = (unsigned char)(s[x] >> 16);
            o[3 * x + 1] = (unsigned char)(s[x] >> 8);
            o[3 * x + 2] = (unsigned char)s[x];
        }
    }
    cairo_surface_destroy(c->surf);
    free(c);
}

/* One of 10 distinct colours, picked by a multiplicative hash of id. */
vd_rgb vd_color_for(int id)
{
    static const vd_rgb pal[] = {{230, 25, 75},  {60, 180, 75},  {255, 225, 25}, {0, 130, 200},
                                 {245, 130, 48}, {145, 30, 180}, {70, 240, 240}, {240, 50, 230},
                                 {210, 245, 60}, {0, 128, 128}};
    unsigned k = (unsigned)id * 2654435761u;
    return pal[(k >> 16) % (sizeof pal / sizeof *pal)];
}
