#!/usr/bin/env bash
# vdag against the JS pipeline a user would otherwise pick: @vladmandic/human 3.3.6 on
# TF.js-wasm (SIMD, threads) in Debian's headless Chromium, on the same frames: the first N
# frames of vtest.avi and Megamind.avi scaled to 480p, as a PNG sequence for vdag
# (`--video dir/%04d.png`) and as raw RGB of the same pixels for human.
#   bash bench/human.sh [VDAG] [N]        (default build/vdag, 100 frames)
# Tasks: object detection with centernet and with nanodet (vtest), faces: blazeface-back
# -> facemesh (Megamind). Each repetition runs, per task, vdag --threads 1, vdag --threads 2
# and human with 2 wasm threads one after the other (A/B alternation: a change of load
# on a shared machine hits all three); the tables give medians over the repetitions.
# Also measured in the same run: the GEMM peak (vdag bench gemm) and centernet alone
# (vdag bench models), for centernet's share of the peak.
# Environment:
#   REPS=3        repetitions
#   BUSY=1        keep CPU 1 busy with a spin loop for the whole run (a second job on an
#                 edge box); it is killed at exit
#   INT8=1        also run the int8 models (object_detection model ids 2 and 3)
#   HUMAN=0       skip human (vdag only)
#   BENCH_DIR=d   keep the frames (and raw results, results.jsonl) in d
# Needs ffmpeg, chromium and npm (the pinned packages in bench/human/package-lock.json are
# installed on first use), python3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vdag=${1:-build/vdag}
n=${2:-100}
reps=${REPS:-3}
cache=${VDAG_CACHE:-$HOME/.cache/vdag}
tools="ffmpeg python3"
[ "${HUMAN:-1}" = 0 ] || tools="$tools chromium node npm"
for tool in $tools; do
  command -v "$tool" >/dev/null || { echo "bench/human.sh: $tool is missing (apt-get install $tool)" >&2; exit 2; }
done
[ "${HUMAN:-1}" = 0 ] || [ -d "$here/human/node_modules/@vladmandic/human" ] ||
  (cd "$here/human" && npm ci --no-audit --no-fund >/dev/null)
work=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work"
busy=
cleanup() {
  [ -z "$busy" ] || kill "$busy" 2>/dev/null || true
  [ -n "${BENCH_DIR:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
if [ "${BUSY:-0}" = 1 ]; then
  taskset -c 1 sh -c 'while :; do :; done' &
  busy=$!
fi
frames() { # name video -> $work/name/%04d.png and $work/name.rgb; prints "W H"
  if [ ! -s "$work/$1.rgb" ]; then
    mkdir -p "$work/$1"
    ffmpeg -nostdin -v error -y -i "$cache/media/$2" -frames:v "$n" -vf scale=-2:480 "$work/$1/%04d.png"
    ffmpeg -nostdin -v error -y -i "$work/$1/%04d.png" -f rawvideo -pix_fmt rgb24 "$work/$1.rgb"
  fi
  ffprobe -v error -show_entries stream=width,height -of csv=p=0 "$work/$1/0001.png" | tr , ' '
}
read -r vw vh < <(frames vtest vtest.avi)
read -r mw mh < <(frames mega Megamind.avi)
log=$work/results.jsonl
: >"$log"
record() { # kind label threads json
  python3 -c 'import json,sys; r=json.loads(sys.argv[4].strip().splitlines()[-1]); r.pop("detections",None)
print(json.dumps({"kind":sys.argv[1],"task":sys.argv[2],"threads":int(sys.argv[3]),"r":r}))' "$@" >>"$log"
}
peak() { # the GEMM peak and centernet alone, at 2 threads
  record gemm gemm 2 "$("$vdag" bench gemm --threads 2 --runs 30 --json)"
  record model centernet 2 "$("$vdag" bench models --models centernet --threads 2 --runs 30 --json)"
}
task() { # label frames-name w h human-task vdag-args...
  local label=$1 name=$2 w=$3 h=$4 ht=$5 t out
  shift 5
  for t in 1 2; do
    out=$("$vdag" run --video "$work/$name/%04d.png" "$@" --threads "$t" --quiet)
    echo "vdag $label --threads $t: $out" >&2
    record vdag "$label" "$t" "$out"
  done
  if [ "${HUMAN:-1}" != 0 ] && [ -n "$ht" ]; then
    out=$(node "$here/human/run.js" "$ht" "$work/$name.rgb" "$w" "$h" "$n" 2)
    record human "$label" 2 "$out"
    echo "human $label: $(tail -1 "$log")" >&2
  fi
}
peak
for rep in $(seq "$reps"); do
  echo "repetition $rep of $reps (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  task centernet vtest "$vw" "$vh" centernet --pipeline object_detection --model object_detection=0
  task nanodet vtest "$vw" "$vh" nanodet --pipeline object_detection --model object_detection=1
  task faces mega "$mw" "$mh" faces --pipeline face_detection,face_alignment --model face_detection=0
  if [ "${INT8:-0}" = 1 ]; then
    task centernet-int8 vtest "$vw" "$vh" "" --pipeline object_detection --model object_detection=2
    task nanodet-int8 vtest "$vw" "$vh" "" --pipeline object_detection --model object_detection=3
  fi
done
peak
python3 - "$log" "$reps" "${BUSY:-0}" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = statistics.median
def of(kind, task, t):
    return [r["r"] for r in rows if r["kind"] == kind and r["task"] == task and r["threads"] == t]
print("\n%s repetitions%s; medians over them." % (sys.argv[2], ", CPU 1 kept busy" if sys.argv[3] == "1" else ""))
print("\n| task | vdag 1T fps | vdag 2T fps | 2T/1T | human 2T fps | vdag 2T / human | stage medians 1T (ms) | stage medians 2T (ms) |")
print("|---|---:|---:|---:|---:|---:|---|---|")
tasks = []
for r in rows:
    if r["kind"] == "vdag" and r["task"] not in tasks: tasks.append(r["task"])
for task in tasks:
    v1, v2, h = of("vdag", task, 1), of("vdag", task, 2), of("human", task, 2)
    f1, f2 = med([r["fps"] for r in v1]), med([r["fps"] for r in v2])
    fh = med([r["fps"] for r in h]) if h else None
    stages = lambda v: " + ".join("%s %.2f" % (s, med([r["stages"][s]["median_ms"] for r in v])) for s in v[0]["stages"])
    print("| %s | %.1f | %.1f | %.2f | %s | %s | %s | %s |" % (task, f1, f2, f2 / f1,
          "%.1f" % fh if fh else "-", "%.1f×" % (f2 / fh) if fh else "-", stages(v1), stages(v2)))
g = [r["r"]["gflops"] for r in rows if r["kind"] == "gemm"]
c = [r["r"] for r in rows if r["kind"] == "model"]
if g and c:
    print("\nGEMM peak (2 threads, before/after): %s GFLOP/s; centernet alone: %s ms, %s GFLOP/s = %s of the peak" % (
        " / ".join("%.0f" % x for x in g), " / ".join("%.2f" % x["median_ms"] for x in c),
        " / ".join("%.0f" % x["gflops"] for x in c),
        " / ".join("%.0f %%" % (100 * x["gflops"] / y) for x, y in zip(c, g))))
EOF
