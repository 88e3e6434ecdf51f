/*
 * An asynchronous transport call with a deadline (rcall.h). The worker thread sleeps on cv
 * until a request is posted, makes the (blocking) transport call, stores the result and wakes
 * the caller. Everything between them is under mu.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/rcall.h"
#include "vdag/base.h"

struct vd__rcall {
    vd_transport *t;
    pthread_t thr;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a request posted, a call ended, stop */
    int stop;
    int busy;    /* a call is posted or running */
    int has_req; /* posted, not yet taken by the worker */
    char node[64], service[96];
    int timeout_ms;
    vd_buf req;
    int has_res; /* a call ended and its result was not taken */
    int rc;
    vd_error err;
    vd_buf resp;
    double ms;
};

static void *worker(void *arg)
{
    vd__rcall *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->has_req && !c->stop) pthread_cond_wait(&c->cv, &c->mu);
        if (c->stop) break;
        vd_buf req = c->req;
        c->req = (vd_buf){0};
        c->has_req = 0;
        char node[64], service[96];
        memcpy(node, c->node, sizeof node);
        memcpy(service, c->service, sizeof service);
        int timeout = c->timeout_ms;
        pthread_mutex_unlock(&c->mu);
        vd_buf resp = {0};
        vd_error err = {0};
        double t0 = vd_now_ms();
        int rc = vd_transport_call(c->t, node, service, &req, &resp, timeout, &err);
        double ms = vd_now_ms() - t0;
        vd_buf_free(&req);
        pthread_mutex_lock(&c->mu);
        vd_buf_free(&c->resp);
        c->resp = resp;
        c->rc = rc;
        c->err = err;
        c->ms = ms;
        c->has_res = 1;
        c->busy = 0;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int vd__rcall_new(vd_transport *t, vd__rcall **out, vd_error *err)
{
    *out = NULL;
    vd__rcall *c = calloc(1, sizeof *c);
    if (!c) return vd_fail(err, VD_ENOMEM, "out of memory");
    c->t = t;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&c->thr, NULL, worker, c) != 0) {
        vd__rcall_free(c);
        return vd_fail(err, VD_ENOMEM, "cannot start a thread for remote calls");
    }
    c->started = 1;
    *out = c;
    return 0;
}

int vd__rcall_start(vd__rcall *c, const char *node, const char *service, vd_buf *req,
                    int timeout_ms, vd_error *err)
{
    pthread_mutex_lock(&c->mu);
    if (c->busy) {
        pthread_mutex_unlock(&c->mu);
        vd_buf_free(req);
        return vd_fail(err, VD_EBUSY, "node %s: a call to it still runs", node);
    }
    snprintf(c->node, sizeof c->node, "%s", node);
    snprintf(c->service, sizeof c->service, "%s", service);
    c->timeout_ms = timeout_ms;
    c->req = *req;
    *req = (vd_buf){0};
    c->has_req = c->busy = 1;
    c->has_res = 0;
    vd_buf_free(&c->resp);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

int vd__rcall_wait(vd__rcall *c, int wait_ms, vd_buf *resp, double *ms, vd_error *err)
{
    *resp = (vd_buf){0};
    struct timespec dl = vd_deadline(CLOCK_MONOTONIC, wait_ms);
    pthread_mutex_lock(&c->mu);
    while (c->busy && pthread_cond_timedwait(&c->cv, &c->mu, &dl) != ETIMEDOUT) {
    }
    int rc;
    if (c->busy) {
        rc = vd_fail(err, VD_EBUSY, "node %s: no answer to %s within %d ms", c->node, c->service,
                     wait_ms);
    } else if (c->has_res) {
        rc = c->rc;
        if (rc && err) *err = c->err;
        *resp = c->resp;
        c->resp = (vd_buf){0};
        if (ms) *ms = c->ms;
        c->has_res = 0;
    } else {
        rc = vd_fail(err, VD_ESTATE, "rcall: no call was started");
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int vd__rcall_poll(vd__rcall *c, int *rc, double *ms)
{
    pthread_mutex_lock(&c->mu);
    int st = c->busy ? -1 : c->has_res;
    if (st == 1) {
        *rc = c->rc;
        if (ms) *ms = c->ms;
        c->has_res = 0;
        vd_buf_free(&c->resp);
    }
    pthread_mutex_unlock(&c->mu);
    return st;
}

void vd__rcall_free(vd__rcall *c)
{
    if (!c) return;
    if (c->started) {
        pthread_mutex_lock(&c->mu);
        c->stop = 1;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thr, NULL);
    }
    vd_buf_free(&c->req);
    vd_buf_free(&c->resp);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
