"""Which artifacts a push must recompose, and why. Pure: plain data in, typed answers out, no I/O.

An artifact (one per arch: ``fedora/24/x86_64/atomic-host``) is recomposed exactly when its manifest — the
sorted NVRs of its packages (:class:`relengotron.manifest.Manifest`) — changes. Its new manifest holds, for
each package of its PDC component group, the newest of: the build in its last released manifest, the build
the release's tags hold (``base``), and the builds pushed. Its last released manifest is read back from what
was published (ostree commit metadata, the manifest JSON beside each image), never from a private database.
Build order is rpm's (:mod:`relengotron.rpmvercmp`), NVRs are parsed by :func:`relengotron.manifest.parse_nvr`;
equal EVRs are ordered by their text, so the plan does not depend on the order of updates or builds.

PDC is read in whole pages: :func:`pdc_queries` asks for the component groups of each release once (never per
package or build), and :func:`artifact_packages` turns those pages into each artifact's package list.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from relengotron.config import Artifact, Release
from relengotron.manifest import Manifest, parse_nvr
from relengotron.rpmvercmp import labelcompare

PDC_PAGE_SIZE = 100  # PDC's largest page


class PlanError(ValueError):
    """Planning input is wrong (an artifact PDC does not know, a missing released manifest); names the item.

    A malformed NVR or manifest is a :class:`relengotron.manifest.ManifestError`.
    """


def compare_nvr(a: str, b: str) -> int:
    """Order two builds of one package as rpm does; equal EVRs by their text (a total, stable order)."""
    _, ea, va, ra = parse_nvr(a, item="compare")
    _, eb, vb, rb = parse_nvr(b, item="compare")
    return labelcompare((ea, va, ra), (eb, vb, rb)) or (a > b) - (a < b)


def newest(nvrs: Iterable[str]) -> str:
    return max(nvrs, key=functools.cmp_to_key(compare_nvr))


@dataclass(frozen=True)
class Update:
    """One update of a push: its alias (FEDORA-2016-1a2b3c) and its builds."""

    alias: str
    builds: tuple[str, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Update:
        return cls(str(data["alias"]), tuple(data["builds"]))


@dataclass(frozen=True)
class Target:
    """One artifact of one release for one arch: the unit that is composed, tested, signed and synced."""

    artifact: Artifact
    release: Release
    arch: str

    @property
    def id(self) -> str:
        """The ResultsDB item and the key of released manifests: ``atomic-host-24-x86_64``."""
        return self.artifact.item(self.release, self.arch)

    @property
    def label(self) -> str:
        """What people call it: the ostree ref or the image file name."""
        if self.artifact.ref is not None:
            return self.artifact.ostree_ref(self.release, self.arch)
        return self.artifact.image_name(self.release, self.arch)


class Decision(Enum):
    RECOMPOSE = "recompose"
    SKIP = "skip"


class Reason(Enum):
    NEVER_RELEASED = "never released"
    CHANGED = "packages changed"
    NOT_AFFECTED = "unchanged, skipped: no pushed package is in it"
    ALREADY_RELEASED = "unchanged, skipped: the pushed builds are already in its released manifest (or older)"


@dataclass(frozen=True)
class Change:
    """One package of a manifest: ``old`` → ``new`` (None: absent); ``updates`` that brought ``new``."""

    package: str
    old: str | None
    new: str | None
    updates: tuple[str, ...] = ()

    def __str__(self) -> str:
        by = f" ({', '.join(self.updates)})" if self.updates else ""
        return f"{self.package}: {self.old or '(none)'} -> {self.new or '(removed)'}{by}"


@dataclass(frozen=True)
class TargetPlan:
    target: Target
    decision: Decision
    reason: Reason
    manifest: Manifest
    released: Manifest | None
    changes: tuple[Change, ...]
    pushed: tuple[str, ...]  # pushed packages that are in the artifact
    missing: tuple[str, ...]  # packages of the artifact with no build anywhere

    def explain(self) -> str:
        lines = [f"{self.target.label}: {self.decision.value} ({self.reason.value})"]
        lines += [f"    {change}" for change in self.changes]
        if self.missing:
            lines.append(f"    no build of: {', '.join(self.missing)}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (an XCom of the planning task, one map index per target)."""
        return {
            "id": self.target.id,
            "artifact": self.target.artifact.name,
            "kind": self.target.artifact.kind,
            "release": self.target.release.id,
            "arch": self.target.arch,
            "label": self.target.label,
            "decision": self.decision.value,
            "reason": self.reason.value,
            "manifest": list(self.manifest.nvrs),
            "input_hash": self.manifest.input_hash,
            "released": list(self.released.nvrs) if self.released is not None else None,
            "changes": [str(c) for c in self.changes],
        }


@dataclass(frozen=True)
class Plan:
    targets: tuple[TargetPlan, ...]

    @property
    def recompose(self) -> tuple[TargetPlan, ...]:
        return tuple(t for t in self.targets if t.decision is Decision.RECOMPOSE)

    @property
    def skipped(self) -> tuple[TargetPlan, ...]:
        return tuple(t for t in self.targets if t.decision is Decision.SKIP)

    def render(self) -> str:
        head = f"{len(self.recompose)} to recompose, {len(self.skipped)} unchanged"
        return "\n".join([head, *(t.explain() for t in self.targets)])


