#!/usr/bin/env bash
# restore-vault.sh: disaster recovery in one command: verify a backup, restore it into a server, unseal that
# server with the SOURCE's key shares, and read secrets back. See docs/vault-emergency-recovery.md.
#
# Restoring replaces every secret, policy and token on the target, so the script asks for the target's address
# to be typed back (skip with --yes in automation). Key shares are read from files, never from the command line.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: restore-vault.sh BACKUP --to ADDR... --key-file FILE... [--check-token-file FILE] [--yes] [VAULT-BACKUP OPTIONS]

  BACKUP                   ID.snap.gz (file or s3:// object), or a folder / s3://bucket/prefix (its newest backup)
  --to ADDR                the server to restore into; VAULT_TOKEN or --token-file must be valid on it NOW;
                           for a raft cluster, repeat for every node
  --key-file FILE          unseal key shares of the SOURCE (repeat; one share per line, or init JSON)
  --check-token-file FILE  a token valid on the SOURCE, to read secrets back afterwards
  --resume                 after the restart restore asked for: only unseal and check
  --yes                    do not ask for confirmation
  -h, --help               this help

Other options (--ca-cert, --s3-endpoint, --check-path, …) go to `vault-backup restore` unchanged.
The binary is $VAULT_BACKUP_BIN, else vault-backup on PATH, else target/release or target/debug of this
repository. Exit codes: 0 restored and checked, 1 an operator step is pending (restart or unseal), 2 usage,
3 unreachable, 4 failed (including a backup that fails verification: nothing was touched then).
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
  echo "restore-vault.sh: error: vault-backup not found: set VAULT_BACKUP_BIN or put it on PATH" >&2
  exit 4
}

backup=""
targets=()
yes=false
resume=false
args=()
while (($#)); do
  case $1 in
    --to)
      if (($# < 2)); then
        echo "restore-vault.sh: error: --to needs an address" >&2
        exit 2
      fi
      targets+=("$2")
      shift 2
      continue
      ;;
    --to=*)
      targets+=("${1#*=}")
      ;;
    --yes)
      yes=true
      ;;
    --resume)
      resume=true
      args+=("$1")
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    -*)
      args+=("$1")
      # Options with a value: pass the value along too.
      if [[ $1 != *=* && $# -ge 2 && $2 != -* ]]; then
        args+=("$2")
        shift
      fi
      ;;
    *)
      if [[ -n $backup ]]; then
        echo "restore-vault.sh: error: more than one BACKUP given ($backup, $1)" >&2
        exit 2
      fi
      backup=$1
      ;;
  esac
  shift
done
if [[ -z $backup || ${#targets[@]} -eq 0 ]]; then
  usage >&2
  exit 2
fi

bin="$(find_binary)"
# vault-backup restore verifies the backup before it touches the target and refuses a bad one.
if ! $resume && ! $yes; then
  echo "This REPLACES all data on ${targets[*]} with $backup. Type the address ${targets[0]} to confirm:" >&2
  read -r answer
  if [[ $answer != "${targets[0]}" ]]; then
    echo "restore-vault.sh: not confirmed; nothing was restored" >&2
    exit 2
  fi
fi
to_args=()
for target in "${targets[@]}"; do
  to_args+=(--to "$target")
done
exec "$bin" restore "$backup" "${to_args[@]}" "${args[@]}"
