#!/usr/bin/env bash
# usage: scripts/kafka-tool.sh COMMAND TOPIC [...]   (scripts/kafka-tool.sh --help lists the commands)
# Runs scripts/kafka-tool.ts on the project's Node 24 (.tools; scripts/setup.sh installs it), so it
# works from a fresh shell: the system's Node 20 cannot run it, and Bun cannot load the Kafka client.
# --help goes through to scripts/kafka-tool.ts (its first import, lib/help.ts, prints its usage).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
[[ -x "$NODE24" ]] || die "Node 24 not found at $NODE24 (run scripts/setup.sh)"
exec "$NODE24" "$ROOT/scripts/kafka-tool.ts" "$@"
