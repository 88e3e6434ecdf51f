/* Cascade units over the transport: the compute worker of one unit (decode, run, test,
 * answer or forward and relay) and the call (include/vdag/cascade.h). */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vdag/base.h"
#include "vdag/cascade.h"
#include "vdag/media.h"

/* Forwarding keeps this much of the budget for the way back (ms: a tenth, at least 20). */
static int budget_after(int budget_ms, double spent_ms)
{
    double margin = budget_ms / 10.0 > 20 ? budget_ms / 10.0 : 20;
    return (int)(budget_ms - spent_ms - margin);
}

static void unit_service(const char *svc, const char *model, char *buf, size_t cap)
{
    snprintf(buf, cap, "svc.unit.%s.%s", svc, model);
}

static void new_id(char *buf, size_t cap)
{
    static atomic_ulong seq;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, cap, "%x-%lx-%lu", (unsigned)getpid(), (unsigned long)ts.tv_nsec,
             (unsigned long)atomic_fetch_add(&seq, 1) + 1);
}

void vd_cascade_reply_free(vd_cascade_reply *r)
{
    json_decref(r->output);
    memset(r, 0, sizeof *r);
}

static void copy_str(char *dst, size_t n, const char *s)
{
    snprintf(dst, n, "%s", s ? s : "");
}

static int parse_reply(const vd_buf *resp, const char *id, vd_cascade_reply *r, vd_error *err)
{
    json_t *hdr = NULL;
    const unsigned char *blob;
    size_t len;
    int rc = vd_msg_unpack(resp->data, resp->len, &hdr, &blob, &len, err);
    if (rc) return rc;
    const char *rid = json_string_value(json_object_get(hdr, "id"));
    json_t *o = json_object_get(hdr, "output");
    if (!rid || strcmp(rid, id))
        rc = vd_fail(err, VD_EFORMAT, "cascade: a reply for request '%s' came to request '%s'",
                     rid ? rid : "?", id);
    else if (!json_is_object(o) || !json_is_integer(json_object_get(hdr, "unit")))
        rc = vd_fail(err, VD_EFORMAT, "cascade: reply to '%s' without unit or output", id);
    if (!rc) {
        copy_str(r->id, sizeof r->id, rid);
        r->unit = (int)json_integer_value(json_object_get(hdr, "unit"));
        copy_str(r->model, sizeof r->model, json_string_value(json_object_get(hdr, "model")));
        copy_str(r->node, sizeof r->node, json_string_value(json_object_get(hdr, "node")));
        copy_str(r->error, sizeof r->error, json_string_value(json_object_get(hdr, "error")));
        r->confident = json_is_true(json_object_get(hdr, "confident"));
        r->fallback = json_is_true(json_object_get(hdr, "fallback"));
        r->ms = json_number_value(json_object_get(hdr, "ms"));
        r->output = json_incref(o);
    }
    json_decref(hdr);
    return rc;
}

/* One request to the unit at chain[0] (a new array of the remaining units). */
static int unit_request(vd_transport *t, const char *node, const char *svc, json_t *chain, int pos,
                        const char *id, const void *jpeg, size_t len, int src_w, int src_h,
                        int budget_ms, int fallback, vd_cascade_reply *out, vd_error *err)
{
    memset(out, 0, sizeof *out);
    const char *model = json_string_value(json_object_get(json_array_get(chain, 0), "model"));
    char service[160];
    unit_service(svc, model ? model : "?", service, sizeof service);
    json_t *hdr = json_pack("{s:s,s:s,s:i,s:O,s:i,s:b,s:i,s:i}", "id", id, "service", svc, "pos",
                            pos, "chain", chain, "budget_ms", budget_ms, "fallback", fallback,
                            "src_w", src_w, "src_h", src_h);
    vd_buf req = {0}, resp = {0};
    int rc = hdr ? vd_msg_pack(hdr, jpeg, len, &req, err) : vd_fail(err, VD_ENOMEM, "oom");
    json_decref(hdr);
    if (!rc) {
        rc = vd_transport_call(t, node, service, &req, &resp, budget_ms, err);
        if (rc && rc != VD_EREMOTE && err) { /* say which unit */
            char why[sizeof err->msg];
            snprintf(why, sizeof why, "%s", err->msg);
            vd_fail(err, rc, "unit %d (%s): %s", pos, model ? model : "?", why);
        }
    }
    vd_buf_free(&req);
    if (!rc) rc = parse_reply(&resp, id, out, err);
    vd_buf_free(&resp);
    if (rc) vd_cascade_reply_free(out);
    return rc;
}

static json_t *chain_json(const vd_cascade_spec *s, int pos)
{
    json_t *a = json_array();
    for (int k = pos; k < s->n; k++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:f,s:f}", "model",
                                           s->svc->model_names[s->model_id[k]], "rule",
                                           vd_exit_rule_name(s->exit[k].rule), "lo",
                                           (double)s->exit[k].lo, "hi", (double)s->exit[k].hi));
    return a;
}

