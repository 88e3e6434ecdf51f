/* The service tables' schemas: look-ups, tracked boxes in and out of an output, and the
 * consistency check of a table. */
#include <string.h>

#include "vdag/svc.h"

const char *vd_field_type_name(vd_field_type t)
{
    static const char *const names[] = {"?",    "boxes",   "scores",  "classes", "labels",
                                        "ids",  "points",  "vectors", "images",  "counts",
                                        "flag", "records", "config"};
    return t >= VD_FT_BOXES && t <= VD_FT_CONFIG ? names[t] : names[0];
}

static const vd_svc_field *find(const vd_svc_field *f, const char *name)
{
    for (; f && f->name; f++)
        if (name && !strcmp(f->name, name)) return f;
    return NULL;
}

const vd_svc_field *vd_service_output(const vd_service *svc, const char *name)
{
    return find(svc->out_schema, name);
}

const vd_svc_field *vd_service_input(const vd_service *svc, const char *name)
{
    return find(svc->in_schema, name);
}

static const vd_svc_field *first_of(const vd_service *svc, vd_field_type type, unsigned flag)
{
    for (const vd_svc_field *f = svc->out_schema; f && f->name; f++)
        if (f->type == type && (f->flags & flag) == flag) return f;
    return NULL;
}

int vd_service_track_input(const vd_service *svc, json_t *out, vd_det *d, int cap)
{
    const vd_svc_field *bf = first_of(svc, VD_FT_BOXES, VD_FIELD_TRACK);
    const vd_svc_field *sf = first_of(svc, VD_FT_SCORES, 0), *cf = first_of(svc, VD_FT_CLASSES, 0);
    if (!bf) return 0;
    json_t *bb = json_object_get(out, bf->name);
    json_t *sc = sf ? json_object_get(out, sf->name) : NULL;
    json_t *cl = cf ? json_object_get(out, cf->name) : NULL;
    int n = 0;
    for (size_t k = 0; k < json_array_size(bb) && n < cap; k++) {
        double x1 = 0, y1 = 0, x2 = 0, y2 = 0;
        json_unpack(json_array_get(bb, k), "[FFFF]", &x1, &y1, &x2, &y2);
        d[n++] = (vd_det){(float)x1,
                          (float)y1,
                          (float)x2,
                          (float)y2,
                          (float)json_number_value(json_array_get(sc, k)),
                          (int)json_integer_value(json_array_get(cl, k))};
    }
    return n;
}

json_t *vd_service_tracked_output(const vd_service *svc, const vd_det *d, int n)
{
    json_t *o = json_object();
    for (const vd_svc_field *f = svc->out_schema; o && f && f->name; f++) {
        json_t *v = NULL;
        if (f->type == VD_FT_BOXES && f->flags & VD_FIELD_TRACK) {
            v = json_array();
            for (int k = 0; k < n; k++)
                json_array_append_new(v, json_pack("[ffff]", d[k].x1, d[k].y1, d[k].x2, d[k].y2));
        } else if (f->type == VD_FT_SCORES || f->type == VD_FT_CLASSES ||
                   (f->type == VD_FT_LABELS && svc->class_label)) {
            v = json_array();
            for (int k = 0; k < n; k++)
                json_array_append_new(v, f->type == VD_FT_SCORES ? json_real(d[k].score)
                                         : f->type == VD_FT_CLASSES
                                             ? json_integer(d[k].cls)
                                             : json_string(svc->class_label(d[k].cls)));
        } else if (f->type == VD_FT_COUNTS && svc->class_label) {
            v = json_object();
            for (int k = 0; k < n; k++) {
                const char *l = svc->class_label(d[k].cls);
                json_object_set_new(v, l,
                                    json_integer(json_integer_value(json_object_get(v, l)) + 1));
            }
        }
        if (v) json_object_set_new(o, f->name, v);
    }
    return o;
}

static int in_list(const char *const *l, const char *name)
{
    for (; l && *l; l++)
        if (!strcmp(*l, name)) return 1;
    return 0;
}

