"""The sandbox Bodhi as a sandbox service: its REST API, its OpenID Connect provider, its bus consumer.

``BodhiService(ctx).start()`` needs the bus, the Koji hub and Bugzilla started (their endpoints in
``ctx.endpoints``); it serves Bodhi and the provider each on 127.0.0.1 on a free port, writes a token for the
provider's default user where the bodhi client reads tokens, subscribes to ``relengotron.push.complete`` — on the
fedmsg relay, and on the sandbox's RabbitMQ when it runs one (a durable queue of its own, consumed with
fedora-messaging as Bodhi's consumers are: the pipeline may publish on either bus) — and returns its endpoints
entry::

    {"url": "http://127.0.0.1:P/", "id_provider": "http://127.0.0.1:Q/openidc", "client_id": "bodhi-client",
     "oidc_storage": "<state>/bodhi/client.json", "user": "releng"}

``BodhiClient(base_url=url, id_provider=id_provider, oidc_storage_path=oidc_storage)`` then works as that user;
the ``bodhi`` CLI takes ``--url``/``BODHI_URL`` and ``--id-provider``/``BODHI_OPENID_PROVIDER`` and reads
``~/.config/bodhi/client.json`` (copy ``oidc_storage`` there, or let it log in: the provider's authorization
endpoint needs no browser). State: ``ctx.service_dir("bodhi")/bodhi.sqlite``, seeded from the world.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from relengotron_sandbox.amqp import Subscription
from relengotron_sandbox.bodhi.auth import Auth
from relengotron_sandbox.bodhi.bugs import BugTracker
from relengotron_sandbox.bodhi.composer import FinishResult, PushResult, finish_push, push
from relengotron_sandbox.bodhi.consumer import MODNAME_TOPIC, PushCompleteConsumer
from relengotron_sandbox.bodhi.kojitags import BodhiKoji
from relengotron_sandbox.bodhi.oidc import CLIENT_ID, SERVER_CLIENT_ID, Provider
from relengotron_sandbox.bodhi.rest import BodhiApi, build_app
from relengotron_sandbox.bodhi.seed import seed
from relengotron_sandbox.bodhi.state import KEYS, BodhiState
from relengotron_sandbox.bodhi.updates import add_comment, create_update, set_request
from relengotron_sandbox.connections import BUGZILLA_API_KEY
from relengotron_sandbox.pdc_store import DocStore
from relengotron_sandbox.service import SandboxContext
from relengotron_sandbox.web import HTTPService

log = logging.getLogger(__name__)

DEFAULT_USER = "releng"  # who the provider logs in when nobody says otherwise
AMQP_QUEUE = "relengotron-sandbox-bodhi"  # this project's name: the sandbox Bodhi's queue on the sandbox's broker
STORAGE_FILE = "client.json"


class BodhiService:
    """The sandbox Bodhi (see the module docstring)."""

    name = "bodhi"

    def __init__(self, ctx: SandboxContext, port: int = 0, user: str = DEFAULT_USER) -> None:
        self.ctx = ctx
        self.port = port
        self.user = user
        self.state: BodhiState | None = None
        self.provider: Provider | None = None
        self.consumer: PushCompleteConsumer | None = None
        self.http: HTTPService | None = None
        self.oidc_http: HTTPService | None = None
        self._store: DocStore | None = None
        self._amqp: Subscription | None = None  # push.complete from the broker, when the sandbox runs one

    def start(self) -> dict[str, Any]:
        """Open (seeding on first start) the state, serve, subscribe. Not re-entrant: start once."""
        directory = self.ctx.service_dir(self.name)
        world = self.ctx.world
        store = self._store = DocStore(directory / "bodhi.sqlite", KEYS, label="Bodhi")
        store.open(world.digest, lambda: seed(world))
        users = sorted({*world.users, self.user})
        provider = self.provider = Provider(users, self.user)
        self.oidc_http = HTTPService(provider.app()).start()
        issuer = provider.serve_at(self.oidc_http.url)
        koji = BodhiKoji(self.ctx.endpoints["koji"]["hub"])
        bugs = BugTracker(self.ctx.endpoints["bugzilla"]["url"], BUGZILLA_API_KEY)
        state = self.state = BodhiState(store, self.ctx.publish, "", koji, bugs)
        auth = Auth(issuer, SERVER_CLIENT_ID, provider.server_secret)
        self.http = HTTPService(build_app(BodhiApi(state, auth)), self.port)
        state.base_url = f"{self.http.url}/"
        self.http.start()
        storage = provider.write_client_storage(directory / STORAGE_FILE)
        bus = self.ctx.endpoints.get("bus")
        if bus:
            topic = f"{bus['topic_prefix']}.{bus['environment']}.{MODNAME_TOPIC}"
            self.consumer = PushCompleteConsumer(bus["relay_outbound"], topic, bus.get("datagrepper"), self.finish)
            self.consumer.start()
            if self.ctx.amqp is not None:  # finishing is idempotent by message id: one message on both buses is one
                self._amqp = Subscription(self.ctx.amqp, AMQP_QUEUE, [topic], self._from_amqp)
        log.info("Bodhi serving on %s (OpenID Connect provider %s)", state.base_url, issuer)
        return {
            "url": state.base_url,
            "id_provider": issuer,
            "client_id": CLIENT_ID,
            "oidc_storage": str(storage),
            "user": self.user,
        }

    # ---- the in-process Python API (from outside the daemon: relengotron_sandbox.bodhi.api.SandboxBodhi)

    def _started(self) -> BodhiState:
        if self.state is None:
            raise RuntimeError("the sandbox Bodhi is not started")
        return self.state

    def create_update(self, builds: Iterable[str], *, user: str, **fields: Any) -> dict[str, Any]:
        """A new update (``type``, ``severity``, ``notes``, ``bugs``, ``request``... as ``POST /updates/``).
        Not idempotent. See :func:`relengotron_sandbox.bodhi.updates.create_update`."""
        return create_update(self._started(), builds, user=user, **fields)

    def request(self, alias: str, request: str, agent: str) -> dict[str, Any]:
        """Set an update's request (testing, stable, revoke), tagging in Koji. Idempotent."""
        return set_request(self._started(), alias, request, agent)

    def comment(self, alias: str, text: str, author: str, karma: int = 0) -> dict[str, Any]:
        """Comment on an update. Not idempotent."""
        return add_comment(self._started(), alias, text, author, karma)

    def update(self, alias: str) -> dict[str, Any]:
        """An update as ``GET /updates/<alias>`` renders it."""
        state = self._started()
        return state.update_json(state.update(alias), web=True)

    def push(self, *, agent: str, **options: Any) -> PushResult:
        """``bodhi-push --yes`` (``releases``, ``requests``, ``builds``, ``updates``, ``bodhi2``). Not idempotent."""
        return push(self._started(), agent=agent, **options)

    def _from_amqp(self, message: Any) -> None:
        assert self.consumer is not None
        self.consumer.handle({"topic": message.topic, "msg": message.body, "msg_id": message.id})

    def ready(self) -> None:
        """Wait until Bodhi consumes from the broker too (when the sandbox runs one); its error if it could not."""
        if self._amqp is not None:
            self._amqp.ready()

    def finish(self, body: Any, msg_id: str | None = None) -> FinishResult:
        """Finish the push a ``relengotron.push.complete`` body reports on (what the consumer calls). Idempotent."""
        return finish_push(self._started(), body, msg_id)

    def stop(self) -> None:
        """Stop consuming and serving, log out of Koji, close the state. Idempotent."""
        if self._amqp is not None:
            self._amqp.close()
            self._amqp = None
        if self.consumer is not None:
            self.consumer.stop()
            self.consumer = None
        for http in (self.http, self.oidc_http):
            if http is not None:
                http.stop()
        self.http = self.oidc_http = None
        if self.state is not None:
            self.state.close()
            self.state = None
        if self._store is not None:
            self._store.close()
            self._store = None
