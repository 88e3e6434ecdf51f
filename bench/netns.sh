# bench/netns.sh: "machines" on one box for the benchmarks and the harness tests — network
# namespaces, veth pairs, `tc tbf` rate limits and cgroup v1 CPU caps. Sourced (not run) by
# bench/slice.sh, bench/batch.sh and bench/eval_sched.sh:
#
#   . "$(dirname "$0")/netns.sh"
#   netns_check || exit 1                       # root, ip netns, tc (says which is missing)
#   netns_add vde-edge vde-cloud                # namespaces, loopback up
#   netns_veth vde-edge vde-e 10.78.0.1 vde-cloud vde-c 10.78.0.2   # a veth pair, /24, up
#   netns_tbf vde-edge vde-e 5                  # 5 Mbit/s out of vde-e (replaces any qdisc)
#   netns_cpu_cap vde-edge 50                   # cgroup cpu/vde-edge: 50 % of a core
#   netns_run vde-edge vde-edge 0 CMD...        # CMD in the namespace, on core 0, in the cgroup
#   trap 'stop my pids; netns_cleanup' EXIT     # removes everything the calls above made
#
# An empty namespace name means the root namespace (netns_veth "" …: one end stays here).
# Everything made is recorded and netns_cleanup removes it; it is safe to call twice.
# Not thread-safe (shell state); needs root, iproute2 and, for netns_cpu_cap, cgroup v1's
# cpu controller at /sys/fs/cgroup/cpu.

NETNS_MADE=()   # namespaces made by netns_add
NETNS_LINKS=()  # root-namespace ends of veths (a namespace's own go with it)
NETNS_CGROUPS=() # cgroup directories made by netns_cpu_cap
NETNS_CG_ROOT=${NETNS_CG_ROOT:-/sys/fs/cgroup/cpu}

# netns_check: 0 when the functions below can work here, else 1 with the reason on stderr.
netns_check() {
  if [ "$(id -u)" != 0 ]; then
    echo "needs root (ip netns, tc, cgroup)" >&2
    return 1
  fi
  if ! command -v ip > /dev/null || ! ip netns list > /dev/null 2>&1; then
    echo "needs iproute2 with 'ip netns'" >&2
    return 1
  fi
  if ! command -v tc > /dev/null; then
    echo "needs tc (iproute2)" >&2
    return 1
  fi
  return 0
}

# netns_add NAME...: new namespaces (an old one of the same name, left by a killed run, is
# replaced), each with its loopback up.
netns_add() {
  local n
  for n in "$@"; do
    ip netns del "$n" 2> /dev/null || true
    ip netns add "$n"
    NETNS_MADE+=("$n")
    ip -n "$n" link set lo up
  done
}

# _netns_ip NS ARGS...: `ip` in namespace NS ("" = here)
_netns_ip() {
  local ns=$1
  shift
  if [ -n "$ns" ]; then ip -n "$ns" "$@"; else ip "$@"; fi
}

# netns_veth NS_A IF_A IP_A NS_B IF_B IP_B: a veth pair IF_A (in NS_A, address IP_A/24) <->
# IF_B (in NS_B, IP_B/24), both up.
netns_veth() {
  local na=$1 ia=$2 aa=$3 nb=$4 ib=$5 ab=$6
  ip link del "$ia" 2> /dev/null || true
  ip link add "$ia" type veth peer name "$ib"
  [ -n "$na" ] && ip link set "$ia" netns "$na"
  [ -n "$nb" ] && ip link set "$ib" netns "$nb"
  [ -z "$na" ] && NETNS_LINKS+=("$ia")
  [ -z "$nb" ] && NETNS_LINKS+=("$ib")
  _netns_ip "$na" addr add "$aa/24" dev "$ia"
  _netns_ip "$nb" addr add "$ab/24" dev "$ib"
  _netns_ip "$na" link set "$ia" up
  _netns_ip "$nb" link set "$ib" up
}

