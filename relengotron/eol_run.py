"""Carry out an end-of-life plan (:mod:`relengotron.eol`) against the services, one idempotent step at a time.

:func:`plan_for` gathers the facts (read-only, :func:`gather_facts`) and plans: that alone is
the dry run. :func:`execute_step` runs one step — one function per step type, chosen by the step's type —
and every one of them is safe to retry: it looks first and changes only what is not done yet, so a rerun
after success changes nothing and a rerun after a crash finishes the work:

=====================  ================================================================================
PDC release inactive   read the release; PATCH ``active=false`` only when it is still active
Koji target deleted    ``getBuildTarget``; absent → done; pointing elsewhere than planned → error; else
                       ``deleteBuildTarget``
Koji tag locked        ``getTag``; locked → done; else ``editTag2(locked=True)``
bug closed             read its status; closed → skipped (no second comment); else CLOSED/EOL + comment
ostree carve-out       :func:`relengotron.ostree.eol.carve_out` in the released (staging) repository under the
                       staging lock (idempotent itself), then the repository synced to the master mirror
                       (an unchanged repository transfers nothing), so clients see the EOL commit
mirror path archived   :meth:`relengotron.adapters.mirror.MirrorTrees.move_to_archive`
EOL message            EOL marker present → done; else publish, then write the marker (at least once)
=====================  ================================================================================

:func:`execute_plan` runs a whole plan in order (bug closings in batches), :func:`execute_steps` any run of
its steps (an Airflow task's share); :func:`run_eol` plans, runs
unless ``dry_run``, and plans again — after a complete run that last plan is empty.

A step that fails raises the adapter's error naming its item; :func:`relengotron.adapters.errors.is_transient`
says whether a retry may help (service unreachable, 5xx, Koji offline) or not (a plan that no longer
matches the world, a refusal).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from relengotron.adapters.bugzilla import Bugzilla
from relengotron.adapters.errors import NotFoundError
from relengotron.adapters.mirror import MirrorError, MirrorTrees
from relengotron.adapters.pdc import PDC
from relengotron.artifacts.staging import StagingTree
from relengotron.config import ReleaseConfig
from relengotron.eol import (
    CarveOutRef,
    CloseBug,
    DeleteBuildTarget,
    EOLError,
    EOLFacts,
    EOLPlan,
    KojiTag,
    KojiTarget,
    LockTag,
    MoveMirrorPath,
    PublishEOL,
    RefHead,
    SetReleaseInactive,
    Step,
    plan_eol,
    step_from_dict,
)
from relengotron.kojiclient import KojiClient, KojiError
from relengotron.ostree.eol import carve_out
from relengotron.ostree.metadata import KEY_ENDOFLIFE
from relengotron.ostree.repo import TAG_PREFIX, OSTreeRepo
from relengotron.signing.base import Signer

if TYPE_CHECKING:
    from relengotron.messaging import Publisher


@dataclass
class EOLServices:
    """Everything an EOL reads and changes, connected: the adapters, the released OSTree repository (the staging
    tree's, ``staging.ostree_repo``: what clients pull through the mirror) and the archive repository carved-out
    refs are copied to, the staging tree that carries the carve-out to the master mirror, the mirror trees and
    the bus publisher."""

    koji: KojiClient
    pdc: PDC
    bugzilla: Bugzilla
    ostree: OSTreeRepo
    ostree_archive: OSTreeRepo
    staging: StagingTree
    mirror: MirrorTrees
    publisher: Publisher
    signer: Signer | None = None  # signs the EOL commits and the summaries (local GPG or sigul)
    static_deltas: bool = True


def gather_facts(release_id: str, config: ReleaseConfig, services: EOLServices) -> EOLFacts:
    """What the services hold now about ``release_id`` (and its successor's refs): the facts an EOL plan is
    made from. Read-only, so gathering and planning is the dry run.

    - PDC: the release's ``active`` flag (a release PDC does not know is left out: the planner names it).
    - Koji: every build target (one call), and the release's tags with their ``locked`` flag (one multicall).
    - Bugzilla: the open bugs of the release's product and version.
    - The released ostree repository: the refs of the release and of its successor (tags excluded) and
      whether each head already carries ``ostree.endoflife``.
    - The master mirror: the paths down to the ``{version}`` part of the ``updates`` and ``images`` templates.
    - Announced: the EOL marker on the archive tree (:func:`relengotron.adapters.mirror.eol_marker`), written
      when the EOL message is published.
    """
    release = config.release(release_id)
    pdc_active: dict[str, bool] = {}
    with contextlib.suppress(NotFoundError):  # the planner names a release PDC does not know
        pdc_active[release.pdc_release] = bool(services.pdc.release(release.pdc_release)["active"])
    targets = tuple(
        KojiTarget(str(t["name"]), str(t["build_tag_name"]), str(t["dest_tag_name"]))
        for t in services.koji.call("getBuildTargets", item="build targets")
    )
    names = sorted(set(release.tags.values()))
    infos = services.koji.multicall([("getTag", (name,), {}, f"tag {name}") for name in names])
    tags = tuple(KojiTag(str(info["name"]), bool(info["locked"])) for info in infos if info)
    bugs = tuple(services.bugzilla.open_bugs(release.bugzilla_product, release.bugzilla_version))
    versions = [release.version]
    if release.successor:
        versions.append(config.release(release.successor).version)
    refs = ref_heads(services.ostree, versions)
    paths = tuple(services.mirror.present_paths([config.mirror.updates, config.mirror.images]))
    announced = frozenset({release.id}) if services.mirror.read_marker(release.id) is not None else frozenset()
    return EOLFacts(
        pdc_active=pdc_active,
        targets=targets,
        tags=tags,
        bugs=bugs,
        refs=refs,
        mirror_paths=paths,
        announced=announced,
    )


def ref_heads(repo: OSTreeRepo, versions: list[str]) -> tuple[RefHead, ...]:
    """The refs (not tags) whose name holds one of ``versions``, each with whether its head is end-of-life.

    A ref template always holds ``{version}`` literally, so this keeps every ref of those releases; the
    planner matches them against the templates exactly. Read-only; () when the repository does not exist.
    """
    if not repo.exists():
        return ()
    heads = []
    for ref, commit in repo.refs().items():
        if ref.startswith(TAG_PREFIX) or not any(v in ref for v in versions):
            continue
        metadata = repo.show(commit).metadata
        heads.append(RefHead(ref, isinstance(metadata.get(KEY_ENDOFLIFE), str)))
    return tuple(heads)


@dataclass(frozen=True)
class StepOutcome:
    """What running one step did: ``changed`` False means it was already done."""

    key: str
    kind: str
    changed: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "changed": self.changed, "detail": self.detail}


@dataclass(frozen=True)
class EOLRun:
    """A plan, what running it did (nothing in a dry run), and the plan gathered afterwards."""

    plan: EOLPlan
    dry_run: bool
    outcomes: tuple[StepOutcome, ...] = ()
    after: EOLPlan | None = None  # re-planned after execution: empty when everything is done

    def render(self) -> str:
        lines = [self.plan.render()]
        if self.dry_run:
            lines.append("Dry run: nothing was changed.")
            return "\n".join(lines)
        lines.append("")
        lines += [f"  {'done' if o.changed else 'already done'}: {o.detail}" for o in self.outcomes]
        if self.after is not None:
            lines.append("Afterwards: " + ("nothing left to do." if self.after.empty else self.after.render()))
        return "\n".join(lines)


def plan_for(release_id: str, config: ReleaseConfig, services: EOLServices, eol_date: date) -> EOLPlan:
    """Gather the facts and plan (read-only: this is the dry run)."""
    return plan_eol(release_id, config, gather_facts(release_id, config, services), eol_date)


def run_eol(
    release_id: str, config: ReleaseConfig, services: EOLServices, *, eol_date: date, dry_run: bool = True
) -> EOLRun:
    """Plan; unless ``dry_run``, execute every step and plan again (an empty plan means all is done).

    Idempotent: a second run finds an empty plan and changes nothing (no message either).
    """
    plan = plan_for(release_id, config, services, eol_date)
    if dry_run:
        return EOLRun(plan, True)
    outcomes = execute_plan(plan, services)
    return EOLRun(plan, False, outcomes, plan_for(release_id, config, services, eol_date))


def execute_plan(plan: EOLPlan, services: EOLServices) -> tuple[StepOutcome, ...]:
    """Run the plan's steps in order; consecutive bug closings with the same comment go in one batch.

    Idempotent like each step; a failure stops the run (later steps, the EOL message among them, wait for
    a rerun, which starts by planning again).
    """
    return execute_steps(plan.steps, services, plan_steps=plan.steps)


def execute_steps(
    steps: Sequence[Step | Mapping[str, Any]],
    services: EOLServices,
    *,
    plan_steps: Sequence[Step | Mapping[str, Any]] = (),
) -> tuple[StepOutcome, ...]:
    """Run ``steps`` (steps or their ``as_dict`` forms) in order; consecutive bug closings with the same
    comment go in one batch. ``plan_steps`` is the whole plan, as for :func:`execute_step`.

    Idempotent like each step; the first failure stops the sequence (a rerun finishes it).
    """
    outcomes: list[StepOutcome] = []
    todo = [s if isinstance(s, Step) else step_from_dict(s) for s in steps]
    whole = tuple(s if isinstance(s, Step) else step_from_dict(s) for s in plan_steps)
    index = 0
    while index < len(todo):
        step = todo[index]
        if isinstance(step, CloseBug):
            batch = [step]
            while index + len(batch) < len(todo) and _same_closing(todo[index + len(batch)], step):
                batch.append(todo[index + len(batch)])  # type: ignore[arg-type]
            outcomes += _close_bugs(batch, services)
            index += len(batch)
            continue
        outcomes.append(execute_step(step, services, plan_steps=whole))
        index += 1
    return tuple(outcomes)


def execute_step(
    step: Step | Mapping[str, Any], services: EOLServices, *, plan_steps: Sequence[Step | Mapping[str, Any]] = ()
) -> StepOutcome:
    """Run one step (a :class:`Step` or its ``as_dict`` form, as it travels between Airflow tasks).

    ``plan_steps`` is the whole plan: the EOL message says what it did. Idempotent (see the module table).
    """
    if isinstance(step, Mapping):
        step = step_from_dict(step)
    executor = EXECUTORS.get(type(step))
    if executor is None:
        raise EOLError(f"no executor for EOL step {step.key}")
    steps = tuple(s if isinstance(s, Step) else step_from_dict(s) for s in plan_steps)
    return executor(step, services, steps)


# --- one function per step type ---------------------------------------------------------------------------


def _set_inactive(step: SetReleaseInactive, services: EOLServices, _: tuple[Step, ...]) -> StepOutcome:
    changed = services.pdc.set_release_inactive(step.pdc_release)
    return _outcome(step, changed)


def _delete_target(step: DeleteBuildTarget, services: EOLServices, _: tuple[Step, ...]) -> StepOutcome:
    item = f"build target {step.name}"
    info = services.koji.call("getBuildTarget", step.name, item=item)
    if not info:
        return _outcome(step, False)
    found = (info.get("build_tag_name"), info.get("dest_tag_name"))
    if found != (step.build_tag, step.dest_tag):
        raise KojiError(
            item,
            f"now builds from {found[0]} into {found[1]}, not from {step.build_tag} into {step.dest_tag} "
            "as planned: plan again",
        )
    services.koji.call("deleteBuildTarget", info["id"], item=item)
    return _outcome(step, True)


def _lock_tag(step: LockTag, services: EOLServices, _: tuple[Step, ...]) -> StepOutcome:
    if services.koji.tag_info(step.tag).get("locked"):
        return _outcome(step, False)
    services.koji.call("editTag2", step.tag, locked=True, item=f"lock tag {step.tag}")
    return _outcome(step, True)


def _close_bug(step: CloseBug, services: EOLServices, _: tuple[Step, ...]) -> StepOutcome:
    return _close_bugs([step], services)[0]


def _carve_out(step: CarveOutRef, services: EOLServices, _: tuple[Step, ...]) -> StepOutcome:
    staging = services.staging
    if services.ostree.path != staging.ostree_repo.path:
        raise EOLError(
            f"{step.ref}: the carve-out must go to the released repository {staging.ostree_repo.path}, "
            f"not {services.ostree.path}"
        )
    with staging.locked():
        result = carve_out(
            services.ostree,
            step.ref,
            message=step.endoflife,
            rebase=step.rebase,
            archive=services.ostree_archive,
            signer=services.signer,
            static_deltas=services.static_deltas,
        )
    synced = staging.sync([staging.ostree_root])
    steps = [*result.steps, *(["mirror-sync"] if any(synced.values()) else [])]
    done = f" ({', '.join(steps)})" if steps else ""
    return _outcome(step, bool(steps), done)


def _move_path(step: MoveMirrorPath, services: EOLServices, _: tuple[Step, ...]) -> StepOutcome:
    trees = services.mirror
    for planned, tree in ((step.source, trees.master), (step.destination, trees.archive)):
        if _local_part(planned) != _local_part(tree.abs(step.path)):
            raise MirrorError(f"{step.path}: planned as {planned}, but this mirror has it at {tree.where(step.path)}")
    moved = trees.move_to_archive(step.path)
    services.staging.refresh_file_lists([step.path])  # the downstream mirrors' lists no longer name the tree
    return _outcome(step, moved)


def _publish(step: PublishEOL, services: EOLServices, plan_steps: tuple[Step, ...]) -> StepOutcome:
    if services.mirror.read_marker(step.release) is not None:
        return _outcome(step, False)
    done = [s for s in plan_steps if not isinstance(s, PublishEOL)]
    body = dict(step.body)
    body["date"] = body.get("eol_date")
    body["done"] = [s.describe() for s in done]
    body["steps"] = [s.key for s in done]
    services.publisher.publish(step.modname, step.topic, body)
    marker = {**body, "topic": f"{step.modname}.{step.topic}", "published": datetime.now(UTC).isoformat()}
    services.mirror.write_marker(step.release, marker)
    return _outcome(step, True)


EXECUTORS: dict[type[Step], Callable[[Any, EOLServices, tuple[Step, ...]], StepOutcome]] = {
    SetReleaseInactive: _set_inactive,
    DeleteBuildTarget: _delete_target,
    LockTag: _lock_tag,
    CloseBug: _close_bug,
    CarveOutRef: _carve_out,
    MoveMirrorPath: _move_path,
    PublishEOL: _publish,
}


# --- helpers ----------------------------------------------------------------------------------------------


def _close_bugs(steps: Sequence[CloseBug], services: EOLServices) -> list[StepOutcome]:
    first = steps[0]
    closed = set(
        services.bugzilla.close_bugs(
            [s.bug_id for s in steps], first.comment, status=first.status, resolution=first.resolution
        )
    )
    return [_outcome(s, s.bug_id in closed) for s in steps]


def _same_closing(step: Step, first: CloseBug) -> bool:
    return isinstance(step, CloseBug) and (step.comment, step.status, step.resolution) == (
        first.comment,
        first.status,
        first.resolution,
    )


def _outcome(step: Step, changed: bool, extra: str = "") -> StepOutcome:
    return StepOutcome(step.key, step.kind, changed, step.describe() + extra)


def _local_part(location: str) -> str:
    """``/srv/pub/x`` of ``host:/srv/pub/x`` (a local path is itself)."""
    if not location.startswith("/") and ":" in location:
        return posixpath.normpath(location.split(":", 1)[1])
    return os.path.abspath(location)
