#!/usr/bin/env bash
# The HTTP API in pseudo mode (all roles in one process, in-process transport) on real
# video: every route's happy path and bad input (malformed JSON, unknown node, video,
# service or job, oversized body, wrong method, bad token), each with the right status
# and a JSON message; the server stays up throughout and exits cleanly on SIGTERM.
vdag=$1
. "$(dirname "$0")/lib.sh"
port=$(freeport)
S=http://127.0.0.1:$port
T="Authorization: Bearer s3cret"
# req METHOD PATH [BODY] [extra curl args…]: prints "CODE BODY"
req() {
  local m=$1 p=$2 b=${3-}
  shift 3 2>/dev/null || shift $#
  if [ -n "$b" ]; then
    curl -s -m 10 -o "$tmp/body" -w '%{http_code}' -X "$m" -H "$T" -H 'Content-Type: application/json' --data-binary "$b" "$@" "$S$p"
  else
    curl -s -m 10 -o "$tmp/body" -w '%{http_code}' -X "$m" -H "$T" "$@" "$S$p"
  fi
}
body() { cat "$tmp/body"; }
# is_err CODE: the body is {"status": non-zero, "msg": "…"}
is_err() { body | py "j=json.load(sys.stdin); assert j['status']!=0 and len(j['msg'])>5, j"; }

bg "$vdag" run --listen 127.0.0.1:$port --token s3cret --video 0=vtest.avi=street --video 1=Megamind.avi=faces \
  --replan 1 --max-body 200000 --threads 1 --loop 2> "$tmp/server.log"
srv=$bg_pid
for _ in $(seq 100); do curl -s -m 1 "$S/healthz" >/dev/null && break; sleep 0.1; done
alive() { curl -s -m 5 "$S/healthz" | grep -q '"status":0'; }

