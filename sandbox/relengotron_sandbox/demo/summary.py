"""The end of the demo: what happened, read back from where it happened — the messages in the bus archive
(datagrepper), Airflow's runs, ResultsDB's outcomes, Koji's tags, the master mirror, Bodhi's updates (its REST
API, through bodhi-client) and their bugs in Bugzilla — never from what the demo meant to do. :func:`gather`
reads (I/O); :func:`tables` and :func:`problems` are pure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from relengotron_sandbox.demo.progress import describe
from relengotron_sandbox.demo.scenario import Expected, finished, pushed_comment

PUSH_COMPLETE = "relengotron.push.complete"
RELEASED = "relengotron.artifact.released"
GATING = ".gating."
SIGNED = ".autosign.signed"


@dataclass
class Facts:
    """Everything the summary shows; built by :func:`gather`."""

    messages: list[dict[str, Any]]  # every envelope archived since the demo began, oldest first
    runs: list[dict[str, Any]]  # Airflow's DAG runs
    tests: dict[str, dict[str, str]] = field(default_factory=dict)  # artifact item → testcase → outcome
    labels: dict[str, str] = field(default_factory=dict)  # artifact label → item
    tags: dict[str, list[str]] = field(default_factory=dict)  # nvr → its Koji tags now
    on_mirror: dict[str, bool] = field(default_factory=dict)  # released label → found on the master mirror
    dead_letters: int = 0
    prefix: str = ""  # "org.fedoraproject.dev."
    updates: dict[str, dict[str, Any]] = field(default_factory=dict)  # alias → the update as Bodhi shows it
    bugs: dict[int, tuple[str, str]] = field(default_factory=dict)  # bug → (status, resolution) in Bugzilla

    def bodies(self, topic_suffix: str) -> list[dict[str, Any]]:
        return [m["msg"] for m in self.messages if str(m.get("topic", "")).endswith(topic_suffix)]

    def topic_counts(self) -> Counter[str]:
        return Counter(str(m.get("topic", "")).removeprefix(self.prefix) for m in self.messages)


# --------------------------------------------------------------------------- pure


def build_outcomes(facts: Facts) -> dict[str, tuple[str, str]]:
    """nvr → (what happened: promoted | quarantined | signed, the tag it went to), from the pipeline's messages."""
    out: dict[str, tuple[str, str]] = {}
    for message in facts.messages:
        topic, body = str(message.get("topic", "")), message.get("msg") or {}
        if GATING in topic and body.get("outcome") in ("promoted", "quarantined"):
            for build in body.get("builds") or []:
                out[build["nvr"]] = (body["outcome"], build.get("to_tag", ""))
        elif topic.endswith(SIGNED):
            out[body["nvr"]] = ("signed", body.get("to_tag", ""))
    return out


def short(facts: Facts, label: str) -> str:
    """An artifact's short name (``cloud-base-ami``) from its label (``Fedora-Cloud-Base-24.x86_64.raw.xz``)."""
    item = facts.labels.get(label)
    return item.rsplit("-", 2)[0] if item else label


def pushes_table(facts: Facts) -> Table:
    table = Table(title="Pushes (updates_push): composed or skipped, synced or held back", title_justify="left")
    for column in ("push", "updates", "composed", "skipped as unchanged", "synced to the mirror", "held back"):
        table.add_column(column)
    for body in facts.bodies(PUSH_COMPLETE):
        artifacts = body.get("artifacts") or {}
        released = list(artifacts.get("released") or [])
        held = list(artifacts.get("held_back") or [])
        unchanged = [short(facts, label) for label in artifacts.get("unchanged") or []]
        synced = Text()
        for label in released:
            ok = facts.on_mirror.get(label, False)
            synced.append(f"{short(facts, label)} ")
            synced.append("✓" if ok else "✗ missing", style="green" if ok else "red")
            if label != released[-1]:
                synced.append("\n")
        builds = [nvr for update in body.get("updates") or [] for nvr in update.get("builds") or []]
        table.add_row(
            f"{body.get('release')} {body.get('request')} ({announced_by(facts, body)})\n{body.get('push_id')}",
            "\n".join(builds),
            "\n".join(short(facts, label) for label in released + [h["label"] for h in held]) or "-",
            "\n".join(unchanged) or "-",
            synced if released else ("updates repo only" if body.get("synced") else "-"),
            Text("\n".join(f"{short(facts, h['label'])}: {h.get('reason', '')}" for h in held), style="red")
            if held
            else "-",
        )
    return table


