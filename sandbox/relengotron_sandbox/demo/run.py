"""``make demo`` end to end: start the stack (sandbox, embedded Airflow, listener), play the scenario on the bus
while showing the runs, summarise, and leave everything up until ``make demo-stop``.

All state lives under one directory (``var/demo``): ``sandbox/`` (the sandbox's state), ``airflow/`` (the
AIRFLOW_HOME: SQLite database, logs, generated passwords), ``listener/`` (config, demo-pace rules, inbox),
``logs/``, ``processes.json`` (the pids ``demo-stop`` stops) and ``demo.json`` (where everything is).
A new demo stops whatever the last one left running and starts from an empty directory.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from rich.console import Console

from relengotron.dashboard.links import addresses
from relengotron.kojiclient import KojiError
from relengotron.tools.files import write_atomic
from relengotron.yamlfile import FileError
from relengotron_sandbox import testing
from relengotron_sandbox.control import SandboxError
from relengotron_sandbox.demo import airflow_embed, listener_embed, processes, progress, scenario, summary
from relengotron_sandbox.demo.supervision import Supervision, Unrecoverable
from relengotron_sandbox.worldbuild import WorldBuildError

DEFAULT_STATE = Path("var/demo")
WORLD_CACHE = Path("var/cache/world")
SCENARIO_TIMEOUT = 540.0  # seconds for the whole scenario before the demo gives up waiting
POLL = 2.0  # seconds between looks at Airflow, the bus and the listener
SETTLE = 2.0  # seconds after the last act before "nothing pending, every run finished" means done
STALL = 150.0  # seconds without any change before the demo gives up (longer than a task's retry delays)
INFO_FILE = "demo.json"


class DemoError(RuntimeError):
    """The demo could not start, or its scenario did not end as designed."""


class DemoEnded(DemoError):
    """A part of the demo died and could not be brought back: nothing more can be learnt from the stack."""


START_ERRORS: tuple[type[BaseException], ...] = (
    testing.ProcessError,  # a process that exited or was not ready in time (AirflowEmbedError, ListenerEmbedError)
    FileError,
    SandboxError,
    WorldBuildError,
)


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def sandbox(self) -> Path:
        return self.root / "sandbox"

    @property
    def airflow(self) -> Path:
        return self.root / "airflow"

    @property
    def listener(self) -> Path:
        return self.root / "listener"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def strangers(self) -> list[str]:
        """What is in the directory that a demo does not put there (the demo wipes it only when empty)."""
        ours = {"sandbox", "airflow", "listener", "logs", INFO_FILE, processes.RECORD}
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.name not in ours and not p.name.startswith(tuple(f".{n}." for n in ours))
        )


@dataclass
class Stack:
    """What a started demo runs, and how to reach it."""

    layout: Layout
    endpoints: dict[str, Any]
    airflow_url: str
    passwords: dict[str, str]
    listener_url: str
    listener_config: Path
    airflow: testing.Process
    listener: testing.Process

    @property
    def admin_password(self) -> str:
        return self.passwords[airflow_embed.ADMIN]

    def api(self) -> airflow_embed.AirflowAPI:
        return airflow_embed.AirflowAPI(self.airflow_url, airflow_embed.ADMIN, self.admin_password)


# --------------------------------------------------------------------------- start and stop


def stop(root: Path) -> list[str]:
    """Stop everything a demo on ``root`` started: the listener, Airflow, then the sandbox. Idempotent: the
    names of what was running (empty when nothing was)."""
    from relengotron_sandbox import control

    layout = Layout(Path(root).absolute())
    stopped = []
    for process in sorted(processes.read_record(layout.root), key=lambda p: p.name != "listener"):
        if processes.stop(process):
            stopped.append(process.name)
    if control.down(layout.sandbox):
        stopped.append("sandbox")
    return stopped


def start(
    root: Path,
    console: Console,
    cache: Path = WORLD_CACHE,
    *,
    transport: str = "fedmsg",
    executor: str = "local",
    route: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Stack:
    """Stop what a previous demo left, then start the sandbox, Airflow (with ``executor``, one of
    :data:`airflow_embed.EXECUTORS`) and the listener from an empty ``root``, the DAGs publishing and the
    listener consuming on the bus ``transport`` (the sandbox's services publish on both). ``route``: the
    endpoints as the pipeline reaches them, from the sandbox's (the chaos run puts proxies in front of the
    services it stops); the stack keeps the sandbox's own. On any failure, whatever was started is stopped
    again before the error is raised."""
    from relengotron_sandbox import control

    layout = Layout(Path(root).absolute())
    strangers = layout.strangers()
    if strangers:
        shown = ", ".join(strangers[:5])
        raise DemoError(f"{layout.root} is not a demo's state directory (it holds {shown}): choose another --state")
    stop(layout.root)
    if layout.root.exists():
        shutil.rmtree(layout.root)
    layout.root.mkdir(parents=True)
    started: list[testing.Process] = []
    try:
        with console.status("building the world and starting the sandbox…"):
            endpoints = control.up(state_dir=layout.sandbox, cache_dir=Path(cache).absolute()).endpoints
            # how the pipeline (Airflow, the listener) reaches the sandbox; the demo's own acts and reads do not
            # go through the chaos run's proxies
            routed = endpoints if route is None else route(endpoints)
        console.print(
            f"[green]sandbox up[/] (Koji, PDC, ResultsDB, Bugzilla, Bodhi, the bus, Taskotron) in {layout.sandbox}"
        )
        # the listener's port is chosen now: Airflow's api-server (the dashboard) learns it from listener_default
        listener_port = testing.free_port()
        with console.status(f"starting Airflow ({airflow_embed.EXECUTORS[executor]}, 127.0.0.1 only)…"):
            airflow, url = airflow_embed.start(
                layout.airflow,
                testing.REPO,
                routed,
                layout.logs / "airflow.log",
                transport=transport,
                listener_url=f"http://127.0.0.1:{listener_port}",
                executor=executor,
            )
            started.append(airflow)
            processes.record(layout.root, started)
            airflow_embed.wait_healthy(url, airflow)
            passwords = airflow_embed.passwords(layout.airflow)
            api = airflow_embed.AirflowAPI(url, airflow_embed.ADMIN, passwords[airflow_embed.ADMIN])
            config = listener_embed.write_files(
                layout.listener,
                routed,
                url,
                airflow_embed.LISTENER_USER,
                passwords[airflow_embed.LISTENER_USER],
                transport=transport,
                http_port=listener_port,
            )
            wanted = listener_embed.dag_ids(config.parent / "rules.yaml")
            dags = api.wait_for_dags(wanted)
            for dag_id in unpaused(wanted, dags):
                api.unpause(dag_id)
        console.print(f"[green]Airflow up[/] at {url}; DAGs unpaused: {', '.join(unpaused(wanted, dags))}")
        with console.status("starting the listener…"):
            listener = listener_embed.start(config, layout.logs / "listener.log")
            started.append(listener)
            processes.record(layout.root, started)
            listener_url = listener_embed.wait_ready(config, listener)
        rules = config.parent / "rules.yaml"
        console.print(f"[green]listener up[/] ({listener_url}/metrics) on the {transport} bus, rules {rules}")
    except BaseException as exc:
        stop(layout.root)
        if isinstance(exc, START_ERRORS):
            raise DemoError(f"the demo could not start: {exc}") from exc
        raise
    stack = Stack(layout, endpoints, url, passwords, listener_url, config, airflow, listener)
    info = {
        "airflow": {
            "url": url,
            "user": airflow_embed.ADMIN,
            "passwords": str(layout.airflow / airflow_embed.PASSWORDS_FILE),
        },
        "dashboard": addresses(url),
        "listener": {"url": listener_url, "config": str(config)},
        "sandbox": str(layout.sandbox / "endpoints.json"),
        "logs": str(layout.logs),
    }
    write_atomic(layout.root / INFO_FILE, (json.dumps(info, indent=2) + "\n").encode())
    return stack


def attach(root: Path) -> Stack:
    """The :class:`Stack` of a demo running on ``root`` (started by another process), read from its files:
    ``demo.json``, the process record, the sandbox's endpoints. Read-only; its processes are the recorded ones
    (their exit status unknown here). A :class:`DemoError` when ``root`` holds no running demo."""
    from relengotron_sandbox import control

    layout = Layout(Path(root).absolute())
    try:
        info = json.loads((layout.root / INFO_FILE).read_text())
        recorded = {p.name: p for p in processes.read_record(layout.root)}
        return Stack(
            layout,
            control.read_endpoints(layout.sandbox),
            info["airflow"]["url"],
            airflow_embed.passwords(layout.airflow, timeout=0),
            info["listener"]["url"],
            Path(info["listener"]["config"]),
            recorded["airflow"],
            recorded["listener"],
        )
    except (OSError, ValueError, KeyError, SandboxError, testing.ProcessError) as exc:
        raise DemoError(f"no running demo on {layout.root}: {type(exc).__name__}: {exc}") from None


def unpaused(wanted: Sequence[str], dags: dict[str, dict[str, Any]]) -> list[str]:
    """The DAGs to unpause: those the listener triggers, and the manual ones (no schedule: unpausing starts
    nothing by itself). Scheduled DAGs (``ostree_maintenance``) stay paused (pure)."""
    manual = {dag_id for dag_id, dag in dags.items() if not dag.get("timetable_summary")}
    return sorted(set(wanted) | manual)


# --------------------------------------------------------------------------- the scenario


def _bus_prefix(endpoints: dict[str, Any]) -> str:
    bus = endpoints["bus"]
    return f"{bus['topic_prefix']}.{bus['environment']}."


def play(
    stack: Stack,
    console: Console,
    acts: Sequence[scenario.Act] = scenario.SCENARIO,
    timeout: float = SCENARIO_TIMEOUT,
    gate: Callable[[scenario.Act], bool] | None = None,
    stall: float = STALL,
) -> float:
    """Play ``acts`` and show the runs, and Bodhi's side of each push, until every act is played, Bodhi has
    finished every push (its updates pushed, no compose left), the listener has nothing pending and every run
    has finished; the seconds it took. ``gate``: whether an act that is ready may be played now (the chaos run
    spreads the acts over its faults). A :class:`DemoError` when ``timeout`` passes first, or when nothing
    moves for :data:`STALL` seconds."""
    from bodhi.client.bindings import BodhiClientException

    from relengotron.kojiclient import KojiConnection, connect
    from relengotron.listener.replay import Datagrepper, ReplayError, Window
    from relengotron_sandbox.bodhi.api import SandboxBodhi
    from relengotron_sandbox.connections import airflow_connections

    endpoints = stack.endpoints
    conn = airflow_connections(endpoints)["koji_default"]  # the pipeline's own Koji login (releng)
    fields = {"host": conn["host"], "login": conn["login"], "password": conn["password"], **conn["extra"]}
    koji = connect(KojiConnection.from_mapping(fields))
    bodhi = SandboxBodhi(endpoints["bodhi"])
    grepper = Datagrepper(endpoints["bus"]["datagrepper"])
    player = scenario.Player(
        koji, bodhi, as_user=lambda user: SandboxBodhi.as_user(endpoints["bodhi"], user, stack.layout.sandbox / "bodhi")
    )
    api = stack.api()
    began = time.time()
    since = datetime.fromtimestamp(began - 1, UTC).isoformat()
    played: dict[str, float] = {}
    rows: list[progress.RunRow] = []
    watch = _Watch(timeout, stack.layout.logs / "listener.log", stall)
    aliases = [alias for act in acts for alias in act.aliases]
    window = Window(began - 1, None, "demo")
    shown: set[str] = set()  # the bus messages already told on the terminal
    done: set[str] = set()
    composes: list[str] | None = None
    supervision = supervise(stack)
    try:
        with progress.ProgressView(console) as view:
            while True:
                try:
                    for line in supervision.check():
                        view.say(f"[yellow]⟳ {line}[/]")
                except Unrecoverable as exc:
                    raise DemoEnded(str(exc)) from None
                try:
                    messages = grepper.messages(window)
                    rows = progress.run_rows(api.runs(since), api.task_instances(since), datetime.now(UTC))
                    health = listener_embed.health(stack.listener_url)
                    done = scenario.finished_aliases(bodhi.updates(updateid=",".join(aliases))) if aliases else set()
                    composes = [f"{c['release']['name']} {c['request']} ({c['state']})" for c in bodhi.composes()]
                except (requests.RequestException, ReplayError, ValueError, BodhiClientException) as exc:
                    health = {"problems": [f"not answering: {type(exc).__name__}: {str(exc)[:200]}"]}
                    pending, composes = -1, None
                else:
                    pending = int(health.get("pending") or 0)
                    for line in _bus_lines(messages, _bus_prefix(endpoints), shown):
                        view.say(f"    {line}")
                    composing = bool(composes)
                    for act in scenario.ready_acts(acts, set(played), done, composing=composing):
                        if act.push is not None and composing:
                            continue  # an act of this round pushed: the next push waits for Bodhi again
                        if gate is not None and not gate(act):
                            continue
                        _play(player, act, view)
                        played[act.key] = time.time() - began
                        composing = composing or act.push is not None
                elapsed = time.time() - began
                view.update(progress.render(_act_rows(acts, played), rows, _status(elapsed, health)))
                last = max(played.values(), default=0.0)
                quiet = not pending and bool(rows) and progress.all_finished(rows) and elapsed - last > SETTLE
                if len(played) == len(acts) and quiet and set(aliases) <= done and composes == []:
                    return elapsed
                moved = ([(r.run_id, r.state, r.done, r.total) for r in rows], pending, len(played), len(shown))
                watch.check(elapsed, moved, _stuck(acts, played, rows, pending, set(aliases) - done, composes))
                time.sleep(POLL)
    finally:
        koji.close()
        grepper.close()


def supervise(stack: Stack) -> Supervision:
    """Watch the stack's processes (the demo's live view tells what died and came back); a restarted listener
    is put in the stack and in the record ``demo-stop`` reads."""
    layout = stack.layout

    def restarted(listener: testing.Process) -> None:
        stack.listener = listener
        processes.record(layout.root, [stack.airflow, listener])

    return Supervision(
        airflow=stack.airflow,
        airflow_home=layout.airflow,
        listener=stack.listener,
        start_listener=lambda: listener_embed.start(stack.listener_config, layout.logs / "listener.log"),
        logs=layout.logs,
        on_listener=restarted,
    )


def _bus_lines(messages: Sequence[dict[str, Any]], prefix: str, shown: set[str]) -> list[str]:
    """Lines about the messages of Bodhi's side of the pushes not told yet (``shown`` is updated)."""
    lines = []
    for message in messages:
        key = str(message.get("msg_id"))
        if key in shown:
            continue
        line = progress.bus_line(str(message.get("topic", "")).removeprefix(prefix), message.get("msg") or {})
        if line is not None:
            shown.add(key)
            lines.append(line)
    return lines


