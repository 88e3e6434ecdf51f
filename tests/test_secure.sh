#!/usr/bin/env bash
# A secured cluster end to end (docs/security.md): `vdag nats-server --secure DIR` (TLS with
# client certificates, an NKey per identity, each role's permissions), a cloud and two edges
# with --nats-dir. A job on e1 runs a stage on e2 and is watched (MJPEG): every subject the
# nodes use is within their roles' permissions (no node logs a refusal), results flow, a
# restarted cloud reads its state back. A client without credentials is refused; one with
# no certificate, or a wrong identity, is told "not authorized".
vdag=$1
. "$(dirname "$0")/lib.sh"
np=$(freeport) cp=$(freeport) e1p=$(freeport) e2p=$(freeport)
DIR=$tmp/bus
URL=tls://127.0.0.1:$np
C=http://127.0.0.1:$cp
TMPDIR=$tmp "$vdag" nats-server --port "$np" --secure "$DIR" --ids cloud:cloud,edge:e1,edge:e2,worker:w1 > "$tmp/nats.url" 2> "$tmp/nats.log" &
nats_pid=$!; pids+=("$nats_pid")
for _ in $(seq 300); do [ -s "$tmp/nats.url" ] && break; kill -0 "$nats_pid" 2>/dev/null || break; sleep 0.1; done
ok "the secured server runs with TLS ($(cat "$tmp/nats.url"))" '[ "$(cat "$tmp/nats.url")" = "$URL" ]'
ok "keys and seeds are private" '[ "$(stat -c %a "$DIR")" = 700 ] && [ "$(stat -c %a "$DIR/e1.nk")" = 600 ] && [ "$(stat -c %a "$DIR/e1.key")" = 600 ]'
conf=$(ls "$tmp"/vdag-nats-*/nats.conf | head -1)
ok "the server's config holds public keys and permissions, no seed" '[ "$(grep -c "nkey: \"U" "$conf")" -eq 4 ] && ! grep -q "SU[A-Z2-7]\{50\}" "$conf" && grep -q "vdag.hb.e1" "$conf"'
"$vdag" profile --if-missing >/dev/null || { echo "vdag profile failed" >&2; exit 1; }

"$vdag" cloud --listen 127.0.0.1:$cp --nats "$URL" --nats-dir "$DIR" --replan 1 2> "$tmp/cloud.log" &
cloud=$!; pids+=("$cloud")
"$vdag" edge --name e1 --listen 127.0.0.1:$e1p --nats "$URL" --nats-dir "$DIR" --video 0=Megamind.avi=faces --loop --threads 1 2> "$tmp/e1.log" &
e1=$!; pids+=("$e1")
"$vdag" edge --name e2 --listen 127.0.0.1:$e2p --nats "$URL" --nats-dir "$DIR" --video 0=vtest.avi --threads 1 2> "$tmp/e2.log" &
e2=$!; pids+=("$e2")
status() { curl -s -m 5 "$C/user/get_all_status"; }
# both edges and e1's knowledge base (its first heartbeats carry it): 30 s on a loaded machine
for _ in $(seq 300); do status | py "j=json.load(sys.stdin); assert {'e1','e2'}<=set(j['data']) and j['data']['e1']['kb']['entries']>0" 2>/dev/null && break; sleep 0.1; done
ok "the cloud knows both edges over the secured bus" 'status | py "j=json.load(sys.stdin); assert {\"e1\",\"e2\"}<=set(j[\"data\"]) and j[\"data\"][\"e1\"][\"kb\"][\"entries\"]>0"'
plan='{"video_conf":{"resolution":"480p"},"flow_mapping":{"face_detection":{"model_id":0,"node_ip":"e1","node_role":"host"},"face_alignment":{"model_id":0,"node_ip":"e2","node_role":"edge"}}}'
job=$(curl -s -m 5 -X POST "$C/query/submit_query" -H "Content-Type: application/json" -d "{\"node_addr\":\"e1\",\"video_id\":0,\"pipeline\":[\"face_detection\",\"face_alignment\"],\"scheduler\":\"fixed\",\"plan\":$plan,\"user_constraint\":{\"delay\":0.5}}" | py 'print(json.load(sys.stdin)["job_uid"])')
res() { curl -s -m 5 "$C/user/sync_job_result/$job"; }
frames() { res | py 'print(json.load(sys.stdin)["job"]["results"]["frames"])' 2>/dev/null || echo 0; }
for _ in $(seq 200); do [ "$(frames)" -ge 10 ] && break; sleep 0.1; done
ok "results flow ($(frames) frames)" '[ "$(frames)" -ge 10 ]'
ok "the stage runs on e2 (an edge may call another's stage)" 'res | py "a=json.load(sys.stdin)[\"result\"][\"appended_result\"][-1]; assert \"fallback\" not in a and a[\"count_result\"][\"total\"]>=1, a"'
curl -s -m 4 -o "$tmp/mjpeg" "$C/user/video/$job" 2>/dev/null
ok "the MJPEG stream has frames (vdag.frame.e1)" '[ "$(grep -c -a "Content-Type: image/jpeg" "$tmp/mjpeg")" -ge 2 ]'

