"""Test helpers: a real OpenBao dev server on a free loopback port, and a pipeline AppRole like the one
`cargo xtask deploy` creates. Used by this package's tests and benchmark; handy for testing your own assets.
"""

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Optional

ROOT_TOKEN = "root"

#: Read-only access to secret/dagster/* and the dagster-* database roles, as the shipped dagster-secrets policy.
PIPELINE_POLICY = """
path "secret/data/dagster/*" { capabilities = ["read"] }
path "secret/metadata/dagster/*" { capabilities = ["list"] }
path "database/creds/dagster-*" { capabilities = ["read"] }
path "database/static-creds/dagster-*" { capabilities = ["read"] }
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OpenBaoDevServer:
    """`bao server -dev` on a free port; a context manager that stops it on exit."""

    def __init__(self, bao_bin: str) -> None:
        self.bao_bin = bao_bin
        self.port = _free_port()
        self.addr = f"http://127.0.0.1:{self.port}"
        self._dir = tempfile.TemporaryDirectory(prefix="bao-dev-")
        self._proc: Optional[subprocess.Popen] = None

    def __enter__(self) -> "OpenBaoDevServer":
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env["HOME"] = self._dir.name
        log = open(Path(self._dir.name) / "server.log", "wb")
        self._proc = subprocess.Popen(
            [
                self.bao_bin,
                "server",
                "-dev",
                f"-dev-root-token-id={ROOT_TOKEN}",
                f"-dev-listen-address=127.0.0.1:{self.port}",
                "-dev-no-store-token",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self._dir.name,
        )
        log.close()
        deadline = time.monotonic() + 15
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"OpenBao exited at start: {self.log()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.addr}/v1/sys/health", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError("OpenBao did not become healthy within 15 s")
            time.sleep(0.05)

    def __exit__(self, *exc: Any) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._dir.cleanup()

    def log(self) -> str:
        try:
            return (Path(self._dir.name) / "server.log").read_text(errors="replace")
        except OSError:
            return ""

    def api(self, method: str, path: str, body: Optional[Dict[str, Any]] = None, token: str = ROOT_TOKEN) -> Any:
        """Calls the HTTP API as root; returns the JSON answer (None when empty)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.addr}/v1/{path}", data=data, method=method)
        request.add_header("X-Vault-Token", token)
        with urllib.request.urlopen(request, timeout=10) as answer:
            text = answer.read()
        return json.loads(text) if text else None

    def put_secret(self, path: str, data: Dict[str, str]) -> None:
        """Writes a KV v2 secret at `secret/<path>` (path given without the mount)."""
        self.api("POST", f"secret/data/{path}", {"data": data})

    def pipeline_approle(self, directory: Path, policy: str = PIPELINE_POLICY) -> Dict[str, str]:
        """Creates AppRole role `dagster` with `policy` and writes `role-id` and `secret-id` files into
        `directory`, as `cargo xtask deploy` does. Returns their paths and the secret_id (to look for leaks)."""
        self.api("POST", "sys/auth/approle", {"type": "approle"})
        self.api("PUT", "sys/policies/acl/dagster-secrets", {"policy": policy})
        self.api("POST", "auth/approle/role/dagster", {"token_policies": ["dagster-secrets"], "token_ttl": "1h"})
        role_id = self.api("GET", "auth/approle/role/dagster/role-id")["data"]["role_id"]
        secret_id = self.api("POST", "auth/approle/role/dagster/secret-id")["data"]["secret_id"]
        directory.mkdir(parents=True, exist_ok=True)
        role_file, secret_file = directory / "role-id", directory / "secret-id"
        role_file.write_text(role_id + "\n")
        secret_file.write_text(secret_id + "\n")
        os.chmod(secret_file, 0o600)
        return {"role_id_file": str(role_file), "secret_id_file": str(secret_file), "secret_id": secret_id}

    def seal(self) -> None:
        self.api("PUT", "sys/seal")


