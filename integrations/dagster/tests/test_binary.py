"""Which vault-env the resource runs: `vault_env_bin`, else VAULT_ENV_BIN, else the one the wheel installed into
this environment's scripts folder, else vault-env on PATH."""

import os
import sysconfig

from vault_dagster import find_vault_env


def executable(path):
    path.write_text("#!/bin/sh\n")
    os.chmod(path, 0o755)
    return str(path)


def test_the_order_of_places(tmp_path, monkeypatch):
    scripts = tmp_path / "scripts"
    on_path = tmp_path / "path"
    scripts.mkdir()
    on_path.mkdir()
    wheel_binary = executable(scripts / "vault-env")
    path_binary = executable(on_path / "vault-env")
    real_get_path = sysconfig.get_path
    monkeypatch.setattr(sysconfig, "get_path", lambda name, *a: str(scripts) if name == "scripts" else real_get_path(name, *a))
    monkeypatch.setenv("PATH", str(on_path))
    monkeypatch.setenv("VAULT_ENV_BIN", "/opt/from-env/vault-env")

    assert find_vault_env("/opt/configured/vault-env") == "/opt/configured/vault-env"
    assert find_vault_env(None) == "/opt/from-env/vault-env"
    monkeypatch.delenv("VAULT_ENV_BIN")
    assert find_vault_env(None) == wheel_binary, "the wheel's binary beside python"
    os.remove(wheel_binary)
    assert find_vault_env(None) == path_binary
    os.remove(path_binary)
    assert find_vault_env(None) == "vault-env", "not found: the name, and starting it says what to do"
