"""The master mirror watched during a chaos run, as a client polling it would see it: at every look, does any
metadata (a yum ``repomd.xml``, an OSTree ``summary`` and refs, a ``CHECKSUM`` file, a symlink) name a file
that is not there? (:func:`relengotron.sync.verify.verify_tree`, read-only.)

A look lists the tree, then reads the metadata; a sync that lands new metadata between the two makes one look
see files "missing" that were written before it. So a problem counts as served only when the next look still
shows it; one seen once is counted apart as transient (and listed in the report).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from relengotron.sync.mirrorfs import MirrorFS
from relengotron.sync.verify import verify_tree
from relengotron.tools.run import ToolError

EVERY = 1.0  # seconds between looks


@dataclass
class MirrorLooks:
    """What the watch saw: how many looks, how many named files checked in all, the problems served (seen in two
    consecutive looks) and the transient ones (seen once)."""

    looks: int = 0
    checked: int = 0
    served: set[str] = field(default_factory=set)
    transient: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)  # looks that could not be made (the tree being written)


class MirrorWatch:
    """Looks at ``master`` every :data:`EVERY` seconds in a thread of its own, from :meth:`start` to
    :meth:`stop`."""

    def __init__(self, master: Path) -> None:
        self.fs = MirrorFS(str(master))
        self.looks = MirrorLooks()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="mirror-watch", daemon=True)

    def start(self) -> MirrorWatch:
        self._thread.start()
        return self

    def stop(self) -> MirrorLooks:
        """Stop looking (after one last look); what was seen. Idempotent."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)
        return self.looks

    def _watch(self) -> None:
        previous: set[str] = set()
        while True:
            last = self._stopping.is_set()
            previous = self.look(previous)
            if last or self._stopping.wait(EVERY):
                if not last:
                    self.look(previous)
                return

    def look(self, previous: set[str]) -> set[str]:
        """One look; its problems (the next look is compared with them)."""
        try:
            report = verify_tree(self.fs)
        except (ToolError, OSError, ValueError) as exc:
            self.looks.errors.append(f"{type(exc).__name__}: {exc}"[:300])
            return previous
        self.looks.looks += 1
        self.looks.checked += report.checked
        now = {str(problem) for problem in report.problems}
        self.looks.served |= now & previous
        self.looks.transient |= now - previous
        return now
