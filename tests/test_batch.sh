#!/usr/bin/env bash
# Batch mode without an external server: `vdag batch submit` in one process, and the /videos
# API of `vdag run --listen` (in-process queue and workers). Detections per frame equal
# `vdag run`'s over the same frames with the same model; the seed's report lines; uploads
# raw and multipart; bad uploads (empty, random bytes, a text file named .mp4, over the size
# limit with and without Content-Length, no `file` field, a path-traversal file name, a wrong
# Content-Type, a bad option) get the right status and message, queue nothing and write nothing
# outside the data dir, and the server stays up; a truncated video is processed up to where it
# stops; DELETE removes the video's file and results.
vdag=$1
. "$(dirname "$0")/lib.sh"
video=$cache/media/vtest.avi
N=40

# the reference: vdag run over the same frames with the same model (nanodet)
"$vdag" run --video "$video" --pipeline object_detection --model object_detection=1 --frames $N \
  --threads 1 --results "$tmp/ref.jsonl" --quiet > /dev/null
ok "vdag run reference" '[ "$(wc -l < "$tmp/ref.jsonl")" -eq $N ]'

# compare.py REF.jsonl FRAMES.json: same labels, boxes and scores on every frame, each once
cat > "$tmp/compare.py" <<'PY'
import json, sys
ref = [json.loads(l) for l in open(sys.argv[1])]
got = json.load(open(sys.argv[2]))["frames"]
ids = [f["f"] for f in got]
assert len(ids) == len(set(ids)) == len(ref), (len(ids), len(set(ids)), len(ref))
by = {f["f"]: f for f in got}
for r in ref:
    od, b = r["stages"]["object_detection"], by[r["cam_frame_id"]]
    assert od["labels"] == b["labels"], (r["cam_frame_id"], od["labels"], b["labels"])
    for p, q in zip(od["bbox"], b["bbox"]):
        assert max(abs(x - y) for x, y in zip(p, q)) < 1e-3, (r["cam_frame_id"], p, q)
    for p, q in zip(od["scores"], b["scores"]):
        assert abs(p - q) < 1e-5, (r["cam_frame_id"], p, q)
print("ok")
PY
# stats.py REF.jsonl STATS.json: per-class detections, frames with it, max in a frame
cat > "$tmp/stats.py" <<'PY'
import json, sys
ref = [json.loads(l) for l in open(sys.argv[1])]
st = json.load(open(sys.argv[2]))
cls = {}
for r in ref:
    for k, n in r["stages"]["object_detection"]["counts"].items():
        c = cls.setdefault(k, {"detections": 0, "frames": 0, "max_in_frame": 0})
        c["detections"] += n; c["frames"] += 1; c["max_in_frame"] = max(c["max_in_frame"], n)
assert st["classes"] == cls, (st["classes"], cls)
assert st["frames_processed"] == len(ref) and st["frames_failed"] == 0
assert st["person_detections"] == cls["person"]["detections"]
assert st["person_max_in_frame"] == cls["person"]["max_in_frame"]
assert st["n_classes"] == len(cls)
top = sorted(cls, key=lambda k: (-cls[k]["detections"], k))[:3]
assert st["top3"] == top, (st["top3"], top)
assert sum(w["frames"] for w in st["workers"]) == len(ref)
print("ok")
PY

# ---- embedded: one process ------------------------------------------------------------------
"$vdag" batch submit "$video" --frames $N --workers 2 --data "$tmp/emb" > "$tmp/emb.txt" 2> "$tmp/emb.err"
ok "embedded submit" '[ $? -eq 0 ] && grep -q "^video [0-9a-f]\{16\}  vtest.avi  done" "$tmp/emb.txt"'
ok "seed line: processed" 'grep -q "^Processed frames: $N\$" "$tmp/emb.txt"'
ok "seed line: ms/frame" 'grep -q "^Average processing time per frame: [0-9]*ms\$" "$tmp/emb.txt"'
ok "seed line: persons" 'grep -q "^Person objects detected: [1-9][0-9]*\$" "$tmp/emb.txt"'
ok "seed line: classes" 'grep -q "^Total classes detected: [1-9][0-9]*\$" "$tmp/emb.txt"'
ok "seed line: top 3" 'grep -q "^Top 3 objects detected: person, [a-z ]*, [a-z ]*\$" "$tmp/emb.txt"'
ok "embedded leaves no files" '[ -z "$(ls -A "$tmp/emb")" ]'
"$vdag" batch submit "$video" --frames $N --workers 2 --item-frames 7 --json --data "$tmp/emb" > "$tmp/emb.json" 2>&1
ok "embedded --json stats equal vdag run's" 'py "import json; json.load(open(\"$tmp/emb.json\"))" && python3 "$tmp/stats.py" "$tmp/ref.jsonl" "$tmp/emb.json" >/dev/null'
ok "embedded: 6 items of 7 frames, 2 workers share them" 'py "s=json.load(open(\"$tmp/emb.json\")); assert s[\"items\"][\"total\"]==6 and s[\"items\"][\"done\"]==6"'

