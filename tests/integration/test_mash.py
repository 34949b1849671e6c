"""Mash against the sandbox Koji hub, with the real createrepo_c, modifyrepo_c, rpm and dnf.

The hub serves the built world's RPMs at /kojifiles (signed copies under data/signed/<world key>/ for the
builds marked signed); f24-signing-pending holds builds that are not signed.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dnfcheck import advisories, dnf

from relengotron.config import Release
from relengotron.kojiclient import KojiClient, KojiConnection, KojiNotFoundError, connect, rpm_url
from relengotron.mash import MashError, MashTransientError, PlannedRPM, mash
from relengotron.mash.repo import RECORD, check_rpms, fetch_rpms, read_record
from relengotron.tools import gpg, rpmsign
from relengotron.tools.run import run
from relengotron_sandbox import testing
from relengotron_sandbox.koji import KojiHub

pytestmark = pytest.mark.integration

ISSUED = datetime(2016, 7, 1, 12, 0, tzinfo=UTC)
UPDATES = [
    {
        "alias": "FEDORA-2016-aaaa",
        "builds": ["glibc-2.23.1-8.fc24"],
        "type": "bugfix",
        "severity": "low",
        "bugs": [1234],
        "notes": 'Fixes <crash> & "hang" in getaddrinfo',
    },
    {
        "alias": "FEDORA-2016-bbbb",
        "builds": ["curl-7.47.1-5.fc24"],
        "type": "security",
        "severity": "high",
        "bugs": [{"id": 99, "title": "CVE-2016-0755 curl: NTLM credentials"}],
        "title": "curl security update",
    },
]
F24_UPDATES = ["curl-7.47.1-5.fc24.noarch.rpm", "glibc-2.23.1-8.fc24.noarch.rpm"]


@pytest.fixture
def koji_hub(recording_ctx) -> Iterator[KojiHub]:
    hub = KojiHub(recording_ctx)
    hub.endpoints = hub.start()  # type: ignore[attr-defined]
    yield hub
    hub.stop()


@pytest.fixture
def client(koji_hub: KojiHub) -> Iterator[KojiClient]:
    ep = koji_hub.endpoints  # type: ignore[attr-defined]
    conn = KojiConnection(
        hub=ep["hub"], topurl=ep["topurl"], auth="password", user="releng", password="sandbox", poll_interval=0.05
    )
    client = connect(conn)
    yield client
    client.close()


@pytest.fixture
def f24(built_world) -> Release:
    """Fedora 24 as the release configuration describes it, signed with the world's key."""
    tags = {"build": "f24", "stable": "f24-updates", "testing": "f24-updates-testing"}
    return testing.release("f24", signing_key=built_world.key_id, tags=tags)


def _snapshot(path: Path) -> dict[str, tuple[int, int, int]]:
    """Every file and directory under ``path`` (and beside it) with inode, size and mtime."""
    out = {}
    for entry in sorted(path.parent.rglob("*")):
        st = entry.lstat()
        out[str(entry.relative_to(path.parent))] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return out


def _signed_path(koji_hub: KojiHub, built_world, nvr: str, arch: str) -> Path:
    (rpm,) = [r for r in built_world.rpms[nvr] if r.arch == arch]
    return koji_hub.topdir / rpm.signed_relpath


