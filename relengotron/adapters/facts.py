"""Gather the facts an EOL plan is made from (:class:`relengotron.eol.EOLFacts`), from the services. Read-only.

- PDC: the release's ``active`` flag (a release PDC does not know is left out: the planner names it).
- Koji: every build target (one call), and the release's tags with their ``locked`` flag (one multicall).
- Bugzilla: the open bugs of the release's product and version.
- The shared ostree repository: the refs of the release and of its successor (tags excluded) and whether
  each head already carries ``ostree.endoflife``.
- The master mirror: the paths down to the ``{version}`` part of the ``updates`` and ``images`` templates.
- Announced: the EOL marker on the archive tree (:func:`relengotron.adapters.mirror.eol_marker`), written
  when the EOL message is published.

Nothing here writes anything anywhere, so gathering and planning is the dry run.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Protocol

from relengotron.adapters.bugzilla import Bugzilla
from relengotron.adapters.errors import NotFoundError
from relengotron.adapters.mirror import MirrorTrees
from relengotron.adapters.pdc import PDC
from relengotron.artifacts.staging import StagingTree
from relengotron.config import ReleaseConfig
from relengotron.eol import EOLFacts, KojiTag, KojiTarget, RefHead
from relengotron.kojiclient import KojiClient
from relengotron.ostree.metadata import KEY_ENDOFLIFE
from relengotron.ostree.repo import TAG_PREFIX, OSTreeRepo
from relengotron.signing.base import Signer


class Publisher(Protocol):
    """Publishes one message on the bus (:class:`relengotron.messaging.FedmsgPublisher`)."""

    def publish(self, modname: str, topic: str, msg: dict[str, Any]) -> None: ...


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
    """What the services hold now about ``release_id`` (and its successor's refs). Read-only."""
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
