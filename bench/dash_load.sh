#!/usr/bin/env bash
# fps of a running job with 0 and with 3 headless Chromium browsers open on its dashboard page
# (issue 13: within noise of none). One `vdag run --listen` process, one job (face_detection on
# vtest.avi, looped), then ROUNDS rounds of [WINDOW s with no browser, WINDOW s with 3], the
# order alternating every round; a window starts once the browsers show the live view (their
# start-up is not measured) and its fps is the cloud's frame count over it. Prints each window
# and the medians.
#   PACE=nopace  the file is read at full speed (--no-pace): the job's fps is what the machine
#                gives it, so any CPU the browsers (and the live view's rendering) take shows
#   PACE=paced   read at its 10 fps, like a camera: the job keeps up unless the page costs it
#   BROWSERS=N   browsers instead of 3
#   flock /work/wt/bench.lock bash bench/dash_load.sh [VDAG] [ROUNDS] [WINDOW]
#   (default build/vdag, 3, 20; PACE=nopace)
set -euo pipefail
vdag=${1:-build/vdag}
rounds=${2:-3}
win=${3:-20}
pace=${PACE:-nopace}
nb=${BROWSERS:-3}
here=$(cd "$(dirname "$0")" && pwd)
web=$here/../tests/web
[ -d "$web/node_modules/playwright-core" ] || (cd "$web" && npm ci --prefer-offline --no-audit --no-fund > /dev/null)
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
S=http://127.0.0.1:$port
flags=(--threads 1 --no-profile --loop)
[ "$pace" = nopace ] && flags+=(--no-pace)
"$vdag" run --listen 127.0.0.1:$port --video 0=vtest.avi "${flags[@]}" 2> "$tmp/run.log" &
pid=$!
bpid=
trap '[ -n "$bpid" ] && kill $bpid 2>/dev/null; kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do curl -s -m 1 "$S/healthz" > /dev/null && break; sleep 0.1; done
job=$(curl -s -m 5 -X POST -H 'Content-Type: application/json' "$S/query/submit_query" \
  -d '{"node_addr":"edge","video_id":"0","pipeline":["face_detection"],"scheduler":"fixed"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["job_uid"])')
frames() { curl -s -m 5 "$S/user/sync_job_result/$job" | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["frames"])'; }
sleep 5 # models loaded, the job at its pace
window() { # LABEL: fps over one window
  local f0 f1 t0 t1
  f0=$(frames) t0=$(date +%s.%N)
  sleep "$win"
  f1=$(frames) t1=$(date +%s.%N)
  python3 -c "print('%.2f' % (($f1 - $f0) / ($t1 - $t0)))"
}
with3() {
  NODE_PATH=$web/node_modules node "$here/dash_load.js" "$S/" "$job" "$nb" > "$tmp/b.log" 2>&1 &
  bpid=$!
  for _ in $(seq 600); do grep -q "^READY $nb" "$tmp/b.log" && break; grep -q FAIL "$tmp/b.log" && { cat "$tmp/b.log" >&2; exit 1; }; sleep 0.1; done
  grep -q "^READY $nb" "$tmp/b.log" || { echo "browsers did not start" >&2; cat "$tmp/b.log" >&2; exit 1; }
  sleep 2
  window
  kill "$bpid"; wait "$bpid" 2> /dev/null || true
  bpid=
  sleep 2 # the live view's last viewer gone: the job stops rendering
}
none=() three=()
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then
    a=$(window); b=$(with3)
  else
    b=$(with3); a=$(window)
  fi
  none+=("$a") three+=("$b")
  echo "round $r: none $a fps, $nb browsers $b fps"
done
python3 - "${none[*]}" "${three[*]}" "$pace" "$win" "$nb" << 'EOF'
import statistics, sys
none = [float(x) for x in sys.argv[1].split()]
three = [float(x) for x in sys.argv[2].split()]
mn, m3 = statistics.median(none), statistics.median(three)
print("%s, %s s windows: median none %.2f fps (%s), %s browsers %.2f fps (%s): %+.1f%%" % (
    sys.argv[3], sys.argv[4], mn, " ".join(map(str, none)), sys.argv[5], m3, " ".join(map(str, three)),
    (m3 - mn) / mn * 100 if mn else 0))
EOF
