"""What an image task installs: the kickstart's ``%packages`` and their dependencies, from the task's repositories.

kojid reads the kickstart with pykickstart (``readKickstart``: ``KickstartParser(makeVersion(opts['ksversion']))``),
replaces its ``repo`` lines with the request's ``opts['repo']`` (``prepareKickstart``: ``koji-override-N``, with
``$arch`` filled in) and has anaconda install ``%packages`` from them. The sandbox does the same selection
without anaconda: it reads each repository's metadata over HTTP (``repodata/repomd.xml`` → primary), picks the
named packages, adds what their Requires need from the same repositories (rpm's comparison rules,
:mod:`relengotron_sandbox.rpmdeps`), drops the kickstart's ``-name`` exclusions, and downloads the chosen RPMs.
Groups (``@core``) are refused: the sandbox's repositories carry no comps to expand them.
"""

from __future__ import annotations

import gzip
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import koji
from pykickstart.errors import KickstartError
from pykickstart.parser import KickstartParser
from pykickstart.version import makeVersion

from relengotron_sandbox.rpmdeps import Dep, satisfies

_REPO = "{http://linux.duke.edu/metadata/repo}"
_COMMON = "{http://linux.duke.edu/metadata/common}"
_RPM = "{http://linux.duke.edu/metadata/rpm}"
_FLAGS = {"EQ": "=", "LT": "<", "LE": "<=", "GT": ">", "GE": ">="}


@dataclass(frozen=True)
class RepoPackage:
    name: str
    arch: str
    epoch: str
    version: str
    release: str
    url: str  # where to download it
    provides: tuple[Dep, ...]
    requires: tuple[Dep, ...]
    files: tuple[str, ...]

    @property
    def nvra(self) -> str:
        return f"{self.name}-{self.version}-{self.release}.{self.arch}"

    def provides_dep(self, need: Dep) -> bool:
        if need.name.startswith("/") and need.name in self.files:
            return True
        own = Dep(self.name, "=", f"{self.epoch}:{self.version}-{self.release}")
        return any(satisfies(p, need) for p in (own, *self.provides))


def read_kickstart(path: Path, ksversion: str | None, error: type[koji.GenericError]) -> KickstartParser:
    """The kickstart as kojid reads it; ``error`` (BuildError for image-build, LiveCDError for livemedia) with
    kojid's wording when it cannot be read or parsed."""
    parser = KickstartParser(makeVersion(ksversion) if ksversion else makeVersion())
    try:
        parser.readKickstart(str(path))
    except OSError as exc:
        raise error(f"Failed to read kickstart file '{path}' : {exc}") from None
    except KickstartError as exc:
        raise error(f"Failed to parse kickstart file '{path}' : {exc}") from None
    return parser


def read_repo(baseurl: str) -> list[RepoPackage]:
    """The packages of the yum repository at ``baseurl`` (its primary metadata, over HTTP)."""
    base = baseurl.rstrip("/") + "/"
    repomd = ET.fromstring(_get(base + "repodata/repomd.xml"))
    href = None
    for data in repomd.findall(f"{_REPO}data"):
        if data.get("type") == "primary":
            location = data.find(f"{_REPO}location")
            href = location.get("href") if location is not None else None
    if href is None:
        raise koji.BuildError(f"repository {baseurl} has no primary metadata")
    raw = _get(base + href)
    primary = ET.fromstring(gzip.decompress(raw) if href.endswith(".gz") else raw)
    out = []
    for pkg in primary.findall(f"{_COMMON}package"):
        if pkg.get("type") != "rpm":
            continue
        version = pkg.find(f"{_COMMON}version")
        location = pkg.find(f"{_COMMON}location")
        fmt = pkg.find(f"{_COMMON}format")
        assert version is not None and location is not None and fmt is not None
        out.append(
            RepoPackage(
                name=pkg.findtext(f"{_COMMON}name") or "",
                arch=pkg.findtext(f"{_COMMON}arch") or "",
                epoch=version.get("epoch") or "0",
                version=version.get("ver") or "",
                release=version.get("rel") or "",
                url=base + (location.get("href") or ""),
                provides=_deps(fmt, "provides"),
                requires=_deps(fmt, "requires"),
                files=tuple(f.text or "" for f in fmt.findall(f"{_COMMON}file")),
            )
        )
    return out


def resolve(parser: KickstartParser, packages: list[RepoPackage]) -> list[RepoPackage]:
    """The kickstart's ``%packages`` and everything they require, from ``packages``; BuildError naming what is
    missing (a package no repository has, a requirement nothing provides)."""
    spec = parser.handler.packages
    if spec.groupList:
        groups = ", ".join(f"@{g.name}" for g in spec.groupList)
        raise koji.BuildError(f"the sandbox builder expands no groups ({groups}): list the packages in %packages")
    excluded = set(spec.excludedList)
    by_name: dict[str, RepoPackage] = {}
    for pkg in sorted(packages, key=lambda p: p.nvra):
        if pkg.name not in excluded:
            by_name.setdefault(pkg.name, pkg)
    missing = [name for name in spec.packageList if name not in by_name]
    if missing:
        raise koji.BuildError(f"No match for package(s) in the task's repositories: {', '.join(missing)}")
    chosen: dict[str, RepoPackage] = {}
    todo = [by_name[name] for name in spec.packageList]
    while todo:
        pkg = todo.pop()
        if pkg.name in chosen:
            continue
        chosen[pkg.name] = pkg
        for need in pkg.requires:
            if need.name.startswith("rpmlib(") or any(p.provides_dep(need) for p in chosen.values()):
                continue
            provider = next((p for p in by_name.values() if p.provides_dep(need)), None)
            if provider is None:
                raise koji.BuildError(f"nothing provides {need} needed by {pkg.nvra}")
            todo.append(provider)
    return sorted(chosen.values(), key=lambda p: p.nvra)


def download(pkg: RepoPackage, dest: Path) -> Path:
    path = dest / f"{pkg.nvra}.rpm"
    path.write_bytes(_get(pkg.url))
    return path


def _deps(fmt: ET.Element, kind: str) -> tuple[Dep, ...]:
    node = fmt.find(f"{_RPM}{kind}")
    if node is None:
        return ()
    out = []
    for entry in node.findall(f"{_RPM}entry"):
        flags = entry.get("flags")
        if flags is None:
            out.append(Dep(entry.get("name") or ""))
            continue
        evr = entry.get("ver") or ""
        if entry.get("epoch") and entry.get("epoch") != "0":
            evr = f"{entry.get('epoch')}:{evr}"
        if entry.get("rel"):
            evr = f"{evr}-{entry.get('rel')}"
        out.append(Dep(entry.get("name") or "", _FLAGS[flags], evr))
    return tuple(out)


def _get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:
            return answer.read()
    except OSError as exc:
        raise koji.BuildError(f"cannot fetch {url}: {exc}") from None
