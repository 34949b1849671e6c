"""The demo watches what it started, as a service manager would: the embedded Airflow supervises its own
components (:mod:`relengotron_sandbox.demo.airflow_local`, journal ``AIRFLOW_HOME/supervisor.jsonl``), the demo
supervises the listener (:mod:`relengotron_sandbox.supervise`, journal ``logs/supervisor.jsonl``). Each look
returns what died and came back, in words, for the live view; what cannot recover — the embedded Airflow itself
gone, or a component given up on — ends the demo with one sentence naming the component and its log.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from relengotron_sandbox import testing
from relengotron_sandbox.demo import airflow_local
from relengotron_sandbox.supervise import GaveUp, Supervisor, read_journal

LISTENER = "listener"
JOURNAL = "supervisor.jsonl"


class Unrecoverable(RuntimeError):
    """A part of the demo died and cannot be brought back: the message is the sentence to print."""


class Supervision:
    """One look per :meth:`check`: the embedded Airflow's journal read on from where the last look stopped, the
    listener restarted when it has exited. ``on_listener``: called with each new listener process (the demo
    records it so ``demo-stop`` stops it). Not thread-safe: the demo's watching loop calls it."""

    def __init__(
        self,
        *,
        airflow: testing.Process,
        airflow_home: Path,
        listener: testing.Process,
        start_listener: Callable[[], testing.Process],
        logs: Path,
        on_listener: Callable[[testing.Process], None],
    ) -> None:
        self.airflow = airflow
        self.airflow_journal = airflow_home / airflow_local.JOURNAL
        self.offset = 0
        self.on_listener = on_listener
        self.listener = Supervisor({LISTENER: start_listener}, logs={LISTENER: listener.log}, journal=logs / JOURNAL)
        self.listener.running[LISTENER] = listener  # started (and waited ready) by the demo

    @property
    def listener_process(self) -> testing.Process:
        return self.listener.running[LISTENER]

    def check(self) -> list[str]:
        """What died and came back since the last look, in words. Idempotent between deaths (nothing new: no
        lines). :class:`Unrecoverable` when the embedded Airflow has exited or the listener is given up on."""
        events, self.offset = read_journal(self.airflow_journal, self.offset)
        lines = [f"Airflow: {event.describe()}" for event in events if event.kind in ("exited", "restarted")]
        gave_up = [event for event in events if event.kind == "gave_up"]
        if gave_up or not self.airflow.alive():
            raise Unrecoverable(self._airflow_ended(gave_up[0].component if gave_up else None))
        try:
            found = self.listener.check()
        except GaveUp as exc:
            raise Unrecoverable(f"the demo cannot go on: the {exc}") from None
        for event in found:
            lines.append(event.describe())
            if event.kind == "restarted":
                self.on_listener(self.listener_process)
        return lines

    def _airflow_ended(self, component: str | None) -> str:
        if component is not None:
            return (
                f"the demo cannot go on: the embedded Airflow's {component} keeps exiting and was given up on; "
                f"see its log {self.airflow.log}"
            )
        status = self.airflow.returncode
        how = "was killed" if status is not None and status < 0 else f"exited (status {status})"
        return f"the demo cannot go on: the embedded Airflow {how}; see its log {self.airflow.log}"
