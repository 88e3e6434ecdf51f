/*
 * Helpers shared by the roles: parsing --video ID=PATH[=TYPE].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node_internal.h"
#include "vdag/node.h"

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

const char *vd__subject_node(const char *subject, const char *prefix)
{
    size_t n = strlen(prefix);
    if (!subject || strncmp(subject, prefix, n) || subject[n] != '.' || !subject[n + 1] ||
        strchr(subject + n + 1, '.'))
        return NULL;
    return subject + n + 1;
}
