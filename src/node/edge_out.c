/*
 * The edge's results on their way to the cloud: each job's results (and its DONE) are
 * numbered (the job's run, an id unique to this job on this edge, and seq, 1, 2, … in the
 * order they were made; the DONE has no seq), queued in an outbox and stored in the results stream
 * (vdag.result.<node>, VD_JS_RESULTS) by one publisher thread, in order, a batch at a time,
 * each with the id "<job>.<run>.<seq>" so that a message sent again after a lost answer is
 * stored once. What the stream did not take (the broker is down or restarting, no cloud has
 * made the stream yet) stays queued and is sent again; so a broker or cloud restart loses
 * none. The outbox holds at most OUT_MAX results (OUT_BYTES): beyond, the oldest are dropped
 * and counted as lost. Per job: seq (made), published (stored), lost; node.get_runtime
 * reports them (vd__edge_out_counts).
 *
 * Locking: e->out_mu guards the outbox and the counters; it is taken after e->mu, never
 * before. No transport call is made while holding it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edge_internal.h"
#include "vdag/base.h"

#define OUT_MAX      20000
#define OUT_BYTES    (256u << 20)
#define OUT_BATCH    32
#define OUT_WAIT_MS  2000 /* for the stream's answers */
#define OUT_RETRY_MS 250  /* after a batch the stream did not take */
#define OUT_DRAIN_MS 2000 /* at shutdown, for what is still queued */

struct out_item {
    struct out_item *next;
    job *j;
    char id[160];
    vd_buf msg;
    int busy; /* being sent */
    int done; /* the job's DONE: not a result (not counted) */
};

static void item_free(out_item *it)
{
    vd_buf_free(&it->msg);
    free(it);
}

/* Drop the oldest result not being sent (e->out_mu held). */
static void drop_oldest(vd_edge *e)
{
    for (out_item **pp = &e->out_head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
        out_item *it = *pp;
        if (it->busy) continue;
        *pp = it->next;
        if (e->out_tail == it) e->out_tail = prev;
        e->out_n--;
        e->out_bytes -= it->msg.len;
        it->j->out_lost += !it->done;
        item_free(it);
        return;
    }
}

void vd__edge_out_put(vd_edge *e, job *j, json_t *hdr, int done)
{
    out_item *it = calloc(1, sizeof *it);
    pthread_mutex_lock(&e->out_mu);
    int64_t seq = done ? 0 : ++j->out_seq;
    pthread_mutex_unlock(&e->out_mu);
    json_object_set_new(hdr, "run", json_integer((json_int_t)j->run));
    if (!done) json_object_set_new(hdr, "seq", json_integer((json_int_t)seq));
    if (!it || vd_msg_pack(hdr, NULL, 0, &it->msg, NULL)) {
        free(it);
        pthread_mutex_lock(&e->out_mu);
        j->out_lost += !done;
        pthread_mutex_unlock(&e->out_mu);
        return;
    }
    it->j = j;
    it->done = done;
    if (done)
        snprintf(it->id, sizeof it->id, "%s.%llu.done", j->uid, (unsigned long long)j->run);
    else
        snprintf(it->id, sizeof it->id, "%s.%llu.%lld", j->uid, (unsigned long long)j->run,
                 (long long)seq);
    pthread_mutex_lock(&e->out_mu);
    while (e->out_n > 0 && (e->out_n >= OUT_MAX || e->out_bytes + it->msg.len > OUT_BYTES)) {
        int n = e->out_n;
        drop_oldest(e);
        if (e->out_n == n) break; /* all being sent */
    }
    if (e->out_tail)
        e->out_tail->next = it;
    else
        e->out_head = it;
    e->out_tail = it;
    e->out_n++;
    e->out_bytes += it->msg.len;
    pthread_cond_signal(&e->out_cv);
    pthread_mutex_unlock(&e->out_mu);
}

void vd__edge_out_counts(vd_edge *e, job *j, int64_t *seq, int64_t *published, int64_t *lost,
                         int *waiting)
{
    pthread_mutex_lock(&e->out_mu);
    *seq = j->out_seq, *published = j->out_published, *lost = j->out_lost;
    int w = 0;
    for (out_item *it = e->out_head; it; it = it->next) w += it->j == j && !it->done;
    *waiting = w;
    pthread_mutex_unlock(&e->out_mu);
}

