"""An ``updates_push`` task's view of its run: the push its params describe, the plan item it is mapped over,
and the services its step needs, built from the connections on first use (:class:`PushTask`). The steps
themselves are :mod:`relengotron.push_run`'s; this module only assembles what they are handed.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relengotron.airflow.connections import Connections, TaskClients

if TYPE_CHECKING:
    from relengotron.adapters.bodhi import Bodhi
    from relengotron.adapters.pdc import PDC
    from relengotron.adapters.resultsdb import ResultsDB
    from relengotron.artifacts import ArtifactKind, ComposeContext, ComposeOutput, Published
    from relengotron.artifacts.staging import StagingTree
    from relengotron.config import ReleaseConfig, TranslatePaths
    from relengotron.kojiclient import KojiClient
    from relengotron.push import Push
    from relengotron.signing.base import Signer

log = logging.getLogger(__name__)

# The run's params that describe the push (the DAG's Params checked their shape when the run was created):
# the compose as Bodhi names it (docs/bodhi-handshake.md §1).
PUSH_PARAMS = ("push_id", "repo", "updates", "agent")
PLAN_ITEM_KEYS = frozenset({"id", "label", "decision", "kind", "manifest"})


@dataclass(frozen=True)
class RemoteCompose:
    """Where the compose host works (``compose: remote``): its per-compose directories, and how this machine
    reaches them (None: the same path, a shared filesystem; a local mount; or an http(s) URL)."""

    host_workdir: str = "/var/tmp/relengotron-compose"
    fetch_from: str | None = None


def push_params(context: Any) -> dict[str, Any]:
    """The push as the run's (validated) params give it."""
    params = context["params"]
    return {key: params[key] for key in PUSH_PARAMS if key in params}


def load_push(params: Mapping[str, Any], updates: Any = None) -> tuple[ReleaseConfig, Push]:
    """The release configuration (the ``relengotron_config`` Variable) and the push ``params`` describe, with
    ``updates`` (the updates task's XCom: the compose's updates as Bodhi describes them) when given;
    :class:`relengotron.push.PushError` names a wrong field."""
    from relengotron.airflow.hooks import release_config
    from relengotron.push import Push

    config = release_config()
    return config, Push.from_conf(params, config, updates)


def check_item(item: Any, kind: str | None = None) -> dict[str, Any]:
    """A mapped task's plan item, checked: skips the task (and its map index after it) when the plan skipped
    the target; fails at once naming the item when it is not a plan item or not of ``kind`` (its task
    group's artifact kind)."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    if not isinstance(item, Mapping) or not set(item) >= PLAN_ITEM_KEYS:
        raise AirflowFailException(f"item: not an item of the push plan: {item!r}")
    if item["decision"] == "skip":
        raise AirflowSkipException(f"{item['label']}: {item.get('reason', 'skipped by the plan')}")
    if kind is not None and item["kind"] != kind:
        raise AirflowFailException(f"{item['label']}: a {item['kind']} artifact is not composed by this {kind} task")
    return dict(item)


def candidate(value: Any) -> ComposeOutput:
    """A compose task's output (its XCom) as a :class:`relengotron.artifacts.ComposeOutput`; fails at once
    when it is not one."""
    from airflow.sdk.exceptions import AirflowFailException

    from relengotron.artifacts import ComposeOutput

    if not isinstance(value, Mapping):
        raise AirflowFailException(f"candidate: not a compose output: {value!r}")
    return ComposeOutput.from_dict(value)


def candidate_xcoms(plugin: ArtifactKind, output: ComposeOutput, served: TranslatePaths) -> dict[str, Any]:
    """What the steps after a compose read besides the candidate: ``announcement`` (the body of the
    ``relengotron.artifact.composed`` message that asks the test system for its tests), ``subject`` (the
    ResultsDB subject the tests report on), ``release`` (whose gating policies decide) and ``since`` (when
    results start to count: the compose time of a new candidate; "" for the released one, whose results are in
    already — never None: an XCom of None is not stored, and the tests task could not read it). ``served``: the
    release configuration's ``translate_paths`` (the announcement names the candidate by URL). Pure."""
    subject = plugin.test_item()
    return {
        "announcement": plugin.announcement(output, served),
        "release": plugin.release.id,
        "since": output.composed_at if output.changed else "",
        "subject": {"type": subject.type, "item": subject.item, "name": subject.name, "label": plugin.label},
    }


