"""`VaultSecretsResource`: the Dagster resource pipelines use to read secrets at run time.

Configure it through `EnvVar` so nothing secret sits in code or in the Dagster UI:

    VaultSecretsResource(
        vault_addr=EnvVar("VAULT_ADDR"),
        ca_cert=EnvVar("VAULT_CACERT"),
        role_id_file=EnvVar("VAULT_ROLE_ID_FILE"),
        secret_id_file=EnvVar("VAULT_SECRET_ID_FILE"),
    )

There is deliberately no field for a secret_id or a token value: only for files that hold them. The vault-env
binary is the one the vault-dagster wheel installed into the environment (`vault_env_bin` or `VAULT_ENV_BIN`
override it).
"""

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, Optional, Union

from dagster import ConfigurableResource, EnvVar, InitResourceContext
from pydantic import Field, PrivateAttr

from vault_dagster.client import VaultEnvProcess, VaultSecretError, build_argv, find_vault_env
from vault_dagster.secret import Secret


@dataclass(frozen=True)
class DatabaseCredentials:
    """Credentials from the database secrets engine. The password prints as `[redacted]`.

    A dynamic role's lease belongs to the resource's token: it ends when the resource is torn down (the token is
    revoked) or when the token's TTL runs out, whichever comes first.
    """

    username: str
    password: Secret
    path: str
    kind: str
    lease_id: str
    lease_duration: int
    renewable: bool
    ttl: int


#: Versions secret-rotate records as good to use (see crates/secret-rotate/src/state.rs).
_VERIFIED = ("verified", "accepted")


def _time(text: Optional[str]) -> Optional[datetime]:
    """An RFC 3339 time from metadata, or None when absent or malformed (Python 3.10 does not read `Z`)."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class RotationStatus:
    """A secret's rotation state, as `secret-rotate` keeps it in the secret's KV v2 custom metadata.

    A secret that secret-rotate does not manage has `managed` False and no dates. `next_due` is when the next
    rotation is due, `last_rotated` when the last one succeeded, `verified_version` the newest version that passed
    verification (or was accepted by a policy without verification), `version` the secret's current version.
    """

    path: str
    version: int
    managed: bool
    strategy: Optional[str] = None
    result: Optional[str] = None
    last_rotated: Optional[datetime] = None
    next_due: Optional[datetime] = None
    verified_version: Optional[int] = None
    pending_version: Optional[int] = None
    last_failure: Optional[datetime] = None
    error: Optional[str] = None
    versions: Mapping[int, str] = field(default_factory=dict)

    def overdue(self, at: Optional[datetime] = None) -> bool:
        """Whether the next rotation was due before `at` (now when not given)."""
        return self.next_due is not None and self.next_due <= (at or datetime.now(timezone.utc))

    @classmethod
    def from_protocol(cls, value: Mapping[str, Any]) -> "RotationStatus":
        """Builds the status from vault-env's `rotation_status` answer (the raw `rotation_*` keys)."""
        meta: Mapping[str, str] = value.get("rotation") or {}
        versions: Dict[int, str] = {}
        for pair in meta.get("rotation_versions", "").split():
            number, _, status = pair.partition(":")
            if number.isdigit() and status:
                versions[int(number)] = status
        current = meta.get("rotation_current_version", "")
        verified = [v for v, status in versions.items() if status in _VERIFIED]
        if current.isdigit():
            verified.append(int(current))
        pending = meta.get("rotation_pending_version", "")
        return cls(
            path=value["path"],
            version=int(value["version"]),
            managed=bool(meta),
            strategy=meta.get("rotation_strategy"),
            result=meta.get("rotation_result"),
            last_rotated=_time(meta.get("rotation_last")),
            next_due=_time(meta.get("rotation_next_due")),
            verified_version=max(verified) if verified else None,
            pending_version=int(pending) if pending.isdigit() else None,
            last_failure=_time(meta.get("rotation_last_failure")),
            error=meta.get("rotation_error"),
            versions=versions,
        )


