"""A Dagster run that spans a leader change: the resource talks to a standby of a three-node raft cluster, one
asset reads a secret at a steady pace for a few seconds while the active node is killed, the next asset reads
and lists after the election, and the run succeeds with the right values and no failed read. Then, with the
old leader back, a run that starts just after the new leader is killed: its vault-env logs in (a write only an
active node can take) during the election, and the run still succeeds."""

import os
import threading
import time

from dagster import AssetExecutionContext, EnvVar, asset, materialize

from vault_dagster import VaultSecretsResource
from vault_dagster.testing import wait_until

#: Reads the first asset makes, one every PACE seconds; the leader is killed a moment after the first.
READS = 40
PACE = 0.1


def test_an_asset_run_spans_a_leader_kill(cluster, tmp_path, monkeypatch, vault_env_bin, planted):
    # Set up on the active node, as deploy would: KV v2, a secret, the pipeline's AppRole.
    cluster.api("POST", "sys/mounts/secret", {"type": "kv", "options": {"version": "2"}})
    values = {"password": planted("pw"), "api_key": planted("key")}
    # A new KV v2 mount refuses writes for a moment while it sets itself up.
    wait_until(lambda: cluster.put_secret("dagster/app", values) is None, "a write into the new mount")
    creds = cluster.pipeline_approle(tmp_path / "approle")

    standby = cluster.standby()
    for key in list(os.environ):
        if key.startswith(("VAULT_", "BAO_")) and key != "VAULT_ENV_BIN":
            monkeypatch.delenv(key)
    monkeypatch.setenv("VAULT_ADDR", cluster.addrs[standby])
    monkeypatch.setenv("VAULT_CACERT", cluster.ca_cert)
    monkeypatch.setenv("VAULT_ROLE_ID_FILE", creds["role_id_file"])
    monkeypatch.setenv("VAULT_SECRET_ID_FILE", creds["secret_id_file"])
    monkeypatch.setenv("VAULT_ENV_BIN", vault_env_bin)

    def resource() -> VaultSecretsResource:
        # No cache: every read goes to the cluster.
        return VaultSecretsResource(
            vault_addr=EnvVar("VAULT_ADDR"),
            ca_cert=EnvVar("VAULT_CACERT"),
            role_id_file=EnvVar("VAULT_ROLE_ID_FILE"),
            secret_id_file=EnvVar("VAULT_SECRET_ID_FILE"),
            vault_env_bin=EnvVar("VAULT_ENV_BIN"),
            cache_ttl_seconds=0,
        )

    # The standby answers reads from its own copy, which trails the active node by a moment: wait until the
    # just-made role and secret work through it (in a real deployment they are older than any run).
    def works_through_the_standby() -> bool:
        probe = resource()
        try:
            return probe.get_secret("secret/dagster/app", key="password").reveal() == values["password"]
        except Exception:  # noqa: BLE001 - any failure here means "not yet"
            return False
        finally:
            probe.close()

    wait_until(works_through_the_standby, "the pipeline's first read through the standby")

    reading, killed = threading.Event(), threading.Event()
    kill_error, killed_nodes = [], []

    def kill_the_leader() -> None:
        try:
            if reading.wait(120):
                time.sleep(3 * PACE)
                killed_nodes.append(cluster.kill_leader())
                killed.set()
        except Exception as error:  # noqa: BLE001 - reported by the test below
            kill_error.append(error)

    @asset
    def spans_the_kill(context: AssetExecutionContext, vault: VaultSecretsResource) -> int:
        """Reads at a steady pace; returns how many reads were made after the kill."""
        after = 0
        for n in range(READS):
            reading.set()
            value = vault.get_secret("secret/dagster/app", key="password").reveal()
            assert value == values["password"], f"read {n} gave a wrong value"
            after += killed.is_set()
            time.sleep(PACE)
        return after

    @asset
    def after_the_election(vault: VaultSecretsResource, spans_the_kill: int) -> int:
        assert vault.get_secret("secret/dagster/app", key="api_key").reveal() == values["api_key"]
        assert vault.list_secrets("secret/dagster") == ["app"]
        return spans_the_kill

    killer = threading.Thread(target=kill_the_leader, daemon=True)
    killer.start()
    started = time.monotonic()
    result = materialize([spans_the_kill, after_the_election], resources={"vault": resource()}, raise_on_error=False)
    took = time.monotonic() - started
    reading.set()
    killer.join(timeout=120)

    assert not kill_error, kill_error
    assert killed.is_set(), "the leader was never killed"
    assert result.success, [event.message for event in result.all_events if event.is_failure]
    reads_after = result.output_for_node("after_the_election")
    assert reads_after >= 1, "the run ended before the kill: it did not span it"
    print(f"run of {READS} reads took {took:.1f} s; {reads_after} after the kill")

    # The old leader comes back; a run then starts right after the new leader is killed, so its vault-env logs
    # in while no node is active.
    cluster.command(f"restart {killed_nodes[0]}")
    cluster.wait_for_leader()
    monkeypatch.setenv("VAULT_ADDR", cluster.addrs[cluster.standby()])
    wait_until(works_through_the_standby, "the first read through the other standby")

    @asset
    def starts_in_the_election(vault: VaultSecretsResource) -> None:
        assert vault.get_secret("secret/dagster/app", key="password").reveal() == values["password"]
        assert vault.get_secret("secret/dagster/app", key="api_key").reveal() == values["api_key"]

    cluster.kill_leader()
    started = time.monotonic()
    result = materialize([starts_in_the_election], resources={"vault": resource()}, raise_on_error=False)
    assert result.success, [event.message for event in result.all_events if event.is_failure]
    print(f"a run started during the election took {time.monotonic() - started:.1f} s")
