/* A stage run on another node through the transport gives the same output as run here on
 * the same JPEG strips (the frame travels as JPEG strips coded and decoded in parallel),
 * and nearly the same as on the raw frame. Malformed stage requests fail with a message and
 * the host keeps serving. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "vdag/media.h"
#include "vdag/net.h"
#include "node/node_internal.h"
#include "vdag/node.h"

/* Boxes of a detector output ("bbox": [[x1,y1,x2,y2],...]); returns the count. */
static int boxes(json_t *out, double b[][4], int cap)
{
    json_t *a = json_object_get(out, "bbox"), *v;
    size_t i;
    int n = 0;
    json_array_foreach(a, i, v) if (n < cap && !json_unpack(v, "[FFFF]", &b[n][0], &b[n][1],
                                                            &b[n][2], &b[n][3])) n++;
    return n;
}

static double iou(const double *a, const double *b)
{
    double ix = fmin(a[2], b[2]) - fmax(a[0], b[0]), iy = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    if (ix <= 0 || iy <= 0) return 0;
    double in = ix * iy;
    double u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - in;
    return u > 0 ? in / u : 0;
}

/* Boxes of a that b has too (IoU >= min_iou); *na: boxes of a. */
static int matched(json_t *a, json_t *b, double min_iou, int *na)
{
    double ab[128][4], bb[128][4];
    int n = boxes(a, ab, 128), m = boxes(b, bb, 128), k = 0;
    for (int i = 0; i < n; i++) {
        double best = 0;
        for (int j = 0; j < m; j++) best = fmax(best, iou(ab[i], bb[j]));
        k += best >= min_iou;
    }
    *na = n;
    return k;
}

typedef struct agree {
    int frames, local, remote, l_in_r, r_in_l; /* boxes, and those the other side has too */
    int same;                                  /* frames where remote = here on the JPEG */
} agree;

/* Run `service` over `frames` frames of `video`: locally on the frame, remotely on its JPEG
 * strips, and locally on the strips decoded here. */
static void compare(vd_transport *tr, vd_svchost *h, const char *video, const char *service,
                    int model_id, int frames, agree *g)
{
    vd_error err = {0};
    vd_source *src = NULL;
    vd_source_opts so = {0};
    vd_jpeg_coder *jc = NULL;
    memset(g, 0, sizeof *g);
    CHECK(vd_source_open(vt_media(video), &so, &src, &err) == 0);
    CHECK(vd_jpeg_coder_new(VD_STAGE_JPEG_PARTS, &jc, &err) == 0);
    vd_frame *f;
    json_t *args = json_object();
    for (int i = 0; src && jc && i < frames && vd_source_read(src, &f, 5000, &err) == 0; i++) {
        json_t *lo = NULL, *ro = NULL, *fo = NULL;
        vd_jpeg_parts img = {0};
        vd_frame *full = NULL;
        int ok = vd_svchost_execute(h, service, model_id, f, args, &lo, &err) == 0;
        ok = ok && vd_jpeg_coder_encode(jc, f, VD_STAGE_JPEG_QUALITY, &img, &err) == 0;
        ok = ok && vd_stage_call(tr, "host", service, model_id, f, &img, args, 10000, &ro, NULL,
                                 &err) == 0;
        ok = ok && vd_jpeg_coder_decode(jc, &img, 0, 0, &full, &err) == 0;
        if (ok) full->src_width = f->src_width, full->src_height = f->src_height;
        ok = ok && vd_svchost_execute(h, service, model_id, full, args, &fo, &err) == 0;
        CHECKF(ok, "%s frame %d: %s", service, i, err.msg);
        int n, m;
        g->frames++;
        g->l_in_r += matched(lo, ro, 0.6, &n);
        g->local += n;
        g->r_in_l += matched(ro, lo, 0.6, &n);
        g->remote += n;
        g->same += matched(fo, ro, 0.99, &n) == n && matched(ro, fo, 0.99, &m) == m && m == n;
        free(img.data);
        vd_frame_free(full);
        json_decref(lo);
        json_decref(ro);
        json_decref(fo);
        vd_frame_free(f);
    }
    json_decref(args);
    vd_jpeg_coder_free(jc);
    vd_source_close(src);
}