def _play(player: scenario.Player, act: scenario.Act, view: progress.ProgressView) -> None:
    from relengotron_sandbox.bodhi.api import SandboxBodhiError

    view.say(f"[bold]{act.title}[/]: {act.story}")
    try:
        lines = player.play(act)
    except (KojiError, SandboxBodhiError, requests.RequestException, ValueError, OSError) as exc:
        raise DemoError(f"playing the act {act.title!r} failed: {exc}") from exc
    for line in lines:
        view.say(f"    {line}")


class _Watch:
    """Gives up when the scenario takes longer than ``timeout``, or when nothing at all changed (runs, their
    tasks, the listener's pending messages, the acts) for ``stall`` seconds."""

    def __init__(self, timeout: float, listener_log: Path, stall: float = STALL) -> None:
        self.timeout = timeout
        self.listener_log = listener_log
        self.stall = stall
        self.state: Any = None
        self.changed = 0.0

    def check(self, elapsed: float, state: Any, describe: str) -> None:
        if state != self.state:
            self.state, self.changed = state, elapsed
        if elapsed > self.timeout:
            raise DemoError(f"the scenario did not finish within {self.timeout:.0f} s; {describe}")
        if elapsed - self.changed > self.stall:
            tail = testing.log_tail(self.listener_log, 5)
            raise DemoError(f"nothing moved for {self.stall:.0f} s; {describe}\nthe listener's log ends:\n{tail}")


