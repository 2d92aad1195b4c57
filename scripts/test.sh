#!/usr/bin/env bash
# Runs the whole test suite against real PostgreSQL, Redis and Kafka: set-up first (idempotent),
# then the test database's migrations, then `bun test`. Extra arguments go to `bun test`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
bash scripts/setup.sh
DATABASE_URL="$TEST_DATABASE_URL" "$BUN" scripts/migrate.ts deploy
exec "$BUN" test "$@"
