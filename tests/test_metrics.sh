#!/usr/bin/env bash
# GET /metrics on every node (docs/metrics.md): the Prometheus text format checked by the real
# parser (`promtool check metrics`, Debian's prometheus package), and counters that move while
# a job runs. One process (cloud + edge, with a token), then a NATS cluster: a cloud and an
# edge whose stage runs on the cloud (bytes per remote link), and the edge killed (the cloud's
# vdag_node_up for it goes to 0).
vdag=$1
. "$(dirname "$0")/lib.sh"
command -v promtool >/dev/null || { echo "promtool is missing: apt-get install prometheus (make setup)" >&2; exit 1; }
T=secret-token
p=$(freeport)
S=http://127.0.0.1:$p
# value FILE NAME [LABEL=VALUE...]: the sum of the samples of NAME whose labels include those
cat > "$tmp/val.py" <<'PY'
import re, sys
path, name, want = sys.argv[1], sys.argv[2], dict(a.split("=", 1) for a in sys.argv[3:])
tot, seen = 0.0, False
for line in open(path):
    m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line.strip())
    if not m or m.group(1) != name:
        continue
    labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
    if all(labels.get(k) == v for k, v in want.items()):
        tot += float(m.group(4)); seen = True
print(tot if seen else "none")
PY
val() { python3 "$tmp/val.py" "$@"; }
scrape() { curl -s -m 5 -H "Authorization: Bearer $T" "$1/metrics" > "$2"; }
check() { promtool check metrics < "$1" > "$1.lint" 2>&1; }

bg "$vdag" run --listen 127.0.0.1:$p --token $T --video 0=vtest.avi --loop --threads 1 --no-profile 2> "$tmp/run.log"
for _ in $(seq 100); do curl -s -m 1 "$S/healthz" >/dev/null && break; sleep 0.1; done
ok "/metrics needs the token" '[ "$(curl -s -o /dev/null -w "%{http_code}" -m 5 "$S/metrics")" = 401 ]'
ctype=$(curl -s -m 5 -o /dev/null -w '%{content_type}' -H "Authorization: Bearer $T" "$S/metrics")
ok "text format 0.0.4 ($ctype)" '[ "$ctype" = "text/plain; version=0.0.4; charset=utf-8" ]'
scrape "$S" "$tmp/m0"
ok "idle node: promtool accepts it" 'check "$tmp/m0" || { cat "$tmp/m0.lint" >&2; false; }'
ok "both nodes up, their heartbeats young" '[ "$(val "$tmp/m0" vdag_node_up node=edge role=edge)" = 1.0 ] && [ "$(val "$tmp/m0" vdag_node_up node=cloud)" = 1.0 ] && python3 -c "import sys; sys.exit(not 0 <= float(sys.argv[1]) < 3)" "$(val "$tmp/m0" vdag_node_heartbeat_age_seconds node=edge)"'
curl -s -m 5 -H "Authorization: Bearer $T" "$S/no/such/route" >/dev/null
job=$(curl -s -m 5 -X POST -H "Authorization: Bearer $T" -H 'Content-Type: application/json' "$S/query/submit_query" \
  -d '{"node_addr":"edge","video_id":"0","pipeline":["object_detection"],"scheduler":"fixed","plan":{"video_conf":{"resolution":"360p"},"flow_mapping":{"object_detection":{"model_id":1,"node_ip":"edge","node_role":"edge"}}},"user_constraint":{"delay":1}}' | py 'print(json.load(sys.stdin)["job_uid"])')
ok "job submitted" '[ -n "$job" ]'
for _ in $(seq 150); do scrape "$S" "$tmp/m1"; [ "$(val "$tmp/m1" vdag_frames_processed_total job="$job")" != none ] && break; sleep 0.2; done
sleep 1.5
scrape "$S" "$tmp/m2"
f1=$(val "$tmp/m1" vdag_frames_processed_total job="$job") f2=$(val "$tmp/m2" vdag_frames_processed_total job="$job")
ok "frames processed move while the job runs ($f1 -> $f2)" 'python3 -c "import sys; a,b=map(float,sys.argv[1:]); sys.exit(not b > a > 0)" "$f1" "$f2"'
c1=$(val "$tmp/m1" vdag_stage_latency_seconds_count stage=object_detection) c2=$(val "$tmp/m2" vdag_stage_latency_seconds_count stage=object_detection)
ok "stage latency histogram counts them ($c1 -> $c2)" 'python3 -c "import sys; a,b=map(float,sys.argv[1:]); sys.exit(not b > a > 0)" "$c1" "$c2"'
ok "buckets are cumulative up to +Inf = count" '[ "$(val "$tmp/m2" vdag_stage_latency_seconds_bucket stage=object_detection le=+Inf)" = "$c2" ] && [ "$(val "$tmp/m2" vdag_frame_latency_seconds_count node=edge)" = "$(val "$tmp/m2" vdag_frame_latency_seconds_bucket node=edge le=+Inf)" ]'
ok "running job: promtool accepts it" 'check "$tmp/m2" || { cat "$tmp/m2.lint" >&2; false; }'
ok "the plan change is counted by reason" 'python3 -c "import sys; sys.exit(not float(sys.argv[1]) >= 1)" "$(val "$tmp/m2" vdag_plan_changes_total trigger=start)"'
ok "model load time of nanodet" '[ "$(val "$tmp/m2" vdag_model_load_seconds_count model=nanodet)" != none ]'
ok "jobs by state, jobs running, queue depth" '[ "$(val "$tmp/m2" vdag_jobs state=EXEC)" = 1.0 ] && [ "$(val "$tmp/m2" vdag_edge_jobs_running node=edge)" = 1.0 ] && [ "$(val "$tmp/m2" vdag_queue_depth queue=results_outbox)" != none ]'
ok "HTTP requests by route, method and code" '[ "$(val "$tmp/m2" vdag_http_requests_total route=/query/submit_query method=POST code=200)" = 1.0 ] && [ "$(val "$tmp/m2" vdag_http_requests_total route=unmatched code=404)" = 1.0 ] && [ "$(val "$tmp/m2" vdag_http_requests_total route=refused code=401)" != none ] && python3 -c "import sys; sys.exit(not float(sys.argv[1]) >= 2)" "$(val "$tmp/m2" vdag_http_requests_total route=/metrics code=200)"'
curl -s -m 5 -X POST -H "Authorization: Bearer $T" "$S/user/stop_job/$job" >/dev/null
for _ in $(seq 50); do scrape "$S" "$tmp/m3"; [ "$(val "$tmp/m3" vdag_edge_jobs_running node=edge)" = 0.0 ] && break; sleep 0.1; done
ok "stopped: no job running, the counter kept" '[ "$(val "$tmp/m3" vdag_edge_jobs_running node=edge)" = 0.0 ] && [ "$(val "$tmp/m3" vdag_jobs state=DONE)" = 1.0 ] && python3 -c "import sys; sys.exit(not float(sys.argv[1]) >= float(sys.argv[2]))" "$(val "$tmp/m3" vdag_frames_processed_total job="$job")" "$f2"'
kill "$bg_pid"; wait "$bg_pid" 2>/dev/null

