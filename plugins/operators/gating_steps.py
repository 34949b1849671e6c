"""Operators of the ``rawhide_gating`` DAG: list the builds at the gate (read only), and gate each build on its own
(its verdict and its move); the messages are :class:`operators.bus_publish.BusPublishOperator`'s.

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


class GateBuildOperator(BaseOperator):
    """Gate ONE build (mapped, one map index per build): where it is now, its verdict from the results ResultsDB
    holds now under the release configuration's policies, and its move — promoted into the release's tag or
    into quarantine (:func:`relengotron.gating_run.gate_build`). Runs as soon as that build's own wait is over,
    whatever the other builds still wait for. Returns ``{"verdict", "moved", "topic", "body"}`` and pushes
    ``topic`` and ``body`` as XComs of their own for the publish task: ``body`` is its outcome's message, None
    when there is nothing to announce — pushed as ``{}`` then (the publish task skips an empty body), because
    Airflow 3 pulls an XCom whose value is None as a missing one: the publish task's ``body`` argument would
    fail to render (``XComNotFound``) instead of skipping.

    Idempotent: rerun, it finds the build moved and sends and announces nothing.
    """

    template_fields: Sequence[str] = ("release", "candidate")
    ui_color = "#fdf6e3"

    def __init__(
        self,
        *,
        release: str,
        candidate: Any,
        koji_conn_id: str = "koji_default",
        resultsdb_conn_id: str = "resultsdb_default",
        task_timeout: float = 3600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.release = release
        self.candidate = candidate
        self.koji_conn_id = koji_conn_id
        self.resultsdb_conn_id = resultsdb_conn_id
        self.task_timeout = task_timeout

    def execute(self, context: Any) -> dict[str, Any]:
        from relengotron.airflow.hooks import release_config
        from relengotron.gating import load_policies
        from relengotron.gating.rawhide import Candidate
        from relengotron.gating_run import gate_build

        with permanent_failures(), ExitStack() as stack:
            config = release_config()
            clients = TaskClients(Connections.of(self), stack)
            done = gate_build(
                clients.koji,
                clients.resultsdb,
                load_policies(config.gating_policies),
                config.release(str(self.release)),
                Candidate.from_dict(self.candidate),
                run_id=context.get("run_id"),
                timeout=self.task_timeout,
            )
        context["ti"].xcom_push(key="topic", value=done["topic"])
        context["ti"].xcom_push(key="body", value=done["body"] or {})  # never None: see the docstring
        verdict = done["verdict"]
        if verdict is None:
            self.log.info("%s is no longer at the gate: another run gated it", self.candidate.get("nvr"))
        else:
            moved = "moved" if done["moved"] else "not moved"
            self.log.info(
                "%s: %s → %s (%s): %s", verdict["nvr"], verdict["outcome"], verdict["to_tag"], moved, verdict["summary"]
            )
        return done
