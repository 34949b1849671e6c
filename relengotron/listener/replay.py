"""Filling gaps from datagrepper: what the listener missed is fetched from the bus archive and deduplicated.

ZeroMQ PUB/SUB forgets whatever was published while nobody listened. The archive (datagrepper ``/raw``,
paged, ``order=asc``, ``start``/``end`` in epoch seconds) does not, so the listener replays a window:

* on start, from the newest message it had seen live (minus a margin: publishers' clocks and whole-second
  timestamps) to now;
* on reconnect to an endpoint, likewise;
* when a publisher's sequence number ``i`` skips (``i`` is fedmsg's per-process counter: 7 after 5 means 6 was
  lost), the window between the two messages it saw.

Every replayed message goes through the same validation, routing and inbox as a live one; messages already
in the inbox are skipped by msg_id, so replaying a window twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from relengotron.listener.validate import Envelope


class ReplayError(RuntimeError):
    """Datagrepper could not be read (a transient failure: the window is tried again)."""


@dataclass(frozen=True)
class Window:
    """A span of bus time to replay; ``end`` None: up to now."""

    start: float
    end: float | None
    reason: str

    def union(self, other: Window) -> Window:
        end = None if self.end is None or other.end is None else max(self.end, other.end)
        reasons = self.reason if other.reason in self.reason.split(", ") else f"{self.reason}, {other.reason}"
        return Window(min(self.start, other.start), end, reasons)


@dataclass(frozen=True)
class Gap:
    publisher: str
    missing: int
    window: Window


def gap_of(previous_i: int | None, previous_at: float | None, envelope: Envelope, margin: float) -> Gap | None:
    """The gap ``envelope`` reveals in its publisher's sequence, if any. A lower or equal ``i`` is a publisher
    that restarted (fedmsg counts from 1 again), not a gap."""
    if previous_i is None or envelope.i is None or envelope.i <= previous_i + 1:
        return None
    start = (previous_at if previous_at is not None else envelope.timestamp) - margin
    return Gap(
        envelope.publisher,
        envelope.i - previous_i - 1,
        Window(start, envelope.timestamp + margin, f"gap in {envelope.publisher}'s sequence"),
    )


def start_window(
    live_mark: float | None, started_at: float, now: float, *, margin: float, initial: float, maximum: float
) -> Window:
    """The window to replay when the listener starts or reconnects: from the newest message seen live (minus
    ``margin``), or — with an empty inbox — from ``initial`` seconds before the process started (so that what
    was published while the subscription was being set up is not lost); never more than ``maximum`` back."""
    if live_mark is None:
        return Window(max(started_at - margin - initial, now - maximum), None, "first start")
    return Window(max(live_mark - margin, now - maximum), None, "since the last message seen")


class Datagrepper:
    """Reads a window of the archive through ``/raw``, oldest first, page by page."""

    def __init__(self, url: str, *, rows_per_page: int = 100, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/") + "/raw"
        self.rows_per_page = rows_per_page
        self.timeout = timeout
        self._session = requests.Session()

    def close(self) -> None:
        self._session.close()

    def _page(self, window: Window, page: int) -> dict[str, Any]:
        params: dict[str, Any] = {
            "start": f"{window.start:.6f}",
            "page": page,
            "rows_per_page": self.rows_per_page,
            "order": "asc",
        }
        if window.end is not None:
            params["end"] = f"{window.end:.6f}"
        try:
            answer = self._session.get(self.url, params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ReplayError(f"datagrepper unreachable: {exc}") from exc
        if answer.status_code != 200:
            raise ReplayError(f"datagrepper answered {answer.status_code}: {answer.text[:300]}")
        try:
            data = answer.json()
        except ValueError as exc:
            raise ReplayError(f"datagrepper answered something else than JSON: {answer.text[:200]}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("raw_messages"), list):
            raise ReplayError("datagrepper's answer has no raw_messages list")
        return data

    def messages(self, window: Window) -> Iterator[Any]:
        """Every archived envelope of ``window``, oldest first (pages counted again on each answer, since the
        archive grows while it is read; with ascending order the pages already read do not move)."""
        page = 1
        while True:
            data = self._page(window, page)
            yield from data["raw_messages"]
            pages = data.get("pages")
            if not isinstance(pages, int) or page >= pages or not data["raw_messages"]:
                return
            page += 1
