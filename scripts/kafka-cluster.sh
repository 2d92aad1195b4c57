#!/usr/bin/env bash
# Local three-node Apache Kafka cluster (KRaft; each node broker and controller, one JVM each) on
# loopback, from the same Maven Central jars as scripts/kafka.sh. Internal topics have three
# replicas and min.insync.replicas=2, so one node may die without losing an acknowledged write.
#   scripts/kafka-cluster.sh start|stop|status|reset
#   scripts/kafka-cluster.sh kill NODE        kill -9 one node (1-3)
#   scripts/kafka-cluster.sh start-node NODE  start one node again
#   scripts/kafka-cluster.sh create-topic NAME PARTITIONS   (3 replicas, min.insync.replicas=2)
#   scripts/kafka-cluster.sh leaders TOPIC    "partition leader" lines
#   scripts/kafka-cluster.sh under-replicated "topic partition" of each partition short of a replica
#   scripts/kafka-cluster.sh brokers          the bootstrap list (host:port,...)
# Env: KAFKA_CLUSTER_BASE_PORT (9092): node i listens on BASE+2(i-1) and its controller on the
#      next port (9092/9093, 9094/9095, 9096/9097); KAFKA_CLUSTER_DIR (.run/kafka-cluster);
#      KAFKA_HEAP_OPTS (-Xmx384m); KAFKA_START_TIMEOUT (90 s).
source "$(dirname "${BASH_SOURCE[0]}")/lib/help.sh" "$@"
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONF_SRC="$ROOT/scripts/kafka"
LIBS="$ROOT/.tools/kafka/libs"
BASE="${KAFKA_CLUSTER_BASE_PORT:-9092}"
RUN="${KAFKA_CLUSTER_DIR:-$ROOT/.run/kafka-cluster}"
CLUSTER_ID="Y2F0YWxvZy1jYWNoZS0zYg"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
NODES=(1 2 3)

die() { echo "kafka-cluster.sh: $*" >&2; exit 1; }
port_of() { echo $((BASE + 2 * ($1 - 1))); }
cport_of() { echo $((BASE + 2 * ($1 - 1) + 1)); }
BROKERS="$(for n in "${NODES[@]}"; do printf '127.0.0.1:%s,' "$(port_of "$n")"; done)"
BROKERS="${BROKERS%,}"
VOTERS="$(for n in "${NODES[@]}"; do printf '%s@127.0.0.1:%s,' "$n" "$(cport_of "$n")"; done)"
VOTERS="${VOTERS%,}"

TOOL=("$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
      -Dlog4j2.configurationFile="$CONF_SRC/tools-log4j2.properties" -cp "$LIBS/*")
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
node_pid() {
  local f="$RUN/node$1/kafka.pid" pid
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ -n "$pid" ]] && grep -qa 'kafka\.Kafka' "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

write_config() {
  local n="$1" dir="$RUN/node$1"
  mkdir -p "$dir/data" "$dir/logs"
  cat >"$dir/server.properties" <<PROPS
# Written by scripts/kafka-cluster.sh on each start; edit the script, not this file.
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$VOTERS
listeners=PLAINTEXT://127.0.0.1:$(port_of "$n"),CONTROLLER://127.0.0.1:$(cport_of "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(port_of "$n")
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=6
default.replication.factor=3
min.insync.replicas=2
auto.create.topics.enable=false
offsets.topic.replication.factor=3
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
# A dead node's partitions move to the others after this many ms without its heartbeats.
broker.session.timeout.ms=6000
broker.heartbeat.interval.ms=1000
PROPS
}