def _stuck(
    acts: Sequence[scenario.Act],
    played: dict[str, float],
    rows: Sequence[progress.RunRow],
    pending: int,
    unfinished: set[str],
    composes: Sequence[str] | None,
) -> str:
    waiting = [a.title for a in acts if a.key not in played]
    running = [f"{r.dag_id} {r.run_id} ({r.state})" for r in rows if r.state not in progress.FINISHED_RUNS]
    bodhi = "not answering" if composes is None else f"composes {list(composes) or 'none'}"
    return (
        f"acts waiting: {waiting or 'none'}; runs unfinished: {running or 'none'}; listener pending: {pending}; "
        f"Bodhi: {bodhi}, updates not finished: {sorted(unfinished) or 'none'}"
    )


def _status(elapsed: float, health: dict[str, Any]) -> str:
    line = f"{elapsed:.0f} s; listener: {health.get('pending', '?')} message(s) not yet turned into runs"
    problems = [*(health.get("problems") or []), *([health["airflow_error"]] if health.get("airflow_error") else [])]
    return line + (f"; listener says: {'; '.join(problems)}" if problems else "")


def _act_rows(acts: Sequence[scenario.Act], played: dict[str, float]) -> list[progress.ActRow]:
    return [
        progress.ActRow(a.title, a.story, "played" if a.key in played else "waiting", played.get(a.key)) for a in acts
    ]


