"""Operators of the ``ostree_maintenance`` DAG: list the releases' refs, prune, finish each ref, sign the summary,
and carry the result to the master mirror.

Each ``execute`` calls one step of :mod:`relengotron.ostree_run` with the release configuration, the staging
tree and the signers built from the connections on first use (:mod:`relengotron.airflow.connections`).
Constructors only store their arguments. With ``preview`` true a task says what it would do and writes
nothing.

Failures: transient ones are raised as they are (the task's retries apply); every other one — a tool that
fails, a signature that does not verify, a kept commit missing — fails the task at once, naming the item.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

from relengotron.airflow.arguments import flag
from relengotron.airflow.connections import Connections
from relengotron.airflow.errors import permanent_failures

if TYPE_CHECKING:
    from relengotron.artifacts.staging import StagingTree
    from relengotron.config import ReleaseConfig


class _OSTreeOperator(BaseOperator):
    """Base: ``preview`` (a dry run) and the connections (the signing one; the mirror host's for the sync)."""

    template_fields: Sequence[str] = ("preview",)

    def __init__(
        self,
        *,
        preview: Any = False,
        signing_conn_id: str = "signing_default",
        mirror_ssh_conn_id: str = "mirror_ssh",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.preview = preview
        self.signing_conn_id = signing_conn_id
        self.mirror_ssh_conn_id = mirror_ssh_conn_id

    @contextmanager
    def upkeep(self) -> Iterator[tuple[ReleaseConfig, StagingTree, bool]]:
        """The release configuration, the staging tree (its SSH runner closed after) and whether this is a
        preview; failures sorted into transient and permanent."""
        from relengotron.airflow.connections import TaskClients
        from relengotron.airflow.hooks import release_config

        with permanent_failures(), ExitStack() as stack:
            config = release_config()
            yield config, TaskClients(Connections.of(self), stack).staging(config), flag(self.preview, "preview")


class OSTreeRefsOperator(_OSTreeOperator):
    """List each configured release's refs in the released repository (``{"release", "ref"}`` items for the
    mapped finishing task) and log what a prune would delete now. Read-only.

    Skipped (and everything after it) when nothing was released yet (no released repository).
    """

    ui_color = "#e8f4fa"

    def execute(self, context: Any) -> list[dict[str, str]]:
        from relengotron.ostree.maintenance import render_prune
        from relengotron.ostree_run import released_refs

        with self.upkeep() as (config, staging, _):
            found = released_refs(config, staging)
        if found is None:
            raise AirflowSkipException(f"{staging.ostree_repo.path}: no released repository yet, nothing to maintain")
        refs, preview = found
        for item in refs:
            self.log.info("%s: %s", item["release"], item["ref"])
        self.log.info("%s", render_prune(preview))
        return refs


class OSTreePruneOperator(_OSTreeOperator):
    """Prune the released repository by the configured retention and re-sign its summary with the summary key,
    then the shared compose repository the same way (:func:`relengotron.ostree_run.prune_repositories`).

    Idempotent: a second run deletes and writes nothing; a run after a crash half-way deletes the rest.
    Returns the released repository's result, with the compose repository's under ``"compose"`` (None while
    that repository does not exist).
    """

    ui_color = "#fae8e8"

    def execute(self, context: Any) -> dict[str, Any]:
        from relengotron.airflow.connections import summary_signer
        from relengotron.ostree.maintenance import render_prune
        from relengotron.ostree_run import prune_repositories

        with self.upkeep() as (config, staging, preview):
            pruned = prune_repositories(config, staging, summary_signer(config, Connections.of(self)), dry_run=preview)
        self.log.info("released repository: %s", render_prune(pruned.released))
        if pruned.compose is not None:
            self.log.info("compose repository: %s", render_prune(pruned.compose))
        return pruned.as_dict()


class OSTreeFinishRefOperator(_OSTreeOperator):
    """Finish one released ref (mapped over :class:`OSTreeRefsOperator`'s items): its head signed by the
    release's key and the static delta from its parent generated, where missing
    (:func:`relengotron.ostree_run.finish_released_ref`).

    Idempotent: a head already signed with its delta in place gets nothing written.
    """

    ui_color = "#f3e8fa"

    def __init__(self, *, release: str, ref: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.release = release
        self.ref = ref

    def execute(self, context: Any) -> dict[str, Any]:
        from relengotron.airflow.connections import release_signer
        from relengotron.ostree.maintenance import render_upkeep
        from relengotron.ostree_run import finish_released_ref

        with self.upkeep() as (config, staging, preview):
            signer = release_signer(config, self.release, Connections.of(self))
            done = finish_released_ref(config, staging, self.release, self.ref, signer, dry_run=preview)
        self.log.info("%s", render_upkeep(done))
        return done.as_dict()


class OSTreeSummaryOperator(_OSTreeOperator):
    """Regenerate the released repository's summary (every ref and static delta), signed by the summary key
    (:func:`relengotron.ostree_run.refresh_summary`).

    Idempotent: a current summary carrying that key's good signature is left alone.
    """

    ui_color = "#e8faf0"

    def execute(self, context: Any) -> dict[str, Any]:
        from relengotron.airflow.connections import summary_signer
        from relengotron.ostree_run import refresh_summary

        with self.upkeep() as (config, staging, preview):
            rewritten = refresh_summary(staging, summary_signer(config, Connections.of(self)), dry_run=preview)
        if not rewritten:
            self.log.info("summary: current and signed already")
        else:
            self.log.info("summary: %s", "would be rewritten and signed" if preview else "rewritten and signed")
        return {"rewritten": rewritten, "dry_run": preview}


class OSTreeSyncOperator(_OSTreeOperator):
    """Carry the released repository to the master mirror (objects and deltas first, then the refs and the
    summary, so a client never sees a ref before its objects), under the staging lock
    (:func:`relengotron.ostree_run.sync_released`).

    Idempotent: a mirror already equal to the released repository gets nothing written. ``preview`` lists the
    changes the sync would make. Returns the changed paths per pass (``{"planned": [...]}`` for a preview).
    """

    ui_color = "#e3f1dc"

    def execute(self, context: Any) -> dict[str, list[str]]:
        from relengotron.ostree_run import sync_released

        with self.upkeep() as (_, staging, preview):
            changes = sync_released(staging, dry_run=preview)
        for name, paths in changes.items():
            self.log.info("%s: %d path(s)", name, len(paths))
        return changes