/* Does the NULL-terminated name list hold exactly the fields of f that pass `want`? */
static int list_matches(const char *const *l, const vd_svc_field *f, unsigned mask, unsigned want)
{
    int n = 0, m = 0;
    for (; f && f->name; f++)
        if ((f->flags & mask) == want) {
            if (!in_list(l, f->name)) return 0;
            n++;
        }
    for (; l && *l; l++) m++;
    return n == m;
}

int vd_service_check(const vd_service *s, vd_error *err)
{
    const char *n = s && s->name && s->name[0] ? s->name : "(unnamed)";
    if (!s || !s->name || !s->name[0] || strlen(s->name) >= 48)
        return vd_fail(err, VD_EINVAL, "service %s: name must be 1..47 characters", n);
    if (!s->description) return vd_fail(err, VD_EINVAL, "service %s: no description", n);
    if (s->n_models < 1 || !s->model_names)
        return vd_fail(err, VD_EINVAL, "service %s: needs n_models >= 1 and model_names", n);
    for (int m = 0; m < s->n_models; m++)
        if (!s->model_names[m])
            return vd_fail(err, VD_EINVAL, "service %s: model_names[%d] is NULL", n, m);
    if (!s->open || !s->process || !s->close)
        return vd_fail(err, VD_EINVAL, "service %s: open, process and close are required", n);
    if (!s->out_schema || !s->out_schema[0].name || !s->outputs || !s->inputs)
        return vd_fail(err, VD_EINVAL, "service %s: needs out_schema, outputs and inputs", n);
    if (!list_matches(s->outputs, s->out_schema, 0, 0))
        return vd_fail(err, VD_EINVAL, "service %s: outputs must list out_schema's fields", n);
    if (!list_matches(s->inputs, s->in_schema, VD_FIELD_OPTIONAL, 0))
        return vd_fail(err, VD_EINVAL,
                       "service %s: inputs must list in_schema's required (not optional) fields",
                       n);
    int tracks = 0, classes = 0;
    for (const vd_svc_field *f = s->out_schema; f->name; f++) {
        if (f->type < VD_FT_BOXES || f->type >= VD_FT_CONFIG)
            return vd_fail(err, VD_EINVAL, "service %s: output %s has no valid type", n, f->name);
        if (find(f + 1, f->name))
            return vd_fail(err, VD_EINVAL, "service %s: output %s is declared twice", n, f->name);
        if (f->flags & VD_FIELD_TRACK) {
            if (f->type != VD_FT_BOXES)
                return vd_fail(err, VD_EINVAL, "service %s: tracked output %s must be boxes", n,
                               f->name);
            tracks++;
        }
        classes += f->type == VD_FT_CLASSES;
    }
    for (const vd_svc_field *f = s->in_schema; f && f->name; f++) {
        if (f->type < VD_FT_BOXES || f->type > VD_FT_CONFIG || f->flags & VD_FIELD_TRACK)
            return vd_fail(err, VD_EINVAL, "service %s: input %s has no valid type", n, f->name);
        if (f->type == VD_FT_CONFIG && !s->check_config)
            return vd_fail(err, VD_EINVAL,
                           "service %s: input %s is a config (VD_FT_CONFIG) but the table has no "
                           "check_config",
                           n, f->name);
    }
    if (tracks > 1) return vd_fail(err, VD_EINVAL, "service %s: more than one tracked output", n);
    if (!!s->is_detector != (tracks == 1))
        return vd_fail(err, VD_EINVAL,
                       "service %s: is_detector must be 1 exactly when an output is "
                       "VD_FIELD_TRACK",
                       n);
    if ((s->inputs[0] || s->profile_from) && !s->profile_args) {
        const vd_service *up = vd_service_find(s->profile_from);
        if (!up || up == s)
            return vd_fail(err, VD_EINVAL,
                           "service %s: has required inputs (or a profile_from), so needs "
                           "profile_args or profile_from naming another registered service",
                           n);
    }
    if (classes && !s->class_label)
        return vd_fail(err, VD_EINVAL, "service %s: outputs classes but has no class_label", n);
    return 0;
}
