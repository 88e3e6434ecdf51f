#!/usr/bin/env bash
# Issue 10 benchmark: batch detection of vtest.avi (795 frames) at 480p with nanodet and
# centernet, with 1 and 2 workers each pinned to its own core (taskset):
#   - NATS mode: a private nats-server (JetStream), the API server `vdag cloud`, workers
#     `vdag worker --threads 1`, the video uploaded with `vdag batch submit --server --wait`;
#   - the embedded default: `vdag batch submit --workers N`, one process pinned to N cores;
#   - the reference: `vdag run --threads 1` pinned to one core, same frames, same model;
#   - peak RSS of the API server and of a worker (VmHWM), the JetStream store per
#     video (du of the store: the peak while it runs, and what stays once it is done);
#   - with NETNS=1 (root, iproute2): the two workers in two network namespaces, each joined by
#     a veth to a nats-server in a third (the API server in the root namespace, a third veth):
#     a cluster of "machines" on one box.
# Prints markdown tables. Usage: bench/batch.sh [build/vdag]   (MODELS="nanodet centernet",
# NETNS=1, FRAMES=N). Benchmarks are not tests: nothing here passes or fails.
set -euo pipefail
vdag=$(readlink -f "${1:-build/vdag}")
cache=${VDAG_CACHE:-$HOME/.cache/vdag}
video=$cache/media/vtest.avi
MODELS=${MODELS:-"nanodet centernet"}
NETNS=${NETNS:-0}
FRAMES=${FRAMES:-0} # only the first N frames (0: all): for a quick try of the script
fr=(); [ "$FRAMES" -gt 0 ] && fr=(--frames "$FRAMES")
. "$(dirname "$0")/netns.sh"
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  netns_cleanup
  rm -rf "$tmp"
}
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_nats NETNS_PREFIX HOST: a private nats-server; $nats_url, $nats_dir
start_nats() {
  local pfx=$1 host=$2 port
  port=$(freeport)
  nats_dir=$tmp/nats-$port
  mkdir -p "$nats_dir"
  $pfx env TMPDIR="$nats_dir" "$vdag" nats-server --host "$host" --port "$port" \
    --max-payload 8MB > "$nats_dir/url" 2> "$nats_dir/log" &
  pids+=($!)
  nats_pid=$!
  for _ in $(seq 100); do [ -s "$nats_dir/url" ] && break; sleep 0.1; done
  nats_url=nats://$host:$port
  [ "$host" = 0.0.0.0 ] && nats_url=nats://${3:-127.0.0.1}:$port
  return 0
}
store_bytes() { du -sb "$nats_dir"/vdag-nats-*/js 2>/dev/null | awk '{s += $1} END {print s + 0}'; }

# peak RSS of a running process, KiB
hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# stop PID: SIGTERM, wait
stop() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# start_cloud NATS_URL: the API server; $api, $cloud_pid
start_cloud() {
  local port
  port=$(freeport)
  api=http://127.0.0.1:$port
  "$vdag" cloud --listen 127.0.0.1:$port --nats "$1" --no-profile --data "$tmp/data" \
    2> "$tmp/cloud.log" &
  cloud_pid=$!
  pids+=($cloud_pid)
  for _ in $(seq 100); do curl -sf "$api/healthz" > /dev/null && break; sleep 0.1; done
}

# start_worker K NATS_URL MODEL [PREFIX]: worker k pinned to core k-1 (PREFIX: ip netns exec
# …; it and taskset exec the worker, so $! is the worker's pid)
wpids=()
worker_rss=0
start_worker() {
  local k=$1 url=$2 model=$3 pfx=${4:-}
  $pfx taskset -c $((k - 1)) "$vdag" worker --nats "$url" --threads 1 --model "$model" \
    --name "w$k" 2>> "$tmp/workers.log" &
  wpids+=($!)
  pids+=($!)
}
stop_workers() {
  local p r
  for p in "${wpids[@]}"; do
    r=$(hwm "$p")
    [ "$r" -gt "$worker_rss" ] && worker_rss=$r
    stop "$p"
  done
  wpids=()
}

