"""The promises a chaos run checks at its end, each with its count (what was checked) and its problems.

1. **pushes** — every push requested finished: Bodhi finished each update, each ``updates_push`` run ended and
   said so on the bus (``relengotron.push.complete``), a failed one with its reason;
2. **gatekeeper** — nothing on the master mirror untested or unsigned: every artifact a push released passed
   every test ResultsDB holds for it; every image ``CHECKSUM`` file verifies (``gpg --verify``), every RPM
   (``rpmkeys -K``), every OSTree ref's commit (``ostree pull --commit-metadata-only`` with gpg-verify);
3. **mirror** — the mirror never served metadata naming a missing file (:mod:`.watch`);
4. **advisories** — every pushed update's advisory is in its release's ``updateinfo.xml`` on the mirror;
5. **runs once** — no DAG run twice: each run the listener's inbox asked for was asked for once, Airflow has
   it, and Airflow has no run that neither the inbox nor a DAG (``masher_start``'s split) asked for;
6. **messages** — no message lost or doubled: every message the bus archived on a topic the listener's rules
   cover is in the listener's inbox (stored or dropped by rule), and none went into two runs of one DAG;
   nothing pending, nothing dead-lettered;
7. **settled** — no task left running, queued or deferred, no run unfinished;
8. **leases** — no push lease left held in the staging tree.

Read-only: files are read, stock tools run in temporary directories.
"""

from __future__ import annotations

import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relengotron.listener.rules import RuleSet
from relengotron.push_state import LOCKS
from relengotron.sync.repodata import RepodataError, decompress, parse_repomd
from relengotron_sandbox.chaos.watch import MirrorLooks
from relengotron_sandbox.demo.scenario import Expected, finished
from relengotron_sandbox.demo.summary import PUSH_COMPLETE, Facts

PASSED = "PASSED"
# what unreadable input raises (files, metadata, the inbox, a tool): the invariant is reported as not checked
UNCHECKABLE = (OSError, ValueError, KeyError, sqlite3.Error, subprocess.SubprocessError)
SETTLED = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})


@dataclass(frozen=True)
class Invariant:
    name: str
    count: str  # what was checked, in numbers
    problems: tuple[str, ...] = ()

    @property
    def held(self) -> bool:
        return not self.problems


@dataclass
class World:
    """What the checks read, gathered by the run once it has ended."""

    facts: Facts
    expected: Expected
    task_instances: list[dict[str, Any]]
    inbox: Path
    rules: RuleSet
    master: Path
    staging: Path
    public_key: Path
    looks: MirrorLooks
    pushed_releases: Mapping[str, str] = field(default_factory=dict)  # alias → release version ("24")


def check(world: World) -> list[Invariant]:
    """Every invariant, in the order of the module docstring. A check that cannot be made (its input
    unreadable) is an invariant that does not hold, saying why — never a crash that loses the report."""
    checks: list[tuple[str, Callable[[], list[Invariant]]]] = [
        ("every push requested finished", lambda: [pushes(world)]),
        ("nothing on the mirror untested or unsigned", lambda: [gatekeeper(world)]),
        ("the mirror never served metadata naming a missing file", lambda: [mirror(world.looks)]),
        ("every advisory present", lambda: [advisories(world)]),
        ("no DAG run twice; no message lost or doubled", lambda: inbox_invariants(world)),
        ("no task left running or deferred", lambda: [settled(world)]),
        ("no lease left held", lambda: [leases(world.staging)]),
    ]
    found: list[Invariant] = []
    for name, one in checks:
        try:
            found += one()
        except (
            OSError,
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            sqlite3.Error,
            subprocess.SubprocessError,
        ) as exc:
            found.append(Invariant(name, "not checked", (f"could not be checked: {type(exc).__name__}: {exc}",)))
    return found


# --------------------------------------------------------------------------- 1. pushes


def pushes(world: World) -> Invariant:
    facts = world.facts
    push_runs = [r for r in facts.runs if r["dag_id"] == "updates_push"]
    completes = {b.get("run_id"): b for b in facts.bodies(PUSH_COMPLETE)}
    problems = []
    for run in push_runs:
        body = completes.get(run["dag_run_id"])
        if run.get("state") not in ("success", "failed"):
            problems.append(f"updates_push {run['dag_run_id']} did not finish ({run.get('state')})")
        elif body is None:
            problems.append(f"updates_push {run['dag_run_id']} ended {run['state']} without push.complete")
        elif run["state"] == "failed" and not (body.get("status") and body.get("artifacts")):
            problems.append(f"updates_push {run['dag_run_id']} failed without saying why: {body}")
    for alias in world.expected.pushed:
        update = facts.updates.get(alias)
        if update is None or not finished(update):
            state = "missing" if update is None else f"status {update.get('status')}, request {update.get('request')}"
            problems.append(f"Bodhi did not finish {alias} ({state})")
    count = f"{len(push_runs)} pushes, {len(world.expected.pushed)} updates"
    return Invariant("every push requested finished (or failed saying why)", count, tuple(problems))