start_node() {
  local n="$1" dir="$RUN/node$1"
  node_pid "$n" >/dev/null && return 0
  port_open "$(port_of "$n")" && die "something else answers on port $(port_of "$n")"
  write_config "$n"
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    "${TOOL[@]}" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$dir/server.properties" >"$dir/logs/format.log" 2>&1 \
      || { cat "$dir/logs/format.log" >&2; die "storage format of node $n failed"; }
  fi
  # Descriptors 3-9 closed: a lock the caller holds must not live on in the broker.
  setsid "$JAVA" ${KAFKA_HEAP_OPTS:--Xmx384m -Xms128m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true -Dkafka.logs.dir="$dir/logs" \
    -Dlog4j2.configurationFile="$CONF_SRC/log4j2.properties" \
    -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" >"$dir/logs/kafka.out" 2>&1 </dev/null 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  echo $! >"$dir/kafka.pid"
}

# Ready: every node's port open and a topic list answers through all of them.
wait_ready() {
  local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-90})) n
  while ((SECONDS < deadline)); do
    local up=1
    for n in "${NODES[@]}"; do
      node_pid "$n" >/dev/null || die "node $n exited during startup; logs in $RUN/node$n/logs"
      port_open "$(port_of "$n")" || up=0
    done
    if ((up)) && timeout 20 "${TOOL[@]}" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BROKERS" --list >/dev/null 2>&1; then
      echo "kafka-cluster.sh: 3 nodes ready on $BROKERS (logs in $RUN/node*/logs)"
      return 0
    fi
    sleep 0.5
  done
  die "the cluster is not ready after ${KAFKA_START_TIMEOUT:-90} s; logs in $RUN/node*/logs"
}

stop_node() {
  local n="$1" pid i
  pid="$(node_pid "$n")" || { rm -f "$RUN/node$n/kafka.pid"; return 0; }
  kill -TERM "$pid"
  for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$RUN/node$n/kafka.pid"
}

create_topic() {
  local name="${1:-}" parts="${2:-}" deadline=$((SECONDS + 60))
  [[ -n "$name" && "$parts" =~ ^[0-9]+$ ]] || die "usage: kafka-cluster.sh create-topic NAME PARTITIONS"
  # Retried: right after a start, fewer than three brokers may have registered yet.
  until "${TOOL[@]}" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BROKERS" --create --if-not-exists \
      --topic "$name" --partitions "$parts" --replication-factor 3 --config min.insync.replicas=2 >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "could not create $name with 3 replicas"
    sleep 1
  done
}

case "${1:-}" in
  start)
    mkdir -p "$RUN"
    for n in "${NODES[@]}"; do start_node "$n"; done
    wait_ready ;;
  stop)
    for n in "${NODES[@]}"; do stop_node "$n" & done
    wait
    echo "kafka-cluster.sh: stopped" ;;
  status)
    for n in "${NODES[@]}"; do
      if pid="$(node_pid "$n")"; then echo "node $n: running (pid $pid) on 127.0.0.1:$(port_of "$n")"; else echo "node $n: stopped"; fi
    done ;;
  reset) "$0" stop; rm -rf "$RUN" ;;
  kill) [[ "${2:-}" =~ ^[123]$ ]] || die "usage: kafka-cluster.sh kill 1|2|3"
    pid="$(node_pid "$2")" || die "node $2 is not running"
    kill -KILL "$pid"; rm -f "$RUN/node$2/kafka.pid"; echo "kafka-cluster.sh: node $2 killed" ;;
  start-node) [[ "${2:-}" =~ ^[123]$ ]] || die "usage: kafka-cluster.sh start-node 1|2|3"
    start_node "$2"; deadline=$((SECONDS + 60))
    until port_open "$(port_of "$2")"; do ((SECONDS < deadline)) || die "node $2 did not open its port"; sleep 0.2; done
    echo "kafka-cluster.sh: node $2 started" ;;
  create-topic) shift; create_topic "$@" ;;
  leaders) "${TOOL[@]}" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BROKERS" --describe --topic "${2:?topic}" \
      | awk '/Partition:/ { for (i = 1; i <= NF; i++) { if ($i == "Partition:") p = $(i+1); if ($i == "Leader:") l = $(i+1) } print p, l }' ;;
  under-replicated) "${TOOL[@]}" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BROKERS" --describe --under-replicated-partitions \
      | awk '/Partition:/ { for (i = 1; i <= NF; i++) { if ($i == "Topic:") t = $(i+1); if ($i == "Partition:") p = $(i+1) } print t, p }' ;;
  brokers) echo "$BROKERS" ;;
  *) echo "usage: $0 start|stop|status|reset|kill N|start-node N|create-topic NAME PARTITIONS|leaders TOPIC|under-replicated|brokers" >&2; exit 2 ;;
esac
