"""Check a mirror tree: everything its metadata names is there, with the digest the metadata promises.

- yum repositories: each ``repodata/repomd.xml`` data file exists with its SHA256, and each package that
  primary.xml lists exists;
- OSTree repositories: each ref's commit object exists, and each commit and static delta the ``summary``
  names (optionally ``ostree fsck`` on the mirror host as well);
- image directories: each file a ``*CHECKSUM`` file lists exists with that SHA256;
- symlinks resolve.

:func:`verify_tree` checks everything under some roots (it lists them); :func:`verify_paths` checks only the
metadata a sync's changeset touched and asks the mirror about exactly the files that metadata names, so its
cost follows the touched repositories, not the mirror.

Read-only. Files rsync is still writing (``.~tmp~``) are ignored: they are not published yet.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from relengotron.ostree import gvariant_binary
from relengotron.ostree.repo import commit_object, delta_superblock
from relengotron.signing.checksum import ChecksumFormatError, parse_checksums
from relengotron.sync.classify import RSYNC_TEMP, ostree_roots
from relengotron.sync.mirrorfs import MirrorFS
from relengotron.sync.repodata import RepodataError, decompress, package_locations, parse_repomd
from relengotron.tools.run import ToolError


@dataclass(frozen=True)
class Problem:
    item: str  # the metadata file (relative to the mirror top) whose promise is broken
    message: str

    def __str__(self) -> str:
        return f"{self.item}: {self.message}"


@dataclass(frozen=True)
class VerifyReport:
    checked: int  # how many named files were checked
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_tree(fs: MirrorFS, roots: Sequence[str] = ("",), *, ostree_fsck: bool = False) -> VerifyReport:
    """Check every repository, OSTree repo, CHECKSUM file and symlink under ``roots`` of the mirror."""
    files: set[str] = set()
    links: set[str] = set()
    for root in roots:
        for kind, path in fs.list_tree(root):
            if RSYNC_TEMP in path.split("/"):
                continue
            (links if kind == "l" else files).add(path)
    checker = _Checker(fs, lambda paths: files.intersection(paths))
    for path in sorted(files):
        if is_repomd(path):
            checker.repomd(path)
        elif is_checksum_file(path):
            checker.checksum_file(path)
    for root in sorted(ostree_roots(files)):
        heads = _join(root, "refs/heads") + "/"
        refs = {p[len(heads) :]: p for p in files if p.startswith(heads)}
        checker.ostree(root, refs, _join(root, "summary") in files, ostree_fsck)
    for link in sorted(links - fs.resolvable(links)):
        checker.problem(link, f"symlink to {fs.readlink(link)!r} does not resolve")
    checker.digests()
    return VerifyReport(checked=checker.checked, problems=tuple(checker.problems))


def verify_paths(
    fs: MirrorFS,
    metadata: Iterable[str],
    *,
    ostree_repos: Iterable[str] = (),
    links: Iterable[str] = (),
    ostree_fsck: bool = False,
) -> VerifyReport:
    """Check the given ``metadata`` files (repomd.xml and ``*CHECKSUM``; others are ignored), every ref and
    the summary of the OSTree repositories ``ostree_repos`` and the symlinks ``links``: each file they name
    exists (and has the digest they promise) — asking ``fs`` about those files only, never listing a tree
    but a repository's ``refs/heads``."""
    checker = _Checker(fs, fs.resolvable)
    wanted = sorted(set(metadata))
    present = fs.resolvable(wanted)
    for path in wanted:
        if not (is_repomd(path) or is_checksum_file(path)):
            continue
        if path not in present:
            checker.problem(path, "is not there")
        elif is_repomd(path):
            checker.repomd(path)
        else:
            checker.checksum_file(path)
    for root in sorted(set(ostree_repos)):
        listed = [p for kind, p in fs.list_tree(_join(root, "refs/heads")) if kind == "f"]
        heads = _join(root, "refs/heads") + "/"
        refs = {p[len(heads) :]: p for p in listed if RSYNC_TEMP not in p.split("/")}
        summary = _join(root, "summary")
        checker.ostree(root, refs, bool(fs.resolvable([summary])), ostree_fsck)
    wanted_links = sorted(set(links))
    for link in sorted(set(wanted_links) - fs.resolvable(wanted_links)):
        checker.problem(link, f"symlink to {fs.readlink(link)!r} does not resolve")
    checker.digests()
    return VerifyReport(checked=checker.checked, problems=tuple(checker.problems))