def announced_by(facts: Facts, push_complete: Mapping[str, Any]) -> str:
    """How Bodhi announced the push a ``push.complete`` reports on: its updates_push run was triggered by a
    masher_start run (Bodhi 2's ``masher.start``) or by the listener (``compose.composing``)."""
    run_id = str(push_complete.get("run_id") or "")
    masher = [r["dag_run_id"] for r in facts.runs if r.get("dag_id") == "masher_start"]
    return "Bodhi 2: masher_start" if any(run_id.startswith(f"{m}__") for m in masher) else "compose.composing"


def bodhi_table(facts: Facts) -> Table:
    table = Table(title="Bodhi: the pushed updates as Bodhi shows them, their bugs in Bugzilla", title_justify="left")
    for column in ("update", "status", "pushed", "request", "Bodhi's comment", "bugs (Bugzilla)"):
        table.add_column(column)
    for alias, update in facts.updates.items():
        builds = [b.get("nvr", "") for b in update.get("builds") or []]
        bugs = Text()
        for bug in update.get("bugs") or []:
            status, resolution = facts.bugs.get(int(bug["bug_id"]), ("?", ""))
            if len(bugs):
                bugs.append("\n")
            bugs.append(f"{bug['bug_id']} ")
            closed = (status, resolution) == ("CLOSED", "ERRATA")
            bugs.append(f"{status} {resolution}".strip(), style="green" if closed else "red")
        ok = finished(update)
        table.add_row(
            f"{alias}\n" + "\n".join(builds),
            Text(str(update.get("status")), style="green" if ok else "red"),
            str(bool(update.get("pushed"))).lower(),
            str(update.get("request") or "-"),
            Text(comment) if (comment := pushed_comment(update)) else Text("none", style="red"),
            bugs if len(bugs) else "-",
        )
    return table


def runs_table(facts: Facts) -> Table:
    table = Table(title="DAG runs (Airflow)", title_justify="left")
    for column in ("DAG", "run", "about", "state"):
        table.add_column(column)
    style = {"success": "green", "failed": "red"}
    for run in facts.runs:
        state = str(run.get("state"))
        about = describe(run["dag_id"], run.get("conf"))
        table.add_row(run["dag_id"], run["dag_run_id"], about, Text(state, style=style.get(state, "yellow")))
    return table


def tests_table(facts: Facts) -> Table:
    table = Table(title="Tests of the composed artifacts (ResultsDB: newest outcomes)", title_justify="left")
    table.add_column("artifact (ResultsDB item)")
    table.add_column("outcomes")
    for item in sorted(set(facts.labels.values())):
        outcomes = facts.tests.get(item, {})
        text = Text()
        for testcase, outcome in sorted(outcomes.items()):
            if len(text):
                text.append(", ")
            text.append(f"{testcase} ")
            text.append(outcome, style="green" if outcome == "PASSED" else "red")
        table.add_row(item, text if outcomes else Text("no result", style="dim"))
    return table


def builds_table(facts: Facts) -> Table:
    table = Table(title="Builds: gated (rawhide_gating) and signed (autosign)", title_justify="left")
    table.add_column("build")
    table.add_column("outcome")
    table.add_column("moved to")
    table.add_column("Koji tags now")
    style = {"promoted": "green", "quarantined": "red", "signed": "cyan"}
    for nvr, (outcome, to_tag) in sorted(build_outcomes(facts).items()):
        table.add_row(nvr, Text(outcome, style=style.get(outcome, "")), to_tag, ", ".join(facts.tags.get(nvr, [])))
    return table


