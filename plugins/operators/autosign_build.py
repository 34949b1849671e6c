"""AutosignBuildOperator: sign one build waiting for a signature, record it in Koji, verify it, move it on.

(Named ``autosign_build`` and not ``autosign``: Airflow's plugin loader imports every file under ``plugins/``
under its bare file name, and ``dags/autosign.py`` is imported the same way by the DAG processor.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator


class AutosignBuildOperator(BaseOperator):
    """Sign every RPM of the build ``nvr`` with release ``release``'s key, have Koji write the signed copies,
    verify the copies Koji serves with the release's public key, and move the build from ``from_tag`` to
    ``to_tag`` (:func:`relengotron.autosign_run.autosign_build`). Returns the outcome
    (:meth:`relengotron.autosign.Outcome.as_dict`): ``signed`` when the task changed anything, else ``done``.

    Idempotent: RPMs Koji already holds a signature of the key for are not signed again; a build already in
    ``to_tag`` is done and nothing is sent; a run interrupted between signing and moving finishes the move.
    Refusals — no key configured for the release, an RPM signed with a different key, the key not available
    to the signer, a named build that is not waiting — fail the task at once with the reason, before anything
    is written; the build stays where it is. Transient failures (Koji, the signing host) are retried.
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
        from relengotron.airflow.autosign import sign_build

        item = {"nvr": self.nvr, "release": self.release, "from_tag": self.from_tag, "to_tag": self.to_tag}
        return sign_build(
            item, koji_conn_id=self.koji_conn_id, signing_conn_id=self.signing_conn_id, timeout=self.task_timeout
        )
