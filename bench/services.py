"""Sandbox services started in this process for one figure, and clients of them that count their calls.

Services bind to 127.0.0.1 on free ports and are stopped (in reverse order) when the block ends. Their bus
messages go nowhere (:class:`Discard`): no figure that uses these reads the bus.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class Discard:
    """A publisher that drops what the services publish."""

    def publish(self, modname: str, topic: str, msg: dict[str, Any]) -> None:
        del modname, topic, msg


@contextmanager
def started(state_dir: Path, world: Any, built: Any, kinds: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """The named sandbox services (``koji``, ``resultsdb``, ``pdc``) on a fresh state dir; yields the context's
    endpoints, plus the started service objects under ``"_services"``."""
    from relengotron_sandbox.koji import KojiHub
    from relengotron_sandbox.pdc import PDCService
    from relengotron_sandbox.resultsdb import ResultsDBService
    from relengotron_sandbox.service import SandboxContext

    known = {"koji": KojiHub, "resultsdb": ResultsDBService, "pdc": PDCService}
    ctx = SandboxContext(state_dir=state_dir, world=world, built=built)
    ctx.publisher = Discard()
    running: list[Any] = []
    try:
        for kind in kinds:
            service = known[kind](ctx)
            ctx.endpoints[service.name] = service.start()
            running.append(service)
        yield {**ctx.endpoints, "_services": {s.name: s for s in running}}
    finally:
        ctx.stopping.set()
        for service in reversed(running):
            service.stop()


@dataclass
class CallCounter:
    """Counts the HTTP requests a ``koji.ClientSession`` sends (a multicall is one)."""

    count: int = 0


def count_koji_requests(session: Any) -> CallCounter:
    """Wrap ``session._sendCall`` (one per HTTP POST to the hub) with a counter."""
    counter = CallCounter()
    send = session._sendCall

    def counted(*args: Any, **kwargs: Any) -> Any:
        counter.count += 1
        return send(*args, **kwargs)

    session._sendCall = counted
    return counter


def koji_client(endpoints: dict[str, Any]) -> Any:
    """A logged-in :class:`relengotron.kojiclient.KojiClient` of the sandbox hub (user releng)."""
    from relengotron.kojiclient import KojiConnection, connect

    koji = endpoints["koji"]
    fields = {"hub": koji["hub"], "topurl": koji["topurl"], "login": "releng", "password": "sandbox"}
    return connect(KojiConnection.from_mapping({**fields, "poll_interval": 0.05}))


def resultsdb_client(endpoints: dict[str, Any]) -> Any:
    from relengotron.adapters.resultsdb import ResultsDB, ResultsDBConnection

    return ResultsDB.connect(ResultsDBConnection(endpoints["resultsdb"]["url"], max_retries=0))
