/* Cascades: the chain's spec, the exit tests and a cascade as a service instance
 * (include/vdag/cascade.h). The workers and the wire are in cascade_unit.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdag/cascade.h"

const char *vd_exit_rule_name(vd_exit_rule r)
{
    return r == VD_EXIT_MAX ? "max" : "band";
}

int vd_exit_rule_parse(const char *s, vd_exit_rule *out)
{
    if (s && !strcmp(s, "band")) return *out = VD_EXIT_BAND, 0;
    if (s && !strcmp(s, "max")) return *out = VD_EXIT_MAX, 0;
    return VD_EINVAL;
}

int vd_exit_confident(const vd_service *svc, const vd_exit_test *t, json_t *out)
{
    const char *field = NULL;
    for (const vd_svc_field *f = svc->out_schema; f && f->name && !field; f++)
        if (f->type == VD_FT_SCORES) field = f->name;
    json_t *scores = field ? json_object_get(out, field) : NULL;
    if (!json_is_array(scores)) return 0;
    double top = -1;
    size_t i;
    json_t *v;
    json_array_foreach(scores, i, v)
    {
        double s = json_number_value(v);
        if (t->rule == VD_EXIT_BAND && s >= t->lo && s < t->hi) return 0;
        if (s > top) top = s;
    }
    if (t->rule == VD_EXIT_BAND) return 1;
    return top < t->lo || top >= t->hi;
}

int vd_cascade_is(const char *model_name)
{
    return model_name && !strncmp(model_name, VD_CASCADE_PREFIX, strlen(VD_CASCADE_PREFIX));
}

/* One unit: MODEL[@[RULE:]LO..HI], the text of [s, e). */
static int parse_unit(const vd_service *svc, const char *s, size_t len, int *model, vd_exit_test *t,
                      vd_error *err)
{
    char buf[128];
    if (len == 0 || len >= sizeof buf)
        return vd_fail(err, VD_EINVAL, "cascade for %s: an empty or overlong unit", svc->name);
    memcpy(buf, s, len);
    buf[len] = 0;
    *t = (vd_exit_test){VD_EXIT_BAND, 0, 0.5f};
    char *at = strchr(buf, '@');
    if (at) {
        *at++ = 0;
        char *colon = strchr(at, ':'), *band = at;
        if (colon) {
            *colon = 0;
            band = colon + 1;
            if (vd_exit_rule_parse(at, &t->rule))
                return vd_fail(err, VD_EINVAL,
                               "cascade for %s: unit %s: rule '%s' (use band or max)", svc->name,
                               buf, at);
        }
        char *dots = strstr(band, ".."), *end = NULL;
        double lo = dots ? strtod(band, &end) : -1, hi = -1;
        if (dots && end == dots) hi = strtod(dots + 2, &end);
        if (!dots || *end || !(lo >= 0 && lo <= hi && hi <= 1))
            return vd_fail(err, VD_EINVAL,
                           "cascade for %s: unit %s: band '%s' (use LO..HI with 0 <= LO <= HI "
                           "<= 1, e.g. nanodet@0.2..0.45)",
                           svc->name, buf, band);
        t->lo = (float)lo, t->hi = (float)hi;
    }
    for (int m = 0; m < svc->n_models; m++)
        if (!vd_cascade_is(svc->model_names[m]) && !strcmp(svc->model_names[m], buf)) {
            *model = m;
            return 0;
        }
    return vd_fail(err, VD_EINVAL, "cascade for %s: '%s' is not one of its models", svc->name, buf);
}

int vd_cascade_parse(const vd_service *svc, const char *spec, vd_cascade_spec *out, vd_error *err)
{
    memset(out, 0, sizeof *out);
    out->svc = svc;
    if (!svc || !spec) return vd_fail(err, VD_EINVAL, "cascade: no service or spec");
    if (vd_cascade_is(spec)) spec += strlen(VD_CASCADE_PREFIX);
    for (const char *s = spec;;) {
        const char *e = strchr(s, '>');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (out->n == VD_CASCADE_MAX_UNITS)
            return vd_fail(err, VD_EINVAL, "cascade for %s: at most %d units", svc->name,
                           VD_CASCADE_MAX_UNITS);
        int rc = parse_unit(svc, s, len, &out->model_id[out->n], &out->exit[out->n], err);
        if (rc) return rc;
        for (int k = 0; k < out->n; k++)
            if (out->model_id[k] == out->model_id[out->n])
                return vd_fail(err, VD_EINVAL, "cascade for %s: model %s twice in '%s'", svc->name,
                               svc->model_names[out->model_id[k]], spec);
        out->n++;
        if (!e) break;
        s = e + 1;
    }
    if (out->n < 2)
        return vd_fail(err, VD_EINVAL,
                       "cascade for %s: '%s' has one unit; a cascade needs two or more "
                       "(small>large)",
                       svc->name, spec);
    return 0;
}

/* ---- a cascade as a service instance -------------------------------------------------- */

struct vd_cascade {
    vd_cascade_spec spec;
    vd_cascade_opts o;
    vd_svc_instance *first; /* unit 0, here */
    float first_lo;         /* the min_score it was opened with */
    vd_transport *own_t;    /* in-process, when no transport was given */
    vd_cascade_worker *w[VD_CASCADE_MAX_UNITS];
};

