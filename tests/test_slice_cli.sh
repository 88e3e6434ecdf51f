#!/usr/bin/env bash
# vdag slice: the table of cuts and the choice (JSON checked: the choice is the lowest
# predicted latency; a slow link gives edge-only, a fast one with a slow edge does not;
# f16 and i8 messages are smaller), and usage errors.
vdag=$1
. "$(dirname "$0")/lib.sh"

j=$("$vdag" slice blazeface-back --runs 2 --json)
ok "json parses, 32 cuts + edge + cloud" '[ "$(echo "$j" | py "d=json.load(sys.stdin); print(len(d[\"candidates\"]))")" = 34 ]'
ok "the choice is the lowest total" 'echo "$j" | py "d=json.load(sys.stdin); c=d[\"candidates\"]; assert d[\"choice\"]==min(range(len(c)),key=lambda i:(c[i][\"total_ms\"],i))"'
ok "edge first, cloud (JPEG) last" 'echo "$j" | py "d=json.load(sys.stdin); c=d[\"candidates\"]; assert c[0][\"kind\"]==\"edge\" and c[-1][\"kind\"]==\"cloud\" and d[\"jpeg\"][\"bytes\"]>1000"'
ok "a cut costs A + net + B" 'echo "$j" | py "d=json.load(sys.stdin); x=d[\"candidates\"][5]; assert abs(x[\"edge_ms\"]+x[\"net_ms\"]+x[\"cloud_ms\"]-x[\"total_ms\"])<1e-3 and x[\"net_ms\"]>=20"'
slow=$("$vdag" slice blazeface-back --runs 1 --bandwidth 10kbit --json)
ok "slow link: edge-only" 'echo "$slow" | py "d=json.load(sys.stdin); assert d[\"candidates\"][d[\"choice\"]][\"kind\"]==\"edge\""'
fast=$("$vdag" slice blazeface-back --runs 1 --bandwidth 100gbit --rtt 0.1ms --edge-speed 0.001 --json)
ok "fast link, slow edge: not edge-only" 'echo "$fast" | py "d=json.load(sys.stdin); assert d[\"candidates\"][d[\"choice\"]][\"kind\"]!=\"edge\""'
h=$("$vdag" slice blazeface-back --runs 1 --format f16 --json)
q=$("$vdag" slice blazeface-back --runs 1 --format i8 --json)
b32=$(echo "$j" | py "print(json.load(sys.stdin)['candidates'][1]['bytes'])")
b16=$(echo "$h" | py "print(json.load(sys.stdin)['candidates'][1]['bytes'])")
b8=$(echo "$q" | py "print(json.load(sys.stdin)['candidates'][1]['bytes'])")
ok "f16 about half of f32, i8 about a quarter" 'py "assert abs($b16/$b32-0.5)<0.01 and abs($b8/$b32-0.25)<0.01"'
t=$("$vdag" slice nanodet --runs 1 --bandwidth 5mbit)
ok "table and verdict" 'echo "$t" | grep -q "^choice: " && echo "$t" | grep -q "<- choice" && echo "$t" | grep -q "cloud-only: JPEG"'
"$vdag" slice blazeface-back --bandwidth 10parsec >/dev/null 2>&1; rc=$?
ok "bad bandwidth: usage" '[ $rc -eq 2 ]'
"$vdag" slice blazeface-back --format f64 >/dev/null 2>&1; rc=$?
ok "bad format: usage" '[ $rc -eq 2 ]'
e=$("$vdag" slice /nonexistent/model.json 2>&1 >/dev/null); rc=$?
ok "missing model: exit 1 naming it" '[ $rc -eq 1 ] && echo "$e" | grep -q /nonexistent/model.json'
finish
