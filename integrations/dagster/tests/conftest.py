"""Fixtures: a real OpenBao dev server per test (BAO_BIN), a three-node raft cluster for leader changes
(VAULT_TESTKIT_BIN, the `vault-testkit` binary), the vault-env binary (VAULT_ENV_BIN), and a pipeline AppRole
whose credential files are handed to Dagster through EnvVar."""

import os
import secrets as pysecrets

import pytest

from vault_dagster.testing import OpenBaoCluster, OpenBaoDevServer, PostgresServer


def _required_binary(var: str, what: str) -> str:
    path = os.environ.get(var, "")
    if not path or not os.access(path, os.X_OK):
        # Fail, never skip: a test that cannot reach its server has not passed.
        pytest.fail(f"{var} must name the {what} binary (got {path!r})", pytrace=False)
    return path


@pytest.fixture(scope="session")
def vault_env_bin() -> str:
    return _required_binary("VAULT_ENV_BIN", "vault-env")


@pytest.fixture(scope="session")
def bao_bin() -> str:
    return _required_binary("BAO_BIN", "OpenBao (or Vault)")


@pytest.fixture(scope="session")
def testkit_bin() -> str:
    return _required_binary("VAULT_TESTKIT_BIN", "vault-testkit")


@pytest.fixture
def cluster(testkit_bin):
    with OpenBaoCluster(testkit_bin) as running:
        yield running


@pytest.fixture
def bao(bao_bin):
    with OpenBaoDevServer(bao_bin) as server:
        yield server


@pytest.fixture
def pg():
    with PostgresServer() as server:
        yield server


@pytest.fixture
def pipeline(bao, tmp_path, monkeypatch, vault_env_bin):
    """AppRole credentials in files, and the environment Dagster's EnvVars read."""
    creds = bao.pipeline_approle(tmp_path / "approle" / "dagster")
    for key in list(os.environ):
        if key.startswith(("VAULT_", "BAO_")) and key != "VAULT_ENV_BIN":
            monkeypatch.delenv(key)
    monkeypatch.setenv("VAULT_ADDR", bao.addr)
    monkeypatch.setenv("VAULT_ROLE_ID_FILE", creds["role_id_file"])
    monkeypatch.setenv("VAULT_SECRET_ID_FILE", creds["secret_id_file"])
    monkeypatch.setenv("VAULT_ENV_BIN", vault_env_bin)
    return creds


@pytest.fixture
def planted():
    """Makes values nobody else would produce, to look for in logs and events."""

    def make(label: str) -> str:
        return f"{label}-planted-{pysecrets.token_hex(8)}"

    return make
