"""Operators of the ``ostree_maintenance`` DAG: list the releases' refs, prune, finish each ref, sign the summary,
and carry the result to the master mirror.

Thin adapters over :mod:`relengotron.ostree.maintenance` (and :func:`relengotron.ostree.prune.prune`). Two
repositories are maintained: the RELEASED one (the staging tree's, which the sync carries to the master mirror
and clients pull) gets everything — prune, finished heads, the signed summary, then the sync; the shared
COMPOSE repository (where candidates are merged; never pulled by clients) is pruned by the same retention.
Writes to the released repository hold the staging lock (:func:`relengotron.airflow.services.released_repo`),
so they never race a push's promotion or sync. Repositories, retention policy and signers come from the
release configuration and the signing connection (:mod:`relengotron.airflow.services`, built on first use).
Constructors only store their arguments. With ``preview`` true a task says what it would do and writes nothing.

Failures: transient ones are raised as they are (the task's retries apply); every other one — a tool that
fails, a signature that does not verify, a kept commit missing — fails the task at once, naming the item.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

from relengotron.airflow.services import flag, permanent_failures


class _OSTreeOperator(BaseOperator):
    """Base: ``preview`` (a dry run) and the signing connection."""

    template_fields: Sequence[str] = ("preview",)

    def __init__(self, *, preview: Any = False, signing_conn_id: str = "signing_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.preview = preview
        self.signing_conn_id = signing_conn_id

    def connections(self) -> Any:
        from relengotron.airflow.services import Connections

        return Connections(signing=self.signing_conn_id)


class OSTreeRefsOperator(_OSTreeOperator):
    """List each configured release's refs in the released repository (``{"release", "ref"}`` items for the
    mapped finishing task) and log what a prune would delete now. Read-only.

    Skipped (and everything after it) when nothing was released yet (no released repository).
    """

    ui_color = "#e8f4fa"

    def execute(self, context: Any) -> list[dict[str, str]]:
        from relengotron.airflow.hooks import release_config
        from relengotron.airflow.services import released_repo
        from relengotron.ostree.maintenance import release_refs, render_prune
        from relengotron.ostree.prune import prune

        with permanent_failures():
            config = release_config()
            with released_repo(config, write=False) as repo:
                if not repo.exists():
                    raise AirflowSkipException(f"{repo.path}: no released repository yet, nothing to maintain")
                refs = release_refs(config, repo.refs())
                preview = prune(repo, config.ostree.retention, signer=None, dry_run=True)
        for item in refs:
            self.log.info("%s: %s", item["release"], item["ref"])
        self.log.info("%s", render_prune(preview))
        return refs


class OSTreePruneOperator(_OSTreeOperator):
    """Prune the released repository by the configured retention policy (never a head or a tagged commit;
    stale static deltas go too) and re-sign its summary with the summary key; then prune the shared compose
    repository the same way (its candidates that were never released age out like the rest).

    Idempotent: a second run deletes and writes nothing; a run after a crash half-way deletes the rest.
    Returns the released repository's result, with the compose repository's under ``"compose"`` (None while
    that repository does not exist).
    """

    ui_color = "#fae8e8"

    def execute(self, context: Any) -> dict[str, Any]:
        from relengotron.airflow.hooks import release_config
        from relengotron.airflow.services import released_repo, shared_repo, summary_signer
        from relengotron.ostree.maintenance import render_prune
        from relengotron.ostree.prune import prune

        with permanent_failures():
            config = release_config()
            signer = summary_signer(config, self.connections())
            preview = flag(self.preview, "preview")
            with released_repo(config, write=not preview) as repo:
                result = prune(repo, config.ostree.retention, signer=signer, dry_run=preview)  # type: ignore[arg-type]
            compose = shared_repo(config)
            composed = None
            if compose.exists():
                composed = prune(compose, config.ostree.retention, signer=None, dry_run=preview)
        self.log.info("released repository: %s", render_prune(result))
        if composed is not None:
            self.log.info("compose repository: %s", render_prune(composed))
        return {**_pruned(result), "compose": _pruned(composed) if composed is not None else None}


def _pruned(result: Any) -> dict[str, Any]:
    return {
        "deleted": list(result.deleted),
        "deltas_deleted": list(result.deltas_deleted),
        "steps": list(result.steps),
        "dry_run": result.dry_run,
    }


class OSTreeFinishRefOperator(_OSTreeOperator):
    """Finish one released ref (mapped over :class:`OSTreeRefsOperator`'s items): its head signed by the
    release's key and the static delta from its parent generated, where missing.

    Idempotent: a head already signed with its delta in place gets nothing written.
    """

    ui_color = "#f3e8fa"

    def __init__(self, *, release: str, ref: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.release = release
        self.ref = ref

    def execute(self, context: Any) -> dict[str, Any]:
        from relengotron.airflow.hooks import release_config
        from relengotron.airflow.services import release_signer, released_repo
        from relengotron.ostree.maintenance import render_upkeep, upkeep_ref

        with permanent_failures():
            config = release_config()
            preview = flag(self.preview, "preview")
            with released_repo(config, write=not preview) as repo:
                done = upkeep_ref(
                    repo,
                    self.ref,
                    release=self.release,
                    signer=release_signer(config, self.release, self.connections()),  # type: ignore[arg-type]
                    static_deltas=config.ostree.static_deltas,
                    dry_run=preview,
                )
        self.log.info("%s", render_upkeep(done))
        return done.as_dict()


class OSTreeSummaryOperator(_OSTreeOperator):
    """Regenerate the released repository's summary (every ref and static delta), signed by the summary key.

    Idempotent: a current summary carrying that key's good signature is left alone.
    """

    ui_color = "#e8faf0"

    def execute(self, context: Any) -> dict[str, Any]:
        from relengotron.airflow.hooks import release_config
        from relengotron.airflow.services import released_repo, summary_signer
        from relengotron.ostree.maintenance import upkeep_summary

        with permanent_failures():
            config = release_config()
            preview = flag(self.preview, "preview")
            signer = summary_signer(config, self.connections())
            with released_repo(config, write=not preview) as repo:
                rewritten = upkeep_summary(repo, signer, dry_run=preview)  # type: ignore[arg-type]
        if not rewritten:
            self.log.info("summary: current and signed already")
        else:
            self.log.info("summary: %s", "would be rewritten and signed" if preview else "rewritten and signed")
        return {"rewritten": rewritten, "dry_run": preview}


class OSTreeSyncOperator(_OSTreeOperator):
    """Carry the released repository to the master mirror (the two-pass sync: objects and deltas first, then
    the refs and the summary, so a client never sees a ref before its objects), under the staging lock.

    Idempotent: a mirror already equal to the released repository gets nothing written. ``preview`` lists the
    changes the sync would make. Returns the changed paths per pass (``{"planned": [...]}`` for a preview).
    """

    ui_color = "#e3f1dc"

    def __init__(self, *, mirror_ssh_conn_id: str = "mirror_ssh", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mirror_ssh_conn_id = mirror_ssh_conn_id

    def execute(self, context: Any) -> dict[str, list[str]]:
        from relengotron.airflow.hooks import release_config
        from relengotron.airflow.services import sync_staging

        with permanent_failures():
            config = release_config()
            root = config.mirror.ostree.strip("/")
            changes = sync_staging(
                config, [root], dry_run=flag(self.preview, "preview"), mirror_ssh=self.mirror_ssh_conn_id
            )
        for name, paths in changes.items():
            self.log.info("%s: %d path(s)", name, len(paths))
        return changes
