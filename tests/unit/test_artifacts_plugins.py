"""The five artifact kinds without servers: where their outputs go and in which sync pass each goes, what they
announce, what ResultsDB is asked, the Koji names of images, the JSON form of an output, and the reuse and
content checks of an image compose (with a Koji that must not be called, or that returns a wrong image)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from relengotron.artifacts import (
    ArtifactError,
    ComposeContext,
    ComposeOutput,
    ImageOutput,
    OSTreeOutput,
    for_target,
    load_release_config,
)
from relengotron.artifacts.images import ImageArtifact, content_error, koji_name
from relengotron.artifacts.ostree import OSTreeArtifact
from relengotron.config import ReleaseConfig
from relengotron.kojiclient import KojiBuild, KojiImage, KojiRPM
from relengotron.manifest import Manifest
from relengotron.messaging import schema_message
from relengotron.planning import Target
from relengotron.signing.base import sha256_file
from relengotron.signing.checksum import ChecksumEntry, render_checksums
from relengotron.sync import classify_tree

REPO = Path(__file__).resolve().parents[2]
MANIFEST = Manifest.of(["bash-4.3.42-5.fc24", "glibc-2.23.1-8.fc24"])


@pytest.fixture(scope="module")
def config() -> ReleaseConfig:
    return load_release_config(REPO / "config" / "fedora.yaml")


def plugin(config: ReleaseConfig, name: str, arch: str = "x86_64") -> Any:
    artifact = next(a for a in config.artifacts_of("f24") if a.name == name)
    return for_target(Target(artifact, config.release("f24"), arch))


def test_mirror_paths_of_each_kind(config: ReleaseConfig) -> None:
    layout = config.mirror
    assert plugin(config, "atomic-host").mirror_paths(layout) == ["linux/atomic/repo"]
    assert plugin(config, "cloud-base-ami").mirror_paths(layout) == [
        "linux/releases/24/ami/x86_64/Fedora-Cloud-Base-24.x86_64.raw.xz",
        "linux/releases/24/ami/x86_64/Fedora-Cloud-Base-24.x86_64.raw.xz.manifest.json",
        "linux/releases/24/ami/x86_64/Fedora-Cloud-Base-24.x86_64.raw.xz-CHECKSUM",
    ]
    assert plugin(config, "installer-iso", "aarch64").mirror_paths(layout)[0] == (
        "linux/releases/24/installer-iso/aarch64/Fedora-Server-dvd-aarch64-24.iso"
    )
    assert (
        plugin(config, "pxe2live").mirror_paths(layout)[2].endswith("/Fedora-Atomic-pxe2live-x86_64-24.tar.gz-CHECKSUM")
    )
    assert plugin(config, "cloud-base-gce").mirror_paths(layout)[0].startswith("linux/releases/24/gce/x86_64/")


def test_every_output_goes_in_the_right_sync_pass(config: ReleaseConfig) -> None:
    """Content first (images, ostree objects), then metadata (the manifest JSON), indexes last (CHECKSUM, refs)."""
    entries: list[tuple[str, Any]] = []
    for name in ("installer-iso", "pxe2live", "cloud-base-ami", "cloud-base-gce"):
        entries += [(path, "file") for path in plugin(config, name).mirror_paths(config.mirror)]
    repo = plugin(config, "atomic-host").mirror_paths(config.mirror)[0]
    commit = "ab" * 32
    ostree_files = {
        f"{repo}/config": "index",
        f"{repo}/objects/ab/{commit[2:]}.commit": "content",
        f"{repo}/objects/ab/{commit[2:]}.commitmeta": "content",
        f"{repo}/deltas/q8/abcd/superblock": "content",
        f"{repo}/delta-indexes/q8/abcd.index": "metadata",
        f"{repo}/refs/heads/fedora/24/x86_64/atomic-host": "index",
        f"{repo}/summary": "index",
        f"{repo}/summary.sig": "index",
    }
    entries += [(path, "file") for path in ostree_files]
    classes = classify_tree(entries, website=config.mirror.website).classes
    for path, _ in entries:
        if path.startswith(repo):
            expected = ostree_files[path]
        elif path.endswith("-CHECKSUM"):
            expected = "index"
        elif path.endswith(".manifest.json"):
            expected = "metadata"
        else:
            expected = "content"
        assert classes[path] == expected, path


def test_koji_names_and_image_kinds(config: ReleaseConfig) -> None:
    names = {a.name: plugin(config, a.name).koji_name for a in config.artifacts_of("f24") if a.image}
    assert names == {
        "installer-iso": "Fedora-Server-dvd",
        "pxe2live": "Fedora-Atomic-pxe2live",
        "cloud-base-ami": "Fedora-Cloud-Base",
        "cloud-base-gce": "Fedora-Cloud-Base-GCE",
    }
    assert koji_name("Fedora-Cloud-Base-{version}.{arch}.raw.xz") == "Fedora-Cloud-Base"
    formats = {
        a.kind: (p.koji_format, p.published_format or p.koji_format, p.productmd_type)
        for a in config.artifacts_of("f24")
        if a.image
        for p in [plugin(config, a.name)]
    }
    assert formats == {  # what Koji makes, what is published, productmd's type
        "installer-iso": ("iso", "iso", "dvd"),
        "pxe2live": ("iso", "tar-gz", "tar-gz"),  # kojid's live ISO; the PXE tarball derived from it
        "ami": ("raw-xz", "raw-xz", "raw-xz"),
        "gce": ("tar-gz", "tar-gz", "tar-gz"),
    }


def _ostree_output(repo: str = "/mnt/koji/compose/ostree/repo") -> ComposeOutput:
    tree = OSTreeOutput(
        repo,
        "/mnt/koji/compose/staging/linux/atomic/repo",
        "fedora/24/x86_64/atomic-host",
        "c" * 64,
        None,
        "24.20160614.0",
        ("commit",),
    )
    return ComposeOutput(
        "atomic-host-24-x86_64",
        "ostree",
        "fedora/24/x86_64/atomic-host",
        MANIFEST,
        True,
        ("linux/atomic/repo",),
        ostree=tree,
    )


CANDIDATES = "/mnt/koji/compose/staging/.relengotron/candidates"


def _image_output(
    path: str = f"{CANDIDATES}/linux/releases/24/ami/x86_64/Fedora-Cloud-Base-24.x86_64.raw.xz",
) -> ComposeOutput:
    image = ImageOutput(path, "d" * 64, 42, path + "-CHECKSUM", path + ".manifest.json", "Fedora-Cloud-Base-24-1", 7)
    return ComposeOutput("cloud-base-ami-24-x86_64", "ami", Path(path).name, MANIFEST, True, (), image=image)


def test_announcements_name_candidates_by_url(config: ReleaseConfig) -> None:
    atomic, ami = plugin(config, "atomic-host"), plugin(config, "cloud-base-ami")
    served = config.translate_paths  # Fedora's: /mnt/koji/compose is https://kojipkgs.fedoraproject.org/compose
    assert atomic.announcement(_ostree_output(), served) == {
        "item": "atomic-host-24-x86_64",
        "kind": "ostree",
        "release": "f24",
        "arch": "x86_64",
        "label": "fedora/24/x86_64/atomic-host",
        "input_hash": MANIFEST.input_hash,
        "ostree": {
            "url": "https://kojipkgs.fedoraproject.org/compose/ostree/repo",
            "ref": "fedora/24/x86_64/atomic-host",
            "commit": "c" * 64,
            "version": "24.20160614.0",
        },
    }
    body = ami.announcement(_image_output(), served)
    assert (body["item"], body["kind"], body["release"], body["arch"]) == (
        "cloud-base-ami-24-x86_64",
        "ami",
        "f24",
        "x86_64",
    )
    url = (
        "https://kojipkgs.fedoraproject.org/compose/staging/.relengotron/candidates/"
        "linux/releases/24/ami/x86_64/Fedora-Cloud-Base-24.x86_64.raw.xz"
    )
    assert body["image"] == {
        "url": url,
        "sha256": "d" * 64,
        "size": 42,
        "format": "raw-xz",
        "manifest_url": url + ".manifest.json",
    }
    with pytest.raises(ValueError, match="is not this artifact's"):
        ami.announcement(_ostree_output(), served)
    for announced in (body, atomic.announcement(_ostree_output(), served)):  # what the bus carries follows its schema
        sent = schema_message("relengotron", "artifact.composed", announced)
        assert sent.url is not None and sent.url.startswith("https://kojipkgs.fedoraproject.org/compose/")

    # a pxe2live announces the format of what it publishes (the PXE tarball), not Koji's live ISO
    pxe = plugin(config, "pxe2live")
    path = f"{CANDIDATES}/linux/releases/24/pxe2live/x86_64/Fedora-Atomic-pxe2live-x86_64-24.tar.gz"
    image = ImageOutput(
        path, "e" * 64, 42, path + "-CHECKSUM", path + ".manifest.json", "Fedora-Atomic-pxe2live-24-1", 8
    )
    output = ComposeOutput("pxe2live-24-x86_64", "pxe2live", Path(path).name, MANIFEST, True, (), image=image)
    assert pxe.announcement(output, served)["image"]["format"] == "tar-gz"


def test_a_candidate_no_url_serves_is_not_announced(config: ReleaseConfig) -> None:
    """Test systems fetch candidates by URL: a path outside every translate_paths prefix is an error, never a path."""
    ami, atomic = plugin(config, "cloud-base-ami"), plugin(config, "atomic-host")
    with pytest.raises(ArtifactError, match=r"Fedora-Cloud-Base-24.x86_64.raw.xz: its image /srv/.* is not served"):
        ami.announcement(_image_output("/srv/candidates/Fedora-Cloud-Base-24.x86_64.raw.xz"), config.translate_paths)
    with pytest.raises(ArtifactError, match="its shared OSTree repository /srv/ostree/repo is not served"):
        atomic.announcement(_ostree_output("/srv/ostree/repo"), config.translate_paths)


def test_what_resultsdb_is_asked(config: ReleaseConfig) -> None:
    ami = plugin(config, "cloud-base-ami")
    subject = ami.test_item()
    assert (subject.type, subject.item, subject.name) == (
        "compose-artifact",
        "cloud-base-ami-24-x86_64",
        "cloud-base-ami",
    )
    assert ami.test_cases() == ("compose.image.checksum", "compose.image.content", "compose.cloud.boot")
    assert plugin(config, "atomic-host").test_cases() == (
        "compose.ostree.fsck",
        "compose.ostree.content",
        "compose.atomic.boot",
    )


def test_outputs_survive_json() -> None:
    for output in (_ostree_output(), _image_output()):
        assert ComposeOutput.from_dict(json.loads(json.dumps(output.as_dict()))) == output


# --- the image compose's own checks, with a Koji stand-in -----------------------------------------------------


class NoKoji:
    """A Koji that fails the test when called: a staged, complete output must be reused without asking it."""

    topurl = "http://127.0.0.1:9/kojifiles"

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"Koji was called: {name}")


def _context(config: ReleaseConfig, tmp_path: Path, koji: Any) -> ComposeContext:
    from dataclasses import replace

    layout = replace(config.mirror, staging=tmp_path / "staging")
    return ComposeContext(koji=koji, layout=layout, ostree=config.ostree, workdir=tmp_path / "work")


def _stage(ctx: ComposeContext, ami: ImageArtifact, manifest: Manifest, image_bytes: bytes = b"IMAGE") -> Path:
    image = ctx.staging / ami.mirror_paths(ctx.layout)[0]
    image.parent.mkdir(parents=True)
    image.write_bytes(image_bytes)
    image.with_name(image.name + ".manifest.json").write_text(manifest.to_json())
    entry = ChecksumEntry(image.name, "SHA256", sha256_file(image), len(image_bytes))
    image.with_name(ami.checksum_name).write_text(render_checksums([entry]))
    return image


def test_a_complete_staged_image_is_reused(config: ReleaseConfig, tmp_path: Path) -> None:
    ami = plugin(config, "cloud-base-ami")
    ctx = _context(config, tmp_path, NoKoji())
    image = _stage(ctx, ami, MANIFEST)
    out = ami.compose(ctx, MANIFEST)
    assert not out.changed and out.image is not None
    assert (out.image.path, out.image.sha256, out.image.koji_build) == (str(image), sha256_file(image), None)

    other = Manifest.of(["bash-4.3.42-5.fc24", "glibc-2.23.1-7.fc24"])
    with pytest.raises(AssertionError, match="Koji was called"):
        ami.compose(ctx, other)  # another manifest: a new image is needed
    image.write_bytes(b"HALF-WRITTEN")
    with pytest.raises(AssertionError, match="Koji was called"):
        ami.compose(ctx, MANIFEST)  # the CHECKSUM no longer lists this image: composed again


class WrongImageKoji:
    """A Koji whose tag holds the manifest but whose image task installed another glibc (the tag moved)."""

    topurl = "http://127.0.0.1:9/kojifiles"

    def __init__(self) -> None:
        self.builds_by_nvr = {nvr: _build(i, nvr) for i, nvr in enumerate(MANIFEST.nvrs, 1)}

    def latest_tagged(self, tag: str, *, inherit: bool = False) -> list[KojiBuild]:
        return list(self.builds_by_nvr.values())

    def build_target_for(self, tag: str) -> str:
        return "f24-candidate"

    def dist_repo(self, tag: str, keys: list[str], *, arches: list[str], item: str, timeout: float) -> str:
        assert (tag, keys, arches) == ("f24", ["81b46521"], ["x86_64"])
        return f"{self.topurl}/repos-dist/f24/3"

    def build_image_oz(self, *args: Any, item: str) -> int:
        """The production configuration's AMI request: fedora-kickstarts' cloud kickstart by ksurl, both formats."""
        *positional, opts = args
        assert positional == [
            "Fedora-Cloud-Base",
            "24",
            ["x86_64"],
            "f24-candidate",
            f"{self.topurl}/repos-dist/f24/3/x86_64/",
        ]
        assert opts["ksurl"] == "git+https://pagure.io/fedora-kickstarts.git?#origin/f24"
        assert opts["kickstart"] == "fedora-cloud-base.ks" and opts["format"] == ["qcow2", "raw-xz"]
        assert opts["distro"] == "Fedora-24" and opts["repo"] == [positional[-1]] and opts["ksversion"] == "F24"
        return 7

    def wait_task(self, task_id: int, *, item: str, timeout: float) -> None:
        assert task_id == 7

    def image_result(self, task_id: int, *, item: str) -> list[KojiImage]:
        rpms = ("bash-4.3.42-5.fc24", "glibc-2.23.1-9.fc24")
        url = f"{self.topurl}/packages/Fedora-Cloud-Base/24/1/images/Fedora-Cloud-Base-24-1.x86_64.raw.xz"
        return [KojiImage(8, "Fedora-Cloud-Base-24-1", "x86_64", url.rsplit("/", 1)[1], url, 5, "", "md5", rpms)]

    def builds(self, nvrs: Any) -> dict[str, KojiBuild]:
        return {nvr: self.builds_by_nvr[nvr] for nvr in nvrs}

    def rpms_of(self, builds: Any) -> dict[int, list[KojiRPM]]:
        return {b.id: [_rpm(b, "src"), _rpm(b, "noarch")] for b in builds}


def _build(build_id: int, nvr: str) -> KojiBuild:
    name, version, release = nvr.rsplit("-", 2)
    return KojiBuild(build_id, nvr, name, version, release, None)


def _rpm(build: KojiBuild, arch: str) -> KojiRPM:
    return KojiRPM(build.id * 10 + len(arch), build.id, build.name, build.version, build.release, None, arch, 1, "", 0)


def test_an_image_that_does_not_hold_its_manifest_is_refused(config: ReleaseConfig, tmp_path: Path) -> None:
    ami = plugin(config, "cloud-base-ami")
    ctx = _context(config, tmp_path, WrongImageKoji())
    with pytest.raises(ArtifactError) as caught:
        ami.compose(ctx, MANIFEST)
    assert str(caught.value) == (
        "Fedora-Cloud-Base-24.x86_64.raw.xz: Koji image build Fedora-Cloud-Base-24-1 does not hold its manifest "
        "(did tag f24 change meanwhile?): missing glibc-2.23.1-8.fc24; not in the manifest glibc-2.23.1-9.fc24"
    )
    assert not (ctx.staging / "linux").exists()  # nothing public
    candidate = ctx.candidates / ami.mirror_paths(ctx.layout)[0]
    assert not candidate.exists() and not candidate.with_name(ami.checksum_name).exists()  # no candidate either


def test_the_content_koji_lists_is_checked_against_the_manifests_builds() -> None:
    """An image holds the binary RPMs of exactly the manifest's builds; the empty list kojid's LiveMediaTask always
    reports is accepted only when the artifact's tests open the image (compose.image.content)."""
    owner = {"bash-4.3.42-5.fc24": "bash-4.3.42-5.fc24", "glibc-2.23.1-8.fc24": "glibc-2.23.1-8.fc24"}
    nvrs = MANIFEST.nvrs
    assert content_error("X-24-1", list(owner), nvrs, owner, tag="f24", opened_later=False) is None
    assert content_error("X-24-1", ["bash-4.3.42-5.fc24", "glibc-2.23.1-9.fc24"], nvrs, owner, tag="f24",
                         opened_later=True) == (
        "Koji image build X-24-1 does not hold its manifest (did tag f24 change meanwhile?): "
        "missing glibc-2.23.1-8.fc24; not in the manifest glibc-2.23.1-9.fc24"
    )  # fmt: skip
    assert content_error("X-24-1", [], nvrs, owner, tag="f24", opened_later=True) is None
    refused = content_error("X-24-1", [], nvrs, owner, tag="f24", opened_later=False)
    assert refused is not None and "lists no RPMs" in refused and "compose.image.content" in refused


