#!/usr/bin/env python3
"""Write the fuzz harnesses' seed corpora into tests/fuzz/<harness>/ (run from anywhere;
idempotent). Small valid inputs of each format, plus a few near misses; the fuzzer grows
its own corpus from them (make fuzz keeps that in the build directory, not here). JPEG
seeds need ffmpeg and the media cache (scripts/setup.sh). Inputs of fixed crashes are kept
beside the seeds as crash-*; this script does not touch them."""
import base64
import json
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("VDAG_CACHE", os.path.expanduser("~/.cache/vdag"))


def put(harness, name, data):
    d = os.path.join(HERE, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def js(o):
    return json.dumps(o, separators=(",", ":"))


# ---- DAG ---------------------------------------------------------------------------------
SEED_DAG = {"generator": "SingleFrameGenerator",
            "flow": ["SingleFrameGenerator", "face_detection", "face_alignment"],
            "input": {"face_detection": {"image": "SingleFrameGenerator.image"},
                      "face_alignment": {"image": "SingleFrameGenerator.image",
                                         "bbox": "face_detection.bbox",
                                         "prob": "face_detection.prob"}}}
put("dag", "seed_readme", js(SEED_DAG))
put("dag", "pipeline", js({"pipeline": ["face_detection", "face_alignment"]}))
put("dag", "pose", js({"pipeline": ["object_detection", "pose_estimation"]}))
put("dag", "clip", js({"generator": "ClipGenerator", "clip_len": 3,
                       "flow": ["ClipGenerator", "object_detection"],
                       "input": {"object_detection": {"image": "ClipGenerator.clip"}}}))
bad = json.loads(js(SEED_DAG))
bad["input"]["face_alignment"]["bbox"] = "face_detection.boxes"
put("dag", "bad_field", js(bad))
cyc = json.loads(js(SEED_DAG))
cyc["input"]["face_detection"]["bbox"] = "face_alignment.bbox"
put("dag", "cycle", js(cyc))
put("dag", "not_json", '{"generator": "SingleFrameGenerator", "flow": [')
# zone_count's config (a literal input, parsed and checked with the DAG: src/svc/zone_config.c)
ZONES_DAG = {"generator": "SingleFrameGenerator",
             "flow": ["SingleFrameGenerator", "object_detection", "zone_count"],
             "input": {"object_detection": {"image": "SingleFrameGenerator.image"},
                       "zone_count": {"bbox": "object_detection.bbox",
                                      "labels": "object_detection.labels",
                                      "track_ids": "object_detection.track_ids",
                                      "config": {"units": "fraction", "anchor": "bottom_center",
                                                 "margin": 0.02, "classes": ["person"],
                                                 "lines": [{"name": "street",
                                                            "points": [[0, 0.55], [1, 0.55]],
                                                            "margin": 0.03}],
                                                 "zones": [{"name": "walk",
                                                            "points": [[0, 0.3], [0.35, 0.3],
                                                                       [0.35, 1], [0, 1]],
                                                            "classes": ["person", "bicycle"]}]}}}}
put("dag", "zones", js(ZONES_DAG))
px = json.loads(js(ZONES_DAG))
px["input"]["zone_count"]["config"] = {"lines": [{"name": "l", "points": [[10, 300], [700, 310]]}]}
put("dag", "zones_px", js(px))
bow = json.loads(js(ZONES_DAG))
bow["input"]["zone_count"]["config"]["zones"][0]["points"] = [[0, 0], [1, 1], [1, 0], [0, 1]]
put("dag", "zones_bowtie", js(bow))
two = json.loads(js(ZONES_DAG))
two["input"]["zone_count"]["config"]["zones"][0]["points"] = [[0, 0], [1, 1]]
two["input"]["zone_count"]["config"]["zones"][0]["colour"] = "red"
put("dag", "zones_bad", js(two))

# ---- plan and the job protocol -----------------------------------------------------------
README_PLAN = {"flow_mapping": {"face_detection": {"model_id": 0, "node_ip": "192.168.56.102",
                                                    "node_role": "host"},
                                 "face_alignment": {"model_id": 0, "node_ip": "192.168.56.102",
                                                    "node_role": "cloud"}},
               "video_conf": {"encoder": "H264", "fps": 24, "nskip": 0, "ntracking": 5,
                              "resolution": "360p"}}
put("plan", "readme_plan", js(README_PLAN))
put("plan", "submit_query", js({"node_addr": "192.168.56.102:7000", "video_id": 1,
                                "pipeline": ["face_detection", "face_alignment"],
                                "user_constraint": {"delay": 0.8, "accuracy": 0.9},
                                "scheduler": "fixed", "plan": README_PLAN, "max_frames": 30,
                                "loop": True}))
put("plan", "submit_job_wire", js({"job_uid": "a.1", "video_id": "0", "dag": SEED_DAG,
                                   "user_constraint": {"delay": [-1, 50], "acc_level": 5},
                                   "scheduler": "feedback", "max_frames": 0, "watch": True,
                                   "plan": README_PLAN, "plan_version": 3,
                                   "requested_plan": {"video_conf": {"resolution": "native"}}}))
put("plan", "get_job", js({"job_uid": "a.1", "node": "e1", "state": "EXEC", "video_id": "0",
                           "dag": SEED_DAG, "user_constraint": {}, "scheduler": "fixed",
                           "max_frames": 5, "watch": False, "plan": README_PLAN,
                           "plan_version": 2}))
put("plan", "pose_plan", js({"video_conf": {"resolution": 480, "fps": 12.5, "nskip": 2},
                             "flow_mapping": {"object_detection": {"model_id": 1, "node": "e2"},
                                              "pose_estimation": {"node_role": "cloud"}}}))

# ---- VDM1 messages, JPEG strips ------------------------------------------------------------
def vdm1(hdr, blob=b""):
    h = js(hdr).encode()
    return b"VDM1" + struct.pack(">I", len(h)) + h + blob


def jpeg(w, h, crop=None):
    img = os.path.join(CACHE, "media", "messi5.jpg")
    vf = "scale=%d:%d" % (w, h) + (",crop=%s" % crop if crop else "")
    with tempfile.TemporaryDirectory() as t:
        out = os.path.join(t, "o.jpg")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", img, "-vf", vf, "-q:v", "8",
                        "-pix_fmt", "yuvj420p", out], check=True)
        return open(out, "rb").read()


