#!/usr/bin/env bash
# vdag run end to end on real media: the summary line, --results, --render, tracking,
# and bad input (missing file, not a video, truncated video, bad DAG) with a clear
# message and a non-zero exit, never a crash.
vdag=$1
. "$(dirname "$0")/lib.sh"

out=$("$vdag" run --video "$cache/media/vtest.avi" --pipeline object_detection --resolution 480p --frames 12 \
  --ntracking 2 --results "$tmp/r.jsonl" --render "$tmp/r.mjpeg" --quiet)
rc=$?
ok "vtest run exits 0" '[ $rc -eq 0 ]'
ok "summary fields" 'echo "$out" | py "s=json.loads(sys.stdin.read()); assert s[\"processed\"]==12 and s[\"frames\"]>=12 and s[\"fps\"]>0; st=s[\"stages\"][\"object_detection\"]; assert st[\"median_ms\"]>=0 and st[\"p90_ms\"]>=st[\"median_ms\"]; assert s[\"counts\"][\"person\"]>=1"'
ok "one results line per processed frame" '[ "$(wc -l < "$tmp/r.jsonl")" -eq 12 ]'
ok "results lines carry full outputs" 'head -1 "$tmp/r.jsonl" | py "r=json.loads(sys.stdin.read()); o=r[\"stages\"][\"object_detection\"]; assert len(o[\"bbox\"])==len(o[\"labels\"])==len(o[\"scores\"])==len(o[\"track_ids\"])>0; assert \"n_loop\" in r and \"cam_frame_id\" in r and \"total_frame_delay\" in r and r[\"delay\"][\"object_detection\"]>=0"'
ok "tracked frames in results" '[ "$(grep -c "\"tracked\":true" "$tmp/r.jsonl")" -eq 8 ]'
ok "rendered mjpeg starts with a JPEG" '[ "$(head -c 2 "$tmp/r.mjpeg" | od -An -tx1 | tr -d " ")" = "ffd8" ]'

out=$("$vdag" run --video "$cache/media/Megamind.avi" --pipeline face_detection,face_alignment --frames 8 --nskip 4 --results "$tmp/f.jsonl" --quiet)
ok "face pipeline summary" 'echo "$out" | py "s=json.loads(sys.stdin.read()); assert s[\"processed\"]==8 and s[\"frames\"]>=36; assert \"face_alignment\" in s[\"stages\"] and \"total\" in s[\"counts\"]"'
ok "face results have landmarks and head pose" 'grep -m1 "\"head_pose\":\[\[" "$tmp/f.jsonl" | py "r=json.loads(sys.stdin.read()); a=r[\"stages\"][\"face_alignment\"]; assert len(a[\"landmarks\"][0])==468 and len(a[\"head_pose\"][0])==3 and a[\"count_result\"][\"total\"]>=1"'

cat > "$tmp/dag.json" <<'J'
{"generator":"SingleFrameGenerator","flow":["SingleFrameGenerator","object_detection"],
 "input":{"object_detection":{"image":"SingleFrameGenerator.image"}}}
J
out=$("$vdag" run --video "$cache/media/vtest.avi" --dag "$tmp/dag.json" --model object_detection=1 --frames 3 --quiet)
ok "--dag file and --model" 'echo "$out" | grep -q "\"processed\":3"'

err=$("$vdag" run --video /nonexistent.avi --pipeline object_detection 2>&1 >/dev/null); rc=$?
ok "missing video: non-zero" '[ $rc -eq 1 ]'
ok "missing video: message names it" 'echo "$err" | grep -q "/nonexistent.avi"'
echo "not a video" > "$tmp/bad.avi"
err=$("$vdag" run --video "$tmp/bad.avi" --pipeline object_detection 2>&1 >/dev/null); rc=$?
ok "not a video: non-zero" '[ $rc -eq 1 ] && echo "$err" | grep -q "not a video"'
head -c 3000000 "$cache/media/vtest.avi" > "$tmp/trunc.avi"
out=$("$vdag" run --video "$tmp/trunc.avi" --pipeline object_detection --model object_detection=1 --resolution 360p --nskip 20 --quiet 2>/dev/null); rc=$?
ok "truncated video yields its frames" '[ $rc -eq 0 ] && echo "$out" | py "s=json.loads(sys.stdin.read()); assert 3 <= s[\"processed\"] < 40"'
err=$("$vdag" run --video "$cache/media/vtest.avi" --pipeline face_alignment 2>&1 >/dev/null); rc=$?
ok "bad pipeline: exit 2 and the missing input" '[ $rc -eq 2 ] && echo "$err" | grep -q "missing required input"'
err=$("$vdag" run --video "$cache/media/vtest.avi" --pipeline object_detection --resolution 123x 2>&1 >/dev/null); rc=$?
ok "bad resolution: exit 2" '[ $rc -eq 2 ]'
err=$("$vdag" run --video "$cache/media/vtest.avi" --pipeline object_detection --model nosuch=1 2>&1 >/dev/null); rc=$?
ok "bad --model: exit 2" '[ $rc -eq 2 ] && echo "$err" | grep -q "nosuch"'
# a URL source: FFmpeg reads the video over HTTP from a local server
if command -v python3 >/dev/null; then
  port=$(freeport)
  bg python3 -m http.server "$port" --bind 127.0.0.1 --directory "$cache/media" >/dev/null 2>&1
  srv=$bg_pid
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  out=$(timeout 60 "$vdag" run --video "http://127.0.0.1:$port/vtest.avi" --pipeline object_detection --model object_detection=1 --frames 4 --quiet)
  ok "http URL source" 'echo "$out" | grep -q "\"processed\":4"'
  # a file on a web server is read as a file: it ends at its end, not reopened as a camera
  # (a live stream that drops is reopened: test_rtsp.sh, test_media_source's forced-live file)
  out=$(timeout 120 "$vdag" run --video "http://127.0.0.1:$port/vtest.avi" --pipeline object_detection --model object_detection=1 \
    --resolution 360p --nskip 39 --frames 24 --quiet)
  ok "an HTTP file ends at its end" 'echo "$out" | py "s=json.loads(sys.stdin.read()); assert s[\"processed\"]<24 and s[\"frames\"]<=795, s"'
  kill $srv 2>/dev/null; wait $srv 2>/dev/null
fi
finish
