/* Remote part B over the transport (in-process here; NATS in bench/slice.sh): outputs of a
 * part B on the host equal the whole model's run at the edge, bit for bit (f32), from a
 * JPEG too (against the same JPEG decoded locally); refusals reach the caller as
 * VD_EREMOTE with part B's own code. */
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "vdag/media.h"
#include "vdag/nninput.h"
#include "vdag/slice_net.h"

static int same_outputs(vd_model *m, const vd_slice_reply *r)
{
    if (r->n != vd_model_n_outputs(m)) return 0;
    for (int i = 0; i < r->n; i++) {
        const vd_tensor *t = vd_model_output(m, i);
        if (strcmp(t->name, r->out[i].name) || t->ndim != r->out[i].ndim ||
            memcmp(t->data, r->out[i].data, (size_t)vd_tensor_numel(t) * 4))
            return 0;
    }
    return 1;
}

int main(void)
{
    vd_error err = {0};
    vd_transport *tr = NULL;
    vd_model *cloud = NULL, *edge = NULL, *front = NULL;
    vd_slicer *cs = NULL, *es = NULL, *fs = NULL;
    vd_slice_host *h = NULL;
    vd_model_opts o = {.threads = 1};
    int rc = vd_transport_inproc_new(&tr, &err);
    if (!rc) rc = vd_model_load(vt_model("blazeface-back"), &o, &cloud, &err);
    if (!rc) rc = vd_model_load(vt_model("blazeface-back"), &o, &edge, &err);
    if (!rc) rc = vd_model_load(vt_model("blazeface-front"), &o, &front, &err);
    if (!rc) rc = vd_slicer_open(cloud, &cs, &err);
    if (!rc) rc = vd_slicer_open(edge, &es, &err);
    if (!rc) rc = vd_slicer_open(front, &fs, &err);
    if (!rc) rc = vd_slice_host_start(tr, "cloud", cs, &h, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (rc) return vt_finish();
    void *in;
    size_t bytes;
    char spec[1100];
    snprintf(spec, sizeof spec, "image:%s", vt_media("messi5.jpg"));
    CHECK(vd_nn_make_input(vd_model_input(edge, 0), "blazeface-back", spec, &in, &bytes, &err) ==
          0);
    int nc = vd_slicer_n_cuts(es);
    for (int j = 0; j < 4; j++) {
        int cut = j * (nc - 1) / 3;
        vd_tensor mid;
        uint8_t *msg;
        size_t len;
        CHECK(vd_slicer_run_a(es, cut, in, bytes, &mid, &err) == 0);
        CHECK(vd_wire_encode(es, cut, &mid, VD_WIRE_F32, &msg, &len, &err) == 0);
        vd_slice_reply r;
        rc = vd_slice_call(tr, "cloud", "blazeface-back", cut, msg, len, 5000, &r, &err);
        CHECKF(rc == 0, "cut %d: %s", cut, err.msg);
        CHECK(vd_model_run(edge, in, bytes, &err) == 0);
        CHECKF(rc == 0 && same_outputs(edge, &r), "cut %d: remote part B differs", cut);
        CHECK(r.host_ms > 0);
        vd_slice_reply_free(&r);
        /* the same message for another cut: refused there */
        rc = vd_slice_call(tr, NULL, "blazeface-back", cut == 0 ? 1 : 0, msg, len, 5000, &r, &err);
        CHECKF(rc == VD_EREMOTE && err.remote == VD_EINVAL, "rc %d remote %d", rc, err.remote);
        /* truncated */
        rc = vd_slice_call(tr, NULL, "blazeface-back", cut, msg, len - 3, 5000, &r, &err);
        CHECKF(rc == VD_EREMOTE && err.remote == VD_EFORMAT, "rc %d remote %d", rc, err.remote);
        free(msg);
    }
    /* another model's tensor */
    {
        void *fin;
        size_t fb;
        vd_tensor mid;
        uint8_t *msg;
        size_t len;
        vd_slice_reply r;
        vd_nn_make_input(vd_model_input(front, 0), "blazeface-front", "lcg:1", &fin, &fb, &err);
        CHECK(vd_slicer_run_a(fs, 0, fin, fb, &mid, &err) == 0);
        CHECK(vd_wire_encode(fs, 0, &mid, VD_WIRE_F16, &msg, &len, &err) == 0);
        rc = vd_slice_call(tr, "cloud", "blazeface-back", 0, msg, len, 5000, &r, &err);
        CHECKF(rc == VD_EREMOTE && err.remote == VD_EINVAL && strstr(err.msg, "blazeface-front"),
               "rc %d remote %d: %s", rc, err.remote, err.msg);
        /* nobody serves blazeface-front */
        rc = vd_slice_call(tr, NULL, "blazeface-front", 0, msg, len, 5000, &r, &err);
        CHECKF(rc == VD_ENOTFOUND, "rc %d", rc);
        free(msg);
        free(fin);
    }
    /* cloud-only: a JPEG of the frame at the input size; the host's outputs are those of the
     * same JPEG decoded and run here */
    vd_frame *img = NULL, *sc = NULL, *dec = NULL;
    unsigned char *jpg = NULL;
    size_t jlen = 0;
    CHECK(vd_image_load(vt_media("messi5.jpg"), &img, &err) == 0);
    CHECK(vd_frame_scale(img, 256, 256, &sc, &err) == 0);
    CHECK(vd_jpeg_encode(sc, 90, &jpg, &jlen, &err) == 0);
    vd_slice_reply r;
    rc = vd_slice_call(tr, "cloud", "blazeface-back", VD_SLICE_CLOUD_ONLY, jpg, jlen, 5000, &r,
                       &err);
    CHECKF(rc == 0, "%s", err.msg);
    void *jin;
    size_t jb;
    CHECK(vd_jpeg_decode(jpg, jlen, &dec, &err) == 0);
    CHECK(vd_nn_frame_input(vd_model_input(edge, 0), "blazeface-back", dec, &jin, &jb, &err) == 0);
    CHECK(vd_model_run(edge, jin, jb, &err) == 0);
    CHECK(rc == 0 && same_outputs(edge, &r));
    vd_slice_reply_free(&r);
    rc = vd_slice_call(tr, "cloud", "blazeface-back", VD_SLICE_CLOUD_ONLY, jpg, 10, 5000, &r, &err);
    CHECKF(rc == VD_EREMOTE, "rc %d", rc);
    free(jin);
    free(jpg);
    vd_frame_free(img);
    vd_frame_free(sc);
    vd_frame_free(dec);
    free(in);
    vd_transport_close(tr);
    vd_slice_host_free(h);
    vd_slicer_free(cs);
    vd_slicer_free(es);
    vd_slicer_free(fs);
    vd_model_free(cloud);
    vd_model_free(edge);
    vd_model_free(front);
    return vt_finish();
}
