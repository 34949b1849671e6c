"""The community testing page: the candidate artifacts of the latest pushes that are not released yet, with
where to download them, their checksums and their test results so far. Pure: push views in, plain data out.

A candidate is a target recomposed by a push (its compose output ``changed``) and not released yet: composed,
under test, signed and waiting — or held back, listed with its failing results so that testers see why. The
download URLs are the ones the push announced to the test systems (``relengotron.artifact.composed``: the
compose task's XCom ``announcement``), so a tester fetches exactly what the test systems did.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from relengotron.dashboard.facts import iso_utc_text
from relengotron.dashboard.pushes import COMPOSED, SIGNED, UNDER_TEST
from relengotron.push_report import HELD_BACK

CANDIDATE_STATES = (COMPOSED, UNDER_TEST, SIGNED, HELD_BACK)


def candidates(pushes: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every candidate of the given push views (newest push first), each target once (its newest candidate)."""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for push in pushes:
        for artifact in push.get("artifacts", ()):
            candidate = artifact.get("candidate") or {}
            if artifact["id"] in seen or artifact["state"] not in CANDIDATE_STATES or not candidate.get("changed"):
                continue
            seen.add(artifact["id"])
            image = candidate.get("image") or {}
            tree = candidate.get("ostree") or {}
            results = [{"verdict": a.get("verdict"), "summary": a.get("summary")} for a in artifact.get("tests") or ()]
            out.append(
                {
                    "label": artifact["label"],
                    "release": push.get("release"),
                    "state": artifact["state"],
                    "reason": artifact["reason"],
                    "composed_at": iso_utc_text(candidate.get("composed_at")),
                    "download": image.get("url"),
                    "sha256": image.get("sha256") or candidate.get("sha256"),
                    "size": image.get("size"),
                    "manifest": image.get("manifest_url"),
                    "ostree": {k: tree.get(k) for k in ("url", "ref", "commit", "version")} if tree else None,
                    "results": results,
                    "links": artifact["links"],
                }
            )
    return out
