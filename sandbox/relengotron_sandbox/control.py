"""``relengotron-sandbox up|down|status``: start and stop the sandbox daemon, read its endpoints.

``up`` validates and builds the world (cached), wipes the state directory, starts the daemon in a session of
its own and waits until it has written ``endpoints.json``. ``down`` stops the whole session (the daemon and
anything it spawned) and checks that no process of it is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relengotron_sandbox.daemon import ENDPOINTS_FILE
from relengotron_sandbox.world import World, load_world
from relengotron_sandbox.worldbuild import BuiltWorld, build_world

PID_FILE = "sandbox.pid"
LOG_FILE = "sandbox.log"
DEFAULT_STATE = Path("var/sandbox")
DEFAULT_CACHE = Path("var/cache/world")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


class SandboxError(RuntimeError):
    """The sandbox could not be started, stopped or read."""


@dataclass(frozen=True)
class Running:
    pid: int
    endpoints: dict[str, Any]


def read_endpoints(state_dir: Path = DEFAULT_STATE) -> dict[str, Any]:
    """The endpoints of the sandbox running on ``state_dir``; raise :class:`SandboxError` if none is up."""
    path = Path(state_dir) / ENDPOINTS_FILE
    running = _daemon_pid(Path(state_dir))
    if running is None or not path.exists():
        raise SandboxError(f"no sandbox is running on {state_dir} (start it with 'relengotron-sandbox up')")
    return json.loads(path.read_text())


def _daemon_pid(state_dir: Path) -> int | None:
    """The pid in the pid file if that process is alive and is our daemon (not a recycled pid)."""
    try:
        pid = int((state_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    return pid if "relengotron_sandbox.daemon" in cmdline else None


def session_processes(sid: int) -> list[int]:
    """Pids of live (non-zombie) processes whose session id is ``sid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            pids.append(int(entry.name))
    return pids


def up(
    world_path: Path | None = None,
    state_dir: Path = DEFAULT_STATE,
    cache_dir: Path = DEFAULT_CACHE,
    *,
    restart: bool = False,
) -> Running:
    """Start the sandbox from a clean state. Idempotent: if it is already up (and not ``restart``), return it."""
    state_dir = Path(state_dir).absolute()
    pid = _daemon_pid(state_dir)
    if pid is not None:
        if not restart:
            return Running(pid, read_endpoints(state_dir))
        down(state_dir)
    world: World = load_world(world_path) if world_path else load_world()
    built: BuiltWorld = build_world(world, Path(cache_dir).absolute())
    if state_dir.exists():
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True)
    log = (state_dir / LOG_FILE).open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "relengotron_sandbox.daemon",
            "--world",
            str(world.path.absolute()),
            "--built",
            str(built.root),
            "--state",
            str(state_dir),
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        close_fds=True,
    )
    log.close()
    (state_dir / PID_FILE).write_text(f"{process.pid}\n")
    deadline = time.monotonic() + START_TIMEOUT
    endpoints = state_dir / ENDPOINTS_FILE
    while time.monotonic() < deadline:
        if endpoints.exists():
            return Running(process.pid, json.loads(endpoints.read_text()))
        if process.poll() is not None:
            break
        time.sleep(0.05)
    tail = _log_tail(state_dir / LOG_FILE)
    _stop_session(process.pid)
    process.wait(timeout=5)
    raise SandboxError(f"the sandbox did not start (log {state_dir / LOG_FILE}):\n{tail}")


def down(state_dir: Path = DEFAULT_STATE) -> bool:
    """Stop the sandbox and every process it started. Idempotent: True if something was running."""
    state_dir = Path(state_dir).absolute()
    pid = _daemon_pid(state_dir)
    if pid is None:
        (state_dir / PID_FILE).unlink(missing_ok=True)
        return False
    _stop_session(pid)
    (state_dir / PID_FILE).unlink(missing_ok=True)
    (state_dir / ENDPOINTS_FILE).unlink(missing_ok=True)
    return True


def _stop_session(sid: int) -> None:
    """SIGTERM the session's process group, wait, then SIGKILL what is left; fail if anything survives."""
    try:
        os.killpg(sid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT
    while session_processes(sid) and time.monotonic() < deadline:
        _reap(sid)
        time.sleep(0.05)
    left = session_processes(sid)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while session_processes(sid) and time.monotonic() < deadline:
        _reap(sid)
        time.sleep(0.05)
    if session_processes(sid):
        raise SandboxError(f"processes of the sandbox survived SIGKILL: {session_processes(sid)}")


def stop_session(sid: int) -> None:
    """Stop every process of session ``sid`` (SIGTERM to its leader's group, SIGKILL to what is left); for other
    launchers of session leaders (the demo's Airflow and listener). :class:`SandboxError` if one survives."""
    _stop_session(sid)


def _reap(pid: int) -> None:
    """Collect the daemon's exit status when it is our child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
