/*
 * The cloud's state in the store (the key-value bucket VD_KV_STATE): one record per job,
 * "job.<uid>", holding the job as submitted, its state (UNSCHED, EXEC, DONE with its reason,
 * deleted ones too: they are not adopted back), its plan and plan_version, plan_changes,
 * and its results: the count, the last RING, the latest header, and which (run, seq) were
 * seen, so that a result the stream delivers again is not counted twice. A new leader reads
 * them all (vd__cloud_store_restore) and carries on where the last one stopped.
 *
 * Writing: a job's record is written when its state changed (gen) or, at most every
 * RES_FLUSH_MS, when results came (res_gen); the consumer forces a write before it acks
 * what it applied, so an acked result is always in the store. One writer at a time
 * (store_mu), each writing snapshots taken in order, so a record is never overwritten by an
 * older one; and compare-and-set on the record's revision, so a cloud that no longer leads
 * (a partition hid the new leader from it) cannot overwrite the new leader's records: its
 * write fails and it stops leading.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud_internal.h"
#include "vdag/base.h"

static const char *state_names[] = {"UNSCHED", "EXEC", "DONE"};

/* ---- results told apart ------------------------------------------------------------------- */

int vd__cloud_result_new(cjob *j, uint64_t run, int64_t seq)
{
    res_run *r = NULL;
    for (int i = 0; i < j->n_runs && !r; i++)
        if (j->runs[i].run == run) r = &j->runs[i];
    if (!r) { /* a new run (the edge restarted the job): the oldest run goes */
        if (j->n_runs == RES_RUNS) {
            memmove(&j->runs[0], &j->runs[1], sizeof j->runs[0] * (RES_RUNS - 1));
            j->n_runs--;
        }
        r = &j->runs[j->n_runs++];
        memset(r, 0, sizeof *r);
        r->run = run;
    }
    if (seq <= r->floor) return 0;
    int k = 0;
    while (k < r->n_above && r->above[k] < seq) k++;
    if (k < r->n_above && r->above[k] == seq) return 0;
    if (seq > r->max) r->max = seq;
    if (seq == r->floor + 1) {
        r->floor = seq;
        int drop = 0; /* the ones above that now follow on */
        while (drop < r->n_above && r->above[drop] == r->floor + 1) r->floor = r->above[drop++];
        memmove(r->above, r->above + drop, sizeof r->above[0] * (size_t)(r->n_above - drop));
        r->n_above -= drop;
        return 1;
    }
    if (r->n_above == RES_ABOVE) { /* too many gaps: the oldest gap is given up (missing) */
        r->floor = r->above[0];
        memmove(r->above, r->above + 1, sizeof r->above[0] * (RES_ABOVE - 1));
        r->n_above--;
        if (k > 0) k--;
        while (r->n_above && r->above[0] == r->floor + 1) {
            r->floor = r->above[0];
            memmove(r->above, r->above + 1, sizeof r->above[0] * (size_t)(r->n_above - 1));
            r->n_above--;
            if (k > 0) k--;
        }
        if (seq <= r->floor) return 1; /* it filled what was given up */
    }
    memmove(r->above + k + 1, r->above + k, sizeof r->above[0] * (size_t)(r->n_above - k));
    r->above[k] = seq;
    r->n_above++;
    return 1;
}

int64_t vd__cloud_results_missing(const cjob *j)
{
    int64_t m = 0;
    for (int i = 0; i < j->n_runs; i++) {
        const res_run *r = &j->runs[i];
        m += r->max - r->floor - r->n_above;
    }
    return m;
}

/* ---- records ---------------------------------------------------------------------------- */

