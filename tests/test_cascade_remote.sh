#!/usr/bin/env bash
# Cascades as a DAG stage: `vdag run` with object_detection's cascade model (2) in one process
# and with its unit 1 a `vdag cascade serve` worker on a private nats-server; every result says
# which unit answered; a worker that stops answering (SIGSTOP) or is killed is reported, not
# waited on (an error naming unit 1 and the timeout, or with --cascade-fallback the edge's own
# answers).
vdag=$1
. "$(dirname "$0")/lib.sh"
video=$cache/media/Megamind.avi

out=$("$vdag" run --video "$video" --pipeline object_detection --model object_detection=2 \
  --frames 6 --threads 1 --quiet --results "$tmp/r.jsonl" 2> "$tmp/run.err")
ok "in one process: runs" '[ $? -eq 0 ] && [ "$(wc -l < "$tmp/r.jsonl")" = 6 ]'
ok "…each result names its unit, the summary counts them" 'echo "$out" | py "
s=json.load(sys.stdin)[\"stages\"][\"object_detection\"]
assert sum(s[\"answered_by_unit\"])==6 and s[\"fallbacks\"]==0, s" && py "
for l in open(\"$tmp/r.jsonl\"):
    a=json.loads(l)[\"stages\"][\"object_detection\"][\"cascade\"]
    assert a[\"model\"]==[\"nanodet\",\"centernet\"][a[\"unit\"]] and a[\"confident\"], a
    assert (a[\"bytes\"]>0)==(a[\"unit\"]==1), a" < /dev/null'
"$vdag" run --video "$video" --pipeline object_detection --model object_detection=2 \
  --exit object_detection=0.2..0.2 --frames 4 --threads 1 --quiet > "$tmp/empty.json" 2>&1
ok "an empty band: every frame exits at the edge" 'py "
s=json.load(open(\"$tmp/empty.json\"))[\"stages\"][\"object_detection\"]
assert s[\"answered_by_unit\"]==[4], s" < /dev/null'
"$vdag" run --video "$video" --pipeline object_detection --exit object_detection=0.5..0.2 \
  --frames 1 > /dev/null 2> "$tmp/bad.err"
ok "a bad band is a usage error" '[ $? -eq 2 ] && grep -q "LO..HI" "$tmp/bad.err"'

np=$(freeport)
TMPDIR=$tmp bg "$vdag" nats-server --port "$np" > "$tmp/nats.url" 2> "$tmp/nats.log"
for _ in $(seq 100); do [ -s "$tmp/nats.url" ] && break; sleep 0.1; done
url=nats://127.0.0.1:$np
bg "$vdag" cascade serve object_detection centernet --nats "$url" --name c1 --workers 2 \
  2> "$tmp/serve.log"
wpid=$bg_pid
for _ in $(seq 300); do grep -q ready "$tmp/serve.log" && break; sleep 0.1; done
ok "two workers ready" 'grep -q "centernet: 2 workers as c1-w\*: ready" "$tmp/serve.log"'
out=$("$vdag" run --video "$video" --pipeline object_detection --model object_detection=2 \
  --nats "$url" --frames 6 --threads 1 --quiet --results "$tmp/n.jsonl" 2> "$tmp/nrun.err")
ok "over NATS: the same units answer" '[ $? -eq 0 ] && py "
a=[json.loads(l)[\"stages\"][\"object_detection\"][\"cascade\"] for l in open(\"$tmp/r.jsonl\")]
b=[json.loads(l)[\"stages\"][\"object_detection\"][\"cascade\"] for l in open(\"$tmp/n.jsonl\")]
assert [x[\"unit\"] for x in a]==[x[\"unit\"] for x in b], (a, b)
assert all(x[\"node\"] in (\"c1-w0\",\"c1-w1\") for x in b if x[\"unit\"]==1), b
assert any(x[\"unit\"]==1 for x in b)" < /dev/null'

kill -STOP "$wpid"
"$vdag" run --video "$video" --pipeline object_detection --model object_detection=2 \
  --nats "$url" --cascade-timeout 2000 --frames 6 --threads 1 --quiet > /dev/null \
  2> "$tmp/stop.err"
rc=$?
ok "a stopped unit: exit 1, naming unit 1 and the timeout" \
  '[ $rc -eq 1 ] && grep -q "unit 1 (centernet)" "$tmp/stop.err" && grep -qi "time" "$tmp/stop.err"'
"$vdag" run --video "$video" --pipeline object_detection --model object_detection=2 \
  --nats "$url" --cascade-timeout 1000 --frames 3 --threads 1 --quiet --cascade-fallback \
  > "$tmp/fb.json" 2>&1
ok "with --cascade-fallback: the edge's answers, counted" '[ $? -eq 0 ] && py "
s=json.load(open(\"$tmp/fb.json\"))[\"stages\"][\"object_detection\"]
assert s[\"answered_by_unit\"][0]==3 and s[\"fallbacks\"]>=1, s" < /dev/null'
kill -9 "$wpid"
"$vdag" run --video "$video" --pipeline object_detection --model object_detection=2 \
  --nats "$url" --frames 6 --threads 1 --quiet > /dev/null 2> "$tmp/kill.err"
ok "a killed unit: nobody serves it" '[ $? -eq 1 ] && grep -q "unit 1 (centernet)" "$tmp/kill.err"'
finish
