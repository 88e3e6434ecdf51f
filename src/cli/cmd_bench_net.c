/*
 * vdag bench remote: what running a stage on another node adds over running it here.
 *
 * One 480p frame; N interleaved iterations of (a) the stage through a local service host
 * (vd_svchost_execute) and (b) the same stage the way the edge's remote_stage calls it:
 * JPEG-encode (quality 85, VD_STAGE_JPEG_PARTS strips coded in parallel), vd_msg_pack,
 * vd_transport_call to "bench-host"
 * "svc.<service>", unpack. Over NATS the service host sits on a second connection, so
 * every request really crosses nats-server. Each iteration also times the pieces (encode,
 * decode, the host's own execute time, an echo round trip with the same request and one
 * with an empty request) to show where the extra time goes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "vdag/base.h"
#include "vdag/media.h"
#include "vdag/net.h"
#include "vdag/node.h"

#define HOST_NODE       "bench-host"
#define CALL_TIMEOUT_MS 10000

/* ---- the benchmark ---------------------------------------------------------------------- */

/* Echo service: a reply as small as a stage's, to time the bare round trip of the request. */
static int serve_echo(void *arg, const vd_buf *req, vd_buf *resp, vd_error *err)
{
    (void)arg, (void)req;
    resp->data = malloc(2);
    if (!resp->data) return vd_fail(err, VD_ENOMEM, "out of memory");
    memcpy(resp->data, "{}", 2);
    resp->len = 2;
    return 0;
}

void vd_usage_bench_remote(FILE *f)
{
    fprintf(f,
            "usage: vdag bench remote [--transport nats|inproc] [--nats URL] [--frames N] "
            "[--warmup N]\n"
            "                         [--quality Q (85, as the edge)] [--parts N (strips, 2)]\n"
            "                         [--service face_detection] [--model 0] [--resolution 480]\n"
            "  Without --nats, starts a private nats-server on a free loopback port.\n");
}

typedef struct samples {
    double *local, *remote, *diff, *enc, *dec, *call, *srv, *echo, *echo0;
} samples;

/* The stage through the transport, as the edge's remote_stage does it. */
static int remote_once(vd_transport *t, vd_jpeg_coder *jc, const char *service, int model_id,
                       const vd_frame *f, json_t *args, int quality, size_t *jpeg_bytes,
                       double *enc_ms, double *call_ms, double *srv_ms, vd_error *err)
{
    vd_jpeg_parts img;
    double t0 = vd_now_ms();
    int rc = vd_jpeg_coder_encode(jc, f, quality, &img, err);
    *enc_ms = vd_now_ms() - t0;
    if (rc) return rc;
    *jpeg_bytes = img.len;
    json_t *out = NULL;
    double t1 = vd_now_ms();
    rc = vd_stage_call(t, HOST_NODE, service, model_id, f, &img, args, CALL_TIMEOUT_MS, &out,
                       srv_ms, err);
    *call_ms = vd_now_ms() - t1;
    free(img.data);
    json_decref(out);
    return rc;
}

/* A same-size message to the echo service: the transport's round trip alone. */
static int echo_once(vd_transport *t, vd_jpeg_coder *jc, const vd_frame *f, int quality, double *ms,
                     vd_error *err)
{
    vd_jpeg_parts img;
    int rc = vd_jpeg_coder_encode(jc, f, quality, &img, err);
    if (rc) return rc;
    json_t *hdr = json_pack("{s:i,s:{},s:i,s:i,s:I}", "model_id", 0, "args", "src_w", f->src_width,
                            "src_h", f->src_height, "cam_frame_id", (json_int_t)f->cam_frame_id);
    vd_buf req, resp = {0};
    rc = vd_msg_pack(hdr, img.data, img.len, &req, err);
    json_decref(hdr);
    free(img.data);
    if (rc) return rc;
    double t0 = vd_now_ms();
    rc = vd_transport_call(t, HOST_NODE, "bench.echo", &req, &resp, CALL_TIMEOUT_MS, err);
    *ms = vd_now_ms() - t0;
    vd_buf_free(&req);
    vd_buf_free(&resp);
    return rc;
}

static int load_frame(int res_h, vd_frame **out, vd_error *err)
{
    char img[600];
    vd_frame *src = NULL;
    *out = NULL;
    if (vd_media_path("messi5.jpg", img, sizeof img))
        return vd_fail(err, VD_ENOTFOUND,
                       "messi5.jpg is not in the media cache (run `make setup` first)");
    int rc = vd_image_load(img, &src, err);
    if (rc) return rc;
    int w = (int)((double)src->width * res_h / src->height + 0.5);
    w += w & 1; /* even width, like the sources */
    rc = vd_frame_scale(src, w, res_h, out, err);
    if (!rc) {
        (*out)->src_width = src->width;
        (*out)->src_height = src->height;
        (*out)->cam_frame_id = 0;
    }
    vd_frame_free(src);
    return rc;
}

