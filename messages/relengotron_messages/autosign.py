"""Autosign: a build signed with its release's key and moved along the release's tag chain."""

from __future__ import annotations

from relengotron_messages.base import NVR, STRINGS, RelengotronMessage, body_schema


class AutosignSignedV1(RelengotronMessage):
    """One build signed (``rpms_signed`` of its RPMs needed it) and moved from ``from_tag`` to ``to_tag``."""

    body_schema = body_schema(
        "A build releng-o-tron signed with its release key and moved along the signing chain",
        {
            "release": {"type": "string"},
            "nvr": NVR,
            "key": {"type": "string", "description": "the signing key's id (Koji's sigkey)"},
            "from_tag": {"type": "string"},
            "to_tag": {"type": "string"},
            "rpms_signed": {"type": "integer", "minimum": 0},
            "run_id": {"type": "string"},
            "packages": STRINGS,
            "usernames": STRINGS,
        },
        ["release", "nvr", "key", "from_tag", "to_tag", "rpms_signed", "packages", "usernames"],
    )

    @property
    def summary(self) -> str:
        b = self.body
        return f"releng-o-tron signed {b['nvr']} with key {b['key']} and moved it from {b['from_tag']} to {b['to_tag']}"
