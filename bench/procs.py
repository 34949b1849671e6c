"""Processes a figure starts (Airflow's, the listener), through the demo's launcher
(:mod:`relengotron_sandbox.demo.processes`): each leads a session of its own and is stopped with everything it spawned,
by its session id — never by name."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relengotron_sandbox.demo import processes
from relengotron_sandbox.demo.processes import Recorded


class ProcessError(RuntimeError):
    """A process the bench started exited early, or a condition was not reached in time."""


@dataclass
class Process:
    recorded: Recorded

    @property
    def name(self) -> str:
        return self.recorded.name

    @property
    def pid(self) -> int:
        return self.recorded.pid

    def alive(self) -> bool:
        """True while it runs; :class:`ProcessError` with its log's tail once it has exited."""
        if not processes.alive(self.recorded):
            raise ProcessError(f"{self.name} exited:\n{processes.log_tail(self.recorded.log)}")
        return True

    def _status(self, key: str) -> float:
        """A memory figure of /proc/<pid>/status, in MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
        raise ProcessError(f"{self.name}: no {key} in /proc/{self.pid}/status")

    def peak_rss_mib(self) -> float:
        """Its peak resident memory (VmHWM)."""
        return self._status("VmHWM")

    def rss_mib(self) -> float:
        return self._status("VmRSS")

    def stop(self) -> None:
        """Stop it and every process of its session. Idempotent."""
        processes.stop(self.recorded)


def start(name: str, argv: list[str], root: Path, env: dict[str, str], marker: str) -> Process:
    """Start ``argv`` leading a session of its own, output in ``root/logs/<name>.log``; ``marker`` is a piece of
    its command line (as it shows it, after any retitling) that tells it from a process reusing its pid."""
    log = root / "logs" / f"{name}.log"
    return Process(processes.spawn(name, argv, env=env, log=log, cwd=root, marker=marker))


def wait_for(what: str, ready: Callable[[], Any], timeout: float, *, every: float = 0.2) -> Any:
    """Poll ``ready`` until it returns something true; :class:`ProcessError` naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = ready()
        except ProcessError:
            raise
        except Exception as exc:  # not up yet
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(every)
    raise ProcessError(f"{what}: not reached within {timeout} s (last: {last!r})")
