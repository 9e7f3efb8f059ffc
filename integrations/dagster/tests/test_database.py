"""Database credentials through the resource, with real Dagster, OpenBao's postgresql-database-plugin and a
real PostgreSQL: the asset logs in with them, the password appears nowhere in the run's records, and the
database user is dropped when the resource's token is revoked at teardown."""

import time

from dagster import DagsterInstance, EnvVar, asset, materialize
from dagster._serdes import serialize_value

from vault_dagster import VaultSecretsResource
from vault_dagster.testing import database_engine


def test_an_asset_logs_in_with_dynamic_credentials(bao, pipeline, pg, capfd):
    database_engine(bao, pg)
    seen = {}

    @asset
    def warehouse_rows(context, vault: VaultSecretsResource) -> None:
        creds = vault.get_database_credentials("dagster-etl")
        context.log.info(f"connecting as {creds.username} with {creds.password} ({creds})")
        seen["user"] = creds.username
        seen["password"] = creds.password.reveal()
        seen["lease"] = (creds.kind, creds.lease_id, creds.lease_duration)
        seen["current_user"] = pg.login_as(creds.username, creds.password.reveal())

    instance = DagsterInstance.ephemeral()
    resource = VaultSecretsResource(
        vault_addr=EnvVar("VAULT_ADDR"),
        role_id_file=EnvVar("VAULT_ROLE_ID_FILE"),
        secret_id_file=EnvVar("VAULT_SECRET_ID_FILE"),
        vault_env_bin=EnvVar("VAULT_ENV_BIN"),
    )
    result = materialize([warehouse_rows], resources={"vault": resource}, instance=instance)
    assert result.success
    assert seen["current_user"] == seen["user"], "the credentials work"
    kind, lease_id, duration = seen["lease"]
    assert kind == "dynamic" and lease_id.startswith("database/creds/dagster-etl/") and 3500 <= duration <= 3600

    recorded = "\n".join(
        [repr(e) + serialize_value(e) for e in result.all_events]
        + [repr(e) + serialize_value(e) for e in instance.all_logs(result.run_id)]
    )
    captured = capfd.readouterr()
    assert seen["password"] not in recorded + captured.out + captured.err
    assert seen["user"] in recorded, "the user name is not secret and shows in the log line"

    # Teardown stopped vault-env, which revoked its token and with it the lease: the user goes away.
    deadline = time.monotonic() + 10
    while pg.psql(f"select count(*) from pg_roles where rolname = '{seen['user']}'") != "0":
        assert time.monotonic() < deadline, "the dynamic user must be dropped after the run"
        time.sleep(0.1)
