# Shared helpers for the shell tests (tests/test_*.sh), sourced after `vdag=$1`.
#
#   cache          the model/media cache ($VDAG_CACHE, default ~/.cache/vdag)
#   tmp            a temp dir, removed at exit
#   bg CMD...      start CMD in the background and remember it; its pid is in $bg_pid.
#                  Every background process (bg or plain &) is killed at exit, whatever the
#                  way out (a failed check, `exit 1`, a signal).
#   ok NAME EXPR   count a check: EXPR is eval'd; failures are printed with NAME
#   py CODE        python3 with json and sys imported, reading stdin
#   freeport       an unused TCP port on 127.0.0.1
#   finish         print the tally and exit 0 only if every check passed
cache=${VDAG_CACHE:-$HOME/.cache/vdag}
tmp=$(mktemp -d)
pids=()
pass=0 fail=0

vd_cleanup() {
  local p
  for p in "${pids[@]}" $(jobs -p); do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap vd_cleanup EXIT
trap 'exit 130' INT TERM

bg() {
  "$@" &
  bg_pid=$!
  pids+=("$bg_pid")
}
ok() { if eval "$2"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1" >&2; fi; }
py() { python3 -c "import json,sys; $1"; }
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit
}
