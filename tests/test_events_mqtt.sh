#!/usr/bin/env bash
# The cloud's events to MQTT (docs/events.md) against a real mosquitto broker started here on a
# free 127.0.0.1 port (temp config, no persistence): `vdag run --mqtt` with object detection and
# tracking (ntracking 2) on vtest.avi. mosquitto_sub sees the result, count, enter, leave and
# plan events, the node up and `online`; a late subscriber gets the retained count at once; the
# broker killed mid-job: the cloud keeps running, and once the broker is back the events resume
# and the retained count is there again (republished); the metrics count them; kill -9 of vdag:
# the broker publishes the last will, `offline`.
vdag=$1
. "$(dirname "$0")/lib.sh"
command -v mosquitto_sub >/dev/null || { echo "mosquitto_sub is missing: apt-get install mosquitto-clients (make setup)" >&2; exit 1; }
broker_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
[ -x "$broker_bin" ] || { echo "mosquitto is missing: apt-get install mosquitto (make setup)" >&2; exit 1; }
mp=$(freeport) p=$(freeport)
S=http://127.0.0.1:$p
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$mp" > "$tmp/mosquitto.conf"
start_broker() {
  "$broker_bin" -c "$tmp/mosquitto.conf" >> "$tmp/broker.log" 2>&1 &
  broker=$!; pids+=("$broker")
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$mp) 2>/dev/null && return 0; sleep 0.1; done
  echo "mosquitto did not start" >&2; cat "$tmp/broker.log" >&2; return 1
}
# sub FILE [ARGS]: mosquitto_sub on vdag/# in the background, "RETAIN TOPIC PAYLOAD" lines
sub() { local f=$1; shift; bg mosquitto_sub -h 127.0.0.1 -p "$mp" -q 1 -F '%r %t %p' "$@" > "$f" 2>> "$tmp/sub.log"; }
# seen FILE TYPE: events of that type on vdag/<job>/events
seen() { grep "^0 vdag/$job/events " "$1" | cut -d' ' -f3- | py "
n=0
for l in sys.stdin:
    e=json.loads(l); n+=e['type']=='$2' and e['job']=='$job'
print(n)"; }
wait_seen() { for _ in $(seq 300); do [ "$(seen "$1" "$2")" -ge "${3:-1}" ] && return 0; sleep 0.1; done; return 1; }

start_broker || exit 1
sub "$tmp/all.txt" -t 'vdag/#'
# subscribed once a probe comes through
for _ in $(seq 100); do mosquitto_pub -h 127.0.0.1 -p "$mp" -t vdag/probe -m x; grep -q "vdag/probe" "$tmp/all.txt" && break; sleep 0.1; done
bg "$vdag" run --listen 127.0.0.1:$p --video 0=vtest.avi=street --loop --threads 1 --no-profile \
  --mqtt "mqtt://127.0.0.1:$mp" --mqtt-id vdag-test --leave-frames 3 2> "$tmp/run.log"
vd=$bg_pid
for _ in $(seq 100); do curl -s -m 1 "$S/healthz" >/dev/null && break; sleep 0.1; done
job=$(curl -s -m 5 -X POST -H 'Content-Type: application/json' "$S/query/submit_query" \
  -d '{"node_addr":"edge","video_id":"0","pipeline":["object_detection"],"scheduler":"fixed","plan":{"video_conf":{"resolution":"360p","ntracking":2},"flow_mapping":{"object_detection":{"model_id":1,"node_ip":"edge","node_role":"edge"}}},"user_constraint":{"delay":1}}' | py 'print(json.load(sys.stdin)["job_uid"])')
ok "job submitted" '[ -n "$job" ]'
for t in count enter leave; do wait_seen "$tmp/all.txt" $t; done
ok "result events on vdag/<job>/result" 'grep "^0 vdag/$job/result " "$tmp/all.txt" | head -3 | cut -d" " -f3- | py "
for l in sys.stdin:
    e=json.loads(l); assert e[\"type\"]==\"result\" and e[\"seq\"]>=1 and \"object_detection\" in e[\"result\"][\"stages\"], e"'
ok "count events with what changed" '[ "$(seen "$tmp/all.txt" count)" -ge 1 ] && grep "^0 vdag/$job/events " "$tmp/all.txt" | cut -d" " -f3- | py "
c=[e for e in map(json.loads, sys.stdin) if e[\"type\"]==\"count\"]
assert all(e[\"changed\"] and e[\"node\"]==\"edge\" for e in c), c"'
ok "enter events: track ids with labels" 'grep "^0 vdag/$job/events " "$tmp/all.txt" | cut -d" " -f3- | py "
c=[e for e in map(json.loads, sys.stdin) if e[\"type\"]==\"enter\"]
assert c and all(isinstance(e[\"track_id\"], int) and e[\"label\"] and e[\"stage\"]==\"object_detection\" for e in c), c"'
ok "leave events" '[ "$(seen "$tmp/all.txt" leave)" -ge 1 ]'
ok "the start plan event" 'grep "^0 vdag/$job/events " "$tmp/all.txt" | cut -d" " -f3- | py "
c=[e for e in map(json.loads, sys.stdin) if e[\"type\"]==\"plan\"]
assert c and c[0][\"why\"]==\"start\" and c[0][\"plan\"][\"video_conf\"][\"ntracking\"]==2, c"'
ok "retained counts live on vdag/<job>/person/count" 'grep -q "^0 vdag/$job/person/count [0-9]" "$tmp/all.txt"'
ok "availability online" 'grep -q "^0 vdag/available online" "$tmp/all.txt" || mosquitto_sub -h 127.0.0.1 -p $mp -t vdag/available -C 1 -W 5 | grep -q online'
late=$(mosquitto_sub -h 127.0.0.1 -p "$mp" -t "vdag/$job/person/count" -F '%r %p' -C 1 -W 10)
ok "a late subscriber gets the retained count at once ($late)" '[[ "$late" =~ ^1\ [0-9]+$ ]]'
ok "the nodes' state is retained" 'mosquitto_sub -h 127.0.0.1 -p $mp -t vdag/nodes/edge -C 1 -W 5 | grep -qx up'

# the broker killed mid-job: the cloud keeps running and taking results
kill -9 "$broker"; wait "$broker" 2>/dev/null
frames() { curl -s -m 5 "$S/user/sync_job_result/$job" | py 'print(json.load(sys.stdin)["job"]["frames"])' 2>/dev/null || echo 0; }
fa=$(frames)
for _ in $(seq 100); do fb=$(frames); [ "$fb" -gt "$fa" ] 2>/dev/null && break; sleep 0.1; done
ok "the broker down, the job goes on ($fa -> $fb frames)" '[ "$fb" -gt "$fa" ] && curl -s -m 5 "$S/healthz" | grep -q "\"status\": *0"'
start_broker || exit 1
sub "$tmp/after.txt" -t "vdag/$job/#"
for _ in $(seq 200); do grep -q "^0 vdag/$job/result " "$tmp/after.txt" && break; sleep 0.1; done
ok "events resume after the broker restart" 'grep -q "^0 vdag/$job/result " "$tmp/after.txt"'
late=$(mosquitto_sub -h 127.0.0.1 -p "$mp" -t "vdag/$job/person/count" -F '%r %p' -C 1 -W 10)
ok "the retained count is back on the new broker ($late)" '[[ "$late" =~ ^1\ [0-9]+$ ]]'
grep -q "MQTT: lost the connection" "$tmp/run.log"
ok "the cloud said it lost the broker" '[ $? = 0 ]'
curl -s -m 5 "$S/metrics" > "$tmp/metrics"
ok "metrics: events published per sink" 'grep -q "^vdag_events_published_total{node=\"cloud\",sink=\"mqtt\"} [1-9]" "$tmp/metrics" && grep -q "^vdag_events_published_total{node=\"cloud\",sink=\"bus\"} [1-9]" "$tmp/metrics" && grep -q "^vdag_events_dropped_total{node=\"cloud\",sink=\"mqtt\"} " "$tmp/metrics"'

# kill -9 the cloud: the broker publishes its last will
sub "$tmp/avail.txt" -t vdag/available
for _ in $(seq 50); do grep -q online "$tmp/avail.txt" && break; sleep 0.1; done
kill -9 "$vd"; wait "$vd" 2>/dev/null
for _ in $(seq 150); do grep -q offline "$tmp/avail.txt" && break; sleep 0.1; done
ok "the last will says offline" 'grep -q "vdag/available offline" "$tmp/avail.txt"'
finish
