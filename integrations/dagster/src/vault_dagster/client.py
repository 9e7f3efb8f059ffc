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
import select
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
import weakref
from typing import Any, Dict, List, Mapping, Optional, Sequence

# The request line is written by hand and the answer read with the C scanner directly: `json.dumps` and
# `json.loads` cost several times more than the pipe round trip itself for these small objects.
_quote = json.encoder.encode_basestring_ascii
_dumps = json.JSONEncoder(separators=(",", ":")).encode
_scan = json.JSONDecoder().scan_once

#: How long `_read_line` asks for an answer again before it sleeps in poll(): longer than a cached answer takes,
#: short enough that an uncached one (hundreds of µs) spends little CPU on it.
_SPIN_SECONDS = 40e-6


def _request_line(request_id: int, op: str, fields: Mapping[str, Any]) -> bytes:
    """`{"id":N,"op":"…",…}` and a newline; fields that are None are left out (the server's defaults apply)."""
    parts = ['{"id":', str(request_id), ',"op":', _quote(op)]
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, str):
            text = _quote(value)
        elif value is True:
            text = "true"
        elif value is False:
            text = "false"
        else:
            text = _dumps(value)
        parts += [",", _quote(name), ":", text]
    parts.append("}\n")
    return "".join(parts).encode()


