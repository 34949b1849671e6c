"""The rawhide_gating DAG's task bodies: list the builds at the gate, decide about them. Both read only.

Thin glue: the release configuration from the ``relengotron_config`` Variable, clients from the hooks
(built here, at run time, closed afterwards), the work in :mod:`relengotron.gating_run` and the pure
decisions in :mod:`relengotron.gating.rawhide`. Transient failures are raised as they are (the task's
retries apply); every other failure fails the task at once, naming the item
(:func:`relengotron.airflow.services.permanent_failures`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from relengotron.airflow.services import flag, permanent_failures

log = logging.getLogger(__name__)


def list_candidates(
    release_id: str,
    builds: Sequence[str] | None,
    include_quarantined: Any,
    *,
    koji_conn_id: str = "koji_default",
) -> list[dict[str, Any]]:
    """The builds at ``release_id``'s gate (its pending tag, and its quarantine when asked), or only
    ``builds`` among them, as JSON records that are also gating subjects (``type``, ``item``, ``name``).

    Read-only. A named build that is not at the gate any more is logged and left out (another run gated it);
    one that Koji does not know fails the task, naming it.
    """
    from relengotron.airflow.hooks import KojiHook, release_config
    from relengotron.gating.rawhide import GateTags
    from relengotron.gating_run import gate_candidates

    with permanent_failures():
        include = flag(include_quarantined, "include_quarantined")
        release = release_config().release(release_id)
        tags = GateTags.of(release)
        hook = KojiHook(koji_conn_id)
        try:
            selection = gate_candidates(hook.client, tags, wanted=list(builds or ()), include_quarantined=include)
        finally:
            if "client" in hook.__dict__:
                hook.client.close()
    if selection.not_at_gate:
        log.warning(
            "not at the gate (%s%s), left out: %s",
            tags.pending,
            f", {tags.quarantine}" if include else "",
            ", ".join(selection.not_at_gate),
        )
    log.info("%d build(s) to gate: %s", len(selection.candidates), ", ".join(c.nvr for c in selection.candidates))
    return [c.as_dict() for c in selection.candidates]


def decide(
    release_id: str,
    candidates: Sequence[Mapping[str, Any]] | None,
    *,
    run_id: str | None = None,
    resultsdb_conn_id: str = "resultsdb_default",
) -> dict[str, Any]:
    """Decide about ``candidates`` from the results ResultsDB holds now, under the configuration's policies;
    return the plan: ``moves`` (``KojiTagOperator`` kwargs), ``messages`` (``FedmsgPublishOperator`` kwargs)
    and ``verdicts``. Read-only: rerun, it decides again from the newest results."""
    from relengotron.airflow.hooks import ResultsDBHook, release_config
    from relengotron.gating import load_policies
    from relengotron.gating.rawhide import Candidate
    from relengotron.gating_run import decide_gating

    with permanent_failures():
        if candidates is None:
            raise ValueError("no list of candidates: did the task listing the builds fail?")
        config = release_config()
        release = config.release(release_id)
        policy_set = load_policies(config.gating_policies)
        chosen = [Candidate.from_dict(c) for c in candidates]
        hook = ResultsDBHook(resultsdb_conn_id)
        try:
            plan = decide_gating(hook.client, policy_set, release, chosen)
        finally:
            if "client" in hook.__dict__:
                hook.client.close()
    log.info("%s", plan.summary())
    return plan.as_dict(run_id=run_id)
