"""MasherComposesOperator: Bodhi 2's ``bodhi.masher.start`` split into its composes (docs/bodhi-handshake.md §1)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

from airflow.sdk import BaseOperator

from relengotron.airflow.connections import Connections, TaskClients
from relengotron.airflow.errors import permanent_failures


class MasherComposesOperator(BaseOperator):
    """The composes of one ``bodhi.masher.start`` (``titles``: each update's NVRs joined by spaces, as Bodhi 2
    titled updates): each title's update read from Bodhi, grouped per release and request, security composes
    first (:func:`relengotron.push_run.masher_composes`). Returns one ``{"trigger_run_id", "conf"}`` per
    compose — the ``updates_push`` run to trigger, its id derived from this run's so that a rerun triggers
    nothing twice. Read-only; an update Bodhi does not know, or one that cannot be pushed, fails the task at
    once naming it."""

    template_fields: Sequence[str] = ("push_id", "titles", "agent")
    ui_color = "#e8f4fa"

    def __init__(
        self, *, push_id: str, titles: Any, agent: Any = None, bodhi_conn_id: str = "bodhi_default", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.push_id = push_id
        self.titles = titles
        self.agent = agent
        self.bodhi_conn_id = bodhi_conn_id

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from relengotron.airflow.hooks import release_config
        from relengotron.push import parse_entries
        from relengotron.push_run import masher_composes

        with permanent_failures(), ExitStack() as stack:
            bodhi = TaskClients(Connections.of(self), stack).bodhi
            confs = masher_composes(
                parse_entries(self.titles), release_config(), bodhi, push_id=str(self.push_id), agent=self.agent
            )
        for conf in confs:
            self.log.info("compose %s: %d update(s)", conf["repo"], len(conf["updates"]))
        return [{"trigger_run_id": f"{context['run_id']}__{conf['repo']}", "conf": conf} for conf in confs]
