"""Fedora's image CHECKSUM files: write them, read them back (signed or not). Pure text in, data out.

Each image gets a size comment and a BSD-style digest line, sorted by file name::

    # Fedora-Server-dvd-x86_64-24-1.2.iso: 1868562432 bytes
    SHA256 (Fedora-Server-dvd-x86_64-24-1.2.iso) = 3e8b2c...

The published file is this text clear-signed (``gpg --clearsign``). The sync checks every image it names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_LINE = re.compile(r"^(?P<algo>[A-Z0-9-]+) \((?P<name>.+)\) = (?P<digest>[0-9a-fA-F]+)$")
_SIZE = re.compile(r"^# (?P<name>.+): (?P<size>\d+) bytes$")
_DIGEST_LENGTHS = {"SHA256": 64, "SHA512": 128, "SHA1": 40, "MD5": 32}
SIGNED_HEADER = "-----BEGIN PGP SIGNED MESSAGE-----"
SIGNATURE_HEADER = "-----BEGIN PGP SIGNATURE-----"


class ChecksumFormatError(ValueError):
    """A CHECKSUM file that cannot be read; the message names the line."""


@dataclass(frozen=True)
class ChecksumEntry:
    name: str  # file name, relative to the CHECKSUM file's directory
    algo: str  # "SHA256"
    digest: str  # lowercase hex
    size: int | None  # from the "# name: N bytes" comment, when present


def render_checksums(entries: Iterable[ChecksumEntry]) -> str:
    """The CHECKSUM text for ``entries``, sorted by name (so the same images always give the same text)."""
    lines: list[str] = []
    seen: set[str] = set()
    for entry in sorted(entries, key=lambda e: e.name):
        _check_name(entry.name)
        if entry.name in seen:
            raise ChecksumFormatError(f"{entry.name}: listed twice")
        seen.add(entry.name)
        expected = _DIGEST_LENGTHS.get(entry.algo)
        if expected is None or len(entry.digest) != expected or not re.fullmatch(r"[0-9a-f]+", entry.digest):
            raise ChecksumFormatError(f"{entry.name}: bad {entry.algo} digest {entry.digest!r}")
        if entry.size is not None:
            lines.append(f"# {entry.name}: {entry.size} bytes")
        lines.append(f"{entry.algo} ({entry.name}) = {entry.digest}")
    return "\n".join(lines) + "\n"


def signed_body(text: str) -> str:
    """The text a clear-signed message signs (dash-escaping undone); plain text is returned unchanged."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != SIGNED_HEADER:
        return text
    try:
        start = lines.index("", 1) + 1  # the armor headers ("Hash: SHA256") end at the first empty line
        end = lines.index(SIGNATURE_HEADER, start)
    except ValueError as exc:
        raise ChecksumFormatError("clear-signed text without a signature block") from exc
    body = [line[2:] if line.startswith("- ") else line for line in lines[start:end]]
    return "\n".join(body) + "\n"


def is_clearsigned(text: str) -> bool:
    return text.lstrip().startswith(SIGNED_HEADER)


def parse_checksums(text: str) -> dict[str, ChecksumEntry]:
    """Image name → entry, from plain or clear-signed CHECKSUM text."""
    sizes: dict[str, int] = {}
    out: dict[str, ChecksumEntry] = {}
    for number, raw in enumerate(signed_body(text).splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        size = _SIZE.match(line)
        if size:
            sizes[size["name"]] = int(size["size"])
            continue
        if line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise ChecksumFormatError(f"line {number}: not a checksum line: {line[:80]!r}")
        name, algo, digest = match["name"], match["algo"], match["digest"].lower()
        _check_name(name)
        expected = _DIGEST_LENGTHS.get(algo)
        if expected is not None and len(digest) != expected:
            raise ChecksumFormatError(f"line {number}: {algo} digest of {name} has {len(digest)} digits")
        if name in out:
            raise ChecksumFormatError(f"line {number}: {name} listed twice")
        out[name] = ChecksumEntry(name=name, algo=algo, digest=digest, size=None)
    return {
        name: ChecksumEntry(name=e.name, algo=e.algo, digest=e.digest, size=sizes.get(name)) for name, e in out.items()
    }


def _check_name(name: str) -> None:
    if not name or "/" in name or name in (".", "..") or "\n" in name:
        raise ChecksumFormatError(f"bad image file name {name!r}: CHECKSUM files name files beside them")
