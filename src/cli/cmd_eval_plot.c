/*
 * vdag eval plot: the harness's PNG (bench/eval_sched.sh): each scheduler's per-frame delay
 * over time (a dot per frame, a line of their mean over `smooth` s), its plan changes marked
 * on its line, the delay bound, and the
 * link's rate schedule in a strip below. Drawn with cairo (as src/media/draw.c); the input
 * is JSON (jansson), so no new parser:
 *
 *   {"title": "…", "bound": 0.15, "end": 180,
 *    "rates": [[0, 50], [60, 5], [120, 50]],                 (t s, Mbit/s from then on)
 *    "smooth": 1,                           (the lines: the mean over that many seconds)
 *    "series": [{"name": "kb", "t": [0.4, …], "delay": [0.05, …], "changes": [2.1, …]}]}
 *
 * Anything missing or of the wrong type is skipped (a series without points is only in the
 * legend); the only errors are an unreadable input and an unwritable PNG.
 */
#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"

#define W      1400
#define H      760
#define LEFT   80
#define RIGHT  190
#define TOP    50
#define STRIP  110 /* the rate strip's height */
#define GAP    40
#define BOTTOM 50

static const double palette[][3] = {{0.12, 0.47, 0.71}, {1.00, 0.50, 0.05}, {0.17, 0.63, 0.17},
                                    {0.84, 0.15, 0.16}, {0.58, 0.40, 0.74}, {0.55, 0.34, 0.29},
                                    {0.89, 0.47, 0.76}, {0.50, 0.50, 0.50}};
#define NPAL (int)(sizeof palette / sizeof *palette)

void vd_usage_eval_plot(FILE *f)
{
    fprintf(f, "usage: vdag eval plot --in RUN.json --out RUN.png\n"
               "Draws the harness's run (bench/eval_sched.sh writes RUN.json): each scheduler's\n"
               "delay per frame over time with its plan changes (triangles), the delay bound\n"
               "(dashed) and the link's rate schedule (the strip below).\n");
}

/* A round step (1, 2 or 5 x 10^k) giving about n ticks over span. */
static double nice_step(double span, int n)
{
    double raw = span / (n > 0 ? n : 1), p = pow(10, floor(log10(raw > 0 ? raw : 1)));
    double m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static double num(json_t *v, double dflt)
{
    return json_is_number(v) && isfinite(json_number_value(v)) ? json_number_value(v) : dflt;
}

typedef struct axes {
    double x0, x1, y0, y1;     /* data range */
    double px0, px1, py0, py1; /* pixels: px0 left, py0 bottom */
} axes;

static double ax_x(const axes *a, double x)
{
    return a->px0 + (x - a->x0) / (a->x1 - a->x0) * (a->px1 - a->px0);
}

static double ax_y(const axes *a, double y)
{
    if (y > a->y1) y = a->y1;
    if (y < a->y0) y = a->y0;
    return a->py0 - (y - a->y0) / (a->y1 - a->y0) * (a->py0 - a->py1);
}

static void text_at(cairo_t *cr, double x, double y, const char *s, double align)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - align * e.x_advance, y);
    cairo_show_text(cr, s);
}

/* Frame, grid and tick labels of one panel. */
static void draw_axes(cairo_t *cr, const axes *a, const char *ylabel, int xlabels)
{
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_rectangle(cr, a->px0, a->py1, a->px1 - a->px0, a->py0 - a->py1);
    cairo_fill(cr);
    cairo_set_font_size(cr, 13);
    char buf[64];
    double sx = nice_step(a->x1 - a->x0, 12), sy = nice_step(a->y1 - a->y0, 6);
    cairo_set_line_width(cr, 1);
    for (double x = ceil(a->x0 / sx) * sx; x <= a->x1 + 1e-9; x += sx) {
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, ax_x(a, x), a->py0);
        cairo_line_to(cr, ax_x(a, x), a->py1);
        cairo_stroke(cr);
        if (!xlabels) continue;
        cairo_set_source_rgb(cr, 0, 0, 0);
        snprintf(buf, sizeof buf, "%g", x);
        text_at(cr, ax_x(a, x), a->py0 + 18, buf, 0.5);
    }
    for (double y = ceil(a->y0 / sy) * sy; y <= a->y1 + 1e-9; y += sy) {
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, a->px0, ax_y(a, y));
        cairo_line_to(cr, a->px1, ax_y(a, y));
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        snprintf(buf, sizeof buf, "%g", y);
        text_at(cr, a->px0 - 6, ax_y(a, y) + 4, buf, 1);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, a->px0, a->py1, a->px1 - a->px0, a->py0 - a->py1);
    cairo_stroke(cr);
    cairo_save(cr);
    cairo_translate(cr, 24, (a->py0 + a->py1) / 2);
    cairo_rotate(cr, -M_PI / 2);
    text_at(cr, 0, 0, ylabel, 0.5);
    cairo_restore(cr);
}

