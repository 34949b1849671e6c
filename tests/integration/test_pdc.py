"""The sandbox PDC driven only through the real pdc-client (PDCClient / beanbag)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from beanbag import BeanBagException
from pdc_client import PDCClient
from productmd.images import Images

from relengotron_sandbox.pdc import PDCService
from relengotron_sandbox.service import SandboxContext

pytestmark = pytest.mark.integration


@pytest.fixture
def pdc(recording_ctx: SandboxContext) -> Iterator[PDCClient]:
    service = PDCService(recording_ctx)
    endpoint = service.start()
    assert endpoint["url"].startswith("http://127.0.0.1:") and endpoint["url"].endswith("/rest_api/v1/")
    yield PDCClient(server=endpoint["url"], develop=True)
    service.stop()


def error_of(call: Any) -> tuple[int, Any]:
    with pytest.raises(BeanBagException) as caught:
        call()
    return caught.value.response.status_code, caught.value.response.json()


def test_releases_list_filters_and_detail(pdc: PDCClient, recording_ctx: SandboxContext) -> None:
    world = recording_ctx.world
    releases = list(pdc["releases"].results())
    assert [r["release_id"] for r in releases] == sorted(r.pdc_id for r in world.releases.values())
    f24 = pdc["releases"]["fedora-24"]._()
    assert f24["short"] == "fedora" and f24["version"] == "24" and f24["release_type"] == "ga"
    assert f24["active"] is True and f24["sigkey"] == recording_ctx.built.key_id
    assert f24["dist_git"] == {"branch": "f24"} and f24["bugzilla"] == {"product": "Fedora"}
    assert f24["compose_set"] and f24["compose_set"][0].startswith("Fedora-24-")
    assert pdc["releases"]["fedora-rawhide"]._()["dist_git"] == {"branch": "master"}

    def ids(**filters: Any) -> list[str]:
        return [r["release_id"] for r in pdc["releases"]._(**filters)["results"]]

    assert ids(short="fedora", version="23") == ["fedora-23"]
    assert ids(version=["23", "24"]) == ["fedora-23", "fedora-24"]
    assert ids(release_id="fedora-rawhide") == ["fedora-rawhide"]
    assert ids(release_type="ga") == ["fedora-23", "fedora-24", "fedora-rawhide"]
    assert ids(release_type="updates") == []
    assert ids(active=True) == ["fedora-23", "fedora-24", "fedora-rawhide"]
    assert ids(active="false") == []
    assert ids(dist_git_branch="master") == ["fedora-rawhide"]


def test_patch_release_active_hides_its_components_and_is_published(
    pdc: PDCClient, recording_ctx: SandboxContext
) -> None:
    before = pdc["release-components"]._(release="fedora-23")["count"]
    assert before > 0
    changed = pdc["releases"]["fedora-23"]._("PATCH", {"active": False})
    assert changed["active"] is False
    assert pdc["releases"]["fedora-23"]._()["active"] is False
    assert [r["release_id"] for r in pdc["releases"].results(active=False)] == ["fedora-23"]
    # PDC hides components of inactive releases unless asked for them
    assert pdc["release-components"]._(release="fedora-23")["count"] == 0
    hidden = pdc["release-components"]._(release="fedora-23", include_inactive_release=1)
    assert hidden["count"] == before
    assert {c["release"]["active"] for c in hidden["results"]} == {False}
    messages = [(m, t, b) for m, t, b in recording_ctx.publisher.messages if t == "releases.changed"]
    assert len(messages) == 1
    modname, _, body = messages[0]
    assert modname == "pdc"
    assert body["old_value"]["active"] is True and body["new_value"]["active"] is False
    assert body["url"].endswith("/rest_api/v1/releases/fedora-23/")
    # the same PATCH again changes nothing and announces nothing
    pdc["releases"]["fedora-23"]._("PATCH", {"active": False})
    assert len([1 for _, t, _ in recording_ctx.publisher.messages if t == "releases.changed"]) == 1


def test_state_survives_a_restart(recording_ctx: SandboxContext) -> None:
    first = PDCService(recording_ctx)
    client = PDCClient(server=first.start()["url"], develop=True)
    client["releases"]["fedora-24"]._("PATCH", {"active": False, "name": "Fedora 24 (EOL)"})
    first.stop()
    second = PDCService(recording_ctx)
    client = PDCClient(server=second.start()["url"], develop=True)
    try:
        release = client["releases"]["fedora-24"]._()
        assert (release["active"], release["name"]) == (False, "Fedora 24 (EOL)")
    finally:
        second.stop()


def test_paging_across_pages(pdc: PDCClient, recording_ctx: SandboxContext) -> None:
    first = pdc["release-components"]._(page_size=10)
    assert set(first) == {"count", "next", "previous", "results"}
    total = first["count"]
    assert total > 30 and len(first["results"]) == 10 and first["previous"] is None
    assert first["next"].startswith("http://127.0.0.1:") and "page=2" in first["next"]
    assert "page_size=10" in first["next"]
    second = pdc["release-components"]._(page=2, page_size=10)
    assert second["previous"] is not None and "page=" not in second["previous"]
    third = pdc["release-components"]._(page=3, page_size=10)
    assert "page=2" in third["previous"]
    assert {c["id"] for c in second["results"]}.isdisjoint(c["id"] for c in first["results"])
    last = pdc["release-components"]._(page="last", page_size=10)
    assert last["next"] is None and len(last["results"]) == (total % 10 or 10)
    # .results() walks page=1,2,... with the default page size of 20
    everything = list(pdc["release-components"].results())
    assert len(everything) == total == len({c["id"] for c in everything})
    # page_size=-1 turns paging off: one plain list
    unpaged = pdc["release-components"]._(page_size=-1)
    assert isinstance(unpaged, list) and len(unpaged) == total
    # PDC cuts page sizes at 100
    assert len(pdc["rpms"]._(page_size=1000)["results"]) == 100
    code, body = error_of(lambda: pdc["release-components"]._(page=99))
    assert (code, body) == (404, {"detail": "Invalid page."})
    code, body = error_of(lambda: pdc["release-components"]._(page="abc"))
    assert (code, body) == (404, {"detail": "Invalid page."})


def test_release_component_filters(pdc: PDCClient, recording_ctx: SandboxContext) -> None:
    world = recording_ctx.world
    f24 = list(pdc["release-components"].results(release="fedora-24"))
    expected = {b.package for b in world.builds() if any(world.tag_release()[t].id == "f24" for t in b.tags)}
    assert {c["name"] for c in f24} == expected
    bash = pdc["release-components"]._(release="fedora-24", name="bash")["results"]
    assert len(bash) == 1
    comp = bash[0]
    assert comp["release"] == {"release_id": "fedora-24", "active": True}
    assert comp["global_component"] == "bash" and comp["type"] == "rpm" and comp["srpm"] == {"name": "bash"}
    assert comp["dist_git_branch"] == "f24" and comp["active"] is True
    assert comp["bugzilla_component"]["name"] == "bash"
    assert pdc["release-components"][comp["id"]]._() == comp
    assert pdc["release-components"]._(global_component="bash")["count"] == 3
    assert pdc["release-components"]._(name=["bash", "kernel"], release="fedora-23")["count"] == 2
    assert pdc["release-components"]._(active=True, type="rpm")["count"] == pdc["release-components"]._()["count"]
    assert pdc["release-components"]._(active=False)["count"] == 0
    assert pdc["release-components"]._(type="container")["count"] == 0
    assert pdc["release-components"]._(dist_git_branch="master")["count"] == len(
        {b.package for b in world.builds() if any(world.tag_release()[t].id == "rawhide" for t in b.tags)}
    )
    assert pdc["release-components"]._(srpm_name="kernel")["count"] == 3
    only = pdc["release-components"]._(name="bash", fields=["id", "name"])["results"]
    assert all(set(c) == {"id", "name"} for c in only)
    ordered = pdc["release-components"]._(release="fedora-24", ordering="-name", page_size=-1)
    assert [c["name"] for c in ordered] == sorted((c["name"] for c in f24), reverse=True)


def test_component_groups_tell_what_an_artifact_contains(pdc: PDCClient, recording_ctx: SandboxContext) -> None:
    world = recording_ctx.world
    groups = list(pdc["component-groups"].results())
    assert len(groups) == len(world.artifacts)
    for art in world.artifacts:
        release = world.releases[art.release].pdc_id
        found = pdc["component-groups"]._(group_type=art.group_type, release=release)["results"]
        mine = [g for g in found if g["description"] == art.name]
        assert len(mine) == 1, art
        assert sorted(c["name"] for c in mine[0]["components"]) == sorted(art.packages)
        for member in mine[0]["components"][:3]:
            component = pdc["release-components"][member["id"]]._()
            assert (component["name"], component["release"]["release_id"]) == (member["name"], release)
    with_anaconda = pdc["component-groups"]._(release_component="anaconda")["results"]
    assert {g["group_type"] for g in with_anaconda} == {"installer-iso"}
    assert pdc["component-groups"]._(group_type="atomic-host")["count"] == 3
    code, body = error_of(lambda: pdc["component-groups"]._(description="atomic-host"))
    assert code == 400 and body == {"detail": "Unknown query params: description."}


def test_release_component_relationships(pdc: PDCClient) -> None:
    executes = list(pdc["release-component-relationships"].results(type="executes"))
    assert executes
    pairs = {(r["from_component"]["name"], r["to_component"]["name"]) for r in executes}
    assert ("kubernetes", "docker") in pairs and ("coreutils", "bash") in pairs
    from_kube = pdc["release-component-relationships"]._(
        from_component_name="kubernetes", from_component_release="fedora-24"
    )["results"]
    assert sorted(r["to_component"]["name"] for r in from_kube) == ["docker", "etcd"]
    assert {r["to_component"]["release"] for r in from_kube} == {"fedora-24"}
    to_bash = pdc["release-component-relationships"]._(to_component_name="bash", to_component_release="fedora-23")
    assert to_bash["count"] > 1 and all(r["from_component"]["release"] == "fedora-23" for r in to_bash["results"])
    assert pdc["release-component-relationships"]._(type="bundles")["count"] == 0


def test_composes_and_compose_images(pdc: PDCClient, recording_ctx: SandboxContext) -> None:
    world = recording_ctx.world
    composes = list(pdc["composes"].results())
    assert len(composes) == len(world.releases)
    f24 = pdc["composes"]._(release="fedora-24")["results"]
    assert len(f24) == 1
    compose = f24[0]
    assert compose["compose_id"].startswith("Fedora-24-") and compose["compose_id"].endswith(".0")
    assert compose["compose_type"] == "production" and compose["deleted"] is False
    assert compose["rpm_mapping_template"].endswith(f"/composes/{compose['compose_id']}/rpm-mapping/{{{{package}}}}/")
    assert pdc["composes"][compose["compose_id"]]._() == compose
    assert pdc["composes"]._(compose_type="nightly")["results"][0]["release"] == "fedora-rawhide"
    assert pdc["composes"]._(rpm_name="anaconda", release="fedora-24")["count"] == 1
    assert pdc["composes"]._(rpm_nvr="bash-4.3.42-5.fc24")["results"][0]["compose_id"] == compose["compose_id"]
    assert pdc["composes"]._(rpm_nvr="bash-4.3.42-6.fc24")["count"] == 0  # signing-pending: not composed
    code, body = error_of(lambda: pdc["composes"]._(rpm_nvr="bash"))
    assert (code, body) == (400, {"detail": "Invalid NVR: bash"})

    data = pdc["compose-images"][compose["compose_id"]]._()
    images = Images()
    images.deserialize(data)
    assert images.compose.id == compose["compose_id"]
    files = {img.path.rsplit("/", 1)[1] for variant in images.images.values() for s in variant.values() for img in s}
    expected = {
        a.image.format(arch=arch)
        for a in world.artifacts
        if a.release == "f24" and a.kind != "ostree" and a.image
        for arch in a.arches
    }
    assert files == expected
    iso = next(img for img in images.images["Server"]["x86_64"])
    assert iso.type == "dvd" and iso.format == "iso" and iso.bootable and iso.implant_md5
    rawhide = pdc["composes"]._(release="fedora-rawhide")["results"][0]["compose_id"]
    assert pdc["compose-images"][rawhide]._()["payload"]["images"] == {}  # its only artifact is ostree
    assert error_of(lambda: pdc["compose-images"]["Fedora-99-20160101.0"]._())[0] == 404


def test_rpms_and_their_filters(pdc: PDCClient, recording_ctx: SandboxContext) -> None:
    built = recording_ctx.built
    bash = pdc["rpms"]._(name="^bash$", version="4.3.42", release="5.fc24", arch="noarch")["results"]
    assert len(bash) == 1
    rpm = bash[0]
    source = next(r for r in built.rpms["bash-4.3.42-5.fc24"] if r.arch == "noarch")
    assert rpm["filename"] == source.filename and rpm["epoch"] == 0
    assert rpm["srpm_name"] == "bash" and rpm["srpm_nevra"] == "bash-0:4.3.42-5.fc24.src"
    assert rpm["built_for_release"] == "fedora-24" and rpm["linked_releases"] == ["fedora-24"]
    assert sorted(rpm["dependencies"]["provides"]) == sorted(source.provides)
    assert rpm["dependencies"]["requires"] == list(source.requires)
    assert pdc["rpms"][rpm["id"]]._() == rpm
    assert {r["arch"] for r in pdc["rpms"].results(name="^bash$", built_for_release="fedora-24")} == {"src", "noarch"}
    # only builds in stable tags: the signing-pending bash-4.3.42-6.fc24 is not there
    assert pdc["rpms"]._(name="^bash$", release="6.fc24")["count"] == 0
    # glibc has a build in f24 and one in f24-updates; only the f24 one is in the compose
    glibc = list(pdc["rpms"].results(name="^glibc$", arch="noarch", built_for_release="fedora-24"))
    assert sorted(r["release"] for r in glibc) == ["7.fc24", "8.fc24"]
    f24_compose = pdc["composes"]._(release="fedora-24")["results"][0]["compose_id"]
    in_compose = pdc["rpms"]._(name="^glibc$", arch="noarch", compose=f24_compose)["results"]
    assert [r["release"] for r in in_compose] == ["7.fc24"]
    assert pdc["rpms"]._(srpm_name="bash", arch="src")["count"] == 3
    assert pdc["rpms"]._(epoch=0, name="^bash$")["count"] == 6
    assert pdc["rpms"]._(linked_release="fedora-rawhide", name="^kernel$", arch="x86_64")["count"] == 1
    needing_docker = {r["name"] for r in pdc["rpms"].results(requires="/usr/bin/docker")}
    assert needing_docker == {"kubernetes", "atomic"}
    new_urllib3 = {
        r["release"] for r in pdc["rpms"].results(name="^python3-urllib3$", provides="python3-urllib3 > 1.14")
    }
    assert new_urllib3 == {"1.fc24", "3.fc26"}
    code, body = error_of(lambda: pdc["rpms"]._(epoch="abc"))
    assert code == 400 and "epoch" in body["detail"]
    code, body = error_of(lambda: pdc["rpms"]._(name="(unclosed"))
    assert code == 400 and "(unclosed" in body["detail"]


def test_errors_the_pdc_way(pdc: PDCClient) -> None:
    assert error_of(lambda: pdc["no-such-resource"]._()) == (404, {"detail": "Not found."})
    assert error_of(lambda: pdc["releases"]["fedora-99"]._()) == (404, {"detail": "Not found."})
    assert error_of(lambda: pdc["release-components"][999999]._()) == (404, {"detail": "Not found."})
    code, body = error_of(lambda: pdc["releases"]._(colour="blue"))
    assert (code, body) == (400, {"detail": "Unknown query params: colour."})
    code, body = error_of(lambda: pdc["releases"]._(active="maybe"))
    assert code == 400 and body == {"detail": "Value [maybe] of active is not a boolean"}
    code, body = error_of(lambda: pdc["releases"]._(ordering="colour"))
    assert code == 400 and "colour" in body["detail"]
    code, body = error_of(lambda: pdc["releases"]._(fields="colour"))
    assert code == 400 and "colour" in body["detail"]
    code, body = error_of(lambda: pdc["releases"]["fedora-24"]._("PATCH", {"active": "maybe"}))
    assert (code, body) == (400, {"active": ['"maybe" is not a valid boolean.']})
    code, body = error_of(lambda: pdc["releases"]["fedora-24"]._("PATCH", {"colour": "blue"}))
    assert (code, body) == (400, {"detail": 'Unknown fields: "colour".'})
    code, body = error_of(lambda: pdc["releases"]["fedora-24"]._("PATCH", {"release_id": "x"}))
    assert code == 400 and "read only" in body["detail"]
    code, body = error_of(lambda: pdc["releases"]["fedora-24"]._("PATCH", {}))
    assert code == 400 and "no changes" in body["detail"]
    code, body = error_of(lambda: pdc["releases"]["fedora-24"]._("PATCH", {"integrated_with": "fedora-99"}))
    assert code == 400 and list(body) == ["integrated_with"]
    code, body = error_of(lambda: pdc["releases"]["fedora-24"]._("DELETE", None))
    assert code == 405


def test_create_release_and_component(pdc: PDCClient, recording_ctx: SandboxContext) -> None:
    body = {
        "short": "fedora",
        "version": "25",
        "name": "Fedora 25",
        "release_type": "ga",
        "dist_git": {"branch": "f25"},
    }
    created = pdc["releases"]._(body)
    assert created["release_id"] == "fedora-25" and created["active"] is True and created["compose_set"] == []
    assert pdc["releases"]["fedora-25"]._()["dist_git"] == {"branch": "f25"}
    code, answer = error_of(lambda: pdc["releases"]._(body))
    assert code == 400 and "already exists" in answer["detail"][0]
    code, answer = error_of(lambda: pdc["releases"]._({**body, "release_type": "beta"}))
    assert code == 400 and list(answer) == ["release_type"]
    code, answer = error_of(lambda: pdc["releases"]._({"short": "fedora", "version": "26", "release_type": "ga"}))
    assert (code, answer) == (400, {"name": ["This field is required."]})

    component = pdc["release-components"]._({"release": "fedora-25", "name": "bash", "global_component": "bash"})
    assert component["release"] == {"release_id": "fedora-25", "active": True}
    assert component["dist_git_branch"] == "f25"  # inherited from the release
    code, answer = error_of(
        lambda: pdc["release-components"]._({"release": "fedora-25", "name": "bash", "global_component": "bash"})
    )
    assert code == 400 and answer == {"detail": ["The fields release, name, type must make a unique set."]}
    patched = pdc["release-components"][component["id"]]._("PATCH", {"active": False, "dist_git_branch": "private"})
    assert (patched["active"], patched["dist_git_branch"]) == (False, "private")
    assert pdc["release-components"]._(release="fedora-25", active=False)["count"] == 1
    topics = [t for _, t, _ in recording_ctx.publisher.messages]
    assert topics == ["releases.added", "release-components.added", "release-components.changed"]


def test_patch_compose(pdc: PDCClient, recording_ctx: SandboxContext) -> None:
    compose_id = pdc["composes"]._(release="fedora-24")["results"][0]["compose_id"]
    updated = pdc["composes"][compose_id]._("PATCH", {"acceptance_testing": "passed", "linked_releases": ["fedora-23"]})
    assert updated["acceptance_testing"] == "passed" and updated["linked_releases"] == ["fedora-23"]
    assert compose_id in pdc["releases"]["fedora-23"]._()["compose_set"]
    assert pdc["composes"]._(acceptance_testing="passed")["count"] == 1
    code, body = error_of(lambda: pdc["composes"][compose_id]._("PATCH", {"deleted": True}))
    assert code == 400 and "Only these properties" in body["detail"]
    (modname, topic, msg) = recording_ctx.publisher.messages[-1]
    assert (modname, topic, msg["action"], msg["compose_id"]) == ("pdc", "compose", "update", compose_id)
