"""rpm-ostree treefiles: what the remote backend hands to ``rpm-ostree compose tree`` on the compose host.

A compose directory holds ``treefile.json`` (``ref``, ``repos``, ``packages`` and whatever else the base
treefile says: ``selinux``, ``boot-location``...) and one ``<id>.repo`` file per yum repository it names, as
rpm-ostree expects. Packages are given as NVRs, so the tree holds exactly the manifest.

:func:`compose_treefile` is the local equivalent for repositories on this machine (``file://`` baseurls):
it picks the listed NVRs from the repositories and commits their payloads like the local backend does. It
is what the test compose host runs in place of rpm-ostree.
"""

from __future__ import annotations

import configparser
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from relengotron.manifest import Manifest
from relengotron.ostree import payload
from relengotron.ostree.repo import OSTreeRepo, check_ref

TREEFILE = "treefile.json"
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")


class TreefileError(ValueError):
    """A treefile or one of its .repo files is unusable; names the file and the key."""


@dataclass(frozen=True)
class YumRepo:
    id: str
    baseurl: str
    gpgkey: str | None = None  # URL of the key packages must be signed with; None: no check

    def text(self) -> str:
        lines = [f"[{self.id}]", f"name={self.id}", f"baseurl={self.baseurl}", "enabled=1"]
        lines += [f"gpgcheck={1 if self.gpgkey else 0}"] + ([f"gpgkey={self.gpgkey}"] if self.gpgkey else [])
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Treefile:
    ref: str
    packages: tuple[str, ...]  # NVRs (rpm-ostree accepts them as package specs)
    repos: tuple[YumRepo, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)  # further treefile keys, from a base treefile

    def __post_init__(self) -> None:
        check_ref(self.ref)
        for repo in self.repos:
            if not _REPO_ID.match(repo.id):
                raise TreefileError(f"bad yum repository id {repo.id!r}")
        clash = {"ref", "packages", "repos"} & set(self.extra)
        if clash:
            raise TreefileError(f"the base treefile may not set {', '.join(sorted(clash))}")

    def files(self) -> dict[str, bytes]:
        """File name → content of the compose directory: ``treefile.json`` and the ``.repo`` files (pure)."""
        body = {**self.extra, "ref": self.ref, "repos": [r.id for r in self.repos], "packages": list(self.packages)}
        out = {TREEFILE: (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()}
        for repo in self.repos:
            out[f"{repo.id}.repo"] = repo.text().encode()
        return out

    @classmethod
    def load(cls, path: str | Path) -> Treefile:
        """Read a treefile and the ``.repo`` files beside it; errors name the file and the key."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TreefileError(f"{path}: unreadable treefile: {exc}") from exc
        if not isinstance(data, dict):
            raise TreefileError(f"{path}: a treefile is a JSON object")
        for key, kind in (("ref", str), ("packages", list), ("repos", list)):
            if not isinstance(data.get(key), kind):
                raise TreefileError(f"{path}: key {key!r} is missing or not a {kind.__name__}")
        repos = tuple(_load_repo(path.parent, repo_id, path) for repo_id in data["repos"])
        extra = {k: v for k, v in data.items() if k not in ("ref", "packages", "repos")}
        return cls(ref=data["ref"], packages=tuple(str(p) for p in data["packages"]), repos=repos, extra=extra)


def _load_repo(folder: Path, repo_id: object, treefile: Path) -> YumRepo:
    if not isinstance(repo_id, str):
        raise TreefileError(f"{treefile}: key 'repos' holds {repo_id!r}, not a repository id")
    parser = configparser.ConfigParser(interpolation=None)
    for candidate in sorted(folder.glob("*.repo")):
        parser.read(candidate, encoding="utf-8")
    if not parser.has_section(repo_id):
        raise TreefileError(f"{treefile}: repository {repo_id!r} is in no .repo file of {folder}")
    section = parser[repo_id]
    if "baseurl" not in section:
        raise TreefileError(f"{folder}: repository {repo_id!r} has no baseurl")
    gpgkey = section.get("gpgkey") if section.getboolean("gpgcheck", fallback=False) else None
    return YumRepo(id=repo_id, baseurl=section["baseurl"].split()[0], gpgkey=gpgkey)


def _local_path(url: str, what: str) -> Path:
    parsed = urlparse(url)
    if parsed.scheme != "file":
        raise TreefileError(f"{what}: only file:// URLs can be composed locally, not {url!r}")
    return Path(unquote(parsed.path))


def resolve_packages(treefile: Treefile) -> list[payload.RpmFile]:
    """The RPM files the treefile's packages name, found in its ``file://`` repositories (read-only).

    A package spec is an NVR (exact) or a name (exactly one candidate). A spec nothing matches, or a name with
    several candidates, is a :class:`TreefileError` naming it; a package signed by no key of a repository
    with ``gpgcheck`` is a :class:`payload.PayloadError` naming the file.
    """
    found: list[tuple[YumRepo, Path]] = []
    for repo in treefile.repos:
        root = _local_path(repo.baseurl, f"repository {repo.id}")
        for dirpath, _, files in os.walk(root):
            found += [(repo, Path(dirpath) / name) for name in sorted(files) if name.endswith(".rpm")]
    rpms = payload.read_rpms([p for _, p in found]) if found else []
    origin = {rpm.path: repo for (repo, _), rpm in zip(found, rpms, strict=True)}
    chosen: list[payload.RpmFile] = []
    for spec in treefile.packages:
        matches = [r for r in rpms if r.nvr == spec] or [r for r in rpms if r.name == spec]
        if not matches:
            raise TreefileError(f"package {spec}: not found in repositories {', '.join(r.id for r in treefile.repos)}")
        if len({r.nvr for r in matches}) > 1:
            raise TreefileError(f"package {spec}: several builds match ({', '.join(sorted({r.nvr for r in matches}))})")
        chosen += matches
    for rpm in chosen:
        key = origin[rpm.path].gpgkey
        if key:
            payload.verify_signatures([rpm], [_local_path(key, f"repository {origin[rpm.path].id}")])
    return chosen


def compose_treefile(treefile_path: str | Path, repo: OSTreeRepo, *, workdir: Path) -> str:
    """Compose the treefile's packages into ``repo`` as an orphan commit; returns its checksum.

    The repository is created (archive mode) if missing. Composing the same treefile again writes a commit
    with the same content checksum (only the commit object is new).
    """
    treefile = Treefile.load(treefile_path)
    rpms = resolve_packages(treefile)
    manifest = Manifest.of(r.nvr for r in rpms)
    repo.init("archive")
    return payload.commit_rpms(
        repo, payload.match_manifest(manifest, rpms), workdir=workdir, subject=f"{treefile.ref} compose"
    )
