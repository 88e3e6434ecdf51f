#!/usr/bin/env bash
# The scheduler evaluation harness (bench/eval_sched.sh), briefly: two schedulers through a
# 3-step schedule (20 -> 2 -> 20 Mbit/s, 4 s each) between an edge and a cloud in two network
# namespaces, on a small knowledge base profiled here once. Checks that the outputs are
# well-formed, never how fast anything was: a table row per scheduler (and the oracle's),
# a valid PNG, frames processed on both sides of each step, every frame's plan and score in
# the CSVs, and the step throttled the link (`fixed` runs its stage on the cloud: its uplink
# bytes/s in the 2 Mbit/s step are below that rate, and below those of the step before).
# Needs root and `ip netns` (skipped otherwise: exit 77).
vdag=$1
. "$(dirname "$0")/lib.sh"
bench=$(cd "$(dirname "$0")/../bench" && pwd)
. "$bench/netns.sh"
if ! why=$(netns_check 2>&1); then
  echo "SKIP: test_eval_sched $why"
  exit 77
fi
[ -d /sys/fs/cgroup/cpu ] || { echo "SKIP: test_eval_sched needs cgroup v1 cpu"; exit 77; }

# a small kb of object_detection, profiled once and kept in the cache (--if-missing: made
# again when vdag's format moves on)
kb=$cache/eval/kb-test-object_detection.json
mkdir -p "$cache/eval"
"$vdag" profile --out "$kb" --if-missing --service object_detection --frames 6 --budget 1 \
  > "$tmp/profile.log" 2>&1
ok "small kb profiled" '[ -s "$kb" ]'

out=$tmp/run
ns=vt$$ # its own names and subnet: a benchmark or another suite may run the harness too
subnet=10.79.$(($$ % 250))
NS=$ns SUBNET=$subnet KB=$kb OUT=$out SCHEDULERS="fixed kb" \
  SCHEDULE="20:4 2:4 20:4" DELAY=0.3 EDGE_CPU=50 GOLDEN_NSKIP=9 ORACLE_FRAMES=10 VDAG_CACHE=$cache \
  timeout 300 bash "$bench/eval_sched.sh" "$vdag" > "$tmp/table.md" 2> "$tmp/harness.log"
rc=$?
ok "harness exit 0" '[ $rc -eq 0 ] || { tail -20 "$tmp/harness.log" >&2; false; }'
ok "table: a row per scheduler and the oracle" \
  '( for s in fixed kb oracle; do grep -q "^| $s | " "$tmp/table.md" || exit 1; done )'
ok "PNG valid" 'py "
d=open(\"$out/run.png\",\"rb\").read()
assert d[:8]==b\"\\x89PNG\\r\\n\\x1a\\n\" and d[12:16]==b\"IHDR\" and len(d)>5000
import struct; w,h=struct.unpack(\">II\",d[16:24]); assert w>=800 and h>=400"'
ok "frames on both sides of every step, within each run" 'py "
import json
for s in [\"fixed\", \"kb\"]:
    r = json.load(open(\"$out/summary.json\"))[s]
    assert len(r[\"steps\"]) == 3, r[\"steps\"]
    assert all(st[\"frames\"] >= 1 for st in r[\"steps\"]), (s, r[\"steps\"])"'
ok "the 2 Mbit/s step throttled the uplink" 'py "
import json
st = json.load(open(\"$out/summary.json\"))[\"fixed\"][\"steps\"]
a, b = st[0][\"uplink_Bps\"], st[1][\"uplink_Bps\"]
assert b < 2e6 / 8 * 1.1 and b < a, (a, b)"'
ok "per-frame CSV: delay, plan, bytes, score" 'py "
import csv
rows = list(csv.DictReader(open(\"$out/kb/frames.csv\")))
assert rows and all(r[\"resolution\"] and r[\"placement\"] and float(r[\"delay\"]) >= 0 for r in rows)
assert any(r[\"score\"] for r in rows)"'
ok "scores in 0..1 and an oracle plan per step" 'py "
import json
s = json.load(open(\"$out/summary.json\"))
assert all(0 <= s[k][\"f1\"] <= 1 for k in (\"fixed\", \"kb\"))
assert len(s[\"oracle\"][\"steps\"]) == 3 and 0 <= s[\"oracle\"][\"f1\"] <= 1"'
ok "plan changes with reasons" 'py "
import json
ch = json.load(open(\"$out/summary.json\"))[\"kb\"][\"changes\"]
assert ch and all(c[\"why\"] for c in ch)"'
ok "namespaces removed" '! ip netns list | grep -q "^$ns-"'
ok "no node left running" '! pgrep -f "listen $subnet\." > /dev/null'
finish
