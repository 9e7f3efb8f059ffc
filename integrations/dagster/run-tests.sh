#!/usr/bin/env bash
# Runs the vault_dagster tests with real Dagster (pinned) against a real OpenBao dev server.
#
# Needs: VAULT_ENV_BIN, the built vault-env binary (cargo build -p vault-env → target/debug/vault-env), and
# BAO_BIN, an OpenBao or Vault binary, and PG_BIN_DIR, PostgreSQL's programs (default: what vault-testkit finds or
# installs for the Rust tests, through `cargo run -p vault-testkit -- tools`). VAULT_TESTKIT_BIN, the
# vault-testkit binary whose `cluster` command runs the raft cluster of the failover test, is built here when
# unset (cargo build -p vault-testkit → target/debug/vault-testkit).
# Creates target/tools/dagster-venv on first use with dagster, pytest, hvac and maturin, and puts this package's
# src/ on its path (no build: the tests drive VAULT_ENV_BIN).
# Extra arguments go to pytest.
#
# The wheel test (tests/test_wheel.py) builds the vault-dagster wheel once per run with maturin (debug profile by
# default, reusing the workspace's target dir and what `cargo build` already compiled; WHEEL_PROFILE=release for
# the release build), installs it into a fresh venv and runs a Dagster job there with no VAULT_ENV_BIN.
# VAULT_DAGSTER_WHEEL names an already built wheel to use instead.
#
# `run-tests.sh --setup-only` only makes (or checks) the venv and prints its python on stdout, for other tests
# that drive a real Dagster (the day-two test in xtask). It is idempotent: a venv that is up to date is left
# alone.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
venv=$target/tools/dagster-venv

# Pinned: the versions the tests were written against (`pip index versions dagster`, 2026-11).
dagster_version=1.13.29
pytest_version=8.3.4
hvac_version=2.3.0
maturin_version=1.16.0

setup_only=false
if [ "${1:-}" = "--setup-only" ]; then
    setup_only=true
    shift
fi

setup_venv() {
    local stamp=$venv/.vault-dagster-$dagster_version-maturin-$maturin_version
    # Tests may ask for the venv at the same time: one of them makes it, the others wait for it.
    mkdir -p "$(dirname "$venv")"
    exec 9>"$venv.lock"
    flock 9
    if [ ! -f "$stamp" ] || [ "$here/pyproject.toml" -nt "$stamp" ]; then
        # pip's progress goes to stderr: stdout carries only the python path in --setup-only mode.
        [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2
        # An older venv had the package installed editable (which would now build the binary): drop it.
        "$venv/bin/pip" uninstall --quiet --yes vault-dagster >/dev/null 2>&1 || true
        "$venv/bin/pip" install --quiet --disable-pip-version-check \
            "dagster==$dagster_version" "pytest==$pytest_version" "hvac==$hvac_version" \
            "maturin==$maturin_version" >&2
        # The package itself from the checkout, as an editable install would, without building vault-env.
        local site
        site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
        echo "$here/src" >"$site/vault_dagster_checkout.pth"
        touch "$stamp"
    fi
    flock -u 9
}

if $setup_only; then
    if [ $# -gt 0 ]; then
        echo "run-tests.sh: --setup-only takes no other arguments" >&2
        exit 2
    fi
    setup_venv
    echo "$venv/bin/python"
    exit 0
fi

if [ -z "${VAULT_ENV_BIN:-}" ]; then
    echo "run-tests.sh: set VAULT_ENV_BIN to the vault-env binary (cargo build -p vault-env)" >&2
    exit 2
fi
if [ -z "${BAO_BIN:-}" ] || [ -z "${PG_BIN_DIR:-}" ]; then
    # The servers the Rust tests use, found or installed by vault-testkit itself (one install logic); what the
    # caller set wins.
    given_bao=${BAO_BIN:-}
    given_pg=${PG_BIN_DIR:-}
    found=$(cd "$root" && cargo run --quiet -p vault-testkit -- tools) || {
        echo "run-tests.sh: vault-testkit could not find or install OpenBao and PostgreSQL (set BAO_BIN and PG_BIN_DIR)" >&2
        exit 3
    }
    eval "$found"
    BAO_BIN=${given_bao:-$BAO_BIN}
    PG_BIN_DIR=${given_pg:-$PG_BIN_DIR}
    export PG_BIN_DIR
fi
# The tests run from this folder: make the paths absolute first. vault-env's link is kept, not resolved: an
# installed vault-env is a link to the multi-call vault-toolkit, which runs vault-env only under that name.
case $VAULT_ENV_BIN in
    /*) ;;
    *) VAULT_ENV_BIN=$PWD/$VAULT_ENV_BIN ;;
esac
BAO_BIN=$(realpath "$BAO_BIN")
if [ -z "${VAULT_TESTKIT_BIN:-}" ]; then
    (cd "$root" && cargo build --quiet -p vault-testkit --bin vault-testkit) || {
        echo "run-tests.sh: cannot build vault-testkit (set VAULT_TESTKIT_BIN)" >&2
        exit 3
    }
    VAULT_TESTKIT_BIN=$target/debug/vault-testkit
fi
case $VAULT_TESTKIT_BIN in
    /*) ;;
    *) VAULT_TESTKIT_BIN=$PWD/$VAULT_TESTKIT_BIN ;;
esac
export VAULT_ENV_BIN BAO_BIN VAULT_TESTKIT_BIN
# The workspace's target dir, where the wheel test builds (and finds already compiled) vault-env.
CARGO_TARGET_DIR=$target
export CARGO_TARGET_DIR

setup_venv

cd "$here"
# Dagster's ephemeral instances still want a home; keep it inside the run.
DAGSTER_HOME=$(mktemp -d)
export DAGSTER_HOME
trap 'rm -rf "$DAGSTER_HOME"' EXIT
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests "$@"