def is_repomd(path: str) -> bool:
    return path == "repodata/repomd.xml" or path.endswith("/repodata/repomd.xml")


def is_checksum_file(path: str) -> bool:
    return posixpath.basename(path).endswith("CHECKSUM")


class _Checker:
    def __init__(self, fs: MirrorFS, present: Callable[[Iterable[str]], set[str]]) -> None:
        self.fs = fs
        self.present = present  # which of some paths exist
        self.checked = 0
        self.problems: list[Problem] = []
        self.wanted: list[tuple[str, str, str]] = []  # (metadata item, file, expected sha256)

    def problem(self, item: str, message: str) -> None:
        self.problems.append(Problem(item, message))

    def need(self, item: str, paths: Iterable[str], what: str) -> None:
        wanted = list(paths)
        found = self.present(wanted)
        for path in wanted:
            self.checked += 1
            if path not in found:
                self.problem(item, f"names {what} {path}, which is not on the mirror")

    def repomd(self, path: str) -> None:
        top = posixpath.dirname(posixpath.dirname(path))
        try:
            entries = parse_repomd(self.fs.read(path))
        except (RepodataError, ToolError) as exc:
            self.problem(path, str(exc))
            return
        found = self.present([_join(top, entry.href) for entry in entries])
        for entry in entries:
            target = _join(top, entry.href)
            if target not in found:
                self.checked += 1
                self.problem(path, f"names {entry.type} data {target}, which is not on the mirror")
                continue
            if entry.checksum_type in ("sha256", "sha"):
                self.wanted.append((path, target, entry.checksum))
            if entry.type == "primary":
                try:
                    hrefs = package_locations(decompress(target, self.fs.read(target)))
                except (RepodataError, ToolError) as exc:
                    self.problem(target, str(exc))
                    continue
                self.need(path, (_join(top, h) for h in hrefs), "package")

    def checksum_file(self, path: str) -> None:
        directory = posixpath.dirname(path)
        try:
            entries = parse_checksums(self.fs.read(path).decode(errors="replace"))
        except (ChecksumFormatError, ToolError) as exc:
            self.problem(path, str(exc))
            return
        found = self.present([_join(directory, entry.name) for entry in entries.values()])
        for entry in entries.values():
            target = _join(directory, entry.name)
            if target not in found:
                self.checked += 1
                self.problem(path, f"names image {target}, which is not on the mirror")
            elif entry.algo == "SHA256":
                self.wanted.append((path, target, entry.digest))

    def ostree(self, root: str, refs: dict[str, str], has_summary: bool, fsck: bool) -> None:
        """``refs``: ref → its file (relative to the top)."""
        for ref, ref_path in sorted(refs.items()):
            commit = self.fs.read(ref_path).decode(errors="replace").strip()
            self.need(ref_path, [_commit_object(root, commit)], f"commit {commit} of ref {ref}: object")
        summary = _join(root, "summary")
        if has_summary:
            try:
                data = self.fs.read(summary)
                listed, deltas = gvariant_binary.summary_refs(data), gvariant_binary.summary_deltas(data)
            except (gvariant_binary.GVariantError, ToolError) as exc:
                self.problem(summary, f"cannot be read: {exc}")
                listed, deltas = {}, frozenset()
            for ref, commit in sorted(listed.items()):
                self.need(summary, [_commit_object(root, commit)], f"commit {commit} of ref {ref}: object")
            for delta in sorted(deltas):
                self.need(summary, [_join(root, delta_superblock(delta))], f"static delta {delta}: superblock")
        if fsck:
            status, _, err = self.fs.runner.run(["ostree", "fsck", "--quiet", f"--repo={self.fs.abs(root)}"])
            if status != 0:
                self.problem(root or ".", f"ostree fsck failed: {err.decode(errors='replace').strip()[-500:]}")

    def digests(self) -> None:
        actual = self.fs.sha256(target for _, target, _ in self.wanted)
        for item, target, expected in self.wanted:
            self.checked += 1
            if actual.get(target) != expected:
                found = actual.get(target, "unreadable")
                self.problem(item, f"{target} has SHA256 {found}, the metadata says {expected}")


def _commit_object(root: str, commit: str) -> str:
    try:
        return _join(root, commit_object(commit))
    except ValueError:  # a ref file holding something else: name a path that cannot exist
        return _join(root, f"objects/{commit}.commit")


def _join(top: str, rel: str) -> str:
    joined = posixpath.normpath(posixpath.join(top, rel)) if top else posixpath.normpath(rel)
    return joined.lstrip("/")
