"""Airflow hooks: Connections in, the library's adapters out, built lazily.

Endpoints and secrets are Airflow Connections, so one deployment points at Fedora's services and another at
other endpoints with no code change. A hook only stores its connection id when constructed; the
connection is read and the client built on first use (parsing a DAG file touches neither). Each connection's
host/login/password/port and its extra JSON are merged into one mapping and handed to the adapter's
``from_mapping``, which names any field it does not know.

Default connection ids: ``koji_default``, ``bodhi_default``, ``pdc_default``, ``resultsdb_default``,
``bugzilla_default``, ``bus_default``, ``signing_default``; the release configuration's path is the Airflow Variable
``relengotron_config``.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from relengotron.adapters.bodhi import Bodhi
    from relengotron.adapters.bugzilla import Bugzilla
    from relengotron.adapters.pdc import PDC
    from relengotron.adapters.resultsdb import ResultsDB
    from relengotron.config import ReleaseConfig
    from relengotron.kojiclient import KojiClient
    from relengotron.messaging import Publisher
    from relengotron.signing.base import Signer

CONFIG_VARIABLE = "relengotron_config"


def connection_fields(conn: Any) -> dict[str, Any]:
    """An Airflow Connection's host, login, password and port merged with its extra (extra wins). Pure."""
    fields: dict[str, Any] = {
        "host": conn.host or None,
        "login": conn.login or None,
        "password": conn.password or None,
    }
    if getattr(conn, "port", None):
        fields["port"] = conn.port
    fields.update(conn.extra_dejson or {})
    return {k: v for k, v in fields.items() if v is not None}


class RelengHook(BaseHook):
    """Base: stores ``conn_id``; :meth:`fields` reads the connection once, on first use."""

    conn_name_attr = "conn_id"
    default_conn_name = ""
    conn_type = "generic"

    def __init__(self, conn_id: str | None = None) -> None:
        super().__init__()
        self.conn_id = conn_id or self.default_conn_name

    @cached_property
    def fields(self) -> dict[str, Any]:
        return connection_fields(self.get_connection(self.conn_id))

    @classmethod
    async def afields(cls, conn_id: str) -> dict[str, Any]:
        """The same mapping, read without blocking the triggerer's event loop."""
        return connection_fields(await cls.aget_connection(conn_id))


class KojiHook(RelengHook):
    default_conn_name = "koji_default"
    hook_name = "Koji"

    def get_conn(self) -> KojiClient:
        return self.client

    @cached_property
    def client(self) -> KojiClient:
        from relengotron.kojiclient import KojiConnection, connect

        return connect(KojiConnection.from_mapping(self.fields))


class BodhiHook(RelengHook):
    """Bodhi, read anonymously (host: Bodhi's root URL)."""

    default_conn_name = "bodhi_default"
    hook_name = "Bodhi"

    def get_conn(self) -> Bodhi:
        return self.client

    @cached_property
    def client(self) -> Bodhi:
        from relengotron.adapters.bodhi import Bodhi, BodhiConnection

        return Bodhi.connect(BodhiConnection.from_mapping(self.fields))


class PDCHook(RelengHook):
    default_conn_name = "pdc_default"
    hook_name = "PDC"

    def get_conn(self) -> PDC:
        return self.client

    @cached_property
    def client(self) -> PDC:
        from relengotron.adapters.pdc import PDC, PDCConnection

        return PDC.connect(PDCConnection.from_mapping(self.fields))


class ResultsDBHook(RelengHook):
    default_conn_name = "resultsdb_default"
    hook_name = "ResultsDB"

    def get_conn(self) -> ResultsDB:
        return self.client

    @cached_property
    def client(self) -> ResultsDB:
        from relengotron.adapters.resultsdb import ResultsDB, ResultsDBConnection

        return ResultsDB.connect(ResultsDBConnection.from_mapping(self.fields))


