#!/usr/bin/env bash
# Model distribution over NATS (seed 002): edges with an empty model cache fetch what a job
# asks of them from the cloud, check it against the SHA-256 the cloud announces and cache
# it. Each edge reaches nats-server through tests/nats_corrupt_proxy.py, which flips a byte
# in the payload of large messages in flight: e1's proxy corrupts the first transfer only
# (rejected, fetched again, the job runs on the good copy), e2's every one (three tries,
# then a clear error; nothing half-written is left in its cache; the edge stays up).
vdag=$1
. "$(dirname "$0")/lib.sh"
np=$(freeport) cp=$(freeport) e1p=$(freeport) e2p=$(freeport) p1=$(freeport) p2=$(freeport)
URL=nats://127.0.0.1:$np
C=http://127.0.0.1:$cp
TMPDIR=$tmp bg "$vdag" nats-server --port "$np" > "$tmp/nats.url" 2> "$tmp/nats.log"
for _ in $(seq 150); do [ -s "$tmp/nats.url" ] && break; sleep 0.1; done
here=$(dirname "$0")
bg python3 "$here/nats_corrupt_proxy.py" "$p1" "$np" 1 500000 > "$tmp/p1.log"
bg python3 "$here/nats_corrupt_proxy.py" "$p2" "$np" 1000 500000 > "$tmp/p2.log"
for _ in $(seq 50); do grep -q ready "$tmp/p1.log" && grep -q ready "$tmp/p2.log" && break; sleep 0.1; done

# the edges' caches: the media, no models
for e in e1 e2; do
  mkdir -p "$tmp/$e/models" "$tmp/$e/media"
  ln -s "$cache/media/"* "$tmp/$e/media/"
done
bg "$vdag" cloud --listen 127.0.0.1:$cp --nats "$URL" --no-profile 2> "$tmp/cloud.log"
VDAG_CACHE=$tmp/e1 bg "$vdag" edge --name e1 --listen 127.0.0.1:$e1p --nats "nats://127.0.0.1:$p1" \
  --video 0=Megamind.avi=faces --loop --threads 1 --no-profile 2> "$tmp/e1.log"
VDAG_CACHE=$tmp/e2 bg "$vdag" edge --name e2 --listen 127.0.0.1:$e2p --nats "nats://127.0.0.1:$p2" \
  --video 0=vtest.avi --loop --threads 1 --no-profile 2> "$tmp/e2.log"
e2_pid=$bg_pid
status() { curl -s -m 5 "$C/user/get_all_status"; }
for _ in $(seq 200); do status | py "j=json.load(sys.stdin); assert {'e1','e2'}<=set(j['data'])" 2>/dev/null && break; sleep 0.1; done
ok "the cloud lists both edges" 'status | py "assert {\"e1\",\"e2\"}<=set(json.load(sys.stdin)[\"data\"])"'

submit() { # NODE STAGE MODEL_ID
  local plan="{\"flow_mapping\":{\"$2\":{\"model_id\":$3,\"node_ip\":\"$1\",\"node_role\":\"host\"}}}"
  curl -s -m 10 -X POST "$C/query/submit_query" -H 'Content-Type: application/json' \
    -d "{\"node_addr\":\"$1\",\"video_id\":0,\"pipeline\":[\"$2\"],\"scheduler\":\"fixed\",\"plan\":$plan,\"user_constraint\":{\"delay\":5},\"max_frames\":5}" |
    py 'print(json.load(sys.stdin)["job_uid"])'
}
res() { curl -s -m 5 "$C/user/sync_job_result/$1"; }

