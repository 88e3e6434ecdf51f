#!/usr/bin/env bash
# Sources at run time in cluster mode (docs/nodes.md): a real nats-server, a cloud and an edge.
# POST /node/video on the edge's own API, seen by the cloud through the heartbeat; the cloud
# adding one to its only edge and removing one from it by name over NATS; a duplicate keeps
# its code (409) across the transport. (Pseudo mode and every refusal: test_sources.sh.)
vdag=$1
. "$(dirname "$0")/lib.sh"
post() { curl -s -m 20 -o "$tmp/out.json" -w '%{http_code}' -X POST "$S/node/video" -H 'Content-Type: application/json' -d "$1"; }
out() { py "$1" < "$tmp/out.json"; }
np=$(freeport)
TMPDIR=$tmp "$vdag" nats-server --port "$np" > "$tmp/nats.url" 2>> "$tmp/nats.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/nats.url" ] && break; sleep 0.1; done
URL=$(head -1 "$tmp/nats.url")
cp=$(freeport) ep=$(freeport)
bg "$vdag" cloud --listen 127.0.0.1:$cp --nats "$URL" --no-profile 2> "$tmp/cloud.log"
bg "$vdag" edge --name e1 --listen 127.0.0.1:$ep --nats "$URL" --threads 1 --no-profile 2> "$tmp/e1.log"
for _ in $(seq 150); do curl -s -m 1 "http://127.0.0.1:$cp/user/get_all_status" | grep -q '"e1"' && break; sleep 0.1; done
S=http://127.0.0.1:$ep
code=$(post '{"video_id":"x1","url":"vtest.avi"}')
ok "the edge's own POST /node/video (HTTP $code)" '[ "$code" = 200 ] && out "j=json.load(sys.stdin); assert j[\"node\"]==\"e1\" and \"x1\" in j[\"video\"], j"'
S=http://127.0.0.1:$cp
for _ in $(seq 50); do curl -s -m 5 "$S/node/get_video_info" | grep -q '"x1"' && break; sleep 0.1; done
ok "the cloud hears of it by heartbeat" 'curl -s -m 5 "$S/node/get_video_info" | grep -q "\"x1\""'
code=$(post '{"video_id":"x2","url":"vtest.avi"}')
ok "the cloud adds one to its only edge over NATS (HTTP $code)" '[ "$code" = 200 ] && out "j=json.load(sys.stdin); assert j[\"node\"]==\"e1\" and set(j[\"video\"])=={\"x1\",\"x2\"}, j"'
code=$(curl -s -m 20 -o "$tmp/out.json" -w '%{http_code}' -X DELETE "$S/node/video/x1?node=e1")
ok "and removes one from it by name (HTTP $code)" '[ "$code" = 200 ] && out "j=json.load(sys.stdin); assert list(j[\"video\"])==[\"x2\"], j"'
code=$(post '{"video_id":"x2","url":"vtest.avi"}')
ok "a duplicate over NATS keeps its code (HTTP $code)" '[ "$code" = 409 ]'

[ $fail -eq 0 ] || tail -30 "$tmp/e1.log" >&2
finish
