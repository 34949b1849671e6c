"""The end-of-life plan of a release: every change, as data, before anything changes. Pure, no I/O.

The facts (:class:`EOLFacts`) are gathered elsewhere and may describe the whole world — every Koji build target,
every ref of the shared ostree repository, every top directory of the mirror: the plan keeps only what belongs to
the release, so it never touches another release. What is already done (release inactive, target gone, tag
locked, bug closed, ref carrying ``ostree.endoflife``, path gone from the master mirror, message published) is
left out: re-planning after the plan ran gives an empty plan, and a plan cut short is finished by the next one.

Order: PDC release inactive; Koji build targets deleted (no new builds); tags locked; open bugs closed as
CLOSED/EOL with Fedora's comment; ostree refs carved out (a final commit with ``ostree.endoflife`` and, when the
successor release has the matching ref, ``ostree.endoflife-rebase``); the release's mirror trees moved to the
archive; the EOL message last. Refs and mirror paths are the release's when they match the configured templates
with the release's version: templates without ``{version}`` are shared between releases and never touched.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from relengotron.config import Release, ReleaseConfig

EOL_MODNAME = "relengotron"
EOL_TOPIC = "release.eol"
RESOLUTION = "EOL"
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

BUG_COMMENT = """\
{name} changed to end-of-life (EOL) status on {date}. {name} is
no longer maintained, which means that it will not receive any further
security or bug fix updates. As a result we are closing this bug.

If you can reproduce this bug against a currently maintained version of
Fedora please feel free to reopen this bug against that version. If you
are unable to reopen this bug, please file a new report against the
current release. If you experience problems, please add a comment to this
bug.

