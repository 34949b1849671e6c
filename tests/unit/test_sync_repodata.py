"""Reading repomd.xml and primary.xml for the mirror checks."""

from __future__ import annotations

import gzip
import lzma

import pytest

from relengotron.sync.repodata import RepodataError, RepomdData, decompress, package_locations, parse_repomd

REPOMD = b"""<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1479200000</revision>
  <data type="primary">
    <checksum type="sha256">ABCDEF</checksum>
    <open-checksum type="sha256">0000</open-checksum>
    <location href="repodata/abcdef-primary.xml.gz"/>
  </data>
  <data type="updateinfo">
    <checksum type="sha256">123456</checksum>
    <location href="repodata/123456-updateinfo.xml.xz"/>
  </data>
</repomd>
"""

PRIMARY = b"""<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="3">
<package type="rpm"><name>a</name><location href="a-1-1.noarch.rpm"/></package>
<package type="rpm"><name>b</name><location href="Packages/b/b-1-1.noarch.rpm"/></package>
<package type="rpm"><name>c</name><location xml:base="http://elsewhere/" href="c-1-1.noarch.rpm"/></package>
</metadata>
"""


def test_repomd_entries() -> None:
    assert parse_repomd(REPOMD) == [
        RepomdData("primary", "repodata/abcdef-primary.xml.gz", "sha256", "abcdef"),
        RepomdData("updateinfo", "repodata/123456-updateinfo.xml.xz", "sha256", "123456"),
    ]


def test_package_locations_skip_packages_stored_elsewhere() -> None:
    assert package_locations(PRIMARY) == ["a-1-1.noarch.rpm", "Packages/b/b-1-1.noarch.rpm"]


def test_decompress_by_suffix() -> None:
    assert decompress("x.xml.gz", gzip.compress(PRIMARY)) == PRIMARY
    assert decompress("x.xml.xz", lzma.compress(PRIMARY)) == PRIMARY
    assert decompress("x.xml", PRIMARY) == PRIMARY
    with pytest.raises(RepodataError, match=r"x\.xml\.gz: cannot decompress"):
        decompress("x.xml.gz", b"not gzip")


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (b"<repomd", "not XML"),
        (
            b'<repomd xmlns="http://linux.duke.edu/metadata/repo"><data type="primary"/></repomd>',
            "the primary entry has no location or checksum",
        ),
    ],
)
def test_bad_repomd(xml: bytes, message: str) -> None:
    with pytest.raises(RepodataError, match=message):
        parse_repomd(xml)
