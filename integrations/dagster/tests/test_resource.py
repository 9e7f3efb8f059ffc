"""VaultSecretsResource with real Dagster and a real OpenBao: values arrive in assets, none appears in the run's
logs or event records, a missing secret fails the run with a clear message, and the health check sees a sealed
server."""

import logging
import os

import pytest
from dagster import (
    AssetExecutionContext,
    DagsterInstance,
    Definitions,
    EnvVar,
    MaterializeResult,
    asset,
    materialize,
)
from dagster._serdes import serialize_value

from vault_dagster import (
    VaultPermissionDenied,
    VaultSecretNotFound,
    VaultSecretsResource,
    VaultUnavailable,
)
from vault_dagster.definitions import defs, vault_example


def resource(**overrides) -> VaultSecretsResource:
    """The resource as a deployment configures it: everything through EnvVar, no literal secrets."""
    config = dict(
        vault_addr=EnvVar("VAULT_ADDR"),
        role_id_file=EnvVar("VAULT_ROLE_ID_FILE"),
        secret_id_file=EnvVar("VAULT_SECRET_ID_FILE"),
        vault_env_bin=EnvVar("VAULT_ENV_BIN"),
    )
    config.update(overrides)
    return VaultSecretsResource(**config)


def everything_recorded(instance: DagsterInstance, result) -> str:
    """All a user could see of a run: every event (serialised as stored, and its repr) and every log entry."""
    parts = []
    for event in result.all_events:
        parts += [repr(event), serialize_value(event)]
    for entry in instance.all_logs(result.run_id):
        parts += [repr(entry), entry.user_message or "", serialize_value(entry)]
    return "\n".join(parts)


def test_an_asset_reads_secrets_and_nothing_leaks(bao, pipeline, planted, capfd, caplog):
    password, api_key = planted("pw"), planted("api")
    bao.put_secret("dagster/warehouse", {"user": "etl", "password": password})
    bao.put_secret("dagster/api-keys", {"openai": api_key})
    arrived = {}

    @asset
    def reads_secrets(context: AssetExecutionContext, vault: VaultSecretsResource) -> MaterializeResult:
        creds = vault.get_secret("secret/dagster/warehouse")
        one = vault.get_secret("secret/dagster/warehouse", key="password")
        key = vault.get_api_key("openai")
        # Careless logging, as real pipelines do: the values must still not show.
        context.log.info(f"warehouse creds {creds}, password {one}, key {key!r}")
        logging.getLogger("pipeline").warning("password=%s", one)
        print(f"stdout: {one} {key}")
        arrived.update(password=one.reveal(), user=creds["user"].reveal(), key=key.reveal())
        arrived["listed"] = vault.list_secrets("secret/dagster")
        return MaterializeResult(metadata={"keys": sorted(creds), "password": str(one)})

    instance = DagsterInstance.ephemeral()
    with caplog.at_level(logging.DEBUG):
        result = materialize([reads_secrets], resources={"vault": resource()}, instance=instance)
    assert result.success
    assert arrived == {"password": password, "user": "etl", "key": api_key, "listed": ["api-keys", "warehouse"]}

    recorded = everything_recorded(instance, result)
    assert "[redacted]" in recorded, "the log line was recorded, redacted"
    captured = capfd.readouterr()
    for value in (password, api_key, pipeline["secret_id"]):
        assert value not in recorded
        assert value not in captured.out and value not in captured.err
        assert value not in caplog.text


def test_a_missing_secret_fails_the_run_clearly(bao, pipeline):
    bao.put_secret("dagster/present", {"k": "v"})

    @asset
    def needs_a_missing_secret(vault: VaultSecretsResource) -> None:
        vault.get_secret("secret/dagster/absent", key="password")

    instance = DagsterInstance.ephemeral()
    result = materialize([needs_a_missing_secret], resources={"vault": resource()}, instance=instance, raise_on_error=False)
    assert not result.success
    failures = result.get_step_failure_events()
    assert len(failures) == 1
    error = failures[0].event_specific_data.error
    # Dagster wraps the asset's exception; the cause is ours, with a message that names the path.
    while error.cause is not None:
        error = error.cause
    assert error.cls_name == "VaultSecretNotFound"
    assert "no secret at secret/dagster/absent [not_found]" in error.message


def test_errors_are_typed(bao, pipeline):
    bao.put_secret("dagster/x", {"k": "v"})
    bao.api("POST", "secret/data/elsewhere/y", {"data": {"k": "v"}})
    vault = resource()
    try:
        with pytest.raises(VaultSecretNotFound, match='secret/dagster/x has no key "nope"'):
            vault.get_secret("secret/dagster/x", key="nope")
        with pytest.raises(VaultPermissionDenied, match="secret/elsewhere/y"):
            vault.get_secret("secret/elsewhere/y")
        with pytest.raises(VaultSecretNotFound):
            vault.get_database_credentials("dagster-none")
        # Cached: many reads, one request to the server.
        for _ in range(20):
            assert vault.get_secret("secret/dagster/x", key="k").reveal() == "v"
        assert vault.cache_stats()["hits"] >= 19
    finally:
        vault.close()


