"""The demo's long-running processes (the embedded Airflow, the listener): each one leads a session of its own and
is recorded in ``<state>/processes.json``, so ``demo-stop`` — in another process, later — stops exactly them and
every process they spawned, and never a stranger that happens to reuse a recorded pid.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from relengotron.tools.files import write_atomic
from relengotron_sandbox.control import SandboxError, session_processes, stop_session

RECORD = "processes.json"


@dataclass(frozen=True)
class Recorded:
    """A process the demo started: ``marker`` is a piece of its command line that tells it from a recycled pid."""

    name: str
    pid: int
    marker: str
    log: str


def spawn(name: str, argv: list[str], *, env: dict[str, str], log: Path, cwd: Path, marker: str) -> Recorded:
    """Start ``argv`` as a session leader, output appended to ``log``; not idempotent (record it, stop it)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    return Recorded(name, process.pid, marker, str(log))


def read_record(state: Path) -> list[Recorded]:
    """The processes recorded in ``state`` (none when there is no record or it is unreadable)."""
    try:
        data = json.loads((state / RECORD).read_text())
        return [Recorded(**entry) for entry in data]
    except (OSError, ValueError, TypeError):
        return []


def record(state: Path, processes: list[Recorded]) -> None:
    """Replace the record (written whole: a reader sees the old list or the new one)."""
    write_atomic(state / RECORD, (json.dumps([asdict(p) for p in processes], indent=1) + "\n").encode())


def _cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


def is_running(process: Recorded) -> bool:
    """Whether ``process`` still runs: its pid is alive and its command line has the marker."""
    cmdline = _cmdline(process.pid)
    return cmdline is not None and process.marker in cmdline


def alive(process: Recorded) -> bool:
    """Whether the process just spawned still runs (not exited, not a zombie). Unlike :func:`is_running` it
    does not look at the command line, which is the parent's until the child has exec'd."""
    try:
        stat = Path(f"/proc/{process.pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


def leftovers(process: Recorded) -> list[int]:
    """Live processes of ``process``'s session (empty once it is stopped)."""
    return session_processes(process.pid)


def stop(process: Recorded) -> bool:
    """Stop ``process`` and every process of its session. Idempotent: False when nothing of it was running.

    A pid whose command line lacks the marker belongs to a stranger now and is left alone; a leader that died
    alone leaves its session's other processes, which are stopped."""
    cmdline = _cmdline(process.pid)
    ours = cmdline is not None and process.marker in cmdline
    orphaned = cmdline is None and bool(session_processes(process.pid))
    if not (ours or orphaned):
        return False
    try:
        stop_session(process.pid)
    except SandboxError as exc:
        raise SandboxError(f"{process.name}: {exc}") from None
    return True


def child_env(drop: tuple[str, ...] = ("AIRFLOW", "PYTHONPATH")) -> dict[str, str]:
    """This process's environment without the variables that could point a child elsewhere (pure read)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def log_tail(path: Path | str, lines: int = 30) -> str:
    """The last ``lines`` lines of a log, for error messages."""
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