def messages_table(facts: Facts) -> Table:
    counts = facts.topic_counts()
    table = Table(
        title=f"Messages on the bus since the demo began (datagrepper): {sum(counts.values())}", title_justify="left"
    )
    table.add_column("topic")
    table.add_column("messages", justify="right")
    for topic, count in sorted(counts.items()):
        table.add_row(topic, str(count))
    return table


def runs_line(facts: Facts) -> str:
    states = Counter(f"{r['dag_id']} {r.get('state')}" for r in facts.runs)
    return "DAG runs: " + ", ".join(f"{n} {what}" for what, n in sorted(states.items()))


def tables(facts: Facts) -> list[Table]:
    return [
        runs_table(facts),
        pushes_table(facts),
        bodhi_table(facts),
        tests_table(facts),
        builds_table(facts),
        messages_table(facts),
    ]


def problems(facts: Facts, expected: Expected) -> list[str]:
    """How the end state differs from what the scenario must end with; empty when it is all there (pure)."""
    found: list[str] = []
    outcomes = build_outcomes(facts)
    for nvr in expected.promoted:
        if outcomes.get(nvr, ("",))[0] != "promoted":
            found.append(f"{nvr} was not promoted (got {outcomes.get(nvr, ('nothing',))[0]})")
    for nvr in expected.quarantined:
        if outcomes.get(nvr, ("",))[0] != "quarantined":
            found.append(f"{nvr} was not quarantined (got {outcomes.get(nvr, ('nothing',))[0]})")
    for nvr, tag in expected.signed.items():
        if outcomes.get(nvr, ("",))[0] != "signed" or tag not in facts.tags.get(nvr, []):
            found.append(f"{nvr} was not signed and moved to {tag} (tags now: {facts.tags.get(nvr, [])})")
    held = {h["label"] for b in facts.bodies(PUSH_COMPLETE) for h in (b.get("artifacts") or {}).get("held_back") or []}
    for label in sorted(held ^ set(expected.held_back)):
        found.append(f"{label} was {'held back' if label in held else 'not held back'}, unexpectedly")
    for label, present in sorted(facts.on_mirror.items()):
        if not present:
            found.append(f"{label} was released but is not on the master mirror")
    held_runs = {b.get("run_id") for b in facts.bodies(PUSH_COMPLETE) if b.get("status") == "held-back"}
    for run in facts.runs:
        if run.get("state") == "failed" and run["dag_run_id"] not in held_runs:  # a held-back push ends red
            found.append(f"the {run['dag_id']} run {run['dag_run_id']} failed")
    found += bodhi_problems(facts, expected)
    if facts.dead_letters:
        found.append(f"the listener dead-lettered {facts.dead_letters} message(s) (relengotron listener status)")
    return found


