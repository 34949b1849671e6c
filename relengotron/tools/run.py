"""Running a command-line tool so that a failure says which tool, on which item, and what the tool said."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


class ToolError(RuntimeError):
    """A tool exited non-zero (or could not be started); names the item it was working on."""

    def __init__(self, item: str, args: Sequence[str], returncode: int | None, stderr: str) -> None:
        self.item = item
        self.tool = Path(str(args[0])).name if args else "?"
        self.args_list = [str(a) for a in args]
        self.returncode = returncode
        self.stderr = stderr
        status = "could not be started" if returncode is None else f"failed (exit {returncode})"
        detail = stderr.strip().splitlines()[-5:] if stderr.strip() else []
        message = f"{item}: {self.tool} {status}"
        if detail:
            message += ": " + " | ".join(detail)
        super().__init__(message)


def run(
    args: Sequence[str | Path],
    *,
    item: str,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    timeout: float | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``args``; with ``check`` a non-zero exit raises :class:`ToolError` naming ``item``.

    ``env`` is added to the current environment (not a replacement), so PATH and locale stay sane.
    """
    argv = [str(a) for a in args]
    full_env = {**os.environ, **env} if env else None
    try:
        result = subprocess.run(
            argv, cwd=cwd, env=full_env, input=input, capture_output=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise ToolError(item, argv, None, f"{argv[0]} not found: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolError(item, argv, None, f"timed out after {timeout} s") from exc
    if check and result.returncode != 0:
        raise ToolError(item, argv, result.returncode, result.stderr.decode(errors="replace"))
    return result
