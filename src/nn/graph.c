/*
 * TF.js graph-model loading: model.json topology, signature, and the weight shards
 * listed in weightsManifest (float32, int32, bool, float16 and uint8/uint16 affine
 * quantisation q*scale+min). Constants are dequantised to float32/int32 at load.
 */
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/nn_internal.h"
#include "vdag/base.h"

/* ---- attributes ------------------------------------------------------------------ */

/* Decode base64 `s` into buf (NUL-terminated, truncated to cap-1); an undecodable string
 * reads as "". */
static void b64decode(const char *s, char *buf, size_t cap)
{
    unsigned char *d;
    size_t n;
    buf[0] = '\0';
    if (vd_base64_decode(s, strlen(s), &d, &n)) return;
    if (n >= cap) n = cap - 1;
    memcpy(buf, d, n);
    buf[n] = '\0';
    free(d);
}

static json_t *attr(const vd__node *n, const char *key)
{
    return n->attr ? json_object_get(n->attr, key) : NULL;
}

static int json_to_i64(json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        char *end;
        errno = 0;
        long long x = strtoll(json_string_value(v), &end, 10);
        if (errno || *end) return -1;
        *out = x;
        return 0;
    }
    return -1;
}

int vd__attr_int(const vd__node *n, const char *key, int64_t def, int64_t *out)
{
    json_t *a = attr(n, key);
    *out = def;
    if (!a) return -1;
    json_t *i = json_object_get(a, "i");
    if (!i) return -1;
    return json_to_i64(i, out);
}

float vd__attr_float(const vd__node *n, const char *key, float def)
{
    json_t *a = attr(n, key);
    json_t *f = a ? json_object_get(a, "f") : NULL;
    return f && json_is_number(f) ? (float)json_number_value(f) : def;
}

int vd__attr_bool(const vd__node *n, const char *key, int def)
{
    json_t *a = attr(n, key);
    json_t *b = a ? json_object_get(a, "b") : NULL;
    return b && json_is_boolean(b) ? json_is_true(b) : def;
}

int vd__attr_str(const vd__node *n, const char *key, char *buf, size_t cap)
{
    json_t *a = attr(n, key);
    json_t *s = a ? json_object_get(a, "s") : NULL;
    if (!s || !json_is_string(s)) return -1;
    b64decode(json_string_value(s), buf, cap);
    return 0;
}

int vd__attr_ints(const vd__node *n, const char *key, int64_t *out, int cap)
{
    json_t *a = attr(n, key);
    json_t *l = a ? json_object_get(a, "list") : NULL;
    if (!l) return -1;
    json_t *i = json_object_get(l, "i");
    if (!i) return 0;
    size_t k;
    json_t *v;
    int c = 0;
    json_array_foreach(i, k, v)
    {
        if (c < cap && json_to_i64(v, &out[c]) == 0) c++;
    }
    return c;
}

int vd__attr_strs(const vd__node *n, const char *key, char out[][32], int cap)
{
    json_t *a = attr(n, key);
    json_t *l = a ? json_object_get(a, "list") : NULL;
    json_t *s = l ? json_object_get(l, "s") : NULL;
    if (!s) return 0;
    size_t k;
    json_t *v;
    int c = 0;
    json_array_foreach(s, k, v)
    {
        if (c < cap && json_is_string(v)) b64decode(json_string_value(v), out[c++], 32);
    }
    return c;
}

/* ---- weights --------------------------------------------------------------------- */

static float half_to_float(uint16_t h)
{
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, f = h & 0x3ff;
    uint32_t bits;
    if (e == 0) {
        if (f == 0) {
            bits = s;
        } else { /* subnormal */
            float v = ldexpf((float)f, -24);
            return s ? -v : v;
        }
    } else if (e == 31) {
        bits = s | 0x7f800000u | (f << 13);
    } else {
        bits = s | ((e + 112) << 23) | (f << 13);
    }
    float out;
    memcpy(&out, &bits, 4);
    return out;
}

static int dtype_of(const char *s)
{
    if (!strcmp(s, "float32")) return VD__F32;
    if (!strcmp(s, "int32")) return VD__I32;
    if (!strcmp(s, "bool")) return VD__BOOL;
    return -1;
}

