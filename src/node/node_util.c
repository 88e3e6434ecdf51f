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

/* ---- the seed's image codec: a Python bytes literal (field_codec_utils: str(jpeg_bytes),
 * decoded there with eval). Parsed here, never evaluated. ---- */

int vd_pybytes_is(const char *s, size_t n)
{
    return n >= 3 && s[0] == 'b' && (s[1] == '\'' || s[1] == '"') && s[n - 1] == s[1];
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

int vd_pybytes_decode(const char *s, size_t n, unsigned char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (!vd_pybytes_is(s, n)) return VD_EFORMAT;
    unsigned char *o = malloc(n);
    if (!o) return VD_ENOMEM;
    size_t k = 0;
    for (size_t i = 2; i < n - 1; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == (unsigned char)s[1] || c < 0x20 || c > 0x7e) goto bad; /* unescaped quote, … */
        if (c != '\\') {
            o[k++] = c;
            continue;
        }
        if (++i >= n - 1) goto bad;
        switch (s[i]) {
        case '\\':
            o[k++] = '\\';
            break;
        case '\'':
            o[k++] = '\'';
            break;
        case '"':
            o[k++] = '"';
            break;
        case 'n':
            o[k++] = '\n';
            break;
        case 'r':
            o[k++] = '\r';
            break;
        case 't':
            o[k++] = '\t';
            break;
        case 'a':
            o[k++] = '\a';
            break;
        case 'b':
            o[k++] = '\b';
            break;
        case 'f':
            o[k++] = '\f';
            break;
        case 'v':
            o[k++] = '\v';
            break;
        case 'x': {
            int hi = i + 2 < n - 1 ? hexval(s[i + 1]) : -1, lo = hi >= 0 ? hexval(s[i + 2]) : -1;
            if (lo < 0) goto bad;
            o[k++] = (unsigned char)(hi << 4 | lo);
            i += 2;
            break;
        }
        default:
            if (s[i] >= '0' && s[i] <= '7') { /* octal, up to three digits */
                int v = 0, d = 0;
                while (d < 3 && i < n - 1 && s[i] >= '0' && s[i] <= '7')
                    v = v * 8 + s[i++] - '0', d++;
                i--;
                if (v > 255) goto bad;
                o[k++] = (unsigned char)v;
                break;
            }
            goto bad;
        }
    }
    *out = o;
    *len = k;
    return 0;
bad:
    free(o);
    return VD_EFORMAT;
}

char *vd_pybytes_encode(const unsigned char *d, size_t n)
{
    /* Python's repr: single quotes unless the bytes hold ' and no " */
    int sq = memchr(d, '\'', n) != NULL, dq = memchr(d, '"', n) != NULL;
    char q = sq && !dq ? '"' : '\'';
    char *o = malloc(n * 4 + 4), *p = o;
    if (!o) return NULL;
    *p++ = 'b';
    *p++ = q;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = d[i];
        if (c == '\\' || c == (unsigned char)q)
            *p++ = '\\', *p++ = (char)c;
        else if (c == '\t')
            *p++ = '\\', *p++ = 't';
        else if (c == '\n')
            *p++ = '\\', *p++ = 'n';
        else if (c == '\r')
            *p++ = '\\', *p++ = 'r';
        else if (c < 0x20 || c >= 0x7f)
            p += sprintf(p, "\\x%02x", c);
        else
            *p++ = (char)c;
    }
    *p++ = q;
    *p = 0;
    return o;
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