static int open_first(vd_cascade *c, vd_error *err)
{
    vd_svc_opts so = c->o.svc;
    if (c->spec.exit[0].lo > 0) so.min_score = c->spec.exit[0].lo;
    vd_svc_instance *n = NULL;
    int rc = vd_svc_open(c->spec.svc->name, c->spec.model_id[0], &so, &n, err);
    if (rc) return rc;
    vd_svc_close(c->first);
    c->first = n;
    c->first_lo = c->spec.exit[0].lo;
    return 0;
}

int vd_cascade_open(const vd_cascade_spec *spec, const vd_cascade_opts *o, vd_cascade **out,
                    vd_error *err)
{
    *out = NULL;
    if (!spec || spec->n < 2 || spec->n > VD_CASCADE_MAX_UNITS || !spec->svc)
        return vd_fail(err, VD_EINVAL, "cascade: a spec of 2..%d units is needed",
                       VD_CASCADE_MAX_UNITS);
    vd_cascade *c = calloc(1, sizeof *c);
    if (!c) return vd_fail(err, VD_ENOMEM, "out of memory");
    c->spec = *spec;
    if (o) c->o = *o;
    if (c->o.timeout_ms <= 0) c->o.timeout_ms = 5000;
    if (c->o.quality <= 0 || c->o.quality > 100) c->o.quality = 90;
    c->o.svc.transport = NULL; /* the workers' instances are plain models */
    int rc = open_first(c, err);
    if (!rc && !c->o.t) { /* one process: the later units' workers on our own bus */
        rc = vd_transport_inproc_new(&c->own_t, err);
        for (int k = 1; !rc && k < spec->n; k++) {
            char node[32];
            snprintf(node, sizeof node, "local-u%d", k);
            rc = vd_cascade_worker_start(c->own_t, node, spec->svc->name, spec->model_id[k],
                                         &c->o.svc, &c->w[k], err);
        }
        c->o.t = c->own_t;
        c->o.node = NULL;
    }
    if (rc) {
        vd_cascade_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

static void annotate(json_t *out, int unit, const char *model, const char *node, int confident,
                     int fallback, const char *error, size_t bytes)
{
    json_t *a = json_pack("{s:i,s:s,s:s,s:b,s:b,s:I}", "unit", unit, "model", model, "node", node,
                          "confident", confident, "fallback", fallback, "bytes", (json_int_t)bytes);
    if (a && error && *error) json_object_set_new(a, "error", json_string(error));
    json_object_set_new(out, "cascade", a);
}

int vd_cascade_run(vd_cascade *c, const vd_frame *f, json_t *args, json_t **out, vd_error *err)
{
    *out = NULL;
    json_t *mine = NULL;
    int rc = vd_svc_process(c->first, f, args, &mine, err);
    if (rc) return rc;
    const char *m0 = c->spec.svc->model_names[c->spec.model_id[0]];
    if (vd_exit_confident(c->spec.svc, &c->spec.exit[0], mine)) {
        annotate(mine, 0, m0, "", 1, 0, NULL, 0);
        *out = mine;
        return 0;
    }
    vd_cascade_reply r;
    size_t sent = 0;
    vd_error e = {0};
    rc = vd_cascade_call(c->o.t, c->o.node, &c->spec, 1, f, c->o.quality, c->o.timeout_ms,
                         c->o.fallback, &r, &sent, &e);
    if (!rc) {
        json_decref(mine);
        annotate(r.output, r.unit, r.model, r.node, r.confident, r.fallback, r.error, sent);
        *out = json_incref(r.output);
        vd_cascade_reply_free(&r);
        return 0;
    }
    if (c->o.fallback) { /* unit 1 itself is down or late */
        annotate(mine, 0, m0, "", 0, 1, e.msg, sent);
        *out = mine;
        return 0;
    }
    json_decref(mine);
    int code = rc == VD_EREMOTE && e.remote ? e.remote : rc;
    return vd_fail(err, code, "cascade %s: %s", c->spec.svc->name, e.msg);
}

int vd_cascade_set_exit(vd_cascade *c, int unit, const vd_exit_test *t, vd_error *err)
{
    if (unit < 0 || unit >= c->spec.n - 1)
        return vd_fail(err, VD_EINVAL, "cascade: unit %d has no exit test (units 0..%d do)", unit,
                       c->spec.n - 2);
    if (!(t->lo >= 0 && t->lo <= t->hi && t->hi <= 1))
        return vd_fail(err, VD_EINVAL, "cascade: band %g..%g (use 0 <= lo <= hi <= 1)", t->lo,
                       t->hi);
    c->spec.exit[unit] = *t;
    if (unit == 0 && fabsf(t->lo - c->first_lo) > 1e-6f) return open_first(c, err);
    return 0;
}

const vd_cascade_spec *vd_cascade_get_spec(const vd_cascade *c)
{
    return &c->spec;
}

void vd_cascade_close(vd_cascade *c)
{
    if (!c) return;
    vd_transport_close(c->own_t); /* no request is running after this */
    for (int k = 0; k < VD_CASCADE_MAX_UNITS; k++) vd_cascade_worker_free(c->w[k]);
    vd_svc_close(c->first);
    free(c);
}
