#include "vdag/error.h"

#include <stdio.h>
#include <string.h>

const char *vd_strerror(int code)
{
    switch (code) {
    case VD_OK:
        return "ok";
    case VD_EINVAL:
        return "invalid argument";
    case VD_ENOMEM:
        return "out of memory";
    case VD_EIO:
        return "I/O error";
    case VD_EFORMAT:
        return "malformed input";
    case VD_EUNSUPP:
        return "unsupported";
    case VD_ENOTFOUND:
        return "not found";
    case VD_ESHAPE:
        return "shape mismatch";
    case VD_EBACKEND:
        return "backend error";
    case VD_ETIMEDOUT:
        return "timed out";
    case VD_EEOF:
        return "end of stream";
    case VD_EBUSY:
        return "busy";
    case VD_ESTATE:
        return "invalid state";
    case VD_EAUTH:
        return "not authorized";
    case VD_ETOOBIG:
        return "too large";
    case VD_ECONN:
        return "connection failed";
    case VD_EREMOTE:
        return "remote error";
    case VD_EALREADY:
        return "already done";
    default:
        return "unknown error";
    }
}

int vd_vfail(vd_error *err, int code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        err->remote = 0;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return code;
}

int vd_fail_remote(vd_error *err, int remote, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vd_vfail(err, VD_EREMOTE, fmt, ap);
    va_end(ap);
    if (err) err->remote = remote < 0 ? remote : VD_EREMOTE;
    return VD_EREMOTE;
}

int vd_fail(vd_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vd_vfail(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void vd_error_clear(vd_error *err)
{
    if (err) {
        err->code = 0;
        err->remote = 0;
        err->msg[0] = '\0';
    }
}
