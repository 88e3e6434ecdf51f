#!/usr/bin/env bash
# Durable results and cloud state (docs/nodes.md, "Durability"): a real nats-server with its
# JetStream store in a directory that outlives it (vdag nats-server --store), a cloud, an
# edge. A job runs throughout; a finished job (DONE) and one whose edge is lost (UNSCHED)
# sit beside it. Then, each mid-job:
#   1. kill -9 of nats-server, restarted 3 s later on the same store;
#   2. kill -9 of the cloud, a new one started at once;
#   3. two clouds: the leader killed -9, the standby takes over.
# After each the job's frame count continues (never back to 0) and the other jobs are as
# they were; at the end the results the cloud counted are exactly those the edge stored
# (node.get_runtime's "results"), none missing, none lost. Timings go to stderr ("figure:").
vdag=$1
. "$(dirname "$0")/lib.sh"
np=$(freeport) ca=$(freeport) cb=$(freeport) e1p=$(freeport) e2p=$(freeport)
URL=nats://127.0.0.1:$np
A=http://127.0.0.1:$ca B=http://127.0.0.1:$cb E1=http://127.0.0.1:$e1p
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
start_nats() {
  : > "$tmp/nats.url"
  "$vdag" nats-server --port "$np" --store "$tmp/store" > "$tmp/nats.url" 2>> "$tmp/nats.log" &
  nats_pid=$!
  pids+=("$nats_pid")
  for _ in $(seq 150); do [ -s "$tmp/nats.url" ] && return 0; kill -0 "$nats_pid" 2>/dev/null || break; sleep 0.1; done
  echo "nats-server did not start" >&2; cat "$tmp/nats.log" >&2; return 1
}
start_cloud() { # NAME PORT LOG
  "$vdag" cloud --name "$1" --listen 127.0.0.1:$2 --nats "$URL" --replan 2 --no-profile 2>> "$tmp/$3.log" &
  last_cloud=$!
  pids+=("$last_cloud")
}
start_nats || exit 1
"$vdag" profile --if-missing >/dev/null || { echo "vdag profile failed" >&2; exit 1; }
start_cloud cloud "$ca" cloudA; cloudA=$last_cloud
"$vdag" edge --name e1 --listen 127.0.0.1:$e1p --nats "$URL" --video 0=vtest.avi --loop --threads 1 2> "$tmp/e1.log" &
e1=$!; pids+=("$e1")
"$vdag" edge --name e2 --listen 127.0.0.1:$e2p --nats "$URL" --video 0=vtest.avi --loop --threads 1 2> "$tmp/e2.log" &
e2=$!; pids+=("$e2")

