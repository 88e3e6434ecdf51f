#!/usr/bin/env bash
# vdag nn run / bench models from the command line: output names and order, JSON shape,
# and clear errors with a non-zero exit.
vdag=$1
. "$(dirname "$0")/lib.sh"

out=$("$vdag" nn run blazeface-back --json)
ok "blazeface-back output order" '[ "$(echo "$out" | grep -o "\"name\":\"[^\"]*\"" | tr "\n" " ")" = "\"name\":\"Identity_3:0\" \"name\":\"Identity:0\" \"name\":\"Identity_1:0\" \"name\":\"Identity_2:0\" " ]'
ok "json has sums" 'echo "$out" | grep -q "\"sum_abs\":"'
ok "first has 8 values" '[ "$(echo "$out" | grep -o "\"first\":\[[^]]*\]" | head -1 | tr -cd , | wc -c)" = 7 ]'
err=$("$vdag" nn run /nonexistent/model.json 2>&1 >/dev/null); rc=$?
ok "missing model exits non-zero" '[ $rc -ne 0 ]'
ok "missing model message names the path" 'echo "$err" | grep -q "/nonexistent/model.json"'
"$vdag" nn run blazeface-back --input bogus:1 >/dev/null 2>&1; rc=$?
ok "bad --input exits non-zero" '[ $rc -ne 0 ]'
b=$("$vdag" bench models --models blazeface-front --runs 3 --warmup 1 --threads 1 --json)
ok "bench json line" 'echo "$b" | grep -q "\"model\":\"blazeface-front\",\"threads\":1,\"runs\":3,\"median_ms\":"'
ok "bench gflops" 'echo "$b" | grep -q "\"gflops\":"'
"$vdag" bench models --models nosuchmodel --runs 1 >/dev/null 2>&1; rc=$?
ok "bench unknown model exits non-zero" '[ $rc -ne 0 ]'
finish
