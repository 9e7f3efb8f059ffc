#!/usr/bin/env bash
# health-check.sh: run vault-health, e.g. from a systemd timer that feeds node_exporter's textfile collector.
#
# A thin wrapper: every option it does not know goes to vault-health unchanged, and vault-health's exit code is
# this script's (0 healthy, 1 unhealthy, 2 usage, 3 unreachable/sealed, 4 failed; see docs/vault-health.md).
# Connection settings come from the usual VAULT_* / BAO_* variables.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: health-check.sh [--textfile-dir DIR] [VAULT-HEALTH OPTIONS...]

  --textfile-dir DIR  write the Prometheus textfile DIR/vault_health.prom, atomically
                      (default: $VAULT_HEALTH_TEXTFILE_DIR; unset: print the human report)
  -h, --help          this help; `vault-health --help` lists the checks and thresholds

The binary is $VAULT_HEALTH_BIN, else vault-health on PATH, else target/release or target/debug of this
repository.

Example (every 5 minutes from a systemd timer):
  health-check.sh --textfile-dir /var/lib/prometheus/node-exporter \
    --canary secret/health/canary --backup-dir /var/backups/vault
USAGE
}

find_binary() {
  if [[ -n ${VAULT_HEALTH_BIN:-} ]]; then
    printf '%s\n' "$VAULT_HEALTH_BIN"
    return
  fi
  if command -v vault-health >/dev/null 2>&1; then
    command -v vault-health
    return
  fi
  local repo
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  local candidate
  for candidate in "$repo/target/release/vault-health" "$repo/target/debug/vault-health"; do
    if [[ -x $candidate ]]; then
      printf '%s\n' "$candidate"
      return
    fi
  done
  echo "health-check.sh: error: vault-health not found: set VAULT_HEALTH_BIN or put it on PATH" >&2
  exit 4
}

textfile_dir="${VAULT_HEALTH_TEXTFILE_DIR:-}"
args=()
while (($#)); do
  case $1 in
    --textfile-dir)
      if (($# < 2)); then
        echo "health-check.sh: error: --textfile-dir needs a folder" >&2
        exit 2
      fi
      textfile_dir=$2
      shift 2
      ;;
    --textfile-dir=*)
      textfile_dir=${1#*=}
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      args+=("$1")
      shift
      ;;
  esac
done

bin="$(find_binary)"
if [[ -n $textfile_dir ]]; then
  # vault-health writes -o files through a temp file and a rename, so the collector never reads half a file;
  # the temp file's name does not end in .prom, so the collector ignores it meanwhile.
  exec "$bin" --format prometheus -o "$textfile_dir/vault_health.prom" "${args[@]}"
fi
exec "$bin" "${args[@]}"
