"""dist.depcheck's closure, on hand-made headers and on the default world's Rawhide."""

from __future__ import annotations

from relengotron_sandbox.taskotron.depcheck import RpmHeader, Unresolved, depcheck
from relengotron_sandbox.world import Build, World

RPMLIB = ("rpmlib(CompressedFileNames) <= 3.0.4-1", "rpmlib(PayloadFilesHavePrefix) <= 4.0-1")


def rpm(name: str, version: str = "1.0", release: str = "1.fc26", **kw) -> RpmHeader:
    kw.setdefault("arch", "noarch")
    for key in ("requires", "provides", "files"):
        kw[key] = tuple(kw.get(key, ()))
    return RpmHeader(name=name, version=version, release=release, **kw)


def header(build: Build) -> RpmHeader:
    return rpm(
        build.package,
        build.version,
        build.release,
        requires=[str(d) for d in build.requires] + list(RPMLIB),
        provides=[str(d) for d in build.provides],
    )


def rawhide_repo(world: World) -> list[RpmHeader]:
    return [header(b) for b in world.builds() if "rawhide" in b.tags]


def test_rawhide_pending_builds_of_the_world(world: World) -> None:
    repo = rawhide_repo(world)
    ok = depcheck([header(world.build("etcd-3.0.15-1.fc26"))], repo)
    assert ok.passed and ok.outcome == "PASSED"
    assert ok.checked == ("etcd-3.0.15-1.fc26.noarch",)

    broken = depcheck([header(world.build("python3-requests-2.12.1-1.fc26"))], repo)
    assert not broken.passed and broken.outcome == "FAILED"
    assert broken.unresolved == (
        Unresolved(
            "python3-requests-2.12.1-1.fc26.noarch",
            "python3-urllib3 >= 1.19",
            ("python3-urllib3 = 1.15.1-3.fc26",),
        ),
    )
    assert "nothing provides python3-urllib3 >= 1.19" in broken.note()
    assert "python3-urllib3 = 1.15.1-3.fc26" in broken.note()


def test_the_quarantined_atomic_needs_a_newer_docker(world: World) -> None:
    verdict = depcheck([header(world.build("atomic-1.14-1.fc26"))], rawhide_repo(world))
    assert [u.requirement for u in verdict.unresolved] == ["docker >= 1.13"]
    assert verdict.unresolved[0].available == ("docker = 1.12.3-4.fc26",)


def test_whole_rawhide_is_installable(world: World) -> None:
    repo = rawhide_repo(world)
    assert depcheck(repo, []).passed


def test_candidate_replaces_the_older_build_of_its_package() -> None:
    old = rpm("libfoo", "1.0", provides=["libfoo.so.1"])
    app = rpm("app", requires=["libfoo.so.1"])
    new = rpm("libfoo", "2.0", provides=["libfoo.so.2"])
    # app is in the repo, but depcheck checks only the candidates: libfoo 2.0 itself is installable
    assert depcheck([new], [old, app]).passed
    # a candidate that needs the soname the update dropped fails: the old build is gone from the pool
    user = rpm("user", requires=["libfoo.so.1", "libfoo >= 2.0"])
    verdict = depcheck([new, user], [old])
    assert [u.requirement for u in verdict.unresolved] == ["libfoo.so.1"]


def test_subpackages_are_replaced_by_source_package() -> None:
    old_sub = rpm("foo-libs", "1.0", package="foo", provides=["libfoo.so.1"])
    new_main = rpm("foo", "2.0", package="foo", requires=["libfoo.so.1"])
    verdict = depcheck([new_main], [old_sub])
    assert not verdict.passed, "foo-libs 1.0 belongs to the replaced build and must not satisfy foo 2.0"


