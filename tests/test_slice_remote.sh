#!/usr/bin/env bash
# Remote part B over NATS between two vdag processes: `vdag slice serve` hosts part B of
# blazeface-back; `vdag slice call` runs part A at every cut, sends the f32 tensor, and the
# host's outputs equal a local whole run bit for bit ("exact"), from a JPEG too; i8 travels
# in a quarter of the bytes; a model nobody serves is an error, not a hang.
vdag=$1
. "$(dirname "$0")/lib.sh"

np=$(freeport)
TMPDIR=$tmp bg "$vdag" nats-server --port "$np" > "$tmp/nats.url" 2> "$tmp/nats.log"
for _ in $(seq 100); do [ -s "$tmp/nats.url" ] && break; sleep 0.1; done
url=nats://127.0.0.1:$np
bg "$vdag" slice serve blazeface-back --nats "$url" --name c1 2> "$tmp/serve.log"
for _ in $(seq 200); do grep -q ready "$tmp/serve.log" && break; sleep 0.1; done
ok "host ready" 'grep -q "part B for 32 cuts as node c1: ready" "$tmp/serve.log"'

out=$("$vdag" slice call blazeface-back --nats "$url" --node c1 --frames 1 --cut all 2> "$tmp/call.err")
ok "34 candidates" '[ "$(echo "$out" | wc -l)" = 34 ]'
ok "every cut and the JPEG exact over the wire" '[ "$(echo "$out" | grep -c "\"exact\":true")" = 33 ]'
ok "edge, cloud, cut lines" 'echo "$out" | py "
ls=[json.loads(l) for l in sys.stdin]
assert ls[0][\"kind\"]==\"cloud\" and ls[0][\"format\"]==\"jpeg\" and ls[0][\"bytes\"]>1000
assert ls[1][\"kind\"]==\"edge\" and ls[1][\"bytes\"]==0
assert all(l[\"kind\"]==\"cut\" and l[\"host_ms\"]>0 and l[\"median_ms\"]>0 for l in ls[2:])"'
f32=$(echo "$out" | py "print([json.loads(l)['bytes'] for l in sys.stdin][12])")
i8=$("$vdag" slice call blazeface-back --nats "$url" --frames 1 --cut 10 --format i8 | py "print(json.load(sys.stdin)['bytes'])")
ok "i8 about a quarter of f32" 'py "assert abs($i8/$f32-0.25)<0.01"'
start=$(date +%s)
"$vdag" slice call nanodet --nats "$url" --frames 1 --cut 0 --timeout 2000 > /dev/null 2> "$tmp/none.err"; rc=$?
ok "a model nobody serves: exit 1" '[ $rc -eq 1 ]'
ok "… within the retries, with a message" '[ $(( $(date +%s) - start )) -lt 60 ] && [ -s "$tmp/none.err" ]'
finish