# the cloud restarted: its state comes back from the store (kv keys and gets, the
# consumer made anew: all within the cloud's permissions)
f0=$(frames)
kill -9 "$cloud"; wait "$cloud" 2>/dev/null
"$vdag" cloud --listen 127.0.0.1:$cp --nats "$URL" --nats-dir "$DIR" --replan 1 2> "$tmp/cloud2.log" &
cloud=$!; pids+=("$cloud")
for _ in $(seq 200); do [ "$(frames)" -gt "$f0" ] && break; sleep 0.1; done
ok "the restarted cloud continues the job ($f0 -> $(frames))" '[ "$(frames)" -gt "$f0" ] && grep -q "job(s) from the store" "$tmp/cloud2.log"'
ok "no node was refused anything it does" '! grep -h "refused\|not authorized" "$tmp"/cloud.log "$tmp"/cloud2.log "$tmp"/e1.log "$tmp"/e2.log'

# the batch queue on the secured bus: the cloud's /videos and a worker with its own
# identity (role worker: the queue's streams and buckets only)
"$vdag" worker --name w1 --nats "$URL" --nats-dir "$DIR" --threads 1 2> "$tmp/w1.log" &
w1=$!; pids+=("$w1")
timeout 180 "$vdag" batch submit "$cache/media/vtest.avi" --server "$C" --frames 12 --wait --json > "$tmp/batch.json" 2> "$tmp/batch.err" || { echo "batch submit failed or timed out; w1: $(cat "$tmp/w1.log")" >&2; }
ok "a video uploaded to the cloud is done by worker w1 over the secured bus" 'py "s=json.load(sys.stdin); assert s[\"state\"]==\"done\" and s[\"frames_processed\"]==12, s" < "$tmp/batch.json"'
ok "the worker was refused nothing" '! grep -h "refused\|not authorized" "$tmp/w1.log"'
out=$(timeout 30 "$vdag" worker --name e1 --nats "$URL" --nats-dir "$DIR" 2>&1)
echo "an edge's identity as a worker: $out" >&2
ok "an edge's identity may not use the batch queue" 'echo "$out" | grep -q "not authorized: the server does not let .e1. use the batch queue"'
out=$(timeout 30 "$vdag" edge --name w1 --listen 127.0.0.1:$(freeport) --nats "$URL" --nats-dir "$DIR" --no-profile 2>&1)
echo "a worker's identity as an edge: $out" >&2
ok "a worker's identity may not serve node subjects" 'echo "$out" | grep -q "not authorized: the server does not let .w1. subscribe"'

# outsiders: no credentials, no certificate, another node's name
cat > "$tmp/raw.py" <<'PY'
import socket, ssl, sys
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port), timeout=5)
info = s.recv(4096)
assert b'"tls_required":true' in info, info
ctx = ssl.create_default_context(cafile=sys.argv[2])
t = ctx.wrap_socket(s, server_hostname="127.0.0.1")
try:
    t.sendall(b'CONNECT {"verbose":false}\r\nSUB > 1\r\nPING\r\n')
    print(t.recv(4096).decode(errors="replace"))
except (ssl.SSLError, ConnectionError) as e:
    print("refused:", e)
PY
out=$(python3 "$tmp/raw.py" "$np" "$DIR/ca.pem" 2>&1)
echo "a raw client with TLS but no certificate: $out" >&2
ok "a client without a certificate or credentials reads nothing" '! echo "$out" | grep -q "^MSG\|PONG"'
out=$("$vdag" edge --name e3 --listen 127.0.0.1:$(freeport) --nats "$URL" --nats-tls-ca "$DIR/ca.pem" --nats-tls-cert "$DIR/e1.pem" --nats-tls-key "$DIR/e1.key" --no-profile 2>&1)
echo "an edge without credentials: $out" >&2
ok "an edge without credentials is told it is not authorized" 'echo "$out" | grep -q "not authorized: the server at $URL refused the credentials of .e3."'
out=$(timeout 15 "$vdag" edge --name e2 --listen 127.0.0.1:$(freeport) --nats "$URL" --nats-dir "$DIR" --nats-nkey "$DIR/e1.nk" --no-profile 2>&1)
echo "e1's key as e2: $out" >&2
ok "e1's key posing as e2 is refused e2's subjects" 'echo "$out" | grep -q "not authorized: the server does not let .e2. subscribe to .vdag.node.e2.svc"'
kill -TERM "$e1" "$e2" "$cloud"
wait "$e1"; rc1=$?
wait "$cloud"; rc2=$?
ok "nodes exit 0 ($rc1, $rc2)" '[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ]'
if [ $fail -ne 0 ]; then
  for f in cloud cloud2 e1 e2 nats; do echo "--- $f log"; tail -20 "$tmp/$f.log"; done >&2
fi
finish