static double med(double *v, int n)
{
    return vd_percentile(v, (size_t)n, 50);
}

int vd_cmd_bench_remote(int argc, char **argv)
{
    const char *nats_url = NULL, *service = "face_detection", *tname = "nats";
    int frames = 200, warmup = 10, model_id = 0, res_h = 480, quality = VD_STAGE_JPEG_QUALITY;
    int parts = VD_STAGE_JPEG_PARTS;
    static const char *const cmd = "bench remote";
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        static const char *const known[] = {"--nats",       "--transport", "--frames",  "--warmup",
                                            "--service",    "--model",     "--quality", "--parts",
                                            "--resolution", NULL};
        int k = 0, rc = 0;
        while (known[k] && strcmp(known[k], a)) k++;
        if (!known[k]) return vd_arg_unknown(cmd, a, vd_usage_bench_remote);
        if (!v) return vd_arg_missing(cmd, a, vd_usage_bench_remote);
        i++;
        if (!strcmp(a, "--nats"))
            nats_url = v;
        else if (!strcmp(a, "--transport"))
            tname = v;
        else if (!strcmp(a, "--frames"))
            rc = vd_arg_int(cmd, a, v, 1, 1000000, &frames);
        else if (!strcmp(a, "--warmup"))
            rc = vd_arg_int(cmd, a, v, 0, 1000000, &warmup);
        else if (!strcmp(a, "--service"))
            service = v;
        else if (!strcmp(a, "--model"))
            rc = vd_arg_int(cmd, a, v, 0, 64, &model_id);
        else if (!strcmp(a, "--quality"))
            rc = vd_arg_int(cmd, a, v, 1, 100, &quality);
        else if (!strcmp(a, "--parts"))
            rc = vd_arg_int(cmd, a, v, 1, VD_JPEG_MAX_PARTS, &parts);
        else if ((res_h = vd_resolution_parse(v)) < 16)
            return vd_arg_error(cmd, NULL, "--resolution '%s': expected a height 16..4320", v);
        if (rc) return rc;
    }
    int use_nats = !strcmp(tname, "nats");
    if (!use_nats && strcmp(tname, "inproc"))
        return vd_arg_error(cmd, NULL, "--transport '%s': expected nats or inproc", tname);
    if (nats_url && !use_nats) return vd_arg_error(cmd, NULL, "--nats is for --transport nats");

    vd_error err = {0};
    vd_nats_server *np = NULL;           /* a private server when no --nats URL is given */
    vd_transport *tc = NULL, *ts = NULL; /* caller's and host's connections */
    vd_svchost *local = NULL, *remote = NULL;
    vd_frame *f = NULL;
    vd_jpeg_coder *jc = NULL, *jd = NULL; /* the caller's encoder; a decoder like the host's */
    json_t *args = json_object();
    samples s = {0};
    double **cols[] = {&s.local, &s.remote, &s.diff, &s.enc,  &s.dec,
                       &s.call,  &s.srv,    &s.echo, &s.echo0};
    int rc = 0;
    for (size_t k = 0; k < sizeof cols / sizeof *cols; k++)
        if (!(*cols[k] = calloc((size_t)frames, sizeof(double))))
            rc = vd_fail(&err, VD_ENOMEM, "out of memory");
    if (!rc) rc = load_frame(res_h, &f, &err);
    if (!rc) rc = vd_jpeg_coder_new(parts, &jc, &err);
    if (!rc) rc = vd_jpeg_coder_new(VD_STAGE_JPEG_PARTS, &jd, &err);
    if (!rc && use_nats) {
        if (!nats_url) {
            rc = vd_nats_server_start(NULL, &np, &err);
            if (rc)
                snprintf(err.msg + strlen(err.msg), sizeof err.msg - strlen(err.msg), "%s",
                         "; or pass --nats URL, or use --transport inproc");
            else
                nats_url = vd_nats_server_url(np);
        }
        if (!rc) rc = vd_transport_nats_new(nats_url, "bench-caller", &tc, &err);
        if (!rc) rc = vd_transport_nats_new(nats_url, HOST_NODE, &ts, &err);
    } else if (!rc) {
        rc = vd_transport_inproc_new(&tc, &err);
        ts = tc;
    }
    /* profile=0 and kb_path /dev/null: no background profiling competes with the timing */
    vd_node_opts lo = {.name = "bench-local", .svc_threads = 1, .kb_path = "/dev/null"};
    vd_node_opts ro = {.name = HOST_NODE, .tr = ts, .svc_threads = 1, .kb_path = "/dev/null"};
    if (!rc) rc = vd_svchost_start(&lo, &local, &err);
    if (!rc) rc = vd_svchost_start(&ro, &remote, &err);
    if (!rc) rc = ts->ops->serve(ts, HOST_NODE, "bench.echo", serve_echo, NULL, &err);

    size_t jpeg_bytes = 0;
    for (int i = 0; !rc && i < warmup + frames; i++) {
        int k = i - warmup, slot = k < 0 ? 0 : k;
        double enc = 0, call = 0, srv = 0, lms = 0, rms = 0, echo = 0;
        json_t *out = NULL;
        /* alternate which goes first so neither always follows the other */
        for (int pass = 0; pass < 2 && !rc; pass++) {
            if ((pass == 0) == (i % 2 == 0)) {
                double t0 = vd_now_ms();
                rc = vd_svchost_execute(local, service, model_id, f, args, &out, &err);
                lms = vd_now_ms() - t0;
                json_decref(out);
            } else {
                double t0 = vd_now_ms();
                rc = remote_once(tc, jc, service, model_id, f, args, quality, &jpeg_bytes, &enc,
                                 &call, &srv, &err);
                rms = vd_now_ms() - t0;
            }
        }
        if (!rc) rc = echo_once(tc, jc, f, quality, &echo, &err);
        double echo0 = 0; /* the same round trip with an empty request: the fixed cost */
        if (!rc) {
            vd_buf none = {NULL, 0}, r0 = {0};
            double t0 = vd_now_ms();
            rc = vd_transport_call(tc, HOST_NODE, "bench.echo", &none, &r0, CALL_TIMEOUT_MS, &err);
            echo0 = vd_now_ms() - t0;
            vd_buf_free(&r0);
        }
        if (rc || k < 0) continue;
        /* decode cost at the host (the strips, in parallel), timed here */
        vd_jpeg_parts img;
        vd_frame *d = NULL;
        rc = vd_jpeg_coder_encode(jc, f, quality, &img, &err);
        double t0 = vd_now_ms();
        if (!rc) rc = vd_jpeg_coder_decode(jd, &img, 0, 0, &d, &err);
        s.dec[k] = vd_now_ms() - t0;
        if (!rc) free(img.data);
        vd_frame_free(d);
        s.local[slot] = lms, s.remote[slot] = rms, s.diff[slot] = rms - lms;
        s.enc[slot] = enc, s.call[slot] = call, s.srv[slot] = srv, s.echo[slot] = echo;
        s.echo0[slot] = echo0;
    }
    if (rc) {
        fprintf(stderr, "vdag bench remote: %s\n", err.msg);
    } else {
        int n = frames;
        double lp90, rp90;
        double lmed = med(s.local, n), rmed = med(s.remote, n);
        lp90 = vd_percentile(s.local, (size_t)n, 90);
        rp90 = vd_percentile(s.remote, (size_t)n, 90);
        double dmed = med(s.diff, n);
        printf("{\"bench\":\"remote\",\"transport\":\"%s\",\"service\":\"%s\",\"model\":%d,"
               "\"width\":%d,\"height\":%d,\"frames\":%d,\"jpeg_quality\":%d,\"jpeg_parts\":%d,"
               "\"jpeg_bytes\":%zu,"
               "\"local_median_ms\":%.3f,\"local_p90_ms\":%.3f,"
               "\"remote_median_ms\":%.3f,\"remote_p90_ms\":%.3f,"
               "\"extra_median_ms\":%.3f,\"extra_paired_median_ms\":%.3f,"
               "\"encode_median_ms\":%.3f,\"decode_median_ms\":%.3f,\"call_median_ms\":%.3f,"
               "\"host_exec_median_ms\":%.3f,\"echo_rtt_median_ms\":%.3f,\"echo_empty_rtt_median_"
               "ms\":%.3f,"
               "\"target_extra_ms\":2,\"target_met\":%s}\n",
               tname, service, model_id, f->width, f->height, n, quality, parts, jpeg_bytes, lmed,
               lp90, rmed, rp90, rmed - lmed, dmed, med(s.enc, n), med(s.dec, n), med(s.call, n),
               med(s.srv, n), med(s.echo, n), med(s.echo0, n),
               !use_nats     ? "null"
               : dmed <= 2.0 ? "true"
                             : "false");
        fflush(stdout);
    }
    vd_svchost_stop(local);
    vd_svchost_stop(remote);
    if (ts != tc) vd_transport_close(ts);
    vd_transport_close(tc);
    vd_svchost_free(local);
    vd_svchost_free(remote);
    vd_nats_server_stop(np);
    vd_frame_free(f);
    vd_jpeg_coder_free(jc);
    vd_jpeg_coder_free(jd);
    json_decref(args);
    for (size_t k = 0; k < sizeof cols / sizeof *cols; k++) free(*cols[k]);
    return rc ? 1 : 0;
}