# netns_tbf NS IF MBIT: limit what leaves IF to MBIT Mbit/s with a token bucket (tc tbf). The
# bucket holds 1 ms of the rate, at least two full packets: a larger one would let a whole
# frame through at the veth's speed. Queued packets wait up to 400 ms.
netns_tbf() {
  local ns=$1 dev=$2 r=$3 burst
  burst=$(awk -v r="$r" 'BEGIN { b = int(r * 125); print (b > 3028 ? b : 3028) }')
  if [ -n "$ns" ]; then
    tc -n "$ns" qdisc replace dev "$dev" root tbf rate "${r}mbit" burst "$burst" latency 400ms
  else
    tc qdisc replace dev "$dev" root tbf rate "${r}mbit" burst "$burst" latency 400ms
  fi
}

# netns_cpu_cap NAME PCT: cgroup $NETNS_CG_ROOT/NAME capped to PCT % of one core (0: no cap,
# no cgroup). A short period (4 ms at 25 %), so that one inference of a few ms is slowed down
# too, not only the duty cycle over 100 ms; the quota must be >= 1 ms.
netns_cpu_cap() {
  local name=$1 pct=$2 cg=$NETNS_CG_ROOT/$1 period
  [ "$pct" -gt 0 ] || return 0
  if [ ! -d "$NETNS_CG_ROOT" ]; then
    echo "netns_cpu_cap: no cgroup v1 cpu controller at $NETNS_CG_ROOT" >&2
    return 1
  fi
  mkdir -p "$cg"
  NETNS_CGROUPS+=("$cg")
  period=$(((100000 + pct - 1) / pct))
  [ "$period" -lt 4000 ] && period=4000
  echo "$period" > "$cg/cpu.cfs_period_us"
  echo $((period * pct / 100)) > "$cg/cpu.cfs_quota_us"
}

# netns_run NS CGROUP CPUS CMD...: exec CMD in namespace NS ("" = here), pinned to CPUS
# (taskset list; "" = any) and in cgroup CGROUP of netns_cpu_cap ("" or one never made: none).
# It execs (ip netns exec, taskset and sh all exec too), so the shell that runs it becomes
# CMD: start it as `netns_run … &` ($! is then CMD's pid) or in a subshell, `( netns_run … )`
# or $(netns_run …), never plainly in the script's own shell.
netns_run() {
  local ns=$1 cg=/nonexistent cpus=$3
  [ -n "$2" ] && cg=$NETNS_CG_ROOT/$2
  shift 3
  local pre=()
  [ -n "$ns" ] && pre=(ip netns exec "$ns")
  [ -n "$cpus" ] && pre+=(taskset -c "$cpus")
  exec "${pre[@]}" sh -c '[ -d "$0" ] && echo $$ > "$0/tasks"; exec "$@"' "$cg" "$@"
}

# netns_tx_bytes NS IF: bytes sent so far by IF in NS (its kernel counter)
netns_tx_bytes() {
  ip netns exec "$1" cat "/sys/class/net/$2/statistics/tx_bytes"
}

# netns_cleanup: stop what still runs in the namespaces made above (SIGTERM, SIGKILL after
# 5 s; `ip netns pids` names them), then remove the namespaces, root-namespace veths and
# cgroups.
netns_cleanup() {
  local x p left
  for x in "${NETNS_MADE[@]}"; do
    for p in $(ip netns pids "$x" 2> /dev/null); do kill -TERM "$p" 2> /dev/null || true; done
  done
  for _ in $(seq 50); do
    left=
    for x in "${NETNS_MADE[@]}"; do left+=$(ip netns pids "$x" 2> /dev/null); done
    [ -z "$left" ] && break
    sleep 0.1
  done
  for x in "${NETNS_MADE[@]}"; do
    for p in $(ip netns pids "$x" 2> /dev/null); do kill -KILL "$p" 2> /dev/null || true; done
  done
  for x in "${NETNS_LINKS[@]}"; do ip link del "$x" 2> /dev/null || true; done
  for x in "${NETNS_MADE[@]}"; do ip netns del "$x" 2> /dev/null || true; done
  for x in "${NETNS_CGROUPS[@]}"; do [ -d "$x" ] && rmdir "$x" 2> /dev/null || true; done
  NETNS_LINKS=()
  NETNS_MADE=()
  NETNS_CGROUPS=()
}
