"""An updates push as data: the trigger's conf checked, the artifacts it touches, what became of each artifact
and each update, and the messages that say so. Pure: plain data in, plain data out, no I/O.

A push (Bodhi's, for one release and one request — ``testing`` or ``stable``) mashes the request's Koji tag
into the updates repository of its stream (``updates/<version>/<arch>`` for stable, ``updates/testing/…``
for testing) and — for stable pushes — recomposes the release's artifacts whose manifest the push changes
(:mod:`relengotron.planning`). Testing pushes compose no artifacts: the artifacts are released from stable
content only. Before the mash, the updates' builds are moved into the request's tag as Bodhi's composer moves
them (:func:`tag_moves`). What became of each artifact and update is :mod:`relengotron.push_report`'s.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from relengotron.config import MirrorLayout, Release, ReleaseConfig
from relengotron.names import NVR, WORD
from relengotron.planning import Plan, TargetPlan
from relengotron.planning import Update as PlanUpdate
from relengotron.updates import Update, UpdateError, parse_updates

MODNAME = "relengotron"
COMPOSED_TOPIC = "artifact.composed"  # relengotron.artifacts.COMPOSED_TOPIC without the modname
RELEASED_TOPIC = "artifact.released"
COMPLETE_TOPIC = "push.complete"
REQUESTS = ("testing", "stable")
TESTING_ONLY = "unchanged, skipped: testing pushes compose no artifacts (they are released from stable pushes)"
# The steps of one artifact target, in order, as the DAG names its tasks (the reason an artifact is held back
# is the first of them that failed).
STEPS = ("compose", "announce", "tests", "sign", "promote")


class PushError(ValueError):
    """The push's conf (or what it names) is wrong; the message names the field."""


@dataclass(frozen=True)
class Push:
    """One push of a Bodhi compose: its id, the release and request its ``repo`` names, the updates as the
    compose names them (``entries``: each one's NVRs, docs/bodhi-handshake.md §1) and, once read from Bodhi,
    as Bodhi describes them (``updates``)."""

    push_id: str
    release: Release
    request: str
    entries: tuple[tuple[str, ...], ...]
    updates: tuple[Update, ...] = ()
    agent: str | None = None

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any], config: ReleaseConfig, updates: Any = None) -> Push:
        """Check the trigger conf (``push_id``, ``repo``, ``updates``, ``agent``) against the release
        configuration and, when given, the updates Bodhi describes (each must have exactly the builds of one
        entry, every entry one update); a :class:`PushError` names the field. Pure."""
        push_id = conf.get("push_id")
        if not isinstance(push_id, str) or not WORD.match(push_id):
            raise PushError(f"push_id: must be a word like 2016-06-14.0, not {push_id!r}")
        release, request = repo_of(conf.get("repo"), config)
        entries = parse_entries(conf.get("updates"))
        agent = conf.get("agent")
        if agent is not None and not isinstance(agent, str):
            raise PushError(f"agent: must be a user name, not {agent!r}")
        push = cls(push_id=push_id, release=release, request=request, entries=entries, agent=agent or None)
        return push if updates is None else push.with_updates(updates)

    def with_updates(self, raw: Any) -> Push:
        """This push with the updates as Bodhi describes them; :class:`PushError` when they are not the
        compose's (a build more or less, an entry without its update)."""
        if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
            raise PushError("updates: the updates read from Bodhi are missing (did the updates task run?)")
        try:
            updates = parse_updates(raw)
        except UpdateError as exc:
            raise PushError(f"updates: {exc}") from None
        named = {tuple(sorted(e)) for e in self.entries}
        described = {u.builds: u.alias for u in updates}
        if set(described) != named:
            extra = sorted(" ".join(b) for b in set(described) - named)
            missing = sorted(" ".join(b) for b in named - set(described))
            raise PushError(f"updates: Bodhi's updates are not the compose's (missing: {missing}, extra: {extra})")
        return dataclasses.replace(self, updates=updates)

    @property
    def repo(self) -> str:
        """The compose's Koji tag, as Bodhi names it: the tag the push fills (:attr:`tag`)."""
        return self.tag

    @property
    def tag(self) -> str:
        """The Koji tag this push mashes (and its artifacts are composed from)."""
        return self.release.tag(self.request)

    @property
    def stream(self) -> str:
        """The updates repository's stream: "" for stable (``updates/24``), "testing" (``updates/testing/24``)."""
        return "" if self.request == "stable" else self.request

    @property
    def composes_artifacts(self) -> bool:
        return self.request == "stable"

    @property
    def plan_updates(self) -> tuple[PlanUpdate, ...]:
        return tuple(PlanUpdate(u.alias, u.builds) for u in self.updates)

    @property
    def lock_name(self) -> str:
        """What one push at a time is counted per: the release and the request."""
        return f"{self.release.id}-{self.request}"


