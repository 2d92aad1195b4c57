#!/usr/bin/env bash
# What the benchmarks need beyond scripts/setup.sh: wrk (load) and gnuplot (charts), from Debian.
set -euo pipefail
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v gnuplot >/dev/null || missing+=(gnuplot-nox)
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bash "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
