"""The sandbox's compose file server: kojipkgs' ``/compose/`` for the sandbox, on 127.0.0.1.

Fedora's test systems fetched composes over HTTP from kojipkgs.fedoraproject.org/compose/ (the compose volume,
/mnt/koji/compose), and the release configuration's ``translate_paths`` (Pungi's option) says which URL serves
which local tree. This server serves the trees the sandbox's rendered configuration maps to its own URL: the
shared OSTree repository (``ostree pull`` fetches its files) and the staging tree, whose candidate area holds the
images awaiting their tests. GET/HEAD of regular files only (:func:`relengotron_sandbox.koji.files.serve`).

Its port must be known before the configuration is rendered, so the daemon makes it first (the socket is bound
at construction), renders the configuration with :attr:`ComposeFiles.url`, then hands it the configuration's
pairs (:meth:`ComposeFiles.serve`) and starts it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from relengotron.config import TranslatePaths
from relengotron_sandbox.koji.files import serve
from relengotron_sandbox.web import App, HTTPService, Request, Response


class ComposeFiles:
    """Serves the local trees of ``translate_paths`` pairs whose URL is this server's."""

    name = "compose"

    def __init__(self) -> None:
        self.app = App(self.name)
        self.http = HTTPService(self.app)  # binds 127.0.0.1 on a free port now
        self.served: dict[str, Path] = {}  # URL path prefix → local tree

    @property
    def url(self) -> str:
        return self.http.url

    def serve(self, translations: TranslatePaths) -> dict[str, Path]:
        """Route each pair whose URL starts with :attr:`url` to its local tree; returns what is served.
        Idempotent per prefix (a prefix served twice keeps its first tree)."""
        for prefix, url in translations.pairs:
            if not url.rstrip("/").startswith(self.url):
                continue
            path = urlsplit(url).path.rstrip("/")
            if path in self.served:
                continue
            self.served[path] = prefix
            self.app.add("*", f"{re.escape(path)}/(?P<path>.*)", self._handler(prefix))
        return dict(self.served)

    @staticmethod
    def _handler(tree: Path) -> Any:
        def handle(request: Request) -> Response:
            return serve(tree, request)

        return handle

    def start(self) -> dict[str, Any]:
        self.http.start()
        return {"url": self.url, "served": {path: str(tree) for path, tree in self.served.items()}}

    def stop(self) -> None:
        self.http.stop()
