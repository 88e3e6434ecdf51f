/*
 * Helpers shared by the roles: base64 (frames inside JSON, as the seed's services took
 * them) and parsing --video ID=PATH[=TYPE].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node_internal.h"
#include "vdag/node.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *vd_base64_encode(const unsigned char *d, size_t n)
{
    char *o = malloc((n + 2) / 3 * 4 + 1), *p = o;
    if (!o) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0) |
                     (i + 2 < n ? d[i + 2] : 0);
        *p++ = b64[v >> 18 & 63];
        *p++ = b64[v >> 12 & 63];
        *p++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
        *p++ = i + 2 < n ? b64[v & 63] : '=';
    }
    *p = 0;
    return o;
}

int vd_base64_decode(const char *s, size_t n, unsigned char **out, size_t *len)
{
    unsigned char *o = malloc(n / 4 * 3 + 4);
    if (!o) return VD_ENOMEM;
    size_t k = 0;
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        const char *q;
        if (c == '=' || c == '\n' || c == '\r') continue;
        if (c == '-') c = '+'; /* URL-safe alphabet too */
        if (c == '_') c = '/';
        if (!c || !(q = strchr(b64, c))) {
            free(o);
            return VD_EFORMAT;
        }
        v = v << 6 | (unsigned)(q - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (unsigned char)(v >> bits);
        }
    }
    *out = o;
    *len = k;
    return 0;
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

const char *vd__subject_node(const char *subject, const char *prefix)
{
    size_t n = strlen(prefix);
    if (!subject || strncmp(subject, prefix, n) || subject[n] != '.' || !subject[n + 1] ||
        strchr(subject + n + 1, '.'))
        return NULL;
    return subject + n + 1;
}
