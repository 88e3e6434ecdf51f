#!/usr/bin/env bash
# make demo: runs the main job on the embedded default and shows the result.
# Until the video pipeline lands, that is every model once and the benchmark table.
set -euo pipefail
vdag=${1:-build/vdag}
cache=${VDAG_CACHE:-$HOME/.cache/vdag}
echo "== vdag: the six models of the runtime, lcg:12345 input, 2 threads"
for m in blazeface-back blazeface-front facemesh nanodet centernet movenet-lightning; do
  echo "-- $m"
  "$vdag" nn run "$m" --threads 2
done
echo
echo "== benchmark (median of 30 runs, 2 threads); TF.js wasm figures are in bench/RESULTS.md"
"$vdag" bench models --threads 2 --runs 30 --warmup 3
echo
echo "models: $cache/models   media: $cache/media"
