"""The sandbox Bodhi's Koji: the real koji client, logged in to the sandbox hub as ``bodhi``.

Bodhi tags an update's builds with one multicall of ``tagBuild(tag, nvr, force=True)`` (``Update.add_tag``)
and untags them with ``untagBuild(tag, nvr, force=True)`` (``Update.remove_tag``); the hub then publishes its
``buildsys.tag``/``buildsys.untag`` messages. Bodhi does not wait for the tag tasks; the sandbox does (the tasks
take milliseconds), so that whoever asked for the request sees Koji in its new state when the call returns.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import koji

log = logging.getLogger(__name__)

KOJI_USER = "bodhi"  # the hub's user with the tag permission (relengotron_sandbox.koji.seed.USER_PERMS)
KOJI_PASSWORD = "sandbox"  # the sandbox hub takes any non-empty password
TASK_TIMEOUT = 30.0
DONE = {koji.TASK_STATES[s] for s in ("CLOSED", "FAILED", "CANCELED")}


class KojiError(RuntimeError):
    """A Koji call the sandbox Bodhi depends on failed."""


class BodhiKoji:
    """Bodhi's Koji calls on one logged-in session. Thread-safe (one call at a time)."""

    def __init__(self, hub_url: str, user: str = KOJI_USER, password: str = KOJI_PASSWORD) -> None:
        self.hub_url = hub_url
        self.user = user
        self.password = password
        self._session: koji.ClientSession | None = None
        self._lock = threading.RLock()

    def _logged_in(self) -> koji.ClientSession:
        if self._session is None:
            session = koji.ClientSession(self.hub_url, opts={"user": self.user, "password": self.password})
            session.login()
            self._session = session
        return self._session

    def build(self, nvr: str) -> dict[str, Any] | None:
        """Koji's getBuild (None when Koji has no such build). Read-only."""
        with self._lock:
            return self._logged_in().getBuild(nvr)

    def tags_of(self, nvr: str) -> list[str]:
        """The names of the tags ``nvr`` is in (``Build.get_tags``). Read-only."""
        with self._lock:
            return [t["name"] for t in self._logged_in().listTags(build=nvr)]

    def add_tag(self, tag: str, nvrs: list[str]) -> None:
        """Tag every build into ``tag`` (forced: a build already there is tagged again, as Bodhi does)."""
        if not nvrs:
            return
        with self._lock:
            session = self._logged_in()
            with session.multicall(strict=True) as call:
                pending = [call.tagBuild(tag, nvr, force=True) for nvr in nvrs]
            self._wait([p.result for p in pending])

    def remove_tag(self, tag: str, nvrs: list[str]) -> None:
        """Untag every build from ``tag``; a build not in it is left alone (Bodhi ignores those faults)."""
        if not nvrs:
            return
        with self._lock:
            session = self._logged_in()
            with session.multicall(strict=False) as call:
                pending = [call.untagBuild(tag, nvr, force=True) for nvr in nvrs]
            for nvr, result in zip(nvrs, pending, strict=True):
                try:
                    result.result  # noqa: B018 (raises the call's fault, if any)
                except koji.GenericError as exc:
                    log.info("untagging %s from %s: %s", nvr, tag, exc)

    def _wait(self, task_ids: list[int]) -> None:
        session = self._logged_in()
        deadline = time.monotonic() + TASK_TIMEOUT
        waiting = set(task_ids)
        while waiting:
            for task_id in sorted(waiting):
                info = session.getTaskInfo(task_id)
                if info["state"] in DONE:
                    waiting.discard(task_id)
                    if info["state"] != koji.TASK_STATES["CLOSED"]:
                        raise KojiError(f"Koji task {task_id} ({info['method']}) did not succeed")
            if waiting:
                if time.monotonic() > deadline:
                    raise KojiError(f"Koji tasks {sorted(waiting)} still running after {TASK_TIMEOUT:.0f} s")
                time.sleep(0.02)

    def close(self) -> None:
        """Log out (an in-process hub must not be left with a session). Idempotent."""
        with self._lock:
            if self._session is not None:
                try:
                    self._session.logout()
                except Exception:  # the hub may be gone already
                    log.debug("koji logout failed", exc_info=True)
                self._session = None
