"""vault_dagster: Dagster pipelines read their secrets from Vault / OpenBao at run time.

`VaultSecretsResource` runs one `vault-env serve --stdio` process and asks it for secrets over JSON lines, so
authentication (AppRole from the files `cargo xtask deploy` writes), TLS, token renewal and caching live in one
Rust implementation. Every value comes back wrapped in `Secret`, which prints as `[redacted]`.
"""

from vault_dagster.client import (
    VaultEnvProcess,
    VaultSecretError,
    VaultSecretNotFound,
    VaultPermissionDenied,
    VaultUnavailable,
)
from vault_dagster.resource import DatabaseCredentials, VaultSecretsResource
from vault_dagster.secret import REDACTED, Secret

__all__ = [
    "REDACTED",
    "DatabaseCredentials",
    "Secret",
    "VaultEnvProcess",
    "VaultPermissionDenied",
    "VaultSecretError",
    "VaultSecretNotFound",
    "VaultSecretsResource",
    "VaultUnavailable",
]
