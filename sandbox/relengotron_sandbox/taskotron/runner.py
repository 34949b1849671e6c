"""The sandbox Taskotron runner: checks triggered by bus messages, results posted to ResultsDB.

It subscribes to the sandbox bus with fedmsg (``FedMsgContext.tail_messages`` on the relay's outbound
endpoint, from the bus's generated fedmsg config), queues each message, and a worker thread runs the checks —
the subscription never waits for a check. Results go to ResultsDB through the ``resultsdb_api`` client.

Triggers and checks:

``*.buildsys.tag`` — Koji's fedmsg body ``{"tag", "name", "version", "release", "build_id", "owner", ...}``.
    When ``tag`` is a gate tag of a release — role ``pending`` (rawhide-pending), ``signing_pending``,
    ``candidate`` or ``testing`` (see :data:`DEPCHECK_ROLES`): the places a build waits before it joins the
    release — run **dist.depcheck**: can the build's RPMs be installed from the release's build tag (latest
    builds, with inheritance), the build replacing its package's older build? Tagging into the build tag,
    ``updates`` or the quarantine triggers nothing (the build is already in, or already rejected).
    Result: testcase ``dist.depcheck``, item = NVR, type ``koji_build``, arch ``noarch``, outcome
    PASSED/FAILED, note = the unresolved dependencies.

``*.relengotron.artifact.composed`` — the pipeline announces a composed artifact. Body::

        {"item": "atomic-host-24-x86_64",          # the artifact id: <name>-<release version>-<arch>
         "kind": "ostree",                         # or installer-iso | pxe2live | ami | gce
         "release": "f24", "arch": "x86_64",
         "ostree": {"repo": "/path/to/repo", "ref": "fedora/24/x86_64/atomic-host", "commit": "<sha256>"},
         "image": {"url": "http://... | file:///... | /path", "sha256": "<hex>"}}   # image kinds

    ``ostree`` artifacts get ``compose.ostree.fsck`` (``ostree fsck`` of the repo holding the commit, or the
    commit ``ref`` points to when no commit is given); image artifacts get ``compose.image.checksum``
    (download, sha256 compare). Result: item = body["item"], type ``compose-artifact``, arch and release from
    the body.

Forced outcomes (the world file's ``forced_results``: item, testcase, outcome): when a check would run for a
forced item and testcase, the forced outcome is posted instead (the note says so); and when an artifact is
announced, the forced results of its item's *other* testcases are posted too — standing in for the tests
(openQA, cloud boot tests) the sandbox does not run.

Errors: a check that cannot run (Koji or an image server unreachable, a tool missing, an announcement without
what the check needs) is NOT a test failure. It is logged, kept in :attr:`TaskotronRunner.errors`, and
nothing is posted — ResultsDB has no outcome for "the test system broke", and consumers waiting for a result
see none rather than a false FAILED.
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import fedmsg.core
import requests
import zmq
from resultsdb_api import ResultsDBapi, ResultsDBapiException

from relengotron.messaging import load_fedmsg_config
from relengotron_sandbox.service import SandboxContext
from relengotron_sandbox.taskotron.integrity import image_checksum, ostree_fsck
from relengotron_sandbox.taskotron.kojirepo import HeaderReader, KojiRepo
from relengotron_sandbox.taskotron.outcome import CheckError, CheckOutcome

log = logging.getLogger(__name__)

DEPCHECK = "dist.depcheck"
OSTREE_FSCK = "compose.ostree.fsck"
IMAGE_CHECKSUM = "compose.image.checksum"
CHECKS = (DEPCHECK, OSTREE_FSCK, IMAGE_CHECKSUM)
DEPCHECK_ROLES = ("pending", "signing_pending", "candidate", "testing_pending", "testing")
KOJI_BUILD = "koji_build"
COMPOSE_ARTIFACT = "compose-artifact"
TAG_TOPIC = "buildsys.tag"
ARTIFACT_TOPIC = "relengotron.artifact.composed"
SUBSCRIBE_SETTLE = 0.3  # seconds for the SUB socket to reach the relay before start() returns (slow joiner)


class TaskotronRunner:
    """Runs checks for bus messages. ``handle(topic, body)`` is the whole logic, synchronous and testable;
    ``start()`` adds the fedmsg subscription and the worker thread around it."""

    name = "taskotron"

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.errors: list[str] = []  # checks that could not run, newest last
        self.posted: list[dict[str, Any]] = []  # every result this runner posted, as ResultsDB returned it
        self._queue: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._fedmsg: fedmsg.core.FedMsgContext | None = None
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
        time.sleep(SUBSCRIBE_SETTLE)
        return {"checks": list(CHECKS)}

    def stop(self) -> None:
        """Stop subscribing and working; a check already running finishes first (up to the join timeout)."""
        self._stop.set()
        self._close_subscription()
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

    def _forced(self, item: str, testcase: str) -> str | None:
        for forced in self.ctx.world.forced_results:
            if forced.item == item and forced.testcase == testcase:
                return forced.outcome
        return None

    def _run(self, item: str, testcase: str, check: Callable[[], CheckOutcome]) -> CheckOutcome:
        outcome = self._forced(item, testcase)
        if outcome is not None:
            return CheckOutcome(outcome, f"outcome {outcome} forced by the sandbox world file (check not run)")
        return check()

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
        result = self._run(nvr, DEPCHECK, lambda: self._depcheck(nvr, target))
        return [self._post(DEPCHECK, result, item=nvr, type=KOJI_BUILD, arch="noarch")]

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
        if kind == "ostree":
            testcase, check = OSTREE_FSCK, lambda: ostree_fsck(body.get("ostree") or {})
        else:
            testcase, check = IMAGE_CHECKSUM, lambda: image_checksum(body.get("image") or {})
        posted = []
        try:
            posted.append(self._post(testcase, self._run(item, testcase, check), **data))
        except CheckError as exc:
            self._error(f"{ARTIFACT_TOPIC} {item}: {exc}")
        for forced in self.ctx.world.forced_results:
            if forced.item == item and forced.testcase != testcase:
                note = f"outcome {forced.outcome} forced by the sandbox world file (stands in for a test not run)"
                posted.append(self._post(forced.testcase, CheckOutcome(forced.outcome, note), **data))
        return posted

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