int vd__graph_find(const vd__graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].name, name)) return i;
    return -1;
}

/* Read all shards of one manifest group into one buffer. */
static int read_group(const vd__graph *g, const char *dir, json_t *paths, uint8_t **out,
                      size_t *len, vd_error *err)
{
    size_t total = 0, i;
    json_t *p;
    uint8_t *data = NULL;
    json_array_foreach(paths, i, p)
    {
        if (!json_is_string(p)) {
            free(data);
            return vd_fail(err, VD_EFORMAT, "%s: weightsManifest paths must be strings", g->path);
        }
        char full[2048];
        snprintf(full, sizeof full, "%s/%s", dir, json_string_value(p));
        char *buf;
        size_t n;
        vd_error e2;
        if (vd_read_file(full, 0, &buf, &n, &e2) != 0) {
            free(data);
            return vd_fail(err, VD_EIO,
                           "%s: weight shard missing or unreadable: %s (re-run scripts/setup.sh)",
                           g->path, e2.msg);
        }
        uint8_t *nd = realloc(data, total + n + 1);
        if (!nd) {
            free(buf);
            free(data);
            return vd_fail(err, VD_ENOMEM, "%s: out of memory reading shards", g->path);
        }
        data = nd;
        memcpy(data + total, buf, n);
        total += n;
        free(buf);
    }
    *out = data;
    *len = total;
    return 0;
}

/* A manifest shape: 0, -1 if malformed, -2 if it has more than VD__MAX_ELEMS elements
 * (the product is overflow-checked). */
static int parse_shape(json_t *arr, int64_t *shape, int *ndim)
{
    if (!json_is_array(arr) || json_array_size(arr) > VD__MAXD) return -1;
    size_t i;
    json_t *v;
    *ndim = (int)json_array_size(arr);
    json_array_foreach(arr, i, v)
    {
        if (json_to_i64(v, &shape[i]) || shape[i] < 0) return -1;
    }
    return vd__numel(shape, *ndim) < 0 ? -2 : 0;
}

/* Decode one manifest entry at data[*off] into a new constant buffer. */
static int decode_weight(const vd__graph *g, json_t *w, const uint8_t *data, size_t len,
                         size_t *off, vd__node *n, vd_error *err)
{
    const char *name = json_string_value(json_object_get(w, "name"));
    const char *dts = json_string_value(json_object_get(w, "dtype"));
    int dt = dts ? dtype_of(dts) : -1;
    if (dt < 0)
        return vd_fail(err, VD_EUNSUPP, "%s: weight '%s': unsupported dtype '%s'", g->path, name,
                       dts ? dts : "(none)");
    int nd;
    int64_t shape[VD__MAXD];
    int ps = parse_shape(json_object_get(w, "shape"), shape, &nd);
    char s[160];
    if (ps == -2)
        return vd_fail(err, VD_ETOOBIG,
                       "%s: weight '%s': shape %s has more than 2^48 elements (corrupt manifest?)",
                       g->path, name, vd__shape_str(shape, nd, s, sizeof s));
    if (ps) return vd_fail(err, VD_EFORMAT, "%s: weight '%s': bad shape", g->path, name);
    int64_t cnt = vd__numel(shape, nd);
    json_t *q = json_object_get(w, "quantization");
    const char *qdt = q ? json_string_value(json_object_get(q, "dtype")) : NULL;
    size_t esz = 4;
    if (qdt) {
        if (!strcmp(qdt, "uint8"))
            esz = 1;
        else if (!strcmp(qdt, "uint16") || !strcmp(qdt, "float16"))
            esz = 2;
        else
            return vd_fail(err, VD_EUNSUPP, "%s: weight '%s': unsupported quantization '%s'",
                           g->path, name, qdt);
    } else if (dt == VD__BOOL) {
        esz = 1;
    }
    size_t need = (size_t)cnt * esz;
    if (*off + need > len)
        return vd_fail(err, VD_EFORMAT,
                       "%s: weight shard too short: weight '%s' needs bytes %zu..%zu but the "
                       "shards hold %zu bytes (corrupt or truncated .bin; re-run scripts/setup.sh)",
                       g->path, name, *off, *off + need, len);
    void *dst = malloc((size_t)(cnt ? cnt : 1) * 4 + XNN_EXTRA_BYTES);
    if (!dst) return vd_fail(err, VD_ENOMEM, "%s: out of memory for weight '%s'", g->path, name);
    const uint8_t *src = data + *off;
    if (!qdt) {
        if (dt == VD__BOOL) {
            for (int64_t i = 0; i < cnt; i++) ((int32_t *)dst)[i] = src[i] != 0;
        } else {
            memcpy(dst, src, need);
        }
    } else if (!strcmp(qdt, "float16")) {
        for (int64_t i = 0; i < cnt; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            ((float *)dst)[i] = half_to_float(h);
        }
    } else {
        double scale = json_number_value(json_object_get(q, "scale"));
        double mn = json_number_value(json_object_get(q, "min"));
        for (int64_t i = 0; i < cnt; i++) {
            uint32_t v = esz == 1 ? src[i] : (uint32_t)(src[2 * i] | (src[2 * i + 1] << 8));
            double x = v * scale + mn;
            if (dt == VD__I32)
                ((int32_t *)dst)[i] = (int32_t)lrint(x);
            else
                ((float *)dst)[i] = (float)x;
        }
    }
    *off += need;
    if (n) {
        if (n->cdata)
            return free(dst),
                   vd_fail(err, VD_EFORMAT, "%s: weight '%s' listed twice", g->path, name);
        n->cdata = dst;
        n->cdtype = dt;
        n->cndim = nd;
        memcpy(n->cshape, shape, sizeof(int64_t) * (size_t)nd);
    } else {
        free(dst); /* weight for a node the graph does not have: skip */
    }
    return 0;
}

