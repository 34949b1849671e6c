"""RPM dependency strings, as rpm itself understands them (version comparison: :mod:`relengotron.rpmvercmp`).

Used to validate the world's Requires/Provides before anything is built, and by the sandbox depcheck to
compute a dependency closure from the RPM headers. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from relengotron.rpmvercmp import evrcmp, split_evr, vercmp

__all__ = ["Dep", "DependencyError", "evrcmp", "parse_dep", "satisfies", "split_evr", "vercmp"]

_OPS = ("<=", ">=", "<", ">", "=")
_NAME = re.compile(r"^[A-Za-z0-9_/.+()\-:]+$")
_EVR = re.compile(r"^(?:(\d+):)?([A-Za-z0-9._+~^]+?)(?:-([A-Za-z0-9._+~^]+))?$")


class DependencyError(ValueError):
    """A dependency string rpm would not accept."""


@dataclass(frozen=True)
class Dep:
    """``name [op evr]``: one Requires or Provides entry."""

    name: str
    op: str | None = None
    evr: str | None = None

    def __str__(self) -> str:
        return self.name if self.op is None else f"{self.name} {self.op} {self.evr}"


def parse_dep(text: str) -> Dep:
    """Parse one simple (non-boolean) dependency; raise :class:`DependencyError` saying why not."""
    if not isinstance(text, str):
        raise DependencyError(f"{text!r} is not a string")
    parts = text.split()
    if not parts:
        raise DependencyError("empty dependency")
    if parts[0].startswith("("):
        raise DependencyError(f"{text!r}: rich (boolean) dependencies are not supported")
    if len(parts) not in (1, 3):
        raise DependencyError(f"{text!r}: expected 'name' or 'name OP version'")
    name = parts[0]
    if not _NAME.match(name):
        raise DependencyError(f"{text!r}: bad dependency name {name!r}")
    if len(parts) == 1:
        return Dep(name)
    op, evr = parts[1], parts[2]
    if op not in _OPS:
        raise DependencyError(f"{text!r}: unknown operator {op!r} (use one of {' '.join(_OPS)})")
    if not _EVR.match(evr):
        raise DependencyError(f"{text!r}: bad version {evr!r}")
    return Dep(name, op, evr)


def satisfies(provide: Dep, require: Dep) -> bool:
    """Does ``provide`` satisfy ``require``? Names must match; versioned ranges must overlap as rpm decides."""
    if provide.name != require.name:
        return False
    if require.op is None or provide.op is None:
        return True
    if provide.op != "=":
        # ranged provides are rare; treat them as satisfying only unversioned or equal-op requirements
        return require.op == provide.op and evrcmp(provide.evr or "", require.evr or "") == 0
    cmp = evrcmp(provide.evr or "", require.evr or "")
    return {
        "=": cmp == 0,
        "<": cmp < 0,
        "<=": cmp <= 0,
        ">": cmp > 0,
        ">=": cmp >= 0,
    }[require.op]
