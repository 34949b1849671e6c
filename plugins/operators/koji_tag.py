"""KojiTagOperator: tag, move or untag a batch of builds, idempotently, through relengotron's Koji adapter.

(Named ``koji_tag`` and not ``koji``: Airflow's plugin loader imports every file under ``plugins/`` under its
bare file name, and a ``koji.py`` would replace the real ``koji`` library in ``sys.modules``.)
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

if TYPE_CHECKING:
    from relengotron.airflow.hooks import KojiHook
    from relengotron.kojiclient import KojiClient

ACTIONS = ("tag", "move", "untag")


class KojiTagOperator(BaseOperator):
    """Apply ``action`` to each of ``builds`` (NVRs): ``tag`` into ``tag``; ``move`` from ``from_tag`` to
    ``tag``; ``untag`` from ``tag``. Returns ``[{"nvr", "changed"}]`` in the order given.

    Idempotent, as :class:`relengotron.kojiclient.KojiClient` is: a build already in the target tag (and, for
    a move, no longer in ``from_tag``) counts as success and nothing is sent; a move interrupted half-way
    (the build in both tags) is finished by untagging it from ``from_tag``; untagging a build that is not in
    the tag does nothing. Rerun after success → every build reports ``changed: False``; rerun after a partial
    failure → the builds already done are left alone and the rest are done.

    Every build is attempted even when one fails; then the task fails naming each failed build. Only when
    every failure is transient (Koji offline, connection refused, 5xx) is the error raised for Airflow to retry
    with backoff; a permanent one (no such build or tag, a build in neither tag, permission) fails at once.
    """

    template_fields: Sequence[str] = ("action", "builds", "tag", "from_tag")
    ui_color = "#fdf0e0"

    def __init__(
        self,
        *,
        action: str,
        builds: Sequence[str],
        tag: str,
        from_tag: str | None = None,
        koji_conn_id: str = "koji_default",
        task_timeout: float = 3600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.action = action
        self.builds = builds
        self.tag = tag
        self.from_tag = from_tag
        self.koji_conn_id = koji_conn_id
        self.task_timeout = task_timeout

    @cached_property
    def hook(self) -> KojiHook:
        from relengotron.airflow.hooks import KojiHook

        return KojiHook(self.koji_conn_id)

    def _checked(self) -> list[str]:
        """The NVRs to work on, after checking the arguments (bad input fails at once, naming the field)."""
        import koji

        if self.action not in ACTIONS:
            raise AirflowFailException(f"action: must be one of {', '.join(ACTIONS)}, not {self.action!r}")
        if not isinstance(self.tag, str) or not self.tag.strip():
            raise AirflowFailException(f"tag: a Koji tag name is required, not {self.tag!r}")
        if self.action == "move":
            if not isinstance(self.from_tag, str) or not self.from_tag.strip():
                raise AirflowFailException("from_tag: a move needs the tag the builds leave")
            if self.from_tag == self.tag:
                raise AirflowFailException(f"from_tag: the builds cannot move from {self.tag} to itself")
        elif self.from_tag:
            raise AirflowFailException(f"from_tag: only a move takes from_tag (action is {self.action})")
        builds = self.builds
        if isinstance(builds, str) or not isinstance(builds, Sequence):
            raise AirflowFailException(
                f"builds: expected a list of NVRs, not {builds!r} (pass an XComArg, or render native objects)"
            )
        for nvr in builds:
            try:
                if not isinstance(nvr, str):
                    raise koji.GenericError("not a string")
                koji.parse_NVR(nvr)
            except koji.GenericError:
                raise AirflowFailException(f"builds: {nvr!r} is not a build name-version-release") from None
        return list(dict.fromkeys(builds))

    def _apply(self, client: KojiClient, nvr: str) -> bool:
        if self.action == "tag":
            return client.tag_build(self.tag, nvr, timeout=self.task_timeout)
        if self.action == "move":
            return client.move_build(str(self.from_tag), self.tag, nvr, timeout=self.task_timeout)
        return client.untag_build(self.tag, nvr)

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from relengotron.adapters.errors import is_transient
        from relengotron.kojiclient import KojiError

        builds = self._checked()
        where = f"from {self.from_tag} to {self.tag}" if self.action == "move" else f"{self.action} {self.tag}"
        if not builds:
            self.log.info("no builds to %s", where)
            return []
        done: list[dict[str, Any]] = []
        failures: list[KojiError] = []
        try:
            try:
                client = self.hook.client
            except Exception as exc:
                if is_transient(exc):
                    raise
                raise AirflowFailException(f"koji connection {self.koji_conn_id!r}: {exc}") from exc
            for nvr in builds:
                try:
                    changed = self._apply(client, nvr)
                except KojiError as exc:
                    self.log.error("%s", exc)
                    failures.append(exc)
                    continue
                self.log.info("%s %s: %s", self.action, nvr, "done" if changed else "already so, nothing sent")
                done.append({"nvr": nvr, "changed": changed})
        finally:
            if "client" in self.hook.__dict__:
                self.hook.client.close()
        if failures:
            text = "; ".join(str(f) for f in failures)
            if all(is_transient(f) for f in failures):
                raise failures[0].__class__(", ".join(f.item for f in failures), f"transient, will retry: {text}")
            raise AirflowFailException(f"{len(failures)} of {len(builds)} build(s) not done ({where}): {text}")
        return done
