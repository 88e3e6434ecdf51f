/* Remote part B: a host of "svc.slice.<model>" and its caller (include/vdag/slice_net.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdag/base.h"
#include "vdag/media.h"
#include "vdag/nninput.h"
#include "vdag/slice_net.h"

struct vd_slice_host {
    vd_slicer *s;
    pthread_mutex_t mu;
};

static void service_name(const char *model, char *buf, size_t cap)
{
    snprintf(buf, cap, "svc.slice.%s", model);
}

/* The whole model from a JPEG (the cloud-only candidate). */
static int run_jpeg(vd_slicer *s, const unsigned char *blob, size_t len, vd_error *err)
{
    vd_model *m = vd_slicer_model(s);
    vd_frame *f = NULL;
    void *in = NULL;
    size_t bytes = 0;
    int rc = vd_jpeg_decode(blob, len, &f, err);
    if (!rc)
        rc = vd_nn_frame_input(vd_model_input(m, 0), vd_slicer_model_name(s), f, &in, &bytes, err);
    if (!rc) rc = vd_model_run(m, in, bytes, err);
    free(in);
    vd_frame_free(f);
    return rc;
}

static int reply(vd_model *m, double ms, vd_buf *resp, vd_error *err)
{
    json_t *outs = json_array();
    size_t total = 0;
    for (int i = 0; i < vd_model_n_outputs(m); i++) {
        const vd_tensor *t = vd_model_output(m, i);
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_array_append_new(outs, json_pack("{s:s,s:s,s:o}", "name", t->name, "dtype",
                                              t->dtype == VD_F32 ? "f32" : "i32", "shape", shape));
        total += (size_t)vd_tensor_numel(t) * 4;
    }
    unsigned char *blob = malloc(total + 1), *p = blob;
    json_t *hdr = json_pack("{s:f,s:o}", "ms", ms, "outputs", outs);
    int rc = 0;
    if (!blob || !hdr) rc = vd_fail(err, VD_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < vd_model_n_outputs(m); i++) {
        const vd_tensor *t = vd_model_output(m, i);
        memcpy(p, t->data, (size_t)vd_tensor_numel(t) * 4);
        p += vd_tensor_numel(t) * 4;
    }
    if (!rc) rc = vd_msg_pack(hdr, blob, total, resp, err);
    json_decref(hdr);
    free(blob);
    return rc;
}

static int serve(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    vd_slice_host *h = arg;
    json_t *hdr = NULL;
    const unsigned char *blob = NULL;
    size_t len = 0;
    int rc = vd_msg_unpack(req->data, req->len, &hdr, &blob, &len, err);
    if (rc) return rc;
    const char *kind = json_string_value(json_object_get(hdr, "kind"));
    json_t *cut = json_object_get(hdr, "cut");
    pthread_mutex_lock(&h->mu);
    double t0 = vd_now_ms();
    if (kind && !strcmp(kind, "jpeg"))
        rc = run_jpeg(h->s, blob, len, err);
    else if (kind && !strcmp(kind, "tensor") && json_is_integer(cut))
        rc = vd_slicer_run_wire(h->s, (int)json_integer_value(cut), blob, len, err);
    else
        rc = vd_fail(err, VD_EINVAL,
                     "svc.slice.%s: the request needs \"kind\": \"tensor\" with an integer "
                     "\"cut\", or \"kind\": \"jpeg\"",
                     vd_slicer_model_name(h->s));
    if (!rc) rc = reply(vd_slicer_model(h->s), vd_now_ms() - t0, resp, err);
    pthread_mutex_unlock(&h->mu);
    json_decref(hdr);
    return rc;
}

int vd_slice_host_start(vd_transport *t, const char *node, vd_slicer *s, vd_slice_host **out,
                        vd_error *err)
{
    *out = NULL;
    vd_slice_host *h = calloc(1, sizeof *h);
    if (!h) return vd_fail(err, VD_ENOMEM, "out of memory");
    h->s = s;
    pthread_mutex_init(&h->mu, NULL);
    char svc[VD_WIRE_NAME_MAX + 16];
    service_name(vd_slicer_model_name(s), svc, sizeof svc);
    int rc = t->ops->serve(t, node, svc, serve, h, err);
    if (rc) {
        vd_slice_host_free(h);
        return rc;
    }
    *out = h;
    return 0;
}

