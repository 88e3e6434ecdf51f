/*
 * Messages between nodes: a JSON header and an optional binary blob (a JPEG frame, a
 * tensor) in one buffer, so a stage call is one request whatever the transport.
 * Layout: "VDM1", header length (u32 big-endian), header JSON, blob.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "vdag/net.h"

void vd_buf_free(vd_buf *b)
{
    if (!b) return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

int vd_msg_pack(json_t *hdr, const void *blob, size_t blob_len, vd_buf *out, vd_error *err)
{
    out->data = NULL;
    out->len = 0;
    char *h = json_dumps(hdr, JSON_COMPACT | JSON_REAL_PRECISION(9));
    if (!h) return vd_fail(err, VD_ENOMEM, "message: cannot encode header");
    size_t hl = strlen(h);
    if (hl > 0x7fffffffu) {
        free(h);
        return vd_fail(err, VD_ETOOBIG, "message: header too large");
    }
    unsigned char *p = malloc(8 + hl + blob_len + 1);
    if (!p) {
        free(h);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    memcpy(p, "VDM1", 4);
    p[4] = (unsigned char)(hl >> 24);
    p[5] = (unsigned char)(hl >> 16);
    p[6] = (unsigned char)(hl >> 8);
    p[7] = (unsigned char)hl;
    memcpy(p + 8, h, hl);
    if (blob_len) memcpy(p + 8 + hl, blob, blob_len);
    p[8 + hl + blob_len] = 0;
    free(h);
    out->data = p;
    out->len = 8 + hl + blob_len;
    return 0;
}

int vd_msg_unpack(const unsigned char *msg, size_t len, json_t **hdr, const unsigned char **blob,
                  size_t *blob_len, vd_error *err)
{
    *hdr = NULL;
    if (len < 8 || memcmp(msg, "VDM1", 4))
        return vd_fail(err, VD_EFORMAT, "message: not a vdag message (%zu bytes)", len);
    size_t hl = ((size_t)msg[4] << 24) | ((size_t)msg[5] << 16) | ((size_t)msg[6] << 8) | msg[7];
    if (hl > len - 8)
        return vd_fail(err, VD_EFORMAT, "message: header of %zu bytes in a %zu-byte message", hl,
                       len);
    json_error_t je;
    json_t *h = json_loadb((const char *)msg + 8, hl, 0, &je);
    if (!h) return vd_fail(err, VD_EFORMAT, "message: header: %s", je.text);
    *hdr = h;
    if (blob) *blob = msg + 8 + hl;
    if (blob_len) *blob_len = len - 8 - hl;
    return 0;
}

int vd_parse_hostport(const char *s, char *host, size_t host_cap, int *port, vd_error *err)
{
    const char *colon = s ? strrchr(s, ':') : NULL;
    const char *ps = colon ? colon + 1 : s;
    size_t hl = colon ? (size_t)(colon - s) : 0;
    char *end;
    long p = ps && *ps ? strtol(ps, &end, 10) : -1;
    if (!s || p < 0 || p > 65535 || *end || hl >= host_cap)
        return vd_fail(err, VD_EINVAL, "'%s': expected HOST:PORT (e.g. 127.0.0.1:5000)",
                       s ? s : "");
    if (hl)
        memcpy(host, s, hl), host[hl] = 0;
    else
        snprintf(host, host_cap, "127.0.0.1");
    *port = (int)p;
    return 0;
}
