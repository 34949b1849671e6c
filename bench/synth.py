"""Synthetic release data at benchmark scale, and the sandbox PDC serving it on 127.0.0.1.

The sandbox world has a handful of artifacts; the planner and selective-rebuild figures need hundreds. Here
a release, N artifacts over a pool of packages, their released manifests and a push's updates are made up
deterministically (a seeded random generator), and the sandbox's own PDC API (:class:`PDCApi` over a
:class:`DocStore`) serves the artifacts' component groups exactly as it serves the world's — so the real
pdc-client and :class:`relengotron.adapters.pdc.PDC` read them over HTTP, pages and all.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from relengotron.config import Artifact, Release
from relengotron.manifest import Manifest
from relengotron.planning import Target, Update
from relengotron_sandbox import testing

RELEASE = testing.release("f24")


def nvr(package: str, release: int) -> str:
    return f"{package}-1.0-{release}.fc24"


@dataclass(frozen=True)
class Scenario:
    """A release with ``artifacts``, each made of ``packages[name]``, all released at build 1 of every
    package (``released``, ``base``), and a push of ``updates`` (each one newer build of one package)."""

    release: Release
    artifacts: tuple[Artifact, ...]
    packages: dict[str, tuple[str, ...]]
    released: dict[str, Manifest | None]
    base: dict[str, str]
    updates: tuple[Update, ...]


def artifact(index: int, kind: str = "ostree", release: Release = RELEASE) -> Artifact:
    """Artifact ``bench-NNN`` of ``kind`` (an OSTree ref, or an image name for other kinds)."""
    image = {} if kind == "ostree" else {"image": f"Bench-{index:03d}-{{version}}.{{arch}}.img"}
    return testing.artifact(f"bench-{index:03d}", kind, release=release.id, arches=release.arches, **image)


def scenario(
    n_updates: int, n_artifacts: int, *, per_artifact: int = 60, pool: int = 3000, seed: int = 8, kind: str = "ostree"
) -> Scenario:
    """``n_updates`` updates (one build each, of a package drawn from a pool of ``pool``) against
    ``n_artifacts`` artifacts of ``per_artifact`` packages each; deterministic for one ``seed``."""
    rng = random.Random(seed)
    names = [f"pkg{i:05d}" for i in range(pool)]
    arts = tuple(artifact(i, kind) for i in range(n_artifacts))
    packages = {a.name: tuple(sorted(rng.sample(names, min(per_artifact, pool)))) for a in arts}
    released: dict[str, Manifest | None] = {
        Target(a, RELEASE, arch).id: Manifest.of(nvr(p, 1) for p in packages[a.name]) for a in arts for arch in a.arches
    }
    updates = tuple(Update(f"FEDORA-2016-{i:010x}", (nvr(rng.choice(names), 2 + i),)) for i in range(n_updates))
    return Scenario(RELEASE, arts, packages, released, {p: nvr(p, 1) for p in names}, updates)


def touching(n_artifacts: int, k: int, *, per_artifact: int = 4, kind: str = "ostree") -> Scenario:
    """N artifacts of which exactly the first ``k`` hold package ``shared``, pushed in one update; every
    artifact also holds packages of its own (unchanged)."""
    arts = tuple(artifact(i, kind) for i in range(n_artifacts))
    packages = {
        a.name: tuple(sorted({*(f"own{i:03d}x{j}" for j in range(per_artifact)), *(["shared"] if i < k else [])}))
        for i, a in enumerate(arts)
    }
    names = sorted({p for ps in packages.values() for p in ps} | {"shared"})
    released: dict[str, Manifest | None] = {
        Target(a, RELEASE, arch).id: Manifest.of(nvr(p, 1) for p in packages[a.name]) for a in arts for arch in a.arches
    }
    update = Update("FEDORA-2016-5e1ec71ve0", (nvr("shared", 2),))
    return Scenario(RELEASE, arts, packages, released, {p: nvr(p, 1) for p in names}, (update,))


# --- the sandbox PDC serving a scenario's component groups -------------------------------------------------


def pdc_documents(sc: Scenario) -> dict[str, list[dict[str, Any]]]:
    """PDC records for the scenario: its release, a release component per package, a component group per
    artifact (``description`` = the artifact name, as the sandbox seeds the world's)."""
    from relengotron_sandbox.pdc_data import component_doc, release_doc

    r = sc.release
    # the fields of a sandbox world release that release_doc reads
    world_release = SimpleNamespace(
        id=r.id,
        pdc_id=r.pdc_release,
        short="fedora",
        version=r.version,
        name=r.name,
        state=r.state,
        bugzilla_product=r.bugzilla_product,
    )
    names = sorted({p for ps in sc.packages.values() for p in ps})
    ids = {name: i for i, name in enumerate(names, start=1)}
    components = [component_doc(ids[n], sc.release.pdc_release, n, ids[n]) for n in names]
    groups = [
        {
            "id": index,
            "group_type": a.kind,
            "description": a.name,
            "release": sc.release.pdc_release,
            "components": [{"id": ids[p], "name": p} for p in sc.packages[a.name]],
        }
        for index, a in enumerate(sc.artifacts, start=1)
    ]
    return {
        "releases": [release_doc(world_release, "00000000")],  # type: ignore[arg-type]
        "release-components": components,
        "component-groups": groups,
    }


@contextmanager
def serve_pdc(documents: dict[str, list[dict[str, Any]]], state_dir: Path) -> Iterator[str]:
    """The sandbox PDC serving ``documents`` on 127.0.0.1 (stopped on exit); yields its REST API URL."""
    from relengotron_sandbox.pdc import PDCService
    from relengotron_sandbox.pdc_api import API, RESOURCES, PDCApi
    from relengotron_sandbox.pdc_store import DocStore
    from relengotron_sandbox.service import SandboxContext
    from relengotron_sandbox.web import HTTPService

    state_dir.mkdir(parents=True, exist_ok=True)
    store = DocStore(state_dir / "pdc.sqlite", {name: res.key for name, res in RESOURCES.items()})
    try:
        store.open("bench-synthetic", lambda: documents)
        ctx = SandboxContext(state_dir=state_dir, world=None, built=None)  # type: ignore[arg-type]
        service = PDCService(ctx)
        http = HTTPService(service.build_app(PDCApi(store, ctx))).start()
        try:
            yield f"{http.url}{API}"
        finally:
            http.stop()
    finally:
        store.close()


def pdc_adapter(url: str) -> Any:
    """:class:`relengotron.adapters.pdc.PDC` over a new pdc-client for ``url`` (no auth, as in development)."""
    from relengotron.adapters.pdc import PDC, PDCConnection

    return PDC.connect(PDCConnection(server=url, develop=True))


def sample_pairs(sc: Scenario, count: int) -> Sequence[tuple[Update, Artifact]]:
    """The first ``count`` (update, artifact) pairs, in the order a naive planner walks them."""
    pairs = []
    for update in sc.updates:
        for art in sc.artifacts:
            pairs.append((update, art))
            if len(pairs) >= count:
                return pairs
    return pairs
