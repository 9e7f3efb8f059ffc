"""vault_dagster: Dagster pipelines read their secrets from Vault / OpenBao at run time.

`VaultSecretsResource` runs one `vault-env serve --stdio` process and asks it for secrets over JSON lines, so
authentication (AppRole from the files `cargo xtask deploy` writes), TLS, token renewal and caching live in one
Rust implementation. Every value comes back wrapped in `Secret`, which prints as `[redacted]`. The vault-dagster
wheel carries the vault-env binary, so installing the package is all the setup there is.

`vault_secret_check` makes an asset check that fails when a secret an asset reads is overdue for rotation (the
state `secret-rotate` keeps) or a database credential would run out before a run ends.
"""

from vault_dagster.checks import vault_secret_check
from vault_dagster.client import (
    VaultEnvProcess,
    VaultSecretError,
    VaultSecretNotFound,
    VaultPermissionDenied,
    VaultUnavailable,
    find_vault_env,
)
from vault_dagster.resource import DatabaseCredentials, RotationStatus, VaultSecretsResource
from vault_dagster.secret import REDACTED, Secret

__all__ = [
    "REDACTED",
    "DatabaseCredentials",
    "RotationStatus",
    "Secret",
    "VaultEnvProcess",
    "VaultPermissionDenied",
    "VaultSecretError",
    "VaultSecretNotFound",
    "VaultSecretsResource",
    "VaultUnavailable",
    "find_vault_env",
    "vault_secret_check",
]
