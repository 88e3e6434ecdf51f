/*
 * An asynchronous transport call with a deadline (the edge's remote stages): the call runs on
 * the rcall's own thread, so a caller can stop waiting for it (a hung or unreachable node)
 * and go on, while the call ends by itself within its transport timeout; its late result is
 * kept for rcall_poll. One call at a time per rcall.
 * Thread-safety: one caller thread (the job's); the worker thread is internal.
 */
#ifndef VDAG_NODE_RCALL_H
#define VDAG_NODE_RCALL_H

#include "vdag/net.h"

typedef struct vd__rcall vd__rcall;

int vd__rcall_new(vd_transport *t, vd__rcall **out, vd_error *err);
/* Start `service` on `node` with req (taken, freed by the rcall) and the transport timeout.
 * VD_EBUSY (req freed) while the previous call still runs. */
int vd__rcall_start(vd__rcall *c, const char *node, const char *service, vd_buf *req,
                    int timeout_ms, vd_error *err);
/* Wait at most wait_ms for the call started last: its result (0 and *resp, owned by the
 * caller; or its error), or VD_EBUSY when it still runs (it goes on; see poll). *ms: how long
 * the call took (may be NULL). */
int vd__rcall_wait(vd__rcall *c, int wait_ms, vd_buf *resp, double *ms, vd_error *err);
/* Without waiting: -1 while a call runs, 1 when one ended that nobody waited for (*rc its
 * result, *ms its time; the reply is dropped), else 0. */
int vd__rcall_poll(vd__rcall *c, int *rc, double *ms);
/* Ends the thread once the running call (if any) returns: at most its transport timeout.
 * NULL is a no-op. */
void vd__rcall_free(vd__rcall *c);

#endif
