#!/usr/bin/env python3
"""The scheduler evaluation harness's collector and report (bench/eval_sched.sh drives it).

  eval_sched.py poll --api URL --scheduler S --delay D [--accuracy A] --pipeline P --video ID --node EDGE
                     --iface IF --dir DIR [--token T] [--plan JSON]
      submits one job, then polls GET /user/sync_job_result/<job> every 0.2 s until DIR/stop
      exists: each new step result (by cam_frame_id) goes to DIR/frames.jsonl with the poll's
      wall time "t", the plan_version and the bytes IF has received so far ("rx": the edge's
      uplink, read in the cloud's namespace), each new plan change to DIR/changes.jsonl (the
      cloud keeps only the last 20); DIR/started appears with the first result. At the stop:
      the job is stopped and its last sync_job_result goes to DIR/final.json.
  eval_sched.py report --dir RUN --schedulers "a b" --delay D --schedule "50:60 5:60"
                       --oracle ORACLE.json --title T [--fps F]
      per scheduler (RUN/<s>/: frames.jsonl, final.json, steps (the step times), score.jsonl
      from `vdag eval score --out`): frames.csv, and the markdown table on stdout; RUN/run.json
      for `vdag eval plot`; RUN/summary.json.
  eval_sched.py oracle --vdag V --kb KB --pipeline P --delay D --schedule S --video PATH
                       --golden G --clip-frames N --frames N --edge-speed X --native-h H
                       --native-w W --native-fps F --dir RUN [--cpus 1]
      the offline oracle: per distinct rate of the schedule, `vdag eval oracle` (the kb's
      most accurate plan meeting the bound at that rate), replayed with `vdag run` on the
      first N frames of the footage (its video configuration and models; raw frames) and
      scored against the golden with `vdag eval score`; RUN/oracle.json.
"""
import math
import subprocess
import json
import os
import statistics
import sys
import time
import urllib.request


def api(base, method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read() or b"{}")


def rx_bytes(iface):
    with open("/sys/class/net/%s/statistics/rx_bytes" % iface) as f:
        return int(f.read())


def poll(a):
    os.makedirs(a["dir"], exist_ok=True)
    body = {"node_addr": a["node"], "video_id": a["video"], "pipeline": a["pipeline"].split(","),
            "user_constraint": {"delay": float(a["delay"]),
                                "accuracy": float(a.get("accuracy", 0.9))},
            "scheduler": a["scheduler"]}
    if a.get("plan"):
        body["plan"] = json.loads(a["plan"])
    job = api(a["api"], "POST", "/query/submit_query", body, a.get("token"))["job_uid"]
    with open(os.path.join(a["dir"], "job"), "w") as f:
        f.write(job + "\n")
    last_id, last_version = -1, -1
    out = open(os.path.join(a["dir"], "frames.jsonl"), "w")
    chf = open(os.path.join(a["dir"], "changes.jsonl"), "w")
    stop = os.path.join(a["dir"], "stop")
    started = False
    while not os.path.exists(stop):
        try:
            r = api(a["api"], "GET", "/user/sync_job_result/" + job, token=a.get("token"))
        except Exception as e:  # the cloud busy for a moment: try again
            print("poll: %s" % e, file=sys.stderr)
            time.sleep(0.2)
            continue
        t, rx = time.time(), rx_bytes(a["iface"])
        for c in r.get("result", {}).get("plan_changes", []):  # the cloud keeps the last 20
            if c.get("plan_version", 0) > last_version:
                last_version = c["plan_version"]
                chf.write(json.dumps(c, separators=(",", ":")) + "\n")
        for s in r.get("result", {}).get("appended_result", []):
            cid = s.get("cam_frame_id", -1)
            if cid <= last_id:
                continue
            last_id = cid
            s["t"], s["rx"] = t, rx
            out.write(json.dumps(s, separators=(",", ":")) + "\n")
            if not started:
                open(os.path.join(a["dir"], "started"), "w").close()
                started = True
        out.flush()
        chf.flush()
        time.sleep(0.2)
    out.close()
    chf.close()
    final = api(a["api"], "GET", "/user/sync_job_result/" + job, token=a.get("token"))
    with open(os.path.join(a["dir"], "final.json"), "w") as f:
        json.dump(final, f)
    api(a["api"], "POST", "/user/stop_job/" + job, {}, a.get("token"))


