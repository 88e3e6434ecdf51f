#include "vdag/error.h"

#include <stdio.h>
#include <string.h>

/* Indexed by -code: every code error.h declares. */
static const char *const names[] = {
    [-VD_OK] = "VD_OK",
    [-VD_EINVAL] = "VD_EINVAL",
    [-VD_ENOMEM] = "VD_ENOMEM",
    [-VD_EIO] = "VD_EIO",
    [-VD_EFORMAT] = "VD_EFORMAT",
    [-VD_EUNSUPP] = "VD_EUNSUPP",
    [-VD_ENOTFOUND] = "VD_ENOTFOUND",
    [-VD_ESHAPE] = "VD_ESHAPE",
    [-VD_EBACKEND] = "VD_EBACKEND",
    [-VD_ETIMEDOUT] = "VD_ETIMEDOUT",
    [-VD_EEOF] = "VD_EEOF",
    [-VD_EBUSY] = "VD_EBUSY",
    [-VD_ESTATE] = "VD_ESTATE",
    [-VD_EAUTH] = "VD_EAUTH",
    [-VD_ETOOBIG] = "VD_ETOOBIG",
    [-VD_ECONN] = "VD_ECONN",
    [-VD_EREMOTE] = "VD_EREMOTE",
    [-VD_EALREADY] = "VD_EALREADY",
};
_Static_assert(sizeof names / sizeof *names == 1 - VD_ELAST, "a name for every VD_E* code");

const char *vd_strerror(int code)
{
    if (code > 0 || code < VD_ELAST || !names[-code]) return "VD_E? (not a vdag error code)";
    return names[-code];
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