def test_dnf_reads_the_mashed_repository_and_its_updateinfo(client, f24, built_world, tmp_path: Path) -> None:
    dest = tmp_path / "updates" / "24" / "x86_64"
    result = mash(client, f24, "f24-updates", dest, UPDATES, arch="x86_64", issued=ISSUED)
    assert result.changed and result.packages == tuple(F24_UPDATES)
    assert result.updates == ("FEDORA-2016-aaaa", "FEDORA-2016-bbbb")

    listed = dnf(dest, tmp_path / "c1", "repoquery", "--qf", "%{name}-%{version}-%{release}.%{arch}").split()
    assert sorted(listed) == ["curl-7.47.1-5.fc24.noarch", "glibc-2.23.1-8.fc24.noarch"]
    # the arch's debug/ repository beside it, a repository of its own (this world's builds carry no debuginfo)
    assert dnf(dest / "debug", tmp_path / "c0", "repoquery").split() == []
    assert '<data type="updateinfo">' in (dest / "debug" / "repodata" / "repomd.xml").read_text()
    assert dnf(dest, tmp_path / "c2", "repoquery", "--advisory=FEDORA-2016-bbbb").split() == [
        "curl-0:7.47.1-5.fc24.noarch"
    ]
    assert dnf(dest, tmp_path / "c3", "repoquery", "--bz=1234").split() == ["glibc-0:2.23.1-8.fc24.noarch"]
    assert dnf(dest, tmp_path / "c4", "repoquery", "--security", "--sec-severity=Important").split() == [
        "curl-0:7.47.1-5.fc24.noarch"
    ]

    # updateinfo list/info report updates for installed packages: install the older glibc into a scratch root.
    root = tmp_path / "root"
    root.mkdir()
    (old,) = [r for r in built_world.rpms["glibc-2.23.1-7.fc24"] if r.arch == "noarch"]
    run(
        [
            "rpm",
            "--root",
            root,
            "-i",
            "--justdb",
            "--nodeps",
            "--noscripts",
            "--nosignature",
            built_world.topdir / old.relpath,
        ],
        item="scratch root",
    )
    listing = dnf(dest, tmp_path / "c5", "updateinfo", "list", root=root)
    assert listing.split() == ["FEDORA-2016-aaaa", "bugfix", "glibc-2.23.1-8.fc24.noarch"]
    info = dnf(dest, tmp_path / "c6", "updateinfo", "info", root=root)
    assert "Update ID: FEDORA-2016-aaaa" in info and "Severity: Low" in info
    assert "Bugs: 1234" in info and 'Fixes <crash> & "hang" in getaddrinfo' in info
    assert "Updated: 2016-07-01 12:00:00" in info

    # every RPM carries a valid signature of the world's key (rpmkeys -K against a private rpm database)
    rpms = sorted(dest.rglob("*.rpm"))
    assert [p.name for p in rpms] == F24_UPDATES
    assert set(rpmsign.verify_rpms(rpms, [built_world.public_key]).values()) == {built_world.key_id}
    assert [p.name for p in tmp_path.joinpath("updates", "24").iterdir()] == ["x86_64"]  # no staging left


def test_the_sources_repository_holds_the_source_rpms(client, f24, tmp_path: Path) -> None:
    dest = tmp_path / "SRPMS"
    result = mash(client, f24, "f24-updates", dest, UPDATES, arch="SRPMS", issued=ISSUED)
    assert result.packages == ("curl-7.47.1-5.fc24.src.rpm", "glibc-2.23.1-8.fc24.src.rpm")
    assert dnf(dest, tmp_path / "c", "repoquery", "--advisory=FEDORA-2016-aaaa").split() == [
        "glibc-0:2.23.1-8.fc24.src"
    ]


def test_the_same_input_twice_gives_the_same_repository(client, f24, tmp_path: Path) -> None:
    """Two mashes into two places: repomd.xml is byte-identical, so primary and updateinfo checksums are too.

    Every timestamp is pinned (RPM mtimes to their build time, metadata to the push date), so the bytes can be
    compared rather than the parsed content.
    """
    first = mash(client, f24, "f24-updates", tmp_path / "a", UPDATES, arch="x86_64", issued=ISSUED)
    second = mash(client, f24, "f24-updates", tmp_path / "b", list(reversed(UPDATES)), arch="x86_64", issued=ISSUED)
    repomd_a = (tmp_path / "a" / "repodata" / "repomd.xml").read_bytes()
    assert repomd_a == (tmp_path / "b" / "repodata" / "repomd.xml").read_bytes()
    stamps = re.findall(rb"<timestamp>(\d+)</timestamp>", repomd_a)
    assert len(stamps) == 4 and set(stamps) == {str(first.revision).encode()}  # none is "now"
    assert first.checksums == second.checksums and set(first.checksums) == {
        "primary",
        "filelists",
        "other",
        "updateinfo",
    }
    assert first.packages == second.packages and first.digest == second.digest
    later = mash(client, f24, "f24-updates", tmp_path / "c", UPDATES, arch="x86_64", issued=datetime(2016, 7, 2))
    assert later.checksums["updateinfo"] != first.checksums["updateinfo"]
    assert later.checksums["primary"] == first.checksums["primary"]


