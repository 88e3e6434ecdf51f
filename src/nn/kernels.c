/*
 * Reference kernels on canonical (row-major) data: used to fold constants at load time
 * and, at run time, for the small ops XNNPACK lacks (int arithmetic, post-processing).
 * The hot path (convolutions, large element-wise ops) never comes here.
 */
#include <math.h>
#include <string.h>

#include "nn/nn_internal.h"

int vd__broadcast_shape(const int64_t *a, int na, const int64_t *b, int nb, int64_t *out, int *nout)
{
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int64_t x = i - (n - na) >= 0 ? a[i - (n - na)] : 1;
        int64_t y = i - (n - nb) >= 0 ? b[i - (n - nb)] : 1;
        if (x != y && x != 1 && y != 1) return -1;
        out[i] = x == 1 ? y : x;
    }
    *nout = n;
    return 0;
}

static float fop(int op, float x, float y)
{
    switch (op) {
    case VD__B_ADD:
        return x + y;
    case VD__B_SUB:
        return x - y;
    case VD__B_MUL:
        return x * y;
    case VD__B_DIV:
        return x / y;
    case VD__B_SQDIFF:
        return (x - y) * (x - y);
    case VD__B_MIN:
        return x < y ? x : y;
    case VD__B_MAX:
        return x > y ? x : y;
    case VD__B_FLOORDIV:
        return floorf(x / y);
    case VD__B_FLOORMOD: {
        float r = fmodf(x, y);
        return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
    }
    case VD__B_EQUAL:
        return x == y;
    case VD__B_LESS:
        return x < y;
    case VD__B_GREATER:
        return x > y;
    }
    return 0;
}

static int32_t iop(int op, int32_t x, int32_t y)
{
    switch (op) {
    case VD__B_ADD:
        return (int32_t)((uint32_t)x + (uint32_t)y);
    case VD__B_SUB:
        return (int32_t)((uint32_t)x - (uint32_t)y);
    case VD__B_MUL:
        return (int32_t)((uint32_t)x * (uint32_t)y);
    case VD__B_DIV:
        return y ? x / y : 0;
    case VD__B_SQDIFF:
        return (x - y) * (x - y);
    case VD__B_MIN:
        return x < y ? x : y;
    case VD__B_MAX:
        return x > y ? x : y;
    case VD__B_FLOORDIV: {
        if (!y) return 0;
        int32_t q = x / y;
        return (q * y != x && ((x < 0) != (y < 0))) ? q - 1 : q;
    }
    case VD__B_FLOORMOD: {
        if (!y) return 0;
        int32_t r = x % y;
        return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
    }
    case VD__B_EQUAL:
        return x == y;
    case VD__B_LESS:
        return x < y;
    case VD__B_GREATER:
        return x > y;
    }
    return 0;
}

/* out[os] = a[as] op b[bs] with numpy broadcasting. `dtype` is the inputs' type; the
 * comparison ops write int32 0/1. */