ok "/healthz without a token" 'alive'
code=$(curl -s -m 5 -o "$tmp/body" -w '%{http_code}' "$S/user/get_all_status")
ok "no token: 401 JSON" '[ "$code" = 401 ] && is_err'
code=$(curl -s -m 5 -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer wrong" "$S/user/get_all_status")
ok "wrong token: 401 JSON" '[ "$code" = 401 ] && is_err'

# nodes and videos
for _ in $(seq 50); do req GET /user/get_all_status >/dev/null; body | grep -q '"edge"' && break; sleep 0.1; done
code=$(req GET /user/get_all_status)
ok "get_all_status lists the edge's videos" '[ "$code" = 200 ] && body | py "j=json.load(sys.stdin); v=j[\"data\"][\"edge\"][\"video\"]; assert j[\"status\"]==0 and v[\"0\"][\"type\"]==\"street\" and v[\"1\"][\"type\"]==\"faces\"; assert \"cloud\" in j[\"data\"]"'

# service host routes
code=$(req GET /get_service_list)
ok "get_service_list" '[ "$code" = 200 ] && body | py "j=json.load(sys.stdin); n=[s[\"name\"] for s in j[\"data\"]]; assert \"face_detection\" in n and \"object_detection\" in n"'
code=$(req GET /get_resource_info)
ok "get_resource_info: cpu, memory, per-service n_process" '[ "$code" = 200 ] && body | py "j=json.load(sys.stdin); (k,v),=j[\"data\"].items(); assert 0<=v[\"cpu_ratio\"]<=1 and 0<v[\"mem_ratio\"]<1 and v[\"face_detection\"][\"n_process\"]==0"'
code=$(req GET /get_cluster_info)
ok "get_cluster_info lists both nodes" '[ "$code" = 200 ] && body | py "j=json.load(sys.stdin); assert {\"edge\",\"cloud\"}<=set(j[\"data\"])"'
python3 - "$cache/media/messi5.jpg" > "$tmp/img.b64" <<'P'
import base64,sys; print(base64.b64encode(open(sys.argv[1],'rb').read()).decode())
P
code=$(curl -s -m 30 -o "$tmp/body" -w '%{http_code}' -H "$T" -H 'Content-Type: image/jpeg' --data-binary @"$cache/media/messi5.jpg" "$S/execute_task/face_detection")
ok "execute_task with a JPEG body" '[ "$code" = 200 ] && body | py "j=json.load(sys.stdin); assert j[\"status\"]==0 and len(j[\"bbox\"])>=1 and len(j[\"prob\"])==len(j[\"bbox\"])"'
printf '{"image":"%s","model_id":0}' "$(cat "$tmp/img.b64")" > "$tmp/exec.json"
code=$(curl -s -m 30 -o "$tmp/body" -w '%{http_code}' -H "$T" -H 'Content-Type: application/json' --data-binary @"$tmp/exec.json" "$S/execute_task/face_detection")
ok "execute_task with JSON + base64 image (the seed's form)" '[ "$code" = 200 ] && body | py "j=json.load(sys.stdin); assert len(j[\"bbox\"])>=1"'
code=$(req POST /execute_task/no_such_service '{"image":""}')
ok "execute_task: unknown service 404" '[ "$code" = 404 ] && is_err && body | grep -q no_such_service'
code=$(req POST /execute_task/face_detection '{"image":"bm90IGEganBlZw=="}')
ok "execute_task: not a JPEG 400" '[ "$code" = 400 ] && is_err'
code=$(req POST /execute_task/face_detection "$(printf '{"image":"%s","model_id":7}' "$(cat "$tmp/img.b64")")")
ok "execute_task: bad model id 400" '[ "$code" = 400 ] && is_err && body | grep -q "models 0..2"'

# a JPEG bomb: 4 KB that declare 20000x20000 (1.2 GB as RGB), four at once
python3 - "$cache/media/messi5.jpg" "$tmp/bomb.jpg" <<'P'
import sys
j = bytearray(open(sys.argv[1], 'rb').read())
i = 2
while j[i] == 0xff and not (0xc0 <= j[i+1] <= 0xcf and j[i+1] not in (0xc4, 0xc8, 0xcc)):
    i += 2 + (j[i+2] << 8 | j[i+3])
j[i+5:i+9] = bytes([20000 >> 8, 20000 & 255, 20000 >> 8, 20000 & 255])
open(sys.argv[2], 'wb').write(j[:4096])
P
hwm() { awk '/VmHWM/ {print int($2/1024)}' /proc/$srv/status; }
hwm0=$(hwm)
bombs=()
for k in 1 2 3 4; do
  curl -s -m 30 -o "$tmp/bomb$k.out" -w '%{http_code}' -H "$T" -H 'Content-Type: image/jpeg' --data-binary @"$tmp/bomb.jpg" "$S/execute_task/face_detection" > "$tmp/bomb$k.code" &
  bombs+=($!)
done
wait "${bombs[@]}"
cp "$tmp/bomb1.out" "$tmp/body"
ok "JPEG bomb: 413 JSON naming the size and the limit" '[ "$(cat "$tmp"/bomb?.code)" = "413413413413" ] && is_err && body | grep -q "20000x20000" && body | grep -q max-pixels'
hwm1=$(hwm)
echo "JPEG bombs: server peak RSS $hwm0 MB before, $hwm1 MB after" >&2
ok "JPEG bomb: peak RSS grew < 64 MB ($hwm0 -> $hwm1 MB)" '[ $((hwm1 - hwm0)) -lt 64 ]'
ok "server up after the bombs" 'alive'

# bad submissions
code=$(req POST /query/submit_query '{"node_addr": "edge", ')
ok "submit: malformed JSON 400 with line/column" '[ "$code" = 400 ] && is_err && body | grep -q line'
code=$(req POST /query/submit_query '[1,2]')
ok "submit: not an object 400" '[ "$code" = 400 ] && is_err'
code=$(req POST /query/submit_query '{"node_addr":"nowhere","video_id":0,"pipeline":["face_detection"]}')
ok "submit: unknown node 404" '[ "$code" = 404 ] && is_err && body | grep -q nowhere'
code=$(req POST /query/submit_query '{"node_addr":"edge","video_id":9,"pipeline":["face_detection"]}')
ok "submit: unknown video 404" '[ "$code" = 404 ] && is_err && body | grep -q "video"'
code=$(req POST /query/submit_query '{"node_addr":"edge","video_id":0,"pipeline":["no_such_service"]}')
ok "submit: unknown service 400" '[ "$code" = 400 ] && is_err && body | grep -q no_such_service'
code=$(req POST /query/submit_query '{"node_addr":"edge","video_id":0}')
ok "submit: neither pipeline nor dag 400" '[ "$code" = 400 ] && is_err'
code=$(req POST /query/submit_query '{"node_addr":"edge","video_id":0,"pipeline":["face_detection"],"user_constraint":{"delay":"fast"}}')
ok "submit: bad constraint 400 names the field" '[ "$code" = 400 ] && is_err && body | grep -q user_constraint.delay'
code=$(req POST /query/submit_query '{"node_addr":"edge","video_id":0,"pipeline":["face_detection"],"scheduler":"magic"}')
ok "submit: unknown scheduler 400" '[ "$code" = 400 ] && is_err'
python3 -c 'print("{\"pad\":\"" + "x"*300000 + "\"}")' > "$tmp/big.json"
code=$(curl -s -m 10 -o "$tmp/body" -w '%{http_code}' -H "$T" --data-binary @"$tmp/big.json" "$S/query/submit_query")
ok "oversized body 413" '[ "$code" = 413 ] && is_err'
code=$(curl -s -m 10 -o "$tmp/body" -w '%{http_code}' -H "$T" -H 'Content-Type: text/plain' --data-binary '{"node_addr":"edge","video_id":0,"pipeline":["face_detection"]}' "$S/query/submit_query")
ok "a text/plain body is not taken as JSON: 415" '[ "$code" = 415 ] && is_err && body | grep -q application/json'
code=$(curl -s -m 10 -o "$tmp/body" -w '%{http_code}' -H "$T" -H 'Content-Type: application/json' -H 'Origin: http://evil.example' --data-binary '{"node_addr":"edge","video_id":0,"pipeline":["face_detection"]}' "$S/query/submit_query")
ok "a POST from another site's page: 403" '[ "$code" = 403 ] && is_err && body | grep -q -- --cors'
hdrs=$(curl -s -m 5 -D - -o /dev/null -H "$T" -H 'Origin: http://evil.example' "$S/user/jobs")
ok "no CORS header by default" '! echo "$hdrs" | grep -qi access-control-allow-origin'
code=$(curl -s -m 5 -o "$tmp/body" -w '%{http_code}' -X OPTIONS -H 'Origin: http://evil.example' -H 'Access-Control-Request-Method: POST' "$S/query/submit_query")
ok "CORS preflight without --cors: 403 JSON" '[ "$code" = 403 ] && is_err'
code=$(curl -s -m 5 -o "$tmp/body" -w '%{http_code}' "$S/no/such/route")
ok "no token: 401 before routing (no route enumeration)" '[ "$code" = 401 ] && is_err'
code=$(curl -s -m 5 -o "$tmp/body" -w '%{http_code}' --path-as-is "$S/user/sync_job_result/x%00y")
ok "%00 in a path: 400" '[ "$code" = 400 ] && is_err && body | grep -q NUL'
code=$(req GET /query/submit_query)
ok "wrong method 405" '[ "$code" = 405 ] && is_err'
code=$(req GET /no/such/route)
ok "unknown route 404" '[ "$code" = 404 ] && is_err'
code=$(req GET /user/sync_job_result/nojob)
ok "sync_job_result: unknown job 404" '[ "$code" = 404 ] && is_err && body | grep -q nojob'
code=$(req POST /user/submit_job_user_constraint '{"job_uid":"nojob","user_constraint":{"delay":0.3}}')
ok "constraint: unknown job 404" '[ "$code" = 404 ] && is_err'
code=$(req POST /user/stop_job/nojob)
ok "stop: unknown job 404" '[ "$code" = 404 ] && is_err'
code=$(req GET /user/video/nojob)
ok "video: unknown job 404" '[ "$code" = 404 ] && is_err'
code=$(req POST /node/update_plan '{"job_uid":"nojob","plan":{}}')
ok "node/update_plan: unknown job 404" '[ "$code" = 404 ] && is_err'
code=$(req POST /node/submit_job '{"job_uid":"x","video_id":0,"dag":{"flow":[]}}')
ok "node/submit_job: bad dag 400" '[ "$code" = 400 ] && is_err'
printf 'GARBAGE \x01\x02\x03 / HTTP/9.9\r\n\r\n' | timeout 3 python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$port)); s.sendall(sys.stdin.buffer.read()); s.settimeout(2); s.recv(100)" 2>/dev/null
ok "server up after bad requests" 'alive'

