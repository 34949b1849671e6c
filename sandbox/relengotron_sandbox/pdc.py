"""The sandbox PDC: Product Definition Center's REST API at ``/rest_api/v1/``, for the unmodified pdc-client.

``PDCService(ctx).start()`` serves it on 127.0.0.1 and returns ``{"url": "http://127.0.0.1:P/rest_api/v1/"}``;
use it as ``pdc_client.PDCClient(server=url, develop=True)``. Resources (records derived from the world, see
:mod:`relengotron_sandbox.pdc_data`): releases, release-components, component-groups,
release-component-relationships, composes, compose-images (retrieve only) and rpms, with PDC's field names,
filters, paging and errors (:mod:`relengotron_sandbox.pdc_query`), read through :mod:`relengotron_sandbox.pdc_api`.
Writes (:mod:`relengotron_sandbox.pdc_writes`): POST/PATCH releases, POST/PATCH release-components, PATCH
composes; each change is published on the bus as PDC does (``pdc.releases.changed``, ``pdc.releases.added``,
``pdc.release-components.*``, ``pdc.compose``). This module only routes: the reads and the writes know nothing of
it, and the writes build on the reads.
State: ``ctx.service_dir("pdc")/pdc.sqlite`` (seeded once from the world, kept across restarts).
"""

from __future__ import annotations

import logging
from typing import Any

from relengotron_sandbox import pdc_data, pdc_writes
from relengotron_sandbox.pdc_api import API, RESOURCES, PDCApi
from relengotron_sandbox.pdc_store import DocStore
from relengotron_sandbox.service import SandboxContext
from relengotron_sandbox.web import App, HTTPService, Request, Response

log = logging.getLogger(__name__)


class PDCService:
    """The sandbox PDC as a sandbox service (see the module docstring)."""

    name = "pdc"

    def __init__(self, ctx: SandboxContext, port: int = 0) -> None:
        self.ctx = ctx
        self.port = port
        self.store: DocStore | None = None
        self.http: HTTPService | None = None

    def build_app(self, api: PDCApi) -> App:
        app = App("pdc")
        one = r"/rest_api/v1/(?P<resource>[^/]+)/(?P<key>[^/]+)/?"
        many = r"/rest_api/v1/(?P<resource>[^/]+)/?"
        app.add("GET", r"/rest_api/v1/?", api.api_root)
        app.add("GET", many, api.list)
        app.add("GET", one, api.retrieve)
        app.add("POST", many, lambda r: pdc_writes.create(api, r))
        app.add("PATCH", one, lambda r: pdc_writes.patch(api, r))
        app.add("*", many, lambda r: self._not_allowed(api, r))
        app.add("*", one, lambda r: self._not_allowed(api, r))
        app.add("*", r"/.*", lambda r: Response.json({"detail": "Not found."}, 404))
        return app

    @staticmethod
    def _not_allowed(api: PDCApi, request: Request) -> Response:
        api.resource(request.params["resource"])
        return Response.json({"detail": f'Method "{request.method}" not allowed.'}, 405)

    def start(self) -> dict[str, Any]:
        """Open (seeding on first start) the state and serve on 127.0.0.1. Not re-entrant: start once."""
        store = DocStore(
            self.ctx.service_dir(self.name) / "pdc.sqlite",
            {name: res.key for name, res in RESOURCES.items()},
        )
        store.open(self.ctx.world.digest, lambda: pdc_data.seed(self.ctx.world, self.ctx.built))
        self.store = store
        self.http = HTTPService(self.build_app(PDCApi(store, self.ctx)), self.port).start()
        log.info("PDC serving on %s%s", self.http.url, API)
        return {"url": f"{self.http.url}{API}"}

    def stop(self) -> None:
        """Stop serving and close the state. Idempotent."""
        if self.http is not None:
            self.http.stop()
            self.http = None
        if self.store is not None:
            self.store.close()
            self.store = None
