"""Run commands here or on another host over SSH, and move files there and back.

Release engineering reaches hosts it does not run on: the signing bridge (sigul), the compose host
(``rpm-ostree compose tree``), the master mirror. Code that needs one takes a :class:`CommandRunner` and never
cares which kind it got: :class:`LocalRunner` runs a subprocess, :class:`SSHRunner` runs the same argv on a
host reached with paramiko, checking the host against a pinned key (the ``host_key`` of the Airflow SSH
connection) and never trusting a key it has not been given — or over the connection an Airflow ``SSHHook``
opens (:meth:`SSHRunner.from_hook`), so the operator layer passes a hook and this module imports no Airflow.
Files travel with ``put``/``get`` (SFTP for SSH). :func:`run_checked` turns a non-zero exit into a
:class:`~relengotron.tools.run.ToolError` naming the item and the host.
"""

from __future__ import annotations

import base64
import binascii
import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from relengotron.tools.files import copy_atomic
from relengotron.tools.run import ToolError


class RemoteError(RuntimeError):
    """A host could not be reached or refused us, or a transfer failed; the message names the host."""


class RemoteTimeout(RemoteError):
    """A command ran longer than its timeout (the remote process may still be running)."""


@runtime_checkable
class CommandRunner(Protocol):
    """Where commands run. ``name`` says where in error messages ("local", "root@bridge:22")."""

    name: str

    def run(
        self, argv: Sequence[str], *, input: bytes | None = None, timeout: float | None = None
    ) -> tuple[int, bytes, bytes]:
        """Run ``argv`` (no shell interpretation) and return (exit status, stdout, stderr).

        A non-zero exit is returned, not raised; a command that cannot be started exits 127 as in a shell.
        """
        ...

    def put(self, local: Path, remote: str) -> None:
        """Copy the local file ``local`` to ``remote`` on the runner's host (replaced whole, never half)."""
        ...

    def get(self, remote: str, local: Path) -> None:
        """Copy ``remote`` from the runner's host to the local file ``local`` (replaced whole, never half)."""
        ...


class LocalRunner:
    """Runs commands as subprocesses of this process; ``put``/``get`` are file copies."""

    name = "local"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = dict(env or {})  # added to the current environment

    def run(
        self, argv: Sequence[str], *, input: bytes | None = None, timeout: float | None = None
    ) -> tuple[int, bytes, bytes]:
        args = [str(a) for a in argv]
        env = {**os.environ, **self.env} if self.env else None
        try:
            proc = subprocess.run(
                args,
                input=input if input is not None else b"",
                capture_output=True,
                timeout=timeout,
                env=env,
                check=False,
            )
        except FileNotFoundError as exc:
            return 127, b"", f"{args[0]}: command not found ({exc})".encode()
        except subprocess.TimeoutExpired as exc:
            raise RemoteTimeout(f"local: {shlex.join(args)} timed out after {timeout} s") from exc
        return proc.returncode, proc.stdout, proc.stderr

    def put(self, local: Path, remote: str) -> None:
        _copy_atomic(Path(local), Path(remote))

    def get(self, remote: str, local: Path) -> None:
        _copy_atomic(Path(remote), Path(local))


