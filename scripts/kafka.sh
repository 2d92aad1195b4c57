#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft, broker+controller in one JVM) on loopback.
# No tarball or Docker here, so the broker runs from the Maven Central jars (scripts/kafka/pom.xml).
#   scripts/kafka.sh start|stop|status|reset|jars
#   scripts/kafka.sh create-topic NAME PARTITIONS
# Env: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_HEAP_OPTS (-Xmx512m),
#      KAFKA_START_TIMEOUT (60 s), JAVA_HOME (optional; Kafka 4 needs Java 17+), KAFKA_DIR
#      (.run/kafka: data, logs, pid file; another one with other ports runs a second broker).
source "$(dirname "${BASH_SOURCE[0]}")/lib/help.sh" "$@"
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONF_SRC="$ROOT/scripts/kafka"
LIBS="$ROOT/.tools/kafka/libs"
RUN="${KAFKA_DIR:-$ROOT/.run/kafka}"
DATA="$RUN/data"
LOGS="$RUN/logs"
PIDFILE="$RUN/kafka.pid"
PORT="${KAFKA_PORT:-9092}"
CPORT="${KAFKA_CONTROLLER_PORT:-9093}"
BOOTSTRAP="127.0.0.1:$PORT"
# Fixed cluster id (base64 of 16 bytes): formatting needs one, and a fixed one keeps reruns identical.
CLUSTER_ID="Y2F0YWxvZy1jYWNoZS1rZg"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

die() { echo "kafka.sh: $*" >&2; exit 1; }

# Fetch the jars once; refetch only when the pom changes.
ensure_jars() {
  local sum; sum="$(sha256sum "$CONF_SRC/pom.xml" | cut -d' ' -f1)"
  [[ -f "$LIBS/.pom.sha256" && "$(cat "$LIBS/.pom.sha256")" == "$sum" ]] && return 0
  command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
  echo "kafka.sh: fetching Kafka jars with Maven into .tools/kafka/libs"
  rm -rf "$LIBS" && mkdir -p "$(dirname "$LIBS")"
  local log="$(dirname "$LIBS")/mvn.log"
  mvn -q -B -f "$CONF_SRC/pom.xml" dependency:copy-dependencies -DoutputDirectory="$LIBS" >"$log" 2>&1 \
    || { tail -n 30 "$log" >&2; die "Maven could not fetch the Kafka jars (log: $log)"; }
  echo "$sum" >"$LIBS/.pom.sha256"
}