/* A job's record (lock held). */
static json_t *record_of(const cjob *j)
{
    json_t *sub =
        vd__submit_msg(j->uid, &j->spec, j->has_plan ? &j->plan : NULL, j->plan_version, 0);
    json_t *ring = json_array(), *runs = json_array();
    for (int i = 0; i < j->ring_n; i++)
        json_array_append(ring, j->ring[(j->ring_head - j->ring_n + i + RING) % RING]);
    for (int i = 0; i < j->n_runs; i++) {
        const res_run *r = &j->runs[i];
        json_t *above = json_array();
        for (int k = 0; k < r->n_above; k++)
            json_array_append_new(above, json_integer(r->above[k]));
        json_array_append_new(runs, json_pack("[I,I,I,o]", (json_int_t)r->run, (json_int_t)r->floor,
                                              (json_int_t)r->max, above));
    }
    json_t *o = json_pack("{s:i,s:s,s:s,s:o,s:s,s:s,s:s,s:b,s:b,s:i,s:O,s:b,s:b,s:I,s:I,s:o,s:o,"
                          "s:i,s:i,s:f}",
                          "v", 1, "uid", j->uid, "node", j->node, "submit", sub, "state",
                          state_names[j->state], "reason", j->reason, "msg", j->msg, "has_plan",
                          j->has_plan, "plan_sent", j->plan_sent, "plan_version", j->plan_version,
                          "changes", j->changes, "removed", j->removed, "stopped",
                          j->stopped_at > 0, "frames", (json_int_t)j->frames, "dups",
                          (json_int_t)j->dups, "ring", ring, "runs", runs, "native_h", j->native_h,
                          "shown_version", j->shown_version, "native_fps", j->native_fps);
    if (o && j->last_hdr) json_object_set(o, "last_hdr", j->last_hdr);
    return o;
}

static const char *str_of(json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : "";
}

/* A job from its record; NULL (err set) when it does not parse. */
static cjob *job_of(json_t *rec, vd_error *err)
{
    const char *uid = json_string_value(json_object_get(rec, "uid"));
    const char *node = json_string_value(json_object_get(rec, "node"));
    const char *state = json_string_value(json_object_get(rec, "state"));
    vd__submit sub;
    vd_sched *sch = NULL;
    if (!uid || !node || !state) {
        vd_fail(err, VD_EFORMAT, "a job record without uid, node or state");
        return NULL;
    }
    if (vd__submit_parse(json_object_get(rec, "submit"), &sub, err)) return NULL;
    vd_error e2 = {0};
    if (vd_sched_new(sub.spec.scheduler, &sch, &e2)) {
        vd_fail(err, VD_EFORMAT, "job %s: %s", uid, e2.msg);
        vd__job_spec_clear(&sub.spec);
        return NULL;
    }
    cjob *j = vd__cloud_job_new(uid, node, &sub.spec, sch);
    if (!j) {
        vd__job_spec_clear(&sub.spec);
        vd_sched_free(sch);
        vd_fail(err, VD_ENOMEM, "out of memory");
        return NULL;
    }
    j->state = !strcmp(state, "DONE") ? S_DONE : !strcmp(state, "EXEC") ? S_EXEC : S_UNSCHED;
    snprintf(j->reason, sizeof j->reason, "%s", str_of(json_object_get(rec, "reason")));
    snprintf(j->msg, sizeof j->msg, "%s", str_of(json_object_get(rec, "msg")));
    j->has_plan = json_is_true(json_object_get(rec, "has_plan")) && sub.has_plan;
    if (j->has_plan) j->plan = sub.plan;
    j->plan_sent = json_is_true(json_object_get(rec, "plan_sent"));
    j->plan_version = (int)json_integer_value(json_object_get(rec, "plan_version"));
    json_t *ch = json_object_get(rec, "changes");
    if (json_is_array(ch)) json_array_extend(j->changes, ch);
    j->removed = json_is_true(json_object_get(rec, "removed"));
    double now = vd_now_ms();
    if (json_is_true(json_object_get(rec, "stopped"))) j->stopped_at = now;
    j->last_plan_at = j->sent_at = now;
    j->frames = json_integer_value(json_object_get(rec, "frames"));
    j->dups = json_integer_value(json_object_get(rec, "dups"));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(rec, "ring"), i, v)
    {
        json_decref(j->ring[j->ring_head]);
        j->ring[j->ring_head] = json_incref(v);
        j->ring_head = (j->ring_head + 1) % RING;
        if (j->ring_n < RING) j->ring_n++;
    }
    json_array_foreach(json_object_get(rec, "runs"), i, v)
    {
        if (j->n_runs == RES_RUNS) break;
        res_run *r = &j->runs[j->n_runs++];
        memset(r, 0, sizeof *r);
        r->run = (uint64_t)json_integer_value(json_array_get(v, 0));
        r->floor = json_integer_value(json_array_get(v, 1));
        r->max = json_integer_value(json_array_get(v, 2));
        size_t k;
        json_t *a;
        json_array_foreach(json_array_get(v, 3), k, a)
        {
            if (r->n_above < RES_ABOVE) r->above[r->n_above++] = json_integer_value(a);
        }
    }
    j->native_h = (int)json_integer_value(json_object_get(rec, "native_h"));
    j->native_fps = json_number_value(json_object_get(rec, "native_fps"));
    json_t *lh = json_object_get(rec, "last_hdr");
    if (lh) {
        j->last_hdr = json_incref(lh);
        j->shown_version = (int)json_integer_value(json_object_get(rec, "shown_version"));
        vd__cloud_measure(j, lh, &j->shown);
        if (j->shown_version == j->plan_version) {
            j->measured = j->shown;
            j->measured_version = j->shown_version;
        }
        json_t *rt = json_object_get(lh, "runtime");
        j->rt.delay = json_number_value(json_object_get(rt, "delay"));
        j->rt.obj_n = json_number_value(json_object_get(rt, "obj_n"));
        j->rt.obj_size = json_number_value(json_object_get(rt, "obj_size"));
        j->rt.obj_stable = json_is_true(json_object_get(rt, "obj_stable"));
    }
    j->gen_written = j->gen; /* as it is in the store */
    j->res_written = j->res_gen;
    j->written_at = now;
    return j;
}