/* Bytes one manifest entry occupies in the shards (0 if its description is bad:
 * decode_weight reports that). */
static size_t weight_bytes(json_t *w)
{
    int nd;
    int64_t shape[VD__MAXD];
    if (parse_shape(json_object_get(w, "shape"), shape, &nd)) return 0;
    json_t *q = json_object_get(w, "quantization");
    const char *qdt = q ? json_string_value(json_object_get(q, "dtype")) : NULL;
    const char *dts = json_string_value(json_object_get(w, "dtype"));
    size_t esz = 4;
    if (qdt)
        esz = !strcmp(qdt, "uint8") ? 1 : 2;
    else if (dts && !strcmp(dts, "bool"))
        esz = 1;
    return (size_t)vd__numel(shape, nd) * esz;
}

static int load_weights(vd__graph *g, vd_error *err)
{
    json_t *man = json_object_get(g->doc, "weightsManifest");
    if (!json_is_array(man))
        return vd_fail(err, VD_EFORMAT, "%s: missing 'weightsManifest' array", g->path);
    char *tmp = strdup(g->path);
    if (!tmp) return vd_fail(err, VD_ENOMEM, "out of memory");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", dirname(tmp));
    free(tmp);
    size_t gi;
    json_t *grp;
    json_array_foreach(man, gi, grp)
    {
        json_t *paths = json_object_get(grp, "paths");
        json_t *ws = json_object_get(grp, "weights");
        if (!json_is_array(paths) || !json_is_array(ws))
            return vd_fail(err, VD_EFORMAT, "%s: weightsManifest[%zu] needs 'paths' and 'weights'",
                           g->path, gi);
        uint8_t *data = NULL;
        size_t len = 0, off = 0;
        int rc = read_group(g, dir, paths, &data, &len, err);
        if (rc) return rc;
        size_t wi, total = 0;
        json_t *w;
        json_array_foreach(ws, wi, w)
        {
            if (__builtin_add_overflow(total, weight_bytes(w), &total)) total = SIZE_MAX;
        }
        if (total > len) {
            free(data);
            return vd_fail(err, VD_EFORMAT,
                           "%s: weight shard too short: the manifest describes %zu bytes but the "
                           "shards hold %zu (truncated .bin, or a weight/manifest size mismatch; "
                           "re-run scripts/setup.sh)",
                           g->path, total, len);
        }
        json_array_foreach(ws, wi, w)
        {
            const char *name = json_string_value(json_object_get(w, "name"));
            if (!name) {
                free(data);
                return vd_fail(err, VD_EFORMAT, "%s: weightsManifest[%zu].weights[%zu] has no name",
                               g->path, gi, wi);
            }
            int ni = vd__graph_find(g, name);
            rc = decode_weight(g, w, data, len, &off, ni >= 0 ? &g->nodes[ni] : NULL, err);
            if (rc) {
                free(data);
                return rc;
            }
        }
        free(data);
        if (off != len)
            return vd_fail(err, VD_EFORMAT,
                           "%s: weight/manifest size mismatch: the manifest describes %zu bytes "
                           "but the shards hold %zu (wrong .bin for this model.json?)",
                           g->path, off, len);
    }
    return 0;
}

