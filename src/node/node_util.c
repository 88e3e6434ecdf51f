/*
 * Helpers shared by the roles: parsing --video ID=PATH[=TYPE].
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "node_internal.h"
#include "vdag/node.h"

void vd__node_instance(char *out, size_t n)
{
    uint64_t v = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&v, sizeof v, 1, f) != 1) { /* no urandom: time, pid and address */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^ (uint64_t)getpid() << 16 ^
            (uint64_t)(uintptr_t)out;
    }
    if (f) fclose(f);
    snprintf(out, n, "%016llx", (unsigned long long)v);
}

double vd__wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int vd_video_src_parse(const char *s, vd_video_src *v, vd_error *err)
{
    memset(v, 0, sizeof *v);
    const char *eq = strchr(s, '=');
    if (!eq || eq == s || !eq[1] || (size_t)(eq - s) >= sizeof v->id)
        return vd_fail(err, VD_EINVAL, "--video '%s': expected ID=PATH (e.g. 0=vtest.avi)", s);
    memcpy(v->id, s, (size_t)(eq - s));
    const char *path = eq + 1;
    /* an optional =TYPE after the path, unless the path itself is a URL with '=' */
    const char *eq2 = strstr(path, "://") ? NULL : strrchr(path, '=');
    size_t pl = eq2 ? (size_t)(eq2 - path) : strlen(path);
    if (pl >= sizeof v->path) return vd_fail(err, VD_EINVAL, "--video '%s': path too long", s);
    memcpy(v->path, path, pl);
    snprintf(v->type, sizeof v->type, "%s", eq2 ? eq2 + 1 : "camera");
    return 0;
}
