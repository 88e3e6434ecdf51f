#!/usr/bin/env bash
# The seed's client (tests/seed/seed_client.py: Debian's python3-requests, nothing of vdag)
# against the seed's pseudo mode (`vdag run --side=c --mode=pseudo`, its videos in ./input/)
# and against a NATS cluster (a cloud and an edge as separate processes).
vdag=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") # absolute: pseudo mode starts elsewhere
. "$(dirname "$0")/lib.sh"
client=$(cd "$(dirname "$0")" && pwd)/seed/seed_client.py
PY=/usr/bin/python3 # Debian's, with python3-requests (scripts/deps.txt)
ok "Debian's python3-requests is installed" '$PY -c "import requests"'
img=$cache/media/messi5.jpg

# --- pseudo mode ----------------------------------------------------------------------
mkdir -p "$tmp/seed/input"
ln -s "$cache/media/Megamind.avi" "$tmp/seed/input/input.mov"
pp=$(freeport)
(cd "$tmp/seed" && exec "$vdag" run --side=c --mode=pseudo --listen 127.0.0.1:$pp --threads 1 --loop) 2> "$tmp/pseudo.log" &
ps=$!; pids+=("$ps")
for _ in $(seq 100); do curl -s -m 1 "http://127.0.0.1:$pp/user/get_all_status" | grep -q '"edge"' && break; sleep 0.1; done
$PY "$client" "http://127.0.0.1:$pp" "$img" > "$tmp/pseudo.out" 2>&1; rc=$?
ok "the seed client against pseudo mode (exit $rc)" '[ $rc -eq 0 ] && grep -q "all checks passed" "$tmp/pseudo.out"'
kill -TERM "$ps"; wait "$ps"

# --- a NATS cluster ---------------------------------------------------------------------
np=$(freeport) cp=$(freeport) ep=$(freeport)
URL=nats://127.0.0.1:$np
TMPDIR=$tmp "$vdag" nats-server --port "$np" > "$tmp/nats.url" 2> "$tmp/nats.log" &
nats_pid=$!; pids+=("$nats_pid")
for _ in $(seq 150); do [ -s "$tmp/nats.url" ] && break; sleep 0.1; done
"$vdag" cloud --listen 127.0.0.1:$cp --nats "$URL" 2> "$tmp/cloud.log" &
cl=$!; pids+=("$cl")
"$vdag" edge --name e1 --listen 127.0.0.1:$ep --nats "$URL" --video 0=Megamind.avi=faces --loop --threads 1 2> "$tmp/edge.log" &
ed=$!; pids+=("$ed")
for _ in $(seq 100); do curl -s -m 1 "http://127.0.0.1:$cp/user/get_all_status" | grep -q '"e1"' && break; sleep 0.1; done
$PY "$client" "http://127.0.0.1:$cp" "$img" > "$tmp/cluster.out" 2>&1; rc=$?
ok "the seed client against a NATS cluster (exit $rc)" '[ $rc -eq 0 ] && grep -q "all checks passed" "$tmp/cluster.out"'
kill -TERM "$ed" "$cl"; wait "$ed" "$cl"
kill -TERM "$nats_pid"; wait "$nats_pid" 2>/dev/null
[ $fail -eq 0 ] || for f in pseudo.out cluster.out pseudo.log cloud.log edge.log; do echo "--- $f"; tail -15 "$tmp/$f"; done >&2
cat "$tmp/pseudo.out" "$tmp/cluster.out" | grep -c "^ok:" | sed "s/^/seed client checks passed: /" >&2
finish
