"""The sandbox Taskotron runner: checks triggered by bus messages, results posted to ResultsDB.

It subscribes to the sandbox bus with fedmsg (``FedMsgContext.tail_messages`` on the relay's outbound
endpoint, from the bus's generated fedmsg config) and, when the sandbox runs a broker, consumes the pipeline's
announcements (``relengotron.artifact.composed``, which the pipeline publishes on one bus: fedmsg or AMQP) from
a queue of its own there; it queues each message, and a worker thread runs the checks — the subscription never
waits for a check. Results go to ResultsDB through the ``resultsdb_api`` client.

Triggers and checks:

``*.buildsys.tag`` — Koji's fedmsg body ``{"tag", "name", "version", "release", "build_id", "owner", ...}``.
    When ``tag`` is a gate tag of a release — role ``pending`` (rawhide-pending), ``signing_pending``,
    ``candidate`` or ``testing`` (see :data:`DEPCHECK_ROLES`): the places a build waits before it joins the
    release — run **dist.depcheck**: can the build's RPMs be installed from the release's build tag (latest
    builds, with inheritance), the build replacing its package's older build? Tagging into the build tag,
    ``updates`` or the quarantine triggers nothing (the build is already in, or already rejected).
    Result: testcase ``dist.depcheck``, item = NVR, type ``koji_build``, arch ``noarch``, outcome
    PASSED/FAILED, note = the unresolved dependencies.

``*.relengotron.artifact.composed`` — the pipeline announces a composed artifact (docs/artifact-kinds.md
    lists the body's fields). The candidate is fetched by URL, as a test system does, into scratch space:

    - ``ostree``: the commit is pulled from ``ostree.url`` into a scratch repository (every object verified
      against the announced checksum): **compose.ostree.fsck** (``ostree fsck`` of it) and
      **compose.ostree.content** (its rpmdb's builds are its manifest's; its ``rpmostree.rpmdb.pkglist`` is its
      rpmdb's packages);
    - image kinds: the image is downloaded from ``image.url``: **compose.image.checksum** (its sha256) and
      **compose.image.content** (it opens as its format with stock tools, and its rpmdb's builds are those of
      the manifest JSON at ``image.manifest_url``).

    The ``*.content`` test cases are this project's proposal (:mod:`.content`). Result: item = body["item"],
    type ``compose-artifact``, arch and release from the body.

Stand-ins (the world file's ``scenario.stand_ins``: item, testcase, outcome, reason): outcomes of tests the
sandbox does not run — openQA installs, cloud boot tests — posted when their artifact is announced, each note
saying it was forced by the world's scenario and why. A real check's outcome is never forced: a world whose
stand-in names one of :data:`CHECKS` is refused when the runner is made.

Errors: a check that cannot run (Koji or an image server unreachable, a tool missing, an announcement without
what the check needs) is NOT a test failure. It is logged, kept in :attr:`TaskotronRunner.errors`, and
nothing is posted — ResultsDB has no outcome for "the test system broke", and consumers waiting for a result
see none rather than a false FAILED.
"""

from __future__ import annotations

import copy
import logging
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fedmsg.core
import requests
import zmq
from resultsdb_api import ResultsDBapi, ResultsDBapiException

from relengotron.artifacts.images import CONTENT_TEST
from relengotron.messaging import load_fedmsg_config
from relengotron_sandbox.amqp import Subscription
from relengotron_sandbox.service import SandboxContext
from relengotron_sandbox.taskotron.content import image_content, ostree_content
from relengotron_sandbox.taskotron.integrity import fetch_image, image_checksum, ostree_fsck, pull_commit
from relengotron_sandbox.taskotron.kojirepo import HeaderReader, KojiRepo
from relengotron_sandbox.taskotron.outcome import CheckError, CheckOutcome

log = logging.getLogger(__name__)

DEPCHECK = "dist.depcheck"
OSTREE_FSCK = "compose.ostree.fsck"
IMAGE_CHECKSUM = "compose.image.checksum"
# This project's proposal (no Fedora test case compared an artifact's packages with its manifest): see .content
OSTREE_CONTENT = "compose.ostree.content"
IMAGE_CONTENT = CONTENT_TEST
CHECKS = (DEPCHECK, OSTREE_FSCK, OSTREE_CONTENT, IMAGE_CHECKSUM, IMAGE_CONTENT)
DEPCHECK_ROLES = ("pending", "signing_pending", "candidate", "testing_pending", "testing")
KOJI_BUILD = "koji_build"
COMPOSE_ARTIFACT = "compose-artifact"
TAG_TOPIC = "buildsys.tag"
ARTIFACT_TOPIC = "relengotron.artifact.composed"
AMQP_QUEUE = "relengotron-sandbox-taskotron"  # this project's name: the runner's queue on the sandbox's broker
SUBSCRIBE_SETTLE = 0.3  # seconds for the SUB socket to reach the relay before start() returns (slow joiner)