int vd_cascade_call(vd_transport *t, const char *node, const vd_cascade_spec *spec, int pos,
                    const vd_frame *f, int quality, int timeout_ms, int fallback,
                    vd_cascade_reply *out, size_t *sent, vd_error *err)
{
    memset(out, 0, sizeof *out);
    if (sent) *sent = 0;
    if (pos < 0 || pos >= spec->n)
        return vd_fail(err, VD_EINVAL, "cascade: no unit %d (0..%d)", pos, spec->n - 1);
    unsigned char *jpeg = NULL;
    size_t len = 0;
    int rc = vd_jpeg_encode(f, quality, &jpeg, &len, err);
    if (rc) return rc;
    char id[40];
    new_id(id, sizeof id);
    json_t *chain = chain_json(spec, pos);
    rc = chain ? unit_request(t, node, spec->svc->name, chain, pos, id, jpeg, len, f->src_width,
                              f->src_height, timeout_ms > 0 ? timeout_ms : 5000, fallback, out, err)
               : vd_fail(err, VD_ENOMEM, "out of memory");
    json_decref(chain);
    free(jpeg);
    if (sent) *sent = len;
    return rc;
}

/* ---- the worker ----------------------------------------------------------------------- */

struct vd_cascade_worker {
    vd_transport *t;
    char node[64];
    const vd_service *svc;
    int model_id;
    vd_svc_opts o;
    pthread_mutex_t mu; /* one request at a time: the model's rule */
    vd_svc_instance *inst;
    float inst_lo; /* the min_score it was opened with (0: the service's default) */
    long served, forwarded;
};

/* The instance for a unit that tests with lower edge lo (0: none), re-opened when it changes. */
static int instance_for(vd_cascade_worker *w, float lo, vd_error *err)
{
    if (w->inst && fabsf(w->inst_lo - lo) < 1e-6f) return 0;
    vd_svc_opts so = w->o;
    so.min_score = lo > 0 ? lo : w->o.min_score;
    vd_svc_instance *n = NULL;
    int rc = vd_svc_open(w->svc->name, w->model_id, &so, &n, err);
    if (rc) return rc;
    vd_svc_close(w->inst);
    w->inst = n;
    w->inst_lo = lo;
    return 0;
}

static int reply_pack(const char *id, int pos, const char *model, const char *node, int confident,
                      int fallback, const char *error, json_t *output, double ms, vd_buf *resp,
                      vd_error *err)
{
    json_t *h = json_pack("{s:s,s:i,s:s,s:s,s:b,s:b,s:O,s:f}", "id", id, "unit", pos, "model",
                          model, "node", node, "confident", confident, "fallback", fallback,
                          "output", output, "ms", ms);
    if (h && error && *error) json_object_set_new(h, "error", json_string(error));
    int rc = h ? vd_msg_pack(h, NULL, 0, resp, err) : vd_fail(err, VD_ENOMEM, "out of memory");
    json_decref(h);
    return rc;
}

/* Run this unit on the request's frame: *out its output, *confident its test. */
static int run_here(vd_cascade_worker *w, json_t *hdr, json_t *me, int last,
                    const unsigned char *jpeg, size_t len, json_t **out, int *confident,
                    vd_error *err)
{
    vd_exit_test t = {VD_EXIT_BAND, 0, 0};
    vd_exit_rule_parse(json_string_value(json_object_get(me, "rule")), &t.rule);
    t.lo = (float)json_number_value(json_object_get(me, "lo"));
    t.hi = (float)json_number_value(json_object_get(me, "hi"));
    if (!last && !(t.lo >= 0 && t.lo <= t.hi && t.hi <= 1))
        return vd_fail(err, VD_EINVAL, "unit %s: band %g..%g (use 0 <= lo <= hi <= 1)",
                       w->svc->model_names[w->model_id], t.lo, t.hi);
    vd_frame *f = NULL;
    int rc = vd_jpeg_decode(jpeg, len, &f, err);
    if (rc) return rc;
    int sw = (int)json_integer_value(json_object_get(hdr, "src_w"));
    int sh = (int)json_integer_value(json_object_get(hdr, "src_h"));
    if (sw > 0 && sh > 0) f->src_width = sw, f->src_height = sh;
    pthread_mutex_lock(&w->mu);
    rc = instance_for(w, last ? 0 : t.lo, err);
    if (!rc) rc = vd_svc_process(w->inst, f, NULL, out, err);
    w->served++;
    pthread_mutex_unlock(&w->mu);
    vd_frame_free(f);
    *confident = last || (!rc && vd_exit_confident(w->svc, &t, *out));
    return rc;
}

