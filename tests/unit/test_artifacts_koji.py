"""The Koji adapter's image-task helpers (used by the image artifacts), over a real ClientSession whose transport
answers like a hub: finding and creating build targets idempotently, submitting an image task, reading back
the images of a finished one."""

from __future__ import annotations

from typing import Any

import koji
import pytest
from test_kojiclient import FakeSession

from relengotron.kojiclient import KojiClient, KojiError

TOPURL = "http://127.0.0.1:9/kojifiles"


def _targets(existing: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """Handlers for getTag/getBuildTargets/getBuildTarget/createBuildTarget over ``existing`` (name → tags)."""

    def info(name: str) -> dict[str, Any]:
        build, dest = existing[name]
        return {"name": name, "build_tag_name": build, "dest_tag_name": dest}

    def get_targets(buildTagID: Any = None, **_: Any) -> list[dict[str, Any]]:
        return [info(n) for n, (build, _dest) in existing.items() if build == buildTagID]

    def create(name: str, build: str, dest: str) -> None:
        existing[name] = (build, dest)

    return {
        "getTag": lambda tag, **_: {"name": tag} if not tag.startswith("nope") else None,
        "getBuildTargets": get_targets,
        "getBuildTarget": lambda name, **_: info(name) if name in existing else None,
        "createBuildTarget": create,
    }


def test_build_targets_are_found_and_created_once() -> None:
    existing = {"f24-candidate": ("f24", "f24-updates-candidate")}
    session = FakeSession(_targets(existing))
    client = KojiClient(session, TOPURL)
    assert client.build_target_for("f24") == "f24-candidate"
    assert client.build_target_for("f24-updates") is None
    assert client.ensure_build_target("f24-updates-image", "f24-updates", "f24-updates") is True
    assert client.ensure_build_target("f24-updates-image", "f24-updates", "f24-updates") is False
    assert [m for m, _ in session.requests].count("createBuildTarget") == 1
    assert client.build_target_for("f24-updates") == "f24-updates-image"
    with pytest.raises(KojiError, match="build target f24-updates-image: exists and builds from f24-updates into"):
        client.ensure_build_target("f24-updates-image", "f24", "f24")
    with pytest.raises(KojiError, match="tag nope"):
        client.build_target_for("nope")


def test_image_tasks_are_submitted_with_the_methods_and_options_given() -> None:
    sent: list[tuple[str, tuple[Any, ...]]] = []
    session = FakeSession(
        {
            "buildImageOz": lambda *args: sent.append(("buildImageOz", args)) or 42,
            "buildImage": lambda *args: sent.append(("buildImage", args)) or 43,
        }
    )
    client = KojiClient(session, TOPURL)
    opts = {"kickstart": "work/cli-image/1.a/cloud.ks", "distro": "Fedora-24", "format": ["raw-xz"]}
    task = client.build_image_oz(
        "Fedora-Cloud-Base", "24", ["x86_64"], "f24-candidate", "http://x/$arch/", opts, item="ami"
    )  # fmt: skip
    live = client.build_livemedia(
        "Fedora-Atomic-pxe2live", "24", ["x86_64"], "f24-candidate", "cli-livemedia/1.a/pxe.ks", {"ksversion": "F24"},
        item="pxe2live",
    )  # fmt: skip
    assert (task, live) == (42, 43)
    assert sent == [
        ("buildImageOz", ("Fedora-Cloud-Base", "24", ["x86_64"], "f24-candidate", "http://x/$arch/", opts)),
        (
            "buildImage",
            (
                "Fedora-Atomic-pxe2live",
                "24",
                ["x86_64"],
                "f24-candidate",
                "cli-livemedia/1.a/pxe.ks",
                "livemedia",
                {"ksversion": "F24"},
            ),
        ),
    ]


def _image_hub(build: dict[str, Any] | None, archives: list[dict[str, Any]]) -> dict[str, Any]:
    result = {
        "arch": "x86_64",
        "name": "Fedora-Cloud-Base",
        "version": "24",
        "release": "3",
        "files": ["Fedora-Cloud-Base-24-3.x86_64.raw.xz"],
        "rpmlist": [
            {"name": "glibc", "version": "2.23.1", "release": "8.fc24", "arch": "noarch"},
            {"name": "bash", "version": "4.3.42", "release": "5.fc24", "arch": "noarch"},
        ],
    }
    children = [
        {"id": 11, "method": "createImage", "request": ["Fedora-Cloud-Base", "24", "3", "x86_64"]},
        {"id": 12, "method": "tagBuild", "request": []},
    ]
    return {
        "getTaskChildren": lambda task_id, request=False: children if request else [],
        "getTaskResult": lambda task_id: result,
        "getBuild": lambda nvr, **_: build,
        "listArchives": lambda buildID, type: archives,
    }


def test_the_images_of_a_finished_task_are_read_back() -> None:
    build = {"id": 5, "name": "Fedora-Cloud-Base", "version": "24", "release": "3", "volume_name": "DEFAULT"}
    archive = {
        "filename": "Fedora-Cloud-Base-24-3.x86_64.raw.xz",
        "size": 1234,
        "checksum": "0" * 32,
        "checksum_type": koji.CHECKSUM_TYPES["md5"],
    }
    client = KojiClient(FakeSession(_image_hub(build, [archive])), TOPURL)
    [image] = client.image_result(10, item="ami")
    assert image.url == f"{TOPURL}/packages/Fedora-Cloud-Base/24/3/images/Fedora-Cloud-Base-24-3.x86_64.raw.xz"
    assert (image.task_id, image.build, image.arch, image.size, image.checksum_type) == (
        11,
        "Fedora-Cloud-Base-24-3",
        "x86_64",
        1234,
        "md5",
    )
    assert image.rpms == ("bash-4.3.42-5.fc24", "glibc-2.23.1-8.fc24")

    scratch = KojiClient(FakeSession(_image_hub(None, [])), TOPURL)
    with pytest.raises(KojiError, match="ami: task 11 made no image build Fedora-Cloud-Base-24-3"):
        scratch.image_result(10, item="ami")
    missing = KojiClient(FakeSession(_image_hub(build, [])), TOPURL)
    with pytest.raises(KojiError, match=r"has no archive Fedora-Cloud-Base-24-3\.x86_64\.raw\.xz"):
        missing.image_result(10, item="ami")
