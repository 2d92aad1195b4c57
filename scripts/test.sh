#!/usr/bin/env bash
# usage: scripts/test.sh [bun test arguments, e.g. test/unit or a file]
# Runs the whole test suite against real PostgreSQL, Redis (one server and a Redis Cluster) and
# Kafka: set-up first (idempotent), then the test database's migrations, then `bun test`. Extra
# arguments go to `bun test`.
source "$(dirname "${BASH_SOURCE[0]}")/lib/help.sh" "$@"
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
bash scripts/setup.sh
DATABASE_URL="$TEST_DATABASE_URL" "$BUN" scripts/migrate.ts deploy
# The Redis Cluster of the cluster tests (three masters, three replicas on :7000-:7005; about 2 s
# the first time), unless TEST_REDIS_CLUSTER_NODES points at one run elsewhere.
[[ -n "${TEST_REDIS_CLUSTER_NODES:-}" ]] || bash scripts/redis-cluster.sh start
# --timeout: Bun 1.4.5 applies a preload's setDefaultTimeout to some test files only (seen here:
# the second file of a folder kept the 5 s default), so the command line sets it for every file.
exec "$BUN" test --timeout 60000 "$@"
