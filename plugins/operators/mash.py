"""MashOperator: the push's updates repository, one per arch of the release, through :func:`relengotron.mash.mash`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from relengotron.airflow.services import permanent_failures


class MashOperator(BaseOperator):
    """Mash the push's Koji tag (``stable`` or ``testing`` of the release) into the updates repository of its
    stream in the staging tree — ``updates/<version>/<arch>`` or ``updates/testing/<version>/<arch>`` — for each
    arch of the release, with the push's updates as updateinfo, and sign its ``repomd.xml``.

    The RPMs are the copies signed with the release's key (any other is refused, naming it); every build of
    the updates must already be the latest of its package in the tag (Bodhi tags them before it triggers the
    push). The repository's date is the run's (``issued``), the same on every retry.

    Idempotent: the same input again leaves the repository untouched (``changed`` False) and its signature
    too; a rerun after a crash builds beside the old repository and swaps it in whole. Returns one record per
    arch: ``{"arch", "path", "changed", "packages", "updates", "revision"}``.
    """

    template_fields: Sequence[str] = ()
    ui_color = "#e6f0ff"

    def __init__(
        self,
        *,
        koji_conn_id: str = "koji_default",
        signing_conn_id: str = "signing_default",
        workers: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.koji_conn_id = koji_conn_id
        self.signing_conn_id = signing_conn_id
        self.workers = workers

    def execute(self, context: Any) -> list[dict[str, Any]]:
        import tempfile

        from operators.compose import push_params
        from relengotron import mash as masher
        from relengotron.adapters.errors import TransientError
        from relengotron.airflow.hooks import KojiHook
        from relengotron.airflow.push import PushConnections, load_push, release_signer
        from relengotron.push import updates_path

        issued = _issued(context)
        out: list[dict[str, Any]] = []
        with permanent_failures():
            config, push = load_push(push_params(context))
            signer = release_signer(config, push.release.id, PushConnections(signing=self.signing_conn_id))
            koji = KojiHook(self.koji_conn_id).client
            try:
                with tempfile.TemporaryDirectory(prefix="mash-keys-") as keys:
                    public = [signer.export_public_key(Path(keys) / "release.asc")] if signer else []
                    for arch in push.release.arches:
                        rel = updates_path(config.mirror, push.release, arch, push.stream)
                        try:
                            result = masher.mash(
                                koji,
                                push.release,
                                push.tag,
                                Path(config.mirror.staging) / rel,
                                push.updates,
                                arch=arch,
                                issued=issued,
                                status=push.request,
                                public_keys=public,
                                workers=self.workers,
                            )
                        except masher.MashTransientError as exc:
                            raise TransientError("koji", exc.item, exc.reason) from exc
                        if signer is not None:
                            signer.sign_repomd(result.dest)
                        self.log.info(
                            "%s: %d packages, %d updates (%s)",
                            rel,
                            len(result.packages),
                            len(result.updates),
                            "written" if result.changed else "already so",
                        )
                        out.append(
                            {
                                "arch": arch,
                                "path": rel,
                                "changed": result.changed,
                                "packages": list(result.packages),
                                "updates": list(result.updates),
                                "revision": result.revision,
                            }
                        )
            finally:
                koji.close()
        return out


def _issued(context: Any) -> datetime:
    """The push's date: when the run was triggered (stable across retries), now when the context does not say."""
    run = context.get("dag_run") if hasattr(context, "get") else None
    when = getattr(run, "run_after", None) or getattr(run, "logical_date", None)
    if isinstance(when, datetime):
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    return datetime.now(UTC).replace(microsecond=0)
