"""The artifact-kind registry (entry point group relengotron.artifacts) and the configuration validated by it:
the five shipped kinds, a new kind registered by an entry point becoming valid in the configuration, and broken
entry points named in the error."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from test_config import GOOD, write

from relengotron.artifacts import ArtifactKindError, for_target, kind_class, kinds, load_release_config, registry
from relengotron.artifacts.images import AMI, GCE, ImageArtifact, InstallerISO, Pxe2Live
from relengotron.artifacts.ostree import OSTreeArtifact
from relengotron.planning import Target
from relengotron.yamlfile import FileError

REPO = Path(__file__).resolve().parents[2]


class Vagrant(ImageArtifact):
    """The worked example of docs/artifact-kinds.md: a new image kind is one class."""

    kind = "vagrant"
    koji_format = "vagrant-libvirt"
    koji_options = {"format": ["vagrant-libvirt"]}
    suffix = ".vagrant-libvirt.box"
    productmd_type = "vagrant-libvirt"
    productmd_format = "vagrant-libvirt.box"


class NotAKind:
    kind = "not-a-kind"


class Misnamed(ImageArtifact):
    kind = "something-else"


SHIPPED = list(metadata.entry_points(group=registry.GROUP))


def _ep(name: str, value: str) -> metadata.EntryPoint:
    return metadata.EntryPoint(name=name, value=value, group=registry.GROUP)


@pytest.fixture
def register(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """register(*entry_points, shipped=True): what the group lists from now on (the registry is re-read)."""

    def set_group(*extra: metadata.EntryPoint, shipped: bool = True) -> None:
        listed = [*(SHIPPED if shipped else []), *extra]

        def entry_points(**kwargs: Any) -> list[metadata.EntryPoint]:
            assert kwargs == {"group": registry.GROUP}
            return listed

        monkeypatch.setattr(registry.metadata, "entry_points", entry_points)
        registry.reload_kinds()

    yield set_group
    monkeypatch.undo()
    registry.reload_kinds()


def test_the_five_kinds_are_registered_by_the_installed_distribution() -> None:
    assert kinds() == {
        "ami": AMI,
        "gce": GCE,
        "installer-iso": InstallerISO,
        "ostree": OSTreeArtifact,
        "pxe2live": Pxe2Live,
    }
    assert kind_class("ostree") is OSTreeArtifact
    with pytest.raises(ArtifactKindError, match=r"unknown artifact kind 'vagrant' \(registered: ami, gce, "):
        kind_class("vagrant")


def test_for_target_builds_the_kind_of_the_artifact() -> None:
    config = load_release_config(REPO / "config" / "fedora.yaml")
    f24 = config.release("f24")
    by_name = {a.name: a for a in config.artifacts_of("f24")}
    plugin = for_target(Target(by_name["cloud-base-gce"], f24, "x86_64"))
    assert isinstance(plugin, GCE) and plugin.label == "Fedora-Cloud-Base-GCE-24.x86_64.tar.gz"
    assert isinstance(for_target(Target(by_name["atomic-host"], f24, "x86_64")), OSTreeArtifact)
    with pytest.raises(ValueError, match="a ostree artifact, not ami"):
        AMI(Target(by_name["atomic-host"], f24, "x86_64"))


def test_a_new_kind_is_one_class_and_one_entry_point(tmp_path: Path, register) -> None:
    text = GOOD.replace(
        "gating:",
        "  - name: cloud-base-vagrant\n    kind: vagrant\n    releases: [f24]\n"
        "    image: Fedora-Cloud-Base-Vagrant-{version}.{arch}.vagrant-libvirt.box\ngating:",
    )
    path = write(tmp_path, text)
    with pytest.raises(FileError, match=r"artifacts\[2\]\.kind: must be one of ami, gce, installer-iso, ostree, "):
        load_release_config(path)

    register(_ep("vagrant", f"{__name__}:Vagrant"))
    config = load_release_config(path)
    vagrant = config.artifacts[-1]
    assert (vagrant.kind, vagrant.compose) == ("vagrant", "koji")  # the kind's default backend
    plugin = for_target(Target(vagrant, config.release("f24"), "x86_64"))
    assert isinstance(plugin, Vagrant) and plugin.koji_name == "Fedora-Cloud-Base-Vagrant"

    bad = write(tmp_path, text.replace(".vagrant-libvirt.box\n", ".box\n"))
    with pytest.raises(FileError, match=r"artifacts\[2\]\.image: a vagrant image file name ends in"):
        load_release_config(bad)


def test_a_new_kind_gets_its_own_task_group_in_updates_push(register) -> None:
    """The worked example again, with no other change: updates_push has a mapped group for it, composing,
    testing, signing and promoting its targets before the sync, like the shipped kinds."""
    from airflow.models import DagBag

    register(_ep("vagrant", f"{__name__}:Vagrant"))
    bag = DagBag(dag_folder=str(REPO / "dags" / "updates_push.py"), safe_mode=False)
    assert bag.import_errors == {}
    dag = bag.dags["updates_push"]
    steps = ("compose", "announce", "tests", "sign", "promote")
    for kind in ("ami", "gce", "installer-iso", "ostree", "pxe2live", "vagrant"):
        assert {t for t in dag.task_dict if t.startswith(f"{kind}.")} == {f"{kind}.{step}" for step in steps}
        assert dag.get_task(f"{kind}.compose").upstream_task_ids == {"plan", f"{kind}_targets"}
        assert dag.get_task(f"{kind}.compose").kind == kind
        assert {f"{kind}.promote"} <= dag.get_task("sync").upstream_task_ids
        assert {f"{kind}.promote"} <= dag.get_task("report").upstream_task_ids
    register()  # the shipped kinds only: no vagrant group
    bag = DagBag(dag_folder=str(REPO / "dags" / "updates_push.py"), safe_mode=False)
    assert not [t for t in bag.dags["updates_push"].task_dict if t.startswith("vagrant")]


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        (_ep("vagrant", "relengotron.nosuchmodule:Vagrant"), "cannot be loaded: ModuleNotFoundError"),
        (_ep("vagrant", f"{__name__}:NoSuchClass"), "cannot be loaded: AttributeError"),
        (_ep("not-a-kind", f"{__name__}:NotAKind"), "is not an ArtifactKind subclass"),
        (_ep("vagrant", f"{__name__}:Misnamed"), "Misnamed.kind is 'something-else', not 'vagrant'"),
        (_ep("ami", f"{__name__}:Vagrant"), "kind 'ami' is already registered by entry point ami = "),
    ],
)
def test_a_broken_entry_point_is_named(register, tmp_path: Path, entry: metadata.EntryPoint, words: str) -> None:
    register(entry)
    with pytest.raises(ArtifactKindError) as caught:
        kinds()
    assert f"entry point {entry.name} = {entry.value!r} in group relengotron.artifacts" in str(caught.value)
    assert words in str(caught.value)
    with pytest.raises(FileError, match=r"artifacts\[0\]\.kind: entry point "):
        load_release_config(write(tmp_path, GOOD))  # the configuration cannot be checked against a broken registry


def test_no_registered_kind_at_all_says_to_install(register) -> None:
    register(shipped=False)
    with pytest.raises(ArtifactKindError, match=r"no artifact kinds are registered .*is relengotron installed"):
        kinds()


def test_the_configuration_checks_what_the_kind_needs(tmp_path: Path) -> None:
    cases = [
        ("    image: Fedora-Cloud-Base-{version}.{arch}.raw.xz", "    image: Cloud-{version}.{arch}.qcow2", "ends in"),
        ("    tests: [compose.ostree.fsck]", "    tests: [a]\n    image: x-{arch}.iso", "takes 'ref', not 'image'"),
        ("    tests: [compose.ostree.fsck]", "    compose: koji", "must be one of local, remote, not 'koji'"),
    ]
    for old, new, words in cases:
        assert old in GOOD
        with pytest.raises(FileError, match=words):
            load_release_config(write(tmp_path, GOOD.replace(old, new, 1)))
