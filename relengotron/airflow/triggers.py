"""Triggers of the deferrable sensors: they wait in the triggerer, so a waiting sensor holds no worker slot.

The triggerer imports them from this installed package (``relengotron.airflow.triggers``); each
``serialize()``s to its class path and JSON-able keyword arguments only, so it can be stored and rebuilt.
Blocking client calls run in a thread (``asyncio.to_thread``); connections are read with
``await Hook.afields(conn_id)``. A deadline is an absolute time (epoch seconds), so a trigger rebuilt after a
triggerer restart does not wait longer than asked.

Events (``TriggerEvent.payload``):

:class:`ResultsTrigger` — ``{"status": "present", "results": [...]}`` once every required result is there
(finished; with ``since``, submitted since then); ``{"status": "missing", "missing": [...], "results": [...],
"message": "results missing: …"}`` when the deadline passes first (never "failed": a result that never came
is not a failed test); ``{"status": "error", "message"}`` on a permanent error (bad connection, ResultsDB
refusing the query). Transient errors (unreachable, 5xx) are logged and polled again.

:class:`KojiTaskTrigger` — ``{"status": "success", "task_id", "result"}`` when the task is CLOSED;
``{"status": "failed", "task_id", "state", "message"}`` when it FAILED or was CANCELED (Koji's fault text);
``{"status": "timeout", ...}`` past the deadline; ``{"status": "error", "message"}`` on a permanent error
(no such task). Transient errors (hub offline, connection refused) are polled again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from relengotron.adapters.resultsdb import ResultsDB
    from relengotron.kojiclient import KojiClient

PRESENT = "present"
MISSING = "missing"
ERROR = "error"
SUCCESS = "success"
FAILED = "failed"
TIMEOUT = "timeout"


class _PollingTrigger(BaseTrigger):
    """Shared: poll every ``poll_interval`` seconds until an event or the ``deadline`` (epoch seconds)."""

    def __init__(self, *, poll_interval: float, deadline: float | None) -> None:
        super().__init__()
        if float(poll_interval) <= 0:
            raise ValueError(f"poll_interval must be positive, not {poll_interval!r}")
        self.poll_interval = float(poll_interval)
        self.deadline = float(deadline) if deadline is not None else None

    def _expired(self) -> bool:
        return self.deadline is not None and time.time() >= self.deadline

    async def _pause(self) -> None:
        delay = self.poll_interval
        if self.deadline is not None:
            delay = max(0.0, min(delay, self.deadline - time.time()))
        await asyncio.sleep(delay)


class ResultsTrigger(_PollingTrigger):
    """Waits until ResultsDB holds a finished result of every required test case of every subject.

    ``subjects``: ``[{"type", "item", "name"?, "testcases": [name | [name, scenario]]}]`` (see
    :func:`relengotron.gating.waiting.awaited_to_json`). ``deadline``: epoch seconds, or None to wait forever.
    ``since``: an ISO date and time (a compose's); only results submitted since then, less ``clock_skew``
    seconds, count — ResultsDB keeps one item per artifact, so results of an EARLIER compose of the same
    artifact look just the same and must not satisfy the wait (:func:`relengotron.push.fresh_results`).
    """

    def __init__(
        self,
        *,
        subjects: Sequence[Mapping[str, Any]],
        deadline: float | None = None,
        poll_interval: float = 60.0,
        conn_id: str = "resultsdb_default",
        since: str | None = None,
        clock_skew: float = 0.0,
    ) -> None:
        from relengotron.gating.waiting import awaited_from_json, awaited_to_json
        from relengotron.push import fresh_results

        super().__init__(poll_interval=poll_interval, deadline=deadline)
        # checked and made canonical here, in the task that defers, rather than failing in the triggerer
        self.subjects = awaited_to_json(awaited_from_json(subjects))
        self.conn_id = conn_id
        self.since = since or None
        self.clock_skew = float(clock_skew)
        if self.clock_skew < 0:
            raise ValueError(f"clock_skew must not be negative, not {clock_skew!r}")
        if self.since is not None:
            fresh_results([], self.since)  # ValueError naming it when it is not an ISO date and time

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "subjects": self.subjects,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "conn_id": self.conn_id,
                "since": self.since,
                "clock_skew": self.clock_skew,
            },
        )

    def _fresh(self, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The results that count: all of them, or those submitted since ``since``."""
        if self.since is None:
            return found
        from relengotron.push import fresh_results

        return fresh_results(found, self.since, skew=timedelta(seconds=self.clock_skew))

    async def _client(self) -> ResultsDB:
        """The ResultsDB adapter from the connection (no request is sent to build it)."""
        from relengotron.adapters.resultsdb import ResultsDB, ResultsDBConnection
        from relengotron.airflow.hooks import ResultsDBHook

        fields = await ResultsDBHook.afields(self.conn_id)
        return ResultsDB.connect(ResultsDBConnection.from_mapping(fields))

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from relengotron.adapters.errors import is_transient
        from relengotron.gating.waiting import absent, absent_to_json, awaited_from_json, describe_absent, slim_result

        awaiting = awaited_from_json(self.subjects)
        subjects = [a.subject for a in awaiting]
        cases = sorted({r.test_case_name for a in awaiting for r in a.rules})
        try:
            client = await self._client()
        except Exception as exc:
            yield TriggerEvent({"status": ERROR, "message": f"resultsdb connection {self.conn_id!r}: {exc}"})
            return
        results: list[dict[str, Any]] = []
        last_error = ""
        try:
            while True:
                if cases:
                    try:
                        found = await asyncio.to_thread(client.latest_for, subjects, cases)
                    except Exception as exc:
                        if not is_transient(exc):
                            yield TriggerEvent({"status": ERROR, "message": str(exc)})
                            return
                        last_error = str(exc)
                        self.log.warning("ResultsDB not answering, polling again: %s", exc)
                    else:
                        results, last_error = [slim_result(r) for r in self._fresh(found)], ""
                missing = absent(awaiting, results)
                if not missing and not last_error:
                    yield TriggerEvent({"status": PRESENT, "results": results})
                    return
                if self._expired():
                    message = describe_absent(missing) if missing else "results missing"
                    if last_error:
                        message += f" (last ResultsDB error: {last_error})"
                    yield TriggerEvent(
                        {"status": MISSING, "missing": absent_to_json(missing), "results": results, "message": message}
                    )
                    return
                self.log.info("waiting for %d result(s): %s", len(missing), describe_absent(missing))
                await self._pause()
        finally:
            client.close()


class KojiTaskTrigger(_PollingTrigger):
    """Waits until Koji task ``task_id`` finishes; reads anonymously (no login is needed to watch a task)."""

    def __init__(
        self,
        *,
        task_id: int,
        deadline: float | None = None,
        poll_interval: float = 30.0,
        conn_id: str = "koji_default",
    ) -> None:
        super().__init__(poll_interval=poll_interval, deadline=deadline)
        if isinstance(task_id, bool) or not isinstance(task_id, int) or task_id < 1:
            raise ValueError(f"task_id must be a positive integer, not {task_id!r}")
        # not ``self.task_id``: the triggerer sets that attribute to the Airflow task's id (BaseTrigger.task_instance)
        self.koji_task_id = task_id
        self.conn_id = conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "task_id": self.koji_task_id,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "conn_id": self.conn_id,
            },
        )

    async def _client(self) -> KojiClient:
        from relengotron.airflow.hooks import KojiHook
        from relengotron.kojiclient import KojiConnection, connect

        fields = await KojiHook.afields(self.conn_id)
        conn = dataclasses.replace(KojiConnection.from_mapping(fields), auth="none")
        return await asyncio.to_thread(connect, conn)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from relengotron.adapters.errors import is_transient
        from relengotron.kojiclient import KojiError

        item = f"task {self.koji_task_id}"
        try:
            client = await self._client()
        except Exception as exc:
            yield TriggerEvent({"status": ERROR, "task_id": self.koji_task_id, "message": f"koji connection: {exc}"})
            return
        state = "unknown"
        try:
            while True:
                try:
                    state = await asyncio.to_thread(client.task_state, self.koji_task_id)
                    if state == "CLOSED":
                        result = await asyncio.to_thread(client.call, "getTaskResult", self.koji_task_id, item=item)
                        yield TriggerEvent({"status": SUCCESS, "task_id": self.koji_task_id, "result": result})
                        return
                    if state in ("FAILED", "CANCELED"):
                        yield TriggerEvent(
                            {
                                "status": FAILED,
                                "task_id": self.koji_task_id,
                                "state": state,
                                "message": await asyncio.to_thread(_fault_text, client, self.koji_task_id, state),
                            }
                        )
                        return
                except KojiError as exc:
                    if not is_transient(exc):
                        yield TriggerEvent({"status": ERROR, "task_id": self.koji_task_id, "message": str(exc)})
                        return
                    self.log.warning("Koji not answering, polling again: %s", exc)
                if self._expired():
                    yield TriggerEvent(
                        {
                            "status": TIMEOUT,
                            "task_id": self.koji_task_id,
                            "state": state,
                            "message": f"Koji task {self.koji_task_id} still {state} at the deadline",
                        }
                    )
                    return
                await self._pause()
        finally:
            await asyncio.to_thread(client.close)