def plan_desc(p):
    """resolution, models, placement, encoder of a plan (as plan_changes show it)."""
    vc, fm = p.get("video_conf", {}), p.get("flow_mapping", {})
    models = "/".join("%s" % m.get("model_id") for m in fm.values())
    place = "/".join(m.get("node", "?") for m in fm.values())
    enc = vc.get("encoder", "JPEG") + ("%s" % vc["quality"] if vc.get("quality") else "")
    return {"resolution": vc.get("resolution"), "nskip": vc.get("nskip"),
            "ntracking": vc.get("ntracking"), "model": models, "placement": place,
            "encoder": enc}


def loadjsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def capture_times(frames, fps):
    """Each frame's capture time at the edge: the edge plays the file at its native rate
    (fps), so frame id c was read at offset + c / fps; the offset is the earliest arrival
    less its id's time (the frame that waited least for its poll). Poll times alone would put
    a poll's frames at one instant."""
    if not frames:
        return
    if not fps:  # not given: from the ids and arrival times over the run
        a, b = frames[0], frames[-1]
        span = b["t"] - a["t"]
        fps = (b["cam_frame_id"] - a["cam_frame_id"]) / span if span > 0 else 10
    off = min(f["t"] - f["cam_frame_id"] / fps for f in frames)
    for f in frames:
        f["t_poll"] = f["t"]
        f["t"] = off + f["cam_frame_id"] / fps


def analyse(d, delay, schedule, oracle_steps, fps=None):
    frames = loadjsonl(os.path.join(d, "frames.jsonl"))
    capture_times(frames, fps)
    scores = {s["i"]: s for s in loadjsonl(os.path.join(d, "score.jsonl"))}
    final = json.load(open(os.path.join(d, "final.json")))
    with open(os.path.join(d, "steps")) as f:
        steps = [float(x) for x in f.read().split()]  # the steps' start times, then the end
    t0, tend = steps[0], steps[-1]
    byv = {c.get("plan_version"): c for c in loadjsonl(os.path.join(d, "changes.jsonl"))}
    for c in final.get("result", {}).get("plan_changes", []):
        byv.setdefault(c.get("plan_version"), c)
    # a change's time: when its first frame was captured (the edge runs it from then), else
    # the cloud's time_ms (time: 10 s steps through the API)
    first = {}
    for f in frames:
        first.setdefault(f.get("plan_version"), f["t"])
    for v, c in byv.items():
        c["time"] = first.get(v, c["time_ms"] / 1e3 if "time_ms" in c else c.get("time", 0))
    changes = [byv[v] for v in sorted(byv)]
    versions = {v: c.get("plan", {}) for v, c in byv.items()}
    # the re-plans: plan versions after the first (a version the list lost, beyond the cloud's
    # last 20 when there is no changes.jsonl, still counts: its frames carry it)
    vs = set(byv) | set(first)
    vs.discard(None)
    replans = [byv.get(v, {"time": first.get(v), "plan_version": v}) for v in sorted(vs)[1:]]
    fr = [f for f in frames if t0 <= f["t"] <= tend]
    res_replans = max(vs) - min(vs) if vs else 0
    ok = lambda f: f.get("total_frame_delay", 1e9) <= delay
    res = {"frames": len(fr), "replans": res_replans}
    res["within"] = 100.0 * sum(map(ok, fr)) / len(fr) if fr else float("nan")
    # from the third re-plan after each step (the step's last re-plan when it has fewer, the
    # step's start when none)
    settled, rec, step_rows = [], [], []
    for k in range(len(steps) - 1):
        a, b = steps[k], steps[k + 1]
        ch = [c["time"] for c in replans if a <= c["time"] < b]
        start = ch[2] if len(ch) >= 3 else ch[-1] if ch else a
        sf = [f for f in fr if start <= f["t"] < b]
        settled += sf
        st = [f for f in fr if a <= f["t"] < b]
        # recovery: from the step to the first of 10 consecutive frames within the bound
        r = None
        for i in range(len(st) - 9):
            if all(ok(x) for x in st[i:i + 10]):
                r = max(0.0, st[i]["t"] - a)
                break
        rec.append(r)
        sp = [f for f in fr if a <= f["t_poll"] < b]  # the uplink's counter, by poll time
        bps = (sp[-1]["rx"] - sp[0]["rx"]) / (sp[-1]["t_poll"] - sp[0]["t_poll"]) \
            if len(sp) > 1 and sp[-1]["t_poll"] > sp[0]["t_poll"] else 0
        step_rows.append({"t0": a - t0, "mbit": schedule[k][0], "frames": len(st),
                          "replans": len(ch), "recovery_s": r, "uplink_Bps": bps,
                          "within": 100.0 * sum(map(ok, st)) / len(st) if st else None})
    res["settled"] = 100.0 * sum(map(ok, settled)) / len(settled) if settled else float("nan")
    res["recovery"] = rec
    res["steps"] = step_rows
    res["bytes"] = fr[-1]["rx"] - fr[0]["rx"] if len(fr) > 1 else 0
    sc = [(scores[i]["score"], scores[i]["frames"]) for i in range(len(frames))
          if i in scores and scores[i]["score"] is not None and t0 <= frames[i]["t"] <= tend]
    nf = sum(n for _, n in sc)
    res["f1"] = sum(s * n for s, n in sc) / nf if nf else float("nan")
    res["f1_frames"] = nf
    # per-frame CSV: delay, plan, bytes (the uplink's bytes since the previous poll shared by
    # the frames of that poll), score
    with open(os.path.join(d, "frames.csv"), "w") as f:
        f.write("t,cam_frame_id,delay,within,plan_version,resolution,nskip,ntracking,model,"
                "placement,encoder,bytes,score\n")
        prev_rx, group = None, {}
        for x in frames:
            group[x["rx"]] = group.get(x["rx"], 0) + 1
        rxs = sorted(group)
        per = {}
        for i, r in enumerate(rxs):
            per[r] = (r - rxs[i - 1]) / group[r] if i else 0
        for i, x in enumerate(frames):
            p = plan_desc(versions.get(x.get("plan_version"), {}))
            s = scores.get(i, {}).get("score")
            f.write("%.3f,%d,%.4f,%d,%s,%s,%s,%s,%s,%s,%s,%.0f,%s\n" % (
                x["t"] - t0, x.get("cam_frame_id", -1), x.get("total_frame_delay", -1), ok(x),
                x.get("plan_version", ""), p["resolution"], p["nskip"], p["ntracking"],
                p["model"], p["placement"], p["encoder"], per.get(x["rx"], 0),
                "" if s is None else "%.4f" % s))
    res["series"] = {"t": [round(f["t"] - t0, 3) for f in fr],
                     "delay": [round(f.get("total_frame_delay", 0), 4) for f in fr],
                     "changes": [round(c["time"] - t0, 3) for c in replans
                                 if t0 <= c["time"] <= tend]}
    res["changes"] = [{"t": round(c["time"] - t0, 2), "reason": c.get("reason"),
                       "why": c.get("why"), "detail": c.get("detail"),
                       "plan": plan_desc(c.get("plan", {}))} for c in changes]
    return res


