#!/usr/bin/env bash
# Starts the whole system: set-up (idempotent), PostgreSQL, Redis, Kafka, then the api in the
# background. Logs in .run/logs/, pid files in .run/pids/. Stop everything with scripts/down.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
bash scripts/setup.sh
source scripts/procs.sh

start_proc api "$BUN" src/main.ts
port="${PORT:-3000}"
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  proc_alive api || { tail -n 30 "$LOGS/api.log" >&2; die "the api exited; log above"; }
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || die "the api is not ready after 10 s (log: .run/logs/api.log)"
say "api ready at http://127.0.0.1:$port (logs: .run/logs/, stop: scripts/down.sh)"
