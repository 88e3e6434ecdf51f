#!/usr/bin/env bash
# The cloud's events on NATS (docs/events.md): a real nats-server (`vdag nats-server`), a cloud
# and an edge as separate processes, a job with object detection and tracking (ntracking 2) on
# vtest.avi. A bare NATS client on vdag.event.> gets node_up for both nodes, the start plan,
# result, count, enter and leave events on vdag.event.<type>.<job>, and node_down once the edge
# is killed (-9) and dropped.
vdag=$1
. "$(dirname "$0")/lib.sh"
np=$(freeport) cp=$(freeport) ep=$(freeport)
URL=nats://127.0.0.1:$np
C=http://127.0.0.1:$cp
TMPDIR=$tmp "$vdag" nats-server --port "$np" > "$tmp/nats.url" 2>> "$tmp/nats.log" &
pids+=($!)
for _ in $(seq 150); do [ -s "$tmp/nats.url" ] && break; sleep 0.1; done
[ -s "$tmp/nats.url" ] || { echo "nats-server did not start" >&2; cat "$tmp/nats.log" >&2; exit 1; }
# a bare NATS client on vdag.event.>: "SUBJECT JSON" lines, "ready" once subscribed
: > "$tmp/ev.txt"
python3 "$(dirname "$0")/nats_sub.py" "$np" 'vdag.event.>' > "$tmp/ev.txt" 2> "$tmp/ev.log" &
pids+=($!)
for _ in $(seq 100); do grep -q '^ready' "$tmp/ev.txt" && break; sleep 0.1; done
ok "the subscriber is ready" 'grep -q "^ready" "$tmp/ev.txt"'
# n SUBJECT: events on that subject
n() { grep -c "^$1 " "$tmp/ev.txt"; }
wait_n() { for _ in $(seq 300); do [ "$(n "$1")" -ge 1 ] && return 0; sleep 0.1; done; return 1; }

bg "$vdag" cloud --listen 127.0.0.1:$cp --nats "$URL" --no-profile --leave-frames 3 2> "$tmp/cloud.log"
bg "$vdag" edge --name e1 --listen 127.0.0.1:$ep --nats "$URL" --video 0=vtest.avi=street --loop --threads 1 --no-profile 2> "$tmp/e1.log"
edge=$bg_pid
for _ in $(seq 100); do curl -s -m 1 "$C/user/get_all_status" | grep -q '"e1"' && break; sleep 0.1; done
job=$(curl -s -m 5 -X POST -H 'Content-Type: application/json' "$C/query/submit_query" \
  -d '{"node_addr":"e1","video_id":"0","pipeline":["object_detection"],"scheduler":"fixed","plan":{"video_conf":{"resolution":"360p","ntracking":2},"flow_mapping":{"object_detection":{"model_id":1,"node_ip":"e1","node_role":"host"}}},"user_constraint":{"delay":1}}' | py 'print(json.load(sys.stdin)["job_uid"])')
ok "job submitted" '[ -n "$job" ]'
for t in result count enter leave; do wait_n "vdag.event.$t.$job"; done
ok "node_up for e1 and the cloud" 'wait_n vdag.event.node_up.e1 && [ "$(n vdag.event.node_up.cloud)" -ge 1 ]'
ok "the start plan on vdag.event.plan.<job>" 'grep "^vdag.event.plan.$job " "$tmp/ev.txt" | head -1 | cut -d" " -f2- | py "e=json.load(sys.stdin); assert e[\"why\"]==\"start\" and e[\"job\"]==\"$job\" and e[\"node\"]==\"e1\", e"'
ok "result events carry the frame" 'grep "^vdag.event.result.$job " "$tmp/ev.txt" | head -1 | cut -d" " -f2- | py "e=json.load(sys.stdin); assert e[\"seq\"]>=1 and e[\"cloud\"]==\"cloud\" and \"object_detection\" in e[\"result\"][\"stages\"], e"'
ok "count, enter and leave events" '[ "$(n vdag.event.count.$job)" -ge 1 ] && [ "$(n vdag.event.enter.$job)" -ge 1 ] && [ "$(n vdag.event.leave.$job)" -ge 1 ]'
ok "an enter and its leave name the same track" 'grep -E "^vdag.event.(enter|leave).$job " "$tmp/ev.txt" | cut -d" " -f2- | py "
ev=[json.loads(l) for l in sys.stdin]
ent={e[\"track_id\"] for e in ev if e[\"type\"]==\"enter\"}
left=[e for e in ev if e[\"type\"]==\"leave\"]
assert left and all(e[\"track_id\"] in ent and e[\"frames\"]>=1 for e in left), left"'

kill -9 "$edge"; wait "$edge" 2>/dev/null
ok "node_down once the edge is dropped" 'wait_n vdag.event.node_down.e1 && grep "^vdag.event.node_down.e1 " "$tmp/ev.txt" | cut -d" " -f2- | py "e=json.load(sys.stdin); assert e[\"role\"]==\"edge\" and \"silent\" in e[\"why\"], e"'
finish
