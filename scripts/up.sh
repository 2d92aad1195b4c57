#!/usr/bin/env bash
# usage: scripts/up.sh   (CLUSTER=1 scripts/up.sh for the cluster topology)
# Starts the whole system: set-up (idempotent), PostgreSQL, Redis, Kafka, then in the background
# the api, the relay, two cache consumer groups: "catalog" (rebuild mode: the namespace the api
# reads) and "storefront" (evict mode), and the storefront service (on :3100, reading its own
# namespace and the api on a miss). Logs in .run/logs/, pid files in .run/pids/.
# CLUSTER=1: three Kafka nodes (scripts/kafka-cluster.sh, topics with three replicas and
# min.insync.replicas=2) instead of one broker, a Redis Cluster of three masters and three replicas
# on :7000-:7005 (scripts/redis-cluster.sh; every process gets REDIS_CLUSTER_NODES), and two of
# each process: apis on :3000 and :3002, two relays (a leader and a standby), two consumers per
# group.
# Stop everything with scripts/down.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib/help.sh" "$@"
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
cluster="${CLUSTER:-0}"
mkdir -p "$RUN_DIR"
if [[ "$cluster" == 1 ]]; then
  # The single broker listens where the cluster's first node will: stop it if it is ours.
  if bash scripts/kafka.sh status 2>/dev/null | grep -q '^running'; then bash scripts/kafka.sh stop; fi
  SKIP_KAFKA=1 bash scripts/setup.sh
  bash scripts/kafka-cluster.sh start
  KAFKA_BROKERS="$(bash scripts/kafka-cluster.sh brokers)"
  export KAFKA_BROKERS
  topic="${KAFKA_TOPIC:-catalog.product-events}"
  bash scripts/kafka-cluster.sh create-topic "$topic" "${KAFKA_TOPIC_PARTITIONS:-6}"
  bash scripts/kafka-cluster.sh create-topic "${KAFKA_DLQ_TOPIC:-$topic.dlq}" "${KAFKA_TOPIC_PARTITIONS:-6}"
  bash scripts/redis-cluster.sh start
  REDIS_CLUSTER_NODES="$(bash scripts/redis-cluster.sh nodes)"
  export REDIS_CLUSTER_NODES
  echo 1 >"$RUN_DIR/cluster"
else
  [[ -f "$RUN_DIR/cluster" ]] && die "a CLUSTER=1 system is running; stop it with scripts/down.sh first"
  bash scripts/setup.sh
fi
source scripts/procs.sh

port="${PORT:-3000}"
store_port="${STOREFRONT_PORT:-3100}"
apis=(api) relays=(relay) consumers=(consumer-catalog consumer-storefront)
PORT="$port" start_proc api "$BUN" src/main.ts
METRICS_PORT=9464 start_proc relay "$NODE24" relay/main.ts
METRICS_PORT=9465 CACHE_NAMESPACE=catalog CONSUMER_MODE=rebuild CONSUMER_INSTANCE_ID=catalog-1 \
  start_proc consumer-catalog "$NODE24" consumers/consumer.ts
METRICS_PORT=9466 CACHE_NAMESPACE=storefront CONSUMER_MODE=evict CONSUMER_INSTANCE_ID=storefront-1 \
  start_proc consumer-storefront "$NODE24" consumers/consumer.ts
if [[ "$cluster" == 1 ]]; then
  PORT=$((port + 2)) start_proc api-2 "$BUN" src/main.ts
  METRICS_PORT=9467 start_proc relay-2 "$NODE24" relay/main.ts
  METRICS_PORT=9468 CACHE_NAMESPACE=catalog CONSUMER_MODE=rebuild CONSUMER_INSTANCE_ID=catalog-2 \
    start_proc consumer-catalog-2 "$NODE24" consumers/consumer.ts
  METRICS_PORT=9469 CACHE_NAMESPACE=storefront CONSUMER_MODE=evict CONSUMER_INSTANCE_ID=storefront-2 \
    start_proc consumer-storefront-2 "$NODE24" consumers/consumer.ts
  apis+=(api-2) relays+=(relay-2) consumers+=(consumer-catalog-2 consumer-storefront-2)
fi
PORT="$store_port" CATALOG_URL="http://127.0.0.1:$port" start_proc storefront "$BUN" storefront/main.ts

# ready NAME URL: waits up to 10 s for the process's /readyz.
ready() {
  for _ in $(seq 1 100); do
    curl -fsS "$2/readyz" >/dev/null 2>&1 && return 0
    proc_alive "$1" || { tail -n 30 "$LOGS/$1.log" >&2; die "$1 exited; log above"; }
    sleep 0.1
  done
  die "$1 is not ready after 10 s (log: .run/logs/$1.log)"
}
ready api "http://127.0.0.1:$port"
[[ "$cluster" == 1 ]] && ready api-2 "http://127.0.0.1:$((port + 2))"
ready storefront "http://127.0.0.1:$store_port"
for p in "${relays[@]}" "${consumers[@]}"; do
  for _ in $(seq 1 100); do grep -q '"msg":"\(relay\|consumer\) started"' "$LOGS/$p.log" 2>/dev/null && break; sleep 0.1; done
  proc_alive "$p" || { tail -n 30 "$LOGS/$p.log" >&2; die "$p exited; log above"; }
done
if [[ "$cluster" == 1 ]]; then
  say "apis ready at http://127.0.0.1:$port and :$((port + 2)), storefront at :$store_port; two relays, two consumers per group (metrics :9464-:9469); Kafka: $KAFKA_BROKERS; Redis Cluster: $REDIS_CLUSTER_NODES"
else
  say "api ready at http://127.0.0.1:$port, storefront at http://127.0.0.1:$store_port; relay and consumers running (metrics on :9464, :9465, :9466)"
fi
say "logs: .run/logs/   stop: scripts/down.sh"