# --------------------------------------------------------------------------- 2. the final gatekeeper


def gatekeeper(world: World) -> Invariant:
    facts = world.facts
    problems: list[str] = []
    released = sorted(
        {label for b in facts.bodies(PUSH_COMPLETE) for label in (b.get("artifacts") or {}).get("released") or []}
    )
    for label in released:
        outcomes = facts.tests.get(facts.labels.get(label, ""), {})
        failed = {case: outcome for case, outcome in outcomes.items() if outcome != PASSED}
        if not outcomes or failed:
            problems.append(
                f"{label} was released {'untested' if not outcomes else f'with tests not passed: {failed}'}"
            )
    with tempfile.TemporaryDirectory(prefix="chaos-verify-") as scratch:
        checksums, rpms, refs = _signed_content(world.master, world.public_key, Path(scratch), problems)
    count = (
        f"{len(released)} released artifacts tested, {checksums} CHECKSUM files, {rpms} RPMs, {refs} OSTree refs "
        "verified"
    )
    return Invariant("nothing on the mirror untested or unsigned", count, tuple(problems))


def _signed_content(master: Path, key: Path, scratch: Path, problems: list[str]) -> tuple[int, int, int]:
    gnupg = scratch / "gnupg"
    gnupg.mkdir(mode=0o700)
    _tool(["gpg", "--batch", "--homedir", str(gnupg), "--import", str(key)])
    checksums = sorted(master.rglob("*CHECKSUM"))
    for path in checksums:
        done = subprocess.run(
            ["gpg", "--batch", "--homedir", str(gnupg), "--verify", str(path)], capture_output=True, check=False
        )
        if done.returncode:
            problems.append(f"{path.relative_to(master)}: gpg --verify failed: {_last_line(done.stderr)}")
    rpms = sorted(master.rglob("*.rpm"))
    if rpms:
        db = scratch / "rpmdb"
        db.mkdir()
        _tool(["rpmkeys", "--dbpath", str(db), "--import", str(key)])
        for start in range(0, len(rpms), 200):
            batch = rpms[start : start + 200]
            done = subprocess.run(["rpmkeys", "--dbpath", str(db), "-K", *map(str, batch)], capture_output=True)
            for line in done.stdout.decode().splitlines():
                if not line.rstrip().endswith("digests signatures OK"):
                    problems.append(f"rpmkeys -K: {line.replace(str(master) + '/', '')}")
    refs = 0
    for repo in sorted(p.parent for p in master.rglob("config") if (p.parent / "objects").is_dir()):
        for ref in sorted((repo / "refs" / "heads").rglob("*")):
            if ref.is_file():
                refs += 1
                name = str(ref.relative_to(repo / "refs" / "heads"))
                why = _ostree_verified(repo, name, key, scratch / f"ostree-{refs}")
                if why:
                    problems.append(f"{repo.relative_to(master)} {name}: {why}")
    return len(checksums), len(rpms), refs


def _ostree_verified(repo: Path, ref: str, key: Path, scratch: Path) -> str | None:
    """Why ``ref``'s commit in ``repo`` does not verify with ``key`` (None: it does), as a client pulls it."""
    client = str(scratch)
    steps = [
        ["ostree", "init", f"--repo={client}", "--mode=archive"],
        ["ostree", f"--repo={client}", "remote", "add", "--set=gpg-verify=true", "mirror", f"file://{repo}"],
        ["ostree", f"--repo={client}", "remote", "gpg-import", "mirror", "-k", str(key)],
        ["ostree", f"--repo={client}", "pull", "--commit-metadata-only", "mirror", ref],
    ]
    for argv in steps:
        done = subprocess.run(argv, capture_output=True, check=False)
        if done.returncode:
            return f"ostree {argv[2] if len(argv) > 2 else argv[1]} failed: {_last_line(done.stderr)}"
    return None


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(nothing on stderr)"


def _tool(argv: Sequence[str]) -> None:
    subprocess.run(list(argv), capture_output=True, check=True)


# --------------------------------------------------------------------------- 3. the mirror as it was served


def mirror(looks: MirrorLooks) -> Invariant:
    count = f"{looks.looks} looks, {looks.checked} named files checked, {len(looks.transient - looks.served)} transient"
    problems = tuple(f"served: {p}" for p in sorted(looks.served))
    if looks.looks == 0:
        problems += (f"the mirror was never looked at ({len(looks.errors)} looks failed)",)
    return Invariant("the mirror never served metadata naming a missing file", count, problems)


# --------------------------------------------------------------------------- 4. advisories


def advisories(world: World) -> Invariant:
    """Each pushed alias is in ``updateinfo.xml`` of every updates repository of its release on the mirror."""
    problems: list[str] = []
    repos = 0
    for alias, version in sorted(world.pushed_releases.items()):
        found = list(_updateinfos(world.master, version))
        repos += len(found)
        if not found:
            problems.append(f"{alias}: no updates repository of release {version} on the mirror")
        for repo, text in found:
            if f"<id>{alias}</id>" not in text:
                problems.append(f"{alias}: not in {repo.relative_to(world.master)}'s updateinfo.xml")
    count = f"{len(world.pushed_releases)} advisories in {repos} repositories"
    return Invariant("every advisory present", count, tuple(problems))


