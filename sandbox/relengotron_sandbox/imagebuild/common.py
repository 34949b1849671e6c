"""What every image writer shares: its error, running a tool, and staging output beside its destination.

An image is built in a temporary directory next to its destination (same filesystem) and renamed into place only
once it is complete, so a reader sees no image or a whole one — never half of one. A destination that already exists
(a finished image, or a file someone else left there) is refused, naming it: an image file, once written, is never
replaced (as Koji never replaces an imported archive).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from relengotron.tools.run import ToolError, run

__all__ = ["ImageBuildError", "staged", "tool", "tool_to_file"]


class ImageBuildError(RuntimeError):
    """Writing an image failed; the message names the offending item (root, file, destination)."""


def tool(args: list[str | Path], *, item: str, cwd: Path | None = None, input: bytes | None = None) -> str:
    """Run a stock tool; its stdout (text). A failure raises :class:`ImageBuildError` naming ``item`` and quoting
    the tool's last stderr lines."""
    try:
        return run(args, item=item, cwd=cwd, input=input).stdout.decode(errors="replace")
    except ToolError as exc:
        raise ImageBuildError(str(exc)) from exc


def tool_to_file(args: list[str | Path], out: Path, *, item: str) -> None:
    """Run a stock tool whose stdout is a file's content (``xz -c``), streamed into ``out``; failures as
    :func:`tool`."""
    argv = [str(a) for a in args]
    try:
        with open(out, "wb") as handle:
            proc = subprocess.run(argv, stdout=handle, stderr=subprocess.PIPE, check=False)
    except FileNotFoundError as exc:
        raise ImageBuildError(str(ToolError(item, argv, None, str(exc)))) from exc
    if proc.returncode != 0:
        raise ImageBuildError(str(ToolError(item, argv, proc.returncode, proc.stderr.decode(errors="replace"))))


@contextmanager
def staged(targets: Mapping[str, Path]) -> Iterator[tuple[Path, dict[str, Path]]]:
    """Stage several outputs at once: yields ``(workdir, {key: temp path})``; on success each temp path is renamed
    onto its destination, on any failure nothing is renamed and the work directory is removed.

    The work directory lies beside the first destination (``.<name>.*.part``), so the renames stay on one
    filesystem. Raises :class:`ImageBuildError` before doing anything when a destination exists or the
    destinations are not all in one directory.
    """
    if not targets:
        raise ImageBuildError("no destination given")
    dests = {key: Path(dest).absolute() for key, dest in targets.items()}
    first = next(iter(dests.values()))
    if any(dest.parent != first.parent for dest in dests.values()):
        raise ImageBuildError(f"{', '.join(map(str, dests.values()))}: the outputs of one build go in one directory")
    for dest in dests.values():
        if dest.exists() or dest.is_symlink():
            raise ImageBuildError(f"{dest}: destination exists (refusing to replace an image file)")
    first.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{first.name}.", suffix=".part", dir=first.parent))
    try:
        temps = {key: work / f"out-{index}-{dest.name}" for index, (key, dest) in enumerate(dests.items())}
        yield work, temps
        missing = [str(dests[key]) for key, temp in temps.items() if not temp.is_file()]
        if missing:
            raise ImageBuildError(f"{', '.join(missing)}: the writer produced no file")
        for key, temp in temps.items():
            os.chmod(temp, 0o644)
            os.replace(temp, dests[key])
    finally:
        shutil.rmtree(work, ignore_errors=True)
