#!/usr/bin/env bash
# Sources at run time (docs/nodes.md): POST /node/video and DELETE /node/video/<id> on a
# running node, through the cloud to its edge (pseudo mode: the in-process transport; an
# edge's own API in cluster mode: test_sources_cluster.sh). A file source is added, a job runs on
# it, it is removed and the job ends with reason source_removed; the lists (get_all_status,
# get_video_info) follow at once. An HTTP source: a file served by python3's http.server
# (read as a file), and the node's own MJPEG stream of a job (read live). Bad input is
# refused with its status and a message saying why, and the node stays up. The CLI's
# `vdag video add|rm`. (RTSP, lost streams and reconnects: test_rtsp.sh.)
vdag=$1
. "$(dirname "$0")/lib.sh"
src=$cache/media/vtest.avi
ffmpeg -v error -i "$src" -t 4 -vf "scale=320:-2" -c:v mpeg4 -q:v 5 "$tmp/clip.avi"
ok "a 4 s clip made" '[ -s "$tmp/clip.avi" ]'

port=$(freeport)
S=http://127.0.0.1:$port
bg "$vdag" run --listen 127.0.0.1:$port --video 0=vtest.avi --threads 1 --no-profile 2> "$tmp/run.log"
for _ in $(seq 100); do curl -s -m 1 "$S/user/get_all_status" | grep -q '"edge"' && break; sleep 0.1; done

# post JSON-BODY → "CODE BODY" (the reply on one line)
post() { curl -s -m 20 -o "$tmp/out.json" -w '%{http_code}' -X POST "$S/node/video" -H 'Content-Type: application/json' -d "$1"; }
del() { curl -s -m 20 -o "$tmp/out.json" -w '%{http_code}' -X DELETE "$S/node/video/$1"; }
out() { py "$1" < "$tmp/out.json"; }
submit() { # VIDEO [EXTRA-JSON]
  curl -s -m 5 -X POST "$S/query/submit_query" -H 'Content-Type: application/json' \
    -d "{\"node_addr\":\"edge\",\"video_id\":\"$1\",\"pipeline\":[\"face_detection\"],\"scheduler\":\"fixed\"$2}" |
    py 'print(json.load(sys.stdin)["job_uid"])'
}
job() { curl -s -m 5 "$S/user/sync_job_result/$1" | py "j=json.load(sys.stdin)['job']; $2"; }
wait_job() { for _ in $(seq "${3:-100}"); do job "$1" "$2" 2> /dev/null && return 0; sleep 0.2; done; return 1; }

# --- a file source: added, a job on it, removed: the job ends with the reason -------------------
code=$(post '{"node":"edge","video_id":"f1","url":"vtest.avi","type":"street","loop":true}')
ok "POST /node/video adds a cached sample by name (HTTP $code)" '[ "$code" = 200 ] && out "j=json.load(sys.stdin); s=j[\"source\"]; assert j[\"video_id\"]==\"f1\" and s[\"kind\"]==\"file\" and s[\"live\"] is False and s[\"width\"]==768 and j[\"video\"][\"f1\"][\"loop\"] is True, j"'
ok "get_video_info lists it at once" 'curl -s -m 5 "$S/node/get_video_info" | py "v=json.load(sys.stdin); assert any(\"f1\" in x for x in v.values()), v"'
ok "get_all_status lists it with its kind" 'curl -s -m 5 "$S/user/get_all_status" | py "v=json.load(sys.stdin)[\"data\"][\"edge\"][\"video\"][\"f1\"]; assert v[\"kind\"]==\"file\" and v[\"type\"]==\"street\" and v[\"path\"].endswith(\"vtest.avi\"), v"'
j1=$(submit f1)
ok "a job on the added file runs" '[ -n "$j1" ] && wait_job "$j1" "assert j[\"frames\"] >= 3"'
code=$(del f1)
ok "DELETE /node/video/f1 (HTTP $code) names the job it ends" '[ "$code" = 200 ] && out "j=json.load(sys.stdin); assert j[\"jobs_ended\"]==[\"$j1\"] and \"f1\" not in j[\"video\"], j"'
ok "the job ends with reason source_removed" 'wait_job "$j1" "assert j[\"state\"]==\"DONE\" and j[\"reason\"]==\"source_removed\" and \"removed\" in j[\"msg\"], j"'
ok "the lists drop it" 'curl -s -m 5 "$S/node/get_video_info" | py "v=json.load(sys.stdin); assert not any(\"f1\" in x for x in v.values()), v"'
for _ in $(seq 30); do curl -s -m 5 "$S/user/get_all_status" | py 'assert "f1" not in json.load(sys.stdin)["data"]["edge"]["video"]' 2> /dev/null && break; sleep 0.1; done
ok "the heartbeats agree" 'curl -s -m 5 "$S/user/get_all_status" | py "assert \"f1\" not in json.load(sys.stdin)[\"data\"][\"edge\"][\"video\"]"'
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST "$S/query/submit_query" -H 'Content-Type: application/json' -d '{"node_addr":"edge","video_id":"f1","pipeline":["face_detection"]}')
ok "a job on the removed video is refused (HTTP $code)" '[ "$code" = 404 ]'

