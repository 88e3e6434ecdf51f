/*
 * vd_model: load (graph -> lower -> finalize), run, describe. See nn_internal.h.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_internal.h"
#include "vdag/base.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static enum xnn_status init_status;

static void do_init(void)
{
    init_status = xnn_initialize(NULL);
}

int vd_nn_init(vd_error *err)
{
    pthread_once(&init_once, do_init);
    if (init_status != xnn_status_success)
        return vd_fail(err, VD_EBACKEND,
                       "XNNPACK failed to initialise (status %d): unsupported CPU?", init_status);
    return 0;
}

int64_t vd_tensor_numel(const vd_tensor *t)
{
    return vd__numel(t->shape, t->ndim);
}

/* ---- buffer planning -------------------------------------------------------------- */

static void touch(vd__model *m, int v, int step)
{
    int b = V(v)->buf;
    if (b < 0) return;
    vd__buf *x = &m->bufs[b];
    if (x->first < 0 || step < x->first) x->first = step;
    if (step > x->last) x->last = step;
}

typedef struct {
    size_t off, size;
    int last;
} placed;

static _Atomic size_t max_arena = VD_NN_MAX_ARENA_DEFAULT;

void vd_nn_set_max_arena(size_t bytes)
{
    atomic_store(&max_arena, bytes ? bytes : VD_NN_MAX_ARENA_DEFAULT);
}

size_t vd_nn_max_arena(void)
{
    return atomic_load(&max_arena);
}

/* Assign arena offsets: buffers whose live step ranges overlap never share bytes.
 * First-fit over the buffers live at the same time; O(B^2), B ~ a few hundred. */
static int plan_arena(vd__model *m, vd_error *err)
{
    for (int i = 0; i < m->n_steps; i++) {
        vd__step *s = &m->steps[i];
        for (int k = 0; k < s->n_in; k++) touch(m, s->in[k], i);
        for (int k = 0; k < s->n_out; k++) touch(m, s->out[k], i);
    }
    for (int b = 0; b < m->n_bufs; b++) {
        if (m->bufs[b].pinned) {
            m->bufs[b].first = -1;
            m->bufs[b].last = m->n_steps;
        }
    }
    touch(m, m->input_val, -1);
    for (int i = 0; i < m->g.n_outputs; i++) {
        int b = V(m->out_vals[i])->buf;
        if (b >= 0) {
            m->bufs[b].pinned = 1;
            m->bufs[b].last = m->n_steps;
            if (m->bufs[b].first < 0) m->bufs[b].first = -1;
        }
    }
    int *order = malloc(sizeof(int) * (size_t)(m->n_bufs + 1));
    size_t *off = calloc((size_t)m->n_bufs + 1, sizeof(size_t));
    if (!order || !off) {
        free(order);
        free(off);
        return vd_fail(err, VD_ENOMEM, "out of memory");
    }
    int n = 0;
    for (int b = 0; b < m->n_bufs; b++)
        if (m->bufs[b].last >= -1 && (m->bufs[b].first >= -1)) order[n++] = b;
    /* insertion sort by first use */
    for (int i = 1; i < n; i++) {
        int x = order[i], j = i - 1;
        while (j >= 0 && m->bufs[order[j]].first > m->bufs[x].first) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = x;
    }
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        vd__buf *b = &m->bufs[order[i]];
        if (b->last < 0 && b->first < 0 && !b->pinned) continue; /* unused */
        size_t sz = (b->bytes + XNN_EXTRA_BYTES + 63) & ~(size_t)63;
        size_t cand = 0;
        int moved = 1;
        while (moved) { /* first fit: bump past any overlapping live buffer */
            moved = 0;
            for (int j = 0; j < i; j++) {
                vd__buf *o = &m->bufs[order[j]];
                if (o->last < b->first || o->first > b->last) continue;
                size_t oo = off[order[j]], os = (o->bytes + XNN_EXTRA_BYTES + 63) & ~(size_t)63;
                if (cand < oo + os && oo < cand + sz) {
                    cand = oo + os;
                    moved = 1;
                }
            }
        }
        /* every offset and size stays below 2^56 (sizes are below 2^51, VD__MAX_ELEMS), so
         * none of these sums can wrap */
        if (cand > ((size_t)1 << 56) - sz) {
            free(order);
            free(off);
            return vd_fail(err, VD_ETOOBIG, "%s: the activations need more than 2^56 bytes",
                           m->g.path);
        }
        off[order[i]] = cand;
        if (cand + sz > total) total = cand + sz;
    }
    if (total > vd_nn_max_arena()) {
        free(order);
        free(off);
        return vd_fail(err, VD_ETOOBIG,
                       "%s: the activations need %.0f MB, over the limit of %.0f MB "
                       "(vd_nn_set_max_arena): a model with such shapes is refused",
                       m->g.path, total / 1048576.0, vd_nn_max_arena() / 1048576.0);
    }
    if (posix_memalign(&m->arena, 64, total + 64)) {
        free(order);
        free(off);
        return vd_fail(err, VD_ENOMEM, "out of memory for %zu bytes of activations", total);
    }
    memset(m->arena, 0, total + 64);
    for (int b = 0; b < m->n_bufs; b++) m->bufs[b].ptr = (char *)m->arena + off[b];
    free(order);
    free(off);
    return 0;
}

