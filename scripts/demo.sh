#!/usr/bin/env bash
# make demo: the main job on the embedded default. The face pipeline on Megamind.avi and
# object detection on vtest.avi, each rendered to the cache; the summaries are printed.
set -euo pipefail
vdag=${1:-build/vdag}
cache=${VDAG_CACHE:-$HOME/.cache/vdag}
out="$cache/demo"
mkdir -p "$out"
echo "== face_detection -> face_alignment on Megamind.avi (480p)"
"$vdag" run --video "$cache/media/Megamind.avi" --pipeline face_detection,face_alignment --resolution 480p \
  --results "$out/faces.jsonl" --render "$out/faces.mjpeg"
echo
echo "== object_detection (centernet) on vtest.avi (480p, tracking 2 frames between detections)"
"$vdag" run --video "$cache/media/vtest.avi" --pipeline object_detection --resolution 480p --ntracking 2 \
  --results "$out/objects.jsonl" --render "$out/objects.mjpeg"
echo
echo "Rendered videos (MJPEG; play with ffplay or any MJPEG viewer) and per-frame results:"
echo "  $out/faces.mjpeg     $out/faces.jsonl"
echo "  $out/objects.mjpeg   $out/objects.jsonl"
echo "The model runtime benchmark: $vdag bench models --threads 2"
echo
echo "== the seed's system in one process: API on 127.0.0.1:5000, a job submitted over HTTP"
port=${VDAG_DEMO_PORT:-5000}
"$vdag" profile --if-missing >/dev/null
"$vdag" run --listen 127.0.0.1:$port --video 0=vtest.avi=street --video 1=Megamind.avi=faces --loop \
  --replan 2 2> "$out/server.log" &
srv=$!
trap 'kill $srv 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -s -m 1 "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
job=$("$vdag" submit --server 127.0.0.1:$port --node edge --video 1 --pipeline face_detection,face_alignment \
  --delay 0.1)
sleep 6
"$vdag" status --server 127.0.0.1:$port
echo
"$vdag" results "$job" --server 127.0.0.1:$port
"$vdag" stop "$job" --server 127.0.0.1:$port >/dev/null
kill -TERM $srv; wait $srv || true
trap - EXIT
echo
echo "Serve it yourself: $vdag run --listen 127.0.0.1:5000 --video 1=Megamind.avi --loop, then"
echo "  $vdag submit --node edge --video 1 --pipeline face_detection,face_alignment; open"
echo "  http://127.0.0.1:5000/user/video/<job> in a browser (docs/nodes.md has every route)."
