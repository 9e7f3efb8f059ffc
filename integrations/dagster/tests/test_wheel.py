"""The wheel carries vault-env: built with maturin from this workspace, installed into a fresh venv (no
VAULT_ENV_BIN, no vault-env on PATH), a Dagster job with the resource's default config reads a secret.

The wheel is built once per test session (debug profile unless WHEEL_PROFILE=release, in the workspace's target
dir so cargo reuses what is compiled), or taken from VAULT_DAGSTER_WHEEL."""

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent.parent
DAGSTER_VERSION = os.environ.get("DAGSTER_VERSION", "1.13.29")


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    given = os.environ.get("VAULT_DAGSTER_WHEEL")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("wheels")
    profile = os.environ.get("WHEEL_PROFILE", "dev")
    command = [sys.executable, "-m", "maturin", "build", "--quiet", "--out", str(out), "--interpreter", sys.executable]
    command += ["--release"] if profile == "release" else ["--profile", profile]
    built = subprocess.run(command, cwd=HERE, capture_output=True, text=True)
    if built.returncode != 0:
        pytest.fail(f"maturin build failed:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}", pytrace=False)
    wheels = list(out.glob("vault_dagster-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="session")
def clean_venv(wheel, tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("clean") / "venv"
    base = getattr(sys, "_base_executable", None) or "python3"
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", f"{wheel}",
         f"dagster=={DAGSTER_VERSION}"],
        capture_output=True, text=True,
    )
    if installed.returncode != 0:
        pytest.fail(f"pip install of the wheel failed:\n{installed.stderr[-3000:]}", pytrace=False)
    return venv


def test_the_wheel_carries_the_binary_and_the_typed_package(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        binary = [n for n in names if n.endswith(".data/scripts/vault-env")]
        assert binary, names
        assert archive.getinfo(binary[0]).external_attr >> 16 & 0o111, "the binary is executable"
        assert "vault_dagster/py.typed" in names
        assert "vault_dagster/resource.py" in names
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "Provides-Extra: dev" in metadata and "dagster-webserver" in metadata
    # A platform wheel: the binary is for this machine, not "any".
    assert not wheel.name.endswith("-none-any.whl"), wheel.name


JOB = textwrap.dedent(
    """
    import json, os, sys
    from dagster import asset, materialize
    from vault_dagster import VaultSecretsResource, find_vault_env

    seen = {}

    @asset
    def reads_a_secret(vault: VaultSecretsResource) -> None:
        seen["value"] = vault.get_secret("secret/dagster/wheel", key="password").get_secret_value()

    result = materialize([reads_a_secret], resources={"vault": VaultSecretsResource()})
    print(json.dumps({"success": result.success, "value": seen.get("value"), "binary": find_vault_env(),
                      "prefix": sys.prefix}))
    """
)


def test_a_clean_venv_with_the_wheel_runs_a_job_with_default_config(bao, pipeline, clean_venv, tmp_path):
    bao.put_secret("dagster/wheel", {"password": "from-the-wheel"})
    env = {k: v for k, v in os.environ.items() if k not in ("VAULT_ENV_BIN", "PYTHONPATH")}
    # Nothing else could supply the binary: PATH holds only system folders.
    env["PATH"] = "/usr/bin:/bin"
    env["DAGSTER_HOME"] = str(tmp_path)
    ran = subprocess.run(
        [str(clean_venv / "bin" / "python"), "-c", JOB], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    answer = json.loads(ran.stdout.strip().splitlines()[-1])
    assert answer["success"] and answer["value"] == "from-the-wheel"
    assert answer["binary"] == str(clean_venv / "bin" / "vault-env"), answer
    assert "from-the-wheel" not in ran.stderr
