#!/usr/bin/env bash
# vdag against the JS pipeline a user would otherwise pick: @vladmandic/human 3.3.6 on
# TF.js-wasm (SIMD, threads) in Debian's headless Chromium, on the same frames: the first N
# frames of vtest.avi and Megamind.avi scaled to 480p, as a PNG sequence for vdag
# (`--video dir/%04d.png`) and as raw RGB of the same pixels for human.
#   bash bench/human.sh [VDAG] [N]        (default build/vdag, 100 frames)
# Tasks: object detection with centernet and with nanodet (vtest), faces: blazeface-back
# -> facemesh (Megamind). vdag runs at --threads 1 and 2; human with 2 wasm threads.
# Prints one line per run and a table of fps and ratios. Needs ffmpeg, chromium and npm
# (the pinned packages in bench/human/package-lock.json are installed on first use).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vdag=${1:-build/vdag}
n=${2:-100}
cache=${VDAG_CACHE:-$HOME/.cache/vdag}
for tool in ffmpeg chromium node npm; do
  command -v "$tool" >/dev/null || { echo "bench/human.sh: $tool is missing (apt-get install $tool)" >&2; exit 2; }
done
[ -d "$here/human/node_modules/@vladmandic/human" ] || (cd "$here/human" && npm ci --no-audit --no-fund >/dev/null)
work=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work"
frames() { # name video -> $work/name/%04d.png and $work/name.rgb; prints "W H"
  if [ ! -s "$work/$1.rgb" ]; then
    mkdir -p "$work/$1"
    ffmpeg -v error -y -i "$cache/media/$2" -frames:v "$n" -vf scale=-2:480 "$work/$1/%04d.png"
    ffmpeg -v error -y -i "$work/$1/%04d.png" -f rawvideo -pix_fmt rgb24 "$work/$1.rgb"
  fi
  ffprobe -v error -show_entries stream=width,height -of csv=p=0 "$work/$1/0001.png" | tr , ' '
}
read -r vw vh < <(frames vtest vtest.avi)
read -r mw mh < <(frames mega Megamind.avi)
fps_of() { python3 -c 'import json,sys; print("%.1f" % json.loads(sys.stdin.read().strip().splitlines()[-1])["fps"])'; }
declare -A fps
run_task() { # label frames-name w h human-task vdag-args...
  local label=$1 name=$2 w=$3 h=$4 task=$5
  shift 5
  local t out
  for t in 1 2; do
    out=$("$vdag" run --video "$work/$name/%04d.png" "$@" --threads "$t" --quiet)
    echo "vdag $label --threads $t: $out"
    fps[$label,vdag$t]=$(echo "$out" | fps_of)
  done
  out=$(node "$here/human/run.js" "$task" "$work/$name.rgb" "$w" "$h" "$n" 2)
  echo "human $label: $(echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); r.pop("detections"); print(json.dumps(r))')"
  fps[$label,human]=$(echo "$out" | fps_of)
}
run_task centernet vtest "$vw" "$vh" centernet --pipeline object_detection --model object_detection=0
run_task nanodet vtest "$vw" "$vh" nanodet --pipeline object_detection --model object_detection=1
run_task faces mega "$mw" "$mh" faces --pipeline face_detection,face_alignment --model face_detection=0
printf '\n| task | vdag 1T fps | vdag 2T fps | human 2T fps | 2T ratio |\n|---|---:|---:|---:|---:|\n'
for l in centernet nanodet faces; do
  printf '| %s | %s | %s | %s | %s× |\n' "$l" "${fps[$l,vdag1]}" "${fps[$l,vdag2]}" "${fps[$l,human]}" \
    "$(python3 -c "print('%.1f' % (${fps[$l,vdag2]} / ${fps[$l,human]}))")"
done
[ -n "${BENCH_DIR:-}" ] || rm -rf "$work"
