#!/usr/bin/env bash
# Starts the whole system: set-up (idempotent), PostgreSQL, Redis, Kafka, then in the background
# the api, the relay, two cache consumer groups: "catalog" (rebuild mode: the namespace the api
# reads) and "storefront" (evict mode), and the storefront service (on :3100, reading its own
# namespace and the api on a miss). Logs in .run/logs/, pid files in .run/pids/.
# Stop everything with scripts/down.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
bash scripts/setup.sh
source scripts/procs.sh

start_proc api "$BUN" src/main.ts
start_proc relay "$NODE24" relay/main.ts
METRICS_PORT=9465 CACHE_NAMESPACE=catalog CONSUMER_MODE=rebuild CONSUMER_INSTANCE_ID=catalog-1 \
  start_proc consumer-catalog "$NODE24" consumers/consumer.ts
METRICS_PORT=9466 CACHE_NAMESPACE=storefront CONSUMER_MODE=evict CONSUMER_INSTANCE_ID=storefront-1 \
  start_proc consumer-storefront "$NODE24" consumers/consumer.ts
port="${PORT:-3000}"
store_port="${STOREFRONT_PORT:-3100}"
PORT="$store_port" CATALOG_URL="http://127.0.0.1:$port" start_proc storefront "$BUN" storefront/main.ts
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  proc_alive api || { tail -n 30 "$LOGS/api.log" >&2; die "the api exited; log above"; }
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || die "the api is not ready after 10 s (log: .run/logs/api.log)"
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$store_port/readyz" >/dev/null 2>&1 && break
  proc_alive storefront || { tail -n 30 "$LOGS/storefront.log" >&2; die "the storefront exited; log above"; }
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$store_port/readyz" >/dev/null || die "the storefront is not ready after 10 s (log: .run/logs/storefront.log)"
for p in relay consumer-catalog consumer-storefront; do
  for _ in $(seq 1 100); do grep -q '"msg":"\(relay\|consumer\) started"' "$LOGS/$p.log" 2>/dev/null && break; sleep 0.1; done
  proc_alive "$p" || { tail -n 30 "$LOGS/$p.log" >&2; die "$p exited; log above"; }
done
say "api ready at http://127.0.0.1:$port, storefront at http://127.0.0.1:$store_port; relay and consumers running (metrics on :9464, :9465, :9466)"
say "logs: .run/logs/   stop: scripts/down.sh"
