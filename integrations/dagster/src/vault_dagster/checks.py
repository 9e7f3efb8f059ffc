"""Asset checks that show in Dagster when a secret an asset reads is overdue for rotation, or when a database
credential it uses would run out before a run ends.

    from datetime import timedelta
    from vault_dagster import vault_secret_check

    orders_secrets = vault_secret_check(
        orders,
        secrets=["secret/dagster/api-keys"],
        database_roles=["dagster-etl"],
        run_duration=timedelta(hours=2),
    )
    defs = Definitions(assets=[orders], asset_checks=[orders_secrets], resources={"vault": VaultSecretsResource()})

The check fails (severity ERROR, or WARN with `severity="warn"`) when
- a KV secret's `rotation_next_due` (written by `secret-rotate`) is in the past, or
- a database role's credentials have less time left than `run_duration`: for a static role, the time until the
  engine rotates its password; for a dynamic role, the lease a new credential gets.

Checking a dynamic role issues one credential (a new database user), which is revoked with the resource's token
when the check's step ends.
"""

from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Sequence, Union

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    AssetKey,
    AssetsDefinition,
    MetadataValue,
    asset_check,
)

from vault_dagster.client import VaultSecretError

CHECK_NAME = "vault_secrets"


def vault_secret_check(
    asset: Union[AssetsDefinition, AssetKey, str, Sequence[str]],
    *,
    secrets: Sequence[str] = (),
    database_roles: Sequence[str] = (),
    run_duration: timedelta = timedelta(hours=1),
    resource_key: str = "vault",
    name: str = CHECK_NAME,
    severity: str = "error",
    blocking: bool = False,
) -> AssetChecksDefinition:
    """An asset check on `asset` that fails when a secret it reads is overdue for rotation or a database
    credential it uses runs out within `run_duration`. It reads through the `VaultSecretsResource` at
    `resource_key`; the check's metadata lists each secret's due date and each role's time left."""
    if not secrets and not database_roles:
        raise ValueError("vault_secret_check needs at least one secret path or database role")
    level = {"error": AssetCheckSeverity.ERROR, "warn": AssetCheckSeverity.WARN}.get(severity)
    if level is None:
        raise ValueError(f"severity must be 'error' or 'warn', not {severity!r}")
    key = asset if isinstance(asset, AssetsDefinition) else AssetKey.from_coercible(asset)
    paths, roles = list(secrets), list(database_roles)
    description = "Fails when a secret this asset reads is overdue for rotation ({}) or a database credential has " \
        "less than {} left ({}).".format(", ".join(paths) or "none", run_duration, ", ".join(roles) or "none")

    @asset_check(
        asset=key,
        name=name,
        description=description,
        required_resource_keys={resource_key},
        blocking=blocking,
    )
    def _check(context: AssetCheckExecutionContext) -> AssetCheckResult:
        vault = getattr(context.resources, resource_key)
        return evaluate(vault, paths, roles, run_duration, level)

    return _check


def evaluate(
    vault: Any,
    paths: Sequence[str],
    roles: Sequence[str],
    run_duration: timedelta,
    severity: AssetCheckSeverity = AssetCheckSeverity.ERROR,
) -> AssetCheckResult:
    """The check's logic, usable without Dagster's machinery: one `AssetCheckResult` for all `paths` and `roles`."""
    now = datetime.now(timezone.utc)
    problems: List[str] = []
    metadata: Dict[str, Any] = {}
    for path in paths:
        try:
            status = vault.rotation_status(path)
        except VaultSecretError as error:
            problems.append(f"{path}: {error}")
            continue
        if not status.managed:
            metadata[path] = "not rotated by secret-rotate"
            continue
        due = status.next_due.isoformat() if status.next_due else "unknown"
        metadata[path] = MetadataValue.json({
            "next_due": due,
            "last_rotated": status.last_rotated.isoformat() if status.last_rotated else None,
            "verified_version": status.verified_version,
            "version": status.version,
            "result": status.result,
        })
        if status.overdue(now):
            problems.append(f"{path}: rotation overdue since {due}")
    for role in roles:
        try:
            creds = vault.get_database_credentials(role)
        except VaultSecretError as error:
            problems.append(f"database role {role}: {error}")
            continue
        left = timedelta(seconds=creds.ttl or creds.lease_duration)
        metadata[f"database role {role}"] = MetadataValue.json({
            "kind": creds.kind,
            "seconds_left": int(left.total_seconds()),
            "run_duration_seconds": int(run_duration.total_seconds()),
        })
        if left < run_duration:
            what = "its password rotates" if creds.kind == "static" else "its lease runs out"
            problems.append(f"database role {role}: {what} in {left}, before a run of {run_duration} would end")
    return AssetCheckResult(
        passed=not problems,
        severity=severity,
        description="; ".join(problems) if problems else "every secret is within its rotation schedule",
        metadata=metadata,
    )
