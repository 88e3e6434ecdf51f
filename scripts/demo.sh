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