def postgres_bin_dir() -> Path:
    """PostgreSQL's programs: PG_BIN_DIR, else the newest /usr/lib/postgresql/*/bin (Debian's layout)."""
    if os.environ.get("PG_BIN_DIR"):
        return Path(os.environ["PG_BIN_DIR"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql, or set PG_BIN_DIR")
    return found[-1].parent


class PostgresServer:
    """A throwaway PostgreSQL on a free loopback port with superuser `vaultadmin` (for OpenBao's database engine).

    Runs as the `postgres` user when the tests run as root (PostgreSQL refuses root)."""

    SUPERUSER = "vaultadmin"

    def __init__(self) -> None:
        import secrets as pysecrets

        self.bin = postgres_bin_dir()
        self.port = _free_port()
        self.password = pysecrets.token_urlsafe(18)
        self._dir = tempfile.TemporaryDirectory(prefix="pg-")
        self._proc: Optional[subprocess.Popen] = None
        self._as_postgres = os.geteuid() == 0

    def _cmd(self, program: str, *args: str) -> list:
        argv = [str(self.bin / program), *args]
        return ["runuser", "-u", "postgres", "--", *argv] if self._as_postgres else argv

    def __enter__(self) -> "PostgresServer":
        d = self._dir.name
        if self._as_postgres:
            import pwd

            user = pwd.getpwnam("postgres")
            os.chown(d, user.pw_uid, user.pw_gid)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        subprocess.run(
            self._cmd("initdb", "--pgdata", f"{d}/data", "--username=postgres", "--auth-local=trust",
                      "--auth-host=scram-sha-256", "--no-sync", "--no-instructions"),
            check=True, capture_output=True, env=env, cwd=d,
        )
        log = open(f"{d}/server.log", "wb")
        self._proc = subprocess.Popen(
            self._cmd("postgres", "-D", f"{d}/data", "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
                      "-k", d, "-c", "fsync=off"),
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=d,
        )
        log.close()
        deadline = time.monotonic() + 30
        while subprocess.run(
            [str(self.bin / "pg_isready"), "--host", d, "--port", str(self.port), "--dbname=postgres"],
            capture_output=True, env=env,
        ).returncode != 0:
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError("PostgreSQL did not start")
            time.sleep(0.1)
        self.psql(f"CREATE ROLE {self.SUPERUSER} WITH LOGIN SUPERUSER PASSWORD '{self.password}'")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._dir.cleanup()

    def psql(self, sql: str) -> str:
        """Runs SQL as the bootstrap superuser over the socket; returns tuples-only output."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        out = subprocess.run(
            [str(self.bin / "psql"), "--no-psqlrc", "-qAt", "-v", "ON_ERROR_STOP=1", "--host", self._dir.name,
             "--port", str(self.port), "--username", "postgres", "--dbname=postgres", "--command", sql],
            check=True, capture_output=True, env=env, text=True,
        )
        return out.stdout.strip()

    def login_as(self, user: str, password: str) -> str:
        """Logs in over TCP with a password (as a pipeline would) and returns `current_user`."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGPASSWORD"] = password
        out = subprocess.run(
            [str(self.bin / "psql"), "--no-psqlrc", "-qAt", "-h", "127.0.0.1", "-p", str(self.port), "-U", user,
             "-d", "postgres", "-c", "select current_user"],
            check=True, capture_output=True, env=env, text=True,
        )
        return out.stdout.strip()


def database_engine(bao: OpenBaoDevServer, pg: PostgresServer, role: str = "dagster-etl") -> None:
    """Mounts the database secrets engine at `database/`, connected to `pg`, with a dynamic role `role`."""
    bao.api("POST", "sys/mounts/database", {"type": "database"})
    bao.api("POST", "database/config/pg", {
        "plugin_name": "postgresql-database-plugin",
        "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{pg.port}/postgres?sslmode=disable",
        "username": pg.SUPERUSER,
        "password": pg.password,
        "allowed_roles": "*",
    })
    bao.api("POST", f"database/roles/{role}", {
        "db_name": "pg",
        "creation_statements": [
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
        ],
        "default_ttl": "1h",
    })
