"""The autosign DAG's task bodies: list the builds waiting for a signature, sign one build, report the run.

Thin glue: the release configuration from the ``relengotron_config`` Variable, Koji and the signer from the
hooks (built at run time; Koji logged out afterwards), the work in :mod:`relengotron.autosign_run` and the
decisions in :mod:`relengotron.autosign`. Transient failures (Koji or the signing host unreachable, 5xx) are
raised as they are, for the task's retries; every other failure — a refusal included — fails the task at
once with the reason (:func:`relengotron.airflow.services.permanent_failures`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from relengotron.airflow.services import permanent_failures

log = logging.getLogger(__name__)


def list_builds(
    release_id: str, builds: Sequence[str] | None, *, koji_conn_id: str = "koji_default"
) -> tuple[list[dict[str, Any]], list[str]]:
    """The run's builds as mapped-task items (:meth:`relengotron.autosign.Item.as_dict`), and the NVRs a
    sweep left for the next run. Read-only.

    An unknown release, a release with nothing that waits for signing, or a named build Koji does not know
    fails the task at once, naming it. A named build that is not waiting is listed: its own task says
    whether it is done already or refused.
    """
    from relengotron.airflow.hooks import KojiHook, release_config
    from relengotron.autosign import MAX_BUILDS
    from relengotron.autosign_run import list_builds as waiting_builds

    with permanent_failures():
        release = release_config().release(release_id)
        hook = KojiHook(koji_conn_id)
        try:
            selection = waiting_builds(hook.client, release, list(builds or ()), limit=MAX_BUILDS)
        finally:
            if "client" in hook.__dict__:
                hook.client.close()
    if selection.not_waiting:
        log.warning("named but not waiting for signing: %s", ", ".join(selection.not_waiting))
    if selection.left_over:
        log.warning("%d more build(s) wait; left for the next run", len(selection.left_over))
    log.info("%d build(s) to sign: %s", len(selection.items), ", ".join(i.nvr for i in selection.items))
    return [i.as_dict() for i in selection.items], list(selection.left_over)


def sign_build(
    item: Mapping[str, Any],
    *,
    koji_conn_id: str = "koji_default",
    signing_conn_id: str = "signing_default",
    timeout: float = 3600.0,
) -> dict[str, Any]:
    """Sign, record, verify and move one build (:func:`relengotron.autosign_run.autosign_build`); its outcome.

    Idempotent as that function is: rerun after success it reports ``done`` and sends nothing.
    """
    from relengotron.airflow.hooks import KojiHook, release_config
    from relengotron.airflow.services import Connections, release_signer
    from relengotron.autosign import AutosignError, Item
    from relengotron.autosign_run import autosign_build

    with permanent_failures():
        chosen = Item.from_dict(item)
        config = release_config()
        key = config.release(chosen.release).signing_key
        signer = release_signer(config, chosen.release, Connections(signing=signing_conn_id))

        def make_signer() -> Any:
            if signer is None:
                raise AutosignError(chosen.nvr, f"release {chosen.release} has no signing key")
            return signer.get()

        hook = KojiHook(koji_conn_id)
        try:
            outcome = autosign_build(hook.client, chosen, key, make_signer, timeout=timeout)
        finally:
            if "client" in hook.__dict__:
                hook.client.close()
    log.info("%s: %s (%s)", outcome.nvr, outcome.outcome, outcome.reason)
    return outcome.as_dict()


def announcements(outcomes: Any, run_id: str | None) -> list[dict[str, Any]]:
    """The messages of the builds signed (:func:`relengotron.autosign.messages`), from the mapped task's
    outcomes (a build whose task failed has none). Pure."""
    from relengotron.autosign import messages

    return messages(outcomes_of(outcomes), run_id=run_id)


def report(items: Sequence[Mapping[str, Any]] | None, outcomes: Any, left_over: Sequence[str] | None) -> dict[str, Any]:
    """The run's summary (:func:`relengotron.autosign.summary`), logged and returned. Read-only.

    Builds not done (refused, or failed for another reason) fail the task at once, naming them and the
    counts, so that the run shows red; each one's own task instance (its map index) says why.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from relengotron.autosign import summary

    if items is None:
        raise AirflowFailException("no list of builds: did the task listing them fail?")
    found = summary(list(items), outcomes_of(outcomes), list(left_over or ()))
    counts = (
        f"{found['listed']} listed, {found['signed']} signed, {found['already_done']} already done, "
        f"{found['not_done']} not done, {found['left_for_next_run']} left for the next run"
    )
    log.info("autosign: %s", counts)
    if found["not_done"]:
        names = ", ".join(found["builds"]["not_done"])
        raise AirflowFailException(f"{counts}; not signed (see their sign_build map index for why): {names}")
    return found


def outcomes_of(value: Any) -> list[Mapping[str, Any]]:
    """A mapped task's results as a list: None → [], one mapping → [it]; a lazy XCom sequence is read in one
    slice (iterating it asks for one index past the end, which Airflow logs as an error)."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [value]
    return [v for v in value[:] if v is not None]
