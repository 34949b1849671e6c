"""The Bugzilla adapter over python-bugzilla (REST, API key) against the sandbox Bugzilla: open bugs of a
release, closing them as CLOSED/EOL with a comment, idempotently."""

from __future__ import annotations

from collections.abc import Iterator

import bugzilla
import pytest
from test_adapters_support import bugzilla_of

from relengotron.adapters import bugzilla as adapter_module
from relengotron.adapters.bugzilla import Bugzilla, BugzillaConnection
from relengotron.adapters.errors import AdapterError, NotFoundError, TransientError
from relengotron.eol import OpenBug
from relengotron_sandbox.bugzilla import BugzillaService
from relengotron_sandbox.service import SandboxContext

pytestmark = pytest.mark.integration

COMMENT = "Fedora 23 changed to end-of-life (EOL) status on 2016-12-20."


@pytest.fixture
def bz(recording_ctx: SandboxContext) -> Iterator[Bugzilla]:
    service = BugzillaService(recording_ctx)
    recording_ctx.endpoints["bugzilla"] = service.start()
    adapter = bugzilla_of(recording_ctx.endpoints)
    yield adapter
    adapter.close()
    service.stop()


def _reader(ctx: SandboxContext) -> bugzilla.Bugzilla:
    return bugzilla.Bugzilla(ctx.endpoints["bugzilla"]["url"], force_rest=True, use_creds=False)


def test_open_bugs_of_a_release_page_by_page(
    bz: Bugzilla, recording_ctx: SandboxContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = recording_ctx.world
    expected = [
        OpenBug(b.id, b.product, b.version, b.component)
        for b in sorted(world.bugs, key=lambda b: b.id)
        if b.version == "23" and b.status != "CLOSED"
    ]
    assert len(expected) == 3
    assert bz.open_bugs("Fedora", "23") == expected
    monkeypatch.setattr(adapter_module, "PAGE", 2)  # two pages: 2 bugs, then 1
    sent: list[dict] = []
    session = bz.client.get_requests_session()
    session.hooks["response"].append(lambda r, *a, **k: sent.append(r.url))
    assert bz.open_bugs("Fedora", "23") == expected
    assert len(sent) == 2 and "offset=2" in sent[1]
    assert [b.id for b in bz.open_bugs("Fedora", "rawhide")] == [1300107]
    assert bz.open_bugs("Fedora", "22") == []


def test_close_bugs_as_eol_once(bz: Bugzilla, recording_ctx: SandboxContext) -> None:
    ids = [b.id for b in bz.open_bugs("Fedora", "23")]
    closed = bz.close_bugs([*ids, 1300104], COMMENT)  # 1300104 is closed already (ERRATA)
    assert closed == ids
    reader = _reader(recording_ctx)
    for bug in reader.getbugs(ids):
        assert (bug.status, bug.resolution) == ("CLOSED", "EOL")
        assert bug.getcomments()[-1]["text"] == COMMENT
    assert (reader.getbug(1300104).status, reader.getbug(1300104).resolution) == ("CLOSED", "ERRATA")
    assert bz.open_bugs("Fedora", "23") == []
    updates = [m for m in recording_ctx.publisher.messages if m[:2] == ("bugzilla", "bug.update")]
    assert len(updates) == 3

    assert bz.close_bugs(ids, COMMENT) == []  # a rerun: nothing closed, no second comment
    assert [len(b.getcomments()) for b in reader.getbugs(ids)] == [2, 2, 2]
    assert len([m for m in recording_ctx.publisher.messages if m[:2] == ("bugzilla", "bug.update")]) == 3
    assert [b.id for b in bz.open_bugs("Fedora", "24")] == [1300105, 1300106]


def test_errors_name_the_bug_and_nothing_changes(bz: Bugzilla, recording_ctx: SandboxContext) -> None:
    with pytest.raises(NotFoundError, match="4242"):
        bz.close_bugs([1300105, 4242], COMMENT)
    assert _reader(recording_ctx).getbug(1300105).status == "NEW"  # refused before any change
    with pytest.raises(AdapterError, match="close bug 1300105") as bad:
        bz.close_bugs([1300105], COMMENT, resolution="LATER")
    assert not isinstance(bad.value, TransientError | NotFoundError)
    anonymous = Bugzilla(BugzillaConnection(recording_ctx.endpoints["bugzilla"]["url"]))
    with pytest.raises(AdapterError, match="log in"):
        anonymous.close_bugs([1300105], COMMENT)
    anonymous.close()
    gone = Bugzilla(BugzillaConnection("http://127.0.0.1:9/rest/", api_key="k"))
    with pytest.raises(TransientError, match="connect to"):
        gone.open_bugs("Fedora", "24")
    with pytest.raises(ValueError, match="unknown field"):
        BugzillaConnection.from_mapping({"host": "http://x/rest/", "colour": "blue"})
