#!/usr/bin/env bash
# usage: scripts/prisma-generate.sh   (FORCE=1 scripts/prisma-generate.sh to regenerate anyway)
# Generates the Prisma client into src/generated/prisma, offline, with Bun.
# Skips when nothing that shapes the client changed since the last run (content hash, not mtimes,
# which a git checkout resets). FORCE=1 regenerates anyway.
source "$(dirname "${BASH_SOURCE[0]}")/lib/help.sh" "$@"
set -euo pipefail
cd "$(dirname "$0")/.."

out=src/generated/prisma
stamp=$out/.generate-hash

bun=${BUN:-.tools/node_modules/.bin/bun}
[[ -x $bun ]] || bun=$(command -v bun) || { echo "prisma-generate: bun not found (run scripts/setup.sh)" >&2; exit 1; }

# The client depends on the schema, the config, and the generator/runtime versions.
hash=$(cat prisma/schema.prisma prisma.config.ts node_modules/prisma/package.json \
  node_modules/@prisma/client/package.json | sha256sum | cut -d' ' -f1)

if [[ -z ${FORCE:-} && -f $stamp && $(<"$stamp") == "$hash" && -f $out/client.ts ]]; then
  echo "prisma-generate: client up to date"
  exit 0
fi

# The CLI fetches the schema-engine binary before any command, and that download is unreachable
# here; `generate` never runs the engine, so pointing the variable at any existing file skips it.
export PRISMA_SCHEMA_ENGINE_BINARY=${PRISMA_SCHEMA_ENGINE_BINARY:-/bin/false}
# No update check or telemetry: there is no internet to reach.
export CHECKPOINT_DISABLE=1 PRISMA_HIDE_UPDATE_MESSAGE=1

rm -f "$stamp"
"$bun" node_modules/prisma/build/index.js generate
echo "$hash" >"$stamp"
