#!/usr/bin/env bash
# GET /user/sync_job_result throughput (keep-alive) while a job runs.
#
#   bench/http.sh [PORT]        (VDAG=path/to/vdag, default build/vdag; RUNS=3; DURATION=10s)
#
# Starts `vdag run` (pseudo mode: all roles in one process) with Megamind.avi as video 1,
# looping, submits a face_detection,face_alignment job, waits until its results flow, then
# runs `wrk -t2 -c16 -d10s --latency` against the job's sync_job_result RUNS times and
# prints each run's Requests/sec and their median. The server is stopped (SIGTERM) at the
# end, or by the trap if anything fails.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VDAG=${VDAG:-$ROOT/build/vdag}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
TARGET=5000
PORT=${1:-}

die() {
    echo "bench/http.sh: $*" >&2
    exit 1
}
[[ -x $VDAG ]] || die "$VDAG is not built (make build, or set VDAG=)"
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v curl >/dev/null || die "curl is not installed"

free_port() {
    local p
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 30000))
        # nothing listening there: the connect fails
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}
if [[ -z $PORT ]]; then
    PORT=$(free_port) || die "no free port found"
fi
[[ $PORT =~ ^[0-9]+$ ]] || die "usage: bench/http.sh [PORT]"

TMP=$(mktemp -d /tmp/vdag-bench-http-XXXXXX)
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

BASE=http://127.0.0.1:$PORT
"$VDAG" run --listen "127.0.0.1:$PORT" --video 1=Megamind.avi --loop >"$TMP/server.log" 2>&1 &
SERVER_PID=$!

for i in $(seq 100); do
    curl -sf "$BASE/healthz" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP/server.log" >&2; die "vdag run exited"; }
    [[ $i == 100 ]] && { cat "$TMP/server.log" >&2; die "vdag run did not listen on $PORT"; }
    sleep 0.1
done

# the edge joins with its first heartbeat: retry until the cloud knows it
UID_=
for i in $(seq 50); do
    if UID_=$("$VDAG" submit --server "127.0.0.1:$PORT" --node edge --video 1 \
        --pipeline face_detection,face_alignment 2>"$TMP/submit.err"); then break; fi
    [[ $i == 50 ]] && { cat "$TMP/submit.err" >&2; die "submit failed"; }
    sleep 0.2
done
[[ -n $UID_ ]] || die "submit printed no job uid"
URL=$BASE/user/sync_job_result/$UID_

for i in $(seq 300); do
    if curl -sf "$URL" 2>/dev/null | grep -q '"cam_frame_id"'; then break; fi
    [[ $i == 300 ]] && { cat "$TMP/server.log" >&2; die "no results for job $UID_ after 30 s"; }
    sleep 0.1
done
BYTES=$(curl -sf "$URL" | wc -c)
echo "server pid $SERVER_PID on port $PORT, job $UID_, response $BYTES bytes"
echo "wrk -t2 -c16 -d$DURATION --latency $URL"

rates=()
for r in $(seq "$RUNS"); do
    wrk -t2 -c16 -d"$DURATION" --latency "$URL" >"$TMP/wrk.$r" 2>&1 || {
        cat "$TMP/wrk.$r" >&2
        die "wrk failed"
    }
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$TMP/wrk.$r")
    [[ -n $rps ]] || { cat "$TMP/wrk.$r" >&2; die "no Requests/sec in wrk's output"; }
    lat=$(awk '/^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {print "p50 " p50 ", p99 " p99}' "$TMP/wrk.$r")
    bad=$(awk '/Non-2xx|Socket errors/' "$TMP/wrk.$r")
    echo "run $r: Requests/sec $rps ($lat)${bad:+; $bad}"
    rates+=("$rps")
done

median=$(printf '%s\n' "${rates[@]}" | sort -g | awk '{v[NR]=$1} END {
    if (NR % 2) print v[(NR+1)/2]; else printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2 }')
if awk -v m="$median" -v t="$TARGET" 'BEGIN {exit !(m >= t)}'; then met=met; else met="NOT met"; fi
echo "median Requests/sec: $median (target >= $TARGET: $met)"
# the job was still running: results kept flowing during the runs
curl -sf "$URL" | grep -q '"cam_frame_id"' || echo "warning: the job had no results at the end" >&2
