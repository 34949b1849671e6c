"""Which files of a staging tree are content and which are metadata, and so in which sync pass they go. Pure.

A client reads an index (repomd.xml, an OSTree ref or summary, a CHECKSUM file, the website data), then the
metadata it names (repodata/*.xml.gz), then the content that names (RPMs, OSTree objects, images). The sync
therefore copies in the opposite order, one pass per class, so that at every moment everything an index or
metadata file on the mirror names is already there:

==========  =====================================================================================
content     RPMs, images, OSTree ``objects/``, ``deltas/`` and ``extensions/`` — anything not below
metadata    ``repodata/*`` data files, OSTree ``delta-indexes/``, ``*.json`` descriptions beside images
index       ``repodata/repomd.xml{,.asc,.key}``, OSTree ``refs/``, ``summary``, ``summary.sig``,
            ``summaries/``, ``config``, ``*CHECKSUM`` files, the website tree
link        symbolic links ("latest"): switched one by one, atomically, after the indexes
skip        what is inside OSTree ``tmp/`` and ``state/``, ``.lock``; rsync's ``.~tmp~``; the staging
            tree's private area ``.relengotron/`` (artifact candidates awaiting their tests, locks) —
            never synced; the downstream file lists at the top (``fullfiletimelist-*``, ``imagelist-*``,
            ``fullfilelist``): published on their own, after everything else (:mod:`relengotron.sync.filelist`)
==========  =====================================================================================

Directories are content: the tree's skeleton (including an OSTree repository's empty ``refs/remotes`` or
``tmp``, which the ``ostree`` tools expect) is created first and names nothing.

An OSTree repository is recognised by its shape (a directory holding a ``config`` file and an ``objects/``
directory), wherever it sits in the tree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

PathClass = Literal["content", "metadata", "index", "link", "skip"]
Kind = Literal["file", "link", "dir"]
PASSES: tuple[PathClass, ...] = ("content", "metadata", "index")  # the rsync passes, in order

REPOMD_INDEX = frozenset({"repomd.xml", "repomd.xml.asc", "repomd.xml.key"})
OSTREE_CONTENT = frozenset({"objects", "deltas", "extensions"})
OSTREE_METADATA = frozenset({"delta-indexes"})
OSTREE_INDEX_DIRS = frozenset({"refs", "summaries"})
OSTREE_INDEX_FILES = frozenset({"summary", "summary.sig", "config"})
OSTREE_SKIP = frozenset({"tmp", "state", ".lock"})
RSYNC_TEMP = ".~tmp~"
STAGING_PRIVATE = ".relengotron"  # top-level directory of the staging tree that is never published
FILE_LIST_PREFIXES = ("fullfiletimelist-", "imagelist-")


def is_file_list(path: str) -> bool:
    """A downstream file list at the top (published last, by the file-list step, never by the passes)."""
    return "/" not in path and (path == "fullfilelist" or path.startswith(FILE_LIST_PREFIXES))


@dataclass(frozen=True)
class Classification:
    """Every path of a tree (relative, '/'-separated) sorted into its class."""

    classes: dict[str, PathClass]
    kinds: dict[str, Kind]
    ostree_roots: frozenset[str]

    def of(self, path_class: PathClass) -> tuple[str, ...]:
        return tuple(sorted(p for p, c in self.classes.items() if c == path_class))


def ostree_roots(paths: Iterable[str]) -> frozenset[str]:
    """Directories (relative, "" for the top) that hold both a ``config`` file and something under ``objects/``."""
    configs: set[str] = set()
    with_objects: set[str] = set()
    for path in paths:
        parts = path.split("/")
        if parts[-1] == "config":
            configs.add("/".join(parts[:-1]))
        for i, part in enumerate(parts[:-1]):
            if part == "objects":
                with_objects.add("/".join(parts[:i]))
    return frozenset(configs & with_objects)


def classify(path: str, *, kind: Kind = "file", roots: frozenset[str], website: str | None = None) -> PathClass:
    """The class of one file, symlink or directory ``path`` (relative to the staging top, '/'-separated)."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts:
        raise ValueError(f"{path!r} is not a relative path")
    if RSYNC_TEMP in parts or parts[0] == STAGING_PRIVATE or (len(parts) == 1 and is_file_list(parts[0])):
        return "skip"
    for i in range(len(parts) - 1, -1, -1):
        if "/".join(parts[:i]) in roots:
            rel = parts[i:]
            if rel[0] in OSTREE_SKIP and (len(rel) > 1 or kind != "dir"):
                return "skip"
            if kind != "file":
                return "link" if kind == "link" else "content"
            return _in_ostree(rel)
    if kind != "file":
        return "link" if kind == "link" else "content"
    name = parts[-1]
    if website and (path == website or path.startswith(website.rstrip("/") + "/")):
        return "index"
    if "repodata" in parts[:-1]:
        return "index" if name in REPOMD_INDEX else "metadata"
    if name.endswith("CHECKSUM"):
        return "index"
    if name.endswith(".json"):
        return "metadata"
    return "content"


def _in_ostree(rel: list[str]) -> PathClass:
    head = rel[0]
    if len(rel) == 1:
        return "index" if head in OSTREE_INDEX_FILES else "metadata"
    if head in OSTREE_CONTENT:
        return "content"
    if head in OSTREE_INDEX_DIRS:
        return "index"
    return "metadata"  # delta-indexes/ and anything unknown: after the content it may name


def classify_tree(
    entries: Iterable[tuple[str, Kind]], *, website: str | None = None, roots: Iterable[str] | None = None
) -> Classification:
    """Classify ``(path, kind)`` entries of a tree. OSTree repositories are ``roots`` when given (the entries
    of a changeset need not name a repository's ``config``), else found among the files first."""
    items = list(entries)
    roots = frozenset(roots) if roots is not None else ostree_roots(p for p, kind in items if kind == "file")
    classes = {path: classify(path, kind=kind, roots=roots, website=website) for path, kind in items}
    return Classification(classes=classes, kinds={path: kind for path, kind in items}, ostree_roots=roots)
