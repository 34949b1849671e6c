"""updateinfo.xml: valid XML in the createrepo_c/Bodhi shape, deterministic, escaped, input validated."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from relengotron.mash.updateinfo import Collection, PackageEntry, UpdateinfoError, build_updateinfo, parse_updateinfo
from relengotron.updates import UpdateError, clean_text, parse_updates

ISSUED = datetime(2016, 7, 1, 12, 30, tzinfo=UTC)
F24 = Collection(release_name="Fedora 24", short="F24", status="testing")


def _pkg(nvr: str, arch: str) -> PackageEntry:
    name, version, release = nvr.rsplit("-", 2)
    return PackageEntry(
        name=name,
        epoch=0,
        version=version,
        release=release,
        arch=arch,
        filename=f"{nvr}.{arch}.rpm",
        src=f"{nvr}.src.rpm",
        sha256=(name * 64)[:64],
    )


PACKAGES = {
    "glibc-2.23.1-8.fc24": [_pkg("glibc-2.23.1-8.fc24", "x86_64"), _pkg("glibc-2.23.1-8.fc24", "src")],
    "curl-7.47.1-5.fc24": [_pkg("curl-7.47.1-5.fc24", "noarch")],
    "libcurl-7.47.1-5.fc24": [_pkg("libcurl-7.47.1-5.fc24", "x86_64")],
}
UPDATES = [
    {
        "alias": "FEDORA-2016-bbbb",
        "builds": ["libcurl-7.47.1-5.fc24", "curl-7.47.1-5.fc24"],
        "type": "security",
        "severity": "urgent",
        "bugs": [{"id": 99, "title": 'CVE-2016-1 <heap> & "overflow"'}, 7],
    },
    {
        "alias": "FEDORA-2016-aaaa",
        "builds": ["glibc-2.23.1-8.fc24"],
        "type": "bugfix",
        "severity": "medium",
        "bugs": ["1234"],
        "notes": "Fixes <crash> & 'hang'\r\nsecond line",
    },
]


def _doc(updates=UPDATES, packages=PACKAGES, collection=F24) -> bytes:
    return build_updateinfo(parse_updates(updates), packages, collection, issued=ISSUED)


def test_document_has_the_shape_dnf_reads() -> None:
    root = ET.fromstring(_doc())
    assert root.tag == "updates"
    first, second = root.findall("update")
    assert first.attrib == {
        "from": "updates@fedoraproject.org",
        "status": "testing",
        "type": "bugfix",
        "version": "2.0",
    }
    assert first.findtext("id") == "FEDORA-2016-aaaa"
    assert first.findtext("title") == "glibc-2.23.1-8.fc24"
    assert first.find("issued").attrib == {"date": "2016-07-01 12:30:00"}
    assert first.find("updated").attrib == {"date": "2016-07-01 12:30:00"}
    assert (first.findtext("release"), first.findtext("severity")) == ("Fedora 24", "Moderate")
    assert [r.attrib for r in first.find("references")] == [
        {
            "href": "https://bugzilla.redhat.com/show_bug.cgi?id=1234",
            "id": "1234",
            "type": "bugzilla",
            "title": "Bug 1234",
        }
    ]
    collection = first.find("pkglist/collection")
    assert collection.attrib == {"short": "F24"} and collection.findtext("name") == "Fedora 24"
    packages = collection.findall("package")
    assert [p.attrib["arch"] for p in packages] == ["src", "x86_64"]
    assert packages[1].attrib == {
        "name": "glibc",
        "version": "2.23.1",
        "release": "8.fc24",
        "epoch": "0",
        "arch": "x86_64",
        "src": "glibc-2.23.1-8.fc24.src.rpm",
    }
    assert packages[1].findtext("filename") == "glibc-2.23.1-8.fc24.x86_64.rpm"
    assert packages[1].find("sum").attrib == {"type": "sha256"} and len(packages[1].findtext("sum")) == 64
    assert second.attrib["type"] == "security" and second.findtext("severity") == "Critical"
    assert second.findtext("title") == "curl-7.47.1-5.fc24 libcurl-7.47.1-5.fc24"
    assert [r.attrib["id"] for r in second.find("references")] == ["7", "99"]
    assert [p.attrib["name"] for p in second.findall("pkglist/collection/package")] == ["curl", "libcurl"]


def test_special_characters_are_escaped_and_survive_a_parse() -> None:
    doc = _doc()
    assert b"Fixes &lt;crash&gt; &amp; 'hang'\nsecond line" in doc
    assert b"\r" not in doc
    root = ET.fromstring(doc)
    assert root.find("update/description").text == "Fixes <crash> & 'hang'\nsecond line"
    titles = [r.attrib["title"] for r in root.iter("reference")]
    assert 'CVE-2016-1 <heap> & "overflow"' in titles


def test_control_characters_are_dropped_so_the_xml_stays_valid() -> None:
    update = {"alias": "FEDORA-2016-c", "builds": ["curl-7.47.1-5.fc24"], "type": "enhancement"}
    doc = _doc([{**update, "title": "bell\x07 and nul\x00", "notes": "tab\tkept\x1b[0m"}])
    root = ET.fromstring(doc)
    assert root.findtext("update/title") == "bell and nul"
    assert root.findtext("update/description") == "tab\tkept[0m"


def test_same_input_in_any_order_gives_the_same_bytes() -> None:
    shuffled = [dict(UPDATES[1]), {**UPDATES[0], "builds": list(reversed(UPDATES[0]["builds"]))}]
    shuffled[1]["bugs"] = list(reversed(UPDATES[0]["bugs"]))
    packages = {nvr: list(reversed(entries)) for nvr, entries in reversed(PACKAGES.items())}
    assert _doc(shuffled, packages) == _doc()
    assert _doc().startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<updates>\n  <update ')


def test_dates_come_from_the_input_never_the_clock() -> None:
    update = {
        "alias": "FEDORA-2016-d",
        "builds": ["curl-7.47.1-5.fc24"],
        "type": "newpackage",
        "issued": "2016-06-01T10:00:00+02:00",
        "updated": datetime(2016, 6, 3),
    }
    root = ET.fromstring(_doc([update]))
    assert root.find("update/issued").attrib["date"] == "2016-06-01 08:00:00"
    assert root.find("update/updated").attrib["date"] == "2016-06-03 00:00:00"
    other_zone = build_updateinfo(
        parse_updates(UPDATES), PACKAGES, F24, issued=ISSUED.astimezone(timezone(timedelta(hours=-5)))
    )
    assert other_zone == _doc()


def test_a_build_without_packages_in_this_repository_contributes_none() -> None:
    root = ET.fromstring(_doc(packages={}))
    assert [u.findall("pkglist/collection/package") for u in root.findall("update")] == [[], []]


def test_no_updates_gives_an_empty_document() -> None:
    assert ET.fromstring(_doc([])).tag == "updates"
    assert _doc([]) == b'<?xml version="1.0" encoding="UTF-8"?>\n<updates />\n'


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        ({"alias": "X"}, r"updates: must be a list"),
        ([{"builds": ["a-1-1"], "type": "bugfix"}], r"updates\[0\]: alias must be"),
        ([{"alias": "A B", "builds": ["a-1-1"], "type": "bugfix"}], r"updates\[0\]: alias must be"),
        ([{"alias": "U1", "builds": [], "type": "bugfix"}], r"update U1: builds must be a non-empty list"),
        ([{"alias": "U1", "builds": ["bash"], "type": "bugfix"}], r"update U1: build 'bash' is not an NVR"),
        ([{"alias": "U1", "builds": ["a-1-1"], "type": "fix"}], r"update U1: type must be one of"),
        ([{"alias": "U1", "builds": ["a-1-1"], "type": "bugfix", "severity": "bad"}], r"update U1: severity"),
        ([{"alias": "U1", "builds": ["a-1-1"], "type": "bugfix", "bugs": ["x1"]}], r"update U1: bug 'x1'"),
        ([{"alias": "U1", "builds": ["a-1-1"], "type": "bugfix", "bugs": [0]}], r"update U1: bug 0"),
        ([{"alias": "U1", "builds": ["a-1-1"], "type": "bugfix", "issued": "soon"}], r"U1: issued must be an ISO"),
        ([{"alias": "U1", "builds": ["a-1-1"], "type": "bugfix", "colour": 1}], r"update U1: unknown field.*colour"),
        ([{"alias": "U1", "builds": ["a-1-1", "a-1-1"], "type": "bugfix"}], r"update U1: lists a build twice"),
        (
            [
                {"alias": "U1", "builds": ["a-1-1"], "type": "bugfix"},
                {"alias": "U1", "builds": ["b-1-1"], "type": "bugfix"},
            ],
            r"update U1: appears twice",
        ),
        (
            [
                {"alias": "U1", "builds": ["a-1-1"], "type": "bugfix"},
                {"alias": "U2", "builds": ["a-1-1"], "type": "bugfix"},
            ],
            r"update U2: build a-1-1 is already in update U1",
        ),
    ],
)
def test_bad_updates_are_refused_naming_the_update_and_field(updates, message: str) -> None:
    with pytest.raises(UpdateError, match=message):
        parse_updates(updates)


def test_severity_defaults_and_bug_duplicates_merge() -> None:
    (update,) = parse_updates(
        [{"alias": "U1", "builds": ["a-1-1"], "type": "bugfix", "bugs": [5, {"id": "5", "title": "Crash"}, 3]}]
    )
    assert update.severity == "None"
    assert [(b.id, b.title) for b in update.bugs] == [(3, ""), (5, "Crash")]


@given(st.text(), st.text())
@example(" \x00", "")
@example("<&>\"'", "\r\n\x0b")
def test_any_text_gives_valid_xml_that_reads_back_cleaned(title: str, notes: str) -> None:
    update = {"alias": "FEDORA-2016-h", "builds": ["curl-7.47.1-5.fc24"], "type": "bugfix", "title": title}
    update["notes"] = notes
    root = ET.fromstring(_doc([update]))
    expected_title = clean_text(title).strip() or "curl-7.47.1-5.fc24"
    assert root.findtext("update/title") == expected_title
    assert (root.findtext("update/description") or "") == (clean_text(notes) or expected_title)


# --- reading it back: a repository's advisories carried to its next compose -----------------------------------


def test_a_document_reads_back_into_updates_that_write_the_same_bytes() -> None:
    document = _doc()
    advisories = parse_updateinfo(document, item="repodata/updateinfo.xml")
    assert [u.alias for u in advisories] == ["FEDORA-2016-aaaa", "FEDORA-2016-bbbb"]
    curl = advisories[1]
    # the builds are the source packages the pkglist names; bugs, severity (dnf's name) and dates read back
    assert curl.builds == ("curl-7.47.1-5.fc24", "libcurl-7.47.1-5.fc24")
    assert [b.id for b in curl.bugs] == [7, 99] and curl.bugs[1].title == 'CVE-2016-1 <heap> & "overflow"'
    assert (curl.type, curl.severity, curl.issued) == ("security", "Critical", ISSUED)
    assert build_updateinfo(advisories, PACKAGES, F24, issued=ISSUED + timedelta(days=3)) == document


@given(st.text(), st.text())
@example("", "")
@example(" \x00", "\r\n")
def test_any_text_survives_the_round_trip(title: str, notes: str) -> None:
    update = {"alias": "FEDORA-2016-h", "builds": ["curl-7.47.1-5.fc24"], "type": "bugfix", "title": title}
    update["notes"] = notes
    document = _doc([update])
    assert build_updateinfo(parse_updateinfo(document), PACKAGES, F24, issued=ISSUED) == document


@pytest.mark.parametrize(
    ("document", "named"),
    [
        (b"<updates><update", "not XML"),
        (b"<repomd/>", "the root element is <repomd>"),
        (b"<updates><update type='bugfix'><title>t</title></update></updates>", "advisory (without id): no <id>"),
        (b"<updates><update type='hotfix'><id>F-1</id></update></updates>", "advisory F-1: type 'hotfix'"),
        (
            b"<updates><update type='bugfix'><id>F-1</id><issued date='yesterday'/></update></updates>",
            "advisory F-1: date 'yesterday'",
        ),
        (
            b"<updates><update type='bugfix'><id>F-1</id></update>"
            b"<update type='bugfix'><id>F-1</id></update></updates>",
            "advisory F-1: listed twice",
        ),
    ],
)
def test_an_unreadable_document_is_refused_naming_it_and_the_advisory(document: bytes, named: str) -> None:
    with pytest.raises(UpdateinfoError) as raised:
        parse_updateinfo(document, item="updates/24/x86_64/repodata/x-updateinfo.xml.gz")
    assert str(raised.value).startswith("updates/24/x86_64/repodata/x-updateinfo.xml.gz: ")
    assert named in str(raised.value)
