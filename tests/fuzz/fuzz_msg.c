/*
 * Fuzz: the VDM1 message framing ("VDM1", u32 header length, JSON header, blob) as a node
 * receives it: unpacked, then handed to what takes messages from the transport: a stage
 * request (its header's "parts" and the JPEG strips it describes, decoded in parallel, or an
 * H.264 packet of a stream, "codec": "h264") and
 * the edge's commands (node.submit_job and the rest, on an edge without videos, so nothing
 * starts), and a cloud's model.get (model files by name and offset, models.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/node_internal.h"
#include "vdag/media.h"
#include "vdag/net.h"
#include "vdag/node.h"

static vd_jpeg_coder *jc;
static vd__h264_streams *hs;
static vd_transport *tr;
static vd_edge *edge;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    vd_error err = {0};
    vd_node_opts o = {.name = "e1", .threads = 1};
    if (vd_jpeg_coder_new(2, &jc, &err) || vd__h264_streams_new(&hs, &err) ||
        vd_transport_inproc_new(&tr, &err))
        abort();
    o.tr = tr;
    if (vd_edge_start(&o, NULL, &edge, &err) || vd__models_serve(tr, "c1", &err)) abort();
    return 0;
}

static const char *const cmds[] = {"node.submit_job", "node.update_plan", "node.stop_job",
                                   "node.watch",      "node.get_runtime", "node.get_kb",
                                   "node.get_job"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *hdr = NULL;
    const unsigned char *blob;
    size_t bl;
    vd_error err = {0};
    if (vd_msg_unpack(data, size, &hdr, &blob, &bl, &err) == 0) {
        if (blob < data || blob + bl != data + size) abort(); /* the blob is the rest */
        json_decref(hdr);
    }
    vd_buf req = {(unsigned char *)data, size};
    vd_frame *f = NULL;
    if (vd__stage_request_decode(jc, hs, &req, &hdr, &f, &err) == 0) {
        if (!f || f->width < 1 || f->height < 1) abort();
        vd_frame_free(f);
        json_decref(hdr);
    }
    /* one command per input, picked by the input's length */
    vd_buf resp = {0};
    if (vd_transport_call(tr, "e1", cmds[size % 7], &req, &resp, 1000, &err) == 0)
        vd_buf_free(&resp);
    if (vd_transport_call(tr, "c1", "model.get", &req, &resp, 1000, &err) == 0) vd_buf_free(&resp);
    return 0;
}
