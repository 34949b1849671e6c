"""Manifests, their input hash, the version scheme, and reading a released manifest back from metadata."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relengotron.ostree.manifest import (
    KEY_ENDOFLIFE,
    KEY_INPUT_HASH,
    KEY_MANIFEST,
    KEY_VERSION,
    Manifest,
    ManifestError,
    next_version,
    released_from_metadata,
    split_nvr,
)

NVRS = ["bash-4.3.42-5.fc24", "glibc-2.23.1-7.fc24", "python3-urllib3-1.15.1-2.fc24"]


def test_split_nvr() -> None:
    assert split_nvr("python3-urllib3-1.15.1-2.fc24") == ("python3-urllib3", "1.15.1", "2.fc24")
    for bad in ("bash", "bash-4.3", "bash-4.3-1 fc24", "-1-2"):
        with pytest.raises(ManifestError, match="not a name-version-release"):
            split_nvr(bad)


def test_manifest_is_sorted_unique_and_hashed() -> None:
    manifest = Manifest.of(reversed([*NVRS, NVRS[0]]))
    assert manifest.nvrs == tuple(NVRS)
    assert manifest.input_hash == hashlib.sha256("".join(f"{n}\n" for n in NVRS).encode()).hexdigest()
    assert manifest.names()["python3-urllib3"] == "python3-urllib3-1.15.1-2.fc24"


def test_two_builds_of_one_package_are_refused() -> None:
    with pytest.raises(ManifestError, match=r"package bash appears twice.*bash-4.3.42-5.fc24 and bash-4.3.42-6.fc24"):
        Manifest.of(["bash-4.3.42-5.fc24", "bash-4.3.42-6.fc24"])


_nvr = st.from_regex(r"[a-z][a-z0-9]{0,6}-[0-9]\.[0-9]-[0-9]\.fc2[0-9]", fullmatch=True)


@given(st.lists(_nvr, unique_by=lambda n: n.split("-")[0]), st.randoms())
def test_the_hash_depends_on_the_set_only(nvrs: list[str], rnd) -> None:
    shuffled = list(nvrs)
    rnd.shuffle(shuffled)
    assert Manifest.of(nvrs).input_hash == Manifest.of(shuffled).input_hash


@given(st.lists(_nvr, min_size=1, unique_by=lambda n: n.split("-")[0]), st.data())
def test_changing_one_nvr_changes_the_hash(nvrs: list[str], data) -> None:
    index = data.draw(st.integers(0, len(nvrs) - 1))
    changed = list(nvrs)
    changed[index] = changed[index] + ".1"
    assert Manifest.of(nvrs).input_hash != Manifest.of(changed).input_hash


def test_versions() -> None:
    day = date(2016, 6, 14)
    assert next_version("24", day, None) == "24.20160614.0"
    assert next_version("24", day, "24.20160614.0") == "24.20160614.1"
    assert next_version("24", day, "24.20160614.9") == "24.20160614.10"
    assert next_version("24", day, "24.20160613.4") == "24.20160614.0"
    assert next_version("24", day, "25.20160614.4") == "24.20160614.0"
    assert next_version("24", day, "24.20160614.x") == "24.20160614.0"


def test_released_manifest_from_metadata() -> None:
    manifest = Manifest.of(NVRS)
    metadata = {KEY_VERSION: "24.20160614.0", KEY_MANIFEST: list(NVRS), KEY_INPUT_HASH: manifest.input_hash}
    released = released_from_metadata("fedora/24/x86_64/atomic-host", "c" * 64, 1466000000, metadata)
    assert released is not None
    assert (released.version, released.manifest, released.endoflife) == ("24.20160614.0", manifest, None)
    eol = released_from_metadata("r", "c" * 64, 0, {**metadata, KEY_ENDOFLIFE: "gone"})
    assert eol is not None and eol.endoflife == "gone"
    assert released_from_metadata("r", "c" * 64, 0, {KEY_VERSION: "1"}) is None


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({KEY_MANIFEST: "bash-1-1"}, "is not a list of strings"),
        ({KEY_MANIFEST: ["bash"]}, "'bash' is not a name-version-release"),
        ({KEY_MANIFEST: ["bash-1-1"], KEY_INPUT_HASH: "0" * 64}, "does not match the manifest"),
        ({KEY_MANIFEST: ["bash-1-1"]}, "input-hash None does not match"),
    ],
)
def test_a_corrupt_recorded_manifest_names_ref_and_commit(metadata: dict, message: str) -> None:
    with pytest.raises(ManifestError, match=r"^fedora/24/x86_64/atomic-host \(commit c+\): .*" + message):
        released_from_metadata("fedora/24/x86_64/atomic-host", "c" * 64, 0, metadata)
