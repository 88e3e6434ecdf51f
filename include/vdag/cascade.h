/*
 * vdag cascade (seed 004, DNet): a chain of units, each one model of a service with an exit
 * test on its output; a unit whose test fails passes the request (the frame as a JPEG) to the
 * next unit and relays its answer back, so easy frames are answered by the small model at
 * the edge and hard ones go on to a larger model elsewhere. docs/slicing.md, "Cascades".
 *
 * A cascade is a model choice of a service: a model name "cascade:nanodet@0.2..0.45>centernet"
 * in the service's table (object_detection model 2). vd_svc_open opens it as a vd_cascade:
 * unit 0 runs in the caller's process; later units are compute workers that serve
 * "svc.unit.<service>.<model>" on the transport (any number per unit: they share the
 * service's queue group; each owns one model and runs one request at a time). A request
 * carries the rest of the chain (models and exit tests), so a worker knows where to forward
 * and thresholds may change per request (the plan's exit_lo / exit_hi).
 *
 * Request: a vd_msg, header {"id", "service", "pos": unit index, "chain": [{"model", "rule",
 * "lo", "hi"}, …] (this unit first), "budget_ms", "fallback", "src_w", "src_h"} + a JPEG.
 * Reply: {"id" (the request's), "unit", "model", "node", "confident", "fallback"[, "error"],
 * "output", "ms"}. A worker forwards with what is left of budget_ms (minus a margin), so the
 * caller hears of a unit that is down or slow before its own timeout: an error naming the
 * unit (VD_ETIMEDOUT, VD_ENOTFOUND, … as err->remote), or with "fallback" the answer of the
 * deepest unit that ran, marked "fallback": true.
 *
 * Ownership: a worker borrows its transport (close the transport before vd_cascade_worker_free);
 * a vd_cascade borrows the transport it is given, or owns the in-process one it makes (then
 * with one worker per later unit). Replies are the caller's (vd_cascade_reply_free).
 * Thread-safety: a vd_cascade is used by one thread at a time (as a service instance);
 * vd_cascade_call and the parse/test functions are thread-safe; a worker serves requests
 * from several transport threads one at a time.
 */
#ifndef VDAG_CASCADE_H
#define VDAG_CASCADE_H

#include <jansson.h>

#include "vdag/error.h"
#include "vdag/net.h"
#include "vdag/svc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- exit tests ----------------------------------------------------------------------- */

typedef enum vd_exit_rule {
    VD_EXIT_BAND = 0, /* confident iff no box's score is in [lo, hi) */
    VD_EXIT_MAX = 1,  /* confident iff the top score is >= hi, or below lo (nothing there) */
} vd_exit_rule;

typedef struct vd_exit_test {
    vd_exit_rule rule;
    float lo, hi; /* the uncertain band; lo > 0 also opens the unit with min_score lo */
} vd_exit_test;

/* "band" / "max" <-> rule; parse returns VD_EINVAL for anything else. */
const char *vd_exit_rule_name(vd_exit_rule r);
int vd_exit_rule_parse(const char *s, vd_exit_rule *out);
/* 1 when out (svc's output) passes t: scores are the first VD_FT_SCORES field of svc's
 * out_schema (a service without one is never confident: 0). */
int vd_exit_confident(const vd_service *svc, const vd_exit_test *t, json_t *out);

/* ---- the chain ----------------------------------------------------------------------- */

#define VD_CASCADE_MAX_UNITS 8
#define VD_CASCADE_PREFIX    "cascade:"

typedef struct vd_cascade_spec {
    const vd_service *svc;
    int n;                                   /* units, >= 2 */
    int model_id[VD_CASCADE_MAX_UNITS];      /* of svc, each a plain model (not a cascade) */
    vd_exit_test exit[VD_CASCADE_MAX_UNITS]; /* of every unit but the last */
} vd_cascade_spec;

/* Parse "cascade:UNIT>UNIT[>…]" (the prefix may be left out), UNIT = MODEL[@[RULE:]LO..HI]
 * with MODEL one of svc's model names (the last unit's band is ignored; a unit without one
 * gets band 0..0.5). VD_EINVAL naming what is wrong. */
