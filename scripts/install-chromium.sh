#!/usr/bin/env bash
# usage: scripts/install-chromium.sh
# Debian's Chromium, for the browser test of the API reference page (test/e2e/openapi-ui.test.ts).
# playwright-core (a dev dependency) drives it; no browser is downloaded from anywhere else.
source "$(dirname "${BASH_SOURCE[0]}")/lib/help.sh" "$@"
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

if [[ ! -x "$CHROMIUM" ]]; then
  say "installing Chromium from Debian's packages (about 1 min)"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=(); [[ $(id -u) -eq 0 ]] || SUDO=(sudo)
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
"$CHROMIUM" --version >/dev/null 2>&1 || die "$CHROMIUM does not run"
