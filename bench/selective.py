"""Figure 3 — selective rebuild: a push touching k of N artifacts composes exactly k, against composing all N.

A release configuration with N synthetic artifacts of one release (f24) is served as the ``updates_push``
DAG's ``plan`` and ``compose`` tasks see it: PDC (the sandbox PDC serving one component group per artifact),
the sandbox Koji hub (latest builds of the push's tag; the RPMs an OSTree compose fetches) and what was
released (the staging OSTree repository, the master mirror). One update is pushed whose package is in
exactly k of the artifacts. A push is :func:`relengotron.push_run.plan_push` followed by one
:meth:`ArtifactKind.compose` per target the plan recomposes — run one after another here (in the DAG they
are parallel map indexes; figure 4 is about that). The baseline composes every target of the same plan.

Two kinds of compose:
- ``ostree`` (N = 5, 20): the real local OSTree compose — the manifest's signed RPMs fetched from the
  sandbox Koji, their payloads committed, merged into the shared repository if changed (unsigned here:
  signing is timed in figure 7);
- ``bench-stamp`` (N = 5 … 200): a cheap kind (:mod:`bench.stampkind`) writing a small file, so that what
  is measured at large N is the push's own overhead.

Each repeat starts from the same released state (the shared repository and candidate area are put back,
untimed). Composes performed are counted at the plugin; for OSTree the number of refs that moved in the
shared repository is checked too (k, both ways: an unchanged tree moves no ref).
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.core import RunContext
from bench.services import koji_client, started
from bench.stampkind import KIND as STAMP
from bench.stampkind import registered
from bench.stats import Figure, median, timed, timed_metric
from bench.synth import Scenario, artifact, pdc_adapter, pdc_documents, serve_pdc
from bench.world import built_world

# the packages of the OSTree artifacts: the k touched ones hold glibc, which the world's f24-updates updates. Every
# set is closed under its dependencies (dnf installs exactly the manifest), and the untouched ones hold nothing
# that needs glibc or that f24-updates updates: the plan must leave them alone.
OSTREE_BASE = ("filesystem", "setup")
OSTREE_TOUCHED = "glibc"


def cases(quick: bool) -> list[tuple[str, int, int]]:
    """(kind, N, k) of each case."""
    if quick:
        return [("ostree", 3, 1), (STAMP, 10, 1)]
    out = [("ostree", 5, 1), ("ostree", 20, 2)]
    out += [(STAMP, n, max(1, n // 10)) for n in (5, 20, 50, 200)]
    return out


def measure(ctx: RunContext) -> Figure:
    from relengotron_sandbox.releng import render_release_config

    fig = Figure("3", "selective", "Selective rebuild: composes and push time for k of N artifacts")
    repeats = {"ostree": ctx.reps(3, 1), STAMP: ctx.reps(9, 1)}  # stamp pushes take milliseconds: more repeats
    chosen = cases(ctx.quick)
    fig.params = {"cases": [{"kind": k, "N": n, "k": t} for k, n, t in chosen], "repeats": repeats}
    world, built = built_world()
    with (
        registered(ctx.scratch("selective-kinds")),
        started(ctx.scratch("selective-sandbox"), world, built, ("koji",)) as endpoints,
    ):
        for kind, n, k in chosen:
            state = ctx.scratch(f"selective-{kind}-{n}")
            base_config = render_release_config(world, built.key_id, state)
            run = Case(kind, n, k, base_config, endpoints, state, keys=(built.public_key,))
            selective, everything = [], []
            composes: tuple[int, int] = (0, 0)
            planning: list[float] = []
            with serve_pdc(pdc_documents(run.scenario), state / "pdc") as url:
                run.pdc_url = url
                run.setup()
                run.reset()
                run.push(everything=False)  # warm-up (imports, first connections), untimed
                for index in range(repeats[kind]):  # interleaved, in alternating order: drift hits both alike
                    for all_targets in [False, True] if index % 2 == 0 else [True, False]:
                        run.reset()
                        seconds, (done, t_plan) = timed(lambda run=run, e=all_targets: run.push(everything=e))
                        if all_targets:
                            everything.append(seconds)
                            composes = (composes[0], done)
                        else:
                            selective.append(seconds)
                            planning.append(t_plan)
                            composes = (done, composes[1])
            ctx.log(f"selective: {kind} N={n} k={k}: {median(selective):.2f} s vs {median(everything):.2f} s")
            fig.add(
                timed_metric(
                    f"{kind} N={n} k={k}: push",
                    selective,
                    "compose all N",
                    everything,
                    kind="naive",
                    note=f"composes performed {composes[0]} (must be {k}) vs {composes[1]}; "
                    f"planning {median(planning) * 1e3:.0f} ms of it",
                    ok=composes[0] == k,
                )
            )
    fig.notes.append(
        "push = plan_push (PDC, Koji, released manifests) + the composes, serially; "
        "ostree = real local OSTree compose from the sandbox Koji's RPMs, bench-stamp = a 1 ms stand-in compose"
    )
    return fig


class Case:
    """One (kind, N, k): its configuration, services and state, and one push either way."""

    def __init__(
        self, kind: str, n: int, k: int, config: Any, endpoints: dict[str, Any], state: Path, keys: tuple[Path, ...]
    ) -> None:
        self.kind, self.n, self.k = kind, n, k
        self.keys = keys  # the release's public key: what an OSTree compose checks every package against
        self.endpoints = endpoints
        self.state = state
        arts = tuple(artifact(i, kind) for i in range(n))
        if kind == "ostree":
            packages = {
                a.name: tuple(sorted({*OSTREE_BASE, *([OSTREE_TOUCHED] if i < k else [])})) for i, a in enumerate(arts)
            }
            update = "glibc-2.23.1-8.fc24"
        else:
            packages = {
                a.name: tuple(sorted({f"own{i:03d}", *(["shared"] if i < k else [])})) for i, a in enumerate(arts)
            }
            update = "shared-1.0-2.fc24"
        others = tuple(a for a in config.artifacts if a.release != "f24")
        self.config = dataclasses.replace(config, artifacts=others + arts)
        self.release = self.config.release("f24")
        self.artifacts = arts
        self.packages = packages
        # the conf of Bodhi's compose.composing, and the update as the updates task reads it from Bodhi
        self.conf = {"push_id": f"bench-{kind}-{n}", "repo": "f24-updates", "updates": [update]}
        self.updates = [{"alias": "FEDORA-2016-be4c4be4c4", "builds": [update], "type": "bugfix"}]
        self.scenario = Scenario(self.release, arts, packages, {}, {}, ())
        self.pdc_url = ""  # set once the PDC serving the scenario is up
        self.snapshot = state / "shared-released"

    # --- the released state -----------------------------------------------------------------------------

    def setup(self) -> None:
        """Release every artifact at the release's base builds (before the update), then remember the state."""
        from relengotron.adapters.released import write_image_manifest
        from relengotron.artifacts import PromoteContext, for_target
        from relengotron.manifest import Manifest
        from relengotron.planning import Target

        koji = koji_client(self.endpoints)
        try:
            for art in self.artifacts:
                target = Target(art, self.release, "x86_64")
                plugin = for_target(target)
                if self.kind == "ostree":
                    manifest = plugin.manifest(koji, self.packages[art.name], self.release.tag("build"))
                    with self._compose_context(koji) as cctx:
                        output = plugin.compose(cctx, manifest)
                    plugin.promote(PromoteContext(layout=self.config.mirror, signer=None), output)
                else:
                    manifest = Manifest.of(f"{p}-1.0-1.fc24" for p in self.packages[art.name])
                    write_image_manifest(
                        Path(self.config.mirror.master), self.config.mirror, art, self.release, "x86_64", manifest
                    )
        finally:
            koji.close()
        if self.kind == "ostree":
            shutil.copytree(self.config.ostree.repo, self.snapshot, symlinks=True)

    def reset(self) -> None:
        """Back to the released state: the shared repository as released, no candidates."""
        if self.kind == "ostree":
            shutil.rmtree(self.config.ostree.repo)
            shutil.copytree(self.snapshot, self.config.ostree.repo, symlinks=True)
        shutil.rmtree(Path(self.config.mirror.staging) / ".relengotron" / "candidates", ignore_errors=True)

    # --- one push ------------------------------------------------------------------------------------------

    def _compose_context(self, koji: Any) -> Any:
        import tempfile
        from contextlib import contextmanager

        from relengotron.artifacts import ComposeContext

        @contextmanager
        def context() -> Any:
            work = Path(tempfile.mkdtemp(prefix="compose-", dir=self.state))
            try:
                yield ComposeContext(
                    koji=koji,
                    layout=self.config.mirror,
                    ostree=self.config.ostree,
                    workdir=work,
                    rpm_keys=self.keys,
                    image_tag=self.release.tag("stable"),
                )
            finally:
                shutil.rmtree(work, ignore_errors=True)

        return context()

    def push(self, *, everything: bool) -> tuple[int, float]:
        """Plan the push, then compose what it recomposes (or every target); the number of composes done and
        the seconds the planning took."""
        from relengotron.artifacts import Published, for_target
        from relengotron.push import Push
        from relengotron.push_run import plan_push

        push = Push.from_conf(self.conf, self.config, self.updates)
        koji = koji_client(self.endpoints)
        pdc = pdc_adapter(self.pdc_url)
        try:
            heads = self._heads()
            published = Published.from_config(self.config)
            sources = SimpleNamespace(pdc=pdc, koji=koji, published=published)
            t_plan, planned = timed(lambda: plan_push(push, self.config, sources))
            result = planned.plan
            assert result is not None
            todo = result.targets if everything else result.recompose
            if len(result.recompose) != self.k:
                raise AssertionError(
                    f"{self.kind} N={self.n}: the plan recomposes {len(result.recompose)}, not {self.k}"
                )
            composes = 0
            with self._compose_context(koji) as cctx:
                for target in todo:
                    compose: Callable[..., Any] = for_target(target.target).compose
                    compose(cctx, target.manifest)
                    composes += 1
            moved = sum(1 for ref, head in self._heads().items() if heads.get(ref) != head)
            if self.kind == "ostree" and moved != self.k:
                raise AssertionError(f"ostree N={self.n}: {moved} refs moved in the shared repository, not {self.k}")
            return composes, t_plan
        finally:
            pdc.close()
            koji.close()

    def _heads(self) -> dict[str, str]:
        if self.kind != "ostree":
            return {}
        from relengotron.ostree.repo import OSTreeRepo

        return OSTreeRepo(self.config.ostree.repo).refs()
