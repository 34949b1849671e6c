"""The sandbox's default world, built (real tiny RPMs, signed) and cached where the tests cache it.

The first call of a fresh machine builds it (about a minute); later calls load it from ``var/cache/world``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.core import REPO

WORLD_CACHE = REPO / "var" / "cache" / "world"


def built_world() -> tuple[Any, Any]:
    """(World, BuiltWorld) of the default world."""
    from relengotron_sandbox.world import DEFAULT_WORLD, load_world
    from relengotron_sandbox.worldbuild import build_world

    world = load_world(DEFAULT_WORLD)
    return world, build_world(world, WORLD_CACHE)


def tagged_nvrs(world: Any, tag: str, packages: Iterable[str]) -> list[str]:
    """The build of each of ``packages`` tagged into ``tag`` in the world (ValueError naming a missing one)."""
    found = {b.package: b.nvr for b in world.builds() if tag in b.tags}
    wanted = list(packages)
    missing = [p for p in wanted if p not in found]
    if missing:
        raise ValueError(f"world: no build of {', '.join(missing)} in tag {tag}")
    return [found[p] for p in wanted]


def rpm_files(built: Any, nvrs: Iterable[str], arch: str = "x86_64") -> list[Path]:
    """The signed binary RPM files (``arch`` and noarch) of ``nvrs`` in the built world: what an image installs,
    so never their debugging data (as the product's OSTree compose takes them)."""
    from relengotron.mash import is_debug

    out = []
    for nvr in nvrs:
        rpms = [r for r in built.rpms[nvr] if r.arch in (arch, "noarch") and not is_debug(r.name)]
        if not rpms:
            raise ValueError(f"built world: build {nvr} has no {arch} or noarch RPM")
        out += [built.topdir / (r.signed_relpath or r.relpath) for r in rpms]
    return out