static int serve(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    vd_cascade_worker *w = arg;
    double t0 = vd_now_ms();
    json_t *hdr = NULL, *out = NULL;
    const unsigned char *jpeg;
    size_t len;
    int rc = vd_msg_unpack(req->data, req->len, &hdr, &jpeg, &len, err);
    if (rc) return rc;
    const char *id = json_string_value(json_object_get(hdr, "id"));
    const char *svc = json_string_value(json_object_get(hdr, "service"));
    json_t *chain = json_object_get(hdr, "chain"), *me = json_array_get(chain, 0);
    const char *model = json_string_value(json_object_get(me, "model"));
    const char *mine = w->svc->model_names[w->model_id];
    int pos = (int)json_integer_value(json_object_get(hdr, "pos"));
    int budget = (int)json_integer_value(json_object_get(hdr, "budget_ms"));
    int fallback = json_is_true(json_object_get(hdr, "fallback"));
    size_t n = json_array_size(chain);
    if (!id || !svc || !model || n > VD_CASCADE_MAX_UNITS)
        rc = vd_fail(err, VD_EINVAL, "unit %s: a request needs id, service and a chain of 1..%d",
                     mine, VD_CASCADE_MAX_UNITS);
    else if (strcmp(svc, w->svc->name) || strcmp(model, mine))
        rc = vd_fail(err, VD_EINVAL, "unit %s of %s: a request for %s of %s came here", mine,
                     w->svc->name, model, svc);
    int confident = 0;
    if (!rc) rc = run_here(w, hdr, me, n == 1, jpeg, len, &out, &confident, err);
    if (!rc && !confident) { /* on to the next unit, and its answer back */
        json_t *rest = json_array();
        for (size_t k = 1; k < n; k++) json_array_append(rest, json_array_get(chain, k));
        vd_cascade_reply r;
        vd_error e = {0};
        int left = budget_after(budget, vd_now_ms() - t0);
        int frc = left > 0 ? unit_request(w->t, NULL, svc, rest, pos + 1, id, jpeg, len,
                                          (int)json_integer_value(json_object_get(hdr, "src_w")),
                                          (int)json_integer_value(json_object_get(hdr, "src_h")),
                                          left, fallback, &r, &e)
                           : vd_fail(&e, VD_ETIMEDOUT, "no time left for unit %d (budget %d ms)",
                                     pos + 1, budget);
        json_decref(rest);
        pthread_mutex_lock(&w->mu);
        w->forwarded++;
        pthread_mutex_unlock(&w->mu);
        if (!frc) {
            rc = reply_pack(id, r.unit, r.model, r.node, r.confident, r.fallback, r.error, r.output,
                            vd_now_ms() - t0, resp, err);
            vd_cascade_reply_free(&r);
        } else if (fallback) {
            rc = reply_pack(id, pos, mine, w->node, 0, 1, e.msg, out, vd_now_ms() - t0, resp, err);
        } else {
            int code = frc == VD_EREMOTE && e.remote ? e.remote : frc;
            rc = vd_fail(err, code, "%s", e.msg);
        }
        json_decref(out);
        json_decref(hdr);
        return rc;
    }
    if (!rc) rc = reply_pack(id, pos, mine, w->node, 1, 0, NULL, out, vd_now_ms() - t0, resp, err);
    json_decref(out);
    json_decref(hdr);
    return rc;
}

int vd_cascade_worker_start(vd_transport *t, const char *node, const char *service, int model_id,
                            const vd_svc_opts *o, vd_cascade_worker **out, vd_error *err)
{
    *out = NULL;
    const vd_service *svc = vd_service_find(service);
    if (!svc) return vd_fail(err, VD_ENOTFOUND, "cascade worker: no service '%s'", service);
    if (model_id < 0 || model_id >= svc->n_models || vd_cascade_is(svc->model_names[model_id]))
        return vd_fail(err, VD_EINVAL, "cascade worker: %s has no plain model %d", service,
                       model_id);
    vd_cascade_worker *w = calloc(1, sizeof *w);
    if (!w) return vd_fail(err, VD_ENOMEM, "out of memory");
    w->t = t;
    copy_str(w->node, sizeof w->node, node);
    w->svc = svc;
    w->model_id = model_id;
    if (o) w->o = *o;
    w->o.transport = NULL;
    pthread_mutex_init(&w->mu, NULL);
    char name[160];
    unit_service(service, svc->model_names[model_id], name, sizeof name);
    int rc = instance_for(w, 0, err); /* the model is loaded before the first request */
    if (!rc) rc = t->ops->serve(t, node, name, serve, w, err);
    if (rc) {
        vd_cascade_worker_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void vd_cascade_worker_stats(vd_cascade_worker *w, long *served, long *forwarded)
{
    pthread_mutex_lock(&w->mu);
    if (served) *served = w->served;
    if (forwarded) *forwarded = w->forwarded;
    pthread_mutex_unlock(&w->mu);
}

void vd_cascade_worker_free(vd_cascade_worker *w)
{
    if (!w) return;
    vd_svc_close(w->inst);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
