#!/usr/bin/env bash
# The command line as a new user meets it: every subcommand answers --help (usage on stdout,
# exit 0); a wrong option or value is named with what it takes (numbers parsed strictly);
# a missing file says why; vdag submit places stages and picks models (--place, --model,
# --plan); a cluster node that cannot reach its broker says so and its /healthz answers 503
# until it can.
vdag=$1
. "$(dirname "$0")/lib.sh"

# --- a cluster node with no broker: said on stderr, 503 on /healthz, then connected -------
np=$(freeport) lp=$(freeport)
"$vdag" cloud --listen 127.0.0.1:$lp --nats nats://127.0.0.1:$np --no-profile 2> "$tmp/down.log" &
cl=$!; pids+=("$cl")
for _ in $(seq 100); do grep -q "not connected to the NATS server at .* for" "$tmp/down.log" && break; sleep 0.1; done
ok "no broker: the cloud says so, naming the URL" 'grep -q "not connected to the NATS server at nats://127.0.0.1:$np for [0-9]* s: is nats-server running" "$tmp/down.log"'
code=$(curl -s -m 5 -o "$tmp/body" -w '%{http_code}' "http://127.0.0.1:$lp/healthz")
ok "no broker: /healthz 503 VD_ECONN ($code)" '[ "$code" = 503 ] && py "j=json.load(open(\"$tmp/body\")); assert j[\"status\"]==-15 and j[\"connected\"] is False and \"nats://127.0.0.1:$np\" in j[\"msg\"], j"'
TMPDIR=$tmp "$vdag" nats-server --port "$np" > "$tmp/nats.url" 2> "$tmp/nats.log" &
nats_pid=$!; pids+=("$nats_pid")
for _ in $(seq 100); do curl -s -m 2 "http://127.0.0.1:$lp/healthz" | grep -q '"status": *0' && break; sleep 0.1; done
code=$(curl -s -m 5 -o "$tmp/body" -w '%{http_code}' "http://127.0.0.1:$lp/healthz")
ok "broker up: /healthz 200, connected ($code)" '[ "$code" = 200 ] && grep -q "\"connected\": *true" "$tmp/body"'
for _ in $(seq 50); do grep -q "connected to nats://" "$tmp/down.log" && break; sleep 0.1; done
ok "broker up: the cloud says it connected" 'grep -q "connected to nats://127.0.0.1:$np" "$tmp/down.log"'
# its batch uploads, which need the broker, start once it is up
for _ in $(seq 100); do grep -q "batch uploads (/videos) started" "$tmp/down.log" && break; sleep 0.1; done
code=$(curl -s -m 5 -o "$tmp/body" -w '%{http_code}' "http://127.0.0.1:$lp/videos")
ok "broker up: /videos started and answers ($code)" 'grep -q "batch uploads (/videos) start once the NATS server is reachable" "$tmp/down.log" && grep -q "batch uploads (/videos) started" "$tmp/down.log" && [ "$code" = 200 ] && py "j=json.load(open(\"$tmp/body\")); assert isinstance(j[\"videos\"], list), j"'
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$lp/healthz")
ok "... on the same port, still healthy ($code)" '[ "$code" = 200 ]'
kill -TERM "$cl"; wait "$cl"; rc=$?
ok "the cloud exits 0 ($rc)" '[ $rc -eq 0 ]'
kill -TERM "$nats_pid"; wait "$nats_pid" 2>/dev/null

# --- --help everywhere ----------------------------------------------------------------
for c in run cloud edge submit status results stop nats-server profile worker "batch submit" "batch status" "batch rm" "nn run" "bench models" "bench gemm" "bench remote"; do
  out=$($vdag $c --help 2> "$tmp/help.err"); rc=$?
  ok "vdag $c --help: usage on stdout, exit 0" '[ $rc -eq 0 ] && [ "${out#usage: vdag $c}" != "$out" ] && [ ! -s "$tmp/help.err" ]'