def summarize(
    stack: Stack,
    console: Console,
    began: float,
    expected: scenario.Expected,
    acts: Sequence[scenario.Act] = scenario.SCENARIO,
) -> list[str]:
    """Print the summary tables; the problems found (empty: the scenario ended as designed)."""
    return show(gather_facts(stack, began, expected, acts), console, expected)


def show(facts: summary.Facts, console: Console, expected: scenario.Expected) -> list[str]:
    """Print the summary tables of ``facts``; the problems found against ``expected``."""
    for table in summary.tables(facts):
        console.print(table)
    console.print(summary.runs_line(facts))
    found = summary.problems(facts, expected)
    for problem in found:
        console.print(f"[red]✗ {problem}[/]")
    return found


def gather_facts(
    stack: Stack, began: float, expected: scenario.Expected, acts: Sequence[scenario.Act]
) -> summary.Facts:
    """The end state of the scenario ``acts`` played since ``began`` (read-only)."""
    import bugzilla

    from relengotron.adapters.resultsdb import ResultsDB, ResultsDBConnection
    from relengotron.artifacts import load_release_config
    from relengotron.kojiclient import KojiConnection, connect
    from relengotron.listener.config import load_config as load_listener_config
    from relengotron.listener.inbox import Inbox
    from relengotron_sandbox.bodhi.api import SandboxBodhi

    endpoints = stack.endpoints
    koji = connect(KojiConnection(hub=endpoints["koji"]["hub"], topurl=endpoints["koji"]["topurl"]))
    resultsdb = ResultsDB.connect(ResultsDBConnection.from_mapping({"url": endpoints["resultsdb"]["url"]}))
    bugs = bugzilla.Bugzilla(endpoints["bugzilla"]["url"], force_rest=True, use_creds=False)
    inbox = Inbox(load_listener_config(stack.listener_config).inbox_path)
    try:
        return summary.gather(
            datagrepper=endpoints["bus"]["datagrepper"],
            prefix=_bus_prefix(endpoints),
            since=began - 1,
            runs=stack.api().runs("2000-01-01T00:00:00+00:00"),
            koji=koji,
            resultsdb=resultsdb,
            master=Path(load_release_config(endpoints["releng"]["config"]).mirror.master),
            nvrs=[nvr for act in acts for _tag, nvr in act.retag],
            dead_letters=int(inbox.status(dead_letter_limit=0)["dead_letters_total"]),
            bodhi=SandboxBodhi(endpoints["bodhi"]),
            bugzilla=bugs,
            aliases=expected.pushed,
        )
    finally:
        inbox.close()
        resultsdb.close()
        koji.close()


