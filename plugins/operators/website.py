"""WebsiteOperator: the download website's data for the push's release, written and published."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from operators.compose import push_params
from relengotron.airflow.services import permanent_failures


class WebsiteOperator(BaseOperator):
    """Write the release's productmd ``images.json`` and its static page (every current artifact with its
    checksum and signature links; :mod:`relengotron.website`) into the staging website path, from what the
    public staging tree holds — so a held-back candidate is never listed — then sync the website tree to the
    master mirror (an index: it goes last, after the content it names).

    Idempotent: unchanged documents are not rewritten and the sync then transfers nothing. ``dry_run`` writes
    into staging but only lists what the sync would change. Returns ``{"written", "changes"}``.
    """

    template_fields: Sequence[str] = ("dry_run",)
    ui_color = "#e3f1dc"

    def __init__(self, *, dry_run: Any = False, mirror_ssh_conn_id: str = "mirror_ssh", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dry_run = dry_run
        self.mirror_ssh_conn_id = mirror_ssh_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from relengotron.airflow.push import load_push
        from relengotron.airflow.services import flag, sync_staging
        from relengotron.website import gather, write_site

        with permanent_failures():
            dry_run = flag(self.dry_run, "dry_run")
            config, push = load_push(push_params(context))
            site = gather(config, push.release.id)
            written = write_site(config, site)
            changes = sync_staging(
                config, [config.mirror.website.strip("/")], dry_run=dry_run, mirror_ssh=self.mirror_ssh_conn_id
            )
        self.log.info(
            "website: %d file(s) written, %d image(s) and %d ref(s) listed",
            len(written),
            len(site.images),
            len(site.ostree),
        )
        return {"written": written, "changes": changes}
