"""Rotation state and database leases in Dagster: `rotation_status` reads what secret-rotate keeps in a secret's
custom metadata (with the pipeline's read-only policy), and the asset check from `vault_secret_check` fails in a
real Dagster run when a secret the asset reads is overdue or a database credential would run out before the run
ends."""

from datetime import datetime, timedelta, timezone

import pytest
from dagster import AssetCheckSeverity, DagsterInstance, Definitions, asset

from vault_dagster import VaultSecretsResource, vault_secret_check
from vault_dagster.testing import database_engine


def stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def rotated(bao, path: str, due: datetime, last: datetime) -> None:
    """Writes three versions and the metadata secret-rotate leaves after a verified rotation to version 3
    (the keys and formats of crates/secret-rotate/src/state.rs)."""
    for n in range(3):
        bao.put_secret(path, {"password": f"v{n + 1}"})
    bao.api("POST", f"secret/metadata/{path}", {"custom_metadata": {
        "rotation_strategy": "generate",
        "rotation_owner": "data-team",
        "rotation_result": "success",
        "rotation_last": stamp(last),
        "rotation_next_due": stamp(due),
        "rotation_current_version": "3",
        "rotation_previous_version": "2",
        "rotation_versions": "1:prior 2:verified 3:verified",
        "provenance": "env-migrate",
    }})


def run_checks(defs: Definitions):
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=DagsterInstance.ephemeral(), raise_on_error=False)
    return {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}, result


def test_rotation_status_reads_secret_rotate_state(bao, pipeline):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    rotated(bao, "dagster/warehouse", due=now + timedelta(days=20), last=now - timedelta(days=10))
    bao.put_secret("dagster/plain", {"k": "v"})
    vault = VaultSecretsResource()
    try:
        status = vault.rotation_status("secret/dagster/warehouse")
        assert status.managed and status.path == "secret/dagster/warehouse"
        assert status.version == 3 and status.verified_version == 3
        assert status.next_due == now + timedelta(days=20)
        assert status.last_rotated == now - timedelta(days=10)
        assert status.result == "success" and status.strategy == "generate"
        assert status.versions == {1: "prior", 2: "verified", 3: "verified"}
        assert not status.overdue()
        assert status.overdue(now + timedelta(days=21))
        plain = vault.rotation_status("secret/dagster/plain")
        assert not plain.managed and plain.next_due is None and not plain.overdue()
    finally:
        vault.close()


def test_the_asset_check_flags_an_overdue_secret(bao, pipeline):
    now = datetime.now(timezone.utc)
    rotated(bao, "dagster/overdue", due=now - timedelta(hours=3), last=now - timedelta(days=31))
    rotated(bao, "dagster/fresh", due=now + timedelta(days=5), last=now - timedelta(days=1))

    @asset
    def reads_two(vault: VaultSecretsResource) -> None:
        vault.get_secret("secret/dagster/overdue")
        vault.get_secret("secret/dagster/fresh")

    @asset
    def reads_fresh(vault: VaultSecretsResource) -> None:
        vault.get_secret("secret/dagster/fresh")

    defs = Definitions(
        assets=[reads_two, reads_fresh],
        asset_checks=[
            vault_secret_check(reads_two, secrets=["secret/dagster/overdue", "secret/dagster/fresh"]),
            vault_secret_check(reads_fresh, secrets=["secret/dagster/fresh"], name="fresh_secrets"),
        ],
        resources={"vault": VaultSecretsResource()},
    )
    checks, result = run_checks(defs)
    assert result.success, "a failed check is not a failed step"
    overdue = checks["vault_secrets"]
    assert not overdue.passed and overdue.severity == AssetCheckSeverity.ERROR
    assert "secret/dagster/overdue: rotation overdue since" in overdue.description
    assert "fresh" not in overdue.description
    assert overdue.metadata["secret/dagster/overdue"].value["verified_version"] == 3
    assert checks["fresh_secrets"].passed


def test_the_asset_check_flags_a_lease_shorter_than_the_run(bao, pipeline, pg):
    database_engine(bao, pg)  # dagster-etl: dynamic, default_ttl 1h

    @asset
    def warehouse(vault: VaultSecretsResource) -> None:
        vault.get_database_credentials("dagster-etl")

    defs = Definitions(
        assets=[warehouse],
        asset_checks=[
            vault_secret_check(warehouse, database_roles=["dagster-etl"], run_duration=timedelta(hours=2)),
            vault_secret_check(warehouse, database_roles=["dagster-etl"], run_duration=timedelta(minutes=20),
                               name="short_run", severity="warn"),
        ],
        resources={"vault": VaultSecretsResource()},
    )
    checks, _ = run_checks(defs)
    long_run = checks["vault_secrets"]
    assert not long_run.passed
    assert "database role dagster-etl: its lease runs out in" in long_run.description
    assert long_run.metadata["database role dagster-etl"].value["kind"] == "dynamic"
    assert checks["short_run"].passed


def test_the_factory_refuses_nonsense():
    @asset
    def a() -> None:
        pass

    with pytest.raises(ValueError, match="at least one"):
        vault_secret_check(a)
    with pytest.raises(ValueError, match="severity"):
        vault_secret_check(a, secrets=["secret/x"], severity="fatal")