# submit MODEL LABEL WORKERS: one video through the API server; a table row into $rows
declare -A one_fps # "mode/model": frames/s with one worker
submit() {
  local model=$1 label=$2 workers=$3 peak=0 before s
  before=$(store_bytes)
  "$vdag" batch submit "$video" --server "$api" --resolution 480p --model "$model" "${fr[@]}" --wait \
    --json --quiet > "$tmp/stats.json" &
  local sp=$!
  while kill -0 $sp 2>/dev/null; do
    s=$(store_bytes)
    [ "$s" -gt "$peak" ] && peak=$s
    sleep 0.5
  done
  wait $sp
  sleep 1 # the janitor drops the segments
  local after
  after=$(store_bytes)
  row "$label" "$model" "$workers" "$tmp/stats.json"
  store_rows+="| $label | $model | $(( (peak - before) / 1024 )) KiB | $(( (after - before) / 1024 )) KiB |"$'\n'
}
row() { # LABEL MODEL WORKERS STATS.json: a row of the table; one_fps[LABEL/MODEL] for 1 worker
  local key="$1/$2"
  python3 - "$@" "${one_fps[$key]:-0}" "${run_ms[$2]:-0}" >> "$tmp/rows" <<'PY'
import json, sys
label, model, workers, path, one, run_ms = sys.argv[1:7]
s = json.load(open(path))
frames, wall = s["frames_processed"], s["wall_s"]
fps = frames / wall
per = wall * int(workers) / frames * 1000  # worker-ms per frame
model_ms, dec = s["avg_ms_per_frame"], s["decode_ms_per_frame"]
over = (per - model_ms - dec) / model_ms * 100
vs_run = (per - float(run_ms)) / model_ms * 100 if float(run_ms) > 0 else float("nan")
speed = fps / float(one) if float(one) > 0 else 1.0
shares = " / ".join("%.0f %%" % (100 * w["share"]) for w in s["workers"])
print("| %s | %s | %s | %d | %.2f | %.1f | %.1f | %.1f | %.1f %% | %+.1f %% | %.2fx | %s |" % (
    label, model, workers, frames, wall, fps, model_ms, dec, over, vs_run, speed, shares))
PY
  [ "$3" = 1 ] && one_fps[$key]=$(tail -1 "$tmp/rows" | awk -F'|' '{print $7}')
  return 0
}

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
declare -A run_ms
echo
echo "### vdag run, one core (--threads 1, taskset -c 0), vtest.avi 480p"
echo
echo "| model | frames | fps | median model ms | ms per frame (1/fps) |"
echo "|---|---:|---:|---:|---:|"
for m in $MODELS; do
  id=$([ "$m" = centernet ] && echo 0 || echo 1)
  taskset -c 0 "$vdag" run --video "$video" --pipeline object_detection --resolution 480p \
    --model object_detection=$id --threads 1 --quiet "${fr[@]}" > "$tmp/run.json"
  python3 - "$m" "$tmp/run.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[2]))
print("| %s | %d | %.1f | %.1f | %.1f |" % (sys.argv[1], s["processed"], s["fps"],
      s["stages"]["object_detection"]["median_ms"], 1000 / s["fps"]))
PY
  run_ms[$m]=$(python3 -c "import json; print(1000/json.load(open('$tmp/run.json'))['fps'])")
done

store_rows=""
start_nats "" 127.0.0.1
start_cloud "$nats_url"
for m in $MODELS; do
  for n in 1 2; do
    for k in $(seq $n); do start_worker $k "$nats_url" "$m"; done
    sleep 2 # models loaded
    submit "$m" "NATS" "$n"
    stop_workers
  done
done
cloud_rss=$(hwm "$cloud_pid")
stop "$cloud_pid"
stop "$nats_pid"

# the embedded default: one process, N worker threads on N cores
for m in $MODELS; do
  for n in 1 2; do
    cores=$([ $n = 1 ] && echo 0 || echo 0,1)
    taskset -c $cores "$vdag" batch submit "$video" --resolution 480p --model "$m" --workers $n "${fr[@]}" \
      --json --quiet --data "$tmp/emb" > "$tmp/emb.json"
    row "embedded" "$m" "$n" "$tmp/emb.json"
  done
done

if [ "$NETNS" = 1 ]; then
  netns_check || { echo "bench/batch.sh: NETNS=1: see above" >&2; exit 1; }
  netns_add vdb-nats vdb-w1 vdb-w2
  for i in 1 2; do # worker i's "machine": a veth to the broker's
    netns_veth vdb-w$i vdb-w$i 10.77.$i.2 vdb-nats vdb-w$i-n 10.77.$i.1
  done
  netns_veth "" vdb-api 10.77.3.2 vdb-nats vdb-api-n 10.77.3.1 # the API server, here
  start_nats "ip netns exec vdb-nats" 0.0.0.0 10.77.3.1
  port=${nats_url##*:}
  start_cloud "nats://10.77.3.1:$port"
  for m in $MODELS; do
    for n in 1 2; do # worker k in namespace vdb-wk, through its own veth
      for k in $(seq $n); do start_worker $k "nats://10.77.$k.1:$port" "$m" "ip netns exec vdb-w$k"; done
      sleep 2
      submit "$m" "NATS, netns" "$n"
      stop_workers
    done
  done
  stop "$cloud_pid"
  stop "$nats_pid"
fi

echo
echo "### batch, vtest.avi 480p (795 frames), workers pinned one per core"
echo
echo "| mode | model | workers | frames | wall s | frames/s | model ms/frame | decode ms/frame | overhead vs model+decode | vs vdag run | speed-up vs 1 worker | shares |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
cat "$tmp/rows"
echo
echo "### JetStream store per video (du of the store dir)"
echo
echo "| mode | model | peak while running | kept once done |"
echo "|---|---|---:|---:|"
printf "%s" "$store_rows"
echo
echo "peak RSS: API server (vdag cloud) $((cloud_rss / 1024)) MiB, a worker $((worker_rss / 1024)) MiB"
