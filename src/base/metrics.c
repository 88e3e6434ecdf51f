/*
 * The metrics registry (vdag/metrics.h): series in one array under one mutex, found by a hash
 * of (family, labels); rendered family by family in the order of the table below, so every
 * family's samples are together under one HELP and TYPE, as the text format requires.
 */
#include "vdag/metrics.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { M_COUNTER, M_GAUGE, M_HISTOGRAM };

typedef struct family {
    const char *name;
    int type;
    const char *help;
} family;

/* Every family vdag exports (docs/metrics.md lists their labels). */
static const family families[] = {
    {"vdag_frames_processed_total", M_COUNTER, "Frames run through a job's DAG on this edge."},
    {"vdag_frames_dropped_total", M_COUNTER,
     "Frames a job dropped as late (it could not keep up with the stream)."},
    {"vdag_stage_latency_seconds", M_HISTOGRAM,
     "Time of one DAG stage per processed frame, transfer included for a remote stage."},
    {"vdag_frame_latency_seconds", M_HISTOGRAM,
     "Time of the whole DAG per processed frame (the seed's total_frame_delay)."},
    {"vdag_results_received_total", M_COUNTER, "Results the cloud took from an edge."},
    {"vdag_plan_changes_total", M_COUNTER, "New plans the cloud's scheduler made, by reason."},
    {"vdag_remote_calls_total", M_COUNTER, "Stage calls to another node, by result."},
    {"vdag_remote_sent_bytes_total", M_COUNTER, "Bytes sent to another node in stage calls."},
    {"vdag_remote_received_bytes_total", M_COUNTER,
     "Bytes received from another node in answers to stage calls."},
    {"vdag_http_requests_total", M_COUNTER, "HTTP requests answered, by route, method and code."},
    {"vdag_http_request_duration_seconds", M_HISTOGRAM,
     "Time from a request's arrival to the end of its answer (a stream: its whole life)."},
    {"vdag_model_load_seconds", M_HISTOGRAM, "Time to load and plan one model."},
    {"vdag_model_fetches_total", M_COUNTER,
     "Models this node fetched from a cloud, by result (ok, failed; retried: a file again)."},
    {"vdag_model_fetch_bytes_total", M_COUNTER, "Bytes of model files fetched from a cloud."},
    {"vdag_queue_depth", M_GAUGE, "Items waiting in one of the node's queues."},
    {"vdag_node_up", M_GAUGE, "1 while the cloud hears a node's heartbeats (0: lost)."},
    {"vdag_node_heartbeat_age_seconds", M_GAUGE, "Seconds since the node's last heartbeat."},
    {"vdag_jobs", M_GAUGE, "Jobs the cloud holds, by state."},
    {"vdag_edge_jobs_running", M_GAUGE, "Jobs running on this edge."},
    {"vdag_events_published_total", M_COUNTER,
     "Events the cloud published, by sink (bus: NATS or in-process; mqtt: acknowledged)."},
    {"vdag_events_dropped_total", M_COUNTER,
     "Events the cloud dropped, by sink (a full queue, a refused publish)."},
    {"vdag_edge_videos", M_GAUGE, "Video sources this edge has (added at start or at run time)."},
    {"vdag_source_up", M_GAUGE, "1 while a job's live stream is open (0: reconnecting)."},
    {"vdag_source_lost_total", M_COUNTER, "Times a live stream was lost (a job then reconnects)."},
    {"vdag_source_reconnects_total", M_COUNTER, "Times a lost live stream was opened again."},
};
#define N_FAMILIES ((int)(sizeof families / sizeof families[0]))

static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,    1,     2.5,  5,     10,   30};
#define N_BUCKETS ((int)(sizeof buckets / sizeof buckets[0]))

typedef struct series {
    int fam;
    unsigned hash;
    char *labels;
    double v;                        /* counter, gauge */
    unsigned long long b[N_BUCKETS]; /* histogram: observations <= buckets[i] (not cumulative) */
    unsigned long long n;
    double sum;
} series;

typedef struct collector {
    vd_metrics_collect_fn fn;
    void *arg;
} collector;