def plan(
    updates: Sequence[Update],
    release: Release,
    artifacts: Sequence[Artifact],
    packages: Mapping[str, Iterable[str]],
    released: Mapping[str, Manifest | None],
    base: Mapping[str, str] | None = None,
) -> Plan:
    """Decide, for each arch of each of ``release``'s ``artifacts``, whether the push changes its manifest.

    ``packages``: artifact name → package names (:func:`artifact_packages`). ``released``: target id →
    its last released manifest, None when never released (every target must be listed: a forgotten one
    is an error, not a silent recompose). ``base``: package → the newest build the release's tags hold.
    """
    pushed: dict[str, dict[str, set[str]]] = {}  # package → NVR → update aliases
    for update in updates:
        for nvr in update.builds:
            name = parse_nvr(nvr, item=f"update {update.alias}")[0]
            pushed.setdefault(name, {}).setdefault(nvr, set()).add(update.alias)
    base = dict(base or {})
    for name, nvr in base.items():
        if parse_nvr(nvr, item="base builds")[0] != name:
            raise PlanError(f"base builds: {nvr} is not a build of {name}")
    out = []
    for artifact in artifacts:
        if artifact.release != release.id:
            raise PlanError(f"artifact {artifact.name} belongs to {artifact.release}, not to {release.id}")
        if artifact.name not in packages:
            raise PlanError(f"no package list for artifact {artifact.name} of {release.pdc_release}")
        names = sorted(set(packages[artifact.name]))
        for arch in artifact.arches:
            target = Target(artifact, release, arch)
            if target.id not in released:
                raise PlanError(f"{target.label}: its last released manifest was not given (None if never released)")
            out.append(_plan_target(target, names, released[target.id], base, pushed))
    return Plan(tuple(sorted(out, key=lambda t: t.target.id)))


def _plan_target(
    target: Target,
    names: list[str],
    released: Manifest | None,
    base: Mapping[str, str],
    pushed: Mapping[str, Mapping[str, set[str]]],
) -> TargetPlan:
    old = released.packages if released is not None else {}
    chosen: dict[str, str] = {}
    missing = []
    for name in names:
        candidates = {*pushed.get(name, {}), *(n for n in (old.get(name), base.get(name)) if n)}
        if candidates:
            chosen[name] = newest(candidates)
        else:
            missing.append(name)
    if not chosen:
        raise PlanError(f"{target.label}: none of its {len(names)} packages has a build")
    manifest = Manifest.of(chosen.values(), item=target.label)
    changes = tuple(
        Change(name, old.get(name), chosen.get(name), tuple(sorted(pushed.get(name, {}).get(chosen.get(name, ""), ()))))
        for name in sorted(set(old) | set(chosen))
        if old.get(name) != chosen.get(name)
    )
    in_artifact = tuple(name for name in names if name in pushed)
    if released is None:
        decision, reason = Decision.RECOMPOSE, Reason.NEVER_RELEASED
    elif manifest != released:
        decision, reason = Decision.RECOMPOSE, Reason.CHANGED
    elif in_artifact:
        decision, reason = Decision.SKIP, Reason.ALREADY_RELEASED
    else:
        decision, reason = Decision.SKIP, Reason.NOT_AFFECTED
    return TargetPlan(target, decision, reason, manifest, released, changes, in_artifact, tuple(missing))


@dataclass(frozen=True)
class PDCQuery:
    """One paged PDC listing: ``client[resource].results(**params)`` or ``._(page=n, **params)``."""

    resource: str
    params: tuple[tuple[str, str | int], ...]

    def kwargs(self) -> dict[str, str | int]:
        return dict(self.params)


def pdc_queries(updates: Sequence[Update], releases: Iterable[Release]) -> tuple[PDCQuery, ...]:
    """The PDC listings a batch needs: one component-groups listing per release, none for an empty batch.

    Requests grow with result pages (``PDC_PAGE_SIZE`` groups each), never with the number of builds.
    """
    if not any(update.builds for update in updates):
        return ()
    pdc_releases = sorted({release.pdc_release for release in releases})
    return tuple(
        PDCQuery("component-groups", (("release", pdc_release), ("page_size", PDC_PAGE_SIZE)))
        for pdc_release in pdc_releases
    )


def artifact_packages(
    pages: Iterable[Mapping[str, Any] | Sequence[Mapping[str, Any]]],
    release: Release,
    artifacts: Sequence[Artifact],
) -> dict[str, tuple[str, ...]]:
    """Artifact name → sorted package names, from PDC component-group pages (``{"results": [...]}`` or lists).

    A group belongs to an artifact when its ``release`` is the release's PDC id and its ``description`` is
    the artifact's name. A missing or duplicated group is a :class:`PlanError` naming the artifact.
    """
    wanted = {a.name for a in artifacts}
    found: dict[str, tuple[str, ...]] = {}
    for page in pages:
        groups = page.get("results", []) if isinstance(page, Mapping) else page
        for group in groups:
            group_release = group.get("release")
            if isinstance(group_release, Mapping):
                group_release = group_release.get("release_id")
            name = group.get("description")
            if group_release != release.pdc_release or name not in wanted:
                continue
            if name in found:
                raise PlanError(f"PDC has two component groups for artifact {name} of {release.pdc_release}")
            found[name] = tuple(sorted({str(c["name"]) for c in group.get("components") or []}))
    for artifact in artifacts:
        if artifact.name not in found:
            raise PlanError(f"PDC has no component group for artifact {artifact.name} of {release.pdc_release}")
    return found
