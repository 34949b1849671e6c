"""Where a compose command runs: here, or on a compose host over SSH.

:class:`CommandRunner` is the seam the remote compose backend talks to: run an argument vector (optionally
feeding it stdin), get stdout back, or a :class:`relengotron.tools.run.ToolError` naming the item, the tool
and its stderr. :class:`LocalRunner` runs through :func:`relengotron.tools.run.run`; :class:`SSHRunner` runs
over a paramiko ``SSHClient`` — its own connection with a pinned host key, or the one an Airflow
``SSHHook`` opens (``SSHRunner.from_hook``), so the operator layer passes a hook and this module needs no
Airflow import.
"""

from __future__ import annotations

import base64
import shlex
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import paramiko

from relengotron.tools.run import ToolError, run


class CommandRunner(Protocol):
    """Runs commands on one host."""

    description: str  # for messages: "localhost", "root@compose01:22"

    def run(self, args: Sequence[str], *, item: str, input: bytes | None = None, timeout: float | None = None) -> bytes:
        """Run ``args``; stdout on success, :class:`ToolError` naming ``item`` on a non-zero exit."""
        ...


class LocalRunner:
    """Runs commands on this machine (``env`` is added to the environment)."""

    description = "localhost"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = dict(env or {})

    def run(self, args: Sequence[str], *, item: str, input: bytes | None = None, timeout: float | None = None) -> bytes:
        return run(args, item=item, input=input, timeout=timeout, env=self.env or None).stdout


class SSHRunner:
    """Runs commands on the host an open paramiko ``SSHClient`` is connected to.

    The command line is the shell-quoted argument vector, so arguments reach the remote program unchanged
    whatever they contain. Close it (or use it as a context manager) when done.
    """

    def __init__(self, client: paramiko.SSHClient, description: str) -> None:
        self.client = client
        self.description = description

    @classmethod
    def connect(
        cls,
        host: str,
        *,
        port: int = 22,
        username: str,
        key_file: str | Path,
        host_key: str,
        timeout: float = 30.0,
    ) -> SSHRunner:
        """Connect with a private key, accepting only the pinned ``host_key`` (``"ssh-ed25519 AAAA..."``).

        An unknown or different host key is refused (paramiko's RejectPolicy); nothing is written to any
        known_hosts file.
        """
        client = paramiko.SSHClient()
        key_type, _, rest = host_key.strip().partition(" ")
        blob = base64.b64decode(rest.split()[0])
        entry = host if port == 22 else f"[{host}]:{port}"
        client.get_host_keys().add(entry, key_type, paramiko.PKey.from_type_string(key_type, blob))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(
            host,
            port=port,
            username=username,
            key_filename=str(key_file),
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            allow_agent=False,
            look_for_keys=False,
        )
        return cls(client, f"{username}@{host}:{port}")

    @classmethod
    def from_hook(cls, hook: Any) -> SSHRunner:
        """Use the connection of an Airflow ``SSHHook`` (its ``get_conn()`` returns a paramiko ``SSHClient``)."""
        client = hook.get_conn()
        username = getattr(hook, "username", None) or "?"
        host = getattr(hook, "remote_host", None) or "?"
        port = getattr(hook, "port", None) or 22
        return cls(client, f"{username}@{host}:{port}")

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> SSHRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, args: Sequence[str], *, item: str, input: bytes | None = None, timeout: float | None = None) -> bytes:
        argv = [str(a) for a in args]
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise ToolError(item, argv, None, f"SSH connection to {self.description} is closed")
        channel = transport.open_session()
        try:
            channel.exec_command(shlex.join(argv))
            if input:
                channel.sendall(input)
            channel.shutdown_write()
            out, err = _drain(channel, time.monotonic() + timeout if timeout else None)
            if out is None:
                raise ToolError(item, argv, None, f"timed out after {timeout} s on {self.description}")
            status = channel.recv_exit_status()
        finally:
            channel.close()
        if status != 0:
            stderr = err.decode(errors="replace")
            raise ToolError(item, argv, status, f"{stderr}\n(on {self.description})")
        return out


def _drain(channel: paramiko.Channel, deadline: float | None) -> tuple[bytes | None, bytes]:
    """Read stdout and stderr together until the command exits (neither stream can fill up and block)."""
    out: list[bytes] = []
    err: list[bytes] = []
    while True:
        busy = False
        if channel.recv_ready():
            out.append(channel.recv(65536))
            busy = True
        if channel.recv_stderr_ready():
            err.append(channel.recv_stderr(65536))
            busy = True
        if busy:
            continue
        if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
            return b"".join(out), b"".join(err)
        if deadline is not None and time.monotonic() > deadline:
            return None, b"".join(err)
        time.sleep(0.005)