st() { curl -s -m 5 "$1/user/get_all_status"; }
for _ in $(seq 150); do st "$A" | py "j=json.load(sys.stdin); assert {'e1','e2'}<=set(j['data'])" 2>/dev/null && break; sleep 0.1; done
ok "the cloud leads and lists both edges" 'st "$A" | py "j=json.load(sys.stdin); assert {\"e1\",\"e2\"}<=set(j[\"data\"])"'
submit() { # NODE EXTRA-JSON
  curl -s -m 5 -X POST "$A/query/submit_query" -H "Content-Type: application/json" -d "{\"node_addr\":\"$1\",\"video_id\":0,\"pipeline\":[\"face_detection\"],\"scheduler\":\"fixed\",\"user_constraint\":{\"delay\":1}$2}" | py 'print(json.load(sys.stdin)["job_uid"])'
}
job=$(submit e1 '')
done_job=$(submit e1 ',"max_frames":15')
lost_job=$(submit e2 ',"max_frames":100000')
ok "three jobs submitted" '[ -n "$job" ] && [ -n "$done_job" ] && [ -n "$lost_job" ]'
jobj() { # SERVER JOB: the job summary as JSON, or {}
  curl -s -m 5 "$1/user/sync_job_result/$2" | py 'j=json.load(sys.stdin); print(json.dumps(j.get("job", {})))' 2>/dev/null || echo '{}'
}
field() { py "j=json.load(sys.stdin); print(j$1)" 2>/dev/null || echo "${2:-0}"; }
frames() { jobj "$1" "$job" | field '["results"]["frames"]'; }
for _ in $(seq 300); do [ "$(jobj "$A" "$done_job" | field '["state"]' x)" = DONE ] && break; sleep 0.1; done
ok "the short job finished" 'jobj "$A" "$done_job" | py "j=json.load(sys.stdin); assert j[\"state\"]==\"DONE\" and j[\"reason\"]==\"finished\" and j[\"results\"][\"frames\"]==15, j"'
for _ in $(seq 300); do [ "$(jobj "$A" "$lost_job" | field '["results"]["frames"]')" -gt 0 ] && break; sleep 0.1; done
kill -9 "$e2"; wait "$e2" 2>/dev/null
for _ in $(seq 100); do [ "$(jobj "$A" "$lost_job" | field '["state"]' x)" = UNSCHED ] && break; sleep 0.1; done
ok "the job of the lost edge waits (UNSCHED)" 'jobj "$A" "$lost_job" | py "j=json.load(sys.stdin); assert j[\"state\"]==\"UNSCHED\", j"'
for _ in $(seq 300); do [ "$(frames "$A")" -ge 20 ] && break; sleep 0.1; done
ok "results flow ($(frames "$A") frames)" '[ "$(frames "$A")" -ge 20 ]'

# 1. kill -9 of nats-server, restarted on the same store 3 s later
f0=$(frames "$A")
kill -9 "$nats_pid"; wait "$nats_pid" 2>/dev/null
t_kill=$(now_ms)
sleep 3
start_nats || exit 1
t_up=$(now_ms)
f_up=$(frames "$A")
for _ in $(seq 200); do f=$(frames "$A"); [ "$f" -gt "$f_up" ] && [ "$f" -gt "$f0" ] && break; sleep 0.05; done
t_flow=$(now_ms)
echo "figure: broker kill -9, restart after $(( t_up - t_kill )) ms: results reach the cloud again $(( t_flow - t_up )) ms after the restart ($f0 frames before, $(frames "$A") now)" >&2
ok "frames continue after the broker restart ($f0 -> $(frames "$A"))" '[ "$(frames "$A")" -gt "$f0" ]'
ok "results flow again within 5 s of the restart ($(( t_flow - t_up )) ms)" '[ $(( t_flow - t_up )) -le 5000 ]'

# 2. kill -9 of the cloud mid-job; a new one at once
sleep 1
f1=$(frames "$A")
kill -9 "$cloudA"; wait "$cloudA" 2>/dev/null
t_kill=$(now_ms)
start_cloud cloud "$ca" cloudA2; cloudA=$last_cloud
for _ in $(seq 300); do f=$(frames "$A"); [ "$f" -gt "$f1" ] && break; sleep 0.05; done
t_back=$(now_ms)
echo "figure: cloud kill -9: the new cloud serves the job with results flowing $(( t_back - t_kill )) ms after the kill ($f1 frames before, $(frames "$A") now)" >&2
ok "the new cloud's frame count continues ($f1 -> $(frames "$A"))" '[ "$(frames "$A")" -gt "$f1" ]'
ok "the finished job is still DONE" 'jobj "$A" "$done_job" | py "j=json.load(sys.stdin); assert j[\"state\"]==\"DONE\" and j[\"reason\"]==\"finished\" and j[\"results\"][\"frames\"]==15, j"'
ok "the waiting job is still UNSCHED" 'jobj "$A" "$lost_job" | py "j=json.load(sys.stdin); assert j[\"state\"]==\"UNSCHED\" and j[\"results\"][\"frames\"]>0, j"'
ok "the job was restored, not adopted" 'curl -s -m 5 "$A/user/sync_job_result/$job" | py "j=json.load(sys.stdin); assert j[\"job\"][\"state\"]==\"EXEC\"; assert all(c[\"why\"]!=\"adopted\" for c in j[\"result\"][\"plan_changes\"]), j[\"result\"][\"plan_changes\"]"'
ok "the new cloud restored it from the store" 'grep -q "leading (epoch [0-9]*): 3 job(s) from the store" "$tmp/cloudA2.log"'