def bodhi_problems(facts: Facts, expected: Expected) -> list[str]:
    """How Bodhi's end state differs from the scenario's: every pushed update finished (pushed, stable, its
    request cleared) with Bodhi's comment naming exactly the artifacts held back from it, and every bug of a
    pushed update closed ERRATA in Bugzilla (pure)."""
    found: list[str] = []
    for alias in expected.pushed:
        update = facts.updates.get(alias)
        if update is None:
            found.append(f"Bodhi does not show the update {alias}")
            continue
        if not finished(update):
            state = f"status {update.get('status')}, pushed {update.get('pushed')}, request {update.get('request')}"
            found.append(f"{alias} was not finished by Bodhi ({state})")
        comment = pushed_comment(update)
        if comment is None:
            found.append(f"Bodhi posted no comment on {alias} saying it was pushed")
        else:
            held = expected.held_back_in.get(alias, ())
            for label in held:
                if label not in comment:
                    found.append(f"Bodhi's comment on {alias} does not name {label} as held back: {comment!r}")
            if not held and "Held back" in comment:
                found.append(f"Bodhi's comment on {alias} says something was held back: {comment!r}")
        for bug in update.get("bugs") or []:
            state = facts.bugs.get(int(bug["bug_id"]), ("unknown", ""))
            if state != ("CLOSED", "ERRATA"):
                found.append(f"bug {bug['bug_id']} of {alias} is {' '.join(state).strip()}, not CLOSED ERRATA")
    for bug_id, alias in expected.bugs_closed.items():
        if bug_id not in {int(b["bug_id"]) for b in (facts.updates.get(alias) or {}).get("bugs") or []}:
            found.append(f"bug {bug_id} is not a bug of {alias} in Bodhi")
    return found


# --------------------------------------------------------------------------- reading the world


def gather(
    *,
    datagrepper: str,
    prefix: str,
    since: float,
    runs: list[dict[str, Any]],
    koji: Any,
    resultsdb: Any,
    master: Path,
    nvrs: Iterable[str],
    dead_letters: int,
    bodhi: Any,
    bugzilla: Any,
    aliases: Sequence[str],
) -> Facts:
    """Read the end state (read-only): the bus archive since ``since``, ResultsDB's newest outcomes of every
    artifact announced, the Koji tags of ``nvrs`` and of every gated or signed build, the master mirror, Bodhi's
    updates ``aliases`` (``bodhi``: a :class:`relengotron_sandbox.bodhi.api.SandboxBodhi`) and their bugs
    (``bugzilla``: a python-bugzilla ``Bugzilla``)."""
    from relengotron.listener.replay import Datagrepper, Window

    grepper = Datagrepper(datagrepper)
    try:
        messages = list(grepper.messages(Window(since, None, "demo summary")))
    finally:
        grepper.close()
    facts = Facts(messages=messages, runs=runs, dead_letters=dead_letters, prefix=prefix)
    facts.labels = {b["label"]: b["item"] for b in facts.bodies("relengotron.artifact.composed")}
    if facts.labels:
        for result in resultsdb.latest(sorted(set(facts.labels.values())), type="compose-artifact"):
            item = _first(result["data"].get("item"))
            facts.tests.setdefault(item, {})[result["testcase"]["name"]] = result["outcome"]
    wanted = set(nvrs) | set(build_outcomes(facts))
    facts.tags = {nvr: sorted(koji.tags_of(nvr)) for nvr in sorted(wanted)}
    for body in facts.bodies(RELEASED):
        facts.on_mirror[body["label"]] = released_on_mirror(master, body)
    if aliases:
        shown = {u["alias"]: u for u in bodhi.updates(updateid=",".join(aliases))}
        facts.updates = {alias: shown[alias] for alias in aliases if alias in shown}
    ids = sorted({int(b["bug_id"]) for u in facts.updates.values() for b in u.get("bugs") or []})
    if ids:
        facts.bugs = {int(bug.id): (str(bug.status), str(bug.resolution or "")) for bug in bugzilla.getbugs(ids)}
    return facts


def released_on_mirror(master: Path, body: Mapping[str, Any]) -> bool:
    """Whether a released artifact is on the master mirror: its OSTree commit in the mirror's repository (a later
    push may have moved the ref on), or every one of its image files."""
    from relengotron.ostree.repo import OSTreeRepo

    paths: Sequence[str] = body.get("paths") or []
    if body.get("kind") == "ostree":
        repo = master / paths[0]
        return repo.is_dir() and OSTreeRepo(repo).has_commit(str(body.get("identity")))
    return bool(paths) and all((master / p).is_file() for p in paths)


def _first(value: Any) -> str:
    return str(value[0]) if isinstance(value, list) and value else str(value)
