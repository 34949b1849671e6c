"""``/kojifiles/``: the hub's topdir over HTTP, as Koji's ``topurl`` serves it.

Layout (Koji's PathInfo): ``packages/<n>/<v>/<r>/<arch>/<file>`` (unsigned RPMs),
``packages/<n>/<v>/<r>/data/signed/<sigkey>/<arch>/<file>`` (signed copies),
``packages/<n>/<v>/<r>/data/sigcache/<sigkey>/<arch>/<file>.sig`` (signature headers),
``packages/<n>/<v>/<r>/images/<file>`` (image archives), ``work/tasks/<id % 10000>/<id>/<file>`` (task
output and logs) and ``scratch/<user>/task_<id>/<file>`` (scratch images). Only regular files under the
topdir are served (GET/HEAD); anything else, including paths that resolve outside it, is 404.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import unquote

from relengotron_sandbox.web import HTTPError, Request, Response


def resolve(topdir: Path, relpath: str) -> Path | None:
    """The file ``relpath`` names under ``topdir``, or None if it is not a regular file inside it."""
    relpath = unquote(relpath)
    if "\x00" in relpath:
        return None
    root = topdir.resolve()
    candidate = (root / relpath.lstrip("/")).resolve()
    if candidate != root and root not in candidate.parents:
        return None
    if not candidate.is_file():
        return None
    return candidate


def serve(topdir: Path, request: Request) -> Response:
    if request.method not in ("GET", "HEAD"):
        raise HTTPError(405, "method not allowed")
    path = resolve(topdir, request.params.get("path", ""))
    if path is None:
        raise HTTPError(404, f"not found: {request.path}")
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".rpm":
        ctype = "application/x-rpm"
    return Response(200, path.read_bytes(), {"Content-Type": ctype})
