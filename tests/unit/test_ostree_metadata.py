"""What a commit records (version, manifest, end of life) read back for the planner, and the version scheme."""

from __future__ import annotations

from datetime import date

import pytest

from relengotron.manifest import KEY_INPUT_HASH, KEY_MANIFEST, Manifest, ManifestError
from relengotron.ostree.metadata import KEY_ENDOFLIFE, KEY_VERSION, next_version, released_from_metadata

NVRS = ["bash-4.3.42-5.fc24", "glibc-2.23.1-7.fc24", "python3-urllib3-1.15.1-2.fc24"]


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
    metadata = {KEY_VERSION: "24.20160614.0", **manifest.metadata()}
    released = released_from_metadata("fedora/24/x86_64/atomic-host", "c" * 64, 1466000000, metadata)
    assert released is not None
    assert (released.version, released.manifest, released.endoflife) == ("24.20160614.0", manifest, None)
    assert (released.ref, released.commit, released.timestamp) == ("fedora/24/x86_64/atomic-host", "c" * 64, 1466000000)
    assert released.input_hash == metadata[KEY_INPUT_HASH]
    eol = released_from_metadata("r", "c" * 64, 0, {**metadata, KEY_ENDOFLIFE: "gone"})
    assert eol is not None and eol.endoflife == "gone"
    assert released_from_metadata("r", "c" * 64, 0, {KEY_VERSION: "1"}) is None


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({KEY_MANIFEST: "bash-1-1"}, "is not a list of strings"),
        ({KEY_MANIFEST: ["bash"]}, "'bash' is not a name-version-release"),
        ({KEY_MANIFEST: ["bash-1-1"], KEY_INPUT_HASH: "0" * 64}, "does not match its NVRs"),
        ({KEY_MANIFEST: ["bash-1-1"]}, "input-hash None does not match"),
    ],
)
def test_a_corrupt_recorded_manifest_names_ref_and_commit(metadata: dict, message: str) -> None:
    with pytest.raises(ManifestError, match=r"^fedora/24/x86_64/atomic-host \(commit c+\): .*" + message):
        released_from_metadata("fedora/24/x86_64/atomic-host", "c" * 64, 0, metadata)
