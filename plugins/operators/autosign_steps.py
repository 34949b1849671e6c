"""Operators of the ``autosign`` DAG: list the builds waiting for a signature, sign one build, sum the run up.

Each ``execute`` calls one function of :mod:`relengotron.autosign_run` (or of the pure
:mod:`relengotron.autosign`) with Koji and the signer built from the connections on first use.

(Named ``autosign_steps`` and not ``autosign``: ``dags/autosign.py`` is imported under its bare file name by
the DAG processor.)
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from relengotron.airflow.connections import Connections, TaskClients
from relengotron.airflow.errors import permanent_failures
from relengotron.autosign import REFUSED_XCOM


class AutosignListOperator(BaseOperator):
    """The builds to sign: ``builds`` (NVRs), or every build waiting in ``release``'s signing-pending tags when
    empty (at most :data:`relengotron.autosign.MAX_BUILDS`), each with the chain step it is on
    (:func:`relengotron.autosign_run.list_builds`). Returns the mapped task's items
    (:meth:`relengotron.autosign.Item.as_dict`); the NVRs a sweep leaves for the next run are the XCom
    ``left_over``. Read-only.

    An unknown release, a release with nothing that waits for signing, or a named build Koji does not know
    fails the task at once, naming it. A named build that is not waiting is listed: its own task says
    whether it is done already or refused.
    """

    template_fields: Sequence[str] = ("release", "builds")
    ui_color = "#e8f4fa"

    def __init__(self, *, release: str, builds: Any = (), koji_conn_id: str = "koji_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.release = release
        self.builds = builds
        self.koji_conn_id = koji_conn_id

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from relengotron.airflow.hooks import release_config
        from relengotron.autosign import MAX_BUILDS
        from relengotron.autosign_run import list_builds

        with permanent_failures(), ExitStack() as stack:
            release = release_config().release(str(self.release))
            koji = TaskClients(Connections.of(self), stack).koji
            selection = list_builds(koji, release, list(self.builds or ()), limit=MAX_BUILDS)
        if selection.not_waiting:
            self.log.warning("named but not waiting for signing: %s", ", ".join(selection.not_waiting))
        if selection.left_over:
            self.log.warning("%d more build(s) wait; left for the next run", len(selection.left_over))
        self.log.info("%d build(s) to sign: %s", len(selection.items), ", ".join(i.nvr for i in selection.items))
        context["ti"].xcom_push(key="left_over", value=list(selection.left_over))
        return [item.as_dict() for item in selection.items]


class AutosignBuildOperator(BaseOperator):
    """Sign every RPM of the build ``nvr`` with release ``release``'s key, have Koji write the signed copies,
    verify the copies Koji serves with the release's public key, and move the build from ``from_tag`` to
    ``to_tag`` (:func:`relengotron.autosign_run.autosign_build`). Returns the outcome
    (:meth:`relengotron.autosign.Outcome.as_dict`): ``signed`` when the task changed anything, else ``done``.

    Idempotent: RPMs Koji already holds a signature of the key for are not signed again; a build already in
    ``to_tag`` is done and nothing is sent; a run interrupted between signing and moving finishes the move.
    Refusals — no key configured for the release, an RPM signed with a different key, the key not available
    to the signer, a named build that is not waiting — fail the task at once with the reason, before anything
    is written; the build stays where it is. The reason is also the task's XCom ``refused`` (``{"nvr",
    "reason"}``), which the dashboard shows. Transient failures (Koji, the signing host) are retried.
    """

    template_fields: Sequence[str] = ("nvr", "release", "from_tag", "to_tag")
    ui_color = "#e6f6e6"

    def __init__(
        self,
        *,
        nvr: str,
        release: str,
        from_tag: str,
        to_tag: str | None,
        koji_conn_id: str = "koji_default",
        signing_conn_id: str = "signing_default",
        task_timeout: float = 3600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.nvr = nvr
        self.release = release
        self.from_tag = from_tag
        self.to_tag = to_tag
        self.koji_conn_id = koji_conn_id
        self.signing_conn_id = signing_conn_id
        self.task_timeout = task_timeout

    def execute(self, context: Any) -> dict[str, Any]:
        from relengotron.airflow.connections import release_signer
        from relengotron.airflow.hooks import release_config
        from relengotron.autosign import AutosignError, Item
        from relengotron.autosign_run import autosign_build

        with permanent_failures(), ExitStack() as stack:
            item = Item.from_dict(
                {"nvr": self.nvr, "release": self.release, "from_tag": self.from_tag, "to_tag": self.to_tag}
            )
            config = release_config()
            connections = Connections.of(self)
            signer = release_signer(config, item.release, connections)

            def make_signer() -> Any:
                if signer is None:
                    raise AutosignError(item.nvr, f"release {item.release} has no signing key")
                return signer

            koji = TaskClients(connections, stack).koji
            key = config.release(item.release).signing_key
            try:
                outcome = autosign_build(koji, item, key, make_signer, timeout=self.task_timeout)
            except AutosignError as exc:
                # the refusal, recorded where the dashboard reads it (the task fails at once, with no return value)
                context["ti"].xcom_push(key=REFUSED_XCOM, value={"nvr": item.nvr, "reason": exc.reason})
                raise
        self.log.info("%s: %s (%s)", outcome.nvr, outcome.outcome, outcome.reason)
        return outcome.as_dict()


class AutosignSummaryOperator(BaseOperator):
    """The run in numbers (:func:`relengotron.autosign.summary`: listed, signed, already done, not done, left for
    the next run), logged and returned. Builds not done (refused, or failed for another reason) fail the task
    at once, naming them, so that the run shows red; each one's own task instance (its map index) says why.
    Read-only."""

    template_fields: Sequence[str] = ("items", "outcomes", "left_over")
    ui_color = "#fdf6e3"

    def __init__(self, *, items: Any, outcomes: Any, left_over: Any = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.items = items
        self.outcomes = outcomes
        self.left_over = left_over

    def execute(self, context: Any) -> dict[str, Any]:
        from relengotron.airflow.arguments import xcom_list
        from relengotron.autosign import summary

        if self.items is None:
            raise AirflowFailException("no list of builds: did the task listing them fail?")
        found = summary(list(self.items), xcom_list(self.outcomes), list(self.left_over or ()))
        counts = (
            f"{found['listed']} listed, {found['signed']} signed, {found['already_done']} already done, "
            f"{found['not_done']} not done, {found['left_for_next_run']} left for the next run"
        )
        self.log.info("autosign: %s", counts)
        if found["not_done"]:
            names = ", ".join(found["builds"]["not_done"])
            raise AirflowFailException(f"{counts}; not signed (see their sign_build map index for why): {names}")
        return found
