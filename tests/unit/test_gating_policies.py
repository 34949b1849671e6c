"""Gating policies: Greenwave's format loads, every mistake names file, line and key; the shipped files agree
with what they gate (the Fedora config's artifact tests; the tests the sandbox actually posts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from relengotron.artifacts import load_release_config
from relengotron.gating import (
    ARTIFACT_RELEASE,
    COMPOSE_ARTIFACT,
    KOJI_BUILD,
    RAWHIDE_GATING,
    PassingTestCaseRule,
    Policy,
    Subject,
    Waiver,
    load_policies,
)
from relengotron.yamlfile import FileError
from relengotron_sandbox.world import DEFAULT_WORLD

REPO = Path(__file__).resolve().parents[2]
SANDBOX_POLICIES = DEFAULT_WORLD.with_name("policies.yaml")

GOOD = """\
# two policies and a waiver
--- !Policy
id: rawhide
product_versions: [fedora-rawhide]
decision_context: rawhide_gating
subject_type: koji_build
excluded_packages: [python2-*]
rules:
  - !PassingTestCaseRule {test_case_name: dist.depcheck}
--- !Policy
id: cloud
product_versions: [fedora-2*]
decision_contexts: [artifact_release, other]
subject_type: compose-artifact
packages: [cloud-base-*]
rules:
  - !PassingTestCaseRule {test_case_name: compose.cloud.boot, scenario: x86_64.uefi}
  - !PassingTestCaseRule
    test_case_name: compose.image.checksum
--- !Waiver
subject_type: koji_build
subject_identifier: atomic-1.14-1.fc26
testcase: dist.depcheck
product_version: fedora-rawhide
comment: docker 1.13 lands in the same batch
username: releng
---
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policies.yaml"
    path.write_text(text)
    return path