# node_addr as the seed gives it, an address: in one process it means the edge
code=$(req POST /query/submit_query "{\"node_addr\":\"127.0.0.1:$port\",\"video_id\":0,\"pipeline\":[\"object_detection\"],\"max_frames\":1}")
ok "submit by node address reaches the edge" '[ "$code" = 200 ] && req GET /user/jobs >/dev/null && body | py "j=json.load(sys.stdin); assert j[\"jobs\"][-1][\"node_addr\"]==\"edge\""'

# a job, seed shape: pipeline + user_constraint
code=$(req POST /query/submit_query '{"node_addr":"edge","video_id":1,"pipeline":["face_detection","face_alignment"],"user_constraint":{"delay":0.8,"accuracy":0.9}}')
ok "submit: job_uid" '[ "$code" = 200 ] && body | py "j=json.load(sys.stdin); assert j[\"status\"]==0 and j[\"job_uid\"]"'
job=$(body | py 'print(json.load(sys.stdin)["job_uid"])')
for _ in $(seq 100); do req GET /user/sync_job_result/$job >/dev/null; body | py "j=json.load(sys.stdin); assert len(j['result']['appended_result'])>=10" 2>/dev/null && break; sleep 0.2; done
code=$(req GET /user/sync_job_result/$job)
ok "sync_job_result: EXEC, the last 10 frames" '[ "$code" = 200 ] && body | py "j=json.load(sys.stdin); r=j[\"result\"]; assert j[\"job\"][\"state\"]==\"EXEC\" and len(r[\"appended_result\"])==10; a=r[\"appended_result\"][-1]; assert \"n_loop\" in a and \"total\" in a[\"count_result\"]"'
ok "sync_job_result: plan and per-stage delay" 'body | py "j=json.load(sys.stdin); l=j[\"result\"][\"latest_result\"]; fm=l[\"plan\"][\"flow_mapping\"]; assert set(fm)=={\"face_detection\",\"face_alignment\"} and fm[\"face_detection\"][\"node_role\"] in (\"host\",\"edge\",\"cloud\"); vc=l[\"plan\"][\"video_conf\"]; assert \"resolution\" in vc and \"nskip\" in vc; d=l[\"plan_result\"][\"delay\"]; assert d[\"face_detection\"]>0 and d[\"face_alignment\"]>0"'
ok "sync_job_result: measured delay per processed frame, load, dropped" 'body | py "j=json.load(sys.stdin); r=j[\"result\"]; p=r[\"latest_result\"][\"plan_result\"]; assert p[\"total_delay\"]>0 and 0<p[\"load\"]<=1 and p[\"dropped\"]>=0 and p[\"n_frames\"]>=1, p; c=r[\"plan_changes\"]; assert c and all(\"predicted_load\" in x and \"measured_load\" in x for x in c), c"'
ok "sync_job_result: the latest result's plan_version is the cloud's, recent drop_ratio" 'body | py "j=json.load(sys.stdin); r=j[\"result\"]; l=r[\"latest_result\"]; p=l[\"plan_result\"]; a=r[\"appended_result\"]; v=j[\"job\"][\"plan_version\"]; assert 1<=l[\"plan_version\"]<=v and a[-1][\"plan_version\"]==l[\"plan_version\"] and all(1<=x[\"plan_version\"]<=v for x in a), (l, v); assert 0<=p[\"drop_ratio\"]<=1 and isinstance(p[\"load_valid\"],bool), p"'
ok "sync_job_result: runtime context" 'body | py "j=json.load(sys.stdin); r=j[\"result\"][\"runtime\"]; assert r[\"delay\"]>0 and r[\"obj_n\"]>=1 and r[\"obj_size\"]>0 and isinstance(r[\"obj_stable\"],bool)"'
code=$(req GET /job/get_runtime/$job)
ok "job/get_runtime on the edge" '[ "$code" = 200 ] && body | py "j=json.load(sys.stdin); assert j[\"runtime\"][\"delay\"]>0"'
code=$(req POST /node/get_plan "{\"job_uid\":\"$job\"}")
ok "node/get_plan" '[ "$code" = 200 ] && body | grep -q flow_mapping'
code=$(req POST /user/submit_job_user_constraint "{\"job_uid\":\"$job\",\"user_constraint\":{\"delay\":0.3,\"accuracy\":0.5}}")
ok "constraint update accepted" '[ "$code" = 200 ]'
ok "constraint visible on the job" 'req GET /user/sync_job_result/$job >/dev/null; body | py "j=json.load(sys.stdin); assert j[\"job\"][\"user_constraint\"][\"delay\"]==0.3"'

