"""What every figure is given (:class:`RunContext`) and the list of figures (:data:`FIGURES`).

A figure is a module under ``bench/`` with ``measure(ctx) -> Figure``. It starts what it needs (sandbox
services, Airflow) on 127.0.0.1 and stops it before returning, measures its value and its baseline in the
same run, repeats each timing (``ctx.reps``) and reports medians. ``--quick`` shrinks sizes and repeats so
that the whole bench runs in about a minute and each figure's code path still runs.
"""

from __future__ import annotations

import importlib
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from bench.stats import Figure

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class FigureSpec:
    id: str  # the number in issue 8
    key: str  # what --only takes
    title: str
    module: str  # bench.<module>
    function: str = "measure"  # its function(ctx) -> Figure


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("1", "listener-latency", "Listener latency: bus message → DAG run in Airflow", "listener", "latency"),
    FigureSpec("2", "listener-throughput", "Listener throughput over a burst of messages", "listener", "throughput"),
    FigureSpec("3", "selective", "Selective rebuild: composes and push time for k of N artifacts", "selective"),
    FigureSpec("4", "critical-path", "Push critical path: updates_push end to end", "critical_path"),
    FigureSpec("5", "planner", "Planner scale: updates x artifacts against PDC", "planner"),
    FigureSpec("6", "parse", "DAG parse time", "parse"),
    FigureSpec("7", "ostree", "OSTree compose + merge-if-changed", "ostree"),
    FigureSpec("8", "gating", "Gating: pending builds decided", "gating"),
    FigureSpec("9", "mash", "Incremental mash: a push into a repository of 5,000 packages", "mash_scale"),
    FigureSpec("11", "sync", "Mirror sync of that push: files examined and transferred", "mash_scale", "sync"),
    FigureSpec("10", "scheduler-push", "updates_push on the real scheduler against its critical path", "scheduler"),
)
# Cheap and self-contained first; Airflow-heavy last (the listener figures share one Airflow).
RUN_ORDER = (
    "planner",
    "parse",
    "ostree",
    "gating",
    "mash",
    "sync",
    "selective",
    "critical-path",
    "scheduler-push",
    "listener-latency",
    "listener-throughput",
)


@dataclass
class RunContext:
    """Options of this run and a scratch directory (removed after the run)."""

    quick: bool
    workdir: Path
    repeats: int | None = None  # overrides every figure's own repeat count
    console: Console = field(default_factory=Console)
    shared: dict[str, object] = field(default_factory=dict)  # what one module measures for two figures

    def reps(self, full: int, quick: int = 2) -> int:
        """How many times to repeat a timing: the override, else ``quick`` or ``full``."""
        if self.repeats is not None:
            return self.repeats
        return quick if self.quick else full

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def scratch(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def log(self, message: str) -> None:
        self.console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {escape(message)}")


def spec(key: str) -> FigureSpec:
    """The figure named by its key or number; KeyError naming it and the known ones otherwise."""
    for figure in FIGURES:
        if key in (figure.key, figure.id):
            return figure
    known = ", ".join(f"{f.id}={f.key}" for f in FIGURES)
    raise KeyError(f"no figure {key!r} (known: {known})")


def measure(figure: FigureSpec, ctx: RunContext) -> Figure:
    """Measure one figure; a failure is recorded in the figure (with its traceback's last line), not raised."""
    start = time.perf_counter()
    try:
        module = importlib.import_module(f"bench.{figure.module}")
        fn: Callable[[RunContext], Figure] = getattr(module, figure.function)
        result = fn(ctx)
    except Exception as exc:
        ctx.console.print(f"[red]fig {figure.id} ({figure.key}) failed:[/red]")
        ctx.console.print(escape(traceback.format_exc()))
        result = Figure(figure.id, figure.key, figure.title, error=f"{type(exc).__name__}: {exc}")
    if not result.seconds:
        result.seconds = time.perf_counter() - start
    return result
