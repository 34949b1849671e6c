"""Planning: exactly the artifacts whose manifest changes are recomposed, each with the reason why."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relengotron.artifacts import load_release_config
from relengotron.config import Artifact
from relengotron.manifest import Manifest, ManifestError
from relengotron.planning import (
    Decision,
    PlanError,
    Reason,
    Target,
    Update,
    artifact_packages,
    compare_nvr,
    newest,
    pdc_queries,
    plan,
)
from relengotron_sandbox import testing

REPO = Path(__file__).resolve().parents[2]

F24 = testing.release("f24", signing_key="81b46521")
ATOMIC = testing.artifact("atomic-host", arches=("x86_64", "aarch64"), tests=("compose.ostree.fsck",))
ISO = testing.artifact("installer-iso", "installer-iso", image="Fedora-Server-dvd-{arch}-{version}.iso", compose="koji")
ARTIFACTS = (ATOMIC, ISO)
PACKAGES = {"atomic-host": ("bash", "glibc", "ostree"), "installer-iso": ("anaconda", "bash", "glibc")}
BASE = {
    "bash": "bash-4.3.42-5.fc24",
    "glibc": "glibc-2.23.1-7.fc24",
    "ostree": "ostree-2016.6-1.fc24",
    "anaconda": "anaconda-24.13.7-1.fc24",
}


def ids(*pairs: tuple[Artifact, str]) -> list[str]:
    return [Target(a, F24, arch).id for a, arch in pairs]


def released_as_base() -> dict[str, Manifest | None]:
    out: dict[str, Manifest | None] = {}
    for artifact in ARTIFACTS:
        for arch in artifact.arches:
            out[Target(artifact, F24, arch).id] = Manifest.of(BASE[p] for p in PACKAGES[artifact.name])
    return out


def by_id(result) -> dict:
    return {t.target.id: t for t in result.targets}


# ------------------------------------------------------------------ build order (manifests: test_manifest.py)


def test_builds_are_ordered_as_rpm_orders_them() -> None:
    assert newest(["foo-1.9-1.fc24", "foo-1.10-1.fc24"]) == "foo-1.10-1.fc24"  # not string order
    assert newest(["foo-1.0-1.fc24", "foo-1.0~rc1-9.fc24"]) == "foo-1.0-1.fc24"
    assert newest(["foo-2.0-1.fc24", "foo-1:1.0-1.fc24"]) == "foo-1:1.0-1.fc24"  # epoch first
    assert newest(["foo-2.0-1.fc24", "1:foo-1.0-1.fc24"]) == "1:foo-1.0-1.fc24"
    assert compare_nvr("foo-1.0-01", "foo-1.0-1") != 0  # equal EVRs still get a total order
    assert newest(["foo-1.0-01", "foo-1.0-1"]) == newest(["foo-1.0-1", "foo-1.0-01"])


# ------------------------------------------------------------------ plans


def test_one_changed_package_recomposes_exactly_the_artifacts_that_hold_it() -> None:
    push = [Update("FEDORA-2016-0001", ("ostree-2016.7-1.fc24",))]
    result = plan(push, F24, ARTIFACTS, PACKAGES, released_as_base(), BASE)
    assert [t.target.id for t in result.recompose] == ids((ATOMIC, "aarch64"), (ATOMIC, "x86_64"))
    atomic = by_id(result)["atomic-host-24-x86_64"]
    assert atomic.reason is Reason.CHANGED
    assert [str(c) for c in atomic.changes] == [
        "ostree: ostree-2016.6-1.fc24 -> ostree-2016.7-1.fc24 (FEDORA-2016-0001)"
    ]
    assert "ostree-2016.7-1.fc24" in atomic.manifest.nvrs and atomic.pushed == ("ostree",)
    (iso,) = result.skipped
    assert iso.reason is Reason.NOT_AFFECTED and iso.changes == () and iso.manifest == iso.released
    assert "unchanged, skipped: no pushed package is in it" in result.render()


def test_builds_already_released_or_older_change_nothing() -> None:
    push = [Update("FEDORA-2016-0002", ("bash-4.3.42-5.fc24", "glibc-2.23.1-6.fc24"))]
    result = plan(push, F24, ARTIFACTS, PACKAGES, released_as_base(), BASE)
    assert result.recompose == ()
    assert {t.reason for t in result.skipped} == {Reason.ALREADY_RELEASED}
    assert all(t.manifest == t.released for t in result.targets)


def test_never_released_targets_are_composed_from_the_tags() -> None:
    released = released_as_base()
    released["installer-iso-24-x86_64"] = None
    result = plan([], F24, ARTIFACTS, PACKAGES, released, BASE)
    (iso,) = result.recompose
    assert iso.reason is Reason.NEVER_RELEASED and iso.target.label == "Fedora-Server-dvd-x86_64-24.iso"
    assert iso.manifest == Manifest.of(BASE[p] for p in PACKAGES["installer-iso"])
    assert all(c.old is None and c.updates == () for c in iso.changes)


def test_component_group_changes_and_tag_drift_change_the_manifest_too() -> None:
    packages = {"atomic-host": ("bash", "glibc"), "installer-iso": PACKAGES["installer-iso"]}  # ostree dropped
    base = {**BASE, "anaconda": "anaconda-24.13.8-1.fc24"}  # tagged without a push
    result = plan([], F24, ARTIFACTS, packages, released_as_base(), base)
    found = by_id(result)
    assert [str(c) for c in found["atomic-host-24-x86_64"].changes] == ["ostree: ostree-2016.6-1.fc24 -> (removed)"]
    iso = found["installer-iso-24-x86_64"]
    assert iso.decision is Decision.RECOMPOSE and iso.changes[0].updates == ()


def test_packages_without_any_build_are_reported() -> None:
    packages = {**PACKAGES, "installer-iso": ("anaconda", "bash", "glibc", "lorax")}
    result = plan([], F24, ARTIFACTS, packages, released_as_base(), BASE)
    assert by_id(result)["installer-iso-24-x86_64"].missing == ("lorax",)
    assert "no build of: lorax" in result.render()


def test_the_newest_of_several_pushed_builds_wins() -> None:
    push = [Update("A", ("glibc-2.23.1-10.fc24",)), Update("B", ("glibc-2.23.1-9.fc24", "glibc-2.23.1-10.fc24"))]
    result = plan(push, F24, ARTIFACTS, PACKAGES, released_as_base(), BASE)
    change = by_id(result)["atomic-host-24-x86_64"].changes[0]
    assert change.new == "glibc-2.23.1-10.fc24" and change.updates == ("A", "B")


def test_plan_is_json_ready() -> None:
    push = [Update.from_dict({"alias": "FEDORA-2016-3", "builds": ["bash-4.3.42-6.fc24"]})]
    result = plan(push, F24, ARTIFACTS, PACKAGES, released_as_base(), BASE)
    data = json.loads(json.dumps([t.as_dict() for t in result.targets]))
    atomic = next(d for d in data if d["id"] == "atomic-host-24-x86_64")
    assert atomic["label"] == "fedora/24/x86_64/atomic-host" and atomic["decision"] == "recompose"
    assert atomic["input_hash"] == Manifest.of(atomic["manifest"]).input_hash


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"updates": [Update("FEDORA-2016-9", ("glibc",))]},
            ManifestError,
            "update FEDORA-2016-9: 'glibc' is not a name-version-release",
        ),
        ({"base": {"bash": "bash"}}, ManifestError, "base builds: 'bash' is not a name-version-release"),
        ({"released": {}}, PlanError, "fedora/24/x86_64/atomic-host: its last released manifest was not given"),
        (
            {"packages": {"atomic-host": ("bash",)}},
            PlanError,
            "no package list for artifact installer-iso of fedora-24",
        ),
        (
            {"artifacts": (ATOMIC.__class__(**{**ATOMIC.__dict__, "release": "f25"}),)},
            PlanError,
            "belongs to f25, not to f24",
        ),
        ({"base": {"bash": "glibc-2.23.1-7.fc24"}}, PlanError, "glibc-2.23.1-7.fc24 is not a build of bash"),
        ({"packages": {**PACKAGES, "installer-iso": ("lorax",)}}, PlanError, "none of its 1 packages has a build"),
    ],
)
def test_bad_input_is_an_error_naming_the_item(kwargs: dict, error: type[Exception], message: str) -> None:
    args = {
        "updates": [],
        "release": F24,
        "artifacts": ARTIFACTS,
        "packages": PACKAGES,
        "released": released_as_base(),
        "base": BASE,
    }
    args.update(kwargs)
    with pytest.raises(error) as caught:
        plan(**args)
    assert type(caught.value) is error
    assert message in str(caught.value)


# ------------------------------------------------------------------ PDC


def group(gid: int, name: str, release: object, members: list[str]) -> dict:
    comps = [{"id": i, "name": m} for i, m in enumerate(members)]
    return {"id": gid, "group_type": "x", "description": name, "release": release, "components": comps}


def test_artifact_packages_from_pdc_pages() -> None:
    pages = [
        {
            "count": 4,
            "next": "http://pdc/rest_api/v1/component-groups/?page=2",
            "previous": None,
            "results": [
                group(1, "atomic-host", "fedora-24", ["glibc", "bash", "bash"]),
                group(2, "x", "fedora-24", []),
            ],
        },
        [group(3, "installer-iso", {"release_id": "fedora-24", "active": True}, ["anaconda"])],
        {"count": 4, "next": None, "previous": None, "results": [group(4, "atomic-host", "fedora-25", ["kernel"])]},
    ]
    assert artifact_packages(pages, F24, ARTIFACTS) == {
        "atomic-host": ("bash", "glibc"),
        "installer-iso": ("anaconda",),
    }


def test_artifact_packages_errors_name_the_artifact() -> None:
    one = [group(1, "atomic-host", "fedora-24", ["glibc"])]
    with pytest.raises(PlanError, match="PDC has no component group for artifact installer-iso of fedora-24"):
        artifact_packages([one], F24, ARTIFACTS)
    with pytest.raises(PlanError, match="two component groups for artifact atomic-host"):
        artifact_packages([one, one], F24, (ATOMIC,))


def test_pdc_queries_grow_with_releases_not_builds() -> None:
    many = [Update(f"FEDORA-2016-{i}", tuple(f"pkg{i}-{j}-1.fc24" for j in range(20))) for i in range(50)]
    (query,) = pdc_queries(many, [F24, F24])
    assert query.resource == "component-groups"
    assert query.kwargs() == {"release": "fedora-24", "page_size": 100}
    assert pdc_queries([Update("FEDORA-2016-1", ("bash-1-1",))], [F24]) == (query,)
    assert pdc_queries([], [F24]) == () and pdc_queries([Update("empty", ())], [F24]) == ()
    config = load_release_config(REPO / "config" / "fedora.yaml")
    releases = [config.release(a.release) for a in config.artifacts]
    assert [q.kwargs()["release"] for q in pdc_queries(many, releases)] == [
        "fedora-24",
        "fedora-25",
        "fedora-rawhide",
    ]


# ------------------------------------------------------------------ properties

NAMES = ("bash", "glibc", "kernel", "ostree", "anaconda", "docker")


def build(name: str, v: int) -> str:
    return f"{name}-1.{v}-1.fc24"  # 1.10 is newer than 1.9: string order would get it wrong


@st.composite
def scenarios(draw: st.DrawFn) -> dict:
    packages = {
        "atomic-host": tuple(draw(st.sets(st.sampled_from(NAMES), min_size=1))),
        "installer-iso": tuple(draw(st.sets(st.sampled_from(NAMES), min_size=1))),
    }
    version = st.integers(1, 12)
    base = draw(st.dictionaries(st.sampled_from(NAMES), version))
    released: dict[str, dict[str, int] | None] = {}
    for artifact in ARTIFACTS:
        for arch in artifact.arches:
            released[Target(artifact, F24, arch).id] = draw(
                st.none() | st.dictionaries(st.sampled_from(NAMES), version, min_size=1)
            )
    builds = st.lists(st.tuples(st.sampled_from(NAMES), version), max_size=4)
    updates = draw(st.lists(builds, max_size=4))
    return {"packages": packages, "base": base, "released": released, "updates": updates}


def run(s: dict, rng: random.Random | None = None):
    updates = [Update(f"U{i}", tuple(build(n, v) for n, v in b)) for i, b in enumerate(s["updates"])]
    if rng is not None:
        updates = [Update(u.alias, tuple(rng.sample(u.builds, len(u.builds)))) for u in updates]
        rng.shuffle(updates)
    released = {
        k: None if r is None else Manifest.of(build(n, v) for n, v in r.items()) for k, r in s["released"].items()
    }
    base = {n: build(n, v) for n, v in s["base"].items()}
    return plan(updates, F24, ARTIFACTS, s["packages"], released, base)


def expected_manifest(s: dict, target_id: str, artifact: str) -> Manifest | None:
    """An independent oracle: versions are integers here, so the newest is their max."""
    chosen = {}
    for name in s["packages"][artifact]:
        versions = [v for n, v in (p for b in s["updates"] for p in b) if n == name]
        versions += [d[name] for d in (s["base"], s["released"][target_id] or {}) if name in d]
        if versions:
            chosen[name] = build(name, max(versions))
    return Manifest.of(chosen.values()) if chosen else None


@given(scenarios())
@settings(max_examples=200, deadline=None)
def test_recomposed_if_and_only_if_the_manifest_changes(s: dict) -> None:
    expected = {
        Target(a, F24, arch).id: expected_manifest(s, Target(a, F24, arch).id, a.name)
        for a in ARTIFACTS
        for arch in a.arches
    }
    if None in expected.values():
        with pytest.raises(PlanError, match="has a build"):
            run(s)
        return
    for target in run(s).targets:
        released = s["released"][target.target.id]
        old = None if released is None else Manifest.of(build(n, v) for n, v in released.items())
        assert target.manifest == expected[target.target.id]
        changed = target.manifest != old
        assert (target.decision is Decision.RECOMPOSE) == changed
        assert bool(target.changes) == changed


@given(scenarios(), st.randoms(use_true_random=False))
@settings(max_examples=100, deadline=None)
def test_the_plan_does_not_depend_on_the_order_of_updates_and_builds(s: dict, rng: random.Random) -> None:
    try:
        first = run(s)
    except PlanError:
        return
    assert run(s, rng) == first


@given(scenarios(), st.data())
@settings(max_examples=100, deadline=None)
def test_pushing_released_builds_changes_nothing(s: dict, data: st.DataObject) -> None:
    """When every target was released from one consistent set of builds, re-pushing any of them is a no-op."""
    released = data.draw(st.dictionaries(st.sampled_from(NAMES), st.integers(1, 12), min_size=len(NAMES)))
    s["released"] = {
        Target(a, F24, arch).id: {n: v for n, v in released.items() if n in s["packages"][a.name]}
        for a in ARTIFACTS
        for arch in a.arches
    }
    s["base"] = {n: v for n, v in released.items() if data.draw(st.booleans())}
    s["updates"] = [[(n, released[n]) for n in data.draw(st.lists(st.sampled_from(NAMES), max_size=4))]]
    result = run(s)
    assert result.recompose == ()
    assert all(t.reason in (Reason.ALREADY_RELEASED, Reason.NOT_AFFECTED) for t in result.targets)
