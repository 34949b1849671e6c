"""The release configuration: the shipped files load; every kind of mistake names file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from relengotron.artifacts import load_release_config
from relengotron.yamlfile import FileError

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
releases:
  f24:
    name: Fedora 24
    version: 24
    state: active
    dist: fc24
    signing_key: 81B46521
    successor: f25
    tags: {build: f24, signing_pending: f24-signing-pending, testing_pending: f24-updates-testing-pending,
           testing: f24-updates-testing, stable: f24-updates}
    signing_chain:
      - {from: f24-signing-pending, to: f24-updates-testing-pending}
  f25:
    name: Fedora 25
    version: 25
    state: active
    dist: fc25
    tags: {build: f25}
artifacts:
  - name: atomic-host
    kind: ostree
    releases: [f24, f25]
    ref: fedora/{version}/{arch}/atomic-host
    tests: [compose.ostree.fsck]
  - name: cloud-base-ami
    kind: ami
    releases: [f24]
    image: Fedora-Cloud-Base-{version}.{arch}.raw.xz
gating: {policies: policies.yaml}
ostree: {repo: ostree/repo, retention: {keep_days: 7, keep_last: 2}}
mirror:
  staging: staging
  master: mirror
  archive: host.example.org:/srv/archive
  updates: "updates/{stream}/{version}/{arch}"
  images: "releases/{version}/{kind}/{arch}"
  ostree: atomic/repo
  website: website
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "releng.yaml"
    path.write_text(text)
    return path


def test_a_good_file_loads_with_derived_values(tmp_path: Path) -> None:
    config = load_release_config(write(tmp_path, GOOD))
    f24 = config.release("f24")
    assert f24.signing_key == "81b46521"  # normalised to Koji's lower-case sigkey
    assert f24.pdc_release == "fedora-24" and f24.bugzilla_version == "24"
    assert f24.signing_chain == (("f24-signing-pending", "f24-updates-testing-pending"),)
    assert f24.tag("testing") == "f24-updates-testing"
    with pytest.raises(KeyError, match="release f24 has no quarantine tag"):
        f24.tag("quarantine")
    assert [(a.release, a.name) for a in config.artifacts] == [
        ("f24", "atomic-host"),
        ("f25", "atomic-host"),
        ("f24", "cloud-base-ami"),
    ]
    atomic = config.artifacts_of("f24")[0]
    assert atomic.ostree_ref(f24, "x86_64") == "fedora/24/x86_64/atomic-host"
    assert atomic.ostree_ref(f24, "x86_64", "updates") == "fedora/24/x86_64/updates/atomic-host"
    assert atomic.item(f24, "x86_64") == "atomic-host-24-x86_64"
    assert atomic.compose == "local" and config.artifacts_of("f24")[1].compose == "koji"
    assert config.artifacts_of("f24")[1].image_name(f24, "x86_64") == "Fedora-Cloud-Base-24.x86_64.raw.xz"
    assert config.ostree.repo == tmp_path / "ostree/repo"
    assert config.mirror.master == str(tmp_path / "mirror")
    assert config.mirror.archive == "host.example.org:/srv/archive"
    assert config.release_of_tag("f24-updates") is f24 and config.release_of_tag("nope") is None
    with pytest.raises(KeyError, match="unknown release 'f99'"):
        config.release("f99")


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "words"),
    [
        (
            "    state: active\n    dist: fc24",
            "    state: retired\n    dist: fc24",
            5,
            "releases.f24.state",
            "must be one of",
        ),
        ("signing_key: 81B46521", "signing_key: 81B4652", 7, "releases.f24.signing_key", "8-digit hex"),
        ("successor: f25", "successor: f99", 8, "releases.f24.successor", "unknown release 'f99'"),
        ("{from: f24-signing-pending,", "{from: f24-nowhere,", 12, "releases.f24.signing_chain[0].from", "not one of"),
        (
            "    tags: {build: f25}",
            "    tags: {build: f24}",
            18,
            "releases.f25.tags.build",
            "already a tag of release f24",
        ),
        ("releases: [f24, f25]", "releases: [f24, f26]", 22, "artifacts[0].releases[1]", "unknown release 'f26'"),
        ("fedora/{version}/{arch}/atomic-host", "fedora/{release}/atomic-host", 23, "artifacts[0].ref", "placeholder"),
        ("    kind: ami", "    kind: vagrant", 26, "artifacts[1].kind", "must be one of"),
        ("keep_days: 7", "keep_days: 0", 30, "ostree.retention.keep_days", "at least 1"),
        ("  website: website", "  website: website\n  webiste: typo", 39, "mirror.webiste", "unknown key"),
        ("  website: website", "  website: website\n  url: dl.example.org/pub", 39, "mirror.url", "not an http(s) URL"),
    ],
)
def test_mistakes_name_file_line_and_key(tmp_path: Path, old: str, new: str, line: int, key: str, words: str) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(FileError) as caught:
        load_release_config(path)
    error = caught.value
    assert (error.path, error.line, error.key) == (str(path), line, key), str(error)
    assert words in str(error)


def test_an_artifact_without_its_ref_or_image_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    image: Fedora-Cloud-Base-{version}.{arch}.raw.xz\n", ""))
    with pytest.raises(FileError, match=r"artifacts\[1\]: a ami artifact needs 'image'"):
        load_release_config(path)


def test_translate_paths_give_candidates_their_urls(tmp_path: Path) -> None:
    """Pungi's translate_paths: [path prefix, URL prefix] pairs, paths relative to the file, first match wins."""
    extra = '\ntranslate_paths:\n  - [staging, "http://files.example.org/compose/staging/"]\n  - [ostree, "https://o.example.org"]\n'
    config = load_release_config(write(tmp_path, GOOD + extra))
    served = config.translate_paths
    assert served.url(tmp_path / "staging" / ".relengotron" / "candidates" / "a b.iso") == (
        "http://files.example.org/compose/staging/.relengotron/candidates/a%20b.iso"
    )
    assert served.url(tmp_path / "ostree" / "repo") == "https://o.example.org/repo"
    assert served.url(tmp_path / "ostree") == "https://o.example.org"
    assert served.url(tmp_path / "ostreefoo" / "repo") is None  # a prefix is a directory, not a string prefix
    assert served.url(tmp_path / "mirror") is None
    assert load_release_config(write(tmp_path, GOOD)).translate_paths.url(tmp_path / "staging") is None


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ('[[staging, "ftp://example.org/x"]]', "is not an http(s) URL"),
        ("[[staging]]", "must be a [path, url] pair"),
        ('[["", "http://example.org"]]', "must be a [path, url] pair"),
    ],
)
def test_bad_translate_paths_are_named(tmp_path: Path, value: str, words: str) -> None:
    path = write(tmp_path, GOOD + f"translate_paths: {value}\n")
    with pytest.raises(FileError) as caught:
        load_release_config(path)
    assert caught.value.key == "translate_paths[0]" and words in str(caught.value)


def test_the_production_example_loads(tmp_path: Path) -> None:
    config = load_release_config(REPO / "config" / "fedora.yaml")
    assert set(config.releases) == {"f24", "f25", "rawhide"}
    assert config.release("rawhide").tags["quarantine"] == "rawhide-badnewsbears"
    assert {a.kind for a in config.artifacts} == {"ostree", "installer-iso", "pxe2live", "ami", "gce"}
    assert config.mirror.master.startswith("mirror-master.example.org:")
    # where users download from: the website's commands name it
    assert (
        config.mirror.public_url("linux/atomic/repo/") == "https://dl.fedoraproject.org/pub/fedora/linux/atomic/repo/"
    )
    assert load_release_config(write(tmp_path, GOOD)).mirror.public_url("a b") == "$MIRROR/a%20b"
    # Fedora's pungi-fedora translate_paths: test systems fetch candidates from kojipkgs
    assert config.translate_paths.url(config.ostree.repo) == "https://kojipkgs.fedoraproject.org/compose/ostree/repo"