@dataclass(frozen=True)
class KojiTaskEnd:
    """A :class:`KojiTaskTrigger` event, read: how the wait ended (``status``: success, failed, timeout, error),
    for which Koji task, and Koji's words. Pure."""

    status: str
    task_id: int
    state: str | None = None
    message: str | None = None
    result: Any = None

    @classmethod
    def of(cls, event: Mapping[str, Any], task_id: Any = None) -> KojiTaskEnd:
        """The event's reading; ``task_id``: the task waited on, when the event does not name it. ValueError
        when neither names a task."""
        try:
            task = int(event.get("task_id") or task_id or 0)
        except (TypeError, ValueError):
            task = 0
        if task < 1:
            raise ValueError(f"the end of the wait names no Koji task: {dict(event)!r}")
        return cls(str(event.get("status")), task, event.get("state"), event.get("message"), event.get("result"))

    def describe(self, what: str = "Koji task") -> str:
        """How the wait ended, in words (``what`` names the task: "Koji image task")."""
        if self.status == FAILED:
            return f"{what} {self.task_id} {str(self.state or 'failed').lower()}: {self.message}"
        if self.status == TIMEOUT:
            return str(self.message or f"{what} {self.task_id} did not finish in time")
        if self.status == SUCCESS:
            return f"{what} {self.task_id} closed"
        return f"waiting for {what} {self.task_id} failed: {self.message}"


def _fault_text(client: KojiClient, task_id: int, state: str) -> str:
    """Koji's own words about why the task ended: ``getTaskResult`` raises the task's fault."""
    try:
        client.session.getTaskResult(task_id)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return f"task {task_id} {state.lower()}"