/* ---- topology -------------------------------------------------------------------- */

static char *xstrdup(const char *s)
{
    return strdup(s ? s : "");
}

/* The signature input's tensorShape.dim ([{"size": "256"}, ...]) into g->sig_in_shape;
 * left empty (sig_in_ndim 0) when absent or of too high a rank. */
static void sig_input_shape(vd__graph *g, json_t *dims)
{
    size_t i;
    json_t *d;
    if (!json_is_array(dims) || json_array_size(dims) > VD__MAXD) return;
    json_array_foreach(dims, i, d)
    {
        json_t *sz = json_object_get(d, "size");
        const char *s = json_string_value(sz);
        int64_t x = s ? strtoll(s, NULL, 10) : json_integer_value(sz);
        g->sig_in_shape[i] = x > 0 ? x : -1;
    }
    g->sig_in_ndim = (int)json_array_size(dims);
}

static int parse_signature_outputs(vd__graph *g, json_t *sig)
{
    json_t *outs = sig ? json_object_get(sig, "outputs") : NULL;
    if (!json_is_object(outs) || json_object_size(outs) == 0) return 0;
    size_t n = json_object_size(outs);
    g->outputs = calloc(n, sizeof(char *));
    g->out_names = calloc(n, sizeof(char *));
    if (!g->outputs || !g->out_names) return VD_ENOMEM;
    const char *key;
    json_t *v;
    json_object_foreach(outs, key, v)
    {
        const char *ref = json_string_value(json_object_get(v, "name"));
        g->outputs[g->n_outputs] = xstrdup(ref ? ref : key);
        g->out_names[g->n_outputs] = xstrdup(key);
        g->n_outputs++;
    }
    return 0;
}

