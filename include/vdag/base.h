/*
 * Small shared helpers: cache paths, monotonic time, file reading.
 * All functions are thread-safe; none keep global state.
 */
#ifndef VDAG_BASE_H
#define VDAG_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "vdag/error.h"

/* Cache root: $VDAG_CACHE, else $HOME/.cache/vdag. Writes into buf (size n). */
int vd_cache_dir(char *buf, size_t n);

/* "<cache>/models/<name>.json" if `name_or_path` has no '/' and no ".json" suffix,
 * else the path itself. */
int vd_model_path(const char *name_or_path, char *buf, size_t n);

/* "<cache>/media/<file>". */
int vd_media_path(const char *file, char *buf, size_t n);

/* Monotonic time in nanoseconds / milliseconds (double). */
uint64_t vd_now_ns(void);
double vd_now_ms(void);
/* Absolute deadline `ms` milliseconds from now on `clock`, for pthread_cond_timedwait (the
 * condvar's clock: CLOCK_REALTIME by default, CLOCK_MONOTONIC when its attribute says so). */
struct timespec vd_deadline(clockid_t clock, double ms);

/* Read a whole file into a malloc'd buffer (caller frees), NUL-terminated.
 * `extra` bytes of zeroed slack are added after the data (for XNNPACK). */
int vd_read_file(const char *path, size_t extra, char **out, size_t *len, vd_error *err);

/* Base64, standard alphabet (the URL-safe one is accepted too), padding optional. Encode:
 * a malloc'd NUL-terminated string, NULL when out of memory. Decode: *out malloc'd (caller
 * frees), NUL-terminated past *len; VD_EFORMAT on a character outside the alphabet. */
char *vd_base64_encode(const unsigned char *d, size_t n);
int vd_base64_decode(const char *s, size_t n, unsigned char **out, size_t *len);

/* Median / percentile of n doubles (the array is sorted in place). */
double vd_percentile(double *v, size_t n, double p);

#endif
