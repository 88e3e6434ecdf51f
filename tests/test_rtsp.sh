#!/usr/bin/env bash
# RTSP for real (docs/nodes.md, "Sources at run time"): footage served by a local RTSP server
# (Debian's rtsp-server-perl, scripts/deps.txt) that ffmpeg publishes to, added to a running
# node with POST /node/video, a job on it with results. The server is killed mid-stream: the
# job survives (its runtime says the stream is down and why), a second job on the same stream
# with a 3 s reconnect_timeout ends with reason source_lost; the server comes back and the
# first job's frames resume (reconnected, counted in /metrics); DELETE ends it with reason
# source_removed. rtsp-server-perl sends RTP over UDP only: the URL says so with FFmpeg's
# "?udp" (vdag asks for TCP otherwise).
vdag=$1
. "$(dirname "$0")/lib.sh"
for tool in rtsp-server-perl ffmpeg; do
  command -v "$tool" > /dev/null || { echo "test_rtsp: $tool is missing (scripts/deps.txt)" >&2; exit 1; }
done
# 20 s of vtest.avi in MPEG-4 part 2 (vtest.avi's msmpeg4v3 has no RTP payload format),
# a keyframe every second: published with -c copy, looped
ffmpeg -v error -i "$cache/media/vtest.avi" -t 20 -vf "scale=384:-2" -c:v mpeg4 -q:v 5 -g 10 -an "$tmp/cam.mkv"
ok "the footage is made" '[ -s "$tmp/cam.mkv" ]'
cport=$(freeport) sport=$(freeport) rtp=$((20000 + RANDOM % 20000))
up() { # the RTSP server and the publisher into it; waits until the server listens (its
  # source port opens first, then the one for clients)
  bg rtsp-server-perl --clientport "$cport" --serverport "$sport" --client_listen_address 127.0.0.1 \
    --source_listen_address 127.0.0.1 --rtp_start_port "$rtp" --loglevel 1 >> "$tmp/rtsp.log" 2>&1
  rtsp_pid=$bg_pid
  for _ in $(seq 150); do (exec 3<> "/dev/tcp/127.0.0.1/$cport") 2> /dev/null && break; sleep 0.1; done
  bg ffmpeg -v error -re -stream_loop -1 -i "$tmp/cam.mkv" -c copy -f rtsp "rtsp://127.0.0.1:$sport/cam"
  pub_pid=$bg_pid
}
down() { kill -9 "$pub_pid" "$rtsp_pid" 2> /dev/null; wait "$pub_pid" "$rtsp_pid" 2> /dev/null; }
up
URL="rtsp://127.0.0.1:$cport/cam?udp"

port=$(freeport)
S=http://127.0.0.1:$port
bg "$vdag" run --listen 127.0.0.1:$port --video 0=vtest.avi --threads 1 --no-profile 2> "$tmp/run.log"
vpid=$bg_pid
for _ in $(seq 100); do curl -s -m 1 "$S/user/get_all_status" | grep -q '"edge"' && break; sleep 0.1; done
post() { curl -s -m 20 -o "$tmp/out.json" -w '%{http_code}' -X POST "$S/node/video" -H 'Content-Type: application/json' -d "$1"; }
# the publisher needs a moment before the server has the stream: 400 until then
for _ in $(seq 50); do code=$(post "{\"node\":\"edge\",\"video_id\":\"cam\",\"url\":\"$URL\",\"type\":\"street\"}"); [ "$code" = 200 ] && break; sleep 0.2; done
ok "the RTSP stream is added (HTTP $code)" '[ "$code" = 200 ] && py "s=json.load(sys.stdin)[\"source\"]; assert s[\"kind\"]==\"rtsp\" and s[\"live\"] is True and s[\"codec\"]==\"mpeg4\", s" < "$tmp/out.json"'
code=$(post "{\"video_id\":\"cam2\",\"url\":\"$URL\",\"reconnect_timeout\":3}")
ok "a second name for it, with a 3 s reconnect_timeout (HTTP $code)" '[ "$code" = 200 ]'
ok "get_video_info lists both" 'curl -s -m 5 "$S/node/get_video_info" | py "v=json.load(sys.stdin); assert any(\"cam\" in x and \"cam2\" in x for x in v.values()), v"'

