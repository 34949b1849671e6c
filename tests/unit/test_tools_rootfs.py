"""The root installer's pure parts: the .repo it writes, how dnf's refusals are named, the exactness check."""

from __future__ import annotations

import pytest

from relengotron.tools.rootfs import InstalledPackage, RootfsError, YumRepo, _check_installed, _explain


def test_a_repository_is_always_checked_against_its_keys() -> None:
    repo = YumRepo("fedora-24", "http://x/f24/", ("file:///k1.asc", "file:///k2.asc"))
    assert repo.text() == (
        "[fedora-24]\nname=fedora-24\nbaseurl=http://x/f24/\nenabled=1\n"
        "gpgcheck=1\nrepo_gpgcheck=0\ngpgkey=file:///k1.asc file:///k2.asc\n"
    )
    with pytest.raises(RootfsError, match="fedora-24: no gpgkey"):
        YumRepo("fedora-24", "http://x/f24/", ())
    with pytest.raises(RootfsError, match="bad yum repository id"):
        YumRepo("../x", "http://x/", ("file:///k.asc",))


@pytest.mark.parametrize(
    ("dnf_said", "explained"),
    [
        ("No match for argument: zsh-5-1\nError: Unable to find a match: zsh-5-1", "package zsh-5-1: no repository"),
        (
            "Package bash-4-6.fc24.noarch.rpm is not signed\nError: GPG check FAILED",
            "package bash-4-6.fc24.noarch: not",
        ),
        ("Public key for bash-4.rpm is not installed\nError: GPG check FAILED", "signature check failed"),
        (
            "Error: \n Problem: package coreutils-8-6.noarch requires /bin/sh, "
            "but none of the providers can be installed"
            "\n  - conflicting requests",
            "dependency cannot be resolved: package coreutils-8-6.noarch requires /bin/sh",
        ),
        (
            "Error: \n Problem: conflicting requests\n  - nothing provides libfoo.so.1 needed by bar-1-1.noarch",
            "dependency cannot be resolved: nothing provides libfoo.so.1 needed by bar-1-1.noarch",
        ),
        ("Curl error (37): Couldn't read a file", "dnf failed: Curl error (37)"),
    ],
)
def test_dnf_refusals_name_the_package(dnf_said: str, explained: str) -> None:
    assert _explain(dnf_said, ["bash"]).startswith(explained)


def _pkg(nvr: str, arch: str = "noarch") -> InstalledPackage:
    name, version, release = nvr.rsplit("-", 2)
    return InstalledPackage(name, "0", version, release, arch, f"{nvr}.src.rpm")


def test_the_installed_set_must_be_exactly_the_request() -> None:
    installed = [_pkg("bash-4-5.fc24"), _pkg("glibc-2-7.fc24", "x86_64")]
    _check_installed(installed, ["bash-4-5.fc24", "glibc-2-7.fc24.x86_64"], "item", exact=True)
    assert installed[1].nevra == "glibc-0:2-7.fc24.x86_64" and installed[1].build == "glibc-2-7.fc24"
    with pytest.raises(RootfsError, match=r"^item: package zsh-5-1: requested but not installed"):
        _check_installed(installed, ["bash-4-5.fc24", "glibc-2-7.fc24", "zsh-5-1"], "item", exact=True)
    with pytest.raises(RootfsError, match=r"^item: package glibc-2-7.fc24: installed but not requested"):
        _check_installed(installed, ["bash"], "item", exact=True)


def test_with_dependencies_the_installed_set_must_hold_the_request() -> None:
    installed = [_pkg("bash-4-5.fc24"), _pkg("glibc-2-7.fc24", "x86_64")]
    _check_installed(installed, ["bash"], "item", exact=False)  # glibc came in as bash's dependency
    with pytest.raises(RootfsError, match=r"^item: package zsh: requested but not installed$"):
        _check_installed(installed, ["bash", "zsh"], "item", exact=False)