class SSHRunner:
    """Runs commands on ``host`` over SSH (paramiko), authenticating with ``key_file``.

    ``host_key`` is the host's public key as in known_hosts/the Airflow connection ("ssh-ed25519 AAAA..."):
    the connection is refused when the host presents any other key. ``opener`` replaces all that with a
    callable returning a connected paramiko ``SSHClient`` (see :meth:`from_hook`). The connection is opened on
    first use and reused (reopened when it dropped); ``close()`` (or leaving a ``with`` block) ends it. Safe
    to share between threads.
    """

    def __init__(
        self,
        host: str,
        port: int = 22,
        username: str = "root",
        key_file: str | Path | None = None,
        host_key: str = "",
        *,
        connect_timeout: float = 15.0,
        opener: Callable[[], Any] | None = None,
    ) -> None:
        self.host = host
        self.port = int(port)
        self.username = username
        self.key_file = str(key_file) if key_file is not None else None
        self.host_key = host_key.strip()
        self.connect_timeout = connect_timeout
        self.name = f"{username}@{host}:{self.port}"
        self._pinned = parse_host_key(self.host_key, self.name) if opener is None else None
        self._opener = opener
        self._lock = threading.Lock()
        self._client: Any = None

    @classmethod
    def from_hook(cls, hook: Any, *, connect_timeout: float = 15.0) -> SSHRunner:
        """Run over the connection of an Airflow ``SSHHook`` (its ``get_conn()`` returns a paramiko ``SSHClient``).

        The hook checks the host key as its connection says (``host_key`` in the extra pins it). Nothing is
        contacted until the first command.
        """
        host = getattr(hook, "remote_host", None) or "?"
        port = getattr(hook, "port", None) or 22
        username = getattr(hook, "username", None) or "?"
        return cls(host, port, username, connect_timeout=connect_timeout, opener=hook.get_conn)

    def __enter__(self) -> SSHRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def run(
        self, argv: Sequence[str], *, input: bytes | None = None, timeout: float | None = None
    ) -> tuple[int, bytes, bytes]:
        import paramiko

        command = shlex.join(str(a) for a in argv)
        try:
            transport = self._connect().get_transport()
            if transport is None or not transport.is_active():
                self.close()
                transport = self._connect().get_transport()
            assert transport is not None
            chan = transport.open_session(timeout=self.connect_timeout)
            chan.exec_command(command)
        except (paramiko.SSHException, OSError) as exc:
            raise RemoteError(f"{self.name}: cannot run {command}: {exc}") from exc
        out: list[bytes] = []
        err: list[bytes] = []
        stdout = chan.makefile("rb")
        stderr = chan.makefile_stderr("rb")

        def feed() -> None:
            try:
                if input:
                    chan.sendall(input)
            except (OSError, EOFError):
                pass  # the command exited without reading everything; its status says why
            finally:
                chan.shutdown_write()

        threads = [
            threading.Thread(target=feed, daemon=True),
            threading.Thread(target=lambda: out.append(stdout.read()), daemon=True),
            threading.Thread(target=lambda: err.append(stderr.read()), daemon=True),
        ]
        for thread in threads:
            thread.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                chan.close()
                raise RemoteTimeout(f"{self.name}: {command} timed out after {timeout} s")
        status = chan.recv_exit_status()
        chan.close()
        return status, b"".join(out), b"".join(err)

    def put(self, local: Path, remote: str) -> None:
        part = f"{remote}.part{os.getpid()}"
        with self._sftp(f"put {local} to {remote}") as sftp:
            sftp.put(str(local), part)
            sftp.posix_rename(part, remote)

    def get(self, remote: str, local: Path) -> None:
        local = Path(local)
        part = local.with_name(f".{local.name}.part{os.getpid()}")
        with self._sftp(f"get {remote}") as sftp:
            try:
                sftp.get(remote, str(part))
            except BaseException:
                part.unlink(missing_ok=True)
                raise
        part.replace(local)

    @contextmanager
    def _sftp(self, what: str) -> Iterator[Any]:
        import paramiko

        try:
            sftp = self._connect().open_sftp()
        except (paramiko.SSHException, OSError) as exc:
            raise RemoteError(f"{self.name}: cannot {what}: {exc}") from exc
        try:
            yield sftp
        except (paramiko.SSHException, OSError) as exc:
            raise RemoteError(f"{self.name}: cannot {what}: {exc}") from exc
        finally:
            sftp.close()

    def _connect(self) -> Any:
        import paramiko

        with self._lock:
            if self._client is not None:
                return self._client
            if self._opener is not None:
                try:
                    self._client = self._opener()
                except (paramiko.SSHException, OSError) as exc:
                    raise RemoteError(f"{self.name}: cannot connect: {exc}") from exc
                return self._client
            assert self._pinned is not None
            client = paramiko.SSHClient()
            entry = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
            client.get_host_keys().add(entry, self._pinned.get_name(), self._pinned)
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
            try:
                client.connect(
                    self.host,
                    port=self.port,
                    username=self.username,
                    key_filename=self.key_file,
                    allow_agent=False,
                    look_for_keys=False,
                    timeout=self.connect_timeout,
                    banner_timeout=self.connect_timeout,
                    auth_timeout=self.connect_timeout,
                )
            except paramiko.BadHostKeyException as exc:
                client.close()
                raise RemoteError(f"{self.name}: the host key does not match the pinned host key: {exc}") from exc
            except (paramiko.SSHException, OSError) as exc:
                client.close()
                raise RemoteError(f"{self.name}: cannot connect: {exc}") from exc
            self._client = client
            return client


def parse_host_key(host_key: str, where: str = "host_key") -> Any:
    """The paramiko key for a known_hosts-style "TYPE BASE64 [comment]" line; RemoteError when it is not one."""
    import paramiko

    parts = host_key.split()
    if len(parts) < 2:
        raise RemoteError(f'{where}: a pinned host key "TYPE BASE64" is required, got {host_key!r}')
    try:
        return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1], validate=True))
    except (binascii.Error, ValueError, paramiko.SSHException) as exc:
        raise RemoteError(f"{where}: bad host key {host_key[:40]!r}...: {exc}") from exc


def run_checked(
    runner: CommandRunner,
    argv: Sequence[str],
    *,
    item: str,
    input: bytes | None = None,
    timeout: float | None = None,
) -> bytes:
    """Run ``argv`` on ``runner``; a non-zero exit raises ToolError naming ``item`` and the host. Returns stdout."""
    args = [str(a) for a in argv]
    status, out, err = runner.run(args, input=input, timeout=timeout)
    if status != 0:
        where = "" if runner.name == "local" else f" on {runner.name}"
        raise ToolError(f"{item}{where}", args, status, err.decode(errors="replace"))
    return out


@contextmanager
def remote_tempdir(runner: CommandRunner, prefix: str = "relengotron") -> Iterator[str]:
    """A fresh directory on the runner's host (``mktemp -d``), removed with everything in it on exit."""
    path = run_checked(runner, ["mktemp", "-d", f"/tmp/{prefix}.XXXXXXXX"], item="temporary directory")
    path_text = path.decode().strip()
    if not path_text.startswith("/tmp/"):
        raise RemoteError(f"{runner.name}: mktemp gave an unexpected path {path_text!r}")
    try:
        yield path_text
    finally:
        runner.run(["rm", "-rf", "--", path_text])


def _copy_atomic(source: Path, dest: Path) -> None:
    try:
        copy_atomic(source, dest)
    except OSError as exc:
        raise RemoteError(f"local: cannot copy {source} to {dest}: {exc}") from exc
