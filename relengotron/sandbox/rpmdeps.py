"""RPM dependency strings and version comparison, as rpm itself understands them.

Used to validate the world's Requires/Provides before anything is built, and by the sandbox depcheck to
compute a dependency closure from the RPM headers. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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


def split_evr(evr: str) -> tuple[str, str, str | None]:
    """``[epoch:]version[-release]`` → (epoch, version, release or None); epoch defaults to "0"."""
    epoch = "0"
    if ":" in evr:
        epoch, evr = evr.split(":", 1)
    version, _, release = evr.partition("-")
    return epoch or "0", version, release or None


def vercmp(a: str, b: str) -> int:
    """rpm's rpmvercmp: compare two version (or release) strings segment by segment; -1, 0 or 1."""
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        while i < len(a) and not a[i].isalnum() and a[i] not in "~^":
            i += 1
        while j < len(b) and not b[j].isalnum() and b[j] not in "~^":
            j += 1
        # tilde sorts before everything, even the end of the string
        if (i < len(a) and a[i] == "~") or (j < len(b) and b[j] == "~"):
            if not (i < len(a) and a[i] == "~"):
                return 1
            if not (j < len(b) and b[j] == "~"):
                return -1
            i += 1
            j += 1
            continue
        # caret sorts after the end of the string but before anything else
        if (i < len(a) and a[i] == "^") or (j < len(b) and b[j] == "^"):
            if i >= len(a):
                return -1
            if j >= len(b):
                return 1
            if a[i] != "^":
                return 1
            if b[j] != "^":
                return -1
            i += 1
            j += 1
            continue
        if i >= len(a) or j >= len(b):
            break
        numeric = a[i].isdigit()
        pattern = str.isdigit if numeric else str.isalpha
        si = i
        while i < len(a) and pattern(a[i]):
            i += 1
        sj = j
        while j < len(b) and pattern(b[j]):
            j += 1
        seg_a, seg_b = a[si:i], b[sj:j]
        if not seg_b:
            return 1 if numeric else -1
        if numeric:
            seg_a, seg_b = seg_a.lstrip("0"), seg_b.lstrip("0")
            if len(seg_a) != len(seg_b):
                return 1 if len(seg_a) > len(seg_b) else -1
        if seg_a != seg_b:
            return 1 if seg_a > seg_b else -1
    if i >= len(a) and j >= len(b):
        return 0
    return 1 if i < len(a) else -1


def evrcmp(a: str, b: str) -> int:
    """Compare two ``[epoch:]version[-release]``; a missing release on either side matches any release."""
    ea, va, ra = split_evr(a)
    eb, vb, rb = split_evr(b)
    result = vercmp(ea, eb) or vercmp(va, vb)
    if result or ra is None or rb is None:
        return result
    return vercmp(ra, rb)


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
