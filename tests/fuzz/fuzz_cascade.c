/*
 * Fuzz: what a cascade parses (vdag/cascade.h). The first byte picks:
 *   0: a cascade spec ("cascade:nanodet@0.3..0.45>centernet") for object and face detection:
 *      parsed or refused with a message; a parsed one has 2..8 distinct plain models and
 *      bands within 0..1;
 *   1: a request as a unit's compute worker receives it (blazeface-front, in-process), which
 *      may forward to the next unit (a stand-in that answers with a fixed reply);
 *   2: a reply as a caller receives it (the stand-in answers with the input): refused unless
 *      it is a well-formed answer to this very request.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vdag/cascade.h"
#include "vdag/media.h"
#include "vdag/net.h"

static vd_transport *tr;
static vd_cascade_worker *front;
static vd_frame *frame;
static const uint8_t *reply_data; /* what the stand-in for blazeface-back answers */
static size_t reply_len;

static int stand_in(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    (void)arg, (void)req;
    if (!reply_data) return vd_fail(err, VD_EINVAL, "no reply");
    resp->data = malloc(reply_len + 1);
    if (!resp->data) return vd_fail(err, VD_ENOMEM, "out of memory");
    memcpy(resp->data, reply_data, reply_len);
    resp->data[reply_len] = 0;
    resp->len = reply_len;
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    vd_error err = {0};
    vd_svc_opts o = {.threads = 1};
    if (vd_transport_inproc_new(&tr, &err) ||
        vd_cascade_worker_start(tr, "f1", "face_detection", 1, &o, &front, &err) ||
        tr->ops->serve(tr, "b1", "svc.unit.face_detection.blazeface-back", stand_in, NULL, &err))
        abort();
    frame = vd_frame_new(64, 48);
    if (!frame) abort();
    frame->src_width = 64, frame->src_height = 48;
    return 0;
}

static void spec(const uint8_t *data, size_t size)
{
    char s[512];
    if (size >= sizeof s) size = sizeof s - 1;
    memcpy(s, data, size);
    s[size] = 0;
    const char *svcs[] = {"object_detection", "face_detection"};
    for (int k = 0; k < 2; k++) {
        const vd_service *svc = vd_service_find(svcs[k]);
        vd_cascade_spec c;
        vd_error err = {0};
        if (vd_cascade_parse(svc, s, &c, &err)) {
            if (!err.msg[0]) abort();
            continue;
        }
        if (c.n < 2 || c.n > VD_CASCADE_MAX_UNITS) abort();
        for (int i = 0; i < c.n; i++) {
            if (c.model_id[i] < 0 || c.model_id[i] >= svc->n_models ||
                vd_cascade_is(svc->model_names[c.model_id[i]]))
                abort();
            if (!(c.exit[i].lo >= 0 && c.exit[i].lo <= c.exit[i].hi && c.exit[i].hi <= 1)) abort();
            for (int j = 0; j < i; j++)
                if (c.model_id[j] == c.model_id[i]) abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int mode = data[0] % 3;
    data++, size--;
    vd_error err = {0};
    if (mode == 0) {
        spec(data, size);
    } else if (mode == 1) {
        reply_data = NULL; /* a forwarded request fails: the worker says so */
        vd_buf req = {(unsigned char *)data, size}, resp = {0};
        int rc = vd_transport_call(tr, "f1", "svc.unit.face_detection.blazeface-front", &req, &resp,
                                   1000, &err);
        if (rc && !err.msg[0]) abort();
        vd_buf_free(&resp);
    } else {
        reply_data = data, reply_len = size;
        vd_cascade_spec c;
        if (vd_cascade_parse(vd_service_find("face_detection"), "blazeface-front>blazeface-back",
                             &c, &err))
            abort();
        vd_cascade_reply r;
        int rc = vd_cascade_call(tr, "b1", &c, 1, frame, 50, 1000, 0, &r, NULL, &err);
        if (rc == 0) abort(); /* it cannot know the request's id */
        if (!err.msg[0]) abort();
        reply_data = NULL;
    }
    return 0;
}
