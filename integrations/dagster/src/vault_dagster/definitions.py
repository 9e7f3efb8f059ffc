"""An example: the `vault_example` asset reading secrets through `VaultSecretsResource`, an asset check that
fails when that secret is overdue for rotation, and `defs`.

Run it with `dagster dev -m vault_dagster.definitions` (install `vault-dagster[dev]` for the web UI) after
pointing the environment at a server: VAULT_ADDR, VAULT_CACERT (for TLS), VAULT_ROLE_ID_FILE and
VAULT_SECRET_ID_FILE (the files `cargo xtask deploy` writes to approle/dagster/). The vault-env binary comes with
the wheel; VAULT_ENV_BIN overrides it.
"""

import os

from dagster import AssetExecutionContext, Definitions, EnvVar, MaterializeResult, asset

from vault_dagster.checks import vault_secret_check
from vault_dagster.resource import VaultSecretsResource

#: The secret the example reads; any secret the pipeline's policy allows will do.
EXAMPLE_PATH = os.environ.get("VAULT_EXAMPLE_PATH", "secret/dagster/example")


@asset(description="Reads a secret from Vault at run time and records which keys arrived (never their values).")
def vault_example(context: AssetExecutionContext, vault: VaultSecretsResource) -> MaterializeResult:
    health = vault.health_check()
    secret = vault.get_secret(EXAMPLE_PATH)
    # A Secret prints as [redacted], so even this line is safe in the run's logs.
    context.log.info(f"read {len(secret)} keys from {EXAMPLE_PATH}: {secret}")
    return MaterializeResult(
        metadata={
            "path": EXAMPLE_PATH,
            "keys": sorted(secret),
            "vault_version": str(health.get("version")),
        }
    )


def _resource() -> VaultSecretsResource:
    # Only settings that are present become EnvVars: Dagster fails on an EnvVar that is not set.
    optional = {
        "vault_addr": "VAULT_ADDR",
        "ca_cert": "VAULT_CACERT",
        "role_id": "VAULT_ROLE_ID",
        "role_id_file": "VAULT_ROLE_ID_FILE",
        "secret_id_file": "VAULT_SECRET_ID_FILE",
    }
    config = {field: EnvVar(var) for field, var in optional.items() if os.environ.get(var)}
    return VaultSecretsResource(**config)


#: Fails (in the UI, after each materialisation or on demand) when the example secret is overdue for rotation.
vault_example_rotation = vault_secret_check(vault_example, secrets=[EXAMPLE_PATH])

defs = Definitions(assets=[vault_example], asset_checks=[vault_example_rotation], resources={"vault": _resource()})
