"""The record of the demo's long-running processes (the embedded Airflow, the listener): each one leads a session
of its own (:func:`relengotron_sandbox.testing.start`) and is recorded in ``<state>/processes.json`` with a
command-line marker, so ``demo-stop`` — in another process, later — stops exactly them and every process they
spawned, and never a stranger that happens to reuse a recorded pid.
"""

from __future__ import annotations

import json
from pathlib import Path

from relengotron.tools.files import write_atomic
from relengotron_sandbox import testing
from relengotron_sandbox.control import SandboxError

RECORD = "processes.json"


def read_record(state: Path) -> list[testing.Process]:
    """The processes recorded in ``state`` (none when there is no record or it is unreadable)."""
    try:
        data = json.loads((state / RECORD).read_text())
        return [testing.Process.from_record(entry) for entry in data]
    except (OSError, ValueError, TypeError, KeyError):
        return []


def record(state: Path, processes: list[testing.Process]) -> None:
    """Replace the record (written whole: a reader sees the old list or the new one)."""
    write_atomic(state / RECORD, (json.dumps([p.record() for p in processes], indent=1) + "\n").encode())


def stop(process: testing.Process) -> bool:
    """Stop ``process`` and every process it spawned. Idempotent: False when nothing of it was running.

    A pid whose command line lacks the marker belongs to a stranger now and is left alone; a leader that died
    alone leaves its session's other processes, which are stopped."""
    ours = process.ours()
    orphaned = testing.cmdline(process.pid) is None and bool(testing.session_processes(process.pid))
    if not (ours or orphaned):
        return False
    try:
        testing.stop(process)
    except testing.ProcessError as exc:
        raise SandboxError(f"{process.name}: {exc}") from None
    return True
