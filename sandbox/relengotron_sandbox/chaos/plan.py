"""The seeded fault plan of a chaos run and the figures it ends with (pure: no process, no clock).

A plan is a list of :class:`Fault` — which component, killed (SIGKILL) or stopped (refusing connections for
``down`` seconds), and the earliest moment after the workload began. The same seed, count and targets give the
same plan, so a failed run is replayed by its seed. Faults are spread over the targets (each target once before
any twice, in a seeded order) and over the run (seeded moments at least :data:`MIN_GAP` apart); the controller
injects them one at a time, each after the previous one has recovered.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

MIN_GAP = 4.0  # seconds between two planned moments
DOWN = (5.0, 20.0)  # seconds a stopped service stays down (seeded within)


@dataclass(frozen=True)
class Target:
    """A component the controller can hurt. ``action``: ``kill`` (SIGKILL, its supervisor restarts it) or
    ``stop`` (its port refuses connections for a while, as a stopped service's does); ``during``: the task
    whose running attempt is hurt (a worker in the middle of a compose), or None for a service."""

    name: str
    component: str  # what recovers (the recovery figures are per component)
    action: str
    during: str | None = None
    executors: frozenset[str] = frozenset({"local", "celery"})


TARGETS: tuple[Target, ...] = (
    Target("scheduler", "airflow scheduler", "kill"),
    Target("triggerer", "airflow triggerer", "kill"),
    Target("api-server", "airflow api-server", "kill"),
    Target("dag-processor", "airflow dag-processor", "kill"),
    Target("worker mid-compose", "worker", "kill", during="compose"),
    Target("worker mid-sync", "worker", "kill", during="sync"),
    Target("celery worker", "airflow celery-worker-1", "kill", executors=frozenset({"celery"})),
    Target("listener", "listener", "kill"),
    Target("koji", "koji", "stop"),
    Target("resultsdb", "resultsdb", "stop"),
    Target("bus", "bus", "stop"),  # the fedmsg relay the listener subscribes to: what it publishes meanwhile is gone
    Target("rsync", "rsync", "kill", during="sync"),
)


def targets_for(executor: str, names: Iterable[str] | None = None) -> list[Target]:
    """The targets of ``executor`` (``local`` or ``celery``), or only those ``names`` (a name no target has
    is a :class:`ValueError` naming it)."""
    usable = [t for t in TARGETS if executor in t.executors]
    if names is None:
        return usable
    by_name = {t.name: t for t in usable}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"no such fault target on {executor}: {', '.join(unknown)} (known: {', '.join(by_name)})")
    return [by_name[n] for n in names]


@dataclass(frozen=True)
class Fault:
    """One planned fault: ``at`` seconds after the workload began at the earliest; ``down`` for a stop."""

    index: int
    target: Target
    at: float
    down: float = 0.0

    def describe(self) -> str:
        how = f"stopped for {self.down:.0f} s" if self.target.action == "stop" else "killed (SIGKILL)"
        during = f" during a {self.target.during}" if self.target.during else ""
        return f"#{self.index} {self.target.name}: {how}{during}"


def plan(seed: int, count: int, targets: Sequence[Target], span: float) -> list[Fault]:
    """``count`` faults over ``span`` seconds, from ``seed`` (see the module docstring). A :class:`ValueError`
    for no targets, a count below 1, or a span too short for the gaps."""
    if not targets or count < 1:
        raise ValueError(f"a chaos plan needs targets and at least one fault (targets {len(targets)}, count {count})")
    if span < count * MIN_GAP:
        raise ValueError(f"span {span:.0f} s is too short for {count} faults {MIN_GAP:.0f} s apart")
    rng = random.Random(seed)
    order: list[Target] = []
    while len(order) < count:
        rounds = list(targets)
        rng.shuffle(rounds)
        order += rounds
    slack = span - count * MIN_GAP
    offsets = sorted(rng.uniform(0, slack) for _ in range(count))
    faults = []
    for index, (target, offset) in enumerate(zip(order[:count], offsets, strict=True), start=1):
        down = round(rng.uniform(*DOWN), 1) if target.action == "stop" else 0.0
        faults.append(Fault(index, target, round(offset + index * MIN_GAP, 1), down))
    return faults


@dataclass
class Outcome:
    """What became of one fault: when it struck (seconds after the workload began), what it hit, and how long
    its component took to recover (None: it did not strike — its moment never came — or did not recover)."""

    fault: Fault
    struck: float | None = None
    hit: str = ""  # what exactly was killed or stopped (pid, task)
    recovered: float | None = None  # seconds from striking to recovered
    note: str = ""

    def row(self) -> dict[str, Any]:
        return {
            "fault": self.fault.index,
            "target": self.fault.target.name,
            "component": self.fault.target.component,
            "action": self.fault.target.action,
            "planned_at": self.fault.at,
            "down": self.fault.down,
            "struck": self.struck,
            "hit": self.hit,
            "recovered_after": self.recovered,
            "note": self.note,
        }


def recovery_figures(outcomes: Iterable[Outcome]) -> dict[str, dict[str, float | int]]:
    """Per component: how many of its faults struck and recovered, and the recovery time's median and max."""
    times: dict[str, list[float]] = {}
    for outcome in outcomes:
        if outcome.struck is not None and outcome.recovered is not None:
            times.setdefault(outcome.fault.target.component, []).append(outcome.recovered)
    return {
        component: {"survived": len(ts), "median_s": round(statistics.median(ts), 1), "max_s": round(max(ts), 1)}
        for component, ts in sorted(times.items())
    }


def plan_rows(faults: Iterable[Fault]) -> list[dict[str, Any]]:
    """The plan as JSON-ready rows (the report's, to replay it)."""
    return [{**asdict(f), "target": f.target.name} for f in faults]