def oracle(a):
    schedule = [tuple(float(v) for v in s.split(":")) for s in a["schedule"].split()]
    vdag, d = a["vdag"], a["dir"]
    pre = ["taskset", "-c", a["cpus"]] if a.get("cpus") else []
    stage = a["pipeline"].split(",")
    nframes, native_fps = int(a["frames"]), float(a["native_fps"])
    replayed, steps = {}, []
    for mbit, dur in schedule:
        o = json.loads(subprocess.check_output(
            [vdag, "eval", "oracle", "--kb", a["kb"], "--pipeline", a["pipeline"], "--delay",
             a["delay"], "--bandwidth", "%g" % mbit, "--edge-speed", a["edge_speed"],
             "--native-h", a["native_h"], "--native-w", a["native_w"], "--native-fps",
             a["native_fps"], "--edge-cores", "1", "--cloud-cores", "1"]))
        vc, fm = o["plan"]["video_conf"], o["plan"]["flow_mapping"]
        key = json.dumps([vc.get("resolution"), vc.get("fps"), vc.get("nskip"),
                          vc.get("ntracking"), [fm[s]["model_id"] for s in stage]])
        if key not in replayed:
            out = os.path.join(d, "oracle-%d.jsonl" % len(replayed))
            fps = vc.get("fps") or 0
            keep = 1.0 / (vc.get("nskip", 0) + 1) * (min(1.0, fps / native_fps) if fps else 1)
            cmd = pre + [vdag, "run", "--video", a["video"], "--pipeline", a["pipeline"],
                         "--resolution", vc.get("resolution", "native"), "--nskip",
                         "%d" % vc.get("nskip", 0), "--ntracking", "%d" % vc.get("ntracking", 0),
                         "--frames", "%d" % max(1, math.ceil(nframes * keep)), "--threads", "1",
                         "--results", out, "--quiet"]
            if fps and fps < native_fps:
                cmd += ["--fps", "%g" % fps]
            for s in stage:
                cmd += ["--model", "%s=%d" % (s, fm[s]["model_id"])]
            subprocess.check_call(cmd, stdout=subprocess.DEVNULL)
            sc = json.loads(subprocess.check_output(
                [vdag, "eval", "score", "--golden", a["golden"], "--results", out,
                 "--clip-frames", a["clip_frames"]]))
            replayed[key] = sc["score"]
        desc = plan_desc(o["plan"])
        steps.append({"mbit": mbit, "duration": dur, "plan": o["plan"],
                      "desc": "%s skip %s trk %s model %s on %s %s" % (
                          desc["resolution"], desc["nskip"], desc["ntracking"], desc["model"],
                          desc["placement"], desc["encoder"]),
                      "predicted_delay": o["predicted_delay"], "kb_accuracy": o["accuracy"],
                      "meets": o["meets"], "f1": replayed[key]})
    tot = sum(st["duration"] for st in steps)
    res = {"steps": steps, "f1": sum(st["f1"] * st["duration"] for st in steps) / tot}
    with open(os.path.join(d, "oracle.json"), "w") as f:
        json.dump(res, f, indent=1)


