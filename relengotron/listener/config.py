"""The listener's configuration file: where the bus, datagrepper, Airflow and the inbox are, and its limits.

Validated when loaded; every error names the file, the line and the key. Relative paths are relative to the
file's directory. The Airflow password is never in the file: ``password_file`` names a file holding it,
``password_env`` an environment variable (default ``RELENGOTRON_AIRFLOW_PASSWORD``); it is read only when the
listener needs to talk to Airflow, so ``status`` works without it. ``release_config`` names the release
configuration (config/fedora.yaml) whose releases and tags the rules' release helpers read. See
``config/listener.yaml``.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relengotron import yamlfile
from relengotron.listener.validate import TOPIC
from relengotron.yamlfile import Fields, FileError

if TYPE_CHECKING:
    from relengotron.listener.rules import RuleSet

TRANSPORTS = ("fedmsg", "amqp")
PUBLIC_VHOST = "/public_pubsub"  # fedora-messaging's configs/fedora.toml: amqps://fedora:@rabbitmq.fedoraproject.org/%2Fpublic_pubsub
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
ROUTING_KEY = re.compile(r"^(?:[^.\s]+)(?:\.[^.\s]+)*$")
ENDPOINT = re.compile(r"^(?:tcp://[^\s:/]+:\d{1,5}|ipc://\S+)$")
URL = re.compile(r"^https?://[^\s/]+(?:/\S*)?$")
DEFAULT_PASSWORD_ENV = "RELENGOTRON_AIRFLOW_PASSWORD"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# fedmsg's validation settings (fedmsg/config.py documents them; fedmsg.crypto.x509_ng and gpg read them).
CRYPTO_KEYS = (
    "crypto_validate_backends",
    "gpg_home",
    "ssldir",
    "ca_cert_location",
    "crl_location",
    "routing_policy",
    "routing_nitpicky",
)
# Documented by fedmsg and set in Fedora's /etc/fedmsg.d/ssl.py, but read by no code of fedmsg >= 0.19 (1.1.7
# keeps the CA and CRL in memory, reloading them when a certificate fails): refused rather than ignored.
UNUSED_CRYPTO_KEYS = ("crl_cache", "crl_cache_expiry", "ca_cert_cache", "ca_cert_cache_expiry")


@dataclass(frozen=True)
class AirflowSettings:
    url: str
    username: str
    password_file: Path | None
    password_env: str
    timeout: float
    retry_initial: float
    retry_max: float

    def password(self) -> str:
        """The password, read now; a ValueError says where it was looked for."""
        if self.password_file is not None:
            try:
                text = self.password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"airflow.password_file {self.password_file}: {exc.strerror}") from None
            if not text:
                raise ValueError(f"airflow.password_file {self.password_file} is empty")
            return text
        value = os.environ.get(self.password_env, "")
        if not value:
            raise ValueError(f"no Airflow password: set {self.password_env} or airflow.password_file")
        return value


@dataclass(frozen=True)
class AmqpSettings:
    """The AMQP transport (``bus.amqp``): where the broker is, how to authenticate, and the queue consumed.

    Settings named as fedora-messaging names them (``amqp_url``, ``[tls]`` ca_cert/certfile/keyfile,
    ``[qos]`` prefetch_count, ``[client_properties]`` app; fedora-messaging's config.toml.example). The URL
    carries no password: with ``tls.certfile``/``keyfile`` the client authenticates with its certificate
    (SASL EXTERNAL, as Fedora's broker requires); otherwise ``password_file``/``password_env`` give the URL's
    user a password."""

    url: str
    queue: str
    exchange: str
    routing_keys: tuple[str, ...]  # empty: derived from the rules' topics
    prefetch: int
    heartbeat: int
    ca_cert: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    password_file: Path | None = None
    password_env: str | None = None
    app: str = "releng-o-tron listener"

    def password(self) -> str | None:
        """The broker password, read now (None: none configured); a ValueError says where it was looked for."""
        if self.password_file is not None:
            try:
                text = self.password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"bus.amqp.password_file {self.password_file}: {exc.strerror}") from None
            if not text:
                raise ValueError(f"bus.amqp.password_file {self.password_file} is empty")
            return text
        if self.password_env is not None:
            value = os.environ.get(self.password_env, "")
            if not value:
                raise ValueError(f"no broker password: {self.password_env} is not set (bus.amqp.password_env)")
            return value
        return None

    @property
    def endpoint(self) -> str:
        """The broker as /healthz names it (no credentials)."""
        parts = urllib.parse.urlsplit(self.url)
        port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
        return f"{parts.scheme}://{parts.hostname}:{port}{parts.path or '/'}"


@dataclass(frozen=True)
class ListenerConfig:
    path: Path
    endpoints: tuple[str, ...]
    subscribe: str
    settle: float
    datagrepper_url: str | None
    rows_per_page: int
    replay_margin: float
    initial_replay: float
    max_replay: float
    airflow: AirflowSettings
    inbox_path: Path
    synchronous: str
    retention_days: float
    rules_path: Path
    http_host: str
    http_port: int
    runtime_path: Path
    max_body_bytes: int
    signatures: bool
    crypto: dict[str, Any] = field(default_factory=dict)
    log_level: str = "INFO"
    release_config: Path | None = None
    transport: str = "fedmsg"
    amqp: AmqpSettings | None = None

    def load_rules(self, rules_path: Path | None = None) -> RuleSet:
        """The rules file (``rules_path``, else the configured one) with the release configuration it reads,
        both loaded now; a :class:`FileError` names the file, line and key of any problem."""
        from relengotron.artifacts import load_release_config
        from relengotron.listener.rules import load_rules

        releases = load_release_config(self.release_config) if self.release_config is not None else None
        return load_rules(rules_path or self.rules_path, releases)


def _path(base: Path, text: str) -> Path:
    path = Path(os.path.expanduser(text))
    return path if path.is_absolute() else (base / path)


def _number(fields: Fields, key: str, default: float, low: float, high: float) -> float:
    value = fields.get(key, float, default)
    if not low <= value <= high:
        raise fields.error(key, f"must be between {low:g} and {high:g}, not {value}")
    return float(value)


def load_config(path: str | Path) -> ListenerConfig:
    """Read and validate the listener config file (:class:`FileError` on any problem)."""
    path = Path(path)
    base = path.resolve().parent
    top = Fields(path, yamlfile.load(path), "")

    bus = top.mapping("bus")
    assert bus is not None
    transport = bus.choice("transport", TRANSPORTS, "fedmsg")
    endpoints: list[str] = []
    subscribe, amqp = "", None
    if transport == "amqp":
        for key in ("endpoints", "fedmsg_config", "subscribe"):
            if key in bus.map:
                raise bus.error(key, "is a fedmsg setting: with transport amqp the broker is bus.amqp")
        block = bus.mapping("amqp")
        assert block is not None
        amqp = _amqp(block, base)
    else:
        if "amqp" in bus.map:
            raise bus.error("amqp", "is read only with transport: amqp")
        endpoints = list(bus.strings("endpoints", []))
        fedmsg_config = bus.text("fedmsg_config", None)
        if fedmsg_config is not None:
            endpoints.extend(_fedmsg_endpoints(bus, _path(base, fedmsg_config)))
        for n, endpoint in enumerate(endpoints):
            if not ENDPOINT.match(endpoint):
                raise bus.item_error(
                    "endpoints", n, f"{endpoint!r} is not a ZeroMQ endpoint (tcp://host:port or ipc://)"
                )
        if not endpoints:
            raise bus.error(None, "needs endpoints (or a fedmsg_config whose 'endpoints' list some)")
        subscribe = bus.get("subscribe", str, "")
    settle = _number(bus, "settle_seconds", 1.0, 0, 60)
    bus.done()

    grepper = top.mapping("datagrepper", None)
    datagrepper_url, rows, margin, initial, maximum = None, 100, 60.0, 0.0, 7 * 86400.0
    if grepper is not None:
        datagrepper_url = grepper.text("url")
        if not URL.match(datagrepper_url):
            raise grepper.error("url", f"{datagrepper_url!r} is not an http(s) URL")
        rows = int(_number(grepper, "rows_per_page", 100, 1, 100))
        margin = _number(grepper, "replay_margin_seconds", 60, 0, 86400)
        initial = _number(grepper, "initial_replay_seconds", 0, 0, 30 * 86400)
        maximum = _number(grepper, "max_replay_seconds", 7 * 86400, 1, 90 * 86400)
        grepper.done()

    airflow = _airflow(top, base)

    inbox = top.mapping("inbox")
    assert inbox is not None
    inbox_path = _path(base, inbox.text("path"))
    synchronous = inbox.choice("synchronous", ("NORMAL", "FULL", "EXTRA"), "FULL")
    retention = _number(inbox, "retention_days", 30, 0.001, 3650)
    runtime = inbox.text("runtime_file", None)
    inbox.done()

    rules_path = _path(base, top.text("rules"))
    release_config = top.text("release_config", None)

    http = top.mapping("http", None)
    host, port = "127.0.0.1", 9910
    if http is not None:
        host = http.text("host", host)
        port = int(http.get("port", int, port))
        if not 0 <= port <= 65535:
            raise http.error("port", f"must be a TCP port (0: any free one), not {port}")
        http.done()

    validation = top.mapping("validation", None)
    max_body, signatures, crypto = 1024 * 1024, False, {}
    if validation is not None:
        max_body = int(_number(validation, "max_body_bytes", max_body, 256, 64 * 1024 * 1024))
        signatures = validation.get("signatures", bool, False)
        crypto_block = validation.mapping("crypto", None)
        if crypto_block is not None:
            crypto = _crypto(crypto_block, base)
        if signatures and not crypto:
            raise validation.error("signatures", "signature validation needs validation.crypto (gpg_home, ...)")
        if signatures and transport == "amqp":
            # fedmsg signed each message; on AMQP the broker authenticates publishers (TLS client certificates)
            # and checks the user_id property: there is no signature to check
            raise validation.error("signatures", "fedmsg signatures do not exist on AMQP (transport: amqp)")
        validation.done()

    logging_block = top.mapping("logging", None)
    level = "INFO"
    if logging_block is not None:
        level = logging_block.choice("level", LOG_LEVELS, "INFO")
        logging_block.done()
    top.done()
    return ListenerConfig(
        path=path,
        endpoints=tuple(endpoints),
        subscribe=subscribe,
        settle=settle,
        datagrepper_url=datagrepper_url,
        rows_per_page=rows,
        replay_margin=margin,
        initial_replay=initial,
        max_replay=maximum,
        airflow=airflow,
        inbox_path=inbox_path,
        synchronous=synchronous,
        retention_days=retention,
        rules_path=rules_path,
        http_host=host,
        http_port=port,
        runtime_path=_path(base, runtime) if runtime else inbox_path.with_name(inbox_path.name + ".runtime.json"),
        max_body_bytes=max_body,
        signatures=signatures,
        crypto=crypto,
        log_level=level,
        release_config=_path(base, release_config) if release_config else None,
        transport=transport,
        amqp=amqp,
    )


def _amqp(block: Fields, base: Path) -> AmqpSettings:
    """``bus.amqp``, checked: an amqp(s) URL without a password, TLS files that exist, a queue name (a UUID on
    Fedora's public vhost), routing keys as AMQP topic patterns."""
    url = block.text("url")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise block.error("url", f"{url!r} is not a URL ({exc})") from None
    if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
        raise block.error("url", f"{url!r} is not an amqp:// or amqps:// URL")
    if parts.password:
        raise block.error("url", "passwords are not written here: use password_file or password_env")
    queue = block.text("queue")
    if not queue or len(queue.encode()) > 255:
        raise block.error("queue", "must be a queue name of 1 to 255 bytes")
    vhost = urllib.parse.unquote(parts.path[1:]) if parts.path else "/"
    if vhost == PUBLIC_VHOST and not UUID.match(queue):
        # fedora-messaging's configs/fedora.toml: on the public broker "Queue names *must* be in the normal UUID
        # format: run uuidgen and use the output as your queue name"
        raise block.error("queue", f"Fedora's public broker ({PUBLIC_VHOST}) accepts only UUID queue names (uuidgen)")
    keys = tuple(block.strings("routing_keys", []))
    for n, key in enumerate(keys):
        if not ROUTING_KEY.match(key):
            raise block.item_error("routing_keys", n, f"{key!r} is not an AMQP topic pattern (words, * and #)")
    tls = block.mapping("tls", None)
    files: dict[str, Path | None] = {"ca_cert": None, "certfile": None, "keyfile": None}
    if tls is not None:
        for key in files:
            if key in tls.map:
                files[key] = _path(base, tls.text(key))
                if not files[key].is_file():  # type: ignore[union-attr]
                    raise tls.error(key, f"{files[key]}: no such file")
        if (files["certfile"] is None) != (files["keyfile"] is None):
            raise tls.error(None, "certfile and keyfile go together (the client certificate and its key)")
        tls.done()
    if tls is not None and parts.scheme != "amqps":
        raise block.error("tls", "TLS settings need an amqps:// URL")
    password_file = block.text("password_file", None)
    password_env = block.text("password_env", None)
    if password_file is not None and password_env is not None:
        raise block.error("password_env", "give password_file or password_env, not both")
    settings = AmqpSettings(
        url=url,
        queue=queue,
        exchange=block.text("exchange", "amq.topic"),
        routing_keys=keys,
        prefetch=int(_number(block, "prefetch", 25, 1, 65535)),
        heartbeat=int(_number(block, "heartbeat_seconds", 10, 1, 600)),
        ca_cert=files["ca_cert"],
        certfile=files["certfile"],
        keyfile=files["keyfile"],
        password_file=_path(base, password_file) if password_file else None,
        password_env=password_env,
        app=block.text("app", "releng-o-tron listener"),
    )
    block.done()
    return settings


def _crypto(block: Fields, base: Path) -> dict[str, Any]:
    """fedmsg's crypto settings, checked: backends, locations (https URL or a file), the routing policy."""
    for key in block.map:
        if key in UNUSED_CRYPTO_KEYS:
            raise block.error(key, "fedmsg 1.1.7 ignores it (it caches the CA and CRL in memory): remove it")
        if key not in CRYPTO_KEYS:
            raise block.error(key, f"unknown fedmsg crypto setting '{key}' ({', '.join(CRYPTO_KEYS)})")
    crypto: dict[str, Any] = {}
    if "crypto_validate_backends" in block.map:
        backends = block.strings("crypto_validate_backends")
        for n, name in enumerate(backends):
            if name not in ("x509", "gpg"):
                raise block.item_error("crypto_validate_backends", n, f"{name!r} is not a fedmsg backend (x509, gpg)")
        if not backends:
            raise block.error("crypto_validate_backends", "names no backend (x509, gpg)")
        crypto["crypto_validate_backends"] = backends
    for key in ("gpg_home", "ssldir"):
        if key in block.map:
            crypto[key] = str(_path(base, block.text(key)))
    for key in ("ca_cert_location", "crl_location"):
        if key in block.map:
            location = block.text(key)
            if "://" in location and not location.startswith("https://"):
                # fedmsg.crypto.utils._load_certificate downloads https:// only and opens anything else as a file
                raise block.error(key, f"{location!r}: fedmsg fetches only https:// URLs (or give a file path)")
            crypto[key] = location if "://" in location else str(_path(base, location))
    if "routing_policy" in block.map:
        policy = block.mapping("routing_policy")
        assert policy is not None
        for topic in policy.map:
            if not isinstance(topic, str) or not TOPIC.match(topic):
                raise policy.error(str(topic), "is not a dotted topic (org.fedoraproject.prod.bodhi.update.request)")
        crypto["routing_policy"] = {topic: policy.strings(topic) for topic in policy.map}
        policy.done()
    if "routing_nitpicky" in block.map:
        crypto["routing_nitpicky"] = block.get("routing_nitpicky", bool)
    block.done()
    return crypto


def _airflow(top: Fields, base: Path) -> AirflowSettings:
    block = top.mapping("airflow")
    assert block is not None
    url = block.text("url")
    if not URL.match(url):
        raise block.error("url", f"{url!r} is not an http(s) URL")
    username = block.text("username")
    password_file = block.text("password_file", None)
    password_env = block.text("password_env", DEFAULT_PASSWORD_ENV)
    if "password" in block.map:
        raise block.error("password", "passwords are not written here: use password_file or password_env")
    timeout = _number(block, "timeout_seconds", 30, 0.1, 600)
    retry = block.mapping("retry", None)
    initial, maximum = 1.0, 60.0
    if retry is not None:
        initial = _number(retry, "initial_seconds", initial, 0.01, 3600)
        maximum = _number(retry, "max_seconds", maximum, 0.01, 86400)
        if maximum < initial:
            raise retry.error("max_seconds", f"must not be less than initial_seconds ({initial:g})")
        retry.done()
    block.done()
    return AirflowSettings(
        url=url.rstrip("/"),
        username=username,
        password_file=_path(base, password_file) if password_file else None,
        password_env=password_env,
        timeout=timeout,
        retry_initial=initial,
        retry_max=maximum,
    )


def _fedmsg_endpoints(bus: Fields, path: Path) -> list[str]:
    """The ``endpoints`` of a fedmsg config file (what fedmsg.tail_messages would connect to)."""
    from relengotron.messaging import BusConfigError, load_fedmsg_config

    try:
        config = load_fedmsg_config(path)
    except BusConfigError as exc:
        raise bus.error("fedmsg_config", str(exc)) from None
    found: list[str] = []
    for name, value in (config.get("endpoints") or {}).items():
        if name == "relay_inbound":
            continue
        found.extend([value] if isinstance(value, str) else list(value))
    if not found:
        raise FileError(bus.path, bus.line_of("fedmsg_config"), "bus.fedmsg_config", f"{path}: no endpoints")
    return found
