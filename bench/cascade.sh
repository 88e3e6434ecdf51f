#!/usr/bin/env bash
# Issue 12 benchmark (cascades): for each cascade model and video, the exit curve (per
# uncertain band LO..HI: the share of frames sent on, and the mean per-frame F1 against the
# large model alone) and the cascade run live against always-cloud: the share of frames
# answered at the edge, F1 against the large model alone on the raw frame, mean and median
# latency per frame and bytes per frame sent. Unit 0 runs in `vdag cascade bench`; the large
# unit is a `vdag cascade serve` worker on a private nats-server over loopback (no link
# shaping: the latency is compute plus a local hop; bytes do not depend on it).
#
# Usage: flock /work/wt/bench.lock bench/cascade.sh [build/vdag]
#   FRAMES=150 EVERY=2 (frames measured, one in EVERY) VIDEOS="vtest.avi Megamind.avi"
#   CASCADES="object_detection face_detection" LOS="0,0.6" (extra band lower edges swept)
#   KB=FILE: the curves also go into that knowledge base file (the kb scheduler's bands)
# Benchmarks are not tests: nothing here passes or fails.
set -euo pipefail
vdag=$(readlink -f "${1:-build/vdag}")
FRAMES=${FRAMES:-150}
EVERY=${EVERY:-2}
VIDEOS=${VIDEOS:-"vtest.avi Megamind.avi"}
CASCADES=${CASCADES:-"object_detection face_detection"}
LOS=${LOS:-"0,0.6"}
cache=${VDAG_CACHE:-$HOME/.cache/vdag}
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TMPDIR=$tmp "$vdag" nats-server --port "$port" > "$tmp/nats.url" 2> "$tmp/nats.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/nats.url" ] && break; sleep 0.1; done
url=nats://127.0.0.1:$port
large() { case $1 in object_detection) echo centernet ;; face_detection) echo blazeface-back ;; esac; }
for svc in $CASCADES; do
  "$vdag" cascade serve "$svc" "$(large "$svc")" --nats "$url" --name cloud-$svc \
    2> "$tmp/serve-$svc.log" &
  pids+=($!)
  for _ in $(seq 300); do grep -q ready "$tmp/serve-$svc.log" && break; sleep 0.1; done
done
echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); FRAMES=$FRAMES EVERY=$EVERY"
for svc in $CASCADES; do
  for v in $VIDEOS; do
    echo "## $svc on $v"
    "$vdag" cascade bench "$svc" --video "$cache/media/$v" --frames "$FRAMES" --every "$EVERY" \
      --lo "$LOS" --nats "$url" ${KB:+--kb "$KB"} > "$tmp/out.jsonl"
    python3 - "$tmp/out.jsonl" <<'EOF'
import json, sys
ls = [json.loads(l) for l in open(sys.argv[1])]
curve = [l for l in ls if l["kind"] == "curve"]
print("band       sent on   F1")
for c in curve:
    print(f"{c['lo']:.2f}..{c['hi']:.2f}  {c['escalated']:7.3f}  {c['f1']:.3f}")
for l in ls:
    if l["kind"] in ("cascade", "cloud"):
        print(f"{l['kind']:8s} frames {l['frames']} edge {l['edge_fraction']:.3f} "
              f"F1 {l['f1']:.3f} mean {l['mean_ms']:.1f} ms median {l['median_ms']:.1f} ms "
              f"bytes/frame {l['bytes_per_frame']:.0f}")
c = next(l for l in ls if l["kind"] == "cascade")
k = next(l for l in ls if l["kind"] == "cloud")
ratio = k["bytes_per_frame"] / c["bytes_per_frame"] if c["bytes_per_frame"] else float("inf")
print(f"bytes: {ratio:.2f}x fewer than always-cloud; latency {c['mean_ms'] / k['mean_ms']:.2f}x")
EOF
  done
done
