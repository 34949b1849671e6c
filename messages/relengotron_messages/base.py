"""What every releng-o-tron message has: its application, the packages and people it concerns, a link."""

from __future__ import annotations

from typing import Any, ClassVar

from fedora_messaging import message

SCHEMA = "http://json-schema.org/draft-04/schema#"  # the draft fedora-messaging's own schemas use
NVR = {"type": "string", "pattern": r"^\S+-[^-\s]+-[^-\s]+$"}
STRINGS = {"type": "array", "items": {"type": "string"}}


def body_schema(description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """A draft-04 object schema; further properties are allowed (a newer publisher may add fields)."""
    return {
        "$schema": SCHEMA,
        "description": description,
        "type": "object",
        "properties": properties,
        "required": required,
    }


class RelengotronMessage(message.Message):
    """A base class: the application is releng-o-tron; the body's ``packages`` and ``usernames`` (where it has
    them) are the packages and people the message concerns (FMN notifies on them)."""

    body_schema: ClassVar[dict[str, Any]]

    @property
    def app_name(self) -> str:
        return "relengotron"

    @property
    def agent_name(self) -> str | None:
        agent = self.body.get("agent")
        return agent if isinstance(agent, str) else None

    @property
    def packages(self) -> list[str]:
        return sorted({p for p in self.body.get("packages", []) if isinstance(p, str)})

    @property
    def usernames(self) -> list[str]:
        return sorted({u for u in self.body.get("usernames", []) if isinstance(u, str)})

    @property
    def url(self) -> str | None:
        return None

    def __str__(self) -> str:
        return self.summary
