#!/usr/bin/env bash
# Issue 12 benchmark (slicing): the end-to-end latency of every candidate of a model —
# edge-only, each cut, cloud-only (JPEG) — between two vdag processes on two "machines":
# network namespaces vds-edge and vds-cloud joined by a veth throttled with `tc tbf` at
# each rate (both directions), a nats-server and `vdag slice serve` in the cloud namespace
# pinned to core 1, `vdag slice call` in the edge namespace pinned to core 0 and capped to
# EDGE_CPU % of it (cgroup v1 cpu quota). Each rate's table has every candidate's bytes,
# the chooser's predicted latency (`vdag slice` profiled on the cloud core, with the edge's
# speed measured by profiling the model on the capped edge) and the measured median; the last line compares the
# chooser's pick with the best measured candidate.
#
# Usage (root, iproute2, tc): flock /work/wt/bench.lock bench/slice.sh [build/vdag]
#   MODEL=blazeface-back RATES="5 20 100" (Mbit/s) FRAMES=5 FORMAT=f32|f16|i8 EDGE_CPU=25
#   FRAME_HEIGHT=0 (cloud-only JPEG at the model input size; H: the frame H pixels high)
# Benchmarks are not tests: nothing here passes or fails.
set -euo pipefail
vdag=$(readlink -f "${1:-build/vdag}")
MODEL=${MODEL:-blazeface-back}
RATES=${RATES:-"5 20 100"}
FRAMES=${FRAMES:-5}
FORMAT=${FORMAT:-f32}
EDGE_CPU=${EDGE_CPU:-25}
FRAME_HEIGHT=${FRAME_HEIGHT:-0}
. "$(dirname "$0")/netns.sh"
netns_check || { echo "bench/slice.sh: see above" >&2; exit 1; }
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

netns_add vds-edge vds-cloud
netns_veth vds-edge vds-e 10.77.0.1 vds-cloud vds-c 10.77.0.2

ip netns exec vds-cloud env TMPDIR="$tmp" "$vdag" nats-server --host 10.77.0.2 --port 4222 \
  > "$tmp/nats.url" 2> "$tmp/nats.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/nats.url" ] && break; sleep 0.1; done
url=nats://10.77.0.2:4222
ip netns exec vds-cloud taskset -c 1 "$vdag" slice serve "$MODEL" --nats "$url" --name cloud \
  2> "$tmp/serve.log" &
pids+=($!)
for _ in $(seq 300); do grep -q ready "$tmp/serve.log" && break; sleep 0.1; done
grep -q ready "$tmp/serve.log" || { cat "$tmp/serve.log" >&2; exit 1; }

netns_cpu_cap vds-edge "$EDGE_CPU"
# edge CMD...: in the edge namespace, on core 0, in the capped cgroup
edge() { (netns_run vds-edge vds-edge 0 "$@"); }

fh=(); [ "$FRAME_HEIGHT" -gt 0 ] && fh=(--frame-height "$FRAME_HEIGHT")
# The edge's speed relative to the cloud core, measured in place (each "machine" profiles
# the model itself; on a shared box the quota alone says little): whole-run time on the
# cloud core over that on the capped edge.
total() { python3 -c 'import json,sys; print(json.load(sys.stdin)["total_ms"])'; }
edge_ms=$(edge "$vdag" slice "$MODEL" --runs 10 --json | total)
cloud_ms=$(taskset -c 1 "$vdag" slice "$MODEL" --runs 10 --json | total)
edge_speed=$(python3 -c "print('%.4f' % ($cloud_ms / $edge_ms))")
echo "# $MODEL: $FORMAT tensors, edge capped to ${EDGE_CPU}% of a core: a run takes $edge_ms ms" \
  "there, $cloud_ms ms on the cloud core (edge speed $edge_speed)," \
  "$FRAMES frames per candidate, $(nproc) cores, $(date -u +%F)"
for r in $RATES; do
  netns_tbf vds-edge vds-e "$r"
  netns_tbf vds-cloud vds-c "$r"
  # RTT: the median of 9 TCP connects to the nats-server (one round trip each; no ping here)
  rtt=$(ip netns exec vds-edge python3 -c '
import socket, time
t = []
for _ in range(9):
    s = socket.socket(); a = time.perf_counter(); s.connect(("10.77.0.2", 4222))
    t.append((time.perf_counter() - a) * 1e3); s.close()
print("%.3f" % sorted(t)[4])')
  edge "$vdag" slice call "$MODEL" --nats "$url" --node cloud --frames "$FRAMES" \
    --format "$FORMAT" --cut all "${fh[@]}" > "$tmp/measured.$r" 2> "$tmp/call.log" ||
    { cat "$tmp/call.log" >&2; exit 1; }
  taskset -c 1 "$vdag" slice "$MODEL" --bandwidth "${r}mbit" --rtt "${rtt}ms" \
    --edge-speed "$edge_speed" --cloud-speed 1 --format "$FORMAT" --runs 5 "${fh[@]}" --json \
    > "$tmp/predicted.$r"
  echo
  echo "## $r Mbit/s (RTT ${rtt} ms)"
  python3 - "$tmp/measured.$r" "$tmp/predicted.$r" <<'EOF'
import json, sys
meas = {(d["kind"], d["cut"]): d for d in map(json.loads, open(sys.argv[1]))}
pred = json.load(open(sys.argv[2]))
cands = pred["candidates"]
key = lambda c: (c["kind"], c.get("cut", -1 if c["kind"] == "edge" else -2))
pick = key(cands[pred["choice"]])
best = min(meas.values(), key=lambda d: d["median_ms"])
print("| candidate | bytes | predicted ms | measured ms (median) | exact |")
print("|---|---:|---:|---:|---|")
for c in cands:
    m = meas.get(key(c))
    name = {"edge": "edge-only", "cloud": "cloud-only (JPEG)"}.get(c["kind"]) or \
        "cut %d (step %d)" % (c["cut"], c["step"])
    mark = (" **chooser**" if key(c) == pick else "") + \
        (" **best**" if m is best else "")
    print("| %s%s | %.0f | %.1f | %s | %s |" % (name, mark, m["bytes"] if m else c["bytes"],
          c["total_ms"], "%.1f" % m["median_ms"] if m else "-",
          {True: "yes", False: "no"}.get(m.get("exact")) if m and "exact" in m else ""))
pm = meas[pick]["median_ms"]
print("\nchooser: %s, measured %.1f ms; best measured: %s %s, %.1f ms; the pick is %+.0f %% "
      "off the best" % (pick[0], pm, best["kind"], best["cut"] if best["kind"] == "cut" else "",
                         best["median_ms"], 100 * (pm / best["median_ms"] - 1)))
EOF
done