/* The same service over an H.264 stream of `frames` frames (a host decoder for the stream):
 * boxes found here on the frame and on the host on its H.264 picture; a packet after a gap
 * is refused (VD_ESTATE, carried as the remote code) until a keyframe. */
static void compare_h264(vd_transport *tr, vd_svchost *h, const char *video, const char *service,
                         int model_id, int frames, agree *g)
{
    vd_error err = {0};
    vd_source *src = NULL;
    vd_source_opts so = {.conf = {.resolution_h = 480}};
    memset(g, 0, sizeof *g);
    CHECK(vd_source_open(vt_media(video), &so, &src, &err) == 0);
    vd_h264_enc *e = NULL;
    vd_frame *f;
    json_t *args = json_object();
    size_t bytes = 0;
    for (int i = 0; src && i < frames && vd_source_read(src, &f, 5000, &err) == 0; i++) {
        if (!e) CHECKF(vd_h264_enc_new(f->width, f->height, 10, 0, &e, &err) == 0, "%s", err.msg);
        json_t *lo = NULL, *ro = NULL;
        unsigned char *pkt = NULL;
        size_t len = 0;
        vd_buf req = {0}, resp = {0};
        int ok = e && vd_svchost_execute(h, service, model_id, f, args, &lo, &err) == 0;
        ok = ok && vd_h264_enc_encode(e, f, &pkt, &len, NULL, &err) == 0;
        ok = ok && vd__stage_request_pack_h264(model_id, f, pkt, len, "test/h264/0", args, &req,
                                               &err) == 0;
        char svc[64];
        snprintf(svc, sizeof svc, "svc.%s", service);
        if (ok && i == frames / 2) { /* a lost packet: the next is refused */
            vd_buf skip = {0};
            unsigned char *p2 = NULL;
            size_t l2 = 0;
            vd_frame *f2 = vd_frame_ref(f);
            CHECK(vd_h264_enc_encode(e, f2, &p2, &l2, NULL, &err) == 0);
            CHECK(vd__stage_request_pack_h264(model_id, f2, p2, l2, "test/h264/0", args, &skip,
                                              &err) == 0);
            int rc = vd_transport_call(tr, "host", svc, &skip, &resp, 10000, &err);
            CHECKF(rc == VD_EREMOTE && err.remote == VD_ESTATE,
                   "a packet after a gap: rc %d remote %d (%s)", rc, err.remote, err.msg);
            vd_buf_free(&resp);
            vd_buf_free(&skip);
            free(p2);
            vd_frame_free(f2);
            vd_h264_enc_keyframe(e); /* what the edge does: resync */
            vd_buf_free(&req);
            free(pkt);
            pkt = NULL;
            ok = vd_h264_enc_encode(e, f, &pkt, &len, NULL, &err) == 0 &&
                 vd__stage_request_pack_h264(model_id, f, pkt, len, "test/h264/0", args, &req,
                                             &err) == 0;
        }
        bytes += len;
        ok = ok && vd_transport_call(tr, "host", svc, &req, &resp, 10000, &err) == 0;
        ok = ok && vd__stage_reply_unpack(&resp, "host", service, &ro, NULL, &err) == 0;
        CHECKF(ok, "%s over H.264, frame %d: %s", service, i, err.msg);
        int n;
        g->frames++;
        g->l_in_r += matched(lo, ro, 0.6, &n);
        g->local += n;
        g->r_in_l += matched(ro, lo, 0.6, &n);
        g->remote += n;
        free(pkt);
        vd_buf_free(&req);
        vd_buf_free(&resp);
        json_decref(lo);
        json_decref(ro);
        vd_frame_free(f);
    }
    printf("%s over H.264 at 480p: %.0f bytes per frame\n", service, (double)bytes / frames);
    json_decref(args);
    vd_h264_enc_free(e);
    vd_source_close(src);
}