# A cluster: the edge's stage runs on the cloud; the edge's /metrics counts the bytes of that link
np=$(freeport) cp=$(freeport) ep=$(freeport)
TMPDIR=$tmp "$vdag" nats-server --port "$np" > "$tmp/nats.url" 2>> "$tmp/nats.log" &
pids+=($!)
for _ in $(seq 150); do [ -s "$tmp/nats.url" ] && break; sleep 0.1; done
URL=$(cat "$tmp/nats.url")
ok "nats-server started" '[ -n "$URL" ]'
C=http://127.0.0.1:$cp E=http://127.0.0.1:$ep
bg "$vdag" cloud --listen 127.0.0.1:$cp --nats "$URL" --token $T --no-profile 2> "$tmp/cloud.log"
bg "$vdag" edge --name e1 --listen 127.0.0.1:$ep --nats "$URL" --token $T --video 0=vtest.avi --loop --threads 1 --no-profile 2> "$tmp/e1.log"
edge_pid=$bg_pid
for _ in $(seq 150); do scrape "$C" "$tmp/c0"; [ "$(val "$tmp/c0" vdag_node_up node=e1)" = 1.0 ] && break; sleep 0.1; done
ok "the cloud sees e1 up" '[ "$(val "$tmp/c0" vdag_node_up node=e1 role=edge)" = 1.0 ]'
plan='{"video_conf":{"resolution":"360p"},"flow_mapping":{"object_detection":{"model_id":1,"node_ip":"cloud","node_role":"cloud"}}}'
job=$(curl -s -m 5 -X POST -H "Authorization: Bearer $T" -H 'Content-Type: application/json' "$C/query/submit_query" \
  -d "{\"node_addr\":\"e1\",\"video_id\":\"0\",\"pipeline\":[\"object_detection\"],\"scheduler\":\"fixed\",\"plan\":$plan,\"user_constraint\":{\"delay\":1}}" | py 'print(json.load(sys.stdin)["job_uid"])')
ok "cluster job submitted" '[ -n "$job" ]'
for _ in $(seq 200); do scrape "$E" "$tmp/e1m"; [ "$(val "$tmp/e1m" vdag_remote_sent_bytes_total peer=cloud)" != none ] && break; sleep 0.1; done
sleep 1.5
scrape "$E" "$tmp/e2m"
b1=$(val "$tmp/e1m" vdag_remote_sent_bytes_total peer=cloud) b2=$(val "$tmp/e2m" vdag_remote_sent_bytes_total peer=cloud)
ok "edge: bytes sent to the cloud move ($b1 -> $b2)" 'python3 -c "import sys; a,b=map(float,sys.argv[1:]); sys.exit(not b > a > 0)" "$b1" "$b2"'
ok "edge: answers received, calls ok" 'python3 -c "import sys; sys.exit(not float(sys.argv[1]) > 0 and float(sys.argv[2]) > 0)" "$(val "$tmp/e2m" vdag_remote_received_bytes_total peer=cloud)" "$(val "$tmp/e2m" vdag_remote_calls_total peer=cloud result=ok)"'
ok "edge: promtool accepts it" 'check "$tmp/e2m" || { cat "$tmp/e2m.lint" >&2; false; }'
scrape "$C" "$tmp/c1"
ok "cloud: promtool accepts it" 'check "$tmp/c1" || { cat "$tmp/c1.lint" >&2; false; }'
ok "cloud: its service host loaded the model" '[ "$(val "$tmp/c1" vdag_model_load_seconds_count model=nanodet)" != none ]'
kill -9 "$edge_pid"
for _ in $(seq 100); do scrape "$C" "$tmp/c2"; [ "$(val "$tmp/c2" vdag_node_up node=e1)" = 0.0 ] && break; sleep 0.1; done
ok "e1 killed: the cloud reports it down" '[ "$(val "$tmp/c2" vdag_node_up node=e1 role=edge)" = 0.0 ] && check "$tmp/c2"'
finish
