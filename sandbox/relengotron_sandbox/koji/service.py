"""The sandbox Koji hub service: XML-RPC at ``/kojihub``, files at ``/kojifiles/``.

State lives under ``ctx.service_dir("koji")``: ``koji.sqlite`` (the hub database), ``topdir/`` (a copy of the
built world's Koji topdir; signing and image builds write there) and ``tmp/``. The first start seeds both
from the world; a later start on the same state dir resumes it as it was (tasks left unfinished are marked
FAILED). The endpoints entry is ``{"hub": "http://127.0.0.1:P/kojihub", "topurl": "http://127.0.0.1:P/kojifiles"}``.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import koji

from relengotron_sandbox.koji import seed as seeding
from relengotron_sandbox.koji.auth import AuthExports
from relengotron_sandbox.koji.builds import BuildExports
from relengotron_sandbox.koji.distrepo import DistRepoBuilder, DistRepoExports
from relengotron_sandbox.koji.files import serve
from relengotron_sandbox.koji.hub import Hub
from relengotron_sandbox.koji.images import ImageBuilder, ImageExports
from relengotron_sandbox.koji.packages import PackageExports
from relengotron_sandbox.koji.rpc import Dispatcher
from relengotron_sandbox.koji.signing import SigningExports
from relengotron_sandbox.koji.store import Store
from relengotron_sandbox.koji.tagged import TaggedExports
from relengotron_sandbox.koji.tagging import Tagger, TaggingExports
from relengotron_sandbox.koji.tags import TagExports
from relengotron_sandbox.koji.tasks import TaskExports, TaskManager
from relengotron_sandbox.koji.uploads import UploadExports
from relengotron_sandbox.service import SandboxContext
from relengotron_sandbox.web import App, HTTPService, Request, Response

log = logging.getLogger(__name__)


class MiscExports:
    """The hub's small informational calls."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def getAPIVersion(self) -> int:
        return koji.API_VERSION

    def getKojiVersion(self) -> str:
        return koji.__version__

    def hello(self, *args: Any) -> str:
        return "Hello World"

    def echo(self, *args: Any) -> list[Any]:
        return list(args)

    def getLastEvent(self, before: float | None = None, strict: bool = True) -> dict[str, Any] | None:
        sql, params = "SELECT id, ts FROM events", ()
        if before is not None:
            if not isinstance(before, (int, float)):
                raise koji.GenericError(f"Invalid type for before: {type(before)}")
            sql, params = sql + " WHERE ts < ?", (before,)
        found = self._hub.store.row(sql + " ORDER BY id DESC LIMIT 1", params)
        if found is None and strict:
            raise koji.GenericError("No event found")
        return found

    def getEvent(self, id: int, strict: bool = True) -> dict[str, Any] | None:
        found = self._hub.store.row("SELECT id, ts FROM events WHERE id = ?", (id,))
        if found is None and strict:
            raise koji.GenericError(f"No such event: {id}")
        return found


class KojiHub:
    """A Koji hub for the sandbox, driven by the real koji client and CLI."""

    name = "koji"

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.state = ctx.service_dir(self.name)
        self.topdir = self.state / "topdir"
        self.store: Store | None = None
        self.tasks: TaskManager | None = None
        self.http: HTTPService | None = None

    def _prepare(self) -> Store:
        """Open the database; on a fresh state dir copy the topdir and seed. Safe to repeat on a seeded dir."""
        store = Store(self.state / "koji.sqlite")
        if store.get_meta("seeded") is None:
            if self.topdir.exists():
                shutil.rmtree(self.topdir)
            shutil.copytree(Path(self.ctx.built.topdir), self.topdir, symlinks=True)
            seeding.seed(store, self.ctx.world, self.ctx.built, self.topdir)
        return store

    def start(self) -> dict[str, Any]:
        store = self.store = self._prepare()
        tmp = self.state / "tmp"
        tmp.mkdir(exist_ok=True)
        hub = Hub(store, self.topdir, self.ctx.publish)
        tasks = self.tasks = TaskManager(hub)
        tasks.fail_interrupted()
        tagger = Tagger(hub)
        tag_exports = TagExports(hub)
        build_exports = BuildExports(hub)
        images = ImageBuilder(
            hub, tasks, tag_exports, build_exports, tmp, Path(self.ctx.built.public_key), self.ctx.world.broken_images
        )
        tasks.register("tagBuild", tagger.run_task)
        tasks.register("image", images.image_task)
        tasks.register("createImage", images.create_image_task)
        tasks.register("livemedia", images.livemedia_task)
        tasks.register("createLiveMedia", images.create_livemedia_task)
        tasks.register("distRepo", DistRepoBuilder(hub).dist_repo_task)
        dispatcher = Dispatcher(
            hub,
            [
                MiscExports(hub),
                AuthExports(hub),
                tag_exports,
                PackageExports(hub),
                build_exports,
                TaggedExports(hub),
                TaggingExports(hub, tasks, tagger),
                TaskExports(hub, tasks),
                SigningExports(hub),
                ImageExports(hub, tasks),
                DistRepoExports(hub, tasks),
                UploadExports(hub),
            ],
        )
        app = App("koji")
        app.add("POST", "/kojihub/?", dispatcher.handle)
        app.add("*", "/kojifiles/(?P<path>.*)", lambda request: serve(self.topdir, request))
        app.add("GET", "/kojihub/?", _hub_banner)
        self.http = HTTPService(app).start()
        return {"hub": f"{self.http.url}/kojihub", "topurl": f"{self.http.url}/kojifiles"}

    def stop(self) -> None:
        if self.http is not None:
            self.http.stop()
            self.http = None
        if self.tasks is not None:
            self.tasks.stop()
            self.tasks = None
        if self.store is not None:
            self.store.close()
            self.store = None


def _hub_banner(request: Request) -> Response:
    """What a browser sees at the hub URL (the real hub answers GET with a short notice too)."""
    return Response(200, b"This is an XML-RPC server. Use POST.\n", {"Content-Type": "text/plain"})
