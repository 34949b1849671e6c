"""Read a yum repository's metadata: what repomd.xml names (with checksums), which packages primary lists. Pure.

Used after a sync to check that every file the published metadata names is on the mirror, with the digest
the metadata promises.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass

REPO_NS = "{http://linux.duke.edu/metadata/repo}"
COMMON_NS = "{http://linux.duke.edu/metadata/common}"


class RepodataError(ValueError):
    """Metadata that cannot be read; the message says which part."""


@dataclass(frozen=True)
class RepomdData:
    type: str  # primary, filelists, other, updateinfo, ...
    href: str  # relative to the repository's top directory
    checksum_type: str  # sha256
    checksum: str


def parse_repomd(xml: bytes) -> list[RepomdData]:
    """The ``<data>`` entries of a repomd.xml."""
    root = _parse_xml(xml, "repomd.xml")
    out: list[RepomdData] = []
    for data in root.findall(f"{REPO_NS}data"):
        kind = data.get("type", "?")
        location = data.find(f"{REPO_NS}location")
        checksum = data.find(f"{REPO_NS}checksum")
        if location is None or location.get("href") is None or checksum is None or not checksum.text:
            raise RepodataError(f"repomd.xml: the {kind} entry has no location or checksum")
        out.append(
            RepomdData(
                type=kind,
                href=location.get("href", ""),
                checksum_type=checksum.get("type", "sha256"),
                checksum=checksum.text.strip().lower(),
            )
        )
    return out


def decompress(name: str, data: bytes) -> bytes:
    """The bytes of a (possibly .gz/.bz2/.xz/.zst compressed) metadata file."""
    try:
        if name.endswith(".gz"):
            return gzip.decompress(data)
        if name.endswith(".bz2"):
            return bz2.decompress(data)
        if name.endswith(".xz"):
            return lzma.decompress(data)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise RepodataError(f"{name}: cannot decompress: {exc}") from exc
    if name.endswith(".zst"):
        if shutil.which("zstd") is None:
            raise RepodataError(f"{name}: zstd is needed to read it")
        proc = subprocess.run(["zstd", "-dc"], input=data, capture_output=True, check=False)
        if proc.returncode != 0:
            raise RepodataError(f"{name}: cannot decompress: {proc.stderr.decode(errors='replace')}")
        return proc.stdout
    return data


def package_locations(primary_xml: bytes) -> list[str]:
    """``location/@href`` of every package in primary.xml (those with an ``xml:base`` elsewhere are left out)."""
    root = _parse_xml(primary_xml, "primary.xml")
    out: list[str] = []
    for package in root.findall(f"{COMMON_NS}package"):
        location = package.find(f"{COMMON_NS}location")
        if location is None or location.get("href") is None:
            raise RepodataError("primary.xml: a package has no location")
        if location.get("{http://www.w3.org/XML/1998/namespace}base") or location.get("xml:base"):
            continue
        out.append(location.get("href", ""))
    return out


def _parse_xml(data: bytes, name: str) -> ET.Element:
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise RepodataError(f"{name} is not XML: {exc}") from exc
