"""Gaps and replays: a skipped sequence number reveals a window to fetch again, a (re)start replays from the last
message seen, and datagrepper's /raw is read page by page, oldest first, while the archive grows."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from listener_samples import envelope, koji_tag
from requests.adapters import BaseAdapter

from relengotron.listener.replay import Datagrepper, ReplayError, Window, gap_of, start_window
from relengotron.listener.validate import Envelope, Validator


def env(i: int | None, stamp: float, username: str = "kojihub") -> Envelope:
    checked = Validator(max_body_bytes=4096).envelope(
        envelope("buildsys.tag", koji_tag("x", "a-1-1"), i=i or 0, timestamp=stamp, username=username)
    )
    assert isinstance(checked, Envelope)
    return checked


def test_a_skipped_sequence_number_is_a_gap_a_lower_one_a_restart() -> None:
    gap = gap_of(5, 1000.0, env(9, 1010.0), margin=2.0)
    assert gap is not None and (gap.publisher, gap.missing) == ("kojihub", 3)
    assert (gap.window.start, gap.window.end) == (998.0, 1012.0)
    assert gap_of(5, 1000.0, env(6, 1001.0), margin=2.0) is None  # the next one
    assert gap_of(5, 1000.0, env(1, 1001.0), margin=2.0) is None  # the publisher restarted
    assert gap_of(5, 1000.0, env(5, 1001.0), margin=2.0) is None  # seen again
    assert gap_of(None, None, env(40, 1001.0), margin=2.0) is None  # first message of a publisher


def test_start_windows() -> None:
    since_last = start_window(1000.0, 5000.0, 5000.0, margin=60, initial=0, maximum=86400)
    assert (since_last.start, since_last.end) == (940.0, None)
    first = start_window(None, 5000.0, 5005.0, margin=60, initial=3600, maximum=86400)
    assert (first.start, first.end, first.reason) == (5000.0 - 60 - 3600, None, "first start")
    assert start_window(1.0, 5000.0, 10**6, margin=60, initial=0, maximum=86400).start == 10**6 - 86400


def test_windows_merge() -> None:
    merged = Window(100, 200, "gap").union(Window(150, None, "reconnect")).union(Window(50, 60, "gap"))
    assert (merged.start, merged.end, merged.reason) == (50, None, "gap, reconnect")
    assert Window(1, 2, "a").union(Window(3, 4, "b")).end == 4


class Archive(BaseAdapter):
    """datagrepper /raw over a list that grows while it is read (as a live archive does)."""

    def __init__(self, messages: list[dict], grow_by: int = 0, fail_on_page: int | None = None) -> None:
        super().__init__()
        self.messages = messages
        self.grow_by = grow_by
        self.fail_on_page = fail_on_page
        self.queries: list[dict[str, list[str]]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:
        query = parse_qs(urlsplit(request.url).query)
        self.queries.append(query)
        page, rows = int(query["page"][0]), int(query["rows_per_page"][0])
        response = requests.Response()
        response.request, response.url = request, request.url
        if page == self.fail_on_page:
            response.status_code, response._content = 500, b"internal error"
            return response
        start = float(query["start"][0])
        selected = [m for m in self.messages if m["timestamp"] >= start]
        body = {
            "raw_messages": selected[(page - 1) * rows : page * rows],
            "pages": -(-len(selected) // rows),
            "total": len(selected),
        }
        response.status_code, response._content = 200, json.dumps(body).encode()
        for n in range(self.grow_by):
            self.messages.append({"msg_id": f"late-{page}-{n}", "timestamp": 10_000.0})
        return response

    def close(self) -> None:
        pass


def grepper(archive: Archive) -> Datagrepper:
    reader = Datagrepper("http://datagrepper.test/", rows_per_page=10)
    reader._session.mount("http://", archive)
    return reader


def test_datagrepper_is_read_page_by_page_oldest_first_until_the_last_page() -> None:
    messages = [{"msg_id": f"m{n}", "timestamp": 1000.0 + n} for n in range(35)]
    archive = Archive(messages, grow_by=3)
    got = [m["msg_id"] for m in grepper(archive).messages(Window(1005.0, None, "test"))]
    assert got[:30] == [f"m{n}" for n in range(5, 35)]
    assert got[30:] == [f"late-{p}-{n}" for p in (1, 2, 3) for n in range(3)] and len(got) == len(set(got))
    assert [q["page"] for q in archive.queries] == [["1"], ["2"], ["3"], ["4"]]
    assert all(q["order"] == ["asc"] and "end" not in q for q in archive.queries)
    ended = Archive(messages)
    list(grepper(ended).messages(Window(1000.0, 1020.5, "gap")))
    assert ended.queries[0]["end"] == ["1020.500000"]


def test_datagrepper_failures_are_replay_errors() -> None:
    messages = [{"msg_id": f"m{n}", "timestamp": 1000.0 + n} for n in range(25)]
    with pytest.raises(ReplayError, match="answered 500"):
        list(grepper(Archive(messages, fail_on_page=2)).messages(Window(0, None, "t")))
    reader = Datagrepper("http://127.0.0.1:9/")  # nothing listens on the discard port
    with pytest.raises(ReplayError, match="unreachable"):
        list(reader.messages(Window(0, None, "t")))
