/* The service registry and instances. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdag/cascade.h"
#include "vdag/svc.h"

extern const vd_service vd_svc_face_detection;
extern const vd_service vd_svc_face_alignment;
extern const vd_service vd_svc_object_detection;
extern const vd_service vd_svc_pose_estimation;
extern const vd_service vd_svc_zone_count;

/* One row per service (src/svc/NAME.c). */
static const vd_service *const registry[] = {
    &vd_svc_face_detection,  &vd_svc_face_alignment, &vd_svc_object_detection,
    &vd_svc_pose_estimation, &vd_svc_zone_count,     NULL,
};

struct vd_svc_instance {
    const vd_service *svc;
    int model_id;
    void *priv;
    vd_cascade *casc;   /* a cascade model: its units instead of priv */
    vd_exit_test exit0; /* its own unit-0 band, which an exit of 0..0 restores */
};

static int open_cascade(vd_svc_instance *s, const vd_svc_opts *opts, vd_error *err)
{
    vd_cascade_spec spec;
    int rc = vd_cascade_parse(s->svc, s->svc->model_names[s->model_id], &spec, err);
    if (rc) return rc;
    vd_cascade_opts co = {0};
    if (opts) {
        co.svc = *opts;
        co.t = opts->transport;
        co.timeout_ms = opts->cascade_timeout_ms;
        co.fallback = opts->cascade_fallback;
    }
    s->exit0 = spec.exit[0];
    return vd_cascade_open(&spec, &co, &s->casc, err);
}

const vd_service *vd_service_find(const char *name)
{
    for (int i = 0; registry[i]; i++)
        if (name && !strcmp(registry[i]->name, name)) return registry[i];
    return NULL;
}

const vd_service *const *vd_service_all(void)
{
    return registry;
}

const char *vd_service_names(char *buf, size_t n)
{
    size_t len = 0;
    if (n) buf[0] = 0;
    for (int i = 0; registry[i] && len < n; i++) {
        int w = snprintf(buf + len, n - len, "%s%s", i ? ", " : "", registry[i]->name);
        if (w < 0) break;
        len += (size_t)w;
    }
    return buf;
}

int vd_svc_open(const char *name, int model_id, const vd_svc_opts *opts, vd_svc_instance **out,
                vd_error *err)
{
    *out = NULL;
    const vd_service *svc = vd_service_find(name);
    if (!svc) {
        char known[256];
        return vd_fail(err, VD_ENOTFOUND, "unknown service '%s' (known: %s)", name ? name : "",
                       vd_service_names(known, sizeof known));
    }
    if (model_id < 0 || model_id >= svc->n_models)
        return vd_fail(err, VD_EINVAL, "service %s: model_id %d out of range 0..%d", name, model_id,
                       svc->n_models - 1);
    vd_svc_instance *s = calloc(1, sizeof *s);
    if (!s) return vd_fail(err, VD_ENOMEM, "out of memory");
    s->priv = calloc(1, svc->priv_size ? svc->priv_size : 1);
    if (!s->priv) {
        free(s);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    s->svc = svc;
    s->model_id = model_id;
    vd_svc_opts def = {0};
    int rc = vd_cascade_is(svc->model_names[model_id])
                 ? open_cascade(s, opts, err)
                 : svc->open(s->priv, model_id, opts ? opts : &def, err);
    if (rc) {
        free(s->priv);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int vd_svc_process(vd_svc_instance *s, const vd_frame *frame, json_t *args, json_t **out,
                   vd_error *err)
{
    *out = NULL;
    if (!frame) return vd_fail(err, VD_EINVAL, "service %s: no image", s->svc->name);
    if (s->casc) return vd_cascade_run(s->casc, frame, args, out, err);
    return s->svc->process(s->priv, frame, args, out, err);
}

int vd_svc_set_exit(vd_svc_instance *s, float lo, float hi, vd_error *err)
{
    if (!s->casc) return 0;
    vd_exit_test t = s->exit0;
    if (lo > 0 || hi > 0) t.lo = lo, t.hi = hi;
    return vd_cascade_set_exit(s->casc, 0, &t, err);
}

const vd_service *vd_svc_service(const vd_svc_instance *s)
{
    return s->svc;
}

int vd_svc_model_id(const vd_svc_instance *s)
{
    return s->model_id;
}

/* Does profiling give svc inputs? When some are required, and when they are all optional
 * but the table says where to get them (pose_estimation: boxes for its per-crop models). */
int vd_svc_profiled_with_inputs(const vd_service *svc)
{
    int optional = svc->in_schema && svc->in_schema[0].name;
    return (svc->inputs && svc->inputs[0]) ||
           (optional && (svc->profile_from || svc->profile_args));
}

int vd_svc_profile_args(const vd_service *svc, vd_frame *const *frames, int n,
                        const vd_svc_opts *opts, json_t **args, vd_error *err)
{
    for (int i = 0; i < n; i++) args[i] = NULL;
    if (!vd_svc_profiled_with_inputs(svc)) return 0;
    vd_svc_instance *up = NULL;
    int rc = 0;
    if (!svc->profile_args) {
        if (!svc->profile_from)
            return vd_fail(err, VD_EUNSUPP,
                           "profiling %s: its table says neither profile_from nor profile_args, so "
                           "its inputs cannot be made; leave %s out of the profiled services",
                           svc->name, svc->name);
        rc = vd_svc_open(svc->profile_from, 0, opts, &up, err);
    }
    for (int i = 0; !rc && i < n; i++) {
        rc = up ? vd_svc_process(up, frames[i], NULL, &args[i], err)
                : svc->profile_args(frames[i], opts, &args[i], err);
        for (int k = 0; !rc && svc->inputs[k]; k++)
            if (!json_object_get(args[i], svc->inputs[k]))
                rc = vd_fail(err, VD_EUNSUPP,
                             "profiling %s: cannot make its input '%s' (%s does not produce "
                             "it); leave %s out of the profiled services",
                             svc->name, svc->inputs[k], up ? svc->profile_from : "its profile_args",
                             svc->name);
    }
    vd_svc_close(up);
    if (rc)
        for (int i = 0; i < n; i++) {
            json_decref(args[i]);
            args[i] = NULL;
        }
    return rc;
}

void vd_svc_close(vd_svc_instance *s)
{
    if (!s) return;
    if (s->casc)
        vd_cascade_close(s->casc);
    else
        s->svc->close(s->priv);
    free(s->priv);
    free(s);
}
