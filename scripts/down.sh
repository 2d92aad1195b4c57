#!/usr/bin/env bash
# Stops what scripts/up.sh started, each with SIGTERM (graceful: in-flight requests finish, the
# relay finishes its batch, consumers commit their offsets), then the Kafka broker. PostgreSQL and
# Redis are the machine's own services and keep running.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
source scripts/procs.sh
for p in storefront api relay consumer-catalog consumer-storefront; do stop_proc "$p"; done
bash scripts/kafka.sh stop
