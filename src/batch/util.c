/* Small helpers shared by src/batch: key syntax, directories, wall-clock time. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "batch/batch_internal.h"

int vd__key_ok(const char *k)
{
    if (!k || !*k || strlen(k) > 200 || *k == '.') return 0;
    for (const char *c = k; *c; c++) {
        if (*c == '.') {
            if (c[1] == '.' || !c[1]) return 0;
            continue;
        }
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-'))
            return 0;
    }
    return 1;
}

int vd__mkdirs(const char *dir, vd_error *err)
{
    char p[1024];
    int n = snprintf(p, sizeof p, "%s", dir);
    if (n <= 0 || (size_t)n >= sizeof p) return vd_fail(err, VD_EINVAL, "path too long: %s", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0755) && errno != EEXIST)
            return vd_fail(err, VD_EIO, "cannot create %s: %s", p, strerror(errno));
        *s = '/';
    }
    if (mkdir(p, 0755) && errno != EEXIST)
        return vd_fail(err, VD_EIO, "cannot create %s: %s", p, strerror(errno));
    return 0;
}

double vd__epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