class BugzillaHook(RelengHook):
    default_conn_name = "bugzilla_default"
    hook_name = "Bugzilla"

    def get_conn(self) -> Bugzilla:
        return self.client

    @cached_property
    def client(self) -> Bugzilla:
        from relengotron.adapters.bugzilla import Bugzilla, BugzillaConnection

        return Bugzilla(BugzillaConnection.from_mapping(self.fields))


class BusHook(RelengHook):
    """The message bus releng-o-tron publishes on. Extra: ``{"transport": "fedmsg", "config": "/etc/fedmsg.d/x.py"}``
    (fedmsg's own configuration file; the default transport) or ``{"transport": "amqp", "config":
    "/etc/fedora-messaging/relengotron.toml"}`` (fedora-messaging's: the broker's URL, TLS client certificate,
    ``topic_prefix``), with ``timeout``: the seconds a publish waits for the broker's confirm (default 30).
    Either way every message is checked against its ``relengotron-messages`` schema first."""

    default_conn_name = "bus_default"
    hook_name = "Message bus"
    transports = ("fedmsg", "amqp")

    def get_conn(self) -> Publisher:
        return self.publisher

    @cached_property
    def publisher(self) -> Publisher:
        from relengotron.messaging import FedmsgPublisher, SchemaCheckedPublisher, load_fedmsg_config

        fields = dict(self.fields)
        unknown = sorted(set(fields) - {"transport", "config", "timeout"})
        if unknown:
            raise ValueError(f"connection {self.conn_id!r}: unknown field(s) {', '.join(unknown)}")
        transport, path = fields.get("transport", "fedmsg"), fields.get("config")
        if transport not in self.transports:
            known = ", ".join(self.transports)
            raise ValueError(f"connection {self.conn_id!r}: extra 'transport' is {transport!r}, not one of {known}")
        if not path:
            raise ValueError(f"connection {self.conn_id!r}: extra 'config' (the {transport} config file) is required")
        if transport == "amqp":
            from relengotron.amqp import AmqpPublisher

            try:
                timeout = float(fields.get("timeout", 30))
            except (TypeError, ValueError):
                timeout = -1.0
            if not timeout > 0:
                raise ValueError(f"connection {self.conn_id!r}: extra 'timeout' is not a number of seconds > 0")
            return AmqpPublisher(path, timeout=timeout)
        if "timeout" in fields:
            raise ValueError(f"connection {self.conn_id!r}: extra 'timeout' is for the amqp transport only")
        return SchemaCheckedPublisher(FedmsgPublisher(load_fedmsg_config(path)))


class SigningHook(RelengHook):
    """The signing backend: extra ``{"backend": "gpg", "gnupghome": ...}`` or the sigul fields."""

    default_conn_name = "signing_default"
    hook_name = "Signing"

    def get_conn(self) -> Any:
        return self.settings

    @cached_property
    def settings(self) -> Any:
        from relengotron.signing.settings import parse_signer_settings

        fields = dict(self.fields)
        # the connection form's login/password are sigul's SSH user and key passphrase
        if "login" in fields:
            fields.setdefault("username", fields.pop("login"))
        if "password" in fields:
            fields.setdefault("passphrase", fields.pop("password"))
        return parse_signer_settings(fields)

    def signer(self, key_id: str) -> Signer:
        """The signer for one release key; for sigul the SSH connection opens on first use."""
        from relengotron.signing.settings import signer_from_settings

        return signer_from_settings(self.settings, key_id)


_configs: dict[Path, tuple[float, ReleaseConfig]] = {}


def release_config(path: str | Path | None = None) -> ReleaseConfig:
    """The release configuration named by the ``relengotron_config`` Variable (or ``path``), reloaded when changed."""
    from airflow.sdk import Variable

    from relengotron.artifacts import load_release_config

    resolved = Path(path if path is not None else Variable.get(CONFIG_VARIABLE)).absolute()
    mtime = resolved.stat().st_mtime
    cached = _configs.get(resolved)
    if cached is None or cached[0] != mtime:
        _configs[resolved] = (mtime, load_release_config(resolved))
    return _configs[resolved][1]