/* The publisher thread: the oldest results, a batch at a time, until stopped and drained
 * (or the drain's deadline passed: what is left is lost, and said so). */
void *vd__edge_out_main(void *arg)
{
    vd_edge *e = arg;
    char subject[128];
    snprintf(subject, sizeof subject, "%s.%s", VD_SUBJ_RESULT, e->name);
    double failing_since = 0, drain_end = 0;
    char last_err[512] = "";
    pthread_mutex_lock(&e->out_mu);
    for (;;) {
        while (!e->out_head && !e->out_stop) pthread_cond_wait(&e->out_cv, &e->out_mu);
        if (e->out_stop && drain_end == 0) drain_end = vd_now_ms() + OUT_DRAIN_MS;
        if (!e->out_head || (e->out_stop && vd_now_ms() > drain_end)) break;
        out_item *batch[OUT_BATCH];
        vd_spub pub[OUT_BATCH];
        int n = 0;
        for (out_item *it = e->out_head; it && n < OUT_BATCH; it = it->next) {
            it->busy = 1;
            batch[n] = it;
            pub[n++] = (vd_spub){.subject = subject, .id = it->id, .msg = it->msg};
        }
        pthread_mutex_unlock(&e->out_mu);
        vd_error err = {0};
        int rc = e->o.tr->ops->stream_publish(e->o.tr, pub, n, OUT_WAIT_MS, &err);
        pthread_mutex_lock(&e->out_mu);
        int stored = 0;
        for (int i = 0; i < n; i++) {
            out_item *it = batch[i];
            it->busy = 0;
            if (pub[i].rc) continue;
            stored++;
            it->j->out_published += !it->done;
            for (out_item **pp = &e->out_head, *prev = NULL; *pp;
                 prev = *pp, pp = &(*pp)->next) /* most often the head */
                if (*pp == it) {
                    *pp = it->next;
                    if (e->out_tail == it) e->out_tail = prev;
                    break;
                }
            e->out_n--;
            e->out_bytes -= it->msg.len;
            item_free(it);
        }
        int waiting = e->out_n;
        pthread_mutex_unlock(&e->out_mu);
        if (stored < n && failing_since == 0) {
            failing_since = vd_now_ms();
            snprintf(last_err, sizeof last_err, "%s", rc < 0 ? err.msg : "some were not stored");
            fprintf(stderr, "vdag %s: results are kept to be sent again (%d waiting): %s\n",
                    e->name, waiting, last_err);
        } else if (stored == n && failing_since > 0) {
            fprintf(stderr, "vdag %s: results flow to the stream again after %.1f s\n", e->name,
                    (vd_now_ms() - failing_since) / 1e3);
            failing_since = 0;
        }
        if (stored < n) { /* wait before sending again (or for the stop) */
            pthread_mutex_lock(&e->out_mu);
            if (!e->out_stop) {
                struct timespec ts = vd_deadline(CLOCK_REALTIME, OUT_RETRY_MS);
                pthread_cond_timedwait(&e->out_cv, &e->out_mu, &ts);
            }
            pthread_mutex_unlock(&e->out_mu);
        }
        pthread_mutex_lock(&e->out_mu);
    }
    int left = 0;
    for (out_item *it = e->out_head, *next; it; it = next) {
        next = it->next;
        it->j->out_lost += !it->done;
        left += !it->done;
        item_free(it);
    }
    e->out_head = e->out_tail = NULL;
    e->out_n = 0;
    e->out_bytes = 0;
    pthread_mutex_unlock(&e->out_mu);
    if (left)
        fprintf(stderr,
                "vdag %s: %d result(s) could not be stored before shutting down: lost (%s)\n",
                e->name, left, last_err[0] ? last_err : "the stream did not answer");
    return NULL;
}

void vd__edge_out_stop(vd_edge *e)
{
    pthread_mutex_lock(&e->out_mu);
    e->out_stop = 1;
    pthread_cond_broadcast(&e->out_cv);
    pthread_mutex_unlock(&e->out_mu);
    if (e->out_started) pthread_join(e->out_thr, NULL);
    e->out_started = 0;
}
