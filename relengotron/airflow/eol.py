"""An ``eol`` task's view of its run: which release, which day, the run's overrides of the release configuration,
the services a step needs (:func:`eol_services`), and how the plan becomes tasks. All pure but
:func:`eol_services`, which builds the services from the connections on first use.

The plan (:func:`relengotron.eol.plan_eol`) travels between tasks as a list of step dicts
(:meth:`relengotron.eol.Step.as_dict`). :func:`task_items` turns it into the items of the mapped step task:
one item per step, in the plan's order, each named by the step's key (the map index shown in the UI) — except
the EOL message, which is left for the last task (:func:`publish_step`) so that it goes out only after every
other step succeeded. A release with more open bugs than a mapped task may have instances (Airflow's
``max_map_length``) gets its bug closings in batches, so that the items fit; everything else stays one
step per item.

Why the other steps may run side by side: each step changes one item of its own (a PDC release, a target, a
tag, a bug, a ref, a mirror path) and looks before it writes, so no step depends on another having run —
the planner's order is for people reading the plan. Only the message depends on the others.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relengotron.airflow.connections import Connections, Lazy, TaskClients
from relengotron.config import ReleaseConfig
from relengotron.eol import CloseBug, EOLError, PublishEOL, step_from_dict
from relengotron.names import REMOTE

if TYPE_CHECKING:
    from relengotron.eol_run import EOLServices

DEFAULT_MAX_ITEMS = 1024  # Airflow's [core] max_map_length default
# The archive repository carved-out refs are copied to, beside the shared repository, unless overridden.
OSTREE_ARCHIVE_NAME = "archive-repo"


def check_release(config: ReleaseConfig, release_id: Any) -> str:
    """``release_id`` as a configured release id; EOLError naming it and the configured ones otherwise."""
    text = str(release_id).strip() if release_id is not None else ""
    if text not in config.releases:
        known = ", ".join(sorted(config.releases))
        raise EOLError(f"release {text!r} is not in the release configuration {config.path} (configured: {known})")
    return text


def eol_date(value: Any, default: date) -> date:
    """The end-of-life date: ``value`` (``YYYY-MM-DD`` or a date) when given, else ``default`` (the run's day)."""
    if value is None or value == "":
        return default
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise EOLError(f"eol_date: {value!r} is not a date (YYYY-MM-DD)") from None


def check_location(value: str, field: str) -> str:
    """An absolute local path or ``host:/absolute/path``; a ValueError names ``field`` otherwise."""
    text = value.strip()
    if not text or not (text.startswith("/") or REMOTE.match(text)):
        raise ValueError(f"{field}: {value!r} is neither an absolute path nor host:/absolute/path")
    return text


def eol_config(config: ReleaseConfig, archive: str | None) -> ReleaseConfig:
    """``config`` with the mirror's archive tree replaced by ``archive`` (when given).

    Where the release's trees move to and where the EOL marker is looked for: use one archive for every run
    of a release, or the second run does not find the first one's marker.
    """
    if not archive:
        return config
    mirror = dataclasses.replace(config.mirror, archive=check_location(archive, "archive"))
    return dataclasses.replace(config, mirror=mirror)


def ostree_archive_path(config: ReleaseConfig, override: str | None) -> Path:
    """The archive repository carved-out refs are copied to: ``override``, else ``archive-repo`` beside the
    shared repository (``<ostree.repo>/../archive-repo``), a local archive-mode repository like it."""
    if override:
        path = check_location(override, "ostree_archive")
        if not path.startswith("/"):
            raise ValueError(f"ostree_archive: {override!r} must be a local path (an ostree repository here)")
        return Path(path)
    return config.ostree.repo.parent / OSTREE_ARCHIVE_NAME


@contextmanager
def eol_services(
    config: ReleaseConfig, release_id: str, *, ostree_archive: Path, connections: Connections | None = None
) -> Iterator[EOLServices]:
    """Everything an EOL of ``release_id`` reads and changes (:class:`relengotron.eol_run.EOLServices`), each
    client built from its connection on first use and closed on the way out: a step connects only to what
    it needs. ``config`` is the run's (see :func:`eol_config`)."""
    from relengotron.adapters.mirror import MirrorTrees
    from relengotron.airflow.connections import release_signer
    from relengotron.eol_run import EOLServices
    from relengotron.ostree.repo import OSTreeRepo

    connections = connections or Connections()
    with ExitStack() as stack:
        clients = TaskClients(connections, stack)
        staging = clients.staging(config)
        yield EOLServices(
            koji=clients.lazy("koji"),
            pdc=clients.lazy("pdc"),
            bugzilla=clients.lazy("bugzilla"),
            ostree=staging.ostree_repo,
            ostree_archive=OSTreeRepo(ostree_archive),
            staging=staging,
            mirror=Lazy(lambda: MirrorTrees.from_layout(config.mirror, staging.mirror.ssh), "mirror"),  # type: ignore[arg-type]
            publisher=clients.lazy("publisher"),
            signer=release_signer(config, release_id, connections),
            static_deltas=config.ostree.static_deltas,
        )


def task_items(steps: Sequence[Mapping[str, Any]], *, max_items: int = DEFAULT_MAX_ITEMS) -> list[dict[str, Any]]:
    """The mapped task's items for a plan: ``{"key": <map index name>, "steps": [step dicts]}``, in plan order.

    Every step but the EOL message, one per item keyed by the step's key — unless that makes more than
    ``max_items`` items, in which case consecutive bug closings share items (as few bugs per item as fit;
    keyed ``bugzilla-close:FIRST..LAST (N bugs)``). Keys are unique. EOLError when a step is not a
    valid step, a key repeats, or the EOL message is not the plan's last step.
    """
    parsed = [step_from_dict(s) for s in steps]
    keys = [s.key for s in parsed]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise EOLError(f"the EOL plan names step {repeated[0]} twice")
    publish = [i for i, s in enumerate(parsed) if isinstance(s, PublishEOL)]
    if publish and publish != [len(parsed) - 1]:
        raise EOLError("the EOL message must come once, as the plan's last step")
    work = [(s, dict(raw)) for s, raw in zip(parsed, steps, strict=True) if not isinstance(s, PublishEOL)]
    bugs = sum(isinstance(s, CloseBug) for s, _ in work)
    others = len(work) - bugs
    if len(work) <= max_items:
        per_item = 1
    else:
        room = max_items - others
        if room < 1:
            raise EOLError(f"the EOL plan has {others} steps besides bug closings: more than {max_items} tasks")
        per_item = math.ceil(bugs / room)
    items: list[dict[str, Any]] = []
    batch: list[tuple[CloseBug, dict[str, Any]]] = []

    def flush() -> None:
        if batch:
            items.append({"key": _bug_label([s for s, _ in batch]), "steps": [raw for _, raw in batch]})
            batch.clear()

    for step, raw in work:
        if isinstance(step, CloseBug):
            batch.append((step, raw))
            if len(batch) == per_item:
                flush()
            continue
        flush()
        items.append({"key": step.key, "steps": [raw]})
    flush()
    return items


def publish_step(steps: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The plan's EOL message step (a dict), or None when the release was already announced."""
    found = [dict(s) for s in steps if s.get("kind") == PublishEOL.kind]
    return found[-1] if found else None


def _bug_label(batch: Sequence[CloseBug]) -> str:
    if len(batch) == 1:
        return batch[0].key
    return f"{CloseBug.kind}:{batch[0].bug_id}..{batch[-1].bug_id} ({len(batch)} bugs)"
