"""Test helpers: a real OpenBao dev server on a free loopback port, a three-node raft cluster whose leader can be
killed (started by the `vault-testkit cluster` binary the Rust tests share), and a pipeline AppRole like the one
`cargo xtask deploy` creates. Used by this package's tests and benchmark; handy for testing your own assets.
"""

import json
import os
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

ROOT_TOKEN = "root"

#: Read-only access to secret/dagster/* and the dagster-* database roles, as the shipped dagster-secrets policy.
PIPELINE_POLICY = """
path "secret/data/dagster/*" { capabilities = ["read"] }
path "secret/metadata/dagster/*" { capabilities = ["list"] }
path "database/creds/dagster-*" { capabilities = ["read"] }
path "database/static-creds/dagster-*" { capabilities = ["read"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/renew-self" { capabilities = ["update"] }
path "auth/token/revoke-self" { capabilities = ["update"] }
path "sys/capabilities-self" { capabilities = ["update"] }
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Admin:
    """Root calls on a server at `addr`: what a test sets up before the path under test runs."""

    addr: str
    root_token: str = ROOT_TOKEN

    def _tls(self) -> Optional[ssl.SSLContext]:
        return None

    def api(self, method: str, path: str, body: Optional[Dict[str, Any]] = None, token: Optional[str] = None) -> Any:
        """Calls the HTTP API as root; returns the JSON answer (None when empty)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.addr}/v1/{path}", data=data, method=method)
        request.add_header("X-Vault-Token", token or self.root_token)
        with urllib.request.urlopen(request, timeout=10, context=self._tls()) as answer:
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
        # As deploy makes it: the token holds only its policy, not `default`.
        self.api(
            "POST",
            "auth/approle/role/dagster",
            {"token_policies": ["dagster-secrets"], "token_ttl": "1h", "token_no_default_policy": True},
        )
        role_id = self.api("GET", "auth/approle/role/dagster/role-id")["data"]["role_id"]
        secret_id = self.api("POST", "auth/approle/role/dagster/secret-id")["data"]["secret_id"]
        directory.mkdir(parents=True, exist_ok=True)
        role_file, secret_file = directory / "role-id", directory / "secret-id"
        role_file.write_text(role_id + "\n")
        secret_file.write_text(secret_id + "\n")
        os.chmod(secret_file, 0o600)
        return {"role_id_file": str(role_file), "secret_id_file": str(secret_file), "secret_id": secret_id}


class OpenBaoDevServer(_Admin):
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

    def seal(self) -> None:
        self.api("PUT", "sys/seal")


class OpenBaoCluster(_Admin):
    """A raft cluster of TLS nodes (three by default) run by `vault-testkit cluster`; a context manager that stops
    every node on exit. `addr` is the active node's address at start (root set-up calls go there); `addrs` are
    all nodes'; `kill_leader()` kills the active node (SIGKILL) and `wait_for_leader()` waits for a new one."""

    def __init__(self, testkit_bin: str, nodes: int = 3) -> None:
        self.testkit_bin = testkit_bin
        self.nodes = nodes
        self._proc: Optional[subprocess.Popen] = None
        self._log = tempfile.TemporaryFile()

    def __enter__(self) -> "OpenBaoCluster":
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        self._proc = subprocess.Popen(
            [self.testkit_bin, "cluster", str(self.nodes)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            text=True,
        )
        first = self._answer()
        if first.get("type") != "cluster":
            self.__exit__(None, None, None)
            raise RuntimeError(f"vault-testkit cluster did not start: {first}")
        self.addrs: List[str] = [n["addr"] for n in first["nodes"]]
        self.leader: int = first["leader"] if first["leader"] is not None else self.wait_for_leader()
        self.addr = self.addrs[self.leader]
        self.ca_cert: str = first["ca_cert"]
        self.root_token = first["root_token"]
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._proc is not None and self._proc.poll() is None:
            # End of input stops every node; the command then exits.
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()

    def _tls(self) -> Optional[ssl.SSLContext]:
        return ssl.create_default_context(cafile=self.ca_cert)

    def _answer(self) -> Dict[str, Any]:
        line = self._proc.stdout.readline()
        if not line:
            self._log.seek(0)
            raise RuntimeError(f"vault-testkit cluster stopped: {self._log.read().decode(errors='replace')[-2000:]}")
        return json.loads(line)

    def command(self, text: str) -> Dict[str, Any]:
        """Sends one command (see `vault-testkit cluster`) and returns its answer; raises on an error answer."""
        self._proc.stdin.write(text + "\n")
        self._proc.stdin.flush()
        answer = self._answer()
        if "error" in answer:
            raise RuntimeError(f"vault-testkit cluster: {text}: {answer['error']}")
        return answer

    def kill_leader(self) -> int:
        """Kills the active node; returns its index. Set-up calls go to the next leader once there is one."""
        killed = self.command("kill-leader")["killed"]
        return killed

    def wait_for_leader(self) -> int:
        self.leader = self.command("leader")["leader"]
        self.addr = self.addrs[self.leader]
        return self.leader

    def standby(self) -> int:
        """A node that is not the active one."""
        return (self.leader + 1) % len(self.addrs)

    def on(self, node: int) -> "_Admin":
        """Root calls on node `node` (a standby answers reads from its own copy)."""
        view = _Admin()
        view.addr, view.root_token = self.addrs[node], self.root_token
        view._tls = self._tls  # type: ignore[method-assign]
        return view


def wait_until(check: Callable[[], bool], what: str, limit: float = 15.0) -> None:
    """Polls `check` every 50 ms until it is true; fails after `limit` seconds naming `what`."""
    deadline = time.monotonic() + limit
    while True:
        try:
            if check():
                return
        except (urllib.error.URLError, OSError, KeyError, TypeError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {limit:.0f} s")
        time.sleep(0.05)


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