int vd_cascade_parse(const vd_service *svc, const char *spec, vd_cascade_spec *out, vd_error *err);
/* 1 if model name is a cascade's ("cascade:…"). */
int vd_cascade_is(const char *model_name);

/* ---- compute workers ------------------------------------------------------------------ */

typedef struct vd_cascade_worker vd_cascade_worker;

/* Serve model model_id of service `service` as a unit on t, as node `node` (the node's own
 * subject; the service "svc.unit.<service>.<model>" is shared by every worker of the unit).
 * o: the instance's options (threads, pool; min_score comes from each request's test). */
int vd_cascade_worker_start(vd_transport *t, const char *node, const char *service, int model_id,
                            const vd_svc_opts *o, vd_cascade_worker **out, vd_error *err);
/* Requests served so far, and of them forwarded to the next unit. */
void vd_cascade_worker_stats(vd_cascade_worker *w, long *served, long *forwarded);
void vd_cascade_worker_free(vd_cascade_worker *w);

/* ---- calls ---------------------------------------------------------------------------- */

typedef struct vd_cascade_reply {
    char id[40];
    int unit;        /* index in the whole chain of the unit that answered */
    char model[64];  /* its model */
    char node[64];   /* the worker that answered ("" for a local unit) */
    int confident;   /* its exit test passed (the last unit: 1) */
    int fallback;    /* a later unit failed: this is the deepest answer that was had */
    char error[256]; /* with fallback: why */
    json_t *output;  /* the service's output (owned) */
    double ms;       /* time spent by the workers on it */
} vd_cascade_reply;

/* Send frame f (JPEG at quality q, 1..100) to unit `pos` of spec (its workers on t; node
 * NULL: any), which answers or forwards. Errors: the transport's (VD_ENOTFOUND nobody
 * serves unit pos, VD_ETIMEDOUT), VD_EREMOTE with the failing later unit's code in
 * err->remote (without fallback), VD_EFORMAT for a reply that is not for this request.
 * *sent: bytes sent (may be NULL). */
int vd_cascade_call(vd_transport *t, const char *node, const vd_cascade_spec *spec, int pos,
                    const vd_frame *f, int quality, int timeout_ms, int fallback,
                    vd_cascade_reply *out, size_t *sent, vd_error *err);
void vd_cascade_reply_free(vd_cascade_reply *r);

/* ---- a cascade as a service instance -------------------------------------------------- */

typedef struct vd_cascade_opts {
    vd_transport *t;  /* later units' workers; NULL: an in-process transport and a worker
                         per later unit, made and owned here */
    const char *node; /* the node serving later units (NULL: any, the queue group) */
    int timeout_ms;   /* a whole request to the later units (0: 5000) */
    int fallback;     /* a later unit down or late: the deepest answer, marked, not an error */
    int quality;      /* JPEG quality of frames sent on (0: 90) */
    vd_svc_opts svc;  /* unit 0's instance (and the in-process workers') */
} vd_cascade_opts;

typedef struct vd_cascade vd_cascade;
int vd_cascade_open(const vd_cascade_spec *spec, const vd_cascade_opts *o, vd_cascade **out,
                    vd_error *err);
/* The service's output of whichever unit answered, with "cascade": {"unit", "model", "node",
 * "confident", "fallback"[, "error"], "bytes"} added (bytes sent on for this frame). */
int vd_cascade_run(vd_cascade *c, const vd_frame *f, json_t *args, json_t **out, vd_error *err);
/* Change unit `unit`'s exit test (the plan's thresholds); lo changes re-open unit 0. */
int vd_cascade_set_exit(vd_cascade *c, int unit, const vd_exit_test *t, vd_error *err);
const vd_cascade_spec *vd_cascade_get_spec(const vd_cascade *c);
void vd_cascade_close(vd_cascade *c);

#ifdef __cplusplus
}
#endif
#endif
