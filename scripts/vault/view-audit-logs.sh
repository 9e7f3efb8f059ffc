#!/usr/bin/env bash
# View Vault/OpenBao audit logs: a thin shell over `audit-parse` for the questions asked most
# (see docs/vault-audit-logging.md for the full set of flags).
#
#   scripts/vault/view-audit-logs.sh recent [SINCE]          every request since SINCE (default 1h)
#   scripts/vault/view-audit-logs.sh who-read PATH [SINCE]   who read the secret PATH (e.g. secret/dagster/db), default 7d
#   scripts/vault/view-audit-logs.sh denied [SINCE]          denied requests, default 24h
#   scripts/vault/view-audit-logs.sh root [SINCE]            every use of a root token, default 30d
#   scripts/vault/view-audit-logs.sh changes [SINCE]         changes to policies, auth methods, mounts, audit devices, default 30d
#   scripts/vault/view-audit-logs.sh report [SINCE]          the full report, default 7d
#   scripts/vault/view-audit-logs.sh find-value FILE [SINCE] requests involving the value in FILE (hashed by the server)
#   scripts/vault/view-audit-logs.sh follow                  new requests as they happen
#
# Environment: AUDIT_LOG_DIR (default /var/log/vault), AUDIT_PARSE (the binary; default: PATH, then this checkout's
# target/release or target/debug), FORMAT (human, json, jsonl, csv; default human), and VAULT_ADDR/VAULT_TOKEN or
# BAO_* for find-value. Exit codes are audit-parse's: 0 found, 1 nothing matched, 2 usage, 3 Vault unavailable.
set -euo pipefail

usage() {
    sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit 2
}

find_binary() {
    if [[ -n "${AUDIT_PARSE:-}" ]]; then
        printf '%s\n' "$AUDIT_PARSE"
        return
    fi
    if command -v audit-parse >/dev/null 2>&1; then
        command -v audit-parse
        return
    fi
    local root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    local candidate
    for candidate in "$root/target/release/audit-parse" "$root/target/debug/audit-parse"; do
        if [[ -x "$candidate" ]]; then
            printf '%s\n' "$candidate"
            return
        fi
    done
    echo "view-audit-logs: error: audit-parse not found; build it (cargo build --release -p audit-parse) or set AUDIT_PARSE" >&2
    exit 2
}

[[ $# -ge 1 ]] || usage
command_name="$1"
shift

bin="$(find_binary)"
dir="${AUDIT_LOG_DIR:-/var/log/vault}"
format="${FORMAT:-human}"
if [[ ! -d "$dir" ]]; then
    echo "view-audit-logs: error: no audit log folder at $dir (set AUDIT_LOG_DIR)" >&2
    exit 2
fi

case "$command_name" in
    recent)
        exec "$bin" filter "$dir" --since "${1:-1h}" --format "$format"
        ;;
    who-read)
        [[ $# -ge 1 ]] || usage
        secret="${1#/}"
        mount="${secret%%/*}"
        rest="${secret#*/}"
        # KV version 2 reads go to MOUNT/data/PATH; accept either form.
        if [[ "$rest" != data/* ]]; then
            secret="$mount/data/$rest"
        fi
        exec "$bin" filter "$dir" --path "$secret" --operation read --since "${2:-7d}" --format "$format"
        ;;
    denied)
        exec "$bin" filter "$dir" --denied --since "${1:-24h}" --format "$format"
        ;;
    root)
        exec "$bin" filter "$dir" --root --since "${1:-30d}" --format "$format"
        ;;
    changes)
        exec "$bin" filter "$dir" --operation create --operation update --operation delete \
            --path 'sys/policy/*' --path 'sys/policies/*' --path 'sys/auth/*' --path 'sys/mounts/*' \
            --path 'sys/remount' --path 'sys/audit/*' --since "${1:-30d}" --format "$format"
        ;;
    report)
        exec "$bin" report "$dir" --since "${1:-7d}" --format "$format"
        ;;
    find-value)
        [[ $# -ge 1 ]] || usage
        exec "$bin" filter "$dir" --value-file "$1" --since "${2:-30d}" --format "$format"
        ;;
    follow)
        exec "$bin" filter --follow "$dir/audit.log" --format "$format"
        ;;
    -h | --help | help)
        usage
        ;;
    *)
        echo "view-audit-logs: error: unknown command $command_name" >&2
        usage
        ;;
esac
