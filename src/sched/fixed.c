/* Scheduler "fixed": the plan submitted with the job, else the running plan, else the
 * default plan. Never adapts. */
#include "sched/sched_internal.h"

static int fixed_plan(void *priv, const vd_sched_input *in, vd_plan *out, vd_sched_reason *why,
                      vd_error *err)
{
    (void)priv;
    (void)err;
    if (in->requested) {
        *out = *in->requested;
        if (!in->last_plan) why->code = VD_WHY_REQUESTED;
    } else if (in->last_plan) {
        *out = *in->last_plan;
    } else {
        vd_plan_default(in->dag, in->edge, out);
    }
    return 0;
}

const vd_scheduler vd__sched_fixed = {
    .name = "fixed",
    .description = "the submitted plan (or the default: native, every stage on the edge, model 0)",
    .priv_size = 0,
    .plan = fixed_plan,
};
