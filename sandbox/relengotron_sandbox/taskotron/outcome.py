"""What a check returns, and the one way it may fail to return it."""

from __future__ import annotations

from dataclasses import dataclass


class CheckError(RuntimeError):
    """The check could not run (service unreachable, tool broken, bad announcement): not a verdict on the item.

    The runner logs it and posts nothing — ResultsDB has no outcome for "the test infrastructure broke", and a
    FAILED would blame the item for it.
    """


@dataclass(frozen=True)
class CheckOutcome:
    outcome: str  # PASSED | FAILED (INFO/NEEDS_INSPECTION only when forced by the world)
    note: str
