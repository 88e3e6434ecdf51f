#include "vdag/base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int vd_cache_dir(char *buf, size_t n)
{
    const char *c = getenv("VDAG_CACHE");
    int w;
    if (c && *c) {
        w = snprintf(buf, n, "%s", c);
    } else {
        const char *h = getenv("HOME");
        w = snprintf(buf, n, "%s/.cache/vdag", h && *h ? h : "/tmp");
    }
    return (w < 0 || (size_t)w >= n) ? VD_ETOOBIG : 0;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

int vd_model_path(const char *name, char *buf, size_t n)
{
    if (strchr(name, '/') || ends_with(name, ".json")) {
        int w = snprintf(buf, n, "%s", name);
        return (w < 0 || (size_t)w >= n) ? VD_ETOOBIG : 0;
    }
    char dir[512];
    int rc = vd_cache_dir(dir, sizeof dir);
    if (rc) return rc;
    int w = snprintf(buf, n, "%s/models/%s.json", dir, name);
    return (w < 0 || (size_t)w >= n) ? VD_ETOOBIG : 0;
}

int vd_media_path(const char *file, char *buf, size_t n)
{
    char dir[512];
    int rc = vd_cache_dir(dir, sizeof dir);
    if (rc) return rc;
    int w = snprintf(buf, n, "%s/media/%s", dir, file);
    return (w < 0 || (size_t)w >= n) ? VD_ETOOBIG : 0;
}

uint64_t vd_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double vd_now_ms(void)
{
    return (double)vd_now_ns() / 1e6;
}

struct timespec vd_deadline(clockid_t clock, double ms)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    long long ns = (long long)ts.tv_nsec + (long long)(ms * 1e6);
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    return ts;
}

int vd_read_file(const char *path, size_t extra, char **out, size_t *len, vd_error *err)
{
    *out = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return vd_fail(err, VD_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return vd_fail(err, VD_EIO, "%s: cannot seek", path);
    }
    long sz = ftell(f);
    rewind(f);
    if (sz < 0) {
        fclose(f);
        return vd_fail(err, VD_EIO, "%s: cannot size", path);
    }
    char *b = calloc(1, (size_t)sz + extra + 1);
    if (!b) {
        fclose(f);
        return vd_fail(err, VD_ENOMEM, "%s: out of memory reading %ld bytes", path, sz);
    }
    size_t got = fread(b, 1, (size_t)sz, f);
    fclose(f);
    if (got != (size_t)sz) {
        free(b);
        return vd_fail(err, VD_EIO, "%s: short read (%zu of %ld bytes)", path, got, sz);
    }
    *out = b;
    if (len) *len = (size_t)sz;
    return 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double vd_percentile(double *v, size_t n, double p)
{
    if (n == 0) return 0.0;
    qsort(v, n, sizeof *v, cmp_d);
    double pos = p / 100.0 * (double)(n - 1);
    size_t i = (size_t)pos;
    if (i + 1 >= n) return v[n - 1];
    double f = pos - (double)i;
    return v[i] * (1.0 - f) + v[i + 1] * f;
}