# JVM for the Kafka CLI classes (TopicCommand, StorageTool): small and fast to start.
# An array, not a function, so that 'timeout' can run it.
TOOL=("$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
      -Dlog4j2.configurationFile="$CONF_SRC/tools-log4j2.properties" -cp "$LIBS/*")

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Our broker's pid, if the pid file names a live kafka.Kafka process (guards against pid reuse).
broker_pid() {
  local pid
  [[ -f "$PIDFILE" ]] || return 1
  pid="$(cat "$PIDFILE")"
  [[ -n "$pid" ]] && grep -qa 'kafka\.Kafka' "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

write_config() {
  mkdir -p "$DATA" "$LOGS"
  cat >"$RUN/server.properties" <<PROPS
# Written by scripts/kafka.sh on each start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA
num.partitions=6
auto.create.topics.enable=false
# One node: every internal topic gets one replica.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Consumers join at once instead of waiting 3 s for more members.
group.initial.rebalance.delay.ms=0
PROPS
}

# The ERROR and 'Caused by' lines this start wrote (full traces stay in server.log), and stdout.
startup_errors() {
  { tail -n +"$((LOG_MARK + 1))" "$LOGS/server.log" 2>/dev/null | grep -E '^\[[^]]*\] (ERROR|FATAL) |^Caused by: ' | tail -n 8
    tail -n 10 "$LOGS/kafka.out" 2>/dev/null; } >&2 || true
}

start() {
  ensure_jars
  local pid
  if pid="$(broker_pid)" && port_open "$PORT"; then return 0; fi
  if [[ -z "${pid:-}" ]] && port_open "$PORT"; then   # e.g. a broker started from another checkout
    echo "kafka.sh: something already answers on $BOOTSTRAP (not started from here); using it" >&2
    return 0
  fi
  write_config
  if [[ ! -f "$DATA/meta.properties" ]]; then   # first start only: format the KRaft log dir
    "${TOOL[@]}" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$RUN/server.properties" >"$LOGS/format.log" 2>&1 \
      || { cat "$LOGS/format.log" >&2; die "storage format failed"; }
  fi
  LOG_MARK=$( { cat "$LOGS/server.log" 2>/dev/null || true; } | wc -l)   # so failures show only this start's errors
  if [[ -z "${pid:-}" ]]; then
    # setsid: own session, so the broker outlives this shell and its terminal. Descriptors 3-9 are
    # closed: a lock the caller holds (flock) must not stay held for as long as the broker lives.
    setsid "$JAVA" ${KAFKA_HEAP_OPTS:--Xmx512m -Xms128m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -Djava.awt.headless=true -Dkafka.logs.dir="$LOGS" \
      -Dlog4j2.configurationFile="$CONF_SRC/log4j2.properties" \
      -cp "$LIBS/*" kafka.Kafka "$RUN/server.properties" >"$LOGS/kafka.out" 2>&1 </dev/null 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
    pid=$!
    echo "$pid" >"$PIDFILE"
  fi
  # Ready = port open and a metadata request (topic list) answers.
  local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-60}))
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || { startup_errors; die "broker exited during startup; logs in $LOGS"; }
    if port_open "$PORT" && timeout 20 "${TOOL[@]}" org.apache.kafka.tools.TopicCommand \
         --bootstrap-server "$BOOTSTRAP" --list >/dev/null 2>"$LOGS/ready-check.log"; then
      echo "kafka.sh: broker ready on $BOOTSTRAP (pid $pid, logs in $LOGS)"
      return 0
    fi
    sleep 0.5
  done
  startup_errors
  die "broker not ready after ${KAFKA_START_TIMEOUT:-60} s (pid $pid, still running); logs in $LOGS"
}

stop() {
  local pid i
  if ! pid="$(broker_pid)"; then
    rm -f "$PIDFILE"
    # A broker this checkout did not start (another checkout's) is not ours to stop; saying so beats
    # a silent no-op, which would let a "restart the broker" test pass without restarting anything.
    if port_open "$PORT"; then die "the broker on $BOOTSTRAP was not started from this checkout ($ROOT); stop it where it was started"; fi
    return 0
  fi
  kill -TERM "$pid"
  for ((i = 0; i < 300; i++)); do   # controlled shutdown, up to 30 s
    kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; echo "kafka.sh: broker stopped"; return 0; }
    sleep 0.1
  done
  echo "kafka.sh: broker did not stop in 30 s, killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done   # until its port is free
  rm -f "$PIDFILE"
}

status() {
  local pid
  if pid="$(broker_pid)"; then
    port_open "$PORT" && echo "running (pid $pid) on $BOOTSTRAP" || echo "starting or unhealthy (pid $pid, port $PORT closed)"
  elif port_open "$PORT"; then
    echo "not ours: something else answers on $BOOTSTRAP"
  else
    echo "stopped"; return 3
  fi
}

create_topic() {
  local name="${1:-}" parts="${2:-}"
  [[ -n "$name" && "$parts" =~ ^[0-9]+$ ]] || die "usage: kafka.sh create-topic NAME PARTITIONS"
  ensure_jars
  port_open "$PORT" || die "no broker on $BOOTSTRAP (run scripts/kafka.sh start)"
  # --if-not-exists: quiet no-op when the topic is already there.
  "${TOOL[@]}" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
    --topic "$name" --partitions "$parts" --replication-factor 1 >/dev/null
}

case "${1:-}" in
  start) start ;;
  jars) ensure_jars ;;
  stop) stop ;;
  status) status ;;
  reset) stop; rm -rf "$DATA" ;;
  create-topic) shift; create_topic "$@" ;;
  *) echo "usage: $0 start|stop|status|reset|jars|create-topic NAME PARTITIONS" >&2; exit 2 ;;
esac