def repo_of(repo: Any, config: ReleaseConfig) -> tuple[Release, str]:
    """The release and request a compose's ``repo`` names: the release whose ``testing`` or ``stable`` tag it is
    (Bodhi names a compose by the tag it fills). :class:`PushError` naming it otherwise."""
    if not isinstance(repo, str) or not repo:
        raise PushError(f"repo: must be the Koji tag a compose fills, not {repo!r}")
    release = config.release_of_tag(repo)
    request = next((r for r in REQUESTS if release is not None and release.tags.get(r) == repo), None)
    if release is None or request is None:
        known = sorted(t for r in config.releases.values() for role, t in r.tags.items() if role in REQUESTS)
        raise PushError(f"repo: {repo!r} is not the testing or stable tag of a configured release ({', '.join(known)})")
    return release, request


def parse_entries(raw: Any) -> tuple[tuple[str, ...], ...]:
    """A compose's updates as Bodhi names them: each one's build NVRs joined by single spaces. Pure;
    :class:`PushError` naming the entry that is not one, or a build named twice."""
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise PushError("updates: must be a non-empty list (each update's NVRs joined by spaces)")
    entries: list[tuple[str, ...]] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw):
        nvrs = entry.split(" ") if isinstance(entry, str) else []
        if not nvrs or not all(NVR.match(n) for n in nvrs):
            raise PushError(f"updates[{index}]: {entry!r} is not build NVRs joined by spaces")
        twice = sorted(seen & set(nvrs))
        if twice or len(set(nvrs)) != len(nvrs):
            raise PushError(f"updates[{index}]: names a build twice: {', '.join(twice) or entry}")
        seen |= set(nvrs)
        entries.append(tuple(nvrs))
    return tuple(entries)


SOURCES = "SRPMS"  # the sources repository's directory beside the arches' (updates/24/SRPMS)


def push_arches(push: Push) -> tuple[str, ...]:
    """The repositories a push mashes, by their directory: each arch of the release, then the sources."""
    return (*push.release.arches, SOURCES)


def updates_path(layout: MirrorLayout, release: Release, arch: str, stream: str) -> str:
    """The updates repository of ``stream`` for ``arch``, relative to the staging/mirror top: the layout's
    ``updates`` template filled in, an empty stream leaving no empty path part (``updates/24/x86_64``)."""
    filled = layout.updates.format(version=release.version, arch=arch, stream=stream)
    return posixpath.normpath("/".join(p for p in filled.split("/") if p))


# --- Bodhi 2's masher.start: one compose per release and request ----------------------------------------------


