"""Image requests: the artifact's ``image_request`` is checked when the configuration loads (its kickstart parsed
with pykickstart for each release's version, the Koji method's options against what the koji CLI sends), and
the hub call built from it is the one ``koji image-build`` / ``koji spin-livemedia`` would send."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_config import GOOD, write

from relengotron.artifacts import load_release_config
from relengotron.artifacts.images import AMI, GCE, InstallerISO, Pxe2Live
from relengotron.imagerequest import KOJI_OPTIONS, ImageRequest, koji_call, ksversion_for
from relengotron.yamlfile import FileError

KICKSTART = """\
lang en_US.UTF-8
rootpw --lock --iscrypted locked
%packages
bash
glibc
%end
"""
AMI_BLOCK = """\
  - name: cloud-base-ami
    kind: ami
    releases: [f24]
    image: Fedora-Cloud-Base-{version}.{arch}.raw.xz
"""
REPO = "http://koji.example/kojifiles/repos-dist/f24-updates/7/x86_64/"


def config_with(tmp_path: Path, request: str, kickstart: str = KICKSTART) -> Path:
    (tmp_path / "ks").mkdir(exist_ok=True)
    (tmp_path / "ks" / "cloud.ks").write_text(kickstart)
    return write(tmp_path, GOOD.replace(AMI_BLOCK, AMI_BLOCK + f"    image_request: {request}\n"))


def test_a_kickstart_request_loads_checked_for_each_release(tmp_path: Path) -> None:
    config = load_release_config(config_with(tmp_path, '{kickstart: ks/cloud.ks, distro: "Fedora-{version}"}'))
    [ami] = [a for a in config.artifacts if a.name == "cloud-base-ami"]
    request = ami.image_request
    assert request is not None and request.path == tmp_path / "ks" / "cloud.ks" and request.kickstart == "cloud.ks"
    assert request.options == {"distro": "Fedora-{version}"} and request.version_for("24") == "F24"
    assert ksversion_for("rawhide") == "DEVEL"


def test_a_kickstart_that_does_not_parse_names_the_artifact_and_the_line(tmp_path: Path) -> None:
    broken = KICKSTART.replace("rootpw", "bogus --foo\nrootpw")
    with pytest.raises(FileError) as caught:
        load_release_config(config_with(tmp_path, "{kickstart: ks/cloud.ks, distro: Fedora-24}", broken))
    message = str(caught.value)
    assert "artifact cloud-base-ami of release f24" in message and "cloud.ks" in message
    assert "line 2" in message and "Unknown command: bogus" in message
    assert "artifacts[1].image_request" in message  # file, line and key, as every configuration error


@pytest.mark.parametrize(
    ("request_text", "words"),
    [
        ("{kickstart: ks/none.ks, distro: Fedora-24}", "no kickstart file"),
        ("{kickstart: ks/cloud.ks}", "'distro' is required"),
        (
            "{kickstart: ks/cloud.ks, distro: Fedora-24, packages: [bash]}",
            "'packages' is not an option of Koji's image",
        ),
        ("{kickstart: ks/cloud.ks, distro: Fedora-24, repo: [http://x]}", "set by releng-o-tron itself"),
        ("{kickstart: ks/cloud.ks, distro: Fedora-24, noverifyssl: true}", "not allowed"),
        ("{kickstart: ks/cloud.ks, distro: Fedora-24, format: [qcow2]}", "is the raw-xz format: list it"),
        ("{kickstart: ks/cloud.ks, distro: Fedora-24, format: [floppy]}", "format 'floppy' is not one kojid makes"),
        ("{kickstart: ks/cloud.ks, distro: Debian-12}", "not one kojid knows"),
        ("{kickstart: ks/cloud.ks, distro: Fedora-24, disk_size: [4]}", "'disk_size' must be int or str"),
        ("{kickstart: cloud.ks, ksurl: https://pagure.io/x.git}", "not an SCM URL kojid accepts"),
        ("{kickstart: ks/cloud.ks, ksversion: F99, distro: Fedora-24}", "knows no kickstart version 'F99'"),
    ],
)
def test_a_request_koji_would_not_take_is_refused_at_load(tmp_path: Path, request_text: str, words: str) -> None:
    with pytest.raises(FileError, match="image_request") as caught:
        load_release_config(config_with(tmp_path, request_text))
    assert words in str(caught.value)


def test_a_kickstart_without_packages_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileError, match="has no %packages section"):
        load_release_config(config_with(tmp_path, "{kickstart: ks/cloud.ks, distro: Fedora-24}", "lang en_US\n"))


def test_only_image_kinds_take_a_request(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    tests: [compose.ostree.fsck]\n", "    tests: [compose.ostree.fsck]\n    image_request: {}\n"
    )
    with pytest.raises(FileError, match="a ostree artifact takes no image_request"):
        load_release_config(write(tmp_path, text))


def test_the_image_build_call_is_the_one_koji_image_build_sends() -> None:
    """koji_cli's _build_image_oz: ``buildImageOz(name, version, arches, target, inst_tree, opts)``; the uploaded
    kickstart is ``work/<dir>/<name>``; disk_size is the CLI's default 10; every opt is one the CLI passes."""
    request = ImageRequest(kickstart="cloud.ks", path=Path("/cfg/cloud.ks"), options={"distro": "Fedora-{version}"})
    call = koji_call(
        AMI.koji_method, request, name="Fedora-Cloud-Base", version="24", arch="x86_64", target="f24-updates-image",
        ksfile="cli-image/1480000000.1.abcd/cloud.ks", repos=[REPO], ksversion="F24", defaults=AMI.koji_options,
    )  # fmt: skip
    assert call.method == "buildImageOz"
    assert call.args == ("Fedora-Cloud-Base", "24", ["x86_64"], "f24-updates-image", REPO)
    assert call.opts == {
        "format": ["raw-xz"],
        "distro": "Fedora-24",
        "ksversion": "F24",
        "kickstart": "work/cli-image/1480000000.1.abcd/cloud.ks",
        "repo": [REPO],
        "skip_tag": True,
        "disk_size": 10,
    }
    assert set(call.opts) <= KOJI_OPTIONS["image"]


