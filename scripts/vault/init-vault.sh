#!/usr/bin/env bash
# Deploy and initialise a hardened Vault: a thin wrapper over `cargo xtask deploy` (see docs/deployment.md).
#
#   sudo scripts/vault/init-vault.sh                        systemd host: /etc/vault.d, /var/lib/vault, vault.service
#   scripts/vault/init-vault.sh --local /srv/vault          everything under one folder, no systemd
#   scripts/vault/init-vault.sh --pgp-keys a.asc,b.asc,c.asc --shares 3 --threshold 2
#
# Re-running converges: nothing is initialised twice and the report lists only what changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
exec cargo xtask deploy "$@"