def test_greenwave_format_loads(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    policies = load_policies(path)
    rawhide, cloud = policies.policies
    assert rawhide == Policy(
        id="rawhide",
        decision_contexts=("rawhide_gating",),
        product_versions=("fedora-rawhide",),
        subject_type="koji_build",
        rules=(PassingTestCaseRule("dist.depcheck"),),
        excluded_packages=("python2-*",),
        source=f"{path}:2",
    )
    assert cloud.decision_contexts == ("artifact_release", "other")
    assert cloud.rules == (
        PassingTestCaseRule("compose.cloud.boot", "x86_64.uefi"),
        PassingTestCaseRule("compose.image.checksum"),
    )
    (waiver,) = policies.waivers
    assert waiver.subject_identifier == "atomic-1.14-1.fc26" and waiver.waived and waiver.username == "releng"
    assert policies.decision_contexts == {"rawhide_gating", "artifact_release", "other"}


def test_which_policies_apply(tmp_path: Path) -> None:
    policies = load_policies(write(tmp_path, GOOD))
    build = Subject.koji_build("python3-requests-2.12.1-1.fc26")
    assert build.name == "python3-requests" and build.type == KOJI_BUILD
    assert [p.id for p in policies.applicable(RAWHIDE_GATING, "fedora-rawhide", build)] == ["rawhide"]
    assert policies.applicable(RAWHIDE_GATING, "fedora-25", build) == ()  # product version
    assert policies.applicable(ARTIFACT_RELEASE, "fedora-rawhide", build) == ()  # decision context
    assert policies.applicable(RAWHIDE_GATING, "fedora-rawhide", Subject.koji_build("python2-six-1.10-1.fc26")) == ()
    ami = Subject(COMPOSE_ARTIFACT, "cloud-base-ami-24-x86_64", "cloud-base-ami")
    assert [p.id for p in policies.applicable("other", "fedora-24", ami)] == ["cloud"]  # wildcard version
    assert policies.applicable("other", "fedora-30", Subject(COMPOSE_ARTIFACT, "x", "atomic-host")) == ()
    assert [str(r) for r in policies.required(ARTIFACT_RELEASE, "fedora-24", ami)] == [
        "compose.cloud.boot [x86_64.uefi]",
        "compose.image.checksum",
    ]


def test_excluded_packages_win_over_packages() -> None:
    policy = Policy("p", ("c",), ("f",), KOJI_BUILD, (), packages=("python*",), excluded_packages=("python2-*",))
    assert policy.applies("c", "f", Subject.koji_build("python3-six-1-1"))
    assert not policy.applies("c", "f", Subject.koji_build("python2-six-1-1"))
    assert not policy.applies("c", "f", Subject.koji_build("bash-1-1"))


@pytest.mark.parametrize(
    ("text", "line", "key", "reason"),
    [
        ("id: x\n", 1, "document 1", "expected '--- !Policy' or '--- !Waiver', not an untagged document"),
        ("--- !Rule\nid: x\n", 1, "document 1", "not !Rule"),
        ("--- !Policy\n- a\n", 1, None, "tag !Policy must be on a mapping"),
        (
            "--- !Policy\nid: a\nproduct_versions: [f]\ndecision_context: c\nsubject_type: t\nrules: []\n"
            "--- !Policy\nid: a\nproduct_versions: [f]\ndecision_context: c\nsubject_type: t\nrules: []\n",
            8,
            "a.id",
            "policy id 'a' is already used at",
        ),
        (
            "--- !Policy\nid: a\nproduct_versions: [f]\ndecision_context: c\ndecision_contexts: [d]\n",
            5,
            "a.decision_contexts",
            "use decision_context or decision_contexts, not both",
        ),
        ("--- !Policy\nid: a\nproduct_versions: [f]\n", 1, "a", "missing required key 'decision_contexts'"),
        ("--- !Policy\nid: a\ndecision_context: c\nproduct_versions: []\n", 4, "a.product_versions", "at least one"),
        (
            "--- !Policy\nid: a\nproduct_versions: [f]\ndecision_context: c\nsubject_type: t\nrules:\n"
            "  - !PassingTestCaseRule {test_case_name: x}\n  - !RemoteRule {}\n",
            8,
            "a.rules[1]",
            "unsupported rule: !RemoteRule (supported: !PassingTestCaseRule)",
        ),
        (
            "--- !Policy\nid: a\nproduct_versions: [f]\ndecision_context: c\nsubject_type: t\nrules:\n"
            "  - {test_case_name: x}\n",
            7,
            "a.rules[0]",
            "unsupported rule: an untagged rule",
        ),
        (
            "--- !Policy\nid: a\nproduct_versions: [f]\ndecision_context: c\nsubject_type: t\nrules:\n"
            "  - !PassingTestCaseRule\n    test_case_name: x\n    valid_since: 2021-10-02\n",
            9,
            "a.rules[0].valid_since",
            "unknown key 'valid_since'",
        ),
        (
            "--- !Policy\nid: a\nproduct_versions: [f]\ndecision_context: c\nsubject_type: t\nrules:\n"
            "  - !PassingTestCaseRule {scenario: y}\n",
            7,
            "a.rules[0]",
            "missing required key 'test_case_name'",
        ),
        (
            "--- !Policy\nid: a\nproduct_versions: [f]\ndecision_context: c\nsubject_type: t\nrules: []\n"
            "blacklist: [x]\n",
            7,
            "a.blacklist",
            "unknown key 'blacklist'",
        ),
        ("--- !Policy\nid: a\nrules: [\n", 4, None, "not valid YAML"),
        ("# nothing\n", None, None, "at least one policy is needed"),
        (
            "--- !Policy\nid: a\nproduct_versions: [f]\ndecision_context: c\nsubject_type: t\nrules: []\n"
            "--- !Waiver\nsubject_type: koji_build\nsubject_identifier: x-1-1\ntestcase: t\nproduct_version: f\n",
            7,
            "waiver 1",
            "missing required key 'comment'",
        ),
    ],
)
def test_mistakes_name_file_line_and_key(
    tmp_path: Path, text: str, line: int | None, key: str | None, reason: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(FileError) as caught:
        load_policies(path)
    error = caught.value
    assert (error.path, error.line, error.key) == (str(path), line, key), str(error)
    assert reason in error.reason


def test_waivers_from_waiverdb_json() -> None:
    current = {
        "id": 7,
        "subject_type": "koji_build",
        "subject_identifier": "etcd-3.0.15-1.fc26",
        "testcase": "dist.depcheck",
        "product_version": "fedora-rawhide",
        "waived": True,
        "username": "jchaloup",
        "comment": "flaky mirror",
        "timestamp": "2016-11-25T10:00:00.000000",
        "scenario": None,
        "proxied_by": None,
    }
    waiver = Waiver.from_waiverdb(current)
    assert (waiver.id, waiver.scenario, waiver.username) == (7, None, "jchaloup")
    legacy = {"id": 3, "subject": {"type": "koji_build", "item": "etcd-3.0.15-1.fc26"}, "testcase": "dist.depcheck"}
    legacy.update(product_version="fedora-rawhide", waived=False, comment="revoked")
    revoked = Waiver.from_waiverdb(legacy)
    assert revoked.subject_identifier == "etcd-3.0.15-1.fc26" and not revoked.waived
    subject = Subject.koji_build("etcd-3.0.15-1.fc26")
    assert waiver.covers(subject, "dist.depcheck", "fedora-rawhide", "any scenario")
    assert not waiver.covers(subject, "dist.depcheck", "fedora-25", None)
    assert str(waiver) == "waiver 7 of dist.depcheck by jchaloup: flaky mirror"
    with pytest.raises(ValueError, match="waiver 9: missing or bad 'testcase'"):
        Waiver.from_waiverdb({**current, "id": 9, "testcase": None})


def test_a_bad_nvr_is_not_a_subject() -> None:
    with pytest.raises(ValueError, match="'etcd' is not a build name-version-release"):
        Subject.koji_build("etcd")


def test_fedora_policies_require_exactly_each_artifacts_configured_tests() -> None:
    config = load_release_config(REPO / "config" / "fedora.yaml")
    assert config.gating_policies == REPO / "config" / "fedora-policies.yaml"
    policies = load_policies(config.gating_policies)
    for artifact in config.artifacts:
        release = config.release(artifact.release)
        for arch in artifact.arches:
            subject = Subject.artifact(artifact, release, arch)
            required = {r.test_case_name for r in policies.required(ARTIFACT_RELEASE, release.pdc_release, subject)}
            assert required == set(artifact.tests), (artifact.name, release.id)
    rawhide = config.release("rawhide")
    build = Subject.koji_build("etcd-3.0.15-1.fc26")
    assert [r.test_case_name for r in policies.required(RAWHIDE_GATING, rawhide.pdc_release, build)] == [
        "dist.depcheck"
    ]


def test_sandbox_policies_require_only_what_the_sandbox_posts() -> None:
    """A required test nothing posts would leave a subject waiting forever."""
    from relengotron_sandbox.taskotron.runner import COMPOSE_ARTIFACT as RUNNER_ARTIFACT
    from relengotron_sandbox.taskotron.runner import (
        DEPCHECK,
        IMAGE_CHECKSUM,
        IMAGE_CONTENT,
        KOJI_BUILD,
        OSTREE_CONTENT,
        OSTREE_FSCK,
    )
    from relengotron_sandbox.world import load_world

    assert (KOJI_BUILD, RUNNER_ARTIFACT) == ("koji_build", COMPOSE_ARTIFACT)
    world = load_world()
    policies = load_policies(SANDBOX_POLICIES)
    required_somewhere = set()
    for artifact in world.artifacts:
        release = world.releases[artifact.release]
        for arch in artifact.arches:
            item = f"{artifact.name}-{release.version}-{arch}"
            posted = {OSTREE_FSCK, OSTREE_CONTENT} if artifact.kind == "ostree" else {IMAGE_CHECKSUM, IMAGE_CONTENT}
            posted |= {f.testcase for f in world.stand_ins if f.item == item}
            subject = Subject(COMPOSE_ARTIFACT, item, artifact.name)
            required = {r.test_case_name for r in policies.required(ARTIFACT_RELEASE, release.pdc_id, subject)}
            assert required and required <= posted, item
            required_somewhere |= required
    assert "compose.cloud.boot" in required_somewhere  # the stand-in failure is gated on
    assert {OSTREE_CONTENT, IMAGE_CONTENT} <= required_somewhere  # a failing content check holds the artifact back
    rawhide = world.releases["rawhide"]
    build = Subject.koji_build("etcd-3.0.15-1.fc26")
    assert [r.test_case_name for r in policies.required(RAWHIDE_GATING, rawhide.pdc_id, build)] == [DEPCHECK]
