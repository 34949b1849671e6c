"""A real OpenSSH server on 127.0.0.1 for tests, with throwaway host and client keys.

``with sshd(root) as server:`` generates keys under ``root``, starts ``/usr/sbin/sshd -D -e`` on a free
loopback port (public-key login for the current user only), and on exit stops it and every process it
started (per-connection sshd processes and the commands they ran), by process id
(:mod:`relengotron_sandbox.testing`). Sessions get
``server.bin`` on their PATH ahead of the system directories (sshd's ``SetEnv``; the login shell's rc files
may still prepend their own), so a test can put stand-in commands there.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from relengotron_sandbox.testing import Process, ProcessError, descendants, free_port, start, wait_for

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "ssh-keygen"


class SshdUnavailable(RuntimeError):
    """sshd is not installed, cannot run here, or did not start."""


@dataclass(frozen=True)
class SshServer:
    host: str
    port: int
    user: str
    client_key: Path  # private key that may log in
    host_key: str  # the server's public host key, "ssh-ed25519 AAAA..." (pin it)
    bin: Path  # on every session's PATH, ahead of the system directories
    root: Path
    pid: int

    def connection(self) -> dict:
        """An Airflow SSH connection (JSON form) for this server, with the host key pinned."""
        return {
            "conn_type": "ssh",
            "host": self.host,
            "port": self.port,
            "login": self.user,
            "extra": {"key_file": str(self.client_key), "host_key": self.host_key},
        }

    def processes(self) -> list[int]:
        """The sshd listener and all its descendants now running."""
        return [self.pid, *descendants(self.pid)]


def _keygen(path: Path) -> None:
    """A passphrase-less ed25519 key at ``path`` (kept if it is already there: a root may be reused)."""
    if path.exists():
        return
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )


@contextmanager
def sshd(root: Path, *, env: Mapping[str, str] | None = None, timeout: float = 10.0) -> Iterator[SshServer]:
    """Run sshd for the duration of the block; ``env`` is set in every session (besides PATH)."""
    if not os.access(SSHD, os.X_OK):
        raise SshdUnavailable(f"{SSHD} is not installed")
    try:
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation directory
    except OSError as exc:
        raise SshdUnavailable(f"cannot create /run/sshd: {exc}") from exc
    root.mkdir(parents=True, exist_ok=True)
    bin_dir = root / "bin"
    bin_dir.mkdir(exist_ok=True)
    _keygen(root / "host_key")
    _keygen(root / "client_key")
    (root / "authorized_keys").write_text((root / "client_key.pub").read_text())
    user = getpass.getuser()
    path = f"{bin_dir}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
    settings = {"PATH": path, **(env or {})}
    process, port = _start(root, user, settings, timeout)
    server = SshServer(
        host="127.0.0.1",
        port=port,
        user=user,
        client_key=root / "client_key",
        host_key=" ".join((root / "host_key.pub").read_text().split()[:2]),
        bin=bin_dir,
        root=root,
        pid=process.pid,
    )
    try:
        yield server
    finally:
        process.stop(timeout=5)


def _config(root: Path, port: int, user: str, settings: Mapping[str, str]) -> Path:
    config = root / "sshd_config"
    config.write_text(
        "\n".join(
            [
                "ListenAddress 127.0.0.1",
                f"Port {port}",
                f"HostKey {root / 'host_key'}",
                f"PidFile {root / 'sshd.pid'}",
                f"AuthorizedKeysFile {root / 'authorized_keys'}",
                f"AllowUsers {user}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "PermitRootLogin prohibit-password",
                "AllowTcpForwarding no",
                "X11Forwarding no",
                "PrintMotd no",
                "Subsystem sftp internal-sftp",
                "SetEnv " + " ".join(f'{k}="{v}"' for k, v in settings.items()),
                "",
            ]
        )
    )
    return config


def _start(root: Path, user: str, settings: Mapping[str, str], timeout: float) -> tuple[Process, int]:
    """Start sshd on a free port; another port is tried when the chosen one was taken in the meantime."""
    log = root / "sshd.log"
    for attempt in range(3):
        port = free_port()
        log.unlink(missing_ok=True)
        process = start("sshd", [SSHD, "-D", "-e", "-f", str(_config(root, port, user, settings))], log=log)

        def greets(port: int = port) -> bool:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                return sock.recv(4).startswith(b"SSH-")

        try:
            wait_for(f"sshd listening on port {port}", greets, timeout, every=0.05, watch=[process])
            return process, port
        except ProcessError as exc:
            process.stop(timeout=5)
            if attempt == 2 or "Address already in use" not in log.read_text(errors="replace"):
                raise SshdUnavailable(str(exc)) from None
    raise AssertionError("unreachable")
