"""MashOperator: the push's updates repository, one per arch of the release (:func:`relengotron.push_run.mash_push`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator


class MashOperator(BaseOperator):
    """Mash the push's Koji tag (``stable`` or ``testing`` of the release) into the updates repository of its
    stream in the staging tree — ``updates/<version>/<arch>`` or ``updates/testing/<version>/<arch>`` — for each
    arch of the release, with the push's updates (``updates``: the updates task's XCom, as Bodhi describes
    them) as updateinfo, and sign its ``repomd.xml``.

    The RPMs are the copies signed with the release's key (any other is refused, naming it); every build of
    the updates must already be the latest of its package in the tag (the tag_updates step moved them there).
    The repository's date is the run's (``issued``), the same on every retry.

    Idempotent: the same input again leaves the repository untouched (``changed`` False) and its signature
    too; a rerun after a crash builds beside the old repository and swaps it in whole. Returns one record per
    arch: ``{"arch", "path", "changed", "packages", "updates", "revision"}``.
    """

    template_fields: Sequence[str] = ("updates",)
    ui_color = "#e6f0ff"

    def __init__(
        self,
        *,
        updates: Any,
        koji_conn_id: str = "koji_default",
        signing_conn_id: str = "signing_default",
        workers: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.updates = updates
        self.koji_conn_id = koji_conn_id
        self.signing_conn_id = signing_conn_id
        self.workers = workers

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from relengotron.airflow.arguments import run_time
        from relengotron.airflow.connections import Connections
        from relengotron.airflow.errors import permanent_failures
        from relengotron.airflow.push import push_task
        from relengotron.push_run import mash_push

        with permanent_failures(), push_task(context, Connections.of(self), self.updates) as task:
            repos = mash_push(
                task.push, task.config, task.koji, task.signer, issued=run_time(context), workers=self.workers
            )
        for repo in repos:
            self.log.info("%s", repo.render())
        return [repo.as_dict() for repo in repos]