int vd__graph_load(const char *path, vd__graph *g, vd_error *err)
{
    memset(g, 0, sizeof *g);
    g->path = strdup(path);
    if (!g->path) return vd_fail(err, VD_ENOMEM, "out of memory");
    json_error_t je;
    g->doc = json_load_file(path, 0, &je);
    if (!g->doc) {
        int rc = access(path, R_OK) == 0 ? VD_EFORMAT : VD_EIO;
        vd_fail(err, rc, "%s:%d:%d: %s%s", path, je.line, je.column, je.text,
                rc == VD_EIO ? " (is the model cached? run scripts/setup.sh)"
                             : " (malformed model JSON)");
        vd__graph_free(g);
        return rc;
    }
    json_t *topo = json_object_get(g->doc, "modelTopology");
    json_t *nodes = topo ? json_object_get(topo, "node") : NULL;
    if (!json_is_array(nodes)) {
        vd__graph_free(g);
        return vd_fail(err, VD_EFORMAT,
                       "%s: missing 'modelTopology.node' array (not a TF.js graph model?)", path);
    }
    g->n_nodes = (int)json_array_size(nodes);
    g->nodes = calloc((size_t)g->n_nodes + 1, sizeof *g->nodes);
    if (!g->nodes) {
        vd__graph_free(g);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    size_t i;
    json_t *jn;
    json_array_foreach(nodes, i, jn)
    {
        vd__node *n = &g->nodes[i];
        const char *name = json_string_value(json_object_get(jn, "name"));
        const char *op = json_string_value(json_object_get(jn, "op"));
        n->first_val = -1;
        if (!name || !op) {
            int rc = vd_fail(err, VD_EFORMAT, "%s: modelTopology.node[%zu] lacks 'name' or 'op'",
                             path, i);
            vd__graph_free(g);
            return rc;
        }
        n->name = strdup(name);
        n->op = strdup(op);
        n->attr = json_object_get(jn, "attr");
        n->is_const = !strcmp(op, "Const");
        json_t *ins = json_object_get(jn, "input");
        size_t k;
        json_t *v;
        n->in = calloc(json_array_size(ins) + 1, sizeof(char *));
        if (!n->name || !n->op || !n->in) {
            vd__graph_free(g);
            return vd_fail(err, VD_ENOMEM, "out of memory");
        }
        json_array_foreach(ins, k, v)
        {
            const char *s = json_string_value(v);
            if (!s) continue;
            if (s[0] == '^') continue; /* control dependency */
            n->in[n->n_in++] = strdup(s);
        }
    }
    /* Outputs: the signature's (top level or userDefinedMetadata), else graph sinks. */
    json_t *sig = json_object_get(g->doc, "signature");
    if (!json_object_get(sig, "outputs")) {
        json_t *udm = json_object_get(g->doc, "userDefinedMetadata");
        sig = udm ? json_object_get(udm, "signature") : NULL;
    }
    if (parse_signature_outputs(g, sig)) {
        vd__graph_free(g);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    json_t *sin = sig ? json_object_get(sig, "inputs") : NULL;
    if (json_is_object(sin) && json_object_size(sin) > 0) {
        const char *key;
        json_t *v;
        json_object_foreach(sin, key, v)
        {
            const char *ref = json_string_value(json_object_get(v, "name"));
            g->input_name = xstrdup(ref ? ref : key);
            sig_input_shape(g, json_object_get(json_object_get(v, "tensorShape"), "dim"));
            break;
        }
    }
    if (g->n_outputs == 0) {
        g->outputs = calloc((size_t)g->n_nodes, sizeof(char *));
        g->out_names = calloc((size_t)g->n_nodes, sizeof(char *));
        for (int a = 0; a < g->n_nodes; a++) {
            int used = 0;
            for (int b = 0; b < g->n_nodes && !used; b++)
                for (int k = 0; k < g->nodes[b].n_in && !used; k++) {
                    const char *r = g->nodes[b].in[k];
                    size_t l = strlen(g->nodes[a].name);
                    used = !strncmp(r, g->nodes[a].name, l) && (r[l] == 0 || r[l] == ':');
                }
            if (!used && !g->nodes[a].is_const) {
                g->outputs[g->n_outputs] = xstrdup(g->nodes[a].name);
                g->out_names[g->n_outputs++] = xstrdup(g->nodes[a].name);
            }
        }
    }
    int rc = load_weights(g, err);
    if (rc) {
        vd__graph_free(g);
        return rc;
    }
    for (int a = 0; a < g->n_nodes; a++) {
        vd__node *n = &g->nodes[a];
        if (n->is_const && !n->cdata) {
            rc = vd_fail(err, VD_EFORMAT, "%s: node '%s' (Const) has no entry in weightsManifest",
                         path, n->name);
            vd__graph_free(g);
            return rc;
        }
    }
    return 0;
}

void vd__graph_free(vd__graph *g)
{
    if (!g) return;
    for (int i = 0; i < g->n_nodes; i++) {
        vd__node *n = &g->nodes[i];
        free(n->name);
        free(n->op);
        for (int k = 0; k < n->n_in; k++) free(n->in[k]);
        free(n->in);
        free(n->cdata);
    }
    free(g->nodes);
    for (int i = 0; i < g->n_outputs; i++) {
        free(g->outputs[i]);
        free(g->out_names[i]);
    }
    free(g->outputs);
    free(g->out_names);
    free(g->input_name);
    free(g->path);
    if (g->doc) json_decref(g->doc);
    memset(g, 0, sizeof *g);
}
