#!/usr/bin/env bash
# The seed's start-up lines, as its README gives them: pseudo mode reads the videos in
# ./input/ (input.mov, input1.mp4, traffic-720p.mp4 with the seed's ids and types, other
# files after them); cluster mode with the seed's cloud line (no --nats: the broker on the
# cloud's machine, port 4222, started by the cloud when none runs) and its edge line
# (--cloud_ip) makes a cluster.
vdag=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") # absolute: the pseudo run starts in another directory
. "$(dirname "$0")/lib.sh"

# --- pseudo mode: ./input/ --------------------------------------------------------------
mkdir -p "$tmp/seed/input"
ln -s "$cache/media/Megamind.avi" "$tmp/seed/input/input.mov"
ln -s "$cache/media/vtest.avi" "$tmp/seed/input/input1.mp4"
ln -s "$cache/media/vtest.avi" "$tmp/seed/input/other.avi"
touch "$tmp/seed/input/notes.txt"
pp=$(freeport)
(cd "$tmp/seed" && exec "$vdag" run --side=c --mode=pseudo --listen 127.0.0.1:$pp --threads 1 --no-profile) 2> "$tmp/pseudo.log" &
ps=$!; pids+=("$ps")
st() { curl -s -m 5 "http://127.0.0.1:$1/user/get_all_status"; }
for _ in $(seq 100); do st $pp | grep -q '"edge"' && break; sleep 0.1; done
ok "pseudo mode takes ./input/ with the seed's ids and types" 'st $pp | py "v=json.load(sys.stdin)[\"data\"][\"edge\"][\"video\"]; assert {k: x[\"type\"] for k, x in v.items()}=={\"0\":\"student in classroom\",\"1\":\"people in meeting-room\",\"2\":\"other.avi\"}, v"'
job=$(curl -s -m 5 -X POST "http://127.0.0.1:$pp/query/submit_query" -H 'Content-Type: application/json' -d '{"node_addr":"edge","video_id":0,"pipeline":["face_detection"],"max_frames":2}' | py 'print(json.load(sys.stdin)["job_uid"])')
for _ in $(seq 150); do curl -s -m 5 "http://127.0.0.1:$pp/user/sync_job_result/$job" | grep -q '"finished"' && break; sleep 0.2; done
ok "a job on ./input/input.mov runs" 'curl -s -m 5 "http://127.0.0.1:$pp/user/sync_job_result/$job" | py "j=json.load(sys.stdin)[\"job\"]; assert j[\"state\"]==\"DONE\" and j[\"reason\"]==\"finished\" and j[\"frames\"]==2, j"'
kill -TERM "$ps"; wait "$ps"

# --- cluster mode: the seed's cloud and edge lines -----------------------------------------
cp=$(freeport) ep=$(freeport)
"$vdag" run --side=c --mode=cluster --serv_cloud_addr=127.0.0.1:5500 --listen 127.0.0.1:$cp --no-profile 2> "$tmp/cloud.log" &
cl=$!; pids+=("$cl")
for _ in $(seq 150); do curl -s -m 1 "http://127.0.0.1:$cp/healthz" | grep -q '"status": *0' && break; kill -0 "$cl" 2>/dev/null || break; sleep 0.1; done
ok "the seed's cloud line (no --nats) runs, connected" 'kill -0 "$cl" 2>/dev/null && curl -s -m 2 "http://127.0.0.1:$cp/healthz" | grep -q "\"connected\": *true"'
"$vdag" run --side=e --mode=cluster --cloud_ip=127.0.0.1 --serv_cloud_addr=127.0.0.1:5500 --listen 127.0.0.1:$ep --video 0=vtest.avi=street --threads 1 --no-profile 2> "$tmp/edge.log" &
ed=$!; pids+=("$ed")
for _ in $(seq 150); do st $cp | grep -q '"edge"' && break; sleep 0.1; done
ok "the seed's edge line (--cloud_ip) joins it" 'st $cp | py "d=json.load(sys.stdin)[\"data\"]; assert d[\"edge\"][\"video\"][\"0\"][\"type\"]==\"street\" and d[\"edge\"][\"addr\"]==\"127.0.0.1:$ep\", d"'
kill -TERM "$ed"; wait "$ed"; r1=$?
kill -TERM "$cl"; wait "$cl"; r2=$?
ok "both exit 0 ($r1, $r2)" '[ $r1 -eq 0 ] && [ $r2 -eq 0 ]'
[ $fail -eq 0 ] || for f in pseudo cloud edge; do echo "--- $f"; tail -8 "$tmp/$f.log"; done >&2
finish