done
out=$($vdag results --help -x 2>&1); rc=$?
ok "vdag results --help is not a job id" '[ $rc -eq 0 ] && echo "$out" | grep -q "^usage: vdag results JOB"'

# --- errors name the option and what it takes (exit 2) ------------------------------------
# expect NAME WORDS CMD...: exit 2 and stderr holding WORDS
expect() {
  local name=$1 words=$2; shift 2
  "$@" > /dev/null 2> "$tmp/err"; local rc=$?
  ok "$name (exit $rc: $(head -1 "$tmp/err"))" '[ $rc -eq 2 ] && grep -qF -- "$words" "$tmp/err"'
}
expect "submit --delay abc" "--delay 'abc': expected a number" $vdag submit --node e --video 0 --pipeline face_detection --delay abc
expect "submit --delay 0" "--delay '0': expected seconds > 0" $vdag submit --node e --video 0 --pipeline face_detection --delay 0
expect "submit --accuracy 5" "--accuracy '5': expected a number 0..1" $vdag submit --node e --video 0 --pipeline face_detection --accuracy 5
expect "submit --max-frames 1.5" "--max-frames '1.5': expected an integer 1.." $vdag submit --node e --video 0 --pipeline face_detection --max-frames 1.5
expect "submit --max-frames -3" "--max-frames '-3'" $vdag submit --node e --video 0 --pipeline face_detection --max-frames -3
expect "submit --model STAGE=x" "--model 'x': expected an integer" $vdag submit --node e --video 0 --pipeline face_detection --model face_detection=x
expect "submit --place without =" "--place 'edge': expected STAGE=NODE" $vdag submit --node e --video 0 --pipeline face_detection --place edge
expect "submit: a missing DAG file says why" "--dag /nonexistent/x.json: unable to open /nonexistent/x.json: No such file or directory" $vdag submit --node e --video 0 --dag /nonexistent/x.json
echo '{"flow": ' > "$tmp/bad.json"
expect "submit: a DAG file that is not JSON" "not JSON" $vdag submit --node e --video 0 --dag "$tmp/bad.json"
expect "submit: unknown option named" "unknown option '--colour'" $vdag submit --colour red
expect "submit: missing --node" "--node NODE is required" $vdag submit --video 0 --pipeline face_detection
expect "results: unknown option, not a job id" "unknown option '--bogus'" $vdag results --bogus
expect "results: no JOB" "JOB is required" $vdag results
expect "status: no arguments" "unexpected argument 'extra'" $vdag status extra
expect "stop: unknown option" "unknown option '--force'" $vdag stop j1 --force
expect "run --frames -3" "--frames '-3': expected an integer 1.." $vdag run --video vtest.avi --pipeline face_detection --frames -3
expect "run --fps abc" "--fps 'abc'" $vdag run --video vtest.avi --pipeline face_detection --fps abc
expect "run --threads 0" "--threads '0': expected an integer 1..256" $vdag run --video vtest.avi --pipeline face_detection --threads 0
expect "run --model beyond the models" "--model '9': expected an integer 0..2" $vdag run --video vtest.avi --pipeline face_detection --model face_detection=9
expect "run: unknown option named" "unknown option '--colour'" $vdag run --video vtest.avi --pipeline face_detection --colour red
expect "edge: unknown option named" "unknown option '--wat'" $vdag edge --wat
expect "cloud --replan abc" "--replan 'abc': expected a number" $vdag cloud --replan abc --nats nats://127.0.0.1:1
expect "cloud --threads 2x" "--threads '2x'" $vdag cloud --threads 2x --nats nats://127.0.0.1:1
expect "nats-server --port 99999" "--port '99999': expected an integer 0..65535" $vdag nats-server --port 99999
expect "profile --threads -1" "--threads '-1'" $vdag profile --threads -1
expect "profile --frames 1.5" "--frames '1.5': expected an integer" $vdag profile --frames 1.5
expect "profile: unknown option named" "unknown option '--fast'" $vdag profile --fast
expect "worker --threads 0" "--threads '0': expected an integer 1..256" $vdag worker --nats nats://127.0.0.1:1 --threads 0
expect "worker: unknown option named" "unknown option '--wat'" $vdag worker --wat 1
expect "worker: --nats is needed" "--nats URL is needed" $vdag worker --threads 2
expect "batch submit --workers x" "--workers 'x': expected an integer 0..256" $vdag batch submit /nonexistent.mp4 --workers x
expect "batch submit: no FILE" "no video FILE given" $vdag batch submit --json
expect "batch submit: unknown option named" "unknown option '--colour'" $vdag batch submit x.mp4 --colour red
expect "batch submit: --server and --nats" "--server and --nats exclude each other" $vdag batch submit x.mp4 --server http://127.0.0.1:1 --nats nats://127.0.0.1:1
expect "batch status: two ids" "unexpected argument 'b'" $vdag batch status a b
expect "batch rm: no ID" "no video ID given" $vdag batch rm
expect "batch rm: unknown option named" "unknown option '--force'" $vdag batch rm a --force
expect "nn run --threads x" "--threads 'x'" $vdag nn run nanodet --threads x
expect "bench gemm --size 4" "--size '4': expected an integer 16..8192" $vdag bench gemm --size 4
expect "bench remote --quality 0" "--quality '0': expected an integer 1..100" $vdag bench remote --quality 0

# --- vdag submit --place / --model / --plan -----------------------------------------------
sp=$(freeport)
S=http://127.0.0.1:$sp
"$vdag" run --listen 127.0.0.1:$sp --video 0=vtest.avi=street --threads 1 --no-profile 2> "$tmp/srv.log" &
srv=$!; pids+=("$srv")
for _ in $(seq 100); do curl -s -m 1 "$S/user/get_all_status" | grep -q '"edge"' && break; sleep 0.1; done
cat > "$tmp/plan.json" <<'J'
{"video_conf": {"resolution": "360p", "nskip": 1}, "flow_mapping": {"object_detection": {"model_id": 0, "node_ip": "edge"}}}
J
job=$("$vdag" submit --server "$S" --node edge --video 0 --pipeline object_detection --plan "$tmp/plan.json" --place object_detection=cloud --model object_detection=1 --max-frames 3)
ok "submit --plan --place --model: a job" '[ -n "$job" ]'
for _ in $(seq 150); do "$vdag" results "$job" --server "$S" --json 2>/dev/null | grep -q '"DONE"' && break; sleep 0.2; done
ok "the plan run is the file's, with the stage placed and its model chosen" '"$vdag" results "$job" --server "$S" --json | py "j=json.load(sys.stdin); l=j[\"result\"][\"latest_result\"][\"plan\"]; m=l[\"flow_mapping\"][\"object_detection\"]; assert j[\"job\"][\"scheduler\"]==\"fixed\" and m[\"node\"]==\"cloud\" and m[\"model_id\"]==1 and m[\"node_role\"]==\"cloud\" and l[\"video_conf\"][\"nskip\"]==1 and l[\"video_conf\"][\"resolution\"]==\"360p\", l"'
"$vdag" submit --server "$S" --node edge --video 0 --pipeline object_detection --place object_detection=e9 > /dev/null 2> "$tmp/err"; rc=$?
ok "submit --place on an unknown node: the server says which (exit $rc)" '[ $rc -eq 1 ] && grep -q "flow_mapping.object_detection.node_ip: no node .e9." "$tmp/err"'
"$vdag" submit --server "$S" --node edge --video 0 --pipeline object_detection --model object_detection=7 > /dev/null 2> "$tmp/err"; rc=$?
ok "submit --model beyond the models: the server says which (exit $rc)" '[ $rc -eq 1 ] && grep -q "model_id: 7 is out of range" "$tmp/err"'
kill -TERM "$srv"; wait "$srv"

[ $fail -eq 0 ] || { echo "--- down.log"; cat "$tmp/down.log"; echo "--- srv.log"; tail -5 "$tmp/srv.log"; } >&2
finish