# 3. two clouds: the standby answers with the leader's name; kill -9 the leader
start_cloud cloud2 "$cb" cloudB; cloudB=$last_cloud
for _ in $(seq 100); do curl -s -m 5 "$B/user/jobs" | grep -q "the leader is cloud cloud" && break; sleep 0.1; done
ok "the second cloud stands by, naming the leader" 'curl -s -m 5 -o /dev/null -w "%{http_code}" "$B/user/jobs" | grep -q 409 && curl -s -m 5 "$B/user/jobs" | py "j=json.load(sys.stdin); assert j[\"status\"]==-12 and \"the leader is cloud cloud\" in j[\"msg\"], j"'
sleep 1
f2=$(frames "$A")
kill -9 "$cloudA"; wait "$cloudA" 2>/dev/null
t_kill=$(now_ms)
for _ in $(seq 300); do f=$(frames "$B"); [ "$f" -gt "$f2" ] && break; sleep 0.05; done
t_back=$(now_ms)
echo "figure: two clouds, leader kill -9: the standby serves the job with results flowing $(( t_back - t_kill )) ms after the kill ($f2 frames before, $(frames "$B") now)" >&2
ok "the standby took over within 6 s ($(( t_back - t_kill )) ms; lease TTL 2 s)" '[ $(( t_back - t_kill )) -le 6000 ] && [ "$(frames "$B")" -gt "$f2" ]'
ok "it has every job as it was" 'jobj "$B" "$done_job" | py "j=json.load(sys.stdin); assert j[\"state\"]==\"DONE\" and j[\"results\"][\"frames\"]==15, j" && jobj "$B" "$lost_job" | py "j=json.load(sys.stdin); assert j[\"state\"]==\"UNSCHED\", j"'

# the end: stop the job; what the cloud counted is what the edge stored
ok "the job stops" '"$vdag" stop "$job" --server "$B" >/dev/null'
rt() { curl -s -m 5 "$E1/job/get_runtime/$job"; }
for _ in $(seq 100); do rt | py "r=json.load(sys.stdin)['results']; assert r['waiting']==0" 2>/dev/null && break; sleep 0.1; done
pub=$(rt | py 'print(json.load(sys.stdin)["results"]["published"])')
for _ in $(seq 100); do [ "$(frames "$B")" -ge "$pub" ] && break; sleep 0.1; done # consumed
lost=$(rt | py 'print(json.load(sys.stdin)["results"]["lost"])')
seq=$(rt | py 'print(json.load(sys.stdin)["results"]["seq"])')
got=$(frames "$B")
miss=$(jobj "$B" "$job" | field '["results"]["missing"]')
dups=$(jobj "$B" "$job" | field '["results"]["duplicates"]')
echo "figure: the edge made $seq results and stored $pub (lost $lost); the cloud counted $got (missing $miss, delivered again and not counted $dups)" >&2
ok "every result the edge stored is counted once ($pub stored, $got counted)" '[ "$pub" -gt 0 ] && [ "$got" -eq "$pub" ]'
ok "none missing, none lost ($miss, $lost; made $seq)" '[ "$miss" -eq 0 ] && [ "$lost" -eq 0 ] && [ "$seq" -eq "$pub" ]'
kill -TERM "$e1" "$cloudB"
wait "$e1"; rc1=$?
wait "$cloudB"; rc2=$?
ok "edge and cloud exit 0 on SIGTERM ($rc1, $rc2)" '[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ]'
if [ $fail -ne 0 ]; then
  for f in cloudA cloudA2 cloudB e1 e2 nats; do echo "--- $f log"; tail -25 "$tmp/$f.log"; done >&2
fi
finish
