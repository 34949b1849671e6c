"""What the terminal shows while the scenario plays: the acts, and one line per DAG run with its tasks done of
total and its state, from Airflow's REST API. The rows are computed by pure functions; :class:`ProgressView`
only draws them (rich Live; on a terminal that is not interactive it draws the last state once at the end).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

FINISHED_TASKS = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
FINISHED_RUNS = frozenset({"success", "failed"})
STATE_STYLE = {
    "success": "green",
    "failed": "red",
    "running": "yellow",
    "queued": "cyan",
    "upstream_failed": "red",
}


@dataclass(frozen=True)
class RunRow:
    """One DAG run as the progress view shows it."""

    dag_id: str
    run_id: str
    about: str
    done: int
    total: int
    state: str
    seconds: float | None


def describe(dag_id: str, conf: Mapping[str, Any] | None) -> str:
    """What a run is about, in a few words, from its conf (pure)."""
    conf = conf or {}
    if dag_id == "updates_push":
        return f"{conf.get('repo', '?')}: {', '.join(_packages(conf.get('updates'))) or '-'}"
    if dag_id == "masher_start":
        return f"Bodhi 2 push: {', '.join(_packages(conf.get('updates'))) or '-'}"
    if dag_id in ("rawhide_gating", "autosign"):
        builds = conf.get("builds") or []
        what = ", ".join(builds) if builds else "every build waiting"
        return f"{conf.get('release', 'rawhide')}: {what}"
    return ", ".join(f"{k}={v}" for k, v in sorted(conf.items()))[:60]


def _package(nvr: str) -> str:
    parts = nvr.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else nvr


def _packages(titles: Any) -> list[str]:
    """The package names of a push's updates, named as Bodhi names them in a compose (NVRs joined by spaces)."""
    if not isinstance(titles, list):
        return []
    return [_package(nvr) for title in titles if isinstance(title, str) for nvr in title.split()]


def bus_line(topic: str, body: Mapping[str, Any]) -> str | None:
    """One line for the terminal about a message of Bodhi's side of a push (``topic`` without the bus prefix):
    the push announced, releng-o-tron's report, Bodhi finishing it; None for any other message (pure)."""
    if topic == "bodhi.compose.start":
        return f"bodhi: compose.start (agent {body.get('agent')})"
    if topic == "bodhi.compose.composing":
        return f"bodhi: compose.composing {body.get('repo')}: {', '.join(body.get('updates') or [])}"
    if topic == "bodhi.masher.start":
        return f"bodhi: masher.start (Bodhi 2): {', '.join(body.get('updates') or [])}"
    if topic == "relengotron.push.complete":
        held = [h.get("label") for h in (body.get("artifacts") or {}).get("held_back") or []]
        more = f"; held back: {', '.join(map(str, held))}" if held else ""
        return f"releng-o-tron: push.complete {body.get('repo')}: {body.get('status')}{more}"
    if topic.startswith("bodhi.update.complete."):
        update = body.get("update") or {}
        request = topic.rsplit(".", 1)[-1]
        return f"bodhi: {update.get('alias')} ({update.get('title')}) pushed to {request}"
    if topic == "bodhi.compose.complete":
        return f"bodhi: compose.complete {body.get('repo')}: {'success' if body.get('success') else 'FAILED'}"
    return None


def _seconds(start: str | None, end: str | None, now: datetime) -> float | None:
    if not start:
        return None
    began = datetime.fromisoformat(start.replace("Z", "+00:00"))
    ended = datetime.fromisoformat(end.replace("Z", "+00:00")) if end else now
    return max(0.0, (ended - began).total_seconds())


def run_rows(
    runs: Iterable[Mapping[str, Any]], task_instances: Iterable[Mapping[str, Any]], now: datetime
) -> list[RunRow]:
    """One row per run (in the order given), counting its task instances done (pure)."""
    counts: dict[tuple[str, str], list[int]] = {}
    for ti in task_instances:
        done_total = counts.setdefault((ti["dag_id"], ti["dag_run_id"]), [0, 0])
        done_total[1] += 1
        if ti.get("state") in FINISHED_TASKS:
            done_total[0] += 1
    rows = []
    for run in runs:
        done, total = counts.get((run["dag_id"], run["dag_run_id"]), [0, 0])
        rows.append(
            RunRow(
                dag_id=run["dag_id"],
                run_id=run["dag_run_id"],
                about=describe(run["dag_id"], run.get("conf")),
                done=done,
                total=total,
                state=str(run.get("state") or "queued"),
                seconds=_seconds(run.get("start_date"), run.get("end_date"), now),
            )
        )
    return rows


def all_finished(rows: Sequence[RunRow]) -> bool:
    return all(row.state in FINISHED_RUNS for row in rows)


@dataclass(frozen=True)
class ActRow:
    title: str
    story: str
    state: str  # waiting | played
    at: float | None  # seconds since the demo began, when played


def render(acts: Sequence[ActRow], rows: Sequence[RunRow], status: str) -> RenderableType:
    """The whole view: the acts, the runs, and one status line."""
    story = Table(title="The scenario (played on Koji and Bodhi)", title_justify="left", expand=False)
    story.add_column("act")
    story.add_column("what happens")
    story.add_column("played", justify="right")
    for act in acts:
        when = f"{act.at:5.0f} s" if act.at is not None else "waiting"
        story.add_row(act.title, act.story, Text(when, style="green" if act.at is not None else "dim"))
    runs = Table(title="DAG runs (the listener's, and those masher_start triggers)", title_justify="left")
    runs.add_column("DAG")
    runs.add_column("about")
    runs.add_column("tasks", justify="right")
    runs.add_column("state")
    runs.add_column("time", justify="right")
    for row in rows:
        runs.add_row(
            row.dag_id,
            row.about,
            f"{row.done}/{row.total}",
            Text(row.state, style=STATE_STYLE.get(row.state, "")),
            f"{row.seconds:.0f} s" if row.seconds is not None else "",
        )
    if not rows:
        runs.add_row("(none yet)", "", "", "", "")
    return Group(story, runs, Text(status, style="dim"))


class ProgressView:
    """A rich Live view over :func:`render`; use as a context manager."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._live = Live(console=console, refresh_per_second=4, transient=False, auto_refresh=console.is_terminal)

    def __enter__(self) -> ProgressView:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._live.__exit__(*exc)
        self.console.line()

    def update(self, renderable: RenderableType) -> None:
        self._live.update(renderable, refresh=self.console.is_terminal)

    def say(self, line: str) -> None:
        """A line printed above the live view (kept in the scrollback)."""
        self._live.console.print(line)