submit() {
  curl -s -m 5 -X POST "$S/query/submit_query" -H 'Content-Type: application/json' \
    -d "{\"node_addr\":\"edge\",\"video_id\":\"$1\",\"pipeline\":[\"face_detection\"],\"scheduler\":\"fixed\"}" |
    py 'print(json.load(sys.stdin)["job_uid"])'
}
job() { curl -s -m 5 "$S/user/sync_job_result/$1" | py "j=json.load(sys.stdin)['job']; $2"; }
rt() { curl -s -m 5 "$S/job/get_runtime/$1" | py "s=json.load(sys.stdin)['source']; $2"; }
wait_for() { for _ in $(seq "$2"); do "$1" 2> /dev/null && return 0; sleep 0.2; done; return 1; }
frames() { curl -s -m 5 "$S/user/sync_job_result/$1" | py 'print(json.load(sys.stdin)["job"]["frames"])'; }
a=$(submit cam)
b=$(submit cam2)
both_run() { job "$a" 'assert j["frames"] >= 5' && job "$b" 'assert j["frames"] >= 5'; }
ok "jobs on the stream get results" 'wait_for both_run 150'
ok "its runtime: a live source, up" 'rt "$a" "assert s[\"live\"] is True and s[\"up\"] is True and s[\"kind\"]==\"rtsp\", s"'
ok "its results carry the stream's counts" 'curl -s -m 5 "$S/user/sync_job_result/$a" | py "r=json.load(sys.stdin)[\"result\"][\"appended_result\"][-1]; assert r[\"source\"]=={\"lost\":0,\"reconnects\":0}, r"'

# --- the server dies mid-stream --------------------------------------------------------------------
down
a_down() { rt "$a" 'assert s["up"] is False and s["lost"] == 1 and "cam" in s["error"], s'; }
b_lost() { job "$b" 'assert j["state"]=="DONE" and j["reason"]=="source_lost" and "no stream for" in j["msg"], j'; }
ok "the job sees the stream down, and why" 'wait_for a_down 100'
ok "the job on a 3 s reconnect_timeout ends: source_lost" 'wait_for b_lost 100'
ok "the other job survives" 'job "$a" "assert j[\"state\"]==\"EXEC\", j"'
ok "the edge log says it reconnects" 'grep -q "video cam lost (.*); reconnecting with back-off" "$tmp/run.log"'
curl -s -m 5 "$S/metrics" > "$tmp/m1"
ok "/metrics: the stream down, lost once" 'grep -q "^vdag_source_up{node=\"edge\",job=\"$a\",video=\"cam\"} 0" "$tmp/m1" && grep -q "^vdag_source_lost_total{node=\"edge\",video=\"cam\"} 1" "$tmp/m1"'
f0=$(frames "$a")

# --- it comes back -------------------------------------------------------------------------------
up
resumed() { [ "$(frames "$a")" -gt $((f0 + 5)) ]; }
ok "frames resume after the server is back (from $f0)" 'wait_for resumed 200'
ok "its runtime: up again, reconnected" 'rt "$a" "assert s[\"up\"] is True and s[\"reconnects\"] >= 1, s"'
ok "the edge log says it is back" 'grep -q "video cam is back (reconnect 1)" "$tmp/run.log"'
curl -s -m 5 "$S/metrics" > "$tmp/m2"
ok "/metrics: the stream up, reconnected" 'grep -q "^vdag_source_up{node=\"edge\",job=\"$a\",video=\"cam\"} 1" "$tmp/m2" && grep -q "^vdag_source_reconnects_total{node=\"edge\",video=\"cam\"} [1-9]" "$tmp/m2"'

# --- removed: the job ends with the reason ---------------------------------------------------------
code=$(curl -s -m 20 -o "$tmp/out.json" -w '%{http_code}' -X DELETE "$S/node/video/cam")
ok "DELETE /node/video/cam (HTTP $code)" '[ "$code" = 200 ] && py "j=json.load(sys.stdin); assert j[\"jobs_ended\"]==[\"$a\"], j" < "$tmp/out.json"'
a_removed() { job "$a" 'assert j["state"]=="DONE" and j["reason"]=="source_removed", j'; }
ok "the job ends: source_removed" 'wait_for a_removed 100'
ok "get_video_info no longer lists it" 'curl -s -m 5 "$S/node/get_video_info" | py "v=json.load(sys.stdin); assert not any(\"cam\" in x for x in v.values()) and any(\"cam2\" in x for x in v.values()), v"'
ok "the node is up" 'kill -0 $vpid && [ "$(curl -s -o /dev/null -w "%{http_code}" -m 5 "$S/healthz")" = 200 ]'
[ $fail -eq 0 ] || { tail -30 "$tmp/run.log"; tail -20 "$tmp/rtsp.log"; } >&2
finish
