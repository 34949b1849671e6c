"""Figure 7 — OSTree: compose + merge-if-changed against the raw commands it runs; an unchanged compose.

The f24 Atomic Host of the sandbox world (23 packages, the world's real signed RPMs) is composed with
:class:`relengotron.ostree.compose.LocalBackend` from a signed yum repository of them (dnf, gpgcheck against
the world key; rpm-ostree's layout) and merged with
:func:`relengotron.ostree.merge.merge_if_changed` (commit signed, static delta, signed summary) into a shared
repository that already holds the release's first compose:

- changed: the glibc update changes the tree — a new commit is merged (the repository is put back to its
  earlier state before each repeat, untimed);
- unchanged: the same manifest again — the tree is composed, found equal to the head, nothing is written.

Baseline (the limit): the external commands those calls run (dnf, rpm, ostree, gpg), timed inside
the same calls (:mod:`bench.commands`); the ratio is the library's total over its commands' total.
"""

from __future__ import annotations

import shutil
from typing import Any

from bench.commands import recording
from bench.core import RunContext
from bench.stats import Figure, median, timed, timed_metric
from bench.world import built_world, rpm_files, tagged_nvrs

REF = "fedora/24/x86_64/atomic-host"


def measure(ctx: RunContext) -> Figure:
    from relengotron.manifest import Manifest
    from relengotron.mash.repo import createrepo
    from relengotron.ostree.compose import ComposeRequest, LocalBackend
    from relengotron.ostree.merge import MERGED, UNCHANGED, merge_if_changed
    from relengotron.ostree.repo import OSTreeRepo
    from relengotron.ostree.treefile import YumRepo
    from relengotron.signing.local import LocalGpgSigner

    repeats = ctx.reps(5, 1)
    world, built = built_world()
    [atomic] = [a for a in world.artifacts if a.name == "atomic-host" and a.release == "f24"]
    base = tagged_nvrs(world, "f24", atomic.packages)
    updated = {b.package: b.nvr for b in world.builds() if "f24-updates" in b.tags}
    new = [updated.get(nvr.rsplit("-", 2)[0], nvr) for nvr in base]
    if new == base:
        raise RuntimeError("the world's f24-updates changes no package of the f24 Atomic Host")
    fig = Figure("7", "ostree", "OSTree compose + merge-if-changed")
    fig.params = {"ref": REF, "packages": len(base), "rpms": len(rpm_files(built, base)), "repeats": repeats}

    work = ctx.scratch("ostree")
    shared = OSTreeRepo(work / "shared")
    backend = LocalBackend(work / "compose")
    signer = LocalGpgSigner(built.gnupghome, built.key_id)
    # the signed yum repository the compose installs from (gpgcheck against the world key): base and update RPMs
    yum = work / "yum"
    yum.mkdir()
    for path in dict.fromkeys(rpm_files(built, [*base, *new])):
        (yum / path.name).symlink_to(path)
    createrepo(yum, 0, item="bench yum repository")
    repo = YumRepo("fedora-24", yum.as_uri(), (built.public_key.as_uri(),))

    def compose_merge(nvrs: list[str]) -> Any:
        manifest = Manifest.of(nvrs)  # the world's builds each ship one binary named as the build
        request = ComposeRequest(ref=REF, manifest=manifest, packages=manifest.nvrs, repos=(repo,), releasever="24")
        composed = backend.compose(request)
        try:
            return merge_if_changed(shared, composed, version_prefix="24", signer=signer, static_deltas=True)
        finally:
            composed.discard()

    first = compose_merge(base)
    if first.status != MERGED:
        raise AssertionError(f"the first compose into an empty repository was {first.status}")
    before = work / "shared-before"
    shutil.copytree(shared.path, before, symlinks=True)

    changed, changed_raw, unchanged, unchanged_raw = [], [], [], []
    changed_desc = unchanged_desc = ""
    for _ in range(repeats):  # each repeat: back to the first compose, merge the update, then compose it again
        shutil.rmtree(shared.path)
        shutil.copytree(before, shared.path, symlinks=True)
        with recording() as log:
            seconds, result = timed(lambda: compose_merge(new))
        if result.status != MERGED or result.previous != first.head:
            raise AssertionError(f"the glibc update was not merged onto the first compose: {result}")
        changed.append(seconds)
        changed_raw.append(log.total)
        changed_desc = log.describe()
        head = shared.rev_parse(REF)
        with recording() as log:
            seconds, result = timed(lambda: compose_merge(new))
        if result.status != UNCHANGED or shared.rev_parse(REF) != head:
            raise AssertionError(f"composing the same manifest again changed the repository: {result}")
        unchanged.append(seconds)
        unchanged_raw.append(log.total)
        unchanged_desc = log.describe()
    ctx.log(
        f"ostree: changed {median(changed):.2f} s (its commands {median(changed_raw):.2f} s), "
        f"unchanged {median(unchanged):.2f} s"
    )

    fig.add(
        timed_metric(
            "compose + merge, tree changed",
            changed,
            "its commands alone",
            changed_raw,
            kind="limit",
            note="new signed commit, static delta, signed summary",
        )
    )
    fig.add(
        timed_metric(
            "compose + merge, unchanged",
            unchanged,
            "its commands alone",
            unchanged_raw,
            kind="limit",
            note="nothing written: no commit, ref or object",
        )
    )
    fig.add(
        timed_metric(
            "unchanged compose",
            unchanged,
            "changed compose",
            changed,
            kind="reference",
            note="an unchanged compose still builds the tree to compare it",
        )
    )
    fig.notes.append(f"commands of a changed compose: {changed_desc}")
    fig.notes.append(f"commands of an unchanged compose: {unchanged_desc}")
    return fig
