/* DAG parsing and validation. */
#include <stdlib.h>
#include <string.h>

#include "vdag/dag.h"

static const char *gen_name(vd_generator g)
{
    return g == VD_GEN_CLIP ? "ClipGenerator" : "SingleFrameGenerator";
}

void vd_dag_free(vd_dag *d)
{
    if (!d) return;
    for (int i = 0; i < d->n_stages; i++) {
        free(d->stages[i].name);
        for (int k = 0; k < d->stages[i].n_args; k++) {
            free(d->stages[i].args[k].name);
            free(d->stages[i].args[k].stage);
            free(d->stages[i].args[k].field);
            json_decref(d->stages[i].args[k].value);
        }
    }
    free(d->stages);
    free(d);
}

static int stage_index(const vd_dag *d, const char *name, int upto)
{
    for (int i = 0; i < upto; i++)
        if (!strcmp(d->stages[i].name, name)) return i;
    return -1;
}

static int in_flow(json_t *flow, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(flow, i, v)
    {
        if (json_is_string(v) && !strcmp(json_string_value(v), name)) return 1;
    }
    return 0;
}

/* Fields the executor adds to the output of a tracked stage (src/dag/exec.c). */
static const vd_svc_field exec_track_fields[] = {
    {"track_ids", VD_FT_IDS, 0}, {"tracked", VD_FT_FLAG, VD_FIELD_OPTIONAL}, {NULL, 0, 0}};

/* The field `name` of stage service `from`'s output, as the executor sees it. */
static const vd_svc_field *stage_output(const vd_service *from, const char *name)
{
    const vd_svc_field *f = vd_service_output(from, name);
    for (const vd_svc_field *x = exec_track_fields; !f && from->is_detector && x->name; x++)
        if (!strcmp(x->name, name)) f = x;
    return f;
}

/* Input k of stage `name` (service svc) refers (as `ref`) to field `field` of service `from`
 * (NULL: the generator's frame). The field must exist and, if svc declares input k, have its
 * type. */
static int check_ref(const vd_service *svc, const char *k, const vd_service *from,
                     const char *field, const char *where, const char *name, const char *ref,
                     vd_error *err)
{
    const vd_svc_field *out = from ? stage_output(from, field) : NULL;
    if (from && !out) {
        char have[256] = "";
        size_t len = 0;
        for (const vd_svc_field *f = from->out_schema; f && f->name && len < sizeof have; f++)
            len +=
                (size_t)snprintf(have + len, sizeof have - len, "%s%s", len ? ", " : "", f->name);
        return vd_fail(err, VD_EINVAL, "%s.input.%s.%s: '%s': %s outputs no '%s' (it outputs %s)",
                       where, name, k, ref, from->name, field, have);
    }
    const vd_svc_field *in = vd_service_input(svc, k);
    if (in && (!out || out->type != in->type))
        return vd_fail(err, VD_EINVAL, "%s.input.%s.%s: '%s' is %s, but %s's input '%s' takes %s",
                       where, name, k, ref, out ? vd_field_type_name(out->type) : "the frame", name,
                       k, vd_field_type_name(in->type));
    return 0;
}

