"""The mash plan (pure): which RPM files, from which URL, refused when unsigned or not in the tag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from relengotron.kojiclient import KojiBuild, KojiRPM
from relengotron.mash.errors import MashError
from relengotron.mash.plan import carry_advisories, is_debug, plan_mash, repo_arches
from relengotron.mash.updateinfo import Collection
from relengotron.updates import Update, parse_updates

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


# --- the repository's advisories: carried from the previous compose (Bodhi's rule) -----------------------------


def _update(alias: str, *builds: str, notes: str = "", issued: datetime | None = None) -> Update:
    raw = {"alias": alias, "builds": list(builds), "type": "bugfix", "notes": notes}
    if issued is not None:
        raw["issued"] = issued.isoformat()
    return parse_updates([raw])[0]


def test_earlier_advisories_stay_while_a_build_of_theirs_is_in_the_repository() -> None:
    sudo = _update("FEDORA-2016-s", "sudo-1.8.15-2.fc24", issued=datetime(2016, 6, 1, tzinfo=UTC))
    vim = _update("FEDORA-2016-v", "vim-7.4.1-1.fc24", "gvim-7.4.1-1.fc24")
    gone = _update("FEDORA-2016-g", "zsh-5.2-1.fc24")
    pushed = _update("FEDORA-2016-c", "curl-7.47.1-5.fc24")
    latest = ["sudo-1.8.15-2.fc24", "vim-7.4.1-1.fc24", "curl-7.47.1-5.fc24", "zsh-5.2-2.fc24"]
    carried = carry_advisories([sudo, vim, gone], [pushed], latest, issued=ISSUED)
    assert [u.alias for u in carried] == ["FEDORA-2016-c", "FEDORA-2016-s", "FEDORA-2016-v"]  # zsh-5.2-1 left
    dates = {u.alias: u.issued for u in carried}
    assert dates == {
        "FEDORA-2016-c": ISSUED,
        "FEDORA-2016-s": datetime(2016, 6, 1, tzinfo=UTC),
        "FEDORA-2016-v": ISSUED,
    }
    assert carry_advisories(carried, [], latest, issued=ISSUED + timedelta(days=1)) == carried  # dates kept


def test_an_update_pushed_again_replaces_its_advisory_not_duplicates_it() -> None:
    first = _update("FEDORA-2016-c", "curl-7.47.1-5.fc24", notes="first")
    again = _update("FEDORA-2016-c", "curl-7.47.1-6.fc24", notes="a new build")
    [carried] = carry_advisories([first], [again], ["curl-7.47.1-6.fc24"], issued=ISSUED)
    assert (carried.builds, carried.notes) == (("curl-7.47.1-6.fc24",), "a new build")
    # a build now named by another update leaves the older advisory (a build is in one update only)
    both = _update("FEDORA-2016-o", "curl-7.47.1-6.fc24", "libcurl-7.47.1-6.fc24")
    moved = carry_advisories([both], [again], ["curl-7.47.1-6.fc24", "libcurl-7.47.1-6.fc24"], issued=ISSUED)
    assert [(u.alias, u.builds) for u in moved] == [
        ("FEDORA-2016-c", ("curl-7.47.1-6.fc24",)),
        ("FEDORA-2016-o", ("libcurl-7.47.1-6.fc24",)),
    ]


def test_the_plan_carries_the_previous_advisories_and_its_digest_follows_them() -> None:
    sudo = _update("FEDORA-2016-s", "glibc-2.23.1-8.fc24")
    plan = _plan(previous=[sudo])
    assert [u.alias for u in plan.updates] == ["FEDORA-2016-a"]
    assert [u.alias for u in plan.advisories] == ["FEDORA-2016-a", "FEDORA-2016-s"]
    assert plan.digest != _plan().digest and plan.digest == _plan(previous=[sudo]).digest


def test_debuginfo_and_debugsource_go_to_the_arch_debug_repository() -> None:
    assert [is_debug(n) for n in ("glibc-debuginfo", "glibc-debugsource", "glibc-debuginfo-common-x86_64")] == [
        True
    ] * 3
    assert not any(is_debug(n) for n in ("glibc", "debuginfod", "elfutils-debuginfod-client"))
    debug = _rpm(13, GLIBC, "x86_64")
    debug = KojiRPM(**{**debug.__dict__, "name": "glibc-debuginfo"})
    plan = _plan(rpms={**RPMS, 1: [*RPMS[1], debug]}, sigs={**SIGNED, 13: {KEY: "h13"}})
    where = {p.rpm.filename: p.relpath for p in plan.rpms}
    assert where == {
        "glibc-2.23.1-8.fc24.x86_64.rpm": "Packages/g/glibc-2.23.1-8.fc24.x86_64.rpm",
        "glibc-debuginfo-2.23.1-8.fc24.x86_64.rpm": "debug/Packages/g/glibc-debuginfo-2.23.1-8.fc24.x86_64.rpm",
        "curl-7.47.1-5.fc24.noarch.rpm": "Packages/c/curl-7.47.1-5.fc24.noarch.rpm",
    }
    assert plan.repos == ("", "debug") and _plan(arches=repo_arches("SRPMS")).repos == ("",)


def test_what_turns_one_mashed_repository_into_another_from_their_records() -> None:
    from relengotron.mash import record_changes

    old = {
        "rpms": [{"relpath": "Packages/a/a-1.rpm", "sha256": "1"}, {"relpath": "Packages/b/b-1.rpm", "sha256": "2"}],
        "repodata": ["repodata/x-primary.xml.gz", "repodata/repomd.xml", "debug/repodata/repomd.xml"],
    }
    new = {
        "rpms": [{"relpath": "Packages/a/a-1.rpm", "sha256": "1"}, {"relpath": "Packages/b/b-2.rpm", "sha256": "3"}],
        "repodata": ["repodata/y-primary.xml.gz", "repodata/repomd.xml", "debug/repodata/repomd.xml"],
    }
    written, removed = record_changes(old, new)
    assert written == [
        ".mash.json",
        "Packages/b/b-2.rpm",
        "debug/repodata/repomd.xml",
        "repodata/repomd.xml",
        "repodata/y-primary.xml.gz",
    ]
    assert removed == ["Packages/b/b-1.rpm", "repodata/x-primary.xml.gz"]
    # nothing there yet (a first sync): everything the record names; a plan-1 record's bare metadata names
    assert record_changes(None, new)[0] == sorted(
        [".mash.json", *(r["relpath"] for r in new["rpms"]), *new["repodata"]]
    )
    assert record_changes({"repodata": ["repomd.xml"]}, {"repodata": ["repomd.xml"]}) == (
        [".mash.json", "repodata/repomd.xml"],
        [],
    )


def test_an_rpm_is_reused_only_as_the_same_file_of_the_same_build_and_signature() -> None:
    from relengotron.mash.repo import reusable

    plan = _plan()
    record = {
        "digest": "d",
        "rpms": [
            {"relpath": p.relpath, "nvr": p.build.nvr, "payloadhash": p.rpm.payloadhash, "sighash": p.sighash}
            for p in plan.rpms
        ],
    }
    [glibc, curl] = sorted(plan.rpms, key=lambda p: p.build.name, reverse=True)
    assert set(reusable(plan.rpms, record)) == {glibc.rpm.filename, curl.rpm.filename}
    resigned = {**record, "rpms": [{**record["rpms"][0], "sighash": "other"}, record["rpms"][1]]}
    assert len(reusable(plan.rpms, resigned)) == 1  # signed again: fetched again
    unsigned_record = {**record, "rpms": [{k: v for k, v in e.items() if k != "sighash"} for e in record["rpms"]]}
    assert reusable(plan.rpms, unsigned_record) == {}  # a plan-1 record knows no signatures
    assert reusable(plan.rpms, None) == {} and reusable(plan.rpms, {**record, "digest": None}) == {}
