"""Operators of the ``rawhide_gating`` DAG: list the builds at the gate, decide about them. Both read only; the
moves are :class:`operators.koji_tag.KojiTagOperator`'s and the messages
:class:`operators.fedmsg_publish.FedmsgPublishOperator`'s.

Each ``execute`` calls one function of :mod:`relengotron.gating_run` with the client built from its
connection on first use (closed after); the decisions are the pure :mod:`relengotron.gating.rawhide`'s.
Transient failures are raised as they are (the task's retries apply); every other one fails the task at
once, naming the item.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

from airflow.sdk import BaseOperator

from relengotron.airflow.connections import Connections, TaskClients
from relengotron.airflow.errors import permanent_failures


class GatingListOperator(BaseOperator):
    """The builds at ``release``'s gate — its pending tag, and its quarantine with ``include_quarantined`` — or
    only ``builds`` among them, as records that are also gating subjects (``type``, ``item``, ``name``) with
    each one's package, Koji owner and tag (:func:`relengotron.gating_run.gate_candidates`).

    Read-only. A named build that is not at the gate any more is logged and left out (another run gated it);
    one that Koji does not know fails the task, naming it.
    """

    template_fields: Sequence[str] = ("release", "builds", "include_quarantined")
    ui_color = "#e8f4fa"

    def __init__(
        self,
        *,
        release: str,
        builds: Any = (),
        include_quarantined: Any = True,
        koji_conn_id: str = "koji_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.release = release
        self.builds = builds
        self.include_quarantined = include_quarantined
        self.koji_conn_id = koji_conn_id

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from relengotron.airflow.arguments import flag
        from relengotron.airflow.hooks import release_config
        from relengotron.gating.rawhide import GateTags
        from relengotron.gating_run import gate_candidates

        with permanent_failures(), ExitStack() as stack:
            include = flag(self.include_quarantined, "include_quarantined")
            tags = GateTags.of(release_config().release(str(self.release)))
            koji = TaskClients(Connections.of(self), stack).koji
            selection = gate_candidates(koji, tags, wanted=list(self.builds or ()), include_quarantined=include)
        if selection.not_at_gate:
            where = f"{tags.pending}, {tags.quarantine}" if include else tags.pending
            self.log.warning("not at the gate (%s), left out: %s", where, ", ".join(selection.not_at_gate))
        self.log.info(
            "%d build(s) to gate: %s", len(selection.candidates), ", ".join(c.nvr for c in selection.candidates)
        )
        return [c.as_dict() for c in selection.candidates]


class GatingDecideOperator(BaseOperator):
    """Decide about ``candidates`` (the list task's records) from the results ResultsDB holds now, under the
    release configuration's policies (:func:`relengotron.gating_run.decide_gating`). Returns the moves
    (:class:`operators.koji_tag.KojiTagOperator` kwargs); the whole plan — verdicts and messages
    (:class:`operators.fedmsg_publish.FedmsgPublishOperator` kwargs) — is the XCom ``plan``.

    Read-only: rerun, it decides again from the newest results.
    """

    template_fields: Sequence[str] = ("release", "candidates")
    ui_color = "#fdf6e3"

    def __init__(
        self, *, release: str, candidates: Any, resultsdb_conn_id: str = "resultsdb_default", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.release = release
        self.candidates = candidates
        self.resultsdb_conn_id = resultsdb_conn_id

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from relengotron.airflow.hooks import release_config
        from relengotron.gating import load_policies
        from relengotron.gating.rawhide import Candidate
        from relengotron.gating_run import decide_gating

        with permanent_failures(), ExitStack() as stack:
            if self.candidates is None:
                raise ValueError("no list of candidates: did the task listing the builds fail?")
            config = release_config()
            chosen = [Candidate.from_dict(c) for c in self.candidates]
            results = TaskClients(Connections.of(self), stack).resultsdb
            plan = decide_gating(
                results, load_policies(config.gating_policies), config.release(str(self.release)), chosen
            )
        self.log.info("%s", plan.summary())
        found = plan.as_dict(run_id=context.get("run_id"))
        context["ti"].xcom_push(key="plan", value=found)
        return found["moves"]