# ---- the API of vdag run --listen -----------------------------------------------------------
port=$(freeport)
U=http://127.0.0.1:$port
mkdir -p "$tmp/srv"
bg "$vdag" run --listen 127.0.0.1:$port --no-profile --workers 2 --data "$tmp/srv/data" 2> "$tmp/srv.log"
srv=$bg_pid
for _ in $(seq 100); do curl -sf "$U/healthz" > /dev/null && break; sleep 0.1; done
ok "server up" 'curl -sf "$U/healthz" > /dev/null'

wait_done() { # ID: until done or failed (at most 60 s)
  for _ in $(seq 600); do
    st=$(curl -s "$U/videos/$1" | py "print(json.load(sys.stdin).get('state'))" 2>/dev/null)
    [ "$st" = done ] || [ "$st" = failed ] && return 0
    sleep 0.1
  done
  return 1
}
id_of() { py "print(json.load(sys.stdin)['video_id'])" < "$1" 2>/dev/null; }

# raw body, small items
code=$(curl -s -o "$tmp/raw.json" -w '%{http_code}' -X POST --data-binary @"$video" \
  -H 'Content-Type: video/x-msvideo' "$U/videos?frames=$N&item_frames=9&name=vtest.avi")
ok "raw upload: 202 queued with the frame count" '[ "$code" = 202 ] && py "r=json.load(sys.stdin); assert r[\"state\"]==\"queued\" and r[\"frames\"]==$N and r[\"items\"]==5" < "$tmp/raw.json"'
raw=$(id_of "$tmp/raw.json")
ok "raw upload: stored by id" '[ -f "$tmp/srv/data/run-$srv/$raw/video" ] && cmp -s "$video" "$tmp/srv/data/run-$srv/$raw/video"'
# multipart, as curl -F sends it (the seed's client used curl)
code=$(curl -s -o "$tmp/mp.json" -w '%{http_code}' -F file=@"$video" "$U/videos?frames=$N")
ok "multipart upload: 202" '[ "$code" = 202 ] && py "assert json.load(sys.stdin)[\"name\"]==\"vtest.avi\"" < "$tmp/mp.json"'
mp=$(id_of "$tmp/mp.json")
ok "raw upload completes" 'wait_done "$raw"'
ok "multipart upload completes" 'wait_done "$mp"'
curl -s "$U/videos/$raw/frames" > "$tmp/raw.frames"
curl -s "$U/videos/$mp/frames" > "$tmp/mp.frames"
curl -s "$U/videos/$raw" > "$tmp/raw.stats"
ok "raw: detections per frame equal vdag run's" 'python3 "$tmp/compare.py" "$tmp/ref.jsonl" "$tmp/raw.frames" >/dev/null'
ok "multipart: detections per frame equal vdag run's" 'python3 "$tmp/compare.py" "$tmp/ref.jsonl" "$tmp/mp.frames" >/dev/null'
ok "raw: statistics equal vdag run's" 'python3 "$tmp/stats.py" "$tmp/ref.jsonl" "$tmp/raw.stats" >/dev/null'
ok "stats fields" 'py "s=json.load(sys.stdin); assert s[\"state\"]==\"done\" and s[\"items\"][\"failed\"]==0 and s[\"avg_ms_per_frame\"]>0 and s[\"wall_s\"]>0 and s[\"truncated_at\"] is None and s[\"model\"]==\"nanodet\"" < "$tmp/raw.stats"'
"$vdag" batch status --server "$U" > "$tmp/list.txt"
ok "vdag batch status lists both" 'grep -q "^$raw  done *$N/$N  vtest.avi" "$tmp/list.txt" && grep -q "^$mp  done" "$tmp/list.txt"'
"$vdag" batch status "$raw" --server "$U" > "$tmp/one.txt"
ok "vdag batch status ID: the seed's lines" 'grep -q "^Processed frames: $N\$" "$tmp/one.txt" && grep -q "^Top 3 objects detected: person" "$tmp/one.txt"'
"$vdag" batch submit "$cache/media/Megamind.avi" --server "$U" --frames 20 --wait --json > "$tmp/cli.json" 2> "$tmp/cli.err"
ok "vdag batch submit --server --wait" 'py "s=json.load(sys.stdin); assert s[\"state\"]==\"done\" and s[\"frames_processed\"]==20" < "$tmp/cli.json"'

