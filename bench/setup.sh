#!/usr/bin/env bash
# usage: bench/setup.sh
# What the benchmarks need beyond scripts/setup.sh: wrk (load) and gnuplot (charts), from Debian.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/help.sh" "$@"
set -euo pipefail
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v gnuplot >/dev/null || missing+=(gnuplot-nox)
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bash "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