# --- HTTP: a file on a web server (read as a file), a node's MJPEG stream (read live) ---------
hp=$(freeport)
(cd "$tmp" && exec python3 -m http.server "$hp" --bind 127.0.0.1 > "$tmp/http.log" 2>&1) &
pids+=($!)
for _ in $(seq 50); do curl -s -m 1 -o /dev/null "http://127.0.0.1:$hp/clip.avi" && break; sleep 0.1; done
code=$(post "{\"video_id\":\"h1\",\"url\":\"http://127.0.0.1:$hp/clip.avi\"}")
ok "an HTTP file is added, read as a file (HTTP $code)" '[ "$code" = 200 ] && out "s=json.load(sys.stdin)[\"source\"]; assert s[\"kind\"]==\"http\" and s[\"live\"] is False and s[\"width\"]==320, s"'
j2=$(submit h1 ',"max_frames":8')
ok "a job on it gets its frames" 'wait_job "$j2" "assert j[\"state\"]==\"DONE\" and j[\"reason\"]==\"finished\" and j[\"frames\"]==8, j" 150'
j3=$(submit 0 ',"loop":true')
wait_job "$j3" 'assert j["frames"] >= 1' > /dev/null
curl -s -m 30 -o /dev/null "$S/user/video/$j3" & # a viewer: the job renders its frames
pids+=($!)
code=$(post "{\"video_id\":\"m1\",\"url\":\"http://127.0.0.1:$port/user/video/$j3\"}")
ok "a node's MJPEG stream is added, read live (HTTP $code)" '[ "$code" = 200 ] && out "s=json.load(sys.stdin)[\"source\"]; assert s[\"kind\"]==\"http\" and s[\"live\"] is True, s"'
j4=$(submit m1)
ok "a job on the live HTTP stream gets frames" 'wait_job "$j4" "assert j[\"state\"]==\"EXEC\" and j[\"frames\"] >= 3, j" 150'
curl -s -m 5 -X POST "$S/user/stop_job/$j4" > /dev/null
curl -s -m 5 -X POST "$S/user/stop_job/$j3" > /dev/null

