"""Rawhide gating: which builds are at the gate, and what the decision does with each of them. Pure, no I/O.

Builds wait in the release's *pending* tag; the decision (:func:`relengotron.gating.decide`, context
``rawhide_gating``) sends each one on:

* passes (passed, waived, no policy) → **promoted**: moved from where it is (pending or quarantine) into the
  release's build tag;
* fails → **quarantined**: moved from pending into the quarantine tag. A build already in quarantine that
  still fails is **held** there: nothing moves and nobody is told again (its packager was told when it went in);
* results missing or unfinished → **waiting**: it stays where it is, and is reported.

One message per outcome that has builds (held builds have none) carries every build's NVR, package and Koji
owner, and the lists ``packages`` and ``usernames`` (the keys fedmsg_meta and FMN read) so that each packager
can be notified. Topics: ``<release>.gating.<outcome>`` (published by modname ``relengotron``).

Tag names come from the release configuration (roles ``pending``, ``quarantine``, ``build``); a release
without the first two uses ``<build>-pending`` and ``<build>-badnewsbears`` (Rawhide's names).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from relengotron.config import Release
from relengotron.gating.decision import Answer, BatchDecision, Failed, Waiting
from relengotron.gating.policies import KOJI_BUILD, Subject

PROMOTED = "promoted"
QUARANTINED = "quarantined"
WAITING = "waiting"
HELD = "held"
OUTCOMES = (PROMOTED, QUARANTINED, WAITING, HELD)
ANNOUNCED = (PROMOTED, QUARANTINED, WAITING)  # outcomes that get a message
MODNAME = "relengotron"


@dataclass(frozen=True)
class GateTags:
    """Where builds wait (``pending``), where passing ones go (``target``), where failing ones go."""

    pending: str
    quarantine: str
    target: str

    @classmethod
    def of(cls, release: Release) -> GateTags:
        build = release.tag("build")
        return cls(
            pending=release.tags.get("pending", f"{build}-pending"),
            quarantine=release.tags.get("quarantine", f"{build}-badnewsbears"),
            target=build,
        )


@dataclass(frozen=True)
class Candidate:
    """A build at the gate: its NVR, package, Koji owner (the packager) and the tag it is in now."""

    nvr: str
    package: str
    owner: str | None
    tag: str

    @property
    def subject(self) -> Subject:
        return Subject(KOJI_BUILD, self.nvr, self.package)

    def as_dict(self) -> dict[str, Any]:
        """JSON form; also a gating subject (``type``, ``item``, ``name``) for the sensor."""
        return {"type": KOJI_BUILD, "item": self.nvr, "name": self.package, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Candidate:
        try:
            return cls(str(data["nvr"]), str(data["package"]), data.get("owner"), str(data["tag"]))
        except KeyError as exc:
            raise ValueError(f"gating candidate {dict(data)!r}: missing {exc}") from None


@dataclass(frozen=True)
class Selection:
    """The candidates of one run, and the named builds that are not at the gate (already gated, or elsewhere)."""

    candidates: tuple[Candidate, ...]
    not_at_gate: tuple[str, ...] = ()


def select(
    pending: Iterable[Candidate],
    quarantined: Iterable[Candidate],
    *,
    wanted: Sequence[str] = (),
    include_quarantined: bool = True,
) -> Selection:
    """The builds to gate, sorted by NVR: those of ``pending`` (and of ``quarantined`` when asked), or only
    the ``wanted`` NVRs among them. A wanted build found in neither is reported in ``not_at_gate``."""
    at_gate: dict[str, Candidate] = {}
    for candidate in [*pending, *(quarantined if include_quarantined else ())]:
        at_gate.setdefault(candidate.nvr, candidate)  # a build in both tags is gated from pending
    if wanted:
        chosen = [at_gate[nvr] for nvr in dict.fromkeys(wanted) if nvr in at_gate]
        missing = tuple(nvr for nvr in dict.fromkeys(wanted) if nvr not in at_gate)
    else:
        chosen, missing = list(at_gate.values()), ()
    return Selection(tuple(sorted(chosen, key=lambda c: c.nvr)), missing)


@dataclass(frozen=True)
class Verdict:
    """What happens to one candidate, and why (the decision's summary)."""

    candidate: Candidate
    outcome: str
    to_tag: str  # where it ends up (its own tag when it stays)
    summary: str

    @property
    def moves(self) -> bool:
        return self.to_tag != self.candidate.tag

    def as_dict(self) -> dict[str, Any]:
        c = self.candidate
        return {
            "nvr": c.nvr,
            "package": c.package,
            "owner": c.owner,
            "from_tag": c.tag,
            "to_tag": self.to_tag,
            "outcome": self.outcome,
            "summary": self.summary,
        }


@dataclass(frozen=True)
class Move:
    """Builds to move from one tag to another (one batched, idempotent Koji operation)."""

    from_tag: str
    tag: str
    builds: tuple[str, ...]

    def as_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of a ``KojiTagOperator(action="move")``."""
        return {"from_tag": self.from_tag, "tag": self.tag, "builds": list(self.builds)}


@dataclass(frozen=True)
class GatingPlan:
    release: str
    tags: GateTags
    verdicts: tuple[Verdict, ...]
    decision_context: str
    product_version: str

    def of(self, outcome: str) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.outcome == outcome)

    @property
    def moves(self) -> tuple[Move, ...]:
        """The moves, grouped by (from, to) and sorted, each build once."""
        groups: dict[tuple[str, str], list[str]] = {}
        for verdict in self.verdicts:
            if verdict.moves:
                groups.setdefault((verdict.candidate.tag, verdict.to_tag), []).append(verdict.candidate.nvr)
        return tuple(Move(src, dst, tuple(sorted(nvrs))) for (src, dst), nvrs in sorted(groups.items()))

    def topic(self, outcome: str) -> str:
        return f"{self.release}.gating.{outcome}"

    def messages(self, *, run_id: str | None = None) -> list[dict[str, Any]]:
        """One ``{"modname", "topic", "body"}`` per announced outcome that has builds, in OUTCOMES order."""
        out: list[dict[str, Any]] = []
        for outcome in ANNOUNCED:
            verdicts = self.of(outcome)
            if not verdicts:
                continue
            body: dict[str, Any] = {
                "release": self.release,
                "outcome": outcome,
                "decision_context": self.decision_context,
                "product_version": self.product_version,
                "builds": [v.as_dict() for v in verdicts],
                "packages": sorted({v.candidate.package for v in verdicts}),
                "usernames": sorted({v.candidate.owner for v in verdicts if v.candidate.owner}),
            }
            if run_id is not None:
                body["run_id"] = run_id  # the same in every retry of the run: consumers may de-duplicate on it
            out.append({"modname": MODNAME, "topic": self.topic(outcome), "body": body})
        return out

    def summary(self) -> str:
        head = f"{self.decision_context} for {self.release} ({self.product_version}): {len(self.verdicts)} build(s)"
        lines = [head]
        for outcome in OUTCOMES:
            for v in self.of(outcome):
                where = f"{v.candidate.tag} → {v.to_tag}" if v.moves else f"stays in {v.candidate.tag}"
                lines.append(f"  {outcome:11} {v.candidate.nvr} ({where}; owner {v.candidate.owner}): {v.summary}")
        return "\n".join(lines)

    def as_dict(self, *, run_id: str | None = None) -> dict[str, Any]:
        """What the gating DAG's decision task returns: moves, messages and the verdicts."""
        return {
            "moves": [m.as_kwargs() for m in self.moves],
            "messages": self.messages(run_id=run_id),
            "verdicts": [v.as_dict() for v in self.verdicts],
        }


def plan(
    release: str,
    tags: GateTags,
    candidates: Sequence[Candidate],
    decision: BatchDecision,
) -> GatingPlan:
    """Each candidate's outcome from ``decision`` (which must answer about every candidate's NVR)."""
    verdicts: list[Verdict] = []
    for candidate in candidates:
        if candidate.tag not in (tags.pending, tags.quarantine):
            raise ValueError(
                f"{candidate.nvr} is in {candidate.tag}, not at the gate ({tags.pending}, {tags.quarantine})"
            )
        answer: Answer = decision.answer(candidate.nvr)
        summary = answer.summary()
        if answer.passes:
            verdicts.append(Verdict(candidate, PROMOTED, tags.target, summary))
        elif isinstance(answer, Failed):
            if candidate.tag == tags.quarantine:
                verdicts.append(Verdict(candidate, HELD, candidate.tag, summary))
            else:
                verdicts.append(Verdict(candidate, QUARANTINED, tags.quarantine, summary))
        elif isinstance(answer, Waiting):
            verdicts.append(Verdict(candidate, WAITING, candidate.tag, summary))
        else:  # pragma: no cover - every Answer kind is handled above
            raise TypeError(f"{candidate.nvr}: unexpected answer {answer!r}")
    return GatingPlan(release, tags, tuple(verdicts), decision.decision_context, decision.product_version)