struct vd_metrics_out {
    int fam;
    char *labels;
    double v;
    struct vd_metrics_out *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
/* held while collectors run, and by vd_metrics_collector_remove: once that returns, the
 * removed collector is not running and will not run again */
static pthread_mutex_t collect_mu = PTHREAD_MUTEX_INITIALIZER;
static series *S;
static int n_series, cap_series;
static collector C[16];
static int n_coll;

static int family_of(const char *name)
{
    for (int i = 0; i < N_FAMILIES; i++)
        if (!strcmp(families[i].name, name)) return i;
    assert(!"metric family not in the table of src/base/metrics.c");
    return -1;
}

static unsigned hash_of(int fam, const char *labels)
{
    unsigned h = 2166136261u ^ (unsigned)fam;
    for (const char *p = labels; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

/* The series (made if new), under mu; NULL when out of memory. */
static series *get(int fam, const char *labels)
{
    if (!labels) labels = "";
    unsigned h = hash_of(fam, labels);
    for (int i = 0; i < n_series; i++)
        if (S[i].hash == h && S[i].fam == fam && !strcmp(S[i].labels, labels)) return &S[i];
    if (n_series == cap_series) {
        int cap = cap_series ? cap_series * 2 : 64;
        series *ns = realloc(S, (size_t)cap * sizeof *ns);
        if (!ns) return NULL;
        S = ns, cap_series = cap;
    }
    char *l = strdup(labels);
    if (!l) return NULL;
    series *s = &S[n_series++];
    *s = (series){.fam = fam, .hash = h, .labels = l};
    return s;
}

static void update(const char *name, const char *labels, double v, int type)
{
    int fam = family_of(name);
    if (fam < 0 || families[fam].type != type || !isfinite(v)) return;
    pthread_mutex_lock(&mu);
    series *s = get(fam, labels);
    if (s) {
        if (type == M_COUNTER)
            s->v += v > 0 ? v : 0;
        else if (type == M_GAUGE)
            s->v = v;
        else {
            int i = 0;
            while (i < N_BUCKETS && v > buckets[i]) i++;
            if (i < N_BUCKETS) s->b[i]++;
            s->n++;
            s->sum += v;
        }
    }
    pthread_mutex_unlock(&mu);
}

void vd_metric_add(const char *family, const char *labels, double v)
{
    update(family, labels, v, M_COUNTER);
}

void vd_metric_set(const char *family, const char *labels, double v)
{
    update(family, labels, v, M_GAUGE);
}

void vd_metric_observe(const char *family, const char *labels, double v)
{
    update(family, labels, v, M_HISTOGRAM);
}

char *vd_metrics_labels(char *buf, size_t cap, ...)
{
    assert(cap > 0);
    size_t len = 0;
    buf[0] = 0;
    va_list ap;
    va_start(ap, cap);
    for (const char *k; (k = va_arg(ap, const char *));) {
        const char *v = va_arg(ap, const char *);
        char tmp[512];
        size_t t = (size_t)snprintf(tmp, sizeof tmp, "%s%s=\"", len ? "," : "", k);
        for (const char *p = v ? v : ""; *p && t + 3 < sizeof tmp; p++) {
            if (*p == '\\' || *p == '"')
                tmp[t++] = '\\', tmp[t++] = *p;
            else if (*p == '\n')
                tmp[t++] = '\\', tmp[t++] = 'n';
            else
                tmp[t++] = *p;
        }
        tmp[t++] = '"';
        if (len + t + 1 > cap) break;
        memcpy(buf + len, tmp, t);
        len += t;
        buf[len] = 0;
    }
    va_end(ap);
    return buf;
}

void vd_metrics_emit(vd_metrics_out *o, const char *name, const char *labels, double v)
{
    int fam = family_of(name);
    if (fam < 0) return;
    vd_metrics_out *e = malloc(sizeof *e);
    if (!e) return;
    *e = (vd_metrics_out){.fam = fam, .labels = strdup(labels ? labels : ""), .v = v};
    if (!e->labels) {
        free(e);
        return;
    }
    /* o is the list's head sentinel */
    e->next = o->next;
    o->next = e;
}

int vd_metrics_collector_add(vd_metrics_collect_fn fn, void *arg)
{
    pthread_mutex_lock(&mu);
    int rc = -1;
    if (n_coll < (int)(sizeof C / sizeof C[0])) C[n_coll++] = (collector){fn, arg}, rc = 0;
    pthread_mutex_unlock(&mu);
    return rc;
}

void vd_metrics_collector_remove(vd_metrics_collect_fn fn, void *arg)
{
    pthread_mutex_lock(&collect_mu);
    pthread_mutex_lock(&mu);
    for (int i = 0; i < n_coll; i++)
        if (C[i].fn == fn && C[i].arg == arg) {
            memmove(&C[i], &C[i + 1], (size_t)(n_coll - i - 1) * sizeof C[0]);
            n_coll--;
            break;
        }
    pthread_mutex_unlock(&mu);
    pthread_mutex_unlock(&collect_mu);
}

/* ---- rendering ----------------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np, b->cap = cap;
    }
}

/* A sample value as the text format writes it. */
static const char *num(char *buf, size_t cap, double v)
{
    if (isnan(v)) return "NaN";
    if (isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    snprintf(buf, cap, "%.15g", v);
    return buf;
}

static int by_labels(const void *a, const void *b)
{
    const series *x = *(series *const *)a, *y = *(series *const *)b;
    return x->fam != y->fam ? x->fam - y->fam : strcmp(x->labels, y->labels);
}

static void put_series(sbuf *b, const series *s)
{
    const family *f = &families[s->fam];
    char v[64];
    const char *sep = s->labels[0] ? "," : "";
    if (f->type != M_HISTOGRAM) {
        put(b, "%s%s%s%s %s\n", f->name, s->labels[0] ? "{" : "", s->labels,
            s->labels[0] ? "}" : "", num(v, sizeof v, s->v));
        return;
    }
    unsigned long long cum = 0;
    for (int i = 0; i < N_BUCKETS; i++) {
        cum += s->b[i];
        put(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->name, s->labels, sep,
            num(v, sizeof v, buckets[i]), cum);
    }
    put(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", f->name, s->labels, sep, s->n);
    put(b, "%s_sum%s%s%s %s\n", f->name, s->labels[0] ? "{" : "", s->labels,
        s->labels[0] ? "}" : "", num(v, sizeof v, s->sum));
    put(b, "%s_count%s%s%s %llu\n", f->name, s->labels[0] ? "{" : "", s->labels,
        s->labels[0] ? "}" : "", s->n);
}

char *vd_metrics_render(size_t *len)
{
    /* collectors first, without the lock (they take their owners' locks) */
    collector cs[16];
    pthread_mutex_lock(&collect_mu);
    pthread_mutex_lock(&mu);
    int nc = n_coll;
    memcpy(cs, C, (size_t)nc * sizeof C[0]);
    pthread_mutex_unlock(&mu);
    vd_metrics_out head = {.fam = -1};
    for (int i = 0; i < nc; i++) cs[i].fn(cs[i].arg, &head);
    pthread_mutex_unlock(&collect_mu);
    int n_out = 0;
    for (vd_metrics_out *e = head.next; e; e = e->next) n_out++;

    sbuf b = {.p = malloc(8192), .cap = 8192};
    if (!b.p) b.oom = 1;
    pthread_mutex_lock(&mu);
    /* one array of pointers: the stored series and the collected samples (as series) */
    int total = n_series + n_out;
    series **idx = malloc((size_t)(total ? total : 1) * sizeof *idx);
    series *col = calloc((size_t)(n_out ? n_out : 1), sizeof *col);
    if (!idx || !col) b.oom = 1;
    int k = 0;
    if (!b.oom) {
        for (int i = 0; i < n_series; i++) idx[k++] = &S[i];
        int j = 0;
        for (vd_metrics_out *e = head.next; e; e = e->next, j++) {
            col[j] = (series){.fam = e->fam, .labels = e->labels, .v = e->v};
            idx[k++] = &col[j];
        }
        qsort(idx, (size_t)k, sizeof *idx, by_labels);
    }
    static const char *type_name[] = {"counter", "gauge", "histogram"};
    for (int i = 0; i < k; i++) {
        const family *f = &families[idx[i]->fam];
        if (i == 0 || idx[i - 1]->fam != idx[i]->fam)
            put(&b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, type_name[f->type]);
        /* a collector and a counter on one label set: the first wins (never both) */
        if (i > 0 && idx[i - 1]->fam == idx[i]->fam && !strcmp(idx[i - 1]->labels, idx[i]->labels))
            continue;
        put_series(&b, idx[i]);
    }
    pthread_mutex_unlock(&mu);
    free(idx);
    free(col);
    for (vd_metrics_out *e = head.next, *nx; e; e = nx) {
        nx = e->next;
        free(e->labels);
        free(e);
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    if (len) *len = b.len;
    return b.p;
}

void vd_metrics_reset(void)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < n_series; i++) free(S[i].labels);
    free(S);
    S = NULL;
    n_series = cap_series = 0;
    pthread_mutex_unlock(&mu);
}