# --- bad input: its status, a message that says why; the node stays up --------------------------
printf 'not a video\n' > "$tmp/text.avi"
mkfifo "$tmp/fifo.avi"
closed=$(freeport)
bad() { # NAME WANT-CODE MSG-PART BODY (ok evals its check in its own frame: no $2, $3 there)
  local code want=$2 part=$3
  code=$(post "$4")
  ok "$1: HTTP $code, says '$3'" '[ "$code" = "$want" ] && out "j=json.load(sys.stdin); assert \"$part\" in j[\"msg\"], j"'
}
bad "an unknown scheme" 400 "unknown scheme 'ftp://'" '{"video_id":"b1","url":"ftp://127.0.0.1/x.avi"}'
bad "a missing file" 400 "no such file" '{"video_id":"b1","url":"/nonexistent/v.avi"}'
bad "a file that is no video" 400 "not a video" "{\"video_id\":\"b1\",\"url\":\"$tmp/text.avi\"}"
bad "a FIFO (would block a reader)" 400 "not a regular file" "{\"video_id\":\"b1\",\"url\":\"$tmp/fifo.avi\"}"
bad "a relative path" 400 "must be absolute" '{"video_id":"b1","url":"media/v.avi"}'
bad "a device that is not there" 400 "/dev/video97" '{"video_id":"b1","url":"/dev/video97"}'
bad "an RTSP server that is not there" 400 "probe" "{\"video_id\":\"b1\",\"url\":\"rtsp://127.0.0.1:$closed/x\"}"
bad "an HTTP server that is not there" 400 "cannot open" "{\"video_id\":\"b1\",\"url\":\"http://127.0.0.1:$closed/x.avi\"}"
bad "no URL" 400 "url: missing" '{"video_id":"b1"}'
bad "a bad id" 400 "video_id" '{"video_id":"a b","url":"vtest.avi"}'
bad "a URL with a control character" 400 "control character" '{"video_id":"b1","url":"/tmp/a\nb"}'
bad "a bad reconnect_timeout" 400 "reconnect_timeout" '{"video_id":"b1","url":"vtest.avi","reconnect_timeout":-1}'
bad "the cloud as the node" 400 "is the cloud" '{"node":"cloud","video_id":"b1","url":"vtest.avi"}'
bad "an unknown node" 404 "nosuch" '{"node":"nosuch","video_id":"b1","url":"vtest.avi"}'
bad "not JSON" 400 "JSON" '{"video_id":'
bad "a duplicate id" 409 "already has video '0'" '{"video_id":"0","url":"vtest.avi"}'
code=$(post "{\"video_id\":\"r1\",\"url\":\"rtsp://127.0.0.1:$closed/x\",\"probe\":false}")
ok "probe false adds an RTSP URL unchecked (HTTP $code)" '[ "$code" = 200 ] && out "j=json.load(sys.stdin); assert \"source\" not in j and j[\"video\"][\"r1\"][\"kind\"]==\"rtsp\", j"'
code=$(del r1)
ok "and removes it (HTTP $code)" '[ "$code" = 200 ]'
code=$(del nosuch)
ok "deleting an unknown id: HTTP $code" '[ "$code" = 404 ] && out "assert \"no edge has video \x27nosuch\x27\" in json.load(sys.stdin)[\"msg\"]"'
code=$(curl -s -m 5 -o "$tmp/out.json" -w '%{http_code}' -X DELETE "$S/node/video/nosuch?node=edge")
ok "deleting an unknown id on a named edge: HTTP $code" '[ "$code" = 404 ] && out "assert \"has no video \x27nosuch\x27\" in json.load(sys.stdin)[\"msg\"]"'
ok "the node is still up and its first video still runs jobs" 'j=$(submit 0 ",\"max_frames\":3") && wait_job "$j" "assert j[\"reason\"]==\"finished\" and j[\"frames\"]==3, j" 150'

# --- the CLI -------------------------------------------------------------------------------------
"$vdag" video add --server "$S" --node edge --id c1 --url vtest.avi --type lobby > "$tmp/cli.out" 2>&1
rc=$?
ok "vdag video add (exit $rc)" '[ $rc = 0 ] && grep -q "video c1 added to edge" "$tmp/cli.out" && grep -q "c1 .*file .*lobby" "$tmp/cli.out"'
"$vdag" video add --server "$S" --id c1 --url vtest.avi > "$tmp/cli.out" 2>&1
rc=$?
ok "vdag video add of a duplicate says so (exit $rc)" '[ $rc = 1 ] && grep -q "already has video .c1." "$tmp/cli.out" && grep -q "HTTP 409" "$tmp/cli.out"'
"$vdag" video rm c1 --server "$S" --json > "$tmp/cli.out" 2>&1
rc=$?
ok "vdag video rm --json (exit $rc)" '[ $rc = 0 ] && py "j=json.load(sys.stdin); assert j[\"video_id\"]==\"c1\" and \"c1\" not in j[\"video\"]" < "$tmp/cli.out"'
"$vdag" video rm c1 --server "$S" > "$tmp/cli.out" 2>&1
rc=$?
ok "vdag video rm of an unknown id (exit $rc)" '[ $rc = 1 ] && grep -q "HTTP 404" "$tmp/cli.out"'
"$vdag" video add --server "$S" --id "a/b" --url vtest.avi > "$tmp/cli.out" 2>&1
rc=$?
ok "vdag video add with a bad id is a usage error (exit $rc)" '[ $rc = 2 ]'
"$vdag" video add --help > "$tmp/cli.out" 2>&1 && "$vdag" video rm --help >> "$tmp/cli.out" 2>&1
ok "vdag video add|rm --help" 'grep -q "usage: vdag video add" "$tmp/cli.out" && grep -q "usage: vdag video rm" "$tmp/cli.out"'

[ $fail -eq 0 ] || tail -30 "$tmp/run.log" >&2
finish