def _updateinfos(master: Path, version: str) -> Iterable[tuple[Path, str]]:
    """(repository, its updateinfo.xml) of each binary updates repository of ``version`` (stable: not under
    ``updates/testing``; not the SRPMS or debug ones, which carry no advisories)."""
    for repomd in sorted(master.glob(f"**/updates/{version}/*/repodata/repomd.xml")):
        repo = repomd.parent.parent
        if repo.name == "SRPMS":
            continue
        try:
            infos = [data for data in parse_repomd(repomd.read_bytes()) if data.type == "updateinfo"]
            if not infos:
                yield repo, "no updateinfo in its repomd.xml"
            for data in infos:
                path = repo / data.href
                yield repo, decompress(path.name, path.read_bytes()).decode()
        except (OSError, RepodataError) as exc:
            yield repo, f"unreadable: {exc}"


# --------------------------------------------------------------------------- 5, 6. the listener's inbox


def inbox_invariants(world: World) -> list[Invariant]:
    covered = [
        m for m in world.facts.messages if any(rule.covers(str(m.get("topic", ""))) for rule in world.rules.rules)
    ]
    runs = {(r["dag_id"], r["dag_run_id"]) for r in world.facts.runs}
    with sqlite3.connect(f"file:{world.inbox}?mode=ro", uri=True) as db:
        stored = {row[0] for row in db.execute("SELECT msg_id FROM messages")}
        doubled = db.execute(
            "SELECT m.msg_id, u.dag_id, count(*) FROM deliveries d JOIN messages m ON m.seq = d.seq "
            "JOIN units u ON u.id = d.unit_id GROUP BY m.msg_id, u.dag_id HAVING count(*) > 1"
        ).fetchall()
        dropped = {row[0] for row in db.execute("SELECT msg_id FROM dropped")}
        units = db.execute("SELECT dag_id, dag_run_id, state FROM units").fetchall()
        pending = db.execute("SELECT count(*) FROM messages WHERE state != 'done'").fetchone()[0]
        dead = db.execute("SELECT count(*) FROM dead_letters WHERE state = 'dead'").fetchone()[0]
    lost = [m["msg_id"] for m in covered if m["msg_id"] not in stored and m["msg_id"] not in dropped]
    message_problems = [f"lost (archived, never in the inbox): {msg_id}" for msg_id in lost]
    message_problems += [f"{msg_id} went into {n} runs of {dag_id}" for msg_id, dag_id, n in doubled]
    if pending:
        message_problems.append(f"{pending} message(s) still pending in the inbox")
    if dead:
        message_problems.append(f"{dead} dead letter(s)")
    per_run: dict[tuple[str, str], int] = {}
    for dag_id, run_id, _state in units:
        per_run[(dag_id, run_id)] = per_run.get((dag_id, run_id), 0) + 1
    run_problems = [f"{d} {r} asked for {n} times" for (d, r), n in sorted(per_run.items()) if n > 1]
    run_problems += [
        f"{d} {r}: the inbox's run is not in Airflow ({state})" for d, r, state in units if (d, r) not in runs
    ]
    by_dag = {(r["dag_id"], r["dag_run_id"]) for r in world.facts.runs if r.get("triggered_by") == "operator"}
    extra = sorted(runs - set(per_run) - by_dag)
    run_problems += [f"{d} {r}: a run no inbox unit asked for" for d, r in extra]
    count = f"{len(per_run)} runs asked for by the listener and {len(by_dag)} by a DAG, {len(runs)} in Airflow"
    return [
        Invariant("no DAG run twice", count, tuple(run_problems)),
        Invariant(
            "no message lost or doubled",
            f"{len(covered)} archived on the rules' topics, {len(stored)} stored, {len(dropped)} dropped by rule",
            tuple(message_problems),
        ),
    ]


# --------------------------------------------------------------------------- 7, 8. nothing left behind


def settled(world: World) -> Invariant:
    unsettled = [t for t in world.task_instances if t.get("state") not in SETTLED]
    runs = [r for r in world.facts.runs if r.get("state") not in ("success", "failed")]
    problems = [
        f"{t['dag_id']} {t['dag_run_id']} {t['task_id']}[{t.get('map_index')}] is {t.get('state')}" for t in unsettled
    ]
    problems += [f"{r['dag_id']} {r['dag_run_id']} is {r.get('state')}" for r in runs]
    count = f"{len(world.task_instances)} task instances, {len(world.facts.runs)} runs"
    return Invariant("no task left running or deferred, no run unfinished", count, tuple(problems))


def leases(staging: Path) -> Invariant:
    held = sorted((staging / LOCKS).glob("*.json")) if (staging / LOCKS).is_dir() else []
    problems = tuple(f"lease still held: {p.name}: {p.read_text().strip()[:200]}" for p in held)
    return Invariant("no lease left held", f"{len(held)} lease file(s) in {staging / LOCKS}", problems)
