"""A real OpenSSH server on 127.0.0.1 for tests, with throwaway host and client keys.

``with sshd(root) as server:`` generates keys under ``root``, starts ``/usr/sbin/sshd -D -e`` on a free
loopback port (public-key login for the current user only), and on exit stops it and every process it
started (per-connection sshd processes and the commands they ran), by process id. Sessions get
``server.bin`` on their PATH ahead of the system directories (sshd's ``SetEnv``; the login shell's rc files
may still prepend their own), so a test can put stand-in commands there.
"""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

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
        return [self.pid, *_descendants(self.pid)]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


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
    proc, port, log = _start(root, user, settings, timeout)
    server = SshServer(
        host="127.0.0.1",
        port=port,
        user=user,
        client_key=root / "client_key",
        host_key=" ".join((root / "host_key.pub").read_text().split()[:2]),
        bin=bin_dir,
        root=root,
        pid=proc.pid,
    )
    try:
        yield server
    finally:
        _stop(proc)
        log.close()


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


def _start(root: Path, user: str, settings: Mapping[str, str], timeout: float) -> tuple[subprocess.Popen, int, IO]:
    """Start sshd on a free port; another port is tried when the chosen one was taken in the meantime."""
    for attempt in range(3):
        port = _free_port()
        config = _config(root, port, user, settings)
        log_path = root / "sshd.log"
        log = log_path.open("wb")
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_listening(proc, port, log_path, timeout)
            return proc, port, log
        except SshdUnavailable:
            _stop(proc)
            log.close()
            if attempt == 2 or "Address already in use" not in log_path.read_text(errors="replace"):
                raise
    raise AssertionError("unreachable")


def _wait_listening(proc: subprocess.Popen, port: int, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SshdUnavailable(f"sshd exited with {proc.returncode}: {log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.05)
    raise SshdUnavailable(f"sshd did not listen on port {port} within {timeout} s: {log.read_text(errors='replace')}")


def _stop(proc: subprocess.Popen) -> None:
    """Stop the listener and every process it started (collected before they lose their parent)."""
    others = _descendants(proc.pid)
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    for pid in others:
        if _alive(pid):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in others) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in others:
        if _alive(pid):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