# ---- bad uploads ------------------------------------------------------------------------------
n_videos() { curl -s "$U/videos" | py "print(len(json.load(sys.stdin)['videos']))"; }
before=$(n_videos)
ls "$tmp/srv/data/run-$srv" | sort > "$tmp/dirs.before"
: > "$tmp/empty.mp4"
head -c 200000 /dev/urandom > "$tmp/random.bin"
echo "this is a text file, not a video" > "$tmp/text.mp4"
# STATUS MESSAGE-PART CURL-ARGS...
bad() {
  local want=$1 msg=$2
  shift 2
  local code
  code=$(curl -s -o "$tmp/bad.json" -w '%{http_code}' -X POST "$@")
  [ "$code" = "$want" ] && grep -q "$msg" "$tmp/bad.json" && py "assert json.load(sys.stdin)['status']<0" < "$tmp/bad.json" \
    || { echo "got $code: $(cat "$tmp/bad.json")" >&2; return 1; }
}
ok "empty body: 400" 'bad 400 "empty upload" --data-binary @"$tmp/empty.mp4" -H "Content-Type: video/mp4" "$U/videos"'
ok "random bytes: 415" 'bad 415 "is not a video FFmpeg can read" --data-binary @"$tmp/random.bin" -H "Content-Type: application/octet-stream" "$U/videos"'
ok "text file named .mp4: 415 naming it" 'bad 415 "text.mp4 is not a video" -F file=@"$tmp/text.mp4" "$U/videos"'
ok "multipart without file: 400" 'bad 400 "no .file. field" -F other=@"$video" "$U/videos"'
ok "path-traversal name, not a video: 415" 'bad 415 "is not a video" -F "file=@$tmp/text.mp4;filename=../../etc/x" "$U/videos"'
ok "wrong Content-Type: 415" 'bad 415 "Content-Type .text/plain. is not a video" --data-binary @"$video" -H "Content-Type: text/plain" "$U/videos"'
ok "bad option: 400" 'bad 400 "option model=yolo" --data-binary @"$video" -H "Content-Type: video/mp4" "$U/videos?model=yolo"'
ok "bad uploads queue nothing" '[ "$(n_videos)" = "$before" ]'
ls "$tmp/srv/data/run-$srv" | sort > "$tmp/dirs.after"
ok "bad uploads leave no files" 'cmp -s "$tmp/dirs.before" "$tmp/dirs.after"'
ok "nothing outside the data dir" '[ ! -e "$tmp/etc" ] && [ ! -e "$tmp/srv/etc" ] && [ "$(ls "$tmp/srv")" = data ]'
# a path-traversal name on a real video: only a label
code=$(curl -s -o "$tmp/trav.json" -w '%{http_code}' -F "file=@$video;filename=../../etc/x" "$U/videos?frames=5")
trav=$(id_of "$tmp/trav.json")
ok "path-traversal name on a video: stored by id, name kept as a label" '[ "$code" = 202 ] && [ -f "$tmp/srv/data/run-$srv/$trav/video" ] && py "assert json.load(sys.stdin)[\"name\"]==\"../../etc/x\"" < "$tmp/trav.json" && [ ! -e "$tmp/etc" ]'
# a truncated file: accepted, processed up to where it stops, reported
head -c 400000 "$video" > "$tmp/trunc.avi"
code=$(curl -s -o "$tmp/trunc.json" -w '%{http_code}' -F file=@"$tmp/trunc.avi" "$U/videos")
tr=$(id_of "$tmp/trunc.json")
ok "truncated video: accepted" '[ "$code" = 202 ] && py "r=json.load(sys.stdin); assert 20 < r[\"frames\"] < 60 and r[\"truncated_at\"]==r[\"frames\"]" < "$tmp/trunc.json"'
ok "truncated video completes" 'wait_done "$tr"'
curl -s "$U/videos/$tr" > "$tmp/trunc.stats"
ok "truncated video: stats say where it stops" 'py "s=json.load(sys.stdin); assert s[\"state\"]==\"done\" and s[\"truncated_at\"]==s[\"frames_expected\"] and s[\"frames_processed\"]+s[\"frames_undecodable\"]==s[\"frames_expected\"] and s[\"frames_processed\"]>=s[\"frames_expected\"]-1" < "$tmp/trunc.stats"'
"$vdag" batch status "$tr" --server "$U" > "$tmp/trunc.txt"
ok "truncated video: the table says so" 'grep -q "truncated at frame" "$tmp/trunc.txt"'

