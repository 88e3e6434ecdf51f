#!/usr/bin/env bash
# Fuzz every harness (tests/fuzz/fuzz_*.c) for a bounded time each: `make fuzz` (60 s each),
# `.ci/run` (briefly). Usage: scripts/fuzz.sh [SECONDS] [HARNESS ...] (HARNESS: dag, plan,
# model, routes, http, msg, jpeg, cascade, events; default all).
# Builds them with clang (-fsanitize=fuzzer,address,undefined) in $FUZZ_BUILD (build-fuzz);
# each grows a working corpus in $FUZZ_BUILD/corpus/<harness> from its seeds in
# tests/fuzz/<harness>/ (the repository's copy is left alone) and writes what it finds to
# $FUZZ_BUILD/artifacts/<harness>/. Prints one line per harness with its exec count; exits 1
# when any found a crash, a leak, an UB report or an out-of-memory. A found input belongs in
# tests/fuzz/<harness>/ as crash-<what>, once fixed: every build replays those (CTest).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
harnesses=${*:-dag plan model routes http msg jpeg cascade events}
build=${FUZZ_BUILD:-$here/build-fuzz}
jobs=$(nproc 2>/dev/null || echo 2)
command -v clang >/dev/null || { echo "fuzz: clang is missing (scripts/setup.sh installs it)" >&2; exit 1; }
cmake -S "$here" -B "$build" -DCMAKE_C_COMPILER=clang -DVDAG_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_C_FLAGS_DEBUG="-O1 -g" >/dev/null || exit 1
targets=""
for h in $harnesses; do targets="$targets fuzz_$h"; done
cmake --build "$build" -j"$jobs" --target $targets >/dev/null || exit 1
# an allocation that fails is the code's to handle (it reports VD_ENOMEM), not a crash
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export LSAN_OPTIONS=suppressions=$here/tests/lsan.supp
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for h in $harnesses; do
  corpus=$build/corpus/$h art=$build/artifacts/$h
  mkdir -p "$corpus" "$art"
  log=$build/fuzz_$h.log
  # -malloc_limit_mb (= rss_limit_mb): an allocation over 2 GB is a finding before it happens.
  # The model loader caps activations (vd_nn_set_max_arena, 1 GiB), which fixed the
  # out-of-memory inputs found before (now in tests/fuzz/model/); that harness still runs in
  # fork mode so that a new kind of out-of-memory input is counted, kept and reported
  # ("ooms" below) without ending the run; anything else is fatal.
  fork=()
  [ "$h" = model ] && fork=(-fork=1 -ignore_ooms=1)
  "$build/fuzz_$h" "${fork[@]}" -max_total_time="$secs" -max_len=65536 -timeout=20 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" "$corpus" \
    "$here/tests/fuzz/$h" > "$log" 2>&1
  rc=$?
  if [ ${#fork[@]} -gt 0 ]; then # the parent's last status line: "#N ... exec/s"
    execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  else
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  fi
  ooms=$(ls "$art" 2>/dev/null | grep -c '^oom-')
  found=$(ls "$art" 2>/dev/null | grep -vc '^oom-')
  [ ${#fork[@]} -gt 0 ] || found=$((found + ooms))
  printf 'fuzz_%-7s %10s execs in %s s, corpus %s inputs, %s found%s%s\n' "$h" "${execs:-?}" \
    "$secs" "$(ls "$corpus" | wc -l)" "$found" \
    "$([ ${#fork[@]} -gt 0 ] && [ "$ooms" -gt 0 ] && echo ", $ooms out-of-memory (known, nn)")" \
    "$([ $rc -ne 0 ] && echo " (exit $rc: see $log)")"
  [ $rc -eq 0 ] && [ "$found" -eq 0 ] || status=1
done
exit $status
