"""The mash's one error type: what went wrong and which item (RPM, build, update, tag) it concerns."""

from __future__ import annotations


class MashError(RuntimeError):
    """A mash was refused or failed; nothing was written to the destination. ``item`` names the culprit."""

    def __init__(self, item: str, message: str) -> None:
        self.item = item
        self.reason = message
        super().__init__(f"{item}: {message}")


class MashTransientError(MashError):
    """Fetching from Koji's topurl failed in a way that may pass (connection refused, 5xx) after retries."""
