"""Reading what the DAG runs recorded, from Airflow's own metadata database, as :class:`RunFacts`.

Why the ORM and not the REST API: the dashboard runs inside the api-server (the plugin's FastAPI app), which
holds the metadata database's engine and session already; the REST API would be a loopback HTTP call to the
same process for the same rows, with the user's token forwarded and the server's own address configured. What
the user may see is still Airflow's to say: every route checks the user's access to the DAGs it reads with the
auth manager before reading (:mod:`relengotron.dashboard.app`). Read-only: only SELECTs.
"""

from __future__ import annotations

from typing import Any

from relengotron.dashboard.facts import RunFacts, TaskFact


def latest_runs(dag_id: str, limit: int = 20) -> list[RunFacts]:
    """The newest ``limit`` runs of ``dag_id`` (by when they were due to run, newest first), each with its task
    instances and XComs. Two queries per run plus one; read-only."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        runs = session.scalars(
            select(DagRun)
            .where(DagRun.dag_id == dag_id)
            .order_by(DagRun.run_after.desc(), DagRun.id.desc())
            .limit(limit)
        ).all()
        return [_facts(session, run) for run in runs]


def _facts(session: Any, run: Any) -> RunFacts:
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    tis = session.scalars(
        select(TaskInstance).where(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
    ).all()
    tasks = {
        (ti.task_id, ti.map_index): TaskFact(
            state=str(ti.state) if ti.state is not None else None,
            try_number=int(ti.try_number or 0),
            label=ti.rendered_map_index,
            started=ti.start_date,
            ended=ti.end_date,
        )
        for ti in tis
    }
    rows = session.scalars(XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id)).all()
    xcoms = {(row.task_id, row.map_index, row.key): _value(XComModel.deserialize_value(row)) for row in rows}
    state = run.state
    return RunFacts(
        dag_id=run.dag_id,
        run_id=run.run_id,
        state=str(state) if state is not None else None,
        conf=dict(run.conf or {}),
        started=run.start_date,
        ended=run.end_date,
        tasks=tasks,
        xcoms=xcoms,
    )


def _value(stored: Any) -> Any:
    """An XCom's value as the task returned it: the row holds the Task SDK's serde encoding (a tuple is
    ``{"__classname__": "builtins.tuple", ...}``), decoded with the SDK's own ``serde.deserialize`` (which only
    builds the classes ``[core] allowed_deserialization_classes`` allows); plain JSON comes back as it is."""
    from airflow.sdk import serde

    try:
        return serde.deserialize(stored)
    except Exception:  # not serde's encoding: the value as stored
        return stored


def resultsdb_api(conn_id: str = "resultsdb_default") -> str | None:
    """ResultsDB's API root as the product's connection names it (for links to results; read from Airflow's
    secrets backends and environment as any component reads a connection), None when this process has no such
    connection."""
    try:
        from airflow.models.connection import Connection

        from relengotron.adapters.resultsdb import ResultsDBConnection
        from relengotron.airflow.hooks import connection_fields

        found = Connection.get_connection_from_secrets(conn_id)
        return ResultsDBConnection.from_mapping(connection_fields(found)).url
    except Exception:  # a link is a courtesy: the page shows the result without it
        return None
