"""Keep long-running processes alive as a service manager would (systemd's ``Restart=always`` with
``StartLimitBurst``/``StartLimitIntervalSec``; docker compose's ``restart: always``): a component that exits is
started again after a short, growing delay, each restart is told in a journal, and a component that keeps dying
(too many restarts within a window) is given up on with one sentence naming it and its log.

Used by the demo's embedded Airflow (its scheduler, triggerer, DAG processor and API server), by the demo for
its listener, and by the chaos run for the CeleryExecutor deployment's components. Pure bookkeeping
(:class:`Budget`) apart from the processes (:class:`Supervisor`).

The journal is JSON lines (one :class:`Event` per line, appended and flushed): the demo reads it to say in its
live view what died and came back, and the chaos run to time each recovery.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

RESTARTS = 5  # restarts allowed within WINDOW before a component is given up on (systemd's StartLimitBurst)
WINDOW = 600.0  # seconds (systemd's StartLimitIntervalSec)
FIRST_DELAY = 1.0  # seconds before the first restart; doubled for each restart still inside the window
MAX_DELAY = 15.0


class Child(Protocol):
    """What a supervised process must answer: its pid and, once it has ended, its exit status."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...


C = TypeVar("C", bound=Child)


class GaveUp(RuntimeError):
    """A component kept exiting: its name and log are in the message, a sentence for a person."""

    def __init__(self, component: str, log: str, restarts: int, window: float) -> None:
        super().__init__(
            f"{component} keeps exiting ({restarts} restarts within {window:.0f} s): given up on; see its log {log}"
        )
        self.component = component
        self.log = log


@dataclass(frozen=True)
class Event:
    """One line of the journal: ``kind`` is ``started`` (the first start), ``exited`` (``exit`` set),
    ``restarted`` (``pid`` the new one) or ``gave_up``."""

    kind: str
    component: str
    at: float
    pid: int
    exit: int | None = None
    restarts: int = 0  # restarts within the window so far, this one included

    def describe(self) -> str:
        """The event in words (what the demo's live view says)."""
        if self.kind == "exited":
            return f"{self.component} (pid {self.pid}) died (exit status {self.exit})"
        if self.kind == "restarted":
            return f"{self.component} restarted (pid {self.pid}, restart {self.restarts})"
        if self.kind == "started":
            return f"{self.component} started (pid {self.pid})"
        return f"{self.component} given up on after {self.restarts} restarts"


@dataclass
class Budget:
    """How many restarts a component has had within the window, and how long to wait before the next (pure)."""

    restarts: int = RESTARTS
    window: float = WINDOW
    first_delay: float = FIRST_DELAY
    max_delay: float = MAX_DELAY
    history: list[float] = field(default_factory=list)

    def recent(self, now: float) -> int:
        """Restarts within the window before ``now``."""
        return sum(1 for at in self.history if now - at < self.window)

    def allows(self, now: float) -> bool:
        return self.recent(now) < self.restarts

    def delay(self, now: float) -> float:
        """Seconds to wait before the restart about to be made."""
        return min(self.max_delay, self.first_delay * 2 ** self.recent(now))

    def spend(self, now: float) -> int:
        """Record a restart at ``now``; the restarts within the window, this one included."""
        self.history.append(now)
        return self.recent(now)


def _kill_group(leader: int) -> None:
    """SIGKILL what is left of an exited component's process group (each component leads one): its workers
    and helpers, orphaned, would hold its ports and files against the restart — systemd's
    ``KillMode=control-group``. A component that led no group: nothing to do."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(leader, signal.SIGKILL)


def current_pid(journal: Path, component: str) -> int | None:
    """The pid the journal last gave ``component`` (started or restarted), None when it names none."""
    pids = [e.pid for e in read_journal(journal)[0] if e.component == component and e.kind in ("started", "restarted")]
    return pids[-1] if pids else None


def read_journal(path: Path, offset: int = 0) -> tuple[list[Event], int]:
    """The events written to ``path`` from byte ``offset`` on, and the offset after the last whole line (a line
    still being written is left for the next read). No file: none."""
    try:
        with path.open("rb") as journal:
            journal.seek(offset)
            data = journal.read()
    except FileNotFoundError:
        return [], offset
    whole = data[: data.rfind(b"\n") + 1]
    events = [Event(**json.loads(line)) for line in whole.splitlines() if line.strip()]
    return events, offset + len(whole)


class Supervisor(Generic[C]):
    """Starts each component with its ``starter`` and, on each :meth:`check`, restarts those that exited.
    Each component should lead a process group of its own (what is left of it is killed before a restart).

    ``starters``: component name → a callable starting it (a new process each call); ``logs``: component name →
    its log (named when it is given up on); ``journal``: where the events are appended. Not thread-safe: one
    thread calls :meth:`start`, :meth:`check` and :meth:`children`."""

    def __init__(
        self,
        starters: Mapping[str, Callable[[], C]],
        *,
        logs: Mapping[str, str | Path],
        journal: Path,
        budget: Callable[[], Budget] = Budget,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.starters = dict(starters)
        self.logs = {name: str(logs[name]) for name in self.starters}
        self.journal = journal
        self.budgets = {name: budget() for name in self.starters}
        self.clock = clock
        self.running: dict[str, C] = {}
        self.due: dict[str, float] = {}  # component → when its restart is due (it exited)

    def start(self, names: Iterable[str] | None = None) -> None:
        """Start every component (or those of ``names``) not running yet, in their order. Not idempotent for a
        component that is running elsewhere."""
        wanted = set(self.starters) if names is None else set(names)
        for name, starter in self.starters.items():
            if name in wanted and name not in self.running:
                self.running[name] = starter()
                self._write(Event("started", name, self.clock(), self.running[name].pid))

    def children(self) -> Iterator[tuple[str, C]]:
        yield from self.running.items()

    def check(self) -> list[Event]:
        """One look: a component that exited is noted, and restarted once its delay has passed; the events.
        :class:`GaveUp` when a component exits with no restart left in its budget."""
        events: list[Event] = []
        now = self.clock()
        for name, child in list(self.running.items()):
            status = child.poll()
            if status is None or name in self.due:
                continue
            budget = self.budgets[name]
            _kill_group(child.pid)
            events.append(self._write(Event("exited", name, now, child.pid, exit=status)))
            if not budget.allows(now):
                self._write(Event("gave_up", name, now, child.pid, restarts=budget.recent(now)))
                raise GaveUp(name, self.logs[name], budget.recent(now), budget.window)
            self.due[name] = now + budget.delay(now)
        for name, due in list(self.due.items()):
            if now >= due:
                del self.due[name]
                self.running[name] = self.starters[name]()
                restarts = self.budgets[name].spend(now)
                events.append(self._write(Event("restarted", name, now, self.running[name].pid, restarts=restarts)))
        return events

    def _write(self, event: Event) -> Event:
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        with self.journal.open("a") as journal:
            journal.write(json.dumps(asdict(event), sort_keys=True) + "\n")
        return event