# a second job at once on the same edge, seed DAG form, fixed plan with a stage on the cloud
dag='{"generator":"SingleFrameGenerator","flow":["SingleFrameGenerator","object_detection"],"input":{"object_detection":{"image":"SingleFrameGenerator.image"}}}'
plan='{"video_conf":{"resolution":"360p","nskip":1},"flow_mapping":{"object_detection":{"model_id":1,"node_ip":"cloud","node_role":"cloud"}}}'
code=$(req POST /query/submit_query "{\"node_addr\":\"edge\",\"video_id\":0,\"dag\":$dag,\"scheduler\":\"fixed\",\"plan\":$plan}")
job2=$(body | py 'print(json.load(sys.stdin)["job_uid"])')
# (a first call the cloud answers slowly, a cold model in a sanitizer build, runs that frame
# on the edge: wait for the stage to be on the cloud)
for _ in $(seq 100); do req GET /user/sync_job_result/$job2 >/dev/null; body | py "j=json.load(sys.stdin); a=j['result']['appended_result']; assert len(a)>=3 and 'fallback' not in a[-1]" 2>/dev/null && break; sleep 0.2; done
ok "second job runs its stage on the cloud node" 'body | py "j=json.load(sys.stdin); fm=j[\"result\"][\"latest_result\"][\"plan\"][\"flow_mapping\"][\"object_detection\"]; assert fm[\"node\"]==\"cloud\" and fm[\"node_ip\"]==\"127.0.0.1\" and fm[\"model_id\"]==1; a=j[\"result\"][\"appended_result\"][-1]; assert a[\"count_result\"][\"person\"]>=1 and \"fallback\" not in a"'
ok "first job still running" 'req GET /user/sync_job_result/$job >/dev/null; body | grep -q "\"state\": *\"EXEC\""'

