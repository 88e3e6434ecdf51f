#!/usr/bin/env bash
# Issue 3 benchmark: end-to-end fps of vdag run against 1/sum(median stage ms), and
# peak RSS, for the face pipeline on Megamind.avi and object detection on vtest.avi at
# 480p with both model sizes. Usage: bench/pipeline.sh [build/vdag]
set -euo pipefail
vdag=${1:-build/vdag}
cache=${VDAG_CACHE:-$HOME/.cache/vdag}
run() { # label, args...
  local label=$1; shift
  local log sum
  log=$(mktemp)
  sum=$(/usr/bin/time -v "$vdag" run --quiet "$@" 2>"$log")
  echo "$sum" | python3 -c '
import json, sys
s = json.loads(sys.stdin.read())
label, rss = sys.argv[1], int(sys.argv[2])
ms = sum(v["median_ms"] for v in s["stages"].values())
bound = 1000.0 / ms if ms > 0 else 0
print("| %s | %d | %.1f | %s | %.1f | %.0f %% | %.0f |" % (label, s["processed"], s["fps"],
      " + ".join("%.1f" % v["median_ms"] for v in s["stages"].values()), bound,
      100 * s["fps"] / bound if bound else 0, rss / 1024))
' "$label" "$(awk '/Maximum resident/ {print $6}' "$log")"
  rm -f "$log"
}
echo "| run | frames | fps | median stage ms | 1/sum fps | ratio | peak RSS MiB |"
echo "|---|---:|---:|---|---:|---:|---:|"
run "faces, Megamind, 480p, blazeface-back" --video "$cache/media/Megamind.avi" --loop --frames 1000 --pipeline face_detection,face_alignment --resolution 480p --model face_detection=0
run "faces, Megamind, 480p, blazeface-front" --video "$cache/media/Megamind.avi" --loop --frames 1000 --pipeline face_detection,face_alignment --resolution 480p --model face_detection=1
run "objects, vtest, 480p, centernet" --video "$cache/media/vtest.avi" --pipeline object_detection --resolution 480p --model object_detection=0
run "objects, vtest, 480p, nanodet" --video "$cache/media/vtest.avi" --pipeline object_detection --resolution 480p --model object_detection=1
run "objects, vtest, 480p, centernet, rendered" --video "$cache/media/vtest.avi" --pipeline object_detection --resolution 480p --model object_detection=0 --render /tmp/vdag_bench.mjpeg --results /tmp/vdag_bench.jsonl
run "objects, vtest, 480p, centernet, --threads 2" --video "$cache/media/vtest.avi" --pipeline object_detection --resolution 480p --model object_detection=0 --threads 2
run "objects, vtest, 480p, nanodet, --threads 2" --video "$cache/media/vtest.avi" --pipeline object_detection --resolution 480p --model object_detection=1 --threads 2
run "faces, Megamind, 480p, blazeface-back, --threads 2" --video "$cache/media/Megamind.avi" --loop --frames 1000 --pipeline face_detection,face_alignment --resolution 480p --model face_detection=0 --threads 2
