"""An example: the `vault_example` asset reading secrets through `VaultSecretsResource`, and `defs`.

Run it with `dagster dev -m vault_dagster.definitions` after pointing the environment at a server:
VAULT_ADDR, VAULT_CACERT (for TLS), VAULT_ROLE_ID_FILE and VAULT_SECRET_ID_FILE (the files `cargo xtask deploy`
writes to approle/dagster/), and VAULT_ENV_BIN when vault-env is not on PATH.
"""

import os

from dagster import AssetExecutionContext, Definitions, EnvVar, MaterializeResult, asset

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
        "vault_env_bin": "VAULT_ENV_BIN",
    }
    config = {field: EnvVar(var) for field, var in optional.items() if os.environ.get(var)}
    return VaultSecretsResource(**config)


defs = Definitions(assets=[vault_example], resources={"vault": _resource()})
