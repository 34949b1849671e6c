"""Fedora's downstream-mirror file lists, ``fullfiletimelist-<module>`` and ``imagelist-<module>``. Pure.

Downstream mirrors running quick-fedora-mirror fetch the time list first and transfer only what changed since
their last run, so it must describe the master mirror exactly. The format is the one fedora-infra's
``create-filelist`` writes (fedora-infra/ansible ``files/scripts/create-filelist``, run by
``update-fullfiletimelist -c -s ... -i``)::

    [Version]
    2

    [Files]
    <mtime>\\t<type>\\t<size>\\t<path>        one line per file, directory and symlink below the module top
    ...

    [Checksums SHA1]
    <hex>\\t<path>                           every repomd.xml (``-c``); then MD5, SHA256 and SHA512 sections

    [End]

``mtime`` is the integer ``max(st_mtime, st_ctime)`` of the entry on the mirror (the ctime tells a client a
file that was copied or hard-linked since its last run); ``type`` is ``f``, ``d`` or ``l`` (a symlink: its own
size), followed by ``-`` when the entry is not world-readable. Entries that are not group-readable, rsync's
``.~tmp~`` and NFS's ``.nfs*`` are left out, and so are the lists themselves at the top (``-s``). The image list
names, one per line as ``./<path>``, every entry whose path ends with ``.<format>`` for one of productmd's
``SUPPORTED_IMAGE_FORMATS`` (what ``create-filelist -i`` uses), for fedfind.

Not written: ``create-filelist``'s ``*`` mark on readable entries under a restricted directory (Fedora's
public tree has none), nor the plain ``fullfilelist``.

Here a list is kept up to date from the previous one and the entries a sync changed (:func:`updated`),
never by walking the tree (the I/O is :mod:`relengotron.sync.mirror`'s).
"""

from __future__ import annotations

import stat as statmod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from productmd.images import SUPPORTED_IMAGE_FORMATS

VERSION = "2"  # what create-filelist writes today (quick-fedora-mirror reads up to 3)
CHECKSUM_ALGORITHMS = ("SHA1", "MD5", "SHA256", "SHA512")  # create-filelist's order
CHECKSUMMED = frozenset({"repomd.xml"})  # create-filelist -c
ALWAYS_SKIP = ".~tmp~"
PLAIN_LIST = "fullfilelist"


class FileListError(ValueError):
    """A file list that cannot be read; the message says where."""


def timelist_name(module: str) -> str:
    return f"fullfiletimelist-{module}"


def imagelist_name(module: str) -> str:
    return f"imagelist-{module}"


def list_names(module: str) -> frozenset[str]:
    """The names at the module top that are never listed (``create-filelist -s``)."""
    return frozenset({timelist_name(module), imagelist_name(module), PLAIN_LIST})


@dataclass(frozen=True)
class FileEntry:
    mtime: int  # max(mtime, ctime) on the mirror, whole seconds
    ftype: str  # f, d or l, then "-" when not world-readable
    size: int
    path: str  # relative to the module top, '/'-separated

    def line(self) -> str:
        return f"{self.mtime}\t{self.ftype}\t{self.size}\t{self.path}"


@dataclass(frozen=True)
class FileList:
    entries: dict[str, FileEntry] = field(default_factory=dict)
    checksums: dict[str, dict[str, str]] = field(default_factory=dict)  # "SHA1" → path → hex
    version: str = VERSION


def listed(path: str, module: str) -> bool:
    """Whether ``path`` (relative to the module top) belongs in the lists at all."""
    parts = path.split("/")
    if any(p == ALWAYS_SKIP or p.startswith(".nfs") for p in parts):
        return False
    return not (len(parts) == 1 and parts[0] in list_names(module))


def entry_of(path: str, *, mtime: int, ctime: int, size: int, kind: str, mode: int) -> FileEntry | None:
    """The list entry of one stat'ed entry (``kind``: f, d or l); None when create-filelist leaves it out."""
    if not mode & statmod.S_IRGRP and kind != "l":
        return None
    mark = "" if kind == "l" or mode & statmod.S_IROTH else "-"
    return FileEntry(mtime=max(int(mtime), int(ctime)), ftype=kind + mark, size=size, path=path)