class VaultSecretsResource(ConfigurableResource):
    """Reads secrets from Vault / OpenBao through one `vault-env serve --stdio` process.

    Authenticates with AppRole (role_id, or a role_id file, and a secret_id file — what `cargo xtask deploy`
    writes), or with a token file. Reads are cached by vault-env for `cache_ttl_seconds`. Every value is returned
    as a `Secret`.
    """

    vault_addr: Optional[str] = Field(default=None, description="Vault address; VAULT_ADDR when unset")
    ca_cert: Optional[str] = Field(default=None, description="CA certificate file (PEM) to trust")
    role_id: Optional[str] = Field(default=None, description="AppRole role_id (use EnvVar('VAULT_ROLE_ID'))")
    role_id_file: Optional[str] = Field(default=None, description="File holding the AppRole role_id")
    secret_id_file: Optional[str] = Field(default=None, description="File holding the AppRole secret_id")
    token_file: Optional[str] = Field(default=None, description="File holding a token (instead of AppRole)")
    vault_env_bin: Optional[str] = Field(
        default=None,
        description="The vault-env binary (a path, or a name on PATH); by default VAULT_ENV_BIN, else the one the "
        "vault-dagster wheel installed beside this Python, else vault-env on PATH",
    )
    cache_ttl_seconds: int = Field(default=60, description="How long vault-env caches a read; 0 turns caching off")
    api_key_path: str = Field(
        default="secret/dagster/api-keys", description="The secret whose keys get_api_key(name) reads"
    )
    database_mount: str = Field(default="database", description="The database secrets engine's mount")
    request_timeout_seconds: float = Field(default=30.0, description="Time allowed for one answer")

    _process: Optional[VaultEnvProcess] = PrivateAttr(default=None)

    # Dagster's lifecycle: start vault-env when a run (or step process) begins, stop it (revoking the token) at
    # the end. Used outside Dagster, the process starts on the first call; call close() when done.
    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._client()

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        self.close()

    def close(self) -> None:
        """Stops vault-env, which revokes its token (and with it any dynamic database credentials)."""
        if self._process is not None:
            self._process.close()
            self._process = None

    def get_secret(self, path: str, key: Optional[str] = None) -> Union[Secret, Dict[str, Secret]]:
        """One key's value as a `Secret`, or with no key the whole secret as `{key: Secret}`."""
        value = self._client().request("get", path=path, key=key)  # a None key is left out of the request
        if key is not None:
            return Secret(value)
        return {k: Secret(v) for k, v in value.items()}

    def get_database_credentials(self, role_or_path: str) -> DatabaseCredentials:
        """Credentials for a database role: a name (`dagster-etl`, dynamic tried before static) or a path
        (`database/creds/ROLE`, `database/static-creds/ROLE`)."""
        value = self._client().request("db_creds", role=role_or_path, mount=self.database_mount)
        return DatabaseCredentials(
            username=value["username"],
            password=Secret(value["password"]),
            path=value["path"],
            kind=value["kind"],
            lease_id=value["lease_id"],
            lease_duration=int(value["lease_duration"]),
            renewable=bool(value["renewable"]),
            ttl=int(value["ttl"]),
        )

    def get_api_key(self, name: str) -> Secret:
        """The API key `name`: key `name` of the secret at `api_key_path`."""
        value = self.get_secret(self.api_key_path, key=name)
        assert isinstance(value, Secret)
        return value

    def list_secrets(self, prefix: str, recursive: bool = False) -> List[str]:
        """Names under a folder (sub-folders end with `/`); with `recursive`, every secret below it."""
        return list(self._client().request("list", path=prefix, recursive=recursive))

    def rotation_status(self, path: str) -> RotationStatus:
        """When the secret at `path` was last rotated, when the next rotation is due and which version was last
        verified, from the state `secret-rotate` keeps in its custom metadata. Needs only read access to the
        secret (KV v2 returns its custom metadata with every read); cached like `get_secret`."""
        return RotationStatus.from_protocol(self._client().request("rotation_status", path=path))

    def health_check(self) -> Dict[str, Any]:
        """The server's state: `healthy`, `sealed`, `initialized`, `standby`, `state`, `version`, `address`.

        Never raises for an unhealthy server: an unreachable one gives `healthy: False` with an `error`.
        """
        try:
            return dict(self._client().request("health"))
        except VaultSecretError as error:
            return {"healthy": False, "sealed": None, "state": error.kind, "error": error.message}

    def cache_stats(self) -> Dict[str, Any]:
        """vault-env's cache counters (`hits`, `misses`, `entries`), or None when caching is off."""
        return self._client().request("stats")["cache"]

    def _client(self) -> VaultEnvProcess:
        # Pydantic serves `self._process` through a Python-level __getattr__ that costs as much as the pipe
        # round trip of a cached read; the private dict behind it is a plain lookup.
        process = self.__pydantic_private__.get("_process")
        if process is not None:
            return process
        if self._process is None:
            flags = {
                "--address": _resolved(self.vault_addr),
                "--ca-cert": _resolved(self.ca_cert),
                "--role-id-file": _resolved(self.role_id_file),
                "--secret-id-file": _resolved(self.secret_id_file),
                "--token-file": _resolved(self.token_file),
            }
            env = dict(os.environ)
            role_id = _resolved(self.role_id)
            if role_id:
                # Through the environment rather than argv, where `ps` would show it. BAO_ROLE_ID would win.
                env.pop("BAO_ROLE_ID", None)
                env["VAULT_ROLE_ID"] = role_id
            binary = find_vault_env(_resolved(self.vault_env_bin))
            argv = build_argv(binary, flags, ["--cache-ttl", str(int(self.cache_ttl_seconds))])
            self._process = VaultEnvProcess(argv, env, timeout=self.request_timeout_seconds)
        return self._process


def _resolved(value: Optional[str]) -> Optional[str]:
    """A field's value. Dagster resolves `EnvVar` fields when it builds the resource for a run; a resource made
    and called directly (scripts, tests, notebooks) still holds the `EnvVar`, so read the variable here."""
    if isinstance(value, EnvVar):
        return value.get_value()
    return value