/* ---- XNNPACK operators -------------------------------------------------------------- */

int vd__xnn_check(vd__model *m, const vd__step *s, enum xnn_status st, vd_error *err)
{
    if (st == xnn_status_success) return 0;
    return vd_fail(err, VD_EBACKEND,
                   "%s: node '%s' (op %s): XNNPACK rejected the operator (status %d)", m->g.path,
                   s->node, s->op, st);
}

int vd__finalize(vd__model *m, vd_error *err)
{
    int rc = plan_arena(m, err);
    if (rc) return rc;
    m->last_xnn = -1;
    for (int i = 0; i < m->n_steps; i++) {
        vd__step *s = &m->steps[i];
        rc = s->ops->create ? s->ops->create(m, s, err) : 0;
        if (rc) return rc;
        m->flops += m->steps[i].flops;
        if (s->ops->create) m->last_xnn = i;
    }
    return 0;
}

int vd__run_steps(vd__model *m, vd_error *err)
{
    if (m->prof_ms) m->prof_runs++;
    return vd__run_range(m, 0, m->n_steps, err);
}

int vd__run_range(vd__model *m, int first, int end, vd_error *err)
{
    /* pacing's trials time whole runs only: a part of the model (a slice) runs in the mode
     * in use, and leaves the pool parked */
    int whole = first == 0 && end == m->n_steps;
    double cut_ms = 0;
    int threads = (int)pthreadpool_get_threads_count(m->pool);
    int mode = whole ? vd__pace_pick(&m->pace, threads, &cut_ms) : m->pace.cur;
    int tried = mode, cut = 0;
    uint64_t start = vd_now_ns();
    for (int i = first; i < end; i++) {
        if (cut_ms > 0 && !cut && (double)(vd_now_ns() - start) / 1e6 > cut_ms) {
            cut = 1; /* the trial lost already: finish as the mode in use */
            if (mode != VD__RUN_SERIAL) vd__pool_park(m->pool);
            mode = m->pace.cur;
        }
        vd__step *s = &m->steps[i];
        uint64_t t0 = m->prof_ms ? vd_now_ns() : 0;
        if (s->ops->run) {
            int rc = s->ops->run(m, s);
            if (rc)
                return vd_fail(err, rc, "%s: node '%s' (op %s) failed", m->g.path, s->node, s->op);
        } else {
            pthreadpool_t tp = mode == VD__RUN_SERIAL ? NULL : m->pool;
            enum xnn_status st = xnn_run_operator(s->xop, tp);
            if (st != xnn_status_success) {
                vd__pool_park(tp);
                return vd_fail(err, VD_EBACKEND,
                               "%s: node '%s' (op %s): XNNPACK run failed (status %d)", m->g.path,
                               s->node, s->op, st);
            }
            if (mode == VD__RUN_SLEEP || i == m->last_xnn) vd__pool_park(tp);
        }
        if (m->prof_ms) m->prof_ms[i] += (double)(vd_now_ns() - t0) / 1e6;
    }
    if (whole)
        vd__pace_done(&m->pace, tried, (double)(vd_now_ns() - start) / 1e6, cut);
    else if (mode != VD__RUN_SERIAL)
        vd__pool_park(m->pool);
    return 0;
}

void vd__step_fini(vd__step *s)
{
    if (s->ops->fini) s->ops->fini(s);
}

void vd__steps_free(vd__model *m)
{
    for (int i = 0; i < m->n_steps; i++) {
        vd__step *s = &m->steps[i];
        if (s->xop) xnn_delete_operator(s->xop);
        vd__step_fini(s);
    }
    free(m->steps);
    m->steps = NULL;
    m->n_steps = 0;
}

/* ---- public API ------------------------------------------------------------------ */

static void fill_desc(vd__model *m, vd_tensor *t, int v, const char *name)
{
    t->name = name;
    t->dtype = V(v)->dtype == VD__F32 ? VD_F32 : VD_I32;
    t->ndim = V(v)->ndim;
    memcpy(t->shape, V(v)->shape, sizeof t->shape);
    t->data = V(v)->buf >= 0 ? (float *)m->bufs[V(v)->buf].ptr + V(v)->offset : V(v)->cdata;
}