def test_live_media_are_opened_later_only_when_their_tests_say_so(config: ReleaseConfig, tmp_path: Path) -> None:
    """The plugins' side: the installer ISO (live media, its tests opening it) passes with Koji's empty list, asking
    Koji nothing; without the content test, or from image-build (the AMI), it is refused naming the image."""
    from dataclasses import replace

    ctx = _context(config, tmp_path, NoKoji())
    url = "http://127.0.0.1:9/kojifiles/packages/X/24/1/images/X.iso"
    empty = KojiImage(8, "X-24-1", "x86_64", "X.iso", url, 5, "", "md5", ())
    iso = plugin(config, "installer-iso")
    iso._check_content(ctx, MANIFEST, empty, "f24")
    untested = for_target(Target(replace(iso.artifact, tests=("compose.image.checksum",)), iso.release, iso.arch))
    with pytest.raises(ArtifactError, match=r"lists no RPMs: .* tests do not include compose\.image\.content"):
        untested._check_content(ctx, MANIFEST, empty, "f24")
    with pytest.raises(ArtifactError, match=r"^Fedora-Cloud-Base-24\.x86_64\.raw\.xz: Koji image build X-24-1 lists"):
        plugin(config, "cloud-base-ami")._check_content(ctx, MANIFEST, empty, "f24")


def test_a_release_without_signing_key_gets_no_signed_repository(config: ReleaseConfig, tmp_path: Path) -> None:
    """Images and remote OSTree composes install only from a dist-repo of the release key's copies: no key, no
    repository — refused naming the artifact, before anything is asked of Koji."""
    from dataclasses import replace

    ctx = _context(config, tmp_path, NoKoji())
    gce = plugin(config, "cloud-base-gce")
    keyless = for_target(Target(gce.artifact, replace(gce.release, signing_key=None), gce.arch))
    with pytest.raises(ArtifactError, match=r"^Fedora-Cloud-Base-GCE-24\.x86_64\.tar\.gz: release f24 has no signing"):
        keyless.signed_repository(ctx, "f24-updates")


def test_an_ostree_artifact_composed_remotely_needs_the_compose_host(config: ReleaseConfig, tmp_path: Path) -> None:
    atomic = plugin(config, "atomic-host")
    assert isinstance(atomic, OSTreeArtifact) and atomic.artifact.compose == "remote"
    with pytest.raises(ArtifactError, match=r"^fedora/24/x86_64/atomic-host: compose: remote needs the compose host"):
        atomic.compose(_context(config, tmp_path, NoKoji()), MANIFEST)
