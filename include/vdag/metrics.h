/*
 * vdag metrics: one process-wide registry of counters, gauges and histograms, rendered in the
 * Prometheus text format (version 0.0.4) by GET /metrics on every node (docs/metrics.md).
 *
 * Every metric family is a row of the table in src/base/metrics.c (name, type, help); a name
 * that is not in it is a programming error (assert; ignored in a release build). A series is
 * a family plus its label set, a string such as `node="e1",stage="face_detection"` made with
 * vd_metrics_labels (which escapes the values).
 *
 * Collectors give the values that are read rather than counted (node liveness, queue depths):
 * a collector is called at every render and emits its samples with vd_metrics_emit; each
 * collector owns its families (two never emit the same family).
 *
 * Thread-safety: every function may be called from any thread (one mutex inside). A
 * collector is called with that mutex released, from the rendering thread; it must not add
 * or remove collectors, and must not hold a lock that a caller of vd_metrics_collector_remove
 * holds. Once vd_metrics_collector_remove returns, that collector is not running and never
 * runs again. Ownership: the registry copies names and labels; a collector's arg is borrowed
 * until vd_metrics_collector_remove returns.
 */
#ifndef VDAG_METRICS_H
#define VDAG_METRICS_H

#include <stddef.h>

/* Add v (>= 0) to a counter series (made at 0 on first use). */
void vd_metric_add(const char *family, const char *labels, double v);
/* Set a gauge series. */
void vd_metric_set(const char *family, const char *labels, double v);
/* Observe one value of a histogram series (seconds, for the *_seconds families). */
void vd_metric_observe(const char *family, const char *labels, double v);

/* Labels from NULL-terminated name/value pairs: vd_metrics_labels(buf, sizeof buf, "node",
 * "e1", "stage", s, NULL). Values are escaped (\\, \", \n); too long a set is cut at a
 * whole pair. Returns buf. */
char *vd_metrics_labels(char *buf, size_t cap, ...) __attribute__((sentinel));

typedef struct vd_metrics_out vd_metrics_out;
typedef void (*vd_metrics_collect_fn)(void *arg, vd_metrics_out *o);
/* One gauge (or counter) sample from a collector. */
void vd_metrics_emit(vd_metrics_out *o, const char *family, const char *labels, double v);
int vd_metrics_collector_add(vd_metrics_collect_fn fn, void *arg);
void vd_metrics_collector_remove(vd_metrics_collect_fn fn, void *arg);

/* The whole registry in the Prometheus text format: malloc'd, NUL-terminated (*len without
 * the NUL); NULL when out of memory. */
char *vd_metrics_render(size_t *len);

/* Drop every series (tests). Collectors stay. */
void vd_metrics_reset(void);

#endif