def test_bad_credentials_or_binary_are_reported(bao, pipeline, tmp_path):
    (tmp_path / "wrong").write_text("not-a-secret-id\n")
    vault = resource(secret_id_file=str(tmp_path / "wrong"))
    with pytest.raises(VaultUnavailable, match="authentication failed"):
        vault.get_secret("secret/dagster/x")
    vault.close()
    vault = resource(vault_env_bin=str(tmp_path / "no-such-binary"))
    with pytest.raises(VaultUnavailable, match="set vault_env_bin"):
        vault.get_secret("secret/dagster/x")


def test_health_check_reports_a_sealed_server(bao, pipeline):
    vault = resource(cache_ttl_seconds=0)
    try:
        health = vault.health_check()
        assert health["healthy"] is True and health["sealed"] is False, health
        bao.seal()
        health = vault.health_check()
        assert health["healthy"] is False
        assert health["sealed"] is True
        assert health["state"] == "sealed"
        with pytest.raises(VaultUnavailable, match="sealed"):
            vault.get_secret("secret/dagster/x")
    finally:
        vault.close()
    # An unreachable server: not healthy, with the reason, and no exception.
    gone = resource(vault_addr="http://127.0.0.1:9")
    try:
        health = gone.health_check()
        assert health["healthy"] is False and "cannot reach" in health["error"], health
    finally:
        gone.close()


def test_the_example_definitions_materialise(bao, pipeline, monkeypatch):
    bao.put_secret("dagster/example", {"a": "1", "b": "2"})
    # The module-level defs read the environment at import time; build the resource again for this server.
    from vault_dagster import definitions

    assert "vault_example" in {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert defs.resolve_asset_graph().asset_check_keys, "the example carries its rotation check"
    example = Definitions(
        assets=[vault_example],
        asset_checks=[definitions.vault_example_rotation],
        resources={"vault": definitions._resource()},
    )
    result = example.resolve_implicit_global_asset_job_def().execute_in_process(instance=DagsterInstance.ephemeral())
    assert result.success
    mat = result.asset_materializations_for_node("vault_example")[0]
    assert mat.metadata["keys"].value == ["a", "b"]
    (check,) = result.get_asset_check_evaluations()
    assert check.passed, check.description


def test_a_forked_child_starts_its_own_vault_env(bao, pipeline):
    bao.put_secret("dagster/x", {"k": "v"})
    vault = resource()
    try:
        assert vault.get_secret("secret/dagster/x", key="k").get_secret_value() == "v"
        parent_vault_env = vault._process.pid
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:
            try:
                ok = vault.get_secret("secret/dagster/x", key="k").get_secret_value() == "v"
                os.write(write_end, f"{int(ok)} {vault._process.pid}".encode())
                vault.close()
            finally:
                os._exit(0)
        os.close(write_end)
        os.waitpid(child, 0)
        ok, child_vault_env = os.read(read_end, 100).decode().split()
        assert ok == "1" and int(child_vault_env) != parent_vault_env, "the child used its own vault-env"
        # The parent's process was neither used nor stopped by the child.
        assert vault._process.pid == parent_vault_env
        assert vault.get_secret("secret/dagster/x", key="k").get_secret_value() == "v"
    finally:
        vault.close()


def test_a_vault_env_that_died_between_requests_is_started_again(bao, pipeline):
    bao.put_secret("dagster/x", {"k": "v"})
    vault = resource()
    try:
        assert vault.get_secret("secret/dagster/x", key="k").get_secret_value() == "v"
        first = vault._process.pid
        os.kill(first, 9)
        os.waitpid(first, 0)
        assert vault.get_secret("secret/dagster/x", key="k").get_secret_value() == "v"
        assert vault._process.pid != first
    finally:
        vault.close()


def test_the_test_identity_is_the_one_deploy_provisions(bao, pipeline):
    """The tests and the benchmark run as the identity deploy makes: the shipped dagster-secrets rules, and a
    token that carries that policy alone (no `default`)."""
    import re
    from pathlib import Path

    from vault_dagster.testing import PIPELINE_POLICY

    def rules(text):
        return {
            (path, tuple(sorted(re.findall(r'"([a-z]+)"', caps))))
            for path, caps in re.findall(r'path "([^"]+)"\s*\{\s*capabilities = \[([^\]]*)\]', text)
        }

    shipped = Path(__file__).resolve().parents[3] / "policies" / "dagster-secrets.hcl"
    assert rules(PIPELINE_POLICY) == rules(shipped.read_text())
    role = bao.api("GET", "auth/approle/role/dagster")["data"]
    assert role["token_no_default_policy"] is True
    assert role["token_policies"] == ["dagster-secrets"]


def test_a_vault_env_that_never_answers_is_given_up_on_within_the_time_limit():
    """The wait for an answer (a short spin, then poll) ends at the request time limit with a clear error."""
    import time

    from vault_dagster.client import VaultEnvProcess, VaultUnavailable

    silent = VaultEnvProcess(["sh", "-c", "exec sleep 30"], {"PATH": "/usr/bin:/bin"}, timeout=0.3)
    start = time.monotonic()
    with pytest.raises(VaultUnavailable, match=r"no answer within 0\.3s"):
        silent.request("stats")
    assert 0.3 <= time.monotonic() - start < 2
    silent.close(timeout=1)
