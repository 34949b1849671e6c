"""Time spent in external commands: every ``subprocess.run`` the library makes while a block runs.

relengotron runs its tools (dnf, rpm, ostree, gpg) through ``subprocess.run`` (``relengotron.tools``);
while :func:`recording` is active each call is timed and counted by tool. The sum is what the bare commands
cost — the baseline the library's own overhead (Python, file handling, checks) is read against, measured in
the same run as the library call it belongs to. Not thread-safe: record one block at a time.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_lock = threading.Lock()


@dataclass
class CommandLog:
    """Calls and seconds per tool (the command's basename; ``sh -c 'exec TOOL'`` counts as TOOL)."""

    calls: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, argv: Any, seconds: float) -> None:
        tool = tool_name(argv)
        self.calls[tool] = self.calls.get(tool, 0) + 1
        self.seconds[tool] = self.seconds.get(tool, 0.0) + seconds

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    @property
    def count(self) -> int:
        return sum(self.calls.values())

    def describe(self) -> str:
        parts = sorted(self.calls, key=lambda t: -self.seconds[t])
        return ", ".join(f"{t} x{self.calls[t]} {self.seconds[t] * 1e3:.0f} ms" for t in parts)


def tool_name(argv: Any) -> str:
    """The tool a command line runs: its first word's basename (the program ``sh -c 'exec "$0"'`` starts)."""
    words = str(argv).split() if isinstance(argv, (str, bytes)) else [str(a) for a in argv]
    if not words:
        return "?"
    if Path(words[0]).name == "sh" and len(words) >= 4 and words[1] == "-c" and words[2].startswith('exec "$0"'):
        return Path(words[3]).name
    return Path(words[0]).name


@contextmanager
def recording() -> Iterator[CommandLog]:
    """Time every ``subprocess.run`` call made in this process until the block ends."""
    log = CommandLog()
    original = subprocess.run

    def timed_run(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            log.add(args[0] if args else kwargs.get("args", "?"), time.perf_counter() - start)

    with _lock:
        subprocess.run = timed_run  # type: ignore[assignment]
        try:
            yield log
        finally:
            subprocess.run = original  # type: ignore[assignment]
