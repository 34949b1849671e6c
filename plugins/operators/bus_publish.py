"""BusPublishOperator: publish one of releng-o-tron's messages on the bus (fedmsg or AMQP: the connection says).

(Never name a file here after a library, e.g. ``fedmsg.py``: Airflow's plugin loader imports every file under
``plugins/`` under its bare file name, and it would replace the real library in ``sys.modules``.)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException, AirflowSkipException

if TYPE_CHECKING:
    from relengotron.airflow.hooks import BusHook


class BusPublishOperator(BaseOperator):
    """Publish ``body`` (a JSON-able mapping) on ``topic``; it goes out as ``<prefix>.<modname>.<topic>`` (e.g.
    ``org.fedoraproject.prod.relengotron.rawhide.gating.promoted``) on the bus of the connection ``bus_conn_id``
    (:class:`relengotron.airflow.hooks.BusHook`: fedmsg or AMQP), as its ``relengotron-messages`` schema class.

    ``body`` None or empty → the task is skipped: there is nothing to announce. Returns ``{"modname", "topic"}``.

    Idempotency: a bus has no "already published" to ask, so delivery is *at least once*: this task publishes
    only when it runs, and a DAG keeps it apart from the work it announces (rerunning that work publishes
    nothing); rerunning this task itself publishes the message again. Bodies should carry what identifies the
    event (the DAG run id) so that consumers can drop a duplicate. A bad topic, a body its schema refuses, a
    message the broker refuses or a bad bus configuration fails at once; a bus that cannot be reached, or a
    broker that does not confirm in time, is an error worth the task's retries.
    """

    template_fields: Sequence[str] = ("topic", "body", "modname")
    ui_color = "#f0e6f6"

    def __init__(
        self,
        *,
        topic: str,
        body: Mapping[str, Any] | None,
        modname: str = "relengotron",
        bus_conn_id: str = "bus_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.topic = topic
        self.body = body
        self.modname = modname
        self.bus_conn_id = bus_conn_id

    @cached_property
    def hook(self) -> BusHook:
        from relengotron.airflow.hooks import BusHook

        return BusHook(self.bus_conn_id)

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
        from relengotron.messaging import BusConfigError, PublishError

        if self.body is None or (isinstance(self.body, Mapping) and not self.body):
            raise AirflowSkipException(f"nothing to publish on {self.topic}")
        body = self._checked()
        try:
            publisher = self.hook.publisher
        except (BusConfigError, ValueError, AirflowNotFoundException) as exc:
            raise AirflowFailException(f"bus connection {self.bus_conn_id!r}: {exc}") from exc
        try:
            publisher.publish(self.modname, self.topic, body)
        except (PublishError, BusConfigError) as exc:
            raise AirflowFailException(str(exc)) from exc
        finally:
            publisher.close()
        self.log.info("published %s.%s", self.modname, self.topic)
        return {"modname": self.modname, "topic": self.topic}