static void bad_requests(vd_transport *tr)
{
    vd_error err = {0};
    unsigned char blob[100] = {0};
    const char *hdrs[] = {"{\"model_id\":0,\"args\":{},\"parts\":[10,20]}",  /* sum != 100 */
                          "{\"model_id\":0,\"args\":{},\"parts\":[50,-50]}", /* negative */
                          "{\"model_id\":0,\"args\":{},\"parts\":[20,20,20,20,20]}", /* > 4 */
                          "{\"model_id\":0,\"args\":{},\"parts\":[50,50]}"};         /* not JPEGs */
    const char *want[] = {"parts", "parts", "parts", "JPEG"};
    for (int i = 0; i < 4; i++) {
        json_t *h = json_loads(hdrs[i], 0, NULL);
        vd_buf req, resp = {0};
        CHECK(vd_msg_pack(h, blob, sizeof blob, &req, &err) == 0);
        json_decref(h);
        int rc = vd_transport_call(tr, "host", "svc.face_detection", &req, &resp, 5000, &err);
        CHECKF(rc < 0 && strstr(err.msg, want[i]), "bad request %d: rc %d, '%s'", i, rc, err.msg);
        vd_buf_free(&req);
        vd_buf_free(&resp);
    }
}

int main(void)
{
    vd_error err = {0};
    vd_transport *tr = NULL;
    vd_svchost *h = NULL;
    CHECK(vd_transport_inproc_new(&tr, &err) == 0);
    vd_node_opts o = {.name = "host", .tr = tr, .svc_threads = 1, .kb_path = "/dev/null"};
    CHECK(vd_svchost_start(&o, &h, &err) == 0);
    if (!h) return vt_finish();
    agree g;
    compare(tr, h, "Megamind.avi", "face_detection", 0, 40, &g);
    CHECKF(g.frames == 40 && g.same == 40 && g.local >= 30 && g.l_in_r >= 0.9 * g.local &&
               g.r_in_l >= 0.9 * g.remote,
           "faces: %d frames, %d the same as here on the JPEG; %d local boxes (%d found "
           "remotely), %d remote (%d found locally)",
           g.frames, g.same, g.local, g.l_in_r, g.remote, g.r_in_l);
    compare_h264(tr, h, "Megamind.avi", "face_detection", 0, 30, &g);
    CHECKF(g.frames == 30 && g.local >= 20 && g.l_in_r >= 0.9 * g.local &&
               g.r_in_l >= 0.9 * g.remote,
           "faces over H.264: %d frames; %d local boxes (%d found remotely), %d remote (%d found "
           "locally)",
           g.frames, g.local, g.l_in_r, g.remote, g.r_in_l);
    compare(tr, h, "vtest.avi", "object_detection", 1, 20, &g);
    CHECKF(g.frames == 20 && g.same == 20 && g.local >= 100 && g.l_in_r >= 0.9 * g.local &&
               g.r_in_l >= 0.9 * g.remote,
           "objects: %d frames, %d the same as here on the JPEG; %d local boxes (%d found "
           "remotely), %d remote (%d found locally)",
           g.frames, g.same, g.local, g.l_in_r, g.remote, g.r_in_l);
    bad_requests(tr);
    /* the host still serves after bad requests */
    compare(tr, h, "Megamind.avi", "face_detection", 1, 5, &g);
    CHECKF(g.frames == 5 && g.same == 5, "after bad requests: %d/%d frames the same", g.same,
           g.frames);
    vd_svchost_stop(h);
    vd_transport_close(tr);
    vd_svchost_free(h);
    return vt_finish();
}
