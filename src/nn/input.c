#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vdag/nninput.h"

static int is_blazeface(const char *model)
{
    return model && strstr(model, "blazeface") != NULL;
}

int vd_nn_make_input(const vd_tensor *in, const char *model, const char *spec, void **out,
                     size_t *bytes, vd_error *err)
{
    int64_t n = vd_tensor_numel(in);
    *out = NULL;
    *bytes = (size_t)n * 4;
    float lo = is_blazeface(model) ? -1.0f : 0.0f, span = is_blazeface(model) ? 2.0f : 1.0f;
    void *buf = malloc(*bytes ? *bytes : 4);
    if (!buf) return vd_fail(err, VD_ENOMEM, "out of memory");
    if (!strncmp(spec, "lcg:", 4)) {
        char *end;
        unsigned long seed = strtoul(spec + 4, &end, 10);
        if (*end || end == spec + 4) {
            free(buf);
            return vd_fail(err, VD_EINVAL, "--input %s: the seed must be a non-negative integer",
                           spec);
        }
        uint32_t s = (uint32_t)seed;
        for (int64_t i = 0; i < n; i++) {
            s = s * 1664525u + 1013904223u;
            float u = (float)(s >> 8) / 16777216.0f;
            if (in->dtype == VD_I32)
                ((int32_t *)buf)[i] = (int32_t)(u * 256.0f);
            else
                ((float *)buf)[i] = lo + span * u;
        }
    } else if (!strncmp(spec, "const:", 6)) {
        char *end;
        double v = strtod(spec + 6, &end);
        if (*end || end == spec + 6) {
            free(buf);
            return vd_fail(err, VD_EINVAL, "--input %s: expected a number after 'const:'", spec);
        }
        for (int64_t i = 0; i < n; i++) {
            if (in->dtype == VD_I32)
                ((int32_t *)buf)[i] = (int32_t)v;
            else
                ((float *)buf)[i] = (float)v;
        }
    } else if (!strncmp(spec, "image:", 6)) {
        free(buf);
        return vd_nn_image_input(in, model, spec + 6, out, bytes, err);
    } else {
        free(buf);
        return vd_fail(err, VD_EINVAL, "--input %s: expected lcg:SEED, const:V or image:PATH",
                       spec);
    }
    *out = buf;
    return 0;
}
