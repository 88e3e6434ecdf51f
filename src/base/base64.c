/*
 * Base64 (RFC 4648): frames inside JSON as the seed's services took them, rendered crops in
 * service outputs, string attributes of TF.js models.
 */
#include <stdlib.h>
#include <string.h>

#include "vdag/base.h"

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
    o[k] = 0;
    *out = o;
    *len = k;
    return 0;
}
