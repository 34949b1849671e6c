"""File uploads into the work area, as the koji client sends them (``ClientSession.uploadWrapper``).

The client first calls ``checkUpload(path, name)`` (a hub that answers it supports "fast upload"), then POSTs
each chunk to the hub URL with the query ``filename``, ``filepath``, ``fileverify``, ``offset`` (and
``overwrite``) and the chunk as the body, expecting ``{size, hexdigest}`` of the chunk back (``rawUpload``,
kojihub's ``handle_upload``), and ends with ``checkUpload`` again to compare the size. Files land in
``<topdir>/work/<filepath>/<filename>`` (kojihub's ``get_upload_path``): where ``koji image-build --kickstart``
puts the kickstart the image task then reads (``work/<dir>/<name>``). Uploading needs a logged-in session.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

import koji
import koji.util

from relengotron_sandbox.koji.hub import Caller, Hub
from relengotron_sandbox.web import Request


def upload_path(hub: Hub, path: str, name: str, *, create: bool = False) -> Path:
    """``<topdir>/work/<path>/<name>``; a path that would leave the work area is refused as kojihub refuses it."""
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or "/" in name or name in ("", ".", ".."):
        raise koji.GenericError(f"Invalid upload directory: {path}/{name}")
    directory = Path(hub.pathinfo.work()) / rel
    if create:
        directory.mkdir(parents=True, exist_ok=True)
    return directory / name


def is_upload(request: Request) -> bool:
    """A rawUpload POST: the client sends the file name in the query and the chunk as the body."""
    return request.arg("filename") is not None


def handle_upload(hub: Hub, request: Request, caller: Caller) -> dict[str, Any]:
    """Write one chunk at its offset (kojihub ``handle_upload``); its size and checksum."""
    if caller.user_id is None:
        raise koji.ActionNotAllowed("you must be logged-in to upload a file")
    name = request.arg("filename") or ""
    target = upload_path(hub, request.arg("filepath") or "", name, create=True)
    verify = request.arg("fileverify") or "adler32"
    if verify != "adler32":
        raise koji.GenericError(f"Unsupported verify type: {verify}")
    offset = int(request.arg("offset") or "0")
    overwrite = bool(request.arg("overwrite"))
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise koji.GenericError(f"destination not a file: {target}")
    if target.exists() and offset == 0 and not overwrite:
        raise koji.GenericError(f"upload path exists: {target}")
    fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if offset == -1:
            offset = os.lseek(fd, 0, os.SEEK_END)
        elif overwrite:
            os.ftruncate(fd, offset)
        os.lseek(fd, offset, os.SEEK_SET)
        os.write(fd, request.body)
    finally:
        os.close(fd)
    digest = koji.util.adler32_constructor(request.body).hexdigest()
    return {"size": len(request.body), "fileverify": verify, "offset": offset, "hexdigest": digest}


class UploadExports:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def checkUpload(
        self, path: str, name: str, verify: str | None = None, tail: int | None = None, volume: str | None = None
    ) -> dict[str, Any] | None:
        """Size and mtime of an uploaded file (with ``verify``, its adler32); None when there is none."""
        del volume
        target = upload_path(self._hub, path, name)
        if not target.exists():
            return None
        if not target.is_file() or target.is_symlink():
            raise koji.GenericError(f"Not a regular file: {target}")
        info = target.stat()
        data: dict[str, Any] = {"size": info.st_size, "mtime": info.st_mtime}
        if verify:
            if verify != "adler32":
                raise koji.GenericError(f"Unsupported verify type: {verify}")
            content = target.read_bytes()
            if tail is not None:
                content = content[max(len(content) - tail, 0) :]
            data["sumlength"] = len(content)
            data["hexdigest"] = koji.util.adler32_constructor(content).hexdigest()
        return data