# MJPEG: two viewers at once, and the API still answers meanwhile
curl -s -m 4 -H "$T" "$S/user/video/$job" -o "$tmp/v1.mjpeg" &
v1=$!
curl -s -m 4 -H "$T" "$S/user/video/$job" -o "$tmp/v2.mjpeg" &
v2=$!
sleep 1.5
t0=$(date +%s%N)
alive; code=$(req GET /user/get_all_status)
t1=$(date +%s%N)
ok "API answers while two MJPEG viewers are connected" '[ "$code" = 200 ] && [ $(( (t1 - t0) / 1000000 )) -lt 2000 ]'
wait $v1 $v2
ok "viewer 1 got JPEG frames" '[ "$(grep -c -a "Content-Type: image/jpeg" "$tmp/v1.mjpeg")" -ge 2 ]'
ok "viewer 2 got JPEG frames" '[ "$(grep -c -a "Content-Type: image/jpeg" "$tmp/v2.mjpeg")" -ge 2 ]'
# a browser <img> cannot send the token: a signed URL from /auth/sign_url instead
code=$(req GET "/auth/sign_url?path=/user/video/$job&ttl=60")
surl=$(body | py 'print(json.load(sys.stdin)["url"])')
ok "sign_url gives a URL with exp and sig" '[ "$code" = 200 ] && echo "$surl" | grep -q "^/user/video/$job?exp=[0-9]*&sig=[0-9a-f]\{64\}$"'
curl -s -m 5 "$S$surl" -o "$tmp/v3.mjpeg"
ok "the signed URL streams without a header" '[ "$(grep -c -a "Content-Type: image/jpeg" "$tmp/v3.mjpeg")" -ge 1 ]'
last=${surl: -1}; [ "$last" = 0 ] && flip=1 || flip=0
code=$(curl -s -m 3 -o "$tmp/body" -w '%{http_code}' "$S${surl%?}$flip")
ok "a tampered signature: 401" '[ "$code" = 401 ] && is_err'
code=$(curl -s -m 3 -o "$tmp/body" -w '%{http_code}' "$S/user/jobs?${surl#*\?}")
ok "a signature for another path: 401" '[ "$code" = 401 ] && is_err'