try:
    one = jpeg(48, 32)
    s0, s1 = jpeg(48, 32, "48:16:0:0"), jpeg(48, 32, "48:16:0:16")
except (OSError, subprocess.CalledProcessError) as e:
    sys.exit("make_seeds: JPEG seeds need ffmpeg and %s/media/messi5.jpg: %s" % (CACHE, e))
stage = {"model_id": 0, "args": {}, "src_w": 640, "src_h": 427, "cam_frame_id": 7}
put("msg", "stage_one_jpeg", vdm1(stage, one))
put("msg", "stage_two_strips", vdm1(dict(stage, parts=[len(s0), len(s1)]), s0 + s1))

# ---- cascades: 0 spec, 1 a unit's request, 2 a caller's reply -------------------------------
put("cascade", "spec", b"\x00cascade:nanodet@0.3..0.45>centernet")
put("cascade", "spec_max", b"\x00blazeface-front@max:0.5..0.8>blazeface-back")
put("cascade", "spec_bad", b"\x00nanodet@0.5..0.2>nanodet")
chain = [{"model": "blazeface-front", "rule": "band", "lo": 0.5, "hi": 0.8},
         {"model": "blazeface-back", "rule": "band", "lo": 0, "hi": 0.5}]
unit = {"id": "1-2-3", "service": "face_detection", "pos": 0, "chain": chain, "budget_ms": 500,
        "fallback": False, "src_w": 640, "src_h": 427}
put("cascade", "request", b"\x01" + vdm1(unit, one))
put("cascade", "request_fallback", b"\x01" + vdm1(dict(unit, fallback=True, chain=[
    dict(chain[0], hi=1.0), chain[1]]), one))
put("cascade", "reply", b"\x02" + vdm1({"id": "1-2-3", "unit": 1, "model": "blazeface-back",
                                         "node": "b1", "confident": True, "fallback": False,
                                         "output": {"bbox": [], "prob": [], "landmarks": []},
                                         "ms": 3.5}))
put("msg", "submit_job", vdm1({"job_uid": "m.1", "video_id": "0", "dag": SEED_DAG,
                               "plan": README_PLAN, "plan_version": 1}))
put("msg", "update_plan", vdm1({"job_uid": "m.1", "video_conf": README_PLAN["video_conf"],
                                "flow_mapping": README_PLAN["flow_mapping"]}))
put("msg", "short", b"VDM1\x00\x00\x00\x10{}")
put("msg", "model_manifest", vdm1({"model": "blazeface-front"}))
put("msg", "model_chunk", vdm1({"model": "blazeface-front", "file": "blazeface-front.bin",
                                "offset": 400000}))
put("jpeg", "one", b"\x00" + struct.pack(">I", len(one)) + one)
put("jpeg", "two_strips", b"\x01" + struct.pack(">II", len(s0), len(s1)) + s0 + s1)
put("jpeg", "plain", one)