def _parse_answer(line: bytes) -> Dict[str, Any]:
    try:
        value, _ = _scan(line.decode(), 0)
    except (StopIteration, ValueError, UnicodeDecodeError):
        value = None
    if not isinstance(value, dict):
        raise ValueError("the answer is not a JSON object")
    return value


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
    """A running `vault-env serve --stdio`, safe to share between threads (requests are serialised).

    A process belongs to the Python process that started it: after a fork the child starts its own (with its
    own token) on first use and leaves the parent's alone, so two processes never interleave on one pipe.
    """

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], timeout: float = 30.0) -> None:
        self._argv = list(argv)
        self._env = dict(env)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._proc: Optional[subprocess.Popen] = None
        self._owner = 0
        self._stdin_fd = -1
        self._stdout_fd = -1
        self._fds: tuple = ()
        # Processes inherited through a fork: kept so their Popen objects are never collected (and never wait
        # for or signal the parent's vault-env).
        self._inherited: List[subprocess.Popen] = []
        self._poller: Optional[Any] = None
        self._buffer = b""
        self._next_id = 0
        self._stderr_tail: collections.deque = collections.deque(maxlen=20)
        _instances.add(self)

    def request(self, op: str, **fields: Any) -> Any:
        """Sends one request and returns its `value`, or raises the matching `VaultSecretError`."""
        # The hot path: one write and one read on the pipes (plus a poll for the time limit), no Python-level
        # buffering and no per-call objects beyond the JSON text.
        with self._lock:
            if self._proc is None or self._owner != os.getpid():
                self._start()
            self._next_id += 1
            request_id = self._next_id
            line = _request_line(request_id, op, fields)
            try:
                try:
                    self._write(line)
                except BrokenPipeError:
                    # vault-env ended since the last request, and nothing of this one was sent: start it again.
                    self._kill()
                    self._start()
                    self._write(line)
                answer = self._read_line()
            except (OSError, TimeoutError) as error:
                self._kill()
                raise VaultUnavailable("unavailable", self._died(f"vault-env serve stopped answering ({error})")) from None
            try:
                reply = _parse_answer(answer)
            except ValueError:
                self._kill()
                raise VaultSecretError("protocol", "vault-env answered with a line that is not JSON; the process was restarted") from None
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
            if self._owner != os.getpid():
                # The parent's process, inherited through a fork: not ours to stop.
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

    def _start(self) -> None:
        if self._proc is not None and self._owner == os.getpid():
            if self._proc.poll() is None:
                return
            self._kill()
        # A process inherited through a fork is dropped without touching it; its pipes close with this object.
        self._proc = None
        self._buffer = b""
        try:
            proc = subprocess.Popen(
                self._argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._env,
                close_fds=True,
            )
        except OSError as error:
            raise VaultUnavailable(
                "unavailable",
                f"cannot start {self._argv[0]!r} ({error.strerror}); install the vault-dagster wheel (it carries "
                "vault-env), or set vault_env_bin (or VAULT_ENV_BIN) to the vault-env binary",
            ) from None
        assert proc.stdin is not None and proc.stdout is not None
        self._proc, self._owner = proc, os.getpid()
        self._stdin_fd, self._stdout_fd = proc.stdin.fileno(), proc.stdout.fileno()
        self._fds = (self._stdin_fd, self._stdout_fd, proc.stderr.fileno() if proc.stderr else -1)
        self._poller = select.poll()
        self._poller.register(self._stdout_fd, select.POLLIN)
        # Read without blocking, so `_read_line` can wait for a quick answer by asking again (see there).
        os.set_blocking(self._stdout_fd, False)
        threading.Thread(target=self._drain_stderr, args=(proc,), daemon=True).start()

    def _forget_after_fork(self) -> None:
        # In a forked child: drop this process's copies of the parent's pipes (so the parent's close() still
        # ends vault-env), and start afresh on first use. The file objects are not closed: the parent's stderr
        # reader thread held its buffer's lock at the fork, and closing would wait for it forever. Each descriptor
        # is pointed at /dev/null instead, which closes the pipe and leaves the objects something harmless to
        # close when they are collected.
        self._lock = threading.Lock()
        proc, self._proc = self._proc, None
        self._buffer = b""
        if proc is None:
            return
        self._inherited.append(proc)
        null = os.open(os.devnull, os.O_RDWR)
        try:
            for fd in self._fds:
                if fd < 0:
                    continue
                try:
                    os.dup2(null, fd)
                except OSError:
                    pass
        finally:
            os.close(null)

    def _drain_stderr(self, proc: subprocess.Popen) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            self._stderr_tail.append(raw.decode(errors="replace").rstrip())
        proc.stderr.close()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._stdin_fd, view)
            view = view[written:]

    def _read_line(self) -> bytes:
        buffer = self._buffer
        end = buffer.find(b"\n")
        if end < 0:
            fd = self._stdout_fd
            clock = time.perf_counter
            spin_until = clock() + _SPIN_SECONDS
            deadline = None
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    # A cached answer comes back within some 15 µs. Asking again until then keeps this thread on
                    # its CPU; sleeping in poll() would let the CPU idle, and waking it costs more than the answer
                    # (40-50 µs on a small VM). Past that, wait in poll() for the rest of the time limit.
                    if clock() < spin_until:
                        continue
                    if deadline is None:
                        deadline = time.monotonic() + self._timeout
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError(f"no answer within {self._timeout:g}s") from None
                    self._poller.poll(max(1, int(remaining * 1000)))
                    continue
                if not chunk:
                    raise BrokenPipeError("vault-env exited")
                # The usual case: the whole answer in one read.
                start = len(buffer)
                buffer += chunk
                end = buffer.find(b"\n", start)
                if end >= 0:
                    break
        self._buffer = buffer[end + 1 :]
        return buffer[:end]

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or self._owner != os.getpid():
            return
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass

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


_instances: "weakref.WeakSet[VaultEnvProcess]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for process in list(_instances):
        process._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


#: The name of the binary the wheel installs beside the Python interpreter's scripts.
BINARY = "vault-env.exe" if os.name == "nt" else "vault-env"


def find_vault_env(configured: Optional[str] = None) -> str:
    """The vault-env binary to run: `configured` (the resource's `vault_env_bin`), else `VAULT_ENV_BIN`, else the
    one the vault-dagster wheel installed into this environment's scripts folder (the venv's `bin/`, or the user
    scheme's for `pip install --user`), else `vault-env` on PATH. When none is found the name is returned as it
    is, and starting it fails with a message that says what to do."""
    if configured:
        return configured
    from_env = os.environ.get("VAULT_ENV_BIN")
    if from_env:
        return from_env
    folders = [sysconfig.get_path("scripts"), os.path.dirname(sys.executable)]
    try:
        folders.append(sysconfig.get_path("scripts", f"{os.name}_user"))
    except KeyError:
        pass
    for folder in folders:
        if folder:
            candidate = os.path.join(folder, BINARY)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
    return shutil.which(BINARY) or BINARY