/* ---- writing ---------------------------------------------------------------------------- */

typedef struct snap {
    cjob *j; /* a reference */
    char key[80];
    char *text;
    unsigned gen, res_gen;
    uint64_t rev;
} snap;

/* Write a record compare-and-set on the revision this cloud knows (0: create). A write that
 * lost its answer may have happened: a record holding exactly our text is ours. VD_ESTATE:
 * another cloud wrote it since (it leads now). */
static int write_record(vd_transport *t, const char *key, const char *text, uint64_t rev,
                        uint64_t *out, vd_error *err)
{
    vd_buf b = {(unsigned char *)text, strlen(text)};
    int rc = rev ? t->ops->kv_update(t, VD_KV_STATE, key, &b, rev, out, err)
                 : t->ops->kv_create(t, VD_KV_STATE, key, &b, out, err);
    if (rc != VD_ESTATE && rc != VD_EALREADY) return rc;
    vd_buf v = {0};
    int same = t->ops->kv_get(t, VD_KV_STATE, key, &v, out, NULL) == 0 && v.len == b.len &&
               !memcmp(v.data, text, b.len);
    vd_buf_free(&v);
    return same ? 0
                : vd_fail(err, VD_ESTATE, "%s was written by another cloud since revision %llu",
                          key, (unsigned long long)rev);
}