# ---- HTTP: route bodies, raw requests ---------------------------------------------------------
img_py = str(one)
routes = {  # route path -> bodies (fuzz_routes picks the route by byte 0; see its comment)
    "/query/submit_query": [js({"node_addr": "edge", "video_id": 0,
                                "pipeline": ["face_detection"],
                                "user_constraint": {"delay": 0.3}})],
    "/user/submit_job": [js({"node_addr": "127.0.0.1:5000", "video_id": 0, "dag": SEED_DAG})],
    "/node/get_plan": [js({"job_uid": "x.1", "dag": SEED_DAG, "node_addr": "edge",
                           "video_id": 0, "last_plan_result": {"delay": {"face_detection": 0.1}},
                           "user_constraint": {"delay": 0.5}})],
    "/query/sync_result": [js({"job_uid": "x.1", "job_result": {"appended_result": {"n_loop": 1},
                                                              "latest_result": {"plan": README_PLAN}}})],
    "/node/join": [js({"node_port": 7000, "video_id": 3, "video_type": "traffic"})],
    "/node/update_plan": [js(dict(README_PLAN, job_uid="x.1"))],
    "/job/submit_job": [js({"job_uid": "j.1", "node_addr": "edge", "video_id": 0,
                            "pipeline": ["object_detection"]})],
    "/user/submit_job_user_constraint": [js({"job_uid": "x.1", "user_constraint": {"delay": 0.3}})],
    "/execute_task/": [js({"image": img_py}), js({"image": base64.b64encode(one).decode(),
                                                   "model_id": 0, "render": True})],
    # sources at run time: refused without a job thread (no such file; nothing listens on 9)
    "/node/video": [js({"node": "edge", "video_id": "f1", "url": "/nonexistent/v.avi",
                        "type": "street", "loop": True, "reconnect_timeout": 5}),
                    js({"video_id": 7, "url": "rtsp://127.0.0.1:9/x?udp"})],
}
ROUTE_ORDER = []  # the harness's route order is its table's: give each body to every route
for path, bodies in routes.items():
    for k, b in enumerate(bodies):
        tail = "face_detection\n" if path.endswith("/") else "\n"
        for idx in range(0, 48, 7):  # a spread of route indices; the fuzzer finds the rest
            put("routes", "%s_%d_%d" % (path.strip("/").replace("/", "_"), k, idx),
                bytes([idx]) + tail.encode() + b.encode())


def http(method, path, body=b"", token=True, extra=""):
    h = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % (method, path)
    if token:
        h += "Authorization: Bearer fuzz\r\n"
    if body:
        h += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    h += extra + "Connection: close\r\n\r\n"
    return h.encode() + body


put("http", "get_all_status", http("GET", "/user/get_all_status"))
put("http", "no_token", http("GET", "/user/get_all_status", token=False))
put("http", "submit_query", http("POST", "/query/submit_query", routes["/query/submit_query"][0].encode()))
put("http", "execute_jpeg", http("POST", "/execute_task/face_detection?model_id=1", one,
                                 extra="X-Vdag-Args: {}\r\n").replace(
    b"Content-Type: application/json", b"Content-Type: image/jpeg"))