class TaskotronRunner:
    """Runs checks for bus messages. ``handle(topic, body)`` is the whole logic, synchronous and testable;
    ``start()`` adds the fedmsg subscription and the worker thread around it."""

    name = "taskotron"

    def __init__(self, ctx: SandboxContext) -> None:
        forced_checks = [s for s in ctx.world.stand_ins if s.testcase in CHECKS]
        if forced_checks:
            real = forced_checks[0]
            raise ValueError(
                f"{ctx.world.path}: scenario.stand_ins forces {real.testcase} for {real.item}, a check the sandbox "
                "runs: a real check's outcome is never forced"
            )
        self.ctx = ctx
        self.errors: list[str] = []  # checks that could not run, newest last
        self.posted: list[dict[str, Any]] = []  # every result this runner posted, as ResultsDB returned it
        self._queue: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._fedmsg: fedmsg.core.FedMsgContext | None = None
        self._amqp: Subscription | None = None
        self._koji: KojiRepo | None = None
        self._reader = HeaderReader(ctx.service_dir(self.name) / "headers")

    # ------------------------------------------------------------ service

    def start(self) -> dict[str, Any]:
        """Subscribe to the bus and start the worker; needs the bus (its fedmsg config) started first."""
        bus = self.ctx.endpoints.get("bus")
        if not bus or not bus.get("fedmsg_config"):
            raise RuntimeError("taskotron needs the bus: start the bus service first")
        cfg = copy.deepcopy(load_fedmsg_config(bus["fedmsg_config"]))
        # a pure consumer: no publishing socket of its own (mute), connect to the relay's outbound endpoint
        cfg.update(active=False, mute=True, name="taskotron-runner")
        self._fedmsg = fedmsg.core.FedMsgContext(**cfg)
        self._threads = [
            threading.Thread(target=self._work, name="taskotron-worker", daemon=True),
            threading.Thread(target=self._subscribe, name="taskotron-subscriber", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        if self.ctx.amqp is not None and bus.get("amqp_topic_prefix"):
            key = f"{bus['amqp_topic_prefix']}.{ARTIFACT_TOPIC}"
            self._amqp = Subscription(self.ctx.amqp, AMQP_QUEUE, [key], lambda m: self.submit(m.topic, m.body))
        time.sleep(SUBSCRIBE_SETTLE)
        return {"checks": list(CHECKS)}

    def ready(self) -> None:
        """Wait until the runner consumes from the broker too (when the sandbox runs one)."""
        if self._amqp is not None:
            self._amqp.ready()

    def stop(self) -> None:
        """Stop subscribing and working; a check already running finishes first (up to the join timeout)."""
        self._stop.set()
        self._close_subscription()
        if self._amqp is not None:
            self._amqp.close()
            self._amqp = None
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []

    def _close_subscription(self) -> None:
        with self._lock:
            context, self._fedmsg = self._fedmsg, None
        if context is not None:
            context.destroy()  # terminates the zmq context: the blocked poll in tail_messages ends

    def _subscribe(self) -> None:
        context = self._fedmsg
        if context is None:
            return
        try:
            for _name, _endpoint, topic, envelope in context.tail_messages():
                body = envelope.get("msg") if isinstance(envelope, dict) else None
                self.submit(topic, body if isinstance(body, dict) else {})
        except zmq.ContextTerminated:
            pass
        except Exception:
            if not self._stop.is_set():
                log.exception("taskotron: the bus subscription failed")

    def submit(self, topic: str, body: dict[str, Any]) -> None:
        """Queue a message for the worker (never blocks)."""
        if topic.endswith((TAG_TOPIC, ARTIFACT_TOPIC)):
            self._queue.put((topic, body))

    def _work(self) -> None:
        while not self._stop.is_set():
            if self.ctx.stopping.is_set():
                self._stop.set()
                self._close_subscription()
                return
            try:
                topic, body = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self.handle(topic, body)
            except Exception:
                log.exception("taskotron: handling %s failed", topic)
            finally:
                self._queue.task_done()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every queued message has been handled; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    # ------------------------------------------------------------ logic

    def handle(self, topic: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Run what ``topic``/``body`` calls for; return the results posted (ResultsDB's JSON).

        Not idempotent: a message handled twice posts its results twice, as Taskotron would rerun a check.
        """
        try:
            if topic.endswith(TAG_TOPIC):
                return self._on_tag(body)
            if topic.endswith(ARTIFACT_TOPIC):
                return self._on_artifact(body)
        except CheckError as exc:
            self._error(f"{topic}: {exc}")
        return []

    def _error(self, message: str) -> None:
        log.error("taskotron: check could not run: %s", message)
        with self._lock:
            self.errors.append(message)

    def _on_tag(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        tag = body.get("tag")
        release = self.ctx.world.tag_release().get(tag) if isinstance(tag, str) else None
        if release is None:
            return []
        role = next(r for r, name in release.tags.items() if name == tag)
        if role not in DEPCHECK_ROLES:
            return []
        try:
            nvr = f"{body['name']}-{body['version']}-{body['release']}"
        except KeyError as exc:
            raise CheckError(f"buildsys.tag message without {exc.args[0]!r}") from None
        target = release.tags["build"]
        return [self._post(DEPCHECK, self._depcheck(nvr, target), item=nvr, type=KOJI_BUILD, arch="noarch")]

    def _depcheck(self, nvr: str, target: str) -> CheckOutcome:
        verdict = self._koji_repo().depcheck(nvr, target)
        return CheckOutcome(verdict.outcome, verdict.note())

    def _koji_repo(self) -> KojiRepo:
        if self._koji is None:
            koji_ep = self.ctx.endpoints.get("koji")
            if not koji_ep:
                raise CheckError("the Koji hub is not started")
            self._koji = KojiRepo(koji_ep["hub"], koji_ep["topurl"], self._reader)
        return self._koji

    def _on_artifact(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        item, kind = body.get("item"), body.get("kind")
        if not isinstance(item, str) or not item or not isinstance(kind, str):
            raise CheckError(f"artifact announcement without item/kind: {body!r}")
        data: dict[str, Any] = {"item": item, "type": COMPOSE_ARTIFACT}
        for key in ("arch", "release"):
            if body.get(key):
                data[key] = str(body[key])
        posted = []
        with tempfile.TemporaryDirectory(prefix="check-", dir=self.ctx.service_dir(self.name)) as tmp:
            for testcase, check in self._checks(kind, body, Path(tmp)):
                try:
                    posted.append(self._post(testcase, check(), **data))
                except CheckError as exc:
                    self._error(f"{ARTIFACT_TOPIC} {item} {testcase}: {exc}")
        for stand_in in self.ctx.world.stand_ins:
            if stand_in.item == item:
                note = (
                    f"outcome {stand_in.outcome} forced by the world's scenario (stand-in, not run): {stand_in.reason}"
                )
                posted.append(self._post(stand_in.testcase, CheckOutcome(stand_in.outcome, note), **data))
        return posted

    def _checks(self, kind: str, body: dict[str, Any], scratch: Path) -> list[tuple[str, Callable[[], CheckOutcome]]]:
        """The checks of an announced artifact, in order; they share what was fetched (once, on first use)."""
        fetched: dict[str, Any] = {}

        if kind == "ostree":
            spec = body.get("ostree") or {}

            def pulled() -> Any:
                if "commit" not in fetched:
                    fetched["commit"] = pull_commit(spec, scratch)
                return fetched["commit"]

            return [
                (OSTREE_FSCK, lambda: ostree_fsck(pulled())),
                (OSTREE_CONTENT, lambda: ostree_content(pulled(), body, scratch)),
            ]
        spec = body.get("image") or {}

        def image() -> Any:
            if "image" not in fetched:
                fetched["image"] = fetch_image(spec, scratch)
            return fetched["image"]

        key = getattr(self.ctx.built, "public_key", None)
        return [
            (IMAGE_CHECKSUM, lambda: image_checksum(image(), spec)),
            (IMAGE_CONTENT, lambda: image_content(image(), body, scratch, gpg_key=Path(key) if key else None)),
        ]

    def _post(self, testcase: str, result: CheckOutcome, **data: Any) -> dict[str, Any]:
        endpoint = self.ctx.endpoints.get("resultsdb")
        if not endpoint:
            raise CheckError("ResultsDB is not started")
        api = ResultsDBapi(endpoint["url"], max_retries=2, backoff_factor=0.2)
        try:
            posted = api.create_result(outcome=result.outcome, testcase=testcase, note=result.note, **data)
        except (ResultsDBapiException, requests.RequestException) as exc:
            raise CheckError(f"ResultsDB refused the {testcase} result for {data.get('item')}: {exc}") from None
        log.info("taskotron: %s %s for %s", testcase, result.outcome, data.get("item"))
        with self._lock:
            self.posted.append(posted)
        return posted
