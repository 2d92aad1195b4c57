#!/usr/bin/env bash
# Local Redis Cluster: three masters and three replicas on loopback, Debian's redis-server, created
# with `redis-cli --cluster create`. No persistence: a node that dies comes back empty and joins
# as a replica of whoever took over its slots, like a lost machine replaced by a new one.
#   scripts/redis-cluster.sh start|stop|status|reset
#   scripts/redis-cluster.sh kill PORT        kill -9 one node
#   scripts/redis-cluster.sh start-node PORT  start one node again (it rejoins from its nodes.conf)
#   scripts/redis-cluster.sh masters          "port" of each master, one per line
#   scripts/redis-cluster.sh replica-of PORT  the port of a replica of the master on PORT
#   scripts/redis-cluster.sh nodes            the seed list for REDIS_CLUSTER_NODES (host:port,...)
#   scripts/redis-cluster.sh wait             until cluster_state:ok and every slot has a master
# Env: REDIS_CLUSTER_BASE_PORT (7000): nodes on BASE..BASE+5; REDIS_CLUSTER_DIR (.run/redis-cluster);
#      REDIS_CLUSTER_NODE_TIMEOUT (2000 ms): how long a silent master lasts before its replica
#      takes over. A replica takes over however long it was cut off (validity factor 0): the
#      cache's fence treats the promotion as a loss of data, so availability costs no correctness.
#      `wait` also waits for every replica to have its copy.
source "$(dirname "${BASH_SOURCE[0]}")/lib/help.sh" "$@"
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASE="${REDIS_CLUSTER_BASE_PORT:-7000}"
RUN="${REDIS_CLUSTER_DIR:-$ROOT/.run/redis-cluster}"
TIMEOUT_MS="${REDIS_CLUSTER_NODE_TIMEOUT:-2000}"
PORTS=()
for i in 0 1 2 3 4 5; do PORTS+=($((BASE + i))); done

die() { echo "redis-cluster.sh: $*" >&2; exit 1; }
cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }
node_pid() {
  local f="$RUN/$1/redis.pid" pid
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ -n "$pid" ]] && grep -qa 'redis-server' "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}
nodes_list() { local p out=""; for p in "${PORTS[@]}"; do out+="127.0.0.1:$p,"; done; echo "${out%,}"; }

start_node() {
  local port="$1" dir="$RUN/$1"
  node_pid "$port" >/dev/null && return 0
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && die "something else answers on port $port (another checkout's cluster? stop it, or set REDIS_CLUSTER_BASE_PORT)"
  mkdir -p "$dir"
  # fds 3-9 closed: a caller's lock (flock) must not be inherited by a server that outlives it.
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" \
    --logfile "$dir/redis.log" --cluster-enabled yes --cluster-config-file nodes.conf \
    --cluster-node-timeout "$TIMEOUT_MS" --cluster-replica-validity-factor 0 \
    --save "" --appendonly no --protected-mode no \
    3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
  for _ in $(seq 1 100); do
    cli "$port" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  die "node $port did not answer; see $dir/redis.log"
}

cluster_ok() {
  local info
  info="$(cli "$1" cluster info 2>/dev/null)" || return 1
  grep -q '^cluster_state:ok' <<<"$info" && grep -q '^cluster_slots_assigned:16384' <<<"$info"
}

wait_ok() {
  local deadline=$((SECONDS + ${1:-60})) p
  while ((SECONDS < deadline)); do
    for p in "${PORTS[@]}"; do
      node_pid "$p" >/dev/null || continue
      if cluster_ok "$p" && [[ "$(cli "$p" cluster nodes | grep -c 'master' | tr -d ' ')" -ge 3 ]]; then
        # Every live node must agree before clients are pointed at it.
        # ...and every replica must have its copy, so that a master killed next can be replaced.
        local all=1 q
        for q in "${PORTS[@]}"; do
          node_pid "$q" >/dev/null || continue
          cluster_ok "$q" || all=0
          if cli "$q" role 2>/dev/null | head -1 | grep -q slave; then
            cli "$q" info replication 2>/dev/null | grep -q '^master_link_status:up' || all=0
          fi
        done
        ((all)) && return 0
      fi
      break
    done
    sleep 0.2
  done
  die "the cluster is not ok after ${1:-60} s"
}

start() {
  local p fresh=1
  for p in "${PORTS[@]}"; do
    [[ -s "$RUN/$p/nodes.conf" ]] && fresh=0
    start_node "$p"
  done
  if ((fresh)); then
    local addrs=()
    for p in "${PORTS[@]}"; do addrs+=("127.0.0.1:$p"); done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$RUN/create.log" 2>&1 \
      || { cat "$RUN/create.log" >&2; die "redis-cli --cluster create failed"; }
  fi
  wait_ok 60
  echo "redis cluster ok: $(nodes_list)"
}

stop() {
  local p pid
  for p in "${PORTS[@]}"; do
    pid="$(node_pid "$p")" || continue
    kill "$pid" 2>/dev/null || true
  done
  for p in "${PORTS[@]}"; do
    for _ in $(seq 1 100); do node_pid "$p" >/dev/null || break; sleep 0.05; done
    pid="$(node_pid "$p")" && kill -9 "$pid" 2>/dev/null || true
  done
  return 0
}

masters() {
  local p
  for p in "${PORTS[@]}"; do
    node_pid "$p" >/dev/null || continue
    cli "$p" cluster nodes | awk '$3 ~ /master/ && $3 !~ /fail/ && $8 == "connected" && NF >= 9 { split($2, a, "[:@]"); print a[2] }' | sort -n
    return 0
  done
  die "no node is running"
}

replica_of() {
  local p id
  for p in "${PORTS[@]}"; do
    node_pid "$p" >/dev/null || continue
    id="$(cli "$p" cluster nodes | awk -v port="127.0.0.1:$1@" 'index($2, port) == 1 { print $1 }')"
    [[ -n "$id" ]] || die "no node on $1"
    cli "$p" cluster nodes | awk -v id="$id" '$4 == id && $3 !~ /fail/ { split($2, a, "[:@]"); print a[2]; exit }'
    return 0
  done
  die "no node is running"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  reset) stop; rm -rf "$RUN" ;;
  status)
    for p in "${PORTS[@]}"; do
      if pid="$(node_pid "$p")"; then echo "$p running (pid $pid) $(cli "$p" role 2>/dev/null | head -1)"; else echo "$p stopped"; fi
    done ;;
  kill)
    [[ -n "${2:-}" ]] || die "usage: kill PORT"
    pid="$(node_pid "$2")" || die "node $2 is not running"
    kill -9 "$pid"
    for _ in $(seq 1 100); do node_pid "$2" >/dev/null || exit 0; sleep 0.02; done ;;
  start-node) [[ -n "${2:-}" ]] || die "usage: start-node PORT"; start_node "$2" ;;
  masters) masters ;;
  replica-of) [[ -n "${2:-}" ]] || die "usage: replica-of PORT"; replica_of "$2" ;;
  nodes) nodes_list ;;
  wait) wait_ok "${2:-60}" ;;
  -h|--help|help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
