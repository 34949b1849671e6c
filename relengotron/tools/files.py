"""Replacing a file whole: written beside its destination, then renamed over it.

A reader (a mirror client, a concurrent signer, a rerun after a crash) sees the old file or the new one, never
half of one; a failure leaves the destination as it was and no temporary file behind.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path


def write_atomic(dest: str | Path, data: bytes, *, mode: int = 0o644) -> Path:
    """Replace ``dest`` (parents created) with ``data``, permission bits ``mode``.

    Idempotent in effect: the same data again gives the same file (a new inode, the same bytes).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def copy_atomic(source: str | Path, dest: str | Path, *, mode: int | None = None) -> Path:
    """Replace ``dest`` (parents created) with a copy of the file ``source``; ``mode`` defaults to the source's.

    Idempotent in effect: copying the same source again gives the same file.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.chmod(tmp, stat.S_IMODE(os.stat(source).st_mode) if mode is None else mode)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest
