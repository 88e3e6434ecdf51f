#!/usr/bin/env bash
# Issue 15's fault figures: recovery time and results lost for each fault, on a real
# nats-server with its JetStream store in a directory, a cloud and two edges.
#   host:   kill -9 of e2 while it serves job A's face_alignment stage (A runs on e1);
#   edge:   kill -9 of e1, the edge running job A, restarted at once (same name);
#   broker, cloud, two clouds: tests/test_durable.sh's figures (its "figure:" lines);
#   hung node: tests/test_remote_hang.sh's figures (SIGSTOP 2 s of a stage's node).
# "Recovery" is from the fault (for the edge: from its restart) to the cloud's frame count
# rising again; "agree" is until the plan names where the stage really runs (host). Results
# lost: what the edge stored on the bus against what the cloud counted (node.get_runtime
# against results.frames, as test_durable does), and the cloud's own count of gaps.
# Prints markdown. Usage: bench/faults.sh [build/vdag] [RUNS]. Not a test: nothing fails.
set -uo pipefail
vdag=$(readlink -f "${1:-build/vdag}")
RUNS=${2:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/tests/lib.sh"
now_ms() { echo $(($(date +%s%N) / 1000000)); }

one_run() { # prints "host_recovery host_agree host_lost edge_recovery edge_lost" (ms, counts)
  local np cp e1p e2p URL C E1 nats_pid cloud e1 e2 job v
  np=$(freeport) cp=$(freeport) e1p=$(freeport) e2p=$(freeport)
  URL=nats://127.0.0.1:$np C=http://127.0.0.1:$cp E1=http://127.0.0.1:$e1p
  local d=$tmp/run$1
  mkdir -p "$d"
  "$vdag" nats-server --port "$np" --store "$d/store" > "$d/nats.url" 2> "$d/nats.log" &
  nats_pid=$!; pids+=("$nats_pid")
  for _ in $(seq 150); do [ -s "$d/nats.url" ] && break; sleep 0.1; done
  "$vdag" cloud --listen 127.0.0.1:$cp --nats "$URL" --replan 1 --no-profile 2> "$d/cloud.log" &
  cloud=$!; pids+=("$cloud")
  start_e1() {
    "$vdag" edge --name e1 --listen 127.0.0.1:$e1p --nats "$URL" --video 0=Megamind.avi=faces \
      --loop --threads 1 --no-profile 2>> "$d/e1.log" &
    e1=$!; pids+=("$e1")
  }
  start_e2() {
    "$vdag" edge --name e2 --listen 127.0.0.1:$e2p --nats "$URL" --threads 1 --no-profile \
      2>> "$d/e2.log" &
    e2=$!; pids+=("$e2")
  }
  start_e1
  start_e2
  st() { curl -s -m 5 "$C/user/get_all_status"; }
  for _ in $(seq 150); do st | py "j=json.load(sys.stdin); assert {'e1','e2'}<=set(j['data'])" 2>/dev/null && break; sleep 0.1; done
  local plan='{"video_conf":{"resolution":"360p","nskip":4},"flow_mapping":{"face_detection":{"model_id":0,"node_ip":"e1","node_role":"host"},"face_alignment":{"model_id":0,"node_ip":"e2","node_role":"edge"}}}'
  job=$(curl -s -m 5 -X POST "$C/query/submit_query" -H 'Content-Type: application/json' \
    -d "{\"node_addr\":\"e1\",\"video_id\":0,\"pipeline\":[\"face_detection\",\"face_alignment\"],\"scheduler\":\"feedback\",\"plan\":$plan,\"user_constraint\":{\"delay\":1}}" |
    py 'print(json.load(sys.stdin)["job_uid"])')
  res() { curl -s -m 5 "$C/user/sync_job_result/$job"; }
  frames() { res | py 'print(json.load(sys.stdin)["job"]["results"]["frames"])' 2>/dev/null || echo 0; }
  placed() { res | py 'print(json.load(sys.stdin)["result"]["latest_result"]["plan"]["flow_mapping"]["face_alignment"]["node_ip"])' 2>/dev/null; }
  for _ in $(seq 300); do [ "$(frames)" -ge 20 ] && break; sleep 0.1; done
  sleep 1
  # host: kill -9 e2, which serves the stage
  local f0 t0 t_flow t_agree f
  f0=$(frames)
  kill -9 "$e2"; wait "$e2" 2>/dev/null
  t0=$(now_ms)
  t_flow=""
  for _ in $(seq 400); do
    f=$(frames)
    [ -z "$t_flow" ] && [ "$f" -gt "$f0" ] && t_flow=$(now_ms)
    [ "$(placed)" = e1 ] && break
    sleep 0.05
  done
  t_agree=$(now_ms)
  local host_rec=$((${t_flow:-$t_agree} - t0)) host_agree=$((t_agree - t0))
  start_e2
  sleep 3
  # edge: kill -9 e1 and start it again at once
  rt() { curl -s -m 5 "$E1/job/get_runtime/$job"; }
  local pub1 f1 t1
  pub1=$(rt | py 'print(json.load(sys.stdin)["results"]["published"])' 2>/dev/null || echo 0)
  f1=$(frames)
  kill -9 "$e1"; wait "$e1" 2>/dev/null
  start_e1
  t1=$(now_ms)
  for _ in $(seq 600); do [ "$(frames)" -gt "$f1" ] && break; sleep 0.05; done
  local edge_rec=$(($(now_ms) - t1))
  sleep 2
  # the end: stop; the edge's second run against what the cloud counted
  local live
  live=$(rt | tee "$d/rt_live.json" | py 'print(json.load(sys.stdin)["results"]["published"])' 2>/dev/null || echo 0)
  "$vdag" stop "$job" --server "$C" > /dev/null 2>&1
  for _ in $(seq 100); do rt | py "r=json.load(sys.stdin)['results']; assert r['waiting']==0" 2>/dev/null && break; sleep 0.1; done
  local pub2 miss got lost
  pub2=$(rt | tee "$d/rt_end.json" | py 'print(json.load(sys.stdin)["results"]["published"])' 2>/dev/null || echo "$live")
  lost=$(rt | py 'print(json.load(sys.stdin)["results"]["lost"])' 2>/dev/null || echo 0)
  sleep 1
  got=$(frames)
  miss=$(res | py 'print(json.load(sys.stdin)["job"]["results"]["missing"])' 2>/dev/null || echo -1)
  echo "$host_rec $host_agree $edge_rec $f1 $pub1 $pub2 $got $miss $lost"
  kill -TERM "$e1" "$e2" "$cloud" 2>/dev/null
  wait "$e1" "$e2" "$cloud" 2>/dev/null
  kill -TERM "$nats_pid"; wait "$nats_pid" 2>/dev/null
}

"$vdag" profile --if-missing > /dev/null || exit 1
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
echo
echo "### host and edge faults ($RUNS runs)"
echo
echo "| run | host kill -9: results again (ms) | plan names e1 (ms) | edge kill -9 + restart: results again (ms) | cloud count before the edge kill | edge runs' stored (before kill / after restart) | cloud counted | gaps the cloud saw | edge lost |"
echo "|---:|---:|---:|---:|---:|---|---:|---:|---:|"
for r in $(seq "$RUNS"); do
  read -r hr ha er f1 p1 p2 got miss lost <<< "$(one_run "$r")"
  echo "| $r | $hr | $ha | $er | $f1 | $p1 / $p2 | $got | $miss | $lost |"
done
echo
echo "### broker, cloud, two clouds (tests/test_durable.sh) and a hung node (tests/test_remote_hang.sh)"
echo
for r in $(seq "$RUNS"); do
  bash "$here/tests/test_durable.sh" "$vdag" 2>&1 | grep '^figure:' | sed "s/^/run $r: /"
  bash "$here/tests/test_remote_hang.sh" "$vdag" 2>&1 | grep '^figures:' | sed "s/^/run $r: hung node /"
done