def test_a_ksurl_request_names_the_checkout_and_fills_in_the_release() -> None:
    request = ImageRequest(
        kickstart="fedora-cloud-base.ks",
        ksurl="git+https://pagure.io/fedora-kickstarts.git?#origin/f{version}",
        install_tree="https://dl.example/releases/{version}/Everything/$arch/os/",
        options={"distro": "Fedora-{version}", "format": ["qcow2", "tar-gz"], "disk_size": 4},
    )
    call = koji_call(
        GCE.koji_method, request, name="Fedora-Cloud-Base-GCE", version="25", arch="x86_64", target="f25",
        ksfile=None, repos=[REPO], ksversion="F25", defaults=GCE.koji_options,
    )  # fmt: skip
    assert call.args[-1] == "https://dl.example/releases/25/Everything/$arch/os/"
    assert call.opts["ksurl"] == "git+https://pagure.io/fedora-kickstarts.git?#origin/f25"
    assert call.opts["kickstart"] == "fedora-cloud-base.ks" and call.opts["format"] == ["qcow2", "tar-gz"]
    assert call.opts["disk_size"] == 4 and call.opts["distro"] == "Fedora-25"


def test_live_media_calls_are_the_ones_koji_spin_livemedia_sends() -> None:
    """koji_cli's _build_image: ``buildImage(name, version, [arch], target, ksfile, 'livemedia', opts)`` with the
    uploaded kickstart as ``<dir>/<name>`` (kojid reads ``work/<ksfile>``)."""
    request = ImageRequest(kickstart="pxe.ks", path=Path("/cfg/pxe.ks"))
    for kind, extra in ((Pxe2Live, {"squashfs_only": True}), (InstallerISO, {})):
        call = koji_call(
            kind.koji_method, request, name="Fedora-Atomic-pxe2live", version="24", arch="x86_64", target="f24",
            ksfile="cli-livemedia/1.x/pxe.ks", repos=[REPO], ksversion="F24", defaults=kind.koji_options,
        )  # fmt: skip
        assert call.method == "buildImage"
        assert call.args == ("Fedora-Atomic-pxe2live", "24", ["x86_64"], "f24", "cli-livemedia/1.x/pxe.ks", "livemedia")
        assert call.opts == {
            **extra, "ksversion": "F24", "repo": [REPO], "skip_tag": True, "install_tree_url": REPO,
        }  # fmt: skip
        assert set(call.opts) <= KOJI_OPTIONS["livemedia"]