int vd__cloud_store_flush(vd_cloud *c, int force)
{
    vd_transport *t = c->o.tr;
    pthread_mutex_lock(&c->store_mu);
    pthread_mutex_lock(&c->mu);
    if (!c->leader) {
        pthread_mutex_unlock(&c->mu);
        pthread_mutex_unlock(&c->store_mu);
        return VD_ESTATE;
    }
    double now = vd_now_ms();
    snap *sn = NULL;
    int n = 0;
    for (int i = 0; i < c->n_jobs; i++) {
        cjob *j = c->jobs[i];
        int due = j->gen != j->gen_written ||
                  (j->res_gen != j->res_written && (force || now - j->written_at >= RES_FLUSH_MS));
        if (!due) continue;
        snap *ns = n % 16 ? sn : realloc(sn, sizeof *sn * (size_t)(n + 16));
        json_t *rec = ns ? record_of(j) : NULL;
        char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
        json_decref(rec);
        if (!text) {
            if (ns) sn = ns;
            break;
        }
        sn = ns;
        sn[n] = (snap){.j = j, .text = text, .gen = j->gen, .res_gen = j->res_gen, .rev = j->rev};
        snprintf(sn[n].key, sizeof sn[n].key, "job.%s", j->uid);
        j->refs++;
        n++;
    }
    pthread_mutex_unlock(&c->mu);
    int rc = 0;
    vd_error err = {0};
    for (int i = 0; i < n; i++) {
        int r = rc ? rc : 0;
        uint64_t rev = 0;
        if (!rc) r = write_record(t, sn[i].key, sn[i].text, sn[i].rev, &rev, &err);
        pthread_mutex_lock(&c->mu);
        if (!r) {
            sn[i].j->gen_written = sn[i].gen;
            sn[i].j->res_written = sn[i].res_gen;
            sn[i].j->written_at = vd_now_ms();
            sn[i].j->rev = rev;
        }
        vd__cloud_job_unref(sn[i].j);
        pthread_mutex_unlock(&c->mu);
        free(sn[i].text);
        if (r && !rc) rc = r; /* the rest waits for the next flush */
    }
    free(sn);
    pthread_mutex_unlock(&c->store_mu);
    if (rc == VD_ESTATE) { /* another cloud leads: this one must not write or act any more */
        pthread_mutex_lock(&c->mu);
        c->epoch = 0; /* when it leads again, the store has the state, not its memory */
        pthread_mutex_unlock(&c->mu);
        vd__cloud_step_down(c, err.msg);
    }
    return rc;
}

/* ---- reading ---------------------------------------------------------------------------- */

int vd__cloud_store_restore(vd_cloud *c, int *n_jobs, vd_error *err)
{
    vd_transport *t = c->o.tr;
    *n_jobs = 0;
    char **keys = NULL;
    int nk = 0;
    int rc = t->ops->kv_keys(t, VD_KV_STATE, "job.", &keys, &nk, err);
    if (rc) return rc;
    cjob **jobs = calloc((size_t)nk + 1, sizeof *jobs);
    int n = 0;
    for (int i = 0; jobs && i < nk && !rc; i++) {
        vd_buf v = {0};
        uint64_t rev = 0;
        rc = t->ops->kv_get(t, VD_KV_STATE, keys[i], &v, &rev, err);
        if (rc == VD_ENOTFOUND) { /* deleted meanwhile */
            rc = 0;
            continue;
        }
        if (rc) break;
        json_t *rec = json_loadb((const char *)v.data, v.len, 0, NULL);
        vd_buf_free(&v);
        vd_error e2 = {0};
        cjob *j = rec ? job_of(rec, &e2) : NULL;
        json_decref(rec);
        if (j) {
            j->rev = rev;
            jobs[n++] = j;
        } else
            fprintf(stderr, "vdag %s: the store's %s does not parse (skipped): %s\n", c->name,
                    keys[i], rec ? e2.msg : "not JSON");
    }
    vd_kv_keys_free(keys, nk);
    if (!jobs) return vd_fail(err, VD_ENOMEM, "out of memory");
    if (rc) {
        for (int i = 0; i < n; i++) vd__cloud_job_unref(jobs[i]);
        free(jobs);
        return rc;
    }
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n_jobs; i++) { /* its viewers (references) end */
        c->jobs[i]->removed = 1;
        vd__cloud_job_unref(c->jobs[i]);
    }
    free(c->jobs);
    c->jobs = jobs;
    c->n_jobs = n;
    c->n_adopt = 0; /* asked again from the next heartbeats, against this table */
    pthread_cond_broadcast(&c->cv);
    pthread_cond_broadcast(&c->frames);
    pthread_mutex_unlock(&c->mu);
    *n_jobs = n;
    return 0;
}