Thank you for reporting this bug and we are sorry it could not be fixed."""


class EOLError(ValueError):
    """The release cannot be planned for end of life; the message says which release and why."""


@dataclass(frozen=True)
class KojiTarget:
    name: str
    build_tag: str
    dest_tag: str


@dataclass(frozen=True)
class KojiTag:
    name: str
    locked: bool


@dataclass(frozen=True)
class OpenBug:
    id: int
    product: str
    version: str
    component: str = ""


@dataclass(frozen=True)
class RefHead:
    ref: str
    endoflife: bool  # the head commit already carries ostree.endoflife


@dataclass(frozen=True)
class EOLFacts:
    """What the services hold now, as gathered by the I/O side (it may hold facts about other releases)."""

    pdc_active: Mapping[str, bool]  # PDC release id → its active flag
    targets: tuple[KojiTarget, ...] = ()  # Koji build targets
    tags: tuple[KojiTag, ...] = ()  # Koji tags (those that exist)
    bugs: tuple[OpenBug, ...] = ()  # open Bugzilla bugs
    refs: tuple[RefHead, ...] = ()  # refs of the shared ostree repository
    mirror_paths: tuple[str, ...] = ()  # paths present on the master mirror, relative to it
    announced: frozenset[str] = frozenset()  # release ids whose EOL message was already published


@dataclass(frozen=True)
class Step(ABC):
    """One change; ``key`` names it uniquely (an Airflow map index), ``describe()`` says it for people."""

    kind: ClassVar[str]
    service: ClassVar[str]

    @property
    def key(self) -> str:
        return f"{self.kind}:{self._subject()}"

    @abstractmethod
    def _subject(self) -> str: ...

    @abstractmethod
    def describe(self) -> str: ...

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}


@dataclass(frozen=True)
class SetReleaseInactive(Step):
    kind: ClassVar[str] = "pdc-release-inactive"
    service: ClassVar[str] = "pdc"
    pdc_release: str

    def _subject(self) -> str:
        return self.pdc_release

    def describe(self) -> str:
        return f"set PDC release {self.pdc_release} inactive"


@dataclass(frozen=True)
class DeleteBuildTarget(Step):
    kind: ClassVar[str] = "koji-delete-target"
    service: ClassVar[str] = "koji"
    name: str
    build_tag: str
    dest_tag: str

    def _subject(self) -> str:
        return self.name

    def describe(self) -> str:
        return f"delete build target {self.name} (build tag {self.build_tag}, destination {self.dest_tag})"


@dataclass(frozen=True)
class LockTag(Step):
    kind: ClassVar[str] = "koji-lock-tag"
    service: ClassVar[str] = "koji"
    tag: str

    def _subject(self) -> str:
        return self.tag

    def describe(self) -> str:
        return f"lock tag {self.tag}"


@dataclass(frozen=True)
class CloseBug(Step):
    kind: ClassVar[str] = "bugzilla-close"
    service: ClassVar[str] = "bugzilla"
    bug_id: int
    product: str
    version: str
    comment: str
    status: str = "CLOSED"
    resolution: str = RESOLUTION

    def _subject(self) -> str:
        return str(self.bug_id)

    def describe(self) -> str:
        return f"close bug {self.bug_id} ({self.product} {self.version}) as {self.status} {self.resolution}"


@dataclass(frozen=True)
class CarveOutRef(Step):
    kind: ClassVar[str] = "ostree-carve-out"
    service: ClassVar[str] = "ostree"
    ref: str
    endoflife: str  # the ostree.endoflife message
    rebase: str | None  # ostree.endoflife-rebase: the successor's matching ref

    def _subject(self) -> str:
        return self.ref

    def describe(self) -> str:
        rebase = f"; ostree.endoflife-rebase={self.rebase}" if self.rebase else ""
        return f"carve out {self.ref}: final commit with ostree.endoflife{rebase}"


@dataclass(frozen=True)
class MoveMirrorPath(Step):
    kind: ClassVar[str] = "mirror-archive"
    service: ClassVar[str] = "mirror"
    path: str  # relative to both trees
    source: str
    destination: str

    def _subject(self) -> str:
        return self.path

    def describe(self) -> str:
        return f"move {self.source} to {self.destination}"


@dataclass(frozen=True)
class PublishEOL(Step):
    kind: ClassVar[str] = "publish-eol"
    service: ClassVar[str] = "bus"
    release: str
    modname: str
    topic: str
    body: dict[str, Any]

    def _subject(self) -> str:
        return self.release

    def describe(self) -> str:
        return f"publish {self.modname}.{self.topic} for {self.release}"


STEP_KINDS: dict[str, type[Step]] = {
    cls.kind: cls
    for cls in (SetReleaseInactive, DeleteBuildTarget, LockTag, CloseBug, CarveOutRef, MoveMirrorPath, PublishEOL)
}


def step_from_dict(data: Mapping[str, Any]) -> Step:
    """The inverse of :meth:`Step.as_dict` (steps travel between tasks as JSON)."""
    fields = dict(data)
    kind = fields.pop("kind", None)
    if kind not in STEP_KINDS:
        raise EOLError(f"unknown EOL step kind {kind!r}")
    return STEP_KINDS[kind](**fields)


@dataclass(frozen=True)
class EOLPlan:
    release: Release
    eol_date: date
    steps: tuple[Step, ...]

    @property
    def empty(self) -> bool:
        return not self.steps

    def render(self) -> str:
        """The dry-run text shown before anything changes."""
        head = f"EOL plan for {self.release.name} ({self.release.id}), end of life on {self.eol_date.isoformat()}"
        if not self.steps:
            return f"{head}: nothing to do, every change is already made."
        lines = [f"{head}: {len(self.steps)} steps"]
        width = len(str(len(self.steps)))
        lines += [f"  {n:>{width}}. [{s.service}] {s.describe()}" for n, s in enumerate(self.steps, 1)]
        comments = {s.comment for s in self.steps if isinstance(s, CloseBug)}
        for comment in sorted(comments):
            lines += ["", "Comment on each closed bug:", *(f"  | {line}".rstrip() for line in comment.splitlines())]
        return "\n".join(lines)


def plan_eol(release_id: str, config: ReleaseConfig, facts: EOLFacts, eol_date: date) -> EOLPlan:
    """The complete ordered list of changes that makes ``release_id`` end-of-life, minus those already made."""
    if release_id not in config.releases:
        known = ", ".join(sorted(config.releases))
        raise EOLError(f"unknown release {release_id!r} (configured: {known})")
    release = config.releases[release_id]
    if release.state == "rawhide":
        raise EOLError(f"release {release_id} is Rawhide: Rawhide is never end-of-life (branch it first)")
    if release.pdc_release not in facts.pdc_active:
        raise EOLError(f"PDC has no release {release.pdc_release} (release {release_id})")
    steps: list[Step] = []
    if facts.pdc_active[release.pdc_release]:
        steps.append(SetReleaseInactive(release.pdc_release))
    steps += _koji_steps(release, config, facts)
    comment = BUG_COMMENT.format(name=release.name, date=eol_date.isoformat())
    steps += [
        CloseBug(bug.id, bug.product, bug.version, comment)
        for bug in sorted(facts.bugs, key=lambda b: b.id)
        if bug.product == release.bugzilla_product and bug.version == release.bugzilla_version
    ]
    steps += _ostree_steps(release, config, facts, eol_date)
    steps += _mirror_steps(release, config, facts)
    if release.id not in facts.announced:
        body = {"release": release.id, "name": release.name, "version": release.version}
        body.update(pdc_release=release.pdc_release, eol_date=eol_date.isoformat())
        steps.append(PublishEOL(release.id, EOL_MODNAME, EOL_TOPIC, body))
    return EOLPlan(release, eol_date, tuple(steps))


def _koji_steps(release: Release, config: ReleaseConfig, facts: EOLFacts) -> list[Step]:
    """Targets building into the release (or from its tags into no other release's), then its unlocked tags."""
    own = set(release.tags.values())
    others = {t for r in config.releases.values() if r.id != release.id for t in r.tags.values()}
    steps: list[Step] = []
    for target in sorted(facts.targets, key=lambda t: t.name):
        if target.dest_tag in own or (target.build_tag in own and target.dest_tag not in others):
            steps.append(DeleteBuildTarget(target.name, target.build_tag, target.dest_tag))
    steps += [
        LockTag(tag.name) for tag in sorted(facts.tags, key=lambda t: t.name) if tag.name in own and not tag.locked
    ]
    return steps


def _ostree_steps(release: Release, config: ReleaseConfig, facts: EOLFacts, eol_date: date) -> list[Step]:
    """A carve-out for each of the release's refs whose head is not end-of-life yet."""
    existing = {head.ref for head in facts.refs}
    successor = config.releases.get(release.successor) if release.successor else None
    patterns = [
        (artifact, _ref_pattern(artifact.ref, release.version))
        for artifact in config.artifacts_of(release.id)
        if artifact.ref is not None and "{version}" in artifact.ref
    ]
    steps: list[Step] = []
    for head in sorted(facts.refs, key=lambda h: h.ref):
        match = next(((a, m) for a, p in patterns if (m := p.fullmatch(head.ref))), None)
        if head.endoflife or match is None:
            continue
        artifact, found = match
        message = f"{release.name} is end of life (EOL) since {eol_date.isoformat()}: no further updates."
        rebase = None
        if successor is not None and found["arch"]:
            twin = next((a for a in config.artifacts_of(successor.id) if a.name == artifact.name and a.ref), None)
            candidate = twin.ostree_ref(successor, found["arch"], found["stream"]) if twin else None
            if candidate in existing:
                rebase = candidate
                message += f" Rebase to {successor.name}: rpm-ostree rebase {rebase}"
        steps.append(CarveOutRef(head.ref, message, rebase))
    return steps


def release_refs(release: Release, config: ReleaseConfig, refs: Iterable[str]) -> list[str]:
    """The refs among ``refs`` that are ``release``'s: its ostree artifacts' ref templates with its version, any
    arch, with or without a stream — matched exactly as the carve-out planner does (tags are no release's refs;
    templates without ``{version}`` are shared and belong to none). Sorted; pure."""
    patterns = [
        _ref_pattern(artifact.ref, release.version)
        for artifact in config.artifacts_of(release.id)
        if artifact.ref is not None and "{version}" in artifact.ref
    ]
    return sorted(ref for ref in set(refs) if any(p.fullmatch(ref) for p in patterns))


def _ref_pattern(template: str, version: str) -> re.Pattern[str]:
    """Artifact.ostree_ref's refs for ``version``, any arch, with or without a stream before the last part."""
    head, _, tail = template.rpartition("/")
    named = {"arch"}
    head_re = _regex(head, version, named)
    return re.compile(head_re + r"/(?:(?P<stream>[^/]+)/)?" + _regex(tail, version, named))


def _regex(text: str, version: str, named: set[str] | None = None) -> str:
    """A template as a regex: ``{version}`` literal, other placeholders one path part each. The first
    ``{name}`` of each name in ``named`` becomes a named group (and leaves the set)."""
    out, pos = "", 0
    for m in _PLACEHOLDER.finditer(text):
        out += re.escape(text[pos : m.start()])
        if m[1] == "version":
            out += re.escape(version)
        elif named is not None and m[1] in named:
            named.discard(m[1])
            out += f"(?P<{m[1]}>[^/]+)"
        else:
            out += "[^/]+"
        pos = m.end()
    return out + re.escape(text[pos:])


def _mirror_steps(release: Release, config: ReleaseConfig, facts: EOLFacts) -> list[Step]:
    """The release's trees on the master mirror: a path matching a content template with the release's version,
    cut anywhere at or below the ``{version}`` part (``updates/24``, ``updates/testing/24``, ``releases/24``)."""
    layout = config.mirror
    patterns = [p for t in (layout.updates, layout.images) for p in _path_patterns(t, release.version)]
    steps: list[Step] = []
    for path in sorted({posixpath.normpath(raw.strip("/")) for raw in facts.mirror_paths}):
        if path in (".", "") or not any(p.fullmatch(path) for p in patterns):
            continue
        if any(path.startswith(f"{s.path}/") for s in steps if isinstance(s, MoveMirrorPath)):
            continue  # already moved with its parent
        source = f"{layout.master.rstrip('/')}/{path}"
        steps.append(MoveMirrorPath(path, source, f"{layout.archive.rstrip('/')}/{path}"))
    return steps


def _path_patterns(template: str, version: str) -> list[re.Pattern[str]]:
    parts = [p for p in template.split("/") if p]
    first = next((i for i, p in enumerate(parts) if "{version}" in p), None)
    if first is None:
        return []
    patterns = []
    for depth in range(first + 1, len(parts) + 1):
        regex = ""
        for index, part in enumerate(parts[:depth]):
            optional = index < first and _PLACEHOLDER.fullmatch(part) is not None
            regex += r"(?:[^/]+/)?" if optional else _regex(part, version) + "/"
        patterns.append(re.compile(regex.rstrip("/")))
    return patterns
