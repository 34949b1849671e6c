"""WebsiteOperator: the download website's data for the push's release, written and published."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator


class WebsiteOperator(BaseOperator):
    """Write the release's productmd ``images.json``, its static page and its public key (the release's
    signer's) from what the public staging tree holds — so a held-back candidate is never listed — then sync the
    website tree to the master mirror (:func:`relengotron.push_run.publish_website`).

    Idempotent: unchanged documents are not rewritten and the sync then transfers nothing. ``dry_run`` writes
    into staging but only lists what the sync would change. Returns ``{"written", "changes", "images", "refs"}``.
    """

    template_fields: Sequence[str] = ("dry_run",)
    ui_color = "#e3f1dc"

    def __init__(self, *, dry_run: Any = False, mirror_ssh_conn_id: str = "mirror_ssh", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dry_run = dry_run
        self.mirror_ssh_conn_id = mirror_ssh_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from relengotron.airflow.arguments import flag
        from relengotron.airflow.connections import Connections
        from relengotron.airflow.errors import permanent_failures
        from relengotron.airflow.push import push_task
        from relengotron.push_run import publish_website

        with permanent_failures(), push_task(context, Connections.of(self)) as task:
            published = publish_website(
                task.push, task.config, task.staging(), task.signer, dry_run=flag(self.dry_run, "dry_run")
            )
        self.log.info(
            "website: %d file(s) written, %d image(s) and %d ref(s) listed",
            len(published["written"]),
            published["images"],
            published["refs"],
        )
        return published