static void triangle(cairo_t *cr, double x, double y)
{
    cairo_move_to(cr, x - 6, y - 11);
    cairo_line_to(cr, x + 6, y - 11);
    cairo_line_to(cr, x, y - 1);
    cairo_close_path(cr);
}

/* The mean delay of the frames in (at - w, at] (NAN when none). */
static double mean_at(json_t *t, json_t *d, size_t n, double at, double w)
{
    double sum = 0;
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        double x = num(json_array_get(t, i), NAN), y = num(json_array_get(d, i), NAN);
        if (isnan(x) || isnan(y) || x > at || x <= at - w) continue;
        sum += y, m++;
    }
    return m ? sum / m : NAN;
}

static void draw(cairo_t *cr, json_t *in)
{
    json_t *series = json_object_get(in, "series"), *rates = json_object_get(in, "rates"), *s;
    double bound = num(json_object_get(in, "bound"), 0), end = num(json_object_get(in, "end"), 0);
    double smooth = num(json_object_get(in, "smooth"), 1);
    if (smooth <= 0) smooth = 1;
    double ymax = bound, rmax = 1;
    size_t k, i;
    json_array_foreach(series, k, s)
    {
        json_t *t = json_object_get(s, "t"), *d = json_object_get(s, "delay");
        for (i = 0; i < json_array_size(t); i++) {
            double x = num(json_array_get(t, i), 0), y = num(json_array_get(d, i), 0);
            if (x > end) end = x;
            if (y > ymax) ymax = y;
        }
    }
    json_t *r;
    json_array_foreach(rates, k, r) if (num(json_array_get(r, 1), 0) > rmax) rmax =
        num(json_array_get(r, 1), 0);
    if (bound > 0 && ymax > 3 * bound) ymax = 3 * bound; /* above: drawn at the top */
    if (ymax <= 0) ymax = 1;
    if (end <= 0) end = 1;
    cairo_set_source_rgb(cr, 0.97, 0.97, 0.97);
    cairo_paint(cr);
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    axes a = {0, end, 0, ymax * 1.05, LEFT, W - RIGHT, H - BOTTOM - STRIP - GAP, TOP};
    axes b = {0, end, 0, rmax * 1.15, LEFT, W - RIGHT, H - BOTTOM, H - BOTTOM - STRIP};
    draw_axes(cr, &a, "delay per frame (s)", 0);
    draw_axes(cr, &b, "link (Mbit/s)", 1);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_font_size(cr, 13);
    text_at(cr, (a.px0 + a.px1) / 2, H - 12, "time since the job started (s)", 0.5);
    cairo_set_font_size(cr, 17);
    const char *title = json_string_value(json_object_get(in, "title"));
    text_at(cr, LEFT, 30, title ? title : "scheduler evaluation", 0);

    /* the rate schedule: steps, and the step times through the delay panel */
    cairo_set_line_width(cr, 2);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    size_t nr = json_array_size(rates);
    for (k = 0; k < nr; k++) {
        r = json_array_get(rates, k);
        double t0 = num(json_array_get(r, 0), 0), v = num(json_array_get(r, 1), 0);
        double t1 = k + 1 < nr ? num(json_array_get(json_array_get(rates, k + 1), 0), end) : end;
        if (t1 > end) t1 = end;
        cairo_set_source_rgba(cr, 0.3, 0.3, 0.3, 0.25);
        cairo_rectangle(cr, ax_x(&b, t0), ax_y(&b, v), ax_x(&b, t1) - ax_x(&b, t0),
                        b.py0 - ax_y(&b, v));
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        char buf[48];
        snprintf(buf, sizeof buf, "%g Mbit/s", v);
        cairo_set_font_size(cr, 12);
        text_at(cr, (ax_x(&b, t0) + ax_x(&b, t1)) / 2, ax_y(&b, v) - 4, buf, 0.5);
        if (k > 0) {
            double dash[] = {2, 4};
            cairo_set_dash(cr, dash, 2, 0);
            cairo_set_line_width(cr, 1);
            cairo_move_to(cr, ax_x(&a, t0), a.py0);
            cairo_line_to(cr, ax_x(&a, t0), a.py1);
            cairo_stroke(cr);
            cairo_set_dash(cr, NULL, 0, 0);
        }
    }
    if (bound > 0) {
        double dash[] = {8, 5};
        cairo_set_dash(cr, dash, 2, 0);
        cairo_set_line_width(cr, 2);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, a.px0, ax_y(&a, bound));
        cairo_line_to(cr, a.px1, ax_y(&a, bound));
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
    }

    /* one line per scheduler, its plan changes as triangles on it */
    cairo_save(cr);
    cairo_rectangle(cr, a.px0, a.py1 - 14, a.px1 - a.px0, a.py0 - a.py1 + 14);
    cairo_clip(cr);
    json_array_foreach(series, k, s)
    {
        const double *c = palette[k % NPAL];
        json_t *t = json_object_get(s, "t"), *d = json_object_get(s, "delay");
        size_t n =
            json_array_size(t) < json_array_size(d) ? json_array_size(t) : json_array_size(d);
        /* every frame a dot; the line: the mean over the last `smooth` seconds */
        cairo_set_source_rgba(cr, c[0], c[1], c[2], 0.5);
        for (i = 0; i < n; i++) {
            double x = num(json_array_get(t, i), NAN), y = num(json_array_get(d, i), NAN);
            if (isnan(x) || isnan(y)) continue;
            cairo_new_sub_path(cr);
            cairo_arc(cr, ax_x(&a, x), ax_y(&a, y), 2.2, 0, 2 * M_PI);
        }
        cairo_fill(cr);
        cairo_set_source_rgba(cr, c[0], c[1], c[2], 0.95);
        cairo_set_line_width(cr, 2);
        int started = 0;
        size_t lo = 0;
        double sum = 0;
        int m = 0;
        for (i = 0; i < n; i++) { /* a sliding window over frames in time order */
            double x = num(json_array_get(t, i), NAN), y = num(json_array_get(d, i), NAN);
            if (isnan(x) || isnan(y)) continue;
            sum += y, m++;
            for (; lo < i; lo++) {
                double x0 = num(json_array_get(t, lo), NAN), y0 = num(json_array_get(d, lo), NAN);
                if (!isnan(x0) && x0 > x - smooth) break;
                if (!isnan(x0) && !isnan(y0)) sum -= y0, m--;
            }
            double v = m > 0 ? sum / m : y;
            if (started)
                cairo_line_to(cr, ax_x(&a, x), ax_y(&a, v));
            else
                cairo_move_to(cr, ax_x(&a, x), ax_y(&a, v)), started = 1;
        }
        cairo_stroke(cr);
        json_t *ch = json_object_get(s, "changes"), *v;
        json_array_foreach(ch, i, v)
        {
            double x = num(v, NAN), y = mean_at(t, d, n, x, smooth);
            if (isnan(x)) continue;
            triangle(cr, ax_x(&a, x), isnan(y) ? a.py1 : ax_y(&a, y));
            cairo_set_source_rgb(cr, c[0], c[1], c[2]);
            cairo_fill_preserve(cr);
            cairo_set_source_rgb(cr, 0, 0, 0);
            cairo_set_line_width(cr, 0.8);
            cairo_stroke(cr);
        }
    }
    cairo_restore(cr);

    /* legend */
    cairo_set_font_size(cr, 14);
    double ly = TOP + 10;
    json_array_foreach(series, k, s)
    {
        const double *c = palette[k % NPAL];
        const char *name = json_string_value(json_object_get(s, "name"));
        cairo_set_source_rgb(cr, c[0], c[1], c[2]);
        cairo_rectangle(cr, W - RIGHT + 15, ly - 10, 22, 10);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(cr, W - RIGHT + 45, ly, name ? name : "?", 0);
        ly += 22;
    }
    ly += 8;
    cairo_set_line_width(cr, 2);
    double dash[] = {8, 5};
    cairo_set_dash(cr, dash, 2, 0);
    cairo_move_to(cr, W - RIGHT + 15, ly - 5);
    cairo_line_to(cr, W - RIGHT + 37, ly - 5);
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
    text_at(cr, W - RIGHT + 45, ly, "delay bound", 0);
    ly += 24;
    triangle(cr, W - RIGHT + 26, ly + 2);
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    text_at(cr, W - RIGHT + 45, ly, "plan change", 0);
    ly += 30;
    char buf[64];
    snprintf(buf, sizeof buf, "dots: frames; lines:");
    text_at(cr, W - RIGHT + 15, ly, buf, 0);
    snprintf(buf, sizeof buf, "mean over %g s", smooth);
    text_at(cr, W - RIGHT + 15, ly + 18, buf, 0);
}

int vd_cmd_eval_plot(int argc, char **argv)
{
    const char *inp = NULL, *outp = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return vd_arg_missing("eval plot", a, vd_usage_eval_plot);
        if (!strcmp(a, "--in"))
            inp = v;
        else if (!strcmp(a, "--out"))
            outp = v;
        else
            return vd_arg_unknown("eval plot", a, vd_usage_eval_plot);
        i++;
    }
    if (!inp || !outp)
        return vd_arg_error("eval plot", vd_usage_eval_plot, "--in and --out are needed");
    json_error_t je;
    json_t *in = json_load_file(inp, 0, &je);
    if (!json_is_object(in)) {
        fprintf(stderr, "vdag eval plot: %s: %s\n", inp, in ? "not a JSON object" : je.text);
        json_decref(in);
        return 1;
    }
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(surf);
    draw(cr, in);
    cairo_destroy(cr);
    cairo_status_t st = cairo_surface_write_to_png(surf, outp);
    cairo_surface_destroy(surf);
    json_decref(in);
    if (st != CAIRO_STATUS_SUCCESS) {
        fprintf(stderr, "vdag eval plot: %s: cannot write the PNG (%s)\n", outp,
                cairo_status_to_string(st));
        return 1;
    }
    return 0;
}
