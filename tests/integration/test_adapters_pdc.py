"""The PDC adapter over the real pdc-client against the sandbox PDC: component groups per release in whole
pages (requests counted), planning's package lists from them, release info, release inactive (idempotent)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from test_adapters_support import pdc_of, sandbox_config

from relengotron.adapters.errors import AdapterError, NotFoundError, TransientError
from relengotron.adapters.pdc import PDC, PDCConnection
from relengotron.planning import PDCQuery, PlanError, Update, plan
from relengotron_sandbox.pdc import PDCService
from relengotron_sandbox.service import SandboxContext

pytestmark = pytest.mark.integration


@pytest.fixture
def pdc(recording_ctx: SandboxContext) -> Iterator[PDC]:
    service = PDCService(recording_ctx)
    recording_ctx.endpoints["pdc"] = service.start()
    adapter = pdc_of(recording_ctx.endpoints)
    yield adapter
    adapter.close()
    service.stop()


def test_component_groups_cost_one_request_per_release_whatever_the_batch(
    pdc: PDC, recording_ctx: SandboxContext, tmp_path: Path
) -> None:
    config = sandbox_config(tmp_path, recording_ctx.world, recording_ctx.built)
    world = recording_ctx.world
    releases = [config.releases["f23"], config.releases["f24"]]
    one = [Update("FEDORA-2016-0001", ("glibc-2.23.1-8.fc24",))]
    many = [Update(f"FEDORA-2016-{n:04d}", (f"{b.nvr}",)) for n, b in enumerate(world.builds()) if "fc24" in b.nvr]
    assert len(many) > 30

    before = pdc.requests
    small = pdc.batch_packages(one, releases, config.artifacts)
    assert pdc.requests - before == 2  # one page of component groups per release
    before = pdc.requests
    large = pdc.batch_packages(many, releases, config.artifacts)
    assert pdc.requests - before == 2  # the same for 30+ builds: requests grow with pages, not builds
    assert small == large
    assert pdc.batch_packages([], releases, config.artifacts) == {}
    assert pdc.requests - before == 2  # an empty batch asks nothing

    for release_id in ("f23", "f24"):
        expected = {a.name: tuple(sorted(a.packages)) for a in world.artifacts if a.release == release_id}
        assert large[release_id] == expected  # matched on description client-side

    f24 = config.releases["f24"]
    artifacts = config.artifacts_of("f24")
    targets = {a.item(f24, arch): None for a in artifacts for arch in a.arches}
    decided = plan(one, f24, artifacts, large["f24"], targets)
    assert {t.target.artifact.name for t in decided.recompose} == {a.name for a in artifacts}


def test_pages_are_walked_until_next_is_empty(pdc: PDC, recording_ctx: SandboxContext) -> None:
    groups = len(recording_ctx.world.artifacts)
    before = pdc.requests
    pages = pdc.pages(PDCQuery("component-groups", (("page_size", 2),)))
    assert pdc.requests - before == len(pages) == -(-groups // 2)
    assert sum(len(p["results"]) for p in pages) == groups and pages[-1]["next"] is None


def test_a_missing_group_is_an_error_naming_the_artifact(
    pdc: PDC, tmp_path: Path, recording_ctx: SandboxContext
) -> None:
    config = sandbox_config(tmp_path, recording_ctx.world, recording_ctx.built)
    rawhide = config.releases["rawhide"]
    renamed = [replace(config.artifacts_of("rawhide")[0], name="silverblue")]
    with pytest.raises(PlanError, match="silverblue"):
        pdc.batch_packages([Update("X", ("bash-4.4.5-1.fc26",))], [rawhide], renamed)


def test_release_inactive_is_idempotent_and_hides_components(pdc: PDC, recording_ctx: SandboxContext) -> None:
    assert pdc.release("fedora-23")["active"] is True
    components = pdc.release_components("fedora-23")
    assert components
    assert pdc.set_release_inactive("fedora-23") is True
    assert pdc.release("fedora-23")["active"] is False
    changed = [m for m in recording_ctx.publisher.messages if m[1] == "releases.changed"]
    assert len(changed) == 1

    before = pdc.requests
    assert pdc.set_release_inactive("fedora-23") is False
    assert pdc.requests - before == 1  # the read; no PATCH at all
    assert len([m for m in recording_ctx.publisher.messages if m[1] == "releases.changed"]) == 1

    assert pdc.release_components("fedora-23") == []  # PDC hides an inactive release's components
    hidden = pdc.release_components("fedora-23", include_inactive_release=True)
    assert {c["name"] for c in hidden} == {c["name"] for c in components}
    assert pdc.release("fedora-24")["active"] is True


def test_errors_name_the_item_and_say_whether_to_retry(pdc: PDC, recording_ctx: SandboxContext) -> None:
    with pytest.raises(NotFoundError, match="release fedora-99") as missing:
        pdc.set_release_inactive("fedora-99")
    assert missing.value.service == "pdc"
    with pytest.raises(AdapterError, match="Unknown query params: description") as bad:
        pdc.results(PDCQuery("component-groups", (("description", "atomic-host"),)))
    assert not isinstance(bad.value, TransientError | NotFoundError)

    url = recording_ctx.endpoints["pdc"]["url"]
    with pytest.raises(ValueError, match="unknown field"):
        PDCConnection.from_mapping({"server": url, "colour": "blue"})
    gone = PDC.connect(PDCConnection(server="http://127.0.0.1:9/rest_api/v1/", develop=True, timeout=5))
    with pytest.raises(TransientError, match="release fedora-24"):
        gone.release("fedora-24")
