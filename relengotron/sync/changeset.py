"""What one push changed in the staging tree: the paths it wrote or replaced and the paths it removed. Pure.

The sync of a push carries exactly these to the master mirror (:class:`relengotron.sync.MirrorSync` with
``changes``) instead of walking whole repositories: its cost follows the push, not the size of the mirror.
Paths are relative to the staging top, '/'-separated.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass


class ChangesetError(ValueError):
    """A changeset that cannot be synced; the message names the paths."""


def normalize(path: str, *, item: str = "changeset") -> str:
    """``path`` relative to the top, without "." parts; :class:`ChangesetError` for an absolute or escaping one."""
    if not isinstance(path, str) or not path.strip() or path.startswith("/"):
        raise ChangesetError(f"{item}: {path!r} is not a path relative to the staging top")
    norm = posixpath.normpath(path.strip())
    if norm in ("", ".") or norm == ".." or norm.startswith("../"):
        raise ChangesetError(f"{item}: {path!r} is not a path inside the staging top")
    return norm


@dataclass(frozen=True)
class Changeset:
    """Paths written or replaced (``written``) and paths removed (``removed``), sorted and without duplicates."""

    written: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @classmethod
    def of(cls, written: Iterable[str] = (), removed: Iterable[str] = (), *, item: str = "changeset") -> Changeset:
        """Normalized; :class:`ChangesetError` naming a path both written and removed."""
        w = sorted({normalize(p, item=item) for p in written})
        r = sorted({normalize(p, item=item) for p in removed})
        both = sorted(set(w) & set(r))
        if both:
            raise ChangesetError(f"{item}: written and removed at once: {', '.join(both[:10])}")
        return cls(tuple(w), tuple(r))

    def __or__(self, other: Changeset) -> Changeset:
        """Both changes; a path one removes and the other writes counts as written (the later state wins only
        if the caller orders them; here the file exists in staging, so it is written)."""
        written = set(self.written) | set(other.written)
        return Changeset(tuple(sorted(written)), tuple(sorted((set(self.removed) | set(other.removed)) - written)))

    @property
    def empty(self) -> bool:
        return not self.written and not self.removed

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(sorted({*self.written, *self.removed}))

    def as_dict(self) -> dict[str, list[str]]:
        return {"written": list(self.written), "removed": list(self.removed)}


def ancestors(path: str) -> list[str]:
    """The directories above ``path``, nearest last: ``a/b/c`` → ``["a", "a/b"]``."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]
