#include <math.h>
#include <pthread.h>
#include <unistd.h>

#include "svc/svc_util.h"
#include "vdag/base.h"
#include "vdag/metrics.h"

static struct {
    pthread_mutex_t mu;
    vd_model_fetch_fn fn;
    void *arg;
} fetcher = {.mu = PTHREAD_MUTEX_INITIALIZER};

void vd_svc_set_model_fetcher(vd_model_fetch_fn fn, void *arg)
{
    pthread_mutex_lock(&fetcher.mu);
    fetcher.fn = fn;
    fetcher.arg = arg;
    pthread_mutex_unlock(&fetcher.mu);
}

int vd__svc_load(const char *name, const vd_svc_opts *so, vd_model **out, vd_error *err)
{
    char path[1024];
    if (vd_model_path(name, path, sizeof path))
        return vd_fail(err, VD_ETOOBIG, "model path too long");
    if (access(path, R_OK) != 0) { /* not here: the node's fetcher may get it */
        pthread_mutex_lock(&fetcher.mu);
        vd_model_fetch_fn fn = fetcher.fn;
        void *arg = fetcher.arg;
        pthread_mutex_unlock(&fetcher.mu);
        int rc = fn ? fn(arg, name, err) : 0;
        if (rc) return rc;
    }
    vd_model_opts o = {.threads = so->threads > 0 ? so->threads : 1, .pool = so->pool};
    double t0 = vd_now_ms();
    int rc = vd_model_load(path, &o, out, err);
    if (!rc) {
        char l[128];
        vd_metric_observe("vdag_model_load_seconds",
                          vd_metrics_labels(l, sizeof l, "model", name, (char *)NULL),
                          (vd_now_ms() - t0) / 1e3);
    }
    return rc;
}

/* Bilinear sampling at pixel centres; outside the frame reads black. */
void vd__svc_fill(const vd_frame *f, float x1, float y1, float x2, float y2, int w, int h,
                  float scale, float bias, int nchw, float *dst)
{
    float sx = (x2 - x1) / (float)w, sy = (y2 - y1) / (float)h;
    for (int y = 0; y < h; y++) {
        float fy = y1 + ((float)y + 0.5f) * sy - 0.5f;
        int y0 = (int)floorf(fy);
        float wy = fy - (float)y0;
        for (int x = 0; x < w; x++) {
            float fx = x1 + ((float)x + 0.5f) * sx - 0.5f;
            int x0 = (int)floorf(fx);
            float wx = fx - (float)x0;
            float acc[3] = {0, 0, 0};
            for (int dy = 0; dy < 2; dy++) {
                int yy = y0 + dy;
                if (yy < 0 || yy >= f->height) continue;
                const unsigned char *row = f->data + (size_t)yy * (size_t)f->stride;
                float wyy = dy ? wy : 1 - wy;
                for (int dx = 0; dx < 2; dx++) {
                    int xx = x0 + dx;
                    if (xx < 0 || xx >= f->width) continue;
                    float wt = wyy * (dx ? wx : 1 - wx);
                    acc[0] += wt * row[3 * xx];
                    acc[1] += wt * row[3 * xx + 1];
                    acc[2] += wt * row[3 * xx + 2];
                }
            }
            for (int c = 0; c < 3; c++) {
                float v = acc[c] * scale + bias;
                if (nchw)
                    dst[((size_t)c * (size_t)h + (size_t)y) * (size_t)w + (size_t)x] = v;
                else
                    dst[((size_t)y * (size_t)w + (size_t)x) * 3 + (size_t)c] = v;
            }
        }
    }
}

json_t *vd__box_json(float x1, float y1, float x2, float y2)
{
    return json_pack("[ffff]", roundf(x1 * 10) / 10, roundf(y1 * 10) / 10, roundf(x2 * 10) / 10,
                     roundf(y2 * 10) / 10);
}