# over the size limit: a second server with a 1 MB limit
port2=$(freeport)
U2=http://127.0.0.1:$port2
bg "$vdag" run --listen 127.0.0.1:$port2 --no-profile --workers 1 --data "$tmp/srv/data" --max-upload 1000000 2> "$tmp/srv2.log"
srv2=$bg_pid
for _ in $(seq 100); do curl -sf "$U2/healthz" > /dev/null && break; sleep 0.1; done
ok "over the limit (Content-Length): 413" 'bad 413 "over this server.s limit of 1000000 bytes" --data-binary @"$video" -H "Content-Type: video/mp4" "$U2/videos"'
ok "over the limit (chunked): 413 while streaming" 'bad 413 "over this server.s limit of 1000000 bytes" --data-binary @"$video" -H "Content-Type: video/mp4" -H "Transfer-Encoding: chunked" "$U2/videos"'
ok "over the limit (multipart): 413" 'bad 413 "over this server.s limit" -F file=@"$video" "$U2/videos"'
ok "over the limit: nothing kept" '[ -z "$(ls "$tmp/srv/data/run-$srv2" | grep -v blobs)" ]'
ok "under the limit still works there" 'curl -s -F file=@"$tmp/trunc.avi" "$U2/videos?frames=3" | grep -q queued'
ok "servers stay up" 'curl -sf "$U/healthz" > /dev/null && curl -sf "$U2/healthz" > /dev/null'

# ---- delete --------------------------------------------------------------------------------
"$vdag" batch rm "$raw" --server "$U" > /dev/null
ok "rm: file gone" '[ ! -e "$tmp/srv/data/run-$srv/$raw" ]'
ok "rm: video gone" '[ "$(curl -s -o /dev/null -w "%{http_code}" "$U/videos/$raw")" = 404 ]'
ok "rm: results gone" '[ "$(curl -s -o /dev/null -w "%{http_code}" "$U/videos/$raw/frames")" = 404 ]'
ok "rm: others kept" '[ "$(curl -s -o /dev/null -w "%{http_code}" "$U/videos/$mp")" = 200 ]'
ok "unknown id: 404" '[ "$(curl -s -o /dev/null -w "%{http_code}" "$U/videos/nope")" = 404 ]'

# shutting down removes the in-process server's files
kill -TERM "$srv" "$srv2"
wait "$srv"
st1=$?
wait "$srv2"
st2=$?
ok "servers exit cleanly" '[ "$st1" = 0 ] && [ "$st2" = 0 ]'
ok "in-process servers remove their files at exit" '[ ! -e "$tmp/srv/data/run-$srv" ] && [ ! -e "$tmp/srv/data/run-$srv2" ]'
ok "no sanitizer reports" '! grep -l "Sanitizer\|runtime error" "$tmp"/*.log "$tmp"/*.err'
finish