def parse(text: str) -> FileList:
    """Read a time list; :class:`FileListError` when it is truncated (no ``[End]``) or a line is malformed."""
    section = ""
    version = ""
    entries: dict[str, FileEntry] = {}
    checksums: dict[str, dict[str, str]] = {}
    ended = False
    for number, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            ended = section == "End"
            if section.startswith("Checksums "):
                checksums.setdefault(section.split(" ", 1)[1], {})
            continue
        if section == "Version":
            version = line.strip()
        elif section == "Files":
            fields = line.split("\t", 3)
            if len(fields) != 4 or not fields[0].isdigit() or not fields[2].isdigit():
                raise FileListError(f"line {number}: not <mtime>\\t<type>\\t<size>\\t<path>: {line!r}")
            entries[fields[3]] = FileEntry(int(fields[0]), fields[1], int(fields[2]), fields[3])
        elif section.startswith("Checksums "):
            digest, sep, path = line.partition("\t")
            if not sep:
                raise FileListError(f"line {number}: not <checksum>\\t<path>: {line!r}")
            checksums[section.split(" ", 1)[1]][path] = digest
        else:
            raise FileListError(f"line {number}: outside any known section: {line!r}")
    if not ended:
        raise FileListError("no [End] marker: the list is truncated")
    return FileList(entries=entries, checksums=checksums, version=version or VERSION)


def render(files: FileList) -> str:
    """The time list's text, entries sorted by path (the order is free: clients read it with awk)."""
    out = ["[Version]", files.version, "", "[Files]"]
    out += [files.entries[path].line() for path in sorted(files.entries)]
    for algo in CHECKSUM_ALGORITHMS:
        out += ["", f"[Checksums {algo}]"]
        sums = files.checksums.get(algo, {})
        out += [f"{sums[path]}\t{path}" for path in sorted(sums)]
    out += ["", "[End]"]
    return "\n".join(out) + "\n"


def render_images(files: FileList) -> str:
    """The image list: ``./<path>`` of every entry with one of productmd's image formats as its extension."""
    suffixes = tuple(f".{form}" for form in SUPPORTED_IMAGE_FORMATS)
    return "".join(f"./{path}\n" for path in sorted(files.entries) if path.endswith(suffixes))


def needs_checksum(path: str) -> bool:
    return path.rsplit("/", 1)[-1] in CHECKSUMMED


def updated(
    previous: FileList,
    changes: Mapping[str, FileEntry | None],
    *,
    checksums: Mapping[str, Mapping[str, str]] = {},
    replace_under: Iterable[str] = (),
) -> FileList:
    """``previous`` with ``changes`` applied: a path mapped to None is gone (with everything under it, for a
    directory), one mapped to an entry is added or replaced. ``replace_under``: directories ("" for the top)
    whose previous entries are all dropped first (``changes`` then holds everything under them).
    ``checksums``: path → algorithm → hex for the (new or changed) entries that are checksummed.
    """
    roots = [r.strip("/") for r in replace_under]
    gone = [p for p, e in changes.items() if e is None]
    entries = {
        path: entry
        for path, entry in previous.entries.items()
        if not any(_under(path, root) for root in roots) and not any(_under(path, g) for g in gone)
    }
    entries.update({p: e for p, e in changes.items() if e is not None})
    sums: dict[str, dict[str, str]] = {}
    for algo in CHECKSUM_ALGORITHMS:
        kept = previous.checksums.get(algo, {})
        merged = {p: d for p, d in kept.items() if p in entries and p not in changes}
        merged.update({p: c[algo] for p, c in checksums.items() if p in entries and algo in c})
        sums[algo] = merged
    missing = [p for p, e in changes.items() if e is not None and needs_checksum(p) and p not in sums["SHA1"]]
    if missing:
        raise ValueError(f"no checksum given for {', '.join(sorted(missing)[:5])}")
    return FileList(entries=entries, checksums=sums, version=previous.version)


def _under(path: str, root: str) -> bool:
    return not root or path == root or path.startswith(root + "/")
