/* image:PATH inputs for vdag nn run, and frames (a remote part B's JPEG): squash-resize to
 * the model input, scale. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vdag/media.h"
#include "vdag/nninput.h"

int vd_nn_image_input(const vd_tensor *in, const char *model, const char *path, void **out,
                      size_t *bytes, vd_error *err)
{
    *out = NULL;
    vd_frame *img;
    int rc = vd_image_load(path, &img, err);
    if (rc) return rc;
    rc = vd_nn_frame_input(in, model, img, out, bytes, err);
    vd_frame_free(img);
    return rc;
}

int vd_nn_frame_input(const vd_tensor *in, const char *model, const vd_frame *img, void **out,
                      size_t *bytes, vd_error *err)
{
    *out = NULL;
    if (in->ndim != 4) return vd_fail(err, VD_EUNSUPP, "image input needs a 4-D model input");
    int nchw = in->shape[1] == 3 && in->shape[3] != 3;
    int h = (int)(nchw ? in->shape[2] : in->shape[1]),
        w = (int)(nchw ? in->shape[3] : in->shape[2]);
    int c = (int)(nchw ? in->shape[1] : in->shape[3]);
    if (c != 3)
        return vd_fail(err, VD_EUNSUPP, "image input needs 3 channels, the model has %d", c);
    vd_frame *sc;
    int rc = vd_frame_scale(img, w, h, &sc, err);
    if (rc) return rc;
    int blaze = model && strstr(model, "blazeface");
    int pixels = model && strstr(model, "centernet"); /* centernet takes 0..255 */
    size_t n = (size_t)w * (size_t)h * 3;
    void *buf = malloc(n * 4);
    if (!buf) {
        vd_frame_free(sc);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++) {
                uint8_t v = sc->data[(size_t)y * (size_t)sc->stride + (size_t)x * 3 + (size_t)k];
                size_t i = nchw ? ((size_t)k * (size_t)h + (size_t)y) * (size_t)w + (size_t)x
                                : ((size_t)y * (size_t)w + (size_t)x) * 3 + (size_t)k;
                if (in->dtype == VD_I32)
                    ((int32_t *)buf)[i] = v;
                else
                    ((float *)buf)[i] = pixels  ? (float)v
                                        : blaze ? (float)v / 127.5f - 1.0f
                                                : (float)v / 255.0f;
            }
    vd_frame_free(sc);
    *out = buf;
    *bytes = n * 4;
    return 0;
}