put("http", "chunked", b"POST /node/get_plan HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer fuzz\r\n"
    b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n{\"job\r\n0\r\n\r\n")
put("http", "sync", http("GET", "/user/sync_job_result/nojob"))
put("http", "options", http("OPTIONS", "/query/submit_query"))
# main's additions: a CORS preflight from the allowed origin, a signed URL asked and used,
# a batch upload (a few bytes that are no video) and its listing
put("http", "preflight", http("OPTIONS", "/query/submit_query", token=False,
                              extra="Origin: http://fuzz.example\r\nAccess-Control-Request-Method: "
                                    "POST\r\nAccess-Control-Request-Headers: content-type\r\n"))
put("http", "sign_url", http("GET", "/auth/sign_url?path=/user/video/x.1&ttl=60"))
put("http", "signed_get", http("GET", "/user/video/x.1?exp=9999999999&sig=00ff", token=False))
put("http", "upload", http("POST", "/videos?model=nanodet&frames=5", b"RIFF\0\0\0\0AVI LIST").replace(
    b"Content-Type: application/json", b"Content-Type: video/x-msvideo"))
put("http", "videos", http("GET", "/videos"))

# ---- model.json + weights --------------------------------------------------------------------
def b64(s):
    return base64.b64encode(s.encode()).decode()


def shape(dims):
    return {"dim": [{"size": str(d)} for d in dims]}


class Model:
    def __init__(self, in_shape):
        self.nodes = [{"name": "input", "op": "Placeholder",
                       "attr": {"dtype": {"type": "DT_FLOAT"}, "shape": {"shape": shape(in_shape)}}}]
        self.weights, self.blob = [], b""

    def const(self, name, dims, values, dtype="float32", quant=None):
        dt = "DT_INT32" if dtype == "int32" else "DT_FLOAT"
        self.nodes.append({"name": name, "op": "Const",
                           "attr": {"value": {"tensor": {"dtype": dt, "tensorShape": shape(dims)}},
                                    "dtype": {"type": dt}}})
        w = {"name": name, "shape": dims, "dtype": dtype}
        if quant == "uint8":
            lo, hi = min(values), max(values)
            scale = (hi - lo) / 255 or 1.0
            w["quantization"] = {"dtype": "uint8", "min": lo, "scale": scale}
            self.blob += bytes(int(round((v - lo) / scale)) for v in values)
        elif quant == "float16":
            w["quantization"] = {"dtype": "float16"}
            self.blob += b"".join(struct.pack("<e", v) for v in values)
        else:
            self.blob += b"".join(struct.pack("<i" if dtype == "int32" else "<f", v) for v in values)
        self.weights.append(w)
        return name

    def op(self, name, op, inputs, **attr):
        self.nodes.append({"name": name, "op": op, "input": inputs, "attr": attr})
        return name

    def dump(self):
        doc = {"format": "graph-model", "generatedBy": "vdag make_seeds.py",
               "modelTopology": {"node": self.nodes},
               "weightsManifest": [{"paths": ["w.bin"], "weights": self.weights}]}
        return json.dumps(doc).encode() + b"\x00" + self.blob


T = {"T": {"type": "DT_FLOAT"}}
ONES = {"list": {"i": ["1", "1", "1", "1"]}}
SAME, NHWC = {"s": b64("SAME")}, {"s": b64("NHWC")}

m = Model([1, 8, 8, 3])
w = m.const("w", [3, 3, 3, 4], [((i * 7) % 11 - 5) / 10 for i in range(108)])
b = m.const("b", [4], [0.1, -0.1, 0.2, 0.0])
m.op("conv", "_FusedConv2D", ["input", w, b], **T, strides=ONES, dilations=ONES, padding=SAME,
     data_format=NHWC, num_args={"i": "1"}, fused_ops={"list": {"s": [b64("BiasAdd"), b64("Relu")]}})
put("model", "fused_conv", m.dump())

m = Model([1, 8, 8, 4])
w = m.const("dw", [3, 3, 4, 1], [((i * 5) % 9 - 4) / 8 for i in range(36)], quant="uint8")
m.op("dwc", "DepthwiseConv2dNative", ["input", w], **T, strides=ONES, dilations=ONES,
     padding=SAME, data_format=NHWC)
m.op("add", "AddV2", ["dwc", "input"], **T)
m.op("relu", "Relu", ["add"], **T)
m.op("pool", "MaxPool", ["relu"], **T, strides={"list": {"i": ["1", "2", "2", "1"]}},
     ksize={"list": {"i": ["1", "2", "2", "1"]}}, padding=SAME, data_format=NHWC)
s = m.const("shape", [2], [1, -1], dtype="int32")
m.op("flat", "Reshape", ["pool", s], **T, Tshape={"type": "DT_INT32"})
m.op("Identity", "Identity", ["flat"], **T)
put("model", "dw_add_pool_uint8", m.dump())

m = Model([1, 4, 4, 2])
k = m.const("k", [2], [0.5, 2.0], quant="float16")
m.op("mul", "Mul", ["input", k], **T)
m.op("sig", "Sigmoid", ["mul"], **T)
ax = m.const("axis", [], [3], dtype="int32")
m.op("cat", "ConcatV2", ["sig", "input", ax], **T, N={"i": "2"}, Tidx={"type": "DT_INT32"})
pads = m.const("pads", [4, 2], [0, 0, 1, 1, 1, 1, 0, 0], dtype="int32")
m.op("pad", "Pad", ["cat", pads], **T, Tpaddings={"type": "DT_INT32"})
red = m.const("red", [2], [1, 2], dtype="int32")
m.op("mean", "Mean", ["pad", red], **T, keep_dims={"b": False}, Tidx={"type": "DT_INT32"})
put("model", "mul_sigmoid_concat_pad_mean_f16", m.dump())

m = Model([1, 4, 4, 3])
size = m.const("size", [2], [8, 8], dtype="int32")
m.op("up", "ResizeBilinear", ["input", size], **T, align_corners={"b": False},
     half_pixel_centers={"b": True})
perm = m.const("perm", [4], [0, 3, 1, 2], dtype="int32")
m.op("tr", "Transpose", ["up", perm], **T, Tperm={"type": "DT_INT32"})
put("model", "resize_transpose", m.dump())
put("model", "no_manifest", b'{"format":"graph-model","modelTopology":{"node":[]}}\x00')
print("make_seeds: corpora written under", HERE)
