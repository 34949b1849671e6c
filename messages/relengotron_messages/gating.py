"""Rawhide gating: the builds of one outcome of a gating run (promoted, quarantined, waiting for results)."""

from __future__ import annotations

from relengotron_messages.base import NVR, STRINGS, RelengotronMessage, body_schema

OUTCOMES = ["promoted", "quarantined", "waiting"]


class GatingDecisionV1(RelengotronMessage):
    """Builds a Rawhide gating run decided alike: ``outcome`` says how; each build says from which tag to which
    and why (``summary``: the policies' verdicts). Its packagers are the message's ``usernames``."""

    body_schema = body_schema(
        "Builds decided by a releng-o-tron gating run, one outcome per message",
        {
            "release": {"type": "string"},
            "outcome": {"type": "string", "enum": OUTCOMES},
            "decision_context": {"type": "string"},
            "product_version": {"type": "string"},
            "run_id": {"type": "string"},
            "builds": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "nvr": NVR,
                        "package": {"type": "string"},
                        "owner": {"type": ["string", "null"]},
                        "from_tag": {"type": "string"},
                        "to_tag": {"type": "string"},
                        "outcome": {"type": "string", "enum": [*OUTCOMES, "held"]},
                        "summary": {"type": "string"},
                    },
                    "required": ["nvr", "package", "from_tag", "to_tag", "outcome", "summary"],
                },
            },
            "packages": STRINGS,
            "usernames": STRINGS,
        },
        ["release", "outcome", "decision_context", "product_version", "builds", "packages", "usernames"],
    )

    @property
    def summary(self) -> str:
        builds = self.body["builds"]
        names = ", ".join(b["nvr"] for b in builds[:3]) + (f" and {len(builds) - 3} more" if len(builds) > 3 else "")
        return f"releng-o-tron {self.body['outcome']} {names} in {self.body['release']} gating"
