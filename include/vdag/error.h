/*
 * vdag error convention.
 *
 * Every fallible function returns 0 on success or a negative VD_E* code. Where the
 * caller needs a message for a user, the function also takes a `vd_error *` (may be
 * NULL) and fills it with what was wrong, where (file, node, field, line) and what
 * to do. vd_error is a plain value: no allocation, no ownership, not thread-shared.
 *
 * Codes, never message text, drive decisions. A call to another node (vd_transport_call)
 * tells two failures apart:
 *  - the transport failed (nobody serves it, timed out, not connected, too large): the call
 *    returns that code (VD_ENOTFOUND, VD_ETIMEDOUT, VD_ECONN, VD_ETOOBIG, …), err->code is
 *    the same and err->remote is 0;
 *  - the remote handler failed: the call returns VD_EREMOTE, err->code is VD_EREMOTE and
 *    err->remote is the code the handler returned (VD_ENOTFOUND: "no job 'x'" there), its
 *    message in err->msg. A handler that itself got VD_EREMOTE from a further node returns
 *    that, so err->remote is then VD_EREMOTE: the failure is second-hand.
 * So `rc == VD_EREMOTE && err.remote == VD_ENOTFOUND` means "the node said: not found",
 * and `rc == VD_ENOTFOUND` means "no node serves that call".
 */
#ifndef VDAG_ERROR_H
#define VDAG_ERROR_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    VD_OK = 0,
    VD_EINVAL = -1,         /* bad argument or bad input data */
    VD_ENOMEM = -2,         /* allocation failed */
    VD_EIO = -3,            /* read/write/open failed */
    VD_EFORMAT = -4,        /* malformed file (JSON, model, media) */
    VD_EUNSUPP = -5,        /* valid but unsupported (op, codec, dtype) */
    VD_ENOTFOUND = -6,      /* named thing does not exist */
    VD_ESHAPE = -7,         /* tensor shape mismatch */
    VD_EBACKEND = -8,       /* XNNPACK / FFmpeg / library error */
    VD_ETIMEDOUT = -9,      /* deadline passed */
    VD_EEOF = -10,          /* end of stream */
    VD_EBUSY = -11,         /* resource busy / queue full */
    VD_ESTATE = -12,        /* call not valid in current state */
    VD_EAUTH = -13,         /* authentication failed */
    VD_ETOOBIG = -14,       /* size limit exceeded */
    VD_ECONN = -15,         /* connection failed */
    VD_EREMOTE = -16,       /* a remote node or service reported an error (see remote below) */
    VD_EALREADY = -17,      /* already done: the operation ran to its end before */
    VD_ELAST = VD_EALREADY, /* the lowest code: a new one goes below and moves this */
};

typedef struct vd_error {
    int code;      /* the VD_E* code, 0 if none */
    int remote;    /* code == VD_EREMOTE: the remote handler's VD_E* code (< 0); else 0 */
    char msg[512]; /* human-readable: what, where, what to do */
} vd_error;

/* The name of an error code as declared above ("VD_EFORMAT", "VD_OK" for 0); never NULL:
 * anything else gives "VD_E? (not a vdag error code)". Static strings. */
const char *vd_strerror(int code);

/* Record an error in `err` (if non-NULL; remote becomes 0) and return `code`, for
 * `return vd_fail(...)`. */
int vd_fail(vd_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vd_vfail(vd_error *err, int code, const char *fmt, va_list ap);
/* A remote handler failed with `remote` (a VD_E* code < 0; anything else is recorded as
 * VD_EREMOTE, an unknown remote failure): err gets VD_EREMOTE and remote; returns
 * VD_EREMOTE. For transports. */
int vd_fail_remote(vd_error *err, int remote, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clear an error value. */
void vd_error_clear(vd_error *err);

#ifdef __cplusplus
}
#endif
#endif