void vd__binary_ref(int op, int dtype, const void *a, const int64_t *as, int an, const void *b,
                    const int64_t *bs, int bn, void *out, const int64_t *os, int on)
{
    int64_t astr[VD__MAXD], bstr[VD__MAXD], idx[VD__MAXD] = {0};
    int64_t sa = 1, sb = 1;
    for (int i = on - 1; i >= 0; i--) {
        int ia = i - (on - an), ib = i - (on - bn);
        int64_t da = ia >= 0 ? as[ia] : 1, db = ib >= 0 ? bs[ib] : 1;
        astr[i] = da == 1 ? 0 : sa;
        bstr[i] = db == 1 ? 0 : sb;
        sa *= da;
        sb *= db;
    }
    int64_t n = vd__numel(os, on);
    int cmp = op >= VD__B_EQUAL;
    int64_t na = vd__numel(as, an), nb = vd__numel(bs, bn);
    if ((na == n || na == 1) && (nb == n || nb == 1)) {
        /* no real broadcasting (same size or scalar): a flat loop, no index arithmetic */
        int64_t sa1 = na == 1 ? 0 : 1, sb1 = nb == 1 ? 0 : 1;
        if (dtype == VD__F32 && cmp) {
            for (int64_t k = 0; k < n; k++)
                ((int32_t *)out)[k] =
                    (int32_t)fop(op, ((const float *)a)[k * sa1], ((const float *)b)[k * sb1]);
        } else if (dtype == VD__F32) {
            for (int64_t k = 0; k < n; k++)
                ((float *)out)[k] =
                    fop(op, ((const float *)a)[k * sa1], ((const float *)b)[k * sb1]);
        } else {
            for (int64_t k = 0; k < n; k++)
                ((int32_t *)out)[k] =
                    iop(op, ((const int32_t *)a)[k * sa1], ((const int32_t *)b)[k * sb1]);
        }
        return;
    }
    for (int64_t k = 0; k < n; k++) {
        int64_t ia = 0, ib = 0;
        for (int i = 0; i < on; i++) {
            ia += idx[i] * astr[i];
            ib += idx[i] * bstr[i];
        }
        if (dtype == VD__F32) {
            float r = fop(op, ((const float *)a)[ia], ((const float *)b)[ib]);
            if (cmp)
                ((int32_t *)out)[k] = (int32_t)r;
            else
                ((float *)out)[k] = r;
        } else {
            ((int32_t *)out)[k] = iop(op, ((const int32_t *)a)[ia], ((const int32_t *)b)[ib]);
        }
        for (int i = on - 1; i >= 0; i--) {
            if (++idx[i] < os[i]) break;
            idx[i] = 0;
        }
    }
}

void vd__unary_ref(int op, int dtype, const void *in, void *out, int64_t n, float alpha)
{
    if (dtype != VD__F32) {
        const int32_t *x = in;
        int32_t *y = out;
        for (int64_t i = 0; i < n; i++) {
            switch (op) {
            case VD__U_NEG:
                y[i] = -x[i];
                break;
            case VD__U_ABS:
                y[i] = x[i] < 0 ? -x[i] : x[i];
                break;
            case VD__U_SQUARE:
                y[i] = x[i] * x[i];
                break;
            case VD__U_RELU:
                y[i] = x[i] > 0 ? x[i] : 0;
                break;
            default:
                y[i] = x[i];
            }
        }
        return;
    }
    const float *x = in;
    float *y = out;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        switch (op) {
        case VD__U_RELU:
            v = v > 0 ? v : 0;
            break;
        case VD__U_RELU6:
            v = v < 0 ? 0 : (v > 6 ? 6 : v);
            break;
        case VD__U_SIGMOID:
            v = 1.0f / (1.0f + expf(-v));
            break;
        case VD__U_LEAKY:
            v = v < 0 ? v * alpha : v;
            break;
        case VD__U_SQRT:
            v = sqrtf(v);
            break;
        case VD__U_NEG:
            v = -v;
            break;
        case VD__U_TANH:
            v = tanhf(v);
            break;
        case VD__U_EXP:
            v = expf(v);
            break;
        case VD__U_RSQRT:
            v = 1.0f / sqrtf(v);
            break;
        case VD__U_SQUARE:
            v = v * v;
            break;
        case VD__U_ABS:
            v = fabsf(v);
            break;
        }
        y[i] = v;
    }
}

void vd__cast(const void *in, int from, void *out, int to, int64_t n)
{
    if (from == VD__F32 && to == VD__F32) {
        memmove(out, in, (size_t)n * 4);
    } else if (from == VD__F32) {
        for (int64_t i = 0; i < n; i++)
            ((int32_t *)out)[i] =
                to == VD__BOOL ? ((const float *)in)[i] != 0 : (int32_t)((const float *)in)[i];
    } else if (to == VD__F32) {
        for (int64_t i = 0; i < n; i++) ((float *)out)[i] = (float)((const int32_t *)in)[i];
    } else {
        for (int64_t i = 0; i < n; i++)
            ((int32_t *)out)[i] =
                to == VD__BOOL ? ((const int32_t *)in)[i] != 0 : ((const int32_t *)in)[i];
    }
}
