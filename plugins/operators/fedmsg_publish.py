"""FedmsgPublishOperator: publish one message on the fedmsg bus through relengotron's publisher.

(Named ``fedmsg_publish`` and not ``fedmsg``: Airflow's plugin loader imports every file under ``plugins/``
under its bare file name, and a ``fedmsg.py`` would replace the real ``fedmsg`` library in ``sys.modules``.)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException, AirflowSkipException

if TYPE_CHECKING:
    from relengotron.airflow.hooks import FedmsgHook


class FedmsgPublishOperator(BaseOperator):
    """Publish ``body`` (a JSON-able mapping) on ``topic``; it goes out as
    ``<topic_prefix>.<environment>.<modname>.<topic>``
    (e.g. ``org.fedoraproject.prod.relengotron.rawhide.gating.promoted``).

    ``body`` None or empty → the task is skipped: there is nothing to announce. Returns ``{"modname", "topic"}``.

    Idempotency: a bus has no "already published" to ask, so delivery is *at least once*: this task publishes
    only when it runs, and a DAG keeps it apart from the work it announces (rerunning that work publishes
    nothing); rerunning this task itself publishes the message again. Bodies should carry what identifies the
    event (the DAG run id) so that consumers can drop a duplicate. A bad topic or body, or a bad fedmsg
    configuration, fails at once; a bus that cannot be reached is retried.
    """

    template_fields: Sequence[str] = ("topic", "body", "modname")
    ui_color = "#f0e6f6"

    def __init__(
        self,
        *,
        topic: str,
        body: Mapping[str, Any] | None,
        modname: str = "relengotron",
        fedmsg_conn_id: str = "fedmsg_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.topic = topic
        self.body = body
        self.modname = modname
        self.fedmsg_conn_id = fedmsg_conn_id

    @cached_property
    def hook(self) -> FedmsgHook:
        from relengotron.airflow.hooks import FedmsgHook

        return FedmsgHook(self.fedmsg_conn_id)

    def _checked(self) -> dict[str, Any]:
        for name in ("modname", "topic"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
                raise AirflowFailException(f"{name}: {value!r} is not a topic part (non-empty, no spaces)")
        if not isinstance(self.body, Mapping):
            raise AirflowFailException(f"body: expected a mapping, not {type(self.body).__name__}: {self.body!r}")
        try:
            return json.loads(json.dumps(dict(self.body)))
        except (TypeError, ValueError) as exc:
            raise AirflowFailException(f"body: not JSON-able: {exc}") from exc

    def execute(self, context: Any) -> dict[str, str]:
        from relengotron.messaging import BusConfigError

        if self.body is None or (isinstance(self.body, Mapping) and not self.body):
            raise AirflowSkipException(f"nothing to publish on {self.topic}")
        body = self._checked()
        try:
            publisher = self.hook.publisher
        except (BusConfigError, ValueError, AirflowNotFoundException) as exc:
            raise AirflowFailException(f"fedmsg connection {self.fedmsg_conn_id!r}: {exc}") from exc
        try:
            publisher.publish(self.modname, self.topic, body)
        finally:
            publisher.close()
        self.log.info("published %s.%s", self.modname, self.topic)
        return {"modname": self.modname, "topic": self.topic}
