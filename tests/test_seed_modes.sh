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

# --- a browser front end on another origin, with a token: preflight, POST, <img> ---------------
# (the seed's front end posts JSON cross-site and shows /user/video/<job> in an <img>, which
# sends no Authorization header: it takes a signed URL, asked for with the token)
tp=$(freeport) T=s3cret O=http://front.example:8080
(cd "$tmp/seed" && exec "$vdag" run --side=c --mode=pseudo --listen 127.0.0.1:$tp --threads 1 --no-profile --token $T --cors $O) 2> "$tmp/tok.log" &
tk=$!; pids+=("$tk")
for _ in $(seq 100); do curl -s -m 1 -H "Authorization: Bearer $T" "http://127.0.0.1:$tp/user/get_all_status" | grep -q '"edge"' && break; sleep 0.1; done
curl -s -m 5 -o /dev/null -D "$tmp/pre.h" -X OPTIONS -H "Origin: $O" -H "Access-Control-Request-Method: POST" -H "Access-Control-Request-Headers: content-type, authorization" "http://127.0.0.1:$tp/query/submit_query"
ok "the CORS preflight from the front end's origin is allowed, without the token" 'head -1 "$tmp/pre.h" | grep -q " 204" && grep -qi "^access-control-allow-origin: $O" "$tmp/pre.h"'
job=$(curl -s -m 5 -X POST -H "Origin: $O" -H "Authorization: Bearer $T" -H 'Content-Type: application/json' "http://127.0.0.1:$tp/query/submit_query" -d '{"node_addr":"edge","video_id":0,"pipeline":["face_detection"]}' | py 'print(json.load(sys.stdin)["job_uid"])')
ok "the front end's POST with the token submits" '[ -n "$job" ]'
code=$(curl -s -m 3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$tp/user/video/$job")
ok "an <img> without the token is refused ($code)" '[ "$code" = 401 ]'
signed=$(curl -s -m 5 -H "Authorization: Bearer $T" "http://127.0.0.1:$tp/auth/sign_url?path=/user/video/$job&ttl=60" | py 'j=json.load(sys.stdin); print(j["url"])')
curl -s -m 4 -o "$tmp/img.bin" -D "$tmp/img.h" "http://127.0.0.1:$tp$signed"
ok "... and its signed URL streams the job's MJPEG ($signed)" 'head -1 "$tmp/img.h" | grep -q " 200" && grep -qi "^content-type: multipart/x-mixed-replace" "$tmp/img.h" && py "d=open(\"$tmp/img.bin\",\"rb\").read(); assert d.find(b\"\\xff\\xd8\") >= 0, len(d)" < /dev/null'
kill -TERM "$tk"; wait "$tk"

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
