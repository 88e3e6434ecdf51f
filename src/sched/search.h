/* The kb scheduler's plan search (search.c), shared by the kb and chameleon schedulers. */
#ifndef VDAG_SEARCH_H
#define VDAG_SEARCH_H

#include "sched/sched_internal.h"

/* A plan with its predicted delay, accuracy and load, and its tier: 2 = meets the bound,
 * keeps up (load <= 1) and fits every node's CPU; 1 = keeps up and fits; 0 = neither. */
typedef struct vd__cand {
    vd_plan p;
    double delay, acc, load;
    int tier;
} vd__cand;

#define VD_SEARCH_TOP 16
typedef struct vd__search_out {
    vd__cand best; /* the most accurate tier-2 plan (ties: lower delay), else the fastest */
    int have;
    vd__cand top[VD_SEARCH_TOP]; /* the K best tier-2 plans, best first */
    int n_top;
    long leaves; /* plans evaluated exactly */
} vd__search_out;

/* Search the space of vdag/sched.h (VD_KB_*) for in. top_k (1..VD_SEARCH_TOP): how many of the
 * best feasible plans to keep. 0, VD_ENOTFOUND when the kb predicts no plan, VD_ENOMEM. */
int vd__kb_search(const vd_sched_input *in, int top_k, vd__search_out *out);

#endif
