#!/usr/bin/env bash
# usage: scripts/down.sh
# Stops what scripts/up.sh started, each with SIGTERM (graceful: in-flight requests finish, the
# relay finishes its batch, consumers commit their offsets), then Kafka (the one broker, or the
# three nodes of CLUSTER=1) and the Redis Cluster of CLUSTER=1. PostgreSQL and the single Redis are
# the machine's own services and keep running.
source "$(dirname "${BASH_SOURCE[0]}")/lib/help.sh" "$@"
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
source scripts/procs.sh
for p in storefront api api-2 relay relay-2 consumer-catalog consumer-catalog-2 consumer-storefront consumer-storefront-2; do stop_proc "$p"; done
if [[ -f "$RUN_DIR/cluster" ]]; then
  bash scripts/kafka-cluster.sh stop
  bash scripts/redis-cluster.sh stop
  rm -f "$RUN_DIR/cluster"
else
  bash scripts/kafka.sh stop
fi