/* Config input k of stage st: a literal value, checked by the service, kept as a copy. */
static int config_arg(vd_dag_stage *st, const char *k, json_t *v, const char *where, vd_error *err)
{
    char path[256];
    snprintf(path, sizeof path, "%s.input.%s.%s", where, st->name, k);
    int rc = st->svc->check_config(k, v, path, err);
    if (rc) return rc;
    if (st->n_args == VD_DAG_MAX_ARGS)
        return vd_fail(err, VD_EINVAL, "%s.input.%s: too many inputs (max %d)", where, st->name,
                       VD_DAG_MAX_ARGS);
    vd_dag_arg *a = &st->args[st->n_args];
    a->name = strdup(k);
    a->value = json_deep_copy(v);
    if (!a->name || !a->value) {
        free(a->name);
        json_decref(a->value);
        a->name = NULL, a->value = NULL;
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    st->n_args++;
    return 0;
}

/* A registered service that outputs `field`, for examples in messages. */
static const char *provider(const char *field)
{
    for (const vd_service *const *s = vd_service_all(); *s; s++)
        if (vd_service_output(*s, field)) return (*s)->name;
    return "<stage>";
}

/* Is there a path of input references from stage `from` back to stage `to`? */
static int reaches(json_t *input, const char *from, const char *to, int depth)
{
    if (depth > 64) return 0;
    json_t *args = json_object_get(input, from);
    const char *k;
    json_t *v;
    json_object_foreach(args, k, v)
    {
        const char *ref = json_string_value(v);
        if (!ref) continue;
        const char *dot = strchr(ref, '.');
        size_t l = dot ? (size_t)(dot - ref) : strlen(ref);
        char st[128];
        snprintf(st, sizeof st, "%.*s", (int)l, ref);
        if (!strcmp(st, to)) return 1;
        if (strcmp(st, from) && reaches(input, st, to, depth + 1)) return 1;
    }
    return 0;
}

int vd_dag_from_json(json_t *j, const char *where, vd_dag **out, vd_error *err)
{
    *out = NULL;
    if (!where) where = "dag";
    if (!json_is_object(j))
        return vd_fail(
            err, VD_EINVAL,
            "%s: must be a JSON object {generator, flow, input} or {\"pipeline\": [...]}", where);
    json_t *pl = json_object_get(j, "pipeline");
    if (pl) {
        if (!json_is_array(pl) || json_array_size(pl) == 0)
            return vd_fail(err, VD_EINVAL,
                           "%s.pipeline: must be a non-empty array of service names", where);
        char csv[1024] = "";
        size_t i;
        json_t *s;
        json_array_foreach(pl, i, s)
        {
            if (!json_is_string(s))
                return vd_fail(err, VD_EINVAL, "%s.pipeline[%zu]: must be a service name string",
                               where, i);
            snprintf(csv + strlen(csv), sizeof csv - strlen(csv), "%s%s", i ? "," : "",
                     json_string_value(s));
        }
        int rc = vd_dag_from_pipeline(csv, out, err);
        if (rc && err) {
            char tmp[sizeof err->msg];
            memcpy(tmp, err->msg, sizeof tmp);
            snprintf(err->msg, sizeof err->msg, "%.40s.pipeline: %.460s", where, tmp);
        }
        return rc;
    }
    const char *gen = json_string_value(json_object_get(j, "generator"));
    if (!gen)
        return vd_fail(err, VD_EINVAL,
                       "%s.generator: missing (SingleFrameGenerator or ClipGenerator)", where);
    vd_generator g;
    if (!strcmp(gen, "SingleFrameGenerator"))
        g = VD_GEN_SINGLE_FRAME;
    else if (!strcmp(gen, "ClipGenerator"))
        g = VD_GEN_CLIP;
    else
        return vd_fail(
            err, VD_EINVAL,
            "%s.generator: unknown generator '%s' (SingleFrameGenerator or ClipGenerator)", where,
            gen);
    json_t *flow = json_object_get(j, "flow");
    if (!json_is_array(flow) || json_array_size(flow) < 2)
        return vd_fail(err, VD_EINVAL, "%s.flow: must be an array: the generator, then the stages",
                       where);
    const char *f0 = json_string_value(json_array_get(flow, 0));
    if (!f0 || strcmp(f0, gen))
        return vd_fail(err, VD_EINVAL, "%s.flow[0]: must be the generator '%s'", where, gen);
    json_t *input = json_object_get(j, "input");
    if (input && !json_is_object(input))
        return vd_fail(err, VD_EINVAL, "%s.input: must be an object", where);
    vd_dag *d = calloc(1, sizeof *d);
    if (!d) return vd_fail(err, VD_ENOMEM, "out of memory");
    d->generator = g;
    json_int_t cl = json_integer_value(json_object_get(j, "clip_len"));
    d->clip_len = cl > 0 && cl <= 64 ? (int)cl : 4;
    d->stages = calloc(json_array_size(flow), sizeof(vd_dag_stage));
    if (!d->stages) {
        free(d);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    int rc = 0;
    for (size_t i = 1; i < json_array_size(flow) && !rc; i++) {
        const char *name = json_string_value(json_array_get(flow, i));
        if (!name) {
            rc = vd_fail(err, VD_EINVAL, "%s.flow[%zu]: must be a service name string", where, i);
            break;
        }
        const vd_service *svc = vd_service_find(name);
        if (!svc) {
            char known[256];
            rc = vd_fail(err, VD_ENOTFOUND, "%s.flow[%zu]: unknown service '%s' (known: %s)", where,
                         i, name, vd_service_names(known, sizeof known));
            break;
        }
        if (stage_index(d, name, d->n_stages) >= 0 || !strcmp(name, gen)) {
            rc = vd_fail(err, VD_EINVAL, "%s.flow[%zu]: duplicate stage '%s'", where, i, name);
            break;
        }
        vd_dag_stage *st = &d->stages[d->n_stages++];
        st->name = strdup(name);
        st->svc = svc;
        json_t *args = json_object_get(input, name);
        if (args && !json_is_object(args)) {
            rc = vd_fail(err, VD_EINVAL, "%s.input.%s: must be an object {arg: \"stage.field\"}",
                         where, name);
            break;
        }
        const char *k;
        json_t *v;
        json_object_foreach(args, k, v)
        {
            const vd_svc_field *in = vd_service_input(svc, k);
            if (in && in->type == VD_FT_CONFIG) {
                rc = config_arg(st, k, v, where, err);
                if (rc) break;
                continue;
            }
            const char *ref = json_string_value(v);
            const char *dot = ref ? strchr(ref, '.') : NULL;
            if (!ref || !dot || dot == ref || !dot[1]) {
                rc = vd_fail(err, VD_EINVAL, "%s.input.%s.%s: must be a string \"<stage>.<field>\"",
                             where, name, k);
                break;
            }
            char src[128];
            snprintf(src, sizeof src, "%.*s", (int)(dot - ref), ref);
            if (strcmp(src, gen) && stage_index(d, src, d->n_stages - 1) < 0) {
                if (reaches(input, src, name, 0) || !strcmp(src, name))
                    rc = vd_fail(err, VD_EINVAL,
                                 "%s.input.%s.%s: '%s' makes a cycle (%s needs %s, which needs %s)",
                                 where, name, k, ref, name, src, name);
                else if (!in_flow(flow, src))
                    rc = vd_fail(err, VD_EINVAL,
                                 "%s.input.%s.%s: '%s' refers to '%s', which is not in the flow",
                                 where, name, k, ref, src);
                else
                    rc = vd_fail(err, VD_EINVAL,
                                 "%s.input.%s.%s: '%s' refers to stage '%s', which is not earlier "
                                 "in the flow",
                                 where, name, k, ref, src);
                break;
            }
            if (!strcmp(src, gen)) {
                const char *want = g == VD_GEN_CLIP ? "clip" : "image";
                if (strcmp(dot + 1, want) && strcmp(dot + 1, "image")) {
                    rc = vd_fail(err, VD_EINVAL,
                                 "%s.input.%s.%s: the generator outputs '%s', not '%s'", where,
                                 name, k, want, dot + 1);
                    break;
                }
            }
            int from = strcmp(src, gen) ? stage_index(d, src, d->n_stages - 1) : -1;
            rc = check_ref(svc, k, from >= 0 ? d->stages[from].svc : NULL, dot + 1, where, name,
                           ref, err);
            if (rc) break;
            if (st->n_args == VD_DAG_MAX_ARGS) {
                rc = vd_fail(err, VD_EINVAL, "%s.input.%s: too many inputs (max %d)", where, name,
                             VD_DAG_MAX_ARGS);
                break;
            }
            vd_dag_arg *a = &st->args[st->n_args++];
            a->name = strdup(k);
            a->stage = strdup(src);
            a->field = strdup(dot + 1);
        }
        for (int r = 0; !rc && svc->inputs[r]; r++) {
            int found = 0;
            for (int a = 0; a < st->n_args; a++) found |= !strcmp(st->args[a].name, svc->inputs[r]);
            const vd_svc_field *in = vd_service_input(svc, svc->inputs[r]);
            if (!found && in && in->type == VD_FT_CONFIG)
                rc = vd_fail(err, VD_EINVAL,
                             "%s.input.%s.%s: missing: %s needs its %s, a JSON value given in "
                             "the DAG itself (the {\"generator\", \"flow\", \"input\"} form; "
                             "the pipeline form has no place for it)",
                             where, name, svc->inputs[r], name, svc->inputs[r]);
            else if (!found)
                rc = vd_fail(err, VD_EINVAL,
                             "%s.input.%s.%s: missing required input of %s (e.g. \"%s\": "
                             "\"%s.%s\")",
                             where, name, svc->inputs[r], name, svc->inputs[r],
                             provider(svc->inputs[r]), svc->inputs[r]);
        }
    }
    /* inputs naming stages that are not in the flow at all */
    if (!rc && input) {
        const char *k;
        json_t *v;
        json_object_foreach(input, k, v)
        {
            if (stage_index(d, k, d->n_stages) < 0) {
                rc = vd_fail(err, VD_EINVAL, "%s.input.%s: no such stage in the flow", where, k);
                break;
            }
        }
    }
    if (rc) {
        vd_dag_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

int vd_dag_parse(const char *text, const char *where, vd_dag **out, vd_error *err)
{
    json_error_t je;
    *out = NULL;
    json_t *j = json_loads(text, 0, &je);
    if (!j)
        return vd_fail(err, VD_EFORMAT, "%s:%d:%d: %s", where ? where : "dag", je.line, je.column,
                       je.text);
    int rc = vd_dag_from_json(j, where, out, err);
    json_decref(j);
    return rc;
}

int vd_dag_from_pipeline(const char *csv, vd_dag **out, vd_error *err)
{
    json_t *flow = json_array(), *input = json_object();
    json_array_append_new(flow, json_string("SingleFrameGenerator"));
    char *dup = strdup(csv ? csv : ""), *save = NULL;
    int n = 0;
    for (char *s = strtok_r(dup, ",", &save); s; s = strtok_r(NULL, ",", &save), n++) {
        while (*s == ' ') s++;
        json_array_append_new(flow, json_string(s));
        json_t *args = json_pack("{s:s}", "image", "SingleFrameGenerator.image");
        const vd_service *svc = vd_service_find(s);
        /* each required input comes from the nearest earlier stage that outputs it; a
         * service whose inputs are all optional takes its first from there, if any does */
        const char *first[2] = {svc && svc->in_schema ? svc->in_schema[0].name : NULL, NULL};
        const char *const *want = svc && svc->inputs[0] ? svc->inputs : first;
        for (int r = 0; svc && want[r]; r++)
            for (size_t p = json_array_size(flow) - 2; p >= 1; p--) {
                const vd_service *prev =
                    vd_service_find(json_string_value(json_array_get(flow, p)));
                int has = 0;
                for (int o = 0; prev && prev->outputs[o]; o++)
                    has |= !strcmp(prev->outputs[o], want[r]);
                if (has) {
                    char ref[256];
                    snprintf(ref, sizeof ref, "%s.%s", prev->name, want[r]);
                    json_object_set_new(args, want[r], json_string(ref));
                    /* optional inputs from the same stage (as the seed passes prob along) */
                    for (const vd_svc_field *o = svc->in_schema; r == 0 && o && o->name; o++) {
                        if (!(o->flags & VD_FIELD_OPTIONAL) || !stage_output(prev, o->name))
                            continue;
                        snprintf(ref, sizeof ref, "%s.%s", prev->name, o->name);
                        json_object_set_new(args, o->name, json_string(ref));
                    }
                    break;
                }
            }
        json_object_set_new(input, s, args);
    }
    free(dup);
    int rc;
    if (n == 0) {
        char known[256];
        rc = vd_fail(err, VD_EINVAL, "pipeline: empty (give service names, comma-separated: %s)",
                     vd_service_names(known, sizeof known));
    } else {
        json_t *j = json_pack("{s:s,s:o,s:o}", "generator", "SingleFrameGenerator", "flow", flow,
                              "input", input);
        flow = input = NULL;
        rc = vd_dag_from_json(j, "dag", out, err);
        json_decref(j);
    }
    json_decref(flow);
    json_decref(input);
    return rc;
}

json_t *vd_dag_to_json(const vd_dag *d)
{
    json_t *flow = json_array(), *input = json_object();
    json_array_append_new(flow, json_string(gen_name(d->generator)));
    for (int i = 0; i < d->n_stages; i++) {
        json_array_append_new(flow, json_string(d->stages[i].name));
        json_t *a = json_object();
        for (int k = 0; k < d->stages[i].n_args; k++) {
            if (d->stages[i].args[k].value) {
                json_object_set_new(a, d->stages[i].args[k].name,
                                    json_deep_copy(d->stages[i].args[k].value));
                continue;
            }
            char ref[256];
            snprintf(ref, sizeof ref, "%s.%s", d->stages[i].args[k].stage,
                     d->stages[i].args[k].field);
            json_object_set_new(a, d->stages[i].args[k].name, json_string(ref));
        }
        json_object_set_new(input, d->stages[i].name, a);
    }
    return json_pack("{s:s,s:o,s:o}", "generator", gen_name(d->generator), "flow", flow, "input",
                     input);
}