def fmt(x, f="%.1f"):
    return "-" if x is None or x != x else f % x


def report(a):
    delay = float(a["delay"])
    schedule = [tuple(float(v) for v in s.split(":")) for s in a["schedule"].split()]
    oracle = json.load(open(a["oracle"])) if a.get("oracle") else {}
    scheds = a["schedulers"].split()
    out, series = {}, []
    for s in scheds:
        out[s] = analyse(os.path.join(a["dir"], s), delay, schedule, oracle,
                         float(a["fps"]) if a.get("fps") else None)
        series.append(dict(name=s, **out[s]["series"]))
    end = sum(d for _, d in schedule)
    rates, t = [], 0
    for r, d in schedule:
        rates.append([t, r])
        t += d
    with open(os.path.join(a["dir"], "run.json"), "w") as f:
        json.dump({"title": a.get("title", ""), "bound": delay, "end": end, "rates": rates,
                   "smooth": max(1.0, round(end / 60)), "series": series}, f)
    osteps = oracle.get("steps", [])
    of1 = oracle.get("f1")
    print("| scheduler | frames | within bound | within, from the 3rd re-plan | mean F1 | "
          "F1 / oracle | re-plans | recovery after each step (s) | uplink MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|")
    for s in scheds:
        r = out[s]
        print("| %s | %d | %s %% | %s %% | %s | %s | %d | %s | %.1f |" % (
            s, r["frames"], fmt(r["within"]), fmt(r["settled"]), fmt(r["f1"], "%.3f"),
            fmt(r["f1"] / of1 * 100 if of1 else None, "%.0f %%"), r["replans"],
            " / ".join("-" if x is None else "%.1f" % x for x in r["recovery"][1:]) or "-",
            r["bytes"] / 1e6))
    if of1 is not None:
        print("| oracle | - | - | - | %.3f | 100 %% | - | - | - |" % of1)
    print()
    print("Per step (uplink bytes/s, frames within the bound):")
    print()
    print("| scheduler | " + " | ".join("%g Mbit/s @%gs" % (st["mbit"], st["t0"])
                                        for st in out[scheds[0]]["steps"]) + " |")
    print("|---|" + "---:|" * len(schedule))
    for s in scheds:
        print("| %s | " % s + " | ".join(
            "%.2f MB/s, %s %%" % (st["uplink_Bps"] / 1e6, fmt(st["within"]))
            for st in out[s]["steps"]) + " |")
    if osteps:
        print()
        print("Oracle per step (the kb's most accurate plan meeting the bound at the step's "
              "rate; F1 replayed on the same frames):")
        print()
        for st in osteps:
            print("- %g Mbit/s: %s, predicted %.3f s, F1 %s" % (
                st["mbit"], st["desc"], st["predicted_delay"], fmt(st.get("f1"), "%.3f")))
    with open(os.path.join(a["dir"], "summary.json"), "w") as f:
        json.dump({s: {k: v for k, v in out[s].items() if k != "series"} for s in scheds}
                  | {"oracle": oracle}, f, indent=1)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    a = {args[i].lstrip("-").replace("-", "_"): args[i + 1] for i in range(0, len(args), 2)}
    {"poll": poll, "report": report, "oracle": oracle}[cmd](a)


if __name__ == "__main__":
    main()
