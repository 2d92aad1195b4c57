# Sourced first by each command-line shell script: `--help` (or `-h`) as its first argument prints
# the script's leading comment block (its usage, the lines after the shebang) and exits 0, before
# the script does anything.
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/help.sh" "$@"
if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
  awk 'NR == 1 && /^#!/ { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"
  exit 0
fi
