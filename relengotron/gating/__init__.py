"""Gating: Greenwave-style policies (:mod:`.policies`) and the pure decision over ResultsDB results (:mod:`.decision`).

Fetching results from ResultsDB and waivers from WaiverDB is I/O and lives elsewhere; this package only decides.
"""

from relengotron.gating.decision import (
    Answer,
    BatchDecision,
    Failed,
    Failure,
    Missing,
    NoPolicy,
    Passed,
    Verdict,
    Waiting,
    Waived,
    decide,
    decide_one,
)
from relengotron.gating.policies import (
    ARTIFACT_RELEASE,
    COMPOSE_ARTIFACT,
    KOJI_BUILD,
    RAWHIDE_GATING,
    PassingTestCaseRule,
    Policy,
    PolicySet,
    Subject,
    Waiver,
    load_policies,
)

__all__ = [
    "ARTIFACT_RELEASE",
    "COMPOSE_ARTIFACT",
    "KOJI_BUILD",
    "RAWHIDE_GATING",
    "Answer",
    "BatchDecision",
    "Failed",
    "Failure",
    "Missing",
    "NoPolicy",
    "Passed",
    "PassingTestCaseRule",
    "Policy",
    "PolicySet",
    "Subject",
    "Verdict",
    "Waiting",
    "Waived",
    "Waiver",
    "decide",
    "decide_one",
    "load_policies",
]