int vd_model_load(const char *path, const vd_model_opts *opts, vd_model **out, vd_error *err)
{
    *out = NULL;
    int rc = vd_nn_init(err);
    if (rc) return rc;
    vd__model *m = calloc(1, sizeof *m);
    if (!m) return vd_fail(err, VD_ENOMEM, "out of memory");
    rc = vd__graph_load(path, &m->g, err);
    if (rc) {
        free(m);
        return rc;
    }
    vd__pace_init(&m->pace);
    rc = vd__lower(m, err);
    if (!rc && opts && opts->pool)
        m->pool = opts->pool->tp;
    else if (!rc && !(rc = vd_nn_pool_new(opts ? opts->threads : 1, &m->own_pool, err)))
        m->pool = m->own_pool->tp;
    if (!rc) rc = vd__finalize(m, err);
    if (!rc) {
        m->out_desc = calloc((size_t)m->g.n_outputs, sizeof(vd_tensor));
        if (!m->out_desc) rc = vd_fail(err, VD_ENOMEM, "out of memory");
    }
    if (rc) {
        vd_model_free(m);
        return rc;
    }
    fill_desc(m, &m->in_desc, m->input_val,
              m->g.input_name ? m->g.input_name : V(m->input_val)->node);
    m->in_desc.data = NULL;
    for (int i = 0; i < m->g.n_outputs; i++)
        fill_desc(m, &m->out_desc[i], m->out_vals[i], m->g.out_names[i]);
    *out = m;
    return 0;
}

void vd_model_free(vd_model *m)
{
    if (!m) return;

    vd__steps_free(m);
    for (int i = 0; i < m->n_vals; i++) free(m->vals[i].cdata);
    free(m->vals);
    free(m->bufs);
    free(m->arena);
    free(m->out_vals);
    free(m->out_desc);
    free(m->prof_ms);
    vd_nn_pool_free(m->own_pool);
    vd__graph_free(&m->g);
    free(m);
}

int vd_model_n_inputs(const vd_model *m)
{
    (void)m;
    return 1;
}

int vd_model_n_outputs(const vd_model *m)
{
    return m->g.n_outputs;
}

const vd_tensor *vd_model_input(const vd_model *m, int i)
{
    return i == 0 ? &m->in_desc : NULL;
}

const vd_tensor *vd_model_output(const vd_model *m, int i)
{
    return i >= 0 && i < m->g.n_outputs ? &m->out_desc[i] : NULL;
}

double vd_model_flops(const vd_model *m)
{
    return m->flops;
}

int vd_model_run(vd_model *m, const void *data, size_t bytes, vd_error *err)
{
    vd__val *in = V(m->input_val);
    size_t need = (size_t)vd__numel(in->shape, in->ndim) * 4;
    if (bytes != need) {
        char shp[96] = "";
        for (int i = 0; i < in->ndim; i++)
            snprintf(shp + strlen(shp), sizeof shp - strlen(shp), "%s%lld", i ? "x" : "",
                     (long long)in->shape[i]);
        return vd_fail(err, VD_ESHAPE, "%s: input '%s' must be %s %s (%zu bytes), got %zu bytes",
                       m->g.path, m->in_desc.name, shp, in->dtype == VD__F32 ? "float32" : "int32",
                       need, bytes);
    }
    memcpy(m->bufs[in->buf].ptr, data, need);
    return vd__run_steps(m, err);
}

int vd_model_set_profiling(vd_model *m, int on)
{
    free(m->prof_ms);
    m->prof_ms = NULL;
    m->prof_runs = 0;
    if (on && !(m->prof_ms = calloc((size_t)m->n_steps + 1, sizeof(double)))) return VD_ENOMEM;
    return 0;
}

void vd_model_profile_print(const vd_model *m, FILE *f)
{
    if (!m->prof_ms || !m->prof_runs) return;
    const char *names[64];
    double ms[64];
    int cnt[64], n = 0;
    double total = 0;
    for (int i = 0; i < m->n_steps; i++) {
        const vd__step *s = &m->steps[i];
        const char *k = s->ops->label ? s->ops->label : s->op; /* C kernels: the TF op */
        int j;
        for (j = 0; j < n; j++)
            if (!strcmp(names[j], k)) break;
        if (j == n && n < 64) {
            names[n] = k;
            ms[n] = 0;
            cnt[n++] = 0;
        }
        if (j < 64) {
            ms[j] += m->prof_ms[i] / m->prof_runs;
            cnt[j]++;
        }
        total += m->prof_ms[i] / m->prof_runs;
    }
    fprintf(f, "  %-24s %6s %10s %6s\n", "op", "steps", "ms/run", "share");
    for (int a = 0; a < n; a++) {
        int best = a;
        for (int b = a + 1; b < n; b++)
            if (ms[b] > ms[best]) best = b;
        const char *tn = names[a];
        double tm = ms[a];
        int tc = cnt[a];
        names[a] = names[best], ms[a] = ms[best], cnt[a] = cnt[best];
        names[best] = tn, ms[best] = tm, cnt[best] = tc;
        fprintf(f, "  %-24s %6d %10.3f %5.1f%%\n", names[a], cnt[a], ms[a],
                total > 0 ? 100 * ms[a] / total : 0);
    }
}
