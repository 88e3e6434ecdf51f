#!/usr/bin/env bash
# Issue 11 evaluation harness: the schedulers side by side on a throttled edge-cloud link.
# Two "machines" on one box (bench/netns.sh): namespace $NS-edge (`vdag edge`, pinned to
# core 0 and capped to EDGE_CPU % of it with a cgroup v1 quota, so offloading matters) and
# $NS-cloud (nats-server and `vdag cloud` with its service host, core 1), joined by a veth
# whose edge end (the edge's uplink) goes through `tc tbf` following SCHEDULE. For each
# scheduler in turn, one job (PIPELINE on VIDEO, looped, delay bound DELAY s) runs through the
# whole schedule; bench/eval_sched.py collects every step result (delay, plan version,
# output) from the cloud's API, the plan changes with their reasons, and the uplink's byte
# counter. Offline, with the nodes stopped: the golden configuration (model 0, native
# resolution, every frame) on the same footage, `vdag eval score` (the kb's F1) for each
# run, the oracle (`vdag eval oracle` per rate, replayed with `vdag run` and scored), the
# markdown table on stdout and `vdag eval plot`'s PNG.
#
# Usage (root, iproute2, tc, cgroup v1 cpu):
#   flock /work/wt/bench.lock bench/eval_sched.sh [build/vdag]
#   SCHEDULERS="fixed feedback kb seed-pid chameleon" SCHEDULE="50:60 5:60 50:60" (Mbit/s:s)
#   VIDEO=vtest.avi PIPELINE=object_detection DELAY=0.15 ACCURACY=0.9 EDGE_CPU=50 REPLAN=2
#   KB=FILE (default: this machine's profile, made by `vdag profile --if-missing`)
#   OUT=DIR (default bench/plots/eval-<UTC time>: run.png, run.json, table.md, per scheduler
#   frames.csv etc.) GOLDEN_NSKIP=0 (golden on every (k+1)-th frame only: quicker, for CI)
#   EDGE_SPEED (the oracle's edge speed; default EDGE_CPU/100), ORACLE_FRAMES=N (replay the
#   oracle's plans on the first N frames only; default all the runs covered: quicker, for CI)
#   CPU_OWN=1 (the nodes run with --cpu-own: each reports its own process's CPU, as a machine
#   of its own would; 0: the whole box's, which other work on it fills)
#   NS=vde SUBNET=10.78.0 (names and addresses: two runs at once need different ones)
#   FIXED_PLACE=cloud (the plan `fixed` is given: native resolution, model 0, every stage on
#   that node; "edge": the default plan)
# Benchmarks are not tests: nothing here passes or fails (tests/test_eval_sched.sh checks
# that a short run's outputs are well-formed).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
vdag=$(readlink -f "${1:-build/vdag}")
SCHEDULERS=${SCHEDULERS:-"fixed feedback kb seed-pid chameleon"}
SCHEDULE=${SCHEDULE:-"50:60 5:60 50:60"}
VIDEO=${VIDEO:-vtest.avi}
PIPELINE=${PIPELINE:-object_detection}
DELAY=${DELAY:-0.15}
ACCURACY=${ACCURACY:-0.9} # the job's accuracy constraint (what chameleon's cheapest plan must reach)
EDGE_CPU=${EDGE_CPU:-50}
REPLAN=${REPLAN:-2}
FIXED_PLACE=${FIXED_PLACE:-cloud}
CPU_OWN=${CPU_OWN:-1} # 1: the nodes report their own CPU, not the shared box's (--cpu-own)
NS=${NS:-vde}              # namespaces $NS-edge, $NS-cloud; veth $NS-e <-> $NS-c
SUBNET=${SUBNET:-10.78.0}  # edge .1, cloud .2
GOLDEN_NSKIP=${GOLDEN_NSKIP:-0}
EDGE_SPEED=${EDGE_SPEED:-$(awk -v c="$EDGE_CPU" 'BEGIN { print (c > 0 ? c / 100 : 1) }')}
OUT=${OUT:-$here/plots/eval-$(date -u +%Y%m%dT%H%M)}
cache=${VDAG_CACHE:-$HOME/.cache/vdag}
case $VIDEO in */*) video=$VIDEO ;; *) video=$cache/media/$VIDEO ;; esac
[ -f "$video" ] || { echo "bench/eval_sched.sh: $video: no such file (scripts/setup.sh)" >&2; exit 1; }

. "$here/netns.sh"
netns_check || { echo "bench/eval_sched.sh: see above" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(readlink -f "$OUT")
tmp=$(mktemp -d)
pids=()
stop_all() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do # bounded: SIGKILL what has not gone within 5 s
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  pids=()
}
cleanup() {
  stop_all
  netns_cleanup
  rm -rf "$tmp"
}
trap cleanup EXIT

# the knowledge base both nodes plan with: this machine's profile (accuracy included)
if [ -z "${KB:-}" ]; then
  KB=$cache/profile-$(hostname).json
  taskset -c 1 "$vdag" profile --if-missing >&2
fi
[ -f "$KB" ] || { echo "bench/eval_sched.sh: $KB: no knowledge base" >&2; exit 1; }

# the footage: frames, height, fps
read -r clip_frames native_w native_h native_fps < <(ffprobe -v error -select_streams v:0 \
  -count_packets -show_entries stream=nb_read_packets,width,height,r_frame_rate -of json "$video" |
  python3 -c 'import json,sys; s=json.load(sys.stdin)["streams"][0]; n,d=s["r_frame_rate"].split("/")
print(s["nb_read_packets"], s["width"], s["height"], "%g" % (float(n)/float(d)))')

netns_add $NS-edge $NS-cloud
netns_veth $NS-edge $NS-e $SUBNET.1 $NS-cloud $NS-c $SUBNET.2
netns_cpu_cap $NS-edge "$EDGE_CPU"
first_rate=${SCHEDULE%%:*}
netns_tbf $NS-edge $NS-e "$first_rate"

netns_run $NS-cloud "" 1 env TMPDIR="$tmp" "$vdag" nats-server --host $SUBNET.2 --port 4222 \
  --max-payload 8MB > "$tmp/nats.url" 2> "$tmp/nats.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/nats.url" ] && break; sleep 0.1; done
[ -s "$tmp/nats.url" ] || { cat "$tmp/nats.log" >&2; exit 1; }
own=()
[ "$CPU_OWN" = 1 ] && own=(--cpu-own)
nats=nats://$SUBNET.2:4222
api=http://$SUBNET.2:5000
netns_run $NS-cloud "" 1 "$vdag" cloud --listen $SUBNET.2:5000 --nats "$nats" --replan "$REPLAN" \
  --kb "$KB" "${own[@]}" 2> "$tmp/cloud.log" &
pids+=($!)
netns_run $NS-edge $NS-edge 0 "$vdag" edge --name edge --listen $SUBNET.1:5001 --nats "$nats" \
  --video "0=$video" --loop --kb "$KB" --threads 1 "${own[@]}" 2> "$tmp/edge.log" &
pids+=($!)
# both nodes known to the cloud (its status lists the edge with its video)
ok=0
for _ in $(seq 300); do
  if ip netns exec $NS-cloud curl -sf "$api/user/get_all_status" 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]; sys.exit(0 if "edge" in d and "cloud" in d else 1)' \
      2>/dev/null; then
    ok=1
    break
  fi
  sleep 0.1
done
[ "$ok" = 1 ] || { echo "nodes not up:" >&2; tail -5 "$tmp/cloud.log" "$tmp/edge.log" >&2; exit 1; }

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ);" \
  "edge capped to $EDGE_CPU % of core 0, cloud on core 1; $VIDEO ($clip_frames frames," \
  "${native_h}p, $native_fps fps) looped, $PIPELINE, bound $DELAY s, schedule $SCHEDULE" \
  "(Mbit/s:s), re-plan every $REPLAN s, CPU_OWN=$CPU_OWN" | tee "$OUT/machine.txt" >&2

for s in $SCHEDULERS; do
  d=$OUT/$s
  rm -rf "$d"
  mkdir -p "$d"
  netns_tbf $NS-edge $NS-e "$first_rate"
  plan=()
  [ "$s" = fixed ] && plan=(--plan "$(python3 -c 'import json,sys
print(json.dumps({"video_conf": {"resolution": "native"}, "flow_mapping": {
    st: {"model_id": 0, "node": sys.argv[2]} for st in sys.argv[1].split(",")}}))' \
    "$PIPELINE" "$FIXED_PLACE")")
  ip netns exec $NS-cloud python3 "$here/eval_sched.py" poll --api "$api" --scheduler "$s" \
    --delay "$DELAY" --accuracy "$ACCURACY" --pipeline "$PIPELINE" --video 0 --node edge \
    --iface $NS-c --dir "$d" "${plan[@]}" 2> "$d/poll.log" &
  poller=$!
  pids+=($poller)
  for _ in $(seq 600); do [ -e "$d/started" ] && break; sleep 0.1; done
  [ -e "$d/started" ] || { echo "$s: no result within 60 s" >&2; cat "$d/poll.log" >&2; exit 1; }
  : > "$d/steps"
  for step in $SCHEDULE; do
    netns_tbf $NS-edge $NS-e "${step%%:*}"
    date +%s.%N >> "$d/steps"
    echo "$s: ${step%%:*} Mbit/s for ${step##*:} s" >&2
    sleep "${step##*:}"
  done
  date +%s.%N >> "$d/steps"
  touch "$d/stop"
  wait "$poller"
done
stop_all # the offline part runs with the nodes gone
cp "$tmp/cloud.log" "$tmp/edge.log" "$OUT/" 2>/dev/null || true

# golden: model 0 at the native resolution, every (GOLDEN_NSKIP+1)-th frame, as many frames
# as the runs covered (a whole clip's is kept in the cache for the next run)
maxid=$(cat "$OUT"/*/frames.jsonl | python3 -c 'import json,sys
print(max([json.loads(l)["cam_frame_id"] for l in sys.stdin if l.strip()] or [0]))')
n=$((maxid + 1 < clip_frames ? maxid + 1 : clip_frames))
mkdir -p "$cache/eval"
gold=$cache/eval/golden-$(basename "$video")-${PIPELINE//,/+}-s$GOLDEN_NSKIP.jsonl
if [ "$n" -lt "$clip_frames" ] || [ ! -s "$gold" ]; then
  g=$tmp/golden.jsonl
  [ "$n" -ge "$clip_frames" ] && g=$gold.tmp
  taskset -c 1 "$vdag" run --video "$video" --pipeline "$PIPELINE" --nskip "$GOLDEN_NSKIP" \
    --frames $(((n + GOLDEN_NSKIP) / (GOLDEN_NSKIP + 1))) --threads 1 --results "$g" --quiet \
    > /dev/null
  if [ "$g" = "$gold.tmp" ]; then mv "$g" "$gold"; else gold=$g; fi
fi
for s in $SCHEDULERS; do
  "$vdag" eval score --golden "$gold" --results "$OUT/$s/frames.jsonl" \
    --clip-frames "$clip_frames" --out "$OUT/$s/score.jsonl" > "$OUT/$s/score.json"
done
python3 "$here/eval_sched.py" oracle --vdag "$vdag" --kb "$KB" --pipeline "$PIPELINE" \
  --delay "$DELAY" --schedule "$SCHEDULE" --video "$video" --golden "$gold" \
  --clip-frames "$clip_frames" --frames "${ORACLE_FRAMES:-$n}" --edge-speed "$EDGE_SPEED" --native-h "$native_h" \
  --native-w "$native_w" --native-fps "$native_fps" --dir "$OUT" --cpus 1
python3 "$here/eval_sched.py" report --dir "$OUT" --schedulers "$SCHEDULERS" --delay "$DELAY" \
  --schedule "$SCHEDULE" --oracle "$OUT/oracle.json" --fps "$native_fps" \
  --title "$PIPELINE on $VIDEO, bound $DELAY s, edge at $EDGE_CPU % of a core, $(date -u +%F)" \
  | tee "$OUT/table.md"
"$vdag" eval plot --in "$OUT/run.json" --out "$OUT/run.png"
echo "plot: $OUT/run.png" >&2