def group_composes(
    updates: Iterable[Mapping[str, Any]], config: ReleaseConfig, *, push_id: str, agent: str | None
) -> list[dict[str, Any]]:
    """The composes Bodhi 2's masher made of one ``bodhi.masher.start``: its updates (each ``alias``, ``release``
    — the release configuration's id —, ``request``, ``type``, ``builds``) grouped per release and request,
    security composes first, then stable before testing (Bodhi's ``Compose.__lt__``), then by repo. Each as
    the ``updates_push`` conf of that compose (docs/bodhi-handshake.md §1). Pure; :class:`PushError` naming
    every update that cannot be pushed (a release the configuration lacks, a request other than testing or
    stable)."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    problems = []
    for update in updates:
        release, request = update.get("release"), update.get("request")
        if release not in config.releases or request not in REQUESTS or request not in config.releases[release].tags:
            problems.append(f"{update.get('alias')}: release {release!r}, request {request!r}")
            continue
        groups.setdefault((release, request), []).append(update)
    if problems:
        raise PushError(f"updates: not a testing or stable push of a configured release: {'; '.join(problems)}")

    def priority(key: tuple[str, str]) -> tuple[bool, bool, str]:
        security = any(u.get("type") == "security" for u in groups[key])
        return (not security, key[1] != "stable", config.releases[key[0]].tag(key[1]))

    return [
        {
            "push_id": f"{push_id}.{release}-{request}",
            "repo": config.releases[release].tag(request),
            "updates": [
                " ".join(sorted(u["builds"])) for u in sorted(groups[(release, request)], key=lambda u: u["alias"])
            ],
            "agent": agent,
        }
        for release, request in sorted(groups, key=priority)
    ]


# --- Bodhi's tag moves ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TagPlan:
    """The Koji tag actions that put a push's builds where Bodhi's composer puts them: ``moves`` (from tag, to
    tag, NVR: one ``tagBuild`` with ``fromtag`` each), ``untags`` (tag, NVR: a move a crash left half done, a
    pending tag the push removes), and the builds already where they go (``done``)."""

    moves: tuple[tuple[str, str, str], ...]
    untags: tuple[tuple[str, str], ...]
    done: tuple[str, ...]

    def as_dict(self) -> dict[str, list[Any]]:
        return {
            "moves": [list(m) for m in self.moves],
            "untags": [list(u) for u in self.untags],
            "done": list(self.done),
        }

    def render(self) -> str:
        lines = [f"move {nvr}: {source} → {target}" for source, target, nvr in self.moves]
        lines += [f"untag {nvr} from {tag}" for tag, nvr in self.untags]
        lines.append(f"{len(self.done)} build(s) already in place")
        return "\n".join(lines)


def pending_tags(push: Push) -> tuple[str, ...]:
    """The tags Bodhi's composer removes from a push's builds: the stable-pending tag for a stable push, the
    signing- and testing-pending tags for a testing one (``remove_pending_tags``)."""
    roles = ("stable_pending",) if push.request == "stable" else ("signing_pending", "testing_pending")
    return tuple(push.release.tags[role] for role in roles if role in push.release.tags)


def tag_moves(push: Push, tags_of: Mapping[str, Iterable[str]]) -> TagPlan:
    """Bodhi's composer's tag actions for the push's updates (``_determine_tag_actions``,
    ``remove_pending_tags``): each build moves from the tag it waits in — the release's ``testing`` tag for an
    update whose status is testing, else its ``candidate`` tag — into the request's tag, and loses the pending
    tags. ``tags_of``: NVR → the tags it is in now. Pure; idempotent by construction (what is in place is
    ``done``). :class:`PushError` naming every build found in neither tag, before anything is moved."""
    target = push.tag
    pending = pending_tags(push)
    moves: list[tuple[str, str, str]] = []
    untags: list[tuple[str, str]] = []
    done: list[str] = []
    problems: list[str] = []
    for update in push.updates:
        source = push.release.tags.get("testing" if update.status == "testing" else "candidate")
        for nvr in update.builds:
            have = set(tags_of.get(nvr, ()))
            if target in have:
                if source and source in have:
                    untags.append((source, nvr))
                else:
                    done.append(nvr)
            elif source and source in have:
                moves.append((source, target, nvr))
            else:
                problems.append(f"{nvr} ({update.alias}) is in neither {source} nor {target} (in: {sorted(have)})")
            untags += [(tag, nvr) for tag in pending if tag in have]
    if problems:
        raise PushError("tags: " + "; ".join(problems))
    return TagPlan(tuple(moves), tuple(untags), tuple(done))


# --- the plan, as the DAG maps it ------------------------------------------------------------------------


def _carried(target: TargetPlan, updates: Sequence[Update]) -> list[str]:
    """Aliases of the updates one of whose builds is in the target's (new) manifest."""
    nvrs = set(target.manifest.nvrs)
    return sorted(u.alias for u in updates if any(b in nvrs for b in u.builds))


def plan_items(push: Push, plan: Plan | None, artifacts: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """One item per artifact target (the mapped task group's input, labelled with the target's label), in
    the plan's order: :meth:`TargetPlan.as_dict` plus ``updates`` (the aliases it carries).

    ``plan`` None (a testing push): every target of ``artifacts`` (configuration artifacts) is skipped.
    """
    if plan is None:
        from relengotron.planning import Target

        targets = [Target(a, push.release, arch) for a in artifacts for arch in a.arches]
        return [
            {
                "id": t.id,
                "artifact": t.artifact.name,
                "kind": t.artifact.kind,
                "release": push.release.id,
                "arch": t.arch,
                "label": t.label,
                "decision": "skip",
                "reason": TESTING_ONLY,
                "manifest": [],
                "input_hash": None,
                "released": None,
                "changes": [],
                "updates": [],
            }
            for t in sorted(targets, key=lambda t: t.id)
        ]
    return [{**t.as_dict(), "updates": _carried(t, push.updates)} for t in plan.targets]


def targets_by_kind(items: Iterable[Mapping[str, Any]], kinds: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """The plan's items per artifact kind: the map indexes of each kind's task group in ``updates_push``, every
    kind of ``kinds`` with its list (empty: the group's tasks are skipped). Pure. An item of a kind that is not
    in ``kinds`` is a :class:`ValueError` naming it: no task group would compose it."""
    out: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for item in items:
        if item["kind"] not in out:
            known = ", ".join(out) or "none"
            raise ValueError(f"{item['label']}: no task group composes a {item['kind']} artifact (kinds: {known})")
        out[item["kind"]].append(dict(item))
    return out


# --- the tests' freshness ---------------------------------------------------------------------------------


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def fresh_results(
    results: Iterable[Mapping[str, Any]], since: str, *, skew: timedelta = timedelta(0)
) -> list[dict[str, Any]]:
    """The ResultsDB results submitted at or after ``since`` (the ISO time of a compose) less ``skew`` (how
    far ResultsDB's clock may lag ours): those about this compose of an artifact, not an earlier one of the
    same artifact (whose item is the same)."""
    start = _when(since)
    if start is None:
        raise ValueError(f"since: {since!r} is not an ISO date and time")
    start -= skew
    out = []
    for result in results:
        stamp = _when(result.get("submit_time"))
        if stamp is not None and stamp >= start:
            out.append(dict(result))
    return out