void vd_slice_host_free(vd_slice_host *h)
{
    if (!h) return;
    pthread_mutex_destroy(&h->mu);
    free(h);
}

void vd_slice_reply_free(vd_slice_reply *r)
{
    for (int i = 0; r->out && i < r->n; i++) {
        free((char *)r->out[i].name);
        free(r->out[i].data);
    }
    free(r->out);
    memset(r, 0, sizeof *r);
}

static int parse_reply(const vd_buf *resp, vd_slice_reply *r, vd_error *err)
{
    json_t *hdr = NULL;
    const unsigned char *blob = NULL;
    size_t len = 0;
    int rc = vd_msg_unpack(resp->data, resp->len, &hdr, &blob, &len, err);
    if (rc) return rc;
    json_t *outs = json_object_get(hdr, "outputs");
    r->host_ms = json_number_value(json_object_get(hdr, "ms"));
    size_t n = json_array_size(outs), off = 0;
    if (!json_is_array(outs) || n > 64) rc = vd_fail(err, VD_EFORMAT, "slice reply: no outputs");
    if (!rc && !(r->out = calloc(n + 1, sizeof(vd_tensor))))
        rc = vd_fail(err, VD_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        json_t *o = json_array_get(outs, i), *shape = json_object_get(o, "shape");
        vd_tensor *t = &r->out[r->n++];
        const char *name = json_string_value(json_object_get(o, "name"));
        const char *dt = json_string_value(json_object_get(o, "dtype"));
        t->name = strdup(name ? name : "");
        t->dtype = dt && !strcmp(dt, "i32") ? VD_I32 : VD_F32;
        t->ndim = (int)json_array_size(shape);
        if (!json_is_array(shape) || t->ndim > VD_MAX_DIMS) {
            rc = vd_fail(err, VD_EFORMAT, "slice reply: output %zu has no valid shape", i);
            break;
        }
        for (int d = 0; d < t->ndim; d++)
            t->shape[d] = json_integer_value(json_array_get(shape, d));
        int64_t numel = vd_tensor_numel(t);
        if (numel < 0 || (size_t)numel > (len - off) / 4) {
            rc = vd_fail(err, VD_EFORMAT, "slice reply: output %zu is larger than the data", i);
            break;
        }
        t->data = malloc((size_t)numel * 4 + 1);
        if (!t->data || !t->name) {
            rc = vd_fail(err, VD_ENOMEM, "out of memory");
            break;
        }
        memcpy(t->data, blob + off, (size_t)numel * 4);
        off += (size_t)numel * 4;
    }
    if (!rc && off != len)
        rc = vd_fail(err, VD_EFORMAT, "slice reply: %zu bytes left over", len - off);
    json_decref(hdr);
    return rc;
}

int vd_slice_call(vd_transport *t, const char *node, const char *model, int cut, const void *blob,
                  size_t len, int timeout_ms, vd_slice_reply *out, vd_error *err)
{
    memset(out, 0, sizeof *out);
    json_t *hdr = cut == VD_SLICE_CLOUD_ONLY ? json_pack("{s:s}", "kind", "jpeg")
                                             : json_pack("{s:s,s:i}", "kind", "tensor", "cut", cut);
    vd_buf req = {0}, resp = {0};
    int rc = hdr ? vd_msg_pack(hdr, blob, len, &req, err) : vd_fail(err, VD_ENOMEM, "oom");
    json_decref(hdr);
    char svc[VD_WIRE_NAME_MAX + 16];
    service_name(model, svc, sizeof svc);
    if (!rc) rc = vd_transport_call(t, node, svc, &req, &resp, timeout_ms, err);
    vd_buf_free(&req);
    if (!rc) rc = parse_reply(&resp, out, err);
    vd_buf_free(&resp);
    if (rc) vd_slice_reply_free(out);
    return rc;
}
