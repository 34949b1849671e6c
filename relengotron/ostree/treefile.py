"""rpm-ostree treefiles: what a compose is made from, locally or by ``rpm-ostree compose tree`` on the compose host.

rpm-ostree's own format (docs/treefile.md of coreos/rpm-ostree): a JSON or YAML object with ``ref``, ``repos``
(ids of yum repositories defined in ``.repo`` files beside the treefile), ``packages`` and whatever else it
sets (``selinux``, ``boot-location``, ``units``, ``releasever``, ``recommends``...); ``include`` names treefiles it
inherits from (relative to the including file; non-array values of the includer override, arrays are
concatenated). A compose directory holds ``treefile.json``, one ``<id>.repo`` file per repository and the
public keys those name. The packages of a compose's treefile are binary NVRs (rpm-ostree takes any dnf package
spec): the names the artifact's treefile lists, pinned to the manifest's builds (:func:`pinned_packages`), so
a source build's subpackages (``openssl`` → ``openssl-libs``) are named as the tree installs them and a
repository holding several versions still gives the manifest's.

Neither backend installs unchecked content: every repository has ``gpgcheck=1`` and a ``gpgkey``
(:class:`relengotron.tools.rootfs.YumRepo`); a ``.repo`` file with gpgcheck off or no key is refused. Weak
dependencies are never installed (``recommends: false``, written into every treefile): the tree holds what
the manifest says, nothing a Recommends adds.
"""

from __future__ import annotations

import configparser
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from relengotron.ostree.repo import check_ref
from relengotron.tools.rootfs import RootfsError, YumRepo

__all__ = ["TREEFILE", "Treefile", "TreefileError", "YumRepo", "load_base", "pinned_packages"]

TREEFILE = "treefile.json"
# Keys a compose sets itself (the ref from the artifact, the repositories and packages from the compose).
COMPOSE_KEYS = ("ref", "repos", "packages")


class TreefileError(ValueError):
    """A treefile or one of its .repo files is unusable; names the file and the key."""


@dataclass(frozen=True)
class Treefile:
    ref: str
    packages: tuple[str, ...]  # package specs: binary NVRs in a compose's treefile (pinned_packages)
    repos: tuple[YumRepo, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)  # further treefile keys, from a base treefile

    def __post_init__(self) -> None:
        check_ref(self.ref)
        clash = set(COMPOSE_KEYS) & set(self.extra)
        if clash:
            raise TreefileError(f"the base treefile may not set {', '.join(sorted(clash))}")
        if self.extra.get("recommends", False) is not False:
            raise TreefileError(f"{self.ref}: 'recommends' must be false: the tree holds exactly the manifest")

    @property
    def releasever(self) -> str | None:
        value = self.extra.get("releasever")
        return None if value is None else str(value)

    def files(self) -> dict[str, bytes]:
        """File name → content of the compose directory: ``treefile.json`` and the ``.repo`` files (pure)."""
        body = {
            "recommends": False,
            **self.extra,
            "ref": self.ref,
            "repos": [r.id for r in self.repos],
            "packages": list(self.packages),
        }
        out = {TREEFILE: (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()}
        for repo in self.repos:
            out[f"{repo.id}.repo"] = repo.text().encode()
        return out

    @classmethod
    def load(cls, path: str | Path) -> Treefile:
        """Read a treefile (its includes merged) and the ``.repo`` files beside it; errors name the file and key."""
        path = Path(path)
        data = _read_merged(path, ())
        for key, kind in (("ref", str), ("packages", list), ("repos", list)):
            if not isinstance(data.get(key), kind):
                raise TreefileError(f"{path}: key {key!r} is missing or not a {kind.__name__}")
        repos = tuple(_load_repo(path.parent, repo_id, path) for repo_id in data["repos"])
        extra = {k: v for k, v in data.items() if k not in COMPOSE_KEYS}
        try:
            return cls(ref=data["ref"], packages=_packages(data["packages"]), repos=repos, extra=extra)
        except TreefileError as exc:
            raise TreefileError(f"{path}: {exc}") from exc


def load_base(path: str | Path) -> tuple[dict[str, Any], tuple[str, ...]]:
    """An artifact's own treefile: its keys besides ``packages`` (the base of the compose's treefile) and the
    package names it says the tree holds. It may not set ``ref`` or ``repos``: the artifact's configuration and
    the compose give those. Read-only; errors name the file and the key."""
    path = Path(path)
    data = _read_merged(path, ())
    for key in ("ref", "repos"):
        if key in data:
            raise TreefileError(f"{path}: key {key!r} is set by the compose, not by the artifact's treefile")
    packages = data.pop("packages", [])
    if not isinstance(packages, list):
        raise TreefileError(f"{path}: key 'packages' is not a list")
    if data.get("recommends", False) is not False:
        raise TreefileError(f"{path}: key 'recommends' must be false: the tree holds exactly the manifest")
    return data, _packages(packages)


def pinned_packages(names: Sequence[str] | None, binaries: Mapping[str, str], *, source: str) -> tuple[str, ...]:
    """The package specs of a compose (pure): each of ``names`` (binary package names, the artifact's treefile's
    ``packages``) as the NVR of the binary RPM of that name the manifest's builds ship (``binaries``: name →
    NVR, this arch and noarch); without ``names`` (no treefile of its own), every binary in ``binaries``.
    A name no build of the manifest ships is a :class:`TreefileError` naming ``source`` and the name: rpm-ostree
    would install it from whatever repository has one, outside the manifest."""
    if names is None:
        return tuple(binaries[name] for name in sorted(binaries))
    missing = [name for name in names if name not in binaries]
    if missing:
        more = f" (and {len(missing) - 1} more: {', '.join(missing[1:4])})" if len(missing) > 1 else ""
        raise TreefileError(f"{source} names {missing[0]}, which no build of the manifest ships{more}")
    return tuple(dict.fromkeys(binaries[name] for name in names))


def _packages(entries: list[Any]) -> tuple[str, ...]:
    """rpm-ostree splits each entry on whitespace (docs/treefile.md, ``packages``)."""
    return tuple(word for entry in entries for word in str(entry).split())


def _read_merged(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """The treefile at ``path`` with its ``include``s merged in, as rpm-ostree does: non-array values of the
    including file override, arrays are concatenated (the included first). Including a file twice is an error."""
    resolved = path.resolve()
    if resolved in seen:
        raise TreefileError(f"{path}: included more than once ({' -> '.join(map(str, seen))})")
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise TreefileError(f"{path}: unreadable treefile: {exc}") from exc
    if not isinstance(data, dict):
        raise TreefileError(f"{path}: a treefile is a mapping")
    includes = data.pop("include", [])
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise TreefileError(f"{path}: key 'include' is not a file name or a list of them")
    merged: dict[str, Any] = {}
    for name in includes:
        _merge(merged, _read_merged(path.parent / name, (*seen, resolved)))
    _merge(merged, data)
    return merged


def _merge(into: dict[str, Any], child: Mapping[str, Any]) -> None:
    for key, value in child.items():
        if isinstance(value, list) and isinstance(into.get(key), list):
            into[key] = [*into[key], *value]
        else:
            into[key] = value


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
    if not section.getboolean("gpgcheck", fallback=False) or not section.get("gpgkey", "").split():
        raise TreefileError(f"{folder}: repository {repo_id!r} has gpgcheck off or no gpgkey: refused")
    try:
        return YumRepo(id=repo_id, baseurl=section["baseurl"].split()[0], gpgkey=tuple(section["gpgkey"].split()))
    except RootfsError as exc:
        raise TreefileError(f"{folder}: {exc}") from exc
