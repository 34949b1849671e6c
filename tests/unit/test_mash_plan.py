"""The mash plan (pure): which RPM files, from which URL, refused when unsigned or not in the tag."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from relengotron.kojiclient import KojiBuild, KojiRPM
from relengotron.mash.errors import MashError
from relengotron.mash.plan import plan_mash, repo_arches
from relengotron.mash.updateinfo import Collection
from relengotron.updates import parse_updates

KEY = "26336d21"
TOPURL = "http://127.0.0.1:1/kojifiles"
ISSUED = datetime(2016, 7, 1, tzinfo=UTC)
F24 = Collection(release_name="Fedora 24", short="F24")


def _build(bid: int, nvr: str) -> KojiBuild:
    name, version, release = nvr.rsplit("-", 2)
    return KojiBuild(id=bid, nvr=nvr, name=name, version=version, release=release, epoch=None)


def _rpm(rid: int, build: KojiBuild, arch: str) -> KojiRPM:
    return KojiRPM(
        id=rid,
        build_id=build.id,
        name=build.name,
        version=build.version,
        release=build.release,
        epoch=None,
        arch=arch,
        size=100,
        payloadhash=f"{rid:032x}",
        buildtime=1467331200,
    )


GLIBC = _build(1, "glibc-2.23.1-8.fc24")
CURL = _build(2, "curl-7.47.1-5.fc24")
TAGGED = [CURL, GLIBC]
RPMS = {
    1: [_rpm(10, GLIBC, "src"), _rpm(11, GLIBC, "x86_64"), _rpm(12, GLIBC, "i686")],
    2: [_rpm(20, CURL, "src"), _rpm(21, CURL, "noarch")],
}
SIGNED = {rid: {"": "u", KEY: f"h{rid}"} for rid in (10, 11, 12, 20, 21)}
UPDATES = parse_updates([{"alias": "FEDORA-2016-a", "builds": ["curl-7.47.1-5.fc24"], "type": "bugfix"}])


def _plan(**changes):
    args = {
        "tag": "f24-updates",
        "tagged": TAGGED,
        "rpms": RPMS,
        "sigs": SIGNED,
        "updates": UPDATES,
        "sigkey": KEY,
        "arches": repo_arches("x86_64"),
        "topurl": TOPURL,
        "collection": F24,
        "issued": ISSUED,
    }
    args.update(changes)
    tag = args.pop("tag")
    return plan_mash(tag, args.pop("tagged"), args.pop("rpms"), args.pop("sigs"), args.pop("updates"), **args)


def test_repo_arches() -> None:
    assert repo_arches("x86_64") == ("x86_64", "noarch")
    assert repo_arches("SRPMS") == ("src",)
    assert repo_arches("noarch") == ("noarch",)


def test_plan_takes_the_signed_copies_of_the_repository_arches() -> None:
    plan = _plan()
    assert [p.rpm.filename for p in plan.rpms] == ["curl-7.47.1-5.fc24.noarch.rpm", "glibc-2.23.1-8.fc24.x86_64.rpm"]
    assert plan.rpms[1].url == (
        f"{TOPURL}/packages/glibc/2.23.1/8.fc24/data/signed/{KEY}/x86_64/glibc-2.23.1-8.fc24.x86_64.rpm"
    )
    assert plan.rpms[1].relpath == "Packages/g/glibc-2.23.1-8.fc24.x86_64.rpm"
    assert (plan.rpms[1].sigkey, plan.rpms[1].sighash) == (KEY, "h11")
    assert plan.revision == 1467331200
    sources = _plan(arches=repo_arches("SRPMS"))
    assert [p.rpm.arch for p in sources.rpms] == ["src", "src"]


def test_an_rpm_koji_has_no_signature_of_the_key_for_is_refused_naming_it_and_the_key() -> None:
    sigs = {**SIGNED, 11: {"": "u"}, 21: {"": "u", "deadbeef": "x"}}
    with pytest.raises(MashError) as caught:
        _plan(sigs=sigs)
    message = str(caught.value)
    assert message.startswith("tag f24-updates: 2 RPM(s) not signed with key 26336d21: ")
    assert "curl-7.47.1-5.fc24.noarch.rpm (signed by: deadbeef)" in message
    assert "glibc-2.23.1-8.fc24.x86_64.rpm (signed by: none)" in message


def test_an_unsigned_rpm_of_an_arch_not_mashed_does_not_matter() -> None:
    assert len(_plan(sigs={**SIGNED, 12: {}}).rpms) == 2


def test_a_release_without_key_takes_the_unsigned_copies() -> None:
    plan = _plan(sigkey=None, sigs={})
    assert plan.rpms[0].url == f"{TOPURL}/packages/curl/7.47.1/5.fc24/noarch/curl-7.47.1-5.fc24.noarch.rpm"
    assert plan.rpms[0].sigkey is None


def test_an_update_build_not_in_the_tag_is_refused_naming_update_build_and_latest() -> None:
    older = parse_updates([{"alias": "FEDORA-2016-b", "builds": ["curl-7.47.1-4.fc24"], "type": "bugfix"}])
    with pytest.raises(
        MashError,
        match=r"^update FEDORA-2016-b: build curl-7.47.1-4.fc24 is not tagged into "
        r"f24-updates \(the latest curl there is curl-7.47.1-5.fc24\)$",
    ):
        _plan(updates=older)
    missing = parse_updates([{"alias": "FEDORA-2016-c", "builds": ["bash-4.3.42-6.fc24"], "type": "bugfix"}])
    with pytest.raises(
        MashError, match=r"^update FEDORA-2016-c: build bash-4.3.42-6.fc24 is not tagged into f24-updates$"
    ):
        _plan(updates=missing)


def test_the_digest_is_stable_and_follows_every_input() -> None:
    base = _plan().digest
    assert _plan().digest == base
    assert _plan(tagged=list(reversed(TAGGED))).digest == base
    changed = [
        _plan(sigs={**SIGNED, 11: {KEY: "resigned"}}),
        _plan(updates=()),
        _plan(issued=datetime(2016, 7, 2, tzinfo=UTC)),
        _plan(collection=Collection(release_name="Fedora 24", short="F24", status="testing")),
        _plan(arches=repo_arches("SRPMS")),
        _plan(rpms={**RPMS, 2: [_rpm(20, CURL, "src")]}),
    ]
    assert len({p.digest for p in changed} | {base}) == len(changed) + 1


def test_a_naive_issued_date_is_utc() -> None:
    assert _plan(issued=datetime(2016, 7, 1)).digest == _plan().digest
