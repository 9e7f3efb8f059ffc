"""The `vault-env serve --stdio` process and its JSON-lines protocol.

One request line in, one answer line out, in order:

    {"id": 1, "op": "get", "path": "secret/dagster/api", "key": "token"}
    {"id": 1, "ok": true, "value": "...", "version": 3}
    {"id": 2, "ok": false, "error": {"kind": "not_found", "message": "no secret at secret/dagster/x"}}

The process is started on first use and kept for the life of the resource; if it dies it is started again on the
next request. Its stderr (warnings, never values) is kept in a short buffer for error messages.
"""

import collections
import json
import os
import selectors
import subprocess
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence


class VaultSecretError(Exception):
    """Reading from Vault failed. `kind` is the protocol's error kind (`not_found`, `permission_denied`, `sealed`,
    `unavailable`, `auth`, `invalid_request`, ...); the message names paths, never values."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{message} [{kind}]")
        self.kind = kind
        self.message = message


class VaultSecretNotFound(VaultSecretError):
    """No secret (or key, or database role) at that path."""


class VaultPermissionDenied(VaultSecretError):
    """The pipeline's policy does not allow this read."""


class VaultUnavailable(VaultSecretError):
    """Vault cannot be used now: unreachable, sealed, not initialised, or authentication failed."""


_KINDS = {
    "not_found": VaultSecretNotFound,
    "permission_denied": VaultPermissionDenied,
    "sealed": VaultUnavailable,
    "unavailable": VaultUnavailable,
    "not_initialized": VaultUnavailable,
    "auth": VaultUnavailable,
}


def error_for(kind: str, message: str) -> VaultSecretError:
    """The exception class for a protocol error kind."""
    return _KINDS.get(kind, VaultSecretError)(kind, message)


class VaultEnvProcess:
    """A running `vault-env serve --stdio`, safe to share between threads (requests are serialised)."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], timeout: float = 30.0) -> None:
        self._argv = list(argv)
        self._env = dict(env)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._proc: Optional[subprocess.Popen] = None
        self._buffer = b""
        self._next_id = 0
        self._stderr_tail: collections.deque = collections.deque(maxlen=20)

    def request(self, op: str, **fields: Any) -> Any:
        """Sends one request and returns its `value`, or raises the matching `VaultSecretError`."""
        with self._lock:
            proc = self._ensure()
            self._next_id += 1
            request_id = self._next_id
            line = json.dumps({"id": request_id, "op": op, **fields}).encode() + b"\n"
            try:
                assert proc.stdin is not None
                proc.stdin.write(line)
                proc.stdin.flush()
                answer = self._read_line(proc)
            except (BrokenPipeError, OSError, TimeoutError) as error:
                self._kill()
                raise VaultUnavailable("unavailable", self._died(f"vault-env serve stopped answering ({error})")) from None
            reply = json.loads(answer)
            if reply.get("id") != request_id:
                self._kill()
                raise VaultSecretError("protocol", "vault-env answered out of order; the process was restarted")
            if reply.get("ok"):
                return reply.get("value")
            error = reply.get("error") or {}
            raise error_for(error.get("kind", "error"), error.get("message", "unknown error"))

    def close(self, timeout: float = 10.0) -> None:
        """Closes stdin so vault-env revokes its token and exits; kills it if it does not within `timeout`."""
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is None:
                return
            try:
                if proc.stdin:
                    proc.stdin.close()
                proc.wait(timeout=timeout)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
            finally:
                if proc.stdout:
                    proc.stdout.close()

    @property
    def pid(self) -> Optional[int]:
        """The process ID while it runs."""
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def _ensure(self) -> subprocess.Popen:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._buffer = b""
        try:
            self._proc = subprocess.Popen(
                self._argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._env,
                close_fds=True,
            )
        except OSError as error:
            raise VaultUnavailable(
                "unavailable", f"cannot start {self._argv[0]!r} ({error.strerror}); set vault_env_bin to the vault-env binary"
            ) from None
        threading.Thread(target=self._drain_stderr, args=(self._proc,), daemon=True).start()
        return self._proc

    def _drain_stderr(self, proc: subprocess.Popen) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            self._stderr_tail.append(raw.decode(errors="replace").rstrip())
        proc.stderr.close()

    def _read_line(self, proc: subprocess.Popen) -> bytes:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + self._timeout
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no answer within {self._timeout:g}s")
                if not selector.select(remaining):
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise BrokenPipeError("vault-env exited")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def _died(self, what: str) -> str:
        # Give the drain thread a moment to collect vault-env's last words (its error message).
        time.sleep(0.05)
        tail = "; ".join(line for line in self._stderr_tail if line)
        return f"{what}: {tail}" if tail else what


def build_argv(binary: str, flags: Dict[str, Optional[str]], extra: List[str]) -> List[str]:
    """`vault-env` with connection flags for the values that are set, then `serve --stdio` and `extra`."""
    argv = [binary]
    for flag, value in flags.items():
        if value:
            argv += [flag, value]
    return argv + ["serve", "--stdio"] + extra
