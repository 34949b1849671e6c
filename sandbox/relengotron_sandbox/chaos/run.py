"""``relengotron-sandbox chaos`` (``make chaos``): the demo's stack under a seeded fault plan, and its verdict.

The stack is the demo's (:func:`relengotron_sandbox.demo.run.start`), with Koji, ResultsDB and the bus's relay
reached through proxies the controller can stop. The workload (:mod:`.workload`) is played as the demo plays
its story, its acts spread over the faults (:meth:`Controller.gate`). A
controller thread strikes the faults one at a time (:mod:`.faults`), each once the previous one has recovered
and its planned moment has come; a fault that needs a moment (a compose, a sync) which is not there is put
back behind the others (:data:`MOMENT_TRIES` times), then dropped. The mirror is watched all along
(:mod:`.watch`). At the end: the demo's summary, the per-fault timeline, the invariants (:mod:`.invariants`)
with their counts, and a JSON report in ``logs/`` with the seed and the plan; a failure prints how to replay
it.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from rich.console import Console
from rich.table import Table

from relengotron.artifacts import load_release_config
from relengotron.kojiclient import KojiError
from relengotron.listener.rules import load_rules
from relengotron.tools.files import write_atomic
from relengotron_sandbox import testing
from relengotron_sandbox.chaos import invariants, workload
from relengotron_sandbox.chaos.faults import Hurt, Stage
from relengotron_sandbox.chaos.plan import Fault, Outcome, plan, plan_rows, recovery_figures, targets_for
from relengotron_sandbox.chaos.watch import MirrorLooks, MirrorWatch
from relengotron_sandbox.demo import run as demo
from relengotron_sandbox.demo.scenario import Act, Expected
from relengotron_sandbox.tcpproxy import TcpProxy

DEFAULT_STATE = Path("var/chaos")
FRONTED = ("koji", "resultsdb")  # the services the pipeline reaches through a proxy that can be stopped
SPAN = 360.0  # seconds over which the planned moments are spread
TIMEOUT = 2400.0  # seconds for the whole workload
STALL = 600.0  # seconds without any change before the run gives up
RECOVERY_TIMEOUT = 420.0  # seconds a component has to recover (a dead worker's heartbeat timeout included)
SHORT_WAIT = 20.0  # seconds a fault waits for its moment before it is put back behind the others
LAST_ACT_FAULTS = 2  # faults left to strike once the last act is played
MOMENT_TRIES = 4  # times a fault is tried for its moment; the last try waits longer (faults.MOMENT_WAIT)
REPORT = "chaos-report.json"


@dataclass
class Controller:
    """Strikes the plan's faults in a thread of its own (see the module docstring)."""

    faults: Sequence[Fault]
    hurt: Hurt
    say: Callable[[str], None] = print
    began: float = field(default_factory=time.time)
    outcomes: list[Outcome] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Controller:
        self.began = time.time()
        self._thread = threading.Thread(target=self._run, name="chaos-controller", daemon=True)
        self._thread.start()
        return self

    def done(self) -> int:
        with self.lock:
            return len(self.outcomes)

    def gate(self, acts: Sequence[Any]) -> Callable[[Any], bool]:
        """``demo.play``'s gate: the acts spread over the faults — the first at once, the last once all but
        :data:`LAST_ACT_FAULTS` are done, those between evenly — so that the workload is still running when
        the last faults strike; while a fault waits for a moment only the workload brings (a compose, a sync),
        one act more; every act once the plan is over."""
        order = {act.key: index for index, act in enumerate(acts)}
        spread = max(len(self.faults) - LAST_ACT_FAULTS, 0)

        def needed(index: int) -> int:
            return 0 if len(acts) < 2 else -(-index * spread // (len(acts) - 1))  # rounded up

        def may_play(act: Any) -> bool:
            if not self._thread.is_alive():
                return True
            done = self.done()
            allowed = max(k for k in range(len(acts)) if needed(k) <= done)
            return order[act.key] <= allowed + (1 if self.hurt.awaiting.is_set() else 0)

        return may_play

    def finish(self, timeout: float = RECOVERY_TIMEOUT) -> list[Outcome]:
        """Stop striking (faults not struck yet are recorded so), wait for the fault in flight to recover;
        the outcomes in plan order."""
        self.stopping.set()
        self._thread.join(timeout)
        with self.lock:
            seen = {o.fault.index for o in self.outcomes}
            for fault in self.faults:
                if fault.index not in seen:
                    self.outcomes.append(Outcome(fault, note="not struck: the workload had ended"))
            return sorted(self.outcomes, key=lambda o: o.fault.index)

    def _run(self) -> None:
        queue = deque((fault, 0) for fault in self.faults)
        while queue and not self.stopping.is_set():
            fault, tries = queue.popleft()
            wait = self.began + fault.at - time.time()
            if wait > 0 and self.stopping.wait(wait):
                queue.appendleft((fault, tries))
                return
            last = tries + 1 >= MOMENT_TRIES or not queue
            self.hurt.moment_wait = None if last else SHORT_WAIT
            strike = self.hurt.strike(fault)
            if strike is None and fault.target.during and not last:
                queue.append((fault, tries + 1))  # its moment is not there now: after the others
                continue
            outcome = Outcome(fault)
            if strike is None:
                outcome.note = (
                    "not struck: its moment did not come" if fault.target.during else "not struck: it was not running"
                )
                self.say(f"[yellow]⚡ {fault.describe()}: {outcome.note}[/]")
            else:
                outcome.struck, outcome.hit = round(strike.at - self.began, 1), strike.hit
                self.say(f"[magenta]⚡ {fault.describe()} at {outcome.struck:.0f} s: {strike.hit}[/]")
                deadline = strike.at + RECOVERY_TIMEOUT
                while time.time() < deadline:
                    if strike.recovered():
                        outcome.recovered = round(time.time() - strike.at, 1)
                        self.say(f"[magenta]  #{fault.index} recovered after {outcome.recovered:.1f} s[/]")
                        break
                    time.sleep(0.5)
                else:
                    outcome.note = f"did not recover within {RECOVERY_TIMEOUT:.0f} s"
                    self.say(f"[red]  #{fault.index} {outcome.note}[/]")
            with self.lock:
                self.outcomes.append(outcome)


def front(endpoints: dict[str, Any], fronts: dict[str, TcpProxy]) -> dict[str, Any]:
    """The endpoints with every URL of the :data:`FRONTED` services pointing at a proxy in front of it, and the
    bus's relay (where fedmsg subscribers connect: the listener) behind one too, in a fedmsg config of its own
    (the proxies are added to ``fronts``)."""
    routed = dict(endpoints)
    bus = dict(endpoints["bus"])
    outbound = bus["relay_outbound"]
    fronts["bus"] = TcpProxy("127.0.0.1", int(urlsplit(outbound).port or 0))
    relay = f"tcp://127.0.0.1:{fronts['bus'].port}"
    config = Path(bus["fedmsg_config"])
    fronted = config.parent.with_name(f"{config.parent.name}-chaos") / config.name
    fronted.parent.mkdir(exist_ok=True)
    write_atomic(fronted, config.read_text().replace(repr(outbound), repr(relay)).encode())
    routed["bus"] = {**bus, "relay_outbound": relay, "fedmsg_config": str(fronted)}
    for service in FRONTED:
        entry = dict(endpoints[service])
        for key, value in entry.items():
            if isinstance(value, str) and value.startswith("http://127.0.0.1:"):
                parts = urlsplit(value)
                port = int(parts.port or 80)
                if service not in fronts:
                    fronts[service] = TcpProxy("127.0.0.1", port)
                if fronts[service].target[1] == port:
                    entry[key] = urlunsplit(parts._replace(netloc=f"127.0.0.1:{fronts[service].port}"))
        routed[service] = entry
    return routed


def run_chaos(
    root: Path = DEFAULT_STATE,
    console: Console | None = None,
    *,
    seed: int,
    faults: int,
    targets: Sequence[str] | None = None,
    executor: str = "local",
) -> int:
    """One chaos run (:mod:`.workload`); 0 when the workload ended as designed, every invariant held and every
    fault that struck recovered, else 1. The stack is stopped at the end (its state, logs and report stay)."""
    console = console or Console()
    chosen = targets_for(executor, targets)
    faults_planned = plan(seed, faults, chosen, max(SPAN, faults * 8.0))
    replay = f"make chaos SEED={seed} FAULTS={faults} EXECUTOR={executor}"
    if targets:
        replay += f' TARGETS="{",".join(targets)}"'
    console.print(f"[bold]chaos[/]: seed {seed}, {faults} faults on {executor}; replay with: {replay}")
    fronts: dict[str, TcpProxy] = {}
    # fedmsg, the demo's default bus: the "bus" target stops the listener's link to its relay (chaos on the AMQP
    # broker is not part of this run)
    stack = demo.start(root, console, executor=executor, route=lambda e: front(e, fronts))
    try:
        return _run(
            stack, console, faults_planned, fronts, replay, seed, executor, workload.ACTS, workload.EXPECTED_END
        )
    finally:
        demo.stop(stack.layout.root)
        for proxy in fronts.values():
            proxy.close()


def _run(
    stack: demo.Stack,
    console: Console,
    faults: list[Fault],
    fronts: dict[str, TcpProxy],
    replay: str,
    seed: int,
    executor: str,
    acts: Sequence[Act],
    expected: Expected,
) -> int:
    stage = stage_of(stack, fronts)
    stopping = threading.Event()
    watch = MirrorWatch(stage.master).start()
    controller = Controller(faults, Hurt(stage, stopping), say=console.print).start()
    began = controller.began
    failure = None
    try:
        took = demo.play(stack, console, acts=acts, timeout=TIMEOUT, gate=controller.gate(acts), stall=STALL)
        console.print(f"[green]workload finished[/] in {took:.0f} s")
    except demo.DemoError as exc:
        failure = str(exc)
        console.print(f"[red]{exc}[/]")
    stopping.set()
    outcomes = controller.finish()
    looks = watch.stop()
    console.print(timeline(outcomes))
    held: list[invariants.Invariant] = []
    designed: list[str] = []
    pushes = 0
    try:
        world = world_of(stack, began, acts, expected, looks)
        designed = demo.show(world.facts, console, expected)
        pushes = len([r for r in world.facts.runs if r["dag_id"] == "updates_push"])
        held = invariants.check(world)
        console.print(invariants_table(held))
    except (requests.RequestException, KojiError, OSError, ValueError) as exc:  # the stack no longer answers
        failure = f"{failure + '; ' if failure else ''}the end state could not be read: {type(exc).__name__}: {exc}"
        console.print(f"[red]{failure}[/]")
    struck = [o for o in outcomes if o.struck is not None]
    unrecovered = [o for o in struck if o.recovered is None]
    ok = failure is None and not designed and all(i.held for i in held) and not unrecovered
    report = {
        "seed": seed,
        "executor": executor,
        "replay": replay,
        "plan": plan_rows(faults),
        "timeline": [o.row() for o in outcomes],
        "faults_struck": len(struck),
        "faults_survived": len(struck) - len(unrecovered),
        "recovery": recovery_figures(outcomes),
        "mirror_transient": sorted(looks.transient - looks.served),
        "pushes": pushes,
        "work_lost": sum(len(i.problems) for i in held if i.name.startswith(("every push", "no message"))),
        "invariants": [{"name": i.name, "held": i.held, "count": i.count, "problems": list(i.problems)} for i in held],
        "scenario_problems": designed,
        "failure": failure,
        "passed": ok,
    }
    path = write_atomic(stack.layout.logs / REPORT, (json.dumps(report, indent=1) + "\n").encode())
    console.print(f"report: {path}")
    if ok:
        console.print(f"[bold green]chaos passed[/]: {len(struck)} faults survived, every invariant held")
        return 0
    console.print(f"[bold red]chaos failed[/] (seed {seed}); replay with: {replay}")
    return 1


def stage_of(
    stack: demo.Stack,
    fronts: Mapping[str, TcpProxy] | None = None,
    listener: Callable[[], testing.Process] | None = None,
) -> Stage:
    """What the controller hurts in ``stack``: ``fronts``, the proxies of the services it may stop (none: it
    stops none); ``listener``, how to find the listener running now (default: the stack's, which this
    process's supervision replaces — a demo run by another process records it in its process record)."""
    config = load_release_config(stack.endpoints["releng"]["config"])
    return Stage(
        airflow=stack.airflow,
        airflow_home=stack.layout.airflow,
        api=stack.api(),
        airflow_url=stack.airflow_url,
        listener=listener or (lambda: stack.listener),
        listener_url=stack.listener_url,
        fronts=dict(fronts or {}),
        master=Path(config.mirror.master),
    )


def world_of(
    stack: demo.Stack, began: float, acts: Sequence[Act], expected: Expected, looks: MirrorLooks
) -> invariants.World:
    """What the invariants read once the workload ``acts``, played since ``began``, has ended (read-only)."""
    from relengotron.listener.config import load_config

    config = load_release_config(stack.endpoints["releng"]["config"])
    return invariants.World(
        facts=demo.gather_facts(stack, began, expected, acts),
        expected=expected,
        task_instances=stack.api().task_instances("2000-01-01T00:00:00+00:00"),
        inbox=Path(load_config(stack.listener_config).inbox_path),
        rules=load_rules(stack.listener_config.parent / "rules.yaml", config),
        master=Path(config.mirror.master),
        staging=Path(config.mirror.staging),
        public_key=Path(stack.endpoints["signing"]["public_key"]),
        looks=looks,
        pushed_releases={u.alias: u.release.removeprefix("f") for a in acts if a.push for u in a.push.updates},
    )


def timeline(outcomes: Sequence[Outcome]) -> Table:
    table = Table(title="Faults: what died, when, and how long recovery took")
    for column in ("#", "target", "struck at", "hit", "recovered after", "note"):
        table.add_column(column)
    for o in outcomes:
        table.add_row(
            str(o.fault.index),
            o.fault.describe().split(" ", 1)[1],
            "—" if o.struck is None else f"{o.struck:.0f} s",
            o.hit or "—",
            "—" if o.recovered is None else f"{o.recovered:.1f} s",
            o.note,
        )
    return table


def invariants_table(held: Sequence[invariants.Invariant]) -> Table:
    table = Table(title="Invariants")
    for column in ("invariant", "held", "checked", "problems"):
        table.add_column(column)
    for invariant in held:
        table.add_row(
            invariant.name,
            "[green]yes[/]" if invariant.held else "[red]NO[/]",
            invariant.count,
            "\n".join(invariant.problems[:8])
            + (f"\n… and {len(invariant.problems) - 8} more" * (len(invariant.problems) > 8)),
        )
    return table
