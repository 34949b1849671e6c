"""Greenwave-style gating policies: which test cases a subject must pass at a decision point.

A policy file is a multi-document YAML file in Greenwave's own format, so Fedora's policies can be copied in::

    --- !Policy
    id: rawhide_gating
    product_versions: [fedora-rawhide]          # fnmatch patterns: fedora-* matches every Fedora release
    decision_context: rawhide_gating            # or decision_contexts: [a, b] (one of the two, not both)
    subject_type: koji_build
    excluded_packages: [python2-*]              # optional fnmatch patterns
    packages: [glibc, kernel*]                  # optional: the policy applies only to these
    rules:
      - !PassingTestCaseRule {test_case_name: dist.depcheck}
      - !PassingTestCaseRule {test_case_name: compose.cloud.boot, scenario: x86_64.uefi}
    --- !Waiver                                 # a static waiver, WaiverDB's fields
    subject_type: koji_build
    subject_identifier: atomic-1.14-1.fc26
    testcase: dist.depcheck
    product_version: fedora-rawhide
    comment: needs docker >= 1.13, which lands in the same batch
    username: releng

Only the YAML tags are supported (``!Policy``, ``!Waiver``, ``!PassingTestCaseRule``): an untagged document or
rule is an error, as in Greenwave. Other Greenwave rule types (``!RemoteRule``) and keys (``valid_since``) are
rejected with the file, line and key, never ignored. Extension over Greenwave: ``packages`` and
``excluded_packages`` match the subject's *name* for every subject type — the package name of a ``koji_build``,
the artifact name (``atomic-host``) of a ``compose-artifact`` — so per-artifact tests are policies too.
Waivers from WaiverDB (I/O elsewhere) come in through :meth:`Waiver.from_waiverdb`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import koji

from relengotron import yamlfile
from relengotron.config import Artifact, Release
from relengotron.yamlfile import Fields, FileError

KOJI_BUILD = "koji_build"  # a Koji build, identified by its NVR
COMPOSE_ARTIFACT = "compose-artifact"  # one composed artifact for one arch: atomic-host-24-x86_64
RAWHIDE_GATING = "rawhide_gating"  # decision context: promote builds from the pending tag into Rawhide
ARTIFACT_RELEASE = "artifact_release"  # decision context: sign and sync a composed artifact to the mirror
RULE_TAGS = ("PassingTestCaseRule",)


@dataclass(frozen=True)
class Subject:
    """What a decision is about: ResultsDB's ``type`` and ``item``, and the name policies match."""

    type: str
    item: str
    name: str  # package name (koji_build) or artifact name (compose-artifact)

    @classmethod
    def koji_build(cls, nvr: str) -> Subject:
        try:
            name = koji.parse_NVR(nvr)["name"]
        except koji.GenericError:
            raise ValueError(f"{nvr!r} is not a build name-version-release") from None
        return cls(KOJI_BUILD, nvr, name)

    @classmethod
    def artifact(cls, artifact: Artifact, release: Release, arch: str) -> Subject:
        return cls(COMPOSE_ARTIFACT, artifact.item(release, arch), artifact.name)

    def __str__(self) -> str:
        return f"{self.type} {self.item}"


@dataclass(frozen=True)
class PassingTestCaseRule:
    """Satisfied by a PASSED or INFO latest result of ``test_case_name`` (of ``scenario`` if set), or a waiver."""

    test_case_name: str
    scenario: str | None = None

    def __str__(self) -> str:
        return self.test_case_name if self.scenario is None else f"{self.test_case_name} [{self.scenario}]"


@dataclass(frozen=True)
class Policy:
    id: str
    decision_contexts: tuple[str, ...]
    product_versions: tuple[str, ...]  # fnmatch patterns
    subject_type: str
    rules: tuple[PassingTestCaseRule, ...]
    packages: tuple[str, ...] = ()  # fnmatch patterns; empty: every subject name
    excluded_packages: tuple[str, ...] = ()  # fnmatch patterns; wins over ``packages``
    source: str = ""  # file:line where it was written

    def applies(self, decision_context: str, product_version: str, subject: Subject) -> bool:
        if decision_context not in self.decision_contexts or subject.type != self.subject_type:
            return False
        if not any(fnmatchcase(product_version, pattern) for pattern in self.product_versions):
            return False
        if any(fnmatchcase(subject.name, pattern) for pattern in self.excluded_packages):
            return False
        return not self.packages or any(fnmatchcase(subject.name, pattern) for pattern in self.packages)


@dataclass(frozen=True)
class Waiver:
    """A WaiverDB waiver: ``waived`` False is a revocation; the newest waiver of the same thing wins."""

    subject_type: str
    subject_identifier: str
    testcase: str
    product_version: str
    waived: bool = True
    scenario: str | None = None  # None: waives every scenario of the test case
    username: str = ""
    comment: str = ""
    id: int | None = None
    timestamp: str = ""  # ISO 8601, as WaiverDB returns it

    @classmethod
    def from_waiverdb(cls, data: Mapping[str, Any]) -> Waiver:
        """WaiverDB's JSON (API v1.0; the older ``subject: {type, item}`` form too); a ValueError names it."""
        subject = data.get("subject") if isinstance(data.get("subject"), Mapping) else {}
        fields = {
            "subject_type": data.get("subject_type") or subject.get("type"),
            "subject_identifier": data.get("subject_identifier") or subject.get("item"),
            "testcase": data.get("testcase"),
            "product_version": data.get("product_version"),
        }
        for key, value in fields.items():
            if not isinstance(value, str) or not value:
                raise ValueError(f"waiver {data.get('id', '?')}: missing or bad {key!r}")
        data_id = data.get("id")
        return cls(
            **fields,
            waived=bool(data.get("waived", True)),
            scenario=(data.get("scenario") or None),
            username=str(data.get("username") or ""),
            comment=str(data.get("comment") or ""),
            id=int(data_id) if data_id is not None else None,
            timestamp=str(data.get("timestamp") or ""),
        )

    def covers(self, subject: Subject, test_case: str, product_version: str, scenario: str | None) -> bool:
        """Does this waiver speak about this result (a waiver without scenario covers every scenario)?"""
        return (
            self.subject_type == subject.type
            and self.subject_identifier == subject.item
            and self.testcase == test_case
            and self.product_version == product_version
            and (self.scenario is None or self.scenario == scenario)
        )

    def __str__(self) -> str:
        who = f" by {self.username}" if self.username else ""
        why = f": {self.comment}" if self.comment else ""
        return f"waiver {self.id if self.id is not None else '(static)'} of {self.testcase}{who}{why}"


