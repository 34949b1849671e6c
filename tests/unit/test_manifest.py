"""The one manifest type: sorted NVRs, the input hash, and reading it back from JSON and commit metadata."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relengotron.manifest import KEY_INPUT_HASH, KEY_MANIFEST, Manifest, ManifestError, input_hash, parse_nvr

NVRS = ["bash-4.3.42-5.fc24", "glibc-2.23.1-7.fc24", "python3-urllib3-1.15.1-2.fc24"]
BASE = ["bash-4.3.42-5.fc24", "glibc-2.23.1-7.fc24", "ostree-2016.6-1.fc24", "anaconda-24.13.7-1.fc24"]


def test_parse_nvr() -> None:
    assert parse_nvr("python3-urllib3-1.15.1-2.fc24", item="x") == ("python3-urllib3", "", "1.15.1", "2.fc24")
    assert parse_nvr("1:foo-1.0-1.fc24", item="x") == ("foo", "1", "1.0", "1.fc24")
    assert parse_nvr("foo-1:1.0-1.fc24", item="x") == ("foo", "1", "1.0", "1.fc24")
    for bad in ("bash", "bash-4.3", "bash-4.3-1 fc24", "-1-2", "a/b-1-1", "bash--1"):
        with pytest.raises(ManifestError, match=f"^update U1: {bad!r} is not a name-version-release$"):
            parse_nvr(bad, item="update U1")


def test_manifest_is_sorted_unique_and_hashed() -> None:
    manifest = Manifest.of(reversed([*NVRS, NVRS[0]]))
    assert manifest.nvrs == tuple(NVRS)
    assert manifest.input_hash == hashlib.sha256("".join(f"{n}\n" for n in NVRS).encode()).hexdigest()
    assert manifest.input_hash == input_hash(reversed(NVRS))
    assert manifest.packages["python3-urllib3"] == "python3-urllib3-1.15.1-2.fc24"
    small = Manifest.of(["glibc-2.23.1-7.fc24", "bash-4.3.42-5.fc24", "bash-4.3.42-5.fc24"])
    assert small.nvrs == ("bash-4.3.42-5.fc24", "glibc-2.23.1-7.fc24")
    assert small.input_hash == hashlib.sha256(b"bash-4.3.42-5.fc24\nglibc-2.23.1-7.fc24\n").hexdigest()
    assert small.packages == {"bash": "bash-4.3.42-5.fc24", "glibc": "glibc-2.23.1-7.fc24"}


def test_two_builds_of_one_package_are_refused() -> None:
    with pytest.raises(
        ManifestError, match=r"^fedora/24: two builds of bash: bash-4.3.42-5.fc24 and bash-4.3.42-6.fc24$"
    ):
        Manifest.of(["bash-4.3.42-6.fc24", "bash-4.3.42-5.fc24"], item="fedora/24")


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


def test_manifest_round_trips_through_json_and_commit_metadata() -> None:
    manifest = Manifest.of(BASE)
    assert Manifest.from_json(manifest.to_json(), source="x.manifest.json") == manifest
    assert json.loads(manifest.to_json()) == {"nvrs": list(manifest.nvrs), "input_hash": manifest.input_hash}
    meta = manifest.metadata()
    assert meta == {KEY_MANIFEST: list(manifest.nvrs), KEY_INPUT_HASH: manifest.input_hash}
    assert Manifest.from_metadata(meta, source="commit abc") == manifest
    assert Manifest.from_metadata({"version": "24.1"}, source="commit abc") is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "corrupt manifest (JSONDecodeError"),
        ('{"nvrs": []}', "corrupt manifest (KeyError"),
        ('{"nvrs": "bash-1-1", "input_hash": "x"}', "corrupt manifest (nvrs is not a list of strings)"),
        (
            '{"nvrs": ["bash-1-1"], "input_hash": "0000"}',
            "corrupt manifest (input hash '0000' does not match its NVRs)",
        ),
        ('{"nvrs": ["bash"], "input_hash": "0000"}', "'bash' is not a name-version-release"),
        ('{"nvrs": ["bash-1-1", "bash-2-1"], "input_hash": "0"}', "two builds of bash: bash-1-1 and bash-2-1"),
    ],
)
def test_a_corrupt_manifest_json_is_an_error_naming_its_source(text: str, reason: str) -> None:
    with pytest.raises(ManifestError, match=r"^images/x\.manifest\.json: ") as caught:
        Manifest.from_json(text, source="images/x.manifest.json")
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({KEY_MANIFEST: "bash-1-1"}, r"corrupt manifest \(relengotron.manifest is not a list of strings\)"),
        ({KEY_MANIFEST: ["bash"]}, "'bash' is not a name-version-release"),
        ({KEY_MANIFEST: ["bash-1-1"], KEY_INPUT_HASH: "0" * 64}, r"input-hash '0+' does not match its NVRs"),
        ({KEY_MANIFEST: ["bash-1-1"], KEY_INPUT_HASH: "feed"}, r"corrupt manifest \(relengotron.input-hash 'feed'"),
        ({KEY_MANIFEST: ["bash-1-1"]}, "input-hash None does not match"),
    ],
)
def test_corrupt_commit_metadata_is_an_error_naming_its_source(metadata: dict, message: str) -> None:
    with pytest.raises(ManifestError, match=r"^fedora/24/x86_64/atomic-host \(commit c+\): .*" + message):
        Manifest.from_metadata(metadata, source=f"fedora/24/x86_64/atomic-host (commit {'c' * 64})")