# e1: blazeface-back (model 0 of face_detection); its one transfer of the weights is corrupted
j1=$(submit e1 face_detection 0)
ok "job on e1 submitted" '[ -n "$j1" ]'
for _ in $(seq 300); do res "$j1" | py "j=json.load(sys.stdin); assert j['job']['state']=='DONE'" 2>/dev/null && break; sleep 0.1; done
ok "the proxy corrupted one transfer to e1" 'grep -q "corrupted 1" "$tmp/p1.log"'
ok "e1 rejected it by its hash and fetched it again" 'grep -q "blazeface-back.bin arrived with SHA-256 .*, the cloud announced .*: fetching it again (try 2 of 3)" "$tmp/e1.log"'
ok "e1 reports the fetch and its progress" 'grep -q "model blazeface-back is not here: fetching 2 file(s)" "$tmp/e1.log" && grep -q "model blazeface-back fetched and checked" "$tmp/e1.log"'
ok "e1's copy is the cloud's, byte for byte" 'cmp -s "$cache/models/blazeface-back.bin" "$tmp/e1/models/blazeface-back.bin" && cmp -s "$cache/models/blazeface-back.json" "$tmp/e1/models/blazeface-back.json"'
ok "nothing else in e1's cache (no part files, no other model)" '[ "$(ls -A "$tmp/e1/models" | sort | tr "\n" " ")" = "blazeface-back.bin blazeface-back.json " ]'
res "$j1" > "$tmp/j1.json"; ok "the job on e1 ran on the fetched model" 'py "j=json.load(sys.stdin); assert j[\"job\"][\"state\"]==\"DONE\" and j[\"job\"][\"frames\"]>=5, j[\"job\"]; a=j[\"result\"][\"appended_result\"]; assert a and sum(len(r[\"stages\"][\"face_detection\"][\"bbox\"]) for r in a)>=3, a" < "$tmp/j1.json" || { head -c 1500 "$tmp/j1.json"; false; }'
ok "e1's metrics count the retry and the fetch" 'curl -s -m 5 "http://127.0.0.1:$e1p/metrics" | grep -q "^vdag_model_fetches_total{result=\"retried\"} 1" && curl -s -m 5 "http://127.0.0.1:$e1p/metrics" | grep -q "^vdag_model_fetches_total{result=\"ok\"} 1"'
ok "e1's heartbeat reports the model as fetched" 'status | py "m=json.load(sys.stdin)[\"data\"][\"e1\"]; assert m[\"models\"][\"blazeface-back\"][\"state\"]==\"ok\", m.get(\"models\")"'
# a second job on e1 needs no fetch
j1b=$(submit e1 face_detection 0)
for _ in $(seq 300); do res "$j1b" | py "j=json.load(sys.stdin); assert j['job']['state']=='DONE'" 2>/dev/null && break; sleep 0.1; done
ok "a second job on e1 uses the cached model" 'res "$j1b" | py "assert json.load(sys.stdin)[\"job\"][\"frames\"]>=5" && [ "$(grep -c "is not here: fetching" "$tmp/e1.log")" = 1 ]'

# e2: nanodet (model 1 of object_detection); every transfer is corrupted
j2=$(submit e2 object_detection 1)
ok "job on e2 submitted" '[ -n "$j2" ]'
for _ in $(seq 600); do grep -q "fetching it again (try 3 of 3)" "$tmp/e2.log" && res "$j2" | py "j=json.load(sys.stdin); assert j['job']['state']=='DONE'" 2>/dev/null && break; sleep 0.1; done
ok "e2 tried three times" '[ "$(grep -c "nanodet.bin arrived with SHA-256" "$tmp/e2.log")" -ge 2 ] && grep -q "try 3 of 3" "$tmp/e2.log"'
ok "e2's job ends with the reason" 'res "$j2" | grep -q "arrived with SHA-256"'
ok "nothing half-written in e2's cache" '[ -z "$(ls -A "$tmp/e2/models")" ]'
ok "e2 is still up and listed" 'kill -0 "$e2_pid" && status | py "assert \"e2\" in json.load(sys.stdin)[\"data\"]"'
ok "e2's metrics count the failure" 'curl -s -m 5 "http://127.0.0.1:$e2p/metrics" | grep -q "^vdag_model_fetches_total{result=\"failed\"} 1"'
finish
