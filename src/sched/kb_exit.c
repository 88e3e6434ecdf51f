/* The knowledge base's exit curves (a cascade model's uncertain band against the share of
 * frames it sends on and its F1 against the large model alone; `vdag cascade bench --kb`), and
 * the band a plan gets from them (kb scheduler). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/kb_internal.h"
#include "vdag/cascade.h"

static int same(const kb_exit_e *e, const char *service, int model, float lo, float hi)
{
    return e->model_id == model && fabsf(e->p.lo - lo) < 1e-4f && fabsf(e->p.hi - hi) < 1e-4f &&
           !strcmp(e->service, service);
}

int vd__kb_put_exit(vd_kb *kb, const char *service, int model, const vd_kb_exit_pt *p)
{
    for (int i = 0; i < kb->nx; i++)
        if (same(&kb->x[i], service, model, p->lo, p->hi)) {
            kb->x[i].p = *p;
            return 0;
        }
    if (vd__kb_grow((void **)&kb->x, &kb->capx, kb->nx, sizeof *kb->x)) return VD_ENOMEM;
    kb_exit_e *e = &kb->x[kb->nx++];
    snprintf(e->service, sizeof e->service, "%s", service);
    e->model_id = model;
    e->p = *p;
    return 0;
}

int vd_kb_set_exit(vd_kb *kb, const char *service, int model_id, const vd_kb_exit_pt *p)
{
    if (!kb || !service || !p) return VD_EINVAL;
    vd__kb_lock(kb);
    int rc = vd__kb_put_exit(kb, service, model_id, p);
    vd__kb_unlock(kb);
    return rc;
}

int vd_kb_exit_curve(const vd_kb *kb, const char *service, int model_id, vd_kb_exit_pt *out,
                     int cap)
{
    if (!kb) return 0;
    int n = 0;
    vd__kb_lock(kb);
    for (int i = 0; i < kb->nx; i++)
        if (kb->x[i].model_id == model_id && !strcmp(kb->x[i].service, service)) {
            if (n < cap) out[n] = kb->x[i].p;
            n++;
        }
    vd__kb_unlock(kb);
    return n;
}

int vd_kb_pick_exit(const vd_kb *kb, const char *service, int model_id, double min_f1,
                    vd_kb_exit_pt *out)
{
    int found = 0;
    if (!kb) return VD_ENOTFOUND;
    vd__kb_lock(kb);
    for (int i = 0; i < kb->nx; i++) {
        const kb_exit_e *e = &kb->x[i];
        if (e->model_id != model_id || strcmp(e->service, service) || e->p.f1 < min_f1) continue;
        if (!found || e->p.escalated < out->escalated - 1e-9 ||
            (fabs(e->p.escalated - out->escalated) <= 1e-9 && e->p.f1 > out->f1))
            *out = e->p;
        found = 1;
    }
    vd__kb_unlock(kb);
    return found ? 0 : VD_ENOTFOUND;
}

void vd__plan_exits(const vd_sched_input *in, vd_plan *p)
{
    double want = in->accuracy > 0 ? in->accuracy : VD_KB_EXIT_F1;
    for (int i = 0; i < p->n_stages && i < in->dag->n_stages; i++) {
        const vd_service *s = in->dag->stages[i].svc;
        vd_stage_map *m = &p->map[i];
        vd_kb_exit_pt pt;
        if (!s || m->model_id < 0 || m->model_id >= s->n_models ||
            !vd_cascade_is(s->model_names[m->model_id]))
            continue;
        if (vd_kb_pick_exit(in->kb, s->name, m->model_id, want, &pt) == 0)
            m->exit_lo = pt.lo, m->exit_hi = pt.hi;
    }
}

json_t *vd__kb_exits_json(const vd_kb *kb)
{
    json_t *a = json_array();
    for (int i = 0; i < kb->nx; i++) {
        const kb_exit_e *e = &kb->x[i];
        json_array_append_new(a,
                              json_pack("{s:s,s:i,s:f,s:f,s:f,s:f,s:i}", "service", e->service,
                                        "model_id", e->model_id, "lo", round(e->p.lo * 1e4) / 1e4,
                                        "hi", round(e->p.hi * 1e4) / 1e4, "escalated",
                                        e->p.escalated, "f1", e->p.f1, "n", e->p.n));
    }
    return a;
}

int vd__kb_exits_read(vd_kb *kb, json_t *a, vd_error *err)
{
    if (!a || json_is_null(a)) return 0;
    if (!json_is_array(a)) return vd_fail(err, VD_EFORMAT, "kb.exit: must be an array");
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e)
    {
        const char *svc = json_string_value(json_object_get(e, "service"));
        json_t *mid = json_object_get(e, "model_id");
        vd_kb_exit_pt p = {
            .lo = (float)json_number_value(json_object_get(e, "lo")),
            .hi = (float)json_number_value(json_object_get(e, "hi")),
            .escalated = json_number_value(json_object_get(e, "escalated")),
            .f1 = json_number_value(json_object_get(e, "f1")),
            .n = (int)json_integer_value(json_object_get(e, "n")),
        };
        if (!svc || strlen(svc) >= sizeof kb->x[0].service || !json_is_integer(mid) ||
            json_integer_value(mid) < 0 || json_integer_value(mid) > 1000 || !(p.lo >= 0) ||
            p.lo > p.hi || p.hi > 1 || !(p.escalated >= 0 && p.escalated <= 1) ||
            !(p.f1 >= 0 && p.f1 <= 1) || p.n < 0)
            return vd_fail(err, VD_EFORMAT,
                           "kb.exit[%zu]: needs service, model_id, 0 <= lo <= hi <= 1, escalated "
                           "and f1 in 0..1, n >= 0",
                           i);
        if (vd__kb_put_exit(kb, svc, (int)json_integer_value(mid), &p))
            return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    return 0;
}

int vd__kb_exits_merge(vd_kb *dst, const vd_kb *src)
{
    for (int i = 0; i < src->nx; i++) {
        const kb_exit_e *x = &src->x[i];
        kb_exit_e *y = NULL;
        for (int k = 0; k < dst->nx && !y; k++)
            if (same(&dst->x[k], x->service, x->model_id, x->p.lo, x->p.hi)) y = &dst->x[k];
        if (!y) {
            if (vd__kb_put_exit(dst, x->service, x->model_id, &x->p)) return VD_ENOMEM;
            continue;
        }
        int n = y->p.n + x->p.n;
        if (n > 0) {
            y->p.escalated = (y->p.escalated * y->p.n + x->p.escalated * x->p.n) / n;
            y->p.f1 = (y->p.f1 * y->p.n + x->p.f1 * x->p.n) / n;
        }
        y->p.n = n;
    }
    return 0;
}