def way_in(stack: Stack, console: Console) -> None:
    """Where to look now, and how to stop."""
    layout = stack.layout
    console.print(
        f"\n[bold]Airflow UI[/]: {stack.airflow_url}  (user [bold]admin[/], password [bold]{stack.admin_password}[/])"
    )
    console.print(f"  passwords: {layout.airflow / airflow_embed.PASSWORDS_FILE}")
    dashboard = addresses(stack.airflow_url)
    console.print(
        f"[bold]Release dashboard[/]: {dashboard['dashboard']}  (in the UI: Browse → Release engineering, "
        f"{dashboard['nav']}; JSON under {dashboard['dashboard']}api/)"
    )
    console.print(f"Listener: {stack.listener_url}/healthz and /metrics")
    console.print(f"  .venv/bin/relengotron listener status --config {stack.listener_config}")
    console.print(f"Bus archive (datagrepper): {stack.endpoints['bus']['datagrepper']}raw")
    console.print(f"Bodhi: {stack.endpoints['bodhi']['url']}  (its updates, comments and composes)")
    console.print(
        f"  .venv/bin/relengotron-sandbox bodhi login --state {layout.sandbox}  (the bodhi CLI's environment)"
    )
    console.print(f"Sandbox endpoints: {layout.sandbox / 'endpoints.json'}; logs: {layout.logs}")
    console.print("Everything stays up for exploration; stop it with [bold]make demo-stop[/].")


