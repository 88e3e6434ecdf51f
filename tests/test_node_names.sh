#!/usr/bin/env bash
# One name, one node (a real nats-server): two edges started without --name are both "edge";
# the second is refused at start (the first answers node.ping), so a job sent to "edge" runs
# once: max_frames 30 gives 30 frames, not a mix from two edges. A node may not take the
# cloud's name either.
vdag=$1
. "$(dirname "$0")/lib.sh"
np=$(freeport) cp=$(freeport) e1p=$(freeport) e2p=$(freeport) e3p=$(freeport)
URL=nats://127.0.0.1:$np
C=http://127.0.0.1:$cp
TMPDIR=$tmp "$vdag" nats-server --port "$np" > "$tmp/nats.url" 2> "$tmp/nats.log" &
nats_pid=$!; pids+=("$nats_pid")
for _ in $(seq 150); do [ -s "$tmp/nats.url" ] && break; sleep 0.1; done
ok "nats-server up" '[ -s "$tmp/nats.url" ]'

"$vdag" cloud --listen 127.0.0.1:$cp --nats "$URL" --no-profile 2> "$tmp/cloud.log" &
cloud=$!; pids+=("$cloud")
"$vdag" edge --listen 127.0.0.1:$e1p --nats "$URL" --video 0=Megamind.avi=faces --no-pace --no-profile --threads 1 2> "$tmp/e1.log" &
e1=$!; pids+=("$e1")
status() { curl -s -m 5 "$C/user/get_all_status"; }
for _ in $(seq 100); do status | py "assert 'edge' in json.load(sys.stdin)['data']" 2>/dev/null && break; sleep 0.1; done
ok "the first edge joins as 'edge'" 'status | py "assert json.load(sys.stdin)[\"data\"][\"edge\"][\"addr\"]==\"127.0.0.1:$e1p\""'

# the second and third run in the background: were they not refused, the job below would run
# on two edges
"$vdag" edge --listen 127.0.0.1:$e2p --nats "$URL" --video 0=vtest.avi=street --no-pace --no-profile --threads 1 2> "$tmp/e2.log" &
e2=$!; pids+=("$e2")
"$vdag" edge --name cloud --listen 127.0.0.1:$e3p --nats "$URL" --video 0=vtest.avi --no-pace --no-profile 2> "$tmp/e3.log" &
e3=$!; pids+=("$e3")
for _ in $(seq 150); do kill -0 "$e2" 2>/dev/null || kill -0 "$e3" 2>/dev/null || break; sleep 0.1; done
kill -0 "$e2" 2>/dev/null && r2=running || { wait "$e2"; r2=$?; }
kill -0 "$e3" 2>/dev/null && r3=running || { wait "$e3"; r3=$?; }
ok "a second edge named 'edge' is refused at start ($r2)" '[ "$r2" = 1 ] && grep -q "name .edge. is taken" "$tmp/e2.log" && grep -q "127.0.0.1:$e1p" "$tmp/e2.log" && grep -q -- "--name" "$tmp/e2.log"'
ok "an edge named like the cloud is refused ($r3)" '[ "$r3" = 1 ] && grep -q "name .cloud. is taken" "$tmp/e3.log"'
ok "the cloud still lists one edge, the first" 'status | py "d=json.load(sys.stdin)[\"data\"]; assert d[\"edge\"][\"addr\"]==\"127.0.0.1:$e1p\" and d[\"edge\"][\"video\"][\"0\"][\"type\"]==\"faces\", d"'

job=$(curl -s -m 5 -X POST "$C/query/submit_query" -H 'Content-Type: application/json' -d '{"node_addr":"edge","video_id":0,"pipeline":["face_detection"],"scheduler":"fixed","max_frames":30}' | py 'print(json.load(sys.stdin)["job_uid"])')
ok "job submitted" '[ -n "$job" ]'
res() { curl -s -m 5 "$C/user/sync_job_result/$job"; }
for _ in $(seq 300); do res | py "assert json.load(sys.stdin)['job']['state']=='DONE'" 2>/dev/null && break; sleep 0.1; done
ok "max_frames 30: 30 frames from one edge" 'res | py "j=json.load(sys.stdin)[\"job\"]; assert j[\"state\"]==\"DONE\" and j[\"reason\"]==\"finished\" and j[\"frames\"]==30, j"'
ok "every frame is the first edge's video (Megamind, 528 rows)" 'res | py "a=json.load(sys.stdin)[\"result\"][\"appended_result\"]; assert a and all(x[\"native_h\"]==528 for x in a), [x.get(\"native_h\") for x in a]"'

kill -TERM "$e1" "$cloud"
wait "$e1"; r1=$?
wait "$cloud"; r2=$?
ok "edge and cloud exit 0 ($r1, $r2)" '[ $r1 -eq 0 ] && [ $r2 -eq 0 ]'
kill -TERM "$nats_pid"; wait "$nats_pid" 2>/dev/null
[ $fail -eq 0 ] || for f in cloud e1 e2 e3; do echo "--- $f"; tail -5 "$tmp/$f.log"; done >&2
finish
