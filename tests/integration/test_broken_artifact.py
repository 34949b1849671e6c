"""An artifact broken on purpose is caught by the real check and held back.

The sandbox Koji builds the f24 GCE image broken (the world's scenario knob ``broken_images``): cloud-init is
removed from its root after the install, while the image task's rpmlist still reports the install — so Koji's
record, the candidate's manifest JSON and its checksum all look right. The sandbox Taskotron opens the image by URL
with stock tools and compares the rpmdb inside with the manifest: ``compose.image.content`` FAILS naming
cloud-init, and the release's gating policy (what the push's ``tests`` task decides with) refuses the candidate,
which is then never promoted nor synced.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import test_artifacts
from test_artifacts import TOPIC, Setup, mirror_files

from relengotron.gating import decide, load_policies
from relengotron.gating.decision import Verdict
from relengotron_sandbox.imagebuild.openers import open_image
from relengotron_sandbox.service import SandboxContext
from relengotron_sandbox.taskotron import TaskotronRunner
from relengotron_sandbox.world import BrokenImage

pytestmark = pytest.mark.integration

setup = test_artifacts.setup  # test_artifacts' fixture: the sandbox's services, the release configuration
BROKEN = BrokenImage("Fedora-Cloud-Base-GCE", "24", "x86_64", "cloud-init", "a package lost from the image")
BROKEN_PXE = BrokenImage("Fedora-Atomic-pxe2live", "24", "x86_64", "rpm-ostree", "a package lost from the image")


@pytest.fixture
def bus_ctx(bus_ctx: SandboxContext) -> SandboxContext:
    """The default context, its world's scenario building the f24 GCE image without cloud-init and the f24
    pxe2live without rpm-ostree."""
    bus_ctx.world = dataclasses.replace(bus_ctx.world, broken_images=(BROKEN, BROKEN_PXE))
    return bus_ctx


def test_an_image_missing_a_package_fails_its_content_check_and_is_held_back(setup: Setup) -> None:
    plugin = setup.plugin("cloud-base-gce")
    manifest = plugin.manifest(setup.koji, setup.packages("cloud-base-gce"), "f24")
    cloud_init = next(nvr for nvr in manifest.nvrs if nvr.startswith("cloud-init-"))
    out = plugin.compose(setup.compose, manifest)  # Koji's rpmlist says the manifest: the candidate is made
    assert out.changed and out.image is not None
    opened = open_image(out.image.path, "tar-gz")
    assert opened.well_formed, opened.message
    assert not any(p.startswith("cloud-init-") for p in opened.packages)  # really broken

    posted = TaskotronRunner(setup.ctx).handle(TOPIC, plugin.announcement(out, setup.config.translate_paths))
    outcomes = {p["testcase"]["name"]: (p["outcome"], p.get("note") or "") for p in posted}
    assert outcomes["compose.image.checksum"][0] == "PASSED"  # the bytes are what the compose said
    outcome, note = outcomes["compose.image.content"]
    assert outcome == "FAILED" and cloud_init in note, note

    # the push's tests task decides with the release's gating policies: held back, with the reason
    batch = decide(
        load_policies(setup.config.gating_policies),
        [plugin.test_item()],
        [_result(p) for p in posted],
        decision_context="artifact_release",
        product_version=plugin.release.pdc_release,
    )
    [answer] = batch.answers
    assert not answer.passes and answer.verdict is Verdict.FAILED, answer.summary()
    assert "compose.image.content FAILED" in answer.summary() and cloud_init in answer.summary()

    setup.sync_all()  # never promoted: nothing of it on the mirror
    assert mirror_files(setup.master) == set() and plugin.released(setup.published) is None


def test_a_pxe2live_whose_squashfs_lost_a_package_fails_its_content_check(setup: Setup) -> None:
    """The same knob on live media: the sandbox Koji's live ISO lacks rpm-ostree in its squashfs root, the PXE
    tarball made of it too, and the content check names the build."""
    plugin = setup.plugin("pxe2live")
    manifest = plugin.manifest(setup.koji, setup.packages("pxe2live"), "f24")
    rpm_ostree = next(nvr for nvr in manifest.nvrs if nvr.startswith("rpm-ostree-"))
    out = plugin.compose(setup.compose, manifest)
    assert out.changed and out.image is not None
    opened = open_image(out.image.path, "pxe2live")
    assert opened.well_formed, opened.message
    assert opened.packages is not None and not any(p.startswith("rpm-ostree-") for p in opened.packages)
    posted = TaskotronRunner(setup.ctx).handle(TOPIC, plugin.announcement(out, setup.config.translate_paths))
    outcome, note = {p["testcase"]["name"]: (p["outcome"], p.get("note") or "") for p in posted}[
        "compose.image.content"
    ]
    assert outcome == "FAILED" and f"missing {rpm_ostree}" in note, note


def _result(posted: dict[str, Any]) -> dict[str, Any]:
    """A posted result as ResultsDB answers it (what the gate reads): its data as lists of values."""
    data = {k: v if isinstance(v, list) else [v] for k, v in (posted.get("data") or {}).items()}
    return {**posted, "data": data}
