"""dist.depcheck as a pure function: can a build's RPMs be installed from the repo they are about to join?

Input is RPM header data (name, EVR, Requires, Provides, file list) of the candidate build's binary RPMs
and of the target repo (the release's build tag, latest builds with inheritance). The candidates replace
the repo's RPMs of the same package (an update replaces the whole older build). A package is installable
when each of its requirements has an installable provider — without Conflicts/Obsoletes this is a
monotone fixpoint, computed exactly (no provider is "picked", so an unlucky choice cannot fail a
build). ``rpmlib(...)`` requirements are rpm's own features and are always met.

The verdict lists the root causes: for each requirement that nothing installable provides, the package that
needs it, and the same-named provides that exist but do not satisfy it (e.g. ``python3-urllib3 >= 1.19``
when the repo has ``python3-urllib3 = 1.15.1-3.fc26``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from relengotron_sandbox.rpmdeps import Dep, DependencyError, parse_dep, satisfies


@dataclass(frozen=True)
class RpmHeader:
    """What depcheck needs from one binary RPM's header."""

    name: str
    version: str
    release: str
    arch: str
    epoch: int | None = None
    requires: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    package: str = ""  # the build's package (source) name; defaults to ``name``

    @property
    def evr(self) -> str:
        prefix = f"{self.epoch}:" if self.epoch else ""
        return f"{prefix}{self.version}-{self.release}"

    @property
    def nvra(self) -> str:
        return f"{self.name}-{self.version}-{self.release}.{self.arch}"

    @property
    def source(self) -> str:
        return self.package or self.name


@dataclass(frozen=True)
class Unresolved:
    """``package`` requires ``requirement`` and nothing installable provides it."""

    package: str  # NVRA of the package with the requirement
    requirement: str
    available: tuple[str, ...] = ()  # same-named provides that do not satisfy it
    problem: str = ""  # set when the requirement itself could not be understood

    def __str__(self) -> str:
        if self.problem:
            return f"{self.package} requires {self.requirement}: {self.problem}"
        text = f"{self.package}: nothing provides {self.requirement}"
        if self.available:
            text += f" (available: {', '.join(self.available)})"
        return text


@dataclass(frozen=True)
class Verdict:
    passed: bool
    checked: tuple[str, ...]  # NVRAs of the candidate RPMs
    unresolved: tuple[Unresolved, ...] = field(default=())

    @property
    def outcome(self) -> str:
        return "PASSED" if self.passed else "FAILED"

    def note(self) -> str:
        """A short human summary, as Taskotron put in the result's note."""
        if self.passed:
            return f"{len(self.checked)} RPM(s) installable, all dependencies resolved"
        return "unresolved dependencies: " + "; ".join(str(u) for u in self.unresolved)


class _Pool:
    """Provides and files of every package, indexed by name/path."""

    def __init__(self, packages: Sequence[RpmHeader]) -> None:
        self.packages = packages
        self.by_name: dict[str, list[tuple[Dep, int]]] = defaultdict(list)
        self.by_file: dict[str, list[int]] = defaultdict(list)
        for index, pkg in enumerate(packages):
            provides = [_dep_or_none(p) for p in pkg.provides]
            provides.append(Dep(pkg.name, "=", pkg.evr))  # rpm always provides name = EVR
            for dep in provides:
                if dep is not None:
                    self.by_name[dep.name].append((dep, index))
            for path in pkg.files:
                self.by_file[path].append(index)

    def providers(self, req: Dep) -> set[int]:
        found = {index for dep, index in self.by_name.get(req.name, ()) if satisfies(dep, req)}
        if req.name.startswith("/"):
            found.update(self.by_file.get(req.name, ()))
        return found

    def near_misses(self, req: Dep) -> tuple[str, ...]:
        return tuple(sorted({str(dep) for dep, _ in self.by_name.get(req.name, ()) if not satisfies(dep, req)}))


def _dep_or_none(text: str) -> Dep | None:
    try:
        return parse_dep(text)
    except DependencyError:
        return None


def _is_rpmlib(text: str) -> bool:
    return text.startswith("rpmlib(")


def depcheck(candidates: Sequence[RpmHeader], repo: Iterable[RpmHeader]) -> Verdict:
    """Check that every candidate RPM is installable from ``repo`` plus the candidates themselves."""
    sources = {c.source for c in candidates}
    packages = [*candidates, *(r for r in repo if r.source not in sources)]
    pool = _Pool(packages)

    # Each package's requirements as (text, parsed or None, provider indexes).
    needs: list[list[tuple[str, Dep | None, set[int]]]] = []
    for pkg in packages:
        reqs = []
        for text in dict.fromkeys(pkg.requires):
            if _is_rpmlib(text):
                continue
            dep = _dep_or_none(text)
            reqs.append((text, dep, pool.providers(dep) if dep else set()))
        needs.append(reqs)

    # Greatest fixpoint: start with everything installable, drop packages with an unmet requirement.
    installable = [True] * len(packages)
    changed = True
    while changed:
        changed = False
        for index, reqs in enumerate(needs):
            if installable[index] and any(not any(installable[p] for p in prov) for _, _, prov in reqs):
                installable[index] = False
                changed = True

    causes: list[Unresolved] = []
    seen: set[int] = set()

    def explain(index: int) -> None:
        if index in seen:
            return
        seen.add(index)
        pkg = packages[index]
        for text, dep, prov in needs[index]:
            if any(installable[p] for p in prov):
                continue
            if dep is None:
                causes.append(Unresolved(pkg.nvra, text, problem="not a dependency rpm understands"))
            elif not prov:
                causes.append(Unresolved(pkg.nvra, text, pool.near_misses(dep)))
            else:
                for p in sorted(prov):
                    explain(p)

    for index in range(len(candidates)):
        if not installable[index]:
            explain(index)
    unique = tuple(dict.fromkeys(causes))
    return Verdict(passed=not unique, checked=tuple(c.nvra for c in candidates), unresolved=unique)
