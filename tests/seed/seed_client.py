#!/usr/bin/env python3
"""A client of vdag that behaves like the seed's front end and tools (video-dag-manager), with
Debian's python3-requests and nothing of vdag: it lists the nodes, submits a query to the first
one, polls its results, reads the rendered stream the way a browser <img> does (from the cloud
and from the node that runs the job), changes the constraint, and calls services with images
as the seed's field_codec_utils wrote them. Every request and reply is in the seed's shapes
(its README). Exit 0 when everything held; else the first failure, and 1.

usage: seed_client.py URL IMAGE.jpg
"""
import ast
import sys
import time

import requests

URL, IMAGE = sys.argv[1].rstrip("/"), sys.argv[2]
s = requests.Session()  # keep-alive, as the seed's clients


def check(cond, what, detail=""):
    if not cond:
        print("FAIL: %s %s" % (what, detail), flush=True)
        sys.exit(1)
    print("ok: " + what, flush=True)


def read_mjpeg(url, frames=2, timeout=30):
    """What a browser <img src=url> does with multipart/x-mixed-replace: parts, each a JPEG."""
    r = s.get(url, stream=True, timeout=timeout)
    check(r.status_code == 200, "GET %s: 200" % url[len(URL):] if url.startswith(URL) else url,
          r.status_code)
    ctype = r.headers.get("Content-Type", "")
    check(ctype.startswith("multipart/x-mixed-replace") and "boundary=" in ctype,
          "a multipart/x-mixed-replace stream", ctype)
    boundary = b"--" + ctype.split("boundary=")[1].strip().encode()
    buf, jpegs, t0 = b"", [], time.time()
    for chunk in r.iter_content(chunk_size=8192):
        buf += chunk
        while True:
            start = buf.find(boundary)
            head_end = buf.find(b"\r\n\r\n", start) if start >= 0 else -1
            if head_end < 0:
                break
            headers = buf[start + len(boundary):head_end].decode("latin-1").lower()
            n = int(headers.split("content-length:")[1].split("\r\n")[0])
            body_start = head_end + 4
            if len(buf) < body_start + n:
                break
            jpegs.append(buf[body_start:body_start + n])
            buf = buf[body_start + n:]
        if len(jpegs) >= frames or time.time() - t0 > timeout:
            break
    r.close()
    return jpegs


# 1. the front end lists the nodes and their videos
st = s.get(URL + "/user/get_all_status", timeout=10).json()
check(st["status"] == 0 and st["data"], "get_all_status: {status: 0, data: {node: {video}}}")
node_addr = list(st["data"])[0]  # the first listed node, as a front end's default
videos = st["data"][node_addr]["video"]
check(videos and all("type" in v for v in videos.values()), "the first node has videos", videos)
video_id = int(sorted(videos)[0])

# 2. a query: the seed's example with that node and video
q = {"node_addr": node_addr, "video_id": video_id,
     "pipeline": ["face_detection", "face_alignment"],
     "user_constraint": {"delay": 0.8, "accuracy": 0.9}}
r = s.post(URL + "/query/submit_query", json=q, timeout=10).json()
check(r["status"] == 0 and r.get("query_id"), "submit_query with the first node", r)
job = r["query_id"]

# 3. poll sync_job_result until results flow
res = None
for _ in range(300):
    res = s.get(URL + "/user/sync_job_result/" + job, timeout=10).json()
    if res["status"] == 0 and len(res["result"]["appended_result"]) >= 3:
        break
    time.sleep(0.2)
app, latest = res["result"]["appended_result"], res["result"]["latest_result"]
check(len(app) >= 3 and all("n_loop" in a for a in app), "sync_job_result: appended_result")
check("total" in app[-1]["count_result"] and "up" in app[-1]["count_result"],
      "appended_result: count_result {up, total}", app[-1].get("count_result"))
plan = latest["plan"]
vc, fm = plan["video_conf"], plan["flow_mapping"]
check(set(fm) == {"face_detection", "face_alignment"} and
      all(isinstance(m["model_id"], int) and m["node_role"] in ("host", "edge", "cloud") and
          m["node_ip"] for m in fm.values()), "latest_result.plan.flow_mapping", fm)
check(isinstance(vc["fps"], (int, float)) and vc["fps"] > 0 and vc["resolution"].endswith("p")
      and isinstance(vc["nskip"], int) and "encoder" in vc, "video_conf with numbers", vc)
d = latest["plan_result"]["delay"]
check(all(isinstance(d[k], float) and d[k] > 0 for k in fm), "plan_result.delay per stage", d)

# 4. the rendered stream, as an <img> would read it: from the cloud, then from the node
for base, who in ((URL, "cloud"),
                  ("http://" + st["data"][node_addr]["addr"], "the node")):
    frames = read_mjpeg(base + "/user/video/" + job)
    check(len(frames) >= 2 and all(f[:2] == b"\xff\xd8" and f[-2:] == b"\xff\xd9" for f in frames),
          "/user/video from %s: JPEG frames" % who, [len(f) for f in frames])

# 5. a new constraint
r = s.post(URL + "/user/submit_job_user_constraint",
           json={"job_uid": job, "user_constraint": {"delay": 0.3, "accuracy": 10}},
           timeout=10).json()
check(r["status"] == 0, "submit_job_user_constraint", r)
res = s.get(URL + "/user/sync_job_result/" + job, timeout=10).json()
check(res["job"]["user_constraint"]["delay"] == 0.3, "the new constraint holds")

# 6. the services, with an image as the seed's field_codec_utils encoded it: str(bytes)
jpg = open(IMAGE, "rb").read()
img = str(jpg)
det = s.post(URL + "/execute_task/face_detection", json={"image": img}, timeout=60).json()
check(det["bbox"] and len(det["prob"]) == len(det["bbox"]) and
      all(len(b) == 4 for b in det["bbox"]), "execute_task/face_detection: {bbox, prob}")
ali = s.post(URL + "/execute_task/face_alignment",
             json={"image": img, "bbox": det["bbox"], "prob": det["prob"]}, timeout=60).json()
out = ast.literal_eval(ali["image"])  # the seed decoded it with eval()
check(isinstance(out, bytes) and out[:2] == b"\xff\xd8" and
      ali["count_result"]["total"] == len(det["bbox"]),
      "execute_task/face_alignment: {image (rendered), count_result {up, total}}",
      ali.get("count_result"))

s.post(URL + "/user/stop_job/" + job, timeout=10)
print("seed client: all checks passed")