def run_demo(
    root: Path = DEFAULT_STATE, console: Console | None = None, *, transport: str = "fedmsg", executor: str = "local"
) -> int:
    """``relengotron-sandbox demo``: 0 when the scenario ended as designed, 1 otherwise (everything stays up).
    ``transport``: the bus the pipeline publishes and listens on (``fedmsg``, the default, or ``amqp``);
    ``executor``: Airflow's (``local``, the default, or ``celery``)."""
    console = console or Console()
    began_all = time.monotonic()
    stack = start(root, console, transport=transport, executor=executor)
    console.print(f"[green]up[/] in {time.monotonic() - began_all:.0f} s; playing the scenario on the bus…")
    began = time.time()
    failure: str | None = None
    try:
        took = play(stack, console)
        console.print(f"[green]scenario finished[/] in {took:.0f} s")
    except DemoEnded as exc:
        console.print(f"[red]{exc}[/]")
        console.print("What is left runs still; stop it with [bold]make demo-stop[/].")
        return 1
    except DemoError as exc:
        failure = str(exc)
        console.print(f"[red]{exc}[/]")
    except KeyboardInterrupt:
        console.print("\nStopped watching; everything stays up. Stop it with [bold]make demo-stop[/].")
        return 130
    try:
        found = summarize(stack, console, began, scenario.EXPECTED)
    except (requests.RequestException, KojiError, OSError, ValueError) as exc:
        console.print(f"[red]the summary could not be gathered: {type(exc).__name__}: {str(exc)[:300]}[/]")
        found = ["no summary"]
    way_in(stack, console)
    total = time.monotonic() - began_all
    if failure or found:
        console.print(f"[red]The demo did not end as designed[/] ({total:.0f} s).")
        return 1
    console.print(f"[bold green]Done[/] in {total:.0f} s.")
    return 0
