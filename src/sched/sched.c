/* The scheduler registry and the per-job vd_sched instance. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched_internal.h"

static const vd_scheduler *const registry[] = {&vd__sched_fixed,     &vd__sched_feedback,
                                               &vd__sched_kb,        &vd__sched_seed_pid,
                                               &vd__sched_chameleon, NULL};

struct vd_sched {
    const vd_scheduler *s;
    void *priv;
    vd_sched_reason why; /* of the last vd_sched_plan */
};

const char *vd_sched_why_name(vd_sched_why w)
{
    static const char *const names[] = {"none",      "start",       "requested", "constraint",
                                        "node lost", "node joined", "link",      "drift",
                                        "overload",  "control",     "profile"};
    return (int)w >= 0 && (size_t)w < sizeof names / sizeof names[0] ? names[w] : "none";
}

const vd_scheduler *const *vd_scheduler_all(void)
{
    return registry;
}

const vd_scheduler *vd_scheduler_find(const char *name)
{
    for (int i = 0; name && registry[i]; i++)
        if (!strcmp(registry[i]->name, name)) return registry[i];
    return NULL;
}

int vd_sched_new(const char *name, vd_sched **out, vd_error *err)
{
    *out = NULL;
    const vd_scheduler *s = vd_scheduler_find(name);
    if (!s) {
        char names[256] = "";
        for (int i = 0; registry[i]; i++) {
            size_t l = strlen(names);
            snprintf(names + l, sizeof names - l, "%s%s", i ? ", " : "", registry[i]->name);
        }
        return vd_fail(err, VD_ENOTFOUND, "unknown scheduler '%s' (known: %s)", name ? name : "",
                       names);
    }
    vd_sched *x = calloc(1, sizeof *x);
    if (!x) return vd_fail(err, VD_ENOMEM, "out of memory");
    x->s = s;
    x->priv = calloc(1, s->priv_size ? s->priv_size : 1);
    if (!x->priv) {
        free(x);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    *out = x;
    return 0;
}

int vd_sched_plan(vd_sched *s, const vd_sched_input *in, vd_plan *out, vd_error *err)
{
    if (!s || !in || !in->dag || !out)
        return vd_fail(err, VD_EINVAL,
                       "vd_sched_plan: needs a scheduler, an input with a DAG "
                       "and an output plan");
    if (in->dag->n_stages > VD_MAX_STAGES)
        return vd_fail(err, VD_EUNSUPP,
                       "scheduler %s: the DAG has %d stages; plans hold at most %d", s->s->name,
                       in->dag->n_stages, VD_MAX_STAGES);
    vd_plan p;
    vd_sched_reason why = {0};
    int rc = s->s->plan(s->priv, in, &p, &why, err);
    if (rc) return rc;
    if ((rc = vd__plan_check(in, &p, s->s->name, err))) return rc;
    int changed = !in->last_plan || !vd_plan_equal(&p, in->last_plan);
    if (!changed) {
        why = (vd_sched_reason){0};
    } else if (why.code == VD_WHY_NONE) {
        why.code = in->last_plan ? VD_WHY_CONTROL : in->requested ? VD_WHY_REQUESTED : VD_WHY_START;
    }
    if (changed && !why.text[0])
        snprintf(why.text, sizeof why.text, "%s", vd_sched_why_name(why.code));
    s->why = why;
    *out = p;
    return 0;
}

const vd_sched_reason *vd_sched_last_reason(const vd_sched *s)
{
    static const vd_sched_reason none = {0};
    return s ? &s->why : &none;
}

int vd_sched_probes_wanted(vd_sched *s, vd_plan *out, int cap)
{
    if (!s || !s->s->probes || !out || cap <= 0) return 0;
    return s->s->probes(s->priv, out, cap);
}

const char *vd_sched_name(const vd_sched *s)
{
    return s ? s->s->name : "";
}

void vd_sched_free(vd_sched *s)
{
    if (!s) return;
    free(s->priv);
    free(s);
}
