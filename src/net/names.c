/*
 * Names on the transports: subjects, node and service names. Both transports check them
 * here, so the same bad name gets the same code whatever carries it.
 */
#include <stdlib.h>
#include <string.h>

#include "net_internal.h"
#include "vdag/net.h"

int vd__subject_valid(const char *s, int wildcards)
{
    if (!s || !*s) return 0;
    const char *tok = s;
    for (const char *c = s;; c++) {
        if (*c == '.' || !*c) {
            size_t n = (size_t)(c - tok);
            if (!n) return 0;
            if (n == 1 && (*tok == '*' || *tok == '>')) {
                if (!wildcards || (*tok == '>' && *c)) return 0;
            } else {
                for (const char *q = tok; q < c; q++)
                    if (*q == '*' || *q == '>' || *q <= ' ' || *q == 0x7f) return 0;
            }
            if (!*c) return 1;
            tok = c + 1;
        }
    }
}

/* One subject token. */
static int token_ok(const char *s)
{
    if (!s || !*s) return 0;
    for (; *s; s++)
        if (*s == '.' || *s == '*' || *s == '>' || *s <= ' ' || *s == 0x7f) return 0;
    return 1;
}

int vd__check_names(const char *what, const char *node, int node_required, const char *service,
                    vd_error *err)
{
    if ((node || node_required) && !token_ok(node))
        return vd_fail(err, VD_EINVAL,
                       "%s: node '%s': a node name must be non-empty, without '.', '*', '>' or "
                       "spaces",
                       what, node ? node : "");
    if (!vd__subject_valid(service, 0))
        return vd_fail(err, VD_EINVAL,
                       "%s: service '%s': a service name must be dot-separated non-empty tokens "
                       "without '*', '>' or spaces",
                       what, service ? service : "");
    return 0;
}

int vd__subject_match(const char *pat, const char *subj)
{
    for (;;) {
        const char *pe = strchr(pat, '.'), *se = strchr(subj, '.');
        size_t pn = pe ? (size_t)(pe - pat) : strlen(pat);
        size_t sn = se ? (size_t)(se - subj) : strlen(subj);
        if (pn == 1 && *pat == '>') return 1; /* '>' needs at least one token: we have one */
        if (!(pn == 1 && *pat == '*') && (pn != sn || memcmp(pat, subj, pn))) return 0;
        if (!pe || !se) return !pe && !se;
        pat = pe + 1, subj = se + 1;
    }
}

void vd_kv_keys_free(char **keys, int n)
{
    for (int i = 0; keys && i < n; i++) free(keys[i]);
    free(keys);
}
