"""A release's end of life."""

from __future__ import annotations

from relengotron_messages.base import RelengotronMessage, body_schema


class ReleaseEolV1(RelengotronMessage):
    """A release reached its end of life: PDC, Koji, Bugzilla, its OSTree refs and its mirror tree were ended."""

    body_schema = body_schema(
        "A release ended by releng-o-tron's EOL run",
        {
            "release": {"type": "string"},
            "name": {"type": "string"},
            "version": {"type": "string"},
            "pdc_release": {"type": "string"},
            "eol_date": {"type": "string", "format": "date"},
        },
        ["release", "name", "version", "pdc_release", "eol_date"],
    )

    @property
    def summary(self) -> str:
        return f"releng-o-tron ended the life of {self.body['name']} on {self.body['eol_date']}"
