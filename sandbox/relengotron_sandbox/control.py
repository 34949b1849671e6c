"""``relengotron-sandbox up|down|endpoints``: start and stop the sandbox daemon, read its endpoints.

``up`` validates and builds the world (cached), wipes the state directory, starts the daemon in a session of
its own and waits until it has written ``endpoints.json``. ``down`` stops the whole session (the daemon and
anything it spawned) and checks that no process of it is left (:func:`relengotron_sandbox.testing.stop`).
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relengotron_sandbox import testing
from relengotron_sandbox.daemon import ENDPOINTS_FILE
from relengotron_sandbox.world import World, load_world
from relengotron_sandbox.worldbuild import BuiltWorld, build_world

PID_FILE = "sandbox.pid"
LOG_FILE = "sandbox.log"
DAEMON = "relengotron_sandbox.daemon"  # its module: the marker in its command line
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
    daemon = testing.Process("sandbox", pid, state_dir / LOG_FILE, marker=DAEMON)
    return pid if daemon.ours() else None


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
    argv = [sys.executable, "-m", DAEMON, "--world", str(world.path.absolute()), "--built", str(built.root)]
    daemon = testing.start("sandbox", [*argv, "--state", str(state_dir)], log=state_dir / LOG_FILE, marker=DAEMON)
    (state_dir / PID_FILE).write_text(f"{daemon.pid}\n")
    endpoints = state_dir / ENDPOINTS_FILE
    try:
        testing.wait_for("the sandbox's endpoints", endpoints.exists, START_TIMEOUT, every=0.05, watch=[daemon])
    except testing.ProcessError:
        tail = testing.log_tail(daemon.log)
        _stop(daemon)
        raise SandboxError(f"the sandbox did not start (log {daemon.log}):\n{tail}") from None
    return Running(daemon.pid, json.loads(endpoints.read_text()))


def down(state_dir: Path = DEFAULT_STATE) -> bool:
    """Stop the sandbox and every process it started. Idempotent: True if something was running."""
    state_dir = Path(state_dir).absolute()
    pid = _daemon_pid(state_dir)
    if pid is None:
        (state_dir / PID_FILE).unlink(missing_ok=True)
        return False
    _stop(pid)
    (state_dir / PID_FILE).unlink(missing_ok=True)
    (state_dir / ENDPOINTS_FILE).unlink(missing_ok=True)
    return True


def _stop(daemon: testing.Process | int) -> None:
    """The daemon's session stopped; :class:`SandboxError` if a process of it survives."""
    try:
        testing.stop(daemon, timeout=STOP_TIMEOUT)
    except testing.ProcessError as exc:
        raise SandboxError(f"the sandbox: {exc}") from None