# CLI clients
export VDAG_TOKEN=s3cret
out=$("$vdag" status --server "$S")
ok "vdag status table" 'echo "$out" | grep -q "^edge .*faces" && echo "$out" | grep -q "$job .*EXEC"'
out=$("$vdag" results "$job" --server "$S")
ok "vdag results table" 'echo "$out" | grep -q "^face_detection" && echo "$out" | grep -q "runtime: delay" && echo "$out" | grep -q "^measured: .* per processed frame  load "'
out=$("$vdag" results "$job" --server "$S" --json)
ok "vdag results --json" 'echo "$out" | py "j=json.load(sys.stdin); assert j[\"result\"][\"latest_result\"]"'
j3=$("$vdag" submit --server "$S" --node edge --video 0 --pipeline object_detection --max-frames 5 --scheduler fixed)
ok "vdag submit prints the job uid" '[ -n "$j3" ]'
for _ in $(seq 100); do "$vdag" results "$j3" --server "$S" --json | grep -q '"DONE"' && break; sleep 0.2; done
ok "max_frames: job DONE finished" '"$vdag" results "$j3" --server "$S" --json | py "j=json.load(sys.stdin)[\"job\"]; assert j[\"state\"]==\"DONE\" and j[\"reason\"]==\"finished\", j"'
err=$("$vdag" results nojob --server "$S" 2>&1); rc=$?
ok "vdag results: unknown job, message, exit 1" '[ $rc -eq 1 ] && echo "$err" | grep -q nojob'
err=$(VDAG_TOKEN=bad "$vdag" status --server "$S" 2>&1); rc=$?
ok "vdag status: bad token, exit 1" '[ $rc -eq 1 ] && echo "$err" | grep -q 401'

# stop and delete
out=$("$vdag" stop "$job" --server "$S")
ok "vdag stop" 'echo "$out" | grep -q stopped'
code=$(req GET /user/sync_job_result/$job)
ok "stopped job is DONE (stopped)" 'body | py "j=json.load(sys.stdin)[\"job\"]; assert j[\"state\"]==\"DONE\" and j[\"reason\"]==\"stopped\""'
code=$(req DELETE /user/job/$job2)
ok "DELETE job" '[ "$code" = 200 ]'
code=$(req GET /user/sync_job_result/$job2)
ok "deleted job is gone" '[ "$code" = 404 ]'

req GET /user/sync_job_result/$job >/dev/null
ok "server still up at the end" 'alive'
kill -TERM "$srv"
wait "$srv"; rc=$?
ok "server exits 0 on SIGTERM (no leaks under ASan)" '[ $rc -eq 0 ]'
[ $fail -eq 0 ] || { echo "--- last body"; cat "$tmp/body"; echo "--- server log"; cat "$tmp/server.log"; } >&2
finish
