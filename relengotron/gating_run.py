"""Rawhide gating, the I/O side: the builds at the gate (Koji), the decision over their results (ResultsDB), and
one build gated on its own (:func:`gate_build`: decided and moved as soon as its own results are in, whatever
other builds still wait for).

The decisions themselves are pure (:mod:`relengotron.gating.rawhide`, :mod:`relengotron.gating.decision`);
here they are fed. Moving a build is idempotent (:meth:`relengotron.kojiclient.KojiClient.move_build`) and
publishing is a separate step, so that a run can be retried at any point.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from relengotron.gating import RAWHIDE_GATING, PolicySet, decide
from relengotron.gating.rawhide import Candidate, GateTags, GatingPlan, Selection, plan, select

if TYPE_CHECKING:
    from relengotron.adapters.resultsdb import ResultsDB
    from relengotron.config import Release
    from relengotron.kojiclient import KojiClient


def tagged(koji: KojiClient, tag: str) -> list[Candidate]:
    """Every build tagged into ``tag`` (not only the latest of each package: each one is gated), by NVR, as
    gating candidates. Read-only; :class:`relengotron.kojiclient.KojiNotFoundError` names a missing tag."""
    return [Candidate(b.nvr, b.name, b.owner, tag) for b in koji.tagged(tag)]


def gate_candidates(
    koji: KojiClient,
    tags: GateTags,
    *,
    wanted: Sequence[str] = (),
    include_quarantined: bool = True,
) -> Selection:
    """The builds to gate now: the pending tag's (and the quarantine's when asked), or only ``wanted`` ones.

    Read-only. A wanted NVR that Koji does not know is a :class:`relengotron.kojiclient.KojiNotFoundError`
    naming it (bad input); one that exists but is not at the gate (already gated) is reported, not an error.
    """
    pending = tagged(koji, tags.pending)
    quarantined = tagged(koji, tags.quarantine) if include_quarantined else []
    selection = select(pending, quarantined, wanted=wanted, include_quarantined=include_quarantined)
    if selection.not_at_gate:
        koji.builds(selection.not_at_gate)  # raises naming every NVR that does not exist
    return selection


def decide_gating(
    results: ResultsDB,
    policy_set: PolicySet,
    release: Release,
    candidates: Sequence[Candidate],
) -> GatingPlan:
    """Each candidate's outcome from the results ResultsDB holds now (one batch of requests), decided under
    the policies for decision context ``rawhide_gating`` and product version ``release.pdc_release``.

    Read-only: rerunning it decides again from the newest results.
    """
    subjects = [c.subject for c in candidates]
    product_version = release.pdc_release
    cases = sorted(
        {
            rule.test_case_name
            for subject in subjects
            for rule in policy_set.required(RAWHIDE_GATING, product_version, subject)
        }
    )
    found = results.latest_for(subjects, cases) if subjects and cases else []
    decision = decide(policy_set, subjects, found, decision_context=RAWHIDE_GATING, product_version=product_version)
    return plan(release.id, GateTags.of(release), candidates, decision)


def gate_build(
    koji: KojiClient,
    results: ResultsDB,
    policy_set: PolicySet,
    release: Release,
    candidate: Candidate,
    *,
    run_id: str | None = None,
    timeout: float = 3600.0,
) -> dict[str, Any]:
    """Gate one build now: where it is (it may have been gated by another run since it was listed), its
    verdict from the results ResultsDB holds now, and its move — promoted into the release's tag, or into
    quarantine. Returns ``{"verdict", "moved", "topic", "body"}``: the message of its outcome (one build), or
    ``body`` None when there is nothing to announce (a build another run gated, a quarantined build that still
    fails, a move another run made and announced).

    Idempotent: a rerun finds the build moved and sends and announces nothing.
    """
    tags = GateTags.of(release)
    now = koji.tags_of(candidate.nvr)
    at = tags.pending if tags.pending in now else tags.quarantine if tags.quarantine in now else None
    if at is None:
        return {"verdict": None, "moved": False, "topic": f"{release.id}.gating.gone", "body": None}
    here = Candidate(candidate.nvr, candidate.package, candidate.owner, at)
    found = decide_gating(results, policy_set, release, [here])
    [verdict] = found.verdicts
    moved = koji.move_build(at, verdict.to_tag, here.nvr, timeout=timeout) if verdict.moves else False
    messages = found.messages(run_id=run_id) if moved or not verdict.moves else []
    topic = messages[0]["topic"] if messages else found.topic(verdict.outcome)
    return {
        "verdict": verdict.as_dict(),
        "moved": moved,
        "topic": topic,
        "body": messages[0]["body"] if messages else None,
    }
