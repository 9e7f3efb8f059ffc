#!/usr/bin/env bash
# backup-vault.sh: take a backup now with vault-backup, optionally prune, and check the newest copy.
#
# A thin wrapper for operators and cron: destinations come from the arguments or $VAULT_BACKUP_TO
# (comma-separated), connection settings from the usual VAULT_*/BAO_* variables, S3 settings from AWS_*.
# Exit codes are vault-backup's (0 ok, 1 verification failed, 2 usage, 3 Vault or S3 unreachable, 4 failed or
# partly failed); see docs/vault-backup-recovery.md.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: backup-vault.sh [--prune] [--no-verify] [DEST...]

  DEST          a folder or s3://bucket/prefix (default: $VAULT_BACKUP_TO, comma-separated)
  --prune       apply retention afterwards: $VAULT_BACKUP_KEEP
                (default: --keep-last 48 --keep-daily 14 --keep-weekly 8 --keep-monthly 12)
  --no-verify   skip re-reading the newest backup from each destination
  -h, --help    this help

The binary is $VAULT_BACKUP_BIN, else vault-backup on PATH, else target/release or target/debug of this
repository.

Example:
  VAULT_ADDR=https://127.0.0.1:8200 VAULT_CACERT=/etc/vault.d/tls/ca.pem \
    backup-vault.sh --prune /var/backups/vault s3://vault-backups/prod
USAGE
}

find_binary() {
  if [[ -n ${VAULT_BACKUP_BIN:-} ]]; then
    printf '%s\n' "$VAULT_BACKUP_BIN"
    return
  fi
  if command -v vault-backup >/dev/null 2>&1; then
    command -v vault-backup
    return
  fi
  local repo candidate
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  for candidate in "$repo/target/release/vault-backup" "$repo/target/debug/vault-backup"; do
    if [[ -x $candidate ]]; then
      printf '%s\n' "$candidate"
      return
    fi
  done
  echo "backup-vault.sh: error: vault-backup not found: set VAULT_BACKUP_BIN or put it on PATH" >&2
  exit 4
}

prune=false
verify=true
destinations=()
while (($#)); do
  case $1 in
    --prune)
      prune=true
      ;;
    --no-verify)
      verify=false
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    -*)
      echo "backup-vault.sh: error: unknown option $1 (see --help)" >&2
      exit 2
      ;;
    *)
      destinations+=("$1")
      ;;
  esac
  shift
done
if ((${#destinations[@]} == 0)); then
  if [[ -z ${VAULT_BACKUP_TO:-} ]]; then
    echo "backup-vault.sh: error: no destination: pass DEST or set VAULT_BACKUP_TO" >&2
    exit 2
  fi
  IFS=',' read -r -a destinations <<<"$VAULT_BACKUP_TO"
fi

bin="$(find_binary)"
to_args=()
for dest in "${destinations[@]}"; do
  to_args+=(--to "$dest")
done

# save exits 4 when some destination failed but another took the backup: keep going, report it at the end.
status=0
"$bin" save "${to_args[@]}" || status=$?
if ((status != 0 && status != 4)); then
  exit "$status"
fi

if $verify; then
  for dest in "${destinations[@]}"; do
    "$bin" verify "$dest" || status=$?
  done
fi

if $prune; then
  read -r -a keep <<<"${VAULT_BACKUP_KEEP:---keep-last 48 --keep-daily 14 --keep-weekly 8 --keep-monthly 12}"
  "$bin" prune "${destinations[@]}" "${keep[@]}" || status=$?
fi
exit "$status"