def test_file_requirements_are_met_by_file_lists_and_provides() -> None:
    bash = rpm("bash", files=["/usr/bin/bash"], provides=["/bin/sh"])
    assert depcheck([rpm("script", requires=["/usr/bin/bash", "/bin/sh"])], [bash]).passed
    verdict = depcheck([rpm("script", requires=["/usr/bin/zsh"])], [bash])
    assert verdict.unresolved == (Unresolved("script-1.0-1.fc26.noarch", "/usr/bin/zsh"),)


def test_versioned_requirements_use_rpm_ordering() -> None:
    lib = rpm("lib", "1.10", "2.fc26")
    assert depcheck([rpm("a", requires=["lib >= 1.9"])], [lib]).passed  # 1.10 > 1.9 numerically
    assert depcheck([rpm("a", requires=["lib = 1.10-2.fc26"])], [lib]).passed
    assert not depcheck([rpm("a", requires=["lib < 1.10"])], [lib]).passed
    assert depcheck([rpm("a", requires=["lib > 1:0.1"])], [rpm("lib", "0.5", epoch=1)]).passed


def test_rpmlib_requirements_and_self_provides_are_always_met() -> None:
    pkg = rpm("x", requires=[*RPMLIB, "x = 1.0-1.fc26", "x-virtual"], provides=["x-virtual"])
    assert depcheck([pkg], []).passed


def test_transitive_breakage_names_the_root_cause() -> None:
    mid = rpm("mid", requires=["bottom >= 2"])
    bottom = rpm("bottom", "1")
    top = rpm("top", requires=["mid"])
    verdict = depcheck([top], [mid, bottom])
    assert verdict.unresolved == (Unresolved("mid-1.0-1.fc26.noarch", "bottom >= 2", ("bottom = 1-1.fc26",)),)


def test_an_installable_alternative_provider_is_enough() -> None:
    broken = rpm("mta-a", provides=["mta"], requires=["missing"])
    working = rpm("mta-b", provides=["mta"])
    assert depcheck([rpm("mailer", requires=["mta"])], [broken, working]).passed
    verdict = depcheck([rpm("mailer", requires=["mta"])], [broken])
    assert [u.requirement for u in verdict.unresolved] == ["missing"]


def test_dependency_cycles_are_installable() -> None:
    a = rpm("a", requires=["b"])
    b = rpm("b", requires=["a"])
    assert depcheck([a], [b]).passed


def test_unparseable_requirement_is_reported_not_crashed() -> None:
    verdict = depcheck([rpm("r", requires=["(foo or bar)"])], [rpm("foo")])
    assert not verdict.passed
    assert verdict.unresolved[0].problem
    assert "(foo or bar)" in verdict.note()


def test_rpm_queryformat_output_is_parsed_by_sigmd5() -> None:
    from relengotron_sandbox.taskotron.kojirepo import parse_queryformat

    text = (
        "@@921665f8a20287f69579e3ad5411e290\tpython3-requests\t0\t2.12.1\t1.fc26\tnoarch\n"
        "R\tpython(abi) = 3.5\nR\tpython3-urllib3 >= 1.19\nR\trpmlib(CompressedFileNames) <= 3.0.4-1\n"
        "P\tpython3-requests = 2.12.1-1.fc26\nF\t/usr/share/python3-requests/README\n"
        "@@00000000000000000000000000000001\tbash\t2\t4.4.5\t1.fc26\tnoarch\nP\t/bin/sh\n"
    )
    records = parse_queryformat(text)
    assert set(records) == {"921665f8a20287f69579e3ad5411e290", "00000000000000000000000000000001"}
    requests = records["921665f8a20287f69579e3ad5411e290"]
    assert requests["epoch"] is None and requests["requires"][1] == "python3-urllib3 >= 1.19"
    assert requests["files"] == ["/usr/share/python3-requests/README"]
    bash = records["00000000000000000000000000000001"]
    assert bash["epoch"] == 2 and bash["provides"] == ["/bin/sh"] and bash["requires"] == []
    assert (
        RpmHeader(**{k: v for k, v in bash.items() if k not in ("requires", "provides", "files")}).evr
        == "2:4.4.5-1.fc26"
    )
