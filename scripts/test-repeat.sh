#!/usr/bin/env bash
# Runs test files N times from a fresh clone of this checkout's HEAD, and prints each run's pass or
# fail with its counts: the check that a test which touches the pipeline is not flaky.
#   scripts/test-repeat.sh [N=5] [test files or folders, default test/e2e]
# The clone gets its own set-up (.tools, dependencies, the Kafka client build) and its own broker:
# a broker started from this checkout is stopped first (the e2e tests restart the broker, which
# only works on one the clone started) and started again at the end; the same for the Redis
# Cluster of this checkout (the tests kill and restart its nodes). Logs stay in the clone's
# folder, printed at the end. Exit code 1 when any run failed.
source "$(dirname "${BASH_SOURCE[0]}")/lib/help.sh" "$@"
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
runs="${1:-5}"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "usage: scripts/test-repeat.sh [N] [test paths...]"
shift || true
paths=("${@}")
[[ ${#paths[@]} -gt 0 ]] || paths=(test/e2e)

dir="$(mktemp -d -t catalog-cache-repeat.XXXXXX)"
git clone -q "$ROOT" "$dir" || die "clone failed"
say "fresh clone of $(git -C "$ROOT" rev-parse --short HEAD) in $dir"
# The status is read whole before it is searched: `status | grep -q` under pipefail fails when grep
# stops reading at the first match and the status (slow: one redis-cli per node) is killed by
# SIGPIPE writing its next line, and then a running cluster was left running.
restart_ours=0
if grep -q '^running' <<<"$(bash "$ROOT/scripts/kafka.sh" status 2>/dev/null || true)"; then
  bash "$ROOT/scripts/kafka.sh" stop >/dev/null && restart_ours=1
fi
restart_cluster=0
if grep -q ' running ' <<<"$(bash "$ROOT/scripts/redis-cluster.sh" status 2>/dev/null || true)"; then
  bash "$ROOT/scripts/redis-cluster.sh" stop >/dev/null && restart_cluster=1
fi
finish() {
  bash "$dir/scripts/kafka.sh" stop >/dev/null 2>&1 || true
  bash "$dir/scripts/redis-cluster.sh" stop >/dev/null 2>&1 || true
  if ((restart_ours)); then bash "$ROOT/scripts/kafka.sh" start >/dev/null 2>&1 || true; fi
  if ((restart_cluster)); then bash "$ROOT/scripts/redis-cluster.sh" start >/dev/null 2>&1 || true; fi
}
trap finish EXIT

cd "$dir"
started=$SECONDS
bash scripts/setup.sh >"$dir/setup.log" 2>&1 || { tail -n 40 "$dir/setup.log"; die "set-up of the clone failed"; }
DATABASE_URL="$TEST_DATABASE_URL" "$dir/.tools/node_modules/.bin/bun" scripts/migrate.ts deploy >/dev/null || die "test database migration failed"
say "set up in $((SECONDS - started)) s; running ${paths[*]} $runs times"

failures=0
for ((i = 1; i <= runs; i++)); do
  t0=$SECONDS
  log="$dir/run-$i.log"
  "$dir/.tools/node_modules/.bin/bun" test --timeout 60000 "${paths[@]}" >"$log" 2>&1
  code=$?
  passed=$(grep -E '^ *[0-9]+ pass$' "$log" | tail -n 1 | tr -dc '0-9')
  failed=$(grep -E '^ *[0-9]+ fail$' "$log" | tail -n 1 | tr -dc '0-9')
  if [[ $code -eq 0 && "${failed:-0}" -eq 0 && "${passed:-0}" -gt 0 ]]; then verdict=pass; else verdict=FAIL; failures=$((failures + 1)); fi
  echo "run $i/$runs: $verdict (${passed:-0} passed, ${failed:-0} failed, $((SECONDS - t0)) s)"
  grep -E '^\(fail\)' "$log" | sed 's/^/    /'
done
echo "$((runs - failures)) of $runs runs passed; logs in $dir"
((failures == 0))