@dataclass(frozen=True)
class PolicySet:
    """The policies (and static waivers) of one file."""

    policies: tuple[Policy, ...]
    waivers: tuple[Waiver, ...] = ()
    path: str = ""

    def applicable(self, decision_context: str, product_version: str, subject: Subject) -> tuple[Policy, ...]:
        return tuple(p for p in self.policies if p.applies(decision_context, product_version, subject))

    def required(
        self, decision_context: str, product_version: str, subject: Subject
    ) -> tuple[PassingTestCaseRule, ...]:
        """Every rule of every applicable policy, each once, in file order (what a sensor waits for)."""
        out: dict[PassingTestCaseRule, None] = {}
        for policy in self.applicable(decision_context, product_version, subject):
            out.update(dict.fromkeys(policy.rules))
        return tuple(out)

    @property
    def decision_contexts(self) -> frozenset[str]:
        return frozenset(c for p in self.policies for c in p.decision_contexts)


def load_policies(path: str | Path) -> PolicySet:
    """Load and validate a policy file; every error is a :class:`FileError` naming the file, line and key."""
    path = Path(path)
    policies: list[Policy] = []
    waivers: list[Waiver] = []
    seen: dict[str, str] = {}
    for index, doc in enumerate(yamlfile.load_all(path)):
        if doc is None:
            continue  # an empty document (a trailing ``---``)
        tag = getattr(doc, "tag", None)
        if not isinstance(doc, dict) or tag not in ("Policy", "Waiver"):
            line = getattr(doc, "line", None)
            found = f"!{tag}" if tag else "an untagged document"
            raise FileError(
                path, line, f"document {index + 1}", f"expected '--- !Policy' or '--- !Waiver', not {found}"
            )
        if tag == "Waiver":
            waivers.append(_waiver(Fields(path, doc, f"waiver {len(waivers) + 1}")))
            continue
        name = doc.get("id")
        policy = _policy(Fields(path, doc, str(name) if isinstance(name, str) and name else f"document {index + 1}"))
        if policy.id in seen:
            raise Fields(path, doc, policy.id).error(
                "id", f"policy id {policy.id!r} is already used at {seen[policy.id]}"
            )
        seen[policy.id] = policy.source
        policies.append(policy)
    if not policies:
        raise FileError(path, None, None, "no '--- !Policy' document: at least one policy is needed")
    return PolicySet(tuple(policies), tuple(waivers), str(path))


def _policy(f: Fields) -> Policy:
    policy_id = f.text("id")
    single, several = f.text("decision_context", None), f.strings("decision_contexts", None)
    if single is not None and several is not None:
        raise f.error("decision_contexts", "use decision_context or decision_contexts, not both")
    if single is None and not several:
        raise f.error(None, "missing required key 'decision_contexts' (or 'decision_context')")
    contexts = (single,) if single is not None else tuple(several or ())
    versions = f.strings("product_versions")
    if not versions:
        raise f.error("product_versions", "must name at least one product version (fedora-24, fedora-*)")
    subject_type = f.text("subject_type")
    rules = tuple(_rules(f))
    packages = tuple(f.strings("packages", []))
    excluded = tuple(f.strings("excluded_packages", []))
    f.done()
    return Policy(
        id=policy_id,
        decision_contexts=contexts,
        product_versions=tuple(versions),
        subject_type=subject_type,
        rules=rules,
        packages=packages,
        excluded_packages=excluded,
        source=f"{f.path}:{f.line}",
    )


def _rules(f: Fields) -> Iterable[PassingTestCaseRule]:
    items = f.get("rules", list)
    lines = getattr(items, "item_lines", [])
    for index, raw in enumerate(items):
        tag = getattr(raw, "tag", None)
        if tag not in RULE_TAGS:
            found = f"!{tag}" if tag else "an untagged rule"
            supported = ", ".join(f"!{t}" for t in RULE_TAGS)
            raise f.item_error("rules", index, f"unsupported rule: {found} (supported: {supported})")
        line = lines[index] if index < len(lines) else f.line
        rf = Fields(f.path, raw, f"{f.key_path('rules')}[{index}]", line)
        rule = PassingTestCaseRule(rf.text("test_case_name"), rf.text("scenario", None))
        rf.done()
        yield rule


def _waiver(f: Fields) -> Waiver:
    waiver = Waiver(
        subject_type=f.text("subject_type"),
        subject_identifier=f.text("subject_identifier"),
        testcase=f.text("testcase"),
        product_version=f.text("product_version"),
        waived=f.get("waived", bool, True),
        scenario=f.text("scenario", None),
        username=f.text("username", None) or "",
        comment=f.text("comment"),
    )
    f.done()
    return waiver
