#!/usr/bin/env bash
# GET /metrics latency with N jobs running (issue 13: < 5 ms with 10 jobs). One `vdag run
# --listen` process, N jobs of nanodet at 360p skipping frames (so that 2 cores can run them),
# then M scrapes with curl; prints the median, p90 and max of curl's time_total and the size.
#   flock /work/wt/bench.lock bash bench/metrics.sh [VDAG] [N] [M]   (default build/vdag, 10, 200)
set -euo pipefail
vdag=${1:-build/vdag}
n=${2:-10}
m=${3:-200}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
S=http://127.0.0.1:$port
"$vdag" run --listen 127.0.0.1:$port --video 0=vtest.avi --loop --threads 1 --no-profile 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 100); do curl -s -m 1 "$S/healthz" >/dev/null && break; sleep 0.1; done
plan='{"video_conf":{"resolution":"360p","nskip":9},"flow_mapping":{"object_detection":{"model_id":1,"node_ip":"edge","node_role":"edge"}}}'
for _ in $(seq "$n"); do
  curl -s -m 5 -X POST -H 'Content-Type: application/json' "$S/query/submit_query" \
    -d "{\"node_addr\":\"edge\",\"video_id\":\"0\",\"pipeline\":[\"object_detection\"],\"scheduler\":\"fixed\",\"plan\":$plan}" >/dev/null
done
# every job running and past its model load (frames counted), then 5 s more
running() { curl -s -m 5 "$S/metrics" | awk '/^vdag_edge_jobs_running\{/ {print $2}'; }
with_frames() { curl -s -m 5 "$S/metrics" | grep -c '^vdag_frames_processed_total{' || true; }
for _ in $(seq 600); do [ "$(with_frames)" -ge "$n" ] && break; sleep 0.2; done
sleep 5
echo "jobs running: $(running), with frames: $(with_frames)"
curl -s "$S/metrics" > /tmp/vdag-bench-metrics.txt
for _ in $(seq "$m"); do curl -s -o /dev/null -w '%{time_total}\n' "$S/metrics"; done | sort -n | python3 -c "
import sys; t=[float(x)*1e3 for x in sys.stdin]; n=len(t)
print('jobs $n, scrapes %d, bytes %d: median %.2f ms, p90 %.2f ms, max %.2f ms' % (n, $(wc -c < /tmp/vdag-bench-metrics.txt), t[n//2], t[int(n*0.9)], t[-1]))"
rm -f /tmp/vdag-bench-metrics.txt