def test_mashing_onto_an_identical_result_changes_nothing(client, f24, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "x86_64"
    mash(client, f24, "f24-updates", dest, UPDATES, arch="x86_64", issued=ISSUED)
    before = _snapshot(dest)
    again = mash(client, f24, "f24-updates", dest, UPDATES, arch="x86_64", issued=ISSUED)
    assert not again.changed
    assert _snapshot(dest) == before


def test_a_new_build_replaces_the_repository_in_one_step_and_a_crashed_mash_is_finished(
    client, f24, tmp_path: Path
) -> None:
    dest = tmp_path / "out" / "x86_64"
    mash(client, f24, "f24-updates-testing", dest, arch="x86_64", issued=ISSUED)
    assert {p.name for p in dest.rglob("*.rpm")} == {
        "kernel-4.6.4-301.fc24.x86_64.rpm",
        "kernel-debuginfo-4.6.4-301.fc24.x86_64.rpm",  # kernel is an x86_64 build: these two in debug/
        "kernel-debugsource-4.6.4-301.fc24.x86_64.rpm",
        "systemd-229-9.fc24.noarch.rpm",
    }
    # a mash killed half-way leaves its staging directory beside the destination, never in it
    leftover = dest.parent / ".x86_64.mash-killed"
    (leftover / "repo" / "Packages").mkdir(parents=True)
    client.tag_build("f24-updates-testing", "glibc-2.23.1-8.fc24")
    result = mash(client, f24, "f24-updates-testing", dest, arch="x86_64", issued=ISSUED)
    assert result.changed and not leftover.exists()
    assert "glibc-2.23.1-8.fc24.noarch.rpm" in {p.name for p in dest.rglob("*.rpm")}
    assert sorted(p.name for p in dest.parent.iterdir()) == ["x86_64"]
    # a damaged destination (an RPM gone) is not taken for the finished result: the next mash repairs it
    (dest / "Packages" / "g" / "glibc-2.23.1-8.fc24.noarch.rpm").unlink()
    assert mash(client, f24, "f24-updates-testing", dest, arch="x86_64", issued=ISSUED).changed
    assert (dest / "Packages" / "g" / "glibc-2.23.1-8.fc24.noarch.rpm").is_file()
    assert read_record(dest)["digest"] == result.digest


def test_unsigned_builds_are_refused_and_the_destination_is_untouched(client, f24, built_world, tmp_path) -> None:
    dest = tmp_path / "out" / "x86_64"
    mash(client, f24, "f24-updates", dest, UPDATES, arch="x86_64", issued=ISSUED)
    before = _snapshot(dest)
    with pytest.raises(MashError) as caught:
        mash(client, f24, "f24-signing-pending", dest, arch="x86_64", issued=ISSUED)
    message = str(caught.value)
    assert f"not signed with key {built_world.key_id}" in message
    assert "bash-4.3.42-6.fc24.noarch.rpm (signed by: none)" in message
    assert "openssh-7.2p2-10.fc24.noarch.rpm (signed by: none)" in message
    assert _snapshot(dest) == before

    # one unsigned build tagged among signed ones spoils the whole mash
    client.tag_build("f24-updates", "bash-4.3.42-6.fc24")
    with pytest.raises(MashError, match=rf"^tag f24-updates: 1 RPM\(s\) not signed with key {built_world.key_id}: "
                       r"bash-4.3.42-6.fc24.noarch.rpm \(signed by: none\)$"):  # fmt: skip
        mash(client, f24, "f24-updates", dest, UPDATES, arch="x86_64", issued=datetime(2016, 7, 3))
    assert _snapshot(dest) == before
    fresh = tmp_path / "fresh" / "x86_64"
    with pytest.raises(MashError):
        mash(client, f24, "f24-updates", fresh, arch="x86_64", issued=ISSUED)
    assert not fresh.parent.exists()  # refused before anything was created


def test_the_header_signature_is_checked_not_only_kojis_word(
    client, f24, koji_hub, built_world, tmp_path: Path
) -> None:
    """Koji lists the signature, but the file it serves is unsigned, then signed by another key."""
    signed = _signed_path(koji_hub, built_world, "glibc-2.23.1-8.fc24", "noarch")
    unsigned = koji_hub.topdir / signed.relative_to(koji_hub.topdir).as_posix().replace(
        f"data/signed/{built_world.key_id}/", ""
    )
    shutil.copyfile(unsigned, signed)
    dest = tmp_path / "out" / "x86_64"
    with pytest.raises(MashError, match=rf"^glibc-2.23.1-8.fc24.noarch.rpm: not signed with the release key "
                       rf"{built_world.key_id} \(found: no signature; from http://127.*\)$"):  # fmt: skip
        mash(client, f24, "f24-updates", dest, arch="x86_64", issued=ISSUED)
    assert not dest.exists() and list(dest.parent.iterdir()) == []

    other = gpg.generate_key(tmp_path / "gnupg", "Someone Else", "else@example.test")
    rpmsign.sign_rpms([signed], tmp_path / "gnupg", other.fingerprint)
    with pytest.raises(MashError, match=rf"not signed with the release key {built_world.key_id} "
                       rf"\(found: {other.key_id};"):  # fmt: skip
        mash(client, f24, "f24-updates", dest, arch="x86_64", issued=ISSUED)
    assert not dest.exists()


def test_damaged_or_missing_files_are_refused_naming_the_rpm(client, f24, koji_hub, built_world, tmp_path) -> None:
    signed = _signed_path(koji_hub, built_world, "curl-7.47.1-5.fc24", "noarch")
    data = signed.read_bytes()
    signed.write_bytes(data[: len(data) // 2])
    dest = tmp_path / "out" / "x86_64"
    with pytest.raises(MashError, match=r"^curl-7.47.1-5.fc24.noarch.rpm: not a readable RPM"):
        mash(client, f24, "f24-updates", dest, arch="x86_64", issued=ISSUED)
    # a signed RPM of the same key but with another payload than Koji recorded
    other = _signed_path(koji_hub, built_world, "curl-7.47.1-5.fc24", "src")
    os.replace(other, signed)
    with pytest.raises(MashError, match=r"^curl-7.47.1-5.fc24.noarch.rpm: header\+payload md5 [0-9a-f]+ differs"):
        mash(client, f24, "f24-updates", dest, arch="x86_64", issued=ISSUED)
    signed.unlink()
    with pytest.raises(MashError, match=r"^curl-7.47.1-5.fc24.noarch.rpm: http://.* does not exist \(HTTP 404\)$"):
        mash(client, f24, "f24-updates", dest, arch="x86_64", issued=ISSUED)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_updates_must_name_builds_of_the_tag(client, f24, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    missing = [{"alias": "FEDORA-2016-cccc", "builds": ["nosuchpackage-1.0-1.fc24"], "type": "bugfix"}]
    with pytest.raises(KojiNotFoundError, match=r"^build nosuchpackage-1.0-1.fc24: No such build"):
        mash(client, f24, "f24-updates", dest, missing, arch="x86_64", issued=ISSUED)
    elsewhere = [{"alias": "FEDORA-2016-dddd", "builds": ["glibc-2.23.1-7.fc24"], "type": "bugfix"}]
    with pytest.raises(MashError, match=r"^update FEDORA-2016-dddd: build glibc-2.23.1-7.fc24 is not tagged into "
                       r"f24-updates \(the latest glibc there is glibc-2.23.1-8.fc24\)$"):  # fmt: skip
        mash(client, f24, "f24-updates", dest, elsewhere, arch="x86_64", issued=ISSUED)
    with pytest.raises(KojiNotFoundError, match=r"^tag f99-updates: No such tagInfo"):
        mash(client, f24, "f99-updates", dest, arch="x86_64", issued=ISSUED)
    assert not dest.exists()


def test_the_record_names_what_was_mashed(client, f24, built_world, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    keys = [built_world.public_key]  # every signature also verified cryptographically (rpmkeys -K)
    result = mash(client, f24, "f24-updates", dest, UPDATES, arch="x86_64", issued=ISSUED, public_keys=keys)
    record = read_record(dest)
    assert (dest / RECORD).is_file()
    assert record["digest"] == result.digest and record["sigkey"] == built_world.key_id
    assert [r["relpath"] for r in record["rpms"]] == [
        "Packages/c/curl-7.47.1-5.fc24.noarch.rpm",
        "Packages/g/glibc-2.23.1-8.fc24.noarch.rpm",
    ]
    assert record["updates"] == ["FEDORA-2016-aaaa", "FEDORA-2016-bbbb"]


def test_fetching_from_file_urls_and_from_a_host_that_is_gone(client, f24, built_world, tmp_path: Path) -> None:
    """A topurl may be a mounted topdir (file://); a refused connection is transient, after retries."""
    (glibc,) = client.latest_tagged("f24-updates")[1:]
    rpm = next(r for r in client.rpms_of([glibc])[glibc.id] if r.arch == "noarch")
    url = rpm_url(built_world.topdir.as_uri(), glibc, rpm, built_world.key_id)
    planned = PlannedRPM(build=glibc, rpm=rpm, url=url, sigkey=built_world.key_id, sighash="")
    (fetched,) = fetch_rpms([planned], tmp_path / "repo")
    assert fetched.path == tmp_path / "repo" / "Packages" / "g" / rpm.filename
    assert fetched.path.stat().st_mtime == rpm.buildtime
    assert check_rpms([fetched])[rpm.filename].src == "glibc-2.23.1-8.fc24.src.rpm"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once the socket is closed
    gone = PlannedRPM(build=glibc, rpm=rpm, url=f"http://127.0.0.1:{port}/{rpm.filename}", sigkey=None, sighash="")
    with pytest.raises(MashTransientError, match=rf"^{rpm.filename}: cannot fetch http://127.0.0.1:{port}/"):
        fetch_rpms([gone], tmp_path / "other", attempts=2)


# --- a repository over several pushes: its advisories carried, only what is new fetched ------------------------


def test_three_pushes_into_one_repository_keep_every_advisory_and_fetch_only_what_is_new(
    client, f24, koji_hub, built_world, tmp_path: Path
) -> None:
    """Bodhi's rule, read back with dnf: the repository lists every advisory with a build in it; an update
    pushed again with a new build is replaced, not duplicated; an advisory whose build left the tag leaves."""
    dest, tag = tmp_path / "updates" / "testing" / "24" / "x86_64", "f24-updates-testing"
    kernel = {"alias": "FEDORA-2016-k", "builds": ["kernel-4.6.4-301.fc24"], "type": "security", "severity": "high"}
    systemd = {"alias": "FEDORA-2016-s", "builds": ["systemd-229-9.fc24"], "type": "bugfix"}
    first = mash(client, f24, tag, dest, [kernel, systemd], arch="x86_64", issued=ISSUED, status="testing")
    assert advisories(dest, tmp_path / "c1") == {
        "FEDORA-2016-k": ["kernel-0:4.6.4-301.fc24.x86_64"],
        "FEDORA-2016-s": ["systemd-0:229-9.fc24.noarch"],
    }
    assert (first.reused, first.fetched > 0) == (0, True)

    # push 2: glibc; kernel's and systemd's advisories carried, their RPMs reused (hard links), glibc fetched
    client.tag_build(tag, "glibc-2.23.1-7.fc24")
    glibc = {"alias": "FEDORA-2016-g", "builds": ["glibc-2.23.1-7.fc24"], "type": "bugfix", "notes": "first fix"}
    kernel_inode = (dest / "Packages/k/kernel-4.6.4-301.fc24.x86_64.rpm").stat().st_ino
    second = mash(client, f24, tag, dest, [glibc], arch="x86_64", issued=datetime(2016, 7, 2), status="testing")
    assert second.updates == ("FEDORA-2016-g", "FEDORA-2016-k", "FEDORA-2016-s")
    assert set(advisories(dest, tmp_path / "c2")) == {"FEDORA-2016-g", "FEDORA-2016-k", "FEDORA-2016-s"}
    glibc_7 = _signed_path(koji_hub, built_world, "glibc-2.23.1-7.fc24", "noarch")
    # reused: kernel with its debuginfo and debugsource, systemd; bytes fetched: the new RPM only
    assert (second.reused, second.fetched) == (4, glibc_7.stat().st_size)
    assert (dest / "Packages/k/kernel-4.6.4-301.fc24.x86_64.rpm").stat().st_ino == kernel_inode
    assert "Packages/g/glibc-2.23.1-7.fc24.noarch.rpm" in second.written
    # removed: the old metadata only (primary, filelists, other, updateinfo; the debug repository's updateinfo)
    removed = sorted((p.split("/")[0], p.rsplit("-", 1)[-1]) for p in second.removed)
    assert removed == [
        ("debug", "updateinfo.xml.gz"),
        *[("repodata", f"{kind}.xml.gz") for kind in ("filelists", "other", "primary", "updateinfo")],
    ]

    # push 3: glibc's update pushed again with a new build, systemd untagged
    client.tag_build(tag, "glibc-2.23.1-8.fc24")
    client.untag_build(tag, "systemd-229-9.fc24")
    glibc_again = {**glibc, "builds": ["glibc-2.23.1-8.fc24"], "notes": "a new build"}
    third = mash(client, f24, tag, dest, [glibc_again], arch="x86_64", issued=datetime(2016, 7, 3), status="testing")
    assert advisories(dest, tmp_path / "c3") == {
        "FEDORA-2016-g": ["glibc-0:2.23.1-8.fc24.noarch"],
        "FEDORA-2016-k": ["kernel-0:4.6.4-301.fc24.x86_64"],
    }
    info = dnf(dest, tmp_path / "c4", "updateinfo", "info", "FEDORA-2016-g", "--all", root=tmp_path / "c3" / "root")
    assert info.count("Update ID: FEDORA-2016-g") == 1 and "a new build" in info and "first fix" not in info
    assert "Packages/g/glibc-2.23.1-7.fc24.noarch.rpm" in third.removed
    assert "Packages/s/systemd-229-9.fc24.noarch.rpm" in third.removed
    assert third.reused == 3 and sorted(p.name for p in dest.rglob("*.rpm")) == [
        "glibc-2.23.1-8.fc24.noarch.rpm",
        "kernel-4.6.4-301.fc24.x86_64.rpm",
        "kernel-debuginfo-4.6.4-301.fc24.x86_64.rpm",
        "kernel-debugsource-4.6.4-301.fc24.x86_64.rpm",
    ]

    # the incremental result is the repository a mash from nothing makes of the same tag
    scratch = mash(client, f24, tag, tmp_path / "scratch", arch="x86_64", issued=datetime(2016, 7, 3), status="testing")
    assert scratch.reused == 0
    assert {k: third.checksums[k] for k in ("primary", "filelists", "other")} == {
        k: scratch.checksums[k] for k in ("primary", "filelists", "other")
    }


KILLED_MASH = """
import os, signal, sys
from datetime import datetime
from relengotron.kojiclient import KojiConnection, connect
from relengotron.mash import mash, repo
from relengotron_sandbox import testing

hub, topurl, key, dest = sys.argv[1:]
real = repo.createrepo
def killed(*args, **kwargs):  # the RPMs are in the staging directory, no metadata yet: killed like OOM would
    real(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
repo.createrepo = killed
client = connect(KojiConnection(hub=hub, topurl=topurl, auth="password", user="releng", password="sandbox"))
release = testing.release("f24", signing_key=key, tags={"build": "f24", "stable": "f24-updates"})
issued = datetime.fromisoformat("2016-07-05T00:00:00+00:00")
mash(client, release, "f24-updates", dest, [], arch="x86_64", issued=issued)
"""


def test_a_mash_killed_half_way_leaves_the_repository_untouched_and_the_rerun_finishes_clean(
    client, f24, koji_hub, built_world, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys

    dest = tmp_path / "updates" / "24" / "x86_64"
    mash(client, f24, "f24-updates", dest, UPDATES, arch="x86_64", issued=ISSUED)
    before = _snapshot(dest)
    client.tag_build("f24-updates", "kernel-4.6.4-301.fc24")
    ep = koji_hub.endpoints  # type: ignore[attr-defined]
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_MASH, ep["hub"], ep["topurl"], built_world.key_id, str(dest)],
        capture_output=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    leftovers = [p.name for p in dest.parent.iterdir() if p.name != "x86_64"]
    assert leftovers and all(name.startswith(".x86_64.mash-") for name in leftovers)  # the kill left its staging
    assert {k: v for k, v in _snapshot(dest).items() if not k.startswith(".x86_64.mash-")} == before

    again = mash(client, f24, "f24-updates", dest, arch="x86_64", issued=datetime(2016, 7, 5, tzinfo=UTC))
    assert again.changed and [p.name for p in dest.parent.iterdir()] == ["x86_64"]  # no leftovers
    listed = dnf(dest, tmp_path / "c", "repoquery", "--qf", "%{name}-%{version}-%{release}").split()
    assert sorted(listed) == ["curl-7.47.1-5.fc24", "glibc-2.23.1-8.fc24", "kernel-4.6.4-301.fc24"]
    assert again.updates == ("FEDORA-2016-aaaa", "FEDORA-2016-bbbb")  # the earlier advisories carried
    assert read_record(dest)["digest"] == again.digest


def test_the_binary_repository_carries_the_releases_comps_groups(client, f24, tmp_path: Path) -> None:
    import dataclasses

    from relengotron_sandbox.world import DEFAULT_WORLD

    comps = DEFAULT_WORLD.parent / "comps-f24.xml"
    with_groups = dataclasses.replace(f24, comps=comps)
    dest = tmp_path / "updates" / "24" / "x86_64"
    plain = mash(client, f24, "f24-updates", tmp_path / "plain", UPDATES, arch="x86_64", issued=ISSUED)
    grouped = mash(client, with_groups, "f24-updates", dest, UPDATES, arch="x86_64", issued=ISSUED)
    assert grouped.digest != plain.digest and "group" in grouped.checksums
    info = dnf(dest, tmp_path / "c", "group", "info", "core")
    assert "Group: Core" in info and "Mandatory Packages:" in info and "glibc" in info, info
    sources = mash(client, with_groups, "f24-updates", tmp_path / "SRPMS", UPDATES, arch="SRPMS", issued=ISSUED)
    assert "group" not in sources.checksums  # groups name binary packages

    before = _snapshot(dest)
    for bad, named in ((tmp_path / "missing.xml", "cannot be read"), (DEFAULT_WORLD, "is not XML")):
        with pytest.raises(MashError) as raised:
            mash(client, dataclasses.replace(f24, comps=bad), "f24-updates", dest, arch="x86_64", issued=ISSUED)
        assert str(raised.value).startswith(f"{bad}: the release's comps file") and named in str(raised.value)
    assert _snapshot(dest) == before


def test_an_arch_builds_debuginfo_and_debugsource_go_to_the_debug_repository(
    client, built_world, tmp_path: Path
) -> None:
    """sudo is an x86_64 build: its -debuginfo and -debugsource land in x86_64/debug, a repository of their own
    with the same advisories, and the binary repository holds neither (dnf reads both)."""
    f23 = testing.release("f23", signing_key=built_world.key_id, tags={"build": "f23", "stable": "f23-updates"})
    sudo = {"alias": "FEDORA-2016-f976b705cc", "builds": ["sudo-1.8.15-2.fc23"], "type": "security"}
    dest = tmp_path / "updates" / "23" / "x86_64"
    result = mash(client, f23, "f23-updates", dest, [sudo], arch="x86_64", issued=ISSUED)
    nvra = "%{name}-%{version}-%{release}.%{arch}"
    binary = dnf(dest, tmp_path / "c1", "repoquery", "--qf", nvra).split()
    debug = dnf(dest / "debug", tmp_path / "c2", "repoquery", "--qf", nvra).split()
    assert "sudo-1.8.15-2.fc23.x86_64" in binary and not [p for p in binary if "debug" in p]
    assert sorted(debug) == ["sudo-debuginfo-1.8.15-2.fc23.x86_64", "sudo-debugsource-1.8.15-2.fc23.x86_64"]
    assert dnf(dest / "debug", tmp_path / "c3", "repoquery", "--advisory=FEDORA-2016-f976b705cc").split() == [
        "sudo-debuginfo-0:1.8.15-2.fc23.x86_64",
        "sudo-debugsource-0:1.8.15-2.fc23.x86_64",
    ]
    assert "debug/Packages/s/sudo-debuginfo-1.8.15-2.fc23.x86_64.rpm" in result.written
    rpms = sorted((dest / "debug").rglob("*.rpm"))
    assert set(rpmsign.verify_rpms(rpms, [built_world.public_key]).values()) == {built_world.key_id}