class PushTask:
    """One task of an updates push: the release configuration, the push, and its services — Koji, PDC and
    ResultsDB clients, the release's signer, what was released, the staging tree — each built on first use
    from the task's connections and closed when the task ends (:func:`push_task`).

    Satisfies :class:`relengotron.push_run.PlanSources`.
    """

    def __init__(self, config: ReleaseConfig, push: Push, clients: TaskClients) -> None:
        self.config = config
        self.push = push
        self.clients = clients

    @property
    def koji(self) -> KojiClient:
        return self.clients.koji

    @property
    def pdc(self) -> PDC:
        return self.clients.pdc

    @property
    def bodhi(self) -> Bodhi:
        return self.clients.bodhi

    @property
    def resultsdb(self) -> ResultsDB:
        return self.clients.resultsdb

    @cached_property
    def signer(self) -> Signer | None:
        """The release's signer (None: the release is not signed)."""
        from relengotron.airflow.connections import release_signer

        return release_signer(self.config, self.push.release.id, self.clients.connections)

    @cached_property
    def published(self) -> Published:
        """Where released artifacts are read back from (the staging OSTree repository, the master mirror)."""
        from relengotron.artifacts import Published

        return Published.from_config(self.config, self.clients.mirror_ssh(self.config))

    def staging(self, bwlimit: int | None = None) -> StagingTree:
        return self.clients.staging(self.config, bwlimit)

    @contextmanager
    def compose_context(
        self, plugin: ArtifactKind, remote: RemoteCompose = RemoteCompose()
    ) -> Iterator[ComposeContext]:
        """A compose's context: Koji, the release's signer and its public key for checking payload RPMs, a
        scratch directory (removed after), the compose host for ``compose: remote`` (over the SSH provider's
        connection ``compose_ssh``, the release key copied to it), and the push's tag as the tag composes install
        from (as Koji dist-repos of its signed copies)."""
        from relengotron.artifacts import ComposeContext
        from relengotron.ostree.compose import RemoteBackend

        workdir = Path(tempfile.mkdtemp(prefix=f"compose-{plugin.id}-"))
        try:
            signer = self.signer
            keys: tuple[Path, ...] = ()
            if signer is not None:
                keys = (signer.export_public_key(workdir / "keys" / f"{signer.key_id}.asc"),)
            backend = None
            if plugin.artifact.compose == "remote":
                runner = self.clients.ssh(self.clients.connections.compose_ssh)
                backend = RemoteBackend(
                    runner,
                    host_workdir=remote.host_workdir,
                    workdir=workdir / "remote",
                    fetch_from=remote.fetch_from,
                    keys=keys,
                )
            yield ComposeContext(
                koji=self.koji,
                layout=self.config.mirror,
                ostree=self.config.ostree,
                workdir=workdir,
                signer=signer,
                rpm_keys=keys,
                remote=backend,
                image_tag=self.push.tag,
            )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def push_task(context: Any, connections: Connections, updates: Any = None) -> Iterator[PushTask]:
    """The push of the run's params — with ``updates``, the updates task's XCom — and its services (closed on
    the way out)."""
    params = push_params(context)
    config, push = load_push(params, updates)
    with ExitStack() as stack:
        yield PushTask(config, push, TaskClients(connections, stack))


# The steps a push's updates go through before they reach the master mirror, in order (task ids).
PUSH_STEPS = ("wait_turn", "updates", "tag_updates", "mash", "plan", "sync")


def _task_states(context: Any) -> dict[str, str | None]:
    """Task id (``<task>_<map index>`` for a mapped one) → state, for this run; {} when unreadable."""
    ti = context["ti"]
    run_id = context.get("run_id")
    try:
        return ti.get_task_states(dag_id=ti.dag_id, run_ids=[run_id]).get(run_id, {})
    except Exception as exc:  # read-only courtesy: the reasons it gives are never worth failing a task
        log.warning("cannot read the task states: %s", exc)
        return {}


def failed_step(context: Any) -> str:
    """Why the push's updates did not reach the master mirror, from this run's task states: the first of
    :data:`PUSH_STEPS` that failed (or did not run). Read-only."""
    states = _task_states(context)
    for step in PUSH_STEPS:
        if states.get(step) in ("failed", "upstream_failed"):
            return f"the push failed at its {step} step (see that task's log); nothing of it reached the mirror"
    return "the sync to the master mirror did not run"


def step_states(context: Any, items: list[dict[str, Any]], steps: tuple[str, ...]) -> dict[str, dict[str, str | None]]:
    """Plan target id → step → its task state in this run, for the recomposed targets: each kind's mapped
    group names its tasks ``<kind>.<step>`` and maps them in the plan's order. Read-only; {} when the states
    cannot be read (the reasons they give are a courtesy, never worth failing a task)."""
    from relengotron.push import targets_by_kind

    states = _task_states(context)
    out: dict[str, dict[str, str | None]] = {}
    for group, found in targets_by_kind(items, {item["kind"] for item in items}).items():
        for index, item in enumerate(found):
            if item["decision"] != "skip":
                out[item["id"]] = {step: states.get(f"{group}.{step}_{index}") for step in steps}
    return out
