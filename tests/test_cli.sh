#!/usr/bin/env bash
# The command line as a new user meets it: a cluster node that cannot reach its broker says so
# and its /healthz answers 503 until it can; (more below).
vdag=$1
. "$(dirname "$0")/lib.sh"

# --- a cluster node with no broker: said on stderr, 503 on /healthz, then connected -------
np=$(freeport) lp=$(freeport)
"$vdag" cloud --listen 127.0.0.1:$lp --nats nats://127.0.0.1:$np --no-profile 2> "$tmp/down.log" &
cl=$!; pids+=("$cl")
for _ in $(seq 100); do grep -q "not connected to the NATS server at .* for" "$tmp/down.log" && break; sleep 0.1; done
ok "no broker: the cloud says so, naming the URL" 'grep -q "not connected to the NATS server at nats://127.0.0.1:$np for [0-9]* s: is nats-server running" "$tmp/down.log"'
code=$(curl -s -m 5 -o "$tmp/body" -w '%{http_code}' "http://127.0.0.1:$lp/healthz")
ok "no broker: /healthz 503 VD_ECONN ($code)" '[ "$code" = 503 ] && py "j=json.load(open(\"$tmp/body\")); assert j[\"status\"]==-15 and j[\"connected\"] is False and \"nats://127.0.0.1:$np\" in j[\"msg\"], j"'
TMPDIR=$tmp "$vdag" nats-server --port "$np" > "$tmp/nats.url" 2> "$tmp/nats.log" &
nats_pid=$!; pids+=("$nats_pid")
for _ in $(seq 100); do curl -s -m 2 "http://127.0.0.1:$lp/healthz" | grep -q '"status": *0' && break; sleep 0.1; done
code=$(curl -s -m 5 -o "$tmp/body" -w '%{http_code}' "http://127.0.0.1:$lp/healthz")
ok "broker up: /healthz 200, connected ($code)" '[ "$code" = 200 ] && grep -q "\"connected\": *true" "$tmp/body"'
for _ in $(seq 50); do grep -q "connected to nats://" "$tmp/down.log" && break; sleep 0.1; done
ok "broker up: the cloud says it connected" 'grep -q "connected to nats://127.0.0.1:$np" "$tmp/down.log"'
kill -TERM "$cl"; wait "$cl"; rc=$?
ok "the cloud exits 0 ($rc)" '[ $rc -eq 0 ]'
kill -TERM "$nats_pid"; wait "$nats_pid" 2>/dev/null

[ $fail -eq 0 ] || { echo "--- down.log"; cat "$tmp/down.log"; } >&2
finish
